//! AWS Batch adapter: compute environments (DescribeComputeEnvironments) and their
//! `minvCpus` / `desiredvCpus` (UpdateComputeEnvironment).

use super::Timeouts;
use crate::plan::EnvironmentState;
use crate::ports::CallError;
use aws_sdk_batch::types::{ComputeEnvironmentDetail, ComputeResourceUpdate};
use aws_sdk_batch::Client;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BatchAdapter {
    client: Client,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

impl BatchAdapter {
    pub fn new(client: Client, timeouts: Timeouts) -> Self {
        BatchAdapter {
            client,
            timeouts,
            remaining: None,
        }
    }

    /// A copy whose calls end within `remaining` (minus the recording margin).
    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        BatchAdapter {
            remaining,
            ..self.clone()
        }
    }

    fn overrides(&self) -> aws_sdk_batch::config::Builder {
        aws_sdk_batch::config::Builder::default()
            .timeout_config(self.timeouts.within(self.remaining))
    }

    /// The environments named (names or ARNs), in one call; one that does not exist is absent.
    pub async fn describe(&self, names: &[&str]) -> Result<Vec<EnvironmentState>, CallError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self.client.describe_compute_environments();
        for name in names {
            request = request.compute_environments(*name);
        }
        let out = request
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "DescribeComputeEnvironments",
                    "batch:DescribeComputeEnvironments",
                    format!("Batch compute environments {}", names.join(", ")),
                )
            })?;
        Ok(out
            .compute_environments()
            .iter()
            .filter_map(environment_state)
            .collect())
    }

    /// Set `minvCpus` (and `desiredvCpus`, raised only): both are "set to N", safe to repeat.
    pub(super) async fn update_vcpus(
        &self,
        environment: &str,
        min: i32,
        desired: Option<i32>,
    ) -> Result<(), CallError> {
        self.client
            .update_compute_environment()
            .compute_environment(environment)
            .compute_resources(
                ComputeResourceUpdate::builder()
                    .minv_cpus(min)
                    .set_desiredv_cpus(desired)
                    .build(),
            )
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "UpdateComputeEnvironment",
                    "batch:UpdateComputeEnvironment",
                    format!("Batch compute environment {environment}"),
                )
            })?;
        Ok(())
    }
}

/// An environment as the planner reads it; one without a name (never sent by AWS) is skipped.
fn environment_state(e: &ComputeEnvironmentDetail) -> Option<EnvironmentState> {
    let resources = e.compute_resources();
    Some(EnvironmentState {
        name: e.compute_environment_name()?.to_string(),
        arn: e.compute_environment_arn().unwrap_or_default().to_string(),
        kind: e.r#type().map_or("UNMANAGED", |t| t.as_str()).to_string(),
        resources: resources
            .and_then(|r| r.r#type())
            .map(|t| t.as_str().to_string()),
        state: e.state().map_or("ENABLED", |s| s.as_str()).to_string(),
        status: e.status().map_or("VALID", |s| s.as_str()).to_string(),
        status_reason: e.status_reason().map(str::to_string),
        orchestration: e
            .container_orchestration_type()
            .map_or("ECS", |o| o.as_str())
            .to_string(),
        min: resources.and_then(|r| r.minv_cpus()).unwrap_or(0),
        max: resources.and_then(|r| r.maxv_cpus()).unwrap_or(0),
        desired: resources.and_then(|r| r.desiredv_cpus()),
    })
}
