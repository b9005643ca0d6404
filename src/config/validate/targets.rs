//! The resources a scenario scales: ECS services and RDS-family clusters (DocumentDB, Aurora,
//! Neptune: one set of keys), with names AWS accepts, task and reader counts in range, and real
//! instance classes.

// The worker kinds' checks, each in its own file.
mod asg;
mod batch;
#[cfg(test)]
mod tests;

use super::{claim, Validator};
use crate::config::raw::{RawCluster, RawEcs};
use crate::config::{ClusterTarget, Dcu, EcsTarget, Engine, MAX_DOCDB_REPLICAS};
use toml::Spanned;

/// The unit and the service of a vCPU count (`[[scenario.batch]]`), for its messages.
pub(super) const VCPUS: (&str, &str) = ("vCPU", "AWS Batch");
/// The unit and the service of a group size (`[[scenario.asg]]`), for its messages.
pub(super) const INSTANCES: (&str, &str) = ("instance", "an Auto Scaling group");

impl Validator<'_> {
    /// The scenario's `[[scenario.ecs]]` entries that are valid; a service configured twice (here
    /// or in an earlier scenario) is an error at its second entry.
    pub(super) fn ecs_targets(&mut self, raw: &[Spanned<RawEcs>], at: &str) -> Vec<EcsTarget> {
        let mut ecs = Vec::with_capacity(raw.len());
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{at}.ecs[{j}]");
            if let Some(target) = self.ecs_target(entry.get_ref(), &key) {
                let what = format!(
                    "ECS service \"{}\" in cluster \"{}\"",
                    target.service, target.cluster
                );
                let id = (
                    format!("{}{}", self.location, target.cluster),
                    target.service.clone(),
                );
                let span = entry.get_ref().service.span();
                let here = self.first_seen(&span);
                let clash = claim(&mut self.ecs_owners, id, here, &what, "desired count");
                if let Some((message, hint)) = clash {
                    self.push(&span, format!("{key}.service"), message, hint);
                }
                ecs.push(target);
            }
        }
        ecs
    }

    /// The scenario's `[[scenario.docdb]]` (or `aurora`, `neptune`: `engine`) entries that are
    /// valid; a cluster configured twice (in any of the three tables) is an error at its second
    /// entry.
    pub(super) fn cluster_targets(
        &mut self,
        engine: Engine,
        raw: &[Spanned<RawCluster>],
        at: &str,
    ) -> Vec<ClusterTarget> {
        let mut clusters = Vec::with_capacity(raw.len());
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{at}.{}[{j}]", engine.key());
            if let Some(target) = self.cluster_target(engine, entry.get_ref(), &key) {
                let what = format!("{} cluster \"{}\"", engine.name(), target.cluster);
                // RDS cluster identifiers are case-insensitive (stored lower-case) and unique
                // across engines.
                let id = format!("{}{}", self.location, target.cluster.to_ascii_lowercase());
                let span = entry.get_ref().cluster.span();
                let here = self.first_seen(&span);
                let setting = "replicas and instance class";
                let clash = claim(&mut self.cluster_owners, id, here, &what, setting);
                if let Some((message, hint)) = clash {
                    self.push(&span, format!("{key}.cluster"), message, hint);
                }
                clusters.push(target);
            }
        }
        clusters
    }

    fn ecs_target(&mut self, raw: &RawEcs, at: &str) -> Option<EcsTarget> {
        const ECS_RULE: &str = "up to 255 letters, digits, hyphens and underscores";
        let ecs_name = |v: &str| {
            v.len() <= 255
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let cluster = self.resource_name(
            &raw.cluster,
            &format!("{at}.cluster"),
            "ECS cluster name",
            ECS_RULE,
            ecs_name,
        );
        let service = self.resource_name(
            &raw.service,
            &format!("{at}.service"),
            "ECS service name",
            ECS_RULE,
            ecs_name,
        );
        // Zero would stop the service for the night instead of scaling it up.
        let desired = match self.count(&raw.desired, &format!("{at}.desired"), "desired") {
            Some(0) => {
                self.push(
                    &raw.desired.span(),
                    format!("{at}.desired"),
                    "desired is 0: the service would run no tasks during the batch",
                    "set desired to the task count the batch needs (1 or more)",
                );
                None
            }
            desired => desired,
        };
        let max = match self.count(&raw.max, &format!("{at}.max"), "max") {
            Some(0) => {
                self.push(
                    &raw.max.span(),
                    format!("{at}.max"),
                    "max is 0: no desired count could ever be set",
                    "set max to the highest task count you allow (at least desired)",
                );
                None
            }
            max => max,
        };
        if let (Some(desired), Some(max)) = (desired, max) {
            if desired > max {
                self.push(
                    &raw.desired.span(),
                    format!("{at}.desired"),
                    format!("desired ({desired}) is above max ({max}): max is the guardrail nightshift never exceeds"),
                    format!("lower desired to {max} or less, or raise max to at least {desired}"),
                );
                return None;
            }
        }
        Some(EcsTarget {
            cluster: cluster?,
            service: service?,
            desired: desired?,
            max: max?,
        })
    }

    /// A task count that fits ECS's u32; zero is the caller's decision.
    pub(super) fn count(&mut self, raw: &Spanned<i64>, key: &str, what: &str) -> Option<u32> {
        let value = *raw.get_ref();
        match u32::try_from(value) {
            Ok(count) => Some(count),
            Err(_) if value < 0 => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} is negative ({value})"),
                    "use a task count of 1 or more",
                );
                None
            }
            Err(_) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} ({value}) is too large"),
                    format!("use a task count of at most {}", u32::MAX),
                );
                None
            }
        }
    }

    fn cluster_target(
        &mut self,
        engine: Engine,
        raw: &RawCluster,
        at: &str,
    ) -> Option<ClusterTarget> {
        let cluster = self.resource_name(
            &raw.cluster,
            &format!("{at}.cluster"),
            &format!("{} cluster identifier", engine.name()),
            "1 to 63 letters, digits and hyphens, starting with a letter, without two hyphens in a row or one at the end",
            |v: &str| {
                v.len() <= 63
                    && v.starts_with(|c: char| c.is_ascii_alphabetic())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !v.contains("--")
                    && !v.ends_with('-')
            },
        );
        let replicas = self.replicas(engine, &raw.replicas, &format!("{at}.replicas"));
        let key = format!("{at}.instance_class");
        let instance_class = match &raw.instance_class {
            Some(class) => self.instance_class(engine, class, &key).map(Some),
            // Only a cluster that adds no reader has no use for a reader class.
            None if *raw.replicas.get_ref() > 0 => {
                self.push(
                    &raw.replicas.span(),
                    key,
                    format!(
                        "missing required key `instance_class` in [[scenario.{}]]: replicas = {} adds readers, and instance_class is their class",
                        engine.key(),
                        raw.replicas.get_ref()
                    ),
                    format!("add instance_class = \"db.r6g.large\" (the class of the readers nightshift adds) to this [[scenario.{}]] table; only a cluster that adds no readers (replicas = 0, e.g. serverless_min alone) may leave it out", engine.key()),
                );
                None
            }
            None => Some(None),
        };
        let resize = match &raw.resize {
            None => Some(None),
            Some(resize) => self
                .instance_class(engine, resize, &format!("{at}.resize"))
                .map(Some),
        };
        let serverless_min = match &raw.serverless_min {
            None => Some(None),
            Some(min) => self
                .serverless_min(engine, min, &format!("{at}.serverless_min"))
                .map(Some),
        };
        let fallback_classes = match &raw.fallback_classes {
            None => Some(Vec::new()),
            Some(list) => self.fallback_classes(
                engine,
                list,
                instance_class.as_ref().and_then(|c| c.as_deref()),
                &format!("{at}.fallback_classes"),
            ),
        };
        Some(ClusterTarget {
            engine,
            cluster: cluster?,
            replicas: replicas?,
            instance_class: instance_class?,
            resize: resize?,
            serverless_min: serverless_min?,
            fallback_classes: fallback_classes?,
        })
    }

    /// A MinCapacity the engine accepts for the night: DocumentDB and Aurora 0.5 to 256, Neptune
    /// 1 to 128, in steps of 0.5.
    pub(super) fn serverless_min(
        &mut self,
        engine: Engine,
        raw: &Spanned<f64>,
        key: &str,
    ) -> Option<Dcu> {
        let value = *raw.get_ref();
        let (lo, hi) = engine.serverless_range();
        let (min, max) = (Dcu::nearest(lo), Dcu::nearest(hi));
        let name = engine.name();
        let unit = engine.unit();
        match Dcu::from_f64(value) {
            Some(dcu) if (min..=max).contains(&dcu) => Some(dcu),
            Some(_) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("serverless_min = {value} is outside {name} Serverless's range of {min} to {max} {unit}s"),
                    format!("set serverless_min to a capacity from {min} to {max} (in steps of 0.5)"),
                );
                None
            }
            None => {
                let hint = if value.is_finite() && value > 0.0 {
                    format!(
                        "{name} Serverless capacities go in steps of 0.5: write {}",
                        Dcu::nearest(value).max(min).min(max)
                    )
                } else {
                    format!(
                        "set serverless_min to a capacity from {min} to {max} (in steps of 0.5)"
                    )
                };
                self.push(
                    &raw.span(),
                    key,
                    format!("serverless_min = {value} is not a {name} Serverless capacity ({min} to {max} {unit}s in steps of 0.5)"),
                    hint,
                );
                None
            }
        }
    }

    /// Instance classes to fall back to, in order: real classes, none twice, none equal to
    /// `instance_class` (that one is always tried first).
    fn fallback_classes(
        &mut self,
        engine: Engine,
        raw: &Spanned<Vec<Spanned<String>>>,
        instance_class: Option<&str>,
        key: &str,
    ) -> Option<Vec<String>> {
        let mut classes = Vec::with_capacity(raw.get_ref().len());
        let mut ok = true;
        for (n, entry) in raw.get_ref().iter().enumerate() {
            let here = format!("{key}[{n}]");
            let Some(class) = self.instance_class(engine, entry, &here) else {
                ok = false;
                continue;
            };
            if Some(class.as_str()) == instance_class {
                self.push(
                    &entry.span(),
                    here,
                    format!("fallback class \"{class}\" is the instance_class itself: it is always tried first"),
                    "list only the classes to try after instance_class, e.g. [\"db.r6g.xlarge\"]",
                );
                ok = false;
            } else if classes.contains(&class) {
                self.push(
                    &entry.span(),
                    here,
                    format!("fallback class \"{class}\" is listed twice"),
                    "list each class once, in the order they should be tried",
                );
                ok = false;
            } else {
                classes.push(class);
            }
        }
        ok.then_some(classes)
    }

    pub(super) fn replicas(&mut self, engine: Engine, raw: &Spanned<i64>, key: &str) -> Option<u8> {
        let value = *raw.get_ref();
        match u8::try_from(value) {
            Ok(n) if n <= MAX_DOCDB_REPLICAS => Some(n),
            _ if value < 0 => {
                self.push(
                    &raw.span(),
                    key,
                    format!("replicas is negative ({value})"),
                    format!("use a reader count from 0 to {MAX_DOCDB_REPLICAS}"),
                );
                None
            }
            _ => {
                self.push(
                    &raw.span(),
                    key,
                    format!("replicas = {value} is above {MAX_DOCDB_REPLICAS}: a{} {} cluster allows at most {MAX_DOCDB_REPLICAS} reader instances", if engine == Engine::Aurora { "n" } else { "" }, engine.name()),
                    format!("set replicas to {MAX_DOCDB_REPLICAS} or fewer"),
                );
                None
            }
        }
    }

    pub(super) fn instance_class(
        &mut self,
        engine: Engine,
        raw: &Spanned<String>,
        key: &str,
    ) -> Option<String> {
        let value = raw.get_ref();
        let rest = value.strip_prefix("db.").unwrap_or("");
        if rest.is_empty() || rest.starts_with('.') || rest.chars().any(char::is_whitespace) {
            let hint = if !value.is_empty() && !value.starts_with("db.") {
                format!(
                    "write \"db.{value}\": {} classes look like \"db.r6g.large\"",
                    engine.name()
                )
            } else {
                format!(
                    "use a{} {} instance class such as \"db.r6g.large\"",
                    if engine == Engine::Aurora { "n" } else { "" },
                    engine.name()
                )
            };
            self.push(
                &raw.span(),
                key,
                format!(
                    "\"{value}\" is not a{} {} instance class (they start with \"db.\")",
                    if engine == Engine::Aurora { "n" } else { "" },
                    engine.name()
                ),
                hint,
            );
            return None;
        }
        Some(value.clone())
    }
}
