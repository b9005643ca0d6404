//! The ops overrides (`nightshift pause` / `resume`, `hold` / `release`) on the scenario's state
//! item: one codec for both kinds. Each kind keeps its own attribute names (existing tables go on
//! working): a pause `paused_until`, `paused_by`, `paused_at`, `pause_reason`; a hold
//! `held_until`, `held_run`, `held_by`, `held_at`, `hold_reason`. Both are read with the scaling
//! lease's returned item at no extra call.

use super::*;
use crate::overrides::{Defers, Held, HoldPlaced, Override, Paused};

/// Where one kind of override is on the state item.
pub(super) struct Attributes {
    /// `until`, `by`, `at` (epoch ms) and `reason`.
    until: &'static str,
    by: &'static str,
    at: &'static str,
    reason: &'static str,
    /// Every attribute of the kind, as `REMOVE` lists them.
    all: &'static str,
    /// The command that clears one that does not decode.
    clear: &'static str,
    /// What is stored: `pause`, `hold`.
    noun: &'static str,
    /// The condition its write carries, if any (over the values [`Stored::encode`] sets).
    condition: Option<&'static str>,
}

/// How one kind of override is stored.
pub(super) trait Stored: Defers + Sized {
    const NAMES: Attributes;

    /// What it defers, from its own attributes.
    fn decode(item: &Item) -> Result<Self, StoreError>;
    /// Its own attributes, as `SET` clauses and their values.
    fn encode(&self) -> Vec<(&'static str, &'static str, AttributeValue)>;
}

impl Stored for Paused {
    const NAMES: Attributes = Attributes {
        until: "paused_until",
        by: "paused_by",
        at: "paused_at",
        reason: "pause_reason",
        all: "paused_until, paused_by, paused_at, pause_reason",
        clear: "resume",
        noun: "pause",
        condition: None,
    };

    fn decode(_: &Item) -> Result<Self, StoreError> {
        Ok(Paused)
    }

    fn encode(&self) -> Vec<(&'static str, &'static str, AttributeValue)> {
        Vec::new()
    }
}

impl Stored for Held {
    const NAMES: Attributes = Attributes {
        until: "held_until",
        by: "held_by",
        at: "held_at",
        reason: "hold_reason",
        all: "held_until, held_run, held_by, held_at, hold_reason",
        clear: "release",
        noun: "hold",
        // A hold never lands on a night that is already closed.
        condition: Some("open_run = :run"),
    };

    fn decode(item: &Item) -> Result<Self, StoreError> {
        let run =
            opt_s(item, "held_run").ok_or_else(|| StoreError::Corrupt("no \"held_run\"".into()))?;
        Ok(Held {
            run: run.to_string(),
        })
    }

    fn encode(&self) -> Vec<(&'static str, &'static str, AttributeValue)> {
        vec![("held_run = :run", ":run", s(&self.run))]
    }
}

/// The override of kind `D` on a scenario's state item; None when its `until` is absent.
pub(super) fn decode<D: Stored>(item: &Item) -> Result<Option<Override<D>>, StoreError> {
    if !item.contains_key(D::NAMES.until) {
        return Ok(None);
    }
    let corrupt = |e: StoreError| {
        StoreError::Corrupt(format!(
            "the {} on {} / {} does not decode ({e}); `nightshift {}` clears it",
            D::NAMES.noun,
            opt_s(item, "pk").unwrap_or("?"),
            opt_s(item, "sk").unwrap_or("?"),
            D::NAMES.clear
        ))
    };
    let until = get_n(item, D::NAMES.until)
        .and_then(|ms| ts_from_ms(ms, D::NAMES.until))
        .map_err(corrupt)?;
    let defers = D::decode(item).map_err(corrupt)?;
    let at = match item.get(D::NAMES.at) {
        Some(_) => Some(
            get_n(item, D::NAMES.at)
                .and_then(|ms| ts_from_ms(ms, D::NAMES.at))
                .map_err(corrupt)?,
        ),
        None => None,
    };
    Ok(Some(Override {
        until,
        defers,
        by: opt_s(item, D::NAMES.by).map(str::to_string),
        at,
        reason: opt_s(item, D::NAMES.reason).map(str::to_string),
    }))
}

/// A conditional override write whose condition failed.
pub(super) struct ConditionFailed;

impl DynamoStore {
    /// Store the override: one UpdateItem of the state item (creating it if needed), on the
    /// kind's condition. Returns the override it replaced (one that does not decode is simply
    /// gone now).
    pub(super) async fn put_override<D: Stored>(
        &self,
        scenario: &str,
        placed: &Override<D>,
    ) -> Result<Result<Option<Override<D>>, ConditionFailed>, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let mut set = vec![format!("{} = :until", D::NAMES.until)];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .expression_attribute_values(":until", n(placed.until.as_millisecond()));
        for (clause, name, value) in placed.defers.encode() {
            set.push(clause.to_string());
            req = req.expression_attribute_values(name, value);
        }
        match &placed.by {
            Some(by) => {
                set.push(format!("{} = :by", D::NAMES.by));
                req = req.expression_attribute_values(":by", s(by));
            }
            None => remove.push(D::NAMES.by),
        }
        match placed.at {
            Some(at) => {
                set.push(format!("{} = :at", D::NAMES.at));
                req = req.expression_attribute_values(":at", n(at.as_millisecond()));
            }
            None => remove.push(D::NAMES.at),
        }
        match &placed.reason {
            Some(reason) => {
                set.push(format!("{} = :reason", D::NAMES.reason));
                req = req.expression_attribute_values(":reason", s(reason));
            }
            None => remove.push(D::NAMES.reason),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        if let Some(condition) = D::NAMES.condition {
            req = req.condition_expression(condition);
        }
        let result = req
            .update_expression(update)
            .return_values(ReturnValue::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Ok(out
                .attributes
                .as_ref()
                .and_then(|old| decode(old).ok().flatten()))),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(Err(ConditionFailed))
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// Remove the override: one UpdateItem REMOVE, never creating a state item. Returns the
    /// override it removed.
    pub(super) async fn remove_override<D: Stored>(
        &self,
        scenario: &str,
    ) -> Result<Option<Override<D>>, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("REMOVE {}", D::NAMES.all))
            // Never create a state item for a scenario that has none.
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes
                .as_ref()
                .and_then(|old| decode(old).ok().flatten())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// `nightshift hold`: on condition that the held run is still the scenario's open run.
    pub(super) async fn put_hold(
        &self,
        scenario: &str,
        hold: &Override<Held>,
    ) -> Result<HoldPlaced, StoreError> {
        Ok(match self.put_override(scenario, hold).await? {
            Ok(replaced) => HoldPlaced::Held { replaced },
            Err(ConditionFailed) => HoldPlaced::NoOpenRun,
        })
    }
}
