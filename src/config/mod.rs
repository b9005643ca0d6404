//! The config file: TOML text → typed [`Config`], or every problem at once with file, line,
//! column, key and a fix hint.
//!
//! Two passes, as ripgrep does it. The first (`raw`) reads the *shape*: TOML syntax, then serde
//! into `Raw*` structs whose values keep their byte spans, while a walk of the same tree reports
//! every unknown key. The second (`validate`) checks the *meaning* and builds the typed config.
//! A syntax error is reported alone, because nothing after it can be checked reliably; a missing
//! key or a wrong type stops the second pass. Unknown keys never hide the file's other errors, and
//! the second pass collects all of its own, so `nightshift validate` shows them in one run.
//! `diagnostics` holds the error type, its rendering and the hint helpers.
//!
//! This module does no environment lookups: the caller resolves `NIGHTSHIFT_CONFIG` into the path
//! given to [`load`] and applies `NIGHTSHIFT_TABLE` with [`Config::with_table_override`], so tests
//! never depend on the process environment.

mod diagnostics;
mod holidays;
mod notify;
pub mod prices;
mod profile;
mod raw;
mod target;
mod validate;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use diagnostics::{tame, ConfigError, ConfigErrors, MAX_ECHOED_RUN, MAX_SHOWN_ERRORS};
pub use holidays::{config_digest, Dir, FileError, Files, HolidayFile, InMemory, HOLIDAYS_LIMIT};
pub use notify::{EventBus, Notify};
pub use prices::{Prices, TaskPrices};
pub use profile::{NightProfile, NightValues, Profile, TargetNight, ORDINARY};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
pub use target::{Engine, TargetId, TargetKind};
pub use validate::location::{is_region_name, role_arn_problem};

/// DynamoDB table used when the file has no `table` key (the contract example's value).
pub const DEFAULT_TABLE: &str = "nightshift-runs";

/// Where the container image puts the config when `NIGHTSHIFT_CONFIG` is unset.
pub const DEFAULT_CONFIG_PATH: &str = "/var/task/nightshift.toml";

/// A DocumentDB cluster has one writer and at most 15 readers.
pub const MAX_DOCDB_REPLICAS: u8 = 15;

mod dcu;
pub use dcu::Dcu;

/// Longest scenario name: names end up in DynamoDB keys, schedule names and CLI arguments.
pub const MAX_SCENARIO_NAME_LEN: usize = 64;

/// Wording shared by every duration message, so all of them name the same accepted forms.
const DURATION_FORMS: &str =
    "a whole number followed by a unit s, m, h or d, larger units first, e.g. \"30s\", \"15m\", \"2h\" or \"1h30m\"";

// ---------------------------------------------------------------------------------------------
// Typed config: what the rest of nightshift codes against.
// ---------------------------------------------------------------------------------------------

/// A validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DynamoDB table holding dedup records and run history.
    pub table: String,
    /// Scenarios in file order; names are unique.
    pub scenarios: Vec<Scenario>,
    /// `[notify]`: where nightshift's own events go; None sends none.
    pub notify: Option<Notify>,
    /// `[prices]`: what the nights cost; None reports hours only.
    pub prices: Option<Prices>,
    /// Where the config came from (a file path or a label), for messages.
    pub source: String,
    /// SHA-256 (hex) of the config text: `nightshift template` writes it into the function's
    /// environment and `bootstrap` refuses to start on a config with another digest.
    pub digest: String,
}

impl Config {
    /// The scenario called `name`, if configured.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// Scenario names in file order, e.g. for "unknown scenario; configured: …" messages.
    pub fn scenario_names(&self) -> Vec<&str> {
        self.scenarios.iter().map(|s| s.name.as_str()).collect()
    }

    /// Applies `NIGHTSHIFT_TABLE`: the caller passes the variable's value. An empty or blank
    /// value is treated as unset, because a shell `export NIGHTSHIFT_TABLE=` should not point
    /// the function at a table named "".
    pub fn with_table_override(mut self, table: Option<String>) -> Config {
        if let Some(table) = table {
            let table = table.trim();
            if !table.is_empty() {
                self.table = table.to_string();
            }
        }
        self
    }
}

