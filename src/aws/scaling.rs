//! The scaling adapters together: the [`Snapshot`] reader and the one executor through which
//! every mutating scaling call goes.
//!
//! [`ScalingClients::execute`] is the only code that makes a mutating ECS, Application Auto
//! Scaling, DocumentDB, AWS Batch or EC2 Auto Scaling call, and it makes only a [`VettedCall`] (a call the safety check
//! allowed). It returns the call as an [`crate::domain::Action`] (service, call, resource, detail,
//! result) for the response and the run history. NIGHTSHIFT_DRY_RUN=1 is enforced here: in dry
//! run the action is recorded with result `dry-run` and nothing is sent.
//!
//! The SDK clients and the adapters' mutating methods are private to src/aws: outside it, the
//! clients are reached through the [`Scaling`] and [`Metrics`] ports only.

use super::accounts::Remote;
use super::asg::AsgAdapter;
use super::autoscaling::AutoScalingAdapter;
use super::batch::BatchAdapter;
use super::docdb::DocDbAdapter;
use super::ecs::EcsAdapter;
use super::{classify, describe, ErrorClass, Timeouts};
use crate::aws::cloudwatch::CloudWatchMetrics;
use crate::config::{Engine, Scenario};
use crate::domain::ActionResult;
use crate::plan::safety::VettedCall;
use crate::plan::{Call, ServiceState, Snapshot, TaskSize};
use crate::ports::{Applied, CallError, CallErrorKind, Executed, Metrics, Scaling, TagReads};
use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::sync::Arc;
use std::time::Duration;

/// Error codes that mean "the cluster or instance is busy (modifying, failing over, backing
/// up)": a later attempt can succeed.
const BUSY_CODES: &[&str] = &[
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidDBClusterStateFault",
    "InvalidDBClusterState",
    // ECS and Application Auto Scaling server-side and concurrency faults.
    "ServerException",
    "ConcurrentUpdateException",
    "InternalServiceException",
    // EC2 Auto Scaling: a scaling activity or another update of the group is under way.
    "ScalingActivityInProgress",
    "ScalingActivityInProgressFault",
    "ResourceContention",
    "ResourceContentionFault",
];

/// Error codes of quota and capacity shortfalls: the night goes on with what it has.
const DEGRADED_CODES: &[&str] = &[
    "InstanceQuotaExceeded",
    "InstanceQuotaExceededFault",
    "InsufficientDBInstanceCapacity",
    "InsufficientDBInstanceCapacityFault",
    "StorageQuotaExceeded",
    "StorageQuotaExceededFault",
];

fn kind_of_code(code: Option<&str>, general: ErrorClass) -> CallErrorKind {
    match code {
        Some(c) if BUSY_CODES.contains(&c) => CallErrorKind::Retryable,
        Some(c) if DEGRADED_CODES.contains(&c) => CallErrorKind::Degraded,
        _ => match general {
            ErrorClass::Transient => CallErrorKind::Retryable,
            ErrorClass::AccessDenied => CallErrorKind::AccessDenied,
            ErrorClass::NotFound => CallErrorKind::NotFound,
            ErrorClass::Permanent => CallErrorKind::Permanent,
        },
    }
}

impl CallError {
    pub fn from_sdk<E>(
        err: &SdkError<E, HttpResponse>,
        operation: &'static str,
        iam_action: &'static str,
        resource: impl Into<String>,
    ) -> CallError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = match err {
            SdkError::ServiceError(s) => s.err().code().map(str::to_string),
            _ => None,
        };
        CallError {
            kind: kind_of_code(code.as_deref(), classify(err)),
            operation,
            iam_action,
            resource: resource.into(),
            code,
            message: describe(err),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == CallErrorKind::NotFound
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == CallErrorKind::Retryable
    }
}

