//! Scale-up planning: from the live state to the night's capacity.

use super::ids::reader_identifier;
use super::{
    Call, Capacity, ClusterState, InstanceState, Plan, PlanError, ServiceState, Snapshot,
    ADDED_READER_PROMOTION_TIER, MAX_READERS, TAG_RUN, TAG_SCENARIO,
};
use crate::config::{DocDbTarget, EcsTarget, Scenario};
use std::collections::{BTreeMap, BTreeSet};

/// Highest ordinal tried for a new reader's identifier. 15 readers at most exist at once; the
/// rest of the room covers identifiers still held by instances being deleted.
const MAX_ORDINAL: u32 = 99;

/// The desired count the config asks for, never above its `max`.
pub(crate) fn target_desired(target: &EcsTarget) -> i32 {
    i32::try_from(target.desired.min(target.max)).unwrap_or(i32::MAX)
}

/// The desired count for the night: the target, or the current count when that is higher
/// (nightshift never lowers a count at scale-up).
pub(crate) fn night_desired(target: &EcsTarget, live: &ServiceState) -> i32 {
    live.desired.max(target_desired(target))
}

/// The scalable target for the night: MinCapacity raised to the target so that target tracking
/// cannot scale the service in under it, MaxCapacity raised only when it is below that.
pub(crate) fn night_capacity(target: &EcsTarget, current: Capacity) -> Capacity {
    let min = current.min.max(target_desired(target));
    Capacity {
        min,
        max: current.max.max(min),
    }
}

/// The configured service in the snapshot, or why it is missing.
pub(crate) fn live_service<'a>(
    snapshot: &'a Snapshot,
    cluster: &str,
    service: &str,
) -> Result<&'a ServiceState, PlanError> {
    match snapshot.service(cluster, service) {
        Some(s) if s.is_active() => Ok(s),
        Some(s) => Err(PlanError::MissingService {
            cluster: cluster.into(),
            service: service.into(),
            why: format!("its status is {}", s.status),
        }),
        None => Err(PlanError::MissingService {
            cluster: cluster.into(),
            service: service.into(),
            why: "DescribeServices does not know it, or the cluster does not exist".into(),
        }),
    }
}

/// The calls that bring every configured resource to the night's capacity, given the live state.
///
/// `run` is the run id the new readers are tagged with. Fails when a configured resource does not
/// exist; nothing is planned then.
pub fn plan_scale_up(
    scenario: &Scenario,
    snapshot: &Snapshot,
    run: &str,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for target in &scenario.ecs {
        let live = live_service(snapshot, &target.cluster, &target.service)?;
        plan.merge(plan_service(target, live));
    }
    for target in &scenario.docdb {
        let live = snapshot
            .cluster(&target.cluster)
            .ok_or_else(|| PlanError::MissingCluster {
                cluster: target.cluster.clone(),
            })?;
        plan.merge(plan_cluster(&scenario.name, target, live, run, true));
        plan.merge(super::serverless::plan_up(target, live));
    }
    Ok(plan)
}

/// The asynchronous part of scale-up that a later `check` continues: the resize phases
/// (readers, failover, old writer). It never touches ECS, so a check never re-raises a count
/// someone lowered on purpose during the night, and adds readers only to a cluster with
/// `fallback_classes` (a reader refused for capacity is tried again by the next check).
pub fn plan_resize_continuation(scenario: &Scenario, snapshot: &Snapshot, run: &str) -> Plan {
    let mut plan = Plan::default();
    for target in scenario
        .docdb
        .iter()
        .filter(|t| t.resize.is_some() || !t.fallback_classes.is_empty())
    {
        let retry_readers = !target.fallback_classes.is_empty();
        match snapshot.cluster(&target.cluster) {
            Some(live) => plan.merge(plan_cluster(
                &scenario.name,
                target,
                live,
                run,
                retry_readers,
            )),
            None => plan.notes.push(format!(
                "DocumentDB cluster {} no longer exists: nothing to resize",
                target.cluster
            )),
        }
    }
    plan
}

