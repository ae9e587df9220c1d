//! `ApiKeyStore` on every available backend: create / verify / list / revoke, expiry by a fixed
//! clock, scopes, look-alike keys, the throttled `last_used_at`, events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::EntityTrait;
use testudo_config::AuthConfig;
use testudo_core::{AuthenticationError, ExposeSecret, FixedClock, TokenError};
use testudo_events::{Event, EventEmitter, EventKind};
use testudo_test_support::db::{Backend, TestDb, backends};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::entity::api_key;
use testudo_tokens_db::{
    ApiKeyError, ApiKeyOwner, ApiKeyStore, Error, InvalidKeyReason, IssuedApiKey, KeyRefusal,
    NewApiKey,
};

const T0: i64 = 1_800_000_000;

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(T0, 0).unwrap_or_default(),
    ))
}

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(T0 + seconds, 0).unwrap_or_default()
}

/// The events emitted, by name and, for `api_key_rejected`, reason.
type Log = Arc<Mutex<Vec<String>>>;

fn recording() -> (EventEmitter, Log) {
    let emitter = EventEmitter::new();
    let log: Log = Arc::default();
    for kind in [
        EventKind::ApiKeyCreated,
        EventKind::ApiKeyUsed,
        EventKind::ApiKeyRevoked,
        EventKind::ApiKeyRejected,
    ] {
        let log = log.clone();
        emitter.on(kind, move |event: &Event| {
            let entry = match event {
                Event::ApiKeyRejected { reason, key_id } => {
                    format!("{}:{reason}:{}", event.name(), key_id.is_some())
                }
                other => other.name().to_owned(),
            };
            let log = log.clone();
            Box::pin(async move {
                log.lock().map_err(|e| e.to_string())?.push(entry);
                Ok(())
            })
        });
    }
    (emitter, log)
}

fn taken(log: &Log) -> TestResult<Vec<String>> {
    Ok(std::mem::take(&mut *log.lock().map_err(|e| e.to_string())?))
}

fn store(db: &TestDb, clock: &Arc<FixedClock>) -> ApiKeyStore {
    ApiKeyStore::new(db.db().clone(), Arc::new(AuthConfig::default())).with_clock(clock.clone())
}

fn raw(issued: &IssuedApiKey) -> &str {
    issued.key.expose_secret()
}

fn api_err(result: Result<impl std::fmt::Debug, Error>) -> Option<ApiKeyError> {
    match result {
        Err(Error::ApiKey(e)) => Some(e),
        _ => None,
    }
}

fn invalid(reason: InvalidKeyReason) -> Option<ApiKeyError> {
    Some(ApiKeyError::Invalid { reason })
}

