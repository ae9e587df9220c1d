//! Sessions: the device context a login is made from ([`SessionContext`]) and what a token
//! backend keeps of each session ([`Session`]).
//!
//! A session is a token family: the pair one login issued and every pair rotation made of it.
//! Its id is the family id, stable across refreshes.

use chrono::{DateTime, Utc};

/// The longest IP address kept for a session, in characters (an IPv6 address in text, with
/// an IPv4 tail, fits).
pub const MAX_SESSION_IP_CHARS: usize = 45;

/// The longest user agent kept for a session, in characters; longer ones are truncated.
pub const MAX_SESSION_USER_AGENT_CHARS: usize = 512;

/// Where a login comes from: the client's IP address and user agent, both optional. Backends
/// that keep sessions record it with the session the login starts.
///
/// Values are bounded when built: an IP longer than [`MAX_SESSION_IP_CHARS`] is dropped (it is
/// no address), a user agent is cut to [`MAX_SESSION_USER_AGENT_CHARS`] characters; control
/// characters are removed from both, and empty values become `None`.
///
/// ```
/// use testudo_core::SessionContext;
///
/// let client = SessionContext::new()
///     .with_ip(Some("192.0.2.7"))
///     .with_user_agent(Some("Mozilla/5.0"));
/// assert_eq!(client.ip(), Some("192.0.2.7"));
/// assert_eq!(client.user_agent(), Some("Mozilla/5.0"));
/// assert_eq!(SessionContext::default().ip(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionContext {
    ip: Option<String>,
    user_agent: Option<String>,
}

/// `value` without control characters and cut to `max` characters; `None` when empty.
fn bounded(value: Option<&str>, max: usize) -> Option<String> {
    let cleaned: String = value?
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

impl SessionContext {
    /// An empty context: no IP, no user agent.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A context with the IP address only (what the `ip: Option<&str>` methods record).
    #[must_use]
    pub fn from_ip(ip: Option<&str>) -> Self {
        Self::new().with_ip(ip)
    }

    /// Sets the client's IP address (as text). One longer than [`MAX_SESSION_IP_CHARS`] is
    /// dropped.
    #[must_use]
    pub fn with_ip(mut self, ip: Option<&str>) -> Self {
        self.ip = ip
            .filter(|ip| ip.trim().chars().count() <= MAX_SESSION_IP_CHARS)
            .and_then(|ip| bounded(Some(ip), MAX_SESSION_IP_CHARS));
        self
    }

    /// Sets the client's user agent, cut to [`MAX_SESSION_USER_AGENT_CHARS`] characters.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: Option<&str>) -> Self {
        self.user_agent = bounded(user_agent, MAX_SESSION_USER_AGENT_CHARS);
        self
    }

    /// The client's IP address, when known.
    #[must_use]
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }

    /// The client's user agent, when known.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

/// One live session of a user, as a token backend keeps it.
///
/// "Last used" is the last login or refresh of the session: verifying an access token does not
/// move it (that path stays one query).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The session id (the token family id), stable across refreshes.
    pub id: String,
    /// The user the session belongs to.
    pub user_id: String,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// The last login or refresh of the session.
    pub last_used_at: DateTime<Utc>,
    /// The client's IP address at login, when known.
    pub ip: Option<String>,
    /// The client's user agent at login, when known.
    pub user_agent: Option<String>,
}

impl Session {
    /// A session record (for backend implementations).
    #[must_use]
    pub fn new(
        id: String,
        user_id: String,
        created_at: DateTime<Utc>,
        last_used_at: DateTime<Utc>,
        client: SessionContext,
    ) -> Self {
        Self {
            id,
            user_id,
            created_at,
            last_used_at,
            ip: client.ip,
            user_agent: client.user_agent,
        }
    }
}

/// Which session a token belongs to: its user and session (family) id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRef {
    /// The user the token was issued to.
    pub user_id: String,
    /// The session (token family) id.
    pub session_id: String,
}

impl SessionRef {
    /// A reference to session `session_id` of `user_id`.
    #[must_use]
    pub fn new(user_id: String, session_id: String) -> Self {
        Self {
            user_id,
            session_id,
        }
    }
}

/// The token backend keeps no sessions (a custom backend that does not implement them, or the
/// JWT backend without its revocation list): listing or revoking sessions is not possible.
/// Converted into [`crate::Error::Configuration`]: the fix is a backend that keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the token backend does not keep sessions")]
pub struct SessionsNotSupported;

impl From<SessionsNotSupported> for crate::Error {
    fn from(e: SessionsNotSupported) -> Self {
        Self::configuration(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_bounded_and_cleaned() {
        let long_ua = "a".repeat(MAX_SESSION_USER_AGENT_CHARS + 10);
        let c = SessionContext::new()
            .with_ip(Some(&"1".repeat(MAX_SESSION_IP_CHARS + 1)))
            .with_user_agent(Some(&long_ua));
        assert_eq!(c.ip(), None);
        assert_eq!(
            c.user_agent().map(str::len),
            Some(MAX_SESSION_USER_AGENT_CHARS)
        );
        let c = SessionContext::from_ip(Some(" ")).with_user_agent(Some("x\n\u{0}y"));
        assert_eq!(c.ip(), None);
        assert_eq!(c.user_agent(), Some("xy"));
    }

    #[test]
    fn an_unsupported_backend_is_a_configuration_error() {
        assert!(matches!(
            crate::Error::from(SessionsNotSupported),
            crate::Error::Configuration(_)
        ));
    }
}