fn plan_service(target: &EcsTarget, live: &ServiceState) -> Plan {
    let mut plan = Plan::default();
    let name = format!("{}/{}", target.cluster, target.service);
    let wanted = target_desired(target);
    if target.desired > target.max {
        plan.notes.push(format!(
            "{name}: desired {} capped at max {}",
            target.desired, target.max
        ));
    }
    if let Some(current) = live.scalable_target {
        let night = night_capacity(target, current);
        if night != current {
            plan.calls.push(Call::RegisterScalableTarget {
                cluster: target.cluster.clone(),
                service: target.service.clone(),
                to: night,
                from: current,
            });
        }
    }
    match live.desired.cmp(&wanted) {
        std::cmp::Ordering::Less => plan.calls.push(Call::UpdateService {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            desired: wanted,
            from: live.desired,
        }),
        std::cmp::Ordering::Equal => plan
            .notes
            .push(format!("{name}: already at desired count {wanted}")),
        std::cmp::Ordering::Greater => plan.notes.push(format!(
            "{name}: desired count {} is above the night's {wanted}: left as is (scale-up never lowers a count){}",
            live.desired,
            if live.desired > i32::try_from(target.max).unwrap_or(i32::MAX) {
                format!("; it is above the configured max {}, set outside nightshift", target.max)
            } else {
                String::new()
            }
        )),
    }
    plan
}

/// Readers to add and the resize phase that is due, for one cluster. `add_readers` is false for
/// a check's continuation.
fn plan_cluster(
    scenario: &str,
    target: &DocDbTarget,
    live: &ClusterState,
    run: &str,
    add_readers: bool,
) -> Plan {
    let mut plan = Plan::default();
    let cluster = &target.cluster;
    let Some(writer) = live.sole_writer() else {
        plan.waiting.push(format!(
            "DocumentDB cluster {cluster} has {} writers right now (failover in progress?): its changes wait for exactly one",
            live.writer_count()
        ));
        return plan;
    };
    let readers: Vec<&InstanceState> = live.readers().collect();
    let new_class = reader_class(target, live);
    let mut creating = 0;
    if add_readers {
        let wanted = usize::from(target.replicas).min(MAX_READERS);
        if readers.len() >= wanted {
            if wanted > 0 || !readers.is_empty() {
                plan.notes.push(format!(
                    "{cluster}: has {} readers, the night needs {wanted}: none added",
                    readers.len()
                ));
            }
        } else if let Some(new_class) = new_class {
            let missing = (wanted - readers.len()).min(MAX_READERS - readers.len());
            let zones = super::zones::assign(live, missing);
            let taken: BTreeSet<&str> = live.instances.iter().map(|i| i.id.as_str()).collect();
            let tags = BTreeMap::from([
                (TAG_SCENARIO.to_string(), scenario.to_string()),
                (TAG_RUN.to_string(), run.to_string()),
            ]);
            for ordinal in 1..=MAX_ORDINAL {
                if creating == missing {
                    break;
                }
                let id = reader_identifier(cluster, scenario, ordinal);
                if taken.contains(id.as_str()) {
                    continue;
                }
                plan.calls.push(Call::CreateDbInstance {
                    cluster: cluster.clone(),
                    instance: id,
                    class: new_class.to_string(),
                    promotion_tier: ADDED_READER_PROMOTION_TIER,
                    tags: tags.clone(),
                    zone: zones.get(creating).cloned().flatten(),
                });
                creating += 1;
            }
            match &target.instance_class {
                Some(configured) if live.serverless.is_some() && configured != new_class => {
                    plan.notes.push(format!(
                        "{cluster} is a DocumentDB Serverless cluster: its new readers are {new_class}, not {configured}"
                    ))
                }
                _ => {}
            }
            if creating < missing {
                plan.notes.push(format!(
                    "{cluster}: only {creating} of {missing} missing readers could get an identifier"
                ));
            }
        } else {
            // The config requires instance_class wherever replicas adds readers.
            plan.notes.push(format!(
                "{cluster}: no instance_class for the readers the night needs: none added"
            ));
        }
    }
    if let Some(class) = &target.resize {
        plan_resize(
            &mut plan,
            cluster,
            class,
            writer,
            &readers,
            creating > 0,
            live,
        );
    }
    plan
}

