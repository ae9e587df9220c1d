//! The HTTP benchmark (`testudo-bench --http [--quick]`): requests per second and latency of
//! `GET /auth/me` with a bearer token, loaded by `wrk`, through
//!
//! - testudo-axum's router (the `testudo-http-bench` server: database backend without and with
//!   the verification and user caches, JWT backend with the user cache),
//! - a bare axum handler answering the same JSON without authentication (same server binary),
//! - tortoise-auth 0.6.0's Starlette integration under uvicorn (`bench/http_app.py`: its
//!   database backend, its JWT backend),
//!
//! each on a fresh SQLite file. With two or more CPUs the server runs on CPU 0 and `wrk` on
//! CPU 1 (`taskset`), so server and client never share a core; the server's CPU time (user +
//! system, from `/proc`) is divided by the requests it answered. Rounds are interleaved (each
//! round starts with a different server); the table gives the median over the rounds and goes
//! to `target/bench-http.md`. A run with any non-2xx answer or socket error fails: it would
//! measure something else than authenticated requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::python::python_env;
use crate::report::publish;

/// A server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// The `testudo-http-bench` binary in this mode.
    Testudo(&'static str),
    /// `bench/http_app.py` with this token backend.
    Tortoise(&'static str),
}

/// The rows, in table order.
const SERVERS: [(&str, Server); 6] = [
    ("testudo, database backend", Server::Testudo("db")),
    (
        "testudo, database backend + caches",
        Server::Testudo("db-cache"),
    ),
    ("testudo, JWT backend + user cache", Server::Testudo("jwt")),
    ("bare axum handler (no auth)", Server::Testudo("bare")),
    ("tortoise-auth, database backend", Server::Tortoise("db")),
    ("tortoise-auth, JWT backend", Server::Tortoise("jwt")),
];

/// Concurrent connections `wrk` keeps open.
const CONNECTIONS: &str = "32";

/// One `wrk` run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Load {
    /// Requests per second.
    pub(crate) rps: f64,
    /// Median latency, microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub(crate) p99_us: f64,
    /// Requests answered.
    pub(crate) requests: u64,
}

/// Runs the benchmark and writes and prints its table.
///
/// # Errors
///
/// When `wrk` is missing, a build, the virtual environment or a server fails, or a run
/// answers anything but 200.
pub(crate) fn run(sh: &Shell, quick: bool) -> Result<()> {
    for tool in ["wrk", "taskset"] {
        if cmd!(sh, "which {tool}")
            .quiet()
            .ignore_stdout()
            .run()
            .is_err()
        {
            bail!("`{tool}` is not installed (Debian: apt-get install wrk util-linux)");
        }
    }
    let target_dir = target_dir(sh)?;
    cmd!(
        sh,
        "cargo build --quiet --locked --release -p testudo-http-bench"
    )
    .run()?;
    let server_bin = target_dir.join("release").join("testudo-http-bench");
    let python = python_env(sh, &target_dir)?;
    let work = target_dir.join("bench-http");
    std::fs::create_dir_all(&work)?;
    let pin = std::thread::available_parallelism().map_or(1, std::num::NonZero::get) >= 2;
    let rounds = if quick { 1 } else { 3 };
    let (warm, measure) = if quick { (1, 3) } else { (2, 10) };
    let env = Env {
        server_bin,
        python,
        app_dir: sh.current_dir().join("bench"),
        work,
        pin,
    };
    let mut samples: Vec<Vec<(Load, f64)>> = vec![Vec::new(); SERVERS.len()];
    for round in 0..rounds {
        for k in 0..SERVERS.len() {
            let i = (k + round) % SERVERS.len();
            let (label, server) = SERVERS[i];
            eprintln!(
                "testudo-bench --http: round {}/{rounds}: {label}",
                round + 1
            );
            let sample = env
                .measure(server, round, warm, measure)
                .with_context(|| format!("{label}, round {}", round + 1))?;
            samples[i].push(sample);
        }
    }
    let table = table(&samples, pin, quick);
    publish(&target_dir.join("bench-http.md"), &table)
}

/// Where things are.
struct Env {
    server_bin: PathBuf,
    python: PathBuf,
    app_dir: PathBuf,
    work: PathBuf,
    pin: bool,
}

