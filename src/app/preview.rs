//! `nightshift plan`: what one step would call right now, against the live state, without
//! calling it.
//!
//! The preview reads what the step reads (the scenario's `STATE` item and open run with
//! consistent GetItems, the metrics when the decision depends on them), asks the same state
//! machine ([`crate::night::decide`], through [`step::decide`]), and renders its decision: for a
//! decision that scales, one round of the planner ([`Mode::plan`]) and the safety check
//! ([`safety::vet`]) against a fresh snapshot. It takes no lease, writes nothing to the table and
//! makes no mutating call: every call it sends is a Describe, a Get or a List.
//!
//! What it shows is the first round of the step: the calls the live state asks for now. A step
//! that continues asynchronously (readers still creating, a resize's failover) plans its later
//! calls from later snapshots; the preview lists those as `waiting`.

use super::build::App;
use super::converge::Mode;
use super::execute::{night_of, run_id};
use super::request::StepRequest;
use super::step::{self, Reading};
use crate::config::Scenario;
use crate::domain::Step;
use crate::night::{Decision as Decided, Kind as Decision};
use crate::overrides::{Held, Override, Paused};
use crate::plan::safety::{self, SafetyContext, Verdict};
use crate::plan::{self, Call, Readiness};
use crate::ports::{CallError, HistoryStore, Scaling, StoreError};
use crate::text::{local_minute, quoted_list};
use jiff::Timestamp;
use serde::Serialize;

/// One call the step would make, or one the safety check would refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreviewCall {
    pub service: String,
    pub call: String,
    pub resource: String,
    pub detail: String,
    /// The IAM action the call needs.
    pub iam_action: String,
    /// `allowed`, or `refused` by the safety check (`rule`, `why`).
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The call with every parameter (the planner's `Call`).
    pub request: Call,
}

impl PreviewCall {
    fn allowed(call: &Call) -> PreviewCall {
        PreviewCall {
            service: call.service().to_string(),
            call: call.operation().to_string(),
            resource: call.resource(),
            detail: call.detail(),
            iam_action: call.iam_action().to_string(),
            verdict: "allowed".into(),
            rule: None,
            why: None,
            request: call.clone(),
        }
    }

    fn refused(violation: &safety::Violation) -> PreviewCall {
        PreviewCall {
            verdict: "refused".into(),
            rule: Some(violation.rule.to_string()),
            why: Some(violation.why.clone()),
            ..PreviewCall::allowed(&violation.call)
        }
    }

    pub fn is_refused(&self) -> bool {
        self.verdict == "refused"
    }
}

/// A stored pause or hold, and whether it is in force at the preview's `now` (a hold: for the
/// open run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverrideView<D> {
    #[serde(flatten)]
    pub stored: Override<D>,
    pub active: bool,
}

/// What `step` would do now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub scenario: String,
    pub step: Step,
    pub force: bool,
    pub now: Timestamp,
    /// `now` on the scenario's clock.
    pub now_local: String,
    pub timezone: String,
    /// The run the step would act on: the open run, or the id a scale-up would open.
    pub run: Option<String>,
    /// Where that run id comes from.
    pub run_note: String,
    /// The night's profile: the open run's recorded one, or the one a scale-up would open with
    /// (`ordinary` without one); None when the step opens nothing and no run is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub pause: Option<OverrideView<Paused>>,
    /// The stored hold, when there is one, and whether it holds the open run now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<OverrideView<Held>>,
    pub decision: Decision,
    pub reason: String,
    /// The calls in the order the step would make them; refused ones are marked.
    pub calls: Vec<PreviewCall>,
    pub waiting: Vec<String>,
    pub drift: Vec<String>,
    pub notes: Vec<String>,
    /// A check's readiness of the night's capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// The metric gate's evidence, when the step asks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<crate::gate::Evidence>,
    /// NIGHTSHIFT_DRY_RUN=1 is set: the step itself would only record these calls.
    pub dry_run: bool,
}

/// Why there is no preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("{0}")]
    UnknownScenario(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read of the live state failed.
    #[error("{0}")]
    Call(CallError),
    /// The scenario's clients (another region or account) could not be built.
    #[error("{0}")]
    Clients(String),
}

