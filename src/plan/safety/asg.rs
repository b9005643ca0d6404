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

#[cfg(test)]
mod tests {
    use super::super::{vet_one, SafetyContext, Verdict};
    use crate::plan::fixtures::*;
    use crate::plan::*;
    use proptest::prelude::*;

    fn allowed(call: &Call, ctx: &SafetyContext<'_>) -> bool {
        matches!(vet_one(call, ctx), Verdict::Allowed(_))
    }

    fn size() -> impl Strategy<Value = GroupSize> {
        (0i32..30, 0i32..30, 0i32..30).prop_map(|(a, b, c)| {
            let mut v = [a, b, c];
            v.sort_unstable();
            GroupSize {
                min: v[0],
                desired: v[1],
                max: v[2],
            }
        })
    }

    proptest! {
        /// Whatever the day, the night and the call: an allowed UpdateAutoScalingGroup is for a
        /// configured group, sets no size above `max`, none below the baseline (the live value
        /// at scale-up), and leaves MinSize <= DesiredCapacity <= MaxSize; the planners' own
        /// calls are always allowed.
        #[test]
        fn never_above_a_cap_never_below_the_baseline_never_unconfigured(
            min in 1u32..20,
            extra in 0u32..10,
            day in size(),
            night in size(),
            (call_min, call_max, call_desired) in (
                proptest::option::of(-2i32..40),
                proptest::option::of(-2i32..40),
                proptest::option::of(-2i32..40),
            ),
            other_name in prop::bool::ANY,
        ) {
            let max = min + extra;
            let s = scenario_with_workers(8, None, min, max);
            let g = |size: GroupSize| GroupState { size, ..group(0, 0, 0, 0) };
            let day_snap = snapshot_with_workers(environment(8, 256, 8), g(day));
            let up = plan_scale_up(&s, &day_snap, RUN).unwrap();
            let ctx = SafetyContext { scenario: &s, run: RUN, snapshot: &day_snap, baseline: None };
            for call in &up.calls {
                prop_assert!(allowed(call, &ctx), "{call}");
            }
            let b = capture_baseline(&s, &day_snap, ts()).unwrap();
            let night_snap = snapshot_with_workers(environment(8, 256, 8), g(night));
            let down = plan_scale_down(&s, &b, &night_snap, RUN);
            let ctx = SafetyContext { scenario: &s, run: RUN, snapshot: &night_snap, baseline: Some(&b) };
            for call in &down.calls {
                prop_assert!(allowed(call, &ctx), "{call} from {night} (baseline {day})");
            }
            let call = Call::UpdateAutoScalingGroup {
                group: if other_name { "elsewhere".into() } else { "workers".into() },
                min: call_min,
                max: call_max,
                desired: call_desired,
                from: night,
            };
            if allowed(&call, &ctx) {
                prop_assert!(!other_name);
                for (value, floor) in [(call_min, day.min), (call_desired, day.desired), (call_max, day.max)] {
                    if let Some(v) = value {
                        prop_assert!(i64::from(v) <= i64::from(max) && v >= floor);
                    }
                }
                let (lo, mid, hi) = (
                    call_min.unwrap_or(night.min),
                    call_desired.unwrap_or(night.desired),
                    call_max.unwrap_or(night.max),
                );
                prop_assert!(0 <= lo && lo <= mid && mid <= hi);
            }
        }
    }
}
