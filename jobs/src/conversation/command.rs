//! What a message asks for: commands and `/start` payloads, parsed without I/O.

use uuid::Uuid;

/// A `/start` payload, in the order they are tried (an access code is looked up
/// first by the caller; these are the shapes that need no lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// No payload, or `project_<uuid>`: the home screen.
    Home,
    /// `plan_<uuid>`: that plan's checkout.
    Plan(Uuid),
    /// `accesstoken_<token>`: an integrator's single-use activation token.
    AccessToken(String),
    /// Anything else of the allowed alphabet: maybe an access code, else attribution.
    Other(String),
    /// Not a valid deep-link payload (too long, other characters).
    Invalid,
}

/// A command a user (or the owner) sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start [payload]`.
    Start(Payload),
    /// `/status`.
    Status,
    /// `/links`.
    Links,
    /// `/cancel`.
    Cancel,
    /// `/help`.
    Help,
    /// Owner: `/check <user_id>`.
    Check(i64),
    /// Owner: `/ban <user_id>`.
    Ban(i64),
    /// Owner: `/unban <user_id>`.
    Unban(i64),
    /// Owner: `/grant <user_id> <plan> <days>`.
    Grant {
        /// Who.
        user: i64,
        /// Plan name or id.
        plan: String,
        /// How long.
        days: i32,
    },
    /// Owner: `/stats`.
    Stats,
    /// An owner command with wrong arguments: the usage to show (to the owner only).
    Usage(&'static str),
    /// Owner setup: `/addplan <name> <price> <currency> <days|lifetime>`.
    AddPlan(OneLinePlan),
    /// Owner setup: `/addplan` alone, the guided flow.
    AddPlanGuided,
    /// Owner setup: `/plans`.
    Plans,
    /// Owner setup: `/addchat` (how to add one) or `/addchat <chat_id>`.
    AddChat(Option<i64>),
    /// Owner setup: `/addchat @username` (a public chat, looked up with getChat).
    AddChatByUsername(String),
    /// Owner setup: `/chats`.
    Chats,
    /// Owner setup: `/apikey [name]`.
    ApiKey(Option<String>),
    /// Owner setup: `/apikeys`.
    ApiKeys,
    /// Owner setup: `/codes <n> [plan] [days] [uses]`.
    Codes(CodesRequest),
    /// Anything else starting with `/`.
    Unknown,
    /// Plain text.
    Text,
    // -- broadcasts and the support relay
    /// Owner: `/broadcast <segment>` (the message follows on the next lines).
    Broadcast(crate::store::broadcasts::Segment),
    /// Owner: `/broadcast stop`.
    BroadcastStop,
    /// Owner: `/support on|off`.
    Support(bool),
}

impl Command {
    /// Whether only the owner (and their admins) may run it.
    pub fn is_owner_only(&self) -> bool {
        matches!(
            self,
            Command::Check(_)
                | Command::Ban(_)
                | Command::Unban(_)
                | Command::Grant { .. }
                | Command::Stats
                | Command::Usage(_)
                | Command::Broadcast(_)
                | Command::BroadcastStop
                | Command::Support(_)
                | Command::AddPlan(_)
                | Command::AddPlanGuided
                | Command::Plans
                | Command::AddChat(_)
                | Command::AddChatByUsername(_)
                | Command::Chats
                | Command::ApiKey(_)
                | Command::ApiKeys
                | Command::Codes(_)
        )
    }
}

