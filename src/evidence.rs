//! The evidence a step records with its event (`EventRecord::evidence`): typed, serialized once,
//! and read back by the report (`show`) without searching.
//!
//! The JSON keys are the ones earlier records used, so a run recorded before this type existed
//! still reads: every field is optional, and a part that no longer decodes (the gate's evidence
//! of an older build) reads as absent instead of hiding the rest.

use crate::gate;
use crate::overrides::{Pause, SkipRule};
use crate::plan::{Call, Readiness};
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// Everything one step's decision and execution were based on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepEvidence {
    /// What the convergence loop did (empty for a step that planned nothing).
    #[serde(flatten)]
    pub converge: Convergence,
    /// Why a scale-down runs (the gate's sentence, or that it continues one started earlier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The scale-down gate's evidence: metric windows and values, thresholds, the deadline.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub gate: Option<gate::Evidence>,
    /// Whether the night's capacity is in place (a check of a scaling-up run).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub readiness: Option<Readiness>,
    /// When the capacity was first seen ready, and how long after the scale-up that was.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub ready_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_ready_s: Option<i64>,
    /// The ops override that skipped the step, and the pause it read.
    #[serde(
        rename = "override",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub override_rule: Option<SkipRule>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub pause: Option<Pause>,
    /// Set when this delivery took the step over from one that failed or whose lease expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover: Option<String>,
    /// This delivery opened the night's run (a scale-up that found none open).
    #[serde(default, skip_serializing_if = "is_false")]
    pub opened_run: bool,
    /// The run closed with this step; the rule that set its scale-down going, when known.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub closed_by: Option<gate::Rule>,
    /// At the close: the night's length from the scale-up, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub night_s: Option<i64>,
    /// At the close: the night's hours above the baseline (`trends::account`), for its Run
    /// Closed event and EMF line.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub night_hours: Option<crate::trends::Account>,
    /// The night's profile (a run opened with one; absent on ordinary nights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// This check first saw the batch busy while the night's capacity was not ready.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub capacity_late: Option<CapacityLate>,
}

/// The batch went busy before the night's capacity was ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityLate {
    /// The start of the batch metric's first busy period this check saw.
    pub busy_since: Timestamp,
    /// Minutes the batch has run without the night's capacity so far (at this check).
    pub late_minutes: i64,
    /// What the capacity still waits for.
    pub waiting: Vec<String>,
}

/// What a convergence (snapshot → plan → safety check → execute, in rounds) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Every call that was allowed and executed (or, in dry run, recorded), in order.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_vec"
    )]
    pub planned: Vec<Call>,
    /// What is still on its way (instances creating, tasks starting), as of the last round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// Values someone changed during the night: left alone and reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// What the first round found already in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Calls the safety check refused (a nightshift bug to report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// Calls that failed without ending the step (quota, capacity): the night goes on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
}

impl Convergence {
    pub fn is_empty(&self) -> bool {
        *self == Convergence::default()
    }
}

impl StepEvidence {
    /// True when nothing was recorded: the event is stored without an evidence object.
    pub fn is_empty(&self) -> bool {
        *self == StepEvidence::default()
    }

    /// The JSON stored with the event, or None when there is nothing to store.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        if self.is_empty() {
            return None;
        }
        serde_json::to_value(self).ok()
    }

    /// Reads a recorded evidence object; anything that is not an object reads as empty.
    pub fn read(value: &serde_json::Value) -> StepEvidence {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A field that does not decode reads as absent (a record of an older build).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A list whose items do not decode reads as empty.
fn lenient_vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_round_trips_and_keeps_the_keys_older_records_used() {
        let evidence = StepEvidence {
            converge: Convergence {
                drift: vec!["batch/worker: desired 7, not the 10 set".into()],
                waiting: vec!["batch-db: 2 readers creating".into()],
                ..Convergence::default()
            },
            decision: Some("quiet for 15m".into()),
            override_rule: Some(SkipRule::Paused),
            ready_at: Some("2026-11-25T13:30:00Z".parse().unwrap()),
            time_to_ready_s: Some(1800),
            ..StepEvidence::default()
        };
        let json = evidence.to_json().unwrap();
        assert_eq!(json["drift"][0], "batch/worker: desired 7, not the 10 set");
        assert_eq!(json["override"], "paused");
        assert_eq!(json["ready_at"], "2026-11-25T13:30:00Z");
        assert!(json.get("planned").is_none(), "empty lists are not stored");
        assert_eq!(StepEvidence::read(&json), evidence);
        assert_eq!(StepEvidence::default().to_json(), None);
    }

    #[test]
    fn an_older_record_reads_what_still_decodes() {
        let old = serde_json::json!({
            "dry_run": false,
            "planned": [],
            "drift": ["x"],
            "gate": {"rule": "quiet", "metrics": "not a list"},
            "readiness": {"ready": true, "waiting": [], "degraded": []},
            "something_new": 1
        });
        let read = StepEvidence::read(&old);
        assert_eq!(read.converge.drift, ["x"]);
        assert!(
            read.gate.is_none(),
            "an undecodable gate part reads as absent"
        );
        assert!(read.readiness.is_some_and(|r| r.ready));
        assert_eq!(
            StepEvidence::read(&serde_json::json!("text")),
            StepEvidence::default()
        );
    }
}
