//! Executing the state machine's decisions: open the run and scale up, keep the capacity (and
//! report readiness), scale down and close; each returns the step's [`StepOutcome`] with its
//! short reason, full explanation, typed evidence and the run-history write that goes with it.

use super::converge::{converge, join_parts, Converged, Mode, Stopped};
use super::request::{HandleError, RunUpdate, StepOutcome, StepRequest};
use crate::config::Scenario;
use crate::domain::{Outcome, Step};
use crate::evidence::{CapacityLate, StepEvidence};
use crate::gate::SHORT_REASON_MAX;
use crate::history::{OpenRun, RunRecord, RunStatus};
use crate::night::{Keep, Why};
use crate::plan::{self, Readiness, RunState};
use crate::ports::{CallError, CallErrorKind, Scaling, StoreError};
use crate::text::cut;
use jiff::Timestamp;

/// Outcome of a step that ran to its end: `acted` when calls were made.
fn finished_outcome(conv: &Converged, otherwise: Outcome) -> Outcome {
    if conv.made > 0 {
        Outcome::Acted
    } else {
        otherwise
    }
}

/// The result of a step ended by `stopped`: rejected for a missing resource or denied access,
/// deferred (and, except for a check, failed so that it is retried) otherwise.
pub(super) fn stopped_outcome(
    req: &StepRequest<'_>,
    run: Option<&str>,
    stopped: Stopped,
    conv: &mut Converged,
) -> StepOutcome {
    let (outcome, short, detail, failure) = match stopped {
        Stopped::Plan(e) => {
            let text = e.to_string();
            (Outcome::Rejected, text.clone(), text, None)
        }
        Stopped::Call(e) => {
            let short = short_call_error(&e, req.step);
            match e.kind {
                CallErrorKind::AccessDenied => (
                    Outcome::Rejected,
                    short,
                    e.to_string(),
                    Some(HandleError::NonRetryable(e.to_string())),
                ),
                _ if req.step == Step::Check => (
                    Outcome::Deferred,
                    short,
                    format!("{e}; the next check tries again"),
                    None,
                ),
                _ => {
                    let reason = format!("{e}; the step stays open and will be retried");
                    (
                        Outcome::Deferred,
                        short,
                        reason.clone(),
                        Some(HandleError::Retryable(reason)),
                    )
                }
            }
        }
    };
    let done = conv.summary(req.dry_run);
    let detail = if done.is_empty() {
        detail
    } else {
        format!("{detail} ({done})")
    };
    StepOutcome {
        outcome,
        run: run.map(str::to_string),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence: StepEvidence {
            converge: conv.evidence(req.dry_run),
            ..StepEvidence::default()
        },
        failure,
        run_update: None,
        scaling_lease: None,
    }
}

/// `UpdateService failed (ThrottlingException): retried`: a failed call in one line.
fn short_call_error(e: &CallError, step: Step) -> String {
    let code = e.code.as_deref().unwrap_or(match e.kind {
        CallErrorKind::Retryable => "unavailable",
        CallErrorKind::AccessDenied => "AccessDenied",
        CallErrorKind::NotFound => "not found",
        _ => "failed",
    });
    match e.kind {
        CallErrorKind::AccessDenied => format!("access denied: {} on {}", e.iam_action, e.resource),
        _ if step == Step::Check => {
            format!("{} failed ({code}): the next check retries", e.operation)
        }
        _ => format!("{} failed ({code}): the step will be retried", e.operation),
    }
}

/// A scale-up with no open run: read the live state, record the baseline, open the night's run,
/// converge up from the same snapshot.
pub(super) async fn open_and_scale_up(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    profile: Option<crate::config::NightProfile>,
) -> StepOutcome {
    let tags = Mode::ScaleUp.tag_reads(req.scenario);
    let snapshot = match scaling.snapshot_with(req.scenario, &tags).await {
        Ok(s) => s,
        Err(e) => return stopped_outcome(req, None, Stopped::Call(e), &mut Converged::default()),
    };
    let mut baseline = match plan::capture_baseline(req.scenario, &snapshot, req.now) {
        Ok(b) => b,
        // A configured resource does not exist: no run is opened, nothing is called.
        Err(e) => {
            let text = e.to_string();
            return StepOutcome::new(Outcome::Rejected, None, Why::new(&text, text.clone()));
        }
    };
    read_task_sizes(&mut baseline, scaling).await;
    let mut state = RunState::new(baseline, req.dry_run);
    // Chosen once, here: every later step of the night reads it from the run.
    state.profile = profile;
    // Stored with the run before any call: a scale-up that stops short leaves it set, and the
    // checks continue the scale-up until one converges.
    state.scale_up_unfinished = true;
    match open_run(req, &state).await {
        Ok((run, true)) => {
            let context = format!("opened run {run} and recorded its baseline");
            let mut out = scale_up(req, scaling, run, Some(snapshot), context, Some(state)).await;
            out.evidence.opened_run = true;
            out
        }
        Ok((run, false)) => {
            let context =
                format!("run {run} was opened by a concurrent delivery: re-planned against it");
            scale_up(req, scaling, run, None, context, None).await
        }
        Err(e) => StepOutcome::store_failure(None, Vec::new(), e),
    }
}

