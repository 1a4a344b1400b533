//! joblib ≤ 0.9's `NDArrayWrapper` (issue #16): arrays in `.npy` side files beside the pickle, read from the
//! model's folder only, by plain file names, within the memory budget, with messages that name the side file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use oxserve_pickle::{ArrayData, Limits, PickleError, Value};

/// A fresh empty folder under the system temp dir.
fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxserve-side-files-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn binunicode(s: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend_from_slice(&u32::try_from(s.len()).expect("short").to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

/// A protocol 2 pickle of `[NDArrayWrapper(filename, numpy.ndarray)]` as scikit-learn ≤ 0.22's vendored joblib
/// (`module`) wrote it.
fn wrapper_pickle(module: &str, filename: &str) -> Vec<u8> {
    let mut out = b"\x80\x02]".to_vec();
    out.extend_from_slice(format!("c{module}\nNDArrayWrapper\n").as_bytes());
    out.extend_from_slice(b")\x81}(");
    out.extend(binunicode("filename"));
    out.extend(binunicode(filename));
    out.extend(binunicode("subclass"));
    out.extend_from_slice(b"cnumpy\nndarray\n");
    out.extend(binunicode("allow_mmap"));
    out.extend_from_slice(b"\x88ubaK\x07a.");
    out
}

/// A `.npy` (format 1.0) of float64 values in C order.
fn npy(shape: &str, values: &[f64]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).expect("short").to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn side_file_array_replaces_the_wrapper() {
    for module in [
        "sklearn.externals.joblib.numpy_pickle",
        "joblib.numpy_pickle_compat",
        "joblib.numpy_pickle",
    ] {
        let dir = temp_dir();
        let model = write(
            &dir,
            "model.pkl",
            &wrapper_pickle(module, "model.pkl_01.npy"),
        );
        write(
            &dir,
            "model.pkl_01.npy",
            &npy("(2, 2)", &[1.0, 2.0, 3.0, 4.0]),
        );
        let value = oxserve_pickle::load_file(&model).expect("loads");
        let Value::List(items) = value else {
            panic!("{value:?}")
        };
        let Value::Array(a) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(a.shape, vec![2, 2]);
        assert_eq!(a.data, ArrayData::Float(vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(items[1], Value::Int(7));
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_missing_side_file_is_named() {
    let dir = temp_dir();
    let model = write(
        &dir,
        "model.pkl",
        &wrapper_pickle("sklearn.externals.joblib.numpy_pickle", "model.pkl_03.npy"),
    );
    let err = oxserve_pickle::load_file(&model).expect_err("refused");
    assert!(matches!(err, PickleError::SideFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("joblib side file model.pkl_03.npy: missing beside the model"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn side_file_names_outside_the_folder_are_refused() {
    let dir = temp_dir();
    // A real file one level up that a path walk would reach.
    write(
        dir.parent().expect("parent"),
        "oxserve-outside.npy",
        &npy("(1,)", &[1.0]),
    );
    for name in [
        "../oxserve-outside.npy",
        "/etc/passwd",
        "sub/model.npy",
        "..\\model.npy",
        "..",
        "",
        "model\0.npy",
    ] {
        let model = write(
            &dir,
            "model.pkl",
            &wrapper_pickle("sklearn.externals.joblib.numpy_pickle", name),
        );
        let err = oxserve_pickle::load_file(&model).expect_err(name);
        assert!(
            matches!(&err, PickleError::SideFile { file, what } if file == name && what.contains("plain file name")),
            "{name:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bytes_in_memory_have_no_side_files() {
    let err = oxserve_pickle::loads(&wrapper_pickle(
        "sklearn.externals.joblib.numpy_pickle",
        "model.pkl_01.npy",
    ))
    .expect_err("refused");
    assert!(err.to_string().contains("model.pkl_01.npy"), "{err}");
}

#[test]
fn hostile_side_files_are_refused() {
    let dir = temp_dir();
    let model = write(
        &dir,
        "model.pkl",
        &wrapper_pickle("sklearn.externals.joblib.numpy_pickle", "a.npy"),
    );
    let huge = npy("(1000000000000, 1000000)", &[1.0]);
    let cases: [(&str, Vec<u8>); 4] = [
        ("not an npy", b"hello".to_vec()),
        ("huge shape", huge),
        ("short data", npy("(4,)", &[1.0])),
        ("object dtype", {
            let mut b = npy("(1,)", &[]);
            let at = b.windows(4).position(|w| w == b"<f8'").expect("descr");
            b[at..at + 3].copy_from_slice(b"|O'");
            b
        }),
    ];
    for (what, bytes) in cases {
        write(&dir, "a.npy", &bytes);
        let err = oxserve_pickle::load_file(&model).expect_err(what);
        assert!(
            matches!(&err, PickleError::SideFile { file, .. } if file == "a.npy"),
            "{what}: {err}"
        );
    }
    // A side file larger than the memory budget is refused before it is read.
    write(&dir, "a.npy", &npy("(4096,)", &[0.5; 4096]));
    let limits = Limits {
        max_memory_bytes: 16 << 10,
        ..Limits::default()
    };
    let err = oxserve_pickle::load_file_with(&model, &limits).expect_err("budget");
    assert!(
        matches!(err, PickleError::MemoryBudget { ref what, .. } if what.contains("a.npy")),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
