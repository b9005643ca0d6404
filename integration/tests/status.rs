//! `nightshift status` against the emulator: during a scale-up with readers still
//! creating, after they are available, and after the close; `--watch` followed to completion in
//! its line mode; every read made by status is a read.
//!
//! The emulator creates DocumentDB instances at once (AWS takes minutes), so the status reader's
//! DocumentDB client carries a test interceptor that reports the night's readers as `creating`
//! while a switch is on: the real server, a real answer, one field changed as AWS would show it.

use crate::{harness, support};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use jiff::{SignedDuration, Timestamp};
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::overrides::{Pause, Paused};
use nightshift::ports::HistoryStore;
use nightshift::status::{self, End, LineSink};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// 22:00 JST: the scale-up.
const UP: &str = "2026-11-26T13:00:00Z";

/// Reports every non-writer instance of DescribeDBInstances as `creating` while `on`.
#[derive(Debug, Clone, Default)]
struct StillCreating {
    on: Arc<AtomicBool>,
}

impl Intercept for StillCreating {
    fn name(&self) -> &'static str {
        "test::StillCreating"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.on.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(Ok(output)) = context.output_or_error_mut() {
            if let Some(out) = output
                .downcast_mut::<aws_sdk_docdb::operation::describe_db_instances::DescribeDbInstancesOutput>()
            {
                for i in out.db_instances.iter_mut().flatten() {
                    let writer = i
                        .db_instance_identifier
                        .as_deref()
                        .is_some_and(|id| id.ends_with("-writer"));
                    if !writer {
                        i.db_instance_status = Some("creating".into());
                    }
                }
            }
        }
        Ok(())
    }
}

struct World {
    config: Config,
    config_path: tempfile::TempPath,
    app: App,
    /// The status reader's clients: every call logged, readers `creating` while the switch is on.
    store: DynamoStore,
    scaling: ScalingClients,
    log: CallLog,
    creating: StillCreating,
    cluster: String,
    service: String,
    db: String,
    job: String,
}

async fn world() -> World {
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let (cluster, service, db, job) = (
        support::unique("status"),
        support::unique("worker"),
        support::unique("statusdb"),
        support::unique("job"),
    );
    support::create_ecs_service(&sdk, &cluster, &service, 2).await;
    support::create_docdb_cluster(&sdk, &db).await;
    let text = format!(
        r#"table = "{table}"

[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{cluster}"
  service = "{service}"
  desired = 6
  max = 8
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 2
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
  [scenario.schedule]
  scale_up = "22:00"
  check_every = "10m"
"#
    );
    let config = config::parse(&text, "status-test.toml").unwrap_or_else(|e| panic!("{e}"));
    let mut file = tempfile::NamedTempFile::new().expect("temp config");
    std::io::Write::write_all(&mut file, text.as_bytes()).expect("write config");
    let app = App::build(
        Arc::new(config.clone()),
        harness::settings(),
        Adapters::new(
            DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &table,
                Timeouts::default(),
            ),
            ScalingClients::from_sdk_config(&sdk, Timeouts::default()),
        ),
    );
    let log = CallLog::new();
    let creating = StillCreating::default();
    let scaling = ScalingClients::new(
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&sdk)
                .interceptor(log.clone())
                .build(),
        ),
        aws_sdk_applicationautoscaling::Client::from_conf(
            aws_sdk_applicationautoscaling::config::Builder::from(&sdk)
                .interceptor(log.clone())
                .build(),
        ),
        aws_sdk_docdb::Client::from_conf(
            aws_sdk_docdb::config::Builder::from(&sdk)
                .interceptor(log.clone())
                .interceptor(creating.clone())
                .build(),
        ),
        aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&sdk)
                .interceptor(log.clone())
                .build(),
        ),
        Timeouts::default(),
    );
    World {
        config,
        config_path: file.into_temp_path(),
        app,
        store: DynamoStore::new(
            harness::logged_client(&log).await,
            &table,
            Timeouts::default(),
        ),
        scaling,
        log,
        creating,
        cluster,
        service,
        db,
        job,
    }
}

impl World {
    async fn send(&self, step: &str, id: &str, now: Timestamp) -> nightshift::Response {
        let payload = format!(r#"{{"scenario": "nightly", "step": "{step}", "id": "{id}"}}"#);
        let inv = Invocation {
            request_id: id.into(),
            deadline: None,
            now,
            function_arn: None,
        };
        self.app
            .handle(payload.as_bytes(), &inv)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"))
    }

    async fn view(&self, now: Timestamp) -> Value {
        let scenario = self.config.scenario("nightly").unwrap();
        let view = status::read(&self.store, &self.scaling, scenario, now)
            .await
            .expect("status");
        serde_json::to_value(&view).unwrap()
    }

    fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = harness::cli();
        cmd.args(["status", "nightly", "--config"])
            .arg(&self.config_path)
            .args(args);
        cmd
    }

