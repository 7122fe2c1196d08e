//! Outbound webhooks: the signature integrators check, the guard that keeps requests
//! away from the operator's own network, and the HTTP client that sends them.
//!
//! - **Signature**: `Gatehouse-Signature: t=<unix>,v1=<hex>[,v1=<hex>]`, each `v1` the
//!   HMAC-SHA256 of `"<t>.<body>"` keyed with one of the endpoint's secrets (the exact
//!   string shown once, `whsec_…`); two during a rotation. [`verify`] is the check a
//!   receiver makes, the one the README walks through.
//! - **Guard** (unless `GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE=true`): `https` only, and never
//!   an address that is loopback, private, link-local, unspecified, multicast or
//!   otherwise not globally routable. [`check_url`] refuses such URLs at the edge (an IP
//!   literal, `localhost`); the client's resolver ([`GuardedResolver`]) checks the
//!   addresses a name resolves to, the ones the connection is then made to, so a name
//!   that resolves (or re-resolves) to 127.0.0.1 is never connected to.
//! - **Client**: 10 s per request, redirects never followed, no proxy.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// How long one delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How many bytes of an answer the delivery log keeps.
pub const RESPONSE_HEAD_BYTES: usize = 512;

/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

/// How old a signature's timestamp a receiver should accept (the README's advice).
pub const TOLERANCE_SECS: i64 = 300;

/// A new signing secret: `whsec_` and 32 random bytes, URL-safe base64.
pub fn new_secret() -> Secret<String> {
    Secret::new(format!("whsec_{}", crate::crypto::random_secret(32).expose()))
}

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Gatehouse-Signature` header value: `t=<t>`, then one `v1` per secret.
pub fn signature_header(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&signature(secret, t, body));
    }
    header
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is not `t=…,v1=…`.
    #[error("the Gatehouse-Signature header is malformed")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` matches.
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Checks a `Gatehouse-Signature` header as a receiver does: parse `t` and every
/// `v1`, refuse a `t` more than `tolerance_secs` from `now_unix`, compute the HMAC of
/// `"<t>.<body>"` with `secret`, accept when any `v1` equals it (compared in constant time).
pub fn verify(header: &str, secret: &str, body: &[u8], now_unix: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", value)) => candidates.push(hex::decode(value).map_err(|_| VerifyError::Malformed)?),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if now_unix.checked_sub(t).is_none_or(|age| age.abs() > tolerance_secs) {
        return Err(VerifyError::Stale);
    }
    let expected = hex::decode(signature(secret, t, body)).expect("hex we made");
    let mut any = subtle::Choice::from(0);
    for candidate in &candidates {
        any |= subtle::ConstantTimeEq::ct_eq(candidate.as_slice(), expected.as_slice());
    }
    if bool::from(any) { Ok(()) } else { Err(VerifyError::Mismatch) }
}

/// Whether an address is one webhooks must not reach without the operator's leave:
/// loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
/// fe80::/10), unspecified, broadcast, multicast, shared (100.64/10), documentation and
/// benchmarking ranges, and IPv4 mapped or embedded in IPv6 by the same rules.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) embed an IPv4 address.
                || (v6.segments()[..6] == [0, 0, 0, 0, 0, 0])
                || (v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
        }
    }
}

/// Checks an endpoint URL at the edge: absolute, `https` (or `http` when private
/// addresses are allowed), a host, no credentials, at most [`MAX_URL_LEN`]; and, unless
/// allowed, not an IP literal that [`is_forbidden`] refuses nor `localhost`. The
/// resolver checks names again when a delivery connects.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("longer than {MAX_URL_LEN} characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must be https".into()),
        other => return Err(format!("scheme {other:?} is not https")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Err("has no host".into());
    };
    if !allow_private {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let forbidden = match literal.parse::<IpAddr>() {
            Ok(ip) => is_forbidden(ip),
            Err(_) => {
                let name = host.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if forbidden {
            return Err("resolves to a loopback, private or link-local address".into());
        }
    }
    Ok(parsed)
}

/// A DNS resolver that leaves out every address [`is_forbidden`] refuses, and fails
/// when none is left: the client connects only to what it returns.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_forbidden(a.ip())).collect();
            if allowed.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "refused: {host} resolves only to loopback, private or link-local addresses ({})",
                    found.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ")
                )
                .into();
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The client deliveries go out with: guarded, or (when the operator allows private
/// addresses) open. One of each per process.
pub fn client(allow_private: bool) -> &'static reqwest::Client {
    static GUARDED: OnceLock<reqwest::Client> = OnceLock::new();
    static OPEN: OnceLock<reqwest::Client> = OnceLock::new();
    let build = |guarded: bool| {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Gatehouse-Webhooks/1");
        if guarded {
            builder = builder.dns_resolver(Arc::new(GuardedResolver)).https_only(true);
        }
        builder.build().expect("the webhook client builds")
    };
    if allow_private { OPEN.get_or_init(|| build(false)) } else { GUARDED.get_or_init(|| build(true)) }
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// How long it took.
    pub latency: Duration,
    /// Why no answer came (refused by the guard, timeout, connection error).
    pub error: Option<String>,
    /// The first bytes of the answer.
    pub response_head: String,
}

