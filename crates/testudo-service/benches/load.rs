//! Load behaviour: a storm of concurrent logins with the default Argon2id parameters against a
//! SQLite file, while `authenticate` keeps being called.
//!
//! `cargo bench -p testudo-service --features sqlite --bench load`
//!
//! What it does:
//!
//! 1. Builds an [`AuthService`] on a fresh SQLite file (temporary directory, migrations applied)
//!    with the **default** [`AuthConfig`]: Argon2id t=3, m=64 MiB, p=4 and `hash_concurrency`
//!    equal to the number of CPUs (the values used are printed).
//! 2. Creates `TESTUDO_LOAD_USERS` users (default: as many as logins). Their password hash is
//!    computed **once** and stored for every user, to save setup time: each login still runs one
//!    full Argon2id verification, which is what the storm measures.
//! 3. Logs a separate probe user in once and takes its access token; measures `authenticate`
//!    with no load (`TESTUDO_LOAD_BASELINE` sequential calls, default 2 000) for reference.
//! 4. Records the process RSS (`VmRSS`) after setup: the fixed part of the memory bound. It then
//!    resets the peak RSS counter (`echo 5 > /proc/self/clear_refs`; when that is refused the
//!    peak since process start is used, which only makes the check stricter).
//! 5. Spawns `TESTUDO_LOAD_LOGINS` (default 1 000; 50 under `cargo xtask bench --quick`)
//!    `login` tasks at once on a multi-thread tokio runtime (one worker per CPU), while one
//!    more task calls `authenticate` with the probe token, one call per
//!    `TESTUDO_LOAD_AUTH_INTERVAL_US` (default 1 000 us, so about 1 000 requests/s when the
//!    answers are fast; 0 = back to back, which makes the probe itself a
//!    load that takes CPU from hashing), and records each call's latency in a fixed-size
//!    histogram, until the last login finishes.
//! 6. Reports peak RSS (`VmHWM`), the bound, logins/s over the storm's wall time, login errors,
//!    `authenticate` p50 / p99 / max and count under load and without it, as a markdown table on
//!    stdout and in `<target dir>/bench-load.md`.
//!
//! The memory bound is `hash_concurrency x argon2_memory_cost + fixed overhead`, where the fixed
//! overhead is the RSS measured after setup (runtime, connection pool, SQLite page caches, the
//! rayon and blocking threads already started by the setup logins) plus a margin
//! (`TESTUDO_LOAD_MARGIN_MIB`, default 32 MiB) for what only the storm itself holds: a thousand
//! pending login futures, the blocking threads' stacks, sqlx statement caches on connections the
//! setup did not use, and allocator slack. The Argon2 buffers are bounded by the hasher's
//! semaphore (`hash_concurrency` permits, taken before `spawn_blocking`), so nothing else may
//! grow with the number of concurrent logins.
//!
//! On the 2-core development machine (other builds running) a full run peaked at 168.6 MiB
//! against a bound of 175.5 MiB; the RSS left after the storm (40.6 MiB against 15.5 MiB before
//! it) shows that about 25 MiB of the margin is memory that grows with the work done rather than
//! with hashing (not broken down yet; most likely the SQLite page caches of the eight pooled
//! connections as the tables grow, and allocator arenas of the sqlx worker threads), not the
//! pending tasks (about 1.2 KiB each). The worst
//! `authenticate` call came 0.1 s into the storm: the thousand logins' first queries queue on
//! the connection pool ahead of it.
//!
//! The binary exits with a non-zero status when the peak RSS exceeds the bound, when a login
//! fails or when an `authenticate` call fails, so `cargo xtask bench` reports it. The arguments
//! cargo passes (`--bench`, filters, criterion options) are ignored.

use std::error::Error;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use testudo_config::AuthConfig;
use testudo_core::Claims;
use testudo_service::{AuthService, DbUserStore};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const PASSWORD: &str = "correct horse battery staple";
const PROBE_EMAIL: &str = "probe@example.com";
const MIB: u64 = 1024 * 1024;