impl Preview {
    fn new(scenario: &Scenario, step: Step, force: bool, now: Timestamp, dry_run: bool) -> Self {
        Preview {
            scenario: scenario.name.clone(),
            step,
            force,
            now,
            now_local: local_minute(&scenario.timezone, now),
            timezone: scenario.timezone_name.clone(),
            run: None,
            run_note: String::new(),
            profile: None,
            pause: None,
            hold: None,
            decision: Decision::Skip,
            reason: String::new(),
            calls: Vec::new(),
            waiting: Vec::new(),
            drift: Vec::new(),
            notes: Vec::new(),
            readiness: None,
            gate: None,
            dry_run,
        }
    }

    fn decided(mut self, decision: Decision, reason: impl Into<String>) -> Self {
        self.decision = decision;
        self.reason = reason.into();
        self
    }

    /// Calls the safety check allows.
    pub fn allowed_calls(&self) -> impl Iterator<Item = &PreviewCall> {
        self.calls.iter().filter(|c| !c.is_refused())
    }

    /// The preview for a terminal: a header, then one line per call (service, call, resource,
    /// detail; a refused call says `REFUSED (rule): why`), then waiting, drift and notes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let force = if self.force { " (forced)" } else { "" };
        out.push_str(&format!(
            "plan: {}{force} of scenario \"{}\" at {} ({} {})\n",
            self.step, self.scenario, self.now, self.now_local, self.timezone
        ));
        match &self.run {
            Some(run) => out.push_str(&format!("run:      {run} ({})\n", self.run_note)),
            None => out.push_str(&format!("run:      none ({})\n", self.run_note)),
        }
        if let Some(profile) = &self.profile {
            out.push_str(&format!("profile:  {profile}\n"));
        }
        match &self.pause {
            Some(p) if p.active => {
                out.push_str(&format!("pause:    {}\n", p.stored.describe(None)))
            }
            Some(p) => out.push_str(&format!(
                "pause:    none in force (the last one ended at {})\n",
                p.stored.until
            )),
            None => out.push_str("pause:    none\n"),
        }
        match &self.hold {
            Some(h) if h.active => {
                out.push_str(&format!("hold:     {}\n", h.stored.describe(None)))
            }
            Some(h) => out.push_str(&format!(
                "hold:     none in force (the last one, for run {}, ended at {})\n",
                h.stored.defers.run, h.stored.until
            )),
            None => {}
        }
        out.push_str(&format!(
            "decision: {}: {}\n",
            self.decision.as_str(),
            self.reason
        ));
        out.push('\n');
        if self.calls.is_empty() {
            out.push_str("calls:    none: this step would make no scaling call now\n");
        } else {
            let allowed = self.allowed_calls().count();
            let refused = self.calls.len() - allowed;
            out.push_str(&format!(
                "calls:    {allowed} the step would make now{}; none is made by `nightshift plan`{}\n",
                if refused > 0 {
                    format!(", {refused} the safety check refuses")
                } else {
                    String::new()
                },
                if self.dry_run {
                    " (and with NIGHTSHIFT_DRY_RUN=1 the step would only record them)"
                } else {
                    ""
                }
            ));
            let rows: Vec<[String; 4]> = self
                .calls
                .iter()
                .map(|c| {
                    let detail = match (&c.rule, &c.why) {
                        (Some(rule), Some(why)) => {
                            format!("REFUSED ({rule}): {why}; would have been {}", c.detail)
                        }
                        _ => c.detail.clone(),
                    };
                    [
                        c.service.clone(),
                        c.call.clone(),
                        c.resource.clone(),
                        detail,
                    ]
                })
                .collect();
            let header = [
                "SERVICE".to_string(),
                "CALL".into(),
                "RESOURCE".into(),
                "DETAIL".into(),
            ];
            let mut widths = [0usize; 3];
            for row in std::iter::once(&header).chain(rows.iter()) {
                for (w, cell) in widths.iter_mut().zip(row.iter()) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(rows.iter()) {
                out.push_str(&format!(
                    "{:w0$}  {:w1$}  {:w2$}  {}\n",
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2]
                ));
            }
        }
        if let Some(r) = &self.readiness {
            if r.ready {
                out.push_str("ready:    the night's capacity is up\n");
            } else {
                out.push_str(&format!("ready:    no: {}\n", r.waiting.join("; ")));
            }
            for line in &r.degraded {
                out.push_str(&format!("degraded: {line}\n"));
            }
        }
        for (label, lines) in [
            ("waiting", &self.waiting),
            ("drift", &self.drift),
            ("note", &self.notes),
        ] {
            for line in lines {
                out.push_str(&format!("{label}: {line}\n"));
            }
        }
        out
    }
}

