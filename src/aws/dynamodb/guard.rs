//! The guard's dedup records on the table: `GuardStore` for [`DynamoStore`].

use super::*;

#[async_trait]
impl GuardStore for DynamoStore {
    async fn put_claim(&self, claim: &NewClaim) -> Result<PutResult, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item(claim)))
            .condition_expression(CLAIM_CONDITION)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(claim_values(claim)))
            // On success: the replaced item, if any, tells us this was a takeover.
            .return_values(ReturnValue::AllOld)
            // On failure: the blocking item, so no second read is needed (when supported).
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(out) => Ok(PutResult::Written {
                takeover: out.attributes.is_some_and(|a| !a.is_empty()),
            }),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    PutItemError::ConditionalCheckFailedException(failed) => failed
                        .item()
                        .filter(|item| !item.is_empty())
                        .map(Self::decode_dedup)
                        .transpose()?
                        .map(Box::new),
                    _ => None,
                };
                Ok(PutResult::ConditionFailed(old))
            }
            Err(e) => Err(self.map_err("PutItem", e)),
        }
    }

    async fn get(&self, id: &DedupId) -> Result<Option<DedupRecord>, StoreError> {
        let (pk, sk) = keys::dedup(&id.key, id.step);
        self.get_item(pk, sk)
            .await?
            .as_ref()
            .map(Self::decode_dedup)
            .transpose()
    }

    async fn complete(
        &self,
        lease: &Lease,
        result: &Response,
        now: Timestamp,
    ) -> Result<(), FinishError> {
        let json = serde_json::to_string(result).map_err(|e| {
            FinishError::Store(StoreError::Permanent(format!("encoding the result: {e}")))
        })?;
        self.finish(
            lease,
            "UpdateItem",
            Status::Completed,
            vec![("result", s(json))],
            now,
        )
        .await
    }

    async fn fail(&self, lease: &Lease, error: &str, now: Timestamp) -> Result<(), FinishError> {
        self.finish(
            lease,
            "UpdateItem",
            Status::Failed,
            vec![("error", s(error))],
            now,
        )
        .await
    }
}
