//! The emulator side every integration test module uses: the SDK pointed at the local emulator
//! (moto_server plus integration/emulator/launcher.py), names that keep parallel tests apart, and
//! helpers that build the AWS resources tests start from.
//!
//! The emulator is started outside the test binary, once for all tests:
//! `integration/emulator/emulator.sh setup && eval "$(integration/emulator/emulator.sh start)"`
//! exports `NIGHTSHIFT_EMULATOR_URL`. Tests run in parallel threads against that one server, so
//! each test names its resources with [`unique`] instead of resetting the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};

/// The emulator's base URL (`http://127.0.0.1:PORT`) from `NIGHTSHIFT_EMULATOR_URL`.
///
/// Panics with the command to run when the variable is missing: the tests need the server.
pub fn emulator_url() -> String {
    match std::env::var("NIGHTSHIFT_EMULATOR_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "NIGHTSHIFT_EMULATOR_URL is not set: the integration tests need the local AWS emulator.\n\
             Start it and export its URL with\n    \
             integration/emulator/emulator.sh setup && eval \"$(integration/emulator/emulator.sh start)\"\n\
             then run `cargo test --test integration` (or run the test command of README.md, which \
             does all of this)."
        ),
    }
}

/// An SDK config for every client, aimed at the emulator: us-east-1, fixed test credentials, the
/// emulator as the endpoint of every service. Nothing else of the environment is consulted, so a
/// developer's AWS credentials or endpoint variables can never send a test to real AWS.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        // The SDK crates' default HTTP client is off (one stack, as in nightshift): the same
        // hyper 1 + rustls-on-ring client nightshift's src/aws/mod.rs builds.
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .region(Region::new("us-east-1"))
        .endpoint_url(emulator_url())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDNIGHTSHIFTTEST",
            "nightshift-test-secret",
            None,
            None,
            "nightshift-integration-tests",
        ))
        // A wedged emulator fails a test in seconds instead of hanging the run.
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .load()
        .await
}

/// `prefix` plus a short random suffix: a name no other test (or run) on the same server uses.
///
/// The result is lowercase and valid as a DynamoDB table name, a DocumentDB cluster or instance
/// identifier (letters, digits, single hyphens, starting with a letter, at most 63 characters,
/// leaving room for suffixes such as `-writer`) and an ECS cluster or service name. `prefix` must
/// start with a letter and hold only letters, digits and single hyphens (`_` becomes `-`).
pub fn unique(prefix: &str) -> String {
    let prefix = prefix.to_ascii_lowercase().replace('_', "-");
    assert!(
        prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !prefix.contains("--")
            && !prefix.ends_with('-')
            && prefix.len() <= 40,
        "unique({prefix:?}): the prefix must start with a letter, hold only letters, digits and \
         single hyphens, not end with a hyphen, and be at most 40 characters"
    );
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &suffix[..8])
}

/// Wipe all of the emulator's state (`POST /moto-api/reset`).
///
/// Tests run in parallel on one server, so a reset in one test deletes the resources of the others
/// mid-flight: prefer [`unique`] names, and reset only where the whole server is yours (a
/// single-threaded run, or a demo script).
pub async fn reset() {
    let url = emulator_url();
    let address = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("NIGHTSHIFT_EMULATOR_URL={url} must be an http:// URL"))
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    // A plain HTTP/1.0 request: the dev-dependencies hold no HTTP client, and this one is tiny.
    let status = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(&address)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "POST /moto-api/reset HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    })
    .await
    .expect("the reset task panicked")
    .unwrap_or_else(|e| panic!("POST {url}/moto-api/reset failed: {e}; is the emulator running?"));
    assert!(
        status.split_whitespace().nth(1) == Some("200"),
        "POST {url}/moto-api/reset answered {status:?}"
    );
}

/// POST `body` to one of the launcher's own endpoints (`/nightshift-api/...`: capacity faults,
/// the lifecycle mode's worlds, clock and events) and return its JSON answer. Blocking (a plain
/// HTTP/1.0 request, as [`reset`] makes); panics with the answer unless it is a 200.
pub fn emulator_api(path: &str, body: &serde_json::Value) -> serde_json::Value {
    let url = emulator_url();
    let address = url.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let mut stream = TcpStream::connect(&address)
        .unwrap_or_else(|e| panic!("connect to the emulator at {url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout on a connected socket");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap_or_else(|e| panic!("POST {url}{path}: {e}"));
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("POST {url}{path}: reading the answer: {e}"));
    let status = answer
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(status, Some("200"), "POST {url}{path} {body}: {answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    // An endpoint that sets no Content-Length is answered chunked, even to HTTP/1.0.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {url}{path}: {e}: {answer}"))
}

/// The payload of an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Create a DocumentDB cluster `cluster_id` (engine `docdb`) with one instance, its writer, named
/// `<cluster_id>-writer`; returns the writer's identifier.
pub async fn create_docdb_cluster(cfg: &SdkConfig, cluster_id: &str) -> String {
    create_rds_cluster(cfg, cluster_id, "docdb").await
}

/// Create an RDS-family cluster of `engine` (`docdb`, `aurora-postgresql`, `aurora-mysql`,
/// `neptune`: one RDS API) with its writer `<cluster_id>-writer`; returns the writer's identifier.
pub async fn create_rds_cluster(cfg: &SdkConfig, cluster_id: &str, engine: &str) -> String {
    let docdb = aws_sdk_docdb::Client::new(cfg);
    docdb
        .create_db_cluster()
        .db_cluster_identifier(cluster_id)
        .engine(engine)
        .master_username("nightshift")
        .master_user_password("nightshift-test-password")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBCluster {cluster_id}: {e:?}"));
    let writer = format!("{cluster_id}-writer");
    docdb
        .create_db_instance()
        .db_instance_identifier(&writer)
        .db_cluster_identifier(cluster_id)
        .engine(engine)
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateDBInstance {writer}: {e:?}"));
    writer
}

/// An Application Auto Scaling target on the service's desired count, as a team with target
/// tracking has one (nightshift raises its minimum for the night).
pub async fn register_scalable_target(
    cfg: &SdkConfig,
    cluster: &str,
    service: &str,
    min: i32,
    max: i32,
) {
    aws_sdk_applicationautoscaling::Client::new(cfg)
        .register_scalable_target()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::EcsServiceDesiredCount,
        )
        .resource_id(format!("service/{cluster}/{service}"))
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .unwrap_or_else(|e| panic!("RegisterScalableTarget service/{cluster}/{service}: {e:?}"));
}

/// Create the ECS cluster `cluster` (if new) and in it the service `service` running `desired`
/// tasks of a one-container task definition of the same name; returns the service ARN.
pub async fn create_ecs_service(
    cfg: &SdkConfig,
    cluster: &str,
    service: &str,
    desired: i32,
) -> String {
    let ecs = aws_sdk_ecs::Client::new(cfg);
    ecs.create_cluster()
        .cluster_name(cluster)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateCluster {cluster}: {e:?}"));
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("public.ecr.aws/docker/library/busybox:latest")
        .memory(128)
        .build();
    let task_definition = ecs
        .register_task_definition()
        .family(service)
        .container_definitions(container)
        .send()
        .await
        .unwrap_or_else(|e| panic!("RegisterTaskDefinition {service}: {e:?}"))
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("RegisterTaskDefinition returned no task definition ARN");
    ecs.create_service()
        .cluster(cluster)
        .service_name(service)
        .task_definition(task_definition)
        .desired_count(desired)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateService {cluster}/{service}: {e:?}"))
        .service
        .and_then(|s| s.service_arn)
        .expect("CreateService returned no service ARN")
}
