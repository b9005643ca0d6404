//! Scale-up planning: from the live state to the night's capacity, kind by kind in the scale-up
//! order ([`super::kind::each_kind`]).

use super::kind::{each_kind, Kind, Order, Visit};
use super::{Plan, PlanError, Snapshot};
use crate::config::Scenario;

/// The calls that bring every configured resource to the night's capacity, given the live state.
///
/// `run` is the run id the new readers are tagged with. Fails when a configured resource does not
/// exist; nothing is planned then.
pub fn plan_scale_up(
    scenario: &Scenario,
    snapshot: &Snapshot,
    run: &str,
) -> Result<Plan, PlanError> {
    struct Up<'a> {
        scenario: &'a Scenario,
        snapshot: &'a Snapshot,
        run: &'a str,
        plan: Result<Plan, PlanError>,
    }
    impl Visit for Up<'_> {
        fn visit<K: Kind>(&mut self) {
            let Ok(plan) = &mut self.plan else { return };
            for target in K::targets(self.scenario) {
                match K::live(self.snapshot, target) {
                    Ok(live) => plan.merge(K::plan_up(self.scenario, target, live, self.run)),
                    Err(e) => {
                        self.plan = Err(e);
                        return;
                    }
                }
            }
        }
    }
    let mut up = Up {
        scenario,
        snapshot,
        run,
        plan: Ok(Plan::default()),
    };
    each_kind(Order::ScaleUp, &mut up);
    up.plan
}

/// The asynchronous part of scale-up that a later `check` continues: the resize phases
/// (readers, failover, old writer). It never touches ECS, so a check never re-raises a count
/// someone lowered on purpose during the night, and adds readers only to a cluster with
/// `fallback_classes` (a reader refused for capacity is tried again by the next check).
pub fn plan_resize_continuation(scenario: &Scenario, snapshot: &Snapshot, run: &str) -> Plan {
    struct Continue<'a> {
        scenario: &'a Scenario,
        snapshot: &'a Snapshot,
        run: &'a str,
        plan: Plan,
    }
    impl Visit for Continue<'_> {
        fn visit<K: Kind>(&mut self) {
            for target in K::targets(self.scenario) {
                self.plan.merge(K::plan_continue(
                    self.scenario,
                    target,
                    self.snapshot,
                    self.run,
                ));
            }
        }
    }
    let mut next = Continue {
        scenario,
        snapshot,
        run,
        plan: Plan::default(),
    };
    each_kind(Order::ScaleUp, &mut next);
    next.plan
}

/// What a check continues of the run's recorded targets: the changes their scale-up deferred
/// (a Batch compute environment that was UPDATING), each only while it still holds its day
/// value.
pub fn plan_deferred(
    scenario: &Scenario,
    baseline: &super::Baseline,
    snapshot: &Snapshot,
    run: &str,
) -> Plan {
    struct Deferred<'a> {
        scenario: &'a Scenario,
        baseline: &'a super::Baseline,
        snapshot: &'a Snapshot,
        run: &'a str,
        plan: Plan,
    }
    impl Visit for Deferred<'_> {
        fn visit<K: Kind>(&mut self) {
            for base in K::recorded(self.baseline) {
                if K::configured(self.scenario, base) {
                    self.plan.merge(K::plan_deferred(
                        self.scenario,
                        base,
                        self.snapshot,
                        self.run,
                    ));
                }
            }
        }
    }
    let mut next = Deferred {
        scenario,
        baseline,
        snapshot,
        run,
        plan: Plan::default(),
    };
    each_kind(Order::ScaleUp, &mut next);
    next.plan
}

#[cfg(test)]
mod tests {
    use super::super::cluster::up::plan_cluster;
    use super::super::fixtures::*;
    use super::super::service::{night_capacity, plan_service, target_desired};
    use super::super::*;
    use super::*;
    use crate::config::EcsTarget;
    use std::collections::BTreeMap;

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
            plan.calls[3],
            Call::UpdateService {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 10,
                from: 2
            }
        );
        assert_eq!(creates(&plan), [reader_id(1), reader_id(2), reader_id(3)]);
        match &plan.calls[0] {
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
                cluster: "db".into(),
                engine: crate::config::Engine::DocumentDb,
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
                    engine: "docdb".into(),
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

    #[test]
    fn scale_up_starts_the_database_readers_before_the_workers_and_scale_down_restores_workers_first(
    ) {
        let s = scenario(10, 20, 2, None);
        let before = snapshot_with(2, Some(Capacity { min: 1, max: 4 }), &[]);
        let up = plan_scale_up(&s, &before, RUN).unwrap();
        let ops: Vec<&str> = up.calls.iter().map(Call::operation).collect();
        assert_eq!(
            ops,
            [
                "CreateDBInstance",
                "CreateDBInstance",
                "RegisterScalableTarget",
                "UpdateService"
            ]
        );
        let b = capture_baseline(&s, &before, ts()).unwrap();
        let night = snapshot_with(
            10,
            Some(Capacity { min: 10, max: 10 }),
            &[
                managed(&reader_id(1), false, "db.r6g.large", RUN),
                managed(&reader_id(2), false, "db.r6g.large", RUN),
            ],
        );
        let down = plan_scale_down(&s, &b, &night, RUN);
        let ops: Vec<&str> = down.calls.iter().map(Call::operation).collect();
        assert_eq!(
            ops,
            [
                "RegisterScalableTarget",
                "UpdateService",
                "DeleteDBInstance",
                "DeleteDBInstance"
            ]
        );
    }
}
