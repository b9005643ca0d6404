use super::*;
use crate::config;

const CONFIG: &str = r#"
[[scenario]]
name = "nightly-batch"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "batch"
  service = "worker"
  desired = 10
  max = 20
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "JobsRunning"
dimensions = { Job = "nightly" }
stat = "Maximum"
period = "1m"
below = 1
"#;

const SECOND_METRIC: &str = r#"
[[scenario.scale_down.metric]]
namespace = "Batch"
name = "QueueDepth"
dimensions = { Queue = "nightly-queue" }
stat = "Sum"
period = "5m"
below = 10
"#;

fn scenario_from(text: &str) -> Scenario {
    let config = config::parse(text, "gate-test.toml").expect("test config is valid");
    config.scenarios[0].clone()
}

fn scenario() -> Scenario {
    scenario_from(CONFIG)
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("test timestamp")
}

/// 22:00 JST on 2026-11-25.
fn scaled_up() -> Timestamp {
    ts("2026-11-25T13:00:00Z")
}

/// Datapoints of `spec` one per minute from `from` (inclusive) to `to` (exclusive).
fn minutes(from: &str, to: &str, value: f64) -> Vec<(Timestamp, f64)> {
    let (from, to) = (ts(from).as_second(), ts(to).as_second());
    (from..to).step_by(60).map(|s| (at(s), value)).collect()
}

fn window(spec: &MetricSpec, points: Vec<(Timestamp, f64)>) -> MetricWindow {
    MetricWindow {
        spec: spec.clone(),
        points,
    }
}

fn fetched(scenario: &Scenario, points: Vec<(Timestamp, f64)>) -> MetricsFetch {
    MetricsFetch::Windows(vec![window(&scenario.scale_down.metrics[0], points)])
}

fn reason(decision: &Decision) -> &str {
    match &decision.verdict {
        Verdict::Defer { reason } => reason,
        Verdict::ScaleDown { rule } => panic!("expected a deferral, got scale-down ({rule})"),
    }
}

// --- the window -------------------------------------------------------------------------

