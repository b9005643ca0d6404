//! The ops overrides and commands: `nightshift pause` / `resume` and
//! their effect on the handler (skipped steps, a forced scale-down that still runs, expiry),
//! `skip_dates`, `nightshift plan` (the exact calls, none of them made) and `nightshift
//! iam-policy`. Real SDK clients and the real CLI binary against the emulator; every scaling
//! and DynamoDB request of the code under test goes through a `CallLog`.

use crate::harness;
use crate::harness::{cli, fails, ok};
use crate::support::{self, create_docdb_cluster, create_ecs_service, unique};
use aws_config::SdkConfig;
use nightshift::app::{Adapters, App, Preview};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::history::{EventRecord, RunStatus};
use nightshift::night::Kind as Decision;
use nightshift::overrides::{Pause, Paused};
use nightshift::plan::reader_identifier;
use nightshift::ports::HistoryStore;
use nightshift::{Outcome, Response, Step};
use std::path::PathBuf;
use std::sync::Arc;

const SCENARIO: &str = "nightly";
/// 22:00 in Tokyo on 2026-11-25: the night's run is `2026-11-25`.
const NIGHT: &str = "2026-11-25T13:00:00Z";
const RUN: &str = "2026-11-25";

/// One test's table, ECS service (2 tasks, scalable target 1-4), DocumentDB cluster (its writer)
/// and config (night: 6 tasks, 2 readers), written to a file for the CLI.
struct World {
    sdk: SdkConfig,
    table: String,
    ecs_cluster: String,
    service: String,
    db: String,
    config: Arc<Config>,
    _dir: tempfile::TempDir,
    config_path: PathBuf,
}

impl World {
    async fn new(skip_dates: &[&str]) -> World {
        let sdk = support::sdk_config().await;
        let table = harness::fresh_table().await;
        let ecs_cluster = unique("ops");
        let service = unique("worker");
        let db = unique("opsdb");
        create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
        create_docdb_cluster(&sdk, &db).await;
        support::register_scalable_target(&sdk, &ecs_cluster, &service, 1, 4).await;
        let skip = skip_dates
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            r#"
table = "{table}"

[[scenario]]
name = "{SCENARIO}"
timezone = "Asia/Tokyo"
skip_dates = [{skip}]

  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 8

  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 2
  instance_class = "db.r6g.large"

  # No datapoints in this namespace, counted as busy: checks hold, scale-downs defer unless
  # forced or past the deadline.
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"

    [[scenario.scale_down.metric]]
    namespace = "Batch-{db}"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
"#
        );
        let config = config::parse(&text, "ops-test.toml").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("nightshift.toml");
        std::fs::write(&config_path, &text).expect("write the config");
        World {
            sdk,
            table,
            ecs_cluster,
            service,
            db,
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

    /// The app; every ECS, Application Auto Scaling, DocumentDB and CloudWatch request goes to
    /// `scaling`, every DynamoDB request to `dynamodb`.
    async fn app(&self, scaling: &CallLog, dynamodb: &CallLog) -> App {
        let clients = harness::logged_scaling_clients(scaling).await;
        let store = DynamoStore::new(
            harness::logged_client(dynamodb).await,
            &self.table,
            Timeouts::default(),
        );
        App::build(
            self.config.clone(),
            harness::settings(),
            Adapters::new(store, clients),
        )
    }

    fn reader(&self, n: u32) -> String {
        reader_identifier(&self.db, SCENARIO, n)
    }

    /// Desired count and the cluster's instance ids (sorted), read with plain SDK calls.
    async fn live(&self) -> (i32, Vec<String>) {
        let desired = aws_sdk_ecs::Client::new(&self.sdk)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.service)
            .send()
            .await
            .expect("DescribeServices")
            .services()[0]
            .desired_count();
        let mut ids: Vec<String> = aws_sdk_docdb::Client::new(&self.sdk)
            .describe_db_clusters()
            .db_cluster_identifier(&self.db)
            .send()
            .await
            .expect("DescribeDBClusters")
            .db_clusters()[0]
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier().map(str::to_string))
            .collect();
        ids.sort();
        (desired, ids)
    }

    async fn events(&self, run: &str) -> Vec<EventRecord> {
        self.store()
            .run_events(SCENARIO, run, 1000, None)
            .await
            .expect("Query run events")
            .items
    }

    fn config_arg(&self) -> String {
        self.config_path.display().to_string()
    }
}

