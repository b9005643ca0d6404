//! The scaling engine end to end: real SDK clients against the emulator (moto with the DocumentDB
//! launcher), one table, ECS service and DocumentDB cluster of its own per test.
//!
//! What is observed is observed independently of the code under test: the live state is read
//! with plain SDK calls, and every request nightshift's scaling clients send is logged by a
//! `CallLog` interceptor, so "every call is in the history" and "dry run made no mutating call"
//! are checked against what actually went over the wire.

use crate::harness::{self, invocation};
use crate::support::{self, create_docdb_cluster, create_ecs_service, unique};
use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use nightshift::app::{Adapters, App, HandleError, Settings};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::history::{EventRecord, RunRecord, RunStatus};
use nightshift::plan::safety::{self, SafetyContext, Verdict};
use nightshift::plan::{reader_identifier, RunState, Snapshot, TAG_RUN, TAG_SCENARIO};
use nightshift::ports::{HistoryStore, Scaling};
use nightshift::{Action, Outcome, Response};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SCENARIO: &str = "nightly";
/// 22:00 in Tokyo: the run id is the local date.
const NIGHT: &str = "2026-11-25T13:00:00Z";
const RUN: &str = "2026-11-25";
const SMALL: &str = "db.r6g.large";
const BIG: &str = "db.r6g.2xlarge";

/// What the scenario asks for at night.
#[derive(Clone, Copy)]
struct Night {
    desired: u32,
    max: u32,
    replicas: u8,
    resize: Option<&'static str>,
}

const NIGHT_3_READERS: Night = Night {
    desired: 10,
    max: 20,
    replicas: 3,
    resize: None,
};

/// One test's resources and config.
struct World {
    sdk: SdkConfig,
    table: String,
    ecs_cluster: String,
    service: String,
    db: String,
    writer: String,
    config: Arc<Config>,
}

impl World {
    /// A fresh table, an ECS service at `desired_now`, and a DocumentDB cluster with its writer.
    async fn new(desired_now: i32, night: Night) -> World {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = unique("batch");
        let service = unique("worker");
        let db = unique("db");
        create_ecs_service(&sdk, &ecs_cluster, &service, desired_now).await;
        let writer = create_docdb_cluster(&sdk, &db).await;
        let resize = night
            .resize
            .map_or(String::new(), |r| format!("resize = \"{r}\""));
        let text = format!(
            r#"
table = "{table}"

[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"

  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = {desired}
  max = {max}

  [[scenario.docdb]]
  cluster = "{db}"
  replicas = {replicas}
  instance_class = "{SMALL}"
  {resize}

  # The batch metric has no datapoints (its own namespace: no other test's data) and counts as
  # busy, so checks never scale down here; see `step` for scale-downs.
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"

    [[scenario.scale_down.metric]]
    namespace = "Batch-{db}"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
"#,
            desired = night.desired,
            max = night.max,
            replicas = night.replicas,
        );
        let config = config::parse(&text, "scaling-test.toml").unwrap_or_else(|e| panic!("{e}"));
        World {
            sdk,
            table,
            ecs_cluster,
            service,
            db,
            writer,
            config: Arc::new(config),
        }
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.table,
            Timeouts::default(),
        )
    }

    /// The app with its own clients; every scaling request goes to `log`.
    async fn app(&self, dry_run: bool, log: &CallLog) -> App {
        self.app_with(dry_run, log, Vec::new()).await
    }

