//! The terminal tables of `history` and `show`, laid out by comfy-table without borders or
//! styling: every line fits [`WIDTH`] display columns (East Asian wide characters count two),
//! long text wraps inside its cell and is never cut, and recorded text is cleaned of control
//! characters ([`one_line`]) first.

use super::{action_line, step_name, zone_name, HistoryPage, Night, WIDTH};
use crate::history::EventRecord;
use crate::text::{cut, human_duration, one_line};
use comfy_table::{presets, Cell, ColumnConstraint, ContentArrangement, Table, Width};
use jiff::Timestamp;

/// A borderless table [`WIDTH`] columns wide: `gap` spaces between columns, the last one taking
/// the rest of the line. `fixed` are the widths of the other columns (content, without the gap);
/// `None` sizes a column to its content.
fn grid(fixed: &[Option<usize>], gap: u16, rows: Vec<Vec<String>>) -> Vec<String> {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(WIDTH as u16);
    for row in rows {
        table.add_row(row.into_iter().map(Cell::new));
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        match fixed.get(i) {
            Some(width) => {
                column.set_padding((0, gap));
                column.set_constraint(match width {
                    Some(w) => ColumnConstraint::Absolute(Width::Fixed(*w as u16 + gap)),
                    None => ColumnConstraint::ContentWidth,
                });
            }
            None => {
                column.set_padding((0, 0));
            }
        }
    }
    table.lines().map(|l| l.trim_end().to_string()).collect()
}

fn push_lines(out: &mut String, lines: Vec<String>) {
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
}

/// The history page as a table, newest first, every line at most [`WIDTH`] columns (but for the
/// cursor line of the next-page hint, which cannot be broken). The summary (the run's latest
/// short reason) is shown whole: a longer one from an older record wraps in its cell.
pub fn history_table(page: &HistoryPage, now: Timestamp) -> String {
    let mut out = String::new();
    let scope = format!(
        "{}opened since {} UTC",
        page.scenario
            .map_or(String::new(), |s| format!("of {} ", one_line(s))),
        page.since.strftime("%Y-%m-%d %H:%M")
    );
    if page.runs.is_empty() {
        out.push_str(&cut(&format!("no runs {scope}"), WIDTH));
        if page.hidden_by_status > 0 {
            out.push_str(&format!(
                " ({} on this page left out by --status)",
                page.hidden_by_status
            ));
        }
        out.push('\n');
    } else {
        let header = [
            "SCENARIO",
            "RUN",
            "STATUS",
            "OPENED (UTC)",
            "DURATION",
            "SUMMARY",
        ];
        let mut rows = vec![header.map(str::to_string).to_vec()];
        for r in page.runs {
            let duration = match r.closed_at {
                Some(closed) => human_duration(closed.duration_since(r.opened_at)),
                // The status column says it is still open.
                None => human_duration(now.duration_since(r.opened_at)),
            };
            rows.push(vec![
                // Names are cut to keep the summary its room; the summary never is.
                cut(&r.scenario, 18),
                cut(&r.run, 14),
                r.status.as_str().to_string(),
                r.opened_at.strftime("%Y-%m-%d %H:%M").to_string(),
                duration,
                one_line(&r.summary).trim().to_string(),
            ]);
        }
        push_lines(&mut out, grid(&[None; 5], 2, rows));
        let n = page.runs.len();
        let mut footer = format!("{n} run{} {scope}", if n == 1 { "" } else { "s" });
        if page.hidden_by_status > 0 {
            footer.push_str(&format!(
                "; {} more on this page left out by --status",
                page.hidden_by_status
            ));
        }
        out.push_str(&cut(&footer, WIDTH));
        out.push('\n');
    }
    if let Some(next) = page.next {
        out.push_str("more runs: repeat the command with\n");
        out.push_str(&format!("  --cursor {next}\n"));
    }
    out
}

