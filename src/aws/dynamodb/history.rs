//! The run history on the table: `HistoryStore` for [`DynamoStore`], and the opaque page cursor.

use super::*;
use crate::overrides::{Hold, HoldPlaced, Pause};

/// A pagination cursor: DynamoDB's LastEvaluatedKey (string attributes only in this table) and,
/// for the time index, which month bucket it belongs to. Hex-encoded JSON: opaque and shell-safe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct Cursor {
    pub(super) bucket: Option<String>,
    #[serde(with = "string_item")]
    pub(super) key: Item,
}

mod string_item {
    use super::Item;
    use aws_sdk_dynamodb::types::AttributeValue;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(item: &Item, ser: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, &str> = item
            .iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
            .collect();
        map.serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Item, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(de)?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

pub(super) fn encode_cursor(c: &Cursor) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

pub(super) fn decode_cursor(text: &str) -> Result<Cursor, StoreError> {
    let bytes = hex::decode(text).map_err(|_| {
        StoreError::Permanent(
            "invalid --cursor: pass the value printed by the previous page".into(),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|_| {
        StoreError::Permanent(
            "invalid --cursor: pass the value printed by the previous page".into(),
        )
    })
}

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn acquire_scaling_lease(
        &self,
        scenario: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<ScalingLease, StoreError> {
        self.take_scaling_lease(scenario, owner, until, now).await
    }

    async fn release_scaling_lease(&self, scenario: &str, owner: &str) -> Result<(), StoreError> {
        self.give_scaling_lease_back(scenario, owner).await
    }

    async fn record_event(&self, event: &EventRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(super::finish::event_item(event)?))
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| self.map_err("PutItem", e))?;
        Ok(())
    }

    async fn open_run(&self, run: &RunRecord) -> Result<OpenRun, StoreError> {
        let (state_pk, state_sk) = keys::scenario_state(&run.scenario);
        let put_run = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::encode_run(run)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Permanent(e.to_string()))?;
        let point = Update::builder()
            .table_name(&self.table)
            .key("pk", s(state_pk.clone()))
            .key("sk", s(state_sk.clone()))
            .update_expression("SET open_run = :run, last_run = :run")
            .condition_expression("attribute_not_exists(open_run)")
            .expression_attribute_values(":run", s(&run.run))
            .build()
            .map_err(|e| StoreError::Permanent(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_run).build())
            .transact_items(TransactWriteItem::builder().update(point).build())
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(_) => Ok(OpenRun::Opened),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                // Either the scenario has an open run, or this run id is taken: read which.
                let state = self.get_item(state_pk, state_sk).await?;
                match state.as_ref().and_then(|i| opt_s(i, "open_run")) {
                    Some(open) => Ok(OpenRun::AlreadyOpen(open.to_string())),
                    None => Ok(OpenRun::RunIdTaken),
                }
            }
            Err(e) => Err(self.map_err("TransactWriteItems", e)),
        }
    }

    async fn close_run(
        &self,
        scenario: &str,
        run: &str,
        at: Timestamp,
        summary: &str,
    ) -> Result<(), StoreError> {
        let (state_pk, state_sk) = keys::scenario_state(scenario);
        let close = super::finish::close_run_update(&self.table, scenario, run, at, summary)?;
        let unpoint = Update::builder()
            .table_name(&self.table)
            .key("pk", s(state_pk))
            .key("sk", s(state_sk))
            .update_expression("REMOVE open_run")
            .condition_expression("open_run = :run")
            .expression_attribute_values(":run", s(run))
            .build()
            .map_err(|e| StoreError::Permanent(e.to_string()))?;
        match self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(close).build())
            .transact_items(TransactWriteItem::builder().update(unpoint).build())
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                // The SDK re-sends a transaction whose answer was lost, and the re-send is
                // cancelled by its own first write: a run closed at this very instant with this
                // summary was closed by this call.
                let item = self
                    .get_item(keys::scenario_runs_pk(scenario), keys::run_sk(run))
                    .await?;
                let at = keys::rfc3339(at);
                let closed_by_this_call = item.as_ref().is_some_and(|item| {
                    opt_s(item, "run_status") == Some(RunStatus::Closed.as_str())
                        && opt_s(item, "closed_at") == Some(at.as_str())
                        && opt_s(item, "summary") == Some(summary)
                });
                if closed_by_this_call {
                    return Ok(());
                }
                Err(StoreError::Permanent(format!(
                    "run {scenario}/{run} is not the open run of {scenario}: it was already closed or never opened"
                )))
            }
            Err(e) => Err(self.map_err("TransactWriteItems", e)),
        }
    }

    async fn update_run(
        &self,
        scenario: &str,
        run: &str,
        summary: &str,
        baseline: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let mut update = "SET summary = :summary".to_string();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::scenario_runs_pk(scenario)))
            .key("sk", s(keys::run_sk(run)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":summary", s(summary));
        if let Some(baseline) = baseline {
            update.push_str(", baseline = :baseline");
            req = req.expression_attribute_values(":baseline", s(baseline.to_string()));
        }
        req.update_expression(update)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| self.map_err("UpdateItem", e))?;
        Ok(())
    }

    async fn get_run(&self, scenario: &str, run: &str) -> Result<Option<RunRecord>, StoreError> {
        self.get_item(keys::scenario_runs_pk(scenario), keys::run_sk(run))
            .await?
            .as_ref()
            .map(Self::decode_run)
            .transpose()
    }

    async fn latest_open_run(&self, scenario: &str) -> Result<Option<RunRecord>, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let Some(state) = self.get_item(pk, sk).await? else {
            return Ok(None);
        };
        match opt_s(&state, "open_run") {
            Some(run) => self.get_run(scenario, run).await,
            None => Ok(None),
        }
    }

    async fn scenario_runs(
        &self,
        scenario: &str,
        since_run: Option<&str>,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RunRecord>, StoreError> {
        // Run sort keys are `RUN#<id>`; "RUN$" sorts right after every one of them.
        let q = self
            .client
            .query()
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::scenario_runs_pk(scenario)))
            .expression_attribute_values(":lo", s(keys::run_sk(since_run.unwrap_or(""))))
            .expression_attribute_values(":hi", s("RUN$"))
            .scan_index_forward(false);
        self.query_decoded(q, limit, cursor, Self::decode_run).await
    }

    async fn runs_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<RunRecord>, StoreError> {
        let buckets = keys::months_between(from, to);
        let (mut bucket_index, mut start) =
            match cursor.as_deref().map(decode_cursor).transpose()? {
                Some(c) => {
                    let idx = c
                        .bucket
                        .as_ref()
                        .and_then(|b| buckets.iter().position(|x| x == b))
                        .ok_or_else(|| {
                            StoreError::Permanent("invalid --cursor for this time range".into())
                        })?;
                    (idx, Some(c.key).filter(|k| !k.is_empty()))
                }
                None => (0, None),
            };
        let mut page = Page {
            items: Vec::new(),
            next: None,
            items_read: 0,
        };
        // Walk the month buckets newest first until the page is full.
        while bucket_index < buckets.len() {
            let want = limit.saturating_sub(page.items.len() as u32);
            if want == 0 {
                break;
            }
            let q = self
                .client
                .query()
                .index_name(keys::TIME_INDEX)
                .key_condition_expression("tpk = :b AND tsk BETWEEN :lo AND :hi")
                .expression_attribute_values(":b", s(&buckets[bucket_index]))
                .expression_attribute_values(":lo", s(keys::rfc3339(from)))
                // '~' sorts after the `#scenario#run` suffix of any item opened at `to`.
                .expression_attribute_values(":hi", s(format!("{}~", keys::rfc3339(to))))
                .scan_index_forward(false);
            let (items, last, read) = self.query_page(q, want, start.take()).await?;
            page.items_read += read;
            for item in &items {
                page.items.push(Self::decode_run(item)?);
            }
            match last {
                Some(key) if page.items.len() as u32 >= limit => {
                    page.next = Some(encode_cursor(&Cursor {
                        bucket: Some(buckets[bucket_index].clone()),
                        key,
                    }));
                    return Ok(page);
                }
                Some(key) => start = Some(key),
                None => bucket_index += 1,
            }
        }
        if page.items.len() as u32 >= limit && bucket_index < buckets.len() {
            // Full page ending exactly at a bucket boundary: resume at the next bucket.
            page.next = Some(encode_cursor(&Cursor {
                bucket: Some(buckets[bucket_index].clone()),
                key: HashMap::new(),
            }));
        }
        Ok(page)
    }

    async fn run_events(
        &self,
        scenario: &str,
        run: &str,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<EventRecord>, StoreError> {
        self.query_events(keys::run_events_pk(scenario, run), limit, cursor)
            .await
    }

    async fn unattached_events(
        &self,
        day: Timestamp,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<EventRecord>, StoreError> {
        self.query_events(keys::unattached_events_pk(day), limit, cursor)
            .await
    }

    async fn scenario_state(&self, scenario: &str) -> Result<ScenarioState, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        match self.get_item(pk, sk).await? {
            Some(item) => decode_state(&item),
            None => Ok(ScenarioState::default()),
        }
    }

    async fn pause(&self, scenario: &str, pause: &Pause) -> Result<Option<Pause>, StoreError> {
        match self.put_override(scenario, pause).await? {
            Ok(replaced) => Ok(replaced),
            // A pause's write carries no condition: it always lands.
            Err(overrides::ConditionFailed) => Ok(None),
        }
    }

    async fn resume(&self, scenario: &str) -> Result<Option<Pause>, StoreError> {
        self.remove_override(scenario).await
    }

    async fn hold(&self, scenario: &str, hold: &Hold) -> Result<HoldPlaced, StoreError> {
        self.put_hold(scenario, hold).await
    }

    async fn release_hold(&self, scenario: &str) -> Result<Option<Hold>, StoreError> {
        self.remove_override(scenario).await
    }
}
