//! DynamoDB adapter: the idempotency guard's storage primitives and the run history.
//!
//! One table, string keys `pk`/`sk`, one GSI (`by-time`: `tpk`/`tsk`); the key builders are in
//! `crate::history::keys` and the design is documented in ARCHITECTURE.md. Every read here is a
//! GetItem or a Query; nothing in nightshift issues a Scan.

use super::{classify, describe, ErrorClass, Timeouts};
use crate::domain::{Response, Step};
use crate::history::{
    keys, EventRecord, HistoryStore, OpenRun, Page, RunRecord, RunStatus, ScalingLease,
    ScenarioState,
};
use crate::idempotency::{
    finish_already_applied, DedupId, DedupRecord, FinishError, GuardStore, Lease, NewClaim,
    OwnerToken, PutResult, Status, StoreError,
};
use crate::overrides::Pause;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use jiff::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB-backed store. Cheap to clone (the client is shared); [`DynamoStore::with_budget`]
/// gives one invocation a copy whose calls end before that invocation's deadline.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    timeouts: Timeouts,
    remaining: Option<Duration>,
}

/// The claim condition: no record, a record past retention (TTL deletes lazily), or, for the same
/// payload, a failed attempt or an expired lease. The rule is [`crate::idempotency::claim_allowed`]; the
/// unit tests below pin the two to one truth table.
const CLAIM_CONDITION: &str = "attribute_not_exists(pk) OR expires_at < :now_s OR \
     (payload_hash = :hash AND (#status = :failed OR (#status = :in_progress AND lease_until_ms < :now_ms)))";

/// Complete and fail: [`crate::idempotency::finish_allowed`].
const OWNER_CONDITION: &str = "#owner = :owner AND #status = :in_progress";

/// Take the scaling lease: [`crate::idempotency::scaling_lease_acquirable`].
const ACQUIRE_LEASE_CONDITION: &str =
    "attribute_not_exists(scaling_until_ms) OR scaling_until_ms < :now OR scaling_owner = :owner";

/// Release the scaling lease: [`crate::idempotency::scaling_lease_releasable`].
const RELEASE_LEASE_CONDITION: &str = "scaling_owner = :owner";

/// The item a claim writes.
fn claim_item(claim: &NewClaim) -> Item {
    let (pk, sk) = keys::dedup(&claim.id.key, claim.id.step);
    HashMap::from([
        ("pk".to_string(), s(pk)),
        ("sk".to_string(), s(sk)),
        ("kind".to_string(), s("dedup")),
        ("dedup_key".to_string(), s(&claim.id.key)),
        ("step".to_string(), s(claim.id.step.as_str())),
        ("status".to_string(), s(Status::InProgress.as_str())),
        ("owner".to_string(), s(&claim.owner.0)),
        ("payload_hash".to_string(), s(&claim.payload_hash)),
        (
            "lease_until_ms".to_string(),
            n(claim.lease_until.as_millisecond()),
        ),
        ("expires_at".to_string(), n(claim.expires_at.as_second())),
        ("claimed_at".to_string(), s(keys::rfc3339(claim.now))),
    ])
}

/// The values of [`CLAIM_CONDITION`] for a claim.
fn claim_values(claim: &NewClaim) -> Item {
    HashMap::from([
        (":now_s".to_string(), n(claim.now.as_second())),
        (":now_ms".to_string(), n(claim.now.as_millisecond())),
        (":hash".to_string(), s(&claim.payload_hash)),
        (":failed".to_string(), s(Status::Failed.as_str())),
        (":in_progress".to_string(), s(Status::InProgress.as_str())),
    ])
}

/// The values of [`OWNER_CONDITION`] for an owner.
fn owner_values(owner: &OwnerToken) -> Item {
    HashMap::from([
        (":owner".to_string(), s(&owner.0)),
        (":in_progress".to_string(), s(Status::InProgress.as_str())),
    ])
}

/// The values of [`ACQUIRE_LEASE_CONDITION`].
fn acquire_lease_values(owner: &str, until: Timestamp, now: Timestamp) -> Item {
    HashMap::from([
        (":owner".to_string(), s(owner)),
        (":until".to_string(), n(until.as_millisecond())),
        (":now".to_string(), n(now.as_millisecond())),
    ])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "item {} / {} has no string attribute \"{name}\"",
            opt_s(item, "pk").unwrap_or("?"),
            opt_s(item, "sk").unwrap_or("?")
        ))),
    }
}

