//! Adapters to AWS: the only modules that import `aws_sdk_*`.
//!
//! The scaling adapters (`ecs`, `autoscaling`, `docdb`, and the worker kinds' `batch` and `asg`)
//! and the clients of other regions and
//! accounts (`accounts`) are private to this module: their SDK clients and mutating methods are
//! reached only through [`scaling::ScalingClients`], whose `execute` makes a call the safety check
//! allowed and nothing else.
//!
//! The SDK configuration comes from the environment only (`AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`, credentials), so the same binary runs against AWS or a local
//! emulator without code changes (local-aws.md).

mod accounts;
mod asg;
mod autoscaling;
mod batch;
pub mod calls;
pub mod cloudwatch;
mod docdb;
pub mod dynamodb;
mod ecs;
pub mod events;
pub mod migrate;
pub mod scaling;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// SDK timeouts. The SDK sets no operation timeout by default (aws-facts.md): without one a
/// stalled connection would eat the whole Lambda deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// One HTTP attempt.
    pub attempt: Duration,
    /// One operation, all retries included.
    pub operation: Duration,
    /// Kept free before the invocation deadline to record the outcome.
    pub deadline_margin: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(12),
            deadline_margin: Duration::from_millis(1500),
        }
    }
}

impl Timeouts {
    /// The timeout config for one operation given the time left in the invocation: the operation
    /// and its attempts end before the deadline, leaving `deadline_margin` to record the outcome.
    pub fn within(&self, remaining: Option<Duration>) -> TimeoutConfig {
        let floor = Duration::from_millis(500);
        let operation = match remaining {
            Some(left) => self
                .operation
                .min(left.saturating_sub(self.deadline_margin))
                .max(floor),
            None => self.operation,
        };
        TimeoutConfig::builder()
            .connect_timeout(self.connect.min(operation))
            .operation_attempt_timeout(self.attempt.min(operation))
            .operation_timeout(operation)
            .build()
    }
}

/// The one HTTPS client of every AWS client (and of aws-config's own credential and SSO calls):
/// hyper 1 and rustls 0.23 on ring, the system's root certificates, full certificate
/// verification. Chosen explicitly because the SDK crates' default features would link a second,
/// legacy stack (see BENCHMARKS.md, "One HTTP/TLS stack"). Building it does no I/O: the trust
/// store is read when the first connection is made.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Load the shared SDK config from the environment, with nightshift's timeouts and retries.
pub async fn load_sdk_config(timeouts: &Timeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(timeouts.within(None))
        // Standard retries: 3 attempts with backoff, bounded by the operation timeout above.
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// The AWS side of one process: the SDK config (endpoints, region, credentials) read from the
/// environment once, and the adapters built from it. The binaries reach AWS through this type
/// only; nothing outside src/aws names an SDK type.
#[derive(Clone)]
pub struct Aws {
    sdk: SdkConfig,
    timeouts: Timeouts,
}

impl Aws {
    /// From the environment, as the Lambda function runs.
    pub async fn from_env(timeouts: Timeouts) -> Aws {
        Aws {
            sdk: load_sdk_config(&timeouts).await,
            timeouts,
        }
    }

    /// From the environment, for the ops commands: region and credentials are checked first,
    /// because without them the SDK fails later with a dispatch error that does not say what is
    /// missing. The error says what to set.
    pub async fn checked_from_env(timeouts: Timeouts) -> Result<Aws, String> {
        use aws_sdk_dynamodb::config::ProvideCredentials;
        let aws = Aws::from_env(timeouts).await;
        if aws.sdk.region().is_none() {
            return Err("no AWS region: set AWS_REGION (for example `export AWS_REGION=us-east-1`) or a region in your AWS profile".into());
        }
        let hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (against a local emulator any non-empty values do)";
        let Some(provider) = aws.sdk.credentials_provider() else {
            return Err(format!("no AWS credentials provider: {hint}"));
        };
        match tokio::time::timeout(Duration::from_secs(20), provider.provide_credentials()).await {
            Ok(Ok(_)) => Ok(aws),
            Ok(Err(e)) => Err(format!(
                "no AWS credentials found ({}): {hint}",
                crate::text::error_chain(&e)
            )),
            Err(_) => Err(format!("timed out looking for AWS credentials: {hint}")),
        }
    }

    /// The run-history and guard store on `table`.
    pub fn store(&self, table: &str) -> dynamodb::DynamoStore {
        // Every call is counted into the invocation's EMF metrics (`AwsCalls`).
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .interceptor(calls::CallCounter)
            .build();
        dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            table,
            self.timeouts,
        )
    }

    /// The scaling and metric adapters.
    pub fn scaling(&self) -> scaling::ScalingClients {
        scaling::ScalingClients::from_sdk_config(&self.sdk, self.timeouts)
    }

    /// nightshift's own events (`[notify] event_bus`).
    pub fn events(&self) -> events::EventsClient {
        events::EventsClient::new(&self.sdk)
    }

    /// Apply `migrations` to `table` (`nightshift migrate`).
    pub async fn migrate(
        &self,
        table: &str,
        migrations: &[crate::migrations::Migration],
        now: jiff::Timestamp,
        wait: Duration,
    ) -> Result<migrate::MigrateReport, migrate::MigrateError> {
        migrate::migrate(
            &aws_sdk_dynamodb::Client::new(&self.sdk),
            table,
            migrations,
            now,
            wait,
        )
        .await
    }
}

