//! DocumentDB breadth against the emulator: Serverless capacity (`serverless_min`), capacity
//! fallback (`fallback_classes`, InsufficientDBInstanceCapacity injected by the launcher's
//! capacity-fault rules) and readers spread over the cluster's availability zones.
//!
//! Each test has its own table and cluster; the live state is read back with plain SDK calls.

use crate::harness::{self, invocation};
use crate::support::{self, unique};
use aws_config::SdkConfig;
use aws_sdk_docdb::types::ServerlessV2ScalingConfiguration;
use nightshift::app::{Adapters, App, Settings};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config;
use nightshift::plan::{TAG_RUN, TAG_SCENARIO};
use nightshift::{Outcome, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

const SCENARIO: &str = "nightly";
const NIGHT: &str = "2026-11-25T13:00:00Z";
const LATER: &str = "2026-11-25T13:10:00Z";
const MORNING: &str = "2026-11-25T22:00:00Z";
const SMALL: &str = "db.r6g.large";
const XL: &str = "db.r6g.xlarge";

/// A cluster of its own, its table, and the app on them.
struct Db {
    sdk: SdkConfig,
    db: String,
    writer: String,
    app: App,
}

/// How the test cluster is created.
#[derive(Default)]
struct Cluster {
    /// ServerlessV2ScalingConfiguration (min, max).
    serverless: Option<(f64, f64)>,
}

impl Db {
    /// A cluster (writer in us-east-1a of the emulator's three zones) and a docdb-only scenario
    /// with `keys` in its `[[scenario.docdb]]`.
    async fn new(cluster: Cluster, replicas: u8, keys: &str) -> Db {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let db = unique("brd");
        let client = aws_sdk_docdb::Client::new(&sdk);
        client
            .create_db_cluster()
            .db_cluster_identifier(&db)
            .engine("docdb")
            .master_username("nightshift")
            .master_user_password("nightshift-test-password")
            .set_serverless_v2_scaling_configuration(cluster.serverless.map(|(min, max)| {
                ServerlessV2ScalingConfiguration::builder()
                    .min_capacity(min)
                    .max_capacity(max)
                    .build()
            }))
            .send()
            .await
            .expect("CreateDBCluster");
        let writer = format!("{db}-writer");
        client
            .create_db_instance()
            .db_instance_identifier(&writer)
            .db_cluster_identifier(&db)
            .engine("docdb")
            .db_instance_class(if cluster.serverless.is_some() {
                "db.serverless"
            } else {
                SMALL
            })
            .availability_zone("us-east-1a")
            .send()
            .await
            .expect("CreateDBInstance writer");
        let text = format!(
            r#"
table = "{table}"
[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = {replicas}
  instance_class = "{SMALL}"
  {keys}
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
"#
        );
        let config = config::parse(&text, "breadth.toml").unwrap_or_else(|e| panic!("{e}"));
        let log = CallLog::new();
        let clients = ScalingClients::with_call_log(&sdk, &log, Timeouts::default());
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            Timeouts::default(),
        );
        let settings = Settings {
            ..harness::settings()
        };
        let app = App::build(Arc::new(config), settings, Adapters::new(store, clients));
        Db {
            sdk,
            db,
            writer,
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
        self.app
            .handle(payload.as_bytes(), &invocation(id, now))
            .await
            .unwrap_or_else(|e| panic!("{step} failed: {e}"))
    }

    fn client(&self) -> aws_sdk_docdb::Client {
        aws_sdk_docdb::Client::new(&self.sdk)
    }

    /// (MinCapacity, MaxCapacity) as DescribeDBClusters says.
    async fn capacity(&self) -> Option<(f64, f64)> {
        let out = self
            .client()
            .describe_db_clusters()
            .db_cluster_identifier(&self.db)
            .send()
            .await
            .expect("DescribeDBClusters");
        let c = out.db_clusters()[0].serverless_v2_scaling_configuration()?;
        Some((c.min_capacity()?, c.max_capacity()?))
    }

    async fn set_min(&self, min: f64, max: f64) {
        self.client()
            .modify_db_cluster()
            .db_cluster_identifier(&self.db)
            .serverless_v2_scaling_configuration(
                ServerlessV2ScalingConfiguration::builder()
                    .min_capacity(min)
                    .max_capacity(max)
                    .build(),
            )
            .apply_immediately(true)
            .send()
            .await
            .expect("ModifyDBCluster");
    }

    /// Every instance: (id, class, zone, tagged for this scenario).
    async fn instances(&self) -> Vec<(String, String, String, bool)> {
        let out = self
            .client()
            .describe_db_instances()
            .filters(
                aws_sdk_docdb::types::Filter::builder()
                    .name("db-cluster-id")
                    .values(&self.db)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeDBInstances");
        let mut all = Vec::new();
        for i in out.db_instances() {
            let tags: BTreeMap<String, String> = self
                .client()
                .list_tags_for_resource()
                .resource_name(i.db_instance_arn().unwrap_or_default())
                .send()
                .await
                .expect("ListTagsForResource")
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            all.push((
                i.db_instance_identifier().unwrap_or_default().to_string(),
                i.db_instance_class().unwrap_or_default().to_string(),
                i.availability_zone().unwrap_or_default().to_string(),
                tags.get(TAG_SCENARIO).map(String::as_str) == Some(SCENARIO)
                    && tags.contains_key(TAG_RUN),
            ));
        }
        all.sort();
        all
    }

    /// Instances per zone: "us-east-1a 2, us-east-1b 2, us-east-1c 2".
    async fn spread(&self) -> String {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, _, zone, _) in self.instances().await {
            *counts.entry(zone).or_insert(0) += 1;
        }
        counts
            .iter()
            .map(|(z, n)| format!("{z} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The launcher's capacity-fault rules for this cluster: (class, zone or every zone).
    fn refuse(&self, rules: &[(&str, Option<&str>)]) {
        let rules: Vec<serde_json::Value> = rules
            .iter()
            .map(|(class, zone)| match zone {
                Some(z) => serde_json::json!({"class": class, "zone": z}),
                None => serde_json::json!({"class": class}),
            })
            .collect();
        support::emulator_api(
            "/nightshift-api/capacity-faults",
            &serde_json::json!({"cluster": self.db, "rules": rules}),
        );
    }
}

fn creates(r: &Response) -> Vec<String> {
    r.actions
        .iter()
        .filter(|a| a.call == "CreateDBInstance")
        .map(|a| format!("{} [{}] {}", a.resource, a.detail, a.result))
        .collect()
}

fn print_actions(label: &str, r: &Response) {
    println!("{label}: {:?} {}", r.outcome, r.reason);
    for a in &r.actions {
        println!("  {} {} ({}) -> {}", a.call, a.resource, a.detail, a.result);
    }
}

// ---------------------------------------------------------------------------------------------
// Serverless
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_serverless_night_raises_min_capacity_and_restores_it_never_touching_max() {
    let db = Db::new(
        Cluster {
            serverless: Some((2.0, 64.0)),
        },
        1,
        "serverless_min = 16",
    )
    .await;
    let before = db.capacity().await;
    let up = db.step("scale-up", "up", NIGHT).await;
    print_actions("scale-up", &up);
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let during = db.capacity().await;
    let modify: Vec<_> = up
        .actions
        .iter()
        .filter(|a| a.call == "ModifyDBCluster")
        .collect();
    assert_eq!(modify.len(), 1, "{:?}", up.actions);
    assert_eq!(
        modify[0].detail,
        "ServerlessV2ScalingConfiguration MinCapacity 2 -> 16 (MaxCapacity 64 unchanged)"
    );
    // The reader added to a serverless cluster is db.serverless.
    let readers: Vec<_> = db
        .instances()
        .await
        .into_iter()
        .filter(|i| i.0 != db.writer)
        .collect();
    assert_eq!(readers.len(), 1);
    assert_eq!(readers[0].1, "db.serverless");

    let down = db.step("scale-down", "down", MORNING).await;
    print_actions("scale-down", &down);
    let after = db.capacity().await;
    println!("serverless night: MinCapacity before {before:?}, during {during:?}, after {after:?} (min, max)");
    assert_eq!(before, Some((2.0, 64.0)));
    assert_eq!(during, Some((16.0, 64.0)));
    assert_eq!(after, Some((2.0, 64.0)));
    assert!(
        down.reason.contains("back at baseline") && down.reason.contains("run closed"),
        "{down:?}"
    );
}

#[tokio::test]
async fn serverless_min_refusals_change_nothing_and_say_why() {
    for (serverless, why) in [
        (None, "has no ServerlessV2ScalingConfiguration"),
        (
            Some((2.0, 8.0)),
            "above the cluster's MaxCapacity 8 and cannot be met",
        ),
        (
            Some((0.5, 64.0)),
            "crosses 1.0 DCU, which would restart the cluster's instances",
        ),
    ] {
        let db = Db::new(Cluster { serverless }, 0, "serverless_min = 16").await;
        let up = db.step("scale-up", "up", NIGHT).await;
        println!("refused ({serverless:?}): {}", up.detail);
        assert!(up.actions.is_empty(), "{:?}", up.actions);
        assert!(up.detail.contains(why), "{why}: {up:?}");
        assert_eq!(db.capacity().await, serverless);
        let down = db.step("scale-down", "down", MORNING).await;
        assert!(down.actions.is_empty(), "{:?}", down.actions);
        assert_eq!(db.capacity().await, serverless);
    }
}

#[tokio::test]
async fn min_capacity_changed_during_the_night_is_left_alone_and_recorded_as_drift() {
    let db = Db::new(
        Cluster {
            serverless: Some((2.0, 64.0)),
        },
        0,
        "serverless_min = 16",
    )
    .await;
    db.step("scale-up", "up", NIGHT).await;
    assert_eq!(db.capacity().await, Some((16.0, 64.0)));
    db.set_min(24.0, 64.0).await;
    let down = db.step("scale-down", "down", MORNING).await;
    assert!(down.actions.is_empty(), "{:?}", down.actions);
    assert!(
        down.detail
            .contains("MinCapacity is 24 but nightshift set 16: changed during the night, left as it is (baseline 2)"),
        "{down:?}"
    );
    assert!(down.reason.contains("restored except drift"), "{down:?}");
    assert_eq!(db.capacity().await, Some((24.0, 64.0)));
}

// ---------------------------------------------------------------------------------------------
// Capacity fallback
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_class_falls_back_to_the_next_class_and_zone_within_the_step() {
    let db = Db::new(
        Cluster::default(),
        2,
        &format!("fallback_classes = [\"{XL}\"]"),
    )
    .await;
    // The night's class has no capacity anywhere; the fallback class none in us-east-1b.
    db.refuse(&[(SMALL, None), (XL, Some("us-east-1b"))]);
    let up = db.step("scale-up", "up", NIGHT).await;
    print_actions("fallback scale-up", &up);
    let tried = creates(&up);
    println!("classes tried: {tried:#?}");
    let failed: Vec<_> = tried
        .iter()
        .filter(|t| t.contains("] error: InsufficientDBInstanceCapacity"))
        .collect();
    let ok: Vec<_> = tried.iter().filter(|t| t.ends_with(" ok")).collect();
    assert_eq!(ok.len(), 2, "{tried:#?}");
    assert!(
        failed.len() >= 2,
        "every refused attempt is an action: {tried:#?}"
    );
    assert!(
        tried[0].contains(&format!("class {SMALL}, zone us-east-1b"))
            && tried[0].contains("InsufficientDBInstanceCapacity"),
        "{tried:#?}"
    );
    assert!(
        tried[1].contains(&format!("class {XL}, zone us-east-1b"))
            && tried[1].contains("InsufficientDBInstanceCapacity"),
        "{tried:#?}"
    );
    assert!(
        tried[2].contains(&format!("class {XL}, zone us-east-1c")) && tried[2].ends_with(" ok"),
        "{tried:#?}"
    );
    let readers: Vec<_> = db.instances().await.into_iter().filter(|i| i.3).collect();
    assert_eq!(readers.len(), 2);
    assert!(
        readers.iter().all(|r| r.1 == XL && r.2 != "us-east-1b"),
        "{readers:?}"
    );

    // Safety holds with the fallback: scale-down removes the two readers, never the writer.
    db.refuse(&[]);
    let down = db.step("scale-down", "down", MORNING).await;
    assert!(down.reason.contains("back at baseline"), "{down:?}");
    let left = db.instances().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, db.writer);
}

#[tokio::test]
async fn when_every_class_and_zone_is_refused_the_night_goes_on_and_a_later_check_tries_again() {
    let db = Db::new(
        Cluster::default(),
        2,
        &format!("fallback_classes = [\"{XL}\"]"),
    )
    .await;
    // An instance that is not nightshift's: never deleted, fallback or not.
    db.client()
        .create_db_instance()
        .db_instance_identifier(format!("{}-own", db.db))
        .db_cluster_identifier(&db.db)
        .engine("docdb")
        .db_instance_class(SMALL)
        .availability_zone("us-east-1c")
        .send()
        .await
        .expect("CreateDBInstance own reader");
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    db.refuse(&[
        (SMALL, Some(zones[0])),
        (SMALL, Some(zones[1])),
        (SMALL, Some(zones[2])),
        (XL, None),
    ]);
    let up = db.step("scale-up", "up", NIGHT).await;
    print_actions("all refused", &up);
    println!("detail: {}", up.detail);
    let tried = creates(&up);
    assert_eq!(tried.len(), 4, "3 zones of {SMALL}, then {XL}: {tried:#?}");
    assert!(tried
        .iter()
        .all(|t| t.contains("InsufficientDBInstanceCapacity")));
    for zone in zones {
        assert!(up.detail.contains(zone), "{zone}: {}", up.detail);
    }
    assert!(
        up.detail
            .contains("InsufficientDBInstanceCapacity for every class and zone tried")
            && up.detail.contains(&format!("{XL} in every zone"))
            && up.detail.contains("the next check tries again"),
        "{}",
        up.detail
    );
    assert_eq!(db.instances().await.iter().filter(|i| i.3).count(), 0);
    // The run is open: the night goes on with what it has.
    assert_eq!(up.run.as_deref(), Some("2026-11-25"));

    // Capacity is back: the next check creates the missing reader.
    db.refuse(&[]);
    let check = db.step("check", "check-1", LATER).await;
    print_actions("later check", &check);
    let ours: Vec<_> = db.instances().await.into_iter().filter(|i| i.3).collect();
    assert_eq!(ours.len(), 1, "{check:?}");
    assert_eq!(ours[0].1, SMALL);

    // Scale-down deletes only that reader: the writer and the cluster's own reader stay.
    let down = db.step("scale-down", "down", MORNING).await;
    assert!(down.reason.contains("run closed"), "{down:?}");
    let left: Vec<String> = db.instances().await.into_iter().map(|i| i.0).collect();
    assert_eq!(left, [format!("{}-own", db.db), db.writer.clone()]);
}

// ---------------------------------------------------------------------------------------------
// Zones
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn readers_are_spread_over_the_clusters_zones_and_removed_evenly() {
    for (replicas, expected) in [
        (3, "us-east-1a 1, us-east-1b 2, us-east-1c 1"),
        (5, "us-east-1a 2, us-east-1b 2, us-east-1c 2"),
    ] {
        let db = Db::new(Cluster::default(), replicas, "").await;
        let up = db.step("scale-up", "up", NIGHT).await;
        assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
        let spread = db.spread().await;
        println!(
            "{replicas} readers over 3 zones (writer in us-east-1a): {spread}; creates: {:#?}",
            creates(&up)
        );
        assert_eq!(spread, expected);
        let down = db.step("scale-down", "down", MORNING).await;
        assert!(down.reason.contains("back at baseline"), "{down:?}");
        assert_eq!(db.spread().await, "us-east-1a 1");
    }
}
