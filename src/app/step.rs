//! One claimed step of a scenario night: read → decide → execute.
//!
//! Under the scenario's scaling lease, [`Night`] reads the open run (through the pointer the
//! lease's write returned) and, when the decision depends on it, the batch metrics; asks the
//! state machine ([`night::decide`]); and executes the decision. It returns a [`StepOutcome`]:
//! what to answer, what to record, and the run-history write that goes with it, which the
//! pipeline makes in one place after the step ([`RunUpdate`]). The only writes made here are the
//! ones the protocol needs before the scaling calls: opening the run (its baseline) and marking
//! the scale-down started.

use super::execute::{keep_capacity, open_and_scale_up, scale_down, scale_up};
use super::lease::{self, LeaseRequest, Taken};
use super::HandleError;
use crate::aws::scaling::ScalingClients;
use crate::config::Scenario;
use crate::domain::{Action, Outcome, Step};
use crate::evidence::StepEvidence;
use crate::gate::{self, MetricsFetch};
use crate::history::{RunRecord, ScenarioState};
use crate::idempotency::GuardPolicy;
use crate::night::{self, Decision, Facts, RunFacts, Why};
use crate::plan::RunState;
use crate::ports::{HistoryStore, Metrics, Scaling, StoreError};
use crate::text::hh_mm;
use async_trait::async_trait;
use jiff::Timestamp;
use std::time::Duration;

/// Runs a claimed step: the port between the pipeline (guard, recording) and the night.
#[async_trait]
pub trait StepRunner: Send + Sync {
    async fn run(&self, req: &StepRequest<'_>) -> StepOutcome;

    /// What this step answers when the scenario has no open run, no pause and no live scaling
    /// lease, if that answer needs no read at all (a check: nothing to check). The pipeline
    /// records it on exactly that condition in one write, and runs the step when the condition
    /// fails. None (the default): always run the step.
    fn without_open_run(&self, req: &StepRequest<'_>) -> Option<StepOutcome> {
        let _ = req;
        None
    }
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
    /// The owner of the scenario's scaling lease this step holds: the pipeline releases it with
    /// the step's final writes.
    pub scaling_lease: Option<String>,
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
            scaling_lease: None,
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
            scaling_lease: None,
        }
    }

    /// The run's summary becomes this outcome's short reason.
    pub(super) fn summarize(mut self) -> StepOutcome {
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
        // A scenario in another region or account has clients of its own (built once, kept).
        let clients = match self.scaling.for_scenario(req.scenario).await {
            Ok(clients) => clients.with_budget(req.remaining),
            Err(e) => {
                let mut out = StepOutcome::new(Outcome::Rejected, None, Why::new(&e, e.clone()));
                out.failure = Some(HandleError::NonRetryable(e));
                return out;
            }
        };
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
        let mut outcome = step(req, &clients, &clients, &state).await;
        // Released by the pipeline, with the step's final writes.
        outcome.scaling_lease = Some(owner);
        outcome
    }

    fn without_open_run(&self, req: &StepRequest<'_>) -> Option<StepOutcome> {
        check_without_open_run(req)
    }
}

/// A check's answer with no open run and no pause: the state machine's skip, from the config and
/// the time alone.
fn check_without_open_run(req: &StepRequest<'_>) -> Option<StepOutcome> {
    if req.step != Step::Check {
        return None;
    }
    let facts = Facts {
        scenario: req.scenario,
        step: req.step,
        force: req.force,
        now: req.now,
        pause: None,
        // A hold belongs to an open run: with none, it changes nothing.
        hold: None,
        run: RunFacts::None,
        gate: None,
        dry_run: req.dry_run,
    };
    match night::decide(&facts) {
        Decision::Skip { why, rule } => {
            let mut out = StepOutcome::new(Outcome::Skipped, None, why);
            out.evidence.override_rule = rule;
            Some(out)
        }
        _ => None,
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
    overrides: &ScenarioState,
    reading: &Reading,
) -> (Decision, Option<gate::Decision>) {
    let facts = Facts {
        scenario: req.scenario,
        step: req.step,
        force: req.force,
        now: req.now,
        pause: overrides.pause.as_ref(),
        hold: overrides.hold.as_deref(),
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
    let (decision, verdict) = decide(req, metrics, state, &reading).await;
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
        (Decision::ConvergeUp { .. }, Some(run), state) => {
            let context = format!(
                "run {} was already open (opened {} by {}): re-planned against it",
                run.run, run.opened_at, run.opened_by
            );
            scale_up(req, scaling, run.run, None, context, state.cloned()).await
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
            // Recorded with the start below, so that the close can say why (notify, report).
            state.scale_down_rule.get_or_insert(rule);
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
