//! Ops overrides of the schedule: a pause (`nightshift pause` / `resume`), a hold (`nightshift
//! hold` / `release`) and a scenario's `skip_dates`. Pure policy: no I/O, no clock (`now` is
//! passed in).
//!
//! A pause and a hold are one type, [`Override`]: until when, by whom, at what time, why, and
//! what it defers ([`Paused`]: the scenario's steps; [`Held`]: the scale-down of one open run).
//! Both are stored on the scenario's `STATE` item, read with the scaling lease at no extra call,
//! and expire by themselves at `until` (nothing cleans them up).
//!
//! The rules, in one place ([`decide`]):
//! - **pause** (`now < paused_until`): scale-up is skipped; a check is skipped unless it
//!   continues a scale-down that already started; a scheduled (non-forced) scale-down is skipped
//!   unless one already started; a forced scale-down runs. Ops pause to keep the night's capacity
//!   (a long batch, an investigation), so nothing lowers it on a schedule, but an operator's
//!   forced scale-down, and the scale-down it starts, finish.
//! - **skip date** (the scenario-local date of `now` is in `skip_dates`): a scale-up that would
//!   open a new run is skipped. A run that is already open (opened the night before) goes on:
//!   its retried scale-up re-plans against it, and its checks and scale-downs run, so a skip date
//!   never strands capacity.
//!
//! A hold's rule is the state machine's ([`crate::night::decide`], rule 6): while `now < until`,
//! a check of the held run keeps the capacity without reading the gate and a scheduled
//! scale-down is deferred, both with the reason `held until …` (the deadline included: a hold
//! beats the deadline); a forced scale-down runs, and a scale-down that already started goes on.
//! A hold belongs to the run that was open when it was placed: it never carries over to a later
//! night.

use crate::config::Scenario;
use crate::domain::Step;
use crate::text::local_minute;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// An ops override of one scenario, as stored on its `STATE` item: in force while
/// `now < until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override<D> {
    /// In force until then (epoch milliseconds on the item).
    pub until: Timestamp,
    /// What it defers.
    #[serde(flatten)]
    pub defers: D,
    /// Who placed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was placed (epoch milliseconds on the item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an override defers, and how that reads in its description.
pub trait Defers {
    /// How the override starts its description: `paused`, `held`.
    const STATE: &'static str;
    /// What it defers, in its description after the time (` for run 2026-11-25`), or nothing.
    fn scope(&self) -> String;
}

/// A pause defers the scenario's steps: scale-up, checks, a scheduled scale-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused;

/// A hold defers the scale-down of the open run it holds (and keeps its capacity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The run it holds: a hold never applies to another night's run.
    pub run: String,
}

impl Defers for Paused {
    const STATE: &'static str = "paused";

    fn scope(&self) -> String {
        String::new()
    }
}

impl Defers for Held {
    const STATE: &'static str = "held";

    fn scope(&self) -> String {
        format!(" for run {}", self.run)
    }
}

/// `nightshift pause`: the scenario's steps are skipped while it is in force.
pub type Pause = Override<Paused>;

/// `nightshift hold`: the open run's capacity is kept while it is in force.
pub type Hold = Override<Held>;

impl<D: Defers> Override<D> {
    /// In force at `now`; an override ends by itself at `until`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        now < self.until
    }

    /// `paused until 2026-11-26T01:00:00Z (2026-11-26 10:00 Asia/Tokyo) by alice: "reason"`,
    /// `held until … for run 2026-11-25 by alice: "rerun"`.
    pub fn describe(&self, zone: Option<(&TimeZone, &str)>) -> String {
        let mut text = format!("{} until {}", D::STATE, self.until);
        if let Some((tz, name)) = zone {
            text.push_str(&format!(" ({} {name})", local_minute(tz, self.until)));
        }
        text.push_str(&self.defers.scope());
        if let Some(by) = &self.by {
            text.push_str(&format!(" by {by}"));
        }
        if let Some(reason) = &self.reason {
            text.push_str(&format!(": \"{reason}\""));
        }
        text
    }
}

