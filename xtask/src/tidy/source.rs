//! Just enough reading of Rust source for the tidy checks: comments and literal contents masked
//! out, brackets matched, lists split at their top-level commas. Not a parser: it assumes the
//! text compiles.

/// `text` with comments and the contents of string and char literals replaced by spaces
/// (newlines kept), so byte offsets and line numbers stay those of `text` and what is left is
/// code: brackets, identifiers, punctuation, empty quotes.
pub(super) fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let rest = &text[at..];
        let after_ident = text[..at].chars().next_back().is_some_and(is_ident_char);
        let end = if rest.starts_with("//") {
            let end = rest.find('\n').map_or(text.len(), |n| at + n);
            blank(&mut out, &text[at..end]);
            end
        } else if rest.starts_with("/*") {
            let end = block_comment_end(text, at);
            blank(&mut out, &text[at..end]);
            end
        } else if let Some((open, hashes)) = raw_string_open(rest).filter(|_| !after_ident) {
            // r"..", r#".."#, br"..": no escapes; ends at a quote and as many #.
            let close = format!("\"{}", "#".repeat(hashes));
            let body_end = rest[open..]
                .find(&close)
                .map_or(text.len(), |n| at + open + n);
            let end = (body_end + close.len()).min(text.len());
            out.push_str(&rest[..open]);
            blank(&mut out, &text[at + open..body_end]);
            out.push_str(&text[body_end..end]);
            end
        } else if c == '"' || (c == '\'' && is_char_literal(&rest[1..])) {
            out.push(c);
            match closing_quote(text, at + 1, c) {
                Some(close) => {
                    blank(&mut out, &text[at + 1..close]);
                    out.push(c);
                    close + 1
                }
                None => {
                    blank(&mut out, &text[at + 1..]);
                    text.len()
                }
            }
        } else {
            out.push(c);
            at + c.len_utf8()
        };
        at = end;
    }
    out
}

/// Pushes `text` as spaces (one per byte), keeping its newlines.
fn blank(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
}

/// The byte after the block comment opening at `start` (block comments nest).
fn block_comment_end(text: &str, start: usize) -> usize {
    let mut depth = 0usize;
    let mut at = start;
    while at < text.len() {
        let rest = &text[at..];
        if rest.starts_with("/*") {
            depth += 1;
            at += 2;
        } else if rest.starts_with("*/") {
            depth = depth.saturating_sub(1);
            at += 2;
            if depth == 0 {
                return at;
            }
        } else {
            at += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    text.len()
}

/// The length of a raw string's opening (`r"`, `r##"`, `br#"`) and its number of `#`, when
/// `rest` starts with one.
fn raw_string_open(rest: &str) -> Option<(usize, usize)> {
    let after_prefix = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'))?;
    let hashes = after_prefix.chars().take_while(|&c| c == '#').count();
    let prefix = rest.len() - after_prefix.len();
    after_prefix[hashes..]
        .starts_with('"')
        .then_some((prefix + hashes + 1, hashes))
}

/// Whether the text after a `'` is a char literal (`x'`, `\n'`, `\u{1F}'`), not a lifetime.
fn is_char_literal(after_quote: &str) -> bool {
    let mut chars = after_quote.chars();
    match chars.next() {
        Some('\\') => true,
        Some(_) => chars.next() == Some('\''),
        None => false,
    }
}

/// The byte of the `quote` closing the literal whose contents start at `start`, skipping
/// backslash escapes; `None` when the text ends first.
fn closing_quote(text: &str, start: usize, quote: char) -> Option<usize> {
    let mut chars = text[start..].char_indices();
    while let Some((offset, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return Some(start + offset);
        }
    }
    None
}

/// Whether `c` can be part of an identifier.
pub(super) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifiers and keywords of `code`.
pub(super) fn words(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !is_ident_char(c))
        .filter(|w| !w.is_empty())
}

/// The identifier `code` starts with (after whitespace), or `""`.
pub(super) fn leading_ident(code: &str) -> &str {
    let code = code.trim_start();
    let end = code.find(|c: char| !is_ident_char(c)).unwrap_or(code.len());
    &code[..end]
}

/// Whether the word `word` stands at byte `at` of `code` (not inside a longer identifier).
pub(super) fn is_word_at(code: &str, at: usize, word: &str) -> bool {
    code[at..].starts_with(word)
        && !code[..at].chars().next_back().is_some_and(is_ident_char)
        && !code[at + word.len()..]
            .chars()
            .next()
            .is_some_and(is_ident_char)
}

/// The 1-based line of byte `at`.
pub(super) fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// The byte of the bracket closing the one at `open` (`(`, `[` or `{`) in masked code.
pub(super) fn closing(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in code[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(open + at);
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte of the bracket opening the one at `close` (`)`, `]` or `}`) in masked code.
pub(super) fn opening(code: &str, close: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in code[..=close].char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte ranges of the items of the comma-separated list `code[start..end]` (masked code),
/// split at commas outside brackets and, with `angles`, outside `<...>` (generic arguments;
/// the `>` of `->` and `=>` does not count). Empty items are left out.
pub(super) fn split_list(
    code: &str,
    start: usize,
    end: usize,
    angles: bool,
) -> Vec<(usize, usize)> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut item_start = start;
    let mut previous = ' ';
    for (offset, c) in code[start..end].char_indices() {
        let at = start + offset;
        match c {
            '(' | '[' | '{' => depth += 1,
            '<' if angles => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '>' if angles && previous != '-' && previous != '=' => {
                depth = depth.saturating_sub(1);
            }
            ',' if depth == 0 => {
                items.push((item_start, at));
                item_start = at + 1;
            }
            _ => {}
        }
        previous = c;
    }
    items.push((item_start, end));
    items.retain(|&(s, e)| !code[s..e].trim().is_empty());
    items
}

/// `code` with every attribute (`#[...]`, `#![...]`) replaced by spaces.
pub(super) fn without_attributes(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find('#') {
        let hash = from + found;
        let bang = usize::from(out[hash + 1..].starts_with('!'));
        let open = hash + 1 + bang;
        if out[open..].starts_with('[')
            && let Some(close) = closing(&out, open)
        {
            let blanked: String = out[hash..=close]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            out.replace_range(hash..=close, &blanked);
            from = close + 1;
        } else {
            from = hash + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_blanks_comments_and_literals_but_keeps_offsets() {
        let text = "let a = \"x // \\\" y\"; // c\n/* b /* n */ */ let d = '\"'; \
                    let e: &'static str = r#\"q\"#; b'x';\n";
        let code = mask(text);
        assert_eq!(
            code,
            "let a = \"         \";     \n                let d = ' '; \
             let e: &'static str = r#\" \"#; b' ';\n"
        );
        assert_eq!(code.len(), text.len());
        // Multi-byte characters become as many spaces as they have bytes.
        assert_eq!(mask("'é' \"ü\" ü"), "'  ' \"  \" ü");
    }

    #[test]
    fn lists_split_at_top_level_commas_only() {
        let code = "a: HashMap<String, u8>, b: (u8, u8), c: Box<dyn Fn(u8) -> u8>, ";
        let items: Vec<&str> = split_list(code, 0, code.len(), true)
            .into_iter()
            .map(|(s, e)| code[s..e].trim())
            .collect();
        assert_eq!(
            items,
            [
                "a: HashMap<String, u8>",
                "b: (u8, u8)",
                "c: Box<dyn Fn(u8) -> u8>"
            ]
        );
        assert_eq!(
            without_attributes("#[error(x)] #![allow(y)]\n A,"),
            format!("{} {}\n A,", " ".repeat(11), " ".repeat(12))
        );
    }
}