/// A started server: the process, its stdin (closing it stops the testudo server), where it
/// listens and a token it accepts.
struct Running {
    child: Child,
    _stdin: Option<ChildStdin>,
    addr: SocketAddr,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Env {
    /// A command pinned to `cpu` when pinning.
    fn pinned(&self, cpu: &str, program: &Path) -> Command {
        if self.pin {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// One measurement of `server`: a warm-up run, then the measured one; the load and the
    /// server's CPU time per request (microseconds).
    fn measure(&self, server: Server, round: usize, warm: u32, secs: u32) -> Result<(Load, f64)> {
        let db = self.work.join(format!("{}-{round}.sqlite", name(server)));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let running = match server {
            Server::Testudo(mode) => self.start_testudo(mode, &db)?,
            Server::Tortoise(mode) => self.start_tortoise(mode, &db)?,
        };
        self.wrk(&running, warm)?;
        let pid = running.child.id();
        let before = cpu_seconds(pid)?;
        let load = self.wrk(&running, secs)?;
        let cpu = cpu_seconds(pid)? - before;
        drop(running);
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let per_request = cpu * 1e6 / load.requests.max(1) as f64;
        Ok((load, per_request))
    }

    fn start_testudo(&self, mode: &str, db: &Path) -> Result<Running> {
        let mut child = self
            .pinned("0", &self.server_bin)
            .arg(mode)
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting testudo-http-bench")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("no stdout")?;
        let (mut token, mut addr) = (None, None);
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(t) = line.strip_prefix("TOKEN ") {
                token = Some(t.to_owned());
            } else if let Some(a) = line.strip_prefix("LISTEN ") {
                addr = Some(a.parse()?);
                break;
            }
        }
        let (Some(token), Some(addr)) = (token, addr) else {
            bail!("testudo-http-bench printed no TOKEN / LISTEN line");
        };
        let running = Running {
            child,
            _stdin: stdin,
            addr,
            token,
        };
        wait_until_serving(&running)?;
        Ok(running)
    }

    fn start_tortoise(&self, mode: &str, db: &Path) -> Result<Running> {
        let setup = Command::new(&self.python)
            .arg(self.app_dir.join("http_app.py"))
            .args(["setup", mode])
            .arg(db)
            .output()
            .context("running http_app.py setup")?;
        if !setup.status.success() {
            bail!(
                "http_app.py setup failed: {}",
                String::from_utf8_lossy(&setup.stderr)
            );
        }
        let stdout = String::from_utf8(setup.stdout)?;
        let token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("TOKEN "))
            .context("http_app.py setup printed no TOKEN line")?
            .to_owned();
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = self
            .pinned("0", &self.python)
            .args(["-m", "uvicorn", "http_app:app", "--app-dir"])
            .arg(&self.app_dir)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--no-access-log", "--log-level", "warning"])
            .env("BENCH_DB", db)
            .env("BENCH_MODE", mode)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting uvicorn")?;
        let running = Running {
            child,
            _stdin: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            token,
        };
        wait_until_serving(&running)?;
        Ok(running)
    }

    /// `wrk` for `secs` seconds against `running`; refuses a run with errors.
    fn wrk(&self, running: &Running, secs: u32) -> Result<Load> {
        let wrk = Path::new("wrk");
        let out = self
            .pinned("1", wrk)
            .args(["-t1", "-c", CONNECTIONS, "-d"])
            .arg(format!("{secs}s"))
            .arg("--latency")
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", running.token))
            .arg(format!("http://{}/auth/me", running.addr))
            .output()
            .context("running wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        }
        parse_wrk(&text)
    }
}

/// A short name for file names.
fn name(server: Server) -> String {
    match server {
        Server::Testudo(mode) => format!("testudo-{mode}"),
        Server::Tortoise(mode) => format!("tortoise-{mode}"),
    }
}

/// Waits (up to 60 s) until `GET /auth/me` with the token answers 200.
fn wait_until_serving(running: &Running) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let request = format!(
        "GET /auth/me HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        running.addr, running.token
    );
    loop {
        if let Ok(mut stream) = TcpStream::connect(running.addr) {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(request.as_bytes())?;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
            if !answer.is_empty() {
                bail!(
                    "the server answered {:?}",
                    answer.lines().next().unwrap_or("")
                );
            }
        }
        if Instant::now() > deadline {
            bail!("the server did not answer within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// User + system CPU seconds of process `pid` (`/proc/PID/stat`, fields 14 and 15, in clock
/// ticks of 1/100 s as on every Linux configuration this runs on).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from after its closing parenthesis.
    let rest = stat.rsplit_once(')').context("unreadable /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// A duration as `wrk` prints it (`812.00us`, `1.75ms`, `2.01s`), in microseconds.
fn parse_duration_us(s: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Reads `wrk --latency` output; a run with non-2xx answers or socket errors is an error.
pub(crate) fn parse_wrk(text: &str) -> Result<Load> {
    let (mut rps, mut p50, mut p99, mut requests) = (None, None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_duration_us(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_duration_us(v.trim());
        } else if line.starts_with("Non-2xx") || line.starts_with("Socket errors") {
            bail!("wrk saw errors: {line}");
        } else if let Some((n, _)) = line.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        }
    }
    match (rps, p50, p99, requests) {
        (Some(rps), Some(p50_us), Some(p99_us), Some(requests)) => Ok(Load {
            rps,
            p50_us,
            p99_us,
            requests,
        }),
        _ => bail!("unreadable wrk output:\n{text}"),
    }
}

/// The median of `values` (empty: NaN).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

/// The markdown report: one row per server, then the two goals.
fn table(samples: &[Vec<(Load, f64)>], pinned: bool, quick: bool) -> String {
    let med = |i: usize, f: fn(&(Load, f64)) -> f64| median(samples[i].iter().map(f).collect());
    let rps: Vec<f64> = (0..SERVERS.len()).map(|i| med(i, |s| s.0.rps)).collect();
    let mut out = String::from(
        "| `GET /auth/me` | requests/s | p50 | p99 | server CPU per request |\n|---|---:|---:|---:|---:|\n",
    );
    for (i, (label, _)) in SERVERS.iter().enumerate() {
        out.push_str(&format!(
            "| {label} | {:.0} | {:.0} µs | {:.0} µs | {:.1} µs |\n",
            rps[i],
            med(i, |s| s.0.p50_us),
            med(i, |s| s.0.p99_us),
            med(i, |s| s.1),
        ));
    }
    let cached_vs_tortoise = rps[1] / rps[4];
    let jwt_vs_bare = rps[2] / rps[3];
    let mark = |ok: bool| if ok { "met" } else { "not met" };
    out.push_str(&format!(
        "\nGoals: database backend with caches {cached_vs_tortoise:.1}x tortoise-auth's database \
         backend (goal at least 20x: {}); JWT mode {jwt_vs_bare:.2} of the bare handler (goal at \
         least 0.8: {}).\n\nwrk: 1 thread, {CONNECTIONS} connections; median of {} round(s); {}{}\n",
        mark(cached_vs_tortoise >= 20.0),
        mark(jwt_vs_bare >= 0.8),
        samples.first().map_or(0, Vec::len),
        if pinned {
            "server on CPU 0, wrk on CPU 1"
        } else {
            "one CPU: server and wrk share it"
        },
        if quick {
            "; --quick: a smoke run, not figures to quote"
        } else {
            ""
        },
    ));
    out
}

/// The workspace's target directory (`cargo metadata`).
fn target_dir(sh: &Shell) -> Result<PathBuf> {
    let metadata = cmd!(sh, "cargo metadata --format-version 1 --no-deps")
        .quiet()
        .read()?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata)?;
    Ok(PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .context("cargo metadata: no target_directory")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 3s test @ http://127.0.0.1:39673/auth/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   504.00us  120.00us   3.11ms   80.00%
    Req/Sec    60.12k     1.20k   62.00k    70.00%
  Latency Distribution
     50%  504.00us
     75%  600.00us
     90%  800.00us
     99%    1.11ms
  179445 requests in 3.00s, 25.50MB read
Requests/sec:  59815.38
Transfer/sec:      8.50MB
";

    #[test]
    fn wrk_output_is_read() -> Result<()> {
        let load = parse_wrk(WRK)?;
        assert_eq!(load.requests, 179_445);
        assert!((load.rps - 59_815.38).abs() < 1e-6);
        assert!((load.p50_us - 504.0).abs() < 1e-6);
        assert!((load.p99_us - 1_110.0).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn a_run_with_errors_or_no_figures_is_refused() {
        let errors = WRK.replace(
            "Requests/sec:",
            "  Non-2xx or 3xx responses: 12\nRequests/sec:",
        );
        assert!(parse_wrk(&errors).is_err());
        let socket = WRK.replace(
            "Requests/sec:",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec:",
        );
        assert!(parse_wrk(&socket).is_err());
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn durations_and_medians() {
        assert_eq!(parse_duration_us("2.00s"), Some(2e6));
        assert_eq!(parse_duration_us("1.50ms"), Some(1500.0));
        assert_eq!(parse_duration_us("7x"), None);
        assert!((median(vec![3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(vec![4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
    }
}
