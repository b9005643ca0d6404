//! Application Auto Scaling adapter: an ECS service's scalable target (`ecs:service:DesiredCount`)
//! and an Aurora cluster's (`rds:cluster:ReadReplicaCount`, resource `cluster:<id>`).
//!
//! Target tracking overrides a desired count set by UpdateService (and Aurora Auto Scaling scales
//! its replicas in to its minimum), so for the night nightshift raises the target's MinCapacity
//! (and MaxCapacity when below) and restores both afterwards.

use super::Timeouts;
use crate::plan::Capacity;
use crate::ports::CallError;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_applicationautoscaling::Client;
use std::time::Duration;

/// The scalable target's resource id of an ECS service.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

#[derive(Debug, Clone)]
pub struct AutoScalingAdapter {
    client: Client,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

impl AutoScalingAdapter {
    pub fn new(client: Client, timeouts: Timeouts) -> Self {
        AutoScalingAdapter {
            client,
            timeouts,
            remaining: None,
        }
    }

    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        AutoScalingAdapter {
            remaining,
            ..self.clone()
        }
    }

    fn overrides(&self) -> aws_sdk_applicationautoscaling::config::Builder {
        aws_sdk_applicationautoscaling::config::Builder::default()
            .timeout_config(self.timeouts.within(self.remaining))
    }

    /// The service's scalable target, if it has one.
    pub async fn describe(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<Capacity>, CallError> {
        self.describe_target(
            ServiceNamespace::Ecs,
            ScalableDimension::EcsServiceDesiredCount,
            &resource_id(cluster, service),
        )
        .await
    }

    /// An Aurora cluster's `rds:cluster:ReadReplicaCount` target, if it has one.
    pub async fn describe_replica_target(
        &self,
        cluster: &str,
    ) -> Result<Option<Capacity>, CallError> {
        self.describe_target(
            ServiceNamespace::Rds,
            ScalableDimension::RdsClusterReadReplicaCount,
            &format!("cluster:{cluster}"),
        )
        .await
    }

    /// Set the service target's bounds (RegisterScalableTarget on an existing target updates it).
    pub(super) async fn register(
        &self,
        cluster: &str,
        service: &str,
        capacity: Capacity,
    ) -> Result<(), CallError> {
        self.register_target(
            ServiceNamespace::Ecs,
            ScalableDimension::EcsServiceDesiredCount,
            &resource_id(cluster, service),
            capacity,
        )
        .await
    }

    /// Set an Aurora cluster's replica target bounds.
    pub(super) async fn register_replica_target(
        &self,
        cluster: &str,
        capacity: Capacity,
    ) -> Result<(), CallError> {
        self.register_target(
            ServiceNamespace::Rds,
            ScalableDimension::RdsClusterReadReplicaCount,
            &format!("cluster:{cluster}"),
            capacity,
        )
        .await
    }

    async fn describe_target(
        &self,
        namespace: ServiceNamespace,
        dimension: ScalableDimension,
        id: &str,
    ) -> Result<Option<Capacity>, CallError> {
        let out = self
            .client
            .describe_scalable_targets()
            .service_namespace(namespace)
            .scalable_dimension(dimension)
            .resource_ids(id)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "DescribeScalableTargets",
                    "application-autoscaling:DescribeScalableTargets",
                    format!("scalable target {id}"),
                )
            })?;
        Ok(out
            .scalable_targets()
            .iter()
            .find(|t| t.resource_id() == id)
            .map(|t| Capacity {
                min: t.min_capacity(),
                max: t.max_capacity(),
            }))
    }

    async fn register_target(
        &self,
        namespace: ServiceNamespace,
        dimension: ScalableDimension,
        id: &str,
        capacity: Capacity,
    ) -> Result<(), CallError> {
        self.client
            .register_scalable_target()
            .service_namespace(namespace)
            .scalable_dimension(dimension)
            .resource_id(id)
            .min_capacity(capacity.min)
            .max_capacity(capacity.max)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "RegisterScalableTarget",
                    "application-autoscaling:RegisterScalableTarget",
                    format!("scalable target {id}"),
                )
            })?;
        Ok(())
    }
}
