//! The ops overrides: `pause` a scenario until a time, `resume` it earlier.

use super::{known_scenario, now_or, ops_store, store_and_config};
use crate::cli::{PauseArgs, ResumeArgs};
use crate::errors::explain;
use anyhow::anyhow;
use nightshift::overrides::{self, Pause};
use nightshift::ports::HistoryStore;
use std::process::ExitCode;

/// `nightshift pause`: store the pause on the scenario's state item and say what it does.
pub async fn pause(args: PauseArgs) -> anyhow::Result<ExitCode> {
    let PauseArgs {
        scenario,
        until,
        reason,
        by,
        store,
        now,
    } = args;
    let now = now_or(now);
    let until = overrides::parse_until(&until, now).map_err(|e| anyhow!(e))?;
    let (table, cfg) = store_and_config(&store)?;
    let zone = known_scenario(&scenario, cfg.as_ref())?;
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty());
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    let pause = Pause {
        until,
        by,
        at: Some(now),
        reason,
    };
    let store = ops_store(&table).await?;
    let replaced = store.pause(&scenario, &pause).await.map_err(explain)?;
    let left = until.duration_since(now);
    println!(
        "paused scenario \"{scenario}\" for {}: {}",
        human_span(left),
        pause.describe(zone.as_ref().map(|(tz, name)| (tz, name.as_str())))
    );
    println!(
        "while paused, scale-up, check and a scheduled scale-down are skipped and recorded as skipped; a forced scale-down still runs, and a scale-down already under way finishes"
    );
    println!("the pause ends by itself at {until}; `nightshift resume {scenario}` ends it earlier");
    if let Some(old) = replaced.filter(|p| p.is_active(now)) {
        println!("it replaces the earlier pause: {}", old.describe(None));
    }
    Ok(ExitCode::SUCCESS)
}

/// `nightshift resume`: clear the stored pause and say whether it was still active.
pub async fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let ResumeArgs {
        scenario,
        store,
        now,
    } = args;
    let now = now_or(now);
    let (table, cfg) = store_and_config(&store)?;
    known_scenario(&scenario, cfg.as_ref())?;
    let store = ops_store(&table).await?;
    match store.resume(&scenario).await.map_err(explain)? {
        Some(p) if p.is_active(now) => println!(
            "resumed scenario \"{scenario}\": lifted the pause ({}); its next scale-up, check and scale-down run normally",
            p.describe(None)
        ),
        Some(p) => println!(
            "scenario \"{scenario}\" was no longer paused: its pause ended at {}; the stored pause is cleared",
            p.until
        ),
        None => println!("scenario \"{scenario}\" was not paused: nothing to do"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `12h`, `1d 2h`, `45m`: how long a pause lasts, for people.
fn human_span(d: jiff::SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let (days, hours, mins) = (mins / 1440, (mins / 60) % 24, mins % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if mins > 0 || parts.is_empty() {
        parts.push(format!("{mins}m"));
    }
    parts.join(" ")
}
