//! Inbound events: the only module that knows the wire formats nightshift is invoked with.
//!
//! product.md ("Events it accepts") defines two shapes:
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
//! The dedup key (product.md: "the envelope's `id`; else the command's `id`; else
//! `scenario/step/scheduled_time`; else the Lambda request ID") is decided here as a
//! [`KeySource`], because only this module knows where each candidate came from; the Lambda request
//! ID is supplied later by the handler through [`KeySource::dedup_key`].

use crate::domain::{Step, UnknownStep};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Largest payload accepted, in bytes: EventBridge's own event size limit, so anything larger
/// cannot be a genuine EventBridge delivery. Checked before the payload is parsed.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Deepest nesting of objects/arrays accepted (the top-level object is depth 1). Real events are
/// at most ~6 deep (ECS container overrides); serde_json's own limit (128) is far too generous
/// for input that is then walked recursively.
pub const MAX_DEPTH: usize = 32;

/// Longest string (value or key) accepted anywhere in the payload, in bytes. No field nightshift
/// reads needs more, and everything it reads may end up in logs and DynamoDB items.
pub const MAX_STRING_BYTES: usize = 4 * 1024;

/// Longest `id` (command or envelope) accepted, in characters: it becomes part of a DynamoDB key.
pub const MAX_ID_CHARS: usize = 256;

/// Longest scenario name accepted, in characters (names are `[A-Za-z0-9_-]`).
pub const MAX_SCENARIO_CHARS: usize = 64;

/// The fields a step command may carry; anything else is rejected so that typos (`"forse"`) do
/// not silently change behaviour.
pub const STEP_COMMAND_FIELDS: [&str; 6] =
    ["scenario", "step", "id", "scheduled_time", "force", "now"];

/// `source` of ECS events.
pub const ECS_SOURCE: &str = "aws.ecs";
/// `detail-type` of the ECS events nightshift treats as completions.
pub const ECS_TASK_STATE_CHANGE: &str = "ECS Task State Change";
/// `source` of AWS Batch events.
pub const BATCH_SOURCE: &str = "aws.batch";
/// `detail-type` of the Batch events nightshift treats as completions.
pub const BATCH_JOB_STATE_CHANGE: &str = "Batch Job State Change";

/// Keys that only an EventBridge envelope has (never a step command); used to tell the two apart.
const ENVELOPE_MARKERS: [&str; 8] = [
    "detail-type",
    "detail",
    "source",
    "version",
    "account",
    "region",
    "resources",
    "time",
];

/// Fields every envelope must have for nightshift to act on it.
const ENVELOPE_REQUIRED: [&str; 4] = ["id", "source", "detail-type", "detail"];

/// Longest excerpt of untrusted text echoed back in a message (keeps messages and logs short).
const ECHO_CHARS: usize = 64;

/// Example used in messages so that every "how to fix" shows the expected shape.
const STEP_COMMAND_EXAMPLE: &str = r#"{"scenario": "nightly-batch", "step": "scale-up"}"#;

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

/// The account of a Lambda function ARN (`arn:<partition>:lambda:<region>:<account>:function:…`).
pub fn function_account(function_arn: &str) -> Option<&str> {
    let mut parts = function_arn.split(':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some("lambda"), Some(_), Some(account))
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(account)
        }
        _ => None,
    }
}

/// An event from another account than the function's own is refused: nightshift scales the
/// resources of its own account, and another account's ECS task, Batch job or custom event
/// (forwarded by a bus that accepts other accounts' events) must not end, or force, a night.
pub fn check_account(event: &InboundEvent, home_account: &str) -> Result<(), Rejection> {
    match &event.account {
        Some(account) if account != home_account => Err(Rejection::new(
            RejectCode::ForeignAccount,
            format!(
                "event from account {} but this function runs in account {home_account}: \
                 nightshift acts only on its own account's events; remove the rule or bus policy \
                 that forwards the other account's events here, or deploy nightshift in that account",
                excerpt(account)
            ),
        )),
        _ => Ok(()),
    }
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

/// A step command (product.md, "Events it accepts", 1).
///
/// Serializing it yields the wire format again (absent options and `force: false` are omitted),
/// so the CLI can build events with it and `parse(serialize(cmd))` returns the same command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepCommand {
    /// Scenario name, already validated as `[A-Za-z0-9_-]{1,64}` (not yet checked against config).
    pub scenario: String,
    pub step: Step,
    /// Caller-chosen dedup key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// EventBridge Scheduler's `<aws.scheduler.scheduled-time>`: stable across Scheduler retries,
    /// unlike its execution ID, so it anchors the dedup key when no `id` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<jiff::Timestamp>,
    /// Scale down regardless of metrics; only accepted with `scale-down`.
    #[serde(skip_serializing_if = "is_false")]
    pub force: bool,
    /// Pretend the current time is this (rehearsal and tests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<jiff::Timestamp>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// An ECS or Batch state change. Only `EcsTaskStopped` and `BatchJobDone` mean "the batch may be
/// done"; the `Not*` variants are well-formed events that are simply not completions (a rule
/// pattern that is too broad), which the handler answers `skipped` rather than `rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Completion {
    /// `aws.ecs` / `ECS Task State Change` with `lastStatus` `STOPPED`.
    EcsTaskStopped {
        /// `family:<task-def family>` or `service:<service>`; matched exactly.
        group: String,
        cluster_arn: Option<String>,
        task_arn: Option<String>,
        stopped_reason: Option<String>,
    },
    /// `aws.ecs` / `ECS Task State Change` in any other state (PROVISIONING, RUNNING, …).
    EcsTaskNotStopped {
        group: Option<String>,
        last_status: String,
    },
    /// `aws.batch` / `Batch Job State Change` with status `SUCCEEDED` or `FAILED`.
    BatchJobDone {
        /// As in the event: usually the queue ARN; match with [`batch_queue_matches`].
        job_queue: String,
        job_name: Option<String>,
        job_id: Option<String>,
        /// `SUCCEEDED` or `FAILED`.
        status: String,
    },
    /// `aws.batch` / `Batch Job State Change` in any other state (SUBMITTED, RUNNING, …).
    BatchJobNotDone {
        job_queue: Option<String>,
        status: String,
    },
}

impl Completion {
    /// The EventBridge `source` this completion came from (`aws.ecs` or `aws.batch`), i.e. the
    /// `source` of the `[[scenario.completion]]` entries it can match.
    pub fn source(&self) -> &'static str {
        match self {
            Completion::EcsTaskStopped { .. } | Completion::EcsTaskNotStopped { .. } => ECS_SOURCE,
            Completion::BatchJobDone { .. } | Completion::BatchJobNotDone { .. } => BATCH_SOURCE,
        }
    }

    /// Whether the event means "the batch may be done" (task stopped / job finished).
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Completion::EcsTaskStopped { .. } | Completion::BatchJobDone { .. }
        )
    }

    /// Whether this event satisfies a `[[scenario.completion]]` entry with the given `source` and
    /// matcher value (`group` for `aws.ecs`, `job_queue` for `aws.batch`). Events that are not
    /// done never match, so a RUNNING task cannot trigger a check.
    pub fn matches(&self, matcher_source: &str, value: &str) -> bool {
        match self {
            Completion::EcsTaskStopped { group, .. } => {
                matcher_source == ECS_SOURCE && ecs_group_matches(group, value)
            }
            Completion::BatchJobDone { job_queue, .. } => {
                matcher_source == BATCH_SOURCE && batch_queue_matches(job_queue, value)
            }
            Completion::EcsTaskNotStopped { .. } | Completion::BatchJobNotDone { .. } => false,
        }
    }
}

impl fmt::Display for Completion {
    /// One-line summary for `reason` strings and the run history.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Completion::EcsTaskStopped { group, .. } => {
                write!(f, "ECS task in group {group} STOPPED")
            }
            Completion::EcsTaskNotStopped { group, last_status } => match group {
                Some(group) => write!(f, "ECS task in group {group} is {last_status}, not STOPPED"),
                None => write!(f, "ECS task is {last_status}, not STOPPED"),
            },
            Completion::BatchJobDone {
                job_queue, status, ..
            } => write!(f, "Batch job in queue {job_queue} {status}"),
            Completion::BatchJobNotDone { job_queue, status } => match job_queue {
                Some(queue) => write!(
                    f,
                    "Batch job in queue {queue} is {status}, not SUCCEEDED or FAILED"
                ),
                None => write!(f, "Batch job is {status}, not SUCCEEDED or FAILED"),
            },
        }
    }
}