async fn create_verify_list_and_revoke(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let (events, log) = recording();
    let keys = store(&db, &clock).with_events(events);
    let owner = ApiKeyOwner::user("42");
    let issued = keys
        .create(NewApiKey::new(owner.clone(), "CI deploy").scopes(["deploy", "repo:read"]))
        .await?;
    let key = raw(&issued).to_owned();
    assert!(key.starts_with("tdo_"), "{name}: {key}");
    assert_eq!(key.len(), 4 + 43 + 6, "{name}");
    assert!(
        key[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{name}"
    );
    assert_eq!(issued.metadata.owner, owner);
    assert_eq!(issued.metadata.created_at, at(0));
    assert_eq!(taken(&log)?, ["api_key_created"], "{name}");

    let verified = keys.verify(&key, &["deploy"]).await?;
    assert_eq!(verified.id, issued.metadata.id, "{name}");
    assert_eq!(verified.name, "CI deploy");
    assert_eq!(
        verified
            .scopes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["deploy", "repo:read"]
    );
    assert_eq!(verified.last_used_at, Some(at(0)), "{name}");
    assert_eq!(taken(&log)?, ["api_key_used"], "{name}");

    let second = keys.create(NewApiKey::new(owner.clone(), "laptop")).await?;
    assert_ne!(raw(&second), key, "{name}: keys are random");
    let listed = keys.list(&owner).await?;
    let ids: Vec<_> = listed.iter().map(|k| k.id).collect();
    assert_eq!(ids, [issued.metadata.id, second.metadata.id], "{name}");
    assert_eq!(listed[0].last_used_at, Some(at(0)), "{name}");
    assert!(keys.list(&ApiKeyOwner::user("43")).await?.is_empty());

    assert!(keys.revoke(issued.metadata.id).await?, "{name}");
    assert!(!keys.revoke(issued.metadata.id).await?, "{name}: once");
    assert_eq!(
        api_err(keys.verify(&key, &[]).await),
        Some(ApiKeyError::Revoked),
        "{name}"
    );
    assert_eq!(
        keys.get(issued.metadata.id)
            .await?
            .and_then(|k| k.revoked_at),
        Some(at(0))
    );
    // The other key still works.
    keys.verify(raw(&second), &[]).await?;
    assert_eq!(
        taken(&log)?,
        [
            "api_key_created",
            "api_key_revoked",
            "api_key_rejected:revoked:true",
            "api_key_used"
        ],
        "{name}"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(create_verify_list_and_revoke);

async fn expiry_follows_the_injected_clock(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let owner = ApiKeyOwner::service("billing");
    let hour = keys
        .create(NewApiKey::new(owner.clone(), "hourly").expires_in(Duration::from_secs(3600)))
        .await?;
    let dated = keys
        .create(NewApiKey::new(owner.clone(), "dated").expires_at(at(7200)))
        .await?;
    let forever = keys.create(NewApiKey::new(owner, "forever")).await?;
    assert_eq!(hour.metadata.expires_at, Some(at(3600)));
    clock.advance(Duration::from_secs(3599));
    keys.verify(raw(&hour), &[]).await?;
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        api_err(keys.verify(raw(&hour), &[]).await),
        Some(ApiKeyError::Expired),
        "{name}: dead at its expiry time"
    );
    keys.verify(raw(&dated), &[]).await?;
    clock.set(at(7200));
    assert_eq!(
        api_err(keys.verify(raw(&dated), &[]).await),
        Some(ApiKeyError::Expired),
        "{name}"
    );
    clock.set(at(10 * 365 * 86_400));
    keys.verify(raw(&forever), &[]).await?;
    // An expiry that is not in the future is refused.
    let past = keys
        .create(NewApiKey::new(ApiKeyOwner::user("1"), "past").expires_at(at(0)))
        .await;
    assert_eq!(
        api_err(past),
        Some(ApiKeyError::Refused {
            reason: KeyRefusal::ExpiryNotInFuture
        })
    );
    // Revoked before expired, as for tokens.
    assert!(keys.revoke(hour.metadata.id).await?);
    assert_eq!(
        api_err(keys.verify(raw(&hour), &[]).await),
        Some(ApiKeyError::Revoked),
        "{name}"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(expiry_follows_the_injected_clock);

async fn a_missing_scope_is_its_own_error(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let (events, log) = recording();
    let keys = store(&db, &clock).with_events(events);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "reader").scope("repo:read"))
        .await?;
    let key = raw(&issued);
    keys.verify(key, &[]).await?;
    keys.verify(key, &["repo:read"]).await?;
    let missing = keys.verify(key, &["repo:read", "repo:write"]).await;
    assert_eq!(
        api_err(missing),
        Some(ApiKeyError::MissingScope { index: 1 }),
        "{name}"
    );
    // Scopes are exact: no prefix or case folding.
    for near in ["repo", "REPO:READ", "repo:read "] {
        assert!(
            matches!(
                api_err(keys.verify(key, &[near]).await),
                Some(ApiKeyError::MissingScope { .. })
            ),
            "{name}: {near:?}"
        );
    }
    // In the core error, a missing scope is not a failed authentication (403, not 401).
    let core = testudo_core::Error::from(Error::ApiKey(ApiKeyError::MissingScope { index: 0 }));
    assert!(matches!(
        core,
        testudo_core::Error::Authentication(AuthenticationError::MissingScope)
    ));
    let log = taken(&log)?;
    assert_eq!(
        log.iter()
            .filter(|e| *e == "api_key_rejected:missing_scope:true")
            .count(),
        4,
        "{name}: {log:?}"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(a_missing_scope_is_its_own_error);

/// `key` with the character at `i` replaced by another alphanumeric one.
fn one_changed(key: &str, i: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap_or_default()
}

async fn look_alike_keys_are_refused_with_the_exact_error(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let (events, log) = recording();
    let keys = store(&db, &clock).with_events(events);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "real"))
        .await?;
    let key = raw(&issued).to_owned();
    taken(&log)?;
    let random_start = 4;
    let checksum_start = key.len() - 6;
    let mut cases: Vec<(String, &str, Option<ApiKeyError>)> = vec![
        (
            one_changed(&key, random_start),
            "first random character changed",
            invalid(InvalidKeyReason::BadChecksum),
        ),
        (
            one_changed(&key, checksum_start - 1),
            "last random character changed",
            invalid(InvalidKeyReason::BadChecksum),
        ),
        (
            one_changed(&key, key.len() - 1),
            "checksum character changed",
            invalid(InvalidKeyReason::BadChecksum),
        ),
        (
            key.replacen("tdo_", "tdx_", 1),
            "other prefix",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            key.replacen("tdo_", "TDO_", 1),
            "prefix in upper case",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            key.replacen("tdo_", "tdo-", 1),
            "other separator",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            key[4..].to_owned(),
            "no prefix",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            key[..key.len() - 1].to_owned(),
            "truncated by one",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            key[..20].to_owned(),
            "truncated",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            format!("{key}a"),
            "one character more",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            format!("tdo_{}", "a".repeat(1 << 20)),
            "1 MiB after the prefix",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            "a".repeat(1 << 20),
            "1 MiB",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            format!("{key}\0"),
            "NUL appended",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            format!("{}\0{}", &key[..10], &key[11..]),
            "NUL in place of a character",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            format!(" {key}"),
            "leading space",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
        (
            format!("{key} "),
            "trailing space",
            invalid(InvalidKeyReason::Malformed),
        ),
        (
            String::new(),
            "empty",
            invalid(InvalidKeyReason::WrongPrefix),
        ),
    ];
    // A case change keeps the characters valid; the checksum still catches it.
    let swapped: String = key
        .char_indices()
        .map(|(i, c)| if i == 10 { swap_case(c) } else { c })
        .collect();
    if swapped != key {
        cases.push((
            swapped,
            "case of one character swapped",
            invalid(InvalidKeyReason::BadChecksum),
        ));
    }
    for (candidate, what, expected) in &cases {
        assert_eq!(
            api_err(keys.verify(candidate, &[]).await),
            *expected,
            "{name}: {what}"
        );
    }
    let malformed = taken(&log)?;
    assert_eq!(malformed.len(), cases.len(), "{name}: one event each");
    assert!(
        malformed
            .iter()
            .all(|e| e == "api_key_rejected:malformed:false"),
        "{name}: {malformed:?}"
    );
    // A well-formed key that is not stored (its row deleted): not found.
    api_key::Entity::delete_by_id(issued.metadata.id.get())
        .exec(db.db().as_sea_orm())
        .await?;
    assert_eq!(
        api_err(keys.verify(&key, &[]).await),
        invalid(InvalidKeyReason::NotFound),
        "{name}"
    );
    assert_eq!(taken(&log)?, ["api_key_rejected:not_found:false"]);
    // A deployment with another prefix refuses this one's keys.
    let acme = ApiKeyStore::new(
        db.db().clone(),
        Arc::new(
            AuthConfig::builder()
                .api_key_prefix("acme")
                .build_unchecked(),
        ),
    )
    .with_clock(clock.clone());
    let theirs = acme
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "acme"))
        .await?;
    assert!(raw(&theirs).starts_with("acme_"));
    acme.verify(raw(&theirs), &[]).await?;
    assert_eq!(
        api_err(keys.verify(raw(&theirs), &[]).await),
        invalid(InvalidKeyReason::WrongPrefix),
        "{name}"
    );
    // In the core error: invalid tokens (401).
    let core = testudo_core::Error::from(Error::ApiKey(ApiKeyError::Invalid {
        reason: InvalidKeyReason::BadChecksum,
    }));
    assert!(matches!(
        core.as_token_error(),
        Some(TokenError::Invalid { .. })
    ));
    db.cleanup().await?;
    Ok(())
}
per_database!(look_alike_keys_are_refused_with_the_exact_error);

fn swap_case(c: char) -> char {
    if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    }
}

