//! The night a `[scenario.schedule]` describes: which step runs at which local time, and the
//! EventBridge Scheduler cron expression of each. Pure: `config` uses it to validate a schedule
//! (an empty night, too many checks) and `template` to write one schedule per step.
//!
//! Times are wall-clock minutes in the scenario's zone, as EventBridge Scheduler reads a cron
//! expression with `ScheduleExpressionTimezone`. A step after midnight runs on the day after the
//! scale-up, so its cron carries the next day of the week.

use crate::config::ScaleDown;
use crate::domain::Step;
use jiff::civil::{Time, Weekday};
use std::time::Duration;

/// More checks than this in one night is a mistake (a `check_every` far too short), and every
/// check is one schedule in the stack: CloudFormation allows 500 resources per template.
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

/// The cron expression (EventBridge Scheduler's six fields) of a step: its local minute and
/// hour, on the night's days shifted by the days it runs after the scale-up.
pub fn cron(schedule: &Schedule, step: &ScheduledStep) -> String {
    let day_shift = (minute_of_day(schedule.scale_up) + step.offset_minutes) / MINUTES_PER_DAY;
    let days = if schedule.days.len() == 7 {
        "*".to_string()
    } else {
        let mut names: Vec<(i8, &str)> = schedule
            .days
            .iter()
            .map(|d| {
                let shifted = d.wrapping_add(i64::from(day_shift));
                (shifted.to_sunday_zero_offset(), day_name(shifted))
            })
            .collect();
        names.sort_unstable();
        names
            .into_iter()
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("cron({} {} ? * {days} *)", step.at.minute(), step.at.hour())
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

    #[test]
    fn steps_after_midnight_run_on_the_next_day_of_the_week() {
        let weekdays = [
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ];
        let s = schedule(t(23, 0), 60, Some(t(6, 0)), &weekdays);
        let steps = night(&s, &scale_down(t(7, 30))).unwrap();
        assert_eq!(cron(&s, &steps[0]), "cron(0 23 ? * MON,TUE,WED,THU,FRI *)");
        // Friday night's checks after midnight are on Saturday.
        assert_eq!(cron(&s, &steps[1]), "cron(0 0 ? * TUE,WED,THU,FRI,SAT *)");
        let every_day = schedule(t(23, 0), 60, None, &ALL);
        assert_eq!(cron(&every_day, &steps[1]), "cron(0 0 ? * * *)");
    }

    #[test]
    fn a_night_that_starts_after_midnight_stays_on_its_day() {
        let s = schedule(t(1, 0), 30, None, &[Weekday::Saturday]);
        let steps = night(&s, &scale_down(t(5, 0))).unwrap();
        assert!(steps.iter().all(|st| cron(&s, st).ends_with("? * SAT *)")));
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
