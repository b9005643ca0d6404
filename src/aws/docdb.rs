//! The RDS-family adapter: DocumentDB, Aurora and Neptune clusters through one client,
//! aws-sdk-docdb (which reads `AWS_ENDPOINT_URL_DOCDB`).
//!
//! Why the DocumentDB client serves Aurora and Neptune too: the three engines share the RDS
//! control plane, one endpoint (`rds.<region>.amazonaws.com`, signing name `rds`) and one Query
//! API (version 2014-10-31), and every operation nightshift makes is in the DocumentDB model with
//! the members it sends and reads (DescribeDBClusters `Engine`, `DBClusterMembers`
//! `IsClusterWriter`/`PromotionTier`, `AvailabilityZones`, `ServerlessV2ScalingConfiguration`
//! Min/MaxCapacity; DescribeDBInstances by `db-cluster-id`; CreateDBInstance `Engine`,
//! `DBInstanceClass`, `AvailabilityZone`, `PromotionTier`, `Tags`; ModifyDBInstance;
//! FailoverDBCluster; DeleteDBInstance; ModifyDBCluster; ListTagsForResource). The engine is a
//! plain string there (`docdb`, `aurora-mysql`, `aurora-postgresql`, `neptune`), and members an
//! engine adds that the model lacks are skipped when an answer is read. A second SDK crate
//! (aws-sdk-rds or aws-sdk-neptune) would add the same operations' code again to a binary
//! that has a size budget. The one member it lacks that matters is Aurora's
//! `SecondsUntilAutoPause`: so a MinCapacity change to or from 0 ACUs (auto-pause) is refused
//! (`plan::serverless`), never made with the interval lost.
//!
//! Reads: DescribeDBClusters (members and the writer flag), DescribeDBInstances filtered by
//! cluster (class, status, pending class, ARN), ListTagsForResource per instance whose tags the
//! step needs (`TagReads`: a scale-up without a resize reads none, a scale-down none of the
//! baseline's instances; DescribeDBInstances carries no tags in the DocumentDB API, and none on
//! the emulator either).
//!
//! Writes are requests: DocumentDB creates, resizes and deletes instances in minutes, so every
//! write returns once accepted and a later snapshot confirms. Each is safe to repeat:
//! DBInstanceAlreadyExists on a create and "not found / already being deleted" on a delete count
//! as done.

