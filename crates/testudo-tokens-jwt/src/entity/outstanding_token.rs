//! `testudo_jwt_outstanding_tokens`: every JWT issued while the revocation list is on.

use sea_orm::entity::prelude::*;

/// One issued JWT.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_jwt_outstanding_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token's `jti` claim.
    #[sea_orm(unique)]
    pub jti: String,
    /// The token's `sub` claim.
    pub user_id: String,
    /// `access` or `refresh`.
    pub token_type: String,
    /// The token family: one login and the pairs its refresh tokens were rotated into.
    pub family_id: Option<String>,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// The token's `exp` claim.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
