//! Every emitter rule: ordering, snapshot, propagation on/off, panics, removal, clear, global.

use std::sync::{Arc, Mutex};

use testudo_core::{ExposeSecret, SecretString};
use testudo_events::{
    ApiKeyFailure, ApiKeyOwner, BoxError, Error, Event, EventEmitter, EventHandler, EventKind,
    EventUser, HandlerId, HandlerPanicked, LoginFailureReason, SecondFactorMethod,
    VerificationMethod, async_trait,
};
use testudo_test_support::TestResult;

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: impl Into<String>) -> Result<(), BoxError> {
    log.lock().map_err(|e| e.to_string())?.push(entry.into());
    Ok(())
}

fn entries(log: &Log) -> TestResult<Vec<String>> {
    Ok(log.lock().map_err(|e| e.to_string())?.clone())
}

/// Registers a handler that records `label` and the event name.
fn record(emitter: &EventEmitter, event: &str, log: &Log, label: &'static str) -> HandlerId {
    let log = Arc::clone(log);
    emitter.on(event, move |e: &Event| {
        let log = Arc::clone(&log);
        Box::pin(async move { push(&log, format!("{label}:{}", e.name())) })
    })
}

fn failing(emitter: &EventEmitter, event: &str, log: &Log, label: &'static str) -> HandlerId {
    let log = Arc::clone(log);
    emitter.on(event, move |_: &Event| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            push(&log, label)?;
            Err(format!("{label} failed").into())
        })
    })
}

fn panicking(emitter: &EventEmitter, event: &str) -> HandlerId {
    emitter.on(event, |_: &Event| {
        Box::pin(async move {
            if true {
                panic!("handler blew up");
            }
            Ok(())
        })
    })
}

fn login() -> Event {
    Event::UserLogin {
        user: EventUser::new("1", "ada@example.com"),
    }
}

#[tokio::test]
async fn handlers_run_in_registration_order_and_duplicates_run_twice() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    record(&emitter, "user_login", &log, "a");
    record(&emitter, "user_login", &log, "b");
    record(&emitter, "user_logout", &log, "other");
    record(&emitter, "user_login", &log, "a");
    emitter.emit(&login()).await?;
    assert_eq!(
        entries(&log)?,
        ["a:user_login", "b:user_login", "a:user_login"]
    );
    Ok(())
}

#[tokio::test]
async fn by_kind_and_by_name_are_the_same_event() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    record(&emitter, EventKind::UserLogin.name(), &log, "name");
    let log2 = Arc::clone(&log);
    emitter.on(EventKind::UserLogin, move |_: &Event| {
        let log = Arc::clone(&log2);
        Box::pin(async move { push(&log, "kind") })
    });
    emitter.emit(&login()).await?;
    assert_eq!(entries(&log)?, ["name:user_login", "kind"]);
    assert_eq!(emitter.listener_count(EventKind::UserLogin), 2);
    Ok(())
}

#[tokio::test]
async fn handlers_added_or_removed_during_emit_wait_for_the_next_one() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    let victim: Arc<Mutex<Option<HandlerId>>> = Arc::default();
    {
        let (emitter2, log2, victim2) = (emitter.clone(), Arc::clone(&log), Arc::clone(&victim));
        emitter.on("user_login", move |_: &Event| {
            let (emitter, log, victim) =
                (emitter2.clone(), Arc::clone(&log2), Arc::clone(&victim2));
            Box::pin(async move {
                push(&log, "mutator")?;
                record(&emitter, "user_login", &log, "late");
                let id = victim.lock().map_err(|e| e.to_string())?.take();
                if let Some(id) = id {
                    emitter.remove_listener("user_login", id)?;
                }
                Ok(())
            })
        });
    }
    let id = record(&emitter, "user_login", &log, "victim");
    *victim.lock().map_err(|e| e.to_string())? = Some(id);

    emitter.emit(&login()).await?;
    // The snapshot still ran the removed victim and not the late handler.
    assert_eq!(entries(&log)?, ["mutator", "victim:user_login"]);
    log.lock().map_err(|e| e.to_string())?.clear();
    emitter.emit(&login()).await?;
    // Now: mutator (adds one more late), then the first late handler.
    assert_eq!(entries(&log)?, ["mutator", "late:user_login"]);
    Ok(())
}