impl App {
    /// What `step` of `scenario` would call at `now`, against the live state, without calling it
    /// (`nightshift plan`). `force` previews a forced scale-down.
    pub async fn preview(
        &self,
        scenario: &str,
        step: Step,
        force: bool,
        now: Timestamp,
    ) -> Result<Preview, PreviewError> {
        let Some(scenario) = self.config.scenario(scenario) else {
            return Err(PreviewError::UnknownScenario(format!(
                "unknown scenario \"{scenario}\": {} configures {}",
                self.config.source,
                quoted_list(&self.config.scenario_names())
            )));
        };
        let store = &self.store;
        let scaling = &self
            .scaling
            .for_scenario(scenario)
            .await
            .map_err(PreviewError::Clients)?;
        let force = force && step == Step::ScaleDown;
        let mut preview = Preview::new(scenario, step, force, now, self.settings.dry_run);

        // Read as the step reads (without its lease), and decide as it decides.
        let state = store.scenario_state(&scenario.name).await?;
        preview.pause = state.pause.clone().map(|pause| OverrideView {
            active: pause.is_active(now),
            stored: pause,
        });
        let reading = Reading::read(store, scenario, &state).await?;
        preview.hold = state.hold.as_deref().cloned().map(|hold| OverrideView {
            active: reading
                .run
                .as_ref()
                .is_some_and(|run| hold.holds(&run.run, now)),
            stored: hold,
        });
        let req = StepRequest {
            store,
            scenario,
            step,
            force,
            key: "nightshift-plan",
            now,
            clock: now,
            deadline: None,
            remaining: None,
            dry_run: self.settings.dry_run,
            guard: self.settings.guard,
            scheduled_time: None,
        };
        // The open run's night (its recorded profile), as its steps see it.
        let night = step::night_scenario(scenario, &reading);
        let req = req.for_night(night.as_ref().unwrap_or(scenario));
        let (decided, verdict) = step::decide(&req, scaling, &state, &reading).await;
        if let Some(state) = reading.run_state() {
            preview.profile = Some(
                state
                    .profile
                    .as_ref()
                    .map_or(crate::config::ORDINARY.to_string(), |p| p.name.clone()),
            );
        }
        preview.gate = verdict.as_ref().map(|g| g.evidence.clone());
        match &reading.run {
            Some(run) => {
                preview.run = Some(run.run.clone());
                preview.run_note = match reading.run_state().and_then(|s| s.scale_down_started_at) {
                    Some(at) => format!(
                        "open since {}, by {}; scaling down since {at}",
                        run.opened_at, run.opened_by
                    ),
                    None => format!("open since {}, by {}", run.opened_at, run.opened_by),
                };
            }
            None => preview.run_note = "no open run".into(),
        }

        // Render: the decision, and for one that scales, the calls of its first round.
        let preview = match &decided {
            Decided::Skip { why, .. } | Decided::Reject { why } => {
                return Ok(preview.decided(decided.kind(), why.detail.clone()))
            }
            Decided::DeferScaleDown { hold, .. } => {
                return Ok(preview.decided(Decision::Defer, hold.detail.clone()))
            }
            Decided::OpenRun { profile } => {
                preview.profile = Some(
                    profile
                        .as_ref()
                        .map_or(crate::config::ORDINARY.to_string(), |p| p.name.clone()),
                );
                let id = self.next_run_id(scenario, now).await?;
                preview.run = Some(id.clone());
                preview.run_note =
                    "the run this scale-up would open; its baseline is the live state read now"
                        .into();
                preview.decision = Decision::ScaleUp;
                preview
            }
            Decided::ConvergeUp { run, .. } => preview.decided(
                Decision::ScaleUp,
                format!("re-plan against the open run {}", run.run),
            ),
            Decided::KeepCapacity { hold, .. } => preview.decided(
                Decision::Continue,
                format!("keep the night's capacity; scale-down: {}", hold.detail),
            ),
            Decided::StartScaleDown { why, .. } => {
                preview.decided(Decision::ScaleDown, why.detail.clone())
            }
            Decided::ContinueScaleDown { since, .. } => preview.decided(
                Decision::ScaleDown,
                format!("continuing the scale-down started at {since}"),
            ),
        };
        let run = preview.run.clone().unwrap_or_default();
        let (mode, with_readiness) = match &decided {
            Decided::KeepCapacity { keep, state, .. } => {
                (Mode::of_keep(*keep, &state.baseline), true)
            }
            Decided::StartScaleDown { state, .. } | Decided::ContinueScaleDown { state, .. } => {
                (Mode::ScaleDown(&state.baseline), false)
            }
            _ => (Mode::ScaleUp, false),
        };
        let opening = match &decided {
            Decided::OpenRun { profile } => Some(scenario.for_night(profile.as_ref())),
            _ => None,
        };
        let scenario = opening.as_ref().unwrap_or(req.scenario);
        preview_calls(scaling, scenario, preview, mode, &run, with_readiness).await
    }

