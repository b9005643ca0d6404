//! Completion events: the ECS task and Batch job state changes that may mean "the batch is done"
//! (docs/contract.md, "Events it accepts", 2), and how they are matched against a scenario's
//! `[[scenario.completion]]` entries. AWS owns these formats: only the few fields nightshift needs
//! are required, and the fields it merely records are never a reason to refuse a real completion.

use super::rejection::{describe, RejectCode, Rejection};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// `source` of ECS events.
pub const ECS_SOURCE: &str = "aws.ecs";
/// `detail-type` of the ECS events nightshift treats as completions.
pub const ECS_TASK_STATE_CHANGE: &str = "ECS Task State Change";
/// `source` of AWS Batch events.
pub const BATCH_SOURCE: &str = "aws.batch";
/// `detail-type` of the Batch events nightshift treats as completions.
pub const BATCH_JOB_STATE_CHANGE: &str = "Batch Job State Change";

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

pub(super) fn ecs_completion(detail: &Map<String, Value>) -> Result<Completion, Rejection> {
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

pub(super) fn batch_completion(detail: &Map<String, Value>) -> Result<Completion, Rejection> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::{
        completion, ok, BATCH_JOB_FAILED, BATCH_JOB_STATE_CHANGE_JSON, ECS_TASK_RUNNING,
        ECS_TASK_STATE_CHANGE_JSON, REQUEST_ID,
    };

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
}
