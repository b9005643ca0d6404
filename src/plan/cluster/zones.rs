//! Spreading the readers nightshift adds over the cluster's availability zones.
//!
//! A reader nightshift adds gets an explicit AvailabilityZone: the cluster's zone with the fewest
//! instances (writer included) at that moment, so the night's instances end up as evenly spread
//! as the zones allow. On a tie the writer's zone comes last (a zone outage then takes the writer
//! or readers, not both), then zones by name. Scale-down removes readers in the mirror order:
//! each removal from the zone with the most instances (the writer's zone first on a tie), so a
//! scale-down stopped half way still leaves an even spread.

use super::{ClusterState, InstanceState};
use std::collections::BTreeMap;

/// Live instances per zone; every zone of the cluster is present (with 0 when empty).
fn counts(live: &ClusterState) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = live.zones.iter().map(|z| (z.clone(), 0)).collect();
    for zone in live.live().filter_map(|i| i.zone.as_ref()) {
        *counts.entry(zone.clone()).or_insert(0) += 1;
    }
    counts
}

fn writer_zone(live: &ClusterState) -> Option<&str> {
    live.sole_writer().and_then(|w| w.zone.as_deref())
}

/// The cluster's zones in the order a new reader should go to them, given `counts`.
fn order(zones: &[String], counts: &BTreeMap<String, usize>, writer: Option<&str>) -> Vec<String> {
    let mut zones = zones.to_vec();
    zones.sort_by_key(|z| {
        (
            counts.get(z).copied().unwrap_or(0),
            Some(z.as_str()) == writer,
            z.clone(),
        )
    });
    zones
}

/// The cluster's zones, best first for the next reader (the fallback's order for "another zone").
pub fn preference(live: &ClusterState) -> Vec<String> {
    order(&live.zones, &counts(live), writer_zone(live))
}

/// The zones for `n` new readers, chosen one at a time: each goes to the zone that has the
/// fewest instances once the earlier ones are counted. None for each when the cluster lists no
/// zones (AWS then picks).
pub fn assign(live: &ClusterState, n: usize) -> Vec<Option<String>> {
    if live.zones.is_empty() {
        return vec![None; n];
    }
    let mut counts = counts(live);
    let writer = writer_zone(live);
    (0..n)
        .map(|_| {
            let zone = order(&live.zones, &counts, writer).into_iter().next();
            if let Some(z) = &zone {
                *counts.entry(z.clone()).or_insert(0) += 1;
            }
            zone
        })
        .collect()
}

/// `readers` (to be deleted, in the given order when the cluster lists no zones) in the order that keeps the remaining instances evenly spread:
/// a reader of unknown zone first, then each time one from the zone with the most instances
/// left (the writer's zone first on a tie, then the last by name), the highest identifier first.
pub fn removal_order<'a>(
    live: &ClusterState,
    readers: &[&'a InstanceState],
) -> Vec<&'a InstanceState> {
    if live.zones.is_empty() {
        return readers.to_vec();
    }
    let mut counts = counts(live);
    let writer = writer_zone(live);
    let mut left: Vec<&InstanceState> = readers.to_vec();
    let mut ordered = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let pick = left
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| {
                let zone = r.zone.as_deref();
                let count = zone.map_or(usize::MAX, |z| counts.get(z).copied().unwrap_or(0));
                (
                    count,
                    zone == writer,
                    zone.map(str::to_string),
                    r.id.clone(),
                )
            })
            .map_or(0, |(n, _)| n);
        let reader = left.remove(pick);
        if let Some(count) = reader.zone.as_ref().and_then(|z| counts.get_mut(z)) {
            *count = count.saturating_sub(1);
        }
        ordered.push(reader);
    }
    ordered
}

/// "us-east-1a 2, us-east-1b 2, us-east-1c 1": instances per zone, for notes and the demo.
pub fn spread(live: &ClusterState) -> String {
    counts(live)
        .iter()
        .map(|(z, n)| format!("{z} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
