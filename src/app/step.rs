//! One claimed step of a scenario night: read → decide → execute.
//!
//! Under the scenario's scaling lease, [`Night`] reads the open run (through the pointer the
//! lease's write returned) and, when the decision depends on it, the batch metrics; asks the
//! state machine ([`night::decide`]); and executes the decision. It returns a [`StepOutcome`]:
//! what to answer, what to record, and the run-history write that goes with it, which the
//! pipeline makes in one place after the step ([`RunUpdate`]). The only writes made here are the
//! ones the protocol needs before the scaling calls: opening the run (its baseline) and marking
//! the scale-down started.

use super::converge::{converge, join_parts, Converged, Mode, Stopped};
use super::lease::{self, LeaseRequest, Taken};
use super::HandleError;
use crate::aws::scaling::ScalingClients;
use crate::config::Scenario;
use crate::domain::{Action, Outcome, Step};
use crate::evidence::StepEvidence;
use crate::gate::{self, MetricsFetch};
use crate::history::{OpenRun, RunRecord, RunStatus, ScenarioState};
use crate::idempotency::GuardPolicy;
use crate::night::{self, Decision, Facts, Keep, RunFacts, Why};
use crate::plan::{self, Readiness, RunState};
use crate::ports::{CallError, CallErrorKind, HistoryStore, Metrics, Scaling, StoreError};
use crate::text::{cut, hh_mm};
use async_trait::async_trait;
use jiff::Timestamp;
use std::time::Duration;

/// Runs a claimed step: the port between the pipeline (guard, recording) and the night.
#[async_trait]
pub trait StepRunner: Send + Sync {
    async fn run(&self, req: &StepRequest<'_>) -> StepOutcome;
}

/// Everything a claimed step needs, borrowed from the invocation.
pub struct StepRequest<'a> {
    pub store: &'a dyn HistoryStore,
    pub scenario: &'a Scenario,
    pub step: Step,
    /// `"force": true` of the command.
    pub force: bool,
    /// The dedup key of this delivery (recorded as `opened_by` of a run it opens).
    pub key: &'a str,
    /// The night's time: the event's rehearsal `now`, else the invocation's clock. Decisions use it.
    pub now: Timestamp,
    /// The invocation's wall clock: leases are measured on it.
    pub clock: Timestamp,
    pub deadline: Option<Timestamp>,
    /// Time left before the invocation's deadline (calls are bounded by it).
    pub remaining: Option<Duration>,
    pub dry_run: bool,
    pub guard: GuardPolicy,
}

/// The run-history write that goes with a step's result, made by the pipeline after the step.
#[derive(Debug, Clone, PartialEq)]
pub enum RunUpdate {
    /// The run's summary line (the step's short reason), and its state when it changed.
    Summary {
        run: String,
        summary: String,
        state: Option<serde_json::Value>,
    },
    /// The run is done: close it at `at` (the step's `now`) with this summary.
    Close {
        run: String,
        summary: String,
        at: Timestamp,
    },
}

/// What a step did, before it is recorded and answered.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub outcome: Outcome,
    pub run: Option<String>,
    pub actions: Vec<Action>,
    pub why: Why,
    pub evidence: StepEvidence,
    /// Set when the invocation must fail (after recording): the guard record is failed so that
    /// a retry can claim the step again.
    pub failure: Option<HandleError>,
    pub run_update: Option<RunUpdate>,
}

impl StepOutcome {
    pub fn new(outcome: Outcome, run: Option<String>, why: Why) -> StepOutcome {
        StepOutcome {
            outcome,
            run,
            actions: Vec::new(),
            why,
            evidence: StepEvidence::default(),
            failure: None,
            run_update: None,
        }
    }

