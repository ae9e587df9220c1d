//! The few Python string semantics tortoise-auth's validators depend on.
//!
//! The tables come from Python 3.11 (Unicode 14.0), the interpreter the conformance vectors were
//! produced with; `tools/gen_digits.py` regenerates them.

use crate::tables::{DIGITS, UNASSIGNED};

fn in_ranges(table: &[(char, char)], c: char) -> bool {
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Python's `c.isdigit()` for one character: Unicode `Numeric_Type` Digit or Decimal.
///
/// ```
/// use testudo_validators::python::is_digit_char;
///
/// assert!(is_digit_char('7') && is_digit_char('²') && is_digit_char('①') && is_digit_char('１'));
/// assert!(!is_digit_char('½') && !is_digit_char('Ⅻ') && !is_digit_char('a'));
/// ```
#[must_use]
pub fn is_digit_char(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && in_ranges(&DIGITS, c))
}

/// Python's `s.isdigit()`: true when `s` is non-empty and every character is a digit
/// (see [`is_digit_char`]).
///
/// ```
/// use testudo_validators::python::is_digit;
///
/// assert!(is_digit("٣١٤") && is_digit("１２"));
/// assert!(!is_digit("") && !is_digit("12a") && !is_digit("½"));
/// ```
#[must_use]
pub fn is_digit(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_digit_char)
}

/// Python's `c.isspace()`, used when trimming the lines of a password list.
#[must_use]
pub fn is_space(c: char) -> bool {
    // Python counts the information separators U+001C..U+001F as white space; Unicode does not.
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `s.strip()`: removes leading and trailing [`is_space`] characters.
#[must_use]
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `s.lower()`: full Unicode lower-casing, final sigma included, as of Unicode 14.
///
/// Rust's [`str::to_lowercase`] implements the same algorithm with newer Unicode data; characters
/// that were unassigned in Unicode 14 are left unchanged here (as Python 3.11 does) and, like
/// Python, they break the final-sigma context.
///
/// ```
/// use testudo_validators::python::lower;
///
/// assert_eq!(lower("PassWORD"), "password");
/// assert_eq!(lower("ΟΔΟΣ ΑΣ"), "οδος ας");
/// assert_eq!(lower("İ"), "i\u{307}");
/// ```
#[must_use]
pub fn lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((i, c)) = rest
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() && in_ranges(&UNASSIGNED, c))
    {
        out.push_str(&rest[..i].to_lowercase());
        out.push(c);
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(&rest.to_lowercase());
    out
}

/// The number of characters (code points) in `s`, as Python's `len`.
#[must_use]
pub fn len(s: &str) -> usize {
    s.chars().count()
}

/// Python's `difflib.SequenceMatcher(None, a, b).quick_ratio()`.
///
/// `2 * M / (len a + len b)` over code points, where `M` is the size of the multiset
/// intersection of the two strings' characters (order is ignored), computed in double precision
/// exactly as Python does; `1.0` when both strings are empty.
///
/// ```
/// use testudo_validators::python::quick_ratio;
///
/// assert_eq!(quick_ratio("ecila", "alice"), 1.0);
/// assert_eq!(quick_ratio("ab", "abcdef"), 0.5);
/// assert_eq!(quick_ratio("", ""), 1.0);
/// ```
#[must_use]
pub fn quick_ratio(a: &str, b: &str) -> f64 {
    // Counts of `b`'s characters: an array for ASCII, a sorted list for the rest (no hashing,
    // so a 4096-character password costs a few microseconds).
    if a.is_ascii() && b.is_ascii() {
        return quick_ratio_ascii(a.as_bytes(), b.as_bytes());
    }
    let mut ascii = [0usize; 128];
    let mut other: Vec<(char, usize)> = Vec::new();
    let mut lb = 0usize;
    for c in b.chars() {
        lb += 1;
        if c.is_ascii() {
            ascii[usize::from(c as u8)] += 1;
        } else {
            other.push((c, 1));
        }
    }
    other.sort_unstable_by_key(|&(c, _)| c);
    other.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 += 1;
            true
        } else {
            false
        }
    });
    let mut la = 0usize;
    let mut matches = 0usize;
    for c in a.chars() {
        la += 1;
        let slot = if c.is_ascii() {
            Some(&mut ascii[usize::from(c as u8)])
        } else {
            other
                .binary_search_by_key(&c, |&(k, _)| k)
                .ok()
                .and_then(|i| other.get_mut(i))
                .map(|(_, n)| n)
        };
        if let Some(n) = slot
            && *n > 0
        {
            *n -= 1;
            matches += 1;
        }
    }
    ratio(matches, la + lb)
}

