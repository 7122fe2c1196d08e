//! Fuzzing every way in: Telegram updates at `/hooks/telegram/{bot_id}`, signed Stripe
//! events at `/hooks/stripe/{project_id}` and `/v1` bodies, against the real api and
//! worker, the simulator and a database of its own.
//!
//! Each family replays the committed seed corpus (`tests/fuzz-corpus/`) as it is, then
//! inputs mutated from it (numbers replaced with extremes, strings emptied, lengthened,
//! given U+0000, RTL marks or emoji, fields deleted, types swapped, values nested 60 or
//! 126 levels deep, raw bodies broken), then inputs generated from scratch, all drawn
//! with proptest from a fixed seed so that every run tries the same inputs.
//!
//! What must hold for every input: the api answers it (no panic, no dropped
//! connection) with a 4xx or a 2xx, never a 5xx (the database is up throughout); what
//! it accepted, the worker processes or fails cleanly: once the queue is drained, no job
//! is left Running or unfinished and no job's last result says it panicked. A panic
//! hook counts panics anywhere in the process (api, worker, simulator). Throughout, a
//! second project with a bot of its own answers `/help` every few inputs: nothing sent
//! to the first project may stop the second.
//!
//! After each family the queue is drained: the managed chats are added again (an input
//! may have told Gatehouse, through `my_chat_member`, that its bot lost its rights, and
//! invites for that chat then retry until it is verified), then jobs waiting for a retry
//! are made due at once (time passes) until every job is finished. A run that stalls
//! (the control unanswered, the queue not drained) or runs out of its time budget stops
//! sending inputs and reports what it saw, with the state of each queue.
//!
//! The corpus refers to the world built here: fixed Telegram ids (the bot 7000000101,
//! its owner 501, subscribers 502 and 503, the channel -1001000000101, the group
//! -1001000000102) and placeholders for what the api generates (`@PLAN@`, `@LINK@`…,
//! see [`Bindings`]). `tests/fuzz-corpus/README.md` lists them.
//!
//! `GATEHOUSE_FUZZ_SEED` (64 hex digits) and `GATEHOUSE_FUZZ_SCALE` (a multiplier of the
//! case counts) explore further locally; CI runs the defaults.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use gatehouse_sim::{AdminRights, BotInfo, ChatInfo, ChatKind, NewBot, SimConfig, UserInfo};
use gatehouse_tests::{
    TEST_ADMIN_TOKEN,
    app::{TestApp, World},
};
use proptest::{
    prelude::*,
    sample::{Index, select},
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use serde_json::{Map, Value, json};
use sha2::Digest;

// ---------------------------------------------------------------------------
// Budget: a few hundred cases per family, the whole file well under 4 minutes.
// ---------------------------------------------------------------------------

/// The default seed (ChaCha), so that CI draws the same inputs on every run.
const SEED: [u8; 32] = *b"gatehouse-fuzz-seed-2026-12-01!!";
/// Mutated Telegram updates.
const TELEGRAM_MUTATED: usize = 300;
/// Telegram updates generated from scratch.
const TELEGRAM_SCRATCH: usize = 120;
/// Mutated Stripe events.
const STRIPE_MUTATED: usize = 220;
/// Stripe events generated from scratch.
const STRIPE_SCRATCH: usize = 80;
/// Mutated `/v1` bodies.
const V1_MUTATED: usize = 220;
/// `/v1` bodies generated from scratch.
const V1_SCRATCH: usize = 80;
/// The control project is asked `/help` every this many inputs.
const CONTROL_EVERY: usize = 40;
/// How long the control's answer may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(45);
/// Past this, no more inputs are sent: the run reports before the test runner's
/// timeout (nextest ends a test after 300 s).
const TIME_BUDGET: Duration = Duration::from_secs(200);
/// No drain waits past this (from the start): the report comes before nextest's 300 s.
const HARD_LIMIT: Duration = Duration::from_secs(270);
/// How long a family's jobs may take to finish after its last input.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(75);

// ---------------------------------------------------------------------------
// The world: fixed Telegram ids the corpus names.
// ---------------------------------------------------------------------------

const BOT_ONE: i64 = 7_000_000_101;
const OWNER_ONE: i64 = 501;
const ALICE: i64 = 502;
const BORIS: i64 = 503;
const CHANNEL_ONE: i64 = -1_001_000_000_101;
const GROUP_ONE: i64 = -1_001_000_000_102;
const BOT_TWO: i64 = 7_000_000_201;
const OWNER_TWO: i64 = 601;
const CONTROL_USER: i64 = 602;
const CHANNEL_TWO: i64 = -1_001_000_000_201;
/// The webhook secret the test gives project one's bot (see [`Fuzz::set_webhook_secret`]).
const WEBHOOK_SECRET: &str = "fuzz-webhook-secret-0123456789";
/// Project one's Stripe webhook secret.
const STRIPE_SECRET: &str = "whsec_fuzz_secret_0123456789";
/// Corpus timestamps are around this time.
const CORPUS_TIME: i64 = 1_796_000_000;

fn bot_token(id: i64, tail: &str) -> String {
    // BotFather's shape: `<bot id>:<35 characters of A-Za-z0-9_->`.
    assert_eq!(tail.len(), 35);
    format!("{id}:{tail}")
}

/// What the api generated that the corpus refers to by placeholder.
#[derive(Debug, Clone, Default)]
struct Bindings {
    pairs: Vec<(&'static str, String)>,
}

impl Bindings {
    /// Replaces every placeholder in every string (and object key) of `value`.
    fn bind(&self, value: &mut Value) {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) if s.contains('@') => *s = self.bind_str(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    if map.keys().any(|k| k.contains('@')) {
                        let old = std::mem::take(map);
                        *map = old.into_iter().map(|(k, v)| (self.bind_str(&k), v)).collect();
                    }
                    stack.extend(map.values_mut())
                }
                _ => {}
            }
        }
    }

    fn bind_str(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (placeholder, value) in &self.pairs {
            if s.contains(placeholder) {
                s = s.replace(placeholder, value);
            }
        }
        s
    }

    fn get(&self, placeholder: &str) -> &str {
        &self.pairs.iter().find(|(p, _)| *p == placeholder).expect("a bound placeholder").1
    }
}

// ---------------------------------------------------------------------------
// The seed corpus.
// ---------------------------------------------------------------------------

/// One corpus file. A file may wrap its input as `{"known_bug": "…", "input": …}`: a
/// regression case for a bug that is reported, not yet fixed (see the README there).
#[derive(Debug, Clone)]
struct Seed {
    name: String,
    input: Value,
    known_bug: Option<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus")
}

fn load_corpus(family: &str) -> Vec<Seed> {
    let dir = corpus_dir().join(family);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let seeds: Vec<Seed> = names
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let name = format!("{family}/{}", path.file_name().unwrap().to_string_lossy());
            match value.get("known_bug").and_then(Value::as_str) {
                Some(bug) => Seed { name, known_bug: Some(bug.to_string()), input: value["input"].clone() },
                None => Seed { name, known_bug: None, input: value },
            }
        })
        .collect();
    assert!(!seeds.is_empty(), "no corpus in {}", dir.display());
    seeds
}

// ---------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------

/// Numbers at the edges: zero, signs, the i32/i64/u64 limits, 2^53, floats, and
/// Unix times at the edges of chrono's and Postgres' calendars.
fn extreme_numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(-1),
        json!(1),
        json!(i32::MAX),
        json!(i32::MIN),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::from(i32::MIN) - 1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(9_007_199_254_740_992_i64),
        json!(9_007_199_254_740_993_i64),
        json!(-9_007_199_254_740_992_i64),
        json!(1.5),
        json!(-0.0),
        json!(1e308),
        json!(-1e308),
        json!(f64::MAX),
        json!(5e-324),
        json!(4_102_444_800_i64),
        json!(253_402_300_800_i64),
        json!(8_210_266_876_799_i64),
        json!(8_210_266_876_800_i64),
        json!(-8_334_632_851_200_i64),
        json!(9_224_318_015_999_i64),
        json!(100_000_000_000_000_i64),
    ]
}

/// Strings at the edges: empty, very long, NUL, bidi controls, emoji, combining marks,
/// numbers and times in text, injections.
fn extreme_strings() -> Vec<Value> {
    [
        String::new(),
        " ".into(),
        "x".repeat(70_000),
        "ж".repeat(4_097),
        "\u{0}".into(),
        "a\u{0}b".into(),
        "/start \u{0}".into(),
        "\u{202E}gnp.exe\u{202C}".into(),
        "\u{200F}مرحبا بالعالم\u{200F}".into(),
        "👨‍👩‍👧‍👦🏳️‍🌈🙂".into(),
        "e\u{301}\u{302}\u{303}\u{304}\u{305}\u{306}".into(),
        "\u{FEFF}\u{FFFF}\u{10FFFF}".into(),
        "\r\n\t\u{7}\u{1b}[31m".into(),
        "' OR 1=1; DROP TABLE projects; --".into(),
        "%s%n%x{}{{}}".into(),
        "9223372036854775808".into(),
        "-1".into(),
        "1e400".into(),
        "NaN".into(),
        "null".into(),
        "2026-13-45T25:61:61Z".into(),
        "9999-12-31T23:59:59Z".into(),
        "9999-12-31T23:59:59-23:59".into(),
        "0001-01-01T00:00:00+14:00".into(),
        "+262143-12-31T23:59:59Z".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
        format!("/start {}", "x".repeat(65)),
        "/start plan_00000000-0000-0000-0000-000000000000".into(),
        "/start accesstoken_".into(),
        "/grant 502 @PLAN@ 2147483647".into(),
        "/grant 9223372036854775807 @PLAN@ 9223372036854775807".into(),
        "/ban -9223372036854775808".into(),
        "/check 18446744073709551615".into(),
        "@PLAN@".into(),
        "XTR".into(),
    ]
    .into_iter()
    .map(Value::String)
    .collect()
}

/// Values of another type.
fn swap_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!([]),
        json!({}),
        json!(""),
        json!("0"),
        json!(0),
        json!([null]),
        json!({"": null}),
        json!([1, "2", [3], {"4": 5}]),
    ]
}

/// How deep a value is nested by a wrap: around the api's bound of 64, the job
/// envelope's 100 and serde_json's 128.
const NEST_LEVELS: &[usize] = &[8, 30, 60, 62, 63, 64, 65, 99, 100, 101, 120, 124, 125, 126, 127, 128, 129, 200];

