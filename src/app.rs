//! The shell both binaries call: parse → resolve scenario → guard → act → record → respond.
//!
//! `bootstrap` (Lambda) and `nightshift invoke` (CLI) run every event through [`App::handle`], so
//! a rehearsal on a laptop exercises the exact production path.

use crate::aws::dynamodb::DynamoStore;
use crate::aws::Timeouts;
use crate::config::{CompletionMatcher, Config, Scenario};
use crate::domain::{Outcome, Response, Step};
use crate::event::{self, Completion, EventKind, InboundEvent};
use crate::history::{EventRecord, HistoryStore};
use crate::idempotency::{
    Claim, ClaimRequest, DedupId, FinishError, Guard, GuardPolicy, StoreError,
};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;

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
    pub fn new(config: Arc<Config>, settings: Settings, store: DynamoStore) -> App {
        App {
            config,
            settings,
            store,
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
        App::new(config, settings, store)
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
                let hint = rejection.scenario_hint().map(str::to_string);
                let reason = rejection.to_string();
                return self
                    .finish_unclaimed(
                        &store,
                        inv,
                        inv.request_id.clone(),
                        None,
                        hint,
                        "unparsed",
                        None,
                        Outcome::Rejected,
                        reason,
                    )
                    .await;
            }
        };
        let key = event.key.dedup_key(&inv.request_id);
        let kind = kind_name(&event.kind);

        // `now` rehearses a decision at another time; never in production.
        let now = match event.now_override {
            Some(_) if self.settings.is_prod() => {
                let reason = "\"now\" is for rehearsals and tests and is refused when APP_ENV=prod: remove it from the event".to_string();
                return self
                    .finish_unclaimed(
                        &store,
                        inv,
                        key,
                        step_of(&event),
                        scenario_of(&event),
                        kind,
                        Some(&event),
                        Outcome::Rejected,
                        reason,
                    )
                    .await;
            }
            Some(now) => now,
            None => inv.now,
        };

        let (scenario, step) = match self.resolve(&event) {
            Ok(Target::Step { scenario, step }) => (scenario, step),
            Ok(Target::Nothing { scenario, reason }) => {
                let name = scenario.map(|s| s.name.clone());
                return self
                    .finish_unclaimed(
                        &store,
                        inv,
                        key,
                        Some(Step::Check),
                        name,
                        kind,
                        Some(&event),
                        Outcome::Skipped,
                        reason,
                    )
                    .await;
            }
            Err(reason) => {
                return self
                    .finish_unclaimed(
                        &store,
                        inv,
                        key,
                        step_of(&event),
                        scenario_of(&event),
                        kind,
                        Some(&event),
                        Outcome::Rejected,
                        reason,
                    )
                    .await;
            }
        };

        let guard = Guard::new(store.clone(), self.settings.guard);
        let id = DedupId {
            key: key.clone(),
            step,
        };
        let claim = guard
            .claim(&ClaimRequest {
                id: id.clone(),
                payload_hash: event.payload_hash.clone(),
                now,
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
                return self
                    .finish_unclaimed(
                        &store,
                        inv,
                        key,
                        Some(step),
                        Some(scenario.name.clone()),
                        kind,
                        Some(&event),
                        Outcome::Rejected,
                        reason,
                    )
                    .await;
            }
        };

        // The scaling engine plugs in here. Until it exists a step is recorded, honestly, as
        // skipped: no AWS scaling call is made.
        let response = Response {
            outcome: Outcome::Skipped,
            reason: format!(
                "{step} for scenario \"{}\" was recorded; this build of nightshift has no scaling engine yet, so no AWS scaling call was made",
                scenario.name
            ),
            ..base
        };
        let record = EventRecord {
            key: key.clone(),
            step: Some(step),
            scenario: Some(scenario.name.clone()),
            run: response.run.clone(),
            kind: kind.to_string(),
            outcome: response.outcome,
            reason: response.reason.clone(),
            actions: response.actions.clone(),
            received_at: now,
            finished_at: now,
            evidence: lease
                .takeover
                .then(|| serde_json::json!({"takeover": "an earlier delivery failed or its lease expired"})),
            payload_hash: Some(event.payload_hash.clone()),
        };
        if let Err(e) = store.record_event(&record).await {
            let _ = guard.fail(&lease, &e.to_string(), now).await;
            return Err(e.into());
        }
        match guard.complete(&lease, &response, now).await {
            Ok(()) => Ok(response),
            Err(FinishError::StaleOwner { id }) => Err(HandleError::Retryable(format!(
                "this delivery's lease on {id} expired and another delivery took the step over; its result stands"
            ))),
            Err(FinishError::Store(e)) => Err(e.into()),
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
    #[allow(clippy::too_many_arguments)]
    async fn finish_unclaimed(
        &self,
        store: &DynamoStore,
        inv: &Invocation,
        key: String,
        step: Option<Step>,
        scenario: Option<String>,
        kind: &str,
        event: Option<&InboundEvent>,
        outcome: Outcome,
        reason: String,
    ) -> Result<Response, HandleError> {
        let record = EventRecord {
            key: key.clone(),
            step,
            scenario: scenario.clone(),
            run: None,
            kind: kind.to_string(),
            outcome,
            reason: reason.clone(),
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
