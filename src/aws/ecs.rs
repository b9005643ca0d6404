//! ECS adapter: a service's counts (DescribeServices) and its desired count (UpdateService).

use super::Timeouts;
use crate::ports::CallError;
use aws_sdk_ecs::Client;
use std::time::Duration;

/// A service's counts as DescribeServices reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCounts {
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
}

#[derive(Debug, Clone)]
pub struct EcsAdapter {
    client: Client,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

impl EcsAdapter {
    pub fn new(client: Client, timeouts: Timeouts) -> Self {
        EcsAdapter {
            client,
            timeouts,
            remaining: None,
        }
    }

    /// A copy whose calls end within `remaining` (minus the recording margin).
    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        EcsAdapter {
            remaining,
            ..self.clone()
        }
    }

    fn overrides(&self) -> aws_sdk_ecs::config::Builder {
        aws_sdk_ecs::config::Builder::default().timeout_config(self.timeouts.within(self.remaining))
    }

    /// The service's counts; None when the cluster or the service does not exist.
    pub async fn describe_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<ServiceCounts>, CallError> {
        let resource = format!("ECS service {service} in cluster {cluster}");
        let out = match self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let err =
                    CallError::from_sdk(&e, "DescribeServices", "ecs:DescribeServices", resource);
                // ClusterNotFoundException: the service cannot exist either.
                return if err.is_not_found() {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let found = out.services().iter().find(|s| {
            s.service_name() == Some(service)
                || s.service_arn()
                    .is_some_and(|arn| arn.ends_with(&format!("/{service}")))
        });
        Ok(found.map(|s| ServiceCounts {
            status: s.status().unwrap_or("UNKNOWN").to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
        }))
    }

    /// Set the desired count ("set to N" is naturally idempotent).
    pub(super) async fn update_desired(
        &self,
        cluster: &str,
        service: &str,
        desired: i32,
    ) -> Result<(), CallError> {
        self.client
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "UpdateService",
                    "ecs:UpdateService",
                    format!("ECS service {service} in cluster {cluster}"),
                )
            })?;
        Ok(())
    }
}
