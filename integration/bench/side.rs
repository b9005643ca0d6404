//! Side by side (`side`): nightshift's `bootstrap` against two reference functions, in one run,
//! through the same Runtime API host (lambda.rs) and the same emulator, interleaved sample by
//! sample so that they share the machine's noise:
//!
//! - the floor (`integration/bench/floor`, the `floor` binary next to bootstrap): lambda_runtime
//!   and the five SDK clients built from the environment, answering `{}`: what any Rust function
//!   with these clients pays;
//! - the Python baseline (`integration/bench/python/handler.py`): Powertools idempotency on
//!   DynamoDB and boto3 under awslambdaric, doing the contract scenario's job
//!   (NIGHTSHIFT_BENCH_PYTHON: the virtualenv's python, which bench.sh makes).
//!
//! All three run as plain processes. Cold starts: a new process per sample with a scale-up of a
//! world of its own queued (the floor answers it `{}`); init = spawn → first `GET next`. A night:
//! one long-lived process per function and round, K events of each kind (events.rs's kinds), CPU =
//! Δ(utime+stime) and Δschedstat over the K events. Instructions from exec to the first poll:
//! under `valgrind --tool=callgrind`, stopped with SIGTERM once it polls. Figures go to
//! targets.rs, which prints the targets.

use crate::host::{ImageRoot, Launch, Modes};
use crate::lambda::{self, Function, Reply};
use crate::report::{num, Summary, Table};
use crate::scene::Scene;
use crate::targets::{self, Side, Subject, SUBJECTS};
use crate::{support, Bench};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// events.rs's kinds, in the order of a night.
pub const KINDS: [&str; 5] = [
    "scale-up",
    "duplicate delivery (same scale-up again)",
    "check, batch busy",
    "completion event, batch quiet (→ scale-down)",
    "scheduled scale-down, run already closed",
];

struct Functions {
    nightshift: ImageRoot,
    floor: ImageRoot,
    floor_bin: PathBuf,
    /// The virtualenv's python and the task directory (handler.py, nightshift.toml).
    python: Option<(PathBuf, PathBuf)>,
    env: Vec<(String, String)>,
}

impl Functions {
    fn subjects(&self) -> Vec<Subject> {
        SUBJECTS
            .into_iter()
            .filter(|s| *s != Subject::Python || self.python.is_some())
            .collect()
    }

    fn write_config(&self, who: Subject, text: &str) {
        let dir = match who {
            Subject::Nightshift => self.nightshift.task_dir(),
            Subject::Floor => return,
            Subject::Python => match &self.python {
                Some((_, task)) => task.clone(),
                None => return,
            },
        };
        let path = dir.join("nightshift.toml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    async fn start(
        &self,
        who: Subject,
        log: &Path,
        first: Option<Vec<u8>>,
    ) -> (Function, Option<tokio::sync::oneshot::Receiver<Reply>>) {
        match who {
            Subject::Nightshift => {
                Function::start(&self.nightshift, Launch::Direct, &self.env, log, first).await
            }
            Subject::Floor => {
                Function::start(&self.floor, Launch::Direct, &self.env, log, first).await
            }
            Subject::Python => {
                let (python, task) = self.python.as_ref().expect("only started when present");
                let mut env = self.env.clone();
                env.push((
                    "NIGHTSHIFT_CONFIG".into(),
                    task.join("nightshift.toml").display().to_string(),
                ));
                // /var/task is read-only on Lambda: the handler is compiled at every start, the
                // installed packages' .pyc (written by pip) are read.
                env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
                let args = ["-m", "awslambdaric", "handler.handler"].map(String::from);
                Function::start_program(python, &args, task, &env, log, first).await
            }
        }
    }
}

/// The reply's `outcome`; the floor's `{}` is "{}".
fn outcome(reply: &Reply) -> String {
    if reply.ok && reply.body.get("outcome").is_none() {
        return "{}".into();
    }
    reply.outcome()
}

fn floor_binary(bench: &Bench) -> PathBuf {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_FLOOR_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    bench
        .bootstrap
        .parent()
        .map_or_else(|| PathBuf::from("floor"), |dir| dir.join("floor"))
}

async fn baseline_table() -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let table = support::unique("bench-python");
    aws_sdk_dynamodb::Client::new(&support::sdk_config().await)
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("a complete attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("a complete key schema"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating the Python baseline's table {table}: {e:?}"));
    table
}

fn scenes(table: &str, prefix: &str, n: usize) -> Vec<Scene> {
    (0..n)
        .map(|i| crate::scene(table, &format!("{prefix}-{i:02}")))
        .collect()
}

