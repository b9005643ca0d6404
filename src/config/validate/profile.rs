//! The business calendar of a scenario: its holiday file and its `[[scenario.profile]]` tables,
//! each checked with its line and a fix: names, date rules (an unknown rule, one in another
//! language, a date that does not exist), targets that name a resource the scenario does not
//! scale, a rule that can never match a batch night, a profile always shadowed by an earlier
//! one, and a profile night that runs into the ordinary nights around it.

#[cfg(test)]
mod tests;

use super::Validator;
use crate::calendar::{BusinessDays, DateRule, Holidays};
use crate::config::raw::{RawProfile, RawProfileDocDb, RawProfileEcs};
use crate::config::{
    DocDbTarget, EcsTarget, FileError, HolidayFile, NightValues, Profile, ScaleDown, TargetId,
    TargetNight, HOLIDAYS_LIMIT, ORDINARY,
};
use crate::schedule::Schedule;
use jiff::civil::Date;
use jiff::ToSpan;
use std::collections::BTreeSet;
use std::sync::Arc;
use toml::Spanned;

/// The scenario's targets a profile may name.
pub(super) struct Targets<'a> {
    pub(super) ecs: &'a [EcsTarget],
    pub(super) docdb: &'a [DocDbTarget],
}

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
            for (j, d) in r.docdb.iter().enumerate() {
                if let Some(t) = self.profile_docdb(
                    d.get_ref(),
                    &format!("{key}.docdb[{j}]"),
                    targets,
                    &profile_targets,
                ) {
                    profile_targets.push(t);
                }
            }
            for (j, e) in r.ecs.iter().enumerate() {
                if let Some(t) = self.profile_ecs(
                    e.get_ref(),
                    &format!("{key}.ecs[{j}]"),
                    targets,
                    &profile_targets,
                ) {
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

    fn profile_docdb(
        &mut self,
        raw: &RawProfileDocDb,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let name = raw.cluster.get_ref();
        let Some(target) = targets
            .docdb
            .iter()
            .find(|t| t.cluster.eq_ignore_ascii_case(name))
        else {
            let known: Vec<&str> = targets.docdb.iter().map(|t| t.cluster.as_str()).collect();
            self.push(
                &raw.cluster.span(),
                format!("{key}.cluster"),
                format!("the profile names DocumentDB cluster \"{name}\", which this scenario does not scale"),
                if known.is_empty() {
                    "a profile sets night values for the scenario's own targets: add the cluster as a [[scenario.docdb]] first, or remove this entry".to_string()
                } else {
                    format!("use one of the scenario's clusters: {}", crate::text::quoted_list(&known))
                },
            );
            return None;
        };
        let id = TargetId::Docdb {
            cluster: target.cluster.clone(),
        };
        if done.iter().any(|t| t.target == id) {
            self.push(
                &raw.cluster.span(),
                format!("{key}.cluster"),
                format!("DocumentDB cluster \"{name}\" is listed twice in this profile"),
                "one [[scenario.profile.docdb]] per cluster",
            );
            return None;
        }
        let replicas = match &raw.replicas {
            None => Some(None),
            Some(r) => self.replicas(r, &format!("{key}.replicas")).map(Some),
        };
        if let Some(Some(n)) = replicas {
            if n > 0 && target.instance_class.is_none() {
                self.push(
                    &raw.replicas.as_ref().map_or(raw.cluster.span(), |r| r.span()),
                    format!("{key}.replicas"),
                    format!("replicas = {n} adds readers, but the scenario's [[scenario.docdb]] for \"{name}\" has no instance_class for them"),
                    "add instance_class = \"db.r6g.large\" to the scenario's [[scenario.docdb]] table",
                );
                return None;
            }
        }
        let resize = match &raw.resize {
            None => Some(None),
            Some(r) => self.instance_class(r, &format!("{key}.resize")).map(Some),
        };
        let serverless_min = match &raw.serverless_min {
            None => Some(None),
            Some(m) => self
                .serverless_min(m, &format!("{key}.serverless_min"))
                .map(Some),
        };
        Some(TargetNight {
            target: id,
            night: NightValues {
                replicas: replicas?,
                resize: resize?,
                serverless_min: serverless_min?,
                desired: None,
                max: None,
            },
        })
    }

    fn profile_ecs(
        &mut self,
        raw: &RawProfileEcs,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let (cluster, service) = (raw.cluster.get_ref(), raw.service.get_ref());
        let Some(target) = targets
            .ecs
            .iter()
            .find(|t| t.cluster == *cluster && t.service == *service)
        else {
            let known: Vec<String> = targets
                .ecs
                .iter()
                .map(|t| format!("{}/{}", t.cluster, t.service))
                .collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            self.push(
                &raw.service.span(),
                format!("{key}.service"),
                format!("the profile names ECS service \"{service}\" in cluster \"{cluster}\", which this scenario does not scale"),
                if known.is_empty() {
                    "a profile sets night values for the scenario's own targets: add the service as a [[scenario.ecs]] first, or remove this entry".to_string()
                } else {
                    format!("use one of the scenario's services (cluster/service): {}", crate::text::quoted_list(&known))
                },
            );
            return None;
        };
        let id = TargetId::Ecs {
            cluster: target.cluster.clone(),
            service: target.service.clone(),
        };
        if done.iter().any(|t| t.target == id) {
            self.push(
                &raw.service.span(),
                format!("{key}.service"),
                format!("ECS service \"{service}\" is listed twice in this profile"),
                "one [[scenario.profile.ecs]] per service",
            );
            return None;
        }
        let desired = match &raw.desired {
            None => Some(None),
            Some(d) => match self.count(d, &format!("{key}.desired"), "desired") {
                Some(0) => {
                    self.push(
                        &d.span(),
                        format!("{key}.desired"),
                        "desired is 0: the service would run no tasks during the batch",
                        "set desired to the task count the batch needs (1 or more)",
                    );
                    None
                }
                other => other.map(Some),
            },
        };
        let max = match &raw.max {
            None => Some(None),
            Some(m) => match self.count(m, &format!("{key}.max"), "max") {
                Some(0) => {
                    self.push(
                        &m.span(),
                        format!("{key}.max"),
                        "max is 0: no desired count could ever be set",
                        "set max to the highest task count you allow",
                    );
                    None
                }
                other => other.map(Some),
            },
        };
        let (desired, max) = (desired?, max?);
        let (d, m) = (desired.unwrap_or(target.desired), max.unwrap_or(target.max));
        if d > m {
            let span = raw
                .desired
                .as_ref()
                .or(raw.max.as_ref())
                .map_or(raw.service.span(), |s| s.span());
            self.push(
                &span,
                format!("{key}.desired"),
                format!("the profile's night has desired {d} above max {m}: max is the guardrail nightshift never exceeds"),
                format!("lower desired to {m} or less, or set max = {d} or more in this profile"),
            );
            return None;
        }
        Some(TargetNight {
            target: id,
            night: NightValues {
                desired,
                max,
                ..NightValues::default()
            },
        })
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
