//! A scenario's resources: one schedule per step of its night, one rule per completion matcher
//! (with its permission, dead-letter queue and alarm).

use super::doc::{get_att, map, reference, s, seq, Node};
use super::shapes::{depth_alarm, policy_document, queue};
use crate::config::{CompletionMatcher, Scenario};
use crate::domain::Step;
use crate::schedule::{self, ScheduledStep, StepRole};
use serde_json::{json, Value};

/// The step command a schedule sends: `<aws.scheduler.scheduled-time>` becomes the scheduled
/// time, so the dedup key `scenario/step/scheduled_time` is the same for every attempt of one
/// scheduled run and different for the next.
pub fn schedule_input(scenario: &str, step: Step) -> String {
    json!({
        "scenario": scenario,
        "step": step.as_str(),
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    })
    .to_string()
}

/// The EventBridge pattern of a completion matcher: exactly what `event` accepts for it.
pub fn completion_pattern(matcher: &CompletionMatcher) -> Value {
    match matcher {
        CompletionMatcher::EcsTaskStopped { group } => json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Task State Change"],
            "detail": { "lastStatus": ["STOPPED"], "group": [group] }
        }),
        CompletionMatcher::BatchJobDone { job_queue } => {
            // A configured ARN matches that queue only; a name matches the name and any queue ARN
            // ending in it, as `event::batch_queue_matches` does.
            let queues = if job_queue.starts_with("arn:") {
                json!([job_queue])
            } else {
                json!([job_queue, { "suffix": format!(":job-queue/{job_queue}") }])
            };
            json!({
                "source": ["aws.batch"],
                "detail-type": ["Batch Job State Change"],
                "detail": { "status": ["SUCCEEDED", "FAILED"], "jobQueue": queues }
            })
        }
    }
}

/// Retry policy of a schedule's target: how long an undelivered step is still worth running.
fn schedule_retry(step: &ScheduledStep, schedule: &schedule::Schedule) -> (i64, i64) {
    match step.role {
        // A late scale-up or scale-down is still wanted within the hour.
        StepRole::ScaleUp | StepRole::ScaleDown | StepRole::DeadlineCheck => (3600, 10),
        // A check older than the interval is superseded by the next one.
        _ => ((schedule.check_every.as_secs() as i64).clamp(60, 3600), 3),
    }
}

pub(super) fn scenario_resources(
    resources: &mut Node,
    outputs: &mut Node,
    scenario: &Scenario,
    id: &str,
) {
    if let Some(schedule) = &scenario.schedule {
        // Validated in config: the night is not empty and not too dense.
        let steps = schedule::night(schedule, &scenario.scale_down).unwrap_or_default();
        for step in &steps {
            let hhmm = step.at.strftime("%H%M").to_string();
            let role = match step.role {
                StepRole::ScaleUp => "ScaleUp",
                StepRole::Check => "Check",
                StepRole::DeadlineCheck => "DeadlineCheck",
                StepRole::OverdueCheck => "OverdueCheck",
                StepRole::ScaleDown => "ScaleDown",
            };
            let (age, attempts) = schedule_retry(step, schedule);
            let logical = format!("{id}{role}{hhmm}");
            resources.push(
                logical,
                map([
                    ("Type", s("AWS::Scheduler::Schedule")),
                    (
                        "Properties",
                        map([
                            ("GroupName", reference("ScheduleGroup")),
                            (
                                "Description",
                                s(format!(
                                    "nightshift {}: {} at {} {}",
                                    scenario.name,
                                    step.role.as_str(),
                                    step.at.strftime("%H:%M"),
                                    scenario.timezone_name
                                )),
                            ),
                            ("ScheduleExpression", s(schedule::cron(schedule, step))),
                            ("ScheduleExpressionTimezone", s(&scenario.timezone_name)),
                            ("FlexibleTimeWindow", map([("Mode", s("OFF"))])),
                            ("State", s("ENABLED")),
                            (
                                "Target",
                                map([
                                    ("Arn", get_att("Function", "Arn")),
                                    ("RoleArn", get_att("SchedulerRole", "Arn")),
                                    ("Input", s(schedule_input(&scenario.name, step.step))),
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
                ]),
            );
        }
    }

    for (j, matcher) in scenario.completion.iter().enumerate() {
        let rule = format!("{id}Completion{}", j + 1);
        let dlq = format!("{rule}DeadLetterQueue");
        let what = match matcher {
            CompletionMatcher::EcsTaskStopped { group } => format!("ECS task {group} STOPPED"),
            CompletionMatcher::BatchJobDone { job_queue } => {
                format!("Batch job on {job_queue} SUCCEEDED or FAILED")
            }
        };
        resources.push_commented(
            rule.clone(),
            map([
                ("Type", s("AWS::Events::Rule")),
                (
                    "Properties",
                    map([
                        (
                            "Description",
                            s(format!("nightshift {}: check when {what}", scenario.name)),
                        ),
                        ("EventPattern", Node::from_value(&completion_pattern(matcher))),
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
                                ("DeadLetterConfig", map([("Arn", get_att(&dlq, "Arn"))])),
                            ])]),
                        ),
                    ]),
                ),
            ]),
            Some(format!(
                "[[scenario.completion]] {} of \"{}\": the pattern matches exactly what the event parser accepts.",
                j + 1,
                scenario.name
            )),
        );
        resources.push(
            format!("{rule}Permission"),
            map([
                ("Type", s("AWS::Lambda::Permission")),
                (
                    "Properties",
                    map([
                        ("Action", s("lambda:InvokeFunction")),
                        ("FunctionName", get_att("Function", "Arn")),
                        ("Principal", s("events.amazonaws.com")),
                        ("SourceArn", get_att(&rule, "Arn")),
                        ("SourceAccount", reference("AWS::AccountId")),
                    ]),
                ),
            ]),
        );
        resources.push(
            dlq.clone(),
            queue("Events the rule could not deliver to the function."),
        );
        resources.push(
            format!("{dlq}Policy"),
            map([
                ("Type", s("AWS::SQS::QueuePolicy")),
                (
                    "Properties",
                    map([
                        ("Queues", seq([reference(&dlq)])),
                        (
                            "PolicyDocument",
                            policy_document([map([
                                ("Effect", s("Allow")),
                                ("Principal", map([("Service", s("events.amazonaws.com"))])),
                                ("Action", s("sqs:SendMessage")),
                                ("Resource", get_att(&dlq, "Arn")),
                                (
                                    "Condition",
                                    map([(
                                        "ArnEquals",
                                        map([("aws:SourceArn", get_att(&rule, "Arn"))]),
                                    )]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            ]),
        );
        resources.push(
            format!("{dlq}DepthAlarm"),
            depth_alarm(
                &dlq,
                &format!(
                    "nightshift {}: a completion event was not delivered",
                    scenario.name
                ),
            ),
        );
        outputs.push(
            format!("{dlq}Url"),
            map([
                (
                    "Description",
                    s(format!(
                        "Undelivered completion events of {}",
                        scenario.name
                    )),
                ),
                ("Value", reference(&dlq)),
            ]),
        );
    }
}
