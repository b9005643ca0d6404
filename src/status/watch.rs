//! Reading a scenario's status through the ports, following it (`--watch`), and the one-line
//! form the line mode prints.

use super::{view, Inputs, Phase, StatusView};
use crate::config::Scenario;
use crate::history::{EventRecord, RunRecord};
use crate::ports::{HistoryStore, Scaling, StoreError};
use crate::text::hh_mm;
use jiff::Timestamp;
use std::future::Future;
use std::time::Duration;

const EVENT_PAGE: u32 = 100;
const MAX_EVENT_PAGES: usize = 50;

/// The scenario's status at `now`, read-only: a consistent GetItem of the STATE item, the open
/// run (GetItem) or else the latest run (one Query, Limit 1), that run's events (Query), and the
/// live snapshot (Describe calls). A failed snapshot is shown, not fatal; a failed table read is.
pub async fn read(
    store: &dyn HistoryStore,
    scaling: &dyn Scaling,
    scenario: &Scenario,
    now: Timestamp,
) -> Result<StatusView, StoreError> {
    let state = store.scenario_state(&scenario.name).await?;
    let run: Option<RunRecord> = match &state.open_run {
        Some(id) => store.get_run(&scenario.name, id).await?,
        None => None,
    };
    let run = match run {
        Some(r) => Some(r),
        None => store
            .scenario_runs(&scenario.name, None, 1, None)
            .await?
            .items
            .into_iter()
            .next(),
    };
    let mut last: Option<EventRecord> = None;
    if let Some(r) = &run {
        let mut cursor = None;
        for _ in 0..MAX_EVENT_PAGES {
            let page = store
                .run_events(&scenario.name, &r.run, EVENT_PAGE, cursor)
                .await?;
            if let Some(e) = page.items.into_iter().last() {
                last = Some(e);
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
    }
    let snapshot = scaling.snapshot(scenario).await;
    let error = snapshot.as_ref().err().map(ToString::to_string);
    Ok(view(Inputs {
        scenario,
        state: &state,
        run: run.as_ref(),
        last_event: last.as_ref(),
        snapshot: match (&snapshot, &error) {
            (Ok(s), _) => Ok(s),
            (Err(_), Some(e)) => Err(e.as_str()),
            (Err(_), None) => Err("the live state could not be read"),
        },
        now,
    }))
}

/// How a watch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The night's capacity is in place.
    Ready,
    /// The run closed (or there was no open run to follow).
    Closed,
    /// The last step failed: its reason.
    Failed(String),
}

/// Where a watch shows each reading.
pub trait Sink {
    fn show(&mut self, view: &StatusView);
}

/// Whether `view` ends a watch that started at `first`.
fn end_of(first: &StatusView, view: &StatusView) -> Option<End> {
    if view.failed() {
        let reason = view
            .last_step
            .as_ref()
            .map_or_else(String::new, |s| s.reason.clone());
        return Some(End::Failed(reason));
    }
    match (first.phase, view.phase) {
        (Phase::ScalingDown, Phase::Day) => Some(End::Closed),
        (Phase::ScalingDown, _) => None,
        (_, Phase::Ready) => Some(End::Ready),
        (_, Phase::Day) => Some(End::Closed),
        _ => None,
    }
}

/// Reads with `read` every `every` and shows each reading, until the capacity is ready (a
/// watch that starts while scaling down waits for the close instead), the run closes, or the
/// last step failed. A failed read ends the watch with its error.
pub async fn watch<F, Fut, E>(mut read: F, sink: &mut dyn Sink, every: Duration) -> Result<End, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<StatusView, E>>,
{
    let first = read().await?;
    sink.show(&first);
    if let Some(end) = end_of(&first, &first) {
        return Ok(end);
    }
    loop {
        tokio::time::sleep(every).await;
        let view = read().await?;
        sink.show(&view);
        if let Some(end) = end_of(&first, &view) {
            return Ok(end);
        }
    }
}

/// The status in one line, without the time: what changes from one reading to the next.
pub fn line(view: &StatusView) -> String {
    let tz = crate::text::time_zones()
        .get(&view.timezone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let mut parts = vec![view.phase.as_str().to_string()];
    if let Some(r) = &view.run {
        parts.push(format!("run {}", r.id));
    }
    for s in &view.services {
        match (s.running, s.desired) {
            (Some(running), Some(desired)) => parts.push(format!(
                "ecs {}/{} {running}/{} running (desired {desired}, {} pending)",
                s.cluster,
                s.service,
                s.target_desired,
                s.pending.unwrap_or(0)
            )),
            _ => parts.push(format!("ecs {}/{} not found", s.cluster, s.service)),
        }
    }
    for c in &view.clusters {
        let others: Vec<String> = c
            .readers
            .iter()
            .filter(|r| r.status != "available")
            .map(|r| format!("{} {}", r.id, r.status))
            .collect();
        let more = if others.is_empty() {
            String::new()
        } else {
            format!(" ({})", others.join(", "))
        };
        parts.push(format!(
            "{} {} readers {}/{} available{more}",
            c.kind.key(),
            c.cluster,
            c.readers_available,
            c.readers_target
        ));
    }
    if let Some(p) = &view.pause {
        parts.push(format!("paused until {}", hh_mm(p.until, Some(&tz))));
    }
    if let Some(h) = &view.hold {
        parts.push(format!("held until {}", hh_mm(h.until, Some(&tz))));
    }
    if let Some(s) = &view.last_step {
        let step = s.step.map_or("event", |s| s.as_str());
        parts.push(format!("last {step} {}: {}", s.outcome.as_str(), s.reason));
    }
    if let Some(e) = &view.snapshot_error {
        parts.push(format!("live state unreadable: {e}"));
    }
    parts.join(" | ")
}

/// The line mode: one line per change, prefixed with the reading's local time.
pub struct LineSink<W: std::io::Write> {
    out: W,
    last: Option<String>,
}

impl<W: std::io::Write> LineSink<W> {
    pub fn new(out: W) -> Self {
        LineSink { out, last: None }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> Sink for LineSink<W> {
    fn show(&mut self, view: &StatusView) {
        let text = line(view);
        if self.last.as_deref() == Some(text.as_str()) {
            return;
        }
        let tz = crate::text::time_zones()
            .get(&view.timezone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let at = view
            .now
            .to_zoned_datetime(tz)
            .strftime("%H:%M:%S")
            .to_string();
        // A reader that went away (`| head`) only ends the output, not the watch.
        let _ = writeln!(self.out, "{at} {text}").and_then(|()| self.out.flush());
        self.last = Some(text);
    }
}
