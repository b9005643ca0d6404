//! CloudWatch adapter: reads the scale-down metrics with one GetMetricData call for all of them.
//!
//! It only fetches; judging the datapoints is `crate::gate`'s job. Query ids are `m0`, `m1`, …
//! in the order of the specs, results are asked for oldest first (`TimestampAscending`) and
//! every page (`NextToken`) is read; the gate still does not rely on the order, because AWS's
//! default is newest first and other implementations differ.

use super::{classify, describe, ErrorClass, Timeouts};
use crate::config::MetricSpec;
use crate::gate::MetricWindow;
use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use aws_sdk_cloudwatch::Client;
use jiff::Timestamp;
use std::time::Duration;

/// Pages a single fetch follows before giving up: a few metrics over one night fit in one page,
/// so more than this means the service keeps handing back a token.
const MAX_PAGES: usize = 50;

/// Why the metrics could not be read. The gate records the message and treats the metrics as
/// unknown (never as quiet); the next check tries again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// Throttling, timeouts, connection failures, 5xx: a later check can succeed.
    #[error("CloudWatch GetMetricData failed: {0}")]
    Unavailable(String),
    #[error("CloudWatch GetMetricData was denied: {0}; allow cloudwatch:GetMetricData on Resource \"*\" in the function's role")]
    AccessDenied(String),
    /// The request itself is wrong (a bad statistic, too many metrics): fix the config.
    #[error("CloudWatch GetMetricData rejected the request: {0}; check the [[scenario.scale_down.metric]] entries")]
    Rejected(String),
    /// The answer could not be read (mismatched timestamps and values, unknown ids).
    #[error("CloudWatch GetMetricData answered something nightshift cannot read: {0}")]
    Malformed(String),
}

impl MetricsError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MetricsError::Unavailable(_))
    }
}

/// Reads metrics through one CloudWatch client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CloudWatchMetrics {
    client: Client,
    /// Timeouts fitted to one invocation's remaining time ([`CloudWatchMetrics::with_budget`]);
    /// `None` uses the client's own configuration.
    timeouts: Option<(Timeouts, Option<Duration>)>,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> Self {
        CloudWatchMetrics {
            client,
            timeouts: None,
        }
    }

    /// A copy whose calls finish within `remaining` (minus the recording margin), as
    /// `DynamoStore::with_budget` does.
    pub fn with_budget(&self, timeouts: Timeouts, remaining: Option<Duration>) -> Self {
        CloudWatchMetrics {
            client: self.client.clone(),
            timeouts: Some((timeouts, remaining)),
        }
    }

    /// The datapoints of every spec in `[from, to)`, one [`MetricWindow`] per spec in the same
    /// order, with one GetMetricData call (plus its pages).
    pub async fn fetch(
        &self,
        specs: &[MetricSpec],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<MetricWindow>, MetricsError> {
        if specs.is_empty() {
            return Ok(Vec::new());
        }
        let queries = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| query(i, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let mut windows: Vec<MetricWindow> = specs
            .iter()
            .map(|spec| MetricWindow {
                spec: spec.clone(),
                points: Vec::new(),
            })
            .collect();

        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let request = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(datetime(from))
                .end_time(datetime(to))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token.take());
            let answer = match self.timeouts {
                Some((timeouts, remaining)) => {
                    request
                        .customize()
                        .config_override(
                            aws_sdk_cloudwatch::config::Builder::default()
                                .timeout_config(timeouts.within(remaining)),
                        )
                        .send()
                        .await
                }
                None => request.send().await,
            };
            let page = answer.map_err(|e| sdk_error(&e))?;
            next_token = collect(&page, &mut windows)?;
            if next_token.is_none() {
                for window in &mut windows {
                    window.points.sort_by_key(|(t, _)| *t);
                }
                return Ok(windows);
            }
        }
        Err(MetricsError::Malformed(format!(
            "still handing out NextToken after {MAX_PAGES} pages"
        )))
    }
}

/// Adds a page's datapoints to `windows` (indexed by query id `m<i>`); returns the next token.
fn collect(
    page: &GetMetricDataOutput,
    windows: &mut [MetricWindow],
) -> Result<Option<String>, MetricsError> {
    for result in page.metric_data_results() {
        let id = result.id().unwrap_or_default();
        let window = id
            .strip_prefix('m')
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| windows.get_mut(i))
            .ok_or_else(|| {
                MetricsError::Malformed(format!("a result for unknown query id \"{id}\""))
            })?;
        check_status(result, &window.spec)?;
        if result.timestamps().len() != result.values().len() {
            return Err(MetricsError::Malformed(format!(
                "{} timestamps and {} values for query {id}",
                result.timestamps().len(),
                result.values().len()
            )));
        }
        for (t, v) in result.timestamps().iter().zip(result.values()) {
            let at = Timestamp::new(t.secs(), i32::try_from(t.subsec_nanos()).unwrap_or(0))
                .map_err(|e| {
                    MetricsError::Malformed(format!("timestamp {t} for query {id}: {e}"))
                })?;
            window.points.push((at, *v));
        }
    }
    Ok(page.next_token().map(str::to_string))
}

