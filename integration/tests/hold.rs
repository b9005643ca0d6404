//! `nightshift hold` / `release` and their effect on the handler. A held run's
//! checks keep the capacity and its scheduled scale-downs defer (`held until …`), past the
//! deadline too; a forced scale-down runs; the hold ends by itself, or with `release`; a pause
//! skips first; a scenario with no open run cannot be held. Real SDK clients and the real CLI
//! binary against the emulator.

use crate::harness;
use crate::harness::{cli, fails, ok};
use crate::support::{self, create_ecs_service, unique};
use aws_config::SdkConfig;
use nightshift::app::{Adapters, App};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::history::RunStatus;
use nightshift::overrides::{Held, Hold};
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Response};
use std::path::PathBuf;
use std::sync::Arc;

const SCENARIO: &str = "nightly-batch";
/// 22:00 in Tokyo on 2026-11-25: the night's run is `2026-11-25`.
const NIGHT: &str = "2026-11-25T13:00:00Z";
const RUN: &str = "2026-11-25";
/// 07:31 in Tokyo: past the 07:30 deadline.
const PAST_DEADLINE: &str = "2026-11-25T22:31:00Z";
/// 09:01 in Tokyo: past the hold's 09:00.
const AFTER_HOLD: &str = "2026-11-26T00:01:00Z";

/// One test's table, ECS service (2 tasks, night 6) and config file for the CLI; the metrics
/// have no datapoints, counted as busy, so only the deadline (or force) ends a night.
struct World {
    sdk: SdkConfig,
    table: String,
    ecs_cluster: String,
    service: String,
    config: Arc<Config>,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
}

impl World {
    async fn new() -> World {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = unique("hold");
        let service = unique("worker");
        create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        let text = format!(
            r#"
table = "{table}"

[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"

  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 8

  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"

    [[scenario.scale_down.metric]]
    namespace = "Batch-{service}"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
"#
        );
        let config = config::parse(&text, "hold-test.toml").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("nightshift.toml");
        std::fs::write(&config_path, &text).expect("write the config");
        World {
            sdk,
            table,
            ecs_cluster,
            service,
            config: Arc::new(config),
            _dir: dir,
            config_path,
        }
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.table,
            Timeouts::default(),
        )
    }

    async fn app(&self, scaling: &CallLog) -> App {
        let clients = harness::logged_scaling_clients(scaling).await;
        App::build(
            self.config.clone(),
            harness::settings(),
            Adapters::new(self.store(), clients),
        )
    }

    async fn desired(&self) -> i32 {
        aws_sdk_ecs::Client::new(&self.sdk)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.service)
            .send()
            .await
            .expect("DescribeServices")
            .services()[0]
            .desired_count()
    }

    /// `nightshift <args> --config F --table T --now now`.
    fn cli(&self, args: &[&str], now: &str) -> std::process::Command {
        let mut cmd = cli();
        cmd.args(args).args([
            "--config",
            &self.config_path.display().to_string(),
            "--table",
            &self.table,
            "--now",
            now,
        ]);
        cmd
    }

    fn hold(&self, now: &str) -> String {
        ok(&mut self.cli(
            &[
                "hold",
                SCENARIO,
                "--until",
                "2026-11-26T09:00:00+09:00",
                "--reason",
                "rerun of the billing batch",
                "--by",
                "alice",
            ],
            now,
        ))
    }
}

