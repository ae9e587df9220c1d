//! `cargo xtask bench [--quick] [--compare]`.
//!
//! Without `--compare`: runs the criterion benches of every workspace crate that has some
//! (found through `cargo metadata`, each with the features its bench target requires), then
//! reads criterion's `new/benchmark.json` and `new/estimates.json` files written by this run
//! and writes a summary (crate, benchmark, median, throughput) to `target/bench-summary.md`.
//!
//! With `--compare`: creates a Python virtual environment in `target/bench-venv`, installs the
//! pinned `bench/requirements.txt` (tortoise-auth 0.6.0), builds the bench executables once,
//! then for a few rounds runs each bench executable on the operations paired with
//! tortoise-auth and `bench/compare.py` on the same operations, alternating which side goes
//! first. The table (median of the rounds' medians for each side, and the ratio) goes to
//! `target/bench-compare.md` and stdout.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::{Shell, cmd};

/// Criterion arguments of a smoke run (`--quick`).
const QUICK_ARGS: [&str; 5] = [
    "--warm-up-time",
    "0.5",
    "--measurement-time",
    "1",
    "--noplot",
];

/// One operation timed on both sides.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// What the table calls it.
    label: &'static str,
    /// The operation's name in `bench/compare.py`.
    python: &'static str,
    /// The testudo side: workspace package, bench target, criterion benchmark id; `None` when
    /// testudo has no such operation (the reason is the string).
    rust: Result<(&'static str, &'static str, &'static str), &'static str>,
}

/// The operations of the comparison, with the criterion ids of the crates' benches.
const PAIRS: &[Pair] = &[
    Pair {
        label: "Signer.sign",
        python: "signing.sign",
        rust: Ok(("testudo-signing", "signing", "sign")),
    },
    Pair {
        label: "Signer.unsign",
        python: "signing.unsign",
        rust: Ok(("testudo-signing", "signing", "unsign")),
    },
    Pair {
        label: "TimestampSigner sign",
        python: "signing.timestamp_sign",
        rust: Ok(("testudo-signing", "signing", "timestamp_sign")),
    },
    Pair {
        label: "TimestampSigner unsign",
        python: "signing.timestamp_unsign",
        rust: Ok(("testudo-signing", "signing", "timestamp_unsign")),
    },
    Pair {
        label: "JWT create_tokens (HS256 pair)",
        python: "jwt.create_tokens_hs256",
        rust: Ok(("testudo-tokens-jwt", "jwt", "create_tokens/HS256")),
    },
    Pair {
        label: "JWT verify_token (HS256)",
        python: "jwt.verify_token_hs256",
        rust: Ok(("testudo-tokens-jwt", "jwt", "verify_token/HS256")),
    },
    Pair {
        label: "DB create_tokens (SQLite file)",
        python: "db.create_tokens",
        rust: Ok(("testudo-tokens-db", "tokens", "create_tokens (sqlite file)")),
    },
    Pair {
        label: "DB verify_token (100k rows, SQLite file)",
        python: "db.verify_token_100k",
        rust: Ok((
            "testudo-tokens-db",
            "tokens",
            "verify_token (100k rows, sqlite file)",
        )),
    },
    Pair {
        label: "AuthService.authenticate (100k rows, SQLite file)",
        python: "service.authenticate",
        rust: Ok((
            "testudo-service",
            "authenticate",
            "authenticate (100k rows, sqlite file)",
        )),
    },
    Pair {
        label: "validate_password (typical, no user)",
        python: "validators.validate_password_typical",
        rust: Ok((
            "testudo-validators",
            "validators",
            "validate_password/typical",
        )),
    },
    Pair {
        label: "Argon2id hash (t=3, m=64 MiB, p=4)",
        python: "hash.argon2id_hash",
        rust: Ok((
            "testudo-hashers",
            "hashers",
            "hashers/argon2id_default_hash",
        )),
    },
    Pair {
        label: "Argon2id verify (t=3, m=64 MiB, p=4)",
        python: "hash.argon2id_verify",
        rust: Ok((
            "testudo-hashers",
            "hashers",
            "hashers/argon2id_default_verify",
        )),
    },
    Pair {
        label: "bcrypt hash (cost 12)",
        python: "hash.bcrypt12_hash",
        rust: Err("n/a (testudo only verifies bcrypt)"),
    },
    Pair {
        label: "bcrypt verify (cost 12)",
        python: "hash.bcrypt12_verify",
        rust: Ok(("testudo-hashers", "hashers", "hashers/bcrypt_12_verify")),
    },
    Pair {
        label: "PBKDF2-SHA256 hash (600 000)",
        python: "hash.pbkdf2_600k_hash",
        rust: Err("n/a (testudo only verifies PBKDF2)"),
    },
    Pair {
        label: "PBKDF2-SHA256 verify (600 000)",
        python: "hash.pbkdf2_600k_verify",
        rust: Ok(("testudo-hashers", "hashers", "hashers/pbkdf2_600000_verify")),
    },
];

