//! Cold start of the real `bootstrap`: a new process per sample, its first event queued before it
//! starts (as on a Lambda cold start, where the event waits for init to end).
//!
//! - init: spawn → its first `GET invocation/next` (logging, settings, config, SDK config and the
//!   five clients, the Runtime API client);
//! - first answer: spawn → `POST invocation/{id}/response` of a real event on the emulator: a
//!   `check` with no open run (DynamoDB only) and a `scale-up` (DynamoDB, ECS, Application Auto
//!   Scaling, DocumentDB, CloudWatch), each on a world of its own;
//! - VmHWM and CPU (utime+stime) once the first event is answered;
//! - a breakdown: spawn → `POST init/error` when init stops at the environment check (process,
//!   async runtime, logging, one Runtime API request), and when it stops at a config that parses
//!   and then fails validation.
//!
//! Besides the plain process and the sandbox, the container image (the OCI archive bench.sh builds
//! with integration/image/build.sh from the same bootstrap) run by podman with runc as Lambda runs
//! it: container start (`podman run`) → first `GET next`, and the same for the first answer, with
//! the sample's config mounted over the image's; then what podman and runc alone take (a container
//! of the image that runs the shell's `:`), and the image's size.

use crate::host::{self, ImageRoot, Launch, Modes};
use crate::lambda::{self, Function};
use crate::report::{ms, num, Summary, Table};
use crate::{launch_name, support, Bench};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a sample's function starts: a process (plain, or in the sandbox), or the container image
/// (its id in podman's storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start<'a> {
    Process(Launch),
    Image(&'a str),
}

impl Start<'_> {
    fn name(self) -> &'static str {
        match self {
            Start::Process(launch) => launch_name(launch),
            Start::Image(_) => "image (podman, runc)",
        }
    }
}

/// The image of the bootstrap under measurement, loaded into podman (bench.sh builds it into
/// target/bench/image), or why there is none.
fn loaded_image(bench: &Bench) -> Result<(host::BuiltImage, String), String> {
    if let Some(reason) = host::runtime_unavailable() {
        return Err(reason);
    }
    let dir = host::image_dir();
    let built = host::BuiltImage::read(&dir).ok_or_else(|| {
        format!(
            "no image in {}: integration/image/build.sh {} builds it",
            dir.display(),
            bench.bootstrap.display()
        )
    })?;
    let measured = std::fs::canonicalize(&bench.bootstrap).unwrap_or(bench.bootstrap.clone());
    if built.bootstrap_path != measured {
        return Err(format!(
            "the image in {} holds {}, not the bootstrap measured here",
            dir.display(),
            built.bootstrap_path.display()
        ));
    }
    let id = host::load_archive(&built.archive)?;
    Ok((built, id))
}

/// `podman run` of the image, as a function is run, whose process is the shell's `:` instead of
/// bootstrap: start → exit is what podman and runc take around any function.
async fn empty_container(image: &str) -> Duration {
    let name = host::container_name("bench-empty");
    let mut args = host::lambda_run_args(image, &name, &[], &[]);
    let id = args.pop().expect("the image is the last argument");
    args.extend(["--entrypoint", "/bin/sh"].map(String::from));
    args.extend([id, "-c".into(), ":".into()]);
    let started = Instant::now();
    let status = tokio::process::Command::new("podman")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("podman runs");
    let took = started.elapsed();
    host::remove_container(&name);
    assert!(
        status.success(),
        "podman {} failed: {status}",
        args.join(" ")
    );
    took
}

#[derive(Default)]
struct Samples {
    init: Vec<Duration>,
    first: Vec<Duration>,
    /// Queue → answer of a second event of the same kind on the same (now warm) process.
    second: Vec<Duration>,
    hwm_kib: Vec<f64>,
    cpu_ms: Vec<f64>,
    sched_ms: Vec<f64>,
    outcomes: BTreeMap<String, usize>,
}

struct Sample {
    init: Duration,
    first: Duration,
    second: Option<Duration>,
    hwm_kib: u64,
    cpu: lambda::Cpu,
    outcome: String,
}

