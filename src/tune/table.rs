//! `nightshift tune --output table`: per replay, one block of nights (the real close, then each
//! setting) and one of totals. Settings are lettered (`current`, `A`, `B`, …) with a legend, so
//! long `--set` texts do not widen the table; lines stay within 100 columns.

use super::{Close, Replay, TuneReport};
use crate::text::{cut, hh_mm};
use jiff::tz::TimeZone;

const WIDTH: usize = 100;

/// The letter of setting `i` (0 is `current`).
pub fn setting_name(i: usize) -> String {
    match i {
        0 => "current".to_string(),
        i => {
            let n = i - 1;
            let letter = char::from(b'A' + u8::try_from(n % 26).unwrap_or(0));
            if n < 26 {
                letter.to_string()
            } else {
                format!("{letter}{}", n / 26)
            }
        }
    }
}

fn hours(h: f64) -> String {
    format!("{h:.2}")
}

fn close_cells(c: &Close, tz: &TimeZone) -> (String, String, String, String, String) {
    let at = c.at.map_or_else(|| "-".to_string(), |t| hh_mm(t, Some(tz)));
    let why = c.rule.map_or("-", |r| r.as_str()).to_string();
    let mut note = Vec::new();
    if let Some(p) = &c.premature {
        let name = p
            .metric
            .split('{')
            .next()
            .and_then(|m| m.rsplit('/').next())
            .unwrap_or(&p.metric);
        note.push(format!(
            "PREMATURE: {name} {} at {}",
            p.value,
            hh_mm(p.at, Some(tz))
        ));
    }
    if c.extrapolated {
        note.push("after the recorded checks".to_string());
    }
    (
        at,
        why,
        hours(c.reader_hours),
        hours(c.task_hours),
        note.join("; "),
    )
}

fn row(cols: [&str; 7]) -> String {
    let line = format!(
        "{:<12}{:<9}{:<8}{:<10}{:>9}{:>8}  {}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6]
    );
    cut(line.trim_end(), WIDTH)
}

fn replay_block(out: &mut String, replay: &Replay, tz: &TimeZone) {
    out.push_str(&cut(
        &format!("checks {}: {}", replay.checks, replay.description),
        WIDTH,
    ));
    out.push('\n');
    out.push_str(&row([
        "night", "setting", "closes", "why", "reader-h", "task-h", "note",
    ]));
    out.push('\n');
    for night in &replay.nights {
        let closes = std::iter::once(("actual".to_string(), &night.actual)).chain(
            night
                .settings
                .iter()
                .enumerate()
                .map(|(i, c)| (setting_name(i), c)),
        );
        for (i, (name, c)) in closes.enumerate() {
            let (at, why, r, t, note) = close_cells(c, tz);
            let first = if i == 0 { night.run.as_str() } else { "" };
            out.push_str(&row([first, &name, &at, &why, &r, &t, &note]));
            out.push('\n');
        }
        if let Some(e) = &night.metrics_error {
            out.push_str(&cut(&format!("            metrics unreadable: {e}"), WIDTH));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "{:<12}{:<9}{:>7}{:>7}{:>10}{:>8}{:>11}{:>10}{:>9}\n",
        "totals",
        "setting",
        "nights",
        "quiet",
        "deadline",
        "forced",
        "premature",
        "reader-h",
        "task-h"
    ));
    for (i, t) in replay.totals.iter().enumerate() {
        let name = if i == 0 {
            "actual".to_string()
        } else {
            setting_name(i - 1)
        };
        out.push_str(&format!(
            "{:<12}{:<9}{:>7}{:>7}{:>10}{:>8}{:>11}{:>10}{:>9}\n",
            "",
            name,
            t.nights,
            t.quiet,
            t.deadline,
            t.forced,
            t.premature,
            hours(t.reader_hours),
            hours(t.task_hours)
        ));
        // The worker kinds' hours, where the nights had them (no column of their own).
        if t.vcpu_hours > 0.0 || t.instance_hours > 0.0 {
            out.push_str(&format!(
                "{:<21}and {} Batch vCPU-hours, {} Auto Scaling instance-hours\n",
                "",
                hours(t.vcpu_hours),
                hours(t.instance_hours)
            ));
        }
    }
}

/// `text` in lines of at most [`WIDTH`] columns, broken after commas, continued indented.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (i, part) in text.split(", ").enumerate() {
        let piece = part.to_string();
        let current = lines.last_mut().map_or(0, |l| l.chars().count());
        if i > 0 && current + 2 + piece.chars().count() > WIDTH {
            if let Some(l) = lines.last_mut() {
                l.push(',');
            }
            lines.push(format!("      {piece}"));
        } else if let Some(l) = lines.last_mut() {
            if i > 0 {
                l.push_str(", ");
            }
            l.push_str(&piece);
        }
    }
    lines
}

/// The report as text (`tz`: the scenario's zone, for the local times).
pub fn render_table(report: &TuneReport, tz: &TimeZone) -> String {
    let mut out = String::new();
    let nights = report.replays.first().map_or(0, |r| r.nights.len());
    out.push_str(&cut(
        &format!(
            "tune {} ({}): {nights} closed night(s) opened since {} UTC; times are {}",
            report.scenario,
            report.timezone,
            report.since.strftime("%Y-%m-%d %H:%M"),
            report.timezone
        ),
        WIDTH,
    ));
    out.push('\n');
    for (i, label) in report.settings.iter().enumerate() {
        let text = if i == 0 {
            format!("  current = {label}")
        } else {
            format!("  {} = --set {label}", setting_name(i))
        };
        for line in wrap(&text) {
            out.push_str(&cut(&line, WIDTH));
            out.push('\n');
        }
    }
    if !report.skipped_open.is_empty() {
        out.push_str(&cut(
            &format!("  left out, still open: {}", report.skipped_open.join(", ")),
            WIDTH,
        ));
        out.push('\n');
    }
    for replay in &report.replays {
        out.push('\n');
        replay_block(&mut out, replay, tz);
    }
    out.push_str(
        "\nreader-h / task-h: readers and tasks held above the baseline, from the scale-up to the close\n\
         PREMATURE: a quiet close after which a metric was at or above its threshold again that night\n",
    );
    out
}
