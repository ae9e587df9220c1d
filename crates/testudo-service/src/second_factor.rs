//! Second factors of [`AuthService`]: TOTP enrolment, recovery codes, the second step of a
//! password login, and step-up (a recent re-authentication for sensitive changes).
//!
//! Every read and write of a user's factor, recovery codes and pending login challenge runs in
//! that user's serialized transaction ([`Database::begin_for_user`]), and the last used TOTP
//! step only moves forward through a conditional update: a code is accepted once, whatever
//! runs concurrently on this node or any other node sharing the database.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _,
};
use secrecy::SecretString;
use testudo_config::AuthConfig;
use testudo_core::{
    AuthResult, AuthUser, AuthenticationError, Claims, Error, Result, SecondFactorError,
    SessionContext, UserStore, saturating_add,
};
use testudo_db::{Database, retrying};
use testudo_events::{Event, EventUser, SecondFactorMethod};
use testudo_totp::{Keyring, Opened, Totp, TotpParams, TotpSecret, keys};
use zeroize::Zeroizing;

use crate::AuthService;
use crate::entity::{login_challenge, reauthentication, recovery_code, totp_factor};
use crate::login_step::LoginChallenge;
use crate::throttle::{Scope, client_ip};

/// Random bytes of a login challenge (256 bits).
const CHALLENGE_BYTES: usize = 32;
/// The longest challenge looked at (a genuine one is 43 characters).
const MAX_CHALLENGE_CHARS: usize = 128;

/// The keys of second factors, one per purpose, derived from `signing_secret`.
#[derive(Debug)]
pub(crate) struct SecondFactorKeys {
    totp: Keyring,
    recovery: Keyring,
    challenge: Keyring,
}

impl SecondFactorKeys {
    /// The keys, or `None` without a signing secret.
    pub(crate) fn new(config: &AuthConfig) -> Result<Option<Self>> {
        if config.effective_signing_secret().is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            totp: Keyring::from_config(config, keys::TOTP_SECRET)?,
            recovery: Keyring::from_config(config, keys::RECOVERY_CODE)?,
            challenge: Keyring::from_config(config, keys::LOGIN_CHALLENGE)?,
        }))
    }
}

/// Where factors live: the database, and the keys (`None` without a signing secret: no
/// factor can then be enrolled or used, but logins still check for one).
#[derive(Debug, Clone)]
pub(crate) struct Factors {
    db: Database,
    keys: Option<Arc<SecondFactorKeys>>,
}

impl Factors {
    pub(crate) fn new(db: Database, keys: Option<SecondFactorKeys>) -> Self {
        Self {
            db,
            keys: keys.map(Arc::new),
        }
    }

    fn keys(&self) -> Result<&SecondFactorKeys> {
        self.keys
            .as_deref()
            .ok_or_else(|| crate::Error::NoSigningSecret.into())
    }

    /// Seals a TOTP secret bound to `context` (the onboarding session keeps it so).
    pub(crate) fn seal_totp(&self, secret: &[u8], context: &str) -> Result<String> {
        Ok(self.keys()?.totp.seal(secret, context)?)
    }

    /// Opens a secret sealed by [`Self::seal_totp`] with the same `context`.
    pub(crate) fn open_totp(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>> {
        Ok(self.keys()?.totp.open(sealed, context)?.0)
    }

    /// Stores a confirmed TOTP factor for a user who has none (a user created by onboarding,
    /// whose first code was checked there): `last_step` is that code's step, so it cannot be
    /// used again.
    pub(crate) async fn insert_confirmed_totp(
        &self,
        user_id: &str,
        secret: &[u8],
        params: TotpParams,
        last_step: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let sealed = self.keys()?.totp.seal(secret, user_id)?;
        totp_factor::ActiveModel {
            user_id: Set(user_id.to_owned()),
            secret: Set(sealed),
            algorithm: Set(params.algorithm.as_str().to_owned()),
            digits: Set(i32::from(params.digits)),
            last_step: Set(db_int(last_step)),
            confirmed_at: Set(Some(now)),
            created_at: Set(now),
        }
        .insert(self.db.as_sea_orm())
        .await
        .map_err(storage)?;
        Ok(())
    }
}

/// What [`AuthService::enroll_totp`] returns: what the user's authenticator app needs. Every
/// part contains the secret: show it once, over TLS, and do not store or log it. `Debug`
/// shows none of it.
#[derive(Clone)]
pub struct TotpEnrolment {
    secret: SecretString,
    uri: SecretString,
    qr_svg: SecretString,
}

impl TotpEnrolment {
    pub(crate) fn new(secret: SecretString, uri: SecretString, qr_svg: SecretString) -> Self {
        Self {
            secret,
            uri,
            qr_svg,
        }
    }

