//! Times and dates: the scenario's time zone, local times of day, skip dates, and the optional
//! `[scenario.schedule]` whose night must be neither empty nor absurdly dense.

#[cfg(test)]
mod tests;

use super::Validator;
use crate::config::diagnostics::suggest;
use crate::config::raw::RawSchedule;
use crate::config::{parse_local_time, ScaleDown};
use crate::schedule::Schedule;
use crate::schedule::{NightError, DAY_NAMES, MAX_CHECKS_PER_NIGHT};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

impl Validator<'_> {
    pub(super) fn timezone(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
    ) -> Option<(jiff::tz::TimeZone, String)> {
        let name = raw.get_ref();
        match crate::text::time_zones().get(name) {
            Ok(tz) => {
                let canonical = tz.iana_name().unwrap_or(name).to_string();
                Some((tz, canonical))
            }
            Err(_) => {
                const IANA: &str = "use an IANA time zone name such as \"Asia/Tokyo\", \"Europe/Berlin\" or \"UTC\"";
                let hint = match city_zone(name) {
                    Some(zone) => format!("did you mean \"{zone}\"? {IANA}"),
                    None => IANA.to_string(),
                };
                self.push(
                    &raw.span(),
                    key,
                    format!("unknown time zone \"{name}\""),
                    hint,
                );
                None
            }
        }
    }

    /// A local time of day "HH:MM" (or "H:MM"), 24-hour; `what` names the key in the message.
    pub(super) fn local_time(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<jiff::civil::Time> {
        let value = raw.get_ref();
        let parsed = parse_local_time(value);
        if parsed.is_none() {
            self.push(
                &raw.span(),
                key,
                format!("bad {what} \"{value}\": expected a local time of day as HH:MM (24-hour, 00:00 to 23:59)"),
                format!("write it like {what} = \"{example}\" (local to the scenario's timezone)"),
            );
        }
        parsed
    }

    /// `[scenario.schedule]`: times, a check interval of whole minutes (at least one), known
    /// days, and a night that is neither empty nor absurdly dense (see [`crate::schedule::night`]).
    pub(super) fn schedule(
        &mut self,
        raw: &Spanned<RawSchedule>,
        at: &str,
        scale_down: &ScaleDown,
    ) -> Option<Schedule> {
        let header = raw.span();
        let raw = raw.get_ref();
        let scale_up = self.local_time(
            &raw.scale_up,
            &format!("{at}.scale_up"),
            "scale_up",
            "23:00",
        );
        let check_key = format!("{at}.check_every");
        let check_every = match self.duration(&raw.check_every, &check_key, true) {
            Some(d) if d < Duration::from_secs(60) || d.as_secs() % 60 != 0 => {
                self.push(
                    &raw.check_every.span(),
                    &check_key,
                    format!(
                        "check_every = \"{}\" is not a whole number of minutes of at least 1m: EventBridge Scheduler runs schedules to the minute",
                        raw.check_every.get_ref()
                    ),
                    "use whole minutes, e.g. check_every = \"10m\"",
                );
                None
            }
            other => other,
        };
        let scale_down_at = match &raw.scale_down {
            None => Some(None),
            Some(t) => self
                .local_time(t, &format!("{at}.scale_down"), "scale_down", "06:00")
                .map(Some),
        };
        let days = self.days(raw.days.as_ref(), &format!("{at}.days"));
        // The night does not depend on the days: check it even when a day is wrong, so that one
        // run of `validate` reports every problem of the table.
        let days_ok = days.is_some();
        let schedule = Schedule {
            scale_up: scale_up?,
            check_every: check_every?,
            scale_down: scale_down_at?,
            days: days.unwrap_or_default(),
        };
        let night_ok = self.night(raw, header, at, &schedule, scale_down);
        (night_ok && days_ok).then_some(schedule)
    }

    /// `days`, in week order: every day when the key is absent.
    fn days(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        key: &str,
    ) -> Option<Vec<jiff::civil::Weekday>> {
        match raw {
            None => Some(DAY_NAMES.iter().map(|(_, d)| *d).collect::<Vec<_>>()),
            Some(list) => {
                let mut seen = Vec::new();
                let mut ok = true;
                if list.get_ref().is_empty() {
                    self.push(
                        &list.span(),
                        key,
                        "days is empty: the scenario would never run",
                        "list the days the night starts on, e.g. days = [\"MON\", \"TUE\", \"WED\", \"THU\", \"FRI\"], or remove the key for every day",
                    );
                    ok = false;
                }
                for (j, day) in list.get_ref().iter().enumerate() {
                    let name = day.get_ref();
                    match DAY_NAMES.iter().find(|(n, _)| *n == name.as_str()) {
                        Some((_, d)) if seen.contains(d) => {
                            self.push(
                                &day.span(),
                                format!("{key}[{j}]"),
                                format!("day \"{name}\" is listed twice"),
                                "list each day once",
                            );
                            ok = false;
                        }
                        Some((_, d)) => seen.push(*d),
                        None => {
                            let names: Vec<&str> = DAY_NAMES.iter().map(|(n, _)| *n).collect();
                            let near = suggest(name, &names)
                                .map(|n| format!("did you mean \"{n}\"? "))
                                .unwrap_or_default();
                            self.push(
                                &day.span(),
                                format!("{key}[{j}]"),
                                format!("unknown day \"{name}\""),
                                format!("{near}use the three-letter upper-case names SUN, MON, TUE, WED, THU, FRI, SAT"),
                            );
                            ok = false;
                        }
                    }
                }
                seen.sort_by_key(|d| d.to_sunday_zero_offset());
                ok.then_some(seen)
            }
        }
    }

    /// The night the schedule makes with `scale_down`'s deadline (see
    /// [`crate::schedule::night`]); false, with the error pushed, when it is empty, puts
    /// scale_down outside it, or checks too often.
    fn night(
        &mut self,
        raw: &RawSchedule,
        header: Range<usize>,
        at: &str,
        schedule: &Schedule,
        scale_down: &ScaleDown,
    ) -> bool {
        let hhmm = |t: jiff::civil::Time| t.strftime("%H:%M").to_string();
        let Err(error) = crate::schedule::night(schedule, scale_down) else {
            return true;
        };
        match error {
            NightError::DeadlineAtScaleUp => {
                self.push(
                    &raw.scale_up.span(),
                    format!("{at}.scale_up"),
                    format!(
                        "scale_up ({}) is the scale_down deadline: the night would be empty",
                        hhmm(schedule.scale_up)
                    ),
                    "set scale_up to the start of the batch and [scenario.scale_down] deadline to when capacity must be back, e.g. scale_up = \"23:00\", deadline = \"07:30\"",
                );
            }
            NightError::ScaleDownOutsideNight { night_minutes } => {
                let span = raw.scale_down.as_ref().map(|t| t.span()).unwrap_or(header);
                self.push(
                    &span,
                    format!("{at}.scale_down"),
                    format!(
                        "scale_down ({}) is not inside the night: it must come after scale_up ({}) and no later than the deadline ({}, {} min later)",
                        schedule.scale_down.map(hhmm).unwrap_or_default(),
                        hhmm(schedule.scale_up),
                        hhmm(scale_down.deadline),
                        night_minutes
                    ),
                    "choose a time between scale_up and the deadline, or remove scale_down (the check at the deadline scales down anyway)",
                );
            }
            NightError::TooManyChecks { checks } => {
                self.push(
                    &raw.check_every.span(),
                    format!("{at}.check_every"),
                    format!(
                        "check_every = \"{}\" makes {checks} checks per night (from scale_up {} to the deadline {}); the limit is {MAX_CHECKS_PER_NIGHT}",
                        raw.check_every.get_ref(),
                        hhmm(schedule.scale_up),
                        hhmm(scale_down.deadline)
                    ),
                    "check less often, e.g. check_every = \"10m\" (completion events still trigger checks in between)",
                );
            }
        }
        false
    }

    /// Strictly YYYY-MM-DD, so "03/04/2026" cannot be read two ways.
    pub(super) fn skip_date(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
    ) -> Option<jiff::civil::Date> {
        let value = raw.get_ref();
        let bytes = value.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        let date = if shape_ok {
            let year: Option<i16> = value[0..4].parse().ok();
            let month: Option<i8> = value[5..7].parse().ok();
            let day: Option<i8> = value[8..10].parse().ok();
            match (year, month, day) {
                (Some(y), Some(m), Some(d)) => jiff::civil::Date::new(y, m, d).ok(),
                _ => None,
            }
        } else {
            None
        };
        if date.is_none() {
            let message = if shape_ok {
                format!("skip_dates entry \"{value}\" is not a real calendar date")
            } else {
                format!("skip_dates entry \"{value}\" is not a date in YYYY-MM-DD form")
            };
            self.push(
                &raw.span(),
                key,
                message,
                "write local dates as quoted YYYY-MM-DD strings, e.g. skip_dates = [\"2026-12-31\"]",
            );
        }
        date
    }
}

/// The IANA zone whose city part matches `input` ("tokyo" → "Asia/Tokyo"), to suggest a fix.
fn city_zone(input: &str) -> Option<String> {
    let wanted = input.trim().replace(' ', "_");
    if wanted.is_empty() {
        return None;
    }
    crate::text::time_zones()
        .available()
        .map(|name| name.as_str().to_string())
        .find(|zone| {
            zone.contains('/')
                && zone
                    .rsplit('/')
                    .next()
                    .is_some_and(|city| city.eq_ignore_ascii_case(&wanted))
        })
}
