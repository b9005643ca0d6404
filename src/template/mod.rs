//! `nightshift template`: one CloudFormation template for exactly this config.
//!
//! Pure: the config, the image URI and `migrations/` in, a document out. Everything the stack
//! holds is derived here, so the config stays the single source of truth: the function and its
//! role (the `nightshift iam-policy` statements plus its logs and its failure queue), the table
//! as `migrations/` defines it, one EventBridge Scheduler schedule per step of each scenario's
//! night (`crate::schedule`), one rule per `[[scenario.completion]]` with a pattern that matches
//! exactly what `crate::event` accepts for it, who may invoke the function, the asynchronous
//! invoke configuration, dead-letter queues and alarms.

pub mod doc;

use crate::config::{CompletionMatcher, Config, Scenario};
use crate::domain::Step;
use crate::iam;
use crate::migrations::{Migration, MigrationOp};
use crate::schedule::{self, ScheduledStep, StepRole, OVERDUE_AFTER};
use doc::{get_att, map, reference, s, seq, sub, Node};
use serde_json::{json, Value};

/// How the template is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// CloudFormation's limit on resources in one template.
pub const MAX_RESOURCES: usize = 500;

/// Memory of the function. nightshift peaks at about 20 MiB (BENCHMARKS.md), but Lambda gives
/// CPU in proportion to memory and TLS set-up plus SDK start-up are CPU-bound: 256 MB keeps a
/// cold start short at a cost of cents a month for the few dozen invocations of a night.
pub const MEMORY_MB: i64 = 256;

/// Timeout of the function, seconds: a step may wait up to 30 s for the scenario's scaling lease,
/// then makes up to about 25 AWS calls, each with SDK retries inside per-attempt timeouts that end
/// before this deadline, and still needs time to record the outcome. The dedup lease ends at the
/// invocation deadline, so a longer timeout would only keep a crashed delivery's lease longer.
pub const TIMEOUT_S: i64 = 120;

/// Reserved concurrency: the scaling lease serializes the work of a scenario anyway, so more
/// parallel executions only add lease waits; a small reservation guarantees the night's steps
/// capacity when the account is busy, and bounds a duplicate storm. Throttled asynchronous
/// invocations are retried by Lambda for up to six hours, so nothing is lost at the cap.
pub fn reserved_concurrency(config: &Config) -> i64 {
    (2 * config.scenarios.len() as i64 + 2).min(20)
}

/// The log line a check writes for a night still open past its deadline plus
/// [`OVERDUE_AFTER`]; the overdue alarm's metric filter matches it.
pub const OVERDUE_ALARM_FIELD: &str = "night-overdue";

/// Why no template can be written for this config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("--image-uri {0:?} is not an ECR image URI: use <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>)")]
    ImageUri(String),
    #[error("the template would hold {count} resources; CloudFormation allows {MAX_RESOURCES}: check less often (check_every) or split the scenarios over two configs and stacks")]
    TooManyResources { count: usize },
    #[error("migrations/ has no create-table migration: the table cannot be described")]
    NoTable,
}

/// An ECR image URI as Lambda requires: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>` with a
/// tag or digest.
pub fn check_image_uri(uri: &str) -> Result<(), TemplateError> {
    let bad = || TemplateError::ImageUri(uri.to_string());
    let (host, path) = uri.split_once('/').ok_or_else(bad)?;
    let mut parts = host.split('.');
    let account = parts.next().unwrap_or("");
    let ok_host = account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && parts.next() == Some("dkr")
        && parts.next() == Some("ecr")
        && parts.next().is_some_and(|r| !r.is_empty())
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    let has_version = path.contains('@')
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
    if !ok_host || path.is_empty() || !has_version || uri.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok(())
}

/// A CloudFormation logical ID for a scenario: alphanumeric, from its name ("nightly-batch" →
/// "NightlyBatch"), with the scenario's position appended when two names would collide.
fn scenario_ids(config: &Config) -> Vec<String> {
    let base: Vec<String> = config
        .scenarios
        .iter()
        .map(|sc| {
            let mut id = String::new();
            for part in sc.name.split(['-', '_']) {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    id.push(first.to_ascii_uppercase());
                    id.extend(chars);
                }
            }
            if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
                id.insert_str(0, "Scenario");
            }
            id
        })
        .collect();
    base.iter()
        .enumerate()
        .map(|(i, id)| {
            if base
                .iter()
                .filter(|other| other.eq_ignore_ascii_case(id))
                .count()
                > 1
            {
                format!("{id}{}", i + 1)
            } else {
                id.clone()
            }
        })
        .collect()
}

