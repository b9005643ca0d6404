//! The schedules a scenario's business calendar adds to its ordinary night (pure): each profile
//! with its own scale-up time or deadline, and the daylight-saving catch-ups.
//!
//! - A profile's scale-up fires on its nights where cron can say which they are: `L` for
//!   `last-day`, `LW` for `last-business-day` (and with the quarter's months for `quarter-end`),
//!   `1W` for `business-day:1`, a weekday, a date with its year. `LW` and `1W` are used only when
//!   no holiday or skip date of the scenario falls on a last (first) weekday of a month in the
//!   years checked; otherwise, and for any other rule, it fires on every one of the schedule's
//!   `days` and nightshift skips the firings of other nights ("not a month-end night"). The
//!   ordinary schedule's firing on a profile night is skipped the same way, so no night opens
//!   two runs.
//! - The profile's checks, deadline check and overdue check at the times the ordinary night has
//!   no check (before its scale-up, after its deadline), on the schedule's days: on other
//!   nights they find no open run and are answered without a read.
//! - Daylight saving: a scale-up, deadline check, overdue check or scheduled scale-down whose
//!   time falls in the zone's spring-forward gap gets a catch-up at the same time shifted by the
//!   gap, firing on the gap's day only (`cron(30 3 ? 3 1#2 *)`: 03:30 on the second Sunday of
//!   March in New York), because EventBridge Scheduler skips a time that does not exist
//!   (`calendar::dst`).

use super::{
    check_crons, minute_of_day, night, Schedule, ScheduledStep, StepRole, MINUTES_PER_DAY,
};
use crate::calendar::{dst, BusinessDays, DateRule};
use crate::config::{Profile, Scenario};
use crate::domain::Step;
use jiff::civil::{Date, Time, Weekday};
use jiff::ToSpan;

/// The first year of the years the calendar's crons are checked against (ten of them).
pub const FROM_YEAR: i16 = 2026;

/// One schedule the calendar adds: what it fires, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSchedule {
    pub step: Step,
    pub role: StepRole,
    /// The Scheduler expression (it may use `L`, `W`, `#` and a year).
    pub expression: String,
    /// What it fires and on which nights, for the schedule's description.
    pub what: String,
    /// A part of its logical id: letters and digits.
    pub key: String,
}

