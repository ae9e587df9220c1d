//! `testudo_jwt_sessions`.

use sea_orm::entity::prelude::*;

/// The device context of one token family of the revocation list (a session: one login and
/// its rotations).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_jwt_sessions")]
pub struct Model {
    /// The token family id (`family_id` of the outstanding rows), which is the session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub family_id: String,
    /// The user the session belongs to.
    pub user_id: String,
    /// When the login happened.
    pub created_at: DateTimeUtc,
    /// The last login or refresh of the family (not access-token verification).
    pub last_used_at: DateTimeUtc,
    /// The client's IP address at login, when known.
    pub ip: Option<String>,
    /// The client's user agent at login (truncated), when known.
    pub user_agent: Option<String>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
