//! The idempotency guard against a real DynamoDB-protocol server: exactly-once steps over
//! sequential, concurrent and timed-out deliveries.

use crate::harness::{self, invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::idempotency::{Claim, ClaimRequest, DedupId, Guard, GuardPolicy, Status};
use nightshift::ports::{FinishError, GuardStore};
use nightshift::{Outcome, Response, Step};

const SCALE_UP: &str = r#"{"scenario": "nightly-batch", "step": "scale-up", "id": "evt-42"}"#;

#[tokio::test]
async fn first_delivery_claims_and_completes_a_second_is_a_duplicate_whose_only_write_is_the_failed_put(
) {
    let table = harness::fresh_table().await;
    let log = CallLog::new();
    let app = harness::app(&table, &log).await;

    let first = app
        .handle(
            SCALE_UP.as_bytes(),
            &invocation("req-1", "2026-11-25T13:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Skipped, "{first:?}");
    assert_eq!(first.key.as_deref(), Some("evt-42"));
    // Claim; then the event record and the completion in one transaction.
    assert_eq!(log.operations(), ["PutItem", "TransactWriteItems"]);

    log.clear();
    let second = app
        .handle(
            SCALE_UP.as_bytes(),
            &invocation("req-2", "2026-11-25T13:00:05Z"),
        )
        .await
        .unwrap();
    assert_eq!(second.outcome, Outcome::Duplicate, "{second:?}");
    assert_eq!(second.scenario.as_deref(), Some("nightly-batch"));
    assert_eq!(second.step, Some(Step::ScaleUp));
    assert!(
        second.explanation().contains("already handled")
            && second.explanation().contains(first.explanation()),
        "the duplicate carries the stored result: {}",
        second.explanation()
    );
    // The only call, and the only write: the conditional put, refused (HTTP 400), whose ALL_OLD
    // item served the stored result without a second read.
    let calls = log.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].operation, "PutItem");
    assert_eq!(calls[0].status, Some(400));
}

#[tokio::test]
async fn thirty_two_concurrent_deliveries_exactly_one_proceeds() {
    let table = harness::fresh_table().await;
    let mut apps = Vec::new();
    for _ in 0..32 {
        // A separate SDK client (and connection pool) per delivery, as in 32 Lambda sandboxes.
        apps.push(harness::app(&table, &CallLog::new()).await);
    }
    let results = harness::deliver_concurrently(
        apps,
        |_| SCALE_UP.as_bytes().to_vec(),
        "2026-11-25T13:00:00Z",
    )
    .await;
    let outcomes: Vec<Outcome> = results.into_iter().map(|r| r.unwrap().outcome).collect();
    let proceeded = outcomes.iter().filter(|o| **o == Outcome::Skipped).count();
    let others_ok = outcomes.iter().all(|o| {
        matches!(
            o,
            Outcome::Skipped | Outcome::InProgress | Outcome::Duplicate
        )
    });
    assert_eq!(proceeded, 1, "exactly one delivery proceeds: {outcomes:?}");
    assert!(others_ok, "{outcomes:?}");

    // The history holds the one event that proceeded, nothing for the 31 others.
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let day = "2026-11-25T00:00:00Z".parse().unwrap();
    use nightshift::ports::HistoryStore;
    let page = store.unattached_events(day, 100, None).await.unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
}

fn claim_request(key: &str, hash: &str, now: &str, deadline: Option<&str>) -> ClaimRequest {
    ClaimRequest {
        id: DedupId {
            key: key.into(),
            step: Step::ScaleDown,
        },
        payload_hash: hash.into(),
        now: now.parse().unwrap(),
        deadline: deadline.map(|d| d.parse().unwrap()),
    }
}

fn result(reason: &str) -> Response {
    Response {
        outcome: Outcome::Acted,
        scenario: Some("nightly-batch".into()),
        run: Some("2026-11-25".into()),
        step: Some(Step::ScaleDown),
        actions: vec![],
        reason: reason.into(),
        detail: String::new(),
        key: Some("k".into()),
    }
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_complete() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let guard = Guard::new(store.clone(), GuardPolicy::default());
    let first = match guard
        .claim(&claim_request(
            "timeout-1",
            "h",
            "2026-11-25T22:00:00Z",
            Some("2026-11-25T22:00:30Z"),
        ))
        .await
        .unwrap()
    {
        Claim::Proceed(lease) => lease,
        other => panic!("{other:?}"),
    };
    // Within the lease: in progress.
    assert_eq!(
        guard
            .claim(&claim_request(
                "timeout-1",
                "h",
                "2026-11-25T22:00:29Z",
                None
            ))
            .await
            .unwrap(),
        Claim::InProgress {
            // The deadline plus the guard's clock margin (CLOCK_MARGIN, 250 ms).
            lease_until: "2026-11-25T22:00:30.25Z".parse().unwrap()
        }
    );
    // The first invocation timed out; a retry after the deadline takes over.
    let second = match guard
        .claim(&claim_request(
            "timeout-1",
            "h",
            "2026-11-25T22:01:30Z",
            None,
        ))
        .await
        .unwrap()
    {
        Claim::Proceed(lease) => lease,
        other => panic!("{other:?}"),
    };
    assert!(second.takeover);
    let before = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(before.owner, second.owner);

    // The stale owner wakes up and tries to complete, then to fail: refused, nothing changes.
    let stale = guard
        .complete(
            &first,
            &result("stale"),
            "2026-11-25T22:01:40Z".parse().unwrap(),
        )
        .await;
    assert!(
        matches!(stale, Err(FinishError::StaleOwner { .. })),
        "{stale:?}"
    );
    let stale = guard
        .fail(&first, "late", "2026-11-25T22:01:41Z".parse().unwrap())
        .await;
    assert!(
        matches!(stale, Err(FinishError::StaleOwner { .. })),
        "{stale:?}"
    );
    assert_eq!(store.get(&first.id).await.unwrap().unwrap(), before);

    // The new owner completes; later deliveries replay its result.
    guard
        .complete(
            &second,
            &result("fresh"),
            "2026-11-25T22:01:50Z".parse().unwrap(),
        )
        .await
        .unwrap();
    match guard
        .claim(&claim_request(
            "timeout-1",
            "h",
            "2026-11-25T22:05:00Z",
            None,
        ))
        .await
        .unwrap()
    {
        Claim::Replay(record) => {
            assert_eq!(record.status, Status::Completed);
            assert_eq!(record.result.unwrap().explanation(), "fresh");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn same_key_with_a_different_payload_is_rejected_and_nothing_is_acted() {
    let table = harness::fresh_table().await;
    let log = CallLog::new();
    let app = harness::app(&table, &log).await;
    let first = app
        .handle(
            SCALE_UP.as_bytes(),
            &invocation("req-1", "2026-11-25T13:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Skipped);

    let other = r#"{"scenario": "nightly-batch", "step": "scale-up", "id": "evt-42", "scheduled_time": "2026-11-25T13:00:00Z"}"#;
    log.clear();
    let response = app
        .handle(
            other.as_bytes(),
            &invocation("req-2", "2026-11-25T13:00:10Z"),
        )
        .await
        .unwrap();
    assert_eq!(response.outcome, Outcome::Rejected, "{response:?}");
    assert!(
        response.explanation().contains("different payload"),
        "{}",
        response.explanation()
    );
    assert!(response.actions.is_empty());
    // The failed claim, then the rejection recorded; the dedup record is untouched.
    assert_eq!(log.operations(), ["PutItem", "PutItem"]);
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let record = store
        .get(&DedupId {
            key: "evt-42".into(),
            step: Step::ScaleUp,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.result.unwrap(), first);
}

#[tokio::test]
async fn a_zero_remaining_deadline_still_writes_a_lease_that_expires() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let guard = Guard::new(store.clone(), GuardPolicy::default());
    // Deadline == now: remaining time 0.
    let claim = guard
        .claim(&claim_request(
            "zero",
            "h",
            "2026-11-25T22:00:00Z",
            Some("2026-11-25T22:00:00Z"),
        ))
        .await
        .unwrap();
    let Claim::Proceed(lease) = claim else {
        panic!("{claim:?}")
    };
    let record = store.get(&lease.id).await.unwrap().unwrap();
    assert_eq!(record.lease_until, "2026-11-25T22:02:00Z".parse().unwrap());
    // And it does expire: a delivery after it takes over.
    assert!(matches!(
        guard
            .claim(&claim_request("zero", "h", "2026-11-25T22:02:01Z", None))
            .await
            .unwrap(),
        Claim::Proceed(_)
    ));
}

/// Regression (found by the reliability suite's crash part, RELIABILITY.md finding 4): the lease
/// ends at the invocation deadline, a wall-clock instant, and used to be compared with the
/// event's rehearsal `now`: a crashed rehearsal's record then stayed in progress forever. The
/// guard now measures leases on the invocation's clock, whatever the event's `now`.
#[tokio::test]
async fn a_crashed_rehearsal_is_taken_over_once_its_wall_clock_lease_expires() {
    let table = harness::fresh_table().await;
    let log = CallLog::new();
    let app = harness::app(&table, &log).await;
    let payload = br#"{"scenario": "nightly-batch", "step": "check", "id": "rehearsal-1", "now": "2026-11-25T15:00:00Z"}"#;
    let event = nightshift::event::parse(payload).expect("a rehearsal step command");

    // The delivery that crashed: it claimed on the wall clock with a one-second deadline.
    let store = DynamoStore::new(
        harness::logged_client(&log).await,
        &table,
        Timeouts::default(),
    );
    let guard = Guard::new(store, GuardPolicy::default());
    let wall = jiff::Timestamp::now();
    let claim = guard
        .claim(&ClaimRequest {
            id: DedupId {
                key: "rehearsal-1".into(),
                step: Step::Check,
            },
            payload_hash: event.payload_hash.clone(),
            now: wall,
            deadline: Some(wall + jiff::SignedDuration::from_secs(1)),
        })
        .await
        .expect("claim");
    assert!(matches!(claim, Claim::Proceed(_)), "{claim:?}");

    // The redeliveries' clocks are the invocations' own (as the bootstrap reads the wall clock when
    // an event arrives), given here: one inside the lease (the deadline plus the clock margin),
    // then two past it. Read from the wall clock after the claim, the first would fall past the
    // lease whenever a loaded machine delays it by more than a second.
    let redeliver = |n: u32, now: jiff::Timestamp| nightshift::app::Invocation {
        request_id: format!("redelivery-{n}"),
        deadline: None,
        now,
        function_arn: None,
    };
    let after_the_lease = wall + jiff::SignedDuration::from_millis(1500);
    let early = app
        .handle(payload, &redeliver(1, wall))
        .await
        .expect("handled");
    assert_eq!(early.outcome, Outcome::InProgress, "{early:?}");
    let late = app
        .handle(payload, &redeliver(2, after_the_lease))
        .await
        .expect("handled");
    assert_eq!(
        late.outcome,
        Outcome::Skipped,
        "taken over, not in progress: {late:?}"
    );
    assert!(late.explanation().contains("was recorded"), "{late:?}");
    let again = app
        .handle(payload, &redeliver(3, after_the_lease))
        .await
        .expect("handled");
    assert_eq!(again.outcome, Outcome::Duplicate, "{again:?}");
}

/// Regression (reliability finding 3): the SDK re-sends a complete whose answer was lost, and
/// the re-send fails its owner condition on the record it completed itself. That is done, not a
/// takeover; another owner's complete is still refused.
#[tokio::test]
async fn a_complete_re_sent_after_its_answer_was_lost_is_done_and_another_owners_is_stale() {
    let table = harness::fresh_table().await;
    let store = DynamoStore::new(
        harness::logged_client(&CallLog::new()).await,
        &table,
        Timeouts::default(),
    );
    let guard = Guard::new(store, GuardPolicy::default());
    let now: jiff::Timestamp = "2026-11-25T13:00:00Z".parse().unwrap();
    let Claim::Proceed(lease) = guard
        .claim(&ClaimRequest {
            id: DedupId {
                key: "evt-lost-answer".into(),
                step: Step::ScaleUp,
            },
            payload_hash: "h".into(),
            now,
            deadline: None,
        })
        .await
        .expect("claim")
    else {
        panic!("a first claim proceeds")
    };
    let response: Response = serde_json::from_str(
        r#"{"outcome":"acted","scenario":"nightly-batch","run":"2026-11-25","step":"scale-up","actions":[],"reason":"done"}"#,
    )
    .expect("a response");
    guard
        .complete(&lease, &response, now)
        .await
        .expect("complete");
    guard
        .complete(&lease, &response, now)
        .await
        .expect("the re-sent complete of this very owner is done");
    let mut other = lease.clone();
    other.owner = nightshift::idempotency::OwnerToken("someone-else".into());
    assert!(matches!(
        guard.complete(&other, &response, now).await,
        Err(FinishError::StaleOwner { .. })
    ));
}