/// [`quick_ratio`] for ASCII strings (one byte per character).
fn quick_ratio_ascii(a: &[u8], b: &[u8]) -> f64 {
    let mut counts = [0usize; 128];
    for &c in b {
        counts[usize::from(c & 0x7f)] += 1;
    }
    let mut matches = 0usize;
    for &c in a {
        let n = &mut counts[usize::from(c & 0x7f)];
        if *n > 0 {
            *n -= 1;
            matches += 1;
        }
    }
    ratio(matches, a.len() + b.len())
}

/// `2.0 * matches / length` as difflib's `_calculate_ratio`, `1.0` for an empty pair.
fn ratio(matches: usize, length: usize) -> f64 {
    if length == 0 {
        1.0
    } else {
        #[expect(
            clippy::cast_precision_loss,
            reason = "string lengths are far below 2^53, so the conversion is exact, as in Python"
        )]
        let (m, length) = (matches as f64, length as f64);
        2.0 * m / length
    }
}

/// The Unicode version the Python semantics here follow.
#[must_use]
pub fn unicode_version() -> &'static str {
    crate::tables::UNICODE_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isdigit_matches_python_for_the_documented_examples() {
        for s in ["0123", "²", "①", "٣", "１", "३"] {
            assert!(is_digit(s), "{s}");
        }
        for s in ["", "½", "Ⅻ", "12a", " 1", "一"] {
            assert!(!is_digit(s), "{s}");
        }
    }

    #[test]
    fn lower_follows_python_311() {
        assert_eq!(lower("ΑΣ"), "ας");
        assert_eq!(lower("ΑΣ Α"), "ας α");
        assert_eq!(lower("Σ"), "σ");
        assert_eq!(lower("ÉLODIE"), "élodie");
        // U+A7CB (Unicode 16) and U+1C89 (Unicode 16): unassigned in Python 3.11, kept as is.
        assert_eq!(lower("\u{a7cb}A"), "\u{a7cb}a");
        assert_eq!(lower("\u{1c89}"), "\u{1c89}");
        // An unassigned character breaks the final-sigma context as in Python.
        assert_eq!(lower("ΑΣ\u{a7cb}"), "ας\u{a7cb}");
        assert_eq!(lower("Α\u{378}Σ"), "α\u{378}σ");
    }

    #[test]
    fn strip_counts_information_separators_as_space() {
        assert_eq!(strip("\u{1c} pw \u{a0}\t"), "pw");
    }

    #[test]
    fn quick_ratio_counts_a_multiset_intersection() {
        assert_eq!(quick_ratio("aab", "ab"), 2.0 * 2.0 / 5.0);
        assert_eq!(quick_ratio("x", ""), 0.0);
        assert_eq!(quick_ratio("ééa", "éxé"), 2.0 * 2.0 / 6.0);
        assert_eq!(quick_ratio("éé", "é"), 2.0 / 3.0);
        assert_eq!(quick_ratio("🔐aé", "éa🔐🔐Ж"), 2.0 * 3.0 / 8.0);
    }

    fn naive_ratio(a: &str, b: &str) -> f64 {
        let mut rest: Vec<char> = b.chars().collect();
        let mut m = 0usize;
        for c in a.chars() {
            if let Some(i) = rest.iter().position(|&r| r == c) {
                rest.swap_remove(i);
                m += 1;
            }
        }
        let length = len(a) + len(b);
        #[expect(clippy::cast_precision_loss, reason = "small test lengths")]
        let (m, length) = (m as f64, length as f64);
        if length == 0.0 { 1.0 } else { 2.0 * m / length }
    }

    #[test]
    fn quick_ratio_agrees_with_a_naive_multiset_count() {
        let samples = [
            "",
            "a",
            "abcabc",
            "ΑΣας",
            "ééé",
            "жЖжж",
            "🔐🔐x",
            "john.smith",
            "e\u{301}e",
            "a@b@c",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    quick_ratio(a, b).to_bits(),
                    naive_ratio(a, b).to_bits(),
                    "{a} {b}"
                );
            }
        }
    }
}
