//! The safety rules of the Auto Scaling group kind: a group in the config, no size above its
//! `max` guardrail, none below the run's baseline (at scale-up, below the live value), and
//! MinSize <= DesiredCapacity <= MaxSize once the call applies.

use super::{Rule, RuleResult, SafetyContext};
use crate::plan::{Call, GroupSize};

pub(super) fn check(call: &Call, ctx: &SafetyContext<'_>) -> RuleResult {
    let Call::UpdateAutoScalingGroup {
        group,
        min,
        max,
        desired,
        ..
    } = call
    else {
        return super::other_kind(call);
    };
    let scenario = ctx.scenario;
    let Some(target) = scenario.asg.iter().find(|t| &t.name == group) else {
        return Err((
            Rule::NotConfigured,
            format!("{group} is not a [[scenario.asg]] of {}", scenario.name),
        ));
    };
    let live = ctx.snapshot.group(group).ok_or_else(|| {
        (
            Rule::NotConfigured,
            format!("{group} is not in the snapshot the call was planned from"),
        )
    })?;
    let floor: GroupSize = match ctx.baseline {
        Some(b) => b
            .groups
            .iter()
            .find(|g| &g.name == group)
            .map_or(live.size, |g| g.size),
        None => live.size,
    };
    let to = GroupSize {
        min: min.unwrap_or(live.size.min),
        max: max.unwrap_or(live.size.max),
        desired: desired.unwrap_or(live.size.desired),
    };
    for (what, value, floor) in [
        ("MinSize", *min, floor.min),
        ("DesiredCapacity", *desired, floor.desired),
        ("MaxSize", *max, floor.max),
    ] {
        let Some(value) = value else { continue };
        if i64::from(value) > i64::from(target.max) {
            return Err((
                Rule::AboveMax,
                format!("{what} {value} > max {}", target.max),
            ));
        }
        if value < floor {
            return Err((
                Rule::BelowBaseline,
                format!("{what} {value} < {floor}, the value before the night"),
            ));
        }
    }
    if !(0 <= to.min && to.min <= to.desired && to.desired <= to.max) {
        return Err((Rule::AboveMax, format!("the sizes would be invalid: {to}")));
    }
    Ok(())
}