/// The hours of the night this step closes, for its Run Closed event and EMF line: the run's
/// events (one Query) and this step's calls. A failed read leaves them out and never stops the
/// close.
async fn night_hours(
    req: &StepRequest<'_>,
    run: &RunRecord,
    state: &RunState,
    actions: &[crate::domain::Action],
    evidence: &StepEvidence,
) -> Option<crate::trends::Account> {
    let read =
        crate::trends::closing_account(req.store, run, state, req.step, actions, evidence, req.now);
    match read.await {
        Ok(account) => Some(account),
        Err(e) => {
            tracing::warn!(
                scenario = %req.scenario.name,
                run = %run.run,
                "the night's hours were not counted (its events could not be read: {e}); the run closes without them"
            );
            None
        }
    }
}

/// The size of the tasks of each service that may run on Fargate (one DescribeTaskDefinition
/// each), recorded with the baseline for the night's vCPU-hours and GB-hours. A failed read is
/// recorded with the size and never stops the scale-up.
async fn read_task_sizes(baseline: &mut plan::Baseline, scaling: &dyn Scaling) {
    for service in &mut baseline.services {
        let Some(task) = service.task.as_mut().filter(|t| t.may_be_fargate()) else {
            continue;
        };
        match scaling.task_size(&task.task_definition).await {
            Ok((cpu_units, memory_mib, fargate_only)) => {
                task.cpu_units = cpu_units;
                task.memory_mib = memory_mib;
                if task.launch.is_empty() && fargate_only {
                    task.launch = "FARGATE".into();
                }
            }
            Err(e) => task.unread = Some(e.to_string()),
        }
    }
}

/// Open the night's run: id = the scenario-local date, `.2`, `.3`… when taken. Returns the run
/// id and whether this delivery opened it (false: a concurrent delivery had).
async fn open_run(req: &StepRequest<'_>, state: &RunState) -> Result<(String, bool), StoreError> {
    let night = night_of(req.scenario, req.now);
    for n in 1..=99 {
        let id = run_id(&night, n);
        let record = RunRecord {
            scenario: req.scenario.name.clone(),
            run: id.clone(),
            status: RunStatus::Open,
            opened_at: req.now,
            closed_at: None,
            opened_by: req.key.to_string(),
            baseline: Some(state.to_json()),
            summary: if state.opened_by_dry_run {
                "scale-up (dry run)".into()
            } else {
                "scaling up".into()
            },
        };
        match req.store.open_run(&record).await? {
            OpenRun::Opened => return Ok((id, true)),
            OpenRun::AlreadyOpen(other) => return Ok((other, false)),
            OpenRun::RunIdTaken => continue,
        }
    }
    Err(StoreError::Permanent(format!(
        "scenario {} already has 99 runs for the night of {night}",
        req.scenario.name
    )))
}

/// The night a run opened at `now` belongs to: the scenario-local date.
pub fn night_of(scenario: &Scenario, now: Timestamp) -> String {
    now.to_zoned_datetime(scenario.timezone.clone())
        .date()
        .to_string()
}

/// The `n`th run id of a night: `2026-11-25`, `2026-11-25.2`, …
pub fn run_id(night: &str, n: u32) -> String {
    if n == 1 {
        night.to_string()
    } else {
        format!("{night}.{n}")
    }
}

