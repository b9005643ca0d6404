//! CloudWatch Embedded Metric Format (EMF): each invocation's one log line (JSON log format)
//! carries its metrics, so CloudWatch Logs extracts them without a PutMetricData call.
//!
//! Namespace `Nightshift`, one dimension set `[scenario, step]`. Every line declares the counters
//! (`Invocations`, one per outcome, `Errors`, `StepFailures`, `DeadlineHits`, `EventsNotSent`),
//! `DurationMs` and `AwsCalls`; a check that first saw the night's capacity adds
//! `CapacityReadyMinutes`, and the step that closed a run adds `NightMinutes` and the night's
//! hours above the baseline (`ReaderHours`, `ResizedHours`, `DcuHours`, `TaskHours`,
//! `VcpuHours`, `GbHours`, `IdleMinutes` when a check saw the batch busy) and, with `[prices]`,
//! its money (`NightCost`, `SavedVsAlwaysOn`, `SavedVsDeadline`).
//!
//! Units: CloudWatch has no hour, minute or currency unit. Minutes and hours are sent as plain
//! numbers with unit `None` and the unit in the metric's name (as `NightMinutes` always was),
//! so a graph shows hours, not seconds a reader must divide; money is unit `None` in the
//! `[prices]` currency, which the line carries as its `currency` member (not a metric) and the
//! dashboard names in its labels.
//!
//! Written by hand rather than with a crate: the format is one small JSON object, the existing
//! JSON log line ([`crate::logging`]) already carries the dimension members, and the crates
//! (`metrics_cloudwatch_embedded`) bring the `metrics` facade and their own line writer for what is
//! here about a hundred lines.
//!
//! The part the pipeline feeds, [`observe`] / [`note`], is a task-local: the milestones a claimed
//! step reached and the AWS calls it made are noted where they are known (src/app/notify.rs, the
//! SDK interceptor of src/aws/calls.rs) and read by the binary that logs the line.

#[cfg(test)]
mod tests;

use crate::domain::Outcome;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::future::Future;

pub const NAMESPACE: &str = "Nightshift";

/// The dimension members every line has (`none` when an event never got that far).
pub const DIMENSIONS: [&str; 2] = ["scenario", "step"];

/// What one invocation observed beyond its response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The claimed step's scenario and step (a failing step's response has neither).
    pub scenario: Option<String>,
    pub step: Option<String>,
    /// AWS operations sent (each counted once, retries included in it).
    pub aws_calls: u64,
    pub capacity_ready_minutes: Option<i64>,
    pub night_minutes: Option<i64>,
    /// The closing step's figures of the night.
    pub closing: Option<Closing>,
    pub deadline_hit: bool,
    pub step_failed: bool,
    /// A PutEvents of nightshift's own events failed.
    pub events_not_sent: bool,
}

/// What the closing step's line says of the night (from its Run Closed event's detail).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Closing {
    pub reader_hours: f64,
    pub resized_hours: f64,
    pub dcu_hours: f64,
    pub task_hours: f64,
    pub vcpu_hours: f64,
    pub gb_hours: f64,
    pub idle_minutes: Option<i64>,
    /// With `[prices]`: the currency, the night's cost, saved vs always on, saved vs the
    /// deadline (0 unless it closed on quiet).
    pub money: Option<(String, f64, f64, f64)>,
}

/// The metrics of a closing line, in the order they are declared: (name, unit).
pub const CLOSING_METRICS: [(&str, &str); 10] = [
    ("ReaderHours", "None"),
    ("ResizedHours", "None"),
    ("DcuHours", "None"),
    ("TaskHours", "None"),
    ("VcpuHours", "None"),
    ("GbHours", "None"),
    ("IdleMinutes", "None"),
    ("NightCost", "None"),
    ("SavedVsAlwaysOn", "None"),
    ("SavedVsDeadline", "None"),
];

/// Every metric a line can declare: (name, unit). The dashboard's widgets name only these.
pub fn declarable() -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("Invocations", "Count")];
    out.extend(OUTCOMES.iter().map(|(_, name)| (*name, "Count")));
    out.extend([
        ("Errors", "Count"),
        ("StepFailures", "Count"),
        ("DeadlineHits", "Count"),
        ("EventsNotSent", "Count"),
        ("DurationMs", "Milliseconds"),
        ("AwsCalls", "Count"),
        ("CapacityReadyMinutes", "None"),
        ("NightMinutes", "None"),
    ]);
    out.extend(CLOSING_METRICS);
    out
}