    /// As [`World::app`], with extra interceptors on the DocumentDB client.
    async fn app_with(
        &self,
        dry_run: bool,
        log: &CallLog,
        docdb_extra: Vec<SharedInterceptor>,
    ) -> App {
        // A fresh SDK config per app: its own HTTP client and connection pool, as in one Lambda
        // execution environment.
        let sdk = support::sdk_config().await;
        let mut docdb = aws_sdk_docdb::config::Builder::from(&sdk).interceptor(log.clone());
        for extra in docdb_extra {
            docdb.push_interceptor(extra);
        }
        let clients = ScalingClients::new(
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
            aws_sdk_docdb::Client::from_conf(docdb.build()),
            aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            Timeouts::default(),
        );
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &self.table,
            Timeouts::default(),
        );
        let settings = Settings {
            dry_run,
            ..harness::settings()
        };
        App::build(self.config.clone(), settings, Adapters::new(store, clients))
    }

    fn reader(&self, n: u32) -> String {
        reader_identifier(&self.db, SCENARIO, n)
    }

    async fn register_target(&self, min: i32, max: i32) {
        support::register_scalable_target(&self.sdk, &self.ecs_cluster, &self.service, min, max)
            .await;
    }

    /// A reader that is not nightshift's, with `tags`.
    async fn add_reader(&self, id: &str, tier: i32, tags: &[(&str, &str)]) {
        let mut req = aws_sdk_docdb::Client::new(&self.sdk)
            .create_db_instance()
            .db_cluster_identifier(&self.db)
            .db_instance_identifier(id)
            .db_instance_class(SMALL)
            .engine("docdb")
            .promotion_tier(tier);
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_docdb::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build(),
            );
        }
        req.send().await.expect("CreateDBInstance");
    }

    async fn failover_to(&self, target: &str) {
        aws_sdk_docdb::Client::new(&self.sdk)
            .failover_db_cluster()
            .db_cluster_identifier(&self.db)
            .target_db_instance_identifier(target)
            .send()
            .await
            .expect("FailoverDBCluster");
    }

    async fn set_desired(&self, desired: i32) {
        aws_sdk_ecs::Client::new(&self.sdk)
            .update_service()
            .cluster(&self.ecs_cluster)
            .service(&self.service)
            .desired_count(desired)
            .send()
            .await
            .expect("UpdateService");
    }

    /// The live state, read with plain SDK calls.
    async fn state(&self) -> State {
        state_of(&self.sdk, &self.ecs_cluster, &self.service, &self.db).await
    }

    async fn run(&self) -> RunRecord {
        self.store()
            .get_run(SCENARIO, RUN)
            .await
            .expect("GetItem run")
            .expect("the run exists")
    }

    /// Every event recorded for the run, oldest first.
    async fn events(&self, run: &str) -> Vec<EventRecord> {
        self.store()
            .run_events(SCENARIO, run, 1000, None)
            .await
            .expect("Query run events")
            .items
    }

    /// Every action of the run's history, in order.
    async fn history_actions(&self, run: &str) -> Vec<Action> {
        self.events(run)
            .await
            .into_iter()
            .flat_map(|e| e.actions)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Instance {
    id: String,
    writer: bool,
    class: String,
    tier: Option<i32>,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    desired: i32,
    target: Option<(i32, i32)>,
    instances: Vec<Instance>,
}

impl State {
    fn writers(&self) -> Vec<&str> {
        self.instances
            .iter()
            .filter(|i| i.writer)
            .map(|i| i.id.as_str())
            .collect()
    }

    fn ids(&self) -> Vec<&str> {
        self.instances.iter().map(|i| i.id.as_str()).collect()
    }

    fn instance(&self, id: &str) -> &Instance {
        self.instances
            .iter()
            .find(|i| i.id == id)
            .unwrap_or_else(|| panic!("{id} not in {:?}", self.ids()))
    }
}

async fn writers_of(sdk: &SdkConfig, db: &str) -> Vec<String> {
    let out = aws_sdk_docdb::Client::new(sdk)
        .describe_db_clusters()
        .db_cluster_identifier(db)
        .send()
        .await
        .expect("DescribeDBClusters");
    out.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .filter(|m| m.is_cluster_writer() == Some(true))
        .filter_map(|m| m.db_instance_identifier().map(str::to_string))
        .collect()
}

async fn state_of(sdk: &SdkConfig, ecs_cluster: &str, service: &str, db: &str) -> State {
    let ecs = aws_sdk_ecs::Client::new(sdk)
        .describe_services()
        .cluster(ecs_cluster)
        .services(service)
        .send()
        .await
        .expect("DescribeServices");
    let desired = ecs.services()[0].desired_count();
    let targets = aws_sdk_applicationautoscaling::Client::new(sdk)
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(format!("service/{ecs_cluster}/{service}"))
        .send()
        .await
        .expect("DescribeScalableTargets");
    let target = targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()));
    let docdb = aws_sdk_docdb::Client::new(sdk);
    let writers = writers_of(sdk, db).await;
    let described = docdb
        .describe_db_instances()
        .filters(
            aws_sdk_docdb::types::Filter::builder()
                .name("db-cluster-id")
                .values(db)
                .build(),
        )
        .send()
        .await
        .expect("DescribeDBInstances");
    let mut instances = Vec::new();
    for i in described.db_instances() {
        let id = i.db_instance_identifier().unwrap_or_default().to_string();
        let tags = docdb
            .list_tags_for_resource()
            .resource_name(i.db_instance_arn().unwrap_or_default())
            .send()
            .await
            .expect("ListTagsForResource")
            .tag_list()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        instances.push(Instance {
            writer: writers.contains(&id),
            id,
            class: i.db_instance_class().unwrap_or_default().to_string(),
            tier: i.promotion_tier(),
            tags,
        });
    }
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    State {
        desired,
        target,
        instances,
    }
}

