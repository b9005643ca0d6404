//! The night's state machine, as one pure function: what a step does, given what was read.
//!
//! ```text
//!   read (scaling lease + STATE item, open run, [metrics])  →  decide  →  execute  →  record
//! ```
//!
//! [`decide`] takes the step, the open run and its state, the ops overrides (pause, skip dates)
//! and `now`, and returns a typed [`Decision`]: skip (with why), reject, open a run, converge up,
//! keep the capacity, defer or start or continue the scale-down. A decision that acts on the open
//! run carries the run and its decoded state, so the shell executes it without looking anything
//! up again. `App::handle` executes the decision (src/app/step.rs); `nightshift plan` renders the
//! same decision without executing it (src/app/preview.rs). Neither re-derives it.
//!
//! The gate needs a CloudWatch read, which is only worth making when the decision depends on it:
//! `decide` answers [`Ruling::ReadGate`] then, with a [`GateQuestion`]; the shell reads the
//! metrics (none for a forced scale-down: the gate's own `forced` rule decides) and the question
//! answers with the verdict ([`GateQuestion::decide`]), which can only be a [`Decision`].
//!
//! Rules, in order (the table test in `tests.rs` walks every combination):
//! 1. An open run without a recorded baseline is skipped; one whose baseline does not decode is
//!    rejected (nothing can be restored from it).
//! 2. The ops overrides ([`overrides::decide`]): a pause skips scale-ups and checks of a night
//!    not yet scaling down, a scheduled scale-down (a forced one runs); a skip date skips the
//!    night's scale-up.
//!
//!    2b. The business calendar, for a scale-up: a holiday skips one that would open a run; a
//!    scheduled one (it carries `scheduled_time`) is skipped on a night that is not one of the
//!    schedule's days, and when its time is not tonight's scale-up time (another kind of
//!    night's schedule: a profile's on an ordinary night, the ordinary one on a profile night).
//! 3. A scale-up opens the night's run with the profile of its date (chosen here, once, and
//!    recorded in the run), or re-plans against the open one; after the scale-down started, it
//!    is out of order and skipped.
//! 4. A check or scale-down without an open run has nothing to act on.
//! 5. A started scale-down is continued by every check and scale-down.
//! 6. A hold ([`Hold`]) of the open run, in force: a check keeps the capacity and a scheduled
//!    scale-down is deferred, both `held until …` without reading the gate (a hold beats the
//!    deadline); a forced scale-down goes on to the gate's `forced` rule.
//! 7. Otherwise the gate decides: scale down (quiet, deadline, forced), or hold — a check keeps
//!    the capacity (and continues an asynchronous scale-up), a scale-down step is deferred.

use crate::calendar::{self, Night, NoBatch};
use crate::config::{NightProfile, Scenario};
use crate::domain::Step;
use crate::gate::{self, SHORT_REASON_MAX};
use crate::history::RunRecord;
use crate::overrides::{self, Hold, Pause, RunPhase, SkipRule, StepFacts};
use crate::plan::RunState;
use crate::text::cut;

use jiff::Timestamp;
use serde::Serialize;

#[cfg(test)]
mod tests;

/// The scenario's open run, as read under the scaling lease.
#[derive(Debug, Clone, Copy)]
pub enum RunFacts<'a> {
    /// No open run (none yet tonight, or the night's run is closed).
    None,
    /// An open run and its decoded state (baseline, scale-down start, readiness).
    Open {
        run: &'a RunRecord,
        state: &'a RunState,
    },
    /// An open run with no recorded baseline (not opened by a scale-up of this build).
    NoBaseline { run: &'a RunRecord },
    /// An open run whose recorded baseline does not decode.
    Corrupt { run: &'a RunRecord, error: &'a str },
}

