//! The hold (`nightshift hold` / `release`) on the scenario's state item: five attributes next to
//! the pause, read with the scaling lease's returned item at no extra call.

use super::*;
use crate::hold::{Hold, HoldPlaced};

/// The attributes `release` removes.
const HOLD_ATTRIBUTES: &str = "held_until, held_run, held_by, held_at, hold_reason";

/// The hold attributes of a scenario's state item: `held_until` (epoch ms), `held_run`,
/// `held_by`, `held_at` (epoch ms), `hold_reason`. None when `held_until` is absent.
pub(super) fn decode_hold(item: &Item) -> Result<Option<Hold>, StoreError> {
    if !item.contains_key("held_until") {
        return Ok(None);
    }
    let corrupt = |e: StoreError| {
        StoreError::Corrupt(format!(
            "the hold on {} / {} does not decode ({e}); `nightshift release` clears it",
            opt_s(item, "pk").unwrap_or("?"),
            opt_s(item, "sk").unwrap_or("?")
        ))
    };
    let until = get_n(item, "held_until")
        .and_then(|ms| ts_from_ms(ms, "held_until"))
        .map_err(corrupt)?;
    let run = opt_s(item, "held_run")
        .ok_or_else(|| corrupt(StoreError::Corrupt("no \"held_run\"".into())))?
        .to_string();
    let at = match item.get("held_at") {
        Some(_) => Some(
            get_n(item, "held_at")
                .and_then(|ms| ts_from_ms(ms, "held_at"))
                .map_err(corrupt)?,
        ),
        None => None,
    };
    Ok(Some(Hold {
        until,
        run,
        by: opt_s(item, "held_by").map(str::to_string),
        at,
        reason: opt_s(item, "hold_reason").map(str::to_string),
    }))
}

impl DynamoStore {
    /// Store the hold, on condition that `hold.run` is still the scenario's open run: one
    /// conditional UpdateItem (a hold never lands on a night that is already closed).
    pub(super) async fn put_hold(
        &self,
        scenario: &str,
        hold: &Hold,
    ) -> Result<HoldPlaced, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let mut set = vec!["held_until = :until", "held_run = :run"];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("open_run = :run")
            .expression_attribute_values(":until", n(hold.until.as_millisecond()))
            .expression_attribute_values(":run", s(&hold.run));
        match &hold.by {
            Some(by) => {
                set.push("held_by = :by");
                req = req.expression_attribute_values(":by", s(by));
            }
            None => remove.push("held_by"),
        }
        match hold.at {
            Some(at) => {
                set.push("held_at = :at");
                req = req.expression_attribute_values(":at", n(at.as_millisecond()));
            }
            None => remove.push("held_at"),
        }
        match &hold.reason {
            Some(reason) => {
                set.push("hold_reason = :reason");
                req = req.expression_attribute_values(":reason", s(reason));
            }
            None => remove.push("hold_reason"),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = req
            .update_expression(update)
            .return_values(ReturnValue::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            // A replaced hold that does not decode is simply gone now.
            Ok(out) => Ok(HoldPlaced::Held {
                replaced: out
                    .attributes
                    .as_ref()
                    .and_then(|old| decode_hold(old).ok().flatten()),
            }),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(HoldPlaced::NoOpenRun)
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// Remove the hold: one UpdateItem REMOVE, never creating a state item. Returns the hold it
    /// removed.
    pub(super) async fn remove_hold(&self, scenario: &str) -> Result<Option<Hold>, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("REMOVE {HOLD_ATTRIBUTES}"))
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
                .and_then(|old| decode_hold(old).ok().flatten())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }
}
