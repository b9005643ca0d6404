//! The night a `[scenario.schedule]` describes: which step runs at which local time, and the
//! EventBridge Scheduler schedules that fire them. Pure: `config` uses it to validate a schedule
//! (an empty night, too many checks), `template` to write the schedules, `status` to name the
//! next step.
//!
//! Times are wall-clock minutes in the scenario's zone, as EventBridge Scheduler reads a cron
//! expression with `ScheduleExpressionTimezone`. A step after midnight runs on the day after the
//! scale-up, so its cron carries the next day of the week.

mod calendar;
pub use calendar::{calendar_schedules, CalendarSchedule};

use crate::config::ScaleDown;
use crate::domain::Step;
use jiff::civil::{Time, Weekday};
use std::time::Duration;

/// More checks than this in one night is a mistake (a `check_every` far too short): each check is
/// an invocation with its AWS calls and an event in the run history, and completion events
/// already ask for a check the moment the batch may be done.
pub const MAX_CHECKS_PER_NIGHT: usize = 200;

/// How long after the deadline the "overdue" check runs: a night still open then raises the
/// template's overdue alarm (the check logs `alarm = "night-overdue"`, see `app`).
pub const OVERDUE_AFTER: Duration = Duration::from_secs(30 * 60);

const MINUTES_PER_DAY: u32 = 24 * 60;

/// The days of the week, in cron's spelling and order.
pub const DAY_NAMES: [(&str, Weekday); 7] = [
    ("SUN", Weekday::Sunday),
    ("MON", Weekday::Monday),
    ("TUE", Weekday::Tuesday),
    ("WED", Weekday::Wednesday),
    ("THU", Weekday::Thursday),
    ("FRI", Weekday::Friday),
    ("SAT", Weekday::Saturday),
];

/// A validated `[scenario.schedule]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Local time of the nightly scale-up.
    pub scale_up: Time,
    /// Checks run this often from `scale_up` until the deadline (whole minutes, at least 1m).
    pub check_every: Duration,
    /// Optional scheduled (not forced) scale-down.
    pub scale_down: Option<Time>,
    /// Days of the week on which the night starts (the scale-up's local day), in week order
    /// from Sunday, without repeats; all seven when the config names none.
    pub days: Vec<Weekday>,
}

/// Why a schedule's night is not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NightError {
    /// The deadline is the scale-up time: the night would last zero minutes.
    DeadlineAtScaleUp,
    /// `scale_down` is the scale-up time, or falls after the deadline.
    ScaleDownOutsideNight { night_minutes: u32 },
    /// More checks than [`MAX_CHECKS_PER_NIGHT`].
    TooManyChecks { checks: usize },
}

/// One scheduled step of the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledStep {
    pub step: Step,
    /// Minutes after the scale-up.
    pub offset_minutes: u32,
    /// Local time of day at which it runs.
    pub at: Time,
    /// What this step is for, for descriptions: "scale-up", "check", "deadline check",
    /// "overdue check", "scale-down".
    pub role: StepRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRole {
    ScaleUp,
    Check,
    /// The check at the deadline itself: it scales down whatever the metrics say.
    DeadlineCheck,
    /// The check `OVERDUE_AFTER` past the deadline: finds a night that did not close.
    OverdueCheck,
    ScaleDown,
}

impl StepRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StepRole::ScaleUp => "scale-up",
            StepRole::Check => "check",
            StepRole::DeadlineCheck => "deadline check",
            StepRole::OverdueCheck => "overdue check",
            StepRole::ScaleDown => "scale-down",
        }
    }
}

fn minute_of_day(t: Time) -> u32 {
    // hour() and minute() are in range, so the casts cannot lose anything.
    t.hour().unsigned_abs() as u32 * 60 + t.minute().unsigned_abs() as u32
}

fn time_of(minute_of_day: u32) -> Time {
    let m = minute_of_day % MINUTES_PER_DAY;
    // m < 1440, so both fit i8 and are valid.
    Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).unwrap_or(Time::midnight())
}

