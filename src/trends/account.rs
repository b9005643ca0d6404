//! What a night held above its baseline, in hours, from what its steps recorded: no AWS call.
//!
//! Each call nightshift made (an event's actions, typed by its evidence's `planned` calls) is
//! placed at its step's time, and turned into *segments*: an amount of one kind of capacity held
//! over an interval.
//!
//! - a reader nightshift added: its class, from its CreateDBInstance to its DeleteDBInstance;
//! - an instance of the baseline resized for the night: the class it has instead of its own,
//!   from the ModifyDBInstance that resized it to the one that put it back;
//! - DocumentDB Serverless: the MinCapacity raised above the baseline's, times the baseline's
//!   serverless instances (MinCapacity is per instance), from the raise to the restore; a
//!   serverless reader nightshift added holds the night's MinCapacity for its life;
//! - an ECS service: the desired count above the baseline's, from the UpdateService that raised
//!   it to the one that restored it (or the start of the scale-down, when someone else changed it
//!   and nightshift left it alone), with the task's Fargate vCPUs and GB when they were recorded.
//!
//! Capacity still held when the history ends counts until the close (or `now` for an open night).
//! A night whose records hold no successful scaling call at all (a run written by hand, or one
//! whose every call failed) is estimated from its targets instead (`Basis::Targets`), as the
//! report did before the calls were counted.
//!
//! From the segments: `held` (the night), `always_on` (each kind's peak held 24 hours: what
//! keeping the night's capacity all day would cost), their difference, and, for a night that
//! closed on quiet, what closing at the deadline instead would have added (every segment alive
//! when the scale-down started, continued to the deadline).

use crate::config::parse_duration;
use crate::domain::{Action, ActionResult};
use crate::evidence::StepEvidence;
use crate::history::EventRecord;
use crate::plan::serverless::SERVERLESS_CLASS;
use crate::plan::{Baseline, Call, RunState};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Hours in a day: the "always on" alternative holds the night's peak this long.
pub const DAY_HOURS: f64 = 24.0;

/// Capacity-hours above the baseline, by kind (JSON field names are a contract).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hours {
    /// Instance-hours of the readers nightshift added, by class.
    #[serde(default)]
    pub reader_hours: BTreeMap<String, f64>,
    /// Instance-hours of baseline instances at a night class instead of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resized_hours: Vec<ResizedHours>,
    /// DocumentDB Serverless DCU-hours above the baseline's MinCapacity.
    #[serde(default)]
    pub dcu_hours: f64,
    /// ECS task-hours above the baseline (every launch type).
    #[serde(default)]
    pub task_hours: f64,
    /// Of them, the Fargate tasks whose size was recorded: vCPU-hours and GB-hours.
    #[serde(default)]
    pub vcpu_hours: f64,
    #[serde(default)]
    pub gb_hours: f64,
    /// Task-hours without a Fargate size (EC2-backed, or the size was not recorded).
    #[serde(default)]
    pub unsized_task_hours: f64,
}

/// Instance-hours at class `to` instead of `from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResizedHours {
    pub from: String,
    pub to: String,
    pub hours: f64,
}

/// How a night's hours were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// From the calls its steps recorded.
    #[default]
    Calls,
    /// Estimated from the night's targets: no successful scaling call is recorded.
    Targets,
    /// No recorded state to count from.
    Unknown,
}

/// One night's hours above the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub basis: Basis,
    /// What the night held.
    pub held: Hours,
    /// The night's peak capacity of each kind held 24 hours.
    pub always_on: Hours,
    /// `always_on - held`.
    pub saved_vs_always_on: Hours,
    /// A night closed on quiet: what closing at the deadline would have added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_vs_deadline: Option<Hours>,
    /// Seconds from the end of the last busy period a check saw to the start of the
    /// scale-down: capacity held after the batch (None when no check saw the batch busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_s: Option<i64>,
    /// What the hours leave out or approximate (a service without a Fargate size, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The night's milestones the account needs (from its run and its events).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub opened_at: Timestamp,
    /// When the scale-down started, if it did.
    pub scale_down_at: Option<Timestamp>,
    /// The close, or `now` for an open night: where held capacity stops counting.
    pub end: Timestamp,
    /// The deadline of a night that closed on quiet (None otherwise).
    pub quiet_deadline: Option<Timestamp>,
}

