//! The command line: every subcommand, its options and their help text (clap derive).
//!
//! Each subcommand's options are one struct, handed whole to the function that runs it
//! (`commands::*`). The doc comments here are the `--help` text; the synopsis of docs/cli.md
//! follows them (checked by the tests in `docs.rs`).

use clap::{Parser, Subcommand};
use nightshift::config;
use nightshift::history::RunStatus;
use nightshift::Step;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "nightshift",
    version,
    about = "Scale a nightly batch's capacity (DocumentDB, Aurora and Neptune readers, ECS services, Batch compute environments, Auto Scaling groups) up for the batch and back down when it is done"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check a config file; prints every error with file, line and a fix hint.
    Validate(ValidateArgs),
    /// Create or update the DynamoDB table from migrations/ (idempotent).
    Migrate(MigrateArgs),
    /// Run one event through the same handler the Lambda function uses; prints the response.
    Invoke(InvokeArgs),
    /// List runs, newest first: what happened each night.
    ///
    /// With --scenario, one Query on that scenario's runs from the night `--since` reaches (its
    /// local date when --config gives the scenario's time zone, else the UTC date a day earlier),
    /// trimmed to the runs opened since then; without, a Query on the time index, one month at a
    /// time. Only Query and GetItem: the cost follows the result, not the table.
    History(HistoryArgs),
    /// One run's timeline: every event with its time, step, outcome, reason, calls and evidence.
    ///
    /// `--output html` writes one self-contained page (no network fetches) with the night's
    /// timeline and the scale-down metrics plotted against their thresholds and the deadline.
    Show(ShowArgs),
    /// What a step would call now, against the live state, without calling it.
    ///
    /// Reads the scenario's state and open run from the table, asks the ops overrides (pause,
    /// skip dates) and, for check and scale-down, the metric gate, reads the live state of the
    /// scenario's targets (ECS services and their scalable targets, DocumentDB, Aurora and Neptune
    /// clusters, Batch compute environments, Auto Scaling groups), and prints the calls the step's planner makes from it
    /// after the safety check: one per line (service, call, resource, detail), refused calls
    /// marked with the rule. Only Describe/Get/List calls are sent; nothing is written. A step
    /// that continues asynchronously plans its later calls from later state: see `waiting`.
    /// Exits 2 when the step would be rejected (e.g. a configured resource does not exist).
    Plan(PlanArgs),
    /// Pause a scenario until a time: scale-up, check and scheduled scale-down are skipped.
    ///
    /// While paused, those steps are recorded as `skipped (paused until …)` and call nothing; a
    /// forced scale-down ("force": true) still runs, and a scale-down already under way finishes.
    /// The pause ends by itself at --until; `nightshift resume` ends it earlier. Pausing again
    /// replaces the pause. Stored on the scenario's STATE item in the table.
    Pause(PlaceArgs),
    /// Lift a scenario's pause now (it also ends by itself at its --until).
    Resume(LiftArgs),
    /// Keep the open run's capacity until a time: checks and scheduled scale-downs defer.
    ///
    /// While held, a check keeps the capacity without reading the metrics and a scheduled
    /// scale-down is deferred, both `held until …`, the deadline included; a forced scale-down
    /// ("force": true) still runs. The hold ends by itself at --until (or when its run closes);
    /// `nightshift release` ends it earlier. Needs an open run. Stored on the scenario's STATE
    /// item in the table.
    Hold(PlaceArgs),
    /// End a scenario's hold now (it also ends by itself at its --until).
    Release(LiftArgs),
    /// The nights over weeks: one line per night and the totals.
    ///
    /// Per night: opened, capacity ready after, quiet at, closed, duration, why it closed (quiet,
    /// deadline, forced), failed steps and drift, the capacity held above the baseline (reader-,
    /// resized-, capacity-unit-, task-, Batch vCPU- and Auto Scaling instance-hours) and, with
    /// `[prices]`, its cost and what it saved; the month's totals. `--output html` writes one
    /// self-contained page plotting the nights. Reads the runs as `history` does and one Query per
    /// night for its events: the cost follows the nights in range, not the table.
    Report(crate::commands::trends::ReportArgs),
    /// Print the CloudFormation template of exactly this config: function, role, table,
    /// schedules, completion rules, dead-letter queues and alarms.
    Template(TemplateArgs),
    /// Print the least-privilege IAM policy (JSON) for exactly the configured resources.
    ///
    /// The policy of the function's execution role: the table (NIGHTSHIFT_TABLE overrides the
    /// config's, as in the function) and its indexes, the configured ECS services, DocumentDB,
    /// Aurora and Neptune clusters and nightshift's own readers, Batch compute environments, Auto
    /// Scaling groups, and the batch metrics.
    IamPolicy(IamPolicyArgs),
    /// Replay the scenario's past nights through the scale-down gate with candidate settings.
    ///
    /// For each closed run opened within --since: its checks at the times they really ran (from
    /// the run history) and, when the config has a schedule, every check_every; with the current
    /// [scenario.scale_down] and with each --set candidate. Prints per night when it closed or
    /// would have, why (quiet / deadline / forced), the reader-hours and task-hours held above
    /// the baseline, and PREMATURE closes (a metric busy again later that night); totals at the
    /// bottom. One GetMetricData call per night; read-only (no table write, no scaling call).
    Tune(TuneArgs),
    /// The live state of a scenario's night: capacity against the target and the baseline.
    ///
    /// Per resource: ECS desired/running/pending against the night's target, the scalable
    /// target's min/max, each reader of a DocumentDB, Aurora or Neptune cluster with its status and
    /// class, a Batch environment's vCPUs, an Auto Scaling group's sizes; the run's phase (day /
    /// scaling up / ready / scaling down), the last step and its reason, the next scheduled step,
    /// a pause or hold in force. `--watch` follows it (progress bars on a terminal, one line per
    /// change otherwise) until the capacity is ready or the run closes: exit 0 then, 3 when the
    /// last step failed, 130 on Ctrl-C. Read-only: GetItem, Query and Describe calls only.
    Status(StatusArgs),
    /// The nights of a month: each date's profile (or `ordinary`), or why it has no batch.
    ///
    /// One line per night: date, weekday, profile, or skipped and why (a skip date, the
    /// holiday's name, not one of the schedule's days); the scale-up time and deadline in local
    /// time; the night's targets; and, where a local time of that night does not exist or
    /// happens twice (daylight saving), what the schedule and nightshift do then. Reads only the
    /// config (and its holiday file).
    Calendar(CalendarArgs),
}

