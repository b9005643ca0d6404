//! `nightshift tune`: replay a scenario's past nights through the production gate
//! ([`gate::decide`]) with the current scale-down settings and with candidates (`--set`), and
//! say per night when each would have closed, why, the capacity it would have held above the
//! baseline, and whether it would have closed while the batch came back later (*premature*).
//!
//! The replay is pure: [`replay`] takes the nights as [`NightInput`]s (what the run history and
//! CloudWatch said, read by [`gather`]) and returns a [`TuneReport`]. Nothing is written and no
//! scaling call is made.
//!
//! Check times come from two sources, replayed separately:
//! - **recorded**: the times the night's checks and scale-downs really ran (each event's gate
//!   evidence `now`, else its `received_at`). A candidate that is still open after the last
//!   recorded check goes on at the schedule's `check_every` (else the last recorded interval,
//!   else 10 minutes) until it closes; such closes are marked *extrapolated*;
//! - **schedule**: every `check_every` from the scale-up, plus the deadline check, when the
//!   scenario has a `[scenario.schedule]`.
//!
//! A night's capacity held above the baseline is, per setting, the readers and tasks the run
//! added (the recorded baseline against the night's targets) times the time from the scale-up
//! to the close decision.

mod gather;
pub mod lead;
pub mod set;
mod table;

#[cfg(test)]
mod tests;

pub use gather::{gather, TuneError};
pub use set::{candidate, candidate_with, Setting};
pub use table::render_table;

use crate::config::{MetricSpec, Scenario};
use crate::gate::{self, MetricWindow, MetricsFetch, Rule};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::time::Duration;

/// The interval at which a replay goes on after the recorded checks when neither the schedule
/// nor the recorded checks give one.
const DEFAULT_EXTRAPOLATION: Duration = Duration::from_secs(600);

/// Replayed checks of one night at most (a deadline always ends a replay long before).
const MAX_REPLAYED_CHECKS: usize = 2_000;

/// One past night, as the run history and CloudWatch recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct NightInput {
    pub run: String,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// When the real scale-down was decided, and by which rule.
    pub actual_close: Option<(Timestamp, Rule)>,
    /// When checks and scale-downs really consulted the gate, oldest first.
    pub checks: Vec<Timestamp>,
    /// A forced scale-down, if one ended the night: every setting closes then at the latest.
    pub forced_at: Option<Timestamp>,
    /// Readers and tasks the night added above the baseline (from the recorded baseline).
    pub added_readers: u32,
    pub added_tasks: u32,
    /// The worker kinds: Batch vCPUs kept warm (minvCpus) and Auto Scaling instances above the
    /// baseline.
    pub added_vcpus: u32,
    pub added_instances: u32,
    /// When a check first saw the night's capacity ready (the run's readiness record).
    pub ready_at: Option<Timestamp>,
    /// The night's datapoints, one window per distinct metric query of every setting.
    pub metrics: MetricsFetch,
}

/// Why a setting closed a night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseRule {
    Quiet,
    Deadline,
    Forced,
}

impl CloseRule {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseRule::Quiet => "quiet",
            CloseRule::Deadline => "deadline",
            CloseRule::Forced => "forced",
        }
    }
}

impl From<Rule> for CloseRule {
    fn from(r: Rule) -> CloseRule {
        match r {
            Rule::Quiet => CloseRule::Quiet,
            Rule::Deadline => CloseRule::Deadline,
            Rule::Forced => CloseRule::Forced,
        }
    }
}

/// A metric busy again after a setting's quiet close: the batch came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Premature {
    pub metric: String,
    pub value: f64,
    pub at: Timestamp,
}

/// When one setting closed (or would have closed) one night.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Close {
    pub at: Option<Timestamp>,
    pub rule: Option<CloseRule>,
    /// Reader-hours and task-hours held above the baseline until `at`.
    pub reader_hours: f64,
    pub task_hours: f64,
    /// Batch vCPU-hours and Auto Scaling instance-hours held above the baseline until `at`.
    #[serde(skip_serializing_if = "is_nothing")]
    pub vcpu_hours: f64,
    #[serde(skip_serializing_if = "is_nothing")]
    pub instance_hours: f64,
    /// Closed at a check after the last recorded one (recorded replay only).
    pub extrapolated: bool,
    pub premature: Option<Premature>,
}