impl Hours {
    /// Instance-hours of the readers nightshift added, every class.
    pub fn readers_total(&self) -> f64 {
        // A fold from +0.0: an empty f64 sum is -0.0, which JSON and EMF would show.
        self.reader_hours.values().fold(0.0, |a, b| a + b)
    }

    /// Instance-hours of resized baseline instances, every class.
    pub fn resized_total(&self) -> f64 {
        self.resized_hours.iter().fold(0.0, |a, r| a + r.hours)
    }

    pub fn is_zero(&self) -> bool {
        self.readers_total() == 0.0
            && self.resized_total() == 0.0
            && self.dcu_hours == 0.0
            && self.task_hours == 0.0
    }

    pub fn add(&mut self, other: &Hours) {
        for (class, h) in &other.reader_hours {
            *self.reader_hours.entry(class.clone()).or_default() += h;
        }
        for r in &other.resized_hours {
            self.add_resized(&r.from, &r.to, r.hours);
        }
        self.dcu_hours += other.dcu_hours;
        self.task_hours += other.task_hours;
        self.vcpu_hours += other.vcpu_hours;
        self.gb_hours += other.gb_hours;
        self.unsized_task_hours += other.unsized_task_hours;
    }

    fn add_resized(&mut self, from: &str, to: &str, hours: f64) {
        match self
            .resized_hours
            .iter_mut()
            .find(|r| r.from == from && r.to == to)
        {
            Some(r) => r.hours += hours,
            None => self.resized_hours.push(ResizedHours {
                from: from.to_string(),
                to: to.to_string(),
                hours,
            }),
        }
    }

    /// `self - other`, field by field, never below zero.
    pub fn minus(&self, other: &Hours) -> Hours {
        let sub = |a: f64, b: f64| (a - b).max(0.0);
        let mut out = self.clone();
        for (class, h) in out.reader_hours.iter_mut() {
            *h = sub(*h, other.reader_hours.get(class).copied().unwrap_or(0.0));
        }
        for r in out.resized_hours.iter_mut() {
            let theirs = other
                .resized_hours
                .iter()
                .find(|o| o.from == r.from && o.to == r.to)
                .map_or(0.0, |o| o.hours);
            r.hours = sub(r.hours, theirs);
        }
        out.dcu_hours = sub(self.dcu_hours, other.dcu_hours);
        out.task_hours = sub(self.task_hours, other.task_hours);
        out.vcpu_hours = sub(self.vcpu_hours, other.vcpu_hours);
        out.gb_hours = sub(self.gb_hours, other.gb_hours);
        out.unsized_task_hours = sub(self.unsized_task_hours, other.unsized_task_hours);
        out
    }

    /// Every figure to two decimals (what the report and the events show).
    pub fn rounded(&self) -> Hours {
        Hours {
            reader_hours: self
                .reader_hours
                .iter()
                .map(|(c, h)| (c.clone(), round2(*h)))
                .collect(),
            resized_hours: self
                .resized_hours
                .iter()
                .map(|r| ResizedHours {
                    hours: round2(r.hours),
                    ..r.clone()
                })
                .collect(),
            dcu_hours: round2(self.dcu_hours),
            task_hours: round2(self.task_hours),
            vcpu_hours: round2(self.vcpu_hours),
            gb_hours: round2(self.gb_hours),
            unsized_task_hours: round2(self.unsized_task_hours),
        }
    }
}