/// Whether a Batch event's `jobQueue` matches a configured `job_queue`.
///
/// Events carry the queue ARN (`arn:aws:batch:<region>:<account>:job-queue/<name>`) while configs
/// usually name the queue, so a configured plain name matches the ARN's name. A configured ARN
/// must equal the event's ARN exactly, so that a same-named queue in another account or region
/// does not match. When the event carries only a name, it is compared with the configured name
/// (or the name inside the configured ARN), since there is nothing more to compare.
pub fn batch_queue_matches(event_queue: &str, configured: &str) -> bool {
    if event_queue.is_empty() || configured.is_empty() {
        return false;
    }
    if event_queue == configured {
        return true;
    }
    match (
        batch_queue_arn_name(event_queue),
        batch_queue_arn_name(configured),
    ) {
        // Two ARNs that differ: different queues (or accounts/regions).
        (Some(_), Some(_)) => false,
        (Some(event_name), None) => event_name == configured,
        (None, Some(configured_name)) => event_queue == configured_name,
        // Two plain names: they were compared above.
        (None, None) => false,
    }
}

/// The queue name inside a Batch job-queue ARN, or `None` if `s` is not such an ARN.
fn batch_queue_arn_name(s: &str) -> Option<&str> {
    let mut parts = s.splitn(6, ':');
    let (arn, partition, service, _region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn" || partition.is_empty() || service != "batch" {
        return None;
    }
    resource
        .strip_prefix("job-queue/")
        .filter(|name| !name.is_empty())
}

/// Whether an ECS event's `group` matches a configured `group`: exact comparison, because groups
/// are already fully qualified (`family:nightly-job`, `service:worker`) and a prefix or
/// family-only match would let an unrelated task end the night.
pub fn ecs_group_matches(event_group: &str, configured: &str) -> bool {
    !event_group.is_empty() && event_group == configured
}

/// Where an event's dedup key comes from, in product.md's order of preference.
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

/// Why a payload was rejected: a stable machine-readable category. Displayed in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// Zero bytes or only whitespace.
    EmptyPayload,
    /// Over [`MAX_EVENT_BYTES`].
    PayloadTooLarge,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Not parseable as JSON.
    InvalidJson,
    /// An object names the same key twice (JSON leaves the meaning open; readers disagree).
    DuplicateKey,
    /// A string or key longer than [`MAX_STRING_BYTES`].
    StringTooLong,
    /// JSON, but not an object.
    NotAnObject,
    /// A step command field that does not exist.
    UnknownField,
    MissingScenario,
    ScenarioWrongType,
    ScenarioEmpty,
    ScenarioTooLong,
    ScenarioBadChars,
    MissingStep,
    StepWrongType,
    UnknownStep,
    ForceWrongType,
    /// `force: true` with a step other than `scale-down`.
    ForceNotAllowed,
    InvalidNow,
    InvalidScheduledTime,
    /// The step command's `id`: wrong type, empty or too long.
    InvalidId,
    /// The envelope lacks `id`, `source`, `detail-type` or `detail`.
    EnvelopeMissingField,
    /// An envelope field has the wrong type or value (e.g. empty `id`).
    EnvelopeInvalidField,
    DetailNotObject,
    /// A source/detail-type pair nightshift does not handle.
    UnsupportedEvent,
    EcsMissingLastStatus,
    /// A STOPPED task without `group`: it cannot be matched to a scenario.
    EcsMissingGroup,
    BatchMissingStatus,
    /// A finished job without `jobQueue`: it cannot be matched to a scenario.
    BatchMissingJobQueue,
    /// An ECS/Batch field nightshift reads has the wrong type or is empty.
    CompletionInvalidField,
    /// An EventBridge event from another account than the function's (see [`check_account`]).
    ForeignAccount,
}

impl RejectCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [RejectCode; 31] = [
        RejectCode::EmptyPayload,
        RejectCode::PayloadTooLarge,
        RejectCode::TooDeep,
        RejectCode::InvalidJson,
        RejectCode::DuplicateKey,
        RejectCode::StringTooLong,
        RejectCode::NotAnObject,
        RejectCode::UnknownField,
        RejectCode::MissingScenario,
        RejectCode::ScenarioWrongType,
        RejectCode::ScenarioEmpty,
        RejectCode::ScenarioTooLong,
        RejectCode::ScenarioBadChars,
        RejectCode::MissingStep,
        RejectCode::StepWrongType,
        RejectCode::UnknownStep,
        RejectCode::ForceWrongType,
        RejectCode::ForceNotAllowed,
        RejectCode::InvalidNow,
        RejectCode::InvalidScheduledTime,
        RejectCode::InvalidId,
        RejectCode::EnvelopeMissingField,
        RejectCode::EnvelopeInvalidField,
        RejectCode::DetailNotObject,
        RejectCode::UnsupportedEvent,
        RejectCode::EcsMissingLastStatus,
        RejectCode::EcsMissingGroup,
        RejectCode::BatchMissingStatus,
        RejectCode::BatchMissingJobQueue,
        RejectCode::CompletionInvalidField,
        RejectCode::ForeignAccount,
    ];

    /// The snake_case name, as displayed, serialized and recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::EmptyPayload => "empty_payload",
            RejectCode::PayloadTooLarge => "payload_too_large",
            RejectCode::TooDeep => "too_deep",
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::DuplicateKey => "duplicate_key",
            RejectCode::StringTooLong => "string_too_long",
            RejectCode::NotAnObject => "not_an_object",
            RejectCode::UnknownField => "unknown_field",
            RejectCode::MissingScenario => "missing_scenario",
            RejectCode::ScenarioWrongType => "scenario_wrong_type",
            RejectCode::ScenarioEmpty => "scenario_empty",
            RejectCode::ScenarioTooLong => "scenario_too_long",
            RejectCode::ScenarioBadChars => "scenario_bad_chars",
            RejectCode::MissingStep => "missing_step",
            RejectCode::StepWrongType => "step_wrong_type",
            RejectCode::UnknownStep => "unknown_step",
            RejectCode::ForceWrongType => "force_wrong_type",
            RejectCode::ForceNotAllowed => "force_not_allowed",
            RejectCode::InvalidNow => "invalid_now",
            RejectCode::InvalidScheduledTime => "invalid_scheduled_time",
            RejectCode::InvalidId => "invalid_id",
            RejectCode::EnvelopeMissingField => "envelope_missing_field",
            RejectCode::EnvelopeInvalidField => "envelope_invalid_field",
            RejectCode::DetailNotObject => "detail_not_object",
            RejectCode::UnsupportedEvent => "unsupported_event",
            RejectCode::EcsMissingLastStatus => "ecs_missing_last_status",
            RejectCode::EcsMissingGroup => "ecs_missing_group",
            RejectCode::BatchMissingStatus => "batch_missing_status",
            RejectCode::BatchMissingJobQueue => "batch_missing_job_queue",
            RejectCode::CompletionInvalidField => "completion_invalid_field",
            RejectCode::ForeignAccount => "foreign_account",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payload nightshift will not act on. Not retryable: the same bytes will always be rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    /// Names the problem and the fix; untrusted text in it is truncated and escaped.
    pub message: String,
    /// The scenario the payload named, when it named a valid one (see [`Rejection::scenario_hint`]).
    scenario: Option<String>,
}

impl Rejection {
    /// A rejection with no scenario hint.
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
            scenario: None,
        }
    }

    /// The scenario the rejected payload named, so the rejection can be recorded in that
    /// scenario's history. Only a syntactically valid name is kept (`[A-Za-z0-9_-]{1,64}`), so it
    /// is safe to use in a key; it has not been checked against the config.
    pub fn scenario_hint(&self) -> Option<&str> {
        self.scenario.as_deref()
    }

    fn with_scenario(mut self, scenario: Option<&str>) -> Self {
        if self.scenario.is_none() {
            self.scenario = scenario.map(str::to_string);
        }
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Rejection {}

/// Parses one invocation payload. Pure and panic-free; see the module docs for the formats.
/// How many unknown field names a rejection lists before "and N more".
pub const MAX_NAMED_UNKNOWN_FIELDS: usize = 5;

pub fn parse(payload: &[u8]) -> Result<InboundEvent, Rejection> {
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

const DUPLICATE_KEY: &str = "duplicate key";

/// A JSON value read like `serde_json::Value`, except that an object naming a key twice is an
/// error instead of "the last one wins": a filter, a log or a person reading the first value
/// would see another event than the one acted on. serde_json's own depth limit still applies.
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueKeys(value) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{DUPLICATE_KEY} \"{}\" in an object",
                    excerpt(&key)
                )));
            }
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Where a step command sits, for field paths and hints in messages.
#[derive(Clone, Copy)]
enum Place<'a> {
    /// The whole payload is the command.
    TopLevel,
    /// The `detail` of a custom EventBridge event with this `source`.
    Detail { source: &'a str },
}

impl Place<'_> {
    fn field(self, name: &str) -> String {
        match self {
            Place::TopLevel => format!("`{name}`"),
            Place::Detail { .. } => format!("`detail.{name}`"),
        }
    }

    fn what(self) -> String {
        match self {
            Place::TopLevel => "the step command".to_string(),
            Place::Detail { source } => format!(
                "the `detail` of custom EventBridge event (source \"{}\")",
                excerpt(source)
            ),
        }
    }
}