#[test]
fn window_is_the_last_quiet_for_of_settled_periods() {
    let s = scenario();
    let spec = &s.scale_down.metrics[0];
    // now 23:00:30Z, lag 2m: periods ending by 22:58:30 are settled → window [22:43, 22:58).
    let v = evaluate_metrics(
        spec,
        &minutes("2026-11-25T22:40:00Z", "2026-11-25T23:01:00Z", 0.0),
        ts("2026-11-25T23:00:30Z"),
        Duration::from_secs(900),
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(
        (v.from, v.to),
        (ts("2026-11-25T22:43:00Z"), ts("2026-11-25T22:58:00Z"))
    );
    let settled = v
        .periods
        .iter()
        .filter(|p| p.state != PeriodState::Pending)
        .count();
    assert_eq!(settled, 15);
    // 22:58, 22:59 and 23:00 (still filling) are pending.
    let pending: Vec<Timestamp> = v
        .periods
        .iter()
        .filter(|p| p.state == PeriodState::Pending)
        .map(|p| p.start)
        .collect();
    assert_eq!(
        pending,
        [
            ts("2026-11-25T22:58:00Z"),
            ts("2026-11-25T22:59:00Z"),
            ts("2026-11-25T23:00:00Z")
        ]
    );
    assert_eq!(v.verdict, MetricState::Quiet);
    assert!(v.counts_as_quiet);
    assert_eq!(v.metric, "Batch/JobsRunning{Job=nightly}");
}

#[test]
fn a_value_equal_to_the_threshold_is_busy_strictly_below_is_quiet() {
    let s = scenario();
    let spec = &s.scale_down.metrics[0];
    let now = ts("2026-11-25T23:00:00Z");
    let mut points = minutes("2026-11-25T22:40:00Z", "2026-11-25T23:00:00Z", 0.999);
    let quiet = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(quiet.verdict, MetricState::Quiet);
    points.push((ts("2026-11-25T22:50:00Z"), 1.0));
    let busy = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(busy.verdict, MetricState::Busy);
    assert_eq!(
        busy.worst,
        Some(Worst {
            value: 1.0,
            at: ts("2026-11-25T22:50:00Z")
        })
    );
}

#[test]
fn out_of_order_datapoints_are_bucketed_by_timestamp() {
    let s = scenario();
    let spec = &s.scale_down.metrics[0];
    let now = ts("2026-11-25T23:00:00Z");
    let mut points = minutes("2026-11-25T22:40:00Z", "2026-11-25T23:00:00Z", 0.0);
    points[10].1 = 4.0; // 22:50
    let mut shuffled = points.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    let ascending = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    let scrambled = evaluate_metrics(
        spec,
        &shuffled,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(ascending, scrambled);
    assert_eq!(scrambled.verdict, MetricState::Busy);
    assert_eq!(
        scrambled.worst.map(|w| w.at),
        Some(ts("2026-11-25T22:50:00Z"))
    );
    let starts: Vec<Timestamp> = scrambled.periods.iter().map(|p| p.start).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "periods are reported oldest first");
}

#[test]
fn newest_period_within_the_lag_is_pending_not_missing_so_a_quiet_batch_can_end() {
    let s = scenario();
    let spec = &s.scale_down.metrics[0];
    let now = ts("2026-11-25T23:00:10Z");
    // CloudWatch has not yet made the last two minutes readable.
    let points = minutes("2026-11-25T22:40:00Z", "2026-11-25T22:58:00Z", 0.0);
    let v = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(v.verdict, MetricState::Quiet, "{v:?}");
    assert!(v
        .periods
        .iter()
        .filter(|p| p.start >= ts("2026-11-25T22:58:00Z"))
        .all(|p| p.state == PeriodState::Pending && p.value.is_none()));

    // Without the lag the same answer would look like missing data (busy under "busy").
    let no_lag = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        Duration::ZERO,
    );
    assert_eq!(no_lag.verdict, MetricState::Missing);
    assert!(!no_lag.counts_as_quiet);
}

#[test]
fn a_partial_newest_period_never_counts_as_quiet_but_already_busy_counts_as_busy() {
    let s = scenario();
    let spec = &s.scale_down.metrics[0];
    let now = ts("2026-11-25T23:00:10Z");
    let mut points = minutes("2026-11-25T22:40:00Z", "2026-11-25T22:59:00Z", 0.0);
    // A settled gap that the pending quiet value must not fill in.
    points.retain(|(t, _)| *t != ts("2026-11-25T22:57:00Z"));
    let v = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    assert_eq!(v.verdict, MetricState::Missing);
    let pending = v
        .periods
        .iter()
        .find(|p| p.start == ts("2026-11-25T22:58:00Z"))
        .expect("22:58 is reported");
    assert_eq!(
        (pending.value, pending.state),
        (Some(0.0), PeriodState::Pending)
    );

    // The batch restarted a minute ago: the datapoint exists, so the metric is busy now.
    points.push((ts("2026-11-25T22:59:00Z"), 2.0));
    let v = evaluate_metrics(
        spec,
        &points,
        now,
        s.scale_down.quiet_for,
        MissingData::Quiet,
        INGESTION_LAG,
    );
    assert_eq!(v.verdict, MetricState::Busy);
    assert_eq!(v.worst.map(|w| w.value), Some(2.0));
}

