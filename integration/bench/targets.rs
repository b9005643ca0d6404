//! The side-by-side table (nightshift, the floor, the Python baseline) and the performance targets
//! printed beside the figures with PASS/MISS. Sections record their figures here (side.rs:
//! `record_side`, queries.rs: `record_queries`); main.rs prints once every section has run.

use crate::report::{num, Summary, Table};
use crate::side::{Cold, Instructions, Night, KINDS};
use crate::Bench;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Nightshift,
    Floor,
    Python,
}

pub const SUBJECTS: [Subject; 3] = [Subject::Nightshift, Subject::Floor, Subject::Python];

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Nightshift => "nightshift",
            Subject::Floor => "floor",
            Subject::Python => "Python baseline",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Subject::Nightshift => "nightshift",
            Subject::Floor => "floor",
            Subject::Python => "python",
        }
    }
}

/// What the side section measured.
pub struct Side {
    pub n: usize,
    pub rounds: usize,
    pub k: usize,
    pub cold: Cold,
    pub night: Night,
    pub instructions: Instructions,
    pub floor_bin: PathBuf,
}

/// The query section's verdict: the two sizes and the largest ratio of items read between them.
#[derive(Debug, Clone, Copy)]
pub struct Queries {
    pub small: usize,
    pub large: usize,
    pub worst_ratio: f64,
    pub scans: usize,
}

static SIDE: Mutex<Option<Side>> = Mutex::new(None);
static QUERIES: Mutex<Option<Queries>> = Mutex::new(None);

pub fn record_side(side: Side) {
    *SIDE.lock().unwrap_or_else(|p| p.into_inner()) = Some(side);
}

/// Also kept in target/bench/queries-target.txt, so that a later run of only the side section
/// still prints the query target (saying when it was measured).
pub fn record_queries(queries: Queries) {
    let line = format!(
        "{} {} {} {} {:.0}\n",
        queries.small,
        queries.large,
        queries.worst_ratio,
        queries.scans,
        jiff::Timestamp::now()
    );
    let path = crate::host::repo_root().join("target/bench/queries-target.txt");
    if let Err(e) = std::fs::write(&path, line) {
        eprintln!("bench: writing {}: {e}", path.display());
    }
    *QUERIES.lock().unwrap_or_else(|p| p.into_inner()) = Some(queries);
}

/// The query target recorded by an earlier run, and when.
fn earlier_queries(bench: &Bench) -> Option<(Queries, String)> {
    let text = std::fs::read_to_string(bench.out.join("queries-target.txt")).ok()?;
    let f: Vec<&str> = text.split_whitespace().collect();
    Some((
        Queries {
            small: f.first()?.parse().ok()?,
            large: f.get(1)?.parse().ok()?,
            worst_ratio: f.get(2)?.parse().ok()?,
            scans: f.get(3)?.parse().ok()?,
        },
        f.get(4)?.to_string(),
    ))
}

/// Size of a stripped copy of `binary` (target/bench/<name>.stripped), in bytes.
fn stripped_size(bench: &Bench, binary: &Path, name: &str) -> Option<u64> {
    let out = bench.out.join(format!("{name}.stripped"));
    let status = std::process::Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(binary)
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    std::fs::metadata(&out).ok().map(|m| m.len())
}

fn median(v: &[f64]) -> Option<f64> {
    Summary::of(v).map(|s| s.median)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.2}×"))
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "not measured",
    }
}

