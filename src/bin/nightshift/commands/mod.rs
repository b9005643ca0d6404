//! One function per subcommand, grouped by job, and what they share: loading the config,
//! finding the table, reaching AWS, writing to standard output, reading the clock.
//!
//! - `deploy`: `validate`, `migrate`, `template`, `iam-policy` (what a deployment needs);
//! - `steps`: `invoke`, `plan` (run or preview one step of the night);
//! - `history`: `history`, `show` (what happened);
//! - `overrides`: `pause`, `resume`, `hold`, `release` (the ops overrides; `hold` keeps the open
//!   run's capacity until a time);
//! - `trends`: `report` (the nights over weeks);
//! - `live`: `tune` (replay past nights with other settings), `status` (the night now, `--watch`);
//! - `calendar`: `calendar` (the nights of a month by the business calendar).

pub mod calendar;
pub mod deploy;
pub mod history;
pub mod live;
pub mod overrides;
pub mod steps;
pub mod trends;

use crate::cli::StoreArgs;
use crate::errors::unknown_scenario;
use anyhow::anyhow;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::{Aws, Timeouts};
use nightshift::config::{self, Config};
use std::path::Path;
use std::process::ExitCode;

/// The config at `path` (every error in it, or none), with NIGHTSHIFT_TABLE applied as in the
/// function.
fn load_config(path: &Path) -> anyhow::Result<Config> {
    let cfg = config::load(path).map_err(|errors| anyhow!("{errors}"))?;
    Ok(cfg.with_table_override(std::env::var("NIGHTSHIFT_TABLE").ok()))
}

/// Write `text` to standard output; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow!("writing to standard output: {e}")),
    }
}

/// Now, to the second: what ops commands show and store.
fn now_or(now: Option<jiff::Timestamp>) -> jiff::Timestamp {
    now.unwrap_or_else(|| {
        let t = jiff::Timestamp::now();
        jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
    })
}

/// With a config, the scenario must be in it (its time zone is returned for local times).
fn known_scenario(
    name: &str,
    cfg: Option<&Config>,
) -> anyhow::Result<Option<(jiff::tz::TimeZone, String)>> {
    match cfg {
        None => Ok(None),
        Some(cfg) => match cfg.scenario(name) {
            Some(s) => Ok(Some((s.timezone.clone(), s.timezone_name.clone()))),
            None => Err(unknown_scenario(name, cfg)),
        },
    }
}

/// The table `history` and `show` read (--table, NIGHTSHIFT_TABLE, the config's `table`, the
/// default) and the config, when one was given.
fn store_and_config(args: &StoreArgs) -> anyhow::Result<(String, Option<Config>)> {
    let cfg = args.config.as_deref().map(load_config).transpose()?;
    let env_table = std::env::var("NIGHTSHIFT_TABLE")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let table = match (&args.table, env_table, &cfg) {
        (Some(t), _, _) => t.clone(),
        (None, Some(t), _) => t,
        (None, None, Some(cfg)) => cfg.table.clone(),
        (None, None, None) => config::DEFAULT_TABLE.to_string(),
    };
    Ok((table, cfg))
}

/// The run store for the ops commands.
async fn ops_store(table: &str) -> anyhow::Result<DynamoStore> {
    Ok(ops_aws().await?.store(table))
}

/// The AWS side of the ops commands, region and credentials checked (see
/// [`Aws::checked_from_env`]).
async fn ops_aws() -> anyhow::Result<Aws> {
    Aws::checked_from_env(Timeouts::default())
        .await
        .map_err(|e| anyhow!(e))
}
