//! The RDS-family cluster kind (DocumentDB): readers nightshift adds for the night (tagged,
//! promotion tier 15, spread over the cluster's zones, their class falling back on
//! InsufficientDBInstanceCapacity), an optional resize of every instance (readers first, then a
//! failover to a resized reader, then the old writer), and a serverless cluster's MinCapacity.
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
use super::{Baseline, Plan, PlanError, Readiness, Snapshot, TAG_RUN, TAG_SCENARIO};
use crate::config::{Dcu, DocDbTarget, Scenario};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
}

/// The DocumentDB clusters of a scenario (`[[scenario.docdb]]`).
pub struct Clusters;

impl Kind for Clusters {
    type Target = DocDbTarget;
    type Live = ClusterState;
    type Base = ClusterBaseline;

    fn targets(scenario: &Scenario) -> Vec<&DocDbTarget> {
        scenario.docdb.iter().collect()
    }

    fn live<'s>(
        snapshot: &'s Snapshot,
        target: &DocDbTarget,
    ) -> Result<&'s ClusterState, PlanError> {
        snapshot
            .cluster(&target.cluster)
            .ok_or_else(|| PlanError::MissingCluster {
                cluster: target.cluster.clone(),
            })
    }

    fn capture(target: &DocDbTarget, live: &ClusterState) -> ClusterBaseline {
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
        }
    }

    fn plan_up(scenario: &Scenario, target: &DocDbTarget, live: &ClusterState, run: &str) -> Plan {
        let mut plan = up::plan_cluster(&scenario.name, target, live, run, true);
        plan.merge(serverless::plan_up(target, live));
        plan
    }

    /// The resize phases, and, for a cluster with `fallback_classes`, the readers a capacity
    /// refusal left out (the next check tries them again).
    fn plan_continue(
        scenario: &Scenario,
        target: &DocDbTarget,
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
                    "DocumentDB cluster {} no longer exists: nothing to resize",
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
        format!("DocumentDB cluster {}", base.cluster)
    }

    fn configured(scenario: &Scenario, base: &ClusterBaseline) -> bool {
        scenario.docdb.iter().any(|t| t.cluster == base.cluster)
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
        let mut plan = down::restore_cluster(&scenario.name, base, live, run);
        if let Some(recorded) = &base.serverless {
            plan.merge(serverless::plan_down(&base.cluster, recorded, live));
        }
        plan
    }

    fn readiness(target: &DocDbTarget, snapshot: &Snapshot, out: &mut Readiness) {
        let Some(cluster) = snapshot.cluster(&target.cluster) else {
            out.waiting
                .push(format!("DocumentDB cluster {}: not found", target.cluster));
            return;
        };
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
