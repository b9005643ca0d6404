//! The container image, built and run here: the OCI archive of `integration/image/build.sh` (the
//! Dockerfile's final stage on a local stand-in for Lambda's base image, holding the bootstrap the
//! Lambda tests run), loaded into podman and run with runc as Lambda runs it (uid 993, read-only
//! root, writable `/tmp` only, the image's own entrypoint, command and environment under Lambda's
//! variables: `host::Container`), against a Runtime API host on loopback and the local emulator.
//!
//! The image is built once per test run unless `target/image` already holds one of the same
//! bootstrap (CI builds it in a step of its own). Without podman and runc (not installed, and not
//! installable: build.sh installs them as root on Debian) these tests skip with a loud message,
//! except under CI=true, where they fail: CI must prove that the image runs.

use crate::support::{host, scene};
use crate::{harness, support};
use host::{Answer, BuildError, BuiltImage, Container, ImageConfig, Invoked};
use jiff::{SignedDuration, Timestamp};
use scene::Scene;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The image under test, loaded into podman.
struct Image {
    built: BuiltImage,
    /// The id of the image the archive holds (loaded from the archive, not from the build).
    id: String,
    config: ImageConfig,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The image when it can be had; otherwise skips loudly, or fails under CI=true.
fn image(test: &str) -> Option<&'static Image> {
    static IMAGE: OnceLock<Result<Image, String>> = OnceLock::new();
    match IMAGE.get_or_init(load) {
        Ok(image) => Some(image),
        Err(reason) => {
            assert!(
                !ci(),
                "{test}: the container image cannot be built or run here: {reason}. CI must install podman and runc (integration/image/build.sh does, as root)."
            );
            // Written to stderr directly: libtest captures eprintln! of passing tests, and a skip
            // must not go unnoticed.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED {test}: the container image cannot be built or run here: {reason} !!!!!\n"
            );
            None
        }
    }
}

fn sha256(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("sha256sum {}: {e}", path.display()));
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The image of the bootstrap the Lambda tests run (see `host::locate_bootstrap`) with the
/// contract config: the last build when it holds exactly those, else a new build. Only a missing
/// podman or runc is a reason to skip; a failed build fails every test here.
fn load() -> Result<Image, String> {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
    let (bootstrap, note) = host::locate_bootstrap(Some(&debug)).unwrap_or_else(|e| panic!("{e}"));
    let wanted = sha256(&bootstrap);
    let contract = sha256(&host::repo_root().join("integration/fixtures/config/contract.toml"));
    let current = BuiltImage::read(&host::image_dir())
        .filter(|b| b.bootstrap_sha256 == wanted && b.config_sha256 == contract);
    let built = match current {
        Some(built) => built,
        None => {
            eprintln!("image tests: building the image of {note}");
            match host::build_image(&bootstrap) {
                Ok(built) => built,
                Err(BuildError::Unavailable(reason)) => return Err(reason),
                Err(BuildError::Failed(output)) => panic!("{output}"),
            }
        }
    };
    if let Some(reason) = host::runtime_unavailable() {
        return Err(reason);
    }
    let id = host::load_archive(&built.archive).unwrap_or_else(|e| panic!("{e}"));
    let config = host::inspect(&id).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "image tests run image {} ({}, bootstrap {}): {}",
        &id[..12],
        built.archive.display(),
        built.bootstrap_path.display(),
        config.inspected["Config"]
    );
    Ok(Image { built, id, config })
}

/// The function's configuration besides Lambda's own variables: the emulator, test credentials,
/// the table.
fn function_env(table: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTIMAGE"),
        ("AWS_SECRET_ACCESS_KEY", "nightshift-image-secret"),
        ("AWS_SESSION_TOKEN", "nightshift-image-session"),
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

/// A config file for a container to mount at the image's config path, readable by its user.
struct MountedConfig(PathBuf);

impl MountedConfig {
    fn write(text: &str) -> MountedConfig {
        use std::os::unix::fs::PermissionsExt;
        let dir = host::image_dir().join("runs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", support::unique("config")));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        MountedConfig(path)
    }
}

