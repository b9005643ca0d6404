//! nightshift's own events (`[notify] event_bus`): a whole night against the emulator, with a
//! rule on the bus that delivers to an SQS queue the test reads; and a night whose bus is missing,
//! which scales all the same and records the failed PutEvents.

use crate::{harness, support};
use aws_sdk_eventbridge::types::Target;
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::events::EventsClient;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::ports::{EventSink, HistoryStore};
use nightshift::{ActionResult, Outcome, Response};
use serde_json::Value;
use std::sync::Arc;

/// 22:00 in Tokyo; the deadline 07:30 JST is 22:30Z.
const UP: &str = "2026-11-25T13:00:00Z";

struct Night {
    table: String,
    ecs_cluster: String,
    service: String,
    job: String,
    app: App,
}

impl Night {
    /// Scenario "nightly" (an ECS service and a DocumentDB cluster) and "broken" (a service that
    /// does not exist: its scale-up is rejected), both notifying `bus`.
    async fn new(bus: &str) -> Night {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = support::unique("notify");
        let service = support::unique("worker");
        let db = support::unique("notifydb");
        let job = support::unique("job");
        support::create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        support::create_docdb_cluster(&sdk, &db).await;
        let text = format!(
            r#"
table = "{table}"

[notify]
event_bus = "{bus}"

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
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    dimensions = {{ Job = "{job}" }}
    stat = "Maximum"
    period = "1m"
    below = 1

[[scenario]]
name = "broken"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "no-such-service"
  desired = 2
  max = 2
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "OtherJobs"
    stat = "Maximum"
    period = "1m"
    below = 1
"#
        );
        let config =
            nightshift::config::parse(&text, "notify-test.toml").unwrap_or_else(|e| panic!("{e}"));
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            Timeouts::default(),
        );
        let scaling = ScalingClients::from_sdk_config(&sdk, Timeouts::default());
        let events: Arc<dyn EventSink> = Arc::new(EventsClient::new(&sdk));
        let adapters = Adapters {
            events: Some(events),
            ..Adapters::new(store, scaling)
        };
        let app = App::build(Arc::new(config), harness::settings(), adapters);
        Night {
            table,
            ecs_cluster,
            service,
            job,
            app,
        }
    }

    async fn step(&self, scenario: &str, step: &str, id: &str, now: &str) -> Response {
        let payload = format!(r#"{{"scenario": "{scenario}", "step": "{step}", "id": "{id}"}}"#);
        let inv = Invocation {
            request_id: format!("req-{id}"),
            deadline: None,
            now: now.parse().unwrap(),
            function_arn: None,
        };
        self.app
            .handle(payload.as_bytes(), &inv)
            .await
            .unwrap_or_else(|e| panic!("{payload}: {e}"))
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

    /// Someone sets the service's desired count by hand during the night.
    async fn set_desired(&self, count: i32) {
        let sdk = support::sdk_config().await;
        aws_sdk_ecs::Client::new(&sdk)
            .update_service()
            .cluster(&self.ecs_cluster)
            .service(&self.service)
            .desired_count(count)
            .send()
            .await
            .unwrap();
    }
}

/// A bus with a rule (source `nightshift`) delivering to a fresh queue; the queue's URL.
pub(crate) async fn bus_to_queue(bus: &str) -> String {
    let sdk = support::sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    events.create_event_bus().name(bus).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(support::unique("notified"))
        .send()
        .await
        .unwrap();
    let url = queue.queue_url().unwrap().to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    let rule = support::unique("nightshift-events");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["nightshift"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(Target::builder().id("queue").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();
    url
}

/// Every message on the queue until it answers empty, as JSON, deleting each.
pub(crate) async fn drain(url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&support::sdk_config().await);
    let mut all = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            return all;
        }
        for m in got.messages() {
            all.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn summary(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m["detail-type"].as_str().unwrap_or_default().to_string(),
                m["detail"]["notification_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_whole_night_sends_exactly_its_events_to_the_bus() {
    let bus = support::unique("ops-events");
    let queue = bus_to_queue(&bus).await;
    let night = Night::new(&bus).await;
    let run = "2026-11-25";

    let up = night.step("nightly", "scale-up", "up", UP).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(night.desired().await, 6);
    let put = up.actions.last().unwrap();
    assert_eq!(
        (put.call.as_str(), &put.result),
        ("PutEvents", &ActionResult::Done),
        "{up:?}"
    );
    // A repeat of the scale-up is a duplicate: nothing is sent again.
    let again = night.step("nightly", "scale-up", "up", UP).await;
    assert_eq!(again.outcome, Outcome::Duplicate);

    // The first check sees the capacity; later checks while busy send nothing.
    let c1 = night
        .step("nightly", "check", "c1", "2026-11-25T13:20:00Z")
        .await;
    assert!(c1.reason.starts_with("ready"), "{c1:?}");
    night
        .step("nightly", "check", "c2", "2026-11-25T14:00:00Z")
        .await;
    // Someone pins the service at 7 during the night: drift, left alone at the restore.
    night.set_desired(7).await;
    // The batch overruns: busy at the deadline.
    harness::publish_job_metric(
        "JobsRunning",
        &night.job,
        "2026-11-25T22:00:00Z".parse().unwrap(),
        "2026-11-25T22:40:00Z".parse().unwrap(),
        4.0,
    )
    .await;
    let last = night
        .step("nightly", "check", "c3", "2026-11-25T22:35:00Z")
        .await;
    assert!(last.reason.contains("run closed"), "{last:?}");
    assert_eq!(night.desired().await, 7, "the drifted value is left alone");

    // The other scenario's scale-up fails for good: its service does not exist.
    let broken = night.step("broken", "scale-up", "broken-up", UP).await;
    assert_eq!(broken.outcome, Outcome::Rejected, "{broken:?}");

    let messages = drain(&queue).await;
    for m in &messages {
        println!("{m}");
    }
    let id = |kind: &str| format!("nightly/{run}/{kind}");
    assert_eq!(
        summary(&messages),
        [
            ("Nightshift Run Opened".to_string(), id("run-opened")),
            ("Nightshift Capacity Ready".into(), id("capacity-ready")),
            ("Nightshift Deadline Reached".into(), id("deadline-reached")),
            ("Nightshift Drift Detected".into(), id("drift-detected")),
            ("Nightshift Run Closed".into(), id("run-closed")),
            (
                "Nightshift Step Failed".into(),
                format!("broken/{run}/step-failed")
            ),
        ],
        "{messages:#?}"
    );
    for m in &messages {
        assert_eq!(m["source"], "nightshift");
        let d = &m["detail"];
        for key in ["scenario", "run", "step", "outcome", "reason", "actions"] {
            assert!(d.get(key).is_some(), "{key} in {d}");
        }
    }
    let detail = |i: usize| &messages[i]["detail"];
    assert_eq!(detail(0)["step"], "scale-up");
    assert_eq!(detail(0)["run"], run);
    assert!(detail(0)["actions"].as_array().unwrap().len() >= 2);
    assert_eq!(detail(1)["ready_after_minutes"], 20);
    assert!(
        detail(2)["items"][0]
            .as_str()
            .unwrap()
            .contains("JobsRunning"),
        "{}",
        detail(2)
    );
    assert!(
        detail(3)["items"][0].as_str().unwrap().contains("7"),
        "{}",
        detail(3)
    );
    assert_eq!(detail(4)["why"], "deadline");
    assert_eq!(detail(4)["night_minutes"], 575);
    assert_eq!(detail(5)["run"], Value::Null);
    assert_eq!(detail(5)["outcome"], "rejected");
    assert!(
        detail(5)["error"]
            .as_str()
            .unwrap()
            .contains("no-such-service"),
        "{}",
        detail(5)
    );
}

#[tokio::test]
async fn a_missing_bus_does_not_stop_the_night_and_the_failure_is_recorded() {
    let night = Night::new(&support::unique("no-such-bus")).await;
    let up = night.step("nightly", "scale-up", "up", UP).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(night.desired().await, 6);
    let put = up.actions.last().unwrap();
    assert_eq!(put.call, "PutEvents");
    assert!(put.result.is_failure(), "{put:?}");

    // The whole night goes on: a quiet batch closes the run and restores the baseline.
    harness::publish_job_metric(
        "JobsRunning",
        &night.job,
        "2026-11-25T13:00:00Z".parse().unwrap(),
        "2026-11-25T14:10:00Z".parse().unwrap(),
        0.0,
    )
    .await;
    let close = night
        .step("nightly", "check", "c1", "2026-11-25T14:05:00Z")
        .await;
    assert!(close.reason.contains("run closed"), "{close:?}");
    assert_eq!(night.desired().await, 2);

    // The run history keeps the failed PutEvents with each step that tried it.
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
    let failed: Vec<String> = events
        .iter()
        .flat_map(|e| &e.actions)
        .filter(|a| a.call == "PutEvents")
        .map(|a| format!("{}: {}", a.detail, a.result))
        .collect();
    println!("{failed:#?}");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|f| f.contains("error")), "{failed:?}");
}
