//! CPU, wall time and memory per event: rounds of one night through the Runtime API against one
//! long-lived bootstrap.
//!
//! A round is one process whose config holds K scenarios (the contract's, renamed, each with a
//! world of its own), so that K events of one kind are K identical pieces of work: K scale-ups,
//! the same K scale-ups delivered again, K checks while the batch is busy, K completion events
//! once it is quiet (each scales its scenario down), K scheduled scale-downs of closed runs. CPU is
//! `utime + stime` of the bootstrap process read while it waits for its next event, before and
//! after the K events of a kind, divided by K; wall time is queue → answer of each event.

use crate::cold::outcomes;
use crate::host::{ImageRoot, Modes};
use crate::lambda::{self, Function};
use crate::report::{num, Summary, Table};
use crate::{launch_name, support, Bench};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Default)]
struct Kind {
    /// CPU per event, one value per round (ticks and schedstat), in ms.
    cpu_ticks_ms: Vec<f64>,
    cpu_sched_ms: Vec<f64>,
    /// utime and stime ticks summed over the rounds.
    utime_ticks: u64,
    stime_ticks: u64,
    wall: Vec<Duration>,
    outcomes: BTreeMap<String, usize>,
}

const KINDS: [&str; 5] = [
    "scale-up",
    "duplicate delivery (same scale-up again)",
    "check, batch busy (deferred)",
    "completion event → scale-down",
    "scheduled scale-down, run already closed",
];