/// The ECS, Application Auto Scaling and DocumentDB adapters of one process.
///
/// Built from SDK clients or an SDK config; once built, its clients are out of reach outside
/// src/aws: a read goes through [`Scaling::snapshot`] or [`Metrics::fetch`], a write through
/// [`Scaling::execute`] with a [`VettedCall`]. Reading the clients back does not compile:
///
/// ```no_run
/// use nightshift::aws::scaling::ScalingClients;
/// use nightshift::config::Scenario;
/// use nightshift::ports::Scaling;
///
/// async fn read(clients: &ScalingClients, scenario: &Scenario) {
///     let _ = clients.snapshot(scenario).await;
/// }
/// ```
///
/// ```compile_fail
/// use nightshift::aws::scaling::ScalingClients;
/// use nightshift::config::Scenario;
/// use nightshift::ports::Scaling;
///
/// async fn read(clients: &ScalingClients, scenario: &Scenario) {
///     let _ = clients.ecs.client().update_service();
/// }
/// ```
///
/// and neither does an adapter's mutating call:
///
/// ```compile_fail
/// use nightshift::aws::scaling::ScalingClients;
/// use nightshift::config::Scenario;
/// use nightshift::ports::Scaling;
///
/// async fn read(clients: &ScalingClients, scenario: &Scenario) {
///     let _ = clients.docdb.delete_instance("batch-db-writer").await;
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ScalingClients {
    ecs: EcsAdapter,
    autoscaling: AutoScalingAdapter,
    docdb: DocDbAdapter,
    /// The worker kinds' adapters (None: built with [`ScalingClients::new`] from the four
    /// clients alone, so a scenario with `[[scenario.batch]]` or `[[scenario.asg]]` is refused).
    workers: Option<Workers>,
    /// The batch metrics the scale-down gate reads (read-only: never a mutating call).
    metrics: CloudWatchMetrics,
    timeouts: Timeouts,
    /// The clients of scenarios in another region or account (None: built from clients, not
    /// from an SDK config, so only the function's own region and account are reachable).
    remote: Option<Arc<Remote>>,
}

/// The AWS Batch and EC2 Auto Scaling adapters.
#[derive(Debug, Clone)]
struct Workers {
    batch: BatchAdapter,
    asg: AsgAdapter,
}

impl Workers {
    fn with_budget(&self, remaining: Option<Duration>) -> Workers {
        Workers {
            batch: self.batch.with_budget(remaining),
            asg: self.asg.with_budget(remaining),
        }
    }
}

impl ScalingClients {
    /// These clients with the AWS Batch and EC2 Auto Scaling clients of the worker kinds.
    pub fn with_workers(
        mut self,
        batch: aws_sdk_batch::Client,
        asg: aws_sdk_autoscaling::Client,
    ) -> Self {
        self.workers = Some(Workers {
            batch: BatchAdapter::new(batch, self.timeouts),
            asg: AsgAdapter::new(asg, self.timeouts),
        });
        self
    }

    /// The worker adapters, or the error a scenario that needs them gets without them.
    fn workers(
        &self,
        operation: &'static str,
        iam_action: &'static str,
    ) -> Result<&Workers, CallError> {
        self.workers.as_ref().ok_or_else(|| CallError {
            kind: crate::ports::CallErrorKind::Permanent,
            operation,
            iam_action,
            resource: "the worker kinds ([[scenario.batch]], [[scenario.asg]])".into(),
            code: None,
            message: "these scaling clients were built without the AWS Batch and EC2 Auto Scaling clients: build them with ScalingClients::from_sdk_config or add them with with_workers".into(),
        })
    }

