//! The writes that end a completed step, in one TransactWriteItems: the run's summary (or its
//! close), the event record, the dedup record's result and the release of the scaling lease.
//!
//! A check that finds no open run is answered by this transaction alone, right after its claim:
//! its result is known before anything is read (nothing to check), so the transaction records it
//! on the condition that makes it true ([`NO_OPEN_RUN_CONDITION`] on the state item). When the
//! condition fails, nothing is written and the check runs as any step does.
//!
//! One request instead of four, and all-or-nothing: a crash leaves either none of them (the step
//! is claimed and its lease expires: a retry takes it over) or all of them. Every condition is the
//! one the single write would carry; when any fails the transaction writes nothing and the caller
//! makes the writes one by one (`Written::Cancelled`), each handling its own failure as it always
//! did. A transaction that was applied and whose answer was lost is re-sent by the SDK with the
//! same ClientRequestToken (DynamoDB answers it as applied); where the re-send is cancelled
//! instead (the emulator keeps no tokens), the dedup record carrying this owner's COMPLETED result
//! says it was applied.

use super::*;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Put};

/// The run-history write of a step.
#[derive(Debug, Clone, Copy)]
pub enum RunWrite<'a> {
    /// The run's summary line, and its state when it changed.
    Summary {
        run: &'a str,
        summary: &'a str,
        state: Option<&'a serde_json::Value>,
    },
    /// Close the run at `at` with this summary (and take it off the scenario's state item).
    Close {
        run: &'a str,
        at: Timestamp,
        summary: &'a str,
    },
}

/// Everything a completed step writes after its scaling calls.
pub struct StepWrites<'a> {
    pub scenario: &'a str,
    pub run: Option<RunWrite<'a>>,
    pub event: &'a EventRecord,
    pub lease: &'a Lease,
    pub result: &'a Response,
    /// The invocation's wall clock: the dedup record's `finished_at`.
    pub now: Timestamp,
    /// The owner of the scaling lease this delivery holds, released with the rest.
    pub scaling_owner: Option<&'a str>,
    /// A check answered without the scaling lease: written only while the scenario has no open
    /// run, no pause in force and no live scaling lease ([`NO_OPEN_RUN_CONDITION`]).
    pub no_open_run_at: Option<NoOpenRunAt>,
}

/// The clocks of [`NO_OPEN_RUN_CONDITION`]: leases are measured on the invocation's wall clock,
/// a pause on the night's time (the event's rehearsal `now`, else the clock).
#[derive(Debug, Clone, Copy)]
pub struct NoOpenRunAt {
    pub clock: Timestamp,
    pub night: Timestamp,
}

/// What a check's answer "no open run, nothing to check" depends on, checked on the scenario's
/// state item in the transaction that records it: no open run, no pause in force (a pause is
/// stored until `resume`; one that ended is as good as none), no live scaling lease
/// (another delivery scaling the scenario may be about to open a run; the check then waits for
/// its lease as it always did). The rule: [`crate::idempotency::no_open_run_answerable`].
/// Anything else stored on the state item that changes what such a check answers belongs here.
pub const NO_OPEN_RUN_CONDITION: &str = "attribute_not_exists(open_run) AND \
     (attribute_not_exists(paused_until) OR paused_until <= :night) AND \
     (attribute_not_exists(scaling_until_ms) OR scaling_until_ms < :now)";

/// What the transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Every write is in the table.
    All,
    /// A condition failed and nothing was written: make the writes one by one.
    Cancelled,
}

/// The state item's part of a step's final writes: take the closed run off it, give the scaling
/// lease back. None when neither applies.
fn state_update(
    table: &str,
    scenario: &str,
    close: Option<&str>,
    owner: Option<&str>,
) -> Result<Option<Update>, StoreError> {
    let mut removes = Vec::new();
    let mut conditions = Vec::new();
    let mut update = Update::builder().table_name(table);
    if let Some(run) = close {
        removes.push("open_run");
        conditions.push("open_run = :run");
        update = update.expression_attribute_values(":run", s(run));
    }
    if let Some(owner) = owner {
        removes.extend(["scaling_owner", "scaling_until_ms"]);
        conditions.push(RELEASE_LEASE_CONDITION);
        update = update.expression_attribute_values(":owner", s(owner));
    }
    if removes.is_empty() {
        return Ok(None);
    }
    let (pk, sk) = keys::scenario_state(scenario);
    update
        .key("pk", s(pk))
        .key("sk", s(sk))
        .update_expression(format!("REMOVE {}", removes.join(", ")))
        .condition_expression(conditions.join(" AND "))
        .build()
        .map(Some)
        .map_err(|e| StoreError::Permanent(e.to_string()))
}

