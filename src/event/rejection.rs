//! Why nightshift refuses a payload, and the bounds that keep hostile input cheap to refuse.
//!
//! A [`Rejection`] carries a stable [`RejectCode`] (its snake_case name is the contract: responses,
//! the run history and the hostile-input corpus check it) and a message that says what is wrong
//! and how to fix it. Untrusted text is tamed before it is echoed ([`excerpt`], [`describe`]).
//! The size limits are checked here in the order [`super::parse`] applies them: bytes, then
//! nesting depth (on the raw bytes, [`depth_exceeded`]), then duplicate keys while reading
//! ([`UniqueKeys`]), then the length of every string and key ([`check_strings`]).

use serde::Serialize;
use serde_json::{Map, Value};
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

/// Longest excerpt of untrusted text echoed back in a message (keeps messages and logs short).
pub(super) const ECHO_CHARS: usize = 64;

/// Why a payload was rejected: a stable machine-readable category. Displayed in snake_case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
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
    /// An EventBridge event from another account than the function's (see
    /// [`check_account`](super::check_account)).
    ForeignAccount,
}

impl RejectCode {
    /// Every code, in declaration order, for exhaustive tests and documentation.
    pub const ALL: &'static [RejectCode] = <RejectCode as strum::VariantArray>::VARIANTS;

    /// The snake_case name, as displayed, serialized and recorded (the same string serde writes:
    /// both derive it from the variant name, and a test checks that they agree).
    pub fn as_str(self) -> &'static str {
        self.into()
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

    pub(super) fn with_scenario(mut self, scenario: Option<&str>) -> Self {
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

pub(super) const DUPLICATE_KEY: &str = "duplicate key";

/// A JSON value read like `serde_json::Value`, except that an object naming a key twice is an
/// error instead of "the last one wins": a filter, a log or a person reading the first value
/// would see another event than the one acted on. serde_json's own depth limit still applies.
pub(super) struct UniqueKeys(pub(super) Value);

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

/// The byte offset at which nesting first exceeds `limit`, scanning the raw bytes (brackets inside
/// strings do not count). Exact for valid JSON; for invalid JSON any answer is fine because the
/// payload is rejected either way.
pub(super) fn depth_exceeded(bytes: &[u8], limit: usize) -> Option<usize> {
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
pub(super) enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Rejects any string or key over [`MAX_STRING_BYTES`], naming where it is. Recursion is bounded
/// by [`MAX_DEPTH`], checked before.
pub(super) fn check_strings<'a>(
    value: &'a Value,
    path: &mut Vec<Segment<'a>>,
) -> Result<(), Rejection> {
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

/// A JSON value's type (and short value, for scalars) for messages.
pub(super) fn describe(value: &Value) -> String {
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
pub(super) fn excerpt(s: &str) -> String {
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
    use super::*;
    use crate::event::tests::rejected;
    use crate::event::{parse, Completion, EventKind};

    #[test]
    fn long_strings_inside_an_aws_service_detail_are_accepted() {
        // A real ECS task can carry long environment overrides; the event must still count.
        let mut event: serde_json::Value = serde_json::from_str(include_str!(
            "../../integration/fixtures/events/ecs-task-state-change.json"
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
}
