//! `bootstrap`: the Lambda entry point, a client of the Lambda Runtime API (via lambda_runtime).
//!
//! Init runs once per execution environment: logging, then the settings and the config (loaded
//! and validated here, never per event), then the AWS clients. A failure there is reported
//! through `POST /2018-06-01/runtime/init/error` with a specific `errorType` and message, logged,
//! and the process exits non-zero: Lambda shows the message, and nothing panics or loops.
//!
//! Each event then goes through [`App::handle`], exactly as `nightshift invoke` runs it, and is
//! answered by the same mapping ([`Answer`]):
//! - a `Response` (JSON) for every outcome but `rejected`;
//! - `rejected` (bad input) → an error with `errorType` `NonRetryable` and the reason;
//! - [`HandleError::Retryable`] → `Retryable`; [`HandleError::NonRetryable`] → `NonRetryable`.
//!
//! Lambda's asynchronous invocation retries every function error whatever its `errorType`;
//! the type says what a retry can achieve, for operators, alarms and DLQ consumers.

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{layers::TracingLayer, service_fn, Diagnostic, LambdaEvent, LambdaInvocation};
use nightshift::app::{Adapters, Answer, App, HandleError, Invocation, Settings, NON_RETRYABLE};
use nightshift::aws::Aws;
use nightshift::config::{self, Config, ConfigErrors, DEFAULT_CONFIG_PATH};
use nightshift::logging::{self, LogSettings};
use nightshift::{Outcome, Response, Step};
use serde::de::{Deserialize, Deserializer, Error as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Environment variables Lambda sets and lambda_runtime requires (it panics without them).
const LAMBDA_FUNCTION_VARS: [&str; 3] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Whether log lines are JSON: the handled line then carries the invocation's EMF metrics.
static JSON_LOGS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    let log_settings = LogSettings::from_env();
    let _ = JSON_LOGS.set(log_settings.format == logging::LogFormat::Json);
    logging::init(&log_settings);
    // One thread: Lambda hands this process one event at a time, and a single-threaded runtime
    // starts faster and uses less memory.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        tracing::error!(
            "AWS_LAMBDA_RUNTIME_API is not set: bootstrap is the Lambda entry point and must be started by Lambda or by the runtime interface emulator (docs/deploying.md, \"Run the image locally\"); to run one event on this machine use `nightshift invoke --config F --event E.json`"
        );
        return ExitCode::from(2);
    };

    let app = match init().await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(errorType = e.error_type(), "init failed: {e}");
            if let Err(report) = report_init_error(&api, &e).await {
                tracing::error!(
                    "could not report the init error to the Runtime API at {api}: {report}"
                );
            }
            return ExitCode::FAILURE;
        }
    };
    let app = Arc::new(app);

    let handler = service_fn(move |event: LambdaEvent<RawEvent>| {
        let app = Arc::clone(&app);
        async move { handle(&app, event).await }
    });
    // Layers run outermost last-added: the invocation span (requestId) wraps everything.
    let runtime = lambda_runtime::Runtime::new(handler)
        .layer(RawBodyLayer)
        .layer(TracingLayer::new());
    match runtime.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the Runtime API loop stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why init failed. Each is reported with its own `errorType` and a message that says what to fix.
#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("{0}")]
    Environment(String),
    #[error("{0}")]
    Settings(String),
    #[error("the config file {path} (NIGHTSHIFT_CONFIG) is not usable:\n{errors}")]
    Config { path: String, errors: ConfigErrors },
    #[error("the config file {path} has SHA-256 {baked}, but the stack was generated from a config with SHA-256 {expected} (NIGHTSHIFT_CONFIG_SHA256): the role, schedules and rules were made for another config; bake the same file into the image (docker build --build-arg CONFIG=...) or regenerate the template from this one (`nightshift template --config ...`) and deploy it")]
    ConfigMismatch {
        path: String,
        baked: String,
        expected: String,
    },
}

