//! The shell both binaries call: parse → resolve scenario → guard → act → record → respond.
//!
//! `bootstrap` (Lambda) and `nightshift invoke` (CLI) run every event through [`App::handle`], so
//! a rehearsal on a laptop exercises the exact production path.

use crate::aws::dynamodb::DynamoStore;
use crate::aws::scaling::{CallError, CallErrorKind, ScalingClients};
use crate::aws::Timeouts;
use crate::config::{CompletionMatcher, Config, Scenario};
use crate::domain::{Action, Outcome, Response, Step};
use crate::event::{self, Completion, EventKind, InboundEvent};
use crate::gate;
use crate::history::{EventRecord, HistoryStore, OpenRun, RunRecord, RunStatus, ScalingLease};
use crate::idempotency::{
    Claim, ClaimRequest, DedupId, FinishError, Guard, GuardPolicy, StoreError,
};
use crate::overrides::{self, Pause, RunPhase, StepFacts};
use crate::plan::safety::{self, SafetyContext, Vetted, Violation};
use crate::plan::{
    self, Baseline, Call, Plan, PlanError, Readiness, RunState, ScaleDownDecision, Snapshot,
};
use jiff::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

mod preview;
pub use preview::{Decision, PauseView, Preview, PreviewCall, PreviewError};

/// Process-wide settings read from the environment once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV` (`prod` refuses rehearsal-only inputs such as `"now"`). Not `ENV`: that name
    /// misbehaved in the system nightshift replaces.
    pub app_env: Option<String>,
    /// `NIGHTSHIFT_DRY_RUN=1`: decide and record, call no mutating API.
    pub dry_run: bool,
    pub guard: GuardPolicy,
    pub timeouts: Timeouts,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        let dry_run = match std::env::var("NIGHTSHIFT_DRY_RUN").ok().as_deref().map(str::trim) {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "NIGHTSHIFT_DRY_RUN={other:?} is not understood: set it to 1 (dry run) or 0 / unset"
                ))
            }
        };
        let mut guard = GuardPolicy::default();
        if let Ok(lease) = std::env::var("NIGHTSHIFT_DEFAULT_LEASE") {
            guard.default_lease = crate::config::parse_duration(&lease)
                .map_err(|e| format!("NIGHTSHIFT_DEFAULT_LEASE={lease:?}: {e}"))?;
        }
        Ok(Settings {
            app_env: std::env::var("APP_ENV")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            dry_run,
            guard,
            timeouts: Timeouts::default(),
        })
    }

    pub fn is_prod(&self) -> bool {
        self.app_env.as_deref() == Some("prod")
    }
}

/// One invocation's context: the Lambda request ID and deadline, and the wall-clock time it
/// started (read once by the caller; nothing below reads the clock).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline: Option<Timestamp>,
    pub now: Timestamp,
    /// `Lambda-Runtime-Invoked-Function-Arn`: its account is the function's own, and events from
    /// another account are refused. None outside Lambda (`nightshift invoke`): not checked.
    pub function_arn: Option<String>,
}

impl Invocation {
    fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| {
            d.duration_since(self.now)
                .try_into()
                .unwrap_or(Duration::ZERO)
        })
    }
}

/// A failure the caller must surface as an error (not a response).
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Retrying the same event later can succeed (throttling, timeouts, a lost lease).
    #[error("{0}")]
    Retryable(String),
    /// Retrying the same event will fail the same way.
    #[error("{0}")]
    NonRetryable(String),
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            HandleError::Retryable(e.to_string())
        } else {
            HandleError::NonRetryable(e.to_string())
        }
    }
}

impl HandleError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, HandleError::Retryable(_))
    }
}

/// The application: config, settings and the AWS adapters, built once per process.
pub struct App {
    config: Arc<Config>,
    settings: Settings,
    store: DynamoStore,
    /// The ECS, Application Auto Scaling and DocumentDB adapters. `None` for an app built with
    /// [`App::new`] (guard and history only): steps are then recorded and nothing is scaled.
    scaling: Option<ScalingClients>,
}

/// An event answered without a claim (rejected or skipped before the guard), as recorded.
struct Unclaimed {
    outcome: Outcome,
    step: Option<Step>,
    scenario: Option<String>,
    reason: String,
}

/// What an event resolved to once the config is known.
enum Target<'a> {
    Step {
        scenario: &'a Scenario,
        step: Step,
    },
    /// A well-formed event that needs no step (e.g. a completion no scenario listens to).
    Nothing {
        scenario: Option<&'a Scenario>,
        reason: String,
    },
}

impl App {
    /// An app with the guard and the run history only: steps are claimed and recorded, and no
    /// scaling call is made (tests of the guard and the history use it).
    pub fn new(config: Arc<Config>, settings: Settings, store: DynamoStore) -> App {
        App {
            config,
            settings,
            store,
            scaling: None,
        }
    }

    /// The full app: guard, history and the scaling adapters.
    pub fn with_scaling(
        config: Arc<Config>,
        settings: Settings,
        store: DynamoStore,
        scaling: ScalingClients,
    ) -> App {
        App {
            config,
            settings,
            store,
            scaling: Some(scaling),
        }
    }

