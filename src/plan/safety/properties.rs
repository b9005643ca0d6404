//! The safety rules as properties over the service and cluster kinds (proptest; the worker kinds'
//! are in `plan::safety::batch` and `plan::safety::asg`): for any live state of an
//! ECS service and a DocumentDB, Aurora or Neptune cluster, what the planners plan at scale-up
//! and at scale-down never goes above a cap, never below the baseline during the night, never
//! touches a resource outside the config, never the writer, never an instance nightshift did not
//! add for this run, and passes the independent check of this module.

use super::{check, SafetyContext};
use crate::config::{Dcu, Scenario};
use crate::plan::fixtures::{
    instance, managed, reader_id, scenario_in, snapshot_with, ts, RUN, SCENARIO,
};
use crate::plan::*;
use proptest::prelude::*;

/// The night's config: its ECS numbers and its cluster's table, replicas and serverless_min.
#[derive(Debug, Clone)]
struct Night {
    desired: u32,
    max: u32,
    table: &'static str,
    replicas: u8,
    serverless_min: Option<u32>,
}

fn scenario(n: &Night) -> Scenario {
    let serverless = n
        .serverless_min
        .map_or(String::new(), |m| format!("serverless_min = {m}"));
    scenario_in(n.table, n.desired, n.max, n.replicas, &serverless)
}

fn night() -> impl Strategy<Value = Night> {
    (
        1u32..30,
        0u32..20,
        prop::sample::select(vec!["docdb", "aurora", "neptune"]),
        0u8..=15,
        prop::option::of(2u32..64),
    )
        .prop_map(|(desired, extra, table, replicas, serverless_min)| Night {
            desired,
            max: desired + extra,
            table,
            replicas,
            serverless_min,
        })
}

/// The live world: the service's count and scalable target, the cluster's own readers, the
/// readers of this run and of another, and its replica target and serverless range.
#[derive(Debug, Clone)]
struct Live {
    desired: i32,
    target: Option<Capacity>,
    own: usize,
    ours: usize,
    others: usize,
    replica_target: Option<Capacity>,
    serverless: Option<(u32, u32)>,
}

fn live() -> impl Strategy<Value = Live> {
    let cap = (0i32..12, 0i32..30).prop_map(|(min, extra)| Capacity {
        min,
        max: min + extra,
    });
    (
        0i32..40,
        prop::option::of(cap.clone()),
        0usize..8,
        0usize..5,
        0usize..3,
        prop::option::of(cap),
        prop::option::of((1u32..8, 8u32..128)),
    )
        .prop_map(
            |(desired, target, own, ours, others, replica_target, serverless)| Live {
                desired,
                target,
                own,
                ours,
                others,
                replica_target,
                serverless,
            },
        )
}

fn snapshot(table: &str, l: &Live, with_ours: bool) -> Snapshot {
    let mut readers: Vec<InstanceState> = (1..=l.own)
        .map(|n| instance(&format!("own-{n}"), false, "db.r6g.large"))
        .collect();
    if with_ours {
        readers.extend((1..=l.ours).map(|n| {
            managed(
                &reader_id(u32::try_from(n).unwrap_or(1)),
                false,
                "db.r6g.large",
                RUN,
            )
        }));
    }
    readers.extend(
        (1..=l.others).map(|n| managed(&format!("old-{n}"), false, "db.r6g.large", "2026-11-24")),
    );
    let mut snap = snapshot_with(l.desired, l.target, &readers);
    let c = &mut snap.clusters[0];
    c.engine = match table {
        "aurora" => "aurora-mysql",
        other => other,
    }
    .into();
    c.replica_target = l.replica_target.filter(|_| table == "aurora");
    c.serverless = l.serverless.map(|(min, max)| ServerlessScaling {
        min: Dcu::nearest(f64::from(min)),
        max: Dcu::nearest(f64::from(max)),
    });
    snap
}