/// The step command a schedule sends: `<aws.scheduler.scheduled-time>` becomes the scheduled
/// time, so the dedup key `scenario/step/scheduled_time` is the same for every attempt of one
/// scheduled run and different for the next.
pub fn schedule_input(scenario: &str, step: Step) -> String {
    json!({
        "scenario": scenario,
        "step": step.as_str(),
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    })
    .to_string()
}

/// The EventBridge pattern of a completion matcher: exactly what `event` accepts for it.
pub fn completion_pattern(matcher: &CompletionMatcher) -> Value {
    match matcher {
        CompletionMatcher::EcsTaskStopped { group } => json!({
            "source": ["aws.ecs"],
            "detail-type": ["ECS Task State Change"],
            "detail": { "lastStatus": ["STOPPED"], "group": [group] }
        }),
        CompletionMatcher::BatchJobDone { job_queue } => {
            // A configured ARN matches that queue only; a name matches the name and any queue ARN
            // ending in it, as `event::batch_queue_matches` does.
            let queues = if job_queue.starts_with("arn:") {
                json!([job_queue])
            } else {
                json!([job_queue, { "suffix": format!(":job-queue/{job_queue}") }])
            };
            json!({
                "source": ["aws.batch"],
                "detail-type": ["Batch Job State Change"],
                "detail": { "status": ["SUCCEEDED", "FAILED"], "jobQueue": queues }
            })
        }
    }
}

/// `Fn::Sub` for strings that carry `${AWS::…}` (ARNs built with pseudo parameters), any `${`
/// of the config's own text escaped as `${!`.
fn sub_arns(value: &Value) -> Node {
    match value {
        Value::String(v) if v.contains("${AWS::") => {
            let escaped = v.replace("${", "${!").replace("${!AWS::", "${AWS::");
            sub(escaped)
        }
        Value::Array(items) => seq(items.iter().map(sub_arns)),
        Value::Object(m) => map(m.iter().map(|(k, v)| (k.clone(), sub_arns(v)))),
        other => Node::from_value(other),
    }
}

/// The function role's nightshift policy: `iam::policy` with the stack's own partition, region
/// and account.
fn function_policy(config: &Config) -> Node {
    let target = iam::Target {
        partition: "${AWS::Partition}".into(),
        region: "${AWS::Region}".into(),
        account: "${AWS::AccountId}".into(),
    };
    sub_arns(&iam::policy(config, &target))
}

/// `{"Version": "2012-10-17", "Statement": [...]}`.
fn policy_document(statements: impl IntoIterator<Item = Node>) -> Node {
    map([("Version", s("2012-10-17")), ("Statement", seq(statements))])
}

/// An `Allow` statement of `action` on `resource`.
fn allow(action: Node, resource: Node) -> Node {
    map([
        ("Effect", s("Allow")),
        ("Action", action),
        ("Resource", resource),
    ])
}

/// An inline policy of a role.
fn inline_policy(name: &str, statements: impl IntoIterator<Item = Node>) -> Node {
    map([
        ("PolicyName", s(name)),
        ("PolicyDocument", policy_document(statements)),
    ])
}

/// An IAM role that `service` may assume (under `condition`, if any), with these policies.
fn role(service: &str, condition: Option<Node>, policies: Vec<Node>) -> Node {
    let mut trust = map([
        ("Effect", s("Allow")),
        ("Principal", map([("Service", s(service))])),
        ("Action", s("sts:AssumeRole")),
    ]);
    if let Some(condition) = condition {
        trust.push("Condition", condition);
    }
    map([
        ("Type", s("AWS::IAM::Role")),
        (
            "Properties",
            map([
                ("AssumeRolePolicyDocument", policy_document([trust])),
                ("Policies", seq(policies)),
            ]),
        ),
    ])
}

