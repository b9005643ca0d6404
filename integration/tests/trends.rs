//! `nightshift report` over nights this test writes (through the same
//! `HistoryStore` calls the handler makes: open the run with its recorded state, record each
//! step's event with its typed evidence, close the run), with older nights and another scenario
//! as noise the queries must not read. The table and JSON are checked, and the HTML page is
//! rendered in headless Chromium (screenshot and DOM).

use crate::harness::{cli, ok};
use crate::report::{chromium, rendered};
use crate::support;
use jiff::{SignedDuration, Timestamp};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::domain::{Action, ActionResult};
use nightshift::evidence::{Convergence, StepEvidence};
use nightshift::gate::{self, Rule};
use nightshift::history::{EventRecord, OpenRun, RunRecord, RunStatus};
use nightshift::plan::{Baseline, ClusterBaseline, InstanceBaseline, RunState, ServiceBaseline};
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Step};
use std::path::Path;

const SCENARIO: &str = "nightly-batch";
/// The report's now: 03:00 in Tokyo on 2026-11-26, during the last (open) night.
const NOW: &str = "2026-11-25T18:00:00Z";

/// How night `i` of 12 (2026-11-14 .. 2026-11-25) ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Quiet,
    Deadline,
    Forced,
    Open,
}

fn end_of(i: usize) -> End {
    match i {
        3 | 8 => End::Deadline,
        10 => End::Forced,
        11 => End::Open,
        _ => End::Quiet,
    }
}

fn state(opened: Timestamp, ready: Timestamp, down: Option<Timestamp>) -> RunState {
    let mut state = RunState::new(
        Baseline {
            taken_at: opened,
            services: vec![ServiceBaseline {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 2,
                scalable_target: None,
                night_desired: 10,
                night_target: None,
                task: None,
            }],
            clusters: vec![ClusterBaseline {
                cluster: "batch-db".into(),
                writer: Some("batch-db-1".into()),
                instances: vec![InstanceBaseline {
                    id: "batch-db-1".into(),
                    class: "db.r6g.large".into(),
                    writer: true,
                    promotion_tier: None,
                }],
                night_class: None,
                night_readers: 3,
                serverless: None,
                engine: None,
                replica_target: None,
                night_replica_target: None,
            }],
            environments: Vec::new(),
            groups: Vec::new(),
        },
        false,
    );
    state.ready_at = Some(ready);
    state.scale_down_started_at = down;
    state
}

fn gate_evidence(rule: Rule, at: Timestamp, opened: Timestamp) -> gate::Evidence {
    gate::Evidence {
        rule: Some(rule),
        summary: format!("{} at {at}", rule.as_str()),
        now: at,
        scaled_up_at: opened,
        deadline: "2026-11-25T22:30:00Z".parse().unwrap(),
        deadline_local: "07:30".into(),
        min_hold_until: opened + SignedDuration::from_mins(30),
        quiet_for: "15m".into(),
        missing_data: "busy".into(),
        ingestion_lag: "2m".into(),
        force: rule == Rule::Forced,
        metrics: Vec::new(),
        fetch_error: None,
        fallback: None,
    }
}

fn event(
    scenario: &str,
    run: &str,
    step: Step,
    at: Timestamp,
    outcome: Outcome,
    evidence: StepEvidence,
    actions: Vec<Action>,
) -> EventRecord {
    EventRecord {
        key: format!("{scenario}/{run}/{step}/{at}"),
        step: Some(step),
        scenario: Some(scenario.into()),
        run: Some(run.into()),
        kind: "step-command".into(),
        outcome,
        reason: format!("{step} {outcome}"),
        detail: String::new(),
        actions,
        received_at: at,
        finished_at: at,
        evidence: evidence.to_json(),
        payload_hash: None,
    }
}

