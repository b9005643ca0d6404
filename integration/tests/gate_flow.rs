//! The metric gate inside the handler: checks, completion events and scale-down steps
//! against real ECS, DocumentDB, CloudWatch and DynamoDB APIs on the emulator, with batch metric
//! datapoints published at explicit timestamps.

use crate::{harness, support};
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config;
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Response, Step};
use std::sync::Arc;

/// 22:00 in Tokyo: the night starts. The deadline, 07:30 JST, is 22:30Z.
const UP: &str = "2026-11-25T13:00:00Z";

struct Night {
    table: String,
    job: String,
    ecs_cluster: String,
    service: String,
    db: String,
    log: CallLog,
    /// Every scaling and metrics call of the night (never cleared).
    all: CallLog,
    config: Arc<nightshift::config::Config>,
    app: App,
}

impl Night {
    /// Two scenarios: "nightly" (the one under test, with an ECS service and a DocumentDB
    /// cluster) and "other" (its own service), each with its own completion events.
    async fn new(cloudwatch_endpoint: Option<&str>) -> Night {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = support::unique("gate");
        let service = support::unique("worker");
        let other = support::unique("other");
        let db = support::unique("gatedb");
        let job = support::unique("job");
        support::create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        support::create_ecs_service(&sdk, &ecs_cluster, &other, 1).await;
        support::create_docdb_cluster(&sdk, &db).await;
        let text = format!(
            r#"
table = "{table}"

[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 8
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 1
  instance_class = "db.r6g.large"
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    dimensions = {{ Job = "{job}" }}
    stat = "Maximum"
    period = "1m"
    below = 1
  [[scenario.completion]]
  source = "aws.ecs"
  group = "family:nightly-job"
  [[scenario.completion]]
  source = "aws.batch"
  job_queue = "nightly-queue"

[[scenario]]
name = "other"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{other}"
  desired = 2
  max = 2
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "OtherJobs"
    dimensions = {{ Job = "{job}" }}
    stat = "Maximum"
    period = "1m"
    below = 1
  [[scenario.completion]]
  source = "aws.ecs"
  group = "family:other-job"
"#
        );
        let config = config::parse(&text, "gate-test.toml").unwrap_or_else(|e| panic!("{e}"));
        let log = CallLog::new();
        let all = CallLog::new();
        let with_log = |b: aws_sdk_ecs::config::Builder| {
            b.interceptor(log.clone()).interceptor(all.clone()).build()
        };
        let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&sdk);
        if let Some(endpoint) = cloudwatch_endpoint {
            // A closed port: GetMetricData fails to connect, once, quickly.
            cloudwatch = cloudwatch
                .endpoint_url(endpoint)
                .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled());
        }
        let clients = ScalingClients::new(
            aws_sdk_ecs::Client::from_conf(with_log(aws_sdk_ecs::config::Builder::from(&sdk))),
            aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(&sdk)
                    .interceptor(log.clone())
                    .interceptor(all.clone())
                    .build(),
            ),
            aws_sdk_docdb::Client::from_conf(
                aws_sdk_docdb::config::Builder::from(&sdk)
                    .interceptor(log.clone())
                    .interceptor(all.clone())
                    .build(),
            ),
            aws_sdk_cloudwatch::Client::from_conf(
                cloudwatch
                    .interceptor(log.clone())
                    .interceptor(all.clone())
                    .build(),
            ),
            Timeouts::default(),
        );
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            Timeouts::default(),
        );
        let config = Arc::new(config);
        let app = App::build(
            config.clone(),
            harness::settings(),
            Adapters::new(store, clients),
        );
        Night {
            table,
            job,
            ecs_cluster,
            service,
            db,
            log,
            all,
            config,
            app,
        }
    }

    /// `JobsRunning` = `value` for every minute in `[from, to)`.
    async fn publish(&self, from: &str, to: &str, value: f64) {
        let (from, to) = (from.parse().unwrap(), to.parse().unwrap());
        harness::publish_job_metric("JobsRunning", &self.job, from, to, value).await;
    }

    async fn send(&self, payload: &str, now: &str) -> Response {
        let inv = Invocation {
            request_id: format!("req-{now}"),
            deadline: None,
            now: now.parse().unwrap(),
            function_arn: None,
        };
        self.app
            .handle(payload.as_bytes(), &inv)
            .await
            .unwrap_or_else(|e| panic!("{payload}: {e}"))
    }

    async fn step(&self, step: &str, id: &str, now: &str) -> Response {
        self.send(
            &format!(r#"{{"scenario": "nightly", "step": "{step}", "id": "{id}"}}"#),
            now,
        )
        .await
    }

    async fn desired(&self) -> i32 {
        let sdk = support::sdk_config().await;
        aws_sdk_ecs::Client::new(&sdk)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.service)
            .send()
            .await
            .unwrap()
            .services()[0]
            .desired_count()
    }

    async fn instances(&self) -> usize {
        let sdk = support::sdk_config().await;
        aws_sdk_docdb::Client::new(&sdk)
            .describe_db_clusters()
            .db_cluster_identifier(&self.db)
            .send()
            .await
            .unwrap()
            .db_clusters()[0]
            .db_cluster_members()
            .len()
    }

    fn mutating(&self) -> Vec<String> {
        self.log
            .calls()
            .into_iter()
            .filter(|c| c.is_mutating())
            .map(|c| c.operation)
            .collect()
    }
}