/// A step command. Scale-downs here are forced: these tests are about what a scale-down does,
/// not when (the metric gate has its own tests in metrics.rs and gate_flow.rs), and the batch
/// metric of these scenarios has no datapoints, which counts as busy: checks hold.
fn step(step: &str, id: &str) -> Vec<u8> {
    let force = if step == "scale-down" {
        r#", "force": true"#
    } else {
        ""
    };
    format!(r#"{{"scenario": "{SCENARIO}", "step": "{step}", "id": "{id}"{force}}}"#).into_bytes()
}

async fn handle(app: &App, payload: &[u8], request: &str, now: &str) -> Response {
    app.handle(payload, &invocation(request, now))
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", String::from_utf8_lossy(payload)))
}

/// Mutating operations the log saw, in order.
fn mutating(log: &CallLog) -> Vec<String> {
    log.calls()
        .into_iter()
        .filter(|c| c.is_mutating())
        .map(|c| c.operation)
        .collect()
}

fn count(ops: &[String], op: &str) -> usize {
    ops.iter().filter(|o| *o == op).count()
}

// ---------------------------------------------------------------------------------------------
// Acceptance: a full night.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_full_up_down_cycle_restores_the_exact_baseline_and_the_history_lists_every_call() {
    let world = World::new(2, NIGHT_3_READERS).await;
    world.register_target(1, 4).await;
    let baseline = world.state().await;
    assert_eq!(baseline.desired, 2);
    assert_eq!(baseline.target, Some((1, 4)));
    assert_eq!(baseline.ids(), [world.writer.as_str()]);

    let log = CallLog::new();
    let app = world.app(false, &log).await;

    let up = handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(up.run.as_deref(), Some(RUN));
    let night = world.state().await;
    assert_eq!(night.desired, 10);
    assert_eq!(
        night.target,
        Some((10, 10)),
        "MinCapacity raised, MaxCapacity raised to it"
    );
    let readers = [world.reader(1), world.reader(2), world.reader(3)];
    let mut expected_ids = vec![world.writer.clone()];
    expected_ids.extend(readers.iter().cloned());
    expected_ids.sort();
    assert_eq!(night.ids(), expected_ids);
    assert_eq!(night.writers(), [world.writer.as_str()]);
    for id in &readers {
        let reader = night.instance(id);
        assert_eq!(reader.class, SMALL);
        assert_eq!(reader.tier, Some(15), "lowest failover priority");
        assert_eq!(
            reader.tags.get(TAG_SCENARIO).map(String::as_str),
            Some(SCENARIO)
        );
        assert_eq!(reader.tags.get(TAG_RUN).map(String::as_str), Some(RUN));
    }
    // The run holds the baseline.
    let run = world.run().await;
    assert_eq!(run.status, RunStatus::Open);
    let state = RunState::from_json(run.baseline.as_ref().expect("baseline recorded")).unwrap();
    assert_eq!(state.baseline.services[0].desired, 2);
    assert_eq!(state.baseline.clusters[0].instances.len(), 1);

    // A check confirms the capacity and records the time to ready.
    let check = handle(
        &app,
        &step("check", "check-1"),
        "r2",
        "2026-11-25T13:05:00Z",
    )
    .await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check
            .explanation()
            .contains("capacity ready since 2026-11-25T13:05:00Z (300s after scale-up)"),
        "{}",
        check.explanation()
    );
    let state = RunState::from_json(world.run().await.baseline.as_ref().unwrap()).unwrap();
    assert_eq!(
        state.ready_at,
        Some("2026-11-25T13:05:00Z".parse().unwrap())
    );

    let down = handle(
        &app,
        &step("scale-down", "down-1"),
        "r3",
        "2026-11-25T22:30:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert!(
        down.explanation().contains("closed"),
        "{}",
        down.explanation()
    );
    assert_eq!(world.state().await, baseline, "exactly the baseline again");
    let run = world.run().await;
    assert_eq!(run.status, RunStatus::Closed);

    // Every mutating call that went over the wire is in the run history, in order, as `ok`.
    let sent = mutating(&log);
    assert_eq!(count(&sent, "CreateDBInstance"), 3);
    assert_eq!(count(&sent, "DeleteDBInstance"), 3);
    assert_eq!(count(&sent, "RegisterScalableTarget"), 2);
    assert_eq!(count(&sent, "UpdateService"), 2);
    let history = world.history_actions(RUN).await;
    assert_eq!(
        history.iter().map(|a| a.call.clone()).collect::<Vec<_>>(),
        sent,
        "{history:#?}"
    );
    assert!(history.iter().all(|a| a.result == "ok"), "{history:#?}");
    assert!(history
        .iter()
        .any(|a| a.call == "UpdateService" && a.detail == "desiredCount 2 -> 10"));
    assert!(history
        .iter()
        .any(|a| a.call == "UpdateService" && a.detail == "desiredCount 10 -> 2"));
    // The response's actions are the same calls.
    let answered: Vec<Action> = up
        .actions
        .iter()
        .chain(&check.actions)
        .chain(&down.actions)
        .cloned()
        .collect();
    assert_eq!(answered, history);
    // The three steps are recorded, in order, on the run.
    let steps: Vec<_> = world
        .events(RUN)
        .await
        .into_iter()
        .map(|e| (e.step.map(|s| s.to_string()), e.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            (Some("scale-up".into()), Outcome::Acted),
            (Some("check".into()), Outcome::Deferred),
            (Some("scale-down".into()), Outcome::Acted)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Acceptance: repeated and concurrent deliveries.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scale_up_delivered_three_times_sequentially_creates_exactly_the_planned_instances() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    let mut outcomes = Vec::new();
    // Three deliveries of the night's scale-up that the guard cannot dedup (a re-published event
    // gets a new id), then a true redelivery of the first.
    for (i, id) in ["up-a", "up-b", "up-c", "up-a"].iter().enumerate() {
        let at = format!("2026-11-25T13:00:0{i}Z");
        let r = handle(&app, &step("scale-up", id), &format!("req-{i}"), &at).await;
        assert_eq!(r.run.as_deref(), Some(RUN), "{r:?}");
        outcomes.push(r.outcome);
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Acted,
            Outcome::Skipped,
            Outcome::Skipped,
            Outcome::Duplicate
        ]
    );
    let sent = mutating(&log);
    assert_eq!(
        sent,
        [
            "CreateDBInstance",
            "CreateDBInstance",
            "CreateDBInstance",
            "UpdateService"
        ],
        "only the first delivery called anything"
    );
    let state = world.state().await;
    let mut want = vec![
        world.writer.clone(),
        world.reader(1),
        world.reader(2),
        world.reader(3),
    ];
    want.sort();
    assert_eq!(state.ids(), want);
    // One run, re-planned against by the later deliveries.
    let events = world.events(RUN).await;
    assert_eq!(events.len(), 3, "three scale-ups recorded on the one run");
    assert!(
        events[1].explanation().contains("already open"),
        "{}",
        events[1].explanation()
    );
}

