//! Rules over Rust source: module docs, strings in error enums, sea-orm in public signatures.

use std::path::PathBuf;

use super::source::{
    closing, is_word_at, leading_ident, line_of, mask, opening, split_list, without_attributes,
    words,
};
use super::{assert_clean, crate_dirs, read, relative, rust_files};
use crate::project_root;

/// A violation in one file: its 1-based line and what is wrong there.
type Finding = (usize, String);

/// Runs `check` over `files`, as `path:line: what` lines.
fn check_files(files: &[PathBuf], check: impl Fn(&str) -> Vec<Finding>) -> Vec<String> {
    files
        .iter()
        .flat_map(|file| {
            let path = relative(file);
            check(&read(file))
                .into_iter()
                .map(move |(line, what)| format!("{path}:{line}: {what}"))
        })
        .collect()
}

/// The `.rs` files of `crates/*/src`, except those of the crates named in `except`.
fn crate_sources(except: &[&str]) -> Vec<PathBuf> {
    crate_dirs()
        .into_iter()
        .filter(|dir| {
            !dir.file_name()
                .is_some_and(|name| except.iter().any(|e| name == *e))
        })
        .flat_map(|dir| rust_files(&dir.join("src")))
        .collect()
}

// --- (a) every source file opens with its module doc

/// Whether `text` opens with a `//!` module doc, after any inner attributes (`#![...]`); a
/// `#![doc = ...]` attribute (a README through `include_str!`) is the doc itself.
fn opens_with_module_doc(text: &str) -> bool {
    let code = mask(text);
    let mut at = 0;
    loop {
        at += text[at..].len() - text[at..].trim_start().len();
        let rest = &text[at..];
        if rest.starts_with("//!") {
            return true;
        }
        let Some(attribute) = rest.strip_prefix("#![") else {
            return false;
        };
        let attribute = attribute.trim_start();
        if attribute
            .strip_prefix("doc")
            .is_some_and(|a| a.trim_start().starts_with('='))
        {
            return true;
        }
        let Some(close) = closing(&code, at + 2) else {
            return false;
        };
        at = close + 1;
    }
}

#[test]
fn every_source_file_opens_with_its_module_doc() {
    let root = project_root();
    let mut files = crate_sources(&[]);
    for dir in ["migrations/src", "xtask/src", "bench/src"] {
        files.extend(rust_files(&root.join(dir)));
    }
    assert!(files.len() > 20, "found the sources");
    let violations: Vec<String> = files
        .iter()
        .filter(|file| !opens_with_module_doc(&read(file)))
        .map(|file| {
            format!(
                "{}:1: open with a `//!` doc saying what it holds",
                relative(file)
            )
        })
        .collect();
    assert_clean("module docs", &violations);
}

#[test]
fn a_file_without_a_module_doc_is_caught() {
    for missing in [
        "",
        "use std::fs;\n",
        "// a plain comment\n//! too late\n",
        "/// an item doc\nfn f() {}\n",
        "#![allow(dead_code)]\nfn f() {}\n",
        "#![doc(html_root_url = \"x\")]\nfn f() {}\n",
    ] {
        assert!(!opens_with_module_doc(missing), "{missing:?}");
    }
    for present in [
        "//! What this holds.\n",
        "\n\n//! After blank lines.\n",
        "#![doc = include_str!(\"../README.md\")]\n#![forbid(unsafe_code)]\n",
        "#![cfg_attr(\n    docsrs,\n    feature(doc_cfg)\n)]\n#![allow(x, reason = \"a ] b\")]\n\n//! Doc.\n",
    ] {
        assert!(opens_with_module_doc(present), "{present:?}");
    }
}

// --- (b) no string payloads in error enums

/// The string types an error variant may not carry (`String`, `&str`, `&'static str`,
/// `Box<str>`, `Cow<'_, str>`, also inside `Option<..>` and the like).
fn mentions_a_string(ty: &str) -> bool {
    words(ty).any(|w| w == "String" || w == "str")
}

