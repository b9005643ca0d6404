//! When the night may end: `[scenario.scale_down]` (quiet_for, deadline, min_hold,
//! missing_data), its metrics, and the completion events that trigger a check.

#[cfg(test)]
mod tests;

use super::Validator;
use crate::config::diagnostics::{example_for, suggest};
use crate::config::raw::{RawCompletion, RawMetric, RawScaleDown};
use crate::config::{CompletionMatcher, MetricSpec, MissingData, ScaleDown};
use crate::text::config_duration as format_duration;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// The statistics CloudWatch accepts besides percentiles (`pNN`).
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

impl Validator<'_> {
    pub(super) fn scale_down(
        &mut self,
        raw: &Spanned<RawScaleDown>,
        at: &str,
    ) -> Option<ScaleDown> {
        let header = raw.span();
        let raw = raw.get_ref();
        let quiet_for = self.duration(&raw.quiet_for, &format!("{at}.quiet_for"), true);
        let deadline = self.deadline(&raw.deadline, &format!("{at}.deadline"));
        let min_hold = self.duration(&raw.min_hold, &format!("{at}.min_hold"), false);
        let missing_data = match &raw.missing_data {
            None => Some(MissingData::Busy),
            Some(value) => self.missing_data(value, &format!("{at}.missing_data")),
        };

        if raw.metric.is_empty() {
            self.push(
                &header,
                format!("{at}.metric"),
                "no [[scenario.scale_down.metric]]: nightshift cannot tell when the batch is done",
                "add a [[scenario.scale_down.metric]] table with namespace, name, stat, period and below",
            );
        }
        let mut metrics = Vec::with_capacity(raw.metric.len());
        // The longest period and where it came from, for the quiet_for check.
        let mut longest: Option<(Duration, usize)> = None;
        for (j, metric) in raw.metric.iter().enumerate() {
            if let Some(m) = self.metric(metric.get_ref(), &format!("{at}.metric[{j}]")) {
                if longest.is_none_or(|(p, _)| m.period > p) {
                    longest = Some((m.period, j));
                }
                metrics.push(m);
            }
        }
        if let (Some(quiet), Some((period, j))) = (quiet_for, longest) {
            if quiet < period {
                self.push(
                    &raw.quiet_for.span(),
                    format!("{at}.quiet_for"),
                    format!(
                        "quiet_for ({}) is shorter than one period ({}) of metric[{j}]: no full quiet window could ever be observed",
                        format_duration(quiet),
                        format_duration(period)
                    ),
                    format!(
                        "set quiet_for to at least \"{}\" or shorten the metric period",
                        format_duration(period)
                    ),
                );
            }
        }
        Some(ScaleDown {
            quiet_for: quiet_for?,
            deadline: deadline?,
            min_hold: min_hold?,
            missing_data: missing_data?,
            metrics,
        })
    }

    /// "HH:MM" (or "H:MM"), 24-hour, local to the scenario's time zone.
    fn deadline(&mut self, raw: &Spanned<String>, key: &str) -> Option<jiff::civil::Time> {
        self.local_time(raw, key, "deadline", "07:30")
    }

    fn missing_data(&mut self, raw: &Spanned<String>, key: &str) -> Option<MissingData> {
        match raw.get_ref().as_str() {
            "busy" => Some(MissingData::Busy),
            "quiet" => Some(MissingData::Quiet),
            other => {
                let near = suggest(other, &["busy", "quiet"])
                    .map(|n| format!("did you mean \"{n}\"? "))
                    .unwrap_or_default();
                self.push(
                    &raw.span(),
                    key,
                    format!("unknown missing_data value \"{other}\""),
                    format!("{near}use \"busy\" (a window with no datapoints counts as busy, the safe choice) or \"quiet\""),
                );
                None
            }
        }
    }

    fn metric(&mut self, raw: &RawMetric, at: &str) -> Option<MetricSpec> {
        let namespace = self.non_empty(
            &raw.namespace,
            &format!("{at}.namespace"),
            "metric namespace",
        );
        let name = self.non_empty(&raw.name, &format!("{at}.name"), "metric name");
        let dimensions = match &raw.dimensions {
            None => Some(BTreeMap::new()),
            Some(dimensions) => self.dimensions(dimensions, &format!("{at}.dimensions")),
        };
        let stat = self.stat(&raw.stat, &format!("{at}.stat"));
        let period = self.period(&raw.period, &format!("{at}.period"));
        let below = *raw.below.get_ref();
        let below_ok = below.is_finite();
        if !below_ok {
            self.push(
                &raw.below.span(),
                format!("{at}.below"),
                format!("below must be a finite number, not {below}"),
                "use a plain threshold such as below = 1",
            );
        }
        if !below_ok {
            return None;
        }
        Some(MetricSpec {
            namespace: namespace?,
            name: name?,
            dimensions: dimensions?,
            stat: stat?,
            period: period?,
            below,
        })
    }

    /// CloudWatch refuses empty dimension names and values.
    fn dimensions(
        &mut self,
        raw: &Spanned<BTreeMap<String, String>>,
        key: &str,
    ) -> Option<BTreeMap<String, String>> {
        let empty = raw
            .get_ref()
            .iter()
            .find(|(k, v)| k.trim().is_empty() || v.trim().is_empty());
        if let Some((name, _)) = empty {
            self.push(
                &raw.span(),
                key,
                format!("dimension \"{name}\" has an empty name or value"),
                "give every dimension a name and a value, e.g. dimensions = { Job = \"nightly\" }",
            );
            return None;
        }
        Some(raw.get_ref().clone())
    }

    fn stat(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        if STATISTICS.contains(&value.as_str()) || is_percentile(value) {
            return Some(value.clone());
        }
        let near = suggest(value, &STATISTICS)
            .map(|n| format!("did you mean \"{n}\"? "))
            .unwrap_or_default();
        self.push(
            &raw.span(),
            key,
            format!("unknown statistic \"{value}\""),
            format!("{near}use one of SampleCount, Average, Sum, Minimum, Maximum, or a percentile such as \"p99\""),
        );
        None
    }

    /// CloudWatch standard resolution: whole minutes, at least one.
    fn period(&mut self, raw: &Spanned<String>, key: &str) -> Option<Duration> {
        let period = self.duration(raw, key, false)?;
        let secs = period.as_secs();
        let message = if secs < 60 {
            format!(
                "period {} is below 1m, the shortest CloudWatch standard-resolution period",
                format_duration(period)
            )
        } else if secs % 60 != 0 {
            format!(
                "period {} is not a multiple of 60s, which CloudWatch standard resolution requires",
                format_duration(period)
            )
        } else {
            return Some(period);
        };
        self.push(
            &raw.span(),
            key,
            message,
            "use whole minutes, e.g. period = \"1m\" or \"5m\"",
        );
        None
    }

    pub(super) fn completion(
        &mut self,
        raw: &Spanned<RawCompletion>,
        at: &str,
    ) -> Option<CompletionMatcher> {
        let header = raw.span();
        let raw = raw.get_ref();
        let source = raw.source.get_ref().as_str();
        // (key the source needs, its value, the key that belongs to the other source)
        let (needed, value, foreign) = match source {
            "aws.ecs" => (
                "group",
                &raw.group,
                ("job_queue", &raw.job_queue, "aws.batch"),
            ),
            "aws.batch" => (
                "job_queue",
                &raw.job_queue,
                ("group", &raw.group, "aws.ecs"),
            ),
            other => {
                let near = suggest(other, &["aws.ecs", "aws.batch"])
                    .or_else(|| match other.to_ascii_lowercase().as_str() {
                        "ecs" => Some("aws.ecs"),
                        "batch" => Some("aws.batch"),
                        _ => None,
                    })
                    .map(|n| format!("did you mean \"{n}\"? "))
                    .unwrap_or_default();
                self.push(
                    &raw.source.span(),
                    format!("{at}.source"),
                    format!("unknown completion source \"{other}\": only \"aws.ecs\" and \"aws.batch\" events are understood"),
                    format!("{near}use source = \"aws.ecs\" with group = \"family:…\", or source = \"aws.batch\" with job_queue = \"…\""),
                );
                return None;
            }
        };
        let (foreign_key, foreign_value, foreign_source) = foreign;
        if let Some(extra) = foreign_value {
            self.push(
                &extra.span(),
                format!("{at}.{foreign_key}"),
                format!("{foreign_key} does not apply to source \"{source}\" (it belongs to \"{foreign_source}\")"),
                format!("remove {foreign_key}, or use a separate [[scenario.completion]] with source = \"{foreign_source}\""),
            );
        }
        let key = format!("{at}.{needed}");
        let value = match value {
            None => {
                let example = example_for(&key);
                self.push(
                    &header,
                    key,
                    format!("completion source \"{source}\" needs `{needed}`"),
                    format!("add {example} to this [[scenario.completion]] table"),
                );
                return None;
            }
            Some(value) => self.non_empty(value, &key, needed)?,
        };
        if foreign_value.is_some() {
            return None;
        }
        Some(match source {
            "aws.ecs" => CompletionMatcher::EcsTaskStopped { group: value },
            _ => CompletionMatcher::BatchJobDone { job_queue: value },
        })
    }
}

/// `pNN` or `pNN.N…` with 0 ≤ NN ≤ 100, as CloudWatch extended statistics accept.
fn is_percentile(stat: &str) -> bool {
    let Some(number) = stat.strip_prefix('p') else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(whole)
        && whole.len() <= 3
        && digits(fraction)
        && number
            .parse::<f64>()
            .is_ok_and(|p| (0.0..=100.0).contains(&p))
}