/// The knobs, from the environment.
#[derive(Debug, Clone, Copy)]
struct Settings {
    logins: usize,
    users: usize,
    baseline: usize,
    margin_mib: u64,
    auth_interval_us: u64,
    hash_concurrency: Option<usize>,
}

impl Settings {
    fn from_env() -> BenchResult<Self> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> BenchResult<T> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name}: not a number: {v:?}").into()),
                Err(_) => Ok(default),
            }
        }
        // `cargo xtask bench --quick` sets TESTUDO_BENCH_QUICK=1: a 50-login smoke run.
        let quick = std::env::var("TESTUDO_BENCH_QUICK").is_ok_and(|v| v == "1");
        let logins = var("TESTUDO_LOAD_LOGINS", if quick { 50_usize } else { 1000 })?;
        Ok(Self {
            logins,
            users: var("TESTUDO_LOAD_USERS", logins)?.max(1),
            baseline: var("TESTUDO_LOAD_BASELINE", 2000_usize)?.max(1),
            margin_mib: var("TESTUDO_LOAD_MARGIN_MIB", 32_u64)?,
            auth_interval_us: var("TESTUDO_LOAD_AUTH_INTERVAL_US", 1000_u64)?,
            hash_concurrency: match std::env::var("TESTUDO_LOAD_HASH_CONCURRENCY") {
                Ok(_) => Some(var("TESTUDO_LOAD_HASH_CONCURRENCY", 0_usize)?.max(1)),
                Err(_) => None,
            },
        })
    }
}

/// A number in `/proc/self/status` (`Threads`; sizes are in kB).
fn proc_status(field: &str) -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| format!("/proc/self/status: no {field}"))?;
    Ok(value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|e| format!("/proc/self/status {field}: {e}"))?)
}

/// A size field of `/proc/self/status` (`VmRSS`, `VmHWM`) in bytes.
fn proc_status_bytes(field: &str) -> BenchResult<u64> {
    Ok(proc_status(field)? * 1024)
}

/// Resets `VmHWM` to the current RSS; false when the kernel refuses.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Latency summary of a sample.
#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Latency {
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least `per_mille` of the samples at or below.
        let at = |per_mille: usize| -> Duration {
            let index = (samples.len() * per_mille).div_ceil(1000).saturating_sub(1);
            samples.get(index).copied().unwrap_or_default()
        };
        Self {
            count: samples.len(),
            p50: at(500),
            p99: at(990),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// Latencies in a log-linear histogram: exact below 128 ns, then 64 buckets per power of two
/// (at most 1.6 % low), so a probe making millions of calls holds a few kilobytes instead of a
/// growing vector of samples (which would itself show up in the peak RSS being checked).
#[derive(Debug, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    count: usize,
    max: Duration,
    max_at: Duration,
}

impl Histogram {
    const EXACT: u64 = 128;
    const SUB: u64 = 64;

    fn new() -> Self {
        Self {
            buckets: vec![0; Self::index(u64::MAX) + 1],
            count: 0,
            max: Duration::ZERO,
            max_at: Duration::ZERO,
        }
    }

    fn index(ns: u64) -> usize {
        if ns < Self::EXACT {
            return usize::try_from(ns).unwrap_or(0);
        }
        let exp = u64::from(63 - ns.leading_zeros()); // >= 7
        let shift = exp - 6;
        let mantissa = (ns >> shift) - Self::SUB; // 0..64
        usize::try_from(Self::EXACT + (exp - 7) * Self::SUB + mantissa).unwrap_or(usize::MAX)
    }

    fn lower_bound(index: usize) -> u64 {
        let index = index as u64;
        if index < Self::EXACT {
            return index;
        }
        let exp = (index - Self::EXACT) / Self::SUB + 7;
        let mantissa = (index - Self::EXACT) % Self::SUB + Self::SUB;
        mantissa << (exp - 6)
    }

    /// Records `latency`, observed `at` into the run.
    fn record(&mut self, latency: Duration, at: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        if let Some(b) = self.buckets.get_mut(Self::index(ns)) {
            *b += 1;
        }
        self.count += 1;
        if latency > self.max {
            self.max = latency;
            self.max_at = at;
        }
    }

