//! One metric judged over its window: the settled periods of the last `quiet_for`, the
//! ingestion lag, and how each period counts.

use super::*;

// ---------------------------------------------------------------------------------------------
// Per-metric verdict
// ---------------------------------------------------------------------------------------------

/// How one period counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodState {
    /// Settled, statistic strictly below the threshold.
    Quiet,
    /// Statistic at or above the threshold (settled, or pending with a value already too high).
    Busy,
    /// Settled, no datapoint: counts as `missing_data` says.
    Missing,
    /// Ended less than the ingestion lag ago (or not ended yet): not counted.
    Pending,
}

/// One period of one metric: its start and statistic (`null` when no datapoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodValue {
    pub start: Timestamp,
    pub value: Option<f64>,
    pub state: PeriodState,
}

/// A metric's overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricState {
    /// Every settled period has a value below the threshold.
    Quiet,
    /// Some period is at or above the threshold.
    Busy,
    /// No period is busy, but some settled period has no datapoint.
    Missing,
}

impl MetricState {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricState::Quiet => "quiet",
            MetricState::Busy => "busy",
            MetricState::Missing => "missing",
        }
    }
}

/// The highest value seen in a metric's periods, and the start of its period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Worst {
    pub value: f64,
    pub at: Timestamp,
}

/// One metric judged over its window; also its part of the [`Evidence`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    /// `Namespace/Name{Dim=value,…}`, e.g. `Batch/JobsRunning{Job=nightly}`.
    pub metric: String,
    pub stat: String,
    /// The period, e.g. `1m`.
    pub period: String,
    /// Threshold: quiet means strictly below it.
    pub below: f64,
    /// The settled window `[from, to)` that must be quiet.
    pub from: Timestamp,
    pub to: Timestamp,
    /// Settled periods, then pending ones, oldest first.
    pub periods: Vec<PeriodValue>,
    /// The highest value among the counted periods (settled ones, and pending ones already busy).
    pub worst: Option<Worst>,
    pub verdict: MetricState,
    /// Whether this metric lets the night end (quiet, or missing under `missing_data = "quiet"`).
    pub counts_as_quiet: bool,
}

/// Judges one metric at `now`: the last `quiet_for` of periods that ended at least `lag` ago,
/// aligned to the metric's period (see the module docs for the window and the lag rule).
pub fn evaluate_metrics(
    spec: &MetricSpec,
    points: &[(Timestamp, f64)],
    now: Timestamp,
    quiet_for: Duration,
    missing_data: MissingData,
    lag: Duration,
) -> MetricVerdict {
    let p = period_secs(spec);
    let end = settled_end(now.as_second(), secs(lag), p);
    let start = end.saturating_sub(p.saturating_mul(periods_in(quiet_for, p)));

    // Period start → statistic; several datapoints in one period count as the highest.
    let mut by_period: BTreeMap<i64, f64> = BTreeMap::new();
    for &(t, value) in points {
        if !value.is_finite() {
            continue;
        }
        let slot = by_period.entry(floor_to(t.as_second(), p)).or_insert(value);
        *slot = slot.max(value);
    }

    let mut periods = Vec::new();
    let mut s = start;
    while s < end {
        let value = by_period.get(&s).copied();
        let state = match value {
            Some(v) if v < spec.below => PeriodState::Quiet,
            Some(_) => PeriodState::Busy,
            None => PeriodState::Missing,
        };
        periods.push(PeriodValue {
            start: at(s),
            value,
            state,
        });
        s = s.saturating_add(p);
    }
    while at(s) < now {
        let value = by_period.get(&s).copied();
        let state = match value {
            Some(v) if v >= spec.below => PeriodState::Busy,
            _ => PeriodState::Pending,
        };
        periods.push(PeriodValue {
            start: at(s),
            value,
            state,
        });
        s = s.saturating_add(p);
    }

    // The highest counted value (pending periods count only when already busy); the newest of
    // equal ones, as the most telling.
    let worst = periods
        .iter()
        .filter(|pv| pv.state != PeriodState::Pending)
        .filter_map(|pv| {
            pv.value.map(|value| Worst {
                value,
                at: pv.start,
            })
        })
        .fold(None, |best: Option<Worst>, w| match best {
            Some(b) if b.value > w.value => Some(b),
            _ => Some(w),
        });
    let has = |state| periods.iter().any(|pv| pv.state == state);
    let verdict = if has(PeriodState::Busy) {
        MetricState::Busy
    } else if has(PeriodState::Missing) {
        MetricState::Missing
    } else {
        MetricState::Quiet
    };
    let counts_as_quiet = match verdict {
        MetricState::Quiet => true,
        MetricState::Missing => missing_data == MissingData::Quiet,
        MetricState::Busy => false,
    };
    MetricVerdict {
        metric: metric_label(spec),
        stat: spec.stat.clone(),
        period: format_duration(spec.period),
        below: spec.below,
        from: at(start),
        to: at(end),
        periods,
        worst,
        verdict,
        counts_as_quiet,
    }
}
