use super::*;
use crate::domain::ActionResult;
use crate::evidence::Convergence;
use crate::gate::{Evidence, MetricState, MetricVerdict, Worst};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-11-25T21:30:00Z";

fn facts<'a>(step: Step, evidence: &'a StepEvidence, actions: &'a [Action]) -> StepFacts<'a> {
    StepFacts {
        scenario: "nightly-batch",
        run: Some("2026-11-26"),
        night: "2026-11-26",
        step,
        outcome: Outcome::Acted,
        reason: "short reason",
        explanation: "the whole explanation",
        actions,
        evidence,
        now: ts(NOW),
        closed: false,
        failure: None,
        prices: None,
    }
}

fn kinds(facts: &StepFacts<'_>) -> Vec<Kind> {
    notifications(facts).into_iter().map(|n| n.kind).collect()
}

fn gate(rule: Option<Rule>, busy: bool) -> Evidence {
    Evidence {
        rule,
        summary: "s".into(),
        now: ts(NOW),
        scaled_up_at: ts("2026-11-25T14:00:00Z"),
        deadline: ts(NOW),
        deadline_local: "06:30".into(),
        min_hold_until: ts(NOW),
        quiet_for: "15m".into(),
        missing_data: "busy".into(),
        ingestion_lag: "2m".into(),
        force: false,
        metrics: vec![MetricVerdict {
            metric: "Batch/JobsRunning{Job=nightly}".into(),
            stat: "Maximum".into(),
            period: "1m".into(),
            below: 1.0,
            from: ts(NOW),
            to: ts(NOW),
            periods: Vec::new(),
            worst: busy.then(|| Worst {
                value: 5.0,
                at: ts(NOW),
            }),
            verdict: if busy {
                MetricState::Busy
            } else {
                MetricState::Quiet
            },
            counts_as_quiet: !busy,
        }],
        fetch_error: None,
        fallback: None,
    }
}

fn action() -> Action {
    Action {
        service: "ecs".into(),
        call: "UpdateService".into(),
        resource: "batch/worker".into(),
        detail: "desiredCount 2 -> 10".into(),
        result: ActionResult::Done,
    }
}

#[test]
fn a_scale_up_that_opened_the_run_announces_it_with_the_contract_detail() {
    let evidence = StepEvidence {
        opened_run: true,
        ..StepEvidence::default()
    };
    let actions = [action()];
    let f = facts(Step::ScaleUp, &evidence, &actions);
    let events = notifications(&f);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail_type, "Nightshift Run Opened");
    let detail = serde_json::to_value(&events[0].detail).unwrap();
    assert_eq!(
        detail["notification_id"],
        "nightly-batch/2026-11-26/run-opened"
    );
    for key in ["scenario", "run", "step", "outcome", "reason", "actions"] {
        assert!(detail.get(key).is_some(), "{key} in {detail}");
    }
    assert_eq!(detail["step"], "scale-up");
    assert_eq!(detail["outcome"], "acted");
    assert_eq!(detail["actions"][0]["call"], "UpdateService");
    assert_eq!(detail["actions"][0]["result"], "ok");

    // A scale-up that re-planned against an open run announces nothing.
    let again = StepEvidence::default();
    assert!(kinds(&facts(Step::ScaleUp, &again, &actions)).is_empty());
}

#[test]
fn capacity_ready_is_announced_by_the_check_that_first_saw_it() {
    let first = StepEvidence {
        ready_at: Some(ts(NOW)),
        time_to_ready_s: Some(1500),
        ..StepEvidence::default()
    };
    let events = notifications(&facts(Step::Check, &first, &[]));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail_type, "Nightshift Capacity Ready");
    assert_eq!(events[0].detail.ready_after_minutes, Some(25));
    let later = StepEvidence {
        ready_at: Some(ts("2026-11-25T21:00:00Z")),
        ..first
    };
    assert!(kinds(&facts(Step::Check, &later, &[])).is_empty());
}

