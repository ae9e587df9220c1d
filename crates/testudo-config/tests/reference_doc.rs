//! `docs/configuration.md` cannot drift from `AuthConfig`.
//!
//! The fields are enumerated from the code twice, from serde's list of the fields
//! `AuthConfig`'s `Deserialize` accepts (so a field added to the struct counts even if nobody
//! added it to [`Setting`]) and from [`Setting::ALL`], and the two must agree. Each field must
//! then have exactly one row in the reference tables of the document, whose TOML key,
//! environment variable, default and origin are checked against the code: the documented default
//! is parsed as the field's TOML value and must give exactly `AuthConfig::default()`, and, given
//! as the environment variable, must give it too. The document's TOML and shell examples are
//! loaded as well (its Rust example is a doctest of the crate).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use testudo_config::{AuthConfig, EnvReason, Error, Setting};
use testudo_test_support::TestResult;

const BEGIN: &str = "<!-- reference:begin -->";
const END: &str = "<!-- reference:end -->";
/// The default of a field the doc writes as "number of CPUs".
const CPUS: &str = "number of CPUs";
/// What the environment cell of a setting `from_env` refuses says.
const NOT_READ: &str = "not read";

fn repo_file(relative: &str) -> TestResult<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn doc() -> TestResult<String> {
    repo_file("../../docs/configuration.md")
}

/// One row of a reference table.
#[derive(Debug, Clone)]
struct Row {
    line: usize,
    field: String,
    env: String,
    default: String,
    from: String,
}

/// The text between the first pair of backticks of `cell`, or `None`.
fn code(cell: &str) -> Option<&str> {
    let (_, rest) = cell.split_once('`')?;
    Some(rest.split_once('`')?.0)
}

/// The rows of the tables between the reference markers, skipping headers and rules.
fn rows(doc: &str) -> TestResult<Vec<Row>> {
    let start = doc.find(BEGIN).ok_or("no reference:begin marker")?;
    let end = doc.find(END).ok_or("no reference:end marker")?;
    let before = doc.get(..start).ok_or("marker offset")?.lines().count();
    let section = doc.get(start..end).ok_or("markers out of order")?;
    let mut rows = Vec::new();
    for (i, line) in section.lines().enumerate() {
        let line_no = before + i + 1;
        let Some(inner) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = inner
            .trim_end_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let [field, env, _ty, default, from, _what] = cells.as_slice() else {
            return Err(format!("line {line_no}: expected 6 cells, got {}", cells.len()).into());
        };
        if *field == "Field" || field.starts_with("---") {
            continue;
        }
        let name = code(field).ok_or(format!("line {line_no}: field not in backticks"))?;
        rows.push(Row {
            line: line_no,
            field: name.to_owned(),
            env: (*env).to_owned(),
            default: (*default).to_owned(),
            from: (*from).to_owned(),
        });
    }
    Ok(rows)
}

/// A deserializer that only records the field list `deserialize_struct` is given.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self
    }
}

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Stop> {
        *self.0 = fields;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The fields `AuthConfig`'s `Deserialize` knows, in declaration order.
fn serde_fields() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = AuthConfig::deserialize(FieldNames(&mut fields));
    fields
}

/// The documented default as a TOML value.
fn toml_value(default: &str) -> TestResult<String> {
    if default == CPUS {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        return Ok(cpus.to_string());
    }
    let value = code(default).ok_or(format!("default {default:?} is not in backticks"))?;
    Ok(if value == "unset" {
        "\"\"".to_owned()
    } else {
        value.to_owned()
    })
}

/// The same value as an environment variable's text.
fn env_value(toml: &str) -> String {
    match toml {
        "[]" => String::new(),
        quoted if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
            quoted[1..quoted.len() - 1].to_owned()
        }
        other => other.to_owned(),
    }
}

