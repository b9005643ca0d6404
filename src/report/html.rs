//! `show --output html`: the night as one self-contained page, written as maud templates (every
//! spliced string is escaped; recorded text goes through [`Text`], which escapes apostrophes too).

use super::evidence::{self, Mark, MarkKind};
use super::svg::{self, TimeAxis};
use super::{action_line, step_name, zone_name, Night};
use crate::domain::Action;
use crate::history::EventRecord;
use crate::text::human_duration;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use maud::{html, Markup, PreEscaped, Render, DOCTYPE};

/// The page's stylesheet, inlined: the page fetches nothing.
const STYLE: &str = include_str!("style.css");

/// Recorded text (names, reasons, details, evidence): escaped as maud escapes every splice, and
/// its apostrophes as `&#39;`, so it can close no attribute, however quoted.
pub(super) struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        for (i, part) in self.0.split('\'').enumerate() {
            if i > 0 {
                buffer.push_str("&#39;");
            }
            part.render_to(buffer);
        }
    }
}

/// `2026-11-25 13:00:00 UTC / 2026-11-25 22:00:00 Asia/Tokyo`.
pub(super) fn clock_full(t: Timestamp, zone: Option<&TimeZone>) -> String {
    match zone {
        Some(tz) => format!(
            "{} UTC / {} {}",
            t.strftime("%Y-%m-%d %H:%M:%S"),
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S"),
            zone_name(tz)
        ),
        None => format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S")),
    }
}

/// The night as one self-contained HTML page: a run summary, the timeline chart (scale-up
/// requested and ready, each check and its decision, scale-down requested and done, drift and
/// errors), the scale-down metrics plotted across the night with thresholds, the quiet window and
/// the deadline, and every event with its reason, its full explanation, calls and evidence.
///
/// Stable hooks for tests and styling: `#run-summary`, `#timeline-chart`, `#metric-plot` (one
/// `svg.metric-chart` per metric, or `#no-metric-evidence`), `.threshold`, `.deadline`,
/// `.quiet-window`, `#timeline` with one `li.event` per event, `.marker.<milestone>`, and per
/// call `li.action.<status>` (`done`, `already-done`, `dry-run`, `refused`, `failed`; refused and
/// failed calls are also `.failed`).
pub fn night_html(night: &Night, now: Timestamp) -> String {
    let run = night.run;
    let zone = night.zone;
    let evidence = evidence::read_all(night.events);
    let marks = evidence::milestones(night, &evidence);
    let gates = evidence::gates(&evidence);
    let series = evidence::metric_series(&gates);
    let deciding = evidence::deciding(&gates);
    let deadline = deciding.map(|g| g.deadline);
    let axis = TimeAxis::for_night(night, &series, deadline, now);
    let plotted: Vec<_> = series.iter().filter(|s| !s.points.is_empty()).collect();
    let checks: Vec<(Timestamp, bool)> = gates
        .iter()
        .map(|(_, g)| (g.now, g.rule.is_some()))
        .collect();
    let fetch_error = gates.iter().rev().find_map(|(_, g)| g.fetch_error.as_ref());
    let title = format!("nightshift: {} / {}", run.scenario, run.run);
    let page = html! {
        (DOCTYPE) "\n"
        html lang="en" {
            "\n"
            head {
                "\n"
                meta charset="utf-8"; "\n"
                meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                title { (Text(&title)) } "\n"
                style { "\n" (PreEscaped(STYLE)) } "\n"
            }
            "\n"
            body {
                "\n"
                (summary(night, deadline, now))
                section id="night" {
                    "\n"
                    h2 {
                        "The night " span class="legend" {
                            "(times in " (Text(&zone.map_or("UTC".to_string(), zone_name))) ")"
                        }
                    }
                    "\n"
                    (svg::timeline_chart(night, &marks, &axis, deadline))
                }
                "\n"
                section id="metrics" {
                    "\n"
                    h2 { "Scale-down metrics" } "\n"
                    div id="metric-plot" {
                        "\n"
                        @if plotted.is_empty() {
                            p id="no-metric-evidence" {
                                "no metric evidence recorded"
                                @if let Some(err) = fetch_error {
                                    " (the metrics could not be read: " (Text(err)) ")"
                                }
                            }
                            "\n"
                        }
                        @for (i, s) in plotted.iter().enumerate() {
                            (svg::metric_chart(i, s, deciding, &checks, &axis, zone))
                        }
                    }
                    "\n"
                }
                "\n"
                section id="events" {
                    "\n"
                    h2 { "Timeline" } "\n"
                    @if night.events.is_empty() {
                        p id="no-events" { "no events recorded for this run" } "\n"
                    }
                    ol id="timeline" {
                        "\n"
                        @for (i, e) in night.events.iter().enumerate() {
                            (event_item(i, e, &marks, zone))
                        }
                    }
                    "\n"
                }
                "\n"
                footer {
                    "nightshift show " (Text(&run.scenario)) " " (Text(&run.run))
                    " · rendered for " (now.strftime("%Y-%m-%d %H:%M:%S")) " UTC"
                }
                "\n"
            }
            "\n"
        }
        "\n"
    };
    page.into_string()
}