#[test]
fn quiet_for_not_a_multiple_of_the_period_rounds_the_window_up() {
    let s = scenario_from(&CONFIG.replace("period = \"1m\"", "period = \"10m\""));
    let spec = &s.scale_down.metrics[0];
    // 15m of 10m periods: two periods, [22:30, 22:50) when now is 23:01.
    let v = evaluate_metrics(
        spec,
        &[],
        ts("2026-11-25T23:01:00Z"),
        s.scale_down.quiet_for,
        MissingData::Quiet,
        INGESTION_LAG,
    );
    assert_eq!(
        (v.from, v.to),
        (ts("2026-11-25T22:30:00Z"), ts("2026-11-25T22:50:00Z"))
    );
    assert_eq!(v.verdict, MetricState::Missing);
    assert!(v.counts_as_quiet);
}

#[test]
fn two_datapoints_in_one_period_count_as_the_higher() {
    let s = scenario_from(&CONFIG.replace("period = \"1m\"", "period = \"5m\""));
    let spec = &s.scale_down.metrics[0];
    let points = [
        (ts("2026-11-25T22:45:00Z"), 0.0),
        (ts("2026-11-25T22:47:00Z"), 3.0),
        (ts("2026-11-25T22:50:00Z"), 0.0),
        (ts("2026-11-25T22:40:00Z"), 0.0),
    ];
    let v = evaluate_metrics(
        spec,
        &points,
        ts("2026-11-25T23:00:00Z"),
        s.scale_down.quiet_for,
        MissingData::Busy,
        INGESTION_LAG,
    );
    let p = v
        .periods
        .iter()
        .find(|p| p.start == ts("2026-11-25T22:45:00Z"))
        .expect("22:45 period");
    assert_eq!((p.value, p.state), (Some(3.0), PeriodState::Busy));
}

#[test]
fn query_range_is_aligned_to_every_period_and_covers_every_window() {
    let s = scenario_from(&format!("{CONFIG}{SECOND_METRIC}"));
    let now = ts("2026-11-25T23:03:20Z");
    let range = query_range(&s.scale_down, now);
    // 1m metric: [22:46, 23:01); 5m metric: [22:45, 23:00) → from 22:45, aligned to 5m.
    assert_eq!(range.from, ts("2026-11-25T22:45:00Z"));
    assert_eq!(range.to, ts("2026-11-25T23:04:00Z"));
    for spec in &s.scale_down.metrics {
        let v = evaluate_metrics(
            spec,
            &[],
            now,
            s.scale_down.quiet_for,
            MissingData::Busy,
            INGESTION_LAG,
        );
        assert!(range.from <= v.from && v.to <= range.to, "{v:?}");
    }
}

// --- the deadline -----------------------------------------------------------------------

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).expect("zone in the bundled tzdb")
}

#[test]
fn deadline_earlier_in_the_day_than_the_scale_up_is_the_next_day() {
    // Scale-up 22:00 JST, deadline 07:30 → 07:30 JST the next morning.
    let d = deadline_instant(
        &zone("Asia/Tokyo"),
        jiff::civil::time(7, 30, 0, 0),
        scaled_up(),
    );
    assert_eq!(d, ts("2026-11-25T22:30:00Z"));
    assert_eq!(
        zoned_minute(&zone("Asia/Tokyo"), d),
        "2026-11-26T07:30+09:00"
    );
}

#[test]
fn deadline_later_in_the_day_than_the_scale_up_is_the_same_day() {
    // Scale-up 01:00 JST, deadline 07:30 → 07:30 the same day.
    let d = deadline_instant(
        &zone("Asia/Tokyo"),
        jiff::civil::time(7, 30, 0, 0),
        ts("2026-11-25T16:00:00Z"),
    );
    assert_eq!(d, ts("2026-11-25T22:30:00Z"));
    // A scale-up exactly at the deadline time waits for the next one.
    let d = deadline_instant(
        &zone("Asia/Tokyo"),
        jiff::civil::time(7, 30, 0, 0),
        ts("2026-11-25T22:30:00Z"),
    );
    assert_eq!(d, ts("2026-11-26T22:30:00Z"));
}

