use crate::config::testing::{assert_single_error, base_with, errors, with_schedule, BASE};

#[test]
fn unknown_key_lists_allowed_keys_and_suggests_near_miss() {
    assert_single_error(
        &base_with("replicas = 3", "replica = 3"),
        12,
        "scenario[0].docdb[0].replica",
        "unknown key `replica` in [[scenario.docdb]]; allowed keys here: cluster, replicas, instance_class, resize",
        "did you mean `replicas`?",
    );
}

#[test]
fn unknown_key_without_near_miss_lists_what_is_allowed() {
    assert_single_error(
        &base_with("table = \"runs\"", "table = \"runs\"\nfoo = 1"),
        2,
        "foo",
        "unknown key `foo` in the top level of the file",
        "remove `foo` or use one of: table, scenario",
    );
}

#[test]
fn missing_required_key_names_the_table() {
    assert_single_error(
        &base_with("  service = \"worker\"\n", ""),
        5,
        "scenario[0].ecs[0].service",
        "missing required key `service` in [[scenario.ecs]]",
        "add service = \"worker\" to this [[scenario.ecs]] table",
    );
    assert_single_error(
        &base_with("  deadline = \"07:30\"\n", ""),
        14,
        "scenario[0].scale_down.deadline",
        "missing required key `deadline` in [scenario.scale_down]",
        "add deadline = \"07:30\"",
    );
}

#[test]
fn wrong_type_says_what_was_found_and_expected() {
    assert_single_error(
        &base_with("desired = 10", "desired = \"10\""),
        8,
        "scenario[0].ecs[0].desired",
        "wrong type: found string \"10\", expected a whole number",
        "without quotes, e.g. desired = 10",
    );
    assert_single_error(
        &base_with("[[scenario]]", "[scenario]"),
        2,
        "scenario",
        "wrong type: found a table, expected an array of tables",
        "write [[scenario]] (double brackets)",
    );
}

#[test]
fn unquoted_deadline_is_a_type_error_with_a_quoting_hint() {
    assert_single_error(
        &base_with("deadline = \"07:30\"", "deadline = 07:30:00"),
        16,
        "scenario[0].scale_down.deadline",
        "wrong type: found an unquoted date/time, expected a quoted string",
        "put the value in double quotes, e.g. deadline = \"07:30\"",
    );
}

#[test]
fn syntax_error_is_reported_alone() {
    assert_single_error(
        &base_with("name = \"nightly\"", "name = \"nightly"),
        3,
        "",
        "TOML syntax error",
        "fix the TOML syntax",
    );
}

#[test]
fn an_unknown_key_does_not_hide_the_files_other_errors() {
    let text = base_with("table = \"runs\"", "table = \"runs\"\nfoo = 1")
        .replace("desired = 10", "desired = 30");
    let errors = errors(&text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(found, [(2, "foo"), (9, "scenario[0].ecs[0].desired")]);
    let shown = crate::config::ConfigErrors(errors.clone()).to_string();
    assert!(
        shown.contains("test.toml:2:1: foo: unknown key `foo` in the top level of the file")
            && shown.contains("hint: remove `foo` or use one of: table, scenario")
            && shown.contains(
                "test.toml:9:13: scenario[0].ecs[0].desired: desired (30) is above max (20)"
            ),
        "{shown}"
    );
}

#[test]
fn a_misspelt_key_is_reported_once_and_its_value_still_checked() {
    // `replica` is reported, not also "missing required key `replicas`"; the value is read as
    // `replicas`, so its own problem and the file's other problems still show.
    let text =
        base_with("replicas = 3", "replica = 16").replace("stat = \"Maximum\"", "stat = \"Mean\"");
    let errors = errors(&text);
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert_eq!(
        found,
        [
            (12, "scenario[0].docdb[0].replica"),
            (12, "scenario[0].docdb[0].replicas"),
            (22, "scenario[0].scale_down.metric[0].stat"),
        ]
    );
    assert!(
        errors[0].hint.contains("did you mean `replicas`?"),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[1].message.contains("replicas = 16 is above 15"),
        "{:?}",
        errors[1]
    );
    // A near miss of a key the table already has is only reported.
    let both = base_with("replicas = 3", "replicas = 3\n  replica = 3");
    let keys: Vec<String> = errors_of(&both);
    assert_eq!(keys, ["scenario[0].docdb[0].replica"]);
}

#[test]
fn unknown_keys_in_every_table_are_all_reported() {
    let mut text = BASE.to_string();
    for (after, extra) in [
        ("table = \"runs\"", "xtop = 1"),
        ("timezone = \"Asia/Tokyo\"", "xscenario = 1"),
        ("  max = 20", "  xecs = 1"),
        ("  instance_class = \"db.r6g.large\"", "  xdocdb = 1"),
        ("  missing_data = \"busy\"", "  xscale = 1"),
        ("    below = 1", "    xmetric = 1"),
        ("  group = \"family:nightly-job\"", "  xcompletion = 1"),
    ] {
        assert_eq!(text.matches(after).count(), 1, "{after}");
        text = text.replacen(after, &format!("{after}\n{extra}"), 1);
    }
    text.push_str(
        "  [scenario.schedule]\n  scale_up = \"23:00\"\n  check_every = \"10m\"\n  xschedule = 1\n",
    );
    // Free-form dimension names are not keys of nightshift's own.
    let text = text.replacen(
        "    stat = ",
        "    dimensions = { Anything = \"x\" }\n    stat = ",
        1,
    );
    assert_eq!(
        errors_of(&text),
        [
            "xtop",
            "scenario[0].xscenario",
            "scenario[0].ecs[0].xecs",
            "scenario[0].docdb[0].xdocdb",
            "scenario[0].scale_down.xscale",
            "scenario[0].scale_down.metric[0].xmetric",
            "scenario[0].completion[0].xcompletion",
            "scenario[0].schedule.xschedule",
        ]
    );
    let schedule =
        with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n  scale_upp = \"1\"\n");
    assert_eq!(errors_of(&schedule), ["scenario[0].schedule.scale_upp"]);
}

/// The keys of the errors of a rejected `text`, in order.
fn errors_of(text: &str) -> Vec<String> {
    errors(text).into_iter().map(|e| e.key).collect()
}