/// One nightly batch: what to scale up, and when it may scale back down.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Zone in which `deadline` and `skip_dates` are read.
    pub timezone: jiff::tz::TimeZone,
    /// Canonical IANA name of `timezone` (e.g. "Asia/Tokyo"), for messages and records.
    pub timezone_name: String,
    pub ecs: Vec<EcsTarget>,
    /// `[[scenario.docdb]]`, `[[scenario.aurora]]`, `[[scenario.neptune]]`: RDS-family clusters,
    /// one list per table (each target knows its engine; [`Scenario::clusters`] is all of them).
    pub docdb: Vec<ClusterTarget>,
    pub aurora: Vec<ClusterTarget>,
    pub neptune: Vec<ClusterTarget>,
    // --- worker kinds: AWS Batch compute environments and EC2 Auto Scaling groups ---
    /// `[[scenario.batch]]`: managed EC2/Spot compute environments kept warm for the night.
    pub batch: Vec<BatchTarget>,
    /// `[[scenario.asg]]`: EC2 Auto Scaling groups of workers.
    pub asg: Vec<AsgTarget>,
    // --- end worker kinds ---
    pub scale_down: ScaleDown,
    /// Events that mean "the batch may be done: check now". May be empty (scheduled checks only).
    pub completion: Vec<CompletionMatcher>,
    /// Local dates on which the scenario does not run.
    pub skip_dates: Vec<jiff::civil::Date>,
    /// When the night's steps run, for `nightshift template` (optional).
    pub schedule: Option<crate::schedule::Schedule>,
    /// The region of this scenario's resources, when not the function's own (`region`).
    pub region: Option<String>,
    /// The role its scaling and metric calls assume, in another account (`role_arn`).
    pub role_arn: Option<String>,
    /// `holidays = "F.ics"`: nights without a batch, like `skip_dates`.
    pub holidays: Option<std::sync::Arc<HolidayFile>>,
    /// `[[scenario.profile]]`, in file order: the first that matches a night wins.
    pub profiles: Vec<Profile>,
}

/// An ECS service whose desired count is raised for the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsTarget {
    pub cluster: String,
    pub service: String,
    /// Desired count while the batch runs (≥ 1).
    pub desired: u32,
    /// Guardrail: nightshift never sets a desired count above this (≥ desired).
    pub max: u32,
}

/// An RDS-family cluster (DocumentDB, Aurora, Neptune) that gets reader replicas (and optionally a
/// bigger class, or a higher serverless MinCapacity) for the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    /// The config table it came from: which engines its cluster may run.
    pub engine: Engine,
    pub cluster: String,
    /// Reader instances while the batch runs, 0..=15.
    pub replicas: u8,
    /// Class of the readers nightshift adds; starts with "db.". Always set when `replicas` adds
    /// readers; None only for a cluster that adds none (`replicas = 0`, e.g. serverless-only).
    pub instance_class: Option<String>,
    /// Optional class for every instance during the batch; starts with "db.".
    pub resize: Option<String>,
    /// Serverless: the MinCapacity the night raises the cluster to (in the engine's unit and
    /// range: [`Engine::serverless_range`]).
    pub serverless_min: Option<Dcu>,
    /// Classes tried in order when a reader's create is refused with
    /// InsufficientDBInstanceCapacity (empty: no fallback).
    pub fallback_classes: Vec<String>,
}

// --- worker kinds: AWS Batch compute environments and EC2 Auto Scaling groups ---

/// An AWS Batch managed EC2 or Spot compute environment whose `minvCpus` is raised for the night,
/// so that the first jobs find instances running instead of waiting for them to launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTarget {
    /// Its name or its ARN, as configured (`compute_environment`).
    pub compute_environment: String,
    /// `minvCpus` for the night (at least 1).
    pub min_vcpus: u32,
    /// Optional guardrail: nightshift never sets a vCPU count above this (at least `min_vcpus`).
    pub max_vcpus: Option<u32>,
}

