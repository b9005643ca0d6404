//! `nightshift status`: the live state of a scenario's night, read-only.
//!
//! [`view`] (pure) turns what was read — the scenario's `STATE` item (open run, pause), its open
//! (else latest) run, that run's last step, and the live [`Snapshot`] — into a [`StatusView`]:
//! per resource the live capacity against the night's target and the recorded baseline, the
//! run's [`Phase`], the last step and its short reason, the next scheduled step and the ops
//! overrides in force. [`read`] gathers those inputs through the ports (GetItem, Query and
//! Describe calls only); [`watch`] follows them until the capacity is ready or the run closes.

mod next;
mod text;
mod watch;

#[cfg(test)]
mod tests;

pub use next::next_step;
pub use text::render_text;
pub use watch::{line, read, watch, End, LineSink, Sink};

use crate::config::Scenario;
use crate::domain::{Outcome, Step};
use crate::history::{EventRecord, RunRecord, RunStatus, ScenarioState};
use crate::plan::{readiness, Capacity, RunState, Snapshot};
use jiff::Timestamp;
use serde::Serialize;

/// Where the night is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// No open run: day-time capacity.
    Day,
    /// An open run whose capacity is not all there yet.
    ScalingUp,
    /// An open run with its night capacity in place.
    Ready,
    /// An open run whose scale-down started.
    ScalingDown,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Day => "day",
            Phase::ScalingUp => "scaling up",
            Phase::Ready => "ready",
            Phase::ScalingDown => "scaling down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    pub id: String,
    /// `open` or `closed`.
    pub status: String,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub ready_at: Option<Timestamp>,
    pub scale_down_started_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastStep {
    /// `scale-up`, `check`, `scale-down`; `None` for an event that named no step.
    pub step: Option<Step>,
    pub outcome: Outcome,
    pub reason: String,
    pub at: Timestamp,
    /// A call of the step failed, or the step was rejected.
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextStep {
    pub step: Step,
    /// `check`, `deadline check`, `overdue check`, `scale-up`, `scale-down`.
    pub role: String,
    pub at: Timestamp,
}

/// An ops override in force (a pause; a hold once it exists on the STATE item).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverrideView {
    pub until: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub cluster: String,
    pub service: String,
    /// Live counts; `None` when the service was not found.
    pub desired: Option<i32>,
    pub running: Option<i32>,
    pub pending: Option<i32>,
    /// The night's desired count (the config's, or the run's recorded night value).
    pub target_desired: i32,
    /// The day-time desired count the run recorded (`None` without an open or recorded run).
    pub baseline_desired: Option<i32>,
    pub scalable_target: Option<Capacity>,
    pub baseline_scalable_target: Option<Capacity>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaderView {
    pub id: String,
    /// `creating`, `available`, `modifying`, `deleting`, …
    pub status: String,
    pub class: String,
    /// Added by nightshift (tagged for this scenario).
    pub added: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterView {
    /// Its config table: `docdb`, `aurora` or `neptune`.
    pub kind: crate::config::TargetKind,
    pub cluster: String,
    pub found: bool,
    pub writer: Option<String>,
    pub readers: Vec<ReaderView>,
    pub readers_available: usize,
    /// Readers wanted for the night (`replicas`).
    pub readers_target: usize,
    /// Readers before the night, as the run recorded them.
    pub baseline_readers: Option<usize>,
    /// Serverless capacity, where it applies (not read yet: provisioned clusters).
    pub serverless: Option<String>,
    /// An Aurora cluster's `rds:cluster:ReadReplicaCount` scalable target, live and before the
    /// night.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_target: Option<Capacity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_replica_target: Option<Capacity>,
}

// --- worker kinds ---

/// A Batch compute environment, live against the night's minimum and the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentView {
    pub compute_environment: String,
    pub found: bool,
    /// `VALID ENABLED`, `UPDATING ENABLED`, …
    pub status: Option<String>,
    pub min_vcpus: Option<i32>,
    pub desired_vcpus: Option<i32>,
    pub max_vcpus: Option<i32>,
    /// The night's minvCpus (the run's recorded night value, else the config's).
    pub target_min_vcpus: i32,
    pub baseline_min_vcpus: Option<i32>,
}

/// An Auto Scaling group, live against the night's size and the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    pub name: String,
    pub size: Option<crate::plan::GroupSize>,
    pub in_service: Option<i32>,
    /// The night's sizes (the run's recorded ones, else MinSize and DesiredCapacity = `min`).
    pub target_min: i32,
    pub baseline: Option<crate::plan::GroupSize>,
}

