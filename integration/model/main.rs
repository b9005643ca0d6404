//! Model check of nightshift's exactly-once protocol (RELIABILITY.md): the claim, the lease takeover,
//! the owner-checked complete and fail, and the per-scenario scaling lease, over every
//! interleaving of a few deliveries with crashes, lost answers, clock skew and time passing,
//! exhaustively to the bound each check prints.
//!
//! `cargo test --test model -- --nocapture --test-threads 1` prints, per check, the bound, the
//! states explored, the time and each property's verdict, and the counterexample traces of the
//! mutants and findings. `NIGHTSHIFT_MODEL_DEEP=1` runs the production checks at a larger bound.
//!
//! protocol.rs is the model (whose decisions are nightshift's own code), liveness.rs the
//! "completion stays reachable" check, this file the runner and the tests.
//!
//! Measured on the 2-core machine (debug build, as CI runs it): the default run explores
//! 106,635 (same key) and 437,958 (two keys) states exhaustively, with the mutants and findings
//! about 45 s in all. The deep run (`NIGHTSHIFT_MODEL_DEEP=1 cargo test --test model --
//! --nocapture production`) explores 1,215,625 states (same key: time to t=9, three attempts
//! per delivery, default lease 2) and 853,495 states (two keys: time to t=7, default lease 2),
//! 250 s wall for both in parallel, 1.9 GB peak memory; every property holds.
//!
//! What the model merges, and why it is sound: a crash before the claim is a delivery that
//! comes later (no write happened), so it is not enumerated; recording the event and completing
//! the step are one action, because event records are append-only history that no decision
//! reads (a crash between them leaves one more history row and is otherwise a crash before the
//! completion); the claim is one atomic step, because DynamoDB returns the blocking item with the
//! failed write (ALL_OLD) and the pure rule that classifies it is the one that refused it, so the
//! guard's second round never runs. Only the scale-up step is modelled; check and scale-down go
//! through the same claim and lease code with other plans.

mod liveness;
mod protocol;

use protocol::{
    Action, Cfg, Mutant, Phase, ProtocolModel, Redelivery, Spec, Stage, State, ACTIONS,
};
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::fmt::Write as _;
use std::time::Instant;

fn deep() -> bool {
    std::env::var("NIGHTSHIFT_MODEL_DEEP").is_ok_and(|v| v == "1")
}

fn spec(key: u8, payload: u8, skew: i8) -> Spec {
    Spec { key, payload, skew }
}

/// The default bound, in two shapes of two deliveries each: `same_key` (two deliveries of one
/// event: same dedup key and payload, concurrent) and `two_keys` (two events of one scenario:
/// different dedup keys, e.g. the schedule's scale-up and a manual one). One crash and one lost
/// answer anywhere; each delivery delivered at most twice.
fn base(name: &'static str) -> Cfg {
    Cfg {
        name,
        deliveries: vec![spec(0, 0, 0), spec(0, 0, 0)],
        timeout: 2,
        default_lease: 1,
        retry_delay: 1,
        receive_by: 1,
        max_time: 6,
        max_crashes: 1,
        max_lost_answers: 1,
        calls: 1,
        redelivery: Redelivery::UntilDone { attempts: 2 },
        mutant: None,
        takeover_margin: 0,
        in_progress_is_error: false,
    }
}

fn skewed_same_key(name: &'static str) -> Cfg {
    Cfg {
        deliveries: vec![spec(0, 0, 0), spec(0, 0, 1)],
        ..base(name)
    }
}

fn two_keys(name: &'static str) -> Cfg {
    Cfg {
        deliveries: vec![spec(0, 0, 0), spec(1, 0, 0)],
        ..base(name)
    }
}

/// The liveness horizon: a dead holder's scaling lease ends within `timeout + default_lease`
/// ticks of its start (taken at the deadline, it gets the default lease), and a redelivery comes
/// `retry_delay` later.
fn horizon(cfg: &Cfg) -> u8 {
    cfg.timeout + cfg.default_lease + cfg.retry_delay
}

