//! Reading fitted attributes (`coef_`, `classes_`, ...) out of an object's state, with errors that name them.

use oxserve_pickle::{ArrayData, NdArray, Object, Value};

use crate::{Labels, Matrix, SklearnError};

/// The state entry `key`, or an error naming the class and the key.
pub(crate) fn req<'a>(obj: &'a Object, key: &str) -> Result<&'a Value, SklearnError> {
    obj.get(key).ok_or_else(|| {
        SklearnError::bad_model(obj.class_name(), format!("missing attribute `{key}`"))
    })
}

/// The state entry `key` as an array.
pub(crate) fn array<'a>(obj: &'a Object, key: &str) -> Result<&'a NdArray, SklearnError> {
    req(obj, key)?.as_array().ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not an array"),
        )
    })
}

/// The state entry `key` as a flat float64 vector (any numeric array, or a single number).
pub(crate) fn f64_vec(obj: &Object, key: &str) -> Result<Vec<f64>, SklearnError> {
    let value = req(obj, key)?;
    if let Some(a) = value.as_array() {
        return a
            .to_f64()
            .map_err(|e| SklearnError::bad_model(obj.class_name(), format!("`{key}`: {e}")));
    }
    value.as_f64().map(|x| vec![x]).ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not numeric"),
        )
    })
}

/// The state entry `key` as a 2-D matrix (a 1-D array becomes one row).
pub(crate) fn matrix(obj: &Object, key: &str) -> Result<Matrix, SklearnError> {
    let a = array(obj, key)?;
    let values = a
        .to_f64()
        .map_err(|e| SklearnError::bad_model(obj.class_name(), format!("`{key}`: {e}")))?;
    let (rows, cols) = match a.shape.as_slice() {
        [n] => (1, *n),
        [r, c] => (*r, *c),
        other => {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                format!("`{key}` has shape {other:?}, expected 1-D or 2-D"),
            ));
        }
    };
    Matrix::new(rows, cols, values)
        .map_err(|e| SklearnError::bad_model(obj.class_name(), e.to_string()))
}

/// The state entry `key` as an integer.
pub(crate) fn int(obj: &Object, key: &str) -> Result<i64, SklearnError> {
    req(obj, key)?.as_i64().ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not an integer"),
        )
    })
}

/// The state entry `key` as a float.
pub(crate) fn float(obj: &Object, key: &str) -> Result<f64, SklearnError> {
    req(obj, key)?.as_f64().ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not a number"),
        )
    })
}

/// The state entry `key` as a string.
pub(crate) fn string<'a>(obj: &'a Object, key: &str) -> Result<&'a str, SklearnError> {
    req(obj, key)?.as_str().ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not a string"),
        )
    })
}

/// `n_features_in_` when present.
pub(crate) fn n_features_in(obj: &Object) -> Option<usize> {
    obj.get("n_features_in_")
        .and_then(Value::as_i64)
        .and_then(|n| usize::try_from(n).ok())
}

/// `feature_names_in_` (set when fitted on a DataFrame whose column names are all strings), or `None`.
pub(crate) fn feature_names(obj: &Object) -> Result<Option<Vec<String>>, SklearnError> {
    let Some(v) = obj.get("feature_names_in_").filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let bad = || {
        SklearnError::bad_model(
            obj.class_name(),
            "`feature_names_in_` is not a list of strings",
        )
    };
    let names = match v {
        Value::Array(NdArray {
            data: ArrayData::Str(v),
            ..
        }) => v.clone(),
        other => seq_of(other)
            .ok_or_else(bad)?
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
    };
    Ok(Some(names))
}

/// The state entry `key` (usually `classes_`) as class labels.
pub(crate) fn labels(obj: &Object, key: &str) -> Result<Labels, SklearnError> {
    let a = array(obj, key)?;
    labels_of(a).ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("`{key}` has unsupported dtype {}", a.dtype.descr()),
        )
    })
}

/// Class labels from an array of ints, floats, strings, or Python objects holding those.
pub(crate) fn labels_of(a: &NdArray) -> Option<Labels> {
    match &a.data {
        ArrayData::Int(v) => Some(Labels::Int(v.clone())),
        ArrayData::UInt(v) => v
            .iter()
            .map(|&x| i64::try_from(x).ok())
            .collect::<Option<_>>()
            .map(Labels::Int),
        ArrayData::Bool(v) => Some(Labels::Int(v.iter().map(|&b| i64::from(b)).collect())),
        ArrayData::Float(v) => Some(Labels::Float(v.clone())),
        ArrayData::Str(v) => Some(Labels::Str(v.clone())),
        ArrayData::Object(items) => {
            if let Some(strs) = items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
            {
                Some(Labels::Str(strs))
            } else if let Some(ints) = items
                .iter()
                .map(|v| match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
            {
                Some(Labels::Int(ints))
            } else {
                items
                    .iter()
                    .map(Value::as_f64)
                    .collect::<Option<Vec<_>>>()
                    .map(Labels::Float)
            }
        }
        ArrayData::Record(_) => None,
    }
}

/// The state entry `key` unless it is absent or `None`.
pub(crate) fn opt<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_none())
}

/// The state entry `key` as a string, when present and a string.
pub(crate) fn opt_str<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// The state entry `key` as a bool (Python truthiness of bools and ints), or `default` when absent or `None`.
pub(crate) fn flag(obj: &Object, key: &str, default: bool) -> bool {
    match obj.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(v) => v.as_i64().map_or(default, |i| i != 0),
        None => default,
    }
}