    /// The secret in base32, for typing into an app.
    #[must_use]
    pub fn secret_base32(&self) -> &SecretString {
        &self.secret
    }

    /// The `otpauth://totp/...` URI.
    #[must_use]
    pub fn uri(&self) -> &SecretString {
        &self.uri
    }

    /// The URI as a QR code: an SVG document, to embed in the enrolment page.
    #[must_use]
    pub fn qr_svg(&self) -> &SecretString {
        &self.qr_svg
    }
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrolment").finish_non_exhaustive()
    }
}

/// What checking a code found.
enum Check {
    Right {
        method: SecondFactorMethod,
        recovery_codes_left: Option<u64>,
    },
    Wrong(SecondFactorMethod),
    /// No factor in the state asked for (none, or pending / confirmed).
    NoFactor,
    /// The login challenge is gone (used concurrently) or expired.
    ChallengeGone,
}

/// Which state of the factor a code is checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Confirming a pending enrolment (TOTP codes only); the recovery codes to store.
    Pending,
    /// Using a confirmed factor (TOTP or recovery code).
    Confirmed,
}

fn storage(e: sea_orm::DbErr) -> testudo_db::Error {
    testudo_db::Error::from(e)
}

/// The factor's TOTP, from its row.
fn row_totp(
    keys: &SecondFactorKeys,
    row: &totp_factor::Model,
    config: &AuthConfig,
) -> Result<(Totp, Opened)> {
    let (plain, opened) = keys.totp.open(&row.secret, &row.user_id)?;
    let algorithm = row.algorithm.parse().map_err(Error::internal)?;
    let digits = u8::try_from(row.digits).map_err(Error::internal)?;
    let params = TotpParams {
        algorithm,
        digits,
        skew: config.totp_skew,
    };
    let totp = Totp::new(
        &TotpSecret::from_bytes(plain.to_vec()),
        params,
        &config.totp_issuer,
        &row.user_id,
    )?;
    Ok((totp, opened))
}

