//! The calling bot itself: getMe, logOut, close, and its command lists.

use serde_json::{Value, json};

use super::World;
use crate::error::ApiError;
use crate::params::Params;

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl World {
    /// `getMe`: the bot's user object with its capabilities.
    pub(super) fn get_me(&self, bot_id: i64) -> Result<Value, ApiError> {
        let bot = &self.bots[&bot_id];
        let mut v = bot.user_json();
        v["can_join_groups"] = json!(true);
        v["can_read_all_group_messages"] = json!(false);
        v["supports_inline_queries"] = json!(false);
        v["can_connect_to_business"] = json!(false);
        v["has_main_web_app"] = json!(false);
        v["has_topics_enabled"] = json!(false);
        v["allows_users_to_create_topics"] = json!(false);
        v["can_manage_bots"] = json!(false);
        v["supports_guest_queries"] = json!(false);
        Ok(v)
    }

    /// `logOut` and `close`: the simulator keeps no session to end, so both just succeed.
    pub(super) fn end_session() -> Result<Value, ApiError> {
        Ok(json!(true))
    }

    /// `setMyCommands`: validates and stores the command list of one scope and language.
    pub(super) fn set_my_commands(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let commands = p
            .json("commands")?
            .and_then(|v| v.as_array().cloned())
            .ok_or_else(|| ApiError::bad_request("can't parse commands JSON object"))?;
        if commands.len() > 100 {
            return Err(ApiError::bad_request("too many commands"));
        }
        for c in &commands {
            let name = c["command"].as_str().unwrap_or("");
            if !valid_name(name) || name.chars().any(|ch| ch.is_ascii_uppercase()) {
                return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
            }
            let d = c["description"].as_str().unwrap_or("");
            if d.is_empty() || d.chars().count() > 256 {
                return Err(ApiError::bad_request("command description must be non-empty"));
            }
        }
        let key = self.commands_key(bot_id, p, now)?;
        let bot = self.bots.get_mut(&bot_id).expect("caller exists");
        let list: Vec<Value> =
            commands.iter().map(|c| json!({ "command": c["command"], "description": c["description"] })).collect();
        bot.commands.insert(key, Value::Array(list));
        Ok(json!(true))
    }

    /// `getMyCommands`: the command list of one scope and language (empty when unset).
    pub(super) fn get_my_commands(&self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let key = self.commands_key(bot_id, p, now)?;
        Ok(self.bots[&bot_id].commands.get(&key).cloned().unwrap_or_else(|| json!([])))
    }

    /// `deleteMyCommands`.
    pub(super) fn delete_my_commands(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let key = self.commands_key(bot_id, p, now)?;
        self.bots.get_mut(&bot_id).expect("caller exists").commands.remove(&key);
        Ok(json!(true))
    }

    fn commands_key(&self, _bot_id: i64, p: &Params, _now: i64) -> Result<String, ApiError> {
        let scope = p.json("scope")?.unwrap_or_else(|| json!({ "type": "default" }));
        let kind = scope["type"].as_str().unwrap_or("");
        let known = [
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ];
        if !known.contains(&kind) {
            return Err(ApiError::bad_request("can't parse BotCommandScope: unsupported type"));
        }
        if kind.starts_with("chat") && scope.get("chat_id").is_none() {
            return Err(ApiError::bad_request("chat_id is empty"));
        }
        let lang = p.str("language_code").unwrap_or_default();
        let chat = scope.get("chat_id").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let user = scope.get("user_id").map(Value::to_string);
        Ok(format!("{kind}|{}|{}|{lang}", chat.unwrap_or_default(), user.unwrap_or_default()))
    }
}