#[derive(Debug, Clone)]
enum Kind {
    /// Replace the node with a number.
    Number(Value),
    /// Replace the node with a string.
    Text(Value),
    /// Add text before (true) or after a string node (others are replaced).
    Affix(String, bool),
    /// Delete the node.
    Delete,
    /// Replace with a value of another type.
    Swap(Value),
    /// Nest the node this many levels deep in arrays (true) or objects.
    Wrap(usize, bool),
    /// Add a field to the node (if an object) or its parent.
    Add(String, Value),
    /// Replace the node with `[node, node]`.
    Duplicate,
}

#[derive(Debug, Clone)]
struct Op {
    /// Which node, among all of them or among the family's interesting paths.
    pick: Index,
    /// Pick among the family's interesting paths (if one exists in the value).
    targeted: bool,
    kind: Kind,
}

/// Breaks the serialized body itself.
#[derive(Debug, Clone)]
enum Raw {
    /// Cut the body at a point.
    Truncate(Index),
    /// A UTF-8 byte order mark in front.
    Bom,
    /// Something after the JSON.
    Trailing,
    /// The first number made unrepresentable (`1e999`) or 400 digits long.
    HugeNumber(bool),
    /// A key given twice.
    DuplicateKey,
    /// A byte that is not UTF-8 (not for Stripe: the signature is over text).
    InvalidUtf8(Index),
    /// A lone UTF-16 surrogate escape in the first string.
    LoneSurrogate,
    /// Not an object at all.
    NotObject(Index),
}

fn kind_strategy(vocabulary: &'static [&'static str]) -> BoxedStrategy<Kind> {
    prop_oneof![
        4 => select(extreme_numbers()).prop_map(Kind::Number),
        3 => select(extreme_strings()).prop_map(Kind::Text),
        1 => (select(extreme_strings()), any::<bool>())
            .prop_map(|(s, front)| Kind::Affix(s.as_str().unwrap_or_default().to_string(), front)),
        2 => Just(Kind::Delete),
        2 => select(swap_values()).prop_map(Kind::Swap),
        2 => (select(NEST_LEVELS), any::<bool>()).prop_map(|(n, arrays)| Kind::Wrap(n, arrays)),
        2 => (key_strategy(vocabulary), small_value()).prop_map(|(k, v)| Kind::Add(k, v)),
        1 => Just(Kind::Duplicate),
    ]
    .boxed()
}

fn key_strategy(vocabulary: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(vocabulary).prop_map(str::to_string),
        1 => select(vec![String::new(), "a\u{0}b".into(), "__proto__".into(), "k".repeat(1_000), "ключ 🙂".into()]),
    ]
    .boxed()
}

/// A small value of any type, from the edges.
fn small_value() -> BoxedStrategy<Value> {
    prop_oneof![select(extreme_numbers()), select(swap_values()), select(short_strings())].boxed()
}

fn short_strings() -> Vec<Value> {
    extreme_strings().into_iter().filter(|s| s.as_str().is_some_and(|s| s.len() < 100)).collect()
}

fn raw_strategy(utf8_only: bool) -> BoxedStrategy<Raw> {
    let broken = prop_oneof![
        any::<Index>().prop_map(Raw::Truncate),
        Just(Raw::Bom),
        Just(Raw::Trailing),
        any::<bool>().prop_map(Raw::HugeNumber),
        Just(Raw::DuplicateKey),
        Just(Raw::LoneSurrogate),
        any::<Index>().prop_map(Raw::NotObject),
    ];
    if utf8_only {
        broken.boxed()
    } else {
        prop_oneof![5 => broken, 1 => any::<Index>().prop_map(Raw::InvalidUtf8)].boxed()
    }
}

/// A mutation plan: 1 to 4 operations on the value, and sometimes a broken body.
#[derive(Debug, Clone)]
struct Mutation {
    seed: Index,
    ops: Vec<Op>,
    raw: Option<Raw>,
}

fn mutation_strategy(vocabulary: &'static [&'static str], utf8_only: bool) -> BoxedStrategy<Mutation> {
    let op = (any::<Index>(), prop::bool::weighted(0.4), kind_strategy(vocabulary))
        .prop_map(|(pick, targeted, kind)| Op { pick, targeted, kind });
    let raw = prop_oneof![9 => Just(None), 1 => raw_strategy(utf8_only).prop_map(Some)];
    (any::<Index>(), prop::collection::vec(op, 1..=4), raw)
        .prop_map(|(seed, ops, raw)| Mutation { seed, ops, raw })
        .boxed()
}

fn escape_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Every node's JSON pointer but the root's, in document order.
fn pointers(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(value, String::new())];
    while let Some((v, path)) = stack.pop() {
        if !path.is_empty() {
            out.push(path.clone());
        }
        match v {
            Value::Array(items) => {
                stack.extend(items.iter().enumerate().rev().map(|(i, item)| (item, format!("{path}/{i}"))))
            }
            Value::Object(map) => {
                let children: Vec<_> =
                    map.iter().map(|(k, item)| (item, format!("{path}/{}", escape_token(k)))).collect();
                stack.extend(children.into_iter().rev())
            }
            _ => {}
        }
    }
    out
}

fn split_pointer(pointer: &str) -> (&str, String) {
    let at = pointer.rfind('/').unwrap_or(0);
    (&pointer[..at], unescape_token(&pointer[at + 1..]))
}

fn nest(mut value: Value, levels: usize, arrays: bool) -> Value {
    for _ in 0..levels {
        value = if arrays { Value::Array(vec![value]) } else { json!({ "a": value }) };
    }
    value
}

fn apply_op(value: &mut Value, pointer: &str, kind: &Kind) {
    match kind {
        Kind::Delete => {
            let (parent, last) = split_pointer(pointer);
            match value.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        Kind::Add(key, item) => {
            let (parent, _) = split_pointer(pointer);
            if let Some(Value::Object(map)) = value.pointer_mut(pointer) {
                map.insert(key.clone(), item.clone());
            } else if let Some(Value::Object(map)) = value.pointer_mut(parent) {
                map.insert(key.clone(), item.clone());
            } else if let Some(node) = value.pointer_mut(pointer) {
                *node = json!({ key.clone(): item.clone() });
            }
        }
        _ => {
            let Some(node) = value.pointer_mut(pointer) else { return };
            let old = std::mem::take(node);
            *node = match kind {
                Kind::Number(n) => n.clone(),
                Kind::Text(s) => s.clone(),
                Kind::Swap(v) => v.clone(),
                Kind::Affix(text, front) => match old {
                    Value::String(s) if *front => Value::String(format!("{text}{s}")),
                    Value::String(s) => Value::String(format!("{s}{text}")),
                    _ => Value::String(text.clone()),
                },
                Kind::Wrap(levels, arrays) => nest(old, *levels, *arrays),
                Kind::Duplicate => Value::Array(vec![old.clone(), old]),
                Kind::Delete | Kind::Add(..) => unreachable!(),
            };
        }
    }
}

/// Applies the operations; `targets` are the family's interesting JSON pointers.
fn mutate(mut value: Value, ops: &[Op], targets: &[&str]) -> Value {
    for op in ops {
        let present: Vec<&str> = targets.iter().copied().filter(|t| value.pointer(t).is_some()).collect();
        let pointer = if op.targeted && !present.is_empty() {
            present[op.pick.index(present.len())].to_string()
        } else {
            let all = pointers(&value);
            if all.is_empty() {
                continue;
            }
            all[op.pick.index(all.len())].clone()
        };
        apply_op(&mut value, &pointer, &op.kind);
    }
    value
}

fn break_body(mut body: Vec<u8>, raw: &Raw) -> Vec<u8> {
    match raw {
        Raw::Truncate(at) => {
            body.truncate(at.index(body.len().max(1)));
            body
        }
        Raw::Bom => [&b"\xEF\xBB\xBF"[..], &body].concat(),
        Raw::Trailing => [&body[..], b" {\"and\": \"more\"}"].concat(),
        Raw::HugeNumber(exponent) => {
            let text = String::from_utf8_lossy(&body).into_owned();
            let Some(start) = text.find(|c: char| c.is_ascii_digit()) else { return body };
            let end = text[start..].find(|c: char| !c.is_ascii_digit()).map_or(text.len(), |e| start + e);
            let replacement = if *exponent { "1e999".to_string() } else { "9".repeat(400) };
            format!("{}{replacement}{}", &text[..start], &text[end..]).into_bytes()
        }
        Raw::DuplicateKey => {
            let Some(at) = body.iter().position(|b| *b == b'{') else { return body };
            let mut out = body[..=at].to_vec();
            out.extend_from_slice(b"\"update_id\": 1, \"id\": \"evt_dup\", \"type\": \"x\", ");
            out.extend_from_slice(&body[at + 1..]);
            // Then the original keys follow: each of those present is given twice.
            out
        }
        Raw::InvalidUtf8(at) => {
            let at = at.index(body.len().max(1));
            let mut out = body[..at].to_vec();
            out.extend_from_slice(b"\xff\xfe\xc3");
            out.extend_from_slice(&body[at..]);
            out
        }
        Raw::LoneSurrogate => {
            let text = String::from_utf8_lossy(&body).into_owned();
            match text.find(":\"") {
                Some(at) => format!("{}:\"\\ud800{}", &text[..at], &text[at + 2..]).into_bytes(),
                None => body,
            }
        }
        Raw::NotObject(which) => {
            let options: [&[u8]; 6] = [b"", b"[]", b"null", b"42", b"\"update\"", b"[{\"update_id\": 1}]"];
            options[which.index(options.len())].to_vec()
        }
    }
}

// ---------------------------------------------------------------------------
// Generation from scratch.
// ---------------------------------------------------------------------------

/// Field names of Telegram updates: arbitrary values under them reach the parsers.
const TELEGRAM_KEYS: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
    "pre_checkout_query",
    "message_id",
    "from",
    "chat",
    "date",
    "text",
    "entities",
    "offset",
    "length",
    "type",
    "id",
    "is_bot",
    "first_name",
    "username",
    "language_code",
    "status",
    "user",
    "old_chat_member",
    "new_chat_member",
    "invite_link",
    "creator",
    "member_limit",
    "expire_date",
    "name",
    "via_join_request",
    "data",
    "chat_instance",
    "currency",
    "total_amount",
    "invoice_payload",
    "successful_payment",
    "telegram_payment_charge_id",
    "subscription_expiration_date",
    "is_recurring",
    "reply_markup",
    "inline_keyboard",
    "callback_data",
    "is_member",
    "can_invite_users",
    "can_restrict_members",
    "until_date",
    "sender_chat",
    "title",
    "user_chat_id",
];

