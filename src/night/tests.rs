//! The state machine as a table: every step × run state × pause × skip date × gate verdict ×
//! force, without the emulator. The first test lists the cases one by one with the decision each
//! must give; the second walks the whole product and checks the rules that hold across it.

use super::*;
use crate::config::{self, Scenario};
use crate::gate::{MetricWindow, MetricsFetch};
use crate::history::RunStatus;
use crate::overrides::{Held, Paused};
use crate::plan::{Baseline, RunState};

const NIGHT: &str = "2026-11-25";

/// The contract config's scenario (Asia/Tokyo, quiet_for 15m, min_hold 30m, deadline 07:30),
/// with 2026-11-26 (the local date of the cases' `now`) as a skip date when `skip`.
fn scenario(skip: bool) -> Scenario {
    let mut text = include_str!("../../integration/fixtures/config/contract.toml").to_string();
    if skip {
        text = text.replace(
            "timezone = \"Asia/Tokyo\"",
            "timezone = \"Asia/Tokyo\"\nskip_dates = [\"2026-11-26\"]",
        );
    }
    config::parse(&text, "contract.toml").unwrap().scenarios[0].clone()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 23:00 local on the night of 2026-11-25 (Tokyo is UTC+9).
fn opened() -> Timestamp {
    ts("2026-11-25T14:00:00Z")
}

fn record(baseline: Option<serde_json::Value>) -> RunRecord {
    RunRecord {
        scenario: "nightly-batch".into(),
        run: NIGHT.into(),
        status: RunStatus::Open,
        opened_at: opened(),
        closed_at: None,
        opened_by: "nightly-batch/scale-up/x".into(),
        baseline,
        summary: "scaling up".into(),
    }
}

fn state(scaling_down: bool, dry_run: bool) -> RunState {
    let mut state = RunState::new(
        Baseline {
            taken_at: opened(),
            services: Vec::new(),
            clusters: Vec::new(),
            environments: Vec::new(),
            groups: Vec::new(),
        },
        dry_run,
    );
    if scaling_down {
        state.scale_down_started_at = Some(ts("2026-11-25T16:00:00Z"));
    }
    state
}

/// The run states of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Run {
    None,
    ScalingUp,
    ScalingUpRehearsed,
    ScalingDown,
    NoBaseline,
    Corrupt,
}

const RUNS: [Run; 6] = [
    Run::None,
    Run::ScalingUp,
    Run::ScalingUpRehearsed,
    Run::ScalingDown,
    Run::NoBaseline,
    Run::Corrupt,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum PauseCase {
    None,
    Active,
    Expired,
}

/// The stored hold: none, in force for the open run, ended, or in force for another night's run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum HoldCase {
    None,
    Active,
    Expired,
    OtherRun,
}

const HOLDS: [HoldCase; 4] = [
    HoldCase::None,
    HoldCase::Active,
    HoldCase::Expired,
    HoldCase::OtherRun,
];

/// The gate's verdict as the shell would have read it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Gate {
    NotRead,
    Busy,
    QuietTooSoon,
    Quiet,
    Deadline,
    Forced,
}

/// A gate decision of each kind, built by the real gate from metric windows.
fn gate_decision(scenario: &Scenario, gate: Gate, now: Timestamp) -> Option<gate::Decision> {
    let spec = scenario.scale_down.metrics[0].clone();
    let window = |value: f64| {
        let mut points = Vec::new();
        let mut t = opened();
        while t < now {
            points.push((t, value));
            t += jiff::SignedDuration::from_mins(1);
        }
        MetricsFetch::Windows(vec![MetricWindow {
            spec: spec.clone(),
            points,
        }])
    };
    Some(match gate {
        Gate::NotRead => return None,
        Gate::Busy => gate::decide(scenario, &window(5.0), opened(), now, false),
        Gate::QuietTooSoon => gate::decide(
            scenario,
            &window(0.0),
            opened(),
            ts("2026-11-25T14:20:00Z"),
            false,
        ),
        Gate::Quiet => gate::decide(scenario, &window(0.0), opened(), now, false),
        Gate::Deadline => gate::decide(
            scenario,
            &window(5.0),
            opened(),
            ts("2026-11-25T22:31:00Z"),
            false,
        ),
        Gate::Forced => gate::decide(scenario, &MetricsFetch::NotRead, opened(), now, true),
    })
}

