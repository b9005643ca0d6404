//! What `nightshift history` and `nightshift show` print: the run history as a table that fits a
//! 100-column terminal, as JSON for scripts, and one night as a self-contained HTML report with its
//! timeline and the scale-down metrics plotted across the night.
//!
//! Pure: no I/O and no clock (`now` is passed in), so every rendering is a snapshot test
//! (`integration/fixtures/report/`, rewritten with `UPDATE_SNAPSHOTS=1`).
//!
//! The JSON field names ([`HistoryReport`], [`NightReport`]) are a contract for ops scripts:
//! add fields, never rename them. Decision evidence is read tolerantly: it is whatever the step
//! recorded (the gate's `Evidence` of a check, possibly nested in the step's own evidence object),
//! and a report without it still draws the timeline and says "no metric evidence recorded".
//!
//! Terminal output is one line per cell: control characters in recorded text (newlines, ANSI
//! escapes) become spaces, so a hostile reason cannot rewrite the terminal. Widths count
//! characters, not display cells (East Asian wide characters would overflow).
//! HTML output escapes every recorded string and fetches nothing: inline CSS and SVG only.

use crate::domain::{Action, Outcome, Step};
use crate::history::{EventRecord, RunRecord, RunStatus};
pub use crate::text::human_duration;
use crate::text::{hh_mm, one_line};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

/// The terminal width every table fits in.
pub const WIDTH: usize = 100;

// ---------------------------------------------------------------------------------------------
// JSON shapes (the `--output json` contract)
// ---------------------------------------------------------------------------------------------

/// One run, as `history` and `show` print it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub scenario: String,
    pub run: String,
    pub status: RunStatus,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// Whole seconds from opened to closed; `null` while the run is open.
    pub duration_s: Option<i64>,
    /// The dedup key of the scale-up that opened the run.
    pub opened_by: String,
    pub summary: String,
    /// The day-time baseline recorded at scale-up (only in `show`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<serde_json::Value>,
}

impl RunView {
    fn new(run: &RunRecord, with_baseline: bool) -> RunView {
        RunView {
            scenario: run.scenario.clone(),
            run: run.run.clone(),
            status: run.status,
            opened_at: run.opened_at,
            closed_at: run.closed_at,
            duration_s: run
                .closed_at
                .map(|closed| closed.duration_since(run.opened_at).as_secs()),
            opened_by: run.opened_by.clone(),
            summary: run.summary.clone(),
            baseline: if with_baseline {
                run.baseline.clone()
            } else {
                None
            },
        }
    }

    /// Back to the stored record (fixtures and tests populate a table from a report).
    pub fn to_record(&self) -> RunRecord {
        RunRecord {
            scenario: self.scenario.clone(),
            run: self.run.clone(),
            status: self.status,
            opened_at: self.opened_at,
            closed_at: self.closed_at,
            opened_by: self.opened_by.clone(),
            baseline: self.baseline.clone(),
            summary: self.summary.clone(),
        }
    }
}

/// `nightshift history --output json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `--cursor` for the next page; `null` on the last page.
    pub next: Option<String>,
}

/// One recorded event, as `show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    /// The dedup key the event was handled under.
    pub key: String,
    pub step: Option<Step>,
    pub scenario: Option<String>,
    pub run: Option<String>,
    /// `step-command`, `ecs-task-state-change`, `batch-job-state-change`, `unparsed`.
    pub kind: String,
    pub outcome: Outcome,
    /// The short reason.
    pub reason: String,
    /// The full explanation, when it says more than the short reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub actions: Vec<Action>,
    pub received_at: Timestamp,
    pub finished_at: Timestamp,
    /// Decision evidence as recorded (metric periods, thresholds, deadline, drift…); `null` if none.
    pub evidence: Option<serde_json::Value>,
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        EventView {
            key: e.key.clone(),
            step: e.step,
            scenario: e.scenario.clone(),
            run: e.run.clone(),
            kind: e.kind.clone(),
            outcome: e.outcome,
            reason: e.reason.clone(),
            detail: e.detail.clone(),
            actions: e.actions.clone(),
            received_at: e.received_at,
            finished_at: e.finished_at,
            evidence: e.evidence.clone(),
        }
    }
}

impl EventView {
    /// Back to the stored record (fixtures and tests populate a table from a report).
    pub fn to_record(&self) -> EventRecord {
        EventRecord {
            key: self.key.clone(),
            step: self.step,
            scenario: self.scenario.clone(),
            run: self.run.clone(),
            kind: self.kind.clone(),
            outcome: self.outcome,
            reason: self.reason.clone(),
            detail: self.detail.clone(),
            actions: self.actions.clone(),
            received_at: self.received_at,
            finished_at: self.finished_at,
            evidence: self.evidence.clone(),
            payload_hash: None,
        }
    }
}

/// `nightshift show --output json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NightReport {
    pub run: RunView,
    /// The scenario's IANA time zone when the config was given; `null` otherwise.
    pub timezone: Option<String>,
    /// Oldest first.
    pub events: Vec<EventView>,
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// One run and its events, with the scenario's zone when known: what `show` renders.
#[derive(Debug, Clone, Copy)]
pub struct Night<'a> {
    pub run: &'a RunRecord,
    /// Oldest first, as `HistoryStore::run_events` returns them.
    pub events: &'a [EventRecord],
    /// The scenario's zone (from the config): times are shown in UTC and in this zone.
    pub zone: Option<&'a TimeZone>,
}

/// One page of `history`, after filtering.
#[derive(Debug, Clone, Copy)]
pub struct HistoryPage<'a> {
    /// Newest first.
    pub runs: &'a [RunRecord],
    /// The cursor of the next page, when there is one.
    pub next: Option<&'a str>,
    /// Runs of this page that `--status` left out.
    pub hidden_by_status: usize,
    /// The scenario asked for, if any, and the start of the range: for the footer.
    pub scenario: Option<&'a str>,
    pub since: Timestamp,
}

/// What [`select_runs`] kept of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub runs: Vec<RunRecord>,
    /// Runs dropped because their status was not the one asked for.
    pub hidden_by_status: usize,
    /// Some run was opened before `from`: pages after this one are older still, so the caller
    /// stops paging.
    pub reached_older: bool,
}

/// Keeps the runs of a page opened at or after `from` and, when given, of `status`.
///
/// `history --scenario` queries from a run id (a local night date), which can reach a little
/// before `from`; this trims that edge so both forms of `history` list exactly the runs opened
/// in `[from, now]`.
pub fn select_runs(page: Vec<RunRecord>, from: Timestamp, status: Option<RunStatus>) -> Selection {
    let mut selection = Selection {
        runs: Vec::new(),
        hidden_by_status: 0,
        reached_older: false,
    };
    for run in page {
        if run.opened_at < from {
            selection.reached_older = true;
        } else if status.is_some_and(|s| s != run.status) {
            selection.hidden_by_status += 1;
        } else {
            selection.runs.push(run);
        }
    }
    selection
}

