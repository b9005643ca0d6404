//! Domain vocabulary shared by every module: steps, outcomes, actions and the response.
//!
//! These types are the external contract of product.md ("Response"): their serde shape is what
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

/// What happened to one event (product.md, "Response").
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
    /// `ok`, `dry-run`, or the error the call returned.
    pub result: String,
}

/// The response of one invocation (product.md, "Response"); also what `nightshift invoke` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub outcome: Outcome,
    pub scenario: Option<String>,
    pub run: Option<String>,
    pub step: Option<Step>,
    pub actions: Vec<Action>,
    pub reason: String,
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
            key: None,
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