/// Minutes from `from` forward to `to` on the wall clock (0 when equal).
fn minutes_forward(from: Time, to: Time) -> u32 {
    (minute_of_day(to) + MINUTES_PER_DAY - minute_of_day(from)) % MINUTES_PER_DAY
}

/// Every step of one night in time order: the scale-up, a check every `check_every` before the
/// deadline, a check at the deadline (so the deadline is kept even when no check falls on it and
/// no scale-down is scheduled), an overdue check [`OVERDUE_AFTER`] later when it still falls
/// before the next night's scale-up, and the scheduled scale-down if any.
pub fn night(
    schedule: &Schedule,
    scale_down: &ScaleDown,
) -> Result<Vec<ScheduledStep>, NightError> {
    let night_minutes = minutes_forward(schedule.scale_up, scale_down.deadline);
    if night_minutes == 0 {
        return Err(NightError::DeadlineAtScaleUp);
    }
    let every = u32::try_from(schedule.check_every.as_secs() / 60)
        .unwrap_or(u32::MAX)
        .max(1);
    let step = |step, offset: u32, role| ScheduledStep {
        step,
        offset_minutes: offset,
        at: time_of(minute_of_day(schedule.scale_up) + offset),
        role,
    };
    let mut steps = vec![step(Step::ScaleUp, 0, StepRole::ScaleUp)];
    let regular = (night_minutes - 1) / every;
    // Counted before building, so that a "check_every = 1s"-like night is refused cheaply.
    let overdue = night_minutes + OVERDUE_AFTER.as_secs() as u32 / 60;
    let with_overdue = overdue < MINUTES_PER_DAY;
    let checks = regular as usize + 1 + usize::from(with_overdue);
    if checks > MAX_CHECKS_PER_NIGHT {
        return Err(NightError::TooManyChecks { checks });
    }
    for k in 1..=regular {
        steps.push(step(Step::Check, k * every, StepRole::Check));
    }
    steps.push(step(Step::Check, night_minutes, StepRole::DeadlineCheck));
    if with_overdue {
        steps.push(step(Step::Check, overdue, StepRole::OverdueCheck));
    }
    if let Some(at) = schedule.scale_down {
        let offset = minutes_forward(schedule.scale_up, at);
        if offset == 0 || offset > night_minutes {
            return Err(NightError::ScaleDownOutsideNight { night_minutes });
        }
        steps.push(step(Step::ScaleDown, offset, StepRole::ScaleDown));
    }
    steps.sort_by_key(|s| (s.offset_minutes, s.step == Step::Check));
    Ok(steps)
}

/// One EventBridge Scheduler schedule of a night: a cron expression and the steps it fires.
///
/// The scale-up, the deadline check, the overdue check and the scheduled scale-down each have
/// their own (their retry policies differ, and an operator looks for them by name); the regular
/// checks share as few crons as cron allows: one per set of hours whose checks fall on the same
/// minutes and the same days, so a night from 23:00 to 07:30 checked every 10 minutes is three
/// (23:10-23:50, 00:00-06:50, 07:00-07:20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightSchedule {
    pub step: Step,
    pub role: StepRole,
    pub cron: Cron,
    /// The night's steps this schedule fires, in night order (never empty).
    pub steps: Vec<ScheduledStep>,
}

impl NightSchedule {
    /// The first step it fires in the night.
    pub fn first(&self) -> &ScheduledStep {
        // `schedules` never builds one without a step.
        &self.steps[0]
    }

    /// The last step it fires in the night.
    pub fn last(&self) -> &ScheduledStep {
        &self.steps[self.steps.len() - 1]
    }
}

/// A cron expression as EventBridge Scheduler reads it (`cron(minutes hours day-of-month month
/// day-of-week year)`, in the schedule's time zone), restricted to what a night needs: sets of
/// minutes and hours, any day of the month, any month, a set of days of the week, any year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// Minutes of the hour, ascending, without repeats (0-59).
    pub minutes: Vec<u8>,
    /// Hours of the day, ascending, without repeats (0-23).
    pub hours: Vec<u8>,
    /// Days of the week in week order from Sunday; `None`: every day.
    pub days: Option<Vec<Weekday>>,
}

