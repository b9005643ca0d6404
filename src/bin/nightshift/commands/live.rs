//! `tune` (replay past nights with other scale-down settings) and `status` (the night now, and
//! `--watch`). Both read only: GetItem, Query, Describe and GetMetricData calls.

use super::{emit, load_config, now_or, ops_aws};
use crate::cli::{ListFormat, StatusArgs, TuneArgs};
use crate::errors::{explain, unknown_scenario};
use anyhow::anyhow;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use nightshift::config::{ScaleDown, Scenario};
use nightshift::status::{self, End, LineSink, Sink, StatusView};
use nightshift::text::config_duration;
use nightshift::tune::{self, Setting, TuneError};
use std::io::IsTerminal;
use std::process::ExitCode;

/// `--watch` exits with this when the last step failed.
const EXIT_FAILED_STEP: u8 = 3;
/// `--watch` stopped by Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// The current settings in one phrase: `quiet_for 15m, min_hold 30m, deadline 07:30, …`.
fn describe(sd: &ScaleDown) -> String {
    let mut parts = vec![
        format!("quiet_for {}", config_duration(sd.quiet_for)),
        format!("min_hold {}", config_duration(sd.min_hold)),
        format!("deadline {}", sd.deadline.strftime("%H:%M")),
        format!(
            "missing_data {}",
            match sd.missing_data {
                nightshift::config::MissingData::Busy => "busy",
                nightshift::config::MissingData::Quiet => "quiet",
            }
        ),
    ];
    for m in &sd.metrics {
        parts.push(format!(
            "{} {}/{} < {}",
            m.name,
            m.stat,
            config_duration(m.period),
            m.below
        ));
    }
    parts.join(", ")
}

/// `nightshift tune`.
pub async fn tune(args: TuneArgs) -> anyhow::Result<ExitCode> {
    let TuneArgs {
        config,
        scenario,
        since,
        scale_up,
        set,
        output,
        table,
        now,
    } = args;
    let since = since.unwrap_or(std::time::Duration::from_secs(
        if scale_up { 30 } else { 14 } * 86_400,
    ));
    let mut cfg = load_config(&config)?;
    if let Some(table) = table {
        cfg = cfg.with_table_override(Some(table));
    }
    let current: Scenario = cfg
        .scenario(&scenario)
        .cloned()
        .ok_or_else(|| unknown_scenario(&scenario, &cfg))?;
    let text = std::fs::read_to_string(&config)
        .map_err(|e| anyhow!("reading {}: {e}", config.display()))?;
    let source = config.display().to_string();
    let mut settings = vec![Setting {
        label: describe(&current.scale_down),
        scenario: current.clone(),
    }];
    for spec in &set {
        let files = nightshift::config::Dir::of(&config);
        settings.push(
            tune::candidate_with(&text, &source, &scenario, spec, &files)
                .map_err(|e| anyhow!(e))?,
        );
    }
    let now = now_or(now);
    let since = now
        .checked_sub(jiff::SignedDuration::try_from(since).map_err(|e| anyhow!("--since: {e}"))?)
        .map_err(|e| anyhow!("--since reaches too far back: {e}"))?;
    let aws = ops_aws().await?;
    let store = aws.store(&cfg.table);
    let scaling = aws.scaling();
    let (nights, open) = tune::gather(&store, &scaling, &settings, since)
        .await
        .map_err(|e| match e {
            TuneError::Store(e) => explain(e),
        })?;
    if scale_up {
        let report = tune::lead::report(&current, &nights, since);
        return match output {
            ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&report)?)),
            ListFormat::Table => emit(&tune::lead::render(&report, &current.timezone)),
        };
    }
    let report = tune::replay(&current, &settings, &nights, since, open);
    match output {
        ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&report)?)),
        ListFormat::Table => emit(&tune::render_table(&report, &current.timezone)),
    }
}

