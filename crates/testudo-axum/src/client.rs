//! [`ClientContext`]: who is calling (address and user agent), and [`TrustedProxy`].

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use testudo_core::SessionContext;

use crate::HttpContext;

/// Longest user agent kept, in characters (the rest is cut).
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// A reverse proxy whose forwarding header is believed, and which hop of it is the client.
///
/// Without one, the client's address is the socket's peer (from axum's
/// [`ConnectInfo<SocketAddr>`], so serve with `into_make_service_with_connect_info`). With one,
/// the address is read only from the configured header, and only the configured hop counted
/// from the right (the entry your own proxy appended): entries further left were written by
/// the client and prove nothing. A missing or unreadable header gives no address (throttling
/// then counts per account only), never the proxy's own address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    header: HeaderName,
    hop: NonZeroUsize,
}

impl TrustedProxy {
    /// `X-Forwarded-For`, last entry (one proxy in front).
    #[must_use]
    pub fn x_forwarded_for() -> Self {
        Self {
            header: HeaderName::from_static("x-forwarded-for"),
            hop: NonZeroUsize::MIN,
        }
    }

    /// `header` (a comma-separated list, as `X-Forwarded-For`), entry `hop` counted from the
    /// right (1: the last one).
    #[must_use]
    pub fn new(header: HeaderName, hop: NonZeroUsize) -> Self {
        Self { header, hop }
    }

    /// The client address the proxy wrote into `headers`, if it is there and readable.
    #[must_use]
    pub fn client_ip(&self, headers: &HeaderMap) -> Option<IpAddr> {
        // Several header lines are one list, in order (RFC 9110, section 5.3).
        let mut entries = Vec::new();
        for value in headers.get_all(&self.header) {
            entries.extend(value.to_str().ok()?.split(',').map(str::trim));
        }
        let entry = entries.iter().rev().nth(self.hop.get() - 1)?;
        parse_ip(entry)
    }
}

/// An address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Who sent the request: its address (see [`TrustedProxy`]) and user agent. An extractor
/// that never fails; handlers pass [`ClientContext::ip_string`] to the service's `*_from` /
/// `ip` arguments (throttling, IP-bound login links, events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientContext {
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// The `User-Agent`, cut to [`MAX_USER_AGENT_CHARS`], when it is text.
    pub user_agent: Option<String>,
}

impl ClientContext {
    /// The context of a request with these parts, with `proxy` believed when given.
    #[must_use]
    pub fn from_parts(parts: &Parts, proxy: Option<&TrustedProxy>) -> Self {
        let ip = match proxy {
            Some(proxy) => proxy.client_ip(&parts.headers),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        };
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(MAX_USER_AGENT_CHARS).collect());
        Self { ip, user_agent }
    }

    /// The address as text, for the service's `ip: Option<&str>` arguments.
    #[must_use]
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }

    /// The device context a login records for its session (address and user agent), for
    /// the service's `*_with_context` methods.
    #[must_use]
    pub fn session_context(&self) -> SessionContext {
        SessionContext::new()
            .with_ip(self.ip_string().as_deref())
            .with_user_agent(self.user_agent.as_deref())
    }
}

impl<St> FromRequestParts<St> for ClientContext
where
    St: Send + Sync,
    HttpContext: FromRef<St>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let http = HttpContext::from_ref(state);
        Ok(Self::from_parts(
            parts,
            http.options().trusted_proxy.as_ref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_the_configured_hop_from_the_right_is_believed() {
        let one = TrustedProxy::x_forwarded_for();
        let spoofed = headers(&["6.6.6.6, 10.0.0.1", "192.0.2.7"]);
        assert_eq!(one.client_ip(&spoofed), "192.0.2.7".parse().ok());
        let two = TrustedProxy::new(
            HeaderName::from_static("x-forwarded-for"),
            NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        );
        assert_eq!(two.client_ip(&spoofed), "10.0.0.1".parse().ok());
        assert_eq!(one.client_ip(&headers(&["[::1]:443"])), "::1".parse().ok());
        assert_eq!(
            one.client_ip(&headers(&["1.2.3.4:80"])),
            "1.2.3.4".parse().ok()
        );
    }

    #[test]
    fn a_missing_short_or_garbled_header_gives_no_address() {
        let two = TrustedProxy::new(
            HeaderName::from_static("x-forwarded-for"),
            NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        );
        assert_eq!(two.client_ip(&headers(&["192.0.2.7"])), None);
        assert_eq!(two.client_ip(&HeaderMap::new()), None);
        let one = TrustedProxy::x_forwarded_for();
        assert_eq!(one.client_ip(&headers(&["unknown"])), None);
        assert_eq!(one.client_ip(&headers(&["1.2.3.4, "])), None);
    }
}