    fn assert_read_only(&self) {
        let calls = self.log.calls();
        assert!(!calls.is_empty());
        assert!(
            calls.iter().all(|c| !c.is_mutating()),
            "status made a mutating call: {calls:?}"
        );
    }
}

fn at(minutes: i64) -> Timestamp {
    UP.parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

fn reader_ids(v: &Value) -> Vec<String> {
    v["clusters"][0]["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn status_follows_a_night_from_readers_creating_to_ready_to_closed() {
    let w = world().await;
    harness::publish_job_metric("JobsRunning", &w.job, at(-30), at(20), 3.0).await;
    harness::publish_job_metric("JobsRunning", &w.job, at(20), at(90), 0.0).await;

    // Day: nothing open yet; the next step is tonight's scale-up.
    let day = w.view(at(-60)).await;
    assert_eq!(day["phase"], "day");
    assert_eq!(day["run"], Value::Null);
    assert_eq!(day["next_step"]["step"], "scale-up");
    assert_eq!(day["next_step"]["at"], UP);

    let up = w.send("scale-up", "up", at(0)).await;
    assert_eq!(up.outcome, nightshift::Outcome::Acted, "{up:?}");

    // During the scale-up, readers still creating.
    w.creating.on.store(true, Ordering::SeqCst);
    w.log.clear();
    let v = w.view(at(1)).await;
    w.assert_read_only();
    assert_eq!(v["scenario"], "nightly");
    assert_eq!(v["timezone"], "Asia/Tokyo");
    assert_eq!(v["now"], "2026-11-26T13:01:00Z");
    assert_eq!(v["phase"], "scaling-up");
    assert_eq!(v["ready"], false);
    assert_eq!(v["run"]["id"], "2026-11-26");
    assert_eq!(v["run"]["status"], "open");
    assert_eq!(v["run"]["opened_at"], UP);
    assert_eq!(v["run"]["closed_at"], Value::Null);
    assert_eq!(v["last_step"]["step"], "scale-up");
    assert_eq!(v["last_step"]["outcome"], "acted");
    assert_eq!(v["last_step"]["failed"], false);
    assert_eq!(v["next_step"]["step"], "check");
    assert_eq!(v["next_step"]["at"], "2026-11-26T13:10:00Z");
    assert_eq!(v["pause"], Value::Null);
    assert_eq!(v["hold"], Value::Null);
    let svc = &v["services"][0];
    assert_eq!(svc["cluster"], w.cluster.as_str());
    assert_eq!(svc["service"], w.service.as_str());
    assert_eq!(svc["desired"], 6);
    assert_eq!(svc["target_desired"], 6);
    assert_eq!(svc["baseline_desired"], 2);
    let db = &v["clusters"][0];
    assert_eq!(db["cluster"], w.db.as_str());
    assert_eq!(db["found"], true);
    assert_eq!(db["writer"], format!("{}-writer", w.db));
    assert_eq!(db["readers_available"], 0);
    assert_eq!(db["readers_target"], 2);
    assert_eq!(db["baseline_readers"], 0);
    let readers = db["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 2, "{db}");
    for r in readers {
        assert_eq!(r["status"], "creating", "{r}");
        assert_eq!(r["class"], "db.r6g.large", "{r}");
        assert_eq!(r["added"], true, "{r}");
    }
    let waiting: Vec<&str> = v["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        waiting.iter().filter(|l| l.ends_with(": creating")).count() == 2,
        "{waiting:?}"
    );

    // --watch in its line mode, in process: two readings while creating, then available.
    let reads = AtomicUsize::new(0);
    let scenario = w.config.scenario("nightly").unwrap();
    let mut sink = LineSink::new(Vec::new());
    let end = status::watch(
        || {
            let n = reads.fetch_add(1, Ordering::SeqCst);
            if n == 2 {
                w.creating.on.store(false, Ordering::SeqCst);
            }
            let now = at(2) + SignedDuration::from_secs(5 * n as i64);
            status::read(&w.store, &w.scaling, scenario, now)
        },
        &mut sink,
        Duration::from_millis(10),
    )
    .await
    .expect("watch");
    assert_eq!(end, End::Ready);
    assert_eq!(reads.load(Ordering::SeqCst), 3);
    let transcript = String::from_utf8(sink.into_inner()).unwrap();
    println!("status --watch transcript:\n{transcript}");
    let lines: Vec<&str> = transcript.lines().collect();
    assert_eq!(lines.len(), 2, "one line per change:\n{transcript}");
    assert!(
        lines[0].starts_with("22:02:00 scaling up | run 2026-11-26 | "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("readers 0/2 available ("), "{}", lines[0]);
    assert!(lines[0].contains(" creating, "), "{}", lines[0]);
    assert!(lines[1].starts_with("22:02:10 ready | "), "{}", lines[1]);
    assert!(
        lines[1].contains("running (desired 6, 0 pending)"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("readers 2/2 available |"), "{}", lines[1]);
    w.assert_read_only();

    // After they are available, through the CLI: ready, and a pause is shown.
    let until: Timestamp = "2026-11-26T15:00:00Z".parse().unwrap();
    w.store
        .pause(
            "nightly",
            &Pause {
                until,
                defers: Paused,
                by: Some("ops".into()),
                at: Some(at(3)),
                reason: Some("db maintenance".into()),
            },
        )
        .await
        .expect("pause");
    let v: Value = serde_json::from_str(&harness::ok(&mut w.cli(&[
        "--output",
        "json",
        "--now",
        "2026-11-26T13:05:00Z",
    ])))
    .expect("status JSON");
    assert_eq!(v["phase"], "ready");
    assert_eq!(v["ready"], true);
    assert_eq!(v["waiting"], serde_json::json!([]));
    assert_eq!(v["clusters"][0]["readers_available"], 2);
    assert_eq!(reader_ids(&v).len(), 2);
    for r in v["clusters"][0]["readers"].as_array().unwrap() {
        assert_eq!(r["status"], "available", "{r}");
    }
    assert_eq!(v["services"][0]["running"], 6);
    assert_eq!(v["services"][0]["pending"], 0);
    assert_eq!(v["pause"]["until"], "2026-11-26T15:00:00Z");
    assert_eq!(v["pause"]["by"], "ops");
    assert_eq!(v["pause"]["reason"], "db maintenance");
    assert_eq!(v["hold"], Value::Null);
    assert_eq!(v["next_step"]["at"], "2026-11-26T13:10:00Z");
    let table = harness::ok(&mut w.cli(&["--now", "2026-11-26T13:05:00Z"]));
    println!("status table:\n{table}");
    assert!(
        table.starts_with("nightly: ready at 22:05 Asia/Tokyo; run 2026-11-26 (open)"),
        "{table}"
    );
    assert!(
        table.contains("readers 2/2 available, baseline 0"),
        "{table}"
    );
    assert!(table.contains("paused until 00:00"), "{table}");
    // The CLI's --watch in line mode (no terminal): ready at once, exit 0, one line.
    let out =
        harness::run(&mut w.cli(&["--watch", "--every", "1s", "--now", "2026-11-26T13:05:00Z"]));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("22:05:00 ready | run 2026-11-26 | "),
        "{text}"
    );
    assert!(text.contains("paused until 00:00"), "{text}");
    println!("status --watch (CLI, line mode):\n{text}");
    w.store.resume("nightly").await.expect("resume");

    // After the close: the check at 22:40 finds 15 quiet minutes past min_hold.
    let close = w.send("check", "c-close", at(40)).await;
    assert_eq!(close.outcome, nightshift::Outcome::Acted, "{close:?}");
    for k in 5..10 {
        if w.store
            .latest_open_run("nightly")
            .await
            .expect("read")
            .is_none()
        {
            break;
        }
        w.send("check", &format!("c{k}"), at(10 * k)).await;
    }
    w.log.clear();
    let v: Value = serde_json::from_str(&harness::ok(&mut w.cli(&[
        "--output",
        "json",
        "--now",
        "2026-11-26T15:00:00Z",
    ])))
    .expect("status JSON");
    assert_eq!(v["phase"], "day");
    assert_eq!(v["run"]["id"], "2026-11-26");
    assert_eq!(v["run"]["status"], "closed");
    assert!(v["run"]["closed_at"].is_string(), "{v}");
    assert_eq!(v["last_step"]["step"], "check");
    assert_eq!(v["last_step"]["failed"], false);
    assert_eq!(v["services"][0]["desired"], 2);
    assert_eq!(v["clusters"][0]["readers_available"], 0);
    assert_eq!(v["pause"], Value::Null);
    assert_eq!(v["next_step"]["step"], "check");
    assert_eq!(v["next_step"]["at"], "2026-11-26T15:10:00Z");
    let out = harness::run(&mut w.cli(&["--watch", "--now", "2026-11-26T15:00:00Z"]));
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(" day | run 2026-11-26"));
}