    fn latency(&self) -> Latency {
        let at = |per_mille: usize| -> Duration {
            let rank = (self.count * per_mille).div_ceil(1000).max(1) as u64;
            let mut seen = 0;
            for (i, n) in self.buckets.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_nanos(Self::lower_bound(i)).min(self.max);
                }
            }
            self.max
        };
        Latency {
            count: self.count,
            p50: at(500),
            p99: at(990),
            max: self.max,
        }
    }
}

/// The target directory: `CARGO_TARGET_DIR`, else the ancestor of this executable that holds
/// cargo's `CACHEDIR.TAG`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file())
    {
        return dir.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

async fn service(
    dir: &Path,
    hash_concurrency: Option<usize>,
) -> BenchResult<AuthService<DbUserStore>> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("load.db").display());
    let db = testudo_db::Database::connect(&url).await?;
    db.migrate().await?;
    let mut config = AuthConfig::default();
    if let Some(n) = hash_concurrency {
        config.hash_concurrency = n;
    }
    let config = Arc::new(config);
    Ok(AuthService::builder(config, DbUserStore::new(db.clone()))
        .database(db)
        .one_query_authenticate()
        .events(testudo_events::EventEmitter::new())
        .build()?)
}

/// Everything the report shows.
#[derive(Debug)]
struct Report {
    settings: Settings,
    time_cost: u32,
    memory_kib: u32,
    parallelism: u32,
    hash_concurrency: usize,
    cpus: usize,
    setup: Duration,
    rss_before: u64,
    peak_reset: bool,
    peak: u64,
    bound: u64,
    storm: Duration,
    ok_logins: usize,
    errors: usize,
    first_error: Option<String>,
    login_latency: Latency,
    under_load: Latency,
    under_load_max_at: Duration,
    auth_errors: usize,
    idle: Latency,
    peak_in_flight: usize,
    task_size: usize,
    rss_cold_pool: u64,
    rss_after: u64,
    threads: u64,
}

impl Report {
    fn within_bound(&self) -> bool {
        self.peak <= self.bound
    }

    fn passed(&self) -> bool {
        self.within_bound() && self.errors == 0 && self.auth_errors == 0
    }