fn queue(comment: &str) -> Node {
    map([
        ("Type", s("AWS::SQS::Queue")),
        (
            "Properties",
            map([
                // 14 days, SQS's maximum: a failed night is looked at the next working day.
                ("MessageRetentionPeriod", Node::Int(1_209_600)),
                ("SqsManagedSseEnabled", Node::Bool(true)),
            ]),
        ),
        (
            "Metadata",
            checkov_skips(&[(
                "CKV_AWS_27",
                "encrypted at rest with SSE-SQS; the AWS-managed KMS key alias/aws/sqs would stop EventBridge and Scheduler from delivering dead letters",
            )]),
        ),
    ])
    .comment("Type", comment)
}

fn alarm(description: &str, metric: Node) -> Node {
    let mut props = map([
        ("AlarmDescription", s(description)),
        ("AlarmActions", seq([reference("AlarmTopic")])),
        ("OKActions", seq([reference("AlarmTopic")])),
    ]);
    if let Node::Map(entries) = metric {
        for e in entries {
            props.push(e.key, e.value);
        }
    }
    map([("Type", s("AWS::CloudWatch::Alarm")), ("Properties", props)])
}

fn depth_alarm(queue_id: &str, what: &str) -> Node {
    alarm(
        &format!("{what}: a message is waiting in {queue_id}; read it (aws sqs receive-message) and see README \"Errors and retries\""),
        map([
            ("Namespace", s("AWS/SQS")),
            ("MetricName", s("ApproximateNumberOfMessagesVisible")),
            (
                "Dimensions",
                seq([map([
                    ("Name", s("QueueName")),
                    ("Value", get_att(queue_id, "QueueName")),
                ])]),
            ),
            ("Statistic", s("Maximum")),
            ("Period", Node::Int(300)),
            ("EvaluationPeriods", Node::Int(1)),
            ("Threshold", Node::Int(1)),
            ("ComparisonOperator", s("GreaterThanOrEqualToThreshold")),
            ("TreatMissingData", s("notBreaching")),
        ]),
    )
}

fn checkov_skips(skips: &[(&str, &str)]) -> Node {
    map([(
        "checkov",
        map([(
            "skip",
            seq(skips
                .iter()
                .map(|(id, why)| map([("id", s(*id)), ("comment", s(*why))]))),
        )]),
    )])
}

fn table(config: &Config, migrations: &[Migration]) -> Result<Node, TemplateError> {
    let mut create = None;
    let mut ttl = None;
    for m in migrations {
        match &m.op {
            MigrationOp::CreateTable(c) => create = Some(c),
            MigrationOp::UpdateTimeToLive(u) => ttl = Some(&u.time_to_live_specification),
        }
    }
    let create = create.ok_or(TemplateError::NoTable)?;
    let key_schema = |keys: &[crate::migrations::KeySchemaElement]| {
        seq(keys.iter().map(|k| {
            map([
                ("AttributeName", s(&k.attribute_name)),
                ("KeyType", s(&k.key_type)),
            ])
        }))
    };
    let mut props = map([
        ("TableName", s(&config.table)),
        ("BillingMode", s(&create.billing_mode)),
        (
            "AttributeDefinitions",
            seq(create.attribute_definitions.iter().map(|a| {
                map([
                    ("AttributeName", s(&a.attribute_name)),
                    ("AttributeType", s(&a.attribute_type)),
                ])
            })),
        ),
        ("KeySchema", key_schema(&create.key_schema)),
    ]);
    if !create.global_secondary_indexes.is_empty() {
        props.push(
            "GlobalSecondaryIndexes",
            seq(create.global_secondary_indexes.iter().map(|g| {
                let mut projection = map([("ProjectionType", s(&g.projection.projection_type))]);
                if !g.projection.non_key_attributes.is_empty() {
                    projection.push(
                        "NonKeyAttributes",
                        seq(g.projection.non_key_attributes.iter().map(s)),
                    );
                }
                map([
                    ("IndexName", s(&g.index_name)),
                    ("KeySchema", key_schema(&g.key_schema)),
                    ("Projection", projection),
                ])
            })),
        );
    }
    if let Some(ttl) = ttl {
        props.push(
            "TimeToLiveSpecification",
            map([
                ("AttributeName", s(&ttl.attribute_name)),
                ("Enabled", Node::Bool(ttl.enabled)),
            ]),
        );
    }
    props.push(
        "PointInTimeRecoverySpecification",
        map([("PointInTimeRecoveryEnabled", Node::Bool(true))]),
    );
    props.push("DeletionProtectionEnabled", Node::Bool(true));
    props.push(
        "SSESpecification",
        map([
            ("SSEEnabled", Node::Bool(true)),
            ("SSEType", s("KMS")),
            ("KMSMasterKeyId", s("alias/aws/dynamodb")),
        ]),
    );
    Ok(map([
        ("Type", s("AWS::DynamoDB::Table")),
        ("DeletionPolicy", s("Retain")),
        ("UpdateReplacePolicy", s("Retain")),
        ("Properties", props),
    ])
    .comment(
        "Type",
        "The run history and dedup records, as migrations/ defines them (generated from those files).\nRetained when the stack is deleted or the table replaced: it is the record of every night.",
    ))
}

