//! The world a night plays in, on the local emulator: a DocumentDB cluster with its writer, an ECS
//! service with an Application Auto Scaling target, the batch metric in CloudWatch, the config
//! that names them, and the events of the night.
//!
//! Shared by `integration/tests/lambda.rs` (unique names, many tests on one emulator), the demo
//! (`integration/runtime/night.rs`, the contract's own names on an emulator of its own) and the
//! benchmarks.

use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

/// The contract config of docs/contract.md; [`Scene::config`] renames its resources.
pub const CONTRACT_CONFIG: &str = include_str!("../../fixtures/config/contract.toml");

/// The desired count of the ECS service by day (the baseline nightshift must restore).
pub const BASELINE_DESIRED: i32 = 2;
/// The scalable target's day-time capacity.
pub const BASELINE_MIN: i32 = 2;
pub const BASELINE_MAX: i32 = 4;

/// Names of everything one night touches.
#[derive(Debug, Clone)]
pub struct Scene {
    pub scenario: String,
    pub ecs_cluster: String,
    pub ecs_service: String,
    pub docdb_cluster: String,
    /// The value of the metric's `Job` dimension.
    pub job: String,
    pub table: String,
    /// The config table of its database cluster: `docdb` (the contract's), `aurora` (an Aurora
    /// PostgreSQL cluster) or `neptune`; the cluster is created with that engine.
    pub db_table: &'static str,
}

/// What the AWS side looks like at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// DocumentDB instances (identifier, writer?) of the cluster.
    pub docdb_members: Vec<(String, bool)>,
    pub ecs_desired: i32,
    /// The scalable target's (MinCapacity, MaxCapacity).
    pub scalable: Option<(i32, i32)>,
}

impl State {
    pub fn readers(&self) -> usize {
        self.docdb_members.iter().filter(|(_, w)| !w).count()
    }

    /// The day-time shape the night starts from and must end at.
    pub fn is_baseline(&self) -> bool {
        self.readers() == 0
            && self.ecs_desired == BASELINE_DESIRED
            && self.scalable == Some((BASELINE_MIN, BASELINE_MAX))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<String> = self
            .docdb_members
            .iter()
            .map(|(id, writer)| format!("{id}{}", if *writer { " (writer)" } else { "" }))
            .collect();
        write!(
            f,
            "DocumentDB {} reader(s) [{}]; ECS desired {}; scalable target {}",
            self.readers(),
            members.join(", "),
            self.ecs_desired,
            self.scalable.map_or_else(
                || "none".to_string(),
                |(min, max)| format!("min {min} max {max}")
            )
        )
    }
}

impl Scene {
    /// The contract's names (`batch`, `worker`, `batch-db`, `nightly`), for an emulator of its own.
    pub fn contract(table: &str) -> Scene {
        Scene {
            scenario: "nightly-batch".into(),
            ecs_cluster: "batch".into(),
            ecs_service: "worker".into(),
            docdb_cluster: "batch-db".into(),
            job: "nightly".into(),
            table: table.into(),
            db_table: "docdb",
        }
    }

    /// Names no other test on the same emulator uses.
    pub fn unique(table: &str) -> Scene {
        Scene {
            scenario: "nightly-batch".into(),
            ecs_cluster: crate::unique("batch"),
            ecs_service: crate::unique("worker"),
            docdb_cluster: crate::unique("batch-db"),
            job: crate::unique("nightly"),
            table: table.into(),
            db_table: "docdb",
        }
    }

