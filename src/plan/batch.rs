//! The AWS Batch compute environment kind: a managed EC2 or Spot environment's `minvCpus` raised
//! for the night (so that the first jobs find instances running) and restored in the morning.
//!
//! - `desiredvCpus`: AWS accepts a new value only at or above the current one (a lower one is
//!   refused: "Manually scaling down compute environment is not supported"), and never for an
//!   environment on EKS. The scale-up raises it with the minimum when it is below the night's
//!   value (instances start at once); the restore never sends it: once `minvCpus` is back, Batch
//!   scales the environment down itself as its instances go idle.
//! - Refused at plan time, with the reason (a note, no call): an unmanaged environment (its
//!   instances are its owner's), a Fargate or Fargate Spot one (no instances to keep warm:
//!   `minvCpus` does not apply), and a night's minimum above the environment's own `maxvCpus`
//!   (AWS would refuse it; nightshift never raises `maxvCpus`).
//! - An environment that is not VALID and ENABLED (UPDATING, INVALID, DISABLED, ...) when the
//!   scale-up comes is deferred, not failed: the scale-up says what it waits for, and the checks
//!   make the raise once it is VALID and ENABLED, as long as it still holds its day value.
//! - Drift: a `minvCpus` someone changed during the night is recorded and left alone.

use super::kind::Kind;
use super::{Baseline, Call, Plan, PlanError, Readiness, Snapshot};
use crate::config::{BatchTarget, Scenario};
use serde::{Deserialize, Serialize};

/// One compute environment as DescribeComputeEnvironments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentState {
    pub name: String,
    pub arn: String,
    /// `MANAGED` or `UNMANAGED`.
    pub kind: String,
    /// `computeResources.type` of a managed environment: `EC2`, `SPOT`, `FARGATE`,
    /// `FARGATE_SPOT`.
    pub resources: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    /// `CREATING`, `UPDATING`, `DELETING`, `DELETED`, `VALID` or `INVALID`.
    pub status: String,
    pub status_reason: Option<String>,
    /// `ECS` or `EKS`.
    pub orchestration: String,
    pub min: i32,
    pub max: i32,
    pub desired: Option<i32>,
}

impl EnvironmentState {
    /// Deleted or on its way out: nothing to plan for.
    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "DELETING" | "DELETED")
    }

    /// Takes an update now: VALID and ENABLED.
    pub fn is_ready_for_update(&self) -> bool {
        self.status == "VALID" && self.state == "ENABLED"
    }

    /// Why nightshift does not scale it, if it does not: its type has no instances that
    /// `minvCpus` keeps warm, or they are not AWS Batch's to start.
    pub fn unsupported(&self) -> Option<String> {
        if self.kind != "MANAGED" {
            return Some(format!(
                "Batch compute environment {} is {}: its instances are its owner's, minvCpus does not apply; nightshift scales managed EC2 and Spot environments only",
                self.name, self.kind
            ));
        }
        match self.resources.as_deref() {
            Some("EC2" | "SPOT") => None,
            Some(other) => Some(format!(
                "Batch compute environment {} is a {other} environment: it keeps no instances warm (minvCpus does not apply to Fargate), so there is nothing to raise; nightshift scales managed EC2 and Spot environments only",
                self.name
            )),
            None => Some(format!(
                "Batch compute environment {} reports no compute resources: nothing to raise",
                self.name
            )),
        }
    }

    /// Why it waits for an update ("UPDATING", "INVALID (reason)", "DISABLED").
    fn not_ready(&self) -> String {
        let mut why = Vec::new();
        if self.status != "VALID" {
            why.push(match &self.status_reason {
                Some(reason) if !reason.is_empty() => format!("{} ({reason})", self.status),
                _ => self.status.clone(),
            });
        }
        if self.state != "ENABLED" {
            why.push(self.state.clone());
        }
        why.join(" and ")
    }
}

/// What the run records of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentBaseline {
    /// As configured: its name or ARN.
    pub compute_environment: String,
    /// `minvCpus` before the night.
    pub min: i32,
    /// `desiredvCpus` before the night (for the record: it is never restored by a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<i32>,
    /// The `minvCpus` nightshift sets for the night (= `min` when it sets none).
    pub night_min: i32,
}