    fn markdown(&self) -> String {
        let s = &self.settings;
        let conc = self.hash_concurrency as u64;
        let argon = u64::from(self.memory_kib) * 1024;
        let mut rows: Vec<(String, String)> = vec![
            (
                "Argon2id parameters (default AuthConfig)".into(),
                format!(
                    "t={} m={} KiB ({:.0} MiB) p={}",
                    self.time_cost,
                    self.memory_kib,
                    mib(argon),
                    self.parallelism
                ),
            ),
            (
                "hash_concurrency".into(),
                format!(
                    "{} ({} CPUs; {})",
                    self.hash_concurrency,
                    self.cpus,
                    if s.hash_concurrency.is_some() {
                        "set by TESTUDO_LOAD_HASH_CONCURRENCY, not the default"
                    } else {
                        "the default: one per CPU"
                    }
                ),
            ),
            (
                "users / concurrent logins".into(),
                format!(
                    "{} / {} (one password hash computed once, stored for every user)",
                    s.users, s.logins
                ),
            ),
            (
                "setup time".into(),
                format!("{:.1} s", self.setup.as_secs_f64()),
            ),
            (
                "RSS after setup: one pool connection / whole pool open (fixed part)".into(),
                format!(
                    "{:.1} / {:.1} MiB",
                    mib(self.rss_cold_pool),
                    mib(self.rss_before)
                ),
            ),
            (
                "peak RSS during the storm (VmHWM)".into(),
                format!(
                    "{:.1} MiB{}",
                    mib(self.peak),
                    if self.peak_reset {
                        ""
                    } else {
                        " (peak since process start: clear_refs refused)"
                    }
                ),
            ),
            (
                "bound: hash_concurrency x m + RSS after setup + margin".into(),
                format!(
                    "{conc} x {:.0} + {:.1} + {} = {:.1} MiB",
                    mib(argon),
                    mib(self.rss_before),
                    s.margin_mib,
                    mib(self.bound)
                ),
            ),
            (
                "peak RSS within bound".into(),
                if self.within_bound() {
                    format!("yes ({:.1} MiB to spare)", mib(self.bound - self.peak))
                } else {
                    format!("NO (over by {:.1} MiB)", mib(self.peak - self.bound))
                },
            ),
            (
                "pending login tasks: future size each / all".into(),
                format!(
                    "{} B / {:.1} MiB (part of the margin)",
                    self.task_size,
                    mib((self.task_size * s.logins) as u64)
                ),
            ),
            (
                "RSS after the storm / threads".into(),
                format!("{:.1} MiB / {}", mib(self.rss_after), self.threads),
            ),
            (
                "peak hashes in flight".into(),
                self.peak_in_flight.to_string(),
            ),
            (
                "storm wall time".into(),
                format!("{:.1} s", self.storm.as_secs_f64()),
            ),
            (
                "logins/s".into(),
                format!(
                    "{:.2}",
                    self.ok_logins as f64 / self.storm.as_secs_f64().max(1e-9)
                ),
            ),
            (
                "login errors".into(),
                match &self.first_error {
                    None => self.errors.to_string(),
                    Some(e) => format!("{} (first: {e})", self.errors),
                },
            ),
            (
                "login latency p50 / p99 / max".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} ms",
                    ms(self.login_latency.p50),
                    ms(self.login_latency.p99),
                    ms(self.login_latency.max)
                ),
            ),
            (
                "authenticate under load: calls".into(),
                format!(
                    "{} ({} failed; {})",
                    self.under_load.count,
                    self.auth_errors,
                    if s.auth_interval_us == 0 {
                        "back to back".to_owned()
                    } else {
                        format!("one every {} us at most", s.auth_interval_us)
                    }
                ),
            ),
            (
                "authenticate under load: p50 / p99 / max".into(),
                format!(
                    "{:.3} / {:.3} / {:.3} ms (max {:.1} s into the storm)",
                    ms(self.under_load.p50),
                    ms(self.under_load.p99),
                    ms(self.under_load.max),
                    self.under_load_max_at.as_secs_f64()
                ),
            ),
            (
                "authenticate without load: p50 / p99 / max".into(),
                format!(
                    "{:.3} / {:.3} / {:.3} ms ({} calls)",
                    ms(self.idle.p50),
                    ms(self.idle.p99),
                    ms(self.idle.max),
                    self.idle.count
                ),
            ),
        ];
        rows.push((
            "result".into(),
            if self.passed() { "PASS" } else { "FAIL" }.into(),
        ));
        let mut out = String::from(
            "# testudo load: concurrent logins (default Argon2id) on SQLite, authenticate under load\n\n\
             `cargo bench -p testudo-service --features sqlite --bench load`\n\n\
             | measure | value |\n|---|---|\n",
        );
        for (k, v) in rows {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out
    }
}