impl InitError {
    fn error_type(&self) -> &'static str {
        match self {
            InitError::Environment(_) => "NonRetryable.InvalidEnvironment",
            InitError::Settings(_) => "NonRetryable.InvalidSettings",
            InitError::Config { .. } => "NonRetryable.InvalidConfig",
            InitError::ConfigMismatch { .. } => "NonRetryable.ConfigMismatch",
        }
    }

    fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            error_type: self.error_type().to_string(),
            error_message: self.to_string(),
        }
    }
}

/// Everything that is done once per execution environment.
async fn init() -> Result<App, InitError> {
    check_lambda_environment(|name| std::env::var(name).ok())?;
    let settings = Settings::from_env().map_err(InitError::Settings)?;
    let config = load_config(std::env::var("NIGHTSHIFT_CONFIG").ok())?
        .with_table_override(std::env::var("NIGHTSHIFT_TABLE").ok());
    check_config_digest(&config, std::env::var("NIGHTSHIFT_CONFIG_SHA256").ok())?;
    let (app_env, dry_run) = (settings.app_env.clone(), settings.dry_run);
    let aws = Aws::from_env(settings.timeouts).await;
    let adapters = Adapters::from_aws(&aws, &config);
    let app = App::build(Arc::new(config), settings, adapters);
    let config = app.config();
    tracing::info!(
        config = %config.source,
        table = %config.table,
        scenarios = %config.scenario_names().join(","),
        app_env = app_env.as_deref().unwrap_or(""),
        dry_run,
        "nightshift {} ready",
        env!("CARGO_PKG_VERSION")
    );
    Ok(app)
}

/// lambda_runtime panics when Lambda's function variables are missing; say which instead.
fn check_lambda_environment(var: impl Fn(&str) -> Option<String>) -> Result<(), InitError> {
    let missing: Vec<&str> = LAMBDA_FUNCTION_VARS
        .into_iter()
        .filter(|name| var(name).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(InitError::Environment(format!(
            "{} not set: Lambda sets these for every function; a local Runtime API host must set them too",
            missing.join(", ")
        )));
    }
    let memory = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.trim().parse::<i32>().is_err() {
        return Err(InitError::Environment(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory:?} is not a whole number of megabytes"
        )));
    }
    Ok(())
}

/// The stack (`nightshift template`) sets NIGHTSHIFT_CONFIG_SHA256 to the digest of the config it
/// was generated from: a function whose baked config differs must not start, or a role, schedules
/// and rules made for one config would drive the code of another. Unset or empty: not checked
/// (a function deployed without the template).
fn check_config_digest(config: &Config, expected: Option<String>) -> Result<(), InitError> {
    let Some(expected) = expected
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
    else {
        return Ok(());
    };
    if expected == config.digest {
        return Ok(());
    }
    Err(InitError::ConfigMismatch {
        path: config.source.clone(),
        baked: config.digest.clone(),
        expected,
    })
}

fn load_config(path: Option<String>) -> Result<Config, InitError> {
    let path = PathBuf::from(
        path.filter(|p| !p.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_CONFIG_PATH.to_string()),
    );
    config::load(&path).map_err(|errors| InitError::Config {
        path: path.display().to_string(),
        errors,
    })
}

/// `POST /2018-06-01/runtime/init/error` with the diagnostic as its body.
async fn report_init_error(api: &str, error: &InitError) -> Result<(), String> {
    let base = format!("http://{api}")
        .parse()
        .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API={api:?} is not host:port ({e})"))?;
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(base)
        .build();
    let body = serde_json::to_vec(&error.diagnostic()).map_err(|e| e.to_string())?;
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", error.error_type())
        .header("Content-Type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.call(request))
        .await
        .map_err(|_| "no answer within 5s".to_string())?
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the Runtime API answered {}", response.status()))
    }
}