pub async fn run(bench: &Bench) {
    let floor_bin = floor_binary(bench);
    if !floor_bin.is_file() {
        eprintln!(
            "bench: side: no floor binary at {} (build it with `cargo build -p nightshift-bench-floor --bin floor`, or set NIGHTSHIFT_FLOOR_BIN); skipping the side-by-side",
            floor_bin.display()
        );
        return;
    }
    let python = std::env::var_os("NIGHTSHIFT_BENCH_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if python.is_none() {
        eprintln!("bench: side: NIGHTSHIFT_BENCH_PYTHON is not set (bench.sh makes the virtualenv): no Python baseline");
    }
    let n = crate::env_number("NIGHTSHIFT_BENCH_SIDE_N", 20).max(1);
    let rounds = crate::env_number("NIGHTSHIFT_BENCH_SIDE_ROUNDS", 3).max(1);
    let reps = crate::env_number("NIGHTSHIFT_BENCH_CALLGRIND_REPS", 3);

    support::reset().await;
    let table = crate::fresh_table("bench-side").await;
    let mut env = crate::aws_env(&table);
    env.push(("BASELINE_TABLE".into(), baseline_table().await));
    let deadline = bench.deadline();
    let placeholder = crate::config_text(&scenes(&table, "side-init", 1), &deadline);
    let layout = |name: &str, bin: &Path| {
        ImageRoot::build(name, bin, &placeholder, Modes::default())
            .unwrap_or_else(|e| panic!("laying out the image root: {e}"))
    };
    let python = python.map(|exe| {
        let task = bench.out.join("python-task");
        std::fs::create_dir_all(&task).expect("creating target/bench/python-task");
        let handler = crate::host::repo_root().join("integration/bench/python/handler.py");
        std::fs::copy(&handler, task.join("handler.py"))
            .unwrap_or_else(|e| panic!("copying {}: {e}", handler.display()));
        (exe, task)
    });
    let functions = Functions {
        nightshift: layout("bench-side-nightshift", &bench.bootstrap),
        floor: layout("bench-side-floor", &floor_bin),
        floor_bin,
        python,
        env,
    };
    let subjects = functions.subjects();

    let cold = cold_starts(bench, &functions, &subjects, &table, n, &deadline).await;
    let night = nights(bench, &functions, &subjects, &table, rounds, &deadline).await;
    let instructions = instructions(bench, &functions, reps).await;
    let side = Side {
        n,
        rounds,
        k: bench.k,
        cold,
        night,
        instructions,
        floor_bin: functions.floor_bin.clone(),
    };
    print_night(&side);
    targets::record_side(side);
}

/// Per subject: init and first answer of each cold start, and the first event's outcomes.
pub type Cold = BTreeMap<Subject, (Vec<Duration>, Vec<Duration>, BTreeMap<String, usize>)>;

async fn cold_starts(
    bench: &Bench,
    functions: &Functions,
    subjects: &[Subject],
    table: &str,
    n: usize,
    deadline: &str,
) -> Cold {
    // A world per scale-up sample of the functions that act; the floor answers its own events.
    let mut worlds: BTreeMap<Subject, Vec<Scene>> = BTreeMap::new();
    for who in subjects {
        worlds.insert(
            *who,
            scenes(table, &format!("side-up-{}", who.slug()), n + 1),
        );
    }
    let acting: Vec<Scene> = worlds
        .iter()
        .filter(|(who, _)| **who != Subject::Floor)
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    eprintln!(
        "bench: side: creating {} worlds for the cold scale-ups",
        acting.len()
    );
    crate::create_worlds(bench, &acting).await;
    let mut cold = Cold::new();
    // Sample 0 of each subject is a warm-up (page cache, the emulator's first calls): excluded.
    for i in 0..=n {
        for who in subjects {
            let scene = worlds[who].get(i).expect("a world per sample");
            functions.write_config(
                *who,
                &crate::config_text(std::slice::from_ref(scene), deadline),
            );
            let log = bench.log(&format!("side-cold-{}-{i}", who.slug()));
            let payload = scene.scheduled_step("scale-up", bench.t0);
            let (mut function, first) = functions.start(*who, &log, Some(payload)).await;
            let reply = function
                .await_reply(first.expect("the event was queued"))
                .await;
            let init = function
                .api
                .wait_next(1, Duration::from_secs(1))
                .await
                .expect("the event was fetched with GET invocation/next");
            let spawned = function.spawned;
            function.stop().await;
            if i == 0 {
                continue;
            }
            let entry = cold.entry(*who).or_default();
            entry.0.push(init.duration_since(spawned));
            entry.1.push(reply.at.duration_since(spawned));
            *entry.2.entry(outcome(&reply)).or_default() += 1;
        }
    }
    cold
}

