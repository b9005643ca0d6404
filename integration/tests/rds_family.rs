//! Aurora and Neptune clusters through whole nights against the emulator, beside DocumentDB and
//! ECS: the readers nightshift adds (created with the cluster's own engine, tagged, removed in the
//! morning), Aurora's `rds:cluster:ReadReplicaCount` scalable target raised and restored, a table
//! naming a cluster of another engine refused before any call, and the order within a step
//! (database readers first at scale-up, workers first at scale-down).
//!
//! moto serves Aurora (MySQL and PostgreSQL) and Neptune clusters through the RDS API as they are
//! (engines, members, writer flag, failover, ServerlessV2ScalingConfiguration, the rds scalable
//! target): unlike DocumentDB they need no launcher patch. The live state is read back with plain
//! SDK calls; every request nightshift sends is in the `CallLog`.

use crate::harness::{self, cli, invocation, ok};
use crate::support::{self, unique};
use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_docdb::types::ServerlessV2ScalingConfiguration;
use nightshift::app::{Adapters, App};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config;
use nightshift::{Action, Outcome, Response};
use std::sync::Arc;

const SCENARIO: &str = "nightly";
const NIGHT: &str = "2026-11-25T13:00:00Z";
const LATER: &str = "2026-11-25T13:10:00Z";
const MORNING: &str = "2026-11-25T22:00:00Z";
const SMALL: &str = "db.r6g.large";

/// One cluster to create: its config table, engine, and optional serverless range.
struct Cluster {
    table: &'static str,
    engine: &'static str,
    replicas: u8,
    keys: &'static str,
    serverless: Option<(f64, f64)>,
}