/// Validates a step command, attaching the scenario (if valid) to any rejection.
fn parse_step_command(
    map: &Map<String, Value>,
    place: Place<'_>,
) -> Result<StepCommand, Rejection> {
    let hint = map
        .get("scenario")
        .and_then(Value::as_str)
        .filter(|s| validate_scenario(s).is_ok());
    step_command_fields(map, place).map_err(|r| r.with_scenario(hint))
}

fn step_command_fields(
    map: &Map<String, Value>,
    place: Place<'_>,
) -> Result<StepCommand, Rejection> {
    // Unknown fields first: a typo such as `"scenaro"` is better reported as what it is than as a
    // missing `scenario`.
    let all_unknown: Vec<&String> = map
        .keys()
        .filter(|k| !STEP_COMMAND_FIELDS.contains(&k.as_str()))
        .collect();
    // A few names are enough to fix a typo; thousands would make a rejection too big to record.
    let mut unknown: Vec<String> = all_unknown
        .iter()
        .take(MAX_NAMED_UNKNOWN_FIELDS)
        .map(|k| format!("\"{}\"", excerpt(k)))
        .collect();
    if all_unknown.len() > MAX_NAMED_UNKNOWN_FIELDS {
        unknown.push(format!(
            "and {} more",
            all_unknown.len() - MAX_NAMED_UNKNOWN_FIELDS
        ));
    }
    if !unknown.is_empty() {
        let envelope_hint =
            if place_is_top(place) && map.keys().any(|k| ENVELOPE_MARKERS.contains(&k.as_str())) {
                " (it mixes step command and EventBridge envelope fields: put the command in \
             `detail` of an envelope, or send the bare command)"
            } else {
                ""
            };
        return Err(Rejection::new(
            RejectCode::UnknownField,
            format!(
                "unknown field{} {} in {}{envelope_hint}: remove or rename it; allowed fields are \
                 {}",
                if all_unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                place.what(),
                STEP_COMMAND_FIELDS.join(", ")
            ),
        ));
    }

    let scenario = match map.get("scenario") {
        None => {
            let also = match place {
                Place::TopLevel => {
                    "; an EventBridge envelope instead needs id, source, detail-type and detail"
                }
                Place::Detail { .. } => "",
            };
            return Err(Rejection::new(
                RejectCode::MissingScenario,
                format!(
                    "{} is missing from {}: name a [[scenario]] of the config, e.g. \
                     {STEP_COMMAND_EXAMPLE}{also}",
                    place.field("scenario"),
                    place.what()
                ),
            ));
        }
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(Rejection::new(
                RejectCode::ScenarioWrongType,
                format!(
                    "{} must be a string naming a [[scenario]] of the config, got {}: write e.g. \
                     \"scenario\": \"nightly-batch\"",
                    place.field("scenario"),
                    describe(other)
                ),
            ))
        }
    };
    validate_scenario(scenario).map_err(|(code, problem)| {
        Rejection::new(
            code,
            format!(
                "{} {problem}: use the name of a [[scenario]] of the config (letters, digits, '-' \
                 and '_', at most {MAX_SCENARIO_CHARS} characters), e.g. \"nightly-batch\"",
                place.field("scenario")
            ),
        )
    })?;

    let step = match map.get("step") {
        None => {
            return Err(Rejection::new(
                RejectCode::MissingStep,
                format!(
                    "{} is missing: add \"step\": \"scale-up\", \"check\" or \"scale-down\"",
                    place.field("step")
                ),
            ))
        }
        Some(Value::String(s)) => s.parse::<Step>().map_err(|e| {
            // Re-wrap with an excerpt: the domain message echoes the input verbatim.
            let shown = UnknownStep(excerpt(&e.0));
            Rejection::new(
                RejectCode::UnknownStep,
                format!("{}: {shown}", place.field("step")),
            )
        })?,
        Some(other) => {
            return Err(Rejection::new(
                RejectCode::StepWrongType,
                format!(
                    "{} must be a string, got {}: write \"step\": \"scale-up\", \"check\" or \
                     \"scale-down\"",
                    place.field("step"),
                    describe(other)
                ),
            ))
        }
    };

    let id = match map.get("id") {
        None => None,
        Some(value) => Some(validate_id(value).map_err(|problem| {
            Rejection::new(
                RejectCode::InvalidId,
                format!(
                    "{} {problem}: omit it (the key then comes from scheduled_time or the request \
                     ID) or set a non-empty string of at most {MAX_ID_CHARS} characters",
                    place.field("id")
                ),
            )
        })?),
    };

    let scheduled_time = optional_timestamp(map, "scheduled_time", place)
        .map_err(|m| Rejection::new(RejectCode::InvalidScheduledTime, m))?;
    let now = optional_timestamp(map, "now", place)
        .map_err(|m| Rejection::new(RejectCode::InvalidNow, m))?;

    let force = match map.get("force") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Rejection::new(
                RejectCode::ForceWrongType,
                format!(
                    "{} must be true or false, got {}: write \"force\": true (JSON boolean, no \
                     quotes)",
                    place.field("force"),
                    describe(other)
                ),
            ))
        }
    };
    if force && step != Step::ScaleDown {
        return Err(Rejection::new(
            RejectCode::ForceNotAllowed,
            format!(
                "{} only applies to \"scale-down\" (scale down without waiting for the metrics), \
                 not to \"{step}\": remove `force`, or send \"step\": \"scale-down\"",
                place.field("force: true")
            ),
        ));
    }

    Ok(StepCommand {
        scenario: scenario.clone(),
        step,
        id,
        scheduled_time,
        force,
        now,
    })
}

fn place_is_top(place: Place<'_>) -> bool {
    matches!(place, Place::TopLevel)
}

/// `Ok` for `[A-Za-z0-9_-]{1,64}`; otherwise the code and a description of the problem.
fn validate_scenario(s: &str) -> Result<(), (RejectCode, String)> {
    if s.is_empty() {
        return Err((RejectCode::ScenarioEmpty, "is empty".to_string()));
    }
    let chars = s.chars().count();
    if chars > MAX_SCENARIO_CHARS {
        return Err((
            RejectCode::ScenarioTooLong,
            format!("is {chars} characters long, over the {MAX_SCENARIO_CHARS}-character limit"),
        ));
    }
    if let Some((position, bad)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err((
            RejectCode::ScenarioBadChars,
            format!(
                "\"{}\" contains '{}' at position {}",
                excerpt(s),
                bad.escape_debug(),
                position + 1
            ),
        ));
    }
    Ok(())
}

/// A non-empty string of at most [`MAX_ID_CHARS`] characters, or a description of the problem.
fn validate_id(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if s.is_empty() => Err("is empty".to_string()),
        Value::String(s) => {
            let chars = s.chars().count();
            if chars > MAX_ID_CHARS {
                Err(format!(
                    "is {chars} characters long, over the {MAX_ID_CHARS}-character limit"
                ))
            } else {
                Ok(s.clone())
            }
        }
        other => Err(format!("must be a string, got {}", describe(other))),
    }
}

/// An optional RFC 3339 timestamp field; the error is the full message.
fn optional_timestamp(
    map: &Map<String, Value>,
    name: &str,
    place: Place<'_>,
) -> Result<Option<jiff::Timestamp>, String> {
    let example = "e.g. \"2026-11-25T13:00:00Z\" or \"2026-11-25T22:00:00+09:00\"";
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(ts) => Ok(Some(ts)),
            Err(e) => {
                let why = if s.contains("<aws.scheduler.scheduled-time>") {
                    " (the Scheduler placeholder was not substituted: it only works in an \
                     EventBridge Scheduler target's input, not in a rule's input)"
                        .to_string()
                } else if s.chars().count() <= ECHO_CHARS {
                    format!(" ({e})")
                } else {
                    String::new()
                };
                Err(format!(
                    "{} is not an RFC 3339 timestamp with an offset: \"{}\"{why}; use {example}",
                    place.field(name),
                    excerpt(s)
                ))
            }
        },
        Some(other) => Err(format!(
            "{} must be an RFC 3339 timestamp string, got {}; use {example}",
            place.field(name),
            describe(other)
        )),
    }
}

