//! The safety rules of the RDS-family cluster kind: never the writer (deleted or resized), never
//! an instance without this run's tags or one from the baseline, never more than 15 readers,
//! added readers tagged at tier 15 in one of the cluster's zones, failovers from the sole writer
//! to a live reader the plan keeps, and serverless MinCapacity within its rules.

use super::{Rule, RuleResult, SafetyContext};
use crate::config::{Engine, Scenario};
use crate::plan::{
    Call, InstanceState, ADDED_READER_PROMOTION_TIER, MAX_READERS, TAG_RUN, TAG_SCENARIO,
};
use std::collections::BTreeMap;

pub(super) fn check<'a>(
    call: &'a Call,
    plan: &[Call],
    ctx: &SafetyContext<'_>,
    readers: &mut BTreeMap<&'a str, usize>,
) -> RuleResult {
    let scenario = ctx.scenario;
    match call {
        Call::RegisterReplicaTarget { cluster, to, .. } => {
            let target = cluster_target(scenario, cluster)?;
            if target.engine != Engine::Aurora {
                return Err((
                    Rule::NotConfigured,
                    format!("{cluster} is not an [[scenario.aurora]] cluster: only Aurora's replica target is raised"),
                ));
            }
            // MinCapacity is a reader count: never more readers than a cluster may have.
            if to.min > MAX_READERS as i32 {
                return Err((
                    Rule::AboveMax,
                    format!("MinCapacity {} is above {MAX_READERS} readers", to.min),
                ));
            }
            if to.min < 0 || to.max < to.min {
                return Err((Rule::AboveMax, format!("invalid capacity {to}")));
            }
            Ok(())
        }
        Call::CreateDbInstance {
            cluster,
            instance,
            promotion_tier,
            tags,
            zone,
            ..
        } => {
            cluster_target(scenario, cluster)?;
            let live = ctx.snapshot.cluster(cluster).ok_or_else(|| {
                (
                    Rule::NotConfigured,
                    format!("cluster {cluster} is not in the snapshot"),
                )
            })?;
            if tags.get(TAG_SCENARIO) != Some(&scenario.name)
                || tags.get(TAG_RUN).map(String::as_str) != Some(ctx.run)
            {
                return Err((
                    Rule::UntaggedReader,
                    format!("{instance} must carry {TAG_SCENARIO}={} and {TAG_RUN}={}, or nightshift could never remove it", scenario.name, ctx.run),
                ));
            }
            if *promotion_tier != ADDED_READER_PROMOTION_TIER {
                return Err((
                    Rule::UntaggedReader,
                    format!("promotion tier {promotion_tier}: added readers use {ADDED_READER_PROMOTION_TIER} so failover prefers the cluster's own instances"),
                ));
            }
            if let Some(zone) = zone {
                if !live.zones.is_empty() && !live.zones.contains(zone) {
                    return Err((
                        Rule::NotConfigured,
                        format!(
                            "{zone} is not one of {cluster}'s zones ({})",
                            live.zones.join(", ")
                        ),
                    ));
                }
            }
            if live.instance(instance).is_some() {
                // Re-issuing it is harmless (DBInstanceAlreadyExists) and adds no reader.
                return Ok(());
            }
            let count = readers
                .entry(cluster.as_str())
                .or_insert_with(|| live.readers().count());
            if *count >= MAX_READERS {
                return Err((
                    Rule::TooManyReaders,
                    format!("{cluster} would have {} readers", *count + 1),
                ));
            }
            *count += 1;
            Ok(())
        }
        Call::ModifyDbInstanceClass {
            cluster, instance, ..
        } => {
            let i = live_instance(ctx, cluster, instance)?;
            if i.writer {
                return Err((
                    Rule::WriterTouched,
                    format!(
                        "{instance} is the writer: fail over first, then resize it as a reader"
                    ),
                ));
            }
            Ok(())
        }
        Call::FailoverDbCluster {
            cluster,
            target,
            from,
        } => {
            cluster_target(scenario, cluster)?;
            let live = ctx.snapshot.cluster(cluster).ok_or_else(|| {
                (
                    Rule::BadFailover,
                    format!("cluster {cluster} is not in the snapshot"),
                )
            })?;
            match live.sole_writer() {
                Some(w) if &w.id == from => {}
                _ => {
                    return Err((
                        Rule::BadFailover,
                        format!("{from} is not the sole writer of {cluster}"),
                    ))
                }
            }
            let t =
                live_instance(ctx, cluster, target).map_err(|(_, why)| (Rule::BadFailover, why))?;
            if t.writer {
                return Err((Rule::BadFailover, format!("{target} is already the writer")));
            }
            let deleted_too = plan.iter().any(
                |c| matches!(c, Call::DeleteDbInstance { instance, .. } if instance == target),
            );
            if deleted_too {
                return Err((
                    Rule::BadFailover,
                    format!("{target} is also being deleted by this plan"),
                ));
            }
            Ok(())
        }
        Call::DeleteDbInstance { cluster, instance } => {
            let i = live_instance(ctx, cluster, instance)?;
            if i.writer {
                return Err((
                    Rule::WriterTouched,
                    format!("{instance} is the writer: it is never deleted while it is"),
                ));
            }
            let Some(baseline) = ctx.baseline else {
                return Err((
                    Rule::NotNightshifts,
                    format!("run {} has no baseline: it never scaled up, so nothing of it may be deleted", ctx.run),
                ));
            };
            if baseline.has_instance(cluster, instance) {
                return Err((
                    Rule::NotNightshifts,
                    format!("{instance} existed before the night (it is in the baseline)"),
                ));
            }
            if !i.is_tagged_for_run(&scenario.name, ctx.run) {
                return Err((
                    Rule::NotNightshifts,
                    format!(
                        "{instance} lacks {TAG_SCENARIO}={} and {TAG_RUN}={}",
                        scenario.name, ctx.run
                    ),
                ));
            }
            Ok(())
        }
        Call::ModifyDbClusterCapacity {
            cluster, min, max, ..
        } => {
            let target = cluster_target(scenario, cluster)?;
            if target.serverless_min.is_none() {
                return Err((
                    Rule::NotConfigured,
                    format!("{cluster} has no serverless_min in the config"),
                ));
            }
            let live = ctx.snapshot.cluster(cluster).ok_or_else(|| {
                (
                    Rule::NotConfigured,
                    format!("cluster {cluster} is not in the snapshot"),
                )
            })?;
            crate::plan::serverless::check_call(live, *min, *max)
                .map_err(|why| (Rule::ServerlessCapacity, why))
        }
        _ => super::other_kind(call),
    }
}

fn cluster_target<'a>(
    scenario: &'a Scenario,
    cluster: &str,
) -> Result<&'a crate::config::ClusterTarget, (Rule, String)> {
    scenario
        .cluster(cluster)
        .ok_or_else(|| {
            (
                Rule::NotConfigured,
                format!(
                    "{cluster} is not a [[scenario.docdb]], [[scenario.aurora]] or [[scenario.neptune]] cluster of {}",
                    scenario.name
                ),
            )
        })
}

/// A configured cluster's live (not deleting) instance.
fn live_instance<'a>(
    ctx: &SafetyContext<'a>,
    cluster: &str,
    instance: &str,
) -> Result<&'a InstanceState, (Rule, String)> {
    cluster_target(ctx.scenario, cluster)?;
    ctx.snapshot
        .cluster(cluster)
        .and_then(|c| c.instance(instance))
        .filter(|i| !i.is_gone())
        .ok_or_else(|| {
            (
                Rule::NotConfigured,
                format!("{instance} is not a live instance of {cluster}"),
            )
        })
}
