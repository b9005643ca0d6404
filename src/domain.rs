//! Domain vocabulary shared by every module: steps, outcomes, actions and the response.
//!
//! These types are the external contract of docs/contract.md ("Response"): their serde shape is what
//! EventBridge, the CLI and ops scripts see, so renaming a variant is a breaking change.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One step of a scenario night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    ScaleUp,
    Check,
    ScaleDown,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::ScaleUp, Step::Check, Step::ScaleDown];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::ScaleUp => "scale-up",
            Step::Check => "check",
            Step::ScaleDown => "scale-down",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a step name that is not one of `scale-up`, `check`, `scale-down`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown step \"{0}\": use one of \"scale-up\", \"check\", \"scale-down\"")]
pub struct UnknownStep(pub String);

impl FromStr for Step {
    type Err = UnknownStep;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_string()))
    }
}

/// What happened to one event (docs/contract.md, "Response").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Scaling calls were made.
    Acted,
    /// This key+step already completed: the stored result is returned, nothing was called.
    Duplicate,
    /// Another delivery holds the lease for this key+step.
    InProgress,
    /// A check ran and the batch is still busy, or capacity is not ready.
    Deferred,
    /// Nothing to do: already at target, paused, out of order, not built yet.
    Skipped,
    /// Bad input or config: nothing was called.
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acted => "acted",
            Outcome::Duplicate => "duplicate",
            Outcome::InProgress => "in-progress",
            Outcome::Deferred => "deferred",
            Outcome::Skipped => "skipped",
            Outcome::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One AWS call nightshift made (or, in dry-run, would have made), as recorded in the run history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// AWS service, e.g. `ecs`, `docdb`, `application-autoscaling`.
    pub service: String,
    /// API operation, e.g. `UpdateService`.
    pub call: String,
    /// The resource it addressed, e.g. `batch/worker` or `batch-db-nightly-batch-r1`.
    pub resource: String,
    /// Human-readable summary of the change, e.g. `desiredCount 2 -> 10`.
    pub detail: String,
    /// What became of it; on the wire `ok`, `ok: <why it was already done>`, `dry-run`,
    /// `refused: <why> (<rule>)` or `error: <code>: <message>`.
    pub result: ActionResult,
}

/// What became of one call. Serialized as the one string older records hold (see [`Action`]), so
/// every record ever written reads back as the same variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionResult {
    /// The service accepted the call.
    Done,
    /// The effect was already in place (a retry finding its reader created): as good as done.
    AlreadyDone { why: String },
    /// `NIGHTSHIFT_DRY_RUN=1`: recorded, not sent.
    DryRun,
    /// The safety check refused the call before it was sent (a nightshift bug to report).
    Refused { why: String, rule: String },
    /// The service refused or failed it; `code` is its error code when it sent one.
    Failed {
        code: Option<String>,
        message: String,
    },
}

impl ActionResult {
    /// Done, or found already done: the effect is in place.
    pub fn is_done(&self) -> bool {
        matches!(self, ActionResult::Done | ActionResult::AlreadyDone { .. })
    }

    /// Refused or failed: the effect is not in place and something needs a look.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            ActionResult::Refused { .. } | ActionResult::Failed { .. }
        )
    }

    /// `done`, `already-done`, `dry-run`, `refused`, `failed`: the status views print.
    pub fn status(&self) -> &'static str {
        match self {
            ActionResult::Done => "done",
            ActionResult::AlreadyDone { .. } => "already-done",
            ActionResult::DryRun => "dry-run",
            ActionResult::Refused { .. } => "refused",
            ActionResult::Failed { .. } => "failed",
        }
    }

    /// Reads the recorded string back; text no variant wrote reads as a failure.
    pub fn parse(text: &str) -> ActionResult {
        if text == "ok" {
            return ActionResult::Done;
        }
        if text == "dry-run" {
            return ActionResult::DryRun;
        }
        if let Some(why) = text.strip_prefix("ok: ") {
            return ActionResult::AlreadyDone {
                why: why.to_string(),
            };
        }
        if let Some(rest) = text.strip_prefix("refused: ") {
            if let Some((why, rule)) = rest.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
                return ActionResult::Refused {
                    why: why.to_string(),
                    rule: rule.to_string(),
                };
            }
            return ActionResult::Refused {
                why: rest.to_string(),
                rule: String::new(),
            };
        }
        let message = text.strip_prefix("error: ").unwrap_or(text);
        // `Code: message` when the service sent a code (an identifier, no spaces).
        let code = message
            .split_once(':')
            .map(|(code, _)| code)
            .filter(|c| {
                !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.')
            })
            .map(str::to_string);
        ActionResult::Failed {
            code,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for ActionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionResult::Done => f.write_str("ok"),
            ActionResult::AlreadyDone { why } => write!(f, "ok: {why}"),
            ActionResult::DryRun => f.write_str("dry-run"),
            ActionResult::Refused { why, rule } if rule.is_empty() => write!(f, "refused: {why}"),
            ActionResult::Refused { why, rule } => write!(f, "refused: {why} ({rule})"),
            ActionResult::Failed { message, .. } => write!(f, "error: {message}"),
        }
    }
}

