//! The rights a bot needs in a managed chat, and what is missing when it lacks them.

/// What keeps the bot from managing a chat, given its own membership there.
pub fn rights_problem(me: &crate::telegram::ChatMember) -> Option<String> {
    if me.status != "administrator" {
        Some("the bot is not an administrator of this chat".to_string())
    } else if !me.can_invite_users {
        Some("the bot lacks the right to invite users (can_invite_users)".to_string())
    } else if !me.can_restrict_members {
        Some("the bot lacks the right to ban users (can_restrict_members)".to_string())
    } else {
        None
    }
}
