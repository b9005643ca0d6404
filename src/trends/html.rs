//! `nightshift report --output html`: the nights as one self-contained page (inline CSS and SVG,
//! nothing fetched). A bar per night: its duration, coloured by why it closed (quiet, deadline,
//! forced; open nights hatched), the time to capacity ready as the darker foot of the bar, a
//! triangle over each deadline hit and a red dot (with the count) over each night with failures;
//! then the totals (nights, deadline hits, task-hours and reader-hours above the baseline) and
//! the nights as a table. Beside them, what the capacity cost and saved: per night the cost, what
//! closing on quiet saved against the deadline and what it saved against holding the night's
//! peak all day, as three bars (money at `[prices]`; without prices one chart per kind of hours
//! the nights held), and a table of the nights, the months and the total.
//!
//! Stable hooks: `#trend-summary`, `#total-nights`, `#total-deadline-hits`, `#total-task-hours`,
//! `#total-reader-hours`, `svg#trend-chart` with one `g.night` per night holding `rect.duration`
//! (`.quiet`, `.deadline`, `.forced` or `.open`) and `rect.ready`, `.marker.deadline-hit`,
//! `.marker.failure`, and `table#trend-nights` with one `tr.night` per night; `#cost-summary`
//! with `#total-cost`, `#total-saved-always-on`, `#total-saved-deadline` (priced reports),
//! `svg.savings-chart` (`#cost-chart`, else `#hours-chart-instance`, `-dcu`, `-task`) with one
//! `g.night-savings` per night holding `rect.held`, `rect.saved-deadline`,
//! `rect.saved-always-on`, and `table#cost-nights` with `tr.cost-night`, `tr.month` and `tr.total`.

