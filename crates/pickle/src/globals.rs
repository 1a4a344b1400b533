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
    /// joblib ≤ 0.9's `NDArrayWrapper` (arrays in side files): recognised to be refused with a clear message.
    JoblibLegacyWrapper,
    /// Anything else on the list (`builtins.slice`, `builtins.object`, `functools.partial`, numpy scalar types and random states,
    /// scikit-learn classes and helpers): calling it makes an inert [`crate::Object`].
    Inert,
}

/// Resolves `module.name` against the allowlist. Python 2 module names that Python 3's unpickler maps
/// (`__builtin__`, `copy_reg`) are accepted and normalised.
pub(crate) fn resolve(module: &str, name: &str) -> Option<(QualName, Callable)> {
    let module = match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        other => other,
    };
    let callable = classify(module, name)?;
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
        ("joblib.numpy_pickle", "NumpyArrayWrapper") => Callable::JoblibArrayWrapper,
        ("joblib.numpy_pickle_compat", "NDArrayWrapper" | "ZNDArrayWrapper")
        | ("joblib.numpy_pickle", "NDArrayWrapper" | "ZNDArrayWrapper") => {
            Callable::JoblibLegacyWrapper
        }
        _ if NUMPY_RANDOM.contains(&(module, name)) => Callable::Inert,
        _ if BOOSTER_WRAPPERS.contains(&(module, name)) => Callable::Inert,
        _ if is_sklearn(module, name) => Callable::Inert,
        _ => return None,
    };
    Some(callable)
}

/// scikit-learn classes and Cython helpers: any identifier in a `sklearn.*` module. They are never executed, only
/// recorded; the estimator builders decide what they understand.
fn is_sklearn(module: &str, name: &str) -> bool {
    let module_ok = (module == "sklearn" || module.starts_with("sklearn."))
        && module.split('.').all(is_identifier);
    module_ok && name.split('.').all(is_identifier)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
        ] {
            assert!(resolve(m, n).is_none(), "{m}.{n}");
        }
    }
}