    /// The id a scale-up at `now` would open: the scenario-local date, `.2`, `.3`… when taken.
    async fn next_run_id(&self, scenario: &Scenario, now: Timestamp) -> Result<String, StoreError> {
        let night = night_of(scenario, now);
        for n in 1..=99 {
            let id = run_id(&night, n);
            if self.store.get_run(&scenario.name, &id).await?.is_none() {
                return Ok(id);
            }
        }
        Err(StoreError::Permanent(format!(
            "scenario {} already has 99 runs for the night of {night}",
            scenario.name
        )))
    }
}

/// Read the snapshot, plan one round in `mode`, vet it; `with_readiness` adds a check's
/// readiness.
async fn preview_calls(
    scaling: &dyn Scaling,
    scenario: &Scenario,
    mut preview: Preview,
    mode: Mode<'_>,
    run: &str,
    with_readiness: bool,
) -> Result<Preview, PreviewError> {
    let snapshot = scaling
        .snapshot(scenario)
        .await
        .map_err(PreviewError::Call)?;
    if with_readiness {
        preview.readiness = Some(plan::readiness(scenario, &snapshot));
    }
    let plan = match mode.plan(scenario, &snapshot, run) {
        Ok(plan) => plan,
        Err(e) => return Ok(preview.decided(Decision::Reject, e.to_string())),
    };
    if preview.step == Step::ScaleUp && preview.reason.is_empty() {
        preview.decision = Decision::ScaleUp;
        preview.reason = if plan.is_done() {
            "already at the night's capacity, nothing to call".into()
        } else {
            "raise the capacity for the night".into()
        };
    }
    let verdicts = safety::vet(
        &plan,
        &SafetyContext {
            scenario,
            run,
            snapshot: &snapshot,
            baseline: mode.baseline(),
        },
    );
    preview.calls = verdicts
        .iter()
        .map(|v| match v {
            Verdict::Allowed(call) => PreviewCall::allowed(call),
            Verdict::Refused(violation) => PreviewCall::refused(violation),
        })
        .collect();
    preview.waiting = plan.waiting;
    preview.drift = plan.drift;
    preview.notes = plan.notes;
    Ok(preview)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::safety::{Rule, Violation};
    use crate::plan::Capacity;

    fn scenario() -> Scenario {
        crate::config::parse(
            include_str!("../../integration/fixtures/config/contract.toml"),
            "contract.toml",
        )
        .unwrap()
        .scenarios[0]
            .clone()
    }

    #[test]
    fn the_text_lists_one_call_per_line_and_marks_refused_calls_with_their_rule() {
        let now: Timestamp = "2026-11-25T13:00:00Z".parse().unwrap();
        let mut p = Preview::new(&scenario(), Step::ScaleDown, true, now, false);
        p = p.decided(
            Decision::ScaleDown,
            "forced scale-down: metrics are not consulted",
        );
        p.run = Some("2026-11-25".into());
        p.run_note = "open since 2026-11-25T13:00:00Z, by up".into();
        p.calls = vec![
            PreviewCall::allowed(&Call::RegisterScalableTarget {
                cluster: "batch".into(),
                service: "worker".into(),
                to: Capacity { min: 1, max: 4 },
                from: Capacity { min: 10, max: 10 },
            }),
            PreviewCall::allowed(&Call::UpdateService {
                cluster: "batch".into(),
                service: "worker".into(),
                desired: 2,
                from: 10,
            }),
            PreviewCall::refused(&Violation {
                call: Call::DeleteDbInstance {
                    cluster: "batch-db".into(),
                    instance: "batch-db-writer".into(),
                },
                rule: Rule::WriterTouched,
                why: "batch-db-writer is the writer of batch-db".into(),
            }),
        ];
        p.drift = vec!["batch/worker: desired count is 7 but nightshift set 10".into()];
        let text = p.to_text();
        let expected = "\
plan: scale-down (forced) of scenario \"nightly-batch\" at 2026-11-25T13:00:00Z (2026-11-25 22:00 Asia/Tokyo)
run:      2026-11-25 (open since 2026-11-25T13:00:00Z, by up)
pause:    none
decision: scale-down: forced scale-down: metrics are not consulted

calls:    2 the step would make now, 1 the safety check refuses; none is made by `nightshift plan`
SERVICE                  CALL                    RESOURCE              DETAIL
application-autoscaling  RegisterScalableTarget  service/batch/worker  ecs:service:DesiredCount MinCapacity 10 -> 1, MaxCapacity 10 -> 4
ecs                      UpdateService           batch/worker          desiredCount 10 -> 2
docdb                    DeleteDBInstance        batch-db-writer       REFUSED (the current writer): batch-db-writer is the writer of batch-db; would have been reader of batch-db
drift: batch/worker: desired count is 7 but nightshift set 10
";
        assert_eq!(text, expected, "\n{text}");

        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["decision"], "scale-down");
        assert_eq!(json["calls"][2]["verdict"], "refused");
        assert_eq!(json["calls"][2]["rule"], "the current writer");
        assert_eq!(json["calls"][1]["request"]["call"], "UpdateService");
        assert_eq!(json["calls"][1]["request"]["desired"], 2);
        assert_eq!(
            json["calls"][0]["iam_action"],
            "application-autoscaling:RegisterScalableTarget"
        );
        assert!(json["calls"][0].get("rule").is_none());
        assert_eq!(p.allowed_calls().count(), 2);
    }

    #[test]
    fn a_skipped_step_says_why_and_lists_no_call() {
        let now: Timestamp = "2026-11-25T13:00:00Z".parse().unwrap();
        let mut p = Preview::new(&scenario(), Step::Check, false, now, true);
        p.pause = Some(OverrideView {
            stored: crate::overrides::Pause {
                until: "2026-11-26T01:00:00Z".parse().unwrap(),
                defers: Paused,
                by: Some("alice".into()),
                at: None,
                reason: None,
            },
            active: true,
        });
        p.run_note = "no open run".into();
        let p = p.decided(Decision::Skip, "paused until 2026-11-26T01:00:00Z by alice");
        let text = p.to_text();
        assert!(text.contains("run:      none (no open run)\n"), "{text}");
        assert!(
            text.contains("pause:    paused until 2026-11-26T01:00:00Z by alice\n"),
            "{text}"
        );
        assert!(text.contains("decision: skip: paused until"), "{text}");
        assert!(
            text.contains("calls:    none: this step would make no scaling call now"),
            "{text}"
        );
    }
}