// --- end worker kinds ---

/// What `nightshift status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    pub scenario: String,
    pub timezone: String,
    pub now: Timestamp,
    pub phase: Phase,
    /// The night's profile: the open run's recorded one, else tonight's by the calendar
    /// (`ordinary` without one; `skipped: …` on a night without a batch).
    pub profile: String,
    /// The open run, else the latest one.
    pub run: Option<RunView>,
    pub last_step: Option<LastStep>,
    pub next_step: Option<NextStep>,
    pub pause: Option<OverrideView>,
    /// The hold in force on the open run (`nightshift hold`), read like the pause above.
    pub hold: Option<OverrideView>,
    pub services: Vec<ServiceView>,
    pub clusters: Vec<ClusterView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupView>,
    /// The night's capacity is in place (live readiness).
    pub ready: bool,
    /// What is not ready yet, one line each.
    pub waiting: Vec<String>,
    /// The live state could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_error: Option<String>,
}

impl StatusView {
    /// The last step failed: `--watch` exits non-zero.
    pub fn failed(&self) -> bool {
        self.last_step.as_ref().is_some_and(|s| s.failed)
    }
}

/// Everything [`view`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub state: &'a ScenarioState,
    /// The open run, else the latest run.
    pub run: Option<&'a RunRecord>,
    pub last_event: Option<&'a EventRecord>,
    pub snapshot: Result<&'a Snapshot, &'a str>,
    pub now: Timestamp,
}

