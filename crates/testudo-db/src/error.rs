//! The crate's error, classified by the driver's error code.

use std::fmt;

use sea_orm::DbErr;

/// What kind of failure a database [`Error`] is, read from the driver's own error code (never
/// from the message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database aborted the statement so that running the whole transaction again can
    /// succeed: a deadlock (PostgreSQL 40P01, MySQL / MariaDB 1213, MariaDB's auto-increment
    /// lock deadlock 1467), a serialization failure (PostgreSQL 40001), a lock wait timeout
    /// (MySQL / MariaDB 1205, PostgreSQL 55P03 `lock_not_available`), or a busy / locked SQLite
    /// database (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes). [`crate::retrying`]
    /// runs such transactions again.
    Transient,
    /// A unique constraint (or primary key) was violated: the row exists already.
    UniqueViolation,
    /// The database cannot be reached or dropped the connection: I/O errors, a connection that
    /// could not be opened (other than the server refusing it with an error of its own), a
    /// connection the server terminated (PostgreSQL class 08 and 57P01..57P03, MySQL / MariaDB 2006, 2013,
    /// 1927, 1053), a pool that timed out or was closed, a call abandoned after getting no
    /// answer ([`Error::timed_out`]). Not retried automatically: a
    /// transaction whose `COMMIT` was lost may have committed.
    ConnectionLost,
    /// The table or the disk is full: MySQL / MariaDB 1114 (`ER_RECORD_FILE_FULL`, e.g. a
    /// `MEMORY` table at its size limit) and 1021 (disk full), PostgreSQL class 53
    /// (insufficient resources: disk full, out of memory), SQLite `SQLITE_FULL`. Freeing room
    /// (a cleanup) may let the statement succeed.
    Full,
    /// Anything else (a syntax error, a type mismatch, a violated check...).
    Other,
}

impl ErrorKind {
    /// A short description, used as the error's message.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "database aborted the transaction (deadlock or lock timeout)",
            Self::UniqueViolation => "unique constraint violated",
            Self::ConnectionLost => "database unreachable or connection lost",
            Self::Full => "database table or disk full",
            Self::Other => "database error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database failure: its [`ErrorKind`], with the driver's error as [`source`].
///
/// The message is the kind's description only; the driver's message (which may quote SQL or
/// values) is kept in [`source`] and never repeated in the message.
///
/// [`source`]: std::error::Error::source
pub struct Error {
    kind: ErrorKind,
    source: DbErr,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether running the whole transaction again can succeed ([`ErrorKind::Transient`]).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// Whether a unique constraint was violated ([`ErrorKind::UniqueViolation`]).
    #[must_use]
    pub fn is_unique_violation(&self) -> bool {
        self.kind == ErrorKind::UniqueViolation
    }

    /// An error of kind [`ErrorKind::Other`] for an invariant the database broke (e.g. a
    /// statement that wrote fewer rows than it must have); `what` says which.
    #[must_use]
    pub fn unexpected(what: &'static str) -> Self {
        Self {
            kind: ErrorKind::Other,
            source: DbErr::Custom(what.to_owned()),
        }
    }

    /// An error of kind [`ErrorKind::ConnectionLost`] for a call that got no answer within
    /// `after` and was abandoned (the server stalled: a network partition, a frozen host).
    /// Like any lost connection, what the call had sent may or may not have committed.
    #[must_use]
    pub fn timed_out(after: std::time::Duration) -> Self {
        Self {
            kind: ErrorKind::ConnectionLost,
            source: DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
                "no answer from the database within {after:?}"
            ))),
        }
    }

    /// The error for a handle that was never connected.
    pub(crate) fn disconnected() -> Self {
        Self {
            kind: ErrorKind::ConnectionLost,
            source: DbErr::Conn(sea_orm::RuntimeErr::Internal(
                "the database handle is not connected".to_owned(),
            )),
        }
    }

    /// The driver's error (the escape hatch towards sea-orm).
    #[must_use]
    pub fn as_sea_orm(&self) -> &DbErr {
        &self.source
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<DbErr> for Error {
    fn from(source: DbErr) -> Self {
        Self {
            kind: classify(&source),
            source,
        }
    }
}

impl From<sea_orm::TransactionError<DbErr>> for Error {
    fn from(e: sea_orm::TransactionError<DbErr>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e)
            | sea_orm::TransactionError::Transaction(e) => e.into(),
        }
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        Self::storage(e)
    }
}

/// The kind of a sea-orm error, from the driver's error code: the one classifier every testudo
/// crate uses.
fn classify(e: &DbErr) -> ErrorKind {
    use sea_orm::ConnAcquireErr;
    if matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        return ErrorKind::UniqueViolation;
    }
    match e {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            ErrorKind::ConnectionLost
        }
        // Opening a connection failed: unless the server answered with an error of its own
        // (a refused login, an unknown database) or the options are wrong, the server is
        // unreachable, whatever the driver makes of a connection closed mid-handshake
        // (PostgreSQL: a protocol error during the TLS negotiation).
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)) => match &**e {
            sea_orm::sqlx::Error::Database(_) | sea_orm::sqlx::Error::Configuration(_) => {
                classify_sqlx(e)
            }
            _ => ErrorKind::ConnectionLost,
        },
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => classify_sqlx(e),
        _ => ErrorKind::Other,
    }
}

