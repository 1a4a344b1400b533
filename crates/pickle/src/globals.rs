//! The allowlist: the only globals a pickle may name, and what calling each of them means to the VM.
//!
//! Nothing is ever imported or executed. A name on the list is either understood by the VM (numpy's array and
//! dtype reconstructors, a few builtins, `copyreg` helpers) or kept as an inert record of its class and arguments
//! (scikit-learn estimators, numpy random states, Cython `__pyx_unpickle_*` helpers, and the XGBoost / LightGBM
//! scikit-learn wrappers and boosters). Any other name is an error.

use crate::QualName;

/// What an allowlisted global does when the VM calls it (`REDUCE`, `NEWOBJ`, `OBJ`, `INST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Callable {
    /// `numpy.dtype(code, align, copy)`.
    NumpyDtype,
    /// `numpy.ndarray`: only used as an argument (`_reconstruct`'s class, joblib's `subclass`).
    NumpyNdarray,
    /// `numpy._core.multiarray._reconstruct(cls, shape, dtype_char)`: an empty array awaiting `BUILD`.
    NumpyReconstruct,
    /// `numpy._core.numeric._frombuffer(buffer, dtype, shape, order)`.
    NumpyFromBuffer,
    /// `numpy._core.multiarray.scalar(dtype, bytes)`: a numpy scalar, read as a 0-d array.
    NumpyScalar,
    /// `copyreg._reconstructor(cls, base, state)`.
    CopyregReconstructor,
    /// `copyreg.__newobj__(cls, *args)`.
    CopyregNewobj,
    /// `copyreg.__newobj_ex__(cls, args, kwargs)`.
    CopyregNewobjEx,
    /// `_codecs.encode(str, encoding)`: how protocol 2 writes `bytes`.
    CodecsEncode,
    /// `builtins.bytes`.
    Bytes,
    /// `builtins.bytearray`.
    Bytearray,
    /// `builtins.set` / `builtins.frozenset`.
    Set,
    /// `builtins.list`.
    List,
    /// `builtins.tuple`.
    Tuple,
    /// `builtins.dict`, `collections.OrderedDict`.
    Dict,
    /// `collections.defaultdict(factory)`: an empty dict (its items follow by `SETITEMS`; the factory is dropped).
    DefaultDict,
    /// joblib's `NumpyArrayWrapper`: its `BUILD` is followed by the array's raw bytes.
    JoblibArrayWrapper,
    /// joblib ≤ 0.9's `NDArrayWrapper` (arrays in side `.npy` files) and `ZNDArrayWrapper` (raw data in side
    /// Z-files), read from the model's folder.
    JoblibLegacyWrapper,
    /// Anything else on the list (`builtins.slice`, `builtins.object`, `functools.partial`, numpy scalar types and random states,
    /// scikit-learn classes and helpers): calling it makes an inert [`crate::Object`].
    Inert,
}

/// Resolves `module.name` against the allowlist. Python 2 module names that Python 3's unpickler maps
/// (`__builtin__`, `copy_reg`) are accepted and normalised, and so are two names scikit-learn itself wrote: the
/// bare `_loss` of 1.5–1.8's Cython losses (`sklearn._loss._loss`) and the joblib it vendored up to 0.22
/// (`sklearn.externals.joblib.*` → `joblib.*`).
pub(crate) fn resolve(module: &str, name: &str) -> Option<(QualName, Callable)> {
    let callable = classify(module, name)?;
    let module = match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "_loss" => "sklearn._loss._loss",
        other => joblib_module(other).unwrap_or(other),
    };
    Some((
        QualName {
            module: module.to_string(),
            name: name.to_string(),
        },
        callable,
    ))
}

/// numpy scalar types that may appear as globals (e.g. a `dtype=numpy.float64` parameter).
const NUMPY_SCALAR_TYPES: &[&str] = &[
    "bool_",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "intp",
    "uintp",
    "intc",
    "uintc",
    "int_",
    "uint",
    "byte",
    "ubyte",
    "short",
    "ushort",
    "longlong",
    "ulonglong",
    "float16",
    "float32",
    "float64",
    "half",
    "single",
    "double",
    "longdouble",
    "float_",
    "complex64",
    "complex128",
    "csingle",
    "cdouble",
    "complex_",
    "str_",
    "bytes_",
    "object_",
    "void",
    "generic",
    "number",
    "integer",
    "signedinteger",
    "unsignedinteger",
    "floating",
    "complexfloating",
    "inexact",
];

