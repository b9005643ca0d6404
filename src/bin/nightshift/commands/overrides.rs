//! The ops overrides: `pause` a scenario until a time and `resume` it earlier; `hold` its open
//! run's capacity until a time and `release` it earlier (the hold's rule is the state machine's,
//! `nightshift::night`, rule 6). Both kinds go through one helper: [`place`] and [`lift`].

use super::{known_scenario, now_or, ops_store, store_and_config};
use crate::cli::{LiftArgs, PlaceArgs};
use crate::errors::explain;
use anyhow::anyhow;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::overrides::{self, Defers, Held, HoldPlaced, Override, Paused};
use nightshift::plan::RunState;
use nightshift::ports::HistoryStore;
use std::process::ExitCode;

/// How the commands of one kind of override speak.
struct Words {
    /// `pause`, `hold`.
    noun: &'static str,
    /// The command that lifts it: `resume`, `release`.
    lift: &'static str,
    /// `resumed`, `released`.
    lifted: &'static str,
    /// `lifted the pause`, `ended the hold`.
    lifted_what: &'static str,
    /// What runs normally again once it is lifted.
    after_lift: &'static str,
    /// `paused`, `held`.
    state: &'static str,
    /// What the override does while in force.
    meanwhile: &'static str,
}

const PAUSE: Words = Words {
    noun: "pause",
    lift: "resume",
    lifted: "resumed",
    lifted_what: "lifted the pause",
    after_lift: "its next scale-up, check and scale-down run normally",
    state: "paused",
    meanwhile: "while paused, scale-up, check and a scheduled scale-down are skipped and recorded as skipped; a forced scale-down still runs, and a scale-down already under way finishes",
};

const HOLD: Words = Words {
    noun: "hold",
    lift: "release",
    lifted: "released",
    lifted_what: "ended the hold",
    after_lift: "its next check and scale-down ask the gate again",
    state: "held",
    meanwhile: "while held, checks keep the capacity and a scheduled scale-down is deferred (\"held until …\"), the deadline included; a forced scale-down (\"force\": true) still runs",
};

/// What `pause` and `hold` were given, checked: `--until` a time or a duration from now
/// (refused when not in the future, before anything is read), `--by` defaulting to `$USER`,
/// blank values left out, the scenario known to the config (when one is given), the table.
struct Placing {
    scenario: String,
    until: jiff::Timestamp,
    reason: Option<String>,
    by: Option<String>,
    now: jiff::Timestamp,
    table: String,
    /// The scenario's time zone (with a config), for local times.
    zone: Option<(jiff::tz::TimeZone, String)>,
    store: DynamoStore,
}

impl Placing {
    async fn new(words: &Words, args: PlaceArgs) -> anyhow::Result<Placing> {
        let PlaceArgs {
            scenario,
            until,
            reason,
            by,
            store,
            now,
        } = args;
        let now = now_or(now);
        let until = overrides::parse_until(&until, now).map_err(|e| {
            anyhow!(e.replace("a pause must end", &format!("a {} must end", words.noun)))
        })?;
        let (table, cfg) = store_and_config(&store)?;
        let zone = known_scenario(&scenario, cfg.as_ref())?;
        Ok(Placing {
            scenario,
            until,
            reason: reason
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty()),
            by: by
                .or_else(|| std::env::var("USER").ok())
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty()),
            now,
            store: ops_store(&table).await?,
            table,
            zone,
        })
    }

    /// The override to store, deferring `defers`.
    fn of<D>(&self, defers: D) -> Override<D> {
        Override {
            until: self.until,
            defers,
            by: self.by.clone(),
            at: Some(self.now),
            reason: self.reason.clone(),
        }
    }

    /// The scenario's zone, as `describe` takes it.
    fn zone(&self) -> Option<(&jiff::tz::TimeZone, &str)> {
        self.zone.as_ref().map(|(tz, name)| (tz, name.as_str()))
    }
}

/// Say what a stored override does: its description, its effect, how it ends, and the one it
/// replaced (when that was still in force).
fn placed<D: Defers>(
    words: &Words,
    scenario: &str,
    first: String,
    placed: &Override<D>,
    replaced: Option<Override<D>>,
    now: jiff::Timestamp,
) {
    println!("{first}");
    println!("{}", words.meanwhile);
    println!(
        "the {} ends by itself at {}; `nightshift {} {scenario}` ends it earlier",
        words.noun, placed.until, words.lift
    );
    if let Some(old) = replaced.filter(|o| o.is_active(now)) {
        println!(
            "it replaces the earlier {}: {}",
            words.noun,
            old.describe(None)
        );
    }
}

/// Say what lifting an override found: lifted while in force, already ended, or none.
fn lift<D: Defers>(
    words: &Words,
    scenario: &str,
    lifted: Option<Override<D>>,
    now: jiff::Timestamp,
) {
    match lifted {
        Some(o) if o.is_active(now) => println!(
            "{} scenario \"{scenario}\": {} ({}); {}",
            words.lifted,
            words.lifted_what,
            o.describe(None),
            words.after_lift
        ),
        Some(o) => println!(
            "scenario \"{scenario}\" was no longer {}: its {} ended at {}; the stored {} is cleared",
            words.state, words.noun, o.until, words.noun
        ),
        None => println!(
            "scenario \"{scenario}\" was not {}: nothing to do",
            words.state
        ),
    }
}

