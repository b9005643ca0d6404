//! The scale-down gate on real GetMetricData answers: datapoints published with explicit
//! timestamps through the current aws-sdk-cloudwatch (rpc-v2-cbor, bridged to moto by the
//! launcher), read back by `CloudWatchMetrics::fetch`, judged by `gate::decide`.
//!
//! moto ignores the namespace when a query has dimensions, so every test gives its metrics a
//! dimension value of its own ([`unique`]); the namespace is unique too, for real CloudWatch.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use jiff::{SignedDuration, Timestamp};
use nightshift::aws::calls::CallLog;
use nightshift::aws::cloudwatch::{CloudWatchMetrics, MetricsError};
use nightshift::aws::Timeouts;
use nightshift::config::{self, Scenario};
use nightshift::gate::{self, Decision, MetricState, MetricsFetch, Rule, Verdict};

use crate::support::host::RefusedPort;
use crate::support::{sdk_config, unique};

/// One metric of a test scenario: its dimension value is the test's own.
struct TestMetric {
    namespace: String,
    name: &'static str,
    job: String,
    stat: &'static str,
    below: f64,
}

impl TestMetric {
    fn new(name: &'static str, stat: &'static str, below: f64) -> TestMetric {
        TestMetric {
            namespace: unique("nightshift-test"),
            name,
            job: unique("nightly"),
            stat,
            below,
        }
    }

    fn toml(&self) -> String {
        format!(
            "    [[scenario.scale_down.metric]]\n    namespace = \"{}\"\n    name = \"{}\"\n    dimensions = {{ Job = \"{}\" }}\n    stat = \"{}\"\n    period = \"1m\"\n    below = {}\n",
            self.namespace, self.name, self.job, self.stat, self.below
        )
    }

    fn label(&self) -> String {
        format!("{}/{}{{Job={}}}", self.namespace, self.name, self.job)
    }

    /// PutMetricData of one datapoint per (timestamp, value), with explicit timestamps.
    async fn publish(&self, cloudwatch: &aws_sdk_cloudwatch::Client, points: &[(Timestamp, f64)]) {
        let data = points
            .iter()
            .map(|&(t, value)| {
                MetricDatum::builder()
                    .metric_name(self.name)
                    .dimensions(Dimension::builder().name("Job").value(&self.job).build())
                    .timestamp(DateTime::from_secs(t.as_second()))
                    .value(value)
                    .build()
            })
            .collect();
        cloudwatch
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutMetricData {}: {e:?}", self.label()));
    }
}

/// A scenario in UTC with quiet_for 15m, min_hold 30m and the given deadline (HH:MM).
fn scenario(deadline: &str, missing_data: &str, metrics: &[&TestMetric]) -> Scenario {
    let metrics: String = metrics.iter().map(|m| m.toml()).collect();
    let text = format!(
        "[[scenario]]\nname = \"metrics-test\"\ntimezone = \"UTC\"\n  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 2\n  max = 4\n  [scenario.scale_down]\n  quiet_for = \"15m\"\n  deadline = \"{deadline}\"\n  min_hold = \"30m\"\n  missing_data = \"{missing_data}\"\n{metrics}"
    );
    let config = config::parse(&text, "metrics-test.toml")
        .unwrap_or_else(|e| panic!("test config:\n{e}\n{text}"));
    config.scenarios[0].clone()
}