async fn run(settings: Settings, dir: &Path) -> BenchResult<Report> {
    let setup_start = Instant::now();
    let auth = Arc::new(service(dir, settings.hash_concurrency).await?);
    let config = Arc::clone(auth.config());
    eprintln!(
        "load: Argon2id t={} m={} KiB p={}, hash_concurrency {}; {} users, {} logins",
        config.argon2_time_cost,
        config.argon2_memory_cost,
        config.argon2_parallelism,
        config.hash_concurrency,
        settings.users,
        settings.logins
    );

    // One hash for every user: setup time stays small; each login still verifies in full.
    let hash = auth.hasher().hash(SecretString::from(PASSWORD)).await?;
    for i in 0..settings.users {
        auth.store()
            .insert_user(&format!("user{i}@example.com"), &hash)
            .await?;
    }
    auth.store().insert_user(PROBE_EMAIL, &hash).await?;
    let probe = auth.login(PROBE_EMAIL, PASSWORD, Claims::new()).await?;
    let token = probe.tokens.access_token().to_owned();
    eprintln!(
        "load: {} users created in {:.1} s",
        settings.users + 1,
        setup_start.elapsed().as_secs_f64()
    );

    // authenticate without load.
    let mut idle = Vec::with_capacity(settings.baseline);
    for _ in 0..settings.baseline {
        let start = Instant::now();
        auth.authenticate(&token).await?;
        idle.push(start.elapsed());
    }
    let idle = Latency::of(&mut idle);

    // The connection pool is a fixed cost: open all of it (a burst of concurrent authenticate
    // calls) before measuring the fixed part, so the storm does not count it.
    let rss_cold_pool = proc_status_bytes("VmRSS")?;
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let (auth, token) = (Arc::clone(&auth), token.clone());
            tokio::spawn(async move { auth.authenticate(&token).await.map(drop) })
        })
        .collect();
    for task in burst {
        task.await??;
    }
    let setup = setup_start.elapsed();

    let rss_before = proc_status_bytes("VmRSS")?;
    let peak_reset = reset_peak_rss();
    let argon = u64::from(config.argon2_memory_cost) * 1024;
    let bound = config.hash_concurrency as u64 * argon + rss_before + settings.margin_mib * MIB;
    eprintln!(
        "load: RSS after setup {:.1} MiB; storm of {} logins starts",
        mib(rss_before),
        settings.logins
    );

    // The probe: authenticate back to back until the storm is over.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (auth, stop) = (Arc::clone(&auth), Arc::clone(&stop));
        let interval = Duration::from_micros(settings.auth_interval_us);
        tokio::spawn(async move {
            let mut samples = Histogram::new();
            let mut errors = 0_usize;
            let mut ticks = (!interval.is_zero()).then(|| {
                let mut t = tokio::time::interval(interval);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let began = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                let start = Instant::now();
                let ok = auth.authenticate(&token).await.is_ok();
                samples.record(start.elapsed(), start - began);
                errors += usize::from(!ok);
            }
            (samples, errors)
        })
    };

    let mut task_size = 0;
    let storm_start = Instant::now();
    let logins: Vec<_> = (0..settings.logins)
        .map(|i| {
            let auth = Arc::clone(&auth);
            let email = format!("user{}@example.com", i % settings.users);
            let task = async move {
                let start = Instant::now();
                let result = auth.login(&email, PASSWORD, Claims::new()).await;
                (start.elapsed(), result.map(drop).map_err(|e| e.to_string()))
            };
            task_size = size_of_val(&task);
            tokio::spawn(task)
        })
        .collect();
    let mut login_latency = Vec::with_capacity(settings.logins);
    let (mut ok_logins, mut errors, mut first_error) = (0_usize, 0_usize, None);
    for task in logins {
        match task.await {
            Ok((elapsed, Ok(()))) => {
                ok_logins += 1;
                login_latency.push(elapsed);
            }
            Ok((_, Err(e))) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let storm = storm_start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (under_load, auth_errors) = prober.await?;
    let peak = proc_status_bytes("VmHWM")?;
    let rss_after = proc_status_bytes("VmRSS")?;
    let threads = proc_status("Threads")?;

    Ok(Report {
        settings,
        time_cost: config.argon2_time_cost,
        memory_kib: config.argon2_memory_cost,
        parallelism: config.argon2_parallelism,
        hash_concurrency: config.hash_concurrency,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        setup,
        rss_before,
        peak_reset,
        peak,
        bound,
        storm,
        ok_logins,
        errors,
        first_error,
        login_latency: Latency::of(&mut login_latency),
        under_load: under_load.latency(),
        under_load_max_at: under_load.max_at,
        auth_errors,
        idle,
        peak_in_flight: auth.hasher().peak_in_flight(),
        task_size,
        rss_cold_pool,
        rss_after,
        threads,
    })
}

fn main() -> ExitCode {
    // cargo bench passes `--bench` and any filters: nothing here is selectable, so ignore them.
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("testudo-load-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("load: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let outcome = rt.block_on(run(settings, &dir));
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    let report = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let table = report.markdown();
    let _ = std::io::stdout().lock().write_all(table.as_bytes());
    let path = target_dir().join("bench-load.md");
    match std::fs::write(&path, &table) {
        Ok(()) => eprintln!("load: wrote {}", path.display()),
        Err(e) => eprintln!("load: cannot write {}: {e}", path.display()),
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("load: FAIL (peak RSS over the bound, or a failed login / authenticate)");
        ExitCode::FAILURE
    }
}
