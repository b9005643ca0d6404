//! The charts of the HTML page, as maud templates of inline SVG: the night's timeline (one lane
//! per kind of milestone) and one plot per scale-down metric, on one time axis so they line up.

use super::evidence::{period_class, Mark, MetricSeries, LANES};
use super::html::{clock_full, Text};
use super::Night;
use crate::gate;
use crate::text::hh_mm;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use maud::{html, Markup};

/// Chart geometry shared by the timeline and the metric plots, so their time axes line up.
const SVG_WIDTH: f64 = 1100.0;
const PLOT_LEFT: f64 = 120.0;
const PLOT_RIGHT: f64 = 1080.0;
/// The longest night drawn: a deadline or an open run further out is clipped.
const MAX_SPAN_HOURS: i64 = 36;

#[derive(Debug, Clone, Copy)]
pub(super) struct TimeAxis {
    from: Timestamp,
    to: Timestamp,
}

impl TimeAxis {
    /// The run, its events, its metric periods and its deadline (at most [`MAX_SPAN_HOURS`]),
    /// with a little air on both sides so markers at the ends are not cut.
    pub(super) fn for_night(
        night: &Night,
        series: &[MetricSeries],
        deadline: Option<Timestamp>,
        now: Timestamp,
    ) -> TimeAxis {
        let run = night.run;
        let mut from = run.opened_at;
        let mut to = run.closed_at.unwrap_or(now);
        for e in night.events {
            from = from.min(e.received_at);
            to = to.max(e.finished_at);
        }
        for s in series {
            if let (Some(first), Some(last)) = (s.points.keys().next(), s.points.keys().last()) {
                from = from.min(*first);
                to = to.max(*last + SignedDuration::from_mins(1));
            }
        }
        if let Some(d) = deadline {
            to = to.max(d);
        }
        let max_to = from
            .checked_add(SignedDuration::from_hours(MAX_SPAN_HOURS))
            .unwrap_or(to);
        to = to.min(max_to);
        if to <= from {
            to = from
                .checked_add(SignedDuration::from_hours(1))
                .unwrap_or(Timestamp::MAX);
        }
        let pad = SignedDuration::from_secs(to.duration_since(from).as_secs() / 50);
        TimeAxis {
            from: from.checked_sub(pad).unwrap_or(from),
            to: to.checked_add(pad).unwrap_or(to),
        }
    }

    fn x(&self, t: Timestamp) -> f64 {
        let span = self.to.duration_since(self.from).as_secs_f64().max(1.0);
        let at = t.duration_since(self.from).as_secs_f64().clamp(0.0, span);
        PLOT_LEFT + at / span * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn contains(&self, t: Timestamp) -> bool {
        t >= self.from && t <= self.to
    }

    /// Tick instants on round local times (every 5m … 1d, at most about 12 ticks).
    fn ticks(&self, zone: Option<&TimeZone>) -> Vec<Timestamp> {
        let span = self.to.duration_since(self.from).as_secs().max(1);
        let step = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440]
            .into_iter()
            .map(|m: i64| m * 60)
            .find(|s| span / s <= 12)
            .unwrap_or(86_400);
        let offset = zone.map_or(0, |tz| i64::from(tz.to_offset(self.from).seconds()));
        let first = (self.from.as_second() + offset).div_euclid(step) * step - offset;
        let mut ticks = Vec::new();
        let mut t = first;
        while t <= self.to.as_second() {
            if let Ok(ts) = Timestamp::from_second(t) {
                if ts >= self.from {
                    ticks.push(ts);
                }
            }
            t += step;
        }
        ticks
    }
}

