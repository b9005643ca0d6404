//! `nightshift report` as a terminal table: one line per night, oldest first, then the totals.
//! Every line fits [`crate::report::WIDTH`] columns; recorded names are cleaned of control
//! characters first.

use super::{hm, TrendReport};
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
    let mut out = String::new();
    for (cell, (_, width)) in cells.iter().zip(HEADER) {
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
