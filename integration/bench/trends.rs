//! `nightshift report`'s cost versus table size. Each size is a fresh table written by the
//! `queries` section's `populate` (R runs across 3 scenarios, one a night each, 3 events per
//! closed run); then the report's reads (`nightshift::trends::read_nights`, what the CLI runs)
//! for one scenario's last 7 nights and for every scenario's last 7 days, through a `CallLog`:
//! nights returned, Query requests, items read. The cost follows the nights in range: the same
//! at every table size.

use crate::queries::{last_night, populate, run_id, SCENARIOS};
use crate::report::{num, Summary, Table};
use crate::{support, Bench};
use jiff::SignedDuration;
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::trends::read_nights;
use std::time::{Duration, Instant};

const CASES: [&str; 2] = [
    "report --scenario beta --since 7d",
    "report --since 7d (every scenario)",
];

struct Measured {
    nights: usize,
    queries: u32,
    items_read: u64,
    requests: usize,
    operations: Vec<String>,
    latency: Vec<Duration>,
}

pub async fn run(bench: &Bench) {
    let mut sizes = bench.sizes.clone();
    sizes.sort_unstable();
    let reps = bench.query_reps.min(10);
    let mut results: Vec<(usize, usize, Vec<Measured>)> = Vec::new();
    for &runs in &sizes {
        support::reset().await;
        let table = crate::fresh_table("bench-trends").await;
        let raw = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
        let plain = DynamoStore::new(raw.clone(), &table, Timeouts::default());
        eprintln!("bench: trends: writing {runs} runs");
        let items = populate(&plain, &raw, runs).await.items;
        let log = CallLog::new();
        let logged = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&support::sdk_config().await)
                .interceptor(log.clone())
                .build(),
        );
        // The emulator shares two busy cores: give one Query more time than the function does.
        let patient = Timeouts {
            attempt: Duration::from_secs(60),
            operation: Duration::from_secs(120),
            ..Timeouts::default()
        };
        let store = DynamoStore::new(logged, &table, patient);
        // The morning after the last night; 7 days back.
        let now = last_night() + SignedDuration::from_hours(12);
        let from = now - SignedDuration::from_hours(24 * 7);
        let mut measured = Vec::new();
        for (case, name) in CASES.iter().enumerate() {
            let scenario = (case == 0).then_some(SCENARIOS[1]);
            let mut latency = Vec::new();
            let mut shape = None;
            for _ in 0..reps {
                log.clear();
                let began = Instant::now();
                let (nights, cost) = read_nights(&store, scenario, from, now, None)
                    .await
                    .expect("read_nights");
                latency.push(began.elapsed());
                let now_shape = (nights.len(), cost, log.operations());
                if let Some(before) = &shape {
                    assert_eq!(before, &now_shape, "{name} changed between repetitions");
                }
                shape = Some(now_shape);
            }
            let (nights, cost, operations) = shape.expect("at least one repetition");
            measured.push(Measured {
                nights,
                queries: cost.queries,
                items_read: cost.items_read,
                requests: operations.len(),
                operations,
                latency,
            });
        }
        results.push((runs, items, measured));
    }

    println!("## Trend report (`nightshift report`) cost vs table size");
    println!();
    println!(
        "The tables of the history benchmark (3 scenarios, one run a night each, ending {}, 3 events per closed run); the report's reads ({reps} times per size; latency: median and p90, ms, the emulator's). Items read = DynamoDB's ScannedCount summed over the report's Queries.",
        run_id(last_night())
    );
    println!();
    let mut table = Table::new(&[
        "report",
        "runs in table",
        "items in table",
        "nights",
        "queries",
        "items read",
        "requests",
        "operations",
        "latency median",
        "p90",
    ])
    .text_columns(&[7]);
    for (case, name) in CASES.iter().enumerate() {
        for (runs, items, measured) in &results {
            let m = &measured[case];
            let lat = Summary::of_durations(&m.latency);
            let mut ops = m.operations.clone();
            ops.dedup();
            table.row(vec![
                name.to_string(),
                runs.to_string(),
                items.to_string(),
                m.nights.to_string(),
                m.queries.to_string(),
                m.items_read.to_string(),
                m.requests.to_string(),
                ops.join(", "),
                num(lat.map(|s| s.median), 1),
                num(lat.map(|s| s.p90), 1),
            ]);
        }
    }
    table.print();
    if let (Some((a, _, small)), Some((b, _, large))) = (results.first(), results.last()) {
        println!("Ratio of items read, {b} runs ÷ {a} runs (1.00: the cost follows the result, not the table):");
        println!();
        let mut table = Table::new(&["report", &format!("@{a}"), &format!("@{b}"), "ratio"]);
        for (case, name) in CASES.iter().enumerate() {
            let (x, y) = (&small[case], &large[case]);
            table.row(vec![
                name.to_string(),
                x.items_read.to_string(),
                y.items_read.to_string(),
                num(
                    Some(y.items_read as f64 / (x.items_read as f64).max(1.0)),
                    2,
                ),
            ]);
        }
        table.print();
    }
}
