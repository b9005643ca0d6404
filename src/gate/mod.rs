//! The scale-down gate: is the night over? Pure policy: no I/O, no clock (`now` is passed in).
//!
//! A `check` (scheduled, or triggered by a completion event) and a `scale-down` without
//! `force` ask [`decide`]. It scales down when
//!
//! 1. the command says `force = true` (rule [`Rule::Forced`]), or
//! 2. `now` is at or past the deadline (rule [`Rule::Deadline`]): the first time the scenario's
//!    local clock reads `deadline` after the scale-up, whatever the metrics say, or
//! 3. every metric was quiet for `quiet_for` **and** `min_hold` has passed since the scale-up
//!    (rule [`Rule::Quiet`]).
//!
//! Otherwise it defers, with a reason that names each busy metric with its worst value and
//! threshold, when `min_hold` ends if it has not, and when the deadline falls. Every decision
//! carries its [`Evidence`]: the value of every period of every metric, the thresholds, the rule
//! that fired and the deadline instant, for the run history.
//!
//! # The window
//!
//! Periods are aligned to the metric's period counted from the Unix epoch, as CloudWatch aligns
//! them when the query's StartTime is aligned ([`query_range`] makes it so). A metric is judged on
//! the last `ceil(quiet_for / period)` *settled* periods (see lag below). Each period's statistic
//! must be strictly below `below`; a period without a datapoint is *missing* and counts as
//! `missing_data` says ("busy" → busy, "quiet" → quiet). Datapoints may arrive in any order
//! (AWS answers newest first by default, the emulator oldest first): they are bucketed by
//! timestamp, never by position. Two datapoints in one period (only possible when a query's
//! StartTime was not aligned) count as the higher of them: higher is busier, so this errs busy.
//!
//! # Ingestion lag: settled periods only; busy evidence taken at once
//!
//! CloudWatch makes a datapoint readable a minute or two after its timestamp, so the newest
//! period(s) may still be filling: empty, or holding part of their datapoints. The gate counts a
//! period as *settled* once it ended at least `lag` ([`INGESTION_LAG`], 2 minutes) before `now`,
//! and the window is the last `quiet_for` of settled periods: `[end - n·period, end)` with
//! `end = floor(now - lag, period)`. Periods after `end` are *pending*: shown in the evidence,
//! never counted as quiet or missing, but a pending value already at or above the threshold makes
//! the metric busy, because that datapoint exists whatever else arrives later.
//!
//! Why not "a partial newest period counts as missing"? Under `missing_data = "busy"` a check
//! would then always find a missing period and never scale down before the deadline; under
//! `"quiet"` it would count a period nobody has seen yet as quiet, which is the early scale-down
//! this gate exists to prevent. Excluding unsettled periods is both safe and live; its price is
//! that a scale-down comes up to `lag + period` later than the last quiet datapoint.
//!
//! # Deadline and daylight saving time
//!
//! [`deadline_instant`] is the first instant after the scale-up at which the scenario's local
//! clock reads `deadline` (a deadline earlier in the day than the scale-up is the next day's), in
//! zoned arithmetic so DST changes in between are counted in real hours. A local time that does
//! not exist (inside a spring-forward gap) resolves with jiff's *compatible* rule, the one of
//! RFC 5545 and Temporal: it moves forward by the length of the gap (02:30 on a night whose
//! clocks jump 02:00 → 03:00 is 03:30 new time). A local time that happens twice (fall-back)
//! is its first occurrence after the scale-up: normally the earlier one, the later one when the
//! scale-up happened between the two.
//!
//! # Failures are not quiet
//!
//! When GetMetricData fails, nothing is known about the metrics: the gate treats every metric as
//! busy, records the error and the fallback in the evidence, and waits for a later check or the
//! deadline, whatever `missing_data` says (that setting is about periods without datapoints in a
//! successful answer). A successful answer without any datapoint follows `missing_data`, and the
//! evidence says so.

use crate::config::{MetricSpec, MissingData, ScaleDown, Scenario};
use crate::text::{config_duration as format_duration, cut, hh_mm, utc_minute, zoned_minute};
use jiff::civil::Time;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How long after a period ends the gate waits before it trusts the period's statistic: about
/// CloudWatch's usual delay between a datapoint's timestamp and it being readable.
pub const INGESTION_LAG: Duration = Duration::from_secs(120);

