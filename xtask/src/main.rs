//! `cargo xtask`: the project's chores, in Rust rather than shell scripts.
//!
//! - `cargo xtask test`: the test suite (nextest when installed, then doctests); PostgreSQL and
//!   MariaDB variants run when `TESTUDO_TEST_POSTGRES_URL` / `TESTUDO_TEST_MYSQL_URL` are set.
//! - `cargo xtask ci [--no-test]`: fmt check, clippy `-D warnings` on all targets and features,
//!   the facade's feature matrix, the tests, docs with `-D warnings`.
//! - `cargo xtask bench [--quick] [--compare]`: the criterion benches of every crate, summarised
//!   in `target/bench-summary.md`; `--compare` times the same operations against tortoise-auth
//!   0.6.0 (see `docs/benchmarks.md`). xtask only launches the `testudo-bench` tool of `bench/`,
//!   where that logic lives.
//! - `cargo xtask migrate up | down [N] | status | fresh --database-url URL`: the migrations.

mod bench;
mod ci;
mod flags;
mod migrate;
mod tidy;

use std::path::{Path, PathBuf};

use anyhow::Result;
use xshell::Shell;

fn main() -> Result<()> {
    let flags = flags::Xtask::from_env_or_exit();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match flags.subcommand {
        flags::XtaskCmd::Test(cmd) => ci::test(&sh, cmd.no_doc),
        flags::XtaskCmd::Ci(cmd) => ci::ci(&sh, cmd.no_test),
        flags::XtaskCmd::Migrate(cmd) => migrate::run(&sh, &cmd),
        flags::XtaskCmd::Bench(cmd) => bench::run(&sh, cmd.quick, cmd.compare),
    }
}

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
