//! EC2 Auto Scaling adapter: groups (DescribeAutoScalingGroups) and their sizes
//! (UpdateAutoScalingGroup).

use super::Timeouts;
use crate::plan::{GroupSize, GroupState};
use crate::ports::CallError;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use aws_sdk_autoscaling::Client;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AsgAdapter {
    client: Client,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

impl AsgAdapter {
    pub fn new(client: Client, timeouts: Timeouts) -> Self {
        AsgAdapter {
            client,
            timeouts,
            remaining: None,
        }
    }

    /// A copy whose calls end within `remaining` (minus the recording margin).
    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        AsgAdapter {
            remaining,
            ..self.clone()
        }
    }

    fn overrides(&self) -> aws_sdk_autoscaling::config::Builder {
        aws_sdk_autoscaling::config::Builder::default()
            .timeout_config(self.timeouts.within(self.remaining))
    }

    /// The groups named, in one call (AWS takes up to 100 names); one that does not exist is
    /// absent.
    pub async fn describe(&self, names: &[&str]) -> Result<Vec<GroupState>, CallError> {
        let mut groups = Vec::with_capacity(names.len());
        for chunk in names.chunks(100) {
            let mut request = self.client.describe_auto_scaling_groups();
            for name in chunk {
                request = request.auto_scaling_group_names(*name);
            }
            let out = request
                .customize()
                .config_override(self.overrides())
                .send()
                .await
                .map_err(|e| {
                    CallError::from_sdk(
                        &e,
                        "DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingGroups",
                        format!("Auto Scaling groups {}", chunk.join(", ")),
                    )
                })?;
            groups.extend(out.auto_scaling_groups().iter().filter_map(group_state));
        }
        Ok(groups)
    }

    /// Set the sizes given (None: not sent); "set to N", safe to repeat.
    pub(super) async fn update_size(
        &self,
        group: &str,
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> Result<(), CallError> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(group)
            .set_min_size(min)
            .set_max_size(max)
            .set_desired_capacity(desired)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| {
                CallError::from_sdk(
                    &e,
                    "UpdateAutoScalingGroup",
                    "autoscaling:UpdateAutoScalingGroup",
                    format!("Auto Scaling group {group}"),
                )
            })?;
        Ok(())
    }
}

fn group_state(g: &AutoScalingGroup) -> Option<GroupState> {
    let instances = g.instances();
    Some(GroupState {
        name: g.auto_scaling_group_name()?.to_string(),
        size: GroupSize {
            min: g.min_size().unwrap_or(0),
            max: g.max_size().unwrap_or(0),
            desired: g.desired_capacity().unwrap_or(0),
        },
        in_service: i32::try_from(
            instances
                .iter()
                .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
                .count(),
        )
        .unwrap_or(i32::MAX),
        protected: instances
            .iter()
            .filter(|i| i.protected_from_scale_in() == Some(true))
            .count(),
        protects_new: g.new_instances_protected_from_scale_in() == Some(true),
        warm_pool: g
            .warm_pool_configuration()
            .map(|_| g.warm_pool_size().unwrap_or(0)),
        suspended: g
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_string))
            .collect(),
        status: g.status().map(str::to_string),
    })
}
