//! Database faults on demand (feature `faults`): a TCP [`Proxy`] between a pool and the real
//! server, connection kills from the server side, and triggers that make an insert fail.
//!
//! The shared PostgreSQL / MariaDB servers are never stopped: "the server is down" is the
//! proxy refusing connections and dropping the live ones ([`Proxy::stop`]), "the server is
//! back" is [`Proxy::start`], and "the server hangs" is [`Proxy::stall`] (bytes are held, not
//! dropped, until [`Proxy::start`]). Point a pool at [`Proxy::url`] of the test database's URL
//! ([`TestDb::url`](crate::db::TestDb::url)) and keep the [`TestDb`](crate::db::TestDb) itself
//! for the test's own SQL and cleanup.
//!
//! ```no_run
//! use testudo_test_support::TestResult;
//! use testudo_test_support::db::{Backend, TestDb};
//! use testudo_test_support::faults::Proxy;
//!
//! # async fn f(backend: Backend) -> TestResult {
//! let db = TestDb::new(backend).await?;
//! let proxy = Proxy::start_for(db.server_url().ok_or("a server database")?).await?;
//! let pool = testudo_db::Database::connect(&proxy.url()).await?;
//! proxy.stop(); // every call on `pool` now fails
//! proxy.start(); // and works again
//! pool.close().await?;
//! db.cleanup().await?;
//! # Ok(()) }
//! # fn main() {}
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{ConnectionTrait, Statement};
use testudo_db::{Database, Dialect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use crate::TestResult;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Running,
    /// Holds every byte (nothing is forwarded, nothing is closed) until running again.
    Stalled,
    /// Refuses new connections (accepts and closes them at once); live ones were dropped.
    Stopped,
}

/// The proxy's state shared with its tasks.
#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    /// The live connections: their task, by id.
    conns: Mutex<HashMap<u64, AbortHandle>>,
    next: AtomicU64,
    /// How many connections were accepted in all (refused ones included).
    accepted: AtomicU64,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, AbortHandle>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the mode; with `kill`, drops every live connection (under the same lock as the
    /// registration of new ones, so none slips through).
    fn set(&self, mode: Mode, kill: bool) {
        let mut conns = self.conns();
        self.mode.send_replace(mode);
        if kill {
            for (_, task) in conns.drain() {
                task.abort();
            }
        }
    }
}

/// A TCP proxy on `127.0.0.1:0` forwarding to a database server, whose traffic a test can
/// stop, stall and start again. Dropping it closes everything.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    url: Option<String>,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.set(Mode::Stopped, true);
    }
}

impl Proxy {
    /// A running proxy to `target`.
    ///
    /// # Errors
    ///
    /// When no local port can be bound.
    pub async fn to(target: SocketAddr) -> TestResult<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            mode: watch::Sender::new(Mode::Running),
            conns: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            url: None,
            shared,
            accept,
        })
    }

    /// A running proxy to the server of `url` (`scheme://[user@]host:port/db`), whose
    /// [`Proxy::url`] is `url` with its host and port replaced by the proxy's.
    ///
    /// # Errors
    ///
    /// When the URL names no `host:port` that resolves, or no local port can be bound.
    pub async fn start_for(url: &str) -> TestResult<Self> {
        let (host, _) = authority(url).ok_or("the URL has no host:port")?;
        let target = tokio::net::lookup_host(host)
            .await?
            .next()
            .ok_or("the URL's host does not resolve")?;
        let mut proxy = Self::to(target).await?;
        proxy.url = Some(with_authority(url, &proxy.addr.to_string()));
        Ok(proxy)
    }

    /// The proxy's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL given to [`Proxy::start_for`], through the proxy (empty for [`Proxy::to`]).
    #[must_use]
    pub fn url(&self) -> String {
        self.url.clone().unwrap_or_default()
    }

    /// "The server is down": every live connection is dropped, new ones are accepted and
    /// closed at once, until [`Proxy::start`].
    pub fn stop(&self) {
        self.shared.set(Mode::Stopped, true);
    }

    /// "The server is back" (also ends a [`Proxy::stall`], delivering what was held).
    pub fn start(&self) {
        self.shared.set(Mode::Running, false);
    }

    /// "The server hangs": nothing is forwarded and nothing is closed until [`Proxy::start`].
    pub fn stall(&self) {
        self.shared.set(Mode::Stalled, false);
    }

    /// "The server terminated every connection" but stays up: live connections are dropped,
    /// new ones are forwarded.
    pub fn kill_connections(&self) {
        let mode = *self.shared.mode.borrow();
        self.shared.set(mode, true);
    }

    /// How many connections are live.
    #[must_use]
    pub fn live_connections(&self) -> usize {
        self.shared.conns().len()
    }

    /// How many connections were accepted since the proxy started (refused ones included).
    #[must_use]
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        let id = shared.next.fetch_add(1, Ordering::SeqCst);
        let mut conns = shared.conns();
        if *shared.mode.borrow() == Mode::Stopped {
            drop(client);
            continue;
        }
        let task = tokio::spawn(forward(client, Arc::clone(&shared), id));
        conns.insert(id, task.abort_handle());
    }
}

