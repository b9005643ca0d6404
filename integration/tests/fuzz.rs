//! Fuzzing of the parsers that read untrusted or operator text (RELIABILITY.md, "Fuzzing"), on stable Rust
//! with proptest: the event parser (`nightshift::event::parse`), the config parser
//! (`nightshift::config::parse`, which also covers the deadline, skip-date, statistic and time
//! zone checks inside it), the duration parser (`config::parse_duration`) and the `--until` parser
//! of `nightshift pause` (`overrides::parse_until`).
//!
//! Each target gets two generators: structure-aware (values built from the wire format's own
//! fields, types and edge values) and mutation of the committed seed corpus
//! (`integration/fixtures/fuzz/`, plus the event fixtures): bit flips, hostile tokens inserted,
//! ranges deleted, duplicated, truncated and spliced between seeds. Properties: no panic; every
//! `Err` carries a non-empty, specific message; every `Ok` re-validates (a parsed event's step
//! command serializes and parses back to the same command, a parsed config keeps every invariant
//! the validator promises, a parsed duration equals an independent model of the grammar and its
//! canonical spelling parses back to it, an `--until` is in the future).
//!
//! Bounded by default (a fixed seed, about 20 s in all on CI's debug build);
//! `NIGHTSHIFT_FUZZ_CASES=N` runs N cases per generator with a random seed (printed),
//! `NIGHTSHIFT_FUZZ_SEED=<32 hex>` replays one. `cargo test --test integration fuzz_ -- --nocapture`
//! prints the figures.

use nightshift::config::{self, Config};
use nightshift::event::{self, EventKind, RejectCode};
use nightshift::overrides;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestError, TestRng, TestRunner};
use serde_json::{Map, Number, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/fixtures/fuzz")
}

// ---------------------------------------------------------------------------------------------
// The runner: case counts, seeds, figures
// ---------------------------------------------------------------------------------------------

/// Cases per generator: the default (bounded run), or `NIGHTSHIFT_FUZZ_CASES`.
fn cases(default: u32) -> u32 {
    std::env::var("NIGHTSHIFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A fixed seed for the bounded run (CI is reproducible), a random one for a long run, or
/// `NIGHTSHIFT_FUZZ_SEED`.
fn seed(target: &str) -> [u8; 16] {
    if let Ok(hex_seed) = std::env::var("NIGHTSHIFT_FUZZ_SEED") {
        let bytes = hex::decode(hex_seed.trim()).expect("NIGHTSHIFT_FUZZ_SEED is 32 hex digits");
        return bytes
            .try_into()
            .expect("NIGHTSHIFT_FUZZ_SEED is 32 hex digits");
    }
    let mut seed = [0u8; 16];
    if std::env::var("NIGHTSHIFT_FUZZ_CASES").is_ok() {
        seed.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    } else {
        for (i, b) in target.bytes().enumerate() {
            seed[(i * 7) % 16] = seed[(i * 7) % 16].rotate_left(3) ^ b;
        }
    }
    seed
}

/// Runs `property` on `cases` values of `strategy`; prints one figure line; on a failure prints
/// the minimal failing input and panics with it.
fn fuzz<S, F>(target: &str, generator: &str, default_cases: u32, strategy: S, property: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(&S::Value) -> Result<(), String>,
{
    let cases = cases(default_cases);
    let seed = seed(&format!("{target}/{generator}"));
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..RunnerConfig::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::XorShift, &seed));
    let runs = AtomicU64::new(0);
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        runs.fetch_add(1, Ordering::Relaxed);
        property(&value).map_err(TestCaseError::fail)
    });
    let elapsed = started.elapsed();
    println!(
        "FUZZ {target:<14} {generator:<16} cases {cases:>7}  executions {:>7}  crashes {}  {:>6.2}s  seed {}",
        runs.load(Ordering::Relaxed),
        usize::from(result.is_err()),
        elapsed.as_secs_f64(),
        hex::encode(seed)
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!(
            "fuzz {target}/{generator} found a failing input (seed {}):\n  input: {input:?}\n  why: {why}",
            hex::encode(seed)
        ),
        Err(TestError::Abort(why)) => panic!("fuzz {target}/{generator} aborted: {why}"),
    }
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

