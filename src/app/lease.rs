//! The scenario's scaling lease: one delivery at a time plans and scales a scenario.
//!
//! Two deliveries with different dedup keys (a manual invoke next to a schedule, a check fired
//! by a completion event during a scale-up) must not plan from two snapshots at once. The lease
//! lives on the scenario's state item ([`HistoryStore::acquire_scaling_lease`]); its write returns
//! the item, so the open run and the pause are read with it at no extra call.

use crate::history::{ScalingLease, ScenarioState};
use crate::idempotency::GuardPolicy;
use crate::ports::{HistoryStore, StoreError};
use jiff::Timestamp;
use std::time::Duration;

/// How long a delivery waits for another delivery's scaling lease on the same scenario.
pub const SCALING_LEASE_WAIT: Duration = Duration::from_secs(30);

/// How often a waiting delivery tries the scaling lease again.
pub const SCALING_LEASE_POLL: Duration = Duration::from_millis(200);

/// Who asks for the lease, and on which clock.
pub struct LeaseRequest<'a> {
    pub scenario: &'a str,
    pub owner: &'a str,
    /// The invocation's wall clock at its start: leases end at the invocation deadline, a
    /// wall-clock instant (a rehearsal `now` would never reach it).
    pub clock: Timestamp,
    pub deadline: Option<Timestamp>,
    pub policy: GuardPolicy,
}

/// What taking the lease found.
pub enum Taken {
    /// Ours; the scenario's state item as the write left it.
    Acquired(ScenarioState),
    /// Another delivery holds it until `until`, past what this delivery may wait.
    Held { until: Timestamp },
}

/// Take the lease, waiting for another holder for at most [`SCALING_LEASE_WAIT`] (and never more
/// than half of the invocation's remaining time: the other half is the step's).
pub async fn take(store: &dyn HistoryStore, req: &LeaseRequest<'_>) -> Result<Taken, StoreError> {
    let started = tokio::time::Instant::now();
    let budget = match req.deadline {
        Some(deadline) => {
            let left: Duration = deadline
                .duration_since(req.clock)
                .try_into()
                .unwrap_or(Duration::ZERO);
            SCALING_LEASE_WAIT.min(left / 2)
        }
        None => SCALING_LEASE_WAIT,
    };
    loop {
        let now = add_duration(req.clock, started.elapsed());
        let until = req.policy.lease_until(now, req.deadline);
        match store
            .acquire_scaling_lease(req.scenario, req.owner, until, now)
            .await?
        {
            ScalingLease::Acquired(state) => return Ok(Taken::Acquired(state)),
            ScalingLease::Held { until, .. } => {
                if started.elapsed() + SCALING_LEASE_POLL > budget {
                    return Ok(Taken::Held { until });
                }
                tokio::time::sleep(SCALING_LEASE_POLL).await;
            }
        }
    }
}

/// Give the lease back; a failure is logged (the lease expires by itself, and the next delivery
/// waits at most until then).
pub async fn release(store: &dyn HistoryStore, scenario: &str, owner: &str) {
    if let Err(e) = store.release_scaling_lease(scenario, owner).await {
        tracing::warn!(scenario, "could not release the scaling lease: {e}");
    }
}

fn add_duration(at: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(at)
}
