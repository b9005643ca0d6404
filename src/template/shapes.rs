//! Building blocks of the template: IAM documents and roles, queues, alarms, checkov notes.

use super::doc::{get_att, map, reference, s, seq, sub, Node};
use crate::config::Config;
use crate::iam;
use serde_json::Value;

/// `Fn::Sub` for strings that carry `${AWS::…}` (ARNs built with pseudo parameters), any `${`
/// of the config's own text escaped as `${!`.
pub(super) fn sub_arns(value: &Value) -> Node {
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
pub(super) fn function_policy(config: &Config) -> Node {
    let target = iam::Target {
        partition: "${AWS::Partition}".into(),
        region: "${AWS::Region}".into(),
        account: "${AWS::AccountId}".into(),
    };
    sub_arns(&iam::policy(config, &target))
}

/// `{"Version": "2012-10-17", "Statement": [...]}`.
pub(super) fn policy_document(statements: impl IntoIterator<Item = Node>) -> Node {
    map([("Version", s("2012-10-17")), ("Statement", seq(statements))])
}

/// An `Allow` statement of `action` on `resource`.
pub(super) fn allow(action: Node, resource: Node) -> Node {
    map([
        ("Effect", s("Allow")),
        ("Action", action),
        ("Resource", resource),
    ])
}

/// An inline policy of a role.
pub(super) fn inline_policy(name: &str, statements: impl IntoIterator<Item = Node>) -> Node {
    map([
        ("PolicyName", s(name)),
        ("PolicyDocument", policy_document(statements)),
    ])
}

/// An IAM role that `service` may assume (under `condition`, if any), with these policies.
pub(super) fn role(service: &str, condition: Option<Node>, policies: Vec<Node>) -> Node {
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

pub(super) fn queue(comment: &str) -> Node {
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

pub(super) fn alarm(description: &str, metric: Node) -> Node {
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

pub(super) fn depth_alarm(queue_id: &str, what: &str) -> Node {
    alarm(
        &format!("{what}: a message is waiting in {queue_id}; read it (aws sqs receive-message) and see docs/operating.md, \"{queue_id}DepthAlarm\""),
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

/// The first eight hex digits of the stack's id (`arn:…:stack/<name>/<uuid>`): a short key that
/// differs between stacks, for names that must be unique in the account and fit a length limit
/// whatever the stack's name.
pub(super) fn stack_key() -> Node {
    let split = |on: &str, what: Node| map([("Fn::Split", seq([s(on), what]))]);
    let select = |i: i64, from: Node| map([("Fn::Select", seq([Node::Int(i), from]))]);
    select(
        0,
        split("-", select(2, split("/", reference("AWS::StackId")))),
    )
}

pub(super) fn checkov_skips(skips: &[(&str, &str)]) -> Node {
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
