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
