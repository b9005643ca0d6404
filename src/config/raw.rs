//! The first pass: TOML text → the raw shape, which mirrors the file exactly and keeps every
//! value's byte span for error positions. Integers are read as i64 and narrowed in `validate`, so
//! "replicas = 300" gets a DocumentDB message rather than serde's "expected u8".
//!
//! Unknown keys are not left to serde (`deny_unknown_fields` stops at the first one and hides
//! everything after it): [`keys`] walks the parsed tree, reports each unknown key with a "did you
//! mean", and lets serde ignore it, so the file's other errors are still found.

mod keys;
mod shape;

#[cfg(test)]
mod tests;

use super::diagnostics::{ConfigError, ConfigErrors, SourceText};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Reads the shape of `src`. A syntax error is returned alone (nothing after it can be checked
/// reliably). Otherwise: the raw config when its shape is right (`None` after a missing key or a
/// wrong type, whose error is then listed), and the unknown keys and that shape error, if any.
pub(super) fn read(
    src: &SourceText<'_>,
) -> Result<(Option<RawConfig>, Vec<ConfigError>), ConfigErrors> {
    let mut root = toml::de::DeTable::parse(src.text)
        .map_err(|e| ConfigErrors::from(shape::syntax_error(src, &e)))?;
    let mut errors = keys::unknown_keys(src, &mut root);
    // Cheap: the tree borrows its strings from the text. `root` stays for locating an error.
    match RawConfig::deserialize(toml::de::Deserializer::from(root.clone())) {
        Ok(raw) => Ok((Some(raw), errors)),
        Err(e) => {
            errors.push(shape::shape_error(src, root.get_ref(), &e));
            Ok((None, errors))
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RawConfig {
    pub(super) table: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) scenario: Vec<Spanned<RawScenario>>,
    /// `[notify]`: nightshift's own EventBridge events (optional).
    pub(super) notify: Option<Spanned<RawNotify>>,
    /// `[prices]`: what the nights cost (optional; `prices.rs`).
    pub(super) prices: Option<Spanned<RawPrices>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawNotify {
    pub(super) event_bus: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawPrices {
    pub(super) currency: Option<Spanned<String>>,
    /// Class → price per instance-hour: free keys (classes), so not checked as key names.
    pub(super) instance: Option<Spanned<BTreeMap<String, Spanned<f64>>>>,
    pub(super) dcu: Option<Spanned<f64>>,
    pub(super) task: Option<Spanned<RawTaskPrices>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawTaskPrices {
    pub(super) vcpu: Option<Spanned<f64>>,
    pub(super) gb: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    pub(super) timezone: Spanned<String>,
    /// Another region for this scenario's resources (validate/location.rs).
    pub(super) region: Option<Spanned<String>>,
    /// A role in another account, assumed for this scenario's scaling and metric calls.
    pub(super) role_arn: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ecs: Vec<Spanned<RawEcs>>,
    #[serde(default)]
    pub(super) docdb: Vec<Spanned<RawCluster>>,
    #[serde(default)]
    pub(super) aurora: Vec<Spanned<RawCluster>>,
    #[serde(default)]
    pub(super) neptune: Vec<Spanned<RawCluster>>,
    #[serde(default)]
    pub(super) batch: Vec<Spanned<RawBatch>>,
    #[serde(default)]
    pub(super) asg: Vec<Spanned<RawAsg>>,
    pub(super) scale_down: Spanned<RawScaleDown>,
    #[serde(default)]
    pub(super) completion: Vec<Spanned<RawCompletion>>,
    #[serde(default)]
    pub(super) skip_dates: Vec<Spanned<String>>,
    pub(super) schedule: Option<Spanned<RawSchedule>>,
    /// An iCalendar file of holidays, relative to the config (validate/profile.rs).
    pub(super) holidays: Option<Spanned<String>>,
    /// Nights that differ from the ordinary one.
    #[serde(default)]
    pub(super) profile: Vec<Spanned<RawProfile>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawProfile {
    pub(super) name: Spanned<String>,
    pub(super) dates: Spanned<Vec<Spanned<String>>>,
    pub(super) scale_up: Option<Spanned<String>>,
    pub(super) deadline: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) docdb: Vec<Spanned<RawProfileCluster>>,
    #[serde(default)]
    pub(super) aurora: Vec<Spanned<RawProfileCluster>>,
    #[serde(default)]
    pub(super) neptune: Vec<Spanned<RawProfileCluster>>,
    #[serde(default)]
    pub(super) ecs: Vec<Spanned<RawProfileEcs>>,
    #[serde(default)]
    pub(super) batch: Vec<Spanned<RawProfileBatch>>,
    #[serde(default)]
    pub(super) asg: Vec<Spanned<RawProfileAsg>>,
}

/// A profile's night values for one `[[scenario.docdb]]`, `[[scenario.aurora]]` or
/// `[[scenario.neptune]]` cluster.
#[derive(Debug, Deserialize)]
pub(super) struct RawProfileCluster {
    pub(super) cluster: Spanned<String>,
    pub(super) replicas: Option<Spanned<i64>>,
    pub(super) resize: Option<Spanned<String>>,
    pub(super) serverless_min: Option<Spanned<f64>>,
}

/// A profile's night values for one `[[scenario.batch]]` compute environment.
#[derive(Debug, Deserialize)]
pub(super) struct RawProfileBatch {
    /// Name or ARN, as in the scenario's table.
    pub(super) compute_environment: Spanned<String>,
    pub(super) min_vcpus: Option<Spanned<i64>>,
    pub(super) max_vcpus: Option<Spanned<i64>>,
}

/// A profile's night values for one `[[scenario.asg]]` group.
#[derive(Debug, Deserialize)]
pub(super) struct RawProfileAsg {
    pub(super) name: Spanned<String>,
    pub(super) min: Option<Spanned<i64>>,
    pub(super) max: Option<Spanned<i64>>,
}

/// A profile's night values for one `[[scenario.ecs]]` service.
#[derive(Debug, Deserialize)]
pub(super) struct RawProfileEcs {
    pub(super) cluster: Spanned<String>,
    pub(super) service: Spanned<String>,
    pub(super) desired: Option<Spanned<i64>>,
    pub(super) max: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawSchedule {
    pub(super) scale_up: Spanned<String>,
    pub(super) check_every: Spanned<String>,
    pub(super) scale_down: Option<Spanned<String>>,
    pub(super) days: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawEcs {
    pub(super) cluster: Spanned<String>,
    pub(super) service: Spanned<String>,
    pub(super) desired: Spanned<i64>,
    pub(super) max: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawCluster {
    pub(super) cluster: Spanned<String>,
    pub(super) replicas: Spanned<i64>,
    /// Required when `replicas` adds readers (checked in validation).
    pub(super) instance_class: Option<Spanned<String>>,
    pub(super) resize: Option<Spanned<String>>,
    /// Serverless: MinCapacity (DCUs, ACUs or NCUs) for the night.
    pub(super) serverless_min: Option<Spanned<f64>>,
    /// Classes tried in order when a reader's class has no capacity.
    pub(super) fallback_classes: Option<Spanned<Vec<Spanned<String>>>>,
}

// --- worker kinds ---

#[derive(Debug, Deserialize)]
pub(super) struct RawBatch {
    /// Name or ARN.
    pub(super) compute_environment: Spanned<String>,
    pub(super) min_vcpus: Spanned<i64>,
    /// Optional guardrail.
    pub(super) max_vcpus: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawAsg {
    pub(super) name: Spanned<String>,
    pub(super) min: Spanned<i64>,
    pub(super) max: Spanned<i64>,
}

// --- end worker kinds ---

#[derive(Debug, Deserialize)]
pub(super) struct RawScaleDown {
    pub(super) quiet_for: Spanned<String>,
    pub(super) deadline: Spanned<String>,
    pub(super) min_hold: Spanned<String>,
    /// Optional: "busy" is the safe default (no data never triggers an early scale-down).
    pub(super) missing_data: Option<Spanned<String>>,
    /// Defaulted so that a missing list and an empty list get the same specific message.
    #[serde(default)]
    pub(super) metric: Vec<Spanned<RawMetric>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMetric {
    pub(super) namespace: Spanned<String>,
    pub(super) name: Spanned<String>,
    pub(super) dimensions: Option<Spanned<BTreeMap<String, String>>>,
    pub(super) stat: Spanned<String>,
    pub(super) period: Spanned<String>,
    pub(super) below: Spanned<f64>,
}

/// Flat rather than a serde-tagged enum: tagged enums buffer their content and lose spans, and
/// a flat struct lets `validate` say exactly which key the chosen source needs.
#[derive(Debug, Deserialize)]
pub(super) struct RawCompletion {
    pub(super) source: Spanned<String>,
    pub(super) group: Option<Spanned<String>>,
    pub(super) job_queue: Option<Spanned<String>>,
}
