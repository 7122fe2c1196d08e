//! Telegram JSON shapes (`User`, `Chat`, `ChatMember`, `ChatInviteLink`…) built from the world.

use serde_json::{Map, Value, json};

use crate::model::{AdminRights, ChatInfo, MemberStatus, UserInfo};

pub(crate) fn user_json(u: &UserInfo) -> Value {
    let mut v = json!({ "id": u.id, "is_bot": false, "first_name": u.first_name });
    if let Some(x) = &u.last_name {
        v["last_name"] = json!(x);
    }
    if let Some(x) = &u.username {
        v["username"] = json!(x);
    }
    if let Some(x) = &u.language_code {
        v["language_code"] = json!(x);
    }
    v
}

pub(crate) fn bot_user_json(id: i64, first_name: &str, username: &str) -> Value {
    json!({ "id": id, "is_bot": true, "first_name": first_name, "username": username })
}

/// The short `Chat` object carried in messages and updates.
pub(crate) fn chat_json(c: &ChatInfo) -> Value {
    let mut v = json!({ "id": c.id, "type": c.kind.as_str(), "title": c.title });
    if let Some(u) = &c.username {
        v["username"] = json!(u);
    }
    v
}

/// The `Chat` of a private conversation with a user.
pub(crate) fn private_chat_json(u: &UserInfo) -> Value {
    let mut v = json!({ "id": u.id, "type": "private", "first_name": u.first_name });
    if let Some(x) = &u.last_name {
        v["last_name"] = json!(x);
    }
    if let Some(x) = &u.username {
        v["username"] = json!(x);
    }
    v
}

/// Fields every `ChatFullInfo` carries.
pub(crate) fn full_info_extras(v: &mut Value) {
    v["accent_color_id"] = json!(0);
    v["max_reaction_count"] = json!(11);
    v["accepted_gift_types"] = json!({
        "unlimited_gifts": false,
        "limited_gifts": false,
        "unique_gifts": false,
        "premium_subscription": false,
        "gifts_from_channels": false,
    });
}

fn rights_fields(r: &AdminRights, channel: bool, obj: &mut Map<String, Value>) {
    let mut put = |k: &str, b: bool| {
        obj.insert(k.to_string(), json!(b));
    };
    put("is_anonymous", r.is_anonymous);
    put("can_manage_chat", r.can_manage_chat);
    put("can_delete_messages", r.can_delete_messages);
    put("can_manage_video_chats", r.can_manage_video_chats);
    put("can_restrict_members", r.can_restrict_members);
    put("can_promote_members", r.can_promote_members);
    put("can_change_info", r.can_change_info);
    put("can_invite_users", r.can_invite_users);
    put("can_post_stories", r.can_post_stories);
    put("can_edit_stories", r.can_edit_stories);
    put("can_delete_stories", r.can_delete_stories);
    // Bot API 10: required for every administrator, and the two optional ones.
    put("can_send_welcome_messages", false);
    put("can_manage_direct_messages", false);
    put("can_manage_tags", false);
    if channel {
        put("can_post_messages", r.can_post_messages);
        put("can_edit_messages", r.can_edit_messages);
    } else {
        put("can_pin_messages", r.can_pin_messages);
        put("can_manage_topics", r.can_manage_topics);
    }
}

/// A `ChatMember` object of the right variant.
pub(crate) fn member_json(user: Value, status: &MemberStatus, channel: bool) -> Value {
    let mut obj = Map::new();
    obj.insert("status".into(), json!(status.name()));
    obj.insert("user".into(), user);
    match status {
        MemberStatus::Creator { is_anonymous, custom_title } => {
            obj.insert("is_anonymous".into(), json!(is_anonymous));
            if let Some(t) = custom_title {
                obj.insert("custom_title".into(), json!(t));
            }
        }
        MemberStatus::Administrator { rights, custom_title } => {
            // Bots only edit administrators they promoted themselves, which the world does not model.
            obj.insert("can_be_edited".into(), json!(false));
            rights_fields(rights, channel, &mut obj);
            if let Some(t) = custom_title {
                obj.insert("custom_title".into(), json!(t));
            }
        }
        MemberStatus::Member { until_date } => {
            if let Some(d) = until_date {
                obj.insert("until_date".into(), json!(d));
            }
        }
        MemberStatus::Restricted { is_member, until_date } => {
            obj.insert("is_member".into(), json!(is_member));
            for k in [
                "can_send_messages",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_manage_topics",
                "can_edit_tag",
                "can_react_to_messages",
            ] {
                obj.insert(k.into(), json!(false));
            }
            obj.insert("until_date".into(), json!(until_date));
        }
        MemberStatus::Left => {}
        MemberStatus::Kicked { until_date } => {
            obj.insert("until_date".into(), json!(until_date));
        }
    }
    Value::Object(obj)
}
