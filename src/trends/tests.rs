//! The trend report without the emulator: what one night says from its record and events, the
//! totals, and the table's layout.

use super::*;
use crate::domain::{Action, Step};
use crate::evidence::Convergence;
use crate::plan::{Baseline, ClusterBaseline, InstanceBaseline, ServiceBaseline};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn run(state: Option<&RunState>, closed: Option<&str>) -> RunRecord {
    RunRecord {
        scenario: "nightly-batch".into(),
        run: "2026-11-25".into(),
        status: if closed.is_some() {
            RunStatus::Closed
        } else {
            RunStatus::Open
        },
        opened_at: ts("2026-11-25T14:00:00Z"),
        closed_at: closed.map(ts),
        opened_by: "k".into(),
        baseline: state.map(RunState::to_json),
        summary: String::new(),
    }
}

fn state(down: Option<&str>) -> RunState {
    let mut s = RunState::new(
        Baseline {
            taken_at: ts("2026-11-25T14:00:00Z"),
            services: vec![ServiceBaseline {
                cluster: "c".into(),
                service: "s".into(),
                desired: 2,
                scalable_target: None,
                night_desired: 6,
                night_target: None,
                task: None,
            }],
            clusters: vec![ClusterBaseline {
                cluster: "db".into(),
                writer: Some("w".into()),
                instances: vec![
                    InstanceBaseline {
                        id: "w".into(),
                        class: "db.r6g.large".into(),
                        writer: true,
                        promotion_tier: None,
                    },
                    InstanceBaseline {
                        id: "r".into(),
                        class: "db.r6g.large".into(),
                        writer: false,
                        promotion_tier: None,
                    },
                ],
                night_class: None,
                night_readers: 3,
                serverless: None,
                engine: None,
                replica_target: None,
                night_replica_target: None,
            }],
            environments: Vec::new(),
            groups: Vec::new(),
        },
        false,
    );
    s.ready_at = Some(ts("2026-11-25T14:12:00Z"));
    s.scale_down_started_at = down.map(ts);
    s
}

fn gate_at(rule: gate::Rule, at: &str) -> gate::Evidence {
    gate::Evidence {
        rule: Some(rule),
        summary: String::new(),
        now: ts(at),
        scaled_up_at: ts("2026-11-25T14:00:00Z"),
        deadline: ts("2026-11-25T22:30:00Z"),
        deadline_local: "07:30".into(),
        min_hold_until: ts("2026-11-25T14:30:00Z"),
        quiet_for: "15m".into(),
        missing_data: "busy".into(),
        ingestion_lag: "2m".into(),
        force: false,
        metrics: Vec::new(),
        fetch_error: None,
        fallback: None,
    }
}

fn event(outcome: Outcome, evidence: StepEvidence, actions: Vec<Action>) -> EventRecord {
    EventRecord {
        key: "k".into(),
        step: Some(Step::Check),
        scenario: Some("nightly-batch".into()),
        run: Some("2026-11-25".into()),
        kind: "step-command".into(),
        outcome,
        reason: String::new(),
        detail: String::new(),
        actions,
        received_at: ts("2026-11-25T15:00:00Z"),
        finished_at: ts("2026-11-25T15:00:00Z"),
        evidence: evidence.to_json(),
        payload_hash: None,
    }
}

#[test]
fn a_quiet_night_reads_its_milestones_failures_drift_and_capacity_hours() {
    let st = state(Some("2026-11-25T18:00:00Z"));
    let failed = Action {
        service: "ecs".into(),
        call: "UpdateService".into(),
        resource: "c/s".into(),
        detail: String::new(),
        result: ActionResult::Failed {
            code: None,
            message: "throttled".into(),
        },
    };
    let drift = |d: &str| StepEvidence {
        converge: Convergence {
            drift: vec![d.into()],
            ..Convergence::default()
        },
        ..StepEvidence::default()
    };
    let events = [
        event(Outcome::Deferred, drift("c/s desired 7"), vec![failed]),
        event(Outcome::Rejected, drift("c/s desired 7"), vec![]),
        event(
            Outcome::Acted,
            StepEvidence {
                gate: Some(gate_at(gate::Rule::Quiet, "2026-11-25T18:00:00Z")),
                ..drift("db readers 4")
            },
            vec![],
        ),
    ];
    let n = night(
        &run(Some(&st), Some("2026-11-25T18:20:00Z")),
        &events,
        ts("2026-11-26T00:00:00Z"),
    );
    assert_eq!(n.ready_after_s, Some(720));
    assert_eq!(n.quiet_at, Some(ts("2026-11-25T18:00:00Z")));
    assert_eq!(n.closed_by, Some(ClosedBy::Quiet));
    assert_eq!(n.duration_s, Some(4 * 3600 + 20 * 60));
    assert_eq!((n.failures, n.drift), (2, 2), "the same drift twice is one");
    // 4 tasks and 2 readers above the baseline for the 4h before the scale-down started.
    assert_eq!((n.extra_tasks, n.extra_readers), (4, 2));
    assert_eq!((n.task_hours, n.reader_hours), (16.0, 8.0));
    assert!(!n.deadline_hit());
}

