//! Fixtures shared by the calendar's tests across modules: the contract scenario in another zone
//! with a schedule, a holiday file and a month-end profile.

use crate::config::{self, InMemory, Scenario};

/// A holiday file of one yearly holiday.
pub const CHRISTMAS: &str = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20201225\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Christmas Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// A month-end profile: the last business day, scale-up 22:00, deadline 09:00, 6 readers.
pub const MONTH_END: &str = "  [[scenario.profile]]\n  name = \"month-end\"\n  dates = [\"last-business-day\"]\n  scale_up = \"22:00\"\n  deadline = \"09:00\"\n    [[scenario.profile.docdb]]\n    cluster = \"batch-db\"\n    replicas = 6\n";

/// A MON-FRI schedule at 23:00, every 10 minutes.
pub const WEEKDAYS: &str =
    "  scale_up = \"23:00\"\n  check_every = \"10m\"\n  days = [\"MON\", \"TUE\", \"WED\", \"THU\", \"FRI\"]\n";

/// The contract scenario in `zone` with `holidays.ics` = `ics`, the deadline `deadline`, a
/// `[scenario.schedule]` of `schedule`'s lines, and `extra` (profiles) after it.
pub fn scenario(zone: &str, schedule: &str, deadline: &str, extra: &str, ics: &str) -> Scenario {
    let text = include_str!("../../integration/fixtures/config/contract.toml")
        .replace(
            "timezone = \"Asia/Tokyo\"",
            &format!("timezone = \"{zone}\"\nholidays = \"holidays.ics\""),
        )
        .replace(
            "deadline = \"07:30\"",
            &format!("deadline = \"{deadline}\""),
        )
        + "\n  [scenario.schedule]\n"
        + schedule
        + extra;
    let mut files = InMemory::default();
    files
        .0
        .insert("holidays.ics".into(), ics.as_bytes().to_vec());
    config::parse_with(&text, "t.toml", &files)
        .unwrap_or_else(|e| panic!("{e}"))
        .scenarios[0]
        .clone()
}