/// The attributes written before the item whose keyword starts at `at` (visibility skipped),
/// as their masked inner text.
fn attributes_before(code: &str, at: usize) -> Vec<&str> {
    let mut end = code[..at].trim_end().len();
    if code[..end].ends_with(')')
        && let Some(open) = opening(code, end - 1)
        && code[..open].trim_end().ends_with("pub")
    {
        end = code[..open].trim_end().len() - "pub".len();
    } else if code[..end].ends_with("pub") && is_word_at(code, end - "pub".len(), "pub") {
        end -= "pub".len();
    }
    let mut attributes = Vec::new();
    loop {
        end = code[..end].trim_end().len();
        if !code[..end].ends_with(']') {
            break;
        }
        let Some(open) = opening(code, end - 1) else {
            break;
        };
        if !code[..open].ends_with('#') {
            break;
        }
        attributes.push(&code[open + 1..end - 1]);
        end = open - 1;
    }
    attributes
}

/// Every field of an error enum's variant whose type is a string: in each `enum` named `Error`
/// or `...Error` or `...Reason`, or deriving `Error` (`thiserror::Error`).
fn string_payloads_in_error_enums(text: &str) -> Vec<Finding> {
    let code = without_attributes(&mask(text));
    let attributes_code = mask(text);
    let mut found = Vec::new();
    for (at, _) in code.match_indices("enum") {
        if !is_word_at(&code, at, "enum") {
            continue;
        }
        let name = leading_ident(&code[at + "enum".len()..]);
        let derives_error = attributes_before(&attributes_code, at)
            .iter()
            .any(|a| a.trim_start().starts_with("derive") && words(a).any(|w| w == "Error"));
        let error_named = name == "Error" || name.ends_with("Error") || name.ends_with("Reason");
        if name.is_empty() || !(error_named || derives_error) {
            continue;
        }
        let Some(open) = code[at..].find('{').map(|o| at + o) else {
            continue;
        };
        let Some(close) = closing(&code, open) else {
            continue;
        };
        for (start, end) in split_list(&code, open + 1, close, false) {
            let variant = leading_ident(&code[start..end]);
            let Some(fields) = code[start..end].find(['(', '{']).map(|f| start + f) else {
                continue;
            };
            let Some(fields_end) = closing(&code, fields) else {
                continue;
            };
            let named = code[fields..].starts_with('{');
            for (field, field_end) in split_list(&code, fields + 1, fields_end, true) {
                let (label, ty) = match code[field..field_end].split_once(':') {
                    Some((label, ty)) if named => (format!("field `{}`", label.trim()), ty),
                    _ => ("a field".to_owned(), &code[field..field_end]),
                };
                let ty = ty.split_whitespace().collect::<Vec<_>>().join(" ");
                if mentions_a_string(&ty) {
                    let indent = code[field..].len() - code[field..].trim_start().len();
                    let line = line_of(&code, field + indent);
                    found.push((line, format!("`{name}::{variant}`: {label} is `{ty}`")));
                }
            }
        }
    }
    found
}

#[test]
fn no_error_enum_carries_a_string() {
    let violations = check_files(&crate_sources(&[]), string_payloads_in_error_enums);
    assert_clean(
        "error enums carrying strings (carry data: an enum, a number, a boxed source)",
        &violations,
    );
}

#[test]
fn a_string_in_an_error_variant_is_caught() {
    let sample = r#"
/// Doc mentioning String.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fine.
    #[error("storage error: {0}")]
    Storage(#[source] BoxError),
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: InvalidReason,
    },
    #[error(
        "a multi-line message, String"
    )]
    Other(u8, String),
}

pub(crate) enum ParseReason<'a> { Text(Cow<'a, str>), Boxed { what: Box<str> } }

#[derive(Debug, Error)]
enum Failure { Named { kid: Option<String> }, Count(HashMap<u8, u8>) }

/// Not an error: strings are fine here.
pub enum Event { Login(String) }
enum Kind { A = 1 << 2, B }
"#;
    let found = string_payloads_in_error_enums(sample);
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [11, 17, 20, 20, 23], "{found:#?}");
    assert!(
        found[0]
            .1
            .starts_with("`Error::Invalid`: field `field` is `&'static str`")
    );
    assert!(
        found[1]
            .1
            .starts_with("`Error::Other`: a field is `String`")
    );
    assert!(found[3].1.contains("field `what` is `Box<str>`"));
    assert!(
        found[4]
            .1
            .starts_with("`Failure::Named`: field `kid` is `Option<String>`")
    );
    assert!(string_payloads_in_error_enums("pub enum Error { Io(std::io::Error) }").is_empty());
}