#[test]
fn deadline_across_spring_forward_counts_real_hours() {
    // New York, 2026-03-08: 02:00 EST → 03:00 EDT. Scale-up 22:00 EST the evening before.
    let ny = zone("America/New_York");
    let up = ts("2026-03-08T03:00:00Z");
    let d = deadline_instant(&ny, jiff::civil::time(7, 30, 0, 0), up);
    assert_eq!(d, ts("2026-03-08T11:30:00Z")); // 07:30 EDT
    assert_eq!(zoned_minute(&ny, d), "2026-03-08T07:30-04:00");
    assert_eq!(d.duration_since(up), SignedDuration::from_mins(8 * 60 + 30));

    // Berlin, 2026-03-29: 02:00 CET → 03:00 CEST.
    let berlin = zone("Europe/Berlin");
    let d = deadline_instant(
        &berlin,
        jiff::civil::time(6, 0, 0, 0),
        ts("2026-03-28T21:00:00Z"),
    );
    assert_eq!(zoned_minute(&berlin, d), "2026-03-29T06:00+02:00");
}

#[test]
fn deadline_inside_the_skipped_hour_moves_forward_by_the_gap() {
    // 02:30 does not exist in New York on 2026-03-08: compatible → 03:30 EDT.
    let ny = zone("America/New_York");
    let d = deadline_instant(
        &ny,
        jiff::civil::time(2, 30, 0, 0),
        ts("2026-03-08T03:00:00Z"),
    );
    assert_eq!(d, ts("2026-03-08T07:30:00Z"));
    assert_eq!(zoned_minute(&ny, d), "2026-03-08T03:30-04:00");
}

#[test]
fn deadline_across_fall_back_counts_the_repeated_hour() {
    // New York, 2026-11-01: 02:00 EDT → 01:00 EST. Scale-up 22:00 EDT the evening before.
    let ny = zone("America/New_York");
    let up = ts("2026-11-01T02:00:00Z");
    let d = deadline_instant(&ny, jiff::civil::time(7, 30, 0, 0), up);
    assert_eq!(zoned_minute(&ny, d), "2026-11-01T07:30-05:00");
    assert_eq!(
        d.duration_since(up),
        SignedDuration::from_mins(10 * 60 + 30)
    );
}

#[test]
fn deadline_inside_the_repeated_hour_is_its_first_occurrence_after_scale_up() {
    let ny = zone("America/New_York");
    let deadline = jiff::civil::time(1, 30, 0, 0);
    // Scale-up before both 01:30s: the earlier one (EDT).
    let d = deadline_instant(&ny, deadline, ts("2026-11-01T02:00:00Z"));
    assert_eq!(zoned_minute(&ny, d), "2026-11-01T01:30-04:00");
    // Scale-up at 01:10 EST, between them: the later one (EST), 20 minutes later.
    let up = ts("2026-11-01T06:10:00Z");
    let d = deadline_instant(&ny, deadline, up);
    assert_eq!(zoned_minute(&ny, d), "2026-11-01T01:30-05:00");
    assert_eq!(d.duration_since(up), SignedDuration::from_mins(20));
}

// --- decide -----------------------------------------------------------------------------

#[test]
fn busy_metric_defers_with_its_value_threshold_and_the_deadline_in_the_reason() {
    let s = scenario();
    let now = ts("2026-11-25T13:50:00Z"); // 22:50 JST
    let mut points = minutes("2026-11-25T13:30:00Z", "2026-11-25T13:50:00Z", 0.0);
    points.push((ts("2026-11-25T13:41:00Z"), 3.0));
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    let r = reason(&d);
    assert!(
        r.contains(
            "Batch/JobsRunning{Job=nightly} Maximum was 3 (threshold below 1) at 2026-11-25T13:41Z"
        ),
        "{r}"
    );
    assert!(
        r.contains("deadline 07:30 Asia/Tokyo falls at 2026-11-26T07:30+09:00 (2026-11-25T22:30Z)"),
        "{r}"
    );
    assert_eq!(d.evidence.rule, None);
    assert_eq!(d.evidence.metrics[0].verdict, MetricState::Busy);
    assert_eq!(d.evidence.metrics[0].worst.map(|w| w.value), Some(3.0));
}