#[derive(Clone, Copy)]
struct Case {
    step: Step,
    run: Run,
    pause: PauseCase,
    hold: HoldCase,
    skip_date: bool,
    gate: Gate,
    force: bool,
}

/// What the state machine answered for a case: a decision, or (when the case gives it no gate
/// verdict) its request to read the gate.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per case, never stored
enum Answer {
    ReadGate { fetch_metrics: bool },
    Decided(Decision),
}

/// Runs one case through [`decide`], answering its gate question with the case's verdict.
fn run_case(c: &Case) -> Answer {
    let scenario = scenario(c.skip_date);
    // 01:00 local on the night: inside the skip date, after min_hold, before the deadline.
    let now = ts("2026-11-25T16:00:00Z");
    let pause = match c.pause {
        PauseCase::None => None,
        PauseCase::Active => Some(Pause {
            until: ts("2026-11-26T01:00:00Z"),
            defers: Paused,
            by: Some("ops".into()),
            at: Some(ts("2026-11-25T15:00:00Z")),
            reason: None,
        }),
        PauseCase::Expired => Some(Pause {
            until: ts("2026-11-25T15:30:00Z"),
            defers: Paused,
            by: None,
            at: None,
            reason: None,
        }),
    };
    let hold = |until: &str, run: &str| Hold {
        until: ts(until),
        defers: Held { run: run.into() },
        by: Some("ops".into()),
        at: Some(ts("2026-11-25T15:00:00Z")),
        reason: Some("rerun".into()),
    };
    let hold = match c.hold {
        HoldCase::None => None,
        // 09:00 local the morning after: past the 07:30 deadline.
        HoldCase::Active => Some(hold("2026-11-26T00:00:00Z", NIGHT)),
        HoldCase::Expired => Some(hold("2026-11-25T15:45:00Z", NIGHT)),
        HoldCase::OtherRun => Some(hold("2026-11-26T00:00:00Z", "2026-11-24")),
    };
    let ok = record(Some(serde_json::json!({})));
    let bare = record(None);
    let st = state(c.run == Run::ScalingDown, c.run == Run::ScalingUpRehearsed);
    let run = match c.run {
        Run::None => RunFacts::None,
        Run::ScalingUp | Run::ScalingUpRehearsed | Run::ScalingDown => RunFacts::Open {
            run: &ok,
            state: &st,
        },
        Run::NoBaseline => RunFacts::NoBaseline { run: &bare },
        Run::Corrupt => RunFacts::Corrupt {
            run: &ok,
            error: "missing field `baseline`",
        },
    };
    let verdict = gate_decision(&scenario, c.gate, now);
    let ruling = decide(&Facts {
        scenario: &scenario,
        step: c.step,
        force: c.force,
        now,
        pause: pause.as_ref(),
        hold: hold.as_ref(),
        run,
        dry_run: false,
        scheduled_time: None,
    });
    match (ruling, verdict) {
        (Ruling::Decided(d), _) => Answer::Decided(d),
        (Ruling::ReadGate(question), Some(verdict)) => Answer::Decided(question.decide(&verdict)),
        (Ruling::ReadGate(question), None) => Answer::ReadGate {
            fetch_metrics: question.fetch_metrics,
        },
    }
}

