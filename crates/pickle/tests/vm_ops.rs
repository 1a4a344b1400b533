//! VM semantics on small hand-written streams: memo aliasing, dict updates, dict subclasses, keyword arguments,
//! protocol 0 text opcodes, and inert records.

use oxserve_pickle::{Dtype, PickleError, Value, loads};

fn load(bytes: &[u8]) -> Value {
    match loads(bytes) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

/// `SHORT_BINUNICODE` of `text`.
fn u(text: &str) -> Vec<u8> {
    let mut out = vec![0x8c, u8::try_from(text.len()).expect("short")];
    out.extend_from_slice(text.as_bytes());
    out
}

fn global(module: &str, name: &str) -> Vec<u8> {
    [u(module), u(name), vec![0x93]].concat()
}

#[test]
fn mutation_after_memoize_is_seen_through_get() {
    // l = []; memo[0] = l; t = (l,) ; l.append(1); (t, memo[0])
    let v = load(b"\x80\x02]q\x00h\x00\x85q\x01h\x00K\x01a0h\x01h\x00\x86.");
    let want_list = Value::List(vec![Value::Int(1)]);
    assert_eq!(
        v,
        Value::Tuple(vec![Value::Tuple(vec![want_list.clone()]), want_list])
    );
}

#[test]
fn setitem_on_an_existing_key_replaces_it() {
    let v = load(b"\x80\x02}(K\x01K\x02K\x03K\x04uK\x01K\x05s.");
    assert_eq!(
        v,
        Value::Dict(vec![
            (Value::Int(1), Value::Int(5)),
            (Value::Int(3), Value::Int(4))
        ])
    );
}

#[test]
fn stack_opcodes() {
    // DUP, POP, POP_MARK, MARK + LIST, TUPLE3, protocol 0 INT/FLOAT/LONG text forms.
    let v = load(b"\x80\x02K\x072\x86(K\x01K\x021I01\nF0.5\nL12345678901234567890L\n\x87(N0l\x86.");
    let big = Value::BigInt(vec![0xd2, 0x0a, 0x1f, 0xeb, 0x8c, 0xa9, 0x54, 0xab, 0]);
    assert_eq!(
        v,
        Value::Tuple(vec![
            Value::Tuple(vec![Value::Bool(true), Value::Float(0.5), big]),
            Value::List(vec![])
        ])
    );
}

#[test]
fn bunch_items_and_state_merge_into_the_object_state() {
    let bytes = [
        b"\x80\x04".to_vec(),
        global("sklearn.utils._bunch", "Bunch"),
        b")\x81".to_vec(),
        u("a"),
        b"K\x01s".to_vec(),
        b"}".to_vec(),
        u("_deprecated_key_to_warnings"),
        b"}sb.".to_vec(),
    ]
    .concat();
    let v = load(&bytes);
    let o = v.as_object().expect("object");
    assert_eq!(o.class.dotted(), "sklearn.utils._bunch.Bunch");
    assert_eq!(o.get("a"), Some(&Value::Int(1)));
    assert!(o.get("_deprecated_key_to_warnings").is_some());
}

#[test]
fn newobj_ex_keywords_come_last() {
    let bytes = [
        b"\x80\x04".to_vec(),
        global("sklearn.dummy", "DummyClassifier"),
        b"K\x01\x85}".to_vec(),
        u("k"),
        b"K\x02s\x92.".to_vec(),
    ]
    .concat();
    let v = load(&bytes);
    let o = v.as_object().expect("object");
    assert_eq!(
        o.args,
        vec![Value::Int(1), Value::Dict(vec![(s("k"), Value::Int(2))])]
    );
}

#[test]
fn functools_partial_is_an_inert_record() {
    // partial(check_array) with state (func, (), {'ensure_all_finite': False}, None)
    let bytes = [
        b"\x80\x04".to_vec(),
        global("functools", "partial"),
        global("sklearn.utils.validation", "check_array"),
        b"\x94\x85R(h\x00)}".to_vec(),
        u("ensure_all_finite"),
        b"\x89sNtb.".to_vec(),
    ]
    .concat();
    let v = load(&bytes);
    let o = v.as_object().expect("object");
    assert_eq!(o.class.dotted(), "functools.partial");
    assert_eq!(
        o.args.first().map(Value::kind).as_deref(),
        Some("sklearn.utils.validation.check_array")
    );
    assert_eq!(o.state.as_seq().map(<[Value]>::len), Some(4));
}

#[test]
fn protocol_0_classes_and_strings() {
    // INST of an sklearn class with a dict state, STRING with escapes, UNICODE with a \u escape.
    let v = load(
        b"(isklearn.dummy\nDummyClassifier\n(dS'strategy'\nS'prior\\n'\nsVcaf\\u00e9\nI1\nsb.",
    );
    let o = v.as_object().expect("object");
    assert_eq!(o.class_name(), "DummyClassifier");
    assert_eq!(o.get("strategy"), Some(&s("prior\n")));
    assert_eq!(o.get("café"), Some(&Value::Int(1)));
}

#[test]
fn unsupported_dtypes_are_inert_until_an_array_needs_them() {
    let dtype = [
        global("numpy", "dtype"),
        u("c16"),
        b"\x89\x88\x87R(K\x03".to_vec(),
        u("<"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb".to_vec(),
    ]
    .concat();
    let v = load(&[b"\x80\x04".to_vec(), dtype.clone(), b".".to_vec()].concat());
    let o = v.as_object().expect("inert dtype");
    assert_eq!(o.class.dotted(), "numpy.dtype");
    assert_eq!(o.args, vec![s("c16")]);
    // A numpy scalar of that dtype cannot be decoded.
    let scalar = [
        b"\x80\x04".to_vec(),
        global("numpy._core.multiarray", "scalar"),
        dtype,
        b"C\x10".to_vec(),
        vec![0; 16],
        b"\x86R.".to_vec(),
    ]
    .concat();
    let e = loads(&scalar).expect_err("complex scalar");
    assert!(matches!(e, PickleError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("c16"), "{e}");
}

#[test]
fn numpy_scalar_is_a_0d_array() {
    let bytes = [
        b"\x80\x04".to_vec(),
        global("numpy.core.multiarray", "scalar"),
        global("numpy", "dtype"),
        u("f8"),
        b"\x89\x88\x87R(K\x03".to_vec(),
        u("<"),
        b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbC\x08".to_vec(),
        2.5f64.to_le_bytes().to_vec(),
        b"\x86R.".to_vec(),
    ]
    .concat();
    let v = load(&bytes);
    let a = v.as_array().expect("array");
    assert_eq!(a.dtype, Dtype::Float(8));
    assert!(a.shape.is_empty());
    assert_eq!(v.as_f64(), Some(2.5));
}

#[test]
fn defaultdict_is_a_dict_and_its_factory_only_a_class() {
    // defaultdict(OrderedDict, {"a": 1}) as `__reduce__` writes it: REDUCE with the factory, then SETITEMS.
    let head = [
        b"\x80\x04".to_vec(),
        global("collections", "defaultdict"),
        global("collections", "OrderedDict"),
    ]
    .concat();
    let good = [
        head.clone(),
        b"\x85R(".to_vec(),
        u("a"),
        b"K\x01u.".to_vec(),
    ]
    .concat();
    assert_eq!(load(&good), Value::Dict(vec![(s("a"), Value::Int(1))]));
    // A factory that is not a class (an int), or a second argument, is malformed, never called.
    let bad_factory = [
        b"\x80\x04".to_vec(),
        global("collections", "defaultdict"),
        b"K\x01\x85R.".to_vec(),
    ]
    .concat();
    let e = loads(&bad_factory).unwrap_err().to_string();
    assert!(e.contains("default factory is int"), "{e}");
    let two_args = [head, b"K\x01\x86R.".to_vec()].concat();
    let e = loads(&two_args).unwrap_err().to_string();
    assert!(e.contains("takes only its default factory"), "{e}");
}