/// One night: the real close and each setting's replayed one (in the order of the settings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NightRow {
    pub run: String,
    pub opened_at: Timestamp,
    pub actual: Close,
    pub settings: Vec<Close>,
    /// The metrics could not be read: the gate held as it does in production.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_error: Option<String>,
}

/// A setting over every night.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Total {
    pub setting: String,
    pub nights: usize,
    pub quiet: usize,
    pub deadline: usize,
    pub forced: usize,
    pub premature: usize,
    pub reader_hours: f64,
    pub task_hours: f64,
    #[serde(skip_serializing_if = "is_nothing")]
    pub vcpu_hours: f64,
    #[serde(skip_serializing_if = "is_nothing")]
    pub instance_hours: f64,
}

fn is_nothing(h: &f64) -> bool {
    *h == 0.0
}

/// One replay: its check times, every night, the totals (the real nights first, as `actual`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replay {
    /// `recorded` or `schedule`.
    pub checks: String,
    /// How the checks were timed, in words.
    pub description: String,
    pub nights: Vec<NightRow>,
    pub totals: Vec<Total>,
}

/// What `nightshift tune` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneReport {
    pub scenario: String,
    pub timezone: String,
    pub since: Timestamp,
    /// Every setting's label; `current` first.
    pub settings: Vec<String>,
    pub replays: Vec<Replay>,
    /// Runs left out (still open), by id.
    pub skipped_open: Vec<String>,
}

/// The distinct CloudWatch queries every setting needs: a candidate changing a metric's stat or
/// period needs its own query; one changing only `below` reuses the current one's datapoints.
pub fn queries(settings: &[Setting]) -> Vec<MetricSpec> {
    let mut out: Vec<MetricSpec> = Vec::new();
    for s in settings {
        for spec in &s.scenario.scale_down.metrics {
            if !out.iter().any(|q| same_query(q, spec)) {
                out.push(spec.clone());
            }
        }
    }
    out
}

fn same_query(a: &MetricSpec, b: &MetricSpec) -> bool {
    a.namespace == b.namespace
        && a.name == b.name
        && a.dimensions == b.dimensions
        && a.stat == b.stat
        && a.period == b.period
}