/// How a failed AWS call should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, timeouts, connection failures, 5xx: retry later.
    Transient,
    /// Access denied: fail clearly, naming the missing permission.
    AccessDenied,
    /// A named resource does not exist.
    NotFound,
    /// Anything else a retry will not fix.
    Permanent,
}

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
];

/// Classify an SDK error by its transport failure or error code.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Transient
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            classify_code(code, status)
        }
        // A request the SDK could not build is a bug or bad input, not a passing fault.
        _ => ErrorClass::Permanent,
    }
}

fn classify_code(code: &str, status: u16) -> ErrorClass {
    if THROTTLING_CODES.contains(&code) || status >= 500 || status == 429 {
        ErrorClass::Transient
    } else if code.contains("AccessDenied") || code == "UnauthorizedOperation" || status == 403 {
        ErrorClass::AccessDenied
    } else if code == "ResourceNotFoundException"
        || code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
    {
        ErrorClass::NotFound
    } else {
        ErrorClass::Permanent
    }
}

/// A one-line description of an SDK error: code and message when the service sent them, the
/// transport failure otherwise (the SDK's own Display is just "service error").
pub fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => format!("{e}"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                "timed out connecting".to_string()
            } else if d.is_io() {
                format!("could not connect ({})", crate::text::error_chain(err))
            } else {
                format!("request failed ({})", crate::text::error_chain(err))
            }
        }
        other => crate::text::error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_timeout_fits_inside_the_remaining_time() {
        let t = Timeouts::default();
        let cfg = t.within(Some(Duration::from_secs(4)));
        assert_eq!(cfg.operation_timeout(), Some(Duration::from_millis(2500)));
        assert_eq!(
            cfg.operation_attempt_timeout(),
            Some(Duration::from_millis(2500))
        );
        let cfg = t.within(Some(Duration::from_secs(600)));
        assert_eq!(cfg.operation_timeout(), Some(Duration::from_secs(12)));
        assert_eq!(
            cfg.operation_attempt_timeout(),
            Some(Duration::from_secs(5))
        );
        // Out of time: still a small positive timeout, never "none".
        let cfg = t.within(Some(Duration::ZERO));
        assert_eq!(cfg.operation_timeout(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            classify_code("ThrottlingException", 400),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_code("ProvisionedThroughputExceededException", 400),
            ErrorClass::Transient
        );
        assert_eq!(classify_code("Whatever", 503), ErrorClass::Transient);
        assert_eq!(
            classify_code("AccessDeniedException", 400),
            ErrorClass::AccessDenied
        );
        assert_eq!(
            classify_code("ResourceNotFoundException", 400),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code("DBClusterNotFoundFault", 404),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code("ValidationException", 400),
            ErrorClass::Permanent
        );
    }
}