struct Verdict {
    name: &'static str,
    expectation: Expectation,
    /// The counterexample (always) or example (sometimes), as (action taken, state reached).
    found: Option<Vec<(Option<Action>, State)>>,
}

impl Verdict {
    fn holds(&self) -> bool {
        match self.expectation {
            Expectation::Always | Expectation::Eventually => self.found.is_none(),
            Expectation::Sometimes => self.found.is_some(),
        }
    }
}

struct Outcome {
    model: ProtocolModel,
    states: usize,
    verdicts: Vec<Verdict>,
    liveness: Option<liveness::Liveness>,
}

impl Outcome {
    fn verdict(&self, name: &str) -> &Verdict {
        self.verdicts
            .iter()
            .find(|v| v.name.starts_with(name))
            .unwrap_or_else(|| panic!("no property {name}"))
    }

    fn counterexample(&self, name: &str) -> &[(Option<Action>, State)] {
        self.verdict(name).found.as_deref().unwrap_or_else(|| {
            panic!(
                "no counterexample for \"{name}\" in {}",
                self.model.cfg.name
            )
        })
    }
}

fn to_steps(path: stateright::Path<State, Action>) -> Vec<(Option<Action>, State)> {
    let mut out = Vec::new();
    let mut taken = None;
    for (state, action) in path.into_vec() {
        out.push((taken, state));
        taken = action;
    }
    out
}

/// Explore `cfg` exhaustively (or until `stop_at` has a discovery), then, if asked, the
/// liveness check; print the bound, the figures and every verdict.
fn run(cfg: Cfg, stop_at: Option<&'static str>, with_liveness: bool) -> Outcome {
    // One block per check, printed at once: the tests run in parallel.
    let mut text = String::new();
    macro_rules! log {
        ($($arg:tt)*) => {
            writeln!(text, $($arg)*).expect("writing to a String")
        };
    }
    log!("\n=== model check: {} ===", cfg.name);
    log!("bound: {}", cfg.bound());
    if let Some(m) = cfg.mutant {
        log!("mutant: {m:?}");
    }
    let started = Instant::now();
    let model = ProtocolModel { cfg: cfg.clone() };
    let properties = model.properties();
    let mut builder = model.checker().threads(2);
    if let Some(name) = stop_at {
        builder = builder.finish_when(HasDiscoveries::AnyOf(vec![name].into_iter().collect()));
    }
    let checker = builder.spawn_bfs().join();
    let states = checker.unique_state_count();
    let verdicts: Vec<Verdict> = properties
        .iter()
        .map(|p| Verdict {
            name: p.name,
            expectation: p.expectation.clone(),
            found: checker.discovery(p.name).map(to_steps),
        })
        .collect();
    let model = ProtocolModel { cfg: cfg.clone() };
    let liveness = with_liveness.then(|| liveness::check(&model, horizon(&cfg)));
    let seconds = started.elapsed().as_secs_f64();
    log!(
        "states explored: {states} unique (stateright BFS{}), {:.1} s",
        if stop_at.is_some() {
            ", stopped at the first counterexample"
        } else {
            ", exhaustive"
        },
        seconds
    );
    for v in &verdicts {
        let kind = match v.expectation {
            Expectation::Always => "always",
            Expectation::Eventually => "eventually",
            Expectation::Sometimes => "sometimes",
        };
        let verdict = match (&v.expectation, v.holds()) {
            (Expectation::Sometimes, true) => "REACHED",
            (Expectation::Sometimes, false) if stop_at.is_some() => "not reached before the stop",
            (Expectation::Sometimes, false) => "NOT REACHED",
            (_, true) => "HOLDS",
            (_, false) => "VIOLATED",
        };
        let detail = match (&v.found, v.holds()) {
            (Some(path), false) => format!(" (counterexample of {} steps)", path.len() - 1),
            _ => String::new(),
        };
        log!("  [{kind:9}] {:<72} {verdict}{detail}", v.name);
    }
    if let Some(l) = &liveness {
        log!(
            "  [liveness ] {:<72} {} ({} states, {} judged, {} within {} ticks of the bound exempt)",
            "from every reachable state, completion is reachable without a crash",
            if l.stuck.is_none() { "HOLDS" } else { "VIOLATED" },
            l.states,
            l.judged,
            l.exempt,
            horizon(&cfg)
        );
    }
    println!("{text}");
    Outcome {
        model,
        states,
        verdicts,
        liveness,
    }
}

