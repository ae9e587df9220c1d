//! [`per_database!`](crate::per_database): one test case per database, so a failure names its
//! database (feature `db`).

/// Runs a test written once as `async fn NAME(backend: Backend) -> TestResult` on each database,
/// as one test case per database.
///
/// The macro makes a module `NAME` beside the function, with a `#[tokio::test]` per database:
///
/// | case             | database                                                          |
/// |------------------|-------------------------------------------------------------------|
/// | `NAME::sqlite`   | a private SQLite database, in memory unless `sqlite_file` is given |
/// | `NAME::postgres` | PostgreSQL at [`POSTGRES_URL_ENV`](crate::db::POSTGRES_URL_ENV)    |
/// | `NAME::mariadb`  | MariaDB / MySQL at [`MYSQL_URL_ENV`](crate::db::MYSQL_URL_ENV)     |
///
/// so `cargo nextest run` lists (and reports a failure as) `NAME::sqlite`, `NAME::postgres` and
/// `NAME::mariadb`. A server case whose URL variable is unset or blank does not fail: it prints
/// one line to stderr naming the case and the variable that enables it
/// ([`report_skipped`](crate::db::report_skipped)) and passes.
///
/// # Syntax
///
/// ```text
/// per_database!(NAME);                 // sqlite (in memory), postgres, mariadb
/// per_database!(NAME, sqlite_file);    // sqlite in a temporary file (pooled), postgres, mariadb
/// per_database!(NAME, servers_only);   // postgres, mariadb: no sqlite case
/// per_database!(NAME, postgres_only);  // postgres only
/// per_database!(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] NAME, sqlite_file);
/// ```
///
/// - `sqlite_file` gives the SQLite case `Backend::Sqlite { file: true }`: a temporary file with
///   a connection pool, for tests of concurrent writers (what `backends_with_sqlite(true)` gave
///   a loop).
/// - `servers_only`, `postgres_only` and `mariadb_only` leave out the cases a test cannot run
///   on (SQLite's one writer at a time, PostgreSQL's LISTEN/NOTIFY, MariaDB's `MEMORY`
///   engine), instead of a `continue` in a loop.
/// - A leading `#[tokio::test(...)]` is the runtime attribute of every case, copied as written;
///   without it each case is a plain `#[tokio::test]` (current-thread runtime).
///
/// Any other option, or more than one, is a compile error:
///
/// ```compile_fail
/// # use testudo_test_support::{TestResult, db::Backend, per_database};
/// # async fn t(_: Backend) -> TestResult { Ok(()) }
/// per_database!(t, sqlite_file, servers_only);
/// # fn main() {}
/// ```
///
/// The function is called with the backend only; it makes its database with
/// [`TestDb::new`](crate::db::TestDb::new) (or `with_pool`, `unmigrated`) and should call
/// [`TestDb::cleanup`](crate::db::TestDb::cleanup) at the end. The expansion uses
/// `#[tokio::test]`, so the test crate needs `tokio` with the `macros` feature (and
/// `rt-multi-thread` for the multi-thread flavour).
///
/// # Example
///
/// ```no_run
/// use testudo_test_support::db::{Backend, TestDb};
/// use testudo_test_support::{TestResult, per_database};
///
/// /// Cases `a_fresh_database_is_migrated::{sqlite, postgres, mariadb}`.
/// async fn a_fresh_database_is_migrated(backend: Backend) -> TestResult {
///     let name = backend.name();
///     let db = TestDb::new(backend).await?;
///     assert!(db.db().migrate().await.is_ok(), "{name}: migrating twice is fine");
///     db.cleanup().await?;
///     Ok(())
/// }
/// per_database!(a_fresh_database_is_migrated);
///
/// /// Cases `concurrent_writers_agree::{sqlite, postgres, mariadb}`, SQLite in a file.
/// async fn concurrent_writers_agree(backend: Backend) -> TestResult {
///     let db = TestDb::with_pool(backend, 8).await?;
///     // ... spawn writers on db.db().clone() ...
///     db.cleanup().await?;
///     Ok(())
/// }
/// per_database!(
///     #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
///     concurrent_writers_agree,
///     sqlite_file
/// );
///
/// /// Cases `server_locks_do_not_block_other_users::{postgres, mariadb}`.
/// async fn server_locks_do_not_block_other_users(backend: Backend) -> TestResult {
///     let db = TestDb::with_pool(backend, 4).await?;
///     db.cleanup().await?;
///     Ok(())
/// }
/// per_database!(server_locks_do_not_block_other_users, servers_only);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! per_database {
    (#[tokio::test $($args:tt)?] $name:ident $(, $option:ident)* $(,)?) => {
        $crate::per_database!(@options [tokio::test $($args)?] $name [$($option)*]);
    };
    ($name:ident $(, $option:ident)* $(,)?) => {
        $crate::per_database!(@options [tokio::test] $name [$($option)*]);
    };

    (@options $attr:tt $name:ident []) => {
        $crate::per_database!(@module $attr $name [sqlite(false) postgres mariadb]);
    };
    (@options $attr:tt $name:ident [sqlite_file]) => {
        $crate::per_database!(@module $attr $name [sqlite(true) postgres mariadb]);
    };
    (@options $attr:tt $name:ident [servers_only]) => {
        $crate::per_database!(@module $attr $name [postgres mariadb]);
    };
    (@options $attr:tt $name:ident [postgres_only]) => {
        $crate::per_database!(@module $attr $name [postgres]);
    };
    (@options $attr:tt $name:ident [mariadb_only]) => {
        $crate::per_database!(@module $attr $name [mariadb]);
    };
    (@options $attr:tt $name:ident [$($option:ident)*]) => {
        ::core::compile_error!(::core::concat!(
            "per_database!(", ::core::stringify!($name), "): unsupported options `",
            ::core::stringify!($($option),*),
            "`; give at most one of sqlite_file, servers_only, postgres_only, mariadb_only"
        ));
    };

    (@module $attr:tt $name:ident [$($case:ident $(($file:literal))?)*]) => {
        #[doc = ::core::concat!("The cases of [`", ::core::stringify!($name), "`], one per database.")]
        mod $name {
            $($crate::per_database!(@case $attr $name $case $(($file))?);)*
        }
    };

    (@case [$($attr:tt)*] $name:ident sqlite($file:literal)) => {
        #[$($attr)*]
        async fn sqlite() -> $crate::TestResult {
            super::$name($crate::db::Backend::Sqlite { file: $file }).await
        }
    };
    (@case [$($attr:tt)*] $name:ident postgres) => {
        #[$($attr)*]
        async fn postgres() -> $crate::TestResult {
            match $crate::db::Backend::postgres_from_env() {
                ::core::option::Option::Some(backend) => super::$name(backend).await,
                ::core::option::Option::None => {
                    $crate::db::report_skipped(
                        ::core::concat!(::core::module_path!(), "::postgres"),
                        $crate::db::POSTGRES_URL_ENV,
                    );
                    ::core::result::Result::Ok(())
                }
            }
        }
    };
    (@case [$($attr:tt)*] $name:ident mariadb) => {
        #[$($attr)*]
        async fn mariadb() -> $crate::TestResult {
            match $crate::db::Backend::mysql_from_env() {
                ::core::option::Option::Some(backend) => super::$name(backend).await,
                ::core::option::Option::None => {
                    $crate::db::report_skipped(
                        ::core::concat!(::core::module_path!(), "::mariadb"),
                        $crate::db::MYSQL_URL_ENV,
                    );
                    ::core::result::Result::Ok(())
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::TestResult;
    use crate::db::Backend;

    async fn the_sqlite_case_is_in_memory_by_default(backend: Backend) -> TestResult {
        assert!(
            matches!(
                backend,
                Backend::Sqlite { file: false } | Backend::Postgres(_) | Backend::MySql(_)
            ),
            "{backend:?}"
        );
        Ok(())
    }
    per_database!(the_sqlite_case_is_in_memory_by_default);

    async fn sqlite_file_puts_the_sqlite_case_in_a_file(backend: Backend) -> TestResult {
        assert!(
            !matches!(backend, Backend::Sqlite { file: false }),
            "{backend:?}"
        );
        Ok(())
    }
    per_database!(sqlite_file_puts_the_sqlite_case_in_a_file, sqlite_file);

    async fn servers_only_has_no_sqlite_case(backend: Backend) -> TestResult {
        assert!(!matches!(backend, Backend::Sqlite { .. }), "{backend:?}");
        Ok(())
    }
    per_database!(servers_only_has_no_sqlite_case, servers_only);

    async fn postgres_only_has_only_the_postgres_case(backend: Backend) -> TestResult {
        assert!(matches!(backend, Backend::Postgres(_)), "{backend:?}");
        Ok(())
    }
    per_database!(postgres_only_has_only_the_postgres_case, postgres_only);

    async fn the_runtime_attribute_is_used_as_written(backend: Backend) -> TestResult {
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        assert_eq!(
            flavor,
            tokio::runtime::RuntimeFlavor::MultiThread,
            "{backend:?}"
        );
        Ok(())
    }
    per_database!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        the_runtime_attribute_is_used_as_written,
        sqlite_file,
    );
}
