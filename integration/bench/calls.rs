//! AWS calls per event kind: one night played through an in-process `App` whose five clients
//! (DynamoDB, ECS, Application Auto Scaling, DocumentDB, CloudWatch) carry one `CallLog`.
//! Deterministic, so each event kind is played once.

use crate::report::Table;
use crate::{support, Bench};
use nightshift::app::{Adapters, App, Invocation, Settings};
use nightshift::aws::calls::{Call, CallLog};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::idempotency::GuardPolicy;
use nightshift_test_support::scene::Scene;
use std::sync::Arc;

/// The column of each service, by the SDK's service name.
const SERVICES: [(&str, &str); 5] = [
    ("dynamodb", "DynamoDB"),
    ("ecs", "ECS"),
    ("applicationautoscaling", "App Auto Scaling"),
    ("docdb", "DocumentDB"),
    ("cloudwatch", "CloudWatch"),
];

fn column(call: &Call) -> Option<usize> {
    let name: String = call
        .service
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    SERVICES.iter().position(|(key, _)| {
        name == *key
            || (*key == "applicationautoscaling" && name.contains("autoscaling"))
            || (*key == "docdb" && (name.contains("docdb") || name == "rds"))
            || (*key == "cloudwatch" && (name.contains("cloudwatch") || name == "monitoring"))
    })
}

pub async fn run(bench: &Bench) {
    support::reset().await;
    for db_table in ["docdb", "aurora", "neptune"] {
        night(bench, db_table).await;
    }
}