impl Account {
    /// Every figure to two decimals.
    pub fn rounded(&self) -> Account {
        Account {
            held: self.held.rounded(),
            always_on: self.always_on.rounded(),
            saved_vs_always_on: self.saved_vs_always_on.rounded(),
            saved_vs_deadline: self.saved_vs_deadline.as_ref().map(Hours::rounded),
            ..self.clone()
        }
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// What a segment holds.
#[derive(Debug, Clone, PartialEq)]
enum Unit {
    Reader(String),
    Resized {
        from: String,
        to: String,
    },
    Dcu,
    /// Tasks of one service; `size` is one task's (vCPUs, GB) on Fargate.
    Tasks {
        service: String,
        size: Option<(f64, f64)>,
    },
}

impl Unit {
    /// Capacity of one pool never adds up with another's for the peak.
    fn pool(&self) -> String {
        match self {
            Unit::Reader(class) => format!("reader {class}"),
            Unit::Resized { from, to } => format!("resized {from} {to}"),
            Unit::Dcu => "dcu".to_string(),
            Unit::Tasks { service, .. } => format!("tasks {service}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    unit: Unit,
    count: f64,
    from: Timestamp,
    to: Timestamp,
}

fn hours_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.duration_since(from).as_secs().max(0) as f64) / 3600.0
}

/// `count` of `unit` for `hours`, as Hours.
fn hours_of(unit: &Unit, count: f64, hours: f64) -> Hours {
    let mut h = Hours::default();
    let amount = count * hours;
    match unit {
        Unit::Reader(class) => {
            h.reader_hours.insert(class.clone(), amount);
        }
        Unit::Resized { from, to } => h.add_resized(from, to, amount),
        Unit::Dcu => h.dcu_hours = amount,
        Unit::Tasks { size, .. } => {
            h.task_hours = amount;
            match size {
                Some((vcpu, gb)) => {
                    h.vcpu_hours = amount * vcpu;
                    h.gb_hours = amount * gb;
                }
                None => h.unsized_task_hours = amount,
            }
        }
    }
    h
}

/// The account of one night: its run's state, its events in time order, its milestones.
pub fn account(state: Option<&RunState>, events: &[EventRecord], span: Span) -> Account {
    let Some(state) = state else {
        return Account {
            basis: Basis::Unknown,
            notes: vec!["the run has no recorded baseline: its hours are unknown".into()],
            ..Account::default()
        };
    };
    let mut notes = task_notes(&state.baseline);
    let done_calls = typed_calls(events);
    let (basis, segments) = if done_calls.is_empty() && !state.opened_by_dry_run {
        notes.push(
            "no successful scaling call is recorded: the hours are estimated from the night's targets"
                .into(),
        );
        (Basis::Targets, from_targets(&state.baseline, span))
    } else {
        (Basis::Calls, from_calls(&state.baseline, &done_calls, span))
    };
    let mut held = Hours::default();
    for s in &segments {
        held.add(&hours_of(&s.unit, s.count, hours_between(s.from, s.to)));
    }
    let mut always_on = Hours::default();
    for (unit, peak) in peaks(&segments) {
        always_on.add(&hours_of(&unit, peak, DAY_HOURS));
    }
    let saved_vs_deadline = span.quiet_deadline.map(|deadline| {
        let mut extra = Hours::default();
        if let Some(down) = span.scale_down_at.filter(|d| *d < deadline) {
            for s in segments.iter().filter(|s| s.from < down && s.to >= down) {
                extra.add(&hours_of(&s.unit, s.count, hours_between(down, deadline)));
            }
        }
        extra
    });
    Account {
        basis,
        saved_vs_always_on: always_on.minus(&held),
        held,
        always_on,
        saved_vs_deadline,
        idle_s: idle(events, span.scale_down_at),
        notes,
    }
}

/// Why some task-hours have no Fargate size.
fn task_notes(baseline: &Baseline) -> Vec<String> {
    let mut notes = Vec::new();
    for s in &baseline.services {
        let name = format!("{}/{}", s.cluster, s.service);
        let note = match &s.task {
            None => format!("{name}: task size not recorded (the run was opened by an earlier nightshift): task-hours only"),
            Some(t) if t.fargate_size().is_some() => continue,
            Some(t) if !t.is_fargate() && !t.launch.is_empty() => {
                format!("{name}: runs on {} (not Fargate), billed by its instances: task-hours only", t.launch)
            }
            Some(t) => match &t.unread {
                Some(why) => format!("{name}: task size not read ({why}): task-hours only"),
                None => format!("{name}: no Fargate size for {}: task-hours only", t.task_definition),
            },
        };
        notes.push(note);
    }
    notes
}

/// Every scaling call a step made successfully, typed, with its step's time, in order.
fn typed_calls(events: &[EventRecord]) -> Vec<(Timestamp, Call)> {
    let mut out = Vec::new();
    for event in events {
        let evidence = event
            .evidence
            .as_ref()
            .map(StepEvidence::read)
            .unwrap_or_default();
        let mut planned: Vec<Option<&Call>> = evidence.converge.planned.iter().map(Some).collect();
        for action in event.actions.iter().filter(|a| done(a)) {
            let found = planned.iter_mut().find(|c| {
                c.is_some_and(|c| c.operation() == action.call && c.resource() == action.resource)
            });
            if let Some(slot) = found {
                if let Some(call) = slot.take() {
                    out.push((event.received_at, call.clone()));
                }
            }
        }
    }
    out
}

fn done(action: &Action) -> bool {
    matches!(
        action.result,
        ActionResult::Done | ActionResult::AlreadyDone { .. }
    )
}

/// An open segment: what, how much, since when.
type Open = (Unit, f64, Timestamp);

/// Ends an open segment at `to` (kept when it held something for some time).
fn close(open: Option<Open>, to: Timestamp, segments: &mut Vec<Segment>) {
    if let Some((unit, count, from)) = open {
        if count > 0.0 && to > from {
            segments.push(Segment {
                unit,
                count,
                from,
                to,
            });
        }
    }
}

fn from_calls(baseline: &Baseline, calls: &[(Timestamp, Call)], span: Span) -> Vec<Segment> {
    let mut segments = Vec::new();
    // Keyed by instance, by `cluster/service`, by cluster.
    let mut readers: BTreeMap<String, Open> = BTreeMap::new();
    let mut serverless_readers: BTreeMap<String, Open> = BTreeMap::new();
    let mut resized: BTreeMap<String, Open> = BTreeMap::new();
    let mut services: BTreeMap<String, Open> = BTreeMap::new();
    let mut dcu: BTreeMap<String, Open> = BTreeMap::new();
    for (at, call) in calls {
        let at = *at;
        match call {
            Call::CreateDbInstance {
                cluster,
                instance,
                class,
                ..
            } => {
                if baseline.has_instance(cluster, instance) || readers.contains_key(instance) {
                    continue;
                }
                readers.insert(instance.clone(), (Unit::Reader(class.clone()), 1.0, at));
                if class == SERVERLESS_CLASS {
                    let floor = baseline
                        .cluster(cluster)
                        .and_then(|c| c.serverless)
                        .map_or(0.0, |s| s.night_min.as_f64());
                    serverless_readers.insert(instance.clone(), (Unit::Dcu, floor, at));
                }
            }
            Call::DeleteDbInstance { instance, .. } => {
                close(readers.remove(instance), at, &mut segments);
                close(serverless_readers.remove(instance), at, &mut segments);
            }
            Call::ModifyDbInstanceClass {
                cluster,
                instance,
                class,
                ..
            } => {
                if readers.contains_key(instance) {
                    close(readers.remove(instance), at, &mut segments);
                    readers.insert(instance.clone(), (Unit::Reader(class.clone()), 1.0, at));
                    continue;
                }
                let Some(own) = baseline
                    .cluster(cluster)
                    .and_then(|c| c.instance(instance))
                    .map(|i| i.class.clone())
                else {
                    continue;
                };
                close(resized.remove(instance), at, &mut segments);
                if *class != own {
                    let unit = Unit::Resized {
                        from: own,
                        to: class.clone(),
                    };
                    resized.insert(instance.clone(), (unit, 1.0, at));
                }
            }
            Call::ModifyDbClusterCapacity {
                cluster, min, from, ..
            } => {
                let c = baseline.cluster(cluster);
                let base = c
                    .and_then(|c| c.serverless)
                    .map_or(*from, |s| s.before.min)
                    .as_f64();
                let instances = c.map_or(0, |c| {
                    c.instances
                        .iter()
                        .filter(|i| i.class == SERVERLESS_CLASS)
                        .count()
                }) as f64;
                close(dcu.remove(cluster), at, &mut segments);
                let level = (min.as_f64() - base).max(0.0) * instances;
                dcu.insert(cluster.clone(), (Unit::Dcu, level, at));
            }
            Call::UpdateService {
                cluster,
                service,
                desired,
                ..
            } => {
                let key = format!("{cluster}/{service}");
                let Some(b) = baseline.service(cluster, service) else {
                    continue;
                };
                close(services.remove(&key), at, &mut segments);
                let size = b.task.as_ref().and_then(|t| t.fargate_size());
                let unit = Unit::Tasks {
                    service: key.clone(),
                    size,
                };
                services.insert(key, (unit, f64::from((desired - b.desired).max(0)), at));
            }
            // A replica target's bounds hold no capacity of their own (the readers do). The
            // worker kinds' hours (Batch vCPUs, Auto Scaling instances) are the report's
            // `vcpu_hours` and `instance_hours`, from the baseline, and not priced.
            Call::RegisterScalableTarget { .. }
            | Call::RegisterReplicaTarget { .. }
            | Call::FailoverDbCluster { .. }
            | Call::UpdateComputeEnvironment { .. }
            | Call::UpdateAutoScalingGroup { .. } => {}
        }
    }
    // What nightshift left up: instances until the close (they are still there), values it
    // restores until the scale-down started (past it, a value someone changed is theirs).
    let left_alone = span.scale_down_at.unwrap_or(span.end);
    for open in readers
        .into_values()
        .chain(serverless_readers.into_values())
        .chain(resized.into_values())
    {
        close(Some(open), span.end, &mut segments);
    }
    for open in services.into_values().chain(dcu.into_values()) {
        close(Some(open), left_alone, &mut segments);
    }
    segments
}

/// The night's targets above the baseline, from the opening to the scale-down (the close, or
/// now): what the report counted before the calls were.
fn from_targets(baseline: &Baseline, span: Span) -> Vec<Segment> {
    let to = span.scale_down_at.unwrap_or(span.end);
    let mut segments = Vec::new();
    let mut push = |unit: Unit, count: f64| {
        if count > 0.0 && to > span.opened_at {
            segments.push(Segment {
                unit,
                count,
                from: span.opened_at,
                to,
            });
        }
    };
    for s in &baseline.services {
        let unit = Unit::Tasks {
            service: format!("{}/{}", s.cluster, s.service),
            size: s.task.as_ref().and_then(|t| t.fargate_size()),
        };
        push(unit, f64::from((s.night_desired - s.desired).max(0)));
    }
    for c in &baseline.clusters {
        let readers = c.instances.iter().filter(|i| !i.writer).count() as f64;
        // The baseline does not name the class of the readers the night adds.
        let class = c
            .night_class
            .clone()
            .unwrap_or_else(|| "class not recorded".to_string());
        push(
            Unit::Reader(class),
            (f64::from(c.night_readers) - readers).max(0.0),
        );
    }
    segments
}

/// Each pool's peak: the most of it held at once.
fn peaks(segments: &[Segment]) -> Vec<(Unit, f64)> {
    let mut pools: BTreeMap<String, (Unit, Vec<&Segment>)> = BTreeMap::new();
    for s in segments {
        pools
            .entry(s.unit.pool())
            .or_insert_with(|| (s.unit.clone(), Vec::new()))
            .1
            .push(s);
    }
    pools
        .into_values()
        .map(|(unit, list)| {
            // Ends before starts at the same instant: a delete and a create in one step are not
            // held at once.
            let mut edges: Vec<(Timestamp, u8, f64)> = list
                .iter()
                .flat_map(|s| [(s.from, 1, s.count), (s.to, 0, -s.count)])
                .collect();
            edges.sort_by_key(|e| (e.0, e.1));
            let (mut level, mut peak) = (0.0_f64, 0.0_f64);
            for (_, _, delta) in edges {
                level += delta;
                peak = peak.max(level);
            }
            (unit, peak)
        })
        .collect()
}

/// Seconds from the end of the last busy period any check saw to the scale-down's start.
fn idle(events: &[EventRecord], scale_down_at: Option<Timestamp>) -> Option<i64> {
    let down = scale_down_at?;
    let mut last_busy: Option<Timestamp> = None;
    let mut seen = BTreeSet::new();
    for event in events {
        let Some(gate) = event
            .evidence
            .as_ref()
            .and_then(|e| StepEvidence::read(e).gate)
        else {
            continue;
        };
        for m in &gate.metrics {
            let Ok(period) = parse_duration(&m.period) else {
                continue;
            };
            for p in &m.periods {
                let busy = p.value.is_some_and(|v| v >= m.below);
                if busy && seen.insert((m.metric.clone(), p.start)) {
                    let Ok(end) = p.start.checked_add(period) else {
                        continue;
                    };
                    last_busy = Some(last_busy.map_or(end, |l: Timestamp| l.max(end)));
                }
            }
        }
    }
    let last = last_busy?;
    (down > last).then(|| down.duration_since(last).as_secs())
}

#[cfg(test)]
mod tests;
