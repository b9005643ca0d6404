//! Inbound events: the only module that knows the wire formats nightshift is invoked with.
//!
//! docs/contract.md ("Events it accepts") defines two shapes:
//! 1. a bare **step command** `{"scenario": "nightly-batch", "step": "scale-up", …}`, as sent by
//!    EventBridge Scheduler, a rule's constant input, or a manual invoke;
//! 2. an **EventBridge envelope** whose `detail` is either a step command (custom source) or an
//!    ECS / Batch state change that may mean "the batch is done" (a completion).
//!
//! [`parse`] turns raw bytes into an [`InboundEvent`] or a [`Rejection`]. It is pure (no I/O, no
//! clock) and never panics, because it runs on untrusted input before anything is recorded: a
//! rejection is answered `rejected` and never retried, so every rejection says what is wrong *and*
//! how to fix it. Hostile input is bounded before it is interpreted: size first (before parsing),
//! then nesting depth (before building a `Value`), then the length of every string.
//!
//! The dedup key (docs/contract.md: "the envelope's `id`; else the command's `id`; else
//! `scenario/step/scheduled_time`; else the Lambda request ID") is decided here as a
//! [`KeySource`], because only this module knows where each candidate came from; the Lambda request
//! ID is supplied later by the handler through [`KeySource::dedup_key`].
//!
//! One file per job: `command.rs` (the step command), `envelope.rs` (the EventBridge envelope,
//! dispatch on source and detail-type, account checks), `completion.rs` (ECS task / Batch job
//! state changes) and `rejection.rs` (rejection codes, message taming, size limits, duplicate
//! keys). This file holds what an event is once parsed, the [`parse`] entry point and the dedup
//! key; everything public is re-exported here, so `crate::event::X` is the only path to use.

mod command;
mod completion;
mod envelope;
mod rejection;
#[cfg(test)]
mod tests;

pub use command::{
    StepCommand, MAX_ID_CHARS, MAX_NAMED_UNKNOWN_FIELDS, MAX_SCENARIO_CHARS, STEP_COMMAND_FIELDS,
};
pub use completion::{
    batch_queue_matches, ecs_group_matches, Completion, BATCH_JOB_STATE_CHANGE, BATCH_SOURCE,
    ECS_SOURCE, ECS_TASK_STATE_CHANGE,
};
pub use envelope::{check_account, function_account};
pub use rejection::{RejectCode, Rejection, MAX_DEPTH, MAX_EVENT_BYTES, MAX_STRING_BYTES};

use crate::domain::Step;
use command::{parse_step_command, Place, STEP_COMMAND_EXAMPLE};
use envelope::{parse_envelope, ENVELOPE_MARKERS};
use rejection::{check_strings, depth_exceeded, describe, UniqueKeys, DUPLICATE_KEY};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A successfully parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEvent {
    /// What the event asks for.
    pub kind: EventKind,
    /// Where the dedup key comes from; resolve it with [`KeySource::dedup_key`].
    pub key: KeySource,
    /// Hex SHA-256 of the canonical JSON of the whole payload (object keys sorted, no whitespace):
    /// stored with the dedup record so that the same key arriving with a *different* payload is
    /// rejected instead of replayed (aws-facts.md, "Idempotency pitfalls").
    pub payload_hash: String,
    /// The command's `now` (rehearsal/tests). Parsing accepts it everywhere; refusing it when
    /// `APP_ENV=prod` is the handler's job, since this module does not read the environment.
    pub now_override: Option<jiff::Timestamp>,
    /// The EventBridge envelope's `account`: where the event happened. See [`check_account`].
    pub account: Option<String>,
}

/// What an event asks nightshift to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    /// Run one step of a scenario.
    Step(StepCommand),
    /// An ECS/Batch state change: the batch may be done, so matching scenarios should `check`.
    Completion(Completion),
}

/// Where an event's dedup key comes from, in the contract's order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The EventBridge envelope's `id`: constant across EventBridge redeliveries.
    Envelope(String),
    /// The step command's own `id`.
    Command(String),
    /// No id: `scenario/step/scheduled_time`, stable across Scheduler retries.
    Scheduled {
        scenario: String,
        step: Step,
        scheduled_time: jiff::Timestamp,
    },
    /// Nothing in the payload identifies it: fall back to the Lambda request ID, which Lambda keeps
    /// across its own async retries.
    RequestId,
}

impl KeySource {
    /// The dedup key: the envelope's id; else the command's id; else
    /// `scenario/step/scheduled_time` (RFC 3339, UTC, whole seconds, e.g.
    /// `nightly-batch/scale-up/2026-11-25T13:00:00Z`); else `lambda_request_id`.
    pub fn dedup_key(&self, lambda_request_id: &str) -> String {
        match self {
            KeySource::Envelope(id) | KeySource::Command(id) => id.clone(),
            KeySource::Scheduled {
                scenario,
                step,
                scheduled_time,
            } => format!("{scenario}/{step}/{}", utc_seconds(*scheduled_time)),
            KeySource::RequestId => lambda_request_id.to_string(),
        }
    }
}