fn minutes(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

/// The start of the minute `n` minutes before `now`'s.
fn minute_start(now: Timestamp, n: i64) -> Timestamp {
    let s = now.as_second();
    Timestamp::from_second(s - s.rem_euclid(60) - n * 60).expect("in range")
}

/// One value per minute for the `count` minutes up to and including now's.
fn per_minute(now: Timestamp, count: i64, value: f64) -> Vec<(Timestamp, f64)> {
    (0..count).map(|n| (minute_start(now, n), value)).collect()
}

/// A deadline, as HH:MM in UTC, `offset` from `now`.
fn deadline_at(now: Timestamp, offset: SignedDuration) -> String {
    (now + offset).strftime("%H:%M").to_string()
}

/// Fetch what `decide` needs at `now` through the adapter, then decide.
async fn fetch_and_decide(
    metrics: &CloudWatchMetrics,
    scenario: &Scenario,
    scaled_up_at: Timestamp,
    now: Timestamp,
) -> (Result<Vec<gate::MetricWindow>, MetricsError>, Decision) {
    let range = gate::query_range(&scenario.scale_down, now);
    let fetched = metrics
        .fetch(&scenario.scale_down.metrics, range.from, range.to)
        .await;
    let decision = gate::decide(
        scenario,
        &MetricsFetch::from(fetched.clone()),
        scaled_up_at,
        now,
        false,
    );
    (fetched, decision)
}

fn deferral(decision: &Decision) -> &str {
    match &decision.verdict {
        Verdict::Defer { reason } => reason,
        Verdict::ScaleDown { rule } => {
            panic!("expected a deferral, got scale-down ({rule}): {decision:#?}")
        }
    }
}

#[tokio::test]
async fn a_busy_metric_defers_and_the_reason_shows_its_value_and_threshold() {
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();
    let mut points = per_minute(now, 25, 0.0);
    let busy_minute = minute_start(now, 6);
    points.push((busy_minute, 3.0)); // same minute twice: Maximum is 3
    jobs.publish(&cloudwatch, &points).await;

    let s = scenario(&deadline_at(now, minutes(360)), "busy", &[&jobs]);
    let (fetched, decision) = fetch_and_decide(
        &CloudWatchMetrics::new(cloudwatch),
        &s,
        now - minutes(60),
        now,
    )
    .await;
    let windows = fetched.expect("GetMetricData through the emulator");
    assert!(
        windows[0].points.contains(&(busy_minute, 3.0)),
        "{windows:?}"
    );

    let reason = deferral(&decision);
    let expected = format!(
        "{} Maximum was 3 (threshold below 1) at {}",
        jobs.label(),
        busy_minute.strftime("%Y-%m-%dT%H:%MZ")
    );
    assert!(reason.contains(&expected), "{reason}");
    assert!(reason.contains("deadline"), "{reason}");
    assert_eq!(decision.evidence.metrics[0].verdict, MetricState::Busy);
}

#[tokio::test]
async fn a_metric_quiet_for_the_whole_window_after_min_hold_scales_down() {
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();
    let mut points = per_minute(now, 18, 0.0);
    // Busy before the window: it no longer counts.
    points.push((minute_start(now, 25), 4.0));
    jobs.publish(&cloudwatch, &points).await;

    let s = scenario(&deadline_at(now, minutes(360)), "busy", &[&jobs]);
    // Through `with_budget`, as the Lambda calls it: the operation timeout override path.
    let metrics = CloudWatchMetrics::new(cloudwatch)
        .with_budget(Timeouts::default(), Some(Duration::from_secs(30)));
    let (fetched, decision) = fetch_and_decide(&metrics, &s, now - minutes(60), now).await;
    fetched.expect("GetMetricData through the emulator");
    assert_eq!(
        decision.verdict,
        Verdict::ScaleDown { rule: Rule::Quiet },
        "{}",
        decision.reason()
    );
    assert!(
        decision.reason().contains("at most 0 (threshold below 1)"),
        "{}",
        decision.reason()
    );
    let periods = &decision.evidence.metrics[0].periods;
    assert!(periods.len() >= 15, "{periods:?}");
}

#[tokio::test]
async fn quiet_but_min_hold_not_passed_defers_until_it_has() {
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();
    jobs.publish(&cloudwatch, &per_minute(now, 20, 0.0)).await;

    let s = scenario(&deadline_at(now, minutes(360)), "busy", &[&jobs]);
    let scaled_up_at = now - minutes(10);
    let (_, decision) =
        fetch_and_decide(&CloudWatchMetrics::new(cloudwatch), &s, scaled_up_at, now).await;
    let reason = deferral(&decision);
    assert!(reason.contains("every metric quiet for 15m"), "{reason}");
    assert!(reason.contains("min_hold 30m"), "{reason}");
    assert!(
        reason.contains(&format!(
            "not before {}",
            (scaled_up_at + minutes(30)).strftime("%Y-%m-%dT%H:%MZ")
        )),
        "{reason}"
    );
}

#[tokio::test]
async fn past_the_deadline_busy_metrics_scale_down_with_reason_deadline() {
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();
    jobs.publish(&cloudwatch, &per_minute(now, 20, 7.0)).await;

    // Deadline five minutes ago; scale-up two hours ago.
    let s = scenario(&deadline_at(now, minutes(-5)), "busy", &[&jobs]);
    let (_, decision) = fetch_and_decide(
        &CloudWatchMetrics::new(cloudwatch),
        &s,
        now - minutes(120),
        now,
    )
    .await;
    assert_eq!(decision.rule(), Some(Rule::Deadline), "{decision:#?}");
    assert!(
        decision.reason().starts_with("deadline:"),
        "{}",
        decision.reason()
    );
    assert!(
        decision
            .reason()
            .contains(&format!("still busy: {} Maximum was 7", jobs.label())),
        "{}",
        decision.reason()
    );
    assert_eq!(decision.evidence.metrics[0].verdict, MetricState::Busy);
}

#[tokio::test]
async fn two_metrics_are_read_with_one_get_metric_data_and_only_the_busy_one_is_named() {
    let cfg = sdk_config().await;
    let log = CallLog::new();
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&cfg)
            .interceptor(log.clone())
            .build(),
    );
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let queue = TestMetric::new("QueueDepth", "Sum", 10.0);
    let now = Timestamp::now();
    jobs.publish(&cloudwatch, &per_minute(now, 20, 0.0)).await;
    queue
        .publish(
            &cloudwatch,
            &[(minute_start(now, 8), 6.0), (minute_start(now, 8), 6.0)],
        )
        .await;
    log.clear();

    let s = scenario(&deadline_at(now, minutes(360)), "quiet", &[&jobs, &queue]);
    let (fetched, decision) = fetch_and_decide(
        &CloudWatchMetrics::new(cloudwatch),
        &s,
        now - minutes(60),
        now,
    )
    .await;
    assert_eq!(log.operations(), ["GetMetricData"]);
    let windows = fetched.expect("GetMetricData");
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[1].points, [(minute_start(now, 8), 12.0)]);

    let reason = deferral(&decision);
    assert!(
        reason.contains(&format!(
            "{} Sum was 12 (threshold below 10)",
            queue.label()
        )),
        "{reason}"
    );
    assert!(!reason.contains(&jobs.label()), "{reason}");
}

