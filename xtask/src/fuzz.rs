//! `cargo xtask fuzz [--seconds N] [TARGET]`: runs the cargo-fuzz targets of `fuzz/` (every
//! target in turn, or one), each for N seconds (default 60), and prints libFuzzer's figures.
//!
//! What it does, in order:
//! 1. installs cargo-fuzz (`cargo install --locked cargo-fuzz`) when `cargo fuzz` is missing;
//! 2. writes the seed corpora into `fuzz/corpus/<target>/` from the conformance vectors
//!    (`../shared/conformance/vectors.json`, else `testdata/conformance/vectors.json`) with the
//!    small `fuzz/seeds` tool; libFuzzer adds what it finds there;
//! 3. runs `cargo fuzz run --sanitizer none TARGET fuzz/corpus/TARGET -- -max_total_time=N`
//!    on the stable toolchain. The only nightly-only flag cargo-fuzz would pass is
//!    `-Zsanitizer=address` (the default sanitizer); testudo has no `unsafe` code
//!    (`unsafe_code = "forbid"`), so `AddressSanitizer` adds little and is left off. libFuzzer's
//!    coverage instrumentation (`-Cpasses=sancov-module`, `-Cllvm-args=...`) works on stable,
//!    so no `RUSTC_BOOTSTRAP=1` is needed (and none is set: build scripts that probe for
//!    nightly, such as anyhow's, would switch on unstable features and rebuild everything);
//! 4. prints, per target, the executions and seconds libFuzzer reported, and where its log is
//!    (`fuzz/logs/<target>.log`). A crash fails the command; libFuzzer saves the input under
//!    `fuzz/artifacts/<target>/`, and `cargo fuzz run TARGET <that file>` replays it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// What one target's run reported.
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: Option<u64>,
    ok: bool,
}

/// Runs `target` (or every target) for `seconds` each.
pub(crate) fn run(sh: &Shell, seconds: u32, target: Option<&str>) -> Result<()> {
    ensure_cargo_fuzz(sh)?;
    write_seeds(sh)?;
    let targets = match target {
        Some(t) => vec![t.to_owned()],
        None => list_targets(sh)?,
    };
    sh.create_dir("fuzz/logs")?;
    let mut outcomes = Vec::new();
    for target in &targets {
        eprintln!("xtask fuzz: {target} for {seconds} s");
        let corpus = format!("fuzz/corpus/{target}");
        sh.create_dir(&corpus)?;
        let max_time = format!("-max_total_time={seconds}");
        let output = cmd!(
            sh,
            "cargo fuzz run --sanitizer none {target} {corpus} -- {max_time} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1"
        )
        .ignore_status()
        .output()?;
        let log = String::from_utf8_lossy(&output.stderr);
        sh.write_file(format!("fuzz/logs/{target}.log"), log.as_bytes())?;
        let outcome = Outcome {
            target: target.clone(),
            executions: final_stat(&log, "stat::number_of_executed_units:"),
            seconds: done_seconds(&log),
            ok: output.status.success(),
        };
        if !outcome.ok {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        outcomes.push(outcome);
    }
    eprintln!("\n| target | executions | seconds | result |\n|---|---:|---:|---|");
    for o in &outcomes {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        eprintln!(
            "| {} | {} | {} | {} |",
            o.target,
            show(o.executions),
            show(o.seconds),
            if o.ok {
                "ok"
            } else {
                "FAILED (see fuzz/artifacts/)"
            }
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| o.target.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Installs cargo-fuzz when `cargo fuzz` does not run.
fn ensure_cargo_fuzz(sh: &Shell) -> Result<()> {
    let present = cmd!(sh, "cargo fuzz --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    if !present {
        eprintln!("xtask fuzz: installing cargo-fuzz");
        cmd!(sh, "cargo install --locked cargo-fuzz")
            .run()
            .context("cargo install --locked cargo-fuzz")?;
    }
    Ok(())
}

/// Writes the seed corpora with `fuzz/seeds` (`serde_json` only: a few seconds to build).
fn write_seeds(sh: &Shell) -> Result<()> {
    let shared = Path::new("../shared/conformance/vectors.json");
    let vectors = if sh.path_exists(shared) {
        shared.to_path_buf()
    } else {
        Path::new("testdata/conformance/vectors.json").to_path_buf()
    };
    cmd!(
        sh,
        "cargo run --quiet --locked --manifest-path fuzz/seeds/Cargo.toml -- {vectors} fuzz/corpus"
    )
    .run()
    .context("writing the seed corpora")
}

/// The targets `cargo fuzz list` names.
fn list_targets(sh: &Shell) -> Result<Vec<String>> {
    let out = cmd!(sh, "cargo fuzz list").read()?;
    let targets: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        bail!("`cargo fuzz list` names no target");
    }
    Ok(targets)
}

/// The number after `key` in libFuzzer's final stats (`-print_final_stats=1`).
fn final_stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|n| n.trim().parse().ok())
}

/// The seconds of libFuzzer's closing line, `Done N runs in S second(s)`.
fn done_seconds(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        let rest = l.strip_prefix("Done ")?;
        let (_, after) = rest.split_once(" runs in ")?;
        after.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::{done_seconds, final_stat};

    #[test]
    fn libfuzzer_final_figures_are_read() {
        let log = "#1000\tDONE   cov: 10 ft: 20 corp: 3/4b exec/s: 99 rss: 40Mb\n\
                   stat::number_of_executed_units: 123456\n\
                   stat::average_exec_per_sec:     205\n\
                   Done 123456 runs in 601 second(s)\n";
        assert_eq!(
            final_stat(log, "stat::number_of_executed_units:"),
            Some(123_456)
        );
        assert_eq!(done_seconds(log), Some(601));
        assert_eq!(done_seconds("crashed"), None);
    }
}
