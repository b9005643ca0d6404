//! `nightshift report` as a terminal table: one line per night, oldest first, then the totals.
//! Every line fits [`crate::report::WIDTH`] columns; recorded names are cleaned of control
//! characters first.

use super::{hm, Hours, Money, Totals, TrendReport};
use crate::text::{cut, human_duration, one_line};
use jiff::tz::TimeZone;
use jiff::SignedDuration;

const HEADER: [(&str, usize); 10] = [
    ("NIGHT", 13),
    ("SCENARIO", 15),
    ("OPENED", 7),
    ("READY AFTER", 12),
    ("QUIET AT", 9),
    ("CLOSED", 7),
    ("DURATION", 9),
    ("CLOSED BY", 10),
    ("FAILURES", 9),
    ("DRIFT", 6),
];

fn line(cells: &[String]) -> String {
    columns(cells, &HEADER)
}

fn columns(cells: &[String], header: &[(&str, usize)]) -> String {
    let mut out = String::new();
    for (cell, (_, width)) in cells.iter().zip(header.iter().copied()) {
        let cell = cut(cell, width - 1);
        out.push_str(&format!("{cell:<width$}"));
    }
    out.trim_end().to_string()
}

/// The report as a table; times on `zone`'s clock (UTC without one).
pub fn trends_table(report: &TrendReport, zone: Option<&TimeZone>) -> String {
    let mut out = String::new();
    let scope = match &report.scenario {
        Some(s) => format!("scenario {}", one_line(s)),
        None => "every scenario".to_string(),
    };
    out.push_str(&format!(
        "nights of {scope} opened since {} UTC (times {})\n",
        report.since.strftime("%Y-%m-%d %H:%M"),
        report.timezone
    ));
    if report.nights.is_empty() {
        out.push_str("no nights in this range\n");
    } else {
        out.push_str(&line(&HEADER.map(|(h, _)| h.to_string())));
        out.push('\n');
        let dash = || "-".to_string();
        for n in &report.nights {
            let cells = [
                one_line(&n.run),
                one_line(&n.scenario),
                hm(n.opened_at, zone),
                n.ready_after_s
                    .map_or_else(dash, |s| human_duration(SignedDuration::from_secs(s))),
                n.quiet_at.map_or_else(dash, |t| hm(t, zone)),
                n.closed_at
                    .map_or_else(|| "open".to_string(), |t| hm(t, zone)),
                n.duration_s
                    .map_or_else(dash, |s| human_duration(SignedDuration::from_secs(s))),
                n.closed_by.map_or_else(dash, |c| c.as_str().to_string()),
                n.failures.to_string(),
                n.drift.to_string(),
            ];
            out.push_str(&line(&cells));
            out.push('\n');
        }
    }
    let t = &report.totals;
    out.push('\n');
    out.push_str(&format!(
        "{} nights ({} closed: {} quiet, {} deadline hits, {} forced); {} failures; {} drift\n",
        t.nights, t.closed, t.quiet, t.deadline_hits, t.forced, t.failures, t.drift
    ));
    out.push_str(&format!(
        "held above the baseline: {:.1} task-hours, {:.1} reader-hours{}\n",
        t.task_hours,
        t.reader_hours,
        workers_hours(t.vcpu_hours, t.instance_hours)
    ));
    if !report.nights.is_empty() {
        out.push('\n');
        out.push_str(&capacity_table(report));
    }
    out.push_str(&format!(
        "read: {} queries, {} items (the runs in range and their events)\n",
        report.cost.queries, report.cost.items_read
    ));
    out
}

/// The worker kinds' hours, where a scenario has them: Batch vCPUs kept warm, Auto Scaling
/// instances.
fn workers_hours(vcpu_hours: f64, instance_hours: f64) -> String {
    let mut parts = String::new();
    if vcpu_hours > 0.0 {
        parts.push_str(&format!(", {vcpu_hours:.1} Batch vCPU-hours (minvCpus)"));
    }
    if instance_hours > 0.0 {
        parts.push_str(&format!(
            ", {instance_hours:.1} Auto Scaling instance-hours"
        ));
    }
    parts
}

const INDENT: &str = "  ";

/// With `[prices]`: hours, the cost and the savings in money.
const PRICED: [(&str, usize); 8] = [
    ("NIGHT", 13),
    ("SCENARIO", 15),
    ("INSTANCE-H", 11),
    ("DCU-H", 8),
    ("TASK-H", 8),
    ("COST", 10),
    ("SAVED 24H", 15),
    ("SAVED DEADLINE", 15),
];

/// Without prices: the savings in hours of each kind.
const HOURS: [(&str, usize); 7] = [
    ("NIGHT", 13),
    ("SCENARIO", 15),
    ("INSTANCE-H", 11),
    ("DCU-H", 8),
    ("TASK-H", 8),
    ("SAVED 24H", 20),
    ("SAVED DEADLINE", 20),
];

fn h1(x: f64) -> String {
    format!("{x:.1}")
}

fn instance_hours(h: &Hours) -> f64 {
    h.readers_total() + h.resized_total()
}

/// `63.0i 168.0t`: instance-, DCU- and task-hours, the kinds that are not zero.
fn brief(h: &Hours) -> String {
    let parts: Vec<String> = [
        (instance_hours(h), "i"),
        (h.dcu_hours, "d"),
        (h.task_hours, "t"),
    ]
    .into_iter()
    .filter(|(x, _)| *x > 0.0)
    .map(|(x, unit)| format!("{x:.1}{unit}"))
    .collect();
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join(" ")
    }
}