/// RFC 3339 in UTC with whole seconds. Sub-second digits are dropped so that the same scheduled
/// time always renders the same key, whatever precision or offset the sender used.
fn utc_seconds(ts: jiff::Timestamp) -> String {
    let whole = jiff::Timestamp::from_second(ts.as_second()).unwrap_or(ts);
    format!("{whole:.0}")
}

/// Parses one invocation payload. Pure and panic-free; see the module docs for the formats.
pub fn parse(payload: &[u8]) -> Result<InboundEvent, Rejection> {
    let map = read_object(payload)?;
    let payload_hash = canonical_hash(&map);

    let names_command = map.contains_key("scenario") || map.contains_key("step");
    let looks_like_envelope = ENVELOPE_MARKERS.iter().any(|k| map.contains_key(*k));
    if looks_like_envelope && !names_command {
        let (key, kind, account) = parse_envelope(map)?;
        let now_override = match &kind {
            EventKind::Step(command) => command.now,
            EventKind::Completion(_) => None,
        };
        return Ok(InboundEvent {
            kind,
            key,
            payload_hash,
            now_override,
            account,
        });
    }

    let command = parse_step_command(&map, Place::TopLevel)?;
    let key = if let Some(id) = &command.id {
        KeySource::Command(id.clone())
    } else if let Some(scheduled_time) = command.scheduled_time {
        KeySource::Scheduled {
            scenario: command.scenario.clone(),
            step: command.step,
            scheduled_time,
        }
    } else {
        KeySource::RequestId
    };
    Ok(InboundEvent {
        now_override: command.now,
        kind: EventKind::Step(command),
        key,
        payload_hash,
        account: None,
    })
}

/// The payload as a JSON object, read within the bounds: size first (before parsing), then
/// nesting depth (before building a `Value`), then duplicate keys (while reading), then the length
/// of every string and key.
fn read_object(payload: &[u8]) -> Result<Map<String, Value>, Rejection> {
    // Size first: cheap, and bounds every later pass.
    if payload.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(
            RejectCode::PayloadTooLarge,
            format!(
                "payload is {} bytes, over the {MAX_EVENT_BYTES}-byte limit (EventBridge's own \
                 maximum): send a step command such as {STEP_COMMAND_EXAMPLE} or an unmodified \
                 EventBridge event",
                payload.len()
            ),
        ));
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::new(
            RejectCode::EmptyPayload,
            format!(
                "payload is empty: send a JSON step command such as {STEP_COMMAND_EXAMPLE} or an \
                 EventBridge event"
            ),
        ));
    }
    // Depth before building a Value, so hostile nesting never reaches the recursive passes.
    if let Some(offset) = depth_exceeded(payload, MAX_DEPTH) {
        return Err(Rejection::new(
            RejectCode::TooDeep,
            format!(
                "payload nests objects/arrays more than {MAX_DEPTH} levels deep (at byte \
                 {offset}): nightshift events are a few levels deep; send a step command such as \
                 {STEP_COMMAND_EXAMPLE} or an unmodified EventBridge event"
            ),
        ));
    }
    let value: Value = match serde_json::from_slice::<UniqueKeys>(payload) {
        Ok(UniqueKeys(value)) => value,
        Err(e) if e.is_data() && e.to_string().starts_with(DUPLICATE_KEY) => {
            return Err(Rejection::new(
                RejectCode::DuplicateKey,
                format!(
                    "payload is not usable: {e}; JSON readers disagree on which value of a \
                     repeated key counts, so nightshift refuses to guess: send each field once, \
                     e.g. {STEP_COMMAND_EXAMPLE}"
                ),
            ))
        }
        Err(e) => {
            return Err(Rejection::new(
                RejectCode::InvalidJson,
                format!(
                    "payload is not valid JSON: {e}; fix the syntax there (`jq . event.json` \
                     shows it) and send one JSON object such as {STEP_COMMAND_EXAMPLE}"
                ),
            ))
        }
    };
    check_strings(&value, &mut Vec::new())?;
    let Value::Object(map) = value else {
        return Err(Rejection::new(
            RejectCode::NotAnObject,
            format!(
                "payload is {}, not a JSON object: send a step command such as \
                 {STEP_COMMAND_EXAMPLE} or an EventBridge event",
                describe(&value)
            ),
        ));
    };
    Ok(map)
}

/// SHA-256 (hex) of the canonical JSON of `map`: keys sorted by code point at every level, no
/// whitespace. Sorting is done here rather than relying on serde_json's map ordering, which
/// changes if any crate in the build enables its `preserve_order` feature.
fn canonical_hash(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_canonical_object(map, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

fn write_canonical_object(map: &Map<String, Value>, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A `Value::String` displays as a JSON string literal, escapes included.
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars display as compact JSON.
        scalar => out.push_str(&scalar.to_string()),
    }
}