/// A number for labels: `3`, `0.5`, `12.25`.
pub(super) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// An SVG coordinate, one decimal.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `v` (> 0).
pub(super) fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// The time axis along `bottom`, with a grid line and a local clock label per tick.
fn time_axis(axis: &TimeAxis, zone: Option<&TimeZone>, top: f64, bottom: f64) -> Markup {
    html! {
        g class="axis x" {
            "\n"
            line x1=(px(PLOT_LEFT)) y1=(px(bottom)) x2=(px(PLOT_RIGHT)) y2=(px(bottom)) {}
            "\n"
            @for t in axis.ticks(zone) {
                @let x = px(axis.x(t));
                line class="grid" x1=(x) y1=(px(top)) x2=(x) y2=(px(bottom)) {}
                text x=(x) y=(px(bottom + 14.0)) text-anchor="middle" { (hh_mm(t, zone)) }
                "\n"
            }
        }
        "\n"
    }
}

/// The timeline chart: the run's span, one lane per kind of milestone, the deadline.
pub(super) fn timeline_chart(
    night: &Night,
    marks: &[Mark],
    axis: &TimeAxis,
    deadline: Option<Timestamp>,
) -> Markup {
    const LANE_TOP: f64 = 36.0;
    const LANE_GAP: f64 = 52.0;
    let bottom = LANE_TOP + LANE_GAP * (LANES.len() as f64 - 0.5);
    let height = bottom + 24.0;
    let zone = night.zone;
    let run = night.run;
    // The capacity was up from the scale-up to the close (or now).
    let up_to = run.closed_at.unwrap_or(axis.to);
    // Labels alternate above and below the lane so neighbours do not overlap.
    let mut labelled_in_lane = [0usize; LANES.len()];
    let placed: Vec<(&Mark, Option<f64>)> = marks
        .iter()
        .map(|m| {
            let dy = m.kind.labelled().then(|| {
                let n = &mut labelled_in_lane[m.kind.lane()];
                *n += 1;
                if *n % 2 == 1 {
                    -10.0
                } else {
                    20.0
                }
            });
            (m, dy)
        })
        .collect();
    html! {
        svg id="timeline-chart" xmlns="http://www.w3.org/2000/svg"
            viewBox={"0 0 " (px(SVG_WIDTH)) " " (px(height))} role="img"
            aria-label="the night's timeline" {
            "\n"
            rect class="run-span" x=(px(axis.x(run.opened_at))) y=(px(LANE_TOP - 22.0))
                width=(px((axis.x(up_to) - axis.x(run.opened_at)).max(1.0)))
                height=(px(bottom - LANE_TOP + 8.0)) {
                title { "run " (Text(&run.run)) ": capacity up" }
            }
            "\n"
            (time_axis(axis, zone, LANE_TOP - 22.0, bottom))
            @for (i, name) in LANES.iter().enumerate() {
                @let y = LANE_TOP + LANE_GAP * i as f64;
                line class="lane" x1=(px(PLOT_LEFT)) y1=(px(y)) x2=(px(PLOT_RIGHT)) y2=(px(y)) {}
                text class="lane-label" x="8" y=(px(y + 4.0)) { (name) }
                "\n"
            }
            @if let Some(d) = deadline.filter(|d| axis.contains(*d)) {
                @let x = axis.x(d);
                line class="deadline" x1=(px(x)) y1=(px(LANE_TOP - 22.0)) x2=(px(x)) y2=(px(bottom)) {}
                text class="deadline-label" x=(px(x - 4.0)) y=(px(LANE_TOP - 10.0)) text-anchor="end" {
                    "deadline " (hh_mm(d, zone))
                }
                "\n"
            }
            @for (m, dy) in &placed {
                @let y = LANE_TOP + LANE_GAP * m.kind.lane() as f64;
                @let x = axis.x(m.at);
                @let class = if m.class.is_empty() {
                    m.kind.class().to_string()
                } else {
                    format!("{} {}", m.kind.class(), m.class)
                };
                circle class={"marker " (class)} cx=(px(x)) cy=(px(y)) r="6" {
                    title { (hh_mm(m.at, zone)) " " (Text(&m.label)) ": " (Text(&m.detail)) }
                }
                "\n"
                @if let Some(dy) = dy {
                    @let near_end = x > PLOT_RIGHT - 150.0;
                    text class="mark-label" x=(px(x + if near_end { -8.0 } else { 8.0 })) y=(px(y + dy))
                        text-anchor=(if near_end { "end" } else { "start" }) {
                    (Text(&m.label)) " " (hh_mm(m.at, zone))
                    }
                    "\n"
                }
            }
        }
        "\n"
    }
}