/// Why a cron expression is not one [`Cron::parse`] reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron expression {expression:?}: {problem}")]
pub struct CronError {
    pub expression: String,
    pub problem: String,
}

impl Cron {
    /// The expression: `cron(10/10 23 ? * MON-FRI *)`. Day-of-month is `?` (cron refuses a value
    /// in both day fields), minutes that step to the end of the hour are written `first/step`,
    /// runs of three or more hours or days as ranges.
    pub fn expression(&self) -> String {
        let days = match &self.days {
            None => "*".to_string(),
            Some(days) => {
                let mut numbers: Vec<u8> = days.iter().map(|d| weekday_index(*d)).collect();
                numbers.sort_unstable();
                field_list(&numbers, |n| DAY_NAMES[usize::from(n)].0.to_string())
            }
        };
        format!(
            "cron({} {} ? * {days} *)",
            minute_field(&self.minutes),
            field_list(&self.hours, |h| h.to_string())
        )
    }

    /// Whether it fires at this local day of the week, hour and minute.
    pub fn fires_at(&self, day: Weekday, hour: u8, minute: u8) -> bool {
        self.minutes.contains(&minute)
            && self.hours.contains(&hour)
            && self.days.as_ref().is_none_or(|days| days.contains(&day))
    }

    /// Reads an expression of the form [`Cron::expression`] writes, and the equivalent forms cron
    /// allows in those fields (`*`, lists, ranges, `first/step`, day numbers 1-7 from Sunday):
    /// what a template's `ScheduleExpression` holds, read back to see when it fires.
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let error = |problem: String| CronError {
            expression: expression.to_string(),
            problem,
        };
        let inner = expression
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .ok_or_else(|| error("not of the form cron(...)".into()))?;
        let fields: Vec<&str> = inner.split(' ').collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
            return Err(error(format!("{} fields, not six", fields.len())));
        };
        if month != "*" || year != "*" {
            return Err(error("only every month of every year is read".into()));
        }
        let days = match (day_of_month, day_of_week) {
            ("?", "*") | ("*", "?") => None,
            ("?", list) => {
                let numbers = parse_field(list, 1, 7, day_number).map_err(error)?;
                Some(
                    DAY_NAMES
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| numbers.contains(&(*i as u8 + 1)))
                        .map(|(_, (_, d))| *d)
                        .collect(),
                )
            }
            _ => {
                return Err(error(
                    "day-of-month must be ? (or * with day-of-week ?)".into(),
                ))
            }
        };
        Ok(Cron {
            minutes: parse_field(minutes, 0, 59, |v| v.parse().ok()).map_err(error)?,
            hours: parse_field(hours, 0, 23, |v| v.parse().ok()).map_err(error)?,
            days,
        })
    }
}

/// 0 for Sunday .. 6 for Saturday, the order of [`DAY_NAMES`].
fn weekday_index(day: Weekday) -> u8 {
    day.to_sunday_zero_offset().unsigned_abs()
}

/// A day of the week in cron's numbering: 1 (SUN) to 7 (SAT), by number or name.
fn day_number(value: &str) -> Option<u8> {
    value.parse().ok().or_else(|| {
        DAY_NAMES
            .iter()
            .position(|(n, _)| *n == value)
            .map(|i| i as u8 + 1)
    })
}

/// The minutes field: `*`, `first/step` when the minutes step evenly to the end of the hour,
/// else a list.
fn minute_field(minutes: &[u8]) -> String {
    if minutes.len() == 60 {
        return "*".into();
    }
    if let [first, second, ..] = minutes {
        let step = second - first;
        let stepped = minutes.windows(2).all(|w| w[1] - w[0] == step);
        let last = minutes[minutes.len() - 1];
        if minutes.len() >= 3 && step > 1 && stepped && u32::from(last) + u32::from(step) > 59 {
            return format!("{first}/{step}");
        }
    }
    field_list(minutes, |m| m.to_string())
}

