//! The SQL spellings that differ between SQLite, PostgreSQL and MySQL / MariaDB.

use std::fmt;

use sea_orm::DatabaseBackend;

/// Which SQL dialect a [`Database`](crate::Database) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Dialect {
    /// The `n`th (1-based) bind parameter: `$n` on PostgreSQL, `?` elsewhere.
    #[must_use]
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Self::Postgres => format!("${n}"),
            Self::Sqlite | Self::MySql => "?".to_owned(),
        }
    }

    /// The words around an `INSERT` that skips rows whose unique key exists already:
    /// `("INSERT IGNORE INTO", "")` on MySQL / MariaDB, `("INSERT INTO", " ON CONFLICT (key)
    /// DO NOTHING")` elsewhere (`key` is the conflicting column).
    #[must_use]
    pub fn insert_ignoring(self, key: &str) -> (&'static str, String) {
        match self {
            Self::MySql => ("INSERT IGNORE INTO", String::new()),
            Self::Sqlite | Self::Postgres => {
                ("INSERT INTO", format!(" ON CONFLICT ({key}) DO NOTHING"))
            }
        }
    }

    /// The name of the dialect for messages: `sqlite`, `postgres`, `mysql`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }

    /// The sea-orm backend of this dialect (to build statements with sea-query).
    #[must_use]
    pub const fn backend(self) -> DatabaseBackend {
        match self {
            Self::Sqlite => DatabaseBackend::Sqlite,
            Self::Postgres => DatabaseBackend::Postgres,
            Self::MySql => DatabaseBackend::MySql,
        }
    }

    pub(crate) fn of(backend: DatabaseBackend) -> Self {
        match backend {
            DatabaseBackend::Postgres => Self::Postgres,
            DatabaseBackend::MySql => Self::MySql,
            _ => Self::Sqlite,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        assert_eq!(Dialect::Postgres.placeholder(3), "$3");
        assert_eq!(Dialect::MySql.placeholder(3), "?");
        assert_eq!(Dialect::Sqlite.placeholder(1), "?");
    }

    #[test]
    fn inserts_that_skip_duplicates_follow_the_dialect() {
        assert_eq!(
            Dialect::MySql.insert_ignoring("jti"),
            ("INSERT IGNORE INTO", String::new())
        );
        assert_eq!(
            Dialect::Postgres.insert_ignoring("jti"),
            ("INSERT INTO", " ON CONFLICT (jti) DO NOTHING".to_owned())
        );
    }

    #[test]
    fn every_dialect_maps_to_its_backend_and_back() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            assert_eq!(Dialect::of(d.backend()), d);
        }
    }
}
