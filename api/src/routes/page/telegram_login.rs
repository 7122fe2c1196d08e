//! Telegram's two ways of telling a web page who the visitor is, verified as Telegram
//! specifies:
//!
//! - the **Login Widget** (`data-auth-url` redirect): `hash` is the hex
//!   HMAC-SHA256 of the data-check-string (every other field as `key=value`, sorted by
//!   key, joined by `\n`) under SHA-256 of the bot token;
//! - a **Mini App**'s `initData`: the same data-check-string, under
//!   HMAC-SHA256(key = "WebAppData", message = bot token).
//!
//! Both refuse an `auth_date` older than [`MAX_AGE_SECS`] (or more than a minute in
//! the future), compare in constant time, and bound every field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How old a signed sign-in may be.
pub const MAX_AGE_SECS: i64 = 24 * 60 * 60;
/// Clock skew tolerated for an `auth_date` in the future.
const FUTURE_SKEW_SECS: i64 = 60;
/// The most fields a payload may carry, and the longest value.
const MAX_FIELDS: usize = 16;
const MAX_VALUE: usize = 2048;

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    /// Telegram user id.
    pub id: i64,
    /// First name.
    pub first_name: Option<String>,
    /// @username, without @.
    pub username: Option<String>,
    /// Language code (Mini Apps only).
    pub language_code: Option<String>,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Malformed: a field missing, repeated, too long or unreadable.
    #[error("malformed sign-in data: {0}")]
    Malformed(&'static str),
    /// The hash is not the bot's signature of these fields.
    #[error("the signature does not match")]
    BadSignature,
    /// `auth_date` too old or in the future.
    #[error("the sign-in is too old")]
    Stale,
}

fn fields(pairs: Vec<(String, String)>) -> Result<BTreeMap<String, String>, Refusal> {
    if pairs.len() > MAX_FIELDS {
        return Err(Refusal::Malformed("too many fields"));
    }
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        if k.is_empty() || k.len() > 64 || v.len() > MAX_VALUE || k.contains(['\n', '=']) {
            return Err(Refusal::Malformed("a field is too long"));
        }
        if map.insert(k, v).is_some() {
            return Err(Refusal::Malformed("a field is repeated"));
        }
    }
    Ok(map)
}

fn check(
    mut map: BTreeMap<String, String>,
    key: &[u8],
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, String>, Refusal> {
    let given = map.remove("hash").ok_or(Refusal::Malformed("no hash"))?;
    let given = hex::decode(given.as_bytes()).map_err(|_| Refusal::BadSignature)?;
    let data_check_string = map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data_check_string.as_bytes());
    let expected = mac.finalize().into_bytes();
    if !bool::from(expected.as_slice().ct_eq(&given)) {
        return Err(Refusal::BadSignature);
    }
    let auth_date: i64 = map.get("auth_date").and_then(|d| d.parse().ok()).ok_or(Refusal::Malformed("no auth_date"))?;
    let age = now.timestamp().checked_sub(auth_date).ok_or(Refusal::Stale)?;
    if !(-FUTURE_SKEW_SECS..=MAX_AGE_SECS).contains(&age) {
        return Err(Refusal::Stale);
    }
    Ok(map)
}

fn user_id(raw: Option<&str>) -> Result<i64, Refusal> {
    raw.and_then(|id| id.parse::<i64>().ok()).filter(|id| *id > 0).ok_or(Refusal::Malformed("no user id"))
}

/// Verifies the Login Widget's fields (`id`, `first_name`, `last_name`, `username`,
/// `photo_url`, `auth_date`, `hash`, as the redirect's query carries them).
pub fn verify_widget(
    pairs: Vec<(String, String)>,
    bot_token: &str,
    now: DateTime<Utc>,
) -> Result<TelegramUser, Refusal> {
    let key = Sha256::digest(bot_token.as_bytes());
    let map = check(fields(pairs)?, &key, now)?;
    Ok(TelegramUser {
        id: user_id(map.get("id").map(String::as_str))?,
        first_name: map.get("first_name").cloned(),
        username: map.get("username").cloned(),
        language_code: None,
    })
}