/// Writes one night: open (with its state), events, close.
async fn write_night(store: &DynamoStore, scenario: &str, opened: Timestamp, i: usize) -> usize {
    let run = opened
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap())
        .date()
        .to_string();
    let end = end_of(i);
    let ready = opened + SignedDuration::from_mins(8 + i as i64);
    let down = match end {
        End::Quiet => Some(opened + SignedDuration::from_mins(240 + 5 * i as i64)),
        // 07:31 in Tokyo, the check after the 07:30 deadline.
        End::Deadline => Some(opened + SignedDuration::from_mins(8 * 60 + 31)),
        End::Forced => Some(opened + SignedDuration::from_mins(150)),
        End::Open => None,
    };
    let st = state(opened, ready, down);
    let record = RunRecord {
        scenario: scenario.into(),
        run: run.clone(),
        status: RunStatus::Open,
        opened_at: opened,
        closed_at: None,
        opened_by: format!("{scenario}/scale-up/{run}"),
        baseline: Some(st.to_json()),
        summary: "scaling up".into(),
    };
    assert_eq!(store.open_run(&record).await.unwrap(), OpenRun::Opened);
    let mut events = vec![
        event(
            scenario,
            &run,
            Step::ScaleUp,
            opened,
            Outcome::Acted,
            StepEvidence::default(),
            vec![],
        ),
        event(
            scenario,
            &run,
            Step::Check,
            ready,
            Outcome::Deferred,
            StepEvidence {
                ready_at: Some(ready),
                time_to_ready_s: Some(ready.duration_since(opened).as_secs()),
                ..StepEvidence::default()
            },
            vec![],
        ),
    ];
    if i == 5 {
        // A rejected step: a scale-down whose config named a service that was gone.
        events.push(event(
            scenario,
            &run,
            Step::ScaleDown,
            ready + SignedDuration::from_mins(30),
            Outcome::Rejected,
            StepEvidence::default(),
            vec![],
        ));
    }
    if let Some(down) = down {
        let rule = match end {
            End::Deadline => Rule::Deadline,
            End::Forced => Rule::Forced,
            _ => Rule::Quiet,
        };
        let drift = if i == 6 {
            vec!["batch/worker desiredCount is 12, not the night's 10: left alone".to_string()]
        } else {
            Vec::new()
        };
        let actions = if i == 8 {
            vec![Action {
                service: "docdb".into(),
                call: "DeleteDBInstance".into(),
                resource: "batch-db-nightly-batch-r1".into(),
                detail: "remove the night's reader".into(),
                result: ActionResult::Failed {
                    code: Some("InvalidDBInstanceState".into()),
                    message: "instance is modifying".into(),
                },
            }]
        } else {
            Vec::new()
        };
        events.push(event(
            scenario,
            &run,
            if end == End::Forced {
                Step::ScaleDown
            } else {
                Step::Check
            },
            down,
            Outcome::Acted,
            StepEvidence {
                converge: Convergence {
                    drift,
                    ..Convergence::default()
                },
                gate: Some(gate_evidence(rule, down, opened)),
                ..StepEvidence::default()
            },
            actions,
        ));
    }
    for e in &events {
        store.record_event(e).await.unwrap();
    }
    if let Some(down) = down {
        store
            .close_run(
                scenario,
                &run,
                down + SignedDuration::from_mins(15),
                "scaled down",
            )
            .await
            .unwrap();
    }
    events.len()
}

/// The table: 12 nights of nightly-batch from 2026-11-14, plus 8 older nights (September) and
/// 12 nights of another scenario. Returns the table and the events written for the 12.
async fn trend_table() -> (String, usize) {
    let table = crate::harness::fresh_table().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &table,
        Timeouts::default(),
    );
    let first: Timestamp = "2026-11-14T14:00:00Z".parse().unwrap();
    let old: Timestamp = "2026-09-01T14:00:00Z".parse().unwrap();
    for i in 0..8 {
        write_night(
            &store,
            SCENARIO,
            old + SignedDuration::from_hours(24 * i),
            0,
        )
        .await;
    }
    let mut events = 0;
    for i in 0..12 {
        let opened = first + SignedDuration::from_hours(24 * i as i64);
        events += write_night(&store, SCENARIO, opened, i).await;
        write_night(&store, "other-batch", opened, 0).await;
    }
    (table, events)
}

fn contract_config() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integration/fixtures/config/contract.toml")
        .display()
        .to_string()
}

