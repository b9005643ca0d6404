//! The idempotency guard: exactly-once steps over at-least-once, possibly concurrent deliveries.
//!
//! The policy (what a claim means, when a lease is expired, when a payload mismatches) lives here
//! and is pure: `now` is always passed in, nothing reads the clock. Storage is four primitives
//! behind [`GuardStore`] (conditional put, consistent get, owner-checked complete and fail); the
//! DynamoDB adapter is `crate::aws::dynamodb`.
//!
//! A record is keyed by (dedup key, step). Its life:
//!
//! ```text
//!   (none) --claim--> IN_PROGRESS --complete(owner)--> COMPLETED   (replayed to later deliveries)
//!                         |  \--fail(owner)---------> FAILED      (a later delivery may re-claim)
//!                         \--lease expired: a later delivery takes over (new owner)
//! ```
//!
//! Units are explicit in every name (`_ms`, `_s`): mixing them up is a known failure of other
//! idempotency libraries (aws-facts.md).

use crate::domain::{Response, Step};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// (dedup key, step): the identity of one step delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupId {
    pub key: String,
    pub step: Step,
}

impl std::fmt::Display for DedupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.key, self.step)
    }
}

/// The random token a claim writes; complete and fail succeed only for the current owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerToken(pub String);

impl OwnerToken {
    pub fn random() -> Self {
        OwnerToken(uuid::Uuid::new_v4().to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    InProgress,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "IN_PROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            "FAILED" => Some(Status::Failed),
            _ => None,
        }
    }
}

/// A dedup record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DedupRecord {
    pub id: DedupId,
    pub status: Status,
    pub owner: OwnerToken,
    pub payload_hash: String,
    /// Until when the owner may work; past it another delivery may take over.
    pub lease_until: Timestamp,
    /// Retention: the DynamoDB TTL attribute (epoch seconds). Checked in code too, because TTL
    /// deletion can lag by days.
    pub expires_at: Timestamp,
    pub claimed_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The stored response of a COMPLETED record.
    pub result: Option<Response>,
    /// Why a FAILED record failed.
    pub error: Option<String>,
}

/// What the guard tells the caller to do with a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This delivery owns the step now: act, then complete or fail with the lease.
    Proceed(Lease),
    /// The step already completed with the same payload: return the stored result, call nothing.
    Replay(Box<DedupRecord>),
    /// Another delivery holds a live lease.
    InProgress { lease_until: Timestamp },
    /// The same key+step was used with a different payload: refuse it, call nothing.
    PayloadMismatch { stored_hash: String },
}

/// Proof of ownership returned by a successful claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub id: DedupId,
    pub owner: OwnerToken,
    pub lease_until: Timestamp,
    /// True when this claim replaced an expired or failed earlier attempt.
    pub takeover: bool,
}

/// The inputs of one claim. `now` is passed in; the guard never reads the clock.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub id: DedupId,
    pub payload_hash: String,
    pub now: Timestamp,
    /// The invocation's deadline (Lambda context), if known.
    pub deadline: Option<Timestamp>,
}

/// Lease and retention policy.
#[derive(Debug, Clone, Copy)]
pub struct GuardPolicy {
    /// Lease used when the invocation has no usable deadline (CLI invoke, or a deadline already
    /// past): never "no expiry".
    pub default_lease: Duration,
    /// How long a record is kept (the TTL attribute).
    pub retention: Duration,
}

/// How far past the invocation deadline a lease reaches. A taker compares the lease with its own
/// clock while the holder acts until the deadline on its own: a taker whose clock runs ahead
/// could otherwise take over in the holder's last moments (the model check's clock-skew finding:
/// a FailoverDBCluster made twice). Lambda's hosts keep time with Amazon Time Sync, well within
/// this margin; a crashed holder's step is claimable this much later.
pub const CLOCK_MARGIN: Duration = Duration::from_millis(250);

