//! Run-history query cost versus table size.
//!
//! Each size is a fresh migrated table holding R runs across 3 scenarios (one run per scenario
//! per night, nights ending on the same date at every size, each closed run with its scale-up,
//! check and scale-down events, the last night of each scenario open). The same queries then run
//! at every size through `DynamoStore` with a `CallLog` on its client: what they return, what
//! DynamoDB read to serve them (`Page.items_read`, from `ScannedCount`), how many requests.
//!
//! Writing: `open_run` / `close_run` are TransactWriteItems, and the emulator (moto) deep-copies
//! the whole table for every TransactWriteItems, so writing thousands of runs that way grows
//! quadratically. One run per table is therefore written through the `HistoryStore` API and read
//! back raw, the benchmark's item encoding is checked against it item for item, the open runs are
//! written through the API, and the rest goes in with concurrent BatchWriteItem requests.

use crate::report::{ms, num, Summary, Table};
use crate::{support, Bench};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::history::{keys, EventRecord, OpenRun, RunRecord, RunStatus};
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Step};
use std::collections::HashMap;
use std::time::{Duration, Instant};

type Item = HashMap<String, AttributeValue>;

pub(crate) const SCENARIOS: [&str; 3] = ["alpha", "beta", "gamma"];
/// The last night of every table: a week before it crosses a month boundary, so the time-range
/// query reads two month buckets.
const LAST_NIGHT: &str = "2026-11-03T13:00:00Z";

pub(crate) fn last_night() -> Timestamp {
    LAST_NIGHT.parse().expect("LAST_NIGHT is a timestamp")
}

/// The `idx`th run, newest first: night `idx / 3` before the last, scenario `idx % 3`.
fn run_of(idx: usize) -> (&'static str, Timestamp, String) {
    let opened = last_night() - SignedDuration::from_hours(24 * (idx / 3) as i64);
    (SCENARIOS[idx % 3], opened, run_id(opened))
}