/// Per subject and kind: CPU per event of each round (ticks, schedstat; ms), walls, outcomes;
/// and per subject the VmHWM after each round's night (KiB).
#[derive(Default)]
pub struct Night {
    pub kinds: BTreeMap<(Subject, usize), KindFigures>,
    pub hwm_kib: BTreeMap<Subject, Vec<f64>>,
    /// `RssAnon` and `RssFile` after each round's night (KiB): heap and stacks vs mapped files
    /// (the binary's pages, shared libraries).
    pub anon_kib: BTreeMap<Subject, Vec<f64>>,
    pub file_kib: BTreeMap<Subject, Vec<f64>>,
}

/// `RssAnon` and `RssFile` of a process, in KiB.
fn rss_split(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (field("RssAnon:"), field("RssFile:"))
}

#[derive(Default)]
pub struct KindFigures {
    pub ticks_ms: Vec<f64>,
    pub sched_ms: Vec<f64>,
    pub wall: Vec<Duration>,
    pub outcomes: BTreeMap<String, usize>,
    /// The answers' `aws_calls` (the Python baseline counts its calls), when present.
    pub calls: Vec<f64>,
}

async fn nights(
    bench: &Bench,
    functions: &Functions,
    subjects: &[Subject],
    table: &str,
    rounds: usize,
    deadline: &str,
) -> Night {
    let k = bench.k;
    let tick_ms = 1000.0 / bench.ticks_per_s as f64;
    let mut night = Night::default();
    for round in 0..rounds {
        let mut worlds: BTreeMap<Subject, Vec<Scene>> = BTreeMap::new();
        for who in subjects {
            let prefix = format!("side-night{round}-{}", who.slug());
            worlds.insert(*who, scenes(table, &prefix, k));
        }
        let acting: Vec<Scene> = worlds
            .iter()
            .filter(|(who, _)| **who != Subject::Floor)
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        eprintln!(
            "bench: side: night {}/{rounds}: creating {} worlds",
            round + 1,
            acting.len()
        );
        crate::create_worlds(bench, &acting).await;
        let mut running = Vec::new();
        for who in subjects {
            functions.write_config(*who, &crate::config_text(&worlds[who], deadline));
            let log = bench.log(&format!("side-night-{}-{round}", who.slug()));
            let (function, _) = functions.start(*who, &log, None).await;
            function.wait_idle().await;
            let pid = function.bootstrap_pid();
            running.push((*who, function, pid));
        }
        for (kind, name) in KINDS.iter().enumerate() {
            if kind == 3 {
                crate::go_quiet(bench, &acting).await;
            }
            eprintln!("bench: side: night {}: {k} × {name}", round + 1);
            for (who, function, pid) in running.iter_mut() {
                let payloads: Vec<Vec<u8>> = worlds[who]
                    .iter()
                    .map(|scene| match kind {
                        0 | 1 => scene.scheduled_step("scale-up", bench.t0),
                        2 => scene.scheduled_step("check", bench.at(30)),
                        3 => crate::task_stopped(scene, jiff::Timestamp::now()),
                        _ => scene.scheduled_step("scale-down", jiff::Timestamp::now()),
                    })
                    .collect();
                function.wait_idle().await;
                let before = lambda::cpu(*pid);
                let figures = night.kinds.entry((*who, kind)).or_default();
                for payload in payloads {
                    let (reply, wall) = function.invoke(payload).await;
                    figures.wall.push(wall);
                    figures
                        .calls
                        .extend(reply.body["aws_calls"].as_f64().filter(|_| reply.ok));
                    *figures.outcomes.entry(outcome(&reply)).or_default() += 1;
                }
                function.wait_idle().await;
                let after = lambda::cpu(*pid);
                figures
                    .ticks_ms
                    .push((after.ticks - before.ticks) as f64 * tick_ms / k as f64);
                figures
                    .sched_ms
                    .push(after.sched_ns.saturating_sub(before.sched_ns) as f64 / 1e6 / k as f64);
            }
        }
        for (who, function, pid) in running {
            night
                .hwm_kib
                .entry(who)
                .or_default()
                .push(lambda::memory(pid).hwm_kib as f64);
            let (anon, file) = rss_split(pid);
            night.anon_kib.entry(who).or_default().push(anon);
            night.file_kib.entry(who).or_default().push(file);
            function.stop().await;
        }
    }
    night
}

