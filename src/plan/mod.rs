//! The functional core of the scaling engine: live state in, the next AWS calls out.
//!
//! Nothing here does I/O or reads the clock. The adapters in `crate::aws` read a [`Snapshot`];
//! the planners turn it into a [`Plan`]; [`safety::check`] vets every planned call; the executor
//! (`crate::aws::scaling`) makes the calls and records each one as an `Action`.
//!
//! The planners are *convergent*: each looks at the live state and plans only the calls that are
//! safe and useful **now**, so the same function serves the first delivery, every retry, every
//! concurrent duplicate and every later `check` that continues an asynchronous step. A multi-phase
//! change (resize: readers, then failover, then the old writer) is never remembered as "phase 2":
//! it is re-derived from the live state, which is the only thing that cannot go stale.
//!
//! - [`plan_scale_up`]: raise ECS desired counts (and scalable-target min/max), add tagged
//!   readers, resize (readers first, then fail over to a resized reader, then the old writer).
//! - [`plan_resize_continuation`]: the asynchronous part of scale-up that a `check` continues.
//! - [`plan_scale_down`]: restore the [`Baseline`]; drifted values are recorded, not clobbered.
//! - [`readiness`]: is the night's capacity up?

mod baseline;
mod down;
pub mod fallback;
pub mod ids;
mod readiness;
pub mod safety;
pub mod serverless;
mod up;
pub mod zones;

pub use baseline::{
    capture_baseline, Baseline, ClusterBaseline, InstanceBaseline, RunState, ServiceBaseline,
    TaskSize,
};
pub use down::plan_scale_down;
pub use ids::{reader_identifier, scenario_hash};
pub use readiness::{readiness, Readiness};
pub use up::{plan_resize_continuation, plan_scale_up};

use crate::config::Dcu;
use crate::domain::Action;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Tag key naming the scenario that created an instance.
pub const TAG_SCENARIO: &str = "nightshift:scenario";
/// Tag key naming the run (night) that created an instance.
pub const TAG_RUN: &str = "nightshift:run";
/// Promotion tier of the readers nightshift adds: 15 is the lowest priority, so a failover
/// prefers the cluster's own instances over the night's temporary ones.
pub const ADDED_READER_PROMOTION_TIER: i32 = 15;
/// A DocumentDB cluster has one writer and at most 15 readers.
pub const MAX_READERS: usize = 15;

/// An Application Auto Scaling target's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "min {} max {}", self.min, self.max)
    }
}

