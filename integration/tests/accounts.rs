//! Scenarios in another account or region (`region` and `role_arn` on a `[[scenario]]`): each
//! scenario's calls reach the emulator with its own region and, through an assumed role, the
//! assumed credentials' access key; the table stays with the function's own region and key; and
//! AssumeRole happens once per role, however many events and regions use it.
//!
//! moto keys its state by account (an assumed role's access key acts in the role's account) and
//! region, so the remote scenario's cluster and service exist only there: a call routed to the
//! function's own account or region would find nothing. The calls are seen at the emulator
//! through the recording proxy of the test-support crate.

use crate::support::proxy::{RecordingProxy, Seen};
use crate::support::scene::{self, Scene};
use crate::{harness, support};
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_sdk_ecs::config::SharedCredentialsProvider;
use jiff::{SignedDuration, Timestamp};
use nightshift::app::{Adapters, App};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::{Outcome, Response};
use std::sync::Arc;

/// Not moto's default account (123456789012, the function's own here).
const TARGET_ROLE: &str = "arn:aws:iam::210987654321:role/nightshift-target";
const HOME_REGION: &str = "us-east-1";
const HOME_KEY: &str = "AKIDNIGHTSHIFTTEST";

/// The SDK config of the target account in `region`, through its own AssumeRole (straight to the
/// emulator: the test's setup calls are not the function's).
async fn target_account(region: &str) -> SdkConfig {
    let base = support::sdk_config().await;
    let role = AssumeRoleProvider::builder(TARGET_ROLE)
        .session_name("test-setup")
        .configure(&base)
        .build()
        .await;
    base.to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(role))
        .build()
}

/// `scene`'s scenario as a `[[scenario]]` named `name`, with `extra` lines after its timezone.
fn scenario_text(scene: &Scene, extra: &str) -> String {
    let text = scene.config(None).replace(
        r#"name = "nightly-batch""#,
        &format!(r#"name = "{}""#, scene.scenario),
    );
    let from = text.find("[[scenario]]").expect("the scene has a scenario");
    text[from..].replace(
        "timezone = \"Asia/Tokyo\"\n",
        &format!("timezone = \"Asia/Tokyo\"\n{extra}"),
    )
}

fn named(table: &str, name: &str) -> Scene {
    Scene {
        scenario: name.to_string(),
        ..Scene::unique(table)
    }
}

/// The app on `table`, every call (scaling, metrics, STS, DynamoDB) through `proxy`.
fn app(config: &str, table: &str, sdk: &SdkConfig) -> App {
    let config = nightshift::config::parse(config, "accounts.toml").expect("the config parses");
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
        Timeouts::default(),
    );
    let scaling = ScalingClients::from_sdk_config(sdk, Timeouts::default());
    App::build(
        Arc::new(config),
        harness::settings(),
        Adapters::new(store, scaling),
    )
}

async fn send(app: &App, payload: Vec<u8>, at: Timestamp) -> Response {
    let now = format!("{at:.0}");
    app.handle(&payload, &harness::invocation(&format!("req-{now}"), &now))
        .await
        .unwrap_or_else(|e| panic!("event at {now}: {e}"))
}

/// Scale-up, a check and a scale-down of `scene`, from `t0` (two hours ago, the batch quiet).
async fn night(app: &App, scene: &Scene, t0: Timestamp) -> Vec<Response> {
    let at = |m: i64| t0 + SignedDuration::from_mins(m);
    let mut answers = Vec::new();
    answers.push(send(app, scene.scheduled_step("scale-up", at(0)), at(0)).await);
    answers.push(send(app, scene.scheduled_step("check", at(60)), at(60)).await);
    answers.push(send(app, scene.scheduled_step("scale-down", at(100)), at(100)).await);
    answers
}

fn print_calls(title: &str, calls: &[Seen]) {
    println!("{title} ({} calls at the emulator):", calls.len());
    for call in calls {
        println!("  {call}");
    }
}

