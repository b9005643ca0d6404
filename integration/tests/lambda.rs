//! The Lambda function end to end: the real `bootstrap` binary (the release build when it is up
//! to date or named by NIGHTSHIFT_BOOTSTRAP_BIN, see `host::locate_bootstrap`), laid out and
//! permissioned as in the container image, run in the Lambda-like sandbox (a non-root uid, a
//! read-only root, a writable /tmp only: integration/runtime/sandbox.sh), fed events by a
//! Runtime API host on loopback, and talking to the local AWS emulator.
//!
//! Without bubblewrap (or root) these tests skip with a loud message, except under CI=true,
//! where they fail: CI must prove the image's rules, not skip them.

use crate::support::{host, scene};
use crate::{harness, support};
use host::{Answer, ErrorReport, Function, ImageRoot, Init, Invoked, Launch, Modes};
use jiff::SignedDuration;
use scene::Scene;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The bootstrap binary under test, chosen once per test run and announced once.
fn bootstrap() -> PathBuf {
    static CHOSEN: OnceLock<PathBuf> = OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let debug = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
            let (path, note) =
                host::locate_bootstrap(Some(&debug)).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("lambda tests run bootstrap: {note}");
            path
        })
        .clone()
}

/// `true` when the sandbox can run; otherwise skips loudly, or fails under CI=true.
fn sandbox_available(test: &str) -> bool {
    let Some(reason) = host::sandbox_unavailable() else {
        return true;
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{test}: the Lambda-like sandbox cannot run: {reason}. CI must install bubblewrap and run as root."
    );
    // Written to stderr directly: libtest captures eprintln! of passing tests, and a skip must
    // not go unnoticed.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!! SKIPPED {test}: the Lambda-like sandbox cannot run here: {reason} !!!!!\n"
    );
    false
}

