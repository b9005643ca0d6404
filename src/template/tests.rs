//! The template against the event parser, the IAM rules and the committed deploy/template.yaml.

use super::*;
use crate::config::{self, CompletionMatcher};
use crate::domain::Step;
use crate::event::{self, EventKind, KeySource};
use crate::iam;
use crate::migrations::MigrationOp;
use crate::schedule;
use serde_json::Value;

/// The image URI of the committed deploy/template.yaml (its `ImageUri` parameter's default).
pub const DEPLOY_IMAGE_URI: &str =
    "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/nightshift:0.1.0-x86_64";

const DEPLOY_CONFIG: &str = include_str!("../../deploy/nightshift.toml");
const DEPLOY_TEMPLATE: &str = include_str!("../../deploy/template.yaml");

fn configs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("deploy/nightshift.toml", DEPLOY_CONFIG),
        (
            "integration/fixtures/config/contract.toml",
            include_str!("../../integration/fixtures/config/contract.toml"),
        ),
        (
            "several-scenarios.toml",
            include_str!("../../integration/fixtures/config/template/several-scenarios.toml"),
        ),
        (
            "completion-only.toml",
            include_str!("../../integration/fixtures/config/template/completion-only.toml"),
        ),
        (
            "docdb-schedule-only.toml",
            include_str!("../../integration/fixtures/config/template/docdb-schedule-only.toml"),
        ),
        (
            "ecs-only-no-schedule.toml",
            include_str!("../../integration/fixtures/config/template/ecs-only-no-schedule.toml"),
        ),
        (
            "another-account.toml",
            include_str!("../../integration/fixtures/config/another-account.toml"),
        ),
        (
            "notify.toml",
            include_str!("../../integration/fixtures/config/template/notify.toml"),
        ),
        (
            "whole-stack.toml",
            include_str!("../../integration/fixtures/config/template/whole-stack.toml"),
        ),
        (
            "priced.toml",
            include_str!("../../integration/fixtures/config/template/priced.toml"),
        ),
        ("ten-scenarios.toml", TEN_SCENARIOS),
        ("forty-scenarios.toml", FORTY_SCENARIOS),
    ]
}

const TEN_SCENARIOS: &str =
    include_str!("../../integration/fixtures/config/template/ten-scenarios.toml");
const FORTY_SCENARIOS: &str =
    include_str!("../../integration/fixtures/config/template/forty-scenarios.toml");

#[test]
fn notify_lets_the_role_put_events_on_exactly_its_bus() {
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let policy = template.to_string();
        assert_eq!(
            policy.contains("events:PutEvents"),
            cfg.notify.is_some(),
            "{source}"
        );
        if cfg.notify.is_some() {
            assert!(
                policy.contains(
                    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/ops-events"
                ),
                "{source}"
            );
        }
    }
}

fn build_for(source: &str, text: &str) -> (Config, Value) {
    let cfg = config::parse(text, source).unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let template = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap();
    (cfg, template.to_value())
}

fn resources_of_type<'a>(template: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

#[test]
fn deploy_template_yaml_is_the_output_for_deploy_nightshift_toml() {
    let cfg = config::parse(DEPLOY_CONFIG, "deploy/nightshift.toml").unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let template = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap();
    let fresh = render(&template, Format::Yaml, &cfg);
    assert!(
        fresh == DEPLOY_TEMPLATE,
        "deploy/template.yaml is stale: regenerate it with\n  cargo run --bin nightshift -- template --config deploy/nightshift.toml --image-uri {DEPLOY_IMAGE_URI} > deploy/template.yaml"
    );
}

#[test]
fn yaml_and_json_are_the_same_document() {
    for (source, text) in configs() {
        let cfg = config::parse(text, source).unwrap();
        let migrations = crate::migrations::embedded().unwrap();
        let template = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap();
        let json: Value = serde_json::from_str(&render(&template, Format::Json, &cfg)).unwrap();
        assert_eq!(json, template.to_value(), "{source}");
    }
}

#[test]
fn every_schedule_input_is_a_step_command_whose_dedup_key_is_stable_per_scheduled_time() {
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let schedules = resources_of_type(&template, "AWS::Scheduler::Schedule");
        for (id, sched) in schedules {
            let props = &sched["Properties"];
            assert_eq!(props["FlexibleTimeWindow"]["Mode"], "OFF", "{id}");
            assert!(
                props["Target"]["RetryPolicy"]["MaximumRetryAttempts"].is_i64(),
                "{id}"
            );
            assert!(
                props["Target"]["DeadLetterConfig"]["Arn"].is_object(),
                "{id}"
            );
            let zone = props["ScheduleExpressionTimezone"].as_str().unwrap();
            let input = props["Target"]["Input"].as_str().unwrap();
            let at = |t: &str| input.replace("<aws.scheduler.scheduled-time>", t);
            // Two attempts of one firing, the next firing of the same cron, another day.
            let keys: Vec<String> = [
                "2026-11-25T14:00:00Z",
                "2026-11-25T14:00:00Z",
                "2026-11-25T14:10:00Z",
                "2026-11-26T14:00:00Z",
            ]
            .iter()
            .map(|t| {
                let parsed = event::parse(at(t).as_bytes()).unwrap();
                let EventKind::Step(cmd) = &parsed.kind else {
                    panic!("{id}: not a step command")
                };
                let scenario = cfg
                    .scenario(&cmd.scenario)
                    .unwrap_or_else(|| panic!("{id}: unknown scenario"));
                assert_eq!(scenario.timezone_name, zone, "{id}: the scenario's zone");
                assert!(
                    id.contains(match cmd.step {
                        Step::ScaleUp => "ScaleUp",
                        Step::Check => "Check",
                        Step::ScaleDown => "ScaleDown",
                    }),
                    "{id}: step {:?}",
                    cmd.step
                );
                assert!(!cmd.force, "{id}: a scheduled scale-down is never forced");
                assert!(matches!(parsed.key, KeySource::Scheduled { .. }), "{id}");
                parsed.key.dedup_key("lambda-request-id")
            })
            .collect();
            assert_eq!(keys[0], keys[1], "{id}: two attempts of one scheduled time");
            assert_ne!(keys[0], keys[2], "{id}: two firings of one cron");
            assert_ne!(keys[0], keys[3], "{id}: two days");
            assert!(keys[0].ends_with("/2026-11-25T14:00:00Z"), "{}", keys[0]);
        }
    }
}

