//! The shell side of nightshift's own events (`[notify] event_bus`): after a claimed step's work
//! and before its records, the events [`crate::notify::notifications`] decides on go out in one
//! PutEvents call. A call that fails never fails or repeats the step: it is logged, and kept in
//! the step's record as a failed `events PutEvents` action.

use super::build::App;
use super::execute::night_of;
use super::request::StepOutcome;
use crate::config::{EventBus, Scenario};
use crate::domain::{Action, ActionResult, Step};
use crate::notify::{self, Failure, StepFacts};
use crate::ports::{EventSink, OutboundEvent};
use crate::trends::account::round2;
use jiff::Timestamp;

/// What the pipeline's record path needs to send a step's events.
pub(super) struct Notifier<'a> {
    /// None: no `[notify] event_bus`, nothing is sent.
    bus: Option<&'a EventBus>,
    sink: Option<&'a dyn EventSink>,
    dry_run: bool,
    scenario: &'a str,
    /// The run id the step's night would open (names a run-less notification).
    night: String,
    step: Step,
    now: Timestamp,
    /// This delivery took the step over from an attempt that failed or whose lease ran out.
    retried: bool,
    prices: Option<&'a crate::config::Prices>,
}

impl App {
    /// The notifier of one claimed step.
    pub(super) fn notifier<'a>(
        &'a self,
        scenario: &'a Scenario,
        step: Step,
        now: Timestamp,
        retried: bool,
    ) -> Notifier<'a> {
        Notifier {
            bus: self.config.notify.as_ref().map(|n| &n.event_bus),
            sink: self.events.as_deref(),
            dry_run: self.settings.dry_run,
            scenario: &scenario.name,
            night: night_of(scenario, now),
            step,
            now,
            retried,
            prices: self.config.prices.as_ref(),
        }
    }
}

impl Notifier<'_> {
    /// Send the step's events (if any) in one call; the `PutEvents` action to record with the
    /// step, or None when nothing was to be sent. `closed`: the run's close was recorded.
    pub(super) async fn after_step(&self, stepped: &StepOutcome, closed: bool) -> Option<Action> {
        let facts = StepFacts {
            scenario: self.scenario,
            run: stepped.run.as_deref(),
            night: &self.night,
            step: self.step,
            outcome: stepped.outcome,
            reason: &stepped.why.short,
            explanation: &stepped.why.detail,
            actions: &stepped.actions,
            evidence: &stepped.evidence,
            now: self.now,
            closed,
            failure: stepped.failure.as_ref().map(|f| Failure {
                retryable: f.is_retryable(),
                retried: self.retried,
                message: f.to_string(),
            }),
            prices: self.prices,
        };
        let events = notify::notifications(&facts);
        note_metrics(self, &events);
        let bus = self.bus?;
        if events.is_empty() {
            return None;
        }
        let entries: Vec<OutboundEvent> = events
            .iter()
            .map(|n| OutboundEvent {
                source: notify::SOURCE.to_string(),
                detail_type: n.detail_type.to_string(),
                // A struct of strings, numbers and lists: serializing cannot fail.
                detail: serde_json::to_string(&n.detail).unwrap_or_default(),
                time: self.now,
            })
            .collect();
        let names: Vec<&str> = events.iter().map(|n| n.detail_type).collect();
        let detail = format!("{} event(s): {}", names.len(), names.join(", "));
        let result = match (self.dry_run, self.sink) {
            (true, _) => ActionResult::DryRun,
            (false, None) => ActionResult::Failed {
                code: None,
                message: "this process has no EventBridge client".into(),
            },
            (false, Some(sink)) => match sink.put_events(bus.target(), &entries).await {
                Ok(()) => ActionResult::Done,
                Err(e) => {
                    crate::emf::note(|o| o.events_not_sent = true);
                    tracing::warn!(
                        scenario = self.scenario,
                        step = self.step.as_str(),
                        bus = bus.target(),
                        "nightshift's own events were not sent ({detail}): {e}; the step goes on"
                    );
                    ActionResult::Failed {
                        code: e.code.clone(),
                        message: e.message.clone(),
                    }
                }
            },
        };
        Some(Action {
            service: "events".into(),
            call: "PutEvents".into(),
            resource: bus.target().to_string(),
            detail,
            result,
        })
    }
}

/// The milestones of the step, for the invocation's EMF line (src/emf.rs): the same ones the
/// events announce, whether or not a bus is configured.
fn note_metrics(n: &Notifier<'_>, events: &[notify::Notification]) {
    crate::emf::note(|o| {
        o.scenario = Some(n.scenario.to_string());
        o.step = Some(n.step.as_str().to_string());
        for e in events {
            match e.kind {
                notify::Kind::CapacityReady => {
                    o.capacity_ready_minutes = e.detail.ready_after_minutes;
                }
                notify::Kind::RunClosed => {
                    o.night_minutes = e.detail.night_minutes;
                    o.closing = e.detail.hours.as_ref().map(|h| crate::emf::Closing {
                        reader_hours: round2(h.held.readers_total()),
                        resized_hours: round2(h.held.resized_total()),
                        dcu_hours: h.held.dcu_hours,
                        task_hours: h.held.task_hours,
                        vcpu_hours: h.held.vcpu_hours,
                        gb_hours: h.held.gb_hours,
                        idle_minutes: h.idle_s.map(|s| s / 60),
                        money: e.detail.money.as_ref().map(|m| {
                            (
                                m.currency.clone(),
                                m.cost,
                                m.saved_vs_always_on,
                                m.saved_vs_deadline.unwrap_or(0.0),
                            )
                        }),
                    });
                }
                notify::Kind::DeadlineReached => o.deadline_hit = true,
                notify::Kind::StepFailed => o.step_failed = true,
                notify::Kind::RunOpened
                | notify::Kind::CapacityLate
                | notify::Kind::DriftDetected => {}
            }
        }
    });
}
