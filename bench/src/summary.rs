//! The plain run (`testudo-bench [--quick]`): every bench target of the workspace through
//! `cargo bench`, then `target/bench-summary.md` from what criterion wrote during this run.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::criterion::{Measured, read_criterion_dir};
use crate::report::{publish, summary_table};
use crate::workspace::{bench_targets, postgres_url};

/// Criterion arguments of a smoke run (`--quick`).
const QUICK_ARGS: [&str; 5] = [
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--noplot",
];

/// The markdown report the `load` bench writes, relative to the target directory.
const LOAD_REPORT: &str = "bench-load.md";

/// Runs every bench (a failing one is reported and skipped), then writes and prints the summary
/// of this run, followed by the `load` bench's report when it ran now.
///
/// # Errors
///
/// When `cargo metadata` fails, no criterion result was written, a result file is unreadable,
/// the summary cannot be written, or a bench failed (after the summary of the others).
pub(crate) fn run(sh: &Shell, quick: bool) -> Result<()> {
    let (targets, target_dir) = bench_targets(sh)?;
    let criterion_dir = target_dir.join("criterion");
    let load_report = target_dir.join(LOAD_REPORT);
    let run_started = SystemTime::now();
    let postgres = postgres_url();
    let mut rows: Vec<(String, Measured)> = Vec::new();
    let mut failed = Vec::new();
    for target in &targets {
        let (package, name) = (&target.package, &target.name);
        let features = target.feature_args();
        let criterion = target.is_criterion();
        let extra: &[&str] = if quick && criterion { &QUICK_ARGS } else { &[] };
        let separator: &[&str] = if extra.is_empty() { &[] } else { &["--"] };
        eprintln!("testudo-bench: {package} / {name}");
        let started = SystemTime::now();
        let mut command = cmd!(
            sh,
            "cargo bench -p {package} --bench {name} {features...} {separator...} {extra...}"
        )
        .env("TESTUDO_BENCH_POSTGRES_URL", &postgres);
        if quick {
            command = command.env("TESTUDO_BENCH_QUICK", "1");
        }
        if let Err(err) = command.run() {
            eprintln!("testudo-bench: {package}/{name} failed: {err}");
            failed.push(format!("{package}/{name}"));
            continue;
        }
        if !criterion {
            continue;
        }
        for measured in read_criterion_dir(&criterion_dir, Some(started))? {
            rows.push((package.clone(), measured));
        }
    }
    if rows.is_empty() {
        bail!(
            "no criterion results found under {}",
            criterion_dir.display()
        );
    }
    let mut summary = summary_table(&rows, quick);
    // The load bench's own report, when it ran now (an older file says nothing about this run).
    let fresh_load = std::fs::metadata(&load_report)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| modified >= run_started);
    if fresh_load {
        let load = std::fs::read_to_string(&load_report)
            .with_context(|| format!("{}", load_report.display()))?;
        summary.push('\n');
        summary.push_str(&load);
    }
    publish(&target_dir.join("bench-summary.md"), &summary)?;
    if !failed.is_empty() {
        bail!("these benches failed: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use super::*;

    /// A criterion `new/` directory for `id` under `dir`, its files dated `modified`.
    fn fake_result(dir: &Path, id: &str, median_ns: f64, modified: SystemTime) {
        let new = dir.join(id.replace('/', "_")).join("new");
        std::fs::create_dir_all(&new).expect("temp dir");
        let files = [
            ("benchmark.json", format!(r#"{{"full_id": "{id}"}}"#)),
            (
                "estimates.json",
                format!(r#"{{"median": {{"point_estimate": {median_ns}}}}}"#),
            ),
            ("sample.json", r#"{"iters": [2.0, 3.0]}"#.to_owned()),
        ];
        for (name, text) in files {
            let path = new.join(name);
            std::fs::write(&path, text).expect("write");
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(modified))
                .expect("set mtime");
        }
    }

    #[test]
    fn a_fake_criterion_directory_gives_the_summary_of_this_run_only() {
        let dir =
            std::env::temp_dir().join(format!("testudo-bench-summary-test-{}", std::process::id()));
        let now = SystemTime::now();
        let started = now - Duration::from_secs(60);
        fake_result(&dir, "sign", 500.0, now);
        fake_result(&dir, "raw/sign", 400.0, now);
        // Written by an earlier run: not part of this summary.
        fake_result(&dir, "unsign", 600.0, now - Duration::from_secs(3600));
        let found = read_criterion_dir(&dir, Some(started));
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let rows: Vec<(String, Measured)> = found
            .expect("readable")
            .into_iter()
            .map(|m| ("testudo-signing".to_owned(), m))
            .collect();
        let ids: Vec<&str> = rows.iter().map(|(_, m)| m.id.as_str()).collect();
        assert_eq!(ids, ["raw/sign", "sign"]);
        let table = summary_table(&rows, true);
        assert!(table.contains("Smoke run (`--quick`"));
        assert!(table.contains(
            "| testudo-signing | sign | 500.0 ns | 2.00 M/s | 5 | 0.80 | ≥ 0.80 of raw ✓ |"
        ));
        assert!(!table.contains("unsign"));
    }
}