// ---------------------------------------------------------------------------------------------
// Mutation of seeds (shared by every target)
// ---------------------------------------------------------------------------------------------

/// Tokens a mutation inserts: JSON and TOML structure, escapes, out-of-range numbers, control,
/// bidi and invalid UTF-8 bytes, and fields that change what an event asks for.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b",",
    b":",
    b"=",
    b"\n",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\\\"",
    b"\x00",
    b"\xff",
    b"\xc3",
    "\u{202e}".as_bytes(),
    "\u{200b}".as_bytes(),
    "\u{2010}".as_bytes(),
    b"\"step\": \"scale-up\", ",
    b"\"force\": true, ",
    b"\"now\": \"2026-11-25T13:00:00Z\", ",
    b"\"source\": \"aws.ecs\", ",
    b"\"detail\": {}, ",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"[[scenario]]\n",
    b"[scenario.scale_down]\n",
    b"replicas = 16\n",
    b"\"99999999999999999999m\"",
    b"'''",
    b"\"\"\"",
    b"#",
    b"inf",
    b"nan",
    b"0x7fffffffffffffff",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Insert(Index, usize),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
    Splice(usize, Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1usize..256).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<Index>(), any::<Index>())
            .prop_map(|(s, a, b)| Mutation::Splice(s, a, b)),
    ]
}

fn mutate(seed: &[u8], others: &[Vec<u8>], mutations: &[Mutation]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for m in mutations {
        let len = data.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::FlipBit(i, bit) if len > 0 => data[i.index(len)] ^= 1 << bit,
            Mutation::FlipBit(..) => {}
            Mutation::Insert(i, t) => {
                let p = at(i);
                data.splice(p..p, TOKENS[*t].iter().copied());
            }
            Mutation::Delete(i, n) => {
                let p = at(i).min(len);
                data.drain(p..(p + n).min(len));
            }
            Mutation::Duplicate(i, n) => {
                let p = at(i).min(len);
                let piece: Vec<u8> = data[p..(p + n).min(len)].to_vec();
                data.splice(p..p, piece);
            }
            Mutation::Truncate(i) => data.truncate(at(i)),
            Mutation::Splice(s, a, b) => {
                if let Some(other) = others.get(s % others.len().max(1)) {
                    let from = if other.is_empty() {
                        0
                    } else {
                        a.index(other.len())
                    };
                    let p = at(b).min(len);
                    data.truncate(p);
                    data.extend_from_slice(&other[from..]);
                }
            }
        }
    }
    data
}

/// The seed files of one corpus directory (sorted), as bytes.
fn seeds(dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())))
        .map(|e| e.expect("a seed file").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("a seed"))
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {dirs:?}");
    seeds
}

fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    (0..count, prop::collection::vec(mutation(), 1..8))
        .prop_map(move |(i, ms)| mutate(&seeds[i], &seeds, &ms))
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(fuzz_dir().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Target 1: the event parser
// ---------------------------------------------------------------------------------------------

const EVENT_KEYS: &[&str] = &[
    "scenario",
    "step",
    "id",
    "scheduled_time",
    "force",
    "now",
    "version",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
    "lastStatus",
    "group",
    "status",
    "jobQueue",
    "clusterArn",
    "taskArn",
    "stoppedReason",
    "jobName",
    "jobId",
    "forse",
    "",
];

const EVENT_STRINGS: &[&str] = &[
    "nightly-batch",
    "scale-up",
    "check",
    "scale-down",
    "STOPPED",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "aws.ecs",
    "aws.batch",
    "aws.events",
    "aws.",
    "nightshift",
    "ECS Task State Change",
    "Batch Job State Change",
    "Scheduled Event",
    "family:nightly-job",
    "nightly-queue",
    "arn:aws:batch:ap-northeast-1:123456789012:job-queue/nightly-queue",
    "2026-11-25T13:00:00Z",
    "2026-11-25T22:00:00+09:00",
    "9999-12-30T22:00:00Z",
    "-009999-01-02T01:59:59Z",
    "2026-11-25T13:00:00",
    "<aws.scheduler.scheduled-time>",
    "",
    "0",
    "123456789012",
    "nightly\u{2010}batch",
    "nightly-batch\u{202e}",
    "scale-up\n",
];

fn event_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(EVENT_STRINGS).prop_map(str::to_string),
        2 => "[A-Za-z0-9_-]{0,70}",
        2 => any::<String>(),
        1 => (4090usize..4100).prop_map(|n| "x".repeat(n)),
        1 => (250usize..260).prop_map(|n| "\u{e9}".repeat(n)),
    ]
    .boxed()
}