    /// The run store failed: retryable when DynamoDB said so.
    pub fn store_failure(run: Option<String>, actions: Vec<Action>, e: StoreError) -> StepOutcome {
        let retryable = e.is_retryable();
        let text = e.to_string();
        StepOutcome {
            outcome: if retryable {
                Outcome::Deferred
            } else {
                Outcome::Rejected
            },
            run,
            actions,
            why: Why::new(&text, text.clone()),
            evidence: StepEvidence::default(),
            failure: Some(e.into()),
            run_update: None,
        }
    }

    fn summarize(mut self) -> StepOutcome {
        if let Some(run) = &self.run {
            self.run_update = Some(RunUpdate::Summary {
                run: run.clone(),
                summary: self.why.short.clone(),
                state: None,
            });
        }
        self
    }
}

/// The night's steps on the real scaling adapters: the production [`StepRunner`].
pub struct Night {
    scaling: ScalingClients,
}

impl Night {
    pub fn new(scaling: ScalingClients) -> Night {
        Night { scaling }
    }

    pub fn scaling(&self) -> &ScalingClients {
        &self.scaling
    }
}

#[async_trait]
impl StepRunner for Night {
    async fn run(&self, req: &StepRequest<'_>) -> StepOutcome {
        let clients = self.scaling.with_budget(req.remaining);
        let owner = uuid::Uuid::new_v4().to_string();
        let lease = LeaseRequest {
            scenario: &req.scenario.name,
            owner: &owner,
            clock: req.clock,
            deadline: req.deadline,
            policy: req.guard,
        };
        let state = match lease::take(req.store, &lease).await {
            Ok(Taken::Acquired(state)) => state,
            Ok(Taken::Held { until }) => return held(req, until),
            Err(e) => return StepOutcome::store_failure(None, Vec::new(), e),
        };
        let outcome = step(req, &clients, &clients, &state).await;
        lease::release(req.store, &req.scenario.name, &owner).await;
        outcome
    }
}

/// Another delivery holds the scaling lease: a check is skipped, another step retried.
fn held(req: &StepRequest<'_>, until: Timestamp) -> StepOutcome {
    let detail = format!(
        "another delivery is scaling scenario \"{}\" (its scaling lease runs until {until}); {}",
        req.scenario.name,
        if req.step == Step::Check {
            "this check is skipped, the next one looks again"
        } else {
            "this step will be retried"
        }
    );
    let short = format!(
        "another delivery is scaling {} until {}",
        req.scenario.name,
        until.strftime("%H:%M:%S")
    );
    let mut out = StepOutcome::new(Outcome::InProgress, None, Why::new(short, detail.clone()));
    if req.step != Step::Check {
        out.outcome = Outcome::Deferred;
        out.failure = Some(HandleError::Retryable(detail));
    }
    out
}

/// The open run as read under the scaling lease (or, for `nightshift plan`, without it).
pub struct Reading {
    pub run: Option<RunRecord>,
    /// The run's recorded state: None without a baseline, Err when it does not decode.
    pub state: Option<Result<RunState, String>>,
}

impl Reading {
    /// The open run through the state item's pointer (one consistent GetItem; none without a
    /// pointer).
    pub async fn read(
        store: &dyn HistoryStore,
        scenario: &Scenario,
        state: &ScenarioState,
    ) -> Result<Reading, StoreError> {
        let run = match &state.open_run {
            Some(id) => store.get_run(&scenario.name, id).await?,
            None => None,
        };
        let state = run.as_ref().and_then(|r| {
            r.baseline
                .as_ref()
                .map(|json| RunState::from_json(json).map_err(|e| e.to_string()))
        });
        Ok(Reading { run, state })
    }

    pub fn facts(&self) -> RunFacts<'_> {
        match (&self.run, &self.state) {
            (None, _) => RunFacts::None,
            (Some(run), None) => RunFacts::NoBaseline { run },
            (Some(run), Some(Err(error))) => RunFacts::Corrupt { run, error },
            (Some(run), Some(Ok(state))) => RunFacts::Open { run, state },
        }
    }

    pub fn run_state(&self) -> Option<&RunState> {
        self.state.as_ref().and_then(|s| s.as_ref().ok())
    }
}

