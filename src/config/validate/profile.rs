//! The business calendar of a scenario: its holiday file and its `[[scenario.profile]]` tables,
//! each checked with its line and a fix: names, date rules (an unknown rule, one in another
//! language, a date that does not exist), targets that name a resource the scenario does not
//! scale, a rule that can never match a batch night, a profile always shadowed by an earlier
//! one, and a profile night that runs into the ordinary nights around it.

// The night values of each kind of target a profile names.
mod targets;
#[cfg(test)]
mod tests;

pub(super) use targets::Targets;

use super::Validator;
use crate::calendar::{BusinessDays, DateRule, Holidays};
use crate::config::raw::RawProfile;
use crate::config::{Engine, FileError, HolidayFile, Profile, ScaleDown, HOLIDAYS_LIMIT, ORDINARY};
use crate::schedule::Schedule;
use jiff::civil::Date;
use jiff::ToSpan;
use std::collections::BTreeSet;
use std::sync::Arc;
use toml::Spanned;

/// What decides whether a date is a batch night, and the ordinary night's times.
pub(super) struct Nights<'a> {
    pub(super) scale_down: &'a ScaleDown,
    pub(super) schedule: Option<&'a Schedule>,
    pub(super) skip_dates: &'a [Date],
    pub(super) holidays: Option<&'a HolidayFile>,
}

/// The months a rule is tried over to see whether it can match at all (and whether one profile
/// shadows another): eight years from 2026, every weekday pattern a month can have.
const WINDOW_MONTHS: i32 = 96;

fn window_start() -> Date {
    jiff::civil::date(2026, 1, 1)
}