/// Parses a message text. `bot_username` lets `/cmd@this_bot` through.
pub fn parse(text: &str, bot_username: Option<&str>) -> Command {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else { return Command::Text };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or_default();
    let (name, mention) = head.split_once('@').map_or((head, None), |(n, m)| (n, Some(m)));
    if let (Some(mention), Some(me)) = (mention, bot_username)
        && !mention.eq_ignore_ascii_case(me)
    {
        return Command::Unknown;
    }
    let args: Vec<&str> = words.collect();
    let user_arg = |usage: &'static str| match args.as_slice() {
        [id] => id.parse::<i64>().ok().filter(|id| *id > 0).ok_or(usage),
        _ => Err(usage),
    };
    match name.to_ascii_lowercase().as_str() {
        "start" => Command::Start(payload(args.first().copied())),
        "status" => Command::Status,
        "links" => Command::Links,
        "cancel" => Command::Cancel,
        "help" => Command::Help,
        "check" => user_arg("/check <user_id>").map_or_else(Command::Usage, Command::Check),
        "ban" => user_arg("/ban <user_id>").map_or_else(Command::Usage, Command::Ban),
        "unban" => user_arg("/unban <user_id>").map_or_else(Command::Usage, Command::Unban),
        "grant" => {
            const USAGE: &str = "/grant <user_id> <plan> <days>";
            match args.as_slice() {
                [user, plan @ .., days] if !plan.is_empty() => match (user.parse::<i64>(), days.parse::<i32>()) {
                    (Ok(user), Ok(days)) if user > 0 && (1..=3650).contains(&days) => {
                        Command::Grant { user, plan: plan.join(" "), days }
                    }
                    _ => Command::Usage(USAGE),
                },
                _ => Command::Usage(USAGE),
            }
        }
        "stats" => Command::Stats,
        // -- broadcasts and the support relay
        "broadcast" => broadcast(text),
        "support" => match args.as_slice() {
            [on] if on.eq_ignore_ascii_case("on") => Command::Support(true),
            [off] if off.eq_ignore_ascii_case("off") => Command::Support(false),
            _ => Command::Usage(SUPPORT_USAGE),
        },
        other => setup_command(other, &args).unwrap_or(Command::Unknown),
    }
}

/// The usage of `/broadcast` (the owner is shown it in their language).
pub const BROADCAST_USAGE: &str = "/broadcast <segment>";
/// The usage of `/support`.
pub const SUPPORT_USAGE: &str = "/support on|off";

/// `/broadcast …`: only its first line holds arguments (the message follows).
fn broadcast(text: &str) -> Command {
    use crate::store::broadcasts::Segment;
    let first = text.lines().next().unwrap_or_default();
    let args: Vec<&str> = first.split_whitespace().skip(1).collect();
    match args.as_slice() {
        [s] if s.eq_ignore_ascii_case("stop") => Command::BroadcastStop,
        [s] if s.eq_ignore_ascii_case("active") => Command::Broadcast(Segment::Active),
        [s] if s.eq_ignore_ascii_case("trialing") => Command::Broadcast(Segment::Trialing),
        [s] if s.eq_ignore_ascii_case("past_due") => Command::Broadcast(Segment::PastDue),
        [s] if s.eq_ignore_ascii_case("all") => Command::Broadcast(Segment::All),
        [s, days] if s.eq_ignore_ascii_case("expired") => match days.parse::<i32>() {
            Ok(days) if (1..=3660).contains(&days) => Command::Broadcast(Segment::Expired(days)),
            _ => Command::Usage(BROADCAST_USAGE),
        },
        _ => Command::Usage(BROADCAST_USAGE),
    }
}

// ------------------------------------------------------------ owner setup commands

/// `/addplan`'s one-line form, as typed (the price is read with its currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneLinePlan {
    /// The name (every word before the price).
    pub name: String,
    /// The price in minor units of the currency.
    pub price_minor: i64,
    /// The currency, uppercased.
    pub currency: String,
    /// Days of access; `None`: lifetime.
    pub days: Option<i64>,
}

/// `/codes <n> [plan] [days] [uses]`, checked against [`MAX_CODES`], [`MAX_CODE_DAYS`]
/// and [`MAX_CODE_USES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodesRequest {
    /// How many codes (1 to [`MAX_CODES`]).
    pub count: u32,
    /// The plan's name or id (`None`: the project's only plan).
    pub plan: Option<String>,
    /// Days of access each gives (`None`: the plan's).
    pub days: Option<i32>,
    /// Uses of each (`None`: one).
    pub uses: Option<i32>,
}

/// The most codes one `/codes` makes.
pub const MAX_CODES: u32 = 100;
/// The most days of access a code from `/codes` gives.
pub const MAX_CODE_DAYS: i32 = 3650;
/// The most uses of a code from `/codes`.
pub const MAX_CODE_USES: i32 = 100_000;

/// The usage lines of the setup commands.
pub const ADDPLAN_USAGE: &str = "/addplan <name> <price> <currency> <days|lifetime>";
/// See [`ADDPLAN_USAGE`].
pub const ADDCHAT_USAGE: &str = "/addchat <chat_id or @username>";
/// See [`ADDPLAN_USAGE`].
pub const CODES_USAGE: &str = "/codes <n 1-100> [plan] [days 1-3650] [uses 1-100000]";

