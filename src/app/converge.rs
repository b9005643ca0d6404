//! The convergence loop: snapshot → plan → safety check → execute, again from a fresh snapshot
//! while calls succeed and more is due, until nothing is left to do right now.
//!
//! A round whose calls all succeeded ends the loop without a new snapshot when its plan said
//! those calls finish the job (no `waiting` line: [`Plan::waiting`]) and the step reads nothing
//! after the loop (a scale-up, a scale-down): the snapshot would only confirm what the accepted
//! calls do, and the next step reads the live state anyway. A round that leaves something waiting
//! (a resize's next phase, an instance still busy) reads again, as before.
//!
//! Every mutating call goes through [`Scaling::execute`], which takes only a call [`safety::vet`]
//! allowed: the planner proposes, the safety check disposes, the executor records.

use crate::config::Scenario;
use crate::domain::{Action, ActionResult};
use crate::evidence::Convergence;
use crate::plan::safety::{self, SafetyContext, Verdict, Violation};
use crate::plan::{self, Baseline, Call, Plan, PlanError, Snapshot};
use crate::ports::{CallError, CallErrorKind, Scaling, TagReads};
use fallback::{CapacityFallback, Instead};
use std::collections::BTreeSet;

mod fallback;

/// Most plan-and-execute rounds in one invocation. A resize takes four (readers, failover, old
/// writer, confirm); on AWS the later rounds find instances busy and stop early, and a later
/// check continues.
pub const MAX_ROUNDS: usize = 8;