#[tokio::test]
async fn without_propagation_errors_are_logged_and_others_still_run() -> TestResult {
    let emitter = EventEmitter::new();
    assert!(!emitter.propagate_errors());
    let log = Log::default();
    record(&emitter, "user_login", &log, "a");
    failing(&emitter, "user_login", &log, "bad");
    record(&emitter, "user_login", &log, "c");
    emitter.emit(&login()).await?;
    assert_eq!(entries(&log)?, ["a:user_login", "bad", "c:user_login"]);
    Ok(())
}

#[tokio::test]
async fn with_propagation_the_first_error_stops_the_rest() -> TestResult {
    let emitter = EventEmitter::with_propagate_errors(true);
    let log = Log::default();
    record(&emitter, "user_login", &log, "a");
    failing(&emitter, "user_login", &log, "bad");
    record(&emitter, "user_login", &log, "c");
    let err = emitter
        .emit(&login())
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(err.event, "user_login");
    assert!(err.handler.contains("closure"), "{}", err.handler);
    assert_eq!(err.source.to_string(), "bad failed");
    assert_eq!(entries(&log)?, ["a:user_login", "bad"]);
    // Converts into the core error; the handler's error is the source only.
    let message = err.to_string();
    assert!(!message.contains("bad failed"), "{message}");
    let core: testudo_core::Error = err.into();
    assert!(matches!(core, testudo_core::Error::Event(_)));
    assert_eq!(core.to_string(), message);
    assert_eq!(
        std::error::Error::source(&core).map(ToString::to_string),
        Some("bad failed".to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn a_panicking_handler_is_caught_either_way() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    panicking(&emitter, "user_login");
    record(&emitter, "user_login", &log, "after");
    emitter.emit(&login()).await?;
    assert_eq!(entries(&log)?, ["after:user_login"]);

    emitter.set_propagate_errors(true);
    let err = emitter
        .emit(&login())
        .await
        .err()
        .ok_or("expected an error")?;
    let panicked = err
        .source
        .downcast_ref::<HandlerPanicked>()
        .ok_or("not a panic")?;
    assert_eq!(panicked.message, "handler blew up");
    assert_eq!(entries(&log)?, ["after:user_login"]);
    Ok(())
}

struct Named(Log);

#[async_trait]
impl EventHandler for Named {
    async fn handle(&self, event: &Event) -> Result<(), BoxError> {
        push(&self.0, format!("named:{}", event.name()))?;
        Err("nope".into())
    }

    fn name(&self) -> &str {
        "audit_login"
    }
}

#[tokio::test]
async fn trait_handlers_report_their_name() -> TestResult {
    let emitter = EventEmitter::with_propagate_errors(true);
    let log = Log::default();
    emitter.add_listener(EventKind::UserLogin, Named(Arc::clone(&log)));
    let err = emitter
        .emit(&login())
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(err.handler, "audit_login");
    assert_eq!(
        err.to_string(),
        "handler 'audit_login' for event 'user_login' failed"
    );
    assert_eq!(entries(&log)?, ["named:user_login"]);
    Ok(())
}

#[tokio::test]
async fn removing_an_unknown_handler_is_an_error() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    let a = record(&emitter, "user_login", &log, "a");
    let b = record(&emitter, "user_login", &log, "b");
    assert!(matches!(
        emitter.remove_listener("user_logout", a),
        Err(Error::NotRegistered { .. })
    ));
    emitter.remove_listener("user_login", a)?;
    let err = emitter.remove_listener("user_login", a);
    assert!(matches!(&err, Err(Error::NotRegistered { event, id })
            if *event == Some(EventKind::UserLogin) && *id == a));
    let other = EventEmitter::new();
    assert!(other.remove_listener("user_login", b).is_err());
    assert_eq!(emitter.listeners("user_login"), [b]);
    emitter.remove_listener("user_login", b)?;
    assert!(!emitter.has_listeners("user_login"));
    emitter.emit(&login()).await?;
    assert!(entries(&log)?.is_empty());
    Ok(())
}

#[tokio::test]
async fn clear_one_event_or_all() -> TestResult {
    let emitter = EventEmitter::new();
    let log = Log::default();
    record(&emitter, "user_login", &log, "a");
    record(&emitter, "user_logout", &log, "b");
    record(&emitter, "my_event", &log, "c");
    emitter.clear(Some("user_login"));
    assert_eq!(emitter.listener_count("user_login"), 0);
    assert_eq!(emitter.listener_count("user_logout"), 1);
    emitter.emit(&login()).await?;
    emitter
        .emit(&Event::custom("my_event", serde_json::json!({"n": 1})))
        .await?;
    assert_eq!(entries(&log)?, ["c:my_event"]);
    emitter.clear(None);
    assert!(emitter.listeners("user_logout").is_empty());
    assert!(emitter.listeners("my_event").is_empty());
    Ok(())
}

#[tokio::test]
async fn the_global_emitter_and_module_functions() -> TestResult {
    let log = Log::default();
    let log2 = Arc::clone(&log);
    // A name only this test uses: the global emitter is shared by the whole test binary.
    let id = testudo_events::on("global_test_event", move |e: &Event| {
        let log = Arc::clone(&log2);
        Box::pin(async move { push(&log, e.name()) })
    });
    let named = testudo_events::add_listener("global_test_event", Named(Arc::clone(&log)));
    testudo_events::emit(&Event::custom("global_test_event", serde_json::Value::Null)).await?;
    assert_eq!(
        entries(&log)?,
        ["global_test_event", "named:global_test_event"]
    );
    assert_eq!(
        testudo_events::emitter().listeners("global_test_event"),
        [id, named]
    );
    testudo_events::remove_listener("global_test_event", id)?;
    testudo_events::remove_listener("global_test_event", named)?;
    assert!(testudo_events::remove_listener("global_test_event", id).is_err());
    // A clone of a handle is the same emitter; a new emitter is a separate one.
    assert!(
        !testudo_events::emitter()
            .clone()
            .has_listeners("global_test_event")
    );
    let own = EventEmitter::new();
    own.on("global_test_event", |_: &Event| Box::pin(async { Ok(()) }));
    assert!(!testudo_events::emitter().has_listeners("global_test_event"));
    Ok(())
}

#[test]
fn built_in_events_have_the_reference_names() {
    let user = EventUser::new("7", "bo@example.com");
    let events = [
        (Event::UserLogin { user: user.clone() }, "user_login"),
        (
            Event::UserLoginFailed {
                identifier: "x".into(),
                reason: LoginFailureReason::NotFound,
            },
            "user_login_failed",
        ),
        (Event::UserLogout { user: user.clone() }, "user_logout"),
        (
            Event::PasswordChanged { user: user.clone() },
            "password_changed",
        ),
        (
            Event::EmailTokenCreated {
                email: "bo@example.com".into(),
                token: SecretString::from("raw-token-value"),
                purpose: "email_verification".into(),
                user: Some(user.clone()),
            },
            "email_token_created",
        ),
        (
            Event::PasswordResetRequested {
                user: user.clone(),
                email: "a@example.com".into(),
                token: SecretString::from("t"),
            },
            "password_reset_requested",
        ),
        (
            Event::PasswordResetCompleted { user: user.clone() },
            "password_reset_completed",
        ),
        (
            Event::EmailVerificationRequested {
                user: user.clone(),
                email: "a@example.com".into(),
                secret: SecretString::from("123456"),
                method: VerificationMethod::Code,
            },
            "email_verification_requested",
        ),
        (
            Event::EmailVerified { user: user.clone() },
            "email_verified",
        ),
        (
            Event::EmailChangeRequested {
                user: user.clone(),
                new_email: "b@example.com".into(),
                token: SecretString::from("t"),
            },
            "email_change_requested",
        ),
        (
            Event::EmailChanged {
                user: user.clone(),
                old_email: "a@example.com".into(),
            },
            "email_changed",
        ),
        (
            Event::RateLimitExceeded {
                scope: "login".into(),
                identifier: "a@example.com".into(),
                retry_after: std::time::Duration::from_secs(1),
            },
            "rate_limit_exceeded",
        ),
        (
            Event::ApiKeyCreated {
                key_id: 1,
                owner: ApiKeyOwner::user("7"),
                name: "ci".into(),
            },
            "api_key_created",
        ),
        (
            Event::ApiKeyRevoked {
                key_id: 1,
                owner: ApiKeyOwner::service("billing"),
            },
            "api_key_revoked",
        ),
        (
            Event::ApiKeyUsed {
                key_id: 1,
                owner: ApiKeyOwner::user("7"),
            },
            "api_key_used",
        ),
        (
            Event::ApiKeyRejected {
                key_id: None,
                reason: ApiKeyFailure::Malformed,
            },
            "api_key_rejected",
        ),
        (
            Event::S2sAuthSuccess {
                claimed_service: Some("billing".into()),
            },
            "s2s_auth_success",
        ),
        (
            Event::S2sAuthFailed {
                claimed_service: None,
            },
            "s2s_auth_failed",
        ),
        (
            Event::SecondFactorEnrolled { user: user.clone() },
            "second_factor_enrolled",
        ),
        (
            Event::SecondFactorRemoved { user: user.clone() },
            "second_factor_removed",
        ),
        (
            Event::SecondFactorUsed {
                user: user.clone(),
                method: SecondFactorMethod::RecoveryCode,
                recovery_codes_left: Some(9),
            },
            "second_factor_used",
        ),
        (
            Event::SecondFactorFailed {
                user: user.clone(),
                method: SecondFactorMethod::Totp,
            },
            "second_factor_failed",
        ),
        (
            Event::OnboardingStarted {
                email: "a@example.com".to_owned(),
                session_id: "s".to_owned(),
                pipeline: vec!["verify_email".to_owned()],
            },
            "onboarding_started",
        ),
        (
            Event::OnboardingStepCompleted {
                session_id: "s".to_owned(),
                step_name: "verify_email".to_owned(),
            },
            "onboarding_step_completed",
        ),
        (
            Event::OnboardingStepSkipped {
                session_id: "s".to_owned(),
                step_name: "setup_totp".to_owned(),
            },
            "onboarding_step_skipped",
        ),
        (
            Event::OnboardingStepFailed {
                session_id: "s".to_owned(),
                step_name: "set_password".to_owned(),
                errors: vec!["too short".to_owned()],
            },
            "onboarding_step_failed",
        ),
        (
            Event::OnboardingCompleted {
                user: user.clone(),
                session_id: "s".to_owned(),
            },
            "onboarding_completed",
        ),
        (
            Event::OnboardingSessionExpired {
                session_id: "s".to_owned(),
                email: "a@example.com".to_owned(),
            },
            "onboarding_session_expired",
        ),
        (
            Event::VerificationCodeGenerated {
                email: "a@example.com".to_owned(),
                session_id: "s".to_owned(),
                code: SecretString::from("123456"),
            },
            "verification_code_generated",
        ),
    ];
    assert_eq!(events.len(), EventKind::ALL.len(), "one case per kind");
    for (event, name) in &events {
        assert_eq!(event.name(), *name);
        let kind = event.kind();
        assert_eq!(kind.map(EventKind::name), Some(*name));
        assert_eq!(EventKind::from_name(name), kind);
    }
    assert_eq!(events[0].0.user(), Some(&user));
    assert_eq!(events[1].0.user(), None);
    let custom = Event::custom("my_event", serde_json::Value::Null);
    assert_eq!((custom.name(), custom.kind()), ("my_event", None));
    assert_eq!(EventKind::from_name("my_event"), None);
    let reasons = [
        LoginFailureReason::NotFound,
        LoginFailureReason::Inactive,
        LoginFailureReason::BadPassword,
    ];
    let names: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["not_found", "inactive", "bad_password"]);
}

