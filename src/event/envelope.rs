//! The EventBridge envelope: checking its own fields, dispatching on `source` and `detail-type`
//! (ECS / Batch completions, or a custom event whose `detail` is a step command), and the
//! account checks that keep another account's events from ending or forcing a night.

use super::command::{parse_step_command, Place, MAX_ID_CHARS, STEP_COMMAND_EXAMPLE};
use super::completion::{
    batch_completion, ecs_completion, BATCH_JOB_STATE_CHANGE, BATCH_SOURCE, ECS_SOURCE,
    ECS_TASK_STATE_CHANGE,
};
use super::rejection::{describe, excerpt, RejectCode, Rejection};
use super::{EventKind, InboundEvent, KeySource};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The EventBridge envelope as EventBridge delivers it to a Lambda function. Only `id`, `source`,
/// `detail-type` and `detail` are used; the optional fields are typed so that an envelope whose
/// `time` is not an RFC 3339 timestamp (or whose `resources` is not a list of strings) is refused
/// as malformed rather than half-read. Unknown fields are ignored, as EventBridge may add some.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)] // version, time, region and resources are checked, not read
struct EventBridgeEvent {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    id: Option<String>,
    detail_type: String,
    source: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    time: Option<jiff::Timestamp>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    detail: Map<String, Value>,
}

/// Keys that only an EventBridge envelope has (never a step command); used to tell the two apart.
pub(super) const ENVELOPE_MARKERS: [&str; 8] = [
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

/// Validates and dispatches an EventBridge envelope.
/// The envelope's dedup key, what it asks for, and the account it came from (if it says).
pub(super) fn parse_envelope(
    map: Map<String, Value>,
) -> Result<(KeySource, EventKind, Option<String>), Rejection> {
    check_required_fields(&map)?;
    // The required fields are now known good; the typed envelope checks the optional ones
    // (version, account, time, region, resources).
    let envelope: EventBridgeEvent = serde_json::from_value(Value::Object(map)).map_err(|e| {
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
    let kind = dispatch(&envelope.source, &envelope.detail_type, &envelope.detail)?;
    let account = envelope.account.filter(|a| !a.is_empty());
    Ok((KeySource::Envelope(id), kind, account))
}

/// The envelope's own fields: `id`, `source`, `detail-type` and `detail` present, the first three
/// non-empty strings (`id` short enough for a key), and `detail` an object.
fn check_required_fields(map: &Map<String, Value>) -> Result<(), Rejection> {
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
    Ok(())
}

/// What an envelope with this `source` and `detail-type` asks for: an ECS or Batch completion,
/// or (custom source) the step command in its `detail`; any other AWS event is refused.
fn dispatch(
    source: &str,
    detail_type: &str,
    detail: &Map<String, Value>,
) -> Result<EventKind, Rejection> {
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
    Ok(kind)
}

fn envelope_invalid(message: String) -> Rejection {
    Rejection::new(RejectCode::EnvelopeInvalidField, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Step;
    use crate::event::tests::{
        command, ok, rejected, EVENTBRIDGE_CUSTOM_STEP, EVENTBRIDGE_UNSUPPORTED, REQUEST_ID,
    };

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
