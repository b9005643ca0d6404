//! The second pass: raw shape → typed [`Config`], collecting every semantic error with its
//! position, key and fix. Checks are grouped by what they look at: the scenario and the helpers
//! every check shares here, the resources to scale in [`targets`], when the night ends in
//! [`scale_down`], and times, dates and the schedule in [`schedule`].

pub(super) mod location;
mod notify;
mod prices;
mod profile;
mod scale_down;
mod schedule;
mod targets;

#[cfg(test)]
mod tests;

use super::diagnostics::{example_for, ConfigError, ConfigErrors, SourceText};
use super::raw::{RawConfig, RawScenario};
use super::{parse_duration, Config, Engine, Scenario, DEFAULT_TABLE, MAX_SCENARIO_NAME_LEN};
use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// Collects every semantic error; each check returns `None` on error so that later checks that
/// depend on the value (desired ≤ max, quiet_for ≥ period) stay silent instead of piling up.
struct Validator<'a> {
    src: &'a SourceText<'a>,
    errors: Vec<ConfigError>,
    /// Index and display name of the scenario being checked, for duplicate-resource messages.
    scenario_index: usize,
    scenario_label: String,
    /// ECS services (cluster, service) already configured, across all scenarios so far.
    ecs_owners: HashMap<(String, String), FirstSeen>,
    /// RDS-family clusters (lower-case) already configured, across all scenarios and engines so
    /// far: an identifier names one cluster whatever its engine.
    cluster_owners: HashMap<String, FirstSeen>,
    /// Batch compute environments (by name) and Auto Scaling groups already configured, across
    /// all scenarios so far.
    batch_owners: HashMap<String, FirstSeen>,
    asg_owners: HashMap<String, FirstSeen>,
    /// Where the current scenario's resources are (its region and role account, "" for the
    /// function's own): same-named resources elsewhere are other resources.
    location: String,
    /// Where included files (a holiday file) are read from, and those read so far.
    files: &'a dyn super::Files,
    holiday_files: HashMap<String, std::sync::Arc<super::HolidayFile>>,
}

/// Where a resource was first configured; one map per resource kind spans all scenarios.
struct FirstSeen {
    scenario_index: usize,
    scenario_label: String,
    line: usize,
}

pub(super) fn validate(
    src: &SourceText<'_>,
    raw: RawConfig,
    files: &dyn super::Files,
) -> Result<Config, ConfigErrors> {
    let mut v = Validator {
        src,
        errors: Vec::new(),
        scenario_index: 0,
        scenario_label: String::new(),
        ecs_owners: HashMap::new(),
        cluster_owners: HashMap::new(),
        batch_owners: HashMap::new(),
        asg_owners: HashMap::new(),
        location: String::new(),
        files,
        holiday_files: HashMap::new(),
    };
    let table = match &raw.table {
        None => DEFAULT_TABLE.to_string(),
        Some(table) => v.table_name(table),
    };
    if raw.scenario.is_empty() {
        v.push(
            &(0..0),
            "scenario",
            "no scenario is defined: there is nothing to scale",
            "add at least one [[scenario]] table with name, timezone, [[scenario.ecs]], [[scenario.docdb]], [[scenario.batch]] or [[scenario.asg]], and [scenario.scale_down]",
        );
    }

    let mut names: HashMap<String, usize> = HashMap::new();
    let mut scenarios = Vec::with_capacity(raw.scenario.len());
    for (i, scenario) in raw.scenario.iter().enumerate() {
        let at = format!("scenario[{i}]");
        let name_span = scenario.get_ref().name.span();
        let name = v.scenario_name(&scenario.get_ref().name, &format!("{at}.name"));
        if let Some(name) = &name {
            let line = v.line_of(&name_span);
            if let Some(first_line) = names.get(name) {
                v.push(
                    &name_span,
                    format!("{at}.name"),
                    format!(
                        "duplicate scenario name \"{name}\": already used by the scenario at line {first_line}"
                    ),
                    "give each [[scenario]] a unique name (names are keys in the run history)",
                );
            } else {
                names.insert(name.clone(), line);
            }
        }
        v.scenario_index = i;
        v.scenario_label = name.clone().unwrap_or_else(|| at.clone());
        if let Some(typed) = v.scenario(scenario, &at, name) {
            scenarios.push(typed);
        }
    }

    let notify = raw.notify.as_ref().and_then(|n| v.notify(n));
    let prices = raw.prices.as_ref().and_then(|p| v.prices(p));

    if v.errors.is_empty() {
        let included: Vec<&super::HolidayFile> = scenarios
            .iter()
            .filter_map(|s: &Scenario| s.holidays.as_deref())
            .collect();
        let digest = super::config_digest(src.text, &included);
        Ok(Config {
            table,
            scenarios,
            notify,
            prices,
            source: src.file.to_string(),
            digest,
        })
    } else {
        // In check order; `parse` sorts them into file order with the first pass's errors.
        Err(ConfigErrors(v.errors))
    }
}