impl BatchTarget {
    /// The environment's name: the configured name, or the last part of a configured ARN
    /// (`arn:aws:batch:<region>:<account>:compute-environment/<name>`).
    pub fn name(&self) -> &str {
        batch_environment_name(&self.compute_environment)
    }

    /// Does `name_or_arn` (a name or an ARN, as AWS reports or a call names it) mean this
    /// environment?
    pub fn matches(&self, name_or_arn: &str) -> bool {
        self.compute_environment == name_or_arn
            || self.name() == batch_environment_name(name_or_arn)
    }
}

/// The name part of a compute environment name or ARN.
pub fn batch_environment_name(name_or_arn: &str) -> &str {
    match name_or_arn.strip_prefix("arn:") {
        Some(rest) => rest.rsplit('/').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

/// An EC2 Auto Scaling group whose `MinSize` and `DesiredCapacity` are raised for the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsgTarget {
    pub name: String,
    /// MinSize and DesiredCapacity for the night (at least 1); MaxSize is raised to it only when
    /// it is lower.
    pub min: u32,
    /// Guardrail: nightshift never sets MinSize, DesiredCapacity or MaxSize above this.
    pub max: u32,
}

// --- end worker kinds ---

/// When the night is over.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDown {
    /// Every metric must stay below its threshold this long (≥ the longest metric period).
    pub quiet_for: Duration,
    /// Local time after which scale-down happens regardless of metrics.
    pub deadline: jiff::civil::Time,
    /// Never scale down sooner than this after scale-up.
    pub min_hold: Duration,
    pub missing_data: MissingData,
    /// At least one metric.
    pub metrics: Vec<MetricSpec>,
}

/// How a metric window without datapoints counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingData {
    /// No data means the batch may still be running (the safe default).
    Busy,
    /// No data means the batch is idle.
    Quiet,
}

/// One CloudWatch metric that must be below a threshold for the batch to count as done.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// "SampleCount", "Average", "Sum", "Minimum", "Maximum" or a percentile such as "p99".
    pub stat: String,
    /// A whole number of minutes (CloudWatch standard resolution).
    pub period: Duration,
    /// Finite threshold: the metric is quiet when its value is strictly below this.
    pub below: f64,
}

/// An EventBridge event that triggers a `check` for this scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionMatcher {
    /// `aws.ecs` / "ECS Task State Change" with lastStatus STOPPED and this task `group`.
    EcsTaskStopped { group: String },
    /// `aws.batch` / "Batch Job State Change" (SUCCEEDED or FAILED) on this job queue.
    BatchJobDone { job_queue: String },
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Reads and validates the config file at `path`, and the files it includes (a holiday file),
/// read beside it.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| read_error(&source, &e))?;
    parse_with(&text, &source, &Dir::of(path))
}

/// SHA-256 (hex) of a config file's bytes: [`Config::digest`].
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Validates config `text`; `source` names it in messages (usually the file path).
/// Environment overrides are not applied here: see [`Config::with_table_override`].
pub fn parse(text: &str, source: &str) -> Result<Config, ConfigErrors> {
    parse_with(text, source, &InMemory::default())
}

/// Validates config `text` whose included files are read from `files`.
pub fn parse_with(text: &str, source: &str, files: &dyn Files) -> Result<Config, ConfigErrors> {
    let src = diagnostics::SourceText::new(text, source);
    let (raw, mut errors) = raw::read(&src)?;
    if let Some(raw) = raw {
        match validate::validate(&src, raw, files) {
            Ok(config) if errors.is_empty() => return Ok(config),
            Ok(_) => {}
            Err(semantic) => errors.extend(semantic.0),
        }
    }
    // The passes check by concept, not by line; readers expect file order.
    errors.sort_by_key(|e| (e.line, e.column));
    Err(ConfigErrors(errors))
}