#[tokio::test]
async fn scale_up_delivered_eight_times_concurrently_with_distinct_keys_creates_exactly_the_planned_instances(
) {
    let world = World::new(2, NIGHT_3_READERS).await;
    let mut apps = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..8 {
        let log = CallLog::new();
        apps.push(world.app(false, &log).await);
        logs.push(log);
    }
    let results =
        harness::deliver_concurrently(apps, |i| step("scale-up", &format!("up-{i}")), NIGHT).await;
    let mut outcomes = Vec::new();
    for result in results {
        let r = result.expect("handle");
        assert_eq!(r.run.as_deref(), Some(RUN), "{r:?}");
        outcomes.push(r.outcome);
    }
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Acted).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Skipped).count(),
        7,
        "{outcomes:?}"
    );
    let sent: Vec<String> = logs.iter().flat_map(mutating).collect();
    assert_eq!(count(&sent, "CreateDBInstance"), 3, "{sent:?}");
    assert_eq!(count(&sent, "UpdateService"), 1, "{sent:?}");
    let state = world.state().await;
    assert_eq!(state.instances.len(), 4, "{:?}", state.ids());
    assert_eq!(state.desired, 10);
    let runs = world
        .store()
        .scenario_runs(SCENARIO, None, 10, None)
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "one run for the night");
}

#[tokio::test]
async fn scale_up_delivered_eight_times_concurrently_with_one_key_acts_once() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let mut apps = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..8 {
        let log = CallLog::new();
        apps.push(world.app(false, &log).await);
        logs.push(log);
    }
    let results =
        harness::deliver_concurrently(apps, |_| step("scale-up", "evt-same"), NIGHT).await;
    let mut outcomes = Vec::new();
    for result in results {
        outcomes.push(result.expect("handle").outcome);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Acted).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Acted | Outcome::InProgress | Outcome::Duplicate)),
        "{outcomes:?}"
    );
    let sent: Vec<String> = logs.iter().flat_map(mutating).collect();
    assert_eq!(count(&sent, "CreateDBInstance"), 3, "{sent:?}");
    assert_eq!(world.state().await.instances.len(), 4);
}

#[tokio::test]
async fn a_reissued_create_answers_already_exists_and_changes_nothing() {
    // What a retry after a timeout does when nothing serializes it: the same deterministic
    // identifier, DBInstanceAlreadyExists, counted as done.
    let world = World::new(2, NIGHT_3_READERS).await;
    let clients = ScalingClients::from_sdk_config(&world.sdk, Timeouts::default());
    let create = nightshift::plan::Call::CreateDbInstance {
        cluster: world.db.clone(),
        engine: "docdb".into(),
        instance: world.reader(1),
        class: SMALL.into(),
        promotion_tier: 15,
        tags: BTreeMap::from([
            (TAG_SCENARIO.to_string(), SCENARIO.to_string()),
            (TAG_RUN.to_string(), RUN.to_string()),
        ]),
        zone: None,
    };
    // Vetted as the convergence loop vets it, against the live state of the moment.
    let scenario = &world.config.scenarios[0];
    let vetted = |snapshot: &Snapshot| {
        let ctx = SafetyContext {
            scenario,
            run: RUN,
            snapshot,
            baseline: None,
        };
        match safety::vet_one(&create, &ctx) {
            Verdict::Allowed(call) => call,
            Verdict::Refused(violation) => panic!("{violation}"),
        }
    };
    let first = clients
        .execute(&vetted(&clients.snapshot(scenario).await.unwrap()), false)
        .await;
    assert_eq!(first.action.result, "ok");
    let before = world.state().await;
    let again = clients
        .execute(&vetted(&clients.snapshot(scenario).await.unwrap()), false)
        .await;
    assert!(again.error.is_none(), "{again:?}");
    assert!(
        again
            .action
            .result
            .to_string()
            .starts_with("ok: already exists"),
        "{}",
        again.action.result
    );
    assert_eq!(world.state().await, before);
}

// ---------------------------------------------------------------------------------------------
// Acceptance: what nightshift must never touch.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn pre_existing_unmanaged_readers_are_never_deleted() {
    let world = World::new(
        2,
        Night {
            replicas: 4,
            ..NIGHT_3_READERS
        },
    )
    .await;
    let own = format!("{}-own", world.db);
    let teams = format!("{}-team", world.db);
    // Tagged as nightshift's, but for a night long gone: not this run's, so not deleted either.
    let stale = format!("{}-stale", world.db);
    world.add_reader(&own, 1, &[]).await;
    world.add_reader(&teams, 2, &[("team", "data")]).await;
    world
        .add_reader(
            &stale,
            15,
            &[(TAG_SCENARIO, SCENARIO), (TAG_RUN, "2026-01-01")],
        )
        .await;
    let baseline = world.state().await;

    let log = CallLog::new();
    let app = world.app(false, &log).await;
    let up = handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    // 3 readers exist, the night wants 4: one is added.
    assert_eq!(count(&mutating(&log), "CreateDBInstance"), 1);
    assert_eq!(world.state().await.instances.len(), 5);

    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r2",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let deleted: Vec<&Action> = down
        .actions
        .iter()
        .filter(|a| a.call == "DeleteDBInstance")
        .collect();
    assert_eq!(deleted.len(), 1, "{:?}", down.actions);
    assert_eq!(deleted[0].resource, world.reader(1));
    assert_eq!(world.state().await, baseline);
    assert!(
        down.explanation().contains("closed"),
        "{}",
        down.explanation()
    );
}

/// (operation, the cluster's writers right after it)
type WritersAfter = (String, Vec<String>);

/// After each mutating DocumentDB call, reads the cluster's writers with a client of its own.
#[derive(Debug, Clone)]
struct WriterWatch {
    db: String,
    seen: Arc<Mutex<Vec<WritersAfter>>>,
}

impl WriterWatch {
    fn new(db: &str) -> Self {
        WriterWatch {
            db: db.to_string(),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<WritersAfter> {
        self.seen.lock().unwrap().clone()
    }
}

impl Intercept for WriterWatch {
    fn name(&self) -> &'static str {
        "WriterWatch"
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let reads = ["Describe", "List"];
        if reads.iter().any(|r| op.starts_with(r)) {
            return Ok(());
        }
        let db = self.db.clone();
        // The interceptor is synchronous: read on a thread with a runtime and client of its own.
        let writers = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let sdk = support::sdk_config().await;
                writers_of(&sdk, &db).await
            })
        })
        .join()
        .expect("the writer read panicked");
        self.seen.lock().unwrap().push((op, writers));
        Ok(())
    }
}