/// Which planner a convergence runs.
#[derive(Clone, Copy)]
pub enum Mode<'a> {
    ScaleUp,
    /// A check continuing the asynchronous part of scale-up (resize), and what the scale-up of
    /// the run (this baseline) deferred.
    Continue(&'a Baseline),
    /// A check continuing a scale-up that stopped before it converged: the scale-up's plan,
    /// then the confirming read the check's readiness needs.
    ResumeScaleUp,
    /// Read the state, plan nothing (a check of a run whose scale-up was a dry run).
    Observe,
    ScaleDown(&'a Baseline),
}

impl<'a> Mode<'a> {
    /// One round's plan in this mode, from `snapshot` (the loop below and `nightshift plan`).
    pub fn plan(
        self,
        scenario: &Scenario,
        snapshot: &Snapshot,
        run: &str,
    ) -> Result<Plan, PlanError> {
        Ok(match self {
            Mode::ScaleUp | Mode::ResumeScaleUp => plan::plan_scale_up(scenario, snapshot, run)?,
            Mode::Continue(baseline) => {
                let mut plan = plan::plan_resize_continuation(scenario, snapshot, run);
                plan.merge(plan::plan_deferred(scenario, baseline, snapshot, run));
                plan
            }
            Mode::Observe => Plan::default(),
            Mode::ScaleDown(b) => plan::plan_scale_down(scenario, b, snapshot, run),
        })
    }

    pub fn baseline(self) -> Option<&'a Baseline> {
        match self {
            Mode::ScaleDown(b) => Some(b),
            _ => None,
        }
    }

    /// The tags this mode's planner and safety check look at. Without a resize, the scale-up
    /// planners never do (tags only order the failover candidates of a resize); a scale-down
    /// looks at the instances that are not in the baseline (the baseline's are never
    /// nightshift's to delete), unless a resize has to move the writer back.
    pub fn tag_reads(self, scenario: &Scenario) -> TagReads {
        let resize = scenario.clusters().any(|t| t.resize.is_some());
        match self {
            _ if resize => TagReads::All,
            Mode::ScaleUp | Mode::ResumeScaleUp | Mode::Continue(_) | Mode::Observe => {
                TagReads::None
            }
            Mode::ScaleDown(b) => TagReads::Except(
                b.clusters
                    .iter()
                    .flat_map(|c| c.instances.iter().map(|i| i.id.clone()))
                    .collect(),
            ),
        }
    }

    /// Does the step read the loop's last snapshot after it (a check's readiness)?
    fn reads_last_snapshot(self) -> bool {
        matches!(
            self,
            Mode::Continue(_) | Mode::ResumeScaleUp | Mode::Observe
        )
    }

    /// The planner of a check that keeps the capacity of the run with `baseline`.
    pub fn of_keep(keep: crate::night::Keep, baseline: &'a Baseline) -> Mode<'a> {
        match keep {
            crate::night::Keep::Continue => Mode::Continue(baseline),
            crate::night::Keep::ScaleUp => Mode::ResumeScaleUp,
            crate::night::Keep::Observe => Mode::Observe,
        }
    }
}

/// Why a convergence stopped short.
pub enum Stopped {
    /// A configured resource does not exist (scale-up only).
    Plan(PlanError),
    /// A call (read or write) failed in a way that ends the step: retryable or access denied.
    Call(CallError),
}

/// What the convergence loop did.
#[derive(Default)]
pub struct Converged {
    /// Every call made, dry-run or refused, in order.
    pub actions: Vec<Action>,
    /// Calls actually sent to AWS (successful or not).
    pub made: usize,
    /// Every call that was allowed and executed (or, in dry run, recorded).
    pub planned: Vec<Call>,
    /// The last plan (made from `snapshot`); its calls are empty unless the loop stopped early.
    pub last: Plan,
    /// Waiting, drift and notes of every round, deduplicated, in order.
    pub waiting: Vec<String>,
    pub drift: Vec<String>,
    pub notes: Vec<String>,
    /// The latest snapshot read.
    pub snapshot: Option<Snapshot>,
    pub refused: Vec<Violation>,
    /// Calls that failed without ending the step (quota, capacity, invalid parameters).
    pub degraded: Vec<String>,
    pub stopped: Option<Stopped>,
    pub hit_round_limit: bool,
}

impl Converged {
    /// Keep what a round's plan said. Notes are the first round's only: later rounds confirm
    /// the calls just made, and "already at desired count 10" right after setting it would
    /// mislead.
    fn absorb(&mut self, plan: &Plan, first_round: bool) {
        fn add(into: &mut Vec<String>, from: &[String]) {
            for line in from {
                if !into.contains(line) {
                    into.push(line.clone());
                }
            }
        }
        add(&mut self.drift, &plan.drift);
        if first_round {
            add(&mut self.notes, &plan.notes);
        }
        // Waiting lines describe the latest state only.
        self.waiting = plan.waiting.clone();
    }

    /// A call the safety check refused: logged, and recorded as a refused action.
    fn refuse(&mut self, scenario: &Scenario, run: &str, violation: Violation) {
        tracing::error!(scenario = %scenario.name, run, "{violation}");
        self.actions
            .push(violation.call.action(ActionResult::Refused {
                why: violation.why.to_string(),
                rule: violation.rule.to_string(),
            }));
        self.refused.push(violation);
    }

    /// Nothing left to call or wait for, and nothing refused, failed or merely dry-run.
    pub fn is_done(&self, dry_run: bool) -> bool {
        self.stopped.is_none()
            && self.refused.is_empty()
            && self.degraded.is_empty()
            && !self.hit_round_limit
            && self.last.is_done()
            && (!dry_run || self.planned.is_empty())
    }

    /// The typed evidence of what the loop did.
    pub fn evidence(&self, dry_run: bool) -> Convergence {
        Convergence {
            dry_run,
            planned: self.planned.clone(),
            waiting: self.waiting.clone(),
            drift: self.drift.clone(),
            notes: self.notes.clone(),
            refused: self.refused.iter().map(|v| v.to_string()).collect(),
            degraded: self.degraded.clone(),
        }
    }

    /// "3 call(s) made; waiting: …; drift: …" for the full explanation.
    pub fn summary(&self, dry_run: bool) -> String {
        let mut parts = Vec::new();
        if dry_run {
            parts.push(format!(
                "NIGHTSHIFT_DRY_RUN=1: {} call(s) planned and recorded, none made{}",
                self.planned.len(),
                if self.planned.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        self.planned
                            .iter()
                            .map(|c| format!("{} {}", c.operation(), c.resource()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        } else if self.made > 0 {
            parts.push(format!("{} call(s) made", self.made));
        }
        if !self.refused.is_empty() {
            parts.push(format!(
                "SAFETY CHECK refused {} call(s), a nightshift bug to report: {}",
                self.refused.len(),
                self.refused
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if !self.degraded.is_empty() {
            parts.push(format!(
                "degraded, the night goes on with what it got: {}",
                self.degraded.join("; ")
            ));
        }
        if !self.drift.is_empty() {
            parts.push(format!("drift left alone: {}", self.drift.join("; ")));
        }
        if !self.waiting.is_empty() {
            parts.push(format!("waiting: {}", self.waiting.join("; ")));
        }
        if self.hit_round_limit {
            parts.push(format!(
                "stopped after {MAX_ROUNDS} rounds; a later check or step continues"
            ));
        }
        if self.made == 0 && !dry_run && !self.notes.is_empty() {
            parts.push(self.notes.join("; "));
        }
        parts.join("; ")
    }

    /// The most telling part of the loop for a short reason: a refusal, a degradation, what is
    /// still on its way, or the calls made.
    pub fn short(&self, dry_run: bool) -> String {
        if !self.refused.is_empty() {
            return format!(
                "SAFETY CHECK refused {} call(s): a bug to report",
                self.refused.len()
            );
        }
        if dry_run {
            return format!("dry run: {} call(s) planned, none made", self.planned.len());
        }
        let calls = match self.made {
            0 => String::new(),
            1 => "1 call".to_string(),
            n => format!("{n} calls"),
        };
        let more = if let Some(first) = self.degraded.first() {
            format!("degraded: {first}")
        } else if let Some(first) = self.waiting.first() {
            format!("waiting: {first}")
        } else if !self.drift.is_empty() {
            "drift left alone".to_string()
        } else {
            String::new()
        };
        match (calls.is_empty(), more.is_empty()) {
            (true, _) => more,
            (false, true) => calls,
            (false, false) => format!("{calls}; {more}"),
        }
    }
}

/// The identity of a call for "do not retry it in this invocation". A create is identified
/// with its class and zone too: the capacity fallback tries the same reader with others.
fn call_key(call: &Call) -> String {
    match call {
        Call::CreateDbInstance { class, zone, .. } => format!(
            "{} {} {class} {}",
            call.operation(),
            call.resource(),
            zone.as_deref().unwrap_or("-")
        ),
        _ => format!("{} {}", call.operation(), call.resource()),
    }
}

/// Plan, check, execute; again from a fresh snapshot while calls succeed and more is due.
/// `first` is a snapshot the step already read (a scale-up's baseline snapshot).
pub async fn converge(
    scaling: &dyn Scaling,
    scenario: &Scenario,
    run: &str,
    mode: Mode<'_>,
    dry_run: bool,
    mut first: Option<Snapshot>,
) -> Converged {
    let mut out = Converged::default();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut capacity = CapacityFallback::default();
    let tags = mode.tag_reads(scenario);
    for round in 0..MAX_ROUNDS {
        let snapshot = match first.take() {
            Some(s) => s,
            None => match scaling.snapshot_with(scenario, &tags).await {
                Ok(s) => s,
                Err(e) => {
                    out.stopped = Some(Stopped::Call(e));
                    return out;
                }
            },
        };
        let mut plan = match mode.plan(scenario, &snapshot, run) {
            Ok(plan) => plan,
            Err(e) => {
                out.snapshot = Some(snapshot);
                out.stopped = Some(Stopped::Plan(e));
                return out;
            }
        };
        // A call that failed without ending the step is not repeated in this invocation.
        plan.calls.retain(|c| !failed.contains(&call_key(c)));
        let ctx = SafetyContext {
            scenario,
            run,
            snapshot: &snapshot,
            baseline: mode.baseline(),
        };
        let verdicts = safety::vet(&plan, &ctx);
        out.absorb(&plan, round == 0);
        out.last = plan;
        out.snapshot = Some(snapshot.clone());
        if verdicts.is_empty() {
            break;
        }
        let mut progressed = false;
        let mut all_succeeded = true;
        for verdict in verdicts {
            let vetted = match verdict {
                Verdict::Allowed(call) => call,
                Verdict::Refused(violation) => {
                    out.refuse(scenario, run, violation);
                    continue;
                }
            };
            // A create refused for capacity is tried again at once with its next class or zone
            // (capacity fallback); one whose class and zone were refused earlier in this step
            // goes straight to its next candidate.
            let mut next = Some(vetted);
            while let Some(planned) = next.take() {
                let call = match capacity.instead(&ctx, planned) {
                    Instead::Make(call) => call,
                    Instead::Refused(violation) => {
                        out.refuse(scenario, run, violation);
                        break;
                    }
                    Instead::Exhausted(degraded) => {
                        out.degraded.extend(degraded);
                        break;
                    }
                };
                let executed = scaling.execute(&call, dry_run).await;
                out.actions.push(executed.action);
                if !dry_run {
                    out.made += 1;
                }
                match executed.error {
                    None => {
                        progressed = true;
                        if let Some(note) = capacity.created(&call) {
                            if !out.notes.contains(&note) {
                                out.notes.push(note);
                            }
                        }
                    }
                    Some(e) => match e.kind {
                        CallErrorKind::Retryable | CallErrorKind::AccessDenied => {
                            out.planned.push(call.into_call());
                            out.stopped = Some(Stopped::Call(e));
                            return out;
                        }
                        CallErrorKind::Degraded if capacity.refused(&call, &e) => {
                            // Read again after the round: what the fallback created is checked.
                            all_succeeded = false;
                            out.planned.push(call.call().clone());
                            next = Some(call);
                            continue;
                        }
                        CallErrorKind::Degraded
                        | CallErrorKind::NotFound
                        | CallErrorKind::Permanent => {
                            all_succeeded = false;
                            out.degraded.push(e.to_string());
                            failed.insert(call_key(&call));
                        }
                    },
                }
                out.planned.push(call.into_call());
            }
        }
        if dry_run || !progressed || !out.refused.is_empty() {
            break;
        }
        if all_succeeded && out.last.waiting.is_empty() && !mode.reads_last_snapshot() {
            // The plan's calls finish the job and all were accepted: done, no confirming read.
            out.last.calls.clear();
            break;
        }
        if round + 1 == MAX_ROUNDS {
            out.hit_round_limit = true;
        }
    }
    out
}

/// The non-empty parts, joined with "; ".
pub fn join_parts<const N: usize>(parts: [String; N]) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_convergence_is_done_only_when_nothing_is_left_failed_refused_or_merely_rehearsed() {
        let done = Converged::default();
        assert!(done.is_done(false));
        let rehearsed = Converged {
            planned: vec![Call::DeleteDbInstance {
                cluster: "db".into(),
                instance: "i".into(),
            }],
            ..Converged::default()
        };
        assert!(
            !rehearsed.is_done(true),
            "a dry run that planned calls did not restore anything"
        );
        assert!(rehearsed.is_done(false));
        let degraded = Converged {
            degraded: vec!["DeleteDBInstance on i: InvalidParameterValue".into()],
            ..Converged::default()
        };
        assert!(!degraded.is_done(false));
        let waiting = Converged {
            last: Plan {
                waiting: vec!["reader i is modifying".into()],
                ..Plan::default()
            },
            ..Converged::default()
        };
        assert!(!waiting.is_done(false));
    }

    #[test]
    fn summaries_name_the_dry_run_and_what_was_left_alone() {
        let conv = Converged {
            planned: vec![Call::UpdateService {
                cluster: "b".into(),
                service: "w".into(),
                desired: 10,
                from: 2,
            }],
            drift: vec!["b/w: desired count is 7 but nightshift set 10".into()],
            ..Converged::default()
        };
        let text = conv.summary(true);
        assert!(
            text.starts_with("NIGHTSHIFT_DRY_RUN=1: 1 call(s) planned and recorded, none made (UpdateService b/w)"),
            "{text}"
        );
        assert!(
            text.contains("drift left alone: b/w: desired count is 7"),
            "{text}"
        );
        assert_eq!(join_parts(["a".into(), String::new(), "b".into()]), "a; b");
    }
}