fn step(step: &str, id: &str, force: bool) -> Vec<u8> {
    let force = if force { r#", "force": true"# } else { "" };
    format!(r#"{{"scenario": "{SCENARIO}", "step": "{step}", "id": "{id}"{force}}}"#).into_bytes()
}

async fn handle(app: &App, payload: &[u8], now: &str) -> Response {
    app.handle(payload, &harness::invocation(&format!("req-{now}"), now))
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", String::from_utf8_lossy(payload)))
}

fn metric_reads(log: &CallLog) -> usize {
    log.calls()
        .iter()
        .filter(|c| c.operation == "GetMetricData")
        .count()
}

const HELD: &str = "held until 2026-11-26T00:00:00Z (2026-11-26 09:00 Asia/Tokyo) for run 2026-11-25 by alice: \"rerun of the billing batch\"";

#[tokio::test]
async fn a_hold_keeps_the_capacity_past_the_deadline_and_ends_by_itself() {
    let world = World::new().await;
    let scaling = CallLog::new();
    let app = world.app(&scaling).await;
    let up = handle(&app, &step("scale-up", "up", false), NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(world.desired().await, 6);

    let out = world.hold("2026-11-25T21:00:00Z");
    println!("{out}");
    assert!(
        out.starts_with(&format!("held scenario \"{SCENARIO}\": {HELD}\n")),
        "{out}"
    );
    let stored = world.store().scenario_state(SCENARIO).await.expect("state");
    assert_eq!(
        stored.hold.as_deref(),
        Some(&Hold {
            until: "2026-11-26T00:00:00Z".parse().unwrap(),
            defers: Held { run: RUN.into() },
            by: Some("alice".into()),
            at: Some("2026-11-25T21:00:00Z".parse().unwrap()),
            reason: Some("rerun of the billing batch".into()),
        })
    );

    // Past the deadline: without the hold this check would scale down. Held, it keeps the
    // capacity and reads no metric.
    scaling.clear();
    let check = handle(&app, &step("check", "c1", false), PAST_DEADLINE).await;
    println!(
        "check while held: {}",
        serde_json::to_string_pretty(&check).unwrap()
    );
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check
            .reason
            .ends_with("held until 2026-11-26 09:00: capacity kept"),
        "{}",
        check.reason
    );
    assert!(
        check.explanation().contains(HELD),
        "{}",
        check.explanation()
    );
    assert_eq!(metric_reads(&scaling), 0, "a held check read the metrics");
    let down = handle(&app, &step("scale-down", "d1", false), PAST_DEADLINE).await;
    assert_eq!(down.outcome, Outcome::Deferred, "{down:?}");
    assert_eq!(
        down.reason,
        "held until 2026-11-26 09:00: scale-down deferred"
    );
    assert_eq!(world.desired().await, 6, "nothing lowered while held");

    // `plan` and `show` say so.
    let plan = ok(&mut world.cli(
        &["plan", "--scenario", SCENARIO, "--step", "scale-down"],
        PAST_DEADLINE,
    ));
    assert!(
        plan.contains(&format!(
            "hold:     {}",
            HELD.replace(" (2026-11-26 09:00 Asia/Tokyo)", "")
        )),
        "{plan}"
    );
    assert!(
        plan.contains("decision: defer: held until 2026-11-26T00:00:00Z"),
        "{plan}"
    );
    println!("{plan}");
    let show = ok(&mut world.cli(&["show", SCENARIO, RUN], PAST_DEADLINE));
    println!("{show}");
    assert!(
        show.contains("hold:     held until 2026-11-26T00:00:00Z"),
        "{show}"
    );

    // 09:01: the hold has ended by itself; the next check scales down (deadline).
    let after = handle(&app, &step("check", "c2", false), AFTER_HOLD).await;
    assert_eq!(after.outcome, Outcome::Acted, "{after:?}");
    assert!(after.reason.contains("deadline"), "{after:?}");
    assert_eq!(world.desired().await, 2, "back at the baseline");
}

#[tokio::test]
async fn release_ends_the_hold_and_a_forced_scale_down_runs_while_held() {
    let world = World::new().await;
    let scaling = CallLog::new();
    let app = world.app(&scaling).await;
    handle(&app, &step("scale-up", "up", false), NIGHT).await;
    world.hold("2026-11-25T21:00:00Z");
    let held = handle(&app, &step("check", "c1", false), PAST_DEADLINE).await;
    assert!(held.reason.contains("held until"), "{held:?}");

    let out = ok(&mut world.cli(&["release", SCENARIO], "2026-11-25T22:40:00Z"));
    println!("{out}");
    assert!(
        out.starts_with(&format!("released scenario \"{SCENARIO}\": ended the hold (held until 2026-11-26T00:00:00Z for run 2026-11-25 by alice")),
        "{out}"
    );
    assert_eq!(
        world.store().scenario_state(SCENARIO).await.unwrap().hold,
        None
    );
    let again = ok(&mut world.cli(&["release", SCENARIO], "2026-11-25T22:41:00Z"));
    assert_eq!(
        again,
        format!("scenario \"{SCENARIO}\" was not held: nothing to do\n")
    );
    // Released: past the deadline, the scheduled scale-down goes through.
    let down = handle(
        &app,
        &step("scale-down", "d1", false),
        "2026-11-25T22:45:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert_eq!(world.desired().await, 2);

    // A second night, held, scaled down by force.
    let night2 = "2026-11-26T13:00:00Z";
    let up = handle(&app, &step("scale-up", "up2", false), night2).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let run2 = up.run.clone().expect("the second night's run");
    ok(&mut world.cli(&["hold", SCENARIO, "--until", "6h"], "2026-11-26T13:10:00Z"));
    let forced = handle(
        &app,
        &step("scale-down", "d2", true),
        "2026-11-26T14:00:00Z",
    )
    .await;
    assert_eq!(forced.outcome, Outcome::Acted, "{forced:?}");
    assert_eq!(world.desired().await, 2);
    let run = world
        .store()
        .get_run(SCENARIO, &run2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Closed);
}

#[tokio::test]
async fn hold_and_pause_together_the_pause_skips_first_and_the_hold_outlasts_it() {
    let world = World::new().await;
    let scaling = CallLog::new();
    let app = world.app(&scaling).await;
    handle(&app, &step("scale-up", "up", false), NIGHT).await;
    world.hold("2026-11-25T21:00:00Z");
    let out = ok(&mut world.cli(
        &[
            "pause",
            SCENARIO,
            "--until",
            "2026-11-26T07:45:00+09:00",
            "--by",
            "bob",
        ],
        "2026-11-25T21:05:00Z",
    ));
    assert!(out.starts_with("paused scenario"), "{out}");
    let state = world.store().scenario_state(SCENARIO).await.unwrap();
    assert!(state.hold.is_some() && state.pause.is_some(), "{state:?}");

    let paused = handle(&app, &step("check", "c1", false), PAST_DEADLINE).await;
    assert_eq!(paused.outcome, Outcome::Skipped, "{paused:?}");
    assert!(paused.reason.starts_with("paused until"), "{paused:?}");
    // 07:50: the pause is over, the hold is not: past the deadline, still held.
    let held = handle(&app, &step("check", "c2", false), "2026-11-25T22:50:00Z").await;
    assert_eq!(held.outcome, Outcome::Deferred, "{held:?}");
    assert!(
        held.reason
            .ends_with("held until 2026-11-26 09:00: capacity kept"),
        "{held:?}"
    );
    assert_eq!(world.desired().await, 6);
}

#[tokio::test]
async fn a_scenario_with_no_open_run_cannot_be_held_and_says_what_to_do_instead() {
    let world = World::new().await;
    let err = fails(&mut world.cli(&["hold", SCENARIO, "--until", "3h"], "2026-11-25T21:00:00Z"));
    println!("{err}");
    assert!(
        err.contains(&format!(
            "scenario \"{SCENARIO}\" has no open run in table \"{}\"",
            world.table
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("nightshift pause {SCENARIO} --until T")),
        "{err}"
    );
    assert_eq!(
        world.store().scenario_state(SCENARIO).await.unwrap().hold,
        None
    );

    // After a night closed, too: its run is no longer open.
    let scaling = CallLog::new();
    let app = world.app(&scaling).await;
    handle(&app, &step("scale-up", "up", false), NIGHT).await;
    handle(&app, &step("scale-down", "d", true), "2026-11-25T14:00:00Z").await;
    let err = fails(&mut world.cli(&["hold", SCENARIO, "--until", "3h"], "2026-11-25T15:00:00Z"));
    assert!(err.contains("has no open run"), "{err}");
    // A time in the past is refused as for a pause.
    let err = fails(&mut world.cli(
        &["hold", SCENARIO, "--until", "2026-11-25T10:00:00Z"],
        "2026-11-25T15:00:00Z",
    ));
    assert!(err.contains("a hold must end later than now"), "{err}");
}