/// Ask the state machine; read the gate when the decision depends on it, and ask again.
pub async fn decide(
    req: &StepRequest<'_>,
    metrics: &dyn Metrics,
    pause: Option<&crate::overrides::Pause>,
    reading: &Reading,
) -> (Decision, Option<gate::Decision>) {
    let facts = Facts {
        scenario: req.scenario,
        step: req.step,
        force: req.force,
        now: req.now,
        pause,
        run: reading.facts(),
        gate: None,
        dry_run: req.dry_run,
    };
    let decision = night::decide(&facts);
    match (&decision, &reading.run) {
        (Decision::ReadGate { fetch_metrics }, Some(run)) => {
            let verdict = read_gate(req, metrics, run, *fetch_metrics).await;
            let decision = night::decide(&Facts {
                gate: Some(&verdict),
                ..facts
            });
            (decision, Some(verdict))
        }
        _ => (decision, None),
    }
}

/// Read the open run, decide, execute.
async fn step(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    metrics: &dyn Metrics,
    state: &ScenarioState,
) -> StepOutcome {
    let reading = match Reading::read(req.store, req.scenario, state).await {
        Ok(r) => r,
        Err(e) => return StepOutcome::store_failure(None, Vec::new(), e),
    };
    if req.step == Step::Check {
        if let RunFacts::Open { run, .. } = reading.facts() {
            log_if_overdue(req, run);
        }
    }
    let (decision, verdict) = decide(req, metrics, state.pause.as_ref(), &reading).await;
    let run_state = reading.run_state();
    let run = reading.run.clone();

    // Execute.
    let gate_evidence = verdict.map(|g| g.evidence);
    match (decision, run, run_state) {
        (Decision::Skip { why, rule }, run, _) => {
            let mut out = StepOutcome::new(Outcome::Skipped, run.map(|r| r.run), why);
            out.evidence.override_rule = rule;
            if rule == Some(crate::overrides::SkipRule::Paused) {
                out.evidence.pause = state.pause.clone();
            }
            out
        }
        (Decision::Reject { why }, run, _) => {
            let mut out = StepOutcome::new(Outcome::Rejected, run.map(|r| r.run), why);
            out.failure = Some(HandleError::NonRetryable(out.why.detail.clone()));
            out
        }
        (Decision::OpenRun, _, _) => open_and_scale_up(req, scaling).await,
        (Decision::ConvergeUp { .. }, Some(run), _) => {
            let context = format!(
                "run {} was already open (opened {} by {}): re-planned against it",
                run.run, run.opened_at, run.opened_by
            );
            scale_up(req, scaling, run.run, None, context).await
        }
        (Decision::KeepCapacity { keep, hold, .. }, Some(run), Some(state)) => {
            let mut out = keep_capacity(req, scaling, &run, state.clone(), keep, hold).await;
            out.evidence.gate = gate_evidence;
            out
        }
        (Decision::DeferScaleDown { hold, .. }, Some(run), _) => {
            let mut out = StepOutcome::new(Outcome::Deferred, Some(run.run), hold);
            out.evidence.gate = gate_evidence;
            out
        }
        (Decision::StartScaleDown { rule, why, .. }, Some(run), Some(state)) => {
            let label = match rule {
                gate::Rule::Quiet => format!(
                    "quiet {}",
                    crate::text::config_duration(req.scenario.scale_down.quiet_for)
                ),
                gate::Rule::Deadline => match &gate_evidence {
                    Some(g) => format!(
                        "deadline {}",
                        hh_mm(g.deadline, Some(&req.scenario.timezone))
                    ),
                    None => "deadline".to_string(),
                },
                gate::Rule::Forced => "forced".to_string(),
            };
            let mut state = state.clone();
            if state.scale_down_started_at.is_none() && !req.dry_run {
                // From now on checks continue the scale-down and a late scale-up is out of order.
                state.scale_down_started_at = Some(req.now);
                if let Err(e) = req
                    .store
                    .update_run(
                        &req.scenario.name,
                        &run.run,
                        &why.short,
                        Some(&state.to_json()),
                    )
                    .await
                {
                    return StepOutcome::store_failure(Some(run.run.clone()), Vec::new(), e);
                }
            }
            let mut out = scale_down(req, scaling, &run, &state, label, why).await;
            out.evidence.gate = gate_evidence;
            out
        }
        (Decision::ContinueScaleDown { since, .. }, Some(run), Some(state)) => {
            let why = Why::new(
                format!(
                    "scaling down since {}",
                    hh_mm(since, Some(&req.scenario.timezone))
                ),
                format!("continuing the scale-down started at {since}"),
            );
            scale_down(req, scaling, &run, state, "scale-down".into(), why).await
        }
        // The state machine asked for the gate again, or named a run the read did not find:
        // a nightshift bug; nothing is called.
        (decision, run, _) => {
            let detail = format!(
                "nightshift bug: the state machine decided {decision:?} for what was read (open run {:?}); nothing was called, please report it",
                run.map(|r| r.run)
            );
            let mut out = StepOutcome::new(
                Outcome::Rejected,
                None,
                Why::new(
                    "nightshift bug: impossible decision, nothing called",
                    detail.clone(),
                ),
            );
            out.failure = Some(HandleError::NonRetryable(detail));
            out
        }
    }
}

