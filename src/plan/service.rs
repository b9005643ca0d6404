//! The ECS service kind: a service's desired count raised for the night (capped by `max`), and
//! its Application Auto Scaling target's MinCapacity (and a lower MaxCapacity) raised with it, so
//! that target tracking cannot scale it in under the night's count; both restored in the
//! morning, the scalable target first. A value someone changed during the night is drift.

use super::kind::Kind;
use super::{Baseline, Call, Capacity, Plan, PlanError, Readiness, Snapshot};
use crate::config::{EcsTarget, Scenario};
use serde::{Deserialize, Serialize};

/// One ECS service as read live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub cluster: String,
    pub service: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE` (a deleted service).
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// The service's Application Auto Scaling target (`ecs:service:DesiredCount`), if any.
    pub scalable_target: Option<Capacity>,
    /// Its task definition and launch type (DescribeServices); the size is read only when a run
    /// opens ([`TaskSize`]).
    pub task: Option<TaskSize>,
}

impl ServiceState {
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("ACTIVE")
    }
}

/// What the run records of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceBaseline {
    pub cluster: String,
    pub service: String,
    /// Desired count before the night.
    pub desired: i32,
    /// The scalable target's min/max before the night, when the service has one.
    pub scalable_target: Option<Capacity>,
    /// The desired count nightshift sets for the night (= `desired` when it needs no change).
    pub night_desired: i32,
    /// The scalable target nightshift sets for the night.
    pub night_target: Option<Capacity>,
    /// Its tasks' definition, launch type and (Fargate) size when the run opened: the night's
    /// vCPU-hours and GB-hours. Absent in the runs of earlier builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskSize>,
}

/// What a service's tasks are, as recorded when the run opened: the task definition and launch
/// type from DescribeServices, the task-level CPU and memory from one DescribeTaskDefinition
/// (made only for tasks that may run on Fargate, the only ones billed by their size).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSize {
    pub task_definition: String,
    /// `FARGATE`, `FARGATE_SPOT`, `EC2`, `EXTERNAL`, or the first capacity provider of the
    /// service's strategy; empty when the service names neither (the cluster's default).
    pub launch: String,
    /// Task-level CPU units (1024 = 1 vCPU) and memory (MiB), when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_units: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Why the size was not read (the DescribeTaskDefinition error), when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

impl TaskSize {
    /// Billed by its size: the Fargate launch type or a Fargate capacity provider.
    pub fn is_fargate(&self) -> bool {
        self.launch.starts_with("FARGATE")
    }

    /// Worth a DescribeTaskDefinition: Fargate, or a launch the service does not name.
    pub fn may_be_fargate(&self) -> bool {
        self.is_fargate() || self.launch.is_empty()
    }

    /// vCPUs and GB (GiB, as Fargate bills memory) of one task, for a Fargate task whose size
    /// was read.
    pub fn fargate_size(&self) -> Option<(f64, f64)> {
        if !self.is_fargate() {
            return None;
        }
        let cpu = self.cpu_units?;
        let memory = self.memory_mib?;
        Some((f64::from(cpu) / 1024.0, f64::from(memory) / 1024.0))
    }
}

/// The desired count the config asks for, never above its `max`.
pub(crate) fn target_desired(target: &EcsTarget) -> i32 {
    i32::try_from(target.desired.min(target.max)).unwrap_or(i32::MAX)
}

/// The desired count for the night: the target, or the current count when that is higher
/// (nightshift never lowers a count at scale-up).
pub(crate) fn night_desired(target: &EcsTarget, live: &ServiceState) -> i32 {
    live.desired.max(target_desired(target))
}

/// The scalable target for the night: MinCapacity raised to the target so that target tracking
/// cannot scale the service in under it, MaxCapacity raised only when it is below that.
pub(crate) fn night_capacity(target: &EcsTarget, current: Capacity) -> Capacity {
    let min = current.min.max(target_desired(target));
    Capacity {
        min,
        max: current.max.max(min),
    }
}

/// The configured service in the snapshot, or why it is missing.
pub(crate) fn live_service<'a>(
    snapshot: &'a Snapshot,
    cluster: &str,
    service: &str,
) -> Result<&'a ServiceState, PlanError> {
    match snapshot.service(cluster, service) {
        Some(s) if s.is_active() => Ok(s),
        Some(s) => Err(PlanError::MissingService {
            cluster: cluster.into(),
            service: service.into(),
            why: format!("its status is {}", s.status),
        }),
        None => Err(PlanError::MissingService {
            cluster: cluster.into(),
            service: service.into(),
            why: "DescribeServices does not know it, or the cluster does not exist".into(),
        }),
    }
}

pub(crate) fn plan_service(target: &EcsTarget, live: &ServiceState) -> Plan {
    let mut plan = Plan::default();
    let name = format!("{}/{}", target.cluster, target.service);
    let wanted = target_desired(target);
    if target.desired > target.max {
        plan.notes.push(format!(
            "{name}: desired {} capped at max {}",
            target.desired, target.max
        ));
    }
    if let Some(current) = live.scalable_target {
        let night = night_capacity(target, current);
        if night != current {
            plan.calls.push(Call::RegisterScalableTarget {
                cluster: target.cluster.clone(),
                service: target.service.clone(),
                to: night,
                from: current,
            });
        }
    }
    match live.desired.cmp(&wanted) {
        std::cmp::Ordering::Less => plan.calls.push(Call::UpdateService {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            desired: wanted,
            from: live.desired,
        }),
        std::cmp::Ordering::Equal => plan
            .notes
            .push(format!("{name}: already at desired count {wanted}")),
        std::cmp::Ordering::Greater => plan.notes.push(format!(
            "{name}: desired count {} is above the night's {wanted}: left as is (scale-up never lowers a count){}",
            live.desired,
            if live.desired > i32::try_from(target.max).unwrap_or(i32::MAX) {
                format!("; it is above the configured max {}, set outside nightshift", target.max)
            } else {
                String::new()
            }
        )),
    }
    plan
}

fn restore_service(b: &ServiceBaseline, live: &ServiceState) -> Plan {
    let mut plan = Plan::default();
    let name = format!("{}/{}", b.cluster, b.service);
    match (b.scalable_target, b.night_target, live.scalable_target) {
        (Some(base), night, Some(current)) if current != base => {
            if Some(current) == night {
                plan.calls.push(Call::RegisterScalableTarget {
                    cluster: b.cluster.clone(),
                    service: b.service.clone(),
                    to: base,
                    from: current,
                });
            } else {
                plan.drift.push(format!(
                    "{name}: scalable target is {current}, not the {} nightshift set: changed during the night, left as it is (baseline {base})",
                    night.map_or_else(|| "value".to_string(), |n| n.to_string())
                ));
            }
        }
        (Some(base), _, None) => plan.drift.push(format!(
            "{name}: its scalable target ({base} before the night) was deregistered during the night: left as it is"
        )),
        (None, _, Some(current)) => plan.notes.push(format!(
            "{name}: a scalable target ({current}) was registered during the night, not by nightshift: left as it is"
        )),
        _ => {}
    }
    if live.desired == b.desired {
        if b.night_desired != b.desired {
            plan.notes.push(format!(
                "{name}: already back at desired count {}",
                b.desired
            ));
        }
    } else if live.desired == b.night_desired {
        plan.calls.push(Call::UpdateService {
            cluster: b.cluster.clone(),
            service: b.service.clone(),
            desired: b.desired,
            from: live.desired,
        });
    } else {
        plan.drift.push(format!(
            "{name}: desired count is {} but nightshift set {}: changed during the night (by a person, a deployment or autoscaling), left as it is (baseline {})",
            live.desired, b.night_desired, b.desired
        ));
    }
    plan
}

/// The ECS services of a scenario (`[[scenario.ecs]]`).
pub struct Services;

impl Kind for Services {
    type Target = EcsTarget;
    type Live = ServiceState;
    type Base = ServiceBaseline;

    fn targets(scenario: &Scenario) -> Vec<&EcsTarget> {
        scenario.ecs.iter().collect()
    }

    fn live<'s>(snapshot: &'s Snapshot, target: &EcsTarget) -> Result<&'s ServiceState, PlanError> {
        live_service(snapshot, &target.cluster, &target.service)
    }

    fn capture(target: &EcsTarget, live: &ServiceState) -> ServiceBaseline {
        ServiceBaseline {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            desired: live.desired,
            scalable_target: live.scalable_target,
            night_desired: night_desired(target, live),
            night_target: live.scalable_target.map(|cap| night_capacity(target, cap)),
            task: live.task.clone(),
        }
    }

    fn plan_up(_: &Scenario, target: &EcsTarget, live: &ServiceState, _: &str) -> Plan {
        plan_service(target, live)
    }

    fn recorded(baseline: &Baseline) -> &[ServiceBaseline] {
        &baseline.services
    }

    fn recorded_mut(baseline: &mut Baseline) -> &mut Vec<ServiceBaseline> {
        &mut baseline.services
    }

    fn name(base: &ServiceBaseline) -> String {
        format!("{}/{}", base.cluster, base.service)
    }

    fn configured(scenario: &Scenario, base: &ServiceBaseline) -> bool {
        scenario
            .ecs
            .iter()
            .any(|t| t.cluster == base.cluster && t.service == base.service)
    }

    fn plan_down(_: &Scenario, base: &ServiceBaseline, snapshot: &Snapshot, _: &str) -> Plan {
        match snapshot.service(&base.cluster, &base.service) {
            Some(live) if live.is_active() => restore_service(base, live),
            _ => Plan {
                notes: vec![format!(
                    "{} no longer exists: nothing to restore",
                    Self::name(base)
                )],
                ..Plan::default()
            },
        }
    }

    fn readiness(target: &EcsTarget, snapshot: &Snapshot, out: &mut Readiness) {
        let name = format!("{}/{}", target.cluster, target.service);
        match snapshot.service(&target.cluster, &target.service) {
            Some(s) if s.is_active() => {
                if s.running < s.desired {
                    out.waiting.push(format!(
                        "{name}: {} of {} tasks running",
                        s.running, s.desired
                    ));
                }
                let wanted = target_desired(target);
                if s.desired < wanted {
                    out.degraded.push(format!(
                        "{name}: desired count {} is below the night's {wanted}",
                        s.desired
                    ));
                }
            }
            _ => out.waiting.push(format!("{name}: service not found")),
        }
    }
}