impl RunFacts<'_> {
    /// Where the run is, as the overrides see it.
    pub fn phase(&self) -> RunPhase {
        match self {
            RunFacts::None => RunPhase::NoOpenRun,
            RunFacts::Open { state, .. } if state.scale_down_started_at.is_some() => {
                RunPhase::ScalingDown
            }
            _ => RunPhase::ScalingUp,
        }
    }

    pub fn record(&self) -> Option<&RunRecord> {
        match self {
            RunFacts::None => None,
            RunFacts::Open { run, .. }
            | RunFacts::NoBaseline { run }
            | RunFacts::Corrupt { run, .. } => Some(run),
        }
    }
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub scenario: &'a Scenario,
    pub step: Step,
    /// `"force": true` of the command; only a scale-down honours it.
    pub force: bool,
    /// The night's time (the event's rehearsal `now`, else the invocation's clock).
    pub now: Timestamp,
    /// The scenario's stored pause, in force or not (it expires by itself).
    pub pause: Option<&'a Pause>,
    /// The scenario's stored hold, in force or not, for whichever run (it expires by itself).
    pub hold: Option<&'a Hold>,
    pub run: RunFacts<'a>,
    /// `NIGHTSHIFT_DRY_RUN=1`.
    pub dry_run: bool,
    /// The Scheduler's `scheduled_time` of the command: the time of day it was made for says
    /// which kind of night its schedule is for (rule 2b).
    pub scheduled_time: Option<Timestamp>,
}

impl Facts<'_> {
    /// The force that counts: a forced check or scale-up means nothing.
    pub fn forced(&self) -> bool {
        self.force && self.step == Step::ScaleDown
    }
}

/// A reason at two levels: one line for responses, logs and tables, and the full sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Why {
    /// At most [`SHORT_REASON_MAX`] characters, one line.
    pub short: String,
    /// The full explanation (`show`, JSON).
    pub detail: String,
}

impl Why {
    pub fn new(short: impl AsRef<str>, detail: impl Into<String>) -> Why {
        Why {
            short: cut(short.as_ref(), SHORT_REASON_MAX),
            detail: detail.into(),
        }
    }

    /// The gate's verdict as a reason.
    pub fn of_gate(decision: &gate::Decision, scenario: &Scenario) -> Why {
        Why::new(decision.short_reason(&scenario.timezone), decision.reason())
    }
}

/// Which planner a check that keeps the capacity runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Continue the asynchronous part of the scale-up (a resize's failover, its old writer).
    Continue,
    /// Continue the whole scale-up: it stopped before it converged (a call refused while the
    /// cluster was busy, and Lambda's retries spent), so what it did not do is still to do.
    ScaleUp,
    /// Read and report only: the run's scale-up was a dry run, and a real check must not start
    /// what the rehearsal only recorded.
    Observe,
}

/// What the step does. A decision about the open run carries it (and its decoded state where the
/// execution needs it): what the state machine decided on is what the shell acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing is called; `rule` names the ops override when one skipped it.
    Skip { why: Why, rule: Option<SkipRule> },
    /// Nothing is called, and a retry fails the same way.
    Reject { why: Why },
    /// A scale-up with no open run: record the baseline, open the night's run with its profile
    /// (None: the ordinary night), converge up.
    OpenRun { profile: Option<NightProfile> },
    /// A scale-up of the open run: re-plan against it (a retry, a second schedule).
    ConvergeUp { run: RunRecord, state: RunState },
    /// A check while the gate (or a hold) holds: keep the capacity, continue the scale-up, report
    /// readiness.
    KeepCapacity {
        run: RunRecord,
        state: RunState,
        keep: Keep,
        hold: Why,
    },
    /// A scale-down step while the gate (or a hold) holds: nothing is called, the run stays as
    /// it is.
    DeferScaleDown { run: RunRecord, hold: Why },
    /// The gate says the night is over: mark the run scaling down, restore the baseline.
    StartScaleDown {
        run: RunRecord,
        state: RunState,
        rule: gate::Rule,
        why: Why,
    },
    /// The scale-down started earlier: go on restoring the baseline.
    ContinueScaleDown {
        run: RunRecord,
        state: RunState,
        since: Timestamp,
    },
}

/// What [`decide`] answers: the decision, or the one question only the metric gate can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Ruling<'a> {
    Decided(Decision),
    /// The decision depends on the gate: read it, then [`GateQuestion::decide`].
    ReadGate(GateQuestion<'a>),
}