/// numpy's random-state pickling helpers and bit generators, kept as inert objects.
const NUMPY_RANDOM: &[(&str, &str)] = &[
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random.mtrand", "__RandomState_ctor"),
    ("numpy.random._generator", "Generator"),
];

/// The scikit-learn wrappers of XGBoost and LightGBM and the boosters they hold, exactly these classes: a booster's
/// pickled state is its model as bytes (XGBoost) or text (LightGBM), which `oxserve-sklearn` reads through the
/// engine crates. Nothing else in those packages is allowed.
const BOOSTER_WRAPPERS: &[(&str, &str)] = &[
    ("xgboost.core", "Booster"),
    // XGBoost 1.3–1.5 classifiers keep a label encoder (`_le`, a scikit-learn `LabelEncoder` subclass).
    ("xgboost.compat", "XGBoostLabelEncoder"),
    ("xgboost.sklearn", "XGBClassifier"),
    ("xgboost.sklearn", "XGBRegressor"),
    ("xgboost.sklearn", "XGBRFClassifier"),
    ("xgboost.sklearn", "XGBRFRegressor"),
    ("xgboost.sklearn", "XGBRanker"),
    ("lightgbm.basic", "Booster"),
    ("lightgbm.sklearn", "LGBMClassifier"),
    ("lightgbm.sklearn", "LGBMRegressor"),
    ("lightgbm.sklearn", "LGBMRanker"),
];

fn classify(module: &str, name: &str) -> Option<Callable> {
    let numpy_core = |sub: &str| {
        module
            .strip_prefix("numpy.core.")
            .or_else(|| module.strip_prefix("numpy._core."))
            == Some(sub)
    };
    let module = match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        other => other,
    };
    let callable = match (module, name) {
        ("numpy", "dtype") => Callable::NumpyDtype,
        ("numpy", "ndarray") => Callable::NumpyNdarray,
        (_, "_reconstruct") if numpy_core("multiarray") => Callable::NumpyReconstruct,
        (_, "scalar") if numpy_core("multiarray") => Callable::NumpyScalar,
        (_, "_frombuffer") if numpy_core("numeric") => Callable::NumpyFromBuffer,
        ("numpy", n) if NUMPY_SCALAR_TYPES.contains(&n) => Callable::Inert,
        ("copyreg", "_reconstructor") => Callable::CopyregReconstructor,
        ("copyreg", "__newobj__") => Callable::CopyregNewobj,
        ("copyreg", "__newobj_ex__") => Callable::CopyregNewobjEx,
        ("_codecs", "encode") => Callable::CodecsEncode,
        ("builtins", "bytes") => Callable::Bytes,
        ("builtins", "bytearray") => Callable::Bytearray,
        ("builtins", "set" | "frozenset") => Callable::Set,
        ("builtins", "list") => Callable::List,
        ("builtins", "tuple") => Callable::Tuple,
        ("builtins", "dict") | ("collections", "OrderedDict") => Callable::Dict,
        // LightGBM's `Booster.best_score` is a `defaultdict(OrderedDict)`.
        ("collections", "defaultdict") => Callable::DefaultDict,
        ("builtins", "slice" | "object") => Callable::Inert,
        // `partial(func, *args, **kw)` wraps a function as data (HistGradientBoosting's categorical
        // preprocessor holds `partial(sklearn.utils.validation.check_array, ...)`); it is recorded, never called.
        ("functools", "partial") => Callable::Inert,
        // scikit-learn < 1.5's `TfidfTransformer._idf_diag` (its idf on a diagonal): a plain object whose state is
        // `data`/`indices`/`indptr`/`_shape`, read as data by oxserve-sklearn. (`scipy.sparse.csr` before scipy 1.8.)
        ("scipy.sparse._csr" | "scipy.sparse.csr", "csr_matrix") => Callable::Inert,
        _ if joblib_module(module).is_some() => match (joblib_module(module)?, name) {
            ("joblib.numpy_pickle", "NumpyArrayWrapper") => Callable::JoblibArrayWrapper,
            (
                "joblib.numpy_pickle" | "joblib.numpy_pickle_compat",
                "NDArrayWrapper" | "ZNDArrayWrapper",
            ) => Callable::JoblibLegacyWrapper,
            _ => return None,
        },
        _ if NUMPY_RANDOM.contains(&(module, name)) => Callable::Inert,
        _ if BOOSTER_WRAPPERS.contains(&(module, name)) => Callable::Inert,
        _ if is_sklearn(module, name) => Callable::Inert,
        _ => return None,
    };
    Some(callable)
}