impl Serialize for ActionResult {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ActionResult {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ActionResult::parse(&text))
    }
}

impl From<&str> for ActionResult {
    fn from(text: &str) -> Self {
        ActionResult::parse(text)
    }
}

impl PartialEq<&str> for ActionResult {
    fn eq(&self, other: &&str) -> bool {
        ActionResult::parse(other) == *self
    }
}

/// The response of one invocation (docs/contract.md, "Response"); also what `nightshift invoke` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub outcome: Outcome,
    pub scenario: Option<String>,
    pub run: Option<String>,
    pub step: Option<Step>,
    pub actions: Vec<Action>,
    /// One line, at most about 80 characters: what happened and why, for logs and tables.
    pub reason: String,
    /// The full explanation behind `reason` (every call, wait, drift and rule), when it says more.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The dedup key this event was handled under (absent when it was rejected before one was known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Response {
    /// A response for an event refused before anything was called.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Response {
            outcome: Outcome::Rejected,
            scenario: None,
            run: None,
            step: None,
            actions: Vec::new(),
            reason: reason.into(),
            detail: String::new(),
            key: None,
        }
    }

    /// The full explanation: `detail` when there is one, else `reason`.
    pub fn explanation(&self) -> &str {
        if self.detail.is_empty() {
            &self.reason
        } else {
            &self.detail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_round_trips_through_its_wire_name() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>(), Ok(step));
            let json = serde_json::to_string(&step).unwrap();
            assert_eq!(json, format!("\"{}\"", step.as_str()));
        }
        let err = "scale_up".parse::<Step>().unwrap_err();
        assert!(err.to_string().contains("\"scale-up\""), "{err}");
    }

    #[test]
    fn action_results_read_back_as_the_variant_that_wrote_them() {
        let results = [
            ActionResult::Done,
            ActionResult::AlreadyDone {
                why: "already exists".into(),
            },
            ActionResult::DryRun,
            ActionResult::Refused {
                why: "would delete the writer".into(),
                rule: "never-delete-writer".into(),
            },
            ActionResult::Failed {
                code: Some("InsufficientDBInstanceCapacity".into()),
                message: "InsufficientDBInstanceCapacity: no db.r6g.large in ap-northeast-1a"
                    .into(),
            },
            ActionResult::Failed {
                code: None,
                message: "dispatch failure: connection refused".into(),
            },
        ];
        for result in results {
            let json = serde_json::to_string(&result).unwrap();
            let back: ActionResult = serde_json::from_str(&json).unwrap();
            assert_eq!(back, result, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&ActionResult::Done).unwrap(),
            "\"ok\""
        );
        let already = ActionResult::parse("ok: already exists");
        assert!(already.is_done() && !already.is_failure());
        assert_eq!(already.status(), "already-done");
        assert!(ActionResult::parse("error: boom").is_failure());
        assert!(!ActionResult::DryRun.is_done() && !ActionResult::DryRun.is_failure());
    }

    #[test]
    fn outcome_serializes_as_product_md_says() {
        let names: Vec<String> = [
            Outcome::Acted,
            Outcome::Duplicate,
            Outcome::InProgress,
            Outcome::Deferred,
            Outcome::Skipped,
            Outcome::Rejected,
        ]
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"acted\"",
                "\"duplicate\"",
                "\"in-progress\"",
                "\"deferred\"",
                "\"skipped\"",
                "\"rejected\""
            ]
        );
    }
}