/// The header: the run's status, times, who opened it, its summary and the deadline.
fn summary(night: &Night, deadline: Option<Timestamp>, now: Timestamp) -> Markup {
    let run = night.run;
    let zone = night.zone;
    let status = run.status.as_str();
    html! {
        header id="run-header" {
            "\n"
            h1 { (Text(&run.scenario)) " " span class="run-id" { (Text(&run.run)) } }
            "\n"
            dl id="run-summary" {
                "\n"
                dt { "status" } dd class={"status-" (status)} { (status) } "\n"
                dt { "opened" }
                dd { time datetime=(run.opened_at) { (clock_full(run.opened_at, zone)) } } "\n"
                @match run.closed_at {
                    Some(closed) => {
                        dt { "closed" }
                        dd { time datetime=(closed) { (clock_full(closed, zone)) } } "\n"
                        dt { "duration" }
                        dd { (human_duration(closed.duration_since(run.opened_at))) } "\n"
                    }
                    None => {
                        dt { "duration" }
                        dd { "open for " (human_duration(now.duration_since(run.opened_at))) " so far" }
                        "\n"
                    }
                }
                dt { "opened by" } dd { (Text(&run.opened_by)) } "\n"
                @if let Some(p) = night.profile() {
                    dt { "profile" } dd { (Text(&p)) } "\n"
                }
                dt { "summary" } dd { (Text(&run.summary)) } "\n"
                @if let Some(d) = deadline {
                    dt { "deadline" } dd { (clock_full(d, zone)) } "\n"
                }
            }
            "\n"
        }
        "\n"
    }
}

/// One event of the timeline: when, step, outcome, its milestone tags, the short reason and the
/// full explanation beneath it, its calls, its key and its evidence.
fn event_item(i: usize, e: &EventRecord, marks: &[Mark], zone: Option<&TimeZone>) -> Markup {
    let tags: Vec<&Mark> = marks.iter().filter(|m| m.event == Some(i)).collect();
    let has_error = tags.iter().any(|m| m.kind == MarkKind::Error);
    let step = step_name(e);
    let evidence = e
        .evidence
        .as_ref()
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default());
    html! {
        li class={"event outcome-" (e.outcome.as_str()) @if has_error { " has-error" }}
            id={"event-" (i + 1)} data-step=(Text(&step)) {
            "\n"
            div class="when" {
                time datetime=(e.received_at) { (clock_full(e.received_at, zone)) }
            }
            "\n"
            div class="what" {
                span class="step" { (Text(&step)) } " "
                span class="outcome" { (e.outcome.as_str()) } " "
                span class="kind" { (Text(&e.kind)) }
                @for m in &tags {
                    " "
                    span class={"tag " (m.kind.class())} title=(Text(&m.detail)) { (Text(&m.label)) }
                }
            }
            "\n"
            p class="reason" { (Text(&e.reason)) } "\n"
            @if !e.detail.is_empty() && e.detail != e.reason {
                p class="detail" { (Text(&e.detail)) } "\n"
            }
            @if !e.actions.is_empty() {
                ul class="actions" {
                    "\n"
                    @for a in &e.actions {
                        li class=(action_class(a)) { (Text(&action_line(a))) } "\n"
                    }
                }
                "\n"
            }
            div class="key" { "key " (Text(&e.key)) } "\n"
            @if let Some(pretty) = &evidence {
                details class="evidence" {
                    summary { "evidence" } pre { (Text(pretty)) }
                }
                "\n"
            }
        }
        "\n"
    }
}

/// `action done`, `action already-done`, `action dry-run`, `action refused failed`,
/// `action failed`: a call found already done is styled as done, never as a failure.
fn action_class(a: &Action) -> String {
    let status = a.result.status();
    if a.result.is_failure() && status != "failed" {
        format!("action {status} failed")
    } else {
        format!("action {status}")
    }
}
