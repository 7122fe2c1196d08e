//! Every text Gatehouse sends to a user, in one place, per language. English is
//! the fallback; Russian is chosen for `language_code` starting with "ru".

use chrono::{DateTime, Utc};

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// From Telegram's `language_code`.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some(c) if c.to_ascii_lowercase().starts_with("ru") => Lang::Ru,
            _ => Lang::En,
        }
    }
}

/// A personal invite link for one chat.
pub fn your_link(lang: Lang, chat_title: &str, link: &str, expires: DateTime<Utc>) -> String {
    let when = expires.format("%d %b %H:%M UTC");
    match lang {
        Lang::En => format!(
            "Your access to {chat_title} is ready.\n{link}\nThis link is personal and works once, until {when}. Do not share it: it is tied to your account."
        ),
        Lang::Ru => format!(
            "Доступ к {chat_title} открыт.\n{link}\nСсылка личная и одноразовая, действует до {when}. Не передавайте её: она привязана к вашему аккаунту."
        ),
    }
}

/// A personal join-request link for one chat: Telegram asks the bot, which approves
/// the request because it comes from the account that is entitled.
pub fn your_request_link(lang: Lang, chat_title: &str, link: &str, expires: DateTime<Utc>) -> String {
    let when = expires.format("%d %b %H:%M UTC");
    match lang {
        Lang::En => format!(
            "Your access to {chat_title} is ready.\n{link}\nOpen it and ask to join (until {when}): the request is approved because it comes from your account. If nothing happens, send /links."
        ),
        Lang::Ru => format!(
            "Доступ к {chat_title} открыт.\n{link}\nОткройте ссылку и подайте заявку (до {when}): она будет одобрена, потому что подана с вашего аккаунта. Если ничего не произошло, отправьте /links."
        ),
    }
}

/// Access to a plan ended.
pub fn access_ended(lang: Lang, plan_name: &str) -> String {
    match lang {
        Lang::En => format!("Your access ({plan_name}) has ended. Send /start to renew whenever you like."),
        Lang::Ru => {
            format!("Ваш доступ ({plan_name}) закончился. Отправьте /start, чтобы продлить его в любой момент.")
        }
    }
}

/// Access to a plan ended, with the link that renews it.
pub fn access_ended_renew(lang: Lang, plan_name: &str, renew_link: &str) -> String {
    match lang {
        Lang::En => format!("Your access ({plan_name}) has ended. Renew it whenever you like: {renew_link}"),
        Lang::Ru => format!("Ваш доступ ({plan_name}) закончился. Продлить его можно в любой момент: {renew_link}"),
    }
}

/// Where to pay for a plan (a Stripe Checkout page or a Stars invoice).
pub fn pay_here(lang: Lang, plan_name: &str, url: &str) -> String {
    match lang {
        Lang::En => format!(
            "To get {plan_name}, pay here:\n{url}\nYour access links arrive in this chat once the payment goes through."
        ),
        Lang::Ru => format!(
            "Чтобы получить {plan_name}, оплатите здесь:\n{url}\nСсылки для доступа придут в этот чат после оплаты."
        ),
    }
}

/// The label of the pay button.
pub fn pay_button(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Pay",
        Lang::Ru => "Оплатить",
    }
}

/// The description of a Stars invoice.
pub fn stars_invoice_description(lang: Lang, plan_name: &str, recurring: bool) -> String {
    match (lang, recurring) {
        (Lang::En, true) => format!("{plan_name}: access renewed every 30 days until you cancel."),
        (Lang::En, false) => format!("{plan_name}: access to the members-only chats."),
        (Lang::Ru, true) => format!("{plan_name}: доступ продлевается каждые 30 дней, пока вы не отмените подписку."),
        (Lang::Ru, false) => format!("{plan_name}: доступ к закрытым чатам."),
    }
}

/// Why a Stars payment was declined at pre-checkout (shown by Telegram).
pub fn payment_declined(lang: Lang) -> String {
    match lang {
        Lang::En => "This plan cannot be bought right now. Nothing was charged.".into(),
        Lang::Ru => "Этот тариф сейчас нельзя купить. Оплата не списана.".into(),
    }
}

/// A renewal payment failed.
pub fn payment_failed(lang: Lang, plan_name: &str, access_until: DateTime<Utc>) -> String {
    let when = access_until.format("%d %b %H:%M UTC");
    match lang {
        Lang::En => format!(
            "The payment for {plan_name} did not go through. Please update your payment method: your access continues until {when}."
        ),
        Lang::Ru => {
            format!("Оплата {plan_name} не прошла. Пожалуйста, обновите способ оплаты: доступ сохранится до {when}.")
        }
    }
}

/// Access ends soon.
pub fn access_ends_soon(lang: Lang, plan_name: &str, ends_at: DateTime<Utc>, renew_link: Option<&str>) -> String {
    let when = ends_at.format("%d %b %H:%M UTC");
    let renew = renew_link.map(|l| format!(" {l}")).unwrap_or_default();
    match lang {
        Lang::En => format!("Your access ({plan_name}) ends on {when}. Renew to keep it:{renew}"),
        Lang::Ru => format!("Ваш доступ ({plan_name}) закончится {when}. Продлите, чтобы сохранить его:{renew}"),
    }
}

/// An access code was accepted.
pub fn code_accepted(lang: Lang, plan_name: &str) -> String {
    match lang {
        Lang::En => format!("Code accepted: {plan_name}. Your access links follow."),
        Lang::Ru => format!("Код принят: {plan_name}. Ссылки для доступа придут следующим сообщением."),
    }
}

/// An access code was refused; `reason` is `already_redeemed` or `used_up`.
pub fn code_refused(lang: Lang, reason: &str) -> String {
    match (lang, reason) {
        (Lang::En, "already_redeemed") => "You have already used this code.".into(),
        (Lang::En, _) => "This code is no longer valid.".into(),
        (Lang::Ru, "already_redeemed") => "Вы уже использовали этот код.".into(),
        (Lang::Ru, _) => "Этот код больше не действует.".into(),
    }
}