/// Converge up against `run` (a fresh or an open run). `state` is the run's state as read (or
/// just opened): a scale-up that converges clears its `scale_up_unfinished`.
pub(super) async fn scale_up(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: String,
    first: Option<plan::Snapshot>,
    context: String,
    state: Option<RunState>,
) -> StepOutcome {
    let mut conv = converge(
        scaling,
        req.scenario,
        &run,
        Mode::ScaleUp,
        req.dry_run,
        first,
    )
    .await;
    if let Some(stopped) = conv.stopped.take() {
        let out = stopped_outcome(req, Some(&run), stopped, &mut conv);
        return out.summarize();
    }
    let at_target = conv.made == 0 && !req.dry_run && conv.is_done(false);
    let outcome = finished_outcome(
        &conv,
        if at_target || req.dry_run {
            Outcome::Skipped
        } else {
            Outcome::Deferred
        },
    );
    let detail = join_parts([
        format!("scale-up: {context}"),
        if at_target {
            "already at the night's capacity, nothing to call".to_string()
        } else {
            String::new()
        },
        conv.summary(req.dry_run),
    ]);
    let short = if at_target {
        "already at the night's capacity".to_string()
    } else {
        format!("scaling up: {}", conv.short(req.dry_run))
    };
    let mut out = StepOutcome {
        outcome,
        run: Some(run),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence: StepEvidence {
            converge: conv.evidence(req.dry_run),
            ..StepEvidence::default()
        },
        failure: None,
        run_update: None,
        scaling_lease: None,
    }
    .summarize();
    if let (Some(mut state), Some(RunUpdate::Summary { state: written, .. })) = (
        state.filter(|s| s.scale_up_unfinished),
        out.run_update.as_mut(),
    ) {
        state.scale_up_unfinished = false;
        *written = Some(state.to_json());
    }
    out
}

/// A check while the gate holds: continue the scale-up (or only observe a rehearsed one), and
/// report whether the night's capacity is ready.
pub(super) async fn keep_capacity(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: &RunRecord,
    mut state: RunState,
    keep: Keep,
    hold: Why,
    gate: Option<&crate::gate::Evidence>,
) -> StepOutcome {
    let mut conv = converge(
        scaling,
        req.scenario,
        &run.run,
        Mode::of_keep(keep, &state.baseline),
        req.dry_run,
        None,
    )
    .await;
    if let Some(stopped) = conv.stopped.take() {
        return stopped_outcome(req, Some(&run.run), stopped, &mut conv);
    }
    // This check converged the scale-up that had stopped short: later checks only continue it.
    let resumed = keep == Keep::ScaleUp;
    state.scale_up_unfinished &= !resumed;
    let ready = match &conv.snapshot {
        Some(snapshot) => plan::readiness(req.scenario, snapshot),
        None => Readiness {
            ready: false,
            waiting: vec!["no snapshot".into()],
            degraded: Vec::new(),
        },
    };
    let mut evidence = StepEvidence {
        converge: conv.evidence(req.dry_run),
        ..StepEvidence::default()
    };
    let mut run_update = None;
    let (ready_line, ready_short) = if ready.ready {
        let first_time = state.ready_at.is_none();
        let ready_at = *state.ready_at.get_or_insert(req.now);
        let secs = ready_at.duration_since(run.opened_at).as_secs();
        evidence.ready_at = Some(ready_at);
        evidence.time_to_ready_s = Some(secs);
        let line = format!(
            "capacity ready since {ready_at} ({secs}s after scale-up){}",
            if ready.degraded.is_empty() {
                String::new()
            } else {
                format!(", degraded: {}", ready.degraded.join("; "))
            }
        );
        let short = format!(
            "capacity ready {} after scale-up{}",
            crate::text::human_duration(jiff::SignedDuration::from_secs(secs)),
            if ready.degraded.is_empty() {
                ""
            } else {
                " (degraded)"
            }
        );
        if first_time {
            // The summary says when the capacity came up; the state keeps `ready_at`.
            run_update = Some(RunUpdate::Summary {
                run: run.run.clone(),
                summary: cut(&short, SHORT_REASON_MAX),
                state: Some(state.to_json()),
            });
        }
        (line, "ready".to_string())
    } else {
        (
            format!("capacity not ready: {}", ready.waiting.join("; ")),
            "not ready".to_string(),
        )
    };
    let late = if ready.ready || state.capacity_late_since.is_some() {
        None
    } else {
        gate.and_then(batch_busy_since).map(|since| CapacityLate {
            busy_since: since,
            late_minutes: req.now.duration_since(since).as_secs().max(0) / 60,
            waiting: ready.waiting.clone(),
        })
    };
    let late_line = late.as_ref().map_or(String::new(), |l| {
        format!(
            "capacity late: the batch is busy since {} ({} min) and the night's capacity is not ready",
            l.busy_since, l.late_minutes
        )
    });
    if let Some(l) = &late {
        state.capacity_late_since = Some(l.busy_since);
        // Recorded with this check, so that only this one sends Capacity Late.
        run_update.get_or_insert(RunUpdate::Summary {
            run: run.run.clone(),
            summary: cut(
                &format!(
                    "capacity late: batch busy {} min before ready",
                    l.late_minutes
                ),
                SHORT_REASON_MAX,
            ),
            state: None,
        });
        if let Some(RunUpdate::Summary { state: written, .. }) = run_update.as_mut() {
            *written = Some(state.to_json());
        }
    }
    evidence.capacity_late = late;
    evidence.readiness = Some(ready);
    let detail = join_parts([
        late_line,
        ready_line,
        conv.summary(req.dry_run),
        format!("scale-down: {}", hold.detail),
    ]);
    let why = Why::new(format!("{ready_short}; {}", hold.short), detail);
    if resumed && run_update.is_none() {
        run_update = Some(RunUpdate::Summary {
            run: run.run.clone(),
            summary: why.short.clone(),
            state: Some(state.to_json()),
        });
    }
    StepOutcome {
        outcome: finished_outcome(&conv, Outcome::Deferred),
        run: Some(run.run.clone()),
        actions: std::mem::take(&mut conv.actions),
        why,
        evidence,
        failure: None,
        run_update,
        scaling_lease: None,
    }
}

