//! `nightshift`: the ops CLI. Thin glue over the library; see `nightshift --help`.

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use nightshift::app::{App, Invocation, Settings};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::migrate::migrate;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::history::{HistoryStore, RunStatus, StoreError};
use nightshift::report::{self, HistoryPage, Night};
use nightshift::{migrations, Outcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    /// List runs, newest first: what happened each night.
    ///
    /// With --scenario, one Query on that scenario's runs from the night `--since` reaches (its
    /// local date when --config gives the scenario's time zone, else the UTC date a day earlier),
    /// trimmed to the runs opened since then; without, a Query on the time index, one month at a
    /// time. Only Query and GetItem: the cost follows the result, not the table.
    History {
        /// Only this scenario's runs.
        #[arg(long)]
        scenario: Option<String>,
        /// Runs opened within this long before now: a whole number and a unit s, m, h or d.
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        since: Duration,
        /// Only open or closed runs. Applied to each page after it is read, so a page can list
        /// fewer than --limit runs while more follow (the footer says how many it left out).
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// `table` (fits 100 columns) or `json` (for scripts: runs and the next cursor).
        #[arg(long, value_enum, default_value = "table")]
        output: ListFormat,
        /// Runs read per page (1-1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Continue where the previous page stopped: the cursor it printed.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Pretend the current time is this (RFC 3339): rehearsals and tests.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
    /// One run's timeline: every event with its time, step, outcome, reason, calls and evidence.
    ///
    /// `--output html` writes one self-contained page (no network fetches) with the night's
    /// timeline and the scale-down metrics plotted against their thresholds and the deadline.
    Show {
        /// The scenario.
        scenario: String,
        /// The run id, e.g. 2026-11-25 (`nightshift history --scenario S` lists them).
        run: String,
        /// `table` (fits 100 columns), `json` (the run and its events with their evidence), or
        /// `html` (a self-contained night report with the metric plot).
        #[arg(long, value_enum, default_value = "table")]
        output: NightFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
        /// Pretend the current time is this (RFC 3339): rehearsals and tests.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
}

/// Where `history` and `show` read from.
#[derive(clap::Args)]
struct StoreArgs {
    /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`, else nightshift-runs].
    #[arg(long)]
    table: Option<String>,
    /// Config file (optional): its `table`, and each scenario's time zone for local times.
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatusFilter {
    Open,
    Closed,
}

impl From<StatusFilter> for RunStatus {
    fn from(s: StatusFilter) -> RunStatus {
        match s {
            StatusFilter::Open => RunStatus::Open,
            StatusFilter::Closed => RunStatus::Closed,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum NightFormat {
    Table,
    Json,
    Html,
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
        Command::History {
            scenario,
            since,
            status,
            output,
            limit,
            cursor,
            store,
            now,
        } => {
            let now = now.unwrap_or_else(jiff::Timestamp::now);
            let from = now.checked_sub(since).map_err(|_| {
                anyhow!("--since reaches before the earliest time nightshift can represent: use a shorter span")
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
                ListFormat::Json => {
                    print!("{}", report::history_json(&selected.runs, next.as_deref()))
                }
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
        Command::Show {
            scenario,
            run,
            output,
            out,
            store,
            now,
        } => {
            let now = now.unwrap_or_else(jiff::Timestamp::now);
            let (table, cfg) = store_and_config(&store)?;
            let store = ops_store(&table).await?;
            let Some(record) = store.get_run(&scenario, &run).await.map_err(explain)? else {
                let mut message = format!(
                    "no run {run} for scenario {scenario} in table \"{table}\"; `nightshift history --scenario {scenario}` lists its runs"
                );
                if let Some(cfg) = cfg.as_ref().filter(|c| c.scenario(&scenario).is_none()) {
                    message.push_str(&format!(
                        " (and \"{scenario}\" is not a scenario of {}: configured: {})",
                        cfg.source,
                        cfg.scenario_names().join(", ")
                    ));
                }
                return Err(anyhow!(message));
            };
            let mut events = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store
                    .run_events(&scenario, &run, 1000, cursor.clone())
                    .await
                    .map_err(explain)?;
                events.extend(page.items);
                match page.next {
                    // A cursor that does not move would loop forever: stop instead.
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    _ => break,
                }
            }
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
                NightFormat::Table => report::night_table(&night, now),
                NightFormat::Json => report::night_json(&night),
                NightFormat::Html => report::night_html(&night, now),
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
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

/// The run store for the ops commands. Region and credentials are checked first: without them
/// the SDK fails later with a dispatch error that does not say what is missing.
async fn ops_store(table: &str) -> anyhow::Result<DynamoStore> {
    use aws_sdk_dynamodb::config::ProvideCredentials;
    let timeouts = Timeouts::default();
    let sdk = nightshift::aws::load_sdk_config(&timeouts).await;
    if sdk.region().is_none() {
        return Err(anyhow!(
            "no AWS region: set AWS_REGION (for example `export AWS_REGION=us-east-1`) or a region in your AWS profile"
        ));
    }
    let hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (against a local emulator any non-empty values do)";
    let Some(provider) = sdk.credentials_provider() else {
        return Err(anyhow!("no AWS credentials provider: {hint}"));
    };
    match tokio::time::timeout(Duration::from_secs(20), provider.provide_credentials()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(anyhow!(
                "no AWS credentials found ({}): {hint}",
                error_chain(&e)
            ))
        }
        Err(_) => return Err(anyhow!("timed out looking for AWS credentials: {hint}")),
    }
    Ok(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table,
        timeouts,
    ))
}

/// A store error as an ops command reports it: what failed and what to check. (The store's own
/// messages speak to the Lambda function, where a transient error is retried.)
fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Transient(text)
            if text.contains("Throttl") || text.contains("ThroughputExceeded") =>
        {
            anyhow!("DynamoDB is throttling ({text}); try again in a moment")
        }
        StoreError::Transient(text) => {
            anyhow!("no answer from DynamoDB: {text}. {}", endpoint_hint())
        }
        StoreError::Permanent(text)
            if [
                "UnrecognizedClient",
                "InvalidSignature",
                "security token",
                "ExpiredToken",
            ]
            .iter()
            .any(|needle| text.contains(needle)) =>
        {
            anyhow!(
                "DynamoDB refused the credentials: {text}. Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE"
            )
        }
        // The store checks a cursor before any call: not DynamoDB's refusal.
        StoreError::Permanent(text) if text.starts_with("invalid --cursor") => anyhow!(text),
        // MissingTable already says to run `nightshift migrate`.
        other => anyhow!(other),
    }
}

/// An error and its sources, each once, joined by ": ".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Which endpoint setting sent the request where nothing answered.
fn endpoint_hint() -> String {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"] {
        if let Some(url) = std::env::var(var).ok().filter(|u| !u.trim().is_empty()) {
            return format!(
                "The request went to {var}={url}: is that server running and reachable? Unset {var} to use AWS itself"
            );
        }
    }
    "Check the network path to the region's DynamoDB endpoint (proxy, VPN, AWS_REGION), or set AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL) to reach a local emulator".to_string()
}
