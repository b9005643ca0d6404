use crate::config::testing::{assert_single_error, base_with, errors, BASE};

#[test]
fn duplicate_scenario_name_points_at_the_second_and_names_the_first_line() {
    let second = BASE
        .split_once("\n")
        .map(|(_, rest)| rest)
        .unwrap()
        .replace("\"batch\"", "\"batch2\"")
        .replace("\"batch-db\"", "\"batch-db2\"");
    let text = format!("{BASE}{second}");
    // BASE has 27 lines; the second [[scenario]] starts at line 28, its name at 29.
    assert_single_error(
        &text,
        29,
        "scenario[1].name",
        "duplicate scenario name \"nightly\": already used by the scenario at line 3",
        "unique name",
    );
}

#[test]
fn no_scenario_is_rejected() {
    assert_single_error(
        "table = \"runs\"\n",
        1,
        "scenario",
        "no scenario is defined",
        "add at least one [[scenario]]",
    );
}

#[test]
fn empty_or_invalid_table_name_is_rejected() {
    assert_single_error(
        &base_with("table = \"runs\"", "table = \"\""),
        1,
        "table",
        "table name is empty",
        "nightshift-runs",
    );
    assert_single_error(
        &base_with("table = \"runs\"", "table = \"my runs\""),
        1,
        "table",
        "\"my runs\" is not a valid DynamoDB table name",
        "3 to 255 characters",
    );
}

#[test]
fn invalid_scenario_names_are_rejected() {
    let long = "a".repeat(65);
    for (bad, message) in [
        ("", "scenario name is empty"),
        ("nightly batch", "contains ' ', which is not allowed"),
        ("nightly/batch", "contains '/'"),
        (long.as_str(), "65 characters long; the limit is 64"),
    ] {
        assert_single_error(
            &base_with("name = \"nightly\"", &format!("name = \"{bad}\"")),
            3,
            "scenario[0].name",
            message,
            "A-Z, a-z, 0-9, '-' and '_'",
        );
    }
}

#[test]
fn duplicate_targets_within_a_scenario_are_rejected() {
    let ecs = "  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 1\n  max = 2\n";
    let text = base_with(
        "  [[scenario.docdb]]\n",
        &format!("{ecs}  [[scenario.docdb]]\n"),
    );
    assert_single_error(
        &text,
        12,
        "scenario[0].ecs[1].service",
        "ECS service \"worker\" in cluster \"batch\" is listed twice in this scenario (first at line 7)",
        "remove the second entry",
    );
}

#[test]
fn the_same_docdb_cluster_in_two_scenarios_is_rejected() {
    let second = "[[scenario]]\nname = \"other\"\ntimezone = \"UTC\"\n  [[scenario.docdb]]\n  cluster = \"Batch-DB\"\n  replicas = 1\n  instance_class = \"db.r6g.large\"\n  [scenario.scale_down]\n  quiet_for = \"5m\"\n  deadline = \"06:00\"\n  min_hold = \"0s\"\n    [[scenario.scale_down.metric]]\n    namespace = \"B\"\n    name = \"N\"\n    stat = \"Sum\"\n    period = \"5m\"\n    below = 0.5\n";
    assert_single_error(
        &format!("{BASE}{second}"),
        32,
        "scenario[1].docdb[0].cluster",
        "DocumentDB cluster \"Batch-DB\" is also configured in scenario \"nightly\" (line 11): two scenarios would fight",
        "one scenario only",
    );
}

#[test]
fn scenario_that_scales_nothing_is_rejected() {
    let text = BASE.replace(
        "  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 10\n  max = 20\n  [[scenario.docdb]]\n  cluster = \"batch-db\"\n  replicas = 3\n  instance_class = \"db.r6g.large\"\n",
        "",
    );
    assert_ne!(text, BASE);
    assert_single_error(
        &text,
        2,
        "scenario[0]",
        "scenario scales nothing",
        "add a [[scenario.ecs]] table",
    );
}

#[test]
fn all_semantic_errors_are_reported_in_one_pass() {
    let text = BASE
        .replace("table = \"runs\"", "table = \"\"")
        .replace("timezone = \"Asia/Tokyo\"", "timezone = \"Mars/Olympus\"")
        .replace("desired = 10", "desired = 30")
        .replace("replicas = 3", "replicas = 20")
        .replace("deadline = \"07:30\"", "deadline = \"7pm\"")
        .replace("stat = \"Maximum\"", "stat = \"Mean\"")
        .replace("source = \"aws.ecs\"", "source = \"aws.s3\"");
    let errors = errors(&text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (1, "table"),
            (4, "scenario[0].timezone"),
            (8, "scenario[0].ecs[0].desired"),
            (12, "scenario[0].docdb[0].replicas"),
            (16, "scenario[0].scale_down.deadline"),
            (22, "scenario[0].scale_down.metric[0].stat"),
            (26, "scenario[0].completion[0].source"),
        ]
    );
    assert!(errors
        .iter()
        .all(|e| !e.message.is_empty() && !e.hint.is_empty()));
}
