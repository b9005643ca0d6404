//! `nightshift calendar` (pure): one line per night of a month — its profile or why it has no
//! batch, its scale-up time and deadline in local time, its targets, and what daylight saving
//! does to its times — and `validate`'s daylight-saving warnings.

use super::dst::{self, LocalTime};
use super::{night, Night};
use crate::config::{Profile, Scenario, ORDINARY};
use crate::schedule::{self, Schedule, StepRole};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use serde::Serialize;

/// One night of the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NightLine {
    pub date: Date,
    pub weekday: String,
    /// The profile's name, `ordinary`, or `skipped`.
    pub night: String,
    /// Why it is skipped: `skip date`, `holiday "…"`, `not one of days (…)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The scale-up's local time (None without a schedule, or when skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Daylight saving: a time of this night that does not exist or happens twice, and what the
    /// Scheduler and nightshift do then.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The month of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Month {
    pub scenario: String,
    pub timezone: String,
    pub month: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holidays: Option<String>,
    pub nights: Vec<NightLine>,
}

/// The nights of the month starting `first`.
pub fn month(scenario: &Scenario, first: Date) -> Month {
    let first = first.first_of_month();
    let nights = (0..first.days_in_month())
        .filter_map(|i| first.checked_add(i64::from(i).days()).ok())
        .map(|d| line(scenario, d))
        .collect();
    Month {
        scenario: scenario.name.clone(),
        timezone: scenario.timezone_name.clone(),
        month: first.strftime("%Y-%m").to_string(),
        holidays: scenario.holidays.as_ref().map(|h| h.path.clone()),
        nights,
    }
}

fn line(s: &Scenario, date: Date) -> NightLine {
    let weekday = schedule::day_name(date.weekday()).to_string();
    match night(s, date) {
        Night::Skipped(why) => NightLine {
            date,
            weekday,
            night: "skipped".into(),
            skipped: Some(why.describe(s)),
            scale_up: None,
            deadline: None,
            targets: Vec::new(),
            notes: Vec::new(),
        },
        Night::Batch(profile) => NightLine {
            date,
            weekday,
            night: profile.map_or(ORDINARY.to_string(), |p| p.name.clone()),
            skipped: None,
            scale_up: s.scale_up_of(profile).map(hm),
            deadline: Some(hm(s.deadline_of(profile))),
            targets: s.targets_of(profile),
            notes: notes(s, date, profile),
        },
    }
}

fn hm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

/// The night's schedule with its profile's times.
fn night_schedule(
    s: &Scenario,
    profile: Option<&Profile>,
) -> Option<(Schedule, crate::config::ScaleDown)> {
    let mut schedule = s.schedule.clone()?;
    if let Some(up) = profile.and_then(|p| p.scale_up) {
        schedule.scale_up = up;
    }
    let mut scale_down = s.scale_down.clone();
    scale_down.deadline = s.deadline_of(profile);
    Some((schedule, scale_down))
}

/// What daylight saving does to the night of `date` (its scale-up, checks, deadline).
pub fn notes(s: &Scenario, date: Date, profile: Option<&Profile>) -> Vec<String> {
    let tz = &s.timezone;
    let next = date.tomorrow().unwrap_or(date);
    if dst::changes(tz, date, next).is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let Some((schedule, scale_down)) = night_schedule(s, profile) else {
        // Unscheduled: only the deadline is nightshift's.
        deadline_note(tz, date, s.deadline_of(profile), &mut out);
        deadline_note(tz, next, s.deadline_of(profile), &mut out);
        return out;
    };
    let Ok(steps) = schedule::night(&schedule, &scale_down) else {
        return out;
    };
    let up = i64::from(schedule.scale_up.hour()) * 60 + i64::from(schedule.scale_up.minute());
    let mut skipped_checks: Vec<String> = Vec::new();
    let mut once_checks: Vec<String> = Vec::new();
    for st in &steps {
        let shift = (up + i64::from(st.offset_minutes)) / 1440;
        let on = date.checked_add(shift.days()).unwrap_or(date);
        let at = hm(st.at);
        match (dst::local(tz, on, st.at), st.role) {
            (LocalTime::Once(_), _) => {}
            (LocalTime::Gap { .. }, StepRole::Check) => skipped_checks.push(at),
            (LocalTime::Overlap { .. }, StepRole::Check) => once_checks.push(at),
            (LocalTime::Gap { from, to, runs_at }, role) => {
                let moved = runs_at
                    .to_zoned_datetime(tz.clone())
                    .strftime("%H:%M")
                    .to_string();
                let what = match role {
                    StepRole::ScaleUp => format!("nightshift's catch-up schedule scales up at {moved}"),
                    StepRole::DeadlineCheck => format!("the deadline is {moved} (moved by the gap) and the catch-up deadline check runs then"),
                    StepRole::OverdueCheck => format!("the catch-up overdue check runs at {moved}"),
                    _ => format!("the catch-up scale-down runs at {moved}"),
                };
                out.push(format!(
                    "{} {at} does not exist on {on} (clocks go {} to {}): the Scheduler skips it; {what}",
                    role.as_str(),
                    hm(from),
                    hm(to)
                ));
            }
            (LocalTime::Overlap { from, to, .. }, role) => {
                let what = match role {
                    StepRole::DeadlineCheck => "the deadline is its first occurrence, and the deadline check runs once, at or after it",
                    StepRole::ScaleUp => "the run opens when it fires",
                    _ => "nightshift acts once",
                };
                out.push(format!(
                    "{} {at} happens twice on {on} ({}-{} repeats): the Scheduler runs it once; {what}",
                    role.as_str(),
                    hm(from),
                    hm(to)
                ));
            }
        }
    }
    if !skipped_checks.is_empty() {
        out.push(format!(
            "{} check(s) ({}) fall in the spring-forward gap and do not run; the next check is on time",
            skipped_checks.len(),
            skipped_checks.join(", ")
        ));
    }
    if !once_checks.is_empty() {
        out.push(format!(
            "{} check(s) ({}) fall in the repeated hour and run once, not twice",
            once_checks.len(),
            once_checks.join(", ")
        ));
    }
    out
}