// --- (c) no sea-orm in public signatures outside testudo-db

/// Names that are sea-orm's, or the entities' (`Model`, `ActiveModel`).
const SEA_ORM_NAMES: [&str; 7] = [
    "DatabaseConnection",
    "DatabaseTransaction",
    "DbErr",
    "MigratorTrait",
    "ConnectOptions",
    "Model",
    "ActiveModel",
];

/// Every line of a `pub fn` / `pub async fn` signature (from `pub` to its `{` or `;`) that
/// names sea-orm (`sea_orm::` or one of [`SEA_ORM_NAMES`]); `pub(crate)` and `pub(super)`
/// functions are not public.
fn sea_orm_in_public_signatures(text: &str) -> Vec<Finding> {
    let code = without_attributes(&mask(text));
    let mut found = Vec::new();
    for (at, _) in code.match_indices("pub") {
        if !is_word_at(&code, at, "pub") {
            continue;
        }
        let mut rest = code[at + "pub".len()..].trim_start();
        if !code[at + "pub".len()..].starts_with(char::is_whitespace) {
            continue;
        }
        loop {
            let word = leading_ident(rest);
            if !matches!(word, "const" | "async" | "unsafe" | "extern") {
                break;
            }
            rest = rest[word.len()..].trim_start();
            // The ABI string of `extern "C"` (masked to empty quotes).
            if let Some(abi) = rest.strip_prefix('"') {
                rest = abi
                    .split_once('"')
                    .map_or(abi, |(_, after)| after)
                    .trim_start();
            }
        }
        if leading_ident(rest) != "fn" {
            continue;
        }
        let name = leading_ident(&rest["fn".len()..]);
        let start = at;
        let end = code[start..]
            .find(['{', ';'])
            .map_or(code.len(), |e| start + e);
        let mut line_start = start;
        for line in code[start..end].split_inclusive('\n') {
            let mut named: Vec<&str> = words(line).filter(|w| SEA_ORM_NAMES.contains(w)).collect();
            if line.contains("sea_orm::") {
                named.insert(0, "sea_orm::");
            }
            named.dedup();
            if !named.is_empty() {
                found.push((
                    line_of(&code, line_start),
                    format!("`pub fn {name}` shows {}", named.join(", ")),
                ));
            }
            line_start += line.len();
        }
    }
    found
}

#[test]
fn no_public_signature_outside_testudo_db_shows_sea_orm() {
    let files = crate_sources(&["testudo-db", "testudo-test-support"]);
    let violations = check_files(&files, sea_orm_in_public_signatures);
    assert_clean(
        "sea-orm in public signatures (keep it inside testudo-db)",
        &violations,
    );
}

#[test]
fn sea_orm_in_a_public_signature_is_caught() {
    let sample = r#"use sea_orm::DatabaseConnection;

impl Store {
    /// Takes a `DatabaseConnection` (in a doc comment: fine).
    pub fn new(db: DatabaseConnection) -> Self {
        let _ = "sea_orm::DbErr";
        Self { db }
    }

    pub async fn find(
        &self,
        id: i64,
    ) -> Result<Option<entity::Model>, sea_orm::DbErr> {
        Ok(None)
    }

    pub(crate) fn connection(&self) -> &DatabaseConnection { &self.db }
    pub(super) fn tx(&self) -> DatabaseTransaction;
    fn private(db: DbErr) {}
    pub fn fine(&self, model_id: u64) -> UserModel { self.user(model_id) }
}

pub const unsafe fn raw(options: ConnectOptions) {}
"#;
    let found = sea_orm_in_public_signatures(sample);
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [5, 13, 23], "{found:#?}");
    assert!(
        found[0]
            .1
            .starts_with("`pub fn new` shows DatabaseConnection")
    );
    assert!(
        found[1]
            .1
            .starts_with("`pub fn find` shows sea_orm::, Model, DbErr")
    );
    assert!(found[2].1.starts_with("`pub fn raw` shows ConnectOptions"));
}
