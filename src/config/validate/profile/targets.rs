//! A profile's targets: each names one of the scenario's own targets (by the keys its kind is
//! matched by) and the night values it sets there, checked with the same rules as the
//! scenario's table of that kind, and against the guardrail the night ends up with.

use super::super::targets::{INSTANCES, VCPUS};
use super::super::Validator;
use crate::config::raw::{RawProfileAsg, RawProfileBatch, RawProfileCluster, RawProfileEcs};
use crate::config::{
    AsgTarget, BatchTarget, ClusterTarget, EcsTarget, Engine, NightValues, TargetId, TargetKind,
    TargetNight,
};
use std::ops::Range;
use toml::Spanned;

/// The scenario's targets a profile may name.
pub(in crate::config::validate) struct Targets<'a> {
    pub(in crate::config::validate) ecs: &'a [EcsTarget],
    pub(in crate::config::validate) docdb: &'a [ClusterTarget],
    pub(in crate::config::validate) aurora: &'a [ClusterTarget],
    pub(in crate::config::validate) neptune: &'a [ClusterTarget],
    pub(in crate::config::validate) batch: &'a [BatchTarget],
    pub(in crate::config::validate) asg: &'a [AsgTarget],
}

impl Targets<'_> {
    fn clusters(&self, engine: Engine) -> &[ClusterTarget] {
        match engine {
            Engine::DocumentDb => self.docdb,
            Engine::Aurora => self.aurora,
            Engine::Neptune => self.neptune,
        }
    }
}

/// An optional value: None when absent, Some(None) when present but invalid (reported).
fn optional<T, U>(raw: &Option<T>, check: impl FnOnce(&T) -> Option<U>) -> Option<Option<U>> {
    match raw {
        None => Some(None),
        Some(r) => check(r).map(Some),
    }
}