/// The owner setup commands (their own block, so that others' commands merge apart).
fn setup_command(name: &str, args: &[&str]) -> Option<Command> {
    Some(match name {
        "addplan" if args.is_empty() => Command::AddPlanGuided,
        "addplan" => one_line_plan(args).map_or(Command::Usage(ADDPLAN_USAGE), Command::AddPlan),
        "plans" => Command::Plans,
        "addchat" => match args {
            [] => Command::AddChat(None),
            [name] if name.starts_with('@') => {
                let bare = &name[1..];
                let valid = (5..=32).contains(&bare.len())
                    && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && bare.as_bytes()[0].is_ascii_alphabetic();
                if valid { Command::AddChatByUsername(name.to_string()) } else { Command::Usage(ADDCHAT_USAGE) }
            }
            [id] => id
                .parse::<i64>()
                .ok()
                .filter(|id| *id != 0)
                .map_or(Command::Usage(ADDCHAT_USAGE), |id| Command::AddChat(Some(id))),
            _ => Command::Usage(ADDCHAT_USAGE),
        },
        "chats" => Command::Chats,
        "apikey" => {
            let name = args.join(" ");
            if name.chars().count() > 100 {
                Command::Usage("/apikey [name, at most 100 characters]")
            } else {
                Command::ApiKey(Some(name).filter(|n| !n.is_empty()))
            }
        }
        "apikeys" => Command::ApiKeys,
        "codes" => codes(args).map_or(Command::Usage(CODES_USAGE), Command::Codes),
        _ => return None,
    })
}

fn one_line_plan(args: &[&str]) -> Option<OneLinePlan> {
    let [name @ .., price, currency, days] = args else { return None };
    if name.is_empty() {
        return None;
    }
    let currency = currency.to_ascii_uppercase();
    let price_minor = crate::money::parse_minor(price, &currency)?;
    let days = match days.to_ascii_lowercase().as_str() {
        "lifetime" | "forever" | "навсегда" => None,
        d => Some(d.parse::<i64>().ok().filter(|d| (1..=crate::clock::MAX_PERIOD_DAYS).contains(d))?),
    };
    Some(OneLinePlan { name: name.join(" "), price_minor, currency, days })
}

fn codes(args: &[&str]) -> Option<CodesRequest> {
    let (count, rest) = args.split_first()?;
    let count = count.parse::<u32>().ok().filter(|n| (1..=MAX_CODES).contains(n))?;
    // The plan is the first argument that is not a number; the numbers after it are
    // days then uses.
    let (plan, numbers): (Option<String>, &[&str]) = match rest.first() {
        Some(first) if first.parse::<i64>().is_err() => (Some(first.to_string()), &rest[1..]),
        _ => (None, rest),
    };
    let number = |s: &str, max: i32| s.parse::<i32>().ok().filter(|n| (1..=max).contains(n));
    let (days, uses) = match numbers {
        [] => (None, None),
        [d] => (Some(number(d, MAX_CODE_DAYS)?), None),
        [d, u] => (Some(number(d, MAX_CODE_DAYS)?), Some(number(u, MAX_CODE_USES)?)),
        _ => return None,
    };
    Some(CodesRequest { count, plan, days, uses })
}

