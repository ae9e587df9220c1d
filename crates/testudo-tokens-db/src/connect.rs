//! Connecting with good defaults.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::Result;

/// Connection options with testudo's defaults for `url`: sqlx statement logging off; for SQLite
/// files WAL, create-if-missing, a busy timeout and a pool of 8; for `sqlite::memory:` one
/// connection kept open forever (the database lives as long as the pool).
#[must_use]
pub fn connect_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        if url.contains(":memory:") || url.contains("mode=memory") {
            opts.max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opts.max_connections(8).min_connections(1);
            #[cfg(feature = "sqlite")]
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(10))
            });
        }
    }
    opts
}

/// Connects to `url` with [`connect_options`].
///
/// # Errors
///
/// [`crate::Error::Storage`] when the database cannot be opened.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    Ok(Database::connect(connect_options(url)).await?)
}