/// Verifies a Mini App's `initData` (a URL-encoded query string; `user` is JSON).
pub fn verify_init_data(init_data: &str, bot_token: &str, now: DateTime<Utc>) -> Result<TelegramUser, Refusal> {
    if init_data.len() > MAX_FIELDS * MAX_VALUE {
        return Err(Refusal::Malformed("initData is too long"));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(init_data).map_err(|_| Refusal::Malformed("initData is not a query string"))?;
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("HMAC takes a key of any length");
    mac.update(bot_token.as_bytes());
    let key = mac.finalize().into_bytes();
    let map = check(fields(pairs)?, &key, now)?;
    #[derive(serde::Deserialize)]
    struct WebAppUser {
        id: i64,
        first_name: Option<String>,
        username: Option<String>,
        language_code: Option<String>,
    }
    let user: WebAppUser =
        map.get("user").and_then(|u| serde_json::from_str(u).ok()).ok_or(Refusal::Malformed("no readable user"))?;
    Ok(TelegramUser {
        id: user_id(Some(&user.id.to_string()))?,
        first_name: user.first_name,
        username: user.username,
        language_code: user.language_code,
    })
}

/// Signs fields as the Login Widget does (for tests and the demo).
pub fn sign_widget(fields: &[(&str, &str)], bot_token: &str) -> String {
    let key = Sha256::digest(bot_token.as_bytes());
    sign_with(&key, fields)
}

/// Signs fields as Telegram signs a Mini App's `initData` (for tests and the demo);
/// returns the `hash`.
pub fn sign_init_data(fields: &[(&str, &str)], bot_token: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(b"WebAppData").expect("HMAC takes a key of any length");
    mac.update(bot_token.as_bytes());
    sign_with(&mac.finalize().into_bytes(), fields)
}

fn sign_with(key: &[u8], fields: &[(&str, &str)]) -> String {
    let mut sorted: Vec<_> = fields.iter().filter(|(k, _)| *k != "hash").collect();
    sorted.sort();
    let dcs = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("\n");
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(dcs.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr";
    const OTHER: &str = "654321:ZZbbCCddEEffGGhhIIjjKKllMMnnOOppQQr";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn widget(token: &str, auth_date: i64) -> Vec<(String, String)> {
        let date = auth_date.to_string();
        let fields = [
            ("id", "4242"),
            ("first_name", "Ada"),
            ("username", "ada"),
            ("photo_url", "https://t.me/i/userpic/320/ada.jpg"),
            ("auth_date", date.as_str()),
        ];
        let hash = sign_widget(&fields, token);
        let mut pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.push(("hash".into(), hash));
        pairs
    }

    #[test]
    fn a_correctly_signed_widget_payload_is_accepted() {
        let user = verify_widget(widget(TOKEN, now().timestamp() - 60), TOKEN, now()).unwrap();
        assert_eq!(user.id, 4242);
        assert_eq!(user.username.as_deref(), Some("ada"));
    }

    #[test]
    fn each_tampered_widget_field_is_refused() {
        let good = widget(TOKEN, now().timestamp() - 60);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i].1.push('x');
            assert!(verify_widget(bad, TOKEN, now()).is_err(), "field {} tampered", good[i].0);
        }
        // A field added or removed breaks the signature too.
        let mut added = good.clone();
        added.push(("last_name".into(), "Lovelace".into()));
        assert_eq!(verify_widget(added, TOKEN, now()), Err(Refusal::BadSignature));
        let removed: Vec<_> = good.iter().filter(|(k, _)| k != "photo_url").cloned().collect();
        assert_eq!(verify_widget(removed, TOKEN, now()), Err(Refusal::BadSignature));
        let repeated = [good.clone(), vec![("id".into(), "1".into())]].concat();
        assert!(matches!(verify_widget(repeated, TOKEN, now()), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn another_bots_widget_signature_is_refused() {
        assert_eq!(verify_widget(widget(OTHER, now().timestamp() - 60), TOKEN, now()), Err(Refusal::BadSignature));
    }

    #[test]
    fn a_widget_payload_older_than_a_day_is_refused() {
        assert!(verify_widget(widget(TOKEN, now().timestamp() - MAX_AGE_SECS), TOKEN, now()).is_ok());
        assert_eq!(
            verify_widget(widget(TOKEN, now().timestamp() - MAX_AGE_SECS - 1), TOKEN, now()),
            Err(Refusal::Stale)
        );
        assert_eq!(verify_widget(widget(TOKEN, now().timestamp() + 3600), TOKEN, now()), Err(Refusal::Stale));
    }

    fn init_data(token: &str, auth_date: i64) -> Vec<(String, String)> {
        let date = auth_date.to_string();
        let fields = [
            ("query_id", "AAHdF6IQAAAAAN0XohDhrOrc"),
            ("user", r#"{"id":4242,"first_name":"Ada","username":"ada","language_code":"ru"}"#),
            ("auth_date", date.as_str()),
            ("signature", "c2lnbmF0dXJl"),
        ];
        let hash = sign_init_data(&fields, token);
        let mut pairs: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.push(("hash".into(), hash));
        pairs
    }

    fn encode(pairs: &[(String, String)]) -> String {
        serde_urlencoded::to_string(pairs).unwrap()
    }

    #[test]
    fn correctly_signed_init_data_is_accepted() {
        let user = verify_init_data(&encode(&init_data(TOKEN, now().timestamp() - 5)), TOKEN, now()).unwrap();
        assert_eq!(user.id, 4242);
        assert_eq!(user.language_code.as_deref(), Some("ru"));
    }

    #[test]
    fn each_tampered_init_data_field_is_refused() {
        let good = init_data(TOKEN, now().timestamp() - 5);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i].1.insert(0, '1');
            assert!(verify_init_data(&encode(&bad), TOKEN, now()).is_err(), "field {} tampered", good[i].0);
        }
    }

    #[test]
    fn init_data_signed_for_another_bot_or_with_the_widgets_key_is_refused() {
        let other = init_data(OTHER, now().timestamp() - 5);
        assert_eq!(verify_init_data(&encode(&other), TOKEN, now()), Err(Refusal::BadSignature));
        // The widget's key (SHA-256 of the token) is not the Mini App's.
        let mut widget_signed = init_data(TOKEN, now().timestamp() - 5);
        widget_signed.pop();
        let fields: Vec<(&str, &str)> = widget_signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let hash = sign_widget(&fields, TOKEN);
        widget_signed.push(("hash".into(), hash));
        assert_eq!(verify_init_data(&encode(&widget_signed), TOKEN, now()), Err(Refusal::BadSignature));
    }

    #[test]
    fn init_data_older_than_a_day_is_refused() {
        let stale = init_data(TOKEN, now().timestamp() - MAX_AGE_SECS - 1);
        assert_eq!(verify_init_data(&encode(&stale), TOKEN, now()), Err(Refusal::Stale));
    }
}
