//! `nightshift tune` against the emulator: five nights played through the real
//! handler (scale-up at 22:00 JST, a check every 10 minutes) over batch metrics the test writes
//! with explicit timestamps, then replayed with the current settings and two candidates. The
//! expected closes below are worked out by hand from the metrics and the gate's rules (a window
//! of `quiet_for` settled minutes ending 2 minutes before the check, min_hold 30m, deadline
//! 01:00 JST = 16:00Z), independently of the replay code.

use crate::{harness, support};
use jiff::{SignedDuration, Timestamp};
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::tune;
use serde_json::Value;
use std::sync::Arc;

/// The nights' local dates; each scales up at 22:00 JST (13:00Z).
const NIGHTS: [&str; 5] = [
    "2026-11-20",
    "2026-11-21",
    "2026-11-22",
    "2026-11-23",
    "2026-11-24",
];
const CANDIDATE_A: &str = "quiet_for=5m";
const CANDIDATE_B: &str = "quiet_for=30m";

/// Busy (3 jobs) spans of each night, as minutes after 13:00Z; 0 every other minute from 12:30Z
/// to 16:40Z. Night 2 is busy again after a 10-minute quiet spell; night 3 runs past the deadline.
const BUSY: [&[(i64, i64)]; 5] = [
    &[(-30, 50)],
    &[(-30, 40), (50, 80)],
    &[(-30, 210)],
    &[(-30, 20)],
    &[(-30, 90)],
];

/// Expected close, minutes after the scale-up, and rule: (current, A = quiet_for 5m, B =
/// quiet_for 30m). Worked out by hand; B closes after the last recorded check but on the deadline night.
const EXPECTED: [[(i64, &str); 3]; 5] = [
    [(70, "quiet"), (60, "quiet"), (90, "quiet")],
    [(100, "quiet"), (50, "quiet"), (120, "quiet")],
    [(180, "deadline"), (180, "deadline"), (180, "deadline")],
    [(40, "quiet"), (30, "quiet"), (60, "quiet")],
    [(110, "quiet"), (100, "quiet"), (130, "quiet")],
];

/// Readers (replicas 2 over a writer-only cluster) and tasks (desired 6 over a baseline of 2)
/// the nights add.
const ADDED_READERS: i64 = 2;
const ADDED_TASKS: i64 = 4;

pub struct History {
    pub config_path: tempfile::TempPath,
    pub config: Config,
    pub table: String,
    pub job: String,
}

