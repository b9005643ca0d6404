//! nightshift against AWS at its real speed: the emulator's lifecycle mode
//! (integration/emulator/lifecycle.py: instances that take minutes, clusters that refuse changes
//! meanwhile), its virtual clock set to each step's rehearsal `now`, through the real SDK clients.
//! The whole nights are the reliability suite's part 6 (integration/reliability/slow.py); these
//! pin what those nights found.

use crate::harness::{self, invocation};
use crate::support::{self, scene::Scene};
use nightshift::app::{Adapters, App, HandleError};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config;
use nightshift::{Outcome, Response};
use serde_json::json;
use std::sync::Arc;

/// 23:00 in Tokyo, the contract's scale-up.
const NIGHT: &str = "2026-12-07T14:00:00Z";

struct SlowWorld {
    scene: Scene,
    app: App,
}

impl SlowWorld {
    /// The contract's world, registered with the lifecycle mode (fixed durations: instances
    /// create in 10 minutes, tasks start in 2) plus `extra` (a backup window, a quota).
    async fn new(extra: serde_json::Value) -> SlowWorld {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let scene = Scene::unique(&table);
        scene.create(&sdk).await;
        let config = config::parse(&scene.config(None), "lifecycle.toml").expect("config parses");
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &table,
            Timeouts::default(),
        );
        let scaling = ScalingClients::from_sdk_config(&sdk, Timeouts::default());
        let app = App::build(
            Arc::new(config),
            harness::settings(),
            Adapters::new(store, scaling),
        );
        let mut world = json!({
            "world": scene.docdb_cluster,
            "now": "2026-12-07T13:30:00Z",
            "docdb": [scene.docdb_cluster],
            "ecs": [[scene.ecs_cluster, scene.ecs_service]],
            "timings": {"create": 10, "delete": 5, "task_start": 2, "task_stop": 0.5},
        });
        if let (Some(w), Some(extra)) = (world.as_object_mut(), extra.as_object()) {
            w.extend(extra.clone());
        }
        support::emulator_api("/nightshift-api/lifecycle", &world);
        SlowWorld { scene, app }
    }

    /// The scheduled `step` at `minutes` past 23:00 local, the world's clock moved there first.
    async fn step(&self, step: &str, minutes: i64) -> Result<Response, HandleError> {
        let now = NIGHT.parse::<jiff::Timestamp>().expect("time")
            + jiff::SignedDuration::from_mins(minutes);
        support::emulator_api(
            "/nightshift-api/clock",
            &json!({"world": self.scene.docdb_cluster, "now": now.to_string()}),
        );
        let payload = json!({"scenario": self.scene.scenario, "step": step, "scheduled_time": now.to_string(), "now": now.to_string()});
        let wall = jiff::Timestamp::now().to_string();
        self.app
            .handle(
                payload.to_string().as_bytes(),
                &invocation(&format!("{step}-{now}"), &wall),
            )
            .await
    }

    async fn readers(&self) -> usize {
        self.scene
            .state(&support::sdk_config().await)
            .await
            .readers()
    }
}

fn creates(r: &Response) -> usize {
    r.actions
        .iter()
        .filter(|a| a.call == "CreateDBInstance")
        .count()
}

#[tokio::test]
async fn a_check_continues_a_scale_up_that_aws_refused_while_the_cluster_was_backing_up() {
    // The cluster backs up 22:50-23:20 local: the scale-up's readers are refused.
    let night = SlowWorld::new(json!({"backup_window": "13:50-14:20"})).await;
    let refused = night
        .step("scale-up", 0)
        .await
        .expect_err("a refused scale-up fails, so that Lambda retries it");
    assert!(
        refused.to_string().contains("InvalidDBClusterStateFault"),
        "{refused}"
    );
    assert_eq!(night.readers().await, 0);
    // Lambda's two retries (1 and 3 minutes later) meet the same refusal, and the event is dropped.
    for retry in [1, 3] {
        assert!(night.step("scale-up", retry).await.is_err());
    }

    // A check while the cluster still backs up tries again and says why it has no capacity.
    let during = night.step("check", 10).await.expect("the check answers");
    assert_eq!(during.outcome, Outcome::Deferred, "{}", during.reason);
    assert!(
        during.reason.contains("InvalidDBClusterStateFault"),
        "{}",
        during.reason
    );
    assert!(!during.reason.starts_with("ready"), "{}", during.reason);

    // Once the backup is over, the next check adds the readers the scale-up could not.
    let after = night.step("check", 20).await.expect("the check answers");
    assert_eq!(creates(&after), 3, "{}: {:?}", after.reason, after.actions);
    assert_eq!(night.readers().await, 3);
    assert!(after.reason.starts_with("not ready"), "{}", after.reason);
    let ready = night.step("check", 30).await.expect("the check answers");
    assert!(ready.reason.starts_with("ready"), "{}", ready.reason);
    assert_eq!(creates(&ready), 0);
}

#[tokio::test]
async fn a_check_after_a_converged_scale_up_adds_no_reader() {
    let night = SlowWorld::new(json!({})).await;
    let up = night
        .step("scale-up", 0)
        .await
        .expect("the scale-up answers");
    assert_eq!(
        (up.outcome, creates(&up)),
        (Outcome::Acted, 3),
        "{}",
        up.reason
    );
    night.step("check", 10).await.expect("the check answers");
    // Someone removes one of the night's readers on purpose: the checks leave it removed.
    let gone = night
        .scene
        .state(&support::sdk_config().await)
        .await
        .docdb_members;
    let reader = gone
        .iter()
        .find(|(_, writer)| !writer)
        .expect("a reader")
        .0
        .clone();
    aws_sdk_docdb::Client::new(&support::sdk_config().await)
        .delete_db_instance()
        .db_instance_identifier(&reader)
        .send()
        .await
        .expect("DeleteDBInstance by hand");
    for minutes in [20, 30] {
        let check = night
            .step("check", minutes)
            .await
            .expect("the check answers");
        assert_eq!(creates(&check), 0, "{}", check.reason);
    }
}
