//! `--output json`: [`HistoryReport`] and [`NightReport`], pretty and newline-terminated.

use super::{HistoryReport, Night, NightReport, RunView};
use crate::domain::Action;
use crate::history::RunRecord;
use serde::{Serialize, Serializer};

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
        timezone: night.zone.map(super::zone_name),
        events: night.events.iter().map(super::EventView::from).collect(),
    }
}

/// The night as [`NightReport`] JSON (pretty, newline-terminated).
pub fn night_json(night: &Night) -> String {
    to_json(&night_report(night))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Only maps with non-string keys fail, and these types have none.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// The calls of an event, each with its `status` next to the recorded `result`, so a script
/// tells an idempotent retry (`already-done`) from a failure without parsing the result string.
pub(super) fn actions_with_status<S: Serializer>(
    actions: &[Action],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct WithStatus<'a> {
        #[serde(flatten)]
        action: &'a Action,
        status: &'static str,
    }
    serializer.collect_seq(actions.iter().map(|action| WithStatus {
        action,
        status: action.result.status(),
    }))
}
