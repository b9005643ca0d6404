//! The EC2 Auto Scaling group kind: a group's `MinSize` and `DesiredCapacity` raised to the
//! night's `min` (its `MaxSize` too, only when it is lower, and never above `max`), all three
//! restored in the morning, each only while it still holds the night's value (drift otherwise).
//!
//! Left alone, and said so in `plan`: scale-in protection (a protected instance is not
//! terminated by the restored, lower capacity until its protection is removed), a warm pool (the
//! night's instances come from it first, and go back to it as its reuse policy says), suspended
//! processes (with `Launch` suspended the raised capacity starts no instance, with `Terminate`
//! suspended the restored one stops none, until they are resumed). Instance refreshes are not
//! read (one more call per group and step); AWS's refusals while the group is busy
//! (`ScalingActivityInProgress`, `ResourceContention`) are retried like a busy cluster's.

use super::kind::Kind;
use super::{Baseline, Call, GroupSize, Plan, PlanError, Readiness, Snapshot};
use crate::config::{AsgTarget, Scenario};
use serde::{Deserialize, Serialize};

/// One Auto Scaling group as DescribeAutoScalingGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub name: String,
    pub size: GroupSize,
    /// Instances `InService` (the others are pending, terminating, in standby or warming).
    pub in_service: i32,
    /// Instances protected from scale in.
    pub protected: usize,
    /// New instances are protected from scale in.
    pub protects_new: bool,
    /// The warm pool's current size, when the group has one.
    pub warm_pool: Option<i32>,
    /// Suspended processes (`Launch`, `Terminate`, ...).
    pub suspended: Vec<String>,
    /// Set while the group is being deleted (`Delete in progress`).
    pub status: Option<String>,
}

impl GroupState {
    pub fn is_gone(&self) -> bool {
        self.status.is_some()
    }

    fn suspends(&self, process: &str) -> bool {
        self.suspended.iter().any(|p| p == process)
    }

    /// What nightshift leaves alone on this group, one line each.
    fn left_alone(&self) -> Vec<String> {
        let name = &self.name;
        let mut lines = Vec::new();
        if self.protected > 0 || self.protects_new {
            lines.push(format!(
                "{name}: scale-in protection ({} instance(s) protected{}) left alone: a protected instance is not terminated when the capacity is restored, until its protection is removed",
                self.protected,
                if self.protects_new { ", new instances protected" } else { "" }
            ));
        }
        if let Some(size) = self.warm_pool {
            lines.push(format!(
                "{name}: warm pool ({size} instance(s)) left alone: the night's instances come from it first"
            ));
        }
        if !self.suspended.is_empty() {
            lines.push(format!(
                "{name}: suspended processes {} left alone{}{}",
                self.suspended.join(", "),
                if self.suspends("Launch") {
                    ": with Launch suspended the raised capacity starts no instance until it is resumed"
                } else {
                    ""
                },
                if self.suspends("Terminate") {
                    "; with Terminate suspended the restored capacity stops no instance until it is resumed"
                } else {
                    ""
                }
            ));
        }
        lines
    }
}

/// What the run records of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBaseline {
    pub name: String,
    /// MinSize, MaxSize and DesiredCapacity before the night.
    pub size: GroupSize,
    /// The sizes nightshift sets for the night (= `size` where it sets none).
    pub night: GroupSize,
}

/// The night's sizes: MinSize and DesiredCapacity raised to `min` (never lowered), MaxSize
/// raised to it only when lower. Every value set is at most `min`, so at most `max`.
pub(crate) fn night_size(target: &AsgTarget, live: GroupSize) -> GroupSize {
    let wanted = i32::try_from(target.min).unwrap_or(i32::MAX);
    GroupSize {
        min: live.min.max(wanted),
        max: live.max.max(wanted),
        desired: live.desired.max(wanted),
    }
}

/// The one UpdateAutoScalingGroup that takes `from` to `to`, naming only what changes.
fn update(name: &str, from: GroupSize, to: GroupSize) -> Option<Call> {
    let changed = |a: i32, b: i32| (a != b).then_some(b);
    let call = Call::UpdateAutoScalingGroup {
        group: name.to_string(),
        min: changed(from.min, to.min),
        max: changed(from.max, to.max),
        desired: changed(from.desired, to.desired),
        from,
    };
    (from != to).then_some(call)
}

fn plan_group(target: &AsgTarget, live: &GroupState) -> Plan {
    let mut plan = Plan {
        notes: live.left_alone(),
        ..Plan::default()
    };
    let name = &target.name;
    let night = night_size(target, live.size);
    match update(name, live.size, night) {
        Some(call) => plan.calls.push(call),
        None => plan.notes.push(format!(
            "{name}: already at the night's size ({})",
            live.size
        )),
    }
    let guard = i64::from(target.max);
    if i64::from(live.size.desired) > guard || i64::from(live.size.min) > guard {
        plan.notes.push(format!(
            "{name}: its size ({}) is above the configured max {}, set outside nightshift: left as is (scale-up never lowers it)",
            live.size, target.max
        ));
    }
    plan
}

