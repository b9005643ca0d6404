//! The account of hand-made nights: each figure checked against its hand computation.

use super::*;
use crate::config::{Dcu, Prices, TaskPrices};
use crate::domain::Step;
use crate::evidence::Convergence;
use crate::gate;
use crate::gate::{MetricState, MetricVerdict, PeriodState, PeriodValue};
use crate::plan::serverless::ServerlessBaseline;
use crate::plan::{
    ClusterBaseline, InstanceBaseline, ServerlessScaling, ServiceBaseline, TaskSize,
};
use crate::trends::money::money;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 23:00 Tokyo.
const OPEN: &str = "2026-11-02T14:00:00Z";

fn instance(id: &str, class: &str, writer: bool) -> InstanceBaseline {
    InstanceBaseline {
        id: id.into(),
        class: class.into(),
        writer,
        promotion_tier: None,
    }
}

/// batch/worker 2 → 10 (Fargate 1 vCPU, 2 GB); batch-db: writer w and reader r (large), 3
/// readers for the night.
fn state() -> RunState {
    RunState::new(
        Baseline {
            taken_at: ts(OPEN),
            services: vec![ServiceBaseline {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 2,
                scalable_target: None,
                night_desired: 10,
                night_target: None,
                task: Some(TaskSize {
                    task_definition: "arn:aws:ecs:::task-definition/worker:3".into(),
                    launch: "FARGATE".into(),
                    cpu_units: Some(1024),
                    memory_mib: Some(2048),
                    unread: None,
                }),
            }],
            clusters: vec![ClusterBaseline {
                cluster: "batch-db".into(),
                writer: Some("w".into()),
                instances: vec![
                    instance("w", "db.r6g.large", true),
                    instance("r", "db.r6g.large", false),
                ],
                night_class: None,
                night_readers: 4,
                serverless: None,
                engine: None,
                replica_target: None,
                night_replica_target: None,
            }],
            environments: Vec::new(),
            groups: Vec::new(),
        },
        false,
    )
}

fn step(at: &str, calls: Vec<Call>) -> EventRecord {
    step_with(at, calls, ActionResult::Done, None)
}

fn step_with(
    at: &str,
    calls: Vec<Call>,
    result: ActionResult,
    gate: Option<gate::Evidence>,
) -> EventRecord {
    let evidence = StepEvidence {
        converge: Convergence {
            planned: calls.clone(),
            ..Convergence::default()
        },
        gate,
        ..StepEvidence::default()
    };
    EventRecord {
        key: at.into(),
        step: Some(Step::Check),
        scenario: Some("nightly-batch".into()),
        run: Some("2026-11-02".into()),
        kind: "step-command".into(),
        outcome: crate::domain::Outcome::Acted,
        reason: String::new(),
        detail: String::new(),
        actions: calls.iter().map(|c| c.action(result.clone())).collect(),
        received_at: ts(at),
        finished_at: ts(at),
        evidence: evidence.to_json(),
        payload_hash: None,
    }
}

fn create(instance: &str, class: &str) -> Call {
    Call::CreateDbInstance {
        cluster: "batch-db".into(),
        engine: "docdb".into(),
        instance: instance.into(),
        class: class.into(),
        promotion_tier: 15,
        tags: BTreeMap::new(),
        zone: None,
    }
}

fn delete(instance: &str) -> Call {
    Call::DeleteDbInstance {
        cluster: "batch-db".into(),
        instance: instance.into(),
    }
}

fn desired(to: i32, from: i32) -> Call {
    Call::UpdateService {
        cluster: "batch".into(),
        service: "worker".into(),
        desired: to,
        from,
    }
}