/// A step command with its own dedup key.
fn step(step: &str, id: &str, force: bool) -> Vec<u8> {
    let force = if force { r#", "force": true"# } else { "" };
    format!(r#"{{"scenario": "{SCENARIO}", "step": "{step}", "id": "{id}"{force}}}"#).into_bytes()
}

async fn handle(app: &App, payload: &[u8], now: &str) -> Response {
    app.handle(payload, &harness::invocation(&format!("req-{now}"), now))
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", String::from_utf8_lossy(payload)))
}

fn mutating(log: &CallLog) -> Vec<String> {
    log.calls()
        .into_iter()
        .filter(|c| c.is_mutating())
        .map(|c| format!("{} {}", c.service, c.operation))
        .collect()
}

const PAUSED: &str =
    "paused until 2026-11-26T01:00:00Z (2026-11-26 10:00 Asia/Tokyo) by alice: \"long batch\"; ";

// ---------------------------------------------------------------------------------------------
// pause / resume / expiry
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn while_paused_scale_up_and_check_are_skipped_with_the_reason_and_a_forced_scale_down_still_runs(
) {
    let world = World::new(&[]).await;
    let before = world.live().await;
    let (scaling, dynamodb) = (CallLog::new(), CallLog::new());
    let app = world.app(&scaling, &dynamodb).await;
    let up = handle(&app, &step("scale-up", "up", false), NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let night = world.live().await;
    assert_eq!(night.0, 6);

    let table = world.table.clone();
    let out = ok(cli().args([
        "pause",
        SCENARIO,
        "--until",
        "2026-11-26T10:00:00+09:00",
        "--reason",
        "long batch",
        "--by",
        "alice",
        "--config",
        &world.config_arg(),
        "--table",
        &table,
        "--now",
        "2026-11-25T13:10:00Z",
    ]));
    assert!(
        out.starts_with("paused scenario \"nightly\" for 11h 50m: paused until 2026-11-26T01:00:00Z (2026-11-26 10:00 Asia/Tokyo) by alice: \"long batch\"\n"),
        "{out}"
    );
    let stored = world.store().scenario_state(SCENARIO).await.expect("state");
    assert_eq!(
        stored.pause,
        Some(Pause {
            until: "2026-11-26T01:00:00Z".parse().unwrap(),
            defers: Paused,
            by: Some("alice".into()),
            at: Some("2026-11-25T13:10:00Z".parse().unwrap()),
            reason: Some("long batch".into()),
        })
    );
    assert_eq!(
        stored.open_run.as_deref(),
        Some(RUN),
        "the run pointer is kept"
    );

    scaling.clear();
    let check = handle(&app, &step("check", "c1", false), "2026-11-25T13:20:00Z").await;
    assert_eq!(check.outcome, Outcome::Skipped, "{check:?}");
    assert!(
        check.explanation().starts_with(PAUSED),
        "{}",
        check.explanation()
    );
    assert!(
        check.explanation().contains("this check is skipped"),
        "{}",
        check.explanation()
    );
    assert_eq!(check.run.as_deref(), Some(RUN));
    let again = handle(
        &app,
        &step("scale-up", "up-2", false),
        "2026-11-25T13:25:00Z",
    )
    .await;
    assert_eq!(again.outcome, Outcome::Skipped, "{again:?}");
    assert!(
        again.explanation().starts_with(PAUSED),
        "{}",
        again.explanation()
    );
    assert!(
        again.explanation().contains("this scale-up is skipped"),
        "{}",
        again.explanation()
    );
    let scheduled = handle(
        &app,
        &step("scale-down", "d1", false),
        "2026-11-25T22:45:00Z",
    )
    .await;
    assert_eq!(scheduled.outcome, Outcome::Skipped, "{scheduled:?}");
    assert!(
        scheduled.explanation().starts_with(PAUSED),
        "{}",
        scheduled.explanation()
    );
    assert!(
        scheduled.explanation().contains("\"force\": true"),
        "{}",
        scheduled.explanation()
    );
    // Skipped before the snapshot: not a single scaling or metrics call.
    assert_eq!(scaling.calls(), [], "a paused step called AWS");
    assert_eq!(world.live().await, night, "nothing changed while paused");

    // The skipped steps are in the run's history with their reason and the pause as evidence.
    let events = world.events(RUN).await;
    let skipped: Vec<_> = events
        .iter()
        .filter(|e| e.outcome == Outcome::Skipped)
        .collect();
    assert_eq!(skipped.len(), 3, "{events:#?}");
    for e in &skipped {
        assert!(e.explanation().starts_with(PAUSED), "{}", e.explanation());
        let evidence = e.evidence.as_ref().expect("evidence");
        assert_eq!(evidence["override"], "paused");
        assert_eq!(evidence["pause"]["by"], "alice");
    }

    // A forced scale-down of the run that scaled up still runs, while paused.
    let forced = handle(
        &app,
        &step("scale-down", "d2", true),
        "2026-11-25T14:00:00Z",
    )
    .await;
    assert_eq!(forced.outcome, Outcome::Acted, "{forced:?}");
    assert!(
        forced.explanation().contains("closed"),
        "{}",
        forced.explanation()
    );
    assert_eq!(world.live().await, before, "back at the baseline");
    let run = world.store().get_run(SCENARIO, RUN).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Closed);
}

#[tokio::test]
async fn resume_lifts_the_pause_and_the_next_check_runs_again() {
    let world = World::new(&[]).await;
    let (scaling, dynamodb) = (CallLog::new(), CallLog::new());
    let app = world.app(&scaling, &dynamodb).await;
    let up = handle(&app, &step("scale-up", "up", false), NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let table = world.table.clone();
    let at = ["--table", table.as_str(), "--now", "2026-11-25T13:05:00Z"];
    let out = ok(cli()
        .args(["pause", SCENARIO, "--until", "12h", "--by", "bob"])
        .args(at));
    assert!(
        out.contains("paused until 2026-11-26T01:05:00Z by bob"),
        "{out}"
    );
    let check = handle(&app, &step("check", "c1", false), "2026-11-25T13:10:00Z").await;
    assert_eq!(check.outcome, Outcome::Skipped, "{check:?}");
    assert!(
        check
            .explanation()
            .starts_with("paused until 2026-11-26T01:05:00Z"),
        "{}",
        check.explanation()
    );

    let out = ok(cli().args(["resume", SCENARIO]).args(at));
    assert!(
        out.starts_with("resumed scenario \"nightly\": lifted the pause (paused until 2026-11-26T01:05:00Z by bob)"),
        "{out}"
    );
    let state = world.store().scenario_state(SCENARIO).await.unwrap();
    assert_eq!(state.pause, None, "resume removes the pause attributes");
    assert_eq!(state.open_run.as_deref(), Some(RUN));

    let check = handle(&app, &step("check", "c2", false), "2026-11-25T13:15:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check.explanation().contains("capacity ready"),
        "{}",
        check.explanation()
    );
    assert!(
        !check.explanation().contains("paused"),
        "{}",
        check.explanation()
    );

    let out = ok(cli().args(["resume", SCENARIO]).args(at));
    assert_eq!(out, "scenario \"nightly\" was not paused: nothing to do\n");
    // A scenario with no state item at all: nothing is created.
    let out = ok(cli().args(["resume", "never-ran"]).args(at));
    assert_eq!(
        out,
        "scenario \"never-ran\" was not paused: nothing to do\n"
    );
    let none = world.store().scenario_state("never-ran").await.unwrap();
    assert_eq!(none, Default::default());
}

#[tokio::test]
async fn a_pause_expires_by_itself_once_now_passes_until() {
    let world = World::new(&[]).await;
    let (scaling, dynamodb) = (CallLog::new(), CallLog::new());
    let app = world.app(&scaling, &dynamodb).await;
    let up = handle(&app, &step("scale-up", "up", false), NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let pause = Pause {
        until: "2026-11-25T14:00:00Z".parse().unwrap(),
        defers: Paused,
        by: Some("carol".into()),
        at: Some(NIGHT.parse().unwrap()),
        reason: None,
    };
    assert_eq!(world.store().pause(SCENARIO, &pause).await.unwrap(), None);

    let during = handle(&app, &step("check", "c1", false), "2026-11-25T13:59:59Z").await;
    assert_eq!(during.outcome, Outcome::Skipped, "{during:?}");
    assert!(
        during.explanation().starts_with(
            "paused until 2026-11-25T14:00:00Z (2026-11-25 23:00 Asia/Tokyo) by carol; "
        ),
        "{}",
        during.explanation()
    );
    // At `until` and after, the event's `now` is past the pause: it no longer skips anything.
    let at_end = handle(&app, &step("check", "c2", false), "2026-11-25T14:00:00Z").await;
    assert_eq!(at_end.outcome, Outcome::Deferred, "{at_end:?}");
    let later = handle(&app, &step("check", "c3", false), "2026-11-25T15:00:00Z").await;
    assert_eq!(later.outcome, Outcome::Deferred, "{later:?}");
    assert!(
        !later.explanation().contains("paused"),
        "{}",
        later.explanation()
    );
    let up_again = handle(
        &app,
        &step("scale-up", "up-2", false),
        "2026-11-25T15:05:00Z",
    )
    .await;
    assert!(
        up_again
            .explanation()
            .starts_with("scale-up: run 2026-11-25 was already open"),
        "{up_again:?}"
    );
    let scheduled = handle(
        &app,
        &step("scale-down", "d1", false),
        "2026-11-25T22:45:00Z",
    )
    .await;
    assert_eq!(
        scheduled.outcome,
        Outcome::Acted,
        "past the deadline: {scheduled:?}"
    );
    // Nothing cleaned the pause up: it simply is in the past.
    let state = world.store().scenario_state(SCENARIO).await.unwrap();
    assert_eq!(state.pause, Some(pause));
}

// ---------------------------------------------------------------------------------------------
// skip_dates
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_skip_date_skips_opening_the_night_on_the_local_date_and_never_strands_an_open_run() {
    // 2026-11-26 in Tokyo runs from 2026-11-25T15:00Z to 2026-11-26T15:00Z.
    let world = World::new(&["2026-11-26"]).await;
    let before = world.live().await;
    let (scaling, dynamodb) = (CallLog::new(), CallLog::new());
    let app = world.app(&scaling, &dynamodb).await;

    // 01:00 on the 26th in Tokyo (still the 25th in UTC): skipped, recorded, nothing called.
    let skipped = handle(
        &app,
        &step("scale-up", "up-skip", false),
        "2026-11-25T16:00:00Z",
    )
    .await;
    assert_eq!(skipped.outcome, Outcome::Skipped, "{skipped:?}");
    assert!(
        skipped
            .explanation()
            .starts_with("skip date 2026-11-26 (2026-11-26 01:00 on the scenario's clock, Asia/Tokyo): no run is opened tonight"),
        "{}",
        skipped.explanation()
    );
    assert_eq!(skipped.run, None);
    assert_eq!(scaling.calls(), [], "a skipped night called AWS");
    assert_eq!(world.store().latest_open_run(SCENARIO).await.unwrap(), None);
    let logged = world
        .store()
        .unattached_events("2026-11-25T16:00:00Z".parse().unwrap(), 100, None)
        .await
        .unwrap()
        .items;
    let recorded: Vec<_> = logged.iter().filter(|e| e.key == "up-skip").collect();
    assert_eq!(recorded.len(), 1, "{logged:#?}");
    assert_eq!(recorded[0].outcome, Outcome::Skipped);
    assert_eq!(recorded[0].explanation(), skipped.explanation());
    assert_eq!(
        recorded[0].evidence.as_ref().unwrap()["override"],
        "skip-date"
    );

    // The night of the 25th (22:00 local) opens as usual and runs into the skip date.
    let up = handle(&app, &step("scale-up", "up", false), "2026-11-25T13:00:00Z").await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    assert_eq!(up.run.as_deref(), Some(RUN));
    // On the skip date, the open run's check, retried scale-up and scale-down all still run.
    let check = handle(&app, &step("check", "c1", false), "2026-11-25T16:30:00Z").await;
    assert_eq!(check.outcome, Outcome::Deferred, "{check:?}");
    assert!(
        check.explanation().contains("capacity ready"),
        "{}",
        check.explanation()
    );
    let retried = handle(
        &app,
        &step("scale-up", "up-retry", false),
        "2026-11-25T16:35:00Z",
    )
    .await;
    assert!(
        retried
            .explanation()
            .starts_with("scale-up: run 2026-11-25 was already open"),
        "{retried:?}"
    );
    let down = handle(
        &app,
        &step("scale-down", "d1", false),
        "2026-11-25T22:45:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    assert!(
        down.explanation().contains("closed"),
        "{}",
        down.explanation()
    );
    assert_eq!(world.live().await, before);
}

// ---------------------------------------------------------------------------------------------
// plan
// ---------------------------------------------------------------------------------------------

fn calls_of(p: &Preview) -> Vec<(String, String, String)> {
    p.calls
        .iter()
        .map(|c| (c.call.clone(), c.resource.clone(), c.detail.clone()))
        .collect()
}

#[tokio::test]
async fn plan_shows_the_exact_calls_of_each_step_and_makes_no_mutating_call() {
    let world = World::new(&[]).await;
    let before = world.live().await;
    let service = format!("{}/{}", world.ecs_cluster, world.service);
    let readers = [world.reader(1), world.reader(2)];

    // The CLI, before the night: the calls of the scale-up, one per line.
    let config = world.config_arg();
    let plan = |step: &str, now: &str| {
        let mut cmd = cli();
        cmd.args([
            "plan",
            "--config",
            config.as_str(),
            "--scenario",
            SCENARIO,
            "--step",
            step,
            "--now",
            now,
        ]);
        cmd
    };
    let text = ok(&mut plan("scale-up", NIGHT));
    assert!(
        text.starts_with(
            "plan: scale-up of scenario \"nightly\" at 2026-11-25T13:00:00Z (2026-11-25 22:00 Asia/Tokyo)\n\
             run:      2026-11-25 (the run this scale-up would open"
        ),
        "{text}"
    );
    assert!(
        text.contains("decision: scale-up: raise the capacity for the night\n"),
        "{text}"
    );
    assert!(
        text.contains("calls:    4 the step would make now; none is made by `nightshift plan`\n"),
        "{text}"
    );
    let lines: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("SERVICE"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let heads: Vec<(&str, &str, &str)> = lines.iter().map(|w| (w[0], w[1], w[2])).collect();
    let scalable = format!("service/{service}");
    assert_eq!(
        heads,
        // The order within a step: the database readers first, then the workers.
        [
            ("docdb", "CreateDBInstance", readers[0].as_str()),
            ("docdb", "CreateDBInstance", readers[1].as_str()),
            (
                "application-autoscaling",
                "RegisterScalableTarget",
                scalable.as_str()
            ),
            ("ecs", "UpdateService", service.as_str()),
        ],
        "{text}"
    );
    let update = text
        .lines()
        .find(|l| l.starts_with("ecs "))
        .expect("an ECS line");
    assert!(update.ends_with("  desiredCount 2 -> 6"), "{update}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(plan("scale-up", NIGHT).args(["--output", "json"])))
            .expect("plan --output json parses");
    assert_eq!(json["decision"], "scale-up");
    assert_eq!(json["run"], RUN);
    assert_eq!(json["calls"].as_array().unwrap().len(), 4);
    assert_eq!(json["calls"][3]["request"]["desired"], 6);
    assert_eq!(json["calls"][0]["request"]["tags"]["nightshift:run"], RUN);
    // The CLI changed nothing: no run, same live state.
    assert_eq!(world.store().latest_open_run(SCENARIO).await.unwrap(), None);
    assert_eq!(world.live().await, before);

    // The library, with every client logged: previews of every step send no mutating call.
    let (plan_scaling, plan_dynamodb) = (CallLog::new(), CallLog::new());
    let previewer = world.app(&plan_scaling, &plan_dynamodb).await;
    let (scaling, dynamodb) = (CallLog::new(), CallLog::new());
    let app = world.app(&scaling, &dynamodb).await;
    let now = |t: &str| t.parse::<jiff::Timestamp>().unwrap();

    let up_plan = previewer
        .preview(SCENARIO, Step::ScaleUp, false, now(NIGHT))
        .await
        .expect("preview scale-up");
    assert_eq!(up_plan.decision, Decision::ScaleUp);
    let up = handle(&app, &step("scale-up", "up", false), NIGHT).await;
    assert_eq!(up.outcome, Outcome::Acted, "{up:?}");
    let made: Vec<_> = up
        .actions
        .iter()
        .map(|a| (a.call.clone(), a.resource.clone(), a.detail.clone()))
        .collect();
    assert_eq!(calls_of(&up_plan), made, "the plan is what the step did");

    let check_plan = previewer
        .preview(SCENARIO, Step::Check, false, now("2026-11-25T13:05:00Z"))
        .await
        .expect("preview check");
    assert_eq!(check_plan.decision, Decision::Continue, "{check_plan:?}");
    assert!(
        check_plan.calls.is_empty(),
        "no resize configured: {check_plan:?}"
    );
    assert!(
        check_plan.readiness.as_ref().is_some_and(|r| r.ready),
        "{check_plan:?}"
    );
    assert!(check_plan.gate.is_some());
    assert!(
        check_plan.reason.contains("scale-down:"),
        "{}",
        check_plan.reason
    );

    let held = previewer
        .preview(
            SCENARIO,
            Step::ScaleDown,
            false,
            now("2026-11-25T13:10:00Z"),
        )
        .await
        .expect("preview scale-down");
    assert_eq!(held.decision, Decision::Defer, "{held:?}");
    assert!(held.calls.is_empty());

    let forced_plan = previewer
        .preview(SCENARIO, Step::ScaleDown, true, now("2026-11-25T13:10:00Z"))
        .await
        .expect("preview forced scale-down");
    assert_eq!(forced_plan.decision, Decision::ScaleDown, "{forced_plan:?}");
    assert_eq!(forced_plan.run.as_deref(), Some(RUN));
    let ops: Vec<&str> = forced_plan.calls.iter().map(|c| c.call.as_str()).collect();
    assert_eq!(
        ops,
        [
            "RegisterScalableTarget",
            "UpdateService",
            "DeleteDBInstance",
            "DeleteDBInstance"
        ]
    );
    assert!(forced_plan.calls.iter().all(|c| !c.is_refused()));

    // Not one mutating call from the previews, on any client; reads of the table only.
    assert_eq!(mutating(&plan_scaling), Vec::<String>::new());
    assert_eq!(mutating(&plan_dynamodb), Vec::<String>::new());
    assert!(!plan_scaling.calls().is_empty() && !plan_dynamodb.calls().is_empty());
    assert!(
        plan_dynamodb.operations().iter().all(|op| op == "GetItem"),
        "{:?}",
        plan_dynamodb.operations()
    );

    // ... and the forced scale-down then makes exactly the previewed calls.
    let down = handle(
        &app,
        &step("scale-down", "down", true),
        "2026-11-25T13:10:00Z",
    )
    .await;
    assert_eq!(down.outcome, Outcome::Acted, "{down:?}");
    let made: Vec<_> = down
        .actions
        .iter()
        .map(|a| (a.call.clone(), a.resource.clone(), a.detail.clone()))
        .collect();
    assert_eq!(calls_of(&forced_plan), made);
    assert_eq!(world.live().await, before);

    // After the night: nothing to check.
    let text = ok(&mut plan("check", "2026-11-25T14:00:00Z"));
    assert!(
        text.contains("decision: skip: no open run of scenario \"nightly\""),
        "{text}"
    );
    assert!(text.contains("calls:    none"), "{text}");
}

#[tokio::test]
async fn plan_shows_a_paused_or_skipped_step_as_skipped() {
    let world = World::new(&["2026-11-27"]).await;
    let config = world.config_arg();
    let plan = |step: &str, now: &str| {
        let mut cmd = cli();
        cmd.args([
            "plan",
            "--config",
            &config,
            "--scenario",
            SCENARIO,
            "--step",
            step,
            "--now",
            now,
        ]);
        cmd
    };
    let text = ok(&mut plan("scale-up", "2026-11-27T13:00:00Z"));
    assert!(
        text.contains("decision: skip: skip date 2026-11-27"),
        "{text}"
    );
    assert!(text.contains("calls:    none"), "{text}");
    world
        .store()
        .pause(
            SCENARIO,
            &Pause {
                until: "2026-11-26T01:00:00Z".parse().unwrap(),
                defers: Paused,
                by: None,
                at: None,
                reason: None,
            },
        )
        .await
        .unwrap();
    let text = ok(&mut plan("scale-up", NIGHT));
    assert!(
        text.contains("pause:    paused until 2026-11-26T01:00:00Z\n"),
        "{text}"
    );
    assert!(
        text.contains("decision: skip: paused until 2026-11-26T01:00:00Z (2026-11-26 10:00 Asia/Tokyo); this scale-up is skipped"),
        "{text}"
    );
    // Once it has ended, the plan says so and goes on.
    let text = ok(&mut plan("scale-up", "2026-11-26T13:00:00Z"));
    assert!(
        text.contains("pause:    none in force (the last one ended at 2026-11-26T01:00:00Z)"),
        "{text}"
    );
    assert!(text.contains("decision: scale-up"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// iam-policy and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn iam_policy_prints_json_for_exactly_the_configured_resources() {
    let contract = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integration/fixtures/config/contract.toml");
    let contract = contract.display().to_string();
    let out = ok(cli().args([
        "iam-policy",
        "--config",
        &contract,
        "--region",
        "ap-northeast-1",
        "--account",
        "123456789012",
    ]));
    let policy: serde_json::Value = serde_json::from_str(&out).expect("the policy is JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().expect("statements");
    let resources = |sid: &str| -> Vec<String> {
        let s = statements
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}: {out}"));
        match &s["Resource"] {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect(),
            other => vec![other.as_str().unwrap().to_string()],
        }
    };
    // The role grants only what a night calls: the step that closes a run Queries its events on
    // the table (the night's hours), never the index, which serves only the ops CLI with the
    // operator's credentials.
    assert_eq!(
        resources("RunHistoryAndIdempotency"),
        ["arn:aws:dynamodb:ap-northeast-1:123456789012:table/nightshift-runs"]
    );
    assert!(nightshift::iam::allows(&policy, "dynamodb:Query"));
    assert_eq!(
        resources("EcsServicesOfTheConfig"),
        ["arn:aws:ecs:ap-northeast-1:123456789012:service/batch/worker"]
    );
    assert!(resources("DocDbRead")
        .contains(&"arn:aws:rds:ap-northeast-1:123456789012:cluster:batch-db".to_string()));
    assert!(nightshift::iam::allows(&policy, "rds:DeleteDBInstance"));
    assert!(!nightshift::iam::allows(&policy, "dynamodb:Scan"));

    // NIGHTSHIFT_TABLE names the deployed table, as for the function; defaults are wildcards.
    let out =
        ok(cli()
            .env("NIGHTSHIFT_TABLE", "prod-runs")
            .args(["iam-policy", "--config", &contract]));
    assert!(
        out.contains("\"arn:aws:dynamodb:*:*:table/prod-runs\""),
        "{out}"
    );

    let err = fails(cli().args(["iam-policy", "--config", &contract, "--account", "1234"]));
    assert!(
        err.contains("--account \"1234\" is not a 12-digit AWS account ID"),
        "{err}"
    );
    let err = fails(cli().args(["iam-policy", "--config", &contract, "--partition", "azure"]));
    assert!(err.contains("use aws, aws-cn or aws-us-gov"), "{err}");
}

#[tokio::test]
async fn the_ops_commands_fail_clearly() {
    let table = harness::fresh_table().await;
    let contract = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integration/fixtures/config/contract.toml")
        .display()
        .to_string();
    let now = ["--now", NIGHT];

    let err = fails(
        cli()
            .args([
                "plan",
                "--config",
                &contract,
                "--scenario",
                "nightly",
                "--step",
                "check",
            ])
            .args(now),
    );
    assert!(
        err.contains("unknown scenario \"nightly\"")
            && err.contains("configures \"nightly-batch\""),
        "{err}"
    );
    let err = fails(
        cli()
            .args([
                "plan",
                "--config",
                &contract,
                "--scenario",
                "nightly-batch",
                "--step",
                "check",
                "--force",
            ])
            .args(now),
    );
    assert!(
        err.contains("--force previews a forced scale-down"),
        "{err}"
    );
    let err = fails(
        cli()
            .args([
                "pause", "nightly", "--until", "1h", "--config", &contract, "--table", &table,
            ])
            .args(now),
    );
    assert!(err.contains("unknown scenario \"nightly\""), "{err}");
    let err = fails(
        cli()
            .args([
                "pause",
                "nightly-batch",
                "--until",
                "2026-11-25T12:00:00Z",
                "--table",
                &table,
            ])
            .args(now),
    );
    assert!(
        err.contains("is not in the future (now is 2026-11-25T13:00:00Z)"),
        "{err}"
    );
    let err = fails(
        cli()
            .args([
                "pause",
                "nightly-batch",
                "--until",
                "soon",
                "--table",
                &table,
            ])
            .args(now),
    );
    assert!(err.contains("--until \"soon\""), "{err}");
    // Nothing was written by the refused pauses.
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &table,
        Timeouts::default(),
    );
    assert_eq!(
        store.scenario_state("nightly-batch").await.unwrap(),
        Default::default()
    );

    let missing = unique("no-such-table");
    let err = fails(
        cli()
            .args([
                "pause",
                "nightly-batch",
                "--until",
                "1h",
                "--table",
                &missing,
            ])
            .args(now),
    );
    assert!(
        err.contains(&format!("run `nightshift migrate --table {missing}`")),
        "{err}"
    );
    let err = fails(
        cli()
            .args([
                "plan",
                "--config",
                &contract,
                "--scenario",
                "nightly-batch",
                "--step",
                "scale-up",
                "--table",
                &missing,
            ])
            .args(now),
    );
    assert!(err.contains("nightshift migrate"), "{err}");
    let err =
        fails(
            cli()
                .env_remove("AWS_REGION")
                .args(["resume", "nightly-batch", "--table", &table]),
        );
    assert!(err.contains("no AWS region: set AWS_REGION"), "{err}");
    let err = fails(cli().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args([
        "plan",
        "--config",
        &contract,
        "--scenario",
        "nightly-batch",
        "--step",
        "scale-up",
    ]));
    assert!(
        err.contains("AWS_ENDPOINT_URL=http://127.0.0.1:9: is that server running"),
        "{err}"
    );
    // An ECS cluster that does not exist: the read says which and what to check.
    let dir = tempfile::tempdir().expect("temp dir");
    let ghost = unique("ghost");
    let ghost_config = dir.path().join("ghost.toml");
    std::fs::write(
        &ghost_config,
        harness::CONTRACT_CONFIG.replace("cluster = \"batch\"", &format!("cluster = \"{ghost}\"")),
    )
    .unwrap();
    let ghost_config = ghost_config.display().to_string();
    let err = fails(
        cli()
            .args([
                "plan",
                "--config",
                &ghost_config,
                "--scenario",
                "nightly-batch",
                "--step",
                "scale-up",
                "--table",
                &table,
            ])
            .args(now),
    );
    assert!(err.contains(&format!("in cluster {ghost}")), "{err}");
    assert!(
        err.contains("Check the resource names in the config"),
        "{err}"
    );
}
