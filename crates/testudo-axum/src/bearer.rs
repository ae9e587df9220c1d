//! `Authorization: Bearer` parsing (RFC 6750, section 2.1).

use axum::http::{HeaderMap, header};

use crate::Error;

/// Longest bearer token accepted, in bytes (testudo's tokens are far shorter; a JWT with many
/// claims stays well under it). Longer ones are refused before any work.
pub const MAX_BEARER_LEN: usize = 8 * 1024;

/// The bearer token of `headers`: `None` without an `Authorization` header.
///
/// The scheme is matched case-insensitively, followed by exactly one space and one `b64token`
/// (`[A-Za-z0-9-._~+/]+` then `=`*), as RFC 6750 says.
///
/// # Errors
///
/// [`Error::MalformedAuthorization`] for anything else: another scheme, no token, extra
/// spaces or a second token, characters outside `b64token`, a token over [`MAX_BEARER_LEN`],
/// or more than one `Authorization` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::MalformedAuthorization);
    }
    let value = value.to_str().map_err(|_| Error::MalformedAuthorization)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::MalformedAuthorization)?;
    if !scheme.eq_ignore_ascii_case("bearer") || !is_b64token(token) {
        return Err(Error::MalformedAuthorization);
    }
    Ok(Some(token))
}

/// Whether `token` is a `b64token` of at most [`MAX_BEARER_LEN`] bytes.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    token.len() <= MAX_BEARER_LEN
        && !body.is_empty()
        && body.bytes().all(|b| B64TOKEN[usize::from(b)])
}

/// The bytes of a `b64token` before its `=` padding: `[A-Za-z0-9-._~+/]` (a table: this runs
/// on every request, over every byte of the token).
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[expect(clippy::cast_possible_truncation, reason = "b < 256")]
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn parse(values: &[&[u8]]) -> Result<Option<String>, Error> {
        let mut headers = HeaderMap::new();
        for v in values {
            let v = HeaderValue::from_bytes(v).map_err(|_| Error::MalformedAuthorization)?;
            headers.append(header::AUTHORIZATION, v);
        }
        bearer_token(&headers).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_kept_whole() -> Result<(), Error> {
        assert_eq!(
            parse(&[b"Bearer abc.DEF-_~+/=="])?.as_deref(),
            Some("abc.DEF-_~+/==")
        );
        assert_eq!(parse(&[b"bEaReR t0k"])?.as_deref(), Some("t0k"));
        assert_eq!(parse(&[])?, None);
        Ok(())
    }

    #[test]
    fn anything_but_one_bearer_token_is_refused() {
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer  abc",
            b"Bearer abc def",
            b"Bearer abc ",
            b"Bearer\tabc",
            b"Basic dXNlcjpwYXNz",
            b"Bearerabc",
            b"Bearer a=b",
            b"Bearer ===",
            b"Bearer \xc3\xa9t\xc3\xa9",
            b"Bearer a,b",
            b"Bearer \"abc\"",
        ] {
            assert!(
                matches!(parse(&[bad]), Err(Error::MalformedAuthorization)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!("Bearer {}", "a".repeat(MAX_BEARER_LEN + 1));
        assert!(matches!(
            parse(&[long.as_bytes()]),
            Err(Error::MalformedAuthorization)
        ));
        assert!(matches!(
            parse(&[b"Bearer a", b"Bearer b"]),
            Err(Error::MalformedAuthorization)
        ));
    }
}