impl Drop for MountedConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn invoke(container: &mut Container, payload: Vec<u8>) -> (Invoked, Value) {
    let invoked = container
        .invoke(payload)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = match &invoked.answer {
        Answer::Response(value) => value.clone(),
        Answer::Error(e) => panic!(
            "{}",
            container.failure(&format!("expected a response, got {e:?}"))
        ),
    };
    (invoked, response)
}

fn outcome(response: &Value) -> &str {
    response["outcome"].as_str().unwrap_or("?")
}

fn tokyo(t: Timestamp) -> String {
    t.in_tz("Asia/Tokyo")
        .map_or_else(|_| t.to_string(), |z| z.strftime("%H:%M").to_string())
}

/// Every stdout line of the container is one JSON object with Lambda's fields, and each
/// invocation has exactly one line with its request ID and outcome. The lines pass through
/// podman's conmon and may arrive after the answer: waited for, up to 30 s.
async fn assert_json_logs(container: &Container, invoked: &[&Invoked]) {
    let logged = |id: &str| {
        container
            .json_log_lines()
            .iter()
            .any(|l| l["requestId"] == id && l.get("outcome").is_some())
    };
    for _ in 0..300 {
        if invoked.iter().all(|inv| logged(&inv.request_id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stdout = container.stdout();
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "message"] {
            assert!(value[field].is_string(), "no {field} in {line}");
        }
    }
    let lines = container.json_log_lines();
    for inv in invoked {
        let handled = lines
            .iter()
            .filter(|l| l["requestId"] == inv.request_id.as_str() && l.get("outcome").is_some())
            .count();
        assert_eq!(
            handled, 1,
            "one outcome line for {}:\n{stdout}",
            inv.request_id
        );
    }
}

#[tokio::test]
async fn image_plays_a_night_as_lambda_runs_it_scale_up_duplicate_checks_completion_scale_down() {
    let Some(image) = image("image_plays_a_night") else {
        return;
    };
    let cfg = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    scene.create(&cfg).await;
    let baseline = scene.state(&cfg).await;
    assert!(baseline.is_baseline(), "{baseline}");

    // The night, rehearsed: it starts three hours ago, the batch is busy for 100 minutes, and the
    // completion event arrives now. The deadline is after the night, so that the metric closes it.
    let t0 = scene::minutes_ago(180);
    let at = |minutes: i64| t0 + SignedDuration::from_mins(minutes);
    scene.put_jobs_running(&cfg, at(0), at(100), 4.0).await;
    // The scene's names and deadline replace the baked contract config (same path, mode and
    // owner); the image as shipped, with its own config, is the next test's.
    let config = MountedConfig::write(&scene.config(Some(&tokyo(at(300)))));
    let mut container = Container::start(
        &image.id,
        &function_env(&table),
        &[(config.0.clone(), host::CONFIG_IN_IMAGE)],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let (up_inv, up) = invoke(&mut container, scene.scheduled_step("scale-up", at(0))).await;
    assert_eq!(outcome(&up), "acted", "scale-up: {up}");
    let night = scene.state(&cfg).await;
    assert_eq!(night.readers(), 3, "the contract's replicas: {night}");
    assert_eq!(
        night.ecs_desired, 10,
        "the contract's desired count: {night}"
    );

    // EventBridge delivers the same scheduled event again (another Lambda request ID).
    let (dup_inv, dup) = invoke(&mut container, scene.scheduled_step("scale-up", at(0))).await;
    assert_eq!(outcome(&dup), "duplicate", "{dup}");
    assert_eq!(
        dup["actions"], up["actions"],
        "the stored result is replayed: {dup}"
    );
    assert_eq!(scene.state(&cfg).await, night, "a duplicate calls nothing");

    let mut checks = Vec::new();
    for minutes in [30, 60] {
        let (inv, checked) =
            invoke(&mut container, scene.scheduled_step("check", at(minutes))).await;
        assert_eq!(
            outcome(&checked),
            "deferred",
            "busy check at +{minutes}m: {checked}"
        );
        assert!(
            checked["reason"]
                .as_str()
                .unwrap_or("")
                .contains("JobsRunning"),
            "a busy check names the metric: {checked}"
        );
        checks.push(inv);
    }
    scene
        .put_jobs_running(&cfg, at(100), Timestamp::now(), 0.0)
        .await;
    let (inv, early) = invoke(&mut container, scene.scheduled_step("check", at(110))).await;
    assert_eq!(
        outcome(&early),
        "deferred",
        "quiet for 10 of 15 minutes: {early}"
    );
    checks.push(inv);
    assert_eq!(scene.state(&cfg).await, night, "the capacity is held");

    let (done_inv, done) = invoke(&mut container, scene.job_task_stopped(Timestamp::now())).await;
    assert_eq!(
        outcome(&done),
        "acted",
        "the completion event scales down: {done}"
    );
    assert_eq!(done["step"], "check", "{done}");
    let morning = scene.state(&cfg).await;
    assert!(morning.is_baseline(), "back at baseline: {morning}");
    assert_eq!(morning.docdb_members.len(), 1, "only the writer: {morning}");

    // The scheduled scale-down after it finds the night closed.
    let (down_inv, down) = invoke(
        &mut container,
        scene.scheduled_step("scale-down", scene::minutes_ago(-10)),
    )
    .await;
    assert_eq!(outcome(&down), "skipped", "{down}");
    assert_eq!(scene.state(&cfg).await, morning);

    let mut all = vec![&up_inv, &dup_inv, &done_inv, &down_inv];
    all.extend(checks.iter());
    assert_json_logs(&container, &all).await;
    assert!(
        container.api.unexpected_requests().is_empty(),
        "{:?}",
        container.api.unexpected_requests()
    );
    assert_eq!(container.api.init_error(), None);

    // The night as the on-call engineer reads it.
    let history = harness::ok(harness::cli().env("NIGHTSHIFT_TABLE", &table).args([
        "history",
        "--scenario",
        &scene.scenario,
        "--since",
        "2d",
        "--output",
        "json",
    ]));
    let runs: Value = serde_json::from_str(&history).expect("history --output json");
    let run = runs["runs"][0]["run"]
        .as_str()
        .unwrap_or_else(|| panic!("one run in {history}"))
        .to_string();
    assert_eq!(runs["runs"][0]["status"], "closed", "{history}");
    let table_view = harness::ok(harness::cli().env("NIGHTSHIFT_TABLE", &table).args([
        "history",
        "--scenario",
        &scene.scenario,
        "--since",
        "2d",
    ]));
    let show = harness::ok(harness::cli().env("NIGHTSHIFT_TABLE", &table).args([
        "show",
        &scene.scenario,
        &run,
    ]));
    // The duplicate is not there: its only write was the refused claim.
    for line in [
        "closed",
        "scale-up    acted",
        "check       deferred",
        "check       acted",
    ] {
        assert!(
            show.contains(line),
            "{line:?} in the run's timeline:\n{show}"
        );
    }
    eprintln!("the night the image played:\n$ nightshift history --scenario {} --since 2d\n{table_view}\n$ nightshift show {} {run}\n{show}", scene.scenario, scene.scenario);
}

#[tokio::test]
async fn image_as_shipped_starts_on_its_baked_config_and_answers_as_uid_993() {
    let Some(image) = image("image_as_shipped") else {
        return;
    };
    let table = harness::fresh_table().await;
    let mut container = Container::start(&image.id, &function_env(&table), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A check of the contract's scenario with no night open: DynamoDB only, nothing scaled.
    let event = br#"{"scenario": "nightly-batch", "step": "check"}"#.to_vec();
    let (inv, checked) = invoke(&mut container, event).await;
    assert_eq!(outcome(&checked), "skipped", "{checked}");
    assert_eq!(checked["scenario"], "nightly-batch", "{checked}");
    assert_json_logs(&container, &[&inv]).await;
    assert_eq!(container.api.init_error(), None);
}

/// The image's files and config against the rules (integration/image/rules.py), and the archive
/// against what its build says it holds.
#[tokio::test]
async fn image_config_and_files_keep_lambdas_rules() {
    let Some(image) = image("image_config_and_files") else {
        return;
    };
    assert_eq!(
        host::archive_image_id(&image.built.archive).unwrap(),
        image.built.image_id,
        "the archive holds the image its build recorded"
    );
    let base = host::inspect(&image.built.base).unwrap_or_else(|e| panic!("{e}"));
    let mounted = host::MountedImage::mount(&image.id).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sha256(&mounted.root.join("var/runtime/bootstrap")),
        image.built.bootstrap_sha256,
        "the image holds the bootstrap it was built from"
    );
    let dir = host::image_dir().join("runs");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.join(format!("{}-{name}.json", support::unique("inspect")));
        std::fs::write(&path, value.to_string()).unwrap();
        path
    };
    let (inspected, base_inspected) = (
        write("image", &image.config.inspected),
        write("base", &base.inspected),
    );
    let output = std::process::Command::new("python3")
        .arg(host::repo_root().join("integration/image/rules.py"))
        .arg("--image")
        .arg(&inspected)
        .arg("--base")
        .arg(&base_inspected)
        .arg("--root")
        .arg(&mounted.root)
        .output()
        .expect("python3 runs rules.py");
    let _ = std::fs::remove_file(&inspected);
    let _ = std::fs::remove_file(&base_inspected);
    assert!(
        output.status.success(),
        "the image breaks the rules:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // What Lambda runs: the base image's entrypoint with the handler name, as the sandbox user.
    assert_eq!(image.config.entrypoint, base.entrypoint);
    assert_eq!(image.config.user, host::LAMBDA_USER);
    assert_eq!(
        image.config.env_var("NIGHTSHIFT_CONFIG"),
        Some(host::CONFIG_IN_IMAGE)
    );
}

#[tokio::test]
async fn image_root_is_read_only_and_only_tmp_is_writable_for_uid_993() {
    let Some(image) = image("image_root_is_read_only") else {
        return;
    };
    // dash's builtins only: the image has no other tools.
    let probe = r#"
        while read -r key value rest; do
          case $key in Uid:|Gid:) echo "$key $value" ;; esac
        done < /proc/self/status
        for f in /x /var/task/x /var/runtime/x /etc/x /run/x /var/tmp/x; do
          (echo > "$f") 2>&1 || true
        done
        echo > /tmp/x && echo "tmp writable"
        test -r /var/task/nightshift.toml && echo "config readable"
        test -x /var/runtime/bootstrap && echo "bootstrap executable"
        test -r /etc/pki/tls/certs/ca-bundle.crt && echo "CA bundle readable"
        echo "cwd $PWD"
    "#;
    let name = host::container_name("probe");
    let mut args = host::lambda_run_args(&image.id, &name, &[], &[]);
    let id = args.pop().expect("the image is the last argument");
    args.extend([
        "--entrypoint".into(),
        "/bin/sh".into(),
        id,
        "-c".into(),
        probe.into(),
    ]);
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("podman").args(&args).output(),
    )
    .await
    .expect("the probe container ends")
    .expect("podman runs");
    host::remove_container(&name);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    let (uid, gid) = host::LAMBDA_USER.split_once(':').unwrap();
    assert!(
        text.contains(&format!("Uid: {uid}\n")),
        "runs as uid {uid}: {text}"
    );
    assert!(
        text.contains(&format!("Gid: {gid}\n")),
        "runs as gid {gid}: {text}"
    );
    for path in ["/x", "/var/task/x", "/var/runtime/x", "/etc/x"] {
        assert!(
            text.contains(&format!("cannot create {path}: Read-only file system")),
            "{path} is read-only: {text}"
        );
    }
    // The directories podman makes writable by default are not there (Lambda has neither).
    for path in ["/run/x", "/var/tmp/x"] {
        assert!(
            text.contains(&format!("cannot create {path}: ")),
            "{path} is not writable: {text}"
        );
    }
    for needle in [
        "tmp writable",
        "config readable",
        "bootstrap executable",
        "CA bundle readable",
        "cwd /var/task",
    ] {
        assert!(text.contains(needle), "{needle:?}: {text}");
    }
}