/// The template's schedules of each scenario are the night's schedules (which fire every step of
/// the night once: `schedule`'s tests), with their expressions as Scheduler reads them back.
#[test]
fn the_template_holds_exactly_the_schedules_of_each_scenarios_night() {
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let in_template = resources_of_type(&template, "AWS::Scheduler::Schedule");
        let mut expected_total = 0;
        for sc in &cfg.scenarios {
            let Some(sched) = &sc.schedule else { continue };
            let wanted = schedule::schedules(sched, &sc.scale_down).unwrap();
            expected_total += wanted.len();
            let input = schedule_input(&sc.name, Step::Check);
            let scenario_key = &input[..input.find(",\"step\"").unwrap()];
            let mut got: Vec<(String, String)> = in_template
                .iter()
                .filter(|(_, r)| {
                    r["Properties"]["Target"]["Input"]
                        .as_str()
                        .unwrap()
                        .starts_with(scenario_key)
                })
                .map(|(_, r)| {
                    let expr = r["Properties"]["ScheduleExpression"].as_str().unwrap();
                    let cron = schedule::Cron::parse(expr).unwrap();
                    (
                        cron.expression(),
                        r["Properties"]["Target"]["Input"].to_string(),
                    )
                })
                .collect();
            let mut want: Vec<(String, String)> = wanted
                .iter()
                .map(|n| {
                    (
                        n.cron.expression(),
                        Value::from(schedule_input(&sc.name, n.step)).to_string(),
                    )
                })
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{source}: {}", sc.name);
        }
        assert_eq!(in_template.len(), expected_total, "{source}");
    }
}

/// EventBridge's matching for the pattern features the template uses: exact strings, `suffix`,
/// nested objects, and `$or` at the top.
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
    if let Some(branches) = pattern.get("$or") {
        return branches
            .as_array()
            .unwrap()
            .iter()
            .any(|p| pattern_matches(p, event));
    }
    pattern.as_object().unwrap().iter().all(|(key, want)| {
        let got = &event[key];
        match want {
            Value::Object(_) => got.is_object() && pattern_matches(want, got),
            Value::Array(options) => options.iter().any(|o| match o {
                Value::String(v) => got.as_str() == Some(v.as_str()),
                Value::Object(m) => match m.get("suffix").and_then(Value::as_str) {
                    Some(suffix) => got.as_str().is_some_and(|g| g.ends_with(suffix)),
                    None => panic!("pattern operator not modelled: {o}"),
                },
                _ => panic!("pattern value not modelled: {o}"),
            }),
            _ => panic!("pattern shape not modelled: {want}"),
        }
    })
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/integration/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The scenario a completion event checks: the first whose matchers accept it (as the handler
/// resolves it).
fn checked_scenario<'a>(cfg: &'a Config, payload: &Value) -> Option<&'a str> {
    let parsed = event::parse(payload.to_string().as_bytes()).ok()?;
    let EventKind::Completion(completion) = parsed.kind else {
        return None;
    };
    cfg.scenarios
        .iter()
        .find(|sc| {
            sc.completion.iter().any(|m| match m {
                CompletionMatcher::EcsTaskStopped { group } => completion.matches("aws.ecs", group),
                CompletionMatcher::BatchJobDone { job_queue } => {
                    completion.matches("aws.batch", job_queue)
                }
            })
        })
        .map(|sc| sc.name.as_str())
}

/// Events a matcher accepts, and near misses it refuses.
fn samples(matcher: &CompletionMatcher) -> (Vec<Value>, Vec<Value>) {
    let (mut matching, mut not_matching) = (Vec::new(), Vec::new());
    match matcher {
        CompletionMatcher::EcsTaskStopped { group } => {
            let mut ev = fixture("ecs-task-state-change.json");
            ev["detail"]["group"] = group.as_str().into();
            matching.push(ev.clone());
            let mut running = ev.clone();
            running["detail"]["lastStatus"] = "RUNNING".into();
            not_matching.push(running);
            let mut other = ev.clone();
            other["detail"]["group"] = format!("{group}-other").into();
            not_matching.push(other);
        }
        CompletionMatcher::BatchJobDone { job_queue } => {
            let arn = if job_queue.starts_with("arn:") {
                job_queue.clone()
            } else {
                format!("arn:aws:batch:ap-northeast-1:123456789012:job-queue/{job_queue}")
            };
            for status in ["SUCCEEDED", "FAILED"] {
                let mut ev = fixture("batch-job-state-change.json");
                ev["detail"]["jobQueue"] = arn.clone().into();
                ev["detail"]["status"] = status.into();
                matching.push(ev);
            }
            let mut running = matching[0].clone();
            running["detail"]["status"] = "RUNNING".into();
            not_matching.push(running);
            let mut other = matching[0].clone();
            other["detail"]["jobQueue"] = format!("{arn}-other").into();
            not_matching.push(other);
        }
    }
    (matching, not_matching)
}

