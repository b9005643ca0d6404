//! A hold of the night's capacity (`nightshift hold` / `release`): "keep it up until 09:00, we
//! are rerunning". Pure policy data: no I/O, no clock (`now` is passed in).
//!
//! A hold is stored on the scenario's `STATE` item next to the pause (attributes `held_until`,
//! `held_run`, `held_by`, `held_at`, `hold_reason`) and read with the scaling lease at no extra
//! call. It belongs to the run that was open when it was placed (`held_run`): it never carries
//! over to a later night. The rule itself is in the state machine ([`crate::night::decide`]):
//! while `now < until`, a check keeps the capacity without reading the gate and a scheduled
//! scale-down is deferred, both with the reason `held until …` (the deadline included: a hold
//! beats the deadline); a forced scale-down runs, and a scale-down that already started goes on.
//! It expires by itself at `until`; nothing cleans it up.

use crate::text::local_minute;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A hold of one scenario's open run, as stored on its `STATE` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Capacity is kept while `now < until` (attribute `held_until`, epoch milliseconds).
    pub until: Timestamp,
    /// The run it holds (`held_run`): a hold never applies to another night's run.
    pub run: String,
    /// Who placed it (`held_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was placed (`held_at`, epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Why (`hold_reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Hold {
    /// In force at `now`; a hold ends by itself at `until`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        now < self.until
    }

    /// In force at `now` for the open run `run`.
    pub fn holds(&self, run: &str, now: Timestamp) -> bool {
        self.is_active(now) && self.run == run
    }

    /// `held until 2026-11-26T00:00:00Z (2026-11-26 09:00 Asia/Tokyo) by alice: "rerun"`.
    pub fn describe(&self, zone: Option<(&TimeZone, &str)>) -> String {
        let mut text = format!("held until {}", self.until);
        if let Some((tz, name)) = zone {
            text.push_str(&format!(" ({} {name})", local_minute(tz, self.until)));
        }
        text.push_str(&format!(" for run {}", self.run));
        if let Some(by) = &self.by {
            text.push_str(&format!(" by {by}"));
        }
        if let Some(reason) = &self.reason {
            text.push_str(&format!(": \"{reason}\""));
        }
        text
    }
}

/// What `nightshift hold` found when it wrote the hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldPlaced {
    /// Stored; the hold it replaced, if any.
    Held { replaced: Option<Hold> },
    /// The scenario has no open run (or it is no longer the one read): nothing was stored.
    NoOpenRun,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_hold_is_for_its_run_and_ends_by_itself() {
        let hold = Hold {
            until: at("2026-11-26T00:00:00Z"),
            run: "2026-11-25".into(),
            by: Some("alice".into()),
            at: None,
            reason: Some("rerun".into()),
        };
        assert!(hold.holds("2026-11-25", at("2026-11-25T23:59:59Z")));
        assert!(!hold.holds("2026-11-25", at("2026-11-26T00:00:00Z")));
        assert!(!hold.holds("2026-11-26", at("2026-11-25T23:00:00Z")));
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            hold.describe(Some((&tz, "Asia/Tokyo"))),
            "held until 2026-11-26T00:00:00Z (2026-11-26 09:00 Asia/Tokyo) for run 2026-11-25 by alice: \"rerun\""
        );
    }
}