fn event_number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
    .boxed()
}

fn event_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        event_number(),
        event_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(event_key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn event_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(EVENT_KEYS).prop_map(str::to_string),
        1 => event_string(),
    ]
    .boxed()
}

/// A well-typed value for a known field most of the time, anything otherwise.
fn field_value(key: &'static str) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match key {
        "force" => any::<bool>().prop_map(Value::Bool).boxed(),
        "resources" => prop::collection::vec(event_string().prop_map(Value::String), 0..3)
            .prop_map(Value::Array)
            .boxed(),
        _ => event_string().prop_map(Value::String).boxed(),
    };
    prop_oneof![6 => typed, 1 => event_value()].boxed()
}

fn object_of(keys: &'static [&'static str]) -> BoxedStrategy<Map<String, Value>> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = keys
        .iter()
        .map(|k| {
            prop::option::weighted(0.7, field_value(k).prop_map(move |v| (k.to_string(), v)))
                .boxed()
        })
        .collect();
    (
        fields,
        prop::collection::vec((event_key(), event_value()), 0..2),
    )
        .prop_map(|(known, extra)| {
            let mut map: Map<String, Value> = known.into_iter().flatten().collect();
            map.extend(extra);
            map
        })
        .boxed()
}

fn event_payload() -> BoxedStrategy<Vec<u8>> {
    let command = object_of(&["scenario", "step", "id", "scheduled_time", "force", "now"]);
    let ecs = object_of(&[
        "lastStatus",
        "group",
        "clusterArn",
        "taskArn",
        "stoppedReason",
    ]);
    let batch = object_of(&["status", "jobQueue", "jobName", "jobId"]);
    let detail = prop_oneof![
        3 => command.clone().prop_map(Value::Object),
        2 => ecs.prop_map(Value::Object),
        2 => batch.prop_map(Value::Object),
        1 => event_value(),
    ];
    let envelope = (
        object_of(&[
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
        ]),
        prop::option::weighted(0.9, detail),
    )
        .prop_map(|(mut map, detail)| {
            if let Some(detail) = detail {
                map.insert("detail".into(), detail);
            }
            Value::Object(map)
        });
    let value = prop_oneof![
        3 => command.prop_map(Value::Object),
        3 => envelope,
        1 => event_value(),
    ];
    (value, any::<bool>())
        .prop_map(|(v, pretty)| {
            if pretty {
                serde_json::to_vec_pretty(&v).unwrap_or_default()
            } else {
                serde_json::to_vec(&v).unwrap_or_default()
            }
        })
        .boxed()
}

