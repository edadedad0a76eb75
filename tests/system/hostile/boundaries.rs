//! Boundary values in every field of every unary method, generated from the contracts'
//! descriptors so that a method or field added later is covered without a word here: empty, huge,
//! negative and maximum numbers, NaN and infinities, year 1 and 9999, unknown enum values, 100,000
//! repeated items, on an empty request and on one with every field plausibly filled; then seeded
//! random mixtures of them. No answer may be INTERNAL, UNKNOWN, CANCELLED or UNAVAILABLE; a
//! validation refusal stores nothing (the service's feed head stays where it was, since every
//! state change publishes an event in its transaction); and every service stays healthy.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use csm_proto::feed::v1::{GetFeedStateRequest, feed_client::FeedClient};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, MethodDescriptor, Value,
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use tonic::{Code, transport::Channel};

use super::{EVERY_ROLE, addresses_for, assert_healthy, call_on, start};

/// How deep into nested messages fields are varied (request, its messages, theirs).
const DEPTH: usize = 3;
/// The repeated-field size a caller may try.
const MANY: usize = 100_000;
/// Random mixtures per method.
const MIXTURES: usize = 12;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range a Timestamp may hold.
const YEAR_1: i64 = -62_135_596_800;
const YEAR_9999: i64 = 253_402_300_799;

