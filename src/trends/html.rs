//! `nightshift report --output html`: the nights as one self-contained page (inline CSS and SVG,
//! nothing fetched). A bar per night: its duration, coloured by why it closed (quiet, deadline,
//! forced; open nights hatched), the time to capacity ready as the darker foot of the bar, a
//! triangle over each deadline hit and a red dot (with the count) over each night with failures;
//! then the totals (nights, deadline hits, task-hours and reader-hours above the baseline) and
//! the nights as a table.
//!
//! Stable hooks: `#trend-summary`, `#total-nights`, `#total-deadline-hits`, `#total-task-hours`,
//! `#total-reader-hours`, `svg#trend-chart` with one `g.night` per night holding `rect.duration`
//! (`.quiet`, `.deadline`, `.forced` or `.open`) and `rect.ready`, `.marker.deadline-hit`,
//! `.marker.failure`, and `table#trend-nights` with one `tr.night` per night.

use super::{hm, TrendReport};
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
