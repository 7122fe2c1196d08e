//! A plan's terms and its creation: `POST /v1/projects/{id}/plans`, the `create_plan`
//! MCP tool and the owner's `/addplan` all come here.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{SetupError, invalid};
use crate::{
    clock::{MAX_PERIOD_DAYS, MAX_TRIAL_DAYS},
    store::{self, plans::NewPlan},
};

/// Telegram Stars' currency code.
pub const STARS: &str = "XTR";

/// A plan as asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct PlanTerms {
    /// Its name (trimmed: 1 to 200 characters).
    pub name: String,
    /// Its price in the currency's minor unit.
    pub price: i64,
    /// A 3-letter uppercase code, `XTR` for Stars.
    pub currency: String,
    /// Its price in Stars, beside another currency (equal to `price` for `XTR`).
    pub stars_price: Option<i64>,
    /// Days of access per payment; `None`: lifetime.
    pub duration_days: Option<i64>,
    /// Whether it renews.
    pub recurring: bool,
    /// Trial days before the first payment.
    pub trial_days: Option<i64>,
    /// The Telegram ids of the project's chats it grants.
    pub chat_ids: Vec<i64>,
}

/// A plan's terms, checked.
#[derive(Debug, PartialEq)]
pub struct Terms {
    /// Stars price.
    pub stars_price: Option<i32>,
    /// Period.
    pub duration_days: Option<i32>,
    /// Trial.
    pub trial_days: i32,
    /// Unique chat ids, sorted.
    pub chat_ids: Vec<i64>,
}

/// Checks everything that does not need the database.
pub fn check(body: &PlanTerms) -> Result<Terms, SetupError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name: expected 1 to 200 characters"));
    }
    if body.price < 0 {
        return Err(invalid("price: expected a whole number of the currency's minor unit, 0 or more"));
    }
    let currency = body.currency.as_bytes();
    if currency.len() != 3 || !currency.iter().all(u8::is_ascii_uppercase) {
        return Err(invalid(
            "currency: expected a 3-letter uppercase currency code such as \"EUR\", or \"XTR\" for Telegram Stars",
        ));
    }
    let positive_i32 = |n: i64| i32::try_from(n).ok().filter(|n| *n > 0);
    let stars_price = if body.currency == STARS {
        let stars =
            positive_i32(body.price).ok_or_else(|| invalid("price: a price in Stars (XTR) is from 1 to 2147483647"))?;
        if body.stars_price.is_some_and(|s| s != body.price) {
            return Err(invalid("stars_price: must equal price when the currency is XTR (or be left out)"));
        }
        Some(stars)
    } else {
        body.stars_price
            .map(|s| positive_i32(s).ok_or_else(|| invalid("stars_price: expected 1 to 2147483647")))
            .transpose()?
    };
    let duration_days = body
        .duration_days
        .map(|d| {
            positive_i32(d).filter(|d| i64::from(*d) <= MAX_PERIOD_DAYS).ok_or_else(|| {
                invalid(format!("duration_days: expected 1 to {MAX_PERIOD_DAYS} days, or null for lifetime"))
            })
        })
        .transpose()?;
    if body.recurring && duration_days.is_none() {
        return Err(invalid("recurring: a recurring plan needs duration_days (its period)"));
    }
    let trial_days = match body.trial_days {
        None => 0,
        Some(t) => i32::try_from(t)
            .ok()
            .filter(|t| (0..=MAX_TRIAL_DAYS).contains(&i64::from(*t)))
            .ok_or_else(|| invalid(format!("trial_days: expected 0 to {MAX_TRIAL_DAYS} days")))?,
    };
    let mut chat_ids = body.chat_ids.clone();
    chat_ids.sort_unstable();
    chat_ids.dedup();
    if chat_ids.is_empty() {
        return Err(invalid("chat_ids: expected at least one Telegram chat id of this project"));
    }
    Ok(Terms { stars_price, duration_days, trial_days, chat_ids })
}

/// Creates the plan and the list of chats it grants, on `conn` (pass a transaction);
/// returns its id. A chat id that is not the project's is refused, naming it.
pub async fn create(conn: &mut PgConnection, project_id: Uuid, body: &PlanTerms) -> Result<Uuid, SetupError> {
    let terms = check(body)?;
    let plan_id = Uuid::new_v4();
    let found = store::chats::by_telegram_ids(&mut *conn, project_id, &terms.chat_ids).await?;
    let missing: Vec<String> = terms
        .chat_ids
        .iter()
        .filter(|id| !found.iter().any(|c| c.telegram_chat_id == **id))
        .map(i64::to_string)
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!("chat_ids: not chats of this project: {}", missing.join(", "))));
    }
    store::plans::insert(
        &mut *conn,
        &NewPlan {
            id: plan_id,
            project_id,
            name: body.name.trim(),
            price_minor: body.price,
            currency: &body.currency,
            stars_price: terms.stars_price,
            duration_days: terms.duration_days,
            recurring: body.recurring,
            trial_days: terms.trial_days,
        },
    )
    .await?;
    let chat_ids: Vec<Uuid> = found.iter().map(|c| c.id).collect();
    store::plans::add_chats(&mut *conn, plan_id, &chat_ids).await?;
    Ok(plan_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlanTerms {
        PlanTerms {
            name: "Monthly".into(),
            price: 500,
            currency: "EUR".into(),
            duration_days: Some(30),
            recurring: true,
            chat_ids: vec![-100, -100, -200],
            ..PlanTerms::default()
        }
    }

    fn field_of(e: SetupError) -> String {
        match e {
            SetupError::Invalid(m) => m.split(':').next().unwrap().to_string(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_plan_has_its_terms_and_unique_chats() {
        let terms = check(&plan()).unwrap();
        assert_eq!(
            terms,
            Terms { stars_price: None, duration_days: Some(30), trial_days: 0, chat_ids: vec![-200, -100] }
        );
    }

    #[test]
    fn a_stars_plan_costs_its_price_in_stars() {
        let stars = PlanTerms { currency: "XTR".into(), price: 250, ..plan() };
        assert_eq!(check(&stars).unwrap().stars_price, Some(250));
        let e = check(&PlanTerms { stars_price: Some(1), ..stars.clone() }).unwrap_err();
        assert_eq!(field_of(e), "stars_price");
        let e = check(&PlanTerms { price: 0, ..stars }).unwrap_err();
        assert_eq!(field_of(e), "price");
    }

    #[test]
    fn each_invalid_term_names_its_field() {
        for (terms, field) in [
            (PlanTerms { name: " ".into(), ..plan() }, "name"),
            (PlanTerms { price: -1, ..plan() }, "price"),
            (PlanTerms { currency: "eur".into(), ..plan() }, "currency"),
            (PlanTerms { currency: "EURO".into(), ..plan() }, "currency"),
            (PlanTerms { stars_price: Some(0), ..plan() }, "stars_price"),
            (PlanTerms { duration_days: Some(0), ..plan() }, "duration_days"),
            (PlanTerms { duration_days: None, ..plan() }, "recurring"),
            (PlanTerms { trial_days: Some(-1), ..plan() }, "trial_days"),
            (PlanTerms { chat_ids: vec![], ..plan() }, "chat_ids"),
        ] {
            let e = check(&terms).unwrap_err();
            assert_eq!(field_of(e), field, "{terms:?}");
        }
    }

    #[test]
    fn a_lifetime_plan_has_no_duration() {
        let terms = check(&PlanTerms { duration_days: None, recurring: false, ..plan() }).unwrap();
        assert_eq!(terms.duration_days, None);
    }
}