/// One request to send: which method, what was varied, the encoded body.
struct Case {
    method: MethodDescriptor,
    label: String,
    body: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundary_values_in_every_field_of_every_method_are_refused_cleanly_and_store_nothing() {
    let seed = std::env::var("CSM_HOSTILE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_202_u64);
    let generating = Instant::now();
    let t = start().await;
    let pool = DescriptorPool::decode(csm_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_package: BTreeMap<String, Vec<Case>> = BTreeMap::new();
    for method in pool.services().flat_map(|s| s.methods().collect::<Vec<_>>()) {
        if method.is_client_streaming() || method.is_server_streaming() {
            continue;
        }
        let cases = by_package.entry(method.parent_service().package_name().to_string()).or_default();
        cases.extend(cases_for(&method, &mut rng));
    }
    let total: usize = by_package.values().map(Vec::len).sum();
    assert!(total > 5_000, "{total} cases");

    let generated = generating.elapsed();
    // Each service's methods in turn, the four services side by side.
    let started = Instant::now();
    let runs = by_package.into_iter().map(|(package, cases)| {
        let address = addresses_for(&t, &package)[0];
        async move {
            let endpoint = tonic::transport::Endpoint::from_shared(csm_cli::system::url(address)).unwrap();
            let channel = endpoint.connect().await.unwrap();
            let mut outcome = Outcome::default();
            for case in cases {
                let answer = call_on(channel.clone(), &path_of(&case.method), EVERY_ROLE, case.body.clone()).await;
                outcome.record(case, answer.err().map(|s| (s.code(), s.message().to_string())));
            }
            (channel, outcome)
        }
    });
    let outcomes = futures_util::future::join_all(runs).await;
    let first_pass = started.elapsed();
    assert_healthy(&t).await;

    let mut failures = Vec::new();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut replays = Vec::new();
    let mut replayed = 0;
    for (channel, outcome) in outcomes {
        failures.extend(outcome.failures);
        for (code, n) in outcome.codes {
            *codes.entry(code).or_default() += n;
        }
        replayed += outcome.refused.len();
        replays.push(replay_refusals_and_check_nothing_is_stored(channel, outcome.refused));
    }
    let mut answered_otherwise = 0;
    let replaying = Instant::now();
    for (stored, otherwise) in futures_util::future::join_all(replays).await {
        failures.extend(stored);
        answered_otherwise += otherwise;
    }
    assert_healthy(&t).await;
    eprintln!(
        "boundaries: seed {seed}, {total} calls generated in {generated:.1?} and sent in {first_pass:.1?}, \
         {replayed} refusals replayed in {:.1?} \
         with the feed heads watched ({answered_otherwise} answered otherwise then); answers {codes:?}; peak memory of the four services and \
         this test together: {}",
        replaying.elapsed(),
        peak_memory()
    );
    assert!(failures.is_empty(), "{} of {total} calls failed:\n{}", failures.len(), failures.join("\n"));
    t.stop().await;
}

#[derive(Default)]
struct Outcome {
    failures: Vec<String>,
    codes: BTreeMap<String, usize>,
    /// Validation refusals, to be sent again on a quiet system with the feed head watched.
    refused: Vec<Case>,
}

impl Outcome {
    fn record(&mut self, case: Case, error: Option<(Code, String)>) {
        let code = error.as_ref().map_or(Code::Ok, |(code, _)| *code);
        *self.codes.entry(format!("{code:?}")).or_default() += 1;
        match error {
            Some((Code::Internal | Code::Unknown | Code::Cancelled | Code::Unavailable | Code::DataLoss, message)) => {
                self.failures.push(format!("{} {}: {code:?} {message}", path_of(&case.method), case.label));
            }
            Some((Code::InvalidArgument | Code::OutOfRange, message)) => {
                if message.trim().is_empty() {
                    self.failures.push(format!("{} {}: {code:?} without a message", path_of(&case.method), case.label));
                }
                self.refused.push(case);
            }
            _ => {}
        }
    }
}

/// Sends every request a service refused again, one at a time, and checks its feed head did not
/// move. A head moved by the system's own background work (a consumer catching up, a sweep) is
/// told apart by trying once more after a pause. A request answered differently the second time
/// (an idempotency key a later call stored, a resource created since) proves nothing either way
/// and is counted, not checked.
async fn replay_refusals_and_check_nothing_is_stored(channel: Channel, refusals: Vec<Case>) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut answered_otherwise = 0;
    for case in refusals {
        let path = path_of(&case.method);
        let mut moved = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            let before = head(channel.clone()).await;
            let answer = call_on(channel.clone(), &path, EVERY_ROLE, case.body.clone()).await;
            let after = head(channel.clone()).await;
            if !matches!(&answer, Err(status) if matches!(status.code(), Code::InvalidArgument | Code::OutOfRange)) {
                answered_otherwise += 1;
                moved = None;
                break;
            }
            if before == after {
                moved = None;
                break;
            }
            moved = Some(format!("feed head moved from {before} to {after}"));
        }
        if let Some(what) = moved {
            failures.push(format!("{path} {}: refused, but {what}", case.label));
        }
    }
    (failures, answered_otherwise)
}

/// The process's peak resident set, as Linux reports it.
fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|line| line.strip_prefix("VmHWM:")).map_or("unknown".into(), |kb| kb.trim().to_string())
}

async fn head(channel: Channel) -> u64 {
    let mut feed = FeedClient::new(channel);
    let mut request = tonic::Request::new(GetFeedStateRequest {});
    request.metadata_mut().insert("authorization", format!("Bearer {EVERY_ROLE}").parse().unwrap());
    feed.get_feed_state(request).await.unwrap().into_inner().last_sequence
}

