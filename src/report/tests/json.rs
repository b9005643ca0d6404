//! `--output json` of `history` and `show`.

use super::*;
use crate::report::json::{history_json, night_json};

#[test]
fn history_json_matches_snapshot() {
    let l = loaded();
    let sel = since_7d(&l);
    let json = history_json(&sel.runs, None);
    snapshot("history.json", &json);
    let back: HistoryReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.runs.len(), 6);
    assert_eq!(back.runs[0].status, RunStatus::Open);
    assert_eq!(back.runs[0].duration_s, None);
    assert!(back.runs.iter().all(|r| r.baseline.is_none()));
}

#[test]
fn night_json_matches_snapshot() {
    let l = loaded();
    let run = the_night(&l);
    let tz = tokyo();
    let night = Night {
        run: &run,
        events: &l.events,
        zone: Some(&tz),
    };
    let json = night_json(&night);
    snapshot("show.json", &json);
    let back: NightReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.timezone.as_deref(), Some("Asia/Tokyo"));
    assert_eq!(back.events.len(), 9);
    assert!(back.run.baseline.is_some());
    assert_eq!(back.run.duration_s, Some(5 * 3600 + 15 * 60));
}

#[test]
fn a_call_already_done_reads_as_done_in_the_json() {
    let l = loaded();
    let (run, events) = already_done_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let json: serde_json::Value = serde_json::from_str(&night_json(&night)).unwrap();
    let actions = &json["events"][0]["actions"];
    assert_eq!(actions[0]["result"], "ok");
    assert_eq!(actions[0]["status"], "done");
    assert_eq!(actions[1]["result"], "ok: already exists");
    assert_eq!(actions[1]["status"], "already-done");
    // Read back, the status is derived again from the result.
    let back: NightReport = serde_json::from_value(json).unwrap();
    assert!(back.events[0].actions[1].result.is_done());
}

#[test]
fn show_json_has_the_short_reason_and_the_full_explanation() {
    let l = loaded();
    let (run, events) = explained_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let json: serde_json::Value = serde_json::from_str(&night_json(&night)).unwrap();
    assert_eq!(
        json["events"][0]["reason"],
        "4 calls made; waiting: 3 readers"
    );
    assert!(json["events"][0]["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("4 call(s) made; waiting: batch-db")));
}
