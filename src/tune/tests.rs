use super::*;
use crate::config;

const CONFIG: &str = r#"
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "batch"
  service = "worker"
  desired = 10
  max = 20
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "01:00"
  min_hold = "30m"
  missing_data = "busy"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "JobsRunning"
dimensions = { Job = "nightly" }
stat = "Maximum"
period = "1m"
below = 1
"#;

const SCHEDULE: &str = r#"
  [scenario.schedule]
  scale_up = "22:00"
  check_every = "15m"
"#;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

fn current(text: &str) -> Setting {
    let cfg = config::parse(text, "t.toml").expect("valid test config");
    Setting {
        label: "current".into(),
        scenario: cfg.scenarios[0].clone(),
    }
}

/// 3 jobs from 12:30Z to `busy_until`, 0 after, to 16:30Z.
fn night(settings: &[Setting], busy_until: &str, checks: &[&str]) -> NightInput {
    let spec = queries(settings)[0].clone();
    let until = ts(busy_until);
    let mut points = Vec::new();
    let mut t = ts("2026-11-20T12:30:00Z");
    while t < ts("2026-11-20T16:30:00Z") {
        points.push((t, if t < until { 3.0 } else { 0.0 }));
        t += SignedDuration::from_mins(1);
    }
    NightInput {
        run: "2026-11-20".into(),
        opened_at: ts("2026-11-20T13:00:00Z"),
        closed_at: None,
        actual_close: None,
        checks: checks.iter().map(|c| ts(c)).collect(),
        forced_at: None,
        added_readers: 3,
        added_tasks: 8,
        added_vcpus: 0,
        added_instances: 0,
        ready_at: None,
        metrics: MetricsFetch::Windows(vec![MetricWindow { spec, points }]),
    }
}

#[test]
fn a_candidate_closes_at_the_first_check_the_gate_lets_through() {
    let cur = current(CONFIG);
    let short = candidate(CONFIG, "t.toml", "nightly", "quiet_for=5m").expect("valid");
    let settings = vec![cur.clone(), short];
    let checks: Vec<String> = (1..=8)
        .map(|k| format!("2026-11-20T{}:{:02}:00Z", 13 + (k * 10) / 60, (k * 10) % 60))
        .collect();
    let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
    let n = night(&settings, "2026-11-20T13:50:00Z", &refs);
    let report = replay(
        &cur.scenario,
        &settings,
        &[n],
        ts("2026-11-19T00:00:00Z"),
        vec![],
    );
    assert_eq!(report.replays.len(), 1, "no schedule: recorded checks only");
    let row = &report.replays[0].nights[0];
    // Busy until 13:49: 15 settled quiet minutes at 14:10 (window 13:53-14:08), 5 at 14:00.
    assert_eq!(row.settings[0].at, Some(ts("2026-11-20T14:10:00Z")));
    assert_eq!(row.settings[1].at, Some(ts("2026-11-20T14:00:00Z")));
    assert_eq!(row.settings[0].rule, Some(CloseRule::Quiet));
    // 70 minutes × 3 readers = 3.5 reader-hours; × 8 tasks.
    assert_eq!(row.settings[0].reader_hours, 3.5);
    assert_eq!(row.settings[0].task_hours, 70.0 * 8.0 / 60.0);
    assert!(row.settings.iter().all(|c| c.premature.is_none()));
}

#[test]
fn the_worker_kinds_capacity_counts_as_vcpu_and_instance_hours_of_each_setting() {
    let cur = current(CONFIG);
    let short = candidate(CONFIG, "t.toml", "nightly", "quiet_for=5m").expect("valid");
    let settings = vec![cur.clone(), short];
    let checks: Vec<String> = (1..=8)
        .map(|k| format!("2026-11-20T{}:{:02}:00Z", 13 + (k * 10) / 60, (k * 10) % 60))
        .collect();
    let refs: Vec<&str> = checks.iter().map(String::as_str).collect();
    let mut n = night(&settings, "2026-11-20T13:50:00Z", &refs);
    n.added_vcpus = 64;
    n.added_instances = 3;
    let report = replay(
        &cur.scenario,
        &settings,
        &[n],
        ts("2026-11-19T00:00:00Z"),
        vec![],
    );
    let row = &report.replays[0].nights[0];
    // 70 minutes (current) and 60 minutes (candidate) of 64 vCPUs and 3 instances.
    assert_eq!(row.settings[0].vcpu_hours, 70.0 * 64.0 / 60.0);
    assert_eq!(row.settings[1].instance_hours, 3.0);
    let total = report.replays[0].totals.last().expect("totals");
    assert_eq!((total.vcpu_hours, total.instance_hours), (64.0, 3.0));
}

