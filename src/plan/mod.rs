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
//! Every kind of target (ECS services in [`service`], RDS-family clusters in [`cluster`]) has the
//! one shape of [`kind::Kind`]; the step planners below run each kind through it in the step's
//! order ([`kind::each_kind`]).
//!
//! - [`plan_scale_up`]: raise ECS desired counts (and scalable-target min/max), add tagged
//!   readers, resize (readers first, then fail over to a resized reader, then the old writer).
//! - [`plan_resize_continuation`]: the asynchronous part of scale-up that a `check` continues.
//! - [`plan_scale_down`]: restore the [`Baseline`]; drifted values are recorded, not clobbered.
//! - [`readiness`]: is the night's capacity up?

pub mod asg;
mod baseline;
pub mod batch;
pub mod cluster;
mod down;
pub mod kind;
mod readiness;
pub mod safety;
pub mod service;
mod up;

pub use baseline::{capture_baseline, Baseline, RunState};
pub use cluster::{
    fallback, ids, serverless, zones, ClusterBaseline, ClusterState, InstanceBaseline,
    InstanceState, ServerlessScaling,
};
pub use down::plan_scale_down;
pub use ids::{reader_identifier, scenario_hash};
pub use kind::Kind;
pub use readiness::{readiness, Readiness};
pub use service::{ServiceBaseline, ServiceState, TaskSize};
pub use up::{plan_deferred, plan_resize_continuation, plan_scale_up};
// The worker kinds.
pub use asg::{GroupBaseline, GroupState};
pub use batch::{EnvironmentBaseline, EnvironmentState};

use crate::config::{Dcu, Engine};
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

/// An EC2 Auto Scaling group's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSize {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

impl fmt::Display for GroupSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MinSize {} DesiredCapacity {} MaxSize {}",
            self.min, self.desired, self.max
        )
    }
}