#[test]
fn a_close_says_why_and_the_deadline_while_busy_and_drift_come_with_it() {
    let quiet = StepEvidence {
        gate: Some(gate(Some(Rule::Quiet), false)),
        closed_by: Some(Rule::Quiet),
        night_s: Some(7 * 3600),
        ..StepEvidence::default()
    };
    let mut f = facts(Step::Check, &quiet, &[]);
    f.closed = true;
    let events = notifications(&f);
    assert_eq!(
        events.iter().map(|n| n.kind).collect::<Vec<_>>(),
        [Kind::RunClosed]
    );
    assert_eq!(events[0].detail.why, Some("quiet"));
    assert_eq!(events[0].detail.night_minutes, Some(420));

    let deadline = StepEvidence {
        gate: Some(gate(Some(Rule::Deadline), true)),
        closed_by: Some(Rule::Deadline),
        converge: Convergence {
            drift: vec!["batch/worker: desired 7, not the 10 set".into()],
            ..Convergence::default()
        },
        ..StepEvidence::default()
    };
    let mut f = facts(Step::Check, &deadline, &[]);
    f.closed = true;
    let events = notifications(&f);
    assert_eq!(
        events.iter().map(|n| n.kind).collect::<Vec<_>>(),
        [Kind::DeadlineReached, Kind::DriftDetected, Kind::RunClosed]
    );
    assert_eq!(
        events[0].detail.items,
        ["Batch/JobsRunning{Job=nightly} Maximum 5 >= 1"]
    );
    assert_eq!(events[1].detail.items, deadline.converge.drift);
    assert_eq!(events[2].detail.why, Some("deadline"));

    // The deadline with every metric quiet is a close, not an overrun; a scale-down that does
    // not close yet announces only the overrun, and the close later (from the run's record).
    let quiet_at_deadline = StepEvidence {
        gate: Some(gate(Some(Rule::Deadline), false)),
        ..StepEvidence::default()
    };
    assert!(kinds(&facts(Step::Check, &quiet_at_deadline, &[])).is_empty());
    let started = StepEvidence {
        gate: Some(gate(Some(Rule::Deadline), true)),
        ..StepEvidence::default()
    };
    assert_eq!(
        kinds(&facts(Step::Check, &started, &[])),
        [Kind::DeadlineReached]
    );
    let continued = StepEvidence {
        closed_by: Some(Rule::Forced),
        ..StepEvidence::default()
    };
    let mut f = facts(Step::Check, &continued, &[]);
    f.closed = true;
    assert_eq!(notifications(&f)[0].detail.why, Some("forced"));
}

#[test]
fn failures_are_announced_when_no_retry_is_left_to_fix_them() {
    let evidence = StepEvidence::default();
    let mut f = facts(Step::ScaleUp, &evidence, &[]);
    f.run = None;
    f.outcome = Outcome::Deferred;
    f.failure = Some(Failure {
        retryable: true,
        retried: false,
        message: "UpdateService failed".into(),
    });
    assert!(kinds(&f).is_empty(), "the first attempt is retried");
    f.failure = Some(Failure {
        retried: true,
        ..f.failure.clone().unwrap()
    });
    let events = notifications(&f);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail_type, "Nightshift Step Failed");
    assert_eq!(
        events[0].detail.notification_id, "nightly-batch/2026-11-26/step-failed",
        "a run-less failure is named after its night"
    );
    assert_eq!(events[0].detail.run, None);
    assert_eq!(events[0].detail.retryable, Some(true));

    f.failure = Some(Failure {
        retryable: false,
        retried: false,
        message: "access denied".into(),
    });
    assert_eq!(kinds(&f), [Kind::StepFailed]);
    f.failure = None;
    f.outcome = Outcome::Rejected;
    let events = notifications(&f);
    assert_eq!(
        events[0].detail.error.as_deref(),
        Some("the whole explanation")
    );
    f.outcome = Outcome::Deferred;
    assert!(kinds(&f).is_empty(), "a deferred check is no failure");
}

#[test]
fn details_are_bounded_and_every_kind_has_its_contract_spelling() {
    let evidence = StepEvidence {
        opened_run: true,
        ..StepEvidence::default()
    };
    let actions = vec![action(); MAX_ACTIONS + 5];
    let events = notifications(&facts(Step::ScaleUp, &evidence, &actions));
    assert_eq!(events[0].detail.actions.len(), MAX_ACTIONS);
    assert_eq!(events[0].detail.actions_omitted, 5);
    let types: Vec<&str> = Kind::ALL.iter().map(|k| k.detail_type()).collect();
    assert_eq!(
        types,
        [
            "Nightshift Run Opened",
            "Nightshift Capacity Ready",
            "Nightshift Capacity Late",
            "Nightshift Deadline Reached",
            "Nightshift Drift Detected",
            "Nightshift Run Closed",
            "Nightshift Step Failed"
        ]
    );
}