fn opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| {
            StoreError::Corrupt(format!("attribute \"{name}\" is not an integer: {v}"))
        }),
        _ => Err(StoreError::Corrupt(format!(
            "item {} has no number attribute \"{name}\"",
            opt_s(item, "pk").unwrap_or("?")
        ))),
    }
}

fn parse_ts(v: &str, name: &str) -> Result<Timestamp, StoreError> {
    v.parse().map_err(|e| {
        StoreError::Corrupt(format!(
            "attribute \"{name}\" is not a timestamp ({v}): {e}"
        ))
    })
}

fn opt_ts(item: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    opt_s(item, name).map(|v| parse_ts(v, name)).transpose()
}

fn ts_from_ms(ms: i64, name: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Corrupt(format!("attribute \"{name}\" out of range: {e}")))
}

/// The pause attributes of a scenario's state item: `paused_until` (epoch ms), `paused_by`,
/// `paused_at` (epoch ms), `pause_reason`. None when `paused_until` is absent.
fn decode_pause(item: &Item) -> Result<Option<Pause>, StoreError> {
    if !item.contains_key("paused_until") {
        return Ok(None);
    }
    let corrupt = |e: StoreError| {
        StoreError::Corrupt(format!(
            "the pause on {} / {} does not decode ({e}); `nightshift resume` clears it",
            opt_s(item, "pk").unwrap_or("?"),
            opt_s(item, "sk").unwrap_or("?")
        ))
    };
    let until = get_n(item, "paused_until")
        .and_then(|ms| ts_from_ms(ms, "paused_until"))
        .map_err(corrupt)?;
    let at = match item.get("paused_at") {
        Some(_) => Some(
            get_n(item, "paused_at")
                .and_then(|ms| ts_from_ms(ms, "paused_at"))
                .map_err(corrupt)?,
        ),
        None => None,
    };
    Ok(Some(Pause {
        until,
        by: opt_s(item, "paused_by").map(str::to_string),
        at,
        reason: opt_s(item, "pause_reason").map(str::to_string),
    }))
}

fn decode_state(item: &Item) -> Result<ScenarioState, StoreError> {
    Ok(ScenarioState {
        open_run: opt_s(item, "open_run").map(str::to_string),
        pause: decode_pause(item)?,
    })
}

