//! `testudo_refresh_tokens.session_started_at`: when the login a refresh token descends from
//! happened.

use sea_orm_migration::prelude::*;

use crate::common::{add_column, drop_column, ts_null};

/// Adds a nullable `session_started_at` timestamp to `testudo_refresh_tokens`.
///
/// Rotation copies it from the rotated token to its successor, so the token family of one
/// login knows when that login was, and no token of it outlives `session_max_lifetime`
/// counted from there. Rows from before this migration have none: their family counts from
/// its next rotation.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ts_null(manager, Refresh::SessionStartedAt);
        add_column(manager, Refresh::Table, column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Refresh::Table, Refresh::SessionStartedAt).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Refresh {
    #[sea_orm(iden = "testudo_refresh_tokens")]
    Table,
    SessionStartedAt,
}
