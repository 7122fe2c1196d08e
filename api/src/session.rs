//! Signed cookies, CSRF tokens and the security headers of the HTML surfaces (the
//! membership page `/p/…` and the operator console `/console`).
//!
//! A cookie value is `<payload>.<expiry unix seconds>.<mac>`, where the payload is
//! URL-safe base64 of the caller's text and the MAC is URL-safe base64 of
//! HMAC-SHA256 over `purpose \0 payload \0 expiry` under a key derived from
//! `GATEHOUSE_ENCRYPTION_KEY` ([`cookie_key`]; never the raw key). The purpose is
//! part of the MAC, so a value signed for one surface is refused by the other.
//! MACs are compared in constant time and the expiry is checked against the caller's
//! `now` (the [`Clock`](gatehouse_jobs::clock::Clock)).

use axum::{
    body::Body,
    http::{HeaderValue, Request, header},
    middleware::Next,
    response::Response,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The label the cookie key is derived with.
const COOKIE_KEY_LABEL: &[u8] = b"gatehouse cookie v1";

/// The key cookies and CSRF tokens are signed with: HMAC-SHA256 of the encryption key
/// with the label "gatehouse cookie v1", so a leaked cookie key never reveals the key
/// that seals bot tokens.
pub fn cookie_key(config: &gatehouse_jobs::Config) -> Result<[u8; 32], ApiError> {
    let key = config.encryption_key()?;
    Ok(hmac(key.expose(), &[COOKIE_KEY_LABEL]))
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0]);
        }
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Signs `payload` for `purpose` until `expires_at`. The value is cookie-safe
/// (URL-safe base64 and dots only).
pub fn sign(key: &[u8; 32], purpose: &str, payload: &str, expires_at: DateTime<Utc>) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload.as_bytes());
    let expiry = expires_at.timestamp().to_string();
    let mac = hmac(key, &[purpose.as_bytes(), encoded.as_bytes(), expiry.as_bytes()]);
    format!("{encoded}.{expiry}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The payload of a value [`sign`]ed for `purpose`, if its MAC is right (checked in
/// constant time) and it has not expired at `now`.
pub fn verify(key: &[u8; 32], purpose: &str, value: &str, now: DateTime<Utc>) -> Option<String> {
    if value.len() > 4096 {
        return None;
    }
    let mut parts = value.split('.');
    let (encoded, expiry, given) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let given = URL_SAFE_NO_PAD.decode(given).ok()?;
    let expected = hmac(key, &[purpose.as_bytes(), encoded.as_bytes(), expiry.as_bytes()]);
    if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        return None;
    }
    let expiry: i64 = expiry.parse().ok()?;
    if now.timestamp() >= expiry {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// The CSRF token of a session: bound to the session's payload, so it is worth nothing
/// in another session, and to the key, so nobody can compute it without it.
pub fn csrf_token(key: &[u8; 32], session_payload: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac(key, &[b"csrf", session_payload.as_bytes()]))
}

/// Whether `given` is the CSRF token of the session (constant-time comparison).
pub fn csrf_ok(key: &[u8; 32], session_payload: &str, given: &str) -> bool {
    let expected = csrf_token(key, session_payload);
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Path`, `Max-Age`, and `Secure`
/// when the public URL is https. `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(config: &gatehouse_jobs::Config, name: &str, value: &str, path: &str, max_age_secs: i64) -> String {
    let secure = if config.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}", max_age_secs.max(0))
}

/// The value of cookie `name` in the request's `Cookie` headers, if any.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The Content-Security-Policy of the HTML surfaces: nothing from anywhere but this
/// origin, except Telegram's Login Widget and Web App scripts (and the widget's frame);
/// no inline script (a page that needs one adds its SHA-256 hash, see
/// [`script_hash`]), no plugins, no framing by other sites, forms post only here.
pub const CSP: &str = "default-src 'none'; script-src 'self' https://telegram.org; \
style-src 'self'; img-src 'self' data: https://t.me https://telegram.org https://*.telegram.org; \
frame-src https://oauth.telegram.org; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// The CSP `script-src` source for an inline script: `'sha256-<base64>'`.
pub fn script_hash(script: &str) -> String {
    use sha2::Digest;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes())))
}

/// Middleware for HTML routes: sets the CSP (unless the handler set its own, e.g. with
/// an inline script's hash), `X-Content-Type-Options`, `Referrer-Policy`,
/// `X-Frame-Options`, `Cross-Origin-Opener-Policy`, `Permissions-Policy`, and
/// `Cache-Control: no-store` unless the handler chose otherwise.
pub async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "same-origin");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(header::HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=(), payment=()");
    set(header::CACHE_CONTROL, "no-store");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_signed_value_verifies_until_it_expires() {
        let key = [7u8; 32];
        let v = sign(&key, "page", "user 42", at(1_000));
        assert_eq!(verify(&key, "page", &v, at(999)).as_deref(), Some("user 42"));
        assert_eq!(verify(&key, "page", &v, at(1_000)), None);
    }

    #[test]
    fn a_value_signed_for_one_purpose_or_key_is_refused_for_another() {
        let key = [7u8; 32];
        let v = sign(&key, "page", "user 42", at(1_000));
        assert_eq!(verify(&key, "console", &v, at(0)), None);
        assert_eq!(verify(&[8u8; 32], "page", &v, at(0)), None);
    }

    #[test]
    fn a_tampered_payload_or_expiry_is_refused() {
        let key = [7u8; 32];
        let v = sign(&key, "page", "user 42", at(1_000));
        let parts: Vec<&str> = v.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode("user 43");
        assert_eq!(verify(&key, "page", &format!("{other}.{}.{}", parts[1], parts[2]), at(0)), None);
        assert_eq!(verify(&key, "page", &format!("{}.99999.{}", parts[0], parts[2]), at(0)), None);
        assert_eq!(verify(&key, "page", "garbage", at(0)), None);
        assert_eq!(verify(&key, "page", &format!("{v}.x"), at(0)), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let key = [7u8; 32];
        let t = csrf_token(&key, "s1");
        assert!(csrf_ok(&key, "s1", &t));
        assert!(!csrf_ok(&key, "s2", &t));
        assert!(!csrf_ok(&key, "s1", ""));
    }
}