/// A cluster of `engine` with its writer; returns the writer's identifier.
async fn create_cluster(
    sdk: &SdkConfig,
    id: &str,
    engine: &str,
    serverless: Option<(f64, f64)>,
) -> String {
    let client = aws_sdk_docdb::Client::new(sdk);
    client
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine(engine)
        .master_username("nightshift")
        .master_user_password("nightshift-test-password")
        .set_serverless_v2_scaling_configuration(serverless.map(|(min, max)| {
            ServerlessV2ScalingConfiguration::builder()
                .min_capacity(min)
                .max_capacity(max)
                .build()
        }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBCluster {id} ({engine}): {e:?}"));
    let writer = format!("{id}-writer");
    client
        .create_db_instance()
        .db_instance_identifier(&writer)
        .db_cluster_identifier(id)
        .engine(engine)
        .db_instance_class(SMALL)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBInstance {writer}: {e:?}"));
    writer
}

/// The night's world: an ECS service (2 tasks), the clusters, a table, the app.
struct World {
    sdk: SdkConfig,
    table: String,
    ecs: (String, String),
    /// (cluster id, its writer, its engine).
    clusters: Vec<(String, String, &'static str)>,
    log: CallLog,
    app: App,
}

impl World {
    async fn new(clusters: &[Cluster]) -> World {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let (ecs_cluster, service) = (unique("batch"), unique("worker"));
        support::create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        let mut made = Vec::new();
        let mut tables = String::new();
        for c in clusters {
            let id = unique(&format!("{}-db", c.table));
            let writer = create_cluster(&sdk, &id, c.engine, c.serverless).await;
            tables.push_str(&format!(
                "  [[scenario.{}]]\n  cluster = \"{id}\"\n  replicas = {}\n  instance_class = \"{SMALL}\"\n  {}\n",
                c.table, c.replicas, c.keys
            ));
            made.push((id, writer, c.engine));
        }
        let text = format!(
            r#"
table = "{table}"
[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 10
{tables}
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"
    [[scenario.scale_down.metric]]
    namespace = "Batch-{ecs_cluster}"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
"#
        );
        let config = config::parse(&text, "rds-family.toml").unwrap_or_else(|e| panic!("{e}"));
        let log = CallLog::new();
        let clients = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            Timeouts::default(),
        );
        let app = App::build(
            Arc::new(config),
            harness::settings(),
            Adapters::new(store, clients),
        );
        World {
            sdk,
            table: table.clone(),
            ecs: (ecs_cluster, service),
            clusters: made,
            log,
            app,
        }
    }

    async fn step(&self, step: &str, id: &str, now: &str) -> Response {
        let force = if step == "scale-down" {
            r#", "force": true"#
        } else {
            ""
        };
        let payload =
            format!(r#"{{"scenario": "{SCENARIO}", "step": "{step}", "id": "{id}"{force}}}"#);
        let r = self
            .app
            .handle(payload.as_bytes(), &invocation(id, now))
            .await
            .unwrap_or_else(|e| panic!("{step} failed: {e}"));
        println!("{step} ({now}): {:?} {}", r.outcome, r.reason);
        for a in &r.actions {
            println!("  {} {} ({}) -> {}", a.call, a.resource, a.detail, a.result);
        }
        r
    }

    /// A cluster's instances: (id, engine, writer?).
    async fn instances(&self, cluster: &str) -> Vec<(String, String, bool)> {
        let client = aws_sdk_docdb::Client::new(&self.sdk);
        let members = client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .expect("DescribeDBClusters");
        let members = members.db_clusters()[0].db_cluster_members().to_vec();
        let out = client
            .describe_db_instances()
            .filters(
                aws_sdk_docdb::types::Filter::builder()
                    .name("db-cluster-id")
                    .values(cluster)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeDBInstances");
        let mut all: Vec<(String, String, bool)> = out
            .db_instances()
            .iter()
            .map(|i| {
                let id = i.db_instance_identifier().unwrap_or_default().to_string();
                let writer = members.iter().any(|m| {
                    m.db_instance_identifier() == Some(id.as_str())
                        && m.is_cluster_writer() == Some(true)
                });
                (id, i.engine().unwrap_or_default().to_string(), writer)
            })
            .collect();
        all.sort();
        all
    }

    async fn register_replica_target(&self, cluster: &str, min: i32, max: i32) {
        aws_sdk_applicationautoscaling::Client::new(&self.sdk)
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Rds)
            .scalable_dimension(ScalableDimension::RdsClusterReadReplicaCount)
            .resource_id(format!("cluster:{cluster}"))
            .min_capacity(min)
            .max_capacity(max)
            .send()
            .await
            .expect("RegisterScalableTarget rds");
    }

    async fn replica_target(&self, cluster: &str) -> Option<(i32, i32)> {
        let out = aws_sdk_applicationautoscaling::Client::new(&self.sdk)
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Rds)
            .resource_ids(format!("cluster:{cluster}"))
            .send()
            .await
            .expect("DescribeScalableTargets rds");
        out.scalable_targets()
            .first()
            .map(|t| (t.min_capacity(), t.max_capacity()))
    }
}

/// Where the first action on a resource whose name contains `part` is, in `actions`.
fn first(actions: &[Action], call: &str, part: &str) -> usize {
    actions
        .iter()
        .position(|a| a.call == call && a.resource.contains(part))
        .unwrap_or_else(|| panic!("no {call} on {part} in {actions:#?}"))
}

fn last(actions: &[Action], call: &str, part: &str) -> usize {
    actions
        .iter()
        .rposition(|a| a.call == call && a.resource.contains(part))
        .unwrap_or_else(|| panic!("no {call} on {part} in {actions:#?}"))
}

#[tokio::test]
async fn an_aurora_night_adds_its_readers_raises_its_replica_target_and_restores_both() {
    let world = World::new(&[Cluster {
        table: "aurora",
        engine: "aurora-postgresql",
        replicas: 2,
        keys: "",
        serverless: None,
    }])
    .await;
    let (db, writer, _) = world.clusters[0].clone();
    world.register_replica_target(&db, 0, 2).await;

    let up = world.step("scale-up", "up", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let live = world.instances(&db).await;
    assert_eq!(live.len(), 3, "{live:?}");
    assert!(
        live.iter()
            .all(|(_, engine, _)| engine == "aurora-postgresql"),
        "{live:?}"
    );
    assert!(live.contains(&(writer.clone(), "aurora-postgresql".into(), true)));
    assert_eq!(world.replica_target(&db).await, Some((2, 2)));
    // The readers first, then the replica target, then the workers.
    let a = &up.actions;
    assert!(last(a, "CreateDBInstance", &db) < first(a, "RegisterScalableTarget", &db));
    assert!(first(a, "RegisterScalableTarget", &db) < first(a, "UpdateService", &world.ecs.1));

    let check = world.step("check", "check", LATER).await;
    assert!(
        matches!(check.outcome, Outcome::Deferred | Outcome::Skipped),
        "{check:?}"
    );

    let down = world.step("scale-down", "down", MORNING).await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let a = &down.actions;
    // Workers first; the replica target back before the readers go.
    assert!(first(a, "UpdateService", &world.ecs.1) < first(a, "RegisterScalableTarget", &db));
    assert!(first(a, "RegisterScalableTarget", &db) < first(a, "DeleteDBInstance", &db));
    assert_eq!(
        world.instances(&db).await,
        [(writer, "aurora-postgresql".to_string(), true)]
    );
    assert_eq!(world.replica_target(&db).await, Some((0, 2)));
}

#[tokio::test]
async fn a_neptune_night_adds_its_readers_and_serverless_minimum_and_restores_both() {
    let world = World::new(&[Cluster {
        table: "neptune",
        engine: "neptune",
        replicas: 1,
        keys: "serverless_min = 8",
        serverless: Some((1.0, 32.0)),
    }])
    .await;
    let (db, writer, _) = world.clusters[0].clone();
    let up = world.step("scale-up", "up", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert!(
        up.actions.iter().any(|a| {
            a.call == "ModifyDBCluster"
            && a.detail
                == "ServerlessV2ScalingConfiguration MinCapacity 1 -> 8 (MaxCapacity 32 unchanged)"
        }),
        "{:?}",
        up.actions
    );
    let live = world.instances(&db).await;
    assert_eq!(live.len(), 2, "{live:?}");
    assert!(live.iter().all(|(_, engine, _)| engine == "neptune"));
    let down = world.step("scale-down", "down", MORNING).await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert_eq!(
        world.instances(&db).await,
        [(writer, "neptune".to_string(), true)]
    );
    // The service has no scalable target, and Neptune's is never touched.
    let calls = world.log.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.operation == "RegisterScalableTarget"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn an_aurora_table_naming_a_documentdb_cluster_is_rejected_before_any_scaling_call() {
    let world = World::new(&[Cluster {
        table: "aurora",
        engine: "docdb",
        replicas: 2,
        keys: "",
        serverless: None,
    }])
    .await;
    let (db, writer, _) = world.clusters[0].clone();
    let up = world.step("scale-up", "up", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Rejected, "{up:?}");
    assert!(
        up.detail.contains(&format!(
            "[[scenario.aurora]] cluster \"{db}\" is not an Aurora cluster: its engine is docdb; move it to [[scenario.docdb]]"
        )),
        "{}",
        up.detail
    );
    assert!(up.actions.is_empty(), "{:?}", up.actions);
    let calls = world.log.calls();
    assert!(!calls.iter().any(|c| c.is_mutating()), "{calls:?}");
    assert_eq!(
        world.instances(&db).await,
        [(writer, "docdb".to_string(), true)]
    );
}

#[tokio::test]
async fn a_night_of_every_database_kind_with_ecs_scales_them_in_order_and_restores_them() {
    let world = World::new(&[
        Cluster {
            table: "docdb",
            engine: "docdb",
            replicas: 1,
            keys: "",
            serverless: None,
        },
        Cluster {
            table: "aurora",
            engine: "aurora-mysql",
            replicas: 2,
            keys: "",
            serverless: None,
        },
        Cluster {
            table: "neptune",
            engine: "neptune",
            replicas: 1,
            keys: "",
            serverless: None,
        },
    ])
    .await;
    let up = world.step("scale-up", "up", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let a = &up.actions;
    let workers = first(a, "UpdateService", &world.ecs.1);
    for (db, _, engine) in &world.clusters {
        assert!(
            last(a, "CreateDBInstance", db) < workers,
            "{engine}: {a:#?}"
        );
        assert_eq!(
            world.instances(db).await.len(),
            if *engine == "aurora-mysql" { 3 } else { 2 }
        );
    }
    let down = world.step("scale-down", "down", MORNING).await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let a = &down.actions;
    let workers = first(a, "UpdateService", &world.ecs.1);
    for (db, writer, engine) in &world.clusters {
        assert!(
            workers < first(a, "DeleteDBInstance", db),
            "{engine}: {a:#?}"
        );
        assert_eq!(
            world.instances(db).await,
            [(writer.clone(), engine.to_string(), true)]
        );
    }
    // The night's history, as ops read it: `show` names every kind's calls, `report` counts the
    // readers of every database kind held above the baseline.
    let base = [
        "--table",
        world.table.as_str(),
        "--now",
        "2026-11-26T00:00:00Z",
    ];
    let show = ok(cli().args(["show", SCENARIO, "2026-11-25"]).args(base));
    println!("nightshift show {SCENARIO} 2026-11-25:\n{show}");
    for (db, _, _) in &world.clusters {
        assert!(
            show.contains(db.as_str()),
            "{db} missing from show:\n{show}"
        );
    }
    let report = ok(cli()
        .args([
            "report",
            "--scenario",
            SCENARIO,
            "--since",
            "7d",
            "--output",
            "json",
        ])
        .args(base));
    let report: serde_json::Value = serde_json::from_str(&report).expect("report JSON");
    assert_eq!(report["nights"][0]["extra_readers"], 4, "{report:#}");
}