/// Rule 7 waiting for the gate's verdict: a check or scale-down of an open run that is neither
/// scaling down nor held.
#[derive(Debug, Clone, PartialEq)]
pub struct GateQuestion<'a> {
    scenario: &'a Scenario,
    step: Step,
    keep: Keep,
    /// Read the metrics (not for a forced scale-down, whose gate rule is `forced`).
    pub fetch_metrics: bool,
    /// The open run (the gate measures `min_hold` from its opening).
    pub run: RunRecord,
    state: RunState,
}

impl GateQuestion<'_> {
    /// Rule 7 with the gate's verdict: scale down (quiet, deadline, forced), or hold — a check
    /// keeps the capacity, a scale-down step is deferred.
    pub fn decide(self, gate: &gate::Decision) -> Decision {
        let why = Why::of_gate(gate, self.scenario);
        match gate.rule() {
            Some(rule) => Decision::StartScaleDown {
                run: self.run,
                state: self.state,
                rule,
                why,
            },
            None if self.step == Step::Check => Decision::KeepCapacity {
                run: self.run,
                state: self.state,
                keep: self.keep,
                hold: why,
            },
            None => Decision::DeferScaleDown {
                run: self.run,
                hold: Why::new(
                    format!("scale-down deferred: {}", why.short),
                    format!("scale-down deferred: {}", why.detail),
                ),
            },
        }
    }
}

/// The decision in one word, as `nightshift plan` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Kind {
    /// Nothing would happen: paused, a skip date, no open run, out of order.
    Skip,
    /// The step would be rejected (a configured resource is missing, a corrupt run).
    Reject,
    /// A scale-down the gate holds: the batch is busy, or min_hold has not passed.
    Defer,
    /// Raise the capacity for the night.
    ScaleUp,
    /// A check that keeps the capacity: readiness and the resize continuation.
    Continue,
    /// Restore the baseline.
    ScaleDown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Decision {
    pub fn kind(&self) -> Kind {
        match self {
            Decision::Skip { .. } => Kind::Skip,
            Decision::Reject { .. } => Kind::Reject,
            Decision::KeepCapacity { .. } => Kind::Continue,
            Decision::DeferScaleDown { .. } => Kind::Defer,
            Decision::OpenRun { .. } | Decision::ConvergeUp { .. } => Kind::ScaleUp,
            Decision::StartScaleDown { .. } | Decision::ContinueScaleDown { .. } => Kind::ScaleDown,
        }
    }
}