/// `nightshift status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let StatusArgs {
        scenario,
        watch,
        output,
        every,
        config,
        table,
        now,
    } = args;
    let mut cfg = load_config(&config)?;
    if let Some(table) = table {
        cfg = cfg.with_table_override(Some(table));
    }
    let scenario: Scenario = cfg
        .scenario(&scenario)
        .cloned()
        .ok_or_else(|| unknown_scenario(&scenario, &cfg))?;
    let aws = ops_aws().await?;
    let store = aws.store(&cfg.table);
    let scaling = aws.scaling();
    // A rehearsal's --now moves along with the wall clock while watching.
    let started = jiff::Timestamp::now();
    let read = || {
        let now = now.map_or_else(
            || now_or(None),
            |t| {
                t.checked_add(jiff::Timestamp::now().duration_since(started))
                    .unwrap_or(t)
            },
        );
        let (store, scaling, scenario) = (&store, &scaling, &scenario);
        async move { status::read(store, scaling, scenario, now).await }
    };
    if !watch {
        let view = read().await.map_err(explain)?;
        return match output {
            ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&view)?)),
            ListFormat::Table => emit(&status::render_text(&view)),
        };
    }
    let bars = output == ListFormat::Table && std::io::stdout().is_terminal();
    let mut sink: Box<dyn Sink> = match (output, bars) {
        (ListFormat::Json, _) => Box::new(JsonSink::default()),
        (ListFormat::Table, true) => Box::new(BarSink::new()),
        (ListFormat::Table, false) => Box::new(LineSink::new(std::io::stdout())),
    };
    let end = tokio::select! {
        end = status::watch(read, sink.as_mut(), every) => end.map_err(explain)?,
        _ = tokio::signal::ctrl_c() => {
            drop(sink);
            eprintln!("stopped watching (Ctrl-C); nothing was changed");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    drop(sink);
    Ok(match end {
        End::Ready => {
            eprintln!("the night's capacity is ready");
            ExitCode::SUCCESS
        }
        End::Closed => {
            eprintln!("no open run: the night is closed (or has not started)");
            ExitCode::SUCCESS
        }
        End::Failed(reason) => {
            eprintln!("the last step failed: {reason}");
            ExitCode::from(EXIT_FAILED_STEP)
        }
    })
}

/// `--watch --output json`: one JSON object per change.
#[derive(Default)]
struct JsonSink {
    last: Option<String>,
}

impl Sink for JsonSink {
    fn show(&mut self, view: &StatusView) {
        let key = status::line(view);
        if self.last.as_deref() == Some(key.as_str()) {
            return;
        }
        if let Ok(text) = serde_json::to_string(view) {
            println!("{text}");
        }
        self.last = Some(key);
    }
}

/// `--watch` on a terminal: one bar per resource (running tasks, available readers) and a line
/// with the phase and the last step, redrawn in place.
struct BarSink {
    multi: MultiProgress,
    header: ProgressBar,
    bars: Vec<ProgressBar>,
}

impl BarSink {
    fn new() -> BarSink {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        BarSink {
            multi,
            header,
            bars: Vec::new(),
        }
    }

    /// Bar `i` set to `pos`/`len`: built whole before it is first drawn, then updated.
    fn bar(&mut self, i: usize, prefix: String, len: u64, pos: u64, msg: String) {
        if let Some(bar) = self.bars.get(i) {
            bar.set_prefix(prefix);
            bar.set_length(len);
            bar.set_position(pos);
            bar.set_message(msg);
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
            .with_style(
                ProgressStyle::with_template("  {prefix:<40} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            )
            .with_prefix(prefix)
            .with_position(pos)
            .with_message(msg);
        self.bars.push(self.multi.add(bar));
    }
}

impl Sink for BarSink {
    fn show(&mut self, view: &StatusView) {
        let last = view.last_step.as_ref().map_or(String::new(), |s| {
            format!(" | last {}: {}", s.outcome.as_str(), s.reason)
        });
        self.header
            .set_message(format!("{}: {}{last}", view.scenario, view.phase.as_str()));
        let mut i = 0;
        for s in &view.services {
            self.bar(
                i,
                format!("ecs {}/{} running", s.cluster, s.service),
                u64::try_from(s.target_desired.max(0)).unwrap_or(0),
                u64::try_from(s.running.unwrap_or(0).max(0)).unwrap_or(0),
                format!("({} pending)", s.pending.unwrap_or(0)),
            );
            i += 1;
        }
        for c in &view.clusters {
            let others: Vec<String> = c
                .readers
                .iter()
                .filter(|r| r.status != "available")
                .map(|r| r.status.clone())
                .collect();
            self.bar(
                i,
                format!("{} {} readers available", c.kind.key(), c.cluster),
                c.readers_target as u64,
                c.readers_available as u64,
                others.join(", "),
            );
            i += 1;
        }
    }
}

impl Drop for BarSink {
    fn drop(&mut self) {
        for bar in &self.bars {
            bar.abandon();
        }
        self.header.abandon();
    }
}