/// A bench target of a workspace package.
#[derive(Debug, Clone)]
struct BenchTarget {
    package: String,
    name: String,
    required_features: Vec<String>,
    package_dir: PathBuf,
}

impl BenchTarget {
    /// `--features pkg/a,pkg/b`, or nothing.
    fn feature_args(&self) -> Vec<String> {
        if self.required_features.is_empty() {
            return Vec::new();
        }
        vec![
            "--features".to_owned(),
            self.required_features
                .iter()
                .map(|f| format!("{}/{f}", self.package))
                .collect::<Vec<_>>()
                .join(","),
        ]
    }
}

/// The workspace's bench targets and its target directory.
fn bench_targets(sh: &Shell) -> Result<(Vec<BenchTarget>, PathBuf)> {
    let metadata = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()?;
    parse_metadata(&metadata)
}

fn parse_metadata(metadata: &str) -> Result<(Vec<BenchTarget>, PathBuf)> {
    let metadata: Value = serde_json::from_str(metadata).context("cargo metadata output")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata: no target_directory")?;
    let mut targets = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) =
            (package["name"].as_str(), package["manifest_path"].as_str())
        else {
            continue;
        };
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bench = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"));
            let Some(target_name) = target["name"].as_str() else {
                continue;
            };
            if !is_bench {
                continue;
            }
            targets.push(BenchTarget {
                package: name.to_owned(),
                name: target_name.to_owned(),
                required_features: target["required-features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect(),
                package_dir: Path::new(manifest)
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            });
        }
    }
    targets.sort_by(|a, b| (&a.package, &a.name).cmp(&(&b.package, &b.name)));
    Ok((targets, PathBuf::from(target_dir)))
}

/// A criterion result read back from disk.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    /// Criterion's full id (`group/function/value`).
    id: String,
    /// Median time per iteration, in nanoseconds.
    median_ns: f64,
    /// Elements per iteration when the bench declared a `Throughput::Elements`.
    elements: Option<f64>,
    /// Iterations criterion ran in the measurement phase.
    iterations: f64,
}