const STRIPE_KEYS: &[&str] = &[
    "id",
    "object",
    "type",
    "created",
    "data",
    "previous_attributes",
    "metadata",
    "gatehouse_ref",
    "payment_status",
    "mode",
    "amount_total",
    "amount_paid",
    "billing_reason",
    "period_start",
    "period_end",
    "lines",
    "period",
    "start",
    "end",
    "parent",
    "subscription_details",
    "subscription",
    "status",
    "cancel_at_period_end",
    "current_period_end",
    "items",
    "refunded",
    "invoice",
    "customer",
];

const V1_KEYS: &[&str] = &[
    "name",
    "price",
    "currency",
    "stars_price",
    "duration_days",
    "recurring",
    "trial_days",
    "chat_ids",
    "telegram_user_id",
    "plan_id",
    "expires_at",
    "note",
    "code",
    "max_uses",
    "provider",
    "chat_id",
    "join_strategy",
    "calls_per_second",
    "chat_messages_per_second",
    "group_messages_per_minute",
    "interactive_reserve",
    "telegram_payment_charge_id",
];

/// Arbitrary JSON whose keys come from `vocabulary`.
fn arbitrary_json(vocabulary: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        3 => small_value(),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => "[a-z0-9 /_@:-]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key_strategy(vocabulary), inner), 0..7)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// A field: usually one of the plausible values, sometimes missing, sometimes from the edges.
fn field(plausible: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        6 => select(plausible).prop_map(Some),
        1 => small_value().prop_map(Some),
    ]
    .boxed()
}

/// An object of these fields (missing ones left out).
fn object(fields: Vec<(&'static str, BoxedStrategy<Option<Value>>)>) -> BoxedStrategy<Value> {
    let (names, strategies): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
    strategies
        .prop_map(move |values| {
            Value::Object(names.iter().zip(values).filter_map(|(name, v)| v.map(|v| (name.to_string(), v))).collect())
        })
        .boxed()
}

fn nested(value: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => Just(None), 8 => value.prop_map(Some), 1 => small_value().prop_map(Some)].boxed()
}

fn telegram_ids() -> Vec<Value> {
    [OWNER_ONE, ALICE, BORIS, BOT_ONE, BOT_TWO, CONTROL_USER, 999_001, 0, -1, i64::MAX, i64::MIN]
        .into_iter()
        .map(|n| json!(n))
        .chain([json!(u64::MAX), json!(9_007_199_254_740_993_i64), json!(1.5), json!("502")])
        .collect()
}

fn chat_ids() -> Vec<Value> {
    [CHANNEL_ONE, GROUP_ONE, CHANNEL_TWO, ALICE, BORIS, CONTROL_USER, 0, i64::MIN, i64::MAX, -1_002_000_000_000]
        .into_iter()
        .map(|n| json!(n))
        .collect()
}

