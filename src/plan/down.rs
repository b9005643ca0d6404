//! Scale-down planning: back to the recorded baseline, touching only what nightshift changed,
//! kind by kind in the scale-down order ([`super::kind::each_kind`]).
//!
//! Each kind restores a value only while it still holds what nightshift set for the night;
//! anything else was changed by someone during the night and is recorded as drift, not
//! clobbered. A resource the config no longer names is left alone (noted).

use super::kind::{each_kind, Kind, Order, Visit};
use super::{Baseline, Plan, Snapshot};
use crate::config::Scenario;

/// The calls that restore the baseline, given the live state. A resource the config no longer
/// names is left alone (noted): nightshift never touches what is not configured.
pub fn plan_scale_down(
    scenario: &Scenario,
    baseline: &Baseline,
    snapshot: &Snapshot,
    run: &str,
) -> Plan {
    struct Down<'a> {
        scenario: &'a Scenario,
        baseline: &'a Baseline,
        snapshot: &'a Snapshot,
        run: &'a str,
        plan: Plan,
    }
    impl Visit for Down<'_> {
        fn visit<K: Kind>(&mut self) {
            for base in K::recorded(self.baseline) {
                if K::configured(self.scenario, base) {
                    self.plan
                        .merge(K::plan_down(self.scenario, base, self.snapshot, self.run));
                } else {
                    self.plan.notes.push(format!(
                        "{} is no longer in the config: left as it is",
                        K::name(base)
                    ));
                }
            }
        }
    }
    let mut down = Down {
        scenario,
        baseline,
        snapshot,
        run,
        plan: Plan::default(),
    };
    each_kind(Order::ScaleDown, &mut down);
    down.plan
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
