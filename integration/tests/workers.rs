//! The worker kinds end to end: an AWS Batch compute environment and an EC2 Auto Scaling group
//! through whole nights against the emulator (real aws-sdk-batch and aws-sdk-autoscaling
//! clients, moto with the launcher's Batch update patch), beside a DocumentDB cluster and an ECS
//! service: the scale-up, a duplicate, checks, the scale-down back at the baseline; drift left
//! alone; the refusals; the order of the calls within a step.

use crate::harness::{self, invocation};
use crate::support::workers::{self, BatchNetwork, EnvironmentKind};
use crate::support::{self, create_docdb_cluster, create_ecs_service, unique};
use aws_config::SdkConfig;
use nightshift::app::{Adapters, App, Settings};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::history::RunStatus;
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Response};
use std::sync::Arc;

const SCENARIO: &str = "nightly";
/// 22:00 in Tokyo.
const NIGHT: &str = "2026-11-25T13:00:00Z";
const RUN: &str = "2026-11-25";

/// One test's resources: a table, an ECS service, a DocumentDB cluster, a compute environment and
/// an Auto Scaling group, each unique.
struct World {
    sdk: SdkConfig,
    table: String,
    ecs_cluster: String,
    service: String,
    db: String,
    ce: String,
    asg: String,
    config: Arc<Config>,
}

/// The day: environment (minvCpus 0, maxvCpus 256, desiredvCpus 0), group (1, 1, 2).
const CE_DAY: (i32, i32, i32) = (0, 256, 0);
const ASG_DAY: (i32, i32, i32) = (1, 1, 2);

impl World {
    async fn new(kind: EnvironmentKind, min_vcpus: u32) -> World {
        World::build(kind, min_vcpus, None).await
    }

    /// The same world with an Aurora PostgreSQL cluster (its writer only) in `[[scenario.aurora]]`
    /// for 2 readers: every kind of target in one night.
    async fn with_aurora(aurora: &str) -> World {
        World::build(EnvironmentKind::Ec2, 64, Some(aurora)).await
    }

