//! Repository rules, checked as `#[test]`s so every `cargo test -p xtask` enforces them (the
//! module is compiled for tests only).
//!
//! A rule is a pure function over a file's text (or the tree's paths) returning what breaks it,
//! a test running it over the real tree that lists every violation (`file:line: what`), and a
//! test feeding it a small violating sample, so a check that cannot fail does not go unnoticed.
//! Manifest rules are here; rules over Rust source are in [`code`], and the rules for secrets
//! (constant-time comparisons, the OS CSPRNG only) in [`crypto`].

mod code;
mod crypto;
mod source;

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

/// The directories of the crates under `crates/`, sorted.
fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(project_root().join("crates"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Every workspace member's directory.
fn members() -> Vec<PathBuf> {
    let root = project_root();
    let mut dirs = crate_dirs();
    for extra in ["migrations", "xtask", "bench"] {
        if root.join(extra).join("Cargo.toml").is_file() {
            dirs.push(root.join(extra));
        }
    }
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// `path` relative to the workspace root, for messages.
fn relative(path: &Path) -> String {
    let root = project_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Fails with every violation of `rule`, one per line.
fn assert_clean(rule: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{rule}: {} violation(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[test]
fn every_member_inherits_the_workspace_lints_and_package_fields() {
    let members = members();
    assert!(members.len() >= 3, "found the workspace members");
    for dir in members {
        let manifest = read(&dir.join("Cargo.toml"));
        let name = dir.display();
        assert!(
            manifest.contains("[lints]\nworkspace = true"),
            "{name}: add `[lints] workspace = true` (and nothing else under [lints])"
        );
        for field in ["version", "edition", "rust-version", "license"] {
            assert!(
                manifest.contains(&format!("\n{field}.workspace = true")),
                "{name}: inherit `{field}` from [workspace.package]"
            );
        }
        assert!(
            !manifest.contains("[lints.rust]") && !manifest.contains("[lints.clippy]"),
            "{name}: lints live in the workspace only"
        );
    }
}

#[test]
fn every_published_crate_has_a_readme_that_is_its_crate_doc() {
    for dir in members() {
        let manifest = read(&dir.join("Cargo.toml"));
        if manifest.contains("publish = false") {
            continue;
        }
        let name = dir.display();
        assert!(
            dir.join("README.md").is_file() || manifest.contains("readme = \"../../README.md\""),
            "{name}: needs a README.md"
        );
        let lib = read(&dir.join("src/lib.rs"));
        assert!(
            lib.starts_with("#![doc = include_str!(\"../README.md\")]") || lib.starts_with("//!"),
            "{name}: src/lib.rs must open with its crate guide"
        );
    }
}

/// The crates a manifest's dependency tables (`[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, `[target.'..'.dependencies]`) name.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if let Some(table) = line.strip_prefix('[') {
            let table = table.trim_end_matches(']');
            in_dependencies = table.ends_with("dependencies");
            // `[dependencies.name]`: one dependency as a table.
            if let Some((_, name)) = table.rsplit_once("dependencies.") {
                names.push(name.trim_matches('"').to_owned());
            }
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or_default()
            .trim_matches('"');
        if !name.is_empty() {
            names.push(name.to_owned());
        }
    }
    names
}

/// What xtask may depend on (STYLE, xtask): anything else belongs in the tools it runs.
const XTASK_DEPENDENCIES: [&str; 3] = ["anyhow", "xshell", "xflags"];

/// The dependencies of `manifest` that are not in `allowed`.
fn disallowed_dependencies(manifest: &str, allowed: &[&str]) -> Vec<String> {
    dependencies(manifest)
        .into_iter()
        .filter(|d| !allowed.contains(&d.as_str()))
        .collect()
}

#[test]
fn xtask_depends_on_anyhow_xshell_and_xflags_only() {
    let manifest = read(&project_root().join("xtask/Cargo.toml"));
    assert!(
        !dependencies(&manifest).is_empty(),
        "read xtask's dependencies"
    );
    let extra = disallowed_dependencies(&manifest, &XTASK_DEPENDENCIES);
    assert!(
        extra.is_empty(),
        "xtask/Cargo.toml: keep xtask light, drop {extra:?}"
    );
}

#[test]
fn any_other_dependency_of_xtask_is_refused_whatever_the_syntax() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nanyhow.workspace = true\n\
                    serde_json = { workspace = true }\n# a comment\n\n[dev-dependencies]\n\
                    \"xshell\" = \"0.2\"\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n\
                    [dependencies.regex]\nversion = \"1\"\n[lints]\nworkspace = true\n";
    assert_eq!(
        dependencies(manifest),
        ["anyhow", "serde_json", "xshell", "libc", "regex"]
    );
    assert_eq!(
        disallowed_dependencies(manifest, &XTASK_DEPENDENCIES),
        ["serde_json", "libc", "regex"]
    );
}

#[test]
fn the_ci_script_runs_the_test_command_of_the_readme() {
    let root = project_root();
    let ci = read(&root.join(".ci/run"));
    let readme = read(&root.join("README.md"));
    let command = ci
        .lines()
        .find_map(|l| l.strip_prefix("TEST_COMMAND=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_default();
    assert!(!command.is_empty(), ".ci/run defines TEST_COMMAND");
    assert!(
        readme.lines().any(|l| l == command),
        "README.md names `{command}`"
    );
    assert!(ci.contains("\n$TEST_COMMAND\n"), ".ci/run runs it");
}

/// What `manifest` lacks for docs.rs when it has a `[features]` table: docs.rs must build every
/// feature, with `--cfg docsrs` for the `doc(cfg)` badges.
fn docs_rs_metadata_problems(manifest: &str) -> Vec<&'static str> {
    let mut table = "";
    let mut has_features = false;
    let mut docs_rs = None::<Vec<String>>;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_end_matches(']').trim();
            has_features |= table == "features";
            if table == "package.metadata.docs.rs" {
                docs_rs.get_or_insert_default();
            }
            continue;
        }
        if table == "package.metadata.docs.rs"
            && let Some(lines) = docs_rs.as_mut()
        {
            lines.push(line.split_whitespace().collect());
        }
    }
    if !has_features {
        return Vec::new();
    }
    let Some(lines) = docs_rs else {
        return vec!["add [package.metadata.docs.rs] (all-features, --cfg docsrs)"];
    };
    let mut problems = Vec::new();
    if !lines.iter().any(|l| l == "all-features=true") {
        problems.push("[package.metadata.docs.rs]: add `all-features = true`");
    }
    if !lines
        .iter()
        .any(|l| l.starts_with("rustdoc-args=[") && l.contains(r#""--cfg","docsrs""#))
    {
        problems.push(r#"[package.metadata.docs.rs]: add `rustdoc-args = ["--cfg", "docsrs"]`"#);
    }
    problems
}

#[test]
fn every_crate_with_features_builds_them_all_on_docs_rs() {
    let mut dirs = crate_dirs();
    dirs.push(project_root().join("migrations"));
    assert!(dirs.len() >= 3, "found the crates");
    let violations: Vec<String> = dirs
        .iter()
        .map(|dir| dir.join("Cargo.toml"))
        .flat_map(|manifest| {
            docs_rs_metadata_problems(&read(&manifest))
                .into_iter()
                .map(move |problem| format!("{}: {problem}", relative(&manifest)))
        })
        .collect();
    assert_clean("docs.rs metadata", &violations);
}

#[test]
fn a_crate_with_features_but_no_docs_rs_metadata_is_caught() {
    let with_features = "[package]\nname = \"x\"\n\n[features]\ndefault = []\n";
    assert_eq!(docs_rs_metadata_problems(with_features).len(), 1);
    let half = format!("{with_features}\n[package.metadata.docs.rs]\nall-features = true\n");
    assert_eq!(
        docs_rs_metadata_problems(&half),
        [r#"[package.metadata.docs.rs]: add `rustdoc-args = ["--cfg", "docsrs"]`"#]
    );
    let complete = "[package]\nname = \"x\"\n\n[package.metadata.docs.rs]\nall-features = true\n\
                    rustdoc-args = [\"--cfg\", \"docsrs\"]\n\n[features]\ndefault = []\n";
    assert!(docs_rs_metadata_problems(complete).is_empty());
    // `all-features` of another table does not count.
    let elsewhere = "[features]\na = []\n[package.metadata.docs.rs]\nrustdoc-args = [\"--cfg\", \"docsrs\"]\n\
                     [package.metadata.other]\nall-features = true\n";
    assert_eq!(docs_rs_metadata_problems(elsewhere).len(), 1);
    assert!(docs_rs_metadata_problems("[package]\nname = \"x\"\n").is_empty());
}

/// The features of `manifest` (except `default`) that `readme` has no table row for: a line
/// starting with `|` that names the feature in backticks.
fn features_missing_from_readme(manifest: &str, readme: &str) -> Vec<String> {
    let mut table = "";
    let mut features = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_end_matches(']').trim();
            continue;
        }
        if table == "features"
            && let Some((name, _)) = line.split_once('=')
        {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') && name != "default" {
                features.push(name.to_owned());
            }
        }
    }
    features
        .into_iter()
        .filter(|f| {
            let quoted = format!("`{f}`");
            !readme
                .lines()
                .any(|l| l.trim_start().starts_with('|') && l.contains(&quoted))
        })
        .collect()
}

#[test]
fn every_published_crate_with_features_has_a_feature_table() {
    let mut dirs = crate_dirs();
    dirs.push(project_root().join("migrations"));
    let violations: Vec<String> = dirs
        .iter()
        .filter(|dir| !read(&dir.join("Cargo.toml")).contains("publish = false"))
        .flat_map(|dir| {
            let manifest = dir.join("Cargo.toml");
            features_missing_from_readme(&read(&manifest), &read(&dir.join("README.md")))
                .into_iter()
                .map(move |f| {
                    format!(
                        "{}: feature `{f}` has no row in the README's feature table",
                        relative(&manifest)
                    )
                })
        })
        .collect();
    assert_clean("feature tables", &violations);
}

#[test]
fn a_feature_without_a_table_row_is_caught() {
    let manifest = "[package]\nname = \"x\"\n\n[features]\ndefault = []\n## doc\nsqlite = []\npostgres = [\"a\"]\n\n[dependencies]\nb = \"1\"\n";
    let readme = "Drivers are `sqlite` and `postgres`.\n\n| feature | adds |\n|---|---|\n| `sqlite` | SQLite |\n";
    assert_eq!(features_missing_from_readme(manifest, readme), ["postgres"]);
    let both = format!("{readme}| `postgres` | PostgreSQL |\n");
    assert!(features_missing_from_readme(manifest, &both).is_empty());
}
