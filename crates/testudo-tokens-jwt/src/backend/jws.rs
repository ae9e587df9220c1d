//! The compact JWS serialization (RFC 7515), written here rather than by `jsonwebtoken`
//! because `jsonwebtoken` sets an HMAC key up again on every call: for HS256 / HS384 / HS512 a
//! keyed MAC state is prepared once per key and cloned for each token, the header segment of
//! each key is encoded once, and the tag is checked in constant time (`Mac::verify_slice`).
//! The asymmetric algorithms sign and verify through `jsonwebtoken::crypto`, with the same
//! precomputed header segments.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Hmac;
use jsonwebtoken::{Algorithm, Header};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// The longest HMAC tag (HS512), in bytes.
const MAX_TAG: usize = 64;

/// A keyed HMAC state for one HS* key, cloned for every token it signs or verifies.
#[derive(Clone)]
pub(super) enum HmacState {
    /// HS256.
    Sha256(Hmac<Sha256>),
    /// HS384.
    Sha384(Hmac<Sha384>),
    /// HS512.
    Sha512(Hmac<Sha512>),
}

/// HMAC takes keys of any length; `new_from_slice` cannot fail for it.
fn keyed<M: hmac::KeyInit>(key: &[u8]) -> M {
    M::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

impl HmacState {
    /// The state for `key` under an HS* `algorithm`; `None` for an asymmetric one.
    pub(super) fn new(algorithm: Algorithm, key: &[u8]) -> Option<Self> {
        Some(match algorithm {
            Algorithm::HS256 => Self::Sha256(keyed(key)),
            Algorithm::HS384 => Self::Sha384(keyed(key)),
            Algorithm::HS512 => Self::Sha512(keyed(key)),
            _ => return None,
        })
    }

    /// The tag of `message`, in `out`; returns its length.
    fn sign(&self, message: &[u8], out: &mut [u8; MAX_TAG]) -> usize {
        fn tag<M: hmac::Mac + Clone>(state: &M, message: &[u8], out: &mut [u8]) -> usize {
            let mut mac = state.clone();
            mac.update(message);
            let tag = mac.finalize().into_bytes();
            let n = tag.len().min(out.len());
            out[..n].copy_from_slice(&tag[..n]);
            n
        }
        match self {
            Self::Sha256(m) => tag(m, message, out),
            Self::Sha384(m) => tag(m, message, out),
            Self::Sha512(m) => tag(m, message, out),
        }
    }

    /// Whether `tag` is the tag of `message` (compared in constant time; a tag of another
    /// length never is).
    fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        fn check<M: hmac::Mac + Clone>(state: &M, message: &[u8], tag: &[u8]) -> bool {
            let mut mac = state.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Self::Sha256(m) => check(m, message, tag),
            Self::Sha384(m) => check(m, message, tag),
            Self::Sha512(m) => check(m, message, tag),
        }
    }
}

/// What a key id derived from an HS* key is the digest of, with the key.
const KID_LABEL: &[u8] = b"testudo.jwt-kid.v1\0";

