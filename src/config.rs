//! The config file: TOML text → typed [`Config`], or every problem at once with file, line,
//! column, key and a fix hint.
//!
//! Two passes, as ripgrep does it: serde first reads the *shape* into `Raw*` structs (unknown keys
//! denied, every value wrapped in [`Spanned`] so later errors can point at it), then `validate`
//! checks the *meaning* and builds the typed config. A syntax or shape error stops the first pass
//! and is reported alone, because nothing after it can be checked reliably; the second pass
//! collects all semantic errors so `nightshift validate` shows them in one run.
//!
//! This module does no environment lookups: the caller resolves `NIGHTSHIFT_CONFIG` into the path
//! given to [`load`] and applies `NIGHTSHIFT_TABLE` with [`Config::with_table_override`], so tests
//! never depend on the process environment.

pub use crate::schedule::Schedule;
use crate::text::config_duration as format_duration;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// DynamoDB table used when the file has no `table` key (product.md's example value).
pub const DEFAULT_TABLE: &str = "nightshift-runs";

/// Where the container image puts the config when `NIGHTSHIFT_CONFIG` is unset.
pub const DEFAULT_CONFIG_PATH: &str = "/var/task/nightshift.toml";

/// A DocumentDB cluster has one writer and at most 15 readers.
pub const MAX_DOCDB_REPLICAS: u8 = 15;

/// Longest scenario name: names end up in DynamoDB keys, schedule names and CLI arguments.
pub const MAX_SCENARIO_NAME_LEN: usize = 64;

/// The statistics CloudWatch accepts besides percentiles (`pNN`).
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

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
    pub docdb: Vec<DocDbTarget>,
    pub scale_down: ScaleDown,
    /// Events that mean "the batch may be done: check now". May be empty (scheduled checks only).
    pub completion: Vec<CompletionMatcher>,
    /// Local dates on which the scenario does not run.
    pub skip_dates: Vec<jiff::civil::Date>,
    /// When the night's steps run, for `nightshift template` (optional).
    pub schedule: Option<Schedule>,
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

/// A DocumentDB cluster that gets reader replicas (and optionally a bigger class) for the night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocDbTarget {
    pub cluster: String,
    /// Reader instances while the batch runs, 0..=15.
    pub replicas: u8,
    /// Class of the readers nightshift adds; starts with "db.".
    pub instance_class: String,
    /// Optional class for every instance during the batch; starts with "db.".
    pub resize: Option<String>,
}

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
// Errors
// ---------------------------------------------------------------------------------------------

/// One problem in a config file. `line` and `column` are 1-based; both are 0 when the problem
/// has no position (the file could not be read at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending key, e.g. `scenario[0].ecs[0].desired`; empty when unknown.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one config file, in file order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How many errors a report shows: the first ones in file order are the ones to fix first, and
/// an init error or a log line must stay readable (a config repeating one mistake 300 times
/// would otherwise make a report of hundreds of kilobytes).
pub const MAX_SHOWN_ERRORS: usize = 50;

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().take(MAX_SHOWN_ERRORS).enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        if self.0.len() > MAX_SHOWN_ERRORS {
            write!(
                f,
                "\n… and {} more errors: fix the ones above and run `nightshift validate` again",
                self.0.len() - MAX_SHOWN_ERRORS
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| read_error(&source, &e))?;
    parse(&text, &source)
}

/// SHA-256 (hex) of a config file's bytes: [`Config::digest`].
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Validates config `text`; `source` names it in messages (usually the file path).
/// Environment overrides are not applied here: see [`Config::with_table_override`].
pub fn parse(text: &str, source: &str) -> Result<Config, ConfigErrors> {
    let src = SourceText::new(text, source);
    let raw: RawConfig = toml::from_str(text).map_err(|e| shape_error(&src, &e))?;
    validate(&src, raw)
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

// ---------------------------------------------------------------------------------------------
// Raw shape: mirrors the TOML exactly; every value keeps its byte span for error positions.
// Integers are read as i64 and narrowed in `validate`, so "replicas = 300" gets a DocumentDB
// message rather than serde's "expected u8".
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    table: Option<Spanned<String>>,
    #[serde(default)]
    scenario: Vec<Spanned<RawScenario>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    timezone: Spanned<String>,
    #[serde(default)]
    ecs: Vec<Spanned<RawEcs>>,
    #[serde(default)]
    docdb: Vec<Spanned<RawDocDb>>,
    scale_down: Spanned<RawScaleDown>,
    #[serde(default)]
    completion: Vec<Spanned<RawCompletion>>,
    #[serde(default)]
    skip_dates: Vec<Spanned<String>>,
    schedule: Option<Spanned<RawSchedule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    scale_up: Spanned<String>,
    check_every: Spanned<String>,
    scale_down: Option<Spanned<String>>,
    days: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEcs {
    cluster: Spanned<String>,
    service: Spanned<String>,
    desired: Spanned<i64>,
    max: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocDb {
    cluster: Spanned<String>,
    replicas: Spanned<i64>,
    instance_class: Spanned<String>,
    resize: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScaleDown {
    quiet_for: Spanned<String>,
    deadline: Spanned<String>,
    min_hold: Spanned<String>,
    /// Optional: "busy" is the safe default (no data never triggers an early scale-down).
    missing_data: Option<Spanned<String>>,
    /// Defaulted so that a missing list and an empty list get the same specific message.
    #[serde(default)]
    metric: Vec<Spanned<RawMetric>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    namespace: Spanned<String>,
    name: Spanned<String>,
    dimensions: Option<Spanned<BTreeMap<String, String>>>,
    stat: Spanned<String>,
    period: Spanned<String>,
    below: Spanned<f64>,
}

/// Flat rather than a serde-tagged enum: tagged enums buffer their content and lose spans, and
/// a flat struct lets `validate` say exactly which key the chosen source needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompletion {
    source: Spanned<String>,
    group: Option<Spanned<String>>,
    job_queue: Option<Spanned<String>>,
}

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

/// The text being parsed, to turn byte spans into 1-based line and column.
struct SourceText<'a> {
    text: &'a str,
    file: &'a str,
    /// Byte offset of each line's start: positions are a binary search, not a scan from the top
    /// (validation asks for one per scenario and resource, which made big configs quadratic).
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    fn new(text: &'a str, file: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText {
            text,
            file,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The last line start at or before `offset`; line_starts[0] = 0, so one always exists.
        let index = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts[index];
        let column = self.text[line_start..offset].chars().count() + 1;
        (index + 1, column)
    }

    fn error(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError {
            file: tame(self.file),
            line,
            column,
            key: tame(&key.into()),
            message: tame(&message.into()),
            hint: tame(&hint.into()),
        }
    }
}

/// A message fit for a terminal and a log line, whatever the config held: control characters,
/// bidi overrides and invisible format characters are shown escaped (`\u{202e}`), never raw, and
/// a run of more than [`MAX_ECHOED_RUN`] characters without a space (a huge value echoed back) is
/// cut to its start and its length.
pub fn tame(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_ECHOED_RUN));
    for word in text.split_inclusive(' ') {
        let run = word.trim_end_matches(' ');
        let count = run.chars().count();
        let shown: String = if count > MAX_ECHOED_RUN {
            let head: String = run.chars().take(MAX_ECHOED_RUN / 2).collect();
            format!("{head}…({count} characters)")
        } else {
            run.to_string()
        };
        for c in shown.chars() {
            if is_unsafe_char(c) {
                out.push_str(&format!("\\u{{{:04x}}}", c as u32));
            } else {
                out.push(c);
            }
        }
        out.push_str(&word[run.len()..]);
    }
    out
}

/// Longest run of non-space characters a message echoes whole.
pub const MAX_ECHOED_RUN: usize = 120;

/// Characters that must never reach a terminal raw: controls (but the newline between a message's
/// lines), bidi embeddings, overrides and isolates, and zero-width format characters.
fn is_unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || ('\u{200b}'..='\u{200f}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || c == '\u{feff}'
}

// ---------------------------------------------------------------------------------------------
// Syntax and shape errors (first pass)
// ---------------------------------------------------------------------------------------------

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// How the user wrote the table at `path`: `[[scenario.ecs]]`, `[scenario.scale_down]`, or the
/// top level of the file.
fn table_label(path: &[Segment]) -> String {
    match path.last() {
        None => "the top level of the file".to_string(),
        Some(Segment::Index(_)) => format!("[[{}]]", dotted_keys(path)),
        Some(Segment::Key(_)) => format!("[{}]", dotted_keys(path)),
    }
}

/// What the spanned TOML tree says about the place a serde error points at.
struct Located {
    path: Vec<Segment>,
    /// TOML type of the value found there, when the span is a value ("datetime", "string", …).
    value_type: Option<&'static str>,
}