fn read_error(file: &str, error: &std::io::Error) -> ConfigError {
    use std::io::ErrorKind;
    let elsewhere = format!(
        "pass the right path with --config FILE or set NIGHTSHIFT_CONFIG (the image default is {DEFAULT_CONFIG_PATH})"
    );
    let (message, hint) = match error.kind() {
        ErrorKind::NotFound => (format!("config file {file} does not exist"), elsewhere),
        ErrorKind::PermissionDenied => (
            format!("config file {file} is not readable: permission denied"),
            format!(
                "the Lambda runs as a non-root user: make the file readable by others (chmod o+r), or {elsewhere}"
            ),
        ),
        ErrorKind::InvalidData => (
            format!("config file {file} is not valid UTF-8"),
            "save the file as UTF-8 text".to_string(),
        ),
        ErrorKind::IsADirectory => (
            format!("config path {file} is a directory, not a file"),
            elsewhere,
        ),
        _ => (format!("cannot read config file {file}: {error}"), elsewhere),
    };
    ConfigError {
        file: tame(file),
        line: 0,
        column: 0,
        key: String::new(),
        message: tame(&message),
        hint: tame(&hint),
    }
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// Parses a duration such as `30s`, `15m`, `2h`, `1h30m` or `1d`.
///
/// Units are `d`, `h`, `m`, `s`, each at most once and larger first, so a value has exactly one
/// spelling and `1m1h` is caught as a typo. Zero (`0s`) parses: whether zero is allowed is the
/// caller's decision. The error message shows the bad value and the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err(format!("empty duration; expected {DURATION_FORMS}"));
    }
    if s.starts_with('-') {
        return Err(format!("\"{s}\" is negative; expected {DURATION_FORMS}"));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!(
            "\"{s}\" contains whitespace; expected {DURATION_FORMS}"
        ));
    }
    let mut total: u64 = 0;
    // Rank of the last unit seen (d=4 … s=1): each unit must be smaller than the previous one.
    let mut last_rank = u8::MAX;
    let mut rest = s;
    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_len == 0 {
            return Err(format!(
                "\"{s}\" has a unit without a number before it; expected {DURATION_FORMS}"
            ));
        }
        let (digits, after) = rest.split_at(digits_len);
        if after.is_empty() {
            return Err(format!(
                "\"{s}\" has no unit after {digits}; expected {DURATION_FORMS}"
            ));
        }
        if after.starts_with('.') || after.starts_with(',') {
            return Err(format!(
                "\"{s}\" is not a whole number (write \"90m\", not \"1.5h\"); expected {DURATION_FORMS}"
            ));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let (rank, seconds_per_unit) = match unit {
            "d" => (4, 86_400),
            "h" => (3, 3_600),
            "m" => (2, 60),
            "s" => (1, 1),
            _ => {
                return Err(format!(
                    "\"{s}\" has unknown unit \"{unit}\"; expected {DURATION_FORMS}"
                ))
            }
        };
        if rank >= last_rank {
            return Err(format!(
                "\"{s}\" repeats a unit or puts a smaller unit first; expected {DURATION_FORMS}"
            ));
        }
        last_rank = rank;
        let too_large = || format!("\"{s}\" is too large; expected {DURATION_FORMS}");
        let amount: u64 = digits.parse().map_err(|_| too_large())?;
        let part = amount.checked_mul(seconds_per_unit).ok_or_else(too_large)?;
        total = total.checked_add(part).ok_or_else(too_large)?;
        rest = next;
    }
    Ok(Duration::from_secs(total))
}

/// Parses a local time of day "HH:MM" (or "H:MM"), 24-hour.
pub fn parse_local_time(value: &str) -> Option<jiff::civil::Time> {
    value.split_once(':').and_then(|(h, m)| {
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if !(digits(h) && h.len() <= 2 && digits(m) && m.len() == 2) {
            return None;
        }
        let hour: i8 = h.parse().ok()?;
        let minute: i8 = m.parse().ok()?;
        jiff::civil::Time::new(hour, minute, 0, 0).ok()
    })
}