#[test]
fn debug_redacts_the_email_token_but_handlers_can_read_it() {
    let event = Event::EmailTokenCreated {
        email: "bo@example.com".into(),
        token: SecretString::from("raw-token-value"),
        purpose: "password_reset".into(),
        user: None,
    };
    let debug = format!("{event:?}");
    assert!(!debug.contains("raw-token-value"), "{debug}");
    if let Event::EmailTokenCreated { token, .. } = &event {
        assert_eq!(token.expose_secret(), "raw-token-value");
    }
}

#[test]
fn api_key_owners_and_failures_read_as_stored() {
    let user = ApiKeyOwner::user("42");
    let service = ApiKeyOwner::service("billing");
    assert_eq!((user.kind(), user.id()), ("user", "42"));
    assert_eq!((service.kind(), service.id()), ("service", "billing"));
    assert_eq!(user.to_string(), "user:42");
    assert_eq!(service.to_string(), "service:billing");
    let reasons = [
        ApiKeyFailure::Malformed,
        ApiKeyFailure::NotFound,
        ApiKeyFailure::Revoked,
        ApiKeyFailure::Expired,
        ApiKeyFailure::MissingScope,
    ];
    let names: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "malformed",
            "not_found",
            "revoked",
            "expired",
            "missing_scope"
        ]
    );
}

