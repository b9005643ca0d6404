//! Serverless capacity for the night (DocumentDB, Aurora Serverless v2, Neptune Serverless):
//! `serverless_min` raises the cluster's ServerlessV2ScalingConfiguration MinCapacity at
//! scale-up; scale-down restores the recorded value. MaxCapacity is never changed.
//!
//! Refused (planned as nothing, with the reason recorded): a cluster without a serverless
//! configuration, a `serverless_min` above the live MaxCapacity (cannot be met), and a change
//! that the engine's own rule forbids ([`restart_rule`]): on DocumentDB one that crosses 1.0 DCU
//! in either direction (it would restart the cluster's instances); on Aurora one to or from
//! 0 ACUs (auto-pause: AWS applies Aurora's capacity changes at once without a restart, but
//! raising a MinCapacity of 0 turns auto-pause off and drops the cluster's
//! `SecondsUntilAutoPause`, which the restore could not send back). Neptune has no such rule. A
//! MinCapacity someone changed during the night is drift: recorded, left as it is.

use super::{ClusterState, ServerlessScaling};
use crate::config::{ClusterTarget, Dcu, Engine};
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
pub fn night_min(target: &ClusterTarget, live: &ClusterState) -> Option<NightMin> {
    let want = target.serverless_min?;
    let cluster = &target.cluster;
    let Some(scaling) = live.serverless else {
        return Some(NightMin::Refused(format!(
            "serverless_min refused for {cluster}: the cluster has no ServerlessV2ScalingConfiguration (it is not {} Serverless cluster); remove serverless_min or give the cluster a serverless configuration",
            crate::plan::article(target.engine.name())
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
    if let Some(rule) = restart_rule(target.engine, scaling.min, want) {
        return Some(NightMin::Refused(format!(
            "serverless_min refused for {cluster}: MinCapacity {} -> {want} {}",
            scaling.min,
            rule.refusal()
        )));
    }
    Some(NightMin::Raise {
        from: scaling.min,
        to: want,
        max: scaling.max,
    })
}

/// An engine rule that forbids a MinCapacity change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartRule {
    /// DocumentDB: crossing 1.0 DCU restarts the cluster's serverless instances.
    DocumentDbRestart,
    /// Aurora: to or from 0 ACUs turns auto-pause on or off; its interval would be lost.
    AuroraAutoPause,
}

impl RestartRule {
    /// Why the night's raise is refused, and what to do instead.
    fn refusal(self) -> &'static str {
        match self {
            RestartRule::DocumentDbRestart => "crosses 1.0 DCU, which would restart the cluster's instances; set serverless_min below 1, or the cluster's MinCapacity to 1 or more",
            RestartRule::AuroraAutoPause => "turns the cluster's auto-pause (MinCapacity 0) off, and the restore would turn it back on with AWS's default SecondsUntilAutoPause instead of the cluster's own (the RDS API nightshift calls cannot carry it); give the cluster a MinCapacity of 0.5 or more by day, or leave serverless_min out",
        }
    }

    /// The safety check's words.
    fn violation(self) -> &'static str {
        match self {
            RestartRule::DocumentDbRestart => "crosses 1.0 DCU (it would restart the instances)",
            RestartRule::AuroraAutoPause => {
                "turns Aurora's auto-pause on or off (its SecondsUntilAutoPause would be lost)"
            }
        }
    }
}

/// The rule of `engine` that forbids MinCapacity `from` -> `to`, if one does. Checked against
/// AWS's documentation: DocumentDB restarts serverless instances when MinCapacity crosses 1.0 DCU
/// (or MaxCapacity changes); Aurora Serverless v2 applies a capacity range change immediately,
/// without a restart, and a MinCapacity of 0 means auto-pause, whose `SecondsUntilAutoPause` a
/// nonzero MinCapacity removes; Neptune Serverless (1 to 128 NCUs) states no restart rule.
pub fn restart_rule(engine: Engine, from: Dcu, to: Dcu) -> Option<RestartRule> {
    let zero = Dcu::nearest(0.0);
    match engine {
        Engine::DocumentDb if from.crosses_restart_line(to) => Some(RestartRule::DocumentDbRestart),
        Engine::Aurora if from != to && (from == zero || to == zero) => {
            Some(RestartRule::AuroraAutoPause)
        }
        _ => None,
    }
}

/// The engine a live cluster runs (DocumentDB when AWS named none).
fn engine_of(live: &ClusterState) -> Engine {
    Engine::of(&live.engine).unwrap_or(Engine::DocumentDb)
}

/// The scale-up part for one cluster: the raise, or the note saying why not.
pub(crate) fn plan_up(target: &ClusterTarget, live: &ClusterState) -> Plan {
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
pub(crate) fn baseline(target: &ClusterTarget, live: &ClusterState) -> Option<ServerlessBaseline> {
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
    } else if base > now.max || restart_rule(engine_of(live), now.min, base).is_some() {
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
/// sent unchanged, MinCapacity not above it, and no change the engine's rule forbids.
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
    if let Some(rule) = restart_rule(engine_of(live), now.min, min) {
        return Err(format!(
            "MinCapacity {} -> {min} {}",
            now.min,
            rule.violation()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
