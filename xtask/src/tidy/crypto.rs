//! Rules for secrets (issue 17, "nothing leaked"): MACs, digests and token hashes are compared
//! through `subtle`, never with `==` / `!=`; the OS CSPRNG is the only source of randomness.

use std::path::PathBuf;

use super::source::{closing, is_ident_char, line_of, mask, opening};
use super::{assert_clean, crate_dirs, dependencies, read, relative, rust_files};
use crate::project_root;

/// A violation in one file: its 1-based line and what is wrong there.
type Finding = (usize, String);

/// The crates that handle MACs, digests, signatures or token hashes.
const CRYPTO_CRATES: [&str; 6] = [
    "testudo-core",
    "testudo-hashers",
    "testudo-signing",
    "testudo-tokens-db",
    "testudo-tokens-jwt",
    "testudo-service",
];

/// A comment on the line of a comparison that the rule must not flag (a false positive).
const ALLOW: &str = "tidy: not a secret";

/// `text` (masked) with every `#[cfg(test)]` item (a `mod tests { .. }` or a function)
/// blanked, so only code that ships is checked.
fn without_test_items(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let at = from + found;
        let Some(open) = out[at..].find(['{', ';']).map(|o| at + o) else {
            break;
        };
        let end = if out[open..].starts_with('{') {
            closing(&out, open).unwrap_or(out.len() - 1) + 1
        } else {
            open + 1
        };
        let blank: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blank);
        from = end;
    }
    out
}

/// Methods that only view the value they are called on (`mac.as_slice()` is still the MAC).
const VIEWS: [&str; 9] = [
    "as_bytes",
    "as_str",
    "as_ref",
    "as_slice",
    "as_deref",
    "to_vec",
    "to_owned",
    "to_string",
    "clone",
];

/// Whether an identifier names a MAC, digest, tag, hash or signature (`mac`, `token_hash`,
/// `expected_sig`, `DIGEST`, ...): one of its `_`-separated parts is such a word.
fn secret_like(ident: &str) -> bool {
    let lower = ident.to_ascii_lowercase();
    // A length or a count of one is no secret (`SIG_LEN`, `hash_len`).
    let measure = lower
        .split('_')
        .any(|p| matches!(p, "len" | "length" | "size" | "count" | "kind" | "format"));
    !measure
        && lower.split('_').any(|part| {
            matches!(
                part,
                "mac"
                    | "hmac"
                    | "digest"
                    | "tag"
                    | "hash"
                    | "hashes"
                    | "signature"
                    | "sig"
                    | "macs"
            )
        })
}