/// One connection: connect upstream, then pump both ways until either side closes.
async fn forward(client: TcpStream, shared: Arc<Shared>, id: u64) {
    if let Ok(server) = TcpStream::connect(shared.target).await {
        let _ = server.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let up = pump(cr, sw, shared.mode.subscribe());
        let down = pump(sr, cw, shared.mode.subscribe());
        tokio::select! {
            () = up => {}
            () = down => {}
        }
    }
    shared.conns().remove(&id);
}

/// Copies `from` to `to`, holding each chunk while the proxy is stalled; ends on EOF, an error
/// or a stop.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match mode.wait_for(|m| *m != Mode::Stalled).await {
            Ok(m) if *m == Mode::Running => {}
            _ => return,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The `host:port` of a URL and the byte range it occupies.
fn authority(url: &str) -> Option<(&str, std::ops::Range<usize>)> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    Some((&url[host_start..end], host_start..end))
}

/// `url` with its `host:port` replaced by `addr`.
fn with_authority(url: &str, addr: &str) -> String {
    match authority(url) {
        Some((_, range)) => format!("{}{addr}{}", &url[..range.start], &url[range.end..]),
        None => url.to_owned(),
    }
}

/// Terminates, from the server side, the connections to the database `name` other than the one
/// `admin` runs this on (PostgreSQL `pg_terminate_backend`, MariaDB `KILL`): every one, or with
/// `in_transaction` only those inside an open transaction. Returns how many were terminated.
///
/// MariaDB's list of open transactions (`INNODB_TRX`) is a snapshot refreshed at most every
/// 100 ms, so it can miss a transaction just begun and still show one just ended: with
/// `in_transaction` the query is repeated for up to 2 s until it finds one, but to terminate
/// one transaction's connection for sure, give its pool a single connection and terminate
/// them all.
///
/// # Errors
///
/// When the statements fail (SQLite has no connections to terminate: an error).
pub async fn terminate_connections(
    admin: &Database,
    name: &str,
    in_transaction: bool,
) -> TestResult<u64> {
    let conn = admin.as_sea_orm();
    let backend = conn.get_database_backend();
    match admin.dialect() {
        Dialect::Postgres => {
            let state = if in_transaction {
                " AND state LIKE 'idle in transaction%'"
            } else {
                ""
            };
            let rows = conn
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity \
                         WHERE datname = $1 AND pid <> pg_backend_pid(){state}"
                    ),
                    [name.into()],
                ))
                .await?;
            let mut n = 0;
            for row in rows {
                if row.try_get::<bool>("", "done")? {
                    n += 1;
                }
            }
            Ok(n)
        }
        Dialect::MySql => {
            let sql = if in_transaction {
                "SELECT p.ID AS id FROM information_schema.PROCESSLIST p \
                 JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
                 WHERE p.DB = ? AND p.ID <> CONNECTION_ID()"
            } else {
                "SELECT ID AS id FROM information_schema.PROCESSLIST \
                 WHERE DB = ? AND ID <> CONNECTION_ID()"
            };
            // INNODB_TRX is a snapshot refreshed at most every 100 ms: a transaction begun
            // since the last refresh may be missing, so look again for a while.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            let rows = loop {
                let rows = conn
                    .query_all_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
                    .await?;
                if !rows.is_empty() || !in_transaction || std::time::Instant::now() > deadline {
                    break rows;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            };
            let mut n = 0;
            for row in rows {
                let id: i64 = row.try_get("", "id")?;
                // A connection that ended meanwhile is not an error.
                if conn.execute_unprepared(&format!("KILL {id}")).await.is_ok() {
                    n += 1;
                }
            }
            Ok(n)
        }
        _ => Err("SQLite has no server connections to terminate".into()),
    }
}

/// Which writes a [`FailingWrites`] trigger makes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `INSERT`s.
    Insert,
    /// `UPDATE`s.
    Update,
}

impl Write {
    fn sql(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
        }
    }
}

