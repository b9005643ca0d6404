//! nightshift's benchmarks (`integration/bench.sh`): figures printed as Markdown tables, never
//! timed assertions. The machines are shared and noisy, so every timing is repeated and quoted as
//! a median with its p90 or its range, with the number of repetitions.
//!
//!   bench [all | calls | cold | events | queries]...
//!
//! - `calls`   AWS calls per event kind, counted by `CallLog` on an in-process `App` (one run
//!   each: deterministic).
//! - `cold`    cold start of the real `bootstrap`: spawn → first `GET invocation/next` (init) and
//!   spawn → first answer of a real event; peak RSS after that first event; an init breakdown.
//! - `events`  rounds of nights through the Runtime API: CPU (utime+stime) and wall time per event
//!   kind, peak RSS after init and after the night.
//! - `queries` run-history query cost at two table sizes: items returned, items read, requests.
//! - `trends`  `nightshift report`'s reads at the same two table sizes (integration/bench/trends.rs).
//! - `side`    nightshift beside the floor (lambda_runtime + the SDK clients) and a Python
//!   baseline (Powertools + boto3 under awslambdaric): cold starts, CPU per event, peak RSS,
//!   instructions to the first poll (side.rs); then the side-by-side table and the performance targets
//!   with PASS/MISS (targets.rs).
//!
//! Needs NIGHTSHIFT_EMULATOR_URL (an emulator of the benchmark's own: sections reset it) and the
//! bootstrap binary (NIGHTSHIFT_BOOTSTRAP_BIN, else target/release/bootstrap). Repetitions:
//! NIGHTSHIFT_BENCH_N (cold starts per kind and launch, 15), NIGHTSHIFT_BENCH_K (events per kind
//! and round, 20), NIGHTSHIFT_BENCH_ROUNDS (5), NIGHTSHIFT_BENCH_QUERY_REPS (20),
//! NIGHTSHIFT_BENCH_SIZES (runs per table, "100,10000"); the side section's NIGHTSHIFT_BENCH_SIDE_N
//! (cold starts per function, 20), NIGHTSHIFT_BENCH_SIDE_ROUNDS (3),
//! NIGHTSHIFT_BENCH_CALLGRIND_REPS (3), NIGHTSHIFT_FLOOR_BIN, NIGHTSHIFT_BENCH_PYTHON.

use nightshift_test_support::{self as support, host, scene};

mod calls;
mod cold;
mod events;
mod lambda;
mod queries;
mod report;
mod side;
mod targets;
mod trends;

use host::Launch;
use jiff::{SignedDuration, Timestamp};
use scene::Scene;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The scenario's zone (the contract config's).
pub const ZONE: &str = "Asia/Tokyo";
/// How long before the present a night starts (rounded down to 10 minutes), as in the demo.
pub const NIGHT_MINUTES: i64 = 180;
/// When, after it starts, the batch metric goes quiet.
pub const QUIET_FROM: i64 = 100;

/// What every section needs.
pub struct Bench {
    pub bootstrap: PathBuf,
    /// The launch of the per-event measurements: the sandbox when it can run, as Lambda runs it.
    pub launch: Launch,
    /// Every launch this machine can do (cold starts are measured in each).
    pub launches: Vec<Launch>,
    pub out: PathBuf,
    pub ticks_per_s: u64,
    pub n: usize,
    pub k: usize,
    pub rounds: usize,
    pub query_reps: usize,
    pub sizes: Vec<usize>,
    /// The night every section plays: its start, 3 hours ago.
    pub t0: Timestamp,
}

impl Bench {
    pub fn at(&self, minutes: i64) -> Timestamp {
        self.t0 + SignedDuration::from_mins(minutes)
    }

    /// The config deadline: after the night, so that the metric tells the story, not the clock.
    pub fn deadline(&self) -> String {
        local(self.at(NIGHT_MINUTES + 120))
    }

