//! `testudo_api_keys`.

use sea_orm::entity::prelude::*;

/// One API key (only its digest).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_api_keys")]
pub struct Model {
    /// Row id: the key's public id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the raw key, lowercase hex.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// `user` or `service`.
    pub owner_kind: String,
    /// The user id or the service name.
    pub owner_id: String,
    /// A name for people (what the key is for).
    pub name: String,
    /// The scopes, sorted, separated by single spaces (empty: none).
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Expiry time; `None`: never expires.
    pub expires_at: Option<DateTimeUtc>,
    /// Last successful verification, to the minute.
    pub last_used_at: Option<DateTimeUtc>,
    /// When it was revoked; `None`: not revoked.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