fn times() -> Vec<Value> {
    vec![
        json!(CORPUS_TIME),
        json!(0),
        json!(-1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(8_210_266_876_799_i64),
        json!(8_210_266_876_800_i64),
        json!(-8_334_632_851_200_i64),
        json!(9_224_318_015_999_i64),
        json!(1e308),
        json!("1796000000"),
        Value::Null,
    ]
}

fn commands() -> Vec<Value> {
    [
        "/start",
        "/start plan_@PLAN@",
        "/start plan_@PLAN_STARS@",
        "/start plan_00000000-0000-0000-0000-000000000000",
        "/start plan_not-a-uuid",
        "/start FUZZCODE1",
        "/start @ACCESS_TOKEN_PAYLOAD@",
        "/start accesstoken_0000",
        "/start project_@PROJECT@",
        "/start project_@PROJECT_TWO@",
        "/start summer-campaign_2026",
        "/start 🙂🙂🙂",
        "/status",
        "/links",
        "/cancel",
        "/help",
        "/check 502",
        "/check 9223372036854775808",
        "/ban 999001",
        "/unban 999001",
        "/grant 503 @PLAN@ 7",
        "/grant 503 @PLAN@ 2147483647",
        "/grant 503 @PLAN@ -1",
        "/grant 503 @PLAN@ 9223372036854775807",
        "/grant 9223372036854775807 @PLAN@ 1",
        "/grant 503 00000000-0000-0000-0000-000000000000 1",
        "/grant",
        "/stats",
        "/start@fuzz_club_bot",
        "/START",
        "/",
        "//",
        " /start",
        "hello",
    ]
    .into_iter()
    .map(|s| json!(s))
    .collect()
}

fn user_strategy() -> BoxedStrategy<Value> {
    object(vec![
        ("id", field(telegram_ids())),
        ("is_bot", field(vec![json!(false), json!(true)])),
        ("first_name", field(vec![json!("Alice"), json!("Борис"), json!(""), json!("\u{202E}evil")])),
        ("username", field(vec![json!("alice"), json!("x".repeat(300))])),
        (
            "language_code",
            field(vec![json!("en"), json!("ru"), json!(""), json!("zh-hans-CN-x-private"), json!("x".repeat(300))]),
        ),
    ])
}

fn chat_strategy() -> BoxedStrategy<Value> {
    object(vec![
        ("id", field(chat_ids())),
        ("type", field(vec![json!("private"), json!("channel"), json!("supergroup"), json!("group"), json!("sender")])),
        ("title", field(vec![json!("Fuzz Club Channel"), json!("")])),
    ])
}

fn member_strategy() -> BoxedStrategy<Value> {
    let statuses: Vec<Value> = ["creator", "administrator", "member", "restricted", "left", "kicked", "", "banned"]
        .into_iter()
        .map(|s| json!(s))
        .collect();
    object(vec![
        ("user", nested(user_strategy())),
        ("status", field(statuses)),
        ("can_invite_users", field(vec![json!(true), json!(false)])),
        ("can_restrict_members", field(vec![json!(true), json!(false)])),
        ("can_manage_chat", field(vec![json!(true)])),
        ("is_member", field(vec![json!(true), json!(false)])),
        ("until_date", field(times())),
    ])
}

fn invite_link_strategy() -> BoxedStrategy<Value> {
    object(vec![
        (
            "invite_link",
            field(vec![json!("@LINK@"), json!("https://t.me/+unknownLink"), json!(""), json!("x".repeat(5_000))]),
        ),
        ("name", field(vec![json!("gh:grant"), json!("")])),
        ("expire_date", field(times())),
        ("member_limit", field(vec![json!(1), json!(99_999), json!(0)])),
        ("creates_join_request", field(vec![json!(false), json!(true)])),
    ])
}

fn message_strategy() -> BoxedStrategy<Value> {
    let entity = object(vec![
        ("type", field(vec![json!("bot_command"), json!("mention"), json!("text_link")])),
        ("offset", field(vec![json!(0), json!(1), json!(-1), json!(1_000_000)])),
        ("length", field(vec![json!(6), json!(0), json!(1_000_000), json!(-5)])),
    ]);
    object(vec![
        ("message_id", field(vec![json!(1), json!(2_147_483_647)])),
        ("from", nested(user_strategy())),
        ("chat", nested(chat_strategy())),
        ("date", field(times())),
        ("text", field(commands())),
        ("entities", nested(prop::collection::vec(entity, 0..3).prop_map(Value::Array).boxed())),
    ])
}

fn successful_payment_message() -> BoxedStrategy<Value> {
    let payment = object(vec![
        ("currency", field(vec![json!("XTR"), json!("USD"), json!("")])),
        ("total_amount", field(vec![json!(250), json!(0), json!(-1), json!(i64::MAX), json!(1.5), json!("250")])),
        (
            "invoice_payload",
            field(vec![
                json!("@STARS_PAYLOAD@"),
                json!("gh1:"),
                json!("gh1:00000000000000000000000000000000"),
                json!(""),
                json!("x".repeat(200)),
            ]),
        ),
        (
            "telegram_payment_charge_id",
            field(vec![json!("@FRESH_CHARGE@"), json!("stxFuzzCharge0001"), json!(""), json!("c".repeat(300))]),
        ),
        ("subscription_expiration_date", field(times())),
        ("is_recurring", field(vec![json!(true), json!(false), json!("yes")])),
        ("is_first_recurring", field(vec![json!(true), json!(false)])),
    ]);
    (message_strategy(), payment)
        .prop_map(|(mut message, payment)| {
            if let Value::Object(map) = &mut message {
                map.remove("text");
                map.insert("successful_payment".into(), payment);
            }
            message
        })
        .boxed()
}

/// A Telegram update from scratch: plausible payloads of every kind Gatehouse handles,
/// or arbitrary JSON under any update type.
fn telegram_scratch() -> BoxedStrategy<(Option<Value>, Value)> {
    let callback = object(vec![
        ("id", field(vec![json!("4382917364000009"), json!(""), json!(7)])),
        ("from", nested(user_strategy())),
        ("message", nested(message_strategy())),
        ("chat_instance", field(vec![json!("-3928475610293847561")])),
        (
            "data",
            field(
                [
                    "plan:@PLAN@",
                    "pay:stars:@PLAN_STARS@",
                    "pay:stripe:@PLAN_STARS@",
                    "pay:trial:@PLAN_STARS@",
                    "pay:bitcoin:@PLAN@",
                    "home",
                    "cancel:ask",
                    "cancel:yes",
                    "cancel:no",
                    "plan:",
                    "plan:x",
                    "::::",
                    "",
                    "plan:@PLAN@:extra",
                ]
                .into_iter()
                .map(|s| json!(s))
                .collect(),
            ),
        ),
    ]);
    let member_updated = object(vec![
        ("chat", nested(chat_strategy())),
        ("from", nested(user_strategy())),
        ("date", field(times())),
        ("old_chat_member", nested(member_strategy())),
        ("new_chat_member", nested(member_strategy())),
        ("invite_link", nested(invite_link_strategy())),
        ("via_join_request", field(vec![json!(true), json!(false)])),
    ]);
    let join_request = object(vec![
        ("chat", nested(chat_strategy())),
        ("from", nested(user_strategy())),
        ("user_chat_id", field(telegram_ids())),
        ("date", field(times())),
        ("invite_link", nested(invite_link_strategy())),
    ]);
    let pre_checkout = object(vec![
        ("id", field(vec![json!("2817364519283746509"), json!(""), json!(5)])),
        ("from", nested(user_strategy())),
        ("currency", field(vec![json!("XTR"), json!("USD"), json!("")])),
        ("total_amount", field(vec![json!(250), json!(0), json!(-1), json!(i64::MAX), json!(u64::MAX)])),
        ("invoice_payload", field(vec![json!("@STARS_PAYLOAD@"), json!("gh1:"), json!(""), json!("x".repeat(200))])),
    ]);
    let typed = prop_oneof![
        4 => message_strategy().prop_map(|p| ("message", p)),
        2 => successful_payment_message().prop_map(|p| ("message", p)),
        2 => callback.prop_map(|p| ("callback_query", p)),
        2 => member_updated.clone().prop_map(|p| ("chat_member", p)),
        1 => member_updated.prop_map(|p| ("my_chat_member", p)),
        1 => join_request.prop_map(|p| ("chat_join_request", p)),
        1 => pre_checkout.prop_map(|p| ("pre_checkout_query", p)),
    ];
    let any_type = (select(&TELEGRAM_KEYS[..8]), arbitrary_json(TELEGRAM_KEYS));
    let update_id = prop_oneof![8 => Just(None), 1 => select(extreme_numbers()).prop_map(Some)];
    (update_id, prop_oneof![3 => typed, 1 => any_type])
        .prop_map(|(id, (kind, payload))| (id, json!({ kind: payload })))
        .boxed()
}

/// A Stripe event from scratch, in the shapes Gatehouse reads.
fn stripe_scratch() -> BoxedStrategy<Value> {
    let kinds: Vec<Value> = [
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.refunded",
        "customer.created",
        "",
        "INVOICE.PAID",
    ]
    .into_iter()
    .map(|s| json!(s))
    .collect();
    let refs = || {
        field(vec![
            json!("@CHECKOUT@"),
            json!("@CHECKOUT_STARS@"),
            json!("00000000-0000-0000-0000-000000000000"),
            json!(""),
            json!("not-a-uuid"),
        ])
    };
    let metadata = || nested(object(vec![("gatehouse_ref", refs())]));
    let period = object(vec![("start", field(times())), ("end", field(times()))]);
    let line = object(vec![("period", nested(period)), ("metadata", metadata())]);
    let amounts = || field(vec![json!(500), json!(0), json!(-1), json!(i64::MAX), json!(u64::MAX), json!("500")]);
    let data_object = object(vec![
        ("id", field(vec![json!("in_fuzz0001"), json!("sub_fuzz0001"), json!("cs_test_fuzz0001")])),
        ("metadata", metadata()),
        ("payment_status", field(vec![json!("paid"), json!("no_payment_required"), json!("unpaid")])),
        ("mode", field(vec![json!("subscription"), json!("payment")])),
        ("amount_total", amounts()),
        ("amount_paid", amounts()),
        ("billing_reason", field(vec![json!("subscription_create"), json!("subscription_cycle"), json!("manual")])),
        ("period_start", field(times())),
        ("period_end", field(times())),
        (
            "lines",
            nested(object(vec![("data", nested(prop::collection::vec(line, 0..2).prop_map(Value::Array).boxed()))])),
        ),
        ("parent", nested(object(vec![("subscription_details", nested(object(vec![("metadata", metadata())])))]))),
        (
            "status",
            field(
                ["active", "trialing", "past_due", "unpaid", "canceled", "incomplete_expired", "incomplete", ""]
                    .into_iter()
                    .map(|s| json!(s))
                    .collect(),
            ),
        ),
        ("cancel_at_period_end", field(vec![json!(true), json!(false)])),
        ("current_period_end", field(times())),
        (
            "items",
            nested(object(vec![(
                "data",
                nested(
                    prop::collection::vec(object(vec![("current_period_end", field(times()))]), 0..2)
                        .prop_map(Value::Array)
                        .boxed(),
                ),
            )])),
        ),
        ("refunded", field(vec![json!(true), json!(false)])),
        ("invoice", field(vec![json!("in_fuzz0001"), json!(""), json!("i".repeat(1_000))])),
    ]);
    let event = object(vec![
        ("object", field(vec![json!("event")])),
        ("type", field(kinds)),
        ("created", field(times())),
        ("data", nested(object(vec![("object", nested(data_object))]))),
    ]);
    prop_oneof![5 => event, 1 => arbitrary_json(STRIPE_KEYS)].boxed()
}

/// A `/v1` request from scratch: a route and a body of its fields.
fn v1_scratch() -> BoxedStrategy<(usize, Value)> {
    let users = || field(vec![json!(ALICE), json!(BORIS), json!(999_010), json!(0), json!(-5), json!(i64::MAX)]);
    let plans = || {
        field(vec![
            json!("@PLAN@"),
            json!("@PLAN_STARS@"),
            json!("00000000-0000-0000-0000-000000000000"),
            json!("not-a-uuid"),
            json!(5),
        ])
    };
    let days = || field(vec![json!(1), json!(30), json!(36_500), json!(36_501), json!(0), json!(-1), json!(i32::MAX)]);
    let instants = || {
        field(vec![
            json!("2036-01-01T00:00:00Z"),
            json!("2026-12-31T20:00:00+03:00"),
            json!("9999-12-31T23:59:59Z"),
            json!("9999-12-31T23:59:59-23:59"),
            json!("0001-01-01T00:00:00Z"),
            json!("2026-02-30T00:00:00Z"),
            json!("next tuesday"),
            json!(1_796_154_942),
            Value::Null,
        ])
    };
    let limits = || field(vec![Value::Null, json!(1), json!(30), json!(1_000), json!(1_001), json!(0), json!(-1)]);
    let routes: Vec<BoxedStrategy<Value>> = vec![
        object(vec![
            ("name", field(vec![json!("Monthly"), json!(" "), json!("n".repeat(201)), json!("Клуб 🙂")])),
            ("price", field(vec![json!(500), json!(0), json!(-1), json!(i64::MAX), json!(4.99)])),
            ("currency", field(vec![json!("EUR"), json!("XTR"), json!("eur"), json!("EURO"), json!("")])),
            ("stars_price", field(vec![json!(250), json!(0), json!(i64::from(i32::MAX) + 1), Value::Null])),
            ("duration_days", days()),
            ("recurring", field(vec![json!(true), json!(false)])),
            ("trial_days", days()),
            (
                "chat_ids",
                field(vec![
                    json!([CHANNEL_ONE]),
                    json!([CHANNEL_ONE, GROUP_ONE]),
                    json!([CHANNEL_TWO]),
                    json!([]),
                    json!([i64::MIN]),
                    json!((0..1_000).map(|i| CHANNEL_ONE - i).collect::<Vec<_>>()),
                ]),
            ),
        ]),
        object(vec![
            ("telegram_user_id", users()),
            ("plan_id", plans()),
            ("expires_at", instants()),
            ("note", field(vec![json!("partner"), json!("n".repeat(1_001)), Value::Null])),
        ]),
        object(vec![
            (
                "code",
                field(vec![json!("FUZZ2"), json!(""), json!("c".repeat(65)), json!("with space"), json!("ÜNICODE")]),
            ),
            ("plan_id", plans()),
            ("max_uses", field(vec![json!(1), json!(0), json!(-1), json!(i32::MAX)])),
            ("expires_at", instants()),
            ("duration_days", days()),
        ]),
        object(vec![("plan_id", plans()), ("duration_days", days()), ("expires_at", instants())]),
        object(vec![
            ("telegram_user_id", users()),
            ("plan_id", plans()),
            ("provider", field(vec![json!("stripe"), json!("stars"), json!("trial"), json!("STRIPE"), json!("")])),
        ]),
        object(vec![
            ("chat_id", field(chat_ids())),
            ("join_strategy", field(vec![json!("single_use_link"), json!("join_request"), json!("open_door")])),
        ]),
        object(vec![
            ("calls_per_second", limits()),
            ("chat_messages_per_second", limits()),
            ("group_messages_per_minute", limits()),
            ("interactive_reserve", limits()),
        ]),
        object(vec![("telegram_user_id", users())]),
        object(vec![("telegram_user_id", users())]),
        object(vec![
            ("telegram_user_id", users()),
            ("telegram_payment_charge_id", field(vec![json!("stxFuzzCharge0001"), json!(""), json!("c".repeat(500))])),
        ]),
    ];
    let count = routes.len();
    prop_oneof![
        6 => (0..count).prop_flat_map(move |i| routes[i].clone().prop_map(move |body| (i, body))),
        1 => (0..count, arbitrary_json(V1_KEYS)),
    ]
    .boxed()
}

/// The routes of [`v1_scratch`], in its order.
const V1_ROUTES: &[(&str, &str)] = &[
    ("POST", "/plans"),
    ("POST", "/grants"),
    ("POST", "/access-codes"),
    ("POST", "/access-tokens"),
    ("POST", "/checkout"),
    ("POST", "/chats"),
    ("PUT", "/bot/limits"),
    ("POST", "/whitelist"),
    ("POST", "/admins"),
    ("POST", "/stars/refunds"),
];

/// Path segments for the routes that take one.
fn path_cases(bindings: &Bindings) -> Vec<(&'static str, String)> {
    let segments = [
        "0".to_string(),
        "-1".into(),
        "9223372036854775807".into(),
        "9223372036854775808".into(),
        "18446744073709551616".into(),
        "abc".into(),
        "%00".into(),
        "%F0%9F%99%82".into(),
        "%E2%80%AE".into(),
        "x".repeat(2_000),
        "00000000-0000-0000-0000-000000000000".into(),
        bindings.get("@PLAN@").to_string(),
    ];
    let mut cases = Vec::new();
    for segment in &segments {
        cases.push(("DELETE", format!("/grants/{segment}")));
        cases.push(("GET", format!("/members/{segment}")));
        cases.push(("DELETE", format!("/whitelist/{segment}")));
        cases.push(("DELETE", format!("/admins/{segment}")));
        cases.push(("GET", format!("/checkout/{segment}")));
    }
    cases.push(("GET", format!("/members/{ALICE}")));
    cases.push(("GET", "/plans".into()));
    cases.push(("GET", "/chats".into()));
    cases.push(("GET", "/bot".into()));
    cases.push(("GET", "/stripe".into()));
    cases
}

// ---------------------------------------------------------------------------
// Panics anywhere in the process.
// ---------------------------------------------------------------------------

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(format!("thread {thread}: {info}"));
        default(info);
    }));
}