/// The fetched windows as `scenario`'s specs (the gate matches windows by their whole spec).
fn windows_for(scenario: &Scenario, fetched: &MetricsFetch) -> MetricsFetch {
    match fetched {
        MetricsFetch::Windows(windows) => MetricsFetch::Windows(
            scenario
                .scale_down
                .metrics
                .iter()
                .map(|spec| MetricWindow {
                    spec: spec.clone(),
                    points: windows
                        .iter()
                        .find(|w| same_query(&w.spec, spec))
                        .map(|w| w.points.clone())
                        .unwrap_or_default(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The time range one night's single GetMetricData call covers for every setting: from the
/// earliest window a check at the scale-up needs, to the latest deadline (plus a period).
pub fn night_range(settings: &[Setting], opened_at: Timestamp) -> gate::QueryRange {
    let mut from = opened_at;
    let mut to = opened_at;
    for s in settings {
        let sd = &s.scenario.scale_down;
        from = from.min(gate::query_range(sd, opened_at).from);
        let deadline = gate::deadline_instant(&s.scenario.timezone, sd.deadline, opened_at);
        let longest = sd
            .metrics
            .iter()
            .map(|m| m.period)
            .max()
            .unwrap_or(Duration::from_secs(60));
        let end = deadline
            .checked_add(SignedDuration::try_from(longest).unwrap_or(SignedDuration::ZERO))
            .unwrap_or(deadline);
        to = to.max(end);
    }
    // Aligned to the minute so CloudWatch's buckets are the gate's.
    let up = |t: Timestamp| {
        let s = t.as_second();
        Timestamp::from_second(s + (60 - s.rem_euclid(60)) % 60).unwrap_or(t)
    };
    gate::QueryRange { from, to: up(to) }
}

/// Replays every night with every setting (`settings[0]` is the current one).
pub fn replay(
    scenario: &Scenario,
    settings: &[Setting],
    nights: &[NightInput],
    since: Timestamp,
    skipped_open: Vec<String>,
) -> TuneReport {
    let mut replays = vec![replay_with(settings, nights, Source::Recorded)];
    if let Some(schedule) = &scenario.schedule {
        replays.push(replay_with(
            settings,
            nights,
            Source::Schedule(schedule.check_every),
        ));
    }
    TuneReport {
        scenario: scenario.name.clone(),
        timezone: scenario.timezone_name.clone(),
        since,
        settings: settings.iter().map(|s| s.label.clone()).collect(),
        replays,
        skipped_open,
    }
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Recorded,
    Schedule(Duration),
}

fn replay_with(settings: &[Setting], nights: &[NightInput], source: Source) -> Replay {
    let (checks, description) = match source {
        Source::Recorded => (
            "recorded",
            "at the times the checks really ran (then every check_every until closed)".to_string(),
        ),
        Source::Schedule(every) => (
            "schedule",
            format!(
                "every {} from the scale-up, and at the deadline",
                crate::text::config_duration(every)
            ),
        ),
    };
    let rows: Vec<NightRow> = nights
        .iter()
        .map(|night| NightRow {
            run: night.run.clone(),
            opened_at: night.opened_at,
            actual: actual_close(night, settings.first()),
            settings: settings
                .iter()
                .map(|s| replay_night(s, night, source))
                .collect(),
            metrics_error: match &night.metrics {
                MetricsFetch::Failed(e) => Some(e.clone()),
                _ => None,
            },
        })
        .collect();
    let mut totals = vec![total("actual", rows.iter().map(|r| &r.actual))];
    for (i, s) in settings.iter().enumerate() {
        totals.push(total(
            &s.label,
            rows.iter().filter_map(|r| r.settings.get(i)),
        ));
    }
    Replay {
        checks: checks.to_string(),
        description,
        nights: rows,
        totals,
    }
}

fn total<'a>(label: &str, closes: impl Iterator<Item = &'a Close>) -> Total {
    let mut t = Total {
        setting: label.to_string(),
        nights: 0,
        quiet: 0,
        deadline: 0,
        forced: 0,
        premature: 0,
        reader_hours: 0.0,
        task_hours: 0.0,
        vcpu_hours: 0.0,
        instance_hours: 0.0,
    };
    for c in closes {
        t.nights += 1;
        match c.rule {
            Some(CloseRule::Quiet) => t.quiet += 1,
            Some(CloseRule::Deadline) => t.deadline += 1,
            Some(CloseRule::Forced) => t.forced += 1,
            None => {}
        }
        t.premature += usize::from(c.premature.is_some());
        t.reader_hours += c.reader_hours;
        t.task_hours += c.task_hours;
        t.vcpu_hours += c.vcpu_hours;
        t.instance_hours += c.instance_hours;
    }
    t
}

/// Reader-hours and task-hours held until `at`, and the worker kinds' vCPU- and instance-hours.
fn held(night: &NightInput, at: Option<Timestamp>) -> ((f64, f64), (f64, f64)) {
    let secs = at.map_or(0, |t| t.duration_since(night.opened_at).as_secs().max(0));
    let hours = |n: u32| (secs * i64::from(n)) as f64 / 3600.0;
    (
        (hours(night.added_readers), hours(night.added_tasks)),
        (hours(night.added_vcpus), hours(night.added_instances)),
    )
}

/// The night as it really ended (premature judged with the current setting's thresholds).
fn actual_close(night: &NightInput, current: Option<&Setting>) -> Close {
    let (at, rule) = match night.actual_close {
        Some((at, rule)) => (Some(at), Some(CloseRule::from(rule))),
        None => (night.closed_at, None),
    };
    let ((reader_hours, task_hours), (vcpu_hours, instance_hours)) = held(night, at);
    let premature = match (at, rule, current) {
        (Some(at), Some(CloseRule::Quiet), Some(s)) => busy_after(&s.scenario, night, at),
        _ => None,
    };
    Close {
        at,
        rule,
        reader_hours,
        task_hours,
        vcpu_hours,
        instance_hours,
        extrapolated: false,
        premature,
    }
}

/// The check times a setting sees, oldest first, and from which index they are extrapolated.
fn check_times(setting: &Setting, night: &NightInput, source: Source) -> (Vec<Timestamp>, usize) {
    let sd = &setting.scenario.scale_down;
    let deadline = gate::deadline_instant(&setting.scenario.timezone, sd.deadline, night.opened_at);
    let mut times: Vec<Timestamp> = Vec::new();
    let (mut next, every) = match source {
        Source::Recorded => {
            times.extend(
                night
                    .checks
                    .iter()
                    .copied()
                    .filter(|t| *t >= night.opened_at),
            );
            times.sort();
            times.dedup();
            let every = setting
                .scenario
                .schedule
                .as_ref()
                .map(|s| s.check_every)
                .or_else(|| match times.as_slice() {
                    [.., a, b] => Some(b.duration_since(*a).unsigned_abs()),
                    _ => None,
                })
                .filter(|d: &Duration| !d.is_zero())
                .unwrap_or(DEFAULT_EXTRAPOLATION);
            (times.last().copied().unwrap_or(night.opened_at), every)
        }
        Source::Schedule(every) => (night.opened_at, every.max(Duration::from_secs(60))),
    };
    let extrapolated_from = times.len();
    let step = SignedDuration::try_from(every).unwrap_or(SignedDuration::from_mins(10));
    while next < deadline && times.len() < MAX_REPLAYED_CHECKS {
        next = match next.checked_add(step) {
            Ok(t) => t.min(deadline),
            Err(_) => break,
        };
        times.push(next);
    }
    (times, extrapolated_from)
}

/// One setting over one night: the first check at which the gate scales down.
fn replay_night(setting: &Setting, night: &NightInput, source: Source) -> Close {
    let fetched = windows_for(&setting.scenario, &night.metrics);
    let (times, extrapolated_from) = check_times(setting, night, source);
    let mut close = None;
    for (i, &t) in times.iter().enumerate() {
        if let Some(forced) = night.forced_at.filter(|f| *f <= t) {
            close = Some((forced, CloseRule::Forced, false));
            break;
        }
        let decision = gate::decide(&setting.scenario, &fetched, night.opened_at, t, false);
        if let Some(rule) = decision.rule() {
            close = Some((t, rule.into(), i >= extrapolated_from));
            break;
        }
    }
    if close.is_none() {
        close = night.forced_at.map(|f| (f, CloseRule::Forced, false));
    }
    let at = close.map(|c| c.0);
    let ((reader_hours, task_hours), (vcpu_hours, instance_hours)) = held(night, at);
    let premature = match close {
        Some((at, CloseRule::Quiet, _)) => busy_after(&setting.scenario, night, at),
        _ => None,
    };
    Close {
        at,
        rule: close.map(|c| c.1),
        reader_hours,
        task_hours,
        vcpu_hours,
        instance_hours,
        extrapolated: close.is_some_and(|c| c.2),
        premature,
    }
}

/// The first datapoint at or after `at` (and before the deadline) that is at or above its
/// metric's threshold: the batch came back after a quiet close.
fn busy_after(scenario: &Scenario, night: &NightInput, at: Timestamp) -> Option<Premature> {
    let MetricsFetch::Windows(windows) = windows_for(scenario, &night.metrics) else {
        return None;
    };
    let deadline = gate::deadline_instant(
        &scenario.timezone,
        scenario.scale_down.deadline,
        night.opened_at,
    );
    // A datapoint before `at` that was at or above the threshold would have kept the gate
    // open (settled or pending, it counts as busy): only those from `at` on came back.
    windows
        .iter()
        .flat_map(|w| {
            w.points
                .iter()
                .filter(move |(t, v)| *t >= at && *t < deadline && *v >= w.spec.below)
                .map(move |(t, v)| Premature {
                    metric: gate::metric_label(&w.spec),
                    value: *v,
                    at: *t,
                })
        })
        .min_by_key(|p| p.at)
}
