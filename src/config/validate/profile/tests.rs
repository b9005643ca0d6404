//! Profiles and holidays: validation errors with their line and fix, and what a valid one reads.

use crate::calendar::{self, Night, NoBatch};
use crate::config::testing::BASE;
use crate::config::{parse_with, ConfigError, InMemory, TargetId, TargetKind};
use jiff::civil::date;

const SCHEDULE: &str = "  [scenario.schedule]\n  scale_up = \"23:00\"\n  check_every = \"10m\"\n  days = [\"MON\", \"TUE\", \"WED\", \"THU\", \"FRI\"]\n";

use crate::calendar::testing::CHRISTMAS as ICS;

/// BASE with a schedule, `holidays = "holidays.ics"` and these profile lines (line 33 is the
/// first profile line).
fn config(profile: &str) -> String {
    let with_holidays = BASE.replacen(
        "timezone = \"Asia/Tokyo\"\n",
        "timezone = \"Asia/Tokyo\"\nholidays = \"holidays.ics\"\n",
        1,
    );
    format!("{with_holidays}{SCHEDULE}{profile}")
}

fn files(ics: &str) -> InMemory {
    let mut f = InMemory::default();
    f.0.insert("holidays.ics".into(), ics.as_bytes().to_vec());
    f
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_with(text, "test.toml", &files(ICS)) {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e.0,
    }
}

const MONTH_END: &str = r#"  [[scenario.profile]]
  name = "month-end"
  dates = ["last-business-day"]
  scale_up = "22:00"
  deadline = "09:00"
    [[scenario.profile.docdb]]
    cluster = "batch-db"
    replicas = 6
    [[scenario.profile.ecs]]
    cluster = "batch"
    service = "worker"
    desired = 20
"#;

#[test]
fn a_profile_and_a_holiday_file_read_into_the_scenario_and_its_nights() {
    let cfg = parse_with(&config(MONTH_END), "test.toml", &files(ICS)).unwrap();
    let s = &cfg.scenarios[0];
    assert_eq!(s.profiles.len(), 1);
    let p = &s.profiles[0];
    assert_eq!(p.scale_up, Some(jiff::civil::time(22, 0, 0, 0)));
    assert_eq!(
        p.targets[0].target,
        TargetId {
            kind: TargetKind::DocDb,
            name: "batch-db".into()
        }
    );
    // December 2026: the 25th is Christmas, the 31st a Thursday, the month-end night.
    assert_eq!(
        calendar::night(s, date(2026, 12, 25)),
        Night::Skipped(NoBatch::Holiday("Christmas Day".into()))
    );
    assert_eq!(
        calendar::night(s, date(2026, 12, 31)),
        Night::Batch(Some(p))
    );
    assert_eq!(calendar::night(s, date(2026, 12, 30)), Night::Batch(None));
    assert_eq!(
        calendar::night(s, date(2026, 12, 26)),
        Night::Skipped(NoBatch::NotOneOfDays)
    );
    let night = s.for_night(Some(&p.night()));
    assert_eq!(night.docdb[0].replicas, 6);
    assert_eq!(night.ecs[0].desired, 20);
    assert_eq!(night.scale_down.deadline, jiff::civil::time(9, 0, 0, 0));
    assert_eq!(s.docdb[0].replicas, 3);
}

#[test]
fn the_holiday_file_is_part_of_the_digest() {
    let a = parse_with(&config(""), "test.toml", &files(ICS)).unwrap();
    let other = ICS.replace("Christmas Day", "Noel");
    let b = parse_with(&config(""), "test.toml", &files(&other)).unwrap();
    assert_ne!(a.digest, b.digest);
    // A config without a holiday file keeps the digest of its text alone.
    assert_eq!(
        crate::config::parse(BASE, "t").unwrap().digest,
        crate::config::digest(BASE.as_bytes())
    );
}