    /// Build from the environment: the SDK config (endpoints, region, credentials) and clients.
    pub async fn from_env(config: Arc<Config>, settings: Settings) -> App {
        let sdk = crate::aws::load_sdk_config(&settings.timeouts).await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.table.clone(),
            settings.timeouts,
        );
        let scaling = ScalingClients::from_sdk_config(&sdk, settings.timeouts);
        App::with_scaling(config, settings, store, scaling)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn scaling(&self) -> Option<&ScalingClients> {
        self.scaling.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &DynamoStore {
        &self.store
    }

    /// Handle one event. Bad input is an `Ok` response with outcome `rejected` (and recorded);
    /// `Err` is reserved for failures the caller must report as errors.
    pub async fn handle(&self, payload: &[u8], inv: &Invocation) -> Result<Response, HandleError> {
        let store = self.store.with_budget(inv.remaining());
        let event = match event::parse(payload) {
            Ok(event) => event,
            Err(rejection) => {
                let unclaimed = Unclaimed {
                    outcome: Outcome::Rejected,
                    step: None,
                    scenario: rejection.scenario_hint().map(str::to_string),
                    reason: rejection.to_string(),
                };
                let key = inv.request_id.clone();
                return self
                    .finish_unclaimed(&store, inv, key, "unparsed", None, unclaimed)
                    .await;
            }
        };
        let key = event.key.dedup_key(&inv.request_id);
        let kind = kind_name(&event.kind);

        let (scenario, step, now) = match self.admit(&event, inv) {
            Ok(admitted) => admitted,
            Err(unclaimed) => {
                return self
                    .finish_unclaimed(&store, inv, key, kind, Some(&event), unclaimed)
                    .await
            }
        };

        let guard = Guard::new(store.clone(), self.settings.guard);
        let id = DedupId {
            key: key.clone(),
            step,
        };
        // The dedup record's lease, expiry and completion are measured on the invocation's wall
        // clock, never on a rehearsal `now`: the lease ends at the invocation deadline (a
        // wall-clock instant) and DynamoDB's TTL deletes by wall-clock time.
        let claim = guard
            .claim(&ClaimRequest {
                id: id.clone(),
                payload_hash: event.payload_hash.clone(),
                now: inv.now,
                deadline: inv.deadline,
            })
            .await?;
        let base = Response {
            outcome: Outcome::Skipped,
            scenario: Some(scenario.name.clone()),
            run: None,
            step: Some(step),
            actions: Vec::new(),
            reason: String::new(),
            detail: String::new(),
            key: Some(key.clone()),
        };
        let lease = match claim {
            Claim::Proceed(lease) => lease,
            Claim::Replay(record) => {
                // Nothing is written for a duplicate: the conditional put that failed is the only
                // write, and the stored result is what the first delivery answered.
                let stored = record.result.unwrap_or_else(|| base.clone());
                let when = record
                    .finished_at
                    .map_or_else(|| "earlier".to_string(), |t| format!("at {t}"));
                return Ok(Response {
                    outcome: Outcome::Duplicate,
                    run: stored.run.clone(),
                    actions: stored.actions.clone(),
                    reason: format!(
                        "{id} was already handled {when} (outcome {}): {}",
                        stored.outcome, stored.reason
                    ),
                    ..base
                });
            }
            Claim::InProgress { lease_until } => {
                return Ok(Response {
                    outcome: Outcome::InProgress,
                    reason: format!(
                        "another delivery of {id} holds the lease until {lease_until}: it will finish the step, or its lease expires and a retry takes over"
                    ),
                    ..base
                });
            }
            Claim::PayloadMismatch { stored_hash } => {
                let reason = format!(
                    "dedup key \"{key}\" was already used for {step} with a different payload (stored hash {}…, this one {}…): give this event its own \"id\" or scheduled_time",
                    short(&stored_hash),
                    short(&event.payload_hash)
                );
                let unclaimed = Unclaimed {
                    outcome: Outcome::Rejected,
                    step: Some(step),
                    scenario: Some(scenario.name.clone()),
                    reason,
                };
                return self
                    .finish_unclaimed(&store, inv, key, kind, Some(&event), unclaimed)
                    .await;
            }
        };

        let stepped = match &self.scaling {
            Some(scaling) => {
                let scaling = scaling.with_budget(inv.remaining());
                let force = matches!(&event.kind, EventKind::Step(cmd) if cmd.force);
                let ctx = StepContext {
                    store: &store,
                    clients: &scaling,
                    scenario,
                    key: &key,
                    now,
                    clock: inv.now,
                    deadline: inv.deadline,
                    dry_run: self.settings.dry_run,
                    pause: None,
                    open_run: None,
                };
                self.run_step(&ctx, step, force).await
            }
            None => StepResult::new(
                Outcome::Skipped,
                None,
                format!(
                    "{step} for scenario \"{}\" was recorded; this app was built without AWS scaling clients (App::new), so no AWS scaling call was made",
                    scenario.name
                ),
            ),
        };
        let response = Response {
            outcome: stepped.outcome,
            run: stepped.run.clone(),
            actions: stepped.actions.clone(),
            reason: stepped.reason.clone(),
            ..base
        };
        let mut evidence = stepped.evidence.clone();
        if lease.takeover {
            let note = serde_json::json!("an earlier delivery failed or its lease expired");
            match evidence.as_mut().and_then(|e| e.as_object_mut()) {
                Some(map) => {
                    map.insert("takeover".into(), note);
                }
                None => evidence = Some(serde_json::json!({ "takeover": note })),
            }
        }
        let record = EventRecord {
            key: key.clone(),
            step: Some(step),
            scenario: Some(scenario.name.clone()),
            run: response.run.clone(),
            kind: kind.to_string(),
            outcome: response.outcome,
            reason: response.reason.clone(),
            detail: response.detail.clone(),
            actions: response.actions.clone(),
            received_at: now,
            finished_at: now,
            evidence,
            payload_hash: Some(event.payload_hash.clone()),
        };
        if let Err(e) = store.record_event(&record).await {
            let _ = guard.fail(&lease, &e.to_string(), inv.now).await;
            return Err(e.into());
        }
        if let Some(failure) = stepped.failure {
            // The step stays open: a retry of this delivery may claim it again.
            let _ = guard.fail(&lease, &failure.to_string(), inv.now).await;
            return Err(failure);
        }
        match guard.complete(&lease, &response, inv.now).await {
            Ok(()) => Ok(response),
            Err(FinishError::StaleOwner { id }) => Err(HandleError::Retryable(format!(
                "this delivery's lease on {id} expired and another delivery took the step over; its result stands"
            ))),
            Err(FinishError::Store(e)) => Err(e.into()),
        }
    }

    /// The scenario, step and effective `now` of a well-formed event, or why it is answered
    /// without a claim: rejected (unknown scenario, `now` in production) or skipped (a completion
    /// no scenario listens to).
    fn admit<'a>(
        &'a self,
        event: &InboundEvent,
        inv: &Invocation,
    ) -> Result<(&'a Scenario, Step, Timestamp), Unclaimed> {
        let rejected = |reason: String| Unclaimed {
            outcome: Outcome::Rejected,
            step: step_of(event),
            scenario: scenario_of(event),
            reason,
        };
        if let Some(home) = inv
            .function_arn
            .as_deref()
            .and_then(event::function_account)
        {
            event::check_account(event, home).map_err(|r| rejected(r.to_string()))?;
        }
        // `now` rehearses a decision at another time; never in production.
        let now = match event.now_override {
            Some(_) if self.settings.is_prod() => {
                return Err(rejected(
                    "\"now\" is for rehearsals and tests and is refused when APP_ENV=prod: remove it from the event".to_string(),
                ))
            }
            Some(now) => now,
            None => inv.now,
        };
        match self.resolve(event) {
            Ok(Target::Step { scenario, step }) => Ok((scenario, step, now)),
            Ok(Target::Nothing { scenario, reason }) => Err(Unclaimed {
                outcome: Outcome::Skipped,
                step: Some(Step::Check),
                scenario: scenario.map(|s| s.name.clone()),
                reason,
            }),
            Err(reason) => Err(rejected(reason)),
        }
    }