/// The night as a header and a timeline table: each event's time in UTC (and the scenario's
/// zone when known), step, outcome, short reason and, beneath it, the full explanation; its calls
/// one per line below it. Every line at most [`WIDTH`] columns: long text wraps in its cell.
pub fn night_table(night: &Night, now: Timestamp) -> String {
    let mut out = run_header(night, now);
    if night.events.is_empty() {
        out.push_str("no events recorded for this run\n");
        return out;
    }
    timeline(&mut out, night);
    let with_evidence = night.events.iter().filter(|e| e.evidence.is_some()).count();
    if with_evidence > 0 {
        out.push_str(&format!(
            "\n{with_evidence} event{} recorded evidence: see --output json, or --output html for the metric plot\n",
            if with_evidence == 1 { "" } else { "s" }
        ));
    }
    out
}

/// The run: scenario, id, status and duration, when it opened and closed, who opened it, its
/// summary; then a blank line.
fn run_header(night: &Night, now: Timestamp) -> String {
    let run = night.run;
    let zone = night.zone;
    let mut out = String::new();
    let when = |t: Timestamp| match zone {
        Some(tz) => format!(
            "{} UTC ({} {})",
            t.strftime("%Y-%m-%d %H:%M:%S"),
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S"),
            zone_name(tz)
        ),
        None => format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S")),
    };
    let duration = match run.closed_at {
        Some(closed) => human_duration(closed.duration_since(run.opened_at)),
        None => format!(
            "open for {} so far",
            human_duration(now.duration_since(run.opened_at))
        ),
    };
    let title = format!(
        "{} / {}  {}  {}",
        one_line(&run.scenario),
        one_line(&run.run),
        run.status.as_str(),
        duration
    );
    out.push_str(&cut(&title, WIDTH));
    out.push('\n');
    let mut fields = vec![
        ("opened", when(run.opened_at)),
        ("by", one_line(&run.opened_by)),
    ];
    if let Some(profile) = night.profile() {
        fields.push(("profile", one_line(&profile)));
    }
    if let Some(closed) = run.closed_at {
        fields.push(("closed", when(closed)));
    }
    fields.push(("summary", one_line(&run.summary)));
    let fields = fields
        .into_iter()
        .map(|(label, text)| vec![label.to_string(), text])
        .collect();
    push_lines(&mut out, grid(&[Some(7)], 2, fields));
    out.push('\n');
    out
}

/// One row per event (times, step, outcome, reason and detail), its calls below it.
fn timeline(out: &mut String, night: &Night) {
    let zone = night.zone;
    // Date and time: a night crosses midnight in one zone or the other.
    let stamp = |t: Timestamp| t.strftime("%m-%d %H:%M:%S").to_string();
    let local = |t: Timestamp| {
        zone.map(|tz| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%m-%d %H:%M:%S")
                .to_string()
        })
    };
    let mut header = vec!["UTC"];
    let mut widths = vec![Some(14)];
    if zone.is_some() {
        header.push("LOCAL");
        widths.push(Some(14));
    }
    header.extend(["STEP", "OUTCOME", "REASON"]);
    widths.extend([Some(10), Some(11)]);
    push_lines(
        out,
        grid(
            &widths,
            2,
            vec![header.into_iter().map(str::to_string).collect()],
        ),
    );
    for event in night.events {
        let mut cells = vec![stamp(event.received_at)];
        cells.extend(local(event.received_at));
        cells.push(step_name(event));
        cells.push(event.outcome.as_str().to_string());
        cells.push(reason_and_detail(event));
        push_lines(out, grid(&widths, 2, vec![cells]));
        if !event.actions.is_empty() {
            let calls = event
                .actions
                .iter()
                .map(|a| vec!["    -".to_string(), action_line(a)])
                .collect();
            push_lines(out, grid(&[None], 1, calls));
        }
    }
}

/// The short reason, and beneath it the full explanation when it says more.
fn reason_and_detail(event: &EventRecord) -> String {
    let reason = one_line(&event.reason);
    if event.detail.is_empty() || event.detail == event.reason {
        reason
    } else {
        format!("{reason}\n{}", one_line(&event.detail))
    }
}
