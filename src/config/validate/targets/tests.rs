use crate::config::testing::{assert_single_error, base_with, BASE};

#[test]
fn resource_names_aws_would_refuse_or_that_widen_the_policy_are_rejected() {
    assert_single_error(
        &base_with("cluster = \"batch-db\"", "cluster = \"*\""),
        11,
        "scenario[0].docdb[0].cluster",
        "\"*\" is not a valid DocumentDB cluster identifier",
        "cluster = \"batch-db\"",
    );
    assert_single_error(
        &base_with("service = \"worker\"", "service = \"../../worker\""),
        7,
        "scenario[0].ecs[0].service",
        "\"../../worker\" is not a valid ECS service name",
        "service = \"worker\"",
    );
    assert_single_error(
        &base_with("cluster = \"batch\"", "cluster = \"batch/*\""),
        6,
        "scenario[0].ecs[0].cluster",
        "not a valid ECS cluster name",
        "",
    );
    assert_single_error(
        &base_with("cluster = \"batch-db\"", "cluster = \"batch--db\""),
        11,
        "scenario[0].docdb[0].cluster",
        "without two hyphens in a row",
        "",
    );
}

#[test]
fn replicas_above_fifteen_is_rejected() {
    assert_single_error(
        &base_with("replicas = 3", "replicas = 16"),
        12,
        "scenario[0].docdb[0].replicas",
        "replicas = 16 is above 15: a DocumentDB cluster allows at most 15 reader instances",
        "set replicas to 15 or fewer",
    );
    assert_single_error(
        &base_with("replicas = 3", "replicas = -1"),
        12,
        "scenario[0].docdb[0].replicas",
        "replicas is negative (-1)",
        "from 0 to 15",
    );
}

#[test]
fn desired_above_max_is_rejected() {
    assert_single_error(
        &base_with("desired = 10", "desired = 30"),
        8,
        "scenario[0].ecs[0].desired",
        "desired (30) is above max (20)",
        "raise max to at least 30",
    );
}

#[test]
fn desired_zero_and_max_zero_are_rejected() {
    assert_single_error(
        &base_with("desired = 10", "desired = 0"),
        8,
        "scenario[0].ecs[0].desired",
        "desired is 0: the service would run no tasks",
        "1 or more",
    );
    // max = 0 alone: no second "desired above max" error piles on.
    assert_single_error(
        &base_with("max = 20", "max = 0"),
        9,
        "scenario[0].ecs[0].max",
        "max is 0",
        "at least desired",
    );
}

#[test]
fn instance_class_must_start_with_db() {
    assert_single_error(
        &base_with(
            "instance_class = \"db.r6g.large\"",
            "instance_class = \"r6g.large\"",
        ),
        13,
        "scenario[0].docdb[0].instance_class",
        "\"r6g.large\" is not a DocumentDB instance class",
        "write \"db.r6g.large\"",
    );
}

