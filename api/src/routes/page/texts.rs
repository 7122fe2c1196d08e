//! Every text of the membership page, per language (English, Russian), in the style
//! of the bot's `gatehouse_jobs::texts`: fixed words in [`Texts`], phrases with values
//! as functions. Prices, lengths and "ends in 3 days" come from the bot's texts, so the
//! page and the bot say the same thing.

use gatehouse_jobs::texts::Lang;

/// The fixed words of the page in one language.
pub struct Texts {
    /// `<html lang>`.
    pub html_lang: &'static str,
    /// Skip link.
    pub skip: &'static str,
    /// Language switch label.
    pub language: &'static str,
    /// Plans heading.
    pub plans: &'static str,
    /// No plan on sale.
    pub no_plans: &'static str,
    /// "Includes".
    pub includes: &'static str,
    /// Free trial days.
    pub trial: fn(i32) -> String,
    /// Renews by itself.
    pub renews: &'static str,
    /// One payment.
    pub one_time: &'static str,
    /// Continue in Telegram.
    pub continue_in_telegram: &'static str,
    /// Pay by card.
    pub pay_card: &'static str,
    /// Pay with Stars.
    pub pay_stars: &'static str,
    /// Sign in to pay on the web.
    pub sign_in_to_pay: &'static str,
    /// Signed out, under a plan that can be paid on the web.
    pub pay_after_sign_in: fn(bool, bool) -> &'static str,
    /// A link's expiry.
    pub link_until: &'static str,
    /// Sign-in heading.
    pub sign_in: &'static str,
    /// Sign-in explanation.
    pub sign_in_hint: &'static str,
    /// Sign out.
    pub sign_out: &'static str,
    /// My account.
    pub account: &'static str,
    /// Signed in as.
    pub signed_in_as: &'static str,
    /// Your subscriptions.
    pub subscriptions: &'static str,
    /// No subscription yet.
    pub no_subscriptions: &'static str,
    /// "Renews on".
    pub renews_on: &'static str,
    /// "Access until".
    pub access_until: &'static str,
    /// Cancel renewal.
    pub cancel: &'static str,
    /// Renew.
    pub renew: &'static str,
    /// Chat links heading.
    pub links: &'static str,
    /// Links explanation.
    pub links_hint: &'static str,
    /// No link right now.
    pub no_links: &'static str,
    /// Get fresh links.
    pub fresh_links: &'static str,
    /// Links are on their way.
    pub links_coming: &'static str,
    /// Payment received, access being prepared.
    pub paid_waiting: &'static str,
    /// Cancel requested.
    pub cancel_requested: &'static str,
    /// Preparing the payment.
    pub preparing: &'static str,
    /// Preparing explanation.
    pub preparing_hint: &'static str,
    /// Payment could not start.
    pub payment_failed: &'static str,
    /// The payment page is ready: the link to it (if the browser does not go by itself).
    pub to_payment: &'static str,
    /// Back to the plans.
    pub back_to_plans: &'static str,
    /// 404 heading.
    pub not_found: &'static str,
    /// 404 text.
    pub not_found_hint: &'static str,
    /// 401 heading.
    pub refused: &'static str,
    /// 401 text.
    pub refused_hint: &'static str,
    /// 400 heading.
    pub bad_request: &'static str,
    /// 403 text (a form without its session's token).
    pub forbidden_hint: &'static str,
    /// 5xx heading.
    pub unavailable: &'static str,
    /// 5xx text.
    pub unavailable_hint: &'static str,
    /// Secure payments note.
    pub secure_note: &'static str,
}

/// The page's words in `lang`.
pub fn t(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}

static EN: Texts = Texts {
    html_lang: "en",
    skip: "Skip to content",
    language: "Language",
    plans: "Plans",
    no_plans: "Nothing is on sale right now.",
    includes: "Includes",
    trial: |d| if d == 1 { "1 day free".into() } else { format!("{d} days free") },
    renews: "renews automatically",
    one_time: "one payment",
    continue_in_telegram: "Continue in Telegram",
    pay_card: "Pay by card",
    pay_stars: "Pay with Telegram Stars",
    sign_in_to_pay: "Sign in with Telegram to pay here on the web.",
    pay_after_sign_in: |card, stars| match (card, stars) {
        (true, true) => "Pay here by card or with Stars: sign in with Telegram first",
        (true, false) => "Pay here by card: sign in with Telegram first",
        _ => "Pay here with Telegram Stars: sign in with Telegram first",
    },
    link_until: "The link works until",
    sign_in: "Sign in with Telegram",
    sign_in_hint: "We only learn your Telegram name and id; nothing is posted on your behalf.",
    sign_out: "Sign out",
    account: "My account",
    signed_in_as: "Signed in as",
    subscriptions: "Your subscriptions",
    no_subscriptions: "You have no subscription yet.",
    renews_on: "Renews on",
    access_until: "Access until",
    cancel: "Cancel renewal",
    renew: "Renew",
    links: "Your chat links",
    links_hint: "Each link is personal and works once. Do not share it.",
    no_links: "No link is open right now.",
    fresh_links: "Get fresh links",
    links_coming: "Your links are being made; this page refreshes by itself.",
    paid_waiting: "Payment received. Your access is being prepared; this page refreshes by itself.",
    cancel_requested: "Done: it will not renew. Your access lasts until the end of the period.",
    preparing: "Preparing your payment…",
    preparing_hint: "This takes a few seconds; you will be taken to the payment page.",
    payment_failed: "The payment could not be started. Nothing was charged. Please try again later.",
    to_payment: "Continue to the payment page",
    back_to_plans: "Back to the plans",
    not_found: "Page not found",
    not_found_hint: "There is no membership at this address.",
    refused: "Sign-in refused",
    refused_hint: "Telegram's signature did not check out, or it is too old. Please sign in again.",
    bad_request: "This request is not valid",
    forbidden_hint: "This form has expired or is not yours. Go back, reload the page and try again.",
    unavailable: "Temporarily unavailable",
    unavailable_hint: "Please try again in a moment.",
    secure_note: "Card payments are handled by Stripe; card details never reach this site.",
};

