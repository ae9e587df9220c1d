//! The account flows of [`AuthService`]: password reset, email verification by link or code,
//! and email change. The links themselves are made and checked in [`crate::account`].

use secrecy::SecretString;
#[cfg(doc)]
use testudo_core::Error;
use testudo_core::{AccountError, AuthUser, Result, UserStore, normalize_email};
use testudo_events::{Event, EventUser, VerificationMethod};
use testudo_hashers::check_password_length;

use crate::AuthService;
use crate::account::{self, FlowSigners};
use crate::throttle::{Scope, client_ip};

/// The longest address accepted (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;

impl<S: UserStore> AuthService<S> {
    pub(crate) fn flow_signers(&self) -> Result<&FlowSigners> {
        self.flows
            .as_deref()
            .ok_or_else(|| crate::Error::NoSigningSecret.into())
    }

    /// How many signatures the account flows have computed (links, fingerprints, code
    /// digests): for tests that check two paths do the same work.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    #[must_use]
    pub fn flow_signatures(&self) -> u64 {
        self.flows.as_deref().map_or(0, FlowSigners::work)
    }

    /// Starts a password reset (requested from the client at `ip`, when known: throttling
    /// counts that client too): for an active user with exactly this (normalised) address,
    /// makes a reset link token and emits `password_reset_requested` with it and the *stored*
    /// address; the application's handler mails the link. For an unknown, inactive or
    /// look-alike address nothing is emitted. Either way the answer is `Ok(())` and the work is
    /// the same (one lookup, one link signed), so neither tells whether the address has an
    /// account. Mail from the handler in the background (a queue) so that sending it does not
    /// show in the response time either.
    ///
    /// The link is valid for `password_reset_token_lifetime` and only while the account's
    /// password, credential version, last login and address stay as they were: it works once.
    /// No database row is written.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoSigningSecret`] (as [`Error::Configuration`]) without a signing
    /// secret; [`Error::RateLimited`] when throttling refuses the request (before any lookup);
    /// [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(name = "testudo.request_reset", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn request_reset(&self, email: &str, ip: Option<&str>) -> Result<()> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let email = normalize_email(email);
            self.throttle(Scope::PasswordReset, &email, client_ip(ip))
                .await?;
            let found = self.store.find_by_email(&email).await?;
            let user = found.filter(|u| u.is_active() && u.email() == email);
            let token = account::reset_link(signers, user.as_ref());
            let Some(user) = user else {
                tracing::info!("reset link not sent: unknown or inactive address");
                return Ok(());
            };
            tracing::Span::current().record("user_id", user.id().as_str());
            self.emit(Event::PasswordResetRequested {
                user: EventUser::from_user(&user),
                email: user.email().to_owned(),
                token,
            })
            .await
        })
        .await
    }

    /// Finishes a password reset with a token from [`Self::request_reset`]: checks the link
    /// (signature, age, the account's state), validates `new_password` with the user's
    /// attributes, saves its hash only if the password is still the one the link was made
    /// for (so two uses of one link cannot both succeed), ends every session of the user
    /// (whatever `revoke_tokens_on_password_change` says), deletes their pending email tokens
    /// and emits `password_changed` and `password_reset_completed`.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] for a forged, tampered or expired link;
    /// [`AccountError::UserNotFound`] / [`AccountError::UserInactive`] for a genuine link of a
    /// deleted or deactivated account; [`AccountError::LinkUsed`] once the link was used or
    /// the account changed since; [`Error::InvalidPassword`]; [`Error::Storage`];
    /// [`Error::Event`].
    #[tracing::instrument(name = "testudo.confirm_reset", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn confirm_reset(&self, token: &str, new_password: &str) -> Result<S::User> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let (id, fingerprint) = account::open_reset(signers, token, &self.config)?;
            let user = account::link_user(self.store.find_by_id(&id).await?)?;
            tracing::Span::current().record("user_id", id.as_str());
            if !account::reset_still_valid(signers, &user, &fingerprint) {
                return Err(AccountError::LinkUsed.into());
            }
            check_password_length(new_password, self.config.max_password_length)?;
            self.validators.validate(new_password, Some(&user))?;
            let hash = self.hasher.hash(SecretString::from(new_password)).await?;
            // The worst moment for a second use of the same link: checked, nothing written yet.
            testudo_core::pause::point("service.confirm_reset.before_write").await;
            if !self
                .store
                .replace_password_hash(&id, user.password_hash(), &hash)
                .await?
            {
                tracing::info!("reset refused: the password changed since the link was checked");
                return Err(AccountError::LinkUsed.into());
            }
            let updated = account::link_user(self.store.find_by_id(&id).await?)?;
            if self.backend.supports_revocation() {
                let n = self.backend.revoke_all_for_user(&id).await?;
                tracing::info!(revoked = n, "tokens revoked after a password reset");
            }
            self.clear_email_tokens(&updated).await?;
            let event_user = EventUser::from_user(&updated);
            self.emit(Event::PasswordChanged {
                user: event_user.clone(),
            })
            .await?;
            self.emit(Event::PasswordResetCompleted { user: event_user })
                .await?;
            Ok(updated)
        })
        .await
    }

    /// The user as stored now (a link is made from the stored state, not from a stale copy).
    async fn current(&self, user: &S::User) -> Result<S::User> {
        account::link_user(self.store.find_by_id(&user.id()).await?)
    }

    /// Sends a verification link: emits `email_verification_requested` with a link token
    /// (method `Link`) for the user's stored address; the handler mails it. The link is valid
    /// for `signing_token_lifetime`, for that address only, until the address is verified.
    ///
    /// # Errors
    ///
    /// [`AccountError::AlreadyVerified`]; [`AccountError::UserNotFound`] /
    /// [`AccountError::UserInactive`]; [`crate::Error::NoSigningSecret`];
    /// [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(name = "testudo.request_email_verification", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn request_email_verification(&self, user: &S::User) -> Result<()> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let user = self.current(user).await?;
            tracing::Span::current().record("user_id", user.id().as_str());
            if user.is_verified() {
                return Err(AccountError::AlreadyVerified.into());
            }
            let secret = account::verification_link(signers, &user);
            self.emit(Event::EmailVerificationRequested {
                user: EventUser::from_user(&user),
                email: user.email().to_owned(),
                secret,
                method: VerificationMethod::Link,
            })
            .await
        })
        .await
    }

    /// Verifies an address with a link token from [`Self::request_email_verification`]: marks
    /// it verified and emits `email_verified`; returns the user as stored afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] for a forged, tampered or expired link;
    /// [`AccountError::AlreadyVerified`]; [`AccountError::LinkUsed`] when the address changed
    /// since the link was made; [`AccountError::UserNotFound`] /
    /// [`AccountError::UserInactive`]; [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(name = "testudo.verify_email", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn verify_email(&self, token: &str) -> Result<S::User> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let (id, fingerprint) = account::open_verification(signers, token, &self.config)?;
            let user = account::link_user(self.store.find_by_id(&id).await?)?;
            tracing::Span::current().record("user_id", id.as_str());
            if user.is_verified() {
                return Err(AccountError::AlreadyVerified.into());
            }
            if !account::verification_still_valid(signers, &user, &fingerprint) {
                return Err(AccountError::LinkUsed.into());
            }
            self.verified(&id).await
        })
        .await
    }

    /// Marks the user verified, emits `email_verified` and returns the user as stored.
    async fn verified(&self, id: &str) -> Result<S::User> {
        self.store.mark_verified(id).await?;
        let updated = account::link_user(self.store.find_by_id(id).await?)?;
        self.emit(Event::EmailVerified {
            user: EventUser::from_user(&updated),
        })
        .await?;
        Ok(updated)
    }

    /// Sends a six-digit verification code instead of a link: emits
    /// `email_verification_requested` with the code (method `Code`) for the stored address.
    /// The code replaces any pending one, is stored as a keyed digest (never in clear), is
    /// valid for `onboarding_verification_code_ttl`, works once, and dies after
    /// `onboarding_max_verification_attempts` wrong tries.
    ///
    /// # Errors
    ///
    /// As [`Self::request_email_verification`]; [`crate::Error::NoCodeStore`] without a
    /// database; [`Error::Internal`] if the OS random generator fails.
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[tracing::instrument(name = "testudo.request_verification_code", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn request_verification_code(&self, user: &S::User) -> Result<()> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let codes = self.code_store()?;
            let user = self.current(user).await?;
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            if user.is_verified() {
                return Err(AccountError::AlreadyVerified.into());
            }
            let code = account::new_code()?;
            let digest = signers.code_digest(&id, user.email(), &code);
            codes
                .put(
                    &id,
                    user.email(),
                    &digest,
                    self.config.onboarding_verification_code_ttl,
                )
                .await?;
            self.emit(Event::EmailVerificationRequested {
                user: EventUser::from_user(&user),
                email: user.email().to_owned(),
                secret: SecretString::from(code),
                method: VerificationMethod::Code,
            })
            .await
        })
        .await
    }

    /// Verifies the user's address with a code from [`Self::request_verification_code`]:
    /// marks it verified and emits `email_verified`; returns the user as stored afterwards.
    /// Parallel guesses are checked one at a time, so no more wrong tries than allowed are
    /// ever compared; a code sent to an address the user no longer has is not accepted.
    ///
    /// # Errors
    ///
    /// [`AccountError::WrongCode`] with the tries left; [`AccountError::NoPendingCode`] when no
    /// code is pending (none sent, used, expired, or dead after too many wrong tries);
    /// [`AccountError::AlreadyVerified`]; [`AccountError::UserNotFound`] /
    /// [`AccountError::UserInactive`]; [`crate::Error::NoCodeStore`];
    /// [`crate::Error::NoSigningSecret`]; [`Error::Storage`]; [`Error::Event`].
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[tracing::instrument(name = "testudo.verify_email_code", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn verify_email_code(&self, user: &S::User, code: &str) -> Result<S::User> {
        self.bounded(async move {
            use subtle::ConstantTimeEq as _;
            let signers = self.flow_signers()?;
            let codes = self.code_store()?;
            let user = self.current(user).await?;
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            if user.is_verified() {
                return Err(AccountError::AlreadyVerified.into());
            }
            self.throttle(Scope::VerificationCode, &id, None).await?;
            let code = code.trim();
            let email = user.email();
            let outcome = codes
                .check(
                    &id,
                    self.config.onboarding_max_verification_attempts,
                    |row| {
                        let expected = signers.code_digest(&id, email, code);
                        let same_digest: bool =
                            expected.as_bytes().ct_eq(row.digest.as_bytes()).into();
                        same_digest && row.email == email
                    },
                )
                .await?;
            match outcome {
                crate::codes::CodeCheck::Right { .. } => self.verified(&id).await,
                crate::codes::CodeCheck::Wrong { remaining } => {
                    tracing::info!(remaining, "wrong verification code");
                    Err(AccountError::WrongCode { remaining }.into())
                }
                crate::codes::CodeCheck::NonePending => Err(AccountError::NoPendingCode.into()),
            }
        })
        .await
    }

    #[cfg(feature = "db")]
    fn code_store(&self) -> Result<&crate::codes::CodeStore> {
        self.codes
            .as_ref()
            .ok_or_else(|| crate::Error::NoCodeStore.into())
    }

    /// Starts changing the user's address to `new_email`: emits `email_change_requested` with
    /// a link token for the new address (the handler mails it there, and should tell the old
    /// address). Nothing changes until the link is used ([`Self::confirm_email_change`]).
    /// Whether another account has the new address is only checked then, so this call does not
    /// reveal it. Ask for the password (or a recent login) before calling it: a stolen session
    /// must not be enough to move the account.
    ///
    /// The link is valid for `signing_token_lifetime`, and only while the account keeps its
    /// current address and credentials. Giving the current address does nothing.
    ///
    /// # Errors
    ///
    /// [`AccountError::InvalidEmail`]; [`AccountError::UserNotFound`] /
    /// [`AccountError::UserInactive`]; [`crate::Error::NoSigningSecret`]; [`Error::Storage`];
    /// [`Error::Event`].
    #[tracing::instrument(name = "testudo.request_email_change", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn request_email_change(&self, user: &S::User, new_email: &str) -> Result<()> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let new_email = normalize_email(new_email);
            if !plausible_email(&new_email) {
                return Err(AccountError::InvalidEmail.into());
            }
            let user = self.current(user).await?;
            tracing::Span::current().record("user_id", user.id().as_str());
            if user.email() == new_email {
                return Ok(());
            }
            let token = account::change_link(signers, &user, &new_email);
            self.emit(Event::EmailChangeRequested {
                user: EventUser::from_user(&user),
                new_email,
                token,
            })
            .await
        })
        .await
    }

    /// Changes the address with a link from [`Self::request_email_change`]: the new address
    /// is stored (verified: the link proved it) only if the account still has the address the
    /// link was made from; the login links and verification code pending for the old address
    /// are deleted; `email_changed` is emitted. Returns the user as stored afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::Signature`] for a forged, tampered or expired link;
    /// [`AccountError::LinkUsed`] once the address or credentials changed since;
    /// [`Error::EmailTaken`] when another account has the new address;
    /// [`AccountError::UserNotFound`] / [`AccountError::UserInactive`]; a configuration error
    /// from a user store that cannot change addresses; [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(name = "testudo.confirm_email_change", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn confirm_email_change(&self, token: &str) -> Result<S::User> {
        self.bounded(async move {
            let signers = self.flow_signers()?;
            let (id, new_email, fingerprint) = account::open_change(signers, token, &self.config)?;
            let user = account::link_user(self.store.find_by_id(&id).await?)?;
            tracing::Span::current().record("user_id", id.as_str());
            if !account::change_still_valid(signers, &user, &new_email, &fingerprint) {
                return Err(AccountError::LinkUsed.into());
            }
            let old_email = user.email().to_owned();
            if !self.store.set_email(&id, &old_email, &new_email).await? {
                return Err(AccountError::LinkUsed.into());
            }
            // Links and codes mailed to the old address end with it.
            self.clear_email_tokens(&user).await?;
            #[cfg(feature = "db")]
            if let Some(codes) = &self.codes {
                codes.remove(&id).await?;
            }
            let updated = account::link_user(self.store.find_by_id(&id).await?)?;
            self.emit(Event::EmailChanged {
                user: EventUser::from_user(&updated),
                old_email,
            })
            .await?;
            Ok(updated)
        })
        .await
    }
}

/// A normalised address worth sending a link to: `local@domain`, both parts non-empty, no
/// whitespace or control characters, at most 254 bytes. Deliverability is the link's job.
pub(crate) fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && !domain.is_empty()
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::plausible_email;

    #[test]
    fn only_plausible_addresses_get_a_change_link() {
        for ok in ["a@b", "alice@example.com", "x+tag@sub.example.org"] {
            assert!(plausible_email(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in ["", "@", "a@", "@b", "ab", "a b@c", "a@b\0", long.as_str()] {
            assert!(!plausible_email(bad), "{bad:?}");
        }
    }
}
