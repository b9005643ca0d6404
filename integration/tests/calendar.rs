//! The business calendar against the emulator: profiles through whole nights (an ordinary night
//! at 3 readers and a month-end night at 6, in one month, the month-end one kept when the config
//! changes during the night), a holiday from an .ics file with an RRULE, and the
//! `Nightshift Capacity Late` event through a bus rule to a queue (the lifecycle mode: readers
//! that take ten minutes).

use crate::harness::{self, invocation};
use crate::notify::{bus_to_queue, drain};
use crate::support::{self, scene::Scene};
use nightshift::app::{Adapters, App};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::events::EventsClient;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, InMemory};
use nightshift::ports::{EventSink, HistoryStore};
use nightshift::{Outcome, Response};
use serde_json::{json, Value};
use std::sync::Arc;

const HOLIDAYS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:xmas@test\r\nDTSTART;VALUE=DATE:20201225\r\nRRULE:FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25\r\nSUMMARY:Christmas Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// The scene's contract config with the holiday file and a month-end profile of `replicas`.
fn calendar_config(scene: &Scene, replicas: u8) -> config::Config {
    let text = scene.config(None).replacen(
        "timezone = \"Asia/Tokyo\"",
        "timezone = \"Asia/Tokyo\"\nholidays = \"holidays.ics\"",
        1,
    ) + &format!(
        r#"
  [[scenario.profile]]
  name = "month-end"
  dates = ["last-business-day"]
  deadline = "09:00"
    [[scenario.profile.docdb]]
    cluster = "{}"
    replicas = {replicas}
"#,
        scene.docdb_cluster
    );
    let mut files = InMemory::default();
    files
        .0
        .insert("holidays.ics".into(), HOLIDAYS.as_bytes().to_vec());
    config::parse_with(&text, "calendar.toml", &files).unwrap_or_else(|e| panic!("{e}"))
}

async fn app_for(config: config::Config, table: &str, events: Option<Arc<dyn EventSink>>) -> App {
    let sdk = support::sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
        Timeouts::default(),
    );
    let scaling = ScalingClients::from_sdk_config(&sdk, Timeouts::default());
    let adapters = Adapters {
        events,
        ..Adapters::new(store, scaling)
    };
    App::build(Arc::new(config), harness::settings(), adapters)
}

async fn step(app: &App, payload: Value) -> Response {
    let wall = jiff::Timestamp::now().to_string();
    let id = format!("{}-{}", payload["step"], payload["now"]);
    app.handle(payload.to_string().as_bytes(), &invocation(&id, &wall))
        .await
        .unwrap_or_else(|e| panic!("{payload}: {e}"))
}

fn at(scene: &Scene, step: &str, now: &str) -> Value {
    json!({"scenario": scene.scenario, "step": step, "id": format!("{step}-{now}"), "now": now})
}

#[tokio::test]
async fn an_ordinary_night_has_three_readers_and_the_month_end_night_six_in_one_month() {
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    scene.create(&sdk).await;
    let app = app_for(calendar_config(&scene, 6), &table, None).await;

    // Christmas (23:00 Tokyo on 2026-12-25): the holiday file's RRULE says no batch.
    let xmas = step(&app, at(&scene, "scale-up", "2026-12-25T14:00:00Z")).await;
    assert_eq!(xmas.outcome, Outcome::Skipped, "{xmas:?}");
    assert_eq!(
        xmas.reason,
        "holiday 2026-12-25 \"Christmas Day\": scale-up skipped"
    );
    assert_eq!(scene.state(&sdk).await.readers(), 0);

    // The 30th: an ordinary night, 3 readers, closed by a forced scale-down.
    let up = step(&app, at(&scene, "scale-up", "2026-12-30T14:00:00Z")).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(scene.state(&sdk).await.readers(), 3);
    let mut down = at(&scene, "scale-down", "2026-12-30T20:00:00Z");
    down["force"] = json!(true);
    let down = step(&app, down).await;
    assert!(down.reason.contains("run closed"), "{down:?}");
    assert!(scene.state(&sdk).await.is_baseline());

    // The 31st, the last business day: the month-end profile, 6 readers, deadline 09:00.
    let up = step(&app, at(&scene, "scale-up", "2026-12-31T14:00:00Z")).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(scene.state(&sdk).await.readers(), 6);
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &table,
        Timeouts::default(),
    );
    let run = store
        .get_run(&scene.scenario, "2026-12-31")
        .await
        .unwrap()
        .expect("the month-end run");
    assert_eq!(
        run.baseline.as_ref().unwrap()["profile"]["name"],
        "month-end"
    );

    // The config changes during the night (the profile now says 5): the night keeps the
    // profile it opened with.
    let changed = app_for(calendar_config(&scene, 5), &table, None).await;
    scene
        .put_jobs_running(
            &sdk,
            "2026-12-31T14:00:00Z".parse().unwrap(),
            "2027-01-01T00:30:00Z".parse().unwrap(),
            3.0,
        )
        .await;
    let check = step(&changed, at(&scene, "check", "2026-12-31T15:00:00Z")).await;
    assert!(check.reason.starts_with("ready"), "{check:?}");
    assert!(check.actions.is_empty(), "{check:?}");
    assert_eq!(scene.state(&sdk).await.readers(), 6);
    // 08:00 Tokyo: past the ordinary deadline (07:30), before the month-end one (09:00).
    let late = step(&changed, at(&scene, "check", "2026-12-31T23:00:00Z")).await;
    assert_eq!(late.outcome, Outcome::Deferred, "{late:?}");
    assert_eq!(scene.state(&sdk).await.readers(), 6);
    // 09:05: the month-end deadline closes the night.
    let closed = step(&changed, at(&scene, "check", "2027-01-01T00:05:00Z")).await;
    assert!(closed.reason.starts_with("deadline 09:00"), "{closed:?}");
    assert!(closed.reason.contains("run closed"), "{closed:?}");
    assert!(scene.state(&sdk).await.is_baseline());

    // The run's events name the profile; `show` does too.
    let events = store
        .run_events(&scene.scenario, "2026-12-31", 50, None)
        .await
        .unwrap()
        .items;
    assert!(!events.is_empty());
    for e in &events {
        let ev = e.evidence.as_ref().expect("evidence");
        assert_eq!(ev["profile"], "month-end", "{ev}");
    }
}