/// The night's `minvCpus`, or why none is set: never lower than the live value, never above the
/// environment's `maxvCpus` (refused instead).
pub(crate) fn night_min(target: &BatchTarget, live: &EnvironmentState) -> Result<i32, String> {
    if let Some(why) = live.unsupported() {
        return Err(why);
    }
    let wanted = i32::try_from(target.min_vcpus).unwrap_or(i32::MAX);
    if live.min >= wanted {
        return Ok(live.min);
    }
    if wanted > live.max {
        return Err(format!(
            "Batch compute environment {}: min_vcpus {wanted} is above its maxvCpus {}: AWS would refuse it, and nightshift never raises maxvCpus; raise the environment's maxvCpus to at least {wanted}, or lower min_vcpus",
            live.name, live.max
        ));
    }
    Ok(wanted)
}

/// The call that raises `live` to `night` (None: already there), with `desiredvCpus` when it is
/// below the night's value and AWS lets it be set (not on EKS).
fn raise(target: &BatchTarget, live: &EnvironmentState, night: i32) -> Option<Call> {
    if live.min >= night {
        return None;
    }
    let desired = live
        .desired
        .filter(|d| *d < night && live.orchestration != "EKS")
        .map(|_| night);
    Some(Call::UpdateComputeEnvironment {
        environment: target.compute_environment.clone(),
        min: night,
        from: live.min,
        desired,
        desired_from: desired.and(live.desired),
    })
}

fn plan_environment(target: &BatchTarget, live: &EnvironmentState) -> Plan {
    let mut plan = Plan::default();
    let name = target.name();
    match night_min(target, live) {
        Err(why) => plan.notes.push(format!("{why}: left as it is")),
        Ok(night) if live.min >= night => {
            let wanted = i32::try_from(target.min_vcpus).unwrap_or(i32::MAX);
            plan.notes.push(if live.min > wanted {
                format!("{name}: minvCpus {} is above the night's {wanted}: left as is (scale-up never lowers it)", live.min)
            } else {
                format!("{name}: already at minvCpus {night}")
            });
        }
        Ok(_) if !live.is_ready_for_update() => plan.waiting.push(format!(
            "Batch compute environment {name} is {}: its minvCpus is raised once it is VALID and ENABLED (the next check tries again)",
            live.not_ready()
        )),
        Ok(night) => {
            if let Some(call) = raise(target, live, night) {
                plan.calls.push(call);
            }
            if live.orchestration == "EKS" {
                plan.notes.push(format!(
                    "{name} runs on EKS: AWS does not let desiredvCpus be set there, only minvCpus is raised"
                ));
            }
        }
    }
    plan
}

fn restore_environment(b: &EnvironmentBaseline, live: &EnvironmentState) -> Plan {
    let mut plan = Plan::default();
    let name = live.name.clone();
    if b.night_min == b.min {
        return plan;
    }
    if live.min == b.min {
        plan.notes
            .push(format!("{name}: already back at minvCpus {}", b.min));
    } else if live.min != b.night_min {
        plan.drift.push(format!(
            "{name}: minvCpus is {} but nightshift set {}: changed during the night, left as it is (baseline {})",
            live.min, b.night_min, b.min
        ));
    } else if !live.is_ready_for_update() {
        plan.waiting.push(format!(
            "Batch compute environment {name} is {}: its minvCpus {} is restored to {} once it is VALID and ENABLED",
            live.not_ready(),
            live.min,
            b.min
        ));
    } else {
        plan.calls.push(Call::UpdateComputeEnvironment {
            environment: b.compute_environment.clone(),
            min: b.min,
            from: live.min,
            desired: None,
            desired_from: None,
        });
        plan.notes.push(format!(
            "{name}: desiredvCpus is left to AWS Batch, which scales the environment down to minvCpus {} as its instances go idle (AWS refuses a lower desiredvCpus)",
            b.min
        ));
    }
    plan
}

/// The AWS Batch compute environments of a scenario (`[[scenario.batch]]`).
pub struct Environments;

