//! README's configuration table against the env names the code reads: every name a server reads is in the
//! table, and every name in the table is one the code reads (named once, in its crate's `env` module).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use oxserve_tests::repo_root;

/// The env names in the first column of README's `## Configuration` table.
fn readme_names() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a `## Configuration` section");
    let mut names = BTreeSet::new();
    let rows = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2); // header and separator
    for row in rows {
        let first = row.split('|').nth(1).unwrap();
        // The backticked names in the cell (text in parentheses may quote other things: skip those).
        for (i, part) in first.split('`').enumerate() {
            let is_name = i % 2 == 1
                && part.len() > 1
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                names.insert(part.to_string());
            }
        }
    }
    names
}

/// Every env name a server binary reads (runtime, engines, batching) and the storage limits the table
/// documents for the initializer and remote `model_uri`s.
fn code_names() -> BTreeSet<String> {
    let storage = [
        oxserve_storage::env::OXSERVE_STORAGE_TIMEOUT,
        oxserve_storage::env::OXSERVE_STORAGE_MAX_UNPACKED_BYTES,
        oxserve_storage::env::OXSERVE_STORAGE_MAX_ENTRIES,
    ];
    let batching = [
        oxserve_batching::ENV_MAX_BATCH_SIZE,
        oxserve_batching::ENV_MAX_BATCH_TIME,
    ];
    oxserve_runtime::config::env::ALL
        .iter()
        .chain(&[oxserve_runtime::component::env::SERVICE_TYPE])
        .chain(oxserve_onnx::env::ALL)
        .chain(&batching)
        .chain(&storage)
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn readme_configuration_table_lists_every_env_name_and_only_those() {
    let readme = readme_names();
    let code = code_names();
    let missing: Vec<_> = code.difference(&readme).collect();
    assert!(
        missing.is_empty(),
        "read by the code but not in README's configuration table: {missing:?}"
    );
    let unknown: Vec<_> = readme.difference(&code).collect();
    assert!(
        unknown.is_empty(),
        "in README's configuration table but named in no crate's env module: {unknown:?}"
    );
}

#[test]
fn env_names_are_named_once() {
    let all = oxserve_runtime::config::env::ALL;
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a name is listed twice: {all:?}");
}
