//! The cluster kind across its engines: Aurora and Neptune clusters planned as DocumentDB's are,
//! each checked against its table's engine, and Aurora's replica-count scalable target.

use crate::config::{self, Engine, Scenario};
use crate::plan::fixtures::*;
use crate::plan::safety::{check, Rule, SafetyContext};
use crate::plan::*;

fn scenario_in(table: &str, replicas: u8, keys: &str) -> Scenario {
    crate::plan::fixtures::scenario_in(table, 10, 20, replicas, keys)
}

/// The fixtures' snapshot with cluster `db` running `engine`.
fn snapshot_of(engine: &str, readers: &[InstanceState]) -> Snapshot {
    let mut snap = snapshot_with(10, None, readers);
    snap.clusters[0].engine = engine.into();
    snap
}

fn creates(plan: &Plan) -> Vec<(String, String)> {
    plan.calls
        .iter()
        .filter_map(|c| match c {
            Call::CreateDbInstance {
                instance, engine, ..
            } => Some((instance.clone(), engine.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn aurora_and_neptune_clusters_get_tagged_readers_created_with_their_own_engine() {
    for (table, engine) in [
        ("aurora", "aurora-postgresql"),
        ("aurora", "aurora-mysql"),
        ("neptune", "neptune"),
    ] {
        let s = scenario_in(table, 2, "");
        let plan = plan_scale_up(&s, &snapshot_of(engine, &[]), RUN).unwrap();
        assert_eq!(
            creates(&plan),
            [
                (reader_id(1), engine.to_string()),
                (reader_id(2), engine.to_string())
            ],
            "{table}"
        );
        let b = capture_baseline(&s, &snapshot_of(engine, &[]), ts()).unwrap();
        assert_eq!(b.clusters[0].engine.as_deref(), Some(engine));
        assert_eq!(b.clusters[0].family(), Engine::of(engine).unwrap());
        // The night's readers go at scale-down, the writer stays.
        let night = snapshot_of(
            engine,
            &[
                managed(&reader_id(1), false, "db.r6g.large", RUN),
                managed(&reader_id(2), false, "db.r6g.large", RUN),
            ],
        );
        let down = plan_scale_down(&s, &b, &night, RUN);
        let deleted: Vec<&str> = down
            .calls
            .iter()
            .filter_map(|c| match c {
                Call::DeleteDbInstance { instance, .. } => Some(instance.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted.len(), 2, "{table}: {down:?}");
        assert!(!deleted.contains(&"db-w"));
        let ctx = SafetyContext {
            scenario: &s,
            run: RUN,
            snapshot: &night,
            baseline: Some(&b),
        };
        assert_eq!(check(&down, &ctx), []);
    }
}

#[test]
fn a_table_naming_a_cluster_of_another_engine_is_refused_at_plan_time_with_the_reason() {
    let s = scenario_in("aurora", 2, "");
    let snap = snapshot_of("docdb", &[]);
    let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
    assert_eq!(
        err.to_string(),
        "[[scenario.aurora]] cluster \"db\" is not an Aurora cluster: its engine is docdb; move it to [[scenario.docdb]]"
    );
    assert_eq!(capture_baseline(&s, &snap, ts()).unwrap_err(), err);
    let err = plan_scale_up(
        &scenario_in("docdb", 2, ""),
        &snapshot_of("neptune", &[]),
        RUN,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("move it to [[scenario.neptune]]"), "{err}");
    let err = plan_scale_up(
        &scenario_in("neptune", 1, ""),
        &snapshot_of("mysql", &[]),
        RUN,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "its engine is mysql; nightshift scales DocumentDB, Aurora and Neptune clusters only"
        ),
        "{err}"
    );
    // A missing cluster names its own table.
    let mut gone = snapshot_of("aurora-mysql", &[]);
    gone.clusters.clear();
    let err = plan_scale_up(&s, &gone, RUN).unwrap_err().to_string();
    assert!(
        err.starts_with("Aurora cluster \"db\" was not found")
            && err.contains("[[scenario.aurora]]"),
        "{err}"
    );
    // Readiness says so too, rather than counting readers of the wrong cluster.
    let r = readiness(&s, &snap);
    assert!(!r.ready);
    assert!(
        r.waiting
            .contains(&"db: engine docdb, not Aurora".to_string()),
        "{r:?}"
    );
}

#[test]
fn an_aurora_replica_target_is_raised_after_the_readers_and_restored_before_they_go() {
    let s = scenario_in("aurora", 3, "");
    let mut before = snapshot_of("aurora-postgresql", &[]);
    before.clusters[0].replica_target = Some(Capacity { min: 1, max: 2 });
    let up = plan_scale_up(&s, &before, RUN).unwrap();
    let clusters: Vec<&Call> = up.calls.iter().filter(|c| c.cluster() == "db").collect();
    assert_eq!(
        clusters.last(),
        Some(&&Call::RegisterReplicaTarget {
            cluster: "db".into(),
            to: Capacity { min: 3, max: 3 },
            from: Capacity { min: 1, max: 2 },
        }),
        "{up:?}"
    );
    assert_eq!(
        clusters
            .iter()
            .filter(|c| matches!(c, Call::CreateDbInstance { .. }))
            .count(),
        3
    );
    let b = capture_baseline(&s, &before, ts()).unwrap();
    assert_eq!(
        b.clusters[0].night_replica_target,
        Some(Capacity { min: 3, max: 3 })
    );
    let mut night = snapshot_of(
        "aurora-postgresql",
        &[
            managed(&reader_id(1), false, "db.r6g.large", RUN),
            managed(&reader_id(2), false, "db.r6g.large", RUN),
            managed(&reader_id(3), false, "db.r6g.large", RUN),
            // A reader Aurora Auto Scaling added: never nightshift's.
            instance("application-autoscaling-1", false, "db.r6g.large"),
        ],
    );
    night.clusters[0].replica_target = Some(Capacity { min: 3, max: 3 });
    let down = plan_scale_down(&s, &b, &night, RUN);
    let first_db = down.calls.iter().find(|c| c.cluster() == "db");
    assert_eq!(
        first_db,
        Some(&Call::RegisterReplicaTarget {
            cluster: "db".into(),
            to: Capacity { min: 1, max: 2 },
            from: Capacity { min: 3, max: 3 },
        })
    );
    assert!(!down.calls.iter().any(
        |c| matches!(c, Call::DeleteDbInstance { instance, .. } if instance == "application-autoscaling-1")
    ));
    let ctx = SafetyContext {
        scenario: &s,
        run: RUN,
        snapshot: &night,
        baseline: Some(&b),
    };
    assert_eq!(check(&down, &ctx), []);
    // Someone changed it during the night: drift, left alone.
    night.clusters[0].replica_target = Some(Capacity { min: 5, max: 8 });
    let down = plan_scale_down(&s, &b, &night, RUN);
    assert!(!down
        .calls
        .iter()
        .any(|c| matches!(c, Call::RegisterReplicaTarget { .. })));
    assert!(
        down.drift
            .iter()
            .any(|d| d.contains("rds:cluster:ReadReplicaCount scalable target is min 5 max 8")),
        "{down:?}"
    );
}

#[test]
fn a_replica_target_is_raised_only_on_an_aurora_cluster_and_never_above_fifteen_readers() {
    let s = scenario_in("aurora", 3, "");
    let snap = snapshot_of("aurora-mysql", &[]);
    let ctx = SafetyContext {
        scenario: &s,
        run: RUN,
        snapshot: &snap,
        baseline: None,
    };
    let raise = |min, max| Plan {
        calls: vec![Call::RegisterReplicaTarget {
            cluster: "db".into(),
            to: Capacity { min, max },
            from: Capacity { min: 1, max: 2 },
        }],
        ..Plan::default()
    };
    let rules = |plan: &Plan, ctx: &SafetyContext<'_>| -> Vec<Rule> {
        check(plan, ctx).into_iter().map(|v| v.rule).collect()
    };
    assert_eq!(rules(&raise(3, 3), &ctx), []);
    assert_eq!(rules(&raise(16, 16), &ctx), [Rule::AboveMax]);
    assert_eq!(rules(&raise(3, 2), &ctx), [Rule::AboveMax]);
    let docdb = scenario_in("docdb", 3, "");
    let ctx = SafetyContext {
        scenario: &docdb,
        ..ctx
    };
    assert_eq!(rules(&raise(3, 3), &ctx), [Rule::NotConfigured]);
}

#[test]
fn serverless_rules_are_the_engines_own() {
    // DocumentDB: crossing 1.0 DCU restarts the instances.
    let docdb = scenario_in("docdb", 0, "serverless_min = 4");
    let mut snap = zoned_snapshot(&[], Some((0.5, 16.0)));
    let plan = plan_scale_up(&docdb, &snap, RUN).unwrap();
    assert!(
        plan.notes.iter().any(|n| n.contains("crosses 1.0 DCU")),
        "{plan:?}"
    );
    // Aurora: no restart at 1.0 ACU, the raise is made.
    let aurora = scenario_in("aurora", 0, "serverless_min = 4");
    snap.clusters[0].engine = "aurora-postgresql".into();
    let plan = plan_scale_up(&aurora, &snap, RUN).unwrap();
    assert!(
        plan.calls.iter().any(|c| matches!(
            c,
            Call::ModifyDbClusterCapacity { min, .. } if *min == config::Dcu::nearest(4.0)
        )),
        "{plan:?}"
    );
    // Aurora at 0 ACUs (auto-pause): refused, the reason names the lost interval.
    snap.clusters[0].serverless = Some(ServerlessScaling {
        min: config::Dcu::nearest(0.0),
        max: config::Dcu::nearest(16.0),
    });
    let plan = plan_scale_up(&aurora, &snap, RUN).unwrap();
    assert!(plan.calls.is_empty(), "{plan:?}");
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("auto-pause") && n.contains("SecondsUntilAutoPause")),
        "{plan:?}"
    );
    // Neptune: no crossing rule either.
    let neptune = scenario_in("neptune", 0, "serverless_min = 8");
    snap.clusters[0].engine = "neptune".into();
    snap.clusters[0].serverless = Some(ServerlessScaling {
        min: config::Dcu::nearest(1.0),
        max: config::Dcu::nearest(32.0),
    });
    let plan = plan_scale_up(&neptune, &snap, RUN).unwrap();
    assert_eq!(plan.calls.len(), 1, "{plan:?}");
}