/// Print the side-by-side table and the targets, if the side section ran.
pub fn print(bench: &Bench) {
    let Some(side) = SIDE.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    let queries = QUERIES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map(|q| (q, String::new()))
        .or_else(|| {
            earlier_queries(bench)
                .map(|(q, at)| (q, format!(" (the queries section of an earlier run, {at})")))
        });
    let init = |who: Subject| -> Option<Summary> {
        side.cold
            .get(&who)
            .and_then(|c| Summary::of_durations(&c.0))
    };
    let first = |who: Subject| -> Option<Summary> {
        side.cold
            .get(&who)
            .and_then(|c| Summary::of_durations(&c.1))
    };
    // CPU per event of one kind: the mean of the rounds' Δticks (complete accounting: exited
    // threads included) and the median of the rounds' Δschedstat (finer).
    let ticks = |who: Subject, kind: usize| -> Option<f64> {
        let f = side.night.kinds.get(&(who, kind))?;
        (!f.ticks_ms.is_empty()).then(|| f.ticks_ms.iter().sum::<f64>() / f.ticks_ms.len() as f64)
    };
    let sched = |who: Subject, kind: usize| -> Option<f64> {
        median(&side.night.kinds.get(&(who, kind))?.sched_ms)
    };
    let night_total = |who: Subject, per: &dyn Fn(Subject, usize) -> Option<f64>| {
        (0..KINDS.len()).map(|k| per(who, k)).sum::<Option<f64>>()
    };
    let hwm = |who: Subject| -> Option<f64> {
        side.night
            .hwm_kib
            .get(&who)
            .and_then(|v| median(v))
            .map(|k| k / 1024.0)
    };
    let instr = |who: Subject| -> Option<f64> {
        let v: Vec<f64> = side
            .instructions
            .get(&who)?
            .iter()
            .map(|&c| c as f64)
            .collect();
        median(&v)
    };
    let size_n = stripped_size(bench, &bench.bootstrap, "bootstrap").map(|b| b as f64 / 1e6);
    let size_f = stripped_size(bench, &side.floor_bin, "floor").map(|b| b as f64 / 1e6);

    println!("## Side by side: nightshift, the floor, a Python baseline");
    println!();
    println!(
        "The same Runtime API host and emulator, in the same run, interleaved sample by sample, all three as plain processes. Cold starts: N={} per function (one warm-up each excluded), a scale-up of a world of its own queued before the start (the floor answers `{{}}`). CPU/event: schedstat, median of R={} rounds of K={} events (ticks in the detail table above). Peak RSS: VmHWM after a night (5×K events), median of the rounds. Instructions: `valgrind --tool=callgrind`, exec → first `GET next`, median of {} runs.",
        side.n,
        side.rounds,
        side.k,
        side.instructions.values().map(Vec::len).max().unwrap_or(0)
    );
    println!();
    let mut table = Table::new(&[
        "measure",
        "nightshift",
        "floor",
        "Python baseline",
        "nightshift ÷ floor",
        "baseline ÷ nightshift",
    ]);
    let mut row = |what: String, values: [Option<f64>; 3], decimals: usize| {
        let [n, f, p] = values;
        table.row(vec![
            what,
            num(n, decimals),
            num(f, decimals),
            num(p, decimals),
            times(ratio(n, f)),
            times(ratio(p, n)),
        ]);
    };
    let each = |f: &dyn Fn(Subject) -> Option<f64>| SUBJECTS.map(f);
    row(
        "init (spawn → first GET next), median ms".into(),
        each(&|w| init(w).map(|s| s.median)),
        1,
    );
    row("init, p90 ms".into(), each(&|w| init(w).map(|s| s.p90)), 1);
    row(
        "first answer of a scale-up (spawn → answer), median ms".into(),
        each(&|w| first(w).map(|s| s.median)),
        1,
    );
    row(
        "first answer of a scale-up, p90 ms".into(),
        each(&|w| first(w).map(|s| s.p90)),
        1,
    );
    for (k, name) in KINDS.iter().enumerate() {
        row(format!("CPU/event: {name}, ms"), each(&|w| sched(w, k)), 2);
    }
    row(
        "CPU of one event of each kind (sum of the five), ms".into(),
        each(&|w| night_total(w, &sched)),
        2,
    );
    row("peak RSS over a night (VmHWM), MiB".into(), each(&hwm), 1);
    let mib_of = |m: &std::collections::BTreeMap<Subject, Vec<f64>>, who: Subject| {
        m.get(&who).and_then(|v| median(v)).map(|k| k / 1024.0)
    };
    row(
        "  of which, at the night's end: RssAnon (heap, stacks), MiB".into(),
        each(&|w| mib_of(&side.night.anon_kib, w)),
        1,
    );
    row(
        "  and RssFile (the binary's and libraries' pages), MiB".into(),
        each(&|w| mib_of(&side.night.file_kib, w)),
        1,
    );
    row(
        "instructions, exec → first poll (callgrind), millions".into(),
        each(&|w| instr(w).map(|c| c / 1e6)),
        1,
    );
    row("stripped binary, MB".into(), [size_n, size_f, None], 1);
    table.print();

    let init_ratio = ratio(
        init(Subject::Nightshift).map(|s| s.median),
        init(Subject::Floor).map(|s| s.median),
    );
    let instr_ratio = ratio(instr(Subject::Nightshift), instr(Subject::Floor));
    let python_init = ratio(
        init(Subject::Python).map(|s| s.median),
        init(Subject::Nightshift).map(|s| s.median),
    );
    let python_cpu = ratio(
        night_total(Subject::Python, &ticks),
        night_total(Subject::Nightshift, &ticks),
    );
    let rss = hwm(Subject::Nightshift);
    println!("### Targets");
    println!();
    let mut table = Table::new(&["target", "measured", "verdict"]).text_columns(&[1, 2]);
    let mut target = |what: &str, measured: String, pass: Option<bool>| {
        table.row(vec![what.to_string(), measured, verdict(pass).to_string()]);
    };
    target(
        "init ≤ 1.25× the floor (median wall)",
        times(init_ratio),
        init_ratio.map(|r| r <= 1.25),
    );
    target(
        "init ≤ 1.05× the floor (instructions, exec → first poll)",
        times(instr_ratio),
        instr_ratio.map(|r| r <= 1.05),
    );
    target(
        "init ≥ 30× faster than the Python baseline (median wall)",
        times(python_init),
        python_init.map(|r| r >= 30.0),
    );
    target(
        "CPU per event ≥ 10× less than the Python baseline (one event of each kind, Δticks)",
        times(python_cpu),
        python_cpu.map(|r| r >= 10.0),
    );
    target(
        "peak RSS ≤ 18 MiB over a night",
        rss.map_or_else(|| "–".into(), |v| format!("{v:.1} MiB")),
        rss.map(|v| v <= 18.0),
    );
    target(
        "stripped bootstrap ≤ 15 MB",
        size_n.map_or_else(|| "–".into(), |v| format!("{v:.1} MB")),
        size_n.map(|v| v <= 15.0),
    );
    match queries {
        Some((q, when)) => target(
            "history query cost flat from 100 to 10,000 runs (items read)",
            format!(
                "worst ratio {:.2} from {} to {} runs, {} Scans{when}",
                q.worst_ratio, q.small, q.large, q.scans
            ),
            {
                let spans = q.small <= 100 && q.large >= 10_000;
                let flat = q.worst_ratio <= 1.0 && q.scans == 0;
                if !flat {
                    Some(false)
                } else {
                    spans.then_some(true)
                }
            },
        ),
        None => target(
            "history query cost flat from 100 to 10,000 runs (items read)",
            "the queries section did not run".into(),
            None,
        ),
    }
    table.print();
}
