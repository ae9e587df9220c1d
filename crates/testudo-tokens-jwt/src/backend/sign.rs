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
    extra: Option<&'a Claims>,
}

impl JwtBackend {
    /// Signs `claims` with the signing key, under its precomputed header (which names its
    /// `kid`, if any).
    ///
    /// # Errors
    ///
    /// [`Error::NoSigningKey`] for a backend that only verifies ([`JwtBackend::from_jwks`]),
    /// [`Error::Sign`] when signing fails.
    fn sign(&self, claims: &OutgoingClaims<'_>) -> Result<String> {
        let signing = self.signing.as_ref().ok_or(Error::NoSigningKey)?;
        let mut json = Vec::with_capacity(256);
        serde_json::to_writer(&mut json, claims).map_err(|e| Error::Sign(Box::new(e)))?;
        match &signing.key {
            SigningKey::Hmac(state) => Ok(sign_hmac(&signing.prefix, &json, state)),
            SigningKey::Public(key) => {
                let mut token = signing.prefix.clone();
                URL_SAFE_NO_PAD.encode_string(&json, &mut token);
                let signature = jsonwebtoken::crypto::sign(token.as_bytes(), key, self.algorithm)
                    .map_err(|e| Error::Sign(Box::new(e)))?;
                token.push('.');
                token.push_str(&signature);
                Ok(token)
            }
        }
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
        let access = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Access.as_str(),
            jti: access_jti,
            iat,
            exp: expiry(self.access_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: (!access_extra.is_empty()).then_some(access_extra),
        })?;
        // The refresh token carries no extra claims but what binds the session: the credential
        // version and, with the limit on, the session's start.
        let mut binding = Claims::new();
        if let Some(v) = extra.get(CREDENTIAL_VERSION_CLAIM) {
            binding.insert(CREDENTIAL_VERSION_CLAIM.to_owned(), v.clone());
        }
        if session_end.is_some() {
            binding.insert(SESSION_START_CLAIM.to_owned(), session_start.into());
        }
        let refresh = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Refresh.as_str(),
            jti: refresh_jti,
            iat,
            exp: expiry(self.refresh_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: (!binding.is_empty()).then_some(&binding),
        })?;
        Ok(TokenPair::new(access, refresh))
    }

    /// Signs a pair and records it as outstanding in family `family_id`, in one transaction.
    pub(super) async fn issue_recorded(
        &self,
        db: &Database,
        user_id: &str,
        extra: &Claims,
        family_id: &str,
    ) -> testudo_core::Result<TokenPair> {
        let now = self.clock.now();
        let [access_jti, refresh_jti] = new_jtis()?;
        let iat = now.timestamp();
        let pair = self.sign_pair(user_id, extra, &access_jti, &refresh_jti, iat, iat)?;
        let issued = self.issued(&access_jti, &refresh_jti, now.timestamp());
        retrying(|| async {
            // Serialized with the user's revocations, as every write of the list is.
            let txn = db.begin_for_user(user_id).await?;
            revocation::record(&*txn, user_id, family_id, now, &issued).await?;
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
