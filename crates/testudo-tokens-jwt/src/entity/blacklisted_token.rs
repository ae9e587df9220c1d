//! `testudo_jwt_blacklisted_tokens`: the `jti`s of revoked (and rotated) JWTs.

use sea_orm::entity::prelude::*;

/// One revoked `jti`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_jwt_blacklisted_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The revoked token's `jti` claim.
    #[sea_orm(unique)]
    pub jti: String,
    /// When it was revoked.
    pub blacklisted_at: DateTimeUtc,
    /// The revoked token's `exp` claim (`None` when the token had none); after this time the
    /// row can be deleted.
    pub expires_at: Option<DateTimeUtc>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