impl Validator<'_> {
    /// `holidays`: read beside the config (at most [`HOLIDAYS_LIMIT`] bytes) and parsed; a file
    /// named by two scenarios is read once.
    pub(super) fn holidays(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
    ) -> Option<Arc<HolidayFile>> {
        let path = raw.get_ref().trim().to_string();
        if let Some(read) = self.holiday_files.get(&path) {
            return Some(read.clone());
        }
        let span = raw.span();
        let fix = "holidays is an iCalendar (.ics) file beside the config, e.g. holidays = \"holidays.ics\"; the image copies it in with the config";
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == "..") {
            self.push(
                &span,
                key,
                format!("holidays = \"{path}\" is not a file beside the config"),
                format!("{fix} (a relative path, without \"..\")"),
            );
            return None;
        }
        let bytes = match self.files.read(&path, HOLIDAYS_LIMIT) {
            Ok(bytes) => bytes,
            Err(e) => {
                let hint = match &e {
                    FileError::TooLarge { .. } => format!(
                        "a holiday calendar is a few kilobytes; nightshift reads at most {HOLIDAYS_LIMIT} bytes (1 MiB): export only the holidays the batch needs"
                    ),
                    FileError::Denied(_) => "the Lambda runs as a non-root user: make the file readable by others (chmod o+r)".into(),
                    _ => fix.into(),
                };
                self.push(&span, key, format!("holiday file: {e}"), hint);
                return None;
            }
        };
        match Holidays::parse(&bytes) {
            Ok(holidays) => {
                let file = Arc::new(HolidayFile {
                    path: path.clone(),
                    digest: crate::config::digest(&bytes),
                    holidays,
                });
                self.holiday_files.insert(path, file.clone());
                Some(file)
            }
            Err(e) => {
                self.push(
                    &span,
                    key,
                    format!("holiday file {path} is not a usable iCalendar file: {e}"),
                    "export the holidays as an iCalendar (RFC 5545) file of all-day events, e.g. from your calendar application's \"export\"",
                );
                None
            }
        }
    }

    pub(super) fn profiles(
        &mut self,
        raw: &[Spanned<RawProfile>],
        at: &str,
        targets: &Targets<'_>,
        nights: &Nights<'_>,
    ) -> Vec<Profile> {
        let mut out: Vec<Profile> = Vec::new();
        // Each earlier profile's batch nights in the window, to find the shadowed ones.
        let mut taken: BTreeSet<Date> = BTreeSet::new();
        let mut names: Vec<(String, usize)> = Vec::new();
        for (i, entry) in raw.iter().enumerate() {
            let key = format!("{at}.profile[{i}]");
            let r = entry.get_ref();
            let name = self.profile_name(&r.name, &format!("{key}.name"), &names);
            if let Some(n) = &name {
                names.push((n.clone(), self.line_of(&r.name.span())));
            }
            let dates = self.date_rules(&r.dates, &format!("{key}.dates"));
            let scale_up = r
                .scale_up
                .as_ref()
                .and_then(|t| self.local_time(t, &format!("{key}.scale_up"), "scale_up", "22:00"));
            let deadline = r
                .deadline
                .as_ref()
                .and_then(|t| self.local_time(t, &format!("{key}.deadline"), "deadline", "09:00"));
            let mut profile_targets = Vec::new();
            for (engine, list) in [
                (Engine::DocumentDb, &r.docdb),
                (Engine::Aurora, &r.aurora),
                (Engine::Neptune, &r.neptune),
            ] {
                for (j, c) in list.iter().enumerate() {
                    let at = format!("{key}.{}[{j}]", engine.key());
                    if let Some(t) =
                        self.profile_cluster(engine, c.get_ref(), &at, targets, &profile_targets)
                    {
                        profile_targets.push(t);
                    }
                }
            }
            for (j, b) in r.batch.iter().enumerate() {
                let at = format!("{key}.batch[{j}]");
                if let Some(t) = self.profile_batch(b.get_ref(), &at, targets, &profile_targets) {
                    profile_targets.push(t);
                }
            }
            for (j, g) in r.asg.iter().enumerate() {
                let at = format!("{key}.asg[{j}]");
                if let Some(t) = self.profile_asg(g.get_ref(), &at, targets, &profile_targets) {
                    profile_targets.push(t);
                }
            }
            for (j, e) in r.ecs.iter().enumerate() {
                let at = format!("{key}.ecs[{j}]");
                if let Some(t) = self.profile_ecs(e.get_ref(), &at, targets, &profile_targets) {
                    profile_targets.push(t);
                }
            }
            let (Some(name), Some(dates)) = (name, dates) else {
                continue;
            };
            if r.scale_up.is_some() && nights.schedule.is_none() {
                self.push(
                    &r.scale_up.as_ref().map_or(entry.span(), |s| s.span()),
                    format!("{key}.scale_up"),
                    format!("profile \"{name}\" has a scale_up time but the scenario has no [scenario.schedule]"),
                    "add [scenario.schedule] (scale_up, check_every): a scale-up time is what `nightshift template` turns into a schedule",
                );
                continue;
            }
            let profile = Profile {
                name,
                dates,
                scale_up,
                deadline,
                targets: profile_targets,
            };
            self.profile_night(r, &key, &profile, nights);
            let matched = self.never_matching(r, &key, &profile, nights);
            if !matched.is_empty() && matched.is_subset(&taken) {
                let earlier: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
                self.push(
                    &r.dates.span(),
                    format!("{key}.dates"),
                    format!(
                        "profile \"{}\" never applies: every night it matches is also a night of {} before it, and the first profile that matches wins",
                        profile.name,
                        crate::text::quoted_list(&earlier)
                    ),
                    "put the narrower profile first (e.g. quarter-end before month-end), or remove this one",
                );
            }
            taken.extend(matched);
            out.push(profile);
        }
        out
    }

    fn profile_name(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
        seen: &[(String, usize)],
    ) -> Option<String> {
        let value = raw.get_ref();
        let span = raw.span();
        let hint = "use 1 to 64 characters from A-Z, a-z, 0-9, '-' and '_', e.g. \"month-end\" (the name is recorded in the run and shown by `calendar`, `plan` and `status`)";
        if value.is_empty()
            || value.len() > 64
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.push(
                &span,
                key,
                format!("profile name \"{value}\" is not a valid name"),
                hint,
            );
            return None;
        }
        if value.eq_ignore_ascii_case(ORDINARY) {
            self.push(
                &span,
                key,
                format!(
                    "profile name \"{value}\" is reserved: it names the nights without a profile"
                ),
                "choose another name, e.g. \"month-end\"",
            );
            return None;
        }
        if let Some((_, line)) = seen.iter().find(|(n, _)| n == value) {
            self.push(
                &span,
                key,
                format!("duplicate profile name \"{value}\": already used by the profile at line {line}"),
                "give each [[scenario.profile]] of a scenario its own name",
            );
            return None;
        }
        Some(value.clone())
    }

    fn date_rules(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Option<Vec<DateRule>> {
        if raw.get_ref().is_empty() {
            self.push(
                &raw.span(),
                key,
                "dates is empty: the profile would never apply",
                format!(
                    "list its date rules, e.g. dates = [\"last-business-day\"]; rules: {}",
                    crate::calendar::rules::RULE_FORMS
                ),
            );
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for (j, entry) in raw.get_ref().iter().enumerate() {
            match DateRule::parse(entry.get_ref()) {
                Ok(rule) => rules.push(rule),
                Err(e) => {
                    self.push(&entry.span(), format!("{key}[{j}]"), e.message, e.hint);
                    ok = false;
                }
            }
        }
        ok.then_some(rules)
    }

    /// The profile's own night (its scale-up time and deadline) must be a usable night, and must
    /// neither start before the previous ordinary night ends nor end after the next one starts.
    fn profile_night(
        &mut self,
        raw: &RawProfile,
        key: &str,
        profile: &Profile,
        nights: &Nights<'_>,
    ) {
        if profile.scale_up.is_none() && profile.deadline.is_none() {
            return;
        }
        let Some(ordinary) = nights.schedule else {
            return;
        };
        let mut schedule = ordinary.clone();
        if let Some(up) = profile.scale_up {
            schedule.scale_up = up;
        }
        let mut scale_down = nights.scale_down.clone();
        if let Some(d) = profile.deadline {
            scale_down.deadline = d;
        }
        let span = raw
            .scale_up
            .as_ref()
            .or(raw.deadline.as_ref())
            .map_or(raw.name.span(), |s| s.span());
        let hm = |t: jiff::civil::Time| t.strftime("%H:%M").to_string();
        if let Err(e) = crate::schedule::night(&schedule, &scale_down) {
            let why = match e {
                crate::schedule::NightError::DeadlineAtScaleUp => {
                    "its scale-up is its deadline: the night would be empty".to_string()
                }
                crate::schedule::NightError::ScaleDownOutsideNight { .. } => {
                    "the schedule's scale_down falls outside this profile's night".to_string()
                }
                crate::schedule::NightError::TooManyChecks { checks } => {
                    format!("check_every makes {checks} checks in this profile's night")
                }
            };
            self.push(
                &span,
                format!("{key}.scale_up"),
                format!("profile \"{}\" ({} to {}): {why}", profile.name, hm(schedule.scale_up), hm(scale_down.deadline)),
                "choose a scale_up and deadline for the profile that make a night of a few hours, e.g. scale_up = \"22:00\", deadline = \"09:00\"",
            );
            return;
        }
        let minute = |t: jiff::civil::Time| i32::from(t.hour()) * 60 + i32::from(t.minute());
        let length = |up, deadline| (minute(deadline) - minute(up)).rem_euclid(1440);
        let (o_up, o_len) = (
            minute(ordinary.scale_up),
            length(ordinary.scale_up, nights.scale_down.deadline),
        );
        let (p_up, p_len) = (
            minute(schedule.scale_up),
            length(schedule.scale_up, scale_down.deadline),
        );
        let previous_end = o_up - 1440 + o_len;
        let next_start = o_up + 1440;
        if p_up < previous_end || p_up + p_len > next_start {
            self.push(
                &span,
                format!("{key}.scale_up"),
                format!(
                    "profile \"{}\" runs from {} to {}, into the ordinary nights around it ({} to {}): two nights would be open at once",
                    profile.name,
                    hm(schedule.scale_up),
                    hm(scale_down.deadline),
                    hm(ordinary.scale_up),
                    hm(nights.scale_down.deadline)
                ),
                "a night's date is the date of its scale-up: keep the profile's scale_up on the same evening as the ordinary one and its deadline before the next evening's scale-up",
            );
        }
    }

    /// Reports each rule that can never match a batch night (a date that is a skip date or a
    /// holiday, a weekday or date the schedule's `days` leave out, a business-day rule when
    /// `days` has no weekday); returns the batch nights the profile matches in the window.
    fn never_matching(
        &mut self,
        raw: &RawProfile,
        key: &str,
        profile: &Profile,
        nights: &Nights<'_>,
    ) -> BTreeSet<Date> {
        let empty = Holidays::default();
        let holidays = nights.holidays.map_or(&empty, |h| &h.holidays);
        let days = BusinessDays::new(nights.skip_dates, holidays);
        let batch = |d: Date| -> Result<(), String> {
            if nights.skip_dates.contains(&d) {
                return Err(format!("{d} is a skip date"));
            }
            if let Some(name) = holidays.on(d) {
                return Err(format!("{d} is the holiday \"{name}\""));
            }
            if let Some(s) = nights.schedule {
                if !s.days.contains(&d.weekday()) {
                    return Err(format!(
                        "{d} is a {}, not one of the schedule's days",
                        crate::schedule::day_name(d.weekday())
                    ));
                }
            }
            Ok(())
        };
        let mut all = BTreeSet::new();
        for (j, rule) in profile.dates.iter().enumerate() {
            let mut found = Vec::new();
            let mut why = None;
            let mut check = |d: Date| match batch(d) {
                Ok(()) => found.push(d),
                Err(e) => why = why.take().or(Some(e)),
            };
            if let DateRule::On(d) = rule {
                check(*d);
            } else {
                for m in 0..WINDOW_MONTHS {
                    if let Ok(first) = window_start().checked_add(i64::from(m).months()) {
                        for d in rule.dates_in_month(first, &days) {
                            check(d);
                        }
                    }
                }
            }
            if found.is_empty() {
                let entry = &raw.dates.get_ref()[j];
                let detail = match (rule, why) {
                    (DateRule::On(_), Some(w)) => w,
                    (DateRule::Weekday(w), _) => format!(
                        "{} is not one of the schedule's days",
                        crate::schedule::day_name(*w)
                    ),
                    (_, Some(w)) => format!("none of its dates is a batch night (e.g. {w})"),
                    (r, None) if r.uses_business_days() => {
                        "no month has a business day (every weekday is a skip date or a holiday)"
                            .into()
                    }
                    _ => "none of its dates is a batch night".into(),
                };
                self.push(
                    &entry.span(),
                    format!("{key}.dates[{j}]"),
                    format!("date rule \"{rule}\" of profile \"{}\" can never match: {detail}", profile.name),
                    "a profile's nights must be batch nights: remove the rule, or add the day to [scenario.schedule] days",
                );
            }
            // Only dates in the window count for shadowing (a one-off date may lie outside it).
            all.extend(found);
        }
        all
    }
}
