//! A scenario's resources: the schedules of its night (`crate::schedule::schedules`) and its
//! completion rule.

use super::doc::{get_att, map, reference, s, seq, sub_with, Node};
use super::shapes::stack_key;
use crate::config::{CompletionMatcher, Scenario};
use crate::domain::Step;
use crate::schedule::{self, NightSchedule, StepRole};
use serde_json::{json, Value};

/// EventBridge's limit on a rule's event pattern, in characters (the default quota; it can be
/// raised to 4,096). A scenario whose matchers do not fit gets a second rule.
pub const MAX_EVENT_PATTERN_CHARS: usize = 2048;

/// EventBridge's limit on a rule's name.
const MAX_RULE_NAME_CHARS: usize = 64;

/// The start of every completion rule's name: `nightshift-<stack key>-`, where the stack key is
/// the first eight hex digits of the stack's id. Unique per stack (two stacks of two configs in
/// one account never share a rule name), short whatever the stack's name, and one wildcard ARN
/// covers all of the stack's rules, so one Lambda permission and one queue policy serve them all.
pub const RULE_NAME_PREFIX: &str = "nightshift-";

/// The step command a schedule sends: `<aws.scheduler.scheduled-time>` becomes the scheduled
/// time, so the dedup key `scenario/step/scheduled_time` is the same for every attempt of one
/// scheduled firing and different for the next firing of the same schedule; the run history
/// records that key, which names the firing's time.
pub fn schedule_input(scenario: &str, step: Step) -> String {
    json!({
        "scenario": scenario,
        "step": step.as_str(),
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    })
    .to_string()
}

/// The EventBridge pattern of a group of completion matchers: exactly what `event` accepts for
/// them. ECS groups and Batch queues each become one list; both kinds together, an `$or`.
pub fn completion_pattern(matchers: &[&CompletionMatcher]) -> Value {
    let mut groups = Vec::new();
    let mut queues = Vec::new();
    for m in matchers {
        match m {
            CompletionMatcher::EcsTaskStopped { group } => groups.push(json!(group)),
            CompletionMatcher::BatchJobDone { job_queue } => {
                // A configured ARN matches that queue only; a name matches the name and any
                // queue ARN ending in it, as `event::batch_queue_matches` does.
                queues.push(json!(job_queue));
                if !job_queue.starts_with("arn:") {
                    queues.push(json!({ "suffix": format!(":job-queue/{job_queue}") }));
                }
            }
        }
    }
    let ecs = json!({
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": { "lastStatus": ["STOPPED"], "group": groups }
    });
    let batch = json!({
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": { "status": ["SUCCEEDED", "FAILED"], "jobQueue": queues }
    });
    match (groups.is_empty(), queues.is_empty()) {
        (false, true) => ecs,
        (true, false) => batch,
        _ => json!({ "$or": [ecs, batch] }),
    }
}

/// A scenario's matchers in as few groups as fit one event pattern each, in config order.
fn rule_groups(scenario: &Scenario) -> Vec<Vec<&CompletionMatcher>> {
    let mut out: Vec<Vec<&CompletionMatcher>> = Vec::new();
    for m in &scenario.completion {
        let fits = out.last().is_some_and(|group| {
            let mut with = group.clone();
            with.push(m);
            completion_pattern(&with).to_string().len() <= MAX_EVENT_PATTERN_CHARS
        });
        match out.last_mut() {
            Some(group) if fits => group.push(m),
            _ => out.push(vec![m]),
        }
    }
    out
}

/// Retry policy of a schedule's target: how long an undelivered step is still worth running.
fn schedule_retry(role: StepRole, schedule: &schedule::Schedule) -> (i64, i64) {
    match role {
        // A late scale-up or scale-down is still wanted within the hour.
        StepRole::ScaleUp | StepRole::ScaleDown | StepRole::DeadlineCheck => (3600, 10),
        // A check older than the interval is superseded by the next one.
        _ => ((schedule.check_every.as_secs() as i64).clamp(60, 3600), 3),
    }
}