fn path_of(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

/// Every field path to depth [`DEPTH`] varied on an empty and on a plausible request, then random
/// mixtures on the plausible one.
fn cases_for(method: &MethodDescriptor, rng: &mut StdRng) -> Vec<Case> {
    let input = method.input();
    let bases = [("empty", DynamicMessage::new(input.clone())), ("plausible", plausible(&input, DEPTH))];
    let mut paths = Vec::new();
    field_paths(&input, &mut Vec::new(), DEPTH, &mut paths);
    let values: Vec<_> = paths.iter().map(|path| boundaries(path.last().unwrap())).collect();
    let mut cases = Vec::new();
    for (base_name, base) in &bases {
        cases.push(Case { method: method.clone(), label: format!("{base_name} request"), body: base.encode_to_vec() });
        for (path, values) in paths.iter().zip(&values) {
            for (value_name, value) in values {
                let mut message = base.clone();
                set_at(&mut message, path, value.clone());
                let label = format!("{base_name} request, {} = {value_name}", dotted(path));
                cases.push(Case { method: method.clone(), label, body: message.encode_to_vec() });
            }
        }
    }
    for mixture in 0..MIXTURES {
        let mut message = bases[1].1.clone();
        let mut varied = Vec::new();
        for (path, values) in paths.iter().zip(&values).filter(|(path, _)| path.len() == 1) {
            if rng.random_bool(0.4)
                && let Some((value_name, value)) = values.choose(rng)
            {
                set_at(&mut message, path, value.clone());
                varied.push(format!("{} = {value_name}", dotted(path)));
            }
        }
        let label = format!("mixture {mixture}: {}", varied.join(", "));
        cases.push(Case { method: method.clone(), label, body: message.encode_to_vec() });
    }
    cases
}

fn dotted(path: &[FieldDescriptor]) -> String {
    path.iter().map(FieldDescriptor::name).collect::<Vec<_>>().join(".")
}

fn is_well_known(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
}

fn field_paths(
    message: &MessageDescriptor,
    prefix: &mut Vec<FieldDescriptor>,
    depth: usize,
    out: &mut Vec<Vec<FieldDescriptor>>,
) {
    for field in message.fields() {
        prefix.push(field.clone());
        out.push(prefix.clone());
        if let Kind::Message(child) = field.kind()
            && depth > 1
            && !field.is_map()
            && !is_well_known(&child)
        {
            field_paths(&child, prefix, depth - 1, out);
        }
        prefix.pop();
    }
}

/// Sets the field at `path`, creating the messages on the way; in a repeated message field the
/// first item is the one varied.
fn set_at(message: &mut DynamicMessage, path: &[FieldDescriptor], value: Value) {
    let (field, rest) = path.split_first().unwrap();
    if rest.is_empty() {
        message.set_field(field, value);
        return;
    }
    let Kind::Message(child) = field.kind() else { unreachable!("{} is no message", field.name()) };
    match message.get_field_mut(field) {
        Value::Message(inner) => set_at(inner, rest, value),
        Value::List(items) => {
            if items.is_empty() {
                items.push(Value::Message(DynamicMessage::new(child)));
            }
            if let Value::Message(inner) = &mut items[0] {
                set_at(inner, rest, value);
            }
        }
        other => unreachable!("{} holds {other:?}", field.name()),
    }
}

/// A request an honest caller might send: every field set (one member of each oneof), strings
/// shaped by their names, times now, durations an hour.
fn plausible(message: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut out = DynamicMessage::new(message.clone());
    match message.full_name() {
        "google.protobuf.Timestamp" => {
            out.set_field_by_name("seconds", Value::I64(chrono::Utc::now().timestamp()));
        }
        "google.protobuf.Duration" => out.set_field_by_name("seconds", Value::I64(3_600)),
        "google.protobuf.Any" | "google.protobuf.Struct" | "google.protobuf.Value" => {}
        _ if depth == 0 => {}
        _ => {
            for field in message.fields() {
                let first_of_its_oneof =
                    field.containing_oneof().is_none_or(|o| o.fields().next() == Some(field.clone()));
                if first_of_its_oneof {
                    out.set_field(&field, plausible_value(&field, depth));
                }
            }
        }
    }
    out
}

fn plausible_value(field: &FieldDescriptor, depth: usize) -> Value {
    let Kind::Message(entry) = field.kind() else {
        let single = plausible_single(field.name(), &field.kind(), depth);
        return if field.is_list() { Value::List(vec![single]) } else { single };
    };
    if field.is_map() {
        let value = plausible_single("value", &entry.map_entry_value_field().kind(), depth);
        return Value::Map(HashMap::from([(map_key(&entry, "x"), value)]));
    }
    let single = Value::Message(plausible(&entry, depth - 1));
    if field.is_list() { Value::List(vec![single]) } else { single }
}

fn plausible_single(name: &str, kind: &Kind, depth: usize) -> Value {
    match kind {
        Kind::Double => Value::F64(1.0),
        Kind::Float => Value::F32(1.0),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(1),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(1),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(1),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(1),
        Kind::Bool => Value::Bool(true),
        Kind::String => Value::String(plausible_text(name).to_string()),
        Kind::Bytes => Value::Bytes("x".into()),
        Kind::Enum(e) => Value::EnumNumber(e.values().nth(1).map_or(0, |v| v.number())),
        Kind::Message(m) => Value::Message(plausible(m, depth.saturating_sub(1))),
    }
}

fn plausible_text(name: &str) -> &'static str {
    match name {
        n if n.contains("phone") || n.contains("customer") || n.contains("msisdn") => "13800138000",
        n if n.contains("department") || n.contains("owner") => "billing",
        n if n.contains("region") => "east",
        n if n.contains("leaf") || n.contains("cause") => "system.coverage",
        n if n.contains("text") || n.contains("comment") || n.contains("description") => "信号很差，打不了电话",
        _ => "x",
    }
}