/// `Fn::Sub`'s text and its variables.
fn sub_parts(v: &Value) -> (&str, &Value) {
    let parts = v["Fn::Sub"].as_array().unwrap();
    (parts[0].as_str().unwrap(), &parts[1])
}

#[test]
fn every_rule_pattern_matches_exactly_the_events_the_parser_turns_into_that_scenarios_check() {
    let mut rules_seen = 0;
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let rules = resources_of_type(&template, "AWS::Events::Rule");
        for sc in &cfg.scenarios {
            let own: Vec<&Value> = rules
                .iter()
                .filter(|(_, r)| {
                    r["Properties"]["Description"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("nightshift {}:", sc.name))
                })
                .map(|(_, r)| &r["Properties"]["EventPattern"])
                .collect();
            assert_eq!(
                own.is_empty(),
                sc.completion.is_empty(),
                "{source}: {}",
                sc.name
            );
            for pattern in &own {
                assert!(
                    pattern.to_string().len() <= MAX_EVENT_PATTERN_CHARS,
                    "{source}: {pattern}"
                );
            }
            for matcher in &sc.completion {
                let (matching, not_matching) = samples(matcher);
                for ev in &matching {
                    assert!(
                        own.iter().any(|p| pattern_matches(p, ev)),
                        "{source}: {}'s rules should match {ev}",
                        sc.name
                    );
                    assert_eq!(checked_scenario(&cfg, ev), Some(sc.name.as_str()));
                }
                for ev in &not_matching {
                    assert!(
                        !own.iter().any(|p| pattern_matches(p, ev)),
                        "{source}: {ev} should not match"
                    );
                    assert_eq!(checked_scenario(&cfg, ev), None, "the parser agrees");
                }
            }
        }
        rules_seen += rules.len();

        // One permission for all of the stack's rules, bound to their name prefix and the account.
        let permissions = resources_of_type(&template, "AWS::Lambda::Permission");
        if rules.is_empty() {
            assert!(permissions.is_empty(), "{source}");
            continue;
        }
        assert_eq!(permissions.len(), 1, "{source}");
        let permission = &permissions[0].1["Properties"];
        assert_eq!(permission["Principal"], "events.amazonaws.com");
        assert_eq!(
            permission["SourceAccount"],
            serde_json::json!({"Ref": "AWS::AccountId"})
        );
        let (arn, arn_vars) = sub_parts(&permission["SourceArn"]);
        let prefix = arn
            .strip_prefix("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/")
            .and_then(|p| p.strip_suffix('*'))
            .unwrap();
        assert_eq!(prefix, format!("{RULE_NAME_PREFIX}${{StackKey}}-"));
        let mut names = std::collections::BTreeSet::new();
        for (id, rule) in &rules {
            let (name, vars) = sub_parts(&rule["Properties"]["Name"]);
            assert_eq!(vars, arn_vars, "{id}: the permission's stack key");
            assert!(name.starts_with(prefix), "{id}: {name}");
            // The stack key is eight hex digits in the real name.
            let real = name.replace("${StackKey}", "0123abcd");
            assert!(real.len() <= 64, "{id}: {real}");
            assert!(
                real.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{id}: {real}"
            );
            assert!(names.insert(real), "{id}: two rules share a name");
            assert_eq!(
                rule["Properties"]["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0],
                "CompletionDeadLetterQueue"
            );
        }
        let dlq_policy = &template["Resources"]["CompletionDeadLetterQueuePolicy"]["Properties"];
        let condition = &dlq_policy["PolicyDocument"]["Statement"][0]["Condition"];
        assert_eq!(
            condition["ArnLike"]["aws:SourceArn"],
            permission["SourceArn"]
        );
    }
    assert!(rules_seen >= 4, "the configs cover ECS and Batch rules");
}

fn statements(policy: &Value) -> Vec<&Value> {
    policy["Statement"].as_array().unwrap().iter().collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(m) if m.contains_key("Fn::Sub") => strings(&m["Fn::Sub"]),
        other => vec![other.to_string()],
    }
}

#[test]
fn the_function_role_is_the_iam_policy_plus_logs_and_no_wildcard_beyond_what_aws_requires() {
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let role = &template["Resources"]["FunctionRole"]["Properties"];
        let policies = role["Policies"].as_array().unwrap();
        let nightshift = &policies[0]["PolicyDocument"];
        let plain = iam::policy(
            &cfg,
            &iam::Target {
                partition: "${AWS::Partition}".into(),
                region: "${AWS::Region}".into(),
                account: "${AWS::AccountId}".into(),
            },
        );
        assert_eq!(
            statements(nightshift).len(),
            statements(&plain).len(),
            "{source}"
        );
        let mut invokers = 0;
        for policy in policies {
            for st in statements(&policy["PolicyDocument"]) {
                let actions = strings(&st["Action"]);
                let resources = strings(&st["Resource"]);
                assert!(
                    actions.iter().all(|a| !a.starts_with("iam:")),
                    "{source}: {actions:?}"
                );
                if resources.iter().any(|r| r == "*") {
                    // AWS offers no resource-level permission for these three reads.
                    for a in &actions {
                        assert!(
                            [
                                "cloudwatch:GetMetricData",
                                "application-autoscaling:DescribeScalableTargets",
                                "ecs:DescribeTaskDefinition"
                            ]
                            .contains(&a.as_str()),
                            "{source}: {a} on *"
                        );
                    }
                }
                if actions.iter().any(|a| a == "rds:DeleteDBInstance") {
                    assert!(
                        st["Condition"]["StringEquals"]["aws:ResourceTag/nightshift:scenario"]
                            .is_array(),
                        "{source}: delete only with the tag condition"
                    );
                }
                invokers += actions.iter().filter(|a| a.starts_with("lambda:")).count();
            }
        }
        assert_eq!(invokers, 0, "{source}: the function cannot invoke anything");
        // The scheduler role may invoke only this function.
        if let Some(sched) = template["Resources"].get("SchedulerRole") {
            let st = statements(&sched["Properties"]["Policies"][0]["PolicyDocument"]);
            let invoke: Vec<_> = st
                .iter()
                .filter(|s| strings(&s["Action"]).contains(&"lambda:InvokeFunction".to_string()))
                .collect();
            assert_eq!(invoke.len(), 1);
            assert_eq!(
                invoke[0]["Resource"],
                serde_json::json!([{"Fn::GetAtt": ["Function", "Arn"]}])
            );
        }
    }
}

