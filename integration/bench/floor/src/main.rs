//! The floor of nightshift's cold start: what any Rust Lambda function with nightshift's AWS
//! clients pays, and nothing more. The same async runtime as `bootstrap` (one thread), the SDK
//! config loaded from the environment with nightshift's timeouts and retries and the six clients
//! built from it, and the EventBridge client of `[notify]` (as `src/aws/mod.rs` does), then lambda_runtime answering every event with `{}`.
//! No logging, no config file, no event parsing.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("floor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    // nightshift's Timeouts::default() and retry policy (src/aws/mod.rs: load_sdk_config).
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        // nightshift's one HTTPS client (src/aws/mod.rs: https_client): hyper 1, rustls on ring.
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await;
    let clients = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_ecs::Client::new(&sdk),
        aws_sdk_applicationautoscaling::Client::new(&sdk),
        aws_sdk_docdb::Client::new(&sdk),
        aws_sdk_cloudwatch::Client::new(&sdk),
        aws_sdk_eventbridge::Client::new(&sdk),
    );
    let handler = service_fn(move |_event: LambdaEvent<Value>| {
        // Held by the handler, as a real function's would be; never called.
        let _clients = &clients;
        async move { Ok::<Value, lambda_runtime::Error>(Value::Object(Default::default())) }
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: the Runtime API loop stopped: {e}");
            ExitCode::FAILURE
        }
    }
}
