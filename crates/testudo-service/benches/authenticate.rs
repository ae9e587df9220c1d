//! `AuthService::authenticate` with 100 000 access tokens in the table: the path every
//! authenticated request takes (one joined token + user query, or none with both caches warm).
//!
//! - `authenticate (100k rows, sqlite file)`: one call at a time, no cache.
//! - `authenticate x16 (100k rows, sqlite file)`: one iteration is 16 concurrent calls (16
//!   users, one token each) spawned as tasks on the multi-thread runtime and joined; no cache.
//! - `authenticate x16 cached (100k rows, sqlite file)`: the same with the token-verification
//!   cache and the user cache on.
//! - `authenticate x16 (100k rows, postgres)` and `authenticate x16 cached (100k rows, postgres)`:
//!   the same pair on a fresh PostgreSQL database (testudo-test-support's `TestDb`, dropped at the
//!   end) on the server named by `TESTUDO_BENCH_POSTGRES_URL` (or `TESTUDO_TEST_POSTGRES_URL`),
//!   through a pool of 16 with testudo's connection defaults; skipped with a note when neither
//!   is set.
//!
//! The SQLite file is opened with `testudo_db::Database::connect` (testudo's defaults).
//!
//! The x16 ids are bare criterion ids (xtask matches on them), and criterion only attaches a
//! `Throughput` to members of a group (whose ids are `group/function`): the calls per second of
//! an x16 bench are 16 / median.
//!
//! `cargo bench -p testudo-service --features sqlite,postgres --bench authenticate`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};
use testudo_config::AuthConfig;
use testudo_core::Claims;
use testudo_db::{Database, PoolOptions};
use testudo_service::{AuthService, CacheOptions, DbUserStore};
use testudo_test_support::db::{Backend, TestDb};
use testudo_tokens_db::entity::access_token;
use testudo_tokens_db::{generate_token, hash_token};
use tokio::runtime::Runtime;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Concurrent callers per iteration of the x16 benches.
const CALLERS: usize = 16;

/// Inserts 100 000 unexpired access tokens (of users `0`..`999`, 1 000 rows per statement).
async fn seed_100k(db: &Database) -> BenchResult<()> {
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    for chunk in 0..100 {
        let rows = (0..1000)
            .map(|i| -> BenchResult<access_token::ActiveModel> {
                Ok(access_token::ActiveModel {
                    token_hash: Set(hash_token(&generate_token(64)?)),
                    jti: Set(format!("{chunk}-{i}")),
                    user_id: Set(i.to_string()),
                    family_id: Set(format!("{chunk}-{i}")),
                    extra: Set(None),
                    created_at: Set(now),
                    expires_at: Set(later),
                    is_revoked: Set(false),
                    revoked_at: Set(None),
                    ..Default::default()
                })
            })
            .collect::<BenchResult<Vec<_>>>()?;
        access_token::Entity::insert_many(rows)
            .exec(db.as_sea_orm())
            .await?;
    }
    Ok(())
}

/// A service on `db` (seeded), with both caches when `cached`, and an access token for each of
/// `users` new users (no password hashing: they get an unusable password).
async fn service(
    db: &Database,
    cached: bool,
    users: usize,
    prefix: &str,
) -> BenchResult<(AuthService<DbUserStore>, Vec<Arc<str>>)> {
    let cache = CacheOptions::new(Duration::from_secs(60), 10_000);
    let mut store = DbUserStore::new(db.clone());
    if cached {
        store = store.with_cache(cache);
    }
    let mut builder = AuthService::builder(Arc::new(AuthConfig::default()), store)
        .database(db.clone())
        .one_query_authenticate()
        .events(testudo_events::EventEmitter::new());
    if cached {
        builder = builder.verification_cache(cache);
    }
    let auth = builder.build()?;
    let mut tokens = Vec::with_capacity(users);
    for n in 0..users {
        let user = auth
            .store()
            .insert_user(&format!("{prefix}{n}@example.com"), "!unusable")
            .await?;
        let pair = auth
            .backend()
            .create_tokens(&user.id.to_string(), Claims::new())
            .await?;
        tokens.push(Arc::from(pair.access_token()));
    }
    Ok((auth, tokens))
}