/// Finds the deepest key or value whose span is exactly `target`. serde errors carry only a
/// span, but the spanned tree knows which key or table each span belongs to.
fn locate(root: &toml::de::DeTable<'_>, target: &Range<usize>) -> Option<Located> {
    let mut best = None;
    locate_in_table(root, target, &mut Vec::new(), &mut best);
    best
}

fn locate_in_table(
    table: &toml::de::DeTable<'_>,
    target: &Range<usize>,
    path: &mut Vec<Segment>,
    best: &mut Option<Located>,
) {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if key.span() == *target {
            consider(path, None, best);
        }
        locate_in_value(value, target, path, best);
        path.pop();
    }
}

fn locate_in_value(
    value: &Spanned<toml::de::DeValue<'_>>,
    target: &Range<usize>,
    path: &mut Vec<Segment>,
    best: &mut Option<Located>,
) {
    if value.span() == *target {
        consider(path, Some(value.get_ref().type_str()), best);
    }
    match value.get_ref() {
        toml::de::DeValue::Table(table) => locate_in_table(table, target, path, best),
        toml::de::DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Segment::Index(i));
                locate_in_value(item, target, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn consider(path: &[Segment], value_type: Option<&'static str>, best: &mut Option<Located>) {
    if best.as_ref().is_none_or(|b| path.len() > b.path.len()) {
        *best = Some(Located {
            path: path.to_vec(),
            value_type,
        });
    }
}

/// The names between backticks in a serde message, e.g. "unknown field `x`, expected `a` or `b`".
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// Keys whose value is an array of tables, written `[[…]]`; every other array holds values.
const TABLE_ARRAYS: [&str; 5] = ["scenario", "ecs", "docdb", "metric", "completion"];

/// Turns a toml/serde error into a message that names the key, the problem and the fix.
fn shape_error(src: &SourceText<'_>, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let raw = error.message();
    let (root, syntax_errors) = toml::de::DeTable::parse_recoverable(src.text);
    if !syntax_errors.is_empty() {
        let hint = if raw.contains("duplicate key") {
            "each key may appear only once per table: remove or rename the repeated key"
        } else {
            "fix the TOML syntax at this position (strings need double quotes, tables need [brackets]; see https://toml.io)"
        };
        return src.error(&span, "", format!("TOML syntax error: {raw}"), hint);
    }
    let located = locate(root.get_ref(), &span);
    let path = located.as_ref().map(|l| l.path.clone()).unwrap_or_default();
    let key = render_path(&path);

    if raw.starts_with("unknown field") {
        let names = backticked(raw);
        let unknown = names.first().copied().unwrap_or("");
        let allowed = names.get(1..).unwrap_or_default();
        let parent = &path[..path.len().saturating_sub(1)];
        let allowed_list = allowed.join(", ");
        let message = format!(
            "unknown key `{unknown}` in {}; allowed keys here: {allowed_list}",
            table_label(parent)
        );
        let hint = match suggest(unknown, allowed) {
            Some(near) => format!("did you mean `{near}`? rename `{unknown}` to `{near}`"),
            None => format!("remove `{unknown}` or use one of: {allowed_list}"),
        };
        let key = if key.is_empty() {
            unknown.to_string()
        } else {
            key
        };
        return src.error(&span, key, message, hint);
    }

    if raw.starts_with("missing field") {
        let missing = backticked(raw).first().copied().unwrap_or("").to_string();
        let label = table_label(&path);
        let mut full = path.clone();
        full.push(Segment::Key(missing.clone()));
        let message = format!("missing required key `{missing}` in {label}");
        let hint = format!(
            "add {} to this {label} table",
            example_for(&render_path(&full))
        );
        return src.error(&span, render_path(&full), message, hint);
    }

    if let Some(rest) = raw.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let example = example_for(&key);
        if found.contains(" as i128") || found.contains(" as u128") {
            let hint = format!("use a whole number that fits in 64 bits, e.g. {example}");
            return src.error(&span, key, "integer is too large", hint);
        }
        // TOML dates and times reach serde as maps; say what the user actually wrote.
        let found = match (located.as_ref().and_then(|l| l.value_type), found) {
            (Some("datetime"), _) => "an unquoted date/time",
            (_, "map") => "a table",
            (_, "sequence") => "an array",
            (_, other) => other,
        };
        let header = dotted_keys(&path);
        let last_key = header.rsplit('.').next().unwrap_or("");
        let (expected, hint) = match expected {
            "i64" => (
                "a whole number",
                format!("write a whole number without quotes, e.g. {example}"),
            ),
            "f64" => (
                "a number",
                format!("write a number without quotes, e.g. {example}"),
            ),
            "a string" => (
                "a quoted string",
                format!("put the value in double quotes, e.g. {example}"),
            ),
            "a sequence" if TABLE_ARRAYS.contains(&last_key) => (
                "an array of tables",
                format!("write [[{header}]] (double brackets): each one adds an entry"),
            ),
            "a sequence" => ("an array", format!("write an array, e.g. {example}")),
            _ => ("a table", format!("write it as a table: {example}")),
        };
        return src.error(
            &span,
            key,
            format!("wrong type: found {found}, expected {expected}"),
            hint,
        );
    }

    src.error(
        &span,
        key,
        format!("invalid value: {raw}"),
        "compare this entry with the contract example in product.md",
    )
}

/// `scenario.scale_down` for `scenario[0].scale_down`: how a table header spells the path.
fn dotted_keys(path: &[Segment]) -> String {
    path.iter()
        .filter_map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A line to paste for a key (a rendered path such as `scenario[0].ecs[0].desired`), used in
/// "add …" and "write …" hints.
fn example_for(key: &str) -> String {
    // Indices do not change the example: `scenario[1].ecs[0]` reads as `scenario.ecs`.
    let mut keys = String::with_capacity(key.len());
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => keys.push(c),
            _ => {}
        }
    }
    let example = match keys.as_str() {
        "table" => "table = \"nightshift-runs\"",
        "scenario" => "a [[scenario]] table",
        "scenario.name" => "name = \"nightly-batch\"",
        "scenario.timezone" => "timezone = \"Asia/Tokyo\"",
        "scenario.ecs.cluster" => "cluster = \"batch\"",
        "scenario.ecs.service" => "service = \"worker\"",
        "scenario.ecs.desired" => "desired = 10",
        "scenario.ecs.max" => "max = 20",
        "scenario.docdb.cluster" => "cluster = \"batch-db\"",
        "scenario.docdb.replicas" => "replicas = 3",
        "scenario.docdb.instance_class" => "instance_class = \"db.r6g.large\"",
        "scenario.docdb.resize" => "resize = \"db.r6g.2xlarge\"",
        "scenario.scale_down" => {
            "a [scenario.scale_down] table with quiet_for, deadline, min_hold and a [[scenario.scale_down.metric]]"
        }
        "scenario.scale_down.quiet_for" => "quiet_for = \"15m\"",
        "scenario.scale_down.deadline" => "deadline = \"07:30\"",
        "scenario.scale_down.min_hold" => "min_hold = \"30m\"",
        "scenario.scale_down.missing_data" => "missing_data = \"busy\"",
        "scenario.scale_down.metric.namespace" => "namespace = \"Batch\"",
        "scenario.scale_down.metric.name" => "name = \"JobsRunning\"",
        "scenario.scale_down.metric.dimensions" => "dimensions = { Job = \"nightly\" }",
        "scenario.scale_down.metric.stat" => "stat = \"Maximum\"",
        "scenario.scale_down.metric.period" => "period = \"1m\"",
        "scenario.scale_down.metric.below" => "below = 1",
        "scenario.completion.source" => "source = \"aws.ecs\"",
        "scenario.completion.group" => "group = \"family:nightly-job\"",
        "scenario.completion.job_queue" => "job_queue = \"nightly-queue\"",
        "scenario.skip_dates" => "skip_dates = [\"2026-12-31\"]",
        "scenario.schedule" => "a [scenario.schedule] table with scale_up and check_every",
        "scenario.schedule.scale_up" => "scale_up = \"23:00\"",
        "scenario.schedule.check_every" => "check_every = \"10m\"",
        "scenario.schedule.scale_down" => "scale_down = \"06:00\"",
        "scenario.schedule.days" => "days = [\"MON\", \"TUE\", \"WED\", \"THU\", \"FRI\"]",
        _ => {
            let last = keys.rsplit('.').next().unwrap_or("key");
            return format!("{last} = …");
        }
    };
    example.to_string()
}

