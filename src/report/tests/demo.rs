//! The demo night: runs of several scenarios, and every event of the night of
//! nightly-batch/2026-11-25, built from the gate itself so the fixture holds the evidence shape
//! checks record. Written to integration/fixtures/report/demo-night.json, which the integration
//! test loads into DynamoDB.

use super::{scenario, snapshot, tokyo, ts};
use crate::config::Scenario;
use crate::domain::{Action, Outcome, Step};
use crate::gate::{self, MetricWindow, MetricsFetch};
use crate::history::RunStatus;
use crate::report::json::to_json;
use crate::report::{EventView, RunView};
use crate::text::hh_mm;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The demo fixture: runs of several scenarios, and every event of the night of
/// nightly-batch/2026-11-25. The integration test loads the same file into DynamoDB and
/// expects the CLI to print exactly the snapshots these unit tests compare.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct Demo {
    pub now: Timestamp,
    pub timezone: String,
    /// Newest first, as `history` lists them.
    pub runs: Vec<RunView>,
    pub events: Vec<EventView>,
}

pub(super) const NIGHT: &str = "2026-11-25";
const SCALED_UP: &str = "2026-11-25T13:00:00Z";

/// JobsRunning, one datapoint a minute: busy (8 down to 1) until 17:40Z, then 0.
fn jobs_running(range: gate::QueryRange, now: Timestamp) -> Vec<(Timestamp, f64)> {
    let mut points = Vec::new();
    let mut t = range.from;
    let busy_until = ts("2026-11-25T17:40:00Z");
    // A datapoint is readable about a minute after its period starts.
    while t < range.to && t <= now - SignedDuration::from_mins(1) {
        if t >= ts(SCALED_UP) {
            // Eight jobs at first, fewer as the night goes on, none from 17:40.
            let left = busy_until.duration_since(t).as_mins();
            let value = if t < busy_until {
                (1 + left / 40 + i64::from(left % 7 == 0)) as f64
            } else {
                0.0
            };
            points.push((t, value));
        }
        t += SignedDuration::from_mins(1);
    }
    points
}

pub(super) fn decide(s: &Scenario, now: &str, fetch_error: Option<&str>) -> gate::Decision {
    let now = ts(now);
    let fetched = match fetch_error {
        Some(e) => MetricsFetch::Failed(e.to_string()),
        None => MetricsFetch::Windows(vec![MetricWindow {
            spec: s.scale_down.metrics[0].clone(),
            points: jobs_running(gate::query_range(&s.scale_down, now), now),
        }]),
    };
    gate::decide(s, &fetched, ts(SCALED_UP), now, false)
}

pub(super) fn action(service: &str, call: &str, resource: &str, detail: &str) -> Action {
    Action {
        service: service.into(),
        call: call.into(),
        resource: resource.into(),
        detail: detail.into(),
        result: "ok".into(),
    }
}

fn step_evidence(drift: &[&str], waiting: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "dry_run": false,
        "planned": [],
        "waiting": waiting,
        "drift": drift,
        "notes": [],
        "refused": [],
        "degraded": [],
    })
}

#[allow(clippy::too_many_arguments)]
fn event(
    at: &str,
    step: Step,
    kind: &str,
    key: &str,
    outcome: Outcome,
    reason: String,
    actions: Vec<Action>,
    evidence: Option<serde_json::Value>,
) -> EventView {
    let at = ts(at);
    EventView {
        key: key.into(),
        step: Some(step),
        scenario: Some("nightly-batch".into()),
        run: Some(NIGHT.into()),
        kind: kind.into(),
        outcome,
        reason,
        detail: String::new(),
        actions,
        received_at: at,
        finished_at: at + SignedDuration::from_millis(1850),
        evidence,
    }
}

