//! The RDS-family cluster kind (DocumentDB, Aurora, Neptune: `[[scenario.docdb]]`,
//! `[[scenario.aurora]]`, `[[scenario.neptune]]`, one set of keys, each cluster checked against
//! its table's engine): readers nightshift adds for the night (tagged,
//! promotion tier 15, spread over the cluster's zones, their class falling back on
//! InsufficientDBInstanceCapacity), an optional resize of every instance (readers first, then a
//! failover to a resized reader, then the old writer), and a serverless cluster's MinCapacity.
//! An Aurora cluster's Application Auto Scaling target on `rds:cluster:ReadReplicaCount` gets its
//! MinCapacity raised to the night's readers (restored in the morning, before the readers go, as
//! ECS's is), so that Aurora Auto Scaling does not scale in under the night; the readers it adds
//! itself carry no nightshift tags and are never nightshift's to remove.
//! Scale-down deletes only the readers this run added, reverts the classes and fails the writer
//! role back; never the writer, never an instance nightshift did not add.
//!
//! - `up.rs` and `down.rs`: the scale-up and restore of one cluster, derived from its live state;
//! - [`serverless`]: `serverless_min`; [`zones`]: where added readers go and which go first;
//!   [`fallback`]: the next class and zone after a capacity refusal; [`ids`]: reader identifiers.

mod down;
pub mod fallback;
pub mod ids;
pub mod serverless;
pub(crate) mod up;
pub mod zones;

use super::kind::Kind;
use super::{
    Baseline, Call, Capacity, Plan, PlanError, Readiness, Snapshot, TAG_RUN, TAG_SCENARIO,
};
use crate::config::{ClusterTarget, Dcu, Engine, Scenario};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One instance of a cluster as read live.
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

/// One RDS-family cluster as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    pub cluster: String,
    /// DescribeDBClusters `Engine`: `docdb`, `aurora-mysql`, `aurora-postgresql`, `neptune`, ...
    pub engine: String,
    pub status: String,
    pub instances: Vec<InstanceState>,
    /// The cluster's availability zones (DescribeDBClusters `AvailabilityZones`), sorted.
    pub zones: Vec<String>,
    /// Its ServerlessV2ScalingConfiguration, when it has one.
    pub serverless: Option<ServerlessScaling>,
    /// An Aurora cluster's Application Auto Scaling target on `rds:cluster:ReadReplicaCount`,
    /// if it has one (read for Aurora clusters only).
    pub replica_target: Option<Capacity>,
}

/// A serverless cluster's capacity range (DCUs, ACUs or NCUs).
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

/// What the run records of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterBaseline {
    pub cluster: String,
    /// The writer before the night (None if the cluster was mid-failover).
    pub writer: Option<String>,
    /// Every instance before the night, with its class: nightshift never deletes one of these.
    pub instances: Vec<InstanceBaseline>,
    /// The class every instance gets for the night (`resize`), if any.
    pub night_class: Option<String>,
    /// Readers wanted for the night (`replicas`).
    pub night_readers: u8,
    /// A serverless cluster's capacity before the night and the MinCapacity set for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<serverless::ServerlessBaseline>,
    /// The cluster's engine as AWS reported it (absent in runs recorded before Aurora and
    /// Neptune: DocumentDB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// An Aurora cluster's `rds:cluster:ReadReplicaCount` scalable target before the night, and
    /// the bounds nightshift sets for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_target: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub night_replica_target: Option<Capacity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceBaseline {
    pub id: String,
    pub class: String,
    pub writer: bool,
    pub promotion_tier: Option<i32>,
}

impl ClusterBaseline {
    pub fn instance(&self, id: &str) -> Option<&InstanceBaseline> {
        self.instances.iter().find(|i| i.id == id)
    }

    /// The engine family of the recorded cluster (DocumentDB for runs that did not record one).
    pub fn family(&self) -> Engine {
        self.engine
            .as_deref()
            .and_then(Engine::of)
            .unwrap_or(Engine::DocumentDb)
    }
}