#[test]
fn a_run_closed_event_carries_the_nights_hours_and_its_money_at_the_prices() {
    use crate::config::{Prices, TaskPrices};
    use crate::trends::{Account, Hours};
    let mut held = Hours {
        task_hours: 24.0,
        vcpu_hours: 24.0,
        gb_hours: 48.0,
        ..Hours::default()
    };
    held.reader_hours.insert("db.r6g.large".into(), 9.499_999);
    let always_on = Hours {
        task_hours: 192.0,
        vcpu_hours: 192.0,
        gb_hours: 384.0,
        reader_hours: [("db.r6g.large".to_string(), 72.0)].into(),
        ..Hours::default()
    };
    let account = Account {
        saved_vs_always_on: always_on.minus(&held),
        held,
        always_on,
        saved_vs_deadline: Some(Hours::default()),
        idle_s: Some(19 * 60),
        ..Account::default()
    };
    let closing = StepEvidence {
        closed_by: Some(Rule::Quiet),
        night_s: Some(3 * 3600),
        night_hours: Some(account),
        ..StepEvidence::default()
    };
    let mut f = facts(Step::Check, &closing, &[]);
    f.closed = true;
    let hours_only = notifications(&f);
    let detail = &hours_only[0].detail;
    assert_eq!(detail.money, None, "no [prices]: hours only");
    let hours = detail.hours.as_ref().expect("hours");
    assert_eq!(hours.held.reader_hours["db.r6g.large"], 9.5, "rounded");
    assert_eq!(hours.idle_s, Some(1140));

    let prices = Prices {
        currency: "USD".into(),
        instance: [("db.r6g.large".to_string(), 0.277)].into(),
        dcu: None,
        task: Some(TaskPrices {
            vcpu: 0.04,
            gb: 0.004,
        }),
        line: 1,
    };
    f.prices = Some(&prices);
    let priced = notifications(&f);
    let json = serde_json::to_value(&priced[0].detail).unwrap();
    // 9.499999 × 0.277 + 24 × 0.04 + 48 × 0.004 = 3.7834…; all day 29.16.
    assert_eq!(json["money"]["currency"], "USD");
    assert_eq!(json["money"]["cost"], 3.78);
    assert_eq!(json["money"]["always_on"], 29.16);
    assert_eq!(json["money"]["saved_vs_always_on"], 25.38);
    assert_eq!(json["money"]["saved_vs_deadline"], 0.0);
    assert_eq!(json["hours"]["held"]["task_hours"], 24.0);
    assert_eq!(json["hours"]["saved_vs_always_on"]["gb_hours"], 336.0);
    assert_eq!(
        json["notification_id"],
        "nightly-batch/2026-11-26/run-closed"
    );
}

#[test]
fn capacity_late_is_sent_by_the_check_that_recorded_it_with_the_minutes_and_the_profile() {
    let evidence = StepEvidence {
        capacity_late: Some(crate::evidence::CapacityLate {
            busy_since: ts("2026-11-25T21:10:00Z"),
            late_minutes: 20,
            waiting: vec!["batch-db: 2 of 6 readers available".into()],
        }),
        profile: Some("month-end".into()),
        ..StepEvidence::default()
    };
    let f = facts(Step::Check, &evidence, &[]);
    let events = notifications(&f);
    assert_eq!(kinds(&f), [Kind::CapacityLate]);
    let d = &events[0].detail;
    assert_eq!(events[0].detail_type, "Nightshift Capacity Late");
    assert_eq!(d.notification_id, "nightly-batch/2026-11-26/capacity-late");
    assert_eq!(d.late_minutes, Some(20));
    assert_eq!(d.profile.as_deref(), Some("month-end"));
    assert_eq!(d.items, ["batch-db: 2 of 6 readers available"]);
    // A later check of the same night records no capacity_late: nothing is sent again.
    let later = StepEvidence::default();
    assert!(kinds(&facts(Step::Check, &later, &[])).is_empty());
}
