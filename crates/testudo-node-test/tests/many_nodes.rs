//! Many nodes on one PostgreSQL database: three `testudo-node` processes, each an
//! `AuthService` with the verification cache on, driven over stdin/stdout.
//!
//! - A `logout_all` on one node is refused on the two others within the LISTEN/NOTIFY latency
//!   (with a cache ttl of a minute, so only the notification can explain the refusal), and
//!   within the cache ttl without LISTEN. The figures (first refusal on each other node, polled
//!   every 5 ms, relative to the moment `logout_all` returned on its node) are printed.
//! - Concurrent rotations of one refresh token on the three nodes give exactly one winner,
//!   20 times in a row, and the winner's pair works on every node.
//! - One TOTP code, and then each of five recovery codes, presented to the three nodes at once
//!   (each completing its own login challenge): exactly one logs in; a code used on one node
//!   is refused on the others.

use std::process::Stdio;
use std::time::Duration;

use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a node may take to answer one command.
const ANSWER: Duration = Duration::from_secs(20);
const PASSWORD: &str = "Correct-Horse-Battery-Staple-42!";
/// How often a watching node authenticates.
const POLL_MS: u64 = 5;

/// One node process.
struct Node {
    name: &'static str,
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Node {
    async fn start(name: &'static str, url: &str, args: &[&str]) -> TestResult<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_testudo-node"))
            .args(args)
            .env("TESTUDO_NODE_DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("the node's stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("the node's stdout")?).lines();
        let mut node = Self {
            name,
            _child: child,
            stdin,
            stdout,
        };
        let ready = node.read().await?;
        assert_eq!(ready, "ready", "{name}");
        Ok(node)
    }

    async fn send(&mut self, line: &str) -> TestResult {
        self.stdin.write_all(line.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn read(&mut self) -> TestResult<String> {
        let name = self.name;
        let line = tokio::time::timeout(ANSWER, self.stdout.next_line())
            .await
            .map_err(|_| format!("{name}: no answer within {ANSWER:?}"))??
            .ok_or_else(|| format!("{name}: the node exited"))?;
        Ok(line)
    }

    /// Sends a command and returns the words of a successful answer.
    async fn ok(&mut self, line: &str) -> TestResult<Vec<String>> {
        self.send(line).await?;
        let answer = self.read().await?;
        let mut words = answer.split_whitespace().map(str::to_owned);
        match words.next().as_deref() {
            Some("ok") => Ok(words.collect()),
            _ => Err(format!("{}: {:?} answered {answer:?}", self.name, first(line)).into()),
        }
    }
}

fn first(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

fn word(words: &[String], i: usize) -> TestResult<String> {
    words
        .get(i)
        .cloned()
        .ok_or_else(|| format!("no word {i} in {words:?}").into())
}

/// Three nodes on a fresh database, started with `args`.
async fn three_nodes(db: &TestDb, args: &[&str]) -> TestResult<[Node; 3]> {
    let url = db.server_url().ok_or("a server database")?;
    let (a, b, c) = tokio::try_join!(
        Node::start("node A", url, args),
        Node::start("node B", url, args),
        Node::start("node C", url, args),
    )?;
    Ok([a, b, c])
}

/// The delays (µs) from `logout_all` on node A to the first refusal on node B and on node C:
/// from the moment it returned (negative when the refusal came first: the revocation commits
/// before `logout_all` has finished its other work) and from the moment it was called.
#[derive(Debug, Clone, Copy)]
struct Latency {
    after_return: i128,
    after_call: i128,
}

/// Logs in on node A, makes B and C cache the access token and watch it, runs `logout_all` on
/// A, and returns the delays to the first refusal on B and on C.
async fn logout_all_latency(
    nodes: &mut [Node; 3],
    user_id: &str,
    email: &str,
    max_ms: u64,
) -> TestResult<[Latency; 2]> {
    let [a, b, c] = nodes;
    let pair = a.ok(&format!("login {email} {PASSWORD}")).await?;
    let access = word(&pair, 0)?;
    for node in [&mut *b, &mut *c] {
        node.send(&format!("watch {access} {POLL_MS} {max_ms}"))
            .await?;
        let watching = node.read().await?;
        assert_eq!(watching, "watching", "{}", node.name);
    }
    let times = a.ok(&format!("logout_all {user_id}")).await?;
    let (called, done): (i128, i128) = (word(&times, 0)?.parse()?, word(&times, 1)?.parse()?);
    let mut latencies = [Latency {
        after_return: 0,
        after_call: 0,
    }; 2];
    for (i, node) in [b, c].into_iter().enumerate() {
        let answer = node.read().await?;
        let words: Vec<String> = answer.split_whitespace().map(str::to_owned).collect();
        assert_eq!(
            words.first().map(String::as_str),
            Some("refused"),
            "{}: {answer}",
            node.name
        );
        assert_eq!(word(&words, 3)?, "revoked", "{}: {answer}", node.name);
        let refused: i128 = word(&words, 1)?.parse()?;
        latencies[i] = Latency {
            after_return: refused - done,
            after_call: refused - called,
        };
    }
    // Refused on every node now, A included.
    for node in nodes.iter_mut() {
        node.send(&format!("authenticate {access}")).await?;
        let answer = node.read().await?;
        assert_eq!(answer, "err revoked", "{}", node.name);
    }
    Ok(latencies)
}

/// `min / median / max` of the delays, in milliseconds.
fn spread(mut us: Vec<i128>) -> String {
    us.sort_unstable();
    let ms = |us: i128| format!("{:.2}", us as f64 / 1000.0);
    match (us.first(), us.get(us.len() / 2), us.last()) {
        (Some(min), Some(median), Some(max)) => {
            format!("{} / {} / {} ms", ms(*min), ms(*median), ms(*max))
        }
        _ => "none".to_owned(),
    }
}

fn summary(latencies: &[Latency]) -> String {
    format!(
        "over {} refusals, min / median / max: after logout_all returned {}, after it was called {}",
        latencies.len(),
        spread(latencies.iter().map(|l| l.after_return).collect()),
        spread(latencies.iter().map(|l| l.after_call).collect()),
    )
}

/// With LISTEN on every node and a cache ttl of a minute: after `logout_all` on node A, the
/// token cached on B and C is refused there within the notification's latency (asserted under
/// a second, far below the ttl), five times.
async fn a_logout_all_is_refused_on_the_other_nodes_within_the_listen_latency(
    backend: Backend,
) -> TestResult {
    let db = TestDb::new(backend).await?;
    let mut nodes = three_nodes(&db, &["--listen", "--ttl-ms", "60000"]).await?;
    let email = "listen@example.com";
    let id = word(
        &nodes[0]
            .ok(&format!("create_user {email} {PASSWORD}"))
            .await?,
        0,
    )?;
    let mut all = Vec::new();
    for _ in 0..5 {
        let latencies = logout_all_latency(&mut nodes, &id, email, 3_000).await?;
        for l in latencies {
            assert!(
                l.after_return < 1_000_000,
                "refused {l:?} µs after logout_all: not by the notification"
            );
        }
        all.extend(latencies);
    }
    eprintln!(
        "many nodes, LISTEN on, ttl 60 s: first refusal on another node {}",
        summary(&all)
    );
    drop(nodes);
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_logout_all_is_refused_on_the_other_nodes_within_the_listen_latency,
    postgres_only
);

/// The cache ttl of the nodes without LISTEN.
const TTL_MS: u64 = 300;

/// Without LISTEN and with a cache ttl of 300 ms: after `logout_all` on node A, the token
/// cached on B and C is refused there within the ttl (plus a poll and up to 500 ms of
/// scheduling), three times.
async fn a_logout_all_is_refused_on_the_other_nodes_within_the_cache_ttl_without_listen(
    backend: Backend,
) -> TestResult {
    let db = TestDb::new(backend).await?;
    let ttl = TTL_MS.to_string();
    let mut nodes = three_nodes(&db, &["--ttl-ms", &ttl]).await?;
    let email = "ttl@example.com";
    let id = word(
        &nodes[0]
            .ok(&format!("create_user {email} {PASSWORD}"))
            .await?,
        0,
    )?;
    let mut all = Vec::new();
    for _ in 0..3 {
        let latencies = logout_all_latency(&mut nodes, &id, email, 3_000).await?;
        for l in latencies {
            assert!(
                l.after_return < i128::from(TTL_MS + 500) * 1000,
                "refused {l:?} µs after logout_all: later than the ttl of {TTL_MS} ms"
            );
        }
        all.extend(latencies);
    }
    eprintln!(
        "many nodes, LISTEN off, ttl {TTL_MS} ms: first refusal on another node {}",
        summary(&all)
    );
    drop(nodes);
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_logout_all_is_refused_on_the_other_nodes_within_the_cache_ttl_without_listen,
    postgres_only
);

/// One refresh token presented to the three nodes at once: exactly one rotates it, the two
/// others are refused as revoked (the losers of a concurrent rotation: the winner's pair
/// survives), 20 times in a row along one session; the winner's pair works on every node.
async fn concurrent_rotations_of_one_token_across_three_nodes_have_exactly_one_winner(
    backend: Backend,
) -> TestResult {
    let db = TestDb::new(backend).await?;
    let mut nodes = three_nodes(&db, &["--listen"]).await?;
    let email = "rotate@example.com";
    let id = word(
        &nodes[0]
            .ok(&format!("create_user {email} {PASSWORD}"))
            .await?,
        0,
    )?;
    let pair = nodes[0].ok(&format!("login {email} {PASSWORD}")).await?;
    let mut refresh = word(&pair, 1)?;
    for round in 0..20 {
        let command = format!("refresh {refresh}");
        for node in nodes.iter_mut() {
            node.send(&command).await?;
        }
        let mut winners = Vec::new();
        for node in nodes.iter_mut() {
            let answer = node.read().await?;
            let words: Vec<String> = answer.split_whitespace().map(str::to_owned).collect();
            match words.first().map(String::as_str) {
                Some("ok") => winners.push((node.name, word(&words, 1)?, word(&words, 2)?)),
                _ => assert_eq!(answer, "err revoked", "round {round}: {}", node.name),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners {:?}",
            winners.iter().map(|w| w.0).collect::<Vec<_>>()
        );
        let (_, access, next) = winners.remove(0);
        for node in nodes.iter_mut() {
            let user = node.ok(&format!("authenticate {access}")).await?;
            assert_eq!(word(&user, 0)?, id, "round {round}: {}", node.name);
        }
        refresh = next;
    }
    drop(nodes);
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    concurrent_rotations_of_one_token_across_three_nodes_have_exactly_one_winner,
    postgres_only
);

/// The step-up, enrolment and confirmation of a TOTP factor on node A; returns the app and the
/// recovery codes. The confirmation uses the previous step's code (within the skew), so the
/// current step's code is still unused.
async fn enrol_on(node: &mut Node, id: &str) -> TestResult<(testudo_totp::Totp, Vec<String>)> {
    use secrecy::ExposeSecret as _;
    node.ok(&format!("reauthenticate {id} {PASSWORD}")).await?;
    let secret = word(&node.ok(&format!("enroll_totp {id}")).await?, 0)?;
    let secret = testudo_totp::TotpSecret::from_base32(&secret)?;
    let app = testudo_totp::Totp::new(&secret, testudo_totp::TotpParams::default(), "t", "me")?;
    let previous = app.code_at(now() - 30)?;
    let codes = node
        .ok(&format!("confirm_totp {id} {}", previous.expose_secret()))
        .await?;
    Ok((app, codes))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Starts a login with a second factor on every node and sends `code` to all three at once;
/// returns the names of the nodes that logged in (the others must answer `err second_factor`).
async fn one_code_on_three_nodes(
    nodes: &mut [Node; 3],
    email: &str,
    code: &str,
) -> TestResult<Vec<&'static str>> {
    let mut challenges = Vec::new();
    for node in nodes.iter_mut() {
        let step = node.ok(&format!("login_start {email} {PASSWORD}")).await?;
        assert_eq!(word(&step, 0)?, "challenge", "{}", node.name);
        challenges.push(word(&step, 1)?);
    }
    for (node, challenge) in nodes.iter_mut().zip(&challenges) {
        node.send(&format!("complete_login {challenge} {code}"))
            .await?;
    }
    let mut winners = Vec::new();
    for node in nodes.iter_mut() {
        let answer = node.read().await?;
        if answer.starts_with("ok ") {
            winners.push(node.name);
        } else {
            assert_eq!(answer, "err second_factor", "{}", node.name);
        }
    }
    Ok(winners)
}

/// A TOTP code, then five recovery codes, each presented to three node processes at once:
/// each is accepted by exactly one node.
async fn a_second_factor_code_logs_in_on_exactly_one_of_three_nodes(
    backend: Backend,
) -> TestResult {
    use secrecy::ExposeSecret as _;
    let db = TestDb::new(backend).await?;
    let mut nodes = three_nodes(&db, &[]).await?;
    let email = "totp@example.com";
    let id = word(
        &nodes[0]
            .ok(&format!("create_user {email} {PASSWORD}"))
            .await?,
        0,
    )?;
    let (app, recovery) = enrol_on(&mut nodes[0], &id).await?;
    assert_eq!(recovery.len(), 10);
    let code = app.code_at(now())?;
    let winners = one_code_on_three_nodes(&mut nodes, email, code.expose_secret()).await?;
    assert_eq!(winners.len(), 1, "TOTP code: winners {winners:?}");
    for (round, code) in recovery.iter().take(5).enumerate() {
        let winners = one_code_on_three_nodes(&mut nodes, email, code).await?;
        assert_eq!(
            winners.len(),
            1,
            "recovery code {round}: winners {winners:?}"
        );
    }
    drop(nodes);
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_second_factor_code_logs_in_on_exactly_one_of_three_nodes,
    postgres_only
);
