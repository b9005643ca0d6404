use super::*;
use crate::config;
use crate::plan::{ClusterState, InstanceState, ServiceState};
use std::collections::BTreeMap;

const CONFIG: &str = r#"
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
[[scenario.ecs]]
cluster = "batch"
service = "worker"
desired = 6
max = 8
[[scenario.docdb]]
cluster = "db"
replicas = 2
instance_class = "db.r6g.large"
[scenario.scale_down]
quiet_for = "15m"
deadline = "07:30"
min_hold = "30m"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "JobsRunning"
stat = "Maximum"
period = "1m"
below = 1
[scenario.schedule]
scale_up = "22:00"
check_every = "10m"
days = ["MON", "TUE", "WED", "THU", "FRI"]
"#;

fn scenario() -> Scenario {
    config::parse(CONFIG, "t.toml")
        .expect("valid")
        .scenarios
        .remove(0)
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test time")
}

fn instance(id: &str, writer: bool, status: &str) -> InstanceState {
    InstanceState {
        id: id.into(),
        writer,
        class: "db.r6g.large".into(),
        pending_class: None,
        status: status.into(),
        promotion_tier: Some(15),
        tags: BTreeMap::new(),
        zone: None,
    }
}

fn snapshot(running: i32, reader_status: &str) -> Snapshot {
    Snapshot {
        services: vec![ServiceState {
            cluster: "batch".into(),
            service: "worker".into(),
            status: "ACTIVE".into(),
            desired: 6,
            running,
            pending: 6 - running,
            scalable_target: None,
            task: None,
        }],
        clusters: vec![ClusterState {
            cluster: "db".into(),
            engine: "docdb".into(),
            replica_target: None,
            status: "available".into(),
            instances: vec![
                instance("w", true, "available"),
                instance("r1", false, reader_status),
                instance("r2", false, reader_status),
            ],
            zones: Vec::new(),
            serverless: None,
        }],
        ..Snapshot::default()
    }
}

fn open_run() -> RunRecord {
    RunRecord {
        scenario: "nightly".into(),
        run: "2026-11-26".into(),
        status: RunStatus::Open,
        opened_at: ts("2026-11-26T13:00:00Z"),
        closed_at: None,
        opened_by: "up".into(),
        baseline: None,
        summary: String::new(),
    }
}

fn view_of(run: Option<&RunRecord>, snap: Result<&Snapshot, &str>) -> StatusView {
    let s = scenario();
    let state = ScenarioState::default();
    view(Inputs {
        scenario: &s,
        state: &state,
        run,
        last_event: None,
        snapshot: snap,
        now: ts("2026-11-26T13:01:00Z"),
    })
}

#[test]
fn the_phase_follows_the_run_and_the_live_capacity() {
    let run = open_run();
    let creating = snapshot(4, "creating");
    let v = view_of(Some(&run), Ok(&creating));
    assert_eq!(v.phase, Phase::ScalingUp);
    assert_eq!(v.clusters[0].readers_available, 0);
    assert_eq!(v.services[0].running, Some(4));
    assert!(
        line(&v).contains("4/6 running (desired 6, 2 pending)"),
        "{}",
        line(&v)
    );
    let ready = snapshot(6, "available");
    assert_eq!(view_of(Some(&run), Ok(&ready)).phase, Phase::Ready);
    assert_eq!(view_of(None, Ok(&ready)).phase, Phase::Day);
    // An unreadable live state is never "ready".
    let v = view_of(Some(&run), Err("DescribeServices timed out"));
    assert_eq!(v.phase, Phase::ScalingUp);
    assert_eq!(
        v.snapshot_error.as_deref(),
        Some("DescribeServices timed out")
    );
}

#[test]
fn the_next_step_is_the_schedules_first_after_now_on_its_days() {
    let s = scenario();
    // Thursday 2026-11-26 21:00 JST: tonight's scale-up.
    let n = next_step(&s, ts("2026-11-26T12:00:00Z")).expect("a next step");
    assert_eq!((n.step, n.at), (Step::ScaleUp, ts("2026-11-26T13:00:00Z")));
    // 22:05 JST: the 22:10 check.
    let n = next_step(&s, ts("2026-11-26T13:05:00Z")).expect("a next step");
    assert_eq!((n.step, n.at), (Step::Check, ts("2026-11-26T13:10:00Z")));
    // Saturday noon JST: no night on the weekend; Monday's scale-up.
    let n = next_step(&s, ts("2026-11-28T03:00:00Z")).expect("a next step");
    assert_eq!(n.at, ts("2026-11-30T13:00:00Z"));
}

#[test]
fn the_view_names_the_nights_profile_and_reads_its_targets_from_the_run() {
    use crate::config::{NightProfile, NightValues, TargetId, TargetKind, TargetNight};
    use crate::plan::{Baseline, RunState};
    let mut state = RunState::new(
        Baseline {
            taken_at: ts("2026-11-26T13:00:00Z"),
            services: Vec::new(),
            clusters: Vec::new(),
            environments: Vec::new(),
            groups: Vec::new(),
        },
        false,
    );
    state.profile = Some(NightProfile {
        name: "month-end".into(),
        scale_up: None,
        deadline: None,
        targets: vec![TargetNight {
            target: TargetId {
                kind: TargetKind::DocDb,
                name: "db".into(),
            },
            night: NightValues {
                replicas: Some(4),
                ..NightValues::default()
            },
        }],
    });
    let mut run = open_run();
    run.baseline = Some(state.to_json());
    let v = view_of(Some(&run), Ok(&snapshot(6, "available")));
    assert_eq!(v.profile, "month-end");
    assert_eq!(v.clusters[0].readers_target, 4);
    let first = render_text(&v);
    let first = first.lines().next().unwrap_or_default();
    assert!(first.ends_with("night: month-end"), "{first}");
    // With no run open, tonight by the calendar: 2026-11-26 is an ordinary Thursday.
    assert_eq!(
        view_of(None, Ok(&snapshot(6, "available"))).profile,
        "ordinary"
    );
}