impl Kind for Environments {
    type Target = BatchTarget;
    type Live = EnvironmentState;
    type Base = EnvironmentBaseline;

    fn targets(scenario: &Scenario) -> Vec<&BatchTarget> {
        scenario.batch.iter().collect()
    }

    fn live<'s>(
        snapshot: &'s Snapshot,
        target: &BatchTarget,
    ) -> Result<&'s EnvironmentState, PlanError> {
        match snapshot.environment(target.name()) {
            Some(live) if !live.is_gone() => Ok(live),
            Some(live) => Err(PlanError::MissingEnvironment {
                environment: target.compute_environment.clone(),
                why: format!("its status is {}", live.status),
            }),
            None => Err(PlanError::MissingEnvironment {
                environment: target.compute_environment.clone(),
                why: "DescribeComputeEnvironments does not know it".into(),
            }),
        }
    }

    fn capture(target: &BatchTarget, live: &EnvironmentState) -> EnvironmentBaseline {
        EnvironmentBaseline {
            compute_environment: target.compute_environment.clone(),
            min: live.min,
            desired: live.desired,
            night_min: night_min(target, live).unwrap_or(live.min),
        }
    }

    fn plan_up(_: &Scenario, target: &BatchTarget, live: &EnvironmentState, _: &str) -> Plan {
        plan_environment(target, live)
    }

    fn plan_deferred(
        scenario: &Scenario,
        base: &EnvironmentBaseline,
        snapshot: &Snapshot,
        _: &str,
    ) -> Plan {
        let Some(target) = scenario
            .batch
            .iter()
            .find(|t| t.matches(&base.compute_environment))
        else {
            return Plan::default();
        };
        match snapshot.environment(target.name()) {
            // Only while it still holds its day value: a value changed during the night is
            // someone's, and the restore reports it as drift.
            Some(live) if !live.is_gone() && live.min == base.min && base.night_min > base.min => {
                plan_environment(target, live)
            }
            _ => Plan::default(),
        }
    }

    fn recorded(baseline: &Baseline) -> &[EnvironmentBaseline] {
        &baseline.environments
    }

    fn recorded_mut(baseline: &mut Baseline) -> &mut Vec<EnvironmentBaseline> {
        &mut baseline.environments
    }

    fn name(base: &EnvironmentBaseline) -> String {
        format!(
            "Batch compute environment {}",
            crate::config::batch_environment_name(&base.compute_environment)
        )
    }

    fn configured(scenario: &Scenario, base: &EnvironmentBaseline) -> bool {
        scenario
            .batch
            .iter()
            .any(|t| t.matches(&base.compute_environment))
    }

    fn plan_down(_: &Scenario, base: &EnvironmentBaseline, snapshot: &Snapshot, _: &str) -> Plan {
        let name = crate::config::batch_environment_name(&base.compute_environment);
        match snapshot.environment(name) {
            Some(live) if !live.is_gone() => restore_environment(base, live),
            _ => Plan {
                notes: vec![format!(
                    "{} no longer exists: nothing to restore",
                    Self::name(base)
                )],
                ..Plan::default()
            },
        }
    }

    fn readiness(target: &BatchTarget, snapshot: &Snapshot, out: &mut Readiness) {
        let name = target.name();
        let Some(live) = snapshot.environment(name).filter(|e| !e.is_gone()) else {
            out.waiting
                .push(format!("Batch compute environment {name}: not found"));
            return;
        };
        if let Some(why) = live.unsupported() {
            out.degraded.push(why);
            return;
        }
        let wanted = i32::try_from(target.min_vcpus).unwrap_or(i32::MAX);
        if live.min >= wanted {
            return;
        }
        if wanted > live.max {
            out.degraded.push(format!(
                "{name}: minvCpus {} (its maxvCpus {} is below the night's {wanted})",
                live.min, live.max
            ));
        } else {
            out.waiting.push(format!(
                "{name}: minvCpus {} of the night's {wanted}{}",
                live.min,
                if live.is_ready_for_update() {
                    String::new()
                } else {
                    format!(" ({})", live.not_ready())
                }
            ));
        }
    }
}

#[cfg(test)]
mod tests;