/// What a decision is, in a word and its key facts, for the table.
fn shape(a: &Answer) -> String {
    let d = match a {
        Answer::ReadGate { fetch_metrics } => return format!("read-gate:{fetch_metrics}"),
        Answer::Decided(d) => d,
    };
    match d {
        Decision::Skip { rule, why } => match rule {
            Some(rule) => format!("skip:{}", rule.as_str()),
            None if why.short.starts_with("out of order") => "skip:out-of-order".into(),
            None if why.short.starts_with("no open run") => "skip:no-run".into(),
            None => "skip:no-baseline".into(),
        },
        Decision::Reject { .. } => "reject".into(),
        Decision::OpenRun { .. } => "open-run".into(),
        Decision::ConvergeUp { .. } => "converge-up".into(),
        Decision::DeferScaleDown { hold, .. } if hold.short.starts_with("held until") => {
            "defer:held".into()
        }
        Decision::KeepCapacity { keep, hold, .. } if hold.short.starts_with("held until") => {
            format!("keep:{keep:?}:held").to_lowercase()
        }
        Decision::KeepCapacity { keep, .. } => format!("keep:{keep:?}").to_lowercase(),
        Decision::DeferScaleDown { .. } => "defer".into(),
        Decision::StartScaleDown { rule, .. } => format!("start-down:{}", rule.as_str()),
        Decision::ContinueScaleDown { .. } => "continue-down".into(),
    }
}

