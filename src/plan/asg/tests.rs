use super::super::fixtures::*;
use super::super::*;
use super::*;

fn updates(plan: &Plan) -> Vec<&Call> {
    plan.calls
        .iter()
        .filter(|c| matches!(c, Call::UpdateAutoScalingGroup { .. }))
        .collect()
}

fn up(min: u32, max: u32, g: GroupState) -> Plan {
    let s = scenario_with_workers(8, None, min, max);
    plan_scale_up(&s, &snapshot_with_workers(environment(8, 256, 8), g), RUN).unwrap()
}

#[test]
fn the_night_raises_min_and_desired_and_a_low_max_and_the_morning_restores_them() {
    let s = scenario_with_workers(8, None, 4, 10);
    let day = snapshot_with_workers(environment(8, 256, 8), group(0, 1, 2, 1));
    let plan = plan_scale_up(&s, &day, RUN).unwrap();
    let size = GroupSize {
        min: 0,
        max: 2,
        desired: 1,
    };
    assert_eq!(
        updates(&plan),
        [&Call::UpdateAutoScalingGroup {
            group: "workers".into(),
            min: Some(4),
            max: Some(4),
            desired: Some(4),
            from: size,
        }]
    );
    assert_eq!(
        updates(&plan)[0].detail(),
        "MinSize 0 -> 4, DesiredCapacity 1 -> 4, MaxSize 2 -> 4"
    );
    let b = capture_baseline(&s, &day, ts()).unwrap();
    let night = snapshot_with_workers(environment(8, 256, 8), group(4, 4, 4, 4));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert_eq!(
        updates(&plan),
        [&Call::UpdateAutoScalingGroup {
            group: "workers".into(),
            min: Some(0),
            max: Some(2),
            desired: Some(1),
            from: GroupSize {
                min: 4,
                max: 4,
                desired: 4
            },
        }]
    );
    assert!(plan_scale_down(&s, &b, &day, RUN).is_done());
}

#[test]
fn a_high_max_is_kept_and_nothing_is_ever_lowered_at_scale_up() {
    let plan = up(4, 10, group(1, 2, 20, 2));
    assert!(matches!(
        updates(&plan)[..],
        [Call::UpdateAutoScalingGroup {
            min: Some(4),
            desired: Some(4),
            max: None,
            ..
        }]
    ));
    let plan = up(4, 10, group(6, 12, 20, 12));
    assert!(updates(&plan).is_empty());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("above the configured max 10")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn drift_is_left_alone_field_by_field_and_the_bounds_stay_valid() {
    let s = scenario_with_workers(8, None, 4, 10);
    let day = snapshot_with_workers(environment(8, 256, 8), group(0, 1, 2, 1));
    let b = capture_baseline(&s, &day, ts()).unwrap();
    // A scaling policy took desired to 7 (max raised by hand to 8): min restored, the rest theirs.
    let night = snapshot_with_workers(environment(8, 256, 8), group(4, 7, 8, 7));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert_eq!(
        updates(&plan),
        [&Call::UpdateAutoScalingGroup {
            group: "workers".into(),
            min: Some(0),
            max: None,
            desired: None,
            from: GroupSize {
                min: 4,
                max: 8,
                desired: 7
            },
        }]
    );
    assert!(
        plan.drift[0].contains("DesiredCapacity is 7 but nightshift set 4"),
        "{:?}",
        plan.drift
    );
    assert!(plan.drift[0].contains("MaxSize is 8 but nightshift set 4"));
    // Someone's MinSize of 3 holds the restored desired capacity and MaxSize up.
    let night = snapshot_with_workers(environment(8, 256, 8), group(3, 4, 4, 4));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert_eq!(
        updates(&plan),
        [&Call::UpdateAutoScalingGroup {
            group: "workers".into(),
            min: None,
            max: Some(3),
            desired: Some(3),
            from: GroupSize {
                min: 3,
                max: 4,
                desired: 4
            },
        }]
    );
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("DesiredCapacity restored to 3 rather than 1")));
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("MaxSize restored to 3 rather than 2"))
            || updates(&plan).len() == 1
    );
}

#[test]
fn protection_warm_pools_and_suspended_processes_are_left_alone_and_said_so() {
    let mut g = group(0, 1, 2, 1);
    g.protected = 1;
    g.protects_new = true;
    g.warm_pool = Some(3);
    g.suspended = vec!["Launch".into(), "Terminate".into()];
    let plan = up(4, 10, g.clone());
    assert_eq!(updates(&plan).len(), 1);
    let notes = plan.notes.join("\n");
    for line in [
        "scale-in protection (1 instance(s) protected, new instances protected) left alone",
        "warm pool (3 instance(s)) left alone",
        "suspended processes Launch, Terminate left alone: with Launch suspended the raised capacity starts no instance",
        "with Terminate suspended the restored capacity stops no instance",
    ] {
        assert!(notes.contains(line), "{line}\n{notes}");
    }
    // Launch suspended: the missing instances are a shortfall, not something to wait for.
    let s = scenario_with_workers(8, None, 4, 10);
    let mut night = g;
    night.size = GroupSize {
        min: 4,
        max: 4,
        desired: 4,
    };
    let r = readiness(&s, &snapshot_with_workers(environment(8, 256, 8), night));
    assert!(r.ready, "{r:?}");
    assert!(r
        .degraded
        .iter()
        .any(|d| d.contains("1 of 4 instances in service (Launch is suspended)")));
}

#[test]
fn readiness_waits_for_instances_in_service_and_a_missing_group_stops_the_scale_up() {
    let s = scenario_with_workers(8, None, 4, 10);
    let r = readiness(
        &s,
        &snapshot_with_workers(environment(8, 256, 8), group(4, 4, 4, 2)),
    );
    assert_eq!(r.waiting, ["workers: 2 of 4 instances in service"]);
    let mut snap = snapshot_with_workers(environment(8, 256, 8), group(4, 4, 4, 4));
    assert!(readiness(&s, &snap).ready);
    snap.groups[0].status = Some("Delete in progress".into());
    let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
    assert!(
        err.to_string().contains(
            "Auto Scaling group \"workers\" was not found (its status is Delete in progress)"
        ),
        "{err}"
    );
}

#[test]
fn a_step_orders_databases_first_going_up_and_workers_first_going_down() {
    let s = scenario_with_workers(8, None, 4, 10);
    let mut day = snapshot_with_workers(environment(0, 256, 0), group(0, 0, 2, 0));
    day.services[0].desired = 2;
    let kinds =
        |plan: &Plan| -> Vec<&'static str> { plan.calls.iter().map(|c| c.service()).collect() };
    let plan = plan_scale_up(&s, &day, RUN).unwrap();
    assert_eq!(kinds(&plan), ["docdb", "batch", "autoscaling", "ecs"]);
    let b = capture_baseline(&s, &day, ts()).unwrap();
    let mut night = snapshot_with_workers(environment(8, 256, 8), group(4, 4, 4, 4));
    night.services[0].desired = 10;
    night.clusters[0]
        .instances
        .push(managed(&reader_id(1), false, "db.r6g.large", RUN));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert_eq!(kinds(&plan), ["ecs", "batch", "autoscaling", "docdb"]);
}