/// The start of the first period in which a batch metric was at or over its threshold, among
/// the periods the gate read: the batch is busy since then at least.
fn batch_busy_since(gate: &crate::gate::Evidence) -> Option<Timestamp> {
    gate.metrics
        .iter()
        .flat_map(|m| {
            m.periods
                .iter()
                .filter(move |p| p.value.is_some_and(|v| v >= m.below))
        })
        .map(|p| p.start)
        .min()
}

/// Restore the run's baseline; close the run once nothing is left. `label` names what set the
/// scale-down going (`quiet 15m`, `deadline 07:30`, `forced`, `scale-down`).
pub(super) async fn scale_down(
    req: &StepRequest<'_>,
    scaling: &dyn Scaling,
    run: &RunRecord,
    state: &RunState,
    label: String,
    why: Why,
) -> StepOutcome {
    let mut conv = converge(
        scaling,
        req.scenario,
        &run.run,
        Mode::ScaleDown(&state.baseline),
        req.dry_run,
        None,
    )
    .await;
    if let Some(stopped) = conv.stopped.take() {
        let mut out = stopped_outcome(req, Some(&run.run), stopped, &mut conv);
        out.evidence.decision = Some(why.detail.clone());
        return out.summarize();
    }
    let done = conv.is_done(req.dry_run);
    let summary = conv.summary(req.dry_run);
    let mut evidence = StepEvidence {
        converge: conv.evidence(req.dry_run),
        decision: Some(why.detail.clone()),
        ..StepEvidence::default()
    };
    if done {
        evidence.closed_by = state.scale_down_rule;
        evidence.night_s = Some(req.now.duration_since(run.opened_at).as_secs());
        evidence.night_hours = night_hours(req, run, state, &conv.actions, &evidence).await;
    }
    let (outcome, short, detail, run_update) = if done {
        let (restored, short) = if !conv.drift.is_empty() {
            (
                "restored except the drifted values left alone",
                "restored except drift",
            )
        } else if conv.made == 0 {
            ("already at the baseline", "already at baseline")
        } else {
            ("back at the baseline", "back at baseline")
        };
        let detail = format!(
            "scale-down ({}): {}; run {} closed",
            why.detail,
            join_parts([summary, restored.to_string()]),
            run.run
        );
        let short = format!("{label}: {short}, run closed");
        let close = RunUpdate::Close {
            run: run.run.clone(),
            summary: cut(&short, SHORT_REASON_MAX),
            at: req.now,
        };
        (
            finished_outcome(&conv, Outcome::Skipped),
            short,
            detail,
            Some(close),
        )
    } else {
        let detail = format!(
            "scale-down ({}) in progress: {summary}; run {} stays open and a later check or scale-down continues it",
            why.detail, run.run
        );
        let progress = conv.short(req.dry_run);
        let short = if progress.is_empty() {
            why.short.clone()
        } else {
            format!("{label}: scaling down, {progress}")
        };
        let otherwise = if req.dry_run {
            Outcome::Skipped
        } else {
            Outcome::Deferred
        };
        let update = RunUpdate::Summary {
            run: run.run.clone(),
            summary: cut(&short, SHORT_REASON_MAX),
            state: None,
        };
        (
            finished_outcome(&conv, otherwise),
            short,
            detail,
            Some(update),
        )
    };
    StepOutcome {
        outcome,
        run: Some(run.run.clone()),
        actions: std::mem::take(&mut conv.actions),
        why: Why::new(short, detail),
        evidence,
        failure: None,
        run_update,
        scaling_lease: None,
    }
}