pub async fn run(bench: &Bench) {
    let mut kinds: Vec<Kind> = KINDS.iter().map(|_| Kind::default()).collect();
    let mut hwm_init = Vec::new();
    let mut rss_init = Vec::new();
    let mut hwm_night = Vec::new();
    let mut init = Kind::default();
    let k = bench.k;
    for round in 0..bench.rounds {
        support::reset().await;
        let table = crate::fresh_table("bench-events").await;
        let scenes: Vec<_> = (0..k)
            .map(|i| crate::scene(&table, &format!("night-{i:02}")))
            .collect();
        eprintln!(
            "bench: events: round {}/{}: creating {k} worlds",
            round + 1,
            bench.rounds
        );
        crate::create_worlds(bench, &scenes).await;
        let config = crate::config_text(&scenes, &bench.deadline());
        let root = ImageRoot::build("bench-events", &bench.bootstrap, &config, Modes::default())
            .unwrap_or_else(|e| panic!("laying out the image root: {e}"));
        let (mut function, _) = Function::start(
            &root,
            bench.launch,
            &crate::aws_env(&table),
            &bench.log(&format!("events-round-{round}")),
            None,
        )
        .await;
        let ready = function.wait_idle().await;
        let pid = function.bootstrap_pid();
        let memory = lambda::memory(pid);
        let cpu = lambda::cpu(pid);
        let tick_ms = 1000.0 / bench.ticks_per_s as f64;
        init.wall.push(ready.duration_since(function.spawned));
        init.cpu_ticks_ms.push(cpu.ticks as f64 * tick_ms);
        init.cpu_sched_ms.push(cpu.sched_ns as f64 / 1e6);
        init.stime_ticks += cpu.stime_ticks;
        init.utime_ticks += cpu.ticks - cpu.stime_ticks;
        hwm_init.push(memory.hwm_kib as f64);
        rss_init.push(memory.rss_kib as f64);

        for (kind, name) in KINDS.iter().enumerate() {
            if kind == 3 {
                // The batch ends: its metric goes quiet (written before the clock starts).
                crate::go_quiet(bench, &scenes).await;
            }
            let payloads: Vec<Vec<u8>> = scenes
                .iter()
                .map(|scene| match kind {
                    0 | 1 => scene.scheduled_step("scale-up", bench.t0),
                    2 => scene.scheduled_step("check", bench.at(30)),
                    3 => crate::task_stopped(scene, jiff::Timestamp::now()),
                    _ => scene.scheduled_step("scale-down", jiff::Timestamp::now()),
                })
                .collect();
            eprintln!("bench: events: round {}: {k} × {name}", round + 1);
            function.wait_idle().await;
            let before = lambda::cpu(pid);
            let stats = &mut kinds[kind];
            for payload in payloads {
                let (reply, wall) = function.invoke(payload).await;
                stats.wall.push(wall);
                *stats.outcomes.entry(reply.outcome()).or_default() += 1;
            }
            function.wait_idle().await;
            let after = lambda::cpu(pid);
            stats
                .cpu_ticks_ms
                .push((after.ticks - before.ticks) as f64 * tick_ms / k as f64);
            stats.stime_ticks += after.stime_ticks - before.stime_ticks;
            stats.utime_ticks +=
                (after.ticks - after.stime_ticks) - (before.ticks - before.stime_ticks);
            stats
                .cpu_sched_ms
                .push(after.sched_ns.saturating_sub(before.sched_ns) as f64 / 1e6 / k as f64);
        }
        hwm_night.push(lambda::memory(pid).hwm_kib as f64);
        function.stop().await;
    }

    println!(
        "## CPU and wall time per event ({}, long-lived bootstrap)",
        launch_name(bench.launch)
    );
    println!();
    println!(
        "R={} rounds; each round is one bootstrap process and K={} events of each kind in the order below (one per scenario of a {}-scenario config). CPU/event = Δ(utime+stime) of the process over the K events ÷ K ({} ms ticks): median and range of the R rounds; schedstat = the same from /proc/<pid>/task/*/schedstat (ns); kernel share = stime ÷ (utime+stime) over all rounds (when they add up to 20 ticks or more). Wall = queue → answer of each event (R×K samples), mostly the emulator's time.",
        bench.rounds,
        k,
        k,
        1000 / bench.ticks_per_s.max(1)
    );
    println!();
    let mut table = Table::new(&[
        "event kind",
        "outcomes",
        "CPU/event ms (ticks) median",
        "min",
        "max",
        "CPU/event ms (schedstat) median",
        "kernel share (stime)",
        "wall ms median",
        "p90",
        "min",
        "max",
    ])
    .text_columns(&[1]);
    let rows = std::iter::once((
        "init (once per process; wall = spawn → first GET next)",
        &init,
    ))
    .chain(KINDS.iter().copied().zip(&kinds));
    for (name, stats) in rows {
        let ticks = Summary::of(&stats.cpu_ticks_ms);
        let sched = Summary::of(&stats.cpu_sched_ms);
        let wall = Summary::of_durations(&stats.wall);
        table.row(vec![
            name.to_string(),
            outcomes(&stats.outcomes),
            num(ticks.map(|s| s.median), 2),
            num(ticks.map(|s| s.min), 2),
            num(ticks.map(|s| s.max), 2),
            num(sched.map(|s| s.median), 2),
            {
                // Fewer than 20 ticks in all: a share of a handful of samples says nothing.
                let total = stats.utime_ticks + stats.stime_ticks;
                if total < 20 {
                    "–".to_string()
                } else {
                    format!("{:.0}%", 100.0 * stats.stime_ticks as f64 / total as f64)
                }
            },
            num(wall.map(|s| s.median), 1),
            num(wall.map(|s| s.p90), 1),
            num(wall.map(|s| s.min), 1),
            num(wall.map(|s| s.max), 1),
        ]);
    }
    table.print();

    println!("## Memory of bootstrap");
    println!();
    println!(
        "Peak resident set (VmHWM) of the bootstrap process, R={} processes ({}): after init (idle, before its first event) and after its night ({} events over {k} scenarios).",
        bench.rounds,
        launch_name(bench.launch),
        k * KINDS.len()
    );
    println!();
    let mut table = Table::new(&["when", "N", "median MiB", "min", "max"]);
    let mib = |v: Option<f64>| num(v.map(|v| v / 1024.0), 1);
    for (what, values) in [
        ("after init: VmHWM", &hwm_init),
        ("after init: VmRSS", &rss_init),
        ("after the night: VmHWM", &hwm_night),
    ] {
        let s = Summary::of(values);
        table.row(vec![
            what.to_string(),
            values.len().to_string(),
            mib(s.map(|s| s.median)),
            mib(s.map(|s| s.min)),
            mib(s.map(|s| s.max)),
        ]);
    }
    table.print();
}