// The option structs carry no doc comment of their own: the variant's above is the help text.

#[derive(clap::Args)]
pub struct ValidateArgs {
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
}

#[derive(clap::Args)]
pub struct CalendarArgs {
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// The scenario.
    #[arg(long)]
    pub scenario: String,
    /// The month, YYYY-MM [default: this month on the scenario's clock].
    #[arg(long)]
    pub month: Option<String>,
    /// `table` (fits 100 columns) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// Table name [default: NIGHTSHIFT_TABLE, else the config's `table`, else nightshift-runs].
    #[arg(long)]
    pub table: Option<String>,
    /// Config file, only to read its `table`.
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
    /// How long to wait for the table to become ACTIVE.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub wait: Duration,
}

#[derive(clap::Args)]
pub struct InvokeArgs {
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// Event JSON file ("-" for standard input).
    #[arg(long)]
    pub event: PathBuf,
    /// Pretend the current time is this (RFC 3339), e.g. 2026-11-25T22:00:00+09:00.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
    /// The request ID (the dedup key of last resort) [default: a random UUID].
    #[arg(long)]
    pub request_id: Option<String>,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Only this scenario's runs.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Runs opened within this long before now: a whole number and a unit s, m, h or d.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub since: Duration,
    /// Only open or closed runs. Applied to each page after it is read, so a page can list
    /// fewer than --limit runs while more follow (the footer says how many it left out).
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// `table` (fits 100 columns) or `json` (for scripts: runs and the next cursor).
    #[arg(long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// Runs read per page (1-1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Continue where the previous page stopped: the cursor it printed.
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The scenario.
    pub scenario: String,
    /// The run id, e.g. 2026-11-25 (`nightshift history --scenario S` lists them).
    pub run: String,
    /// `table` (fits 100 columns), `json` (the run and its events with their evidence), or
    /// `html` (a self-contained night report with the metric plot).
    #[arg(long, value_enum, default_value = "table")]
    pub output: NightFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// The scenario.
    #[arg(long)]
    pub scenario: String,
    /// The step to preview.
    #[arg(long, value_enum)]
    pub step: StepArg,
    /// Preview a forced scale-down ("force": true): the metrics are not consulted.
    #[arg(long)]
    pub force: bool,
    /// `table` (one call per line) or `json` (every field, each call with its parameters).
    #[arg(long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`].
    #[arg(long)]
    pub table: Option<String>,
    /// Pretend the current time is this (RFC 3339): the gate, the pause and skip dates use it.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

/// `pause` and `hold`: the scenario, until when, why and by whom.
#[derive(clap::Args)]
pub struct PlaceArgs {
    /// The scenario (checked against --config when one is given); a hold needs its open run.
    pub scenario: String,
    /// When it ends: an RFC 3339 time (2026-11-26T10:00:00+09:00) or a duration from now (12h,
    /// 2d, 90m). Must be in the future.
    #[arg(long)]
    pub until: String,
    /// Why, for whoever finds the night skipped or the capacity still up (recorded with it).
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

/// `resume` and `release`: the scenario whose pause or hold ends now.
#[derive(clap::Args)]
pub struct LiftArgs {
    /// The scenario (checked against --config when one is given).
    pub scenario: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct TemplateArgs {
    /// Config file (TOML): the same file the image bakes (its SHA-256 goes into the stack).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// The image in ECR, e.g. 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/nightshift:1.4.0-x86_64
    /// (the default of the template's ImageUri parameter).
    #[arg(long)]
    pub image_uri: String,
    #[arg(long, value_enum, default_value = "yaml")]
    pub output: TemplateFormat,
}

#[derive(clap::Args)]
pub struct IamPolicyArgs {
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// The region in every ARN, e.g. ap-northeast-1 (`*`: any region).
    #[arg(long, default_value = "*")]
    pub region: String,
    /// The 12-digit account ID in every ARN (`*`: any account).
    #[arg(long, default_value = "*")]
    pub account: String,
    /// The ARN partition: aws, aws-cn, aws-us-gov.
    #[arg(long, default_value = "aws")]
    pub partition: String,
    /// The function's execution role ARN (the stack's FunctionRoleArn output), named in the
    /// trust policy of each scenario's target role; needed when a scenario has a role_arn.
    #[arg(long)]
    pub function_role: Option<String>,
}

#[derive(clap::Args)]
pub struct TuneArgs {
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// The scenario.
    #[arg(long)]
    pub scenario: String,
    /// Nights opened within this long before now (CloudWatch keeps 1-minute data for 15 days)
    /// [default: 14d, 30d with --scale-up].
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// The scale-up lead instead: per night the scale-up, capacity ready, the batch's first
    /// busy datapoint and the margin; the latest scale-up in time on 90% of the nights.
    #[arg(long)]
    pub scale_up: bool,
    /// A candidate: KEY=VALUE[,KEY=VALUE...] of scale_down (quiet_for, min_hold, deadline,
    /// missing_data, metric.below/stat/period or metric[N].…); repeat for more candidates.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// `table` (fits 100 columns) or `json` (every figure).
    #[arg(long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`].
    #[arg(long)]
    pub table: Option<String>,
    /// Pretend the current time is this (RFC 3339): rehearsals and tests.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The scenario.
    pub scenario: String,
    /// Follow the night until the capacity is ready or the run closes.
    #[arg(long)]
    pub watch: bool,
    /// `table` (for people) or `json` (every field; with --watch, one object per line).
    #[arg(long, value_enum, default_value = "table")]
    pub output: ListFormat,
    /// How often --watch reads the state.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub every: Duration,
    /// Config file (TOML).
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: PathBuf,
    /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`].
    #[arg(long)]
    pub table: Option<String>,
    /// Pretend the current time is this (RFC 3339): the next step and the pause use it.
    #[arg(long)]
    pub now: Option<jiff::Timestamp>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StepArg {
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
pub struct StoreArgs {
    /// DynamoDB table [default: NIGHTSHIFT_TABLE, else the config's `table`, else nightshift-runs].
    #[arg(long)]
    pub table: Option<String>,
    /// Config file (optional): its `table`, and each scenario's time zone for local times.
    #[arg(long, env = "NIGHTSHIFT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StatusFilter {
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
pub enum TemplateFormat {
    Yaml,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NightFormat {
    Table,
    Json,
    Html,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s)
}
