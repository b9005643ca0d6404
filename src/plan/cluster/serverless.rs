//! DocumentDB Serverless capacity for the night: `serverless_min` raises the cluster's
//! ServerlessV2ScalingConfiguration MinCapacity at scale-up; scale-down restores the recorded
//! value. MaxCapacity is never changed.
//!
//! Refused (planned as nothing, with the reason recorded): a cluster without a serverless
//! configuration, a `serverless_min` above the live MaxCapacity (cannot be met), and a change
//! that crosses 1.0 DCU in either direction (it would restart the cluster's instances). A
//! MinCapacity someone changed during the night is drift: recorded, left as it is.

use super::{ClusterState, ServerlessScaling};
use crate::config::{Dcu, DocDbTarget};
use crate::plan::{Call, Plan};
use serde::{Deserialize, Serialize};

/// The class of every reader nightshift adds to a serverless cluster.
pub const SERVERLESS_CLASS: &str = "db.serverless";

/// What the night does to a serverless cluster's MinCapacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NightMin {
    /// Raise MinCapacity `from` -> `to` (MaxCapacity `max` unchanged).
    Raise { from: Dcu, to: Dcu, max: Dcu },
    /// Already at or above the night's value: left as it is (scale-up never lowers it).
    Keep(String),
    /// Not done, and why.
    Refused(String),
}

/// The night's MinCapacity decision for `target` on `live`; None without `serverless_min`.
pub fn night_min(target: &DocDbTarget, live: &ClusterState) -> Option<NightMin> {
    let want = target.serverless_min?;
    let cluster = &target.cluster;
    let Some(scaling) = live.serverless else {
        return Some(NightMin::Refused(format!(
            "serverless_min refused for {cluster}: the cluster has no ServerlessV2ScalingConfiguration (it is not a DocumentDB Serverless cluster); remove serverless_min or give the cluster a serverless configuration"
        )));
    };
    if want <= scaling.min {
        return Some(NightMin::Keep(format!(
            "{cluster}: MinCapacity {} is already at or above serverless_min {want}: left as is",
            scaling.min
        )));
    }
    if want > scaling.max {
        return Some(NightMin::Refused(format!(
            "serverless_min refused for {cluster}: {want} DCUs is above the cluster's MaxCapacity {} and cannot be met (nightshift never changes MaxCapacity); lower serverless_min or raise MaxCapacity",
            scaling.max
        )));
    }
    if scaling.min.crosses_restart_line(want) {
        return Some(NightMin::Refused(format!(
            "serverless_min refused for {cluster}: MinCapacity {} -> {want} crosses 1.0 DCU, which would restart the cluster's instances; set serverless_min below 1, or the cluster's MinCapacity to 1 or more",
            scaling.min
        )));
    }
    Some(NightMin::Raise {
        from: scaling.min,
        to: want,
        max: scaling.max,
    })
}

/// The scale-up part for one cluster: the raise, or the note saying why not.
pub(crate) fn plan_up(target: &DocDbTarget, live: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    match night_min(target, live) {
        None => {}
        Some(NightMin::Raise { from, to, max }) => plan.calls.push(Call::ModifyDbClusterCapacity {
            cluster: target.cluster.clone(),
            min: to,
            from,
            max,
        }),
        Some(NightMin::Keep(note) | NightMin::Refused(note)) => plan.notes.push(note),
    }
    plan
}

/// What the baseline records of a serverless cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerlessBaseline {
    /// The ServerlessV2ScalingConfiguration before the night.
    pub before: ServerlessScaling,
    /// The MinCapacity nightshift sets for the night (= `before.min` when it sets none).
    pub night_min: Dcu,
}

/// The baseline of `live` for `target` (None without `serverless_min` or a serverless
/// configuration).
pub(crate) fn baseline(target: &DocDbTarget, live: &ClusterState) -> Option<ServerlessBaseline> {
    let before = live.serverless?;
    target.serverless_min?;
    let night_min = match night_min(target, live) {
        Some(NightMin::Raise { to, .. }) => to,
        _ => before.min,
    };
    Some(ServerlessBaseline { before, night_min })
}

/// The scale-down part: MinCapacity back to the recorded value while it still holds what
/// nightshift set; anything else is drift.
pub(crate) fn plan_down(cluster: &str, b: &ServerlessBaseline, live: &ClusterState) -> Plan {
    let mut plan = Plan::default();
    let base = b.before.min;
    if b.night_min == base {
        return plan;
    }
    let Some(now) = live.serverless else {
        plan.drift.push(format!(
            "{cluster}: its ServerlessV2ScalingConfiguration (MinCapacity {base} before the night) is gone: left as it is"
        ));
        return plan;
    };
    if now.min == base {
        plan.notes
            .push(format!("{cluster}: MinCapacity already back at {base}"));
    } else if now.min != b.night_min {
        plan.drift.push(format!(
            "{cluster}: MinCapacity is {} but nightshift set {}: changed during the night, left as it is (baseline {base})",
            now.min, b.night_min
        ));
    } else if base > now.max || now.min.crosses_restart_line(base) {
        plan.drift.push(format!(
            "{cluster}: MinCapacity {base} of the baseline cannot be restored under the live MaxCapacity {} without a restart: left at {}",
            now.max, now.min
        ));
    } else {
        plan.calls.push(Call::ModifyDbClusterCapacity {
            cluster: cluster.to_string(),
            min: base,
            from: now.min,
            max: now.max,
        });
    }
    plan
}

/// The safety check's rules for a ModifyDBCluster of `live`: a serverless cluster, MaxCapacity
/// sent unchanged, MinCapacity not above it and not across 1.0 DCU from the live value.
pub(crate) fn check_call(live: &ClusterState, min: Dcu, max: Dcu) -> Result<(), String> {
    let Some(now) = live.serverless else {
        return Err(format!(
            "{} has no ServerlessV2ScalingConfiguration",
            live.cluster
        ));
    };
    if max != now.max {
        return Err(format!(
            "MaxCapacity {} -> {max}: nightshift never changes MaxCapacity",
            now.max
        ));
    }
    if min > max {
        return Err(format!("MinCapacity {min} is above MaxCapacity {max}"));
    }
    if now.min.crosses_restart_line(min) {
        return Err(format!(
            "MinCapacity {} -> {min} crosses 1.0 DCU (it would restart the instances)",
            now.min
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