/// Ascending values as a cron list, runs of three or more as ranges: `0-6,23`.
fn field_list(values: &[u8], name: impl Fn(u8) -> String) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}-{}", name(values[i]), name(values[j])));
        } else {
            parts.extend(values[i..=j].iter().map(|v| name(*v)));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// A cron field of numbers in `lo..=hi`: `*`, and comma-separated values, ranges `a-b` and
/// steps `a/step` or `a-b/step`; ascending, without repeats.
fn parse_field(
    field: &str,
    lo: u8,
    hi: u8,
    value: impl Fn(&str) -> Option<u8>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in field.split(',') {
        let bad = || format!("cannot read {part:?} in field {field:?}");
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u8>().ok().filter(|s| *s > 0).ok_or_else(bad)?,
            ),
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a).ok_or_else(bad)?, value(b).ok_or_else(bad)?)
        } else {
            let v = value(range).ok_or_else(bad)?;
            (v, if part.contains('/') { hi } else { v })
        };
        if from < lo || to > hi || from > to {
            return Err(format!("{part:?} is outside {lo}-{hi}"));
        }
        out.extend((from..=to).step_by(usize::from(step)));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The night's schedules in the order of their first step: the scale-up, the regular checks
/// grouped into as few crons as their minutes and days allow, the deadline check, the overdue
/// check and the scheduled scale-down, each step of [`night`] fired by exactly one of them.
///
/// A step after midnight runs on the day after the night's scale-up, so its cron carries the
/// next day of the week: the checks after midnight of a MON-FRI night run TUE-SAT.
pub fn schedules(
    schedule: &Schedule,
    scale_down: &ScaleDown,
) -> Result<Vec<NightSchedule>, NightError> {
    let up = minute_of_day(schedule.scale_up);
    let day_shift = |s: &ScheduledStep| (up + s.offset_minutes) / MINUTES_PER_DAY;
    let single = |s: &ScheduledStep| NightSchedule {
        step: s.step,
        role: s.role,
        cron: Cron {
            minutes: vec![s.at.minute().unsigned_abs()],
            hours: vec![s.at.hour().unsigned_abs()],
            days: days_after(schedule, day_shift(s)),
        },
        steps: vec![s.clone()],
    };

    let steps = night(schedule, scale_down)?;
    let regular: Vec<ScheduledStep> = steps
        .iter()
        .filter(|s| s.role == StepRole::Check)
        .cloned()
        .collect();
    let checks = check_crons(&regular, schedule);

    let mut out: Vec<NightSchedule> = steps
        .iter()
        .filter(|s| s.role != StepRole::Check)
        .map(single)
        .chain(checks)
        .collect();
    out.sort_by_key(|n| (n.first().offset_minutes, n.step == Step::Check));
    Ok(out)
}

/// The regular checks `regular` (steps of a night starting at `schedule.scale_up` on its
/// `days`) in as few crons as cron allows: one per set of hours whose checks fall on the same
/// minutes of the same days.
fn check_crons(regular: &[ScheduledStep], schedule: &Schedule) -> Vec<NightSchedule> {
    let up = minute_of_day(schedule.scale_up);
    // The regular checks by (day shift, hour), in night order.
    let mut hours: Vec<((u32, u8), Vec<ScheduledStep>)> = Vec::new();
    for s in regular {
        let key = (
            (up + s.offset_minutes) / MINUTES_PER_DAY,
            s.at.hour().unsigned_abs(),
        );
        match hours.last_mut() {
            Some((k, group)) if *k == key => group.push(s.clone()),
            _ => hours.push((key, vec![s.clone()])),
        }
    }
    let mut checks: Vec<NightSchedule> = Vec::new();
    for ((shift, hour), in_hour) in hours {
        let minutes: Vec<u8> = in_hour
            .iter()
            .map(|s| s.at.minute().unsigned_abs())
            .collect();
        let days = days_after(schedule, shift);
        match checks
            .iter_mut()
            .find(|c| c.cron.minutes == minutes && c.cron.days == days)
        {
            Some(c) => {
                c.cron.hours.push(hour);
                c.cron.hours.sort_unstable();
                c.steps.extend(in_hour);
            }
            None => checks.push(NightSchedule {
                step: Step::Check,
                role: StepRole::Check,
                cron: Cron {
                    minutes,
                    hours: vec![hour],
                    days,
                },
                steps: in_hour,
            }),
        }
    }
    checks
}