#[test]
fn instance_class_may_be_left_out_only_where_no_reader_is_added() {
    // Serverless-only: MinCapacity for the night, no reader added, no class to name.
    let serverless_only = base_with(
        "  replicas = 3\n  instance_class = \"db.r6g.large\"\n",
        "  replicas = 0\n  serverless_min = 16\n",
    );
    let config =
        crate::config::parse(&serverless_only, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let target = &config.scenarios[0].docdb[0];
    assert_eq!(
        (target.replicas, target.instance_class.as_deref()),
        (0, None)
    );
    let none_added = base_with(
        "  replicas = 3\n  instance_class = \"db.r6g.large\"\n",
        "  replicas = 0\n",
    );
    assert!(crate::config::parse(&none_added, "test.toml").is_ok());
    // Readers are added: their class is required, at the line that adds them.
    assert_single_error(
        &base_with("  instance_class = \"db.r6g.large\"\n", ""),
        12,
        "scenario[0].docdb[0].instance_class",
        "missing required key `instance_class` in [[scenario.docdb]]: replicas = 3 adds readers",
        "add instance_class = \"db.r6g.large\"",
    );
    assert_single_error(
        &base_with(
            "  replicas = 3\n  instance_class = \"db.r6g.large\"\n",
            "  replicas = 1\n  serverless_min = 16\n",
        ),
        12,
        "scenario[0].docdb[0].instance_class",
        "replicas = 1 adds readers",
        "replicas = 0",
    );
}

#[test]
fn serverless_min_and_fallback_classes_are_parsed_and_checked() {
    let text = base_with(
        "instance_class = \"db.r6g.large\"",
        "instance_class = \"db.r6g.large\"\n  serverless_min = 16\n  fallback_classes = [\"db.r6g.xlarge\", \"db.r5.large\"]",
    );
    let config = crate::config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let target = &config.scenarios[0].docdb[0];
    assert_eq!(
        target.serverless_min.map(|d| d.to_string()),
        Some("16".into())
    );
    assert_eq!(target.fallback_classes, ["db.r6g.xlarge", "db.r5.large"]);
    let half = base_with("replicas = 3", "replicas = 3\n  serverless_min = 0.5");
    let config = crate::config::parse(&half, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.scenarios[0].docdb[0]
            .serverless_min
            .map(|d| d.to_string()),
        Some("0.5".into())
    );
    for (value, message, hint) in [
        (
            "0.3",
            "is not a DocumentDB Serverless capacity",
            "write 0.5",
        ),
        ("2.25", "is not a DocumentDB Serverless capacity", "write 2"),
        (
            "0",
            "outside DocumentDB Serverless's range of 0.5 to 256",
            "from 0.5 to 256",
        ),
        (
            "300",
            "outside DocumentDB Serverless's range",
            "from 0.5 to 256",
        ),
        (
            "-2",
            "is not a DocumentDB Serverless capacity",
            "from 0.5 to 256",
        ),
    ] {
        assert_single_error(
            &base_with(
                "replicas = 3",
                &format!("replicas = 3\n  serverless_min = {value}"),
            ),
            13,
            "scenario[0].docdb[0].serverless_min",
            message,
            hint,
        );
    }
    assert_single_error(
        &base_with(
            "replicas = 3",
            "replicas = 3\n  fallback_classes = [\"r6g.xlarge\"]",
        ),
        13,
        "scenario[0].docdb[0].fallback_classes[0]",
        "not a DocumentDB instance class",
        "db.r6g.xlarge",
    );
    assert_single_error(
        &base_with(
            "replicas = 3",
            "replicas = 3\n  fallback_classes = [\"db.r6g.large\"]",
        ),
        13,
        "scenario[0].docdb[0].fallback_classes[0]",
        "is the instance_class itself",
        "",
    );
    assert_single_error(
        &base_with(
            "replicas = 3",
            "replicas = 3\n  fallback_classes = [\"db.r5.large\", \"db.r5.large\"]",
        ),
        13,
        "scenario[0].docdb[0].fallback_classes[1]",
        "listed twice",
        "",
    );
}

#[test]
fn aurora_and_neptune_take_the_docdb_keys_with_errors_naming_their_own_table() {
    let aurora = base_with("[[scenario.docdb]]", "[[scenario.aurora]]");
    let config = crate::config::parse(&aurora, "test.toml").expect("an Aurora table parses");
    let s = &config.scenarios[0];
    assert!(s.docdb.is_empty());
    assert_eq!(s.aurora[0].engine, crate::config::Engine::Aurora);
    assert_eq!(s.aurora[0].id().to_string(), "Aurora cluster batch-db");
    assert_single_error(
        &aurora.replace("replicas = 3", "replicas = 16"),
        12,
        "scenario[0].aurora[0].replicas",
        "replicas = 16 is above 15: an Aurora cluster allows at most 15 reader instances",
        "set replicas to 15 or fewer",
    );
    assert_single_error(
        &aurora.replace("  instance_class = \"db.r6g.large\"\n", ""),
        12,
        "scenario[0].aurora[0].instance_class",
        "missing required key `instance_class` in [[scenario.aurora]]",
        "to this [[scenario.aurora]] table",
    );
    let neptune = base_with("[[scenario.docdb]]", "[[scenario.neptune]]");
    assert_single_error(
        &neptune.replace("replicas = 3", "replicas = 1\n  serverless_min = 0.5"),
        13,
        "scenario[0].neptune[0].serverless_min",
        "serverless_min = 0.5 is outside Neptune Serverless's range of 1 to 128 NCUs",
        "from 1 to 128",
    );
    assert_single_error(
        &neptune.replace("  replicas = 3", "  replica = 3"),
        12,
        "scenario[0].neptune[0].replica",
        "unknown key",
        "replicas",
    );
}

#[test]
fn one_cluster_in_two_engine_tables_is_refused_at_its_second_entry() {
    let text = BASE.replace(
        "  [scenario.scale_down]",
        "  [[scenario.aurora]]\n  cluster = \"Batch-DB\"\n  replicas = 1\n  instance_class = \"db.r6g.large\"\n  [scenario.scale_down]",
    );
    assert_single_error(
        &text,
        15,
        "scenario[0].aurora[0].cluster",
        "Aurora cluster \"Batch-DB\"",
        "",
    );
}
