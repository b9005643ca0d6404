use super::*;
use nightshift_test_support::emf::check;

fn metrics(observed: &Observed, outcome: Option<Outcome>) -> Map<String, Value> {
    members(&InvocationMetrics {
        scenario: Some("nightly-batch"),
        step: Some("check"),
        outcome,
        duration_ms: 41.5,
        observed,
        timestamp_ms: 1_764_104_400_000,
    })
}

#[test]
fn every_line_is_valid_emf_with_the_counters_and_the_milestones_it_reached() {
    let plain = Observed::default();
    let line = Value::Object(metrics(&plain, Some(Outcome::Deferred)));
    assert_eq!(check(&line, NAMESPACE), Vec::<String>::new(), "{line}");
    assert_eq!(line["Deferred"], 1);
    assert_eq!(line["Acted"], 0);
    assert_eq!(line["Errors"], 0);
    assert_eq!(line["DurationMs"], 41.5);
    assert!(line.get("NightMinutes").is_none());
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["scenario", "step"]])
    );

    let closed = Observed {
        aws_calls: 9,
        capacity_ready_minutes: Some(25),
        night_minutes: Some(575),
        deadline_hit: true,
        ..Observed::default()
    };
    let line = Value::Object(metrics(&closed, Some(Outcome::Acted)));
    assert_eq!(check(&line, NAMESPACE), Vec::<String>::new(), "{line}");
    assert_eq!(line["AwsCalls"], 9);
    assert_eq!(line["NightMinutes"], 575);
    assert_eq!(line["CapacityReadyMinutes"], 25);
    assert_eq!(line["DeadlineHits"], 1);
    let declared = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .len();
    assert!(declared <= 100, "{declared}");

    // A failed invocation before any scenario was known still has its dimensions.
    let failed = Value::Object(members(&InvocationMetrics {
        scenario: None,
        step: None,
        outcome: None,
        duration_ms: 3.0,
        observed: &plain,
        timestamp_ms: 1,
    }));
    assert_eq!(check(&failed, NAMESPACE), Vec::<String>::new(), "{failed}");
    assert_eq!(
        (&failed["scenario"], &failed["Errors"]),
        (&json!("none"), &json!(1))
    );
}

#[tokio::test]
async fn notes_are_kept_per_observed_invocation_and_ignored_outside_one() {
    note(|o| o.aws_calls += 100);
    let ((), observed) = observe(async {
        note(|o| o.aws_calls += 1);
        tokio::task::yield_now().await;
        note(|o| {
            o.aws_calls += 1;
            o.deadline_hit = true;
        });
    })
    .await;
    assert_eq!(observed.aws_calls, 2);
    assert!(observed.deadline_hit);
    let ((), fresh) = observe(async {}).await;
    assert_eq!(fresh, Observed::default());
}
