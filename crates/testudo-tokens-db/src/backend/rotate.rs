//! Rotation: [`DatabaseTokenBackend::rotate_refresh`], single-use with reuse detection.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use testudo_core::{Claims, TokenError, TokenPair, TokenPayload, TokenType, saturating_chrono};
use testudo_db::retrying;

use super::issue::NewPair;
use super::revoke::{Tables, access_revocation};
use super::{DatabaseTokenBackend, invalid, parse_extra};
use crate::Result;
use crate::cache::Key;
use crate::entity::{access_token as access, refresh_token as refresh};
use crate::token::{digest_eq, generate_token, hash_token, new_id, plausible};

impl DatabaseTokenBackend {
    /// Rotates a refresh token; see [`TokenBackend::rotate`](testudo_core::TokenBackend::rotate).
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, [`Error::Storage`](crate::Error::Storage),
    /// [`Error::Random`](crate::Error::Random).
    pub async fn rotate_refresh(&self, token: &str) -> Result<(TokenPayload, TokenPair)> {
        self.rotate_refresh_with(token, None).await
    }

    /// As [`Self::rotate_refresh`], the new pair carrying `extra` instead of the rotated
    /// token's claims; see
    /// [`TokenBackend::rotate_with_claims`](testudo_core::TokenBackend::rotate_with_claims).
    ///
    /// # Errors
    ///
    /// As [`Self::rotate_refresh`], plus [`Error::Claims`](crate::Error::Claims).
    pub async fn rotate_refresh_with_claims(
        &self,
        token: &str,
        extra: &Claims,
    ) -> Result<(TokenPayload, TokenPair)> {
        self.rotate_refresh_with(token, Some(extra)).await
    }

    /// Rotation; the new pair carries `extra` when given, else the rotated token's claims.
    async fn rotate_refresh_with(
        &self,
        token: &str,
        extra: Option<&Claims>,
    ) -> Result<(TokenPayload, TokenPair)> {
        // `None`: keep the rotated token's claims; `Some(json)`: these (`Some(None)`: none).
        let extra = match extra {
            None => None,
            Some(e) if e.is_empty() => Some(None),
            Some(e) => Some(Some(
                serde_json::to_string(e).map_err(|e| crate::Error::Claims(Box::new(e)))?,
            )),
        };
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let Some(holder) = self.holder(&hash, Tables::Refresh).await? else {
            return Err(invalid().into());
        };
        let access_raw = generate_token(self.config.token_length)?;
        let refresh_raw = generate_token(self.config.token_length)?;
        let payload = retrying(|| {
            self.rotate_once(
                &holder.user_id,
                &hash,
                &access_raw,
                &refresh_raw,
                extra.clone(),
            )
        })
        .await?;
        Ok((payload, TokenPair::new(access_raw, refresh_raw)))
    }

    /// Whether a refresh token rotated at `rotated_at` and presented again at `now` is a replay
    /// (rather than the loser of a concurrent rotation): see [`Self::with_rotation_grace`].
    fn is_replay(&self, rotated_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(rotated_at) >= saturating_chrono(self.rotation_grace)
    }

    /// One attempt at a rotation: one transaction, serialized with the other token writes of
    /// `user_id` (the token's holder), run again by [`retrying`] when the database aborts it to
    /// break a deadlock.
    async fn rotate_once(
        &self,
        user_id: &str,
        hash: &str,
        access_raw: &str,
        refresh_raw: &str,
        extra: Option<Option<String>>,
    ) -> Result<TokenPayload> {
        let new_refresh_jti = new_id();
        let now = self.clock.now();
        // Serialized with the user's revocations: a `revoke_all` either sees the pair written
        // here (and revokes it) or runs first (and this rotation then finds its token revoked).
        let txn = self.db.begin_for_user(user_id).await?;
        // The conditional UPDATE decides: only one caller can flip is_revoked.
        let res = refresh::Entity::update_many()
            .col_expr(refresh::Column::IsRevoked, Expr::value(true))
            .col_expr(refresh::Column::RevokedAt, Expr::value(now))
            .col_expr(refresh::Column::RotatedAt, Expr::value(now))
            .col_expr(
                refresh::Column::ReplacedByJti,
                Expr::value(new_refresh_jti.clone()),
            )
            .filter(refresh::Column::TokenHash.eq(hash))
            .filter(refresh::Column::IsRevoked.eq(false))
            .filter(refresh::Column::ExpiresAt.gt(now))
            .exec(&*txn)
            .await?;
        let row = refresh::Entity::find()
            .filter(refresh::Column::TokenHash.eq(hash))
            .one(&*txn)
            .await?;
        let Some(row) = row.filter(|r| digest_eq(&r.token_hash, hash)) else {
            txn.rollback().await?;
            return Err(invalid().into());
        };
        if res.rows_affected != 1 {
            if !row.is_revoked {
                txn.rollback().await?;
                return Err(TokenError::Expired.into());
            }
            let replayed = row.rotated_at.is_some_and(|at| self.is_replay(at, now));
            if replayed && self.config.refresh_reuse_detection {
                tracing::warn!(
                    family = %row.family_id,
                    "rotated refresh token presented again: revoking its family"
                );
                Self::revoke_family(&txn, &row.family_id, now).await?;
                let keys = [Key::Family(row.family_id.clone())];
                self.notify(&txn, &keys).await?;
                txn.commit().await?;
                self.invalidate(&keys);
            } else {
                // Revoked outright, or the loser of a concurrent rotation of this token.
                txn.rollback().await?;
            }
            return Err(TokenError::Revoked.into());
        }
        // The access token issued with the rotated refresh token is replaced too.
        let mut keys = vec![Key::Token(hash.to_owned())];
        if self.tracks() {
            keys.extend(self.access_keys(&txn, vec![row.access_jti.clone()]).await?);
        }
        access_revocation(access::Column::Jti.eq(row.access_jti.as_str()), now)
            .exec(&*txn)
            .await?;
        self.insert_pair(
            &txn,
            NewPair {
                user_id: &row.user_id,
                family_id: &row.family_id,
                extra: extra.unwrap_or_else(|| row.extra.clone()),
                now,
                // Rows from before migration 11 start their session at this rotation.
                session_started: row.session_started_at.unwrap_or(row.created_at),
                refresh_jti: new_refresh_jti,
                access_raw,
                refresh_raw,
            },
        )
        .await?;
        self.touch_session(&txn, &row, now).await?;
        self.notify(&txn, &keys).await?;
        testudo_core::pause::point("tokens_db.rotate.before_commit").await;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(TokenPayload {
            sub: row.user_id,
            token_type: TokenType::Refresh,
            jti: row.jti,
            iat: row.created_at.timestamp(),
            exp: row.expires_at.timestamp(),
            extra: parse_extra(row.extra.as_deref()),
        })
    }
}
