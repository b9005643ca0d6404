//! The pipeline of one event: parse → admit → claim → run the step → record → respond.
//!
//! Everything a step writes to the run history after its scaling calls is written here, in one
//! place: for a completed step, one transaction holding the run's summary (or its close), the
//! event record, the guard's result and the scaling lease's release; otherwise (a failed step, or
//! a transaction a condition cancelled) the same writes one by one, in that order with the release
//! first. A step that must fail fails its guard record after the event is recorded, so a retry
//! finds the history complete and claims the step again.

use super::build::App;
use super::lease;
use super::notify::Notifier;
use super::request::{HandleError, Invocation, RunUpdate, StepOutcome, StepRequest};
use crate::aws::dynamodb::{DynamoStore, NoOpenRunAt, RunWrite, StepWrites, Written};
use crate::config::{CompletionMatcher, Scenario};
use crate::domain::{Outcome, Response, Step};
use crate::event::{self, Completion, EventKind, InboundEvent};
use crate::gate::SHORT_REASON_MAX;
use crate::history::EventRecord;
use crate::idempotency::{Claim, ClaimRequest, DedupId, Guard, Lease};
use crate::ports::{FinishError, HistoryStore};
use crate::text::{cut, quoted_list};
use jiff::Timestamp;

/// An event answered without a claim (rejected or skipped before the guard), as recorded.
struct Unclaimed {
    outcome: Outcome,
    step: Option<Step>,
    scenario: Option<String>,
    /// Rejections keep their whole message as the reason: it names the problem and the fix.
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
                let short = format!(
                    "{step} already {}{}: {}",
                    stored.outcome,
                    record
                        .finished_at
                        .map_or_else(String::new, |t| format!(" at {}", t.strftime("%H:%M:%S"))),
                    stored.reason
                );
                return Ok(Response {
                    outcome: Outcome::Duplicate,
                    run: stored.run.clone(),
                    actions: stored.actions.clone(),
                    reason: cut(&short, SHORT_REASON_MAX),
                    detail: format!(
                        "{id} was already handled {when} (outcome {}): {}",
                        stored.outcome,
                        stored.explanation()
                    ),
                    ..base
                });
            }
            Claim::InProgress { lease_until } => {
                return Ok(Response {
                    outcome: Outcome::InProgress,
                    reason: cut(
                        &format!(
                            "in progress: another delivery holds {step} until {}",
                            lease_until.strftime("%H:%M:%S")
                        ),
                        SHORT_REASON_MAX,
                    ),
                    detail: format!(
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

        let force = matches!(&event.kind, EventKind::Step(cmd) if cmd.force);
        let scheduled_time = match &event.kind {
            EventKind::Step(cmd) => cmd.scheduled_time,
            _ => None,
        };
        let req = StepRequest {
            store: &store,
            scenario,
            step,
            force,
            key: &key,
            now,
            clock: inv.now,
            deadline: inv.deadline,
            remaining: inv.remaining(),
            dry_run: self.settings.dry_run,
            guard: self.settings.guard,
            scheduled_time,
        };
        let recorded = Recorded {
            kind,
            now,
            payload_hash: &event.payload_hash,
            clock: inv.now,
            notifier: self.notifier(scenario, step, now, lease.takeover),
        };
        if let Some(mut answered) = self.steps.without_open_run(&req) {
            // A check with no open run: answered and recorded in one write, on the condition
            // that there is none (nor a pause in force, nor another delivery scaling); else run
            // the step.
            if lease.takeover {
                answered.evidence.takeover =
                    Some("an earlier delivery failed or its lease expired".into());
            }
            let (response, record) = answer(&lease, &recorded, &base, &scenario.name, &answered);
            let writes = StepWrites {
                scenario: &scenario.name,
                run: None,
                event: &record,
                lease: &lease,
                result: &response,
                now: inv.now,
                scaling_owner: None,
                no_open_run_at: Some(NoOpenRunAt {
                    clock: inv.now,
                    night: now,
                }),
            };
            match store.write_step_result(&writes).await {
                Ok(Written::All) => return Ok(response),
                Ok(Written::Cancelled) => {}
                Err(e) => {
                    let _ = guard.fail(&lease, &e.to_string(), inv.now).await;
                    return Err(e.into());
                }
            }
        }
        let mut stepped = self.steps.run(&req).await;
        if lease.takeover {
            stepped.evidence.takeover =
                Some("an earlier delivery failed or its lease expired".into());
        }

        record(&store, &guard, &lease, recorded, base, stepped).await
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

/// What the record of a claimed step needs besides its outcome.
struct Recorded<'a> {
    kind: &'a str,
    /// The night's time of the step (its event's `now`, else the clock).
    now: Timestamp,
    payload_hash: &'a str,
    /// The invocation's wall clock: the guard's result is stamped with it.
    clock: Timestamp,
    /// nightshift's own events of the step (`[notify]`, src/app/notify.rs).
    notifier: Notifier<'a>,
}

/// Record a claimed step and answer. A completed step writes its results in one transaction
/// ([`DynamoStore::write_step_result`]: the run's summary or close, the event, the guard's
/// result, the scaling lease's release). A failed step, or a transaction a condition cancelled,
/// writes them one by one, in this order: the scaling lease's release, the run's summary or close,
/// the event, the guard's result (completed, or failed so that a retry claims the step again).
async fn record(
    store: &DynamoStore,
    guard: &Guard<DynamoStore>,
    lease: &Lease,
    at: Recorded<'_>,
    base: Response,
    mut stepped: StepOutcome,
) -> Result<Response, HandleError> {
    let scenario = base.scenario.clone().unwrap_or_default();
    let scenario = scenario.as_str();
    let scaling_owner = stepped.scaling_lease.take();
    // nightshift's own events: after the step's work, before its records; never fails the step.
    let closed =
        matches!(stepped.run_update, Some(RunUpdate::Close { .. })) && stepped.failure.is_none();
    if let Some(put) = at.notifier.after_step(&stepped, closed).await {
        stepped.actions.push(put);
    }
    if stepped.failure.is_none() {
        let (response, record) = answer(lease, &at, &base, scenario, &stepped);
        let summary = stepped.run_update.as_ref().map(|u| match u {
            RunUpdate::Summary { summary, .. } | RunUpdate::Close { summary, .. } => {
                truncate(summary)
            }
        });
        let run = match (&stepped.run_update, &summary) {
            (Some(RunUpdate::Summary { run, state, .. }), Some(summary)) => {
                Some(RunWrite::Summary {
                    run,
                    summary,
                    state: state.as_ref(),
                })
            }
            (Some(RunUpdate::Close { run, at, .. }), Some(summary)) => Some(RunWrite::Close {
                run,
                at: *at,
                summary,
            }),
            _ => None,
        };
        let writes = StepWrites {
            scenario,
            run,
            event: &record,
            lease,
            result: &response,
            now: at.clock,
            scaling_owner: scaling_owner.as_deref(),
            no_open_run_at: None,
        };
        match store.write_step_result(&writes).await {
            Ok(Written::All) => return Ok(response),
            // A condition failed and nothing was written: one by one below, each write handling
            // its own condition as it always has.
            Ok(Written::Cancelled) => {}
            Err(e) => {
                // Nothing or everything was written: fail the record so that a retry claims the
                // step again (a completed one stays completed), and give the lease back.
                let _ = guard.fail(lease, &e.to_string(), at.clock).await;
                if let Some(owner) = &scaling_owner {
                    lease::release(store, scenario, owner).await;
                }
                return Err(e.into());
            }
        }
    }
    if let Some(owner) = &scaling_owner {
        lease::release(store, scenario, owner).await;
    }
    let stepped = record_run_update(store, scenario, stepped).await;
    let (response, record) = answer(lease, &at, &base, scenario, &stepped);
    if let Err(e) = store.record_event(&record).await {
        let _ = guard.fail(lease, &e.to_string(), at.clock).await;
        return Err(e.into());
    }
    if let Some(failure) = stepped.failure {
        // The step stays open: a retry of this delivery may claim it again.
        let _ = guard.fail(lease, &failure.to_string(), at.clock).await;
        return Err(failure);
    }
    match guard.complete(lease, &response, at.clock).await {
        Ok(()) => Ok(response),
        Err(FinishError::StaleOwner { id }) => Err(HandleError::Retryable(format!(
            "this delivery's lease on {id} expired and another delivery took the step over; its result stands"
        ))),
        Err(FinishError::Store(e)) => Err(e.into()),
    }
}

/// The answer of a claimed step and its event record.
fn answer(
    lease: &Lease,
    at: &Recorded<'_>,
    base: &Response,
    scenario: &str,
    stepped: &StepOutcome,
) -> (Response, EventRecord) {
    let response = Response {
        outcome: stepped.outcome,
        run: stepped.run.clone(),
        actions: stepped.actions.clone(),
        reason: stepped.why.short.clone(),
        detail: if stepped.why.detail == stepped.why.short {
            String::new()
        } else {
            stepped.why.detail.clone()
        },
        ..base.clone()
    };
    let record = EventRecord {
        key: lease.id.key.clone(),
        step: Some(lease.id.step),
        scenario: Some(scenario.to_string()),
        run: response.run.clone(),
        kind: at.kind.to_string(),
        outcome: response.outcome,
        reason: response.reason.clone(),
        detail: response.detail.clone(),
        actions: response.actions.clone(),
        received_at: at.now,
        finished_at: at.now,
        evidence: stepped.evidence.to_json(),
        payload_hash: Some(at.payload_hash.to_string()),
    };
    (response, record)
}

/// Write the run-history update that goes with a step. A close that fails turns the step into
/// a store failure (retryable when DynamoDB said so: the retry closes it); a summary that fails is
/// logged (the summary is a convenience of the history table, the event record is the truth).
async fn record_run_update(
    store: &dyn HistoryStore,
    scenario: &str,
    mut stepped: StepOutcome,
) -> StepOutcome {
    match stepped.run_update.take() {
        None => stepped,
        Some(RunUpdate::Summary {
            run,
            summary,
            state,
        }) => {
            if let Err(e) = store
                .update_run(scenario, &run, &truncate(&summary), state.as_ref())
                .await
            {
                tracing::warn!(scenario, run, "could not update the run summary: {e}");
            }
            stepped
        }
        Some(RunUpdate::Close { run, summary, at }) => {
            match store
                .close_run(scenario, &run, at, &truncate(&summary))
                .await
            {
                Ok(()) => stepped,
                Err(e) => {
                    let mut failed = StepOutcome::store_failure(
                        Some(run),
                        std::mem::take(&mut stepped.actions),
                        e,
                    );
                    failed.evidence = stepped.evidence;
                    failed
                }
            }
        }
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

/// Run summaries are one line in a table; an item is bounded whatever a summary holds.
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
    fn summaries_are_bounded_on_a_character_boundary() {
        let long = "é".repeat(300);
        let cut = truncate(&long);
        assert!(cut.len() <= 404 && cut.ends_with('…'), "{}", cut.len());
    }
}