/// The scale-down gate: every configured metric read once over the window it needs (none for a
/// forced scale-down), then [`gate::decide`]. A read that fails holds: an error is never taken
/// for a quiet batch.
async fn read_gate(
    req: &StepRequest<'_>,
    metrics: &dyn Metrics,
    run: &RunRecord,
    fetch_metrics: bool,
) -> gate::Decision {
    let scale_down = &req.scenario.scale_down;
    let fetched = if fetch_metrics {
        let range = gate::query_range(scale_down, req.now);
        metrics
            .fetch(&scale_down.metrics, range.from, range.to)
            .await
    } else {
        MetricsFetch::NotRead
    };
    let forced = req.force && req.step == Step::ScaleDown;
    gate::decide(req.scenario, &fetched, run.opened_at, req.now, forced)
}

/// A night still open [`crate::schedule::OVERDUE_AFTER`] past its deadline is logged with
/// `alarm = "night-overdue"`: the template's metric filter turns that line into the overdue
/// alarm (each scheduled night has a check at that time).
fn log_if_overdue(req: &StepRequest<'_>, run: &RunRecord) {
    let scale_down = &req.scenario.scale_down;
    let deadline =
        gate::deadline_instant(&req.scenario.timezone, scale_down.deadline, run.opened_at);
    let Ok(late) = req.now.duration_since(deadline).try_into() else {
        return;
    };
    let late: Duration = late;
    if late >= crate::schedule::OVERDUE_AFTER {
        tracing::warn!(
            alarm = crate::template::OVERDUE_ALARM_FIELD,
            scenario = %req.scenario.name,
            run = %run.run,
            deadline = %deadline,
            minutes_past_deadline = late.as_secs() / 60,
            "night {} of {} is still open {} min past its deadline",
            run.run,
            req.scenario.name,
            late.as_secs() / 60
        );
    }
}

/// Outcome of a step that ran to its end: `acted` when calls were made.
fn finished_outcome(conv: &Converged, otherwise: Outcome) -> Outcome {
    if conv.made > 0 {
        Outcome::Acted
    } else {
        otherwise
    }
}