/// The view of `inputs` (pure).
pub fn view(inputs: Inputs<'_>) -> StatusView {
    let Inputs {
        scenario,
        state,
        run,
        last_event,
        snapshot,
        now,
    } = inputs;
    let open = run.filter(|r| r.status == RunStatus::Open);
    let run_state: Option<RunState> = run
        .and_then(|r| r.baseline.as_ref())
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    // The open run's night: its recorded profile's targets are the ones to reach.
    let recorded = open.and(run_state.as_ref()).map(|s| s.profile.as_ref());
    let night = recorded.map(|p| scenario.for_night(p));
    let scenario = night.as_ref().unwrap_or(scenario);
    let profile = match recorded {
        Some(p) => p.map_or(crate::config::ORDINARY.to_string(), |p| p.name.clone()),
        None => {
            let today = now.to_zoned_datetime(scenario.timezone.clone()).date();
            match crate::calendar::night(scenario, today) {
                crate::calendar::Night::Batch(p) => {
                    p.map_or(crate::config::ORDINARY.to_string(), |p| p.name.clone())
                }
                crate::calendar::Night::Skipped(why) => {
                    format!("skipped: {}", why.describe(scenario))
                }
            }
        }
    };
    let empty = Snapshot::default();
    let live = snapshot.unwrap_or(&empty);
    let ready_now = readiness(scenario, live);
    let ready = snapshot.is_ok() && ready_now.ready;
    let phase = match (open, &run_state) {
        (None, _) => Phase::Day,
        (Some(_), Some(s)) if s.scale_down_started_at.is_some() => Phase::ScalingDown,
        (Some(_), _) if ready => Phase::Ready,
        (Some(_), _) => Phase::ScalingUp,
    };
    let baseline = run_state.as_ref().map(|s| &s.baseline);
    let services = scenario
        .ecs
        .iter()
        .map(|t| {
            let live = live.service(&t.cluster, &t.service);
            let recorded = baseline.and_then(|b| b.service(&t.cluster, &t.service));
            let config_target = i32::try_from(t.desired.min(t.max)).unwrap_or(i32::MAX);
            ServiceView {
                cluster: t.cluster.clone(),
                service: t.service.clone(),
                desired: live.map(|s| s.desired),
                running: live.map(|s| s.running),
                pending: live.map(|s| s.pending),
                target_desired: recorded.map_or(config_target, |r| r.night_desired),
                baseline_desired: recorded.map(|r| r.desired),
                scalable_target: live.and_then(|s| s.scalable_target),
                baseline_scalable_target: recorded.and_then(|r| r.scalable_target),
            }
        })
        .collect();
    let clusters = scenario
        .clusters()
        .map(|t| {
            let live = live.cluster(&t.cluster);
            let recorded = baseline.and_then(|b| b.cluster(&t.cluster));
            let readers: Vec<ReaderView> = live
                .map(|c| {
                    c.instances
                        .iter()
                        .filter(|i| !i.writer)
                        .map(|i| ReaderView {
                            id: i.id.clone(),
                            status: i.status.clone(),
                            class: i.effective_class().to_string(),
                            added: i.is_tagged_for(&scenario.name),
                        })
                        .collect()
                })
                .unwrap_or_default();
            ClusterView {
                kind: t.engine.kind(),
                cluster: t.cluster.clone(),
                found: live.is_some(),
                writer: live.and_then(|c| c.sole_writer()).map(|w| w.id.clone()),
                readers_available: readers.iter().filter(|r| r.status == "available").count(),
                readers,
                readers_target: usize::from(t.replicas),
                baseline_readers: recorded
                    .map(|c| c.instances.iter().filter(|i| !i.writer).count()),
                // Live MinCapacity/MaxCapacity, and the night's MinCapacity when one is set.
                serverless: live.and_then(|c| c.serverless.as_ref()).map(|live| {
                    match t.serverless_min {
                        Some(night) => format!("{live} (night MinCapacity {night})"),
                        None => live.to_string(),
                    }
                }),
                replica_target: live.and_then(|c| c.replica_target),
                baseline_replica_target: recorded.and_then(|c| c.replica_target),
            }
        })
        .collect();
    let environments = scenario
        .batch
        .iter()
        .map(|t| {
            let live = live.environment(t.name()).filter(|e| !e.is_gone());
            let recorded = baseline.and_then(|b| {
                b.environments
                    .iter()
                    .find(|e| t.matches(&e.compute_environment))
            });
            EnvironmentView {
                compute_environment: t.name().to_string(),
                found: live.is_some(),
                status: live.map(|e| format!("{} {}", e.status, e.state)),
                min_vcpus: live.map(|e| e.min),
                desired_vcpus: live.and_then(|e| e.desired),
                max_vcpus: live.map(|e| e.max),
                target_min_vcpus: recorded
                    .map_or(i32::try_from(t.min_vcpus).unwrap_or(i32::MAX), |r| {
                        r.night_min
                    }),
                baseline_min_vcpus: recorded.map(|r| r.min),
            }
        })
        .collect();
    let groups = scenario
        .asg
        .iter()
        .map(|t| {
            let live = live.group(&t.name).filter(|g| !g.is_gone());
            let recorded = baseline.and_then(|b| b.groups.iter().find(|g| g.name == t.name));
            GroupView {
                name: t.name.clone(),
                size: live.map(|g| g.size),
                in_service: live.map(|g| g.in_service),
                target_min: recorded
                    .map_or(i32::try_from(t.min).unwrap_or(i32::MAX), |r| r.night.min),
                baseline: recorded.map(|r| r.size),
            }
        })
        .collect();
    let active = |p: &crate::overrides::Pause| OverrideView {
        until: p.until,
        by: p.by.clone(),
        reason: p.reason.clone(),
    };
    StatusView {
        profile,
        scenario: scenario.name.clone(),
        timezone: scenario.timezone_name.clone(),
        now,
        phase,
        run: run.map(|r| RunView {
            id: r.run.clone(),
            status: r.status.as_str().to_string(),
            opened_at: r.opened_at,
            closed_at: r.closed_at,
            ready_at: run_state.as_ref().and_then(|s| s.ready_at),
            scale_down_started_at: run_state.as_ref().and_then(|s| s.scale_down_started_at),
        }),
        last_step: last_event.map(|e| LastStep {
            step: e.step,
            outcome: e.outcome,
            reason: e.reason.clone(),
            at: e.received_at,
            failed: e.outcome == Outcome::Rejected
                || e.actions.iter().any(|a| a.result.is_failure()),
        }),
        next_step: next_step(scenario, now),
        pause: state
            .pause
            .as_ref()
            .filter(|p| p.is_active(now))
            .map(active),
        // A hold counts only for the run it holds, while it is in force.
        hold: state
            .hold
            .as_deref()
            .filter(|h| run.is_some_and(|r| r.closed_at.is_none() && h.holds(&r.run, now)))
            .map(|h| OverrideView {
                until: h.until,
                by: h.by.clone(),
                reason: h.reason.clone(),
            }),
        services,
        clusters,
        environments,
        groups,
        ready,
        waiting: match snapshot {
            Ok(_) => ready_now.waiting,
            Err(_) => Vec::new(),
        },
        snapshot_error: snapshot.err().map(str::to_string),
    }
}