/// The longest alignment [`query_range`] uses for the query's StartTime: periods whose least
/// common multiple is longer than this fall back to the longest period's alignment.
const MAX_ALIGNMENT_SECS: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// What was fetched for one metric: its datapoints as (period start, statistic), in any order.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricWindow {
    pub spec: MetricSpec,
    pub points: Vec<(Timestamp, f64)>,
}

/// The result of reading the metrics: what the CloudWatch adapter's `fetch` returned, with the
/// error reduced to its message (the gate only records it). Build it with `.into()` from the
/// adapter's `Result`.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFetch {
    Windows(Vec<MetricWindow>),
    Failed(String),
    /// Not read: a forced scale-down does not consult the metrics.
    NotRead,
}

impl<E: fmt::Display> From<Result<Vec<MetricWindow>, E>> for MetricsFetch {
    fn from(result: Result<Vec<MetricWindow>, E>) -> Self {
        match result {
            Ok(windows) => MetricsFetch::Windows(windows),
            Err(e) => MetricsFetch::Failed(e.to_string()),
        }
    }
}

/// The time range to ask CloudWatch for, covering every metric's window: `from` is aligned to
/// every metric's period (so CloudWatch's buckets are the gate's), `to` (exclusive) is `now`
/// rounded up to the minute, so pending periods are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryRange {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The range [`decide`] needs datapoints for at `now`, with [`INGESTION_LAG`].
pub fn query_range(scale_down: &ScaleDown, now: Timestamp) -> QueryRange {
    let now_s = now.as_second();
    let lag = secs(INGESTION_LAG);
    let mut alignment: i64 = 60;
    let mut from = now_s;
    for spec in &scale_down.metrics {
        let p = period_secs(spec);
        let start = settled_end(now_s, lag, p)
            .saturating_sub(p.saturating_mul(periods_in(scale_down.quiet_for, p)));
        from = from.min(start);
        alignment = match lcm(alignment, p) {
            Some(l) if l <= MAX_ALIGNMENT_SECS => l,
            _ => alignment.max(p),
        };
    }
    let to = ceil_to(now_s + i64::from(now.subsec_nanosecond() > 0), 60);
    QueryRange {
        from: at(floor_to(from, alignment)),
        to: at(to.max(from.saturating_add(60))),
    }
}

mod window;
pub use window::{evaluate_metrics, MetricState, MetricVerdict, PeriodState, PeriodValue, Worst};

// ---------------------------------------------------------------------------------------------
// Deadline
// ---------------------------------------------------------------------------------------------

/// The first instant after `scaled_up_at` at which the local clock of `tz` reads `deadline`.
///
/// A deadline earlier in the day than the scale-up is the next day's. A local time skipped by a
/// DST change moves forward by the gap (jiff's compatible rule); a repeated one is the first of
/// its occurrences after the scale-up. See the module docs.
pub fn deadline_instant(tz: &TimeZone, deadline: Time, scaled_up_at: Timestamp) -> Timestamp {
    let mut date = tz.to_datetime(scaled_up_at).date();
    // The scale-up's local date, then the next: the next day's deadline is always after it.
    for _ in 0..3 {
        let local = tz.to_ambiguous_timestamp(date.to_datetime(deadline));
        let candidates = match local.offset() {
            AmbiguousOffset::Fold { .. } => [local.earlier().ok(), local.later().ok()],
            _ => [local.compatible().ok(), None],
        };
        if let Some(t) = candidates.into_iter().flatten().find(|t| *t > scaled_up_at) {
            return t;
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    // Only at the end of jiff's supported range (year 9999): a day later, at the latest.
    scaled_up_at
        .checked_add(SignedDuration::from_hours(24))
        .unwrap_or(Timestamp::MAX)
}

// ---------------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------------

/// Which rule let the night end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Every metric quiet for `quiet_for`, and `min_hold` passed.
    Quiet,
    /// The deadline passed: scale down regardless of metrics.
    Deadline,
    /// The command said `force = true`.
    Forced,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Quiet => "quiet",
            Rule::Deadline => "deadline",
            Rule::Forced => "forced",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    ScaleDown {
        rule: Rule,
    },
    /// Keep the capacity; `reason` is the response's reason.
    Defer {
        reason: String,
    },
}

/// Everything a decision was based on, recorded with the run (`EventRecord::evidence`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The rule that fired; `None` when deferred.
    pub rule: Option<Rule>,
    /// The decision in one sentence (the response's reason).
    pub summary: String,
    pub now: Timestamp,
    pub scaled_up_at: Timestamp,
    /// When the deadline falls (or fell), as an instant and on the scenario's local clock.
    pub deadline: Timestamp,
    pub deadline_local: String,
    pub min_hold_until: Timestamp,
    pub quiet_for: String,
    /// `busy` or `quiet`.
    pub missing_data: String,
    pub ingestion_lag: String,
    pub force: bool,
    /// One verdict per configured metric, in config order; empty when the fetch failed.
    pub metrics: Vec<MetricVerdict>,
    /// The GetMetricData error, when the metrics could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_error: Option<String>,
    /// How missing knowledge was counted: a failed fetch (busy until the deadline) or an answer
    /// without any datapoint (per `missing_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub evidence: Evidence,
}