    /// Resolve the event against the config.
    fn resolve<'a>(&'a self, event: &InboundEvent) -> Result<Target<'a>, String> {
        match &event.kind {
            EventKind::Step(cmd) => match self.config.scenario(&cmd.scenario) {
                Some(scenario) => Ok(Target::Step {
                    scenario,
                    step: cmd.step,
                }),
                None => Err(format!(
                    "unknown scenario \"{}\": {} configures {}; fix the event's \"scenario\" or add a [[scenario]] with that name",
                    cmd.scenario,
                    self.config.source,
                    quoted_list(&self.config.scenario_names())
                )),
            },
            EventKind::Completion(completion) => Ok(self.match_completion(completion)),
        }
    }

    /// The scenario a completion event triggers a check for: the first, in file order, whose
    /// `[[scenario.completion]]` matches.
    fn match_completion<'a>(&'a self, completion: &Completion) -> Target<'a> {
        if !completion.is_done() {
            return Target::Nothing {
                scenario: None,
                reason: format!("{completion}: not a completion, nothing to check"),
            };
        }
        let matched = self.config.scenarios.iter().find(|scenario| {
            scenario.completion.iter().any(|m| match m {
                CompletionMatcher::EcsTaskStopped { group } => completion.matches("aws.ecs", group),
                CompletionMatcher::BatchJobDone { job_queue } => {
                    completion.matches("aws.batch", job_queue)
                }
            })
        });
        match matched {
            Some(scenario) => Target::Step {
                scenario,
                step: Step::Check,
            },
            None => Target::Nothing {
                scenario: None,
                reason: format!("{completion}: no scenario's [[scenario.completion]] matches it"),
            },
        }
    }

    /// Record and answer an event that was not claimed (rejected or skipped before the guard).
    async fn finish_unclaimed(
        &self,
        store: &DynamoStore,
        inv: &Invocation,
        key: String,
        kind: &str,
        event: Option<&InboundEvent>,
        unclaimed: Unclaimed,
    ) -> Result<Response, HandleError> {
        let Unclaimed {
            outcome,
            step,
            scenario,
            reason,
        } = unclaimed;
        let record = EventRecord {
            key: key.clone(),
            step,
            scenario: scenario.clone(),
            run: None,
            kind: kind.to_string(),
            outcome,
            reason: reason.clone(),
            detail: String::new(),
            actions: Vec::new(),
            received_at: inv.now,
            finished_at: inv.now,
            evidence: None,
            payload_hash: event.map(|e| e.payload_hash.clone()),
        };
        // Nothing is lost: if the record cannot be written, the delivery fails retryably so
        // that it is recorded on a later attempt.
        store.record_event(&record).await?;
        Ok(Response {
            outcome,
            scenario,
            run: None,
            step,
            actions: Vec::new(),
            reason,
            detail: String::new(),
            key: Some(key),
        })
    }
}

fn kind_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Step(_) => "step-command",
        EventKind::Completion(c) if c.source() == "aws.ecs" => "ecs-task-state-change",
        EventKind::Completion(_) => "batch-job-state-change",
    }
}

fn step_of(event: &InboundEvent) -> Option<Step> {
    match &event.kind {
        EventKind::Step(cmd) => Some(cmd.step),
        EventKind::Completion(_) => Some(Step::Check),
    }
}

