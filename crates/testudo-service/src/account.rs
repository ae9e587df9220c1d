//! Account flows: password reset, email verification (by link and by code), email change.
//!
//! Links are signed with a key of their own purpose ([`testudo_signing::purpose`]), carry a
//! timestamp, and are bound to the account's state at the time they were made through a keyed
//! fingerprint (as Django's reset tokens are): no database row is needed, and a link stops
//! working as soon as what it was bound to changes (for a reset link: the password hash, the
//! credential version, the last login or the address; so it works once).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use subtle::ConstantTimeEq as _;
use testudo_config::AuthConfig;
use testudo_core::{AccountError, AuthUser, BadSignature, Clock, Error, Result, normalize_email};
use testudo_signing::{Signer, TimestampSigner, purpose};

/// Characters of the account fingerprint in a link: 22 base64url characters, 132 bits of a
/// keyed HMAC-SHA256.
const FINGERPRINT_LEN: usize = 22;

/// The signers of the account flows, one key per purpose, made once from the configuration.
#[derive(Debug)]
pub(crate) struct FlowSigners {
    reset: TimestampSigner,
    verify: TimestampSigner,
    change: TimestampSigner,
    state: Signer,
    /// Verification codes are stored by the database store only.
    #[cfg(feature = "db")]
    code: Signer,
    /// Signatures computed (links and fingerprints), for the tests that compare paths' work.
    work: AtomicU64,
}

/// A link's parts after its signature verified.
struct Link<'a> {
    user_id: String,
    /// The new address, for an email-change link.
    new_email: Option<String>,
    fingerprint: &'a str,
}

impl FlowSigners {
    /// The signers, or `None` when no signing secret is configured (the flows then answer
    /// with a configuration error).
    pub(crate) fn new(config: &AuthConfig, clock: &Arc<dyn Clock>) -> Result<Option<Self>> {
        if config.effective_signing_secret().is_none() {
            return Ok(None);
        }
        let timed = |p: &str| -> Result<TimestampSigner> {
            Ok(TimestampSigner::for_purpose(config, p)?.with_clock(Arc::clone(clock)))
        };
        Ok(Some(Self {
            reset: timed(purpose::PASSWORD_RESET)?,
            verify: timed(purpose::EMAIL_VERIFICATION)?,
            change: timed(purpose::EMAIL_CHANGE)?,
            state: Signer::for_purpose(config, purpose::ACCOUNT_STATE)?,
            #[cfg(feature = "db")]
            code: Signer::for_purpose(config, purpose::VERIFICATION_CODE)?,
            work: AtomicU64::new(0),
        }))
    }

    #[cfg(feature = "test-hooks")]
    pub(crate) fn work(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.work.fetch_add(1, Ordering::Relaxed);
    }

    /// The keyed fingerprint of an account state (the parts joined by NUL, which no part
    /// contains in a way that could make two states collide: each is length-prefixed).
    fn fingerprint(&self, parts: &[&str]) -> String {
        self.count();
        let mut state = String::new();
        for p in parts {
            state.push_str(&p.len().to_string());
            state.push('\0');
            state.push_str(p);
        }
        let mut sig = self.state.signature(&state);
        sig.truncate(FINGERPRINT_LEN);
        sig
    }

    fn matches(&self, parts: &[&str], fingerprint: &str) -> bool {
        let expected = self.fingerprint(parts);
        bool::from(expected.as_bytes().ct_eq(fingerprint.as_bytes()))
    }

    /// `b64(user id) [. b64(new email)] . fingerprint`, timestamped and signed.
    fn make(
        &self,
        signer: &TimestampSigner,
        user_id: &str,
        new_email: Option<&str>,
        parts: &[&str],
    ) -> SecretString {
        let mut value = URL_SAFE_NO_PAD.encode(user_id);
        if let Some(email) = new_email {
            value.push('.');
            value.push_str(&URL_SAFE_NO_PAD.encode(email));
        }
        value.push('.');
        value.push_str(&self.fingerprint(parts));
        self.count();
        SecretString::from(signer.sign_with_timestamp(&value))
    }

    /// Verifies a link's signature and age, then splits it.
    fn open<'a>(
        &self,
        signer: &TimestampSigner,
        token: &'a str,
        max_age: std::time::Duration,
        with_email: bool,
    ) -> Result<Link<'a>> {
        let value = signer
            .unsign_with_timestamp(token, Some(max_age.as_secs()))
            .map_err(Error::from)?;
        // Signed by us, so well formed; a malformed one can only be a forgery that verified,
        // which the signature rules out: refuse it as a bad signature all the same.
        let malformed = || Error::from(testudo_core::SignatureError::from(BadSignature::Mismatch));
        let text = |b64: &str| -> Result<String> {
            let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| malformed())?;
            String::from_utf8(bytes).map_err(|_| malformed())
        };
        let mut parts = value.split('.');
        let user_id = text(parts.next().ok_or_else(malformed)?)?;
        let new_email = if with_email {
            Some(text(parts.next().ok_or_else(malformed)?)?)
        } else {
            None
        };
        let fingerprint = parts.next().ok_or_else(malformed)?;
        if parts.next().is_some() {
            return Err(malformed());
        }
        Ok(Link {
            user_id,
            new_email,
            fingerprint,
        })
    }

    /// The keyed digest a verification code is stored as.
    #[cfg(feature = "db")]
    pub(crate) fn code_digest(&self, user_id: &str, email: &str, code: &str) -> String {
        self.count();
        let value = format!("{}\0{user_id}\0{email}\0{code}", user_id.len());
        self.code.signature(&value)
    }
}