use super::{hm, Hours, Totals, TrendNight, TrendReport};
use crate::text::human_duration;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.scope { color: #555; margin: 0 0 16px; }
#trend-summary { display: flex; gap: 12px; margin-bottom: 16px; flex-wrap: wrap; }
.card { border: 1px solid #d6dae2; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { font-size: 12px; color: #555; }
svg { background: #fafbfc; border: 1px solid #d6dae2; border-radius: 6px; }
rect.duration.quiet { fill: #3b8f5a; }
rect.duration.deadline { fill: #d08a1e; }
rect.duration.forced { fill: #6b5fb5; }
rect.duration.open { fill: #9aa3b5; }
rect.ready { fill: #1d2330; opacity: 0.45; }
.marker.deadline-hit { fill: #b5501e; }
.marker.failure { fill: #c62828; }
text { font-size: 11px; fill: #333; }
.axis line, .grid line { stroke: #c8cdd6; }
.legend rect { stroke: none; }
table { border-collapse: collapse; margin-top: 16px; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e6ec; padding: 4px 10px; text-align: left; }
tr.deadline-hit td.closed-by { color: #b5501e; font-weight: 600; }
tr.failed td.failures { color: #c62828; font-weight: 600; }
h2 { font-size: 16px; margin: 28px 0 8px; }
rect.held { fill: #3d6fb6; }
rect.saved-deadline { fill: #3b8f5a; }
rect.saved-always-on { fill: #a9d3b5; }
tr.month td, tr.total td { font-weight: 600; background: #f3f5f8; }
td.num, th.num { text-align: right; }
#cost-nights td { white-space: nowrap; }
"#;

const W: f64 = 1000.0;
const H: f64 = 360.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 56.0;

fn px(v: f64) -> String {
    format!("{v:.1}")
}

fn dur(s: Option<i64>) -> String {
    s.map_or("-".to_string(), |s| {
        human_duration(SignedDuration::from_secs(s))
    })
}

/// The page; times on `zone`'s clock (UTC without one).
pub fn trends_html(report: &TrendReport, zone: Option<&TimeZone>) -> String {
    let t = &report.totals;
    let scope = match &report.scenario {
        Some(s) => format!("scenario {s}"),
        None => "every scenario".to_string(),
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "nightshift report: " (scope) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "nightshift: the nights of " (scope) }
                p class="scope" {
                    "opened since " (report.since.strftime("%Y-%m-%d %H:%M")) " UTC, as of "
                    (report.now.strftime("%Y-%m-%d %H:%M")) " UTC; times " (report.timezone)
                }
                div id="trend-summary" {
                    (card("total-nights", &t.nights.to_string(), "nights"))
                    (card("total-deadline-hits", &t.deadline_hits.to_string(), "deadline hits"))
                    (card("total-quiet", &t.quiet.to_string(), "closed quiet"))
                    (card("total-forced", &t.forced.to_string(), "forced"))
                    (card("total-failures", &t.failures.to_string(), "failed steps"))
                    (card("total-task-hours", &format!("{:.1}", t.task_hours), "task-hours above baseline"))
                    (card("total-reader-hours", &format!("{:.1}", t.reader_hours), "reader-hours above baseline"))
                    @if t.vcpu_hours > 0.0 {
                        (card("total-vcpu-hours", &format!("{:.1}", t.vcpu_hours), "Batch vCPU-hours above baseline"))
                    }
                    @if t.instance_hours > 0.0 {
                        (card("total-instance-hours", &format!("{:.1}", t.instance_hours), "Auto Scaling instance-hours above baseline"))
                    }
                }
                (chart(report))
                (nights_table(report, zone))
                (costs(report))
            }
        }
    };
    page.into_string()
}

fn card(id: &str, value: &str, label: &str) -> Markup {
    html! {
        div class="card" id=(id) {
            div class="value" { (value) }
            div class="label" { (label) }
        }
    }
}

/// The bars: hours on the y axis, one slot per night on the x axis.
fn chart(report: &TrendReport) -> Markup {
    let nights = &report.nights;
    // An open night's bar runs to `now`.
    let span = |n: &super::TrendNight| {
        n.duration_s
            .unwrap_or_else(|| report.now.duration_since(n.opened_at).as_secs().max(0))
    };
    let longest = nights.iter().map(span).max().unwrap_or(3600).max(3600);
    let top_h = ((longest as f64) / 3600.0).ceil().max(1.0);
    let plot_h = H - TOP - BOTTOM;
    let y = |secs: f64| TOP + plot_h - (secs / 3600.0 / top_h) * plot_h;
    let slot = (W - LEFT - RIGHT) / (nights.len().max(1) as f64);
    let bar = (slot * 0.6).min(48.0);
    let step_h = (top_h / 8.0).ceil().max(1.0);
    let mut grid = Vec::new();
    let mut h = 0.0;
    while h <= top_h {
        grid.push(h);
        h += step_h;
    }
    let label_every = (nights.len() / 16).max(1);
    html! {
        svg id="trend-chart" xmlns="http://www.w3.org/2000/svg" width=(W) height=(H)
            viewBox={"0 0 " (W) " " (H)} role="img" aria-label="duration, time to capacity ready and why each night closed" {
            g class="legend" {
                rect x=(LEFT) y="10" width="12" height="12" class="duration quiet" {}
                text x=(LEFT + 16.0) y="20" { "quiet" }
                rect x=(LEFT + 70.0) y="10" width="12" height="12" class="duration deadline" {}
                text x=(LEFT + 86.0) y="20" { "deadline" }
                rect x=(LEFT + 150.0) y="10" width="12" height="12" class="duration forced" {}
                text x=(LEFT + 166.0) y="20" { "forced" }
                rect x=(LEFT + 220.0) y="10" width="12" height="12" class="duration open" {}
                text x=(LEFT + 236.0) y="20" { "open" }
                rect x=(LEFT + 280.0) y="10" width="12" height="12" class="ready" {}
                text x=(LEFT + 296.0) y="20" { "until capacity ready" }
                text x=(LEFT + 440.0) y="20" { "▲ deadline hit   ● failed steps" }
            }
            g class="grid" {
                @for h in &grid {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(px(y(h * 3600.0))) y2=(px(y(h * 3600.0))) {}
                    text x=(LEFT - 8.0) y=(px(y(h * 3600.0) + 4.0)) text-anchor="end" { (h) "h" }
                }
            }
            @for (i, n) in nights.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                @let secs = span(n) as f64;
                @let class = n.closed_by.map_or("open", |c| c.as_str());
                @let top = y(secs);
                g class="night" data-run=(n.run) data-scenario=(n.scenario) {
                    title {
                        (n.scenario) " " (n.run) ": " (dur(n.duration_s)) ", ready after "
                        (dur(n.ready_after_s)) ", closed by " (n.closed_by.map_or("-", |c| c.as_str()))
                        ", " (n.failures) " failures, " (n.drift) " drift"
                    }
                    rect class={"duration " (class)} x=(px(x)) y=(px(top)) width=(px(bar))
                        height=(px(TOP + plot_h - top)) {}
                    @if let Some(ready) = n.ready_after_s {
                        @let ry = y((ready as f64).min(secs));
                        rect class="ready" x=(px(x)) y=(px(ry)) width=(px(bar)) height=(px(TOP + plot_h - ry)) {}
                    }
                    @if n.deadline_hit() {
                        path class="marker deadline-hit"
                            d={"M" (px(x + bar / 2.0)) " " (px(top - 16.0)) " l6 10 l-12 0 z"} {}
                    }
                    @if n.failures > 0 {
                        circle class="marker failure" cx=(px(x + bar / 2.0)) cy=(px(top - 24.0 - if n.deadline_hit() { 4.0 } else { 0.0 })) r="6" {}
                        text x=(px(x + bar / 2.0 + 9.0)) y=(px(top - 20.0)) { (n.failures) }
                    }
                    @if i % label_every == 0 {
                        text x=(px(x + bar / 2.0)) y=(px(H - BOTTOM + 16.0)) text-anchor="middle" {
                            (n.run.get(5..).unwrap_or(&n.run))
                        }
                    }
                }
            }
            g class="axis" {
                line x1=(LEFT) x2=(W - RIGHT) y1=(px(TOP + plot_h)) y2=(px(TOP + plot_h)) {}
                line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(px(TOP + plot_h)) {}
            }
            text x=(px(W / 2.0)) y=(px(H - 12.0)) text-anchor="middle" { "night (run id, month-day)" }
        }
    }
}

fn nights_table(report: &TrendReport, zone: Option<&TimeZone>) -> Markup {
    html! {
        table id="trend-nights" {
            thead {
                tr {
                    th { "night" } th { "scenario" } th { "opened" } th { "ready after" }
                    th { "quiet at" } th { "closed" } th { "duration" } th { "closed by" }
                    th { "failures" } th { "drift" } th { "task-hours" } th { "reader-hours" }
                }
            }
            tbody {
                @for n in &report.nights {
                    tr class={
                        "night"
                        @if n.deadline_hit() { " deadline-hit" }
                        @if n.failures > 0 { " failed" }
                    } {
                        td { (n.run) }
                        td { (n.scenario) }
                        td { (hm(n.opened_at, zone)) }
                        td { (dur(n.ready_after_s)) }
                        td { (n.quiet_at.map_or("-".to_string(), |t| hm(t, zone))) }
                        td { (n.closed_at.map_or("open".to_string(), |t| hm(t, zone))) }
                        td { (dur(n.duration_s)) }
                        td class="closed-by" { (n.closed_by.map_or("-", |c| c.as_str())) }
                        td class="failures" { (n.failures) }
                        td { (n.drift) }
                        td { (format!("{:.1}", n.task_hours)) }
                        td { (format!("{:.1}", n.reader_hours)) }
                    }
                }
            }
        }
    }
}

/// What the capacity cost and saved: the cards, the charts, the table.
fn costs(report: &TrendReport) -> Markup {
    let t = &report.totals;
    let money = |x: f64| format!("{x:.2}");
    html! {
        h2 { "What the nights cost and saved" }
        p class="scope" {
            @match &report.currency {
                Some(c) => { "Money in " (c) " at [prices]: what the capacity above the baseline cost, what closing on quiet saved against closing at the deadline, and against holding the night's peak all day." }
                None => { "Hours above the baseline (no [prices]): what the nights held, what closing on quiet saved against the deadline, and against holding the night's peak all day." }
            }
        }
        div id="cost-summary" class="summary" style="display:flex;gap:12px;flex-wrap:wrap" {
            @if let Some(m) = &t.money {
                (card("total-cost", &money(m.cost), &format!("cost, {}", m.currency)))
                (card("total-saved-deadline", &money(m.saved_vs_deadline.unwrap_or(0.0)), "saved vs the deadline"))
                (card("total-saved-always-on", &money(m.saved_vs_always_on), "saved vs always on"))
            }
            (card("total-instance-hours", &format!("{:.1}", instance_hours(&t.held)), "instance-hours above baseline"))
            @if t.held.dcu_hours > 0.0 {
                (card("total-dcu-hours", &format!("{:.1}", t.held.dcu_hours), "DCU-hours above baseline"))
            }
            @if t.held.vcpu_hours > 0.0 {
                (card("total-vcpu-hours", &format!("{:.1}", t.held.vcpu_hours), "Fargate vCPU-hours"))
            }
        }
        @if let Some(currency) = &report.currency {
            (savings_chart("cost-chart", &format!("cost and savings per night, {currency}"), "cost", &report.nights, |n| {
                let m = n.exact_money.clone().unwrap_or_default();
                (m.cost, m.saved_vs_deadline.unwrap_or(0.0), m.saved_vs_always_on)
            }))
        } @else {
            @for (id, title, of) in hour_kinds(&report.totals.held) {
                (savings_chart(id, title, "held", &report.nights, |n| {
                    let a = &n.exact;
                    (of(&a.held), a.saved_vs_deadline.as_ref().map_or(0.0, of), of(&a.saved_vs_always_on))
                }))
            }
        }
        (cost_table(report))
        @if let Some(m) = &t.money {
            @if !m.unpriced.is_empty() {
                p class="scope" { "Not priced (counted at nothing): " (m.unpriced.join("; ")) }
            }
        }
    }
}

fn instance_hours(h: &Hours) -> f64 {
    h.readers_total() + h.resized_total()
}

/// A kind of hours: its chart's id and title, and how to read it.
type HourKind = (&'static str, &'static str, fn(&Hours) -> f64);

/// The kinds of hours the nights held.
fn hour_kinds(held: &Hours) -> Vec<HourKind> {
    let mut kinds: Vec<HourKind> = Vec::new();
    if instance_hours(held) > 0.0 {
        kinds.push((
            "hours-chart-instance",
            "instance-hours per night",
            instance_hours,
        ));
    }
    if held.dcu_hours > 0.0 {
        kinds.push(("hours-chart-dcu", "DCU-hours per night", |h| h.dcu_hours));
    }
    if held.task_hours > 0.0 || kinds.is_empty() {
        kinds.push(("hours-chart-task", "task-hours per night", |h| h.task_hours));
    }
    kinds
}

const CH: f64 = 300.0;

/// Three bars per night: held (cost), saved vs the deadline, saved vs always on.
fn savings_chart(
    id: &str,
    title: &str,
    held_label: &str,
    nights: &[TrendNight],
    values: impl Fn(&TrendNight) -> (f64, f64, f64),
) -> Markup {
    let rows: Vec<(&TrendNight, (f64, f64, f64))> = nights.iter().map(|n| (n, values(n))).collect();
    let top = rows
        .iter()
        .map(|(_, (a, b, c))| a.max(*b).max(*c))
        .fold(0.0_f64, f64::max);
    let top = nice_top(top);
    let plot_h = CH - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - (v / top) * plot_h;
    let slot = (W - LEFT - RIGHT) / (rows.len().max(1) as f64);
    let bar = (slot * 0.8 / 3.0).min(16.0);
    let label_every = (rows.len() / 16).max(1);
    html! {
        svg id=(id) class="savings-chart" xmlns="http://www.w3.org/2000/svg" width=(W) height=(CH)
            viewBox={"0 0 " (W) " " (CH)} role="img" aria-label=(title) {
            g class="legend" {
                text x=(LEFT) y="20" { (title) }
                rect x=(LEFT + 300.0) y="10" width="12" height="12" class="held" {}
                text x=(LEFT + 316.0) y="20" { (held_label) }
                rect x=(LEFT + 360.0) y="10" width="12" height="12" class="saved-deadline" {}
                text x=(LEFT + 376.0) y="20" { "saved vs the deadline" }
                rect x=(LEFT + 510.0) y="10" width="12" height="12" class="saved-always-on" {}
                text x=(LEFT + 526.0) y="20" { "saved vs always on" }
            }
            g class="grid" {
                @for i in 0..=4 {
                    @let v = top * f64::from(i) / 4.0;
                    line x1=(LEFT) x2=(W - RIGHT) y1=(px(y(v))) y2=(px(y(v))) {}
                    text x=(LEFT - 8.0) y=(px(y(v) + 4.0)) text-anchor="end" { (short_number(v)) }
                }
            }
            @for (i, (n, (held, deadline, always))) in rows.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + (slot - 3.0 * bar) / 2.0;
                g class="night-savings" data-run=(n.run) data-scenario=(n.scenario) {
                    title {
                        (n.scenario) " " (n.run) ": held " (format!("{held:.2}")) ", saved vs the deadline "
                        (format!("{deadline:.2}")) ", saved vs always on " (format!("{always:.2}"))
                    }
                    rect class="held" x=(px(x)) y=(px(y(*held))) width=(px(bar)) height=(px(TOP + plot_h - y(*held))) {}
                    rect class="saved-deadline" x=(px(x + bar)) y=(px(y(*deadline))) width=(px(bar)) height=(px(TOP + plot_h - y(*deadline))) {}
                    rect class="saved-always-on" x=(px(x + 2.0 * bar)) y=(px(y(*always))) width=(px(bar)) height=(px(TOP + plot_h - y(*always))) {}
                    @if i % label_every == 0 {
                        text x=(px(x + 1.5 * bar)) y=(px(CH - BOTTOM + 16.0)) text-anchor="middle" {
                            (n.run.get(5..).unwrap_or(&n.run))
                        }
                    }
                }
            }
            g class="axis" {
                line x1=(LEFT) x2=(W - RIGHT) y1=(px(TOP + plot_h)) y2=(px(TOP + plot_h)) {}
                line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(px(TOP + plot_h)) {}
            }
        }
    }
}

/// A round top for the y axis at or above `v`.
fn nice_top(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|top| *top >= v)
        .unwrap_or(10.0 * magnitude)
}

fn short_number(v: f64) -> String {
    if v >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn cost_table(report: &TrendReport) -> Markup {
    let priced = report.currency.is_some();
    let money = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
    let hours = |x: f64| format!("{x:.1}");
    let row = |held: &Hours,
               m: Option<&super::Money>,
               saved_dl: Option<&Hours>,
               saved_24: &Hours,
               idle: Option<i64>| {
        html! {
            td class="num" { (hours(instance_hours(held))) }
            td class="num" { (hours(held.dcu_hours)) }
            td class="num" { (hours(held.task_hours)) }
            td class="num" { (hours(held.vcpu_hours)) }
            td class="num" { (hours(held.gb_hours)) }
            @if priced {
                td class="num cost" { (money(m.map(|m| m.cost))) }
                td class="num saved-deadline" { (money(m.and_then(|m| m.saved_vs_deadline))) }
                td class="num saved-always-on" { (money(m.map(|m| m.saved_vs_always_on))) }
            } @else {
                td class="num saved-deadline" { (saved_dl.map_or("-".to_string(), |h| format!("{:.1} inst-h, {:.1} task-h", instance_hours(h), h.task_hours))) }
                td class="num saved-always-on" { (format!("{:.1} inst-h, {:.1} task-h", instance_hours(saved_24), saved_24.task_hours)) }
            }
            td class="num" { (idle.map_or("-".to_string(), |s| format!("{}m", s / 60))) }
        }
    };
    let totals = |class: &str, label: &str, t: &Totals| {
        html! {
            tr class=(class) {
                td { (label) } td { (t.nights) " nights" }
                (row(&t.held, t.money.as_ref(), Some(&t.saved_vs_deadline), &t.saved_vs_always_on, None))
            }
        }
    };
    html! {
        table id="cost-nights" {
            thead {
                tr {
                    th { "night" } th { "scenario" } th class="num" { "instance-h" } th class="num" { "DCU-h" }
                    th class="num" { "task-h" } th class="num" { "vCPU-h" } th class="num" { "GB-h" }
                    @if let Some(c) = &report.currency { th class="num" { "cost, " (c) } }
                    th class="num" { "saved vs deadline" } th class="num" { "saved vs always on" }
                    th class="num" { "idle after batch" }
                }
            }
            tbody {
                @for n in &report.nights {
                    tr class="cost-night" {
                        td { (n.run) } td { (n.scenario) }
                        (row(&n.hours.held, n.money.as_ref(), n.hours.saved_vs_deadline.as_ref(), &n.hours.saved_vs_always_on, n.hours.idle_s))
                    }
                }
                @for m in &report.months {
                    (totals("month", &m.month, &m.totals))
                }
                (totals("total", "total", &report.totals))
            }
        }
    }
}
