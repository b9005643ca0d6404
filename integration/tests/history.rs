//! Every table query of docs/contract.md is a GetItem or a Query whose cost follows its result.
//!
//! How the tests know there is no Scan: the DynamoDB client carries a `CallLog` interceptor that
//! records the operation name of every request the SDK sends; each query is checked to have sent
//! only GetItem/Query, and the items DynamoDB read (`ScannedCount`) to equal what it returned.

use crate::harness;
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::history::{EventRecord, OpenRun, RunRecord, RunStatus};
use nightshift::idempotency::{ClaimRequest, DedupId, Guard, GuardPolicy};
use nightshift::ports::{GuardStore, HistoryStore};
use nightshift::{Outcome, Step};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn run(scenario: &str, run: &str, opened_at: jiff::Timestamp) -> RunRecord {
    RunRecord {
        scenario: scenario.into(),
        run: run.into(),
        status: RunStatus::Open,
        opened_at,
        closed_at: None,
        opened_by: format!("{scenario}/scale-up/{run}"),
        baseline: None,
        summary: "scaled up".into(),
    }
}

fn event(scenario: &str, run: &str, step: Step, at: jiff::Timestamp) -> EventRecord {
    EventRecord {
        key: format!("{scenario}/{step}/{at}"),
        step: Some(step),
        scenario: Some(scenario.into()),
        run: Some(run.into()),
        kind: "step-command".into(),
        outcome: Outcome::Acted,
        reason: format!("{step} at {at}"),
        detail: String::new(),
        actions: vec![],
        received_at: at,
        finished_at: at,
        evidence: None,
        payload_hash: None,
    }
}

/// `nights` closed runs per scenario, one a day from 2026-10-01 at 13:00 UTC, each with its
/// three steps recorded, and the last night of each scenario left open.
async fn populate(store: &DynamoStore, scenarios: &[&str], nights: i64) {
    let start = ts("2026-10-01T13:00:00Z");
    for day in 0..nights {
        for scenario in scenarios {
            let opened = start + jiff::SignedDuration::from_hours(24 * day);
            let id = opened
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date()
                .to_string();
            assert_eq!(
                store.open_run(&run(scenario, &id, opened)).await.unwrap(),
                OpenRun::Opened
            );
            store
                .record_event(&event(scenario, &id, Step::ScaleUp, opened))
                .await
                .unwrap();
            if day + 1 < nights {
                let check = opened + jiff::SignedDuration::from_hours(3);
                let down = opened + jiff::SignedDuration::from_hours(5);
                store
                    .record_event(&event(scenario, &id, Step::Check, check))
                    .await
                    .unwrap();
                store
                    .record_event(&event(scenario, &id, Step::ScaleDown, down))
                    .await
                    .unwrap();
                store
                    .close_run(scenario, &id, down, "scaled down")
                    .await
                    .unwrap();
            }
        }
    }
}

fn assert_only_reads(log: &CallLog) {
    let ops = log.operations();
    assert!(!ops.is_empty());
    assert!(
        ops.iter().all(|op| op == "GetItem" || op == "Query"),
        "a query sent something other than GetItem/Query: {ops:?}"
    );
}

#[tokio::test]
async fn every_product_query_is_a_getitem_or_query_with_cost_following_the_result() {
    let table = harness::fresh_table().await;
    let log = CallLog::new();
    let store = DynamoStore::new(
        harness::logged_client(&log).await,
        &table,
        Timeouts::default(),
    );
    populate(&store, &["alpha", "beta", "gamma"], 20).await;

    // 1. Dedup record by key+step: one consistent GetItem.
    let guard = Guard::new(store.clone(), GuardPolicy::default());
    guard
        .claim(&ClaimRequest {
            id: DedupId {
                key: "evt-1".into(),
                step: Step::Check,
            },
            payload_hash: "h".into(),
            now: ts("2026-10-20T14:00:00Z"),
            deadline: None,
        })
        .await
        .unwrap();
    log.clear();
    let record = store
        .get(&DedupId {
            key: "evt-1".into(),
            step: Step::Check,
        })
        .await
        .unwrap();
    assert!(record.is_some());
    assert_eq!(log.operations(), ["GetItem"]);

    // 2. The latest open run of a scenario: two GetItems (pointer, then run), whatever the size.
    log.clear();
    let open = store.latest_open_run("beta").await.unwrap().unwrap();
    assert_eq!(open.run, "2026-10-20");
    assert_eq!(open.status, RunStatus::Open);
    assert_eq!(log.operations(), ["GetItem", "GetItem"]);

    // 3. The last N runs of a scenario: one Query reading N items, newest first.
    log.clear();
    let page = store.scenario_runs("alpha", None, 5, None).await.unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|r| r.run.as_str())
            .collect::<Vec<_>>(),
        [
            "2026-10-20",
            "2026-10-19",
            "2026-10-18",
            "2026-10-17",
            "2026-10-16"
        ]
    );
    assert_eq!(page.items_read, 5);
    assert!(page.next.is_some());
    assert_only_reads(&log);
    // ... and "since a night": runs from 2026-10-18 on.
    let page = store
        .scenario_runs("alpha", Some("2026-10-18"), 50, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.items_read, 3);

    // 4. Runs of all scenarios in a time range: Query on the time index.
    log.clear();
    let page = store
        .runs_between(
            ts("2026-10-05T00:00:00Z"),
            ts("2026-10-06T23:59:59Z"),
            100,
            None,
        )
        .await
        .unwrap();
    let mut got: Vec<_> = page
        .items
        .iter()
        .map(|r| format!("{}/{}", r.scenario, r.run))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "alpha/2026-10-05",
            "alpha/2026-10-06",
            "beta/2026-10-05",
            "beta/2026-10-06",
            "gamma/2026-10-05",
            "gamma/2026-10-06"
        ]
    );
    assert_eq!(page.items_read, 6);
    assert!(
        page.items
            .windows(2)
            .all(|w| w[0].opened_at >= w[1].opened_at),
        "newest first"
    );
    assert_only_reads(&log);

    // 5. Every step of one run: one Query on the run's partition, in time order.
    log.clear();
    let page = store
        .run_events("gamma", "2026-10-07", 100, None)
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|e| e.step.unwrap())
            .collect::<Vec<_>>(),
        [Step::ScaleUp, Step::Check, Step::ScaleDown]
    );
    assert_eq!(page.items_read, 3);
    assert_only_reads(&log);
}

