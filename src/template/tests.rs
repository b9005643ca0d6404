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
    ]
}

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
        let expected: usize = cfg
            .scenarios
            .iter()
            .filter_map(|sc| {
                let sched = sc.schedule.as_ref()?;
                Some(schedule::night(sched, &sc.scale_down).unwrap().len())
            })
            .sum();
        assert_eq!(schedules.len(), expected, "{source}: one schedule per step");
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
            let keys: Vec<String> = [
                "2026-11-25T14:00:00Z",
                "2026-11-25T14:00:00Z",
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
            assert_ne!(keys[0], keys[2], "{id}: two scheduled times");
        }
    }
}

/// EventBridge's matching for the pattern features the template uses: exact strings, `suffix`,
/// and nested objects.
fn pattern_matches(pattern: &Value, event: &Value) -> bool {
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

#[test]
fn every_rule_pattern_matches_exactly_the_events_the_parser_turns_into_that_scenarios_check() {
    let mut rules_seen = 0;
    for (source, text) in configs() {
        let (cfg, template) = build_for(source, text);
        for (id, rule) in resources_of_type(&template, "AWS::Events::Rule") {
            rules_seen += 1;
            let pattern = &rule["Properties"]["EventPattern"];
            let scenario = cfg
                .scenarios
                .iter()
                .find(|sc| {
                    rule["Properties"]["Description"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("nightshift {}:", sc.name))
                })
                .unwrap();
            let (mut matching, mut not_matching) = (Vec::new(), Vec::new());
            if pattern["source"][0] == "aws.ecs" {
                let group = pattern["detail"]["group"][0].as_str().unwrap();
                let mut ev = fixture("ecs-task-state-change.json");
                ev["detail"]["group"] = group.into();
                matching.push(ev.clone());
                let mut running = ev.clone();
                running["detail"]["lastStatus"] = "RUNNING".into();
                not_matching.push(running);
                let mut other = ev.clone();
                other["detail"]["group"] = format!("{group}-other").into();
                not_matching.push(other);
            } else {
                let queues = pattern["detail"]["jobQueue"].as_array().unwrap();
                let name = queues[0].as_str().unwrap();
                let arn = if name.starts_with("arn:") {
                    name.to_string()
                } else {
                    format!("arn:aws:batch:ap-northeast-1:123456789012:job-queue/{name}")
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
            for ev in &matching {
                assert!(
                    pattern_matches(pattern, ev),
                    "{id}: sample should match {pattern}"
                );
                assert_eq!(
                    checked_scenario(&cfg, ev),
                    Some(scenario.name.as_str()),
                    "{id}"
                );
            }
            for ev in &not_matching {
                assert!(!pattern_matches(pattern, ev), "{id}: {ev} should not match");
                assert_eq!(checked_scenario(&cfg, ev), None, "{id}: the parser agrees");
            }
            // Exactly one permission, for this rule, from this account.
            let permissions: Vec<_> = resources_of_type(&template, "AWS::Lambda::Permission")
                .into_iter()
                .filter(|(_, p)| p["Properties"]["SourceArn"]["Fn::GetAtt"][0] == id.as_str())
                .collect();
            assert_eq!(permissions.len(), 1, "{id}");
            assert_eq!(
                permissions[0].1["Properties"]["Principal"],
                "events.amazonaws.com"
            );
            assert!(permissions[0].1["Properties"]["SourceAccount"].is_object());
        }
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
                    // AWS offers no resource-level permission for these two reads.
                    for a in &actions {
                        assert!(
                            [
                                "cloudwatch:GetMetricData",
                                "application-autoscaling:DescribeScalableTargets"
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

#[test]
fn a_config_over_cloudformations_resource_limit_is_refused_with_the_count_and_a_fix() {
    // Three scenarios checking every 3 minutes: each night has 172 checks, so 3 × 174 schedules.
    let mut text = String::new();
    for (i, cluster) in ["a-db", "b-db", "c-db"].iter().enumerate() {
        text.push_str(&format!(
            "[[scenario]]\nname = \"s{i}\"\ntimezone = \"UTC\"\n[[scenario.docdb]]\ncluster = \"{cluster}\"\nreplicas = 1\ninstance_class = \"db.r6g.large\"\n[scenario.scale_down]\nquiet_for = \"15m\"\ndeadline = \"07:30\"\nmin_hold = \"30m\"\n[[scenario.scale_down.metric]]\nnamespace = \"Batch\"\nname = \"Jobs\"\nstat = \"Maximum\"\nperiod = \"1m\"\nbelow = 1\n[scenario.schedule]\nscale_up = \"23:00\"\ncheck_every = \"3m\"\n"
        ));
    }
    let cfg = config::parse(&text, "dense.toml").unwrap();
    let migrations = crate::migrations::embedded().unwrap();
    let err = build(&cfg, DEPLOY_IMAGE_URI, &migrations).unwrap_err();
    let TemplateError::TooManyResources { count } = err.clone() else {
        panic!("{err:?}")
    };
    assert!(count > MAX_RESOURCES, "{count}");
    assert!(err.to_string().contains("check less often"), "{err}");
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
