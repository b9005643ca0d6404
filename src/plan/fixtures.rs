//! Test builders for the planner's unit tests: a scenario from TOML, and snapshots.

use super::*;
use crate::config::{self, Scenario};

pub const RUN: &str = "2026-11-25";
pub const SCENARIO: &str = "nightly";

pub fn ts() -> jiff::Timestamp {
    "2026-11-25T13:00:00Z".parse().unwrap()
}

/// One ECS service `batch/worker` and one DocumentDB cluster `db`.
pub fn scenario(desired: u32, max: u32, replicas: u8, resize: Option<&str>) -> Scenario {
    let resize = resize.map_or(String::new(), |r| format!("resize = \"{r}\"\n"));
    let text = format!(
        r#"
[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
[[scenario.ecs]]
cluster = "batch"
service = "worker"
desired = {desired}
max = {max}
[[scenario.docdb]]
cluster = "db"
replicas = {replicas}
instance_class = "db.r6g.large"
{resize}
[scenario.scale_down]
quiet_for = "15m"
deadline = "07:30"
min_hold = "30m"
missing_data = "busy"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "JobsRunning"
stat = "Maximum"
period = "1m"
below = 1
"#
    );
    config::parse(&text, "test.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .scenarios
        .remove(0)
}

/// The test scenario with extra keys on its `[[scenario.docdb]]` (`serverless_min = 16`, ...).
pub fn scenario_with_docdb(replicas: u8, docdb_keys: &str) -> Scenario {
    let base = scenario(10, 20, replicas, None);
    let text = format!(
        r#"
[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
[[scenario.docdb]]
cluster = "db"
replicas = {replicas}
instance_class = "db.r6g.large"
{docdb_keys}
[scenario.scale_down]
quiet_for = "15m"
deadline = "07:30"
min_hold = "30m"
missing_data = "busy"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "JobsRunning"
stat = "Maximum"
period = "1m"
below = 1
"#
    );
    let mut s = config::parse(&text, "test.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .scenarios
        .remove(0);
    s.ecs = base.ecs;
    s
}

/// A snapshot whose cluster `db` runs over `zones` (writer in the first) with `serverless`.
pub fn zoned_snapshot(zones: &[&str], serverless: Option<(f64, f64)>) -> Snapshot {
    let mut snap = snapshot_with(10, None, &[]);
    let c = &mut snap.clusters[0];
    c.zones = zones.iter().map(|z| z.to_string()).collect();
    c.instances[0].zone = zones.first().map(|z| z.to_string());
    c.serverless = serverless.map(|(min, max)| ServerlessScaling {
        min: crate::config::Dcu::nearest(min),
        max: crate::config::Dcu::nearest(max),
    });
    snap
}

pub fn instance(id: &str, writer: bool, class: &str) -> InstanceState {
    InstanceState {
        id: id.into(),
        writer,
        class: class.into(),
        pending_class: None,
        status: "available".into(),
        promotion_tier: Some(1),
        tags: BTreeMap::new(),
        zone: None,
    }
}

/// An instance nightshift created for `run` of the test scenario.
pub fn managed(id: &str, writer: bool, class: &str, run: &str) -> InstanceState {
    let mut i = instance(id, writer, class);
    i.promotion_tier = Some(ADDED_READER_PROMOTION_TIER);
    i.tags = BTreeMap::from([
        (TAG_SCENARIO.to_string(), SCENARIO.to_string()),
        (TAG_RUN.to_string(), run.to_string()),
    ]);
    i
}

pub fn service(desired: i32, scalable_target: Option<Capacity>) -> ServiceState {
    ServiceState {
        cluster: "batch".into(),
        service: "worker".into(),
        status: "ACTIVE".into(),
        desired,
        running: desired,
        pending: 0,
        scalable_target,
        task: None,
    }
}

/// `batch/worker` at `desired`, and cluster `db` with writer `db-w` (db.r6g.large) plus
/// `readers`.
pub fn snapshot_with(
    desired: i32,
    scalable_target: Option<Capacity>,
    readers: &[InstanceState],
) -> Snapshot {
    let mut instances = vec![instance("db-w", false, "db.r6g.large")];
    instances[0].writer = true;
    instances.extend(readers.iter().cloned());
    Snapshot {
        services: vec![service(desired, scalable_target)],
        clusters: vec![ClusterState {
            cluster: "db".into(),
            status: "available".into(),
            instances,
            zones: Vec::new(),
            serverless: None,
        }],
    }
}

pub fn reader_id(n: u32) -> String {
    reader_identifier("db", SCENARIO, n)
}