/// One event, answered as the Runtime API expects and logged in one line.
async fn handle(app: &App, event: LambdaEvent<RawEvent>) -> Result<Response, Diagnostic> {
    let request_id = event.context.request_id.clone();
    let invocation = Invocation {
        request_id: request_id.clone(),
        deadline: deadline(event.context.deadline),
        now: jiff::Timestamp::now(),
        function_arn: Some(event.context.invoked_function_arn.clone()).filter(|a| !a.is_empty()),
    };
    let started = std::time::Instant::now();
    let (result, observed) =
        nightshift::emf::observe(app.handle(&event.payload.0, &invocation)).await;
    let emf = emf_members(&result, &observed, started.elapsed());
    log_handled(&request_id, &result, emf.as_deref());
    answer(result)
}

/// The invocation's EMF members (src/emf.rs) as JSON text for the handled line's `emf` field,
/// which the JSON log format spreads into the line; None for text logs.
fn emf_members(
    result: &Result<Response, HandleError>,
    observed: &nightshift::emf::Observed,
    elapsed: Duration,
) -> Option<String> {
    if !JSON_LOGS.get().copied().unwrap_or(false) {
        return None;
    }
    let ok = result.as_ref().ok();
    let metrics = nightshift::emf::InvocationMetrics {
        scenario: ok.and_then(|r| r.scenario.as_deref()),
        step: ok.and_then(|r| r.step.map(Step::as_str)),
        outcome: ok.map(|r| r.outcome),
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        observed,
        timestamp_ms: jiff::Timestamp::now().as_millisecond(),
    };
    Some(serde_json::Value::Object(nightshift::emf::members(&metrics)).to_string())
}

/// The invocation deadline (`Lambda-Runtime-Deadline-Ms`, epoch milliseconds). 0 means the
/// header was missing: unknown, not "already expired".
fn deadline(epoch_ms: u64) -> Option<jiff::Timestamp> {
    if epoch_ms == 0 {
        return None;
    }
    i64::try_from(epoch_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// The Lambda answer for a handled event ([`Answer`], as `nightshift invoke` answers it).
fn answer(result: Result<Response, HandleError>) -> Result<Response, Diagnostic> {
    Answer::of(result)
        .into_function_result()
        .map_err(|e| Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        })
}

/// The one log line per handled event. `requestId` is repeated as a field because the
/// invocation span that also carries it is filtered out below INFO.
fn log_handled(request_id: &str, result: &Result<Response, HandleError>, emf: Option<&str>) {
    match result {
        Ok(r) => {
            let scenario = r.scenario.as_deref();
            let step = r.step.map(Step::as_str);
            let outcome = r.outcome.as_str();
            let key = r.key.as_deref();
            let run = r.run.as_deref();
            let actions = r.actions.len();
            let summary = format!(
                "{} of {}: {outcome}: {}",
                step.unwrap_or("event"),
                scenario.unwrap_or("no scenario"),
                r.reason
            );
            if r.outcome == Outcome::Rejected {
                tracing::warn!(
                    requestId = request_id,
                    scenario,
                    step,
                    outcome,
                    key,
                    run,
                    actions,
                    errorType = NON_RETRYABLE,
                    emf,
                    "{summary}"
                );
            } else {
                tracing::info!(
                    requestId = request_id,
                    scenario,
                    step,
                    outcome,
                    key,
                    run,
                    actions,
                    emf,
                    "{summary}"
                );
            }
        }
        Err(e) => {
            let error_type = e.error_type();
            tracing::error!(
                requestId = request_id,
                outcome = "error",
                errorType = error_type,
                emf,
                "event failed ({error_type}): {e}"
            );
        }
    }
}

/// The event exactly as it arrived.
///
/// lambda_runtime deserializes the invocation body into the handler's payload type before the
/// handler runs and answers a body that does not fit with its own generic error. nightshift's
/// parser must see every payload as sent: its size, depth and string limits are checked on the
/// raw bytes, and a malformed event must get its specific, non-retryable rejection (and be
/// recorded). [`RawBodyLayer`] therefore hands the body over as a hex JSON string, which this
/// type decodes back into the original bytes.
struct RawEvent(Vec<u8>);

impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex_body = String::deserialize(deserializer)?;
        hex::decode(hex_body)
            .map(RawEvent)
            .map_err(|e| D::Error::custom(format!("RawBodyLayer sent a bad body: {e}")))
    }
}

