//! Links the binary against the interpreter pyo3 found (`PYO3_PYTHON`, else `python3` on `PATH`) and records
//! that interpreter's library folder as the binary's run path, so `oxserve-microservice` starts without
//! `LD_LIBRARY_PATH` where libpython lives outside the linker's default folders (pyenv, a custom prefix); the
//! test binaries get the same run path.

fn main() {
    let config = pyo3_build_config::get();
    if let Some(dir) = &config.lib_dir {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{dir}");
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
