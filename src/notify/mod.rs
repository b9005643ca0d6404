//! nightshift's own events (`[notify] event_bus`, docs/contract.md): which events a
//! recorded step produces. Pure: a step's facts in, the events out; the pipeline sends them in
//! one PutEvents call after the step's work and before its records (`app::notify`).
//!
//! | detail-type | when |
//! | --- | --- |
//! | `Nightshift Run Opened` | a scale-up opened the night's run |
//! | `Nightshift Capacity Ready` | a check first saw the night's capacity in place |
//! | `Nightshift Capacity Late` | a check first saw the batch busy while the capacity was not ready (once per night) |
//! | `Nightshift Run Closed` | the run closed; `why` is `quiet`, `deadline` or `forced`; the night's `hours` above the baseline and, with `[prices]`, its `money` |
//! | `Nightshift Deadline Reached` | the deadline started the scale-down while a metric was busy |
//! | `Nightshift Drift Detected` | the restore left values someone changed during the night |
//! | `Nightshift Step Failed` | a non-retryable failure, or a retryable one of a retried delivery |
//!
//! A retryable failure is reported once the delivery is itself a retry (it took the step over
//! from an attempt that failed): the guard records no attempt count, so that is the most
//! nightshift can know about "its last attempt". The stable `notification_id`
//! (`<scenario>/<run>/<kind>`) lets consumers drop the repeats of later attempts and duplicates.

#[cfg(test)]
mod tests;

use crate::config::Prices;
use crate::domain::{Action, Outcome, Step};
use crate::evidence::StepEvidence;
use crate::gate::Rule;
use crate::trends::money::money;
use crate::trends::{Account, Money};
use jiff::Timestamp;
use serde::Serialize;

/// The `Source` of every event nightshift sends.
pub const SOURCE: &str = "nightshift";

/// At most this many of a step's actions go into an event's detail (an entry is at most 256 KB);
/// `actions_omitted` counts the rest.
pub const MAX_ACTIONS: usize = 25;

/// The kinds of event, in the order a step's events are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    RunOpened,
    CapacityReady,
    CapacityLate,
    DeadlineReached,
    DriftDetected,
    RunClosed,
    StepFailed,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::RunOpened,
        Kind::CapacityReady,
        Kind::CapacityLate,
        Kind::DeadlineReached,
        Kind::DriftDetected,
        Kind::RunClosed,
        Kind::StepFailed,
    ];

    /// The event's `DetailType` (the contract's spelling).
    pub fn detail_type(self) -> &'static str {
        match self {
            Kind::RunOpened => "Nightshift Run Opened",
            Kind::CapacityReady => "Nightshift Capacity Ready",
            Kind::CapacityLate => "Nightshift Capacity Late",
            Kind::DeadlineReached => "Nightshift Deadline Reached",
            Kind::DriftDetected => "Nightshift Drift Detected",
            Kind::RunClosed => "Nightshift Run Closed",
            Kind::StepFailed => "Nightshift Step Failed",
        }
    }

    /// The last part of `notification_id`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::RunOpened => "run-opened",
            Kind::CapacityReady => "capacity-ready",
            Kind::CapacityLate => "capacity-late",
            Kind::DeadlineReached => "deadline-reached",
            Kind::DriftDetected => "drift-detected",
            Kind::RunClosed => "run-closed",
            Kind::StepFailed => "step-failed",
        }
    }
}

/// How a claimed step failed (the invocation answers with an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A retry of the same event may succeed.
    pub retryable: bool,
    /// This delivery took the step over from an earlier attempt that failed or whose lease ran out.
    pub retried: bool,
    pub message: String,
}

/// What the events of one recorded step are decided from.
#[derive(Debug, Clone)]
pub struct StepFacts<'a> {
    pub scenario: &'a str,
    /// The step's run; None when it has none (a scale-up that failed before opening one).
    pub run: Option<&'a str>,
    /// The night the step belongs to (the run id it would open): names a run-less notification.
    pub night: &'a str,
    pub step: Step,
    pub outcome: Outcome,
    /// The short reason.
    pub reason: &'a str,
    /// The full explanation (a rejection's error says what to fix).
    pub explanation: &'a str,
    pub actions: &'a [Action],
    pub evidence: &'a StepEvidence,
    /// The step's `now`.
    pub now: Timestamp,
    /// The run's close was recorded by this step.
    pub closed: bool,
    pub failure: Option<Failure>,
    /// `[prices]`: a Run Closed event carries the night's cost at them.
    pub prices: Option<&'a Prices>,
}

/// One event to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub kind: Kind,
    pub detail_type: &'static str,
    pub detail: Detail,
}