/// The class of the readers nightshift adds: `db.serverless` on a serverless cluster, else the
/// night's class (`resize`) or `instance_class` (None: a cluster that adds no readers names none).
pub(crate) fn reader_class<'a>(target: &'a DocDbTarget, live: &ClusterState) -> Option<&'a str> {
    if live.serverless.is_some() {
        Some(super::serverless::SERVERLESS_CLASS)
    } else {
        target
            .resize
            .as_deref()
            .or(target.instance_class.as_deref())
    }
}

/// Resize phases, derived from the live state: (1) every reader to `class`; (2) once all readers
/// have it and are available, fail over to one of them; (3) the old writer, now a reader, is
/// resized by phase 1 of a later round. The writer itself is never modified.
fn plan_resize(
    plan: &mut Plan,
    cluster: &str,
    class: &str,
    writer: &InstanceState,
    readers: &[&InstanceState],
    readers_being_added: bool,
    live: &ClusterState,
) {
    let mut readers_settled = !readers_being_added;
    for reader in readers {
        if reader.effective_class() != class {
            readers_settled = false;
            if reader.is_available() {
                plan.calls.push(Call::ModifyDbInstanceClass {
                    cluster: cluster.to_string(),
                    instance: reader.id.clone(),
                    class: class.to_string(),
                    from: reader.class.clone(),
                });
            } else {
                plan.waiting.push(format!(
                    "reader {} is {}: its resize to {class} waits",
                    reader.id, reader.status
                ));
            }
        } else if reader.class != class || !reader.is_available() {
            readers_settled = false;
            plan.waiting.push(format!(
                "reader {} is {} on its way to {class}",
                reader.id, reader.status
            ));
        }
    }
    if writer.effective_class() == class {
        if writer.class != class {
            plan.waiting.push(format!(
                "writer {} has a pending change to {class}",
                writer.id
            ));
        }
        return;
    }
    if !readers_settled {
        plan.waiting.push(format!(
            "writer {} keeps {} until every reader has {class}: then nightshift fails over to a resized reader and resizes the old writer",
            writer.id, writer.class
        ));
        return;
    }
    if !live.is_available() {
        plan.waiting.push(format!(
            "cluster {cluster} is {}: the failover to a resized reader waits",
            live.status
        ));
        return;
    }
    match failover_target(readers, |r| r.class == class) {
        Some(target) => {
            plan.calls.push(Call::FailoverDbCluster {
                cluster: cluster.to_string(),
                target: target.id.clone(),
                from: writer.id.clone(),
            });
            plan.waiting.push(format!(
                "after the failover to {}, the old writer {} is resized as a reader",
                target.id, writer.id
            ));
        }
        None => plan.notes.push(format!(
            "writer {} keeps class {}: the cluster has no reader to fail over to (set replicas to 1 or more to resize the writer)",
            writer.id, writer.class
        )),
    }
}