fn map_key(entry: &MessageDescriptor, text: &str) -> MapKey {
    match entry.map_entry_key_field().kind() {
        Kind::String => MapKey::String(text.to_string()),
        Kind::Bool => MapKey::Bool(true),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(text.len() as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(text.len() as i64),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(text.len() as u32),
        _ => MapKey::U64(text.len() as u64),
    }
}

/// The values tried in one field, each with its name for the failure message.
fn boundaries(field: &FieldDescriptor) -> Vec<(String, Value)> {
    let kind = field.kind();
    if field.is_map() {
        let Kind::Message(entry) = kind else { unreachable!("a map is a message of entries") };
        let value_field = entry.map_entry_value_field();
        let plausible_value = plausible_single("value", &value_field.kind(), 1);
        let one = |key: &str, value: Value| Value::Map(HashMap::from([(map_key(&entry, key), value)]));
        let mut out = vec![
            ("an empty key".to_string(), one("", plausible_value.clone())),
            ("a 100,000-character key".to_string(), one(&"k".repeat(100_000), plausible_value.clone())),
            (
                "10,000 entries".to_string(),
                Value::Map((0..10_000).map(|i| (map_key(&entry, &format!("k{i}")), plausible_value.clone())).collect()),
            ),
        ];
        for (name, value) in singles(&value_field.kind()) {
            out.push((format!("one entry of {name}"), one("x", value)));
        }
        return out;
    }
    let values = singles(&kind);
    if !field.is_list() {
        return values;
    }
    let mut out = vec![
        (format!("{MANY} items"), Value::List(vec![Value::default_value(&kind); MANY])),
        ("no items".to_string(), Value::List(Vec::new())),
    ];
    out.extend(values.into_iter().map(|(name, value)| (format!("[{name}]"), Value::List(vec![value]))));
    out
}

fn singles(kind: &Kind) -> Vec<(String, Value)> {
    let named = |values: Vec<(&str, Value)>| values.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
    match kind {
        Kind::Double => named(vec![
            ("NaN", Value::F64(f64::NAN)),
            ("+inf", Value::F64(f64::INFINITY)),
            ("-inf", Value::F64(f64::NEG_INFINITY)),
            ("-0.0", Value::F64(-0.0)),
            ("f64::MAX", Value::F64(f64::MAX)),
            ("f64::MIN", Value::F64(f64::MIN)),
            ("the smallest positive", Value::F64(f64::MIN_POSITIVE)),
        ]),
        Kind::Float => named(vec![
            ("NaN", Value::F32(f32::NAN)),
            ("+inf", Value::F32(f32::INFINITY)),
            ("-inf", Value::F32(f32::NEG_INFINITY)),
            ("f32::MAX", Value::F32(f32::MAX)),
            ("f32::MIN", Value::F32(f32::MIN)),
        ]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => named(vec![
            ("0", Value::I32(0)),
            ("-1", Value::I32(-1)),
            ("i32::MIN", Value::I32(i32::MIN)),
            ("i32::MAX", Value::I32(i32::MAX)),
        ]),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => named(vec![
            ("0", Value::I64(0)),
            ("-1", Value::I64(-1)),
            ("i64::MIN", Value::I64(i64::MIN)),
            ("i64::MAX", Value::I64(i64::MAX)),
        ]),
        Kind::Uint32 | Kind::Fixed32 => named(vec![("0", Value::U32(0)), ("u32::MAX", Value::U32(u32::MAX))]),
        Kind::Uint64 | Kind::Fixed64 => named(vec![("0", Value::U64(0)), ("u64::MAX", Value::U64(u64::MAX))]),
        Kind::Bool => named(vec![("false", Value::Bool(false)), ("true", Value::Bool(true))]),
        Kind::String => named(vec![
            ("\"\"", Value::String(String::new())),
            ("blanks", Value::String(" \t\n".into())),
            ("100,000 characters", Value::String("x".repeat(100_000))),
            ("40,000 CJK characters", Value::String("满".repeat(40_000))),
            ("a NUL", Value::String("a\0b".into())),
            ("bidi and emoji", Value::String("\u{202e}abc\u{fe0f}🙂".into())),
            ("SQL", Value::String("' OR 1=1; DROP TABLE cases; --".into())),
            ("a path", Value::String("../../../etc/passwd".into())),
            ("a 40-digit number", Value::String("9".repeat(40))),
        ]),
        Kind::Bytes => named(vec![
            ("no bytes", Value::Bytes(Default::default())),
            ("100,000 bytes", Value::Bytes(vec![0xff; 100_000].into())),
        ]),
        Kind::Enum(e) => {
            let mut out: Vec<(String, Value)> =
                e.values().map(|v| (v.name().to_string(), Value::EnumNumber(v.number()))).collect();
            out.extend(named(vec![
                ("unknown 9999", Value::EnumNumber(9_999)),
                ("unknown -1", Value::EnumNumber(-1)),
                ("unknown i32::MIN", Value::EnumNumber(i32::MIN)),
            ]));
            out
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => [
                ("year 1", YEAR_1, 0),
                ("year 9999", YEAR_9999, 999_999_999),
                ("before year 1", YEAR_1 - 1, 0),
                ("after year 9999", YEAR_9999 + 1, 0),
                ("i64::MIN seconds", i64::MIN, 0),
                ("i64::MAX seconds", i64::MAX, 0),
                ("negative nanos", 0, -1),
                ("a billion nanos", 0, 1_000_000_000),
            ]
            .into_iter()
            .map(|(name, seconds, nanos)| (name.to_string(), seconds_and_nanos(m, seconds, nanos)))
            .collect(),
            "google.protobuf.Duration" => [
                ("i64::MIN seconds", i64::MIN, 0),
                ("i64::MAX seconds", i64::MAX, 0),
                ("-1 s", -1, 0),
                ("mixed signs", 1, -1),
                ("negative nanos", 0, -999_999_999),
                ("a billion nanos", 0, 1_000_000_000),
                ("10,000 years", 315_576_000_001, 0),
                ("zero", 0, 0),
            ]
            .into_iter()
            .map(|(name, seconds, nanos)| (name.to_string(), seconds_and_nanos(m, seconds, nanos)))
            .collect(),
            _ => vec![("an empty message".to_string(), Value::Message(DynamicMessage::new(m.clone())))],
        },
    }
}

fn seconds_and_nanos(message: &MessageDescriptor, seconds: i64, nanos: i32) -> Value {
    let mut out = DynamicMessage::new(message.clone());
    out.set_field_by_name("seconds", Value::I64(seconds));
    out.set_field_by_name("nanos", Value::I32(nanos));
    Value::Message(out)
}
