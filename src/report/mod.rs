//! What `nightshift history` and `nightshift show` print: the run history as a table that fits a
//! 100-column terminal, as JSON for scripts, and one night as a self-contained HTML report with its
//! timeline and the scale-down metrics plotted across the night.
//!
//! One file per job: this module holds the views (the JSON shapes and the inputs of a rendering)
//! and the run selection of `history`; `table` the terminal tables, `json` the JSON, `html` (with
//! `svg`) the HTML page, and `evidence` reads what a recorded event's typed evidence
//! ([`crate::evidence::StepEvidence`]) says: the night's milestones and the metric series.
//!
//! Pure: no I/O and no clock (`now` is passed in), so every rendering is a snapshot test
//! (`integration/fixtures/report/`, rewritten with `UPDATE_SNAPSHOTS=1`).
//!
//! The JSON field names ([`HistoryReport`], [`NightReport`]) are a contract for ops scripts:
//! add fields, never rename them. Evidence is read leniently (`StepEvidence::read`): a part an
//! older build recorded differently reads as absent, and a report without it still draws the
//! timeline and says "no metric evidence recorded".
//!
//! Terminal output cleans recorded text (control characters, newlines, ANSI escapes become
//! spaces), so a hostile reason cannot rewrite the terminal; comfy-table measures display width,
//! so East Asian wide characters line up. HTML output is maud templates: every recorded string is
//! escaped, and the page fetches nothing (inline CSS and SVG only).

mod evidence;
mod html;
mod json;
mod svg;
mod table;
#[cfg(test)]
mod tests;

pub use html::night_html;
pub use json::{history_json, night_json, night_report};
pub use table::{history_table, night_table};

use crate::domain::{Action, ActionResult, Outcome, Step};
use crate::history::{EventRecord, RunRecord, RunStatus};
use crate::text::one_line;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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
    pub(crate) fn new(run: &RunRecord, with_baseline: bool) -> RunView {
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
    /// Each call as recorded, with its `status` (`done`, `already-done`, `dry-run`, `refused`,
    /// `failed`) next to the recorded `result` string; `status` is ignored when read back.
    #[serde(serialize_with = "json::actions_with_status")]
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

impl Night<'_> {
    /// The night's profile as the run recorded it when it opened (None for an ordinary night).
    pub fn profile(&self) -> Option<String> {
        let state = crate::plan::RunState::from_json(self.run.baseline.as_ref()?).ok()?;
        state.profile.map(|p| p.name)
    }
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
// Shared by the views
// ---------------------------------------------------------------------------------------------

/// The step of an event, or its kind when it was not a step command.
fn step_name(event: &EventRecord) -> String {
    match event.step {
        Some(step) => step.as_str().to_string(),
        None => one_line(&event.kind),
    }
}

/// What became of a call, as the table and the page print it: done ones read as done (`done`,
/// `done: already exists`), the others as recorded (`dry-run`, `refused: …`, `error: …`).
fn result_label(result: &ActionResult) -> String {
    match result {
        ActionResult::Done => "done".to_string(),
        ActionResult::AlreadyDone { why } => format!("done: {why}"),
        other => other.to_string(),
    }
}

/// One call on one line: `ecs UpdateService batch/worker: desiredCount 2 -> 10 [done]`.
fn action_line(a: &Action) -> String {
    format!(
        "{} {} {}: {} [{}]",
        one_line(&a.service),
        one_line(&a.call),
        one_line(&a.resource),
        one_line(&a.detail),
        one_line(&result_label(&a.result))
    )
}

fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("local").to_string()
}
