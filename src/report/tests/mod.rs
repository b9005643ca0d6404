//! The report's unit tests: the demo night ([`demo`]) rendered by every view and compared with
//! the snapshots of integration/fixtures/report/ (which the integration test expects the CLI to
//! print), one file per view.

mod demo;
mod evidence;
mod html;
mod json;
mod table;

use super::*;
use crate::config::{self, Scenario};
use crate::history::{EventRecord, RunRecord, RunStatus};
use crate::text::human_duration;
use demo::{demo, NIGHT};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;

const CONTRACT: &str = include_str!("../../../integration/fixtures/config/contract.toml");

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn scenario() -> Scenario {
    config::parse(CONTRACT, "contract.toml").unwrap().scenarios[0].clone()
}

fn tokyo() -> TimeZone {
    TimeZone::get("Asia/Tokyo").unwrap()
}

// --- snapshots ------------------------------------------------------------------------------

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("integration/fixtures/report")
        .join(name)
}

/// Compares `actual` with the snapshot file exactly; `UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = snapshot_path(name);
    if std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "snapshot {} unreadable ({e}): run `UPDATE_SNAPSHOTS=1 cargo test --lib report` and review it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the rendering, first at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             If the change is intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff.",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

struct Loaded {
    now: Timestamp,
    runs: Vec<RunRecord>,
    events: Vec<EventRecord>,
}

fn loaded() -> Loaded {
    let d = demo();
    Loaded {
        now: d.now,
        runs: d.runs.iter().map(RunView::to_record).collect(),
        events: d.events.iter().map(EventView::to_record).collect(),
    }
}

fn since_7d(l: &Loaded) -> Selection {
    let from = l.now - SignedDuration::from_hours(7 * 24);
    select_runs(l.runs.clone(), from, None)
}

fn the_night(l: &Loaded) -> RunRecord {
    l.runs
        .iter()
        .find(|r| r.run == NIGHT && r.scenario == "nightly-batch")
        .unwrap()
        .clone()
}

/// The demo night with one call of the scale-up found already done (an idempotent retry found
/// its reader created): recorded as `ok: already exists`, which every view reads as done.
fn already_done_night(l: &Loaded) -> (RunRecord, Vec<EventRecord>) {
    let mut events = l.events.clone();
    events[0].actions[1].result = "ok: already exists".into();
    assert_eq!(
        events[0].actions[1].result,
        crate::ActionResult::AlreadyDone {
            why: "already exists".into()
        }
    );
    (the_night(l), events)
}

/// A run and one event with a short reason and a full explanation.
fn explained_night(l: &Loaded) -> (RunRecord, Vec<EventRecord>) {
    let mut events = vec![l.events[0].clone()];
    events[0].reason = "4 calls made; waiting: 3 readers".into();
    events[0].detail =
        "4 call(s) made; waiting: batch-db: 0 of 3 new readers available; \x1b[2Jcleared".into();
    (the_night(l), events)
}

#[test]
fn select_runs_trims_older_runs_and_filters_status() {
    let l = loaded();
    let from = ts("2026-11-24T00:00:00Z");
    let all = select_runs(l.runs.clone(), from, None);
    assert_eq!(all.runs.len(), 5);
    assert!(all.reached_older);
    let open = select_runs(l.runs.clone(), from, Some(RunStatus::Open));
    assert_eq!(open.runs.len(), 1);
    assert_eq!(open.hidden_by_status, 4);
    let closed = select_runs(l.runs[..3].to_vec(), from, Some(RunStatus::Closed));
    assert_eq!(closed.runs.len(), 2);
    assert!(!closed.reached_older);
}

#[test]
fn since_run_is_the_local_date_or_the_utc_date_a_day_earlier() {
    // 2026-11-19T20:00Z is already the 20th in Tokyo.
    let from = ts("2026-11-19T20:00:00Z");
    assert_eq!(since_run(from, Some(&tokyo())), "2026-11-20");
    assert_eq!(since_run(from, None), "2026-11-18");
    let la = TimeZone::get("America/Los_Angeles").unwrap();
    assert_eq!(
        since_run(ts("2026-11-20T03:00:00Z"), Some(&la)),
        "2026-11-19"
    );
}

#[test]
fn durations_read_well() {
    let d = |s: i64| human_duration(SignedDuration::from_secs(s));
    assert_eq!(d(40), "40s");
    assert_eq!(d(12 * 60 + 5), "12m");
    assert_eq!(d(9 * 3600 + 30 * 60), "9h30m");
    assert_eq!(d(3600 + 5 * 60), "1h05m");
    assert_eq!(d(2 * 86_400 + 3 * 3600), "2d03h");
    assert_eq!(d(-5), "0s");
    assert_eq!(svg::num(3.0), "3");
    assert_eq!(svg::num(0.25), "0.25");
    assert_eq!(svg::nice_ceiling(8.05), 10.0);
    assert_eq!(svg::nice_ceiling(1.15), 2.0);
}
