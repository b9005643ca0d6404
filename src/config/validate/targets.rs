//! The resources a scenario scales: ECS services and DocumentDB clusters, with names AWS
//! accepts, task and reader counts in range, and real instance classes.

#[cfg(test)]
mod tests;

use super::{claim, Validator};
use crate::config::dcu::{MAX_DCU, MIN_DCU};
use crate::config::raw::{RawDocDb, RawEcs};
use crate::config::{Dcu, DocDbTarget, EcsTarget, MAX_DOCDB_REPLICAS};
use toml::Spanned;

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

    /// The scenario's `[[scenario.docdb]]` entries that are valid; a cluster configured twice is
    /// an error at its second entry.
    pub(super) fn docdb_targets(
        &mut self,
        raw: &[Spanned<RawDocDb>],
        at: &str,
    ) -> Vec<DocDbTarget> {
        let mut docdb = Vec::with_capacity(raw.len());
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{at}.docdb[{j}]");
            if let Some(target) = self.docdb_target(entry.get_ref(), &key) {
                let what = format!("DocumentDB cluster \"{}\"", target.cluster);
                // DocumentDB cluster identifiers are case-insensitive (stored lower-case).
                let id = format!("{}{}", self.location, target.cluster.to_ascii_lowercase());
                let span = entry.get_ref().cluster.span();
                let here = self.first_seen(&span);
                let setting = "replicas and instance class";
                let clash = claim(&mut self.docdb_owners, id, here, &what, setting);
                if let Some((message, hint)) = clash {
                    self.push(&span, format!("{key}.cluster"), message, hint);
                }
                docdb.push(target);
            }
        }
        docdb
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

    fn docdb_target(&mut self, raw: &RawDocDb, at: &str) -> Option<DocDbTarget> {
        let cluster = self.resource_name(
            &raw.cluster,
            &format!("{at}.cluster"),
            "DocumentDB cluster identifier",
            "1 to 63 letters, digits and hyphens, starting with a letter, without two hyphens in a row or one at the end",
            |v: &str| {
                v.len() <= 63
                    && v.starts_with(|c: char| c.is_ascii_alphabetic())
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !v.contains("--")
                    && !v.ends_with('-')
            },
        );
        let replicas = self.replicas(&raw.replicas, &format!("{at}.replicas"));
        let key = format!("{at}.instance_class");
        let instance_class = match &raw.instance_class {
            Some(class) => self.instance_class(class, &key).map(Some),
            // Only a cluster that adds no reader has no use for a reader class.
            None if *raw.replicas.get_ref() > 0 => {
                self.push(
                    &raw.replicas.span(),
                    key,
                    format!(
                        "missing required key `instance_class` in [[scenario.docdb]]: replicas = {} adds readers, and instance_class is their class",
                        raw.replicas.get_ref()
                    ),
                    "add instance_class = \"db.r6g.large\" (the class of the readers nightshift adds) to this [[scenario.docdb]] table; only a cluster that adds no readers (replicas = 0, e.g. serverless_min alone) may leave it out",
                );
                None
            }
            None => Some(None),
        };
        let resize = match &raw.resize {
            None => Some(None),
            Some(resize) => self
                .instance_class(resize, &format!("{at}.resize"))
                .map(Some),
        };
        let serverless_min = match &raw.serverless_min {
            None => Some(None),
            Some(min) => self
                .serverless_min(min, &format!("{at}.serverless_min"))
                .map(Some),
        };
        let fallback_classes = match &raw.fallback_classes {
            None => Some(Vec::new()),
            Some(list) => self.fallback_classes(
                list,
                instance_class.as_ref().and_then(|c| c.as_deref()),
                &format!("{at}.fallback_classes"),
            ),
        };
        Some(DocDbTarget {
            cluster: cluster?,
            replicas: replicas?,
            instance_class: instance_class?,
            resize: resize?,
            serverless_min: serverless_min?,
            fallback_classes: fallback_classes?,
        })
    }

    /// A MinCapacity DocumentDB accepts: 0.5 to 256 DCUs in steps of 0.5.
    pub(super) fn serverless_min(&mut self, raw: &Spanned<f64>, key: &str) -> Option<Dcu> {
        let value = *raw.get_ref();
        match Dcu::from_f64(value) {
            Some(dcu) if (MIN_DCU..=MAX_DCU).contains(&dcu) => Some(dcu),
            Some(_) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("serverless_min = {value} is outside DocumentDB Serverless's range of {MIN_DCU} to {MAX_DCU} DCUs"),
                    format!("set serverless_min to a capacity from {MIN_DCU} to {MAX_DCU} (in steps of 0.5)"),
                );
                None
            }
            None => {
                let hint = if value.is_finite() && value > 0.0 {
                    format!(
                        "DocumentDB Serverless capacities go in steps of 0.5: write {}",
                        Dcu::nearest(value).max(MIN_DCU).min(MAX_DCU)
                    )
                } else {
                    format!("set serverless_min to a capacity from {MIN_DCU} to {MAX_DCU} (in steps of 0.5)")
                };
                self.push(
                    &raw.span(),
                    key,
                    format!("serverless_min = {value} is not a DocumentDB Serverless capacity (0.5 to 256 DCUs in steps of 0.5)"),
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
        raw: &Spanned<Vec<Spanned<String>>>,
        instance_class: Option<&str>,
        key: &str,
    ) -> Option<Vec<String>> {
        let mut classes = Vec::with_capacity(raw.get_ref().len());
        let mut ok = true;
        for (n, entry) in raw.get_ref().iter().enumerate() {
            let here = format!("{key}[{n}]");
            let Some(class) = self.instance_class(entry, &here) else {
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

    pub(super) fn replicas(&mut self, raw: &Spanned<i64>, key: &str) -> Option<u8> {
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
                    format!("replicas = {value} is above {MAX_DOCDB_REPLICAS}: a DocumentDB cluster allows at most {MAX_DOCDB_REPLICAS} reader instances"),
                    format!("set replicas to {MAX_DOCDB_REPLICAS} or fewer"),
                );
                None
            }
        }
    }

    pub(super) fn instance_class(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        let rest = value.strip_prefix("db.").unwrap_or("");
        if rest.is_empty() || rest.starts_with('.') || rest.chars().any(char::is_whitespace) {
            let hint = if !value.is_empty() && !value.starts_with("db.") {
                format!("write \"db.{value}\": DocumentDB classes look like \"db.r6g.large\"")
            } else {
                "use a DocumentDB instance class such as \"db.r6g.large\"".to_string()
            };
            self.push(
                &raw.span(),
                key,
                format!("\"{value}\" is not a DocumentDB instance class (they start with \"db.\")"),
                hint,
            );
            return None;
        }
        Some(value.clone())
    }
}