/// The property of the event parser on any bytes.
fn event_property(payload: &[u8]) -> Result<(), String> {
    let first = event::parse(payload);
    ensure(first == event::parse(payload), || {
        "parse is not deterministic".into()
    })?;
    match first {
        Ok(event) => {
            ensure(
                event.payload_hash.len() == 64
                    && event.payload_hash.bytes().all(|b| b.is_ascii_hexdigit()),
                || format!("payload hash {:?}", event.payload_hash),
            )?;
            match &event.kind {
                EventKind::Step(command) => {
                    let name = &command.scenario;
                    ensure(
                        !name.is_empty()
                            && name.chars().count() <= event::MAX_SCENARIO_CHARS
                            && name
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                        || format!("accepted scenario name {name:?}"),
                    )?;
                    ensure(
                        !command.force || command.step == nightshift::Step::ScaleDown,
                        || "force accepted on a step other than scale-down".into(),
                    )?;
                    ensure(event.now_override == command.now, || {
                        "now_override differs from the command's now".into()
                    })?;
                    // Re-validation: the command's wire format parses back to the same command.
                    let wire = serde_json::to_vec(command).map_err(|e| e.to_string())?;
                    let again = event::parse(&wire)
                        .map_err(|r| format!("re-serialized command rejected: {r}"))?;
                    ensure(again.kind == event.kind, || {
                        format!("round trip changed the command: {:?}", again.kind)
                    })?;
                }
                EventKind::Completion(completion) => {
                    ensure(!completion.to_string().is_empty(), || {
                        "empty completion summary".into()
                    })?;
                }
            }
            // The payload hash is of the canonical JSON: the same value re-encoded compactly is
            // the same event with the same hash and dedup key.
            let value: Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
            let compact = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
            let again =
                event::parse(&compact).map_err(|r| format!("re-encoded payload rejected: {r}"))?;
            ensure(
                again.kind == event.kind
                    && again.key == event.key
                    && again.payload_hash == event.payload_hash,
                || "re-encoding the payload changed the event or its hash".into(),
            )?;
            Ok(())
        }
        Err(rejection) => {
            let text = rejection.to_string();
            ensure(!rejection.message.trim().is_empty(), || {
                format!("empty message for {}", rejection.code)
            })?;
            ensure(
                text.starts_with(&format!("{}: ", rejection.code.as_str())),
                || format!("{text:?}"),
            )?;
            ensure(RejectCode::ALL.contains(&rejection.code), || {
                "unknown code".into()
            })?;
            // One line, with untrusted text escaped: nothing that could forge a log line or flip
            // a terminal's text direction.
            ensure(
                !rejection.message.chars().any(|c| {
                    c.is_control()
                        || ('\u{202a}'..='\u{202e}').contains(&c)
                        || ('\u{2066}'..='\u{2069}').contains(&c)
                }),
                || format!("raw control or bidi character in {:?}", rejection.message),
            )?;
            // Short enough to record (the rejection's record must fit in one DynamoDB item).
            ensure(rejection.message.len() <= 16 * 1024, || {
                format!("{} bytes of message", rejection.message.len())
            })?;
            if let Some(scenario) = rejection.scenario_hint() {
                ensure(
                    scenario
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                    || format!("scenario hint {scenario:?}"),
                )?;
            }
            Ok(())
        }
    }
}

fn event_seeds() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/fixtures");
    seeds(&[fuzz_dir().join("events"), root.join("events")])
}

#[test]
fn fuzz_event_parser_structure_aware() {
    fuzz(
        "event::parse",
        "structure-aware",
        2000,
        event_payload(),
        |p| event_property(p),
    );
}

#[test]
fn fuzz_event_parser_mutated_seeds() {
    fuzz(
        "event::parse",
        "mutated seeds",
        8000,
        mutated(event_seeds()),
        |p| event_property(p),
    );
}

// ---------------------------------------------------------------------------------------------
// Target 2: the config parser
// ---------------------------------------------------------------------------------------------