/// The closest candidate to a misspelt `input`, if any is close: same word in another case, a
/// prefix ("Max" → "Maximum"), or at most two edits ("replica" → "replicas").
fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    if lower.is_empty() {
        return None;
    }
    candidates
        .iter()
        .map(|&c| {
            let cl = c.to_ascii_lowercase();
            let distance = if cl == lower {
                0
            } else if lower.len() >= 3 && (cl.starts_with(&lower) || lower.starts_with(&cl)) {
                1
            } else {
                edit_distance(&lower, &cl)
            };
            (distance, c)
        })
        .filter(|&(d, c)| d <= 2 && d < c.len().max(input.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Semantic validation (second pass)
// ---------------------------------------------------------------------------------------------

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
    /// DocumentDB clusters (lower-case) already configured, across all scenarios so far.
    docdb_owners: HashMap<String, FirstSeen>,
}

/// Where a resource was first configured; one map per resource kind spans all scenarios.
struct FirstSeen {
    scenario_index: usize,
    scenario_label: String,
    line: usize,
}

fn validate(src: &SourceText<'_>, raw: RawConfig) -> Result<Config, ConfigErrors> {
    let mut v = Validator {
        src,
        errors: Vec::new(),
        scenario_index: 0,
        scenario_label: String::new(),
        ecs_owners: HashMap::new(),
        docdb_owners: HashMap::new(),
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
            "add at least one [[scenario]] table with name, timezone, [[scenario.ecs]] or [[scenario.docdb]], and [scenario.scale_down]",
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

    if v.errors.is_empty() {
        Ok(Config {
            table,
            scenarios,
            source: src.file.to_string(),
            digest: digest(src.text.as_bytes()),
        })
    } else {
        // Checks run per concept, not per line; readers expect file order.
        v.errors.sort_by_key(|e| (e.line, e.column));
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

        if raw.ecs.is_empty() && raw.docdb.is_empty() {
            self.push(
                &header,
                at,
                "scenario scales nothing: it has no [[scenario.ecs]] and no [[scenario.docdb]]",
                "add a [[scenario.ecs]] table (cluster, service, desired, max) or a [[scenario.docdb]] table (cluster, replicas, instance_class)",
            );
        }

        let mut ecs = Vec::with_capacity(raw.ecs.len());
        for (j, entry) in raw.ecs.iter().enumerate() {
            let key = format!("{at}.ecs[{j}]");
            if let Some(target) = self.ecs_target(entry.get_ref(), &key) {
                let what = format!(
                    "ECS service \"{}\" in cluster \"{}\"",
                    target.service, target.cluster
                );
                let id = (target.cluster.clone(), target.service.clone());
                let span = entry.get_ref().service.span();
                let here = self.first_seen(&span);
                let clash = claim(&mut self.ecs_owners, id, here, &what, "desired count");
                if let Some((message, hint)) = clash {
                    self.push(&span, format!("{key}.service"), message, hint);
                }
                ecs.push(target);
            }
        }

        let mut docdb = Vec::with_capacity(raw.docdb.len());
        for (j, entry) in raw.docdb.iter().enumerate() {
            let key = format!("{at}.docdb[{j}]");
            if let Some(target) = self.docdb_target(entry.get_ref(), &key) {
                let what = format!("DocumentDB cluster \"{}\"", target.cluster);
                // DocumentDB cluster identifiers are case-insensitive (stored lower-case).
                let id = target.cluster.to_ascii_lowercase();
                let span = entry.get_ref().cluster.span();
                let here = self.first_seen(&span);
                let setting = "replicas and instance class";
                let clash = claim(&mut self.docdb_owners, id, here, &what, setting);
                if let Some((message, hint)) = clash {
                    self.push(&span, format!("{key}.cluster"), message, hint);
                }
                docdb.push(target);
            }
        }

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
            scale_down: scale_down?,
            completion,
            skip_dates,
            schedule: schedule?,
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

    fn timezone(
        &mut self,
        raw: &Spanned<String>,
        key: &str,
    ) -> Option<(jiff::tz::TimeZone, String)> {
        let name = raw.get_ref();
        match jiff::tz::TimeZone::get(name) {
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

    fn ecs_target(&mut self, raw: &RawEcs, at: &str) -> Option<EcsTarget> {
        const ECS_RULE: &str = "up to 255 letters, digits, hyphens and underscores";
        let ecs_name = |v: &str| {
            v.len() <= 255
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let cluster = self.resource_name(
            &raw.cluster,
            &format!("{at}.cluster"),
            "ECS cluster name",
            ECS_RULE,
            ecs_name,
        );
        let service = self.resource_name(
            &raw.service,
            &format!("{at}.service"),
            "ECS service name",
            ECS_RULE,
            ecs_name,
        );
        // Zero would stop the service for the night instead of scaling it up.
        let desired = match self.count(&raw.desired, &format!("{at}.desired"), "desired") {
            Some(0) => {
                self.push(
                    &raw.desired.span(),
                    format!("{at}.desired"),
                    "desired is 0: the service would run no tasks during the batch",
                    "set desired to the task count the batch needs (1 or more)",
                );
                None
            }
            desired => desired,
        };
        let max = match self.count(&raw.max, &format!("{at}.max"), "max") {
            Some(0) => {
                self.push(
                    &raw.max.span(),
                    format!("{at}.max"),
                    "max is 0: no desired count could ever be set",
                    "set max to the highest task count you allow (at least desired)",
                );
                None
            }
            max => max,
        };
        if let (Some(desired), Some(max)) = (desired, max) {
            if desired > max {
                self.push(
                    &raw.desired.span(),
                    format!("{at}.desired"),
                    format!("desired ({desired}) is above max ({max}): max is the guardrail nightshift never exceeds"),
                    format!("lower desired to {max} or less, or raise max to at least {desired}"),
                );
                return None;
            }
        }
        Some(EcsTarget {
            cluster: cluster?,
            service: service?,
            desired: desired?,
            max: max?,
        })
    }

    /// A task count that fits ECS's u32; zero is the caller's decision.
    fn count(&mut self, raw: &Spanned<i64>, key: &str, what: &str) -> Option<u32> {
        let value = *raw.get_ref();
        match u32::try_from(value) {
            Ok(count) => Some(count),
            Err(_) if value < 0 => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} is negative ({value})"),
                    "use a task count of 1 or more",
                );
                None
            }
            Err(_) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} ({value}) is too large"),
                    format!("use a task count of at most {}", u32::MAX),
                );
                None
            }
        }
    }

    fn docdb_target(&mut self, raw: &RawDocDb, at: &str) -> Option<DocDbTarget> {
        let cluster = self.resource_name(
            &raw.cluster,
            &format!("{at}.cluster"),
            "DocumentDB cluster identifier",
            "1 to 63 letters, digits and hyphens, starting with a letter, without two hyphens in a row or one at the end",
            |v: &str| {
                v.len() <= 63
                    && v.starts_with(|c: char| c.is_ascii_alphabetic())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !v.contains("--")
                    && !v.ends_with('-')
            },
        );
        let replicas = self.replicas(&raw.replicas, &format!("{at}.replicas"));
        let instance_class =
            self.instance_class(&raw.instance_class, &format!("{at}.instance_class"));
        let resize = match &raw.resize {
            None => Some(None),
            Some(resize) => self
                .instance_class(resize, &format!("{at}.resize"))
                .map(Some),
        };
        Some(DocDbTarget {
            cluster: cluster?,
            replicas: replicas?,
            instance_class: instance_class?,
            resize: resize?,
        })
    }

    fn replicas(&mut self, raw: &Spanned<i64>, key: &str) -> Option<u8> {
        let value = *raw.get_ref();
        match u8::try_from(value) {
            Ok(n) if n <= MAX_DOCDB_REPLICAS => Some(n),
            _ if value < 0 => {
                self.push(
                    &raw.span(),
                    key,
                    format!("replicas is negative ({value})"),
                    format!("use a reader count from 0 to {MAX_DOCDB_REPLICAS}"),
                );
                None
            }
            _ => {
                self.push(
                    &raw.span(),
                    key,
                    format!("replicas = {value} is above {MAX_DOCDB_REPLICAS}: a DocumentDB cluster allows at most {MAX_DOCDB_REPLICAS} reader instances"),
                    format!("set replicas to {MAX_DOCDB_REPLICAS} or fewer"),
                );
                None
            }
        }
    }

    fn instance_class(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        let rest = value.strip_prefix("db.").unwrap_or("");
        if rest.is_empty() || rest.starts_with('.') || rest.chars().any(char::is_whitespace) {
            let hint = if !value.is_empty() && !value.starts_with("db.") {
                format!("write \"db.{value}\": DocumentDB classes look like \"db.r6g.large\"")
            } else {
                "use a DocumentDB instance class such as \"db.r6g.large\"".to_string()
            };
            self.push(
                &raw.span(),
                key,
                format!("\"{value}\" is not a DocumentDB instance class (they start with \"db.\")"),
                hint,
            );
            return None;
        }
        Some(value.clone())
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

    fn scale_down(&mut self, raw: &Spanned<RawScaleDown>, at: &str) -> Option<ScaleDown> {
        let header = raw.span();
        let raw = raw.get_ref();
        let quiet_for = self.duration(&raw.quiet_for, &format!("{at}.quiet_for"), true);
        let deadline = self.deadline(&raw.deadline, &format!("{at}.deadline"));
        let min_hold = self.duration(&raw.min_hold, &format!("{at}.min_hold"), false);
        let missing_data = match &raw.missing_data {
            None => Some(MissingData::Busy),
            Some(value) => self.missing_data(value, &format!("{at}.missing_data")),
        };

        if raw.metric.is_empty() {
            self.push(
                &header,
                format!("{at}.metric"),
                "no [[scenario.scale_down.metric]]: nightshift cannot tell when the batch is done",
                "add a [[scenario.scale_down.metric]] table with namespace, name, stat, period and below",
            );
        }
        let mut metrics = Vec::with_capacity(raw.metric.len());
        // The longest period and where it came from, for the quiet_for check.
        let mut longest: Option<(Duration, usize)> = None;
        for (j, metric) in raw.metric.iter().enumerate() {
            if let Some(m) = self.metric(metric.get_ref(), &format!("{at}.metric[{j}]")) {
                if longest.is_none_or(|(p, _)| m.period > p) {
                    longest = Some((m.period, j));
                }
                metrics.push(m);
            }
        }
        if let (Some(quiet), Some((period, j))) = (quiet_for, longest) {
            if quiet < period {
                self.push(
                    &raw.quiet_for.span(),
                    format!("{at}.quiet_for"),
                    format!(
                        "quiet_for ({}) is shorter than one period ({}) of metric[{j}]: no full quiet window could ever be observed",
                        format_duration(quiet),
                        format_duration(period)
                    ),
                    format!(
                        "set quiet_for to at least \"{}\" or shorten the metric period",
                        format_duration(period)
                    ),
                );
            }
        }
        Some(ScaleDown {
            quiet_for: quiet_for?,
            deadline: deadline?,
            min_hold: min_hold?,
            missing_data: missing_data?,
            metrics,
        })
    }

    /// "HH:MM" (or "H:MM"), 24-hour, local to the scenario's time zone.
    fn deadline(&mut self, raw: &Spanned<String>, key: &str) -> Option<jiff::civil::Time> {
        self.local_time(raw, key, "deadline", "07:30")
    }

    /// A local time of day "HH:MM" (or "H:MM"), 24-hour; `what` names the key in the message.
    fn local_time(
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
    fn schedule(
        &mut self,
        raw: &Spanned<RawSchedule>,
        at: &str,
        scale_down: &ScaleDown,
    ) -> Option<Schedule> {
        use crate::schedule::{NightError, DAY_NAMES, MAX_CHECKS_PER_NIGHT};
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
        let days = match &raw.days {
            None => Some(DAY_NAMES.iter().map(|(_, d)| *d).collect::<Vec<_>>()),
            Some(list) => {
                let key = format!("{at}.days");
                let mut seen = Vec::new();
                let mut ok = true;
                if list.get_ref().is_empty() {
                    self.push(
                        &list.span(),
                        &key,
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
        };
        // The night does not depend on the days: check it even when a day is wrong, so that one
        // run of `validate` reports every problem of the table.
        let days_ok = days.is_some();
        let schedule = Schedule {
            scale_up: scale_up?,
            check_every: check_every?,
            scale_down: scale_down_at?,
            days: days.unwrap_or_default(),
        };
        let hhmm = |t: jiff::civil::Time| t.strftime("%H:%M").to_string();
        match crate::schedule::night(&schedule, scale_down) {
            Ok(_) => days_ok.then_some(schedule),
            Err(NightError::DeadlineAtScaleUp) => {
                self.push(
                    &raw.scale_up.span(),
                    format!("{at}.scale_up"),
                    format!(
                        "scale_up ({}) is the scale_down deadline: the night would be empty",
                        hhmm(schedule.scale_up)
                    ),
                    "set scale_up to the start of the batch and [scenario.scale_down] deadline to when capacity must be back, e.g. scale_up = \"23:00\", deadline = \"07:30\"",
                );
                None
            }
            Err(NightError::ScaleDownOutsideNight { night_minutes }) => {
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
                None
            }
            Err(NightError::TooManyChecks { checks }) => {
                self.push(
                    &raw.check_every.span(),
                    check_key,
                    format!(
                        "check_every = \"{}\" makes {checks} checks per night (from scale_up {} to the deadline {}); the limit is {MAX_CHECKS_PER_NIGHT}",
                        raw.check_every.get_ref(),
                        hhmm(schedule.scale_up),
                        hhmm(scale_down.deadline)
                    ),
                    "check less often, e.g. check_every = \"10m\" (completion events still trigger checks in between)",
                );
                None
            }
        }
    }

    fn missing_data(&mut self, raw: &Spanned<String>, key: &str) -> Option<MissingData> {
        match raw.get_ref().as_str() {
            "busy" => Some(MissingData::Busy),
            "quiet" => Some(MissingData::Quiet),
            other => {
                let near = suggest(other, &["busy", "quiet"])
                    .map(|n| format!("did you mean \"{n}\"? "))
                    .unwrap_or_default();
                self.push(
                    &raw.span(),
                    key,
                    format!("unknown missing_data value \"{other}\""),
                    format!("{near}use \"busy\" (a window with no datapoints counts as busy, the safe choice) or \"quiet\""),
                );
                None
            }
        }
    }

    fn metric(&mut self, raw: &RawMetric, at: &str) -> Option<MetricSpec> {
        let namespace = self.non_empty(
            &raw.namespace,
            &format!("{at}.namespace"),
            "metric namespace",
        );
        let name = self.non_empty(&raw.name, &format!("{at}.name"), "metric name");
        let dimensions = match &raw.dimensions {
            None => Some(BTreeMap::new()),
            Some(dimensions) => self.dimensions(dimensions, &format!("{at}.dimensions")),
        };
        let stat = self.stat(&raw.stat, &format!("{at}.stat"));
        let period = self.period(&raw.period, &format!("{at}.period"));
        let below = *raw.below.get_ref();
        let below_ok = below.is_finite();
        if !below_ok {
            self.push(
                &raw.below.span(),
                format!("{at}.below"),
                format!("below must be a finite number, not {below}"),
                "use a plain threshold such as below = 1",
            );
        }
        if !below_ok {
            return None;
        }
        Some(MetricSpec {
            namespace: namespace?,
            name: name?,
            dimensions: dimensions?,
            stat: stat?,
            period: period?,
            below,
        })
    }

    /// CloudWatch refuses empty dimension names and values.
    fn dimensions(
        &mut self,
        raw: &Spanned<BTreeMap<String, String>>,
        key: &str,
    ) -> Option<BTreeMap<String, String>> {
        let empty = raw
            .get_ref()
            .iter()
            .find(|(k, v)| k.trim().is_empty() || v.trim().is_empty());
        if let Some((name, _)) = empty {
            self.push(
                &raw.span(),
                key,
                format!("dimension \"{name}\" has an empty name or value"),
                "give every dimension a name and a value, e.g. dimensions = { Job = \"nightly\" }",
            );
            return None;
        }
        Some(raw.get_ref().clone())
    }

    fn stat(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        if STATISTICS.contains(&value.as_str()) || is_percentile(value) {
            return Some(value.clone());
        }
        let near = suggest(value, &STATISTICS)
            .map(|n| format!("did you mean \"{n}\"? "))
            .unwrap_or_default();
        self.push(
            &raw.span(),
            key,
            format!("unknown statistic \"{value}\""),
            format!("{near}use one of SampleCount, Average, Sum, Minimum, Maximum, or a percentile such as \"p99\""),
        );
        None
    }

    /// CloudWatch standard resolution: whole minutes, at least one.
    fn period(&mut self, raw: &Spanned<String>, key: &str) -> Option<Duration> {
        let period = self.duration(raw, key, false)?;
        let secs = period.as_secs();
        let message = if secs < 60 {
            format!(
                "period {} is below 1m, the shortest CloudWatch standard-resolution period",
                format_duration(period)
            )
        } else if secs % 60 != 0 {
            format!(
                "period {} is not a multiple of 60s, which CloudWatch standard resolution requires",
                format_duration(period)
            )
        } else {
            return Some(period);
        };
        self.push(
            &raw.span(),
            key,
            message,
            "use whole minutes, e.g. period = \"1m\" or \"5m\"",
        );
        None
    }

    fn completion(&mut self, raw: &Spanned<RawCompletion>, at: &str) -> Option<CompletionMatcher> {
        let header = raw.span();
        let raw = raw.get_ref();
        let source = raw.source.get_ref().as_str();
        // (key the source needs, its value, the key that belongs to the other source)
        let (needed, value, foreign) = match source {
            "aws.ecs" => (
                "group",
                &raw.group,
                ("job_queue", &raw.job_queue, "aws.batch"),
            ),
            "aws.batch" => (
                "job_queue",
                &raw.job_queue,
                ("group", &raw.group, "aws.ecs"),
            ),
            other => {
                let near = suggest(other, &["aws.ecs", "aws.batch"])
                    .or_else(|| match other.to_ascii_lowercase().as_str() {
                        "ecs" => Some("aws.ecs"),
                        "batch" => Some("aws.batch"),
                        _ => None,
                    })
                    .map(|n| format!("did you mean \"{n}\"? "))
                    .unwrap_or_default();
                self.push(
                    &raw.source.span(),
                    format!("{at}.source"),
                    format!("unknown completion source \"{other}\": only \"aws.ecs\" and \"aws.batch\" events are understood"),
                    format!("{near}use source = \"aws.ecs\" with group = \"family:…\", or source = \"aws.batch\" with job_queue = \"…\""),
                );
                return None;
            }
        };
        let (foreign_key, foreign_value, foreign_source) = foreign;
        if let Some(extra) = foreign_value {
            self.push(
                &extra.span(),
                format!("{at}.{foreign_key}"),
                format!("{foreign_key} does not apply to source \"{source}\" (it belongs to \"{foreign_source}\")"),
                format!("remove {foreign_key}, or use a separate [[scenario.completion]] with source = \"{foreign_source}\""),
            );
        }
        let key = format!("{at}.{needed}");
        let value = match value {
            None => {
                let example = example_for(&key);
                self.push(
                    &header,
                    key,
                    format!("completion source \"{source}\" needs `{needed}`"),
                    format!("add {example} to this [[scenario.completion]] table"),
                );
                return None;
            }
            Some(value) => self.non_empty(value, &key, needed)?,
        };
        if foreign_value.is_some() {
            return None;
        }
        Some(match source {
            "aws.ecs" => CompletionMatcher::EcsTaskStopped { group: value },
            _ => CompletionMatcher::BatchJobDone { job_queue: value },
        })
    }

    /// Strictly YYYY-MM-DD, so "03/04/2026" cannot be read two ways.
    fn skip_date(&mut self, raw: &Spanned<String>, key: &str) -> Option<jiff::civil::Date> {
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

/// `pNN` or `pNN.N…` with 0 ≤ NN ≤ 100, as CloudWatch extended statistics accept.
fn is_percentile(stat: &str) -> bool {
    let Some(number) = stat.strip_prefix('p') else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(whole)
        && whole.len() <= 3
        && digits(fraction)
        && number
            .parse::<f64>()
            .is_ok_and(|p| (0.0..=100.0).contains(&p))
}

/// The IANA zone whose city part matches `input` ("tokyo" → "Asia/Tokyo"), to suggest a fix.
fn city_zone(input: &str) -> Option<String> {
    let wanted = input.trim().replace(' ', "_");
    if wanted.is_empty() {
        return None;
    }
    jiff::tz::db()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// product.md's contract example, verbatim.
    const CONTRACT: &str = include_str!("../integration/fixtures/config/contract.toml");

    /// A small valid config; bad-config tests change one line, so line numbers below are stable:
    /// 1 table, 3 name, 4 timezone, 5 [[scenario.ecs]], 8 desired, 9 max, 12 replicas,
    /// 13 instance_class, 14 [scenario.scale_down], 15 quiet_for, 16 deadline, 17 min_hold,
    /// 18 missing_data, 19 [[metric]], 22 stat, 23 period, 24 below, 26 source.
    const BASE: &str = r#"table = "runs"
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "batch"
  service = "worker"
  desired = 10
  max = 20
  [[scenario.docdb]]
  cluster = "batch-db"
  replicas = 3
  instance_class = "db.r6g.large"
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
  [[scenario.completion]]
  source = "aws.ecs"
  group = "family:nightly-job"
"#;

    #[test]
    fn messages_escape_control_and_bidi_characters_and_cut_huge_values() {
        for name in [
            "nightly\\u0000batch",
            "nightly\\u202ebatch",
            "\\u001b[2Jnightly",
        ] {
            let text = BASE.replacen("name = \"nightly\"", &format!("name = \"{name}\""), 1);
            let message = errors(&text)[0].to_string();
            assert!(
                !message.chars().any(
                    |c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)
                ),
                "{message:?}"
            );
            assert!(message.contains("\\u{"), "shown escaped: {message:?}");
        }
        let huge = BASE.replacen(
            "table = \"runs\"",
            &format!("table = \"{}\"", "x/".repeat(512 * 1024)),
            1,
        );
        let message = errors(&huge)[0].to_string();
        assert!(message.len() < 2048, "{} bytes", message.len());
        assert!(message.contains("…(1048578 characters)"), "{message}");
        assert_eq!(tame("plain words stay"), "plain words stay");
    }

    #[test]
    fn resource_names_aws_would_refuse_or_that_widen_the_policy_are_rejected() {
        assert_single_error(
            &base_with("cluster = \"batch-db\"", "cluster = \"*\""),
            11,
            "scenario[0].docdb[0].cluster",
            "\"*\" is not a valid DocumentDB cluster identifier",
            "cluster = \"batch-db\"",
        );
        assert_single_error(
            &base_with("service = \"worker\"", "service = \"../../worker\""),
            7,
            "scenario[0].ecs[0].service",
            "\"../../worker\" is not a valid ECS service name",
            "service = \"worker\"",
        );
        assert_single_error(
            &base_with("cluster = \"batch\"", "cluster = \"batch/*\""),
            6,
            "scenario[0].ecs[0].cluster",
            "not a valid ECS cluster name",
            "",
        );
        assert_single_error(
            &base_with("cluster = \"batch-db\"", "cluster = \"batch--db\""),
            11,
            "scenario[0].docdb[0].cluster",
            "without two hyphens in a row",
            "",
        );
    }

    #[test]
    fn a_report_shows_the_first_fifty_errors_and_counts_the_rest() {
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(
                &BASE
                    .replace(
                        "[[scenario]]\nname = \"nightly\"",
                        &format!("[[scenario]]\nname = \"n{i}\""),
                    )
                    .replace("table = \"runs\"\n", "")
                    .replace("timezone = \"Asia/Tokyo\"", "timezone = \"Tokyo\""),
            );
        }
        let errors = match parse(&text, "many.toml") {
            Err(e) => e,
            Ok(_) => panic!("60 bad time zones"),
        };
        assert!(errors.len() >= 60, "{}", errors.len());
        let shown = errors.to_string();
        assert_eq!(shown.matches("many.toml:").count(), MAX_SHOWN_ERRORS);
        assert!(
            shown.ends_with(&format!(
                "… and {} more errors: fix the ones above and run `nightshift validate` again",
                errors.len() - MAX_SHOWN_ERRORS
            )),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_day_does_not_hide_the_nights_own_errors() {
        let text = with_schedule(
            "  scale_up = \"23:00\"\n  check_every = \"2m\"\n  days = [\"MON\", \"Tues\"]\n",
        );
        let keys: Vec<String> = errors(&text).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "scenario[0].schedule.check_every",
                "scenario[0].schedule.days[1]"
            ]
        );
    }

    /// BASE with a `[scenario.schedule]` of these lines (line 28 is the header, 29 the first key).
    fn with_schedule(lines: &str) -> String {
        format!("{BASE}  [scenario.schedule]\n{lines}")
    }

    #[test]
    fn a_schedule_parses_with_its_days_in_week_order_and_every_day_by_default() {
        let cfg = parse(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n  scale_down = \"6:00\"\n  days = [\"FRI\", \"MON\"]\n"),
            "test.toml",
        )
        .unwrap();
        let schedule = cfg.scenarios[0].schedule.clone().unwrap();
        assert_eq!(schedule.scale_up, jiff::civil::time(23, 0, 0, 0));
        assert_eq!(schedule.check_every, Duration::from_secs(600));
        assert_eq!(schedule.scale_down, Some(jiff::civil::time(6, 0, 0, 0)));
        assert_eq!(
            schedule.days,
            vec![jiff::civil::Weekday::Monday, jiff::civil::Weekday::Friday]
        );
        let every_day = parse(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n"),
            "test.toml",
        )
        .unwrap();
        assert_eq!(
            every_day.scenarios[0].schedule.as_ref().unwrap().days.len(),
            7
        );
        assert!(parse(BASE, "test.toml").unwrap().scenarios[0]
            .schedule
            .is_none());
    }

    #[test]
    fn schedule_errors_name_the_line_the_key_and_the_fix() {
        let ok_times = "  scale_up = \"23:00\"\n  check_every = \"10m\"\n";
        assert_single_error(
            &with_schedule("  scale_up = \"25:00\"\n  check_every = \"10m\"\n"),
            29,
            "scenario[0].schedule.scale_up",
            "bad scale_up \"25:00\"",
            "scale_up = \"23:00\"",
        );
        assert_single_error(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"30s\"\n"),
            30,
            "scenario[0].schedule.check_every",
            "not a whole number of minutes of at least 1m",
            "check_every = \"10m\"",
        );
        assert_single_error(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"90s\"\n"),
            30,
            "scenario[0].schedule.check_every",
            "whole number of minutes",
            "whole minutes",
        );
        assert_single_error(
            &with_schedule(&format!("{ok_times}  days = [\"MON\", \"Tues\"]\n")),
            31,
            "scenario[0].schedule.days[1]",
            "unknown day \"Tues\"",
            "did you mean \"TUE\"?",
        );
        assert_single_error(
            &with_schedule(&format!("{ok_times}  days = [\"MON\", \"MON\"]\n")),
            31,
            "scenario[0].schedule.days[1]",
            "listed twice",
            "once",
        );
        assert_single_error(
            &with_schedule(&format!("{ok_times}  days = []\n")),
            31,
            "scenario[0].schedule.days",
            "days is empty",
            "remove the key for every day",
        );
        assert_single_error(
            &with_schedule("  scale_up = \"07:30\"\n  check_every = \"10m\"\n"),
            29,
            "scenario[0].schedule.scale_up",
            "the night would be empty",
            "deadline",
        );
        assert_single_error(
            &with_schedule(&format!("{ok_times}  scale_down = \"08:00\"\n")),
            31,
            "scenario[0].schedule.scale_down",
            "scale_down (08:00) is not inside the night",
            "between scale_up and the deadline",
        );
        assert_single_error(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"2m\"\n"),
            30,
            "scenario[0].schedule.check_every",
            "makes 256 checks per night",
            "check less often",
        );
        assert_single_error(
            &with_schedule("  scale_up = \"23:00\"\n  check_every = \"10m\"\n  every = \"10m\"\n"),
            31,
            "scenario[0].schedule.every",
            "every",
            "",
        );
    }

    /// BASE with exactly one occurrence of `from` replaced.
    fn base_with(from: &str, to: &str) -> String {
        assert_eq!(BASE.matches(from).count(), 1, "ambiguous edit {from:?}");
        BASE.replacen(from, to, 1)
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match parse(text, "test.toml") {
            Ok(config) => panic!("config should be rejected, got {config:?}"),
            Err(errors) => errors.0,
        }
    }

    /// Asserts that `text` yields exactly one error, at `line`, for `key`, whose message
    /// contains `message` and whose hint contains `hint`.
    #[track_caller]
    fn assert_single_error(text: &str, line: usize, key: &str, message: &str, hint: &str) {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
        let e = &errors[0];
        assert_eq!(e.file, "test.toml");
        assert_eq!(e.line, line, "line of {e:#?}");
        assert_eq!(e.key, key, "key of {e:#?}");
        assert!(
            e.message.contains(message),
            "message {:?} lacks {message:?}",
            e.message
        );
        assert!(e.hint.contains(hint), "hint {:?} lacks {hint:?}", e.hint);
    }

    #[test]
    fn contract_example_parses_into_the_expected_values() {
        let config = parse(CONTRACT, "contract.toml").expect("contract example must parse");
        assert_eq!(config.table, "nightshift-runs");
        assert_eq!(config.source, "contract.toml");
        assert_eq!(config.scenario_names(), vec!["nightly-batch"]);
        let s = config.scenario("nightly-batch").expect("scenario by name");
        assert_eq!(s.timezone_name, "Asia/Tokyo");
        assert_eq!(s.timezone, jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
        assert_eq!(
            s.ecs,
            vec![EcsTarget {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 10,
                max: 20,
            }]
        );
        assert_eq!(
            s.docdb,
            vec![DocDbTarget {
                cluster: "batch-db".into(),
                replicas: 3,
                instance_class: "db.r6g.large".into(),
                resize: None,
            }]
        );
        let sd = &s.scale_down;
        assert_eq!(sd.quiet_for, Duration::from_secs(15 * 60));
        assert_eq!(sd.deadline, jiff::civil::time(7, 30, 0, 0));
        assert_eq!(sd.min_hold, Duration::from_secs(30 * 60));
        assert_eq!(sd.missing_data, MissingData::Busy);
        assert_eq!(
            sd.metrics,
            vec![MetricSpec {
                namespace: "Batch".into(),
                name: "JobsRunning".into(),
                dimensions: BTreeMap::from([("Job".to_string(), "nightly".to_string())]),
                stat: "Maximum".into(),
                period: Duration::from_secs(60),
                below: 1.0,
            }]
        );
        assert_eq!(
            s.completion,
            vec![
                CompletionMatcher::EcsTaskStopped {
                    group: "family:nightly-job".into()
                },
                CompletionMatcher::BatchJobDone {
                    job_queue: "nightly-queue".into()
                },
            ]
        );
        assert!(s.skip_dates.is_empty());
        assert!(config.scenario("other").is_none());
    }

    #[test]
    fn optional_keys_take_their_defaults_and_extras_parse() {
        let text = BASE
            .replace("table = \"runs\"\n", "")
            .replace("  missing_data = \"busy\"\n", "")
            .replace(
                "timezone = \"Asia/Tokyo\"\n",
                "timezone = \"Europe/Berlin\"\nskip_dates = [\"2026-12-31\", \"2027-01-01\"]\n",
            )
            .replace(
                "instance_class = \"db.r6g.large\"\n",
                "instance_class = \"db.r6g.large\"\n  resize = \"db.r6g.2xlarge\"\n",
            )
            .replace("stat = \"Maximum\"", "stat = \"p99.9\"")
            .replace("period = \"1m\"", "period = \"5m\"");
        let config = parse(&text, "t.toml").expect("valid");
        assert_eq!(config.table, DEFAULT_TABLE);
        let s = &config.scenarios[0];
        assert_eq!(s.timezone_name, "Europe/Berlin");
        assert_eq!(s.scale_down.missing_data, MissingData::Busy);
        assert_eq!(s.scale_down.metrics[0].stat, "p99.9");
        assert_eq!(s.scale_down.metrics[0].period, Duration::from_secs(300));
        assert!(s.scale_down.metrics[0].dimensions.is_empty());
        assert_eq!(s.docdb[0].resize.as_deref(), Some("db.r6g.2xlarge"));
        assert_eq!(
            s.skip_dates,
            vec![
                jiff::civil::date(2026, 12, 31),
                jiff::civil::date(2027, 1, 1)
            ]
        );
    }

    #[test]
    fn docdb_with_zero_replicas_and_no_resize_is_allowed() {
        let config = parse(&base_with("replicas = 3", "replicas = 0"), "t.toml").expect("valid");
        assert_eq!(config.scenarios[0].docdb[0].replicas, 0);
    }

    #[test]
    fn table_override_replaces_the_table_unless_blank() {
        let config = parse(BASE, "t.toml").expect("valid");
        assert_eq!(config.clone().with_table_override(None).table, "runs");
        assert_eq!(
            config.clone().with_table_override(Some("  ".into())).table,
            "runs"
        );
        assert_eq!(
            config.with_table_override(Some("other-runs".into())).table,
            "other-runs"
        );
    }

    // ---- one bad config per check -------------------------------------------------------

    #[test]
    fn unknown_key_lists_allowed_keys_and_suggests_near_miss() {
        assert_single_error(
            &base_with("replicas = 3", "replica = 3"),
            12,
            "scenario[0].docdb[0].replica",
            "unknown key `replica` in [[scenario.docdb]]; allowed keys here: cluster, replicas, instance_class, resize",
            "did you mean `replicas`?",
        );
    }

    #[test]
    fn unknown_key_without_near_miss_lists_what_is_allowed() {
        assert_single_error(
            &base_with("table = \"runs\"", "table = \"runs\"\nfoo = 1"),
            2,
            "foo",
            "unknown key `foo` in the top level of the file",
            "remove `foo` or use one of: table, scenario",
        );
    }

    #[test]
    fn bad_duration_shows_value_and_accepted_forms() {
        assert_single_error(
            &base_with("quiet_for = \"15m\"", "quiet_for = \"15\""),
            15,
            "scenario[0].scale_down.quiet_for",
            "bad duration: \"15\" has no unit",
            "quiet_for = \"15m\"",
        );
        let e = &errors(&base_with("min_hold = \"30m\"", "min_hold = \"30 min\""))[0];
        assert!(
            e.message.contains("\"30s\", \"15m\", \"2h\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn zero_quiet_for_is_rejected() {
        assert_single_error(
            &base_with("quiet_for = \"15m\"", "quiet_for = \"0m\""),
            15,
            "scenario[0].scale_down.quiet_for",
            "quiet_for is zero",
            "positive duration",
        );
    }

    #[test]
    fn unknown_time_zone_suggests_iana_names() {
        assert_single_error(
            &base_with("timezone = \"Asia/Tokyo\"", "timezone = \"Tokyo\""),
            4,
            "scenario[0].timezone",
            "unknown time zone \"Tokyo\"",
            "did you mean \"Asia/Tokyo\"? use an IANA time zone name such as \"Asia/Tokyo\", \"Europe/Berlin\"",
        );
        assert_single_error(
            &base_with("timezone = \"Asia/Tokyo\"", "timezone = \"JST+9\""),
            4,
            "scenario[0].timezone",
            "unknown time zone \"JST+9\"",
            "\"Europe/Berlin\"",
        );
    }

    #[test]
    fn bad_deadline_expects_hh_mm() {
        for bad in ["7.30", "24:00", "07:60", "07:30:00", "0730", ""] {
            assert_single_error(
                &base_with("deadline = \"07:30\"", &format!("deadline = \"{bad}\"")),
                16,
                "scenario[0].scale_down.deadline",
                &format!("bad deadline \"{bad}\": expected a local time of day as HH:MM"),
                "deadline = \"07:30\"",
            );
        }
    }

    #[test]
    fn unquoted_deadline_is_a_type_error_with_a_quoting_hint() {
        assert_single_error(
            &base_with("deadline = \"07:30\"", "deadline = 07:30:00"),
            16,
            "scenario[0].scale_down.deadline",
            "wrong type: found an unquoted date/time, expected a quoted string",
            "put the value in double quotes, e.g. deadline = \"07:30\"",
        );
    }

    #[test]
    fn replicas_above_fifteen_is_rejected() {
        assert_single_error(
            &base_with("replicas = 3", "replicas = 16"),
            12,
            "scenario[0].docdb[0].replicas",
            "replicas = 16 is above 15: a DocumentDB cluster allows at most 15 reader instances",
            "set replicas to 15 or fewer",
        );
        assert_single_error(
            &base_with("replicas = 3", "replicas = -1"),
            12,
            "scenario[0].docdb[0].replicas",
            "replicas is negative (-1)",
            "from 0 to 15",
        );
    }

    #[test]
    fn desired_above_max_is_rejected() {
        assert_single_error(
            &base_with("desired = 10", "desired = 30"),
            8,
            "scenario[0].ecs[0].desired",
            "desired (30) is above max (20)",
            "raise max to at least 30",
        );
    }

    #[test]
    fn desired_zero_and_max_zero_are_rejected() {
        assert_single_error(
            &base_with("desired = 10", "desired = 0"),
            8,
            "scenario[0].ecs[0].desired",
            "desired is 0: the service would run no tasks",
            "1 or more",
        );
        // max = 0 alone: no second "desired above max" error piles on.
        assert_single_error(
            &base_with("max = 20", "max = 0"),
            9,
            "scenario[0].ecs[0].max",
            "max is 0",
            "at least desired",
        );
    }

    #[test]
    fn duplicate_scenario_name_points_at_the_second_and_names_the_first_line() {
        let second = BASE
            .split_once("\n")
            .map(|(_, rest)| rest)
            .unwrap()
            .replace("\"batch\"", "\"batch2\"")
            .replace("\"batch-db\"", "\"batch-db2\"");
        let text = format!("{BASE}{second}");
        // BASE has 27 lines; the second [[scenario]] starts at line 28, its name at 29.
        assert_single_error(
            &text,
            29,
            "scenario[1].name",
            "duplicate scenario name \"nightly\": already used by the scenario at line 3",
            "unique name",
        );
    }

    #[test]
    fn no_scenario_is_rejected() {
        assert_single_error(
            "table = \"runs\"\n",
            1,
            "scenario",
            "no scenario is defined",
            "add at least one [[scenario]]",
        );
    }

    #[test]
    fn empty_metric_list_is_rejected() {
        let text = BASE.replace(
            "    [[scenario.scale_down.metric]]\n    namespace = \"Batch\"\n    name = \"JobsRunning\"\n    stat = \"Maximum\"\n    period = \"1m\"\n    below = 1\n",
            "",
        );
        assert_ne!(text, BASE);
        assert_single_error(
            &text,
            14,
            "scenario[0].scale_down.metric",
            "no [[scenario.scale_down.metric]]",
            "add a [[scenario.scale_down.metric]] table",
        );
    }

    #[test]
    fn unknown_missing_data_value_is_rejected() {
        assert_single_error(
            &base_with("missing_data = \"busy\"", "missing_data = \"Busy\""),
            18,
            "scenario[0].scale_down.missing_data",
            "unknown missing_data value \"Busy\"",
            "did you mean \"busy\"? use \"busy\"",
        );
    }

    #[test]
    fn unknown_completion_source_names_the_two_allowed() {
        assert_single_error(
            &base_with("source = \"aws.ecs\"", "source = \"aws.lambda\""),
            26,
            "scenario[0].completion[0].source",
            "unknown completion source \"aws.lambda\": only \"aws.ecs\" and \"aws.batch\"",
            "source = \"aws.batch\" with job_queue",
        );
    }

    #[test]
    fn completion_source_needs_its_own_key_only() {
        assert_single_error(
            &base_with("  group = \"family:nightly-job\"\n", ""),
            25,
            "scenario[0].completion[0].group",
            "completion source \"aws.ecs\" needs `group`",
            "add group = \"family:nightly-job\"",
        );
        let text = base_with(
            "source = \"aws.ecs\"",
            "source = \"aws.batch\"\n  job_queue = \"nightly-queue\"",
        );
        assert_single_error(
            &text,
            28,
            "scenario[0].completion[0].group",
            "group does not apply to source \"aws.batch\"",
            "remove group",
        );
    }

    #[test]
    fn missing_required_key_names_the_table() {
        assert_single_error(
            &base_with("  service = \"worker\"\n", ""),
            5,
            "scenario[0].ecs[0].service",
            "missing required key `service` in [[scenario.ecs]]",
            "add service = \"worker\" to this [[scenario.ecs]] table",
        );
        assert_single_error(
            &base_with("  deadline = \"07:30\"\n", ""),
            14,
            "scenario[0].scale_down.deadline",
            "missing required key `deadline` in [scenario.scale_down]",
            "add deadline = \"07:30\"",
        );
    }

    #[test]
    fn wrong_type_says_what_was_found_and_expected() {
        assert_single_error(
            &base_with("desired = 10", "desired = \"10\""),
            8,
            "scenario[0].ecs[0].desired",
            "wrong type: found string \"10\", expected a whole number",
            "without quotes, e.g. desired = 10",
        );
        assert_single_error(
            &base_with("[[scenario]]", "[scenario]"),
            2,
            "scenario",
            "wrong type: found a table, expected an array of tables",
            "write [[scenario]] (double brackets)",
        );
    }

    #[test]
    fn syntax_error_is_reported_alone() {
        assert_single_error(
            &base_with("name = \"nightly\"", "name = \"nightly"),
            3,
            "",
            "TOML syntax error",
            "fix the TOML syntax",
        );
    }

    #[test]
    fn empty_or_invalid_table_name_is_rejected() {
        assert_single_error(
            &base_with("table = \"runs\"", "table = \"\""),
            1,
            "table",
            "table name is empty",
            "nightshift-runs",
        );
        assert_single_error(
            &base_with("table = \"runs\"", "table = \"my runs\""),
            1,
            "table",
            "\"my runs\" is not a valid DynamoDB table name",
            "3 to 255 characters",
        );
    }

    #[test]
    fn invalid_scenario_names_are_rejected() {
        let long = "a".repeat(65);
        for (bad, message) in [
            ("", "scenario name is empty"),
            ("nightly batch", "contains ' ', which is not allowed"),
            ("nightly/batch", "contains '/'"),
            (long.as_str(), "65 characters long; the limit is 64"),
        ] {
            assert_single_error(
                &base_with("name = \"nightly\"", &format!("name = \"{bad}\"")),
                3,
                "scenario[0].name",
                message,
                "A-Z, a-z, 0-9, '-' and '_'",
            );
        }
    }

    #[test]
    fn duplicate_targets_within_a_scenario_are_rejected() {
        let ecs = "  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 1\n  max = 2\n";
        let text = base_with(
            "  [[scenario.docdb]]\n",
            &format!("{ecs}  [[scenario.docdb]]\n"),
        );
        assert_single_error(
            &text,
            12,
            "scenario[0].ecs[1].service",
            "ECS service \"worker\" in cluster \"batch\" is listed twice in this scenario (first at line 7)",
            "remove the second entry",
        );
    }

    #[test]
    fn the_same_docdb_cluster_in_two_scenarios_is_rejected() {
        let second = "[[scenario]]\nname = \"other\"\ntimezone = \"UTC\"\n  [[scenario.docdb]]\n  cluster = \"Batch-DB\"\n  replicas = 1\n  instance_class = \"db.r6g.large\"\n  [scenario.scale_down]\n  quiet_for = \"5m\"\n  deadline = \"06:00\"\n  min_hold = \"0s\"\n    [[scenario.scale_down.metric]]\n    namespace = \"B\"\n    name = \"N\"\n    stat = \"Sum\"\n    period = \"5m\"\n    below = 0.5\n";
        assert_single_error(
            &format!("{BASE}{second}"),
            32,
            "scenario[1].docdb[0].cluster",
            "DocumentDB cluster \"Batch-DB\" is also configured in scenario \"nightly\" (line 11): two scenarios would fight",
            "one scenario only",
        );
    }

    #[test]
    fn unknown_statistic_is_rejected_with_suggestion() {
        assert_single_error(
            &base_with("stat = \"Maximum\"", "stat = \"Max\""),
            22,
            "scenario[0].scale_down.metric[0].stat",
            "unknown statistic \"Max\"",
            "did you mean \"Maximum\"? use one of SampleCount, Average, Sum, Minimum, Maximum",
        );
        assert_single_error(
            &base_with("stat = \"Maximum\"", "stat = \"p101\""),
            22,
            "scenario[0].scale_down.metric[0].stat",
            "unknown statistic \"p101\"",
            "\"p99\"",
        );
    }

    #[test]
    fn metric_period_must_be_whole_minutes() {
        assert_single_error(
            &base_with("period = \"1m\"", "period = \"90s\""),
            23,
            "scenario[0].scale_down.metric[0].period",
            "period 1m30s is not a multiple of 60s",
            "whole minutes",
        );
        assert_single_error(
            &base_with("period = \"1m\"", "period = \"30s\""),
            23,
            "scenario[0].scale_down.metric[0].period",
            "period 30s is below 1m",
            "whole minutes",
        );
    }

    #[test]
    fn quiet_for_shorter_than_a_period_is_rejected() {
        let text = base_with("period = \"1m\"", "period = \"5m\"")
            .replace("quiet_for = \"15m\"", "quiet_for = \"2m\"");
        assert_single_error(
            &text,
            15,
            "scenario[0].scale_down.quiet_for",
            "quiet_for (2m) is shorter than one period (5m) of metric[0]",
            "at least \"5m\"",
        );
    }

    #[test]
    fn non_finite_threshold_is_rejected() {
        assert_single_error(
            &base_with("below = 1", "below = nan"),
            24,
            "scenario[0].scale_down.metric[0].below",
            "below must be a finite number, not NaN",
            "below = 1",
        );
    }

    #[test]
    fn instance_class_must_start_with_db() {
        assert_single_error(
            &base_with(
                "instance_class = \"db.r6g.large\"",
                "instance_class = \"r6g.large\"",
            ),
            13,
            "scenario[0].docdb[0].instance_class",
            "\"r6g.large\" is not a DocumentDB instance class",
            "write \"db.r6g.large\"",
        );
    }

    #[test]
    fn skip_dates_must_be_yyyy_mm_dd() {
        let with_dates = |dates: &str| {
            base_with(
                "timezone = \"Asia/Tokyo\"\n",
                &format!("timezone = \"Asia/Tokyo\"\nskip_dates = [{dates}]\n"),
            )
        };
        assert_single_error(
            &with_dates("\"2026-12-31\", \"12/31/2026\""),
            5,
            "scenario[0].skip_dates[1]",
            "skip_dates entry \"12/31/2026\" is not a date in YYYY-MM-DD form",
            "skip_dates = [\"2026-12-31\"]",
        );
        assert_single_error(
            &with_dates("\"2026-02-30\""),
            5,
            "scenario[0].skip_dates[0]",
            "\"2026-02-30\" is not a real calendar date",
            "YYYY-MM-DD",
        );
    }

    #[test]
    fn scenario_that_scales_nothing_is_rejected() {
        let text = BASE.replace(
            "  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 10\n  max = 20\n  [[scenario.docdb]]\n  cluster = \"batch-db\"\n  replicas = 3\n  instance_class = \"db.r6g.large\"\n",
            "",
        );
        assert_ne!(text, BASE);
        assert_single_error(
            &text,
            2,
            "scenario[0]",
            "scenario scales nothing",
            "add a [[scenario.ecs]] table",
        );
    }

    #[test]
    fn all_semantic_errors_are_reported_in_one_pass() {
        let text = BASE
            .replace("table = \"runs\"", "table = \"\"")
            .replace("timezone = \"Asia/Tokyo\"", "timezone = \"Mars/Olympus\"")
            .replace("desired = 10", "desired = 30")
            .replace("replicas = 3", "replicas = 20")
            .replace("deadline = \"07:30\"", "deadline = \"7pm\"")
            .replace("stat = \"Maximum\"", "stat = \"Mean\"")
            .replace("source = \"aws.ecs\"", "source = \"aws.s3\"");
        let errors = errors(&text);
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(
            found,
            vec![
                (1, "table"),
                (4, "scenario[0].timezone"),
                (8, "scenario[0].ecs[0].desired"),
                (12, "scenario[0].docdb[0].replicas"),
                (16, "scenario[0].scale_down.deadline"),
                (22, "scenario[0].scale_down.metric[0].stat"),
                (26, "scenario[0].completion[0].source"),
            ]
        );
        assert!(errors
            .iter()
            .all(|e| !e.message.is_empty() && !e.hint.is_empty()));
    }

    #[test]
    fn display_shows_file_line_column_key_message_and_hint() {
        let errors = parse(&base_with("desired = 10", "desired = 30"), "conf/n.toml")
            .expect_err("desired above max");
        assert_eq!(
            errors.to_string(),
            "conf/n.toml:8:13: scenario[0].ecs[0].desired: desired (30) is above max (20): max is the guardrail nightshift never exceeds\n  hint: lower desired to 20 or less, or raise max to at least 30"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = base_with("name = \"nightly\"", "name = \"夜間 batch\"");
        let e = &errors(&text)[0];
        assert_eq!((e.line, e.column), (3, 8));
        let src = SourceText::new("é = 1\nab", "x");
        assert_eq!(src.position(7), (2, 1));
        assert_eq!(src.position(8), (2, 2));
        assert_eq!(src.position(4), (1, 4));
        // Line starts themselves, the text's end, and past it.
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(6), (1, 6));
        assert_eq!(src.position(9), (2, 3));
        assert_eq!(src.position(99), (2, 3));
        let lines = SourceText::new("a\n\nb\n", "x");
        assert_eq!(lines.position(2), (2, 1));
        assert_eq!(lines.position(3), (3, 1));
        assert_eq!(lines.position(5), (4, 1));
    }

    #[test]
    fn load_reports_a_missing_file_with_the_way_to_point_at_another() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent.toml");
        let errors = load(&path).expect_err("missing file");
        assert_eq!(errors.len(), 1);
        let e = &errors.0[0];
        assert_eq!(e.line, 0);
        assert!(
            e.message.contains(&path.display().to_string()),
            "{}",
            e.message
        );
        assert!(e.message.contains("does not exist"), "{}", e.message);
        assert!(
            e.hint.contains("--config") && e.hint.contains("NIGHTSHIFT_CONFIG"),
            "{}",
            e.hint
        );
        assert_eq!(
            errors.to_string(),
            format!("{}: {}\n  hint: {}", e.file, e.message, e.hint)
        );
    }

    #[test]
    fn load_reads_and_validates_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ok.toml");
        std::fs::write(&path, CONTRACT).expect("write");
        let config = load(&path).expect("valid file");
        assert_eq!(config.source, path.display().to_string());
        assert_eq!(config.scenario_names(), vec!["nightly-batch"]);
    }

    #[test]
    fn parse_duration_accepts_the_documented_forms() {
        for (text, secs) in [
            ("30s", 30),
            ("15m", 900),
            ("2h", 7_200),
            ("1h30m", 5_400),
            ("90s", 90),
            ("1d", 86_400),
            ("1d2h3m4s", 93_784),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
    }

    #[test]
    fn parse_duration_rejects_bad_forms_with_specific_messages() {
        for (text, message) in [
            ("", "empty duration"),
            ("-5m", "\"-5m\" is negative"),
            ("15", "\"15\" has no unit"),
            ("15x", "unknown unit \"x\""),
            ("100ms", "unknown unit \"ms\""),
            ("1.5h", "is not a whole number"),
            ("1m1h", "smaller unit first"),
            ("1h1h", "repeats a unit"),
            ("1h 30m", "contains whitespace"),
            ("m", "\"m\" has a unit without a number"),
            ("99999999999999999999s", "is too large"),
            ("213503982334602d", "is too large"),
            ("213503982334601d8h", "is too large"),
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(message), "{text}: {err}");
            assert!(err.contains("\"30s\", \"15m\", \"2h\""), "{text}: {err}");
        }
    }

    #[test]
    fn format_duration_round_trips() {
        for secs in [0, 59, 60, 90, 3_600, 5_400, 93_784] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }
}