impl Hold {
    /// In force at `now` for the open run `run`.
    pub fn holds(&self, run: &str, now: Timestamp) -> bool {
        self.is_active(now) && self.defers.run == run
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

/// Where the scenario's open run is, as far as the overrides care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunPhase {
    /// No open run: a scale-up would open one.
    NoOpenRun,
    /// An open run that has not started scaling down.
    ScalingUp,
    /// An open run whose scale-down started (checks continue it).
    ScalingDown,
}

/// Everything [`decide`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct StepFacts<'a> {
    pub scenario: &'a Scenario,
    pub step: Step,
    /// `"force": true` (scale-down only).
    pub force: bool,
    pub now: Timestamp,
    /// The scenario's stored pause, active or not.
    pub pause: Option<&'a Pause>,
    pub run: RunPhase,
}

/// Which override skipped a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipRule {
    Paused,
    SkipDate,
    /// A holiday of the scenario's holiday file (the business calendar).
    Holiday,
    /// A scheduled scale-up on a night it was not made for (another kind of night's time, or not
    /// one of the schedule's days).
    NotTonight,
}

impl SkipRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipRule::Paused => "paused",
            SkipRule::SkipDate => "skip-date",
            SkipRule::Holiday => "holiday",
            SkipRule::NotTonight => "not-tonight",
        }
    }
}

/// What the overrides say about one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Skip the step; `reason` is the response's reason (it starts with `paused until …` or
    /// `skip date …`).
    Skip {
        rule: SkipRule,
        reason: String,
    },
}

impl Verdict {
    pub fn is_skip(&self) -> bool {
        matches!(self, Verdict::Skip { .. })
    }
}

/// The overrides' verdict on one step (see the module docs for the rules).
pub fn decide(facts: &StepFacts<'_>) -> Verdict {
    let scenario = facts.scenario;
    let zone = Some((&scenario.timezone, scenario.timezone_name.as_str()));
    if let Some(pause) = facts.pause.filter(|p| p.is_active(facts.now)) {
        let resume = format!("`nightshift resume {}` ends the pause early", scenario.name);
        let skipped = match facts.step {
            Step::ScaleUp => Some(format!("this scale-up is skipped; {resume}")),
            Step::Check if facts.run == RunPhase::ScalingDown => None,
            Step::Check => Some(format!(
                "this check is skipped (no gate decision, no resize continuation); {resume}"
            )),
            Step::ScaleDown if facts.force || facts.run == RunPhase::ScalingDown => None,
            Step::ScaleDown => Some(format!(
                "a scheduled scale-down is skipped while paused: send \"force\": true to scale down now, or {resume}"
            )),
        };
        if let Some(what) = skipped {
            return Verdict::Skip {
                rule: SkipRule::Paused,
                reason: format!("{}; {what}", pause.describe(zone)),
            };
        }
    }
    if facts.step == Step::ScaleUp && facts.run == RunPhase::NoOpenRun {
        let local = facts
            .now
            .to_zoned_datetime(scenario.timezone.clone())
            .date();
        if scenario.skip_dates.contains(&local) {
            return Verdict::Skip {
                rule: SkipRule::SkipDate,
                reason: format!(
                    "skip date {local} ({} on the scenario's clock, {}): no run is opened tonight; checks and scale-downs of an open run still run",
                    local_minute(&scenario.timezone, facts.now),
                    scenario.timezone_name
                ),
            };
        }
    }
    Verdict::Proceed
}