/// The result of a step ended by `stopped`: rejected for a missing resource or denied access,
/// deferred (and, except for a check, failed so that it is retried) otherwise.
fn stopped_outcome(
    req: &StepRequest<'_>,
    run: Option<&str>,
    stopped: Stopped,
    conv: &mut Converged,
) -> StepOutcome {
    let (outcome, short, detail, failure) = match stopped {
        Stopped::Plan(e) => {
            let text = e.to_string();
            (Outcome::Rejected, text.clone(), text, None)
        }
        Stopped::Call(e) => {
            let short = short_call_error(&e, req.step);
            match e.kind {
                CallErrorKind::AccessDenied => (
                    Outcome::Rejected,
                    short,
                    e.to_string(),
                    Some(HandleError::NonRetryable(e.to_string())),
                ),
                _ if req.step == Step::Check => (
                    Outcome::Deferred,
                    short,
                    format!("{e}; the next check tries again"),
                    None,
                ),
                _ => {
                    let reason = format!("{e}; the step stays open and will be retried");
                    (
                        Outcome::Deferred,
                        short,
                        reason.clone(),
                        Some(HandleError::Retryable(reason)),
                    )
                }
            }
        }
    };
    let done = conv.summary(req.dry_run);
    let detail = if done.is_empty() {
        detail
    } else {
        format!("{detail} ({done})")
    };
    StepOutcome {
        outcome,
        run: run.map(str::to_string),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence: StepEvidence {
            converge: conv.evidence(req.dry_run),
            ..StepEvidence::default()
        },
        failure,
        run_update: None,
    }
}

/// `UpdateService failed (ThrottlingException): retried`: a failed call in one line.
fn short_call_error(e: &CallError, step: Step) -> String {
    let code = e.code.as_deref().unwrap_or(match e.kind {
        CallErrorKind::Retryable => "unavailable",
        CallErrorKind::AccessDenied => "AccessDenied",
        CallErrorKind::NotFound => "not found",
        _ => "failed",
    });
    match e.kind {
        CallErrorKind::AccessDenied => format!("access denied: {} on {}", e.iam_action, e.resource),
        _ if step == Step::Check => {
            format!("{} failed ({code}): the next check retries", e.operation)
        }
        _ => format!("{} failed ({code}): the step will be retried", e.operation),
    }
}

/// A scale-up with no open run: read the live state, record the baseline, open the night's run,
/// converge up from the same snapshot.
async fn open_and_scale_up(req: &StepRequest<'_>, scaling: &dyn Scaling) -> StepOutcome {
    let snapshot = match scaling.snapshot(req.scenario).await {
        Ok(s) => s,
        Err(e) => return stopped_outcome(req, None, Stopped::Call(e), &mut Converged::default()),
    };
    let baseline = match plan::capture_baseline(req.scenario, &snapshot, req.now) {
        Ok(b) => b,
        // A configured resource does not exist: no run is opened, nothing is called.
        Err(e) => {
            let text = e.to_string();
            return StepOutcome::new(Outcome::Rejected, None, Why::new(&text, text.clone()));
        }
    };
    let state = RunState::new(baseline, req.dry_run);
    match open_run(req, &state).await {
        Ok((run, true)) => {
            let context = format!("opened run {run} and recorded its baseline");
            scale_up(req, scaling, run, Some(snapshot), context).await
        }
        Ok((run, false)) => {
            let context =
                format!("run {run} was opened by a concurrent delivery: re-planned against it");
            scale_up(req, scaling, run, None, context).await
        }
        Err(e) => StepOutcome::store_failure(None, Vec::new(), e),
    }
}

/// Open the night's run: id = the scenario-local date, `.2`, `.3`… when taken. Returns the run
/// id and whether this delivery opened it (false: a concurrent delivery had).
async fn open_run(req: &StepRequest<'_>, state: &RunState) -> Result<(String, bool), StoreError> {
    let night = night_of(req.scenario, req.now);
    for n in 1..=99 {
        let id = run_id(&night, n);
        let record = RunRecord {
            scenario: req.scenario.name.clone(),
            run: id.clone(),
            status: RunStatus::Open,
            opened_at: req.now,
            closed_at: None,
            opened_by: req.key.to_string(),
            baseline: Some(state.to_json()),
            summary: if state.opened_by_dry_run {
                "scale-up (dry run)".into()
            } else {
                "scaling up".into()
            },
        };
        match req.store.open_run(&record).await? {
            OpenRun::Opened => return Ok((id, true)),
            OpenRun::AlreadyOpen(other) => return Ok((other, false)),
            OpenRun::RunIdTaken => continue,
        }
    }
    Err(StoreError::Permanent(format!(
        "scenario {} already has 99 runs for the night of {night}",
        req.scenario.name
    )))
}

