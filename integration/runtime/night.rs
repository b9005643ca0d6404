//! The nightly demo (README's main-job command, run by `integration/demo.sh`): one whole night of
//! the contract's scenario, played through the Lambda Runtime API against the real `bootstrap`
//! in the Lambda-like sandbox, on the local emulator.
//!
//!   night seed   create the day-time world: DocumentDB cluster + writer, ECS service + scalable
//!                target, and the batch metric (busy) in CloudWatch
//!   night play   play the night's events, print each answer, the run history and the end state
//!
//! Needs NIGHTSHIFT_EMULATOR_URL (the emulator), NIGHTSHIFT_TABLE (migrated by `nightshift
//! migrate` between the two) and NIGHTSHIFT_BOOTSTRAP_BIN (the binary to run). demo.sh sets all.
//!
//! The night is rehearsed in the recent past: each scheduled event carries its own time as
//! `"now"` (allowed outside APP_ENV=prod), so three hours of night take seconds, and the
//! completion event arrives at the real present, when the night ends.

use nightshift_test_support::{self as support, host, scene};

use host::{Answer, Function, ImageRoot, Launch, Modes};
use jiff::{SignedDuration, Timestamp};
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::history::EventRecord;
use nightshift::ports::HistoryStore;
use scene::Scene;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

const ZONE: &str = "Asia/Tokyo";
/// How long before the present the night starts (rounded down to 10 minutes).
const NIGHT_MINUTES: i64 = 180;
/// When, after it starts, the batch finishes (its metric goes quiet).
const QUIET_FROM: i64 = 100;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    let table = std::env::var("NIGHTSHIFT_TABLE").unwrap_or_else(|_| "nightshift-runs".into());
    let scene = Scene::contract(&table);
    let cfg = support::sdk_config().await;
    // The night's start is fixed by `seed` and read back by `play`, which may run a while later.
    let start_file = host::repo_root().join("target/demo/night-start");
    match command.as_str() {
        "seed" => {
            let t0 = night_start();
            if let Err(e) = std::fs::create_dir_all(start_file.parent().unwrap_or(&start_file))
                .and_then(|()| std::fs::write(&start_file, t0.to_string()))
            {
                eprintln!("writing {}: {e}", start_file.display());
                return ExitCode::FAILURE;
            }
            support::reset().await;
            scene.create(&cfg).await;
            scene
                .put_jobs_running(&cfg, t0, at(t0, QUIET_FROM), 4.0)
                .await;
            println!(
                "seeded: DocumentDB cluster {} with its writer, ECS service {}/{} (desired {}) with a scalable target (min {} max {}), Batch/JobsRunning{{Job={}}} = 4 from {}",
                scene.docdb_cluster,
                scene.ecs_cluster,
                scene.ecs_service,
                scene::BASELINE_DESIRED,
                scene::BASELINE_MIN,
                scene::BASELINE_MAX,
                scene.job,
                local(t0)
            );
            ExitCode::SUCCESS
        }
        "play" => {
            let t0 = std::fs::read_to_string(&start_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or_else(night_start);
            play(&scene, &cfg, t0).await
        }
        _ => {
            eprintln!("usage: night seed|play (run integration/demo.sh)");
            ExitCode::from(2)
        }
    }
}

/// The night starts NIGHT_MINUTES before the present, on a 10-minute boundary, so that `seed` and
/// `play`, run a minute apart, agree on it.
fn night_start() -> Timestamp {
    let now = Timestamp::now().as_second();
    Timestamp::from_second(now - now.rem_euclid(600) - NIGHT_MINUTES * 60).expect("a valid time")
}

fn at(t0: Timestamp, minutes: i64) -> Timestamp {
    t0 + SignedDuration::from_mins(minutes)
}

fn local(t: Timestamp) -> String {
    t.in_tz(ZONE)
        .map_or_else(|_| t.to_string(), |z| z.strftime("%H:%M").to_string())
}

