//! Access codes: `POST /v1/projects/{id}/access-codes`, the `create_access_codes` MCP
//! tool and the owner's `/codes` come here. A code is redeemed in the bot with
//! `/start <code>` (the deep link `https://t.me/<bot>?start=<code>`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{SetupError, invalid};
use crate::{
    clock::MAX_PERIOD_DAYS,
    payments::access_codes,
    store::{self, access_codes::NewAccessCode},
};

/// The most codes one call creates.
pub const MAX_BATCH: u32 = 100;

/// The terms of the codes to make.
#[derive(Debug, Clone, Default)]
pub struct CodeTerms {
    /// A given code (makes one); `None`: generated.
    pub code: Option<String>,
    /// The plan it grants.
    pub plan_id: Uuid,
    /// Uses; `None`: unlimited.
    pub max_uses: Option<i32>,
    /// Until when it can be redeemed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Days of access it gives; `None`: the plan's.
    pub duration_days: Option<i32>,
}

/// A code made.
#[derive(Debug, Clone)]
pub struct Created {
    /// `access_codes.id`.
    pub id: Uuid,
    /// The code.
    pub code: String,
    /// `https://t.me/<bot>?start=<code>`, once the bot is connected.
    pub deep_link: Option<String>,
}

/// Creates `count` codes (1 to [`MAX_BATCH`]) with the same terms, on `conn` (pass a
/// transaction: all or none). A given code makes one code only.
pub async fn create(
    conn: &mut PgConnection,
    project_id: Uuid,
    terms: &CodeTerms,
    count: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Created>, SetupError> {
    if !(1..=MAX_BATCH).contains(&count) {
        return Err(invalid(format!("count: expected 1 to {MAX_BATCH}")));
    }
    let given = match terms.code.as_deref().map(str::trim) {
        Some(code) if access_codes::is_code_shaped(code) => Some(code.to_string()),
        Some(_) => return Err(invalid("code: expected 4 to 64 characters of A-Z a-z 0-9 _ -")),
        None => None,
    };
    if given.is_some() && count > 1 {
        return Err(invalid("count: a given code makes one code; leave code out to make many"));
    }
    if terms.max_uses.is_some_and(|n| n < 1) {
        return Err(invalid("max_uses: expected at least 1, or null for unlimited"));
    }
    if terms.duration_days.is_some_and(|d| !(1..=MAX_PERIOD_DAYS).contains(&i64::from(d))) {
        return Err(invalid(format!("duration_days: expected 1 to {MAX_PERIOD_DAYS}, or null for the plan's")));
    }
    if terms.expires_at.is_some_and(|t| t <= now) {
        return Err(invalid("expires_at: is in the past"));
    }
    if store::plans::get(&mut *conn, project_id, terms.plan_id).await?.is_none() {
        return Err(invalid("plan_id: no such plan in this project"));
    }
    let username = store::projects::get(&mut *conn, project_id).await?.and_then(|t| t.bot_username);
    let mut created = Vec::new();
    for _ in 0..count {
        let code = given.clone().unwrap_or_else(access_codes::generate_code);
        let id = Uuid::now_v7();
        let inserted = store::access_codes::insert(
            &mut *conn,
            &NewAccessCode {
                id,
                project_id,
                plan_id: terms.plan_id,
                code: &code,
                max_uses: terms.max_uses,
                expires_at: terms.expires_at,
                duration_days: terms.duration_days,
            },
        )
        .await;
        if let Err(sqlx::Error::Database(db)) = &inserted
            && db.constraint() == Some(store::access_codes::ACCESS_CODE_KEY)
        {
            return Err(SetupError::Conflict("code: this project already has this code".into()));
        }
        inserted?;
        created.push(Created {
            id,
            deep_link: username.as_ref().map(|u| format!("https://t.me/{u}?start={code}")),
            code,
        });
    }
    Ok(created)
}