/// A scheduled check: readiness and the gate's evidence, as the app records them.
fn check(s: &Scenario, at: &str, kind: &str, key: &str, fetch_error: Option<&str>) -> EventView {
    let d = decide(s, at, fetch_error);
    let mut evidence = step_evidence(&[], &[]);
    evidence["ready_at"] = serde_json::json!("2026-11-25T13:30:00Z");
    evidence["time_to_ready_s"] = serde_json::json!(1800);
    evidence["readiness"] = serde_json::json!({"ready": true, "waiting": [], "degraded": []});
    evidence["gate"] = d.evidence_json();
    let first_ready = at == "2026-11-25T13:30:00Z";
    let ready = if first_ready {
        "capacity ready since 2026-11-25T13:30:00Z (1800s after scale-up); "
    } else {
        ""
    };
    let checked = event(
        at,
        Step::Check,
        kind,
        key,
        Outcome::Deferred,
        format!("{ready}scale-down: {}", d.reason()),
        vec![],
        Some(evidence),
    );
    // The short reason the app writes (the gate's sentence above is the detail).
    let worst = d.evidence.metrics.first().and_then(|m| m.worst.as_ref());
    let mut short = match (&d.evidence.fetch_error, worst) {
        (Some(_), _) => "metrics unreadable: keeping capacity".to_string(),
        (None, Some(w)) => format!(
            "busy: JobsRunning max {} >= 1 at {}",
            w.value,
            hh_mm(w.at, Some(&tokyo()))
        ),
        (None, None) => "keeping capacity".to_string(),
    };
    if first_ready {
        short = format!("capacity ready at 22:30; {short}");
    }
    explained(checked, &short)
}

/// The event with `reason` as its short reason and what it said before as the full explanation.
fn explained(mut e: EventView, reason: &str) -> EventView {
    e.detail = std::mem::replace(&mut e.reason, reason.into());
    e
}

fn closed_run(scenario: &str, run: &str, opened: &str, closed: &str, summary: &str) -> RunView {
    let (opened, closed) = (ts(opened), ts(closed));
    RunView {
        scenario: scenario.into(),
        run: run.into(),
        status: RunStatus::Closed,
        opened_at: opened,
        closed_at: Some(closed),
        duration_s: Some(closed.duration_since(opened).as_secs()),
        opened_by: format!("{scenario}/scale-up/{}", opened),
        summary: summary.into(),
        baseline: None,
    }
}