/// The first run id `history --scenario` asks for: the scenario-local date of `from`. Without the
/// scenario's zone, the UTC date one day earlier: every zone's local date is at most a day behind
/// UTC's, so no run opened after `from` is missed ([`select_runs`] trims the extra runs).
pub fn since_run(from: Timestamp, zone: Option<&TimeZone>) -> String {
    match zone {
        Some(tz) => from.to_zoned_datetime(tz.clone()).date().to_string(),
        None => {
            let day = from.to_zoned_datetime(TimeZone::UTC).date();
            day.yesterday().unwrap_or(day).to_string()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// The history page as [`HistoryReport`] JSON (pretty, newline-terminated).
pub fn history_json(runs: &[RunRecord], next: Option<&str>) -> String {
    let report = HistoryReport {
        runs: runs.iter().map(|r| RunView::new(r, false)).collect(),
        next: next.map(str::to_string),
    };
    to_json(&report)
}

/// The night as a [`NightReport`].
pub fn night_report(night: &Night) -> NightReport {
    NightReport {
        run: RunView::new(night.run, true),
        timezone: night.zone.map(zone_name),
        events: night.events.iter().map(EventView::from).collect(),
    }
}

/// The night as [`NightReport`] JSON (pretty, newline-terminated).
pub fn night_json(night: &Night) -> String {
    to_json(&night_report(night))
}

fn to_json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Only maps with non-string keys fail, and these types have none.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// The history page as a table, newest first, every line at most [`WIDTH`] columns (but for the
/// cursor line of the next-page hint, which cannot be broken).
pub fn history_table(page: &HistoryPage, now: Timestamp) -> String {
    let mut out = String::new();
    let scope = format!(
        "{}opened since {} UTC",
        page.scenario
            .map_or(String::new(), |s| format!("of {} ", one_line(s))),
        page.since.strftime("%Y-%m-%d %H:%M")
    );
    if page.runs.is_empty() {
        out.push_str(&truncate(&format!("no runs {scope}"), WIDTH));
        if page.hidden_by_status > 0 {
            out.push_str(&format!(
                " ({} on this page left out by --status)",
                page.hidden_by_status
            ));
        }
        out.push('\n');
    } else {
        let header = [
            "SCENARIO",
            "RUN",
            "STATUS",
            "OPENED (UTC)",
            "DURATION",
            "SUMMARY",
        ];
        let rows: Vec<[String; 6]> = page
            .runs
            .iter()
            .map(|r| {
                let duration = match r.closed_at {
                    Some(closed) => human_duration(closed.duration_since(r.opened_at)),
                    // The status column says it is still open.
                    None => human_duration(now.duration_since(r.opened_at)),
                };
                [
                    one_line(&r.scenario),
                    one_line(&r.run),
                    r.status.as_str().to_string(),
                    r.opened_at.strftime("%Y-%m-%d %H:%M").to_string(),
                    duration,
                    one_line(&r.summary),
                ]
            })
            .collect();
        let caps = [18, 14, 6, 16, 8];
        let mut widths = [0usize; 5];
        for (i, w) in widths.iter_mut().enumerate() {
            let longest = rows.iter().map(|r| chars(&r[i])).max().unwrap_or(0);
            *w = longest.max(chars(header[i])).min(caps[i]);
        }
        let fixed: usize = widths.iter().map(|w| w + 2).sum();
        let summary_width = WIDTH.saturating_sub(fixed).max(10);
        let line = |cells: [&str; 6]| {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                line.push_str(&pad(&truncate(cells[i], *w), *w));
                line.push_str("  ");
            }
            line.push_str(&truncate(cells[5], summary_width));
            line.trim_end().to_string()
        };
        out.push_str(&line(header));
        out.push('\n');
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
            out.push('\n');
        }
        let n = page.runs.len();
        let mut footer = format!("{n} run{} {scope}", if n == 1 { "" } else { "s" });
        if page.hidden_by_status > 0 {
            footer.push_str(&format!(
                "; {} more on this page left out by --status",
                page.hidden_by_status
            ));
        }
        out.push_str(&truncate(&footer, WIDTH));
        out.push('\n');
    }
    if let Some(next) = page.next {
        out.push_str("more runs: repeat the command with\n");
        out.push_str(&format!("  --cursor {next}\n"));
    }
    out
}

/// The night as a header and a timeline table: each event's time in UTC (and the scenario's
/// zone when known), step, outcome and reason, its calls one per line below it. Every line at most
/// [`WIDTH`] columns: long reasons wrap inside their column.
pub fn night_table(night: &Night, now: Timestamp) -> String {
    let run = night.run;
    let mut out = String::new();
    let zone = night.zone;
    let when = |t: Timestamp| match zone {
        Some(tz) => format!(
            "{} UTC ({} {})",
            t.strftime("%Y-%m-%d %H:%M:%S"),
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S"),
            zone_name(tz)
        ),
        None => format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S")),
    };
    let duration = match run.closed_at {
        Some(closed) => human_duration(closed.duration_since(run.opened_at)),
        None => format!(
            "open for {} so far",
            human_duration(now.duration_since(run.opened_at))
        ),
    };
    let title = format!(
        "{} / {}  {}  {}",
        one_line(&run.scenario),
        one_line(&run.run),
        run.status.as_str(),
        duration
    );
    out.push_str(&truncate(&title, WIDTH));
    out.push('\n');
    let field = |out: &mut String, label: &str, text: &str| {
        for (i, line) in wrap(text, WIDTH - 9).into_iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            out.push_str(format!("{label:<9}{line}").trim_end());
            out.push('\n');
        }
    };
    field(&mut out, "opened", &when(run.opened_at));
    field(&mut out, "by", &run.opened_by);
    if let Some(closed) = run.closed_at {
        field(&mut out, "closed", &when(closed));
    }
    field(&mut out, "summary", &run.summary);
    out.push('\n');

    if night.events.is_empty() {
        out.push_str("no events recorded for this run\n");
        return out;
    }
    // Date and time: a night crosses midnight in one zone or the other.
    let stamp = |t: Timestamp| t.strftime("%m-%d %H:%M:%S").to_string();
    let local = |t: Timestamp| {
        zone.map(|tz| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%m-%d %H:%M:%S")
                .to_string()
        })
    };
    let mut header = vec![("UTC".to_string(), 14)];
    if zone.is_some() {
        header.push(("LOCAL".to_string(), 14));
    }
    header.push(("STEP".to_string(), 10));
    header.push(("OUTCOME".to_string(), 11));
    let fixed: usize = header.iter().map(|(_, w)| w + 2).sum();
    let reason_width = WIDTH - fixed;
    let mut head = String::new();
    for (name, w) in &header {
        head.push_str(&pad(name, *w));
        head.push_str("  ");
    }
    head.push_str("REASON");
    out.push_str(&head);
    out.push('\n');
    for event in night.events {
        let mut cells = vec![stamp(event.received_at)];
        if let Some(l) = local(event.received_at) {
            cells.push(l);
        }
        cells.push(step_name(event));
        cells.push(event.outcome.as_str().to_string());
        let reason = wrap(&event.reason, reason_width);
        for (i, text) in reason.iter().enumerate() {
            let mut line = String::new();
            for ((_, w), cell) in header.iter().zip(&cells) {
                let cell = if i == 0 {
                    truncate(cell, *w)
                } else {
                    String::new()
                };
                line.push_str(&pad(&cell, *w));
                line.push_str("  ");
            }
            line.push_str(text);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for action in &event.actions {
            for (i, text) in wrap(&action_line(action), WIDTH - 8)
                .into_iter()
                .enumerate()
            {
                let indent = if i == 0 { "    - " } else { "        " };
                out.push_str(&format!("{indent}{text}"));
                out.push('\n');
            }
        }
    }
    let with_evidence = night.events.iter().filter(|e| e.evidence.is_some()).count();
    if with_evidence > 0 {
        out.push_str(&format!(
            "\n{with_evidence} event{} recorded evidence: see --output json, or --output html for the metric plot\n",
            if with_evidence == 1 { "" } else { "s" }
        ));
    }
    out
}

fn step_name(event: &EventRecord) -> String {
    match event.step {
        Some(step) => step.as_str().to_string(),
        None => one_line(&event.kind),
    }
}

fn action_line(a: &Action) -> String {
    format!(
        "{} {} {}: {} [{}]",
        one_line(&a.service),
        one_line(&a.call),
        one_line(&a.resource),
        one_line(&a.detail),
        one_line(&a.result.to_string())
    )
}

fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("local").to_string()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, width: usize) -> String {
    let n = chars(s);
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// At most `width` characters, the last one `…` when something was cut.
fn truncate(s: &str, width: usize) -> String {
    let s = one_line(s);
    if chars(&s) <= width {
        return s;
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Word-wraps `text` into lines of at most `width` characters; words longer than that are split.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let text = one_line(text);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut rest: Vec<char> = word.chars().collect();
        loop {
            let sep = usize::from(len > 0);
            if len + sep + rest.len() <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(rest.iter());
                len += sep + rest.len();
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            lines.push(rest.drain(..width).collect());
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Evidence, read tolerantly
// ---------------------------------------------------------------------------------------------

/// The parts of the gate's `Evidence` (crate::gate) the report draws. Every field is optional: an
/// older or partial record still renders.
#[derive(Debug, Clone, Default, Deserialize)]
struct GateEvidence {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    now: Option<Timestamp>,
    #[serde(default)]
    deadline: Option<Timestamp>,
    #[serde(default)]
    deadline_local: Option<String>,
    #[serde(default)]
    min_hold_until: Option<Timestamp>,
    #[serde(default)]
    quiet_for: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricEvidence>,
    #[serde(default)]
    fetch_error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct MetricEvidence {
    #[serde(default)]
    metric: String,
    #[serde(default)]
    stat: Option<String>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    below: Option<f64>,
    #[serde(default)]
    from: Option<Timestamp>,
    #[serde(default)]
    to: Option<Timestamp>,
    #[serde(default)]
    periods: Vec<PeriodEvidence>,
}

#[derive(Debug, Clone, Deserialize)]
struct PeriodEvidence {
    start: Timestamp,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    state: Option<String>,
}

/// The gate evidence in an event's evidence: the object itself when it has `metrics`, or the
/// first object nested (up to two levels) that does.
fn gate_evidence(value: &serde_json::Value) -> Option<GateEvidence> {
    fn find(value: &serde_json::Value, depth: u8) -> Option<&serde_json::Value> {
        let object = value.as_object()?;
        if object.get("metrics").is_some_and(|m| m.is_array())
            && (object.contains_key("deadline") || object.contains_key("quiet_for"))
        {
            return Some(value);
        }
        if depth == 0 {
            return None;
        }
        object.values().find_map(|v| find(v, depth - 1))
    }
    find(value, 2).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// A string-array field of the evidence (top level or one level down), e.g. `drift`.
fn evidence_strings(value: &serde_json::Value, key: &str) -> Vec<String> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.get(key)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .map(|s| match s.as_str() {
                        Some(s) => s.to_string(),
                        None => s.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let top = strings(value);
    if !top.is_empty() {
        return top;
    }
    value
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .map(strings)
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

fn evidence_time(value: &serde_json::Value, key: &str) -> Option<Timestamp> {
    value.get(key)?.as_str()?.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The night's milestones
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkKind {
    ScaleUpRequested,
    CapacityReady,
    Check,
    ScaleDownRequested,
    ScaleDownDone,
    Drift,
    Error,
}

impl MarkKind {
    fn class(self) -> &'static str {
        match self {
            MarkKind::ScaleUpRequested => "scale-up-requested",
            MarkKind::CapacityReady => "capacity-ready",
            MarkKind::Check => "check",
            MarkKind::ScaleDownRequested => "scale-down-requested",
            MarkKind::ScaleDownDone => "scale-down-done",
            MarkKind::Drift => "drift",
            MarkKind::Error => "error",
        }
    }

    fn lane(self) -> usize {
        match self {
            MarkKind::ScaleUpRequested | MarkKind::CapacityReady => 0,
            MarkKind::Check => 1,
            MarkKind::ScaleDownRequested | MarkKind::ScaleDownDone => 2,
            MarkKind::Drift | MarkKind::Error => 3,
        }
    }

    /// Whether the timeline chart writes the label next to the marker (others: tooltip only).
    fn labelled(self) -> bool {
        !matches!(self, MarkKind::Check)
    }
}

const LANES: [&str; 4] = ["scale-up", "checks", "scale-down", "drift, errors"];

#[derive(Debug, Clone)]
struct Mark {
    at: Timestamp,
    kind: MarkKind,
    /// Short text: the chart label and the event's tag.
    label: String,
    /// Extra classes (a check's decision).
    class: &'static str,
    /// The tooltip.
    detail: String,
    /// Index into the night's events (None: from the run record).
    event: Option<usize>,
}

/// Everything the report marks on the night, in time order.
fn milestones(night: &Night) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut ready_seen = false;
    for (i, e) in night.events.iter().enumerate() {
        let gate = e.evidence.as_ref().and_then(gate_evidence);
        let mut mark = |at, kind, label: String, class, detail: String| {
            marks.push(Mark {
                at,
                kind,
                label,
                class,
                detail,
                event: Some(i),
            })
        };
        match e.step {
            Some(Step::ScaleUp) => mark(
                e.received_at,
                MarkKind::ScaleUpRequested,
                "scale-up requested".into(),
                "",
                format!("scale-up {}: {}", e.outcome, e.reason),
            ),
            Some(Step::ScaleDown) => mark(
                e.received_at,
                MarkKind::ScaleDownRequested,
                "scale-down requested".into(),
                "",
                format!("scale-down {}: {}", e.outcome, e.reason),
            ),
            Some(Step::Check) => {
                let (label, class) = match &gate {
                    Some(g) if g.rule.is_some() => (
                        format!(
                            "check: scale down ({})",
                            g.rule.as_deref().unwrap_or_default()
                        ),
                        "decision-scale-down",
                    ),
                    Some(g) if g.fetch_error.is_some() => {
                        ("check: metrics unreadable".to_string(), "decision-error")
                    }
                    Some(_) => ("check: keep capacity".to_string(), "decision-defer"),
                    None => (format!("check: {}", e.outcome), "decision-none"),
                };
                mark(
                    e.received_at,
                    MarkKind::Check,
                    label.clone(),
                    class,
                    format!("{label} ({}): {}", e.outcome, e.reason),
                );
                if gate.as_ref().is_some_and(|g| g.rule.is_some()) {
                    mark(
                        e.received_at,
                        MarkKind::ScaleDownRequested,
                        "scale-down requested".into(),
                        "",
                        format!("the check decided to scale down: {}", e.reason),
                    );
                }
            }
            None => {}
        }
        if let Some(evidence) = &e.evidence {
            if !ready_seen {
                if let Some(ready) = evidence_time(evidence, "ready_at") {
                    ready_seen = true;
                    mark(
                        ready,
                        MarkKind::CapacityReady,
                        "capacity ready".into(),
                        "",
                        format!(
                            "capacity ready (recorded by {} {})",
                            step_name(e),
                            e.outcome
                        ),
                    );
                }
            }
            let drift = evidence_strings(evidence, "drift");
            if !drift.is_empty() {
                mark(
                    e.received_at,
                    MarkKind::Drift,
                    "drift".into(),
                    "",
                    format!("drift left alone: {}", drift.join("; ")),
                );
            }
        }
        let mut errors = Vec::new();
        if e.outcome == Outcome::Rejected {
            errors.push(format!("rejected: {}", e.reason));
        }
        for a in &e.actions {
            if a.result != "ok" && a.result != "dry-run" {
                errors.push(format!(
                    "{} {} {}: {}",
                    a.service, a.call, a.resource, a.result
                ));
            }
        }
        if let Some(err) = gate.as_ref().and_then(|g| g.fetch_error.as_ref()) {
            errors.push(format!("metrics unreadable: {err}"));
        }
        if let Some(evidence) = &e.evidence {
            for key in ["refused", "degraded"] {
                for line in evidence_strings(evidence, key) {
                    errors.push(format!("{key}: {line}"));
                }
            }
        }
        if !errors.is_empty() {
            mark(
                e.received_at,
                MarkKind::Error,
                "error".into(),
                "",
                errors.join("; "),
            );
        }
    }
    if let Some(closed) = night.run.closed_at {
        marks.push(Mark {
            at: closed,
            kind: MarkKind::ScaleDownDone,
            label: "scaled down, run closed".into(),
            class: "",
            detail: format!("run closed: {}", night.run.summary),
            event: None,
        });
    }
    marks.sort_by_key(|m| m.at);
    marks
}

/// Every metric's periods across the night: the union of the windows of every check's evidence
/// (a later check's reading of a period wins), by metric label, in first-seen order.
struct MetricSeries {
    label: String,
    stat: String,
    period: String,
    below: Option<f64>,
    points: BTreeMap<Timestamp, (Option<f64>, String)>,
}

fn metric_series(evidence: &[(usize, GateEvidence)]) -> Vec<MetricSeries> {
    let mut series: Vec<MetricSeries> = Vec::new();
    for (_, g) in evidence {
        for m in &g.metrics {
            let index = match series.iter().position(|s| s.label == m.metric) {
                Some(i) => i,
                None => {
                    series.push(MetricSeries {
                        label: m.metric.clone(),
                        stat: String::new(),
                        period: String::new(),
                        below: None,
                        points: BTreeMap::new(),
                    });
                    series.len() - 1
                }
            };
            let s = &mut series[index];
            if let Some(stat) = &m.stat {
                s.stat = stat.clone();
            }
            if let Some(period) = &m.period {
                s.period = period.clone();
            }
            if m.below.is_some() {
                s.below = m.below;
            }
            for p in &m.periods {
                let state = p.state.clone().unwrap_or_default();
                // A pending reading never replaces a settled one.
                if state == "pending" && s.points.contains_key(&p.start) {
                    continue;
                }
                s.points
                    .insert(p.start, (p.value.filter(|v| v.is_finite()), state));
            }
        }
    }
    series
}

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

use escape_html as esc;

/// Chart geometry shared by the timeline and the metric plots, so their time axes line up.
const SVG_WIDTH: f64 = 1100.0;
const PLOT_LEFT: f64 = 120.0;
const PLOT_RIGHT: f64 = 1080.0;
/// The longest night drawn: a deadline or an open run further out is clipped.
const MAX_SPAN_HOURS: i64 = 36;

#[derive(Debug, Clone, Copy)]
struct TimeAxis {
    from: Timestamp,
    to: Timestamp,
}

impl TimeAxis {
    fn x(&self, t: Timestamp) -> f64 {
        let span = self.to.duration_since(self.from).as_secs_f64().max(1.0);
        let at = t.duration_since(self.from).as_secs_f64().clamp(0.0, span);
        PLOT_LEFT + at / span * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn contains(&self, t: Timestamp) -> bool {
        t >= self.from && t <= self.to
    }

    /// Tick instants on round local times (every 5m … 1d, at most about 12 ticks).
    fn ticks(&self, zone: Option<&TimeZone>) -> Vec<Timestamp> {
        let span = self.to.duration_since(self.from).as_secs().max(1);
        let step = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440]
            .into_iter()
            .map(|m: i64| m * 60)
            .find(|s| span / s <= 12)
            .unwrap_or(86_400);
        let offset = zone.map_or(0, |tz| i64::from(tz.to_offset(self.from).seconds()));
        let first = (self.from.as_second() + offset).div_euclid(step) * step - offset;
        let mut ticks = Vec::new();
        let mut t = first;
        while t <= self.to.as_second() {
            if let Ok(ts) = Timestamp::from_second(t) {
                if ts >= self.from {
                    ticks.push(ts);
                }
            }
            t += step;
        }
        ticks
    }
}

fn clock_full(t: Timestamp, zone: Option<&TimeZone>) -> String {
    match zone {
        Some(tz) => format!(
            "{} UTC / {} {}",
            t.strftime("%Y-%m-%d %H:%M:%S"),
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S"),
            zone_name(tz)
        ),
        None => format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S")),
    }
}

/// A number for labels: `3`, `0.5`, `12.25`.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// An SVG coordinate, one decimal.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

const STYLE: &str = r#"
:root { --ink: #1d2430; --muted: #5b6577; --line: #d5dae3; --up: #2563eb; --ready: #0d9488;
  --down: #7c3aed; --done: #15803d; --drift: #d97706; --error: #dc2626; --busy: #ea580c;
  --quiet: #16a34a; }
* { box-sizing: border-box; }
body { margin: 24px auto; max-width: 1140px; padding: 0 16px; color: var(--ink);
  font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 4px; }
dl#run-summary { display: grid; grid-template-columns: 110px 1fr; gap: 2px 12px; margin: 0; }
dl#run-summary dt { color: var(--muted); }
dl#run-summary dd { margin: 0; }
.status-open { color: var(--drift); font-weight: bold; }
.status-closed { color: var(--done); font-weight: bold; }
svg { display: block; width: 100%; height: auto; background: #fafbfc; border: 1px solid var(--line); }
svg text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; fill: var(--ink); }
.axis line, .grid { stroke: var(--line); stroke-width: 1; }
.axis text, .lane-label, .tick-label { font-size: 11px; fill: var(--muted); }
.lane { stroke: var(--line); stroke-dasharray: 2 3; }
.run-span { fill: #dbeafe; }
.marker { stroke: #fff; stroke-width: 1.5; }
.marker.scale-up-requested { fill: var(--up); }
.marker.capacity-ready { fill: var(--ready); }
.marker.check { fill: #94a3b8; }
.marker.check.decision-defer { fill: var(--busy); }
.marker.check.decision-scale-down { fill: var(--done); }
.marker.check.decision-error { fill: var(--error); }
.marker.scale-down-requested { fill: var(--down); }
.marker.scale-down-done { fill: var(--done); }
.marker.drift { fill: var(--drift); }
.marker.error { fill: var(--error); }
.mark-label { font-size: 11px; }
.series { fill: none; stroke: #334155; stroke-width: 1.5; }
.period { stroke: none; }
.period.quiet { fill: var(--quiet); }
.period.busy { fill: var(--busy); }
.period.missing { fill: #fff; stroke: var(--muted); stroke-width: 1; }
.period.pending { fill: #cbd5e1; }
.threshold { stroke: var(--error); stroke-width: 1.5; stroke-dasharray: 6 4; }
.deadline { stroke: var(--down); stroke-width: 2; }
.min-hold { stroke: var(--muted); stroke-width: 1; stroke-dasharray: 3 3; }
.check-marker { stroke: #94a3b8; stroke-width: 1; stroke-dasharray: 1 3; }
.decision-marker { stroke: var(--done); stroke-width: 2; }
.quiet-window { fill: #bbf7d0; opacity: 0.6; }
.threshold-label { fill: var(--error); font-size: 11px; }
.deadline-label { fill: var(--down); font-size: 11px; }
.quiet-label { fill: var(--done); font-size: 11px; }
.legend { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
#no-metric-evidence { color: var(--muted); font-style: italic; }
ol#timeline { list-style: none; padding: 0; margin: 0; }
li.event { border-left: 4px solid var(--line); padding: 6px 10px; margin: 0 0 8px; background: #fafbfc; }
li.event.outcome-acted { border-left-color: var(--up); }
li.event.outcome-deferred { border-left-color: var(--busy); }
li.event.outcome-skipped, li.event.outcome-duplicate { border-left-color: #94a3b8; }
li.event.outcome-rejected, li.event.has-error { border-left-color: var(--error); }
.when { color: var(--muted); font-size: 12px; }
.step { font-weight: bold; }
.outcome { display: inline-block; padding: 0 6px; border-radius: 8px; background: #e2e8f0; font-size: 12px; }
.tag { display: inline-block; padding: 0 6px; margin-left: 4px; border-radius: 8px; font-size: 12px; color: #fff; }
.tag.scale-up-requested { background: var(--up); }
.tag.capacity-ready { background: var(--ready); }
.tag.check { background: #64748b; }
.tag.scale-down-requested { background: var(--down); }
.tag.scale-down-done { background: var(--done); }
.tag.drift { background: var(--drift); }
.tag.error { background: var(--error); }
.reason { margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
ul.actions { margin: 2px 0; padding-left: 20px; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
.key { color: var(--muted); font-size: 11px; }
details.evidence pre { background: #f1f5f9; padding: 8px; overflow-x: auto; font-size: 11px; }
footer { margin: 28px 0 0; color: var(--muted); font-size: 12px; }
"#;

/// The night as one self-contained HTML page: a run summary, the timeline chart (scale-up
/// requested and ready, each check and its decision, scale-down requested and done, drift and
/// errors), the scale-down metrics plotted across the night with thresholds, the quiet window and
/// the deadline, and every event with its reason, calls and evidence.
///
/// Stable hooks for tests and styling: `#run-summary`, `#timeline-chart`, `#metric-plot` (one
/// `svg.metric-chart` per metric, or `#no-metric-evidence`), `.threshold`, `.deadline`,
/// `.quiet-window`, `#timeline` with one `li.event` per event, `.marker.<milestone>`.
pub fn night_html(night: &Night, now: Timestamp) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_html(&mut out, night, now);
    out
}

fn write_html(out: &mut String, night: &Night, now: Timestamp) -> fmt::Result {
    let run = night.run;
    let zone = night.zone;
    let marks = milestones(night);
    let evidence: Vec<(usize, GateEvidence)> = night
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.evidence.as_ref().and_then(gate_evidence).map(|g| (i, g)))
        .collect();
    let series = metric_series(&evidence);
    // The decision the plot explains: the check that let the night end, else the latest one.
    let deciding = evidence
        .iter()
        .rev()
        .find(|(_, g)| g.rule.is_some())
        .or_else(|| evidence.last())
        .map(|(_, g)| g);
    let deadline = deciding.and_then(|g| g.deadline);

    // The time axis: the run, its events, its metric periods and its deadline.
    let mut from = run.opened_at;
    let mut to = run.closed_at.unwrap_or(now);
    for e in night.events {
        from = from.min(e.received_at);
        to = to.max(e.finished_at);
    }
    for s in &series {
        if let (Some(first), Some(last)) = (s.points.keys().next(), s.points.keys().last()) {
            from = from.min(*first);
            to = to.max(*last + SignedDuration::from_mins(1));
        }
    }
    if let Some(d) = deadline {
        to = to.max(d);
    }
    let max_to = from
        .checked_add(SignedDuration::from_hours(MAX_SPAN_HOURS))
        .unwrap_or(to);
    to = to.min(max_to);
    if to <= from {
        to = from
            .checked_add(SignedDuration::from_hours(1))
            .unwrap_or(Timestamp::MAX);
    }
    // A little air on both sides so markers at the ends are not cut.
    let pad = SignedDuration::from_secs(to.duration_since(from).as_secs() / 50);
    let axis = TimeAxis {
        from: from.checked_sub(pad).unwrap_or(from),
        to: to.checked_add(pad).unwrap_or(to),
    };

    let title = format!("nightshift: {} / {}", run.scenario, run.run);
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{}</title>", esc(&title))?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")?;

    // Summary.
    writeln!(out, "<header id=\"run-header\">")?;
    writeln!(
        out,
        "<h1>{} <span class=\"run-id\">{}</span></h1>",
        esc(&run.scenario),
        esc(&run.run)
    )?;
    writeln!(out, "<dl id=\"run-summary\">")?;
    writeln!(
        out,
        "<dt>status</dt><dd class=\"status-{0}\">{0}</dd>",
        run.status.as_str()
    )?;
    writeln!(
        out,
        "<dt>opened</dt><dd><time datetime=\"{}\">{}</time></dd>",
        run.opened_at,
        esc(&clock_full(run.opened_at, zone))
    )?;
    match run.closed_at {
        Some(closed) => {
            writeln!(
                out,
                "<dt>closed</dt><dd><time datetime=\"{}\">{}</time></dd>",
                closed,
                esc(&clock_full(closed, zone))
            )?;
            writeln!(
                out,
                "<dt>duration</dt><dd>{}</dd>",
                human_duration(closed.duration_since(run.opened_at))
            )?;
        }
        None => writeln!(
            out,
            "<dt>duration</dt><dd>open for {} so far</dd>",
            human_duration(now.duration_since(run.opened_at))
        )?,
    }
    writeln!(out, "<dt>opened by</dt><dd>{}</dd>", esc(&run.opened_by))?;
    writeln!(out, "<dt>summary</dt><dd>{}</dd>", esc(&run.summary))?;
    if let Some(d) = deadline {
        writeln!(
            out,
            "<dt>deadline</dt><dd>{}</dd>",
            esc(&clock_full(d, zone))
        )?;
    }
    writeln!(out, "</dl>")?;
    writeln!(out, "</header>")?;

    // Timeline chart.
    writeln!(out, "<section id=\"night\">")?;
    writeln!(
        out,
        "<h2>The night <span class=\"legend\">(times in {})</span></h2>",
        esc(&zone.map_or("UTC".to_string(), zone_name))
    )?;
    write_timeline_chart(out, night, &marks, &axis, deadline)?;
    writeln!(out, "</section>")?;

    // Metric plots.
    writeln!(out, "<section id=\"metrics\">")?;
    writeln!(out, "<h2>Scale-down metrics</h2>")?;
    writeln!(out, "<div id=\"metric-plot\">")?;
    let plotted: Vec<&MetricSeries> = series.iter().filter(|s| !s.points.is_empty()).collect();
    if plotted.is_empty() {
        let why = match evidence
            .iter()
            .rev()
            .find_map(|(_, g)| g.fetch_error.as_ref())
        {
            Some(err) => format!(" (the metrics could not be read: {err})"),
            None => String::new(),
        };
        writeln!(
            out,
            "<p id=\"no-metric-evidence\">no metric evidence recorded{}</p>",
            esc(&why)
        )?;
    }
    for (i, s) in plotted.iter().enumerate() {
        let checks: Vec<(Timestamp, bool)> = evidence
            .iter()
            .filter_map(|(_, g)| g.now.map(|t| (t, g.rule.is_some())))
            .collect();
        write_metric_chart(out, i, s, deciding, &checks, &axis, zone)?;
    }
    writeln!(out, "</div>")?;
    writeln!(out, "</section>")?;

    // Event list.
    writeln!(out, "<section id=\"events\">")?;
    writeln!(out, "<h2>Timeline</h2>")?;
    if night.events.is_empty() {
        writeln!(
            out,
            "<p id=\"no-events\">no events recorded for this run</p>"
        )?;
    }
    writeln!(out, "<ol id=\"timeline\">")?;
    for (i, e) in night.events.iter().enumerate() {
        let tags: Vec<&Mark> = marks.iter().filter(|m| m.event == Some(i)).collect();
        let has_error = tags.iter().any(|m| m.kind == MarkKind::Error);
        writeln!(
            out,
            "<li class=\"event outcome-{}{}\" id=\"event-{}\" data-step=\"{}\">",
            e.outcome.as_str(),
            if has_error { " has-error" } else { "" },
            i + 1,
            esc(&step_name(e))
        )?;
        writeln!(
            out,
            "<div class=\"when\"><time datetime=\"{}\">{}</time></div>",
            e.received_at,
            esc(&clock_full(e.received_at, zone))
        )?;
        write!(
            out,
            "<div class=\"what\"><span class=\"step\">{}</span> <span class=\"outcome\">{}</span> <span class=\"kind\">{}</span>",
            esc(&step_name(e)),
            e.outcome.as_str(),
            esc(&e.kind)
        )?;
        for m in &tags {
            write!(
                out,
                " <span class=\"tag {}\" title=\"{}\">{}</span>",
                m.kind.class(),
                esc(&m.detail),
                esc(&m.label)
            )?;
        }
        writeln!(out, "</div>")?;
        writeln!(out, "<p class=\"reason\">{}</p>", esc(&e.reason))?;
        if !e.actions.is_empty() {
            writeln!(out, "<ul class=\"actions\">")?;
            for a in &e.actions {
                let ok = a.result == "ok" || a.result == "dry-run";
                writeln!(
                    out,
                    "<li class=\"action{}\">{}</li>",
                    if ok { "" } else { " failed" },
                    esc(&action_line(a))
                )?;
            }
            writeln!(out, "</ul>")?;
        }
        writeln!(out, "<div class=\"key\">key {}</div>", esc(&e.key))?;
        if let Some(evidence) = &e.evidence {
            let pretty = serde_json::to_string_pretty(evidence).unwrap_or_default();
            writeln!(
                out,
                "<details class=\"evidence\"><summary>evidence</summary><pre>{}</pre></details>",
                esc(&pretty)
            )?;
        }
        writeln!(out, "</li>")?;
    }
    writeln!(out, "</ol>")?;
    writeln!(out, "</section>")?;
    writeln!(
        out,
        "<footer>nightshift show {} {} · rendered for {} UTC</footer>",
        esc(&run.scenario),
        esc(&run.run),
        now.strftime("%Y-%m-%d %H:%M:%S")
    )?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")?;
    Ok(())
}

fn write_time_axis(
    out: &mut String,
    axis: &TimeAxis,
    zone: Option<&TimeZone>,
    top: f64,
    bottom: f64,
) -> fmt::Result {
    writeln!(out, "<g class=\"axis x\">")?;
    writeln!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
        px(PLOT_LEFT),
        px(bottom),
        px(PLOT_RIGHT),
        px(bottom)
    )?;
    for t in axis.ticks(zone) {
        let x = axis.x(t);
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
            px(x),
            px(top),
            px(bottom),
            px(bottom + 14.0),
            hh_mm(t, zone)
        )?;
    }
    writeln!(out, "</g>")
}

fn write_timeline_chart(
    out: &mut String,
    night: &Night,
    marks: &[Mark],
    axis: &TimeAxis,
    deadline: Option<Timestamp>,
) -> fmt::Result {
    const LANE_TOP: f64 = 36.0;
    const LANE_GAP: f64 = 52.0;
    let bottom = LANE_TOP + LANE_GAP * (LANES.len() as f64 - 0.5);
    let height = bottom + 24.0;
    writeln!(
        out,
        "<svg id=\"timeline-chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"the night's timeline\">",
        px(SVG_WIDTH),
        px(height)
    )?;
    // The capacity was up from the scale-up to the close (or now).
    let run = night.run;
    let up_to = run.closed_at.unwrap_or(axis.to);
    writeln!(
        out,
        "<rect class=\"run-span\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>run {}: capacity up</title></rect>",
        px(axis.x(run.opened_at)),
        px(LANE_TOP - 22.0),
        px((axis.x(up_to) - axis.x(run.opened_at)).max(1.0)),
        px(bottom - LANE_TOP + 8.0),
        esc(&run.run)
    )?;
    write_time_axis(out, axis, night.zone, LANE_TOP - 22.0, bottom)?;
    for (i, name) in LANES.iter().enumerate() {
        let y = LANE_TOP + LANE_GAP * i as f64;
        writeln!(
            out,
            "<line class=\"lane\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/><text class=\"lane-label\" x=\"8\" y=\"{3}\">{4}</text>",
            px(PLOT_LEFT),
            px(y),
            px(PLOT_RIGHT),
            px(y + 4.0),
            esc(name)
        )?;
    }
    if let Some(d) = deadline.filter(|d| axis.contains(*d)) {
        let x = axis.x(d);
        writeln!(
            out,
            "<line class=\"deadline\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/><text class=\"deadline-label\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">deadline {5}</text>",
            px(x),
            px(LANE_TOP - 22.0),
            px(bottom),
            px(x - 4.0),
            px(LANE_TOP - 10.0),
            hh_mm(d, night.zone)
        )?;
    }
    let mut labelled_in_lane = [0usize; 4];
    for m in marks {
        let lane = m.kind.lane();
        let y = LANE_TOP + LANE_GAP * lane as f64;
        let x = axis.x(m.at);
        let class = if m.class.is_empty() {
            m.kind.class().to_string()
        } else {
            format!("{} {}", m.kind.class(), m.class)
        };
        writeln!(
            out,
            "<circle class=\"marker {}\" cx=\"{}\" cy=\"{}\" r=\"6\"><title>{} {}: {}</title></circle>",
            class,
            px(x),
            px(y),
            hh_mm(m.at, night.zone),
            esc(&m.label),
            esc(&m.detail)
        )?;
        if m.kind.labelled() {
            // Alternate above and below so neighbours do not overlap.
            let n = labelled_in_lane[lane];
            labelled_in_lane[lane] += 1;
            let dy = if n % 2 == 0 { -10.0 } else { 20.0 };
            writeln!(
                out,
                "<text class=\"mark-label\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{} {}</text>",
                px(x + if x > PLOT_RIGHT - 150.0 { -8.0 } else { 8.0 }),
                px(y + dy),
                if x > PLOT_RIGHT - 150.0 {
                    "end"
                } else {
                    "start"
                },
                esc(&m.label),
                hh_mm(m.at, night.zone)
            )?;
        }
    }
    writeln!(out, "</svg>")
}

fn write_metric_chart(
    out: &mut String,
    index: usize,
    s: &MetricSeries,
    deciding: Option<&GateEvidence>,
    checks: &[(Timestamp, bool)],
    axis: &TimeAxis,
    zone: Option<&TimeZone>,
) -> fmt::Result {
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 230.0;
    const HEIGHT: f64 = 260.0;
    let values = s.points.values().filter_map(|(v, _)| *v);
    let max = values
        .clone()
        .fold(s.below.unwrap_or(0.0), f64::max)
        .max(0.0);
    let min = values.fold(0.0, f64::min);
    let top = nice_ceiling(if max <= min { min + 1.0 } else { max * 1.15 });
    let y = |v: f64| BOTTOM - (v - min) / (top - min) * (BOTTOM - TOP);

    writeln!(
        out,
        "<h3>{}{}{}</h3>",
        esc(&s.label),
        if s.stat.is_empty() {
            String::new()
        } else {
            format!(" · {}", esc(&s.stat))
        },
        if s.period.is_empty() {
            String::new()
        } else {
            format!(" · {} periods", esc(&s.period))
        }
    )?;
    writeln!(
        out,
        "<svg class=\"metric-chart\" id=\"metric-plot-{index}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        px(SVG_WIDTH),
        px(HEIGHT),
        esc(&s.label)
    )?;
    // The quiet window the deciding check judged.
    let window = deciding.and_then(|g| g.metrics.iter().find(|m| m.metric == s.label));
    if let Some((from, to)) = window.and_then(|m| Some((m.from?, m.to?))) {
        let quiet_for = deciding
            .and_then(|g| g.quiet_for.clone())
            .unwrap_or_default();
        let (x0, x1) = (axis.x(from), axis.x(to));
        writeln!(
            out,
            "<rect class=\"quiet-window\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>quiet window {} judged by the deciding check: {} to {}</title></rect>",
            px(x0),
            px(TOP),
            px((x1 - x0).max(1.0)),
            px(BOTTOM - TOP),
            esc(&quiet_for),
            hh_mm(from, zone),
            hh_mm(to, zone)
        )?;
        writeln!(
            out,
            "<text class=\"quiet-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">quiet window {}</text>",
            px(x0 - 4.0),
            px(TOP + 12.0),
            esc(&quiet_for)
        )?;
    }
    // Value axis.
    writeln!(out, "<g class=\"axis y\">")?;
    for i in 0..=4 {
        let v = min + (top - min) * f64::from(i) / 4.0;
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/><text class=\"tick-label\" x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>",
            px(PLOT_LEFT),
            px(y(v)),
            px(PLOT_RIGHT),
            px(PLOT_LEFT - 6.0),
            px(y(v) + 4.0),
            num(v)
        )?;
    }
    writeln!(out, "</g>")?;
    write_time_axis(out, axis, zone, TOP, BOTTOM)?;
    // Checks and the decision.
    for (at, decided) in checks.iter().filter(|(t, _)| axis.contains(*t)) {
        writeln!(
            out,
            "<line class=\"{0}\" x1=\"{1}\" y1=\"{2}\" x2=\"{1}\" y2=\"{3}\"><title>{4} at {5}</title></line>",
            if *decided { "decision-marker" } else { "check-marker" },
            px(axis.x(*at)),
            px(TOP),
            px(BOTTOM),
            if *decided { "scale-down decided" } else { "check" },
            hh_mm(*at, zone)
        )?;
    }
    if let Some(hold) = deciding
        .and_then(|g| g.min_hold_until)
        .filter(|t| axis.contains(*t))
    {
        writeln!(
            out,
            "<line class=\"min-hold\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"><title>min hold until {3}</title></line>",
            px(axis.x(hold)),
            px(TOP),
            px(BOTTOM),
            hh_mm(hold, zone)
        )?;
    }
    // The series: a line through consecutive values, a dot per period coloured by its state.
    let mut segment: Vec<String> = Vec::new();
    let mut segments: Vec<Vec<String>> = Vec::new();
    let step = s
        .points
        .keys()
        .zip(s.points.keys().skip(1))
        .map(|(a, b)| b.duration_since(*a))
        .min()
        .unwrap_or(SignedDuration::from_mins(1));
    let mut previous: Option<Timestamp> = None;
    for (t, (value, _)) in &s.points {
        let contiguous = previous.is_some_and(|p| t.duration_since(p) <= step);
        match value {
            Some(v) => {
                if !contiguous && !segment.is_empty() {
                    segments.push(std::mem::take(&mut segment));
                }
                segment.push(format!("{},{}", px(axis.x(*t)), px(y(*v))));
            }
            None => {
                if !segment.is_empty() {
                    segments.push(std::mem::take(&mut segment));
                }
            }
        }
        previous = Some(*t);
    }
    if !segment.is_empty() {
        segments.push(segment);
    }
    for seg in segments.iter().filter(|s| s.len() > 1) {
        writeln!(
            out,
            "<polyline class=\"series\" points=\"{}\"/>",
            seg.join(" ")
        )?;
    }
    for (t, (value, state)) in &s.points {
        let state = match state.as_str() {
            "quiet" | "busy" | "missing" | "pending" => state.as_str(),
            _ => "unknown",
        };
        let (cy, text) = match value {
            Some(v) => (y(*v), num(*v)),
            None => (y(0.0_f64.max(min)), "no datapoint".to_string()),
        };
        writeln!(
            out,
            "<circle class=\"period {}\" cx=\"{}\" cy=\"{}\" r=\"2.5\"><title>{}: {} ({})</title></circle>",
            state,
            px(axis.x(*t)),
            px(cy),
            hh_mm(*t, zone),
            esc(&text),
            state
        )?;
    }
    // Threshold and deadline on top.
    if let Some(below) = s.below {
        writeln!(
            out,
            "<line class=\"threshold\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"><title>threshold: quiet below {3}</title></line>",
            px(PLOT_LEFT),
            px(y(below)),
            px(PLOT_RIGHT),
            num(below)
        )?;
        writeln!(
            out,
            "<text class=\"threshold-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">threshold: below {}</text>",
            px(PLOT_RIGHT - 4.0),
            px(y(below) - 5.0),
            num(below)
        )?;
    }
    match deciding.and_then(|g| g.deadline) {
        Some(d) if axis.contains(d) => {
            let x = axis.x(d);
            let local = deciding
                .and_then(|g| g.deadline_local.clone())
                .unwrap_or_else(|| hh_mm(d, zone));
            writeln!(
                out,
                "<line class=\"deadline\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"><title>deadline {3}</title></line>",
                px(x),
                px(TOP - 12.0),
                px(BOTTOM),
                esc(&local)
            )?;
            writeln!(
                out,
                "<text class=\"deadline-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">deadline {}</text>",
                px(x - 4.0),
                px(TOP - 2.0),
                esc(&local)
            )?;
        }
        Some(d) => writeln!(
            out,
            "<text class=\"deadline-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">deadline {} (beyond the plot)</text>",
            px(PLOT_RIGHT),
            px(TOP - 2.0),
            esc(&clock_full(d, zone))
        )?,
        None => {}
    }
    writeln!(out, "</svg>")?;
    writeln!(
        out,
        "<p class=\"legend\">dots: one per period (green quiet, orange busy, hollow no datapoint, grey not yet settled); dashed red: threshold; purple: deadline; green band: the quiet window of the deciding check; dotted: checks; gaps: periods no check read</p>"
    )
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `v` (> 0).
fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Scenario};
    use crate::gate::{self, MetricWindow, MetricsFetch};
    use std::path::PathBuf;

    const CONTRACT: &str = include_str!("../integration/fixtures/config/contract.toml");

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn scenario() -> Scenario {
        config::parse(CONTRACT, "contract.toml").unwrap().scenarios[0].clone()
    }

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    // --- snapshots ------------------------------------------------------------------------------

    fn snapshot_path(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("integration/fixtures/report")
            .join(name)
    }

    /// Compares `actual` with the snapshot file exactly; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn snapshot(name: &str, actual: &str) {
        let path = snapshot_path(name);
        if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "snapshot {} unreadable ({e}): run `UPDATE_SNAPSHOTS=1 cargo test --lib report` and review it",
                path.display()
            )
        });
        if expected != actual {
            let first = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            panic!(
                "{} differs from the rendering, first at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
                 If the change is intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff.",
                path.display(),
                first + 1,
                expected.lines().nth(first),
                actual.lines().nth(first)
            );
        }
    }

    // --- the demo night -------------------------------------------------------------------------

    /// The demo fixture: runs of several scenarios, and every event of the night of
    /// nightly-batch/2026-11-25. The integration test loads the same file into DynamoDB and
    /// expects the CLI to print exactly the snapshots these unit tests compare.
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Demo {
        now: Timestamp,
        timezone: String,
        /// Newest first, as `history` lists them.
        runs: Vec<RunView>,
        events: Vec<EventView>,
    }

    const NIGHT: &str = "2026-11-25";
    const SCALED_UP: &str = "2026-11-25T13:00:00Z";

    /// JobsRunning, one datapoint a minute: busy (8 down to 1) until 17:40Z, then 0.
    fn jobs_running(range: gate::QueryRange, now: Timestamp) -> Vec<(Timestamp, f64)> {
        let mut points = Vec::new();
        let mut t = range.from;
        let busy_until = ts("2026-11-25T17:40:00Z");
        // A datapoint is readable about a minute after its period starts.
        while t < range.to && t <= now - SignedDuration::from_mins(1) {
            if t >= ts(SCALED_UP) {
                // Eight jobs at first, fewer as the night goes on, none from 17:40.
                let left = busy_until.duration_since(t).as_mins();
                let value = if t < busy_until {
                    (1 + left / 40 + i64::from(left % 7 == 0)) as f64
                } else {
                    0.0
                };
                points.push((t, value));
            }
            t += SignedDuration::from_mins(1);
        }
        points
    }

    fn decide(s: &Scenario, now: &str, fetch_error: Option<&str>) -> gate::Decision {
        let now = ts(now);
        let fetched = match fetch_error {
            Some(e) => MetricsFetch::Failed(e.to_string()),
            None => MetricsFetch::Windows(vec![MetricWindow {
                spec: s.scale_down.metrics[0].clone(),
                points: jobs_running(gate::query_range(&s.scale_down, now), now),
            }]),
        };
        gate::decide(s, &fetched, ts(SCALED_UP), now, false)
    }

    fn action(service: &str, call: &str, resource: &str, detail: &str) -> Action {
        Action {
            service: service.into(),
            call: call.into(),
            resource: resource.into(),
            detail: detail.into(),
            result: "ok".into(),
        }
    }

    fn step_evidence(drift: &[&str], waiting: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "dry_run": false,
            "planned": [],
            "waiting": waiting,
            "drift": drift,
            "notes": [],
            "refused": [],
            "degraded": [],
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        at: &str,
        step: Step,
        kind: &str,
        key: &str,
        outcome: Outcome,
        reason: String,
        actions: Vec<Action>,
        evidence: Option<serde_json::Value>,
    ) -> EventView {
        let at = ts(at);
        EventView {
            key: key.into(),
            step: Some(step),
            scenario: Some("nightly-batch".into()),
            run: Some(NIGHT.into()),
            kind: kind.into(),
            outcome,
            reason,
            detail: String::new(),
            actions,
            received_at: at,
            finished_at: at + SignedDuration::from_millis(1850),
            evidence,
        }
    }

    /// A scheduled check: readiness and the gate's evidence, as the app records them.
    fn check(
        s: &Scenario,
        at: &str,
        kind: &str,
        key: &str,
        fetch_error: Option<&str>,
    ) -> EventView {
        let d = decide(s, at, fetch_error);
        let mut evidence = step_evidence(&[], &[]);
        evidence["ready_at"] = serde_json::json!("2026-11-25T13:30:00Z");
        evidence["time_to_ready_s"] = serde_json::json!(1800);
        evidence["readiness"] = serde_json::json!({"ready": true, "waiting": [], "degraded": []});
        evidence["gate"] = d.evidence_json();
        let ready = if at == "2026-11-25T13:30:00Z" {
            "capacity ready since 2026-11-25T13:30:00Z (1800s after scale-up); "
        } else {
            ""
        };
        event(
            at,
            Step::Check,
            kind,
            key,
            Outcome::Deferred,
            format!("{ready}scale-down: {}", d.reason()),
            vec![],
            Some(evidence),
        )
    }

    fn closed_run(scenario: &str, run: &str, opened: &str, closed: &str, summary: &str) -> RunView {
        let (opened, closed) = (ts(opened), ts(closed));
        RunView {
            scenario: scenario.into(),
            run: run.into(),
            status: RunStatus::Closed,
            opened_at: opened,
            closed_at: Some(closed),
            duration_s: Some(closed.duration_since(opened).as_secs()),
            opened_by: format!("{scenario}/scale-up/{}", opened),
            summary: summary.into(),
            baseline: None,
        }
    }

    /// Built from the gate itself, so the fixture holds the evidence shape checks record.
    fn build_demo() -> Demo {
        let s = scenario();
        let readers = ["r1", "r2", "r3"].map(|r| format!("batch-db-nightly-batch-{r}"));
        let scale_up = event(
            SCALED_UP,
            Step::ScaleUp,
            "step-command",
            "nightly-batch/scale-up/2026-11-25T13:00:00Z",
            Outcome::Acted,
            "4 call(s) made; waiting: batch-db: 0 of 3 new readers available; batch/worker: 2 of 10 tasks running".into(),
            std::iter::once(action("ecs", "UpdateService", "batch/worker", "desiredCount 2 -> 10"))
                .chain(readers.iter().map(|r| {
                    action("docdb", "CreateDBInstance", r, "reader db.r6g.large in batch-db")
                }))
                .collect(),
            Some(step_evidence(
                &[],
                &["batch-db: 0 of 3 new readers available", "batch/worker: 2 of 10 tasks running"],
            )),
        );
        let mut events = vec![scale_up];
        for (at, error) in [
            ("2026-11-25T13:30:00Z", None),
            ("2026-11-25T14:30:00Z", None),
            ("2026-11-25T15:30:00Z", None),
            (
                "2026-11-25T16:30:00Z",
                Some("CloudWatch GetMetricData failed: timed out"),
            ),
            ("2026-11-25T17:30:00Z", None),
        ] {
            events.push(check(
                &s,
                at,
                "step-command",
                &format!("nightly-batch/check/{at}"),
                error,
            ));
        }
        events.push(check(
            &s,
            "2026-11-25T17:42:10Z",
            "ecs-task-state-change",
            "5c1e7a52-0d6e-4b8e-9b43-2f2a9c1d7e10",
            None,
        ));
        // 18:00: quiet for 15m, min_hold long passed: the check starts the scale-down.
        let quiet = decide(&s, "2026-11-25T18:00:00Z", None);
        assert_eq!(quiet.rule(), Some(gate::Rule::Quiet), "{}", quiet.reason());
        let drift = "ecs batch/worker: desired count is 12 but nightshift set 10; left alone";
        let mut evidence = step_evidence(&[drift], &["batch-db: 3 readers deleting"]);
        evidence["decision"] = serde_json::json!(quiet.reason());
        evidence["gate"] = quiet.evidence_json();
        events.push(event(
            "2026-11-25T18:00:00Z",
            Step::Check,
            "step-command",
            "nightly-batch/check/2026-11-25T18:00:00Z",
            Outcome::Acted,
            format!(
                "scale-down ({}) in progress: 3 call(s) made; drift left alone: {drift}; waiting: batch-db: 3 readers deleting; run 2026-11-25 stays open and a later check or scale-down continues it",
                quiet.reason()
            ),
            readers
                .iter()
                .map(|r| action("docdb", "DeleteDBInstance", r, "reader added for the night"))
                .collect(),
            Some(evidence),
        ));
        let closing =
            "scale-down (continuing the scale-down): back at the baseline; run 2026-11-25 closed";
        let mut evidence = step_evidence(&[], &[]);
        evidence["decision"] = serde_json::json!("continuing the scale-down");
        events.push(event(
            "2026-11-25T18:15:00Z",
            Step::Check,
            "step-command",
            "nightly-batch/check/2026-11-25T18:15:00Z",
            Outcome::Skipped,
            closing.into(),
            vec![],
            Some(evidence),
        ));

        let mut night = closed_run(
            "nightly-batch",
            NIGHT,
            SCALED_UP,
            "2026-11-25T18:15:00Z",
            closing,
        );
        night.baseline = Some(serde_json::json!({
            "ecs": [{"cluster": "batch", "service": "worker", "desired": 2}],
            "docdb": [{"cluster": "batch-db", "readers": 0, "instances": ["batch-db-writer"]}],
        }));
        let mut open = closed_run(
            "nightly-batch",
            "2026-11-26",
            "2026-11-26T13:00:00Z",
            "2026-11-26T13:00:00Z",
            "capacity ready since 2026-11-26T13:24:00Z (1440s after scale-up)",
        );
        open.status = RunStatus::Open;
        open.closed_at = None;
        open.duration_s = None;
        let mut runs = vec![
            open,
            night,
            closed_run(
                "reports",
                "2026-11-25.2",
                "2026-11-25T23:00:00Z",
                "2026-11-25T23:40:00Z",
                "scale-down (forced: the command said force = true; scaling down without waiting for the metrics or the deadline): 2 call(s) made; back at the baseline; run 2026-11-25.2 closed",
            ),
            closed_run(
                "reports",
                "2026-11-25",
                "2026-11-25T20:00:00Z",
                "2026-11-25T21:10:00Z",
                "scale-down (quiet): 2 call(s) made; back at the baseline; run 2026-11-25 closed",
            ),
            closed_run(
                "nightly-batch",
                "2026-11-24",
                "2026-11-24T13:00:00Z",
                "2026-11-24T22:30:00Z",
                "scale-down (deadline: 07:30 Asia/Tokyo passed at 2026-11-25T07:30+09:00 (2026-11-24T22:30Z); scaling down regardless of metrics (still busy: Batch/JobsRunning{Job=nightly} Maximum was 4 (threshold below 1) at 2026-11-24T22:27Z)): 4 call(s) made; back at the baseline; run 2026-11-24 closed",
            ),
            closed_run(
                "quarter-end-ledger-reconciliation",
                "2026-11-22",
                "2026-11-22T15:00:00Z",
                "2026-11-23T01:05:00Z",
                "scale-up: \u{1b}[31mDocumentDB refused\u{1b}[0m CreateDBInstance\n(InstanceQuotaExceeded); degraded, the night goes on with what it got",
            ),
            // Outside `--since 7d` of `now`: history must not list it.
            closed_run(
                "nightly-batch",
                "2026-11-10",
                "2026-11-10T13:00:00Z",
                "2026-11-10T19:00:00Z",
                "scale-down (quiet): back at the baseline; run 2026-11-10 closed",
            ),
        ];
        runs.sort_by(|a, b| {
            (b.opened_at, &b.scenario, &b.run).cmp(&(a.opened_at, &a.scenario, &a.run))
        });
        Demo {
            now: ts("2026-11-26T14:10:00Z"),
            timezone: "Asia/Tokyo".into(),
            runs,
            events,
        }
    }

    fn demo() -> Demo {
        let demo = build_demo();
        let text = to_json(&demo);
        snapshot("demo-night.json", &text);
        demo
    }

    struct Loaded {
        now: Timestamp,
        runs: Vec<RunRecord>,
        events: Vec<EventRecord>,
    }

    fn loaded() -> Loaded {
        let d = demo();
        Loaded {
            now: d.now,
            runs: d.runs.iter().map(RunView::to_record).collect(),
            events: d.events.iter().map(EventView::to_record).collect(),
        }
    }

    fn since_7d(l: &Loaded) -> Selection {
        let from = l.now - SignedDuration::from_hours(7 * 24);
        select_runs(l.runs.clone(), from, None)
    }

    fn the_night(l: &Loaded) -> RunRecord {
        l.runs
            .iter()
            .find(|r| r.run == NIGHT && r.scenario == "nightly-batch")
            .unwrap()
            .clone()
    }

    // --- tests ----------------------------------------------------------------------------------

    #[test]
    fn demo_night_fixture_holds_what_the_gate_records() {
        let d = demo();
        let gates: Vec<GateEvidence> = d
            .events
            .iter()
            .filter_map(|e| e.evidence.as_ref().and_then(gate_evidence))
            .collect();
        assert_eq!(gates.len(), 7);
        assert_eq!(gates.last().unwrap().rule.as_deref(), Some("quiet"));
        assert_eq!(gates[0].deadline, Some(ts("2026-11-25T22:30:00Z")));
        assert!(gates[0].metrics[0].periods.len() >= 15);
    }

    #[test]
    fn history_table_matches_snapshot() {
        let l = loaded();
        let sel = since_7d(&l);
        assert!(sel.reached_older, "the 2026-11-10 run is outside 7d");
        let page = HistoryPage {
            runs: &sel.runs,
            next: None,
            hidden_by_status: 0,
            scenario: None,
            since: l.now - SignedDuration::from_hours(7 * 24),
        };
        snapshot("history.txt", &history_table(&page, l.now));
    }

    #[test]
    fn history_json_matches_snapshot() {
        let l = loaded();
        let sel = since_7d(&l);
        let json = history_json(&sel.runs, None);
        snapshot("history.json", &json);
        let back: HistoryReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.runs.len(), 6);
        assert_eq!(back.runs[0].status, RunStatus::Open);
        assert_eq!(back.runs[0].duration_s, None);
        assert!(back.runs.iter().all(|r| r.baseline.is_none()));
    }

    #[test]
    fn night_table_matches_snapshot() {
        let l = loaded();
        let run = the_night(&l);
        let tz = tokyo();
        let night = Night {
            run: &run,
            events: &l.events,
            zone: Some(&tz),
        };
        snapshot("show.txt", &night_table(&night, l.now));
        let utc_only = Night {
            zone: None,
            ..night
        };
        snapshot("show-utc.txt", &night_table(&utc_only, l.now));
    }

    #[test]
    fn night_json_matches_snapshot() {
        let l = loaded();
        let run = the_night(&l);
        let tz = tokyo();
        let night = Night {
            run: &run,
            events: &l.events,
            zone: Some(&tz),
        };
        let json = night_json(&night);
        snapshot("show.json", &json);
        let back: NightReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.timezone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(back.events.len(), 9);
        assert!(back.run.baseline.is_some());
        assert_eq!(back.run.duration_s, Some(5 * 3600 + 15 * 60));
    }

    #[test]
    fn night_html_matches_snapshot_and_marks_the_night() {
        let l = loaded();
        let run = the_night(&l);
        let tz = tokyo();
        let night = Night {
            run: &run,
            events: &l.events,
            zone: Some(&tz),
        };
        let html = night_html(&night, l.now);
        snapshot("show.html", &html);
        for hook in [
            "id=\"timeline\"",
            "id=\"timeline-chart\"",
            "id=\"metric-plot\"",
            "class=\"metric-chart\"",
            "class=\"threshold\"",
            "class=\"deadline\"",
            "class=\"quiet-window\"",
            "class=\"decision-marker\"",
            "class=\"marker scale-up-requested\"",
            "class=\"marker capacity-ready\"",
            "class=\"marker check decision-defer\"",
            "class=\"marker check decision-error\"",
            "class=\"marker check decision-scale-down\"",
            "class=\"marker scale-down-requested\"",
            "class=\"marker scale-down-done\"",
            "class=\"marker drift\"",
            "class=\"marker error\"",
            "deadline 2026-11-26T07:30+09:00",
            "threshold: below 1",
        ] {
            assert!(html.contains(hook), "the report lacks {hook}");
        }
        assert_eq!(html.matches("<li class=\"event").count(), 9);
        assert!(!html.contains("no metric evidence recorded"));
        // Self-contained: nothing is fetched.
        for external in ["<script", "<link", "src=", "url(", "@import", "https://"] {
            assert!(!html.contains(external), "the report references {external}");
        }
    }

    #[test]
    fn html_without_metric_evidence_draws_the_timeline_and_says_so() {
        let l = loaded();
        let run = the_night(&l);
        let events: Vec<EventRecord> = l
            .events
            .iter()
            .map(|e| EventRecord {
                evidence: None,
                ..e.clone()
            })
            .collect();
        let night = Night {
            run: &run,
            events: &events,
            zone: None,
        };
        let html = night_html(&night, l.now);
        assert!(html.contains("<p id=\"no-metric-evidence\">no metric evidence recorded</p>"));
        assert!(html.contains("id=\"timeline-chart\""));
        assert!(!html.contains("class=\"metric-chart\""));
        assert_eq!(html.matches("<li class=\"event").count(), 9);
        // No events at all: still a page.
        let empty = Night {
            run: &run,
            events: &[],
            zone: None,
        };
        let html = night_html(&empty, l.now);
        assert!(html.contains("no events recorded for this run"));
        assert!(html.contains("no metric evidence recorded"));
        // Evidence that is not the gate's (or is malformed) is ignored, not fatal.
        let odd = vec![EventRecord {
            evidence: Some(serde_json::json!({"metrics": "not a list", "deadline": 7})),
            ..l.events[1].clone()
        }];
        let night = Night {
            run: &run,
            events: &odd,
            zone: None,
        };
        assert!(night_html(&night, l.now).contains("no metric evidence recorded"));
    }

    #[test]
    fn html_escapes_every_recorded_string() {
        let l = loaded();
        let evil = "<script>alert('x')</script>&\"";
        let mut run = the_night(&l);
        run.scenario = evil.into();
        run.run = evil.into();
        run.summary = evil.into();
        run.opened_by = evil.into();
        let mut events = l.events.clone();
        for e in &mut events {
            e.reason = evil.into();
            e.key = evil.into();
            e.kind = evil.into();
            for a in &mut e.actions {
                a.detail = evil.into();
                a.result = evil.into();
            }
            if let Some(gate) = e.evidence.as_mut().and_then(|v| v.get_mut("gate")) {
                if let Some(metric) = gate["metrics"].get_mut(0) {
                    metric["metric"] = serde_json::json!(evil);
                }
                gate["quiet_for"] = serde_json::json!(evil);
                gate["deadline_local"] = serde_json::json!(evil);
            }
            if let Some(drift) = e.evidence.as_mut().and_then(|v| v.get_mut("drift")) {
                *drift = serde_json::json!([evil]);
            }
        }
        events[0].step = None;
        let night = Night {
            run: &run,
            events: &events,
            zone: None,
        };
        let html = night_html(&night, l.now);
        assert!(!html.contains("<script"), "unescaped markup");
        assert!(!html.contains("alert('x')"), "unescaped quote");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert_eq!(escape_html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }

    #[test]
    fn every_table_line_fits_100_columns() {
        let l = loaded();
        let long = "x".repeat(300);
        let mut runs = l.runs.clone();
        runs[0].scenario = format!("scenario-{long}");
        runs[1].run = format!("2026-11-25.{long}");
        runs[2].summary = format!("{long} {long}");
        let cursor = "7b22".repeat(60);
        let page = HistoryPage {
            runs: &runs,
            next: Some(&cursor),
            hidden_by_status: 2,
            scenario: None,
            since: l.now - SignedDuration::from_hours(7 * 24),
        };
        let table = history_table(&page, l.now);
        for line in table.lines() {
            if line.starts_with("  --cursor ") {
                continue; // a cursor cannot be broken
            }
            assert!(chars(line) <= WIDTH, "{} columns: {line}", chars(line));
        }
        let mut run = the_night(&l);
        run.scenario = long.clone();
        run.summary = format!("{long} {long}");
        let mut events = l.events.clone();
        events[0].reason = format!("{long} short words {long}");
        events[0].actions[0].detail = long.clone();
        events[1].step = None;
        events[1].kind = long.clone();
        let tz = tokyo();
        for zone in [Some(&tz), None] {
            let night = Night {
                run: &run,
                events: &events,
                zone,
            };
            let table = night_table(&night, l.now);
            for line in table.lines() {
                assert!(chars(line) <= WIDTH, "{} columns: {line}", chars(line));
            }
            assert!(table.contains("short words"));
        }
        // The snapshots themselves.
        for name in ["history.txt", "show.txt", "show-utc.txt"] {
            let text = std::fs::read_to_string(snapshot_path(name)).unwrap_or_default();
            for line in text.lines() {
                assert!(chars(line) <= WIDTH, "{name}: {line}");
            }
        }
    }

    #[test]
    fn history_table_prints_the_cursor_hint_and_the_status_filter() {
        let l = loaded();
        let page = HistoryPage {
            runs: &l.runs[..2],
            next: Some("abc123"),
            hidden_by_status: 3,
            scenario: None,
            since: l.now - SignedDuration::from_hours(7 * 24),
        };
        let table = history_table(&page, l.now);
        assert!(
            table.contains("2 runs opened since 2026-11-19 14:10 UTC; 3 more on this page left out by --status"),
            "{table}"
        );
        assert!(
            table.ends_with("more runs: repeat the command with\n  --cursor abc123\n"),
            "{table}"
        );
        let empty = HistoryPage {
            runs: &[],
            next: None,
            hidden_by_status: 0,
            scenario: None,
            since: l.now - SignedDuration::from_hours(7 * 24),
        };
        assert_eq!(
            history_table(&empty, l.now),
            "no runs opened since 2026-11-19 14:10 UTC\n"
        );
    }

    #[test]
    fn control_characters_in_recorded_text_do_not_reach_the_terminal() {
        let l = loaded();
        let sel = since_7d(&l);
        let page = HistoryPage {
            runs: &sel.runs,
            next: None,
            hidden_by_status: 0,
            scenario: None,
            since: l.now - SignedDuration::from_hours(7 * 24),
        };
        let table = history_table(&page, l.now);
        assert!(!table.contains('\u{1b}'));
        assert_eq!(table.lines().count(), 1 + sel.runs.len() + 1);
    }

    #[test]
    fn select_runs_trims_older_runs_and_filters_status() {
        let l = loaded();
        let from = ts("2026-11-24T00:00:00Z");
        let all = select_runs(l.runs.clone(), from, None);
        assert_eq!(all.runs.len(), 5);
        assert!(all.reached_older);
        let open = select_runs(l.runs.clone(), from, Some(RunStatus::Open));
        assert_eq!(open.runs.len(), 1);
        assert_eq!(open.hidden_by_status, 4);
        let closed = select_runs(l.runs[..3].to_vec(), from, Some(RunStatus::Closed));
        assert_eq!(closed.runs.len(), 2);
        assert!(!closed.reached_older);
    }

    #[test]
    fn since_run_is_the_local_date_or_the_utc_date_a_day_earlier() {
        // 2026-11-19T20:00Z is already the 20th in Tokyo.
        let from = ts("2026-11-19T20:00:00Z");
        assert_eq!(since_run(from, Some(&tokyo())), "2026-11-20");
        assert_eq!(since_run(from, None), "2026-11-18");
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        assert_eq!(
            since_run(ts("2026-11-20T03:00:00Z"), Some(&la)),
            "2026-11-19"
        );
    }

    #[test]
    fn gate_evidence_is_found_at_the_top_level_or_nested() {
        let s = scenario();
        let d = decide(&s, "2026-11-25T18:00:00Z", None);
        let top = d.evidence_json();
        assert_eq!(gate_evidence(&top).unwrap().rule.as_deref(), Some("quiet"));
        let nested = serde_json::json!({"drift": [], "check": {"gate": top.clone()}});
        assert!(gate_evidence(&nested).is_some());
        assert!(gate_evidence(&serde_json::json!({"drift": ["x"]})).is_none());
        assert!(gate_evidence(&serde_json::json!("text")).is_none());
        assert_eq!(
            evidence_strings(&serde_json::json!({"drift": ["a", "b"]}), "drift"),
            ["a", "b"]
        );
    }

    #[test]
    fn durations_read_well() {
        let d = |s: i64| human_duration(SignedDuration::from_secs(s));
        assert_eq!(d(40), "40s");
        assert_eq!(d(12 * 60 + 5), "12m");
        assert_eq!(d(9 * 3600 + 30 * 60), "9h30m");
        assert_eq!(d(3600 + 5 * 60), "1h05m");
        assert_eq!(d(2 * 86_400 + 3 * 3600), "2d03h");
        assert_eq!(d(-5), "0s");
        assert_eq!(wrap("aaa bbb cc", 7), ["aaa bbb", "cc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(nice_ceiling(8.05), 10.0);
        assert_eq!(nice_ceiling(1.15), 2.0);
    }
}