/// Validates and dispatches an EventBridge envelope.
/// The envelope's dedup key, what it asks for, and the account it came from (if it says).
fn parse_envelope(
    map: Map<String, Value>,
) -> Result<(KeySource, EventKind, Option<String>), Rejection> {
    let missing: Vec<&str> = ENVELOPE_REQUIRED
        .iter()
        .copied()
        .filter(|k| map.get(*k).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(Rejection::new(
            RejectCode::EnvelopeMissingField,
            format!(
                "EventBridge event is missing {}: an envelope needs id, source, detail-type and \
                 detail; forward the event exactly as EventBridge delivers it, or send a bare step \
                 command such as {STEP_COMMAND_EXAMPLE}",
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for field in ["id", "source", "detail-type"] {
        match map.get(field) {
            Some(Value::String(s)) if s.is_empty() => {
                return Err(envelope_invalid(format!(
                    "EventBridge event `{field}` is empty: it must be a non-empty string; forward \
                     the event exactly as EventBridge delivers it"
                )))
            }
            Some(Value::String(s)) if field == "id" && s.chars().count() > MAX_ID_CHARS => {
                return Err(envelope_invalid(format!(
                    "EventBridge event `id` is {} characters long, over the {MAX_ID_CHARS}-character \
                     limit for a dedup key: forward the event exactly as EventBridge delivers it",
                    s.chars().count()
                )))
            }
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(envelope_invalid(format!(
                    "EventBridge event `{field}` must be a string, got {}: forward the event \
                     exactly as EventBridge delivers it",
                    describe(other)
                )))
            }
            None => {}
        }
    }
    if let Some(detail) = map.get("detail").filter(|d| !d.is_object()) {
        return Err(Rejection::new(
            RejectCode::DetailNotObject,
            format!(
                "EventBridge event `detail` is {}, not a JSON object: put the step command or the \
                 AWS state change object in `detail`, e.g. \"detail\": {STEP_COMMAND_EXAMPLE}",
                describe(detail)
            ),
        ));
    }

    // The required fields are now known good; the typed envelope checks the optional ones
    // (version, account, time, region, resources).
    let envelope: EventBridgeEvent<Map<String, Value>> = serde_json::from_value(Value::Object(map))
        .map_err(|e| {
            envelope_invalid(format!(
                "EventBridge event does not have the EventBridge structure ({e}): `version`, \
                 `account` and `region` must be strings, `time` an RFC 3339 timestamp and \
                 `resources` a list of strings; forward the event exactly as EventBridge delivers \
                 it"
            ))
        })?;
    let id = match envelope.id {
        Some(id) if !id.is_empty() => id,
        // Unreachable after the checks above; kept so that no input can panic.
        _ => {
            return Err(Rejection::new(
                RejectCode::EnvelopeMissingField,
                "EventBridge event is missing `id`: forward the event exactly as EventBridge \
                 delivers it",
            ))
        }
    };
    let source = envelope.source.as_str();
    let detail_type = envelope.detail_type.as_str();
    let detail = &envelope.detail;

    let kind = match (source, detail_type) {
        (ECS_SOURCE, ECS_TASK_STATE_CHANGE) => EventKind::Completion(ecs_completion(detail)?),
        (BATCH_SOURCE, BATCH_JOB_STATE_CHANGE) => EventKind::Completion(batch_completion(detail)?),
        _ if source.starts_with("aws.") => {
            let hint = if source == "aws.events" && detail_type == "Scheduled Event" {
                " For a schedule, set the rule target's input to a constant step command (or use \
                 EventBridge Scheduler with the step command as input)."
            } else {
                ""
            };
            return Err(Rejection::new(
                RejectCode::UnsupportedEvent,
                format!(
                    "unsupported EventBridge event: source \"{}\", detail-type \"{}\". nightshift \
                     accepts source \"{ECS_SOURCE}\" with detail-type \"{ECS_TASK_STATE_CHANGE}\", \
                     source \"{BATCH_SOURCE}\" with detail-type \"{BATCH_JOB_STATE_CHANGE}\", and \
                     custom events (source not starting with \"aws.\", e.g. \"nightshift\") whose \
                     detail is a step command; narrow the rule's event pattern to these.{hint}",
                    excerpt(source),
                    excerpt(detail_type)
                ),
            ));
        }
        _ => EventKind::Step(parse_step_command(detail, Place::Detail { source })?),
    };
    let account = envelope.account.filter(|a| !a.is_empty());
    Ok((KeySource::Envelope(id), kind, account))
}

fn envelope_invalid(message: String) -> Rejection {
    Rejection::new(RejectCode::EnvelopeInvalidField, message)
}

/// A required string of an ECS/Batch `detail`: `Ok(None)` when absent or null (the caller decides
/// whether that is an error), an error when present with the wrong type or empty.
fn required_detail_str(
    detail: &Map<String, Value>,
    name: &str,
    event: &str,
) -> Result<Option<String>, Rejection> {
    match detail.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(Rejection::new(
            RejectCode::CompletionInvalidField,
            format!(
                "{event} `detail.{name}` must be a non-empty string, got {}: forward the event \
                 exactly as AWS emits it",
                describe(other)
            ),
        )),
    }
}

/// An informational string of an ECS/Batch `detail`. AWS owns this format and nightshift only
/// records these fields, so an odd type is ignored rather than rejecting a real completion.
fn informational_str(detail: &Map<String, Value>, name: &str) -> Option<String> {
    detail
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn ecs_completion(detail: &Map<String, Value>) -> Result<Completion, Rejection> {
    let event = "ECS Task State Change";
    let Some(last_status) = required_detail_str(detail, "lastStatus", event)? else {
        return Err(Rejection::new(
            RejectCode::EcsMissingLastStatus,
            "ECS Task State Change has no `detail.lastStatus`: nightshift needs it to know whether \
             the task STOPPED; forward the event exactly as AWS emits it",
        ));
    };
    let group = required_detail_str(detail, "group", event)?;
    if last_status != "STOPPED" {
        return Ok(Completion::EcsTaskNotStopped { group, last_status });
    }
    let Some(group) = group else {
        return Err(Rejection::new(
            RejectCode::EcsMissingGroup,
            "ECS Task State Change with lastStatus STOPPED has no `detail.group`: it cannot be \
             matched against a [[scenario.completion]] `group` (e.g. \"family:nightly-job\"); \
             forward the event exactly as AWS emits it",
        ));
    };
    Ok(Completion::EcsTaskStopped {
        group,
        cluster_arn: informational_str(detail, "clusterArn"),
        task_arn: informational_str(detail, "taskArn"),
        stopped_reason: informational_str(detail, "stoppedReason"),
    })
}

fn batch_completion(detail: &Map<String, Value>) -> Result<Completion, Rejection> {
    let event = "Batch Job State Change";
    let Some(status) = required_detail_str(detail, "status", event)? else {
        return Err(Rejection::new(
            RejectCode::BatchMissingStatus,
            "Batch Job State Change has no `detail.status`: nightshift needs it to know whether \
             the job SUCCEEDED or FAILED; forward the event exactly as AWS emits it",
        ));
    };
    let job_queue = required_detail_str(detail, "jobQueue", event)?;
    if status != "SUCCEEDED" && status != "FAILED" {
        return Ok(Completion::BatchJobNotDone { job_queue, status });
    }
    let Some(job_queue) = job_queue else {
        return Err(Rejection::new(
            RejectCode::BatchMissingJobQueue,
            "Batch Job State Change has no `detail.jobQueue`: it cannot be matched against a \
             [[scenario.completion]] `job_queue` (e.g. \"nightly-queue\"); forward the event \
             exactly as AWS emits it",
        ));
    };
    Ok(Completion::BatchJobDone {
        job_queue,
        job_name: informational_str(detail, "jobName"),
        job_id: informational_str(detail, "jobId"),
        status,
    })
}

/// The byte offset at which nesting first exceeds `limit`, scanning the raw bytes (brackets inside
/// strings do not count). Exact for valid JSON; for invalid JSON any answer is fine because the
/// payload is rejected either way.
fn depth_exceeded(bytes: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Some(offset);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// One step of a JSON path, for messages.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Rejects any string or key over [`MAX_STRING_BYTES`], naming where it is. Recursion is bounded
/// by [`MAX_DEPTH`], checked before.
fn check_strings<'a>(value: &'a Value, path: &mut Vec<Segment<'a>>) -> Result<(), Rejection> {
    let too_long = |what: &str, len: usize, path: &[Segment<'_>]| {
        Rejection::new(
            RejectCode::StringTooLong,
            format!(
                "{what} at `{}` is {len} bytes, over the {MAX_STRING_BYTES}-byte limit: no \
                 nightshift event field needs that much; shorten it or leave it out",
                render_path(path)
            ),
        )
    };
    match value {
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(too_long("string", s.len(), path)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                check_strings(item, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(map) => {
            // The `detail` of an AWS service event (ECS, Batch) is AWS's own text: container
            // overrides there can legitimately hold long environment values, and nightshift reads
            // only a few short fields of it. It stays bounded by MAX_EVENT_BYTES.
            let aws_detail = path.is_empty()
                && map
                    .get("source")
                    .and_then(Value::as_str)
                    .is_some_and(|source| source.starts_with("aws."));
            for (key, item) in map {
                path.push(Segment::Key(key));
                if key.len() > MAX_STRING_BYTES {
                    return Err(too_long("key", key.len(), path));
                }
                if !(aws_detail && key == "detail") {
                    check_strings(item, path)?;
                }
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn render_path(path: &[Segment<'_>]) -> String {
    if path.is_empty() {
        return "(top level)".to_string();
    }
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&excerpt(key));
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
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

/// A JSON value's type (and short value, for scalars) for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({})", excerpt(&n.to_string())),
        Value::String(s) => format!("a string (\"{}\")", excerpt(s)),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Untrusted text made safe to echo: at most [`ECHO_CHARS`] characters, control characters and
/// quotes escaped, so messages stay one short line in logs.
fn excerpt(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(ECHO_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if s.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn long_strings_inside_an_aws_service_detail_are_accepted() {
        // A real ECS task can carry long environment overrides; the event must still count.
        let mut event: serde_json::Value = serde_json::from_str(include_str!(
            "../integration/fixtures/events/ecs-task-state-change.json"
        ))
        .unwrap();
        event["detail"]["overrides"] = serde_json::json!({
            "containerOverrides": [{"environment": [{"name": "BIG", "value": "x".repeat(8 * 1024)}]}]
        });
        let parsed = parse(&serde_json::to_vec(&event).unwrap()).unwrap();
        assert!(matches!(
            parsed.kind,
            EventKind::Completion(Completion::EcsTaskStopped { .. })
        ));
        // The same string in a step command's own fields is still refused.
        let command = format!(
            r#"{{"scenario": "a", "step": "check", "id": "{}"}}"#,
            "x".repeat(8 * 1024)
        );
        assert_eq!(
            parse(command.as_bytes()).unwrap_err().code,
            RejectCode::StringTooLong
        );
    }

    use super::*;

    const STEP_COMMAND: &str = include_str!("../integration/fixtures/events/step-command.json");
    const STEP_COMMAND_SCHEDULER: &str =
        include_str!("../integration/fixtures/events/step-command-scheduler.json");
    const EVENTBRIDGE_CUSTOM_STEP: &str =
        include_str!("../integration/fixtures/events/eventbridge-custom-step.json");
    const ECS_TASK_STATE_CHANGE_JSON: &str =
        include_str!("../integration/fixtures/events/ecs-task-state-change.json");
    const ECS_TASK_RUNNING: &str =
        include_str!("../integration/fixtures/events/ecs-task-running.json");
    const BATCH_JOB_STATE_CHANGE_JSON: &str =
        include_str!("../integration/fixtures/events/batch-job-state-change.json");
    const BATCH_JOB_FAILED: &str =
        include_str!("../integration/fixtures/events/batch-job-failed.json");
    const EVENTBRIDGE_UNSUPPORTED: &str =
        include_str!("../integration/fixtures/events/eventbridge-unsupported.json");
    const SCALE_DOWN_FORCE: &str =
        include_str!("../integration/fixtures/events/scale-down-force.json");

    const ALL_FIXTURES: [&str; 9] = [
        STEP_COMMAND,
        STEP_COMMAND_SCHEDULER,
        EVENTBRIDGE_CUSTOM_STEP,
        ECS_TASK_STATE_CHANGE_JSON,
        ECS_TASK_RUNNING,
        BATCH_JOB_STATE_CHANGE_JSON,
        BATCH_JOB_FAILED,
        EVENTBRIDGE_UNSUPPORTED,
        SCALE_DOWN_FORCE,
    ];

    const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

    fn ok(payload: &str) -> InboundEvent {
        match parse(payload.as_bytes()) {
            Ok(event) => event,
            Err(rejection) => panic!("expected {payload} to parse, got {rejection}"),
        }
    }

    fn rejected(payload: &str) -> Rejection {
        match parse(payload.as_bytes()) {
            Ok(event) => panic!("expected {payload} to be rejected, got {event:?}"),
            Err(rejection) => rejection,
        }
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn command(event: &InboundEvent) -> &StepCommand {
        match &event.kind {
            EventKind::Step(command) => command,
            other => panic!("expected a step command, got {other:?}"),
        }
    }

    fn completion(event: &InboundEvent) -> &Completion {
        match &event.kind {
            EventKind::Completion(completion) => completion,
            other => panic!("expected a completion, got {other:?}"),
        }
    }

    #[test]
    fn fixture_step_command_keys_on_the_request_id() {
        let event = ok(STEP_COMMAND);
        assert_eq!(
            command(&event),
            &StepCommand {
                scenario: "nightly-batch".into(),
                step: Step::ScaleUp,
                id: None,
                scheduled_time: None,
                force: false,
                now: None,
            }
        );
        assert_eq!(event.key, KeySource::RequestId);
        assert_eq!(event.key.dedup_key(REQUEST_ID), REQUEST_ID);
        assert_eq!(event.now_override, None);
    }

    #[test]
    fn fixture_scheduler_command_keys_on_scenario_step_and_scheduled_time() {
        let event = ok(STEP_COMMAND_SCHEDULER);
        let cmd = command(&event);
        assert_eq!(cmd.step, Step::ScaleUp);
        assert_eq!(cmd.scheduled_time, Some(ts("2026-11-25T13:00:00Z")));
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "nightly-batch/scale-up/2026-11-25T13:00:00Z"
        );
    }

    #[test]
    fn fixture_custom_eventbridge_step_keys_on_the_envelope_id() {
        let event = ok(EVENTBRIDGE_CUSTOM_STEP);
        let cmd = command(&event);
        assert_eq!(cmd.scenario, "nightly-batch");
        assert_eq!(cmd.step, Step::Check);
        assert_eq!(
            event.key,
            KeySource::Envelope("6a7e8feb-b491-4cf7-a9f1-bf3703467718".into())
        );
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
        );
    }

    #[test]
    fn fixture_ecs_task_stopped_is_a_completion_matching_its_group() {
        let event = ok(ECS_TASK_STATE_CHANGE_JSON);
        let done = completion(&event);
        assert_eq!(
            done,
            &Completion::EcsTaskStopped {
                group: "family:nightly-job".into(),
                cluster_arn: Some("arn:aws:ecs:ap-northeast-1:123456789012:cluster/batch".into()),
                task_arn: Some(
                    "arn:aws:ecs:ap-northeast-1:123456789012:task/batch/c13b4cb40f1f4fe4a2971f76ae5a47ad"
                        .into()
                ),
                stopped_reason: Some("Essential container in task exited".into()),
            }
        );
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "3317b2af-7005-947d-b652-f55e762e571a"
        );
        assert!(done.is_done());
        assert_eq!(done.source(), "aws.ecs");
        assert!(done.matches("aws.ecs", "family:nightly-job"));
        assert!(!done.matches("aws.ecs", "family:other-job"));
        assert!(!done.matches("aws.batch", "family:nightly-job"));
        assert_eq!(event.now_override, None);
        assert_eq!(
            done.to_string(),
            "ECS task in group family:nightly-job STOPPED"
        );
    }

    #[test]
    fn fixture_ecs_task_running_is_well_formed_but_not_a_completion() {
        let event = ok(ECS_TASK_RUNNING);
        let not_done = completion(&event);
        assert_eq!(
            not_done,
            &Completion::EcsTaskNotStopped {
                group: Some("family:nightly-job".into()),
                last_status: "RUNNING".into(),
            }
        );
        assert!(!not_done.is_done());
        assert!(!not_done.matches("aws.ecs", "family:nightly-job"));
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "0d6cbc8f-8a4e-2b35-3c5d-1e8f4a9b7c21"
        );
    }

    #[test]
    fn fixture_batch_job_succeeded_matches_its_queue_by_name_or_arn() {
        let event = ok(BATCH_JOB_STATE_CHANGE_JSON);
        let done = completion(&event);
        let queue = "arn:aws:batch:ap-northeast-1:123456789012:job-queue/nightly-queue";
        assert_eq!(
            done,
            &Completion::BatchJobDone {
                job_queue: queue.into(),
                job_name: Some("nightly-aggregate-2026-11-25".into()),
                job_id: Some("4c7599ae-0a82-49aa-ba5a-4727fcce14a8".into()),
                status: "SUCCEEDED".into(),
            }
        );
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "c8f9c4b5-76e5-d76a-f980-7011e206042b"
        );
        assert!(done.matches("aws.batch", "nightly-queue"));
        assert!(done.matches("aws.batch", queue));
        assert!(!done.matches("aws.batch", "other-queue"));
        assert!(!done.matches("aws.ecs", "nightly-queue"));
    }

    #[test]
    fn fixture_batch_job_failed_is_also_a_completion() {
        let event = ok(BATCH_JOB_FAILED);
        let done = completion(&event);
        match done {
            Completion::BatchJobDone {
                status, job_name, ..
            } => {
                assert_eq!(status, "FAILED");
                assert_eq!(job_name.as_deref(), Some("nightly-export-2026-11-25"));
            }
            other => panic!("expected BatchJobDone, got {other:?}"),
        }
        assert!(done.is_done());
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "51c0891d-0e34-45b1-83d6-95db273d1602"
        );
    }

    #[test]
    fn fixture_ec2_event_is_rejected_naming_source_detail_type_and_what_is_accepted() {
        let r = rejected(EVENTBRIDGE_UNSUPPORTED);
        assert_eq!(r.code, RejectCode::UnsupportedEvent);
        for part in [
            "\"aws.ec2\"",
            "\"EC2 Instance State-change Notification\"",
            "ECS Task State Change",
            "Batch Job State Change",
            "step command",
        ] {
            assert!(r.message.contains(part), "{part} not in {}", r.message);
        }
        assert_eq!(r.scenario_hint(), None);
    }

    #[test]
    fn fixture_scale_down_force_keys_on_the_command_id() {
        let event = ok(SCALE_DOWN_FORCE);
        let cmd = command(&event);
        assert_eq!(cmd.step, Step::ScaleDown);
        assert!(cmd.force);
        assert_eq!(
            event.key,
            KeySource::Command("ops-forced-scale-down-2026-11-26".into())
        );
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "ops-forced-scale-down-2026-11-26"
        );
    }

    #[test]
    fn dedup_key_prefers_envelope_then_command_id_then_scheduled_time() {
        // Envelope id beats the command's id and scheduled_time inside detail.
        let event = ok(
            r#"{"version":"0","id":"env-1","detail-type":"run","source":"nightshift",
            "detail":{"scenario":"s","step":"check","id":"cmd-1","scheduled_time":"2026-11-25T13:00:00Z"}}"#,
        );
        assert_eq!(event.key.dedup_key(REQUEST_ID), "env-1");
        assert_eq!(command(&event).id.as_deref(), Some("cmd-1"));
        // Command id beats scheduled_time.
        let event = ok(
            r#"{"scenario":"s","step":"check","id":"cmd-1","scheduled_time":"2026-11-25T13:00:00Z"}"#,
        );
        assert_eq!(event.key.dedup_key(REQUEST_ID), "cmd-1");
    }

    #[test]
    fn scheduled_key_is_utc_whole_seconds_whatever_the_input_precision_or_offset() {
        let event = ok(
            r#"{"scenario":"nightly-batch","step":"scale-down","scheduled_time":"2026-11-26T07:30:00.987+09:00"}"#,
        );
        assert_eq!(
            event.key.dedup_key(REQUEST_ID),
            "nightly-batch/scale-down/2026-11-25T22:30:00Z"
        );
    }

    #[test]
    fn now_is_parsed_and_exposed_as_the_override() {
        let event = ok(r#"{"scenario":"a","step":"check","now":"2026-11-25T23:00:00+09:00"}"#);
        assert_eq!(event.now_override, Some(ts("2026-11-25T14:00:00Z")));
        assert_eq!(command(&event).now, Some(ts("2026-11-25T14:00:00Z")));
        let event = ok(
            r#"{"version":"0","id":"e","detail-type":"x","source":"nightshift",
            "detail":{"scenario":"a","step":"check","now":"2026-11-25T14:00:00Z"}}"#,
        );
        assert_eq!(event.now_override, Some(ts("2026-11-25T14:00:00Z")));
    }

    #[test]
    fn force_false_is_accepted_with_any_step() {
        let event = ok(r#"{"scenario":"a","step":"scale-up","force":false}"#);
        assert!(!command(&event).force);
    }

    #[test]
    fn not_stopped_and_not_done_events_need_no_group_or_queue() {
        let event = ok(
            r#"{"version":"0","id":"e","detail-type":"ECS Task State Change",
            "source":"aws.ecs","detail":{"lastStatus":"PROVISIONING"}}"#,
        );
        assert_eq!(
            completion(&event),
            &Completion::EcsTaskNotStopped {
                group: None,
                last_status: "PROVISIONING".into()
            }
        );
        let event = ok(
            r#"{"version":"0","id":"e","detail-type":"Batch Job State Change",
            "source":"aws.batch","detail":{"status":"RUNNING"}}"#,
        );
        assert_eq!(
            completion(&event),
            &Completion::BatchJobNotDone {
                job_queue: None,
                status: "RUNNING".into()
            }
        );
    }

    /// Every malformed case: (payload, expected code, substring of the message).
    const MALFORMED: &[(&str, RejectCode, &str)] = &[
        ("", RejectCode::EmptyPayload, "payload is empty"),
        (" \n\t ", RejectCode::EmptyPayload, "payload is empty"),
        (r#"{"scenario": "a", "step": "#, RejectCode::InvalidJson, "line 1 column"),
        ("{\n  \"scenario\": 'a'\n}", RejectCode::InvalidJson, "line 2 column"),
        (r#"{"scenario":"a","step":"check"} {}"#, RejectCode::InvalidJson, "trailing"),
        (r#"{"scenario":"a","step":"check","step":"scale-up"}"#, RejectCode::DuplicateKey, "duplicate key \"step\""),
        (r#"{"version":"0","id":"e","detail-type":"x","source":"nightshift","detail":{"scenario":"a","scenario":"b","step":"check"}}"#, RejectCode::DuplicateKey, "duplicate key \"scenario\""),
        (r#"[{"scenario":"a","step":"check"}]"#, RejectCode::NotAnObject, "an array"),
        (r#""scale-up""#, RejectCode::NotAnObject, "a string"),
        ("null", RejectCode::NotAnObject, "null, not a JSON object"),
        ("42", RejectCode::NotAnObject, "a number (42)"),
        (r#"{"step":"check"}"#, RejectCode::MissingScenario, "`scenario` is missing"),
        ("{}", RejectCode::MissingScenario, "envelope instead needs id, source"),
        (r#"{"scenario":7,"step":"check"}"#, RejectCode::ScenarioWrongType, "got a number (7)"),
        (r#"{"scenario":"","step":"check"}"#, RejectCode::ScenarioEmpty, "`scenario` is empty"),
        (
            r#"{"scenario":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","step":"check"}"#,
            RejectCode::ScenarioTooLong,
            "65 characters long, over the 64-character limit",
        ),
        (
            r#"{"scenario":"nightly batch","step":"check"}"#,
            RejectCode::ScenarioBadChars,
            "contains ' ' at position 8",
        ),
        (
            r#"{"scenario":"../etc","step":"check"}"#,
            RejectCode::ScenarioBadChars,
            "contains '.' at position 1",
        ),
        (r#"{"scenario":"a"}"#, RejectCode::MissingStep, "`step` is missing"),
        (
            r#"{"scenario":"a","step":"scale_up"}"#,
            RejectCode::UnknownStep,
            r#"unknown step "scale_up": use one of "scale-up", "check", "scale-down""#,
        ),
        (r#"{"scenario":"a","step":["check"]}"#, RejectCode::StepWrongType, "got an array"),
        (
            r#"{"scenario":"a","step":"scale-down","force":"yes"}"#,
            RejectCode::ForceWrongType,
            "got a string (\"yes\")",
        ),
        (
            r#"{"scenario":"a","step":"scale-up","force":true}"#,
            RejectCode::ForceNotAllowed,
            "only applies to \"scale-down\"",
        ),
        (
            r#"{"scenario":"a","step":"check","force":true}"#,
            RejectCode::ForceNotAllowed,
            "not to \"check\"",
        ),
        (
            r#"{"scenario":"a","step":"check","now":"tomorrow"}"#,
            RejectCode::InvalidNow,
            "`now` is not an RFC 3339 timestamp",
        ),
        (
            r#"{"scenario":"a","step":"check","now":1764075600}"#,
            RejectCode::InvalidNow,
            "got a number",
        ),
        (
            r#"{"scenario":"a","step":"check","scheduled_time":"2026-11-25T13:00:00"}"#,
            RejectCode::InvalidScheduledTime,
            "with an offset",
        ),
        (
            r#"{"scenario":"a","step":"check","scheduled_time":"<aws.scheduler.scheduled-time>"}"#,
            RejectCode::InvalidScheduledTime,
            "placeholder was not substituted",
        ),
        (r#"{"scenario":"a","step":"check","id":""}"#, RejectCode::InvalidId, "`id` is empty"),
        (r#"{"scenario":"a","step":"check","id":12}"#, RejectCode::InvalidId, "must be a string"),
        (
            r#"{"scenario":"a","step":"check","forse":true}"#,
            RejectCode::UnknownField,
            "unknown field \"forse\" in the step command",
        ),
        (
            r#"{"scenario":"a","step":"check","source":"x"}"#,
            RejectCode::UnknownField,
            "mixes step command and EventBridge envelope fields",
        ),
        (
            r#"{"version":"0","id":"e","source":"nightshift","detail":{}}"#,
            RejectCode::EnvelopeMissingField,
            "missing `detail-type`",
        ),
        (
            r#"{"version":"0","id":"e","detail-type":"x","detail":{}}"#,
            RejectCode::EnvelopeMissingField,
            "missing `source`",
        ),
        (
            r#"{"version":"0","detail-type":"x","source":"nightshift","detail":{}}"#,
            RejectCode::EnvelopeMissingField,
            "missing `id`",
        ),
        (
            r#"{"version":"0","id":"e","detail-type":"x","source":"nightshift"}"#,
            RejectCode::EnvelopeMissingField,
            "missing `detail`",
        ),
        (
            r#"{"detail-type":"x"}"#,
            RejectCode::EnvelopeMissingField,
            "missing `id`, `source`, `detail`",
        ),
        (
            r#"{"id":"","detail-type":"x","source":"nightshift","detail":{}}"#,
            RejectCode::EnvelopeInvalidField,
            "`id` is empty",
        ),
        (
            r#"{"id":5,"detail-type":"x","source":"nightshift","detail":{}}"#,
            RejectCode::EnvelopeInvalidField,
            "`id` must be a string, got a number (5)",
        ),
        (
            r#"{"id":"e","detail-type":"x","source":"nightshift","detail":{},"resources":"arn"}"#,
            RejectCode::EnvelopeInvalidField,
            "`resources` a list of strings",
        ),
        (
            r#"{"id":"e","detail-type":"x","source":"nightshift","detail":"{\"scenario\":\"a\"}"}"#,
            RejectCode::DetailNotObject,
            "`detail` is a string",
        ),
        (
            r#"{"id":"e","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#,
            RejectCode::UnsupportedEvent,
            "set the rule target's input to a constant step command",
        ),
        (
            r#"{"id":"e","detail-type":"ECS Service Action","source":"aws.ecs","detail":{"eventName":"SERVICE_STEADY_STATE"}}"#,
            RejectCode::UnsupportedEvent,
            "detail-type \"ECS Service Action\"",
        ),
        (
            r#"{"id":"e","detail-type":"run","source":"nightshift","detail":{}}"#,
            RejectCode::MissingScenario,
            "`detail.scenario` is missing from the `detail` of custom EventBridge event (source \"nightshift\")",
        ),
        (
            r#"{"id":"e","detail-type":"run","source":"nightshift","detail":{"scenario":"a","step":"nap"}}"#,
            RejectCode::UnknownStep,
            "`detail.step`: unknown step \"nap\"",
        ),
        (
            r#"{"id":"e","detail-type":"run","source":"nightshift","detail":{"scenario":"a","step":"check","extra":1}}"#,
            RejectCode::UnknownField,
            "allowed fields are scenario, step, id, scheduled_time, force, now",
        ),
        (
            r#"{"id":"e","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"group":"family:nightly-job"}}"#,
            RejectCode::EcsMissingLastStatus,
            "no `detail.lastStatus`",
        ),
        (
            r#"{"id":"e","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"lastStatus":"STOPPED"}}"#,
            RejectCode::EcsMissingGroup,
            "no `detail.group`",
        ),
        (
            r#"{"id":"e","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{"lastStatus":3}}"#,
            RejectCode::CompletionInvalidField,
            "`detail.lastStatus` must be a non-empty string, got a number (3)",
        ),
        (
            r#"{"id":"e","detail-type":"Batch Job State Change","source":"aws.batch","detail":{"jobQueue":"q"}}"#,
            RejectCode::BatchMissingStatus,
            "no `detail.status`",
        ),
        (
            r#"{"id":"e","detail-type":"Batch Job State Change","source":"aws.batch","detail":{"status":"SUCCEEDED"}}"#,
            RejectCode::BatchMissingJobQueue,
            "no `detail.jobQueue`",
        ),
    ];

    #[test]
    fn each_malformed_payload_gets_its_specific_code_and_message() {
        for (payload, code, needle) in MALFORMED {
            let r = rejected(payload);
            assert_eq!(r.code, *code, "payload {payload}: {r}");
            assert!(
                r.message.contains(needle),
                "payload {payload}: message {:?} lacks {needle:?}",
                r.message
            );
            assert!(r.to_string().starts_with(code.as_str()));
        }
    }

    #[test]
    fn malformed_cases_cover_at_least_22_distinct_codes() {
        let mut codes: Vec<RejectCode> = MALFORMED.iter().map(|(_, code, _)| *code).collect();
        codes.extend([
            RejectCode::PayloadTooLarge,
            RejectCode::TooDeep,
            RejectCode::StringTooLong,
            // Not a parse rejection: see the check_account test.
            RejectCode::ForeignAccount,
        ]);
        let distinct: std::collections::HashSet<RejectCode> = codes.into_iter().collect();
        assert_eq!(
            distinct.len(),
            RejectCode::ALL.len(),
            "every code is exercised"
        );
        assert!(distinct.len() >= 22);
    }

    #[test]
    fn size_is_checked_before_parsing_and_the_limit_itself_is_accepted() {
        let base = r#"{"scenario":"a","step":"check"}"#;
        let mut at_limit = base.as_bytes().to_vec();
        at_limit.resize(MAX_EVENT_BYTES, b' ');
        assert!(parse(&at_limit).is_ok());

        // One byte over, and not even JSON: the size is reported, not the syntax.
        let over = vec![b'x'; MAX_EVENT_BYTES + 1];
        let r = parse(&over).unwrap_err();
        assert_eq!(r.code, RejectCode::PayloadTooLarge);
        assert!(
            r.message
                .contains("262145 bytes, over the 262144-byte limit"),
            "{r}"
        );
    }

    #[test]
    fn nesting_beyond_the_limit_is_rejected_even_past_serde_jsons_own_limit() {
        let nested = |levels: usize| {
            format!(
                r#"{{"id":"e","detail-type":"ECS Task State Change","source":"aws.ecs","detail":{{"lastStatus":"RUNNING","x":{}1{}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // Envelope (1) + detail (2) + 30 arrays = 32: accepted, extra detail fields are ignored.
        assert!(parse(nested(30).as_bytes()).is_ok());
        for levels in [31, 200, 10_000] {
            let r = parse(nested(levels).as_bytes()).unwrap_err();
            assert_eq!(r.code, RejectCode::TooDeep, "{levels} levels: {r}");
            assert!(r.message.contains("more than 32 levels deep"), "{r}");
        }
        // Brackets inside strings are not nesting.
        let in_string = format!(
            r#"{{"scenario":"a","step":"check","id":"{}"}}"#,
            "[{".repeat(100)
        );
        assert!(parse(in_string.as_bytes()).is_ok());
        // Nor are escaped quotes followed by brackets.
        let escaped = format!(
            r#"{{"scenario":"a","step":"check","id":"\"{}"}}"#,
            "[".repeat(40)
        );
        assert!(parse(escaped.as_bytes()).is_ok());
    }

    #[test]
    fn long_strings_and_keys_are_rejected_with_their_path() {
        let long = "x".repeat(MAX_STRING_BYTES + 1);
        let r = rejected(&format!(
            r#"{{"scenario":"a","step":"check","id":"{long}"}}"#
        ));
        assert_eq!(r.code, RejectCode::StringTooLong);
        assert!(r.message.contains("string at `id` is 4097 bytes"), "{r}");

        let r = rejected(&format!(
            r#"{{"id":"e","detail-type":"Nightly","source":"nightshift","detail":{{"scenario":"a","step":"check","extra":[{{"notes":{{"value":"{long}"}}}}]}}}}"#
        ));
        assert_eq!(r.code, RejectCode::StringTooLong);
        assert!(r.message.contains("`detail.extra[0].notes.value`"), "{r}");

        let r = rejected(&format!(r#"{{"{long}":1}}"#));
        assert_eq!(r.code, RejectCode::StringTooLong);
        assert!(r.message.starts_with("key at `xxxx"), "{r}");
        assert!(r.message.len() < 400, "the key is not echoed in full: {r}");

        // Exactly at the limit is fine.
        let at_limit = "x".repeat(MAX_STRING_BYTES);
        let r = rejected(&format!(
            r#"{{"scenario":"a","step":"check","id":"{at_limit}"}}"#
        ));
        assert_eq!(
            r.code,
            RejectCode::InvalidId,
            "length checks come after: {r}"
        );
        assert!(r.message.contains("4096 characters long"), "{r}");
    }

    #[test]
    fn id_over_256_characters_is_rejected_and_256_is_accepted() {
        let r = rejected(&format!(
            r#"{{"scenario":"a","step":"check","id":"{}"}}"#,
            "é".repeat(257)
        ));
        assert_eq!(r.code, RejectCode::InvalidId);
        assert!(r.message.contains("257 characters long"), "{r}");
        let event = ok(&format!(
            r#"{{"scenario":"a","step":"check","id":"{}"}}"#,
            "é".repeat(256)
        ));
        assert_eq!(event.key.dedup_key(REQUEST_ID), "é".repeat(256));
    }

    #[test]
    fn untrusted_text_is_truncated_and_escaped_in_messages() {
        let r = rejected(&format!(
            r#"{{"scenario":"a","step":"scale-up\n{}"}}"#,
            "z".repeat(500)
        ));
        assert_eq!(r.code, RejectCode::UnknownStep);
        assert!(r.message.contains(r"scale-up\nzzz"), "{r}");
        assert!(!r.message.contains('\n'), "{r}");
        assert!(r.message.len() < 250, "{r}");
    }

    #[test]
    fn rejections_carry_the_scenario_when_the_payload_named_a_valid_one() {
        let r = rejected(r#"{"scenario":"nightly-batch","step":"scale-up","force":true}"#);
        assert_eq!(r.code, RejectCode::ForceNotAllowed);
        assert_eq!(r.scenario_hint(), Some("nightly-batch"));

        let r = rejected(
            r#"{"id":"e","detail-type":"run","source":"nightshift","detail":{"scenario":"nightly-batch","step":"x"}}"#,
        );
        assert_eq!(r.scenario_hint(), Some("nightly-batch"));

        let r = rejected(r#"{"scenario":"bad name","step":"check"}"#);
        assert_eq!(r.scenario_hint(), None);
        let r = rejected(r#"{"scenario":"a","step":"check"} x"#);
        assert_eq!(r.scenario_hint(), None);
    }

    #[test]
    fn payload_hash_ignores_key_order_and_whitespace_but_not_content() {
        let a = ok(r#"{"scenario":"a","step":"check"}"#).payload_hash;
        let b = ok("{ \"step\" : \"check\",\n \"scenario\" : \"a\" }").payload_hash;
        assert_eq!(a, b);
        // sha256 of the canonical bytes `{"scenario":"a","step":"check"}`.
        assert_eq!(
            a,
            "334a564931736016478fd3c17b2244cb666f6079c8f3b797ea5656dff506aeb3"
        );
        let c = ok(r#"{"scenario":"a","step":"scale-up"}"#).payload_hash;
        assert_ne!(a, c);

        // Nested objects are canonicalized too; array order matters.
        let nested = |detail: &str| {
            ok(&format!(
                r#"{{"id":"e","detail-type":"x","source":"nightshift","detail":{detail}}}"#
            ))
            .payload_hash
        };
        assert_eq!(
            nested(r#"{"scenario":"a","step":"check"}"#),
            nested(r#"{"step":"check","scenario":"a"}"#)
        );
        let with_resources = |r: &str| {
            ok(&format!(
                r#"{{"id":"e","detail-type":"x","source":"nightshift","resources":{r},"detail":{{"scenario":"a","step":"check"}}}}"#
            ))
            .payload_hash
        };
        assert_ne!(
            with_resources(r#"["p","q"]"#),
            with_resources(r#"["q","p"]"#)
        );
    }

    #[test]
    fn payload_hash_of_a_fixture_is_stable_when_reserialized() {
        for fixture in ALL_FIXTURES {
            let Ok(event) = parse(fixture.as_bytes()) else {
                continue;
            };
            let value: Value = serde_json::from_str(fixture).unwrap();
            let compact = serde_json::to_vec(&value).unwrap();
            assert_eq!(parse(&compact).unwrap().payload_hash, event.payload_hash);
            assert_eq!(event.payload_hash.len(), 64);
        }
    }

    #[test]
    fn step_commands_reserialize_to_the_wire_format_and_parse_back() {
        for fixture in [STEP_COMMAND, STEP_COMMAND_SCHEDULER, SCALE_DOWN_FORCE] {
            let event = ok(fixture);
            let json = serde_json::to_string(command(&event)).unwrap();
            let again = ok(&json);
            assert_eq!(again.kind, event.kind, "{json}");
            assert_eq!(again.key, event.key, "{json}");
            assert_eq!(again.payload_hash, event.payload_hash, "{json}");
        }
        let event = ok(SCALE_DOWN_FORCE);
        assert_eq!(
            serde_json::to_string(command(&event)).unwrap(),
            r#"{"scenario":"nightly-batch","step":"scale-down","id":"ops-forced-scale-down-2026-11-26","force":true}"#
        );
    }

    #[test]
    fn batch_queue_matches_by_name_or_exact_arn() {
        let arn = "arn:aws:batch:ap-northeast-1:123456789012:job-queue/nightly-queue";
        assert!(batch_queue_matches(arn, "nightly-queue"));
        assert!(batch_queue_matches(arn, arn));
        assert!(batch_queue_matches("nightly-queue", "nightly-queue"));
        assert!(batch_queue_matches("nightly-queue", arn));
        assert!(batch_queue_matches(
            "arn:aws-cn:batch:cn-north-1:123456789012:job-queue/nightly-queue",
            "nightly-queue"
        ));
        // Another account's queue with the same name does not match a configured ARN.
        assert!(!batch_queue_matches(
            "arn:aws:batch:ap-northeast-1:999999999999:job-queue/nightly-queue",
            arn
        ));
        assert!(!batch_queue_matches(arn, "nightly-queue-2"));
        assert!(!batch_queue_matches(arn, "queue"));
        assert!(!batch_queue_matches(arn, "job-queue/nightly-queue"));
        assert!(!batch_queue_matches(
            "arn:aws:batch:ap-northeast-1:123456789012:job-definition/nightly-queue",
            "nightly-queue"
        ));
        assert!(!batch_queue_matches(
            "arn:aws:ecs:ap-northeast-1:123456789012:job-queue/nightly-queue",
            "nightly-queue"
        ));
        assert!(!batch_queue_matches("", ""));
    }

    #[test]
    fn ecs_group_matches_exactly() {
        assert!(ecs_group_matches(
            "family:nightly-job",
            "family:nightly-job"
        ));
        assert!(!ecs_group_matches("family:nightly-job", "nightly-job"));
        assert!(!ecs_group_matches(
            "family:nightly-job-2",
            "family:nightly-job"
        ));
        assert!(!ecs_group_matches("service:worker", "family:worker"));
        assert!(!ecs_group_matches("", ""));
    }

    #[test]
    fn reject_codes_display_in_snake_case_and_are_distinct() {
        assert_eq!(RejectCode::ForceNotAllowed.to_string(), "force_not_allowed");
        assert_eq!(
            serde_json::to_string(&RejectCode::EcsMissingGroup).unwrap(),
            "\"ecs_missing_group\""
        );
        let names: std::collections::HashSet<&str> =
            RejectCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), RejectCode::ALL.len());
        for code in RejectCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn rejection_is_an_error_displaying_code_and_message() {
        let r = rejected(r#"{"scenario":"a"}"#);
        let as_error: &dyn std::error::Error = &r;
        assert_eq!(
            as_error.to_string(),
            "missing_step: `step` is missing: add \"step\": \"scale-up\", \"check\" or \"scale-down\""
        );
    }

    #[test]
    fn never_panics_on_truncated_or_corrupted_fixtures() {
        for fixture in ALL_FIXTURES {
            let bytes = fixture.as_bytes();
            for end in 0..bytes.len() {
                let _ = parse(&bytes[..end]);
            }
            for i in (0..bytes.len()).step_by(7) {
                for replacement in [b'"', b'{', b']', 0xff, b'\\'] {
                    let mut corrupted = bytes.to_vec();
                    corrupted[i] = replacement;
                    let _ = parse(&corrupted);
                }
            }
        }
    }

    #[test]
    fn an_unknown_field_rejection_names_five_fields_and_counts_the_rest() {
        let mut payload = String::from(r#"{"scenario": "a", "step": "check""#);
        for n in 0..2000 {
            payload.push_str(&format!(r#", "{}{n}": 0"#, "x".repeat(100)));
        }
        payload.push('}');
        let rejection = parse(payload.as_bytes()).unwrap_err();
        assert_eq!(rejection.code, RejectCode::UnknownField);
        assert!(
            rejection.message.contains("and 1995 more"),
            "{}",
            rejection.message
        );
        assert!(
            rejection.message.len() < 1024,
            "{} bytes",
            rejection.message.len()
        );
        let one = parse(br#"{"scenario": "a", "step": "check", "stpe": 1}"#).unwrap_err();
        assert!(
            one.message.starts_with("unknown field \"stpe\" in"),
            "{}",
            one.message
        );
    }

    #[test]
    fn an_event_from_another_account_is_refused_and_one_from_the_own_account_or_none_is_not() {
        let home =
            function_account("arn:aws:lambda:ap-northeast-1:123456789012:function:nightshift:live")
                .expect("a function ARN");
        assert_eq!(home, "123456789012");
        assert_eq!(
            function_account("arn:aws:lambda:eu-west-1:12345:function:x"),
            None
        );
        assert_eq!(function_account("nightshift"), None);
        let envelope = |account: &str| {
            format!(
                r#"{{"version":"0","id":"e-1","detail-type":"ECS Task State Change","source":"aws.ecs","account":"{account}","region":"ap-northeast-1","detail":{{"lastStatus":"STOPPED","group":"family:nightly-job"}}}}"#
            )
        };
        let own = ok(&envelope("123456789012"));
        assert_eq!(own.account.as_deref(), Some("123456789012"));
        assert!(check_account(&own, home).is_ok());
        let foreign = ok(&envelope("999999999999"));
        let rejection = check_account(&foreign, home).unwrap_err();
        assert_eq!(rejection.code, RejectCode::ForeignAccount);
        assert!(
            rejection
                .to_string()
                .starts_with("foreign_account: event from account 999999999999"),
            "{rejection}"
        );
        // A bare step command carries no account: nothing to compare.
        let bare = ok(r#"{"scenario":"a","step":"check"}"#);
        assert_eq!(bare.account, None);
        assert!(check_account(&bare, home).is_ok());
    }
}