/// The function's environment besides Lambda's own: the emulator, test credentials, the table.
fn aws_env(table: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTTEST"),
        ("AWS_SECRET_ACCESS_KEY", "nightshift-test-secret"),
        ("AWS_SESSION_TOKEN", "nightshift-test-session"),
        ("AWS_ENDPOINT_URL", &support::emulator_url()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("APP_ENV", "test"),
        ("NIGHTSHIFT_TABLE", table),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn start(name: &str, config: &str, modes: Modes, env: &[(String, String)]) -> Function {
    let root = ImageRoot::build(name, &bootstrap(), config, modes)
        .unwrap_or_else(|e| panic!("laying out the image root: {e}"));
    Function::start(root, Launch::Sandboxed, env, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn invoke(function: &mut Function, payload: impl Into<Vec<u8>>) -> Invoked {
    function
        .invoke(payload)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn response(function: &Function, invoked: &Invoked) -> Value {
    match &invoked.answer {
        Answer::Response(value) => value.clone(),
        Answer::Error(e) => panic!(
            "{}",
            function.failure(&format!("expected a response, got {e:?}"))
        ),
    }
}

fn error(function: &Function, invoked: &Invoked) -> ErrorReport {
    match &invoked.answer {
        Answer::Error(e) => e.clone(),
        Answer::Response(v) => panic!(
            "{}",
            function.failure(&format!("expected an error, got {v}"))
        ),
    }
}

/// Every stdout line is one JSON object with Lambda's fields, and each invocation has exactly
/// one "handled" line carrying its request ID, scenario, step and outcome.
fn assert_json_logs(function: &Function, invoked: &[&Invoked]) {
    let stdout = function.stdout.text();
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "message"] {
            assert!(value[field].is_string(), "no {field} in {line}");
        }
        assert!(
            value["timestamp"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok(),
            "{line}"
        );
    }
    let lines = function.json_log_lines();
    for inv in invoked {
        let handled: Vec<&Value> = lines
            .iter()
            .filter(|l| l["requestId"] == inv.request_id.as_str() && l.get("outcome").is_some())
            .collect();
        assert_eq!(
            handled.len(),
            1,
            "one outcome line for {}:\n{stdout}",
            inv.request_id
        );
        let line = handled[0];
        match &inv.answer {
            Answer::Response(r) => {
                assert_eq!(line["outcome"], r["outcome"], "{line}");
                assert_eq!(line["scenario"], r["scenario"], "{line}");
                assert_eq!(line["step"], r["step"], "{line}");
                assert_eq!(line["level"], "INFO", "{line}");
            }
            Answer::Error(e) => {
                let outcome = line["outcome"].as_str().unwrap();
                assert!(outcome == "rejected" || outcome == "error", "{line}");
                assert_eq!(line["errorType"], e.error_type.as_str(), "{line}");
            }
        }
    }
}

fn outcome(response: &Value) -> &str {
    response["outcome"].as_str().unwrap_or("?")
}

#[tokio::test]
async fn sandboxed_bootstrap_handles_a_night_scale_up_duplicate_check_scale_down() {
    if !sandbox_available("sandboxed_bootstrap_handles_a_night") {
        return;
    }
    let cfg = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    scene.create(&cfg).await;
    let baseline = scene.state(&cfg).await;
    assert!(baseline.is_baseline(), "{baseline}");

    // The night, rehearsed two hours ago: the batch is busy around the check.
    let t0 = scene::minutes_ago(120);
    let at = |minutes: i64| t0 + SignedDuration::from_mins(minutes);
    scene.put_jobs_running(&cfg, at(0), at(45), 3.0).await;

    let mut function = start(
        "night",
        &scene.config(None),
        Modes::default(),
        &aws_env(&table),
    )
    .await;

    let scale_up = invoke(&mut function, scene.scheduled_step("scale-up", at(0))).await;
    let up = response(&function, &scale_up);
    assert_eq!(up["scenario"], "nightly-batch", "{up}");
    assert_eq!(up["step"], "scale-up", "{up}");
    assert!(
        ["acted", "skipped"].contains(&outcome(&up)),
        "scale-up: {up}"
    );
    if outcome(&up) == "acted" {
        let night = scene.state(&cfg).await;
        assert_eq!(
            night.ecs_desired, 10,
            "the contract's desired count: {night}"
        );
        assert_eq!(night.readers(), 3, "the contract's replicas: {night}");
    }

    // EventBridge delivers the same scheduled event again (another Lambda request ID).
    let again = invoke(&mut function, scene.scheduled_step("scale-up", at(0))).await;
    let dup = response(&function, &again);
    assert_eq!(outcome(&dup), "duplicate", "{dup}");
    assert_eq!(dup["key"], up["key"], "{dup}");
    assert_eq!(
        dup["actions"], up["actions"],
        "the stored result is replayed: {dup}"
    );

    let check = invoke(&mut function, scene.scheduled_step("check", at(30))).await;
    let checked = response(&function, &check);
    assert_eq!(checked["step"], "check", "{checked}");
    assert!(
        ["deferred", "skipped", "acted"].contains(&outcome(&checked)),
        "check: {checked}"
    );
    if outcome(&checked) == "deferred" {
        // Busy (the metric is named, with its value) or capacity not ready yet.
        let reason = checked["reason"].as_str().unwrap();
        assert!(
            reason.contains("JobsRunning") || reason.contains("capacity"),
            "a deferred check says what it waits for: {checked}"
        );
    }

    let scale_down = invoke(
        &mut function,
        scene.forced_scale_down("ops-scale-down", at(60)),
    )
    .await;
    let down = response(&function, &scale_down);
    assert_eq!(down["step"], "scale-down", "{down}");
    assert!(
        ["acted", "skipped"].contains(&outcome(&down)),
        "scale-down: {down}"
    );
    if outcome(&up) == "acted" && outcome(&down) == "acted" {
        let after = scene.state(&cfg).await;
        assert!(after.is_baseline(), "back at baseline: {after}");
    }

    assert_json_logs(&function, &[&scale_up, &again, &check, &scale_down]);
    assert!(
        function.api.unexpected_requests().is_empty(),
        "{:?}",
        function.api.unexpected_requests()
    );
    assert_eq!(function.api.init_error(), None);
}

#[tokio::test]
async fn bootstrap_at_mode_700_cannot_start_in_the_sandbox_permission_denied() {
    if !sandbox_available("bootstrap_at_mode_700") {
        return;
    }
    let scene = Scene::unique("unused-table");
    let modes = Modes {
        bootstrap: 0o700,
        ..Modes::default()
    };
    let mut function = start(
        "bootstrap-700",
        &scene.config(None),
        modes,
        &aws_env("unused-table"),
    )
    .await;
    let status = function.wait_exit().await.unwrap_or_else(|| {
        panic!(
            "{}",
            function.failure("bootstrap at mode 700 is still running")
        )
    });
    assert!(!status.success(), "{}", function.failure("it exited 0"));
    let stderr = function.stderr.text();
    assert!(
        stderr.contains("/var/runtime/bootstrap") && stderr.contains("Permission denied"),
        "the sandbox reproduces Lambda's permission failure: {stderr}"
    );
    assert_eq!(
        function.api.next_calls(),
        0,
        "it never reached the Runtime API"
    );
}

#[tokio::test]
async fn config_at_mode_700_fails_init_with_permission_denied_through_init_error() {
    if !sandbox_available("config_at_mode_700") {
        return;
    }
    let scene = Scene::unique("unused-table");
    let modes = Modes {
        config: 0o700,
        ..Modes::default()
    };
    let mut function = start(
        "config-700",
        &scene.config(None),
        modes,
        &aws_env("unused-table"),
    )
    .await;
    let report = function
        .init_error()
        .await
        .unwrap_or_else(|| panic!("{}", function.failure("no init error")));
    assert_eq!(
        report.error_type, "NonRetryable.InvalidConfig",
        "{report:?}"
    );
    assert_eq!(report.header.as_deref(), Some("NonRetryable.InvalidConfig"));
    for needle in [
        "/var/task/nightshift.toml",
        "permission denied",
        "chmod o+r",
    ] {
        assert!(
            report.error_message.contains(needle),
            "{needle:?} in {report:?}"
        );
    }
    let status = function.wait_exit().await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "{}",
        function.failure("bootstrap must exit non-zero after an init error")
    );
    assert_eq!(function.api.next_calls(), 0);
}

#[tokio::test]
async fn sandbox_root_is_read_only_and_only_tmp_is_writable() {
    if !sandbox_available("sandbox_root_is_read_only") {
        return;
    }
    let root =
        ImageRoot::build("probe", &bootstrap(), "table = \"t\"\n", Modes::default()).unwrap();
    let probe = r#"
        id -u
        for f in /var/task/x /var/runtime/x /x /usr/x /etc/x; do
          touch "$f" 2>&1 || true
        done
        touch /tmp/x && echo "tmp writable"
        test -r /var/task/nightshift.toml && echo "config readable"
        test -x /var/runtime/bootstrap && echo "bootstrap executable"
        pwd
    "#;
    let output = tokio::process::Command::new(host::sandbox_script())
        .arg(&root.dir)
        .args(["sh", "-c", probe])
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.starts_with("993\n"), "runs as the sandbox uid: {text}");
    for path in ["/var/task/x", "/var/runtime/x", "/x", "/usr/x", "/etc/x"] {
        assert!(
            text.contains(&format!("cannot touch '{path}': Read-only file system")),
            "{path}: {text}"
        );
    }
    for needle in [
        "tmp writable",
        "config readable",
        "bootstrap executable",
        "/var/task",
    ] {
        assert!(text.contains(needle), "{needle:?}: {text}");
    }
    // Nothing reached the image root through the sandbox.
    let mut task: Vec<String> = std::fs::read_dir(root.task_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    task.sort();
    assert_eq!(task, ["nightshift.toml"]);
}

#[tokio::test]
async fn a_baked_config_other_than_the_stacks_fails_init_naming_both_digests() {
    if !sandbox_available("config_digest") {
        return;
    }
    let scene = Scene::unique("unused-table");
    let config = scene.config(None);
    let baked = nightshift::config::digest(config.as_bytes());
    // The stack was generated from the same config with one more comment line.
    let stacks = nightshift::config::digest(format!("{config}# edited\n").as_bytes());
    let mut env = aws_env("unused-table");
    env.push(("NIGHTSHIFT_CONFIG_SHA256".into(), stacks.clone()));
    let mut function = start("config-digest", &config, Modes::default(), &env).await;
    let report = function
        .init_error()
        .await
        .unwrap_or_else(|| panic!("{}", function.failure("no init error")));
    assert_eq!(
        report.error_type, "NonRetryable.ConfigMismatch",
        "{report:?}"
    );
    assert!(report.error_message.contains(&baked), "{report:?}");
    assert!(report.error_message.contains(&stacks), "{report:?}");
    assert!(
        report.error_message.contains("/var/task/nightshift.toml"),
        "{report:?}"
    );
    let status = function.wait_exit().await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "{}",
        function.failure("must exit")
    );
    assert_eq!(function.api.next_calls(), 0, "no event is taken");

    // The same config with its own digest starts and asks for an event.
    let mut env = aws_env("unused-table");
    env.push(("NIGHTSHIFT_CONFIG_SHA256".into(), baked));
    let mut function = start("config-digest-ok", &config, Modes::default(), &env).await;
    let init = function.init().await;
    assert!(
        matches!(init, Init::Ready) && function.api.next_calls() >= 1,
        "{}",
        function.failure(&format!("never polled for an event: {init:?}"))
    );
}

#[tokio::test]
async fn bad_config_fails_init_with_a_specific_message_through_init_error() {
    if !sandbox_available("bad_config_fails_init") {
        return;
    }
    let scene = Scene::unique("unused-table");
    let config = scene
        .config(None)
        .replace("replicas = 3 ", "replicas = 16 ");
    assert!(config.contains("replicas = 16"), "the fixture changed");
    let mut function = start(
        "bad-config",
        &config,
        Modes::default(),
        &aws_env("unused-table"),
    )
    .await;
    let report = function
        .init_error()
        .await
        .unwrap_or_else(|| panic!("{}", function.failure("no init error")));
    assert_eq!(
        report.error_type, "NonRetryable.InvalidConfig",
        "{report:?}"
    );
    assert!(
        report
            .error_message
            .contains("/var/task/nightshift.toml:15:"),
        "file and line: {report:?}"
    );
    assert!(report.error_message.contains("replicas"), "{report:?}");
    assert!(report.error_message.contains("16"), "{report:?}");
    let status = function.wait_exit().await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "{}",
        function.failure("bootstrap must exit non-zero, not loop")
    );
    assert_eq!(
        function.api.next_calls(),
        0,
        "no event is taken after a failed init"
    );
    // The failure is logged too, as JSON.
    let logged = function
        .json_log_lines()
        .into_iter()
        .any(|l| l["level"] == "ERROR" && l["errorType"] == "NonRetryable.InvalidConfig");
    assert!(
        logged,
        "{}",
        function.failure("the init error is not logged")
    );
}

#[tokio::test]
async fn malformed_events_get_non_retryable_errors_with_the_parsers_specific_reason() {
    if !sandbox_available("malformed_events") {
        return;
    }
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    let mut function = start(
        "malformed",
        &scene.config(None),
        Modes::default(),
        &aws_env(&table),
    )
    .await;
    let cases: [(&[u8], &str); 5] = [
        (
            b"{\"scenario\": \"nightly-batch\", \"step\": ",
            "invalid_json",
        ),
        (b"[\"scale-up\"]", "not_an_object"),
        (b"\xff\xfe{}", "invalid_json"),
        (
            b"{\"scenario\": \"nightly-batch\", \"step\": \"scale-up\", \"forse\": true}",
            "unknown_field",
        ),
        (
            b"{\"scenario\": \"daily-batch\", \"step\": \"check\"}",
            "unknown scenario \"daily-batch\"",
        ),
    ];
    let mut answers = Vec::new();
    for (payload, needle) in cases {
        let invoked = invoke(&mut function, payload).await;
        let report = error(&function, &invoked);
        assert_eq!(report.error_type, "NonRetryable", "{report:?}");
        assert!(
            report.error_message.contains(needle),
            "{needle:?} in {report:?} for {:?}",
            String::from_utf8_lossy(payload)
        );
        answers.push(invoked);
    }
    // Still serving after all of them.
    let ok = invoke(
        &mut function,
        scene.scheduled_step("check", scene::minutes_ago(5)),
    )
    .await;
    assert!(matches!(ok.answer, Answer::Response(_)), "{ok:?}");
    answers.push(ok);
    assert_json_logs(&function, &answers.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn throttled_dynamodb_call_gets_a_retryable_error() {
    if !sandbox_available("throttled_dynamodb") {
        return;
    }
    // DynamoDB that always throttles.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let dynamodb = host::serve_http(move |_request| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {
            host::HttpResponse::new(
                400,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
            )
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("x-amzn-RequestId", "THROTTLED")
        }
    })
    .await
    .unwrap();
    let scene = Scene::unique("throttled-table");
    let mut env = aws_env("throttled-table");
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.url()));
    let mut function = start("throttled", &scene.config(None), Modes::default(), &env).await;

    let invoked = invoke(
        &mut function,
        scene.scheduled_step("scale-up", scene::minutes_ago(1)),
    )
    .await;
    let report = error(&function, &invoked);
    assert_eq!(report.error_type, "Retryable", "{report:?}");
    assert!(report.error_message.contains("Throttling"), "{report:?}");
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_json_logs(&function, &[&invoked]);
}

#[tokio::test]
async fn bootstrap_outside_lambda_exits_2_and_says_how_to_run_an_event_locally() {
    let output = tokio::process::Command::new(bootstrap())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stdout}"
    );
    assert!(stdout.contains("nightshift invoke"), "{stdout}");
}