#[tokio::test]
async fn a_scenario_through_an_assumed_role_in_another_region_calls_there_with_the_assumed_key() {
    let proxy = RecordingProxy::start(&support::emulator_url()).await;
    let sdk = support::sdk_config()
        .await
        .to_builder()
        .endpoint_url(&proxy.url)
        .build();
    let table = harness::fresh_table().await;
    let home = named(&table, "home");
    let away = named(&table, "away");
    let remote = target_account("eu-west-1").await;
    home.create(&support::sdk_config().await).await;
    away.create(&remote).await;
    let t0 = scene::minutes_ago(120);
    home.put_jobs_running(&support::sdk_config().await, t0, Timestamp::now(), 0.0)
        .await;
    away.put_jobs_running(&remote, t0, Timestamp::now(), 0.0)
        .await;

    let config = format!(
        "table = \"{table}\"\n\n{}\n{}",
        scenario_text(&home, ""),
        scenario_text(
            &away,
            &format!("region = \"eu-west-1\"\nrole_arn = \"{TARGET_ROLE}\"\n")
        )
    );
    let app = app(&config, &table, &sdk);

    let before = proxy.seen().len();
    let home_night = night(&app, &home, t0).await;
    let home_calls = proxy.seen()[before..].to_vec();
    let before = proxy.seen().len();
    let away_night = night(&app, &away, t0).await;
    let away_calls = proxy.seen()[before..].to_vec();
    print_calls(
        "home night (function's own account and region)",
        &home_calls,
    );
    print_calls(
        "away night (eu-west-1 through the assumed role)",
        &away_calls,
    );
    for (name, answers) in [("home", &home_night), ("away", &away_night)] {
        for a in answers {
            println!("{name}: {:?} {:?}: {}", a.step, a.outcome, a.reason);
        }
    }

    for (name, answers) in [("home", &home_night), ("away", &away_night)] {
        assert_eq!(answers[0].outcome, Outcome::Acted, "{name}: {answers:#?}");
        assert!(
            answers.iter().all(|a| a.outcome != Outcome::Rejected),
            "{name}: {answers:#?}"
        );
    }
    // Both nights scaled up and back down, each in its own account and region.
    let home_state = home.state(&support::sdk_config().await).await;
    let away_state = away.state(&remote).await;
    assert!(
        home_state.is_baseline(),
        "home after its night: {home_state}"
    );
    assert!(
        away_state.is_baseline(),
        "away after its night: {away_state}"
    );
    assert!(
        away_night[0].actions.len() >= 2,
        "the away scale-up called its resources: {:#?}",
        away_night[0].actions
    );

    // Every call at the emulator: the table local, the home scenario local, the away scenario's
    // scaling and metric calls in eu-west-1 with the assumed key, AssumeRole with the home key.
    let scaling = ["ecs", "rds", "application-autoscaling", "monitoring"];
    for call in &home_calls {
        assert_eq!(
            (call.region.as_str(), call.access_key.as_str()),
            (HOME_REGION, HOME_KEY),
            "{call}"
        );
    }
    let assumed: Vec<&Seen> = away_calls
        .iter()
        .filter(|c| scaling.contains(&c.service.as_str()))
        .collect();
    assert!(
        assumed.len() >= 4,
        "the away night made scaling calls: {away_calls:#?}"
    );
    let key = &assumed[0].access_key;
    assert!(key.starts_with("ASIA"), "an assumed (temporary) key: {key}");
    for call in &assumed {
        assert_eq!(
            (call.region.as_str(), &call.access_key),
            ("eu-west-1", key),
            "{call}"
        );
    }
    for service in ["ecs", "rds", "application-autoscaling", "monitoring"] {
        assert!(
            assumed.iter().any(|c| c.service == service),
            "no {service} call in the away night: {away_calls:#?}"
        );
    }
    for call in away_calls
        .iter()
        .filter(|c| !scaling.contains(&c.service.as_str()))
    {
        assert!(
            ["dynamodb", "sts"].contains(&call.service.as_str()),
            "{call}"
        );
        assert_eq!(
            (call.region.as_str(), call.access_key.as_str()),
            (HOME_REGION, HOME_KEY),
            "the table and STS stay with the function's own region and key: {call}"
        );
    }
    let assume_roles = away_calls
        .iter()
        .filter(|c| c.operation == "AssumeRole")
        .count();
    assert_eq!(assume_roles, 1, "{away_calls:#?}");
}