/// Every `new/benchmark.json` under `dir` (criterion's output) written at or after `since`.
fn read_criterion_dir(dir: &Path, since: Option<SystemTime>) -> Result<Vec<Measured>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let benchmark = path.join("benchmark.json");
            if path.file_name().is_some_and(|n| n == "new") && benchmark.is_file() {
                let fresh = match since {
                    None => true,
                    Some(since) => std::fs::metadata(&benchmark)
                        .and_then(|m| m.modified())
                        .is_ok_and(|modified| modified >= since),
                };
                if fresh {
                    found.push(read_measurement(&path)?);
                }
            } else {
                stack.push(path);
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// One criterion `new/` directory: `benchmark.json`, `estimates.json`, `sample.json`.
fn read_measurement(new_dir: &Path) -> Result<Measured> {
    let read = |file: &str| -> Result<Value> {
        let path = new_dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    };
    let benchmark = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let iterations = read("sample.json")
        .ok()
        .and_then(|s| {
            s["iters"]
                .as_array()
                .map(|i| i.iter().filter_map(Value::as_f64).sum())
        })
        .unwrap_or(0.0);
    parse_measurement(&benchmark, &estimates, iterations)
        .with_context(|| format!("criterion files in {}", new_dir.display()))
}

fn parse_measurement(benchmark: &Value, estimates: &Value, iterations: f64) -> Result<Measured> {
    let id = benchmark["full_id"]
        .as_str()
        .context("benchmark.json: no full_id")?;
    let median_ns = estimates["median"]["point_estimate"]
        .as_f64()
        .context("estimates.json: no median point estimate")?;
    let elements = benchmark["throughput"]["Elements"].as_f64();
    Ok(Measured {
        id: id.to_owned(),
        median_ns,
        elements,
        iterations,
    })
}

/// `1.23 µs`, `45.6 ms`...
fn format_duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `2.41 M/s`, `9.4 k/s`, `6.9 /s`.
fn format_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.1} /s")
    }
}

/// Operations per second for one iteration of `median_ns` doing `elements` operations.
fn ops_per_second(median_ns: f64, elements: Option<f64>) -> f64 {
    if median_ns <= 0.0 {
        return 0.0;
    }
    elements.unwrap_or(1.0) * 1e9 / median_ns
}

/// The median of a non-empty list (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])),
    }
}