/// The night a run opened at `now` belongs to: the scenario-local date.
pub fn night_of(scenario: &Scenario, now: Timestamp) -> String {
    now.to_zoned_datetime(scenario.timezone.clone())
        .date()
        .to_string()
}

/// The `n`th run id of a night: `2026-11-25`, `2026-11-25.2`, …
pub fn run_id(night: &str, n: u32) -> String {
    if n == 1 {
        night.to_string()
    } else {
        format!("{night}.{n}")
    }
}

/// Converge up against `run` (a fresh or an open run).
async fn scale_up(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: String,
    first: Option<plan::Snapshot>,
    context: String,
) -> StepOutcome {
    let mut conv = converge(
        scaling,
        req.scenario,
        &run,
        Mode::ScaleUp,
        req.dry_run,
        first,
    )
    .await;
    if let Some(stopped) = conv.stopped.take() {
        let out = stopped_outcome(req, Some(&run), stopped, &mut conv);
        return out.summarize();
    }
    let at_target = conv.made == 0 && !req.dry_run && conv.is_done(false);
    let outcome = finished_outcome(
        &conv,
        if at_target || req.dry_run {
            Outcome::Skipped
        } else {
            Outcome::Deferred
        },
    );
    let detail = join_parts([
        format!("scale-up: {context}"),
        if at_target {
            "already at the night's capacity, nothing to call".to_string()
        } else {
            String::new()
        },
        conv.summary(req.dry_run),
    ]);
    let short = if at_target {
        "already at the night's capacity".to_string()
    } else {
        format!("scaling up: {}", conv.short(req.dry_run))
    };
    StepOutcome {
        outcome,
        run: Some(run),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence: StepEvidence {
            converge: conv.evidence(req.dry_run),
            ..StepEvidence::default()
        },
        failure: None,
        run_update: None,
    }
    .summarize()
}

/// A check while the gate holds: continue the scale-up (or only observe a rehearsed one), and
/// report whether the night's capacity is ready.
async fn keep_capacity(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: &RunRecord,
    mut state: RunState,
    keep: Keep,
    hold: Why,
) -> StepOutcome {
    let mode = match keep {
        Keep::Continue => Mode::Continue,
        Keep::Observe => Mode::Observe,
    };
    let mut conv = converge(scaling, req.scenario, &run.run, mode, req.dry_run, None).await;
    if let Some(stopped) = conv.stopped.take() {
        return stopped_outcome(req, Some(&run.run), stopped, &mut conv);
    }
    let ready = match &conv.snapshot {
        Some(snapshot) => plan::readiness(req.scenario, snapshot),
        None => Readiness {
            ready: false,
            waiting: vec!["no snapshot".into()],
            degraded: Vec::new(),
        },
    };
    let mut evidence = StepEvidence {
        converge: conv.evidence(req.dry_run),
        ..StepEvidence::default()
    };
    let mut run_update = None;
    let (ready_line, ready_short) = if ready.ready {
        let first_time = state.ready_at.is_none();
        let ready_at = *state.ready_at.get_or_insert(req.now);
        let secs = ready_at.duration_since(run.opened_at).as_secs();
        evidence.ready_at = Some(ready_at);
        evidence.time_to_ready_s = Some(secs);
        let line = format!(
            "capacity ready since {ready_at} ({secs}s after scale-up){}",
            if ready.degraded.is_empty() {
                String::new()
            } else {
                format!(", degraded: {}", ready.degraded.join("; "))
            }
        );
        let short = format!(
            "capacity ready {} after scale-up{}",
            crate::text::human_duration(jiff::SignedDuration::from_secs(secs)),
            if ready.degraded.is_empty() {
                ""
            } else {
                " (degraded)"
            }
        );
        if first_time {
            // The summary says when the capacity came up; the state keeps `ready_at`.
            run_update = Some(RunUpdate::Summary {
                run: run.run.clone(),
                summary: cut(&short, night::SHORT_REASON_MAX),
                state: Some(state.to_json()),
            });
        }
        (line, "ready".to_string())
    } else {
        (
            format!("capacity not ready: {}", ready.waiting.join("; ")),
            "not ready".to_string(),
        )
    };
    evidence.readiness = Some(ready);
    let detail = join_parts([
        ready_line,
        conv.summary(req.dry_run),
        format!("scale-down: {}", hold.detail),
    ]);
    StepOutcome {
        outcome: finished_outcome(&conv, Outcome::Deferred),
        run: Some(run.run.clone()),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(format!("{ready_short}; {}", hold.short), detail),
        evidence,
        failure: None,
        run_update,
    }
}

