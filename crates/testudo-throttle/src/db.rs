//! [`DbRateLimiter`]: the backend on the shared database (feature `db`).

use std::fmt;
use std::sync::{Arc, OnceLock};

use sea_orm::{ConnectionTrait, Statement, Value};
use testudo_core::{Clock, Result, async_trait};
use testudo_db::{Database, Dialect, ErrorKind, retrying};

use crate::error::Error;
use crate::policy::{Params, State};
use crate::{Decision, Policy, RateKey, RateLimiter};

/// Rate limiting in the `testudo_rate_limits` table (migration 12), for several nodes sharing
/// one database: SQLite, PostgreSQL or MySQL / MariaDB.
///
/// Each attempt is **one atomic upsert** of the key's row that checks and records at once
/// (`INSERT .. ON CONFLICT DO UPDATE .. RETURNING` on SQLite and PostgreSQL; on MariaDB 10.5+
/// `INSERT .. ON DUPLICATE KEY UPDATE .. RETURNING`; on MySQL and older MariaDB the same
/// without `RETURNING` and the read of the row in the same transaction, which holds the row's
/// lock), so N parallel attempts from any number of
/// processes cannot exceed the limit. Statements the database aborts (deadlock, lock timeout,
/// busy SQLite) run again through [`testudo_db::retrying`]. The time is the injected clock's,
/// taken once per attempt: nodes whose clocks disagree by more than a few milliseconds make
/// windows and waits inexact by that much.
///
/// One attempt costs one round trip on SQLite, PostgreSQL and MariaDB 10.5 or later (the
/// upsert with `RETURNING`); four on MySQL and older MariaDB (`BEGIN`, the upsert, the read,
/// `COMMIT`). None waits for a disk flush but SQLite's: on PostgreSQL the statement's commit
/// does not wait for the WAL, and on MySQL / MariaDB the table is in the `MEMORY` engine
/// (migration 15), so a server crash or restart may forget recent attempts, never leave a row
/// inconsistent. A `MEMORY` table at its size limit is purged of expired rows, then the
/// attempt runs once more; a table full of live rows fails the attempt with a storage error
/// of kind [`Full`](testudo_db::ErrorKind::Full). The row holds the key's SHA-256 digest,
/// never the identifier or address.
#[derive(Clone)]
pub struct DbRateLimiter {
    db: Database,
    clock: Arc<dyn Clock>,
    /// On MySQL / MariaDB: whether the server is MariaDB 10.5 or later, whose
    /// `INSERT .. RETURNING` also returns the row an `ON DUPLICATE KEY UPDATE` left (asked once).
    mariadb_returning: Arc<OnceLock<bool>>,
}

impl fmt::Debug for DbRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbRateLimiter")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// `A`: the count after an allowed attempt (the old row's columns).
const COUNT: &str = "(CASE WHEN testudo_rate_limits.window_end <= {now} THEN 1 \
                     ELSE testudo_rate_limits.attempts + 1 END)";

/// The check-and-record upsert on SQLite and PostgreSQL, where every `SET` expression reads the
/// old row: [`Params::hit`] in SQL. `{least}` and `{shift}` are spelled per dialect.
const UPSERT: &str = "INSERT INTO testudo_rate_limits \
    (key_hash, attempts, window_end, blocked_until, last_allowed) \
    VALUES ({key}, {fresh_attempts}, {fresh_window_end}, {fresh_blocked_until}, 1) \
    ON CONFLICT (key_hash) DO UPDATE SET \
    attempts = CASE WHEN testudo_rate_limits.blocked_until > {now} \
        THEN testudo_rate_limits.attempts + {refused_inc} ELSE {COUNT} END, \
    window_end = CASE WHEN testudo_rate_limits.blocked_until > {now} \
        THEN testudo_rate_limits.window_end \
        WHEN {COUNT} >= {max} AND {extend} = 1 THEN {now} + {DELAY} + {window} \
        WHEN testudo_rate_limits.window_end <= {now} THEN {now} + {window} \
        ELSE testudo_rate_limits.window_end END, \
    blocked_until = CASE WHEN testudo_rate_limits.blocked_until > {now} \
        THEN testudo_rate_limits.blocked_until \
        WHEN {COUNT} >= {max} THEN {now} + {DELAY} ELSE {now} END, \
    last_allowed = CASE WHEN testudo_rate_limits.blocked_until > {now} THEN 0 ELSE 1 END \
    {RETURNING}";

/// The columns every upsert returns (MySQL / MariaDB: read in the same transaction instead,
/// before MariaDB 10.5).
const RETURNING: &str = "RETURNING attempts, window_end, blocked_until, last_allowed";