/// What a reset link is bound to: the password hash, credential version, last login, address
/// and active flag. Any change kills the link.
fn reset_state<U: AuthUser>(user: &U) -> [String; 6] {
    [
        "reset".to_owned(),
        user.id(),
        user.credential_version().to_string(),
        user.password_hash().to_owned(),
        user.last_login()
            .map(|t| t.timestamp_micros().to_string())
            .unwrap_or_default(),
        user.email().to_owned(),
    ]
}

/// What a verification link is bound to: the address, and that it is not verified yet.
fn verify_state<U: AuthUser>(user: &U) -> [String; 4] {
    [
        "verify".to_owned(),
        user.id(),
        user.email().to_owned(),
        user.is_verified().to_string(),
    ]
}

/// What an email-change link is bound to: the current address, the new one and the
/// credential version.
fn change_state<U: AuthUser>(user: &U, new_email: &str) -> [String; 5] {
    [
        "change".to_owned(),
        user.id(),
        user.email().to_owned(),
        new_email.to_owned(),
        user.credential_version().to_string(),
    ]
}

fn refs<const N: usize>(parts: &[String; N]) -> [&str; N] {
    std::array::from_fn(|i| parts[i].as_str())
}

/// Six decimal digits from the OS random generator, uniformly (rejection sampling).
#[cfg(feature = "db")]
pub(crate) fn new_code() -> Result<String> {
    const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000);
    loop {
        let mut bytes = [0_u8; 4];
        getrandom::fill(&mut bytes).map_err(|e| Error::internal(RandomUnavailable(e)))?;
        let n = u32::from_le_bytes(bytes);
        if n < LIMIT {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The OS random generator failed.
#[cfg(feature = "db")]
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed")]
struct RandomUnavailable(#[source] getrandom::Error);

/// The account an opened link names: it must exist and be active.
pub(crate) fn link_user<U: AuthUser>(found: Option<U>) -> Result<U> {
    match found {
        None => Err(AccountError::UserNotFound.into()),
        Some(u) if !u.is_active() => Err(AccountError::UserInactive.into()),
        Some(u) => Ok(u),
    }
}

/// A reset link for `user`, or for nobody: the same signing work either way, so an address
/// without an account costs what one with an account costs.
pub(crate) fn reset_link<U: AuthUser>(signers: &FlowSigners, user: Option<&U>) -> SecretString {
    let state = match user {
        Some(u) => reset_state(u),
        None => std::array::from_fn(|_| String::new()),
    };
    let id = user.map(AuthUser::id).unwrap_or_default();
    signers.make(&signers.reset, &id, None, &refs(&state))
}

/// Opens a reset link: signature and age, then the account it names, then its state.
pub(crate) fn open_reset(
    signers: &FlowSigners,
    token: &str,
    config: &AuthConfig,
) -> Result<(String, String)> {
    let link = signers.open(
        &signers.reset,
        token,
        config.password_reset_token_lifetime,
        false,
    )?;
    Ok((link.user_id, link.fingerprint.to_owned()))
}

/// Whether `user` is still in the state the reset link's `fingerprint` was made for.
pub(crate) fn reset_still_valid<U: AuthUser>(
    signers: &FlowSigners,
    user: &U,
    fingerprint: &str,
) -> bool {
    signers.matches(&refs(&reset_state(user)), fingerprint)
}

/// A verification link for `user`.
pub(crate) fn verification_link<U: AuthUser>(signers: &FlowSigners, user: &U) -> SecretString {
    signers.make(
        &signers.verify,
        &user.id(),
        None,
        &refs(&verify_state(user)),
    )
}

/// Opens a verification link: the user id and fingerprint.
pub(crate) fn open_verification(
    signers: &FlowSigners,
    token: &str,
    config: &AuthConfig,
) -> Result<(String, String)> {
    let link = signers.open(&signers.verify, token, config.signing_token_lifetime, false)?;
    Ok((link.user_id, link.fingerprint.to_owned()))
}

/// Whether `user` is still unverified at the address the verification link was made for.
pub(crate) fn verification_still_valid<U: AuthUser>(
    signers: &FlowSigners,
    user: &U,
    fingerprint: &str,
) -> bool {
    signers.matches(&refs(&verify_state(user)), fingerprint)
}

/// An email-change link for `user` to `new_email` (normalised).
pub(crate) fn change_link<U: AuthUser>(
    signers: &FlowSigners,
    user: &U,
    new_email: &str,
) -> SecretString {
    signers.make(
        &signers.change,
        &user.id(),
        Some(new_email),
        &refs(&change_state(user, new_email)),
    )
}

/// Opens an email-change link: the user id, the new address and the fingerprint.
pub(crate) fn open_change(
    signers: &FlowSigners,
    token: &str,
    config: &AuthConfig,
) -> Result<(String, String, String)> {
    let link = signers.open(&signers.change, token, config.signing_token_lifetime, true)?;
    let new_email = link.new_email.unwrap_or_default();
    Ok((
        link.user_id,
        normalize_email(&new_email),
        link.fingerprint.to_owned(),
    ))
}

/// Whether `user` still has the address and credentials the change link was made for.
pub(crate) fn change_still_valid<U: AuthUser>(
    signers: &FlowSigners,
    user: &U,
    new_email: &str,
    fingerprint: &str,
) -> bool {
    signers.matches(&refs(&change_state(user, new_email)), fingerprint)
}
