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
    family_id: &'a str,
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

/// From the entity's row (feature `test-hooks`: the entity is not public otherwise).
#[cfg(feature = "test-hooks")]
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

/// What [`DatabaseTokenBackend::lookup`] found before any database access.
enum Lookup {
    /// The verification cache answered.
    Cached(TokenPayload),
    /// The database must be read: the token's digest, the time, and the cache epoch taken now.
    Miss {
        hash: String,
        now: DateTime<Utc>,
        epoch: Option<u64>,
    },
}

/// `Row` from each type holding a stored token's fields (all three have the same field names).
macro_rules! row_from {
    ($($t:ty),+) => {$(
        impl<'a> From<&'a $t> for Row<'a> {
            fn from(m: &'a $t) -> Self {
                Self {
                    hash: &m.token_hash,
                    user_id: &m.user_id,
                    jti: &m.jti,
                    family_id: &m.family_id,
                    created_at: m.created_at,
                    expires_at: m.expires_at,
                    is_revoked: m.is_revoked,
                    extra: m.extra.as_deref(),
                }
            }
        }
    )+};
}

row_from!(StoredAccessToken, access::Model, refresh::Model);

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
        let (hash, now, epoch) = match self.lookup(token, expected)? {
            Lookup::Cached(hit) => return Ok(hit),
            Lookup::Miss { hash, now, epoch } => (hash, now, epoch),
        };
        match expected {
            TokenType::Access => {
                let row = self.find::<access::Entity>(access::Column::TokenHash, &hash);
                self.accept(
                    row.await?.as_ref().map(Row::from),
                    hash,
                    expected,
                    epoch,
                    now,
                )
            }
            TokenType::Refresh => {
                let row = self.find::<refresh::Entity>(refresh::Column::TokenHash, &hash);
                self.accept(
                    row.await?.as_ref().map(Row::from),
                    hash,
                    expected,
                    epoch,
                    now,
                )
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
        let (hash, now, epoch) = match self.lookup(token, TokenType::Access)? {
            Lookup::Cached(hit) => return Ok((hit, None)),
            Lookup::Miss { hash, now, epoch } => (hash, now, epoch),
        };
        let (row, extra) = fetch(hash.clone()).await?.ok_or_else(invalid)?;
        let payload = self.accept(Some(Row::from(&row)), hash, TokenType::Access, epoch, now)?;
        Ok((payload, Some(extra)))
    }

    /// What every verification does before the database: refuse an impossible token, hash it,
    /// answer from the cache, or take the cache epoch for the read that follows.
    fn lookup(&self, token: &str, expected: TokenType) -> Result<Lookup> {
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
            return Ok(Lookup::Cached(hit));
        }
        let epoch = self.cache.as_ref().map(|c| c.epoch());
        Ok(Lookup::Miss { hash, now, epoch })
    }

    /// The row of table `E` whose digest `column` equals `hash`.
    async fn find<E: EntityTrait>(
        &self,
        column: E::Column,
        hash: &str,
    ) -> Result<Option<E::Model>> {
        Ok(E::find().filter(column.eq(hash)).one(self.conn()).await?)
    }

    /// Checks a row read from the database (`None`: no such token) and caches the answer with
    /// the epoch taken before the read.
    fn accept(
        &self,
        row: Option<Row<'_>>,
        hash: String,
        expected: TokenType,
        epoch: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<TokenPayload> {
        let row = row.ok_or_else(invalid)?;
        let payload = self.check(&row, &hash, expected)?;
        self.remember(epoch, hash, &payload, row.family_id, row.expires_at, now);
        Ok(payload)
    }
}
