//! `testudo_email_retvals`.

use sea_orm::entity::prelude::*;

/// The value returned by a successful email-token authentication for one address.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "testudo_email_retvals")]
pub struct Model {
    /// Normalised email address.
    #[sea_orm(primary_key, auto_increment = false)]
    pub email: String,
    /// The stored value.
    pub retval: String,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