fn deadline_note(tz: &TimeZone, on: Date, deadline: Time, out: &mut Vec<String>) {
    match dst::local(tz, on, deadline) {
        LocalTime::Gap { runs_at, .. } => out.push(format!(
            "deadline {} does not exist on {on}: it falls at {} (moved by the gap)",
            hm(deadline),
            runs_at.to_zoned_datetime(tz.clone()).strftime("%H:%M")
        )),
        LocalTime::Overlap { .. } => out.push(format!(
            "deadline {} happens twice on {on}: the deadline is the first occurrence",
            hm(deadline)
        )),
        LocalTime::Once(_) => {}
    }
}

/// `validate`'s warnings: each batch night from `today` for twelve months with a time in a
/// daylight-saving gap or overlap, and a zone whose spring-forward day follows no weekday rule
/// (the template cannot add catch-ups for it).
pub fn dst_warnings(s: &Scenario, today: Date) -> Vec<String> {
    let Ok(end) = today.checked_add(12.months()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let changes = dst::changes(&s.timezone, today, end);
    for c in &changes {
        for d in [c.date.yesterday().unwrap_or(c.date), c.date] {
            if d < today {
                continue;
            }
            if let Night::Batch(profile) = night(s, d) {
                for n in notes(s, d, profile) {
                    let line = format!(
                        "scenario \"{}\", night of {d} ({}): {n}",
                        s.name,
                        profile.map_or(ORDINARY, |p| p.name.as_str())
                    );
                    if !out.contains(&line) {
                        out.push(line);
                    }
                }
            }
        }
    }
    if changes.iter().any(|c| c.forward)
        && dst::gap_day(&s.timezone, today).is_none()
        && !out.is_empty()
    {
        out.push(format!(
            "scenario \"{}\": {}'s spring-forward days follow no weekday rule, so `nightshift template` adds no catch-up for a time in the gap: move those times out of it",
            s.name, s.timezone_name
        ));
    }
    out
}

impl Month {
    /// The month as a table of at most 100 columns: a line per night, its targets and notes
    /// indented below it.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "calendar {} {} ({}){}\n\n",
            self.scenario,
            self.month,
            self.timezone,
            self.holidays
                .as_ref()
                .map_or(String::new(), |h| format!(", holidays from {h}"))
        );
        out.push_str(&format!(
            "{:<11}{:<5}{:<22}{:>9}{:>10}  {}\n",
            "date", "day", "night", "scale-up", "deadline", "targets"
        ));
        let mut last_targets: Option<&Vec<String>> = None;
        for n in &self.nights {
            let name = match &n.skipped {
                Some(why) => crate::text::cut(&format!("skipped: {why}"), 40),
                None => n.night.clone(),
            };
            let targets = if n.targets.is_empty() {
                String::new()
            } else if last_targets == Some(&n.targets) {
                "as above".into()
            } else {
                n.targets.join("; ")
            };
            if !n.targets.is_empty() {
                last_targets = Some(&n.targets);
            }
            let first = format!(
                "{:<11}{:<5}{:<22}{:>9}{:>10}  ",
                n.date.to_string(),
                n.weekday,
                if name.chars().count() > 21 {
                    String::new()
                } else {
                    name.clone()
                },
                n.scale_up
                    .as_deref()
                    .unwrap_or(if n.skipped.is_some() { "" } else { "-" }),
                n.deadline.as_deref().unwrap_or(""),
            );
            if name.chars().count() > 21 {
                out.push_str(&format!(
                    "{:<11}{:<5}{name}\n",
                    n.date.to_string(),
                    n.weekday
                ));
            } else {
                out.push_str(&wrap(&first, &targets));
            }
            for note in &n.notes {
                out.push_str(&wrap("             daylight saving: ", note));
            }
        }
        out
    }
}