impl Decision {
    pub fn scales_down(&self) -> bool {
        matches!(self.verdict, Verdict::ScaleDown { .. })
    }

    /// The rule that fired, when the decision is to scale down.
    pub fn rule(&self) -> Option<Rule> {
        match self.verdict {
            Verdict::ScaleDown { rule } => Some(rule),
            Verdict::Defer { .. } => None,
        }
    }

    /// One sentence for the response's `reason`, for either verdict.
    pub fn reason(&self) -> &str {
        &self.evidence.summary
    }

    /// The decision in one line of at most [`SHORT_REASON_MAX`] characters, for responses, logs
    /// and tables (`busy: JobsRunning max 5 >= 1 at 00:09`, `quiet 15m after min_hold: scaling
    /// down`, `deadline 07:30 reached: scaling down`); [`Decision::reason`] is the full sentence.
    pub fn short_reason(&self, tz: &TimeZone) -> String {
        let e = &self.evidence;
        let text = match self.verdict {
            Verdict::ScaleDown { rule: Rule::Forced } => {
                "forced: scaling down without the metrics".to_string()
            }
            Verdict::ScaleDown {
                rule: Rule::Deadline,
            } => format!(
                "deadline {} reached: scaling down",
                hh_mm(e.deadline, Some(tz))
            ),
            Verdict::ScaleDown { rule: Rule::Quiet } => {
                format!("quiet {} after min_hold: scaling down", e.quiet_for)
            }
            Verdict::Defer { .. } => {
                let busy: Vec<&MetricVerdict> =
                    e.metrics.iter().filter(|m| !m.counts_as_quiet).collect();
                let more = match busy.len() {
                    0 | 1 => String::new(),
                    n => format!(" (+{} more)", n - 1),
                };
                if e.fetch_error.is_some() {
                    format!(
                        "metrics unreadable: holding until deadline {}",
                        hh_mm(e.deadline, Some(tz))
                    )
                } else if let Some(m) = busy.first() {
                    let name = short_metric_name(&m.metric);
                    match (m.verdict, m.worst) {
                        (MetricState::Busy, Some(w)) => format!(
                            "busy: {name} {} {} >= {} at {}{more}",
                            short_stat(&m.stat),
                            w.value,
                            m.below,
                            hh_mm(w.at, Some(tz))
                        ),
                        _ => format!("busy: {name} has no datapoints (missing_data = busy){more}"),
                    }
                } else if e.now < e.min_hold_until {
                    format!(
                        "quiet, but min_hold runs until {}",
                        hh_mm(e.min_hold_until, Some(tz))
                    )
                } else {
                    format!(
                        "not yet quiet for {}; deadline {}",
                        e.quiet_for,
                        hh_mm(e.deadline, Some(tz))
                    )
                }
            }
        };
        cut(&text, SHORT_REASON_MAX)
    }

    /// The evidence as JSON, for `EventRecord::evidence`.
    pub fn evidence_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.evidence).unwrap_or_else(
            |e| serde_json::json!({ "summary": self.evidence.summary, "error": e.to_string() }),
        )
    }
}