#[tokio::test]
async fn a_failover_to_an_unmanaged_reader_during_the_night_is_left_alone() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let own = format!("{}-own", world.db);
    world.add_reader(&own, 1, &[]).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    // During the night DocumentDB (or an operator) fails over to the cluster's own reader.
    world.failover_to(&own).await;
    let before_down = world.state().await;
    assert_eq!(before_down.writers(), [own.as_str()]);
    log.clear();

    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r2",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let sent = mutating(&log);
    assert_eq!(
        sent,
        ["UpdateService", "DeleteDBInstance", "DeleteDBInstance"]
    );
    let after = world.state().await;
    assert_eq!(
        after.writers(),
        [own.as_str()],
        "the new writer stays the writer"
    );
    assert_eq!(after.instance(&own).class, SMALL, "and is not resized");
    assert_eq!(after.ids().len(), 2, "{:?}", after.ids());
    assert!(
        down.explanation().contains(&format!("writer is {own}"))
            && down.explanation().contains("failover"),
        "the failover is recorded as drift: {}",
        down.explanation()
    );
    assert!(down.actions.iter().all(|a| a.resource != own));
}

#[tokio::test]
async fn a_failover_to_one_of_nightshifts_readers_is_failed_back_before_that_reader_is_deleted() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let watch = WriterWatch::new(&world.db);
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(watch.clone())])
        .await;
    handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    let promoted = world.reader(2);
    world.failover_to(&promoted).await;
    let seen_before = watch.seen().len();

    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r2",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let after = world.state().await;
    assert_eq!(after.ids(), [world.writer.as_str()]);
    assert_eq!(after.writers(), [world.writer.as_str()]);
    // The writer role went back first; the promoted reader was deleted only after it.
    let seen = watch.seen()[seen_before..].to_vec();
    let failover = seen
        .iter()
        .position(|(op, _)| op == "FailoverDBCluster")
        .expect("a failover back");
    assert_eq!(seen[failover].1, std::slice::from_ref(&world.writer));
    let delete_promoted = down
        .actions
        .iter()
        .position(|a| a.call == "DeleteDBInstance" && a.resource == promoted)
        .expect("the promoted reader is deleted");
    let failover_action = down
        .actions
        .iter()
        .position(|a| a.call == "FailoverDBCluster")
        .unwrap();
    assert!(failover_action < delete_promoted, "{:?}", down.actions);
    for (op, writers) in &seen {
        assert_eq!(writers.len(), 1, "exactly one writer after {op}: {seen:?}");
    }
}

#[tokio::test]
async fn a_drifted_ecs_desired_count_is_left_alone_at_scale_down_and_recorded_as_drift() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    // Someone changes the count during the night.
    world.set_desired(7).await;
    log.clear();

    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r2",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert_eq!(world.state().await.desired, 7, "not clobbered");
    assert_eq!(count(&mutating(&log), "UpdateService"), 0);
    assert!(
        down.explanation()
            .contains("desired count is 7 but nightshift set 10"),
        "{}",
        down.explanation()
    );
    let events = world.events(RUN).await;
    let recorded = events.last().unwrap();
    let drift = recorded.evidence.as_ref().unwrap()["drift"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert!(drift[0].as_str().unwrap().contains("left as it is"));
    // The rest of the night is still restored, and the run closes.
    assert_eq!(world.state().await.instances.len(), 1);
    assert_eq!(world.run().await.status, RunStatus::Closed);
}

