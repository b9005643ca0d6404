//! The scaling lease on the scenario's state item.

use super::*;

/// The scaling lease of a scenario (see [`ScalingLease`]): two attributes on the scenario's state
/// item, `scaling_owner` and `scaling_until_ms`, written by one conditional UpdateItem.
impl DynamoStore {
    /// Take the scenario's scaling lease for `owner` until `until`, unless another owner holds an
    /// unexpired one. Re-taking one's own lease extends it.
    pub(super) async fn take_scaling_lease(
        &self,
        scenario: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<ScalingLease, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s(sk.clone()))
            .update_expression("SET scaling_owner = :owner, scaling_until_ms = :until")
            .condition_expression(ACQUIRE_LEASE_CONDITION)
            .set_expression_attribute_values(Some(acquire_lease_values(owner, until, now)))
            // The state item comes back with the write: the open run and the pause, read at no
            // extra call (ReturnValues costs no capacity).
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes.as_ref().map(decode_state).transpose() {
                Ok(state) => Ok(ScalingLease::Acquired(state.unwrap_or_default())),
                Err(e) => {
                    // Hand the lease back rather than leave it blocking until it expires.
                    let _ = self.give_scaling_lease_back(scenario, owner).await;
                    Err(e)
                }
            },
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                        failed,
                    ) => failed.item().filter(|i| !i.is_empty()).cloned(),
                    _ => None,
                };
                let old = match old {
                    Some(item) => Some(item),
                    None => self.get_item(pk, sk).await?,
                };
                let holder = old.as_ref().and_then(|item| {
                    let owner = opt_s(item, "scaling_owner")?.to_string();
                    let until = get_n(item, "scaling_until_ms").ok()?;
                    Some((owner, until))
                });
                match holder {
                    Some((owner, until_ms)) => Ok(ScalingLease::Held {
                        owner,
                        until: ts_from_ms(until_ms, "scaling_until_ms")?,
                    }),
                    // Released between the write and the read: the caller tries again.
                    None => Ok(ScalingLease::Held {
                        owner: String::new(),
                        until: now,
                    }),
                }
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// Give the lease up, if `owner` still holds it.
    pub(super) async fn give_scaling_lease_back(
        &self,
        scenario: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("REMOVE scaling_owner, scaling_until_ms")
            .condition_expression(RELEASE_LEASE_CONDITION)
            .expression_attribute_values(":owner", s(owner))
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Expired and taken over: nothing of ours to release.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(())
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }
}