impl Sent {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts `body` to `url`, signed. Never returns an error: every failure is a [`Sent`]
/// without a status, with its reason (secrets never appear in it).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    allow_private: bool,
    event_id: uuid::Uuid,
    signature_header: &str,
    body: Vec<u8>,
) -> Sent {
    let started = Instant::now();
    let url = match check_url(url, allow_private) {
        Ok(url) => url,
        Err(why) => {
            return Sent {
                status: None,
                latency: started.elapsed(),
                error: Some(format!("refused: {why}")),
                response_head: String::new(),
            };
        }
    };
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header("gatehouse-event-id", event_id.to_string())
        .header("gatehouse-signature", signature_header)
        .body(body);
    match request.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut head = Vec::new();
            // Only the first bytes are read; the rest of a large answer is dropped.
            while head.len() < RESPONSE_HEAD_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            head.truncate(RESPONSE_HEAD_BYTES);
            Sent {
                status: Some(status),
                latency: started.elapsed(),
                error: None,
                response_head: String::from_utf8_lossy(&head).into_owned(),
            }
        }
        Err(e) => {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                reason.push_str(": ");
                reason.push_str(&cause.to_string());
                source = cause.source();
            }
            Sent { status: None, latency: started.elapsed(), error: Some(reason), response_head: String::new() }
        }
    }
}

/// The delay before attempt number `attempt + 1` after `attempt` failed ones: one
/// minute, doubling, at most six hours (about 20 attempts in the 3-day window).
pub fn retry_delay(failed_attempts: i32) -> chrono::TimeDelta {
    let exponent = failed_attempts.saturating_sub(1).clamp(0, 16) as u32;
    let minutes = 1i64.checked_shl(exponent).unwrap_or(i64::MAX).min(360);
    chrono::TimeDelta::minutes(minutes)
}

/// How long deliveries are retried, and how long an endpoint may fail before it is disabled.
pub const FAILURE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_and_not_with_another() {
        let body = br#"{"id":"x"}"#;
        let header = signature_header(&["whsec_new", "whsec_old"], 1_700_000_000, body);
        assert_eq!(verify(&header, "whsec_new", body, 1_700_000_010, 300), Ok(()));
        assert_eq!(verify(&header, "whsec_old", body, 1_700_000_010, 300), Ok(()));
        assert_eq!(verify(&header, "whsec_other", body, 1_700_000_010, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&header, "whsec_new", b"{}", 1_700_000_010, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(&header, "whsec_new", body, 1_700_001_000, 300), Err(VerifyError::Stale));
        assert_eq!(verify("v1=00", "whsec_new", body, 0, 300), Err(VerifyError::Malformed));
        assert_eq!(verify("t=1,v1=zz", "whsec_new", body, 1, 300), Err(VerifyError::Malformed));
    }

    #[test]
    fn loopback_private_and_link_local_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn an_endpoint_url_must_be_https_and_public_unless_allowed() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        for bad in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://localhost:8443/",
            "https://LOCALHOST./",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "/relative",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = GuardedResolver.resolve(name).await.err().expect("refused");
        assert!(refused.to_string().starts_with("refused"), "{refused}");
    }

    #[test]
    fn retry_delays_double_from_a_minute_to_six_hours() {
        assert_eq!(retry_delay(1), chrono::TimeDelta::minutes(1));
        assert_eq!(retry_delay(2), chrono::TimeDelta::minutes(2));
        assert_eq!(retry_delay(9), chrono::TimeDelta::minutes(256));
        assert_eq!(retry_delay(10), chrono::TimeDelta::minutes(360));
        assert_eq!(retry_delay(i32::MAX), chrono::TimeDelta::minutes(360));
        assert_eq!(retry_delay(0), chrono::TimeDelta::minutes(1));
    }
}