/// Retry policy of a schedule's target: how long an undelivered step is still worth running.
fn schedule_retry(step: &ScheduledStep, schedule: &schedule::Schedule) -> (i64, i64) {
    match step.role {
        // A late scale-up or scale-down is still wanted within the hour.
        StepRole::ScaleUp | StepRole::ScaleDown | StepRole::DeadlineCheck => (3600, 10),
        // A check older than the interval is superseded by the next one.
        _ => ((schedule.check_every.as_secs() as i64).clamp(60, 3600), 3),
    }
}

fn scenario_resources(resources: &mut Node, outputs: &mut Node, scenario: &Scenario, id: &str) {
    if let Some(schedule) = &scenario.schedule {
        // Validated in config: the night is not empty and not too dense.
        let steps = schedule::night(schedule, &scenario.scale_down).unwrap_or_default();
        for step in &steps {
            let hhmm = step.at.strftime("%H%M").to_string();
            let role = match step.role {
                StepRole::ScaleUp => "ScaleUp",
                StepRole::Check => "Check",
                StepRole::DeadlineCheck => "DeadlineCheck",
                StepRole::OverdueCheck => "OverdueCheck",
                StepRole::ScaleDown => "ScaleDown",
            };
            let (age, attempts) = schedule_retry(step, schedule);
            let logical = format!("{id}{role}{hhmm}");
            resources.push(
                logical,
                map([
                    ("Type", s("AWS::Scheduler::Schedule")),
                    (
                        "Properties",
                        map([
                            ("GroupName", reference("ScheduleGroup")),
                            (
                                "Description",
                                s(format!(
                                    "nightshift {}: {} at {} {}",
                                    scenario.name,
                                    step.role.as_str(),
                                    step.at.strftime("%H:%M"),
                                    scenario.timezone_name
                                )),
                            ),
                            ("ScheduleExpression", s(schedule::cron(schedule, step))),
                            ("ScheduleExpressionTimezone", s(&scenario.timezone_name)),
                            ("FlexibleTimeWindow", map([("Mode", s("OFF"))])),
                            ("State", s("ENABLED")),
                            (
                                "Target",
                                map([
                                    ("Arn", get_att("Function", "Arn")),
                                    ("RoleArn", get_att("SchedulerRole", "Arn")),
                                    ("Input", s(schedule_input(&scenario.name, step.step))),
                                    (
                                        "RetryPolicy",
                                        map([
                                            ("MaximumEventAgeInSeconds", Node::Int(age)),
                                            ("MaximumRetryAttempts", Node::Int(attempts)),
                                        ]),
                                    ),
                                    (
                                        "DeadLetterConfig",
                                        map([("Arn", get_att("SchedulerDeadLetterQueue", "Arn"))]),
                                    ),
                                ]),
                            ),
                        ]),
                    ),
                ]),
            );
        }
    }

    for (j, matcher) in scenario.completion.iter().enumerate() {
        let rule = format!("{id}Completion{}", j + 1);
        let dlq = format!("{rule}DeadLetterQueue");
        let what = match matcher {
            CompletionMatcher::EcsTaskStopped { group } => format!("ECS task {group} STOPPED"),
            CompletionMatcher::BatchJobDone { job_queue } => {
                format!("Batch job on {job_queue} SUCCEEDED or FAILED")
            }
        };
        resources.push_commented(
            rule.clone(),
            map([
                ("Type", s("AWS::Events::Rule")),
                (
                    "Properties",
                    map([
                        (
                            "Description",
                            s(format!("nightshift {}: check when {what}", scenario.name)),
                        ),
                        ("EventPattern", Node::from_value(&completion_pattern(matcher))),
                        ("State", s("ENABLED")),
                        (
                            "Targets",
                            seq([map([
                                ("Id", s("nightshift")),
                                ("Arn", get_att("Function", "Arn")),
                                (
                                    "RetryPolicy",
                                    map([
                                        // A completion only asks for a check early; the next
                                        // scheduled check does the same work later.
                                        ("MaximumEventAgeInSeconds", Node::Int(3600)),
                                        ("MaximumRetryAttempts", Node::Int(10)),
                                    ]),
                                ),
                                ("DeadLetterConfig", map([("Arn", get_att(&dlq, "Arn"))])),
                            ])]),
                        ),
                    ]),
                ),
            ]),
            Some(format!(
                "[[scenario.completion]] {} of \"{}\": the pattern matches exactly what the event parser accepts.",
                j + 1,
                scenario.name
            )),
        );
        resources.push(
            format!("{rule}Permission"),
            map([
                ("Type", s("AWS::Lambda::Permission")),
                (
                    "Properties",
                    map([
                        ("Action", s("lambda:InvokeFunction")),
                        ("FunctionName", get_att("Function", "Arn")),
                        ("Principal", s("events.amazonaws.com")),
                        ("SourceArn", get_att(&rule, "Arn")),
                        ("SourceAccount", reference("AWS::AccountId")),
                    ]),
                ),
            ]),
        );
        resources.push(
            dlq.clone(),
            queue("Events the rule could not deliver to the function."),
        );
        resources.push(
            format!("{dlq}Policy"),
            map([
                ("Type", s("AWS::SQS::QueuePolicy")),
                (
                    "Properties",
                    map([
                        ("Queues", seq([reference(&dlq)])),
                        (
                            "PolicyDocument",
                            policy_document([map([
                                ("Effect", s("Allow")),
                                ("Principal", map([("Service", s("events.amazonaws.com"))])),
                                ("Action", s("sqs:SendMessage")),
                                ("Resource", get_att(&dlq, "Arn")),
                                (
                                    "Condition",
                                    map([(
                                        "ArnEquals",
                                        map([("aws:SourceArn", get_att(&rule, "Arn"))]),
                                    )]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            ]),
        );
        resources.push(
            format!("{dlq}DepthAlarm"),
            depth_alarm(
                &dlq,
                &format!(
                    "nightshift {}: a completion event was not delivered",
                    scenario.name
                ),
            ),
        );
        outputs.push(
            format!("{dlq}Url"),
            map([
                (
                    "Description",
                    s(format!(
                        "Undelivered completion events of {}",
                        scenario.name
                    )),
                ),
                ("Value", reference(&dlq)),
            ]),
        );
    }
}

/// The whole template.
pub fn build(
    config: &Config,
    image_uri: &str,
    migrations: &[Migration],
) -> Result<Node, TemplateError> {
    check_image_uri(image_uri)?;
    let ids = scenario_ids(config);

    let parameters = map([
        (
            "ImageUri",
            map([
                ("Type", s("String")),
                ("Description", s("The nightshift image (ECR) whose baked config is the one this template was generated from; upgrade and roll back by changing the tag")),
                ("Default", s(image_uri)),
            ]),
        ),
        (
            "Architecture",
            map([
                ("Type", s("String")),
                ("Description", s("The architecture of ImageUri")),
                ("AllowedValues", seq([s("x86_64"), s("arm64")])),
                ("Default", s("x86_64")),
            ]),
        ),
        (
            "AppEnv",
            map([
                ("Type", s("String")),
                ("Description", s("APP_ENV of the function: prod refuses rehearsal inputs such as an event's \"now\"")),
                ("Default", s("prod")),
            ]),
        ),
        (
            "DryRun",
            map([
                ("Type", s("String")),
                ("Description", s("NIGHTSHIFT_DRY_RUN: 1 decides and records but calls no mutating API (first rehearsal)")),
                ("AllowedValues", seq([s("0"), s("1")])),
                ("Default", s("0")),
            ]),
        ),
    ]);

    let mut resources = map(Vec::<(String, Node)>::new());
    let mut outputs = map(Vec::<(String, Node)>::new());

    resources.push("RunsTable", table(config, migrations)?);

    resources.push(
        "FunctionLogGroup",
        map([
            ("Type", s("AWS::Logs::LogGroup")),
            ("Properties", map([("RetentionInDays", Node::Int(90))])),
            (
                "Metadata",
                checkov_skips(&[(
                    "CKV_AWS_158",
                    "the log holds decisions and resource names, no secrets; CloudWatch Logs encrypts it at rest",
                )]),
            ),
        ]),
    );

    resources.push(
        "FailureQueue",
        queue("On-failure destination: invocations that failed after Lambda's retries, with the error."),
    );

    let function_policies = vec![
        map([
            ("PolicyName", s("nightshift")),
            ("PolicyDocument", function_policy(config)),
        ]),
        inline_policy(
            "logs",
            [allow(
                seq([s("logs:CreateLogStream"), s("logs:PutLogEvents")]),
                get_att("FunctionLogGroup", "Arn"),
            )],
        ),
        inline_policy(
            "failure-destination",
            [allow(s("sqs:SendMessage"), get_att("FailureQueue", "Arn"))],
        ),
    ];
    resources.push(
        "FunctionRole",
        role("lambda.amazonaws.com", None, function_policies)
        .comment("Type", "Exactly the statements of `nightshift iam-policy` for this config, plus its own log group and failure queue."),
    );

    let function_props = map([
        ("PackageType", s("Image")),
        ("Code", map([("ImageUri", reference("ImageUri"))])),
        ("Architectures", seq([reference("Architecture")])),
        ("Role", get_att("FunctionRole", "Arn")),
        ("MemorySize", Node::Int(MEMORY_MB)),
        ("Timeout", Node::Int(TIMEOUT_S)),
        ("ReservedConcurrentExecutions", Node::Int(reserved_concurrency(config))),
        (
            "Environment",
            map([(
                "Variables",
                map([
                    ("NIGHTSHIFT_TABLE", reference("RunsTable")),
                    ("APP_ENV", reference("AppEnv")),
                    ("NIGHTSHIFT_DRY_RUN", reference("DryRun")),
                    ("NIGHTSHIFT_CONFIG_SHA256", s(&config.digest)),
                ]),
            )]),
        ),
        (
            "LoggingConfig",
            map([
                ("LogFormat", s("JSON")),
                ("ApplicationLogLevel", s("INFO")),
                ("SystemLogLevel", s("WARN")),
                ("LogGroup", reference("FunctionLogGroup")),
            ]),
        ),
    ])
    .comment("MemorySize", format!("{MEMORY_MB} MB: nightshift peaks near 20 MiB, but Lambda's CPU share grows with memory and TLS and SDK start-up are CPU-bound;\nthe few dozen invocations of a night cost cents a month at this size."))
    .comment("Timeout", format!("{TIMEOUT_S} s: up to 30 s waiting for the scenario's scaling lease, then up to ~25 AWS calls with SDK retries inside\nper-attempt timeouts that end before the deadline, and the record of the outcome. The dedup lease ends at this\ndeadline, so a longer timeout would only keep a crashed delivery's lease longer."))
    .comment("ReservedConcurrentExecutions", "The scaling lease serializes each scenario's work, so more parallel executions only add lease waits;\nthis reserves capacity for the night's steps and bounds a duplicate storm (throttled async invocations are retried by Lambda).")
    .comment("Environment", "No reserved name (AWS_*, LAMBDA_*, _HANDLER, TZ): only NIGHTSHIFT_* and APP_ENV.\nNIGHTSHIFT_CONFIG_SHA256 is the SHA-256 of the config this template was generated from: bootstrap refuses to start\n(init error naming both digests) when the config baked into the image differs.");
    resources.push(
        "Function",
        map([
            ("Type", s("AWS::Lambda::Function")),
            ("Properties", function_props),
            (
                "Metadata",
                checkov_skips(&[
                    ("CKV_AWS_116", "failed asynchronous invocations go to FailureQueue through the EventInvokeConfig on-failure destination, which records the error too"),
                    ("CKV_AWS_117", "the function calls only AWS APIs (DynamoDB, ECS, Application Auto Scaling, DocumentDB control plane, CloudWatch): no VPC resource to reach"),
                    ("CKV_AWS_173", "the environment holds a table name, APP_ENV, the dry-run flag and a config digest: no secrets to encrypt with a customer key"),
                ]),
            ),
        ]),
    );

    resources.push(
        "InvokeConfig",
        map([
            ("Type", s("AWS::Lambda::EventInvokeConfig")),
            (
                "Properties",
                map([
                    ("FunctionName", reference("Function")),
                    ("Qualifier", s("$LATEST")),
                    ("MaximumEventAgeInSeconds", Node::Int(3600)),
                    ("MaximumRetryAttempts", Node::Int(2)),
                    (
                        "DestinationConfig",
                        map([(
                            "OnFailure",
                            map([("Destination", get_att("FailureQueue", "Arn"))]),
                        )]),
                    ),
                ]),
            ),
        ])
        .comment("Type", "Lambda retries a failed asynchronous invocation twice (the dedup record makes that safe); what still fails goes to FailureQueue."),
    );

    let has_schedules = config.scenarios.iter().any(|sc| sc.schedule.is_some());
    if has_schedules {
        resources.push(
            "ScheduleGroup",
            map([
                ("Type", s("AWS::Scheduler::ScheduleGroup")),
                ("Properties", map([("Name", reference("AWS::StackName"))])),
            ]),
        );
        resources.push(
            "SchedulerDeadLetterQueue",
            queue("Scheduled steps EventBridge Scheduler could not deliver."),
        );
        resources.push(
            "SchedulerRole",
            role(
                "scheduler.amazonaws.com",
                Some(map([(
                    "StringEquals",
                    map([("aws:SourceAccount", reference("AWS::AccountId"))]),
                )])),
                vec![inline_policy(
                    "invoke-nightshift",
                    [
                        allow(s("lambda:InvokeFunction"), seq([get_att("Function", "Arn")])),
                        allow(s("sqs:SendMessage"), get_att("SchedulerDeadLetterQueue", "Arn")),
                    ],
                )],
            )
            .comment("Type", "EventBridge Scheduler's role: it may invoke this function only (and write its dead-letter queue)."),
        );
        outputs.push(
            "SchedulerDeadLetterQueueUrl",
            map([
                (
                    "Description",
                    s("Scheduled steps that could not be delivered"),
                ),
                ("Value", reference("SchedulerDeadLetterQueue")),
            ]),
        );
    }

    for (scenario, id) in config.scenarios.iter().zip(&ids) {
        scenario_resources(&mut resources, &mut outputs, scenario, id);
    }

    resources.push(
        "AlarmTopic",
        map([
            ("Type", s("AWS::SNS::Topic")),
            ("Properties", map([("KmsMasterKeyId", s("alias/aws/sns"))])),
        ])
        .comment(
            "Type",
            "Every alarm notifies this topic: subscribe the on-call rotation to it.",
        ),
    );
    let lambda_metric = |name: &str| {
        map([
            ("Namespace", s("AWS/Lambda")),
            ("MetricName", s(name)),
            (
                "Dimensions",
                seq([map([
                    ("Name", s("FunctionName")),
                    ("Value", reference("Function")),
                ])]),
            ),
            ("Statistic", s("Sum")),
            ("Period", Node::Int(300)),
            ("EvaluationPeriods", Node::Int(1)),
            ("Threshold", Node::Int(1)),
            ("ComparisonOperator", s("GreaterThanOrEqualToThreshold")),
            ("TreatMissingData", s("notBreaching")),
        ])
    };
    resources.push(
        "FunctionErrorsAlarm",
        alarm(
            "nightshift answered an invocation with an error (retryable or not); see `nightshift history --status failed` and the function log",
            lambda_metric("Errors"),
        ),
    );
    resources.push(
        "FunctionThrottlesAlarm",
        alarm(
            "nightshift invocations were throttled (reserved concurrency reached); Lambda retries them, but a storm of deliveries is worth a look",
            lambda_metric("Throttles"),
        ),
    );
    resources.push(
        "FailureQueueDepthAlarm",
        depth_alarm(
            "FailureQueue",
            "nightshift: an invocation failed after Lambda's retries",
        ),
    );
    if has_schedules {
        resources.push(
            "SchedulerDeadLetterQueueDepthAlarm",
            depth_alarm(
                "SchedulerDeadLetterQueue",
                "nightshift: a scheduled step was not delivered",
            ),
        );
    }
    let overdue_minutes = OVERDUE_AFTER.as_secs() / 60;
    resources.push_commented(
        "NightOverdueMetricFilter",
        map([
            ("Type", s("AWS::Logs::MetricFilter")),
            (
                "Properties",
                map([
                    ("LogGroupName", reference("FunctionLogGroup")),
                    ("FilterPattern", s(format!("{{ $.alarm = \"{OVERDUE_ALARM_FIELD}\" }}"))),
                    (
                        "MetricTransformations",
                        seq([map([
                            ("MetricNamespace", s("Nightshift")),
                            ("MetricName", s("NightOverdue")),
                            ("MetricValue", s("1")),
                        ])]),
                    ),
                ]),
            ),
        ]),
        Some(format!(
            "From the function's own log: a check that finds a night still open {overdue_minutes} min past its deadline logs alarm=\"{OVERDUE_ALARM_FIELD}\".\nEach scheduled night has an overdue check at that time, so an overrunning night is always seen."
        )),
    );
    resources.push(
        "NightOverdueAlarm",
        alarm(
            &format!("a nightshift night is still open {overdue_minutes} min past its deadline: capacity is still up; see `nightshift show <scenario> <run>`"),
            map([
                ("Namespace", s("Nightshift")),
                ("MetricName", s("NightOverdue")),
                ("Statistic", s("Sum")),
                ("Period", Node::Int(300)),
                ("EvaluationPeriods", Node::Int(1)),
                ("Threshold", Node::Int(1)),
                ("ComparisonOperator", s("GreaterThanOrEqualToThreshold")),
                ("TreatMissingData", s("notBreaching")),
            ]),
        ),
    );

    outputs.push(
        "FunctionArn",
        map([
            ("Description", s("The nightshift function")),
            ("Value", get_att("Function", "Arn")),
        ]),
    );
    outputs.push(
        "TableName",
        map([
            ("Description", s("Run history and dedup records")),
            ("Value", reference("RunsTable")),
        ]),
    );
    outputs.push(
        "FailureQueueUrl",
        map([
            (
                "Description",
                s("Invocations that failed after Lambda's retries"),
            ),
            ("Value", reference("FailureQueue")),
        ]),
    );
    outputs.push(
        "AlarmTopicArn",
        map([
            ("Description", s("Subscribe on-call to this topic")),
            ("Value", reference("AlarmTopic")),
        ]),
    );
    outputs.push(
        "ConfigSha256",
        map([
            ("Description", s("SHA-256 of the config this stack was generated from (the image must bake the same file)")),
            ("Value", s(&config.digest)),
        ]),
    );

    let count = match &resources {
        Node::Map(entries) => entries.len(),
        _ => 0,
    };
    if count > MAX_RESOURCES {
        return Err(TemplateError::TooManyResources { count });
    }

    let names = config.scenario_names().join(", ");
    Ok(map([
        ("AWSTemplateFormatVersion", s("2010-09-09")),
        (
            "Description",
            s(format!(
                "nightshift: scales DocumentDB and ECS up for the nightly batch and back down (scenarios: {names}); generated by `nightshift template` from {}",
                file_name(&config.source)
            )),
        ),
        ("Parameters", parameters),
        ("Resources", resources),
        ("Outputs", outputs),
    ]))
}

fn file_name(source: &str) -> &str {
    source.rsplit('/').next().unwrap_or(source)
}

/// The template as text.
pub fn render(template: &Node, format: Format, config: &Config) -> String {
    match format {
        Format::Json => doc::to_json(template),
        Format::Yaml => {
            let digest_line = format!(
                "config {} sha256 {}",
                file_name(&config.source),
                config.digest
            );
            doc::to_yaml(
                template,
                &[
                    "Generated by `nightshift template`: do not edit by hand; regenerate it from the config.",
                    &digest_line,
                ],
            )
        }
    }
}

#[cfg(test)]
mod tests;