/// One `AWS::Scheduler::Schedule` of a scenario.
fn schedule_resource(
    scenario: &Scenario,
    description: String,
    expression: String,
    input: String,
    (age, attempts): (i64, i64),
) -> Node {
    map([
        ("Type", s("AWS::Scheduler::Schedule")),
        (
            "Properties",
            map([
                ("GroupName", reference("ScheduleGroup")),
                ("Description", s(description)),
                ("ScheduleExpression", s(expression)),
                ("ScheduleExpressionTimezone", s(&scenario.timezone_name)),
                ("FlexibleTimeWindow", map([("Mode", s("OFF"))])),
                ("State", s("ENABLED")),
                (
                    "Target",
                    map([
                        ("Arn", get_att("Function", "Arn")),
                        ("RoleArn", get_att("SchedulerRole", "Arn")),
                        ("Input", s(input)),
                        (
                            "RetryPolicy",
                            map([
                                ("MaximumEventAgeInSeconds", Node::Int(age)),
                                ("MaximumRetryAttempts", Node::Int(attempts)),
                            ]),
                        ),
                        (
                            "DeadLetterConfig",
                            map([("Arn", get_att("SchedulerDeadLetterQueue", "Arn"))]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

/// What a schedule fires, for its description: "scale-up at 23:00", "6 checks 23:10-23:50".
fn fires(night: &NightSchedule) -> String {
    let hhmm = |t: jiff::civil::Time| t.strftime("%H:%M").to_string();
    match night.steps.len() {
        1 => format!("{} at {}", night.role.as_str(), hhmm(night.first().at)),
        n => format!(
            "{n} {}s {}-{}",
            night.role.as_str(),
            hhmm(night.first().at),
            hhmm(night.last().at)
        ),
    }
}

/// The scenario's schedules and completion rules. `rule_ordinal` numbers the stack's completion
/// rules (their names must differ); returns the logical ids of the rules it added.
pub(super) fn scenario_resources(
    resources: &mut Node,
    scenario: &Scenario,
    id: &str,
    rule_ordinal: &mut usize,
) -> Vec<String> {
    if let Some(schedule) = &scenario.schedule {
        // Validated in config: the night is not empty and not too dense.
        let nights = schedule::schedules(schedule, &scenario.scale_down).unwrap_or_default();
        for night in &nights {
            let role = match night.role {
                StepRole::ScaleUp => "ScaleUp",
                StepRole::Check => "Checks",
                StepRole::DeadlineCheck => "DeadlineCheck",
                StepRole::OverdueCheck => "OverdueCheck",
                StepRole::ScaleDown => "ScaleDown",
            };
            let (age, attempts) = schedule_retry(night.role, schedule);
            let logical = format!("{id}{role}{}", night.first().at.strftime("%H%M"));
            let description = format!(
                "nightshift {}: {} {}",
                scenario.name,
                fires(night),
                scenario.timezone_name
            );
            let expression = night.cron.expression();
            let input = schedule_input(&scenario.name, night.step);
            resources.push(
                logical,
                schedule_resource(scenario, description, expression, input, (age, attempts)),
            );
        }
        // The business calendar's: profile nights and daylight-saving catch-ups.
        for extra in schedule::calendar_schedules(scenario) {
            let retry = schedule_retry(extra.role, schedule);
            let description = crate::text::cut(
                &format!(
                    "nightshift {}: {} {}",
                    scenario.name, extra.what, scenario.timezone_name
                ),
                512,
            );
            let input = schedule_input(&scenario.name, extra.step);
            resources.push(
                format!("{id}{}", extra.key),
                schedule_resource(scenario, description, extra.expression, input, retry),
            );
        }
    }

    let mut rules = Vec::new();
    let groups = rule_groups(scenario);
    for (j, group) in groups.iter().enumerate() {
        *rule_ordinal += 1;
        let rule = if groups.len() == 1 {
            format!("{id}Completion")
        } else {
            format!("{id}Completion{}", j + 1)
        };
        let what: Vec<String> = group
            .iter()
            .map(|m| match m {
                CompletionMatcher::EcsTaskStopped { group } => format!("ECS task {group} STOPPED"),
                CompletionMatcher::BatchJobDone { job_queue } => {
                    format!("Batch job on {job_queue} SUCCEEDED or FAILED")
                }
            })
            .collect();
        let description = crate::text::cut(
            &format!(
                "nightshift {}: check when {}",
                scenario.name,
                what.join(", or ")
            ),
            512,
        );
        let prefix = format!("{RULE_NAME_PREFIX}${{StackKey}}-{}-", *rule_ordinal);
        // "${StackKey}" is 11 characters in the template and 8 in the name.
        let room = MAX_RULE_NAME_CHARS - (prefix.len() - 3);
        let name: String = scenario.name.chars().take(room).collect();
        resources.push(
            rule.clone(),
            map([
                ("Type", s("AWS::Events::Rule")),
                (
                    "Properties",
                    map([
                        (
                            "Name",
                            sub_with(format!("{prefix}{name}"), [("StackKey", stack_key())]),
                        ),
                        ("Description", s(description)),
                        ("EventPattern", Node::from_value(&completion_pattern(group))),
                        ("State", s("ENABLED")),
                        (
                            "Targets",
                            seq([map([
                                ("Id", s("nightshift")),
                                ("Arn", get_att("Function", "Arn")),
                                (
                                    "RetryPolicy",
                                    map([
                                        // A completion only asks for a check early; the next
                                        // scheduled check does the same work later.
                                        ("MaximumEventAgeInSeconds", Node::Int(3600)),
                                        ("MaximumRetryAttempts", Node::Int(10)),
                                    ]),
                                ),
                                (
                                    "DeadLetterConfig",
                                    map([("Arn", get_att("CompletionDeadLetterQueue", "Arn"))]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            ]),
        );
        rules.push(rule);
    }
    rules
}
