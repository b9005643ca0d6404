//! `nightshift`: the ops CLI. Thin glue over the library; see `nightshift --help`.

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use nightshift::app::{App, Invocation, Settings};
use nightshift::aws::migrate::migrate;
use nightshift::config::{self, Config};
use nightshift::{migrations, Outcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "nightshift",
    version,
    about = "Scale DocumentDB and ECS up for the nightly batch and back down when it is done"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a config file; prints every error with file, line and a fix hint.
    Validate {
        /// Config file (TOML).
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: PathBuf,
    },
    /// Create or update the DynamoDB table from migrations/ (idempotent).
    Migrate {
        /// Table name [default: NIGHTSHIFT_TABLE, else the config's `table`, else nightshift-runs].
        #[arg(long)]
        table: Option<String>,
        /// Config file, only to read its `table`.
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: Option<PathBuf>,
        /// How long to wait for the table to become ACTIVE.
        #[arg(long, default_value = "120s", value_parser = parse_duration)]
        wait: std::time::Duration,
    },
    /// Run one event through the same handler the Lambda function uses; prints the response.
    Invoke {
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: PathBuf,
        /// Event JSON file ("-" for standard input).
        #[arg(long)]
        event: PathBuf,
        /// Pretend the current time is this (RFC 3339), e.g. 2026-11-25T22:00:00+09:00.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
        /// The request ID (the dedup key of last resort) [default: a random UUID].
        #[arg(long)]
        request_id: Option<String>,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(s)
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let cfg = config::load(path).map_err(|errors| anyhow!("{errors}"))?;
    Ok(cfg.with_table_override(std::env::var("NIGHTSHIFT_TABLE").ok()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { config } => match config::load(&config) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} scenario{}: {})",
                    config.display(),
                    cfg.scenarios.len(),
                    if cfg.scenarios.len() == 1 { "" } else { "s" },
                    cfg.scenario_names().join(", ")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!(
                    "{} error{} in {}",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" },
                    config.display()
                );
                Ok(ExitCode::from(2))
            }
        },
        Command::Migrate {
            table,
            config,
            wait,
        } => {
            let table = match (
                table,
                std::env::var("NIGHTSHIFT_TABLE")
                    .ok()
                    .filter(|t| !t.is_empty()),
                config,
            ) {
                (Some(t), _, _) => t,
                (None, Some(t), _) => t,
                (None, None, Some(path)) => load_config(&path)?.table,
                (None, None, None) => "nightshift-runs".to_string(),
            };
            let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
            let sdk = nightshift::aws::load_sdk_config(&settings.timeouts).await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let ms = migrations::embedded()?;
            let report = migrate(&client, &table, &ms, jiff::Timestamp::now(), wait).await?;
            for file in &report.already_applied {
                println!("already applied  {file}");
            }
            for file in &report.applied {
                println!("applied          {file}");
            }
            println!(
                "table \"{}\" is up to date ({} applied now, {} before)",
                report.table,
                report.applied.len(),
                report.already_applied.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Invoke {
            config,
            event,
            now,
            request_id,
        } => {
            let cfg = load_config(&config)?;
            let payload = if event == Path::new("-") {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                    .context("reading the event from standard input")?;
                buf
            } else {
                std::fs::read(&event)
                    .with_context(|| format!("reading the event file {}", event.display()))?
            };
            let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
            let app = App::from_env(Arc::new(cfg), settings).await;
            let inv = Invocation {
                request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                deadline: None,
                now: now.unwrap_or_else(jiff::Timestamp::now),
            };
            match app.handle(&payload, &inv).await {
                Ok(response) => {
                    println!("{}", serde_json::to_string_pretty(&response)?);
                    Ok(if response.outcome == Outcome::Rejected {
                        ExitCode::from(2)
                    } else {
                        ExitCode::SUCCESS
                    })
                }
                Err(e) => {
                    let kind = if e.is_retryable() {
                        "retryable"
                    } else {
                        "not retryable"
                    };
                    Err(anyhow!("{e} ({kind})"))
                }
            }
        }
    }
}
