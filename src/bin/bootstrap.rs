//! `bootstrap`: the Lambda entry point (a client of the Lambda Runtime API, via lambda_runtime).

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use nightshift::app::{App, HandleError, Invocation, Settings};
use nightshift::{config, Response};
use std::path::PathBuf;
use std::sync::Arc;

const DEFAULT_CONFIG: &str = "/var/task/nightshift.toml";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let path = PathBuf::from(
        std::env::var("NIGHTSHIFT_CONFIG").unwrap_or_else(|_| DEFAULT_CONFIG.to_string()),
    );
    let cfg = config::load(&path)
        .map_err(|e| format!("{e}"))?
        .with_table_override(std::env::var("NIGHTSHIFT_TABLE").ok());
    let settings = Settings::from_env()?;
    let app = Arc::new(App::from_env(Arc::new(cfg), settings).await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = Arc::clone(&app);
        async move { handle(&app, event).await }
    }))
    .await
}

async fn handle(app: &App, event: LambdaEvent<serde_json::Value>) -> Result<Response, Diagnostic> {
    let payload = serde_json::to_vec(&event.payload).unwrap_or_default();
    let deadline = i64::try_from(event.context.deadline)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
    let inv = Invocation {
        request_id: event.context.request_id.clone(),
        deadline,
        now: jiff::Timestamp::now(),
    };
    app.handle(&payload, &inv).await.map_err(|e| match e {
        HandleError::Retryable(msg) => Diagnostic {
            error_type: "Retryable".into(),
            error_message: msg,
        },
        HandleError::NonRetryable(msg) => Diagnostic {
            error_type: "NonRetryable".into(),
            error_message: msg,
        },
    })
}