/// The scalable target for the night: MinCapacity raised to the night's readers (never above 15,
/// the most readers a cluster has), MaxCapacity raised only when it is below that.
pub(crate) fn night_replica_target(target: &ClusterTarget, current: Capacity) -> Capacity {
    let wanted = i32::from(target.replicas.min(super::MAX_READERS as u8));
    let min = current.min.max(wanted);
    Capacity {
        min,
        max: current.max.max(min),
    }
}

/// The scale-up's RegisterScalableTarget of an Aurora cluster's replica target, if it needs one.
fn raise_replica_target(target: &ClusterTarget, live: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    if let Some(current) = live.replica_target {
        let night = night_replica_target(target, current);
        if night != current {
            plan.calls.push(Call::RegisterReplicaTarget {
                cluster: target.cluster.clone(),
                to: night,
                from: current,
            });
        }
    }
    plan
}

/// The restore of an Aurora cluster's replica target: only while it holds the night's bounds.
fn restore_replica_target(base: &ClusterBaseline, live: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    let cluster = &base.cluster;
    match (base.replica_target, base.night_replica_target, live.replica_target) {
        (Some(before), night, Some(current)) if current != before => {
            if Some(current) == night {
                plan.calls.push(Call::RegisterReplicaTarget {
                    cluster: cluster.clone(),
                    to: before,
                    from: current,
                });
            } else {
                plan.drift.push(format!(
                    "{cluster}: its rds:cluster:ReadReplicaCount scalable target is {current}, not the {} nightshift set: changed during the night, left as it is (baseline {before})",
                    night.map_or_else(|| "value".to_string(), |n| n.to_string())
                ));
            }
        }
        (Some(before), _, None) => plan.drift.push(format!(
            "{cluster}: its rds:cluster:ReadReplicaCount scalable target ({before} before the night) was deregistered during the night: left as it is"
        )),
        (None, _, Some(current)) => plan.notes.push(format!(
            "{cluster}: a rds:cluster:ReadReplicaCount scalable target ({current}) was registered during the night, not by nightshift: left as it is"
        )),
        _ => {}
    }
    plan
}

/// The RDS-family clusters of a scenario (`[[scenario.docdb]]`, `[[scenario.aurora]]`,
/// `[[scenario.neptune]]`).
pub struct Clusters;

impl Kind for Clusters {
    type Target = ClusterTarget;
    type Live = ClusterState;
    type Base = ClusterBaseline;

    fn targets(scenario: &Scenario) -> Vec<&ClusterTarget> {
        scenario.clusters().collect()
    }

