use super::*;
use crate::plan::fixtures::*;
use crate::plan::*;

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn first_create(plan: &Plan) -> Call {
    plan.calls
        .iter()
        .find(|c| matches!(c, Call::CreateDbInstance { .. }))
        .cloned()
        .unwrap()
}

fn class_zone(call: &Call) -> (String, Option<String>) {
    match call {
        Call::CreateDbInstance { class, zone, .. } => (class.clone(), zone.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_zone_refusal_tries_the_other_zones_then_the_next_class() {
    let s = scenario_with_docdb(1, "fallback_classes = [\"db.r6g.xlarge\"]");
    let snap = zoned_snapshot(&ZONES, None);
    let plan = plan_scale_up(&s, &snap, RUN).unwrap();
    let call = first_create(&plan);
    assert_eq!(
        class_zone(&call),
        ("db.r6g.large".into(), Some("us-east-1b".into()))
    );
    let mut refused = Vec::new();
    let mut tried = vec![class_zone(&call)];
    let mut current = call;
    // Every candidate refused in its zone: 2 classes x 3 zones, then nothing is left.
    loop {
        let message = format!(
            "insufficient capacity in availability zone {} for the instance class",
            class_zone(&current).1.unwrap()
        );
        refused.push(CapacityRefusal::of(&current, &message).unwrap());
        assert!(is_refused(&current, &refused));
        match next_attempt(&s, &snap, &current, &refused) {
            Some(next) => {
                tried.push(class_zone(&next));
                current = next;
            }
            None => break,
        }
    }
    let z = |n: usize| Some(ZONES[n].to_string());
    assert_eq!(
        tried,
        [
            ("db.r6g.large".into(), z(1)),
            ("db.r6g.large".into(), z(2)),
            ("db.r6g.large".into(), z(0)),
            ("db.r6g.xlarge".into(), z(1)),
            ("db.r6g.xlarge".into(), z(2)),
            ("db.r6g.xlarge".into(), z(0)),
        ]
    );
    assert_eq!(
        super::tried("db", &refused),
        "db.r6g.large in us-east-1b, us-east-1c, us-east-1a; db.r6g.xlarge in us-east-1b, us-east-1c, us-east-1a"
    );
}

#[test]
fn a_class_refusal_without_a_zone_goes_straight_to_the_next_class() {
    let s = scenario_with_docdb(1, "fallback_classes = [\"db.r6g.xlarge\", \"db.r5.large\"]");
    let snap = zoned_snapshot(&ZONES, None);
    let call = first_create(&plan_scale_up(&s, &snap, RUN).unwrap());
    let refused = vec![CapacityRefusal::of(&call, "no capacity for db.r6g.large").unwrap()];
    assert_eq!(refused[0].zone, None);
    let next = next_attempt(&s, &snap, &call, &refused).unwrap();
    assert_eq!(
        class_zone(&next),
        ("db.r6g.xlarge".into(), Some("us-east-1b".into()))
    );
    // The identity, tags and tier are kept: the safety rules hold for the fallback too.
    match (&call, &next) {
        (
            Call::CreateDbInstance {
                instance: a,
                tags: ta,
                promotion_tier: pa,
                ..
            },
            Call::CreateDbInstance {
                instance: b,
                tags: tb,
                promotion_tier: pb,
                ..
            },
        ) => assert_eq!((a, ta, pa), (b, tb, pb)),
        _ => unreachable!(),
    }
    assert_eq!(super::tried("db", &refused), "db.r6g.large in every zone");
}

#[test]
fn without_fallback_classes_or_zones_there_is_nothing_else_to_try() {
    let s = scenario_with_docdb(1, "");
    let snap = snapshot_with(10, None, &[]);
    let call = first_create(&plan_scale_up(&s, &snap, RUN).unwrap());
    assert_eq!(class_zone(&call), ("db.r6g.large".into(), None));
    let refused = vec![CapacityRefusal::of(&call, "InsufficientDBInstanceCapacity").unwrap()];
    assert_eq!(next_attempt(&s, &snap, &call, &refused), None);
    assert!(is_capacity_refusal(Some("InsufficientDBInstanceCapacity")));
    assert!(!is_capacity_refusal(Some("InstanceQuotaExceeded")));
}

#[test]
fn a_check_retries_missing_readers_only_with_fallback_classes() {
    let with = scenario_with_docdb(2, "fallback_classes = [\"db.r6g.xlarge\"]");
    let snap = zoned_snapshot(&ZONES, None);
    let plan = plan_resize_continuation(&with, &snap, RUN);
    assert_eq!(plan.calls.len(), 2, "{plan:?}");
    let without = scenario_with_docdb(2, "");
    assert!(plan_resize_continuation(&without, &snap, RUN)
        .calls
        .is_empty());
}

#[test]
fn fallbacks_and_zones_stay_inside_the_safety_rules() {
    use crate::plan::safety::{check, Rule, SafetyContext};
    let s = scenario_with_docdb(15, "fallback_classes = [\"db.r6g.xlarge\"]");
    let mut snap = zoned_snapshot(&ZONES, None);
    snap.clusters[0]
        .instances
        .extend((1..=14).map(|n| instance(&format!("own-{n}"), false, "db.r6g.large")));
    let ctx = SafetyContext {
        scenario: &s,
        run: RUN,
        snapshot: &snap,
        baseline: None,
    };
    let call = first_create(&plan_scale_up(&s, &snap, RUN).unwrap());
    let refused = vec![CapacityRefusal::of(&call, "no capacity").unwrap()];
    let next = next_attempt(&s, &snap, &call, &refused).unwrap();
    let one = |c: &Call| Plan {
        calls: vec![c.clone()],
        ..Plan::default()
    };
    // The 15th reader as a fallback is allowed; a 16th never, fallback or not.
    assert!(check(&one(&next), &ctx).is_empty());
    let mut full = snap.clone();
    full.clusters[0]
        .instances
        .push(instance("own-15", false, "db.r6g.large"));
    let full_ctx = SafetyContext {
        snapshot: &full,
        ..ctx
    };
    let refused = check(&one(&next), &full_ctx);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].rule, Rule::TooManyReaders);
    // A zone that is not the cluster's is refused.
    let mut elsewhere = next.clone();
    if let Call::CreateDbInstance { zone, .. } = &mut elsewhere {
        *zone = Some("eu-west-1a".into());
    }
    let refused = check(&one(&elsewhere), &ctx);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].why.contains("not one of db's zones"));
    // Without nightshift's tags a fallback is refused like any create.
    let mut untagged = next.clone();
    if let Call::CreateDbInstance { tags, .. } = &mut untagged {
        tags.clear();
    }
    assert_eq!(check(&one(&untagged), &ctx)[0].rule, Rule::UntaggedReader);
}

#[test]
fn a_refusal_is_zone_specific_when_its_message_speaks_of_the_zone() {
    let s = scenario_with_docdb(1, "fallback_classes = [\"db.r6g.xlarge\"]");
    let snap = zoned_snapshot(&ZONES, None);
    let call = first_create(&plan_scale_up(&s, &snap, RUN).unwrap());
    let zone_of = |m: &str| CapacityRefusal::of(&call, m).unwrap().zone;
    let here = Some("us-east-1b".to_string());
    assert_eq!(zone_of("insufficient capacity in availability zone us-east-1b for the instance class db.r6g.large"), here);
    assert_eq!(zone_of("Cannot create a database instance because there is currently insufficient capacity in this availability zone for the instance class db.r6g.large. Please try a different availability zone or instance class."), here);
    assert_eq!(zone_of("insufficient capacity in this region for the instance class db.r6g.large. Try a different availability zone or instance class."), None);
}
