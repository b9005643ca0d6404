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
use super::request::{HandleError, StepOutcome, StepRequest, StepRunner};
use crate::aws::scaling::ScalingClients;
use crate::config::Scenario;
use crate::domain::{Outcome, Step};
use crate::gate::{self, MetricsFetch};
use crate::history::{RunRecord, ScenarioState};
use crate::night::{self, Decision, Facts, Ruling, RunFacts, Why};
use crate::overrides::SkipRule;
use crate::plan::RunState;
use crate::ports::{HistoryStore, Metrics, Scaling, StoreError};
use crate::text::hh_mm;
use async_trait::async_trait;
use jiff::Timestamp;
use std::time::Duration;

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
        dry_run: req.dry_run,
        scheduled_time: req.scheduled_time,
    };
    match night::decide(&facts) {
        Ruling::Decided(Decision::Skip { why, rule }) => {
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

/// The scenario as the open run's night sees it: the profile recorded when the run opened
/// applied to the scenario. None for an ordinary night (or no open run): the scenario itself.
/// Read from the run, never from today's calendar: a config changed during the night does not
/// change the night's profile.
pub fn night_scenario(scenario: &Scenario, reading: &Reading) -> Option<Scenario> {
    let profile = reading.run_state()?.profile.as_ref()?;
    Some(scenario.for_night(Some(profile)))
}

/// Ask the state machine; read the gate when the decision depends on it, and let the gate's
/// question decide with its verdict.
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
        dry_run: req.dry_run,
        scheduled_time: req.scheduled_time,
    };
    match night::decide(&facts) {
        Ruling::Decided(decision) => (decision, None),
        Ruling::ReadGate(question) => {
            let verdict = read_gate(req, metrics, &question.run, question.fetch_metrics).await;
            (question.decide(&verdict), Some(verdict))
        }
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
    let night = night_scenario(req.scenario, &reading);
    let req = &req.for_night(night.as_ref().unwrap_or(req.scenario));
    if req.step == Step::Check {
        if let RunFacts::Open { run, .. } = reading.facts() {
            log_if_overdue(req, run);
        }
    }
    let (decision, verdict) = decide(req, metrics, state, &reading).await;

    // Execute.
    let gate_evidence = verdict.map(|g| g.evidence);
    // The night's profile, named in the step's evidence (and so in `show` and its events).
    let profile = match &decision {
        Decision::OpenRun { profile } => profile.as_ref().map(|p| p.name.clone()),
        _ => reading
            .run_state()
            .and_then(|s| s.profile.as_ref())
            .map(|p| p.name.clone()),
    };
    let mut out = match decision {
        Decision::Skip { why, rule } => {
            let run = reading.run.map(|r| r.run);
            let mut out = StepOutcome::new(Outcome::Skipped, run, why);
            out.evidence.override_rule = rule;
            if rule == Some(SkipRule::Paused) {
                out.evidence.pause = state.pause.clone();
            }
            out
        }
        Decision::Reject { why } => {
            let run = reading.run.map(|r| r.run);
            let mut out = StepOutcome::new(Outcome::Rejected, run, why);
            out.failure = Some(HandleError::NonRetryable(out.why.detail.clone()));
            out
        }
        Decision::OpenRun { profile } => {
            let night = req.scenario.for_night(profile.as_ref());
            open_and_scale_up(&req.for_night(&night), scaling, profile).await
        }
        Decision::ConvergeUp { run, state } => {
            let context = format!(
                "run {} was already open (opened {} by {}): re-planned against it",
                run.run, run.opened_at, run.opened_by
            );
            scale_up(req, scaling, run.run, None, context, Some(state)).await
        }
        Decision::KeepCapacity {
            run,
            state,
            keep,
            hold,
        } => {
            let mut out = keep_capacity(
                req,
                scaling,
                &run,
                state,
                keep,
                hold,
                gate_evidence.as_ref(),
            )
            .await;
            out.evidence.gate = gate_evidence;
            out
        }
        Decision::DeferScaleDown { run, hold } => {
            let mut out = StepOutcome::new(Outcome::Deferred, Some(run.run), hold);
            out.evidence.gate = gate_evidence;
            out
        }
        Decision::StartScaleDown {
            run,
            mut state,
            rule,
            why,
        } => {
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
        Decision::ContinueScaleDown { run, state, since } => {
            let why = Why::new(
                format!(
                    "scaling down since {}",
                    hh_mm(since, Some(&req.scenario.timezone))
                ),
                format!("continuing the scale-down started at {since}"),
            );
            scale_down(req, scaling, &run, &state, "scale-down".into(), why).await
        }
    };
    out.evidence.profile = profile;
    out
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
