-- The administrators of each managed chat, as getChatAdministrators last listed them
-- (the creator and the administrators; other bots are left out, the calling bot is
-- in), kept current between reads by the promotions and demotions that chat_member
-- updates report. Read again on each sweep, when a chat is verified, and when
-- Telegram refuses a removal because the target is an administrator.
--
-- A removal reads this list with the member's record instead of asking Telegram
-- about each member first: someone on it is never removed, and a plain member the
-- record knows is removed with one unbanChatMember (without only_if_banned).
-- No row: the chat's administrators have not been read yet.
CREATE TABLE chat_administrators (
    chat_id   uuid PRIMARY KEY REFERENCES chats(id) ON DELETE CASCADE,
    user_ids  bigint[] NOT NULL,
    read_at   timestamptz NOT NULL
);