/// The calendar's schedules of `scenario` (none without a `[scenario.schedule]`).
pub fn calendar_schedules(scenario: &Scenario) -> Vec<CalendarSchedule> {
    let Some(ordinary) = &scenario.schedule else {
        return Vec::new();
    };
    let Ok(ordinary_steps) = night(ordinary, &scenario.scale_down) else {
        return Vec::new();
    };
    // Where the ordinary night already fires something: a profile adds checks elsewhere only.
    let mut covered: Vec<(u32, u32)> = ordinary_steps
        .iter()
        .map(|s| fire_key(ordinary, s))
        .collect();
    let mut out = Vec::new();
    // The profiles' regular checks, as steps of a night from midnight of the night's date (so
    // that the checks of every profile share crons), and the profiles that need each.
    let mut regular: Vec<ScheduledStep> = Vec::new();
    let mut regular_for: Vec<&str> = Vec::new();
    for (n, profile) in scenario.profiles.iter().enumerate() {
        if profile.scale_up.is_none() && profile.deadline.is_none() {
            continue;
        }
        let schedule = Schedule {
            scale_up: profile.scale_up.unwrap_or(ordinary.scale_up),
            ..ordinary.clone()
        };
        let mut scale_down = scenario.scale_down.clone();
        scale_down.deadline = scenario.deadline_of(Some(profile));
        let Ok(steps) = night(&schedule, &scale_down) else {
            continue;
        };
        let name = &profile.name;
        if schedule.scale_up != ordinary.scale_up {
            let (m, h) = hm(schedule.scale_up);
            for (k, (days, on)) in scale_up_days(scenario, profile).into_iter().enumerate() {
                out.push(CalendarSchedule {
                    step: Step::ScaleUp,
                    role: StepRole::ScaleUp,
                    expression: format!("cron({m} {h} {days})"),
                    what: format!(
                        "{name} scale-up at {} on {on}",
                        schedule.scale_up.strftime("%H:%M")
                    ),
                    key: format!("Profile{}ScaleUp{}", n + 1, k + 1),
                });
            }
        }
        for s in steps.iter().filter(|s| s.step == Step::Check) {
            let key = fire_key(&schedule, s);
            if covered.contains(&key) {
                continue;
            }
            covered.push(key);
            if s.role == StepRole::Check {
                regular.push(ScheduledStep {
                    offset_minutes: key.0 * MINUTES_PER_DAY + key.1,
                    ..s.clone()
                });
                if !regular_for.contains(&name.as_str()) {
                    regular_for.push(name);
                }
                continue;
            }
            let cron = super::Cron {
                minutes: vec![s.at.minute().unsigned_abs()],
                hours: vec![s.at.hour().unsigned_abs()],
                days: super::days_after(&schedule, key.0),
            };
            let role = match s.role {
                StepRole::DeadlineCheck => "DeadlineCheck",
                _ => "OverdueCheck",
            };
            out.push(CalendarSchedule {
                step: Step::Check,
                role: s.role,
                expression: cron.expression(),
                what: format!("{name} {} at {}", s.role.as_str(), s.at.strftime("%H:%M")),
                key: format!("Profile{}{role}", n + 1),
            });
        }
    }
    regular.sort_by_key(|s| s.offset_minutes);
    let from_midnight = Schedule {
        scale_up: Time::midnight(),
        ..ordinary.clone()
    };
    for (k, c) in check_crons(&regular, &from_midnight)
        .into_iter()
        .enumerate()
    {
        out.push(CalendarSchedule {
            step: Step::Check,
            role: StepRole::Check,
            expression: c.cron.expression(),
            what: format!(
                "checks {}-{} of the {} night(s), outside the ordinary night's",
                c.first().at.strftime("%H:%M"),
                c.last().at.strftime("%H:%M"),
                regular_for.join(" and ")
            ),
            key: format!("ProfileChecks{}", k + 1),
        });
    }
    out.extend(gap_catch_ups(scenario));
    out
}

/// `(day shift, wall minute)` of a step: where it fires relative to its night's date.
fn fire_key(schedule: &Schedule, s: &ScheduledStep) -> (u32, u32) {
    let at = minute_of_day(schedule.scale_up) + s.offset_minutes;
    (at / MINUTES_PER_DAY, at % MINUTES_PER_DAY)
}

