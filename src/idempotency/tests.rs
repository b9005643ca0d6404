use super::memory::MemoryStore;
use super::*;
use crate::domain::Outcome;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn req(hash: &str, now: &str, deadline: Option<&str>) -> ClaimRequest {
    ClaimRequest {
        id: DedupId {
            key: "evt-1".into(),
            step: Step::ScaleUp,
        },
        payload_hash: hash.into(),
        now: t(now),
        deadline: deadline.map(t),
    }
}

fn response() -> Response {
    Response {
        outcome: Outcome::Skipped,
        scenario: Some("nightly-batch".into()),
        run: None,
        step: Some(Step::ScaleUp),
        actions: vec![],
        reason: "test".into(),
        detail: String::new(),
        key: Some("evt-1".into()),
    }
}

fn guard(no_all_old: bool) -> Guard<MemoryStore> {
    let policy = GuardPolicy::default();
    Guard::new(
        MemoryStore {
            no_all_old,
            ..Default::default()
        },
        policy,
    )
}

fn lease(claim: Claim) -> Lease {
    match claim {
        Claim::Proceed(lease) => lease,
        other => panic!("expected Proceed, got {other:?}"),
    }
}

#[test]
fn lease_ends_with_the_deadline() {
    let p = GuardPolicy::default();
    let now = t("2026-11-25T13:00:00Z");
    assert_eq!(
        p.lease_until(now, Some(t("2026-11-25T13:00:30Z"))),
        t("2026-11-25T13:00:30.25Z"),
        "the deadline plus the clock margin"
    );
}

#[test]
fn zero_or_past_deadline_still_gets_a_lease_not_no_expiry() {
    let p = GuardPolicy::default();
    let now = t("2026-11-25T13:00:00Z");
    // Remaining time 0 (deadline == now) and a deadline in the past.
    for deadline in [Some(now), Some(t("2026-11-25T12:59:00Z")), None] {
        assert_eq!(p.lease_until(now, deadline), t("2026-11-25T13:02:00Z"));
    }
}

#[tokio::test]
async fn first_claim_proceeds_then_completed_replays() {
    let g = guard(false);
    let now = "2026-11-25T13:00:00Z";
    let l = lease(g.claim(&req("h1", now, None)).await.unwrap());
    assert!(!l.takeover);
    g.complete(&l, &response(), t(now)).await.unwrap();
    match g
        .claim(&req("h1", "2026-11-25T13:05:00Z", None))
        .await
        .unwrap()
    {
        Claim::Replay(rec) => {
            assert_eq!(rec.status, Status::Completed);
            assert_eq!(rec.result, Some(response()));
        }
        other => panic!("expected Replay, got {other:?}"),
    }
}

