//! `nightshift template`: one CloudFormation template for exactly this config.
//!
//! Pure: the config, the image URI and `migrations/` in, a document out. Everything the stack
//! holds is derived here, so the config stays the single source of truth: the function and its
//! role (the `nightshift iam-policy` statements plus its logs and its failure queue), the table
//! as `migrations/` defines it (or an existing table, by a parameter), the EventBridge Scheduler
//! schedules of each scenario's night (`crate::schedule::schedules`), one rule per scenario for its
//! `[[scenario.completion]]` matchers with a pattern that matches exactly what `crate::event`
//! accepts for them, who may invoke the function, the asynchronous invoke configuration,
//! dead-letter queues, alarms and a dashboard of the function's EMF metrics (`dashboard.rs`).

mod dashboard;
pub mod doc;
mod scenario;
mod shapes;
mod table;

pub use scenario::{completion_pattern, schedule_input, MAX_EVENT_PATTERN_CHARS, RULE_NAME_PREFIX};

use crate::config::Config;
use crate::schedule::OVERDUE_AFTER;
use doc::{get_att, map, reference, s, seq, sub_with, Node};
use shapes::{
    alarm, allow, checkov_skips, depth_alarm, function_policy, inline_policy, queue, role,
    stack_key,
};

use crate::migrations::Migration;

/// How the template is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// CloudFormation's limit on resources in one template.
pub const MAX_RESOURCES: usize = 500;

/// CloudFormation's limit on a template passed in the request itself, bytes: what
/// `aws cloudformation deploy --template-file` sends unless it is given `--s3-bucket`.
pub const MAX_INLINE_TEMPLATE_BYTES: usize = 51_200;

/// CloudFormation's limit on a template read from S3 ("1 MB"; taken as 10^6 bytes to stay inside
/// it whichever megabyte is meant).
pub const MAX_S3_TEMPLATE_BYTES: usize = 1_000_000;

/// CloudFormation's limit on the template's description, bytes.
const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Memory of the function. nightshift peaks at about 20 MiB (BENCHMARKS.md), but Lambda gives
/// CPU in proportion to memory and TLS set-up plus SDK start-up are CPU-bound: 256 MB keeps a
/// cold start short at a cost of cents a month for the few dozen invocations of a night.
pub const MEMORY_MB: i64 = 256;

/// Timeout of the function, seconds. Lambda retries a failed asynchronous invocation about a
/// minute later, and a crashed delivery's dedup lease lasts until its deadline: the retry must
/// come after that deadline, or it finds the dead delivery's lease live, answers `in-progress`
/// (a success, so Lambda stops retrying) and the step is stranded (the model check's finding).
/// So the timeout stays under Lambda's first retry delay. It is still ample: a step waits at most
/// half its time for the scenario's scaling lease, and its ~25 AWS calls take a few seconds.
pub const TIMEOUT_S: i64 = 50;

/// Lambda's delay before the first retry of a failed asynchronous invocation, seconds.
pub const LAMBDA_FIRST_RETRY_DELAY_S: i64 = 60;

/// The log line a check writes for a night still open past its deadline plus
/// [`OVERDUE_AFTER`]; the overdue alarm's metric filter matches it.
pub const OVERDUE_ALARM_FIELD: &str = "night-overdue";

/// Why no template can be written for this config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("--image-uri {0:?} is not an ECR image URI: use <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (or @sha256:<digest>)")]
    ImageUri(String),
    #[error("the template would hold {count} resources; CloudFormation allows {MAX_RESOURCES}: split the scenarios over two configs and stacks (each scenario costs its schedules and one completion rule), or use a check_every that divides an hour or is whole hours (fewest schedules)")]
    TooManyResources { count: usize },
    #[error("the template is {bytes} bytes; CloudFormation reads at most {MAX_S3_TEMPLATE_BYTES} bytes even from S3: split the scenarios over two configs and stacks")]
    TooLarge { bytes: usize },
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

