//! The reads of `nightshift report`: the runs in range with the queries of `history` (one Query
//! per page of a scenario's runs, or of the time index's month buckets), then one Query per
//! night for its events. Every read is a Query: the cost follows the nights in range.

use super::{night, Account, Cost, TrendNight};
use crate::domain::{Action, Outcome, Step};
use crate::evidence::StepEvidence;
use crate::history::{EventRecord, RunRecord, RunStatus};
use crate::plan::RunState;
use crate::ports::{HistoryStore, StoreError};
use crate::report;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Page size of the runs queries.
const RUNS_PAGE: u32 = 200;
/// Page size of the events queries.
const EVENTS_PAGE: u32 = 1000;

/// Every night opened in `[from, now]` (of `scenario`, else of every scenario), with what
/// reading them cost.
pub async fn read_nights(
    store: &dyn HistoryStore,
    scenario: Option<&str>,
    from: Timestamp,
    now: Timestamp,
    zone: Option<&TimeZone>,
) -> Result<(Vec<TrendNight>, Cost), StoreError> {
    let mut cost = Cost::default();
    let runs = runs_in_range(store, scenario, from, now, zone, &mut cost).await?;
    let mut nights = Vec::with_capacity(runs.len());
    for run in &runs {
        let events = events_of(store, run, &mut cost).await?;
        nights.push(night(run, &events, now));
    }
    Ok((nights, cost))
}

/// The account of a night as its closing step ends it: the run's recorded events (one Query
/// per page, usually one) and the closing step's own calls, counted exactly as `nightshift
/// report` counts them later.
pub async fn closing_account(
    store: &dyn HistoryStore,
    run: &RunRecord,
    state: &RunState,
    step: Step,
    actions: &[Action],
    evidence: &StepEvidence,
    now: Timestamp,
) -> Result<Account, StoreError> {
    let mut events = events_of(store, run, &mut Cost::default()).await?;
    events.push(EventRecord {
        key: String::new(),
        step: Some(step),
        scenario: Some(run.scenario.clone()),
        run: Some(run.run.clone()),
        kind: "step-command".into(),
        outcome: Outcome::Acted,
        reason: String::new(),
        detail: String::new(),
        actions: actions.to_vec(),
        received_at: now,
        finished_at: now,
        evidence: evidence.to_json(),
        payload_hash: None,
    });
    let closed = RunRecord {
        status: RunStatus::Closed,
        closed_at: Some(now),
        baseline: Some(state.to_json()),
        ..run.clone()
    };
    Ok(night(&closed, &events, now).exact)
}

async fn runs_in_range(
    store: &dyn HistoryStore,
    scenario: Option<&str>,
    from: Timestamp,
    now: Timestamp,
    zone: Option<&TimeZone>,
    cost: &mut Cost,
) -> Result<Vec<RunRecord>, StoreError> {
    let since_run = report::since_run(from, zone);
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match scenario {
            Some(name) => {
                store
                    .scenario_runs(name, Some(&since_run), RUNS_PAGE, cursor.clone())
                    .await?
            }
            None => {
                store
                    .runs_between(from, now, RUNS_PAGE, cursor.clone())
                    .await?
            }
        };
        cost.queries += 1;
        cost.items_read += page.items_read;
        let selected = report::select_runs(page.items, from, None);
        runs.extend(selected.runs);
        match page.next {
            // Past the start of the range (later pages are older still), or a cursor that does
            // not move: stop.
            Some(next) if !selected.reached_older && cursor.as_deref() != Some(next.as_str()) => {
                cursor = Some(next)
            }
            _ => break,
        }
    }
    Ok(runs)
}

async fn events_of(
    store: &dyn HistoryStore,
    run: &RunRecord,
    cost: &mut Cost,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .run_events(&run.scenario, &run.run, EVENTS_PAGE, cursor.clone())
            .await?;
        cost.queries += 1;
        cost.items_read += page.items_read;
        events.extend(page.items);
        match page.next {
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(events)
}