#[tokio::test]
async fn missing_data_busy_defers_and_missing_data_quiet_scales_down_both_recorded() {
    let cfg = sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&cfg);
    let metrics = CloudWatchMetrics::new(cloudwatch);
    // Nothing is ever published for this metric.
    let silent = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();
    let deadline = deadline_at(now, minutes(360));

    let busy = scenario(&deadline, "busy", &[&silent]);
    let (fetched, decision) = fetch_and_decide(&metrics, &busy, now - minutes(60), now).await;
    assert!(fetched.expect("GetMetricData")[0].points.is_empty());
    let reason = deferral(&decision);
    assert!(
        reason.contains("has no datapoints in 15 of 15 periods"),
        "{reason}"
    );
    let fallback = decision.evidence.fallback.as_deref().expect("fallback");
    assert!(
        fallback.contains("no datapoints for any metric") && fallback.contains("counts as busy"),
        "{fallback}"
    );

    let quiet = scenario(&deadline, "quiet", &[&silent]);
    let (_, decision) = fetch_and_decide(&metrics, &quiet, now - minutes(60), now).await;
    assert_eq!(decision.rule(), Some(Rule::Quiet), "{}", decision.reason());
    let fallback = decision.evidence.fallback.as_deref().expect("fallback");
    assert!(fallback.contains("counts as quiet"), "{fallback}");
    assert_eq!(decision.evidence.metrics[0].verdict, MetricState::Missing);
}

/// A CloudWatch client aimed at a loopback port that refuses connections, with one attempt. The
/// port stays refused while the returned [`RefusedPort`] lives; the refusal is immediate, so the
/// timeouts are only a backstop, generous so that a loaded machine cannot turn the refusal this
/// test expects into a timeout.
async fn unreachable_cloudwatch() -> (aws_sdk_cloudwatch::Client, String, RefusedPort) {
    let port = RefusedPort::bind().expect("bind a loopback port");
    let endpoint = port.url();
    let cfg = sdk_config().await;
    let client = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&cfg)
            .endpoint_url(&endpoint)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build(),
    );
    (client, endpoint, port)
}

#[tokio::test]
async fn get_metric_data_on_a_closed_port_never_scales_down_before_the_deadline_and_is_recorded() {
    let (client, endpoint, _refusing) = unreachable_cloudwatch().await;
    let metrics = CloudWatchMetrics::new(client);
    let jobs = TestMetric::new("JobsRunning", "Maximum", 1.0);
    let now = Timestamp::now();

    // missing_data = "quiet" must not turn an error into quiet.
    for missing_data in ["busy", "quiet"] {
        let s = scenario(&deadline_at(now, minutes(360)), missing_data, &[&jobs]);
        let (fetched, decision) = fetch_and_decide(&metrics, &s, now - minutes(60), now).await;
        let error = fetched.expect_err("nothing listens on the port");
        assert!(
            matches!(error, MetricsError::Unavailable(_)),
            "{endpoint}: {error:?}"
        );
        assert!(error.is_retryable());
        let text = error.to_string();
        assert!(text.contains("GetMetricData"), "{text}");
        assert!(text.to_lowercase().contains("connection refused"), "{text}");

        let reason = deferral(&decision);
        assert!(reason.contains("metrics unreadable"), "{reason}");
        assert!(reason.contains("an error is not quiet"), "{reason}");
        assert_eq!(
            decision.evidence.fetch_error.as_deref(),
            Some(text.as_str())
        );
        assert!(decision.evidence.metrics.is_empty());
        let fallback = decision.evidence.fallback.as_deref().expect("fallback");
        assert!(
            fallback.contains("every metric counts as busy"),
            "{fallback}"
        );
        let json = decision.evidence_json();
        assert_eq!(json["fetch_error"], text.as_str());
        assert_eq!(json["rule"], serde_json::Value::Null);
    }

    // The same failure after the deadline: the deadline rule scales down anyway.
    let s = scenario(&deadline_at(now, minutes(-5)), "busy", &[&jobs]);
    let (fetched, decision) = fetch_and_decide(&metrics, &s, now - minutes(120), now).await;
    assert!(fetched.is_err());
    assert_eq!(
        decision.rule(),
        Some(Rule::Deadline),
        "{}",
        decision.reason()
    );
    assert!(
        decision.reason().contains("metrics unreadable"),
        "{}",
        decision.reason()
    );
}
