//! `nightshift iam-policy`: the least-privilege IAM policy for exactly the configured resources.
//!
//! Pure: the config (and the account, region and partition to put in ARNs) in, a policy document
//! out. Every action the function calls is listed here; `integration/tests/gate_flow.rs` checks
//! that each call a whole night makes is allowed by this policy.

use crate::config::{Config, Scenario};
use crate::plan::ids::reader_identifier;
use serde_json::{json, Value};

/// Where the function runs: the parts of every ARN. `*` is allowed for region and account.
#[derive(Debug, Clone)]
pub struct Target {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            partition: "aws".into(),
            region: "*".into(),
            account: "*".into(),
        }
    }
}

/// The tag nightshift puts on the readers it creates; delete is allowed only on those.
pub const SCENARIO_TAG: &str = crate::plan::TAG_SCENARIO;

/// The policy document for the function's execution role: its table, the resources of the
/// scenarios it reaches with its own credentials, and `sts:AssumeRole` on exactly the
/// `role_arn`s of the others (whose resources the target roles' policies grant:
/// [`target_roles`]).
pub fn policy(config: &Config, target: &Target) -> Value {
    let Target {
        partition,
        region,
        account,
    } = target;
    let arn = |service: &str, resource: &str| {
        format!("arn:{partition}:{service}:{region}:{account}:{resource}")
    };
    // The function reads and writes single items, and opens and closes runs with two-item
    // transactions, which DynamoDB authorizes item by item (PutItem, UpdateItem); the step that
    // closes a run Queries the run's events on the table itself to count the night's hours. The
    // by-time index serves only the ops CLI, which runs with the operator's credentials.
    let mut statements = vec![json!({
        "Sid": "RunHistoryAndIdempotency",
        "Effect": "Allow",
        "Action": [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:Query"
        ],
        "Resource": [arn("dynamodb", &format!("table/{}", config.table))]
    })];
    let own: Vec<&Scenario> = config
        .scenarios
        .iter()
        .filter(|s| s.role_arn.is_none())
        .collect();
    if !own.is_empty() {
        statements.extend(scaling_statements(&own, partition, account, region));
    }
    if let Some(notify) = &config.notify {
        // nightshift's own events go to exactly the configured bus (the function's own account
        // and region: events are sent from where the function runs).
        statements.push(json!({
            "Sid": "OwnEventsToTheConfiguredBus",
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Resource": [notify.event_bus.arn(partition, region, account)]
        }));
    }
    let roles = role_arns(config);
    if !roles.is_empty() {
        statements.push(json!({
            "Sid": "AssumeTargetRoles",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": roles
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The `role_arn`s of the config, sorted, each once.
pub fn role_arns(config: &Config) -> Vec<String> {
    let mut roles: Vec<String> = config
        .scenarios
        .iter()
        .filter_map(|s| s.role_arn.clone())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// A role in another account that the function assumes for some scenarios.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetRole {
    pub role_arn: String,
    /// The scenarios that assume it.
    pub scenarios: Vec<String>,
    /// Who may assume it: the function's execution role only.
    pub trust_policy: Value,
    /// What it may do: exactly those scenarios' resources, in their regions.
    pub policy: Value,
}

/// The policy and trust policy of every `role_arn` of the config: the resources of the
/// scenarios that assume it (in the role's account, in each scenario's `region`, else
/// `default_region`), and `function_role` as the only principal that may assume it.
pub fn target_roles(config: &Config, default_region: &str, function_role: &str) -> Vec<TargetRole> {
    role_arns(config)
        .into_iter()
        .map(|role| {
            let scenarios: Vec<&Scenario> = config
                .scenarios
                .iter()
                .filter(|s| s.role_arn.as_deref() == Some(role.as_str()))
                .collect();
            // A validated role ARN: arn:<partition>:iam::<account>:role/<name>.
            let mut parts = role.split(':');
            let partition = parts.nth(1).unwrap_or("aws").to_string();
            let account = parts.nth(2).unwrap_or("*").to_string();
            let statements = scaling_statements(&scenarios, &partition, &account, default_region);
            TargetRole {
                scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
                trust_policy: json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Sid": "NightshiftFunctionOnly",
                        "Effect": "Allow",
                        "Principal": { "AWS": function_role },
                        "Action": "sts:AssumeRole"
                    }]
                }),
                policy: json!({ "Version": "2012-10-17", "Statement": statements }),
                role_arn: role,
            }
        })
        .collect()
}

/// The scaling and metric statements for exactly the resources of `scenarios`, in `account`,
/// each scenario's resources in its own `region` (else `default_region`).
fn scaling_statements(
    scenarios: &[&Scenario],
    partition: &str,
    account: &str,
    default_region: &str,
) -> Vec<Value> {
    let arn = |scenario: &Scenario, service: &str, resource: &str| {
        let region = scenario.region.as_deref().unwrap_or(default_region);
        format!("arn:{partition}:{service}:{region}:{account}:{resource}")
    };
    let mut statements = Vec::new();
    let services: Vec<String> = scenarios
        .iter()
        .flat_map(|s| s.ecs.iter().map(move |t| (s, t)))
        .map(|(s, t)| arn(s, "ecs", &format!("service/{}/{}", t.cluster, t.service)))
        .collect();
    if !services.is_empty() {
        let mut scalable: Vec<String> = scenarios
            .iter()
            .filter(|s| !s.ecs.is_empty())
            .map(|s| arn(s, "application-autoscaling", "scalable-target/*"))
            .collect();
        scalable.dedup();
        let scalable = if scalable.len() == 1 {
            json!(scalable[0])
        } else {
            json!(scalable)
        };
        statements.push(json!({
            "Sid": "EcsServicesOfTheConfig",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
            "Resource": services
        }));
        // DescribeScalableTargets has no resource-level permission; RegisterScalableTarget is
        // scoped to scalable targets (whose ARNs carry a generated id, not the service's name).
        statements.push(json!({
            "Sid": "EcsScalableTargetsRead",
            "Effect": "Allow",
            "Action": ["application-autoscaling:DescribeScalableTargets"],
            "Resource": "*"
        }));
        // The size of the services' tasks, read once when a run opens (the night's vCPU-hours
        // and GB-hours); DescribeTaskDefinition has no resource-level permission.
        statements.push(json!({
            "Sid": "EcsTaskSizes",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTaskDefinition"],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "EcsScalableTargetsRaise",
            "Effect": "Allow",
            "Action": ["application-autoscaling:RegisterScalableTarget"],
            "Resource": scalable,
            "Condition": { "StringEquals": {
                "application-autoscaling:service-namespace": "ecs",
                "application-autoscaling:scalable-dimension": "ecs:service:DesiredCount"
            } }
        }));
    }

    // DocumentDB, Aurora and Neptune are managed through the same `rds:` actions on the same ARN
    // shapes: the statements below (their Sids kept from when only DocumentDB was scaled) cover
    // every configured cluster, whatever its engine.
    let mut clusters = Vec::new();
    let mut replica_targets = Vec::new();
    let mut any_instance = Vec::new();
    let mut own_readers = Vec::new();
    let mut delete_conditions = Vec::new();
    let mut resized = Vec::new();
    let mut serverless = Vec::new();
    for scenario in scenarios {
        for target in scenario.clusters() {
            clusters.push(arn(scenario, "rds", &format!("cluster:{}", target.cluster)));
            any_instance.push(arn(scenario, "rds", "db:*"));
            // Every reader id is `<prefix><ordinal>`: allow the prefix only.
            let first = reader_identifier(&target.cluster, &scenario.name, 1);
            let prefix = first.strip_suffix('1').unwrap_or(&first);
            own_readers.push(arn(scenario, "rds", &format!("db:{prefix}*")));
            delete_conditions.push(scenario.name.clone());
            if target.resize.is_some() {
                resized.push(arn(scenario, "rds", &format!("cluster:{}", target.cluster)));
            }
            if target.serverless_min.is_some() {
                serverless.push(arn(scenario, "rds", &format!("cluster:{}", target.cluster)));
            }
            if target.engine == crate::config::Engine::Aurora {
                replica_targets.push(arn(
                    scenario,
                    "application-autoscaling",
                    "scalable-target/*",
                ));
            }
        }
    }
    any_instance.sort();
    any_instance.dedup();
    if !clusters.is_empty() {
        let read: Vec<String> = [clusters.clone(), any_instance.clone()].concat();
        let create: Vec<String> = [clusters.clone(), own_readers.clone()].concat();
        // aws:ResourceTag and rds:db-tag are both documented for the db resource; the global key
        // is the one IAM policy checkers (parliament) know for DeleteDBInstance.
        let tag_key = format!("aws:ResourceTag/{SCENARIO_TAG}");
        let mut condition = serde_json::Map::new();
        delete_conditions.sort();
        delete_conditions.dedup();
        condition.insert(tag_key, json!(delete_conditions));
        statements.push(json!({
            "Sid": "DocDbRead",
            "Effect": "Allow",
            "Action": [
                "rds:DescribeDBClusters",
                "rds:DescribeDBInstances",
                "rds:ListTagsForResource"
            ],
            "Resource": read
        }));
        statements.push(json!({
            "Sid": "DocDbAddTaggedReaders",
            "Effect": "Allow",
            "Action": ["rds:CreateDBInstance", "rds:AddTagsToResource"],
            "Resource": create
        }));
        statements.push(json!({
            "Sid": "DocDbDeleteOnlyItsOwnReaders",
            "Effect": "Allow",
            "Action": ["rds:DeleteDBInstance"],
            "Resource": own_readers,
            "Condition": { "StringEquals": condition }
        }));
    }
    if !resized.is_empty() {
        let resources: Vec<String> = [resized, any_instance].concat();
        // Resizing changes the class of every instance of the cluster (its writer after a
        // failover), so ModifyDBInstance cannot be narrowed to nightshift's own readers.
        statements.push(json!({
            "Sid": "DocDbResize",
            "Effect": "Allow",
            "Action": ["rds:ModifyDBInstance", "rds:FailoverDBCluster"],
            "Resource": resources
        }));
    }
    if !serverless.is_empty() {
        // serverless_min: ModifyDBCluster of the ServerlessV2ScalingConfiguration, on exactly
        // the clusters that configure it.
        statements.push(json!({
            "Sid": "DocDbServerlessCapacity",
            "Effect": "Allow",
            "Action": ["rds:ModifyDBCluster"],
            "Resource": serverless
        }));
    }
    if !replica_targets.is_empty() {
        replica_targets.sort();
        replica_targets.dedup();
        // An Aurora cluster's rds:cluster:ReadReplicaCount target, read and raised for the night
        // (its ARN carries a generated id, so the condition keys narrow it to that dimension).
        statements.push(json!({
            "Sid": "AuroraReplicaTargetsRead",
            "Effect": "Allow",
            "Action": ["application-autoscaling:DescribeScalableTargets"],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "AuroraReplicaTargetsRaise",
            "Effect": "Allow",
            "Action": ["application-autoscaling:RegisterScalableTarget"],
            "Resource": replica_targets,
            "Condition": { "StringEquals": {
                "application-autoscaling:service-namespace": "rds",
                "application-autoscaling:scalable-dimension": "rds:cluster:ReadReplicaCount"
            } }
        }));
    }
    statements.extend(worker_statements(scenarios, &arn));
    statements.push(json!({
        "Sid": "BatchMetrics",
        "Effect": "Allow",
        "Action": ["cloudwatch:GetMetricData"],
        // GetMetricData has no resource-level permissions.
        "Resource": "*"
    }));
    statements
}

/// The worker kinds' statements: AWS Batch compute environments and EC2 Auto Scaling groups.
/// Their Describe calls have no resource-level permissions; the updates are scoped to exactly
/// the configured environments (a configured ARN as it is) and groups.
fn worker_statements(
    scenarios: &[&Scenario],
    arn: &dyn Fn(&Scenario, &str, &str) -> String,
) -> Vec<Value> {
    let mut statements = Vec::new();
    let mut environments: Vec<String> = scenarios
        .iter()
        .flat_map(|s| s.batch.iter().map(move |t| (s, t)))
        .map(|(s, t)| {
            if t.compute_environment.starts_with("arn:") {
                t.compute_environment.clone()
            } else {
                arn(s, "batch", &format!("compute-environment/{}", t.name()))
            }
        })
        .collect();
    environments.sort();
    environments.dedup();
    if !environments.is_empty() {
        statements.push(json!({
            "Sid": "BatchEnvironmentsRead",
            "Effect": "Allow",
            "Action": ["batch:DescribeComputeEnvironments"],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "BatchEnvironmentsMinVcpus",
            "Effect": "Allow",
            "Action": ["batch:UpdateComputeEnvironment"],
            "Resource": environments
        }));
    }
    let mut groups: Vec<String> = scenarios
        .iter()
        .flat_map(|s| s.asg.iter().map(move |t| (s, t)))
        .map(|(s, t)| {
            arn(
                s,
                "autoscaling",
                &format!("autoScalingGroup:*:autoScalingGroupName/{}", t.name),
            )
        })
        .collect();
    groups.sort();
    groups.dedup();
    if !groups.is_empty() {
        statements.push(json!({
            "Sid": "AutoScalingGroupsRead",
            "Effect": "Allow",
            "Action": ["autoscaling:DescribeAutoScalingGroups"],
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "AutoScalingGroupsSize",
            "Effect": "Allow",
            "Action": ["autoscaling:UpdateAutoScalingGroup"],
            "Resource": groups
        }));
    }
    statements
}

/// The IAM action of an SDK call, from the SDK's service and operation names (tests use it to
/// check that a policy covers every call made).
pub fn action_of(service: &str, operation: &str) -> String {
    let prefix = match service.to_ascii_lowercase().replace(' ', "").as_str() {
        "dynamodb" => "dynamodb",
        "ecs" => "ecs",
        "applicationautoscaling" => "application-autoscaling",
        "docdb" | "rds" => "rds",
        "cloudwatch" => "cloudwatch",
        "eventbridge" | "events" => "events",
        "batch" => "batch",
        "autoscaling" => "autoscaling",
        other => return format!("{other}:{operation}"),
    };
    format!("{prefix}:{operation}")
}

/// The IAM actions an SDK call needs. DynamoDB authorizes a transaction item by item, with the
/// item's own action (there is no `dynamodb:TransactWriteItems` action): nightshift's transactions
/// (`aws::dynamodb`, opening and closing a run) hold Put and Update items.
pub fn actions_of(service: &str, operation: &str) -> Vec<String> {
    match (action_of(service, operation).as_str(), operation) {
        (a, "TransactWriteItems") if a.starts_with("dynamodb:") => {
            vec!["dynamodb:PutItem".into(), "dynamodb:UpdateItem".into()]
        }
        (a, _) => vec![a.to_string()],
    }
}

/// Does `policy` allow `action` on some resource? (Action lists only; enough for a coverage check.)
pub fn allows(policy: &Value, action: &str) -> bool {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .any(|s| {
            s["Action"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a.as_str() == Some(action))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Config {
        crate::config::parse(
            include_str!("../integration/fixtures/config/contract.toml"),
            "contract.toml",
        )
        .unwrap()
    }

    #[test]
    fn the_contract_config_gets_exactly_its_resources() {
        let target = Target {
            partition: "aws".into(),
            region: "ap-northeast-1".into(),
            account: "123456789012".into(),
        };
        let p = policy(&contract(), &target);
        let text = p.to_string();
        assert!(text.contains("arn:aws:dynamodb:ap-northeast-1:123456789012:table/nightshift-runs"));
        assert!(text.contains("arn:aws:ecs:ap-northeast-1:123456789012:service/batch/worker"));
        assert!(text.contains("arn:aws:rds:ap-northeast-1:123456789012:cluster:batch-db"));
        let reader = reader_identifier("batch-db", "nightly-batch", 1);
        let prefix = &reader[..reader.len() - 1];
        let delete = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "DocDbDeleteOnlyItsOwnReaders")
            .unwrap();
        assert_eq!(
            delete["Resource"],
            json!([format!(
                "arn:aws:rds:ap-northeast-1:123456789012:db:{prefix}*"
            )])
        );
        assert_eq!(
            delete["Condition"]["StringEquals"]["aws:ResourceTag/nightshift:scenario"],
            json!(["nightly-batch"])
        );
        // No resize configured: no ModifyDBInstance and no failover.
        assert!(!allows(&p, "rds:ModifyDBInstance"));
        assert!(!allows(&p, "rds:FailoverDBCluster"));
        // Never a Scan, never a table-level admin action.
        assert!(!allows(&p, "dynamodb:Scan"));
        assert!(!allows(&p, "dynamodb:DeleteTable"));
    }

    #[test]
    fn resize_adds_modify_and_failover() {
        let text = include_str!("../integration/fixtures/config/contract.toml")
            .replace("# resize = ", "resize = ");
        let config = crate::config::parse(&text, "resize.toml").unwrap();
        let p = policy(&config, &Target::default());
        assert!(allows(&p, "rds:ModifyDBInstance"));
        assert!(allows(&p, "rds:FailoverDBCluster"));
        assert!(p.to_string().contains("arn:aws:rds:*:*:cluster:batch-db"));
    }

    /// The contract's scenario, plus a copy "eu-batch" in eu-west-1 through a role of another
    /// account (its resources renamed, so that none is configured twice).
    fn with_remote() -> Config {
        let contract = include_str!("../integration/fixtures/config/contract.toml");
        let from = contract.find("[[scenario]]").unwrap();
        let remote = contract[from..]
            .replace("name = \"nightly-batch\"", "name = \"eu-batch\"\nregion = \"eu-west-1\"\nrole_arn = \"arn:aws:iam::210987654321:role/nightshift-target\"")
            .replace("cluster = \"batch\"", "cluster = \"eu-batch\"")
            .replace("cluster = \"batch-db\"", "cluster = \"eu-batch-db\"");
        crate::config::parse(&format!("{contract}\n{remote}"), "remote.toml").unwrap()
    }

    #[test]
    fn the_function_role_assumes_exactly_the_target_roles_and_reaches_only_its_own_scenarios() {
        let target = Target {
            partition: "aws".into(),
            region: "ap-northeast-1".into(),
            account: "123456789012".into(),
        };
        let p = policy(&with_remote(), &target);
        let text = p.to_string();
        assert!(text.contains("arn:aws:ecs:ap-northeast-1:123456789012:service/batch/worker"));
        assert!(!text.contains("eu-batch"), "{text}");
        assert!(!text.contains("210987654321:cluster"), "{text}");
        let assume = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "AssumeTargetRoles")
            .unwrap();
        assert_eq!(
            assume["Resource"],
            json!(["arn:aws:iam::210987654321:role/nightshift-target"])
        );
        // Without a role_arn, no sts:AssumeRole at all.
        assert!(!allows(&policy(&contract(), &target), "sts:AssumeRole"));
    }

    #[test]
    fn a_target_role_gets_its_scenarios_resources_in_its_account_and_trusts_the_function_role() {
        let function = "arn:aws:iam::123456789012:role/nightshift-FunctionRole-ABC";
        let roles = target_roles(&with_remote(), "ap-northeast-1", function);
        assert_eq!(roles.len(), 1);
        let role = &roles[0];
        assert_eq!(
            role.role_arn,
            "arn:aws:iam::210987654321:role/nightshift-target"
        );
        assert_eq!(role.scenarios, ["eu-batch"]);
        assert_eq!(
            role.trust_policy["Statement"][0]["Principal"]["AWS"],
            json!(function)
        );
        assert_eq!(
            role.trust_policy["Statement"][0]["Action"],
            "sts:AssumeRole"
        );
        let text = role.policy.to_string();
        assert!(text.contains("arn:aws:ecs:eu-west-1:210987654321:service/eu-batch/worker"));
        assert!(text.contains("arn:aws:rds:eu-west-1:210987654321:cluster:eu-batch-db"));
        // Only its scenarios' resources: not the function's own, not the table.
        assert!(!text.contains("service/batch/worker"), "{text}");
        assert!(!text.contains("dynamodb"), "{text}");
        assert!(allows(&role.policy, "rds:DeleteDBInstance"));
        assert!(allows(&role.policy, "cloudwatch:GetMetricData"));
    }

    #[test]
    fn serverless_min_adds_modify_db_cluster_on_exactly_its_cluster() {
        let contract = include_str!("../integration/fixtures/config/contract.toml");
        let base = crate::config::parse(contract, "c.toml").unwrap();
        assert!(!allows(
            &policy(&base, &Target::default()),
            "rds:ModifyDBCluster"
        ));
        let text = contract.replacen(
            "instance_class = ",
            "serverless_min = 16\n  instance_class = ",
            1,
        );
        let config = crate::config::parse(&text, "serverless.toml").unwrap();
        let p = policy(&config, &Target::default());
        let statement = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "DocDbServerlessCapacity")
            .unwrap();
        assert_eq!(statement["Action"], json!(["rds:ModifyDBCluster"]));
        assert_eq!(
            statement["Resource"],
            json!(["arn:aws:rds:*:*:cluster:batch-db"])
        );
    }

    #[test]
    fn aurora_and_neptune_clusters_get_the_rds_statements_and_only_aurora_its_replica_target() {
        let text = include_str!("../integration/fixtures/config/template/whole-stack.toml");
        let config = crate::config::parse(text, "whole-stack.toml").unwrap();
        let p = policy(&config, &Target::default());
        let sid = |sid: &str| {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_else(|| panic!("no {sid} in {p:#}"))
        };
        let read = sid("DocDbRead");
        for cluster in ["orders-db", "reports-db", "ledger-db", "graph-db"] {
            let arn = format!("arn:aws:rds:*:*:cluster:{cluster}");
            assert!(
                read["Resource"].as_array().unwrap().contains(&json!(arn)),
                "{read:#}"
            );
        }
        // Resize and serverless on exactly the clusters that ask for them.
        assert_eq!(
            sid("DocDbServerlessCapacity")["Resource"],
            json!(["arn:aws:rds:*:*:cluster:reports-db"])
        );
        assert!(sid("DocDbResize")["Resource"]
            .as_array()
            .unwrap()
            .contains(&json!("arn:aws:rds:*:*:cluster:ledger-db")));
        let raise = sid("AuroraReplicaTargetsRaise");
        assert_eq!(
            raise["Action"],
            json!(["application-autoscaling:RegisterScalableTarget"])
        );
        assert_eq!(
            raise["Condition"]["StringEquals"]["application-autoscaling:scalable-dimension"],
            "rds:cluster:ReadReplicaCount"
        );
        // A DocumentDB-only config has no replica-target statement.
        let contract = include_str!("../integration/fixtures/config/contract.toml");
        let docdb = policy(
            &crate::config::parse(contract, "c.toml").unwrap(),
            &Target::default(),
        );
        assert!(!docdb.to_string().contains("ReadReplicaCount"));
    }

    #[test]
    fn notify_grants_put_events_on_exactly_its_bus() {
        let target = Target {
            partition: "aws".into(),
            region: "ap-northeast-1".into(),
            account: "123456789012".into(),
        };
        let p = policy(&contract(), &target);
        assert!(!allows(&p, "events:PutEvents"), "no [notify], no events");
        let text = format!(
            "{}\n[notify]\nevent_bus = \"ops-events\"\n",
            include_str!("../integration/fixtures/config/contract.toml")
        );
        let config = crate::config::parse(&text, "t.toml").unwrap();
        let p = policy(&config, &target);
        let events: Vec<&Value> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Action"].to_string().contains("events:"))
            .collect();
        assert_eq!(events.len(), 1, "{p}");
        assert_eq!(events[0]["Action"], json!(["events:PutEvents"]));
        assert_eq!(
            events[0]["Resource"],
            json!(["arn:aws:events:ap-northeast-1:123456789012:event-bus/ops-events"])
        );
        let arn = "arn:aws:events:eu-west-1:111122223333:event-bus/central";
        let config = crate::config::parse(&text.replace("ops-events", arn), "t.toml").unwrap();
        let p = policy(&config, &target);
        assert!(p.to_string().contains(&format!("[\"{arn}\"]")), "{p}");
        assert_eq!(action_of("EventBridge", "PutEvents"), "events:PutEvents");
    }

    #[test]
    fn workers_get_describe_and_exactly_their_environments_and_groups_to_update() {
        let arn = "arn:aws:batch:eu-west-1:210987654321:compute-environment/spot-ce";
        let text = include_str!("../integration/fixtures/config/contract.toml").replace(
            "  [scenario.scale_down]",
            &format!("  [[scenario.batch]]\n  compute_environment = \"nightly-ce\"\n  min_vcpus = 64\n  max_vcpus = 256\n  [[scenario.batch]]\n  compute_environment = \"{arn}\"\n  min_vcpus = 8\n  [[scenario.asg]]\n  name = \"batch-workers\"\n  min = 4\n  max = 10\n  [scenario.scale_down]"),
        );
        let config = crate::config::parse(&text, "workers.toml").unwrap();
        let target = Target {
            partition: "aws".into(),
            region: "ap-northeast-1".into(),
            account: "123456789012".into(),
        };
        let p = policy(&config, &target);
        let sid = |sid: &str| {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_else(|| panic!("no {sid} in {p}"))
        };
        assert_eq!(
            sid("BatchEnvironmentsMinVcpus")["Resource"],
            json!([
                "arn:aws:batch:ap-northeast-1:123456789012:compute-environment/nightly-ce",
                arn
            ])
        );
        assert_eq!(sid("BatchEnvironmentsRead")["Resource"], json!("*"));
        assert_eq!(
            sid("AutoScalingGroupsSize")["Resource"],
            json!(["arn:aws:autoscaling:ap-northeast-1:123456789012:autoScalingGroup:*:autoScalingGroupName/batch-workers"])
        );
        assert!(allows(&p, "autoscaling:DescribeAutoScalingGroups"));
        // Nothing wider: no other Batch or Auto Scaling action.
        for action in [
            "batch:DeleteComputeEnvironment",
            "autoscaling:DeleteAutoScalingGroup",
            "autoscaling:SetInstanceProtection",
            "autoscaling:PutWarmPool",
        ] {
            assert!(!allows(&p, action), "{action}");
        }
        // Without workers, none of these statements.
        let plain = policy(&contract(), &target).to_string();
        assert!(
            !plain.contains("\"batch:") && !plain.contains("\"autoscaling:"),
            "{plain}"
        );
        assert_eq!(
            action_of("Auto Scaling", "UpdateAutoScalingGroup"),
            "autoscaling:UpdateAutoScalingGroup"
        );
        assert_eq!(
            action_of("Batch", "UpdateComputeEnvironment"),
            "batch:UpdateComputeEnvironment"
        );
    }

    #[test]
    fn sdk_names_map_to_iam_actions() {
        assert_eq!(
            action_of("DocDB", "CreateDBInstance"),
            "rds:CreateDBInstance"
        );
        assert_eq!(
            action_of("Application Auto Scaling", "RegisterScalableTarget"),
            "application-autoscaling:RegisterScalableTarget"
        );
        assert_eq!(action_of("ECS", "UpdateService"), "ecs:UpdateService");
    }
}