/// The kind of a driver error (with no driver compiled in, every error is [`ErrorKind::Other`]).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn classify_sqlx(e: &sea_orm::sqlx::Error) -> ErrorKind {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
            ErrorKind::ConnectionLost
        }
        E::Database(db) => classify_database(&**db),
        _ => ErrorKind::Other,
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn classify_database(e: &dyn sea_orm::sqlx::error::DatabaseError) -> ErrorKind {
    #[cfg(feature = "mysql")]
    if let Some(m) = e.try_downcast_ref::<sea_orm::SqlxMySqlError>() {
        return mysql_kind(m.number());
    }
    #[cfg(feature = "sqlite")]
    if e.try_downcast_ref::<sea_orm::SqlxSqliteError>().is_some() {
        return e
            .code()
            .and_then(|c| c.parse::<u32>().ok())
            .map_or(ErrorKind::Other, sqlite_kind);
    }
    #[cfg(feature = "postgres")]
    if e.try_downcast_ref::<sea_orm::SqlxPostgresError>().is_some() {
        return e.code().map_or(ErrorKind::Other, |c| postgres_kind(&c));
    }
    let _ = e;
    ErrorKind::Other
}

/// MySQL / MariaDB error numbers.
#[cfg_attr(
    not(feature = "mysql"),
    expect(dead_code, reason = "used with the mysql driver")
)]
fn mysql_kind(number: u16) -> ErrorKind {
    match number {
        1205 | 1213 | 1467 => ErrorKind::Transient,
        1022 | 1062 | 1169 | 1586 => ErrorKind::UniqueViolation,
        1053 | 1927 | 2006 | 2013 => ErrorKind::ConnectionLost,
        1021 | 1114 => ErrorKind::Full,
        _ => ErrorKind::Other,
    }
}

/// SQLite result codes (the primary code is the low byte of an extended code).
#[cfg_attr(
    not(feature = "sqlite"),
    expect(dead_code, reason = "used with the sqlite driver")
)]
fn sqlite_kind(code: u32) -> ErrorKind {
    match code & 0xff {
        5 | 6 => ErrorKind::Transient,
        13 => ErrorKind::Full,
        _ if code == 2067 || code == 1555 => ErrorKind::UniqueViolation,
        _ => ErrorKind::Other,
    }
}

/// PostgreSQL SQLSTATE codes.
#[cfg_attr(
    not(feature = "postgres"),
    expect(dead_code, reason = "used with the postgres driver")
)]
fn postgres_kind(sqlstate: &str) -> ErrorKind {
    match sqlstate {
        "40001" | "40P01" | "55P03" => ErrorKind::Transient,
        "23505" => ErrorKind::UniqueViolation,
        "57P01" | "57P02" | "57P03" => ErrorKind::ConnectionLost,
        s if s.starts_with("08") => ErrorKind::ConnectionLost,
        s if s.starts_with("53") => ErrorKind::Full,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_codes_map_to_their_kinds() {
        assert_eq!(mysql_kind(1213), ErrorKind::Transient);
        assert_eq!(mysql_kind(1205), ErrorKind::Transient);
        assert_eq!(mysql_kind(1467), ErrorKind::Transient);
        assert_eq!(mysql_kind(1062), ErrorKind::UniqueViolation);
        assert_eq!(mysql_kind(2013), ErrorKind::ConnectionLost);
        assert_eq!(mysql_kind(1064), ErrorKind::Other);
        assert_eq!(mysql_kind(1114), ErrorKind::Full);
        assert_eq!(postgres_kind("53100"), ErrorKind::Full);
        assert_eq!(sqlite_kind(13), ErrorKind::Full);
        assert_eq!(postgres_kind("40P01"), ErrorKind::Transient);
        assert_eq!(postgres_kind("40001"), ErrorKind::Transient);
        assert_eq!(postgres_kind("23505"), ErrorKind::UniqueViolation);
        assert_eq!(postgres_kind("57P01"), ErrorKind::ConnectionLost);
        assert_eq!(postgres_kind("08006"), ErrorKind::ConnectionLost);
        assert_eq!(postgres_kind("42601"), ErrorKind::Other);
        assert_eq!(sqlite_kind(5), ErrorKind::Transient);
        assert_eq!(sqlite_kind(517), ErrorKind::Transient); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(sqlite_kind(6), ErrorKind::Transient);
        assert_eq!(sqlite_kind(2067), ErrorKind::UniqueViolation);
        assert_eq!(sqlite_kind(1), ErrorKind::Other);
    }

    #[test]
    fn errors_outside_the_driver_are_other() {
        let e = Error::from(DbErr::Custom("boom".into()));
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(!e.is_transient());
    }

    #[test]
    fn the_cause_is_in_source_only() {
        let e = Error::from(DbErr::Custom("secret sql text".into()));
        assert_eq!(e.to_string(), "database error");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert!(source.is_some_and(|s| s.contains("secret sql text")));
        let core = testudo_core::Error::from(e);
        assert_eq!(core.to_string(), "storage error");
    }

    #[test]
    fn a_connection_that_could_not_be_opened_is_a_lost_connection() {
        let closed = sea_orm::sqlx::Error::Protocol("unexpected response from SSLRequest".into());
        let e = Error::from(DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
            std::sync::Arc::new(closed),
        )));
        assert_eq!(e.kind(), ErrorKind::ConnectionLost);
        // The same driver error on an open connection is not.
        let e = Error::from(DbErr::Query(sea_orm::RuntimeErr::SqlxError(
            std::sync::Arc::new(sea_orm::sqlx::Error::Protocol("x".into())),
        )));
        assert_eq!(e.kind(), ErrorKind::Other);
    }

    #[test]
    fn a_timed_out_pool_is_a_lost_connection() {
        let e = Error::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        assert_eq!(e.kind(), ErrorKind::ConnectionLost);
    }
}