/// The contract's night with its database cluster in `db_table` (`docdb`, or an Aurora or a
/// Neptune cluster in `[[scenario.aurora]]`, `[[scenario.neptune]]`).
async fn night(bench: &Bench, db_table: &'static str) {
    let table = crate::fresh_table("bench-calls").await;
    let scene = Scene {
        db_table,
        ..crate::scene(&table, "nightly-batch")
    };
    crate::create_worlds(bench, std::slice::from_ref(&scene)).await;
    crate::go_quiet(bench, std::slice::from_ref(&scene)).await;
    let text = crate::config_text(std::slice::from_ref(&scene), &bench.deadline());
    let config = nightshift::config::parse(&text, "bench.toml")
        .unwrap_or_else(|e| panic!("the benchmark's config does not validate:\n{e}"));

    let log = CallLog::new();
    let sdk = support::sdk_config().await;
    let clients = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(log.clone())
                .build(),
        ),
        &table,
        Timeouts::default(),
    );
    let settings = Settings {
        app_env: Some("bench".into()),
        dry_run: false,
        guard: GuardPolicy::default(),
        timeouts: Timeouts::default(),
    };
    let app = App::build(Arc::new(config), settings, Adapters::new(store, clients));

    // (what, payload, the invocation's clock in minutes after the night's start, (floor,
    // target)): the floor per step is argued in BENCHMARKS.md ("AWS calls per event"), the
    // targets are the performance targets for the contract config. An Aurora cluster's snapshot reads its
    // rds:cluster:ReadReplicaCount scalable target too (one DescribeScalableTargets more per
    // snapshot: its floor is one more where a step reads one); a Neptune cluster's is
    // DocumentDB's. The targets are the contract's (DocumentDB) only.
    let snapshot = usize::from(db_table == "aurora");
    let contract = db_table == "docdb";
    let bound = |floor: usize, target: usize, reads: usize| -> Bound {
        (floor + snapshot * reads, contract.then_some(target))
    };
    let scale_up = scene.scheduled_step("scale-up", bench.at(0));
    let events: Vec<(&str, Vec<u8>, i64, Bound)> = vec![
        (
            "check, no open run",
            scene.scheduled_step("check", bench.at(-10)),
            -10,
            bound(1, 2, 0),
        ),
        ("scale-up", scale_up.clone(), 0, bound(13, 16, 1)),
        (
            "duplicate scale-up (same event again)",
            scale_up,
            1,
            bound(1, 1, 0),
        ),
        (
            "check, batch busy",
            scene.scheduled_step("check", bench.at(30)),
            30,
            bound(9, 10, 1),
        ),
        (
            "completion event (ECS task STOPPED), batch busy",
            crate::task_stopped(&scene, bench.at(60)),
            60,
            bound(9, 10, 1),
        ),
        (
            "scale-down, batch quiet",
            scene.scheduled_step("scale-down", bench.at(150)),
            150,
            bound(19, 19, 1),
        ),
        (
            "check after the scale-down",
            scene.scheduled_step("check", bench.at(160)),
            160,
            bound(1, 2, 0),
        ),
        (
            "rejected: unknown scenario",
            br#"{"scenario": "no-such-scenario", "step": "check"}"#.to_vec(),
            170,
            (1, None),
        ),
        ("rejected: not JSON", b"{not json".to_vec(), 171, (1, None)),
    ];

    let kind = match db_table {
        "aurora" => "an Aurora PostgreSQL cluster in [[scenario.aurora]]",
        "neptune" => "a Neptune cluster in [[scenario.neptune]]",
        _ => "the contract's DocumentDB cluster",
    };
    println!("## AWS calls per event (in-process App, CallLog on all five clients): {kind}");
    println!();
    println!(
        "One night of one scenario (the contract's: ECS desired 2→10, 0→3 readers of {kind}), each event handled once by `App::handle` with the clock at the event's time. Counts are deterministic; 'floor' is the fewest calls the step can make (the calls that carry information nobody else has, argued in BENCHMARKS.md), 'target' is the performance target for the contract config; 'refused' counts answers with an HTTP status ≥ 400 (e.g. the conditional put a duplicate loses, or a check's no-open-run transaction when a run is open)."
    );
    println!();
    let mut head = vec!["event", "outcome"];
    head.extend(SERVICES.iter().map(|(_, name)| *name));
    head.extend([
        "total",
        "floor",
        "target",
        "verdict",
        "refused",
        "operations, in order",
    ]);
    let last = head.len() - 1;
    let mut table = Table::new(&head).text_columns(&[1, last - 3, last - 2, last]);
    for (what, payload, minutes, (floor, target)) in events {
        log.clear();
        let now = bench.at(minutes);
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            deadline: Some(now + jiff::SignedDuration::from_secs(60)),
            now,
            function_arn: None,
        };
        let outcome = match app.handle(&payload, &invocation).await {
            Ok(response) => response.outcome.as_str().to_string(),
            Err(e) => format!("error: {e}"),
        };
        let calls = log.calls();
        let mut per_service = [0usize; SERVICES.len()];
        let mut other = Vec::new();
        for call in &calls {
            match column(call) {
                Some(i) => per_service[i] += 1,
                None => other.push(call.service.clone()),
            }
        }
        assert!(
            other.is_empty(),
            "calls to services outside the table: {other:?}"
        );
        let refused = calls
            .iter()
            .filter(|c| c.status.is_none_or(|s| s >= 400))
            .count();
        let mut row = vec![what.to_string(), outcome];
        row.extend(per_service.iter().map(|n| n.to_string()));
        row.push(calls.len().to_string());
        row.push(floor.to_string());
        row.push(target.map_or_else(|| "–".to_string(), |t| format!("≤ {t}")));
        row.push(match target {
            Some(t) if calls.len() <= t => "PASS".to_string(),
            Some(_) => "MISS".to_string(),
            None => "–".to_string(),
        });
        row.push(refused.to_string());
        row.push(compact(&calls));
        table.row(row);
    }
    table.print();
}

/// The floor of a step's calls, and its target (None: no target stated).
type Bound = (usize, Option<usize>);

/// "PutItem, GetItem×2, …": operations in order of first use, with their counts.
fn compact(calls: &[Call]) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for call in calls {
        match seen.iter_mut().find(|(op, _)| *op == call.operation) {
            Some((_, n)) => *n += 1,
            None => seen.push((call.operation.clone(), 1)),
        }
    }
    seen.into_iter()
        .map(|(op, n)| if n == 1 { op } else { format!("{op}×{n}") })
        .collect::<Vec<_>>()
        .join(", ")
}
