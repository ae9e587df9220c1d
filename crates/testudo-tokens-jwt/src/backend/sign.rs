//! Signing: the claims written to a token, pairs signed with the given `jti`s, and a pair
//! signed and recorded as outstanding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use testudo_core::{CREDENTIAL_VERSION_CLAIM, Claims, TokenPair, TokenType};
use testudo_db::{Database, retrying};

use super::jws::sign_hmac;
use super::{JwtBackend, SigningKey, new_jtis};
use crate::error::{Error, Result};
use crate::revocation::{self, Issued};

/// The claim (in a refresh token's `extra`) that carries when its session started, in Unix
/// seconds; rotation keeps it, so `session_max_lifetime` counts from the login.
pub(super) const SESSION_START_CLAIM: &str = "ss";

/// When the session of a verified refresh token started: its [`SESSION_START_CLAIM`], or its
/// own `iat` (a token from before the limit, or issued by tortoise-auth).
pub(super) fn session_start(payload: &testudo_core::TokenPayload) -> i64 {
    payload
        .extra
        .as_ref()
        .and_then(|e| e.get(SESSION_START_CLAIM))
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(payload.iat)
}

/// The claims written to a token, in the reference's order.
#[derive(Serialize)]
struct OutgoingClaims<'a> {
    sub: &'a str,
    token_type: &'static str,
    jti: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<Extra<'a>>,
}

/// The `extra` claim: the caller's claims (access token), or what binds a refresh token to its
/// session, written as the map it stands for would be (keys sorted) without building one.
#[derive(Clone, Copy)]
enum Extra<'a> {
    Claims(&'a Claims),
    Binding {
        credential_version: Option<&'a serde_json::Value>,
        session_start: Option<i64>,
    },
}