#[tokio::test]
async fn a_role_is_assumed_once_for_all_events_and_regions_that_use_it() {
    let proxy = RecordingProxy::start(&support::emulator_url()).await;
    let sdk = support::sdk_config()
        .await
        .to_builder()
        .endpoint_url(&proxy.url)
        .build();
    let table = harness::fresh_table().await;
    let eu = named(&table, "eu");
    let ap = named(&table, "ap");
    let (eu_sdk, ap_sdk) = (
        target_account("eu-west-1").await,
        target_account("ap-northeast-1").await,
    );
    eu.create(&eu_sdk).await;
    ap.create(&ap_sdk).await;
    let role = format!("role_arn = \"{TARGET_ROLE}\"\n");
    let config = format!(
        "table = \"{table}\"\n\n{}\n{}",
        scenario_text(&eu, &format!("region = \"eu-west-1\"\n{role}")),
        scenario_text(&ap, &format!("region = \"ap-northeast-1\"\n{role}"))
    );
    let app = app(&config, &table, &sdk);

    let t0 = scene::minutes_ago(120);
    let mut events = 0;
    for minutes in [0, 30, 60] {
        let at = t0 + SignedDuration::from_mins(minutes);
        let step = if minutes == 0 { "scale-up" } else { "check" };
        for scene in [&eu, &ap] {
            let answer = send(&app, scene.scheduled_step(step, at), at).await;
            assert_ne!(answer.outcome, Outcome::Rejected, "{answer:#?}");
            events += 1;
        }
    }
    let seen = proxy.seen();
    let assume_roles: Vec<&Seen> = seen
        .iter()
        .filter(|c| c.operation == "AssumeRole")
        .collect();
    println!(
        "{events} events, {} calls at the emulator, {} AssumeRole",
        seen.len(),
        assume_roles.len()
    );
    assert_eq!(assume_roles.len(), 1, "{seen:#?}");
    for region in ["eu-west-1", "ap-northeast-1"] {
        assert!(
            seen.iter()
                .any(|c| c.region == region && c.access_key.starts_with("ASIA")),
            "no call in {region} with the assumed key: {seen:#?}"
        );
    }
    assert_eq!(eu.state(&eu_sdk).await.readers(), 3);
    assert_eq!(ap.state(&ap_sdk).await.readers(), 3);
}

#[test]
fn iam_policy_prints_the_function_role_and_each_target_role_with_its_trust_policy() {
    let fixture =
        support::host::repo_root().join("integration/fixtures/config/another-account.toml");
    let config = fixture.to_str().expect("a UTF-8 path");
    let base = [
        "iam-policy",
        "--config",
        config,
        "--account",
        "123456789012",
    ];
    let err = harness::fails(harness::cli().args(base));
    assert!(
        err.contains("arn:aws:iam::210987654321:role/nightshift-target")
            && err.contains("--function-role"),
        "{err}"
    );
    let function = "arn:aws:iam::123456789012:role/nightshift-FunctionRole-X1";
    let out = harness::ok(
        harness::cli()
            .args(base)
            .args(["--function-role", function]),
    );
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let function_side = doc["FunctionRole"].to_string();
    assert!(function_side.contains("sts:AssumeRole"), "{out}");
    assert!(!function_side.contains("eu-batch"), "{out}");
    let role = &doc["TargetRoles"][0];
    assert_eq!(role["RoleArn"], TARGET_ROLE);
    assert_eq!(role["Scenarios"], serde_json::json!(["eu-batch"]));
    assert_eq!(
        role["TrustPolicy"]["Statement"][0]["Principal"]["AWS"],
        function
    );
    assert!(role["Policy"]
        .to_string()
        .contains("arn:aws:ecs:eu-west-1:210987654321:service/eu-batch/worker"));
    println!("{out}");
}