impl DynamoStore {
    /// Write a completed step's results in one transaction (see the module's documentation).
    pub async fn write_step_result(&self, w: &StepWrites<'_>) -> Result<Written, StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Permanent(e.to_string());
        let mut items = Vec::new();
        let mut close = None;
        match w.run {
            None => {}
            Some(RunWrite::Summary {
                run,
                summary,
                state,
            }) => {
                let mut expression = "SET summary = :summary".to_string();
                let mut update = Update::builder()
                    .table_name(&self.table)
                    .key("pk", s(keys::scenario_runs_pk(w.scenario)))
                    .key("sk", s(keys::run_sk(run)))
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":summary", s(summary));
                if let Some(state) = state {
                    expression.push_str(", baseline = :baseline");
                    update = update.expression_attribute_values(":baseline", s(state.to_string()));
                }
                let update = update
                    .update_expression(expression)
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
            Some(RunWrite::Close { run, at, summary }) => {
                items.push(
                    TransactWriteItem::builder()
                        .update(close_run_update(&self.table, w.scenario, run, at, summary)?)
                        .build(),
                );
                close = Some(run);
            }
        }
        let state = state_update(&self.table, w.scenario, close, w.scaling_owner)?;
        match (state, w.no_open_run_at) {
            (Some(update), None) => {
                items.push(TransactWriteItem::builder().update(update).build());
            }
            (None, Some(at)) => {
                let (pk, sk) = keys::scenario_state(w.scenario);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .condition_expression(NO_OPEN_RUN_CONDITION)
                    .expression_attribute_values(":now", n(at.clock.as_millisecond()))
                    .expression_attribute_values(":night", n(at.night.as_millisecond()))
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
            }
            (None, None) => {}
            (Some(_), Some(_)) => {
                return Err(StoreError::Permanent(
                    "nightshift bug: a check answered without the scaling lease cannot release one"
                        .into(),
                ))
            }
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(event_item(w.event)?))
            .build()
            .map_err(build)?;
        items.push(TransactWriteItem::builder().put(put).build());
        let json = serde_json::to_string(w.result)
            .map_err(|e| StoreError::Permanent(format!("encoding the result: {e}")))?;
        let complete = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::dedup_key_attrs(&w.lease.id)))
            .update_expression(
                "SET #status = :new_status, finished_at = :finished_at, #result = :result",
            )
            .condition_expression(OWNER_CONDITION)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#result", "result")
            .set_expression_attribute_values(Some(owner_values(&w.lease.owner)))
            .expression_attribute_values(":new_status", s(Status::Completed.as_str()))
            .expression_attribute_values(":finished_at", s(keys::rfc3339(w.now)))
            .expression_attribute_values(":result", s(json))
            // On failure: the record, to tell "applied by an earlier send" from anything else.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build)?;
        items.push(TransactWriteItem::builder().update(complete).build());
        let dedup_index = items.len() - 1;

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .customize()
            .config_override(self.overrides())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::All),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                let dedup = match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(t) => t
                        .cancellation_reasons()
                        .get(dedup_index)
                        .and_then(|r| r.item())
                        .filter(|item| !item.is_empty())
                        .map(Self::decode_dedup)
                        .transpose()?,
                    _ => None,
                };
                if finish_already_applied(dedup.as_ref(), &w.lease.owner, Status::Completed) {
                    return Ok(Written::All);
                }
                Ok(Written::Cancelled)
            }
            Err(e) => Err(self.map_err("TransactWriteItems", e)),
        }
    }
}

/// The run item's part of a close: OPEN → CLOSED at `at` with its summary.
pub(super) fn close_run_update(
    table: &str,
    scenario: &str,
    run: &str,
    at: Timestamp,
    summary: &str,
) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .key("pk", s(keys::scenario_runs_pk(scenario)))
        .key("sk", s(keys::run_sk(run)))
        .update_expression("SET run_status = :closed, closed_at = :at, summary = :summary")
        .condition_expression("run_status = :open")
        .expression_attribute_values(":closed", s(RunStatus::Closed.as_str()))
        .expression_attribute_values(":open", s(RunStatus::Open.as_str()))
        .expression_attribute_values(":at", s(keys::rfc3339(at)))
        .expression_attribute_values(":summary", s(summary))
        .build()
        .map_err(|e| StoreError::Permanent(e.to_string()))
}

/// The item of an event record: under its run when it has one, else in the month's unattached
/// partition.
pub(super) fn event_item(event: &EventRecord) -> Result<Item, StoreError> {
    let pk = match (&event.scenario, &event.run) {
        (Some(scenario), Some(run)) => keys::run_events_pk(scenario, run),
        _ => keys::unattached_events_pk(event.received_at),
    };
    let data = serde_json::to_string(event)
        .map_err(|e| StoreError::Permanent(format!("encoding the event record: {e}")))?;
    Ok(HashMap::from([
        ("pk".to_string(), s(pk)),
        (
            "sk".to_string(),
            s(keys::event_sk(event.received_at, event.step, &event.key)),
        ),
        ("kind".to_string(), s("event")),
        ("outcome".to_string(), s(event.outcome.as_str())),
        ("data".to_string(), s(data)),
    ]))
}