/// Each value back to the baseline's, but only where it still holds the night's value; the
/// desired capacity within the resulting bounds (someone's MinSize of the night may hold it up).
fn restore_group(b: &GroupBaseline, live: &GroupState) -> Plan {
    let mut plan = Plan::default();
    let name = &b.name;
    let mut drifted = Vec::new();
    let mut back = |what: &str, base: i32, night: i32, now: i32| -> i32 {
        if now == night {
            base
        } else {
            if now != base {
                drifted.push(format!(
                    "{what} is {now} but nightshift set {night} (baseline {base})"
                ));
            }
            now
        }
    };
    let min = back("MinSize", b.size.min, b.night.min, live.size.min);
    let desired = back(
        "DesiredCapacity",
        b.size.desired,
        b.night.desired,
        live.size.desired,
    );
    let max = back("MaxSize", b.size.max, b.night.max, live.size.max);
    if !drifted.is_empty() {
        plan.drift.push(format!(
            "{name}: {}: changed during the night (by a person, a scaling policy or a scheduled action), left as it is",
            drifted.join(", ")
        ));
    }
    // AWS wants MinSize <= DesiredCapacity <= MaxSize: a value left as it is (drift) can hold
    // another one up, never down.
    let to = GroupSize {
        min,
        desired: desired.max(min),
        max: max.max(desired.max(min)),
    };
    if to.desired != desired {
        plan.notes.push(format!(
            "{name}: DesiredCapacity restored to {} rather than {desired}: it cannot be below MinSize {min}",
            to.desired
        ));
    }
    if to.max != max {
        plan.notes.push(format!(
            "{name}: MaxSize restored to {} rather than {max}: it cannot be below DesiredCapacity {}",
            to.max, to.desired
        ));
    }
    match update(name, live.size, to) {
        Some(call) => {
            plan.calls.push(call);
            if live.protected > 0 {
                plan.notes.push(format!(
                    "{name}: {} instance(s) protected from scale in stay until their protection is removed",
                    live.protected
                ));
            }
        }
        None if b.night != b.size && drifted.is_empty() => plan
            .notes
            .push(format!("{name}: already back at {}", b.size)),
        None => {}
    }
    plan
}

/// The EC2 Auto Scaling groups of a scenario (`[[scenario.asg]]`).
pub struct Groups;

impl Kind for Groups {
    type Target = AsgTarget;
    type Live = GroupState;
    type Base = GroupBaseline;

    fn targets(scenario: &Scenario) -> Vec<&AsgTarget> {
        scenario.asg.iter().collect()
    }

    fn live<'s>(snapshot: &'s Snapshot, target: &AsgTarget) -> Result<&'s GroupState, PlanError> {
        match snapshot.group(&target.name) {
            Some(live) if !live.is_gone() => Ok(live),
            Some(live) => Err(PlanError::MissingGroup {
                group: target.name.clone(),
                why: format!("its status is {}", live.status.as_deref().unwrap_or("?")),
            }),
            None => Err(PlanError::MissingGroup {
                group: target.name.clone(),
                why: "DescribeAutoScalingGroups does not know it".into(),
            }),
        }
    }

    fn capture(target: &AsgTarget, live: &GroupState) -> GroupBaseline {
        GroupBaseline {
            name: target.name.clone(),
            size: live.size,
            night: night_size(target, live.size),
        }
    }

    fn plan_up(_: &Scenario, target: &AsgTarget, live: &GroupState, _: &str) -> Plan {
        plan_group(target, live)
    }

    fn recorded(baseline: &Baseline) -> &[GroupBaseline] {
        &baseline.groups
    }

    fn recorded_mut(baseline: &mut Baseline) -> &mut Vec<GroupBaseline> {
        &mut baseline.groups
    }

    fn name(base: &GroupBaseline) -> String {
        format!("Auto Scaling group {}", base.name)
    }

    fn configured(scenario: &Scenario, base: &GroupBaseline) -> bool {
        scenario.asg.iter().any(|t| t.name == base.name)
    }

    fn plan_down(_: &Scenario, base: &GroupBaseline, snapshot: &Snapshot, _: &str) -> Plan {
        match snapshot.group(&base.name) {
            Some(live) if !live.is_gone() => restore_group(base, live),
            _ => Plan {
                notes: vec![format!(
                    "{} no longer exists: nothing to restore",
                    Self::name(base)
                )],
                ..Plan::default()
            },
        }
    }

    fn readiness(target: &AsgTarget, snapshot: &Snapshot, out: &mut Readiness) {
        let name = &target.name;
        let Some(live) = snapshot.group(name).filter(|g| !g.is_gone()) else {
            out.waiting
                .push(format!("Auto Scaling group {name}: not found"));
            return;
        };
        let wanted = i32::try_from(target.min).unwrap_or(i32::MAX);
        if live.size.desired < wanted {
            out.degraded.push(format!(
                "{name}: desired capacity {} is below the night's {wanted}",
                live.size.desired
            ));
        }
        if live.in_service < live.size.desired {
            let line = format!(
                "{name}: {} of {} instances in service",
                live.in_service, live.size.desired
            );
            // Nothing starts while Launch is suspended: not worth waiting for.
            if live.suspends("Launch") {
                out.degraded.push(format!("{line} (Launch is suspended)"));
            } else {
                out.waiting.push(line);
            }
        }
    }
}

#[cfg(test)]
mod tests;
