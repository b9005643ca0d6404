//! The step command: `{"scenario": "nightly-batch", "step": "scale-up", …}` (docs/contract.md, "Events
//! it accepts", 1), sent bare (EventBridge Scheduler, a rule's constant input, a manual invoke)
//! or as the `detail` of a custom EventBridge event. Every field is checked here, and every
//! rejection names the field, what is wrong with it, and an example of what to send instead.

use super::envelope::ENVELOPE_MARKERS;
use super::rejection::{describe, excerpt, RejectCode, Rejection, ECHO_CHARS};
use crate::domain::{Step, UnknownStep};
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest `id` (command or envelope) accepted, in characters: it becomes part of a DynamoDB key.
pub const MAX_ID_CHARS: usize = 256;

/// Longest scenario name accepted, in characters (names are `[A-Za-z0-9_-]`).
pub const MAX_SCENARIO_CHARS: usize = 64;

/// The fields a step command may carry; anything else is rejected so that typos (`"forse"`) do
/// not silently change behaviour.
pub const STEP_COMMAND_FIELDS: [&str; 6] =
    ["scenario", "step", "id", "scheduled_time", "force", "now"];

/// How many unknown field names a rejection lists before "and N more".
pub const MAX_NAMED_UNKNOWN_FIELDS: usize = 5;

/// Example used in messages so that every "how to fix" shows the expected shape.
pub(super) const STEP_COMMAND_EXAMPLE: &str =
    r#"{"scenario": "nightly-batch", "step": "scale-up"}"#;

/// A step command (docs/contract.md, "Events it accepts", 1).
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

/// Where a step command sits, for field paths and hints in messages.
#[derive(Clone, Copy)]
pub(super) enum Place<'a> {
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
pub(super) fn parse_step_command(
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
    reject_unknown_fields(map, place)?;
    let scenario = scenario_field(map, place)?;
    let step = step_field(map, place)?;
    let id = id_field(map, place)?;
    let scheduled_time = optional_timestamp(map, "scheduled_time", place)
        .map_err(|m| Rejection::new(RejectCode::InvalidScheduledTime, m))?;
    let now = optional_timestamp(map, "now", place)
        .map_err(|m| Rejection::new(RejectCode::InvalidNow, m))?;

    let force = force_field(map, step, place)?;

    Ok(StepCommand {
        scenario: scenario.clone(),
        step,
        id,
        scheduled_time,
        force,
        now,
    })
}

/// Rejects fields a step command does not have, naming the first few.
fn reject_unknown_fields(map: &Map<String, Value>, place: Place<'_>) -> Result<(), Rejection> {
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
    Ok(())
}

/// The command's `scenario`: present, a string, and a valid name.
fn scenario_field<'m>(
    map: &'m Map<String, Value>,
    place: Place<'_>,
) -> Result<&'m String, Rejection> {
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
    Ok(scenario)
}

/// The command's `step`: present and one of the step names.
fn step_field(map: &Map<String, Value>, place: Place<'_>) -> Result<Step, Rejection> {
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
    Ok(step)
}

/// The command's optional `id`.
fn id_field(map: &Map<String, Value>, place: Place<'_>) -> Result<Option<String>, Rejection> {
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
    Ok(id)
}

/// The command's optional `force`: a boolean, and `true` only with `scale-down`.
fn force_field(map: &Map<String, Value>, step: Step, place: Place<'_>) -> Result<bool, Rejection> {
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
    Ok(force)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;
    use crate::event::tests::{
        command, ok, rejected, ts, REQUEST_ID, SCALE_DOWN_FORCE, STEP_COMMAND,
        STEP_COMMAND_SCHEDULER,
    };

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
}
