//! `hold` a scenario's open run until a time ("keep capacity until 09:00, we are rerunning"),
//! `release` it earlier. The rule is the state machine's (`nightshift::night`, rule 6).

use super::{known_scenario, now_or, ops_store, store_and_config};
use crate::cli::StoreArgs;
use crate::errors::explain;
use anyhow::anyhow;
use nightshift::hold::{Hold, HoldPlaced};
use nightshift::overrides;
use nightshift::plan::RunState;
use nightshift::ports::HistoryStore;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct HoldArgs {
    /// The scenario (checked against --config when one is given); it must have an open run.
    pub scenario: String,
    /// When the hold ends: an RFC 3339 time (2026-11-26T09:00:00+09:00) or a duration from
    /// now (3h, 90m). Must be in the future.
    #[arg(long)]
    pub until: String,
    /// Why, for whoever finds the capacity still up (recorded with the hold).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who placed it [default: $USER].
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct ReleaseArgs {
    /// The scenario (checked against --config when one is given).
    pub scenario: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

/// `nightshift hold`: store the hold of the open run on the scenario's state item.
pub async fn hold(args: HoldArgs) -> anyhow::Result<ExitCode> {
    let HoldArgs {
        scenario,
        until,
        reason,
        by,
        store,
        now,
    } = args;
    let now = now_or(now);
    let until = overrides::parse_until(&until, now)
        .map_err(|e| anyhow!(e.replace("a pause must end", "a hold must end")))?;
    let (table, cfg) = store_and_config(&store)?;
    let zone = known_scenario(&scenario, cfg.as_ref())?;
    let store = ops_store(&table).await?;
    let state = store.scenario_state(&scenario).await.map_err(explain)?;
    let no_open_run = || {
        anyhow!(
            "scenario \"{scenario}\" has no open run in table \"{table}\": a hold keeps the capacity of the night's open run, and there is none (no scale-up has run yet, or the night's run is closed). After tonight's scale-up, hold again; to keep a night from scaling at all, `nightshift pause {scenario} --until T`; `nightshift history --scenario {scenario}` lists its runs"
        )
    };
    let Some(run_id) = state.open_run.clone() else {
        return Err(no_open_run());
    };
    let run = store
        .get_run(&scenario, &run_id)
        .await
        .map_err(explain)?
        .ok_or_else(no_open_run)?;
    let started = run
        .baseline
        .as_ref()
        .and_then(|b| RunState::from_json(b).ok())
        .and_then(|s| s.scale_down_started_at);
    if let Some(at) = started {
        return Err(anyhow!(
            "run {run_id} of scenario \"{scenario}\" has been scaling down since {at}: a hold cannot keep capacity that is already being restored. Let the scale-down finish, then invoke a scale-up to raise the capacity again and hold that run"
        ));
    }
    let hold = Hold {
        until,
        run: run_id.clone(),
        by: by
            .or_else(|| std::env::var("USER").ok())
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty()),
        at: Some(now),
        reason: reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
    };
    let replaced = match store.hold(&scenario, &hold).await.map_err(explain)? {
        HoldPlaced::Held { replaced } => replaced,
        HoldPlaced::NoOpenRun => {
            return Err(anyhow!(
                "run {run_id} of scenario \"{scenario}\" closed while the hold was being stored: nothing was held; `nightshift history --scenario {scenario}` shows how it closed"
            ))
        }
    };
    println!(
        "held scenario \"{scenario}\": {}",
        hold.describe(zone.as_ref().map(|(tz, name)| (tz, name.as_str())))
    );
    println!(
        "while held, checks keep the capacity and a scheduled scale-down is deferred (\"held until …\"), the deadline included; a forced scale-down (\"force\": true) still runs"
    );
    println!("the hold ends by itself at {until}; `nightshift release {scenario}` ends it earlier");
    if let Some(old) = replaced.filter(|h| h.is_active(now)) {
        println!("it replaces the earlier hold: {}", old.describe(None));
    }
    if let Some(pause) = state.pause.filter(|p| p.is_active(now)) {
        println!(
            "note: the scenario is also {}: while the pause lasts its checks and scheduled scale-downs are skipped",
            pause.describe(None)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `nightshift release`: clear the stored hold and say whether it was still in force.
pub async fn release(args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let ReleaseArgs {
        scenario,
        store,
        now,
    } = args;
    let now = now_or(now);
    let (table, cfg) = store_and_config(&store)?;
    known_scenario(&scenario, cfg.as_ref())?;
    let store = ops_store(&table).await?;
    match store.release_hold(&scenario).await.map_err(explain)? {
        Some(h) if h.is_active(now) => println!(
            "released scenario \"{scenario}\": ended the hold ({}); its next check and scale-down ask the gate again",
            h.describe(None)
        ),
        Some(h) => println!(
            "scenario \"{scenario}\" was no longer held: its hold ended at {}; the stored hold is cleared",
            h.until
        ),
        None => println!("scenario \"{scenario}\" was not held: nothing to do"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `show`'s line about the open run's hold: `hold:     held until … (in force)`, or nothing
/// when no hold of this run is stored (a failed read says so rather than failing `show`).
pub async fn hold_line(
    store: &impl HistoryStore,
    scenario: &str,
    run: &str,
    zone: Option<&jiff::tz::TimeZone>,
    now: jiff::Timestamp,
) -> String {
    let hold = match store.scenario_state(scenario).await {
        Ok(state) => state.hold.filter(|h| h.run == run),
        Err(e) => return format!("hold:     could not be read ({e})\n"),
    };
    match hold {
        Some(h) if h.is_active(now) => {
            let local = zone
                .map(|tz| format!(" ({})", nightshift::text::local_minute(tz, h.until)))
                .unwrap_or_default();
            format!(
                "hold:     {}{local}: checks keep the capacity and scheduled scale-downs defer until then; `nightshift release {scenario}` ends it\n",
                h.describe(None)
            )
        }
        Some(h) => format!("hold:     ended at {}\n", h.until),
        None => String::new(),
    }
}