impl Serialize for Extra<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match *self {
            Self::Claims(claims) => claims.serialize(s),
            Self::Binding {
                credential_version,
                session_start,
            } => {
                let cv = credential_version.map(|v| (CREDENTIAL_VERSION_CLAIM, v));
                let ss = session_start.map(serde_json::Value::from);
                let ss = ss.as_ref().map(|v| (SESSION_START_CLAIM, v));
                // In the order of a `Claims` map: sorted by key.
                let (first, second) = if CREDENTIAL_VERSION_CLAIM < SESSION_START_CLAIM {
                    (cv, ss)
                } else {
                    (ss, cv)
                };
                let mut map = s.serialize_map(None)?;
                for (key, value) in first.into_iter().chain(second) {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl JwtBackend {
    /// Signs `claims` with the signing key, under its precomputed header (which names its
    /// `kid`, if any); `json` is a buffer for the payload, emptied first.
    ///
    /// # Errors
    ///
    /// [`Error::NoSigningKey`] for a backend that only verifies ([`JwtBackend::from_jwks`]),
    /// [`Error::Sign`] when signing fails, [`Error::TooLong`] for a token over
    /// [`MAX_TOKEN_LEN`](super::MAX_TOKEN_LEN).
    fn sign(&self, claims: &OutgoingClaims<'_>, json: &mut Vec<u8>) -> Result<String> {
        let signing = self.signing.as_ref().ok_or(Error::NoSigningKey)?;
        json.clear();
        serde_json::to_writer(&mut *json, claims).map_err(|e| Error::Sign(Box::new(e)))?;
        // Long payloads are refused before the (possibly costly, RSA) signature is made.
        let payload_len = signing.prefix.len() + json.len().div_ceil(3) * 4;
        if payload_len > super::MAX_TOKEN_LEN {
            return Err(Error::TooLong { len: payload_len });
        }
        let token = match &signing.key {
            SigningKey::Hmac(state) => {
                sign_hmac(&signing.prefix, json, state).map_err(|e| Error::Sign(Box::new(e)))?
            }
            SigningKey::Public(key) => {
                let mut token = signing.prefix.clone();
                URL_SAFE_NO_PAD.encode_string(&*json, &mut token);
                let signature = jsonwebtoken::crypto::sign(token.as_bytes(), key, self.algorithm)
                    .map_err(|e| Error::Sign(Box::new(e)))?;
                token.push('.');
                token.push_str(&signature);
                token
            }
        };
        if token.len() > super::MAX_TOKEN_LEN {
            return Err(Error::TooLong { len: token.len() });
        }
        Ok(token)
    }

    /// Issues a pair with the given `jti`s (the conformance test compares our tokens with
    /// tortoise-auth's, whose `jti`s are fixed). Not for applications: `jti`s must be unique.
    ///
    /// Feature `test-hooks`: not part of the public API; for testudo's own conformance tests;
    /// may change without notice.
    ///
    /// # Errors
    ///
    /// [`Error::Sign`] when signing fails.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn create_tokens_with_jtis(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
    ) -> Result<TokenPair> {
        self.sign_now(user_id, extra, access_jti, refresh_jti)
    }

    /// Signs a pair with the given `jti`s, issued now by the backend's clock, starting a
    /// session (stateless issue).
    pub(super) fn sign_now(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
    ) -> Result<TokenPair> {
        let now = self.clock.now().timestamp();
        self.sign_pair(user_id, extra, access_jti, refresh_jti, now, now)
    }

    /// Signs an access / refresh pair issued at `iat` with these `jti`s, in a session started
    /// at `session_start` (Unix seconds): with `session_max_lifetime` on, neither token expires
    /// later than that after it, and the refresh token carries the start (claim
    /// [`SESSION_START_CLAIM`] in its `extra`) to the pairs rotation makes of it.
    pub(super) fn sign_pair(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
        iat: i64,
        session_start: i64,
    ) -> Result<TokenPair> {
        let session_end = (self.session_max_lifetime > 0)
            .then(|| session_start.saturating_add(self.session_max_lifetime));
        let expiry = |lifetime: i64| {
            let exp = iat.saturating_add(lifetime);
            session_end.map_or(exp, |end| exp.min(end))
        };
        let stripped;
        let access_extra = if extra.contains_key(SESSION_START_CLAIM) {
            let mut e = extra.clone();
            e.remove(SESSION_START_CLAIM);
            stripped = e;
            &stripped
        } else {
            extra
        };
        let mut json = Vec::with_capacity(256);
        let access = self.sign(
            &OutgoingClaims {
                sub: user_id,
                token_type: TokenType::Access.as_str(),
                jti: access_jti,
                iat,
                exp: expiry(self.access_lifetime),
                iss: self.config.jwt_issuer.as_deref(),
                aud: self.config.jwt_audience.as_deref(),
                extra: (!access_extra.is_empty()).then_some(Extra::Claims(access_extra)),
            },
            &mut json,
        )?;
        // The refresh token carries no extra claims but what binds the session: the credential
        // version and, with the limit on, the session's start.
        let credential_version = extra.get(CREDENTIAL_VERSION_CLAIM);
        let session_start = session_end.is_some().then_some(session_start);
        let binding =
            (credential_version.is_some() || session_start.is_some()).then_some(Extra::Binding {
                credential_version,
                session_start,
            });
        let refresh = self.sign(
            &OutgoingClaims {
                sub: user_id,
                token_type: TokenType::Refresh.as_str(),
                jti: refresh_jti,
                iat,
                exp: expiry(self.refresh_lifetime),
                iss: self.config.jwt_issuer.as_deref(),
                aud: self.config.jwt_audience.as_deref(),
                extra: binding,
            },
            &mut json,
        )?;
        Ok(TokenPair::new(access, refresh))
    }

    /// Signs a pair and records it as outstanding in a new family `family_id`, with the
    /// family's session (`client`'s device context), in one transaction.
    pub(super) async fn issue_recorded(
        &self,
        db: &Database,
        user_id: &str,
        extra: &Claims,
        family_id: &str,
        client: &testudo_core::SessionContext,
    ) -> testudo_core::Result<TokenPair> {
        let now = self.clock.now();
        let [access_jti, refresh_jti] = new_jtis()?;
        let (access_jti, refresh_jti) = (access_jti.as_str(), refresh_jti.as_str());
        let iat = now.timestamp();
        let pair = self.sign_pair(user_id, extra, access_jti, refresh_jti, iat, iat)?;
        let issued = self.issued(access_jti, refresh_jti, now.timestamp());
        retrying(|| async {
            // Serialized with the user's revocations, as every write of the list is.
            let txn = db.begin_for_user(user_id).await?;
            revocation::record(&*txn, user_id, family_id, now, &issued).await?;
            super::sessions::insert(&*txn, family_id, user_id, now, now, client).await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(())
        })
        .await?;
        Ok(pair)
    }

    /// The two rows that record a pair issued at `iat` as outstanding.
    pub(super) fn issued<'a>(
        &self,
        access_jti: &'a str,
        refresh_jti: &'a str,
        iat: i64,
    ) -> [Issued<'a>; 2] {
        [
            Issued {
                jti: access_jti,
                token_type: TokenType::Access,
                exp: iat.saturating_add(self.access_lifetime),
            },
            Issued {
                jti: refresh_jti,
                token_type: TokenType::Refresh,
                exp: iat.saturating_add(self.refresh_lifetime),
            },
        ]
    }
}