#[tokio::test]
async fn busy_metric_defers_checks_and_scale_down_then_quiet_for_quiet_for_scales_down() {
    let night = Night::new(None).await;
    let up = night.step("scale-up", "up", UP).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!((night.desired().await, night.instances().await), (6, 2));
    // The batch runs (3 jobs) until 13:40, then nothing runs.
    night
        .publish("2026-11-25T12:50:00Z", "2026-11-25T13:40:00Z", 3.0)
        .await;
    night
        .publish("2026-11-25T13:40:00Z", "2026-11-25T14:10:00Z", 0.0)
        .await;

    // Busy, and min_hold (30m) not passed: deferred, the reason shows the value and threshold.
    let check = night.step("check", "c1", "2026-11-25T13:20:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check.explanation().contains("JobsRunning"),
        "{}",
        check.explanation()
    );
    assert!(
        check.explanation().contains("was 3"),
        "{}",
        check.explanation()
    );
    assert!(
        check.explanation().contains("below 1"),
        "{}",
        check.explanation()
    );

    // A scheduled (not forced) scale-down while the batch runs: deferred, nothing called.
    night.log.clear();
    let down = night.step("scale-down", "d1", "2026-11-25T13:45:00Z").await;
    assert_eq!(down.outcome, Outcome::Deferred, "{down:?}");
    assert!(down.actions.is_empty());
    assert!(
        down.explanation().contains("was 3"),
        "{}",
        down.explanation()
    );
    assert!(night.mutating().is_empty(), "{:?}", night.mutating());
    assert_eq!((night.desired().await, night.instances().await), (6, 2));

    // Quiet since 13:40: at 14:00 the settled window 13:43-13:58 is all below 1, min_hold passed.
    let check = night.step("check", "c2", "2026-11-25T14:00:00Z").await;
    assert_eq!(check.outcome, Outcome::Acted, "{check:?}");
    assert!(
        check.explanation().contains("quiet"),
        "{}",
        check.explanation()
    );
    assert_eq!((night.desired().await, night.instances().await), (2, 1));

    // The run is closed: a later check does nothing and says so.
    night.log.clear();
    let late = night.step("check", "c3", "2026-11-25T14:05:00Z").await;
    assert_eq!(late.outcome, Outcome::Skipped, "{late:?}");
    assert!(
        late.explanation().contains("no open run"),
        "{}",
        late.explanation()
    );
    assert!(night.mutating().is_empty());

    // `nightshift iam-policy` allows every call the night made.
    let policy = nightshift::iam::policy(&night.config, &nightshift::iam::Target::default());
    let calls = night.all.calls();
    assert!(calls.len() > 10, "{calls:?}");
    for call in calls {
        let action = nightshift::iam::action_of(&call.service, &call.operation);
        assert!(
            nightshift::iam::allows(&policy, &action),
            "the IAM policy does not allow {action}: {policy:#}"
        );
    }

    // The evidence of every decision is in the run history.
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &night.table,
        Timeouts::default(),
    );
    let events = store
        .run_events("nightly", "2026-11-25", 100, None)
        .await
        .unwrap()
        .items;
    let last_check = events
        .iter()
        .rev()
        .find(|e| e.step == Some(Step::Check))
        .unwrap();
    let gate = &last_check.evidence.as_ref().unwrap()["gate"];
    assert_eq!(gate["rule"], "quiet", "{gate}");
    assert_eq!(gate["metrics"][0]["below"], 1.0, "{gate}");
    assert!(
        gate["metrics"][0]["periods"].as_array().unwrap().len() >= 15,
        "{gate}"
    );
}