/// The same on MySQL / MariaDB, whose `SET` assignments run left to right, each seeing the
/// columns assigned before it: `last_allowed` first (from the old `blocked_until`), then
/// `blocked_until` and `attempts` (from the old count and window), then `window_end` (from the
/// new count and wait).
const UPSERT_MYSQL: &str = "INSERT INTO testudo_rate_limits \
    (key_hash, attempts, window_end, blocked_until, last_allowed) \
    VALUES ({key}, {fresh_attempts}, {fresh_window_end}, {fresh_blocked_until}, 1) \
    ON DUPLICATE KEY UPDATE \
    last_allowed = CASE WHEN blocked_until > {now} THEN 0 ELSE 1 END, \
    blocked_until = CASE WHEN last_allowed = 0 THEN blocked_until \
        WHEN {COUNT} >= {max} THEN {now} + {DELAY} ELSE {now} END, \
    attempts = CASE WHEN last_allowed = 0 THEN attempts + {refused_inc} ELSE {COUNT} END, \
    window_end = CASE WHEN last_allowed = 0 THEN window_end \
        WHEN attempts >= {max} AND {extend} = 1 THEN blocked_until + {window} \
        WHEN window_end <= {now} THEN {now} + {window} \
        ELSE window_end END";

/// `min(base << min(A - max, shift_cap), cap)`.
const DELAY: &str = "{least}({shift}, {cap})";

impl DbRateLimiter {
    /// A limiter on `db` (migrated: it needs `testudo_rate_limits`), reading the time from
    /// `clock`.
    #[must_use]
    pub fn new(db: Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            mariadb_returning: Arc::default(),
        }
    }

    /// Whether this MySQL-family server is MariaDB 10.5 or later (read once from `VERSION()`).
    async fn mariadb_returning(&self) -> Result<bool, Error> {
        if let Some(&known) = self.mariadb_returning.get() {
            return Ok(known);
        }
        let row = self
            .db
            .as_sea_orm()
            .query_one_raw(Statement::from_string(
                self.db.dialect().backend(),
                "SELECT VERSION() AS version",
            ))
            .await?;
        let version = match row {
            Some(row) => row.try_get::<String>("", "version")?,
            None => String::new(),
        };
        let known = returning_upsert(&version);
        Ok(*self.mariadb_returning.get_or_init(|| known))
    }

    async fn hit_once(&self, key: &str, params: &Params) -> Result<(State, bool, i64), Error> {
        let now = self.clock.now().timestamp_micros();
        let (fresh, _) = params.hit(None, now);
        let dialect = self.db.dialect();
        let (least, shift) = match dialect {
            Dialect::Postgres => (
                "LEAST",
                "({base} << (LEAST({COUNT} - {max}, {shift_cap}))::integer)",
            ),
            Dialect::MySql => ("LEAST", "({base} << LEAST({COUNT} - {max}, {shift_cap}))"),
            _ => ("MIN", "({base} << MIN({COUNT} - {max}, {shift_cap}))"),
        };
        let (template, count) = match dialect {
            Dialect::MySql => (
                UPSERT_MYSQL.to_owned(),
                "(CASE WHEN window_end <= {now} THEN 1 ELSE attempts + 1 END)",
            ),
            // The row to insert is selected beside `set_config('synchronous_commit', 'off',
            // true)`, so the statement's own transaction does not wait for its WAL flush
            // (about 6 ms per attempt on the project's machines): a server crash may forget
            // the last fraction of a second of attempts, never leave a row inconsistent. Only
            // this statement is affected.
            Dialect::Postgres => (UPSERT.replacen("VALUES (", "SELECT ", 1).replacen(
                ", 1) ON CONFLICT",
                ", 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS cfg ON CONFLICT",
                1,
            ), COUNT),
            _ => (UPSERT.to_owned(), COUNT),
        };
        let sql = template
            .replace("{DELAY}", DELAY)
            .replace("{least}", least)
            .replace("{shift}", shift)
            .replace("{COUNT}", count)
            .replace("{RETURNING}", RETURNING);
        let args: [(&str, Value); 12] = [
            ("key", key.to_owned().into()),
            ("fresh_attempts", fresh.attempts.into()),
            ("fresh_window_end", fresh.window_end.into()),
            ("fresh_blocked_until", fresh.blocked_until.into()),
            ("now", now.into()),
            ("refused_inc", params.refused_inc.into()),
            ("max", params.max.into()),
            ("extend", i64::from(params.extend).into()),
            ("window", params.window.into()),
            ("base", params.base.into()),
            ("shift_cap", params.shift_cap.into()),
            ("cap", params.cap.into()),
        ];
        let conn = self.db.as_sea_orm();
        let row = if dialect == Dialect::MySql && !self.mariadb_returning().await? {
            let txn = self.db.begin().await?;
            txn.execute_raw(bind(dialect, &sql, &args)).await?;
            let read = bind(
                dialect,
                "SELECT attempts, window_end, blocked_until, last_allowed \
                 FROM testudo_rate_limits WHERE key_hash = {key}",
                &args,
            );
            let row = txn.query_one_raw(read).await?;
            txn.commit().await?;
            row
        } else {
            // MariaDB 10.5+ returns the row its upsert left, as SQLite and PostgreSQL do.
            let returning = if dialect == Dialect::MySql {
                format!("{sql} {RETURNING}")
            } else {
                sql
            };
            conn.query_one_raw(bind(dialect, &returning, &args)).await?
        };
        let row = row.ok_or_else(|| {
            Error::Storage(testudo_db::Error::unexpected(
                "the rate-limit upsert returned no row",
            ))
        })?;
        let state = State {
            attempts: row.try_get::<i64>("", "attempts")?,
            window_end: row.try_get::<i64>("", "window_end")?,
            blocked_until: row.try_get::<i64>("", "blocked_until")?,
        };
        let allowed = row.try_get::<i16>("", "last_allowed")? != 0;
        Ok((state, allowed, now))
    }
}

