//! The ports: the traits the shell (src/app) needs from the outside world, and the error types
//! they share. The adapters in src/aws implement them; nothing above this module names an AWS
//! SDK type.
//!
//! - [`GuardStore`]: the dedup records of the exactly-once guard (src/idempotency/).
//! - [`HistoryStore`]: the run history, the scenario's state item, and its scaling lease.
//! - [`Scaling`]: the live state of a scenario's resources, and the one executor through which
//!   every mutating scaling call goes: it takes only a [`VettedCall`], which only the safety
//!   check makes (the adapters' clients and mutating methods are private to src/aws).
//! - [`Metrics`]: the batch metrics the scale-down gate reads.
//! - [`EventSink`]: nightshift's own events (`[notify] event_bus`, EventBridge PutEvents).

use crate::config::{MetricSpec, Scenario};
use crate::domain::{Action, Response};
use crate::gate::MetricsFetch;
use crate::history::{EventRecord, OpenRun, Page, RunRecord, ScalingLease, ScenarioState};
use crate::idempotency::{DedupId, DedupRecord, Lease, NewClaim, PutResult};
use crate::overrides::{Hold, HoldPlaced, Pause};
use crate::plan::safety::VettedCall;
use crate::plan::Snapshot;
use async_trait::async_trait;
use jiff::Timestamp;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Stores (DynamoDB)
// ---------------------------------------------------------------------------------------------

/// Errors of the storage primitives.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, 5xx: the delivery should be retried.
    #[error("DynamoDB is unavailable or throttling ({0}); the delivery will be retried")]
    Transient(String),
    /// The table does not exist.
    #[error("DynamoDB table \"{0}\" does not exist: run `nightshift migrate --table {0}` (or set NIGHTSHIFT_TABLE to the right table)")]
    MissingTable(String),
    /// Access denied and other errors a retry will not fix.
    #[error("DynamoDB refused the request: {0}")]
    Permanent(String),
    /// An item that does not decode: written by something else, or corrupted.
    #[error("corrupt record in the table: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }
}

