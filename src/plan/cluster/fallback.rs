//! Capacity fallback: a reader whose CreateDBInstance is refused with
//! InsufficientDBInstanceCapacity is tried again, within the same step, with the next
//! candidate: the same class in another of the cluster's zones when the refusal named the zone,
//! else the next of `fallback_classes`. Each candidate is tried once per step; when none is
//! left, the reason names every class and zone tried.
//!
//! Pure: the convergence loop (`crate::app::converge`) records the refusals and asks
//! [`next_attempt`] for the call to make instead.

use super::zones;
use crate::config::Scenario;
use crate::plan::{Call, Snapshot};

/// The error code of a capacity refusal (with or without the SDK's `Fault` suffix).
pub fn is_capacity_refusal(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InsufficientDBInstanceCapacity" | "InsufficientDBInstanceCapacityFault")
    )
}

/// One refused (class, zone) of a cluster. `zone` None: the class was refused without naming a
/// zone, so it counts as refused in every zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityRefusal {
    pub cluster: String,
    pub class: String,
    pub zone: Option<String>,
}

impl CapacityRefusal {
    /// The refusal of `call` (a CreateDBInstance) whose error said `message`: zone-specific when
    /// the call asked for a zone and the message names it or speaks of "this availability zone"
    /// (RDS words it both ways); otherwise the class counts as refused in every zone.
    pub fn of(call: &Call, message: &str) -> Option<CapacityRefusal> {
        let Call::CreateDbInstance {
            cluster,
            class,
            zone,
            ..
        } = call
        else {
            return None;
        };
        Some(CapacityRefusal {
            cluster: cluster.clone(),
            class: class.clone(),
            zone: zone.clone().filter(|z| {
                let lower = message.to_ascii_lowercase();
                message.contains(z.as_str())
                    || lower.contains("this availability zone")
                    || lower.contains("in availability zone")
            }),
        })
    }

    fn covers(&self, cluster: &str, class: &str, zone: Option<&str>) -> bool {
        self.cluster == cluster
            && self.class == class
            && (self.zone.is_none() || self.zone.as_deref() == zone)
    }
}

/// Has this exact create (its class and zone) been refused already?
pub fn is_refused(call: &Call, refused: &[CapacityRefusal]) -> bool {
    match call {
        Call::CreateDbInstance {
            cluster,
            class,
            zone,
            ..
        } => refused
            .iter()
            .any(|r| r.covers(cluster, class, zone.as_deref())),
        _ => false,
    }
}

/// The candidates for a refused reader, in the order they are tried: its own class first, then
/// `fallback_classes`; its own class in its own zone first, then the cluster's other zones in
/// spread order; each fallback class in spread order.
fn candidates(
    scenario: &Scenario,
    snapshot: &Snapshot,
    call: &Call,
) -> Vec<(String, Option<String>)> {
    let Call::CreateDbInstance {
        cluster,
        class,
        zone,
        ..
    } = call
    else {
        return Vec::new();
    };
    let mut classes = vec![class.clone()];
    if let Some(target) = scenario.cluster(cluster) {
        for c in &target.fallback_classes {
            if !classes.contains(c) {
                classes.push(c.clone());
            }
        }
    }
    // The cluster's zones in spread order; the call's own zone first for its own class.
    let spread: Vec<Option<String>> = match (zone, snapshot.cluster(cluster)) {
        (Some(_), Some(live)) => zones::preference(live).into_iter().map(Some).collect(),
        _ => Vec::new(),
    };
    let mut own_zone_first = vec![zone.clone()];
    own_zone_first.extend(spread.iter().filter(|z| z != &zone).cloned());
    let others = if spread.is_empty() {
        vec![zone.clone()]
    } else {
        spread
    };
    classes
        .iter()
        .enumerate()
        .flat_map(|(n, c)| {
            let zones = if n == 0 { &own_zone_first } else { &others };
            zones.iter().map(move |z| (c.clone(), z.clone()))
        })
        .collect()
}

/// The create to make instead of `call` (refused, or known to be refused): the first candidate
/// not refused yet; None when every class and zone has been refused in this step.
pub fn next_attempt(
    scenario: &Scenario,
    snapshot: &Snapshot,
    call: &Call,
    refused: &[CapacityRefusal],
) -> Option<Call> {
    let Call::CreateDbInstance {
        cluster,
        engine,
        instance,
        promotion_tier,
        tags,
        ..
    } = call
    else {
        return None;
    };
    candidates(scenario, snapshot, call)
        .into_iter()
        .find(|(class, zone)| {
            !refused
                .iter()
                .any(|r| r.covers(cluster, class, zone.as_deref()))
        })
        .map(|(class, zone)| Call::CreateDbInstance {
            cluster: cluster.clone(),
            engine: engine.clone(),
            instance: instance.clone(),
            class,
            promotion_tier: *promotion_tier,
            tags: tags.clone(),
            zone,
        })
}

/// Every class and zone refused for this cluster in this step, for the reason:
/// "db.r6g.large in us-east-1a, us-east-1b; db.r6g.xlarge in every zone".
pub fn tried(cluster: &str, refused: &[CapacityRefusal]) -> String {
    let mut classes: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in refused.iter().filter(|r| r.cluster == cluster) {
        let zone = r.zone.as_deref().unwrap_or("every zone");
        match classes.iter_mut().find(|(c, _)| *c == r.class) {
            Some((_, zones)) => {
                if !zones.contains(&zone) {
                    zones.push(zone);
                }
            }
            None => classes.push((&r.class, vec![zone])),
        }
    }
    classes
        .iter()
        .map(|(c, zones)| format!("{c} in {}", zones.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
