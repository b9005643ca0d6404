//! Reading the nights to replay, through the ports (read-only): the scenario's runs since a
//! time and their events (Query only), and each night's metrics with one GetMetricData call.

use super::{night_range, queries, NightInput, Setting};
use crate::domain::{Outcome, Step};
use crate::evidence::StepEvidence;
use crate::gate::Rule;
use crate::history::{EventRecord, RunRecord, RunStatus};
use crate::plan::RunState;
use crate::ports::{HistoryStore, Metrics, StoreError};
use jiff::Timestamp;

/// Pages read at most per query (runs of one scenario, events of one run).
const MAX_PAGES: usize = 100;
const PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The closed runs of `settings[0]`'s scenario opened at or after `since`, oldest first, each
/// with its check times, baseline and metrics (one GetMetricData call per night); and the ids
/// of the runs left out because they are still open.
pub async fn gather(
    store: &dyn HistoryStore,
    metrics: &dyn Metrics,
    settings: &[Setting],
    since: Timestamp,
) -> Result<(Vec<NightInput>, Vec<String>), TuneError> {
    let Some(current) = settings.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let scenario = &current.scenario;
    // Run ids start with the night's local date: a day earlier than `since` is a safe lower
    // bound, trimmed by `opened_at` below.
    let since_run = since
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap_or(since)
        .to_zoned_datetime(scenario.timezone.clone())
        .date()
        .to_string();
    let mut runs: Vec<RunRecord> = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = store
            .scenario_runs(&scenario.name, Some(&since_run), PAGE, cursor)
            .await?;
        runs.extend(page.items.into_iter().filter(|r| r.opened_at >= since));
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    runs.sort_by_key(|r| r.opened_at);
    let specs = queries(settings);
    let mut nights = Vec::new();
    let mut open = Vec::new();
    for run in runs {
        if run.status == RunStatus::Open {
            open.push(run.run.clone());
            continue;
        }
        let events = run_events(store, &scenario.name, &run.run).await?;
        let range = night_range(settings, run.opened_at);
        let fetched = metrics.fetch(&specs, range.from, range.to).await;
        nights.push(night_input(&run, &events, fetched));
    }
    Ok((nights, open))
}

async fn run_events(
    store: &dyn HistoryStore,
    scenario: &str,
    run: &str,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut events = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = store.run_events(scenario, run, PAGE, cursor).await?;
        events.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(events)
}

/// A run and its events as the replay needs them.
pub(super) fn night_input(
    run: &RunRecord,
    events: &[EventRecord],
    metrics: crate::gate::MetricsFetch,
) -> NightInput {
    let mut checks = Vec::new();
    let mut actual_close = None;
    let mut forced_at = None;
    for e in events {
        let gated = matches!(e.step, Some(Step::Check | Step::ScaleDown))
            && matches!(e.outcome, Outcome::Acted | Outcome::Deferred);
        if !gated {
            continue;
        }
        let evidence: Option<StepEvidence> = e
            .evidence
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let gate = evidence.and_then(|ev| ev.gate);
        let at = gate.as_ref().map_or(e.received_at, |g| g.now);
        checks.push(at);
        if let Some(rule) = gate.as_ref().and_then(|g| g.rule) {
            if actual_close.is_none() {
                actual_close = Some((at, rule));
            }
            if rule == Rule::Forced && forced_at.is_none() {
                forced_at = Some(at);
            }
        }
    }
    checks.sort();
    let state: Option<RunState> = run
        .baseline
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let ready_at = state.as_ref().and_then(|s| s.ready_at);
    let (added_readers, added_tasks) = state.as_ref().map_or((0, 0), |s| {
        let readers = s
            .baseline
            .clusters
            .iter()
            .map(|c| {
                let before = c.instances.iter().filter(|i| !i.writer).count();
                u32::from(c.night_readers).saturating_sub(u32::try_from(before).unwrap_or(0))
            })
            .sum();
        let tasks = s
            .baseline
            .services
            .iter()
            .map(|svc| {
                u32::try_from(svc.night_desired.saturating_sub(svc.desired).max(0)).unwrap_or(0)
            })
            .sum();
        (readers, tasks)
    });
    let (added_vcpus, added_instances) = state.as_ref().map_or((0, 0), |s| {
        let vcpus = s
            .baseline
            .environments
            .iter()
            .map(|e| u32::try_from(e.night_min.saturating_sub(e.min).max(0)).unwrap_or(0))
            .sum();
        let instances = s
            .baseline
            .groups
            .iter()
            .map(|g| {
                u32::try_from(g.night.desired.saturating_sub(g.size.desired).max(0)).unwrap_or(0)
            })
            .sum();
        (vcpus, instances)
    });
    NightInput {
        run: run.run.clone(),
        opened_at: run.opened_at,
        closed_at: run.closed_at,
        actual_close,
        checks,
        forced_at,
        added_readers,
        added_tasks,
        added_vcpus,
        added_instances,
        ready_at,
        metrics,
    }
}
