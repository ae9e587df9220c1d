//! docs/moving-from-tortoise-auth.md, followed step by step on a database tortoise-auth 0.6.0
//! wrote (`testdata/tortoise-auth-db/`, made by its `generate.py`): the users table is imported,
//! every user logs in with the password tortoise-auth hashed, bcrypt and PBKDF2 hashes are
//! upgraded to Argon2id on that login, the inactive user stays refused, and the links
//! tortoise-auth signed verify with its secret, and so do the JWTs it issued.

use std::path::PathBuf;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, Statement};
use testudo::config::TokenBackendKind;
use testudo::service::DbUserStore;
use testudo::tokens_jwt::JwtBackend;
use testudo::{
    AuthConfig, AuthService, Claims, Database, FixedClock, Signer, TimestampSigner, TokenBackend,
    TokenType, UserStore,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tortoise-auth-db")
}

fn links() -> serde_json::Value {
    let text = std::fs::read_to_string(testdata().join("links.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// One row of tortoise-auth's users table.
struct OldUser {
    id: i64,
    email: String,
    password: String,
    is_active: bool,
    is_verified: bool,
}

/// Step 1 of the guide: read the old table (here the SQLite file tortoise-auth wrote, opened
/// read-only; on PostgreSQL or MariaDB the same query on the old database).
async fn read_old_users() -> Result<Vec<OldUser>, Box<dyn std::error::Error>> {
    // A copy: opening the file would leave SQLite's -shm / -wal files beside it in the repository.
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("app.sqlite");
    std::fs::copy(testdata().join("app.sqlite"), &copy)?;
    let url = format!("sqlite://{}?mode=ro", copy.display());
    let old = Database::connect(&url).await?;
    let rows = old
        .as_sea_orm()
        .query_all_raw(Statement::from_string(
            old.as_sea_orm().get_database_backend(),
            "SELECT id, email, password, is_active, is_verified FROM users ORDER BY id",
        ))
        .await?;
    let mut users = Vec::new();
    for row in rows {
        users.push(OldUser {
            id: row.try_get("", "id")?,
            email: row.try_get("", "email")?,
            password: row.try_get("", "password")?,
            is_active: row.try_get("", "is_active")?,
            is_verified: row.try_get("", "is_verified")?,
        });
    }
    Ok(users)
}

#[tokio::test]
async fn a_tortoise_auth_users_table_is_imported_and_its_users_log_in() -> TestResult {
    let vectors = links();
    let old_users = read_old_users().await?;
    assert_eq!(old_users.len(), 4, "the generated table has four users");

    // Step 2: a migrated testudo database and its store.
    let db = Database::connect("sqlite::memory:").await?;
    db.migrate().await?;
    let store = DbUserStore::new(db.clone());
    let mut ids = std::collections::HashMap::new();
    for old in &old_users {
        let user = store.insert_user(&old.email, &old.password).await?;
        if !old.is_active {
            store.set_active(&user.id.to_string(), false).await?;
        }
        if old.is_verified {
            store.mark_verified(&user.id.to_string()).await?;
        }
        ids.insert(old.id, user.id);
    }

    // Step 3: the service; tortoise-auth's Argon2 parameters are testudo's defaults.
    let config = Arc::new(AuthConfig::builder().build()?);
    let auth = AuthService::builder(config, store.clone())
        .database(db.clone())
        .build()?;

    let users = vectors["users"].as_array().cloned().unwrap_or_default();
    assert_eq!(users.len(), 4);
    for user in &users {
        let email = user["email"].as_str().unwrap_or_default();
        let password = user["password"].as_str().unwrap_or_default();
        let hasher = user["hasher"].as_str().unwrap_or_default();
        let before = store
            .find_by_email(email)
            .await?
            .ok_or("imported user missing")?;
        assert_eq!(
            before.password,
            user["stored_hash"].as_str().unwrap_or_default()
        );
        let login = auth.login(email, password, Claims::new()).await;
        if user["is_active"] == serde_json::Value::Bool(false) {
            assert!(login.is_err(), "{email}: an inactive user stays refused");
            continue;
        }
        let login = login?;
        assert_eq!(auth.authenticate(login.access_token()).await?.email, email);
        let after = store.find_by_email(email).await?.ok_or("user missing")?;
        assert!(
            after
                .password
                .starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
            "{email}: {} after login",
            after.password
        );
        // The Argon2id hash tortoise-auth wrote has testudo's default parameters: kept as is;
        // bcrypt and PBKDF2 are replaced by Argon2id on the first login.
        assert_eq!(
            after.password == before.password,
            hasher == "default",
            "{email}"
        );
        assert!(
            auth.login(email, "wrong password", Claims::new())
                .await
                .is_err()
        );
    }

    // Step 4: the links tortoise-auth mailed, verified with its signing secret (and a clock at
    // their time, for the test: tortoise-auth's reset lifetime is one hour).
    let secret = vectors["signing_secret"].as_str().unwrap_or_default();
    let made_at = vectors["made_at"].as_i64().ok_or("made_at")?;
    let clock = Arc::new(FixedClock::from_unix(made_at + 60)?);
    let legacy = TimestampSigner::from(Signer::new_unchecked(secret)?).with_clock(clock.clone());
    let reset = vectors["reset"]["token"].as_str().unwrap_or_default();
    let pk = legacy.unsign_with_timestamp(reset, Some(3600))?;
    let old_pk: i64 = pk.parse()?;
    assert_eq!(
        i64::try_from(vectors["reset"]["user_id"].as_u64().unwrap_or(0))?,
        old_pk
    );
    let new_id = ids.get(&old_pk).ok_or("reset link for an unknown user")?;
    let user = store
        .find_by_id(&new_id.to_string())
        .await?
        .ok_or("user missing")?;
    assert_eq!(user.email, "bcrypt@example.com");
    let user = auth
        .set_password(&user, "a brand new passphrase 2026", Default::default())
        .await?;
    assert!(
        auth.login(&user.email, "a brand new passphrase 2026", Claims::new())
            .await
            .is_ok()
    );

    let verification = vectors["verification"]["token"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        legacy.unsign_with_timestamp(verification, Some(600))?,
        "verify:argon@example.com"
    );
    // A link older than its lifetime, or signed with another secret, is refused.
    clock.advance(std::time::Duration::from_secs(3600));
    assert!(legacy.unsign_with_timestamp(reset, Some(3600)).is_err());
    let other = TimestampSigner::from(Signer::new_unchecked("another-secret-of-32-bytes-or-more")?);
    assert!(other.unsign_with_timestamp(reset, None).is_err());
    Ok(())
}

#[tokio::test]
async fn jwts_tortoise_auth_issued_verify_with_its_secret() -> TestResult {
    let vectors = links();
    let jwt = &vectors["jwt"];
    let made_at = vectors["made_at"].as_i64().ok_or("made_at")?;
    // The settings of the guide: the JWT backend, the same secret, HS256 (the default).
    let config = Arc::new(
        AuthConfig::builder()
            .token_backend(TokenBackendKind::Jwt)
            .jwt_secret(jwt["secret"].as_str().unwrap_or_default())
            .build()?,
    );
    let clock = Arc::new(FixedClock::from_unix(made_at + 60)?);
    let backend = JwtBackend::new(config)?.with_clock(clock.clone());
    let access = jwt["access_token"].as_str().unwrap_or_default();
    let payload = backend.verify_token(access, TokenType::Access).await?;
    assert_eq!(payload.sub, jwt["user_id"].as_str().unwrap_or_default());
    let role = payload.extra.as_ref().and_then(|e| e.get("role")).cloned();
    assert_eq!(role, Some(serde_json::Value::from("admin")));
    let refresh = jwt["refresh_token"].as_str().unwrap_or_default();
    assert_eq!(
        backend.verify_token(refresh, TokenType::Refresh).await?.sub,
        payload.sub
    );
    assert!(
        backend
            .verify_token(access, TokenType::Refresh)
            .await
            .is_err()
    );
    // Expired after tortoise-auth's 15 minutes, as there.
    clock.advance(std::time::Duration::from_secs(15 * 60));
    assert!(
        backend
            .verify_token(access, TokenType::Access)
            .await
            .is_err()
    );
    // Another secret does not verify it.
    let other = Arc::new(
        AuthConfig::builder()
            .token_backend(TokenBackendKind::Jwt)
            .jwt_secret("another-jwt-secret-of-at-least-32-bytes")
            .build()?,
    );
    let other = JwtBackend::new(other)?.with_clock(Arc::new(FixedClock::from_unix(made_at + 60)?));
    assert!(other.verify_token(access, TokenType::Access).await.is_err());
    Ok(())
}
