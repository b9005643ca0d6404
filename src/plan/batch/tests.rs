use super::super::fixtures::*;
use super::super::*;
use super::*;

fn calls(plan: &Plan) -> Vec<&Call> {
    plan.calls
        .iter()
        .filter(|c| matches!(c, Call::UpdateComputeEnvironment { .. }))
        .collect()
}

fn scale_up(min_vcpus: u32, env: EnvironmentState) -> Plan {
    let s = scenario_with_workers(min_vcpus, Some(256), 1, 10);
    plan_scale_up(&s, &snapshot_with_workers(env, group(1, 1, 10, 1)), RUN).unwrap()
}

#[test]
fn the_night_raises_min_and_desired_vcpus_and_the_morning_restores_min_only() {
    let s = scenario_with_workers(64, Some(256), 1, 10);
    let day = snapshot_with_workers(environment(0, 256, 0), group(1, 1, 10, 1));
    let plan = plan_scale_up(&s, &day, RUN).unwrap();
    assert_eq!(
        calls(&plan),
        [&Call::UpdateComputeEnvironment {
            environment: "ce".into(),
            min: 64,
            from: 0,
            desired: Some(64),
            desired_from: Some(0),
        }]
    );
    assert_eq!(
        calls(&plan)[0].detail(),
        "minvCpus 0 -> 64, desiredvCpus 0 -> 64"
    );
    let b = capture_baseline(&s, &day, ts()).unwrap();
    assert_eq!(
        (b.environments[0].min, b.environments[0].night_min),
        (0, 64)
    );
    // AWS raised desiredvCpus further for queued jobs: the morning sends minvCpus only.
    let night = snapshot_with_workers(environment(64, 256, 96), group(1, 1, 10, 1));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert_eq!(
        calls(&plan),
        [&Call::UpdateComputeEnvironment {
            environment: "ce".into(),
            min: 0,
            from: 64,
            desired: None,
            desired_from: None,
        }]
    );
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("desiredvCpus is left to AWS Batch")));
    // Back at the day's value: nothing more.
    assert!(calls(&plan_scale_down(&s, &b, &day, RUN)).is_empty());
}

#[test]
fn desired_vcpus_is_only_ever_raised_and_never_on_eks() {
    // Desired already above the night's minimum: only minvCpus.
    let plan = scale_up(64, environment(0, 256, 100));
    assert!(matches!(
        calls(&plan)[0],
        Call::UpdateComputeEnvironment { desired: None, .. }
    ));
    let mut eks = environment(0, 256, 0);
    eks.orchestration = "EKS".into();
    let plan = scale_up(64, eks);
    assert!(matches!(
        calls(&plan)[0],
        Call::UpdateComputeEnvironment {
            min: 64,
            desired: None,
            ..
        }
    ));
    assert!(plan.notes.iter().any(|n| n.contains("runs on EKS")));
}

