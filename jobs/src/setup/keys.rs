//! Api keys: minted at random, shown once, stored as their SHA-256 with a short clear
//! prefix. `POST /v1/projects/{id}/keys`, a new project and the owner's `/apikey`
//! come here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::{SetupError, invalid};
use crate::{Secret, crypto, store};

/// What a new api key starts with, so that one is recognisable in a leak scan.
pub const API_KEY_PREFIX: &str = "gh_";
/// How many characters of a key are stored in clear to tell keys apart.
const KEY_PREFIX_LEN: usize = 8;
/// How far ahead a key's expiry may be set.
pub const MAX_KEY_LIFETIME_DAYS: i64 = 3660;

/// A fresh key: its secret and what is stored of it.
pub struct Minted {
    /// The key, shown once.
    pub secret: Secret<String>,
    /// SHA-256 of it.
    pub hash: Vec<u8>,
    /// Its first characters.
    pub prefix: String,
}

/// Makes a new random key.
pub fn mint() -> Minted {
    let secret = Secret::new(format!("{API_KEY_PREFIX}{}", crypto::random_secret(32).expose()));
    let hash = crypto::digest(secret.expose());
    let prefix = secret.expose()[..KEY_PREFIX_LEN].to_string();
    Minted { secret, hash, prefix }
}

/// A created key: its id and its secret (to show once).
pub struct Created {
    /// `api_keys.id`.
    pub id: Uuid,
    /// Its name, trimmed.
    pub name: String,
    /// The key.
    pub minted: Minted,
}

/// Creates a key of the project with these (already checked) abilities: the name is
/// 1 to 100 characters, the expiry in the future and at most
/// [`MAX_KEY_LIFETIME_DAYS`] ahead.
pub async fn create(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    name: &str,
    abilities: &[String],
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Created, SetupError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid("name: expected 1 to 100 characters"));
    }
    if let Some(at) = expires_at
        && (at <= now
            || now.checked_add_signed(chrono::TimeDelta::days(MAX_KEY_LIFETIME_DAYS)).is_none_or(|max| at > max))
    {
        return Err(invalid(format!(
            "expires_at: expected a time in the future, at most {MAX_KEY_LIFETIME_DAYS} days ahead"
        )));
    }
    let minted = mint();
    let id = Uuid::now_v7();
    store::api_keys::insert(
        db,
        &store::api_keys::NewKey {
            id,
            project_id,
            name,
            key_hash: &minted.hash,
            key_prefix: &minted.prefix,
            abilities,
            expires_at,
        },
    )
    .await?;
    tracing::info!(%project_id, key_id = %id, "api key created");
    Ok(Created { id, name: name.to_string(), minted })
}