/// Instructions from exec to the first `GET next` under callgrind, per Rust subject, `reps`
/// times each (interleaved); empty when valgrind is missing or `reps` is 0.
pub type Instructions = BTreeMap<Subject, Vec<u64>>;

async fn instructions(bench: &Bench, functions: &Functions, reps: usize) -> Instructions {
    let mut counts = Instructions::new();
    let valgrind = Path::new("/usr/bin/valgrind");
    if reps == 0 || !valgrind.is_file() {
        eprintln!("bench: side: no instruction counts (valgrind missing or NIGHTSHIFT_BENCH_CALLGRIND_REPS=0)");
        return counts;
    }
    let dir = bench.out.join("callgrind");
    std::fs::create_dir_all(&dir).expect("creating target/bench/callgrind");
    let config = crate::config_text(&scenes("unused", "side-callgrind", 1), &bench.deadline());
    functions.write_config(Subject::Nightshift, &config);
    for i in 0..reps {
        for (who, root) in [
            (Subject::Nightshift, &functions.nightshift),
            (Subject::Floor, &functions.floor),
        ] {
            let out = dir.join(format!("{}-{i}.out", who.slug()));
            let _ = std::fs::remove_file(&out);
            let args = vec![
                "--tool=callgrind".to_string(),
                format!("--callgrind-out-file={}", out.display()),
                root.dir.join("var/runtime/bootstrap").display().to_string(),
            ];
            let mut env = functions.env.clone();
            env.push(("RUST_BACKTRACE".into(), "0".into()));
            env.push((
                "NIGHTSHIFT_CONFIG".into(),
                root.task_dir()
                    .join("nightshift.toml")
                    .display()
                    .to_string(),
            ));
            let log = bench.log(&format!("side-callgrind-{}-{i}", who.slug()));
            let (function, _) =
                Function::start_program(valgrind, &args, &root.task_dir(), &env, &log, None).await;
            if function
                .api
                .wait_next(1, Duration::from_secs(300))
                .await
                .is_none()
            {
                panic!("{}", function.failure("no first poll under callgrind"));
            }
            function.terminate(Duration::from_secs(60)).await;
            match callgrind_total(&out) {
                Some(total) => counts.entry(who).or_default().push(total),
                None => eprintln!(
                    "bench: side: no instruction total in {} (see {})",
                    out.display(),
                    log.display()
                ),
            }
        }
    }
    counts
}

/// The `summary:` (else `totals:`) line of a callgrind output file: instructions executed.
fn callgrind_total(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    field("summary:").or_else(|| field("totals:"))
}

/// The per-kind detail behind the side-by-side table: outcomes and CPU per event.
fn print_night(side: &Side) {
    println!("## Side by side: a night, per event kind");
    println!();
    println!(
        "R={} rounds; each round one long-lived process per function (plain processes, started together, measured in turn), K={} events of each kind per function: CPU/event = Δ(utime+stime) and Δschedstat over the K events ÷ K (median of the rounds, ms); wall = queue → answer (median of R×K). The Python baseline answers a duplicate with the stored response of the first delivery (Powertools idempotency), so its duplicates show the first one's outcome. AWS calls/event: counted by the Python baseline itself (botocore's before-call, Powertools' calls included; median); nightshift's are in the AWS calls section.",
        side.rounds, side.k
    );
    println!();
    let mut table = Table::new(&[
        "event kind",
        "function",
        "outcomes",
        "CPU/event ms (ticks)",
        "CPU/event ms (schedstat)",
        "wall ms median",
        "p90",
        "AWS calls/event",
    ])
    .text_columns(&[1, 2]);
    for (kind, name) in KINDS.iter().enumerate() {
        for who in SUBJECTS {
            let Some(f) = side.night.kinds.get(&(who, kind)) else {
                continue;
            };
            let wall = Summary::of_durations(&f.wall);
            table.row(vec![
                name.to_string(),
                who.name().to_string(),
                crate::cold::outcomes(&f.outcomes),
                num(Summary::of(&f.ticks_ms).map(|s| s.median), 2),
                num(Summary::of(&f.sched_ms).map(|s| s.median), 2),
                num(wall.map(|s| s.median), 1),
                num(wall.map(|s| s.p90), 1),
                num(Summary::of(&f.calls).map(|s| s.median), 0),
            ]);
        }
    }
    table.print();
}