/// One metric across the night: its periods (a line through consecutive values, a dot per period
/// coloured by its state), the threshold, the checks and the decision, the quiet window the
/// deciding check judged, min_hold and the deadline.
pub(super) fn metric_chart(
    index: usize,
    s: &MetricSeries,
    deciding: Option<&gate::Evidence>,
    checks: &[(Timestamp, bool)],
    axis: &TimeAxis,
    zone: Option<&TimeZone>,
) -> Markup {
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 230.0;
    const HEIGHT: f64 = 260.0;
    let values = s.points.values().filter_map(|(v, _)| *v);
    let max = values
        .clone()
        .fold(s.below.unwrap_or(0.0), f64::max)
        .max(0.0);
    let min = values.fold(0.0, f64::min);
    let top = nice_ceiling(if max <= min { min + 1.0 } else { max * 1.15 });
    let y = |v: f64| BOTTOM - (v - min) / (top - min) * (BOTTOM - TOP);
    // The quiet window the deciding check judged.
    let window = deciding
        .and_then(|g| g.metrics.iter().find(|m| m.metric == s.label))
        .map(|m| (m.from, m.to));
    let quiet_for = deciding.map(|g| g.quiet_for.as_str()).unwrap_or_default();
    let hold = deciding
        .map(|g| g.min_hold_until)
        .filter(|t| axis.contains(*t));
    html! {
        h3 {
            (Text(&s.label))
            @if !s.stat.is_empty() { " · " (Text(&s.stat)) }
            @if !s.period.is_empty() { " · " (Text(&s.period)) " periods" }
        }
        "\n"
        svg class="metric-chart" id={"metric-plot-" (index)} xmlns="http://www.w3.org/2000/svg"
            viewBox={"0 0 " (px(SVG_WIDTH)) " " (px(HEIGHT))} role="img" aria-label=(Text(&s.label)) {
            "\n"
            @if let Some((from, to)) = window {
                @let (x0, x1) = (axis.x(from), axis.x(to));
                rect class="quiet-window" x=(px(x0)) y=(px(TOP)) width=(px((x1 - x0).max(1.0)))
                    height=(px(BOTTOM - TOP)) {
                    title {
                        "quiet window " (Text(quiet_for)) " judged by the deciding check: "
                        (hh_mm(from, zone)) " to " (hh_mm(to, zone))
                    }
                }
                "\n"
                text class="quiet-label" x=(px(x0 - 4.0)) y=(px(TOP + 12.0)) text-anchor="end" {
                    "quiet window " (Text(quiet_for))
                }
                "\n"
            }
            g class="axis y" {
                "\n"
                @for i in 0..=4 {
                    @let v = min + (top - min) * f64::from(i) / 4.0;
                    line class="grid" x1=(px(PLOT_LEFT)) y1=(px(y(v))) x2=(px(PLOT_RIGHT)) y2=(px(y(v))) {}
                    text class="tick-label" x=(px(PLOT_LEFT - 6.0)) y=(px(y(v) + 4.0)) text-anchor="end" {
                        (num(v))
                    }
                    "\n"
                }
            }
            "\n"
            (time_axis(axis, zone, TOP, BOTTOM))
            @for (at, decided) in checks.iter().filter(|(t, _)| axis.contains(*t)) {
                line class=(if *decided { "decision-marker" } else { "check-marker" })
                    x1=(px(axis.x(*at))) y1=(px(TOP)) x2=(px(axis.x(*at))) y2=(px(BOTTOM)) {
                    title {
                        (if *decided { "scale-down decided" } else { "check" }) " at " (hh_mm(*at, zone))
                    }
                }
                "\n"
            }
            @if let Some(hold) = hold {
                line class="min-hold" x1=(px(axis.x(hold))) y1=(px(TOP)) x2=(px(axis.x(hold))) y2=(px(BOTTOM)) {
                    title { "min hold until " (hh_mm(hold, zone)) }
                }
                "\n"
            }
            @for segment in segments(s, axis, &y) {
                polyline class="series" points=(segment.join(" ")) {}
                "\n"
            }
            @for (t, (value, state)) in &s.points {
                @let state = period_class(*state);
                @let (cy, text) = match value {
                    Some(v) => (y(*v), num(*v)),
                    None => (y(0.0_f64.max(min)), "no datapoint".to_string()),
                };
                circle class={"period " (state)} cx=(px(axis.x(*t))) cy=(px(cy)) r="2.5" {
                    title { (hh_mm(*t, zone)) ": " (text) " (" (state) ")" }
                }
                "\n"
            }
            // Threshold and deadline on top.
            @if let Some(below) = s.below {
                line class="threshold" x1=(px(PLOT_LEFT)) y1=(px(y(below))) x2=(px(PLOT_RIGHT)) y2=(px(y(below))) {
                    title { "threshold: quiet below " (num(below)) }
                }
                "\n"
                text class="threshold-label" x=(px(PLOT_RIGHT - 4.0)) y=(px(y(below) - 5.0)) text-anchor="end" {
                    "threshold: below " (num(below))
                }
                "\n"
            }
            @if let Some(g) = deciding {
                (deadline_line(g, axis, zone, TOP, BOTTOM))
            }
        }
        "\n"
        p class="legend" {
            "dots: one per period (green quiet, orange busy, hollow no datapoint, grey not yet settled); dashed red: threshold; purple: deadline; green band: the quiet window of the deciding check; dotted: checks; gaps: periods no check read"
        }
        "\n"
    }
}

