//! Single-use rotation with the revocation list, and reuse detection.

use chrono::{DateTime, Utc};
use testudo_core::{Claims, TokenError, TokenPair, TokenPayload, TokenType, saturating_from_unix};
use testudo_db::{Database, retrying};

use super::revoke::blacklist;
use super::sessions;
use super::sign::session_start;
use super::{JwtBackend, new_jti, new_jtis};
use crate::revocation::{self, Issued, Scope};

impl JwtBackend {
    /// Single-use rotation with the list on; see the crate documentation. The new pair
    /// carries `extra` when given, else the presented token's claims.
    pub(super) async fn rotate_recorded(
        &self,
        db: &Database,
        refresh_token: &str,
        extra: Option<&Claims>,
    ) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        let payload = self.decode(refresh_token, TokenType::Refresh)?;
        let now = self.clock.now();
        let [access_jti, refresh_jti] = new_jtis()?;
        let (access_jti, refresh_jti) = (access_jti.as_str(), refresh_jti.as_str());
        let empty = Claims::new();
        let pair = self.sign_pair(
            &payload.sub,
            extra.or(payload.extra.as_ref()).unwrap_or(&empty),
            access_jti,
            refresh_jti,
            now.timestamp(),
            session_start(&payload),
        )?;
        let issued = self.issued(access_jti, refresh_jti, now.timestamp());
        let family = match retrying(|| self.try_rotate(db, &payload, &issued, now)).await? {
            Rotation::Rotated => return Ok((payload, pair)),
            Rotation::Revoked => return Err(TokenError::Revoked.into()),
            Rotation::Reused(family) => family,
        };
        tracing::warn!(
            family = %family,
            "rotated refresh token presented again: revoking its family"
        );
        blacklist(db, &payload.sub, Scope::Family(&family), now).await?;
        Err(TokenError::Revoked.into())
    }

    /// One attempt of [`JwtBackend::rotate_recorded`] (`Err` for a database failure, retried
    /// when transient).
    async fn try_rotate(
        &self,
        db: &Database,
        payload: &TokenPayload,
        issued: &[Issued<'_>; 2],
        now: DateTime<Utc>,
    ) -> testudo_db::Result<Rotation> {
        // Serialized with the user's revocations: a `revoke_all` either sees the pair recorded
        // here (and blacklists it) or runs first (and this rotation then finds its token
        // blacklisted).
        let txn = db.begin_for_user(&payload.sub).await?;
        // The unique jti decides: only one caller inserts the blacklist row.
        let won = revocation::blacklist_one(
            &*txn,
            &payload.jti,
            now,
            Some(saturating_from_unix(payload.exp)),
        )
        .await?;
        let row = revocation::outstanding_row(&*txn, &payload.jti).await?;
        if !won {
            // Already blacklisted: rotated before (a successor exists in its family) or revoked.
            // A rotation less than the grace window ago: the loser of a concurrent rotation,
            // answered Revoked without revoking the winner's new pair.
            let reused = match row {
                Some(row) if self.config.refresh_reuse_detection => {
                    match revocation::rotated_at(&*txn, &row).await? {
                        Some(at) if now.signed_duration_since(at) >= self.grace() => row.family_id,
                        _ => None,
                    }
                }
                _ => None,
            };
            // The family is revoked in a transaction of its own, once this one has released its
            // locks (on MariaDB, concurrent losers holding them would deadlock each other).
            txn.rollback().await?;
            return Ok(reused.map_or(Rotation::Revoked, Rotation::Reused));
        }
        let family = match row.and_then(|r| r.family_id) {
            Some(family) => {
                // The access token issued with the rotated refresh token goes too.
                revocation::blacklist_outstanding(&*txn, Scope::FamilyAccess(&family), now).await?;
                family
            }
            // Issued while the list was off, or its row was cleaned up: a new family.
            None => new_jti(),
        };
        revocation::record(&*txn, &payload.sub, &family, now, issued).await?;
        let started = saturating_from_unix(session_start(payload));
        sessions::touch(&*txn, &family, &payload.sub, started, now).await?;
        testudo_core::pause::point("tokens_jwt.rotate.before_commit").await;
        txn.commit().await?;
        Ok(Rotation::Rotated)
    }
}

/// What one rotation attempt found.
enum Rotation {
    /// The token was blacklisted and the next pair recorded.
    Rotated,
    /// The token was blacklisted already (revoked, or rotated with reuse detection off).
    Revoked,
    /// The token was rotated already: its family must be revoked.
    Reused(String),
}