/// Built from the gate itself, so the fixture holds the evidence shape checks record.
fn build_demo() -> Demo {
    let s = scenario();
    let readers = ["r1", "r2", "r3"].map(|r| format!("batch-db-nightly-batch-{r}"));
    let scale_up = explained(
        event(
        SCALED_UP,
        Step::ScaleUp,
        "step-command",
        "nightly-batch/scale-up/2026-11-25T13:00:00Z",
        Outcome::Acted,
        "4 call(s) made; waiting: batch-db: 0 of 3 new readers available; batch/worker: 2 of 10 tasks running".into(),
        std::iter::once(action("ecs", "UpdateService", "batch/worker", "desiredCount 2 -> 10"))
            .chain(readers.iter().map(|r| {
                action("docdb", "CreateDBInstance", r, "reader db.r6g.large in batch-db")
            }))
            .collect(),
        Some(step_evidence(
            &[],
            &["batch-db: 0 of 3 new readers available", "batch/worker: 2 of 10 tasks running"],
        )),
        ),
        "4 calls made; waiting: 3 readers, 8 tasks",
    );
    let mut events = vec![scale_up];
    for (at, error) in [
        ("2026-11-25T13:30:00Z", None),
        ("2026-11-25T14:30:00Z", None),
        ("2026-11-25T15:30:00Z", None),
        (
            "2026-11-25T16:30:00Z",
            Some("CloudWatch GetMetricData failed: timed out"),
        ),
        ("2026-11-25T17:30:00Z", None),
    ] {
        events.push(check(
            &s,
            at,
            "step-command",
            &format!("nightly-batch/check/{at}"),
            error,
        ));
    }
    events.push(check(
        &s,
        "2026-11-25T17:42:10Z",
        "ecs-task-state-change",
        "5c1e7a52-0d6e-4b8e-9b43-2f2a9c1d7e10",
        None,
    ));
    // 18:00: quiet for 15m, min_hold long passed: the check starts the scale-down.
    let quiet = decide(&s, "2026-11-25T18:00:00Z", None);
    assert_eq!(quiet.rule(), Some(gate::Rule::Quiet), "{}", quiet.reason());
    let drift = "ecs batch/worker: desired count is 12 but nightshift set 10; left alone";
    let mut evidence = step_evidence(&[drift], &["batch-db: 3 readers deleting"]);
    evidence["decision"] = serde_json::json!(quiet.reason());
    evidence["gate"] = quiet.evidence_json();
    events.push(explained(
        event(
        "2026-11-25T18:00:00Z",
        Step::Check,
        "step-command",
        "nightly-batch/check/2026-11-25T18:00:00Z",
        Outcome::Acted,
        format!(
            "scale-down ({}) in progress: 3 call(s) made; drift left alone: {drift}; waiting: batch-db: 3 readers deleting; run 2026-11-25 stays open and a later check or scale-down continues it",
            quiet.reason()
        ),
        readers
            .iter()
            .map(|r| action("docdb", "DeleteDBInstance", r, "reader added for the night"))
            .collect(),
        Some(evidence),
        ),
        "quiet 15m after min_hold: scaling down",
    ));
    let closing =
        "scale-down (continuing the scale-down): back at the baseline; run 2026-11-25 closed";
    let mut evidence = step_evidence(&[], &[]);
    evidence["decision"] = serde_json::json!("continuing the scale-down");
    // The run's summary is the latest short reason.
    let closed = "back at baseline; run closed";
    events.push(explained(
        event(
            "2026-11-25T18:15:00Z",
            Step::Check,
            "step-command",
            "nightly-batch/check/2026-11-25T18:15:00Z",
            Outcome::Skipped,
            closing.into(),
            vec![],
            Some(evidence),
        ),
        closed,
    ));

    let mut night = closed_run(
        "nightly-batch",
        NIGHT,
        SCALED_UP,
        "2026-11-25T18:15:00Z",
        closed,
    );
    night.baseline = Some(serde_json::json!({
        "ecs": [{"cluster": "batch", "service": "worker", "desired": 2}],
        "docdb": [{"cluster": "batch-db", "readers": 0, "instances": ["batch-db-writer"]}],
    }));
    let mut open = closed_run(
        "nightly-batch",
        "2026-11-26",
        "2026-11-26T13:00:00Z",
        "2026-11-26T13:00:00Z",
        "capacity ready at 22:24",
    );
    open.status = RunStatus::Open;
    open.closed_at = None;
    open.duration_s = None;
    let mut runs = vec![
        open,
        night,
        closed_run(
            "reports",
            "2026-11-25.2",
            "2026-11-25T23:00:00Z",
            "2026-11-25T23:40:00Z",
            "forced: scaled down; closed",
        ),
        closed_run(
            "reports",
            "2026-11-25",
            "2026-11-25T20:00:00Z",
            "2026-11-25T21:10:00Z",
            "quiet 15m: scaled down; closed",
        ),
        closed_run(
            "nightly-batch",
            "2026-11-24",
            "2026-11-24T13:00:00Z",
            "2026-11-24T22:30:00Z",
            "deadline 07:30 reached; closed",
        ),
        closed_run(
            "quarter-end-ledger-reconciliation",
            "2026-11-22",
            "2026-11-22T15:00:00Z",
            "2026-11-23T01:05:00Z",
            "\u{1b}[31mquota\u{1b}[0m\ndegraded",
        ),
        // Outside `--since 7d` of `now`: history must not list it.
        closed_run(
            "nightly-batch",
            "2026-11-10",
            "2026-11-10T13:00:00Z",
            "2026-11-10T19:00:00Z",
            "scale-down (quiet): back at the baseline; run 2026-11-10 closed",
        ),
    ];
    runs.sort_by(|a, b| {
        (b.opened_at, &b.scenario, &b.run).cmp(&(a.opened_at, &a.scenario, &a.run))
    });
    Demo {
        now: ts("2026-11-26T14:10:00Z"),
        timezone: "Asia/Tokyo".into(),
        runs,
        events,
    }
}

pub(super) fn demo() -> Demo {
    let demo = build_demo();
    let text = to_json(&demo);
    snapshot("demo-night.json", &text);
    demo
}