/// Restore the run's baseline; close the run once nothing is left. `label` names what set the
/// scale-down going (`quiet 15m`, `deadline 07:30`, `forced`, `scale-down`).
async fn scale_down(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: &RunRecord,
    state: &RunState,
    label: String,
    why: Why,
) -> StepOutcome {
    let mut conv = converge(
        scaling,
        req.scenario,
        &run.run,
        Mode::ScaleDown(&state.baseline),
        req.dry_run,
        None,
    )
    .await;
    if let Some(stopped) = conv.stopped.take() {
        let mut out = stopped_outcome(req, Some(&run.run), stopped, &mut conv);
        out.evidence.decision = Some(why.detail.clone());
        return out.summarize();
    }
    let done = conv.is_done(req.dry_run);
    let summary = conv.summary(req.dry_run);
    let evidence = StepEvidence {
        converge: conv.evidence(req.dry_run),
        decision: Some(why.detail.clone()),
        ..StepEvidence::default()
    };
    let (outcome, short, detail, run_update) = if done {
        let (restored, short) = if !conv.drift.is_empty() {
            (
                "restored except the drifted values left alone",
                "restored except drift",
            )
        } else if conv.made == 0 {
            ("already at the baseline", "already at baseline")
        } else {
            ("back at the baseline", "back at baseline")
        };
        let detail = format!(
            "scale-down ({}): {}; run {} closed",
            why.detail,
            join_parts([summary, restored.to_string()]),
            run.run
        );
        let short = format!("{label}: {short}, run closed");
        let close = RunUpdate::Close {
            run: run.run.clone(),
            summary: cut(&short, night::SHORT_REASON_MAX),
            at: req.now,
        };
        (
            finished_outcome(&conv, Outcome::Skipped),
            short,
            detail,
            Some(close),
        )
    } else {
        let detail = format!(
            "scale-down ({}) in progress: {summary}; run {} stays open and a later check or scale-down continues it",
            why.detail, run.run
        );
        let progress = conv.short(req.dry_run);
        let short = if progress.is_empty() {
            why.short.clone()
        } else {
            format!("{label}: scaling down, {progress}")
        };
        let otherwise = if req.dry_run {
            Outcome::Skipped
        } else {
            Outcome::Deferred
        };
        let update = RunUpdate::Summary {
            run: run.run.clone(),
            summary: cut(&short, night::SHORT_REASON_MAX),
            state: None,
        };
        (
            finished_outcome(&conv, otherwise),
            short,
            detail,
            Some(update),
        )
    };
    StepOutcome {
        outcome,
        run: Some(run.run.clone()),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence,
        failure: None,
        run_update,
    }
}
