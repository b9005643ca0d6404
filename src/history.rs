//! Run history: what happened each night, and why.
//!
//! A *run* is one scenario night: opened by a scale-up, closed when its scale-down completes.
//! Every handled event is recorded as an [`EventRecord`], attached to its run when it has one.
//!
//! The key design (one table, `pk`/`sk` strings, one GSI) makes every query of docs/contract.md a
//! GetItem or a Query whose cost grows with its result, never a Scan; ARCHITECTURE.md has the
//! table. The key builders live in [`keys`] so the DynamoDB adapter and the docs agree.

use crate::domain::{Action, Outcome, Step};
use crate::overrides::Pause;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Key builders: the single source of truth of the table's key design.
pub mod keys {
    use crate::domain::Step;
    use jiff::Timestamp;

    /// Dedup record: GetItem by key+step.
    pub fn dedup(key: &str, step: Step) -> (String, String) {
        (format!("DEDUP#{key}"), format!("STEP#{step}"))
    }

    /// A scenario's state item: the open run pointer (read with a consistent GetItem, so "the
    /// latest open run" never depends on an eventually consistent index) and ops overrides.
    pub fn scenario_state(scenario: &str) -> (String, String) {
        (format!("SCENARIO#{scenario}"), "STATE".to_string())
    }

    /// The partition of a scenario's runs: Query it backwards for the last N runs.
    pub fn scenario_runs_pk(scenario: &str) -> String {
        format!("SCENARIO#{scenario}")
    }

    pub const RUN_SK_PREFIX: &str = "RUN#";

    pub fn run_sk(run: &str) -> String {
        format!("{RUN_SK_PREFIX}{run}")
    }

    /// The partition holding every event of one run, in time order.
    pub fn run_events_pk(scenario: &str, run: &str) -> String {
        format!("RUN#{scenario}#{run}")
    }

    /// Events that belong to no run (rejections, events for unknown scenarios, steps before any
    /// run): one partition per UTC day.
    pub fn unattached_events_pk(at: Timestamp) -> String {
        format!("LOG#{}", at.strftime("%Y-%m-%d"))
    }

    /// An event's sort key: time first (so a Query returns the timeline in order), then the step
    /// and a short hash of the dedup key so two events in the same millisecond do not collide.
    pub fn event_sk(at: Timestamp, step: Option<Step>, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        format!(
            "EV#{}#{}#{}",
            at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            step.map_or("-", |s| s.as_str()),
            hex::encode(&digest[..4])
        )
    }

    /// GSI `by-time`: every run of every scenario, bucketed by the UTC month it opened in so a
    /// time-range query touches one partition per month of the range.
    pub const TIME_INDEX: &str = "by-time";

    pub fn time_bucket(at: Timestamp) -> String {
        format!("RUNS#{}", at.strftime("%Y-%m"))
    }

    pub fn time_sort(at: Timestamp, scenario: &str, run: &str) -> String {
        format!("{}#{scenario}#{run}", rfc3339(at))
    }

    /// RFC 3339, UTC, millisecond precision, fixed width: sorts lexicographically by time.
    pub fn rfc3339(at: Timestamp) -> String {
        at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }

    /// The months `[from, to]` covers, newest first.
    pub fn months_between(from: Timestamp, to: Timestamp) -> Vec<String> {
        let utc = jiff::tz::TimeZone::UTC;
        let first = from.to_zoned_datetime(utc.clone()).date().first_of_month();
        let mut month = to.to_zoned_datetime(utc).date().first_of_month();
        let mut out = Vec::new();
        while month >= first {
            out.push(format!("RUNS#{}", month.strftime("%Y-%m")));
            match month.checked_sub(jiff::Span::new().months(1)) {
                Ok(prev) => month = prev,
                Err(_) => break,
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Open,
    Closed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Open => "open",
            RunStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "open" => Some(RunStatus::Open),
            "closed" => Some(RunStatus::Closed),
            _ => None,
        }
    }
}

/// One scenario night.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub scenario: String,
    /// The night's local date in the scenario's zone (`2026-11-25`), with a `.N` suffix for a
    /// second run on the same night: sorts by time and reads well in a terminal.
    pub run: String,
    pub status: RunStatus,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// The dedup key of the scale-up that opened it.
    pub opened_by: String,
    /// The baseline recorded at scale-up (the scale-up fills it), as JSON.
    pub baseline: Option<serde_json::Value>,
    /// One line for the history table: the latest outcome and reason.
    pub summary: String,
}

