//! Hostile and broken inputs: every one must end in a `PickleError` (never a panic, an abort, or an allocation
//! the input does not pay for), and the error must say what was refused.

use std::io::Write;
use std::path::Path;

use oxserve_pickle::{Limits, PickleError, Value, loads, loads_with};

mod support;
use support::P;

fn err(bytes: &[u8]) -> PickleError {
    match loads(bytes) {
        Ok(v) => panic!("expected an error, got {}", v.kind()),
        Err(e) => e,
    }
}

fn assert_forbidden(bytes: &[u8], name: &str) {
    let e = err(bytes);
    assert!(matches!(e, PickleError::ForbiddenGlobal { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("forbidden global {name}")),
        "{e}"
    );
}

#[test]
fn code_execution_globals_are_refused() {
    assert_forbidden(b"cos\nsystem\n(S'echo pwned'\ntR.", "os.system");
    assert_forbidden(b"cposix\nsystem\n(S'echo pwned'\ntR.", "posix.system");
    assert_forbidden(b"csubprocess\nPopen\n(S'sh'\ntR.", "subprocess.Popen");
    assert_forbidden(b"c__builtin__\neval\n(S'1'\ntR.", "__builtin__.eval");
    assert_forbidden(
        &P::proto(4)
            .global("builtins", "eval")
            .str("1")
            .op(&[0x85, b'R'])
            .stop(),
        "builtins.eval",
    );
    assert_forbidden(
        &P::proto(4).global("builtins", "getattr").stop(),
        "builtins.getattr",
    );
    assert_forbidden(&P::proto(4).global("nt", "system").stop(), "nt.system");
    assert_forbidden(
        &P::proto(4).global("sklearn.x;os", "system").stop(),
        "sklearn.x;os.system",
    );
    // INST and OBJ resolve through the same allowlist.
    assert_forbidden(b"(S'ls'\nios\nsystem\n.", "os.system");
    // The error names the opcode and its offset.
    let e = err(b"\x80\x02cos\nsystem\n.");
    assert!(e.to_string().contains("GLOBAL at byte 2"), "{e}");
}

#[test]
fn refused_pickle_features() {
    for (bytes, what) in [
        (&b"\x80\x06N."[..], "protocol 6"),
        (b"\x80\x04Pabc\n.", "persistent"),
        (b"\x80\x04NQ.", "persistent"),
        (b"\x80\x04\x82\x01.", "extension"),
        (b"\x80\x05\x97.", "out-of-band"),
    ] {
        let e = err(bytes);
        assert!(matches!(e, PickleError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    assert!(matches!(
        err(b"\x80\x04\xff."),
        PickleError::UnknownOpcode {
            byte: 0xff,
            offset: 2
        }
    ));
    assert!(matches!(err(b""), PickleError::Empty));
    assert!(matches!(err(b"\x80\x04N"), PickleError::Truncated { .. }));
    assert!(matches!(err(b"\x80\x04."), PickleError::Malformed { .. }));
    assert!(matches!(
        err(b"\x80\x04h\x05."),
        PickleError::Malformed { .. }
    ));
}

#[test]
fn huge_declared_arrays_fail_before_allocating() {
    // A joblib wrapper claiming 2^40 float64 elements, with no data behind it.
    let e = err(&P::proto(4).wrapper(&[1 << 40], "f8").stop());
    assert!(
        matches!(
            e,
            PickleError::Truncated {
                opcode: "array data",
                ..
            }
        ),
        "{e}"
    );
    // Shapes whose byte size overflows.
    let e = err(&P::proto(4).wrapper(&[1 << 40, 1 << 40], "f8").stop());
    assert!(matches!(e, PickleError::Malformed { .. }), "{e}");
    let e = err(&P::proto(4).wrapper(&[-1], "f8").stop());
    assert!(matches!(e, PickleError::Malformed { .. }), "{e}");
    // Zero-width items: 2^40 of them occupy no bytes, but the tree would.
    let e = err(&P::proto(4).wrapper(&[1 << 40], "S0").stop());
    assert!(matches!(e, PickleError::Limit { .. }), "{e}");
    // `_reconstruct` + BUILD claiming 2^40 elements with 8 bytes of data.
    let bytes = P::proto(4)
        .global("numpy._core.multiarray", "_reconstruct")
        .global("numpy", "ndarray")
        .int(0)
        .op(&[0x85])
        .op(b"C\x01b")
        .op(&[0x87, b'R', b'('])
        .int(1)
        .int(1 << 40)
        .op(&[0x85])
        .dtype("f8")
        .op(&[0x89])
        .op(b"C\x08\0\0\0\0\0\0\0\0")
        .op(b"tb")
        .stop();
    assert!(matches!(err(&bytes), PickleError::Malformed { .. }));
    // Length prefixes larger than the input.
    let e = err(b"\x80\x04\x8d\0\0\0\0\0\0\0\x10N.");
    assert!(
        matches!(
            e,
            PickleError::Truncated {
                opcode: "BINUNICODE8",
                ..
            }
        ),
        "{e}"
    );
    let e = err(b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xffN.");
    assert!(
        matches!(
            e,
            PickleError::Truncated {
                opcode: "FRAME",
                ..
            }
        ),
        "{e}"
    );
    let e = err(b"\x80\x04\x8b\xff\xff\xff\x7fN.");
    assert!(
        matches!(
            e,
            PickleError::Truncated {
                opcode: "LONG4",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_bounded() {
    // 100k open MARKs.
    let mut bytes = b"\x80\x02".to_vec();
    bytes.extend(std::iter::repeat_n(b'(', 100_000));
    assert!(matches!(
        err(&bytes),
        PickleError::Limit { opcode: "MARK", .. }
    ));
    // 100k lists each appended into the previous one, on the stack.
    let mut bytes = b"\x80\x02".to_vec();
    bytes.extend(std::iter::repeat_n(b']', 100_000));
    bytes.extend(std::iter::repeat_n(b'a', 99_999));
    bytes.push(b'.');
    assert!(matches!(err(&bytes), PickleError::Limit { .. }));
    // The same chain with a constant stack depth, through the memo.
    let mut bytes = b"\x80\x02]r\0\0\0\0".to_vec();
    for i in 1u32..100_000 {
        bytes.push(b'j');
        bytes.extend_from_slice(&(i - 1).to_le_bytes());
        bytes.extend_from_slice(b"]r");
        bytes.extend_from_slice(&i.to_le_bytes());
        bytes.extend_from_slice(b"a0");
    }
    bytes.push(b'.');
    let e = err(&bytes);
    assert!(e.to_string().contains("nesting depth"), "{e}");
    // Nesting below the limit is fine.
    let mut bytes = b"\x80\x02".to_vec();
    bytes.extend(std::iter::repeat_n(b']', 500));
    bytes.extend(std::iter::repeat_n(b'a', 499));
    bytes.push(b'.');
    assert!(loads(&bytes).is_ok());
}

#[test]
fn recursive_structures_are_refused() {
    // l = []; l.append(l)
    let e = err(b"\x80\x02]q\0h\0a.");
    assert!(e.to_string().contains("recursive"), "{e}");
    // d = {}; d['self'] = d
    let e = err(b"\x80\x02}q\0U\x04selfh\0s.");
    assert!(e.to_string().contains("recursive"), "{e}");
}

#[test]
fn shared_reference_explosion_hits_the_budget() {
    // a = [0]*1000; b = [a]*1000; c = [b]*1000: 10^9 elements from a few kilobytes.
    let mut bytes = b"\x80\x02](".to_vec();
    bytes.extend(std::iter::repeat_n(&b"K\0"[..], 1000).flatten());
    bytes.extend_from_slice(b"eq\x01](");
    bytes.extend(std::iter::repeat_n(&b"h\x01"[..], 1000).flatten());
    bytes.extend_from_slice(b"eq\x02](");
    bytes.extend(std::iter::repeat_n(&b"h\x02"[..], 1000).flatten());
    bytes.extend_from_slice(b"e.");
    let e = err(&bytes);
    assert!(e.to_string().contains("size of the value tree"), "{e}");
    // Sharing that fits is copied faithfully.
    let v = loads(b"\x80\x02](K\x01K\x02eq\x01h\x01\x86.").expect("small sharing");
    let Value::Tuple(items) = v else {
        panic!("tuple")
    };
    assert_eq!(items.first(), items.get(1));
}

#[test]
fn nested_object_array_pickles_are_bounded() {
    // An object-dtype wrapper is followed by an embedded pickle, which may itself hold such a wrapper...
    let mut bytes = Vec::new();
    for _ in 0..8 {
        bytes.extend(P::proto(4).wrapper(&[1], "O").0);
    }
    let e = err(&bytes);
    assert!(e.to_string().contains("nested pickles"), "{e}");
}

#[test]
fn repeated_copies_of_large_arguments_are_charged() {
    // args = ('f8', 0, 0, ... 50k zeros); then 20k times numpy.dtype(*args): each REDUCE copies 50k ids.
    let mut p = P::proto(4)
        .global("numpy", "dtype")
        .op(&[0x94])
        .op(b"(")
        .str("f8");
    p = p
        .op(&b"K\0".repeat(50_000))
        .op(b"t")
        .op(&[0x94, b'0', b'0']);
    let mut bytes = p.0;
    bytes.extend_from_slice(b"]");
    for _ in 0..20_000 {
        bytes.extend_from_slice(b"h\0h\x01R0");
    }
    bytes.push(b'.');
    let e = err(&bytes);
    assert!(matches!(e, PickleError::Limit { .. }), "{e}");
}

fn compressed_bomb(kind: &str, size: usize) -> Vec<u8> {
    let zeros = vec![0u8; size];
    match kind {
        "zlib" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).expect("write");
            e.finish().expect("finish")
        }
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).expect("write");
            e.finish().expect("finish")
        }
        _ => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            e.write_all(&zeros).expect("write");
            e.finish().expect("finish")
        }
    }
}

#[test]
fn decompression_bombs_are_capped() {
    let limits = Limits {
        max_memory_bytes: 1 << 20,
        ..Limits::default()
    };
    for kind in ["zlib", "gzip", "bz2"] {
        let bomb = compressed_bomb(kind, 12 << 20);
        assert!(bomb.len() < 64 << 10, "{kind} bomb is {} bytes", bomb.len());
        let e = loads_with(&bomb, &limits).expect_err("bomb");
        assert!(
            matches!(e, PickleError::DecompressedTooLarge { .. }),
            "{kind}: {e}"
        );
    }
    // Corrupt compressed streams are decompression errors.
    let mut broken = compressed_bomb("zlib", 1000);
    broken.truncate(broken.len() / 2);
    assert!(matches!(
        loads(&broken),
        Err(PickleError::Decompress { .. })
    ));
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_prefix_of_a_fixture_fails_cleanly() {
    // Every prefix of the smaller files, every few of the larger (the test is quadratic).
    for (name, step) in [
        ("tree.joblib", 1),
        ("data_p4.joblib", 2),
        ("data_p0.pkl", 7),
        ("data_p5.pkl", 3),
    ] {
        let bytes = fixture(name);
        assert!(loads(&bytes).is_ok(), "{name} loads");
        for end in (0..bytes.len()).step_by(step) {
            let prefix = bytes.get(..end).unwrap_or_default();
            assert!(
                loads(prefix).is_err(),
                "{name}: prefix of {end} bytes loaded"
            );
        }
    }
    // Compressed files: prefixes of the compressed bytes.
    let bytes = fixture("data.joblib.z");
    for end in (0..bytes.len()).step_by(7) {
        assert!(
            loads(bytes.get(..end).unwrap_or_default()).is_err(),
            "zlib prefix {end}"
        );
    }
}

/// A xorshift64* generator: enough randomness for smoke tests without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let headers: [&[u8]; 4] = [b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"];
    for i in 0..4000 {
        let mut buf = headers[i % headers.len()].to_vec();
        let len = rng.below(300);
        buf.extend((0..len).map(|_| rng.next() as u8));
        let _ = loads(&buf);
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = XorShift(42);
    for name in [
        "data_p4.joblib",
        "data_p2.pkl",
        "data_p5.pkl",
        "tree.joblib",
        "data_p0.pkl",
    ] {
        let original = fixture(name);
        for _ in 0..300 {
            let mut buf = original.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(buf.len());
                if let Some(b) = buf.get_mut(at) {
                    *b = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => b.wrapping_add(1),
                        _ => 0xff,
                    };
                }
            }
            let _ = loads(&buf);
        }
    }
}
