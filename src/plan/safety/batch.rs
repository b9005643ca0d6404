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
