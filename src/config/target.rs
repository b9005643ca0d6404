//! The identity of a scenario's targets: which kind of resource (its `[[scenario.<key>]]`
//! table) and its name there. Whatever is keyed per target (a profile's night values, a view's
//! line) keys on [`TargetId`]; the *night values* of a target are the fields of its config
//! struct that say what the night sets (`desired`, `replicas`, `resize`, `serverless_min`, ...),
//! the rest is its identity and its guardrails.

use super::{AsgTarget, BatchTarget, ClusterTarget, EcsTarget, Scenario};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A kind of target, named by its config table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `[[scenario.ecs]]`: an ECS service.
    Ecs,
    /// `[[scenario.docdb]]`: a DocumentDB cluster.
    DocDb,
    /// `[[scenario.aurora]]`: an Aurora MySQL or PostgreSQL cluster.
    Aurora,
    /// `[[scenario.neptune]]`: a Neptune cluster.
    Neptune,
    /// `[[scenario.batch]]`: an AWS Batch compute environment.
    Batch,
    /// `[[scenario.asg]]`: an EC2 Auto Scaling group.
    Asg,
}

impl TargetKind {
    /// The config table's key: `[[scenario.<key>]]`.
    pub fn key(self) -> &'static str {
        match self {
            TargetKind::Ecs => "ecs",
            TargetKind::DocDb => "docdb",
            TargetKind::Aurora => "aurora",
            TargetKind::Neptune => "neptune",
            TargetKind::Batch => "batch",
            TargetKind::Asg => "asg",
        }
    }

    /// What it is, for messages: "ECS service", "DocumentDB cluster".
    pub fn what(self) -> &'static str {
        match self {
            TargetKind::Ecs => "ECS service",
            TargetKind::DocDb => "DocumentDB cluster",
            TargetKind::Aurora => "Aurora cluster",
            TargetKind::Neptune => "Neptune cluster",
            TargetKind::Batch => "Batch compute environment",
            TargetKind::Asg => "Auto Scaling group",
        }
    }
}

/// The RDS-family engines whose clusters nightshift scales, one per config table. They share
/// the RDS control plane (clusters, instances, failover, ServerlessV2ScalingConfiguration); what
/// differs is the engine names AWS reports, the serverless capacity unit and range, and the
/// serverless restart rule (`plan::serverless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    DocumentDb,
    Aurora,
    Neptune,
}

impl Engine {
    /// Every engine, in config-table order.
    pub const ALL: [Engine; 3] = [Engine::DocumentDb, Engine::Aurora, Engine::Neptune];

    pub fn kind(self) -> TargetKind {
        match self {
            Engine::DocumentDb => TargetKind::DocDb,
            Engine::Aurora => TargetKind::Aurora,
            Engine::Neptune => TargetKind::Neptune,
        }
    }

    /// The config table's key: `[[scenario.<key>]]`.
    pub fn key(self) -> &'static str {
        self.kind().key()
    }

    /// "DocumentDB", "Aurora", "Neptune".
    pub fn name(self) -> &'static str {
        match self {
            Engine::DocumentDb => "DocumentDB",
            Engine::Aurora => "Aurora",
            Engine::Neptune => "Neptune",
        }
    }

    /// Is `engine` (DescribeDBClusters `Engine`) one of this table's? Aurora MySQL is `aurora-mysql`
    /// (`aurora` for the old 5.6-compatible clusters), Aurora PostgreSQL `aurora-postgresql`.
    pub fn accepts(self, engine: &str) -> bool {
        match self {
            Engine::DocumentDb => engine == "docdb",
            Engine::Aurora => matches!(engine, "aurora" | "aurora-mysql" | "aurora-postgresql"),
            Engine::Neptune => engine == "neptune",
        }
    }

    /// The engine of a live engine name, if it is one of these.
    pub fn of(engine: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.accepts(engine))
    }

    /// The engine named when a new instance is created in a cluster of this table whose live
    /// engine is unknown.
    pub fn default_engine(self) -> &'static str {
        match self {
            Engine::DocumentDb => "docdb",
            Engine::Aurora => "aurora-postgresql",
            Engine::Neptune => "neptune",
        }
    }

    /// The serverless capacity unit: DCU, ACU, NCU.
    pub fn unit(self) -> &'static str {
        match self {
            Engine::DocumentDb => "DCU",
            Engine::Aurora => "ACU",
            Engine::Neptune => "NCU",
        }
    }

    /// The range of a serverless MinCapacity the night may set, in the engine's unit: DocumentDB
    /// and Aurora 0.5 to 256 (Aurora's 0, auto-pause, is a day setting, never a night's), Neptune
    /// 1 to 128.
    pub fn serverless_range(self) -> (f64, f64) {
        match self {
            Engine::DocumentDb | Engine::Aurora => (0.5, 256.0),
            Engine::Neptune => (1.0, 128.0),
        }
    }
}

/// One target of a scenario: its kind and its name within that kind (`cluster/service` for an
/// ECS service, the cluster identifier for a database cluster). Unique within a config. A run
/// records it (a profile's night values are keyed by it), so its JSON spelling is stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TargetId {
    pub kind: TargetKind,
    pub name: String,
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.what(), self.name)
    }
}

impl EcsTarget {
    pub fn id(&self) -> TargetId {
        TargetId {
            kind: TargetKind::Ecs,
            name: format!("{}/{}", self.cluster, self.service),
        }
    }
}

impl ClusterTarget {
    pub fn id(&self) -> TargetId {
        TargetId {
            kind: self.engine.kind(),
            name: self.cluster.clone(),
        }
    }
}

impl BatchTarget {
    pub fn id(&self) -> TargetId {
        TargetId {
            kind: TargetKind::Batch,
            name: self.name().to_string(),
        }
    }
}

impl AsgTarget {
    pub fn id(&self) -> TargetId {
        TargetId {
            kind: TargetKind::Asg,
            name: self.name.clone(),
        }
    }
}

impl Scenario {
    /// Every target of the scenario, kind by kind in config-table order.
    pub fn target_ids(&self) -> Vec<TargetId> {
        self.ecs
            .iter()
            .map(EcsTarget::id)
            .chain(self.clusters().map(ClusterTarget::id))
            .chain(self.batch.iter().map(BatchTarget::id))
            .chain(self.asg.iter().map(AsgTarget::id))
            .collect()
    }

    /// Every RDS-family cluster of the scenario: its DocumentDB, Aurora and Neptune tables.
    pub fn clusters(&self) -> impl Iterator<Item = &ClusterTarget> {
        self.docdb
            .iter()
            .chain(self.aurora.iter())
            .chain(self.neptune.iter())
    }

    /// The cluster target named `cluster` (RDS cluster identifiers are unique across engines).
    pub fn cluster(&self, cluster: &str) -> Option<&ClusterTarget> {
        self.clusters().find(|t| t.cluster == cluster)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_has_an_identity_named_by_its_table() {
        let text = include_str!("../../integration/fixtures/config/contract.toml");
        let config = crate::config::parse(text, "contract.toml").expect("parses");
        let ids = config.scenarios[0].target_ids();
        assert_eq!(
            ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["ECS service batch/worker", "DocumentDB cluster batch-db"]
        );
        assert_eq!(
            ids.iter().map(|i| i.kind.key()).collect::<Vec<_>>(),
            ["ecs", "docdb"]
        );
    }
}