/// Cython losses: the classes and their `__pyx_unpickle_*` helpers, in `sklearn._loss._loss` and, as scikit-learn
/// 1.5–1.8 pickled them, in a module named just `_loss`.
const CY_LOSSES: &[&str] = &[
    "CyAbsoluteError",
    "CyExponentialLoss",
    "CyHalfBinomialLoss",
    "CyHalfGammaLoss",
    "CyHalfMultinomialLoss",
    "CyHalfPoissonLoss",
    "CyHalfSquaredError",
    "CyHalfTweedieLoss",
    "CyHalfTweedieLossIdentity",
    "CyHuberLoss",
    "CyPinballLoss",
    "__pyx_unpickle_CyAbsoluteError",
    "__pyx_unpickle_CyExponentialLoss",
    "__pyx_unpickle_CyHalfBinomialLoss",
    "__pyx_unpickle_CyHalfGammaLoss",
    "__pyx_unpickle_CyHalfMultinomialLoss",
    "__pyx_unpickle_CyHalfPoissonLoss",
    "__pyx_unpickle_CyHalfSquaredError",
    "__pyx_unpickle_CyHalfTweedieLoss",
    "__pyx_unpickle_CyHalfTweedieLossIdentity",
    "__pyx_unpickle_CyHuberLoss",
    "__pyx_unpickle_CyPinballLoss",
];

/// scikit-learn 0.20–1.2's gradient-boosting losses (`GradientBoosting*.loss_`).
const GB_LOSSES: &[&str] = &[
    "BinomialDeviance",
    "MultinomialDeviance",
    "ExponentialLoss",
    "LeastSquaresError",
    "LeastAbsoluteError",
    "HuberLossFunction",
    "QuantileLossFunction",
];

/// `sklearn.metrics._dist_metrics` (1.0+) / `sklearn.neighbors._dist_metrics` (0.22–1.0) /
/// `sklearn.neighbors.dist_metrics` (0.20–0.21): the metric classes a fitted neighbours tree holds (`Name`,
/// `Name64`, `Name32` across versions) and the module's pickling helpers.
const DIST_METRICS: &[&str] = &[
    "newObj",
    "__pyx_unpickle_DistanceMetric",
    "DistanceMetric",
    "DistanceMetric32",
    "DistanceMetric64",
    "EuclideanDistance",
    "EuclideanDistance32",
    "EuclideanDistance64",
    "SEuclideanDistance",
    "SEuclideanDistance32",
    "SEuclideanDistance64",
    "ManhattanDistance",
    "ManhattanDistance32",
    "ManhattanDistance64",
    "ChebyshevDistance",
    "ChebyshevDistance32",
    "ChebyshevDistance64",
    "MinkowskiDistance",
    "MinkowskiDistance32",
    "MinkowskiDistance64",
    "WMinkowskiDistance",
    "MahalanobisDistance",
    "MahalanobisDistance32",
    "MahalanobisDistance64",
    "HammingDistance",
    "HammingDistance32",
    "HammingDistance64",
    "CanberraDistance",
    "CanberraDistance32",
    "CanberraDistance64",
    "BrayCurtisDistance",
    "BrayCurtisDistance32",
    "BrayCurtisDistance64",
    "HaversineDistance",
    "HaversineDistance32",
    "HaversineDistance64",
];

