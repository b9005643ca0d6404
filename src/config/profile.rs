//! Profiles (`[[scenario.profile]]`): nights that differ from the ordinary one, and the night
//! values a run records when it opens with one.
//!
//! A profile's targets are *night values keyed by the target's identity*: a [`TargetId`] (the
//! kind of target and its name in the scenario) and the [`NightValues`] it sets for that night.
//! A new kind of target is a new [`TargetKind`] and the keys its night values take; applying a
//! profile ([`Scenario::for_night`]) is the one place that maps them onto the scenario's targets.

use super::{Dcu, Scenario, TargetId, TargetKind};
use crate::calendar::DateRule;
use jiff::civil::Time;
use serde::{Deserialize, Serialize};

/// The name `nightshift calendar`, `plan` and `status` give a night without a profile.
pub const ORDINARY: &str = "ordinary";

/// A validated `[[scenario.profile]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// Any of these dates is one of its nights (the first profile that matches wins).
    pub dates: Vec<DateRule>,
    /// This profile's scale-up time (the schedule's otherwise).
    pub scale_up: Option<Time>,
    /// This profile's deadline (`scale_down.deadline` otherwise).
    pub deadline: Option<Time>,
    pub targets: Vec<TargetNight>,
}

/// The values a profile sets for one target's night; None keeps the scenario's. Which keys a
/// target takes depends on its kind: a cluster (DocumentDB, Aurora, Neptune) `replicas`,
/// `resize`, `serverless_min`; an ECS service `desired`, `max`; a Batch compute environment
/// `min_vcpus`, `max_vcpus`; an Auto Scaling group `min`, `max`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless_min: Option<Dcu>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    /// The guardrail of an ECS service or an Auto Scaling group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_vcpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_vcpus: Option<u32>,
    /// An Auto Scaling group's MinSize and DesiredCapacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
}

/// A profile's night values for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetNight {
    pub target: TargetId,
    #[serde(flatten)]
    pub night: NightValues,
}

/// What a run records when it opens: the profile of its night and the values it sets, so that
/// every later step of the night uses them even when the config changes meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightProfile {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetNight>,
}

impl Profile {
    /// What a run opened with this profile records.
    pub fn night(&self) -> NightProfile {
        NightProfile {
            name: self.name.clone(),
            scale_up: self.scale_up,
            deadline: self.deadline,
            targets: self.targets.clone(),
        }
    }
}

impl Scenario {
    /// The scenario as the night with `profile` sees it: the profile's targets, scale-up time
    /// and deadline over the scenario's. A target the config no longer has is left out (nothing
    /// outside the config is ever touched); a value is never set above the target's guardrail,
    /// whichever of the two the config changed since the run recorded the profile. None is the
    /// ordinary night, the scenario itself.
    pub fn for_night(&self, profile: Option<&NightProfile>) -> Scenario {
        let mut s = self.clone();
        let Some(p) = profile else {
            return s;
        };
        if let Some(deadline) = p.deadline {
            s.scale_down.deadline = deadline;
        }
        if let (Some(up), Some(schedule)) = (p.scale_up, s.schedule.as_mut()) {
            schedule.scale_up = up;
        }
        for t in &p.targets {
            let v = &t.night;
            let name = t.target.name.as_str();
            match t.target.kind {
                TargetKind::DocDb | TargetKind::Aurora | TargetKind::Neptune => {
                    let clusters = match t.target.kind {
                        TargetKind::DocDb => &mut s.docdb,
                        TargetKind::Aurora => &mut s.aurora,
                        _ => &mut s.neptune,
                    };
                    // RDS cluster identifiers are case-insensitive.
                    if let Some(c) = clusters
                        .iter_mut()
                        .find(|c| c.cluster.eq_ignore_ascii_case(name))
                    {
                        c.replicas = v.replicas.unwrap_or(c.replicas);
                        c.resize = v.resize.clone().or(c.resize.take());
                        c.serverless_min = v.serverless_min.or(c.serverless_min);
                    }
                }
                TargetKind::Ecs => {
                    if let Some(e) = s.ecs.iter_mut().find(|e| e.id() == t.target) {
                        e.max = v.max.unwrap_or(e.max);
                        e.desired = v.desired.unwrap_or(e.desired).min(e.max);
                    }
                }
                TargetKind::Batch => {
                    if let Some(b) = s.batch.iter_mut().find(|b| b.matches(name)) {
                        b.max_vcpus = v.max_vcpus.or(b.max_vcpus);
                        let min = v.min_vcpus.unwrap_or(b.min_vcpus);
                        b.min_vcpus = b.max_vcpus.map_or(min, |max| min.min(max));
                    }
                }
                TargetKind::Asg => {
                    if let Some(g) = s.asg.iter_mut().find(|g| g.name == name) {
                        g.max = v.max.unwrap_or(g.max);
                        g.min = v.min.unwrap_or(g.min).min(g.max);
                    }
                }
            }
        }
        s
    }

    /// The profile called `name`.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The scale-up time of a night with `profile` (the schedule's otherwise), if scheduled.
    pub fn scale_up_of(&self, profile: Option<&Profile>) -> Option<Time> {
        profile
            .and_then(|p| p.scale_up)
            .or(self.schedule.as_ref().map(|s| s.scale_up))
    }

    /// The deadline of a night with `profile`.
    pub fn deadline_of(&self, profile: Option<&Profile>) -> Time {
        profile
            .and_then(|p| p.deadline)
            .unwrap_or(self.scale_down.deadline)
    }

    /// The night targets of a night with `profile`, one line per target in the order the
    /// scale-up starts them (databases, then workers): `docdb batch-db: replicas 6`,
    /// `batch nightly-ce: min_vcpus 64 (max 256)`, `asg batch-workers: min 4 (max 10)`,
    /// `ecs batch/worker: desired 20 (max 20)`.
    pub fn targets_of(&self, profile: Option<&Profile>) -> Vec<String> {
        let s = self.for_night(profile.map(Profile::night).as_ref());
        let mut out: Vec<String> = s
            .clusters()
            .map(|c| {
                let mut line = format!("{} {}: replicas {}", c.engine.key(), c.cluster, c.replicas);
                if let Some(r) = &c.resize {
                    line.push_str(&format!(", resize {r}"));
                }
                if let Some(m) = c.serverless_min {
                    line.push_str(&format!(", serverless_min {m}"));
                }
                line
            })
            .collect();
        out.extend(s.batch.iter().map(|b| {
            let max = b.max_vcpus.map_or(String::new(), |m| format!(" (max {m})"));
            format!("batch {}: min_vcpus {}{max}", b.name(), b.min_vcpus)
        }));
        out.extend(
            s.asg
                .iter()
                .map(|g| format!("asg {}: min {} (max {})", g.name, g.min, g.max)),
        );
        out.extend(s.ecs.iter().map(|e| {
            format!(
                "ecs {}/{}: desired {} (max {})",
                e.cluster, e.service, e.desired, e.max
            )
        }));
        out
    }
}