impl Validator<'_> {
    fn push(
        &mut self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let error = self.src.error(span, key, message, hint);
        self.errors.push(error);
    }

    fn line_of(&self, span: &Range<usize>) -> usize {
        self.src.position(span.start).0
    }

    /// DynamoDB's own rule: 3 to 255 characters of `[A-Za-z0-9_.-]`.
    fn table_name(&mut self, table: &Spanned<String>) -> String {
        let value = table.get_ref();
        let span = table.span();
        if value.trim().is_empty() {
            self.push(
                &span,
                "table",
                "table name is empty",
                "set table = \"nightshift-runs\" (or remove the key to use that default)",
            );
        } else if value.len() < 3
            || value.len() > 255
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.push(
                &span,
                "table",
                format!("\"{value}\" is not a valid DynamoDB table name"),
                "use 3 to 255 characters from A-Z, a-z, 0-9, '_', '-' and '.', e.g. \"nightshift-runs\"",
            );
        }
        value.clone()
    }

    fn scenario_name(&mut self, name: &Spanned<String>, key: &str) -> Option<String> {
        let value = name.get_ref();
        let span = name.span();
        let hint = format!(
            "use 1 to {MAX_SCENARIO_NAME_LEN} characters from A-Z, a-z, 0-9, '-' and '_', e.g. \"nightly-batch\" (names go into table keys and CLI arguments)"
        );
        if value.is_empty() {
            self.push(&span, key, "scenario name is empty", hint);
            return None;
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            self.push(
                &span,
                key,
                format!("scenario name \"{value}\" contains {bad:?}, which is not allowed"),
                hint,
            );
            return None;
        }
        if value.len() > MAX_SCENARIO_NAME_LEN {
            self.push(
                &span,
                key,
                format!(
                    "scenario name is {} characters long; the limit is {MAX_SCENARIO_NAME_LEN}",
                    value.len()
                ),
                hint,
            );
            return None;
        }
        Some(value.clone())
    }

    fn scenario(
        &mut self,
        raw: &Spanned<RawScenario>,
        at: &str,
        name: Option<String>,
    ) -> Option<Scenario> {
        let errors_before = self.errors.len();
        let header = raw.span();
        let raw = raw.get_ref();
        let timezone = self.timezone(&raw.timezone, &format!("{at}.timezone"));
        let (region, role_arn) = self.location(raw, at);

        if raw.ecs.is_empty()
            && raw.docdb.is_empty()
            && raw.aurora.is_empty()
            && raw.neptune.is_empty()
            && raw.batch.is_empty()
            && raw.asg.is_empty()
        {
            self.push(
                &header,
                at,
                "scenario scales nothing: it has no [[scenario.ecs]], [[scenario.docdb]], [[scenario.aurora]], [[scenario.neptune]], [[scenario.batch]] or [[scenario.asg]]",
                "add a [[scenario.ecs]] table (cluster, service, desired, max), a [[scenario.docdb]] table (cluster, replicas, instance_class; [[scenario.aurora]] and [[scenario.neptune]] take the same keys), a [[scenario.batch]] table (compute_environment, min_vcpus) or a [[scenario.asg]] table (name, min, max)",
            );
        }

        let ecs = self.ecs_targets(&raw.ecs, at);
        let docdb = self.cluster_targets(Engine::DocumentDb, &raw.docdb, at);
        let aurora = self.cluster_targets(Engine::Aurora, &raw.aurora, at);
        let neptune = self.cluster_targets(Engine::Neptune, &raw.neptune, at);
        let batch = self.batch_targets(&raw.batch, at);
        let asg = self.asg_targets(&raw.asg, at);

        let scale_down = self.scale_down(&raw.scale_down, &format!("{at}.scale_down"));

        let mut completion = Vec::with_capacity(raw.completion.len());
        for (j, matcher) in raw.completion.iter().enumerate() {
            if let Some(m) = self.completion(matcher, &format!("{at}.completion[{j}]")) {
                completion.push(m);
            }
        }

        let mut skip_dates = Vec::with_capacity(raw.skip_dates.len());
        for (j, date) in raw.skip_dates.iter().enumerate() {
            if let Some(d) = self.skip_date(date, &format!("{at}.skip_dates[{j}]")) {
                skip_dates.push(d);
            }
        }

        let schedule = match (&raw.schedule, &scale_down) {
            (None, _) => Some(None),
            (Some(raw), Some(scale_down)) => self
                .schedule(raw, &format!("{at}.schedule"), scale_down)
                .map(Some),
            // The night cannot be computed without a valid scale_down; its errors are reported.
            (Some(_), None) => None,
        };

        let holidays = raw
            .holidays
            .as_ref()
            .and_then(|h| self.holidays(h, &format!("{at}.holidays")));
        let profiles = match (&scale_down, &schedule) {
            (Some(sd), Some(schedule)) => self.profiles(
                &raw.profile,
                at,
                &profile::Targets {
                    ecs: &ecs,
                    docdb: &docdb,
                    aurora: &aurora,
                    neptune: &neptune,
                    batch: &batch,
                    asg: &asg,
                },
                &profile::Nights {
                    scale_down: sd,
                    schedule: schedule.as_ref(),
                    skip_dates: &skip_dates,
                    holidays: holidays.as_deref(),
                },
            ),
            _ => Vec::new(),
        };

        if self.errors.len() > errors_before {
            return None;
        }
        let (timezone, timezone_name) = timezone?;
        Some(Scenario {
            name: name?,
            timezone,
            timezone_name,
            ecs,
            docdb,
            aurora,
            neptune,
            batch,
            asg,
            scale_down: scale_down?,
            completion,
            skip_dates,
            schedule: schedule?,
            region,
            role_arn,
            holidays,
            profiles,
        })
    }

    /// The current scenario as the owner of a resource configured at `span`.
    fn first_seen(&self, span: &Range<usize>) -> FirstSeen {
        FirstSeen {
            scenario_index: self.scenario_index,
            scenario_label: self.scenario_label.clone(),
            line: self.line_of(span),
        }
    }

    fn non_empty(&mut self, raw: &Spanned<String>, key: &str, what: &str) -> Option<String> {
        let value = raw.get_ref();
        if value.trim().is_empty() {
            let example = example_for(key);
            self.push(
                &raw.span(),
                key,
                format!("{what} is empty"),
                format!("set it, e.g. {example}"),
            );
            return None;
        }
        Some(value.clone())
    }

    /// An AWS resource name: non-empty, then `valid` (ECS and DocumentDB refuse anything else, and a
    /// `*` or `/` would widen or bend the IAM policy's ARNs).
    fn resource_name(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
        what: &str,
        rule: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let value = self.non_empty(raw, key, what)?;
        if valid(&value) {
            return Some(value);
        }
        self.push(
            &raw.span(),
            key,
            format!("\"{value}\" is not a valid {what}: {rule}"),
            format!(
                "use the name exactly as AWS shows it, e.g. {}",
                example_for(key)
            ),
        );
        None
    }

    /// A duration value; `positive` refuses zero.
    fn duration(&mut self, raw: &Spanned<String>, key: &str, positive: bool) -> Option<Duration> {
        let what = key.rsplit('.').next().unwrap_or(key);
        match parse_duration(raw.get_ref()) {
            Ok(d) if positive && d.is_zero() => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} is zero; it must be longer than that"),
                    format!("use a positive duration, e.g. {}", example_for(key)),
                );
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("bad duration: {message}"),
                    format!("write it like {}", example_for(key)),
                );
                None
            }
        }
    }
}

/// Records `here` as the owner of resource `id`, or returns the message and hint saying where it
/// was configured first: twice in one scenario is a copy-paste slip, in two scenarios the
/// scenarios would undo each other's `setting` every night.
fn claim<K: std::hash::Hash + Eq>(
    owners: &mut HashMap<K, FirstSeen>,
    id: K,
    here: FirstSeen,
    what: &str,
    setting: &str,
) -> Option<(String, &'static str)> {
    match owners.get(&id) {
        Some(first) if first.scenario_index == here.scenario_index => Some((
            format!("{what} is listed twice in this scenario (first at line {})", first.line),
            "remove the second entry: one entry per resource",
        )),
        Some(first) => Some((
            format!(
                "{what} is also configured in scenario \"{}\" (line {}): two scenarios would fight over its {setting}",
                first.scenario_label, first.line
            ),
            "configure each resource in one scenario only: merge the scenarios or remove one entry",
        )),
        None => {
            owners.insert(id, here);
            None
        }
    }
}
