//! `cargo xtask bench [--quick] [--compare [--only <substring>] | --http]`: launches the bench tooling, the unpublished
//! `testudo-bench` binary in `bench/` (running the benches, reading criterion's results, the
//! summary and the tortoise-auth comparison all live there; see `docs/benchmarks.md`).

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// Runs `testudo-bench` with the same flags (built like xtask itself: dev profile, locked).
pub(crate) fn run(
    sh: &Shell,
    quick: bool,
    compare: bool,
    http: bool,
    only: Option<&str>,
) -> Result<()> {
    let quick = quick.then_some("--quick");
    let compare = compare.then_some("--compare");
    let http = http.then_some("--http");
    let only = only.map(|o| ["--only", o]).into_iter().flatten();
    cmd!(
        sh,
        "cargo run --quiet --locked -p testudo-bench -- {quick...} {compare...} {http...} {only...}"
    )
    .run()
    .context("testudo-bench failed")
}