/// The live state of every resource a scenario configures. A configured resource that does not
/// exist is simply absent: the planners turn that into a [`PlanError`] or a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub services: Vec<ServiceState>,
    pub clusters: Vec<ClusterState>,
    // --- worker kinds ---
    /// AWS Batch compute environments.
    pub environments: Vec<EnvironmentState>,
    /// EC2 Auto Scaling groups.
    pub groups: Vec<GroupState>,
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

    /// The compute environment called `name` (its name, not its ARN).
    pub fn environment(&self, name: &str) -> Option<&EnvironmentState> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&GroupState> {
        self.groups.iter().find(|g| g.name == name)
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
    /// Application Auto Scaling RegisterScalableTarget on an Aurora cluster's
    /// `rds:cluster:ReadReplicaCount` (resource `cluster:{cluster}`).
    #[serde(rename = "RegisterReadReplicaTarget")]
    RegisterReplicaTarget {
        cluster: String,
        to: Capacity,
        from: Capacity,
    },
    /// CreateDBInstance of a reader nightshift owns (tagged, lowest promotion tier).
    #[serde(rename = "CreateDBInstance")]
    CreateDbInstance {
        cluster: String,
        /// The cluster's engine (`docdb`, `aurora-postgresql`, ...): CreateDBInstance needs it.
        #[serde(default = "docdb_engine")]
        engine: String,
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
    // --- worker kinds ---
    /// AWS Batch UpdateComputeEnvironment of `computeResources.minvCpus`, and `desiredvCpus`
    /// when it is raised (AWS accepts no lower one).
    UpdateComputeEnvironment {
        /// As configured: its name or ARN.
        environment: String,
        min: i32,
        from: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        desired: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        desired_from: Option<i32>,
    },
    /// EC2 Auto Scaling UpdateAutoScalingGroup of the sizes that change (None: not sent).
    UpdateAutoScalingGroup {
        group: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        desired: Option<i32>,
        from: GroupSize,
    },
}

/// The engine of a create recorded before Aurora and Neptune.
fn docdb_engine() -> String {
    "docdb".to_string()
}

impl Call {
    /// The AWS service, as recorded in an `Action`.
    pub fn service(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } | Call::RegisterReplicaTarget { .. } => {
                "application-autoscaling"
            }
            Call::UpdateService { .. } => "ecs",
            Call::UpdateComputeEnvironment { .. } => "batch",
            Call::UpdateAutoScalingGroup { .. } => "autoscaling",
            _ => "docdb",
        }
    }

    /// The API operation name.
    pub fn operation(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } | Call::RegisterReplicaTarget { .. } => {
                "RegisterScalableTarget"
            }
            Call::UpdateService { .. } => "UpdateService",
            Call::CreateDbInstance { .. } => "CreateDBInstance",
            Call::ModifyDbInstanceClass { .. } => "ModifyDBInstance",
            Call::FailoverDbCluster { .. } => "FailoverDBCluster",
            Call::DeleteDbInstance { .. } => "DeleteDBInstance",
            Call::ModifyDbClusterCapacity { .. } => "ModifyDBCluster",
            Call::UpdateComputeEnvironment { .. } => "UpdateComputeEnvironment",
            Call::UpdateAutoScalingGroup { .. } => "UpdateAutoScalingGroup",
        }
    }

    /// The IAM action the call needs (for access-denied messages).
    pub fn iam_action(&self) -> &'static str {
        match self {
            Call::RegisterScalableTarget { .. } | Call::RegisterReplicaTarget { .. } => {
                "application-autoscaling:RegisterScalableTarget"
            }
            Call::UpdateService { .. } => "ecs:UpdateService",
            Call::CreateDbInstance { .. } => "rds:CreateDBInstance",
            Call::ModifyDbInstanceClass { .. } => "rds:ModifyDBInstance",
            Call::FailoverDbCluster { .. } => "rds:FailoverDBCluster",
            Call::DeleteDbInstance { .. } => "rds:DeleteDBInstance",
            Call::ModifyDbClusterCapacity { .. } => "rds:ModifyDBCluster",
            Call::UpdateComputeEnvironment { .. } => "batch:UpdateComputeEnvironment",
            Call::UpdateAutoScalingGroup { .. } => "autoscaling:UpdateAutoScalingGroup",
        }
    }

    /// The resource it addresses: `cluster/service` for ECS, the instance or cluster identifier
    /// for DocumentDB.
    pub fn resource(&self) -> String {
        match self {
            Call::RegisterScalableTarget {
                cluster, service, ..
            } => format!("service/{cluster}/{service}"),
            Call::RegisterReplicaTarget { cluster, .. } => format!("cluster:{cluster}"),
            Call::UpdateService {
                cluster, service, ..
            } => format!("{cluster}/{service}"),
            Call::CreateDbInstance { instance, .. }
            | Call::ModifyDbInstanceClass { instance, .. }
            | Call::DeleteDbInstance { instance, .. } => instance.clone(),
            Call::FailoverDbCluster { cluster, .. }
            | Call::ModifyDbClusterCapacity { cluster, .. } => cluster.clone(),
            Call::UpdateComputeEnvironment { environment, .. } => {
                crate::config::batch_environment_name(environment).to_string()
            }
            Call::UpdateAutoScalingGroup { group, .. } => group.clone(),
        }
    }

    /// The DocumentDB cluster or ECS cluster it belongs to.
    pub fn cluster(&self) -> &str {
        match self {
            Call::RegisterScalableTarget { cluster, .. }
            | Call::RegisterReplicaTarget { cluster, .. }
            | Call::UpdateService { cluster, .. }
            | Call::CreateDbInstance { cluster, .. }
            | Call::ModifyDbInstanceClass { cluster, .. }
            | Call::FailoverDbCluster { cluster, .. }
            | Call::DeleteDbInstance { cluster, .. }
            | Call::ModifyDbClusterCapacity { cluster, .. } => cluster,
            Call::UpdateComputeEnvironment { environment, .. } => {
                crate::config::batch_environment_name(environment)
            }
            Call::UpdateAutoScalingGroup { group, .. } => group,
        }
    }

    /// The change, for humans: `desiredCount 2 -> 10`.
    pub fn detail(&self) -> String {
        match self {
            Call::RegisterScalableTarget { to, from, .. } => format!(
                "ecs:service:DesiredCount MinCapacity {} -> {}, MaxCapacity {} -> {}",
                from.min, to.min, from.max, to.max
            ),
            Call::RegisterReplicaTarget { to, from, .. } => format!(
                "rds:cluster:ReadReplicaCount MinCapacity {} -> {}, MaxCapacity {} -> {}",
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
            Call::UpdateComputeEnvironment {
                min,
                from,
                desired,
                desired_from,
                ..
            } => match (desired, desired_from) {
                (Some(d), Some(df)) => format!("minvCpus {from} -> {min}, desiredvCpus {df} -> {d}"),
                (Some(d), None) => format!("minvCpus {from} -> {min}, desiredvCpus -> {d}"),
                _ => format!("minvCpus {from} -> {min}"),
            },
            Call::UpdateAutoScalingGroup {
                min,
                max,
                desired,
                from,
                ..
            } => {
                let mut parts = Vec::new();
                if let Some(v) = min {
                    parts.push(format!("MinSize {} -> {v}", from.min));
                }
                if let Some(v) = desired {
                    parts.push(format!("DesiredCapacity {} -> {v}", from.desired));
                }
                if let Some(v) = max {
                    parts.push(format!("MaxSize {} -> {v}", from.max));
                }
                parts.join(", ")
            }
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

    pub(crate) fn merge(&mut self, other: Plan) {
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
    #[error("{} cluster \"{cluster}\" was not found: create it, or fix [[scenario.{}]] cluster in the config (and check AWS_REGION)", engine.name(), engine.key())]
    MissingCluster { cluster: String, engine: Engine },
    /// The cluster exists but runs another engine than its table's: an Aurora key naming a
    /// DocumentDB cluster, say.
    #[error("[[scenario.{}]] cluster \"{cluster}\" is not {} cluster: its engine is {live}{}", engine.key(), article(engine.name()), match Engine::of(live) { Some(other) => format!("; move it to [[scenario.{}]]", other.key()), None => "; nightshift scales DocumentDB, Aurora and Neptune clusters only".to_string() })]
    WrongEngine {
        cluster: String,
        engine: Engine,
        live: String,
    },
    #[error("Batch compute environment \"{environment}\" was not found ({why}): create it, or fix [[scenario.batch]] compute_environment in the config (and check AWS_REGION)")]
    MissingEnvironment { environment: String, why: String },
    #[error("Auto Scaling group \"{group}\" was not found ({why}): create it, or fix [[scenario.asg]] name in the config (and check AWS_REGION)")]
    MissingGroup { group: String, why: String },
}

/// "a DocumentDB", "an Aurora".
pub(crate) fn article(name: &str) -> String {
    if name.starts_with(['A', 'E', 'I', 'O', 'U']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
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
