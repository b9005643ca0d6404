//! The safety rules of the ECS service kind: a service in the config, a desired count (and a
//! scalable target's MinCapacity) never above its `max`.

use super::{Rule, RuleResult, SafetyContext};
use crate::config::Scenario;
use crate::plan::Call;

pub(super) fn check(call: &Call, ctx: &SafetyContext<'_>) -> RuleResult {
    let scenario = ctx.scenario;
    match call {
        Call::RegisterScalableTarget {
            cluster,
            service,
            to,
            ..
        } => {
            let target = ecs_target(scenario, cluster, service)?;
            if i64::from(to.min) > i64::from(target.max) {
                return Err((
                    Rule::AboveMax,
                    format!("MinCapacity {} > max {}", to.min, target.max),
                ));
            }
            if to.min < 0 || to.max < to.min {
                return Err((Rule::AboveMax, format!("invalid capacity {to}")));
            }
            Ok(())
        }
        Call::UpdateService {
            cluster,
            service,
            desired,
            ..
        } => {
            let target = ecs_target(scenario, cluster, service)?;
            if i64::from(*desired) > i64::from(target.max) || *desired < 0 {
                return Err((
                    Rule::AboveMax,
                    format!("desired count {desired} outside 0..={}", target.max),
                ));
            }
            Ok(())
        }
        _ => super::other_kind(call),
    }
}

fn ecs_target<'a>(
    scenario: &'a Scenario,
    cluster: &str,
    service: &str,
) -> Result<&'a crate::config::EcsTarget, (Rule, String)> {
    scenario
        .ecs
        .iter()
        .find(|t| t.cluster == cluster && t.service == service)
        .ok_or_else(|| {
            (
                Rule::NotConfigured,
                format!(
                    "{cluster}/{service} is not a [[scenario.ecs]] of {}",
                    scenario.name
                ),
            )
        })
}