#[test]
fn the_function_environment_uses_no_reserved_name_and_carries_the_config_digest() {
    const RESERVED_PREFIXES: [&str; 2] = ["AWS_", "LAMBDA_"];
    const RESERVED: [&str; 3] = ["_HANDLER", "_X_AMZN_TRACE_ID", "TZ"];
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let function = &template["Resources"]["Function"]["Properties"];
        let vars = function["Environment"]["Variables"].as_object().unwrap();
        for name in vars.keys() {
            assert!(
                !RESERVED.contains(&name.as_str())
                    && RESERVED_PREFIXES.iter().all(|p| !name.starts_with(p)),
                "{source}: reserved {name}"
            );
            assert!(
                name.starts_with("NIGHTSHIFT_") || name == "APP_ENV",
                "{name}"
            );
        }
        assert_eq!(
            vars["NIGHTSHIFT_CONFIG_SHA256"],
            config::digest(text.as_bytes()).as_str()
        );
        assert_eq!(cfg.digest, config::digest(text.as_bytes()));
        assert_eq!(function["PackageType"], "Image");
        assert_eq!(function["LoggingConfig"]["LogFormat"], "JSON");
        let invoke = &template["Resources"]["InvokeConfig"]["Properties"];
        assert!(invoke["DestinationConfig"]["OnFailure"]["Destination"].is_object());
        let table = &template["Resources"]["RunsTable"];
        assert_eq!(table["DeletionPolicy"], "Retain");
        assert_eq!(table["UpdateReplacePolicy"], "Retain");
        assert_eq!(table["Properties"]["TableName"], cfg.table.as_str());
        assert_eq!(
            table["Properties"]["TimeToLiveSpecification"]["AttributeName"],
            "expires_at"
        );
        assert_eq!(
            table["Properties"]["GlobalSecondaryIndexes"][0]["IndexName"],
            "by-time"
        );
    }
}

#[test]
fn the_table_follows_migrations_not_a_copy() {
    let cfg = config::parse(DEPLOY_CONFIG, "deploy/nightshift.toml").unwrap();
    let mut migrations = crate::migrations::embedded().unwrap();
    // A later migration that renames the TTL attribute shows up in the template.
    if let Some(MigrationOp::UpdateTimeToLive(u)) = migrations
        .iter_mut()
        .map(|m| &mut m.op)
        .find(|op| matches!(op, MigrationOp::UpdateTimeToLive(_)))
    {
        u.time_to_live_specification.attribute_name = "gone_at".into();
    }
    let t = build(&cfg, DEPLOY_IMAGE_URI, &migrations)
        .unwrap()
        .to_value();
    assert_eq!(
        t["Resources"]["RunsTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"],
        "gone_at"
    );
    let none: Vec<Migration> = Vec::new();
    assert_eq!(
        build(&cfg, DEPLOY_IMAGE_URI, &none),
        Err(TemplateError::NoTable)
    );
}

#[test]
fn every_queue_has_a_depth_alarm_and_an_output() {
    for (source, text) in configs() {
        let (_, template) = build_for(source, text);
        let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
        for (queue, _) in resources_of_type(&template, "AWS::SQS::Queue") {
            assert!(
                alarms.iter().any(
                    |(_, a)| a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
                        == queue.as_str()
                ),
                "{source}: {queue} has no depth alarm"
            );
            assert!(
                template["Outputs"]
                    .as_object()
                    .unwrap()
                    .values()
                    .any(|o| o["Value"]["Ref"] == queue.as_str()),
                "{source}: {queue} has no output"
            );
        }
        for name in [
            "FunctionErrorsAlarm",
            "FunctionThrottlesAlarm",
            "NightOverdueAlarm",
        ] {
            assert!(
                template["Resources"].get(name).is_some(),
                "{source}: {name}"
            );
        }
    }
}

#[test]
fn bad_image_uris_are_refused_with_the_expected_shape() {
    for bad in [
        "nightshift:latest",
        "docker.io/library/nightshift:1",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nightshift",
        "12345.dkr.ecr.eu-west-1.amazonaws.com/n:1",
        "",
    ] {
        assert!(
            matches!(check_image_uri(bad), Err(TemplateError::ImageUri(_))),
            "{bad}"
        );
    }
    for good in [
        DEPLOY_IMAGE_URI,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/nightshift@sha256:abcd",
    ] {
        assert_eq!(check_image_uri(good), Ok(()), "{good}");
    }
}

#[test]
fn scenario_ids_are_alphanumeric_and_unique() {
    let text = DEPLOY_CONFIG.replace("name = \"nightly-batch\"", "name = \"a-b\"");
    let mut cfg = config::parse(&text, "x.toml").unwrap();
    let mut second = cfg.scenarios[0].clone();
    second.name = "a_b".into();
    cfg.scenarios.push(second);
    assert_eq!(scenario_ids(&cfg), vec!["AB1", "AB2"]);
}

