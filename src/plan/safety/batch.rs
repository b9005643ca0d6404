//! The safety rules of the Batch compute environment kind: an environment in the config, a
//! `minvCpus` never above `max_vcpus` or the environment's own `maxvCpus` and never below the
//! baseline (at scale-up, never below the live value), a `desiredvCpus` only ever raised.

use super::{Rule, RuleResult, SafetyContext};
use crate::plan::Call;

pub(super) fn check(call: &Call, ctx: &SafetyContext<'_>) -> RuleResult {
    let Call::UpdateComputeEnvironment {
        environment,
        min,
        desired,
        ..
    } = call
    else {
        return super::other_kind(call);
    };
    let scenario = ctx.scenario;
    let name = crate::config::batch_environment_name(environment);
    let Some(target) = scenario.batch.iter().find(|t| t.matches(environment)) else {
        return Err((
            Rule::NotConfigured,
            format!("{name} is not a [[scenario.batch]] of {}", scenario.name),
        ));
    };
    let live = ctx.snapshot.environment(target.name()).ok_or_else(|| {
        (
            Rule::NotConfigured,
            format!("{name} is not in the snapshot the call was planned from"),
        )
    })?;
    let cap = |value: i32, what: &str| -> RuleResult {
        if let Some(max) = target.max_vcpus {
            if i64::from(value) > i64::from(max) {
                return Err((Rule::AboveMax, format!("{what} {value} > max_vcpus {max}")));
            }
        }
        if value > live.max {
            return Err((
                Rule::AboveMax,
                format!("{what} {value} > the environment's maxvCpus {}", live.max),
            ));
        }
        if value < 0 {
            return Err((Rule::AboveMax, format!("{what} {value} is negative")));
        }
        Ok(())
    };
    cap(*min, "minvCpus")?;
    // Never below the day's value: the run's baseline, or at scale-up (no baseline) the live one.
    let floor = match ctx.baseline {
        Some(b) => b
            .environments
            .iter()
            .find(|e| target.matches(&e.compute_environment))
            .map_or(live.min, |e| e.min),
        None => live.min,
    };
    if *min < floor {
        return Err((
            Rule::BelowBaseline,
            format!("minvCpus {min} < {floor}, the value before the night"),
        ));
    }
    if let Some(desired) = desired {
        cap(*desired, "desiredvCpus")?;
        if live.desired.is_some_and(|d| *desired < d) || desired < min {
            return Err((
                Rule::BelowBaseline,
                format!(
                    "desiredvCpus {desired} is below the live {} or the minvCpus {min}: AWS only ever raises it",
                    live.desired.map_or_else(|| "?".to_string(), |d| d.to_string())
                ),
            ));
        }
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

    proptest! {
        /// Whatever the day, the night and the call: an allowed UpdateComputeEnvironment is
        /// for a configured environment, never above max_vcpus or the environment's maxvCpus,
        /// never below the baseline (the live value at scale-up), never a lower desiredvCpus;
        /// and the planners' own calls are always allowed.
        #[test]
        fn never_above_a_cap_never_below_the_baseline_never_unconfigured(
            min_vcpus in 1u32..300,
            guard in proptest::option::of(0u32..300),
            (day_min, day_max, day_desired) in (0i32..200, 0i32..300, 0i32..300),
            (night_min, night_desired) in (0i32..300, 0i32..300),
            (call_min, call_desired) in (-5i32..400, proptest::option::of(-5i32..400)),
            other_name in prop::bool::ANY,
        ) {
            let guard = guard.map(|g| g.max(min_vcpus));
            let s = scenario_with_workers(min_vcpus, guard, 1, 10);
            let day = snapshot_with_workers(
                environment(day_min, day_max.max(day_min), day_desired.max(day_min)),
                group(1, 1, 10, 1),
            );
            let up = plan_scale_up(&s, &day, RUN).unwrap();
            let ctx = SafetyContext { scenario: &s, run: RUN, snapshot: &day, baseline: None };
            for call in &up.calls {
                prop_assert!(allowed(call, &ctx), "{call}");
            }
            let b = capture_baseline(&s, &day, ts()).unwrap();
            let live = environment(night_min, day_max.max(day_min), night_desired);
            let night = snapshot_with_workers(live.clone(), group(1, 1, 10, 1));
            let down = plan_scale_down(&s, &b, &night, RUN);
            let ctx = SafetyContext { scenario: &s, run: RUN, snapshot: &night, baseline: Some(&b) };
            for call in &down.calls {
                prop_assert!(allowed(call, &ctx), "{call}");
            }
            // Any call at all: allowed only within the rules.
            let call = Call::UpdateComputeEnvironment {
                environment: if other_name { "elsewhere".into() } else { "ce".into() },
                min: call_min,
                from: live.min,
                desired: call_desired,
                desired_from: live.desired,
            };
            if allowed(&call, &ctx) {
                prop_assert!(!other_name);
                prop_assert!(call_min <= live.max && guard.is_none_or(|g| i64::from(call_min) <= i64::from(g)));
                prop_assert!(call_min >= b.environments[0].min);
                if let Some(d) = call_desired {
                    prop_assert!(d <= live.max && d >= live.desired.unwrap_or(0) && d >= call_min);
                    prop_assert!(guard.is_none_or(|g| i64::from(d) <= i64::from(g)));
                }
            }
        }
    }
}