/// The night's state machine (see the module docs for the rules).
pub fn decide<'a>(f: &Facts<'a>) -> Ruling<'a> {
    let scenario = &f.scenario.name;
    // 1. An open run nothing can be restored from.
    let open = match f.run {
        RunFacts::NoBaseline { run } => {
            return Ruling::Decided(Decision::Skip {
                why: Why::new(
                    format!("run {} has no recorded baseline: nothing scaled", run.run),
                    format!(
                        "run {} of {} has no recorded baseline (it was not opened by a scale-up of this build): nothing is scaled for it",
                        run.run, run.scenario
                    ),
                ),
                rule: None,
            })
        }
        RunFacts::Corrupt { run, error } => {
            return Ruling::Decided(Decision::Reject {
                why: Why::new(
                    format!("run {}: recorded baseline does not decode", run.run),
                    format!(
                        "run {} of {}: its recorded baseline does not decode ({error}); nothing was called",
                        run.run, run.scenario
                    ),
                ),
            })
        }
        RunFacts::None => None,
        RunFacts::Open { run, state } => Some((run, state)),
    };

    // 2. The ops overrides.
    if let overrides::Verdict::Skip { rule, reason } = overrides::decide(&StepFacts {
        scenario: f.scenario,
        step: f.step,
        force: f.forced(),
        now: f.now,
        pause: f.pause,
        run: f.run.phase(),
    }) {
        let short = match (rule, f.pause) {
            (SkipRule::Paused, Some(pause)) => format!(
                "paused until {}: {} skipped",
                crate::text::local_minute(&f.scenario.timezone, pause.until),
                f.step
            ),
            _ => format!(
                "skip date {}: {} skipped",
                f.now.to_zoned_datetime(f.scenario.timezone.clone()).date(),
                f.step
            ),
        };
        return Ruling::Decided(Decision::Skip {
            why: Why::new(short, reason),
            rule: Some(rule),
        });
    }

    // 2b. The business calendar: a holiday, a schedule made for another kind of night.
    if f.step == Step::ScaleUp {
        if let Some(skip) = calendar_rule(f, open.is_none()) {
            return Ruling::Decided(skip);
        }
    }

    let decision = match (f.step, open) {
        // 3. Scale-up.
        (Step::ScaleUp, Some((run, state))) => match state.scale_down_started_at {
            Some(at) => Decision::Skip {
                why: Why::new(
                    format!("out of order: run {} is already scaling down", run.run),
                    format!(
                        "out of order: run {} started scaling down at {at}; this scale-up is ignored (the next scale-up opens a new run once this one closes)",
                        run.run
                    ),
                ),
                rule: None,
            },
            None => Decision::ConvergeUp {
                run: run.clone(),
                state: state.clone(),
            },
        },
        (Step::ScaleUp, None) => {
            let date = f.now.to_zoned_datetime(f.scenario.timezone.clone()).date();
            Decision::OpenRun {
                profile: calendar::profile_for(f.scenario, date).map(|p| p.night()),
            }
        }

        // 4. Nothing to act on.
        (Step::Check, None) => Decision::Skip {
            why: Why::new(
                "no open run: nothing to check",
                format!(
                    "no open run of scenario \"{scenario}\": nothing to check (no scale-up has run, or the night's run is already closed)"
                ),
            ),
            rule: None,
        },
        (Step::ScaleDown, None) => Decision::Skip {
            why: Why::new(
                "no open run: nothing to scale down",
                format!(
                    "no open run of scenario \"{scenario}\": a scale-down for a run that never scaled up (or is already closed) does nothing"
                ),
            ),
            rule: None,
        },

        // 5. A started scale-down goes on.
        (_, Some((run, state))) => match state.scale_down_started_at {
            Some(since) => Decision::ContinueScaleDown {
                run: run.clone(),
                state: state.clone(),
                since,
            },
            // 6. A hold of this run.
            None => match held_now(f, run) {
                Some(hold) => held(f, hold, run, state),
                // 7. The gate.
                None => {
                    return Ruling::ReadGate(GateQuestion {
                        scenario: f.scenario,
                        step: f.step,
                        keep: keep(f, state),
                        fetch_metrics: !f.forced(),
                        run: run.clone(),
                        state: state.clone(),
                    })
                }
            },
        },
    };
    Ruling::Decided(decision)
}

