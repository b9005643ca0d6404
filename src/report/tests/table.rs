//! The terminal tables of `history` and `show`.

use super::*;
use crate::report::table::{history_table, night_table};

/// Characters of a line: every table line fits [`WIDTH`].
fn chars(s: &str) -> usize {
    s.chars().count()
}

#[test]
fn history_table_matches_snapshot() {
    let l = loaded();
    let sel = since_7d(&l);
    assert!(sel.reached_older, "the 2026-11-10 run is outside 7d");
    let page = HistoryPage {
        runs: &sel.runs,
        next: None,
        hidden_by_status: 0,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    snapshot("history.txt", &history_table(&page, l.now));
}

#[test]
fn night_table_matches_snapshot() {
    let l = loaded();
    let run = the_night(&l);
    let tz = tokyo();
    let night = Night {
        run: &run,
        events: &l.events,
        zone: Some(&tz),
    };
    snapshot("show.txt", &night_table(&night, l.now));
    let utc_only = Night {
        zone: None,
        ..night
    };
    snapshot("show-utc.txt", &night_table(&utc_only, l.now));
}

#[test]
fn every_table_line_fits_100_columns() {
    let l = loaded();
    let long = "x".repeat(300);
    let mut runs = l.runs.clone();
    runs[0].scenario = format!("scenario-{long}");
    runs[1].run = format!("2026-11-25.{long}");
    runs[2].summary = format!("{long} {long}");
    let cursor = "7b22".repeat(60);
    let page = HistoryPage {
        runs: &runs,
        next: Some(&cursor),
        hidden_by_status: 2,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    let table = history_table(&page, l.now);
    for line in table.lines() {
        if line.starts_with("  --cursor ") {
            continue; // a cursor cannot be broken
        }
        assert!(chars(line) <= WIDTH, "{} columns: {line}", chars(line));
    }
    let mut run = the_night(&l);
    run.scenario = long.clone();
    run.summary = format!("{long} {long}");
    let mut events = l.events.clone();
    events[0].reason = format!("{long} short words {long}");
    events[0].actions[0].detail = long.clone();
    events[1].step = None;
    events[1].kind = long.clone();
    let tz = tokyo();
    for zone in [Some(&tz), None] {
        let night = Night {
            run: &run,
            events: &events,
            zone,
        };
        let table = night_table(&night, l.now);
        for line in table.lines() {
            assert!(chars(line) <= WIDTH, "{} columns: {line}", chars(line));
        }
        assert!(table.contains("short words"));
    }
    // The snapshots themselves.
    for name in ["history.txt", "show.txt", "show-utc.txt"] {
        let text = std::fs::read_to_string(snapshot_path(name)).unwrap_or_default();
        for line in text.lines() {
            assert!(chars(line) <= WIDTH, "{name}: {line}");
        }
    }
}

#[test]
fn history_table_prints_the_cursor_hint_and_the_status_filter() {
    let l = loaded();
    let page = HistoryPage {
        runs: &l.runs[..2],
        next: Some("abc123"),
        hidden_by_status: 3,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    let table = history_table(&page, l.now);
    assert!(
        table.contains(
            "2 runs opened since 2026-11-19 14:10 UTC; 3 more on this page left out by --status"
        ),
        "{table}"
    );
    assert!(
        table.ends_with("more runs: repeat the command with\n  --cursor abc123\n"),
        "{table}"
    );
    let empty = HistoryPage {
        runs: &[],
        next: None,
        hidden_by_status: 0,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    assert_eq!(
        history_table(&empty, l.now),
        "no runs opened since 2026-11-19 14:10 UTC\n"
    );
}

#[test]
fn control_characters_in_recorded_text_do_not_reach_the_terminal() {
    let l = loaded();
    let sel = since_7d(&l);
    let page = HistoryPage {
        runs: &sel.runs,
        next: None,
        hidden_by_status: 0,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    let table = history_table(&page, l.now);
    assert!(!table.contains('\u{1b}'));
    assert_eq!(table.lines().count(), 1 + sel.runs.len() + 1);
}

#[test]
fn history_table_shows_the_short_summary_whole() {
    let l = loaded();
    let mut runs = vec![l.runs[1].clone()];
    // A short reason of about 80 characters, and an older record's long one.
    runs[0].summary =
        "busy: Batch/JobsRunning{Job=nightly} max 5 >= 1 at 00:09; deadline 07:30 Asia/Tokyo"
            .into();
    let mut old = l.runs[2].clone();
    old.summary = format!(
        "scale-down (quiet): {}; run closed",
        "back at the baseline ".repeat(8)
    );
    runs.push(old);
    let page = HistoryPage {
        runs: &runs,
        next: None,
        hidden_by_status: 0,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    let table = history_table(&page, l.now);
    assert!(!table.contains('…'), "{table}");
    // Every word of each summary, in order, wrapped in its column or not.
    let words: Vec<&str> = table.split_whitespace().collect();
    for run in &runs {
        let mut at = 0;
        for word in run.summary.split_whitespace() {
            match words[at..].iter().position(|w| *w == word) {
                Some(i) => at += i + 1,
                None => panic!("{word:?} of {:?} is missing:\n{table}", run.summary),
            }
        }
    }
    for line in table.lines() {
        assert!(chars(line) <= WIDTH, "{} columns: {line}", chars(line));
    }
    // East Asian wide characters are two columns: the summary column still lines up.
    runs[0].scenario = "夜間バッチ".into();
    let page = HistoryPage {
        runs: &runs,
        next: None,
        hidden_by_status: 0,
        scenario: None,
        since: l.now - SignedDuration::from_hours(7 * 24),
    };
    let table = history_table(&page, l.now);
    let header = table.lines().next().unwrap_or_default();
    let first = table.lines().nth(1).unwrap_or_default();
    let column = |line: &str, text: &str| {
        line.find(text)
            .map(|i| comfy_width(&line[..i]))
            .unwrap_or_else(|| panic!("{text} not in {line}"))
    };
    assert_eq!(column(header, "SUMMARY"), column(first, "busy:"), "{table}");
}

/// Display columns of `s` as a terminal draws them (wide characters count two).
fn comfy_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{3000}'..='\u{9fff}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn a_call_already_done_reads_as_done_in_the_table() {
    let l = loaded();
    let (run, events) = already_done_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let table = night_table(&night, l.now);
    // The call's line may wrap: compare the words.
    let flat = table.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("docdb CreateDBInstance batch-db-nightly-batch-r1: reader db.r6g.large in batch-db [done: already exists]"),
        "{table}"
    );
    assert!(!flat.contains("[error"), "{table}");
    assert!(!table.contains("[ok: already exists]"), "{table}");
}

#[test]
fn show_prints_the_short_reason_and_the_full_explanation_beneath_it() {
    let l = loaded();
    let (run, events) = explained_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let table = night_table(&night, l.now);
    let lines: Vec<&str> = table.lines().collect();
    let reason = lines
        .iter()
        .position(|line| line.ends_with("4 calls made; waiting: 3 readers"))
        .unwrap_or_else(|| panic!("no reason line:\n{table}"));
    assert!(
        lines[reason + 1]
            .trim_start()
            .starts_with("4 call(s) made; waiting: batch-db"),
        "{table}"
    );
    assert!(!table.contains('\u{1b}'), "{table}");
}
