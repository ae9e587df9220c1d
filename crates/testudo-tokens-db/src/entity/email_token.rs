//! `testudo_email_tokens`.

use sea_orm::entity::prelude::*;

/// One passwordless email token (only its digest).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_email_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Normalised email address.
    pub email: String,
    /// SHA-256 of the raw token, lowercase hex.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The IP the token is bound to, if any.
    pub ip: Option<String>,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// Expiry time.
    pub expires_at: DateTimeUtc,
    /// Consumed by its first successful use.
    pub single_use: bool,
    /// What the token may be used for (migration 10).
    pub purpose: String,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
