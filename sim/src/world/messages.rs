//! Messages: sendMessage, editMessageText, copyMessage, deleteMessage, answerCallbackQuery, the helpers
//! every sending method shares, and users writing to bots, pressing buttons and blocking them.

use serde_json::{Value, json};

use super::{CallbackRecord, World, random_digits};
use crate::error::{ApiError, ControlError};
use crate::model::*;
use crate::params::Params;
use crate::render::{chat_json, member_json, private_chat_json, user_json};

impl World {
    /// Where a bot's message to `chat_id` goes; validates the bot may write there.
    pub(super) fn message_target(&self, bot_id: i64, chat_id: i64, now: i64) -> Result<Value, ApiError> {
        if let Some(chat) = self.chats.get(&chat_id) {
            let status = self.bot_in_chat(chat, bot_id, now)?;
            if chat.info.kind == ChatKind::Channel {
                let can_post = match &status {
                    MemberStatus::Creator { .. } => true,
                    MemberStatus::Administrator { rights, .. } => rights.can_post_messages,
                    _ => false,
                };
                if !can_post {
                    return Err(ApiError::bad_request("need administrator rights in the channel chat"));
                }
            }
            return Ok(chat_json(&chat.info));
        }
        if let Some(user) = self.users.get(&chat_id) {
            if user.blocked.contains(&bot_id) {
                return Err(ApiError::forbidden("bot was blocked by the user"));
            }
            if !user.started.contains(&bot_id) {
                return Err(ApiError::forbidden("bot can't initiate conversation with a user"));
            }
            return Ok(private_chat_json(&user.info));
        }
        if self.bots.contains_key(&chat_id) {
            return Err(ApiError::forbidden("bot can't send messages to bots"));
        }
        Err(ApiError::chat_not_found())
    }

