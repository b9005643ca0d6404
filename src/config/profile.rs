//! Profiles (`[[scenario.profile]]`): nights that differ from the ordinary one, and the night
//! values a run records when it opens with one.
//!
//! A profile's targets are *night values keyed by the target's identity*: a [`TargetId`] (the
//! kind of resource and the names that identify it in the scenario) and the [`NightValues`] it
//! sets for that night. A new kind of target is a new `TargetId` variant and the keys its night
//! values take; applying a profile ([`Scenario::for_night`]) is the one place that maps them
//! onto the scenario's targets.

use super::{Dcu, Scenario};
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

/// One target of the scenario, by identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetId {
    /// A `[[scenario.docdb]]` cluster (identifiers are case-insensitive).
    Docdb { cluster: String },
    /// A `[[scenario.ecs]]` service.
    Ecs { cluster: String, service: String },
}

impl std::fmt::Display for TargetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetId::Docdb { cluster } => write!(f, "docdb {cluster}"),
            TargetId::Ecs { cluster, service } => write!(f, "ecs {cluster}/{service}"),
        }
    }
}

/// The values a profile sets for one target's night; None keeps the scenario's.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl NightValues {
    /// `replicas 6, resize db.r6g.2xlarge`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.replicas {
            parts.push(format!("replicas {r}"));
        }
        if let Some(r) = &self.resize {
            parts.push(format!("resize {r}"));
        }
        if let Some(s) = self.serverless_min {
            parts.push(format!("serverless_min {s}"));
        }
        if let Some(d) = self.desired {
            parts.push(format!("desired {d}"));
        }
        if let Some(m) = self.max {
            parts.push(format!("max {m}"));
        }
        parts.join(", ")
    }
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
    /// outside the config is ever touched); None is the ordinary night, the scenario itself.
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
            match &t.target {
                TargetId::Docdb { cluster } => {
                    if let Some(c) = s
                        .docdb
                        .iter_mut()
                        .find(|c| c.cluster.eq_ignore_ascii_case(cluster))
                    {
                        c.replicas = v.replicas.unwrap_or(c.replicas);
                        c.resize = v.resize.clone().or(c.resize.take());
                        c.serverless_min = v.serverless_min.or(c.serverless_min);
                    }
                }
                TargetId::Ecs { cluster, service } => {
                    if let Some(e) = s
                        .ecs
                        .iter_mut()
                        .find(|e| e.cluster == *cluster && e.service == *service)
                    {
                        e.max = v.max.unwrap_or(e.max);
                        // Never above the guardrail, whichever of the two the config changed.
                        e.desired = v.desired.unwrap_or(e.desired).min(e.max);
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

    /// The night targets of a night with `profile`, one line per target:
    /// `docdb batch-db: replicas 6`, `ecs batch/worker: desired 20 (max 20)`.
    pub fn targets_of(&self, profile: Option<&Profile>) -> Vec<String> {
        let s = self.for_night(profile.map(Profile::night).as_ref());
        let mut out: Vec<String> = s
            .docdb
            .iter()
            .map(|c| {
                let mut line = format!("docdb {}: replicas {}", c.cluster, c.replicas);
                if let Some(r) = &c.resize {
                    line.push_str(&format!(", resize {r}"));
                }
                if let Some(m) = c.serverless_min {
                    line.push_str(&format!(", serverless_min {m}"));
                }
                line
            })
            .collect();
        out.extend(s.ecs.iter().map(|e| {
            format!(
                "ecs {}/{}: desired {} (max {})",
                e.cluster, e.service, e.desired, e.max
            )
        }));
        out
    }
}