/// The bot's public commands, with descriptions.
pub fn public_commands(lang: Lang) -> Vec<(&'static str, &'static str)> {
    match lang {
        Lang::En => vec![
            ("start", "Plans and access"),
            ("status", "Your subscriptions"),
            ("links", "Send my links again"),
            ("help", "How this bot works"),
        ],
        Lang::Ru => vec![
            ("start", "Тарифы и доступ"),
            ("status", "Мои подписки"),
            ("links", "Прислать ссылки ещё раз"),
            ("help", "Как работает бот"),
        ],
    }
}

// ----------------------------------------------------------------------------------------
// The membership bot.

/// "ends in 3 days, on 24 Nov" / "закончится через 3 дня, 24 ноя"; "no end date" for lifetime.
pub fn ends_phrase(lang: Lang, now: DateTime<Utc>, ends: Option<DateTime<Utc>>) -> String {
    let Some(ends) = ends else {
        return match lang {
            Lang::En => "no end date".into(),
            Lang::Ru => "без срока".into(),
        };
    };
    // Calendar days between the dates (UTC), as a person counts them.
    let days = (ends.date_naive() - now.date_naive()).num_days();
    let day = ends.format("%-d").to_string();
    match lang {
        Lang::En => {
            let date = format!("{day} {}", ends.format("%b"));
            match days {
                d if d < 0 => format!("ended on {date}"),
                0 => format!("ends today, on {date}"),
                1 => format!("ends in 1 day, on {date}"),
                d => format!("ends in {d} days, on {date}"),
            }
        }
        Lang::Ru => {
            const MONTHS: [&str; 12] =
                ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"];
            use chrono::Datelike;
            let date = format!("{day} {}", MONTHS[ends.month0() as usize]);
            match days {
                d if d < 0 => format!("закончилась {date}"),
                0 => format!("заканчивается сегодня, {date}"),
                d => format!("закончится через {d} {}, {date}", ru_plural(d, "день", "дня", "дней")),
            }
        }
    }
}

fn ru_plural(n: i64, one: &'static str, few: &'static str, many: &'static str) -> &'static str {
    let (n10, n100) = (n % 10, n % 100);
    if n10 == 1 && n100 != 11 {
        one
    } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
        few
    } else {
        many
    }
}

/// A price in words: "5.00 USD", "250 Stars".
pub fn price(minor: i64, currency: &str) -> String {
    if currency == "XTR" {
        return format!("{minor} Stars");
    }
    format!("{} {currency}", crate::money::decimal(minor, currency))
}

/// A plan's length: "30 days" / "lifetime".
pub fn duration(lang: Lang, days: Option<i32>) -> String {
    match (lang, days) {
        (Lang::En, None) => "lifetime".into(),
        (Lang::En, Some(1)) => "1 day".into(),
        (Lang::En, Some(d)) => format!("{d} days"),
        (Lang::Ru, None) => "навсегда".into(),
        (Lang::Ru, Some(d)) => format!("{d} {}", ru_plural(d.into(), "день", "дня", "дней")),
    }
}

/// The command list the owner and their admins see: the public commands and theirs.
pub fn owner_commands(lang: Lang) -> Vec<(&'static str, &'static str)> {
    let mut commands = public_commands(lang);
    commands.extend(match lang {
        Lang::En => [
            ("check", "A member: status, payments, links, chats"),
            ("ban", "Ban a member from every chat"),
            ("unban", "Lift a ban"),
            ("grant", "Give access: /grant <user_id> <plan> <days>"),
            ("stats", "Members, subscriptions, joins and removals"),
        ],
        Lang::Ru => [
            ("check", "Участник: статус, оплаты, ссылки, чаты"),
            ("ban", "Заблокировать участника во всех чатах"),
            ("unban", "Снять блокировку"),
            ("grant", "Выдать доступ: /grant <id> <тариф> <дни>"),
            ("stats", "Участники, подписки, входы и удаления"),
        ],
    });
    commands.extend(setup_commands(lang));
    commands
}

/// The home screen, above the plans' buttons.
pub fn home(lang: Lang, project: &str, has_plans: bool) -> String {
    match (lang, has_plans) {
        (Lang::En, true) => {
            format!("Welcome to {project}.\nChoose a plan to join, or send /status to see your access.")
        }
        (Lang::En, false) => {
            format!("Welcome to {project}.\nNothing is on sale right now. Send /status to see your access.")
        }
        (Lang::Ru, true) => {
            format!("Добро пожаловать в {project}.\nВыберите тариф или отправьте /status, чтобы увидеть свой доступ.")
        }
        (Lang::Ru, false) => format!(
            "Добро пожаловать в {project}.\nСейчас ничего не продаётся. Отправьте /status, чтобы увидеть свой доступ."
        ),
    }
}

/// A plan's details, above its payment buttons.
pub fn plan_details(
    lang: Lang,
    name: &str,
    price: &str,
    duration: &str,
    chats: &[String],
    recurring: bool,
    trial_days: i32,
) -> String {
    let chats = chats.join(", ");
    match lang {
        Lang::En => {
            let mut t = format!(
                "{name}: {price}, {duration}{}.\nAccess to: {chats}.",
                if recurring { ", renews automatically" } else { "" }
            );
            if trial_days > 0 {
                t.push_str(&format!("\nFree for the first {trial_days} days."));
            }
            t.push_str("\nChoose how to pay:");
            t
        }
        Lang::Ru => {
            let mut t = format!(
                "{name}: {price}, {duration}{}.\nДоступ к: {chats}.",
                if recurring { ", продлевается автоматически" } else { "" }
            );
            if trial_days > 0 {
                t.push_str(&format!(
                    "\nПервые {trial_days} {} бесплатно.",
                    ru_plural(trial_days.into(), "день", "дня", "дней")
                ));
            }
            t.push_str("\nВыберите способ оплаты:");
            t
        }
    }
}

/// A plan that cannot be bought now.
pub fn plan_unavailable(lang: Lang) -> String {
    match lang {
        Lang::En => "This plan is not on sale any more. Send /start to see what is.".into(),
        Lang::Ru => "Этот тариф больше не продаётся. Отправьте /start, чтобы увидеть доступные.".into(),
    }
}