    async fn build(kind: EnvironmentKind, min_vcpus: u32, aurora: Option<&str>) -> World {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = unique("batch");
        let service = unique("worker");
        let db = unique("db");
        let ce = unique("nightly-ce");
        let asg = unique("batch-workers");
        create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        create_docdb_cluster(&sdk, &db).await;
        let network = BatchNetwork::create(&ce);
        workers::create_compute_environment(&sdk, &network, &ce, kind, CE_DAY).await;
        workers::create_auto_scaling_group(&sdk, &asg, ASG_DAY).await;
        let aurora_table = match aurora {
            Some(cluster) => {
                support::create_rds_cluster(&sdk, cluster, "aurora-postgresql").await;
                format!("  [[scenario.aurora]]\n  cluster = \"{cluster}\"\n  replicas = 2\n  instance_class = \"db.r6g.large\"\n")
            }
            None => String::new(),
        };
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

  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 1
  instance_class = "db.r6g.large"
{aurora_table}
  [[scenario.batch]]
  compute_environment = "{ce}"
  min_vcpus = {min_vcpus}
  max_vcpus = 128

  [[scenario.asg]]
  name = "{asg}"
  min = 4
  max = 10

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
        let config = config::parse(&text, "workers-test.toml").unwrap_or_else(|e| panic!("{e}"));
        World {
            sdk,
            table,
            ecs_cluster,
            service,
            db,
            ce,
            asg,
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

    async fn app(&self, log: &CallLog) -> App {
        let clients = ScalingClients::with_call_log(&self.sdk, log, Timeouts::default());
        App::build(
            self.config.clone(),
            Settings {
                dry_run: false,
                ..harness::settings()
            },
            Adapters::new(self.store(), clients),
        )
    }

    /// Every event recorded for the night's run, oldest first.
    async fn events(&self) -> Vec<nightshift::history::EventRecord> {
        self.store()
            .run_events(SCENARIO, RUN, 1000, None)
            .await
            .expect("Query run events")
            .items
    }

    async fn ce_vcpus(&self) -> (i32, i32, Option<i32>) {
        workers::environment_vcpus(&self.sdk, &self.ce).await
    }

    async fn asg_size(&self) -> (i32, i32, i32) {
        workers::group_size(&self.sdk, &self.asg).await.0
    }

    async fn ecs_desired(&self) -> i32 {
        aws_sdk_ecs::Client::new(&self.sdk)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.service)
            .send()
            .await
            .expect("DescribeServices")
            .services()[0]
            .desired_count()
    }

    async fn readers(&self) -> usize {
        aws_sdk_docdb::Client::new(&self.sdk)
            .describe_db_clusters()
            .db_cluster_identifier(&self.db)
            .send()
            .await
            .expect("DescribeDBClusters")
            .db_clusters()[0]
            .db_cluster_members()
            .iter()
            .filter(|m| m.is_cluster_writer() != Some(true))
            .count()
    }
}

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

/// The worker kinds' calls the log saw, by operation: (Batch, Auto Scaling), each in order.
fn worker_calls(log: &CallLog) -> (Vec<String>, Vec<String>) {
    let ops = log.operations();
    let of = |kind: &[&str]| -> Vec<String> {
        ops.iter()
            .filter(|op| kind.contains(&op.as_str()))
            .cloned()
            .collect()
    };
    (
        of(&["DescribeComputeEnvironments", "UpdateComputeEnvironment"]),
        of(&["DescribeAutoScalingGroups", "UpdateAutoScalingGroup"]),
    )
}

/// The mutating calls the log saw, in order.
fn mutating(log: &CallLog) -> Vec<String> {
    log.calls()
        .into_iter()
        .filter(|c| c.is_mutating())
        .map(|c| c.operation)
        .collect()
}

#[tokio::test]
async fn a_whole_night_raises_the_environment_and_the_group_and_restores_both() {
    let w = World::new(EnvironmentKind::Ec2, 64).await;
    let log = CallLog::new();
    let app = w.app(&log).await;

    let up = handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    // Each kind's calls at its floor: one read (the baseline and the plan) and one write.
    let (batch, asg) = worker_calls(&log);
    assert_eq!(
        batch,
        ["DescribeComputeEnvironments", "UpdateComputeEnvironment"]
    );
    assert_eq!(asg, ["DescribeAutoScalingGroups", "UpdateAutoScalingGroup"]);
    assert_eq!(w.ce_vcpus().await, (64, 256, Some(64)));
    assert_eq!(w.asg_size().await, (4, 4, 4));
    // Order within the step: the database reader first, then the workers.
    assert_eq!(
        mutating(&log),
        [
            "CreateDBInstance",
            "UpdateComputeEnvironment",
            "UpdateAutoScalingGroup",
            "UpdateService"
        ]
    );
    let detail: Vec<String> = up
        .actions
        .iter()
        .map(|a| format!("{} {}", a.call, a.detail))
        .collect();
    assert!(
        detail.contains(
            &"UpdateComputeEnvironment minvCpus 0 -> 64, desiredvCpus 0 -> 64".to_string()
        ),
        "{detail:?}"
    );
    assert!(
        detail.contains(
            &"UpdateAutoScalingGroup MinSize 1 -> 4, DesiredCapacity 1 -> 4, MaxSize 2 -> 4"
                .to_string()
        ),
        "{detail:?}"
    );

    // A duplicate delivery: the stored answer, no call.
    log.clear();
    let dup = handle(
        &app,
        &step("scale-up", "up-1"),
        "r2",
        "2026-11-25T13:01:00Z",
    )
    .await;
    assert_eq!(dup.outcome, Outcome::Duplicate);
    assert_eq!(mutating(&log), Vec::<String>::new());

    // Checks: nothing more to call, one read each for readiness.
    let check = handle(&app, &step("check", "c-1"), "r3", "2026-11-25T13:10:00Z").await;
    assert!(
        matches!(check.outcome, Outcome::Deferred | Outcome::Skipped),
        "{check:?}"
    );
    assert_eq!(mutating(&log), Vec::<String>::new());
    let (batch, asg) = worker_calls(&log);
    assert_eq!((batch.len(), asg.len()), (1, 1), "{batch:?} {asg:?}");

    // The morning: workers first, then the database; everything back at the day's values.
    log.clear();
    let down = handle(
        &app,
        &step("scale-down", "down-1"),
        "r4",
        "2026-11-25T20:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let (batch, asg) = worker_calls(&log);
    assert_eq!(
        batch,
        ["DescribeComputeEnvironments", "UpdateComputeEnvironment"]
    );
    assert_eq!(asg, ["DescribeAutoScalingGroups", "UpdateAutoScalingGroup"]);
    assert_eq!(
        mutating(&log),
        [
            "UpdateService",
            "UpdateComputeEnvironment",
            "UpdateAutoScalingGroup",
            "DeleteDBInstance"
        ]
    );
    let (min, max, desired) = w.ce_vcpus().await;
    assert_eq!((min, max), (0, 256), "minvCpus back at the baseline");
    // desiredvCpus is left to Batch (AWS refuses a lower one): the emulator keeps it in bounds.
    assert!(desired.is_some_and(|d| d >= min));
    assert_eq!(w.asg_size().await, ASG_DAY);
    assert_eq!(w.ecs_desired().await, 2);
    assert_eq!(w.readers().await, 0);
    let run = w.store().get_run(SCENARIO, RUN).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Closed);
}

#[tokio::test]
async fn values_changed_during_the_night_are_drift_recorded_and_left_alone() {
    let w = World::new(EnvironmentKind::Ec2, 64).await;
    let log = CallLog::new();
    let app = w.app(&log).await;
    handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    // Someone lowers the environment's minimum; a scaling policy takes the group's desired
    // capacity and MaxSize up.
    workers::set_environment_min(&w.sdk, &w.ce, 16).await;
    workers::set_group_size(&w.sdk, &w.asg, None, Some(7), Some(8)).await;
    // A check does not re-raise what someone set.
    log.clear();
    handle(&app, &step("check", "c-1"), "r2", "2026-11-25T14:00:00Z").await;
    assert_eq!(mutating(&log), Vec::<String>::new());
    assert_eq!(w.ce_vcpus().await.0, 16);

    log.clear();
    let down = handle(
        &app,
        &step("scale-down", "down-1"),
        "r3",
        "2026-11-25T20:00:00Z",
    )
    .await;
    assert_eq!(w.ce_vcpus().await.0, 16, "theirs, left alone");
    // MinSize was still the night's: restored; DesiredCapacity and MaxSize are theirs.
    assert_eq!(w.asg_size().await, (1, 7, 8));
    let text = format!("{down:?}");
    assert!(
        text.contains("minvCpus is 16 but nightshift set 64"),
        "{text}"
    );
    assert!(
        text.contains("DesiredCapacity is 7 but nightshift set 4"),
        "{text}"
    );
    assert!(!mutating(&log)
        .iter()
        .any(|op| op == "UpdateComputeEnvironment"));
}

#[tokio::test]
async fn a_fargate_or_unmanaged_environment_and_a_minimum_above_its_max_are_refused_without_a_call()
{
    for (kind, min_vcpus, why) in [
        (EnvironmentKind::Fargate, 64, "is a FARGATE environment"),
        (EnvironmentKind::Unmanaged, 64, "is UNMANAGED"),
    ] {
        let w = World::new(kind, min_vcpus).await;
        let log = CallLog::new();
        let app = w.app(&log).await;
        let up = handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
        assert!(
            !mutating(&log)
                .iter()
                .any(|op| op == "UpdateComputeEnvironment"),
            "{kind:?}: {:?}",
            mutating(&log)
        );
        // The other kinds are scaled as usual.
        assert!(mutating(&log)
            .iter()
            .any(|op| op == "UpdateAutoScalingGroup"));
        // The refusal is the step's note: in the run's history (`show`, `plan`), with its reason.
        assert_eq!(up.outcome, Outcome::Acted);
        let text = format!("{:?}", w.events().await);
        assert!(text.contains(why), "{kind:?}: {text}");
    }
    // A night's minimum above the environment's maxvCpus: refused with the fix, no call.
    let w = World::new(EnvironmentKind::Ec2, 64).await;
    aws_sdk_batch::Client::new(&w.sdk)
        .update_compute_environment()
        .compute_environment(&w.ce)
        .compute_resources(
            aws_sdk_batch::types::ComputeResourceUpdate::builder()
                .maxv_cpus(32)
                .build(),
        )
        .send()
        .await
        .expect("UpdateComputeEnvironment maxvCpus");
    let log = CallLog::new();
    let app = w.app(&log).await;
    handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    assert!(!mutating(&log)
        .iter()
        .any(|op| op == "UpdateComputeEnvironment"));
    let text = format!("{:?}", w.events().await);
    assert!(
        text.contains("min_vcpus 64 is above its maxvCpus 32")
            && text.contains("raise the environment's maxvCpus to at least 64"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_environment_or_group_is_rejected_with_the_fix_and_nothing_is_called() {
    let w = World::new(EnvironmentKind::Ec2, 64).await;
    let mut config = (*w.config).clone();
    config.scenarios[0].asg[0].name = unique("no-such-group");
    let log = CallLog::new();
    let clients = ScalingClients::with_call_log(&w.sdk, &log, Timeouts::default());
    let app = App::build(
        Arc::new(config),
        harness::settings(),
        Adapters::new(w.store(), clients),
    );
    let up = handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Rejected, "{up:?}");
    assert!(up.reason.contains("Auto Scaling group"), "{}", up.reason);
    assert_eq!(mutating(&log), Vec::<String>::new());
}

/// The whole nightly stack in one night: an Aurora cluster's readers and a DocumentDB cluster's
/// first, then the Batch environment, the Auto Scaling group and the ECS service; in the morning
/// the workers first and the databases last; every kind back at its day values; and `nightshift
/// show` tells the night kind by kind (printed: `--nocapture` shows it).
#[tokio::test]
async fn a_night_of_every_kind_restores_each_and_show_tells_it_kind_by_kind() {
    let aurora = unique("reports-db");
    let w = World::with_aurora(&aurora).await;
    let log = CallLog::new();
    let app = w.app(&log).await;
    let rds_readers = || async {
        aws_sdk_docdb::Client::new(&w.sdk)
            .describe_db_clusters()
            .db_cluster_identifier(&aurora)
            .send()
            .await
            .expect("DescribeDBClusters")
            .db_clusters()[0]
            .db_cluster_members()
            .iter()
            .filter(|m| m.is_cluster_writer() != Some(true))
            .count()
    };

    let up = handle(&app, &step("scale-up", "up-1"), "r1", NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(
        mutating(&log),
        [
            "CreateDBInstance",
            "CreateDBInstance",
            "CreateDBInstance",
            "UpdateComputeEnvironment",
            "UpdateAutoScalingGroup",
            "UpdateService"
        ]
    );
    assert_eq!((rds_readers().await, w.readers().await), (2, 1));
    assert_eq!(w.ce_vcpus().await, (64, 256, Some(64)));
    assert_eq!(w.asg_size().await, (4, 4, 4));
    assert_eq!(w.ecs_desired().await, 6);

    log.clear();
    let check = handle(&app, &step("check", "c-1"), "r2", "2026-11-25T13:10:00Z").await;
    assert!(
        matches!(check.outcome, Outcome::Deferred | Outcome::Skipped),
        "{check:?}"
    );
    assert_eq!(mutating(&log), Vec::<String>::new());

    log.clear();
    let down = handle(
        &app,
        &step("scale-down", "down-1"),
        "r3",
        "2026-11-25T20:00:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert_eq!(
        mutating(&log),
        [
            "UpdateService",
            "UpdateComputeEnvironment",
            "UpdateAutoScalingGroup",
            "DeleteDBInstance",
            "DeleteDBInstance",
            "DeleteDBInstance"
        ]
    );
    assert_eq!((rds_readers().await, w.readers().await), (0, 0));
    assert_eq!(w.ce_vcpus().await.0, 0);
    assert_eq!(w.asg_size().await, ASG_DAY);
    assert_eq!(w.ecs_desired().await, 2);
    let run = w.store().get_run(SCENARIO, RUN).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Closed);

    let out = harness::cli()
        .args(["show", SCENARIO, RUN, "--table", &w.table])
        .output()
        .expect("nightshift show");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("$ nightshift show {SCENARIO} {RUN}\n{text}");
    for name in [&aurora, &w.db, &w.ce, &w.asg, &w.service] {
        assert!(
            text.contains(name.as_str()),
            "{name} missing from show:\n{text}"
        );
    }
    for call in [
        "CreateDBInstance",
        "DeleteDBInstance",
        "UpdateComputeEnvironment",
        "UpdateAutoScalingGroup",
        "UpdateService",
    ] {
        assert!(text.contains(call), "{call} missing from show:\n{text}");
    }
}