pub(crate) fn run_id(opened: Timestamp) -> String {
    opened
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

fn run_record(scenario: &str, id: &str, opened: Timestamp, closed: bool) -> RunRecord {
    RunRecord {
        scenario: scenario.into(),
        run: id.into(),
        status: if closed {
            RunStatus::Closed
        } else {
            RunStatus::Open
        },
        opened_at: opened,
        closed_at: closed.then(|| opened + SignedDuration::from_hours(5)),
        opened_by: format!("{scenario}/scale-up/{id}"),
        baseline: None,
        summary: if closed { "scaled down" } else { "scaled up" }.into(),
    }
}

fn events_of(scenario: &str, id: &str, opened: Timestamp, closed: bool) -> Vec<EventRecord> {
    let mut steps = vec![(Step::ScaleUp, opened)];
    if closed {
        steps.push((Step::Check, opened + SignedDuration::from_hours(3)));
        steps.push((Step::ScaleDown, opened + SignedDuration::from_hours(5)));
    }
    steps
        .into_iter()
        .map(|(step, at)| EventRecord {
            key: format!("{scenario}/{step}/{at}"),
            step: Some(step),
            scenario: Some(scenario.into()),
            run: Some(id.into()),
            kind: "step-command".into(),
            outcome: Outcome::Acted,
            reason: format!("{step} of {scenario} at {at}"),
            detail: String::new(),
            actions: Vec::new(),
            received_at: at,
            finished_at: at,
            evidence: None,
            payload_hash: None,
        })
        .collect()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A run item as `DynamoStore` writes it (checked against one written by the API).
fn run_item(run: &RunRecord) -> Item {
    let mut item = HashMap::from([
        ("pk".to_string(), s(keys::scenario_runs_pk(&run.scenario))),
        ("sk".to_string(), s(keys::run_sk(&run.run))),
        ("kind".to_string(), s("run")),
        ("scenario".to_string(), s(&run.scenario)),
        ("run".to_string(), s(&run.run)),
        ("run_status".to_string(), s(run.status.as_str())),
        ("opened_at".to_string(), s(keys::rfc3339(run.opened_at))),
        ("opened_by".to_string(), s(&run.opened_by)),
        ("summary".to_string(), s(&run.summary)),
        ("tpk".to_string(), s(keys::time_bucket(run.opened_at))),
        (
            "tsk".to_string(),
            s(keys::time_sort(run.opened_at, &run.scenario, &run.run)),
        ),
    ]);
    if let Some(closed) = run.closed_at {
        item.insert("closed_at".into(), s(keys::rfc3339(closed)));
    }
    item
}

/// An event item as `DynamoStore::record_event` writes it.
fn event_item(event: &EventRecord) -> Item {
    let scenario = event
        .scenario
        .as_deref()
        .expect("bench events have a scenario");
    let run = event.run.as_deref().expect("bench events have a run");
    HashMap::from([
        ("pk".to_string(), s(keys::run_events_pk(scenario, run))),
        (
            "sk".to_string(),
            s(keys::event_sk(event.received_at, event.step, &event.key)),
        ),
        ("kind".to_string(), s("event")),
        ("outcome".to_string(), s(event.outcome.as_str())),
        (
            "data".to_string(),
            s(serde_json::to_string(event).expect("an event record encodes")),
        ),
    ])
}

pub(crate) struct Populated {
    pub(crate) items: usize,
    api_ms: f64,
    bulk_requests: usize,
    bulk_items: usize,
    bulk: Duration,
}

pub(crate) async fn populate(
    store: &DynamoStore,
    raw: &aws_sdk_dynamodb::Client,
    runs: usize,
) -> Populated {
    assert!(runs > 3, "at least one closed run besides the 3 open ones");
    let table = store.table().to_string();
    // 1. The oldest run through the API, then the benchmark's encoding checked against it.
    let began = Instant::now();
    let (scenario, opened, id) = run_of(runs - 1);
    let open = run_record(scenario, &id, opened, false);
    assert_eq!(
        store.open_run(&open).await.expect("open_run"),
        OpenRun::Opened
    );
    let events = events_of(scenario, &id, opened, true);
    for event in &events {
        store.record_event(event).await.expect("record_event");
    }
    let closed = run_record(scenario, &id, opened, true);
    let closed_at = closed.closed_at.expect("a closed run has closed_at");
    store
        .close_run(scenario, &id, closed_at, &closed.summary)
        .await
        .expect("close_run");
    let stored = raw
        .get_item()
        .table_name(&table)
        .key("pk", s(keys::scenario_runs_pk(scenario)))
        .key("sk", s(keys::run_sk(&id)))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem of the run written through the API")
        .item
        .expect("the run written through the API exists");
    assert_eq!(
        stored,
        run_item(&closed),
        "the benchmark's run item differs from DynamoStore's: update run_item()"
    );
    let stored_events = raw
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", s(keys::run_events_pk(scenario, &id)))
        .consistent_read(true)
        .send()
        .await
        .expect("Query of the events written through the API")
        .items
        .unwrap_or_default();
    let expected: Vec<Item> = events.iter().map(event_item).collect();
    assert_eq!(
        stored_events, expected,
        "the benchmark's event items differ from DynamoStore's: update event_item()"
    );
    // 2. The open runs (the last night of each scenario), through the API.
    for idx in 0..3 {
        let (scenario, opened, id) = run_of(idx);
        assert_eq!(
            store
                .open_run(&run_record(scenario, &id, opened, false))
                .await
                .expect("open_run"),
            OpenRun::Opened
        );
        for event in events_of(scenario, &id, opened, false) {
            store.record_event(&event).await.expect("record_event");
        }
    }
    let api_ms = ms(&began.elapsed());

    // 3. Every other run, closed, with its events: BatchWriteItem, 25 items a request.
    let mut items = Vec::new();
    for idx in 3..runs - 1 {
        let (scenario, opened, id) = run_of(idx);
        items.push(run_item(&run_record(scenario, &id, opened, true)));
        items.extend(
            events_of(scenario, &id, opened, true)
                .iter()
                .map(event_item),
        );
    }
    let bulk_items = items.len();
    let began = Instant::now();
    let chunks: Vec<Vec<Item>> = items.chunks(25).map(<[Item]>::to_vec).collect();
    let bulk_requests = chunks.len();
    futures::stream::iter(chunks)
        .map(|chunk| batch_write(raw, &table, chunk))
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    Populated {
        items: runs + 3 * (runs - 3) + 3 + SCENARIOS.len(),
        api_ms,
        bulk_requests,
        bulk_items,
        bulk: began.elapsed(),
    }
}

async fn batch_write(raw: &aws_sdk_dynamodb::Client, table: &str, chunk: Vec<Item>) {
    let mut requests: Vec<WriteRequest> = chunk
        .into_iter()
        .map(|item| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("a put request with an item"),
                )
                .build()
        })
        .collect();
    for attempt in 0..10 {
        let out = raw
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .expect("BatchWriteItem on the emulator");
        requests = out
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
        if requests.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
    }
    panic!("BatchWriteItem left items unprocessed after 10 attempts");
}

