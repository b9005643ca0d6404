//! The business calendar of a scenario (pure): which nights have a batch, which profile each
//! night has, and what daylight saving does to its times.
//!
//! - [`rules`]: the profiles' date rules (`last-business-day`, `business-day:-2`, `MON`, …);
//! - [`ics`]: the holiday file (RFC 5545), read once with the config;
//! - [`dst`]: a zone's daylight-saving gaps and overlaps, and the spring-forward day as a cron rule;
//! - here: business days, and [`night`]: one date's night — skipped (a skip date, a holiday, not
//!   one of the schedule's `days`) or a batch night with its profile, the first that matches.
//!
//! A night's date is the local date of its scale-up. A business day is MON-FRI and neither a
//! skip date nor a holiday.

pub mod dst;
pub mod ics;
pub mod rules;
#[cfg(test)]
pub mod testing;
pub mod view;

pub use ics::{Holidays, IcsError, MAX_HOLIDAYS_BYTES};
pub use rules::{DateRule, RuleError};

use crate::config::{Profile, Scenario};
use jiff::civil::{Date, Weekday};
use jiff::ToSpan;

/// Which days are business days: MON-FRI, not a skip date, not a holiday.
#[derive(Debug, Clone, Copy)]
pub struct BusinessDays<'a> {
    skip_dates: &'a [Date],
    holidays: &'a Holidays,
}

static NO_HOLIDAYS: std::sync::LazyLock<Holidays> = std::sync::LazyLock::new(Holidays::default);

impl<'a> BusinessDays<'a> {
    pub fn new(skip_dates: &'a [Date], holidays: &'a Holidays) -> BusinessDays<'a> {
        BusinessDays {
            skip_dates,
            holidays,
        }
    }

    /// A scenario's business days (its skip dates and holiday file).
    pub fn of(scenario: &'a Scenario) -> BusinessDays<'a> {
        let holidays = scenario
            .holidays
            .as_ref()
            .map_or(&*NO_HOLIDAYS, |h| &h.holidays);
        BusinessDays::new(&scenario.skip_dates, holidays)
    }

    pub fn is_business_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.skip_dates.contains(&date)
            && self.holidays.on(date).is_none()
    }

    /// The `n`-th business day of `date`'s month (1 the first, -1 the last).
    pub fn nth_of_month(&self, date: Date, n: i8) -> Option<Date> {
        let first = date.first_of_month();
        let days: Vec<Date> = (0..first.days_in_month())
            .filter_map(|i| first.checked_add(i64::from(i).days()).ok())
            .filter(|d| self.is_business_day(*d))
            .collect();
        let i = if n > 0 {
            usize::from(n.unsigned_abs()) - 1
        } else {
            days.len().checked_sub(usize::from(n.unsigned_abs()))?
        };
        days.get(i).copied()
    }
}

/// Why a date has no batch night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoBatch {
    /// One of `skip_dates`.
    SkipDate,
    /// A holiday of the holiday file, with its name.
    Holiday(String),
    /// Not one of `[scenario.schedule] days`.
    NotOneOfDays,
}

impl NoBatch {
    /// `skip date`, `holiday "Christmas Day"`, `not one of days (MON-FRI)`.
    pub fn describe(&self, scenario: &Scenario) -> String {
        match self {
            NoBatch::SkipDate => "skip date".into(),
            NoBatch::Holiday(name) => format!("holiday \"{name}\""),
            NoBatch::NotOneOfDays => {
                let days = scenario
                    .schedule
                    .as_ref()
                    .map(|s| {
                        s.days
                            .iter()
                            .map(|d| crate::schedule::day_name(*d))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                format!("not one of days ({days})")
            }
        }
    }
}

/// One date's night.
#[derive(Debug, Clone, PartialEq)]
pub enum Night<'a> {
    /// A batch night; its profile, or None for the ordinary night.
    Batch(Option<&'a Profile>),
    /// No batch tonight.
    Skipped(NoBatch),
}

impl Night<'_> {
    /// The profile's name, `ordinary`, or None for a skipped night.
    pub fn profile_name(&self) -> Option<&str> {
        match self {
            Night::Batch(Some(p)) => Some(&p.name),
            Night::Batch(None) => Some(crate::config::ORDINARY),
            Night::Skipped(_) => None,
        }
    }
}

/// The night of `date`: skipped (skip date, holiday, not one of the schedule's days, in that
/// order), or a batch night with the first profile whose rules match.
pub fn night(scenario: &Scenario, date: Date) -> Night<'_> {
    if scenario.skip_dates.contains(&date) {
        return Night::Skipped(NoBatch::SkipDate);
    }
    if let Some(name) = scenario.holidays.as_ref().and_then(|h| h.holidays.on(date)) {
        return Night::Skipped(NoBatch::Holiday(name.to_string()));
    }
    if let Some(schedule) = &scenario.schedule {
        if !schedule.days.contains(&date.weekday()) {
            return Night::Skipped(NoBatch::NotOneOfDays);
        }
    }
    Night::Batch(profile_for(scenario, date))
}

/// The first profile with a rule that matches `date` (the skip dates and holidays aside).
pub fn profile_for(scenario: &Scenario, date: Date) -> Option<&Profile> {
    let days = BusinessDays::of(scenario);
    scenario
        .profiles
        .iter()
        .find(|p| p.dates.iter().any(|r| r.matches(date, &days)))
}