fn panics_so_far() -> usize {
    PANICS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

// ---------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------

/// What one input was.
#[derive(Debug, Clone)]
struct Input {
    family: &'static str,
    /// Where it came from: a corpus file, or a mutation of one, or scratch.
    origin: String,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    known_bug: Option<String>,
}

impl Input {
    fn show(&self, limit: usize) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = if text.chars().count() > limit {
            let head: String = text.chars().take(limit).collect();
            format!("{head}… ({} bytes in all)", self.body.len())
        } else {
            text.into_owned()
        };
        format!("[{}] {} {} ({}): {}", self.family, self.method, self.path, self.origin, text.escape_debug())
    }
}

#[derive(Debug, Default, Clone)]
struct Figures {
    tried: usize,
    refused: usize,
    accepted: usize,
    server_errors: usize,
    no_answer: usize,
    done: usize,
    killed: usize,
    failed: usize,
    other: usize,
    /// Jobs waiting for a retry that the drain ran at once.
    fast_forwarded: usize,
}

struct Fuzz {
    app: TestApp,
    one: World,
    two: World,
    bindings: Bindings,
    http: reqwest::Client,
    runner: TestRunner,
    scale: f64,
    findings: Vec<String>,
    known: Vec<String>,
    figures: BTreeMap<&'static str, Figures>,
    /// When the run started.
    started: Instant,
    /// Why the run stopped early, if it did: something broke.
    stopped: Option<String>,
    /// The time budget ran out: no more inputs are sent.
    out_of_time: bool,
    /// Loops cut short by the time budget (one per family part).
    untried: usize,
    /// Panics that known bugs' inputs caused (they do not fail the suite).
    known_panics: usize,
    control_asked: usize,
    control_answered: usize,
    next_update_id: i64,
    next_event: u64,
    /// Inputs by what their first job is keyed by, to trace a job back to its input.
    by_key: HashMap<String, Input>,
    seen_jobs: HashSet<String>,
    killed_reasons: BTreeMap<String, usize>,
}

