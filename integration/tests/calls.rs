//! AWS calls per step of one contract night, counted by a `CallLog` on all five clients: each
//! step stays within its stated floor-based target (BENCHMARKS.md, "AWS calls per event"). The
//! counts are deterministic (no timing), so the targets are asserted as upper bounds.

use crate::harness::{logged_client, settings};
use crate::support::{self, scene::Scene};
use jiff::{SignedDuration, Timestamp};
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use std::sync::Arc;

/// The performance targets for the contract config (BENCHMARKS.md): (step, outcome, most calls).
const TARGETS: [(&str, &str, usize); 7] = [
    ("check, no open run", "skipped", 2),
    ("scale-up", "acted", 16),
    ("duplicate scale-up", "duplicate", 1),
    ("check, batch busy", "deferred", 10),
    ("completion event, batch busy", "deferred", 10),
    // 18 to restore the baseline and close, and one Query of the night's events: its hours and
    // cost for the Run Closed event and the closing EMF line.
    ("scale-down, batch quiet", "acted", 19),
    ("check after the scale-down", "skipped", 2),
];

#[tokio::test]
async fn a_contract_night_makes_no_more_aws_calls_per_step_than_its_target() {
    let table = crate::harness::fresh_table().await;
    let scene = Scene::unique(&table);
    let sdk = support::sdk_config().await;
    scene.create(&sdk).await;
    let t0 = support::scene::minutes_ago(200);
    let at = |minutes: i64| t0 + SignedDuration::from_mins(minutes);
    // Busy until 90 minutes in, quiet after; the deadline well after the night (the metric
    // decides, not the clock).
    scene.put_jobs_running(&sdk, t0, at(90), 3.0).await;
    scene
        .put_jobs_running(
            &sdk,
            at(90),
            Timestamp::now() + SignedDuration::from_mins(10),
            0.0,
        )
        .await;
    let deadline = at(400)
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").expect("tz"))
        .strftime("%H:%M")
        .to_string();
    let config = nightshift::config::parse(&scene.config(Some(&deadline)), "contract.toml")
        .expect("the contract config parses");

    let log = CallLog::new();
    let store = DynamoStore::new(logged_client(&log).await, &table, Timeouts::default());
    let clients = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
    let app = App::build(Arc::new(config), settings(), Adapters::new(store, clients));

    let scale_up = scene.scheduled_step("scale-up", at(0));
    let events: [(Vec<u8>, i64); 7] = [
        (scene.scheduled_step("check", at(-10)), -10),
        (scale_up.clone(), 0),
        (scale_up, 1),
        (scene.scheduled_step("check", at(30)), 30),
        (scene.job_task_stopped(at(60)), 60),
        (scene.scheduled_step("scale-down", at(150)), 150),
        (scene.scheduled_step("check", at(160)), 160),
    ];
    let mut report = Vec::new();
    let mut over = Vec::new();
    for ((payload, minutes), (what, outcome, most)) in events.into_iter().zip(TARGETS) {
        log.clear();
        let now = at(minutes);
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            deadline: Some(now + SignedDuration::from_secs(60)),
            now,
            function_arn: None,
        };
        let response = app
            .handle(&payload, &invocation)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let calls = log.calls();
        let ops: Vec<String> = calls.iter().map(|c| c.operation.clone()).collect();
        let line = format!(
            "{what}: {} ({}) in {} calls: {}",
            response.outcome,
            response.reason,
            calls.len(),
            ops.join(", ")
        );
        assert_eq!(response.outcome.as_str(), outcome, "{line}");
        if calls.len() > most {
            over.push(format!("{line} (target ≤ {most})"));
        }
        report.push(line);
    }
    println!("{}", report.join("\n"));
    assert!(
        over.is_empty(),
        "steps over their call target:\n{}\n\nthe night:\n{}",
        over.join("\n"),
        report.join("\n")
    );
    // The scale-down closed the night: the last check found no open run.
    let state = scene.state(&sdk).await;
    assert!(state.is_baseline(), "not back at the baseline: {state}");
}