/// Every scikit-learn class (and Cython pickling helper) a model file may name, by module, under each path the
/// module had from scikit-learn 0.20 to 1.9: 0.22 made most modules private (`sklearn.svm.classes` →
/// `sklearn.svm._classes`, `sklearn.ensemble.forest` → `sklearn.ensemble._forest`, ...) and kept the old paths as
/// deprecated aliases until 0.24, so files from 0.20–0.21 name the public path. The estimators are those
/// `oxserve-sklearn` builds plus the objects their fitted attributes hold (trees, losses and links, label encoders,
/// binners, optimizers, distance metrics, the calibration wrappers). Exact names only: no dotted attribute paths,
/// no other function than these constructors (and `check_array`, which HistGradientBoosting keeps inside a
/// `functools.partial`, recorded and never called).
const SKLEARN: &[(&[&str], &[&str])] = &[
    // linear models
    (
        &["sklearn.linear_model._base", "sklearn.linear_model.base"],
        &["LinearRegression"],
    ),
    (
        &["sklearn.linear_model._bayes", "sklearn.linear_model.bayes"],
        &["BayesianRidge", "ARDRegression"],
    ),
    (
        &[
            "sklearn.linear_model._coordinate_descent",
            "sklearn.linear_model.coordinate_descent",
        ],
        &["ElasticNet", "ElasticNetCV", "Lasso", "LassoCV"],
    ),
    (
        &["sklearn.linear_model._huber", "sklearn.linear_model.huber"],
        &["HuberRegressor"],
    ),
    (
        &[
            "sklearn.linear_model._least_angle",
            "sklearn.linear_model.least_angle",
        ],
        &["Lars", "LarsCV", "LassoLars", "LassoLarsCV", "LassoLarsIC"],
    ),
    (
        &[
            "sklearn.linear_model._logistic",
            "sklearn.linear_model.logistic",
        ],
        &["LogisticRegression", "LogisticRegressionCV"],
    ),
    (
        &["sklearn.linear_model._omp", "sklearn.linear_model.omp"],
        &["OrthogonalMatchingPursuit"],
    ),
    (
        &[
            "sklearn.linear_model._passive_aggressive",
            "sklearn.linear_model.passive_aggressive",
        ],
        &["PassiveAggressiveClassifier", "PassiveAggressiveRegressor"],
    ),
    (
        &[
            "sklearn.linear_model._perceptron",
            "sklearn.linear_model.perceptron",
        ],
        &["Perceptron"],
    ),
    (
        &["sklearn.linear_model._ridge", "sklearn.linear_model.ridge"],
        &["Ridge", "RidgeCV", "RidgeClassifier", "RidgeClassifierCV"],
    ),
    (
        &[
            "sklearn.linear_model._stochastic_gradient",
            "sklearn.linear_model.stochastic_gradient",
        ],
        &["SGDClassifier", "SGDRegressor"],
    ),
    (
        &[
            "sklearn.linear_model._sgd_fast",
            "sklearn.linear_model.sgd_fast",
        ],
        &[
            "Hinge",
            "SquaredHinge",
            "Log",
            "ModifiedHuber",
            "SquaredLoss",
            "Huber",
            "EpsilonInsensitive",
            "SquaredEpsilonInsensitive",
            "__pyx_unpickle_Classification",
            "__pyx_unpickle_Regression",
            "__pyx_unpickle_LossFunction",
        ],
    ),
    (
        &["sklearn.linear_model._glm.glm", "sklearn.linear_model._glm"],
        &["PoissonRegressor", "GammaRegressor", "TweedieRegressor"],
    ),
    (
        &["sklearn.linear_model._glm.link"],
        &["IdentityLink", "LogLink", "LogitLink"],
    ),
    (&["sklearn.linear_model._quantile"], &["QuantileRegressor"]),
    (
        &[
            "sklearn.linear_model._theil_sen",
            "sklearn.linear_model.theil_sen",
        ],
        &["TheilSenRegressor"],
    ),
    // losses
    (&["sklearn._loss._loss"], CY_LOSSES),
    (&["_loss"], CY_LOSSES),
    (
        &["sklearn._loss.loss"],
        &[
            "HalfSquaredError",
            "AbsoluteError",
            "PinballLoss",
            "HuberLoss",
            "HalfPoissonLoss",
            "HalfGammaLoss",
            "HalfTweedieLoss",
            "HalfTweedieLossIdentity",
            "HalfBinomialLoss",
            "HalfMultinomialLoss",
            "ExponentialLoss",
        ],
    ),
    (
        &["sklearn._loss.link"],
        &[
            "IdentityLink",
            "LogLink",
            "LogitLink",
            "HalfLogitLink",
            "MultinomialLogit",
            "Interval",
        ],
    ),
    (
        &["sklearn._loss.glm_distribution"],
        &[
            "TweedieDistribution",
            "NormalDistribution",
            "PoissonDistribution",
            "GammaDistribution",
            "InverseGaussianDistribution",
            "DistributionBoundary",
        ],
    ),
    // SVMs
    (
        &["sklearn.svm._classes", "sklearn.svm.classes"],
        &[
            "SVC",
            "SVR",
            "NuSVC",
            "NuSVR",
            "OneClassSVM",
            "LinearSVC",
            "LinearSVR",
        ],
    ),
    // naive Bayes, discriminant analysis
    (
        &["sklearn.naive_bayes"],
        &[
            "GaussianNB",
            "MultinomialNB",
            "BernoulliNB",
            "ComplementNB",
            "CategoricalNB",
        ],
    ),
    (
        &["sklearn.discriminant_analysis"],
        &[
            "LinearDiscriminantAnalysis",
            "QuadraticDiscriminantAnalysis",
        ],
    ),
    // neighbours
    (
        &[
            "sklearn.neighbors._classification",
            "sklearn.neighbors.classification",
        ],
        &["KNeighborsClassifier", "RadiusNeighborsClassifier"],
    ),
    (
        &[
            "sklearn.neighbors._regression",
            "sklearn.neighbors.regression",
        ],
        &["KNeighborsRegressor", "RadiusNeighborsRegressor"],
    ),
    (
        &[
            "sklearn.neighbors._nearest_centroid",
            "sklearn.neighbors.nearest_centroid",
        ],
        &["NearestCentroid"],
    ),
    (
        &["sklearn.neighbors._kd_tree", "sklearn.neighbors.kd_tree"],
        &[
            "KDTree",
            "KDTree32",
            "KDTree64",
            "BinaryTree",
            "BinaryTree32",
            "BinaryTree64",
            "newObj",
        ],
    ),
    (
        &[
            "sklearn.neighbors._ball_tree",
            "sklearn.neighbors.ball_tree",
        ],
        &[
            "BallTree",
            "BallTree32",
            "BallTree64",
            "BinaryTree",
            "BinaryTree32",
            "BinaryTree64",
            "newObj",
        ],
    ),
    (
        &[
            "sklearn.metrics._dist_metrics",
            "sklearn.neighbors._dist_metrics",
            "sklearn.neighbors.dist_metrics",
        ],
        DIST_METRICS,
    ),
    // neural networks
    (
        &[
            "sklearn.neural_network._multilayer_perceptron",
            "sklearn.neural_network.multilayer_perceptron",
        ],
        &["MLPClassifier", "MLPRegressor"],
    ),
    (
        &["sklearn.neural_network._stochastic_optimizers"],
        &["AdamOptimizer", "SGDOptimizer"],
    ),
    // preprocessing, imputation, decomposition
    (
        &["sklearn.preprocessing._data", "sklearn.preprocessing.data"],
        &[
            "StandardScaler",
            "MinMaxScaler",
            "MaxAbsScaler",
            "RobustScaler",
            "Normalizer",
            "Binarizer",
            "PolynomialFeatures",
            "QuantileTransformer",
            "PowerTransformer",
        ],
    ),
    (
        &["sklearn.preprocessing._polynomial"],
        &["PolynomialFeatures"],
    ),
    (
        &["sklearn.preprocessing._encoders"],
        &["OneHotEncoder", "OrdinalEncoder"],
    ),
    (
        &["sklearn.preprocessing._discretization"],
        &["KBinsDiscretizer"],
    ),
    (
        &["sklearn.preprocessing._function_transformer"],
        &["FunctionTransformer"],
    ),
    (
        &[
            "sklearn.preprocessing._label",
            "sklearn.preprocessing.label",
        ],
        &["LabelEncoder", "LabelBinarizer"],
    ),
    (
        &["sklearn.impute._base", "sklearn.impute"],
        &["SimpleImputer", "MissingIndicator"],
    ),
    (
        &["sklearn.decomposition._pca", "sklearn.decomposition.pca"],
        &["PCA"],
    ),
    (
        &[
            "sklearn.decomposition._incremental_pca",
            "sklearn.decomposition.incremental_pca",
        ],
        &["IncrementalPCA"],
    ),
    (
        &[
            "sklearn.decomposition._truncated_svd",
            "sklearn.decomposition.truncated_svd",
        ],
        &["TruncatedSVD"],
    ),
    // composition
    (&["sklearn.pipeline"], &["Pipeline", "FeatureUnion"]),
    (
        &["sklearn.compose._column_transformer"],
        &[
            "ColumnTransformer",
            "make_column_selector",
            "_RemainderColsList",
        ],
    ),
    (
        &["sklearn.multiclass"],
        &[
            "OneVsRestClassifier",
            "OneVsOneClassifier",
            "_ConstantPredictor",
        ],
    ),
    (
        &["sklearn.calibration"],
        &[
            "CalibratedClassifierCV",
            "_CalibratedClassifier",
            "_SigmoidCalibration",
        ],
    ),
    (&["sklearn.isotonic"], &["IsotonicRegression"]),
    (&["sklearn.dummy"], &["DummyClassifier", "DummyRegressor"]),
    // ensembles
    (
        &[
            "sklearn.ensemble._voting",
            "sklearn.ensemble.voting",
            "sklearn.ensemble.voting_classifier",
        ],
        &["VotingClassifier", "VotingRegressor"],
    ),
    (
        &["sklearn.ensemble._stacking"],
        &["StackingClassifier", "StackingRegressor"],
    ),
    (
        &["sklearn.ensemble._forest", "sklearn.ensemble.forest"],
        &[
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
        ],
    ),
    (
        &["sklearn.ensemble._gb", "sklearn.ensemble.gradient_boosting"],
        &["GradientBoostingClassifier", "GradientBoostingRegressor"],
    ),
    // 0.20–0.21 kept the losses in the estimators' module, 0.22–1.2 in `_gb_losses`.
    (
        &[
            "sklearn.ensemble._gb_losses",
            "sklearn.ensemble.gradient_boosting",
        ],
        GB_LOSSES,
    ),
    // 0.20's init estimators (0.21+ uses `DummyClassifier` / `DummyRegressor`).
    (
        &["sklearn.ensemble.gradient_boosting"],
        &[
            "LogOddsEstimator",
            "ScaledLogOddsEstimator",
            "PriorProbabilityEstimator",
            "MeanEstimator",
            "QuantileEstimator",
            "ZeroEstimator",
        ],
    ),
    (
        &[
            "sklearn.ensemble._weight_boosting",
            "sklearn.ensemble.weight_boosting",
        ],
        &["AdaBoostClassifier", "AdaBoostRegressor"],
    ),
    (
        &["sklearn.ensemble._iforest", "sklearn.ensemble.iforest"],
        &["IsolationForest"],
    ),
    (
        &["sklearn.ensemble._hist_gradient_boosting.gradient_boosting"],
        &[
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
        ],
    ),
    (
        &["sklearn.ensemble._hist_gradient_boosting.predictor"],
        &["TreePredictor"],
    ),
    (
        &["sklearn.ensemble._hist_gradient_boosting.binning"],
        &["_BinMapper"],
    ),
    (
        &["sklearn.ensemble._hist_gradient_boosting.loss"],
        &[
            "LeastSquares",
            "LeastAbsoluteDeviation",
            "Poisson",
            "BinaryCrossEntropy",
            "CategoricalCrossEntropy",
        ],
    ),
    // trees, clustering
    (
        &["sklearn.tree._classes", "sklearn.tree.tree"],
        &[
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
        ],
    ),
    (&["sklearn.tree._tree"], &["Tree"]),
    (
        &["sklearn.cluster._kmeans", "sklearn.cluster.k_means_"],
        &["KMeans", "MiniBatchKMeans"],
    ),
    // utilities
    (&["sklearn.utils._bunch", "sklearn.utils"], &["Bunch"]),
    (&["sklearn.utils.validation"], &["check_array"]),
];

