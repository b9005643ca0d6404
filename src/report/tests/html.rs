//! `show --output html`.

use super::*;
use crate::report::html::night_html;

#[test]
fn night_html_matches_snapshot_and_marks_the_night() {
    let l = loaded();
    let run = the_night(&l);
    let tz = tokyo();
    let night = Night {
        run: &run,
        events: &l.events,
        zone: Some(&tz),
    };
    let html = night_html(&night, l.now);
    snapshot("show.html", &html);
    for hook in [
        "id=\"timeline\"",
        "id=\"timeline-chart\"",
        "id=\"metric-plot\"",
        "class=\"metric-chart\"",
        "class=\"threshold\"",
        "class=\"deadline\"",
        "class=\"quiet-window\"",
        "class=\"decision-marker\"",
        "class=\"marker scale-up-requested\"",
        "class=\"marker capacity-ready\"",
        "class=\"marker check decision-defer\"",
        "class=\"marker check decision-error\"",
        "class=\"marker check decision-scale-down\"",
        "class=\"marker scale-down-requested\"",
        "class=\"marker scale-down-done\"",
        "class=\"marker drift\"",
        "class=\"marker error\"",
        "deadline 2026-11-26T07:30+09:00",
        "threshold: below 1",
    ] {
        assert!(html.contains(hook), "the report lacks {hook}");
    }
    assert_eq!(html.matches("<li class=\"event").count(), 9);
    assert!(!html.contains("no metric evidence recorded"));
    // Self-contained: nothing is fetched.
    for external in ["<script", "<link", "src=", "url(", "@import", "https://"] {
        assert!(!html.contains(external), "the report references {external}");
    }
}

#[test]
fn html_without_metric_evidence_draws_the_timeline_and_says_so() {
    let l = loaded();
    let run = the_night(&l);
    let events: Vec<EventRecord> = l
        .events
        .iter()
        .map(|e| EventRecord {
            evidence: None,
            ..e.clone()
        })
        .collect();
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let html = night_html(&night, l.now);
    assert!(html.contains("<p id=\"no-metric-evidence\">no metric evidence recorded</p>"));
    assert!(html.contains("id=\"timeline-chart\""));
    assert!(!html.contains("class=\"metric-chart\""));
    assert_eq!(html.matches("<li class=\"event").count(), 9);
    // No events at all: still a page.
    let empty = Night {
        run: &run,
        events: &[],
        zone: None,
    };
    let html = night_html(&empty, l.now);
    assert!(html.contains("no events recorded for this run"));
    assert!(html.contains("no metric evidence recorded"));
    // Evidence that is not the gate's (or is malformed) is ignored, not fatal.
    let odd = vec![EventRecord {
        evidence: Some(serde_json::json!({"metrics": "not a list", "deadline": 7})),
        ..l.events[1].clone()
    }];
    let night = Night {
        run: &run,
        events: &odd,
        zone: None,
    };
    assert!(night_html(&night, l.now).contains("no metric evidence recorded"));
}

#[test]
fn html_escapes_every_recorded_string() {
    let l = loaded();
    let evil = "<script>alert('x')</script>&\"";
    let mut run = the_night(&l);
    run.scenario = evil.into();
    run.run = evil.into();
    run.summary = evil.into();
    run.opened_by = evil.into();
    let mut events = l.events.clone();
    for e in &mut events {
        e.reason = evil.into();
        e.key = evil.into();
        e.kind = evil.into();
        for a in &mut e.actions {
            a.detail = evil.into();
            a.result = evil.into();
        }
        if let Some(gate) = e.evidence.as_mut().and_then(|v| v.get_mut("gate")) {
            if let Some(metric) = gate["metrics"].get_mut(0) {
                metric["metric"] = serde_json::json!(evil);
            }
            gate["quiet_for"] = serde_json::json!(evil);
            gate["deadline_local"] = serde_json::json!(evil);
        }
        if let Some(drift) = e.evidence.as_mut().and_then(|v| v.get_mut("drift")) {
            *drift = serde_json::json!([evil]);
        }
    }
    events[0].step = None;
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let html = night_html(&night, l.now);
    assert!(!html.contains("<script"), "unescaped markup");
    assert!(!html.contains("alert('x')"), "unescaped quote");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
}

#[test]
fn a_call_already_done_reads_as_done_in_the_html() {
    let l = loaded();
    let (run, events) = already_done_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let html = night_html(&night, l.now);
    assert!(
        html.contains("<li class=\"action already-done\">docdb CreateDBInstance batch-db-nightly-batch-r1: reader db.r6g.large in batch-db [done: already exists]</li>"),
        "{html}"
    );
    assert!(!html.contains("action already-done failed"));
    // The scale-up is not marked as an error, and no error tooltip names the call.
    assert!(html.contains("<li class=\"event outcome-acted\" id=\"event-1\""));
    assert!(!html.contains("ok: already exists"));
}

#[test]
fn show_html_prints_the_short_reason_and_the_full_explanation_beneath_it() {
    let l = loaded();
    let (run, events) = explained_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let html = night_html(&night, l.now);
    assert!(
        html.contains("<p class=\"reason\">4 calls made; waiting: 3 readers</p>\n<p class=\"detail\">4 call(s) made; waiting: batch-db"),
        "{html}"
    );
}