/// A regex matching exactly one of `ids` (criterion's filter is a regex on the full id).
fn exact_filter(ids: &[&str]) -> String {
    let escaped: Vec<String> = ids
        .iter()
        .map(|id| {
            id.chars()
                .map(|c| {
                    if "\\.+*?()|[]{}^$#&-~".contains(c) {
                        format!("\\{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

/// Writes `text` to `path` and to stdout.
fn publish(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("{}", path.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    writeln!(out, "\n(written to {})", path.display())?;
    Ok(())
}

/// `cargo xtask bench [--quick] [--compare]`.
pub(crate) fn run(sh: &Shell, quick: bool, compare: bool) -> Result<()> {
    if compare {
        return run_compare(sh, quick);
    }
    let (targets, target_dir) = bench_targets(sh)?;
    let criterion_dir = target_dir.join("criterion");
    let mut rows: Vec<(String, Measured)> = Vec::new();
    let mut failed = Vec::new();
    for target in &targets {
        let (package, name) = (&target.package, &target.name);
        let features = target.feature_args();
        let extra: &[&str] = if quick { &QUICK_ARGS } else { &[] };
        eprintln!("xtask bench: {package} / {name}");
        let started = SystemTime::now();
        if let Err(err) = cmd!(
            sh,
            "cargo bench -p {package} --bench {name} {features...} -- {extra...}"
        )
        .run()
        {
            eprintln!("xtask bench: {package}/{name} failed: {err}");
            failed.push(format!("{package}/{name}"));
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
    publish(
        &target_dir.join("bench-summary.md"),
        &summary_table(&rows, quick),
    )?;
    if !failed.is_empty() {
        bail!("these benches failed: {}", failed.join(", "));
    }
    Ok(())
}

fn summary_table(rows: &[(String, Measured)], quick: bool) -> String {
    let mut out = String::from("# testudo benchmarks\n\n");
    if quick {
        out.push_str(
            "Smoke run (`--quick`: short warm-up and measurement); figures are rough.\n\n",
        );
    }
    out.push_str(
        "| crate | benchmark | median | throughput | iterations |\n|---|---|---:|---:|---:|\n",
    );
    for (package, m) in rows {
        let _ = writeln!(
            out,
            "| {package} | {} | {} | {} | {} |",
            m.id.replace('|', "\\|"),
            format_duration(m.median_ns),
            format_rate(ops_per_second(m.median_ns, m.elements)),
            m.iterations,
        );
    }
    out
}

/// A bench executable: (package, bench target).
type BenchKey = (&'static str, &'static str);

/// Per-operation medians of one side over the rounds.
type Samples = BTreeMap<&'static str, Vec<f64>>;

fn run_compare(sh: &Shell, quick: bool) -> Result<()> {
    let (targets, target_dir) = bench_targets(sh)?;
    let work = target_dir.join("bench-compare");
    std::fs::create_dir_all(&work)?;
    let python = python_env(sh, &target_dir)?;
    let executables = build_benches(sh, &targets)?;

    let rounds = if quick { 1 } else { 3 };
    let (warm_up, measure) = if quick { ("0.3", "1") } else { ("1", "3") };
    let script = sh.current_dir().join("bench").join("compare.py");
    let db_dir = work.join("python-db");

    // Group the pairs by bench executable: one run of an executable covers all of its ops.
    let mut groups: Vec<(Option<BenchKey>, Vec<&Pair>)> = Vec::new();
    for pair in PAIRS {
        let key = pair.rust.ok().map(|(package, bench, _)| (package, bench));
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pairs)) => pairs.push(pair),
            None => groups.push((key, vec![pair])),
        }
    }

    let mut rust: Samples = BTreeMap::new();
    let mut py: Samples = BTreeMap::new();
    for round in 0..rounds {
        for (index, (key, pairs)) in groups.iter().enumerate() {
            let run_rust = |rust: &mut Samples| -> Result<()> {
                let Some((package, bench)) = key else {
                    return Ok(());
                };
                let Some((exe, dir)) =
                    executables.get(&((*package).to_owned(), (*bench).to_owned()))
                else {
                    return Ok(());
                };
                let ids: Vec<&str> = pairs
                    .iter()
                    .filter_map(|p| p.rust.ok().map(|r| r.2))
                    .collect();
                let filter = exact_filter(&ids);
                let home = work
                    .join("criterion")
                    .join(format!("round-{round}-{package}-{bench}"));
                eprintln!(
                    "xtask bench --compare: round {} testudo {package}/{bench}",
                    round + 1
                );
                let _dir = sh.push_dir(dir);
                cmd!(
                    sh,
                    "{exe} --bench {filter} --noplot --warm-up-time {warm_up} --measurement-time {measure}"
                )
                .env("CRITERION_HOME", &home)
                .run()?;
                let measured = read_criterion_dir(&home, None)?;
                for pair in pairs {
                    if let Ok((_, _, id)) = pair.rust
                        && let Some(m) = measured.iter().find(|m| m.id == id)
                    {
                        rust.entry(pair.python).or_default().push(m.median_ns);
                    }
                }
                Ok(())
            };
            let run_python = |py: &mut Samples| -> Result<()> {
                let ops = pairs.iter().map(|p| p.python).collect::<Vec<_>>().join(",");
                eprintln!(
                    "xtask bench --compare: round {} tortoise-auth {ops}",
                    round + 1
                );
                let stdout = cmd!(
                    sh,
                    "{python} {script} --ops {ops} --warm-up {warm_up} --measure {measure} --work-dir {db_dir}"
                )
                .read()?;
                for (op, median_ns) in parse_driver_output(&stdout)? {
                    if let Some(pair) = pairs.iter().find(|p| p.python == op) {
                        py.entry(pair.python).or_default().push(median_ns);
                    }
                }
                Ok(())
            };
            // Alternate which side goes first, so slow drift of the machine hits both.
            if (round + index) % 2 == 0 {
                run_rust(&mut rust)?;
                run_python(&mut py)?;
            } else {
                run_python(&mut py)?;
                run_rust(&mut rust)?;
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
    let table = compare_table(&rust, &py, &status, rounds, quick);
    publish(&target_dir.join("bench-compare.md"), &table)
}

/// `(op, median_ns)` from the driver's JSON lines.
fn parse_driver_output(stdout: &str) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    for line in stdout.lines().filter(|l| l.trim_start().starts_with('{')) {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("driver output line {line:?}"))?;
        let (Some(op), Some(median_ns)) = (value["op"].as_str(), value["median_ns"].as_f64())
        else {
            bail!("driver output line without op / median_ns: {line}");
        };
        out.push((op.to_owned(), median_ns));
    }
    Ok(out)
}

/// `missing(package, bench)` says why a testudo figure is absent.
fn compare_table(
    rust: &Samples,
    py: &Samples,
    missing: &dyn Fn(&str, &str) -> &'static str,
    rounds: usize,
    quick: bool,
) -> String {
    let mut out = String::from("# testudo vs tortoise-auth 0.6.0\n\n");
    let _ = writeln!(
        out,
        "Median time per operation (median of {rounds} interleaved round(s){}); \
         ratio = tortoise-auth / testudo (above 1: testudo is faster).\n",
        if quick { ", `--quick` smoke run" } else { "" }
    );
    out.push_str("| operation | testudo | tortoise-auth | ratio |\n|---|---:|---:|---:|\n");
    for pair in PAIRS {
        let rust_median = rust.get(pair.python).and_then(|v| median(v));
        let py_median = py.get(pair.python).and_then(|v| median(v));
        let rust_cell = match (pair.rust, rust_median) {
            (Err(reason), _) => reason.to_owned(),
            (Ok(_), Some(ns)) => format_duration(ns),
            (Ok((package, bench, _)), None) => missing(package, bench).to_owned(),
        };
        let py_cell = py_median.map_or_else(|| "n/a (driver failed)".to_owned(), format_duration);
        let ratio = match (rust_median, py_median) {
            (Some(r), Some(p)) if r > 0.0 => format!("{:.2}x", p / r),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {rust_cell} | {py_cell} | {ratio} |",
            pair.label
        );
    }
    out
}

/// The virtual environment's Python, created and filled from `bench/requirements.txt` unless
/// it already holds exactly those pins.
fn python_env(sh: &Shell, target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("bench-venv");
    let python = venv.join("bin").join("python");
    let requirements = sh.current_dir().join("bench").join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("{}", requirements.display()))?;
    let marker = venv.join("testudo-requirements.txt");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have == wanted) && python.is_file() {
        return Ok(python);
    }
    let system_python = std::env::var("TESTUDO_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("xtask bench --compare: creating {}", venv.display());
    cmd!(sh, "{system_python} -m venv --clear {venv}").run()?;
    cmd!(
        sh,
        "{python} -m pip install --disable-pip-version-check --quiet -r {requirements}"
    )
    .run()?;
    std::fs::write(&marker, wanted)?;
    Ok(python)
}

/// Builds the bench targets the comparison needs; `(package, bench)` -> (executable, package
/// directory, where criterion benches run from under `cargo bench`).
fn build_benches(
    sh: &Shell,
    targets: &[BenchTarget],
) -> Result<HashMap<(String, String), (PathBuf, PathBuf)>> {
    let mut executables = HashMap::new();
    for target in targets {
        let needed = PAIRS.iter().any(|p| {
            p.rust
                .is_ok_and(|(package, bench, _)| package == target.package && bench == target.name)
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
            eprintln!("xtask bench --compare: {package}/{name} does not build, skipped:");
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

    #[test]
    fn metadata_yields_bench_targets_with_their_features() {
        let metadata = r#"{"target_directory": "/w/target", "packages": [
            {"name": "a", "manifest_path": "/w/crates/a/Cargo.toml", "targets": [
                {"kind": ["lib"], "name": "a"},
                {"kind": ["bench"], "name": "speed", "required-features": ["sqlite"]}]},
            {"name": "b", "manifest_path": "/w/crates/b/Cargo.toml", "targets": [
                {"kind": ["bench"], "name": "fast"}]}]}"#;
        let (targets, dir) = parse_metadata(metadata).expect("valid metadata");
        assert_eq!(dir, PathBuf::from("/w/target"));
        let names: Vec<_> = targets
            .iter()
            .map(|t| (t.package.as_str(), t.name.as_str(), t.feature_args()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "a",
                    "speed",
                    vec!["--features".to_owned(), "a/sqlite".to_owned()]
                ),
                ("b", "fast", vec![]),
            ]
        );
        assert_eq!(targets[0].package_dir, PathBuf::from("/w/crates/a"));
    }

    #[test]
    fn criterion_files_give_median_and_throughput() {
        let benchmark =
            serde_json::json!({"full_id": "hashers/argon2", "throughput": {"Elements": 10}});
        let estimates = serde_json::json!({"median": {"point_estimate": 2000.0}});
        let m = parse_measurement(&benchmark, &estimates, 55.0).expect("complete files");
        assert_eq!(m.id, "hashers/argon2");
        assert!((ops_per_second(m.median_ns, m.elements) - 5_000_000.0).abs() < 1e-6);
        assert!(parse_measurement(&serde_json::json!({}), &estimates, 0.0).is_err());
    }

    #[test]
    fn criterion_results_are_read_from_disk() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let new = dir.join("group").join("op").join("new");
        std::fs::create_dir_all(&new).expect("temp dir");
        std::fs::write(new.join("benchmark.json"), r#"{"full_id": "group/op"}"#).expect("write");
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median": {"point_estimate": 12.5}}"#,
        )
        .expect("write");
        std::fs::write(
            new.join("sample.json"),
            r#"{"iters": [1.0, 2.0], "times": [1.0, 2.0]}"#,
        )
        .expect("write");
        let found = read_criterion_dir(&dir, None).expect("readable");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            found,
            vec![Measured {
                id: "group/op".into(),
                median_ns: 12.5,
                elements: None,
                iterations: 3.0
            }]
        );
    }

    #[test]
    fn filters_match_ids_literally() {
        assert_eq!(
            exact_filter(&["verify_token (100k rows, sqlite file)", "a/b"]),
            r"^(verify_token \(100k rows, sqlite file\)|a/b)$"
        );
    }

    #[test]
    fn medians_and_units() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(format_duration(950.0), "950.0 ns");
        assert_eq!(format_duration(1_500.0), "1.50 µs");
        assert_eq!(format_duration(150_000_000.0), "150.00 ms");
        assert_eq!(format_rate(2_410_000.0), "2.41 M/s");
        assert_eq!(format_rate(9_400.0), "9.4 k/s");
    }

    #[test]
    fn driver_lines_are_parsed_and_other_output_ignored() {
        let out = "seeding...\n{\"op\": \"signing.sign\", \"median_ns\": 4.5, \"iterations\": 9}\n";
        assert_eq!(
            parse_driver_output(out).expect("valid"),
            vec![("signing.sign".to_owned(), 4.5)]
        );
        assert!(parse_driver_output("{\"op\": 1}").is_err());
    }

    #[test]
    fn comparison_table_reports_missing_sides_honestly() {
        let mut rust = Samples::new();
        let mut py = Samples::new();
        rust.insert("signing.sign", vec![100.0, 300.0, 200.0]);
        py.insert("signing.sign", vec![2000.0]);
        py.insert("service.authenticate", vec![1e6]);
        py.insert("hash.bcrypt12_hash", vec![3e8]);
        let table = compare_table(&rust, &py, &|_, _| "n/a (not built yet)", 3, false);
        assert!(table.contains("| Signer.sign | 200.0 ns | 2.00 µs | 10.00x |"));
        assert!(table.contains("| AuthService.authenticate (100k rows, SQLite file) | n/a (not built yet) | 1.00 ms | – |"));
        assert!(table.contains(
            "| bcrypt hash (cost 12) | n/a (testudo only verifies bcrypt) | 300.00 ms | – |"
        ));
    }
}