/// `n` scenarios shaped like the contract one, each on its own resources.
fn contract_like(n: usize) -> String {
    let scenario = DEPLOY_CONFIG
        .split_once("[[scenario]]")
        .map(|(_, rest)| rest)
        .unwrap();
    let mut text = String::from("table = \"many\"\n");
    for i in 0..n {
        let own = scenario
            .replace("\"nightly-batch\"", &format!("\"batch-{i}\""))
            .replace("\"batch\"", &format!("\"batch-{i}\""))
            .replace("\"batch-db\"", &format!("\"batch-db-{i}\""))
            .replace("\"nightly\"", &format!("\"nightly-{i}\""))
            .replace("nightly-job\"", &format!("nightly-job-{i}\""))
            .replace("\"nightly-queue\"", &format!("\"nightly-queue-{i}\""));
        text.push_str("[[scenario]]");
        text.push_str(&own);
    }
    text
}

#[test]
fn a_config_over_cloudformations_resource_limit_is_refused_with_the_count_and_a_fix() {
    let cfg = config::parse(&contract_like(70), "seventy.toml").unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let err = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap_err();
    let TemplateError::TooManyResources { count } = err.clone() else {
        panic!("{err:?}")
    };
    assert!(count > MAX_RESOURCES, "{count}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("hold {count} resources")),
        "{message}"
    );
    assert!(message.contains("split the scenarios"), "{message}");
}

/// Resources, schedules and bytes of one config's template.
struct Figures {
    resources: usize,
    schedules: usize,
    yaml_bytes: usize,
    json_bytes: usize,
}

fn figures(source: &str, text: &str) -> (Value, Figures) {
    let cfg = config::parse(text, source).unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let template = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap();
    let value = template.to_value();
    let f = Figures {
        resources: value["Resources"].as_object().unwrap().len(),
        schedules: resources_of_type(&value, "AWS::Scheduler::Schedule").len(),
        yaml_bytes: render(&template, Format::Yaml, &cfg).len(),
        json_bytes: render(&template, Format::Json, &cfg).len(),
    };
    eprintln!(
        "{source}: {} scenarios, {} resources ({} schedules), {} bytes YAML, {} bytes JSON",
        cfg.scenarios.len(),
        f.resources,
        f.schedules,
        f.yaml_bytes,
        f.json_bytes
    );
    (value, f)
}

#[test]
fn the_contract_config_deploys_inline_in_at_most_eight_schedules() {
    let (template, f) = figures("deploy/nightshift.toml", DEPLOY_CONFIG);
    assert!(f.schedules <= 8, "{} schedules", f.schedules);
    assert!(
        f.yaml_bytes <= MAX_INLINE_TEMPLATE_BYTES,
        "{} bytes",
        f.yaml_bytes
    );
    assert!(
        f.json_bytes <= MAX_INLINE_TEMPLATE_BYTES,
        "{} bytes",
        f.json_bytes
    );
    assert_eq!(size_note(DEPLOY_TEMPLATE), Ok(None));
    assert!(f.resources < 40, "{}", f.resources);
    assert_eq!(
        resources_of_type(&template, "AWS::Lambda::Permission").len(),
        1
    );
}

#[test]
fn ten_and_forty_contract_scenarios_fit_one_stack_deployed_through_s3() {
    for (source, text, scenarios) in [
        ("ten-scenarios.toml", TEN_SCENARIOS, 10),
        ("forty-scenarios.toml", FORTY_SCENARIOS, 40),
    ] {
        let (template, f) = figures(source, text);
        assert!(f.resources < MAX_RESOURCES, "{source}: {}", f.resources);
        // Seven schedules and one completion rule per scenario, and the stack's own resources
        // (one dashboard for every scenario among them).
        assert_eq!(f.schedules, 7 * scenarios, "{source}");
        let rules = resources_of_type(&template, "AWS::Events::Rule").len();
        assert_eq!(rules, scenarios, "{source}");
        assert_eq!(f.resources, 8 * scenarios + 21, "{source}");
        assert_eq!(
            resources_of_type(&template, "AWS::CloudWatch::Dashboard").len(),
            1
        );
        // The limits CloudFormation puts on the rest of the template.
        assert!(template["Outputs"].as_object().unwrap().len() <= 200);
        assert!(template["Parameters"].as_object().unwrap().len() <= 200);
        assert!(template["Description"].as_str().unwrap().len() <= 1024);
        for bytes in [f.yaml_bytes, f.json_bytes] {
            assert!(bytes <= MAX_S3_TEMPLATE_BYTES, "{source}: {bytes}");
            let rendered = "x".repeat(bytes);
            let note = size_note(&rendered)
                .unwrap()
                .expect("over the inline limit");
            assert!(
                note.contains("--s3-bucket") && note.contains(&bytes.to_string()),
                "{note}"
            );
        }
    }
}

#[test]
fn a_template_cloudformation_cannot_read_even_from_s3_is_refused_with_its_size() {
    let huge = "x".repeat(MAX_S3_TEMPLATE_BYTES + 1);
    let err = size_note(&huge).unwrap_err();
    assert_eq!(
        err,
        TemplateError::TooLarge {
            bytes: MAX_S3_TEMPLATE_BYTES + 1
        }
    );
    assert!(err.to_string().contains("1000001 bytes"), "{err}");
    assert_eq!(size_note(&"x".repeat(MAX_INLINE_TEMPLATE_BYTES)), Ok(None));
}