/// The whole template.
pub fn build(
    config: &Config,
    image_uri: &str,
    migrations: &[Migration],
) -> Result<Node, TemplateError> {
    check_image_uri(image_uri)?;
    let ids = scenario_ids(config);

    let parameters = parameters(image_uri, config);
    let mut resources = map(Vec::<(String, Node)>::new());
    let mut outputs = map(Vec::<(String, Node)>::new());

    resources.push("RunsTable", table::table(config, migrations)?);

    function_resources(&mut resources, config);
    let has_schedules = config.scenarios.iter().any(|sc| sc.schedule.is_some());
    if has_schedules {
        scheduler_resources(&mut resources, &mut outputs);
    }
    let mut rules = Vec::new();
    let mut rule_ordinal = 0;
    for (scenario, id) in config.scenarios.iter().zip(&ids) {
        rules.extend(scenario::scenario_resources(
            &mut resources,
            scenario,
            id,
            &mut rule_ordinal,
        ));
    }
    if !rules.is_empty() {
        completion_resources(&mut resources, &mut outputs);
    }

    alarm_resources(&mut resources, has_schedules, !rules.is_empty());
    resources.push("Dashboard", dashboard::dashboard(config));
    stack_outputs(&mut outputs, config);
    let count = match &resources {
        Node::Map(entries) => entries.len(),
        _ => 0,
    };
    if count > MAX_RESOURCES {
        return Err(TemplateError::TooManyResources { count });
    }

    let describe = |scenarios: &str| {
        format!(
            "nightshift: scales DocumentDB and ECS up for the nightly batch and back down (scenarios: {scenarios}); generated by `nightshift template` from {}",
            file_name(&config.source)
        )
    };
    let mut description = describe(&config.scenario_names().join(", "));
    if description.len() > MAX_DESCRIPTION_BYTES {
        description = describe(&format!("{} of them", config.scenarios.len()));
    }
    Ok(map([
        ("AWSTemplateFormatVersion", s("2010-09-09")),
        ("Description", s(description)),
        ("Parameters", parameters),
        ("Conditions", conditions()),
        ("Resources", resources),
        ("Outputs", outputs),
    ]))
}

/// The parameters: what a deployment may change without regenerating the template.
fn parameters(image_uri: &str, config: &Config) -> Node {
    map([
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
        (
            "ReservedConcurrency",
            map([
                ("Type", s("Number")),
                ("Description", s("Concurrent executions reserved for the function; 0 reserves none (it shares the account's unreserved pool)")),
                ("MinValue", Node::Int(0)),
                ("Default", Node::Int(0)),
            ]),
        ),
        (
            "UseExistingTable",
            map([
                ("Type", s("String")),
                ("Description", s(format!("true: the table {} already exists (kept by an earlier stack, which retains it on delete): use it, do not create it", config.table))),
                ("AllowedValues", seq([s("false"), s("true")])),
                ("Default", s("false")),
            ]),
        ),
    ])
    .comment("ReservedConcurrency", "None by default. A reservation guarantees the night's steps capacity while other functions of the account\nare busy and caps a storm of deliveries; the scaling lease already serializes each scenario's work, so a few\n(2 x scenarios + 2) is plenty. Its cost: Lambda keeps 100 executions of the account unreserved, so on an\naccount whose concurrency quota is 10 or 50 (new accounts) any reservation fails the deployment.")
    .comment("UseExistingTable", "The table is retained when the stack is deleted. To deploy again over it (after a teardown, or from a\nsecond stack sharing it), set true: the stack then neither creates nor owns it, and the function, its role\nand the outputs use it by the config's name.")
}

/// The template's conditions: the parameters that add or drop a resource or property.
fn conditions() -> Node {
    map([
        (
            "CreateTable",
            map([(
                "Fn::Equals",
                seq([reference("UseExistingTable"), s("false")]),
            )]),
        ),
        (
            "ReserveConcurrency",
            map([(
                "Fn::Not",
                seq([map([(
                    "Fn::Equals",
                    seq([reference("ReservedConcurrency"), s("0")]),
                )])]),
            )]),
        ),
    ])
}

/// `{"Fn::If": [condition, then, else]}`.
fn if_then(condition: &str, then: Node, otherwise: Node) -> Node {
    map([("Fn::If", seq([s(condition), then, otherwise]))])
}

/// The table's name: the stack's table, or the existing one of the same name.
fn table_name(config: &Config) -> Node {
    if_then("CreateTable", reference("RunsTable"), s(&config.table))
}

