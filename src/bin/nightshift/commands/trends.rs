//! `nightshift report`: the nights over weeks (`nightshift::trends`), read with the queries of
//! `history` (one Query per page of runs) and one Query per night for its events: the cost follows
//! the nights in range, never the table.

use super::{emit, ops_store, store_and_config};
use crate::cli::StoreArgs;
use crate::errors::explain;
use anyhow::anyhow;
use nightshift::history::{EventRecord, HistoryStore, Page, RunRecord};
use nightshift::report;
use nightshift::trends::{self, Cost};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Html,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Only this scenario's nights (times on its clock when --config names it).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Nights opened within this long before now: a whole number and a unit s, m, h or d.
    #[arg(long, default_value = "30d", value_parser = nightshift::config::parse_duration)]
    pub since: Duration,
    #[arg(long, value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

/// Page size of the runs and events queries.
const PAGE: u32 = 200;

/// `nightshift report`.
pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let ReportArgs {
        scenario,
        since,
        output,
        out,
        store,
        now,
    } = args;
    let now = now.unwrap_or_else(jiff::Timestamp::now);
    let from = now.checked_sub(since).map_err(|_| {
        anyhow!(
            "--since reaches before the earliest time nightshift can represent: use a shorter span"
        )
    })?;
    let (table, cfg) = store_and_config(&store)?;
    let configured = scenario
        .as_deref()
        .and_then(|name| cfg.as_ref().and_then(|c| c.scenario(name)));
    if let (Some(name), Some(cfg), None) = (&scenario, &cfg, configured) {
        eprintln!(
            "note: \"{name}\" is not a scenario of {} (configured: {}); times are UTC",
            cfg.source,
            cfg.scenario_names().join(", ")
        );
    }
    let zone = configured.map(|s| (&s.timezone, s.timezone_name.as_str()));
    let store = ops_store(&table).await?;
    let mut cost = Cost::default();
    let runs = runs_in_range(
        &store,
        scenario.as_deref(),
        from,
        now,
        zone.map(|z| z.0),
        &mut cost,
    )
    .await?;
    let mut nights = Vec::with_capacity(runs.len());
    for run in &runs {
        let events = events_of(&store, run, &mut cost).await?;
        nights.push(trends::night(run, &events, now));
    }
    let report = trends::report(scenario.as_deref(), from, now, zone, nights, cost);
    let text = match output {
        ReportFormat::Table => trends::trends_table(&report, zone.map(|z| z.0)),
        ReportFormat::Json => trends::trends_json(&report),
        ReportFormat::Html => trends::trends_html(&report, zone.map(|z| z.0)),
    };
    match out {
        Some(path) => {
            std::fs::write(&path, &text).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        None => emit(&text),
    }
}

/// Every run opened in `[from, now]`, page after page (as `history` reads them).
async fn runs_in_range(
    store: &impl HistoryStore,
    scenario: Option<&str>,
    from: jiff::Timestamp,
    now: jiff::Timestamp,
    zone: Option<&jiff::tz::TimeZone>,
    cost: &mut Cost,
) -> anyhow::Result<Vec<RunRecord>> {
    let since_run = report::since_run(from, zone);
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page: Page<RunRecord> = match scenario {
            Some(name) => {
                store
                    .scenario_runs(name, Some(&since_run), PAGE, cursor.clone())
                    .await
            }
            None => store.runs_between(from, now, PAGE, cursor.clone()).await,
        }
        .map_err(explain)?;
        cost.queries += 1;
        cost.items_read += page.items_read;
        let selected = report::select_runs(page.items, from, None);
        runs.extend(selected.runs);
        match page.next {
            Some(next) if !selected.reached_older && cursor.as_deref() != Some(next.as_str()) => {
                cursor = Some(next)
            }
            _ => break,
        }
    }
    Ok(runs)
}

/// One run's events, page after page.
async fn events_of(
    store: &impl HistoryStore,
    run: &RunRecord,
    cost: &mut Cost,
) -> anyhow::Result<Vec<EventRecord>> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .run_events(&run.scenario, &run.run, 1000, cursor.clone())
            .await
            .map_err(explain)?;
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
