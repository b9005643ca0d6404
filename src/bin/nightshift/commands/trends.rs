//! `nightshift report`: the nights over weeks (`nightshift::trends`, read by
//! `trends::read_nights`: the queries of `history`, then one Query per night for its events; the
//! cost follows the nights in range, never the table), with their hours above the baseline and,
//! when the config has `[prices]`, their money.

use super::{emit, ops_store, store_and_config};
use crate::cli::StoreArgs;
use crate::errors::explain;
use anyhow::anyhow;
use nightshift::trends;
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
    let (nights, cost) =
        trends::read_nights(&store, scenario.as_deref(), from, now, zone.map(|z| z.0))
            .await
            .map_err(explain)?;
    let mut report = trends::report(scenario.as_deref(), from, now, zone, nights, cost);
    // The nights' hours at today's [prices] (hours are what the nights recorded; prices are the
    // config's, so nights before prices were configured are priced too).
    if let Some(prices) = cfg.as_ref().and_then(|c| c.prices.as_ref()) {
        trends::price_report(&mut report, prices);
    }
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
