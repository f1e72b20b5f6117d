//! Conventions that code review should not have to catch: every source file says what it is
//! for, and CI runs the test command the README gives.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace root is two levels above this crate")
        .to_owned()
}

fn rust_sources(directory: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = workspace_root();
    let mut sources = Vec::new();
    for crate_directory in std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        rust_sources(&crate_directory.path().join("src"), &mut sources);
        rust_sources(&crate_directory.path().join("tests"), &mut sources);
    }
    assert!(sources.len() > 20, "found only {} sources", sources.len());
    let undocumented: Vec<String> = sources
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "start these files with a `//!` line saying what they are for: {undocumented:?}"
    );
}

#[test]
fn ci_runs_the_test_command_the_readme_gives() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        readme.contains("\nscripts/test\n"),
        "the README gives `scripts/test` as the test command"
    );
    assert!(
        ci.lines().any(|line| line.trim() == "scripts/test"),
        ".ci/run calls scripts/test"
    );
    assert!(
        readme.contains("cargo run --release -- serve"),
        "the README gives the run command"
    );
}
