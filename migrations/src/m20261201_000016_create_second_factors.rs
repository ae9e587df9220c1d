//! The second-factor tables: TOTP factors, recovery codes, login challenges, and the times of
//! the last re-authentication (step-up).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::{index, ts_not_null, ts_null, varchar};

/// Creates four tables:
///
/// - `testudo_totp_factors (user_id PRIMARY KEY, secret, algorithm, digits, last_step,
///   confirmed_at, created_at)`: one TOTP factor per user. `secret` is the shared secret
///   sealed with XChaCha20-Poly1305 under a key derived from `signing_secret` and bound to the
///   user id (never the secret itself); `confirmed_at` is null while the enrolment waits for
///   its first code; `last_step` is the last 30-second step whose code was accepted (0: none),
///   advanced only forward by a conditional update, so a code is accepted once across nodes.
/// - `testudo_recovery_codes (user_id, digest, created_at)`, primary key `(user_id, digest)`:
///   the unused recovery codes, each as a keyed HMAC digest; a use deletes its row.
/// - `testudo_login_challenges (digest PRIMARY KEY, user_id, credential_version, claims,
///   expires_at, created_at)`: the pending second step of password logins, by keyed digest
///   of the challenge handed to the client, with the login's extra claims (JSON); deleted
///   when used.
/// - `testudo_reauthentications (user_id PRIMARY KEY, authenticated_at)`: when each user last
///   proved their password again (step-up).
///
/// On MySQL / MariaDB the id and digest columns get an exact (binary, no-pad) collation, as
/// migration 9 gave the earlier tables.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The `ALTER TABLE`s giving the identifying columns `collation`.
fn exact_text(collation: &str) -> [String; 4] {
    let text = |col: &str, len: u32| {
        format!("MODIFY {col} VARCHAR({len}) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL")
    };
    [
        format!("ALTER TABLE testudo_totp_factors {}", text("user_id", 255)),
        format!(
            "ALTER TABLE testudo_recovery_codes {}, {}",
            text("user_id", 255),
            text("digest", 64)
        ),
        format!(
            "ALTER TABLE testudo_login_challenges {}, {}",
            text("digest", 64),
            text("user_id", 255)
        ),
        format!(
            "ALTER TABLE testudo_reauthentications {}",
            text("user_id", 255)
        ),
    ]
}

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut digits = ColumnDef::new(Factors::Digits);
        digits.integer().not_null();
        let mut last_step = ColumnDef::new(Factors::LastStep);
        last_step.big_integer().not_null().default(0);
        manager
            .create_table(
                Table::create()
                    .table(Factors::Table)
                    .if_not_exists()
                    .col(varchar(Factors::UserId, 255).primary_key())
                    .col(varchar(Factors::Secret, 255))
                    .col(varchar(Factors::Algorithm, 16))
                    .col(digits)
                    .col(last_step)
                    .col(ts_null(manager, Factors::ConfirmedAt))
                    .col(ts_not_null(manager, Factors::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Recovery::Table)
                    .if_not_exists()
                    .col(varchar(Recovery::UserId, 255))
                    .col(varchar(Recovery::Digest, 64))
                    .col(ts_not_null(manager, Recovery::CreatedAt))
                    .primary_key(Index::create().col(Recovery::UserId).col(Recovery::Digest))
                    .to_owned(),
            )
            .await?;
        let mut version = ColumnDef::new(Challenges::CredentialVersion);
        version.big_integer().not_null();
        manager
            .create_table(
                Table::create()
                    .table(Challenges::Table)
                    .if_not_exists()
                    .col(varchar(Challenges::Digest, 64).primary_key())
                    .col(varchar(Challenges::UserId, 255))
                    .col(version)
                    .col(ColumnDef::new(Challenges::Claims).text().not_null())
                    .col(ts_not_null(manager, Challenges::ExpiresAt))
                    .col(ts_not_null(manager, Challenges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Challenges::Table,
                "testudo_login_challenges",
                Challenges::UserId,
                "user_id",
            ))
            .await?;
        manager
            .create_index(index(
                Challenges::Table,
                "testudo_login_challenges",
                Challenges::ExpiresAt,
                "expires_at",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reauth::Table)
                    .if_not_exists()
                    .col(varchar(Reauth::UserId, 255).primary_key())
                    .col(ts_not_null(manager, Reauth::AuthenticatedAt))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::MySql {
            let collation = crate::common::exact_collation(manager).await?;
            for sql in exact_text(collation) {
                manager.get_connection().execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reauth::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Challenges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Recovery::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Factors::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Factors {
    #[sea_orm(iden = "testudo_totp_factors")]
    Table,
    UserId,
    Secret,
    Algorithm,
    Digits,
    LastStep,
    ConfirmedAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Recovery {
    #[sea_orm(iden = "testudo_recovery_codes")]
    Table,
    UserId,
    Digest,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Challenges {
    #[sea_orm(iden = "testudo_login_challenges")]
    Table,
    Digest,
    UserId,
    CredentialVersion,
    Claims,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reauth {
    #[sea_orm(iden = "testudo_reauthentications")]
    Table,
    UserId,
    AuthenticatedAt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifying_columns_keep_their_nullability_under_the_exact_collation() {
        let sql = exact_text("utf8mb4_nopad_bin").join("; ");
        assert_eq!(sql.matches("COLLATE utf8mb4_nopad_bin NOT NULL").count(), 6);
        assert_eq!(sql.matches("VARCHAR(64)").count(), 2);
    }
}