#[test]
fn quiet_for_the_whole_window_after_min_hold_scales_down_with_rule_quiet() {
    let s = scenario();
    let now = ts("2026-11-25T14:00:00Z"); // 23:00 JST, 1h after scale-up
    let points = minutes("2026-11-25T13:30:00Z", "2026-11-25T14:00:00Z", 0.0);
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    assert_eq!(d.verdict, Verdict::ScaleDown { rule: Rule::Quiet });
    assert!(
        d.reason()
            .starts_with("quiet: every metric below its threshold for 15m"),
        "{}",
        d.reason()
    );
    assert!(
        d.reason().contains("at most 0 (threshold below 1)"),
        "{}",
        d.reason()
    );
    assert_eq!(d.evidence.rule, Some(Rule::Quiet));
    assert_eq!(d.evidence.fallback, None);
}

#[test]
fn quiet_but_min_hold_not_passed_defers_until_the_hold_ends() {
    let s = scenario();
    let now = ts("2026-11-25T13:20:00Z"); // 20 minutes after scale-up; min_hold 30m
    let points = minutes("2026-11-25T12:50:00Z", "2026-11-25T13:20:00Z", 0.0);
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    let r = reason(&d);
    assert!(r.contains("every metric quiet for 15m"), "{r}");
    assert!(
        r.contains("min_hold 30m since scale-up at 2026-11-25T13:00Z has not passed: not before 2026-11-25T13:30Z"),
        "{r}"
    );
    assert_eq!(d.evidence.min_hold_until, ts("2026-11-25T13:30:00Z"));
}

#[test]
fn past_the_deadline_with_busy_metrics_scales_down_with_rule_deadline() {
    let s = scenario();
    let now = ts("2026-11-25T22:31:00Z"); // 07:31 JST
    let points = minutes("2026-11-25T22:00:00Z", "2026-11-25T22:31:00Z", 5.0);
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    assert_eq!(
        d.verdict,
        Verdict::ScaleDown {
            rule: Rule::Deadline
        }
    );
    assert!(
        d.reason()
            .starts_with("deadline: 07:30 Asia/Tokyo passed at 2026-11-26T07:30+09:00"),
        "{}",
        d.reason()
    );
    assert!(
        d.reason()
            .contains("still busy: Batch/JobsRunning{Job=nightly} Maximum was 5"),
        "{}",
        d.reason()
    );
    assert_eq!(d.evidence.metrics[0].verdict, MetricState::Busy);
    // Exactly at the deadline counts as past it.
    let d = decide(
        &s,
        &fetched(&s, Vec::new()),
        scaled_up(),
        ts("2026-11-25T22:30:00Z"),
        false,
    );
    assert_eq!(d.rule(), Some(Rule::Deadline));
}

#[test]
fn missing_data_busy_defers_and_says_the_periods_had_no_datapoints() {
    let s = scenario();
    let now = ts("2026-11-25T14:00:00Z");
    let d = decide(&s, &fetched(&s, Vec::new()), scaled_up(), now, false);
    let r = reason(&d);
    assert!(
        r.contains("Batch/JobsRunning{Job=nightly} Maximum has no datapoints in 15 of 15 periods since 2026-11-25T13:43Z (missing_data = \"busy\" counts them as busy)"),
        "{r}"
    );
    assert_eq!(d.evidence.metrics[0].verdict, MetricState::Missing);
    let fallback = d.evidence.fallback.as_deref().expect("fallback recorded");
    assert!(
        fallback.contains("no datapoints for any metric"),
        "{fallback}"
    );
    assert!(fallback.contains("counts as busy"), "{fallback}");
}