/// The attributes `resume` removes.
const PAUSE_ATTRIBUTES: &str = "paused_until, paused_by, paused_at, pause_reason";

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, timeouts: Timeouts) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            timeouts,
            remaining: None,
        }
    }

    /// A copy whose calls all finish within `remaining` (minus the recording margin).
    pub fn with_budget(&self, remaining: Option<Duration>) -> Self {
        DynamoStore {
            remaining,
            ..self.clone()
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn overrides(&self) -> aws_sdk_dynamodb::config::Builder {
        aws_sdk_dynamodb::config::Builder::default()
            .timeout_config(self.timeouts.within(self.remaining))
    }

    fn map_err<E>(&self, op: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let text = format!("{op} on table \"{}\": {}", self.table, describe(&err));
        match classify(&err) {
            ErrorClass::Transient => StoreError::Transient(text),
            ErrorClass::NotFound => StoreError::MissingTable(self.table.clone()),
            ErrorClass::AccessDenied => StoreError::Permanent(format!(
                "{text}. Grant dynamodb:{op} on the table and its indexes (see `nightshift iam-policy`)"
            )),
            ErrorClass::Permanent => StoreError::Permanent(text),
        }
    }

    fn decode_dedup(item: &Item) -> Result<DedupRecord, StoreError> {
        let step_name = get_s(item, "step")?;
        let step: Step = step_name
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("dedup record: {e}")))?;
        let status_name = get_s(item, "status")?;
        let status = Status::parse(status_name).ok_or_else(|| {
            StoreError::Corrupt(format!("dedup record: unknown status {status_name}"))
        })?;
        let result = opt_s(item, "result")
            .map(|json| {
                serde_json::from_str::<Response>(json)
                    .map_err(|e| StoreError::Corrupt(format!("dedup record result: {e}")))
            })
            .transpose()?;
        Ok(DedupRecord {
            id: DedupId {
                key: get_s(item, "dedup_key")?.to_string(),
                step,
            },
            status,
            owner: OwnerToken(get_s(item, "owner")?.to_string()),
            payload_hash: get_s(item, "payload_hash")?.to_string(),
            lease_until: ts_from_ms(get_n(item, "lease_until_ms")?, "lease_until_ms")?,
            expires_at: Timestamp::from_second(get_n(item, "expires_at")?)
                .map_err(|e| StoreError::Corrupt(format!("expires_at out of range: {e}")))?,
            claimed_at: parse_ts(get_s(item, "claimed_at")?, "claimed_at")?,
            finished_at: opt_ts(item, "finished_at")?,
            result,
            error: opt_s(item, "error").map(str::to_string),
        })
    }

    fn dedup_key_attrs(id: &DedupId) -> Item {
        let (pk, sk) = keys::dedup(&id.key, id.step);
        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
    }

    async fn finish(
        &self,
        lease: &Lease,
        op: &str,
        status: Status,
        extra: Vec<(&str, AttributeValue)>,
        now: Timestamp,
    ) -> Result<(), FinishError> {
        let mut update = "SET #status = :new_status, finished_at = :finished_at".to_string();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::dedup_key_attrs(&lease.id)))
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .set_expression_attribute_values(Some(owner_values(&lease.owner)))
            .expression_attribute_values(":new_status", s(status.as_str()))
            .expression_attribute_values(":finished_at", s(keys::rfc3339(now)))
            // On failure: the record, to tell "already finished by us" from "taken over".
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in extra {
            // Through a name placeholder: `result` and `error` are DynamoDB reserved words.
            update.push_str(&format!(", #{name} = :{name}"));
            req = req
                .expression_attribute_names(format!("#{name}"), name)
                .expression_attribute_values(format!(":{name}"), value);
        }
        match req
            .update_expression(update)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                // Applied by this very request before its answer was lost (the SDK re-sent it)?
                let old = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => failed
                        .item()
                        .filter(|item| !item.is_empty())
                        .map(Self::decode_dedup)
                        .transpose()
                        .map_err(FinishError::Store)?,
                    _ => None,
                };
                if finish_already_applied(old.as_ref(), &lease.owner, status) {
                    return Ok(());
                }
                Err(FinishError::StaleOwner {
                    id: lease.id.clone(),
                })
            }
            Err(e) => Err(FinishError::Store(self.map_err(op, e))),
        }
    }

    fn encode_run(run: &RunRecord) -> Item {
        let mut item = HashMap::from([
            ("pk".to_string(), s(keys::scenario_runs_pk(&run.scenario))),
            ("sk".to_string(), s(keys::run_sk(&run.run))),
            ("kind".to_string(), s("run")),
            ("scenario".to_string(), s(&run.scenario)),
            ("run".to_string(), s(&run.run)),
            ("run_status".to_string(), s(run.status.as_str())),
            ("opened_at".to_string(), s(keys::rfc3339(run.opened_at))),
            ("opened_by".to_string(), s(&run.opened_by)),
            ("summary".to_string(), s(&run.summary)),
            ("tpk".to_string(), s(keys::time_bucket(run.opened_at))),
            (
                "tsk".to_string(),
                s(keys::time_sort(run.opened_at, &run.scenario, &run.run)),
            ),
        ]);
        if let Some(closed) = run.closed_at {
            item.insert("closed_at".into(), s(keys::rfc3339(closed)));
        }
        if let Some(baseline) = &run.baseline {
            item.insert("baseline".into(), s(baseline.to_string()));
        }
        item
    }

    fn decode_run(item: &Item) -> Result<RunRecord, StoreError> {
        let status_name = get_s(item, "run_status")?;
        Ok(RunRecord {
            scenario: get_s(item, "scenario")?.to_string(),
            run: get_s(item, "run")?.to_string(),
            status: RunStatus::parse(status_name)
                .ok_or_else(|| StoreError::Corrupt(format!("run: unknown status {status_name}")))?,
            opened_at: parse_ts(get_s(item, "opened_at")?, "opened_at")?,
            closed_at: opt_ts(item, "closed_at")?,
            opened_by: get_s(item, "opened_by")?.to_string(),
            baseline: opt_s(item, "baseline")
                .map(|json| {
                    serde_json::from_str(json)
                        .map_err(|e| StoreError::Corrupt(format!("run baseline: {e}")))
                })
                .transpose()?,
            summary: opt_s(item, "summary").unwrap_or_default().to_string(),
        })
    }

    fn decode_event(item: &Item) -> Result<EventRecord, StoreError> {
        serde_json::from_str(get_s(item, "data")?)
            .map_err(|e| StoreError::Corrupt(format!("event record: {e}")))
    }

    /// One page of a Query; returns the raw items, the cursor and the items DynamoDB read.
    async fn query_page(
        &self,
        builder: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: u32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>, u64), StoreError> {
        let out = builder
            .table_name(&self.table)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| self.map_err("Query", e))?;
        let read = out.scanned_count().max(out.count()) as u64;
        Ok((
            out.items.unwrap_or_default(),
            out.last_evaluated_key.filter(|k| !k.is_empty()),
            read,
        ))
    }

    async fn query_events(
        &self,
        pk: String,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Page<EventRecord>, StoreError> {
        let q = self
            .client
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :ev)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":ev", s("EV#"))
            .scan_index_forward(true);
        self.query_decoded(q, limit, cursor, Self::decode_event)
            .await
    }

    /// One page of a single-partition Query, decoded, with the cursor of the next page.
    async fn query_decoded<T>(
        &self,
        builder: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: u32,
        cursor: Option<String>,
        decode: fn(&Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let start = cursor
            .as_deref()
            .map(decode_cursor)
            .transpose()?
            .map(|c| c.key);
        let (items, last, read) = self.query_page(builder, limit, start).await?;
        Ok(Page {
            items: items.iter().map(decode).collect::<Result<_, _>>()?,
            next: last.map(|key| encode_cursor(&Cursor { bucket: None, key })),
            items_read: read,
        })
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        Ok(out.item)
    }
}

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