/// The last meaningful identifier of the operand ending at byte `end` (exclusive) of `code`:
/// view methods (`.as_bytes()`), indexing and derefs are skipped, so `row.hash.as_str()` is
/// `hash` and `sig.len()` is `len`.
fn operand_before(code: &str, end: usize) -> &str {
    let mut end = code[..end].trim_end().len();
    loop {
        let text = &code[..end];
        if text.ends_with(')') || text.ends_with(']') {
            let Some(open) = opening(code, end - 1) else {
                return "";
            };
            let before = code[..open].trim_end();
            let start = before
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_ident_char(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let name = &before[start..];
            if text.ends_with(']') || VIEWS.contains(&name) {
                // Skip `[..]` / `.view()` and look at what it was applied to.
                end = if text.ends_with(']') {
                    before.len()
                } else {
                    before[..start].trim_end().trim_end_matches('.').len()
                };
                continue;
            }
            return name;
        }
        let start = text
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_ident_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        return &text[start..];
    }
}

/// The last meaningful identifier of the operand starting at byte `start` of `code`: the
/// path / method chain up to an operator or the end of the expression.
fn operand_after(code: &str, start: usize) -> &str {
    let rest = &code[start..];
    let skipped = rest.len()
        - rest
            .trim_start_matches([' ', '\t', '\n', '&', '*', '('])
            .len();
    let mut at = start + skipped;
    let mut last = "";
    loop {
        let ident_end = code[at..]
            .find(|c: char| !is_ident_char(c))
            .map_or(code.len(), |e| at + e);
        let ident = &code[at..ident_end];
        if !ident.is_empty() && !VIEWS.contains(&ident) {
            last = ident;
        }
        let mut next = ident_end;
        // A call or an index: jump over its brackets.
        while code[next..].starts_with(['(', '[']) {
            next = closing(code, next).map_or(code.len(), |c| c + 1);
        }
        if code[next..].starts_with("::") {
            at = next + 2;
        } else if code[next..].starts_with('.') {
            at = next + 1;
        } else {
            return last;
        }
    }
}

/// Every `==` / `!=` whose left or right operand is named like a MAC, digest, tag, hash or
/// signature, in code that ships (test items skipped), unless its line says [`ALLOW`].
fn secret_comparisons(text: &str) -> Vec<Finding> {
    let code = without_test_items(&mask(text));
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, op) in code.match_indices("==").chain(code.match_indices("!=")) {
        // `<=`, `>=`, `=>` and `===` are not these operators.
        let before = code[..at].chars().next_back();
        if op == "==" && matches!(before, Some('=' | '!' | '<' | '>')) {
            continue;
        }
        if code[at + 2..].starts_with('=') {
            continue;
        }
        let line = line_of(&code, at);
        if lines.get(line - 1).is_some_and(|l| l.contains(ALLOW)) {
            continue;
        }
        let (left, right) = (operand_before(&code, at), operand_after(&code, at + 2));
        if let Some(name) = [left, right].into_iter().find(|n| secret_like(n)) {
            found.push((
                line,
                format!(
                    "`{name}` compared with `{op}`: use `subtle::ConstantTimeEq` (or add `// {ALLOW}`)"
                ),
            ));
        }
    }
    found.sort();
    found
}

/// The `.rs` files under `crates/<name>/src` of the crates named in `names`.
fn sources_of(names: &[&str]) -> Vec<PathBuf> {
    crate_dirs()
        .into_iter()
        .filter(|d| d.file_name().is_some_and(|n| names.iter().any(|c| n == *c)))
        .flat_map(|d| rust_files(&d.join("src")))
        .collect()
}

fn check(files: &[PathBuf], rule: impl Fn(&str) -> Vec<Finding>) -> Vec<String> {
    files
        .iter()
        .flat_map(|file| {
            let path = relative(file);
            rule(&read(file))
                .into_iter()
                .map(move |(line, what)| format!("{path}:{line}: {what}"))
        })
        .collect()
}

#[test]
fn macs_digests_and_token_hashes_are_never_compared_with_eq() {
    let files = sources_of(&CRYPTO_CRATES);
    assert!(files.len() > 10, "found the crypto crates' sources");
    assert_clean(
        "secret comparisons with == / !=",
        &check(&files, secret_comparisons),
    );
}

#[test]
fn a_mac_compared_with_eq_is_caught() {
    let sample = r#"//! Sample.
fn verify(mac: &[u8], expected_sig: &str, row: &Row, hash: &str) -> bool {
    if sig.len() != SIG_LEN { return false; }
    let a = mac == computed;
    let b = row.token_hash.as_str() != hash;
    let c = computed.as_slice() == expected_sig.as_bytes();
    let d = self.digest() == other;
    let e = format != HashFormat::Argon2;
    let f = h.hash.len() == HASH_LEN;
    let g = tag <= limit || x >= y;
    let h = stored_hash == input; // tidy: not a secret
    let i = "mac == mac";
    bool::from(mac.ct_eq(computed))
}

#[cfg(test)]
mod tests {
    fn t() { assert!(mac == other); }
}
"#;
    let found: Vec<usize> = secret_comparisons(sample)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(found, [4, 5, 6, 7]);
}

// --- the OS CSPRNG only

