//! Emailed verification codes: six digits, stored as a keyed digest, single use, dead after
//! `onboarding_max_verification_attempts` wrong tries or `onboarding_verification_code_ttl`.
//!
//! Every read and write of a user's code runs in that user's serialized transaction
//! ([`Database::begin_for_user`]): N parallel guesses are checked one after the other, so no
//! more than the allowed number of wrong tries is ever compared.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, EntityTrait as _};
use testudo_core::{Clock, Result, saturating_add};
use testudo_db::{Database, retrying};

use crate::entity::code;

/// What checking a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    /// The code was right and is now used up; it had been sent to `email`.
    Right {
        /// The address the code was sent to.
        email: String,
    },
    /// The code was wrong; `remaining` tries are left (0: the code is now dead).
    Wrong {
        /// Wrong tries left.
        remaining: u32,
    },
    /// No code is pending (none sent, used, expired or dead).
    NonePending,
}

/// The pending codes, one per user.
#[derive(Debug, Clone)]
pub(crate) struct CodeStore {
    db: Database,
    clock: Arc<dyn Clock>,
}

impl CodeStore {
    pub(crate) fn new(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Replaces the user's pending code by one sent to `email`, stored as `digest`.
    pub(crate) async fn put(
        &self,
        user_id: &str,
        email: &str,
        digest: &str,
        ttl: Duration,
    ) -> Result<()> {
        let now = self.clock.now();
        retrying(|| async move {
            let txn = self.db.begin_for_user(user_id).await?;
            code::Entity::delete_by_id(user_id.to_owned())
                .exec(&*txn)
                .await?;
            code::ActiveModel {
                user_id: Set(user_id.to_owned()),
                email: Set(email.to_owned()),
                digest: Set(digest.to_owned()),
                attempts: Set(0),
                expires_at: Set(saturating_add(now, ttl)),
                created_at: Set(now),
            }
            .insert(&*txn)
            .await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(())
        })
        .await
        .map_err(Into::into)
    }

    /// Checks the user's pending code with `is_right` (given the stored row): a right code is
    /// deleted (single use), a wrong one counts a try, and the code is deleted with the last
    /// allowed wrong try or once expired.
    pub(crate) async fn check(
        &self,
        user_id: &str,
        max_attempts: u32,
        is_right: impl Fn(&code::Model) -> bool + Send + Sync,
    ) -> Result<CodeCheck> {
        let now = self.clock.now();
        let is_right = &is_right;
        retrying(|| async move {
            let txn = self.db.begin_for_user(user_id).await?;
            let row = code::Entity::find_by_id(user_id.to_owned())
                .one(&*txn)
                .await?;
            let Some(row) = row else {
                txn.commit().await?;
                return Ok(CodeCheck::NonePending);
            };
            let tried = u32::try_from(row.attempts).unwrap_or(u32::MAX);
            let outcome = if row.expires_at <= now || tried >= max_attempts {
                CodeCheck::NonePending
            } else if is_right(&row) {
                CodeCheck::Right {
                    email: row.email.clone(),
                }
            } else {
                let tried = tried + 1;
                if tried < max_attempts {
                    let mut active: code::ActiveModel = row.into();
                    active.attempts = Set(i32::try_from(tried).unwrap_or(i32::MAX));
                    active.update(&*txn).await?;
                    txn.commit().await?;
                    return Ok(CodeCheck::Wrong {
                        remaining: max_attempts - tried,
                    });
                }
                CodeCheck::Wrong { remaining: 0 }
            };
            // Used, expired, or dead after its last allowed wrong try.
            code::Entity::delete_by_id(user_id.to_owned())
                .exec(&*txn)
                .await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(outcome)
        })
        .await
        .map_err(Into::into)
    }

    /// Deletes the user's pending code; returns whether there was one.
    pub(crate) async fn remove(&self, user_id: &str) -> Result<bool> {
        let res = code::Entity::delete_by_id(user_id.to_owned())
            .exec(self.db.as_sea_orm())
            .await
            .map_err(testudo_db::Error::from)?;
        Ok(res.rows_affected > 0)
    }
}