#[test]
fn missing_data_quiet_scales_down_and_records_the_fallback() {
    let s = scenario_from(&CONFIG.replace("missing_data = \"busy\"", "missing_data = \"quiet\""));
    let now = ts("2026-11-25T14:00:00Z");
    let d = decide(&s, &fetched(&s, Vec::new()), scaled_up(), now, false);
    assert_eq!(d.rule(), Some(Rule::Quiet));
    assert!(
        d.reason()
            .contains("counted as quiet (missing_data = \"quiet\")"),
        "{}",
        d.reason()
    );
    let fallback = d.evidence.fallback.as_deref().expect("fallback recorded");
    assert!(fallback.contains("counts as quiet"), "{fallback}");
    // Some datapoints, a gap: the gap counts as quiet too.
    let mut points = minutes("2026-11-25T13:40:00Z", "2026-11-25T14:00:00Z", 0.0);
    points.retain(|(t, _)| *t != ts("2026-11-25T13:50:00Z"));
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    assert_eq!(d.rule(), Some(Rule::Quiet));
    assert_eq!(d.evidence.metrics[0].verdict, MetricState::Missing);
    assert_eq!(d.evidence.fallback, None);
}

#[test]
fn fetch_error_before_the_deadline_never_scales_down_even_with_missing_data_quiet() {
    for missing in ["busy", "quiet"] {
        let s = scenario_from(&CONFIG.replace(
            "missing_data = \"busy\"",
            &format!("missing_data = \"{missing}\""),
        ));
        let error = "CloudWatch GetMetricData failed: could not connect (connection refused)";
        let d = decide(
            &s,
            &MetricsFetch::Failed(error.to_string()),
            scaled_up(),
            ts("2026-11-25T16:00:00Z"),
            false,
        );
        let r = reason(&d);
        assert!(r.contains(error), "{missing}: {r}");
        assert!(r.contains("an error is not quiet"), "{missing}: {r}");
        assert!(
            r.contains("deadline 07:30 Asia/Tokyo falls at"),
            "{missing}: {r}"
        );
        assert_eq!(d.evidence.fetch_error.as_deref(), Some(error));
        let fallback = d.evidence.fallback.as_deref().expect("fallback recorded");
        assert!(
            fallback.contains("every metric counts as busy"),
            "{fallback}"
        );
    }
}

#[test]
fn fetch_error_after_the_deadline_scales_down_with_rule_deadline() {
    let s = scenario();
    let d = decide(
        &s,
        &MetricsFetch::Failed("timed out".to_string()),
        scaled_up(),
        ts("2026-11-25T23:00:00Z"),
        false,
    );
    assert_eq!(d.rule(), Some(Rule::Deadline));
    assert!(
        d.reason().contains("metrics unreadable: timed out"),
        "{}",
        d.reason()
    );
    assert_eq!(d.evidence.fetch_error.as_deref(), Some("timed out"));
}

#[test]
fn force_scales_down_whatever_the_metrics_hold_and_error_say() {
    let s = scenario();
    let now = ts("2026-11-25T13:05:00Z"); // before min_hold, busy, long before the deadline
    let busy = fetched(
        &s,
        minutes("2026-11-25T12:40:00Z", "2026-11-25T13:05:00Z", 9.0),
    );
    for input in [busy, MetricsFetch::Failed("denied".to_string())] {
        let d = decide(&s, &input, scaled_up(), now, true);
        assert_eq!(d.verdict, Verdict::ScaleDown { rule: Rule::Forced });
        assert!(d.evidence.force);
        assert!(d.reason().starts_with("forced: "), "{}", d.reason());
    }
}