/// A per-query failure inside a successful answer.
fn check_status(result: &MetricDataResult, spec: &MetricSpec) -> Result<(), MetricsError> {
    let messages = || {
        let m: Vec<String> = result
            .messages()
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    m.code().unwrap_or("?"),
                    m.value().unwrap_or_default()
                )
            })
            .collect();
        if m.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.join("; "))
        }
    };
    let label = crate::gate::metric_label(spec);
    match result.status_code() {
        Some(StatusCode::Forbidden) => Err(MetricsError::AccessDenied(format!(
            "reading {label} is forbidden{}",
            messages()
        ))),
        Some(StatusCode::InternalError) => Err(MetricsError::Unavailable(format!(
            "internal error while reading {label}{}",
            messages()
        ))),
        _ => Ok(()),
    }
}

fn query(i: usize, spec: &MetricSpec) -> Result<MetricDataQuery, MetricsError> {
    let period = i32::try_from(spec.period.as_secs()).map_err(|_| {
        MetricsError::Rejected(format!(
            "period of {} is too long",
            crate::gate::metric_label(spec)
        ))
    })?;
    let metric = Metric::builder()
        .namespace(&spec.namespace)
        .metric_name(&spec.name)
        .set_dimensions(Some(
            spec.dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .build();
    Ok(MetricDataQuery::builder()
        .id(format!("m{i}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(&spec.stat)
                .build(),
        )
        .return_data(true)
        .build())
}

fn datetime(t: Timestamp) -> DateTime {
    DateTime::from_secs_and_nanos(
        t.as_second(),
        u32::try_from(t.subsec_nanosecond()).unwrap_or(0),
    )
}

fn sdk_error<E>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> MetricsError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = describe(err);
    match classify(err) {
        ErrorClass::Transient => MetricsError::Unavailable(text),
        ErrorClass::AccessDenied => MetricsError::AccessDenied(text),
        ErrorClass::NotFound | ErrorClass::Permanent => MetricsError::Rejected(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MetricSpec {
        MetricSpec {
            namespace: "Batch".into(),
            name: "JobsRunning".into(),
            dimensions: [("Job".to_string(), "nightly".to_string())].into(),
            stat: "Maximum".into(),
            period: Duration::from_secs(60),
            below: 1.0,
        }
    }

    fn window() -> Vec<MetricWindow> {
        vec![MetricWindow {
            spec: spec(),
            points: Vec::new(),
        }]
    }

    #[test]
    fn query_carries_id_metric_dimensions_period_and_stat() {
        let q = query(3, &spec()).expect("query");
        assert_eq!(q.id(), Some("m3"));
        let stat = q.metric_stat().expect("metric stat");
        assert_eq!((stat.period(), stat.stat()), (Some(60), Some("Maximum")));
        let metric = stat.metric().expect("metric");
        assert_eq!(
            (metric.namespace(), metric.metric_name()),
            (Some("Batch"), Some("JobsRunning"))
        );
        let dims: Vec<_> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name(), d.value()))
            .collect();
        assert_eq!(dims, [(Some("Job"), Some("nightly"))]);
    }

    #[test]
    fn collect_maps_results_by_id_and_returns_the_next_token() {
        let page = GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .timestamps(DateTime::from_secs(120))
                    .timestamps(DateTime::from_secs(60))
                    .values(2.0)
                    .values(1.0)
                    .status_code(StatusCode::PartialData)
                    .build(),
            )
            .next_token("more")
            .build();
        let mut windows = window();
        let next = collect(&page, &mut windows).expect("readable page");
        assert_eq!(next.as_deref(), Some("more"));
        let points: Vec<(i64, f64)> = windows[0]
            .points
            .iter()
            .map(|(t, v)| (t.as_second(), *v))
            .collect();
        assert_eq!(points, [(120, 2.0), (60, 1.0)]);
    }

    #[test]
    fn collect_rejects_mismatched_lengths_unknown_ids_and_failed_queries() {
        let mismatched = GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .timestamps(DateTime::from_secs(60))
                    .build(),
            )
            .build();
        let e = collect(&mismatched, &mut window()).expect_err("mismatch");
        assert!(e.to_string().contains("1 timestamps and 0 values"), "{e}");

        let unknown = GetMetricDataOutput::builder()
            .metric_data_results(MetricDataResult::builder().id("m7").build())
            .build();
        let e = collect(&unknown, &mut window()).expect_err("unknown id");
        assert!(e.to_string().contains("unknown query id \"m7\""), "{e}");

        let forbidden = GetMetricDataOutput::builder()
            .metric_data_results(
                MetricDataResult::builder()
                    .id("m0")
                    .status_code(StatusCode::Forbidden)
                    .build(),
            )
            .build();
        let e = collect(&forbidden, &mut window()).expect_err("forbidden");
        assert!(matches!(e, MetricsError::AccessDenied(_)), "{e}");
        assert!(
            e.to_string().contains("Batch/JobsRunning{Job=nightly}"),
            "{e}"
        );
        assert!(!e.is_retryable());
    }
}