#[tokio::test]
async fn quiet_before_min_hold_defers_and_the_deadline_scales_down_a_busy_batch() {
    let night = Night::new(None).await;
    night.step("scale-up", "up", UP).await;
    night
        .publish("2026-11-25T12:40:00Z", "2026-11-25T13:25:00Z", 0.0)
        .await;
    let check = night.step("check", "c1", "2026-11-25T13:20:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check.explanation().contains("min_hold"),
        "{}",
        check.explanation()
    );

    // No datapoints at all after 13:25 (missing_data = busy), but past 07:30 JST = 22:30Z.
    let check = night.step("check", "c2", "2026-11-25T22:31:00Z").await;
    assert_eq!(check.outcome, Outcome::Acted, "{check:?}");
    assert!(
        check.explanation().contains("deadline"),
        "{}",
        check.explanation()
    );
    assert_eq!((night.desired().await, night.instances().await), (2, 1));
}

#[tokio::test]
async fn completion_events_check_the_right_scenario_and_a_non_matching_one_is_skipped() {
    let night = Night::new(None).await;
    night.step("scale-up", "up", UP).await;
    night
        .publish("2026-11-25T12:40:00Z", "2026-11-25T13:40:00Z", 2.0)
        .await;

    let ecs = include_str!("../fixtures/events/ecs-task-state-change.json");
    let response = night.send(ecs, "2026-11-25T13:35:00Z").await;
    assert_eq!(
        response.scenario.as_deref(),
        Some("nightly"),
        "{response:?}"
    );
    assert_eq!(response.step, Some(Step::Check));
    assert_eq!(response.outcome, Outcome::Deferred, "{response:?}");
    assert!(
        response.explanation().contains("was 2"),
        "{}",
        response.explanation()
    );

    let batch = include_str!("../fixtures/events/batch-job-state-change.json");
    let response = night.send(batch, "2026-11-25T13:36:00Z").await;
    assert_eq!(
        response.scenario.as_deref(),
        Some("nightly"),
        "{response:?}"
    );
    assert_eq!(response.outcome, Outcome::Deferred, "{response:?}");

    // The same ECS shape for another task family checks "other" (no open run there: skipped).
    let mut event: serde_json::Value = serde_json::from_str(ecs).unwrap();
    event["id"] = "other-task-stopped".into();
    event["detail"]["group"] = "family:other-job".into();
    let response = night.send(&event.to_string(), "2026-11-25T13:37:00Z").await;
    assert_eq!(response.scenario.as_deref(), Some("other"), "{response:?}");
    assert_eq!(response.outcome, Outcome::Skipped, "{response:?}");

    // A task of a family no scenario listens to: skipped, not an error, nothing called.
    night.log.clear();
    event["id"] = "unrelated-task-stopped".into();
    event["detail"]["group"] = "family:unrelated".into();
    let response = night.send(&event.to_string(), "2026-11-25T13:38:00Z").await;
    assert_eq!(response.outcome, Outcome::Skipped, "{response:?}");
    assert!(
        response.explanation().contains("no scenario"),
        "{}",
        response.explanation()
    );
    assert!(night.log.calls().is_empty(), "{:?}", night.log.calls());
}

#[tokio::test]
async fn get_metric_data_failing_never_scales_down_before_the_deadline_and_is_recorded() {
    // A port that refuses every connection for the whole test.
    let refusing = support::host::RefusedPort::bind().expect("bind a loopback port");
    let night = Night::new(Some(&refusing.url())).await;
    night.step("scale-up", "up", UP).await;
    night.log.clear();
    let check = night.step("check", "c1", "2026-11-25T15:00:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert_eq!((night.desired().await, night.instances().await), (6, 2));
    assert!(
        night.mutating().is_empty(),
        "nothing scaled: {:?}",
        night.mutating()
    );
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &night.table,
        Timeouts::default(),
    );
    let events = store
        .run_events("nightly", "2026-11-25", 100, None)
        .await
        .unwrap()
        .items;
    let check = events.iter().find(|e| e.key == "c1").unwrap();
    let gate = &check.evidence.as_ref().unwrap()["gate"];
    assert!(
        gate["fetch_error"]
            .as_str()
            .is_some_and(|e| e.contains("GetMetricData")),
        "{gate}"
    );
    assert!(!gate["fallback"].is_null(), "{gate}");

    // Past the deadline the night ends even though the metrics cannot be read.
    let check = night.step("check", "c2", "2026-11-25T22:31:00Z").await;
    assert_eq!(check.outcome, Outcome::Acted, "{check:?}");
    assert!(
        check.explanation().contains("deadline"),
        "{}",
        check.explanation()
    );
}
