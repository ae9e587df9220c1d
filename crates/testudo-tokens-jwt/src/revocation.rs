//! The database revocation list: the outstanding (issued) and blacklisted `jti`s.
//!
//! Every write that can race another one is a conditional insert into the blacklist (`ON
//! CONFLICT (jti) DO NOTHING` on PostgreSQL and SQLite, `INSERT IGNORE` on MySQL / MariaDB): the
//! unique `jti` index decides who blacklisted a token first, so nothing reads and then writes.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use testudo_core::{TokenType, saturating_from_unix};
use testudo_db::Dialect;

use crate::entity::{blacklisted_token as blacklisted, outstanding_token as outstanding};

/// One token to record as outstanding.
pub(crate) struct Issued<'a> {
    pub(crate) jti: &'a str,
    pub(crate) token_type: TokenType,
    pub(crate) exp: i64,
}

/// Records a pair as outstanding, both rows in one statement (the caller's transaction).
pub(crate) async fn record<C: ConnectionTrait>(
    c: &C,
    user_id: &str,
    family_id: &str,
    now: DateTime<Utc>,
    tokens: &[Issued<'_>; 2],
) -> Result<(), DbErr> {
    let rows = tokens.each_ref().map(|t| outstanding::ActiveModel {
        jti: Set(t.jti.to_owned()),
        user_id: Set(user_id.to_owned()),
        token_type: Set(t.token_type.as_str().to_owned()),
        family_id: Set(Some(family_id.to_owned())),
        created_at: Set(now),
        expires_at: Set(saturating_from_unix(t.exp)),
        ..Default::default()
    });
    outstanding::Entity::insert_many(rows).exec(c).await?;
    Ok(())
}

/// Blacklists one `jti`; `true` when this call inserted it, `false` when it was there already.
pub(crate) async fn blacklist_one<C: ConnectionTrait>(
    c: &C,
    jti: &str,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let dialect = Dialect::from_sea_orm(backend);
    let (insert, conflict) = dialect.insert_ignoring("jti");
    let sql = format!(
        "{insert} testudo_jwt_blacklisted_tokens (jti, blacklisted_at, expires_at) \
         VALUES ({}, {}, {}){conflict}",
        dialect.placeholder(1),
        dialect.placeholder(2),
        dialect.placeholder(3),
    );
    let res = c
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [jti.into(), now.into(), expires_at.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Which outstanding rows [`blacklist_outstanding`] blacklists.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Every token of a user.
    User(&'a str),
    /// Every token of a family.
    Family(&'a str),
    /// The access tokens of a family.
    FamilyAccess(&'a str),
    /// Every token of a user outside one family (tokens recorded without a family included).
    UserExcept {
        /// The user.
        user: &'a str,
        /// The family left alone.
        keep: &'a str,
    },
}

impl Scope<'_> {
    /// The condition on the outstanding row `o` (its placeholders numbered from `first`) and
    /// the values it binds.
    fn condition(self, dialect: Dialect, first: usize) -> (String, Vec<sea_orm::Value>) {
        let p = |i: usize| dialect.placeholder(first + i);
        match self {
            Self::User(u) => (format!("o.user_id = {}", p(0)), vec![u.into()]),
            Self::Family(f) => (format!("o.family_id = {}", p(0)), vec![f.into()]),
            Self::FamilyAccess(f) => (
                format!("o.family_id = {} AND o.token_type = 'access'", p(0)),
                vec![f.into()],
            ),
            Self::UserExcept { user, keep } => (
                format!(
                    "o.user_id = {} AND (o.family_id IS NULL OR o.family_id <> {})",
                    p(0),
                    p(1)
                ),
                vec![user.into(), keep.into()],
            ),
        }
    }
}

/// Blacklists every outstanding, not yet blacklisted `jti` in `scope` and returns how many
/// were blacklisted by this call: one `INSERT ... SELECT` on PostgreSQL and SQLite; on MySQL /
/// MariaDB a `SELECT` then one multi-row `INSERT IGNORE` (an `INSERT ... SELECT` takes `InnoDB`'s
/// table-level auto-increment lock and deadlocks under concurrent use).
pub(crate) async fn blacklist_outstanding<C: ConnectionTrait>(
    c: &C,
    scope: Scope<'_>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let backend = c.get_database_backend();
    let dialect = Dialect::from_sea_orm(backend);
    let (insert, conflict) = dialect.insert_ignoring("jti");
    if backend == DatabaseBackend::MySql {
        let (condition, values) = scope.condition(dialect, 1);
        let sql = format!(
            "SELECT o.jti, o.expires_at FROM testudo_jwt_outstanding_tokens o \
             WHERE {condition} AND NOT EXISTS \
             (SELECT 1 FROM testudo_jwt_blacklisted_tokens b WHERE b.jti = o.jti) ORDER BY o.jti"
        );
        let rows = c
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut values = Vec::with_capacity(rows.len() * 3);
        for row in &rows {
            values.push(row.try_get::<String>("", "jti")?.into());
            values.push(now.into());
            values.push(row.try_get::<DateTime<Utc>>("", "expires_at")?.into());
        }
        let sql = format!(
            "INSERT IGNORE INTO testudo_jwt_blacklisted_tokens (jti, blacklisted_at, expires_at) \
             VALUES {}",
            vec!["(?, ?, ?)"; rows.len()].join(", ")
        );
        let res = c
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        return Ok(res.rows_affected());
    }
    let (condition, scope_values) = scope.condition(dialect, 2);
    let sql = format!(
        "{insert} testudo_jwt_blacklisted_tokens (jti, blacklisted_at, expires_at) \
         SELECT o.jti, {}, o.expires_at FROM testudo_jwt_outstanding_tokens o \
         WHERE {condition} AND NOT EXISTS \
         (SELECT 1 FROM testudo_jwt_blacklisted_tokens b WHERE b.jti = o.jti){conflict}",
        dialect.placeholder(1),
    );
    let mut values = vec![now.into()];
    values.extend(scope_values);
    let res = c
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(res.rows_affected())
}

/// Whether `jti` is blacklisted.
pub(crate) async fn is_blacklisted<C: ConnectionTrait>(c: &C, jti: &str) -> Result<bool, DbErr> {
    Ok(blacklisted::Entity::find()
        .select_only()
        .column(blacklisted::Column::Id)
        .filter(blacklisted::Column::Jti.eq(jti))
        .into_tuple::<i64>()
        .one(c)
        .await?
        .is_some())
}

/// The outstanding row of `jti`.
pub(crate) async fn outstanding_row<C: ConnectionTrait>(
    c: &C,
    jti: &str,
) -> Result<Option<outstanding::Model>, DbErr> {
    outstanding::Entity::find()
        .filter(outstanding::Column::Jti.eq(jti))
        .one(c)
        .await
}

/// When `row` was rotated: the issue time of the next refresh token of its family, if there is
/// one (`None`: it was not rotated).
pub(crate) async fn rotated_at<C: ConnectionTrait>(
    c: &C,
    row: &outstanding::Model,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let Some(family) = &row.family_id else {
        return Ok(None);
    };
    outstanding::Entity::find()
        .select_only()
        .column(outstanding::Column::CreatedAt)
        .filter(outstanding::Column::FamilyId.eq(family.as_str()))
        .filter(outstanding::Column::TokenType.eq(TokenType::Refresh.as_str()))
        .filter(outstanding::Column::Id.gt(row.id))
        .order_by_asc(outstanding::Column::Id)
        .into_tuple::<DateTime<Utc>>()
        .one(c)
        .await
}

/// Deletes the outstanding rows expired at `cutoff`, their blacklist rows and the blacklist rows
/// expired at `cutoff` (tokens that had no outstanding row); returns how many rows.
pub(crate) async fn delete_expired<C: ConnectionTrait>(
    c: &C,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let expired = Query::select()
        .column(outstanding::Column::Jti)
        .from(outstanding::Entity)
        .and_where(outstanding::Column::ExpiresAt.lte(cutoff))
        .to_owned();
    let b = blacklisted::Entity::delete_many()
        .filter(
            Condition::any()
                .add(blacklisted::Column::Jti.in_subquery(expired))
                .add(blacklisted::Column::ExpiresAt.lte(cutoff)),
        )
        .exec(c)
        .await?;
    let o = outstanding::Entity::delete_many()
        .filter(outstanding::Column::ExpiresAt.lte(cutoff))
        .exec(c)
        .await?;
    Ok(b.rows_affected + o.rows_affected)
}