/// joblib as scikit-learn ≤ 0.22 vendored it (`sklearn.externals.joblib`): its array wrappers are joblib's own.
fn joblib_module(module: &str) -> Option<&str> {
    module
        .strip_prefix("sklearn.externals.")
        .filter(|m| m.starts_with("joblib."))
        .or_else(|| Some(module).filter(|m| m.starts_with("joblib.")))
}

/// Whether `module.name` is in [`SKLEARN`] or is one of scikit-learn's public estimators
/// ([`crate::sklearn_estimators::ESTIMATORS`], generated from `all_estimators()`): an estimator `oxserve-sklearn`
/// does not build still loads as an inert record, so the error names it as an unsupported estimator.
fn is_sklearn(module: &str, name: &str) -> bool {
    SKLEARN
        .iter()
        .any(|(modules, names)| modules.contains(&module) && names.contains(&name))
        || crate::sklearn_estimators::ESTIMATORS
            .iter()
            .any(|(m, names)| *m == module && names.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist() {
        assert_eq!(
            resolve("numpy.core.multiarray", "_reconstruct").map(|r| r.1),
            Some(Callable::NumpyReconstruct)
        );
        assert_eq!(
            resolve("numpy._core.multiarray", "_reconstruct").map(|r| r.1),
            Some(Callable::NumpyReconstruct)
        );
        assert_eq!(
            resolve("__builtin__", "set").map(|r| r.0.dotted()),
            Some("builtins.set".to_string())
        );
        assert!(resolve("sklearn.tree._tree", "Tree").is_some());
        assert_eq!(
            resolve("collections", "defaultdict").map(|r| r.1),
            Some(Callable::DefaultDict)
        );
        assert!(resolve("xgboost.sklearn", "XGBClassifier").is_some());
        assert!(resolve("lightgbm.basic", "Booster").is_some());
        assert!(
            resolve(
                "sklearn._loss._loss",
                "__pyx_unpickle_CyHalfMultinomialLoss"
            )
            .is_some()
        );
        // scikit-learn 1.5–1.8's bare `_loss`, normalised.
        assert_eq!(
            resolve("_loss", "CyHalfBinomialLoss").map(|r| r.0.dotted()),
            Some("sklearn._loss._loss.CyHalfBinomialLoss".to_string())
        );
        // scikit-learn ≤ 0.22's vendored joblib is joblib.
        let wrapper = resolve("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper");
        assert_eq!(
            wrapper.map(|r| (r.0.dotted(), r.1)),
            Some((
                "joblib.numpy_pickle.NumpyArrayWrapper".to_string(),
                Callable::JoblibArrayWrapper
            ))
        );
        assert_eq!(
            resolve("sklearn.externals.joblib.numpy_pickle", "NDArrayWrapper").map(|r| r.1),
            Some(Callable::JoblibLegacyWrapper)
        );
        // Old module paths of 0.20–0.21.
        for (m, n) in [
            ("sklearn.linear_model.logistic", "LogisticRegression"),
            ("sklearn.svm.classes", "SVC"),
            ("sklearn.ensemble.forest", "RandomForestClassifier"),
            ("sklearn.tree.tree", "DecisionTreeClassifier"),
            ("sklearn.ensemble.gradient_boosting", "BinomialDeviance"),
        ] {
            assert!(resolve(m, n).is_some(), "{m}.{n}");
        }
        for (m, n) in [
            ("os", "system"),
            ("posix", "system"),
            ("builtins", "eval"),
            ("builtins", "getattr"),
            ("subprocess", "Popen"),
            ("sklearnx", "A"),
            ("sklearn..x", "A"),
            ("sklearn.x", "a b"),
            ("numpy", "load"),
            ("xgboost.core", "_LIB"),
            ("xgboost.sklearn", "XGBModel.fit"),
            ("lightgbm.basic", "_LIB"),
            ("lightgbm.callback", "early_stopping"),
            // scikit-learn modules admit exact class names only.
            ("sklearn", "os.system"),
            ("sklearn.svm._classes", "SVC.__init__"),
            (
                "sklearn.utils._testing",
                "assert_run_python_script_without_output",
            ),
            ("sklearn.utils._testing", "assert_run_python_script"),
            ("sklearn.utils", "_IS_32BIT"),
            ("sklearn.tree._tree", "SVC"),
            ("_loss", "os"),
            ("sklearn.externals.joblib", "load"),
            ("sklearn.externals.joblib.numpy_pickle", "load"),
            ("joblib", "load"),
        ] {
            assert!(resolve(m, n).is_none(), "{m}.{n}");
        }
    }
}