/// One handled event, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub key: String,
    pub step: Option<Step>,
    pub scenario: Option<String>,
    pub run: Option<String>,
    /// What arrived: `step-command`, `ecs-task-state-change`, `batch-job-state-change`, or
    /// `unparsed` for a rejected payload.
    pub kind: String,
    pub outcome: Outcome,
    /// The short reason (one line, about 80 characters at most), as the response said it.
    pub reason: String,
    /// The full explanation behind it, when it says more (`show` prints it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub actions: Vec<Action>,
    pub received_at: Timestamp,
    pub finished_at: Timestamp,
    /// Decision evidence (metric values, thresholds, the rule that fired): a
    /// [`crate::evidence::StepEvidence`] as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<serde_json::Value>,
    pub payload_hash: Option<String>,
}

impl EventRecord {
    /// The full explanation: `detail` when there is one, else `reason`.
    pub fn explanation(&self) -> &str {
        if self.detail.is_empty() {
            &self.reason
        } else {
            &self.detail
        }
    }
}

/// A page of results and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque cursor for the next page; None when this was the last page.
    pub next: Option<String>,
    /// Items DynamoDB read to serve this page (for cost checks and benchmarks).
    pub items_read: u64,
}

/// What a [`crate::ports::HistoryStore::open_run`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenRun {
    Opened,
    /// The scenario already has an open run: the state machine decides what to do.
    AlreadyOpen(String),
    /// A (closed) run with this id exists: pick the next id for the night (`2026-11-25.2`).
    RunIdTaken,
}

/// What [`crate::aws::dynamodb::DynamoStore::acquire_scaling_lease`] found.
///
/// The scaling lease serializes the scaling steps of one scenario: two deliveries with different
/// dedup keys (a manual invoke next to a schedule, a check fired by a completion event during a
/// scale-up) must not plan from two snapshots at once, or one could resize an instance the other
/// has just made the writer. It lives on the scenario's state item and ends by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScalingLease {
    /// Taken; the scenario's state item as the lease's UpdateItem left it (`ReturnValues =
    /// ALL_NEW`: read with the write, no extra call and no extra capacity).
    Acquired(ScenarioState),
    /// Another delivery is scaling this scenario until `until`.
    Held { owner: String, until: Timestamp },
}

/// What a scenario's `STATE` item says, besides the scaling lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioState {
    /// The open run's id (`open_run`).
    pub open_run: Option<String>,
    /// The stored pause (`paused_until`, `paused_by`, `paused_at`, `pause_reason`), whether or
    /// not it is still in force: a pause expires by itself, nothing removes it then.
    pub pause: Option<Pause>,
    /// The stored hold (`held_until`, `held_run`, `held_by`, `held_at`, `hold_reason`), in
    /// force or not: like the pause, it expires by itself.
    /// Boxed: it is rarely there, and the state item travels by value with the lease.
    pub hold: Option<Box<crate::overrides::Hold>>,
}

#[cfg(test)]
mod tests {
    use super::keys::*;
    use super::*;

    #[test]
    fn keys_sort_by_time() {
        let a: Timestamp = "2026-11-25T13:00:00Z".parse().unwrap();
        let b: Timestamp = "2026-11-25T13:00:00.5Z".parse().unwrap();
        assert!(event_sk(a, Some(Step::Check), "k") < event_sk(b, Some(Step::Check), "k"));
        assert_eq!(
            event_sk(a, Some(Step::ScaleUp), "k"),
            "EV#2026-11-25T13:00:00.000Z#scale-up#8254c329"
        );
        assert!(time_sort(a, "s", "r") < time_sort(b, "s", "r"));
        assert_eq!(
            dedup("abc", Step::ScaleDown),
            ("DEDUP#abc".into(), "STEP#scale-down".into())
        );
    }

    #[test]
    fn months_between_lists_each_bucket_newest_first() {
        let from: Timestamp = "2026-10-30T00:00:00Z".parse().unwrap();
        let to: Timestamp = "2027-01-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            months_between(from, to),
            [
                "RUNS#2027-01",
                "RUNS#2026-12",
                "RUNS#2026-11",
                "RUNS#2026-10"
            ]
        );
        assert_eq!(months_between(to, from), Vec::<String>::new());
    }
}
