//! A project: its handle (the membership page's `/p/{handle}`) and name.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{SetupError, invalid};
use crate::store;

/// A handle as the database allows it: `^[a-z0-9][a-z0-9_-]{1,62}$`.
pub fn parse_handle(handle: &str) -> Result<&str, SetupError> {
    let bytes = handle.as_bytes();
    let valid = (2..=63).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..].iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
    if valid {
        Ok(handle)
    } else {
        Err(invalid("handle: expected 2 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"))
    }
}

/// A project's display name, trimmed: 1 to 200 characters.
pub fn parse_name(name: &str) -> Result<&str, SetupError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name: expected 1 to 200 characters"));
    }
    Ok(name)
}

/// Creates a project owned by `owner_telegram_id`; returns its id.
pub async fn create(
    conn: &mut PgConnection,
    handle: &str,
    name: &str,
    owner_telegram_id: i64,
) -> Result<Uuid, SetupError> {
    let handle = parse_handle(handle)?;
    let name = parse_name(name)?;
    if owner_telegram_id <= 0 {
        return Err(invalid("owner_telegram_id: expected a positive Telegram user id"));
    }
    let project_id = Uuid::new_v4();
    store::projects::insert(&mut *conn, project_id, handle, name, owner_telegram_id).await.map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some(store::projects::PROJECT_HANDLE_KEY) => {
            SetupError::Conflict(format!("handle: {handle:?} is taken"))
        }
        _ => e.into(),
    })?;
    tracing::info!(%project_id, handle, "project created");
    Ok(project_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_the_database_rule() {
        for good in ["ab", "a1", "0-club", "my_club-2", &"a".repeat(63)] {
            assert!(parse_handle(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "-ab", "_ab", "Ab", "a b", "añb", "a.b", &"a".repeat(64)] {
            assert!(parse_handle(bad).is_err(), "{bad}");
        }
    }
}