/// One cold start with `payload` queued; `second`, if any, is sent once the first is answered.
async fn once(
    root: &ImageRoot,
    start: Start<'_>,
    env: &[(String, String)],
    payload: Vec<u8>,
    second: Option<Vec<u8>>,
    log: &Path,
) -> Sample {
    let (mut function, first) = match start {
        Start::Process(launch) => Function::start(root, launch, env, log, Some(payload)).await,
        Start::Image(image) => {
            Function::start_container(image, root, env, log, Some(payload)).await
        }
    };
    let first = first.expect("the first event was queued");
    let reply = function.await_reply(first).await;
    let init = function
        .api
        .wait_next(1, Duration::from_secs(1))
        .await
        .expect("the event was fetched with GET invocation/next");
    function.wait_idle().await;
    let pid = function.bootstrap_pid();
    let memory = lambda::memory(pid);
    let cpu = lambda::cpu(pid);
    let mut second_wall = None;
    if let Some(payload) = second {
        let (again, wall) = function.invoke(payload).await;
        assert_eq!(again.outcome(), reply.outcome(), "the second event differs");
        second_wall = Some(wall);
    }
    let spawned = function.spawned;
    function.stop().await;
    Sample {
        init: init.duration_since(spawned),
        first: reply.at.duration_since(spawned),
        second: second_wall,
        hwm_kib: memory.hwm_kib,
        cpu,
        outcome: reply.outcome(),
    }
}

fn add(samples: &mut Samples, sample: Sample, ticks_per_s: u64) {
    samples.init.push(sample.init);
    samples.first.push(sample.first);
    samples.second.extend(sample.second);
    samples.hwm_kib.push(sample.hwm_kib as f64);
    samples
        .cpu_ms
        .push(sample.cpu.ticks as f64 * 1000.0 / ticks_per_s as f64);
    samples.sched_ms.push(sample.cpu.sched_ns as f64 / 1e6);
    *samples.outcomes.entry(sample.outcome).or_default() += 1;
}

