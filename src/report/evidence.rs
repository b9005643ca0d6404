//! What a recorded event's evidence says, read once through the typed
//! [`StepEvidence`](crate::evidence::StepEvidence): the night's milestones (what the timeline marks
//! and the event list tags) and every metric's periods across the night (what the plots draw).
//!
//! An event without evidence, or with a part an older build recorded differently, reads as
//! empty there: the milestones of its step and outcome are still drawn.

use super::{step_name, Night};
use crate::domain::{Outcome, Step};
use crate::evidence::StepEvidence;
use crate::gate::{self, PeriodState};
use crate::history::EventRecord;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// The evidence of each event of the night, in event order (empty when none was recorded).
pub(super) fn read_all(events: &[EventRecord]) -> Vec<StepEvidence> {
    events
        .iter()
        .map(|e| {
            e.evidence
                .as_ref()
                .map(StepEvidence::read)
                .unwrap_or_default()
        })
        .collect()
}

/// The gate's evidence of the night's checks: (index of the event, what the gate recorded).
pub(super) fn gates(evidence: &[StepEvidence]) -> Vec<(usize, &gate::Evidence)> {
    evidence
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.gate.as_ref().map(|g| (i, g)))
        .collect()
}

/// The decision the plots explain: the check that let the night end, else the latest one.
pub(super) fn deciding<'a>(gates: &[(usize, &'a gate::Evidence)]) -> Option<&'a gate::Evidence> {
    gates
        .iter()
        .rev()
        .find(|(_, g)| g.rule.is_some())
        .or_else(|| gates.last())
        .map(|(_, g)| *g)
}

// ---------------------------------------------------------------------------------------------
// The night's milestones
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkKind {
    ScaleUpRequested,
    CapacityReady,
    Check,
    ScaleDownRequested,
    ScaleDownDone,
    Drift,
    Error,
}

impl MarkKind {
    pub(super) fn class(self) -> &'static str {
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

    /// The row of the timeline chart it is drawn on (an index into [`LANES`]).
    pub(super) fn lane(self) -> usize {
        match self {
            MarkKind::ScaleUpRequested | MarkKind::CapacityReady => 0,
            MarkKind::Check => 1,
            MarkKind::ScaleDownRequested | MarkKind::ScaleDownDone => 2,
            MarkKind::Drift | MarkKind::Error => 3,
        }
    }

    /// Whether the timeline chart writes the label next to the marker (others: tooltip only).
    pub(super) fn labelled(self) -> bool {
        !matches!(self, MarkKind::Check)
    }
}

pub(super) const LANES: [&str; 4] = ["scale-up", "checks", "scale-down", "drift, errors"];

#[derive(Debug, Clone)]
pub(super) struct Mark {
    pub at: Timestamp,
    pub kind: MarkKind,
    /// Short text: the chart label and the event's tag.
    pub label: String,
    /// Extra classes (a check's decision).
    pub class: &'static str,
    /// The tooltip.
    pub detail: String,
    /// Index into the night's events (None: from the run record).
    pub event: Option<usize>,
}

/// Everything the report marks on the night, in time order; `evidence` is [`read_all`] of the
/// night's events.
pub(super) fn milestones(night: &Night, evidence: &[StepEvidence]) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut ready_seen = false;
    for (i, (e, ev)) in night.events.iter().zip(evidence).enumerate() {
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
        step_marks(e, ev.gate.as_ref(), &mut mark);
        if let Some(ready) = ev.ready_at.filter(|_| !ready_seen) {
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
        if !ev.converge.drift.is_empty() {
            mark(
                e.received_at,
                MarkKind::Drift,
                "drift".into(),
                "",
                format!("drift left alone: {}", ev.converge.drift.join("; ")),
            );
        }
        let errors = errors(e, ev);
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

/// The marks of the step itself: a scale-up or scale-down requested, a check and its decision.
fn step_marks(
    e: &EventRecord,
    gate: Option<&gate::Evidence>,
    mark: &mut impl FnMut(Timestamp, MarkKind, String, &'static str, String),
) {
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
            let (label, class) = match gate {
                Some(g) => match g.rule {
                    Some(rule) => (format!("check: scale down ({rule})"), "decision-scale-down"),
                    None if g.fetch_error.is_some() => {
                        ("check: metrics unreadable".to_string(), "decision-error")
                    }
                    None => ("check: keep capacity".to_string(), "decision-defer"),
                },
                None => (format!("check: {}", e.outcome), "decision-none"),
            };
            mark(
                e.received_at,
                MarkKind::Check,
                label.clone(),
                class,
                format!("{label} ({}): {}", e.outcome, e.reason),
            );
            if gate.is_some_and(|g| g.rule.is_some()) {
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
}

/// What went wrong in one event: a rejection, calls that failed or were refused (a call found
/// already done is done), metrics that could not be read, refused and degraded calls.
fn errors(e: &EventRecord, ev: &StepEvidence) -> Vec<String> {
    let mut errors = Vec::new();
    if e.outcome == Outcome::Rejected {
        errors.push(format!("rejected: {}", e.reason));
    }
    for a in e.actions.iter().filter(|a| a.result.is_failure()) {
        errors.push(format!(
            "{} {} {}: {}",
            a.service, a.call, a.resource, a.result
        ));
    }
    if let Some(err) = ev.gate.as_ref().and_then(|g| g.fetch_error.as_ref()) {
        errors.push(format!("metrics unreadable: {err}"));
    }
    for line in &ev.converge.refused {
        errors.push(format!("refused: {line}"));
    }
    for line in &ev.converge.degraded {
        errors.push(format!("degraded: {line}"));
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Metric series
// ---------------------------------------------------------------------------------------------

/// One metric's periods across the night: the union of the windows of every check's evidence (a
/// later check's reading of a period wins), by metric label.
pub(super) struct MetricSeries {
    pub label: String,
    pub stat: String,
    pub period: String,
    pub below: Option<f64>,
    pub points: BTreeMap<Timestamp, (Option<f64>, PeriodState)>,
}

/// Every metric the checks judged, in first-seen order.
pub(super) fn metric_series(gates: &[(usize, &gate::Evidence)]) -> Vec<MetricSeries> {
    let mut series: Vec<MetricSeries> = Vec::new();
    for (_, g) in gates {
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
            s.stat = m.stat.clone();
            s.period = m.period.clone();
            s.below = Some(m.below);
            for p in &m.periods {
                // A pending reading never replaces a settled one.
                if p.state == PeriodState::Pending && s.points.contains_key(&p.start) {
                    continue;
                }
                s.points
                    .insert(p.start, (p.value.filter(|v| v.is_finite()), p.state));
            }
        }
    }
    series
}

/// The class of a period's dot: `quiet`, `busy`, `missing`, `pending`.
pub(super) fn period_class(state: PeriodState) -> &'static str {
    match state {
        PeriodState::Quiet => "quiet",
        PeriodState::Busy => "busy",
        PeriodState::Missing => "missing",
        PeriodState::Pending => "pending",
    }
}
