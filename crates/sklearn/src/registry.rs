//! From a value tree to an estimator: each family module offers the classes it builds.

use oxserve_pickle::{Object, Value};

use crate::{Estimator, SklearnError};

/// A family's builder: `None` when the class is not one of the family's, else the build result.
type Builder = fn(&Object) -> Option<Result<Box<dyn Estimator>, SklearnError>>;

/// Every family, with the class names it builds and its builder.
const FAMILIES: &[(&[&str], Builder)] = &[
    (crate::linear::CLASSES, crate::linear::build),
    (crate::svm::CLASSES, crate::svm::build),
    (crate::naive_bayes::CLASSES, crate::naive_bayes::build),
    (crate::discriminant::CLASSES, crate::discriminant::build),
    (crate::neighbors::CLASSES, crate::neighbors::build),
    (crate::neural::CLASSES, crate::neural::build),
    (crate::preprocessing::CLASSES, crate::preprocessing::build),
    (crate::compose::CLASSES, crate::compose::build),
    (crate::multiclass::CLASSES, crate::multiclass::build),
    (crate::calibration::CLASSES, crate::calibration::build),
    (crate::ensemble_meta::CLASSES, crate::ensemble_meta::build),
    (crate::cluster::CLASSES, crate::cluster::build),
    (crate::tree::CLASSES, crate::tree::build),
    (crate::forest::CLASSES, crate::forest::build),
    (
        crate::gradient_boosting::CLASSES,
        crate::gradient_boosting::build,
    ),
    (
        crate::hist_gradient_boosting::CLASSES,
        crate::hist_gradient_boosting::build,
    ),
    (crate::adaboost::CLASSES, crate::adaboost::build),
    (crate::iforest::CLASSES, crate::iforest::build),
    (crate::boosters::CLASSES, crate::boosters::build),
    (crate::text::CLASSES, crate::text::build),
    (crate::label::CLASSES, crate::label::build),
    (crate::target_encoder::CLASSES, crate::target_encoder::build),
    (
        crate::dict_vectorizer::CLASSES,
        crate::dict_vectorizer::build,
    ),
];

/// The class names this crate can build, sorted.
pub fn supported_classes() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = FAMILIES
        .iter()
        .flat_map(|(names, _)| names.iter().copied())
        .collect();
    all.sort_unstable();
    all
}

/// Builds the estimator a value tree holds (the top-level object of a `model.joblib` or `model.pkl`).
///
/// The whole tree is checked first (array shapes backed by their elements, zero-size arrays without huge
/// dimensions, feature counts within [`crate::guard::MAX_FEATURES`]), so a hostile file is refused with an error
/// naming the class and attribute instead of aborting, hanging or growing. The estimator returned refuses a batch
/// with rows but no columns before any family code runs.
pub fn build(value: &Value) -> Result<Box<dyn Estimator>, SklearnError> {
    crate::guard::check_value_tree(value)?;
    Ok(Box::new(crate::guard::Checked(build_nested(value)?)))
}

/// Builds a nested estimator (a pipeline step, an ensemble member) of a tree [`build`] has checked.
pub(crate) fn build_nested(value: &Value) -> Result<Box<dyn Estimator>, SklearnError> {
    let Value::Object(obj) = value else {
        return Err(SklearnError::Unsupported {
            class: value.kind(),
            supported: supported_classes().join(", "),
        });
    };
    let est = FAMILIES
        .iter()
        .find_map(|(_, builder)| builder(obj))
        .unwrap_or_else(|| {
            Err(SklearnError::Unsupported {
                class: obj.class.dotted(),
                supported: supported_classes().join(", "),
            })
        })?;
    crate::guard::check_estimator(est.as_ref())?;
    Ok(est)
}
