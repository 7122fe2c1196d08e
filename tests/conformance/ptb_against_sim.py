"""python-telegram-bot against the Gatehouse simulator: every call Gatehouse makes, its
errors and the updates it receives, parsed by an independent client library.

Run by the suite's `conformance::` test with the simulator's address and a prepared world
in the environment. A field the library requires and the simulator leaves out makes the
library's parser raise: the call is reported and the script exits 1. A missing library
is an error too (exit 2): the test fails rather than skips.
"""

import asyncio
import json
import os
import sys
import time

try:
    import telegram
    from telegram.error import BadRequest, TelegramError
except ImportError as e:  # the test must fail, not pass quietly
    print(f"python-telegram-bot is not installed: {e}", file=sys.stderr)
    sys.exit(2)

ENV = json.loads(os.environ["GATEHOUSE_CONFORMANCE"])
failures = []
passed = 0


async def check(name, call, expect_error=None):
    """Runs one call; it must parse (or fail with the expected Telegram error)."""
    global passed
    try:
        result = await call
    except TelegramError as e:
        if expect_error and expect_error in str(e).lower():
            passed += 1
            return None
        failures.append(f"{name}: {type(e).__name__}: {e}")
        return None
    except Exception as e:  # a parse failure: TypeError, KeyError, ValueError…
        failures.append(f"{name}: {type(e).__name__}: {e}")
        return None
    if expect_error:
        failures.append(f"{name}: expected an error containing {expect_error!r}, got {result!r}")
        return None
    passed += 1
    return result


async def main():
    bot = telegram.Bot(token=ENV["token"], base_url=ENV["sim"] + "/bot")
    group, channel = ENV["group"], ENV["channel"]
    member, restricted, owner = ENV["member"], ENV["restricted"], ENV["owner"]
    requester, stranger = ENV["requester"], ENV["stranger"]
    await check("initialize (getMe)", bot.initialize())
    me = await check("getMe", bot.get_me())
    for chat in (group, channel):
        await check(f"getChat {chat}", bot.get_chat(chat))
        await check(f"getChatAdministrators {chat}", bot.get_chat_administrators(chat))
        await check(f"getChatMemberCount {chat}", bot.get_chat_member_count(chat))
        if me is not None:
            await check(f"getChatMember bot {chat}", bot.get_chat_member(chat, me.id))
        await check(f"getChatMember owner {chat}", bot.get_chat_member(chat, owner))
        await check(f"getChatMember member {chat}", bot.get_chat_member(chat, member))
        await check(f"getChatMember left {chat}", bot.get_chat_member(chat, stranger))
    await check("getChatMember restricted", bot.get_chat_member(group, restricted))
    expire = int(time.time()) + 3600
    link = await check(
        "createChatInviteLink single-use",
        bot.create_chat_invite_link(group, name="gh test", expire_date=expire, member_limit=1),
    )
    await check(
        "createChatInviteLink join request",
        bot.create_chat_invite_link(group, name="gh req", expire_date=expire, creates_join_request=True),
    )
    if link is not None:
        await check(
            "editChatInviteLink",
            bot.edit_chat_invite_link(group, link.invite_link, name="gh x", expire_date=expire, member_limit=1),
        )
        await check("revokeChatInviteLink", bot.revoke_chat_invite_link(group, link.invite_link))
    await check("banChatMember", bot.ban_chat_member(group, member))
    await check("getChatMember kicked", bot.get_chat_member(group, member))
    await check("unbanChatMember only_if_banned", bot.unban_chat_member(group, member, only_if_banned=True))
    await check("approveChatJoinRequest", bot.approve_chat_join_request(group, requester))
    await check(
        "approveChatJoinRequest without a request",
        bot.approve_chat_join_request(group, stranger),
        expect_error="hide_requester_missing",
    )
    await check("banChatMember an administrator", bot.ban_chat_member(group, owner), expect_error="owner")
    await check("getChat unknown", bot.get_chat(-100999), expect_error="chat not found")
    await check("sendMessage", bot.send_message(owner, "hello", parse_mode=None))
    sent = await check(
        "sendMessage with entities",
        bot.send_message(owner, "hello bold", entities=[telegram.MessageEntity("bold", 6, 4)]),
    )
    if sent is not None:
        await check("editMessageText", bot.edit_message_text("hello again", chat_id=owner, message_id=sent.message_id))
        await check("copyMessage", bot.copy_message(owner, owner, sent.message_id))
        await check("copyMessage unknown", bot.copy_message(owner, owner, 999999), expect_error="not found")
    await check(
        "sendMessage to a user who never wrote", bot.send_message(stranger, "hi"), expect_error="initiate"
    )
    await check("setMyCommands", bot.set_my_commands([("links", "your links")]))
    await check("getMyCommands", bot.get_my_commands())
    await check("getWebhookInfo", bot.get_webhook_info())
    updates = await check(
        "getUpdates",
        bot.get_updates(
            timeout=0, allowed_updates=["message", "chat_member", "my_chat_member", "chat_join_request"]
        ),
    )
    kinds = set()
    for u in updates or ():
        for kind in ("message", "chat_member", "my_chat_member", "chat_join_request"):
            if getattr(u, kind, None) is not None:
                kinds.add(kind)
    for kind in ("message", "chat_member", "my_chat_member", "chat_join_request"):
        if kind not in kinds:
            failures.append(f"getUpdates: no {kind} update parsed (got {sorted(kinds)})")
    await bot.shutdown()


asyncio.run(main())
print(f"python-telegram-bot {telegram.__version__} (Bot API {telegram.constants.BOT_API_VERSION}): "
      f"{passed} calls parsed, {len(failures)} gaps")
for f in failures:
    print(f"GAP {f}")
sys.exit(1 if failures else 0)