/// `head` followed by `text` wrapped at 100 columns, continuation lines indented like `head`.
fn wrap(head: &str, text: &str) -> String {
    let width = 100usize.saturating_sub(head.chars().count()).max(30);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    let pad = " ".repeat(head.chars().count());
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        let lead = if i == 0 { head } else { pad.as_str() };
        out.push_str(format!("{lead}{l}").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_with, InMemory};

    fn scenario() -> Scenario {
        let text = include_str!("../../integration/fixtures/config/calendar/nightshift.toml");
        let mut files = InMemory::default();
        files.0.insert(
            "holidays.ics".into(),
            include_bytes!("../../integration/fixtures/config/calendar/holidays.ics").to_vec(),
        );
        parse_with(text, "nightshift.toml", &files)
            .unwrap()
            .scenarios[0]
            .clone()
    }

    fn line(m: &Month, day: i8) -> &NightLine {
        &m.nights[usize::try_from(day - 1).unwrap()]
    }

    #[test]
    fn a_month_shows_profiles_holidays_and_daylight_saving_nights() {
        let s = scenario();
        let dec = month(&s, jiff::civil::date(2026, 12, 1));
        assert_eq!(dec.nights.len(), 31);
        assert_eq!(
            line(&dec, 25).skipped.as_deref(),
            Some("holiday \"Christmas Day\"")
        );
        let eve = line(&dec, 31);
        assert_eq!(eve.night, "quarter-end");
        assert_eq!(
            (eve.scale_up.as_deref(), eve.deadline.as_deref()),
            (Some("21:30"), Some("10:00"))
        );
        assert_eq!(eve.targets[0], "docdb batch-db: replicas 8");
        assert_eq!(line(&dec, 30).night, "ordinary");
        // November: Thanksgiving, and the month-end profile on Monday the 30th.
        let nov = month(&s, jiff::civil::date(2026, 11, 1));
        assert_eq!(
            line(&nov, 26).skipped.as_deref(),
            Some("holiday \"Thanksgiving Day\"")
        );
        assert_eq!(line(&nov, 30).night, "month-end");
        assert_eq!(
            line(&nov, 30).targets[1],
            "ecs batch/worker: desired 16 (max 20)"
        );
        // The night of Oct 31 runs through the repeated hour of Nov 1.
        let oct = month(&s, jiff::civil::date(2026, 10, 1));
        assert!(
            line(&oct, 31).notes[0].contains("run once, not twice"),
            "{:?}",
            line(&oct, 31).notes
        );
        let mar = month(&s, jiff::civil::date(2026, 3, 1));
        assert!(line(&mar, 7).notes[0].contains("02:00, 02:15, 02:30, 02:45"));
        assert_eq!(line(&mar, 31).night, "quarter-end");
        let text = mar.to_text();
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }

    #[test]
    fn a_scale_up_or_deadline_in_the_gap_is_noted_with_what_happens() {
        let mut s = scenario();
        s.profiles.clear();
        s.schedule.as_mut().unwrap().scale_up = jiff::civil::time(2, 30, 0, 0);
        s.scale_down.deadline = jiff::civil::time(6, 0, 0, 0);
        let notes = notes(&s, jiff::civil::date(2026, 3, 8), None);
        assert!(notes[0].starts_with("scale-up 02:30 does not exist on 2026-03-08 (clocks go 02:00 to 03:00): the Scheduler skips it; nightshift's catch-up schedule scales up at 03:30"), "{notes:?}");
        let warnings = dst_warnings(&s, jiff::civil::date(2026, 1, 10));
        assert!(
            warnings.iter().any(|w| w.contains("night of 2026-03-08")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().all(|w| !w.contains("2027-03")),
            "twelve months only: {warnings:?}"
        );
    }
}