/// TOML values a structure-aware edit puts in place of a key's value.
const TOML_VALUES: &[&str] = &[
    "\"15m\"",
    "\"0s\"",
    "\"\"",
    "\" \"",
    "\"1h30m\"",
    "\"1.5h\"",
    "\"-5m\"",
    "\"99999999999999999999m\"",
    "\"07:30\"",
    "\"24:00\"",
    "\"7:5\"",
    "\"23:59\"",
    "07:30:00",
    "2026-12-31",
    "\"2026-02-30\"",
    "0",
    "1",
    "-1",
    "15",
    "16",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "99999999999999999999",
    "1.5",
    "1e400",
    "inf",
    "-inf",
    "nan",
    "true",
    "[]",
    "{}",
    "[\"2026-12-31\"]",
    "\"db.\"",
    "\"db.r6g.large\"",
    "\"r6g.large\"",
    "\"db..x\"",
    "\"Asia/Tokyo\"",
    "\"tokyo\"",
    "\"UTC\"",
    "\"../../etc/localtime\"",
    "\"busy\"",
    "\"quiet\"",
    "\"Busy\"",
    "\"Maximum\"",
    "\"p99.9\"",
    "\"p101\"",
    "\"aws.ecs\"",
    "\"aws.batch\"",
    "\"ecs\"",
    "\"nightly\\u202ebatch\"",
    "\"nightly\\u0000batch\"",
    "{ Job = \"nightly\" }",
    "{ Job = \"\" }",
    "\"*\"",
];

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(TOML_VALUES).prop_map(str::to_string),
        2 => duration_text().prop_map(|d| toml_string(&d)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
        1 => any::<String>().prop_map(|s| toml_string(&s)),
        1 => "[a-zA-Z0-9._/*-]{0,80}".prop_map(|s| toml_string(&s)),
    ]
    .boxed()
}

#[derive(Debug, Clone)]
enum Edit {
    Value(Index, String),
    DropLine(Index),
    DuplicateLine(Index),
    InsertLine(Index, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let line = prop_oneof![
        select(
            &[
                "[[scenario]]",
                "[[scenario.ecs]]",
                "[[scenario.docdb]]",
                "[[scenario.aurora]]",
                "[[scenario.neptune]]",
                "[scenario.scale_down]",
                "[[scenario.scale_down.metric]]",
                "[[scenario.completion]]",
                "[scenario]",
                "resize = \"db.r6g.2xlarge\"",
                "skip_dates = [\"2026-12-31\"]",
                "missing_data = \"quiet\"",
                "name = \"nightly-batch\"",
                "unknown = 1",
                "table = \"t\""
            ][..]
        )
        .prop_map(str::to_string),
        ("[a-z_]{1,12}", toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
    ];
    prop_oneof![
        6 => (any::<Index>(), toml_value()).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => any::<Index>().prop_map(Edit::DropLine),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<Index>(), line).prop_map(|(i, l)| Edit::InsertLine(i, l)),
    ]
}

fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        match e {
            Edit::Value(i, v) => {
                // The i-th `key = value` line gets another value.
                let assignments: Vec<usize> = (0..lines.len())
                    .filter(|&n| lines[n].contains(" = "))
                    .collect();
                if assignments.is_empty() {
                    continue;
                }
                let n = assignments[i.index(assignments.len())];
                let key = lines[n].split(" = ").next().unwrap_or_default().to_string();
                lines[n] = format!("{key} = {v}");
            }
            Edit::DropLine(i) => {
                lines.remove(i.index(lines.len()));
            }
            Edit::DuplicateLine(i) => {
                let n = i.index(lines.len());
                lines.insert(n, lines[n].clone());
            }
            Edit::InsertLine(i, l) => lines.insert(i.index(lines.len() + 1), l.clone()),
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn config_seeds() -> Vec<Vec<u8>> {
    seeds(&[fuzz_dir().join("configs")])
}

fn config_structured() -> impl Strategy<Value = String> {
    let seeds: Vec<String> = config_seeds()
        .into_iter()
        .map(|s| String::from_utf8(s).expect("config seeds are UTF-8"))
        .collect();
    let count = seeds.len();
    (0..count, prop::collection::vec(edit(), 1..6))
        .prop_map(move |(i, edits)| apply_edits(&seeds[i], &edits))
}

/// What a validated config promises (config.rs), checked on every `Ok`.
fn config_invariants(cfg: &Config) -> Result<(), String> {
    let t = &cfg.table;
    ensure(
        (3..=255).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)),
        || format!("table {t:?}"),
    )?;
    ensure(!cfg.scenarios.is_empty(), || "no scenario".into())?;
    let mut names = std::collections::HashSet::new();
    for s in &cfg.scenarios {
        ensure(
            !s.name.is_empty()
                && s.name.len() <= config::MAX_SCENARIO_NAME_LEN
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            || format!("scenario name {:?}", s.name),
        )?;
        ensure(names.insert(s.name.clone()), || {
            format!("duplicate scenario {:?}", s.name)
        })?;
        ensure(!s.ecs.is_empty() || s.clusters().next().is_some(), || {
            "a scenario that scales nothing".into()
        })?;
        for e in &s.ecs {
            ensure(e.desired >= 1 && e.desired <= e.max, || {
                format!("desired {} max {}", e.desired, e.max)
            })?;
            ensure(
                !e.cluster.trim().is_empty() && !e.service.trim().is_empty(),
                || "empty ECS name".into(),
            )?;
        }
        for d in s.clusters() {
            ensure(d.replicas <= config::MAX_DOCDB_REPLICAS, || {
                format!("replicas {}", d.replicas)
            })?;
            ensure(d.replicas == 0 || d.instance_class.is_some(), || {
                format!("replicas {} without an instance_class", d.replicas)
            })?;
            for class in d.instance_class.iter().chain(d.resize.iter()) {
                ensure(
                    class.starts_with("db.")
                        && class.len() > 3
                        && !class.contains(char::is_whitespace),
                    || format!("instance class {class:?}"),
                )?;
            }
        }
        let sd = &s.scale_down;
        ensure(!sd.quiet_for.is_zero(), || "zero quiet_for".into())?;
        ensure(!sd.metrics.is_empty(), || "no metric".into())?;
        for m in &sd.metrics {
            let p = m.period.as_secs();
            ensure(p >= 60 && p % 60 == 0, || format!("period {p}s"))?;
            ensure(sd.quiet_for >= m.period, || {
                "quiet_for shorter than a period".into()
            })?;
            ensure(m.below.is_finite(), || format!("below {}", m.below))?;
            ensure(
                !m.namespace.trim().is_empty() && !m.name.trim().is_empty(),
                || "empty metric name".into(),
            )?;
        }
    }
    Ok(())
}