    /// The four clients from one SDK config, every call of each recorded in `log` (tests and
    /// benchmarks count calls with it).
    pub fn with_call_log(
        sdk: &SdkConfig,
        log: &crate::aws::calls::CallLog,
        timeouts: Timeouts,
    ) -> Self {
        let remote = Arc::new(Remote::new(sdk, timeouts, Some(log.clone())));
        ScalingClients::new(
            aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            aws_sdk_docdb::Client::from_conf(
                aws_sdk_docdb::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            timeouts,
        )
        .with_workers(
            aws_sdk_batch::Client::from_conf(
                aws_sdk_batch::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
            aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(sdk)
                    .interceptor(log.clone())
                    .build(),
            ),
        )
        .with_remote(remote)
    }

    pub fn new(
        ecs: aws_sdk_ecs::Client,
        autoscaling: aws_sdk_applicationautoscaling::Client,
        docdb: aws_sdk_docdb::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        timeouts: Timeouts,
    ) -> Self {
        ScalingClients {
            ecs: EcsAdapter::new(ecs, timeouts),
            autoscaling: AutoScalingAdapter::new(autoscaling, timeouts),
            docdb: DocDbAdapter::new(docdb, timeouts),
            workers: None,
            metrics: CloudWatchMetrics::new(cloudwatch).with_budget(timeouts, None),
            timeouts,
            remote: None,
        }
    }

    /// These clients, able to build those of other regions and accounts through `remote`.
    pub(super) fn with_remote(mut self, remote: Arc<Remote>) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The clients of `scenario`'s resources: these for a scenario in the function's own region
    /// and account, else those of its `region` and `role_arn` (built on first use, then kept).
    pub async fn for_scenario(&self, scenario: &Scenario) -> Result<ScalingClients, String> {
        if scenario.region.is_none() && scenario.role_arn.is_none() {
            return Ok(self.clone());
        }
        match &self.remote {
            Some(remote) => Ok(remote
                .clients(&(scenario.region.clone(), scenario.role_arn.clone()))
                .await),
            None => Err(format!(
                "scenario \"{}\" is in another region or account (region, role_arn), but these scaling clients were built without an SDK config to derive its clients from: build them with ScalingClients::from_sdk_config",
                scenario.name
            )),
        }
    }

    /// Clients from the shared SDK config (endpoints from `AWS_ENDPOINT_URL_ECS`,
    /// `AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING`, `AWS_ENDPOINT_URL_DOCDB`,
    /// `AWS_ENDPOINT_URL_CLOUDWATCH` or `AWS_ENDPOINT_URL`).
    pub fn from_sdk_config(sdk: &SdkConfig, timeouts: Timeouts) -> Self {
        let remote = Arc::new(Remote::new(sdk, timeouts, None));
        // Every call is counted into the invocation's EMF metrics (`AwsCalls`).
        use crate::aws::calls::CallCounter;
        ScalingClients::new(
            aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
            aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
            aws_sdk_docdb::Client::from_conf(
                aws_sdk_docdb::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
            aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
            timeouts,
        )
        .with_workers(
            aws_sdk_batch::Client::from_conf(
                aws_sdk_batch::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
            aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(sdk)
                    .interceptor(CallCounter)
                    .build(),
            ),
        )
        .with_remote(remote)
    }

    /// A copy whose calls end before the invocation's deadline.
    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        ScalingClients {
            ecs: self.ecs.with_budget(remaining),
            autoscaling: self.autoscaling.with_budget(remaining),
            docdb: self.docdb.with_budget(remaining),
            workers: self.workers.as_ref().map(|w| w.with_budget(remaining)),
            metrics: self.metrics.with_budget(self.timeouts, remaining),
            timeouts: self.timeouts,
            remote: self.remote.clone(),
        }
    }
}

#[async_trait::async_trait]
impl Scaling for ScalingClients {
    /// Read the live state of every resource the scenario configures. A resource that does not
    /// exist is left out (the planner decides what that means); a failed read is an error.
    async fn snapshot(&self, scenario: &Scenario) -> Result<Snapshot, CallError> {
        self.snapshot_with(scenario, &TagReads::All).await
    }