fn money_cell(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

/// One row of the capacity table.
fn capacity_row(
    night: &str,
    scenario: &str,
    held: &Hours,
    saved_24h: &Hours,
    saved_deadline: Option<&Hours>,
    money: Option<&Money>,
) -> String {
    let mut cells = vec![
        one_line(night),
        one_line(scenario),
        h1(instance_hours(held)),
        if held.dcu_hours > 0.0 {
            h1(held.dcu_hours)
        } else {
            "-".into()
        },
        h1(held.task_hours),
    ];
    match money {
        Some(m) => {
            cells.push(money_cell(Some(m.cost)));
            cells.push(money_cell(Some(m.saved_vs_always_on)));
            cells.push(money_cell(m.saved_vs_deadline));
            columns(&cells, &PRICED)
        }
        None => {
            cells.push(brief(saved_24h));
            cells.push(saved_deadline.map_or_else(|| "-".to_string(), brief));
            columns(&cells, &HOURS)
        }
    }
}

fn totals_row(label: &str, t: &Totals) -> String {
    capacity_row(
        label,
        &format!("{} nights", t.nights),
        &t.held,
        &t.saved_vs_always_on,
        Some(&t.saved_vs_deadline),
        t.money.as_ref(),
    )
}

/// The capacity held above the baseline per night, per month and in total, with its cost and
/// what it saved (money at `[prices]`, else hours).
fn capacity_table(report: &TrendReport) -> String {
    let mut out = String::new();
    let header: &[(&str, usize)] = match &report.currency {
        Some(currency) => {
            out.push_str(&format!(
                "capacity above the baseline: hours, and money in {currency} at [prices]\n\
                 saved 24h: against holding the night's peak all day; saved deadline: closing on quiet\n"
            ));
            &PRICED
        }
        None => {
            out.push_str("capacity above the baseline, in hours (no [prices])\n");
            out.push_str("saved 24h: against holding the night's peak all day; saved deadline: closing on quiet\n");
            out.push_str("(i = instance-hours, d = DCU-hours, t = task-hours)\n");
            &HOURS
        }
    };
    // Indented under its heading: the nights table above is the one whose lines start with the
    // night.
    out.push_str(INDENT);
    out.push_str(&columns(
        &header
            .iter()
            .map(|(h, _)| h.to_string())
            .collect::<Vec<_>>(),
        header,
    ));
    out.push('\n');
    for n in &report.nights {
        out.push_str(INDENT);
        out.push_str(&capacity_row(
            &n.run,
            &n.scenario,
            &n.hours.held,
            &n.hours.saved_vs_always_on,
            n.hours.saved_vs_deadline.as_ref(),
            n.money.as_ref(),
        ));
        out.push('\n');
    }
    for m in &report.months {
        out.push_str(INDENT);
        out.push_str(&totals_row(&m.month, &m.totals));
        out.push('\n');
    }
    out.push_str(INDENT);
    out.push_str(&totals_row("total", &report.totals));
    out.push('\n');
    let t = &report.totals;
    let mut kinds: Vec<String> = t
        .held
        .reader_hours
        .iter()
        .map(|(class, h)| format!("{class} {h:.1}"))
        .collect();
    kinds.extend(
        t.held
            .resized_hours
            .iter()
            .map(|r| format!("{} → {} (resized) {:.1}", r.from, r.to, r.hours)),
    );
    if !kinds.is_empty() {
        out.push_str(&wrap(&format!(
            "instance-hours by class: {}",
            kinds.join(", ")
        )));
    }
    if t.held.task_hours > 0.0 {
        out.push_str(&wrap(&format!(
            "task-hours: {:.1} (Fargate: {:.1} vCPU-hours, {:.1} GB-hours; without a Fargate size: {:.1})",
            t.held.task_hours, t.held.vcpu_hours, t.held.gb_hours, t.held.unsized_task_hours
        )));
    }
    if let Some(m) = &t.money {
        if !m.unpriced.is_empty() {
            out.push_str(&wrap(&format!("not priced: {}", m.unpriced.join("; "))));
        }
    }
    // The same note on many nights is said once, with how many.
    let mut notes: Vec<(&str, usize)> = Vec::new();
    for note in report.nights.iter().flat_map(|n| &n.hours.notes) {
        match notes.iter_mut().find(|(n, _)| *n == note.as_str()) {
            Some((_, count)) => *count += 1,
            None => notes.push((note, 1)),
        }
    }
    for (note, count) in notes {
        let nights = if count == 1 { "night" } else { "nights" };
        out.push_str(&wrap(&format!("{count} {nights}: {note}")));
    }
    out
}

/// `text` in lines of at most the report's width (continuations indented), each ending in a
/// newline; recorded text is cleaned of control characters first.
fn wrap(text: &str) -> String {
    let width = crate::report::WIDTH;
    let mut out = String::new();
    let mut line = String::new();
    for word in one_line(text).split(' ') {
        let word = cut(word, width - 2);
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = "  ".to_string();
        } else if !line.is_empty() && line != "  " {
            line.push(' ');
        }
        line.push_str(&word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}