#[test]
fn emit_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let emitter = EventEmitter::new();
    let event = login();
    let fut = emitter.emit(&event);
    assert_send(&fut);
    let debug = format!("{emitter:?}");
    assert!(debug.contains("propagate_errors: false"), "{debug}");
}

#[derive(Debug, Clone)]
struct AppUser {
    id: u64,
    email: String,
}

impl testudo_core::UserAttributes for AppUser {
    fn attribute(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        (name == "email").then_some(std::borrow::Cow::Borrowed(self.email.as_str()))
    }
}

impl testudo_core::AuthUser for AppUser {
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn email(&self) -> &str {
        &self.email
    }
    fn password_hash(&self) -> &str {
        "!unusable"
    }
    fn is_active(&self) -> bool {
        true
    }
    fn is_verified(&self) -> bool {
        false
    }
    fn last_login(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

#[test]
fn event_user_copies_id_and_email_of_any_auth_user() {
    let user = AppUser {
        id: 7,
        email: "grace@example.com".to_owned(),
    };
    assert_eq!(
        EventUser::from_user(&user),
        EventUser::new("7", "grace@example.com")
    );
}

#[test]
fn removing_an_unregistered_handler_names_the_handle_and_a_built_in_event() -> TestResult {
    let emitter = EventEmitter::new();
    let id = emitter.on("audit", |_: &Event| Box::pin(async { Ok(()) }));
    let built_in = emitter
        .remove_listener(EventKind::UserLogout, id)
        .err()
        .ok_or("not registered for user_logout")?;
    assert_eq!(
        built_in.to_string(),
        format!("handler {id} is not registered for event 'user_logout'")
    );
    let custom = emitter
        .remove_listener("audit-trail", id)
        .err()
        .ok_or("not registered for audit-trail")?;
    assert!(
        matches!(custom, Error::NotRegistered { event: None, id: named } if named == id),
        "{custom:?}"
    );
    assert_eq!(
        custom.to_string(),
        format!("handler {id} is not registered for that event")
    );
    for err in [built_in, custom] {
        let message = err.to_string();
        assert!(std::error::Error::source(&err).is_none());
        let core = testudo_core::Error::from(err);
        assert!(
            matches!(core, testudo_core::Error::Configuration(_)),
            "{core:?}"
        );
        assert_eq!(core.to_string(), message);
        assert!(std::error::Error::source(&core).is_none());
    }
    Ok(())
}
