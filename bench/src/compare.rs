//! The comparison with tortoise-auth 0.6.0 (`testudo-bench --compare [--quick]`): the bench
//! executables built once, then interleaved rounds of testudo's side (criterion, filtered to the
//! paired ids) and the Python driver's, summarised in `target/bench-compare.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::criterion::{exact_filter, per_call_ns, read_criterion_dir};
use crate::python::{parse_driver_output, python_env};
use crate::report::{compare_table, publish};
use crate::targets::{BenchKey, Pair};
use crate::workspace::{BenchTarget, bench_targets, postgres_url};

/// Medians over the rounds: testudo's and the raw twins' keyed by pair label (time per call),
/// tortoise-auth's keyed by driver operation.
pub(crate) type Samples = BTreeMap<&'static str, Vec<f64>>;

/// What the rounds measured.
#[derive(Debug, Default)]
pub(crate) struct Compared {
    /// testudo's time per call, by pair label.
    pub(crate) rust: Samples,
    /// The raw crate loops' time per call, by pair label.
    pub(crate) raw: Samples,
    /// tortoise-auth's time per call, by driver operation.
    pub(crate) python: Samples,
}

/// The criterion ids a group's bench executable must run.
fn criterion_ids(pairs: &[&Pair]) -> Vec<&'static str> {
    let mut ids = Vec::new();
    for pair in pairs {
        for id in pair.rust.ok().into_iter().chain(pair.raw) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The driver operations of a group, each once.
fn python_ops(pairs: &[&Pair]) -> Vec<&'static str> {
    let mut ops = Vec::new();
    for pair in pairs {
        if !ops.contains(&pair.python) {
            ops.push(pair.python);
        }
    }
    ops
}

