//! Daylight saving: the local times of a zone that do not exist (a gap, when the clocks go
//! forward) or happen twice (an overlap, when they go back), and what a night's times do then.
//!
//! What EventBridge Scheduler does (its user guide, "Daylight saving time"): a cron time that
//! falls in a gap is skipped that day; a cron time in an overlap runs once, not twice (the guide
//! does not say which of the two). What nightshift does about it:
//! - a time in a gap runs at the same time shifted forward by the gap (02:30 → 03:30 in New
//!   York), as jiff's "compatible" rule and nightshift's deadline read it: the template adds a
//!   schedule at the shifted time that fires only on the transition day (see
//!   [`GapDay::cron_days`]), so the scale-up, the deadline check, the overdue check and a
//!   scheduled scale-down are never lost. A regular check in the gap is simply not run (the
//!   next one is at most `check_every` later);
//! - a time in an overlap runs once, whichever of the two the Scheduler picks: the deadline is
//!   the first occurrence after the scale-up (the gate), so a deadline check at either is at or
//!   after it; a scale-up opens the run whenever it comes.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

/// How a local time of a date reads in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTime {
    /// It happens once.
    Once(Timestamp),
    /// It does not exist: the clocks jump from `from` to `to`; nightshift runs it at `runs_at`
    /// (shifted forward by the gap).
    Gap {
        from: Time,
        to: Time,
        runs_at: Timestamp,
    },
    /// It happens twice: the clocks go back from `to` to `from`.
    Overlap {
        from: Time,
        to: Time,
        earlier: Timestamp,
        later: Timestamp,
    },
}

/// `time` on `date` in `tz`.
pub fn local(tz: &TimeZone, date: Date, time: Time) -> LocalTime {
    let amb = tz.to_ambiguous_timestamp(date.to_datetime(time));
    let change = |forward: bool| {
        changes(tz, date, date)
            .into_iter()
            .find(|c| c.forward == forward && c.contains(time))
    };
    match amb.offset() {
        AmbiguousOffset::Unambiguous { .. } => {
            LocalTime::Once(amb.compatible().unwrap_or(Timestamp::MAX))
        }
        AmbiguousOffset::Gap { .. } => {
            let runs_at = amb.compatible().unwrap_or(Timestamp::MAX);
            let (from, to) = change(true).map_or((time, time), |c| (c.from, c.to));
            LocalTime::Gap { from, to, runs_at }
        }
        AmbiguousOffset::Fold { .. } => {
            let (from, to) = change(false).map_or((time, time), |c| (c.from, c.to));
            LocalTime::Overlap {
                from,
                to,
                earlier: amb.earlier().unwrap_or(Timestamp::MAX),
                later: amb.later().unwrap_or(Timestamp::MAX),
            }
        }
    }
}

/// One daylight-saving change of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The local date on which it happens.
    pub date: Date,
    /// Clocks go forward (a gap) or back (an overlap).
    pub forward: bool,
    /// The wall times skipped or repeated: `[from, to)`.
    pub from: Time,
    pub to: Time,
    /// Minutes the clocks move.
    pub minutes: i32,
}

impl Change {
    /// Whether `time` falls in its skipped or repeated hour.
    pub fn contains(&self, time: Time) -> bool {
        if self.from <= self.to {
            time >= self.from && time < self.to
        } else {
            // A change at midnight: [23:00, 00:00) reads as from > to.
            time >= self.from || time < self.to
        }
    }

    /// `02:00-03:00`.
    pub fn window(&self) -> String {
        format!(
            "{}-{}",
            self.from.strftime("%H:%M"),
            self.to.strftime("%H:%M")
        )
    }
}

/// The zone's changes with a local date in `[from, to]`.
pub fn changes(tz: &TimeZone, from: Date, to: Date) -> Vec<Change> {
    let Ok(start) = tz.to_timestamp(from.to_datetime(Time::midnight())) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut before = tz.to_offset(start);
    for tr in tz.following(start).take(64) {
        let at = tr.timestamp();
        let after = tr.offset();
        let date = before.to_datetime(at).date();
        if date > to {
            break;
        }
        let minutes = (after.seconds() - before.seconds()) / 60;
        if minutes != 0 {
            let (from_t, to_t) = if minutes > 0 {
                (before.to_datetime(at).time(), after.to_datetime(at).time())
            } else {
                (after.to_datetime(at).time(), before.to_datetime(at).time())
            };
            out.push(Change {
                date,
                forward: minutes > 0,
                from: from_t,
                to: to_t,
                minutes: minutes.abs(),
            });
        }
        before = after;
    }
    out
}

/// When the clocks go forward, as a rule a cron's day fields can say: the month, and the day of
/// the week with its place in the month (`#2`, or last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapDay {
    pub month: i8,
    pub weekday: Weekday,
    /// 1..=4: the n-th such weekday of the month; None: the last.
    pub nth: Option<i8>,
    /// The gap's window and length, the same every year.
    pub from: Time,
    pub to: Time,
    pub minutes: i32,
}

impl GapDay {
    /// The day fields of a cron expression that fires on that day only: `? 3 1#2` (day of month,
    /// month, day of week), as EventBridge Scheduler's cron reads them.
    pub fn cron_days(&self) -> String {
        let day = crate::schedule::DAY_NAMES
            .iter()
            .position(|(_, d)| *d == self.weekday)
            .map_or(1, |i| i + 1);
        match self.nth {
            Some(n) => format!("? {} {day}#{n}", self.month),
            None => format!("? {} {day}L", self.month),
        }
    }