    pub(super) fn next_message_id(&mut self, bot_id: i64, chat_id: i64) -> i64 {
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            let id = chat.next_message_id;
            chat.next_message_id += 1;
            return id;
        }
        let conv = self.conversations.entry((bot_id, chat_id)).or_default();
        conv.next_message_id += 1;
        conv.next_message_id
    }

    pub(super) fn record_message(&mut self, bot_id: i64, chat_id: i64, from_bot: bool, message: &Value) {
        let rec = MessageRecord {
            bot_id,
            chat_id,
            message_id: message["message_id"].as_i64().unwrap_or(0),
            from_bot,
            text: message["text"].as_str().map(str::to_string),
            reply_markup: message.get("reply_markup").cloned(),
            message: message.clone(),
        };
        self.conversations.entry((bot_id, chat_id)).or_default().messages.push(rec);
    }

    fn find_message_mut(&mut self, bot_id: i64, chat_id: i64, message_id: i64) -> Option<&mut MessageRecord> {
        self.conversations.get_mut(&(bot_id, chat_id))?.messages.iter_mut().find(|m| m.message_id == message_id)
    }

    pub(super) fn parse_markup(p: &Params) -> Result<Option<Value>, ApiError> {
        let Some(markup) = p.json("reply_markup")? else {
            return Ok(None);
        };
        let Some(rows) = markup.get("inline_keyboard") else {
            // Reply keyboards are accepted but not shown on the message object.
            return Ok(None);
        };
        let rows = rows.as_array().ok_or_else(|| {
            ApiError::bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")
        })?;
        for row in rows {
            for button in row.as_array().into_iter().flatten() {
                if button["text"].as_str().is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request("text buttons are unallowed in the inline keyboard"));
                }
                if let Some(data) = button.get("callback_data") {
                    let len = data.as_str().map_or(0, str::len);
                    if !(1..=64).contains(&len) {
                        return Err(ApiError::bad_request("BUTTON_DATA_INVALID"));
                    }
                }
            }
        }
        Ok(Some(json!({ "inline_keyboard": rows })))
    }

    /// `sendMessage`.
    pub(super) fn send_message(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let text = p.req_str("text")?;
        if text.is_empty() {
            return Err(ApiError::missing("text"));
        }
        if text.chars().count() > 4096 {
            return Err(ApiError::bad_request("message is too long"));
        }
        let chat = self.message_target(bot_id, chat_id, now)?;
        let markup = Self::parse_markup(p)?;
        let entities = Self::parse_entities(p, "entities", &text)?;
        let message_id = self.next_message_id(bot_id, chat_id);
        let mut m = json!({
            "message_id": message_id,
            "from": self.bots[&bot_id].user_json(),
            "chat": chat,
            "date": now,
            "text": text,
        });
        if let Some(entities) = entities {
            m["entities"] = entities;
        }
        if let Some(markup) = markup {
            m["reply_markup"] = markup;
        }
        self.record_message(bot_id, chat_id, true, &m);
        Ok(m)
    }

    /// `entities` (or `caption_entities`) of a text: an array of MessageEntity whose
    /// offsets and lengths, in UTF-16 units, fall inside the text, as Telegram checks.
    /// An empty array is as none.
    pub(super) fn parse_entities(p: &Params, field: &str, text: &str) -> Result<Option<Value>, ApiError> {
        let Some(entities) = p.json(field)? else { return Ok(None) };
        let Some(list) = entities.as_array() else {
            return Err(ApiError::bad_request(format!("field \"{field}\" must be an Array")));
        };
        let units = text.encode_utf16().count() as u64;
        for (i, e) in list.iter().enumerate() {
            let kind = e["type"].as_str().unwrap_or_default();
            let (Some(offset), Some(length)) = (e["offset"].as_u64(), e["length"].as_u64()) else {
                return Err(ApiError::bad_request(format!("can't parse entities: entity {i} has no offset or length")));
            };
            if kind.is_empty() || length == 0 || offset.saturating_add(length) > units {
                return Err(ApiError::bad_request(format!(
                    "can't parse entities: entity {i} ({kind}) does not fit the text"
                )));
            }
            if kind == "text_link" && e["url"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::bad_request("can't parse entities: a text_link needs a url"));
            }
        }
        Ok((!list.is_empty()).then(|| entities.clone()))
    }

    /// `copyMessage`: a copy of a message of a conversation the bot is in (text, media,
    /// captions and their entities), without a link to the original; answers a
    /// MessageId. Service messages cannot be copied.
    pub(super) fn copy_message(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        const CONTENT: &[&str] = &[
            "text",
            "entities",
            "photo",
            "document",
            "video",
            "audio",
            "voice",
            "animation",
            "sticker",
            "video_note",
            "caption",
            "caption_entities",
        ];
        let chat_id = self.chat_id_param(p)?;
        let from_chat = self.resolve_chat(&p.req_str("from_chat_id")?)?;
        let message_id = p.req_i64("message_id")?;
        let source = self
            .conversations
            .get(&(bot_id, from_chat))
            .and_then(|c| c.messages.iter().find(|m| m.message_id == message_id))
            .map(|m| m.message.clone())
            .ok_or_else(|| ApiError::bad_request("message to copy not found"))?;
        if !CONTENT.iter().any(|k| source.get(*k).is_some()) {
            return Err(ApiError::bad_request("message can't be copied"));
        }
        let target = self.message_target(bot_id, chat_id, now)?;
        let markup = Self::parse_markup(p)?;
        let reply_to = match p.json("reply_parameters")? {
            Some(r) => {
                let id = r["message_id"].as_i64().ok_or_else(|| ApiError::bad_request("invalid reply parameters"))?;
                let found = self
                    .conversations
                    .get(&(bot_id, chat_id))
                    .and_then(|c| c.messages.iter().find(|m| m.message_id == id))
                    .map(|m| m.message.clone());
                if found.is_none() && !r["allow_sending_without_reply"].as_bool().unwrap_or(false) {
                    return Err(ApiError::bad_request("message to be replied not found"));
                }
                found
            }
            None => None,
        };
        let new_id = self.next_message_id(bot_id, chat_id);
        let mut m = json!({
            "message_id": new_id,
            "from": self.bots[&bot_id].user_json(),
            "chat": target,
            "date": now,
        });
        for key in CONTENT {
            if let Some(v) = source.get(*key) {
                m[*key] = v.clone();
            }
        }
        if p.has("caption") && m.get("text").is_none() {
            m["caption"] = json!(p.str("caption").unwrap_or_default());
            if let Some(o) = m.as_object_mut() {
                o.remove("caption_entities");
            }
        }
        if let Some(mut replied) = reply_to {
            if let Some(o) = replied.as_object_mut() {
                o.remove("reply_to_message");
            }
            m["reply_to_message"] = replied;
        }
        if let Some(markup) = markup {
            m["reply_markup"] = markup;
        }
        self.record_message(bot_id, chat_id, true, &m);
        Ok(json!({ "message_id": new_id }))
    }

    /// `editMessageText` (messages in chats, not inline messages).
    pub(super) fn edit_message_text(&mut self, bot_id: i64, p: &Params, now: i64) -> Result<Value, ApiError> {
        if p.has("inline_message_id") {
            return Err(ApiError::bad_request("MESSAGE_ID_INVALID"));
        }
        let chat_id = self.chat_id_param(p)?;
        let message_id = p.req_i64("message_id")?;
        let text = p.req_str("text")?;
        if text.is_empty() {
            return Err(ApiError::missing("text"));
        }
        let markup = Self::parse_markup(p)?;
        let Some(rec) = self.find_message_mut(bot_id, chat_id, message_id) else {
            return Err(ApiError::bad_request("message to edit not found"));
        };
        if !rec.from_bot {
            return Err(ApiError::bad_request("message can't be edited"));
        }
        if rec.text.as_deref() == Some(text.as_str()) && rec.reply_markup == markup {
            return Err(ApiError::bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            ));
        }
        rec.text = Some(text.clone());
        rec.reply_markup = markup.clone();
        rec.message["text"] = json!(text);
        rec.message["edit_date"] = json!(now);
        match markup {
            Some(m) => rec.message["reply_markup"] = m,
            None => {
                if let Some(o) = rec.message.as_object_mut() {
                    o.remove("reply_markup");
                }
            }
        }
        Ok(rec.message.clone())
    }

    /// `deleteMessage`.
    pub(super) fn delete_message(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let chat_id = self.chat_id_param(p)?;
        let message_id = p.req_i64("message_id")?;
        let conv = self.conversations.get_mut(&(bot_id, chat_id));
        let Some(conv) = conv else {
            return Err(ApiError::bad_request("message to delete not found"));
        };
        let before = conv.messages.len();
        conv.messages.retain(|m| m.message_id != message_id);
        if conv.messages.len() == before {
            return Err(ApiError::bad_request("message to delete not found"));
        }
        Ok(json!(true))
    }

    /// `answerCallbackQuery`: records the answer; a query can be answered once.
    pub(super) fn answer_callback_query(&mut self, bot_id: i64, p: &Params) -> Result<Value, ApiError> {
        let id = p.req_str("callback_query_id")?;
        match self.callbacks.get_mut(&id) {
            Some(cb) if cb.bot_id == bot_id && cb.answer.is_none() => {
                cb.answer = Some(p.as_value());
                Ok(json!(true))
            }
            _ => Err(ApiError::bad_request("query is too old and response timeout expired or query ID is invalid")),
        }
    }

    /// Sends the `my_chat_member` update of a private chat (block / unblock).
    fn private_status_update(&mut self, user_id: i64, bot_id: i64, old: MemberStatus, new: MemberStatus, now: i64) {
        let user = &self.users[&user_id].info;
        let bot_json = self.bots[&bot_id].user_json();
        let v = json!({
            "chat": private_chat_json(user),
            "from": user_json(user),
            "date": now,
            "old_chat_member": member_json(bot_json.clone(), &old, false),
            "new_chat_member": member_json(bot_json, &new, false),
        });
        self.emit(bot_id, "my_chat_member", v);
    }

    /// A user sends a bot a text, a photo or a document, maybe as a reply.
    pub(crate) fn user_sends_message(
        &mut self,
        user_id: i64,
        bot_id: i64,
        sent: &UserMessage,
        now: i64,
    ) -> Result<MessageRecord, ControlError> {
        self.bot_checked(bot_id)?;
        self.user_checked(user_id)?;
        let text = sent.text.clone().unwrap_or_default();
        let media = sent.photo || sent.document.is_some();
        if text.is_empty() && !media {
            return Err(ControlError::invalid("text is empty"));
        }
        if media && !text.is_empty() {
            return Err(ControlError::invalid("a photo or document has a caption, not a text"));
        }
        let reply_to = match sent.reply_to_message_id {
            Some(id) => {
                let found = self
                    .conversations
                    .get(&(bot_id, user_id))
                    .and_then(|c| c.messages.iter().find(|m| m.message_id == id))
                    .map(|m| m.message.clone());
                let Some(mut found) = found else {
                    return Err(ControlError::not_found(format!("message {id} of user {user_id} and bot {bot_id}")));
                };
                if let Some(o) = found.as_object_mut() {
                    o.remove("reply_to_message");
                }
                Some(found)
            }
            None => None,
        };
        let user = self.users.get_mut(&user_id).expect("checked");
        user.started.insert(bot_id);
        if user.blocked.remove(&bot_id) {
            self.private_status_update(
                user_id,
                bot_id,
                MemberStatus::Kicked { until_date: 0 },
                MemberStatus::Member { until_date: None },
                now,
            );
        }
        let mut m = self.user_message(user_id, bot_id, now);
        let message_id = m["message_id"].as_i64().unwrap_or_default();
        if !text.is_empty() {
            m["text"] = json!(text);
        }
        let mut entities: Vec<Value> = Vec::new();
        if text.starts_with('/') {
            let len = text.find(char::is_whitespace).unwrap_or(text.len());
            entities.push(json!({ "type": "bot_command", "offset": 0, "length": text[..len].encode_utf16().count() }));
        }
        entities.extend(sent.entities.as_ref().and_then(Value::as_array).cloned().unwrap_or_default());
        let file = |kind: &str| format!("{kind}-{}-{message_id}-{}", user_id, random_digits());
        if sent.photo {
            m["photo"] = json!([
                {"file_id": file("photo-s"), "file_unique_id": file("u"), "width": 90, "height": 90, "file_size": 1_200},
                {"file_id": file("photo-m"), "file_unique_id": file("u"), "width": 800, "height": 800, "file_size": 64_000},
            ]);
        }
        if let Some(name) = &sent.document {
            m["document"] = json!({"file_id": file("doc"), "file_unique_id": file("u"), "file_name": name,
                                   "mime_type": "application/octet-stream", "file_size": 10_000});
        }
        if media && let Some(caption) = &sent.caption {
            m["caption"] = json!(caption);
            if !entities.is_empty() {
                m["caption_entities"] = json!(entities);
            }
        } else if !entities.is_empty() {
            m["entities"] = json!(entities);
        }
        if let Some(replied) = reply_to {
            m["reply_to_message"] = replied;
        }
        self.record_message(bot_id, user_id, false, &m);
        self.emit(bot_id, "message", m.clone());
        Ok(self.conversations[&(bot_id, user_id)].messages.last().cloned().expect("just recorded"))
    }

    /// A new message from a user in their private chat with a bot: its id, sender, chat
    /// and date (the caller adds its content).
    pub(super) fn user_message(&mut self, user_id: i64, bot_id: i64, now: i64) -> Value {
        let info = self.users[&user_id].info.clone();
        let message_id = self.next_message_id(bot_id, user_id);
        json!({
            "message_id": message_id,
            "from": user_json(&info),
            "chat": private_chat_json(&info),
            "date": now,
        })
    }

    /// The user forwards to the bot a post of `from_chat_id` (Bot API 7.0: the message
    /// carries `forward_origin`, of type `channel` with the channel and the post's id, or
    /// of type `chat` with the `sender_chat` for a group's message sent on its behalf).
    pub(crate) fn user_forwards(
        &mut self,
        user_id: i64,
        bot_id: i64,
        from_chat_id: i64,
        text: &str,
        now: i64,
    ) -> Result<MessageRecord, ControlError> {
        self.bot_checked(bot_id)?;
        self.user_checked(user_id)?;
        let chat =
            self.chats.get(&from_chat_id).ok_or_else(|| ControlError::not_found(format!("chat {from_chat_id}")))?;
        if text.is_empty() {
            return Err(ControlError::invalid("text is empty"));
        }
        let chat_obj = chat_json(&chat.info);
        let origin = if chat.info.kind == ChatKind::Channel {
            json!({"type": "channel", "chat": chat_obj, "message_id": 1, "date": now})
        } else {
            json!({"type": "chat", "sender_chat": chat_obj, "date": now})
        };
        self.users.get_mut(&user_id).expect("checked").started.insert(bot_id);
        let mut m = self.user_message(user_id, bot_id, now);
        m["forward_origin"] = origin;
        m["forward_date"] = json!(now);
        m["text"] = json!(text);
        self.record_message(bot_id, user_id, false, &m);
        self.emit(bot_id, "message", m);
        Ok(self.conversations[&(bot_id, user_id)].messages.last().cloned().expect("just recorded"))
    }

    pub(crate) fn user_presses(
        &mut self,
        user_id: i64,
        bot_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<String, ControlError> {
        self.bot_checked(bot_id)?;
        let info = self.user_checked(user_id)?.info.clone();
        let Some(rec) = self
            .conversations
            .get(&(bot_id, user_id))
            .and_then(|c| c.messages.iter().find(|m| m.message_id == message_id && m.from_bot))
        else {
            return Err(ControlError::not_found(format!("message {message_id} from bot {bot_id} to user {user_id}")));
        };
        let has_button = rec.reply_markup.as_ref().is_some_and(|m| {
            m["inline_keyboard"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row.as_array().into_iter().flatten())
                .any(|b| b["callback_data"].as_str() == Some(data))
        });
        if !has_button {
            return Err(ControlError::conflict(
                "BUTTON_NOT_FOUND",
                format!("message {message_id} has no button with callback_data {data:?}"),
            ));
        }
        let message = rec.message.clone();
        let id = random_digits();
        self.callbacks.insert(id.clone(), CallbackRecord { bot_id, answer: None });
        let v = json!({
            "id": id,
            "from": user_json(&info),
            "message": message,
            "chat_instance": format!("{}", (bot_id ^ user_id).rem_euclid(i64::MAX)),
            "data": data,
        });
        self.emit(bot_id, "callback_query", v);
        Ok(id)
    }

    pub(crate) fn callback_answer(&self, id: &str) -> Option<Option<Value>> {
        self.callbacks.get(id).map(|c| c.answer.clone())
    }

    pub(crate) fn user_blocks(&mut self, user_id: i64, bot_id: i64, block: bool, now: i64) -> Result<(), ControlError> {
        self.bot_checked(bot_id)?;
        self.user_checked(user_id)?;
        let user = self.users.get_mut(&user_id).expect("checked");
        let changed = if block { user.blocked.insert(bot_id) } else { user.blocked.remove(&bot_id) };
        if changed {
            let (old, new) = if block {
                (MemberStatus::Member { until_date: None }, MemberStatus::Kicked { until_date: 0 })
            } else {
                (MemberStatus::Kicked { until_date: 0 }, MemberStatus::Member { until_date: None })
            };
            self.private_status_update(user_id, bot_id, old, new, now);
        }
        Ok(())
    }

    pub(crate) fn messages(&self, bot: Option<i64>, user: Option<i64>) -> Vec<MessageRecord> {
        let mut keys: Vec<&(i64, i64)> = self
            .conversations
            .keys()
            .filter(|(b, c)| bot.is_none_or(|x| x == *b) && user.is_none_or(|x| x == *c))
            .collect();
        keys.sort();
        keys.into_iter().flat_map(|k| self.conversations[k].messages.iter().cloned()).collect()
    }
}
