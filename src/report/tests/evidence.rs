//! Reading a recorded event's evidence: the typed `StepEvidence`, the milestones, the series.

use super::*;
use crate::evidence::StepEvidence;
use crate::report::evidence::{gates, milestones, read_all, MarkKind};

#[test]
fn demo_night_fixture_holds_what_the_gate_records() {
    let d = demo();
    let events: Vec<EventRecord> = d.events.iter().map(EventView::to_record).collect();
    let evidence = read_all(&events);
    let gates: Vec<&crate::gate::Evidence> = gates(&evidence).into_iter().map(|(_, g)| g).collect();
    assert_eq!(gates.len(), 7);
    assert_eq!(gates.last().unwrap().rule, Some(crate::gate::Rule::Quiet));
    assert_eq!(gates[0].deadline, ts("2026-11-25T22:30:00Z"));
    assert!(gates[0].metrics[0].periods.len() >= 15);
}

#[test]
fn evidence_is_read_through_its_type_and_what_does_not_decode_reads_as_absent() {
    let s = scenario();
    let d = demo::decide(&s, "2026-11-25T18:00:00Z", None);
    let recorded = serde_json::json!({"drift": ["a", "b"], "gate": d.evidence_json()});
    let read = StepEvidence::read(&recorded);
    assert_eq!(
        read.gate.as_ref().and_then(|g| g.rule),
        Some(crate::gate::Rule::Quiet)
    );
    assert_eq!(read.converge.drift, ["a", "b"]);
    // No gate, a gate an older build wrote differently, no object at all: no gate evidence,
    // and the rest still reads.
    assert!(StepEvidence::read(&serde_json::json!({"drift": ["x"]}))
        .gate
        .is_none());
    let odd = StepEvidence::read(&serde_json::json!({"drift": ["x"], "gate": {"metrics": 7}}));
    assert!(odd.gate.is_none());
    assert_eq!(odd.converge.drift, ["x"]);
    assert!(StepEvidence::read(&serde_json::json!("text"))
        .gate
        .is_none());
}

#[test]
fn a_call_already_done_is_not_an_error_milestone() {
    let l = loaded();
    let (run, events) = already_done_night(&l);
    let night = Night {
        run: &run,
        events: &events,
        zone: None,
    };
    let marks = milestones(&night, &read_all(&events));
    assert!(!marks
        .iter()
        .any(|m| m.event == Some(0) && m.kind == MarkKind::Error));
    // A call that failed still is one.
    let mut failed = events.clone();
    failed[0].actions[1].result = "error: InstanceQuotaExceeded: no more instances".into();
    let night = Night {
        events: &failed,
        ..night
    };
    let marks = milestones(&night, &read_all(&failed));
    assert!(marks.iter().any(|m| m.event == Some(0)
        && m.kind == MarkKind::Error
        && m.detail.contains("InstanceQuotaExceeded")));
}