impl Default for GuardPolicy {
    fn default() -> Self {
        GuardPolicy {
            default_lease: Duration::from_secs(120),
            // EventBridge retries for up to 24 h and Lambda's async queue keeps events up to 6 h;
            // a week covers both with room, and keeps ops able to see the records.
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

fn add(ts: Timestamp, d: Duration) -> Timestamp {
    let signed = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    ts.checked_add(signed).unwrap_or(Timestamp::MAX)
}

// ---------------------------------------------------------------------------------------------
// The conditional writes as pure rules. DynamoDB evaluates each of them atomically on one item,
// as a condition expression (`crate::aws::dynamodb`); these functions are the same rules over the
// decoded item, at the granularity the item stores (seconds for `expires_at`, milliseconds for
// the leases). A unit test there pins each expression and its rule to one truth table, and the
// model check (integration/model) evaluates the conditional writes with these functions.
// ---------------------------------------------------------------------------------------------

/// The claim's conditional PutItem: may a delivery with `payload_hash` write a new IN_PROGRESS
/// record over `existing` at `now`? Yes when there is no record, when it is past retention (TTL
/// deletes lazily), or, for the same payload only, when it failed or its lease expired. A
/// COMPLETED record within retention is never claimable.
pub fn claim_allowed(existing: Option<&DedupRecord>, payload_hash: &str, now: Timestamp) -> bool {
    let Some(existing) = existing else {
        return true;
    };
    if existing.expires_at.as_second() < now.as_second() {
        return true;
    }
    existing.payload_hash == payload_hash
        && match existing.status {
            Status::Failed => true,
            Status::InProgress => existing.lease_until.as_millisecond() < now.as_millisecond(),
            Status::Completed => false,
        }
}

/// Complete's and fail's conditional UpdateItem: only the owner of an IN_PROGRESS record may
/// finish it (a missing record fails the condition, and is not created).
pub fn finish_allowed(existing: Option<&DedupRecord>, owner: &OwnerToken) -> bool {
    existing.is_some_and(|r| r.owner == *owner && r.status == Status::InProgress)
}

/// A finish whose condition failed may have been applied by this very owner: the SDK re-sends an
/// UpdateItem whose answer was lost, and the re-sent request then fails its own condition. The
/// record carrying `owner` and the status being written means the finish is done.
pub fn finish_already_applied(
    existing: Option<&DedupRecord>,
    owner: &OwnerToken,
    status: Status,
) -> bool {
    existing.is_some_and(|r| r.owner == *owner && r.status == status)
}

/// A claim whose condition failed on a record with this delivery's own owner token: the SDK
/// re-sent a PutItem whose answer was lost, and the first attempt wrote the claim. It is ours.
pub fn own_claim(existing: &DedupRecord, owner: &OwnerToken) -> bool {
    existing.owner == *owner && existing.status == Status::InProgress
}

/// The scaling lease attributes of a scenario's state item as stored (`scaling_owner`,
/// `scaling_until_ms`); both None when the item or the lease is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScalingLeaseItem<'a> {
    pub owner: Option<&'a str>,
    pub until_ms: Option<i64>,
}

/// The scaling lease's conditional UpdateItem: may `owner` take (or extend) the lease at `now`?
/// Yes when no lease is stored, when it expired, or when `owner` holds it already.
pub fn scaling_lease_acquirable(item: ScalingLeaseItem<'_>, owner: &str, now: Timestamp) -> bool {
    match item.until_ms {
        None => true,
        Some(until_ms) if until_ms < now.as_millisecond() => true,
        Some(_) => item.owner == Some(owner),
    }
}

/// The release's conditional UpdateItem: only the stored owner removes the lease (an expired one
/// taken over by another delivery is left alone).
pub fn scaling_lease_releasable(item: ScalingLeaseItem<'_>, owner: &str) -> bool {
    item.owner == Some(owner)
}

/// The ConditionCheck of a check answered without the scaling lease
/// (`NO_OPEN_RUN_CONDITION` on the scenario's STATE item): the answer "no open run, nothing to
/// check" is recorded only while the scenario has no open run, no pause in force at the night's
/// time `night` (a paused check answers otherwise; a pause that ended stays stored until
/// `resume`, and is as good as none) and no live scaling lease at the wall clock `clock`. A
/// missing item is all three.
pub fn no_open_run_answerable(
    open_run: bool,
    paused_until_ms: Option<i64>,
    lease_until_ms: Option<i64>,
    clock: Timestamp,
    night: Timestamp,
) -> bool {
    !open_run
        && paused_until_ms.is_none_or(|until| until <= night.as_millisecond())
        && lease_until_ms.is_none_or(|until| until < clock.as_millisecond())
}

/// The condition of a completed step's final transaction (`DynamoStore::write_step_result`):
/// every item's own condition at once, so the transaction applies only when each write would
/// apply on its own — the owner completes its IN_PROGRESS record ([`finish_allowed`]) and, when
/// it holds the scaling lease, still holds it ([`scaling_lease_releasable`]). (The run close and
/// summary conditions are the run history's.) When it does not apply nothing is written, and the
/// writes are made one by one.
pub fn step_result_writable(
    existing: Option<&DedupRecord>,
    owner: &OwnerToken,
    scaling: Option<(ScalingLeaseItem<'_>, &str)>,
) -> bool {
    finish_allowed(existing, owner)
        && scaling.is_none_or(|(item, scaling_owner)| scaling_lease_releasable(item, scaling_owner))
}

impl GuardPolicy {
    /// The lease expiry for a claim at `now`.
    ///
    /// The lease ends with the invocation's deadline: when Lambda kills a timed-out invocation
    /// its record must become claimable again. A deadline that is missing, zero or already past
    /// is not "unknown, never expire" (a Powertools bug): the default lease applies.
    pub fn lease_until(&self, now: Timestamp, deadline: Option<Timestamp>) -> Timestamp {
        match deadline {
            Some(deadline) if deadline > now => add(deadline, CLOCK_MARGIN),
            _ => add(now, self.default_lease),
        }
    }

    pub fn expires_at(&self, now: Timestamp) -> Timestamp {
        add(now, self.retention)
    }

    /// May a new delivery with `payload_hash` claim over `existing` at `now`? See
    /// [`claim_allowed`]: the store evaluates that rule atomically, this copy classifies the
    /// record a failed write returned.
    pub fn is_claimable(&self, existing: &DedupRecord, payload_hash: &str, now: Timestamp) -> bool {
        claim_allowed(Some(existing), payload_hash, now)
    }

    /// What an existing record that blocks a claim means for this delivery.
    pub fn classify(&self, existing: DedupRecord, payload_hash: &str, now: Timestamp) -> Blocked {
        if self.is_claimable(&existing, payload_hash, now) {
            return Blocked::Claimable;
        }
        if existing.payload_hash != payload_hash {
            return Blocked::Claim(Claim::PayloadMismatch {
                stored_hash: existing.payload_hash,
            });
        }
        match existing.status {
            Status::Completed => Blocked::Claim(Claim::Replay(Box::new(existing))),
            // A live lease (the claimable cases returned above).
            Status::InProgress | Status::Failed => Blocked::Claim(Claim::InProgress {
                lease_until: existing.lease_until,
            }),
        }
    }
}

/// The classification of a record that made a conditional claim fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    Claim(Claim),
    /// The record changed between the write and the read (e.g. its lease expired, or its owner
    /// failed it): claim again.
    Claimable,
}

/// The new record a claim writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewClaim {
    pub id: DedupId,
    pub owner: OwnerToken,
    pub payload_hash: String,
    pub now: Timestamp,
    pub lease_until: Timestamp,
    pub expires_at: Timestamp,
}

/// Result of the conditional put.
#[derive(Debug, Clone, PartialEq)]
pub enum PutResult {
    /// Written: no record existed (`takeover` false), or the existing one was claimable.
    Written { takeover: bool },
    /// The condition failed. The old item, when the store returned it (ALL_OLD); some DynamoDB
    /// implementations return none, and the guard then reads it with a consistent get.
    ConditionFailed(Option<Box<DedupRecord>>),
}

use crate::ports::{FinishError, GuardStore, StoreError};

/// The guard: policy over a [`GuardStore`].
pub struct Guard<S> {
    store: S,
    policy: GuardPolicy,
}

impl<S: GuardStore> Guard<S> {
    pub fn new(store: S, policy: GuardPolicy) -> Self {
        Guard { store, policy }
    }

