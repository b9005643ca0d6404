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
    let resize = resize.map_or(String::new(), |r| format!("resize = \"{r}\""));
    scenario_in("docdb", desired, max, replicas, &resize)
}

/// The ECS service `batch/worker` and the cluster `db` in `[[scenario.<table>]]` (`docdb`,
/// `aurora`, `neptune`), with `keys` on it.
pub fn scenario_in(table: &str, desired: u32, max: u32, replicas: u8, keys: &str) -> Scenario {
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
[[scenario.{table}]]
cluster = "db"
replicas = {replicas}
instance_class = "db.r6g.large"
{keys}
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
            engine: "docdb".into(),
            replica_target: None,
            status: "available".into(),
            instances,
            zones: Vec::new(),
            serverless: None,
        }],
        ..Snapshot::default()
    }
}

pub fn reader_id(n: u32) -> String {
    reader_identifier("db", SCENARIO, n)
}

// --- worker kinds ---

/// The test scenario with a Batch compute environment `ce` (min_vcpus, optional max_vcpus) and
/// an Auto Scaling group `workers` (min, max), beside `batch/worker` and `db`.
pub fn scenario_with_workers(
    min_vcpus: u32,
    max_vcpus: Option<u32>,
    min: u32,
    max: u32,
) -> Scenario {
    let max_vcpus = max_vcpus.map_or(String::new(), |m| format!("max_vcpus = {m}\n"));
    let text = format!(
        r#"
[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
[[scenario.batch]]
compute_environment = "ce"
min_vcpus = {min_vcpus}
{max_vcpus}
[[scenario.asg]]
name = "workers"
min = {min}
max = {max}
[scenario.scale_down]
quiet_for = "15m"
deadline = "07:30"
min_hold = "30m"
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
    let base = scenario(10, 20, 1, None);
    s.ecs = base.ecs;
    s.docdb = base.docdb;
    s
}

/// A managed EC2 environment `ce`, VALID and ENABLED.
pub fn environment(min: i32, max: i32, desired: i32) -> EnvironmentState {
    EnvironmentState {
        name: "ce".into(),
        arn: "arn:aws:batch:us-east-1:123456789012:compute-environment/ce".into(),
        kind: "MANAGED".into(),
        resources: Some("EC2".into()),
        state: "ENABLED".into(),
        status: "VALID".into(),
        status_reason: None,
        orchestration: "ECS".into(),
        min,
        max,
        desired: Some(desired),
    }
}

/// The group `workers` with `in_service` instances, nothing protected or suspended.
pub fn group(min: i32, desired: i32, max: i32, in_service: i32) -> GroupState {
    GroupState {
        name: "workers".into(),
        size: GroupSize { min, max, desired },
        in_service,
        protected: 0,
        protects_new: false,
        warm_pool: None,
        suspended: Vec::new(),
        status: None,
    }
}

/// `snapshot_with(...)` plus the environment and the group.
pub fn snapshot_with_workers(env: EnvironmentState, group: GroupState) -> Snapshot {
    Snapshot {
        environments: vec![env],
        groups: vec![group],
        ..snapshot_with(10, None, &[])
    }
}