/// The fields of `AuthConfig` whose documentation starts with `*testudo*` (testudo's own).
fn testudo_own_fields() -> TestResult<BTreeSet<String>> {
    let source = repo_file("src/config.rs")?;
    let body = source
        .split_once("pub struct AuthConfig {")
        .ok_or("no AuthConfig in config.rs")?
        .1;
    let body = body.split_once("\n}").ok_or("AuthConfig not closed")?.0;
    let mut own = BTreeSet::new();
    let mut doc_start: Option<String> = None;
    for line in body.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc_start.get_or_insert_with(|| text.trim().to_owned());
        } else if let Some(decl) = line.strip_prefix("pub ") {
            let name = decl.split_once(':').ok_or("field without type")?.0;
            if doc_start.take().is_some_and(|d| d.starts_with("*testudo*")) {
                own.insert(name.to_owned());
            }
        }
    }
    Ok(own)
}

fn debug(config: &AuthConfig) -> String {
    format!("{config:?}")
}

/// The lines of `{:#?}` where `config` differs from the defaults: `documented ... / code ...`.
fn difference(config: &AuthConfig) -> String {
    let documented = format!("{config:#?}");
    let code = format!("{:#?}", AuthConfig::default());
    documented
        .lines()
        .zip(code.lines())
        .filter(|(d, c)| d != c)
        .map(|(d, c)| format!("documented `{}`, code `{}`", d.trim(), c.trim()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn serde_and_setting_list_the_same_fields_in_the_same_order() {
    let from_setting: Vec<&str> = Setting::ALL.iter().map(|s| s.as_str()).collect();
    let from_serde = serde_fields();
    assert!(!from_serde.is_empty(), "no field list from serde");
    assert_eq!(
        from_serde,
        from_setting.as_slice(),
        "AuthConfig's fields and Setting::ALL differ: add the new field to `settings!`"
    );
}

/// Fields missing from the doc, documented twice, or documented but not in the code.
fn listing_problems(doc: &str) -> TestResult<Vec<String>> {
    let rows = rows(doc)?;
    let fields: BTreeSet<&str> = serde_fields()
        .iter()
        .copied()
        .chain(Setting::ALL.iter().map(|s| s.as_str()))
        .collect();
    let mut seen = BTreeMap::new();
    let mut problems = Vec::new();
    for row in &rows {
        if let Some(first) = seen.insert(row.field.as_str(), row.line) {
            problems.push(format!(
                "line {}: `{}` documented again (first on line {first})",
                row.line, row.field
            ));
        }
        if !fields.contains(row.field.as_str()) {
            problems.push(format!(
                "line {}: `{}` is not a field of AuthConfig",
                row.line, row.field
            ));
        }
    }
    for field in &fields {
        if !seen.contains_key(field) {
            problems.push(format!(
                "`{field}` is a field of AuthConfig but has no row in docs/configuration.md"
            ));
        }
    }
    Ok(problems)
}

/// Environment variables other than the code's, or not read the way the doc says.
fn env_problems(doc: &str) -> TestResult<Vec<String>> {
    let rows = rows(doc)?;
    let default = debug(&AuthConfig::default());
    let mut problems = Vec::new();
    for setting in Setting::ALL {
        let Some(row) = rows.iter().find(|r| r.field == setting.as_str()) else {
            continue; // reported by the completeness test
        };
        let var = setting.env_var();
        if code(&row.env) != Some(var) {
            problems.push(format!(
                "line {}: `{setting}` environment is {:?}, the code reads `{var}`",
                row.line, row.env
            ));
            continue;
        }
        let value = env_value(&toml_value(&row.default)?);
        let result = AuthConfig::default().with_env_vars([(var, value.as_str())]);
        match (row.env.contains(NOT_READ), result) {
            (
                true,
                Err(Error::Env {
                    setting: s,
                    reason: EnvReason::NotFromEnvironment,
                }),
            ) if s == *setting => {}
            (true, other) => problems.push(format!(
                "line {}: `{var}` documented as not read, but gives {other:?}",
                row.line
            )),
            (false, Ok(config)) if debug(&config) == default => {}
            (false, Ok(config)) => problems.push(format!(
                "line {}: `{var}={value}` (the documented default) is not \
                 AuthConfig::default(): {}",
                row.line,
                difference(&config)
            )),
            (false, Err(e)) => problems.push(format!(
                "line {}: `{var}={value}` (the documented default) is refused: {e}",
                row.line
            )),
        }
    }
    Ok(problems)
}

/// Documented defaults (as TOML under the documented key) that are not `AuthConfig::default()`.
fn default_problems(doc: &str) -> TestResult<Vec<String>> {
    let rows = rows(doc)?;
    let default = debug(&AuthConfig::default());
    let mut problems = Vec::new();
    for row in &rows {
        let value = toml_value(&row.default)?;
        // The TOML key is the field's name; a key that is no field is refused by
        // `deny_unknown_fields`, a wrong value gives another configuration.
        let text = format!("{} = {value}", row.field);
        match AuthConfig::from_toml_str(&text) {
            Ok(config) if debug(&config) == default => {}
            Ok(config) => problems.push(format!(
                "line {}: `{text}` (the documented default) is not AuthConfig::default(): {}",
                row.line,
                difference(&config)
            )),
            Err(e) => problems.push(format!("line {}: `{text}` is refused: {e}", row.line)),
        }
    }
    Ok(problems)
}

/// Origins that disagree with the `*testudo*` marks of the field docs.
fn origin_problems(doc: &str) -> TestResult<Vec<String>> {
    let rows = rows(doc)?;
    let own = testudo_own_fields()?;
    assert!(
        own.contains("api_key_prefix") && !own.contains("token_length"),
        "reading the field docs of config.rs went wrong: {own:?}"
    );
    let mut problems = Vec::new();
    for row in &rows {
        let expected = if own.contains(&row.field) {
            "testudo"
        } else {
            "tortoise-auth"
        };
        if row.from != expected {
            problems.push(format!(
                "line {}: `{}` is from {:?}, its field doc says {expected}",
                row.line, row.field, row.from
            ));
        }
    }
    Ok(problems)
}

/// The fenced blocks of `lang` in the document.
fn blocks<'a>(doc: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    doc.split(fence.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .collect()
}

#[test]
fn the_toml_example_loads() -> TestResult {
    let doc = doc()?;
    let examples = blocks(&doc, "toml");
    assert!(!examples.is_empty(), "no TOML example");
    for example in examples {
        let config = AuthConfig::from_toml_str(example)?;
        assert_ne!(debug(&config), debug(&AuthConfig::default()));
    }
    Ok(())
}

#[test]
fn the_shell_example_loads() -> TestResult {
    let doc = doc()?;
    let examples = blocks(&doc, "sh");
    assert!(!examples.is_empty(), "no shell example");
    for example in examples {
        let mut vars = Vec::new();
        for line in example.lines().filter(|l| !l.trim().is_empty()) {
            let assignment = line.trim().strip_prefix("export ").unwrap_or(line.trim());
            let (key, value) = assignment
                .split_once('=')
                .ok_or(format!("not an assignment: {line}"))?;
            assert!(
                key.starts_with("TESTUDO_"),
                "{key} is not a testudo variable"
            );
            vars.push((key.to_owned(), value.to_owned()));
        }
        let count = vars.len();
        let config = AuthConfig::default().with_env_vars(vars)?;
        assert!(count > 0);
        assert_ne!(debug(&config), debug(&AuthConfig::default()));
    }
    Ok(())
}

fn assert_none(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_field_is_documented_once_and_every_row_is_a_field() -> TestResult {
    assert_none(&listing_problems(&doc()?)?);
    Ok(())
}

#[test]
fn environment_variables_are_the_codes_and_are_read_as_documented() -> TestResult {
    assert_none(&env_problems(&doc()?)?);
    Ok(())
}

#[test]
fn documented_defaults_are_the_codes() -> TestResult {
    assert_none(&default_problems(&doc()?)?);
    Ok(())
}

#[test]
fn origins_follow_the_field_docs() -> TestResult {
    assert_none(&origin_problems(&doc()?)?);
    Ok(())
}

/// `doc` with `from` replaced by `to`, which must occur in it.
fn edited(doc: &str, from: &str, to: &str) -> String {
    assert!(
        doc.contains(from),
        "{from:?} is not in the doc: update this test"
    );
    doc.replacen(from, to, 1)
}

const TOKEN_LENGTH_ROW: &str =
    "| `token_length` | `TESTUDO_TOKEN_LENGTH` | `usize` (characters) | `64` | tortoise-auth |";

#[test]
fn each_kind_of_drift_is_caught() -> TestResult {
    // The checks above are only worth something if they can fail.
    let doc = doc()?;
    let drifted = |to: &str| edited(&doc, TOKEN_LENGTH_ROW, to);

    let removed = drifted("");
    let problems = listing_problems(&removed)?;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`token_length` is a field")),
        "{problems:?}"
    );

    let twice = drifted(&format!("{TOKEN_LENGTH_ROW} again |\n{TOKEN_LENGTH_ROW}"));
    assert!(
        listing_problems(&twice)?
            .iter()
            .any(|p| p.contains("documented again"))
    );

    let renamed = drifted(
        "| `token_len` | `TESTUDO_TOKEN_LEN` | `usize` (characters) | `64` | tortoise-auth |",
    );
    let problems = listing_problems(&renamed)?;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`token_len` is not a field")),
        "{problems:?}"
    );
    assert!(
        default_problems(&renamed)?
            .iter()
            .any(|p| p.contains("refused"))
    );

    let wrong_default = drifted(
        "| `token_length` | `TESTUDO_TOKEN_LENGTH` | `usize` (characters) | `63` | tortoise-auth |",
    );
    assert_eq!(
        default_problems(&wrong_default)?.len(),
        default_problems(&doc)?.len() + 1
    );
    assert_eq!(
        env_problems(&wrong_default)?.len(),
        env_problems(&doc)?.len() + 1
    );
    let problems = default_problems(&wrong_default)?;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("documented `token_length: 63,`, code `token_length: 64,`")),
        "{problems:?}"
    );

    let wrong_env = drifted(
        "| `token_length` | `TESTUDO_TOKENS_LENGTH` | `usize` (characters) | `64` | tortoise-auth |",
    );
    assert_eq!(
        env_problems(&wrong_env)?.len(),
        env_problems(&doc)?.len() + 1
    );

    let wrong_origin = drifted(
        "| `token_length` | `TESTUDO_TOKEN_LENGTH` | `usize` (characters) | `64` | testudo |",
    );
    assert_eq!(
        origin_problems(&wrong_origin)?.len(),
        origin_problems(&doc)?.len() + 1
    );

    // A setting documented as read from the environment when it is refused there.
    let validators = edited(
        &doc,
        "`TESTUDO_PASSWORD_VALIDATORS` (not read: TOML or code only)",
        "`TESTUDO_PASSWORD_VALIDATORS`",
    );
    assert_eq!(
        env_problems(&validators)?.len(),
        env_problems(&doc)?.len() + 1
    );

    // A default secret documented as set, and a wrong string default.
    let secret = edited(
        &doc,
        "| secret | `unset` | tortoise-auth | Key of signed",
        "| secret | `\"x\"` | tortoise-auth | Key of signed",
    );
    assert!(default_problems(&secret)?.len() > default_problems(&doc)?.len());
    let prefix = edited(&doc, "`\"tdo\"`", "`\"tdx\"`");
    assert_eq!(
        default_problems(&prefix)?.len(),
        default_problems(&doc)?.len() + 1
    );
    assert_eq!(env_problems(&prefix)?.len(), env_problems(&doc)?.len() + 1);
    Ok(())
}
