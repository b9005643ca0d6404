//! `nightshift`: the ops CLI. Thin glue over the library; see `nightshift --help`.

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use nightshift::app::{App, Decision, Invocation, PreviewError, Settings};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::{Aws, Timeouts};
use nightshift::config::{self, Config};
use nightshift::history::{HistoryStore, RunStatus, StoreError};
use nightshift::overrides::{self, Pause};
use nightshift::ports::{CallError, CallErrorKind};
use nightshift::report::{self, HistoryPage, Night};
use nightshift::{migrations, Outcome, Step};
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
    /// What a step would call now, against the live state, without calling it.
    ///
    /// Reads the scenario's state and open run from the table, asks the ops overrides (pause,
    /// skip dates) and, for check and scale-down, the metric gate, reads the live ECS, Application
    /// Auto Scaling and DocumentDB state, and prints the calls the step's planner makes from it
    /// after the safety check: one per line (service, call, resource, detail), refused calls
    /// marked with the rule. Only Describe/Get/List calls are sent; nothing is written. A step
    /// that continues asynchronously plans its later calls from later state: see `waiting`.
    /// Exits 2 when the step would be rejected (e.g. a configured resource does not exist).
    Plan {
        /// Config file (TOML).
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: PathBuf,
        /// The scenario.
        #[arg(long)]
        scenario: String,
        /// The step to preview.
        #[arg(long, value_enum)]
        step: StepArg,
        /// Preview a forced scale-down ("force": true): the metrics are not consulted.
        #[arg(long)]
        force: bool,
        /// `table` (one call per line) or `json` (every field, each call with its parameters).
        #[arg(long, value_enum, default_value = "table")]
        output: ListFormat,
        /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`].
        #[arg(long)]
        table: Option<String>,
        /// Pretend the current time is this (RFC 3339): the gate, the pause and skip dates use it.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
    /// Pause a scenario until a time: scale-up, check and scheduled scale-down are skipped.
    ///
    /// While paused, those steps are recorded as `skipped (paused until …)` and call nothing; a
    /// forced scale-down ("force": true) still runs, and a scale-down already under way finishes.
    /// The pause ends by itself at --until; `nightshift resume` ends it earlier. Pausing again
    /// replaces the pause. Stored on the scenario's STATE item in the table.
    Pause {
        /// The scenario (checked against --config when one is given).
        scenario: String,
        /// When the pause ends: an RFC 3339 time (2026-11-26T10:00:00+09:00) or a duration from
        /// now (12h, 2d, 90m). Must be in the future.
        #[arg(long)]
        until: String,
        /// Why, for whoever finds the night skipped (recorded with the pause).
        #[arg(long)]
        reason: Option<String>,
        /// Who paused it [default: $USER].
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Pretend the current time is this (RFC 3339): rehearsals and tests.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
    /// Lift a scenario's pause now (it also ends by itself at its --until).
    Resume {
        /// The scenario (checked against --config when one is given).
        scenario: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Pretend the current time is this (RFC 3339): rehearsals and tests.
        #[arg(long)]
        now: Option<jiff::Timestamp>,
    },
    /// Print the CloudFormation template of exactly this config: function, role, table,
    /// schedules, completion rules, dead-letter queues and alarms.
    Template {
        /// Config file (TOML): the same file the image bakes (its SHA-256 goes into the stack).
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: PathBuf,
        /// The image in ECR, e.g. 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/nightshift:1.4.0-x86_64
        /// (the default of the template's ImageUri parameter).
        #[arg(long)]
        image_uri: String,
        #[arg(long, value_enum, default_value = "yaml")]
        output: TemplateFormat,
    },
    /// Print the least-privilege IAM policy (JSON) for exactly the configured resources.
    ///
    /// The policy of the function's execution role: the table (NIGHTSHIFT_TABLE overrides the
    /// config's, as in the function) and its indexes, the configured ECS services, DocumentDB
    /// clusters and nightshift's own readers, and the batch metrics.
    IamPolicy {
        /// Config file (TOML).
        #[arg(long, env = "NIGHTSHIFT_CONFIG")]
        config: PathBuf,
        /// The region in every ARN, e.g. ap-northeast-1 (`*`: any region).
        #[arg(long, default_value = "*")]
        region: String,
        /// The 12-digit account ID in every ARN (`*`: any account).
        #[arg(long, default_value = "*")]
        account: String,
        /// The ARN partition: aws, aws-cn, aws-us-gov.
        #[arg(long, default_value = "aws")]
        partition: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StepArg {
    ScaleUp,
    Check,
    ScaleDown,
}

impl From<StepArg> for Step {
    fn from(s: StepArg) -> Step {
        match s {
            StepArg::ScaleUp => Step::ScaleUp,
            StepArg::Check => Step::Check,
            StepArg::ScaleDown => Step::ScaleDown,
        }
    }
}

/// Where `history`, `show`, `pause` and `resume` read from and write to.
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
enum TemplateFormat {
    Yaml,
    Json,
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
                    "{}: ok ({} scenario{}: {}; sha256 {})",
                    config.display(),
                    cfg.scenarios.len(),
                    if cfg.scenarios.len() == 1 { "" } else { "s" },
                    cfg.scenario_names().join(", "),
                    cfg.digest
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
            let aws = Aws::from_env(settings.timeouts).await;
            let ms = migrations::embedded()?;
            let report = aws
                .migrate(&table, &ms, jiff::Timestamp::now(), wait)
                .await?;
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
            if now.is_some() && settings.is_prod() {
                // Checked before anything is read or called: a faked clock must never act in prod.
                eprintln!(
                    "nightshift: --now is for rehearsals and tests and is refused when APP_ENV=prod: \
                     remove --now, or run the rehearsal with APP_ENV unset (or not prod)"
                );
                return Ok(ExitCode::from(2));
            }
            let app = App::from_env(Arc::new(cfg), settings).await;
            let inv = Invocation {
                request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                deadline: None,
                now: now.unwrap_or_else(jiff::Timestamp::now),
                function_arn: None,
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
        Command::Plan {
            config,
            scenario,
            step,
            force,
            output,
            table,
            now,
        } => {
            let step = Step::from(step);
            if force && step != Step::ScaleDown {
                return Err(anyhow!(
                    "--force previews a forced scale-down: use it with --step scale-down"
                ));
            }
            let mut cfg = load_config(&config)?;
            if let Some(table) = table {
                cfg = cfg.with_table_override(Some(table));
            }
            if cfg.scenario(&scenario).is_none() {
                return Err(unknown_scenario(&scenario, &cfg));
            }
            let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
            let aws = ops_aws().await?;
            let store = aws.store(&cfg.table);
            let scaling = aws.scaling();
            let app = App::new(Arc::new(cfg), settings, store, scaling);
            let now = now_or(now);
            let preview = match app.preview(&scenario, step, force, now).await {
                Ok(preview) => preview,
                Err(PreviewError::Store(e)) => return Err(explain(e)),
                Err(PreviewError::Call(e)) => return Err(explain_call(&e)),
                Err(e) => return Err(anyhow!(e)),
            };
            let code = match output {
                ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&preview)?)),
                ListFormat::Table => emit(&preview.to_text()),
            }?;
            // As `invoke`: a step that would be rejected exits 2.
            Ok(if preview.decision == Decision::Reject {
                ExitCode::from(2)
            } else {
                code
            })
        }
        Command::Pause {
            scenario,
            until,
            reason,
            by,
            store,
            now,
        } => {
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
            println!(
                "the pause ends by itself at {until}; `nightshift resume {scenario}` ends it earlier"
            );
            if let Some(old) = replaced.filter(|p| p.is_active(now)) {
                println!("it replaces the earlier pause: {}", old.describe(None));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume {
            scenario,
            store,
            now,
        } => {
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
        Command::Template {
            config,
            image_uri,
            output,
        } => {
            let cfg = load_config(&config)?;
            let migrations = migrations::embedded().map_err(|e| anyhow!(e))?;
            let template = nightshift::template::build(&cfg, &image_uri, &migrations)
                .map_err(|e| anyhow!(e))?;
            let format = match output {
                TemplateFormat::Yaml => nightshift::template::Format::Yaml,
                TemplateFormat::Json => nightshift::template::Format::Json,
            };
            emit(&nightshift::template::render(&template, format, &cfg))
        }
        Command::IamPolicy {
            config,
            region,
            account,
            partition,
        } => {
            let target = iam_target(region, account, partition)?;
            let cfg = load_config(&config)?;
            let policy = nightshift::iam::policy(&cfg, &target);
            emit(&format!("{}\n", serde_json::to_string_pretty(&policy)?))
        }
    }
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

/// The ARN parts of `iam-policy`, checked: a typo here would make a policy that allows nothing.
fn iam_target(
    region: String,
    account: String,
    partition: String,
) -> anyhow::Result<nightshift::iam::Target> {
    if account != "*" && !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
        return Err(anyhow!(
            "--account {account:?} is not a 12-digit AWS account ID (or * for any account); `aws sts get-caller-identity` prints yours"
        ));
    }
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if region != "*" && !(plain(&region) && region.contains('-')) {
        return Err(anyhow!(
            "--region {region:?} is not an AWS region name such as ap-northeast-1 (or * for any region)"
        ));
    }
    if !(plain(&partition) && partition.starts_with("aws")) {
        return Err(anyhow!(
            "--partition {partition:?} is not an AWS partition: use aws, aws-cn or aws-us-gov"
        ));
    }
    Ok(nightshift::iam::Target {
        partition,
        region,
        account,
    })
}

/// "unknown scenario" with the configured ones.
fn unknown_scenario(name: &str, cfg: &Config) -> anyhow::Error {
    anyhow!(
        "unknown scenario \"{name}\": {} configures {}; check the name (or the --config file)",
        cfg.source,
        cfg.scenario_names()
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
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

/// A failed read of the live state, as an ops command reports it.
fn explain_call(e: &CallError) -> anyhow::Error {
    if e.code.as_deref().is_some_and(|c| c.contains("NotFound")) {
        return anyhow!(
            "{e}. Check the resource names in the config and the region (AWS_REGION={})",
            std::env::var("AWS_REGION").unwrap_or_default()
        );
    }
    if e.kind == CallErrorKind::Retryable && e.code.is_none() {
        // No answer at all: say where the request went.
        let service = match e.iam_action.split(':').next().unwrap_or_default() {
            "ecs" => "ECS",
            "rds" => "DOCDB",
            "application-autoscaling" => "APPLICATION_AUTO_SCALING",
            "cloudwatch" => "CLOUDWATCH",
            _ => "",
        };
        return anyhow!("{e}. {}", endpoint_hint_for(service));
    }
    anyhow!("{e}")
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

/// Which endpoint setting sent a DynamoDB request where nothing answered.
fn endpoint_hint() -> String {
    endpoint_hint_for("DYNAMODB")
}

/// Which endpoint setting sent a request to `service` (`DYNAMODB`, `ECS`, `DOCDB`, …: the suffix
/// of `AWS_ENDPOINT_URL_<SERVICE>`) where nothing answered.
fn endpoint_hint_for(service: &str) -> String {
    let specific = format!("AWS_ENDPOINT_URL_{service}");
    let vars: Vec<&str> = if service.is_empty() {
        vec!["AWS_ENDPOINT_URL"]
    } else {
        vec![specific.as_str(), "AWS_ENDPOINT_URL"]
    };
    for var in vars {
        if let Some(url) = std::env::var(var).ok().filter(|u| !u.trim().is_empty()) {
            return format!(
                "The request went to {var}={url}: is that server running and reachable? Unset {var} to use AWS itself"
            );
        }
    }
    let name = if service.is_empty() {
        "the service"
    } else {
        service
    };
    format!(
        "Check the network path to the region's {name} endpoint (proxy, VPN, AWS_REGION), or set {specific} (or AWS_ENDPOINT_URL) to reach a local emulator"
    )
}