/// The schedule's days moved `shift` days on (a step after midnight runs the day after its
/// night's scale-up); None for every day.
fn days_after(schedule: &Schedule, shift: u32) -> Option<Vec<Weekday>> {
    if schedule.days.len() == 7 {
        return None;
    }
    let mut days: Vec<Weekday> = schedule
        .days
        .iter()
        .map(|d| d.wrapping_add(i64::from(shift)))
        .collect();
    days.sort_by_key(|d| weekday_index(*d));
    Some(days)
}

/// A weekday in cron's spelling (`MON`).
pub fn day_name(day: Weekday) -> &'static str {
    DAY_NAMES
        .iter()
        .find(|(_, d)| *d == day)
        .map(|(n, _)| *n)
        .unwrap_or("SUN")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MissingData;

    fn t(h: i8, m: i8) -> Time {
        Time::new(h, m, 0, 0).unwrap()
    }

    fn scale_down(deadline: Time) -> ScaleDown {
        ScaleDown {
            quiet_for: Duration::from_secs(900),
            deadline,
            min_hold: Duration::from_secs(1800),
            missing_data: MissingData::Busy,
            metrics: Vec::new(),
        }
    }

    fn schedule(up: Time, every_min: u64, down: Option<Time>, days: &[Weekday]) -> Schedule {
        Schedule {
            scale_up: up,
            check_every: Duration::from_secs(every_min * 60),
            scale_down: down,
            days: days.to_vec(),
        }
    }

    const ALL: [Weekday; 7] = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];

    #[test]
    fn a_night_across_midnight_has_checks_every_interval_then_the_deadline_and_overdue_checks() {
        let s = schedule(t(23, 0), 60, Some(t(6, 0)), &ALL);
        let steps = night(&s, &scale_down(t(7, 30))).unwrap();
        let shown: Vec<(Step, String, &str)> = steps
            .iter()
            .map(|s| (s.step, s.at.strftime("%H:%M").to_string(), s.role.as_str()))
            .collect();
        let expected = [
            (Step::ScaleUp, "23:00", "scale-up"),
            (Step::Check, "00:00", "check"),
            (Step::Check, "01:00", "check"),
            (Step::Check, "02:00", "check"),
            (Step::Check, "03:00", "check"),
            (Step::Check, "04:00", "check"),
            (Step::Check, "05:00", "check"),
            (Step::ScaleDown, "06:00", "scale-down"),
            (Step::Check, "06:00", "check"),
            (Step::Check, "07:00", "check"),
            (Step::Check, "07:30", "deadline check"),
            (Step::Check, "08:00", "overdue check"),
        ];
        let expected: Vec<(Step, String, &str)> = expected
            .iter()
            .map(|(s, at, r)| (*s, at.to_string(), *r))
            .collect();
        assert_eq!(shown, expected);
    }

    #[test]
    fn a_check_that_falls_on_the_deadline_is_the_deadline_check_only() {
        let s = schedule(t(23, 0), 30, None, &ALL);
        let steps = night(&s, &scale_down(t(1, 0))).unwrap();
        let at_deadline: Vec<_> = steps.iter().filter(|s| s.offset_minutes == 120).collect();
        assert_eq!(at_deadline.len(), 1);
        assert_eq!(at_deadline[0].role, StepRole::DeadlineCheck);
    }

    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ];

    fn expressions(s: &Schedule, deadline: Time) -> Vec<(&'static str, String)> {
        schedules(s, &scale_down(deadline))
            .unwrap()
            .iter()
            .map(|n| (n.role.as_str(), n.cron.expression()))
            .collect()
    }

    #[test]
    fn the_contract_night_is_seven_schedules_with_the_checks_after_midnight_on_the_next_day() {
        let s = schedule(t(23, 0), 10, Some(t(6, 0)), &WEEKDAYS);
        let expected = [
            ("scale-up", "cron(0 23 ? * MON-FRI *)"),
            ("check", "cron(10/10 23 ? * MON-FRI *)"),
            // Friday night's checks after midnight are on Saturday.
            ("check", "cron(0/10 0-6 ? * TUE-SAT *)"),
            ("scale-down", "cron(0 6 ? * TUE-SAT *)"),
            ("check", "cron(0,10,20 7 ? * TUE-SAT *)"),
            ("deadline check", "cron(30 7 ? * TUE-SAT *)"),
            ("overdue check", "cron(0 8 ? * TUE-SAT *)"),
        ];
        let expected: Vec<(&str, String)> =
            expected.iter().map(|(r, e)| (*r, e.to_string())).collect();
        assert_eq!(expressions(&s, t(7, 30)), expected);
    }

    #[test]
    fn every_day_checks_before_and_after_midnight_share_a_cron_when_their_minutes_agree() {
        let s = schedule(t(22, 0), 30, None, &ALL);
        let checks: Vec<String> = expressions(&s, t(1, 0))
            .into_iter()
            .filter(|(role, _)| *role == "check")
            .map(|(_, e)| e)
            .collect();
        // 22:30 alone; 23:00, 23:30, 00:00, 00:30 in one cron.
        assert_eq!(checks, ["cron(30 22 ? * * *)", "cron(0,30 0,23 ? * * *)"]);
    }

    #[test]
    fn a_night_that_starts_after_midnight_stays_on_its_day() {
        let s = schedule(t(1, 0), 30, None, &[Weekday::Saturday]);
        let all = schedules(&s, &scale_down(t(5, 0))).unwrap();
        assert!(all
            .iter()
            .all(|n| n.cron.expression().ends_with("? * SAT *)")));
    }

    /// Each step of the week's nights as (day 0 = SUN, hour, minute, step, role).
    type Firing = (u8, u8, u8, Step, StepRole);

    /// Where the crons fire over a week, each firing once per cron.
    fn fired(all: &[NightSchedule]) -> Vec<Firing> {
        let mut out = Vec::new();
        for n in all {
            for (d, (_, day)) in DAY_NAMES.iter().enumerate() {
                for hour in 0..24 {
                    for minute in 0..60 {
                        if n.cron.fires_at(*day, hour, minute) {
                            out.push((d as u8, hour, minute, n.step, n.role));
                        }
                    }
                }
            }
        }
        out.sort_unstable_by_key(|f| (f.0, f.1, f.2, f.3.as_str(), f.4.as_str()));
        out
    }

    /// The week's nights as [`night`] describes them.
    fn wanted(s: &Schedule, down: &ScaleDown) -> Vec<Firing> {
        let steps = night(s, down).unwrap();
        let up = minute_of_day(s.scale_up);
        let mut out = Vec::new();
        for day in &s.days {
            for st in &steps {
                let shift = (up + st.offset_minutes) / MINUTES_PER_DAY;
                let on = weekday_index(day.wrapping_add(i64::from(shift)));
                let (h, m) = (st.at.hour().unsigned_abs(), st.at.minute().unsigned_abs());
                out.push((on, h, m, st.step, st.role));
            }
        }
        out.sort_unstable_by_key(|f| (f.0, f.1, f.2, f.3.as_str(), f.4.as_str()));
        out
    }

    #[test]
    fn the_crons_fire_every_step_of_every_night_once_and_nothing_else() {
        let day_sets: [&[Weekday]; 4] = [
            &ALL,
            &WEEKDAYS,
            &[Weekday::Saturday, Weekday::Sunday],
            &[Weekday::Wednesday],
        ];
        let mut cases = 0;
        for (up, deadline, down) in [
            (t(23, 0), t(7, 30), Some(t(6, 0))),
            (t(22, 47), t(5, 13), None),
            (t(1, 5), t(6, 55), Some(t(3, 0))),
            (t(8, 30), t(8, 20), None),
            (t(0, 0), t(23, 59), None),
        ] {
            for every in [1, 7, 10, 13, 15, 25, 45, 60, 90, 120, 360] {
                for days in day_sets {
                    let s = schedule(up, every, down, days);
                    let d = scale_down(deadline);
                    let Ok(all) = schedules(&s, &d) else {
                        continue; // too dense: refused by `night` already
                    };
                    cases += 1;
                    assert_eq!(fired(&all), wanted(&s, &d), "{s:?} to {deadline}");
                    for n in &all {
                        let text = n.cron.expression();
                        assert_eq!(Cron::parse(&text).as_ref(), Ok(&n.cron), "{text}");
                        assert!(text.len() <= 256, "Scheduler's expression limit: {text}");
                    }
                }
            }
        }
        assert!(cases > 150, "{cases}");
    }

    #[test]
    fn an_interval_that_divides_an_hour_costs_one_cron_per_run_of_whole_hours() {
        let count = |every| {
            schedules(
                &schedule(t(23, 0), every, Some(t(6, 0)), &WEEKDAYS),
                &scale_down(t(7, 30)),
            )
            .unwrap()
            .len()
        };
        for every in [5, 10, 15, 20, 30, 60] {
            assert!(count(every) <= 7, "{every}m: {}", count(every));
        }
        // An interval that does not divide an hour is still exact, with more crons.
        assert!(count(7) > 7 && count(7) <= 4 + 9 + 2, "{}", count(7));
    }

    #[test]
    fn cron_reads_the_forms_scheduler_documents() {
        let every_10_weekdays = Cron::parse("cron(0/10 * ? * MON-FRI *)").unwrap();
        assert_eq!(every_10_weekdays.minutes, [0, 10, 20, 30, 40, 50]);
        assert_eq!(every_10_weekdays.hours.len(), 24);
        assert_eq!(every_10_weekdays.days, Some(WEEKDAYS.to_vec()));
        let daily = Cron::parse("cron(15 10 * * ? *)").unwrap();
        assert_eq!(
            (daily.minutes, daily.hours, daily.days),
            (vec![15], vec![10], None)
        );
        let numbered = Cron::parse("cron(0 8-17/3 ? * 1,7 *)").unwrap();
        assert_eq!(numbered.hours, [8, 11, 14, 17]);
        assert_eq!(
            numbered.days,
            Some(vec![Weekday::Sunday, Weekday::Saturday])
        );
        for bad in [
            "rate(5 minutes)",
            "cron(0 8 * * * *)",
            "cron(0 8 ? JAN MON *)",
            "cron(61 8 ? * MON *)",
            "cron(0 8 ? * MON)",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_night_and_a_scale_down_outside_it_are_refused() {
        let s = schedule(t(23, 0), 10, None, &ALL);
        assert_eq!(
            night(&s, &scale_down(t(23, 0))),
            Err(NightError::DeadlineAtScaleUp)
        );
        let at_up = schedule(t(23, 0), 10, Some(t(23, 0)), &ALL);
        assert_eq!(
            night(&at_up, &scale_down(t(7, 0))),
            Err(NightError::ScaleDownOutsideNight { night_minutes: 480 })
        );
        let after = schedule(t(23, 0), 10, Some(t(8, 0)), &ALL);
        assert_eq!(
            night(&after, &scale_down(t(7, 0))),
            Err(NightError::ScaleDownOutsideNight { night_minutes: 480 })
        );
    }

    #[test]
    fn too_many_checks_are_counted_and_refused() {
        // 23:00 to 07:30 every minute: 509 regular checks, the deadline and the overdue check.
        let s = schedule(t(23, 0), 1, None, &ALL);
        assert_eq!(
            night(&s, &scale_down(t(7, 30))),
            Err(NightError::TooManyChecks { checks: 511 })
        );
        let ok = schedule(t(23, 0), 5, None, &ALL);
        assert!(night(&ok, &scale_down(t(7, 30))).is_ok());
    }

    #[test]
    fn a_night_of_almost_a_day_has_no_overdue_check_that_would_run_into_the_next_night() {
        let s = schedule(t(8, 0), 120, None, &ALL);
        let steps = night(&s, &scale_down(t(7, 45))).unwrap();
        assert!(steps.iter().all(|s| s.role != StepRole::OverdueCheck));
    }
}