/// Why complete or fail did not take effect.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FinishError {
    /// This delivery's lease was taken over: another delivery owns the step now, and this
    /// delivery's result was not stored.
    #[error("the lease on {id} was taken over by another delivery; this delivery's result was not stored and nothing was changed")]
    StaleOwner { id: DedupId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Four storage primitives; the policy above them is in [`crate::idempotency::Guard`].
#[async_trait]
pub trait GuardStore: Send + Sync {
    /// One conditional write: succeeds when no record exists or the existing one is claimable
    /// by [`crate::idempotency::GuardPolicy::is_claimable`].
    async fn put_claim(&self, claim: &NewClaim) -> Result<PutResult, StoreError>;
    /// A strongly consistent read (never a GSI: those are eventually consistent).
    async fn get(&self, id: &DedupId) -> Result<Option<DedupRecord>, StoreError>;
    /// IN_PROGRESS → COMPLETED with `result`, only if `owner` still owns the record.
    async fn complete(
        &self,
        lease: &Lease,
        result: &Response,
        now: Timestamp,
    ) -> Result<(), FinishError>;
    /// IN_PROGRESS → FAILED with `error`, only if `owner` still owns the record.
    async fn fail(&self, lease: &Lease, error: &str, now: Timestamp) -> Result<(), FinishError>;
}

/// The run-history storage primitives.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Record one handled event (in its run's partition, or the day's log when it has no run).
    async fn record_event(&self, event: &EventRecord) -> Result<(), StoreError>;

    /// Create a run and make it the scenario's open run, atomically, unless one is open.
    async fn open_run(&self, run: &RunRecord) -> Result<OpenRun, StoreError>;

    /// Close a run and clear the scenario's open-run pointer, atomically.
    async fn close_run(
        &self,
        scenario: &str,
        run: &str,
        at: Timestamp,
        summary: &str,
    ) -> Result<(), StoreError>;

    /// Update a run's summary line (and baseline when given).
    async fn update_run(
        &self,
        scenario: &str,
        run: &str,
        summary: &str,
        baseline: Option<&serde_json::Value>,
    ) -> Result<(), StoreError>;

    /// One run (GetItem).
    async fn get_run(&self, scenario: &str, run: &str) -> Result<Option<RunRecord>, StoreError>;

    /// The scenario's open run (consistent GetItem of the pointer, then GetItem of the run).
    async fn latest_open_run(&self, scenario: &str) -> Result<Option<RunRecord>, StoreError>;

    /// A scenario's runs, newest first, optionally only those from run id `since_run` on (run
    /// ids start with the night's date, so this is "since that night"). Query on the scenario
    /// partition, backwards.
    async fn scenario_runs(
        &self,
        scenario: &str,
        since_run: Option<&str>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RunRecord>, StoreError>;

    /// Runs of every scenario opened in `[from, to]`, newest first (Query on the time index,
    /// one month partition at a time).
    async fn runs_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RunRecord>, StoreError>;

    /// Every event of one run, oldest first (Query on the run's partition).
    async fn run_events(
        &self,
        scenario: &str,
        run: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<EventRecord>, StoreError>;

    /// Events attached to no run on one UTC day (rejections and the like), oldest first.
    async fn unattached_events(
        &self,
        day: Timestamp,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<EventRecord>, StoreError>;

    /// The scenario's state item (consistent GetItem): its open run and its pause.
    async fn scenario_state(&self, scenario: &str) -> Result<ScenarioState, StoreError>;

    /// Pause the scenario (`nightshift pause`): one UpdateItem of its state item, creating it if
    /// needed. Returns the pause it replaced, if any.
    async fn pause(&self, scenario: &str, pause: &Pause) -> Result<Option<Pause>, StoreError>;

    /// Take the scenario's scaling lease for `owner` until `until`, unless another owner holds an
    /// unexpired one (re-taking one's own extends it). One conditional UpdateItem of the state
    /// item, which comes back with the write: the open run and the pause, at no extra call.
    async fn acquire_scaling_lease(
        &self,
        scenario: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<ScalingLease, StoreError>;

    /// Give the scaling lease up, if `owner` still holds it.
    async fn release_scaling_lease(&self, scenario: &str, owner: &str) -> Result<(), StoreError>;

    /// Lift the pause (`nightshift resume`): one UpdateItem REMOVE. Returns the pause it removed
    /// (None: the scenario was not paused, or has no state item yet).
    async fn resume(&self, scenario: &str) -> Result<Option<Pause>, StoreError>;

    /// Hold the open run's capacity (`nightshift hold`): one UpdateItem of the state item, on
    /// condition that `hold.run` is still its open run (else [`HoldPlaced::NoOpenRun`]).
    async fn hold(&self, scenario: &str, hold: &Hold) -> Result<HoldPlaced, StoreError>;

    /// End the hold (`nightshift release`): one UpdateItem REMOVE. Returns the hold it removed.
    async fn release_hold(&self, scenario: &str) -> Result<Option<Hold>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Scaling (ECS, Application Auto Scaling, DocumentDB) and metrics (CloudWatch)
// ---------------------------------------------------------------------------------------------

/// The scaling side of the world: read a scenario's resources, make one planned call.
#[async_trait]
pub trait Scaling: Send + Sync {
    /// The live state of every resource the scenario configures; a resource that does not exist
    /// is left out (the planner decides what that means); a failed read is an error.
    async fn snapshot(&self, scenario: &Scenario) -> Result<Snapshot, CallError>;

    /// [`Scaling::snapshot`] reading the tags of only the instances `tags` asks for (one
    /// ListTagsForResource each); the others come back with no tags. An adapter that reads tags
    /// at no cost may ignore `tags`: the default does.
    async fn snapshot_with(
        &self,
        scenario: &Scenario,
        tags: &TagReads,
    ) -> Result<Snapshot, CallError> {
        let _ = tags;
        self.snapshot(scenario).await
    }

    /// Make one call the safety check allowed (in dry run, only record it). The only way a
    /// mutating call is made.
    async fn execute(&self, call: &VettedCall, dry_run: bool) -> Executed;

    /// The task-level CPU units and memory MiB of a task definition, and whether it runs on
    /// Fargate only (DescribeTaskDefinition; read once, when a run opens). An adapter that
    /// cannot tell answers `(None, None, false)`: the default does.
    async fn task_size(
        &self,
        task_definition: &str,
    ) -> Result<(Option<u32>, Option<u32>, bool), CallError> {
        let _ = task_definition;
        Ok((None, None, false))
    }
}

/// Whose tags a snapshot reads. Tags tell nightshift's instances from the others; a planner that
/// never looks at them (a scale-up without a resize) or already knows an instance (the run's
/// baseline: never nightshift's to delete) need not read them. An instance whose tags are not read
/// has none, and an untagged instance is one nightshift only ever leaves alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TagReads {
    #[default]
    All,
    None,
    /// Every instance but these.
    Except(std::collections::BTreeSet<String>),
}

impl TagReads {
    /// Are `instance`'s tags read?
    pub fn reads(&self, instance: &str) -> bool {
        match self {
            TagReads::All => true,
            TagReads::None => false,
            TagReads::Except(known) => !known.contains(instance),
        }
    }
}

/// The batch metrics the scale-down gate reads (read-only).
#[async_trait]
pub trait Metrics: Send + Sync {
    /// Every metric's datapoints in `[from, to)`; a failure is kept as its message (the gate
    /// records it and holds).
    async fn fetch(&self, metrics: &[MetricSpec], from: Timestamp, to: Timestamp) -> MetricsFetch;
}

/// One event for [`EventSink::put_events`]: EventBridge's `Source`, `DetailType` and `Detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEvent {
    pub source: String,
    pub detail_type: String,
    /// The detail, a JSON object as text.
    pub detail: String,
    pub time: Timestamp,
}

/// Where nightshift's own events go: one PutEvents call with every entry of a step.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Send `entries` to `bus` (a name or an ARN) in one call. `Err` when the call failed or any
    /// entry was refused (the error names the first refused entry's code).
    async fn put_events(&self, bus: &str, entries: &[OutboundEvent]) -> Result<(), CallError>;
}

/// How a failed scaling call is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallErrorKind {
    /// Throttling, 5xx, timeouts, and DocumentDB's "busy right now" states
    /// (InvalidDBInstanceState, InvalidDBClusterStateFault): retry later; the step stays open.
    Retryable,
    /// Quota or capacity (InstanceQuotaExceeded, InsufficientDBInstanceCapacity): record it and
    /// go on with what the night got.
    Degraded,
    /// The function's role may not make this call: fail clearly, naming the action and resource.
    AccessDenied,
    /// The addressed resource does not exist.
    NotFound,
    /// Anything else a retry will not fix (e.g. an invalid instance class in the config).
    Permanent,
}

/// A failed scaling call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub kind: CallErrorKind,
    /// API operation, e.g. `CreateDBInstance`.
    pub operation: &'static str,
    /// The IAM action(s) the call needs, e.g. `rds:CreateDBInstance`.
    pub iam_action: &'static str,
    /// What it addressed, for humans.
    pub resource: String,
    /// The service's error code, when it sent one.
    pub code: Option<String>,
    /// Code and message, or the transport failure.
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CallErrorKind::AccessDenied => write!(
                f,
                "{} on {} was denied ({}): the function's role lacks {} on {}; grant it (`nightshift iam-policy` prints the policy) and re-send the event",
                self.operation, self.resource, self.message, self.iam_action, self.resource
            ),
            _ => write!(f, "{} on {}: {}", self.operation, self.resource, self.message),
        }
    }
}

impl std::error::Error for CallError {}

/// A write the service accepted, or found already done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Nothing changed: the effect was already in place (why).
    AlreadyDone(String),
}

/// One executed (or dry-run) call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub action: Action,
    pub error: Option<CallError>,
}