fn scenario_of(event: &InboundEvent) -> Option<String> {
    match &event.kind {
        EventKind::Step(cmd) => Some(cmd.scenario.clone()),
        EventKind::Completion(_) => None,
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The scaling engine's shell: the run state machine, the scaling lease, and the convergence
// loop (snapshot → plan → safety check → execute, until nothing is left to do right now).
// ---------------------------------------------------------------------------------------------

/// Most plan-and-execute rounds in one invocation. A resize takes four (readers, failover, old
/// writer, confirm); on AWS the later rounds find instances busy and stop early, and a later
/// check continues.
const MAX_ROUNDS: usize = 8;

/// How long a delivery waits for another delivery's scaling lease on the same scenario.
const SCALING_LEASE_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting delivery tries the scaling lease again.
const SCALING_LEASE_POLL: Duration = Duration::from_millis(200);

/// Everything one step needs, borrowed from the invocation.
#[derive(Clone)]
struct StepContext<'a> {
    store: &'a DynamoStore,
    clients: &'a ScalingClients,
    scenario: &'a Scenario,
    /// The dedup key of this delivery (recorded as `opened_by` of a run it opens).
    key: &'a str,
    /// The night's time: the event's rehearsal `now`, else the invocation's clock. Decisions use it.
    now: Timestamp,
    /// The invocation's wall clock (`Invocation::now`): leases are measured on it, because they
    /// end at the invocation deadline, a wall-clock instant (a rehearsal `now` would never reach it).
    clock: Timestamp,
    deadline: Option<Timestamp>,
    dry_run: bool,
    /// The scenario's stored pause (active or expired), as the scaling lease's write returned
    /// the state item: see [`overrides::decide`].
    pause: Option<Pause>,
    /// The scenario's open run id, from the same state item. Under the scaling lease no other
    /// delivery opens or closes a run, so this is current for the whole step and saves the
    /// pointer's GetItem (and, with no open run, every read).
    open_run: Option<String>,
}

/// What a step did, before it is recorded and answered.
struct StepResult {
    outcome: Outcome,
    run: Option<String>,
    actions: Vec<Action>,
    reason: String,
    evidence: Option<serde_json::Value>,
    /// Set when the invocation must fail (after recording): the guard record is failed so that
    /// a retry can claim the step again.
    failure: Option<HandleError>,
}

impl StepResult {
    fn new(outcome: Outcome, run: Option<String>, reason: String) -> StepResult {
        StepResult {
            outcome,
            run,
            actions: Vec::new(),
            reason,
            evidence: None,
            failure: None,
        }
    }

    /// The run store failed: retryable when DynamoDB said so.
    fn store_failure(run: Option<String>, actions: Vec<Action>, e: StoreError) -> StepResult {
        let retryable = e.is_retryable();
        StepResult {
            outcome: if retryable {
                Outcome::Deferred
            } else {
                Outcome::Rejected
            },
            run,
            actions,
            reason: e.to_string(),
            evidence: None,
            failure: Some(e.into()),
        }
    }
}

/// Why a convergence stopped short.
enum Stopped {
    /// A configured resource does not exist (scale-up only).
    Plan(PlanError),
    /// A call (read or write) failed in a way that ends the step: retryable or access denied.
    Call(CallError),
}

/// What the convergence loop did.
#[derive(Default)]
struct Converged {
    /// Every call made, dry-run or refused, in order.
    actions: Vec<Action>,
    /// Calls actually sent to AWS (successful or not).
    made: usize,
    /// Every call that was allowed and executed (or, in dry run, recorded).
    planned: Vec<Call>,
    /// The last plan (made from `snapshot`); its calls are empty unless the loop stopped early.
    last: Plan,
    /// Waiting, drift and notes of every round, deduplicated, in order.
    waiting: Vec<String>,
    drift: Vec<String>,
    notes: Vec<String>,
    /// The latest snapshot read.
    snapshot: Option<Snapshot>,
    refused: Vec<Violation>,
    /// Calls that failed without ending the step (quota, capacity, invalid parameters).
    degraded: Vec<String>,
    stopped: Option<Stopped>,
    hit_round_limit: bool,
}

impl Converged {
    /// Keep what a round's plan said. Notes are the first round's only: later rounds confirm
    /// the calls just made, and "already at desired count 10" right after setting it would
    /// mislead.
    fn absorb(&mut self, plan: &Plan, first_round: bool) {
        fn add(into: &mut Vec<String>, from: &[String]) {
            for line in from {
                if !into.contains(line) {
                    into.push(line.clone());
                }
            }
        }
        add(&mut self.drift, &plan.drift);
        if first_round {
            add(&mut self.notes, &plan.notes);
        }
        // Waiting lines describe the latest state only.
        self.waiting = plan.waiting.clone();
    }

    /// Nothing left to call or wait for, and nothing refused, failed or merely dry-run.
    fn is_done(&self, dry_run: bool) -> bool {
        self.stopped.is_none()
            && self.refused.is_empty()
            && self.degraded.is_empty()
            && !self.hit_round_limit
            && self.last.is_done()
            && (!dry_run || self.planned.is_empty())
    }

    fn evidence(&self, dry_run: bool) -> serde_json::Value {
        serde_json::json!({
            "dry_run": dry_run,
            "planned": self.planned,
            "waiting": self.waiting,
            "drift": self.drift,
            "notes": self.notes,
            "refused": self.refused.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            "degraded": self.degraded,
        })
    }

    /// "3 calls made; waiting: …; drift: …" for the response's reason.
    fn summary(&self, dry_run: bool) -> String {
        let mut parts = Vec::new();
        if dry_run {
            parts.push(format!(
                "NIGHTSHIFT_DRY_RUN=1: {} call(s) planned and recorded, none made{}",
                self.planned.len(),
                if self.planned.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        self.planned
                            .iter()
                            .map(|c| format!("{} {}", c.operation(), c.resource()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        } else if self.made > 0 {
            parts.push(format!("{} call(s) made", self.made));
        }
        if !self.refused.is_empty() {
            parts.push(format!(
                "SAFETY CHECK refused {} call(s), a nightshift bug to report: {}",
                self.refused.len(),
                self.refused
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if !self.degraded.is_empty() {
            parts.push(format!(
                "degraded, the night goes on with what it got: {}",
                self.degraded.join("; ")
            ));
        }
        if !self.drift.is_empty() {
            parts.push(format!("drift left alone: {}", self.drift.join("; ")));
        }
        if !self.waiting.is_empty() {
            parts.push(format!("waiting: {}", self.waiting.join("; ")));
        }
        if self.hit_round_limit {
            parts.push(format!(
                "stopped after {MAX_ROUNDS} rounds; a later check or step continues"
            ));
        }
        if self.made == 0 && !dry_run && !self.notes.is_empty() {
            parts.push(self.notes.join("; "));
        }
        parts.join("; ")
    }
}

/// What set a scale-down going.
enum ScaleDownTrigger {
    /// A scale-down step: ask the gate ([`App::gate`]) unless one already started.
    Step { force: bool },
    /// A check whose gate decided "scale down": its reason and evidence.
    Decided(String, serde_json::Value),
    /// A check continuing a scale-down that already started.
    Continue,
}

/// Which planner a convergence runs.
#[derive(Clone, Copy)]
enum Mode<'a> {
    ScaleUp,
    /// A check continuing the asynchronous part of scale-up (resize).
    Continue,
    /// Read the state, plan nothing (a check of a run whose scale-up was a dry run).
    Observe,
    ScaleDown(&'a Baseline),
}

/// One round's plan in `mode`, from `snapshot` (the convergence loop and `nightshift plan`).
fn plan_for(
    mode: Mode<'_>,
    scenario: &Scenario,
    snapshot: &Snapshot,
    run: &str,
) -> Result<Plan, PlanError> {
    Ok(match mode {
        Mode::ScaleUp => plan::plan_scale_up(scenario, snapshot, run)?,
        Mode::Continue => plan::plan_resize_continuation(scenario, snapshot, run),
        Mode::Observe => Plan::default(),
        Mode::ScaleDown(b) => plan::plan_scale_down(scenario, b, snapshot, run),
    })
}

/// Where an open run is, for the overrides (None: no open run).
fn run_phase(state: Option<&RunState>) -> RunPhase {
    match state {
        None => RunPhase::NoOpenRun,
        Some(s) if s.scale_down_started_at.is_some() => RunPhase::ScalingDown,
        Some(_) => RunPhase::ScalingUp,
    }
}

/// The identity of a call for "do not retry it in this invocation".
fn call_key(call: &Call) -> String {
    format!("{} {}", call.operation(), call.resource())
}

fn add_duration(at: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(at)
}

impl App {
    /// The scenario's open run, read through the pointer the scaling lease returned.
    async fn open_run_record(ctx: &StepContext<'_>) -> Result<Option<RunRecord>, StoreError> {
        match &ctx.open_run {
            Some(run) => ctx.store.get_run(&ctx.scenario.name, run).await,
            None => Ok(None),
        }
    }

    /// One step of a scenario, under the scenario's scaling lease.
    async fn run_step(&self, ctx: &StepContext<'_>, step: Step, force: bool) -> StepResult {
        let owner = uuid::Uuid::new_v4().to_string();
        let state = match self.take_scaling_lease(ctx, &owner).await {
            Ok(ScalingLease::Acquired(state)) => state,
            Ok(ScalingLease::Held { until, .. }) => {
                let reason = format!(
                    "another delivery is scaling scenario \"{}\" (its scaling lease runs until {until}); {}",
                    ctx.scenario.name,
                    if step == Step::Check {
                        "this check is skipped, the next one looks again"
                    } else {
                        "this step will be retried"
                    }
                );
                let mut result = StepResult::new(Outcome::InProgress, None, reason.clone());
                if step != Step::Check {
                    result.outcome = Outcome::Deferred;
                    result.failure = Some(HandleError::Retryable(reason));
                }
                return result;
            }
            Err(e) => return StepResult::store_failure(None, Vec::new(), e),
        };
        let ctx = &StepContext {
            pause: state.pause,
            open_run: state.open_run,
            ..ctx.clone()
        };
        let result = match step {
            Step::ScaleUp => self.scale_up(ctx).await,
            Step::Check => self.check(ctx).await,
            Step::ScaleDown => {
                self.scale_down(ctx, Step::ScaleDown, ScaleDownTrigger::Step { force })
                    .await
            }
        };
        self.release(ctx, &owner, result).await
    }

    /// The ops overrides (pause, skip dates) on this step, given the open run it found: a
    /// skipped result to record and answer, or None to go on.
    fn overridden(
        ctx: &StepContext<'_>,
        step: Step,
        force: bool,
        run: Option<(&RunRecord, &RunState)>,
    ) -> Option<StepResult> {
        let verdict = overrides::decide(&StepFacts {
            scenario: ctx.scenario,
            step,
            force,
            now: ctx.now,
            pause: ctx.pause.as_ref(),
            run: run_phase(run.map(|(_, state)| state)),
        });
        let overrides::Verdict::Skip { rule, reason } = verdict else {
            return None;
        };
        let mut result = StepResult::new(
            Outcome::Skipped,
            run.map(|(record, _)| record.run.clone()),
            reason,
        );
        let mut evidence = serde_json::json!({ "override": rule.as_str() });
        if rule == overrides::SkipRule::Paused {
            if let Some(pause) = &ctx.pause {
                evidence["pause"] = serde_json::to_value(pause).unwrap_or_default();
            }
        }
        result.evidence = Some(evidence);
        Some(result)
    }

    /// Give the scaling lease back and pass `result` through.
    async fn release(&self, ctx: &StepContext<'_>, owner: &str, result: StepResult) -> StepResult {
        if let Err(e) = ctx
            .store
            .release_scaling_lease(&ctx.scenario.name, owner)
            .await
        {
            // It expires by itself; the next delivery waits at most until then.
            tracing::warn!(scenario = %ctx.scenario.name, "could not release the scaling lease: {e}");
        }
        result
    }

    /// Take the scenario's scaling lease, waiting for another holder for a while: `Acquired`
    /// with the scenario's state item (its pause), or `Held` by another delivery until `until`.
    async fn take_scaling_lease(
        &self,
        ctx: &StepContext<'_>,
        owner: &str,
    ) -> Result<ScalingLease, StoreError> {
        let started = tokio::time::Instant::now();
        let budget = match ctx.deadline {
            Some(deadline) => {
                let left: Duration = deadline
                    .duration_since(ctx.clock)
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                // Keep at least half of the invocation for the step itself.
                SCALING_LEASE_WAIT.min(left / 2)
            }
            None => SCALING_LEASE_WAIT,
        };
        loop {
            let now = add_duration(ctx.clock, started.elapsed());
            let until = self.settings.guard.lease_until(now, ctx.deadline);
            match ctx
                .store
                .acquire_scaling_lease(&ctx.scenario.name, owner, until, now)
                .await?
            {
                ScalingLease::Acquired(state) => return Ok(ScalingLease::Acquired(state)),
                ScalingLease::Held { owner, until } => {
                    if started.elapsed() + SCALING_LEASE_POLL > budget {
                        return Ok(ScalingLease::Held { owner, until });
                    }
                    tokio::time::sleep(SCALING_LEASE_POLL).await;
                }
            }
        }
    }

    /// The run state of an open run, or a result explaining why it cannot be used.
    fn run_state(run: &RunRecord) -> Result<RunState, Box<StepResult>> {
        let Some(json) = &run.baseline else {
            return Err(Box::new(StepResult::new(
                Outcome::Skipped,
                Some(run.run.clone()),
                format!(
                    "run {} of {} has no recorded baseline (it was not opened by a scale-up of this build): nothing is scaled for it",
                    run.run, run.scenario
                ),
            )));
        };
        RunState::from_json(json).map_err(|e| {
            let mut result = StepResult::new(
                Outcome::Rejected,
                Some(run.run.clone()),
                format!(
                    "run {} of {}: its recorded baseline does not decode ({e}); nothing was called",
                    run.run, run.scenario
                ),
            );
            result.failure = Some(HandleError::NonRetryable(result.reason.clone()));
            Box::new(result)
        })
    }

    /// Plan, check, execute; again from a fresh snapshot while calls succeed and more is due.
    async fn converge(
        &self,
        ctx: &StepContext<'_>,
        run: &str,
        mode: Mode<'_>,
        mut first: Option<Snapshot>,
    ) -> Converged {
        let mut out = Converged::default();
        let baseline = match mode {
            Mode::ScaleDown(b) => Some(b),
            _ => None,
        };
        let mut failed: BTreeSet<String> = BTreeSet::new();
        for round in 0..MAX_ROUNDS {
            let snapshot = match first.take() {
                Some(s) => s,
                None => match ctx.clients.snapshot(ctx.scenario).await {
                    Ok(s) => s,
                    Err(e) => {
                        out.stopped = Some(Stopped::Call(e));
                        return out;
                    }
                },
            };
            let mut plan = match plan_for(mode, ctx.scenario, &snapshot, run) {
                Ok(plan) => plan,
                Err(e) => {
                    out.snapshot = Some(snapshot);
                    out.stopped = Some(Stopped::Plan(e));
                    return out;
                }
            };
            // A call that failed without ending the step is not repeated in this invocation.
            plan.calls.retain(|c| !failed.contains(&call_key(c)));
            let verdicts = safety::vet(
                &plan,
                &SafetyContext {
                    scenario: ctx.scenario,
                    run,
                    snapshot: &snapshot,
                    baseline,
                },
            );
            out.absorb(&plan, round == 0);
            out.last = plan;
            out.snapshot = Some(snapshot);
            if verdicts.is_empty() {
                break;
            }
            let mut progressed = false;
            for vetted in verdicts {
                let call = match vetted {
                    Vetted::Allowed(call) => call,
                    Vetted::Refused(violation) => {
                        tracing::error!(scenario = %ctx.scenario.name, run, "{violation}");
                        out.actions.push(violation.call.action(
                            crate::domain::ActionResult::Refused {
                                why: violation.why.to_string(),
                                rule: violation.rule.to_string(),
                            },
                        ));
                        out.refused.push(violation);
                        continue;
                    }
                };
                let executed = ctx.clients.execute(&call, ctx.dry_run).await;
                out.actions.push(executed.action);
                if !ctx.dry_run {
                    out.made += 1;
                }
                match executed.error {
                    None => progressed = true,
                    Some(e) => match e.kind {
                        CallErrorKind::Retryable | CallErrorKind::AccessDenied => {
                            out.planned.push(call);
                            out.stopped = Some(Stopped::Call(e));
                            return out;
                        }
                        CallErrorKind::Degraded
                        | CallErrorKind::NotFound
                        | CallErrorKind::Permanent => {
                            out.degraded.push(e.to_string());
                            failed.insert(call_key(&call));
                        }
                    },
                }
                out.planned.push(call);
            }
            if ctx.dry_run || !progressed || !out.refused.is_empty() {
                break;
            }
            if round + 1 == MAX_ROUNDS {
                out.hit_round_limit = true;
            }
        }
        out
    }

    /// The result of a convergence that stopped on an error, or None.
    fn stopped_result(
        run: Option<&str>,
        step: Step,
        conv: &mut Converged,
        dry_run: bool,
    ) -> Option<StepResult> {
        let stopped = conv.stopped.take()?;
        Some(Self::failure_result(run, step, stopped, conv, dry_run))
    }

    /// The result of a step ended by `stopped`: rejected for a missing resource or denied
    /// access, deferred (and, except for a check, failed so that it is retried) otherwise.
    fn failure_result(
        run: Option<&str>,
        step: Step,
        stopped: Stopped,
        conv: &mut Converged,
        dry_run: bool,
    ) -> StepResult {
        let (outcome, reason, failure) = match stopped {
            Stopped::Plan(e) => (Outcome::Rejected, e.to_string(), None),
            Stopped::Call(e) => match e.kind {
                CallErrorKind::AccessDenied => (
                    Outcome::Rejected,
                    e.to_string(),
                    Some(HandleError::NonRetryable(e.to_string())),
                ),
                _ if step == Step::Check => (
                    Outcome::Deferred,
                    format!("{e}; the next check tries again"),
                    None,
                ),
                _ => {
                    let reason = format!("{e}; the step stays open and will be retried");
                    (
                        Outcome::Deferred,
                        reason.clone(),
                        Some(HandleError::Retryable(reason)),
                    )
                }
            },
        };
        let done = conv.summary(dry_run);
        StepResult {
            outcome,
            run: run.map(str::to_string),
            actions: std::mem::take(&mut conv.actions),
            reason: if done.is_empty() {
                reason
            } else {
                format!("{reason} ({done})")
            },
            evidence: Some(conv.evidence(dry_run)),
            failure,
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

    /// Best effort: the summary line of the history table.
    async fn set_summary(
        ctx: &StepContext<'_>,
        run: &str,
        summary: &str,
        state: Option<&RunState>,
    ) {
        let json = state.map(RunState::to_json);
        if let Err(e) = ctx
            .store
            .update_run(&ctx.scenario.name, run, &truncate(summary), json.as_ref())
            .await
        {
            tracing::warn!(scenario = %ctx.scenario.name, run, "could not update the run summary: {e}");
        }
    }

    /// Scale-up: open the night's run (or re-plan against the open one) and converge.
    async fn scale_up(&self, ctx: &StepContext<'_>) -> StepResult {
        let scenario = ctx.scenario;
        let open = match Self::open_run_record(ctx).await {
            Ok(open) => open,
            Err(e) => return StepResult::store_failure(None, Vec::new(), e),
        };
        let (run, first, context) = match open {
            Some(run) => {
                let state = match Self::run_state(&run) {
                    Ok(state) => state,
                    Err(result) => return *result,
                };
                if let Some(skipped) =
                    Self::overridden(ctx, Step::ScaleUp, false, Some((&run, &state)))
                {
                    return skipped;
                }
                if let Some(at) = state.scale_down_started_at {
                    return StepResult::new(
                        Outcome::Skipped,
                        Some(run.run.clone()),
                        format!(
                            "out of order: run {} started scaling down at {at}; this scale-up is ignored (the next scale-up opens a new run once this one closes)",
                            run.run
                        ),
                    );
                }
                let context = format!(
                    "run {} was already open (opened {} by {}): re-planned against it",
                    run.run, run.opened_at, run.opened_by
                );
                (run.run, None, context)
            }
            None => {
                if let Some(skipped) = Self::overridden(ctx, Step::ScaleUp, false, None) {
                    return skipped;
                }
                let snapshot = match ctx.clients.snapshot(scenario).await {
                    Ok(s) => s,
                    Err(e) => {
                        return Self::failure_result(
                            None,
                            Step::ScaleUp,
                            Stopped::Call(e),
                            &mut Converged::default(),
                            ctx.dry_run,
                        )
                    }
                };
                let baseline = match plan::capture_baseline(scenario, &snapshot, ctx.now) {
                    Ok(b) => b,
                    // A configured resource does not exist: no run is opened, nothing is called.
                    Err(e) => return StepResult::new(Outcome::Rejected, None, e.to_string()),
                };
                let state = RunState::new(baseline, ctx.dry_run);
                match self.open_run(ctx, &state).await {
                    Ok((run, true)) => {
                        let context = format!("opened run {run} and recorded its baseline");
                        (run, Some(snapshot), context)
                    }
                    Ok((run, false)) => {
                        let context = format!(
                            "run {run} was opened by a concurrent delivery: re-planned against it"
                        );
                        (run, None, context)
                    }
                    Err(e) => return StepResult::store_failure(None, Vec::new(), e),
                }
            }
        };
        let mut conv = self.converge(ctx, &run, Mode::ScaleUp, first).await;
        if let Some(result) =
            Self::stopped_result(Some(&run), Step::ScaleUp, &mut conv, ctx.dry_run)
        {
            Self::set_summary(ctx, &run, &format!("scale-up: {}", result.reason), None).await;
            return result;
        }
        let at_target = conv.made == 0 && !ctx.dry_run && conv.is_done(false);
        let outcome = Self::finished_outcome(
            &conv,
            if at_target || ctx.dry_run {
                Outcome::Skipped
            } else {
                Outcome::Deferred
            },
        );
        let reason = join_parts([
            format!("scale-up: {context}"),
            if at_target {
                "already at the night's capacity, nothing to call".to_string()
            } else {
                String::new()
            },
            conv.summary(ctx.dry_run),
        ]);
        Self::set_summary(ctx, &run, &reason, None).await;
        StepResult {
            outcome,
            run: Some(run),
            actions: conv.actions.clone(),
            reason,
            evidence: Some(conv.evidence(ctx.dry_run)),
            failure: None,
        }
    }

    /// Open the night's run: id = the scenario-local date, `.2`, `.3`… when taken. Returns the
    /// run id and whether this delivery opened it (false: a concurrent delivery had).
    async fn open_run(
        &self,
        ctx: &StepContext<'_>,
        state: &RunState,
    ) -> Result<(String, bool), StoreError> {
        let night = ctx
            .now
            .to_zoned_datetime(ctx.scenario.timezone.clone())
            .date()
            .to_string();
        for n in 1..=99 {
            let id = if n == 1 {
                night.clone()
            } else {
                format!("{night}.{n}")
            };
            let record = RunRecord {
                scenario: ctx.scenario.name.clone(),
                run: id.clone(),
                status: RunStatus::Open,
                opened_at: ctx.now,
                closed_at: None,
                opened_by: ctx.key.to_string(),
                baseline: Some(state.to_json()),
                summary: if state.opened_by_dry_run {
                    "scale-up (dry run)".into()
                } else {
                    "scaling up".into()
                },
            };
            match ctx.store.open_run(&record).await? {
                OpenRun::Opened => return Ok((id, true)),
                OpenRun::AlreadyOpen(other) => return Ok((other, false)),
                OpenRun::RunIdTaken => continue,
            }
        }
        Err(StoreError::Permanent(format!(
            "scenario {} already has 99 runs for the night of {night}",
            ctx.scenario.name
        )))
    }

    /// The scale-down gate (issue C): scale down when forced, at the deadline, or when every
    /// metric was quiet for `quiet_for` after `min_hold`; see [`gate`]. A metrics read that fails
    /// holds (it is recorded in the evidence): errors are never taken for a quiet batch.
    async fn gate(
        &self,
        ctx: &StepContext<'_>,
        run: &RunRecord,
        force: bool,
    ) -> (ScaleDownDecision, serde_json::Value) {
        if force {
            return (
                ScaleDownDecision::ScaleDown {
                    reason: "forced scale-down: metrics are not consulted".into(),
                },
                serde_json::json!({ "rule": "forced" }),
            );
        }
        let scale_down = &ctx.scenario.scale_down;
        let range = gate::query_range(scale_down, ctx.now);
        let fetched: gate::MetricsFetch = ctx
            .clients
            .metrics
            .fetch(&scale_down.metrics, range.from, range.to)
            .await
            .into();
        let decision = gate::decide(ctx.scenario, &fetched, run.opened_at, ctx.now, false);
        let evidence = decision.evidence_json();
        let reason = decision.reason().to_string();
        let verdict = if decision.scales_down() {
            ScaleDownDecision::ScaleDown { reason }
        } else {
            ScaleDownDecision::Hold { reason }
        };
        (verdict, evidence)
    }

    /// A night still open [`crate::schedule::OVERDUE_AFTER`] past its deadline is logged with
    /// `alarm = "night-overdue"`: the template's metric filter turns that line into the overdue
    /// alarm (each scheduled night has a check at that time).
    fn log_if_overdue(ctx: &StepContext<'_>, run: &RunRecord) {
        let scale_down = &ctx.scenario.scale_down;
        let deadline =
            gate::deadline_instant(&ctx.scenario.timezone, scale_down.deadline, run.opened_at);
        let Ok(late) = ctx.now.duration_since(deadline).try_into() else {
            return;
        };
        let late: Duration = late;
        if late >= crate::schedule::OVERDUE_AFTER {
            tracing::warn!(
                alarm = crate::template::OVERDUE_ALARM_FIELD,
                scenario = %ctx.scenario.name,
                run = %run.run,
                deadline = %deadline,
                minutes_past_deadline = late.as_secs() / 60,
                "night {} of {} is still open {} min past its deadline",
                run.run,
                ctx.scenario.name,
                late.as_secs() / 60
            );
        }
    }

    /// Check: continue an asynchronous scale-up (or scale-down) and report readiness.
    async fn check(&self, ctx: &StepContext<'_>) -> StepResult {
        let scenario = ctx.scenario;
        let run = match Self::open_run_record(ctx).await {
            Ok(Some(run)) => run,
            Ok(None) => {
                if let Some(skipped) = Self::overridden(ctx, Step::Check, false, None) {
                    return skipped;
                }
                return StepResult::new(
                    Outcome::Skipped,
                    None,
                    format!(
                        "no open run of scenario \"{}\": nothing to check (no scale-up has run, or the night's run is already closed)",
                        scenario.name
                    ),
                );
            }
            Err(e) => return StepResult::store_failure(None, Vec::new(), e),
        };
        let mut state = match Self::run_state(&run) {
            Ok(state) => state,
            Err(result) => return *result,
        };
        Self::log_if_overdue(ctx, &run);
        if let Some(skipped) = Self::overridden(ctx, Step::Check, false, Some((&run, &state))) {
            return skipped;
        }
        if state.scale_down_started_at.is_some() {
            return self
                .scale_down(ctx, Step::Check, ScaleDownTrigger::Continue)
                .await;
        }
        let (decision, gate_evidence) = Box::pin(self.gate(ctx, &run, false)).await;
        let hold = match decision {
            ScaleDownDecision::ScaleDown { reason } => {
                return self
                    .scale_down(
                        ctx,
                        Step::Check,
                        ScaleDownTrigger::Decided(reason, gate_evidence),
                    )
                    .await
            }
            ScaleDownDecision::Hold { reason } => reason,
        };
        // A rehearsed (dry-run) scale-up changed nothing: a real check must not start its resize.
        let mode = if state.opened_by_dry_run && !ctx.dry_run {
            Mode::Observe
        } else {
            Mode::Continue
        };
        let mut conv = self.converge(ctx, &run.run, mode, None).await;
        if let Some(result) =
            Self::stopped_result(Some(&run.run), Step::Check, &mut conv, ctx.dry_run)
        {
            return result;
        }
        let ready = match &conv.snapshot {
            Some(snapshot) => plan::readiness(scenario, snapshot),
            None => Readiness {
                ready: false,
                waiting: vec!["no snapshot".into()],
                degraded: Vec::new(),
            },
        };
        let mut evidence = conv.evidence(ctx.dry_run);
        let done = conv.summary(ctx.dry_run);
        let reason = if ready.ready {
            let first_time = state.ready_at.is_none();
            let ready_at = *state.ready_at.get_or_insert(ctx.now);
            let secs = ready_at.duration_since(run.opened_at).as_secs();
            evidence["ready_at"] = serde_json::json!(ready_at.to_string());
            evidence["time_to_ready_s"] = serde_json::json!(secs);
            let line = format!(
                "capacity ready since {ready_at} ({secs}s after scale-up){}",
                if ready.degraded.is_empty() {
                    String::new()
                } else {
                    format!(", degraded: {}", ready.degraded.join("; "))
                }
            );
            if first_time {
                Self::set_summary(ctx, &run.run, &line, Some(&state)).await;
            }
            line
        } else {
            format!("capacity not ready: {}", ready.waiting.join("; "))
        };
        evidence["readiness"] = serde_json::to_value(&ready).unwrap_or_default();
        evidence["gate"] = gate_evidence;
        let reason = join_parts([reason, done, format!("scale-down: {hold}")]);
        StepResult {
            outcome: Self::finished_outcome(&conv, Outcome::Deferred),
            run: Some(run.run.clone()),
            actions: conv.actions,
            reason,
            evidence: Some(evidence),
            failure: None,
        }
    }

    /// Scale-down: restore the run's baseline; close the run once nothing is left.
    ///
    /// `step` is the step being handled: a check continues a started scale-down, or starts one
    /// when the decision said so.
    async fn scale_down(
        &self,
        ctx: &StepContext<'_>,
        step: Step,
        trigger: ScaleDownTrigger,
    ) -> StepResult {
        let scenario = ctx.scenario;
        // A scale-down step answers to the overrides; a check handing over to it already did.
        let forced = match &trigger {
            ScaleDownTrigger::Step { force } => Some(*force),
            _ => None,
        };
        let run = match Self::open_run_record(ctx).await {
            Ok(Some(run)) => run,
            Ok(None) => {
                if let Some(skipped) =
                    forced.and_then(|force| Self::overridden(ctx, Step::ScaleDown, force, None))
                {
                    return skipped;
                }
                return StepResult::new(
                    Outcome::Skipped,
                    None,
                    format!(
                        "no open run of scenario \"{}\": a scale-down for a run that never scaled up (or is already closed) does nothing",
                        scenario.name
                    ),
                );
            }
            Err(e) => return StepResult::store_failure(None, Vec::new(), e),
        };
        let mut state = match Self::run_state(&run) {
            Ok(state) => state,
            Err(result) => return *result,
        };
        if let Some(skipped) = forced
            .and_then(|force| Self::overridden(ctx, Step::ScaleDown, force, Some((&run, &state))))
        {
            return skipped;
        }
        let (why, gate_evidence) = match (trigger, state.scale_down_started_at) {
            (ScaleDownTrigger::Decided(reason, evidence), _) => (reason, Some(evidence)),
            (_, Some(started)) => (
                format!("continuing the scale-down started at {started}"),
                None,
            ),
            (ScaleDownTrigger::Continue, None) => ("scale-down".to_string(), None),
            (ScaleDownTrigger::Step { force }, None) => {
                match Box::pin(self.gate(ctx, &run, force)).await {
                    (ScaleDownDecision::ScaleDown { reason }, evidence) => (reason, Some(evidence)),
                    // The gate holds: nothing is called and the run stays as it is.
                    (ScaleDownDecision::Hold { reason }, evidence) => {
                        let mut result = StepResult::new(
                            Outcome::Deferred,
                            Some(run.run.clone()),
                            format!("scale-down deferred: {reason}"),
                        );
                        result.evidence = Some(serde_json::json!({ "gate": evidence }));
                        return result;
                    }
                }
            }
        };
        if state.scale_down_started_at.is_none() && !ctx.dry_run {
            // From now on checks continue the scale-down and a late scale-up is out of order.
            state.scale_down_started_at = Some(ctx.now);
            if let Err(e) = ctx
                .store
                .update_run(
                    &scenario.name,
                    &run.run,
                    "scaling down",
                    Some(&state.to_json()),
                )
                .await
            {
                return StepResult::store_failure(Some(run.run.clone()), Vec::new(), e);
            }
        }
        let mut conv = self
            .converge(ctx, &run.run, Mode::ScaleDown(&state.baseline), None)
            .await;
        if let Some(result) = Self::stopped_result(Some(&run.run), step, &mut conv, ctx.dry_run) {
            Self::set_summary(
                ctx,
                &run.run,
                &format!("scale-down: {}", result.reason),
                None,
            )
            .await;
            return result;
        }
        let done = conv.is_done(ctx.dry_run);
        let summary = conv.summary(ctx.dry_run);
        let mut evidence = conv.evidence(ctx.dry_run);
        evidence["decision"] = serde_json::json!(why);
        if let Some(gate) = gate_evidence {
            evidence["gate"] = gate;
        }
        let (outcome, reason) = if done {
            let restored = if !conv.drift.is_empty() {
                "restored except the drifted values left alone"
            } else if conv.made == 0 {
                "already at the baseline"
            } else {
                "back at the baseline"
            };
            let reason = format!(
                "scale-down ({why}): {}; run {} closed",
                join_parts([summary, restored.to_string()]),
                run.run
            );
            if let Err(e) = ctx
                .store
                .close_run(&scenario.name, &run.run, ctx.now, &truncate(&reason))
                .await
            {
                return StepResult::store_failure(Some(run.run.clone()), conv.actions, e);
            }
            (Self::finished_outcome(&conv, Outcome::Skipped), reason)
        } else {
            let reason = format!(
                "scale-down ({why}) in progress: {summary}; run {} stays open and a later check or scale-down continues it",
                run.run
            );
            Self::set_summary(ctx, &run.run, &reason, None).await;
            let otherwise = if ctx.dry_run {
                Outcome::Skipped
            } else {
                Outcome::Deferred
            };
            (Self::finished_outcome(&conv, otherwise), reason)
        };
        StepResult {
            outcome,
            run: Some(run.run.clone()),
            actions: conv.actions,
            reason,
            evidence: Some(evidence),
            failure: None,
        }
    }
}

/// The non-empty parts, joined with "; ".
fn join_parts<const N: usize>(parts: [String; N]) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Run summaries are one line in a table: keep them short.
fn truncate(text: &str) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_convergence_is_done_only_when_nothing_is_left_failed_refused_or_merely_rehearsed() {
        let done = Converged::default();
        assert!(done.is_done(false));
        let rehearsed = Converged {
            planned: vec![Call::DeleteDbInstance {
                cluster: "db".into(),
                instance: "i".into(),
            }],
            ..Converged::default()
        };
        assert!(
            !rehearsed.is_done(true),
            "a dry run that planned calls did not restore anything"
        );
        assert!(rehearsed.is_done(false));
        let degraded = Converged {
            degraded: vec!["DeleteDBInstance on i: InvalidParameterValue".into()],
            ..Converged::default()
        };
        assert!(!degraded.is_done(false));
        let waiting = Converged {
            last: Plan {
                waiting: vec!["reader i is modifying".into()],
                ..Plan::default()
            },
            ..Converged::default()
        };
        assert!(!waiting.is_done(false));
    }

    #[test]
    fn summaries_name_the_dry_run_and_what_was_left_alone() {
        let conv = Converged {
            planned: vec![Call::UpdateService {
                cluster: "b".into(),
                service: "w".into(),
                desired: 10,
                from: 2,
            }],
            drift: vec!["b/w: desired count is 7 but nightshift set 10".into()],
            ..Converged::default()
        };
        let text = conv.summary(true);
        assert!(
            text.starts_with("NIGHTSHIFT_DRY_RUN=1: 1 call(s) planned and recorded, none made (UpdateService b/w)"),
            "{text}"
        );
        assert!(
            text.contains("drift left alone: b/w: desired count is 7"),
            "{text}"
        );
        assert_eq!(join_parts(["a".into(), String::new(), "b".into()]), "a; b");
        let long = "é".repeat(300);
        let cut = truncate(&long);
        assert!(cut.len() <= 404 && cut.ends_with('…'), "{}", cut.len());
    }
}