#[test]
fn unmanaged_fargate_and_a_min_above_the_environments_max_are_refused_with_the_reason() {
    for (kind, resources, why) in [
        (
            "UNMANAGED",
            None,
            "is UNMANAGED: its instances are its owner's",
        ),
        (
            "MANAGED",
            Some("FARGATE"),
            "is a FARGATE environment: it keeps no instances warm",
        ),
        (
            "MANAGED",
            Some("FARGATE_SPOT"),
            "is a FARGATE_SPOT environment",
        ),
    ] {
        let mut env = environment(0, 256, 0);
        env.kind = kind.into();
        env.resources = resources.map(str::to_string);
        let plan = scale_up(64, env.clone());
        assert!(calls(&plan).is_empty(), "{kind} {resources:?}");
        assert!(
            plan.notes.iter().any(|n| n.contains(why)),
            "{:?}",
            plan.notes
        );
        assert!(plan.waiting.is_empty());
        let s = scenario_with_workers(64, None, 1, 10);
        let snap = snapshot_with_workers(env, group(1, 1, 10, 1));
        let b = capture_baseline(&s, &snap, ts()).unwrap();
        assert_eq!(
            b.environments[0].night_min, 0,
            "nothing set, nothing to restore"
        );
        assert!(readiness(&s, &snap)
            .degraded
            .iter()
            .any(|d| d.contains(why)));
    }
    // Spot is managed EC2 capacity: scaled.
    let mut spot = environment(0, 256, 0);
    spot.resources = Some("SPOT".into());
    assert_eq!(calls(&scale_up(64, spot)).len(), 1);
    let plan = scale_up(64, environment(0, 32, 0));
    assert!(calls(&plan).is_empty());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("min_vcpus 64 is above its maxvCpus 32")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn an_environment_that_cannot_take_an_update_is_deferred_and_a_check_raises_it_later() {
    let s = scenario_with_workers(64, None, 1, 10);
    for (status, state, says) in [
        ("UPDATING", "ENABLED", "is UPDATING"),
        ("INVALID", "ENABLED", "is INVALID (no subnets)"),
        ("VALID", "DISABLED", "is DISABLED"),
    ] {
        let mut env = environment(0, 256, 0);
        env.status = status.into();
        env.state = state.into();
        env.status_reason = (status == "INVALID").then(|| "no subnets".to_string());
        let day = snapshot_with_workers(env, group(1, 1, 10, 1));
        let plan = plan_scale_up(&s, &day, RUN).unwrap();
        assert!(calls(&plan).is_empty(), "{status}");
        assert!(
            plan.waiting.iter().any(|w| w.contains(says)),
            "{:?}",
            plan.waiting
        );
        let b = capture_baseline(&s, &day, ts()).unwrap();
        // Still not ready at the next check: still waiting, no call.
        let again = plan_deferred(&s, &b, &day, RUN);
        assert!(calls(&again).is_empty() && !again.waiting.is_empty());
        // Ready: the check makes the raise.
        let ready = snapshot_with_workers(environment(0, 256, 0), group(1, 1, 10, 1));
        let plan = plan_deferred(&s, &b, &ready, RUN);
        assert!(matches!(
            calls(&plan)[..],
            [Call::UpdateComputeEnvironment { min: 64, .. }]
        ));
        // Someone set another value meanwhile: theirs, left alone.
        let theirs = snapshot_with_workers(environment(16, 256, 16), group(1, 1, 10, 1));
        assert!(plan_deferred(&s, &b, &theirs, RUN).is_done());
    }
}

#[test]
fn drift_during_the_night_is_recorded_and_left_alone() {
    let s = scenario_with_workers(64, None, 1, 10);
    let day = snapshot_with_workers(environment(4, 256, 4), group(1, 1, 10, 1));
    let b = capture_baseline(&s, &day, ts()).unwrap();
    let night = snapshot_with_workers(environment(32, 256, 32), group(1, 1, 10, 1));
    let plan = plan_scale_down(&s, &b, &night, RUN);
    assert!(calls(&plan).is_empty());
    assert!(
        plan.drift
            .iter()
            .any(|d| d.contains("ce: minvCpus is 32 but nightshift set 64")),
        "{:?}",
        plan.drift
    );
    // An UPDATING environment at the night's value waits for its restore.
    let mut updating = environment(64, 256, 64);
    updating.status = "UPDATING".into();
    let plan = plan_scale_down(
        &s,
        &b,
        &snapshot_with_workers(updating, group(1, 1, 10, 1)),
        RUN,
    );
    assert!(calls(&plan).is_empty() && !plan.waiting.is_empty());
}

#[test]
fn never_lowered_at_scale_up_and_a_missing_environment_stops_it_with_the_fix() {
    let plan = scale_up(64, environment(128, 256, 128));
    assert!(calls(&plan).is_empty());
    assert!(plan
        .notes
        .iter()
        .any(|n| n.contains("above the night's 64")));
    let s = scenario_with_workers(64, None, 1, 10);
    let mut snap = snapshot_with_workers(environment(0, 256, 0), group(1, 1, 10, 1));
    snap.environments.clear();
    let err = plan_scale_up(&s, &snap, RUN).unwrap_err();
    assert!(
        err.to_string()
            .contains("Batch compute environment \"ce\" was not found")
            && err.to_string().contains("[[scenario.batch]]"),
        "{err}"
    );
}

#[test]
fn readiness_waits_for_the_nights_minimum() {
    let s = scenario_with_workers(64, None, 1, 10);
    let r = readiness(
        &s,
        &snapshot_with_workers(environment(0, 256, 0), group(1, 1, 10, 1)),
    );
    assert!(!r.ready);
    assert!(
        r.waiting
            .iter()
            .any(|w| w == "ce: minvCpus 0 of the night's 64"),
        "{r:?}"
    );
    let r = readiness(
        &s,
        &snapshot_with_workers(environment(64, 256, 64), group(1, 1, 10, 1)),
    );
    assert!(r.ready, "{r:?}");
}