#[test]
fn an_open_night_counts_until_now_and_has_no_close_rule() {
    let st = state(None);
    let n = night(&run(Some(&st), None), &[], ts("2026-11-25T16:30:00Z"));
    assert_eq!(n.closed_by, None);
    assert_eq!(n.duration_s, None);
    assert_eq!(n.task_hours, 10.0);
    // A run without a decodable state counts no capacity.
    let bare = night(&run(None, None), &[], ts("2026-11-25T16:30:00Z"));
    assert_eq!(
        (bare.task_hours, bare.reader_hours, bare.ready_after_s),
        (0.0, 0.0, None)
    );
}

#[test]
fn the_totals_and_the_table_fit_the_terminal() {
    let st = state(Some("2026-11-25T22:31:00Z"));
    let deadline = event(
        Outcome::Acted,
        StepEvidence {
            gate: Some(gate_at(gate::Rule::Deadline, "2026-11-25T22:31:00Z")),
            ..StepEvidence::default()
        },
        vec![],
    );
    let nights = vec![
        night(
            &run(Some(&st), Some("2026-11-25T22:45:00Z")),
            &[deadline],
            ts("2026-11-26T00:00:00Z"),
        ),
        night(
            &run(Some(&state(None)), None),
            &[],
            ts("2026-11-26T00:00:00Z"),
        ),
    ];
    let tz = TimeZone::get("Asia/Tokyo").unwrap();
    let r = report(
        Some("nightly-batch"),
        ts("2026-11-20T00:00:00Z"),
        ts("2026-11-26T00:00:00Z"),
        Some((&tz, "Asia/Tokyo")),
        nights,
        Cost {
            queries: 3,
            items_read: 4,
        },
    );
    assert_eq!(r.totals.nights, 2);
    assert_eq!(r.totals.deadline_hits, 1);
    let text = trends_table(&r, Some(&tz));
    assert!(
        text.lines()
            .all(|l| l.chars().count() <= crate::report::WIDTH),
        "{text}"
    );
    assert!(text.contains("07:45  8h45m    deadline"), "{text}");
    assert!(
        text.contains("2 nights (1 closed: 0 quiet, 1 deadline hits, 0 forced)"),
        "{text}"
    );
    assert!(text.contains("read: 3 queries, 4 items"), "{text}");
    let page = trends_html(&r, Some(&tz));
    assert_eq!(page.matches("<g class=\"night\"").count(), 2);
    assert_eq!(page.matches("class=\"marker deadline-hit\"").count(), 1);
    assert!(
        !page.contains("<script") && !page.contains("<link"),
        "self-contained"
    );
}

#[test]
fn batch_vcpus_and_auto_scaling_instances_held_above_the_baseline_count_as_hours() {
    use crate::plan::{EnvironmentBaseline, GroupBaseline, GroupSize};
    let mut st = state(None);
    st.baseline.environments.push(EnvironmentBaseline {
        compute_environment: "nightly-ce".into(),
        min: 0,
        desired: Some(0),
        night_min: 64,
    });
    st.baseline.groups.push(GroupBaseline {
        name: "batch-workers".into(),
        size: GroupSize {
            min: 1,
            max: 4,
            desired: 1,
        },
        night: GroupSize {
            min: 4,
            max: 4,
            desired: 4,
        },
    });
    let n = night(&run(Some(&st), None), &[], ts("2026-11-25T16:30:00Z"));
    assert_eq!((n.extra_vcpus, n.extra_instances), (64, 3));
    assert_eq!((n.vcpu_hours, n.instance_hours), (160.0, 7.5));
    let r = report(
        None,
        ts("2026-11-01T00:00:00Z"),
        ts("2026-11-26T00:00:00Z"),
        None,
        vec![n],
        Cost::default(),
    );
    assert_eq!((r.totals.vcpu_hours, r.totals.instance_hours), (160.0, 7.5));
    let table = table::trends_table(&r, None);
    assert!(
        table.contains("160.0 Batch vCPU-hours (minvCpus), 7.5 Auto Scaling instance-hours"),
        "{table}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["totals"]["vcpu_hours"], 160.0);
    // A night without workers keeps the JSON it had.
    let plain = night(
        &run(Some(&state(None)), None),
        &[],
        ts("2026-11-25T16:30:00Z"),
    );
    assert!(serde_json::to_value(&plain)
        .unwrap()
        .get("vcpu_hours")
        .is_none());
}