/// The day fields (`day-of-month month day-of-week year`) of the profile's scale-up crons, with
/// what each says; one every-`days` firing when a rule has no exact cron.
fn scale_up_days(scenario: &Scenario, profile: &Profile) -> Vec<(String, String)> {
    let days_field = |s: &Schedule| {
        if s.days.len() == 7 {
            "*".to_string()
        } else {
            s.days
                .iter()
                .map(|d| super::day_name(*d))
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let schedule = scenario.schedule.as_ref();
    let every = || {
        let field = schedule.map_or("*".into(), days_field);
        vec![(
            format!("? * {field} *"),
            format!("every night of the schedule's days (nightshift skips those that are not {} nights)", profile.name),
        )]
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for rule in &profile.dates {
        let exact = match rule {
            DateRule::On(d) => Some((
                format!("{} {} ? {}", d.day(), d.month(), d.year()),
                d.to_string(),
            )),
            DateRule::LastDay => Some(("L * ? *".into(), "the last day of the month".into())),
            DateRule::LastBusinessDay | DateRule::BusinessDay(-1)
                if weekday_rule_exact(scenario, -1, &[]) =>
            {
                Some(("LW * ? *".into(), "the last weekday of the month".into()))
            }
            DateRule::QuarterEnd if weekday_rule_exact(scenario, -1, &[3, 6, 9, 12]) => Some((
                "LW 3,6,9,12 ? *".into(),
                "the last weekday of March, June, September and December".into(),
            )),
            DateRule::BusinessDay(1) if weekday_rule_exact(scenario, 1, &[]) => {
                Some(("1W * ? *".into(), "the first weekday of the month".into()))
            }
            DateRule::Weekday(w) => Some((
                format!("? * {} *", super::day_name(*w)),
                format!("every {}", super::day_name(*w)),
            )),
            _ => None,
        };
        match exact {
            Some(e) if !out.contains(&e) => out.push(e),
            Some(_) => {}
            None => return every(),
        }
    }
    out
}

/// Whether the first (`1`) or last (`-1`) weekday of each month of the checked years (only the
/// `months` given, all when empty) is a business day: then `1W` / `LW` fire exactly on it.
fn weekday_rule_exact(scenario: &Scenario, which: i8, months: &[i8]) -> bool {
    let days = BusinessDays::of(scenario);
    let Ok(start) = Date::new(FROM_YEAR, 1, 1) else {
        return false;
    };
    (0..120).all(|m| {
        let Ok(first) = start.checked_add(i64::from(m).months()) else {
            return true;
        };
        if !months.is_empty() && !months.contains(&first.month()) {
            return true;
        }
        let weekdays: Vec<Date> = (0..first.days_in_month())
            .filter_map(|i| first.checked_add(i64::from(i).days()).ok())
            .filter(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
            .collect();
        let pick = if which > 0 {
            weekdays.first()
        } else {
            weekdays.last()
        };
        pick.is_some_and(|d| days.is_business_day(*d))
    })
}

/// The catch-ups of the steps whose time the spring-forward gap skips.
fn gap_catch_ups(scenario: &Scenario) -> Vec<CalendarSchedule> {
    let Some(ordinary) = &scenario.schedule else {
        return Vec::new();
    };
    let Some(gap) = Date::new(FROM_YEAR, 1, 1)
        .ok()
        .and_then(|d| dst::gap_day(&scenario.timezone, d))
    else {
        return Vec::new();
    };
    let change = dst::Change {
        date: Date::ZERO,
        forward: true,
        from: gap.from,
        to: gap.to,
        minutes: gap.minutes,
    };
    let mut nights: Vec<(String, Schedule, crate::config::ScaleDown)> = vec![(
        crate::config::ORDINARY.to_string(),
        ordinary.clone(),
        scenario.scale_down.clone(),
    )];
    for p in &scenario.profiles {
        if p.scale_up.is_some() || p.deadline.is_some() {
            let mut sd = scenario.scale_down.clone();
            sd.deadline = scenario.deadline_of(Some(p));
            let sched = Schedule {
                scale_up: p.scale_up.unwrap_or(ordinary.scale_up),
                ..ordinary.clone()
            };
            nights.push((p.name.clone(), sched, sd));
        }
    }
    let mut out: Vec<CalendarSchedule> = Vec::new();
    let mut seen: Vec<(Step, u32)> = Vec::new();
    for (name, schedule, scale_down) in &nights {
        let Ok(steps) = night(schedule, scale_down) else {
            continue;
        };
        for s in steps.iter().filter(|s| s.role != StepRole::Check) {
            if !change.contains(s.at) {
                continue;
            }
            // The night this firing belongs to starts `shift` days before the gap's day.
            let shift = fire_key(schedule, s).0;
            let night_day = gap.weekday.wrapping_sub(i64::from(shift));
            if !schedule.days.contains(&night_day) {
                continue;
            }
            let moved = minute_of_day(s.at) + u32::try_from(gap.minutes).unwrap_or(60);
            if seen.contains(&(s.step, moved)) {
                continue;
            }
            seen.push((s.step, moved));
            let at = super::time_of(moved);
            let (m, h) = hm(at);
            let role_key = match s.role {
                StepRole::ScaleUp => "ScaleUp",
                StepRole::ScaleDown => "ScaleDown",
                StepRole::DeadlineCheck => "DeadlineCheck",
                _ => "OverdueCheck",
            };
            out.push(CalendarSchedule {
                step: s.step,
                role: s.role,
                expression: format!("cron({m} {h} {} *)", gap.cron_days()),
                what: format!(
                    "{name} {} at {} moved to {} on the spring-forward day ({} does not exist then)",
                    s.role.as_str(),
                    s.at.strftime("%H:%M"),
                    at.strftime("%H:%M"),
                    change.window()
                ),
                key: format!("Dst{role_key}{}", at.strftime("%H%M")),
            });
        }
    }
    out
}

fn hm(t: Time) -> (i8, i8) {
    (t.minute(), t.hour())
}

#[cfg(test)]
mod tests {
    //! The calendar's schedules, and the nights they make when EventBridge Scheduler fires them
    //! as its guide says: a time in a spring-forward gap is skipped, one in an overlap runs once.
    use super::*;
    use crate::night::{self, Decision, Facts, Ruling, RunFacts};
    use jiff::Timestamp;

    use crate::calendar::testing::{scenario, CHRISTMAS as ICS, MONTH_END, WEEKDAYS};

    fn expressions(s: &Scenario) -> Vec<(String, String)> {
        calendar_schedules(s)
            .into_iter()
            .map(|c| (c.key, c.expression))
            .collect()
    }

    #[test]
    fn a_month_end_profile_fires_on_lw_when_no_holiday_moves_it_and_daily_otherwise() {
        let s = scenario("America/New_York", WEEKDAYS, "07:30", MONTH_END, ICS);
        let e = expressions(&s);
        assert_eq!(
            e[0],
            ("Profile1ScaleUp1".into(), "cron(0 22 LW * ? *)".into())
        );
        // Its checks before the ordinary night, its deadline check and overdue check after it.
        assert!(
            e.contains(&(
                "ProfileChecks1".into(),
                "cron(10/10 22 ? * MON-FRI *)".into()
            )),
            "{e:?}"
        );
        assert!(
            e.contains(&(
                "Profile1DeadlineCheck".into(),
                "cron(0 9 ? * TUE-SAT *)".into()
            )),
            "{e:?}"
        );
        assert!(
            e.contains(&(
                "Profile1OverdueCheck".into(),
                "cron(30 9 ? * TUE-SAT *)".into()
            )),
            "{e:?}"
        );
        // A holiday on a month's last weekday (New Year's Eve) moves the last business day.
        let eve = ICS
            .replace("20201225", "20201231")
            .replace("Christmas Day", "New Year's Eve");
        let s = scenario("America/New_York", WEEKDAYS, "07:30", MONTH_END, &eve);
        assert_eq!(
            expressions(&s)[0],
            (
                "Profile1ScaleUp1".into(),
                "cron(0 22 ? * MON,TUE,WED,THU,FRI *)".into()
            )
        );
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_gets_a_catch_up_on_the_gap_day_in_each_zone() {
        let every_day = |up: &str| format!("  scale_up = \"{up}\"\n  check_every = \"15m\"\n");
        let ny = scenario("America/New_York", &every_day("02:30"), "06:30", "", ICS);
        assert_eq!(
            expressions(&ny),
            [(
                "DstScaleUp0330".to_string(),
                "cron(30 3 ? 3 1#2 *)".to_string()
            )]
        );
        let london = scenario("Europe/London", &every_day("23:00"), "01:30", "", ICS);
        assert_eq!(
            expressions(&london),
            [(
                "DstDeadlineCheck0230".to_string(),
                "cron(30 2 ? 3 1L *)".to_string()
            ),]
        );
        let sydney = scenario("Australia/Sydney", &every_day("22:00"), "02:15", "", ICS);
        let e = expressions(&sydney);
        assert_eq!(
            e[0],
            (
                "DstDeadlineCheck0315".to_string(),
                "cron(15 3 ? 10 1#1 *)".to_string()
            )
        );
        // The overdue check at 02:45 is in the gap too.
        assert_eq!(
            e[1],
            (
                "DstOverdueCheck0345".to_string(),
                "cron(45 3 ? 10 1#1 *)".to_string()
            )
        );
        let tokyo = scenario("Asia/Tokyo", &every_day("02:30"), "06:30", "", ICS);
        assert!(expressions(&tokyo).is_empty());
    }

    // -----------------------------------------------------------------------------------------
    // The Scheduler, as its user guide describes it.
    // -----------------------------------------------------------------------------------------

    fn num_field(field: &str, lo: u8, hi: u8, value: &dyn Fn(&str) -> Option<u8>) -> Vec<u8> {
        super::super::parse_field(field, lo, hi, value).unwrap()
    }

    /// Whether a cron expression's day fields select `date` (Quartz/EventBridge semantics for
    /// the forms nightshift writes: lists, ranges, steps, `L`, `LW`, `NW`, `D#n`, `DL`, a year).
    fn day_fires(expr: &str, date: Date) -> (Vec<u8>, Vec<u8>, bool) {
        let inner = expr
            .strip_prefix("cron(")
            .unwrap()
            .strip_suffix(')')
            .unwrap();
        let f: Vec<&str> = inner.split(' ').collect();
        let minutes = num_field(f[0], 0, 59, &|v| v.parse().ok());
        let hours = num_field(f[1], 0, 23, &|v| v.parse().ok());
        let month_ok = f[3] == "*"
            || num_field(f[3], 1, 12, &|v| v.parse().ok()).contains(&(date.month() as u8));
        let year_ok = f[5] == "*" || f[5].parse::<i16>().unwrap() == date.year();
        let weekdays: Vec<Date> = (0..date.days_in_month())
            .map(|i| {
                date.first_of_month()
                    .checked_add(i64::from(i).days())
                    .unwrap()
            })
            .filter(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
            .collect();
        let dom_ok = match f[2] {
            "?" | "*" => true,
            "L" => date == date.last_of_month(),
            "LW" => Some(&date) == weekdays.last(),
            w if w.ends_with('W') => {
                assert_eq!(w, "1W", "only 1W is written");
                Some(&date) == weekdays.first()
            }
            list => num_field(list, 1, 31, &|v| v.parse().ok()).contains(&(date.day() as u8)),
        };
        let dow_number = date.weekday().to_sunday_one_offset() as u8;
        let dow_ok = match f[4] {
            "?" | "*" => true,
            d if d.contains('#') => {
                let (day, n) = d.split_once('#').unwrap();
                day.parse::<u8>().unwrap() == dow_number
                    && (date.day() - 1) / 7 + 1 == n.parse::<i8>().unwrap()
            }
            d if d.ends_with('L') => {
                d.trim_end_matches('L').parse::<u8>().unwrap() == dow_number
                    && date.day() + 7 > date.days_in_month()
            }
            list => num_field(list, 1, 7, &|v| {
                v.parse().ok().or_else(|| {
                    crate::schedule::DAY_NAMES
                        .iter()
                        .position(|(n, _)| *n == v)
                        .map(|i| i as u8 + 1)
                })
            })
            .contains(&dow_number),
        };
        (minutes, hours, month_ok && year_ok && dom_ok && dow_ok)
    }

    /// Every scale-up firing of the scenario's template schedules between `from` and `to`, as
    /// the Scheduler makes them: skipped in a gap, once (the earlier) in an overlap.
    fn scale_up_firings(s: &Scenario, from: Date, to: Date) -> Vec<Timestamp> {
        firings(s, Step::ScaleUp, from, to)
    }

    fn firings(s: &Scenario, step: Step, from: Date, to: Date) -> Vec<Timestamp> {
        let ordinary =
            super::super::schedules(s.schedule.as_ref().unwrap(), &s.scale_down).unwrap();
        let mut exprs: Vec<String> = ordinary
            .iter()
            .filter(|n| n.step == step)
            .map(|n| n.cron.expression())
            .collect();
        exprs.extend(
            calendar_schedules(s)
                .into_iter()
                .filter(|c| c.step == step)
                .map(|c| c.expression),
        );
        let mut out = Vec::new();
        let mut date = from;
        while date <= to {
            for e in &exprs {
                let (minutes, hours, on) = day_fires(e, date);
                if !on {
                    continue;
                }
                for h in &hours {
                    for m in &minutes {
                        let t = Time::new(*h as i8, *m as i8, 0, 0).unwrap();
                        match dst::local(&s.timezone, date, t) {
                            dst::LocalTime::Once(at) => out.push(at),
                            dst::LocalTime::Gap { .. } => {}
                            dst::LocalTime::Overlap { earlier, .. } => out.push(earlier),
                        }
                    }
                }
            }
            date = date.tomorrow().unwrap();
        }
        out.sort();
        out
    }

    /// The scale-ups that open a run: `night::decide` on each firing with no run open.
    fn opened(s: &Scenario, firings: &[Timestamp]) -> Vec<(Date, String)> {
        firings
            .iter()
            .filter_map(|at| {
                let facts = Facts {
                    scenario: s,
                    step: Step::ScaleUp,
                    force: false,
                    now: *at,
                    pause: None,
                    hold: None,
                    run: RunFacts::None,
                    dry_run: false,
                    scheduled_time: Some(*at),
                };
                match night::decide(&facts) {
                    Ruling::Decided(Decision::OpenRun { profile }) => Some((
                        at.to_zoned_datetime(s.timezone.clone()).date(),
                        profile.map_or("ordinary".into(), |p| p.name),
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn every_batch_night_of_a_year_opens_exactly_one_run_with_its_profile_in_three_zones() {
        for zone in ["America/New_York", "Europe/London", "Australia/Sydney"] {
            for up in ["23:00", "02:30", "01:30"] {
                let schedule = format!("  scale_up = \"{up}\"\n  check_every = \"10m\"\n");
                let deadline = if up == "23:00" { "07:30" } else { "06:30" };
                let profile = if up == "23:00" { MONTH_END } else { "" };
                let s = scenario(zone, &schedule, deadline, profile, ICS);
                let (from, to) = (
                    jiff::civil::date(2026, 1, 1),
                    jiff::civil::date(2026, 12, 31),
                );
                let opened = opened(&s, &scale_up_firings(&s, from, to));
                let mut want = Vec::new();
                let mut d = from;
                while d <= to {
                    if let crate::calendar::Night::Batch(p) = crate::calendar::night(&s, d) {
                        want.push((d, p.map_or("ordinary".to_string(), |p| p.name.clone())));
                    }
                    d = d.tomorrow().unwrap();
                }
                assert_eq!(opened, want, "{zone} scale-up {up}");
            }
        }
    }

    #[test]
    fn every_night_has_a_check_at_or_after_its_deadline_within_the_hour_in_three_zones() {
        for (zone, deadline) in [
            ("America/New_York", "02:30"),
            ("Europe/London", "01:30"),
            ("Australia/Sydney", "02:15"),
            ("Europe/London", "01:10"),
        ] {
            let schedule = "  scale_up = \"23:00\"\n  check_every = \"30m\"\n";
            let s = scenario(zone, schedule, deadline, "", ICS);
            let (from, to) = (
                jiff::civil::date(2026, 1, 1),
                jiff::civil::date(2026, 12, 31),
            );
            let checks = firings(&s, Step::Check, from, to.tomorrow().unwrap());
            for up in scale_up_firings(&s, from, to) {
                let due = crate::gate::deadline_instant(&s.timezone, s.scale_down.deadline, up);
                let by = due
                    .checked_add(jiff::SignedDuration::from_mins(60))
                    .unwrap();
                assert!(
                    checks.iter().any(|c| *c >= due && *c <= by),
                    "{zone}: the night scaled up at {up} has no check between its deadline {due} and an hour later"
                );
            }
        }
    }
}