#[test]
fn a_quiet_close_before_the_batch_comes_back_is_premature() {
    let cur = current(CONFIG);
    let settings = vec![cur.clone()];
    let mut n = night(&settings, "2026-11-20T13:20:00Z", &["2026-11-20T13:40:00Z"]);
    if let MetricsFetch::Windows(w) = &mut n.metrics {
        w[0].points.push((ts("2026-11-20T14:05:00Z"), 2.0));
    }
    let report = replay(
        &cur.scenario,
        &settings,
        &[n],
        ts("2026-11-19T00:00:00Z"),
        vec![],
    );
    let close = &report.replays[0].nights[0].settings[0];
    assert_eq!(close.at, Some(ts("2026-11-20T13:40:00Z")));
    let p = close.premature.as_ref().expect("premature");
    assert_eq!((p.at, p.value), (ts("2026-11-20T14:05:00Z"), 2.0));
    assert_eq!(report.replays[0].totals[1].premature, 1);
}

#[test]
fn after_the_recorded_checks_the_replay_goes_on_and_the_deadline_closes_it() {
    let cur = current(CONFIG);
    let settings = vec![cur.clone()];
    // Busy all night; the recorded checks stop at 13:20: the deadline (01:00 JST) closes it.
    let n = night(
        &settings,
        "2026-11-20T17:00:00Z",
        &["2026-11-20T13:10:00Z", "2026-11-20T13:20:00Z"],
    );
    let report = replay(
        &cur.scenario,
        &settings,
        &[n],
        ts("2026-11-19T00:00:00Z"),
        vec![],
    );
    let close = &report.replays[0].nights[0].settings[0];
    assert_eq!(close.at, Some(ts("2026-11-20T16:00:00Z")));
    assert_eq!(close.rule, Some(CloseRule::Deadline));
    assert!(close.extrapolated);
}

#[test]
fn with_a_schedule_the_nights_are_also_replayed_every_check_every() {
    let text = format!("{CONFIG}{SCHEDULE}");
    let cur = current(&text);
    let settings = vec![cur.clone()];
    let n = night(&settings, "2026-11-20T13:50:00Z", &["2026-11-20T14:10:00Z"]);
    let report = replay(
        &cur.scenario,
        &settings,
        &[n],
        ts("2026-11-19T00:00:00Z"),
        vec![],
    );
    assert_eq!(report.replays.len(), 2);
    assert_eq!(report.replays[1].checks, "schedule");
    // Every 15 minutes: 14:00 still sees 13:49 busy (window 13:43-13:58), 14:15 is quiet.
    let close = &report.replays[1].nights[0].settings[0];
    assert_eq!(close.at, Some(ts("2026-11-20T14:15:00Z")));
    let table = render_table(&report, &cur.scenario.timezone);
    assert!(table.contains("checks schedule: every 15m"), "{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
}

#[test]
fn a_candidate_changing_the_period_gets_its_own_query_one_changing_below_does_not() {
    let cur = current(CONFIG);
    let below = candidate(CONFIG, "t.toml", "nightly", "metric.below=5").expect("valid");
    let period = candidate(CONFIG, "t.toml", "nightly", "metric[0].period=5m").expect("valid");
    assert_eq!(queries(&[cur.clone(), below]).len(), 1);
    assert_eq!(queries(&[cur, period]).len(), 2);
}

#[test]
fn set_errors_are_the_config_messages() {
    let e =
        candidate(CONFIG, "t.toml", "nightly", "quiet_for=30s").expect_err("shorter than a period");
    assert!(
        e.contains("quiet_for (30s) is shorter than one period (1m) of metric[0]"),
        "{e}"
    );
    let e = candidate(CONFIG, "t.toml", "nightly", "missing_data=bussy").expect_err("typo");
    assert!(e.contains("did you mean \"busy\"?"), "{e}");
    let e =
        candidate(CONFIG, "t.toml", "nightly", "metric[3].below=1").expect_err("no such metric");
    assert!(e.contains("1 metric(s)"), "{e}");
    let e = candidate(CONFIG, "t.toml", "nightly", "deadline").expect_err("no value");
    assert!(e.contains("expected KEY=VALUE"), "{e}");
}
