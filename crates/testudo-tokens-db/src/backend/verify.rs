//! Verification: [`DatabaseTokenBackend::verify`], [`DatabaseTokenBackend::verify_access_with`]
//! and the checks of a stored row.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use testudo_core::{TokenError, TokenPayload, TokenType, wrong_type};

use super::{DatabaseTokenBackend, invalid, parse_extra};
use crate::Result;
use crate::entity::{access_token as access, refresh_token as refresh};
use crate::token::{digest_eq, hash_token, plausible};

/// The stored fields of a verified token.
struct Row<'a> {
    hash: &'a str,
    user_id: &'a str,
    jti: &'a str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    is_revoked: bool,
    extra: Option<&'a str>,
}

/// An access-token row read by the caller of [`DatabaseTokenBackend::verify_access_with`] (e.g.
/// joined with its user): the stored fields the backend checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccessToken {
    /// Lowercase hex SHA-256 of the raw token.
    pub token_hash: String,
    /// The token's id.
    pub jti: String,
    /// The user the token was issued to.
    pub user_id: String,
    /// The token family (the login it descends from).
    pub family_id: String,
    /// The extra claims, as stored JSON.
    pub extra: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether it was revoked.
    pub is_revoked: bool,
}

impl From<access::Model> for StoredAccessToken {
    fn from(m: access::Model) -> Self {
        Self {
            token_hash: m.token_hash,
            jti: m.jti,
            user_id: m.user_id,
            family_id: m.family_id,
            extra: m.extra,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
        }
    }
}

impl<'a> From<&'a StoredAccessToken> for Row<'a> {
    fn from(m: &'a StoredAccessToken) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl<'a> From<&'a access::Model> for Row<'a> {
    fn from(m: &'a access::Model) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl<'a> From<&'a refresh::Model> for Row<'a> {
    fn from(m: &'a refresh::Model) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl DatabaseTokenBackend {
    /// The checks of a stored row against the presented token's digest: constant-time digest
    /// comparison, revoked before expired, expiry by the injected clock.
    fn check(&self, row: &Row<'_>, hash: &str, ty: TokenType) -> Result<TokenPayload> {
        if !digest_eq(row.hash, hash) {
            return Err(invalid().into());
        }
        if row.is_revoked {
            return Err(TokenError::Revoked.into());
        }
        if self.clock.now() >= row.expires_at {
            return Err(TokenError::Expired.into());
        }
        Ok(TokenPayload {
            sub: row.user_id.to_owned(),
            token_type: ty,
            jti: row.jti.to_owned(),
            iat: row.created_at.timestamp(),
            exp: row.expires_at.timestamp(),
            extra: parse_extra(row.extra),
        })
    }

    /// Verifies a token; see
    /// [`TokenBackend::verify_token`](testudo_core::TokenBackend::verify_token).
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, [`Error::Storage`](crate::Error::Storage).
    pub async fn verify(&self, token: &str, expected: TokenType) -> Result<TokenPayload> {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&hash, expected, now))
        {
            return Ok(hit);
        }
        let epoch = self.cache.as_ref().map(|c| c.epoch());
        match expected {
            TokenType::Access => {
                let row = access::Entity::find()
                    .filter(access::Column::TokenHash.eq(hash.as_str()))
                    .one(self.conn())
                    .await?
                    .ok_or_else(invalid)?;
                let payload = self.check(&Row::from(&row), &hash, expected)?;
                self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
                Ok(payload)
            }
            TokenType::Refresh => {
                let row = refresh::Entity::find()
                    .filter(refresh::Column::TokenHash.eq(hash.as_str()))
                    .one(self.conn())
                    .await?
                    .ok_or_else(invalid)?;
                let payload = self.check(&Row::from(&row), &hash, expected)?;
                self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
                Ok(payload)
            }
            #[expect(
                unreachable_patterns,
                reason = "TokenType is non_exhaustive in spirit; future types are invalid here"
            )]
            other => Err(wrong_type(expected, Some(other)).into()),
        }
    }

    /// Verifies an access token whose row is loaded by `fetch` (given the token's hex SHA-256
    /// digest), e.g. joined with its user in one query. Returns the payload and `fetch`'s extra
    /// value, or `None` for the extra value when the answer came from the verification cache
    /// (`fetch` not called; see [`Self::with_cache`]).
    ///
    /// The checks are those of [`Self::verify`] with [`TokenType::Access`]: plausibility before
    /// any database access, constant-time digest comparison, revoked before expired, expiry by
    /// the injected clock. `fetch` returning `Ok(None)` means "no such token".
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, and whatever `fetch` returns (typically
    /// [`Error::Storage`](crate::Error::Storage) from a database error through `?`).
    pub async fn verify_access_with<T, F, Fut>(
        &self,
        token: &str,
        fetch: F,
    ) -> Result<(TokenPayload, Option<T>)>
    where
        F: FnOnce(String) -> Fut + Send,
        Fut: Future<Output = Result<Option<(StoredAccessToken, T)>>> + Send,
        T: Send,
    {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&hash, TokenType::Access, now))
        {
            return Ok((hit, None));
        }
        let epoch = self.cache.as_ref().map(|c| c.epoch());
        let (row, extra) = fetch(hash.clone()).await?.ok_or_else(invalid)?;
        let payload = self.check(&Row::from(&row), &hash, TokenType::Access)?;
        self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
        Ok((payload, Some(extra)))
    }
}
