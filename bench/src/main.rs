//! `testudo-bench [--quick] [--compare [--only <substring>] | --http]`: the bench tooling behind `cargo xtask bench` (which
//! only launches it; `cargo run -p testudo-bench -- [--quick] [--compare]` does the same).
//!
//! Without `--compare`: runs the criterion benches of every workspace crate that has some
//! (found through `cargo metadata`, each with the features its bench target requires), then
//! reads criterion's `new/benchmark.json` and `new/estimates.json` files written by this run
//! and writes a summary (crate, benchmark, median, throughput) to `target/bench-summary.md`,
//! followed by the `load` bench's report when it ran now.
//!
//! With `--compare`: creates a Python virtual environment in `target/bench-venv`, installs the
//! pinned `bench/requirements.txt` (tortoise-auth 0.6.0), builds the bench executables once,
//! then for a few rounds runs each bench executable on the operations paired with
//! tortoise-auth and `bench/compare.py` on the same operations, alternating which side goes
//! first. The table (median of the rounds' medians for each side, and the ratio) goes to
//! `target/bench-compare.md` and stdout.
//!
//! `--only <substring>` (with `--compare`) runs only the compared operations whose label
//! contains it, ignoring case (`--only jwt`: the JWT rows).
//!
//! With `--http`: the HTTP benchmark of [`http`] (`GET /auth/me` under `wrk` through
//! testudo-axum, a bare axum handler and tortoise-auth's Starlette integration), written to
//! `target/bench-http.md`.
//!
//! `--quick` shortens warm-up and measurement (and runs one comparison round instead of
//! three): a smoke run, not figures to quote. See `docs/benchmarks.md`.
//!
//! Modules: [`targets`] (the compared operations and the issue 9 goals), [`workspace`] (the
//! bench targets from `cargo metadata`), [`criterion`] (criterion's result files),
//! [`report`] (the markdown tables), [`summary`] (the plain run), [`compare`] and [`python`]
//! (the tortoise-auth comparison and its Python driver).

mod compare;
mod criterion;
mod http;
mod python;
mod report;
mod summary;
mod targets;
mod workspace;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};
use xshell::Shell;

/// What `--help` prints.
const USAGE: &str = "\
usage: testudo-bench [--quick] [--compare [--only <substring>] | --http]

Runs the criterion benches of every workspace crate and writes target/bench-summary.md;
with --compare, times the same operations against tortoise-auth 0.6.0 instead and writes
target/bench-compare.md (see docs/benchmarks.md).

  --compare   compare with tortoise-auth 0.6.0 (Python virtual environment under target/)
  --http      the HTTP benchmark: GET /auth/me under wrk (target/bench-http.md)
  --only S    with --compare: only the operations whose label contains S (any case)
  --quick     short warm-up and measurement times: a smoke run, not figures to quote
  -h, --help  print this help
";

/// The command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Args {
    quick: bool,
    compare: bool,
    http: bool,
    help: bool,
    only: Option<String>,
}

/// Reads the arguments (without the program name).
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|arg| anyhow!("argument {arg:?} is not UTF-8"))?;
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--compare" => parsed.compare = true,
            "--http" => parsed.http = true,
            "--only" => {
                let only = args
                    .next()
                    .and_then(|s| s.into_string().ok())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| anyhow!("--only needs a substring of an operation's label"))?;
                parsed.only = Some(only);
            }
            "-h" | "--help" => parsed.help = true,
            other => {
                bail!(
                    "unknown argument {other:?}: expected --quick, --compare, --http, --only or --help"
                )
            }
        }
    }
    if parsed.http && parsed.compare {
        bail!("--http and --compare are separate runs: give one");
    }
    if parsed.only.is_some() && !parsed.compare {
        bail!("--only selects compared operations: use it with --compare");
    }
    Ok(parsed)
}

/// A failure is printed as one line (never with a backtrace) and exits with status 1.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testudo-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stdout, reason = "a command line: --help goes to stdout")]
fn run() -> Result<()> {
    let args = parse_args(std::env::args_os().skip(1))?;
    if args.help {
        print!("{USAGE}");
        return Ok(());
    }
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    if args.http {
        http::run(&sh, args.quick)
    } else if args.compare {
        compare::run(&sh, args.quick, args.only.as_deref())
    } else {
        summary::run(&sh, args.quick)
    }
}

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args> {
        parse_args(list.iter().map(OsString::from))
    }

    #[test]
    fn flags_are_read_in_any_order_and_unknown_ones_refused() {
        assert_eq!(args(&[]).ok(), Some(Args::default()));
        assert_eq!(
            args(&["--compare", "--quick"]).ok(),
            Some(Args {
                quick: true,
                compare: true,
                http: false,
                help: false,
                only: None,
            })
        );
        assert_eq!(
            args(&["--compare", "--only", "jwt"])
                .ok()
                .and_then(|a| a.only),
            Some("jwt".to_owned())
        );
        assert!(args(&["--compare", "--only"]).is_err());
        assert!(args(&["--only", "jwt"]).is_err(), "--only needs --compare");
        assert!(args(&["-h"]).is_ok_and(|a| a.help));
        assert!(args(&["--quik"]).is_err());
        assert!(args(&["quick"]).is_err());
    }

    #[test]
    fn the_project_root_holds_the_python_driver() {
        let bench = project_root().join("bench");
        assert!(bench.join("compare.py").is_file());
        assert!(bench.join("requirements.txt").is_file());
    }
}