fn config_text(table: &str, cluster: &str, service: &str, db: &str, job: &str) -> String {
    format!(
        r#"table = "{table}"

[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{cluster}"
  service = "{service}"
  desired = 6
  max = 8
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 2
  instance_class = "db.r6g.large"
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "01:00"
  min_hold = "30m"
  missing_data = "busy"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    dimensions = {{ Job = "{job}" }}
    stat = "Maximum"
    period = "1m"
    below = 1
"#
    )
}

fn up_at(night: usize) -> Timestamp {
    format!("{}T13:00:00Z", NIGHTS[night]).parse().unwrap()
}

fn minutes(t: Timestamp, m: i64) -> Timestamp {
    t + SignedDuration::from_mins(m)
}

async fn send(app: &App, step: &str, id: &str, now: Timestamp) -> nightshift::Response {
    let payload = format!(r#"{{"scenario": "nightly", "step": "{step}", "id": "{id}"}}"#);
    let inv = Invocation {
        request_id: id.to_string(),
        deadline: None,
        now,
        function_arn: None,
    };
    app.handle(payload.as_bytes(), &inv)
        .await
        .unwrap_or_else(|e| panic!("{step} at {now}: {e}"))
}

/// Writes the metrics and plays the five nights through the handler: a scale-up at 13:00Z, a
/// check every 10 minutes until the run is closed.
pub async fn five_nights() -> History {
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let (cluster, service, db, job) = (
        support::unique("tune"),
        support::unique("worker"),
        support::unique("tunedb"),
        support::unique("job"),
    );
    support::create_ecs_service(&sdk, &cluster, &service, 2).await;
    support::create_docdb_cluster(&sdk, &db).await;
    let text = config_text(&table, &cluster, &service, &db, &job);
    let config = config::parse(&text, "tune-test.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut file = tempfile::NamedTempFile::new().expect("temp config");
    std::io::Write::write_all(&mut file, text.as_bytes()).expect("write config");
    let config_path = file.into_temp_path();

    for (n, spans) in BUSY.iter().enumerate() {
        let up = up_at(n);
        let mut from = minutes(up, -30);
        for &(a, b) in *spans {
            let (a, b) = (minutes(up, a), minutes(up, b));
            if from < a {
                harness::publish_job_metric("JobsRunning", &job, from, a, 0.0).await;
            }
            harness::publish_job_metric("JobsRunning", &job, a, b, 3.0).await;
            from = b;
        }
        harness::publish_job_metric("JobsRunning", &job, from, minutes(up, 220), 0.0).await;
    }

    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &table,
        Timeouts::default(),
    );
    let app = App::build(
        Arc::new(config.clone()),
        harness::settings(),
        Adapters::new(
            store.clone(),
            ScalingClients::from_sdk_config(&sdk, Timeouts::default()),
        ),
    );
    for n in 0..NIGHTS.len() {
        let up = up_at(n);
        let r = send(&app, "scale-up", &format!("n{n}-up"), up).await;
        assert_eq!(r.outcome, nightshift::Outcome::Acted, "{r:?}");
        for k in 1..=20 {
            let r = send(&app, "check", &format!("n{n}-c{k}"), minutes(up, 10 * k)).await;
            let open = nightshift::ports::HistoryStore::latest_open_run(&store, "nightly")
                .await
                .expect("read the open run");
            if open.is_none() {
                break;
            }
            assert!(k < 20, "night {n} never closed: {r:?}");
        }
    }
    History {
        config_path,
        config,
        table,
        job,
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close_matches(close: &Value, up: Timestamp, (m, rule): (i64, &str), what: &str) {
    let at: Timestamp = close["at"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no close time in {close}"))
        .parse()
        .unwrap();
    assert_eq!(at, minutes(up, m), "{what}: close time in {close}");
    assert_eq!(close["rule"], rule, "{what}: rule in {close}");
    let expected_r = (m * 60 * ADDED_READERS) as f64 / 3600.0;
    let expected_t = (m * 60 * ADDED_TASKS) as f64 / 3600.0;
    assert!(
        (num(&close["reader_hours"]) - expected_r).abs() < 1e-9,
        "{what}: reader-hours {} != {expected_r}",
        close["reader_hours"]
    );
    assert!(
        (num(&close["task_hours"]) - expected_t).abs() < 1e-9,
        "{what}: task-hours {} != {expected_t}",
        close["task_hours"]
    );
}

#[tokio::test]
async fn tune_replays_five_nights_with_two_candidates_exactly_and_flags_the_premature_close() {
    let history = five_nights().await;
    let now = "2026-11-25T12:00:00Z";

    // In process, with every call logged: read-only, one GetMetricData per night.
    let log = CallLog::new();
    let sdk = support::sdk_config().await;
    let store = DynamoStore::new(
        harness::logged_client(&log).await,
        &history.table,
        Timeouts::default(),
    );
    let scaling = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
    let text = std::fs::read_to_string(&history.config_path).unwrap();
    let current = history.config.scenario("nightly").unwrap().clone();
    let settings = vec![
        tune::Setting {
            label: "current".into(),
            scenario: current.clone(),
        },
        tune::candidate(&text, "tune-test.toml", "nightly", CANDIDATE_A).expect("A"),
        tune::candidate(&text, "tune-test.toml", "nightly", CANDIDATE_B).expect("B"),
    ];
    let since: Timestamp = "2026-11-11T12:00:00Z".parse().unwrap();
    let (nights, open) = tune::gather(&store, &scaling, &settings, since)
        .await
        .expect("gather");
    assert_eq!((nights.len(), open.len()), (5, 0));
    let calls = log.calls();
    assert!(
        calls.iter().all(|c| !c.is_mutating()),
        "tune made a mutating call: {calls:?}"
    );
    let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert!(
        ops.iter()
            .all(|o| ["GetItem", "Query", "GetMetricData"].contains(o)),
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| **o == "GetMetricData").count(),
        5,
        "one GetMetricData call per night: {ops:?}"
    );
    let report = tune::replay(&current, &settings, &nights, since, open);
    let in_process = serde_json::to_value(&report).unwrap();

    // The CLI prints the same report (JSON), and the table.
    let cli = |output: &str| {
        harness::ok(
            harness::cli()
                .args(["tune", "--config"])
                .arg(&history.config_path)
                .args(["--scenario", "nightly", "--since", "14d", "--now", now])
                .args([
                    "--set",
                    CANDIDATE_A,
                    "--set",
                    CANDIDATE_B,
                    "--output",
                    output,
                ]),
        )
    };
    let json: Value = serde_json::from_str(&cli("json")).expect("tune JSON");
    assert_eq!(
        json["replays"][0]["nights"],
        in_process["replays"][0]["nights"]
    );
    let table = cli("table");
    println!("{table}");

    let replay = &json["replays"][0];
    assert_eq!(replay["checks"], "recorded");
    assert_eq!(json["replays"].as_array().unwrap().len(), 1, "no schedule");
    let rows = replay["nights"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let mut totals = [(0i64, 0usize, 0usize); 4]; // (minutes, deadline closes, premature)
    for (n, row) in rows.iter().enumerate() {
        let up = up_at(n);
        assert_eq!(row["run"], NIGHTS[n]);
        // The real night closed as the current settings replay it.
        close_matches(
            &row["actual"],
            up,
            EXPECTED[n][0],
            &format!("night {n} actual"),
        );
        for (s, expected) in EXPECTED[n].iter().enumerate() {
            let close = &row["settings"][s];
            close_matches(close, up, *expected, &format!("night {n} setting {s}"));
            let premature = n == 1 && s == 1;
            assert_eq!(
                !close["premature"].is_null(),
                premature,
                "night {n} setting {s}: {close}"
            );
            // B closes after the last recorded check, but on the deadline night.
            let extrapolated = s == 2 && expected.1 != "deadline";
            assert_eq!(
                close["extrapolated"], extrapolated,
                "night {n} setting {s}: {close}"
            );
            let t = &mut totals[s + 1];
            t.0 += expected.0;
            t.1 += usize::from(expected.1 == "deadline");
            t.2 += usize::from(premature);
        }
        totals[0].0 += EXPECTED[n][0].0;
        totals[0].1 += usize::from(EXPECTED[n][0].1 == "deadline");
    }
    // The batch came back at 23:50 JST on the second night: candidate A closed at 23:50.
    let premature = &rows[1]["settings"][1]["premature"];
    assert_eq!(premature["at"], "2026-11-21T13:50:00Z", "{premature}");
    assert_eq!(num(&premature["value"]), 3.0);
    assert!(
        table.contains("PREMATURE: JobsRunning 3 at 22:50"),
        "{table}"
    );

    let got = replay["totals"].as_array().unwrap();
    assert_eq!(got.len(), 4, "actual, current, A, B");
    for (i, (m, deadline, premature)) in totals.iter().enumerate() {
        let t = &got[i];
        assert_eq!(t["nights"], 5, "{t}");
        assert_eq!(t["deadline"], *deadline, "{t}");
        assert_eq!(t["quiet"], 5 - deadline, "{t}");
        assert_eq!(t["premature"], *premature, "{t}");
        let r = (m * 60 * ADDED_READERS) as f64 / 3600.0;
        let k = (m * 60 * ADDED_TASKS) as f64 / 3600.0;
        assert!((num(&t["reader_hours"]) - r).abs() < 1e-9, "{t} vs {r}");
        assert!((num(&t["task_hours"]) - k).abs() < 1e-9, "{t} vs {k}");
    }
    // The totals line of A in the table: 5 nights, 4 quiet, 1 deadline, 1 premature.
    let a_minutes = totals[2].0;
    let expected_line = [
        "A".to_string(),
        "5".into(),
        "4".into(),
        "1".into(),
        "0".into(),
        "1".into(),
        format!("{:.2}", (a_minutes * ADDED_READERS) as f64 / 60.0),
        format!("{:.2}", (a_minutes * ADDED_TASKS) as f64 / 60.0),
    ];
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == expected_line),
        "no totals line {expected_line:?} in:\n{table}"
    );
    let _ = &history.job;
}

#[test]
fn tune_set_refuses_a_bad_value_with_the_config_message() {
    let text = harness::CONTRACT_CONFIG;
    let e = tune::candidate(text, "contract.toml", "nightly-batch", "quiet_for=10x")
        .expect_err("a bad duration");
    // The config's own message for the same value.
    let bad = text.replace(r#"quiet_for = "15m""#, r#"quiet_for = "10x""#);
    let config_errors = config::parse(&bad, "contract.toml").expect_err("bad config");
    let first = config_errors.iter().next().unwrap();
    assert!(e.contains(&first.message), "{e}\nvs {}", first.message);
    assert!(e.contains(&first.hint), "{e}");
    assert!(
        e.starts_with("--set quiet_for=10x: scenario[0].scale_down.quiet_for: "),
        "{e}"
    );

    let e = tune::candidate(text, "contract.toml", "nightly-batch", "metric.stat=Maxx")
        .expect_err("a bad stat");
    assert!(e.contains("unknown statistic \"Maxx\""), "{e}");
    assert!(
        e.contains("use one of SampleCount, Average, Sum, Minimum, Maximum"),
        "{e}"
    );
    let e = tune::candidate(text, "contract.toml", "nightly-batch", "quiet=5m")
        .expect_err("an unknown key");
    assert!(e.contains("unknown key \"quiet\""), "{e}");
    let ok = tune::candidate(
        text,
        "contract.toml",
        "nightly-batch",
        "scale_down.quiet_for=5m,metric.below=2",
    )
    .expect("a good candidate");
    assert_eq!(ok.scenario.scale_down.quiet_for.as_secs(), 300);
    assert_eq!(ok.scenario.scale_down.metrics[0].below, 2.0);
}