async fn last_used_at_is_written_at_most_once_a_minute(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "busy"))
        .await?;
    let id = issued.metadata.id;
    let stored = || async { Ok::<_, Error>(keys.get(id).await?.and_then(|k| k.last_used_at)) };
    assert_eq!(stored().await?, None, "{name}: never used");
    keys.verify(raw(&issued), &[]).await?;
    assert_eq!(stored().await?, Some(at(0)), "{name}");
    clock.advance(Duration::from_secs(59));
    let seen = keys.verify(raw(&issued), &[]).await?;
    assert_eq!(seen.last_used_at, Some(at(0)), "{name}: not written again");
    assert_eq!(stored().await?, Some(at(0)), "{name}");
    clock.advance(Duration::from_secs(1));
    let seen = keys.verify(raw(&issued), &[]).await?;
    assert_eq!(seen.last_used_at, Some(at(60)), "{name}: a minute later");
    assert_eq!(stored().await?, Some(at(60)), "{name}");
    // Another store (another node) does not write it again within the minute either.
    let other = store(&db, &clock);
    clock.advance(Duration::from_secs(30));
    other.verify(raw(&issued), &[]).await?;
    assert_eq!(stored().await?, Some(at(60)), "{name}");
    // A failed verification does not count as a use.
    clock.advance(Duration::from_secs(3600));
    let _ = keys.verify(raw(&issued), &["admin"]).await;
    assert_eq!(stored().await?, Some(at(60)), "{name}");
    db.cleanup().await?;
    Ok(())
}
per_database!(last_used_at_is_written_at_most_once_a_minute);