/// Names of non-OS random generators (or of the crates providing them) that must not appear
/// in code that ships.
const WEAK_RANDOMNESS: [&str; 12] = [
    "thread_rng",
    "ThreadRng",
    "SmallRng",
    "StdRng",
    "seed_from_u64",
    "from_seed",
    "fastrand",
    "oorandom",
    "nanorand",
    "rand_chacha",
    "rand_pcg",
    "rand_xoshiro",
];

/// Every line of code that ships naming a weak generator, or calling `rand::random` /
/// `rand::rng()` (the thread-local generator).
fn weak_randomness(text: &str) -> Vec<Finding> {
    let code = without_test_items(&mask(text));
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let words: Vec<&str> = line
            .split(|c: char| !is_ident_char(c))
            .filter(|w| !w.is_empty())
            .collect();
        let named: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| WEAK_RANDOMNESS.contains(w))
            .collect();
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if !named.is_empty() {
            found.push((
                n + 1,
                format!("{}: use getrandom (the OS CSPRNG)", named.join(", ")),
            ));
        } else if compact.contains("rand::random") || compact.contains("rand::rng()") {
            found.push((
                n + 1,
                "the thread-local generator: use getrandom".to_owned(),
            ));
        }
    }
    found
}

/// Crates providing non-OS generators, refused as (non-dev) dependencies of a shipping crate.
const WEAK_RANDOMNESS_CRATES: [&str; 7] = [
    "fastrand",
    "oorandom",
    "nanorand",
    "rand_chacha",
    "rand_pcg",
    "rand_xoshiro",
    "rand",
];

/// The runtime dependencies (not `[dev-dependencies]`) of `manifest`.
fn runtime_dependencies(manifest: &str) -> Vec<String> {
    let mut kept = String::new();
    let mut dev = false;
    for line in manifest.lines() {
        if let Some(table) = line.trim().strip_prefix('[') {
            dev = table.contains("dev-dependencies");
        }
        if !dev {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    dependencies(&kept)
}

#[test]
fn the_os_csprng_is_the_only_source_of_randomness() {
    let root = project_root();
    let mut files: Vec<PathBuf> = crate_dirs()
        .into_iter()
        .filter(|d| !d.ends_with("testudo-test-support"))
        .flat_map(|d| rust_files(&d.join("src")))
        .collect();
    files.extend(rust_files(&root.join("migrations/src")));
    assert!(files.len() > 20, "found the sources");
    let mut violations = check(&files, weak_randomness);
    for dir in crate_dirs() {
        let manifest = dir.join("Cargo.toml");
        for dep in runtime_dependencies(&read(&manifest)) {
            if WEAK_RANDOMNESS_CRATES.contains(&dep.as_str()) {
                violations.push(format!(
                    "{}: depends on `{dep}`: use getrandom (the OS CSPRNG)",
                    relative(&manifest)
                ));
            }
        }
    }
    assert_clean("randomness other than the OS CSPRNG", &violations);
}

#[test]
fn a_weak_random_generator_is_caught() {
    let sample = "//! Sample.\nfn f() {\n    let mut rng = rand::thread_rng();\n    \
                  let x: u8 = rand::random();\n    let s = StdRng::seed_from_u64(1);\n    \
                  let n = fastrand::u32(..);\n    let r = rand::rng();\n    \
                  getrandom::fill(&mut buf); // not thread_rng\n}\n\
                  #[cfg(test)]\nmod tests { fn t() { let _ = rand::thread_rng(); } }\n";
    let found: Vec<usize> = weak_randomness(sample)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(found, [3, 4, 5, 6, 7]);
    let manifest = "[package]\nname = \"x\"\n[dependencies]\ngetrandom = \"0.4\"\nrand = \"0.10\"\n\
                    [dev-dependencies]\nfastrand = \"2\"\n";
    assert_eq!(runtime_dependencies(manifest), ["getrandom", "rand"]);
}
