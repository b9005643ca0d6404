//! What the nights cost and saved: a month of nights written to the emulator's table as the
//! handler writes them (the run with its recorded state, each step's event with its actions and
//! typed evidence, the close), read back by `nightshift report` in its three formats and checked
//! against hours and money computed by hand; and a real night through the handler whose Run
//! Closed event and closing EMF line carry the night's hours and cost.
//!
//! The month (scenario nightly-batch, Asia/Tokyo; scale-up 23:00 = 14:00Z; baseline: ECS desired
//! 2, a DocumentDB writer; prices: db.r6g.large 0.277, db.r6g.2xlarge 1.108 (a class no night
//! uses), vCPU 0.04048, GB 0.004445 per hour, USD):
//!
//! | night(s)            | what happens                                              | reader-h | task-h | vCPU-h | GB-h | cost     | saved vs 24h | saved vs deadline |
//! | ------------------- | --------------------------------------------------------- | -------: | -----: | -----: | ---: | -------: | -----------: | ----------------: |
//! | 10-30 (old record)  | no typed calls recorded: estimated from the targets (8 tasks, 3 readers of an unrecorded class, 23:00-02:00), no task size | 9 | 24 | 0 | 0 | 0 (unpriced) | 0 | 0 |
//! | 10-31 (older build) | 3 readers, 2 → 10 tasks 23:00-02:00, no task size recorded | 9 | 24 | 0 | 0 | 2.493 | 17.451 | 4.5705 |
//! | 26 ordinary nights  | 3 readers, 2 → 10 tasks (1 vCPU, 2 GB) 23:00-02:00, quiet | 9 each | 24 | 24 | 48 | 3.67788 | 25.74516 | 6.74278 (5.5 h to 07:30) |
//! | 11-10 deadline      | the same until the deadline 07:30                        | 25.5 | 68 | 68 | 136 | 10.42066 | 19.00238 | - |
//! | 11-15 forced        | the same, forced down at 01:00                            | 6 | 16 | 16 | 32 | 2.45192 | 26.97112 | - |
//! | 11-20 failure       | one of the 3 creates refused (capacity): 2 readers       | 6 | 24 | 24 | 48 | 2.84688 | 19.92816 | 5.21928 |
//! | 11-30 month-end     | 6 readers, 2 → 20 tasks 23:00-05:00, quiet               | 36 | 108 | 108 | 216 | 15.30396 | 45.91188 | 6.37665 (2.5 h) |
//!
//! Ordinary night: 9 × 0.277 + 24 × 0.04048 + 48 × 0.004445 = 2.493 + 0.97152 + 0.21336 =
//! 3.67788; all day (3 readers, 8 tasks for 24 h) 72 × 0.277 + 192 × 0.04048 + 384 × 0.004445 =
//! 29.42304; to the deadline 16.5 × 0.277 + 44 × 0.04048 + 88 × 0.004445 = 6.74278.
//!
//! | month   | nights | reader-h | task-h | vCPU-h | GB-h | cost     | saved vs 24h | saved vs deadline |
//! | ------- | -----: | -------: | -----: | -----: | ---: | -------: | -----------: | ----------------: |
//! | 2026-10 | 2      | 18       | 48     | 0      | 0    | 2.49     | 17.45        | 4.57              |
//! | 2026-11 | 30     | 307.5    | 840    | 840    | 1680 | 126.65   | 781.19       | 186.91            |
//! | total   | 32     | 325.5    | 888    | 840    | 1680 | 129.14   | 798.64       | 191.48            |
//!
//! Without prices the same report holds the same hours and no money: prices are applied when the
//! report is made, so nights recorded before `[prices]` was configured are priced like the rest.

use crate::harness::{cli, ok};
use crate::report::{chromium, rendered};
use crate::support;
use jiff::{SignedDuration, Timestamp};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::domain::{Action, ActionResult};
use nightshift::evidence::{Convergence, StepEvidence};
use nightshift::gate::{self, MetricState, MetricVerdict, PeriodState, PeriodValue, Rule};
use nightshift::history::{EventRecord, OpenRun, RunRecord, RunStatus};
use nightshift::plan::{Baseline, Call, ClusterBaseline, InstanceBaseline, RunState};
use nightshift::plan::{ServiceBaseline, TaskSize};
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Step};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SCENARIO: &str = "nightly-batch";
/// 12:00 in Tokyo on 2026-12-01, after the last night closed.
const NOW: &str = "2026-12-01T03:00:00Z";

