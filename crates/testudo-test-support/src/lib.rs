//! Test fixtures shared by the testudo crates. Not published.
//!
//! The conformance-vector loader: every crate's conformance test reads the vectors produced by
//! tortoise-auth through [`Vectors::load`], so any file of the same schema can be checked by the
//! same tests:
//!
//! 1. the file named by `TESTUDO_CONFORMANCE_VECTORS`, when set;
//! 2. else `../shared/conformance/vectors.json` beside the repository;
//! 3. else the committed copy `testdata/conformance/vectors.json`.
//!
//! A file with a top-level section this loader does not know is refused, and a section read
//! with [`Vectors::section`] is deserialised into the test's own types (which should use
//! `#[serde(deny_unknown_fields)]`), so an entry a test cannot interpret fails the test rather
//! than being skipped.
//!
//! ```
//! use testudo_test_support::Vectors;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Hash { raw_token: String, sha256_hex: String }
//!
//! let vectors = Vectors::load()?;
//! let entries: Vec<Hash> = vectors.section("opaque_token_hash")?;
//! assert!(!entries.is_empty());
//! vectors.report("opaque_token_hash", entries.len());
//! # Ok::<(), testudo_test_support::VectorError>(())
//! ```
//!
//! With the `db` feature: per-test databases in `db`, and `per_database!`, which runs a test
//! written once on each database as its own test case (`NAME::sqlite`, `NAME::postgres`,
//! `NAME::mariadb`).
//!
//! With the `faults` feature: `faults`, database faults on demand (a TCP proxy that stops,
//! stalls and restarts a server's traffic, server-side connection kills, failing inserts).
//!
//! With the `adversary` feature: `adversary`, attacks on a token backend's revocation
//! guarantees (a `logout_all` during a rotation, a replay during the thief's rotation, refresh
//! chains against `logout_all`), written once and run against each backend.

#[cfg(feature = "adversary")]
pub mod adversary;
#[cfg(feature = "tracing")]
pub mod capture;
#[cfg(feature = "db")]
pub mod db;
#[cfg(feature = "faults")]
pub mod faults;
#[cfg(feature = "db")]
mod per_db;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The environment variable naming another vector file to check.
pub const VECTORS_ENV: &str = "TESTUDO_CONFORMANCE_VECTORS";

/// Every top-level section of the vector schema (see `testdata/conformance/README.md`).
pub const KNOWN_SECTIONS: &[&str] = &[
    "generator",
    "password_hashes",
    "unusable_passwords",
    "signer",
    "unsign_bad",
    "timestamp_signer",
    "timestamp_unsign_bad",
    "timestamp_parse_quirks",
    "jwt",
    "jwt_crafted",
    "opaque_token_hash",
    "validators",
    "validator_help_texts",
    "similarity",
    "config_defaults",
];

/// Why the vectors could not be used.
#[derive(Debug)]
pub struct VectorError(String);

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VectorError {}

/// A loaded conformance-vector file.
#[derive(Debug)]
pub struct Vectors {
    path: PathBuf,
    root: serde_json::Map<String, Value>,
}

fn workspace_root() -> PathBuf {
    // crates/testudo-test-support -> workspace root
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the vectors are read from, by the rules in the crate docs.
#[must_use]
pub fn vectors_path() -> PathBuf {
    if let Some(p) = std::env::var_os(VECTORS_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let shared = root.join("../shared/conformance/vectors.json");
    if shared.is_file() {
        shared
    } else {
        root.join("testdata/conformance/vectors.json")
    }
}

impl Vectors {
    /// Loads the vectors from [`vectors_path`].
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not a JSON object, or has a section not in
    /// [`KNOWN_SECTIONS`].
    pub fn load() -> Result<Self, VectorError> {
        Self::load_from(vectors_path())
    }

    /// Loads the vectors from `path`.
    ///
    /// # Errors
    ///
    /// As [`Vectors::load`].
    pub fn load_from(path: impl Into<PathBuf>) -> Result<Self, VectorError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| VectorError(format!("cannot read {}: {e}", path.display())))?;
        let root = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(VectorError(format!(
                    "{}: not a JSON object",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(VectorError(format!(
                    "{}: invalid JSON: {e}",
                    path.display()
                )));
            }
        };
        if let Some(unknown) = root.keys().find(|k| !KNOWN_SECTIONS.contains(&k.as_str())) {
            return Err(VectorError(format!(
                "{}: unknown section {unknown:?}: teach the conformance tests about it",
                path.display()
            )));
        }
        Ok(Self { path, root })
    }

    /// The file the vectors came from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw JSON of a section, if present.
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.root.get(name)
    }

    /// Deserialises a section (a JSON array) into `T`s.
    ///
    /// # Errors
    ///
    /// When the section is missing, is not an array, or an entry does not fit `T` (the message
    /// names the entry's index).
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, VectorError> {
        let items = self
            .root
            .get(name)
            .ok_or_else(|| VectorError(format!("{}: no section {name:?}", self.path.display())))?
            .as_array()
            .ok_or_else(|| VectorError(format!("section {name:?} is not an array")))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                T::deserialize(item).map_err(|e| {
                    VectorError(format!(
                        "section {name:?} entry {i} cannot be interpreted: {e}"
                    ))
                })
            })
            .collect()
    }

    /// Deserialises a section that is a single JSON value (an object), such as
    /// `config_defaults`.
    ///
    /// # Errors
    ///
    /// When the section is missing or does not fit `T`.
    pub fn object<T: DeserializeOwned>(&self, name: &str) -> Result<T, VectorError> {
        let value = self
            .root
            .get(name)
            .ok_or_else(|| VectorError(format!("{}: no section {name:?}", self.path.display())))?;
        T::deserialize(value)
            .map_err(|e| VectorError(format!("section {name:?} cannot be interpreted: {e}")))
    }

    /// Prints how many entries of `section` a test checked (visible with `--nocapture` and in
    /// nextest's output of the test).
    pub fn report(&self, section: &str, checked: usize) {
        eprintln!(
            "conformance: checked {checked} {section} entries from {}",
            self.path.display()
        );
    }
}

/// Shorthand for tests: a boxed error, so `?` works on every fallible call.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_vectors_load_and_every_section_is_known() -> TestResult {
        let v = Vectors::load()?;
        assert!(v.raw("password_hashes").is_some());
        Ok(())
    }

    #[test]
    fn an_unknown_section_is_refused_not_skipped() -> TestResult {
        let dir = std::env::temp_dir().join(format!("testudo-vectors-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("v.json");
        std::fs::write(&file, r#"{"signer": [], "totp": []}"#)?;
        let err = Vectors::load_from(&file).err().map(|e| e.to_string());
        std::fs::remove_dir_all(&dir)?;
        assert!(err.is_some_and(|e| e.contains("\"totp\"")));
        Ok(())
    }

    #[test]
    fn an_entry_that_does_not_fit_names_its_index() -> TestResult {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct OnlyRaw {
            #[expect(dead_code, reason = "only deserialised")]
            raw_token: String,
        }
        let v = Vectors::load()?;
        let err = v
            .section::<OnlyRaw>("opaque_token_hash")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("entry 0")));
        Ok(())
    }
}