#[tokio::test]
async fn report_shows_one_line_per_night_the_totals_and_what_it_read() {
    let (table, events) = trend_table().await;
    let config = contract_config();
    let args = [
        "report",
        "--scenario",
        SCENARIO,
        "--since",
        "14d",
        "--config",
        &config,
        "--table",
        &table,
        "--now",
        NOW,
    ];
    let out = ok(cli().args(args));
    println!("{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "nights of scenario nightly-batch opened since 2026-11-11 18:00 UTC (times Asia/Tokyo)"
    );
    assert!(lines[1].starts_with("NIGHT"), "{out}");
    let nights: Vec<&&str> = lines.iter().filter(|l| l.starts_with("2026-11-")).collect();
    assert_eq!(nights.len(), 12, "{out}");
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
    // Night 0: opened 23:00, ready 8m after, quiet at 03:00, closed 03:15, 4h15m.
    assert_eq!(
        *nights[0],
        "2026-11-14   nightly-batch  23:00  8m          03:00    03:15  4h15m    quiet     0        0"
    );
    assert!(nights[3].contains("deadline"), "{}", nights[3]);
    assert!(nights[5].contains(" 1        0"), "{}", nights[5]);
    assert!(nights[6].ends_with(" 0        1"), "{}", nights[6]);
    assert!(nights[10].contains("forced"), "{}", nights[10]);
    assert!(nights[11].contains("open"), "{}", nights[11]);
    assert!(
        out.contains(
            "12 nights (11 closed: 8 quiet, 2 deadline hits, 1 forced); 2 failures; 1 drift\n"
        ),
        "{out}"
    );
    assert!(out.contains("held above the baseline: "), "{out}");
    // The cost follows the result: one Query of the scenario's runs, one per night's events;
    // the 8 older nights and the other scenario's 12 are not read.
    assert!(
        out.contains(&format!("read: 13 queries, {} items", 12 + events)),
        "{out}"
    );

    let json = ok(cli().args(args).args(["--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("report JSON");
    assert_eq!(v["nights"].as_array().map(Vec::len), Some(12));
    assert_eq!(v["totals"]["deadline_hits"], 2);
    assert_eq!(v["nights"][0]["ready_after_s"], 480);
    assert_eq!(v["nights"][0]["closed_by"], "quiet");
    assert_eq!(v["nights"][0]["extra_tasks"], 8);
    assert_eq!(v["nights"][0]["extra_readers"], 3);
    // 8 tasks and 3 readers for the 4h from 23:00 to the scale-down at 03:00.
    assert_eq!(v["nights"][0]["task_hours"], 32.0);
    assert_eq!(v["nights"][0]["reader_hours"], 12.0);

    // Without --scenario: both scenarios, through the time index.
    let all = ok(cli().args(["report", "--since", "14d", "--table", &table, "--now", NOW]));
    assert!(all.contains("24 nights"), "{all}");
}

#[tokio::test]
async fn report_html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let (table, _) = trend_table().await;
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trends");
    std::fs::create_dir_all(&out_dir).expect("target/tmp/trends");
    let html = out_dir.join("report.html");
    let png = out_dir.join("report.png");
    let config = contract_config();
    ok(cli().args([
        "report",
        "--scenario",
        SCENARIO,
        "--since",
        "14d",
        "--config",
        &config,
        "--table",
        &table,
        "--now",
        NOW,
        "--output",
        "html",
        "--out",
        &html.display().to_string(),
    ]));
    let page = std::fs::read_to_string(&html).expect("the page");
    assert!(
        !page.contains("http://") && !page.contains("https://")
            || page.matches("http://www.w3.org/2000/svg").count() == page.matches("http").count(),
        "the page references the network"
    );
    let dom = rendered(browser, &html, &png, (1100, 1000), 10 * 1024);
    assert_eq!(
        dom.matches("<g class=\"night\"").count(),
        12,
        "one bar per night"
    );
    assert_eq!(
        dom.matches("class=\"duration quiet\"").count(),
        8 + 1,
        "8 nights and the legend"
    );
    assert_eq!(dom.matches("class=\"duration deadline\"").count(), 2 + 1);
    assert_eq!(dom.matches("class=\"duration forced\"").count(), 1 + 1);
    assert_eq!(dom.matches("class=\"marker deadline-hit\"").count(), 2);
    assert_eq!(dom.matches("class=\"marker failure\"").count(), 2);
    assert_eq!(dom.matches("class=\"ready\"").count(), 12 + 1);
    assert_eq!(dom.matches("<tr class=\"night").count(), 12);
    for hook in [
        "id=\"trend-chart\"",
        "id=\"total-task-hours\"",
        "id=\"total-reader-hours\"",
        "id=\"total-deadline-hits\"",
    ] {
        assert!(dom.contains(hook), "the page lacks {hook}");
    }
}
