//! An application's own user table (the `custom_user_store` example) behind `AuthService`.

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the example is a binary; its main is not used here"
)]
#[path = "../examples/custom_user_store.rs"]
mod example;

use testudo_core::{AuthenticationError, Claims, Error, UserStore};
use testudo_events::{Event, EventEmitter};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};

mod common;

async fn a_custom_user_table_with_extra_columns_works_end_to_end(backend: Backend) -> TestResult {
    let name = backend.name();
    let db = TestDb::new(backend).await?;
    let emitter = EventEmitter::new();
    let recorder = common::Recorder::default();
    recorder.attach(&emitter);
    let store = example::AppUserStore::new(db.db().clone());
    store.create_table().await?;
    let auth = testudo_service::AuthService::builder(
        common::config(|c| c.password_validators = example::validators()),
        store,
    )
    .database(db.db().clone())
    .events(emitter)
    .build()?;

    // The similarity validator sees the extra column.
    let r = auth
        .store()
        .add_user(&auth, "nina@example.com", "Nina Simone", "ninasimone")
        .await;
    let Err(Error::InvalidPassword(e)) = r else {
        return Err(format!("{name}: accepted").into());
    };
    assert!(
        e.messages()
            .contains(&"The password is too similar to the display_name.".to_owned()),
        "{name}: {:?}",
        e.messages()
    );
    let nina = auth
        .store()
        .add_user(
            &auth,
            "Nina@Example.com",
            "Nina Simone",
            "a long and rare passphrase",
        )
        .await?;
    assert_eq!(nina.0.plan, "free");

    let login = auth
        .login(
            "nina@example.com",
            "a long and rare passphrase",
            Claims::new(),
        )
        .await?;
    assert!(login.user.0.last_login.is_some(), "{name}");
    assert_eq!(login.user.0.display_name, "Nina Simone");
    let me = auth.authenticate(login.access_token()).await?;
    assert_eq!(me.0.id, nina.0.id);
    let next = auth.refresh(login.refresh_token()).await?;
    auth.logout(next.access_token()).await?;
    assert!(auth.authenticate(next.access_token()).await.is_err());

    let r = auth.login("nina@example.com", "wrong", Claims::new()).await;
    assert!(matches!(
        r,
        Err(Error::Authentication(
            AuthenticationError::InvalidCredentials
        ))
    ));
    // Passwordless login marks the custom column.
    auth.request_login_link("nina@example.com", None).await?;
    let token = recorder
        .take()
        .into_iter()
        .find_map(|e| match e {
            Event::EmailTokenCreated { token, .. } => {
                Some(testudo_core::ExposeSecret::expose_secret(&token).to_owned())
            }
            _ => None,
        })
        .ok_or("no email token event")?;
    let login = auth
        .login_with_email_token("nina@example.com", &token, None)
        .await?;
    assert!(login.user.0.email_verified, "{name}");
    let stored = auth.store().find_by_id(&nina.0.id.to_string()).await?;
    assert!(stored.is_some_and(|u| u.0.email_verified));
    db.cleanup().await?;
    Ok(())
}
per_database!(a_custom_user_table_with_extra_columns_works_end_to_end);