/// The template as CloudFormation deploys it with these parameter values (defaults for the
/// rest): conditions evaluated, resources whose condition is false left out, `Fn::If` resolved,
/// `AWS::NoValue` removed, parameters substituted.
fn deployed(template: &Value, values: &[(&str, &str)]) -> Value {
    let param = |name: &str| -> Option<String> {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| {
                template["Parameters"]
                    .get(name)
                    .map(|p| match &p["Default"] {
                        Value::String(v) => v.clone(),
                        other => other.to_string(),
                    })
            })
    };
    fn truth(c: &Value, conditions: &Value, param: &dyn Fn(&str) -> Option<String>) -> bool {
        let operand = |v: &Value| match v.get("Ref").and_then(Value::as_str) {
            Some(name) => param(name).unwrap(),
            None => v.as_str().unwrap().to_string(),
        };
        if let Some(eq) = c.get("Fn::Equals") {
            operand(&eq[0]) == operand(&eq[1])
        } else if let Some(not) = c.get("Fn::Not") {
            !truth(&not[0], conditions, param)
        } else if let Some(name) = c.get("Condition").and_then(Value::as_str) {
            truth(&conditions[name], conditions, param)
        } else {
            panic!("condition not modelled: {c}")
        }
    }
    let conditions = &template["Conditions"];
    let holds = |name: &str| truth(&conditions[name], conditions, &param);
    fn walk(
        v: &Value,
        holds: &dyn Fn(&str) -> bool,
        param: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Value> {
        match v {
            Value::Object(m) if m.contains_key("Fn::If") => {
                let args = m["Fn::If"].as_array().unwrap();
                let chosen = if holds(args[0].as_str().unwrap()) {
                    &args[1]
                } else {
                    &args[2]
                };
                walk(chosen, holds, param)
            }
            Value::Object(m) if m.get("Ref") == Some(&Value::from("AWS::NoValue")) => None,
            Value::Object(m)
                if m.len() == 1
                    && m.get("Ref")
                        .and_then(Value::as_str)
                        .and_then(param)
                        .is_some() =>
            {
                m["Ref"].as_str().and_then(param).map(Value::from)
            }
            Value::Object(m) => Some(Value::Object(
                m.iter()
                    .filter_map(|(k, v)| walk(v, holds, param).map(|v| (k.clone(), v)))
                    .collect(),
            )),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| walk(v, holds, param)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut out = template.clone();
    let resources = out["Resources"].as_object_mut().unwrap();
    resources.retain(|_, r| {
        r.get("Condition")
            .and_then(Value::as_str)
            .is_none_or(&holds)
    });
    for key in ["Resources", "Outputs"] {
        out[key] = walk(&out[key], &holds, &param).unwrap();
    }
    out
}

#[test]
fn the_existing_table_path_drops_the_table_and_points_everything_at_the_configs_table() {
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        let own = deployed(&template, &[]);
        assert_eq!(
            own["Resources"]["RunsTable"]["Properties"]["TableName"],
            cfg.table.as_str()
        );
        assert_eq!(
            own["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
                ["NIGHTSHIFT_TABLE"],
            serde_json::json!({"Ref": "RunsTable"})
        );

        let existing = deployed(&template, &[("UseExistingTable", "true")]);
        let resources = existing["Resources"].as_object().unwrap();
        assert!(!resources.contains_key("RunsTable"), "{source}");
        assert_eq!(
            resources.len() + 1,
            own["Resources"].as_object().unwrap().len()
        );
        // No reference to the table that is not there.
        let whole = existing.to_string();
        assert!(
            !whole.contains("RunsTable"),
            "{source}: a dangling reference"
        );
        assert_eq!(
            existing["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
                ["NIGHTSHIFT_TABLE"],
            cfg.table.as_str()
        );
        assert_eq!(
            existing["Outputs"]["TableName"]["Value"],
            cfg.table.as_str()
        );
        // The role reaches the table by the config's name either way.
        let policy = existing["Resources"]["FunctionRole"]["Properties"]["Policies"][0].to_string();
        assert!(
            policy.contains(&format!(":table/{}", cfg.table)),
            "{source}: {policy}"
        );
    }
}

#[test]
fn reserved_concurrency_is_absent_unless_the_deployer_asks_for_it() {
    let (_, template) = build_for("deploy/nightshift.toml", DEPLOY_CONFIG);
    let function = |t: &Value| t["Resources"]["Function"]["Properties"].clone();
    let default = function(&deployed(&template, &[]));
    assert!(
        default.get("ReservedConcurrentExecutions").is_none(),
        "{default}"
    );
    let reserved = function(&deployed(&template, &[("ReservedConcurrency", "4")]));
    assert_eq!(reserved["ReservedConcurrentExecutions"], "4");
    assert_eq!(template["Parameters"]["ReservedConcurrency"]["Default"], 0);
    // The comment says what a reservation buys and what it costs on a small account.
    let comment = DEPLOY_TEMPLATE
        .lines()
        .skip_while(|l| !l.contains("None by default"))
        .take(4)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        comment.contains("scaling lease") && comment.contains("10 or 50"),
        "{comment}"
    );
}

/// The name property of each resource type the templates create, if it has one of its own.
fn name_property(resource_type: &str) -> Option<&'static str> {
    match resource_type {
        "AWS::DynamoDB::Table" => Some("TableName"),
        "AWS::Lambda::Function" => Some("FunctionName"),
        "AWS::IAM::Role" => Some("RoleName"),
        "AWS::SQS::Queue" => Some("QueueName"),
        "AWS::SNS::Topic" => Some("TopicName"),
        "AWS::Logs::LogGroup" => Some("LogGroupName"),
        "AWS::CloudWatch::Alarm" => Some("AlarmName"),
        "AWS::CloudWatch::Dashboard" => Some("DashboardName"),
        "AWS::Events::Rule" | "AWS::Scheduler::Schedule" | "AWS::Scheduler::ScheduleGroup" => {
            Some("Name")
        }
        "AWS::Lambda::EventInvokeConfig"
        | "AWS::Lambda::Permission"
        | "AWS::SQS::QueuePolicy"
        | "AWS::Logs::MetricFilter" => None,
        other => panic!("resource type {other} not classified: does it fix a physical name?"),
    }
}

/// The physical names a template fixes whatever the stack: literal names. Names left to
/// CloudFormation, or built from the stack's own id, differ between stacks.
fn fixed_names(template: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (id, r) in template["Resources"].as_object().unwrap() {
        let Some(property) = name_property(r["Type"].as_str().unwrap()) else {
            continue;
        };
        match &r["Properties"][property] {
            Value::Null => {}
            Value::String(name) => out.push(name.clone()),
            Value::Object(m) if m.contains_key("Fn::Sub") => {
                let text = m["Fn::Sub"].to_string();
                assert!(
                    text.contains("AWS::StackId"),
                    "{id}: {text} is not per stack"
                );
            }
            other => panic!("{id}: name {other} not modelled"),
        }
    }
    out
}

#[test]
fn two_stacks_of_two_configs_in_one_account_fix_no_physical_name_in_common() {
    let all: Vec<(Config, Vec<String>)> = configs()
        .into_iter()
        .map(|(source, text)| {
            let (cfg, template) = build_for(source, text);
            let names = fixed_names(&template);
            // The only name a template fixes is the config's table.
            assert_eq!(names, vec![cfg.table.clone()], "{source}");
            (cfg, names)
        })
        .collect();
    for (i, (a, names_a)) in all.iter().enumerate() {
        for (b, names_b) in &all[i + 1..] {
            if a.table != b.table {
                assert!(
                    names_a.iter().all(|n| !names_b.contains(n)),
                    "{} and {}",
                    a.source,
                    b.source
                );
            }
        }
    }
}

#[test]
fn the_timeout_ends_the_dedup_lease_before_lambdas_first_retry() {
    // Model-check finding: a retry inside a crashed delivery's lease answers in-progress (a
    // success) and strands the step; the lease is the deadline plus the clock margin.
    let lease_ms = TIMEOUT_S * 1000 + crate::idempotency::CLOCK_MARGIN.as_millis() as i64;
    assert!(
        lease_ms < LAMBDA_FIRST_RETRY_DELAY_S * 1000,
        "{lease_ms} ms"
    );
    let (_, template) = build_for("deploy/nightshift.toml", DEPLOY_CONFIG);
    assert_eq!(
        template["Resources"]["Function"]["Properties"]["Timeout"],
        TIMEOUT_S
    );
}

#[test]
fn a_scenario_in_another_account_gives_the_function_role_assume_role_on_exactly_its_role() {
    let (source, text) = configs()
        .into_iter()
        .find(|(s, _)| *s == "another-account.toml")
        .unwrap();
    let (_, template) = build_for(source, text);
    let policy =
        &template["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    let assume: Vec<&Value> = statements(policy)
        .into_iter()
        .filter(|st| strings(&st["Action"]).contains(&"sts:AssumeRole".to_string()))
        .collect();
    assert_eq!(assume.len(), 1, "{policy:#}");
    assert_eq!(
        strings(&assume[0]["Resource"]),
        ["arn:aws:iam::210987654321:role/nightshift-target"]
    );
    // The other account's resources are granted by its role, not to the function.
    let text = policy.to_string();
    assert!(!text.contains("eu-batch"), "{text}");
    assert!(text.contains("service/batch/worker"), "{text}");
    assert!(template["Outputs"]["FunctionRoleArn"]["Value"].is_object());
    // Without a role_arn: no AssumeRole and no FunctionRoleArn output.
    let (_, plain) = build_for(
        "contract.toml",
        include_str!("../../integration/fixtures/config/contract.toml"),
    );
    let plain_policy =
        &plain["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    assert!(!plain_policy.to_string().contains("sts:AssumeRole"));
    assert!(plain["Outputs"]["FunctionRoleArn"].is_null());
}

#[test]
fn the_dashboard_names_only_metrics_the_emf_lines_declare_with_their_dimensions() {
    use super::dashboard::{body, named_metrics};
    let priced = include_str!("../../integration/fixtures/config/template/priced.toml");
    for (source, text) in [
        ("deploy/nightshift.toml", DEPLOY_CONFIG.to_string()),
        ("priced.toml", priced.to_string()),
        ("forty-scenarios.toml", FORTY_SCENARIOS.to_string()),
    ] {
        let cfg = config::parse(&text, source).unwrap();
        let body = body(&cfg);
        let named = named_metrics(&body);
        assert!(!named.is_empty(), "{source}");
        let declarable = crate::emf::declarable();
        for (namespace, dims, metric) in &named {
            assert_eq!(namespace, crate::emf::NAMESPACE, "{source}: {metric}");
            assert_eq!(dims, &crate::emf::DIMENSIONS, "{source}: {metric}");
            assert!(
                declarable.iter().any(|(name, _)| name == metric),
                "{source}: a widget names {metric:?}, which no EMF line declares"
            );
        }
        // Every scenario has its row; the cost graph only with prices, in their currency.
        for sc in &cfg.scenarios {
            assert!(body.contains(&format!("### {}", sc.name)), "{source}");
        }
        assert_eq!(body.contains("NightCost"), cfg.prices.is_some(), "{source}");
        if cfg.prices.is_some() {
            assert!(body.contains("cost and savings, EUR"), "{source}");
            for metric in ["ReaderHours", "ResizedHours", "DcuHours", "TaskHours"] {
                assert!(body.contains(metric), "{source}: {metric}");
            }
        }
        let widgets: Value = serde_json::from_str(&body).unwrap();
        let widgets = widgets["widgets"].as_array().unwrap();
        assert!(widgets.len() <= 500, "{source}: {} widgets", widgets.len());
        for w in widgets {
            let right = w["x"].as_u64().unwrap() + w["width"].as_u64().unwrap();
            assert!(right <= 24, "{source}: {w}");
        }
        eprintln!(
            "{source}: dashboard of {} widgets, {} bytes",
            widgets.len(),
            body.len()
        );
    }
    // A name nothing emits is caught.
    let wrong = r#"{"widgets":[{"properties":{"metrics":[[{"expression":"SUM(SEARCH('{Nightshift,scenario,step} MetricName=\"ReaderHour\" scenario=\"x\"','Sum',86400))"}]]}}]}"#;
    let named = named_metrics(wrong);
    assert_eq!(named[0].2, "ReaderHour");
    assert!(!crate::emf::declarable()
        .iter()
        .any(|(n, _)| *n == "ReaderHour"));
}

/// An Aurora-only scenario graphs its readers' hours like a DocumentDB one; a scenario of only
/// Batch and Auto Scaling (whose hours no EMF line carries) has no hours graph, never an empty one
/// (CloudWatch refuses a graph without metrics).
#[test]
fn the_dashboard_graphs_the_hours_every_kind_emits_and_no_empty_graph() {
    use super::dashboard::body;
    let contract = include_str!("../../integration/fixtures/config/contract.toml");
    let ecs = "  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 10                       # desired count while the batch runs\n  max = 20                           # guardrail: never set more than this\n";
    assert!(contract.contains(ecs));
    let aurora = contract
        .replace(ecs, "")
        .replace("[[scenario.docdb]]", "[[scenario.aurora]]");
    let workers = contract.replace(ecs, "").replace(
        "  [[scenario.docdb]]\n  cluster = \"batch-db\"\n  replicas = 3",
        "  [[scenario.batch]]\n  compute_environment = \"nightly-ce\"\n  min_vcpus = 64\n  [[scenario.asg]]\n  name = \"batch-workers\"\n  min = 4\n  max = 10\n  # replicas = 3",
    );
    let workers = workers.replace("  instance_class = \"db.r6g.large\"", "  # instance_class");
    let aurora = config::parse(&aurora, "aurora.toml").unwrap();
    let body_aurora = body(&aurora);
    assert!(body_aurora.contains("ReaderHours"), "{body_aurora}");
    assert!(!body_aurora.contains("TaskHours"), "{body_aurora}");
    let workers = config::parse(&workers, "workers.toml").unwrap();
    assert!(workers.scenarios[0].clusters().next().is_none());
    let body_workers = body(&workers);
    assert!(
        !body_workers.contains("hours above the baseline"),
        "{body_workers}"
    );
    let widgets: Value = serde_json::from_str(&body_workers).unwrap();
    for w in widgets["widgets"].as_array().unwrap() {
        if w["type"] == "metric" {
            let metrics = w["properties"]["metrics"].as_array().unwrap();
            assert!(!metrics.is_empty(), "an empty graph: {w}");
        }
    }
}

/// A config with the business calendar (two profiles, a holiday file, in New York): its
/// template holds the night's schedules and the calendar's, each sending a step command the
/// event parser accepts; and how many scenarios like it fit one stack.
#[test]
fn a_calendar_config_adds_its_profiles_schedules_within_the_limits() {
    let text = include_str!("../../integration/fixtures/config/calendar/nightshift.toml");
    let mut files = config::InMemory::default();
    files.0.insert(
        "holidays.ics".into(),
        include_bytes!("../../integration/fixtures/config/calendar/holidays.ics").to_vec(),
    );
    let cfg = config::parse_with(text, "calendar.toml", &files).unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let template = build(&cfg, DEPLOY_IMAGE_URI, &migrations)
        .unwrap()
        .to_value();
    let schedules = resources_of_type(&template, "AWS::Scheduler::Schedule");
    let sc = &cfg.scenarios[0];
    let ordinary = schedule::schedules(sc.schedule.as_ref().unwrap(), &sc.scale_down).unwrap();
    let calendar = schedule::calendar_schedules(sc);
    assert_eq!(schedules.len(), ordinary.len() + calendar.len());
    let expressions: Vec<&str> = schedules
        .iter()
        .map(|(_, r)| r["Properties"]["ScheduleExpression"].as_str().unwrap())
        .collect();
    // quarter-end at 21:30 on the last weekday of the quarter's months (no holiday falls on
    // one); month-end at 22:00 every night, because Memorial Day is Monday 2027-05-31, May's
    // last weekday: LW would fire on the holiday and miss the 28th.
    assert!(
        expressions.contains(&"cron(30 21 LW 3,6,9,12 ? *)"),
        "{expressions:?}"
    );
    assert!(
        expressions.contains(&"cron(0 22 ? * * *)"),
        "{expressions:?}"
    );
    for (_, r) in &schedules {
        let input = r["Properties"]["Target"]["Input"].as_str().unwrap();
        let sent = input.replace("<aws.scheduler.scheduled-time>", "2026-12-31T03:00:00Z");
        crate::event::parse(sent.as_bytes()).unwrap_or_else(|e| panic!("{input}: {e:?}"));
        assert!(
            r["Properties"]["ScheduleExpression"]
                .as_str()
                .unwrap()
                .len()
                <= 256
        );
    }
    let per_scenario = ordinary.len() + calendar.len() + 1;
    let fixed = template["Resources"].as_object().unwrap().len() - per_scenario;
    println!(
        "calendar scenario: {} ordinary + {} calendar schedules; {} such scenarios fit {MAX_RESOURCES} resources",
        ordinary.len(),
        calendar.len(),
        (MAX_RESOURCES - fixed) / per_scenario
    );
    assert!((MAX_RESOURCES - fixed) / per_scenario >= 25);
}