/// `--until` of `nightshift pause`: an RFC 3339 time (`2026-11-26T10:00:00+09:00`) or a duration
/// from `now` (`12h`, `2d`, `90m`). Refused when it is not after `now`.
pub fn parse_until(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    let until = if text.starts_with(|c: char| c.is_ascii_digit()) && text.contains('-') {
        text.parse::<Timestamp>().map_err(|e| {
            format!(
                "--until \"{text}\" is not an RFC 3339 time with an offset ({e}): write e.g. 2026-11-26T10:00:00+09:00 or 2026-11-26T01:00:00Z, or a duration such as 12h"
            )
        })?
    } else {
        let span = crate::config::parse_duration(text).map_err(|e| {
            format!("--until \"{text}\": {e}; or give an RFC 3339 time such as 2026-11-26T10:00:00+09:00")
        })?;
        now.checked_add(span)
            .map_err(|_| format!("--until \"{text}\" is too far in the future"))?
    };
    if until <= now {
        return Err(format!(
            "--until {until} is not in the future (now is {now}): a pause must end later than now; give a later time or a duration such as 12h"
        ));
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(skip: &[&str]) -> Scenario {
        let dates = skip
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = include_str!("../integration/fixtures/config/contract.toml").replace(
            "timezone = \"Asia/Tokyo\"",
            &format!("timezone = \"Asia/Tokyo\"\nskip_dates = [{dates}]"),
        );
        let config = crate::config::parse(&text, "skip.toml").unwrap();
        config.scenarios[0].clone()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pause(until: &str) -> Pause {
        Pause {
            until: at(until),
            defers: Paused,
            by: Some("alice".into()),
            at: Some(at("2026-11-25T12:00:00Z")),
            reason: Some("long batch".into()),
        }
    }

    fn verdict(
        s: &Scenario,
        step: Step,
        force: bool,
        now: &str,
        p: Option<&Pause>,
        run: RunPhase,
    ) -> Verdict {
        decide(&StepFacts {
            scenario: s,
            step,
            force,
            now: at(now),
            pause: p,
            run,
        })
    }

    #[test]
    fn a_pause_skips_scale_up_check_and_a_scheduled_scale_down_but_not_a_forced_one() {
        let s = scenario(&[]);
        let p = pause("2026-11-26T01:00:00Z");
        let now = "2026-11-25T13:00:00Z";
        for (step, force, run) in [
            (Step::ScaleUp, false, RunPhase::NoOpenRun),
            (Step::ScaleUp, false, RunPhase::ScalingUp),
            (Step::Check, false, RunPhase::ScalingUp),
            (Step::Check, false, RunPhase::NoOpenRun),
            (Step::ScaleDown, false, RunPhase::ScalingUp),
        ] {
            match verdict(&s, step, force, now, Some(&p), run) {
                Verdict::Skip { rule, reason } => {
                    assert_eq!(rule, SkipRule::Paused, "{step} {run:?}");
                    assert!(
                        reason.starts_with(
                            "paused until 2026-11-26T01:00:00Z (2026-11-26 10:00 Asia/Tokyo) by alice: \"long batch\"; "
                        ),
                        "{reason}"
                    );
                    assert!(
                        reason.contains("nightshift resume nightly-batch"),
                        "{reason}"
                    );
                }
                Verdict::Proceed => panic!("{step} ({run:?}) ran while paused"),
            }
        }
        // Forced, or continuing a scale-down that started: it runs.
        assert_eq!(
            verdict(
                &s,
                Step::ScaleDown,
                true,
                now,
                Some(&p),
                RunPhase::ScalingUp
            ),
            Verdict::Proceed
        );
        assert_eq!(
            verdict(
                &s,
                Step::ScaleDown,
                false,
                now,
                Some(&p),
                RunPhase::ScalingDown
            ),
            Verdict::Proceed
        );
        assert_eq!(
            verdict(&s, Step::Check, false, now, Some(&p), RunPhase::ScalingDown),
            Verdict::Proceed
        );
        let Verdict::Skip { reason, .. } = verdict(
            &s,
            Step::ScaleDown,
            false,
            now,
            Some(&p),
            RunPhase::ScalingUp,
        ) else {
            panic!("a scheduled scale-down ran while paused")
        };
        assert!(reason.contains("\"force\": true"), "{reason}");
    }

    #[test]
    fn a_pause_expires_by_itself_at_until() {
        let s = scenario(&[]);
        let p = pause("2026-11-26T01:00:00Z");
        let before = "2026-11-26T00:59:59.999Z";
        assert!(verdict(
            &s,
            Step::Check,
            false,
            before,
            Some(&p),
            RunPhase::ScalingUp
        )
        .is_skip());
        for now in ["2026-11-26T01:00:00Z", "2026-11-27T00:00:00Z"] {
            for step in Step::ALL {
                assert_eq!(
                    verdict(&s, step, false, now, Some(&p), RunPhase::ScalingUp),
                    Verdict::Proceed,
                    "{step} at {now}"
                );
            }
        }
        assert!(!p.is_active(at("2026-11-26T01:00:00Z")));
        assert!(p.is_active(at(before)));
    }

    #[test]
    fn a_skip_date_is_the_scenario_local_date_and_skips_only_opening_a_run() {
        let s = scenario(&["2026-12-31"]);
        // 2026-12-30T16:00Z is 2026-12-31 01:00 in Tokyo: a skip date there, not in UTC.
        let Verdict::Skip { rule, reason } = verdict(
            &s,
            Step::ScaleUp,
            false,
            "2026-12-30T16:00:00Z",
            None,
            RunPhase::NoOpenRun,
        ) else {
            panic!("scale-up ran on a skip date")
        };
        assert_eq!(rule, SkipRule::SkipDate);
        assert!(
            reason.starts_with(
                "skip date 2026-12-31 (2026-12-31 01:00 on the scenario's clock, Asia/Tokyo)"
            ),
            "{reason}"
        );
        // 2026-12-31T15:00Z is already 2027-01-01 in Tokyo.
        assert_eq!(
            verdict(
                &s,
                Step::ScaleUp,
                false,
                "2026-12-31T15:00:00Z",
                None,
                RunPhase::NoOpenRun
            ),
            Verdict::Proceed
        );
        // 2026-12-30T14:59Z is 23:59 on the 30th in Tokyo.
        assert_eq!(
            verdict(
                &s,
                Step::ScaleUp,
                false,
                "2026-12-30T14:59:00Z",
                None,
                RunPhase::NoOpenRun
            ),
            Verdict::Proceed
        );
        // A run opened the night before goes on: never stranded capacity.
        let on_skip_date = "2026-12-30T20:00:00Z";
        for (step, run) in [
            (Step::ScaleUp, RunPhase::ScalingUp),
            (Step::Check, RunPhase::ScalingUp),
            (Step::Check, RunPhase::ScalingDown),
            (Step::ScaleDown, RunPhase::ScalingUp),
            (Step::Check, RunPhase::NoOpenRun),
            (Step::ScaleDown, RunPhase::NoOpenRun),
        ] {
            assert_eq!(
                verdict(&s, step, false, on_skip_date, None, run),
                Verdict::Proceed,
                "{step} {run:?}"
            );
        }
    }

    #[test]
    fn until_is_a_time_or_a_duration_from_now_and_never_in_the_past() {
        let now = at("2026-11-25T13:00:00Z");
        assert_eq!(parse_until("12h", now), Ok(at("2026-11-26T01:00:00Z")));
        assert_eq!(parse_until("1d2h", now), Ok(at("2026-11-26T15:00:00Z")));
        assert_eq!(
            parse_until("2026-11-26T10:00:00+09:00", now),
            Ok(at("2026-11-26T01:00:00Z"))
        );
        let past = parse_until("2026-11-25T12:59:59Z", now).unwrap_err();
        assert!(past.contains("not in the future"), "{past}");
        assert!(parse_until("0s", now)
            .unwrap_err()
            .contains("not in the future"));
        let bad = parse_until("2026-11-26 10:00", now).unwrap_err();
        assert!(bad.contains("RFC 3339"), "{bad}");
        let bad = parse_until("tomorrow", now).unwrap_err();
        assert!(bad.contains("--until \"tomorrow\""), "{bad}");
    }

    #[test]
    fn a_hold_is_for_its_run_and_ends_by_itself() {
        let hold = Hold {
            until: at("2026-11-26T00:00:00Z"),
            defers: Held {
                run: "2026-11-25".into(),
            },
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

    #[test]
    fn a_pause_and_a_hold_keep_their_stored_json() {
        // Run records hold a skipped step's pause as evidence, and `plan --output json` prints
        // both: the fields are those they had as two types.
        let pause = pause("2026-11-26T01:00:00Z");
        let json = serde_json::to_value(&pause).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "until": "2026-11-26T01:00:00Z",
                "by": "alice",
                "at": "2026-11-25T12:00:00Z",
                "reason": "long batch"
            })
        );
        assert_eq!(serde_json::from_value::<Pause>(json).unwrap(), pause);
        let bare: Pause = serde_json::from_str(r#"{"until": "2026-11-26T01:00:00Z"}"#).unwrap();
        assert_eq!(bare.until, at("2026-11-26T01:00:00Z"));
        let hold = Hold {
            until: at("2026-11-26T00:00:00Z"),
            defers: Held {
                run: "2026-11-25".into(),
            },
            by: None,
            at: None,
            reason: Some("rerun".into()),
        };
        let json = serde_json::to_string(&hold).unwrap();
        assert_eq!(
            json,
            r#"{"until":"2026-11-26T00:00:00Z","run":"2026-11-25","reason":"rerun"}"#
        );
        assert_eq!(serde_json::from_str::<Hold>(&json).unwrap(), hold);
    }
}