/// Whether a server whose `VERSION()` is `version` is MariaDB 10.5 or later (MySQL has no
/// `INSERT .. RETURNING`; MariaDB's version reads `10.11.19-MariaDB-0+deb12u1`).
fn returning_upsert(version: &str) -> bool {
    if !version.contains("MariaDB") {
        return false;
    }
    let mut parts = version.split(['.', '-']).map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= (10, 5),
        _ => false,
    }
}

/// Binds the `{name}` parameters of `sql` from `args`: `$n` (one per name, reused) on
/// PostgreSQL and SQLite, one `?` per occurrence on MySQL / MariaDB.
fn bind(dialect: Dialect, sql: &str, args: &[(&str, Value)]) -> Statement {
    let mut out = String::with_capacity(sql.len());
    let mut values: Vec<Value> = Vec::new();
    let mut numbered: Vec<&str> = Vec::new();
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &after[..close];
        let value = args
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Value::BigInt(None), |(_, v)| v.clone());
        if dialect == Dialect::MySql {
            values.push(value);
            out.push('?');
        } else {
            let index = match numbered.iter().position(|n| *n == name) {
                Some(i) => i + 1,
                None => {
                    numbered.push(name);
                    values.push(value);
                    numbered.len()
                }
            };
            out.push('$');
            out.push_str(&index.to_string());
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Statement::from_sql_and_values(dialect.backend(), out, values)
}

#[async_trait]
impl RateLimiter for DbRateLimiter {
    #[tracing::instrument(level = "debug", skip_all, fields(scope = key.scope()))]
    async fn hit(&self, key: &RateKey, policy: &Policy) -> Result<Decision> {
        let params = policy.params()?;
        let digest = key.digest_hex();
        let attempt = || retrying(|| self.hit_once(&digest, &params));
        let (state, allowed, now) = match attempt().await {
            // A table at its size limit (MySQL / MariaDB's `MEMORY` engine, migration 15):
            // expired rows make room, then one more try.
            Err(Error::Storage(e)) if e.kind() == ErrorKind::Full => {
                let purged = RateLimiter::cleanup(self).await?;
                tracing::warn!(purged, "rate-limit table full: expired rows purged");
                attempt().await?
            }
            other => other?,
        };
        Ok(params.decision(&state, allowed, now))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(scope = key.scope()))]
    async fn reset(&self, key: &RateKey) -> Result<()> {
        let args = [("key", Value::from(key.digest_hex()))];
        let dialect = self.db.dialect();
        retrying(|| async {
            let sql = "DELETE FROM testudo_rate_limits WHERE key_hash = {key}";
            self.db
                .as_sea_orm()
                .execute_raw(bind(dialect, sql, &args))
                .await
                .map_err(Error::from)
        })
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn cleanup(&self) -> Result<u64> {
        let dialect = self.db.dialect();
        let n = retrying(|| async {
            let args = [("now", Value::from(self.clock.now().timestamp_micros()))];
            let sql = "DELETE FROM testudo_rate_limits \
                       WHERE window_end <= {now} AND blocked_until <= {now}";
            self.db
                .as_sea_orm()
                .execute_raw(bind(dialect, sql, &args))
                .await
                .map(|r| r.rows_affected())
                .map_err(Error::from)
        })
        .await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mariadb_10_5_and_later_upsert_with_returning() {
        assert!(returning_upsert("10.11.19-MariaDB-0+deb12u1"));
        assert!(returning_upsert("10.5.0-MariaDB"));
        assert!(returning_upsert("11.4.2-MariaDB-log"));
        assert!(!returning_upsert("10.4.34-MariaDB"));
        assert!(!returning_upsert("8.0.36"));
        assert!(!returning_upsert("8.4.0-MySQL"));
        assert!(!returning_upsert("MariaDB"));
    }

    #[test]
    fn parameters_are_numbered_once_per_name_or_repeated_for_mysql() {
        let args = [("a", Value::from(1i64)), ("b", Value::from(2i64))];
        let pg = bind(Dialect::Postgres, "{a} + {b} + {a}", &args);
        assert_eq!(pg.sql, "$1 + $2 + $1");
        assert_eq!(pg.values.map(|v| v.0.len()), Some(2));
        let my = bind(Dialect::MySql, "{a} + {b} + {a}", &args);
        assert_eq!(my.sql, "? + ? + ?");
        assert_eq!(my.values.map(|v| v.0.len()), Some(3));
    }
}