    /// The date it falls on in `year`.
    pub fn date_in(&self, year: i16) -> Option<Date> {
        match self.nth {
            Some(n) => Date::new(year, self.month, 1)
                .ok()?
                .nth_weekday_of_month(n, self.weekday)
                .ok(),
            None => Date::new(year, self.month, 1)
                .ok()?
                .nth_weekday_of_month(-1, self.weekday)
                .ok(),
        }
    }
}

/// The zone's spring-forward day as a cron rule, when the changes of the ten years from `from`
/// all follow one (every zone with daylight saving today does: the second Sunday of March in New
/// York, the last Sunday of March in London, the first Sunday of October in Sydney). None for a
/// zone without a gap, or one whose dates follow no weekday rule (then `validate` says so).
pub fn gap_day(tz: &TimeZone, from: Date) -> Option<GapDay> {
    let to = from.checked_add(10.years()).ok()?;
    let gaps: Vec<Change> = changes(tz, from, to)
        .into_iter()
        .filter(|c| c.forward)
        .collect();
    let first = gaps.first()?;
    let weekday = first.date.weekday();
    let month = first.date.month();
    let place = |d: Date| (d.day() - 1) / 7 + 1;
    let is_last = |d: Date| d.day() + 7 > d.days_in_month();
    let same = |c: &Change| {
        c.date.month() == month
            && c.date.weekday() == weekday
            && c.from == first.from
            && c.to == first.to
    };
    if gaps.len() < 5 || !gaps.iter().all(same) {
        return None;
    }
    let nth = if gaps.iter().all(|c| place(c.date) == place(first.date)) && place(first.date) <= 4 {
        Some(place(first.date))
    } else if gaps.iter().all(|c| is_last(c.date)) {
        None
    } else {
        return None;
    };
    Some(GapDay {
        month,
        weekday,
        nth,
        from: first.from,
        to: first.to,
        minutes: first.minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        crate::text::time_zones().get(name).unwrap()
    }

    fn t(h: i8, m: i8) -> Time {
        Time::new(h, m, 0, 0).unwrap()
    }

    fn d(y: i16, m: i8, day: i8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    #[test]
    fn the_three_zones_change_on_the_days_their_rules_say() {
        let ny = changes(&tz("America/New_York"), d(2026, 1, 1), d(2026, 12, 31));
        assert_eq!(
            ny.iter()
                .map(|c| (c.date, c.forward, c.window()))
                .collect::<Vec<_>>(),
            vec![
                (d(2026, 3, 8), true, "02:00-03:00".to_string()),
                (d(2026, 11, 1), false, "01:00-02:00".to_string()),
            ]
        );
        let london = changes(&tz("Europe/London"), d(2026, 1, 1), d(2026, 12, 31));
        assert_eq!(
            london
                .iter()
                .map(|c| (c.date, c.forward, c.window()))
                .collect::<Vec<_>>(),
            vec![
                (d(2026, 3, 29), true, "01:00-02:00".to_string()),
                (d(2026, 10, 25), false, "01:00-02:00".to_string()),
            ]
        );
        let sydney = changes(&tz("Australia/Sydney"), d(2026, 1, 1), d(2026, 12, 31));
        assert_eq!(
            sydney
                .iter()
                .map(|c| (c.date, c.forward, c.window()))
                .collect::<Vec<_>>(),
            vec![
                (d(2026, 4, 5), false, "02:00-03:00".to_string()),
                (d(2026, 10, 4), true, "02:00-03:00".to_string()),
            ]
        );
        assert!(changes(&tz("Asia/Tokyo"), d(2026, 1, 1), d(2026, 12, 31)).is_empty());
    }

    #[test]
    fn a_time_in_the_gap_runs_shifted_and_one_in_the_overlap_has_two_instants() {
        let ny = tz("America/New_York");
        let LocalTime::Gap { from, to, runs_at } = local(&ny, d(2026, 3, 8), t(2, 30)) else {
            panic!("02:30 on 2026-03-08 is in the gap");
        };
        assert_eq!((from, to), (t(2, 0), t(3, 0)));
        assert_eq!(runs_at.to_string(), "2026-03-08T07:30:00Z"); // 03:30 EDT
        let LocalTime::Overlap {
            earlier,
            later,
            from,
            to,
        } = local(&ny, d(2026, 11, 1), t(1, 30))
        else {
            panic!("01:30 on 2026-11-01 happens twice");
        };
        assert_eq!((from, to), (t(1, 0), t(2, 0)));
        assert_eq!(earlier.to_string(), "2026-11-01T05:30:00Z"); // EDT
        assert_eq!(later.to_string(), "2026-11-01T06:30:00Z"); // EST
        assert!(matches!(
            local(&ny, d(2026, 3, 9), t(2, 30)),
            LocalTime::Once(_)
        ));
    }

    #[test]
    fn the_spring_forward_day_is_a_cron_rule_in_each_zone() {
        let ny = gap_day(&tz("America/New_York"), d(2026, 1, 1)).unwrap();
        assert_eq!(ny.cron_days(), "? 3 1#2");
        assert_eq!(ny.date_in(2027), Some(d(2027, 3, 14)));
        let london = gap_day(&tz("Europe/London"), d(2026, 1, 1)).unwrap();
        assert_eq!(london.cron_days(), "? 3 1L");
        assert_eq!(london.date_in(2026), Some(d(2026, 3, 29)));
        let sydney = gap_day(&tz("Australia/Sydney"), d(2026, 1, 1)).unwrap();
        assert_eq!(sydney.cron_days(), "? 10 1#1");
        assert_eq!(sydney.date_in(2026), Some(d(2026, 10, 4)));
        assert_eq!(gap_day(&tz("Asia/Tokyo"), d(2026, 1, 1)), None);
    }
}