/// Decides whether `scenario`'s night is over at `now` (see the module docs for the rules).
///
/// `fetched` is what the CloudWatch adapter returned for `query_range(&scenario.scale_down, now)`;
/// windows are matched to the configured metrics by their spec, and a metric without a window
/// counts as having no datapoints.
pub fn decide(
    scenario: &Scenario,
    fetched: &MetricsFetch,
    scaled_up_at: Timestamp,
    now: Timestamp,
    force: bool,
) -> Decision {
    let sd = &scenario.scale_down;
    let deadline = deadline_instant(&scenario.timezone, sd.deadline, scaled_up_at);
    let min_hold_until = scaled_up_at
        .checked_add(sd.min_hold)
        .unwrap_or(Timestamp::MAX);
    let deadline_text = format!(
        "deadline {} {} falls at {} ({})",
        sd.deadline.strftime("%H:%M"),
        scenario.timezone_name,
        zoned_minute(&scenario.timezone, deadline),
        utc_minute(deadline)
    );

    let (metrics, fetch_error) = match fetched {
        MetricsFetch::Windows(windows) => {
            let verdicts = sd
                .metrics
                .iter()
                .map(|spec| {
                    let points = windows
                        .iter()
                        .find(|w| w.spec == *spec)
                        .map_or(&[][..], |w| &w.points[..]);
                    evaluate_metrics(
                        spec,
                        points,
                        now,
                        sd.quiet_for,
                        sd.missing_data,
                        INGESTION_LAG,
                    )
                })
                .collect::<Vec<_>>();
            (verdicts, None)
        }
        MetricsFetch::Failed(error) => (Vec::new(), Some(error.clone())),
        MetricsFetch::NotRead => (Vec::new(), None),
    };

    let fallback = match &fetch_error {
        Some(_) => Some(
            "the metrics could not be read: every metric counts as busy (an error is not quiet, \
             whatever missing_data says), so only the deadline or force scales down"
                .to_string(),
        ),
        None if matches!(fetched, MetricsFetch::NotRead) => None,
        None if metrics
            .iter()
            .all(|m| m.periods.iter().all(|p| p.value.is_none())) =>
        {
            Some(format!(
                "GetMetricData returned no datapoints for any metric: every period counts as {} (missing_data = \"{}\")",
                missing_data_str(sd.missing_data),
                missing_data_str(sd.missing_data)
            ))
        }
        None => None,
    };

    let all_quiet = fetch_error.is_none() && metrics.iter().all(|m| m.counts_as_quiet);
    let hold_passed = now >= min_hold_until;
    let busy_text = busy_parts(&metrics, sd.missing_data);

    let (verdict, summary) = if force {
        (
            Verdict::ScaleDown { rule: Rule::Forced },
            "forced: the command said force = true; scaling down without waiting for the metrics or the deadline"
                .to_string(),
        )
    } else if now >= deadline {
        let still = if let Some(e) = &fetch_error {
            format!(" (metrics unreadable: {e})")
        } else if busy_text.is_empty() {
            String::new()
        } else {
            format!(" (still busy: {})", busy_text.join("; "))
        };
        (
            Verdict::ScaleDown {
                rule: Rule::Deadline,
            },
            format!(
                "deadline: {} {} passed at {} ({}); scaling down regardless of metrics{still}",
                sd.deadline.strftime("%H:%M"),
                scenario.timezone_name,
                zoned_minute(&scenario.timezone, deadline),
                utc_minute(deadline)
            ),
        )
    } else if all_quiet && hold_passed {
        let quiet: Vec<String> = metrics.iter().map(quiet_part).collect();
        (
            Verdict::ScaleDown { rule: Rule::Quiet },
            format!(
                "quiet: every metric below its threshold for {} ({}) and min_hold {} passed at {}; scaling down",
                format_duration(sd.quiet_for),
                quiet.join("; "),
                format_duration(sd.min_hold),
                utc_minute(min_hold_until)
            ),
        )
    } else {
        let mut parts = Vec::new();
        if let Some(e) = &fetch_error {
            parts.push(format!(
                "metrics unreadable ({e}); an error is not quiet, so the capacity stays until a check reads the metrics or the deadline passes"
            ));
        }
        parts.extend(busy_text);
        if all_quiet {
            parts.push(format!(
                "every metric quiet for {}",
                format_duration(sd.quiet_for)
            ));
        }
        if !hold_passed {
            parts.push(format!(
                "min_hold {} since scale-up at {} has not passed: not before {}",
                format_duration(sd.min_hold),
                utc_minute(scaled_up_at),
                utc_minute(min_hold_until)
            ));
        }
        parts.push(format!(
            "{deadline_text}; scale-down then happens regardless"
        ));
        let reason = parts.join("; ");
        (
            Verdict::Defer {
                reason: reason.clone(),
            },
            reason,
        )
    };

    Decision {
        evidence: Evidence {
            rule: match verdict {
                Verdict::ScaleDown { rule } => Some(rule),
                Verdict::Defer { .. } => None,
            },
            summary,
            now,
            scaled_up_at,
            deadline,
            deadline_local: zoned_minute(&scenario.timezone, deadline),
            min_hold_until,
            quiet_for: format_duration(sd.quiet_for),
            missing_data: missing_data_str(sd.missing_data).to_string(),
            ingestion_lag: format_duration(INGESTION_LAG),
            force,
            metrics,
            fetch_error,
            fallback,
        },
        verdict,
    }
}