    /// The snapshot with only the tags `tags` asks for (ListTagsForResource is one call per
    /// instance).
    async fn snapshot_with(
        &self,
        scenario: &Scenario,
        tags: &TagReads,
    ) -> Result<Snapshot, CallError> {
        let services = futures::future::try_join_all(scenario.ecs.iter().map(|t| async move {
            let counts = self.ecs.describe_service(&t.cluster, &t.service).await?;
            let Some(counts) = counts else {
                return Ok::<_, CallError>(None);
            };
            let scalable_target = self.autoscaling.describe(&t.cluster, &t.service).await?;
            Ok(Some(ServiceState {
                cluster: t.cluster.clone(),
                service: t.service.clone(),
                status: counts.status,
                desired: counts.desired,
                running: counts.running,
                pending: counts.pending,
                scalable_target,
                task: counts.task_definition.map(|task_definition| TaskSize {
                    task_definition,
                    launch: counts.launch,
                    cpu_units: None,
                    memory_mib: None,
                    unread: None,
                }),
            }))
        }))
        .await?;
        let clusters = futures::future::try_join_all(scenario.clusters().map(|t| async move {
            let Some(mut cluster) = self.docdb.describe_cluster_with(&t.cluster, tags).await?
            else {
                return Ok::<_, CallError>(None);
            };
            // Only Aurora has a replica-count scalable target (DocumentDB has none; Neptune's
            // is left alone).
            if t.engine == Engine::Aurora {
                cluster.replica_target =
                    self.autoscaling.describe_replica_target(&t.cluster).await?;
            }
            Ok(Some(cluster))
        }))
        .await?;
        // The worker kinds: one call per kind for all of the scenario's targets.
        let (environments, groups) = futures::future::try_join(
            async {
                if scenario.batch.is_empty() {
                    return Ok(Vec::new());
                }
                let names: Vec<&str> = scenario.batch.iter().map(|t| t.name()).collect();
                self.workers(
                    "DescribeComputeEnvironments",
                    "batch:DescribeComputeEnvironments",
                )?
                .batch
                .describe(&names)
                .await
            },
            async {
                if scenario.asg.is_empty() {
                    return Ok(Vec::new());
                }
                let names: Vec<&str> = scenario.asg.iter().map(|t| t.name.as_str()).collect();
                self.workers(
                    "DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingGroups",
                )?
                .asg
                .describe(&names)
                .await
            },
        )
        .await?;
        Ok(Snapshot {
            services: services.into_iter().flatten().collect(),
            clusters: clusters.into_iter().flatten().collect(),
            environments,
            groups,
        })
    }

    async fn task_size(
        &self,
        task_definition: &str,
    ) -> Result<(Option<u32>, Option<u32>, bool), CallError> {
        let size = self.ecs.describe_task_definition(task_definition).await?;
        let fargate_only =
            size.requires.iter().all(|c| c == "FARGATE") && !size.requires.is_empty();
        Ok((size.cpu_units, size.memory_mib, fargate_only))
    }