// ---------------------------------------------------------------------------------------------
// Acceptance: resize.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_resize_cycle_restores_the_classes_with_exactly_one_writer_after_every_call() {
    let world = World::new(
        2,
        Night {
            replicas: 2,
            resize: Some(BIG),
            ..NIGHT_3_READERS
        },
    )
    .await;
    let own = format!("{}-own", world.db);
    world.add_reader(&own, 1, &[]).await;
    let baseline = world.state().await;
    let log = CallLog::new();
    let watch = WriterWatch::new(&world.db);
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(watch.clone())])
        .await;

    let up = handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let night = world.state().await;
    assert!(
        night.instances.iter().all(|i| i.class == BIG),
        "every instance has the night class: {night:?}"
    );
    assert_eq!(
        night.writers(),
        [own.as_str()],
        "failover went to the cluster's own resized reader, not to nightshift's"
    );
    // Readers first, then the failover, then the old writer as a reader.
    let docdb_calls: Vec<(String, String)> = up
        .actions
        .iter()
        .filter(|a| a.service == "docdb")
        .map(|a| (a.call.clone(), a.resource.clone()))
        .collect();
    assert_eq!(
        docdb_calls,
        [
            ("CreateDBInstance".to_string(), world.reader(1)),
            ("ModifyDBInstance".to_string(), own.clone()),
            ("FailoverDBCluster".to_string(), world.db.clone()),
            ("ModifyDBInstance".to_string(), world.writer.clone()),
        ]
    );
    let check = handle(&app, &step("check", "c1"), "r2", "2026-11-25T13:10:00Z").await;
    assert!(
        check.explanation().contains("capacity ready"),
        "{}",
        check.explanation()
    );

    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r3",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert_eq!(
        world.state().await,
        baseline,
        "classes, writer and instances restored"
    );
    let docdb_calls: Vec<(String, String)> = down
        .actions
        .iter()
        .filter(|a| a.service == "docdb")
        .map(|a| (a.call.clone(), a.resource.clone()))
        .collect();
    assert_eq!(
        docdb_calls,
        [
            ("ModifyDBInstance".to_string(), world.writer.clone()),
            ("DeleteDBInstance".to_string(), world.reader(1)),
            ("FailoverDBCluster".to_string(), world.db.clone()),
            ("ModifyDBInstance".to_string(), own.clone()),
        ],
        "readers first, fail back to the original writer, the old writer last"
    );
    let seen = watch.seen();
    assert_eq!(seen.len(), 8, "{seen:?}");
    for (op, writers) in &seen {
        assert_eq!(writers.len(), 1, "exactly one writer after {op}: {seen:?}");
    }
    // Every Modify addressed a reader: the writer at that moment was someone else.
    let mut writer_now = world.writer.clone();
    for action in up
        .actions
        .iter()
        .chain(&down.actions)
        .filter(|a| a.service == "docdb")
    {
        match action.call.as_str() {
            "ModifyDBInstance" | "DeleteDBInstance" => {
                assert_ne!(action.resource, writer_now, "{action:?} hit the writer")
            }
            "FailoverDBCluster" => {
                writer_now = action.detail.rsplit(" -> ").next().unwrap().to_string()
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_resize_spread_over_several_invocations_is_advanced_by_checks() {
    // On AWS each resize phase takes minutes; here a fault makes the first failover fail as
    // "cluster busy", which ends the scale-up invocation after phase 1 (retryably). The checks
    // that follow continue from the live state.
    let world = World::new(
        2,
        Night {
            replicas: 1,
            resize: Some(BIG),
            ..NIGHT_3_READERS
        },
    )
    .await;
    let log = CallLog::new();
    let fault = Fault::new("FailoverDBCluster", 1, 400, "InvalidDBClusterStateFault");
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(fault.clone())])
        .await;
    let err = app
        .handle(&step("scale-up", "up"), &invocation("r1", NIGHT))
        .await
        .expect_err("a busy cluster is a retryable failure of the scale-up");
    assert!(matches!(err, HandleError::Retryable(_)), "{err}");
    assert!(
        err.to_string().contains("InvalidDBClusterStateFault"),
        "{err}"
    );
    let mid = world.state().await;
    assert_eq!(mid.writers(), [world.writer.as_str()]);
    assert_eq!(mid.instance(&world.writer).class, SMALL, "the writer waits");
    assert_eq!(mid.instance(&world.reader(1)).class, BIG);
    // The partial scale-up is in the history, with the failed call.
    let history = world.history_actions(RUN).await;
    assert_eq!(history.last().unwrap().call, "FailoverDBCluster");
    assert!(history
        .last()
        .unwrap()
        .result
        .to_string()
        .contains("InvalidDBClusterStateFault"));

    let check = handle(&app, &step("check", "c1"), "r2", "2026-11-25T13:10:00Z").await;
    assert_eq!(check.outcome, Outcome::Acted, "{check:?}");
    let calls: Vec<&str> = check.actions.iter().map(|a| a.call.as_str()).collect();
    assert_eq!(calls, ["FailoverDBCluster", "ModifyDBInstance"]);
    assert!(
        check.explanation().contains("capacity ready"),
        "{}",
        check.explanation()
    );
    let night = world.state().await;
    assert!(night.instances.iter().all(|i| i.class == BIG), "{night:?}");
    let check = handle(&app, &step("check", "c2"), "r3", "2026-11-25T13:20:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "nothing left: {check:?}");
    assert!(check.actions.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Acceptance: dry run.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dry_run_makes_zero_mutating_calls_and_records_the_plan() {
    let world = World::new(
        2,
        Night {
            resize: Some(BIG),
            ..NIGHT_3_READERS
        },
    )
    .await;
    world.register_target(1, 4).await;
    let before = world.state().await;
    let log = CallLog::new();
    let app = world.app(true, &log).await;

    let up = handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Skipped, "{up:?}");
    assert!(
        up.explanation().contains("NIGHTSHIFT_DRY_RUN=1"),
        "{}",
        up.explanation()
    );
    assert!(!up.actions.is_empty());
    assert!(
        up.actions.iter().all(|a| a.result == "dry-run"),
        "{:?}",
        up.actions
    );
    let planned: Vec<&str> = up.actions.iter().map(|a| a.call.as_str()).collect();
    // The order within a step: the database readers first, then the workers.
    assert_eq!(
        planned,
        [
            "CreateDBInstance",
            "CreateDBInstance",
            "CreateDBInstance",
            "RegisterScalableTarget",
            "UpdateService"
        ]
    );
    let check = handle(&app, &step("check", "c"), "r2", "2026-11-25T13:05:00Z").await;
    let down = handle(
        &app,
        &step("scale-down", "down"),
        "r3",
        "2026-11-25T22:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Skipped, "{down:?}");

    // Over the wire: reads only, on every scaling client.
    let calls = log.calls();
    assert!(!calls.is_empty());
    let writes: Vec<_> = calls.iter().filter(|c| c.is_mutating()).collect();
    assert_eq!(writes, Vec::<&nightshift::aws::calls::Call>::new());
    assert_eq!(world.state().await, before);
    // The plan is recorded: the actions in the history and the planned calls in the evidence.
    let events = world.events(RUN).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].actions, up.actions);
    let evidence = events[0].evidence.as_ref().unwrap();
    assert_eq!(evidence["dry_run"], true);
    assert_eq!(evidence["planned"].as_array().unwrap().len(), 5);
    assert!(check.actions.is_empty());
    let run = world.run().await;
    assert!(
        RunState::from_json(run.baseline.as_ref().unwrap())
            .unwrap()
            .opened_by_dry_run
    );
}

#[tokio::test]
async fn a_real_check_of_a_rehearsed_night_starts_no_resize() {
    let world = World::new(
        2,
        Night {
            replicas: 1,
            resize: Some(BIG),
            ..NIGHT_3_READERS
        },
    )
    .await;
    let own = format!("{}-own", world.db);
    world.add_reader(&own, 1, &[]).await;
    let before = world.state().await;
    let log = CallLog::new();
    let rehearsal = world.app(true, &log).await;
    let up = handle(&rehearsal, &step("scale-up", "up"), "r1", NIGHT).await;
    assert!(
        up.actions.iter().any(|a| a.call == "ModifyDBInstance"),
        "{up:?}"
    );
    // NIGHTSHIFT_DRY_RUN is switched off mid-night; the scheduled check arrives.
    let real = world.app(false, &log).await;
    let check = handle(&real, &step("check", "c"), "r2", "2026-11-25T13:05:00Z").await;
    assert!(check.actions.is_empty(), "{check:?}");
    assert!(mutating(&log).is_empty());
    assert_eq!(world.state().await, before);
}

// ---------------------------------------------------------------------------------------------
// The run state machine.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_and_scale_down_without_an_open_run_are_skipped_recorded_and_call_nothing() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    let check = handle(&app, &step("check", "c"), "r1", NIGHT).await;
    assert_eq!(check.outcome, Outcome::Skipped);
    assert!(
        check.explanation().contains("no open run"),
        "{}",
        check.explanation()
    );
    let down = handle(&app, &step("scale-down", "d"), "r2", NIGHT).await;
    assert_eq!(down.outcome, Outcome::Skipped);
    assert!(
        down.explanation().contains("never scaled up"),
        "{}",
        down.explanation()
    );
    assert_eq!(down.run, None);
    assert_eq!(log.calls(), [], "not even a read");
    let day = NIGHT.parse().unwrap();
    let logged = world
        .store()
        .unattached_events(day, 10, None)
        .await
        .unwrap();
    assert_eq!(logged.items.len(), 2);
}

#[tokio::test]
async fn a_scale_up_while_the_run_is_scaling_down_is_out_of_order() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    // A scale-down that started and has not finished (on AWS: instances still deleting).
    let run = world.run().await;
    let mut state = RunState::from_json(run.baseline.as_ref().unwrap()).unwrap();
    state.scale_down_started_at = Some("2026-11-25T22:00:00Z".parse().unwrap());
    world
        .store()
        .update_run(SCENARIO, RUN, "scaling down", Some(&state.to_json()))
        .await
        .unwrap();
    log.clear();
    let late = handle(
        &app,
        &step("scale-up", "late"),
        "r2",
        "2026-11-25T22:01:00Z",
    )
    .await;
    assert_eq!(late.outcome, Outcome::Skipped, "{late:?}");
    assert!(
        late.explanation().contains("out of order"),
        "{}",
        late.explanation()
    );
    assert!(mutating(&log).is_empty());
    // A check continues the scale-down and closes the run.
    let check = handle(&app, &step("check", "c"), "r3", "2026-11-25T22:05:00Z").await;
    assert_eq!(check.outcome, Outcome::Acted, "{check:?}");
    assert!(
        check.explanation().contains("closed"),
        "{}",
        check.explanation()
    );
    assert_eq!(world.run().await.status, RunStatus::Closed);
}