/// The state entry `key` as a sequence: a list, a tuple, or an object array's elements.
pub(crate) fn seq<'a>(obj: &'a Object, key: &str) -> Result<&'a [Value], SklearnError> {
    seq_of(req(obj, key)?).ok_or_else(|| {
        SklearnError::bad_model(obj.class_name(), format!("attribute `{key}` is not a list"))
    })
}

/// A list's, tuple's or object array's elements.
pub(crate) fn seq_of(value: &Value) -> Option<&[Value]> {
    match value {
        Value::List(v) | Value::Tuple(v) => Some(v),
        Value::Array(NdArray {
            data: ArrayData::Object(v),
            ..
        }) => Some(v),
        _ => None,
    }
}

/// A nested value as a flat float64 vector (a numeric array or a single number); `what` names it in errors.
pub(crate) fn f64_of(value: &Value, class: &str, what: &str) -> Result<Vec<f64>, SklearnError> {
    if let Some(NdArray {
        data: ArrayData::Object(items),
        ..
    }) = value.as_array()
    {
        return items
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                SklearnError::bad_model(class, format!("`{what}` holds non-numeric objects"))
            });
    }
    if let Some(a) = value.as_array() {
        return a
            .to_f64()
            .map_err(|e| SklearnError::bad_model(class, format!("`{what}`: {e}")));
    }
    if let Some(items) = value.as_seq() {
        return items
            .iter()
            .map(|v| v.as_f64())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| SklearnError::bad_model(class, format!("`{what}` is not numeric")));
    }
    value
        .as_f64()
        .map(|x| vec![x])
        .ok_or_else(|| SklearnError::bad_model(class, format!("`{what}` is not numeric")))
}

/// A nested numeric array as a 2-D matrix (a 1-D array becomes one row); `what` names it in errors.
pub(crate) fn matrix_of(value: &Value, class: &str, what: &str) -> Result<Matrix, SklearnError> {
    let a = value
        .as_array()
        .ok_or_else(|| SklearnError::bad_model(class, format!("`{what}` is not an array")))?;
    let values = a
        .to_f64()
        .map_err(|e| SklearnError::bad_model(class, format!("`{what}`: {e}")))?;
    let (rows, cols) = match a.shape.as_slice() {
        [n] => (1, *n),
        [r, c] => (*r, *c),
        other => {
            return Err(SklearnError::bad_model(
                class,
                format!("`{what}` has shape {other:?}, expected 1-D or 2-D"),
            ));
        }
    };
    Matrix::new(rows, cols, values).map_err(|e| SklearnError::bad_model(class, e.to_string()))
}

/// The number of dimensions of the array under `key` (0 for a plain number).
pub(crate) fn ndim(obj: &Object, key: &str) -> usize {
    obj.get(key)
        .and_then(Value::as_array)
        .map_or(0, NdArray::ndim)
}

/// The state entry `key` as a non-negative integer.
pub(crate) fn usize_attr(obj: &Object, key: &str) -> Result<usize, SklearnError> {
    let i = int(obj, key)?;
    usize::try_from(i).map_err(|_| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is negative ({i})"),
        )
    })
}

/// The state entry `key` as an object (a nested estimator or helper).
pub(crate) fn object<'a>(obj: &'a Object, key: &str) -> Result<&'a Object, SklearnError> {
    req(obj, key)?.as_object().ok_or_else(|| {
        SklearnError::bad_model(
            obj.class_name(),
            format!("attribute `{key}` is not an object"),
        )
    })
}

/// `classes_`, falling back to a nested label encoder/binarizer's `classes_` (estimators whose `classes_` is a
/// property, such as `RidgeClassifier` with `_label_binarizer`).
pub(crate) fn classes(obj: &Object, fallbacks: &[&str]) -> Result<Labels, SklearnError> {
    if obj.get("classes_").is_some() {
        return labels(obj, "classes_");
    }
    for key in fallbacks {
        if let Some(inner) = obj.get(key).and_then(Value::as_object)
            && inner.get("classes_").is_some()
        {
            return labels(inner, "classes_");
        }
    }
    Err(SklearnError::bad_model(
        obj.class_name(),
        "missing attribute `classes_`",
    ))
}

/// A fitted `vocabulary_` (a text vectorizer's terms, a `DictVectorizer`'s feature names): a dict of str → column,
/// each column in `0..len` exactly once.
pub(crate) fn vocabulary(
    obj: &Object,
    class: &str,
) -> Result<std::collections::HashMap<String, usize>, SklearnError> {
    let bad = |reason: String| SklearnError::bad_model(class, reason);
    let Some(Value::Dict(items)) = obj.get("vocabulary_") else {
        return Err(bad(
            "missing `vocabulary_` (not fitted) or it is not a dict".into(),
        ));
    };
    let n = items.len();
    let mut vocab = std::collections::HashMap::with_capacity(n);
    let mut seen = vec![false; n];
    for (k, v) in items {
        let (Some(term), Some(j)) = (k.as_str(), v.as_i64().and_then(|i| usize::try_from(i).ok()))
        else {
            return Err(bad("`vocabulary_` is not a dict of str to int".into()));
        };
        if j >= n || std::mem::replace(&mut seen[j], true) {
            return Err(bad(format!(
                "`vocabulary_` maps {term:?} to column {j}, outside 0..{n} or repeated"
            )));
        }
        vocab.insert(term.to_string(), j);
    }
    Ok(vocab)
}
