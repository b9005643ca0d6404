//! The identity of a scenario's targets: which kind of resource (its `[[scenario.<key>]]`
//! table) and its name there. Whatever is keyed per target (a profile's night values, a view's
//! line) keys on [`TargetId`]; the *night values* of a target are the fields of its config
//! struct that say what the night sets (`desired`, `replicas`, `resize`, `serverless_min`, ...),
//! the rest is its identity and its guardrails.

use super::{AsgTarget, BatchTarget, DocDbTarget, EcsTarget, Scenario};
use serde::Serialize;
use std::fmt;

/// A kind of target, named by its config table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `[[scenario.ecs]]`: an ECS service.
    Ecs,
    /// `[[scenario.docdb]]`: a DocumentDB cluster.
    DocDb,
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
            TargetKind::Batch => "batch",
            TargetKind::Asg => "asg",
        }
    }

    /// What it is, for messages: "ECS service", "DocumentDB cluster".
    pub fn what(self) -> &'static str {
        match self {
            TargetKind::Ecs => "ECS service",
            TargetKind::DocDb => "DocumentDB cluster",
            TargetKind::Batch => "Batch compute environment",
            TargetKind::Asg => "Auto Scaling group",
        }
    }
}

/// One target of a scenario: its kind and its name within that kind (`cluster/service` for an
/// ECS service, the cluster identifier for a database cluster). Unique within a config.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

impl DocDbTarget {
    pub fn id(&self) -> TargetId {
        TargetId {
            kind: TargetKind::DocDb,
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
            .chain(self.docdb.iter().map(DocDbTarget::id))
            .chain(self.batch.iter().map(BatchTarget::id))
            .chain(self.asg.iter().map(AsgTarget::id))
            .collect()
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