fn config_property(text: &str) -> Result<(), String> {
    let first = config::parse(text, "fuzz.toml");
    ensure(first == config::parse(text, "fuzz.toml"), || {
        "parse is not deterministic".into()
    })?;
    match first {
        Ok(cfg) => config_invariants(&cfg),
        Err(errors) => {
            ensure(!errors.is_empty(), || "an empty error list".into())?;
            let line_count = text.lines().count() + 1;
            for e in errors.iter() {
                ensure(!e.message.trim().is_empty(), || {
                    format!("empty message: {e:?}")
                })?;
                ensure(!e.hint.trim().is_empty(), || format!("no hint: {e:?}"))?;
                ensure(e.file == "fuzz.toml", || format!("file {:?}", e.file))?;
                ensure(
                    e.line <= line_count && (e.line == 0 || e.column >= 1),
                    || {
                        format!(
                            "position {}:{} in a {line_count}-line file",
                            e.line, e.column
                        )
                    },
                )?;
            }
            Ok(())
        }
    }
}

#[test]
fn fuzz_config_parser_structure_aware() {
    fuzz(
        "config::parse",
        "structure-aware",
        600,
        config_structured(),
        |t| config_property(t),
    );
}

#[test]
fn fuzz_config_parser_mutated_seeds() {
    let strategy = mutated(config_seeds()).prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    fuzz("config::parse", "mutated seeds", 600, strategy, |t| {
        config_property(t)
    });
}