async fn play(scene: &Scene, cfg: &aws_config::SdkConfig, t0: Timestamp) -> ExitCode {
    let bootstrap = match std::env::var_os("NIGHTSHIFT_BOOTSTRAP_BIN") {
        Some(path) => PathBuf::from(path),
        None => match host::locate_bootstrap(None) {
            Ok((path, _)) => path,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    // The deadline after the night, so that this story is told by the metric, not the clock.
    let deadline = local(at(t0, NIGHT_MINUTES + 120));
    let config = scene.config(Some(&deadline));
    let root = match ImageRoot::build("demo", &bootstrap, &config, Modes::default()) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("laying out the image root: {e}");
            return ExitCode::FAILURE;
        }
    };
    let launch = match host::sandbox_unavailable() {
        None => Launch::Sandboxed,
        Some(reason) => {
            println!("note: {reason}; running bootstrap outside the Lambda-like sandbox");
            Launch::Direct
        }
    };
    let env: Vec<(String, String)> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTDEMO"),
        ("AWS_SECRET_ACCESS_KEY", "nightshift-demo-secret"),
        ("AWS_ENDPOINT_URL", &support::emulator_url()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("APP_ENV", "demo"),
        ("NIGHTSHIFT_TABLE", &scene.table),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut function = match Function::start(root, launch, &env, false).await {
        Ok(function) => function,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };

    println!();
    println!(
        "One night of scenario \"{}\" ({ZONE}), played through the Lambda Runtime API",
        scene.scenario
    );
    println!(
        "  bootstrap {} {}",
        bootstrap.display(),
        match launch {
            Launch::Sandboxed =>
                "in the Lambda-like sandbox (uid 993, read-only root, writable /tmp)",
            Launch::Direct => "as a plain process",
        }
    );
    println!("  scale down after {deadline} regardless (config deadline)");
    println!();
    let baseline = scene.state(cfg).await;
    println!("day-time   {baseline}");
    println!();

    let mut failed = false;
    let events: Vec<(Timestamp, &str, Vec<u8>)> = vec![
        (
            t0,
            "Scheduler: scale-up",
            scene.scheduled_step("scale-up", t0),
        ),
        (
            at(t0, 1),
            "EventBridge delivers the scale-up again",
            scene.scheduled_step("scale-up", t0),
        ),
        (
            at(t0, 30),
            "Scheduler: check (the batch is busy)",
            scene.scheduled_step("check", at(t0, 30)),
        ),
        (
            at(t0, 60),
            "Scheduler: check (still busy)",
            scene.scheduled_step("check", at(t0, 60)),
        ),
    ];
    for (i, (when, what, payload)) in events.into_iter().enumerate() {
        failed |= !send(&mut function, when, what, payload).await;
        if i == 1 {
            println!("night      {}", scene.state(cfg).await);
        }
    }
    println!(
        "{}  the batch is finishing: Batch/JobsRunning drops to 0",
        local(at(t0, QUIET_FROM))
    );
    scene
        .put_jobs_running(cfg, at(t0, QUIET_FROM), Timestamp::now(), 0.0)
        .await;
    failed |= !send(
        &mut function,
        at(t0, QUIET_FROM + 10),
        "Scheduler: check (quiet for 10 of the 15 minutes)",
        scene.scheduled_step("check", at(t0, QUIET_FROM + 10)),
    )
    .await;
    let now = Timestamp::now();
    failed |= !send(
        &mut function,
        now,
        "ECS: task of family:nightly-job STOPPED (completion)",
        scene.job_task_stopped(now),
    )
    .await;
    // The scheduled scale-down: the next 10-minute mark, just after the completion.
    let end = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(600) + 600)
        .unwrap_or(now);
    failed |= !send(
        &mut function,
        end,
        "Scheduler: scale-down",
        scene.scheduled_step("scale-down", end),
    )
    .await;

    print_history(scene, t0).await;

    let last = scene.state(cfg).await;
    println!();
    println!("morning    {last}");
    let log = host::repo_root().join("target/demo/bootstrap.log");
    if std::fs::create_dir_all(log.parent().unwrap_or(&log))
        .and_then(|()| std::fs::write(&log, function.stdout.text() + &function.stderr.text()))
        .is_ok()
    {
        println!("           (the function's JSON log: {})", log.display());
    }
    // Every handled event's line carries valid Embedded Metric Format (src/emf.rs).
    match check_emf(&function.stdout.text()) {
        Ok((count, sample)) => {
            println!("           {count} EMF lines, each valid against the EMF specification's rules; the last:");
            println!("           {sample}");
        }
        Err(problems) => {
            println!("INVALID EMF in the function's log:");
            for p in problems {
                println!("  {p}");
            }
            return ExitCode::FAILURE;
        }
    }
    if failed {
        println!("FAILED: the function did not answer every event (see above)");
        return ExitCode::FAILURE;
    }
    if !last.is_baseline() {
        println!("NOT AT BASELINE: the night ended with {last}; by day it was {baseline}");
        return ExitCode::FAILURE;
    }
    println!(
        "back at baseline: DocumentDB writer only, ECS desired {}",
        last.ecs_desired
    );
    ExitCode::SUCCESS
}