static RU: Texts = Texts {
    html_lang: "ru",
    skip: "К содержимому",
    language: "Язык",
    plans: "Тарифы",
    no_plans: "Сейчас ничего не продаётся.",
    includes: "Включает",
    trial: |d| format!("{d} {} бесплатно", ru_days(d)),
    renews: "продлевается автоматически",
    one_time: "разовый платёж",
    continue_in_telegram: "Продолжить в Telegram",
    pay_card: "Оплатить картой",
    pay_stars: "Оплатить звёздами Telegram",
    sign_in_to_pay: "Войдите через Telegram, чтобы оплатить здесь, на сайте.",
    pay_after_sign_in: |card, stars| match (card, stars) {
        (true, true) => "Оплатить здесь картой или звёздами: сначала войдите через Telegram",
        (true, false) => "Оплатить здесь картой: сначала войдите через Telegram",
        _ => "Оплатить здесь звёздами Telegram: сначала войдите через Telegram",
    },
    link_until: "Ссылка действует до",
    sign_in: "Войти через Telegram",
    sign_in_hint: "Мы узнаём только ваше имя и id в Telegram; от вашего имени ничего не публикуется.",
    sign_out: "Выйти",
    account: "Мой аккаунт",
    signed_in_as: "Вы вошли как",
    subscriptions: "Ваши подписки",
    no_subscriptions: "У вас пока нет подписки.",
    renews_on: "Продление",
    access_until: "Доступ до",
    cancel: "Отменить продление",
    renew: "Продлить",
    links: "Ваши ссылки в чаты",
    links_hint: "Каждая ссылка личная и одноразовая. Не передавайте её.",
    no_links: "Сейчас открытых ссылок нет.",
    fresh_links: "Получить новые ссылки",
    links_coming: "Ссылки готовятся; страница обновится сама.",
    paid_waiting: "Оплата получена. Доступ готовится; страница обновится сама.",
    cancel_requested: "Готово: продления не будет. Доступ сохранится до конца периода.",
    preparing: "Готовим оплату…",
    preparing_hint: "Это займёт несколько секунд; затем откроется страница оплаты.",
    payment_failed: "Не удалось начать оплату. Деньги не списаны. Попробуйте позже.",
    to_payment: "Перейти к оплате",
    back_to_plans: "К тарифам",
    not_found: "Страница не найдена",
    not_found_hint: "По этому адресу нет сообщества.",
    refused: "Вход отклонён",
    refused_hint: "Подпись Telegram не прошла проверку или устарела. Войдите ещё раз.",
    bad_request: "Неверный запрос",
    forbidden_hint: "Эта форма устарела или открыта не вами. Вернитесь, обновите страницу и попробуйте снова.",
    unavailable: "Временно недоступно",
    unavailable_hint: "Попробуйте ещё раз через минуту.",
    secure_note: "Оплату картой проводит Stripe; данные карты не попадают на этот сайт.",
};

fn ru_days(d: i32) -> &'static str {
    let (n10, n100) = (d % 10, d % 100);
    if n10 == 1 && n100 != 11 {
        "день"
    } else if (2..=4).contains(&n10) && !(12..=14).contains(&n100) {
        "дня"
    } else {
        "дней"
    }
}

/// A subscription state in words.
pub fn state(lang: Lang, state: &str) -> &'static str {
    match (lang, state) {
        (Lang::En, "trialing") => "Free trial",
        (Lang::En, "active") => "Active",
        (Lang::En, "past_due") => "Payment due",
        (Lang::En, "canceled") => "Not renewing",
        (Lang::En, "expired") => "Ended",
        (Lang::En, "banned") => "Blocked",
        (Lang::En, "revoked") => "Ended",
        (Lang::En, _) => "Unknown",
        (Lang::Ru, "trialing") => "Пробный период",
        (Lang::Ru, "active") => "Активна",
        (Lang::Ru, "past_due") => "Ожидает оплаты",
        (Lang::Ru, "canceled") => "Без продления",
        (Lang::Ru, "expired") => "Закончилась",
        (Lang::Ru, "banned") => "Заблокирована",
        (Lang::Ru, "revoked") => "Закончилась",
        (Lang::Ru, _) => "Неизвестно",
    }
}

/// A date as people read it: "24 Dec 2026" / "24 дек 2026".
pub fn date(lang: Lang, at: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike;
    const RU: [&str; 12] = ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"];
    match lang {
        Lang::En => at.format("%-d %b %Y").to_string(),
        Lang::Ru => format!("{} {} {}", at.day(), RU[at.month0() as usize], at.year()),
    }
}