/// The event's `detail` (docs/contract.md: `scenario`, `run`, `step`, `outcome`, `reason`, `actions`,
/// `notification_id`), with what the kind adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    pub notification_id: String,
    pub scenario: String,
    pub run: Option<String>,
    pub step: Step,
    pub outcome: Outcome,
    pub reason: String,
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "is_zero")]
    pub actions_omitted: usize,
    /// Run Closed: `quiet`, `deadline` or `forced` (`unknown` for a run whose start predates the record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
    /// Run Closed: the night's length in minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_minutes: Option<i64>,
    /// Run Closed: the night's hours above the baseline by kind, what holding its peak all day
    /// would have been, what closing on quiet saved against the deadline, idle after the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<Account>,
    /// Run Closed: the same at `[prices]` (absent without prices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money: Option<Money>,
    /// Capacity Ready: minutes after the scale-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_after_minutes: Option<i64>,
    /// The night's profile, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Capacity Late: the minutes the batch has run without the night's capacity, and since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_since: Option<Timestamp>,
    /// Deadline Reached: the metrics that were still busy; Drift Detected: the drifted values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// Step Failed: the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Step Failed: whether a later attempt may still succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    pub time: Timestamp,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The events of one recorded step, in [`Kind::ALL`] order; empty for most checks.
pub fn notifications(facts: &StepFacts<'_>) -> Vec<Notification> {
    let ev = facts.evidence;
    let mut out = Vec::new();
    if ev.opened_run && facts.step == Step::ScaleUp {
        out.push(notification(facts, Kind::RunOpened));
    }
    // `ready_at` is kept from the first check that saw the capacity: equal to `now` only then.
    if ev.ready_at.is_some_and(|at| at == facts.now) {
        let mut n = notification(facts, Kind::CapacityReady);
        n.detail.ready_after_minutes = ev.time_to_ready_s.map(|s| s / 60);
        out.push(n);
    }
    if let Some(late) = &ev.capacity_late {
        let mut n = notification(facts, Kind::CapacityLate);
        n.detail.late_minutes = Some(late.late_minutes);
        n.detail.busy_since = Some(late.busy_since);
        n.detail.items = late.waiting.clone();
        out.push(n);
    }
    if let Some(busy) = busy_at_deadline(ev) {
        let mut n = notification(facts, Kind::DeadlineReached);
        n.detail.items = busy;
        out.push(n);
    }
    if facts.closed && !ev.converge.drift.is_empty() {
        let mut n = notification(facts, Kind::DriftDetected);
        n.detail.items = ev.converge.drift.clone();
        out.push(n);
    }
    if facts.closed {
        let mut n = notification(facts, Kind::RunClosed);
        let rule = ev.closed_by.or(ev.gate.as_ref().and_then(|g| g.rule));
        n.detail.why = Some(rule.map_or("unknown", Rule::as_str));
        n.detail.night_minutes = ev.night_s.map(|s| s / 60);
        if let Some(hours) = &ev.night_hours {
            n.detail.money = facts.prices.map(|p| money(hours, p).rounded());
            n.detail.hours = Some(hours.rounded());
        }
        out.push(n);
    }
    if let Some(failure) = failed(facts) {
        let mut n = notification(facts, Kind::StepFailed);
        n.detail.retryable = Some(failure.retryable);
        n.detail.error = Some(failure.message);
        out.push(n);
    }
    out
}

/// The busy metrics when the deadline (not quiet, not force) started the scale-down; None
/// otherwise. A failed metrics read counts as busy.
fn busy_at_deadline(ev: &StepEvidence) -> Option<Vec<String>> {
    let gate = ev.gate.as_ref()?;
    if gate.rule != Some(Rule::Deadline) {
        return None;
    }
    let mut busy: Vec<String> = gate
        .metrics
        .iter()
        .filter(|m| !m.counts_as_quiet)
        .map(|m| match &m.worst {
            Some(w) => format!("{} {} {} >= {}", m.metric, m.stat, w.value, m.below),
            None => format!("{} {}", m.metric, m.stat),
        })
        .collect();
    if let Some(error) = &gate.fetch_error {
        busy.push(format!("metrics not read: {error}"));
    }
    (!busy.is_empty()).then_some(busy)
}

/// The failure to report: non-retryable ones (a claimed step answered `rejected` is one), and
/// retryable ones of a delivery that is itself a retry.
fn failed(facts: &StepFacts<'_>) -> Option<Failure> {
    match &facts.failure {
        Some(f) if !f.retryable || f.retried => Some(f.clone()),
        Some(_) => None,
        None if facts.outcome == Outcome::Rejected => Some(Failure {
            retryable: false,
            retried: false,
            message: facts.explanation.to_string(),
        }),
        None => None,
    }
}

fn notification(facts: &StepFacts<'_>, kind: Kind) -> Notification {
    let run = facts.run.unwrap_or(facts.night);
    let shown = facts.actions.len().min(MAX_ACTIONS);
    Notification {
        kind,
        detail_type: kind.detail_type(),
        detail: Detail {
            notification_id: format!("{}/{run}/{}", facts.scenario, kind.slug()),
            scenario: facts.scenario.to_string(),
            run: facts.run.map(str::to_string),
            step: facts.step,
            outcome: facts.outcome,
            reason: facts.reason.to_string(),
            actions: facts.actions[..shown].to_vec(),
            actions_omitted: facts.actions.len() - shown,
            why: None,
            night_minutes: None,
            hours: None,
            money: None,
            ready_after_minutes: None,
            profile: facts.evidence.profile.clone(),
            late_minutes: None,
            busy_since: None,
            items: Vec::new(),
            error: None,
            retryable: None,
            time: facts.now,
        },
    }
}