#[tokio::test]
async fn query_cost_does_not_grow_with_the_table() {
    // The same queries on a small and a 4x larger table read the same number of items.
    let mut reads = Vec::new();
    for nights in [5, 20] {
        let table = harness::fresh_table().await;
        let log = CallLog::new();
        let store = DynamoStore::new(
            harness::logged_client(&log).await,
            &table,
            Timeouts::default(),
        );
        populate(&store, &["alpha", "beta"], nights).await;
        log.clear();
        let last3 = store.scenario_runs("alpha", None, 3, None).await.unwrap();
        let first_night = store
            .runs_between(
                ts("2026-10-01T00:00:00Z"),
                ts("2026-10-01T23:59:59Z"),
                100,
                None,
            )
            .await
            .unwrap();
        let steps = store
            .run_events("beta", "2026-10-02", 100, None)
            .await
            .unwrap();
        assert_only_reads(&log);
        reads.push((last3.items_read, first_night.items_read, steps.items_read));
    }
    assert_eq!(reads[0], (3, 2, 3));
    assert_eq!(
        reads[0], reads[1],
        "items read at 5 and 20 nights: {reads:?}"
    );
}

#[tokio::test]
async fn pages_walk_the_whole_history_without_gaps_or_repeats() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    // 45 nights across two months for two scenarios.
    populate(&store, &["alpha", "beta"], 45).await;
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = store
            .runs_between(
                ts("2026-09-01T00:00:00Z"),
                ts("2026-12-31T00:00:00Z"),
                7,
                cursor,
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|r| (r.opened_at, r.scenario.clone())));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 90);
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "newest first across months"
    );
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 90, "no run twice");

    let mut cursor = None;
    let mut runs = 0;
    loop {
        let page = store.scenario_runs("beta", None, 10, cursor).await.unwrap();
        runs += page.items.len();
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(runs, 45);
}

#[tokio::test]
async fn a_scenario_has_at_most_one_open_run() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let at = ts("2026-11-25T13:00:00Z");
    assert_eq!(
        store.open_run(&run("s", "2026-11-25", at)).await.unwrap(),
        OpenRun::Opened
    );
    assert_eq!(
        store.open_run(&run("s", "2026-11-25.2", at)).await.unwrap(),
        OpenRun::AlreadyOpen("2026-11-25".into())
    );
    store
        .close_run("s", "2026-11-25", at, "done")
        .await
        .unwrap();
    assert!(store.latest_open_run("s").await.unwrap().is_none());
    // The night's id is taken by the closed run: the caller picks the next one.
    assert_eq!(
        store.open_run(&run("s", "2026-11-25", at)).await.unwrap(),
        OpenRun::RunIdTaken
    );
    assert_eq!(
        store.open_run(&run("s", "2026-11-25.2", at)).await.unwrap(),
        OpenRun::Opened
    );
    // Closing a run that is not open is refused.
    assert!(store
        .close_run("s", "2026-11-25", at, "again")
        .await
        .is_err());
    let closed = store.get_run("s", "2026-11-25").await.unwrap().unwrap();
    assert_eq!(closed.status, RunStatus::Closed);
    assert_eq!(closed.summary, "done");
}

/// Regression (reliability finding 2): the SDK re-sends a close whose answer was lost, and the
/// re-send is cancelled by its own first write. The same close again is done, not a permanent
/// failure; a different close of the closed run is still refused.
#[tokio::test]
async fn a_close_re_sent_after_its_answer_was_lost_is_done_and_another_close_is_refused() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let opened = ts("2026-11-25T13:00:00Z");
    let closed_at = ts("2026-11-25T17:02:00Z");
    store
        .open_run(&run("s", "2026-11-25", opened))
        .await
        .unwrap();
    store
        .close_run("s", "2026-11-25", closed_at, "scaled down")
        .await
        .unwrap();
    store
        .close_run("s", "2026-11-25", closed_at, "scaled down")
        .await
        .expect("the re-sent close of this very close is done");
    let other = store
        .close_run("s", "2026-11-25", ts("2026-11-25T18:00:00Z"), "again")
        .await;
    assert!(other.is_err(), "{other:?}");
    let closed = store.get_run("s", "2026-11-25").await.unwrap().unwrap();
    assert_eq!(
        (closed.status, closed.summary.as_str()),
        (RunStatus::Closed, "scaled down")
    );
}
