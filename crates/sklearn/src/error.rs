//! The crate's error type.

/// Why an estimator could not be built or could not compute.
#[derive(Debug, thiserror::Error)]
pub enum SklearnError {
    /// The file could not be read as a pickle.
    #[error(transparent)]
    Pickle(#[from] oxserve_pickle::PickleError),
    /// The file holds a class this crate does not implement.
    #[error("unsupported estimator `{class}`; supported: {supported}")]
    Unsupported {
        /// The class, `module.Name`.
        class: String,
        /// The supported class names, comma-separated.
        supported: String,
    },
    /// A supported class whose fitted state is missing something or has an unexpected shape or option.
    #[error("cannot build `{class}`: {reason}")]
    BadModel {
        /// The class name.
        class: String,
        /// What is wrong.
        reason: String,
    },
    /// The estimator does not have the asked method (e.g. `predict_proba` on a regressor).
    #[error("`{class}` has no method `{method}`")]
    NoMethod {
        /// The class name.
        class: String,
        /// The method asked for.
        method: &'static str,
    },
    /// The input batch does not fit the estimator (wrong feature count, NaN where not allowed, ...).
    #[error("{0}")]
    BadInput(String),
}

impl SklearnError {
    /// Shorthand for [`SklearnError::BadModel`].
    pub fn bad_model(class: &str, reason: impl Into<String>) -> Self {
        SklearnError::BadModel {
            class: class.to_string(),
            reason: reason.into(),
        }
    }
}