    /// Make one call the safety check allowed (or, in dry run, only record it).
    async fn execute(&self, vetted: &VettedCall, dry_run: bool) -> Executed {
        let call = vetted.call();
        if dry_run {
            return Executed {
                action: call.action(ActionResult::DryRun),
                error: None,
            };
        }
        let result = match call {
            Call::RegisterScalableTarget {
                cluster,
                service,
                to,
                ..
            } => self
                .autoscaling
                .register(cluster, service, *to)
                .await
                .map(|()| Applied::Done),
            Call::UpdateService {
                cluster,
                service,
                desired,
                ..
            } => self
                .ecs
                .update_desired(cluster, service, *desired)
                .await
                .map(|()| Applied::Done),
            Call::RegisterReplicaTarget { cluster, to, .. } => self
                .autoscaling
                .register_replica_target(cluster, *to)
                .await
                .map(|()| Applied::Done),
            Call::CreateDbInstance {
                cluster,
                engine,
                instance,
                class,
                promotion_tier,
                tags,
                zone,
            } => {
                self.docdb
                    .create_reader(
                        cluster,
                        engine,
                        instance,
                        class,
                        *promotion_tier,
                        tags,
                        zone.as_deref(),
                    )
                    .await
            }
            Call::ModifyDbClusterCapacity {
                cluster, min, max, ..
            } => self.docdb.modify_serverless_min(cluster, *min, *max).await,
            Call::ModifyDbInstanceClass {
                instance, class, ..
            } => self.docdb.modify_class(instance, class).await,
            Call::FailoverDbCluster {
                cluster, target, ..
            } => self.docdb.failover(cluster, target).await,
            Call::DeleteDbInstance { instance, .. } => self.docdb.delete_instance(instance).await,
            Call::UpdateComputeEnvironment {
                environment,
                min,
                desired,
                ..
            } => match self.workers(call.operation(), call.iam_action()) {
                Ok(w) => w
                    .batch
                    .update_vcpus(environment, *min, *desired)
                    .await
                    .map(|()| Applied::Done),
                Err(e) => Err(e),
            },
            Call::UpdateAutoScalingGroup {
                group,
                min,
                max,
                desired,
                ..
            } => match self.workers(call.operation(), call.iam_action()) {
                Ok(w) => w
                    .asg
                    .update_size(group, *min, *max, *desired)
                    .await
                    .map(|()| Applied::Done),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(Applied::Done) => Executed {
                action: call.action(ActionResult::Done),
                error: None,
            },
            Ok(Applied::AlreadyDone(why)) => Executed {
                action: call.action(ActionResult::AlreadyDone { why }),
                error: None,
            },
            Err(error) => Executed {
                action: call.action(ActionResult::Failed {
                    code: error.code.clone(),
                    message: error.message.clone(),
                }),
                error: Some(error),
            },
        }
    }
}

/// The batch metrics through the CloudWatch adapter, within the same budget as the scaling calls.
#[async_trait::async_trait]
impl Metrics for ScalingClients {
    async fn fetch(
        &self,
        metrics: &[crate::config::MetricSpec],
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> crate::gate::MetricsFetch {
        self.metrics.fetch(metrics, from, to).await.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::calls::CallLog;
    use aws_config::{BehaviorVersion, Region};
    use std::collections::BTreeMap;

    fn clients(log: &CallLog) -> ScalingClients {
        // Port 9 (discard) on loopback: any call that did go out would fail, and be logged.
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .http_client(crate::aws::https_client())
            .build();
        ScalingClients::with_call_log(&sdk, log, Timeouts::default())
    }

    #[tokio::test]
    async fn dry_run_records_every_call_and_sends_none() {
        use crate::plan::fixtures::*;
        use crate::plan::safety::{self, SafetyContext, Verdict};
        use crate::plan::{capture_baseline, Capacity};
        let log = CallLog::new();
        let c = clients(&log);
        // One call of each kind, each allowed by the safety check against this night.
        let s = scenario(10, 20, 3, None);
        let own = instance("own-1", false, "db.r6g.large");
        let before = snapshot_with(
            2,
            Some(Capacity { min: 1, max: 3 }),
            std::slice::from_ref(&own),
        );
        let baseline = capture_baseline(&s, &before, ts()).unwrap();
        let night = snapshot_with(
            2,
            Some(Capacity { min: 1, max: 3 }),
            &[own, managed(&reader_id(1), false, "db.r6g.large", RUN)],
        );
        let ctx = SafetyContext {
            scenario: &s,
            run: RUN,
            snapshot: &night,
            baseline: Some(&baseline),
        };
        let calls = [
            Call::UpdateService {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 3,
                from: 2,
            },
            Call::RegisterScalableTarget {
                cluster: "batch".into(),
                service: "worker".into(),
                to: Capacity { min: 3, max: 3 },
                from: Capacity { min: 1, max: 3 },
            },
            Call::CreateDbInstance {
                cluster: "db".into(),
                engine: "docdb".into(),
                instance: reader_id(2),
                class: "db.r6g.large".into(),
                promotion_tier: 15,
                tags: BTreeMap::from([
                    (crate::plan::TAG_SCENARIO.to_string(), SCENARIO.to_string()),
                    (crate::plan::TAG_RUN.to_string(), RUN.to_string()),
                ]),
                zone: None,
            },
            Call::ModifyDbInstanceClass {
                cluster: "db".into(),
                instance: "own-1".into(),
                class: "db.r6g.2xlarge".into(),
                from: "db.r6g.large".into(),
            },
            Call::FailoverDbCluster {
                cluster: "db".into(),
                target: "own-1".into(),
                from: "db-w".into(),
            },
            Call::DeleteDbInstance {
                cluster: "db".into(),
                instance: reader_id(1),
            },
        ];
        for call in &calls {
            let Verdict::Allowed(vetted) = safety::vet_one(call, &ctx) else {
                panic!("the safety check refused {call}")
            };
            let done = c.execute(&vetted, true).await;
            assert_eq!(done.action.result, "dry-run");
            assert_eq!(done.action.call, call.operation());
            assert!(done.error.is_none());
        }
        assert_eq!(log.calls(), [], "dry run sent a request");
    }

    #[tokio::test]
    async fn a_scenario_elsewhere_gets_its_own_clients_and_never_the_functions_own() {
        let text = include_str!("../../integration/fixtures/config/another-account.toml");
        let config = crate::config::parse(text, "another-account.toml").expect("parses");
        let (home, away) = (&config.scenarios[0], &config.scenarios[1]);
        assert!(away.role_arn.is_some() && home.role_arn.is_none());
        let log = CallLog::new();
        let routed = clients(&log);
        assert!(routed.for_scenario(home).await.is_ok());
        assert!(routed.for_scenario(away).await.is_ok());
        // Clients built from clients (no SDK config) cannot derive another account's: refused,
        // rather than sent to the same names in the function's own account.
        let c = |sdk: &SdkConfig| {
            ScalingClients::new(
                aws_sdk_ecs::Client::new(sdk),
                aws_sdk_applicationautoscaling::Client::new(sdk),
                aws_sdk_docdb::Client::new(sdk),
                aws_sdk_cloudwatch::Client::new(sdk),
                Timeouts::default(),
            )
        };
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let plain = c(&sdk);
        assert!(plain.for_scenario(home).await.is_ok());
        let refused = plain.for_scenario(away).await.err().unwrap_or_default();
        assert!(
            refused.contains("\"eu-batch\" is in another region or account"),
            "{refused}"
        );
        assert_eq!(log.calls(), [], "building clients called nothing");
    }

    #[test]
    fn error_codes_map_to_their_handling() {
        let k = |code: &str, general| kind_of_code(Some(code), general);
        assert_eq!(
            k("InvalidDBInstanceState", ErrorClass::Permanent),
            CallErrorKind::Retryable
        );
        assert_eq!(
            k("InvalidDBClusterStateFault", ErrorClass::Permanent),
            CallErrorKind::Retryable
        );
        assert_eq!(
            k("InstanceQuotaExceeded", ErrorClass::Permanent),
            CallErrorKind::Degraded
        );
        assert_eq!(
            k("InsufficientDBInstanceCapacity", ErrorClass::Permanent),
            CallErrorKind::Degraded
        );
        assert_eq!(
            k("Throttling", ErrorClass::Transient),
            CallErrorKind::Retryable
        );
        assert_eq!(
            k("AccessDenied", ErrorClass::AccessDenied),
            CallErrorKind::AccessDenied
        );
        assert_eq!(
            kind_of_code(None, ErrorClass::Transient),
            CallErrorKind::Retryable
        );
        assert_eq!(
            k("DBInstanceNotFound", ErrorClass::NotFound),
            CallErrorKind::NotFound
        );
    }

    #[test]
    fn access_denied_names_the_iam_action_and_the_resource() {
        let e = CallError {
            kind: CallErrorKind::AccessDenied,
            operation: "DeleteDBInstance",
            iam_action: "rds:DeleteDBInstance",
            resource: "DocumentDB instance x".into(),
            code: Some("AccessDenied".into()),
            message: "AccessDenied: not authorized".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("lacks rds:DeleteDBInstance on DocumentDB instance x"),
            "{text}"
        );
        assert!(text.contains("nightshift iam-policy"));
    }
}