struct Measured {
    returned: usize,
    items_read: u64,
    requests: usize,
    operations: Vec<String>,
    /// Every operation of every repetition.
    all_operations: Vec<String>,
    latency: Vec<Duration>,
}

const QUERIES: [&str; 4] = [
    "scenario_runs(beta, since 7 nights ago)",
    "runs_between(last 7 days)",
    "latest_open_run(gamma)",
    "run_events(alpha, last closed run)",
];

async fn measure(store: &DynamoStore, log: &CallLog, query: usize, reps: usize) -> Measured {
    let last = last_night();
    let week_ago = last - SignedDuration::from_hours(24 * 7);
    let mut latency = Vec::new();
    let mut shape = None;
    let mut all_operations = Vec::new();
    for _ in 0..reps {
        log.clear();
        let began = Instant::now();
        let (returned, items_read) = match query {
            0 => {
                let page = store
                    .scenario_runs("beta", Some(&run_id(week_ago)), 100, None)
                    .await
                    .expect("scenario_runs");
                (page.items.len(), page.items_read)
            }
            1 => {
                let page = store
                    .runs_between(week_ago, last, 100, None)
                    .await
                    .expect("runs_between");
                (page.items.len(), page.items_read)
            }
            2 => {
                let run = store
                    .latest_open_run("gamma")
                    .await
                    .expect("latest_open_run");
                assert!(run.is_some(), "gamma has an open run");
                // Two consistent GetItems (the state item, then the run): one item each.
                (usize::from(run.is_some()), log.calls().len() as u64)
            }
            _ => {
                let yesterday = run_id(last - SignedDuration::from_hours(24));
                let page = store
                    .run_events("alpha", &yesterday, 100, None)
                    .await
                    .expect("run_events");
                (page.items.len(), page.items_read)
            }
        };
        latency.push(began.elapsed());
        let operations = log.operations();
        all_operations.extend(operations.iter().cloned());
        let now = (returned, items_read, operations);
        if let Some(before) = &shape {
            assert_eq!(
                before, &now,
                "{} changed between repetitions",
                QUERIES[query]
            );
        }
        shape = Some(now);
    }
    let (returned, items_read, operations) = shape.expect("at least one repetition");
    Measured {
        returned,
        items_read,
        requests: operations.len(),
        operations,
        all_operations,
        latency,
    }
}

/// The store's timeouts here: moto's Query walks every item of the table, so at 10,000 runs
/// (40,000 items) on a loaded machine one call can outlast the function's 12 s operation
/// timeout. What this section measures is items read and requests, not the emulator's latency.
fn patient() -> Timeouts {
    Timeouts {
        attempt: Duration::from_secs(120),
        operation: Duration::from_secs(300),
        ..Timeouts::default()
    }
}