/// Send one event, print the answer; false if the function did not answer.
async fn send(function: &mut Function, when: Timestamp, what: &str, payload: Vec<u8>) -> bool {
    println!("{}  {what}", local(when));
    match function.invoke(payload).await {
        Ok(invoked) => {
            match &invoked.answer {
                Answer::Response(r) => {
                    println!(
                        "       → {}: {}",
                        r["outcome"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("")
                    );
                    let actions = r["actions"].as_array().map_or(&[][..], Vec::as_slice);
                    if r["outcome"] == "duplicate" {
                        // The first delivery's stored result: listing its calls again would read
                        // as if they had been made twice.
                        println!(
                            "           the stored result of the first delivery ({} call(s)) is replayed; nothing is called",
                            actions.len()
                        );
                    } else {
                        for action in actions {
                            println!("           {}", action_line(action));
                        }
                    }
                }
                Answer::Error(e) => {
                    println!("       → error {}: {}", e.error_type, e.error_message)
                }
            }
            true
        }
        Err(e) => {
            println!("       → no answer: {e}");
            false
        }
    }
}

fn action_line(action: &Value) -> String {
    let text = |key: &str| action[key].as_str().unwrap_or("").to_string();
    format!(
        "{} {} {}: {} [{}]",
        text("service"),
        text("call"),
        text("resource"),
        text("detail"),
        text("result")
    )
}

/// The run history as recorded in DynamoDB: the scenario's runs with their events, then the
/// events that belong to no run.
async fn print_history(scene: &Scene, t0: Timestamp) {
    let client = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
    let store = DynamoStore::new(client, scene.table.clone(), Timeouts::default());
    println!();
    println!("Run history (table {}):", scene.table);
    match store.scenario_runs(&scene.scenario, None, 10, None).await {
        Ok(page) if page.items.is_empty() => println!("  no runs recorded for {}", scene.scenario),
        Ok(page) => {
            for run in page.items {
                println!(
                    "  run {} {}: {} (opened {}{})",
                    run.run,
                    run.status.as_str(),
                    run.summary,
                    local(run.opened_at),
                    run.closed_at
                        .map(|t| format!(", closed {}", local(t)))
                        .unwrap_or_default()
                );
                match store.run_events(&scene.scenario, &run.run, 100, None).await {
                    Ok(events) => events.items.iter().for_each(print_event),
                    Err(e) => println!("    (events unreadable: {e})"),
                }
            }
        }
        Err(e) => println!("  (runs unreadable: {e})"),
    }
    // Events recorded without a run, on each UTC day the night touched.
    let midnight = |t: Timestamp| {
        Timestamp::from_second(t.as_second() - t.as_second().rem_euclid(86_400)).unwrap_or(t)
    };
    let mut day = midnight(t0);
    let mut printed_header = false;
    while day <= Timestamp::now() {
        if let Ok(page) = store.unattached_events(day, 100, None).await {
            for event in &page.items {
                if !printed_header {
                    println!("  events outside any run:");
                    printed_header = true;
                }
                print_event(event);
            }
        }
        day += SignedDuration::from_hours(24);
    }
}

fn print_event(event: &EventRecord) {
    println!(
        "    {}  {:<10} {:<22} {:<9} {}",
        local(event.received_at),
        event.step.map_or("-", |s| s.as_str()),
        event.kind,
        event.outcome.as_str(),
        event.reason
    );
}

/// Checks the function's JSON log: each line that answers an event (it has an `outcome`) carries
/// EMF, and every EMF line keeps the specification's rules ([`support::emf::check`]). The number
/// of EMF lines and the last one, or every problem found.
fn check_emf(log: &str) -> Result<(usize, String), Vec<String>> {
    let mut problems = Vec::new();
    let mut count = 0;
    let mut last = String::new();
    for (i, line) in log.lines().enumerate() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if !support::emf::is_emf(&value) {
            if value.get("outcome").is_some() {
                problems.push(format!(
                    "line {}: an answered event without EMF: {line}",
                    i + 1
                ));
            }
            continue;
        }
        count += 1;
        last = line.to_string();
        for p in support::emf::check(&value, nightshift::emf::NAMESPACE) {
            problems.push(format!("line {}: {p}", i + 1));
        }
    }
    if count == 0 {
        problems.push("no EMF line at all".into());
    }
    if problems.is_empty() {
        Ok((count, last))
    } else {
        Err(problems)
    }
}
