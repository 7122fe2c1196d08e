//! Who is signed in to the console, and what they may do.
//!
//! The sign-in form takes the admin token (everything) or a project's api key with the
//! ability `jobs:read` (its own project only; `jobs:write` to act). Neither ever goes in
//! a URL: the form posts it, and the answer sets a signed cookie ([`crate::session`],
//! purpose [`PURPOSE`]) that names the session — `admin`, or `key:<api key id>` — never
//! the secret. A key's session is checked against `api_keys` on every request, so a
//! revoked key, or one that lost `jobs:read`, is signed out at once.

use axum::http::HeaderMap;
use chrono::{DateTime, TimeDelta, Utc};
use gatehouse_jobs::{
    access::{self, Ability},
    crypto,
    operator::Actor,
    store,
};
use uuid::Uuid;

use crate::{ApiError, AppState, session};

/// The purpose console cookies are signed for (a page cookie is never a console cookie).
pub const PURPOSE: &str = "console";
/// The console's cookie.
pub const COOKIE: &str = "gatehouse_console";
/// Its path.
pub const COOKIE_PATH: &str = "/console";
/// How long a sign-in lasts.
pub const SESSION: TimeDelta = TimeDelta::hours(8);
/// The longest credential the sign-in form takes.
pub const MAX_CREDENTIAL: usize = 512;

/// The ability that lets a key see its project's jobs in the console.
pub const JOBS_READ: Ability = Ability::JobsRead;
/// The ability that lets a key retry and cancel its project's jobs.
pub const JOBS_WRITE: Ability = Ability::JobsWrite;

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The admin token: every project, every action.
    Admin,
    /// A project's api key.
    Key {
        /// `api_keys.id`.
        key_id: Uuid,
        /// The project it sees.
        project_id: Uuid,
        /// Whether it holds `jobs:write`.
        can_write: bool,
    },
}

impl Operator {
    /// The project it is limited to (`None`: all).
    pub fn project(&self) -> Option<Uuid> {
        match self {
            Operator::Admin => None,
            Operator::Key { project_id, .. } => Some(*project_id),
        }
    }

    /// Whether it may retry and cancel.
    pub fn can_write(&self) -> bool {
        match self {
            Operator::Admin => true,
            Operator::Key { can_write, .. } => *can_write,
        }
    }

    /// The actor the audit trail records.
    pub fn actor(&self) -> Actor {
        match self {
            Operator::Admin => Actor::Admin,
            Operator::Key { key_id, project_id, .. } => Actor::Key { key_id: *key_id, project_id: *project_id },
        }
    }
}

/// A signed-in session: who, and the payload its CSRF token is bound to.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub operator: Operator,
    /// The cookie's payload (`admin`, `key:<id>`).
    pub payload: String,
    /// The CSRF token forms carry.
    pub csrf: String,
}

/// Why a sign-in was refused (shown on the form, the same words for every wrong credential).
pub const REFUSED: &str = "That is neither the admin token nor an api key with jobs:read.";

/// Checks a credential from the sign-in form; returns the session payload.
pub async fn sign_in(state: &AppState, credential: &str) -> Result<Option<String>, ApiError> {
    let credential = credential.trim();
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL {
        return Ok(None);
    }
    if let Ok(admin) = state.config.admin_token()
        && crypto::secrets_equal(credential.as_bytes(), admin.expose().as_bytes())
    {
        return Ok(Some("admin".into()));
    }
    let Some(key) = store::api_keys::find(&state.pool, &crypto::digest(credential), state.clock.now()).await? else {
        return Ok(None);
    };
    if !access::allows(&key.abilities, JOBS_READ) {
        return Ok(None);
    }
    Ok(Some(format!("key:{}", key.id)))
}

/// The `Set-Cookie` value that signs `payload` in.
pub fn session_cookie(state: &AppState, payload: &str, now: DateTime<Utc>) -> Result<String, ApiError> {
    let key = session::cookie_key(&state.config)?;
    let value = session::sign(&key, PURPOSE, payload, now + SESSION);
    Ok(session::set_cookie(&state.config, COOKIE, &value, COOKIE_PATH, SESSION.num_seconds()))
}

/// The `Set-Cookie` value that signs out.
pub fn sign_out_cookie(state: &AppState) -> String {
    session::set_cookie(&state.config, COOKIE, "", COOKIE_PATH, 0)
}

/// The session of a request, if its cookie is valid and its key still in force.
pub async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(value) = session::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let key = session::cookie_key(&state.config)?;
    let Some(payload) = session::verify(&key, PURPOSE, value, state.clock.now()) else {
        return Ok(None);
    };
    let operator = if payload == "admin" {
        Operator::Admin
    } else {
        let Some(id) = payload.strip_prefix("key:").and_then(|id| Uuid::parse_str(id).ok()) else {
            return Ok(None);
        };
        let Some(api_key) = store::api_keys::by_id(&state.pool, id, state.clock.now()).await? else {
            return Ok(None);
        };
        if !access::allows(&api_key.abilities, JOBS_READ) {
            return Ok(None);
        }
        Operator::Key {
            key_id: api_key.id,
            project_id: api_key.project_id,
            can_write: access::allows(&api_key.abilities, JOBS_WRITE),
        }
    };
    let csrf = session::csrf_token(&key, &payload);
    Ok(Some(Session { operator, payload, csrf }))
}

/// Whether a form's CSRF token is the session's.
pub fn csrf_ok(state: &AppState, session: &Session, given: &str) -> Result<bool, ApiError> {
    let key = session::cookie_key(&state.config)?;
    Ok(session::csrf_ok(&key, &session.payload, given))
}