/// Rule 2b, for a scale-up: tonight's night by the business calendar ([`calendar::night`]).
/// A holiday skips a scale-up that would open a run (as a skip date does). A scale-up fired by a
/// schedule (it carries `scheduled_time`) is skipped on a night that is not one of the
/// schedule's `days`, and when its time of day is not tonight's scale-up time: that schedule is
/// another kind of night's (a month-end profile's daily firing on an ordinary night, or the
/// ordinary schedule on a profile night whose scale-up is earlier or later), so no night opens
/// a second run. A time moved by a daylight-saving gap matches the time it was moved from.
fn calendar_rule(f: &Facts<'_>, opens: bool) -> Option<Decision> {
    let s = f.scenario;
    let local = f.now.to_zoned_datetime(s.timezone.clone());
    let date = local.date();
    let skip = |short: String, detail: String, rule| Decision::Skip {
        why: Why::new(short, detail),
        rule: Some(rule),
    };
    match calendar::night(s, date) {
        // Skip dates are the overrides' rule (2).
        Night::Skipped(NoBatch::SkipDate) => None,
        Night::Skipped(NoBatch::Holiday(name)) if opens => Some(skip(
            format!("holiday {date} \"{name}\": scale-up skipped"),
            format!(
                "{date} is the holiday \"{name}\" in the scenario's holiday file: no run is opened tonight; checks and scale-downs of an open run still run"
            ),
            SkipRule::Holiday,
        )),
        Night::Skipped(NoBatch::Holiday(_)) => None,
        Night::Skipped(why @ NoBatch::NotOneOfDays) if f.scheduled_time.is_some() && opens => {
            let what = why.describe(s);
            Some(skip(
                format!("{date}: {what}: scale-up skipped"),
                format!("{date} ({}) is {what}: this schedule's firing opens no run", crate::schedule::day_name(date.weekday())),
                SkipRule::NotTonight,
            ))
        }
        Night::Skipped(_) => None,
        Night::Batch(profile) => {
            let scheduled = f.scheduled_time?;
            let tonight = s.scale_up_of(profile)?;
            let at = scheduled.to_zoned_datetime(s.timezone.clone());
            let moved = calendar::dst::local(&s.timezone, at.date(), tonight);
            let same = at.time().hour() == tonight.hour() && at.time().minute() == tonight.minute()
                || matches!(moved, calendar::dst::LocalTime::Gap { runs_at, .. } if runs_at.as_second() / 60 == scheduled.as_second() / 60);
            if same {
                return None;
            }
            let fired = at.time().strftime("%H:%M").to_string();
            let made_for: Vec<&str> = s
                .profiles
                .iter()
                .filter(|p| p.scale_up.is_some_and(|t| t.strftime("%H:%M").to_string() == fired))
                .map(|p| p.name.as_str())
                .collect();
            let tonight_name = profile.map_or(crate::config::ORDINARY, |p| p.name.as_str());
            let short = if made_for.is_empty() {
                format!("{} night: its scale-up is at {}", a_an(tonight_name), tonight.strftime("%H:%M"))
            } else {
                format!("not {} night", a_an(&made_for.join(" or ")))
            };
            Some(skip(
                format!("{short}: scale-up skipped"),
                format!(
                    "{date} is {} night (scale-up {}); this scale-up was scheduled for {fired}, another kind of night's time, so it opens no run and changes none",
                    a_an(tonight_name),
                    tonight.strftime("%H:%M")
                ),
                SkipRule::NotTonight,
            ))
        }
    }
}

/// `a month-end`, `an ordinary`.
fn a_an(word: &str) -> String {
    match word.chars().next() {
        Some(c) if "aeiouAEIOU".contains(c) => format!("an {word}"),
        _ => format!("a {word}"),
    }
}

/// What a check continues: a rehearsed scale-up is only observed by a real check; one that
/// has not converged is continued whole.
fn keep(f: &Facts<'_>, state: &RunState) -> Keep {
    if state.opened_by_dry_run && !f.dry_run {
        Keep::Observe
    } else if state.scale_up_unfinished {
        Keep::ScaleUp
    } else {
        Keep::Continue
    }
}

/// The hold that keeps this run's capacity now: in force, for this run, and the step not forced.
fn held_now<'a>(f: &Facts<'a>, run: &RunRecord) -> Option<&'a Hold> {
    f.hold.filter(|h| !f.forced() && h.holds(&run.run, f.now))
}

/// Rule 6: the open run is held. The gate is not read: nothing it says lowers the capacity
/// before the hold ends.
fn held(f: &Facts<'_>, hold: &Hold, run: &RunRecord, state: &RunState) -> Decision {
    let scenario = f.scenario;
    let until_hm = crate::text::local_minute(&scenario.timezone, hold.until);
    let described = hold.describe(Some((&scenario.timezone, scenario.timezone_name.as_str())));
    let release = format!(
        "`nightshift release {}` ends the hold early; a forced scale-down still runs",
        scenario.name
    );
    if f.step == Step::Check {
        Decision::KeepCapacity {
            run: run.clone(),
            state: state.clone(),
            keep: keep(f, state),
            hold: Why::new(
                format!("held until {until_hm}: capacity kept"),
                format!(
                    "{described}; the capacity is kept and the gate is not read (the deadline included); {release}"
                ),
            ),
        }
    } else {
        Decision::DeferScaleDown {
            run: run.clone(),
            hold: Why::new(
                format!("held until {until_hm}: scale-down deferred"),
                format!(
                    "{described}; a scheduled scale-down is deferred until then (the deadline included); {release}"
                ),
            ),
        }
    }
}