    /// The contract config with this scene's names (and, if given, another `deadline`).
    pub fn config(&self, deadline: Option<&str>) -> String {
        let mut text = CONTRACT_CONFIG
            .replace(
                r#"table = "nightshift-runs""#,
                &format!(r#"table = "{}""#, self.table),
            )
            .replace(
                r#"cluster = "batch""#,
                &format!(r#"cluster = "{}""#, self.ecs_cluster),
            )
            .replace(
                r#"service = "worker""#,
                &format!(r#"service = "{}""#, self.ecs_service),
            )
            .replace(
                r#"cluster = "batch-db""#,
                &format!(r#"cluster = "{}""#, self.docdb_cluster),
            )
            .replace(
                r#"dimensions = { Job = "nightly" }"#,
                &format!(r#"dimensions = {{ Job = "{}" }}"#, self.job),
            )
            .replace(
                "[[scenario.docdb]]",
                &format!("[[scenario.{}]]", self.db_table),
            );
        if let Some(deadline) = deadline {
            text = text.replace(
                r#"deadline = "07:30""#,
                &format!(r#"deadline = "{deadline}""#),
            );
        }
        text
    }

    /// Create the day-time world: the cluster with its writer, and the service at its baseline
    /// with a scalable target.
    pub async fn create(&self, cfg: &SdkConfig) {
        let engine = match self.db_table {
            "aurora" => "aurora-postgresql",
            other => other,
        };
        crate::create_rds_cluster(cfg, &self.docdb_cluster, engine).await;
        crate::create_ecs_service(cfg, &self.ecs_cluster, &self.ecs_service, BASELINE_DESIRED)
            .await;
        aws_sdk_applicationautoscaling::Client::new(cfg)
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(self.scalable_resource())
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(BASELINE_MIN)
            .max_capacity(BASELINE_MAX)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("RegisterScalableTarget {}: {e:?}", self.scalable_resource())
            });
    }

    fn scalable_resource(&self) -> String {
        format!("service/{}/{}", self.ecs_cluster, self.ecs_service)
    }

    /// Batch/JobsRunning{Job} = `value` once a minute over `[from, to)`.
    pub async fn put_jobs_running(
        &self,
        cfg: &SdkConfig,
        from: Timestamp,
        to: Timestamp,
        value: f64,
    ) {
        let cloudwatch = aws_sdk_cloudwatch::Client::new(cfg);
        let mut at = from;
        let mut data = Vec::new();
        while at < to {
            data.push(
                MetricDatum::builder()
                    .metric_name("JobsRunning")
                    .dimensions(Dimension::builder().name("Job").value(&self.job).build())
                    .timestamp(DateTime::from_secs(at.as_second()))
                    .value(value)
                    .build(),
            );
            at += SignedDuration::from_mins(1);
        }
        for chunk in data.chunks(500) {
            cloudwatch
                .put_metric_data()
                .namespace("Batch")
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutMetricData Batch/JobsRunning: {e:?}"));
        }
    }

    /// The AWS side now.
    pub async fn state(&self, cfg: &SdkConfig) -> State {
        let cluster = aws_sdk_docdb::Client::new(cfg)
            .describe_db_clusters()
            .db_cluster_identifier(&self.docdb_cluster)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeDBClusters {}: {e:?}", self.docdb_cluster));
        let mut docdb_members: Vec<(String, bool)> = cluster
            .db_clusters()
            .iter()
            .flat_map(|c| c.db_cluster_members())
            .map(|m| {
                (
                    m.db_instance_identifier().unwrap_or_default().to_string(),
                    m.is_cluster_writer().unwrap_or(false),
                )
            })
            .collect();
        docdb_members.sort();
        let services = aws_sdk_ecs::Client::new(cfg)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.ecs_service)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeServices {}: {e:?}", self.ecs_service));
        let ecs_desired = services
            .services()
            .first()
            .map_or(-1, |s| s.desired_count());
        let targets = aws_sdk_applicationautoscaling::Client::new(cfg)
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(self.scalable_resource())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeScalableTargets: {e:?}"));
        let scalable = targets
            .scalable_targets()
            .first()
            .map(|t| (t.min_capacity(), t.max_capacity()));
        State {
            docdb_members,
            ecs_desired,
            scalable,
        }
    }

    /// A step command as EventBridge Scheduler sends it: keyed by its scheduled time, and
    /// rehearsed at that time (`now`).
    pub fn scheduled_step(&self, step: &str, at: Timestamp) -> Vec<u8> {
        let at = format!("{at:.0}");
        json!({"scenario": self.scenario, "step": step, "scheduled_time": at, "now": at})
            .to_string()
            .into_bytes()
    }

    /// An operator's forced scale-down at `at`.
    pub fn forced_scale_down(&self, id: &str, at: Timestamp) -> Vec<u8> {
        json!({"scenario": self.scenario, "step": "scale-down", "id": id, "force": true, "now": format!("{at:.0}")})
            .to_string()
            .into_bytes()
    }

    /// An ECS "task STOPPED" event of the batch's job (the contract's completion), as EventBridge
    /// delivers it.
    pub fn job_task_stopped(&self, at: Timestamp) -> Vec<u8> {
        let id = uuid::Uuid::new_v4().to_string();
        json!({
            "version": "0",
            "id": id,
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": "123456789012",
            "time": format!("{at:.0}"),
            "region": "us-east-1",
            "resources": [format!("arn:aws:ecs:us-east-1:123456789012:task/{}/{}", self.ecs_cluster, &id[..8])],
            "detail": {
                "clusterArn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", self.ecs_cluster),
                "group": "family:nightly-job",
                "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "stopCode": "EssentialContainerExited"
            }
        })
        .to_string()
        .into_bytes()
    }
}

/// The start of the minute `minutes` before now.
pub fn minutes_ago(minutes: i64) -> Timestamp {
    let now = Timestamp::now().as_second();
    Timestamp::from_second(now - now.rem_euclid(60) - minutes * 60).expect("a valid time")
}