/// `nightshift pause`: store the pause on the scenario's state item and say what it does.
pub async fn pause(args: PlaceArgs) -> anyhow::Result<ExitCode> {
    let placing = Placing::new(&PAUSE, args).await?;
    let (scenario, now) = (&placing.scenario, placing.now);
    let pause = placing.of(Paused);
    let replaced = placing
        .store
        .pause(scenario, &pause)
        .await
        .map_err(explain)?;
    let first = format!(
        "paused scenario \"{scenario}\" for {}: {}",
        human_span(pause.until.duration_since(now)),
        pause.describe(placing.zone())
    );
    placed(&PAUSE, scenario, first, &pause, replaced, now);
    Ok(ExitCode::SUCCESS)
}

/// `nightshift resume`: clear the stored pause and say whether it was still active.
pub async fn resume(args: LiftArgs) -> anyhow::Result<ExitCode> {
    let (store, scenario, now) = lifting(args).await?;
    let lifted = store.resume(&scenario).await.map_err(explain)?;
    lift(&PAUSE, &scenario, lifted, now);
    Ok(ExitCode::SUCCESS)
}

/// What `resume` and `release` need: the table, the scenario (known to the config, when one is
/// given) and the time.
async fn lifting(args: LiftArgs) -> anyhow::Result<(DynamoStore, String, jiff::Timestamp)> {
    let LiftArgs {
        scenario,
        store,
        now,
    } = args;
    let (table, cfg) = store_and_config(&store)?;
    known_scenario(&scenario, cfg.as_ref())?;
    Ok((ops_store(&table).await?, scenario, now_or(now)))
}

/// `nightshift hold`: store the hold of the open run on the scenario's state item.
pub async fn hold(args: PlaceArgs) -> anyhow::Result<ExitCode> {
    let placing = Placing::new(&HOLD, args).await?;
    let (scenario, table, now, store) = (
        &placing.scenario,
        &placing.table,
        placing.now,
        &placing.store,
    );
    let state = store.scenario_state(scenario).await.map_err(explain)?;
    let no_open_run = || {
        anyhow!(
            "scenario \"{scenario}\" has no open run in table \"{table}\": a hold keeps the capacity of the night's open run, and there is none (no scale-up has run yet, or the night's run is closed). After tonight's scale-up, hold again; to keep a night from scaling at all, `nightshift pause {scenario} --until T`; `nightshift history --scenario {scenario}` lists its runs"
        )
    };
    let Some(run_id) = state.open_run.clone() else {
        return Err(no_open_run());
    };
    let run = store
        .get_run(scenario, &run_id)
        .await
        .map_err(explain)?
        .ok_or_else(no_open_run)?;
    let started = run
        .baseline
        .as_ref()
        .and_then(|b| RunState::from_json(b).ok())
        .and_then(|s| s.scale_down_started_at);
    if let Some(at) = started {
        return Err(anyhow!(
            "run {run_id} of scenario \"{scenario}\" has been scaling down since {at}: a hold cannot keep capacity that is already being restored. Let the scale-down finish, then invoke a scale-up to raise the capacity again and hold that run"
        ));
    }
    let hold = placing.of(Held {
        run: run_id.clone(),
    });
    let replaced = match store.hold(scenario, &hold).await.map_err(explain)? {
        HoldPlaced::Held { replaced } => replaced,
        HoldPlaced::NoOpenRun => {
            return Err(anyhow!(
                "run {run_id} of scenario \"{scenario}\" closed while the hold was being stored: nothing was held; `nightshift history --scenario {scenario}` shows how it closed"
            ))
        }
    };
    let first = format!(
        "held scenario \"{scenario}\": {}",
        hold.describe(placing.zone())
    );
    placed(&HOLD, scenario, first, &hold, replaced, now);
    if let Some(pause) = state.pause.filter(|p| p.is_active(now)) {
        println!(
            "note: the scenario is also {}: while the pause lasts its checks and scheduled scale-downs are skipped",
            pause.describe(None)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `nightshift release`: clear the stored hold and say whether it was still in force.
pub async fn release(args: LiftArgs) -> anyhow::Result<ExitCode> {
    let (store, scenario, now) = lifting(args).await?;
    let lifted = store.release_hold(&scenario).await.map_err(explain)?;
    lift(&HOLD, &scenario, lifted, now);
    Ok(ExitCode::SUCCESS)
}

/// `show`'s line about the open run's hold: `hold:     held until … (in force)`, or nothing
/// when no hold of this run is stored (a failed read says so rather than failing `show`).
pub async fn hold_line(
    store: &impl HistoryStore,
    scenario: &str,
    run: &str,
    zone: Option<&jiff::tz::TimeZone>,
    now: jiff::Timestamp,
) -> String {
    let hold = match store.scenario_state(scenario).await {
        Ok(state) => state.hold.filter(|h| h.defers.run == run),
        Err(e) => return format!("hold:     could not be read ({e})\n"),
    };
    match hold {
        Some(h) if h.is_active(now) => {
            let local = zone
                .map(|tz| format!(" ({})", nightshift::text::local_minute(tz, h.until)))
                .unwrap_or_default();
            format!(
                "hold:     {}{local}: checks keep the capacity and scheduled scale-downs defer until then; `nightshift release {scenario}` ends it\n",
                h.describe(None)
            )
        }
        Some(h) => format!("hold:     ended at {}\n", h.until),
        None => String::new(),
    }
}

/// `12h`, `1d 2h`, `45m`: how long a pause lasts, for people.
fn human_span(d: jiff::SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let (days, hours, mins) = (mins / 1440, (mins / 60) % 24, mins % 60);
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if mins > 0 || parts.is_empty() {
        parts.push(format!("{mins}m"));
    }
    parts.join(" ")
}