#[tokio::test]
async fn a_second_night_the_same_date_opens_run_dot_2_and_scales_again() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    handle(
        &app,
        &step("scale-down", "down-1"),
        "r2",
        "2026-11-25T13:30:00Z",
    )
    .await;
    let again = handle(
        &app,
        &step("scale-up", "up-2"),
        "r3",
        "2026-11-25T14:00:00Z",
    )
    .await;
    assert_eq!(again.outcome, Outcome::Acted, "{again:?}");
    assert_eq!(again.run.as_deref(), Some("2026-11-25.2"));
    let state = world.state().await;
    assert_eq!(state.instances.len(), 4);
    for n in 1..=3 {
        let reader = state.instance(&world.reader(n));
        assert_eq!(
            reader.tags.get(TAG_RUN).map(String::as_str),
            Some("2026-11-25.2")
        );
    }
}

#[tokio::test]
async fn a_scale_up_for_a_missing_service_is_rejected_clearly_and_opens_no_run() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let mut config = (*world.config).clone();
    config.scenarios[0].ecs[0].service = "no-such-service".into();
    let missing = World {
        config: Arc::new(config),
        ..world
    };
    let log = CallLog::new();
    let app = missing.app(false, &log).await;
    let r = handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    assert_eq!(r.outcome, Outcome::Rejected, "{r:?}");
    assert!(
        r.explanation().contains("\"no-such-service\"")
            && r.explanation().contains("[[scenario.ecs]]"),
        "{}",
        r.explanation()
    );
    assert!(mutating(&log).is_empty());
    assert!(missing
        .store()
        .latest_open_run(SCENARIO)
        .await
        .unwrap()
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Errors of the AWS APIs, injected at the SDK boundary.
// ---------------------------------------------------------------------------------------------

/// Replaces the `nth` call (1-based; 0: every call) of `operation` with an error answer. The
/// request is rewritten into a harmless DescribeDBClusters first, so the emulator's state is
/// unchanged, as it would be on AWS after such an error.
#[derive(Debug, Clone)]
struct Fault {
    operation: &'static str,
    nth: usize,
    status: u16,
    code: &'static str,
    calls: Arc<AtomicUsize>,
    pending: Arc<Mutex<bool>>,
}

impl Fault {
    fn new(operation: &'static str, nth: usize, status: u16, code: &'static str) -> Fault {
        Fault {
            operation,
            nth,
            status,
            code,
            calls: Arc::default(),
            pending: Arc::default(),
        }
    }
}

impl Intercept for Fault {
    fn name(&self) -> &'static str {
        "Fault"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string());
        if op.as_deref() != Some(self.operation) {
            return Ok(());
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.nth != 0 && n != self.nth {
            return Ok(());
        }
        let body = "Action=DescribeDBClusters&Version=2014-10-31";
        let request = context.request_mut();
        *request.body_mut() = SdkBody::from(body);
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *self.pending.lock().unwrap() = true;
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut pending = self.pending.lock().unwrap();
        if !*pending {
            return Ok(());
        }
        *pending = false;
        let xml = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>injected by the test</Message></Error><RequestId>test</RequestId></ErrorResponse>",
            self.code
        );
        let mut response = HttpResponse::new(
            self.status.try_into().expect("status code"),
            SdkBody::from(xml),
        );
        response.headers_mut().insert("content-type", "text/xml");
        *context.response_mut() = response;
        Ok(())
    }
}