/// The reader to promote: available and acceptable to `ok`; the cluster's own instances before
/// the night's temporary ones (those go away at scale-down), then by promotion tier and id.
pub(crate) fn failover_target<'a>(
    readers: &[&'a InstanceState],
    ok: impl Fn(&InstanceState) -> bool,
) -> Option<&'a InstanceState> {
    readers
        .iter()
        .copied()
        .filter(|r| r.is_available() && ok(r))
        .min_by_key(|r| {
            (
                r.tags.contains_key(TAG_SCENARIO),
                r.promotion_tier.unwrap_or(ADDED_READER_PROMOTION_TIER),
                r.id.clone(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;

    fn creates(plan: &Plan) -> Vec<String> {
        plan.calls
            .iter()
            .filter_map(|c| match c {
                Call::CreateDbInstance { instance, .. } => Some(instance.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn below_target_raises_the_count_and_adds_tagged_lowest_priority_readers() {
        let plan = plan_scale_up(
            &scenario(10, 20, 3, None),
            &snapshot_with(2, None, &[]),
            RUN,
        )
        .unwrap();
        assert_eq!(
            plan.calls[0],
            Call::UpdateService {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 10,
                from: 2
            }
        );
        assert_eq!(creates(&plan), [reader_id(1), reader_id(2), reader_id(3)]);
        match &plan.calls[1] {
            Call::CreateDbInstance {
                class,
                promotion_tier,
                tags,
                ..
            } => {
                assert_eq!(class, "db.r6g.large");
                assert_eq!(*promotion_tier, 15);
                assert_eq!(tags.get(TAG_SCENARIO).map(String::as_str), Some(SCENARIO));
                assert_eq!(tags.get(TAG_RUN).map(String::as_str), Some(RUN));
            }
            other => panic!("{other:?}"),
        }
        assert!(plan.is_done() || plan.waiting.is_empty());
    }

    #[test]
    fn already_at_target_plans_nothing_and_says_so() {
        let readers = [
            managed(&reader_id(1), false, "db.r6g.large", RUN),
            managed(&reader_id(2), false, "db.r6g.large", RUN),
            managed(&reader_id(3), false, "db.r6g.large", RUN),
        ];
        let plan = plan_scale_up(
            &scenario(10, 20, 3, None),
            &snapshot_with(10, None, &readers),
            RUN,
        )
        .unwrap();
        assert!(plan.is_done(), "{plan:?}");
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("already at desired count 10")));
        assert!(plan.notes.iter().any(|n| n.contains("has 3 readers")));
    }

    #[test]
    fn above_target_is_never_lowered() {
        let mut snap = snapshot_with(15, None, &[]);
        snap.clusters[0]
            .instances
            .extend((1..=5).map(|n| instance(&format!("own-{n}"), false, "db.r6g.large")));
        let plan = plan_scale_up(&scenario(10, 20, 3, None), &snap, RUN).unwrap();
        assert!(plan.calls.is_empty(), "{:?}", plan.calls);
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("above the night's 10")));
        // Above max (set by someone else): still left alone, and named.
        let plan = plan_scale_up(
            &scenario(10, 20, 0, None),
            &snapshot_with(25, None, &[]),
            RUN,
        )
        .unwrap();
        assert!(plan.calls.is_empty());
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("above the configured max 20")));
    }

    #[test]
    fn caps_desired_at_max_and_raises_the_scalable_target_min_and_only_a_low_max() {
        let target = EcsTarget {
            cluster: "batch".into(),
            service: "worker".into(),
            desired: 30,
            max: 20,
        };
        assert_eq!(target_desired(&target), 20);
        let plan = plan_service(&target, &service(2, Some(Capacity { min: 1, max: 4 })));
        assert_eq!(
            plan.calls,
            [
                Call::RegisterScalableTarget {
                    cluster: "batch".into(),
                    service: "worker".into(),
                    to: Capacity { min: 20, max: 20 },
                    from: Capacity { min: 1, max: 4 }
                },
                Call::UpdateService {
                    cluster: "batch".into(),
                    service: "worker".into(),
                    desired: 20,
                    from: 2
                }
            ]
        );
        assert!(plan.notes.iter().any(|n| n.contains("capped at max 20")));
        // A high MaxCapacity is kept; a min already above the target is kept.
        let s = scenario(10, 20, 0, None);
        assert_eq!(
            night_capacity(&s.ecs[0], Capacity { min: 2, max: 50 }),
            Capacity { min: 10, max: 50 }
        );
        assert_eq!(
            night_capacity(&s.ecs[0], Capacity { min: 12, max: 50 }),
            Capacity { min: 12, max: 50 }
        );
        // Target already in place: no RegisterScalableTarget.
        let plan = plan_service(&s.ecs[0], &service(10, Some(Capacity { min: 10, max: 50 })));
        assert!(plan.calls.is_empty(), "{:?}", plan.calls);
    }

    #[test]
    fn a_missing_service_or_cluster_is_a_clear_error() {
        let s = scenario(10, 20, 3, None);
        let mut snap = snapshot_with(2, None, &[]);
        snap.services.clear();
        let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
        assert!(matches!(err, PlanError::MissingService { .. }));
        let text = err.to_string();
        assert!(
            text.contains("\"worker\"")
                && text.contains("\"batch\"")
                && text.contains("[[scenario.ecs]]"),
            "{text}"
        );

        let mut snap = snapshot_with(2, None, &[]);
        snap.services[0].status = "INACTIVE".into();
        let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
        assert!(err.to_string().contains("INACTIVE"), "{err}");

        let mut snap = snapshot_with(2, None, &[]);
        snap.clusters.clear();
        let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
        assert_eq!(
            err,
            PlanError::MissingCluster {
                cluster: "db".into()
            }
        );
        assert!(err.to_string().contains("[[scenario.docdb]]"));
    }

    #[test]
    fn never_more_than_fifteen_readers() {
        let own: Vec<InstanceState> = (1..=14)
            .map(|n| instance(&format!("own-{n}"), false, "db.r6g.large"))
            .collect();
        let plan = plan_scale_up(
            &scenario(10, 20, 15, None),
            &snapshot_with(10, None, &own),
            RUN,
        )
        .unwrap();
        assert_eq!(creates(&plan).len(), 1);
        let mut full = own.clone();
        full.push(instance("own-15", false, "db.r6g.large"));
        let plan = plan_scale_up(
            &scenario(10, 20, 15, None),
            &snapshot_with(10, None, &full),
            RUN,
        )
        .unwrap();
        assert!(creates(&plan).is_empty());
        // Even a config asking for more than 15 (rejected by validation) never gets past 15.
        let mut target = scenario(10, 20, 15, None).docdb.remove(0);
        target.replicas = 40;
        let c = &snapshot_with(10, None, &own).clusters[0];
        let plan = plan_cluster(SCENARIO, &target, c, RUN, true);
        assert_eq!(creates(&plan).len(), 1);
    }

    #[test]
    fn existing_and_unmanaged_readers_count_and_taken_identifiers_are_skipped() {
        let mut deleting = managed(&reader_id(1), false, "db.r6g.large", "2026-11-24");
        deleting.status = "deleting".into();
        let readers = [instance("own-1", false, "db.r6g.large"), deleting];
        let plan = plan_scale_up(
            &scenario(10, 20, 3, None),
            &snapshot_with(10, None, &readers),
            RUN,
        )
        .unwrap();
        // own-1 counts; the deleting instance does not, and its identifier is not reused.
        assert_eq!(creates(&plan), [reader_id(2), reader_id(3)]);
    }

    #[test]
    fn a_cluster_without_exactly_one_writer_waits() {
        let mut snap = snapshot_with(10, None, &[instance("r", true, "db.r6g.large")]);
        let plan = plan_scale_up(&scenario(10, 20, 3, None), &snap, RUN).unwrap();
        assert!(plan.calls.is_empty());
        assert!(plan.waiting[0].contains("2 writers"), "{:?}", plan.waiting);
        snap.clusters[0].instances[0].writer = false;
        snap.clusters[0].instances[1].writer = false;
        let plan = plan_scale_up(&scenario(10, 20, 3, None), &snap, RUN).unwrap();
        assert!(plan.waiting[0].contains("0 writers"));
    }

    const BIG: &str = "db.r6g.2xlarge";

    #[test]
    fn resize_phase_one_resizes_readers_only_and_new_readers_get_the_night_class() {
        let s = scenario(10, 20, 2, Some(BIG));
        let snap = snapshot_with(10, None, &[instance("own-1", false, "db.r6g.large")]);
        let plan = plan_scale_up(&s, &snap, RUN).unwrap();
        assert_eq!(
            plan.calls,
            [
                Call::CreateDbInstance {
                    cluster: "db".into(),
                    instance: reader_id(1),
                    class: BIG.into(),
                    promotion_tier: 15,
                    tags: BTreeMap::from([
                        (TAG_SCENARIO.into(), SCENARIO.into()),
                        (TAG_RUN.into(), RUN.into())
                    ]),
                    zone: None,
                },
                Call::ModifyDbInstanceClass {
                    cluster: "db".into(),
                    instance: "own-1".into(),
                    class: BIG.into(),
                    from: "db.r6g.large".into()
                }
            ]
        );
        assert!(plan.waiting.iter().any(|w| w.contains("writer db-w keeps")));
    }

    #[test]
    fn resize_phase_two_fails_over_to_a_resized_reader_preferring_the_clusters_own() {
        let s = scenario(10, 20, 2, Some(BIG));
        let readers = [
            managed(&reader_id(1), false, BIG, RUN),
            instance("own-1", false, BIG),
        ];
        let plan = plan_scale_up(&s, &snapshot_with(10, None, &readers), RUN).unwrap();
        assert_eq!(
            plan.calls,
            [Call::FailoverDbCluster {
                cluster: "db".into(),
                target: "own-1".into(),
                from: "db-w".into()
            }]
        );
        // A reader still modifying holds the failover back.
        let mut modifying = instance("own-1", false, "db.r6g.large");
        modifying.pending_class = Some(BIG.into());
        modifying.status = "modifying".into();
        let readers = [managed(&reader_id(1), false, BIG, RUN), modifying];
        let plan = plan_scale_up(&s, &snapshot_with(10, None, &readers), RUN).unwrap();
        assert!(plan.calls.is_empty(), "{:?}", plan.calls);
        assert!(plan
            .waiting
            .iter()
            .any(|w| w.contains("own-1 is modifying")));
    }

    #[test]
    fn resize_phase_three_resizes_the_old_writer_as_a_reader_and_never_the_writer() {
        let s = scenario(10, 20, 1, Some(BIG));
        let mut snap = snapshot_with(10, None, &[instance("own-1", true, BIG)]);
        snap.clusters[0].instances[0].writer = false; // db-w failed over to own-1
        let plan = plan_scale_up(&s, &snap, RUN).unwrap();
        assert_eq!(
            plan.calls,
            [Call::ModifyDbInstanceClass {
                cluster: "db".into(),
                instance: "db-w".into(),
                class: BIG.into(),
                from: "db.r6g.large".into()
            }]
        );
        // Done: all resized.
        snap.clusters[0].instances[0].class = BIG.into();
        let plan = plan_scale_up(&s, &snap, RUN).unwrap();
        assert!(plan.is_done(), "{plan:?}");
        for call in plan_scale_up(&s, &snapshot_with(10, None, &[]), RUN)
            .unwrap()
            .calls
        {
            if let Call::ModifyDbInstanceClass { instance, .. } = call {
                assert_ne!(instance, "db-w", "the writer is never resized directly");
            }
        }
    }

    #[test]
    fn resize_without_any_reader_leaves_the_writer_and_says_why() {
        let s = scenario(10, 20, 0, Some(BIG));
        let plan = plan_scale_up(&s, &snapshot_with(10, None, &[]), RUN).unwrap();
        assert!(plan.calls.is_empty());
        assert!(plan
            .notes
            .iter()
            .any(|n| n.contains("no reader to fail over to")));
    }

    #[test]
    fn the_continuation_resizes_but_never_adds_readers_or_touches_ecs() {
        let s = scenario(10, 20, 3, Some(BIG));
        let snap = snapshot_with(2, None, &[instance("own-1", false, "db.r6g.large")]);
        let plan = plan_resize_continuation(&s, &snap, RUN);
        assert_eq!(plan.calls.len(), 1);
        assert!(matches!(
            plan.calls[0],
            Call::ModifyDbInstanceClass { ref instance, .. } if instance == "own-1"
        ));
        // Without resize there is nothing to continue.
        let plan = plan_resize_continuation(&scenario(10, 20, 3, None), &snap, RUN);
        assert!(plan.is_done());
    }
}
