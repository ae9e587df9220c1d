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

/// Where a testudo figure comes from: a bench target of a workspace package.
type BenchKey = (&'static str, &'static str);

/// A goal of issue 9 for one operation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// testudo's throughput is at least this fraction of the raw crate loop's.
    OfRaw(f64),
    /// testudo takes at most this many times the raw crate loop's time.
    WithinRaw(f64),
    /// testudo is at least this many times as fast as tortoise-auth.
    Faster(f64),
    /// testudo takes at most this many times tortoise-auth's time.
    WithinPython(f64),
}

impl Target {
    /// `Some(met)` when the figures it needs are there.
    fn met(
        self,
        testudo_ns: Option<f64>,
        raw_ns: Option<f64>,
        python_ns: Option<f64>,
    ) -> Option<bool> {
        let testudo = testudo_ns.filter(|ns| *ns > 0.0)?;
        match self {
            Self::OfRaw(fraction) => raw_ns.map(|raw| raw / testudo >= fraction),
            Self::WithinRaw(factor) => raw_ns.map(|raw| testudo <= raw * factor),
            Self::Faster(factor) => python_ns.map(|py| py / testudo >= factor),
            Self::WithinPython(factor) => python_ns.map(|py| testudo <= py * factor),
        }
    }

    /// Whether it compares with the raw crate loop (shown in the summary) or with tortoise-auth.
    const fn is_raw(self) -> bool {
        matches!(self, Self::OfRaw(_) | Self::WithinRaw(_))
    }

    fn describe(self) -> String {
        match self {
            Self::OfRaw(fraction) => format!("≥ {fraction:.2} of raw"),
            Self::WithinRaw(factor) => format!("≤ {factor}x raw time"),
            Self::Faster(factor) => format!("≥ {factor}x tortoise-auth"),
            Self::WithinPython(factor) => format!("≤ {factor}x tortoise-auth time"),
        }
    }
}

/// One operation timed on both sides.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// What the table calls it (unique).
    label: &'static str,
    /// The operation's name in `bench/compare.py` (several pairs may share one).
    python: &'static str,
    /// The bench executable holding testudo's side and the raw twin, if any.
    bench: Option<BenchKey>,
    /// testudo's criterion benchmark id, or why testudo has no such operation.
    rust: Result<&'static str, &'static str>,
    /// The criterion id of the raw-crate-loop twin in the same executable (`raw/...`).
    raw: Option<&'static str>,
    /// The goals of issue 9 for this operation.
    targets: &'static [Target],
}

const SIGNING: Option<BenchKey> = Some(("testudo-signing", "signing"));
const JWT: Option<BenchKey> = Some(("testudo-tokens-jwt", "jwt"));
const TOKENS_DB: Option<BenchKey> = Some(("testudo-tokens-db", "tokens"));
const SERVICE: Option<BenchKey> = Some(("testudo-service", "authenticate"));
const VALIDATORS: Option<BenchKey> = Some(("testudo-validators", "validators"));
const HASHERS: Option<BenchKey> = Some(("testudo-hashers", "hashers"));

/// Signing: >= 80% of the raw loop's throughput, hence >= 9x tortoise-auth.
const SIGNING_TARGETS: &[Target] = &[Target::OfRaw(0.8), Target::Faster(9.0)];
/// bcrypt and PBKDF2: within 1.1x of the raw crate loop.
const HASH_TARGETS: &[Target] = &[Target::WithinRaw(1.1)];