fn write_config(root: &ImageRoot, text: &str) {
    let path = root.task_dir().join("nightshift.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Spawn → `POST init/error`, for a process whose init fails.
async fn init_error(root: &ImageRoot, env: &[(String, String)], log: &Path) -> Duration {
    let (function, _) = Function::start(root, Launch::Direct, env, log, None).await;
    let (at, report) = function
        .api
        .wait_init_error(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("{}", function.failure("no init/error report")));
    assert!(
        report["errorType"]
            .as_str()
            .is_some_and(|t| t.starts_with("NonRetryable.")),
        "unexpected init error {report}"
    );
    let spawned = function.spawned;
    function.stop().await;
    at.duration_since(spawned)
}

/// Spawn → first `GET invocation/next`, nothing queued.
async fn init_only(root: &ImageRoot, env: &[(String, String)], log: &Path) -> Duration {
    let (function, _) = Function::start(root, Launch::Direct, env, log, None).await;
    let at = function.wait_idle().await;
    let spawned = function.spawned;
    function.stop().await;
    at.duration_since(spawned)
}

/// The system's CA bundle file, if it has one where rustls-native-certs would find it.
fn ca_bundle() -> Option<&'static str> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
}

pub async fn run(bench: &Bench) {
    support::reset().await;
    let table = crate::fresh_table("bench-cold").await;
    let env = crate::aws_env(&table);
    let deadline = bench.deadline();
    let check_scene = crate::scene(&table, "cold-check");
    let check_config = crate::config_text(std::slice::from_ref(&check_scene), &deadline);
    let root = ImageRoot::build(
        "bench-cold",
        &bench.bootstrap,
        &check_config,
        Modes::default(),
    )
    .unwrap_or_else(|e| panic!("laying out the image root: {e}"));

    let image = loaded_image(bench);
    let mut starts: Vec<Start> = bench.launches.iter().copied().map(Start::Process).collect();
    match &image {
        Ok((_, id)) => starts.push(Start::Image(id)),
        Err(reason) => eprintln!("bench: cold: no image rows: {reason}"),
    }

    // One world per scale-up sample, created before any clock starts.
    let mut up_scenes = Vec::new();
    for i in 0..bench.n {
        for (l, _) in starts.iter().enumerate() {
            up_scenes.push(crate::scene(&table, &format!("cold-up-{i}-{l}")));
        }
    }
    eprintln!(
        "bench: cold: creating {} worlds for the scale-up samples",
        up_scenes.len()
    );
    crate::create_worlds(bench, &up_scenes).await;

    // One warm-up start per launch: measured, reported, excluded.
    let mut first_starts = Vec::new();
    let mut seq = 0i64;
    let check_event = |seq: &mut i64| {
        *seq += 1;
        check_scene.scheduled_step(
            "check",
            bench.t0 - jiff::SignedDuration::from_secs(3600 + *seq),
        )
    };
    for start in &starts {
        write_config(&root, &check_config);
        let sample = once(
            &root,
            *start,
            &env,
            check_event(&mut seq),
            None,
            &bench.log("cold-warmup"),
        )
        .await;
        first_starts.push((*start, sample.init));
    }

    let mut rows: BTreeMap<(&str, usize), Samples> = BTreeMap::new();
    let mut up = up_scenes.iter();
    let mut empty = Vec::new();
    eprintln!("bench: cold: {} starts per kind and launch", bench.n);
    for i in 0..bench.n {
        for (l, start) in starts.iter().enumerate() {
            if let Start::Image(image) = start {
                empty.push(empty_container(image).await);
            }
            write_config(&root, &check_config);
            let first = check_event(&mut seq);
            let second = check_event(&mut seq);
            let sample = once(
                &root,
                *start,
                &env,
                first,
                Some(second),
                &bench.log(&format!("cold-check-{i}-{l}")),
            )
            .await;
            add(
                rows.entry(("check, no open run", l)).or_default(),
                sample,
                bench.ticks_per_s,
            );

            let scene = up.next().expect("a world per scale-up sample");
            write_config(
                &root,
                &crate::config_text(std::slice::from_ref(scene), &deadline),
            );
            let sample = once(
                &root,
                *start,
                &env,
                scene.scheduled_step("scale-up", bench.t0),
                None,
                &bench.log(&format!("cold-up-{i}-{l}")),
            )
            .await;
            add(
                rows.entry(("scale-up", l)).or_default(),
                sample,
                bench.ticks_per_s,
            );
        }
    }

    // Breakdown: init stopped early, and init with less of the machine's environment to read
    // (as a plain process, interleaved with an unchanged init so that they share the noise).
    let mut env_error = Vec::new();
    let mut config_error = Vec::new();
    let empty_tzdir = bench.out.join("empty-tzdir");
    std::fs::create_dir_all(&empty_tzdir).expect("creating target/bench/empty-tzdir");
    // (what, extra environment, samples)
    type Variant = (String, Vec<(String, String)>, Vec<Duration>);
    let mut variants: Vec<Variant> = vec![(
        "init, unchanged (same loop as the rows below)".into(),
        Vec::new(),
        Vec::new(),
    )];
    if let Some(bundle) = ca_bundle() {
        variants.push((
            format!("init with SSL_CERT_FILE={bundle}: no CA directory scan"),
            vec![("SSL_CERT_FILE".into(), bundle.into())],
            Vec::new(),
        ));
    }
    variants.push((
        "init with TZDIR=<an empty directory>: jiff's bundled time zones only".into(),
        vec![("TZDIR".into(), empty_tzdir.display().to_string())],
        Vec::new(),
    ));
    let mut no_function_name = env.clone();
    no_function_name.push(("AWS_LAMBDA_FUNCTION_NAME".into(), String::new()));
    // The scenario twice: parsed and validated in full, then refused (duplicate scenario name).
    let invalid_config = format!(
        "{check_config}\n{}",
        check_config
            .lines()
            .filter(|l| !l.starts_with("table ="))
            .collect::<Vec<_>>()
            .join("\n")
    );
    for i in 0..bench.n {
        write_config(&root, &check_config);
        env_error.push(
            init_error(
                &root,
                &no_function_name,
                &bench.log(&format!("cold-env-error-{i}")),
            )
            .await,
        );
        write_config(&root, &invalid_config);
        config_error
            .push(init_error(&root, &env, &bench.log(&format!("cold-config-error-{i}"))).await);
        write_config(&root, &check_config);
        for (v, (_, extra, samples)) in variants.iter_mut().enumerate() {
            let mut with = env.clone();
            with.extend(extra.iter().cloned());
            samples.push(init_only(&root, &with, &bench.log(&format!("cold-init-{v}-{i}"))).await);
        }
    }
    write_config(&root, &check_config);

    println!("## Cold start of bootstrap");
    println!();
    println!(
        "A new process per sample, the event queued before it starts. Init = spawn → first `GET /runtime/invocation/next`; first answer = spawn → `POST …/response` of that event on the emulator. Milliseconds, N samples per row (init rows pool both event kinds). One warm-up start per launch, excluded ({}).",
        first_starts
            .iter()
            .map(|(l, d)| format!("{}: init {:.1} ms", l.name(), ms(d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    let mut table = Table::new(&[
        "measure", "launch", "N", "median", "p90", "min", "max", "outcome",
    ])
    .text_columns(&[1, 7]);
    let duration_row =
        |table: &mut Table, what: &str, start: Start, d: &[Duration], outcome: String| {
            let s = Summary::of_durations(d);
            table.row(vec![
                what.to_string(),
                start.name().to_string(),
                d.len().to_string(),
                num(s.map(|s| s.median), 1),
                num(s.map(|s| s.p90), 1),
                num(s.map(|s| s.min), 1),
                num(s.map(|s| s.max), 1),
                outcome,
            ]);
        };
    for (l, start) in starts.iter().enumerate() {
        let mut init = Vec::new();
        for ((_, at), samples) in &rows {
            if *at == l {
                init.extend(samples.init.iter().copied());
            }
        }
        duration_row(
            &mut table,
            "init (spawn → first GET next)",
            *start,
            &init,
            String::new(),
        );
    }
    for ((kind, l), samples) in &rows {
        duration_row(
            &mut table,
            &format!("first answer: {kind}"),
            starts[*l],
            &samples.first,
            outcomes(&samples.outcomes),
        );
        if !samples.second.is_empty() {
            duration_row(
                &mut table,
                &format!("then the same {kind} again, warm (queue → answer)"),
                starts[*l],
                &samples.second,
                String::new(),
            );
        }
    }
    if let Some(image) = starts.iter().find(|s| matches!(s, Start::Image(_))) {
        duration_row(
            &mut table,
            "a container of the image running `:` (spawn → exit)",
            *image,
            &empty,
            String::new(),
        );
    }
    let direct = Start::Process(Launch::Direct);
    duration_row(
        &mut table,
        "init stopped at the environment check (→ init/error)",
        direct,
        &env_error,
        String::new(),
    );
    duration_row(
        &mut table,
        "init stopped at config validation (→ init/error)",
        direct,
        &config_error,
        String::new(),
    );
    for (what, _, samples) in &variants {
        duration_row(&mut table, what, direct, samples, String::new());
    }
    table.print();
    if let Err(reason) = &image {
        println!("No image rows: {reason}.");
        println!();
    }

    println!(
        "Peak RSS (VmHWM) and CPU of the process once its first event is answered (init + one event): utime+stime ({} ms ticks, too coarse for one event) and the sum of its threads' schedstat run time (ns):",
        1000 / bench.ticks_per_s.max(1)
    );
    println!();
    let mut table = Table::new(&[
        "first event",
        "launch",
        "N",
        "VmHWM median (MiB)",
        "min",
        "max",
        "CPU ticks median (ms)",
        "min",
        "max",
        "CPU schedstat median (ms)",
        "min",
        "max",
    ])
    .text_columns(&[1]);
    for ((kind, l), samples) in &rows {
        let mem = Summary::of(&samples.hwm_kib);
        let cpu = Summary::of(&samples.cpu_ms);
        let sched = Summary::of(&samples.sched_ms);
        let mib = |v: Option<f64>| num(v.map(|v| v / 1024.0), 1);
        table.row(vec![
            kind.to_string(),
            starts[*l].name().to_string(),
            samples.hwm_kib.len().to_string(),
            mib(mem.map(|s| s.median)),
            mib(mem.map(|s| s.min)),
            mib(mem.map(|s| s.max)),
            num(cpu.map(|s| s.median), 0),
            num(cpu.map(|s| s.min), 0),
            num(cpu.map(|s| s.max), 0),
            num(sched.map(|s| s.median), 1),
            num(sched.map(|s| s.min), 1),
            num(sched.map(|s| s.max), 1),
        ]);
    }
    table.print();
    if let Ok((built, _)) = &image {
        print_image_size(bench, built);
    }
}

/// The image's size: the OCI archive (gzip layers, what a registry stores and Lambda pulls) and
/// unpacked, with the parts that are bootstrap and the base.
fn print_image_size(bench: &Bench, built: &host::BuiltImage) {
    let base = host::inspect(&built.base).map_or(0, |b| b.size);
    let bootstrap = std::fs::metadata(&bench.bootstrap).map_or(0, |m| m.len());
    println!(
        "Size of the image {} ({}, built by integration/image/build.sh on its local base {}):",
        &built.image_id[..12],
        built.archive.display(),
        built.base
    );
    println!();
    let mut table = Table::new(&["what", "bytes", "MB"]);
    let mb = |bytes: u64| num(Some(bytes as f64 / 1e6), 1);
    for (what, bytes) in [
        ("OCI archive (gzip layers)", built.archive_bytes),
        ("unpacked (its layers)", built.unpacked_bytes),
        ("  of which bootstrap", bootstrap),
        (
            "  of which the local base (loader, libraries, sh, CA bundle)",
            base,
        ),
    ] {
        table.row(vec![what.to_string(), bytes.to_string(), mb(bytes)]);
    }
    table.print();
}

pub fn outcomes(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(o, n)| format!("{o}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}
