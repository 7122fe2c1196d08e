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
        _ => Command::Unknown,
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
}