use super::Timeouts;
use crate::config::Dcu;
use crate::plan::ServerlessScaling;
use crate::plan::{ClusterState, InstanceState};
use crate::ports::{Applied, CallError, TagReads};
use aws_sdk_docdb::types::{
    Filter, ServerlessV2ScalingConfiguration, ServerlessV2ScalingConfigurationInfo, Tag,
};
use aws_sdk_docdb::Client;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DocDbAdapter {
    client: Client,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

fn instance_resource(id: &str) -> String {
    format!("DB instance {id} (arn:aws:rds:<region>:<account>:db:{id})")
}

fn cluster_resource(id: &str) -> String {
    format!("DB cluster {id} (arn:aws:rds:<region>:<account>:cluster:{id})")
}

/// A cluster's serverless range, when DescribeDBClusters gives both bounds.
fn serverless_scaling(
    info: Option<&ServerlessV2ScalingConfigurationInfo>,
) -> Option<ServerlessScaling> {
    let info = info?;
    Some(ServerlessScaling {
        min: Dcu::nearest(info.min_capacity()?),
        max: Dcu::nearest(info.max_capacity()?),
    })
}

impl DocDbAdapter {
    pub fn new(client: Client, timeouts: Timeouts) -> Self {
        DocDbAdapter {
            client,
            timeouts,
            remaining: None,
        }
    }

    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        DocDbAdapter {
            remaining,
            ..self.clone()
        }
    }

    fn overrides(&self) -> aws_sdk_docdb::config::Builder {
        aws_sdk_docdb::config::Builder::default()
            .timeout_config(self.timeouts.within(self.remaining))
    }

    /// The cluster with every instance (writer flag, class, status, the tags `tags` asks for: the
    /// other instances have none); None when the cluster does not exist.
    pub async fn describe_cluster_with(
        &self,
        cluster: &str,
        tags: &TagReads,
    ) -> Result<Option<ClusterState>, CallError> {
        let out = match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err = CallError::from_sdk(
                    &e,
                    "DescribeDBClusters",
                    "rds:DescribeDBClusters",
                    cluster_resource(cluster),
                );
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let Some(found) = out
            .db_clusters()
            .iter()
            .find(|c| c.db_cluster_identifier() == Some(cluster))
        else {
            return Ok(None);
        };
        let status = found.status().unwrap_or("unknown").to_string();
        let engine = found.engine().unwrap_or_default().to_string();
        let mut zones: Vec<String> = found.availability_zones().to_vec();
        zones.sort();
        zones.dedup();
        let serverless = serverless_scaling(found.serverless_v2_scaling_configuration());
        let members: BTreeMap<String, (bool, Option<i32>)> = found
            .db_cluster_members()
            .iter()
            .filter_map(|m| {
                m.db_instance_identifier().map(|id| {
                    (
                        id.to_string(),
                        (m.is_cluster_writer().unwrap_or(false), m.promotion_tier()),
                    )
                })
            })
            .collect();

        let mut details = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_db_instances()
                .filters(
                    Filter::builder()
                        .name("db-cluster-id")
                        .values(cluster)
                        .build(),
                )
                .set_marker(marker.clone())
                .customize()
                .config_override(self.overrides())
                .send()
                .await
                .map_err(|e| {
                    CallError::from_sdk(
                        &e,
                        "DescribeDBInstances",
                        "rds:DescribeDBInstances",
                        cluster_resource(cluster),
                    )
                })?;
            details.extend(page.db_instances().iter().cloned());
            marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }

        let tag_reads = details.iter().map(|d| async move {
            let wanted = d.db_instance_identifier().is_some_and(|id| tags.reads(id));
            match d.db_instance_arn() {
                // Not needed by this step's planner (see `TagReads`).
                _ if !wanted => Ok(BTreeMap::new()),
                Some(arn) => {
                    self.tags(arn, d.db_instance_identifier().unwrap_or(arn))
                        .await
                }
                // Without an ARN the tags cannot be read: the instance counts as unmanaged,
                // which only ever makes nightshift leave it alone.
                None => Ok(BTreeMap::new()),
            }
        });
        let tags = futures::future::try_join_all(tag_reads).await?;

        let mut instances = Vec::new();
        for (d, tags) in details.iter().zip(tags) {
            let Some(id) = d.db_instance_identifier() else {
                continue;
            };
            if d.db_cluster_identifier().is_some_and(|c| c != cluster) {
                continue;
            }
            let (writer, member_tier) = members.get(id).copied().unwrap_or((false, None));
            instances.push(InstanceState {
                id: id.to_string(),
                writer,
                class: d.db_instance_class().unwrap_or("unknown").to_string(),
                pending_class: d
                    .pending_modified_values()
                    .and_then(|p| p.db_instance_class())
                    .map(str::to_string),
                status: d.db_instance_status().unwrap_or("unknown").to_string(),
                promotion_tier: d.promotion_tier().or(member_tier),
                tags,
                zone: d.availability_zone().map(str::to_string),
            });
        }
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(ClusterState {
            cluster: cluster.to_string(),
            engine,
            // The caller reads an Aurora cluster's scalable target (Application Auto Scaling).
            replica_target: None,
            status,
            instances,
            zones,
            serverless,
        }))
    }

    async fn tags(&self, arn: &str, id: &str) -> Result<BTreeMap<String, String>, CallError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "ListTagsForResource",
                    "rds:ListTagsForResource",
                    instance_resource(id),
                )
            })?;
        Ok(out
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
            .collect())
    }

    /// CreateDBInstance of a reader; DBInstanceAlreadyExists counts as done (a retry re-issued
    /// the same deterministic identifier).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_reader(
        &self,
        cluster: &str,
        engine: &str,
        instance: &str,
        class: &str,
        promotion_tier: i32,
        tags: &BTreeMap<String, String>,
        zone: Option<&str>,
    ) -> Result<Applied, CallError> {
        let mut req = self
            .client
            .create_db_instance()
            .db_cluster_identifier(cluster)
            .db_instance_identifier(instance)
            .db_instance_class(class)
            .engine(engine)
            .promotion_tier(promotion_tier)
            .set_availability_zone(zone.map(str::to_string));
        for (key, value) in tags {
            req = req.tags(Tag::builder().key(key).value(value).build());
        }
        match req
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(_) => Ok(Applied::Done),
            Err(e) => {
                let err = CallError::from_sdk(
                    &e,
                    "CreateDBInstance",
                    "rds:CreateDBInstance (and rds:AddTagsToResource)",
                    instance_resource(instance),
                );
                if err.code.as_deref() == Some("DBInstanceAlreadyExists") {
                    Ok(Applied::AlreadyDone(
                        "already exists (DBInstanceAlreadyExists): an earlier delivery created it"
                            .into(),
                    ))
                } else {
                    Err(err)
                }
            }
        }
    }

    /// ModifyDBCluster of the ServerlessV2ScalingConfiguration: MinCapacity `min`, with the
    /// live MaxCapacity `max` sent unchanged (the API drops a MaxCapacity left out).
    pub(super) async fn modify_serverless_min(
        &self,
        cluster: &str,
        min: Dcu,
        max: Dcu,
    ) -> Result<Applied, CallError> {
        self.client
            .modify_db_cluster()
            .db_cluster_identifier(cluster)
            .serverless_v2_scaling_configuration(
                ServerlessV2ScalingConfiguration::builder()
                    .min_capacity(min.as_f64())
                    .max_capacity(max.as_f64())
                    .build(),
            )
            .apply_immediately(true)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "ModifyDBCluster",
                    "rds:ModifyDBCluster",
                    cluster_resource(cluster),
                )
            })?;
        Ok(Applied::Done)
    }

    /// ModifyDBInstance to `class`, applied now (it restarts the instance).
    pub(super) async fn modify_class(
        &self,
        instance: &str,
        class: &str,
    ) -> Result<Applied, CallError> {
        self.client
            .modify_db_instance()
            .db_instance_identifier(instance)
            .db_instance_class(class)
            .apply_immediately(true)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "ModifyDBInstance",
                    "rds:ModifyDBInstance",
                    instance_resource(instance),
                )
            })?;
        Ok(Applied::Done)
    }

    /// FailoverDBCluster to `target`.
    pub(super) async fn failover(&self, cluster: &str, target: &str) -> Result<Applied, CallError> {
        self.client
            .failover_db_cluster()
            .db_cluster_identifier(cluster)
            .target_db_instance_identifier(target)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "FailoverDBCluster",
                    "rds:FailoverDBCluster",
                    cluster_resource(cluster),
                )
            })?;
        Ok(Applied::Done)
    }

    /// DeleteDBInstance; "not found" and "already being deleted" count as done.
    pub(super) async fn delete_instance(&self, instance: &str) -> Result<Applied, CallError> {
        match self
            .client
            .delete_db_instance()
            .db_instance_identifier(instance)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(_) => Ok(Applied::Done),
            Err(e) => {
                let err = CallError::from_sdk(
                    &e,
                    "DeleteDBInstance",
                    "rds:DeleteDBInstance",
                    instance_resource(instance),
                );
                if err.is_not_found() {
                    Ok(Applied::AlreadyDone(
                        "already gone (DBInstanceNotFound)".into(),
                    ))
                } else if err
                    .message
                    .to_ascii_lowercase()
                    .contains("already being deleted")
                {
                    Ok(Applied::AlreadyDone("already being deleted".into()))
                } else {
                    Err(err)
                }
            }
        }
    }
}