impl Validator<'_> {
    /// A profile names something its scenario does not scale: the message names it, the hint
    /// lists what the scenario has of that kind (or the table to add it to).
    fn not_in_scenario(
        &mut self,
        span: &Range<usize>,
        key: String,
        what: String,
        kind: TargetKind,
        known: &[String],
        elsewhere: Option<TargetKind>,
    ) {
        let hint = match (elsewhere, known.is_empty()) {
            (Some(other), _) => format!(
                "it is the scenario's [[scenario.{}]]: name it in a [[scenario.profile.{}]] table instead",
                other.key(),
                other.key()
            ),
            (None, true) => format!(
                "a profile sets night values for the scenario's own targets: add it as a [[scenario.{}]] first, or remove this entry",
                kind.key()
            ),
            (None, false) => {
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                format!(
                    "use one of the scenario's {}s: {}",
                    kind.what(),
                    crate::text::quoted_list(&known)
                )
            }
        };
        self.push(
            span,
            key,
            format!("the profile names {what}, which this scenario does not scale"),
            hint,
        );
    }

    /// The same target twice in one profile.
    fn twice(
        &mut self,
        span: &Range<usize>,
        key: String,
        id: &TargetId,
        done: &[TargetNight],
    ) -> bool {
        if !done.iter().any(|t| t.target == *id) {
            return false;
        }
        self.push(
            span,
            key,
            format!("{id} is listed twice in this profile"),
            format!("one [[scenario.profile.{}]] per target", id.kind.key()),
        );
        true
    }

    /// `[[scenario.profile.docdb]]`, `.aurora`, `.neptune`: `replicas`, `resize`,
    /// `serverless_min` for one of the scenario's clusters of that engine (matched by cluster,
    /// case-insensitively, as RDS does).
    pub(super) fn profile_cluster(
        &mut self,
        engine: Engine,
        raw: &RawProfileCluster,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let name = raw.cluster.get_ref();
        let Some(target) = targets
            .clusters(engine)
            .iter()
            .find(|t| t.cluster.eq_ignore_ascii_case(name))
        else {
            let known: Vec<String> = targets
                .clusters(engine)
                .iter()
                .map(|t| t.cluster.clone())
                .collect();
            let elsewhere = Engine::ALL.into_iter().find(|e| {
                *e != engine
                    && targets
                        .clusters(*e)
                        .iter()
                        .any(|t| t.cluster.eq_ignore_ascii_case(name))
            });
            self.not_in_scenario(
                &raw.cluster.span(),
                format!("{key}.cluster"),
                format!("{} cluster \"{name}\"", engine.name()),
                engine.kind(),
                &known,
                elsewhere.map(Engine::kind),
            );
            return None;
        };
        let id = target.id();
        if self.twice(&raw.cluster.span(), format!("{key}.cluster"), &id, done) {
            return None;
        }
        let replicas = optional(&raw.replicas, |r| {
            self.replicas(engine, r, &format!("{key}.replicas"))
        });
        if let (Some(Some(n)), Some(r)) = (replicas, &raw.replicas) {
            if n > 0 && target.instance_class.is_none() {
                self.push(
                    &r.span(),
                    format!("{key}.replicas"),
                    format!("replicas = {n} adds readers, but the scenario's [[scenario.{}]] for \"{name}\" has no instance_class for them", engine.key()),
                    format!("add instance_class = \"db.r6g.large\" to the scenario's [[scenario.{}]] table", engine.key()),
                );
                return None;
            }
        }
        let resize = optional(&raw.resize, |r| {
            self.instance_class(engine, r, &format!("{key}.resize"))
        });
        let serverless_min = optional(&raw.serverless_min, |m| {
            self.serverless_min(engine, m, &format!("{key}.serverless_min"))
        });
        Some(TargetNight {
            target: id,
            night: NightValues {
                replicas: replicas?,
                resize: resize?,
                serverless_min: serverless_min?,
                ..NightValues::default()
            },
        })
    }

    /// `[[scenario.profile.ecs]]`: `desired` and `max` for one of the scenario's services
    /// (matched by cluster and service); the night's desired never above its max.
    pub(super) fn profile_ecs(
        &mut self,
        raw: &RawProfileEcs,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let (cluster, service) = (raw.cluster.get_ref(), raw.service.get_ref());
        let Some(target) = targets
            .ecs
            .iter()
            .find(|t| t.cluster == *cluster && t.service == *service)
        else {
            let known: Vec<String> = targets.ecs.iter().map(|t| t.id().name).collect();
            self.not_in_scenario(
                &raw.service.span(),
                format!("{key}.service"),
                format!("ECS service \"{service}\" in cluster \"{cluster}\""),
                TargetKind::Ecs,
                &known,
                None,
            );
            return None;
        };
        let id = target.id();
        if self.twice(&raw.service.span(), format!("{key}.service"), &id, done) {
            return None;
        }
        let desired = optional(&raw.desired, |d| {
            self.positive_count(
                d,
                &format!("{key}.desired"),
                "desired",
                "the service would run no tasks during the batch",
                "set desired to the task count the batch needs (1 or more)",
            )
        });
        let max = optional(&raw.max, |m| {
            self.positive_count(
                m,
                &format!("{key}.max"),
                "max",
                "no desired count could ever be set",
                "set max to the highest task count you allow",
            )
        });
        let (desired, max) = (desired?, max?);
        let (d, m) = (desired.unwrap_or(target.desired), max.unwrap_or(target.max));
        if d > m {
            let span = raw
                .desired
                .as_ref()
                .or(raw.max.as_ref())
                .map_or(raw.service.span(), |s| s.span());
            self.push(
                &span,
                format!("{key}.desired"),
                format!("the profile's night has desired {d} above max {m}: max is the guardrail nightshift never exceeds"),
                format!("lower desired to {m} or less, or set max = {d} or more in this profile"),
            );
            return None;
        }
        Some(TargetNight {
            target: id,
            night: NightValues {
                desired,
                max,
                ..NightValues::default()
            },
        })
    }

    /// `[[scenario.profile.batch]]`: `min_vcpus` and `max_vcpus` for one of the scenario's
    /// compute environments (matched by compute_environment, its name or its ARN); the night's
    /// min_vcpus never above its max_vcpus.
    pub(super) fn profile_batch(
        &mut self,
        raw: &RawProfileBatch,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let name = raw.compute_environment.get_ref();
        let span = raw.compute_environment.span();
        let Some(target) = targets.batch.iter().find(|t| t.matches(name)) else {
            let known: Vec<String> = targets.batch.iter().map(|t| t.name().to_string()).collect();
            self.not_in_scenario(
                &span,
                format!("{key}.compute_environment"),
                format!("Batch compute environment \"{name}\""),
                TargetKind::Batch,
                &known,
                None,
            );
            return None;
        };
        let id = target.id();
        if self.twice(&span, format!("{key}.compute_environment"), &id, done) {
            return None;
        }
        let min = optional(&raw.min_vcpus, |m| {
            let at = format!("{key}.min_vcpus");
            match self.aws_count(m, &at, "min_vcpus", VCPUS) {
                Some(0) => {
                    self.push(
                        &m.span(),
                        at,
                        "min_vcpus is 0: the night would keep no vCPUs warm",
                        "set min_vcpus to the vCPUs the first jobs need running on these nights (1 or more), or leave it out to keep the scenario's",
                    );
                    None
                }
                n => n,
            }
        });
        let max = optional(&raw.max_vcpus, |m| {
            self.aws_count(m, &format!("{key}.max_vcpus"), "max_vcpus", VCPUS)
        });
        let (min, max) = (min?, max?);
        let night_min = min.unwrap_or(target.min_vcpus);
        if let Some(night_max) = max.or(target.max_vcpus) {
            if night_min > night_max {
                let span = raw
                    .min_vcpus
                    .as_ref()
                    .or(raw.max_vcpus.as_ref())
                    .map_or(span, |s| s.span());
                self.push(
                    &span,
                    format!("{key}.min_vcpus"),
                    format!("the profile's night has min_vcpus {night_min} above max_vcpus {night_max}: max_vcpus is the guardrail nightshift never exceeds"),
                    format!("lower min_vcpus to {night_max} or less, or set max_vcpus = {night_min} or more in this profile"),
                );
                return None;
            }
        }
        Some(TargetNight {
            target: id,
            night: NightValues {
                min_vcpus: min,
                max_vcpus: max,
                ..NightValues::default()
            },
        })
    }

    /// `[[scenario.profile.asg]]`: `min` and `max` for one of the scenario's Auto Scaling groups
    /// (matched by name); the night's min never above its max.
    pub(super) fn profile_asg(
        &mut self,
        raw: &RawProfileAsg,
        key: &str,
        targets: &Targets<'_>,
        done: &[TargetNight],
    ) -> Option<TargetNight> {
        let name = raw.name.get_ref();
        let span = raw.name.span();
        let Some(target) = targets.asg.iter().find(|t| t.name == *name) else {
            let known: Vec<String> = targets.asg.iter().map(|t| t.name.clone()).collect();
            self.not_in_scenario(
                &span,
                format!("{key}.name"),
                format!("Auto Scaling group \"{name}\""),
                TargetKind::Asg,
                &known,
                None,
            );
            return None;
        };
        let id = target.id();
        if self.twice(&span, format!("{key}.name"), &id, done) {
            return None;
        }
        let min = optional(&raw.min, |m| {
            let at = format!("{key}.min");
            match self.aws_count(m, &at, "min", INSTANCES) {
                Some(0) => {
                    self.push(
                        &m.span(),
                        at,
                        "min is 0: the group would get no instances for the night",
                        "set min to the instance count the batch needs on these nights (1 or more), or leave it out to keep the scenario's",
                    );
                    None
                }
                n => n,
            }
        });
        let max = optional(&raw.max, |m| {
            let at = format!("{key}.max");
            match self.aws_count(m, &at, "max", INSTANCES) {
                Some(0) => {
                    self.push(
                        &m.span(),
                        at,
                        "max is 0: no size could ever be set",
                        "set max to the most instances you allow",
                    );
                    None
                }
                n => n,
            }
        });
        let (min, max) = (min?, max?);
        let (night_min, night_max) = (min.unwrap_or(target.min), max.unwrap_or(target.max));
        if night_min > night_max {
            let span = raw
                .min
                .as_ref()
                .or(raw.max.as_ref())
                .map_or(span, |s| s.span());
            self.push(
                &span,
                format!("{key}.min"),
                format!("the profile's night has min {night_min} above max {night_max}: max is the guardrail nightshift never exceeds"),
                format!("lower min to {night_max} or less, or set max = {night_min} or more in this profile"),
            );
            return None;
        }
        Some(TargetNight {
            target: id,
            night: NightValues {
                min,
                max,
                ..NightValues::default()
            },
        })
    }

    /// A task count of 1 or more; `zero` says what 0 would do, `fix` what to write.
    fn positive_count(
        &mut self,
        raw: &Spanned<i64>,
        key: &str,
        what: &str,
        zero: &str,
        fix: &str,
    ) -> Option<u32> {
        match self.count(raw, key, what) {
            Some(0) => {
                self.push(&raw.span(), key, format!("{what} is 0: {zero}"), fix);
                None
            }
            other => other,
        }
    }
}