/// A plan with no way to pay configured.
pub fn no_payment_method(lang: Lang) -> String {
    match lang {
        Lang::En => "Payments for this plan are not set up yet. Please contact the owner.".into(),
        Lang::Ru => "Оплата этого тарифа ещё не настроена. Свяжитесь с владельцем.".into(),
    }
}

/// One line of /status.
pub fn status_line(lang: Lang, plan: &str, state: &str, ends: &str) -> String {
    let state = match (lang, state) {
        (Lang::En, "trialing") => "trial",
        (Lang::En, "past_due") => "payment due",
        (Lang::En, "canceled") => "canceled, access until the end",
        (Lang::En, "active") => "active",
        (Lang::Ru, "trialing") => "пробный период",
        (Lang::Ru, "past_due") => "ожидает оплаты",
        (Lang::Ru, "canceled") => "отменена, доступ до конца срока",
        (Lang::Ru, "active") => "активна",
        (_, other) => other,
    };
    format!("• {plan}: {state}, {ends}")
}

/// /status heading.
pub fn status_heading(lang: Lang, any: bool) -> String {
    match (lang, any) {
        (Lang::En, true) => "Your access:".into(),
        (Lang::En, false) => "You have no active access. Send /start to see the plans.".into(),
        (Lang::Ru, true) => "Ваш доступ:".into(),
        (Lang::Ru, false) => "У вас нет активного доступа. Отправьте /start, чтобы увидеть тарифы.".into(),
    }
}

/// /links answer.
pub fn links_answer(lang: Lang, chats: usize) -> String {
    match (lang, chats) {
        (Lang::En, 0) => "You have no access that needs a link. Send /start to see the plans.".into(),
        (Lang::En, n) => format!("Sending your personal links again ({n})…"),
        (Lang::Ru, 0) => "У вас нет доступа, для которого нужна ссылка. Отправьте /start, чтобы увидеть тарифы.".into(),
        (Lang::Ru, n) => format!("Отправляю ваши личные ссылки ещё раз ({n})…"),
    }
}

/// /cancel: what will be canceled, with a confirm button.
pub fn cancel_confirm(lang: Lang, plans: &str) -> String {
    match lang {
        Lang::En => format!("Cancel the renewal of {plans}? You keep access until the end of the period you paid for."),
        Lang::Ru => format!("Отменить продление {plans}? Доступ сохранится до конца оплаченного периода."),
    }
}

/// /cancel with nothing to cancel.
pub fn cancel_nothing(lang: Lang) -> String {
    match lang {
        Lang::En => "You have no renewing subscription to cancel.".into(),
        Lang::Ru => "У вас нет продлеваемой подписки.".into(),
    }
}

/// /cancel confirmed.
pub fn cancel_done(lang: Lang) -> String {
    match lang {
        Lang::En => {
            "Done: it will not renew. Your access lasts until the end of the period; /status shows when.".into()
        }
        Lang::Ru => "Готово: продления не будет. Доступ сохранится до конца периода, срок — в /status.".into(),
    }
}

/// Button labels.
pub fn button(lang: Lang, which: &str) -> String {
    let t = match (lang, which) {
        (Lang::En, "renew") => "Renew",
        (Lang::En, "cancel") => "Cancel renewal",
        (Lang::En, "confirm_cancel") => "Yes, cancel",
        (Lang::En, "keep") => "No, keep it",
        (Lang::En, "stripe") => "Pay by card",
        (Lang::En, "stars") => "Pay with Stars",
        (Lang::En, "back") => "All plans",
        (Lang::Ru, "renew") => "Продлить",
        (Lang::Ru, "cancel") => "Отменить продление",
        (Lang::Ru, "confirm_cancel") => "Да, отменить",
        (Lang::Ru, "keep") => "Нет, оставить",
        (Lang::Ru, "stripe") => "Оплатить картой",
        (Lang::Ru, "stars") => "Оплатить звёздами",
        (Lang::Ru, "back") => "Все тарифы",
        (_, other) => other,
    };
    t.to_string()
}

/// /help.
pub fn help(lang: Lang) -> String {
    match lang {
        Lang::En => "This bot lets you into the channels of your plan.\n/start — plans\n/status — your access and when it ends\n/links — your personal invite links again\n/cancel — stop a subscription from renewing\nInvite links are personal: a link used by someone else stops working and they are removed.".into(),
        Lang::Ru => "Этот бот открывает доступ к каналам вашего тарифа.\n/start — тарифы\n/status — ваш доступ и его срок\n/links — ваши личные ссылки ещё раз\n/cancel — отменить продление подписки\nСсылки личные: если по ней войдёт кто-то другой, ссылка перестанет работать, а его удалят.".into(),
    }
}

/// A banned user's /start.
pub fn refused(lang: Lang) -> String {
    match lang {
        Lang::En => "Sorry, you cannot use this bot.".into(),
        Lang::Ru => "К сожалению, вы не можете пользоваться этим ботом.".into(),
    }
}

/// An unknown command (and any owner command from someone else).
pub fn unknown_command(lang: Lang) -> String {
    match lang {
        Lang::En => "I don't know that command. Send /help to see what I can do.".into(),
        Lang::Ru => "Я не знаю такой команды. Отправьте /help, чтобы увидеть, что я умею.".into(),
    }
}

/// An `accesstoken_…` deep link that is unknown, expired or already used.
pub fn token_invalid(lang: Lang) -> String {
    match lang {
        Lang::En => "This access link is not valid, or it has been used already. Send /start to see the plans.".into(),
        Lang::Ru => {
            "Эта ссылка доступа недействительна или уже использована. Отправьте /start, чтобы увидеть тарифы.".into()
        }
    }
}

/// Access was granted (code, token, owner /grant).
pub fn access_granted(lang: Lang, plan: &str, ends: &str) -> String {
    match lang {
        Lang::En => format!("You have access: {plan}, {ends}. Your personal links are on their way."),
        Lang::Ru => format!("Доступ открыт: {plan}, {ends}. Личные ссылки уже в пути."),
    }
}