const PRICES: &str = r#"
[prices]
currency = "USD"
instance = { "db.r6g.large" = 0.277, "db.r6g.2xlarge" = 1.108 }
dcu = 0.0822
task = { vcpu = 0.04048, gb = 0.004445 }
"#;

/// How a night of the month goes.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Recorded before the calls were typed in the evidence.
    OldRecord,
    /// Recorded before the task size was.
    NoTaskSize,
    Ordinary,
    Deadline,
    Forced,
    Failure,
    MonthEnd,
}

fn kind_of(date: &str) -> Kind {
    match date {
        "2026-10-30" => Kind::OldRecord,
        "2026-10-31" => Kind::NoTaskSize,
        "2026-11-10" => Kind::Deadline,
        "2026-11-15" => Kind::Forced,
        "2026-11-20" => Kind::Failure,
        "2026-11-30" => Kind::MonthEnd,
        _ => Kind::Ordinary,
    }
}

fn state(kind: Kind, opened: Timestamp, down: Timestamp) -> RunState {
    let (readers, desired) = if kind == Kind::MonthEnd {
        (6, 20)
    } else {
        (3, 10)
    };
    let task = (!matches!(kind, Kind::OldRecord | Kind::NoTaskSize)).then(|| TaskSize {
        task_definition: "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/worker:7".into(),
        launch: "FARGATE".into(),
        cpu_units: Some(1024),
        memory_mib: Some(2048),
        unread: None,
    });
    let mut state = RunState::new(
        Baseline {
            taken_at: opened,
            services: vec![ServiceBaseline {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 2,
                scalable_target: None,
                night_desired: desired,
                night_target: None,
                task,
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
                night_readers: readers,
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
    state.ready_at = Some(opened + SignedDuration::from_mins(10));
    state.scale_down_started_at = Some(down);
    state
}

fn reader(n: usize) -> String {
    format!("batch-db-nightly-batch-r{n}")
}

fn desired(to: i32, from: i32) -> Call {
    Call::UpdateService {
        cluster: "batch".into(),
        service: "worker".into(),
        desired: to,
        from,
    }
}

/// A step's event: its calls (each recorded as an action with `result`, and typed in the
/// evidence unless the record is old), its gate.
fn event(
    run: &str,
    step: Step,
    at: Timestamp,
    calls: &[(Call, ActionResult)],
    gate: Option<gate::Evidence>,
    typed: bool,
    ready: Option<Timestamp>,
) -> EventRecord {
    let planned: Vec<Call> = if typed {
        calls.iter().map(|(c, _)| c.clone()).collect()
    } else {
        Vec::new()
    };
    let evidence = StepEvidence {
        converge: Convergence {
            planned,
            ..Convergence::default()
        },
        gate,
        ready_at: ready,
        ..StepEvidence::default()
    };
    let failed = calls.iter().any(|(_, r)| r.is_failure());
    EventRecord {
        key: format!("{SCENARIO}/{run}/{step}/{at}"),
        step: Some(step),
        scenario: Some(SCENARIO.into()),
        run: Some(run.into()),
        kind: "step-command".into(),
        outcome: if calls.is_empty() {
            Outcome::Deferred
        } else {
            Outcome::Acted
        },
        reason: if failed {
            "scaling up: 1 call failed".into()
        } else {
            format!("{step}")
        },
        detail: String::new(),
        actions: calls
            .iter()
            .map(|(c, r)| c.action(r.clone()))
            .collect::<Vec<Action>>(),
        received_at: at,
        finished_at: at,
        evidence: evidence.to_json(),
        payload_hash: None,
    }
}

/// The gate's evidence at `at`: the rule that fired (None: deferred), with one busy minute at
/// `busy` when given.
fn gate_at(
    rule: Option<Rule>,
    at: Timestamp,
    opened: Timestamp,
    busy: Option<Timestamp>,
) -> gate::Evidence {
    let metrics = busy
        .map(|start| MetricVerdict {
            metric: "Batch/JobsRunning{Job=nightly}".into(),
            stat: "Maximum".into(),
            period: "1m".into(),
            below: 1.0,
            from: start,
            to: at,
            periods: vec![PeriodValue {
                start,
                value: Some(3.0),
                state: PeriodState::Busy,
            }],
            worst: None,
            verdict: MetricState::Busy,
            counts_as_quiet: false,
        })
        .into_iter()
        .collect();
    gate::Evidence {
        rule,
        summary: String::new(),
        now: at,
        scaled_up_at: opened,
        // 07:30 in Tokyo the morning after the 23:00 scale-up.
        deadline: opened + SignedDuration::from_mins(8 * 60 + 30),
        deadline_local: "07:30".into(),
        min_hold_until: opened + SignedDuration::from_mins(30),
        quiet_for: "15m".into(),
        missing_data: "busy".into(),
        ingestion_lag: "2m".into(),
        force: rule == Some(Rule::Forced),
        metrics,
        fetch_error: None,
        fallback: None,
    }
}

/// Writes one night; its run id is `date`.
async fn write_night(store: &DynamoStore, date: &str) {
    let kind = kind_of(date);
    // 23:00 in Tokyo.
    let opened: Timestamp = format!("{date}T14:00:00Z").parse().unwrap();
    let at = |mins: i64| opened + SignedDuration::from_mins(mins);
    let (down, rule) = match kind {
        Kind::Deadline => (at(8 * 60 + 30), Rule::Deadline),
        Kind::Forced => (at(120), Rule::Forced),
        Kind::MonthEnd => (at(360), Rule::Quiet),
        _ => (at(180), Rule::Quiet),
    };
    let (readers, night_desired) = if kind == Kind::MonthEnd {
        (6, 20)
    } else {
        (3, 10)
    };
    let st = state(kind, opened, down);
    let record = RunRecord {
        scenario: SCENARIO.into(),
        run: date.into(),
        status: RunStatus::Open,
        opened_at: opened,
        closed_at: None,
        opened_by: format!("{SCENARIO}/scale-up/{date}"),
        baseline: Some(st.to_json()),
        summary: "scaling up".into(),
    };
    assert_eq!(store.open_run(&record).await.unwrap(), OpenRun::Opened);
    let done = || ActionResult::Done;
    let mut up = vec![(desired(night_desired, 2), done())];
    for n in 1..=readers {
        let result = if kind == Kind::Failure && n == 3 {
            ActionResult::Failed {
                code: Some("InsufficientDBInstanceCapacity".into()),
                message:
                    "InsufficientDBInstanceCapacity: no db.r6g.large capacity in ap-northeast-1a"
                        .into(),
            }
        } else {
            done()
        };
        up.push((
            Call::CreateDbInstance {
                cluster: "batch-db".into(),
                engine: "docdb".into(),
                instance: reader(n),
                class: "db.r6g.large".into(),
                promotion_tier: 15,
                tags: BTreeMap::new(),
                zone: None,
            },
            result,
        ));
    }
    let typed = kind != Kind::OldRecord;
    let created = if kind == Kind::Failure { 2 } else { readers };
    let mut down_calls = vec![(desired(2, night_desired), done())];
    for n in 1..=created {
        down_calls.push((
            Call::DeleteDbInstance {
                cluster: "batch-db".into(),
                instance: reader(n),
            },
            done(),
        ));
    }
    let ready = at(10);
    let mut events = vec![
        event(date, Step::ScaleUp, opened, &up, None, typed, None),
        event(date, Step::Check, ready, &[], None, typed, Some(ready)),
    ];
    if rule == Rule::Quiet {
        // The last check that saw the batch busy: its last busy minute ended 18 minutes before
        // the scale-down.
        let seen = down - SignedDuration::from_mins(10);
        let busy = down - SignedDuration::from_mins(19);
        events.push(event(
            date,
            Step::Check,
            seen,
            &[],
            Some(gate_at(None, seen, opened, Some(busy))),
            typed,
            None,
        ));
    }
    let closing_step = if rule == Rule::Forced {
        Step::ScaleDown
    } else {
        Step::Check
    };
    events.push(event(
        date,
        closing_step,
        down,
        &down_calls,
        Some(gate_at(Some(rule), down, opened, None)),
        typed,
        None,
    ));
    for e in &events {
        store.record_event(e).await.unwrap();
    }
    store
        .close_run(SCENARIO, date, down, "scaled down")
        .await
        .unwrap();
}

/// The month's table: 2026-10-30 .. 2026-11-30.
async fn month_table() -> String {
    let table = crate::harness::fresh_table().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &table,
        Timeouts::default(),
    );
    let first: jiff::civil::Date = "2026-10-30".parse().unwrap();
    for i in 0..32 {
        let date = first + jiff::Span::new().days(i);
        write_night(&store, &date.to_string()).await;
    }
    table
}

/// The contract config, with or without `[prices]`, in a file of its own.
fn config(priced: bool) -> PathBuf {
    let contract = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/fixtures/config/contract.toml"),
    )
    .expect("the contract config");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("costs");
    std::fs::create_dir_all(&dir).expect("target/tmp/costs");
    let path = dir.join(if priced { "priced.toml" } else { "hours.toml" });
    let text = if priced {
        format!("{contract}{PRICES}")
    } else {
        contract
    };
    std::fs::write(&path, text).expect("the config");
    path
}

fn report(table: &str, config: &Path, output: &str) -> String {
    ok(cli().args([
        "report",
        "--scenario",
        SCENARIO,
        "--since",
        "33d",
        "--config",
        &config.display().to_string(),
        "--table",
        table,
        "--now",
        NOW,
        "--output",
        output,
    ]))
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 0.006)
}

#[tokio::test]
async fn a_month_of_nights_reports_hand_computed_hours_and_money_in_table_and_json() {
    let table = month_table().await;
    let priced = config(true);
    let text = report(&table, &priced, "table");
    println!("{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    let line = |start: &str| {
        text.lines()
            .rfind(|l| l.starts_with(&format!("  {start}")))
            .unwrap_or_else(|| panic!("no line {start:?}:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        text.contains("capacity above the baseline: hours, and money in USD at [prices]"),
        "{text}"
    );
    // NIGHT SCENARIO INSTANCE-H DCU-H TASK-H COST SAVED-24H SAVED-DEADLINE
    assert_eq!(
        line("2026-11-01   nightly-batch  9.0"),
        "2026-11-01 nightly-batch 9.0 - 24.0 3.68 25.75 6.74"
    );
    assert_eq!(
        line("2026-11-10   nightly-batch  25.5"),
        "2026-11-10 nightly-batch 25.5 - 68.0 10.42 19.00 -"
    );
    assert_eq!(
        line("2026-11-15   nightly-batch  6.0"),
        "2026-11-15 nightly-batch 6.0 - 16.0 2.45 26.97 -"
    );
    assert_eq!(
        line("2026-11-20   nightly-batch  6.0"),
        "2026-11-20 nightly-batch 6.0 - 24.0 2.85 19.93 5.22"
    );
    assert_eq!(
        line("2026-11-30   nightly-batch  36.0"),
        "2026-11-30 nightly-batch 36.0 - 108.0 15.30 45.91 6.38"
    );
    assert_eq!(
        line("2026-10-30   nightly-batch  9.0"),
        "2026-10-30 nightly-batch 9.0 - 24.0 0.00 0.00 0.00"
    );
    assert_eq!(
        line("2026-10-31   nightly-batch  9.0"),
        "2026-10-31 nightly-batch 9.0 - 24.0 2.49 17.45 4.57"
    );
    assert_eq!(
        line("2026-10      2 nights"),
        "2026-10 2 nights 18.0 - 48.0 2.49 17.45 4.57"
    );
    assert_eq!(
        line("2026-11      30 nights"),
        "2026-11 30 nights 307.5 - 840.0 126.65 781.19 186.91"
    );
    assert_eq!(
        line("total        32 nights"),
        "total 32 nights 325.5 - 888.0 129.14 798.64 191.48"
    );
    assert!(
        text.contains(
            "32 nights (32 closed: 30 quiet, 1 deadline hits, 1 forced); 1 failures; 0 drift"
        ),
        "{text}"
    );
    assert!(
        text.contains("task-hours: 888.0 (Fargate: 840.0 vCPU-hours, 1680.0 GB-hours; without a Fargate size: 48.0)"),
        "{text}"
    );
    assert!(text.contains("class not recorded instance-hours"), "{text}");
    assert!(
        text.contains("1 night: no successful scaling call is recorded: the hours are estimated"),
        "{text}"
    );
    assert!(
        text.contains("2 nights: batch/worker: task size not recorded"),
        "{text}"
    );

    let json: Value = serde_json::from_str(&report(&table, &priced, "json")).expect("JSON");
    let nights = json["nights"].as_array().expect("nights");
    assert_eq!(nights.len(), 32);
    let ordinary = &nights[2];
    assert_eq!(ordinary["run"], "2026-11-01");
    assert_eq!(ordinary["basis"], "calls");
    assert_eq!(ordinary["held"]["reader_hours"]["db.r6g.large"], 9.0);
    assert_eq!(ordinary["held"]["vcpu_hours"], 24.0);
    assert_eq!(ordinary["held"]["gb_hours"], 48.0);
    assert_eq!(ordinary["always_on"]["task_hours"], 192.0);
    assert_eq!(
        ordinary["saved_vs_deadline"]["reader_hours"]["db.r6g.large"],
        16.5
    );
    assert_eq!(ordinary["idle_s"], 18 * 60);
    assert_eq!(ordinary["money"]["currency"], "USD");
    assert!(close(&ordinary["money"]["cost"], 3.67788), "{ordinary}");
    assert!(
        close(&ordinary["money"]["always_on"], 29.42304),
        "{ordinary}"
    );
    assert_eq!(nights[0]["basis"], "targets");
    assert!(nights[0]["money"]["unpriced"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u.as_str().unwrap().contains("class not recorded")));
    assert_eq!(nights[11]["run"], "2026-11-10");
    assert_eq!(
        nights[11]["saved_vs_deadline"],
        Value::Null,
        "a deadline close saves nothing"
    );
    let totals = &json["totals"];
    assert!(close(&totals["money"]["cost"], 129.1413), "{totals}");
    assert!(
        close(&totals["money"]["saved_vs_always_on"], 798.6387),
        "{totals}"
    );
    assert!(
        close(&totals["money"]["saved_vs_deadline"], 191.4787),
        "{totals}"
    );
    assert_eq!(totals["held"]["reader_hours"]["db.r6g.large"], 316.5);
    assert_eq!(totals["held"]["reader_hours"]["class not recorded"], 9.0);
    assert_eq!(totals["held"]["task_hours"], 888.0);
    let months: Vec<&str> = json["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2026-10", "2026-11"]);
    assert!(close(&json["months"][1]["money"]["cost"], 126.6483));
    assert_eq!(json["currency"], "USD");

    // The same nights without [prices]: the same hours, no money; the saved columns in hours.
    let hours = config(false);
    let text = report(&table, &hours, "table");
    assert!(
        text.contains("capacity above the baseline, in hours (no [prices])"),
        "{text}"
    );
    assert!(!text.contains("not priced"), "{text}");
    let total = text
        .lines()
        .find(|l| l.starts_with("  total"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Saved vs 24h: 2352 − 325.5 instance-hours and 6384 − 888 task-hours; vs the deadline
    // 488 and 1321.
    assert_eq!(
        total,
        "total 32 nights 325.5 - 888.0 2026.5i 5496.0t 488.0i 1321.0t"
    );
    let json: Value = serde_json::from_str(&report(&table, &hours, "json")).expect("JSON");
    assert_eq!(json["nights"][2]["money"], Value::Null);
    assert_eq!(json["totals"]["held"]["task_hours"], 888.0);
    assert_eq!(json["currency"], Value::Null);
}

#[tokio::test]
async fn the_month_report_page_plots_cost_and_savings_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let table = month_table().await;
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("costs");
    std::fs::create_dir_all(&out_dir).expect("target/tmp/costs");
    let html = out_dir.join("report.html");
    let png = out_dir.join("report.png");
    let page = report(&table, &config(true), "html");
    std::fs::write(&html, &page).expect("the page");
    assert!(
        !page.contains("<script") && !page.contains("<link"),
        "self-contained"
    );
    let dom = rendered(browser, &html, &png, (1100, 2200), 20 * 1024);
    println!("screenshot: {}", png.display());
    assert_eq!(
        dom.matches("<g class=\"night\"").count(),
        32,
        "the duration bars"
    );
    assert!(dom.contains("id=\"cost-chart\""), "the cost chart");
    assert_eq!(dom.matches("<g class=\"night-savings\"").count(), 32);
    assert_eq!(dom.matches("<rect class=\"held\"").count(), 32);
    assert_eq!(dom.matches("<rect class=\"saved-deadline\"").count(), 32);
    assert_eq!(dom.matches("<rect class=\"saved-always-on\"").count(), 32);
    let card = |id: &str| {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let rest = &dom[at..];
        let value = rest.split("<div class=\"value\">").nth(1).unwrap();
        value.split('<').next().unwrap().to_string()
    };
    assert_eq!(card("total-cost"), "129.14");
    assert_eq!(card("total-saved-deadline"), "191.48");
    assert_eq!(card("total-saved-always-on"), "798.64");
    assert_eq!(
        dom.matches("<tr class=\"night").count(),
        32,
        "the nights table"
    );
    assert_eq!(dom.matches("<tr class=\"cost-night\"").count(), 32);
    assert_eq!(dom.matches("<tr class=\"month\"").count(), 2);
    assert_eq!(dom.matches("<tr class=\"total\"").count(), 1);
}

/// An ECS service on Fargate: a task definition of 0.5 vCPU and 1 GB, `desired` tasks.
async fn fargate_service(cluster: &str, service: &str, desired: i32) {
    let sdk = support::sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap();
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("public.ecr.aws/docker/library/busybox:latest")
        .build();
    let arn = ecs
        .register_task_definition()
        .family(service)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .cpu("512")
        .memory("1024")
        .container_definitions(container)
        .send()
        .await
        .unwrap()
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .unwrap();
    ecs.create_service()
        .cluster(cluster)
        .service_name(service)
        .task_definition(arn)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .desired_count(desired)
        .send()
        .await
        .unwrap();
}

/// A night through the handler: a Fargate service 2 → 6 tasks (0.5 vCPU, 1 GB) and one reader,
/// scaled up at 22:00 and forced down at 01:00: 3 h.
///
/// | what       | hours                 | at the prices                   |
/// | ---------- | --------------------- | ------------------------------- |
/// | 1 reader   | 3 reader-hours        | 3 × 0.277 = 0.831               |
/// | 4 tasks    | 12 task-hours: 6 vCPU-hours, 12 GB-hours | 6 × 0.04048 + 12 × 0.004445 = 0.29622 |
/// | the night  |                       | 1.12722                         |
/// | all day    | 24 reader-hours, 96 task-hours (48 vCPU-h, 96 GB-h) | 6.648 + 1.94304 + 0.42672 = 9.01776 |
#[tokio::test]
async fn a_night_closes_with_its_hours_and_cost_in_the_run_closed_event_and_the_emf_line() {
    use nightshift::app::{Adapters, App, Invocation};
    use nightshift::aws::calls::CallLog;
    use nightshift::aws::events::EventsClient;
    use nightshift::aws::scaling::ScalingClients;
    use nightshift::ports::EventSink;
    use std::sync::Arc;

    let sdk = support::sdk_config().await;
    let table = crate::harness::fresh_table().await;
    let ecs_cluster = support::unique("costs");
    let service = support::unique("worker");
    let db = support::unique("costsdb");
    fargate_service(&ecs_cluster, &service, 2).await;
    support::create_docdb_cluster(&sdk, &db).await;
    let bus = support::unique("costs-bus");
    let queue = crate::notify::bus_to_queue(&bus).await;
    let text = format!(
        r#"
table = "{table}"

[notify]
event_bus = "{bus}"
{PRICES}
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 8
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 1
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
"#
    );
    let config = nightshift::config::parse(&text, "costs.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(nightshift::config::prices::warnings(&config).is_empty());
    let policy = nightshift::iam::policy(&config, &nightshift::iam::Target::default());
    let log = CallLog::new();
    let store = DynamoStore::new(
        crate::harness::logged_client(&log).await,
        &table,
        Timeouts::default(),
    );
    let scaling = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
    let events: Arc<dyn EventSink> = Arc::new(EventsClient::new(&sdk));
    let adapters = Adapters {
        events: Some(events),
        ..Adapters::new(store.clone(), scaling)
    };
    let app = App::build(Arc::new(config), crate::harness::settings(), adapters);
    let step = |step: &str, extra: &str, id: &str, now: &str| {
        let payload =
            format!(r#"{{"scenario": "nightly", "step": "{step}", "id": "{id}"{extra}}}"#);
        let inv = Invocation {
            request_id: format!("req-{id}"),
            deadline: None,
            now: now.parse().unwrap(),
            function_arn: None,
        };
        let app = &app;
        async move {
            nightshift::emf::observe(async { app.handle(payload.as_bytes(), &inv).await }).await
        }
    };

    let (up, _) = step("scale-up", "", "up", "2026-11-25T13:00:00Z").await;
    assert_eq!(up.expect("scale-up").outcome, Outcome::Acted);
    let made: Vec<String> = log.calls().iter().map(|c| c.operation.clone()).collect();
    assert_eq!(
        made.iter()
            .filter(|o| *o == "DescribeTaskDefinition")
            .count(),
        1,
        "the task size is read once, when the run opens: {made:?}"
    );
    for call in log.calls() {
        for action in nightshift::iam::actions_of(&call.service, &call.operation) {
            assert!(
                nightshift::iam::allows(&policy, &action),
                "iam-policy lacks {action}"
            );
        }
    }
    let run = store
        .get_run("nightly", "2026-11-25")
        .await
        .unwrap()
        .expect("the run");
    let state = RunState::from_json(run.baseline.as_ref().unwrap()).unwrap();
    let task = state.baseline.services[0]
        .task
        .clone()
        .expect("the task size");
    assert_eq!(
        (task.launch.as_str(), task.cpu_units, task.memory_mib),
        ("FARGATE", Some(512), Some(1024))
    );

    log.clear();
    let (down, observed) = step(
        "scale-down",
        r#", "force": true"#,
        "down",
        "2026-11-25T16:00:00Z",
    )
    .await;
    let down = down.expect("scale-down");
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert!(down.reason.contains("run closed"), "{}", down.reason);
    let made: Vec<String> = log.calls().iter().map(|c| c.operation.clone()).collect();
    assert!(
        !made.contains(&"DescribeTaskDefinition".to_string()),
        "{made:?}"
    );
    // The closing step reads the night's events (a Query): the role allows it.
    assert!(made.contains(&"Query".to_string()), "{made:?}");
    for call in log.calls() {
        for action in nightshift::iam::actions_of(&call.service, &call.operation) {
            assert!(
                nightshift::iam::allows(&policy, &action),
                "iam-policy lacks {action}"
            );
        }
    }

    // The closing step's EMF line: valid, with the night's hours and money.
    let line = Value::Object(nightshift::emf::members(
        &nightshift::emf::InvocationMetrics {
            scenario: Some("nightly"),
            step: Some("scale-down"),
            outcome: Some(down.outcome),
            duration_ms: 1.0,
            observed: &observed,
            timestamp_ms: 1_764_126_000_000,
        },
    ));
    assert_eq!(
        support::emf::check(&line, nightshift::emf::NAMESPACE),
        Vec::<String>::new(),
        "{line}"
    );
    assert_eq!(line["ReaderHours"], 3.0, "{line}");
    assert_eq!(line["TaskHours"], 12.0, "{line}");
    assert_eq!(line["VcpuHours"], 6.0, "{line}");
    assert_eq!(line["GbHours"], 12.0, "{line}");
    assert_eq!(line["NightCost"], 1.13, "{line}");
    assert_eq!(line["SavedVsAlwaysOn"], 7.89, "{line}");
    assert_eq!(line["SavedVsDeadline"], 0.0, "forced: {line}");
    assert_eq!(line["currency"], "USD");
    println!("the closing EMF line: {line}");

    // The Run Closed event, as the bus delivered it.
    let messages = crate::notify::drain(&queue).await;
    let closed = messages
        .iter()
        .find(|m| m["detail-type"] == "Nightshift Run Closed")
        .unwrap_or_else(|| panic!("no Run Closed among {messages:?}"));
    println!("{}", serde_json::to_string_pretty(closed).unwrap());
    let detail = &closed["detail"];
    assert_eq!(detail["why"], "forced");
    assert_eq!(detail["night_minutes"], 180);
    assert_eq!(detail["hours"]["basis"], "calls");
    assert_eq!(detail["hours"]["held"]["reader_hours"]["db.r6g.large"], 3.0);
    assert_eq!(detail["hours"]["held"]["task_hours"], 12.0);
    assert_eq!(detail["hours"]["always_on"]["task_hours"], 96.0);
    assert_eq!(detail["money"]["currency"], "USD");
    assert_eq!(detail["money"]["cost"], 1.13);
    assert_eq!(detail["money"]["always_on"], 9.02);
    assert_eq!(detail["money"]["saved_vs_always_on"], 7.89);
    assert_eq!(
        detail["money"].get("saved_vs_deadline"),
        None,
        "forced, not quiet"
    );
}