/// One iteration of an x16 bench: every token authenticated at once, each in its own task.
async fn authenticate_all(auth: &AuthService<DbUserStore>, tokens: &[Arc<str>]) -> usize {
    let tasks: Vec<_> = tokens
        .iter()
        .map(|token| {
            let auth = auth.clone();
            let token = Arc::clone(token);
            tokio::spawn(async move { auth.authenticate(&token).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if matches!(task.await, Ok(true)) {
            ok += 1;
        }
    }
    ok
}

/// The x16 pair (uncached, cached) on a seeded database.
fn bench_x16(c: &mut Criterion, rt: &Runtime, db: &Database, place: &str) {
    for (cached, label) in [(false, "x16"), (true, "x16 cached")] {
        let prefix = if cached { "cached" } else { "plain" };
        match rt.block_on(service(db, cached, CALLERS, prefix)) {
            Ok((auth, tokens)) => {
                if rt.block_on(authenticate_all(&auth, &tokens)) != CALLERS {
                    eprintln!("authenticate {label} ({place}): a call failed; skipped");
                    continue;
                }
                c.bench_function(&format!("authenticate {label} (100k rows, {place})"), |b| {
                    b.to_async(rt).iter(|| authenticate_all(&auth, &tokens));
                });
            }
            Err(e) => eprintln!("authenticate {label} ({place}): setup failed: {e}"),
        }
    }
}

async fn sqlite(dir: &std::path::Path) -> BenchResult<Database> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = Database::connect(&url).await?;
    db.migrate().await?;
    seed_100k(&db).await?;
    Ok(db)
}

fn sqlite_benches(c: &mut Criterion, rt: &Runtime) {
    let dir = std::env::temp_dir().join(format!("testudo-authenticate-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("authenticate (sqlite file): no temporary directory ({e}); skipped");
        return;
    }
    match rt.block_on(sqlite(&dir)) {
        Ok(db) => sqlite_service_benches(c, rt, &db),
        Err(e) => eprintln!("authenticate (sqlite file): setup failed: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn sqlite_service_benches(c: &mut Criterion, rt: &Runtime, db: &Database) {
    match rt.block_on(service(db, false, 1, "single")) {
        Ok((auth, tokens)) => {
            let token = tokens.first().cloned().unwrap_or_else(|| Arc::from(""));
            c.bench_function("authenticate (100k rows, sqlite file)", |b| {
                b.to_async(rt)
                    .iter(|| async { auth.authenticate(&token).await.is_ok() });
            });
        }
        Err(e) => eprintln!("authenticate (sqlite file): setup failed: {e}"),
    }
    bench_x16(c, rt, db, "sqlite file");
}

/// Seeds the fresh database behind `seed` and opens a pool of 16 on it with testudo's connection
/// defaults ([`Database::connect_with`]), as an application would.
async fn postgres_pool(server: &str, seed: &Database) -> BenchResult<Database> {
    seed_100k(seed).await?;
    let name: String = seed
        .as_sea_orm()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_database()",
        ))
        .await?
        .ok_or("no current database")?
        .try_get_by_index(0)?;
    // The server URL with its database (path) replaced by the fresh one.
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    let options = PoolOptions::default()
        .max_connections(16)
        .min_connections(16);
    Ok(Database::connect_with(&url, &options).await?)
}

fn postgres_benches(c: &mut Criterion, rt: &Runtime) {
    let url = ["TESTUDO_BENCH_POSTGRES_URL", "TESTUDO_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
    let Some(url) = url else {
        eprintln!(
            "authenticate (postgres): skipped, set TESTUDO_BENCH_POSTGRES_URL or \
             TESTUDO_TEST_POSTGRES_URL"
        );
        return;
    };
    let test_db = match rt.block_on(TestDb::new(Backend::Postgres(url.clone()))) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("authenticate (postgres): no database: {e}");
            return;
        }
    };
    match rt.block_on(postgres_pool(&url, test_db.db())) {
        Ok(db) => {
            bench_x16(c, rt, &db, "postgres");
            let _ = rt.block_on(db.close());
        }
        Err(e) => eprintln!("authenticate (postgres): setup failed: {e}"),
    }
    if let Err(e) = rt.block_on(test_db.cleanup()) {
        eprintln!("authenticate (postgres): dropping the database failed: {e}");
    }
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("authenticate: no tokio runtime");
        return;
    };
    sqlite_benches(c, &rt);
    postgres_benches(c, &rt);
}

criterion_group!(authenticate, benches);
criterion_main!(authenticate);