#[test]
fn the_state_machine_table() {
    use Gate as G;
    use PauseCase as P;
    use Run as R;
    use Step::{Check as C, ScaleDown as D, ScaleUp as U};
    #[rustfmt::skip]
    let table: &[(Step, Run, PauseCase, bool, Gate, bool, &str)] = &[
        // step, run, pause, skip date, gate, force → decision
        // Scale-up.
        (U, R::None,        P::None,    false, G::NotRead, false, "open-run"),
        (U, R::None,        P::Active,  false, G::NotRead, false, "skip:paused"),
        (U, R::None,        P::Expired, false, G::NotRead, false, "open-run"),
        (U, R::None,        P::None,    true,  G::NotRead, false, "skip:skip-date"),
        (U, R::ScalingUp,   P::None,    true,  G::NotRead, false, "converge-up"),
        (U, R::ScalingUp,   P::None,    false, G::NotRead, false, "converge-up"),
        (U, R::ScalingUp,   P::Active,  false, G::NotRead, false, "skip:paused"),
        (U, R::ScalingDown, P::None,    false, G::NotRead, false, "skip:out-of-order"),
        (U, R::ScalingDown, P::None,    false, G::NotRead, true,  "skip:out-of-order"),
        (U, R::NoBaseline,  P::None,    false, G::NotRead, false, "skip:no-baseline"),
        (U, R::Corrupt,     P::Active,  false, G::NotRead, false, "reject"),
        // Check.
        (C, R::None,        P::None,    false, G::NotRead, false, "skip:no-run"),
        (C, R::None,        P::Active,  false, G::NotRead, false, "skip:paused"),
        (C, R::None,        P::None,    true,  G::NotRead, false, "skip:no-run"),
        (C, R::ScalingUp,   P::None,    false, G::NotRead, false, "read-gate:true"),
        (C, R::ScalingUp,   P::None,    false, G::NotRead, true,  "read-gate:true"),
        (C, R::ScalingUp,   P::None,    false, G::Busy,    false, "keep:continue"),
        (C, R::ScalingUp,   P::None,    false, G::QuietTooSoon, false, "keep:continue"),
        (C, R::ScalingUpRehearsed, P::None, false, G::Busy, false, "keep:observe"),
        (C, R::ScalingUp,   P::None,    false, G::Quiet,   false, "start-down:quiet"),
        (C, R::ScalingUp,   P::None,    false, G::Deadline, false, "start-down:deadline"),
        (C, R::ScalingUp,   P::None,    true,  G::Quiet,   false, "start-down:quiet"),
        (C, R::ScalingUp,   P::Active,  false, G::Quiet,   false, "skip:paused"),
        (C, R::ScalingUp,   P::Active,  false, G::Deadline, false, "skip:paused"),
        (C, R::ScalingUp,   P::Expired, false, G::Busy,    false, "keep:continue"),
        (C, R::ScalingDown, P::None,    false, G::NotRead, false, "continue-down"),
        (C, R::ScalingDown, P::Active,  false, G::NotRead, false, "continue-down"),
        (C, R::NoBaseline,  P::None,    false, G::NotRead, false, "skip:no-baseline"),
        (C, R::Corrupt,     P::None,    false, G::NotRead, false, "reject"),
        // Scale-down.
        (D, R::None,        P::None,    false, G::NotRead, false, "skip:no-run"),
        (D, R::None,        P::Active,  false, G::NotRead, false, "skip:paused"),
        (D, R::None,        P::Active,  false, G::NotRead, true,  "skip:no-run"),
        (D, R::ScalingUp,   P::None,    false, G::NotRead, false, "read-gate:true"),
        (D, R::ScalingUp,   P::None,    false, G::NotRead, true,  "read-gate:false"),
        (D, R::ScalingUp,   P::None,    false, G::Busy,    false, "defer"),
        (D, R::ScalingUp,   P::None,    false, G::QuietTooSoon, false, "defer"),
        (D, R::ScalingUp,   P::None,    false, G::Quiet,   false, "start-down:quiet"),
        (D, R::ScalingUp,   P::None,    false, G::Deadline, false, "start-down:deadline"),
        (D, R::ScalingUp,   P::None,    false, G::Forced,  true,  "start-down:forced"),
        (D, R::ScalingUp,   P::Active,  false, G::Busy,    false, "skip:paused"),
        (D, R::ScalingUp,   P::Active,  false, G::Forced,  true,  "start-down:forced"),
        (D, R::ScalingUp,   P::None,    true,  G::Busy,    false, "defer"),
        (D, R::ScalingUpRehearsed, P::None, false, G::Quiet, false, "start-down:quiet"),
        (D, R::ScalingDown, P::None,    false, G::NotRead, false, "continue-down"),
        (D, R::ScalingDown, P::Active,  false, G::NotRead, false, "continue-down"),
        (D, R::ScalingDown, P::None,    false, G::NotRead, true,  "continue-down"),
        (D, R::NoBaseline,  P::None,    false, G::NotRead, true,  "skip:no-baseline"),
        (D, R::Corrupt,     P::None,    false, G::NotRead, true,  "reject"),
    ];
    let mut wrong = Vec::new();
    for &(step, run, pause, skip_date, gate, force, want) in table {
        let got = run_case(&Case {
            step,
            run,
            pause,
            hold: HoldCase::None,
            skip_date,
            gate,
            force,
        });
        if shape(&got) != want {
            wrong.push(format!(
                "{step} {run:?} pause={pause:?} skip={skip_date} gate={gate:?} force={force}: want {want}, got {}",
                shape(&got)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_state_machine_table_with_a_hold() {
    use Gate as G;
    use HoldCase as H;
    use PauseCase as P;
    use Run as R;
    use Step::{Check as C, ScaleDown as D, ScaleUp as U};
    #[rustfmt::skip]
    let table: &[(Step, Run, PauseCase, HoldCase, Gate, bool, &str)] = &[
        // step, run, pause, hold, gate, force → decision
        // A scale-up is not held back (it raises, never lowers).
        (U, R::None,        P::None,    H::Active,  G::NotRead, false, "open-run"),
        (U, R::ScalingUp,   P::None,    H::Active,  G::NotRead, false, "converge-up"),
        // A check keeps the capacity without reading the gate; deadline or quiet, it is held.
        (C, R::ScalingUp,   P::None,    H::Active,  G::NotRead, false, "keep:continue:held"),
        (C, R::ScalingUp,   P::None,    H::Active,  G::Quiet,   false, "keep:continue:held"),
        (C, R::ScalingUp,   P::None,    H::Active,  G::Deadline, false, "keep:continue:held"),
        (C, R::ScalingUpRehearsed, P::None, H::Active, G::NotRead, false, "keep:observe:held"),
        (C, R::ScalingUp,   P::None,    H::Expired, G::NotRead, false, "read-gate:true"),
        (C, R::ScalingUp,   P::None,    H::Expired, G::Deadline, false, "start-down:deadline"),
        (C, R::ScalingUp,   P::None,    H::OtherRun, G::Quiet,  false, "start-down:quiet"),
        (C, R::None,        P::None,    H::Active,  G::NotRead, false, "skip:no-run"),
        (C, R::ScalingDown, P::None,    H::Active,  G::NotRead, false, "continue-down"),
        // A scheduled scale-down is deferred, the deadline included; a forced one runs.
        (D, R::ScalingUp,   P::None,    H::Active,  G::NotRead, false, "defer:held"),
        (D, R::ScalingUp,   P::None,    H::Active,  G::Deadline, false, "defer:held"),
        (D, R::ScalingUp,   P::None,    H::Active,  G::Quiet,   false, "defer:held"),
        (D, R::ScalingUp,   P::None,    H::Active,  G::NotRead, true,  "read-gate:false"),
        (D, R::ScalingUp,   P::None,    H::Active,  G::Forced,  true,  "start-down:forced"),
        (D, R::ScalingUp,   P::None,    H::Expired, G::Deadline, false, "start-down:deadline"),
        (D, R::ScalingUp,   P::None,    H::OtherRun, G::Deadline, false, "start-down:deadline"),
        (D, R::ScalingDown, P::None,    H::Active,  G::NotRead, false, "continue-down"),
        // Hold and pause together: the pause skips first; a forced scale-down still runs.
        (C, R::ScalingUp,   P::Active,  H::Active,  G::NotRead, false, "skip:paused"),
        (D, R::ScalingUp,   P::Active,  H::Active,  G::NotRead, false, "skip:paused"),
        (D, R::ScalingUp,   P::Active,  H::Active,  G::Forced,  true,  "start-down:forced"),
        (C, R::ScalingUp,   P::Expired, H::Active,  G::NotRead, false, "keep:continue:held"),
        (D, R::Corrupt,     P::None,    H::Active,  G::NotRead, false, "reject"),
    ];
    let mut wrong = Vec::new();
    for &(step, run, pause, hold, gate, force, want) in table {
        let got = run_case(&Case {
            step,
            run,
            pause,
            hold,
            skip_date: false,
            gate,
            force,
        });
        if shape(&got) != want {
            wrong.push(format!(
                "{step} {run:?} pause={pause:?} hold={hold:?} gate={gate:?} force={force}: want {want}, got {}",
                shape(&got)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The reasons, as the contract spells them.
    let Answer::Decided(Decision::DeferScaleDown { hold, .. }) = run_case(&Case {
        step: D,
        run: R::ScalingUp,
        pause: P::None,
        hold: H::Active,
        skip_date: false,
        gate: G::NotRead,
        force: false,
    }) else {
        panic!("a held scale-down was not deferred")
    };
    assert_eq!(
        hold.short,
        "held until 2026-11-26 09:00: scale-down deferred"
    );
    assert!(
        hold.detail.starts_with(
            "held until 2026-11-26T00:00:00Z (2026-11-26 09:00 Asia/Tokyo) for run 2026-11-25 by ops: \"rerun\"; "
        ),
        "{}",
        hold.detail
    );
    assert!(
        hold.detail.contains("nightshift release nightly-batch"),
        "{}",
        hold.detail
    );
}

#[test]
fn rules_that_hold_across_every_combination() {
    let gates = [
        Gate::NotRead,
        Gate::Busy,
        Gate::QuietTooSoon,
        Gate::Quiet,
        Gate::Deadline,
        Gate::Forced,
    ];
    let mut cases = 0;
    for step in Step::ALL {
        for run in RUNS {
            for pause in [PauseCase::None, PauseCase::Active, PauseCase::Expired] {
                for hold in HOLDS {
                    for skip_date in [false, true] {
                        for gate in gates {
                            for force in [false, true] {
                                let c = Case {
                                    step,
                                    run,
                                    pause,
                                    hold,
                                    skip_date,
                                    gate,
                                    force,
                                };
                                check_rules(&c, &run_case(&c));
                                cases += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    // 1,296 combinations without a hold, times the four hold cases.
    assert_eq!(cases, 3 * 6 * 3 * 4 * 2 * 6 * 2);
}

fn check_rules(c: &Case, a: &Answer) {
    let at = format!(
        "{} {:?} pause={:?} hold={:?} skip={} gate={:?} force={}: {a:?}",
        c.step, c.run, c.pause, c.hold, c.skip_date, c.gate, c.force
    );
    let d = match a {
        Answer::Decided(d) => Some(d),
        Answer::ReadGate { .. } => None,
    };
    let forced = c.force && c.step == Step::ScaleDown;
    // Reasons are one line of at most SHORT_REASON_MAX characters, with a full explanation.
    if let Some(
        Decision::Skip { why, .. }
        | Decision::Reject { why }
        | Decision::DeferScaleDown { hold: why, .. }
        | Decision::KeepCapacity { hold: why, .. }
        | Decision::StartScaleDown { why, .. },
    ) = d
    {
        assert!(why.short.chars().count() <= SHORT_REASON_MAX, "{at}");
        assert!(!why.short.contains('\n') && !why.short.is_empty(), "{at}");
        assert!(
            why.detail.len() >= why.short.trim_end_matches('…').len() / 2,
            "{at}"
        );
    }
    // Nothing that decodes no baseline is ever scaled.
    if matches!(c.run, Run::NoBaseline | Run::Corrupt) {
        assert!(
            matches!(d, Some(Decision::Skip { .. } | Decision::Reject { .. })),
            "{at}"
        );
    }
    // Only a scale-up opens or grows a run; never once the scale-down started.
    if matches!(
        d,
        Some(Decision::OpenRun { .. } | Decision::ConvergeUp { .. })
    ) {
        assert_eq!(c.step, Step::ScaleUp, "{at}");
        assert_ne!(c.run, Run::ScalingDown, "{at}");
    }
    // A scale-up never scales down, and a started scale-down always goes on for check and
    // scale-down, paused or not.
    if c.step == Step::ScaleUp {
        assert!(
            !matches!(
                d,
                Some(Decision::StartScaleDown { .. } | Decision::ContinueScaleDown { .. })
            ),
            "{at}"
        );
    } else if c.run == Run::ScalingDown {
        assert!(
            matches!(d, Some(Decision::ContinueScaleDown { .. })),
            "{at}"
        );
    }
    // Never scale down while the metrics say busy unless past the deadline or forced; never
    // while paused unless forced (or already started).
    if let Some(Decision::StartScaleDown { rule, .. }) = d {
        assert!(
            matches!(c.gate, Gate::Quiet | Gate::Deadline | Gate::Forced),
            "{at}"
        );
        if c.pause == PauseCase::Active || c.hold == HoldCase::Active {
            assert!(forced, "{at}");
        }
        if *rule == gate::Rule::Forced {
            assert!(c.gate == Gate::Forced, "{at}");
        }
    }
    // The gate is asked for exactly when it decides, and the metrics are read unless forced.
    match a {
        Answer::ReadGate { fetch_metrics } => {
            assert_eq!(c.gate, Gate::NotRead, "{at}");
            assert_eq!(*fetch_metrics, !forced, "{at}");
            assert!(
                matches!(c.run, Run::ScalingUp | Run::ScalingUpRehearsed),
                "{at}"
            );
        }
        Answer::Decided(Decision::KeepCapacity { .. }) => assert_eq!(c.step, Step::Check, "{at}"),
        Answer::Decided(Decision::DeferScaleDown { .. }) => {
            assert_eq!(c.step, Step::ScaleDown, "{at}")
        }
        _ => {}
    }
    // An active pause skips everything but a forced scale-down and a started scale-down.
    if c.pause == PauseCase::Active
        && !forced
        && c.run != Run::ScalingDown
        && !matches!(c.run, Run::NoBaseline | Run::Corrupt)
    {
        assert!(
            matches!(
                d,
                Some(Decision::Skip {
                    rule: Some(SkipRule::Paused),
                    ..
                })
            ),
            "{at}"
        );
    }
    // A hold in force for the open run: a check keeps the capacity and a scheduled scale-down
    // defers, `held until …`, without reading the gate (unless a pause skipped it first, or the
    // scale-down already started); an ended hold, or another night's, changes nothing.
    let held = matches!(
        d,
        Some(Decision::KeepCapacity { hold, .. } | Decision::DeferScaleDown { hold, .. })
            if hold.short.starts_with("held until")
    );
    if c.hold == HoldCase::Active
        && c.step != Step::ScaleUp
        && !forced
        && c.pause != PauseCase::Active
        && matches!(c.run, Run::ScalingUp | Run::ScalingUpRehearsed)
    {
        assert!(held, "{at}");
    } else {
        assert!(!held, "{at}");
    }
    if c.hold != HoldCase::Active {
        let without = run_case(&Case {
            hold: HoldCase::None,
            ..*c
        });
        assert_eq!(shape(a), shape(&without), "{at}");
    }
    // A skip date only keeps a new run from opening.
    if let Some(Decision::Skip {
        rule: Some(SkipRule::SkipDate),
        ..
    }) = d
    {
        assert!(
            c.step == Step::ScaleUp && c.run == Run::None && c.skip_date,
            "{at}"
        );
    }
}

#[test]
fn short_reasons_read_as_specified() {
    let s = scenario(false);
    let now = ts("2026-11-25T16:00:00Z");
    let busy = gate_decision(&s, Gate::Busy, now).unwrap();
    assert_eq!(
        busy.short_reason(&s.timezone),
        "busy: JobsRunning max 5 >= 1 at 00:59"
    );
    let quiet = gate_decision(&s, Gate::Quiet, now).unwrap();
    assert_eq!(
        quiet.short_reason(&s.timezone),
        "quiet 15m after min_hold: scaling down"
    );
    let deadline = gate_decision(&s, Gate::Deadline, now).unwrap();
    assert_eq!(
        deadline.short_reason(&s.timezone),
        "deadline 07:30 reached: scaling down"
    );
    let soon = gate_decision(&s, Gate::QuietTooSoon, now).unwrap();
    assert_eq!(
        soon.short_reason(&s.timezone),
        "quiet, but min_hold runs until 23:30"
    );
    let forced = gate_decision(&s, Gate::Forced, now).unwrap();
    assert_eq!(
        forced.short_reason(&s.timezone),
        "forced: scaling down without the metrics"
    );
    assert!(
        forced.evidence.fallback.is_none(),
        "a forced gate read no metrics and says nothing about missing datapoints"
    );
}

#[test]
fn a_check_continues_the_whole_scale_up_until_one_converges() {
    let s = scenario(false);
    let now = ts("2026-11-25T14:10:00Z");
    let busy = gate_decision(&s, Gate::Busy, now).unwrap();
    let run = record(Some(serde_json::json!({})));
    let keep_of = |state: &RunState, dry_run: bool| match decide(&Facts {
        scenario: &s,
        step: Step::Check,
        force: false,
        now,
        pause: None,
        hold: None,
        run: RunFacts::Open { run: &run, state },
        dry_run,
        scheduled_time: None,
    }) {
        Ruling::ReadGate(question) => match question.decide(&busy) {
            Decision::KeepCapacity { keep, .. } => keep,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let mut unfinished = state(false, false);
    unfinished.scale_up_unfinished = true;
    assert_eq!(keep_of(&unfinished, false), Keep::ScaleUp);
    assert_eq!(keep_of(&state(false, false), false), Keep::Continue);
    // A rehearsed scale-up stays observed only, converged or not.
    let mut rehearsed = state(false, true);
    rehearsed.scale_up_unfinished = true;
    assert_eq!(keep_of(&rehearsed, false), Keep::Observe);
}

/// A New York scenario with a schedule at 23:00 MON-FRI, a month-end profile at 22:00 and the
/// holiday file of Christmas Day.
fn calendar_scenario() -> Scenario {
    use crate::calendar::testing::{scenario, CHRISTMAS, MONTH_END, WEEKDAYS};
    scenario("America/New_York", WEEKDAYS, "07:30", MONTH_END, CHRISTMAS)
}

fn scale_up_at(s: &Scenario, now: &str, scheduled: Option<&str>) -> Decision {
    match decide(&Facts {
        scenario: s,
        step: Step::ScaleUp,
        force: false,
        now: ts(now),
        pause: None,
        hold: None,
        run: RunFacts::None,
        dry_run: false,
        scheduled_time: scheduled.map(ts),
    }) {
        Ruling::Decided(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_scale_up_opens_the_run_with_the_profile_of_its_night() {
    let s = calendar_scenario();
    // 2026-12-31 22:00 EST is the month-end night's scale-up.
    let Decision::OpenRun { profile } =
        scale_up_at(&s, "2026-12-31T04:00:00Z", Some("2026-12-31T04:00:00Z"))
    else {
        panic!()
    };
    assert_eq!(
        profile.map(|p| p.name),
        None,
        "04:00Z is 23:00 on the 30th: ordinary"
    );
    let Decision::OpenRun { profile } =
        scale_up_at(&s, "2027-01-01T03:00:00Z", Some("2027-01-01T03:00:00Z"))
    else {
        panic!()
    };
    let profile = profile.unwrap();
    assert_eq!(profile.name, "month-end");
    assert_eq!(profile.targets[0].night.replicas, Some(6));
    // A manual scale-up (no scheduled_time) on the month-end night opens it too.
    assert!(matches!(
        scale_up_at(&s, "2027-01-01T04:30:00Z", None),
        Decision::OpenRun { profile: Some(_) }
    ));
}

#[test]
fn a_schedule_made_for_another_kind_of_night_opens_nothing() {
    let s = calendar_scenario();
    // The month-end schedule's daily firing at 22:00 on an ordinary night (2026-12-29).
    let Decision::Skip { why, rule } =
        scale_up_at(&s, "2026-12-30T03:00:00Z", Some("2026-12-30T03:00:00Z"))
    else {
        panic!()
    };
    assert_eq!(rule, Some(SkipRule::NotTonight));
    assert!(
        why.short.starts_with("not a month-end night"),
        "{}",
        why.short
    );
    // The ordinary schedule at 23:00 on the month-end night: no second run.
    let Decision::Skip { why, .. } =
        scale_up_at(&s, "2027-01-01T04:00:00Z", Some("2027-01-01T04:00:00Z"))
    else {
        panic!()
    };
    assert!(
        why.short
            .starts_with("a month-end night: its scale-up is at 22:00"),
        "{}",
        why.short
    );
    // A scheduled firing on a Saturday (an L cron) is not one of days.
    let Decision::Skip { why, .. } =
        scale_up_at(&s, "2027-01-03T03:00:00Z", Some("2027-01-03T03:00:00Z"))
    else {
        panic!()
    };
    assert!(
        why.short.contains("not one of days (MON,TUE,WED,THU,FRI)"),
        "{}",
        why.short
    );
}

#[test]
fn a_holiday_skips_the_scale_up_with_its_name() {
    let s = calendar_scenario();
    let Decision::Skip { why, rule } = scale_up_at(&s, "2026-12-26T04:00:00Z", None) else {
        panic!()
    };
    assert_eq!(rule, Some(SkipRule::Holiday));
    assert_eq!(
        why.short,
        "holiday 2026-12-25 \"Christmas Day\": scale-up skipped"
    );
}

#[test]
fn a_scale_up_moved_by_the_spring_forward_gap_is_its_nights_scale_up() {
    let mut s = calendar_scenario();
    s.profiles.clear();
    s.schedule.as_mut().unwrap().scale_up = jiff::civil::time(2, 30, 0, 0);
    // 2026-03-09 is a Monday; 02:30 exists. On Sunday 2026-03-08 it does not, but Sunday is not
    // one of days: use every day.
    s.schedule.as_mut().unwrap().days =
        crate::schedule::DAY_NAMES.iter().map(|(_, d)| *d).collect();
    // The template's catch-up fires at 03:30 EDT (07:30Z) on the gap day.
    assert!(matches!(
        scale_up_at(&s, "2026-03-08T07:30:00Z", Some("2026-03-08T07:30:00Z")),
        Decision::OpenRun { .. }
    ));
    // 03:30 on an ordinary day is not its time.
    assert!(matches!(
        scale_up_at(&s, "2026-03-09T07:30:00Z", Some("2026-03-09T07:30:00Z")),
        Decision::Skip { .. }
    ));
}
