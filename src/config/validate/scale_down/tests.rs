use crate::config::testing::{assert_single_error, base_with, errors, BASE};

#[test]
fn bad_duration_shows_value_and_accepted_forms() {
    assert_single_error(
        &base_with("quiet_for = \"15m\"", "quiet_for = \"15\""),
        15,
        "scenario[0].scale_down.quiet_for",
        "bad duration: \"15\" has no unit",
        "quiet_for = \"15m\"",
    );
    let e = &errors(&base_with("min_hold = \"30m\"", "min_hold = \"30 min\""))[0];
    assert!(
        e.message.contains("\"30s\", \"15m\", \"2h\""),
        "{}",
        e.message
    );
}

#[test]
fn zero_quiet_for_is_rejected() {
    assert_single_error(
        &base_with("quiet_for = \"15m\"", "quiet_for = \"0m\""),
        15,
        "scenario[0].scale_down.quiet_for",
        "quiet_for is zero",
        "positive duration",
    );
}

#[test]
fn bad_deadline_expects_hh_mm() {
    for bad in ["7.30", "24:00", "07:60", "07:30:00", "0730", ""] {
        assert_single_error(
            &base_with("deadline = \"07:30\"", &format!("deadline = \"{bad}\"")),
            16,
            "scenario[0].scale_down.deadline",
            &format!("bad deadline \"{bad}\": expected a local time of day as HH:MM"),
            "deadline = \"07:30\"",
        );
    }
}

#[test]
fn empty_metric_list_is_rejected() {
    let text = BASE.replace(
        "    [[scenario.scale_down.metric]]\n    namespace = \"Batch\"\n    name = \"JobsRunning\"\n    stat = \"Maximum\"\n    period = \"1m\"\n    below = 1\n",
        "",
    );
    assert_ne!(text, BASE);
    assert_single_error(
        &text,
        14,
        "scenario[0].scale_down.metric",
        "no [[scenario.scale_down.metric]]",
        "add a [[scenario.scale_down.metric]] table",
    );
}

#[test]
fn unknown_missing_data_value_is_rejected() {
    assert_single_error(
        &base_with("missing_data = \"busy\"", "missing_data = \"Busy\""),
        18,
        "scenario[0].scale_down.missing_data",
        "unknown missing_data value \"Busy\"",
        "did you mean \"busy\"? use \"busy\"",
    );
}

#[test]
fn unknown_completion_source_names_the_two_allowed() {
    assert_single_error(
        &base_with("source = \"aws.ecs\"", "source = \"aws.lambda\""),
        26,
        "scenario[0].completion[0].source",
        "unknown completion source \"aws.lambda\": only \"aws.ecs\" and \"aws.batch\"",
        "source = \"aws.batch\" with job_queue",
    );
}

#[test]
fn completion_source_needs_its_own_key_only() {
    assert_single_error(
        &base_with("  group = \"family:nightly-job\"\n", ""),
        25,
        "scenario[0].completion[0].group",
        "completion source \"aws.ecs\" needs `group`",
        "add group = \"family:nightly-job\"",
    );
    let text = base_with(
        "source = \"aws.ecs\"",
        "source = \"aws.batch\"\n  job_queue = \"nightly-queue\"",
    );
    assert_single_error(
        &text,
        28,
        "scenario[0].completion[0].group",
        "group does not apply to source \"aws.batch\"",
        "remove group",
    );
}

#[test]
fn unknown_statistic_is_rejected_with_suggestion() {
    assert_single_error(
        &base_with("stat = \"Maximum\"", "stat = \"Max\""),
        22,
        "scenario[0].scale_down.metric[0].stat",
        "unknown statistic \"Max\"",
        "did you mean \"Maximum\"? use one of SampleCount, Average, Sum, Minimum, Maximum",
    );
    assert_single_error(
        &base_with("stat = \"Maximum\"", "stat = \"p101\""),
        22,
        "scenario[0].scale_down.metric[0].stat",
        "unknown statistic \"p101\"",
        "\"p99\"",
    );
}

#[test]
fn metric_period_must_be_whole_minutes() {
    assert_single_error(
        &base_with("period = \"1m\"", "period = \"90s\""),
        23,
        "scenario[0].scale_down.metric[0].period",
        "period 1m30s is not a multiple of 60s",
        "whole minutes",
    );
    assert_single_error(
        &base_with("period = \"1m\"", "period = \"30s\""),
        23,
        "scenario[0].scale_down.metric[0].period",
        "period 30s is below 1m",
        "whole minutes",
    );
}

#[test]
fn quiet_for_shorter_than_a_period_is_rejected() {
    let text = base_with("period = \"1m\"", "period = \"5m\"")
        .replace("quiet_for = \"15m\"", "quiet_for = \"2m\"");
    assert_single_error(
        &text,
        15,
        "scenario[0].scale_down.quiet_for",
        "quiet_for (2m) is shorter than one period (5m) of metric[0]",
        "at least \"5m\"",
    );
}

#[test]
fn non_finite_threshold_is_rejected() {
    assert_single_error(
        &base_with("below = 1", "below = nan"),
        24,
        "scenario[0].scale_down.metric[0].below",
        "below must be a finite number, not NaN",
        "below = 1",
    );
}