    pub fn policy(&self) -> &GuardPolicy {
        &self.policy
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Claim (key, step) for this delivery.
    pub async fn claim(&self, req: &ClaimRequest) -> Result<Claim, StoreError> {
        self.claim_with_owners(req, OwnerToken::random).await
    }

    /// [`Guard::claim`] with the owner tokens drawn from `next_owner` (one per write attempt):
    /// the model check gives deterministic tokens; production uses random ones.
    pub async fn claim_with_owners(
        &self,
        req: &ClaimRequest,
        mut next_owner: impl FnMut() -> OwnerToken + Send,
    ) -> Result<Claim, StoreError> {
        // Two rounds cover the one legitimate race: the blocking record became claimable between
        // our conditional write and our read of it. Anything still contended after that is
        // reported as in progress, which is safe (the other delivery acts, or its lease expires
        // and the next retry takes over).
        let mut last_seen_lease = None;
        for _ in 0..2 {
            let new = NewClaim {
                id: req.id.clone(),
                owner: next_owner(),
                payload_hash: req.payload_hash.clone(),
                now: req.now,
                lease_until: self.policy.lease_until(req.now, req.deadline),
                expires_at: self.policy.expires_at(req.now),
            };
            let existing = match self.store.put_claim(&new).await? {
                PutResult::Written { takeover } => {
                    return Ok(Claim::Proceed(Lease {
                        id: new.id,
                        owner: new.owner,
                        lease_until: new.lease_until,
                        takeover,
                    }))
                }
                PutResult::ConditionFailed(Some(old)) => *old,
                PutResult::ConditionFailed(None) => match self.store.get(&req.id).await? {
                    Some(old) => old,
                    // Deleted between the write and the read (TTL): claim again.
                    None => continue,
                },
            };
            if own_claim(&existing, &new.owner) {
                // Our first attempt was applied and its answer lost (the SDK retried): proceed.
                // Whether it replaced an earlier record is not known any more.
                return Ok(Claim::Proceed(Lease {
                    id: new.id,
                    owner: new.owner,
                    lease_until: existing.lease_until,
                    takeover: false,
                }));
            }
            last_seen_lease = Some(existing.lease_until);
            match self.policy.classify(existing, &req.payload_hash, req.now) {
                Blocked::Claim(claim) => return Ok(claim),
                Blocked::Claimable => continue,
            }
        }
        Ok(Claim::InProgress {
            lease_until: last_seen_lease.unwrap_or(req.now),
        })
    }

    pub async fn complete(
        &self,
        lease: &Lease,
        result: &Response,
        now: Timestamp,
    ) -> Result<(), FinishError> {
        self.store.complete(lease, result, now).await
    }

    pub async fn fail(
        &self,
        lease: &Lease,
        error: &str,
        now: Timestamp,
    ) -> Result<(), FinishError> {
        self.store.fail(lease, error, now).await
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! An in-memory [`GuardStore`] for unit tests of the policy only. It evaluates the same
    //! claim rule as the DynamoDB condition expression; the integration tests check the real one.
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryStore {
        pub records: Mutex<HashMap<DedupId, DedupRecord>>,
        /// Simulate DynamoDB implementations that return no old item on condition failure.
        pub no_all_old: bool,
        /// Simulate a claim whose answer is lost: the write is applied, then the SDK's re-send of
        /// the same request fails its condition on the record it wrote.
        pub lose_claim_answer: bool,
    }

    #[async_trait::async_trait]
    impl GuardStore for MemoryStore {
        async fn put_claim(&self, claim: &NewClaim) -> Result<PutResult, StoreError> {
            let mut records = self.records.lock().unwrap();
            let previous = records.get(&claim.id).cloned();
            if !claim_allowed(previous.as_ref(), &claim.payload_hash, claim.now) {
                return Ok(PutResult::ConditionFailed(
                    previous.filter(|_| !self.no_all_old).map(Box::new),
                ));
            }
            records.insert(
                claim.id.clone(),
                DedupRecord {
                    id: claim.id.clone(),
                    status: Status::InProgress,
                    owner: claim.owner.clone(),
                    payload_hash: claim.payload_hash.clone(),
                    lease_until: claim.lease_until,
                    expires_at: claim.expires_at,
                    claimed_at: claim.now,
                    finished_at: None,
                    result: None,
                    error: None,
                },
            );
            if self.lose_claim_answer {
                let written = records.get(&claim.id).cloned().map(Box::new);
                return Ok(PutResult::ConditionFailed(written));
            }
            Ok(PutResult::Written {
                takeover: previous.is_some(),
            })
        }

        async fn get(&self, id: &DedupId) -> Result<Option<DedupRecord>, StoreError> {
            Ok(self.records.lock().unwrap().get(id).cloned())
        }

        async fn complete(
            &self,
            lease: &Lease,
            result: &Response,
            now: Timestamp,
        ) -> Result<(), FinishError> {
            let mut records = self.records.lock().unwrap();
            if !finish_allowed(records.get(&lease.id), &lease.owner) {
                return Err(FinishError::StaleOwner {
                    id: lease.id.clone(),
                });
            }
            match records.get_mut(&lease.id) {
                Some(r) => {
                    r.status = Status::Completed;
                    r.result = Some(result.clone());
                    r.finished_at = Some(now);
                    Ok(())
                }
                _ => Err(FinishError::StaleOwner {
                    id: lease.id.clone(),
                }),
            }
        }

        async fn fail(
            &self,
            lease: &Lease,
            error: &str,
            now: Timestamp,
        ) -> Result<(), FinishError> {
            let mut records = self.records.lock().unwrap();
            if !finish_allowed(records.get(&lease.id), &lease.owner) {
                return Err(FinishError::StaleOwner {
                    id: lease.id.clone(),
                });
            }
            match records.get_mut(&lease.id) {
                Some(r) => {
                    r.status = Status::Failed;
                    r.error = Some(error.to_string());
                    r.finished_at = Some(now);
                    Ok(())
                }
                _ => Err(FinishError::StaleOwner {
                    id: lease.id.clone(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests;