#[tokio::test]
async fn the_first_check_that_sees_the_batch_busy_before_the_capacity_sends_capacity_late_once() {
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    scene.create(&sdk).await;
    let bus = support::unique("late-events");
    let queue = bus_to_queue(&bus).await;
    // Readers take ten minutes to create (the emulator's lifecycle mode).
    support::emulator_api(
        "/nightshift-api/lifecycle",
        &json!({
            "world": scene.docdb_cluster,
            "now": "2026-12-07T13:30:00Z",
            "docdb": [scene.docdb_cluster],
            "ecs": [[scene.ecs_cluster, scene.ecs_service]],
            "timings": {"create": 10, "delete": 5, "task_start": 2, "task_stop": 0.5},
        }),
    );
    let events: Arc<dyn EventSink> = Arc::new(EventsClient::new(&sdk));
    let top = format!("[notify]\nevent_bus = \"{bus}\"\n");
    let with_bus = {
        // The same config with [notify] (a table of the top level, so before [[scenario]]).
        let mut files = InMemory::default();
        files
            .0
            .insert("holidays.ics".into(), HOLIDAYS.as_bytes().to_vec());
        let plain = scene.config(None).replacen(
            "timezone = \"Asia/Tokyo\"",
            "timezone = \"Asia/Tokyo\"\nholidays = \"holidays.ics\"",
            1,
        );
        let (head, rest) = plain.split_at(plain.find("[[scenario]]").unwrap());
        config::parse_with(&format!("{head}{top}{rest}"), "late.toml", &files)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let app = app_for(with_bus, &table, Some(events)).await;
    let clock = |now: &str| {
        support::emulator_api(
            "/nightshift-api/clock",
            &json!({"world": scene.docdb_cluster, "now": now}),
        )
    };
    // The batch starts at 23:02, two minutes after the scale-up.
    scene
        .put_jobs_running(
            &sdk,
            "2026-12-07T14:02:00Z".parse().unwrap(),
            "2026-12-07T15:00:00Z".parse().unwrap(),
            4.0,
        )
        .await;
    clock("2026-12-07T14:00:00Z");
    let up = step(&app, at(&scene, "scale-up", "2026-12-07T14:00:00Z")).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    clock("2026-12-07T14:06:00Z");
    let first = step(&app, at(&scene, "check", "2026-12-07T14:06:00Z")).await;
    assert!(first.reason.contains("not ready"), "{first:?}");
    clock("2026-12-07T14:08:00Z");
    let second = step(&app, at(&scene, "check", "2026-12-07T14:08:00Z")).await;
    assert!(second.reason.contains("not ready"), "{second:?}");
    clock("2026-12-07T14:12:00Z");
    let ready = step(&app, at(&scene, "check", "2026-12-07T14:12:00Z")).await;
    assert!(ready.reason.starts_with("ready"), "{ready:?}");

    // The bus's rule delivers every nightshift event: the late one is sent once.
    let messages: Vec<Value> = drain(&queue)
        .await
        .into_iter()
        .filter(|m| m["detail-type"] == "Nightshift Capacity Late")
        .collect();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let d = &messages[0]["detail"];
    assert_eq!(messages[0]["detail-type"], "Nightshift Capacity Late");
    assert_eq!(
        d["notification_id"],
        format!("{}/2026-12-07/capacity-late", scene.scenario)
    );
    assert_eq!(d["busy_since"], "2026-12-07T14:02:00Z");
    assert_eq!(d["late_minutes"], 4);
    assert!(!d["items"].as_array().unwrap().is_empty(), "{d}");
}

/// `nightshift tune --scale-up` over ten nights written with known readiness and batch starts:
/// (minutes from the 23:00 scale-up to ready, to the batch's first busy minute). The advice is
/// worked out by hand: each night's latest in-time scale-up is 23:00 + busy - ready; sorted,
/// 22:45 22:50 23:00 23:05 23:10 23:15 23:20 23:30 23:30 23:40; nine of ten at or after 22:50.
const LEAD: [(i64, i64); 10] = [
    (20, 30),
    (20, 40),
    (25, 30),
    (30, 20),
    (20, 60),
    (20, 50),
    (40, 25),
    (20, 35),
    (15, 45),
    (20, 20),
];

#[tokio::test]
async fn tune_scale_up_reads_the_nights_readiness_and_the_batchs_first_busy_minute() {
    use nightshift::history::{RunRecord, RunStatus};
    use nightshift::plan::{Baseline, ClusterBaseline, InstanceBaseline, RunState};
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &table,
        Timeouts::default(),
    );
    for (i, (ready, busy)) in LEAD.iter().enumerate() {
        let night = format!("2026-11-{:02}", i + 1);
        // 23:00 Tokyo.
        let up: jiff::Timestamp = format!("{night}T14:00:00Z").parse().unwrap();
        let mins = |m: i64| up + jiff::SignedDuration::from_mins(m);
        let mut state = RunState::new(
            Baseline {
                taken_at: up,
                services: Vec::new(),
                clusters: vec![ClusterBaseline {
                    cluster: scene.docdb_cluster.clone(),
                    writer: Some("w".into()),
                    instances: vec![InstanceBaseline {
                        id: "w".into(),
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
        state.ready_at = Some(mins(*ready));
        let run = RunRecord {
            scenario: scene.scenario.clone(),
            run: night.clone(),
            status: RunStatus::Open,
            opened_at: up,
            closed_at: None,
            opened_by: format!("{}/scale-up/{up}", scene.scenario),
            baseline: Some(state.to_json()),
            summary: "scaling up".into(),
        };
        store.open_run(&run).await.unwrap();
        store
            .close_run(
                &scene.scenario,
                &night,
                mins(180),
                "quiet: back at baseline",
            )
            .await
            .unwrap();
        scene
            .put_jobs_running(&sdk, mins(-20), mins(*busy), 0.0)
            .await;
        scene
            .put_jobs_running(&sdk, mins(*busy), mins(120), 4.0)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nightshift.toml");
    std::fs::write(
        &config,
        scene.config(None)
            + "\n  [scenario.schedule]\n  scale_up = \"23:00\"\n  check_every = \"10m\"\n",
    )
    .unwrap();
    let table_text = harness::ok(harness::cli().args(["tune", "--scale-up"]).args([
        "--config",
        config.to_str().unwrap(),
        "--scenario",
        &scene.scenario,
        "--since",
        "40d",
        "--now",
        "2026-12-01T00:00:00Z",
    ]));
    println!("{table_text}");
    assert!(
        table_text.contains("batch busy before the capacity was ready: 2 of 10 night(s)"),
        "{table_text}"
    );
    assert!(
        table_text.contains("scale up by 22:50 (now 23:00, 10 min earlier)"),
        "{table_text}"
    );
    assert!(
        table_text.contains("extra capacity: 0.50 reader-hours"),
        "{table_text}"
    );
    let json: Value = serde_json::from_str(&harness::ok(harness::cli().args([
        "tune",
        "--scale-up",
        "--config",
        config.to_str().unwrap(),
        "--scenario",
        &scene.scenario,
        "--since",
        "40d",
        "--now",
        "2026-12-01T00:00:00Z",
        "--output",
        "json",
    ])))
    .unwrap();
    assert_eq!(json["late"], 2);
    assert_eq!(json["nights"][3]["margin_minutes"], -10);
    assert_eq!(json["nights"][3]["batch_busy"], "2026-11-04T14:20:00Z");
}
