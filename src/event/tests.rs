//! Tests of [`super::parse`] as a whole: the fixtures, the dedup key, the payload hash, every
//! malformed payload with its code, and never panicking. The helpers and fixtures here are shared
//! with the tests beside each part (command, envelope, completion, rejection).

use super::*;

pub(super) const STEP_COMMAND: &str =
    include_str!("../../integration/fixtures/events/step-command.json");
pub(super) const STEP_COMMAND_SCHEDULER: &str =
    include_str!("../../integration/fixtures/events/step-command-scheduler.json");
pub(super) const EVENTBRIDGE_CUSTOM_STEP: &str =
    include_str!("../../integration/fixtures/events/eventbridge-custom-step.json");
pub(super) const ECS_TASK_STATE_CHANGE_JSON: &str =
    include_str!("../../integration/fixtures/events/ecs-task-state-change.json");
pub(super) const ECS_TASK_RUNNING: &str =
    include_str!("../../integration/fixtures/events/ecs-task-running.json");
pub(super) const BATCH_JOB_STATE_CHANGE_JSON: &str =
    include_str!("../../integration/fixtures/events/batch-job-state-change.json");
pub(super) const BATCH_JOB_FAILED: &str =
    include_str!("../../integration/fixtures/events/batch-job-failed.json");
pub(super) const EVENTBRIDGE_UNSUPPORTED: &str =
    include_str!("../../integration/fixtures/events/eventbridge-unsupported.json");
pub(super) const SCALE_DOWN_FORCE: &str =
    include_str!("../../integration/fixtures/events/scale-down-force.json");

pub(super) const ALL_FIXTURES: [&str; 9] = [
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

pub(super) const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

pub(super) fn ok(payload: &str) -> InboundEvent {
    match parse(payload.as_bytes()) {
        Ok(event) => event,
        Err(rejection) => panic!("expected {payload} to parse, got {rejection}"),
    }
}

pub(super) fn rejected(payload: &str) -> Rejection {
    match parse(payload.as_bytes()) {
        Ok(event) => panic!("expected {payload} to be rejected, got {event:?}"),
        Err(rejection) => rejection,
    }
}

pub(super) fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

pub(super) fn command(event: &InboundEvent) -> &StepCommand {
    match &event.kind {
        EventKind::Step(command) => command,
        other => panic!("expected a step command, got {other:?}"),
    }
}

pub(super) fn completion(event: &InboundEvent) -> &Completion {
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