/// The operations of the comparison, with the criterion ids of the crates' benches.
const PAIRS: &[Pair] = &[
    Pair {
        label: "Signer.sign",
        python: "signing.sign",
        bench: SIGNING,
        rust: Ok("sign"),
        raw: Some("raw/sign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "Signer.unsign",
        python: "signing.unsign",
        bench: SIGNING,
        rust: Ok("unsign"),
        raw: Some("raw/unsign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "TimestampSigner sign",
        python: "signing.timestamp_sign",
        bench: SIGNING,
        rust: Ok("timestamp_sign"),
        raw: Some("raw/timestamp_sign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "TimestampSigner unsign",
        python: "signing.timestamp_unsign",
        bench: SIGNING,
        rust: Ok("timestamp_unsign"),
        raw: Some("raw/timestamp_unsign"),
        targets: SIGNING_TARGETS,
    },
    Pair {
        label: "JWT create_tokens (HS256 pair)",
        python: "jwt.create_tokens_hs256",
        bench: JWT,
        rust: Ok("create_tokens/HS256"),
        raw: Some("raw/create_tokens/HS256"),
        targets: &[Target::OfRaw(0.8), Target::Faster(25.0)],
    },
    Pair {
        label: "JWT verify_token (HS256)",
        python: "jwt.verify_token_hs256",
        bench: JWT,
        rust: Ok("verify_token/HS256"),
        raw: Some("raw/verify_token/HS256"),
        targets: &[Target::OfRaw(0.8), Target::Faster(25.0)],
    },
    Pair {
        label: "DB create_tokens (SQLite file)",
        python: "db.create_tokens",
        bench: TOKENS_DB,
        rust: Ok("create_tokens (sqlite file)"),
        raw: None,
        targets: &[Target::Faster(2.0)],
    },
    Pair {
        label: "DB create_tokens, user at max_tokens_per_user (SQLite file)",
        python: "db.create_tokens",
        bench: TOKENS_DB,
        rust: Ok("create_tokens at max_tokens_per_user (sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "DB verify_token (100k rows, SQLite file)",
        python: "db.verify_token_100k",
        bench: TOKENS_DB,
        rust: Ok("verify_token (100k rows, sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "AuthService.authenticate (100k rows, SQLite file)",
        python: "service.authenticate",
        bench: SERVICE,
        rust: Ok("authenticate (100k rows, sqlite file)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "authenticate, 16 concurrent callers (100k rows, SQLite file)",
        python: "service.authenticate_x16",
        bench: SERVICE,
        rust: Ok("authenticate x16 (100k rows, sqlite file)"),
        raw: None,
        targets: &[Target::Faster(10.0)],
    },
    Pair {
        label: "authenticate, 16 concurrent callers, cached (100k rows, SQLite file)",
        python: "service.authenticate_x16",
        bench: SERVICE,
        rust: Ok("authenticate x16 cached (100k rows, sqlite file)"),
        raw: None,
        targets: &[Target::Faster(100.0)],
    },
    Pair {
        label: "authenticate, 16 concurrent callers (100k rows, PostgreSQL)",
        python: "service.authenticate_x16_pg",
        bench: SERVICE,
        rust: Ok("authenticate x16 (100k rows, postgres)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "authenticate, 16 concurrent callers, cached (100k rows, PostgreSQL)",
        python: "service.authenticate_x16_pg",
        bench: SERVICE,
        rust: Ok("authenticate x16 cached (100k rows, postgres)"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "validate_password (typical, no user)",
        python: "validators.validate_password_typical",
        bench: VALIDATORS,
        rust: Ok("validate_password/typical"),
        raw: Some("raw/validate_password/typical"),
        targets: &[Target::OfRaw(0.8), Target::Faster(40.0)],
    },
    Pair {
        label: "Argon2id hash (t=3, m=64 MiB, p=4), parallel lanes",
        python: "hash.argon2id_hash",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_hash"),
        raw: None,
        targets: &[Target::WithinPython(1.1)],
    },
    Pair {
        label: "Argon2id hash (t=3, m=64 MiB, p=4), sequential lanes",
        python: "hash.argon2id_hash",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_hash_sequential"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "Argon2id verify (t=3, m=64 MiB, p=4)",
        python: "hash.argon2id_verify",
        bench: HASHERS,
        rust: Ok("hashers/argon2id_default_verify"),
        raw: None,
        targets: &[],
    },
    Pair {
        label: "bcrypt hash (cost 12)",
        python: "hash.bcrypt12_hash",
        bench: HASHERS,
        rust: Err("n/a (testudo never writes bcrypt)"),
        raw: Some("raw/hashers/bcrypt_12_hash"),
        targets: &[],
    },
    Pair {
        label: "bcrypt verify (cost 12)",
        python: "hash.bcrypt12_verify",
        bench: HASHERS,
        rust: Ok("hashers/bcrypt_12_verify"),
        raw: Some("raw/hashers/bcrypt_12_verify"),
        targets: HASH_TARGETS,
    },
    Pair {
        label: "PBKDF2-SHA256 hash (600 000)",
        python: "hash.pbkdf2_600k_hash",
        bench: HASHERS,
        rust: Err("n/a (testudo never writes PBKDF2)"),
        raw: Some("raw/hashers/pbkdf2_600000_hash"),
        targets: &[],
    },
    Pair {
        label: "PBKDF2-SHA256 verify (600 000)",
        python: "hash.pbkdf2_600k_verify",
        bench: HASHERS,
        rust: Ok("hashers/pbkdf2_600000_verify"),
        raw: Some("raw/hashers/pbkdf2_600000_verify"),
        targets: HASH_TARGETS,
    },
];

/// Features enabled beyond a bench target's `required-features`: the PostgreSQL rows of the
/// authenticate bench.
const EXTRA_FEATURES: &[(&str, &str, &[&str])] =
    &[("testudo-service", "authenticate", &["postgres"])];

/// Bench targets that are not criterion benches (`harness = false` binaries with their own
/// output): run without criterion's arguments; their results are not read from criterion's
/// files.
const NOT_CRITERION: &[BenchKey] = &[("testudo-service", "load")];

/// The markdown report the `load` bench writes, relative to the target directory.
const LOAD_REPORT: &str = "bench-load.md";

/// The PostgreSQL server the benches use when `TESTUDO_BENCH_POSTGRES_URL` is unset.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Criterion iterations that are several calls: the x16 benches time 16 concurrent calls per
/// iteration without declaring a `Throughput` (criterion only attaches one inside a group).
fn calls_per_iteration(id: &str) -> Option<f64> {
    id.contains(" x16 ").then_some(16.0)
}

/// A bench target of a workspace package.
#[derive(Debug, Clone)]
struct BenchTarget {
    package: String,
    name: String,
    required_features: Vec<String>,
    package_dir: PathBuf,
}

impl BenchTarget {
    /// `--features pkg/a,pkg/b` (the required features and [`EXTRA_FEATURES`]), or nothing.
    fn feature_args(&self) -> Vec<String> {
        let extra = EXTRA_FEATURES
            .iter()
            .filter(|(package, bench, _)| *package == self.package && *bench == self.name)
            .flat_map(|(_, _, features)| features.iter().map(|f| (*f).to_owned()));
        let features: Vec<String> = self
            .required_features
            .iter()
            .cloned()
            .chain(extra)
            .collect();
        if features.is_empty() {
            return Vec::new();
        }
        vec![
            "--features".to_owned(),
            features
                .iter()
                .map(|f| format!("{}/{f}", self.package))
                .collect::<Vec<_>>()
                .join(","),
        ]
    }

    /// Whether it is a criterion bench (see [`NOT_CRITERION`]).
    fn is_criterion(&self) -> bool {
        !NOT_CRITERION
            .iter()
            .any(|(package, bench)| *package == self.package && *bench == self.name)
    }
}

/// `TESTUDO_BENCH_POSTGRES_URL`, or [`DEFAULT_POSTGRES_URL`].
fn postgres_url() -> String {
    std::env::var("TESTUDO_BENCH_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
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
        eprintln!("xtask bench: {package} / {name}");
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
            eprintln!("xtask bench: {package}/{name} failed: {err}");
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

/// The operations per second of a measurement (x16 iterations count 16 calls).
fn rate(m: &Measured) -> f64 {
    ops_per_second(
        m.median_ns,
        m.elements.or_else(|| calls_per_iteration(&m.id)),
    )
}

/// The pair whose testudo side is `id` in `package`.
fn pair_for(package: &str, id: &str) -> Option<&'static Pair> {
    PAIRS
        .iter()
        .find(|p| p.bench.is_some_and(|(pkg, _)| pkg == package) && p.rust == Ok(id))
}

/// `✓` / `✗` per target, `–` when a figure is missing.
fn target_cells(targets: &[Target], met: impl Fn(Target) -> Option<bool>) -> String {
    targets
        .iter()
        .map(|t| {
            let mark = match met(*t) {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "–",
            };
            format!("{} {mark}", t.describe())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn summary_table(rows: &[(String, Measured)], quick: bool) -> String {
    let mut out = String::from("# testudo benchmarks\n\n");
    if quick {
        out.push_str(
            "Smoke run (`--quick`: short warm-up and measurement); figures are rough.\n\n",
        );
    }
    out.push_str(
        "`raw/...` rows are the raw crate loops (the same work written directly against the \
         underlying crates); \"vs raw\" is testudo's throughput over its raw twin's \
         (1.00: no library overhead). An `x16` iteration is 16 concurrent calls.\n\n",
    );
    out.push_str(
        "| crate | benchmark | median | throughput | iterations | vs raw | target |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for (package, m) in rows {
        let raw_id = format!("raw/{}", m.id);
        let raw = rows
            .iter()
            .find(|(p, r)| p == package && r.id == raw_id)
            .map(|(_, r)| r);
        let vs_raw = raw.map_or_else(String::new, |r| {
            if m.median_ns > 0.0 {
                format!("{:.2}", r.median_ns / m.median_ns)
            } else {
                "–".to_owned()
            }
        });
        let target = pair_for(package, &m.id).map_or_else(String::new, |pair| {
            let raw_targets: Vec<Target> = pair
                .targets
                .iter()
                .copied()
                .filter(|t| t.is_raw())
                .collect();
            target_cells(&raw_targets, |t| {
                t.met(Some(m.median_ns), raw.map(|r| r.median_ns), None)
            })
        });
        let _ = writeln!(
            out,
            "| {package} | {} | {} | {} | {} | {vs_raw} | {target} |",
            m.id.replace('|', "\\|"),
            format_duration(m.median_ns),
            format_rate(rate(m)),
            m.iterations,
        );
    }
    out
}

/// Medians over the rounds: testudo's and the raw twins' keyed by pair label (time per call),
/// tortoise-auth's keyed by driver operation.
type Samples = BTreeMap<&'static str, Vec<f64>>;

/// What the rounds measured.
#[derive(Debug, Default)]
struct Compared {
    /// testudo's time per call, by pair label.
    rust: Samples,
    /// The raw crate loops' time per call, by pair label.
    raw: Samples,
    /// tortoise-auth's time per call, by driver operation.
    python: Samples,
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

/// Time per call of a criterion measurement.
fn per_call_ns(m: &Measured) -> f64 {
    m.median_ns / calls_per_iteration(&m.id).unwrap_or(1.0)
}

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
    let postgres = postgres_url();

    // Group the pairs by bench executable: one run of an executable covers all of its ops.
    let mut groups: Vec<(Option<BenchKey>, Vec<&Pair>)> = Vec::new();
    for pair in PAIRS {
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
                    "xtask bench --compare: round {} testudo {package}/{bench}",
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
                    eprintln!("xtask bench --compare: {package}/{bench} failed: {err}");
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
                    "xtask bench --compare: round {} tortoise-auth {ops}",
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
                        "xtask bench --compare: the driver failed on {ops}: {}",
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
    let table = compare_table(&got, &status, rounds, quick);
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
    got: &Compared,
    missing: &dyn Fn(&str, &str) -> &'static str,
    rounds: usize,
    quick: bool,
) -> String {
    let mut out = String::from("# testudo vs tortoise-auth 0.6.0\n\n");
    let _ = writeln!(
        out,
        "Median time per call (median of {rounds} interleaved round(s){}). \
         \"raw\": the same work written directly against the underlying crates (no library). \
         tortoise-auth / testudo above 1: testudo is faster. testudo / raw: testudo's throughput \
         over the raw loop's (1.00: no library overhead). x16 rows: 16 concurrent callers, time \
         per call = time of the 16 / 16.\n",
        if quick { ", `--quick` smoke run" } else { "" }
    );
    out.push_str(
        "| operation | testudo | raw crate | tortoise-auth | tortoise-auth / testudo | \
         testudo / raw | target |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for pair in PAIRS {
        let rust_median = got.rust.get(pair.label).and_then(|v| median(v));
        let raw_median = got.raw.get(pair.label).and_then(|v| median(v));
        let py_median = got.python.get(pair.python).and_then(|v| median(v));
        let rust_cell = match (pair.rust, rust_median, pair.bench) {
            (Err(reason), _, _) => reason.to_owned(),
            (Ok(_), Some(ns), _) => format_duration(ns),
            (Ok(_), None, Some((package, bench))) => missing(package, bench).to_owned(),
            (Ok(_), None, None) => "n/a".to_owned(),
        };
        let raw_cell = match (pair.raw, raw_median, pair.bench) {
            (None, _, _) => "–".to_owned(),
            (Some(_), Some(ns), _) => format_duration(ns),
            (Some(_), None, Some((package, bench))) => missing(package, bench).to_owned(),
            (Some(_), None, None) => "n/a".to_owned(),
        };
        let py_cell = py_median.map_or_else(|| "n/a (driver failed)".to_owned(), format_duration);
        let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
            _ => "–".to_owned(),
        };
        let vs_python = match ratio(py_median, rust_median) {
            dash if dash == "–" => dash,
            r => format!("{r}x"),
        };
        let vs_raw = if pair.raw.is_some() {
            ratio(raw_median, rust_median)
        } else {
            "–".to_owned()
        };
        let target = target_cells(pair.targets, |t| t.met(rust_median, raw_median, py_median));
        let _ = writeln!(
            out,
            "| {} | {rust_cell} | {raw_cell} | {py_cell} | {vs_python} | {vs_raw} | {target} |",
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
        let mut got = Compared::default();
        got.rust.insert("Signer.sign", vec![100.0, 300.0, 200.0]);
        got.raw.insert("Signer.sign", vec![180.0]);
        got.python.insert("signing.sign", vec![2000.0]);
        got.python.insert("service.authenticate", vec![1e6]);
        got.python.insert("hash.bcrypt12_hash", vec![3e8]);
        got.raw.insert("bcrypt hash (cost 12)", vec![2.9e8]);
        let table = compare_table(&got, &|_, _| "n/a (not built yet)", 3, false);
        assert!(table.contains(
            "| Signer.sign | 200.0 ns | 180.0 ns | 2.00 µs | 10.00x | 0.90 | \
             ≥ 0.80 of raw ✓; ≥ 9x tortoise-auth ✓ |"
        ));
        assert!(table.contains(
            "| AuthService.authenticate (100k rows, SQLite file) | n/a (not built yet) | – | \
             1.00 ms | – | – |  |"
        ));
        assert!(table.contains(
            "| bcrypt hash (cost 12) | n/a (testudo never writes bcrypt) | 290.00 ms | \
             300.00 ms | – | – |  |"
        ));
        assert!(table.contains(
            "| Signer.unsign | n/a (not built yet) | n/a (not built yet) | n/a (driver failed) \
             | – | – | ≥ 0.80 of raw –; ≥ 9x tortoise-auth – |"
        ));
    }

    #[test]
    fn pairs_are_consistent() {
        let mut labels: Vec<_> = PAIRS.iter().map(|p| p.label).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), PAIRS.len(), "labels key the samples: unique");
        for pair in PAIRS {
            // The summary finds a raw twin by this naming rule.
            if let (Ok(id), Some(raw)) = (pair.rust, pair.raw) {
                assert_eq!(raw, format!("raw/{id}"), "{}", pair.label);
            }
            if pair.targets.iter().any(|t| t.is_raw()) {
                assert!(
                    pair.raw.is_some(),
                    "{}: a raw target needs a raw twin",
                    pair.label
                );
            }
            assert!(pair.bench.is_some() || pair.rust.is_err(), "{}", pair.label);
        }
    }

    #[test]
    fn targets_compare_the_right_figures() {
        // 80% of raw throughput: raw 80 ns, testudo 100 ns is exactly on it.
        assert_eq!(
            Target::OfRaw(0.8).met(Some(100.0), Some(80.0), None),
            Some(true)
        );
        assert_eq!(
            Target::OfRaw(0.8).met(Some(101.0), Some(80.0), None),
            Some(false)
        );
        assert_eq!(Target::OfRaw(0.8).met(Some(100.0), None, Some(1.0)), None);
        assert_eq!(
            Target::WithinRaw(1.1).met(Some(109.0), Some(100.0), None),
            Some(true)
        );
        assert_eq!(
            Target::WithinRaw(1.1).met(Some(111.0), Some(100.0), None),
            Some(false)
        );
        assert_eq!(
            Target::Faster(10.0).met(Some(1.0), None, Some(10.0)),
            Some(true)
        );
        assert_eq!(
            Target::Faster(10.0).met(Some(1.0), None, Some(9.0)),
            Some(false)
        );
        assert_eq!(
            Target::WithinPython(1.1).met(Some(160.0), None, Some(150.0)),
            Some(true)
        );
        assert_eq!(
            Target::WithinPython(1.1).met(Some(170.0), None, Some(150.0)),
            Some(false)
        );
        assert_eq!(Target::Faster(10.0).met(None, None, Some(9.0)), None);
    }

    #[test]
    fn x16_iterations_count_sixteen_calls() {
        let m = Measured {
            id: "authenticate x16 cached (100k rows, sqlite file)".into(),
            median_ns: 1_600_000.0,
            elements: None,
            iterations: 10.0,
        };
        assert!((per_call_ns(&m) - 100_000.0).abs() < 1e-6);
        assert!((rate(&m) - 10_000.0).abs() < 1e-6);
        assert_eq!(
            calls_per_iteration("authenticate (100k rows, sqlite file)"),
            None
        );
    }

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

    #[test]
    fn extra_features_and_non_criterion_benches() {
        let target = |name: &str| BenchTarget {
            package: "testudo-service".into(),
            name: name.into(),
            required_features: vec!["sqlite".into()],
            package_dir: PathBuf::from("/w/crates/testudo-service"),
        };
        assert_eq!(
            target("authenticate").feature_args(),
            vec![
                "--features".to_owned(),
                "testudo-service/sqlite,testudo-service/postgres".to_owned()
            ]
        );
        assert!(target("authenticate").is_criterion());
        assert!(!target("load").is_criterion());
    }

    #[test]
    fn summary_shows_the_library_overhead_against_the_raw_twin() {
        let m = |id: &str, median_ns: f64| Measured {
            id: id.into(),
            median_ns,
            elements: None,
            iterations: 1.0,
        };
        let rows = vec![
            ("testudo-signing".to_owned(), m("raw/sign", 400.0)),
            ("testudo-signing".to_owned(), m("sign", 500.0)),
            ("testudo-signing".to_owned(), m("unsign", 600.0)),
            (
                "testudo-hashers".to_owned(),
                m("hashers/bcrypt_12_verify", 2.0e8),
            ),
            (
                "testudo-hashers".to_owned(),
                m("raw/hashers/bcrypt_12_verify", 1.5e8),
            ),
        ];
        let table = summary_table(&rows, false);
        assert!(table.contains(
            "| testudo-signing | sign | 500.0 ns | 2.00 M/s | 1 | 0.80 | ≥ 0.80 of raw ✓ |"
        ));
        assert!(table.contains("| testudo-signing | raw/sign | 400.0 ns | 2.50 M/s | 1 |  |  |"));
        // No twin measured: the target cannot be judged.
        assert!(table.contains(
            "| testudo-signing | unsign | 600.0 ns | 1.67 M/s | 1 |  | ≥ 0.80 of raw – |"
        ));
        assert!(table.contains(
            "| hashers/bcrypt_12_verify | 200.00 ms | 5.0 /s | 1 | 0.75 | ≤ 1.1x raw time ✗ |"
        ));
    }
}