/// The deciding check's deadline on a metric plot, or a note that it falls beyond it.
fn deadline_line(
    g: &gate::Evidence,
    axis: &TimeAxis,
    zone: Option<&TimeZone>,
    top: f64,
    bottom: f64,
) -> Markup {
    let d = g.deadline;
    let local = if g.deadline_local.is_empty() {
        hh_mm(d, zone)
    } else {
        g.deadline_local.clone()
    };
    html! {
        @if axis.contains(d) {
            @let x = axis.x(d);
            line class="deadline" x1=(px(x)) y1=(px(top - 12.0)) x2=(px(x)) y2=(px(bottom)) {
                title { "deadline " (Text(&local)) }
            }
            "\n"
            text class="deadline-label" x=(px(x - 4.0)) y=(px(top - 2.0)) text-anchor="end" {
                "deadline " (Text(&local))
            }
        } @else {
            text class="deadline-label" x=(px(PLOT_RIGHT)) y=(px(top - 2.0)) text-anchor="end" {
                "deadline " (Text(&clock_full(d, zone))) " (beyond the plot)"
            }
        }
        "\n"
    }
}

/// The polylines of a series: consecutive periods with values, broken at gaps.
fn segments(s: &MetricSeries, axis: &TimeAxis, y: &impl Fn(f64) -> f64) -> Vec<Vec<String>> {
    let mut segment: Vec<String> = Vec::new();
    let mut segments: Vec<Vec<String>> = Vec::new();
    let step = s
        .points
        .keys()
        .zip(s.points.keys().skip(1))
        .map(|(a, b)| b.duration_since(*a))
        .min()
        .unwrap_or(SignedDuration::from_mins(1));
    let mut previous: Option<Timestamp> = None;
    for (t, (value, _)) in &s.points {
        let contiguous = previous.is_some_and(|p| t.duration_since(p) <= step);
        match value {
            Some(v) => {
                if !contiguous && !segment.is_empty() {
                    segments.push(std::mem::take(&mut segment));
                }
                segment.push(format!("{},{}", px(axis.x(*t)), px(y(*v))));
            }
            None => {
                if !segment.is_empty() {
                    segments.push(std::mem::take(&mut segment));
                }
            }
        }
        previous = Some(*t);
    }
    if !segment.is_empty() {
        segments.push(segment);
    }
    segments.retain(|s| s.len() > 1);
    segments
}