/// A trigger that makes every insert (or update) of a row of `table` fail, or only of the rows
/// whose `column` equals `value`: the statement raises (PostgreSQL `RAISE EXCEPTION`, MariaDB
/// `SIGNAL SQLSTATE '45000'`, SQLite `RAISE(ABORT, ..)`), as a statement failing halfway
/// through a transaction. Remove it with [`FailingWrites::remove`].
#[derive(Debug)]
pub struct FailingWrites {
    name: String,
    table: &'static str,
}

impl FailingWrites {
    /// Installs the trigger on `db` for `write`s of `table`, of the rows where `column = value`
    /// when `only` is given (names must be plain identifiers; `value` a literal without quotes).
    ///
    /// # Errors
    ///
    /// When the trigger cannot be created.
    pub async fn install(
        db: &Database,
        write: Write,
        table: &'static str,
        only: Option<(&'static str, &str)>,
    ) -> TestResult<Self> {
        let condition = match only {
            Some((_, value)) if value.contains('\'') => {
                return Err("the value must not contain quotes".into());
            }
            Some((column, value)) => format!("NEW.{column} = '{value}'"),
            None => "1 = 1".to_owned(),
        };
        let op = write.sql();
        let name = format!("testudo_fault_{}_{table}", op.to_lowercase());
        let conn = db.as_sea_orm();
        match db.dialect() {
            Dialect::Postgres => {
                conn.execute_unprepared(&format!(
                    "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF {condition} THEN \
                     RAISE EXCEPTION 'injected fault on {table}'; END IF; RETURN NEW; END $$"
                ))
                .await?;
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} BEFORE {op} ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION {name}()"
                ))
                .await?;
            }
            Dialect::MySql => {
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW \
                     BEGIN IF {condition} THEN \
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault'; END IF; END"
                ))
                .await?;
            }
            _ => {
                conn.execute_unprepared(&format!(
                    "CREATE TRIGGER {name} BEFORE {op} ON {table} WHEN {condition} \
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                ))
                .await?;
            }
        }
        Ok(Self { name, table })
    }

    /// Drops the trigger: the writes succeed again.
    ///
    /// # Errors
    ///
    /// When the trigger cannot be dropped.
    pub async fn remove(self, db: &Database) -> TestResult {
        let conn = db.as_sea_orm();
        let name = &self.name;
        match db.dialect() {
            Dialect::Postgres => {
                conn.execute_unprepared(&format!(
                    "DROP TRIGGER {name} ON {}; DROP FUNCTION {name}()",
                    self.table
                ))
                .await?;
            }
            _ => {
                conn.execute_unprepared(&format!("DROP TRIGGER {name}"))
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_of_a_url_is_replaced() {
        assert_eq!(
            with_authority("postgres://postgres@127.0.0.1:5432/t_1", "127.0.0.1:9"),
            "postgres://postgres@127.0.0.1:9/t_1"
        );
        assert_eq!(
            with_authority("mysql://root@localhost:3306/x?ssl-mode=disabled", "h:1"),
            "mysql://root@h:1/x?ssl-mode=disabled"
        );
        assert_eq!(with_authority("mysql://h:3306", "p:2"), "mysql://p:2");
    }

    #[tokio::test]
    async fn a_stopped_proxy_drops_live_connections_and_a_started_one_forwards_again() -> TestResult
    {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let target = echo.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut b).await {
                        if s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let proxy = Proxy::to(target).await?;
        let mut c = TcpStream::connect(proxy.addr()).await?;
        c.write_all(b"ping").await?;
        let mut b = [0u8; 4];
        c.read_exact(&mut b).await?;
        assert_eq!(&b, b"ping");
        proxy.stop();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut rest))
            .await?
            .unwrap_or(0);
        assert_eq!(n, 0, "a stopped proxy closes live connections");
        let mut refused = TcpStream::connect(proxy.addr()).await?;
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            refused.read_to_end(&mut rest),
        )
        .await?
        .unwrap_or(0);
        assert_eq!(n, 0, "a stopped proxy closes new connections at once");
        proxy.start();
        let mut c = TcpStream::connect(proxy.addr()).await?;
        c.write_all(b"pong").await?;
        c.read_exact(&mut b).await?;
        assert_eq!(&b, b"pong");
        proxy.stall();
        c.write_all(b"held").await?;
        let held =
            tokio::time::timeout(std::time::Duration::from_millis(200), c.read_exact(&mut b)).await;
        assert!(held.is_err(), "a stalled proxy forwards nothing");
        proxy.start();
        c.read_exact(&mut b).await?;
        assert_eq!(&b, b"held", "what a stall held is delivered after it");
        Ok(())
    }
}