    /// A log file under target/bench/logs.
    pub fn log(&self, name: &str) -> PathBuf {
        self.out.join("logs").join(format!("{name}.log"))
    }
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut sections: Vec<String> = std::env::args().skip(1).collect();
    if sections.is_empty() || sections.iter().any(|s| s == "all") {
        sections = ["calls", "cold", "events", "queries", "trends", "side"]
            .map(String::from)
            .to_vec();
    }
    for s in &sections {
        if !["calls", "cold", "events", "queries", "trends", "side"].contains(&s.as_str()) {
            eprintln!("usage: bench [all | calls | cold | events | queries | trends | side]...");
            std::process::exit(2);
        }
    }
    let bootstrap = match host::locate_bootstrap(None) {
        Ok((path, _)) => path,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let sandbox = host::sandbox_unavailable();
    let launches = match &sandbox {
        None => vec![Launch::Direct, Launch::Sandboxed],
        Some(_) => vec![Launch::Direct],
    };
    let out = host::repo_root().join("target/bench");
    std::fs::create_dir_all(out.join("logs")).expect("creating target/bench/logs");
    let sizes: Vec<usize> = std::env::var("NIGHTSHIFT_BENCH_SIZES")
        .unwrap_or_else(|_| "100,10000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("NIGHTSHIFT_BENCH_SIZES is a comma-separated list of run counts")
        })
        .collect();
    let bench = Bench {
        launch: *launches.last().expect("at least the direct launch"),
        launches,
        bootstrap,
        out,
        ticks_per_s: lambda::clock_ticks(),
        n: env_number("NIGHTSHIFT_BENCH_N", 15).max(1),
        k: env_number("NIGHTSHIFT_BENCH_K", 20).max(1),
        rounds: env_number("NIGHTSHIFT_BENCH_ROUNDS", 5).max(1),
        query_reps: env_number("NIGHTSHIFT_BENCH_QUERY_REPS", 20).max(1),
        sizes,
        t0: night_start(),
    };

