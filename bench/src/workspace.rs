//! The workspace's bench targets (from `cargo metadata`), the features each is built with, and
//! the PostgreSQL server the benches are pointed at.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::targets::BenchKey;

/// Features enabled beyond a bench target's `required-features`: the PostgreSQL rows of the
/// authenticate bench.
const EXTRA_FEATURES: &[(&str, &str, &[&str])] =
    &[("testudo-service", "authenticate", &["postgres"])];

/// Bench targets that are not criterion benches (`harness = false` binaries with their own
/// output): run without criterion's arguments; their results are not read from criterion's
/// files.
const NOT_CRITERION: &[BenchKey] = &[("testudo-service", "load")];

/// The PostgreSQL server the benches use when `TESTUDO_BENCH_POSTGRES_URL` is unset.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A bench target of a workspace package.
#[derive(Debug, Clone)]
pub(crate) struct BenchTarget {
    /// The workspace package.
    pub(crate) package: String,
    /// The bench target's name (`--bench`).
    pub(crate) name: String,
    /// Its `required-features`.
    pub(crate) required_features: Vec<String>,
    /// The package's directory (criterion benches run from there under `cargo bench`).
    pub(crate) package_dir: PathBuf,
}

impl BenchTarget {
    /// `--features pkg/a,pkg/b` (the required features and [`EXTRA_FEATURES`]), or nothing.
    pub(crate) fn feature_args(&self) -> Vec<String> {
        let extra = EXTRA_FEATURES
            .iter()
            .filter(|(package, bench, _)| *package == self.package && *bench == self.name)
            .flat_map(|(_, _, features)| features.iter().map(|f| (*f).to_owned()));
        let features: Vec<String> = self
            .required_features
            .iter()
            .cloned()
            .chain(extra)
            .collect();
        if features.is_empty() {
            return Vec::new();
        }
        vec![
            "--features".to_owned(),
            features
                .iter()
                .map(|f| format!("{}/{f}", self.package))
                .collect::<Vec<_>>()
                .join(","),
        ]
    }

    /// Whether it is a criterion bench (see [`NOT_CRITERION`]).
    pub(crate) fn is_criterion(&self) -> bool {
        !NOT_CRITERION
            .iter()
            .any(|(package, bench)| *package == self.package && *bench == self.name)
    }
}

/// `TESTUDO_BENCH_POSTGRES_URL`, or [`DEFAULT_POSTGRES_URL`].
pub(crate) fn postgres_url() -> String {
    std::env::var("TESTUDO_BENCH_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// The workspace's bench targets and its target directory.
pub(crate) fn bench_targets(sh: &Shell) -> Result<(Vec<BenchTarget>, PathBuf)> {
    let metadata = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()?;
    parse_metadata(&metadata)
}

/// Reads `cargo metadata --format-version 1 --no-deps` output.
fn parse_metadata(metadata: &str) -> Result<(Vec<BenchTarget>, PathBuf)> {
    let metadata: Value = serde_json::from_str(metadata).context("cargo metadata output")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata: no target_directory")?;
    let mut targets = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) =
            (package["name"].as_str(), package["manifest_path"].as_str())
        else {
            continue;
        };
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bench = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"));
            let Some(target_name) = target["name"].as_str() else {
                continue;
            };
            if !is_bench {
                continue;
            }
            targets.push(BenchTarget {
                package: name.to_owned(),
                name: target_name.to_owned(),
                required_features: target["required-features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
                package_dir: Path::new(manifest)
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            });
        }
    }
    targets.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
    Ok((targets, PathBuf::from(target_dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_yields_bench_targets_with_their_features() {
        let metadata = r#"{"target_directory": "/w/target", "packages": [
            {"name": "a", "manifest_path": "/w/crates/a/Cargo.toml", "targets": [
                {"kind": ["lib"], "name": "a"},
                {"kind": ["bench"], "name": "speed", "required-features": ["sqlite"]}]},
            {"name": "b", "manifest_path": "/w/crates/b/Cargo.toml", "targets": [
                {"kind": ["bench"], "name": "fast"}]}]}"#;
        let (targets, dir) = parse_metadata(metadata).expect("valid metadata");
        assert_eq!(dir, PathBuf::from("/w/target"));
        let names: Vec<_> = targets
            .iter()
            .map(|t| (t.package.as_str(), t.name.as_str(), t.feature_args()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "a",
                    "speed",
                    vec!["--features".to_owned(), "a/sqlite".to_owned()]
                ),
                ("b", "fast", vec![]),
            ]
        );
        assert_eq!(targets[0].package_dir, PathBuf::from("/w/crates/a"));
    }

    #[test]
    fn extra_features_and_non_criterion_benches() {
        let target = |name: &str| BenchTarget {
            package: "testudo-service".into(),
            name: name.into(),
            required_features: vec!["sqlite".into()],
            package_dir: PathBuf::from("/w/crates/testudo-service"),
        };
        assert_eq!(
            target("authenticate").feature_args(),
            vec![
                "--features".to_owned(),
                "testudo-service/sqlite,testudo-service/postgres".to_owned()
            ]
        );
        assert!(target("authenticate").is_criterion());
        assert!(!target("load").is_criterion());
    }
}
