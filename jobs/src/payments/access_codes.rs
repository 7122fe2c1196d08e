//! Access codes: a code bound to a plan, single-use or multi-use with a cap and an
//! expiry, redeemed with `/start <code>`. [`redeem`] does it all in one transaction:
//! the redemption row (one per subscriber and code), one use taken by a single
//! conditional `UPDATE` (so a cap holds however many users race), the grant, and
//! `grant-access`.

use rand::Rng;
use uuid::Uuid;

use super::{
    entitlement::{self, Change, Ends, Outcome, Target},
    subscription::Event,
};
use crate::{
    queue::JobError,
    runtime::JobContext,
    store::{access_codes, plans, subscribers},
    telegram::User,
};

/// What became of a redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Access granted (links follow).
    Redeemed {
        /// The new grant.
        grant_id: Uuid,
        /// The plan it grants.
        plan_id: Uuid,
    },
    /// No such code in this project.
    Unknown,
    /// This user redeemed it before.
    AlreadyRedeemed,
    /// Every use is taken, or the code expired.
    UsedUp,
    /// The user is banned in this project.
    Banned,
}

impl RedeemOutcome {
    /// A short word for logs and metrics.
    pub fn word(&self) -> &'static str {
        match self {
            RedeemOutcome::Redeemed { .. } => "redeemed",
            RedeemOutcome::Unknown => "unknown",
            RedeemOutcome::AlreadyRedeemed => "already_redeemed",
            RedeemOutcome::UsedUp => "used_up",
            RedeemOutcome::Banned => "banned",
        }
    }
}

/// Whether `text` has the shape of a code (what `access_codes.code` allows).
pub fn is_code_shaped(text: &str) -> bool {
    (4..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new random code: 12 characters without look-alikes.
pub fn generate_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..12).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Redeems `code` in `project_id` for `user`.
pub async fn redeem(ctx: &JobContext, project_id: Uuid, user: &User, code: &str) -> Result<RedeemOutcome, JobError> {
    let now = ctx.now();
    let Some(found) = access_codes::find(&ctx.pool, project_id, code).await? else {
        return Ok(RedeemOutcome::Unknown);
    };
    let mut tx = ctx.pool.begin().await?;
    let profile = subscribers::Profile { language_code: user.language_code.as_deref(), ..Default::default() };
    let payer = subscribers::upsert(&mut *tx, project_id, user.id, profile).await?;
    if payer.status == "banned" {
        return Ok(RedeemOutcome::Banned);
    }
    if !access_codes::insert_redemption(&mut tx, found.id, payer.id, now).await? {
        return Ok(RedeemOutcome::AlreadyRedeemed);
    }
    if !access_codes::take_use(&mut tx, found.id, now).await? {
        // Dropping the transaction undoes the redemption row too.
        return Ok(RedeemOutcome::UsedUp);
    }
    let plan = plans::get(&mut *tx, project_id, found.plan_id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("the plan of access code {} is gone", found.id)))?;
    let days = found.duration_days.or(plan.duration_days);
    let ends =
        Ends::At(days.map(|d| crate::clock::days_after(now, d.into(), "the access code's duration_days")).transpose()?);
    let external_ref = format!("{}:{}", found.id, payer.id);
    let target = Target {
        project_id,
        subscriber_id: payer.id,
        plan_id: plan.id,
        source: "access_code",
        external_ref: &external_ref,
    };
    let outcome =
        entitlement::apply(&mut tx, target, Change { event: Event::Pay, ends, occurred_at: now }, now).await?;
    let Outcome::Applied { grant_id, .. } = outcome else {
        return Err(JobError::Permanent(format!("access code {} could not grant: {outcome:?}", found.id)));
    };
    let data = serde_json::json!({
        "access_code": {"id": found.id, "plan_id": plan.id},
        "telegram_user_id": user.id,
        "subscription_id": grant_id,
    });
    let redeemed =
        crate::store::events::NewEvent::new(project_id, crate::store::events::EventType::AccessCodeRedeemed, data);
    ctx.event_on(&mut tx, redeemed).await?;
    tx.commit().await?;
    Ok(RedeemOutcome::Redeemed { grant_id, plan_id: plan.id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_shape_of_a_code() {
        for _ in 0..100 {
            assert!(is_code_shaped(&generate_code()));
        }
        assert!(!is_code_shaped("abc"));
        assert!(!is_code_shaped("has space"));
        assert!(!is_code_shaped(&"x".repeat(65)));
    }
}