/// The function, its log group, role, failure queue and asynchronous invoke configuration.
fn function_resources(resources: &mut Node, config: &Config) {
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
        (
            "ReservedConcurrentExecutions",
            if_then(
                "ReserveConcurrency",
                reference("ReservedConcurrency"),
                reference("AWS::NoValue"),
            ),
        ),
        (
            "Environment",
            map([(
                "Variables",
                map([
                    ("NIGHTSHIFT_TABLE", table_name(config)),
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
    .comment("Timeout", format!("{TIMEOUT_S} s, under Lambda's first retry delay ({LAMBDA_FIRST_RETRY_DELAY_S} s): a crashed delivery's dedup lease lasts until this deadline, and a retry\nthat found it still live would answer in-progress and strand the step. Ample for a step: at most half of it waiting\nfor the scaling lease, then ~25 AWS calls with SDK retries inside per-attempt timeouts that end before the deadline."))
    .comment("ReservedConcurrentExecutions", "Only with the ReservedConcurrency parameter (see there); throttled async invocations are retried by Lambda.")
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
}

/// The schedule group, the Scheduler's role and its dead-letter queue (when any scenario has a schedule).
fn scheduler_resources(resources: &mut Node, outputs: &mut Node) {
    resources.push(
        "ScheduleGroup",
        map([("Type", s("AWS::Scheduler::ScheduleGroup"))]).comment(
            "Type",
            "Named by CloudFormation: unique per stack, and within the 64 characters a group name may have.",
        ),
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

/// What every completion rule of the stack shares: the dead-letter queue and its policy, and the
/// one permission to invoke the function. Both name the rules by the ARN pattern of their names
/// (`nightshift-<stack key>-*`), so their size does not grow with the scenarios: Lambda caps a
/// function's resource policy at 20 KB, and one statement per rule would reach it near 40 rules.
fn completion_resources(resources: &mut Node, outputs: &mut Node) {
    let rules_arn = || {
        sub_with(
            format!("arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:rule/{RULE_NAME_PREFIX}${{StackKey}}-*"),
            [("StackKey", stack_key())],
        )
    };
    resources.push(
        "CompletionRulesPermission",
        map([
            ("Type", s("AWS::Lambda::Permission")),
            (
                "Properties",
                map([
                    ("Action", s("lambda:InvokeFunction")),
                    ("FunctionName", get_att("Function", "Arn")),
                    ("Principal", s("events.amazonaws.com")),
                    ("SourceArn", rules_arn()),
                    ("SourceAccount", reference("AWS::AccountId")),
                ]),
            ),
        ])
        .comment("Type", "The completion rules of this stack (their names start with nightshift-<stack key>-) may invoke the function."),
    );
    resources.push(
        "CompletionDeadLetterQueue",
        queue("Completion events a rule could not deliver to the function (the message says which rule)."),
    );
    resources.push(
        "CompletionDeadLetterQueuePolicy",
        map([
            ("Type", s("AWS::SQS::QueuePolicy")),
            (
                "Properties",
                map([
                    ("Queues", seq([reference("CompletionDeadLetterQueue")])),
                    (
                        "PolicyDocument",
                        shapes::policy_document([map([
                            ("Effect", s("Allow")),
                            ("Principal", map([("Service", s("events.amazonaws.com"))])),
                            ("Action", s("sqs:SendMessage")),
                            ("Resource", get_att("CompletionDeadLetterQueue", "Arn")),
                            (
                                "Condition",
                                map([("ArnLike", map([("aws:SourceArn", rules_arn())]))]),
                            ),
                        ])]),
                    ),
                ]),
            ),
        ]),
    );
    outputs.push(
        "CompletionDeadLetterQueueUrl",
        map([
            (
                "Description",
                s("Completion events that could not be delivered"),
            ),
            ("Value", reference("CompletionDeadLetterQueue")),
        ]),
    );
}

/// The alarm topic and every alarm.
fn alarm_resources(resources: &mut Node, has_schedules: bool, has_rules: bool) {
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
            "nightshift answered an invocation with an error (retryable or not); see `nightshift history --since 1d`, `nightshift show <scenario> <run>` and the function log; docs/operating.md, \"FunctionErrorsAlarm\"",
            lambda_metric("Errors"),
        ),
    );
    resources.push(
        "FunctionThrottlesAlarm",
        alarm(
            "nightshift invocations were throttled (its reserved concurrency, or the account's, reached); Lambda retries them, but a storm of deliveries is worth a look; docs/operating.md, \"FunctionThrottlesAlarm\"",
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
    if has_rules {
        resources.push(
            "CompletionDeadLetterQueueDepthAlarm",
            depth_alarm(
                "CompletionDeadLetterQueue",
                "nightshift: a completion event was not delivered",
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
            &format!("a nightshift night is still open {overdue_minutes} min past its deadline: capacity is still up; see `nightshift show <scenario> <run>` and docs/operating.md, \"NightOverdueAlarm\""),
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
}

/// What the stack tells its deployer.
fn stack_outputs(outputs: &mut Node, config: &Config) {
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
            ("Value", table_name(config)),
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
    if !crate::iam::role_arns(config).is_empty() {
        outputs.push(
            "FunctionRoleArn",
            map([
                ("Description", s("The function's execution role: the principal each target role of the config trusts (`nightshift iam-policy --function-role`)")),
                ("Value", get_att("FunctionRole", "Arn")),
            ]),
        );
    }
    outputs.push(
        "ConfigSha256",
        map([
            ("Description", s("SHA-256 of the config this stack was generated from (the image must bake the same file)")),
            ("Value", s(&config.digest)),
        ]),
    );
}

/// What the deployer must know about the rendered template's size: nothing when it fits a
/// request (≤ 51,200 bytes); a note that `aws cloudformation deploy` then needs `--s3-bucket`;
/// an error above what CloudFormation reads from S3.
pub fn size_note(rendered: &str) -> Result<Option<String>, TemplateError> {
    let bytes = rendered.len();
    if bytes > MAX_S3_TEMPLATE_BYTES {
        return Err(TemplateError::TooLarge { bytes });
    }
    Ok((bytes > MAX_INLINE_TEMPLATE_BYTES).then(|| {
        format!(
            "note: the template is {bytes} bytes, over the {MAX_INLINE_TEMPLATE_BYTES} bytes CloudFormation takes in a request: deploy it through S3 with `aws cloudformation deploy --s3-bucket <bucket> ...` (docs/deploying.md)"
        )
    }))
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
