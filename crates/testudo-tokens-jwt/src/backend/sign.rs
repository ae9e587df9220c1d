//! Signing: the claims written to a token, pairs signed with the given `jti`s, and a pair
//! signed and recorded as outstanding.

use jsonwebtoken::Header;
use serde::Serialize;
use testudo_core::{CREDENTIAL_VERSION_CLAIM, Claims, TokenPair, TokenType};
use testudo_db::{Database, retrying};

use super::{JwtBackend, new_jti};
use crate::error::{Error, Result};
use crate::revocation::{self, Issued};

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
    /// Signs `claims` with the signing key, its `kid` in the header.
    fn sign(&self, claims: &OutgoingClaims<'_>) -> Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid.clone_from(&self.signing_kid);
        jsonwebtoken::encode(&header, claims, &self.signing).map_err(|e| Error::Sign(Box::new(e)))
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

    /// Signs a pair with the given `jti`s, issued now by the backend's clock (stateless issue
    /// and rotation).
    pub(super) fn sign_now(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
    ) -> Result<TokenPair> {
        self.sign_pair(
            user_id,
            extra,
            access_jti,
            refresh_jti,
            self.clock.now().timestamp(),
        )
    }

    /// Signs an access / refresh pair issued at `iat` with these `jti`s.
    pub(super) fn sign_pair(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
        iat: i64,
    ) -> Result<TokenPair> {
        let access = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Access.as_str(),
            jti: access_jti,
            iat,
            exp: iat.saturating_add(self.access_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: (!extra.is_empty()).then_some(extra),
        })?;
        // The refresh token carries no extra claims but the credential version, so the session
        // stays bound to it across rotation.
        let version: Option<Claims> = extra
            .get(CREDENTIAL_VERSION_CLAIM)
            .map(|v| Claims::from_iter([(CREDENTIAL_VERSION_CLAIM.to_owned(), v.clone())]));
        let refresh = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Refresh.as_str(),
            jti: refresh_jti,
            iat,
            exp: iat.saturating_add(self.refresh_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: version.as_ref(),
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
        let (access_jti, refresh_jti) = (new_jti(), new_jti());
        let pair = self.sign_pair(user_id, extra, &access_jti, &refresh_jti, now.timestamp())?;
        let issued = self.issued(&access_jti, &refresh_jti, now.timestamp());
        retrying(|| async {
            // Serialized with the user's revocations, as every write of the list is.
            let txn = db.begin_for_user(user_id).await?;
            revocation::record(&txn, user_id, family_id, now, &issued).await?;
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