/// The key id of an HS* key: 16 base64url characters of SHA-256 over a fixed label and the
/// key. A plain digest, public by design: it names the key without revealing anything that
/// helps to find it (the tokens the key signs are themselves a better test of a guess), and
/// being no HMAC it is no `Signer` signature either.
pub(super) fn hmac_kid(key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(KID_LABEL)
        .chain_update(key)
        .finalize();
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// The header segment (base64url of the JSON header, as `jsonwebtoken::encode` writes it:
/// `{"typ":"JWT","alg":...}` then `kid` when given) of the tokens a key signs.
pub(super) fn header_segment(algorithm: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    // A `Header` of plain strings always serializes.
    let json = serde_json::to_vec(&header).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The length of `n` bytes in base64url without padding.
fn encoded_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

/// Signs a token with an HS* key: `header.payload.tag`, where `prefix` is the key's header
/// segment followed by `.` and `claims` the JSON payload. Written in one buffer allocated at
/// the token's final length.
///
/// # Errors
///
/// Never in practice: the buffer holds base64url only, which is UTF-8.
pub(super) fn sign_hmac(
    prefix: &str,
    claims: &[u8],
    state: &HmacState,
) -> Result<String, std::string::FromUtf8Error> {
    let tag_len = match state {
        HmacState::Sha256(_) => 32,
        HmacState::Sha384(_) => 48,
        HmacState::Sha512(_) => 64,
    };
    let message_len = prefix.len() + encoded_len(claims.len());
    let total = message_len + 1 + encoded_len(tag_len);
    let mut token = Vec::with_capacity(total);
    token.extend_from_slice(prefix.as_bytes());
    token.resize(message_len, 0);
    // The lengths are exact, so the slices fit (the encoder writes nothing otherwise).
    let _ = URL_SAFE_NO_PAD.encode_slice(claims, token.get_mut(prefix.len()..).unwrap_or_default());
    let mut tag = [0; MAX_TAG];
    let n = state.sign(&token, &mut tag);
    token.push(b'.');
    token.resize(total, 0);
    let _ = URL_SAFE_NO_PAD.encode_slice(
        tag.get(..n).unwrap_or_default(),
        token.get_mut(message_len + 1..).unwrap_or_default(),
    );
    String::from_utf8(token)
}

/// The three segments of a compact JWS, split as `jsonwebtoken` splits them (at the last two
/// dots: a header segment holding a dot fails to decode later).
#[derive(Debug, Clone, Copy)]
pub(super) struct Segments<'a> {
    /// The header segment.
    pub(super) header: &'a str,
    /// The payload segment.
    pub(super) payload: &'a str,
    /// `header.payload`, what the signature covers.
    pub(super) message: &'a str,
    /// The signature segment.
    pub(super) signature: &'a str,
}

impl<'a> Segments<'a> {
    /// The segments of `token`; `None` without two dots.
    pub(super) fn split(token: &'a str) -> Option<Self> {
        let (message, signature) = token.rsplit_once('.')?;
        let (header, payload) = message.rsplit_once('.')?;
        Some(Self {
            header,
            payload,
            message,
            signature,
        })
    }
}

/// Why a signature segment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SignatureError {
    /// Not base64url without padding.
    Malformed,
    /// No key verifies it.
    Bad,
}

/// Checks the signature segment of `segments` against each of `keys` in turn; returns the
/// index of the first that verifies it.
///
/// # Errors
///
/// [`SignatureError::Malformed`] for a segment that is not base64url, [`SignatureError::Bad`]
/// when no key verifies it.
pub(super) fn verify_hmac<'k>(
    segments: &Segments<'_>,
    keys: impl IntoIterator<Item = &'k HmacState>,
) -> Result<(), SignatureError> {
    // Long enough for any base64url of at most 96 bytes; longer (never a valid tag) goes
    // through a heap buffer, only to report a bad encoding as jsonwebtoken does.
    let mut buf = [0_u8; 96];
    let heap;
    let tag: &[u8] = if segments.signature.len() <= 128 {
        let n = URL_SAFE_NO_PAD
            .decode_slice(segments.signature, &mut buf)
            .map_err(|_| SignatureError::Malformed)?;
        &buf[..n]
    } else {
        heap = URL_SAFE_NO_PAD
            .decode(segments.signature)
            .map_err(|_| SignatureError::Malformed)?;
        &heap
    };
    for key in keys {
        if key.verify(segments.message.as_bytes(), tag) {
            return Ok(());
        }
    }
    Err(SignatureError::Bad)
}

/// The decoded payload segment: on the stack when short (every token testudo issues), else
/// on the heap.
#[expect(
    clippy::large_enum_variant,
    reason = "the stack buffer is the point: no allocation for a usual payload"
)]
pub(super) enum Payload {
    /// Up to 512 bytes, and how much of it is used.
    Stack([u8; 512], usize),
    /// Longer.
    Heap(Vec<u8>),
}

impl Payload {
    /// Decodes a payload segment; `None` when it is not base64url without padding.
    pub(super) fn decode(segment: &str) -> Option<Self> {
        // 680 characters decode to at most 510 bytes.
        if segment.len() <= 680 {
            let mut buf = [0_u8; 512];
            let n = URL_SAFE_NO_PAD.decode_slice(segment, &mut buf).ok()?;
            Some(Self::Stack(buf, n))
        } else {
            URL_SAFE_NO_PAD.decode(segment).ok().map(Self::Heap)
        }
    }