/// Parses a deep-link payload: at most 64 characters of `A-Za-z0-9_-`.
pub fn payload(raw: Option<&str>) -> Payload {
    let Some(raw) = raw.filter(|p| !p.is_empty()) else { return Payload::Home };
    if raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Payload::Invalid;
    }
    if let Some(id) = raw.strip_prefix("plan_") {
        return Uuid::parse_str(id).map_or_else(|_| Payload::Other(raw.into()), Payload::Plan);
    }
    if let Some(token) = raw.strip_prefix("accesstoken_") {
        return Payload::AccessToken(token.into());
    }
    if let Some(id) = raw.strip_prefix("project_")
        && Uuid::parse_str(id).is_ok()
    {
        return Payload::Home;
    }
    Payload::Other(raw.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_payloads_are_recognised_by_their_shape() {
        let plan = Uuid::now_v7();
        assert_eq!(parse("/start", None), Command::Start(Payload::Home));
        assert_eq!(parse(&format!("/start plan_{}", plan.simple()), None), Command::Start(Payload::Plan(plan)));
        assert_eq!(parse(&format!("/start plan_{plan}"), None), Command::Start(Payload::Plan(plan)));
        assert_eq!(parse("/start accesstoken_abc-123", None), Command::Start(Payload::AccessToken("abc-123".into())));
        assert_eq!(parse(&format!("/start project_{}", plan.simple()), None), Command::Start(Payload::Home));
        assert_eq!(parse("/start SUMMER24", None), Command::Start(Payload::Other("SUMMER24".into())));
        assert_eq!(parse("/start bad!payload", None), Command::Start(Payload::Invalid));
        assert_eq!(parse(&format!("/start {}", "a".repeat(65)), None), Command::Start(Payload::Invalid));
    }

    #[test]
    fn commands_take_their_arguments() {
        assert_eq!(parse("/check 42", None), Command::Check(42));
        assert_eq!(parse("/ban@club_bot 42", Some("club_bot")), Command::Ban(42));
        assert_eq!(parse("/ban@other_bot 42", Some("club_bot")), Command::Unknown);
        assert_eq!(
            parse("/grant 42 Monthly Plus 30", None),
            Command::Grant { user: 42, plan: "Monthly Plus".into(), days: 30 }
        );
        assert_eq!(parse("/grant 42 30", None), Command::Usage("/grant <user_id> <plan> <days>"));
        assert_eq!(parse("/check me", None), Command::Usage("/check <user_id>"));
        assert_eq!(parse("/STATUS", None), Command::Status);
        assert_eq!(parse("/whatever", None), Command::Unknown);
        assert_eq!(parse("hello", None), Command::Text);
        assert!(parse("/stats", None).is_owner_only());
        assert!(!parse("/status", None).is_owner_only());
    }

    #[test]
    fn broadcast_and_support_take_their_arguments_from_the_first_line() {
        use crate::store::broadcasts::Segment;
        assert_eq!(parse("/broadcast active\nHello all", None), Command::Broadcast(Segment::Active));
        assert_eq!(parse("/broadcast expired 7\nCome back", None), Command::Broadcast(Segment::Expired(7)));
        assert_eq!(parse("/broadcast expired 0\nx", None), Command::Usage(BROADCAST_USAGE));
        assert_eq!(parse("/broadcast expired 99999999999\nx", None), Command::Usage(BROADCAST_USAGE));
        assert_eq!(parse("/broadcast\nactive", None), Command::Usage(BROADCAST_USAGE));
        assert_eq!(parse("/broadcast stop", None), Command::BroadcastStop);
        assert_eq!(parse("/support ON", None), Command::Support(true));
        assert_eq!(parse("/support maybe", None), Command::Usage(SUPPORT_USAGE));
        assert!(parse("/broadcast all\nx", None).is_owner_only() && parse("/support off", None).is_owner_only());
    }

    #[test]
    fn setup_commands_read_prices_durations_and_bounds() {
        assert_eq!(
            parse("/addplan Gold 15.00 EUR 30", None),
            Command::AddPlan(OneLinePlan {
                name: "Gold".into(),
                price_minor: 1500,
                currency: "EUR".into(),
                days: Some(30)
            })
        );
        assert_eq!(
            parse("/addplan Fans Club 250 xtr lifetime", None),
            Command::AddPlan(OneLinePlan {
                name: "Fans Club".into(),
                price_minor: 250,
                currency: "XTR".into(),
                days: None
            })
        );
        assert_eq!(parse("/addplan", None), Command::AddPlanGuided);
        for bad in ["/addplan Gold", "/addplan Gold 15.001 EUR 30", "/addplan Gold 15 EUR 0", "/addplan 15 EUR 30"] {
            assert_eq!(parse(bad, None), Command::Usage(ADDPLAN_USAGE), "{bad}");
        }
        assert_eq!(
            parse("/codes 5 Gold 7 2", None),
            Command::Codes(CodesRequest { count: 5, plan: Some("Gold".into()), days: Some(7), uses: Some(2) })
        );
        assert_eq!(
            parse("/codes 3", None),
            Command::Codes(CodesRequest { count: 3, plan: None, days: None, uses: None })
        );
        for bad in ["/codes", "/codes 0", "/codes 101", "/codes 5 Gold 0", "/codes 5 Gold 7 0", "/codes 5 Gold 3651"] {
            assert_eq!(parse(bad, None), Command::Usage(CODES_USAGE), "{bad}");
        }
        assert_eq!(parse("/addchat -1001234", None), Command::AddChat(Some(-1001234)));
        assert_eq!(parse("/addchat", None), Command::AddChat(None));
        assert_eq!(parse("/addchat @club_news", None), Command::AddChatByUsername("@club_news".into()));
        assert_eq!(parse("/addchat @no", None), Command::Usage(ADDCHAT_USAGE));
        assert!(parse("/apikeys", None).is_owner_only());
    }
}
