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
    /// The service's task definition (ARN) and launch: its launch type, else the first
    /// capacity provider of its strategy, else empty (the cluster's default strategy).
    pub task_definition: Option<String>,
    pub launch: String,
}

/// What DescribeTaskDefinition says of a task's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionSize {
    /// Task-level CPU units and memory MiB (required on Fargate, optional on EC2).
    pub cpu_units: Option<u32>,
    pub memory_mib: Option<u32>,
    /// `requiresCompatibilities`: `["FARGATE"]` means the task runs on Fargate only.
    pub requires: Vec<String>,
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
            task_definition: s.task_definition().map(str::to_string),
            launch: s
                .launch_type()
                .map(|l| l.as_str().to_string())
                .or_else(|| {
                    s.capacity_provider_strategy()
                        .first()
                        .map(|p| p.capacity_provider().to_string())
                })
                .unwrap_or_default(),
        }))
    }

    /// The size of a task definition's tasks (read once, when a run opens).
    pub async fn describe_task_definition(
        &self,
        task_definition: &str,
    ) -> Result<TaskDefinitionSize, CallError> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "DescribeTaskDefinition",
                    "ecs:DescribeTaskDefinition",
                    format!("ECS task definition {task_definition}"),
                )
            })?;
        let def = out.task_definition();
        Ok(TaskDefinitionSize {
            cpu_units: def.and_then(|d| d.cpu()).and_then(cpu_units),
            memory_mib: def.and_then(|d| d.memory()).and_then(memory_mib),
            requires: def
                .map(|d| {
                    d.requires_compatibilities()
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        })
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

/// Task-level CPU as ECS reports it: units (`"1024"`), or vCPUs as registered (`"1 vCPU"`).
fn cpu_units(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Some(vcpu) = text
        .strip_suffix("vCPU")
        .or_else(|| text.strip_suffix("vcpu"))
    {
        let v: f64 = vcpu.trim().parse().ok()?;
        return whole(v * 1024.0);
    }
    text.parse().ok()
}

/// Task-level memory as ECS reports it: MiB (`"2048"`), or GB as registered (`"2 GB"`).
fn memory_mib(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Some(gb) = text.strip_suffix("GB").or_else(|| text.strip_suffix("gb")) {
        let v: f64 = gb.trim().parse().ok()?;
        return whole(v * 1024.0);
    }
    text.parse().ok()
}

fn whole(v: f64) -> Option<u32> {
    if v.is_finite() && v >= 0.0 && v <= f64::from(u32::MAX) {
        // Checked above: finite, non-negative, in range.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(v.round() as u32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_sizes_read_in_units_or_in_the_registered_spelling() {
        assert_eq!(cpu_units("1024"), Some(1024));
        assert_eq!(cpu_units("0.5 vCPU"), Some(512));
        assert_eq!(memory_mib("2048"), Some(2048));
        assert_eq!(memory_mib("3 GB"), Some(3072));
        assert_eq!(cpu_units("lots"), None);
        assert_eq!(memory_mib("-1 GB"), None);
    }
}
