//! What flows through the shell, at its bottom: an event's invocation and what its caller
//! answers ([`Invocation`], [`HandleError`], [`Answer`]: the one mapping of a handled event to
//! the Lambda result and to the CLI's output and exit status), and a claimed step's request and outcome
//! ([`StepRequest`], [`StepOutcome`], [`RunUpdate`]) across the [`StepRunner`] port between the
//! pipeline and the night. Every other module of the shell imports from here; this module imports
//! nothing of the shell.

use crate::config::Scenario;
use crate::domain::{Action, Outcome, Response, Step};
use crate::evidence::StepEvidence;
use crate::idempotency::GuardPolicy;
use crate::night::Why;
use crate::ports::{HistoryStore, StoreError};
use async_trait::async_trait;
use jiff::Timestamp;
use std::time::Duration;

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
    /// Time left before the invocation's deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| {
            d.duration_since(self.now)
                .try_into()
                .unwrap_or(Duration::ZERO)
        })
    }
}

/// A failure the caller must surface as an error (not a response).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

    /// Lambda's `errorType` for it: [`RETRYABLE`] or [`NON_RETRYABLE`].
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            RETRYABLE
        } else {
            NON_RETRYABLE
        }
    }
}

/// `errorType` of an answer that a retry of the same event could change.
pub const RETRYABLE: &str = "Retryable";
/// `errorType` of an answer that every retry of the same event will repeat.
pub const NON_RETRYABLE: &str = "NonRetryable";

/// What the caller of [`crate::app::App::handle`] answers, the same for `bootstrap` (to the
/// Lambda Runtime API) and `nightshift invoke` (on the terminal).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Every outcome but `rejected`: the response is the answer.
    Respond(Response),
    /// Bad input (`rejected`, recorded): the invocation fails and no retry changes that.
    Reject(Response),
    /// A failure to report as an error: retried when retryable.
    Fail(HandleError),
}

/// A failed invocation as Lambda reports it: its `errorType` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: &'static str,
    pub message: String,
}

impl Answer {
    pub fn of(result: Result<Response, HandleError>) -> Answer {
        match result {
            Ok(response) if response.outcome == Outcome::Rejected => Answer::Reject(response),
            Ok(response) => Answer::Respond(response),
            Err(e) => Answer::Fail(e),
        }
    }

    /// The Lambda function's result: the response, or the error with its `errorType` (a
    /// rejection's message is its reason: it names the problem and the fix).
    pub fn into_function_result(self) -> Result<Response, FunctionError> {
        match self {
            Answer::Respond(response) => Ok(response),
            Answer::Reject(response) => Err(FunctionError {
                error_type: NON_RETRYABLE,
                message: response.reason,
            }),
            Answer::Fail(e) => Err(FunctionError {
                error_type: e.error_type(),
                message: e.to_string(),
            }),
        }
    }

    /// The response the CLI prints, rejected or not (none for a failure).
    pub fn response(&self) -> Option<&Response> {
        match self {
            Answer::Respond(response) | Answer::Reject(response) => Some(response),
            Answer::Fail(_) => None,
        }
    }

    /// The CLI's exit status: 0 answered, 2 rejected (bad input), 1 failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Answer::Respond(_) => 0,
            Answer::Reject(_) => 2,
            Answer::Fail(_) => 1,
        }
    }
}

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
    /// The Scheduler's `scheduled_time` of the command, when a schedule sent it.
    pub scheduled_time: Option<Timestamp>,
}

impl<'a> StepRequest<'a> {
    /// The same request for the night's scenario (its profile applied).
    pub fn for_night<'b>(&self, scenario: &'b Scenario) -> StepRequest<'b>
    where
        'a: 'b,
    {
        StepRequest {
            store: self.store,
            scenario,
            step: self.step,
            force: self.force,
            key: self.key,
            now: self.now,
            clock: self.clock,
            deadline: self.deadline,
            remaining: self.remaining,
            dry_run: self.dry_run,
            guard: self.guard,
            scheduled_time: self.scheduled_time,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn response(outcome: Outcome) -> Response {
        Response {
            outcome,
            scenario: Some("nightly-batch".into()),
            run: None,
            step: Some(Step::ScaleUp),
            actions: Vec::<Action>::new(),
            reason: "because".into(),
            detail: String::new(),
            key: Some("k".into()),
        }
    }

    /// The function's answer, as bootstrap hands it to the Runtime API.
    fn answer(result: Result<Response, HandleError>) -> Result<Response, FunctionError> {
        Answer::of(result).into_function_result()
    }

    #[test]
    fn every_outcome_but_rejected_is_a_response() {
        for outcome in [
            Outcome::Acted,
            Outcome::Duplicate,
            Outcome::InProgress,
            Outcome::Deferred,
            Outcome::Skipped,
        ] {
            assert_eq!(answer(Ok(response(outcome))), Ok(response(outcome)));
        }
    }

    #[test]
    fn rejected_is_a_non_retryable_error_carrying_the_reason() {
        let mut rejected = response(Outcome::Rejected);
        rejected.reason = "invalid_json: the event is not JSON".into();
        assert_eq!(
            answer(Ok(rejected)),
            Err(FunctionError {
                error_type: "NonRetryable",
                message: "invalid_json: the event is not JSON".into()
            })
        );
    }

    #[test]
    fn handle_errors_keep_their_retryability_in_the_error_type() {
        let retryable = answer(Err(HandleError::Retryable("throttled".into()))).unwrap_err();
        assert_eq!(retryable.error_type, "Retryable");
        assert_eq!(retryable.message, "throttled");
        let permanent = answer(Err(HandleError::NonRetryable("no table".into()))).unwrap_err();
        assert_eq!(permanent.error_type, "NonRetryable");
    }

    #[test]
    fn invoke_prints_the_response_of_an_answer_and_exits_as_the_function_answers() {
        // Answered: printed, exit 0. Rejected: printed too, exit 2 (the function fails it).
        // Failed: nothing printed, exit 1.
        let acted = Answer::of(Ok(response(Outcome::Acted)));
        assert_eq!(
            (acted.response(), acted.exit_code()),
            (Some(&response(Outcome::Acted)), 0)
        );
        let rejected = Answer::of(Ok(response(Outcome::Rejected)));
        assert_eq!(
            (rejected.response(), rejected.exit_code()),
            (Some(&response(Outcome::Rejected)), 2)
        );
        for error in [
            HandleError::Retryable("throttled".into()),
            HandleError::NonRetryable("no table".into()),
        ] {
            let failed = Answer::of(Err(error));
            assert_eq!((failed.response(), failed.exit_code()), (None, 1));
        }
    }
}