fn phase_text(model: &ProtocolModel, s: &State, d: usize) -> String {
    let del = &s.deliveries[d];
    match &del.phase {
        Phase::Waiting { .. } if del.attempts == 0 => "not delivered".into(),
        Phase::Waiting { retry_at } => format!("retry from t={retry_at}"),
        Phase::Done { answered: true } => "done (answered)".into(),
        Phase::Done { answered: false } => "done (no more deliveries)".into(),
        Phase::Running(a) => {
            let stage = match &a.stage {
                Stage::Received => "invoked".to_string(),
                Stage::Claimed => "owns the step".to_string(),
                Stage::Holding => "holds the scaling lease".to_string(),
                Stage::Executing(todo) => format!(
                    "planned [{}]",
                    todo.iter()
                        .map(|&c| ACTIONS[c as usize])
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Stage::Recording => "step done, final writes due".to_string(),
                Stage::Worked { failure, lease } => format!(
                    "{}{}",
                    if *failure { "step failed" } else { "step done" },
                    if *lease { ", lease to release" } else { "" }
                ),
            };
            format!(
                "attempt {} ({stage}, deadline t={})",
                a.token.a + 1,
                a.start + model.cfg.timeout
            )
        }
    }
}

fn ms_to_tick(ms: i64) -> i64 {
    ms / 1000 - 1_764_100_000
}

fn state_text(model: &ProtocolModel, s: &State) -> String {
    let mut parts = Vec::new();
    for (k, r) in &s.store.dedup {
        parts.push(format!(
            "DEDUP k{k}: {} owner d{}a{} p{} lease<=t{}",
            r.status.as_str(),
            r.owner.d,
            r.owner.a + 1,
            r.payload,
            ms_to_tick(r.lease_until_ms)
        ));
    }
    match (s.store.lease_owner, s.store.lease_until_ms) {
        (Some(o), Some(u)) => parts.push(format!(
            "STATE lease: d{}a{} until t{}",
            o.d,
            o.a + 1,
            ms_to_tick(u)
        )),
        _ => parts.push("STATE lease: free".into()),
    }
    parts.push(format!(
        "AWS: {}",
        ACTIONS[..model.cfg.calls as usize]
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{a} x{}", s.world.executed[i]))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let dels: Vec<String> = (0..s.deliveries.len())
        .map(|d| format!("d{d}: {}", phase_text(model, s, d)))
        .collect();
    format!("{}\n        {}", parts.join(" | "), dels.join("; "))
}

fn action_text(model: &ProtocolModel, a: Action) -> String {
    let who = |d: u8| {
        let sp = model.cfg.deliveries[d as usize];
        format!(
            "d{d} (key k{}, payload p{}, clock {:+})",
            sp.key, sp.payload, sp.skew
        )
    };
    match a {
        Action::Tick => "time passes".into(),
        Action::Deliver(d) => format!("{} is invoked", who(d)),
        Action::Claim(d) => format!("{} claims the step (Guard::claim)", who(d)),
        Action::AcquireLease(d) => format!("{} takes the scaling lease", who(d)),
        Action::Snapshot(d) => format!("{} reads AWS and plans", who(d)),
        Action::Execute { d, lost: false } => format!("{} makes its next call", who(d)),
        Action::Execute { d, lost: true } => {
            format!(
                "{} makes its next call: it takes effect, the answer is lost",
                who(d)
            )
        }
        Action::RecordTogether(d) => format!(
            "{} writes the event, the step's result and the lease's release in one transaction",
            who(d)
        ),
        Action::ReleaseLease(d) => format!("{} releases the scaling lease", who(d)),
        Action::Finish(d) => format!("{} records the event and completes/fails the step", who(d)),
        Action::Crash(d) => format!("{} crashes", who(d)),
    }
}

fn print_trace(title: &str, model: &ProtocolModel, path: &[(Option<Action>, State)]) {
    let mut text = format!("--- {title} ({} steps) ---\n", path.len() - 1);
    for (i, (action, state)) in path.iter().enumerate() {
        let line = match action {
            None => format!("  {i:2}. t={} initial", state.t),
            Some(a) => format!("  {i:2}. t={} {}", state.t, action_text(model, *a)),
        };
        writeln!(text, "{line}\n        {}", state_text(model, state))
            .expect("writing to a String");
    }
    println!("{text}");
}

/// The safety properties every production configuration must hold.
const SAFETY: [&str; 7] = [
    "FailoverDBCluster",
    "a COMPLETED dedup record",
    "no two live deliveries",
    "a delivery whose claim was taken over",
    "a delivery whose scaling lease was taken over",
    "a dedup record is never taken over",
    "the night's run",
];

fn assert_safe(out: &Outcome) {
    for name in SAFETY {
        let v = out.verdict(name);
        if let Some(path) = &v.found {
            print_trace(v.name, &out.model, path);
            panic!("{}: \"{}\" is violated", out.model.cfg.name, v.name);
        }
    }
}

fn check_production(cfg: Cfg) -> Outcome {
    let out = run(cfg, None, true);
    assert_safe(&out);
    for name in ["an expired or failed claim", "every step completes"] {
        assert!(
            out.verdict(name).holds(),
            "{name} was never reached: the model is vacuous"
        );
    }
    let l = out.liveness.as_ref().expect("liveness ran");
    if let Some(path) = &l.stuck {
        print_trace("stuck: completion unreachable", &out.model, path);
        panic!("liveness violated");
    }
    assert!(l.judged > 1000, "liveness judged {} states only", l.judged);
    assert!(out.states > 1000, "a real state space: {}", out.states);
    out
}

#[test]
fn production_protocol_same_key_is_safe_and_live_to_the_bound() {
    if deep() {
        check_production(Cfg {
            max_time: 9,
            default_lease: 2,
            redelivery: Redelivery::UntilDone { attempts: 3 },
            ..base("production, deep bound: two deliveries of one event (same key)")
        });
    } else {
        check_production(Cfg {
            max_time: 7,
            ..base("production: two deliveries of one event (same key)")
        });
    }
}

#[test]
fn production_protocol_two_keys_is_safe_and_live_to_the_bound() {
    if deep() {
        check_production(Cfg {
            max_time: 7,
            default_lease: 2,
            ..two_keys("production, deep bound: two events of one scenario (different keys)")
        });
    } else {
        check_production(two_keys(
            "production: two events of one scenario (different keys)",
        ));
    }
}

fn mutant(m: Mutant, property: &'static str) -> Outcome {
    let mut cfg = match m {
        Mutant::NoOwnerOnComplete => skewed_same_key("mutant: no owner condition on complete"),
        Mutant::LeaseFromEventClock => {
            two_keys("mutant: scaling lease expiry from the event's clock")
        }
        Mutant::TakeoverOnDifferentPayload => Cfg {
            deliveries: vec![spec(0, 0, 0), spec(0, 1, 0)],
            ..base("mutant: takeover allowed on a different payload")
        },
    };
    cfg.mutant = Some(m);
    let full = cfg
        .clone()
        .mutant
        .map(|_| ProtocolModel { cfg: cfg.clone() })
        .expect("a mutant");
    let name = full
        .properties()
        .into_iter()
        .map(|p| p.name)
        .find(|n| n.starts_with(property))
        .expect("a property");
    let out = run(cfg, Some(name), false);
    let path = out.counterexample(property);
    print_trace(&format!("counterexample: {name}"), &out.model, path);
    out
}

#[test]
fn mutant_no_owner_condition_on_complete_is_caught() {
    // The owner condition matters when a holder outlives its claim: here a taker whose clock
    // runs a tick ahead. Production holds the property on this very configuration.
    let prop = "a delivery whose claim was taken over does not complete or fail the step";
    let production = run(
        Cfg {
            max_lost_answers: 0,
            ..skewed_same_key("mutant's baseline: production rules, same key, taker's clock +1")
        },
        Some(prop),
        false,
    );
    assert!(production.verdict(prop).holds());
    mutant(
        Mutant::NoOwnerOnComplete,
        "a delivery whose claim was taken over",
    );
}

#[test]
fn mutant_lease_expiry_from_the_wrong_clock_is_caught() {
    let out = mutant(Mutant::LeaseFromEventClock, "no two live deliveries");
    assert!(out.states > 0);
}

#[test]
fn mutant_takeover_on_a_different_payload_is_caught() {
    mutant(
        Mutant::TakeoverOnDifferentPayload,
        "a dedup record is never taken over",
    );
}

/// Finding 1: the takeover conditions compare the stored expiry with the taker's own clock, and
/// the holder acts until its deadline on Lambda's clock. A taker whose clock runs ahead by the
/// skew takes the lease over while the holder is still alive.
#[test]
fn finding_clock_skew_lets_a_taker_in_while_the_holder_is_alive() {
    let mut cfg = two_keys("finding: one delivery's clock runs 1 tick ahead (production rules)");
    cfg.deliveries[1].skew = 1;
    let out = run(
        cfg.clone(),
        Some("no two live deliveries hold the scenario's scaling lease at once"),
        false,
    );
    let path = out.counterexample("no two live deliveries");
    print_trace(
        "counterexample: two live lease holders under clock skew",
        &out.model,
        path,
    );

    // And the harm: the non-idempotent call takes effect twice.
    let failover = "FailoverDBCluster (not idempotent) takes effect at most once per run";
    let doubled = run(cfg.clone(), Some(failover), false);
    print_trace(
        "counterexample: FailoverDBCluster twice under clock skew (production rules)",
        &doubled.model,
        doubled.counterexample("FailoverDBCluster"),
    );

    // The fix evaluated on the same model: take over only when the lease ended more than the
    // skew bound ago (the conditions evaluated at now - margin).
    cfg.name = "finding, fix evaluated: takeover margin = skew bound (1 tick), no crash";
    cfg.takeover_margin = 1;
    cfg.max_crashes = 0;
    cfg.max_lost_answers = 0;
    let fixed = run(cfg, None, false);
    assert_safe(&fixed);
}

/// Finding 2: under Lambda's own retry rule an `in-progress` answer is a success, so a crash
/// before the deadline followed by a retry inside the dead holder's lease ends the delivery:
/// the record stays IN_PROGRESS and the step never runs.
#[test]
fn finding_a_crashed_holder_strands_its_step_when_the_retry_comes_inside_its_lease() {
    let mut cfg = base("finding: Lambda's retry rule, retry delay (1) < timeout (2)");
    cfg.redelivery = Redelivery::Lambda { retries: 2 };
    cfg.max_lost_answers = 0;
    let out = run(cfg.clone(), None, true);
    assert_safe(&out);
    let stuck = out
        .liveness
        .as_ref()
        .and_then(|l| l.stuck.clone())
        .expect("the checker finds the stranded step");
    print_trace(
        "stuck: no completion is reachable from the last state",
        &out.model,
        &stuck,
    );
    let last = &stuck.last().expect("a path").1;
    assert!(
        last.store
            .dedup
            .values()
            .any(|r| r.status == nightshift::idempotency::Status::InProgress)
            || last
                .deliveries
                .iter()
                .all(|d| matches!(d.phase, Phase::Done { .. })),
        "the stuck state has no delivery left to finish the step"
    );

    // The same protocol is live when Lambda's first retry comes after the timeout.
    cfg.name = "finding, condition evaluated: retry delay (3) > timeout (2)";
    cfg.retry_delay = 3;
    cfg.max_time = 9;
    let ok = run(cfg, None, true);
    assert_safe(&ok);
    let l = ok.liveness.as_ref().expect("liveness ran");
    if let Some(path) = &l.stuck {
        print_trace("stuck", &ok.model, path);
        panic!("liveness violated with retry delay > timeout");
    }
}