/// The rules every planned call must keep, checked by reading the calls themselves.
fn keeps_the_rules(
    s: &Scenario,
    snap: &Snapshot,
    baseline: Option<&Baseline>,
    plan: &Plan,
    at_scale_up: bool,
) -> Result<(), TestCaseError> {
    let ctx = SafetyContext {
        scenario: s,
        run: RUN,
        snapshot: snap,
        baseline,
    };
    prop_assert_eq!(
        check(plan, &ctx),
        vec![],
        "the check refused a planned call"
    );
    let ecs = &s.ecs[0];
    let live = &snap.clusters[0];
    let writer = live.sole_writer().map(|w| w.id.clone());
    let readers_before = live.readers().count();
    let mut creates = 0;
    for call in &plan.calls {
        // Never a resource outside the config.
        prop_assert!(
            call.cluster() == "batch" || call.cluster() == "db",
            "{call}"
        );
        match call {
            Call::UpdateService {
                service,
                desired,
                from,
                ..
            } => {
                prop_assert_eq!(service.as_str(), "worker");
                prop_assert!(
                    i64::from(*desired) <= i64::from(ecs.max),
                    "above max: {call}"
                );
                if at_scale_up {
                    prop_assert!(desired >= from, "lowered at scale-up: {call}");
                }
            }
            Call::RegisterScalableTarget { to, from, .. } => {
                prop_assert!(i64::from(to.min) <= i64::from(ecs.max), "above max: {call}");
                if at_scale_up {
                    prop_assert!(to.min >= from.min && to.max >= from.max, "{call}");
                }
            }
            Call::RegisterReplicaTarget { to, from, .. } => {
                prop_assert_eq!(s.aurora.len(), 1, "a replica target off Aurora");
                prop_assert!(to.min <= MAX_READERS as i32, "{call}");
                if at_scale_up {
                    prop_assert!(to.min >= from.min && to.max >= from.max, "{call}");
                }
            }
            Call::CreateDbInstance { instance, .. } => {
                prop_assert!(live.instance(instance).is_none(), "{call}");
                creates += 1;
            }
            Call::DeleteDbInstance { instance, .. } => {
                prop_assert!(Some(instance) != writer.as_ref(), "the writer: {call}");
                let i = live.instance(instance);
                prop_assert!(
                    i.is_some_and(|i| i.is_tagged_for_run(SCENARIO, RUN)),
                    "not added by this run: {call}"
                );
                prop_assert!(
                    !baseline.is_some_and(|b| b.has_instance("db", instance)),
                    "in the baseline: {call}"
                );
            }
            Call::ModifyDbInstanceClass { instance, .. } => {
                prop_assert!(Some(instance) != writer.as_ref(), "the writer: {call}");
            }
            Call::ModifyDbClusterCapacity { min, from, max, .. } => {
                prop_assert!(min <= max, "{call}");
                if at_scale_up {
                    prop_assert!(min >= from, "{call}");
                }
            }
            Call::FailoverDbCluster { .. } => {}
            // The worker kinds' own properties are in their planners' tests; these scenarios
            // configure none, so a call to one would be a resource outside the config.
            Call::UpdateComputeEnvironment { .. } | Call::UpdateAutoScalingGroup { .. } => {
                prop_assert!(
                    false,
                    "a worker kind this scenario does not configure: {call}"
                );
            }
        }
    }
    prop_assert!(readers_before + creates <= MAX_READERS.max(readers_before));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_kind_keeps_the_safety_rules_at_scale_up_and_scale_down(n in night(), l in live()) {
        let s = scenario(&n);
        let before = snapshot(n.table, &l, false);
        let up = plan_scale_up(&s, &before, RUN).expect("the world has every target");
        keeps_the_rules(&s, &before, None, &up, true)?;
        let baseline = capture_baseline(&s, &before, ts()).expect("baseline");
        // The night as it may be in the morning: this run's readers, others', changed values.
        let night = snapshot(n.table, &l, true);
        let down = plan_scale_down(&s, &baseline, &night, RUN);
        keeps_the_rules(&s, &night, Some(&baseline), &down, false)?;
    }
}