#[test]
fn multiple_metrics_one_busy_defers_naming_only_the_busy_one() {
    let s = scenario_from(&format!("{CONFIG}{SECOND_METRIC}"));
    let now = ts("2026-11-25T14:00:00Z");
    let jobs = &s.scale_down.metrics[0];
    let queue = &s.scale_down.metrics[1];
    let windows = vec![
        // Config order is not required of the adapter.
        window(
            queue,
            vec![
                (ts("2026-11-25T13:40:00Z"), 4.0),
                (ts("2026-11-25T13:50:00Z"), 12.0),
                (ts("2026-11-25T13:45:00Z"), 0.0),
            ],
        ),
        window(
            jobs,
            minutes("2026-11-25T13:30:00Z", "2026-11-25T14:00:00Z", 0.0),
        ),
    ];
    let d = decide(&s, &MetricsFetch::Windows(windows), scaled_up(), now, false);
    let r = reason(&d);
    assert!(
        r.contains("Batch/QueueDepth{Queue=nightly-queue} Sum was 12 (threshold below 10) at 2026-11-25T13:50Z"),
        "{r}"
    );
    assert!(!r.contains("JobsRunning"), "{r}");
    let states: Vec<MetricState> = d.evidence.metrics.iter().map(|m| m.verdict).collect();
    assert_eq!(states, [MetricState::Quiet, MetricState::Busy]);
    assert_eq!(
        d.evidence.metrics[0].metric,
        "Batch/JobsRunning{Job=nightly}"
    );
}

#[test]
fn evidence_serializes_periods_thresholds_rule_and_deadline() {
    let s = scenario();
    let now = ts("2026-11-25T14:00:00Z");
    let mut points = minutes("2026-11-25T13:30:00Z", "2026-11-25T14:00:00Z", 0.0);
    points.retain(|(t, _)| *t != ts("2026-11-25T13:50:00Z"));
    let d = decide(&s, &fetched(&s, points), scaled_up(), now, false);
    let json = d.evidence_json();
    assert_eq!(json["rule"], serde_json::Value::Null);
    assert_eq!(json["deadline"], "2026-11-25T22:30:00Z");
    assert_eq!(json["deadline_local"], "2026-11-26T07:30+09:00");
    assert_eq!(json["missing_data"], "busy");
    assert_eq!(json["ingestion_lag"], "2m");
    let metric = &json["metrics"][0];
    assert_eq!(metric["below"], 1.0);
    assert_eq!(metric["verdict"], "missing");
    assert_eq!(metric["periods"][0]["start"], "2026-11-25T13:43:00Z");
    assert_eq!(metric["periods"][0]["value"], 0.0);
    assert_eq!(metric["periods"][7]["value"], serde_json::Value::Null);
    assert_eq!(metric["periods"][7]["state"], "missing");
    let back: Evidence = serde_json::from_value(json).expect("evidence round-trips");
    assert_eq!(back, d.evidence);

    let quiet = decide(
        &s,
        &fetched(
            &s,
            minutes("2026-11-25T13:30:00Z", "2026-11-25T14:00:00Z", 0.0),
        ),
        scaled_up(),
        now,
        false,
    );
    assert_eq!(quiet.evidence_json()["rule"], "quiet");
}

#[test]
fn metric_without_a_window_counts_as_missing() {
    let s = scenario();
    let d = decide(
        &s,
        &MetricsFetch::Windows(Vec::new()),
        scaled_up(),
        ts("2026-11-25T14:00:00Z"),
        false,
    );
    assert_eq!(d.evidence.metrics.len(), 1);
    assert_eq!(d.evidence.metrics[0].verdict, MetricState::Missing);
    assert!(!d.scales_down());
}

#[test]
fn metrics_fetch_from_a_result_keeps_the_error_message() {
    let ok: Result<Vec<MetricWindow>, String> = Ok(Vec::new());
    assert_eq!(MetricsFetch::from(ok), MetricsFetch::Windows(Vec::new()));
    let err: Result<Vec<MetricWindow>, String> = Err("boom".to_string());
    assert_eq!(
        MetricsFetch::from(err),
        MetricsFetch::Failed("boom".to_string())
    );
}
