//! Scale-down planning: back to the recorded baseline, touching only what nightshift changed.
//!
//! - ECS: a value is restored only while it still holds what nightshift set for the night;
//!   anything else was changed by someone during the night and is recorded as drift, not
//!   clobbered. The scalable target is restored before the desired count.
//! - DocumentDB: the readers nightshift created for this run (tagged with the scenario *and* the
//!   run, and absent from the baseline) are deleted; resized classes are reverted readers first,
//!   then the writer role fails back to a reverted instance (the baseline writer when possible),
//!   then the old writer is reverted or deleted as a reader. The writer is never deleted or
//!   resized while it is the writer; an unplanned failover during the night is left as it is
//!   unless the new writer is an instance nightshift must delete or revert.

use super::baseline::{Baseline, ClusterBaseline, InstanceBaseline, ServiceBaseline};
use super::up::failover_target;
use super::{Call, ClusterState, InstanceState, Plan, ServiceState, Snapshot};
use crate::config::Scenario;

/// The calls that restore the baseline, given the live state. A resource the config no longer
/// names is left alone (noted): nightshift never touches what is not configured.
pub fn plan_scale_down(
    scenario: &Scenario,
    baseline: &Baseline,
    snapshot: &Snapshot,
    run: &str,
) -> Plan {
    let mut plan = Plan::default();
    for b in &baseline.services {
        let name = format!("{}/{}", b.cluster, b.service);
        let configured = scenario
            .ecs
            .iter()
            .any(|t| t.cluster == b.cluster && t.service == b.service);
        if !configured {
            plan.notes
                .push(format!("{name} is no longer in the config: left as it is"));
            continue;
        }
        match snapshot.service(&b.cluster, &b.service) {
            Some(live) if live.is_active() => plan.merge(restore_service(b, live)),
            _ => plan
                .notes
                .push(format!("{name} no longer exists: nothing to restore")),
        }
    }
    for b in &baseline.clusters {
        if !scenario.docdb.iter().any(|t| t.cluster == b.cluster) {
            plan.notes.push(format!(
                "DocumentDB cluster {} is no longer in the config: left as it is",
                b.cluster
            ));
            continue;
        }
        match snapshot.cluster(&b.cluster) {
            Some(live) => {
                plan.merge(restore_cluster(&scenario.name, b, live, run));
                if let Some(serverless) = &b.serverless {
                    plan.merge(super::serverless::plan_down(&b.cluster, serverless, live));
                }
            }
            None => plan.notes.push(format!(
                "DocumentDB cluster {} no longer exists: nothing to restore",
                b.cluster
            )),
        }
    }
    plan
}

fn restore_service(b: &ServiceBaseline, live: &ServiceState) -> Plan {
    let mut plan = Plan::default();
    let name = format!("{}/{}", b.cluster, b.service);
    match (b.scalable_target, b.night_target, live.scalable_target) {
        (Some(base), night, Some(current)) if current != base => {
            if Some(current) == night {
                plan.calls.push(Call::RegisterScalableTarget {
                    cluster: b.cluster.clone(),
                    service: b.service.clone(),
                    to: base,
                    from: current,
                });
            } else {
                plan.drift.push(format!(
                    "{name}: scalable target is {current}, not the {} nightshift set: changed during the night, left as it is (baseline {base})",
                    night.map_or_else(|| "value".to_string(), |n| n.to_string())
                ));
            }
        }
        (Some(base), _, None) => plan.drift.push(format!(
            "{name}: its scalable target ({base} before the night) was deregistered during the night: left as it is"
        )),
        (None, _, Some(current)) => plan.notes.push(format!(
            "{name}: a scalable target ({current}) was registered during the night, not by nightshift: left as it is"
        )),
        _ => {}
    }
    if live.desired == b.desired {
        if b.night_desired != b.desired {
            plan.notes.push(format!(
                "{name}: already back at desired count {}",
                b.desired
            ));
        }
    } else if live.desired == b.night_desired {
        plan.calls.push(Call::UpdateService {
            cluster: b.cluster.clone(),
            service: b.service.clone(),
            desired: b.desired,
            from: live.desired,
        });
    } else {
        plan.drift.push(format!(
            "{name}: desired count is {} but nightshift set {}: changed during the night (by a person, a deployment or autoscaling), left as it is (baseline {})",
            live.desired, b.night_desired, b.desired
        ));
    }
    plan
}

