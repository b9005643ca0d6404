//! DynamoDB adapter: the idempotency guard's storage primitives and the run history.
//!
//! One table, string keys `pk`/`sk`, one GSI (`by-time`: `tpk`/`tsk`); the key builders are in
//! `crate::history::keys` and the design is documented in ARCHITECTURE.md. Every read here is a
//! GetItem or a Query; nothing in nightshift issues a Scan.

use super::{classify, describe, ErrorClass, Timeouts};
use crate::domain::{Response, Step};
use crate::history::{
    keys, EventRecord, OpenRun, Page, RunRecord, RunStatus, ScalingLease, ScenarioState,
};
use crate::idempotency::{
    finish_already_applied, DedupId, DedupRecord, Lease, NewClaim, OwnerToken, PutResult, Status,
};
use crate::ports::{FinishError, GuardStore, HistoryStore, StoreError};
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

fn decode_state(item: &Item) -> Result<ScenarioState, StoreError> {
    Ok(ScenarioState {
        open_run: opt_s(item, "open_run").map(str::to_string),
        pause: overrides::decode(item)?,
        hold: overrides::decode(item)?.map(Box::new),
    })
}

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

mod finish;
pub use finish::{NoOpenRunAt, RunWrite, StepWrites, Written, NO_OPEN_RUN_CONDITION};
mod guard;
mod history;
use history::{decode_cursor, encode_cursor, Cursor};
mod lease;
mod overrides;

#[cfg(test)]
mod tests;