#[test]
fn a_rule_in_another_language_names_its_line_and_the_rule_it_means() {
    let e = errors(&config(
        &MONTH_END.replace("last-business-day", "dernier-jour"),
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].line, 35);
    assert_eq!(e[0].key, "scenario[0].profile[0].dates[0]");
    assert!(e[0].message.contains("unknown date rule \"dernier-jour\""));
    assert!(
        e[0].hint.contains("did you mean \"last-day\""),
        "{}",
        e[0].hint
    );
}

#[test]
fn a_profile_that_can_never_match_is_refused() {
    for (rule, why) in [
        ("2026-02-30", "no such day"),
        ("SAT", "SAT is not one of the schedule's days"),
        ("2026-12-26", "2026-12-26 is a SAT"),
        ("2026-12-25", "the holiday \"Christmas Day\""),
    ] {
        let e = errors(&config(&MONTH_END.replace("last-business-day", rule)));
        assert_eq!(e.len(), 1, "{rule}: {e:?}");
        assert_eq!(e[0].line, 35, "{rule}");
        assert!(e[0].message.contains(why), "{rule}: {}", e[0].message);
    }
}

#[test]
fn a_target_the_scenario_does_not_have_is_refused_with_its_own_targets() {
    let e = errors(&config(
        &MONTH_END.replace("cluster = \"batch-db\"", "cluster = \"reports-db\""),
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].line, 39);
    assert!(e[0]
        .message
        .contains("\"reports-db\", which this scenario does not scale"));
    assert!(e[0].hint.contains("\"batch-db\""), "{}", e[0].hint);
    let e = errors(&config(
        &MONTH_END.replace("service = \"worker\"", "service = \"loader\""),
    ));
    assert_eq!(e[0].line, 43);
    assert!(e[0].hint.contains("\"batch/worker\""), "{}", e[0].hint);
    let e = errors(&config(&MONTH_END.replace("desired = 20", "desired = 30")));
    assert!(
        e[0].message.contains("desired 30 above max 20"),
        "{}",
        e[0].message
    );
}

#[test]
fn a_profile_always_shadowed_by_an_earlier_one_is_refused() {
    let quarter = MONTH_END
        .replace("month-end", "quarter-end")
        .replace("last-business-day", "quarter-end");
    let e = errors(&config(&format!("{MONTH_END}{quarter}")));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .contains("profile \"quarter-end\" never applies"),
        "{}",
        e[0].message
    );
    assert!(e[0].hint.contains("quarter-end before month-end"));
    // The narrower one first is fine.
    parse_with(&config(&format!("{quarter}{MONTH_END}")), "t", &files(ICS)).unwrap();
}

#[test]
fn a_profile_night_that_runs_into_the_next_is_refused() {
    let e = errors(&config(
        &MONTH_END.replace("scale_up = \"22:00\"", "scale_up = \"05:00\""),
    ));
    assert!(
        e[0].message.contains("into the ordinary nights around it"),
        "{e:?}"
    );
    let e = errors(&config(
        &MONTH_END.replace("name = \"month-end\"", "name = \"ordinary\""),
    ));
    assert!(e[0].message.contains("reserved"), "{e:?}");
}

#[test]
fn an_unreadable_malformed_or_huge_holiday_file_is_refused_with_the_limit() {
    let text = config("");
    let e = parse_with(&text, "t", &InMemory::default()).unwrap_err().0;
    assert!(
        e[0].message
            .contains("holiday file: holidays.ics does not exist"),
        "{e:?}"
    );
    assert_eq!(e[0].line, 5);
    let e = parse_with(
        &text,
        "t",
        &files("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026\n"),
    )
    .unwrap_err()
    .0;
    assert!(e[0].message.contains("line 3: DTSTART \"2026\""), "{e:?}");
    let huge = "X".repeat(10 * 1024 * 1024);
    let e = parse_with(&text, "t", &files(&huge)).unwrap_err().0;
    assert!(
        e[0].message
            .contains("10485760 bytes, over the limit of 1048576 bytes"),
        "{e:?}"
    );
    assert!(e[0].hint.contains("at most 1048576 bytes (1 MiB)"), "{e:?}");
}