/// One ECS service as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub cluster: String,
    pub service: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE` (a deleted service).
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// The service's Application Auto Scaling target (`ecs:service:DesiredCount`), if any.
    pub scalable_target: Option<Capacity>,
    /// Its task definition and launch type (DescribeServices); the size is read only when a run
    /// opens ([`TaskSize`]).
    pub task: Option<TaskSize>,
}

impl ServiceState {
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("ACTIVE")
    }
}

/// One DocumentDB instance of a cluster as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    pub id: String,
    /// `IsClusterWriter` from DescribeDBClusters.
    pub writer: bool,
    pub class: String,
    /// A class change requested but not applied yet (`PendingModifiedValues.DBInstanceClass`).
    pub pending_class: Option<String>,
    /// `available`, `creating`, `modifying`, `deleting`, ...
    pub status: String,
    pub promotion_tier: Option<i32>,
    pub tags: BTreeMap<String, String>,
    /// The availability zone it runs in (DescribeDBInstances `AvailabilityZone`).
    pub zone: Option<String>,
}

/// Statuses in which an instance is changing and a new request would be refused
/// (InvalidDBInstanceState): wait for them to pass.
const BUSY_STATUSES: &[&str] = &[
    "creating",
    "modifying",
    "rebooting",
    "renaming",
    "upgrading",
    "backing-up",
    "maintenance",
    "starting",
    "stopping",
    "configuring-log-exports",
    "resetting-master-credentials",
];

impl InstanceState {
    /// On its way out: not counted, not touched again.
    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "deleting" | "deleted")
    }

    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// In a transition that makes new requests fail.
    pub fn is_busy(&self) -> bool {
        BUSY_STATUSES.contains(&self.status.as_str())
    }

    /// The class it has, or will have once a pending change applies.
    pub fn effective_class(&self) -> &str {
        self.pending_class.as_deref().unwrap_or(&self.class)
    }

    /// Tagged by nightshift for this scenario (any run).
    pub fn is_tagged_for(&self, scenario: &str) -> bool {
        self.tags.get(TAG_SCENARIO).map(String::as_str) == Some(scenario)
    }

    /// Tagged by nightshift for this scenario and this run.
    pub fn is_tagged_for_run(&self, scenario: &str, run: &str) -> bool {
        self.is_tagged_for(scenario) && self.tags.get(TAG_RUN).map(String::as_str) == Some(run)
    }
}

/// One DocumentDB cluster as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    pub cluster: String,
    pub status: String,
    pub instances: Vec<InstanceState>,
    /// The cluster's availability zones (DescribeDBClusters `AvailabilityZones`), sorted.
    pub zones: Vec<String>,
    /// Its ServerlessV2ScalingConfiguration, when it has one.
    pub serverless: Option<ServerlessScaling>,
}

/// A DocumentDB Serverless cluster's capacity range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerlessScaling {
    pub min: Dcu,
    pub max: Dcu,
}

impl fmt::Display for ServerlessScaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MinCapacity {} MaxCapacity {}", self.min, self.max)
    }
}

impl ClusterState {
    /// Instances that are not being deleted.
    pub fn live(&self) -> impl Iterator<Item = &InstanceState> {
        self.instances.iter().filter(|i| !i.is_gone())
    }

    pub fn instance(&self, id: &str) -> Option<&InstanceState> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The writer, when the cluster has exactly one (during a failover it may briefly not).
    pub fn sole_writer(&self) -> Option<&InstanceState> {
        let mut writers = self.live().filter(|i| i.writer);
        match (writers.next(), writers.next()) {
            (Some(w), None) => Some(w),
            _ => None,
        }
    }

    pub fn writer_count(&self) -> usize {
        self.live().filter(|i| i.writer).count()
    }

    pub fn readers(&self) -> impl Iterator<Item = &InstanceState> {
        self.live().filter(|i| !i.writer)
    }

    pub fn is_available(&self) -> bool {
        self.status == "available"
    }
}

/// The live state of every resource a scenario configures. A configured resource that does not
/// exist is simply absent: the planners turn that into a [`PlanError`] or a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub services: Vec<ServiceState>,
    pub clusters: Vec<ClusterState>,
}

impl Snapshot {
    /// The service, if it exists and is not deleted (INACTIVE).
    pub fn service(&self, cluster: &str, service: &str) -> Option<&ServiceState> {
        self.services
            .iter()
            .find(|s| s.cluster == cluster && s.service == service)
    }

    pub fn cluster(&self, cluster: &str) -> Option<&ClusterState> {
        self.clusters.iter().find(|c| c.cluster == cluster)
    }
}

/// One mutating AWS call the planner wants made. Every variant carries what it changes *from*,
/// so the recorded action reads "desiredCount 2 -> 10", not just "10".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "PascalCase")]
pub enum Call {
    /// Application Auto Scaling RegisterScalableTarget on `service/{cluster}/{service}`.
    RegisterScalableTarget {
        cluster: String,
        service: String,
        to: Capacity,
        from: Capacity,
    },
    /// ECS UpdateService desiredCount.
    UpdateService {
        cluster: String,
        service: String,
        desired: i32,
        from: i32,
    },
    /// DocumentDB CreateDBInstance of a reader nightshift owns (tagged, lowest promotion tier).
    #[serde(rename = "CreateDBInstance")]
    CreateDbInstance {
        cluster: String,
        instance: String,
        class: String,
        promotion_tier: i32,
        tags: BTreeMap<String, String>,
        /// The availability zone asked for (spread over the cluster's zones); None: AWS picks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// DocumentDB ModifyDBInstance class change, applied immediately (restarts the instance).
    #[serde(rename = "ModifyDBInstance")]
    ModifyDbInstanceClass {
        cluster: String,
        instance: String,
        class: String,
        from: String,
    },
    /// DocumentDB FailoverDBCluster to a chosen reader.
    #[serde(rename = "FailoverDBCluster")]
    FailoverDbCluster {
        cluster: String,
        target: String,
        from: String,
    },
    /// DocumentDB DeleteDBInstance of a reader nightshift created for this run.
    #[serde(rename = "DeleteDBInstance")]
    DeleteDbInstance { cluster: String, instance: String },
    /// DocumentDB ModifyDBCluster of the ServerlessV2ScalingConfiguration's MinCapacity
    /// (MaxCapacity is sent unchanged: the API needs both).
    #[serde(rename = "ModifyDBCluster")]
    ModifyDbClusterCapacity {
        cluster: String,
        min: Dcu,
        from: Dcu,
        max: Dcu,
    },
}

impl Call {
    /// The AWS service, as recorded in an `Action`.
    pub fn service(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } => "application-autoscaling",
            Call::UpdateService { .. } => "ecs",
            _ => "docdb",
        }
    }

    /// The API operation name.
    pub fn operation(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } => "RegisterScalableTarget",
            Call::UpdateService { .. } => "UpdateService",
            Call::CreateDbInstance { .. } => "CreateDBInstance",
            Call::ModifyDbInstanceClass { .. } => "ModifyDBInstance",
            Call::FailoverDbCluster { .. } => "FailoverDBCluster",
            Call::DeleteDbInstance { .. } => "DeleteDBInstance",
            Call::ModifyDbClusterCapacity { .. } => "ModifyDBCluster",
        }
    }

    /// The IAM action the call needs (for access-denied messages).
    pub fn iam_action(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } => "application-autoscaling:RegisterScalableTarget",
            Call::UpdateService { .. } => "ecs:UpdateService",
            Call::CreateDbInstance { .. } => "rds:CreateDBInstance",
            Call::ModifyDbInstanceClass { .. } => "rds:ModifyDBInstance",
            Call::FailoverDbCluster { .. } => "rds:FailoverDBCluster",
            Call::DeleteDbInstance { .. } => "rds:DeleteDBInstance",
            Call::ModifyDbClusterCapacity { .. } => "rds:ModifyDBCluster",
        }
    }

    /// The resource it addresses: `cluster/service` for ECS, the instance or cluster identifier
    /// for DocumentDB.
    pub fn resource(&self) -> String {
        match self {
            Call::RegisterScalableTarget {
                cluster, service, ..
            } => format!("service/{cluster}/{service}"),
            Call::UpdateService {
                cluster, service, ..
            } => format!("{cluster}/{service}"),
            Call::CreateDbInstance { instance, .. }
            | Call::ModifyDbInstanceClass { instance, .. }
            | Call::DeleteDbInstance { instance, .. } => instance.clone(),
            Call::FailoverDbCluster { cluster, .. }
            | Call::ModifyDbClusterCapacity { cluster, .. } => cluster.clone(),
        }
    }

    /// The DocumentDB cluster or ECS cluster it belongs to.
    pub fn cluster(&self) -> &str {
        match self {
            Call::RegisterScalableTarget { cluster, .. }
            | Call::UpdateService { cluster, .. }
            | Call::CreateDbInstance { cluster, .. }
            | Call::ModifyDbInstanceClass { cluster, .. }
            | Call::FailoverDbCluster { cluster, .. }
            | Call::DeleteDbInstance { cluster, .. }
            | Call::ModifyDbClusterCapacity { cluster, .. } => cluster,
        }
    }

    /// The change, for humans: `desiredCount 2 -> 10`.
    pub fn detail(&self) -> String {
        match self {
            Call::RegisterScalableTarget { to, from, .. } => format!(
                "ecs:service:DesiredCount MinCapacity {} -> {}, MaxCapacity {} -> {}",
                from.min, to.min, from.max, to.max
            ),
            Call::UpdateService { desired, from, .. } => {
                format!("desiredCount {from} -> {desired}")
            }
            Call::CreateDbInstance {
                cluster,
                class,
                promotion_tier,
                tags,
                zone,
                ..
            } => format!(
                "reader in {cluster}, class {class}{}, promotion tier {promotion_tier}, tags {}",
                zone.as_ref().map_or_else(String::new, |z| format!(", zone {z}")),
                tags.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Call::ModifyDbInstanceClass { class, from, .. } => {
                format!("class {from} -> {class}, applied immediately")
            }
            Call::FailoverDbCluster { target, from, .. } => {
                format!("writer {from} -> {target}")
            }
            Call::DeleteDbInstance { cluster, .. } => format!("reader of {cluster}"),
            Call::ModifyDbClusterCapacity { min, from, max, .. } => format!(
                "ServerlessV2ScalingConfiguration MinCapacity {from} -> {min} (MaxCapacity {max} unchanged)"
            ),
        }
    }

    /// The action recording this call with `result`.
    pub fn action(&self, result: crate::domain::ActionResult) -> Action {
        Action {
            service: self.service().to_string(),
            call: self.operation().to_string(),
            resource: self.resource(),
            detail: self.detail(),
            result,
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({})",
            self.operation(),
            self.resource(),
            self.detail()
        )
    }
}

/// What to do next, and what was noticed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Calls to make now, in order. Calls in one plan never depend on each other's effect: a
    /// call that needs another's result (failover after the readers' resize) is planned by a
    /// later round, from a later snapshot.
    pub calls: Vec<Call>,
    /// Why the target is not reached by these calls alone (an instance still creating, a resize
    /// phase waiting for the previous one). Empty when the calls finish the job.
    pub waiting: Vec<String>,
    /// Live values someone else changed during the night, left as they are.
    pub drift: Vec<String>,
    /// Everything else decided and worth telling ops: already at target, caps applied,
    /// instances deliberately left alone.
    pub notes: Vec<String>,
}

impl Plan {
    /// Nothing to call and nothing to wait for: the target state is reached.
    pub fn is_done(&self) -> bool {
        self.calls.is_empty() && self.waiting.is_empty()
    }

    fn merge(&mut self, other: Plan) {
        self.calls.extend(other.calls);
        self.waiting.extend(other.waiting);
        self.drift.extend(other.drift);
        self.notes.extend(other.notes);
    }
}

/// A configured resource that the live state does not have. Scale-up refuses to plan anything
/// then: the config names something that is not there, and guessing would be worse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("ECS service \"{service}\" was not found in cluster \"{cluster}\" ({why}): create it, or fix [[scenario.ecs]] cluster/service in the config")]
    MissingService {
        cluster: String,
        service: String,
        why: String,
    },
    #[error("DocumentDB cluster \"{cluster}\" was not found: create it, or fix [[scenario.docdb]] cluster in the config (and check AWS_REGION)")]
    MissingCluster { cluster: String },
}

/// What the scale-down seam decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleDownDecision {
    /// Restore the baseline now.
    ScaleDown { reason: String },
    /// Keep the night's capacity.
    Hold { reason: String },
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_render_as_actions() {
        let call = Call::UpdateService {
            cluster: "batch".into(),
            service: "worker".into(),
            desired: 10,
            from: 2,
        };
        let action = call.action(crate::domain::ActionResult::Done);
        assert_eq!(action.service, "ecs");
        assert_eq!(action.call, "UpdateService");
        assert_eq!(action.resource, "batch/worker");
        assert_eq!(action.detail, "desiredCount 2 -> 10");
        assert_eq!(action.result, "ok");
        let failover = Call::FailoverDbCluster {
            cluster: "db".into(),
            target: "db-r1".into(),
            from: "db-w".into(),
        };
        assert_eq!(
            failover.to_string(),
            "FailoverDBCluster db (writer db-w -> db-r1)"
        );
        assert_eq!(failover.iam_action(), "rds:FailoverDBCluster");
    }

    #[test]
    fn instance_state_helpers() {
        let mut i = fixtures::instance("a", false, "db.r6g.large");
        assert!(i.is_available() && !i.is_busy() && !i.is_gone());
        i.pending_class = Some("db.r6g.2xlarge".into());
        assert_eq!(i.effective_class(), "db.r6g.2xlarge");
        i.status = "deleting".into();
        assert!(i.is_gone());
        i.status = "modifying".into();
        assert!(i.is_busy());
    }
}