pub async fn run(bench: &Bench) {
    let mut sizes = bench.sizes.clone();
    sizes.sort_unstable();
    let mut populated = Vec::new();
    let mut results: Vec<Vec<Measured>> = Vec::new();
    let mut all_operations: Vec<String> = Vec::new();
    let mut transaction_ms = Vec::new();
    for &runs in &sizes {
        support::reset().await;
        let table = crate::fresh_table("bench-history").await;
        let raw = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
        let plain = DynamoStore::new(raw.clone(), &table, patient());
        eprintln!("bench: queries: writing {runs} runs");
        populated.push(populate(&plain, &raw, runs).await);

        // What one TransactWriteItems costs on the emulator at this size: an open_run refused
        // because the scenario has an open run (nothing is written).
        let mut probes = Vec::new();
        for _ in 0..3 {
            let began = Instant::now();
            let probe = run_record("alpha", "9999-12-31", last_night(), false);
            // At 10,000 runs moto's deep copy can outlast the SDK's operation timeout on a
            // loaded machine: the probe then says so (no figure) instead of ending the run.
            match plain.open_run(&probe).await {
                Ok(answer) => {
                    assert!(matches!(answer, OpenRun::AlreadyOpen(_)), "{answer:?}");
                    probes.push(began.elapsed());
                }
                Err(e) => {
                    eprintln!("bench: queries: the TransactWriteItems probe at {runs} runs failed after {:.1} s: {e:?}", began.elapsed().as_secs_f64());
                    break;
                }
            }
        }
        transaction_ms.push(Summary::of_durations(&probes).map(|s| s.median));

        let log = CallLog::new();
        let logged = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&support::sdk_config().await)
                .interceptor(log.clone())
                .build(),
        );
        let store = DynamoStore::new(logged, &table, patient());
        eprintln!("bench: queries: querying the {runs}-run table");
        let mut measured = Vec::new();
        for query in 0..QUERIES.len() {
            let m = measure(&store, &log, query, bench.query_reps).await;
            all_operations.extend(m.all_operations.iter().cloned());
            measured.push(m);
        }
        results.push(measured);
    }

    println!("## Run-history query cost vs table size");
    println!();
    println!(
        "Fresh migrated tables; 3 scenarios, one run per scenario per night ending {} (the last night open), 3 events per closed run. The tables were written as described in integration/bench/queries.rs (one run through the API checked item for item against the benchmark's encoding, the open runs through the API, the rest by BatchWriteItem, 8 requests in flight).",
        run_id(last_night())
    );
    println!();
    let mut table = Table::new(&[
        "runs",
        "items in table",
        "API writes (ms, 4 runs)",
        "BatchWriteItem requests",
        "items batch-written",
        "seconds",
        "items/s",
        "one TransactWriteItems on the emulator (ms)",
    ]);
    for ((runs, p), tx) in sizes.iter().zip(&populated).zip(&transaction_ms) {
        table.row(vec![
            runs.to_string(),
            p.items.to_string(),
            num(Some(p.api_ms), 0),
            p.bulk_requests.to_string(),
            p.bulk_items.to_string(),
            num(Some(p.bulk.as_secs_f64()), 1),
            num(
                Some(p.bulk_items as f64 / p.bulk.as_secs_f64().max(1e-9)),
                0,
            ),
            num(*tx, 1),
        ]);
    }
    table.print();

    println!(
        "Each query {} times per size (latency: median and p90, ms; the emulator's, not DynamoDB's). Items read = `Page.items_read` (DynamoDB's ScannedCount); for `latest_open_run`, its GetItems (one item each).",
        bench.query_reps
    );
    println!();
    let mut table = Table::new(&[
        "query",
        "runs in table",
        "returned",
        "items read",
        "requests",
        "operations",
        "latency median",
        "p90",
    ])
    .text_columns(&[5]);
    for (q, name) in QUERIES.iter().enumerate() {
        for (runs, measured) in sizes.iter().zip(&results) {
            let m = &measured[q];
            let lat = Summary::of_durations(&m.latency);
            table.row(vec![
                name.to_string(),
                runs.to_string(),
                m.returned.to_string(),
                m.items_read.to_string(),
                m.requests.to_string(),
                m.operations.join(", "),
                num(lat.map(|s| s.median), 1),
                num(lat.map(|s| s.p90), 1),
            ]);
        }
    }
    table.print();

    if let (Some(small), Some(large)) = (results.first(), results.last()) {
        let (a, b) = (sizes[0], sizes[sizes.len() - 1]);
        crate::targets::record_queries(crate::targets::Queries {
            small: a,
            large: b,
            worst_ratio: small
                .iter()
                .zip(large)
                .map(|(x, y)| y.items_read as f64 / (x.items_read as f64).max(1.0))
                .fold(0.0, f64::max),
            scans: all_operations.iter().filter(|o| *o == "Scan").count(),
        });
        println!("Ratio of items read, {b} runs ÷ {a} runs (1.00 = the cost follows the result, not the table):");
        println!();
        let mut table = Table::new(&[
            "query",
            &format!("items read @{a}"),
            &format!("items read @{b}"),
            "ratio",
            &format!("latency ratio (emulator) @{b}÷@{a}"),
        ]);
        for (q, name) in QUERIES.iter().enumerate() {
            let (x, y) = (&small[q], &large[q]);
            let lat = |m: &Measured| Summary::of_durations(&m.latency).map(|s| s.median);
            table.row(vec![
                name.to_string(),
                x.items_read.to_string(),
                y.items_read.to_string(),
                num(
                    Some(y.items_read as f64 / (x.items_read as f64).max(1.0)),
                    2,
                ),
                num(lat(y).zip(lat(x)).map(|(y, x)| y / x), 2),
            ]);
        }
        table.print();
    }
    let count = |op: &str| all_operations.iter().filter(|o| *o == op).count();
    let others: Vec<&String> = all_operations
        .iter()
        .filter(|o| *o != "GetItem" && *o != "Query")
        .collect();
    println!(
        "CallLog over every query above: {} requests — GetItem {}, Query {}, Scan {}, other {}{}.",
        all_operations.len(),
        count("GetItem"),
        count("Query"),
        count("Scan"),
        others.len(),
        if count("Scan") == 0 && others.is_empty() {
            ": no Scan"
        } else {
            ": UNEXPECTED"
        }
    );
    println!();
}