async fn a_verifier_that_read_before_another_wrote_does_not_write_again(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "two nodes"))
        .await?;
    let key = raw(&issued).to_owned();
    keys.verify(&key, &[]).await?;
    // A reads the row (used at 0) at 100 s and is held before its write; B, another node,
    // verifies at 130 s and writes; then A goes on: the condition of its UPDATE (used at or
    // before 100 - 60 s) no longer holds, so it does not write (or set the time back).
    clock.set(at(100));
    let paused = testudo_core::pause::arm("tokens_db.api_keys.before_touch");
    let first = tokio::spawn({
        let (keys, key) = (keys.clone(), key.clone());
        async move { keys.verify(&key, &[]).await }
    });
    paused.reached().await;
    clock.set(at(130));
    let other = store(&db, &clock);
    other.verify(&key, &[]).await?;
    let stored = || async {
        Ok::<_, Error>(
            keys.get(issued.metadata.id)
                .await?
                .and_then(|k| k.last_used_at),
        )
    };
    assert_eq!(stored().await?, Some(at(130)), "{name}");
    paused.release();
    first.await??;
    assert_eq!(
        stored().await?,
        Some(at(130)),
        "{name}: not set back to 100 s"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(a_verifier_that_read_before_another_wrote_does_not_write_again);

async fn users_and_services_own_keys_apart(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let user = ApiKeyOwner::user("billing");
    let service = ApiKeyOwner::service("billing");
    let a = keys.create(NewApiKey::new(user.clone(), "a")).await?;
    let b1 = keys.create(NewApiKey::new(service.clone(), "b1")).await?;
    let b2 = keys.create(NewApiKey::new(service.clone(), "b2")).await?;
    assert_eq!(keys.list(&user).await?.len(), 1, "{name}");
    assert_eq!(keys.list(&service).await?.len(), 2, "{name}");
    assert_eq!(
        keys.list(&ApiKeyOwner::service("Billing")).await?.len(),
        0,
        "{name}: owner ids are exact"
    );
    assert_eq!(keys.verify(raw(&b1), &[]).await?.owner, service);
    assert!(keys.revoke(b1.metadata.id).await?);
    assert_eq!(keys.revoke_all(&service).await?, 1, "{name}");
    for k in [&b1, &b2] {
        assert_eq!(
            api_err(keys.verify(raw(k), &[]).await),
            Some(ApiKeyError::Revoked),
            "{name}"
        );
    }
    keys.verify(raw(&a), &[]).await?;
    db.cleanup().await?;
    Ok(())
}
per_database!(users_and_services_own_keys_apart);

#[tokio::test]
async fn creation_refuses_bad_names_owners_and_scopes() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let user = || ApiKeyOwner::user("7");
    let cases = [
        (NewApiKey::new(user(), ""), KeyRefusal::BadName),
        (NewApiKey::new(user(), "  "), KeyRefusal::BadName),
        (NewApiKey::new(user(), "x".repeat(256)), KeyRefusal::BadName),
        (
            NewApiKey::new(ApiKeyOwner::user(""), "k"),
            KeyRefusal::BadOwner,
        ),
        (
            NewApiKey::new(ApiKeyOwner::service("s".repeat(256)), "k"),
            KeyRefusal::BadOwner,
        ),
        (NewApiKey::new(user(), "k").scope(""), KeyRefusal::BadScope),
        (
            NewApiKey::new(user(), "k").scope("a b"),
            KeyRefusal::BadScope,
        ),
        (
            NewApiKey::new(user(), "k").scope("a\0"),
            KeyRefusal::BadScope,
        ),
        (
            NewApiKey::new(user(), "k").scope("x".repeat(65)),
            KeyRefusal::BadScope,
        ),
        (
            NewApiKey::new(user(), "k").scopes((0..65).map(|i| format!("s{i}"))),
            KeyRefusal::TooManyScopes,
        ),
    ];
    for (new, reason) in cases {
        let shown = format!("{new:?}");
        assert_eq!(
            api_err(keys.create(new).await),
            Some(ApiKeyError::Refused { reason }),
            "{shown}"
        );
    }
    assert!(keys.list(&user()).await?.is_empty(), "nothing was stored");
    let most = keys
        .create(NewApiKey::new(user(), "k").scopes((0..64).map(|i| format!("s{i}"))))
        .await?;
    assert_eq!(most.metadata.scopes.len(), 64);
    // A refused creation is a configuration error of the application in the core error.
    let core = testudo_core::Error::from(Error::ApiKey(ApiKeyError::Refused {
        reason: KeyRefusal::BadScope,
    }));
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    db.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn the_raw_key_is_never_shown_by_debug_or_errors() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "secret"))
        .await?;
    let key = raw(&issued).to_owned();
    let random = &key[4..];
    assert!(!format!("{issued:?}").contains(random));
    assert!(!format!("{:?}", issued.metadata).contains(random));
    assert!(!format!("{keys:?}").contains(random));
    let bad = one_changed(&key, 5);
    let err = keys.verify(&bad, &[]).await.err();
    let shown = format!(
        "{err:?} {}",
        err.as_ref().map(ToString::to_string).unwrap_or_default()
    );
    assert!(
        !shown.contains(&bad[4..]) && !shown.contains(random),
        "{shown}"
    );
    assert!(keys.revoke(issued.metadata.id).await?);
    let err = keys.verify(&key, &[]).await.err();
    let shown = format!(
        "{err:?} {}",
        err.as_ref().map(ToString::to_string).unwrap_or_default()
    );
    assert!(!shown.contains(random), "{shown}");
    db.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn a_stored_key_with_an_unknown_owner_kind_is_not_found() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let clock = clock();
    let keys = store(&db, &clock);
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("7"), "odd"))
        .await?;
    let mut row: api_key::ActiveModel = api_key::Entity::find_by_id(issued.metadata.id.get())
        .one(db.db().as_sea_orm())
        .await?
        .ok_or("row")?
        .into();
    row.owner_kind = sea_orm::Set("robot".to_owned());
    sea_orm::ActiveModelTrait::update(row, db.db().as_sea_orm()).await?;
    assert_eq!(
        api_err(keys.verify(raw(&issued), &[]).await),
        invalid(InvalidKeyReason::NotFound)
    );
    assert_eq!(keys.get(issued.metadata.id).await?, None);
    db.cleanup().await?;
    Ok(())
}
