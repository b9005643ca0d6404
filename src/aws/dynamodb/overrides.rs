//! The ops overrides (`nightshift pause` / `resume`, `hold` / `release`) on the scenario's state
//! item: one codec for both kinds. Each kind keeps its own attribute names (existing tables go on
//! working): a pause `paused_until`, `paused_by`, `paused_at`, `pause_reason`; a hold
//! `held_until`, `held_run`, `held_by`, `held_at`, `hold_reason`. Both are read with the scaling
//! lease's returned item at no extra call.

use super::*;
use crate::overrides::{Defers, Held, HoldPlaced, Override, Paused};

/// How one kind of override is stored.
pub(super) trait Stored: Defers + Sized {
    /// The attributes of `until`, `by`, `at` (epoch ms) and `reason`.
    const UNTIL: &'static str;
    const BY: &'static str;
    const AT: &'static str;
    const REASON: &'static str;
    /// Every attribute of the kind, as `REMOVE` lists them.
    const ALL: &'static str;
    /// The command that clears one that does not decode.
    const CLEAR: &'static str;
    /// What is stored: `pause`, `hold`.
    const NOUN: &'static str;
    /// The condition its write carries, if any (over the values [`Stored::encode`] sets).
    const CONDITION: Option<&'static str>;

    /// What it defers, from its own attributes.
    fn decode(item: &Item) -> Result<Self, StoreError>;
    /// Its own attributes, as `SET` clauses and their values.
    fn encode(&self) -> Vec<(&'static str, &'static str, AttributeValue)>;
}

impl Stored for Paused {
    const UNTIL: &'static str = "paused_until";
    const BY: &'static str = "paused_by";
    const AT: &'static str = "paused_at";
    const REASON: &'static str = "pause_reason";
    const ALL: &'static str = "paused_until, paused_by, paused_at, pause_reason";
    const CLEAR: &'static str = "resume";
    const NOUN: &'static str = "pause";
    const CONDITION: Option<&'static str> = None;

    fn decode(_: &Item) -> Result<Self, StoreError> {
        Ok(Paused)
    }

    fn encode(&self) -> Vec<(&'static str, &'static str, AttributeValue)> {
        Vec::new()
    }
}

impl Stored for Held {
    const UNTIL: &'static str = "held_until";
    const BY: &'static str = "held_by";
    const AT: &'static str = "held_at";
    const REASON: &'static str = "hold_reason";
    const ALL: &'static str = "held_until, held_run, held_by, held_at, hold_reason";
    const CLEAR: &'static str = "release";
    const NOUN: &'static str = "hold";
    // A hold never lands on a night that is already closed.
    const CONDITION: Option<&'static str> = Some("open_run = :run");

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
    if !item.contains_key(D::UNTIL) {
        return Ok(None);
    }
    let corrupt = |e: StoreError| {
        StoreError::Corrupt(format!(
            "the {} on {} / {} does not decode ({e}); `nightshift {}` clears it",
            D::NOUN,
            opt_s(item, "pk").unwrap_or("?"),
            opt_s(item, "sk").unwrap_or("?"),
            D::CLEAR
        ))
    };
    let until = get_n(item, D::UNTIL)
        .and_then(|ms| ts_from_ms(ms, D::UNTIL))
        .map_err(corrupt)?;
    let defers = D::decode(item).map_err(corrupt)?;
    let at = match item.get(D::AT) {
        Some(_) => Some(
            get_n(item, D::AT)
                .and_then(|ms| ts_from_ms(ms, D::AT))
                .map_err(corrupt)?,
        ),
        None => None,
    };
    Ok(Some(Override {
        until,
        defers,
        by: opt_s(item, D::BY).map(str::to_string),
        at,
        reason: opt_s(item, D::REASON).map(str::to_string),
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
        let mut set = vec![format!("{} = :until", D::UNTIL)];
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
                set.push(format!("{} = :by", D::BY));
                req = req.expression_attribute_values(":by", s(by));
            }
            None => remove.push(D::BY),
        }
        match placed.at {
            Some(at) => {
                set.push(format!("{} = :at", D::AT));
                req = req.expression_attribute_values(":at", n(at.as_millisecond()));
            }
            None => remove.push(D::AT),
        }
        match &placed.reason {
            Some(reason) => {
                set.push(format!("{} = :reason", D::REASON));
                req = req.expression_attribute_values(":reason", s(reason));
            }
            None => remove.push(D::REASON),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        if let Some(condition) = D::CONDITION {
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
            .update_expression(format!("REMOVE {}", D::ALL))
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
