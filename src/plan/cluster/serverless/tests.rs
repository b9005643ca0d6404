use super::*;
use crate::plan::fixtures::*;
use crate::plan::*;

fn dcu(v: f64) -> Dcu {
    Dcu::from_f64(v).unwrap()
}

fn capacity_calls(plan: &Plan) -> Vec<&Call> {
    plan.calls
        .iter()
        .filter(|c| matches!(c, Call::ModifyDbClusterCapacity { .. }))
        .collect()
}

#[test]
fn scale_up_raises_min_capacity_only_and_scale_down_restores_it() {
    let s = scenario_with_docdb(0, "serverless_min = 16");
    let snap = zoned_snapshot(&["us-east-1a"], Some((2.0, 64.0)));
    let plan = plan_scale_up(&s, &snap, RUN).unwrap();
    assert_eq!(
        capacity_calls(&plan),
        [&Call::ModifyDbClusterCapacity {
            cluster: "db".into(),
            min: dcu(16.0),
            from: dcu(2.0),
            max: dcu(64.0),
        }]
    );
    assert_eq!(
        plan.calls[0].to_string(),
        "ModifyDBCluster db (ServerlessV2ScalingConfiguration MinCapacity 2 -> 16 (MaxCapacity 64 unchanged))"
    );
    let baseline = capture_baseline(&s, &snap, ts()).unwrap();
    let recorded = baseline.clusters[0].serverless.unwrap();
    assert_eq!(
        (recorded.before.min, recorded.night_min),
        (dcu(2.0), dcu(16.0))
    );
    // The baseline survives the run record's JSON.
    let state = RunState::new(baseline.clone(), false);
    assert_eq!(RunState::from_json(&state.to_json()).unwrap(), state);

    let mut night = snap.clone();
    night.clusters[0].serverless = Some(ServerlessScaling {
        min: dcu(16.0),
        max: dcu(64.0),
    });
    assert!(capacity_calls(&plan_scale_up(&s, &night, RUN).unwrap()).is_empty());
    let down = plan_scale_down(&s, &baseline, &night, RUN);
    assert_eq!(
        capacity_calls(&down),
        [&Call::ModifyDbClusterCapacity {
            cluster: "db".into(),
            min: dcu(2.0),
            from: dcu(16.0),
            max: dcu(64.0),
        }]
    );
    // Back at the baseline: nothing left to do.
    let down = plan_scale_down(&s, &baseline, &snap, RUN);
    assert!(capacity_calls(&down).is_empty());
    assert!(
        down.notes.iter().any(|n| n.contains("already back at 2")),
        "{down:?}"
    );
}

#[test]
fn a_serverless_only_cluster_without_an_instance_class_scales_its_min_capacity_and_adds_no_reader()
{
    let mut s = scenario_with_docdb(0, "serverless_min = 16");
    s.docdb[0].instance_class = None;
    let snap = zoned_snapshot(&["us-east-1a"], Some((2.0, 64.0)));
    let plan = plan_scale_up(&s, &snap, RUN).unwrap();
    assert_eq!(capacity_calls(&plan).len(), 1, "{plan:?}");
    assert!(
        !plan
            .calls
            .iter()
            .any(|c| matches!(c, Call::CreateDbInstance { .. })),
        "{plan:?}"
    );
    let baseline = capture_baseline(&s, &snap, ts()).unwrap();
    assert_eq!(
        safety::check(
            &plan,
            &safety::SafetyContext {
                scenario: &s,
                run: RUN,
                snapshot: &snap,
                baseline: Some(&baseline),
            }
        ),
        []
    );
}

#[test]
fn min_capacity_changed_during_the_night_is_drift_left_alone() {
    let s = scenario_with_docdb(0, "serverless_min = 16");
    let snap = zoned_snapshot(&[], Some((2.0, 64.0)));
    let baseline = capture_baseline(&s, &snap, ts()).unwrap();
    let mut night = snap.clone();
    night.clusters[0].serverless = Some(ServerlessScaling {
        min: dcu(24.0),
        max: dcu(64.0),
    });
    let down = plan_scale_down(&s, &baseline, &night, RUN);
    assert!(capacity_calls(&down).is_empty());
    assert_eq!(
        down.drift,
        ["db: MinCapacity is 24 but nightshift set 16: changed during the night, left as it is (baseline 2)"]
    );
}

#[test]
fn refusals_plan_nothing_and_say_why() {
    let cases = [
        (None, "no ServerlessV2ScalingConfiguration"),
        (
            Some((2.0, 8.0)),
            "above the cluster's MaxCapacity 8 and cannot be met",
        ),
        (Some((0.5, 64.0)), "crosses 1.0 DCU, which would restart"),
    ];
    for (serverless, why) in cases {
        let s = scenario_with_docdb(0, "serverless_min = 16");
        let snap = zoned_snapshot(&[], serverless);
        let plan = plan_scale_up(&s, &snap, RUN).unwrap();
        assert!(plan.calls.is_empty(), "{plan:?}");
        assert!(
            plan.notes.iter().any(|n| n.contains(why)),
            "{why}: {:?}",
            plan.notes
        );
        // Nothing to restore either.
        let baseline = capture_baseline(&s, &snap, ts()).unwrap();
        assert!(capacity_calls(&plan_scale_down(&s, &baseline, &snap, RUN)).is_empty());
    }
    // Downwards across 1.0 too: a target below 1 on a cluster at 2 is "already above", never a
    // lowering; and 0.5 -> 0.5 is nothing.
    let s = scenario_with_docdb(0, "serverless_min = 0.5");
    let plan = plan_scale_up(&s, &zoned_snapshot(&[], Some((2.0, 8.0))), RUN).unwrap();
    assert!(plan.calls.is_empty());
    assert!(
        plan.notes.iter().any(|n| n.contains("already at or above")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn the_safety_check_refuses_max_changes_and_crossings() {
    let snap = zoned_snapshot(&[], Some((0.5, 64.0)));
    let c = &snap.clusters[0];
    assert!(check_call(c, dcu(0.5), dcu(64.0)).is_ok());
    assert!(check_call(c, dcu(0.5), dcu(128.0))
        .unwrap_err()
        .contains("never changes MaxCapacity"));
    assert!(check_call(c, dcu(2.0), dcu(64.0))
        .unwrap_err()
        .contains("crosses 1.0 DCU"));
    let snap = zoned_snapshot(&[], Some((2.0, 8.0)));
    assert!(check_call(&snap.clusters[0], dcu(16.0), dcu(8.0))
        .unwrap_err()
        .contains("above MaxCapacity"));
    assert!(check_call(&zoned_snapshot(&[], None).clusters[0], dcu(2.0), dcu(8.0)).is_err());
}

#[test]
fn readers_of_a_serverless_cluster_are_db_serverless() {
    let s = scenario_with_docdb(2, "serverless_min = 4");
    let plan = plan_scale_up(
        &s,
        &zoned_snapshot(&["us-east-1a", "us-east-1b"], Some((2.0, 64.0))),
        RUN,
    )
    .unwrap();
    let classes: Vec<&str> = plan
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::CreateDbInstance { class, .. } => Some(class.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(classes, ["db.serverless", "db.serverless"]);
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("new readers are db.serverless")));
}