/// `i64` for the database (saturating).
fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<S: UserStore> AuthService<S> {
    pub(crate) fn factors(&self) -> Result<&Factors> {
        self.factors
            .as_ref()
            .ok_or_else(|| crate::Error::NoCodeStore.into())
    }

    /// The user as stored now, active.
    async fn active_account(&self, user: &S::User) -> Result<S::User> {
        crate::account::link_user(self.store.find_by_id(&user.id()).await?)
    }

    /// Whether the user has a confirmed second factor (a pending enrolment is not one). Always
    /// false for a service without a database.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.has_second_factor", skip_all, fields(user_id = %user.id()))]
    pub async fn has_second_factor(&self, user: &S::User) -> Result<bool> {
        self.bounded(self.second_factor_enrolled(&user.id())).await
    }

    /// Whether `user_id` has a confirmed factor (false without a database).
    pub(crate) async fn second_factor_enrolled(&self, user_id: &str) -> Result<bool> {
        let Some(factors) = &self.factors else {
            return Ok(false);
        };
        let n = totp_factor::Entity::find()
            .filter(totp_factor::Column::UserId.eq(user_id))
            .filter(totp_factor::Column::ConfirmedAt.is_not_null())
            .count(factors.db.as_sea_orm())
            .await
            .map_err(storage)?;
        Ok(n > 0)
    }

    /// Checks the user's password again and records the time (step-up): for
    /// `step_up_window` afterwards the user may enrol or remove a second factor and
    /// regenerate recovery codes. Wrong passwords are throttled per user.
    ///
    /// # Errors
    ///
    /// [`AuthenticationError::InvalidCredentials`] for a wrong password;
    /// [`AccountError::UserNotFound`](testudo_core::AccountError::UserNotFound) /
    /// [`AccountError::UserInactive`](testudo_core::AccountError::UserInactive);
    /// [`Error::RateLimited`]; [`crate::Error::NoCodeStore`] without a database;
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.reauthenticate", skip_all, fields(user_id = %user.id()))]
    pub async fn reauthenticate(&self, user: &S::User, password: &str) -> Result<()> {
        self.bounded(async move {
            let factors = self.factors()?;
            let user = self.active_account(user).await?;
            let id = user.id();
            self.throttle(Scope::Reauthenticate, &id, None).await?;
            testudo_hashers::check_password_length(password, self.config.max_password_length)
                .map_err(|_| AuthenticationError::InvalidCredentials)?;
            if !self.check_password(&user, password).await? {
                tracing::info!("re-authentication refused: wrong password");
                return Err(AuthenticationError::InvalidCredentials.into());
            }
            let now = self.clock().now();
            let id = &id;
            retrying(|| async move {
                let txn = factors.db.begin_for_user(id).await?;
                reauthentication::Entity::delete_by_id(id.clone())
                    .exec(&*txn)
                    .await?;
                reauthentication::ActiveModel {
                    user_id: Set(id.clone()),
                    authenticated_at: Set(now),
                }
                .insert(&*txn)
                .await?;
                txn.commit().await?;
                Ok::<_, testudo_db::Error>(())
            })
            .await?;
            if let Err(e) = self.throttle_reset(Scope::Reauthenticate, id).await {
                tracing::warn!(error = %e, "re-authentication throttling: the counter was not reset");
            }
            Ok(())
        })
        .await
    }

    /// Refuses unless the user re-authenticated within `step_up_window`.
    async fn require_recent_authentication(&self, factors: &Factors, user_id: &str) -> Result<()> {
        let row = reauthentication::Entity::find_by_id(user_id.to_owned())
            .one(factors.db.as_sea_orm())
            .await
            .map_err(storage)?;
        let now = self.clock().now();
        let window =
            chrono::Duration::from_std(self.config.step_up_window).unwrap_or(chrono::Duration::MAX);
        match row {
            Some(r) if now.signed_duration_since(r.authenticated_at) < window => Ok(()),
            _ => {
                tracing::info!("refused: no re-authentication within step_up_window");
                Err(SecondFactorError::ReauthenticationRequired.into())
            }
        }
    }

    /// Starts enrolling a TOTP factor: makes a secret (of the hash's size) for
    /// `totp_algorithm` / `totp_digits`, stores it sealed (XChaCha20-Poly1305, bound to the
    /// user; never in clear) as a *pending* factor, replacing any pending one, and returns the
    /// secret, its `otpauth://` URI (labelled `totp_issuer:email`) and the URI's QR code.
    /// Nothing changes at login until [`Self::confirm_totp`] accepts a first code.
    ///
    /// Needs a re-authentication within `step_up_window` ([`Self::reauthenticate`]): whoever
    /// holds a stolen session must not be able to tie the account to their own authenticator.
    ///
    /// # Errors
    ///
    /// [`SecondFactorError::AlreadyEnrolled`]; [`SecondFactorError::ReauthenticationRequired`];
    /// [`AccountError::UserNotFound`](testudo_core::AccountError::UserNotFound) /
    /// [`AccountError::UserInactive`](testudo_core::AccountError::UserInactive);
    /// [`crate::Error::NoCodeStore`] / [`crate::Error::NoSigningSecret`] (as
    /// [`Error::Configuration`]); [`Error::Internal`] if the OS random generator fails;
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.enroll_totp", skip_all, fields(user_id = %user.id()))]
    pub async fn enroll_totp(&self, user: &S::User) -> Result<TotpEnrolment> {
        self.bounded(async move {
            let factors = self.factors()?;
            let keys = factors.keys()?;
            let user = self.active_account(user).await?;
            let id = user.id();
            self.require_recent_authentication(factors, &id).await?;
            let params = TotpParams::from_config(&self.config);
            let secret = TotpSecret::generate(params.secret_len())?;
            let account = if user.email().contains(':') || user.email().is_empty() {
                id.as_str()
            } else {
                user.email()
            };
            let totp = Totp::new(&secret, params, &self.config.totp_issuer, account)?;
            let enrolment = TotpEnrolment {
                secret: secret.to_base32(),
                uri: totp.uri()?,
                qr_svg: totp.qr_svg()?,
            };
            let sealed = keys.totp.seal(secret.as_bytes(), &id)?;
            let now = self.clock().now();
            let (id, sealed) = (&id, &sealed);
            let algorithm = params.algorithm.as_str();
            let enrolled = retrying(|| async move {
                let txn = factors.db.begin_for_user(id).await?;
                let existing = totp_factor::Entity::find_by_id(id.clone())
                    .one(&*txn)
                    .await?;
                if existing.as_ref().is_some_and(|r| r.confirmed_at.is_some()) {
                    txn.commit().await?;
                    return Ok(false);
                }
                totp_factor::Entity::delete_by_id(id.clone())
                    .exec(&*txn)
                    .await?;
                totp_factor::ActiveModel {
                    user_id: Set(id.clone()),
                    secret: Set(sealed.clone()),
                    algorithm: Set(algorithm.to_owned()),
                    digits: Set(i32::from(params.digits)),
                    last_step: Set(0),
                    confirmed_at: Set(None),
                    created_at: Set(now),
                }
                .insert(&*txn)
                .await?;
                txn.commit().await?;
                Ok::<_, testudo_db::Error>(true)
            })
            .await?;
            if !enrolled {
                return Err(SecondFactorError::AlreadyEnrolled.into());
            }
            Ok(enrolment)
        })
        .await
    }

    /// Confirms the pending TOTP factor with a first code from the app: the factor is then
    /// enrolled (password logins need it from now on, see [`Self::login_start`]),
    /// `recovery_code_count` new recovery codes replace any old ones, and
    /// `second_factor_enrolled` is emitted. Returns the recovery codes: shown to the user
    /// once, stored only as keyed digests. The code is used up like any other (it cannot log
    /// in afterwards). Wrong codes are throttled per user and emit `second_factor_failed`.
    ///
    /// # Errors
    ///
    /// [`SecondFactorError::WrongCode`]; [`SecondFactorError::NoPendingEnrolment`];
    /// [`Error::RateLimited`]; as [`Self::enroll_totp`] otherwise (no step-up is needed: the
    /// enrolment had it).
    #[tracing::instrument(name = "testudo.confirm_totp", skip_all, fields(user_id = %user.id()))]
    pub async fn confirm_totp(&self, user: &S::User, code: &str) -> Result<Vec<SecretString>> {
        self.bounded(async move {
            let factors = self.factors()?;
            let keys = factors.keys()?;
            let user = self.active_account(user).await?;
            let id = user.id();
            self.throttle(Scope::SecondFactor, &id, None).await?;
            let (codes, digests) = self.new_recovery_codes(keys, &id)?;
            let check = self
                .check_code(factors, keys, &id, code, Want::Pending, None, &digests)
                .await?;
            match check {
                Check::Right { .. } => {
                    tracing::info!("second factor enrolled");
                    self.emit(Event::SecondFactorEnrolled {
                        user: EventUser::from_user(&user),
                    })
                    .await?;
                    Ok(codes)
                }
                Check::Wrong(method) => self.code_refused(&user, method).await,
                Check::NoFactor | Check::ChallengeGone => {
                    Err(SecondFactorError::NoPendingEnrolment.into())
                }
            }
        })
        .await
    }

    /// Removes the user's TOTP factor (pending or confirmed), their recovery codes and pending
    /// login challenges; emits `second_factor_removed`. Needs a re-authentication within
    /// `step_up_window` ([`Self::reauthenticate`]).
    ///
    /// # Errors
    ///
    /// [`SecondFactorError::NotEnrolled`] when there was none;
    /// [`SecondFactorError::ReauthenticationRequired`]; as [`Self::enroll_totp`].
    #[tracing::instrument(name = "testudo.remove_totp", skip_all, fields(user_id = %user.id()))]
    pub async fn remove_totp(&self, user: &S::User) -> Result<()> {
        self.bounded(async move {
            let factors = self.factors()?;
            let user = self.active_account(user).await?;
            let id = user.id();
            self.require_recent_authentication(factors, &id).await?;
            if !self.delete_second_factor(factors, &id).await? {
                return Err(SecondFactorError::NotEnrolled.into());
            }
            tracing::info!("second factor removed");
            self.emit(Event::SecondFactorRemoved {
                user: EventUser::from_user(&user),
            })
            .await
        })
        .await
    }

    /// Deletes every second-factor row of `user_id`; returns whether a factor existed.
    pub(crate) async fn delete_second_factor(&self, factors: &Factors, id: &str) -> Result<bool> {
        let removed = retrying(|| async move {
            let txn = factors.db.begin_for_user(id).await?;
            let n = totp_factor::Entity::delete_by_id(id.to_owned())
                .exec(&*txn)
                .await?
                .rows_affected;
            recovery_code::Entity::delete_many()
                .filter(recovery_code::Column::UserId.eq(id))
                .exec(&*txn)
                .await?;
            login_challenge::Entity::delete_many()
                .filter(login_challenge::Column::UserId.eq(id))
                .exec(&*txn)
                .await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(n > 0)
        })
        .await?;
        Ok(removed)
    }

    /// Replaces the user's recovery codes with `recovery_code_count` new ones and returns them
    /// (shown once; the old ones stop working). Needs a confirmed factor and a
    /// re-authentication within `step_up_window`.
    ///
    /// # Errors
    ///
    /// [`SecondFactorError::NotEnrolled`]; [`SecondFactorError::ReauthenticationRequired`];
    /// as [`Self::enroll_totp`].
    #[tracing::instrument(name = "testudo.regenerate_recovery_codes", skip_all, fields(user_id = %user.id()))]
    pub async fn regenerate_recovery_codes(&self, user: &S::User) -> Result<Vec<SecretString>> {
        self.bounded(async move {
            let factors = self.factors()?;
            let keys = factors.keys()?;
            let user = self.active_account(user).await?;
            let id = user.id();
            self.require_recent_authentication(factors, &id).await?;
            let (codes, digests) = self.new_recovery_codes(keys, &id)?;
            let now = self.clock().now();
            let (id, digests) = (&id, &digests);
            let replaced = retrying(|| async move {
                let txn = factors.db.begin_for_user(id).await?;
                let confirmed = totp_factor::Entity::find_by_id(id.clone())
                    .one(&*txn)
                    .await?
                    .is_some_and(|r| r.confirmed_at.is_some());
                if !confirmed {
                    txn.commit().await?;
                    return Ok(false);
                }
                replace_recovery_codes(&txn, id, digests, now).await?;
                txn.commit().await?;
                Ok::<_, testudo_db::Error>(true)
            })
            .await?;
            if !replaced {
                return Err(SecondFactorError::NotEnrolled.into());
            }
            tracing::info!("recovery codes regenerated");
            Ok(codes)
        })
        .await
    }

    /// How many unused recovery codes the user has.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoCodeStore`] without a database; [`Error::Storage`].
    #[tracing::instrument(name = "testudo.recovery_codes_remaining", skip_all, fields(user_id = %user.id()))]
    pub async fn recovery_codes_remaining(&self, user: &S::User) -> Result<u64> {
        self.bounded(async move {
            let factors = self.factors()?;
            let n = recovery_code::Entity::find()
                .filter(recovery_code::Column::UserId.eq(user.id()))
                .count(factors.db.as_sea_orm())
                .await
                .map_err(storage)?;
            Ok(n)
        })
        .await
    }

    /// Makes `recovery_code_count` codes and their digests.
    fn new_recovery_codes(
        &self,
        keys: &SecondFactorKeys,
        id: &str,
    ) -> Result<(Vec<SecretString>, Vec<String>)> {
        let n = usize::try_from(self.config.recovery_code_count).unwrap_or(usize::MAX);
        let codes = testudo_totp::generate_recovery_codes(n)?;
        let digests = codes
            .iter()
            .map(|c| {
                let canonical = testudo_totp::canonical_recovery_code(c);
                keys.recovery.digest(&[id, canonical.as_str()])
            })
            .collect();
        Ok((codes, digests))
    }

    /// A refused code: `second_factor_failed`, then [`SecondFactorError::WrongCode`].
    async fn code_refused<T>(&self, user: &S::User, method: SecondFactorMethod) -> Result<T> {
        tracing::info!(method = method.as_str(), "second-factor code refused");
        self.emit(Event::SecondFactorFailed {
            user: EventUser::from_user(user),
            method,
        })
        .await?;
        Err(SecondFactorError::WrongCode.into())
    }

    /// Checks `code` against the user's factor in the user's serialized transaction: a TOTP
    /// code must be for a step after the last used one, which it then becomes (a conditional
    /// update); a recovery code (confirmed factors only) is deleted. Confirming (`Pending`)
    /// also stores `new_recovery` as the recovery codes; with `challenge`, the challenge must
    /// still be pending and is deleted with the use of the code.
    #[allow(
        clippy::too_many_arguments,
        reason = "one transaction shared by the confirmation and the login"
    )]
    async fn check_code(
        &self,
        factors: &Factors,
        keys: &SecondFactorKeys,
        id: &str,
        code: &str,
        want: Want,
        challenge: Option<&str>,
        new_recovery: &[String],
    ) -> Result<Check> {
        let now = self.clock().now();
        let config = &self.config;
        retrying(|| async move {
            let txn = factors.db.begin_for_user(id).await?;
            if let Some(digest) = challenge {
                let pending = login_challenge::Entity::find_by_id(digest.to_owned())
                    .one(&*txn)
                    .await?
                    .filter(|c| c.expires_at > now);
                if pending.is_none() {
                    txn.commit().await?;
                    return Ok(Ok(Check::ChallengeGone));
                }
            }
            let row = totp_factor::Entity::find_by_id(id.to_owned())
                .one(&*txn)
                .await?
                .filter(|r| r.confirmed_at.is_some() == (want == Want::Confirmed));
            let Some(row) = row else {
                txn.commit().await?;
                return Ok(Ok(Check::NoFactor));
            };
            let digits = u8::try_from(row.digits).unwrap_or(0);
            let right = if testudo_totp::looks_like_totp_code(code, digits) {
                let (totp, opened) = match row_totp(keys, &row, config) {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(e)),
                };
                let after = u64::try_from(row.last_step).ok().filter(|s| *s > 0);
                let step = match totp.verify(code, now.timestamp(), after) {
                    Ok(step) => step,
                    Err(e) => return Ok(Err(e.into())),
                };
                let Some(step) = step else {
                    return Ok(Ok(Check::Wrong(SecondFactorMethod::Totp)));
                };
                // The worst moment for a second use of the same code: checked, not recorded.
                testudo_core::pause::point("service.second_factor.before_write").await;
                let mut update = totp_factor::Entity::update_many()
                    .col_expr(totp_factor::Column::LastStep, Expr::value(db_int(step)))
                    .filter(totp_factor::Column::UserId.eq(id))
                    .filter(totp_factor::Column::LastStep.lt(db_int(step)));
                if want == Want::Pending {
                    update = update
                        .col_expr(totp_factor::Column::ConfirmedAt, Expr::value(Some(now)))
                        .filter(totp_factor::Column::ConfirmedAt.is_null());
                }
                if opened == Opened::Fallback {
                    // Opened with a key from before a rotation: seal it under the current one.
                    let resealed = keys
                        .totp
                        .open(&row.secret, id)
                        .and_then(|(plain, _)| keys.totp.seal(&plain, id));
                    if let Ok(resealed) = resealed {
                        update =
                            update.col_expr(totp_factor::Column::Secret, Expr::value(resealed));
                    }
                }
                if update.exec(&*txn).await?.rows_affected != 1 {
                    return Ok(Ok(Check::Wrong(SecondFactorMethod::Totp)));
                }
                if want == Want::Pending {
                    replace_recovery_codes(&txn, id, new_recovery, now).await?;
                }
                Check::Right {
                    method: SecondFactorMethod::Totp,
                    recovery_codes_left: None,
                }
            } else {
                let canonical = testudo_totp::normalize_recovery_code(code);
                let Some(canonical) = canonical.filter(|_| want == Want::Confirmed) else {
                    return Ok(Ok(Check::Wrong(SecondFactorMethod::RecoveryCode)));
                };
                let digests = keys.recovery.digests(&[id, canonical.as_str()]);
                testudo_core::pause::point("service.second_factor.before_write").await;
                let used = recovery_code::Entity::delete_many()
                    .filter(recovery_code::Column::UserId.eq(id))
                    .filter(recovery_code::Column::Digest.is_in(digests))
                    .exec(&*txn)
                    .await?
                    .rows_affected;
                if used == 0 {
                    return Ok(Ok(Check::Wrong(SecondFactorMethod::RecoveryCode)));
                }
                let left = recovery_code::Entity::find()
                    .filter(recovery_code::Column::UserId.eq(id))
                    .count(&*txn)
                    .await?;
                Check::Right {
                    method: SecondFactorMethod::RecoveryCode,
                    recovery_codes_left: Some(left),
                }
            };
            if let Some(digest) = challenge {
                let deleted = login_challenge::Entity::delete_by_id(digest.to_owned())
                    .exec(&*txn)
                    .await?
                    .rows_affected;
                if deleted != 1 {
                    // Rolled back: the code stays unused.
                    return Ok(Ok(Check::ChallengeGone));
                }
            }
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(Ok(right))
        })
        .await?
    }

    /// Issues the challenge of a password login whose account has a second factor.
    pub(crate) async fn issue_challenge(
        &self,
        user: &S::User,
        extra: &Claims,
    ) -> Result<LoginChallenge> {
        let factors = self.factors()?;
        let keys = factors.keys()?;
        let mut bytes = Zeroizing::new([0_u8; CHALLENGE_BYTES]);
        getrandom::fill(&mut bytes[..]).map_err(|e| Error::internal(Random(e)))?;
        let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(&bytes[..]));
        let digest = keys.challenge.digest(&[token.as_str()]);
        let now = self.clock().now();
        let expires_at = saturating_add(now, self.config.login_challenge_lifetime);
        let claims = serde_json::Value::Object(extra.clone()).to_string();
        let id = user.id();
        let version = db_int(user.credential_version());
        let (id, digest, claims) = (&id, &digest, &claims);
        retrying(|| async move {
            let txn = factors.db.begin_for_user(id).await?;
            // Expired challenges of this user go with each new one: the table stays bounded.
            login_challenge::Entity::delete_many()
                .filter(login_challenge::Column::UserId.eq(id))
                .filter(login_challenge::Column::ExpiresAt.lte(now))
                .exec(&*txn)
                .await?;
            login_challenge::ActiveModel {
                digest: Set(digest.clone()),
                user_id: Set(id.clone()),
                credential_version: Set(version),
                claims: Set(claims.clone()),
                expires_at: Set(expires_at),
                created_at: Set(now),
            }
            .insert(&*txn)
            .await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(())
        })
        .await?;
        tracing::info!("password right; second factor required: challenge issued");
        Ok(LoginChallenge {
            token: SecretString::from(token.as_str()),
            expires_at,
        })
    }

    /// Finishes a login [`Self::login_start`] answered with a challenge: `code` is a TOTP code
    /// or one of the user's recovery codes (told apart by their form). On success the
    /// challenge and the code are used up (in one transaction: a code is accepted once and a
    /// challenge completes once, whatever runs concurrently on any node), the pair is issued
    /// as [`Self::login`] issues it (claims from `login_start`, `last_login`, `user_login`),
    /// and `second_factor_used` is emitted. A wrong code leaves the challenge pending (until
    /// it expires) and emits `second_factor_failed`; wrong codes are throttled per user and,
    /// with `ip`, per client.
    ///
    /// # Errors
    ///
    /// [`SecondFactorError::InvalidChallenge`] for an unknown or used challenge, or one whose
    /// user changed password, was deactivated or removed the factor since;
    /// [`SecondFactorError::ChallengeExpired`]; [`SecondFactorError::WrongCode`];
    /// [`Error::RateLimited`]; [`crate::Error::NoCodeStore`] /
    /// [`crate::Error::NoSigningSecret`]; [`Error::Storage`]; [`Error::Event`].
    pub async fn complete_login(
        &self,
        challenge: &str,
        code: &str,
        ip: Option<&str>,
    ) -> Result<AuthResult<S::User>> {
        self.complete_login_with_context(challenge, code, &SessionContext::from_ip(ip))
            .await
    }

    /// [`Self::complete_login`] from the client `client` describes: wrong codes are throttled
    /// per its IP, and the session the login starts records its IP and user agent (those of
    /// the client finishing the login).
    ///
    /// # Errors
    ///
    /// As [`Self::complete_login`].
    #[tracing::instrument(name = "testudo.complete_login", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn complete_login_with_context(
        &self,
        challenge: &str,
        code: &str,
        client: &SessionContext,
    ) -> Result<AuthResult<S::User>> {
        let ip = client.ip();
        self.bounded(async move {
            let factors = self.factors()?;
            let keys = factors.keys()?;
            let challenge = challenge.trim();
            if challenge.is_empty() || challenge.len() > MAX_CHALLENGE_CHARS {
                return Err(SecondFactorError::InvalidChallenge.into());
            }
            let digests = keys.challenge.digests(&[challenge]);
            let row = login_challenge::Entity::find()
                .filter(login_challenge::Column::Digest.is_in(digests))
                .one(factors.db.as_sea_orm())
                .await
                .map_err(storage)?;
            let Some(row) = row else {
                return Err(SecondFactorError::InvalidChallenge.into());
            };
            tracing::Span::current().record("user_id", row.user_id.as_str());
            let forget = || async {
                login_challenge::Entity::delete_by_id(row.digest.clone())
                    .exec(factors.db.as_sea_orm())
                    .await
                    .map_err(storage)
            };
            if row.expires_at <= self.clock().now() {
                forget().await?;
                return Err(SecondFactorError::ChallengeExpired.into());
            }
            self.throttle(Scope::SecondFactor, &row.user_id, client_ip(ip))
                .await?;
            let user = self.store.find_by_id(&row.user_id).await?;
            let Some(user) = user.filter(|u| {
                u.is_active() && db_int(u.credential_version()) == row.credential_version
            }) else {
                tracing::info!("challenge refused: the user changed since the password check");
                forget().await?;
                return Err(SecondFactorError::InvalidChallenge.into());
            };
            let check = self
                .check_code(
                    factors,
                    keys,
                    &row.user_id,
                    code,
                    Want::Confirmed,
                    Some(&row.digest),
                    &[],
                )
                .await?;
            let (method, recovery_codes_left) = match check {
                Check::Right {
                    method,
                    recovery_codes_left,
                } => (method, recovery_codes_left),
                Check::Wrong(method) => return self.code_refused(&user, method).await,
                Check::NoFactor | Check::ChallengeGone => {
                    return Err(SecondFactorError::InvalidChallenge.into());
                }
            };
            if let Err(e) = self.throttle_reset(Scope::SecondFactor, &row.user_id).await {
                tracing::warn!(error = %e, "second-factor throttling: the counter was not reset");
            }
            self.emit(Event::SecondFactorUsed {
                user: EventUser::from_user(&user),
                method,
                recovery_codes_left,
            })
            .await?;
            let claims: Claims = serde_json::from_str(&row.claims).unwrap_or_default();
            let email = user.email().to_owned();
            self.finish_login(user, claims, &email, client).await
        })
        .await
    }
}

/// Replaces the user's recovery codes by `digests`, in `txn`.
async fn replace_recovery_codes(
    txn: &testudo_db::UserTransaction,
    id: &str,
    digests: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), testudo_db::Error> {
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(id))
        .exec(&**txn)
        .await?;
    if digests.is_empty() {
        return Ok(());
    }
    recovery_code::Entity::insert_many(digests.iter().map(|d| recovery_code::ActiveModel {
        user_id: Set(id.to_owned()),
        digest: Set(d.clone()),
        created_at: Set(now),
    }))
    .exec(&**txn)
    .await?;
    Ok(())
}

/// The OS random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed")]
struct Random(#[source] getrandom::Error);