#[tokio::test]
async fn live_lease_is_in_progress_and_expired_lease_is_taken_over() {
    for no_all_old in [false, true] {
        let g = guard(no_all_old);
        let first = lease(
            g.claim(&req(
                "h1",
                "2026-11-25T13:00:00Z",
                Some("2026-11-25T13:01:00Z"),
            ))
            .await
            .unwrap(),
        );
        assert_eq!(
            g.claim(&req("h1", "2026-11-25T13:00:59Z", None))
                .await
                .unwrap(),
            Claim::InProgress {
                // The deadline plus the clock margin.
                lease_until: t("2026-11-25T13:01:00.25Z")
            }
        );
        let second = lease(
            g.claim(&req("h1", "2026-11-25T13:01:01Z", None))
                .await
                .unwrap(),
        );
        assert!(second.takeover);
        assert_ne!(first.owner, second.owner);
        // The old owner can neither complete nor fail, and the record is untouched.
        let before = g.store().get(&first.id).await.unwrap();
        assert!(matches!(
            g.complete(&first, &response(), t("2026-11-25T13:01:02Z"))
                .await,
            Err(FinishError::StaleOwner { .. })
        ));
        assert!(matches!(
            g.fail(&first, "boom", t("2026-11-25T13:01:02Z")).await,
            Err(FinishError::StaleOwner { .. })
        ));
        assert_eq!(g.store().get(&first.id).await.unwrap(), before);
        g.complete(&second, &response(), t("2026-11-25T13:01:03Z"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn different_payload_is_a_mismatch_whatever_the_status() {
    let g = guard(false);
    let l = lease(
        g.claim(&req("h1", "2026-11-25T13:00:00Z", None))
            .await
            .unwrap(),
    );
    // In progress, then expired lease, then completed: never taken over by another payload.
    for now in ["2026-11-25T13:00:10Z", "2026-11-25T13:30:00Z"] {
        assert_eq!(
            g.claim(&req("h2", now, None)).await.unwrap(),
            Claim::PayloadMismatch {
                stored_hash: "h1".into()
            }
        );
    }
    g.complete(&l, &response(), t("2026-11-25T13:00:20Z"))
        .await
        .unwrap();
    assert_eq!(
        g.claim(&req("h2", "2026-11-25T13:40:00Z", None))
            .await
            .unwrap(),
        Claim::PayloadMismatch {
            stored_hash: "h1".into()
        }
    );
}

#[tokio::test]
async fn failed_attempt_can_be_reclaimed_by_a_retry() {
    let g = guard(true);
    let now = "2026-11-25T13:00:00Z";
    let l = lease(g.claim(&req("h1", now, None)).await.unwrap());
    g.fail(&l, "throttled", t(now)).await.unwrap();
    let retry = lease(
        g.claim(&req("h1", "2026-11-25T13:00:05Z", None))
            .await
            .unwrap(),
    );
    assert!(retry.takeover);
}

#[tokio::test]
async fn a_record_past_retention_counts_as_absent_even_if_ttl_has_not_deleted_it() {
    let g = guard(false);
    let l = lease(
        g.claim(&req("h1", "2026-11-01T13:00:00Z", None))
            .await
            .unwrap(),
    );
    g.complete(&l, &response(), t("2026-11-01T13:00:01Z"))
        .await
        .unwrap();
    // Eight days later, a different payload under the same key is a fresh event.
    assert!(matches!(
        g.claim(&req("h2", "2026-11-09T13:00:02Z", None))
            .await
            .unwrap(),
        Claim::Proceed(_)
    ));
}

#[test]
fn the_pure_rules_compare_at_the_stored_granularity() {
    // The store keeps expires_at in seconds and the leases in milliseconds, and DynamoDB
    // compares those; the rules compare the same units, whatever the precision of `now`.
    let now = Timestamp::new(1_764_100_000, 500_250_000).unwrap();
    let rec = |status, lease_until: Timestamp, expires_at: Timestamp| DedupRecord {
        id: DedupId {
            key: "k".into(),
            step: Step::Check,
        },
        status,
        owner: OwnerToken("o".into()),
        payload_hash: "h".into(),
        lease_until,
        expires_at,
        claimed_at: now,
        finished_at: None,
        result: None,
        error: None,
    };
    let far = t("2026-12-31T00:00:00Z");
    let same_ms = Timestamp::new(1_764_100_000, 500_000_000).unwrap();
    let same_s = Timestamp::from_second(1_764_100_000).unwrap();
    // A lease ending in the same millisecond as `now` is still live; one a millisecond
    // earlier is expired.
    assert!(!claim_allowed(
        Some(&rec(Status::InProgress, same_ms, far)),
        "h",
        now
    ));
    let earlier = Timestamp::from_millisecond(same_ms.as_millisecond() - 1).unwrap();
    assert!(claim_allowed(
        Some(&rec(Status::InProgress, earlier, far)),
        "h",
        now
    ));
    // Retention ending in the same second is still retained (a COMPLETED record replays).
    assert!(!claim_allowed(
        Some(&rec(Status::Completed, far, same_s)),
        "other",
        now
    ));
    let before = Timestamp::from_second(same_s.as_second() - 1).unwrap();
    assert!(claim_allowed(
        Some(&rec(Status::Completed, far, before)),
        "other",
        now
    ));
    // Completed, and a different payload: never, within retention.
    assert!(!claim_allowed(
        Some(&rec(Status::Completed, earlier, far)),
        "h",
        now
    ));
    assert!(!claim_allowed(
        Some(&rec(Status::Failed, far, far)),
        "other",
        now
    ));
    // Finishing: the owner of an in-progress record only.
    let owner = OwnerToken("o".into());
    assert!(finish_allowed(
        Some(&rec(Status::InProgress, far, far)),
        &owner
    ));
    assert!(!finish_allowed(
        Some(&rec(Status::Completed, far, far)),
        &owner
    ));
    assert!(!finish_allowed(
        Some(&rec(Status::InProgress, far, far)),
        &OwnerToken("x".into())
    ));
    assert!(!finish_allowed(None, &owner));
    // The scaling lease: free, expired, or one's own.
    let ms = now.as_millisecond();
    let held = |owner, until_ms| ScalingLeaseItem {
        owner: Some(owner),
        until_ms: Some(until_ms),
    };
    assert!(scaling_lease_acquirable(
        ScalingLeaseItem::default(),
        "me",
        now
    ));
    assert!(scaling_lease_acquirable(held("other", ms - 1), "me", now));
    assert!(!scaling_lease_acquirable(held("other", ms), "me", now));
    assert!(scaling_lease_acquirable(held("me", ms + 5), "me", now));
    assert!(scaling_lease_releasable(held("me", ms - 1), "me"));
    assert!(!scaling_lease_releasable(held("other", ms + 1), "me"));
}

#[test]
fn classify_covers_every_status() {
    let p = GuardPolicy::default();
    let now = t("2026-11-25T13:00:00Z");
    let rec = |status, lease_until: &str| DedupRecord {
        id: DedupId {
            key: "k".into(),
            step: Step::Check,
        },
        status,
        owner: OwnerToken("o".into()),
        payload_hash: "h".into(),
        lease_until: t(lease_until),
        expires_at: t("2026-12-01T00:00:00Z"),
        claimed_at: now,
        finished_at: None,
        result: None,
        error: None,
    };
    assert!(matches!(
        p.classify(rec(Status::Completed, "2026-11-25T12:00:00Z"), "h", now),
        Blocked::Claim(Claim::Replay(_))
    ));
    assert!(matches!(
        p.classify(rec(Status::InProgress, "2026-11-25T13:00:01Z"), "h", now),
        Blocked::Claim(Claim::InProgress { .. })
    ));
    assert_eq!(
        p.classify(rec(Status::InProgress, "2026-11-25T12:59:59Z"), "h", now),
        Blocked::Claimable
    );
    assert_eq!(
        p.classify(rec(Status::Failed, "2026-11-25T13:30:00Z"), "h", now),
        Blocked::Claimable
    );
    assert!(matches!(
        p.classify(rec(Status::Failed, "2026-11-25T13:30:00Z"), "other", now),
        Blocked::Claim(Claim::PayloadMismatch { .. })
    ));
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_this_deliverys_own_and_proceeds() {
    // Regression (reliability finding 1): the SDK re-sent the claim after a lost answer and
    // the re-send failed its condition on the record the first attempt wrote.
    let store = memory::MemoryStore {
        lose_claim_answer: true,
        ..Default::default()
    };
    let guard = Guard::new(store, GuardPolicy::default());
    let now = t("2026-11-25T13:00:00Z");
    let req = ClaimRequest {
        id: DedupId {
            key: "k".into(),
            step: Step::ScaleUp,
        },
        payload_hash: "h".into(),
        now,
        deadline: Some(t("2026-11-25T13:02:00Z")),
    };
    let claim = guard.claim(&req).await.unwrap();
    let Claim::Proceed(lease) = claim else {
        panic!("{claim:?}: the delivery's own record read as another's")
    };
    assert_eq!(lease.lease_until, t("2026-11-25T13:02:00.25Z"));
    // Another delivery (another owner token) still sees it in progress.
    let other = Guard::new(
        memory::MemoryStore {
            records: std::sync::Mutex::new(guard.store().records.lock().unwrap().clone()),
            ..Default::default()
        },
        GuardPolicy::default(),
    );
    assert!(matches!(
        other.claim(&req).await.unwrap(),
        Claim::InProgress { .. }
    ));
}

#[test]
fn a_finish_already_applied_by_its_owner_is_done_and_one_by_another_is_not() {
    let rec = |status, owner: &str| DedupRecord {
        id: DedupId {
            key: "k".into(),
            step: Step::Check,
        },
        status,
        owner: OwnerToken(owner.into()),
        payload_hash: "h".into(),
        lease_until: t("2026-11-25T13:02:00Z"),
        expires_at: t("2026-12-25T13:00:00Z"),
        claimed_at: t("2026-11-25T13:00:00Z"),
        finished_at: None,
        result: None,
        error: None,
    };
    let me = OwnerToken("me".into());
    assert!(finish_already_applied(
        Some(&rec(Status::Completed, "me")),
        &me,
        Status::Completed
    ));
    assert!(finish_already_applied(
        Some(&rec(Status::Failed, "me")),
        &me,
        Status::Failed
    ));
    assert!(!finish_already_applied(
        Some(&rec(Status::Completed, "other")),
        &me,
        Status::Completed
    ));
    assert!(!finish_already_applied(
        Some(&rec(Status::InProgress, "me")),
        &me,
        Status::Completed
    ));
    assert!(!finish_already_applied(None, &me, Status::Completed));
}
