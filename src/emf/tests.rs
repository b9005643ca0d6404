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

#[test]
fn a_closing_line_carries_the_nights_hours_and_money_as_valid_emf() {
    let closing = Observed {
        night_minutes: Some(190),
        closing: Some(Closing {
            reader_hours: 9.5,
            resized_hours: 0.0,
            dcu_hours: 0.0,
            task_hours: 24.0,
            vcpu_hours: 24.0,
            gb_hours: 48.0,
            idle_minutes: Some(19),
            money: Some(("USD".into(), 3.78, 25.38, 6.68)),
        }),
        ..Observed::default()
    };
    let line = Value::Object(metrics(&closing, Some(Outcome::Acted)));
    assert_eq!(check(&line, NAMESPACE), Vec::<String>::new(), "{line}");
    assert_eq!(line["ReaderHours"], 9.5);
    assert_eq!(line["GbHours"], 48.0);
    assert_eq!(line["IdleMinutes"], 19);
    assert_eq!(line["NightCost"], 3.78);
    assert_eq!(line["SavedVsDeadline"], 6.68);
    // The currency is a member of the line, not a metric (CloudWatch has no currency unit).
    assert_eq!(line["currency"], "USD");
    let declared = nightshift_test_support::emf::declared(&line);
    assert!(declared.contains(&("NightCost".to_string(), Some("None".to_string()))));
    assert!(!declared.iter().any(|(name, _)| name == "currency"));
    // Every declared metric is one the dashboard may name, with its unit.
    let known = declarable();
    for (name, unit) in &declared {
        assert!(
            known
                .iter()
                .any(|(n, u)| n == name && Some(u.to_string()) == *unit),
            "{name} {unit:?}"
        );
    }

    // Without prices: the hours, no money and no currency; without a busy check: no idle.
    let hours_only = Observed {
        closing: Some(Closing {
            task_hours: 3.0,
            ..Closing::default()
        }),
        ..Observed::default()
    };
    let line = Value::Object(metrics(&hours_only, Some(Outcome::Acted)));
    assert_eq!(check(&line, NAMESPACE), Vec::<String>::new(), "{line}");
    assert_eq!(line["TaskHours"], 3.0);
    for absent in ["NightCost", "IdleMinutes", "currency"] {
        assert!(line.get(absent).is_none(), "{absent}: {line}");
    }
}

#[test]
fn every_declarable_metric_is_declared_by_some_line_with_its_unit() {
    // The fullest line: a closing step that also first saw the capacity, priced, with idle.
    let full = Observed {
        capacity_ready_minutes: Some(20),
        night_minutes: Some(190),
        closing: Some(Closing {
            idle_minutes: Some(19),
            money: Some(("USD".into(), 1.0, 2.0, 3.0)),
            ..Closing::default()
        }),
        ..Observed::default()
    };
    let line = Value::Object(metrics(&full, Some(Outcome::Acted)));
    let declared: Vec<(String, Option<String>)> = nightshift_test_support::emf::declared(&line);
    let declarable: Vec<(String, Option<String>)> = declarable()
        .into_iter()
        .map(|(n, u)| (n.to_string(), Some(u.to_string())))
        .collect();
    assert_eq!(declared, declarable);
}