/// Builds a project with a connected bot of these fixed ids, a ready channel whose owner
/// is `owner`, and a 30-day plan on it (as [`TestApp::world`] does, with ids of our own).
async fn build_world(app: &TestApp, handle: &str, owner: UserInfo, bot: NewBot, channel_id: i64) -> World {
    let owner = app.tg.create_user(owner).await.unwrap();
    let (status, project) = app
        .post(
            "/v1/projects",
            TEST_ADMIN_TOKEN,
            json!({"handle": handle, "name": handle, "owner_telegram_id": owner.id}),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let project_id = project["data"]["project_id"].as_str().unwrap().to_string();
    let key = project["data"]["api_key"].as_str().unwrap().to_string();
    let bot: BotInfo = app.tg.create_bot(bot).await.unwrap();
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/projects/{project_id}/bot"),
            Some(&key),
            Some(json!({"token": bot.token})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.settle(&[]).await;
    let channel = app
        .tg
        .create_chat(ChatInfo {
            id: channel_id,
            kind: ChatKind::Channel,
            title: format!("{handle} channel"),
            username: None,
            join_by_request: false,
            description: None,
            creator_id: Some(owner.id),
        })
        .await
        .unwrap();
    app.tg.add_admin(channel.id, bot.id, AdminRights::all()).await.unwrap();
    let chat_uuid = app.add_chat(&project_id, &key, channel.id, "single_use_link", &bot).await;
    let (status, plan) = app
        .post(
            &format!("/v1/projects/{project_id}/plans"),
            &key,
            json!({"name": "Monthly", "price": 500, "currency": "USD", "duration_days": 30,
                   "recurring": false, "trial_days": 0, "chat_ids": [channel.id]}),
        )
        .await;
    assert_eq!(status, 201, "{plan}");
    World {
        project_id,
        key,
        bot,
        owner,
        channel,
        chat_uuid,
        plan_id: plan["data"]["plan_id"].as_str().unwrap().to_string(),
    }
}

fn user(id: i64, first_name: &str, language_code: &str) -> UserInfo {
    UserInfo { id, first_name: first_name.into(), language_code: Some(language_code.into()), ..Default::default() }
}

impl Fuzz {
    async fn start() -> Self {
        let sim_config = SimConfig { rate_limits_enabled: false, ..SimConfig::default() };
        // Rate limits are not what this suite is about: high budgets let a few hundred
        // replies to the same test users go out in seconds.
        let app = TestApp::start_with(
            sim_config,
            &[
                ("GATEHOUSE_TG_CALLS_PER_SECOND", "1000"),
                ("GATEHOUSE_TG_CHAT_MESSAGES_PER_SECOND", "50"),
                ("GATEHOUSE_TG_GROUP_MESSAGES_PER_MINUTE", "3000"),
                ("GATEHOUSE_WORKER_CONCURRENCY", "8"),
                // Nor is the api's per-key request limit (tested in `integrator_api`).
                ("GATEHOUSE_API_RATE_LIMIT_PER_MINUTE", "1000000"),
            ],
        )
        .await;

        let one = build_world(
            &app,
            "fuzzclub",
            user(OWNER_ONE, "Olga", "en"),
            NewBot {
                id: Some(BOT_ONE),
                token: Some(bot_token(BOT_ONE, "AAFuzzClubToken_0123456789abcdefghi")),
                username: Some("fuzz_club_bot".into()),
                first_name: Some("Fuzz Club".into()),
            },
            CHANNEL_ONE,
        )
        .await;
        let two = build_world(
            &app,
            "control",
            user(OWNER_TWO, "Pavel", "en"),
            NewBot {
                id: Some(BOT_TWO),
                token: Some(bot_token(BOT_TWO, "AAControlToken_0123456789abcdefghij")),
                username: Some("control_club_bot".into()),
                first_name: Some("Control Club".into()),
            },
            CHANNEL_TWO,
        )
        .await;

        let mut fuzz = Fuzz {
            app,
            one,
            two,
            bindings: Bindings::default(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            runner: runner(),
            scale: std::env::var("GATEHOUSE_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0),
            findings: Vec::new(),
            known: Vec::new(),
            figures: BTreeMap::new(),
            started: Instant::now(),
            stopped: None,
            out_of_time: false,
            untried: 0,
            known_panics: 0,
            control_asked: 0,
            control_answered: 0,
            next_update_id: 1_000_000,
            next_event: 0,
            by_key: HashMap::new(),
            seen_jobs: HashSet::new(),
            killed_reasons: BTreeMap::new(),
        };
        fuzz.set_webhook_secret().await;
        fuzz.prepare_project_one().await;
        fuzz.prepare_control().await;
        fuzz.seen_jobs = fuzz.app.db.jobs().await.into_iter().map(|j| j.id).collect();
        fuzz
    }

    /// Gives project one's bot a webhook secret the test knows: the hash Gatehouse
    /// checks, and the secret the simulator sends with its own deliveries.
    async fn set_webhook_secret(&self) {
        let hash = sha2::Sha256::digest(WEBHOOK_SECRET.as_bytes()).to_vec();
        let updated = sqlx::query("UPDATE bots SET webhook_secret_hash = $1 WHERE telegram_bot_id = $2")
            .bind(hash)
            .bind(BOT_ONE)
            .execute(&self.app.db.pool)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(updated, 1);
        let answer: Value = self
            .http
            .post(format!("{}/bot{}/setWebhook", self.app.sim.base_url(), self.one.bot.token))
            .json(&json!({"url": self.webhook_url(), "secret_token": WEBHOOK_SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["ok"], true, "{answer}");
    }

    fn webhook_url(&self) -> String {
        format!("{}/hooks/telegram/{BOT_ONE}", self.app.api.url())
    }

    fn v1(&self, path: &str) -> String {
        format!("/v1/projects/{}{path}", self.one.project_id)
    }

    /// What the corpus refers to: subscribers who started the bot, a group with join
    /// requests, a plan sold in Stars and by card, Stripe, an access code and token, a
    /// personal invite link, and a checkout of each provider.
    async fn prepare_project_one(&mut self) {
        let app = &self.app;
        for (id, name, lang) in [(ALICE, "Alice", "en"), (BORIS, "Борис", "ru")] {
            app.tg.create_user(user(id, name, lang)).await.unwrap();
            app.tg.send_text(id, BOT_ONE, "/start").await.unwrap();
        }
        let group = app
            .tg
            .create_chat(ChatInfo {
                id: GROUP_ONE,
                kind: ChatKind::Supergroup,
                title: "Fuzz Club Chat".into(),
                username: None,
                join_by_request: false,
                description: None,
                creator_id: Some(OWNER_ONE),
            })
            .await
            .unwrap();
        app.tg.add_admin(group.id, BOT_ONE, AdminRights::all()).await.unwrap();
        app.add_chat(&self.one.project_id, &self.one.key, GROUP_ONE, "join_request", &self.one.bot).await;
        let stars_plan = app
            .plan(
                &self.one,
                json!({"name": "Monthly, Stars or card", "price": 500, "currency": "USD", "stars_price": 250,
                       "duration_days": 30, "recurring": true, "trial_days": 7}),
            )
            .await;
        app.connect_stripe(&self.one, STRIPE_SECRET).await;
        let key = self.one.key.clone();
        let (status, body) = app
            .post(
                &self.v1("/access-codes"),
                &key,
                json!({"code": "FUZZCODE1", "plan_id": self.one.plan_id, "max_uses": 1000}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, token) = app.post(&self.v1("/access-tokens"), &key, json!({"plan_id": self.one.plan_id})).await;
        assert_eq!(status, 201, "{token}");
        app.grant(&self.one, ALICE, Value::Null).await;
        app.settle(&[BOT_ONE]).await;
        let link = app.invite_links_to(&self.one, ALICE).await.pop().expect("Alice got a personal link");
        let stripe = app.checkout(&self.one, ALICE, &stars_plan, "stripe").await;
        let stars = app.checkout(&self.one, ALICE, &stars_plan, "stars").await;
        let stars_id: uuid::Uuid = stars["checkout_id"].as_str().unwrap().parse().unwrap();
        self.bindings = Bindings {
            pairs: vec![
                ("@PLAN_STARS@", stars_plan),
                ("@PLAN@", self.one.plan_id.clone()),
                ("@PROJECT_TWO@", self.two.project_id.clone()),
                ("@PROJECT@", self.one.project_id.clone()),
                ("@ACCESS_TOKEN_PAYLOAD@", token["data"]["deep_link_payload"].as_str().unwrap().to_string()),
                ("@LINK@", link),
                ("@CHECKOUT_STARS@", stars_id.to_string()),
                ("@CHECKOUT@", stripe["checkout_id"].as_str().unwrap().to_string()),
                ("@STARS_PAYLOAD@", format!("gh1:{}", stars_id.simple())),
            ],
        };
    }

    async fn prepare_control(&mut self) {
        self.app.tg.create_user(user(CONTROL_USER, "Control", "en")).await.unwrap();
        self.app.tg.send_text(CONTROL_USER, BOT_TWO, "/start").await.unwrap();
        self.app.settle(&[BOT_TWO]).await;
        assert!(!self.control_replies().await.is_empty(), "the control project answers /start");
    }

    async fn control_replies(&self) -> Vec<String> {
        self.app.texts_to(&self.two, CONTROL_USER).await
    }

    /// The control project's user sends `/help` and must be answered.
    async fn control(&mut self, family: &'static str) {
        if self.stopped.is_some() {
            return;
        }
        let before = self.control_replies().await.len();
        self.app.tg.send_text(CONTROL_USER, BOT_TWO, "/help").await.unwrap();
        self.control_asked += 1;
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        loop {
            if self.control_replies().await.len() > before {
                self.control_answered += 1;
                return;
            }
            if Instant::now() >= deadline {
                let queues = self.queue_state().await;
                self.findings.push(format!(
                    "[{family}] the control project did not answer /help within {CONTROL_TIMEOUT:?} (after {} inputs); the queues then:\n{queues}",
                    self.figures.get(family).map_or(0, |f| f.tried)
                ));
                // Nothing after this would tell more: the run stops here and reports.
                self.stopped = Some(format!("the control project stopped answering during the {family} family"));
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether the run goes on: not once it is broken, nor past its time budget (so that
    /// it reports before the test runner's own timeout).
    fn going_on(&mut self) -> bool {
        if !self.out_of_time && self.started.elapsed() > TIME_BUDGET {
            // A slow machine, not a finding: what was tried is checked as usual.
            self.out_of_time = true;
        }
        if self.out_of_time {
            self.untried += 1;
        }
        self.stopped.is_none() && !self.out_of_time
    }

    /// Each queue's due, claimed and running jobs, its last finished job, and each worker's
    /// last heartbeat: what a stalled queue looks like.
    async fn queue_state(&self) -> String {
        let rows: Vec<(String, i64, i64, Option<f64>)> = sqlx::query_as(
            "SELECT job_type,
                    count(*) FILTER (WHERE status = 'Pending' AND run_at <= now()),
                    count(*) FILTER (WHERE status IN ('Queued', 'Running')),
                    extract(epoch FROM now() - max(done_at))::float8
             FROM apalis.jobs GROUP BY job_type ORDER BY job_type",
        )
        .fetch_all(&self.app.db.pool)
        .await
        .unwrap_or_default();
        let workers: Vec<(String, f64)> =
            sqlx::query_as("SELECT id, extract(epoch FROM now() - last_seen)::float8 FROM apalis.workers ORDER BY id")
                .fetch_all(&self.app.db.pool)
                .await
                .unwrap_or_default();
        let mut out = String::new();
        for (queue, due, claimed, last_done) in rows {
            out.push_str(&format!(
                "      queue {queue}: {due} due and pending, {claimed} queued or running, last job finished {:.1}s ago\n",
                last_done.unwrap_or(f64::NAN)
            ));
        }
        for (worker, seen) in workers {
            out.push_str(&format!("      worker {worker}: last seen {seen:.1}s ago\n"));
        }
        out
    }

    fn draw<S: Strategy>(&mut self, strategy: &S) -> S::Value {
        strategy.new_tree(&mut self.runner).expect("generate a case").current()
    }

    fn count(&self, n: usize) -> usize {
        ((n as f64) * self.scale).round() as usize
    }

    /// Sends one input and checks the answer.
    async fn send(&mut self, input: Input, headers: &[(&str, Vec<u8>)]) -> Option<u16> {
        let method = reqwest::Method::from_bytes(input.method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{}", self.app.api.url(), input.path))
            .header("content-type", "application/json")
            .body(input.body.clone());
        for (name, value) in headers {
            request = request.header(*name, reqwest::header::HeaderValue::from_bytes(value).unwrap());
        }
        if input.path.starts_with("/v1/") {
            request = request.bearer_auth(&self.one.key);
        }
        let panics_before = panics_so_far();
        let answer = request.send().await;
        let mut answer_text = String::new();
        let (status, trouble) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let trouble = (!(200..300).contains(&status) && !(400..500).contains(&status))
                    .then(|| format!("answered {status}: {text}"));
                answer_text = text;
                (Some(status), trouble)
            }
            Err(e) => (None, Some(format!("no answer: {e}"))),
        };
        if verbose() && input.origin.starts_with("corpus") {
            println!("fuzz corpus answer: {} -> {status:?} {}", input.origin, answer_text);
        }
        let figures = self.figures.entry(input.family).or_default();
        figures.tried += 1;
        match status {
            Some(200..=299) => figures.accepted += 1,
            Some(400..=499) => figures.refused += 1,
            Some(_) => figures.server_errors += 1,
            None => figures.no_answer += 1,
        }
        if let Some(trouble) = trouble {
            self.finding(&input, trouble);
        }
        if panics_so_far() > panics_before {
            let panics = PANICS.lock().unwrap()[panics_before..].to_vec();
            if input.known_bug.is_some() {
                self.known_panics += panics.len();
            }
            self.finding(&input, format!("a panic while it was handled: {}", panics.join(" | ")));
        }
        status
    }

    fn finding(&mut self, input: &Input, what: String) {
        let line = format!("{what}\n    input: {}", input.show(1_500));
        match &input.known_bug {
            Some(bug) => {
                // A job of a known bug's input that panicked: its panic is that bug's too.
                if what.contains(") panicked: ") {
                    self.known_panics += 1;
                }
                self.known.push(format!("{line}\n    known bug: {bug}"))
            }
            None => {
                self.save(input);
                self.findings.push(line)
            }
        }
    }

    /// Keeps a failing input whole for replay (`target/tmp/fuzz-findings/`).
    fn save(&self, input: &Input) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
        let _ = std::fs::create_dir_all(&dir);
        let name = format!("{}-{}.json", input.family, self.findings.len());
        let _ = std::fs::write(dir.join(name), &input.body);
    }

    // ---------------------------------------------------------------- Telegram

    async fn telegram_update(&mut self, origin: String, body: Vec<u8>, known_bug: Option<String>) {
        let update_id = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["update_id"].as_i64());
        let input = Input {
            family: "telegram",
            origin,
            method: "POST",
            path: format!("/hooks/telegram/{BOT_ONE}"),
            body,
            known_bug,
        };
        if let Some(id) = update_id {
            self.by_key.insert(format!("process-telegram-update:tg:{BOT_ONE}:{id}"), input.clone());
        }
        let secret = WEBHOOK_SECRET.as_bytes().to_vec();
        self.send(input, &[("x-telegram-bot-api-secret-token", secret)]).await;
    }

    fn fresh_update_id(&mut self) -> i64 {
        self.next_update_id += 1;
        self.next_update_id
    }

    async fn telegram_family(&mut self) {
        const FAMILY: &str = "telegram";
        const TARGETS: &[&str] = &[
            "/update_id",
            "/message/date",
            "/message/from/id",
            "/message/from/language_code",
            "/message/chat/id",
            "/message/text",
            "/message/entities/0/offset",
            "/message/entities/0/length",
            "/message/successful_payment/total_amount",
            "/message/successful_payment/subscription_expiration_date",
            "/message/successful_payment/invoice_payload",
            "/message/successful_payment/telegram_payment_charge_id",
            "/callback_query/data",
            "/callback_query/from/id",
            "/chat_member/date",
            "/chat_member/chat/id",
            "/chat_member/new_chat_member/status",
            "/chat_member/new_chat_member/user/id",
            "/chat_member/old_chat_member/status",
            "/chat_member/invite_link/invite_link",
            "/my_chat_member/new_chat_member/status",
            "/chat_join_request/from/id",
            "/chat_join_request/chat/id",
            "/pre_checkout_query/total_amount",
            "/pre_checkout_query/invoice_payload",
            "/pre_checkout_query/from/id",
        ];
        let corpus = load_corpus(FAMILY);
        self.control(FAMILY).await;
        for (i, seed) in corpus.iter().enumerate() {
            if !self.going_on() {
                break;
            }
            let mut update = seed.input.clone();
            self.bindings.bind(&mut update);
            self.telegram_update(
                format!("corpus {}", seed.name),
                serde_json::to_vec(&update).unwrap(),
                seed.known_bug.clone(),
            )
            .await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        // Edges no mutation reaches: the body limit, and update ids at the edges of i64.
        let edges: Vec<Vec<u8>> = vec![
            json!({"update_id": self.fresh_update_id(), "message": {"text": "x".repeat(api_max_body())}}).to_string().into_bytes(),
            json!({"update_id": i64::MAX, "message": {"message_id": 1, "date": CORPUS_TIME, "chat": {"id": ALICE, "type": "private"}, "from": {"id": ALICE, "is_bot": false, "first_name": "Alice"}, "text": "/help"}}).to_string().into_bytes(),
            br#"{"update_id": 9223372036854775808}"#.to_vec(),
            br#"{"update_id": 1e3, "message": {}}"#.to_vec(),
            br#"{"update_id": 0, "update_id": 5}"#.to_vec(),
            Vec::new(),
        ];
        for body in edges {
            if !self.going_on() {
                break;
            }
            self.telegram_update("edge".into(), body, None).await;
        }
        let strategy = mutation_strategy(TELEGRAM_KEYS, false);
        for i in 0..self.count(TELEGRAM_MUTATED) {
            if !self.going_on() {
                break;
            }
            let mutation = self.draw(&strategy);
            let seed = &corpus[mutation.seed.index(corpus.len())];
            let mut update = seed.input.clone();
            self.bindings.bind(&mut update);
            update["update_id"] = json!(self.fresh_update_id());
            let mut update = mutate(update, &mutation.ops, TARGETS);
            self.bindings.bind(&mut update);
            let mut body = serde_json::to_vec(&update).unwrap();
            if let Some(raw) = &mutation.raw {
                body = break_body(body, raw);
            }
            let origin = format!("mutated from {}: {:?}", seed.name, mutation_summary(&mutation));
            self.telegram_update(origin, body, None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        let strategy = telegram_scratch();
        for i in 0..self.count(TELEGRAM_SCRATCH) {
            if !self.going_on() {
                break;
            }
            let (id, mut update) = self.draw(&strategy);
            update["update_id"] = id.unwrap_or_else(|| json!(self.fresh_update_id()));
            let charge = format!("stxScratch{i}");
            self.bindings.bind(&mut update);
            let body = serde_json::to_string(&update).unwrap().replace("@FRESH_CHARGE@", &charge).into_bytes();
            self.telegram_update("from scratch".into(), body, None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        self.control(FAMILY).await;
        self.drain(FAMILY).await;
    }

    // ------------------------------------------------------------------ Stripe

    async fn stripe_event(&mut self, origin: String, body: String, known_bug: Option<String>) {
        let input = Input {
            family: "stripe",
            origin,
            method: "POST",
            path: format!("/hooks/stripe/{}", self.one.project_id),
            body: body.clone().into_bytes(),
            known_bug,
        };
        if let Some(id) = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["id"].as_str().map(str::to_string)) {
            self.by_key.insert(format!("stripe:{id}"), input.clone());
        }
        let signature = gatehouse_sim::stripe::sign(STRIPE_SECRET, chrono::Utc::now().timestamp(), &body);
        self.send(input, &[("stripe-signature", signature.into_bytes())]).await;
    }

    fn fresh_event_id(&mut self) -> String {
        self.next_event += 1;
        format!("evt_fuzz_{:06}", self.next_event)
    }

    async fn stripe_family(&mut self) {
        const FAMILY: &str = "stripe";
        const TARGETS: &[&str] = &[
            "/id",
            "/type",
            "/created",
            "/data/object",
            "/data/object/metadata",
            "/data/object/metadata/gatehouse_ref",
            "/data/object/payment_status",
            "/data/object/amount_total",
            "/data/object/amount_paid",
            "/data/object/billing_reason",
            "/data/object/period_start",
            "/data/object/period_end",
            "/data/object/lines/data/0/period/start",
            "/data/object/lines/data/0/period/end",
            "/data/object/parent/subscription_details/metadata/gatehouse_ref",
            "/data/object/status",
            "/data/object/cancel_at_period_end",
            "/data/object/current_period_end",
            "/data/object/items/data/0/current_period_end",
            "/data/object/refunded",
            "/data/object/invoice",
        ];
        let corpus = load_corpus(FAMILY);
        self.control(FAMILY).await;
        for seed in &corpus {
            if !self.going_on() {
                break;
            }
            let mut event = seed.input.clone();
            self.bindings.bind(&mut event);
            self.stripe_event(format!("corpus {}", seed.name), event.to_string(), seed.known_bug.clone()).await;
        }
        let big = json!({"id": self.fresh_event_id(), "object": "event", "type": "invoice.paid", "created": CORPUS_TIME,
                         "data": {"object": {"id": "in_big", "description": "x".repeat(api_max_body())}}});
        self.stripe_event("edge".into(), big.to_string(), None).await;
        let strategy = mutation_strategy(STRIPE_KEYS, true);
        for i in 0..self.count(STRIPE_MUTATED) {
            if !self.going_on() {
                break;
            }
            let mutation = self.draw(&strategy);
            let seed = &corpus[mutation.seed.index(corpus.len())];
            let mut event = seed.input.clone();
            self.bindings.bind(&mut event);
            event["id"] = json!(self.fresh_event_id());
            let mut event = mutate(event, &mutation.ops, TARGETS);
            self.bindings.bind(&mut event);
            let mut body = serde_json::to_vec(&event).unwrap();
            if let Some(raw) = &mutation.raw {
                body = break_body(body, raw);
            }
            let body = String::from_utf8(body).expect("Stripe bodies stay text");
            let origin = format!("mutated from {}: {:?}", seed.name, mutation_summary(&mutation));
            self.stripe_event(origin, body, None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        let strategy = stripe_scratch();
        for i in 0..self.count(STRIPE_SCRATCH) {
            if !self.going_on() {
                break;
            }
            let mut event = self.draw(&strategy);
            if let Value::Object(map) = &mut event {
                map.insert("id".into(), json!(self.fresh_event_id()));
            }
            self.bindings.bind(&mut event);
            self.stripe_event("from scratch".into(), event.to_string(), None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        self.control(FAMILY).await;
        self.drain(FAMILY).await;
    }

    // --------------------------------------------------------------------- /v1

    async fn v1_request(
        &mut self,
        origin: String,
        method: &'static str,
        path: &str,
        body: Vec<u8>,
        known_bug: Option<String>,
    ) {
        let corpus = origin.starts_with("corpus");
        let headers: Vec<(&str, Vec<u8>)> = match (path, if corpus { 0 } else { self.next_event % 4 }) {
            ("/grants", 1) => vec![("idempotency-key", format!("fuzz-{}", self.next_event).into_bytes())],
            ("/grants", 2) => vec![("idempotency-key", "fuzz-same-key".into())],
            ("/grants", 3) => {
                vec![("idempotency-key", "ключ\u{0}".as_bytes().iter().copied().filter(|b| *b != 0).collect())]
            }
            _ => vec![],
        };
        self.next_event += 1;
        let input = Input { family: "v1", origin, method, path: self.v1(path), body, known_bug };
        self.send(input, &headers).await;
        if path == "/bot/limits" {
            // Whatever limits the input set, project one goes back to the workers' defaults.
            let (status, body) = self
                .app
                .call(
                    reqwest::Method::PUT,
                    &self.v1("/bot/limits"),
                    Some(&self.one.key),
                    Some(json!({"calls_per_second": null, "chat_messages_per_second": null,
                                "group_messages_per_minute": null, "interactive_reserve": null})),
                )
                .await;
            assert!((200..300).contains(&status), "restoring the bot's limits: {status} {body}");
        }
    }

    async fn v1_family(&mut self) {
        const FAMILY: &str = "v1";
        const TARGETS: &[&str] = &[
            "/price",
            "/stars_price",
            "/duration_days",
            "/trial_days",
            "/chat_ids",
            "/chat_ids/0",
            "/currency",
            "/name",
            "/telegram_user_id",
            "/plan_id",
            "/expires_at",
            "/note",
            "/code",
            "/max_uses",
            "/provider",
            "/chat_id",
            "/join_strategy",
            "/calls_per_second",
            "/chat_messages_per_second",
            "/group_messages_per_minute",
            "/interactive_reserve",
            "/telegram_payment_charge_id",
        ];
        let corpus = load_corpus(FAMILY);
        let route = |seed: &Seed| -> (&'static str, String) {
            let method = match seed.input["method"].as_str() {
                Some("PUT") => "PUT",
                Some("POST") => "POST",
                other => panic!("{}: method {other:?}", seed.name),
            };
            (method, seed.input["path"].as_str().expect("a path").to_string())
        };
        self.control(FAMILY).await;
        for seed in &corpus {
            if !self.going_on() {
                break;
            }
            let (method, path) = route(seed);
            let mut body = seed.input["body"].clone();
            self.bindings.bind(&mut body);
            self.v1_request(
                format!("corpus {}", seed.name),
                method,
                &path,
                serde_json::to_vec(&body).unwrap(),
                seed.known_bug.clone(),
            )
            .await;
        }
        let strategy = mutation_strategy(V1_KEYS, false);
        for i in 0..self.count(V1_MUTATED) {
            if !self.going_on() {
                break;
            }
            let mutation = self.draw(&strategy);
            let seed = &corpus[mutation.seed.index(corpus.len())];
            let (method, path) = route(seed);
            let mut body = seed.input["body"].clone();
            self.bindings.bind(&mut body);
            let mut body = mutate(body, &mutation.ops, TARGETS);
            self.bindings.bind(&mut body);
            let mut bytes = serde_json::to_vec(&body).unwrap();
            if let Some(raw) = &mutation.raw {
                bytes = break_body(bytes, raw);
            }
            let origin = format!("mutated from {}: {:?}", seed.name, mutation_summary(&mutation));
            self.v1_request(origin, method, &path, bytes, None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        let strategy = v1_scratch();
        for i in 0..self.count(V1_SCRATCH) {
            if !self.going_on() {
                break;
            }
            let (route, mut body) = self.draw(&strategy);
            self.bindings.bind(&mut body);
            let (method, path) = V1_ROUTES[route];
            self.v1_request("from scratch".into(), method, path, serde_json::to_vec(&body).unwrap(), None).await;
            if i % CONTROL_EVERY == CONTROL_EVERY - 1 {
                self.control(FAMILY).await;
            }
        }
        for (method, path) in path_cases(&self.bindings) {
            if !self.going_on() {
                break;
            }
            let input = Input {
                family: FAMILY,
                origin: "path segment".into(),
                method,
                path: self.v1(&path),
                body: Vec::new(),
                known_bug: None,
            };
            self.send(input, &[]).await;
        }
        self.control(FAMILY).await;
        self.drain(FAMILY).await;
    }

    // ------------------------------------------------------------------ checks

    async fn webhooks_idle(&self) -> bool {
        let mut idle = true;
        for bot in [BOT_ONE, BOT_TWO] {
            idle &= self.app.tg.webhook_state(bot).await.map(|s| s.pending == 0).unwrap_or(false);
        }
        idle
    }

    /// Waits (until `deadline`) for no job due or running and no update left to deliver.
    async fn wait_quiet(&self, deadline: Instant) {
        while Instant::now() < deadline {
            let due = gatehouse_jobs::store::queue::due_or_running(&self.app.db.pool).await.unwrap_or(1);
            if due == 0 && self.webhooks_idle().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for every job to finish, then checks the jobs this family made.
    async fn drain(&mut self, family: &'static str) {
        let pool = self.app.db.pool.clone();
        // Bounded by the test runner's timeout too, so that the run always reports.
        let deadline = if self.stopped.is_some() {
            Instant::now() + Duration::from_secs(5)
        } else {
            (Instant::now() + DRAIN_TIMEOUT).min(self.started + HARD_LIMIT)
        };
        // The family's own work first.
        self.wait_quiet(deadline).await;
        // Then the world is put back: an input may have told Gatehouse that its bot lost
        // its rights in a managed chat (a `my_chat_member` update, applied as it comes),
        // and invites for that chat then wait for it, retrying. Adding the chats again
        // verifies them with Telegram (where the bot is still an administrator).
        for (chat_id, strategy) in [(CHANNEL_ONE, "single_use_link"), (GROUP_ONE, "join_request")] {
            let (status, body) = self
                .app
                .post(&self.v1("/chats"), &self.one.key, json!({"chat_id": chat_id, "join_strategy": strategy}))
                .await;
            assert_eq!(status, 202, "adding {chat_id} again: {body}");
        }
        self.wait_quiet(deadline).await;
        // Last, time passes: what waits for a retry runs now, until every job is finished.
        let mut settled = false;
        while Instant::now() < deadline {
            let unfinished = gatehouse_jobs::store::queue::unfinished(&pool).await.unwrap_or(i64::MAX);
            if unfinished == 0 && self.webhooks_idle().await {
                settled = true;
                break;
            }
            if gatehouse_jobs::store::queue::due_or_running(&pool).await.unwrap_or(1) == 0 {
                let moved = sqlx::query(
                    "UPDATE apalis.jobs SET run_at = now()
                     WHERE run_at > now() AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))",
                )
                .execute(&pool)
                .await
                .map(|r| r.rows_affected())
                .unwrap_or(0);
                self.figures.entry(family).or_default().fast_forwarded += moved as usize;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if settled {
            gatehouse_tests::drain_all(&pool, Duration::from_secs(5)).await;
        }
        let jobs = self.app.db.jobs().await;
        let stripe_events: HashMap<String, String> = sqlx::query_as::<_, (uuid::Uuid, String)>(
            "SELECT id, external_id FROM payment_events WHERE provider = 'stripe'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, external)| (format!("process-stripe-event:{id}"), format!("stripe:{external}")))
        .collect();
        let mut figures = self.figures.remove(family).unwrap_or_default();
        let mut unfinished_listed = 0usize;
        for job in jobs {
            if !self.seen_jobs.insert(job.id.clone()) {
                continue;
            }
            let result = job.last_result.as_ref().map(Value::to_string).unwrap_or_default();
            match job.status.as_str() {
                "Done" => figures.done += 1,
                "Killed" => {
                    figures.killed += 1;
                    *self.killed_reasons.entry(reason_class(job.kind.as_deref(), &result)).or_default() += 1;
                }
                "Failed" if job.attempts >= job.max_attempts => {
                    figures.failed += 1;
                    *self
                        .killed_reasons
                        .entry(format!("(failed) {}", reason_class(job.kind.as_deref(), &result)))
                        .or_default() += 1;
                }
                _ => figures.other += 1,
            }
            let key = job.idempotency_key.clone().unwrap_or_default();
            let input =
                self.by_key.get(&key).or_else(|| stripe_events.get(&key).and_then(|k| self.by_key.get(k))).cloned();
            let finished = matches!(job.status.as_str(), "Done" | "Killed")
                || (job.status == "Failed" && job.attempts >= job.max_attempts);
            let trouble = if job.status == "Running" {
                Some("left Running")
            } else if result.contains("panicked") {
                Some("panicked")
            } else if !finished {
                Some("not finished after the drain")
            } else {
                None
            };
            if verbose()
                && let Some(input) = input.as_ref().filter(|i| i.origin.starts_with("corpus"))
            {
                println!(
                    "fuzz corpus job: {} -> {} {} {}",
                    input.origin,
                    job.kind.as_deref().unwrap_or("?"),
                    job.status,
                    result
                );
            }
            if verbose() && result.contains("database") {
                println!(
                    "fuzz database failure: {} {} {} key {key}\n    input: {}",
                    job.kind.as_deref().unwrap_or("?"),
                    job.status,
                    result,
                    input.as_ref().map(|i| i.show(600)).unwrap_or_default()
                );
            }
            if trouble == Some("not finished after the drain") {
                unfinished_listed += 1;
                if unfinished_listed > 10 {
                    continue;
                }
            }
            if let Some(trouble) = trouble {
                let args = job_args(&pool, &job.id).await;
                let what = format!(
                    "[{family}] job {} ({}, {}, attempt {}/{}) {trouble}: {result}\n    args: {args}",
                    job.id,
                    job.kind.as_deref().unwrap_or("?"),
                    job.status,
                    job.attempts,
                    job.max_attempts
                );
                match input {
                    Some(input) => self.finding(&input, what),
                    None => self.findings.push(what),
                }
            }
        }
        if unfinished_listed > 10 {
            self.findings.push(format!("[{family}] {} more jobs not finished after the drain", unfinished_listed - 10));
        }
        if !settled && self.stopped.is_none() {
            let queues = self.queue_state().await;
            self.findings.push(format!(
                "[{family}] the queue did not drain within {DRAIN_TIMEOUT:?}; the queues then:\n{queues}"
            ));
            self.stopped = Some(format!("the queue did not drain after the {family} family"));
        }
        self.figures.insert(family, figures);
    }
}

/// A job row's args, shortened, for a report.
async fn job_args(pool: &sqlx::PgPool, id: &str) -> String {
    let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT job FROM apalis.jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten();
    let text = String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
    if text.chars().count() > 1_500 { format!("{}…", text.chars().take(1_500).collect::<String>()) } else { text }
}

/// A killed job's reason with its numbers and ids blurred, to count kinds of failure.
fn reason_class(kind: Option<&str>, result: &str) -> String {
    let mut out = String::new();
    let mut last_digit = false;
    for c in result.chars().take(110) {
        if c.is_ascii_digit() || c.is_ascii_hexdigit() && last_digit {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            last_digit = false;
            out.push(c);
        }
    }
    format!("{}: {out}", kind.unwrap_or("?"))
}

fn mutation_summary(mutation: &Mutation) -> Vec<String> {
    let describe = |kind: &Kind| match kind {
        Kind::Number(n) => format!("number {n}"),
        Kind::Text(s) => format!("text {}", short(s)),
        Kind::Affix(s, front) => format!("{} {}", if *front { "prefix" } else { "suffix" }, short(&json!(s))),
        Kind::Delete => "delete".into(),
        Kind::Swap(v) => format!("swap to {v}"),
        Kind::Wrap(n, arrays) => format!("nest {n} {}", if *arrays { "arrays" } else { "objects" }),
        Kind::Add(k, v) => format!("add {} = {}", short(&json!(k)), short(v)),
        Kind::Duplicate => "duplicate".into(),
    };
    let mut out: Vec<String> = mutation.ops.iter().map(|op| describe(&op.kind)).collect();
    if let Some(raw) = &mutation.raw {
        out.push(format!("raw {raw:?}"));
    }
    out
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…({} chars)", text.chars().take(40).collect::<String>(), text.len())
    } else {
        text
    }
}

/// The api's body limit, and one byte more.
fn api_max_body() -> usize {
    gatehouse_api::MAX_BODY + 1
}

/// `GATEHOUSE_FUZZ_VERBOSE=1` prints what became of each corpus input.
fn verbose() -> bool {
    std::env::var_os("GATEHOUSE_FUZZ_VERBOSE").is_some()
}

fn runner() -> TestRunner {
    let seed = std::env::var("GATEHOUSE_FUZZ_SEED")
        .ok()
        .map(|hex| {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("GATEHOUSE_FUZZ_SEED: 64 hex digits"))
                .collect();
            <[u8; 32]>::try_from(bytes).expect("GATEHOUSE_FUZZ_SEED: 64 hex digits")
        })
        .unwrap_or(SEED);
    let config =
        Config { cases: 256, failure_persistence: None, rng_algorithm: RngAlgorithm::ChaCha, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_makes_gatehouse_fail_or_stops_another_project() {
    count_panics();
    let started = Instant::now();
    let mut fuzz = Fuzz::start().await;
    let setup = started.elapsed();

    fuzz.telegram_family().await;
    let telegram = started.elapsed();
    fuzz.stripe_family().await;
    let stripe = started.elapsed();
    fuzz.v1_family().await;
    if verbose() {
        println!(
            "fuzz timing: setup {setup:?}, telegram until {telegram:?}, stripe until {stripe:?}, v1 until {:?}",
            started.elapsed()
        );
    }

    let panics = PANICS.lock().unwrap().clone();
    let family = |name: &str| {
        let f = fuzz.figures.get(name).cloned().unwrap_or_default();
        format!(
            "{name} tried={} refused_4xx={} accepted_2xx={} 5xx={} no_answer={} jobs done={} killed={} failed={} unfinished={} retries_fast_forwarded={}",
            f.tried,
            f.refused,
            f.accepted,
            f.server_errors,
            f.no_answer,
            f.done,
            f.killed,
            f.failed,
            f.other,
            f.fast_forwarded
        )
    };
    println!(
        "fuzz figures: {}; {}; {}; control replies={}/{}; panics={}; known bugs reproduced={}; setup={:.1}s total={:.1}s",
        family("telegram"),
        family("stripe"),
        family("v1"),
        fuzz.control_answered,
        fuzz.control_asked,
        panics.len(),
        fuzz.known.len(),
        setup.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("fuzz killed (and failed) jobs by reason:");
    let mut reasons: Vec<_> = fuzz.killed_reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, n) in reasons.iter().take(40) {
        println!("  {n:5}  {reason}");
    }
    if let Some(why) = &fuzz.stopped {
        println!("fuzz stopped early: {why}");
    }
    if fuzz.out_of_time {
        println!(
            "fuzz stopped early: the time budget of {TIME_BUDGET:?} ran out ({} parts of the families cut short; a slow machine)",
            fuzz.untried
        );
    }
    for known in &fuzz.known {
        println!("fuzz known bug still there: {known}");
    }
    for panic in &panics {
        println!("fuzz panic: {panic}");
    }
    for finding in &fuzz.findings {
        println!("fuzz finding: {finding}");
    }
    assert!(
        fuzz.findings.is_empty() && panics.len() <= fuzz.known_panics,
        "{} findings and {} panics (see the `fuzz finding:` and `fuzz panic:` lines above)",
        fuzz.findings.len(),
        panics.len()
    );
}