/// The layer that wraps each invocation body for [`RawEvent`] (see there).
#[derive(Clone, Copy)]
struct RawBodyLayer;

impl<S> Layer<S> for RawBodyLayer {
    type Service = RawBody<S>;

    fn layer(&self, inner: S) -> RawBody<S> {
        RawBody { inner }
    }
}

#[derive(Clone)]
struct RawBody<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for RawBody<S>
where
    S: Service<LambdaInvocation>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        invocation.body = wrap_body(&invocation.body).into();
        self.inner.call(invocation)
    }
}

fn wrap_body(body: &[u8]) -> Vec<u8> {
    let mut wrapped = Vec::with_capacity(body.len() * 2 + 2);
    wrapped.push(b'"');
    wrapped.extend_from_slice(hex::encode(body).as_bytes());
    wrapped.push(b'"');
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_body_round_trips_any_bytes_through_the_layer_encoding() {
        for body in [
            &b"{\"scenario\":\"a\",\"step\":\"check\"}"[..],
            b"{not json",
            b"",
            b"\xff\xfe\x00 not utf-8",
        ] {
            let wrapped = wrap_body(body);
            let event: RawEvent = serde_json::from_slice(&wrapped).unwrap();
            assert_eq!(event.0, body);
        }
    }

    #[test]
    fn a_missing_deadline_is_unknown_not_expired() {
        assert_eq!(deadline(0), None);
        assert_eq!(
            deadline(1_764_090_000_000),
            Some(jiff::Timestamp::from_millisecond(1_764_090_000_000).unwrap())
        );
    }

    #[test]
    fn missing_lambda_variables_are_named_instead_of_panicking() {
        let err = check_lambda_environment(|name| {
            (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "nightshift".to_string())
        })
        .unwrap_err();
        assert_eq!(err.error_type(), "NonRetryable.InvalidEnvironment");
        assert!(
            err.to_string().starts_with(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_FUNCTION_VERSION not set"
            ),
            "{err}"
        );
        let err = check_lambda_environment(|name| {
            Some(if name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
                "lots".into()
            } else {
                "x".into()
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("\"lots\""), "{err}");
        assert!(check_lambda_environment(|_| Some("128".into())).is_ok());
    }

    #[test]
    fn an_unreadable_config_is_an_invalid_config_init_error_naming_the_path() {
        let err = load_config(Some("/nonexistent/nightshift.toml".into())).unwrap_err();
        assert_eq!(err.error_type(), "NonRetryable.InvalidConfig");
        let message = err.diagnostic().error_message;
        assert!(
            message.contains("/nonexistent/nightshift.toml"),
            "{message}"
        );
        assert!(message.contains("does not exist"), "{message}");
    }

    #[test]
    fn a_config_whose_digest_differs_from_the_stacks_fails_init_naming_both_digests() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nightshift.toml");
        let config = load_config(Some(path.into())).unwrap();
        let text = std::fs::read(path).unwrap();
        let digest = nightshift::config::digest(&text);
        assert_eq!(config.digest, digest);
        // Unset, empty, equal (any case): starts.
        assert!(check_config_digest(&config, None).is_ok());
        assert!(check_config_digest(&config, Some(" ".into())).is_ok());
        assert!(check_config_digest(&config, Some(digest.to_ascii_uppercase())).is_ok());
        let other = "0".repeat(64);
        let err = check_config_digest(&config, Some(other.clone())).unwrap_err();
        assert_eq!(err.error_type(), "NonRetryable.ConfigMismatch");
        let message = err.to_string();
        assert!(
            message.contains(&digest) && message.contains(&other),
            "{message}"
        );
        assert!(message.contains("NIGHTSHIFT_CONFIG_SHA256"), "{message}");
    }
}
