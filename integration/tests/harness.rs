//! nightshift-specific test setup on top of `support`: a migrated table of its own per test, the
//! app wired to it, and DynamoDB clients whose calls are logged.

use crate::support;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use jiff::{SignedDuration, Timestamp};
use nightshift::app::{Adapters, App, Invocation, Settings, StepOutcome, StepRequest, StepRunner};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::scaling::ScalingClients;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::idempotency::GuardPolicy;
use nightshift::night::Why;
use nightshift::Outcome;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

pub use support::scene::CONTRACT_CONFIG;

/// A DynamoDB client on the emulator whose calls go to `log`.
pub async fn logged_client(log: &CallLog) -> aws_sdk_dynamodb::Client {
    let sdk = support::sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(log.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// Scaling clients (ECS, Application Auto Scaling, DocumentDB, CloudWatch) on the emulator whose
/// calls all go to `log`.
pub async fn logged_scaling_clients(log: &CallLog) -> ScalingClients {
    let sdk = support::sdk_config().await;
    ScalingClients::with_call_log(&sdk, log, Timeouts::default())
}

/// `Batch/<metric>{Job=<job>}` = `value` for every minute in `[from, to)` (PutMetricData with
/// explicit timestamps, 500 datapoints a call).
pub async fn publish_job_metric(
    metric: &str,
    job: &str,
    from: Timestamp,
    to: Timestamp,
    value: f64,
) {
    let sdk = support::sdk_config().await;
    let mut data = Vec::new();
    let mut t = from;
    while t < to {
        data.push(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(Dimension::builder().name("Job").value(job).build())
                .timestamp(DateTime::from_secs(t.as_second()))
                .value(value)
                .build(),
        );
        t += SignedDuration::from_mins(1);
    }
    for chunk in data.chunks(500) {
        aws_sdk_cloudwatch::Client::new(&sdk)
            .put_metric_data()
            .namespace("Batch")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutMetricData");
    }
}

/// A fresh table, migrated from migrations/, for one test.
pub async fn fresh_table() -> String {
    let table = support::unique("runs");
    let client = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
    let ms = nightshift::migrations::embedded().expect("embedded migrations parse");
    nightshift::aws::migrate::migrate(
        &client,
        &table,
        &ms,
        jiff::Timestamp::now(),
        Duration::from_secs(30),
    )
    .await
    .expect("migrate a fresh table");
    table
}

pub fn contract_config(table: &str) -> Config {
    config::parse(CONTRACT_CONFIG, "contract.toml")
        .expect("the contract config parses")
        .with_table_override(Some(table.to_string()))
}

pub fn settings() -> Settings {
    Settings {
        app_env: None,
        dry_run: false,
        guard: GuardPolicy::default(),
        timeouts: Timeouts::default(),
    }
}

/// The app on `table` with its own DynamoDB client (calls logged to `log`), whose claimed steps
/// are recorded and scale nothing ([`RecordOnly`]): the guard's tests run the real pipeline
/// (admission, guard, recording) and count its DynamoDB writes alone.
pub async fn app(table: &str, log: &CallLog) -> App {
    let store = DynamoStore::new(logged_client(log).await, table, Timeouts::default());
    let scaling =
        ScalingClients::from_sdk_config(&support::sdk_config().await, Timeouts::default());
    let adapters = Adapters {
        steps: Some(Arc::new(RecordOnly)),
        ..Adapters::new(store, scaling)
    };
    App::build(Arc::new(contract_config(table)), settings(), adapters)
}

/// A step runner that records the claimed step and makes no call at all.
pub struct RecordOnly;

#[async_trait::async_trait]
impl StepRunner for RecordOnly {
    async fn run(&self, req: &StepRequest<'_>) -> StepOutcome {
        StepOutcome::new(
            Outcome::Skipped,
            None,
            Why::new(
                format!("{} of {} was recorded, nothing scaled", req.step, req.scenario.name),
                format!(
                    "{} for scenario \"{}\" was recorded; the guard's test runner makes no AWS scaling call",
                    req.step, req.scenario.name
                ),
            ),
        )
    }
}

pub fn invocation(request_id: &str, now: &str) -> Invocation {
    Invocation {
        request_id: request_id.to_string(),
        deadline: None,
        now: now.parse().expect("test timestamp"),
        function_arn: None,
    }
}

/// The real `nightshift` CLI binary, aimed at the emulator with test credentials, and isolated
/// from the developer's AWS profile, endpoints and nightshift variables.
pub fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nightshift"));
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_ECS",
        "AWS_ENDPOINT_URL_DOCDB",
        "AWS_ENDPOINT_URL_CLOUDWATCH",
        "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
        "NIGHTSHIFT_CONFIG",
        "NIGHTSHIFT_TABLE",
        "NIGHTSHIFT_DRY_RUN",
        "USER",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ENDPOINT_URL", support::emulator_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "nightshift-test-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/nightshift-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/nightshift-test/credentials",
        );
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the nightshift binary runs")
}

/// Runs the command, expects success, returns standard output.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs the command, expects failure, returns standard error.
pub fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("UTF-8 errors")
}

/// Deliver one payload per app at the same instant (a barrier releases them together), each with
/// its own request id `req-<i>`, as N Lambda environments would; results in completion order.
pub async fn deliver_concurrently(
    apps: Vec<App>,
    payload: impl Fn(usize) -> Vec<u8>,
    now: &str,
) -> Vec<Result<nightshift::Response, nightshift::app::HandleError>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(apps.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, app) in apps.into_iter().enumerate() {
        let barrier = barrier.clone();
        let payload = payload(i);
        let inv = invocation(&format!("req-{i}"), now);
        tasks.spawn(async move {
            barrier.wait().await;
            app.handle(&payload, &inv).await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("a delivery task panicked"));
    }
    results
}