/// Runs the comparison and writes and prints its table. An executable or a driver operation
/// that fails leaves its rows `n/a`; the others still run.
///
/// # Errors
///
/// When `cargo metadata`, the virtual environment or `cargo bench --no-run` fails, a criterion
/// result or the driver's output is unreadable, or the table cannot be written.
pub(crate) fn run(sh: &Shell, quick: bool, only: Option<&str>) -> Result<()> {
    let selected = crate::targets::selected(only);
    if selected.is_empty() {
        anyhow::bail!("--only {only:?} matches no compared operation");
    }
    let (targets, target_dir) = bench_targets(sh)?;
    let work = target_dir.join("bench-compare");
    std::fs::create_dir_all(&work)?;
    let python = python_env(sh, &target_dir)?;
    let executables = build_benches(sh, &targets, &selected)?;

    let rounds = if quick { 1 } else { 3 };
    let (warm_up, measure) = if quick { ("0.3", "1") } else { ("1", "3") };
    let script = sh.current_dir().join("bench").join("compare.py");
    let db_dir = work.join("python-db");
    let postgres = postgres_url();

    // Group the pairs by bench executable: one run of an executable covers all of its ops.
    let mut groups: Vec<(Option<BenchKey>, Vec<&Pair>)> = Vec::new();
    for pair in selected.iter().copied() {
        match groups.iter_mut().find(|(k, _)| *k == pair.bench) {
            Some((_, pairs)) => pairs.push(pair),
            None => groups.push((pair.bench, vec![pair])),
        }
    }

    let mut got = Compared::default();
    for round in 0..rounds {
        for (index, (key, pairs)) in groups.iter().enumerate() {
            let run_rust = |got: &mut Compared| -> Result<()> {
                let Some((package, bench)) = key else {
                    return Ok(());
                };
                let Some((exe, dir)) =
                    executables.get(&((*package).to_owned(), (*bench).to_owned()))
                else {
                    return Ok(());
                };
                let filter = exact_filter(&criterion_ids(pairs));
                let home = work
                    .join("criterion")
                    .join(format!("round-{round}-{package}-{bench}"));
                eprintln!(
                    "testudo-bench --compare: round {} testudo {package}/{bench}",
                    round + 1
                );
                let _dir = sh.push_dir(dir);
                let status = cmd!(
                    sh,
                    "{exe} --bench {filter} --noplot --warm-up-time {warm_up} --measurement-time {measure}"
                )
                .env("CRITERION_HOME", &home)
                .env("TESTUDO_BENCH_POSTGRES_URL", &postgres)
                .run();
                if let Err(err) = status {
                    // Its rows say n/a; the other executables still run.
                    eprintln!("testudo-bench --compare: {package}/{bench} failed: {err}");
                    return Ok(());
                }
                let measured = read_criterion_dir(&home, None)?;
                let find = |id: &str| measured.iter().find(|m| m.id == id).map(per_call_ns);
                for pair in pairs {
                    if let Some(ns) = pair.rust.ok().and_then(find) {
                        got.rust.entry(pair.label).or_default().push(ns);
                    }
                    if let Some(ns) = pair.raw.and_then(find) {
                        got.raw.entry(pair.label).or_default().push(ns);
                    }
                }
                Ok(())
            };
            let run_python = |got: &mut Compared| -> Result<()> {
                let ops = python_ops(pairs).join(",");
                eprintln!(
                    "testudo-bench --compare: round {} tortoise-auth {ops}",
                    round + 1
                );
                let output = cmd!(
                    sh,
                    "{python} {script} --ops {ops} --warm-up {warm_up} --measure {measure} --work-dir {db_dir}"
                )
                .env("TESTUDO_BENCH_POSTGRES_URL", &postgres)
                .ignore_status()
                .output()?;
                if !output.status.success() {
                    eprintln!(
                        "testudo-bench --compare: the driver failed on {ops}: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                // Whatever it printed before failing still counts.
                for (op, median_ns) in
                    parse_driver_output(&String::from_utf8_lossy(&output.stdout))?
                {
                    if let Some(op) = pairs.iter().map(|p| p.python).find(|p| *p == op) {
                        got.python.entry(op).or_default().push(median_ns);
                    }
                }
                Ok(())
            };
            // Alternate which side goes first, so slow drift of the machine hits both.
            if (round + index) % 2 == 0 {
                run_rust(&mut got)?;
                run_python(&mut got)?;
            } else {
                run_python(&mut got)?;
                run_rust(&mut got)?;
            }
        }
    }

    let status = |package: &str, bench: &str| {
        if executables.contains_key(&(package.to_owned(), bench.to_owned())) {
            "n/a (bench id not found)"
        } else if targets
            .iter()
            .any(|t| t.package == package && t.name == bench)
        {
            "n/a (does not build)"
        } else {
            "n/a (not built yet)"
        }
    };
    let table = compare_table(&selected, &got, &status, rounds, quick);
    publish(&target_dir.join("bench-compare.md"), &table)
}

/// Builds the bench targets the comparison needs; `(package, bench)` -> (executable, package
/// directory, where criterion benches run from under `cargo bench`).
fn build_benches(
    sh: &Shell,
    targets: &[BenchTarget],
    pairs: &[&Pair],
) -> Result<HashMap<(String, String), (PathBuf, PathBuf)>> {
    let mut executables = HashMap::new();
    for target in targets {
        let needed = pairs.iter().any(|p| {
            p.bench
                .is_some_and(|(package, bench)| package == target.package && bench == target.name)
        });
        if !needed {
            continue;
        }
        let (package, name) = (&target.package, &target.name);
        let features = target.feature_args();
        let output = cmd!(
            sh,
            "cargo bench --no-run --message-format=json -p {package} --bench {name} {features...}"
        )
        .ignore_status()
        .output()?;
        let messages: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .collect();
        if !output.status.success() {
            // A crate that does not build leaves its rows "n/a", not the whole run.
            eprintln!("testudo-bench --compare: {package}/{name} does not build, skipped:");
            for message in &messages {
                if message["reason"] == "compiler-message"
                    && message["message"]["level"] == "error"
                    && let Some(rendered) = message["message"]["rendered"].as_str()
                {
                    eprint!("{rendered}");
                }
            }
            continue;
        }
        let exe = messages
            .iter()
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name.as_str())
            .filter(|m| {
                m["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bench"))
            })
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .with_context(|| format!("no executable for bench {name} of {package}"))?;
        executables.insert(
            (package.clone(), name.clone()),
            (exe, target.package_dir.clone()),
        );
    }
    Ok(executables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{HASHERS, PAIRS};

    #[test]
    fn groups_run_each_id_and_driver_op_once() {
        let hashers: Vec<&Pair> = PAIRS.iter().filter(|p| p.bench == HASHERS).collect();
        let ids = criterion_ids(&hashers);
        assert!(ids.contains(&"raw/hashers/bcrypt_12_hash"));
        assert!(ids.contains(&"hashers/argon2id_default_hash_sequential"));
        assert_eq!(
            python_ops(&hashers)
                .iter()
                .filter(|op| **op == "hash.argon2id_hash")
                .count(),
            1
        );
    }
}
