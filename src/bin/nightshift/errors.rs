//! The ops commands' error messages: what failed and what to check (region, credentials,
//! throttling, an endpoint that does not answer, an unknown scenario). The library's own
//! messages speak to the Lambda function, where a transient error is retried.

use anyhow::anyhow;
use nightshift::config::Config;
use nightshift::ports::{CallError, CallErrorKind, StoreError};
use nightshift::text::quoted_list;

/// "unknown scenario" with the configured ones.
pub fn unknown_scenario(name: &str, cfg: &Config) -> anyhow::Error {
    anyhow!(
        "unknown scenario \"{name}\": {} configures {}; check the name (or the --config file)",
        cfg.source,
        quoted_list(&cfg.scenario_names())
    )
}

/// A failed read of the live state, as an ops command reports it.
pub fn explain_call(e: &CallError) -> anyhow::Error {
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

/// A store error as an ops command reports it: what failed and what to check. (The store's own
/// messages speak to the Lambda function, where a transient error is retried.)
pub fn explain(e: StoreError) -> anyhow::Error {
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
