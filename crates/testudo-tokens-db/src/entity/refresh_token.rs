//! `testudo_refresh_tokens`.

use sea_orm::entity::prelude::*;

/// One refresh token (only its digest).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_refresh_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the raw token, lowercase hex.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// Token id (UUID, simple hex).
    #[sea_orm(unique)]
    pub jti: String,
    /// The user the token was issued to.
    pub user_id: String,
    /// The token family (one login and its rotations).
    pub family_id: String,
    /// The jti of the access token issued with it.
    pub access_jti: String,
    /// Extra claims carried to the next pair, as a JSON object.
    pub extra: Option<String>,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// Expiry time.
    pub expires_at: DateTimeUtc,
    /// Whether the token was revoked (or rotated).
    pub is_revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// When it was used to rotate (reuse detection).
    pub rotated_at: Option<DateTimeUtc>,
    /// The jti of the refresh token that replaced it.
    pub replaced_by_jti: Option<String>,
    /// When the login its family descends from happened (migration 11; `None` on older rows).
    pub session_started_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