tokio::task_local! {
    static OBSERVED: RefCell<Observed>;
}

/// Run `f` with a fresh observation; its result and what was noted while it ran.
pub async fn observe<F: Future>(f: F) -> (F::Output, Observed) {
    OBSERVED
        .scope(RefCell::new(Observed::default()), async move {
            let out = f.await;
            let observed = OBSERVED.with(|o| o.borrow().clone());
            (out, observed)
        })
        .await
}

/// Note something about the current invocation; nothing outside [`observe`] (tests, the CLI).
pub fn note(f: impl FnOnce(&mut Observed)) {
    let _ = OBSERVED.try_with(|o| f(&mut o.borrow_mut()));
}

/// One invocation's metrics, ready to become a line.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationMetrics<'a> {
    pub scenario: Option<&'a str>,
    pub step: Option<&'a str>,
    /// None: the invocation failed (answered with an error).
    pub outcome: Option<Outcome>,
    pub duration_ms: f64,
    pub observed: &'a Observed,
    /// Epoch milliseconds of the line.
    pub timestamp_ms: i64,
}

const OUTCOMES: [(Outcome, &str); 6] = [
    (Outcome::Acted, "Acted"),
    (Outcome::Deferred, "Deferred"),
    (Outcome::Skipped, "Skipped"),
    (Outcome::Rejected, "Rejected"),
    (Outcome::Duplicate, "Duplicate"),
    (Outcome::InProgress, "InProgress"),
];

/// The EMF members of the line: `_aws`, the dimensions and every declared metric's value.
pub fn members(m: &InvocationMetrics<'_>) -> Map<String, Value> {
    let o = m.observed;
    let flag = |b: bool| u64::from(b);
    let mut metrics: Vec<(&str, &str, Value)> = vec![("Invocations", "Count", json!(1))];
    for (outcome, name) in OUTCOMES {
        metrics.push((name, "Count", json!(flag(m.outcome == Some(outcome)))));
    }
    metrics.push(("Errors", "Count", json!(flag(m.outcome.is_none()))));
    metrics.push(("StepFailures", "Count", json!(flag(o.step_failed))));
    metrics.push(("DeadlineHits", "Count", json!(flag(o.deadline_hit))));
    metrics.push(("EventsNotSent", "Count", json!(flag(o.events_not_sent))));
    metrics.push(("DurationMs", "Milliseconds", json!(m.duration_ms)));
    metrics.push(("AwsCalls", "Count", json!(o.aws_calls)));
    if let Some(minutes) = o.capacity_ready_minutes {
        metrics.push(("CapacityReadyMinutes", "None", json!(minutes)));
    }
    if let Some(minutes) = o.night_minutes {
        metrics.push(("NightMinutes", "None", json!(minutes)));
    }
    let mut currency = None;
    if let Some(c) = &o.closing {
        let [reader, resized, dcu, task, vcpu, gb, idle, cost, always, deadline] = CLOSING_METRICS;
        for ((name, unit), value) in [
            (reader, c.reader_hours),
            (resized, c.resized_hours),
            (dcu, c.dcu_hours),
            (task, c.task_hours),
            (vcpu, c.vcpu_hours),
            (gb, c.gb_hours),
        ] {
            metrics.push((name, unit, json!(value)));
        }
        if let Some(minutes) = c.idle_minutes {
            metrics.push((idle.0, idle.1, json!(minutes)));
        }
        if let Some((code, night, vs_always, vs_deadline)) = &c.money {
            metrics.push((cost.0, cost.1, json!(night)));
            metrics.push((always.0, always.1, json!(vs_always)));
            metrics.push((deadline.0, deadline.1, json!(vs_deadline)));
            currency = Some(code.clone());
        }
    }

    let mut out = Map::new();
    let scenario = m.scenario.or(o.scenario.as_deref()).unwrap_or("none");
    let step = m.step.or(o.step.as_deref()).unwrap_or("none");
    out.insert("scenario".into(), json!(scenario));
    out.insert("step".into(), json!(step));
    if let Some(code) = currency {
        out.insert("currency".into(), json!(code));
    }
    let declared: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
        .collect();
    for (name, _, value) in metrics {
        out.insert(name.to_string(), value);
    }
    out.insert(
        "_aws".into(),
        json!({
            "Timestamp": m.timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [DIMENSIONS],
                "Metrics": declared,
            }],
        }),
    );
    out
}
