//! What a config problem looks like: [`ConfigError`] (file, line, column, key, message, fix
//! hint) and its rendering, [`tame`] for echoing untrusted text, byte spans to lines and columns
//! ([`SourceText`]), key paths as the user writes them, and the hint helpers: an example line per
//! key ([`example_for`]) and "did you mean" ([`suggest`]).

use std::fmt;
use std::ops::Range;

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
// Positions
// ---------------------------------------------------------------------------------------------

/// The text being parsed, to turn byte spans into 1-based line and column.
pub(super) struct SourceText<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
    /// Byte offset of each line's start: positions are a binary search, not a scan from the top
    /// (validation asks for one per scenario and resource, which made big configs quadratic).
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    pub(super) fn new(text: &'a str, file: &'a str) -> Self {
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
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
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

    pub(super) fn error(
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
// Key paths and hints
// ---------------------------------------------------------------------------------------------

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

pub(super) fn render_path(path: &[Segment]) -> String {
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
pub(super) fn table_label(path: &[Segment]) -> String {
    match path.last() {
        None => "the top level of the file".to_string(),
        Some(Segment::Index(_)) => format!("[[{}]]", dotted_keys(path)),
        Some(Segment::Key(_)) => format!("[{}]", dotted_keys(path)),
    }
}

/// `scenario.scale_down` for `scenario[0].scale_down`: how a table header spells the path.
pub(super) fn dotted_keys(path: &[Segment]) -> String {
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
pub(super) fn example_for(key: &str) -> String {
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
    // A profile's target tables take their kind's keys: `scenario.profile.docdb.replicas` reads
    // as `scenario.docdb.replicas`.
    let keys = match keys.strip_prefix("scenario.profile.") {
        Some(rest) if rest.contains('.') => format!("scenario.{rest}"),
        _ => keys,
    };
    let example = match keys.as_str() {
        "table" => "table = \"nightshift-runs\"",
        "scenario" => "a [[scenario]] table",
        "scenario.name" => "name = \"nightly-batch\"",
        "scenario.timezone" => "timezone = \"Asia/Tokyo\"",
        "scenario.region" => "region = \"eu-west-1\"",
        "scenario.role_arn" => "role_arn = \"arn:aws:iam::123456789012:role/nightshift-target\"",
        "scenario.ecs.cluster" => "cluster = \"batch\"",
        "scenario.ecs.service" => "service = \"worker\"",
        "scenario.ecs.desired" => "desired = 10",
        "scenario.ecs.max" => "max = 20",
        "scenario.docdb.cluster" => "cluster = \"batch-db\"",
        "scenario.docdb.replicas" => "replicas = 3",
        "scenario.docdb.instance_class" => "instance_class = \"db.r6g.large\"",
        "scenario.docdb.resize" => "resize = \"db.r6g.2xlarge\"",
        "scenario.aurora.cluster" => "cluster = \"reports-db\"",
        "scenario.aurora.replicas" => "replicas = 2",
        "scenario.aurora.instance_class" => "instance_class = \"db.r6g.large\"",
        "scenario.aurora.resize" => "resize = \"db.r6g.2xlarge\"",
        "scenario.neptune.cluster" => "cluster = \"graph-db\"",
        "scenario.neptune.replicas" => "replicas = 1",
        "scenario.neptune.instance_class" => "instance_class = \"db.r6g.large\"",
        "scenario.neptune.resize" => "resize = \"db.r6g.2xlarge\"",
        "scenario.batch.compute_environment" => "compute_environment = \"nightly-ce\"",
        "scenario.batch.min_vcpus" => "min_vcpus = 64",
        "scenario.batch.max_vcpus" => "max_vcpus = 256",
        "scenario.asg.name" => "name = \"batch-workers\"",
        "scenario.asg.min" => "min = 4",
        "scenario.asg.max" => "max = 10",
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
        "scenario.holidays" => "holidays = \"holidays.ics\"",
        "scenario.profile" => "a [[scenario.profile]] table with name and dates",
        "scenario.profile.name" => "name = \"month-end\"",
        "scenario.profile.dates" => "dates = [\"last-business-day\"]",
        "scenario.profile.scale_up" => "scale_up = \"22:00\"",
        "scenario.profile.deadline" => "deadline = \"09:00\"",
        _ => {
            let last = keys.rsplit('.').next().unwrap_or("key");
            return format!("{last} = …");
        }
    };
    example.to_string()
}

/// The closest candidate to a misspelt `input`, if any is close: same word in another case, a
/// prefix ("Max" → "Maximum"), or at most two edits ("replica" → "replicas").
pub(super) fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
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
                strsim::levenshtein(&lower, &cl)
            };
            (distance, c)
        })
        .filter(|&(d, c)| d <= 2 && d < c.len().max(input.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
