//! `testudo-migrate`: sea-orm-migration's command line for the testudo tables.
//!
//! `testudo-migrate -u <DATABASE_URL> up | down [-n N] | status | fresh | refresh | reset`
//! (the URL may also come from `DATABASE_URL`).

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(testudo_migrations::Migrator).await;
}