    /// The cluster, when it exists and runs one of its table's engines (an `[[scenario.aurora]]`
    /// naming a DocumentDB cluster is refused with the reason, before anything is called).
    fn live<'s>(
        snapshot: &'s Snapshot,
        target: &ClusterTarget,
    ) -> Result<&'s ClusterState, PlanError> {
        let live = snapshot
            .cluster(&target.cluster)
            .ok_or_else(|| PlanError::MissingCluster {
                cluster: target.cluster.clone(),
                engine: target.engine,
            })?;
        if target.engine.accepts(&live.engine) {
            Ok(live)
        } else {
            Err(PlanError::WrongEngine {
                cluster: target.cluster.clone(),
                engine: target.engine,
                live: live.engine.clone(),
            })
        }
    }

    fn capture(target: &ClusterTarget, live: &ClusterState) -> ClusterBaseline {
        ClusterBaseline {
            cluster: target.cluster.clone(),
            writer: live.sole_writer().map(|w| w.id.clone()),
            instances: live
                .live()
                .map(|i| InstanceBaseline {
                    id: i.id.clone(),
                    class: i.class.clone(),
                    writer: i.writer,
                    promotion_tier: i.promotion_tier,
                })
                .collect(),
            night_class: target.resize.clone(),
            night_readers: target.replicas,
            serverless: serverless::baseline(target, live),
            engine: (target.engine != Engine::DocumentDb).then(|| live.engine.clone()),
            replica_target: live.replica_target,
            night_replica_target: live
                .replica_target
                .map(|current| night_replica_target(target, current)),
        }
    }

    fn plan_up(
        scenario: &Scenario,
        target: &ClusterTarget,
        live: &ClusterState,
        run: &str,
    ) -> Plan {
        let mut plan = up::plan_cluster(&scenario.name, target, live, run, true);
        plan.merge(serverless::plan_up(target, live));
        // After the readers: Aurora Auto Scaling then finds the night's readers on their way.
        plan.merge(raise_replica_target(target, live));
        plan
    }

    /// The resize phases, and, for a cluster with `fallback_classes`, the readers a capacity
    /// refusal left out (the next check tries them again).
    fn plan_continue(
        scenario: &Scenario,
        target: &ClusterTarget,
        snapshot: &Snapshot,
        run: &str,
    ) -> Plan {
        if target.resize.is_none() && target.fallback_classes.is_empty() {
            return Plan::default();
        }
        let retry_readers = !target.fallback_classes.is_empty();
        match snapshot.cluster(&target.cluster) {
            Some(live) => up::plan_cluster(&scenario.name, target, live, run, retry_readers),
            None => Plan {
                notes: vec![format!(
                    "{} cluster {} no longer exists: nothing to resize",
                    target.engine.name(),
                    target.cluster
                )],
                ..Plan::default()
            },
        }
    }

    fn recorded(baseline: &Baseline) -> &[ClusterBaseline] {
        &baseline.clusters
    }

    fn recorded_mut(baseline: &mut Baseline) -> &mut Vec<ClusterBaseline> {
        &mut baseline.clusters
    }

    fn name(base: &ClusterBaseline) -> String {
        format!("{} cluster {}", base.family().name(), base.cluster)
    }

    fn configured(scenario: &Scenario, base: &ClusterBaseline) -> bool {
        scenario.cluster(&base.cluster).is_some()
    }

    fn plan_down(
        scenario: &Scenario,
        base: &ClusterBaseline,
        snapshot: &Snapshot,
        run: &str,
    ) -> Plan {
        let Some(live) = snapshot.cluster(&base.cluster) else {
            return Plan {
                notes: vec![format!(
                    "{} no longer exists: nothing to restore",
                    Self::name(base)
                )],
                ..Plan::default()
            };
        };
        // The replica target first, as ECS's: Aurora Auto Scaling must not add readers back
        // while the night's go.
        let mut plan = restore_replica_target(base, live);
        plan.merge(down::restore_cluster(&scenario.name, base, live, run));
        if let Some(recorded) = &base.serverless {
            plan.merge(serverless::plan_down(&base.cluster, recorded, live));
        }
        plan
    }

    fn readiness(target: &ClusterTarget, snapshot: &Snapshot, out: &mut Readiness) {
        let Some(cluster) = snapshot.cluster(&target.cluster) else {
            out.waiting.push(format!(
                "{} cluster {}: not found",
                target.engine.name(),
                target.cluster
            ));
            return;
        };
        if !target.engine.accepts(&cluster.engine) {
            out.waiting.push(format!(
                "{}: engine {}, not {}",
                target.cluster,
                cluster.engine,
                target.engine.name()
            ));
            return;
        }
        if cluster.sole_writer().is_none() {
            out.waiting.push(format!(
                "{}: {} writers (failover in progress?)",
                target.cluster,
                cluster.writer_count()
            ));
        }
        let readers = cluster.readers().count();
        for i in cluster.live() {
            if !i.is_available() {
                out.waiting.push(format!("{}: {}", i.id, i.status));
            } else if let Some(pending) = &i.pending_class {
                out.waiting
                    .push(format!("{}: class change to {pending} pending", i.id));
            } else if let Some(class) = &target.resize {
                // Without a reader the writer cannot be resized (no failover target): that is
                // reported at scale-up and does not hold readiness back.
                if &i.class != class && (readers > 0 || !i.writer) {
                    out.waiting
                        .push(format!("{}: class {} (night: {class})", i.id, i.class));
                }
            }
        }
        if readers < usize::from(target.replicas) {
            out.degraded.push(format!(
                "{}: {readers} of {} readers",
                target.cluster, target.replicas
            ));
        }
    }
}

#[cfg(test)]
mod tests;