/// Where a baseline instance's class stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassState {
    /// At its baseline class.
    Baseline,
    /// A change back to the baseline class is pending.
    Reverting,
    /// Has the night class nightshift gave it: revert.
    Night,
    /// Some other class, set by someone else: drift, left alone.
    Other,
}

fn class_state(live: &InstanceState, base: &InstanceBaseline, night: Option<&str>) -> ClassState {
    if live.class == base.class && live.pending_class.is_none() {
        ClassState::Baseline
    } else if live.effective_class() == base.class {
        ClassState::Reverting
    } else if Some(live.effective_class()) == night {
        ClassState::Night
    } else {
        ClassState::Other
    }
}

fn restore_cluster(scenario: &str, b: &ClusterBaseline, live: &ClusterState, run: &str) -> Plan {
    let mut plan = Plan::default();
    let cluster = &b.cluster;
    let Some(writer) = live.sole_writer() else {
        plan.waiting.push(format!(
            "DocumentDB cluster {cluster} has {} writers right now (failover in progress?): its restore waits for exactly one",
            live.writer_count()
        ));
        return plan;
    };
    let night = b.night_class.as_deref();
    let ours =
        |i: &InstanceState| i.is_tagged_for_run(scenario, run) && b.instance(&i.id).is_none();

    // Readers first: revert the baseline instances nightshift resized.
    let mut readers_settled = true;
    for reader in live.readers() {
        let Some(base) = b.instance(&reader.id) else {
            continue;
        };
        match class_state(reader, base, night) {
            ClassState::Baseline => {}
            ClassState::Reverting => {
                readers_settled = false;
                plan.waiting.push(format!(
                    "reader {} is {} on its way back to {}",
                    reader.id, reader.status, base.class
                ));
            }
            ClassState::Night if reader.is_available() => {
                readers_settled = false;
                plan.calls.push(Call::ModifyDbInstanceClass {
                    cluster: cluster.clone(),
                    instance: reader.id.clone(),
                    class: base.class.clone(),
                    from: reader.class.clone(),
                });
            }
            ClassState::Night => {
                readers_settled = false;
                plan.waiting.push(format!(
                    "reader {} is {}: its revert to {} waits",
                    reader.id, reader.status, base.class
                ));
            }
            ClassState::Other => plan.drift.push(format!(
                "{}: class {} is neither its baseline {} nor the night's: changed during the night, left as it is",
                reader.id,
                reader.effective_class(),
                base.class
            )),
        }
    }

    // Does the writer role have to move before nightshift may finish?
    let writer_ours = ours(writer);
    let writer_class = b
        .instance(&writer.id)
        .map(|base| (base, class_state(writer, base, night)));
    let writer_needs_move = writer_ours || matches!(writer_class, Some((_, ClassState::Night)));
    match writer_class {
        Some((base, ClassState::Other)) => plan.drift.push(format!(
            "writer {}: class {} is neither its baseline {} nor the night's: changed during the night, left as it is",
            writer.id,
            writer.effective_class(),
            base.class
        )),
        Some((base, ClassState::Reverting)) => plan.waiting.push(format!(
            "writer {} has a pending change back to {}",
            writer.id, base.class
        )),
        _ => {}
    }
    if !writer_needs_move && b.writer.as_deref() != Some(writer.id.as_str()) {
        plan.drift.push(format!(
            "writer is {} (it was {} before the night): a failover happened during the night; left as it is",
            writer.id,
            b.writer.as_deref().unwrap_or("unknown")
        ));
    }

    // When the writer must give up its role and no instance of the baseline is a reader to take
    // it, one of the night's readers is kept to bridge: fail over to it, revert the old writer,
    // fail back, then delete the bridge.
    let our_readers: Vec<&InstanceState> = live.readers().filter(|r| ours(r)).collect();
    let baseline_readers: Vec<&InstanceState> = live
        .readers()
        .filter(|r| b.instance(&r.id).is_some())
        .collect();
    let bridge = if writer_needs_move && !writer_ours && baseline_readers.is_empty() {
        failover_target(&our_readers, |_| true)
            .or_else(|| our_readers.iter().copied().min_by_key(|r| r.id.clone()))
    } else {
        None
    };

    let mut failover_to = None;
    if writer_needs_move {
        let candidates: Vec<&InstanceState> = baseline_readers
            .iter()
            .copied()
            .filter(|r| {
                b.instance(&r.id)
                    .is_some_and(|base| class_state(r, base, night) == ClassState::Baseline)
            })
            .collect();
        let preferred = candidates
            .iter()
            .copied()
            .find(|r| r.is_available() && b.writer.as_deref() == Some(r.id.as_str()))
            .or_else(|| failover_target(&candidates, |_| true))
            .or(bridge.filter(|r| r.is_available()));
        if !readers_settled {
            plan.waiting.push(format!(
                "writer {} moves after the readers are back at their classes",
                writer.id
            ));
        } else if !live.is_available() {
            plan.waiting.push(format!(
                "cluster {cluster} is {}: the failover waits",
                live.status
            ));
        } else if let Some(target) = preferred {
            failover_to = Some(target.id.clone());
            plan.calls.push(Call::FailoverDbCluster {
                cluster: cluster.clone(),
                target: target.id.clone(),
                from: writer.id.clone(),
            });
            plan.waiting.push(format!(
                "after the failover to {}, {} is {} as a reader",
                target.id,
                writer.id,
                if writer_ours { "deleted" } else { "reverted" }
            ));
        } else if writer_ours && bridge.is_none() && baseline_readers.is_empty() {
            plan.notes.push(format!(
                "{} (created by nightshift) is the writer and no instance of the baseline is left to take over: it is kept; delete it by hand once another instance is the writer",
                writer.id
            ));
        } else {
            plan.waiting.push(format!(
                "writer {} moves once a reverted reader is available",
                writer.id
            ));
        }
    }

    // Delete the night's readers (never the writer, never the bridge or the failover target).
    // In the order that keeps the remaining instances evenly spread over the zones.
    for reader in super::zones::removal_order(live, &our_readers) {
        if bridge.is_some_and(|br| br.id == reader.id) && writer_needs_move {
            plan.notes.push(format!(
                "{} is kept until the writer role has moved back",
                reader.id
            ));
            continue;
        }
        if failover_to.as_deref() == Some(reader.id.as_str()) {
            continue;
        }
        if reader.is_busy() {
            plan.waiting.push(format!(
                "{} is {}: it is deleted once that finishes",
                reader.id, reader.status
            ));
            continue;
        }
        plan.calls.push(Call::DeleteDbInstance {
            cluster: cluster.clone(),
            instance: reader.id.clone(),
        });
    }

    // Instances that are not nightshift's to remove, said once.
    for i in live.live() {
        if b.instance(&i.id).is_some() || ours(i) {
            continue;
        }
        if i.is_tagged_for(scenario) {
            plan.notes.push(format!(
                "{} was created by another run of {scenario} ({}): left as it is",
                i.id,
                i.tags
                    .get(super::TAG_RUN)
                    .map_or("unknown run", String::as_str)
            ));
        } else {
            plan.notes.push(format!(
                "{} is not nightshift's (no {} tag for this run): left as it is",
                i.id,
                super::TAG_SCENARIO
            ));
        }
    }
    for base in &b.instances {
        if live.instance(&base.id).is_none_or(InstanceState::is_gone) {
            plan.notes
                .push(format!("{} (in the baseline) no longer exists", base.id));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;

    const BIG: &str = "db.r6g.2xlarge";
    const SMALL: &str = "db.r6g.large";

    fn baseline_for(s: &Scenario, snap: &Snapshot) -> Baseline {
        capture_baseline(s, snap, ts()).unwrap()
    }

    fn deletes(plan: &Plan) -> Vec<String> {
        plan.calls
            .iter()
            .filter_map(|c| match c {
                Call::DeleteDbInstance { instance, .. } => Some(instance.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn restores_what_nightshift_set_scalable_target_first() {
        let s = scenario(10, 20, 2, None);
        let before = snapshot_with(2, Some(Capacity { min: 1, max: 4 }), &[]);
        let b = baseline_for(&s, &before);
        let night = snapshot_with(
            10,
            Some(Capacity { min: 10, max: 10 }),
            &[
                managed(&reader_id(1), false, SMALL, RUN),
                managed(&reader_id(2), false, SMALL, RUN),
            ],
        );
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(
            plan.calls[..2],
            [
                Call::RegisterScalableTarget {
                    cluster: "batch".into(),
                    service: "worker".into(),
                    to: Capacity { min: 1, max: 4 },
                    from: Capacity { min: 10, max: 10 }
                },
                Call::UpdateService {
                    cluster: "batch".into(),
                    service: "worker".into(),
                    desired: 2,
                    from: 10
                }
            ]
        );
        assert_eq!(deletes(&plan), [reader_id(1), reader_id(2)]);
        assert!(plan.waiting.is_empty() && plan.drift.is_empty(), "{plan:?}");
        // Once back at baseline: done.
        let plan = plan_scale_down(&s, &b, &before, RUN);
        assert!(plan.is_done(), "{plan:?}");
    }

    #[test]
    fn drifted_values_are_recorded_and_left_alone() {
        let s = scenario(10, 20, 0, None);
        let b = baseline_for(
            &s,
            &snapshot_with(2, Some(Capacity { min: 1, max: 4 }), &[]),
        );
        let night = snapshot_with(7, Some(Capacity { min: 3, max: 30 }), &[]);
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert!(plan.calls.is_empty(), "{:?}", plan.calls);
        assert_eq!(plan.drift.len(), 2, "{:?}", plan.drift);
        assert!(plan.drift[1].contains("desired count is 7 but nightshift set 10"));
        assert!(plan.is_done());
    }

    #[test]
    fn a_run_that_changed_nothing_restores_nothing() {
        // Baseline already at or above the night's values: scale-up made no change.
        let s = scenario(10, 20, 1, None);
        let snap = snapshot_with(12, None, &[instance("own-1", false, SMALL)]);
        let b = baseline_for(&s, &snap);
        let plan = plan_scale_down(&s, &b, &snap, RUN);
        assert!(plan.calls.is_empty() && plan.is_done(), "{plan:?}");
    }

    #[test]
    fn unmanaged_and_other_runs_readers_are_never_deleted() {
        let s = scenario(10, 20, 3, None);
        let own = instance("own-1", false, SMALL);
        let b = baseline_for(&s, &snapshot_with(2, None, std::slice::from_ref(&own)));
        let mut stranger = instance("added-by-ops", false, SMALL);
        stranger.tags.insert("team".into(), "data".into());
        let old_run = managed(&reader_id(9), false, SMALL, "2026-11-24");
        let mine = managed(&reader_id(1), false, SMALL, RUN);
        // Tagged for this run but in the baseline (cannot happen in practice): still not deleted.
        let night = snapshot_with(10, None, &[own, stranger, old_run, mine]);
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(deletes(&plan), [reader_id(1)]);
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("added-by-ops is not nightshift's")));
        assert!(plan.notes.iter().any(|n| n.contains("another run")));
    }

    #[test]
    fn a_failover_during_the_night_never_leads_to_deleting_or_resizing_the_new_writer() {
        let s = scenario(10, 20, 2, None);
        let b = baseline_for(
            &s,
            &snapshot_with(2, None, &[instance("own-1", false, SMALL)]),
        );
        // own-1 became the writer during the night.
        let mut night = snapshot_with(
            10,
            None,
            &[
                instance("own-1", true, SMALL),
                managed(&reader_id(1), false, SMALL, RUN),
            ],
        );
        night.clusters[0].instances[0].writer = false;
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(deletes(&plan), [reader_id(1)]);
        assert!(!plan.calls.iter().any(|c| matches!(
            c,
            Call::FailoverDbCluster { .. } | Call::ModifyDbInstanceClass { .. }
        )));
        assert!(plan.drift.iter().any(|d| d.contains("writer is own-1")));
    }

    #[test]
    fn a_promoted_nightshift_reader_is_failed_back_before_it_is_deleted() {
        let s = scenario(10, 20, 2, None);
        let b = baseline_for(&s, &snapshot_with(2, None, &[]));
        let mut night = snapshot_with(
            10,
            None,
            &[
                managed(&reader_id(1), true, SMALL, RUN),
                managed(&reader_id(2), false, SMALL, RUN),
            ],
        );
        night.clusters[0].instances[0].writer = false;
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert!(plan.calls.contains(&Call::FailoverDbCluster {
            cluster: "db".into(),
            target: "db-w".into(),
            from: reader_id(1)
        }));
        assert_eq!(
            deletes(&plan),
            [reader_id(2)],
            "the writer is not deleted yet"
        );
        assert!(!plan.is_done());
    }

    #[test]
    fn resize_revert_goes_readers_first_then_fails_back_then_the_old_writer() {
        let s = scenario(10, 20, 1, Some(BIG));
        let b = baseline_for(
            &s,
            &snapshot_with(10, None, &[instance("own-1", false, SMALL)]),
        );
        // End of scale-up: own-1 is the writer (resized), db-w a resized reader, one of ours.
        let mut night = snapshot_with(
            10,
            None,
            &[
                instance("own-1", true, BIG),
                managed(&reader_id(1), false, BIG, RUN),
            ],
        );
        night.clusters[0].instances[0].writer = false;
        night.clusters[0].instances[0].class = BIG.into();
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(
            plan.calls,
            [
                Call::ModifyDbInstanceClass {
                    cluster: "db".into(),
                    instance: "db-w".into(),
                    class: SMALL.into(),
                    from: BIG.into()
                },
                Call::DeleteDbInstance {
                    cluster: "db".into(),
                    instance: reader_id(1)
                }
            ]
        );
        // Next round: db-w reverted → fail back to it (the baseline writer).
        night.clusters[0].instances[0].class = SMALL.into();
        night.clusters[0].instances.pop();
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(
            plan.calls,
            [Call::FailoverDbCluster {
                cluster: "db".into(),
                target: "db-w".into(),
                from: "own-1".into()
            }]
        );
        // Then own-1, now a reader, is reverted.
        night.clusters[0].instances[0].writer = true;
        night.clusters[0].instances[1].writer = false;
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(
            plan.calls,
            [Call::ModifyDbInstanceClass {
                cluster: "db".into(),
                instance: "own-1".into(),
                class: SMALL.into(),
                from: BIG.into()
            }]
        );
        night.clusters[0].instances[1].class = SMALL.into();
        assert!(plan_scale_down(&s, &b, &night, RUN).is_done());
    }

    #[test]
    fn a_resized_writer_with_no_baseline_reader_bridges_through_one_of_the_nights_readers() {
        let s = scenario(10, 20, 2, Some(BIG));
        let b = baseline_for(&s, &snapshot_with(10, None, &[]));
        // db-w is (again) the writer with the night class; only our readers exist.
        let mut night = snapshot_with(
            10,
            None,
            &[
                managed(&reader_id(1), false, BIG, RUN),
                managed(&reader_id(2), false, BIG, RUN),
            ],
        );
        night.clusters[0].instances[0].class = BIG.into();
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert_eq!(
            plan.calls,
            [
                Call::FailoverDbCluster {
                    cluster: "db".into(),
                    target: reader_id(1),
                    from: "db-w".into()
                },
                Call::DeleteDbInstance {
                    cluster: "db".into(),
                    instance: reader_id(2)
                }
            ]
        );
    }

    #[test]
    fn a_class_changed_by_someone_else_is_drift() {
        let s = scenario(10, 20, 1, Some(BIG));
        let b = baseline_for(
            &s,
            &snapshot_with(10, None, &[instance("own-1", false, SMALL)]),
        );
        let night = snapshot_with(10, None, &[instance("own-1", false, "db.r6g.4xlarge")]);
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert!(plan.calls.is_empty(), "{:?}", plan.calls);
        assert!(plan
            .drift
            .iter()
            .any(|d| d.contains("own-1: class db.r6g.4xlarge")));
    }

    #[test]
    fn busy_instances_wait_and_resources_gone_or_unconfigured_are_left_alone() {
        let s = scenario(10, 20, 1, None);
        let b = baseline_for(&s, &snapshot_with(2, None, &[]));
        let mut creating = managed(&reader_id(1), false, SMALL, RUN);
        creating.status = "creating".into();
        let plan = plan_scale_down(&s, &b, &snapshot_with(10, None, &[creating]), RUN);
        assert!(deletes(&plan).is_empty());
        assert!(plan.waiting.iter().any(|w| w.contains("creating")));

        let mut gone = snapshot_with(10, None, &[]);
        gone.services.clear();
        gone.clusters.clear();
        let plan = plan_scale_down(&s, &b, &gone, RUN);
        assert!(plan.is_done());
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);

        let other = scenario(10, 20, 1, None);
        let mut other = other.clone();
        other.ecs[0].service = "renamed".into();
        other.docdb[0].cluster = "renamed".into();
        let plan = plan_scale_down(&other, &b, &snapshot_with(10, None, &[]), RUN);
        assert!(plan.calls.is_empty());
        assert!(plan
            .notes
            .iter()
            .all(|n| n.contains("no longer in the config")));
    }
}