    let started = Instant::now();
    print_header(&bench, sandbox.as_deref());
    for section in &sections {
        let began = Instant::now();
        match section.as_str() {
            "calls" => calls::run(&bench).await,
            "cold" => cold::run(&bench).await,
            "events" => events::run(&bench).await,
            "queries" => queries::run(&bench).await,
            "trends" => trends::run(&bench).await,
            "side" => side::run(&bench).await,
            _ => unreachable!("checked above"),
        }
        eprintln!(
            "bench: {section} took {:.0}s",
            began.elapsed().as_secs_f64()
        );
    }
    targets::print(&bench);
    println!(
        "_Whole run: {:.0} s; load average at the end: {}._",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}

fn print_header(bench: &Bench, sandbox: Option<&str>) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let size = std::fs::metadata(&bench.bootstrap).map_or(0, |m| m.len());
    println!("# nightshift benchmarks");
    println!();
    println!("- date: {:.0}", Timestamp::now());
    println!(
        "- machine: {cores} cores ({cpu}), shared; Linux {kernel}; load average at the start: {}",
        load_average()
    );
    println!(
        "- bootstrap: {} ({:.1} MB){}",
        bench.bootstrap.display(),
        size as f64 / 1e6,
        if bench.bootstrap.to_string_lossy().contains("/release/") {
            ", release build"
        } else {
            ""
        }
    );
    println!(
        "- launch: {}",
        match sandbox {
            None => "the Lambda-like sandbox (sandbox.sh: uid 993, read-only root, bubblewrap) for per-event figures; cold starts in the sandbox and as a plain process".to_string(),
            Some(reason) => format!("plain process only ({reason})"),
        }
    );
    println!("- AWS: the local emulator (moto_server + launcher.py) on loopback, sharing the same 2 cores");
    println!(
        "- repetitions: N={} cold starts per row, K={} events per kind per round, R={} rounds, {} repetitions per query; clock ticks {} per second",
        bench.n, bench.k, bench.rounds, bench.query_reps, bench.ticks_per_s
    );
    println!();
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The night starts NIGHT_MINUTES before the present, on a 10-minute boundary.
fn night_start() -> Timestamp {
    let now = Timestamp::now().as_second();
    Timestamp::from_second(now - now.rem_euclid(600) - NIGHT_MINUTES * 60).expect("a valid time")
}

pub fn local(t: Timestamp) -> String {
    t.in_tz(ZONE)
        .map_or_else(|_| t.to_string(), |z| z.strftime("%H:%M").to_string())
}

/// A fresh table migrated from migrations/ (the emulator is the benchmark's own).
pub async fn fresh_table(prefix: &str) -> String {
    let table = support::unique(prefix);
    let client = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
    let migrations = nightshift::migrations::embedded().expect("the embedded migrations parse");
    nightshift::aws::migrate::migrate(
        &client,
        &table,
        &migrations,
        Timestamp::now(),
        Duration::from_secs(60),
    )
    .await
    .expect("migrating a fresh table on the emulator");
    table
}

/// A scene with names of its own, scenario `scenario`, on `table`.
pub fn scene(table: &str, scenario: &str) -> Scene {
    Scene {
        scenario: scenario.to_string(),
        ..Scene::unique(table)
    }
}

/// Create the day-time world of every scene (a few at a time) with the batch metric busy from
/// the night's start until it goes quiet.
pub async fn create_worlds(bench: &Bench, scenes: &[Scene]) {
    use futures::StreamExt;
    let cfg = support::sdk_config().await;
    futures::stream::iter(scenes)
        .map(|scene| {
            let cfg = &cfg;
            async move {
                scene.create(cfg).await;
                scene
                    .put_jobs_running(cfg, bench.t0, bench.at(QUIET_FROM), 4.0)
                    .await;
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

/// The batch metric of every scene quiet from QUIET_FROM until a little after now (the gate only
/// counts settled periods, so the minutes after now are never read as quiet early).
pub async fn go_quiet(bench: &Bench, scenes: &[Scene]) {
    let cfg = support::sdk_config().await;
    let until = Timestamp::now() + SignedDuration::from_mins(10);
    for scene in scenes {
        scene
            .put_jobs_running(&cfg, bench.at(QUIET_FROM), until, 0.0)
            .await;
    }
}

/// One config holding every scene as its own scenario (the contract's scenario, renamed), each
/// with its own completion group (`family:<job>`) so a completion event names one scenario.
pub fn config_text(scenes: &[Scene], deadline: &str) -> String {
    let mut text = String::new();
    for (i, scene) in scenes.iter().enumerate() {
        let one = scene
            .config(Some(deadline))
            .replace(
                r#"name = "nightly-batch""#,
                &format!(r#"name = "{}""#, scene.scenario),
            )
            .replace(
                r#"group = "family:nightly-job""#,
                &format!(r#"group = "{}""#, completion_group(scene)),
            );
        for line in one.lines() {
            if i > 0 && line.starts_with("table =") {
                continue;
            }
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

pub fn completion_group(scene: &Scene) -> String {
    format!("family:{}", scene.job)
}

/// An ECS "task STOPPED" event of the scene's batch job, as EventBridge delivers it.
pub fn task_stopped(scene: &Scene, at: Timestamp) -> Vec<u8> {
    let mut event: serde_json::Value = serde_json::from_slice(&scene.job_task_stopped(at))
        .expect("Scene::job_task_stopped is JSON");
    event["detail"]["group"] = serde_json::Value::String(completion_group(scene));
    event.to_string().into_bytes()
}

/// The function's environment besides Lambda's own: the emulator, credentials, the table.
pub fn aws_env(table: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTBENCH"),
        ("AWS_SECRET_ACCESS_KEY", "nightshift-bench-secret"),
        ("AWS_ENDPOINT_URL", &support::emulator_url()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("APP_ENV", "bench"),
        ("NIGHTSHIFT_TABLE", table),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn launch_name(launch: Launch) -> &'static str {
    match launch {
        Launch::Direct => "plain process",
        Launch::Sandboxed => "sandbox",
    }
}