#[tokio::test]
async fn quota_and_capacity_errors_are_recorded_and_the_night_goes_on_with_what_it_got() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let fault = Fault::new("CreateDBInstance", 2, 400, "InstanceQuotaExceeded");
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(fault)])
        .await;
    let up = handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert!(
        up.explanation().contains("degraded"),
        "{}",
        up.explanation()
    );
    assert!(
        up.explanation().contains("InstanceQuotaExceeded"),
        "{}",
        up.explanation()
    );
    let results: Vec<(String, String)> = up
        .actions
        .iter()
        .map(|a| (a.call.clone(), a.result.to_string()))
        .collect();
    assert_eq!(results.len(), 4, "{results:?}");
    // The database readers first (the second refused for quota), then the service.
    assert_eq!(
        (results[3].0.as_str(), results[3].1.as_str()),
        ("UpdateService", "ok")
    );
    assert!(
        results[1].1.starts_with("error: InstanceQuotaExceeded"),
        "{results:?}"
    );
    let state = world.state().await;
    assert_eq!(state.instances.len(), 3, "writer + the 2 readers it got");
    assert_eq!(state.desired, 10, "ECS scaled regardless");
    // The check reports the shortfall but capacity is ready with what the night has.
    let check = handle(&app, &step("check", "c"), "r2", "2026-11-25T13:05:00Z").await;
    assert!(
        check.explanation().contains("capacity ready"),
        "{}",
        check.explanation()
    );
    assert!(
        check.explanation().contains("2 of 3 readers"),
        "{}",
        check.explanation()
    );
}

#[tokio::test]
async fn throttling_and_5xx_fail_the_step_retryably_and_a_retry_of_the_same_event_finishes_it() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    // Every attempt (the SDK retries these itself first) of the first create is throttled.
    let fault = Fault::new("CreateDBInstance", 0, 400, "Throttling");
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(fault)])
        .await;
    let err = app
        .handle(&step("scale-up", "evt-1"), &invocation("r1", NIGHT))
        .await
        .expect_err("throttled");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("Throttling"), "{err}");
    // The same event again, once the throttling passed: the failed guard record is re-claimed.
    let app = world.app(false, &log).await;
    let retry = handle(
        &app,
        &step("scale-up", "evt-1"),
        "r2",
        "2026-11-25T13:02:00Z",
    )
    .await;
    assert_eq!(retry.outcome, Outcome::Acted, "{retry:?}");
    assert_eq!(world.state().await.instances.len(), 4);
    let events = world.events(RUN).await;
    assert_eq!(events.len(), 2, "the failed attempt is recorded too");
    assert_eq!(events[0].outcome, Outcome::Deferred);
    assert!(events[1].evidence.as_ref().unwrap()["takeover"].is_string());

    // A 5xx is retryable too.
    let world = World::new(2, NIGHT_3_READERS).await;
    let fault = Fault::new("CreateDBInstance", 0, 503, "ServiceUnavailable");
    let app = world
        .app_with(false, &CallLog::new(), vec![SharedInterceptor::new(fault)])
        .await;
    let err = app
        .handle(&step("scale-up", "evt-2"), &invocation("r1", NIGHT))
        .await
        .expect_err("5xx");
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn access_denied_fails_clearly_naming_the_iam_action_and_the_resource() {
    let world = World::new(2, NIGHT_3_READERS).await;
    let log = CallLog::new();
    let app = world.app(false, &log).await;
    handle(&app, &step("scale-up", "up"), "r1", NIGHT).await;
    let fault = Fault::new("DeleteDBInstance", 1, 403, "AccessDenied");
    let app = world
        .app_with(false, &log, vec![SharedInterceptor::new(fault)])
        .await;
    let err = app
        .handle(
            &step("scale-down", "down"),
            &invocation("r2", "2026-11-25T22:00:00Z"),
        )
        .await
        .expect_err("denied");
    assert!(matches!(err, HandleError::NonRetryable(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("rds:DeleteDBInstance"), "{text}");
    // Which reader the denied delete addresses follows the zone-spread removal order.
    assert!((1..=3).any(|n| text.contains(&world.reader(n))), "{text}");
    // Nothing was deleted, and the run stays open for a later attempt.
    assert_eq!(world.state().await.instances.len(), 4);
    assert_eq!(world.run().await.status, RunStatus::Open);
}
