use crate::config::parse;
use crate::config::testing::{assert_single_error, base_with, errors, with_schedule, BASE};
use std::time::Duration;

#[test]
fn a_bad_day_does_not_hide_the_nights_own_errors() {
    let text = with_schedule(
        "  scale_up = \"23:00\"\n  check_every = \"2m\"\n  days = [\"MON\", \"Tues\"]\n",
    );
    let keys: Vec<String> = errors(&text).into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [
            "scenario[0].schedule.check_every",
            "scenario[0].schedule.days[1]"
        ]
    );
}

#[test]
fn a_schedule_parses_with_its_days_in_week_order_and_every_day_by_default() {
    let cfg = parse(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n  scale_down = \"6:00\"\n  days = [\"FRI\", \"MON\"]\n"),
        "test.toml",
    )
    .unwrap();
    let schedule = cfg.scenarios[0].schedule.clone().unwrap();
    assert_eq!(schedule.scale_up, jiff::civil::time(23, 0, 0, 0));
    assert_eq!(schedule.check_every, Duration::from_secs(600));
    assert_eq!(schedule.scale_down, Some(jiff::civil::time(6, 0, 0, 0)));
    assert_eq!(
        schedule.days,
        vec![jiff::civil::Weekday::Monday, jiff::civil::Weekday::Friday]
    );
    let every_day = parse(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n"),
        "test.toml",
    )
    .unwrap();
    assert_eq!(
        every_day.scenarios[0].schedule.as_ref().unwrap().days.len(),
        7
    );
    assert!(parse(BASE, "test.toml").unwrap().scenarios[0]
        .schedule
        .is_none());
}

#[test]
fn schedule_errors_name_the_line_the_key_and_the_fix() {
    let ok_times = "  scale_up = \"23:00\"\n  check_every = \"10m\"\n";
    assert_single_error(
        &with_schedule("  scale_up = \"25:00\"\n  check_every = \"10m\"\n"),
        29,
        "scenario[0].schedule.scale_up",
        "bad scale_up \"25:00\"",
        "scale_up = \"23:00\"",
    );
    assert_single_error(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"30s\"\n"),
        30,
        "scenario[0].schedule.check_every",
        "not a whole number of minutes of at least 1m",
        "check_every = \"10m\"",
    );
    assert_single_error(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"90s\"\n"),
        30,
        "scenario[0].schedule.check_every",
        "whole number of minutes",
        "whole minutes",
    );
    assert_single_error(
        &with_schedule(&format!("{ok_times}  days = [\"MON\", \"Tues\"]\n")),
        31,
        "scenario[0].schedule.days[1]",
        "unknown day \"Tues\"",
        "did you mean \"TUE\"?",
    );
    assert_single_error(
        &with_schedule(&format!("{ok_times}  days = [\"MON\", \"MON\"]\n")),
        31,
        "scenario[0].schedule.days[1]",
        "listed twice",
        "once",
    );
    assert_single_error(
        &with_schedule(&format!("{ok_times}  days = []\n")),
        31,
        "scenario[0].schedule.days",
        "days is empty",
        "remove the key for every day",
    );
    assert_single_error(
        &with_schedule("  scale_up = \"07:30\"\n  check_every = \"10m\"\n"),
        29,
        "scenario[0].schedule.scale_up",
        "the night would be empty",
        "deadline",
    );
    assert_single_error(
        &with_schedule(&format!("{ok_times}  scale_down = \"08:00\"\n")),
        31,
        "scenario[0].schedule.scale_down",
        "scale_down (08:00) is not inside the night",
        "between scale_up and the deadline",
    );
    assert_single_error(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"2m\"\n"),
        30,
        "scenario[0].schedule.check_every",
        "makes 256 checks per night",
        "check less often",
    );
    assert_single_error(
        &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n  every = \"10m\"\n"),
        31,
        "scenario[0].schedule.every",
        "every",
        "",
    );
}

#[test]
fn unknown_time_zone_suggests_iana_names() {
    assert_single_error(
        &base_with("timezone = \"Asia/Tokyo\"", "timezone = \"Tokyo\""),
        4,
        "scenario[0].timezone",
        "unknown time zone \"Tokyo\"",
        "did you mean \"Asia/Tokyo\"? use an IANA time zone name such as \"Asia/Tokyo\", \"Europe/Berlin\"",
    );
    assert_single_error(
        &base_with("timezone = \"Asia/Tokyo\"", "timezone = \"JST+9\""),
        4,
        "scenario[0].timezone",
        "unknown time zone \"JST+9\"",
        "\"Europe/Berlin\"",
    );
}

#[test]
fn skip_dates_must_be_yyyy_mm_dd() {
    let with_dates = |dates: &str| {
        base_with(
            "timezone = \"Asia/Tokyo\"\n",
            &format!("timezone = \"Asia/Tokyo\"\nskip_dates = [{dates}]\n"),
        )
    };
    assert_single_error(
        &with_dates("\"2026-12-31\", \"12/31/2026\""),
        5,
        "scenario[0].skip_dates[1]",
        "skip_dates entry \"12/31/2026\" is not a date in YYYY-MM-DD form",
        "skip_dates = [\"2026-12-31\"]",
    );
    assert_single_error(
        &with_dates("\"2026-02-30\""),
        5,
        "scenario[0].skip_dates[0]",
        "\"2026-02-30\" is not a real calendar date",
        "YYYY-MM-DD",
    );
}