fn span(down: &str, end: &str, deadline: Option<&str>) -> Span {
    Span {
        opened_at: ts(OPEN),
        scale_down_at: Some(ts(down)),
        end: ts(end),
        quiet_deadline: deadline.map(ts),
    }
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn readers_count_from_their_create_to_their_delete_and_tasks_with_their_fargate_size() {
    // | what                  | from  | to    | hours | count | held        |
    // | reader r1, r2         | 23:00 | 02:10 | 3.1667| 2     | 6.3333      |
    // | reader r3 (late)      | 23:30 | 02:10 | 2.6667| 1     | 2.6667      |
    // | tasks 2 → 10          | 23:00 | 02:00 | 3     | 8     | 24 (24 vCPU-h, 48 GB-h) |
    // peak: 3 readers, 8 tasks → all day 72 reader-h, 192 task-h.
    // quiet at 02:00, deadline 07:30: 3 readers and 8 tasks for 5.5 h more = 16.5, 44.
    let events = [
        step(
            OPEN,
            vec![
                desired(10, 2),
                create("r1", "db.r6g.large"),
                create("r2", "db.r6g.large"),
            ],
        ),
        step("2026-11-02T14:30:00Z", vec![create("r3", "db.r6g.large")]),
        step("2026-11-02T17:00:00Z", vec![desired(2, 10)]),
        step(
            "2026-11-02T17:10:00Z",
            vec![delete("r1"), delete("r2"), delete("r3")],
        ),
    ];
    let a = account(
        Some(&state()),
        &events,
        span(
            "2026-11-02T17:00:00Z",
            "2026-11-02T17:10:00Z",
            Some("2026-11-02T22:30:00Z"),
        ),
    );
    assert_eq!(a.basis, Basis::Calls);
    assert!(close_to(a.held.reader_hours["db.r6g.large"], 9.0), "{a:?}");
    assert!(close_to(a.held.task_hours, 24.0));
    assert!(close_to(a.held.vcpu_hours, 24.0));
    assert!(close_to(a.held.gb_hours, 48.0));
    assert_eq!(a.held.unsized_task_hours, 0.0);
    assert!(close_to(a.always_on.reader_hours["db.r6g.large"], 72.0));
    assert!(close_to(a.always_on.task_hours, 192.0));
    assert!(close_to(
        a.saved_vs_always_on.reader_hours["db.r6g.large"],
        63.0
    ));
    let deadline = a.saved_vs_deadline.clone().expect("a quiet close");
    // The readers were deleted at 02:10, after the scale-down began at 02:00: alive then.
    assert!(
        close_to(deadline.reader_hours["db.r6g.large"], 16.5),
        "{deadline:?}"
    );
    assert!(close_to(deadline.task_hours, 44.0), "{deadline:?}");
    assert!(a.notes.is_empty(), "{:?}", a.notes);

    // At prices: 9 × 0.277 + 24 × 0.04 + 48 × 0.004 = 2.493 + 0.96 + 0.192 = 3.645.
    let prices = Prices {
        currency: "USD".into(),
        instance: BTreeMap::from([("db.r6g.large".to_string(), 0.277)]),
        dcu: None,
        task: Some(TaskPrices {
            vcpu: 0.04,
            gb: 0.004,
        }),
        line: 1,
    };
    let m = money(&a, &prices);
    assert!(close_to(m.cost, 3.645), "{m:?}");
    // All day: 72 × 0.277 + 192 × 0.04 + 384 × 0.004 = 19.944 + 7.68 + 1.536 = 29.16.
    assert!(close_to(m.always_on, 29.16), "{m:?}");
    assert!(close_to(m.saved_vs_always_on, 29.16 - 3.645));
    // 16.5 × 0.277 + 44 × 0.04 + 88 × 0.004 = 4.5705 + 1.76 + 0.352 = 6.6825.
    assert!(close_to(m.saved_vs_deadline.unwrap(), 6.6825), "{m:?}");
    assert!(m.unpriced.is_empty(), "{m:?}");
}

#[test]
fn a_resize_counts_the_class_difference_for_the_resized_time() {
    // r resized 23:00 → 03:00 (4 h), w resized 23:20 → 03:10 (3h50m): 7.8333 instance-hours
    // at db.r6g.2xlarge instead of db.r6g.large; at 1.108 - 0.277 = 0.831 an hour: 6.5097.
    let up = |i: &str| Call::ModifyDbInstanceClass {
        cluster: "batch-db".into(),
        instance: i.into(),
        class: "db.r6g.2xlarge".into(),
        from: "db.r6g.large".into(),
    };
    let down = |i: &str| Call::ModifyDbInstanceClass {
        cluster: "batch-db".into(),
        instance: i.into(),
        class: "db.r6g.large".into(),
        from: "db.r6g.2xlarge".into(),
    };
    let failover = Call::FailoverDbCluster {
        cluster: "batch-db".into(),
        target: "r".into(),
        from: "w".into(),
    };
    let events = [
        step(OPEN, vec![up("r")]),
        step("2026-11-02T14:10:00Z", vec![failover]),
        step("2026-11-02T14:20:00Z", vec![up("w")]),
        step("2026-11-02T18:00:00Z", vec![down("r")]),
        step("2026-11-02T18:10:00Z", vec![down("w")]),
    ];
    let a = account(
        Some(&state()),
        &events,
        span("2026-11-02T18:00:00Z", "2026-11-02T18:10:00Z", None),
    );
    assert_eq!(a.held.resized_hours.len(), 1);
    let r = &a.held.resized_hours[0];
    assert_eq!(
        (r.from.as_str(), r.to.as_str()),
        ("db.r6g.large", "db.r6g.2xlarge")
    );
    assert!(close_to(r.hours, 4.0 + 23.0 / 6.0), "{r:?}");
    assert!(a.held.reader_hours.is_empty());
    assert_eq!(a.saved_vs_deadline, None, "not a quiet close");
    let prices = Prices {
        currency: "USD".into(),
        instance: BTreeMap::from([
            ("db.r6g.large".to_string(), 0.277),
            ("db.r6g.2xlarge".to_string(), 1.108),
        ]),
        dcu: None,
        task: None,
        line: 1,
    };
    let m = money(&a, &prices);
    assert!(close_to(m.cost, (4.0 + 23.0 / 6.0) * 0.831), "{m:?}");
    // Two instances resized at once, all day: 48 × 0.831.
    assert!(close_to(m.always_on, 48.0 * 0.831), "{m:?}");
    let without = Prices {
        instance: BTreeMap::from([("db.r6g.large".to_string(), 0.277)]),
        ..prices
    };
    let m = money(&a, &without);
    assert_eq!(m.cost, 0.0);
    assert_eq!(
        m.unpriced,
        ["db.r6g.large → db.r6g.2xlarge resized instance-hours (no [prices] instance price for db.r6g.2xlarge)"]
    );
}

#[test]
fn serverless_counts_the_raised_min_per_instance_and_an_added_serverless_readers_floor() {
    // MinCapacity 2 → 16 from 23:00 to 01:00 on the one serverless instance: 14 × 2 h = 28;
    // the added db.serverless reader (23:00 → 01:10) holds 16 DCUs: 16 × 13/6 h = 34.667.
    let mut st = state();
    st.baseline.services.clear();
    let c = &mut st.baseline.clusters[0];
    c.instances = vec![instance("w", SERVERLESS_CLASS, true)];
    c.night_readers = 1;
    let scaling = ServerlessScaling {
        min: Dcu::from_f64(2.0).unwrap(),
        max: Dcu::from_f64(64.0).unwrap(),
    };
    c.serverless = Some(ServerlessBaseline {
        before: scaling,
        night_min: Dcu::from_f64(16.0).unwrap(),
    });
    let raise = |min: f64, from: f64| Call::ModifyDbClusterCapacity {
        cluster: "batch-db".into(),
        min: Dcu::from_f64(min).unwrap(),
        from: Dcu::from_f64(from).unwrap(),
        max: scaling.max,
    };
    let events = [
        step(OPEN, vec![raise(16.0, 2.0), create("s1", SERVERLESS_CLASS)]),
        step("2026-11-02T16:00:00Z", vec![raise(2.0, 16.0)]),
        step("2026-11-02T16:10:00Z", vec![delete("s1")]),
    ];
    let a = account(
        Some(&st),
        &events,
        span("2026-11-02T16:00:00Z", "2026-11-02T16:10:00Z", None),
    );
    assert!(
        close_to(a.held.dcu_hours, 28.0 + 16.0 * 13.0 / 6.0),
        "{a:?}"
    );
    assert!(close_to(a.held.reader_hours[SERVERLESS_CLASS], 13.0 / 6.0));
    // Priced by its DCUs only: no instance price is needed for db.serverless.
    let prices = Prices {
        currency: "USD".into(),
        instance: BTreeMap::new(),
        dcu: Some(0.1),
        task: None,
        line: 1,
    };
    let m = money(&a, &prices);
    assert!(close_to(m.cost, (28.0 + 16.0 * 13.0 / 6.0) * 0.1), "{m:?}");
    assert!(m.unpriced.is_empty(), "{m:?}");
}

#[test]
fn drift_dry_runs_failures_and_older_records_count_what_they_can() {
    // The desired count restored by nobody (drift): counted to the scale-down's start, 02:00.
    let events = [step(OPEN, vec![desired(10, 2)])];
    let a = account(
        Some(&state()),
        &events,
        span("2026-11-02T17:00:00Z", "2026-11-02T17:30:00Z", None),
    );
    assert!(close_to(a.held.task_hours, 24.0), "{a:?}");

    // A dry run changed nothing.
    let mut dry = state();
    dry.opened_by_dry_run = true;
    let events = [step_with(
        OPEN,
        vec![desired(10, 2)],
        ActionResult::DryRun,
        None,
    )];
    let a = account(
        Some(&dry),
        &events,
        span("2026-11-02T17:00:00Z", "2026-11-02T17:30:00Z", None),
    );
    assert_eq!((a.basis, a.held.is_zero()), (Basis::Calls, true));

    // Nothing done at all: the targets, from the opening to the scale-down (3 h): 8 tasks and
    // 3 readers (4 for the night, 1 in the baseline) of a class the baseline does not record.
    let failed = ActionResult::Failed {
        code: Some("ThrottlingException".into()),
        message: "slow down".into(),
    };
    let events = [step_with(OPEN, vec![desired(10, 2)], failed, None)];
    let a = account(
        Some(&state()),
        &events,
        span("2026-11-02T17:00:00Z", "2026-11-02T17:30:00Z", None),
    );
    assert_eq!(a.basis, Basis::Targets);
    assert!(close_to(a.held.task_hours, 24.0));
    assert!(close_to(a.held.reader_hours["class not recorded"], 9.0));
    assert!(a
        .notes
        .iter()
        .any(|n| n.contains("estimated from the night's targets")));

    // A run of an earlier nightshift: no task size, so task-hours only, and said so.
    let mut old = state();
    old.baseline.services[0].task = None;
    let events = [
        step(OPEN, vec![desired(10, 2)]),
        step("2026-11-02T17:00:00Z", vec![desired(2, 10)]),
    ];
    let a = account(
        Some(&old),
        &events,
        span("2026-11-02T17:00:00Z", "2026-11-02T17:00:00Z", None),
    );
    assert!(close_to(a.held.unsized_task_hours, 24.0));
    assert_eq!(a.held.vcpu_hours, 0.0);
    assert!(
        a.notes[0].contains("task size not recorded"),
        "{:?}",
        a.notes
    );
    let prices = Prices {
        currency: "EUR".into(),
        instance: BTreeMap::new(),
        dcu: None,
        task: Some(TaskPrices {
            vcpu: 0.04,
            gb: 0.004,
        }),
        line: 1,
    };
    let m = money(&a, &prices);
    assert_eq!((m.cost, m.currency.as_str()), (0.0, "EUR"));
    assert_eq!(
        m.unpriced,
        ["task-hours without a Fargate size (EC2-backed, or not recorded)"]
    );

    // No state at all.
    assert_eq!(
        account(None, &[], span(OPEN, OPEN, None)).basis,
        Basis::Unknown
    );
}

#[test]
fn idle_runs_from_the_last_busy_period_any_check_saw_to_the_scale_down() {
    let verdict = |periods: &[(&str, f64)]| MetricVerdict {
        metric: "Batch/JobsRunning{Job=nightly}".into(),
        stat: "Maximum".into(),
        period: "1m".into(),
        below: 1.0,
        from: ts(OPEN),
        to: ts(OPEN),
        periods: periods
            .iter()
            .map(|(start, v)| PeriodValue {
                start: ts(start),
                value: Some(*v),
                state: PeriodState::Busy,
            })
            .collect(),
        worst: None,
        verdict: MetricState::Busy,
        counts_as_quiet: false,
    };
    let gate = |periods: &[(&str, f64)]| gate::Evidence {
        rule: None,
        summary: String::new(),
        now: ts(OPEN),
        scaled_up_at: ts(OPEN),
        deadline: ts("2026-11-02T22:30:00Z"),
        deadline_local: "07:30".into(),
        min_hold_until: ts(OPEN),
        quiet_for: "15m".into(),
        missing_data: "busy".into(),
        ingestion_lag: "2m".into(),
        force: false,
        metrics: vec![verdict(periods)],
        fetch_error: None,
        fallback: None,
    };
    let events = [
        step_with(
            "2026-11-02T16:50:00Z",
            vec![],
            ActionResult::Done,
            Some(gate(&[("2026-11-02T16:47:00Z", 3.0)])),
        ),
        // The last busy minute 16:51-16:52; then quiet.
        step_with(
            "2026-11-02T17:00:00Z",
            vec![],
            ActionResult::Done,
            Some(gate(&[
                ("2026-11-02T16:51:00Z", 1.0),
                ("2026-11-02T16:52:00Z", 0.0),
            ])),
        ),
    ];
    assert_eq!(
        idle(&events, Some(ts("2026-11-02T17:10:00Z"))),
        Some(18 * 60)
    );
    assert_eq!(idle(&events, None), None);
}

#[test]
fn totals_of_nothing_are_positive_zero() {
    // An empty f64 sum is -0.0, which JSON and the EMF line would print as "-0.0".
    let none = Hours::default();
    assert!(none.readers_total().is_sign_positive());
    assert!(none.resized_total().is_sign_positive());
}