/// To the owner, at most once per chat per day: a paying member's single-use link
/// was spent while they stayed outside, so someone else may have used it.
pub fn link_possibly_misused(chat_title: &str) -> String {
    format!(
        "In {chat_title}, a paying member was not inside although their single-use invite link had been handed out: \
         someone else may have used it (Telegram did not report that join). Their link was revoked and a fresh one sent. \
         Join-request mode binds entry to the person: consider switching the chat to join_request."
    )
}

/// To the owner, at most once per chat per day: Telegram counts more people in the
/// chat than Gatehouse has seen (members, administrators and bots).
pub fn unseen_members(chat_title: &str, unseen: i64) -> String {
    format!(
        "{chat_title}: Telegram counts {unseen} more people than Gatehouse has seen join. Telegram does not report every join \
         and cannot list a chat's members, so they cannot be removed by name. Join-request mode lets nobody in unseen."
    )
}

// ----------------------------------------------------------------------------------------
// Broadcasts and the support relay (the owner's side and the subscriber's).

/// A count as a person reads it: "1,250" / "1 250" (a no-break space).
pub fn count(lang: Lang, n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = match lang {
        Lang::En => ",",
        Lang::Ru => "\u{a0}",
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A broadcast segment in words.
pub fn broadcast_segment(lang: Lang, segment: &str, within_days: Option<i32>) -> String {
    let days = i64::from(within_days.unwrap_or(0));
    match (lang, segment) {
        (Lang::En, "active") => "active subscribers".into(),
        (Lang::En, "trialing") => "subscribers in a trial".into(),
        (Lang::En, "past_due") => "subscribers whose payment is due".into(),
        (Lang::En, "expired") => {
            format!("subscribers whose access ended within {days} {}", if days == 1 { "day" } else { "days" })
        }
        (Lang::En, _) => "every subscriber".into(),
        (Lang::Ru, "active") => "активные подписчики".into(),
        (Lang::Ru, "trialing") => "подписчики на пробном периоде".into(),
        (Lang::Ru, "past_due") => "подписчики, ожидающие оплаты".into(),
        (Lang::Ru, "expired") => {
            format!("подписчики, чей доступ закончился за {days} {}", ru_plural(days, "день", "дня", "дней"))
        }
        (Lang::Ru, _) => "все подписчики".into(),
    }
}

/// `/broadcast` with wrong arguments: how to write one.
pub fn broadcast_usage(lang: Lang) -> String {
    match lang {
        Lang::En => "Usage: /broadcast <active|trialing|past_due|expired <days>|all>, then the message on the next lines (formatting is kept), and optionally a last line \"button: <label> | <https://url>\". /broadcast stop cancels the broadcasts being sent.".into(),
        Lang::Ru => "Формат: /broadcast <active|trialing|past_due|expired <дни>|all>, затем текст сообщения со следующей строки (оформление сохраняется) и, если нужно, последняя строка \"button: <надпись> | <https://адрес>\". /broadcast stop отменяет идущие рассылки.".into(),
    }
}

/// The button line or the text of a broadcast is not acceptable: what is wrong.
pub fn broadcast_invalid(lang: Lang, problem: &str) -> String {
    let problem = match (lang, problem) {
        (Lang::En, "empty") => "the message is empty: write it on the lines after the command",
        (Lang::En, "too_long") => "the message is longer than Telegram's 4,096 characters",
        (Lang::En, "button") => {
            "the button line must be \"button: <label> | <url>\", a label of at most 64 characters and an https:// or http:// address"
        }
        (Lang::Ru, "empty") => "сообщение пустое: напишите его на строках после команды",
        (Lang::Ru, "too_long") => "сообщение длиннее 4096 символов, которые допускает Telegram",
        (Lang::Ru, "button") => {
            "строка кнопки должна быть \"button: <надпись> | <адрес>\", надпись не длиннее 64 символов, адрес https:// или http://"
        }
        (_, other) => other,
    };
    match lang {
        Lang::En => format!("Not sent: {problem}."),
        Lang::Ru => format!("Не отправлено: {problem}."),
    }
}

/// A broadcast composed: who gets it, and the question.
pub fn broadcast_confirm(lang: Lang, segment: &str, recipients: i64) -> String {
    let n = count(lang, recipients);
    match lang {
        Lang::En => format!(
            "Broadcast to {segment}: {n} {} will receive it. Send it?",
            if recipients == 1 { "subscriber" } else { "subscribers" }
        ),
        Lang::Ru => format!(
            "Рассылка ({segment}): её получат {n} {}. Отправить?",
            ru_plural(recipients, "подписчик", "подписчика", "подписчиков")
        ),
    }
}

// ------------------------------------------------------------ owner setup (in the project's bot)

/// The owner's setup commands, listed after the other owner commands.
pub fn setup_commands(lang: Lang) -> Vec<(&'static str, &'static str)> {
    match lang {
        Lang::En => vec![
            ("addplan", "New plan: /addplan <name> <price> <currency> <days|lifetime>"),
            ("plans", "Plans, on sale or not"),
            ("addchat", "Add a channel or group"),
            ("chats", "Managed chats and their state"),
            ("apikey", "A new API key (shown once)"),
            ("apikeys", "API keys; revoke one"),
            ("codes", "Access codes: /codes <n> [plan] [days] [uses]"),
            ("broadcast", "A message to your subscribers"),
            ("support", "Subscribers' messages to you: /support on|off"),
        ],
        Lang::Ru => vec![
            ("addplan", "Новый тариф: /addplan <название> <цена> <валюта> <дни|lifetime>"),
            ("plans", "Тарифы: в продаже или нет"),
            ("addchat", "Добавить канал или группу"),
            ("chats", "Подключённые чаты и их состояние"),
            ("apikey", "Новый API-ключ (показывается один раз)"),
            ("apikeys", "API-ключи; отозвать ключ"),
            ("codes", "Коды доступа: /codes <n> [тариф] [дни] [использований]"),
            ("broadcast", "Сообщение подписчикам"),
            ("support", "Сообщения подписчиков вам: /support on|off"),
        ],
    }
}

/// A setup action was refused: what was wrong (the rule's own message).
pub fn setup_refused(lang: Lang, reason: &str) -> String {
    match lang {
        Lang::En => format!("Not done: {reason}"),
        Lang::Ru => format!("Не выполнено: {reason}"),
    }
}

/// The usage of an owner command.
pub fn usage(lang: Lang, usage: &str) -> String {
    match lang {
        Lang::En => format!("Usage: {usage}"),
        Lang::Ru => format!("Формат: {usage}"),
    }
}

/// A plan was created.
pub fn plan_created(lang: Lang, name: &str, price: &str, duration: &str, chats: &str) -> String {
    match lang {
        Lang::En => format!("Plan {name} created: {price}, {duration}, grants {chats}. It is on sale now (/plans)."),
        Lang::Ru => {
            format!("Тариф {name} создан: {price}, {duration}, даёт доступ к {chats}. Он уже в продаже (/plans).")
        }
    }
}

/// `/addplan` before any chat is ready.
pub fn plan_needs_chat(lang: Lang) -> String {
    match lang {
        Lang::En => "A plan grants chats: add one first with /addchat.".into(),
        Lang::Ru => "Тариф даёт доступ к чатам: сначала добавьте чат командой /addchat.".into(),
    }
}

/// `/plans`: the heading, and one line per plan.
pub fn plans_list(lang: Lang, lines: &[String]) -> String {
    let heading = match (lang, lines.is_empty()) {
        (Lang::En, true) => "No plans yet: create one with /addplan.",
        (Lang::Ru, true) => "Тарифов пока нет: создайте тариф командой /addplan.",
        (Lang::En, false) => "Your plans:",
        (Lang::Ru, false) => "Ваши тарифы:",
    };
    std::iter::once(heading.to_string()).chain(lines.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// One plan in `/plans`.
pub fn plan_line(lang: Lang, name: &str, price: &str, duration: &str, on_sale: bool) -> String {
    let state = match (lang, on_sale) {
        (Lang::En, true) => "on sale",
        (Lang::En, false) => "off sale",
        (Lang::Ru, true) => "в продаже",
        (Lang::Ru, false) => "снят с продажи",
    };
    format!("• {name}: {price}, {duration} — {state}")
}

/// A plan's sale state changed.
pub fn plan_sale_changed(lang: Lang, name: &str, on_sale: bool) -> String {
    match (lang, on_sale) {
        (Lang::En, true) => format!("{name} is on sale again."),
        (Lang::En, false) => format!("{name} is off sale: nobody can buy it; current subscribers keep their access."),
        (Lang::Ru, true) => format!("{name} снова в продаже."),
        (Lang::Ru, false) => {
            format!("{name} снят с продажи: купить его нельзя; у текущих подписчиков доступ сохраняется.")
        }
    }
}

/// `/addchat` without arguments: how to add a chat.
pub fn addchat_howto(lang: Lang, channel_link: &str, group_link: &str) -> String {
    match lang {
        Lang::En => format!(
            "Add me as an administrator (I need to invite users, ban users and manage the chat):\nChannel: {channel_link}\nGroup: {group_link}\nOr, once I am an administrator there, forward me a post from it or send /addchat <chat_id or @username>."
        ),
        Lang::Ru => format!(
            "Добавьте меня администратором (нужны права приглашать и блокировать пользователей и управлять чатом):\nКанал: {channel_link}\nГруппа: {group_link}\nИли, когда я стану там администратором, перешлите мне пост оттуда или отправьте /addchat <id чата или @имя>."
        ),
    }
}

/// The confirmation's buttons: (send, cancel), and the progress message's cancel button.
pub fn broadcast_buttons(lang: Lang, recipients: i64) -> (String, String, String) {
    let n = count(lang, recipients);
    match lang {
        Lang::En => (format!("Send to {n}"), "Cancel".into(), "Cancel broadcast".into()),
        Lang::Ru => (format!("Отправить ({n})"), "Отмена".into(), "Отменить рассылку".into()),
    }
}

/// The progress message: "sent 1,203 of 1,250 · 47 unreachable".
pub fn broadcast_progress(
    lang: Lang,
    segment: &str,
    state: &str,
    total: i64,
    sent: i64,
    unreachable: i64,
    failed: i64,
) -> String {
    let (sent, total, unreachable_n) = (count(lang, sent), count(lang, total), count(lang, unreachable));
    let (head, counts) = match lang {
        Lang::En => (
            match state {
                "done" => format!("Broadcast to {segment} done"),
                "cancelled" => format!("Broadcast to {segment} cancelled"),
                _ => format!("Broadcast to {segment}"),
            },
            format!("sent {sent} of {total} · {unreachable_n} unreachable"),
        ),
        Lang::Ru => (
            match state {
                "done" => format!("Рассылка ({segment}) завершена"),
                "cancelled" => format!("Рассылка ({segment}) отменена"),
                _ => format!("Рассылка ({segment})"),
            },
            format!("отправлено {sent} из {total} · недоступны: {unreachable_n}"),
        ),
    };
    let failed = match (lang, failed) {
        (_, 0) => String::new(),
        (Lang::En, n) => format!(" · {} failed", count(lang, n)),
        (Lang::Ru, n) => format!(" · ошибки: {}", count(lang, n)),
    };
    format!("{head}: {counts}{failed}")
}

/// A draft broadcast the owner cancelled before sending.
pub fn broadcast_not_sent(lang: Lang) -> String {
    match lang {
        Lang::En => "Broadcast cancelled: nothing was sent.".into(),
        Lang::Ru => "Рассылка отменена: ничего не отправлено.".into(),
    }
}

/// `/broadcast stop`: how many broadcasts were stopped.
pub fn broadcast_stopped(lang: Lang, n: usize) -> String {
    match (lang, n) {
        (Lang::En, 0) => "No broadcast is being sent.".into(),
        (Lang::En, n) => format!("Stopped {n} {}.", if n == 1 { "broadcast" } else { "broadcasts" }),
        (Lang::Ru, 0) => "Сейчас нет идущих рассылок.".into(),
        (Lang::Ru, n) => format!("Остановлено рассылок: {n}."),
    }
}

/// `/support on|off`: the relay's new state.
pub fn support_switched(lang: Lang, on: bool) -> String {
    match (lang, on) {
        (Lang::En, true) => "Support is on: subscribers' messages (other than commands) come to you and your admins. Reply to one to answer.".into(),
        (Lang::En, false) => "Support is off: subscribers' messages are no longer passed on.".into(),
        (Lang::Ru, true) => "Поддержка включена: сообщения подписчиков (кроме команд) приходят вам и вашим администраторам. Чтобы ответить, ответьте на сообщение.".into(),
        (Lang::Ru, false) => "Поддержка выключена: сообщения подписчиков больше не пересылаются.".into(),
    }
}

/// `/support` without on or off.
pub fn support_usage(lang: Lang) -> String {
    match lang {
        Lang::En => "Usage: /support on|off".into(),
        Lang::Ru => "Формат: /support on|off".into(),
    }
}

/// Above a subscriber's relayed message, in a staff member's chat: who wrote and
/// where they stand (`standing`: the lines of /status, or none).
pub fn support_header(lang: Lang, name: &str, username: Option<&str>, user_id: i64, standing: &[String]) -> String {
    let who = match username {
        Some(u) => format!("{name} (@{u}, id {user_id})"),
        None => format!("{name} (id {user_id})"),
    };
    let standing = if standing.is_empty() {
        match lang {
            Lang::En => "No active subscription.".to_string(),
            Lang::Ru => "Нет активной подписки.".to_string(),
        }
    } else {
        standing.join("\n")
    };
    match lang {
        Lang::En => format!("Message from {who}:\n{standing}\nReply to this message or the next one to answer."),
        Lang::Ru => {
            format!("Сообщение от {who}:\n{standing}\nЧтобы ответить, ответьте на это или следующее сообщение.")
        }
    }
}

/// A chat was added and is being checked.
pub fn chat_checking(lang: Lang, chat: &str) -> String {
    match lang {
        Lang::En => format!("Checking my rights in {chat}…"),
        Lang::Ru => format!("Проверяю мои права в {chat}…"),
    }
}

/// `/addchat @username`: Telegram knows no such chat, or the bot cannot see it.
pub fn chat_unknown(lang: Lang, username: &str) -> String {
    match lang {
        Lang::En => format!("I cannot see {username}: add me to it as an administrator first, then try again."),
        Lang::Ru => format!("Я не вижу {username}: сначала добавьте меня туда администратором, затем повторите."),
    }
}

/// `verify-chat` found the chat ready.
pub fn chat_ready(lang: Lang, chat: &str) -> String {
    match lang {
        Lang::En => format!("{chat} is ready: I can invite and remove members. Sell access to it with /addplan."),
        Lang::Ru => format!("{chat} готов: я могу приглашать и удалять участников. Продавайте доступ через /addplan."),
    }
}

/// `verify-chat` found something missing.
pub fn chat_not_ready(lang: Lang, chat: &str, problem: &str) -> String {
    match lang {
        Lang::En => format!("{chat} is not ready: {problem}. Fix it, then send /addchat again."),
        Lang::Ru => format!("{chat} не готов: {problem}. Исправьте это и отправьте /addchat ещё раз."),
    }
}

/// `/chats`.
pub fn chats_list(lang: Lang, lines: &[String]) -> String {
    let heading = match (lang, lines.is_empty()) {
        (Lang::En, true) => "No chats yet: add one with /addchat.",
        (Lang::Ru, true) => "Чатов пока нет: добавьте чат командой /addchat.",
        (Lang::En, false) => "Your chats:",
        (Lang::Ru, false) => "Ваши чаты:",
    };
    std::iter::once(heading.to_string()).chain(lines.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// One chat in `/chats`.
pub fn chat_line(lang: Lang, chat: &str, id: i64, status: &str, reason: Option<&str>) -> String {
    let status = match (lang, status) {
        (Lang::En, s) => s.replace('_', " "),
        (Lang::Ru, "ready") => "готов".into(),
        (Lang::Ru, "pending") => "проверяется".into(),
        (Lang::Ru, _) => "не готов".into(),
    };
    match reason {
        Some(r) => format!("• {chat} ({id}): {status} — {r}"),
        None => format!("• {chat} ({id}): {status}"),
    }
}

/// `/apikey`: the key, shown once, and its TGmembership-compatible base URL.
pub fn apikey_created(lang: Lang, name: &str, key: &str, compat_url: &str) -> String {
    match lang {
        Lang::En => format!(
            "New API key {name} (shown once, keep it safe):\n{key}\nIntegrator API: Authorization: Bearer <key>\nTGmembership-compatible URL:\n{compat_url}"
        ),
        Lang::Ru => format!(
            "Новый API-ключ {name} (показывается один раз, сохраните его):\n{key}\nAPI для интеграций: Authorization: Bearer <ключ>\nАдрес, совместимый с TGmembership:\n{compat_url}"
        ),
    }
}

/// `/apikeys`.
pub fn apikeys_list(lang: Lang, lines: &[String]) -> String {
    let heading = match (lang, lines.is_empty()) {
        (Lang::En, true) => "No API keys in force: make one with /apikey.",
        (Lang::Ru, true) => "Действующих API-ключей нет: создайте ключ командой /apikey.",
        (Lang::En, false) => "API keys in force:",
        (Lang::Ru, false) => "Действующие API-ключи:",
    };
    std::iter::once(heading.to_string()).chain(lines.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// A key was revoked (or was not in force).
pub fn apikey_revoked(lang: Lang, name: &str, done: bool) -> String {
    match (lang, done) {
        (Lang::En, true) => format!("Key {name} revoked: it is refused from now on."),
        (Lang::En, false) => "That key is not in force.".into(),
        (Lang::Ru, true) => format!("Ключ {name} отозван: он больше не принимается."),
        (Lang::Ru, false) => "Этот ключ не действует.".into(),
    }
}

/// `/codes`: the links.
pub fn codes_created(lang: Lang, plan: &str, links: &[String]) -> String {
    let heading = match lang {
        Lang::En => format!("{} access codes for {plan}:", links.len()),
        Lang::Ru => format!("Коды доступа к {plan} ({} шт.):", links.len()),
    };
    std::iter::once(heading).chain(links.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// `/codes` without a plan, when the project has several (or none).
pub fn codes_which_plan(lang: Lang, names: &[String]) -> String {
    match (lang, names.is_empty()) {
        (Lang::En, true) => "No plans yet: create one with /addplan.".into(),
        (Lang::Ru, true) => "Тарифов пока нет: создайте тариф командой /addplan.".into(),
        (Lang::En, false) => format!("Which plan? /codes <n> <plan> [days] [uses]; plans: {}", names.join(", ")),
        (Lang::Ru, false) => {
            format!("Для какого тарифа? /codes <n> <тариф> [дни] [использований]; тарифы: {}", names.join(", "))
        }
    }
}

/// `/stats`: the integrator API's analytics for the last 30 days.
pub fn stats_analytics(lang: Lang, active: i64, new: i64, churned: i64, mrr: &str) -> String {
    match lang {
        Lang::En => format!("Last 30 days: {active} active, {new} new, {churned} churned; MRR {mrr}"),
        Lang::Ru => format!("За 30 дней: активных {active}, новых {new}, ушедших {churned}; MRR {mrr}"),
    }
}

/// The setup buttons' labels.
pub fn setup_button(lang: Lang, which: &str) -> String {
    match (lang, which) {
        (Lang::En, "off_sale") => "Take off sale",
        (Lang::En, "on_sale") => "Put on sale",
        (Lang::En, "revoke") => "Revoke",
        (Lang::En, "connect") => "Connect bot",
        (Lang::En, "new_project") => "New project",
        (Lang::Ru, "off_sale") => "Снять с продажи",
        (Lang::Ru, "on_sale") => "Вернуть в продажу",
        (Lang::Ru, "revoke") => "Отозвать",
        (Lang::Ru, "connect") => "Подключить бота",
        (Lang::Ru, "new_project") => "Новый проект",
        _ => which,
    }
    .to_string()
}

/// The guided `/addplan`: the question of each step.
pub fn addplan_question(lang: Lang, step: &str) -> String {
    match (lang, step) {
        (Lang::En, "name") => "New plan. What is it called?",
        (Lang::En, "price") => {
            "Its price and currency, as you would write them: 15.00 EUR, or 250 XTR for Telegram Stars."
        }
        (Lang::En, "duration") => "How long does one payment give access? Pick one, or type a number of days.",
        (Lang::En, "recurring") => "Does it renew automatically every period?",
        (Lang::En, "trial") => "A free trial first?",
        (Lang::En, "chats") => "Which chats does it grant? Tap to select, then Done.",
        (Lang::En, "methods") => "How can subscribers pay?",
        (Lang::En, "stars") => "Its price in Telegram Stars (a whole number)?",
        (Lang::Ru, "name") => "Новый тариф. Как он называется?",
        (Lang::Ru, "price") => "Цена и валюта, как вы их пишете: 15.00 EUR или 250 XTR для Telegram Stars.",
        (Lang::Ru, "duration") => "На сколько даёт доступ один платёж? Выберите или напишите число дней.",
        (Lang::Ru, "recurring") => "Продлевается ли он автоматически каждый период?",
        (Lang::Ru, "trial") => "Сначала бесплатный пробный период?",
        (Lang::Ru, "chats") => "К каким чатам он даёт доступ? Отметьте и нажмите «Готово».",
        (Lang::Ru, "methods") => "Как подписчики могут платить?",
        (Lang::Ru, "stars") => "Цена в Telegram Stars (целое число)?",
        _ => "?",
    }
    .to_string()
}

/// The guided `/addplan`: the summary to confirm.
#[allow(clippy::too_many_arguments)]
pub fn addplan_summary(
    lang: Lang,
    name: &str,
    price: &str,
    duration: &str,
    recurring: bool,
    trial_days: i64,
    chats: &str,
    stars: Option<&str>,
    stars_only: bool,
) -> String {
    let paid_by = match (lang, stars_only, stars) {
        (Lang::En, true, _) => "Telegram Stars".to_string(),
        (Lang::Ru, true, _) => "Telegram Stars".to_string(),
        (Lang::En, false, None) => "card".to_string(),
        (Lang::Ru, false, None) => "картой".to_string(),
        (Lang::En, false, Some(s)) => format!("card or {s}"),
        (Lang::Ru, false, Some(s)) => format!("картой или {s}"),
    };
    match lang {
        Lang::En => format!(
            "{name}: {price}, {duration}, {}, {}; grants {chats}; paid by {paid_by}. Create it?",
            if recurring { "renews automatically" } else { "one payment" },
            if trial_days > 0 { format!("{trial_days}-day trial") } else { "no trial".into() },
        ),
        Lang::Ru => format!(
            "{name}: {price}, {duration}, {}, {}; доступ к {chats}; оплата: {paid_by}. Создать?",
            if recurring { "продлевается автоматически" } else { "один платёж" },
            if trial_days > 0 {
                format!("пробный период {trial_days} дн.")
            } else {
                "без пробного периода".into()
            },
        ),
    }
}

/// The guided `/addplan` was cancelled, or an answer was not understood.
pub fn addplan_other(lang: Lang, which: &str) -> String {
    match (lang, which) {
        (Lang::En, "cancelled") => "The plan was not created.",
        (Lang::En, "again") => "I did not understand that. ",
        (Lang::En, "no_chat") => "Select at least one chat.",
        (Lang::Ru, "cancelled") => "Тариф не создан.",
        (Lang::Ru, "again") => "Не понял ответ. ",
        (Lang::Ru, "no_chat") => "Отметьте хотя бы один чат.",
        _ => "",
    }
    .to_string()
}

/// The guided `/addplan`'s buttons.
pub fn addplan_button(lang: Lang, which: &str) -> String {
    match (lang, which) {
        (Lang::En, "lifetime") => "Lifetime",
        (Lang::En, "yes") => "Yes, it renews",
        (Lang::En, "no") => "No, one payment",
        (Lang::En, "no_trial") => "No trial",
        (Lang::En, "done") => "Done",
        (Lang::En, "card") => "Card (Stripe)",
        (Lang::En, "card_stars") => "Card or Telegram Stars",
        (Lang::En, "create") => "Create",
        (Lang::En, "cancel") => "Cancel",
        (Lang::Ru, "lifetime") => "Навсегда",
        (Lang::Ru, "yes") => "Да, продлевается",
        (Lang::Ru, "no") => "Нет, один платёж",
        (Lang::Ru, "no_trial") => "Без пробного",
        (Lang::Ru, "done") => "Готово",
        (Lang::Ru, "card") => "Картой (Stripe)",
        (Lang::Ru, "card_stars") => "Картой или Telegram Stars",
        (Lang::Ru, "create") => "Создать",
        (Lang::Ru, "cancel") => "Отмена",
        _ => which,
    }
    .to_string()
}

// ------------------------------------------------------------ the platform bot (creators)

/// The platform bot's commands.
pub fn manager_commands(lang: Lang) -> Vec<(&'static str, &'static str)> {
    match lang {
        Lang::En => vec![
            ("start", "Your projects, or create one"),
            ("new", "Create a project"),
            ("cancel", "Stop what you started"),
        ],
        Lang::Ru => {
            vec![("start", "Ваши проекты или новый проект"), ("new", "Создать проект"), ("cancel", "Прервать начатое")]
        }
    }
}

/// To the subscriber, after their message was passed on.
pub fn support_passed_on(lang: Lang, project: &str) -> String {
    match lang {
        Lang::En => format!("Your message was passed on to {project}. The answer will come here."),
        Lang::Ru => format!("Ваше сообщение передано {project}. Ответ придёт сюда."),
    }
}

/// To the staff member, after their reply went to the subscriber.
pub fn support_answer_sent(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => format!("Sent to {name}."),
        Lang::Ru => format!("Отправлено: {name}."),
    }
}

/// A creator with no project (or `/new`): asks for the project's name.
pub fn manager_ask_name(lang: Lang) -> String {
    match lang {
        Lang::En => "Welcome to Gatehouse: paid access to your Telegram channels and groups.\nLet's create your project. What is it called?".into(),
        Lang::Ru => "Добро пожаловать в Gatehouse: платный доступ к вашим каналам и группам в Telegram.\nСоздадим проект. Как он называется?".into(),
    }
}

/// Asks for the handle.
pub fn manager_ask_handle(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => format!(
            "{name}: now a short handle for its page, 2 to 63 characters of a-z, 0-9, _ and - (for example my-club)."
        ),
        Lang::Ru => format!(
            "{name}: теперь короткое имя для его страницы, от 2 до 63 символов из a-z, 0-9, _ и - (например, my-club)."
        ),
    }
}

/// The project was created: how to connect a bot.
pub fn manager_project_created(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => format!(
            "Project {name} created.\nNow connect your bot: in @BotFather send /newbot, then paste the token it gives you here. I delete the message with the token at once."
        ),
        Lang::Ru => format!(
            "Проект {name} создан.\nТеперь подключите бота: в @BotFather отправьте /newbot и вставьте сюда токен, который он выдаст. Сообщение с токеном я сразу удалю."
        ),
    }
}

/// The creator's projects.
pub fn manager_projects(lang: Lang, lines: &[String]) -> String {
    let heading = match lang {
        Lang::En => "Your projects:",
        Lang::Ru => "Ваши проекты:",
    };
    std::iter::once(heading.to_string()).chain(lines.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// One project in the list.
pub fn manager_project_line(lang: Lang, name: &str, handle: &str, bot: Option<&str>) -> String {
    match (lang, bot) {
        (_, Some(bot)) => format!("• {name} ({handle}): @{bot}"),
        (Lang::En, None) => format!("• {name} ({handle}): no bot yet"),
        (Lang::Ru, None) => format!("• {name} ({handle}): бот не подключён"),
    }
}

/// "Connect bot" pressed: asks for the token.
pub fn manager_paste_token(lang: Lang, name: &str) -> String {
    match lang {
        Lang::En => {
            format!("Paste the token @BotFather gave you for {name}'s bot. I delete the message with it at once.")
        }
        Lang::Ru => {
            format!("Вставьте токен, который @BotFather выдал для бота проекта {name}. Сообщение с ним я сразу удалю.")
        }
    }
}

/// The token is being checked.
pub fn manager_checking(lang: Lang) -> String {
    match lang {
        Lang::En => "Got it, and deleted your message. Checking the token with Telegram…".into(),
        Lang::Ru => "Принято, ваше сообщение удалено. Проверяю токен в Telegram…".into(),
    }
}

/// The bot is connected.
pub fn manager_bot_connected(lang: Lang, username: &str) -> String {
    match lang {
        Lang::En => format!(
            "Your bot @{username} is connected. Open it: https://t.me/{username}\nThere, /addchat adds a channel or group, /addplan a plan, /help lists everything."
        ),
        Lang::Ru => format!(
            "Ваш бот @{username} подключён. Откройте его: https://t.me/{username}\nТам /addchat добавляет канал или группу, /addplan — тариф, /help показывает всё."
        ),
    }
}

/// The bot could not be connected.
pub fn manager_bot_failed(lang: Lang, reason: &str) -> String {
    match lang {
        Lang::En => format!("Your bot could not be connected: {reason}. Paste a new token after /start."),
        Lang::Ru => format!("Бота подключить не удалось: {reason}. Отправьте /start и вставьте новый токен."),
    }
}

/// What the platform bot can do.
pub fn manager_help(lang: Lang) -> String {
    match lang {
        Lang::En => "/start shows your projects and connects their bots; /new creates a project; /cancel stops what you started.".into(),
        Lang::Ru => "/start показывает ваши проекты и подключает их ботов; /new создаёт проект; /cancel прерывает начатое.".into(),
    }
}

/// `/cancel` in the platform bot.
pub fn manager_cancelled(lang: Lang) -> String {
    match lang {
        Lang::En => "Stopped. /start when you are ready.".into(),
        Lang::Ru => "Прервано. Отправьте /start, когда будете готовы.".into(),
    }
}
