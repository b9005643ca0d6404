//! What happened: `history` (the runs, newest first) and `show` (one run's timeline).

use super::{ops_store, store_and_config};
use crate::cli::{HistoryArgs, ListFormat, NightFormat, ShowArgs};
use crate::errors::explain;
use anyhow::{anyhow, Context};
use nightshift::config::Config;
use nightshift::history::{EventRecord, RunStatus};
use nightshift::ports::HistoryStore;
use nightshift::report::{self, HistoryPage, Night};
use std::path::PathBuf;
use std::process::ExitCode;

/// `nightshift history`: one page of runs opened within `--since`, as a table or JSON.
pub async fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let HistoryArgs {
        scenario,
        since,
        status,
        output,
        limit,
        cursor,
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
    let store = ops_store(&table).await?;
    let page = match &scenario {
        Some(name) => {
            let zone = cfg
                .as_ref()
                .and_then(|c| c.scenario(name))
                .map(|s| &s.timezone);
            let since_run = report::since_run(from, zone);
            store
                .scenario_runs(name, Some(&since_run), limit, cursor)
                .await
        }
        None => store.runs_between(from, now, limit, cursor).await,
    }
    .map_err(explain)?;
    let selected = report::select_runs(page.items, from, status.map(RunStatus::from));
    // Past the start of the range: later pages are older still.
    let next = page.next.filter(|_| !selected.reached_older);
    if let (Some(name), Some(cfg)) = (&scenario, &cfg) {
        if cfg.scenario(name).is_none() {
            eprintln!(
                "note: \"{name}\" is not a scenario of {} (configured: {}); times are UTC",
                cfg.source,
                cfg.scenario_names().join(", ")
            );
        }
    }
    match output {
        ListFormat::Json => print!("{}", report::history_json(&selected.runs, next.as_deref())),
        ListFormat::Table => print!(
            "{}",
            report::history_table(
                &HistoryPage {
                    runs: &selected.runs,
                    next: next.as_deref(),
                    hidden_by_status: selected.hidden_by_status,
                    scenario: scenario.as_deref(),
                    since: from,
                },
                now
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `nightshift show`: the run and all its events, as a table, JSON or an HTML page.
pub async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ShowArgs {
        scenario,
        run,
        output,
        out,
        store,
        now,
    } = args;
    let now = now.unwrap_or_else(jiff::Timestamp::now);
    let (table, cfg) = store_and_config(&store)?;
    let store = ops_store(&table).await?;
    let Some(record) = store.get_run(&scenario, &run).await.map_err(explain)? else {
        return Err(no_such_run(&scenario, &run, &table, cfg.as_ref()));
    };
    let events = all_events(&store, &scenario, &run).await?;
    let zone = cfg
        .as_ref()
        .and_then(|c| c.scenario(&scenario))
        .map(|s| &s.timezone);
    let night = Night {
        run: &record,
        events: &events,
        zone,
    };
    let text = match output {
        NightFormat::Table => {
            let mut text = report::night_table(&night, now);
            if record.status == RunStatus::Open {
                text.push_str(
                    &super::overrides::hold_line(&store, &scenario, &run, zone, now).await,
                );
            }
            text
        }
        NightFormat::Json => report::night_json(&night),
        NightFormat::Html => report::night_html(&night, now),
    };
    write_out(&text, out)?;
    Ok(ExitCode::SUCCESS)
}

/// "no run …": where to find the runs, and whether the scenario is configured at all.
fn no_such_run(scenario: &str, run: &str, table: &str, cfg: Option<&Config>) -> anyhow::Error {
    let mut message = format!(
        "no run {run} for scenario {scenario} in table \"{table}\"; `nightshift history --scenario {scenario}` lists its runs"
    );
    if let Some(cfg) = cfg.filter(|c| c.scenario(scenario).is_none()) {
        message.push_str(&format!(
            " (and \"{scenario}\" is not a scenario of {}: configured: {})",
            cfg.source,
            cfg.scenario_names().join(", ")
        ));
    }
    anyhow!(message)
}

/// Every event of the run, page after page.
async fn all_events(
    store: &impl HistoryStore,
    scenario: &str,
    run: &str,
) -> anyhow::Result<Vec<EventRecord>> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .run_events(scenario, run, 1000, cursor.clone())
            .await
            .map_err(explain)?;
        events.extend(page.items);
        match page.next {
            // A cursor that does not move would loop forever: stop instead.
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => break,
        }
    }
    Ok(events)
}

/// The rendered night to `--out` (saying so on standard error), else to standard output.
fn write_out(text: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
