//! `cargo xtask`: the project's chores, in Rust rather than shell scripts.
//!
//! - `cargo xtask test`: the test suite (nextest when installed, then doctests); PostgreSQL and
//!   MariaDB variants run when `TESTUDO_TEST_POSTGRES_URL` / `TESTUDO_TEST_MYSQL_URL` are set.
//! - `cargo xtask ci [--no-test]`: fmt check, clippy `-D warnings` on all targets and features,
//!   the facade's feature matrix, the tests, docs with `-D warnings`.
//! - `cargo xtask bench [--quick] [--compare | --http]`: the criterion benches of every crate,
//!   summarised in `target/bench-summary.md`; `--compare` times the same operations against
//!   tortoise-auth 0.6.0, `--http` loads `GET /auth/me` over HTTP (see `docs/benchmarks.md`). xtask only launches the `testudo-bench` tool of `bench/`,
//!   where that logic lives.
//! - `cargo xtask fuzz [--seconds N] [TARGET]`: the cargo-fuzz targets of `fuzz/` (outside the
//!   workspace), seeded from the conformance vectors, N seconds each (see `fuzz/README.md`).
//! - `cargo xtask migrate up | down [N] | status | fresh --database-url URL`: the migrations.
//!
//! `cargo test -p xtask` also checks the repository's rules (`tidy.rs`, compiled for tests only).

mod bench;
mod ci;
mod flags;
mod fuzz;
mod migrate;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use xshell::Shell;

/// A failing task is printed as one line, `error: ` and its chain of causes (never with a
/// backtrace, even under `RUST_BACKTRACE`), and exits with status 1.
fn main() -> ExitCode {
    let flags = flags::Xtask::from_env_or_exit();
    match run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches to the task's module, in a shell at the workspace root.
fn run(flags: flags::Xtask) -> Result<()> {
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match flags.subcommand {
        flags::XtaskCmd::Test(cmd) => ci::test(&sh, cmd.no_doc),
        flags::XtaskCmd::Ci(cmd) => ci::ci(&sh, cmd.no_test),
        flags::XtaskCmd::Migrate(cmd) => migrate::run(&sh, &cmd),
        flags::XtaskCmd::Bench(cmd) => {
            bench::run(&sh, cmd.quick, cmd.compare, cmd.http, cmd.only.as_deref())
        }
        flags::XtaskCmd::Fuzz(cmd) => {
            fuzz::run(&sh, cmd.seconds.unwrap_or(60), cmd.target.as_deref())
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