/// One phrase per metric that keeps the night going: busy ones with their worst value,
/// missing ones when missing data counts as busy.
fn busy_parts(metrics: &[MetricVerdict], missing_data: MissingData) -> Vec<String> {
    metrics
        .iter()
        .filter(|m| !m.counts_as_quiet)
        .map(|m| match (m.verdict, m.worst) {
            (MetricState::Busy, Some(w)) => format!(
                "{} {} was {} (threshold below {}) at {}",
                m.metric,
                m.stat,
                w.value,
                m.below,
                utc_minute(w.at)
            ),
            _ => {
                let missing = m
                    .periods
                    .iter()
                    .filter(|p| p.state == PeriodState::Missing)
                    .count();
                let settled = m
                    .periods
                    .iter()
                    .filter(|p| p.state != PeriodState::Pending)
                    .count();
                format!(
                    "{} {} has no datapoints in {missing} of {settled} periods since {} (missing_data = \"{}\" counts them as busy)",
                    m.metric,
                    m.stat,
                    utc_minute(m.from),
                    missing_data_str(missing_data)
                )
            }
        })
        .collect()
}

fn quiet_part(m: &MetricVerdict) -> String {
    match (m.verdict, m.worst) {
        (MetricState::Quiet, Some(w)) => format!(
            "{} {} at most {} (threshold below {}) from {} to {}",
            m.metric,
            m.stat,
            w.value,
            m.below,
            utc_minute(m.from),
            utc_minute(m.to)
        ),
        _ => format!(
            "{} {} has periods without datapoints from {} to {}, counted as quiet (missing_data = \"quiet\")",
            m.metric,
            m.stat,
            utc_minute(m.from),
            utc_minute(m.to)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The longest short reason: one line of a table or a log.
pub const SHORT_REASON_MAX: usize = 80;

/// `JobsRunning` of `Batch/JobsRunning{Job=nightly}`.
fn short_metric_name(label: &str) -> &str {
    let no_dims = label.split('{').next().unwrap_or(label);
    no_dims.rsplit('/').next().unwrap_or(no_dims)
}

/// `max` for `Maximum`: the statistic as a short reason says it.
fn short_stat(stat: &str) -> &str {
    match stat {
        "Maximum" => "max",
        "Minimum" => "min",
        "Average" => "avg",
        "Sum" => "sum",
        "SampleCount" => "count",
        other => other,
    }
}

/// `Batch/JobsRunning{Job=nightly}`; dimensions in name order (the config keeps them sorted).
pub fn metric_label(spec: &MetricSpec) -> String {
    let mut label = format!("{}/{}", spec.namespace, spec.name);
    if !spec.dimensions.is_empty() {
        let dims: Vec<String> = spec
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        label.push_str(&format!("{{{}}}", dims.join(",")));
    }
    label
}

fn missing_data_str(m: MissingData) -> &'static str {
    match m {
        MissingData::Busy => "busy",
        MissingData::Quiet => "quiet",
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The metric's period in seconds; never below one second, so a period is never empty.
fn period_secs(spec: &MetricSpec) -> i64 {
    secs(spec.period).max(1)
}

/// Periods of `p` seconds needed to cover `quiet_for`: rounded up, at least one.
fn periods_in(quiet_for: Duration, p: i64) -> i64 {
    let q = secs(quiet_for);
    (q / p + i64::from(q % p != 0)).max(1)
}

/// End of the newest settled period: periods ending at or before `now - lag`.
fn settled_end(now_s: i64, lag_s: i64, p: i64) -> i64 {
    floor_to(now_s.saturating_sub(lag_s), p)
}

fn floor_to(t: i64, p: i64) -> i64 {
    t - t.rem_euclid(p)
}

fn ceil_to(t: i64, p: i64) -> i64 {
    let floor = floor_to(t, p);
    if floor == t {
        t
    } else {
        floor.saturating_add(p)
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: i64, b: i64) -> Option<i64> {
    (a / gcd(a, b)).checked_mul(b)
}

/// The instant `secs` after the epoch, clamped to jiff's range.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

#[cfg(test)]
mod tests;