/// A pagination cursor: DynamoDB's LastEvaluatedKey (string attributes only in this table) and,
/// for the time index, which month bucket it belongs to. Hex-encoded JSON: opaque and shell-safe.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Cursor {
    bucket: Option<String>,
    #[serde(with = "string_item")]
    key: Item,
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

fn encode_cursor(c: &Cursor) -> String {
    hex::encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(text: &str) -> Result<Cursor, StoreError> {
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
        let pk = match (&event.scenario, &event.run) {
            (Some(scenario), Some(run)) => keys::run_events_pk(scenario, run),
            _ => keys::unattached_events_pk(event.received_at),
        };
        let data = serde_json::to_string(event)
            .map_err(|e| StoreError::Permanent(format!("encoding the event record: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item(
                "sk",
                s(keys::event_sk(event.received_at, event.step, &event.key)),
            )
            .item("kind", s("event"))
            .item("outcome", s(event.outcome.as_str()))
            .item("data", s(data))
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
        let close = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::scenario_runs_pk(scenario)))
            .key("sk", s(keys::run_sk(run)))
            .update_expression("SET run_status = :closed, closed_at = :at, summary = :summary")
            .condition_expression("run_status = :open")
            .expression_attribute_values(":closed", s(RunStatus::Closed.as_str()))
            .expression_attribute_values(":open", s(RunStatus::Open.as_str()))
            .expression_attribute_values(":at", s(keys::rfc3339(at)))
            .expression_attribute_values(":summary", s(summary))
            .build()
            .map_err(|e| StoreError::Permanent(e.to_string()))?;
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
        let (pk, sk) = keys::scenario_state(scenario);
        let mut set = vec!["paused_until = :until"];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .expression_attribute_values(":until", n(pause.until.as_millisecond()));
        match &pause.by {
            Some(by) => {
                set.push("paused_by = :by");
                req = req.expression_attribute_values(":by", s(by));
            }
            None => remove.push("paused_by"),
        }
        match pause.at {
            Some(at) => {
                set.push("paused_at = :at");
                req = req.expression_attribute_values(":at", n(at.as_millisecond()));
            }
            None => remove.push("paused_at"),
        }
        match &pause.reason {
            Some(reason) => {
                set.push("pause_reason = :reason");
                req = req.expression_attribute_values(":reason", s(reason));
            }
            None => remove.push("pause_reason"),
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let out = req
            .update_expression(update)
            .return_values(ReturnValue::AllOld)
            .customize()
            .config_override(self.overrides())
            .send()
            .await
            .map_err(|e| self.map_err("UpdateItem", e))?;
        // A replaced pause that does not decode is simply gone now.
        Ok(out
            .attributes
            .as_ref()
            .and_then(|old| decode_pause(old).ok().flatten()))
    }

    async fn resume(&self, scenario: &str) -> Result<Option<Pause>, StoreError> {
        let (pk, sk) = keys::scenario_state(scenario);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("REMOVE {PAUSE_ATTRIBUTES}"))
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
                .and_then(|old| decode_pause(old).ok().flatten())),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }
}

/// The scaling lease of a scenario (see [`ScalingLease`]): two attributes on the scenario's state
/// item, `scaling_owner` and `scaling_until_ms`, written by one conditional UpdateItem.
impl DynamoStore {
    /// Take the scenario's scaling lease for `owner` until `until`, unless another owner holds an
    /// unexpired one. Re-taking one's own lease extends it.
    async fn take_scaling_lease(
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
    async fn give_scaling_lease_back(&self, scenario: &str, owner: &str) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests;