// ---------------------------------------------------------------------------------------------
// Target 3: durations and `--until`
// ---------------------------------------------------------------------------------------------

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Duration-like text: well-formed (units in order) or near misses.
fn duration_text() -> BoxedStrategy<String> {
    let amount = prop_oneof![0u64..100, 0u64..100_000, any::<u64>(), Just(u64::MAX)];
    let part = (amount, 0usize..4, any::<bool>()).prop_map(|(n, u, pad)| {
        if pad {
            format!("00{n}{}", UNITS[u].0)
        } else {
            format!("{n}{}", UNITS[u].0)
        }
    });
    prop_oneof![
        4 => prop::collection::vec(part, 1..5).prop_map(|parts| parts.concat()),
        2 => "[0-9dhms]{0,10}",
        1 => "[0-9dhmsDHMS.,:+ \t-]{0,12}",
        1 => any::<String>(),
    ]
    .boxed()
}

/// An independent model of the grammar: `(<digits><unit>)+`, units among d h m s, each smaller
/// than the one before; the sum in seconds, `None` if not of that form or over u64.
fn duration_model(s: &str) -> Option<u64> {
    let mut rest = s;
    let mut last_rank = usize::MAX;
    let mut total: u64 = 0;
    if s.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let unit = rest[digits..].chars().next()?;
        let rank = UNITS.iter().position(|(u, _)| *u == unit)?;
        if last_rank != usize::MAX && rank <= last_rank {
            return None;
        }
        last_rank = rank;
        let amount: u64 = rest[..digits].parse().ok()?;
        total = total.checked_add(amount.checked_mul(UNITS[rank].1)?)?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// The canonical spelling of `secs` in that grammar.
fn duration_spelling(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

fn duration_property(s: &str) -> Result<(), String> {
    let parsed = config::parse_duration(s);
    let model = duration_model(s);
    match (&parsed, model) {
        (Ok(d), Some(m)) => {
            ensure(d.as_secs() == m && d.subsec_nanos() == 0, || {
                format!("{s:?}: parsed {d:?}, model {m}s")
            })?;
            let spelled = duration_spelling(m);
            let again = config::parse_duration(&spelled)
                .map_err(|e| format!("canonical {spelled:?} rejected: {e}"))?;
            ensure(again == *d, || {
                format!("{spelled:?} parses to {again:?}, not {d:?}")
            })
        }
        (Err(message), None) => {
            ensure(!message.trim().is_empty(), || "empty message".into())?;
            ensure(message.contains("e.g. \"30s\""), || {
                format!("message without the accepted forms: {message:?}")
            })
        }
        (Ok(d), None) => Err(format!(
            "{s:?} accepted as {d:?}, but it is not in the grammar"
        )),
        (Err(e), Some(m)) => Err(format!("{s:?} ({m}s in the grammar) rejected: {e}")),
    }
}

#[test]
fn fuzz_duration_parser_structure_aware() {
    fuzz(
        "parse_duration",
        "structure-aware",
        10000,
        duration_text(),
        |s| duration_property(s),
    );
}

#[test]
fn fuzz_duration_parser_mutated_seeds() {
    let seeds: Vec<Vec<u8>> = lines("durations.txt")
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let strategy = mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned());
    fuzz("parse_duration", "mutated seeds", 10000, strategy, |s| {
        duration_property(s)
    });
}

/// Any instant jiff represents, to the second.
fn timestamp() -> impl Strategy<Value = jiff::Timestamp> {
    let (min, max) = (
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    prop_oneof![
        1 => min..=max,
        1 => 1_700_000_000i64..1_900_000_000,
        1 => select(vec![min, max, max - 1, max - 3600, 0]),
    ]
    .prop_map(|s| jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH))
}

fn until_text() -> BoxedStrategy<String> {
    let rfc3339 = (timestamp(), -1439i32..=1439, any::<bool>()).prop_map(|(t, offset, z)| {
        if z {
            t.to_string()
        } else {
            let sign = if offset < 0 { '-' } else { '+' };
            let o = offset.unsigned_abs();
            // The same instant written in local time at that offset.
            match jiff::Timestamp::from_second(t.as_second() + i64::from(offset) * 60) {
                Ok(shifted) => {
                    let utc = format!("{shifted:.0}");
                    format!(
                        "{}{sign}{:02}:{:02}",
                        utc.trim_end_matches('Z'),
                        o / 60,
                        o % 60
                    )
                }
                Err(_) => t.to_string(),
            }
        }
    });
    let until_lines: Vec<Vec<u8>> = lines("until.txt")
        .into_iter()
        .map(String::into_bytes)
        .collect();
    prop_oneof![
        2 => duration_text(),
        2 => rfc3339,
        1 => mutated(until_lines).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
    .boxed()
}

fn until_property(text: &str, now: jiff::Timestamp) -> Result<(), String> {
    match overrides::parse_until(text, now) {
        Ok(until) => {
            ensure(until > now, || {
                format!("{text:?} at {now}: {until} is not after now")
            })?;
            if let Some(secs) = duration_model(text.trim()) {
                let expected = now
                    .checked_add(Duration::from_secs(secs))
                    .map_err(|e| e.to_string())?;
                ensure(until == expected, || {
                    format!("{text:?} at {now}: {until}, not {expected}")
                })?;
            }
            Ok(())
        }
        Err(message) => {
            ensure(message.starts_with("--until"), || format!("{message:?}"))?;
            ensure(message.len() > "--until".len() + 8, || {
                format!("{message:?}")
            })
        }
    }
}

#[test]
fn fuzz_until_parser() {
    fuzz(
        "parse_until",
        "structure-aware",
        10000,
        (until_text(), timestamp()),
        |(text, now)| until_property(text, *now),
    );
}

#[test]
fn fuzz_seed_corpus_is_committed_and_each_seed_passes_the_properties() {
    let events = event_seeds();
    assert!(events.len() >= 12, "{} event seeds", events.len());
    for seed in &events {
        event_property(seed).unwrap_or_else(|e| panic!("event seed: {e}"));
    }
    let configs = config_seeds();
    assert!(configs.len() >= 4);
    for seed in &configs {
        let text = String::from_utf8(seed.clone()).expect("UTF-8");
        config::parse(&text, "seed.toml")
            .unwrap_or_else(|e| panic!("config seeds are valid configs: {e}"));
        config_property(&text).unwrap_or_else(|e| panic!("config seed: {e}"));
    }
    for line in lines("durations.txt") {
        duration_property(&line).unwrap_or_else(|e| panic!("duration seed {line:?}: {e}"));
    }
    let now = jiff::Timestamp::from_second(1_795_611_600).expect("a time");
    for line in lines("until.txt") {
        until_property(&line, now).unwrap_or_else(|e| panic!("until seed {line:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Regression tests of what the fuzzing found
// ---------------------------------------------------------------------------------------------

/// Found by `fuzz_event_parser_mutated_seeds` (NIGHTSHIFT_FUZZ_CASES=200000, seed
/// 41101f77c73d444587c9d37a622b155e): the Batch fixture with `stoppedAt` mutated into an
/// integer beyond u64 (read as a float). The payload hash is of the "canonical JSON", but the
/// float's canonical text does not read back as the same float, so the same event re-encoded by
/// any JSON tool (a DLQ redrive, a replay script) gets another hash: its redelivery is refused
/// as "the same dedup key with a different payload" instead of being answered as a duplicate.
#[test]
fn payload_hash_is_stable_when_an_event_with_a_huge_number_is_re_encoded() {
    for number in [
        "1795629790795629790552",
        "1.7956297907956298e21",
        "0.30000000000000004",
    ] {
        let payload = format!(
            r#"{{"id": "e-1", "source": "aws.batch", "detail-type": "Batch Job State Change", "detail": {{"status": "RUNNING", "stoppedAt": {number}}}}}"#
        );
        let event = event::parse(payload.as_bytes()).expect("a well-formed Batch event");
        let value: Value = serde_json::from_slice(payload.as_bytes()).expect("JSON");
        let compact = serde_json::to_vec(&value).expect("JSON");
        let again = event::parse(&compact).expect("the re-encoded event");
        assert_eq!(
            again.payload_hash,
            event.payload_hash,
            "{number} re-encoded as {}",
            String::from_utf8_lossy(&compact)
        );
    }
}