    /// The decoded bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Stack(buf, n) => buf.get(..*n).unwrap_or_default(),
            Self::Heap(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_lengths_are_those_of_the_base64_crate() {
        for n in 0..200 {
            assert_eq!(
                encoded_len(n),
                URL_SAFE_NO_PAD.encode(vec![0_u8; n]).len(),
                "{n}"
            );
        }
    }

    #[test]
    fn header_segments_are_what_jsonwebtoken_writes() -> Result<(), Box<dyn std::error::Error>> {
        let key = jsonwebtoken::EncodingKey::from_secret(b"k");
        for kid in [None, Some("abc")] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_owned);
            let token = jsonwebtoken::encode(&header, &serde_json::json!({}), &key)?;
            let segment = token.split('.').next().ok_or("no header")?;
            assert_eq!(header_segment(Algorithm::HS256, kid), segment);
        }
        Ok(())
    }

    #[test]
    fn hmac_tokens_are_those_jsonwebtoken_signs() -> Result<(), Box<dyn std::error::Error>> {
        for (alg, key) in [
            (Algorithm::HS256, b"a key".as_slice()),
            (Algorithm::HS384, b"another key".as_slice()),
            (Algorithm::HS512, b"".as_slice()),
        ] {
            let claims = serde_json::json!({"sub": "1", "n": [1, 2, 3]});
            let expected = jsonwebtoken::encode(
                &Header::new(alg),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(key),
            )?;
            let state = HmacState::new(alg, key).ok_or("not hmac")?;
            let prefix = format!("{}.", header_segment(alg, None));
            let token = sign_hmac(&prefix, &serde_json::to_vec(&claims)?, &state)?;
            assert_eq!(token, expected);
            assert_eq!(
                token.capacity(),
                token.len(),
                "allocated at its final length"
            );
            let segments = Segments::split(&token).ok_or("segments")?;
            assert_eq!(verify_hmac(&segments, [&state]), Ok(()));
            let other = HmacState::new(alg, b"other").ok_or("not hmac")?;
            assert_eq!(verify_hmac(&segments, [&other]), Err(SignatureError::Bad));
            assert_eq!(verify_hmac(&segments, [&other, &state]), Ok(()));
        }
        assert!(HmacState::new(Algorithm::EdDSA, b"k").is_none());
        Ok(())
    }

    #[test]
    fn signatures_are_refused_as_jsonwebtoken_refuses_them()
    -> Result<(), Box<dyn std::error::Error>> {
        let state = HmacState::new(Algorithm::HS256, b"k").ok_or("not hmac")?;
        let prefix = format!("{}.", header_segment(Algorithm::HS256, None));
        let token = sign_hmac(&prefix, b"{}", &state)?;
        let (message, tag) = token.rsplit_once('.').ok_or("no tag")?;
        let bad = |signature: String| {
            let forged = format!("{message}.{signature}");
            let segments = Segments::split(&forged).map(|s| verify_hmac(&s, [&state]));
            let reference = jsonwebtoken::decode::<serde_json::Value>(
                &forged,
                &jsonwebtoken::DecodingKey::from_secret(b"k"),
                &{
                    let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
                    v.required_spec_claims.clear();
                    v.validate_exp = false;
                    v
                },
            )
            .map_err(|e| e.into_kind());
            (segments, reference)
        };
        // Padding, a non-canonical last character, a truncated, an overlong and a huge tag.
        for (signature, ours, theirs_signature_error) in [
            (format!("{tag}="), SignatureError::Malformed, false),
            (
                format!("{}B", &tag[..tag.len() - 1]),
                SignatureError::Malformed,
                false,
            ),
            (tag[..tag.len() - 3].to_owned(), SignatureError::Bad, true),
            (format!("{tag}AAAA"), SignatureError::Bad, true),
            ("A".repeat(400), SignatureError::Bad, true),
            ("*".repeat(400), SignatureError::Malformed, false),
        ] {
            let (segments, reference) = bad(signature.clone());
            assert_eq!(segments, Some(Err(ours)), "{signature}");
            let theirs = matches!(
                reference,
                Err(jsonwebtoken::errors::ErrorKind::InvalidSignature)
            );
            assert_eq!(theirs, theirs_signature_error, "{signature}: {reference:?}");
        }
        Ok(())
    }

    #[test]
    fn payloads_decode_on_the_stack_or_the_heap() {
        for n in [0, 1, 300, 509, 510, 511, 512, 513, 5000] {
            let bytes: Vec<u8> = (0..n)
                .map(|i| u8::try_from(i % 251).unwrap_or_default())
                .collect();
            let segment = URL_SAFE_NO_PAD.encode(&bytes);
            let decoded = Payload::decode(&segment);
            assert_eq!(decoded.as_ref().map(Payload::bytes), Some(bytes.as_slice()));
        }
        assert!(Payload::decode("a=").is_none());
        assert!(Payload::decode("a.b").is_none());
    }

    #[test]
    fn derived_key_ids_are_short_stable_and_differ_by_key() {
        let a = hmac_kid(b"key a");
        assert_eq!(a.len(), 16);
        assert_eq!(a, hmac_kid(b"key a"));
        assert_ne!(a, hmac_kid(b"key b"));
    }
}
