//! `nightshift report`: the nights over weeks. One line per night (opened, capacity ready after,
//! quiet at, closed, duration, why it closed: quiet / deadline / forced, failures, drift) and the
//! totals (nights, deadline hits, reader-hours and task-hours held above the baseline), as a
//! table, JSON or a self-contained HTML page that plots the nights over time.
//!
//! Pure: the CLI reads the runs (`scenario_runs` / `runs_between`, as `history` does) and each
//! run's events (`run_events`), all Queries whose cost follows the result, and hands them here
//! with `now`. Everything a night says comes from what the steps recorded: the run's state (its
//! baseline, `ready_at`, `scale_down_started_at`) and its events' typed evidence (the gate's rule
//! and time, drift, failed calls).
//!
//! Capacity above the baseline (`account`): the hours each kind was held, from the calls the
//! steps recorded (a reader from its create to its delete, a resized instance's class difference,
//! DCUs above the baseline's MinCapacity, tasks above the baseline's desired count with their
//! Fargate size), what holding the night's peak all day would have been, and what closing on
//! quiet saved against the deadline; with `[prices]`, the same in money (`money`). Per night,
//! per calendar month of the range and in total.

pub mod account;
mod html;
pub mod money;
mod read;
mod table;
#[cfg(test)]
mod tests;

pub use account::{Account, Basis, Hours};
pub use html::trends_html;
pub use money::Money;
pub use read::{closing_account, read_nights};
pub use table::trends_table;

use crate::domain::{ActionResult, Outcome};
use crate::evidence::StepEvidence;
use crate::gate;
use crate::history::{EventRecord, RunRecord, RunStatus};
use crate::plan::RunState;
use account::round2;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::BTreeSet;

/// Why a night closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedBy {
    Quiet,
    Deadline,
    Forced,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Quiet => "quiet",
            ClosedBy::Deadline => "deadline",
            ClosedBy::Forced => "forced",
        }
    }
}

/// One night of the report (`--output json`: the field names are a contract; add, never rename).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendNight {
    pub scenario: String,
    pub run: String,
    pub status: RunStatus,
    pub opened_at: Timestamp,
    /// Seconds from the scale-up to the check that first saw the capacity ready.
    pub ready_after_s: Option<i64>,
    /// When the gate found the night quiet and let it end (quiet nights only).
    pub quiet_at: Option<Timestamp>,
    /// When the scale-down started (the capacity stops counting then).
    pub scale_down_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Opened to closed, in seconds (`null` while open).
    pub duration_s: Option<i64>,
    /// The rule that let the night end; `null` while open or when no step recorded it.
    pub closed_by: Option<ClosedBy>,
    /// Steps that failed: rejected, or with a failed or refused call.
    pub failures: u32,
    /// Distinct drift findings (values changed by hand during the night).
    pub drift: u32,
    /// ECS tasks and DocumentDB readers above the baseline at night.
    pub extra_tasks: u32,
    pub extra_readers: u32,
    /// Task-hours and reader-hours held above the baseline (`held`'s totals).
    pub task_hours: f64,
    pub reader_hours: f64,
    /// The night's hours above the baseline by kind, what holding its peak all day would have
    /// been, and what closing on quiet saved (`account`), rounded to two decimals.
    #[serde(flatten)]
    pub hours: Account,
    /// The same at `[prices]` (None without prices).
    pub money: Option<Money>,
    /// The unrounded figures the totals add up.
    #[serde(skip)]
    pub exact: Account,
    #[serde(skip)]
    pub exact_money: Option<Money>,
    // --- worker kinds: shown where a scenario has them ---
    /// Batch vCPUs kept warm (minvCpus) and Auto Scaling instances above the baseline at night.
    #[serde(skip_serializing_if = "is_zero")]
    pub extra_vcpus: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub extra_instances: u32,
    #[serde(skip_serializing_if = "is_nothing")]
    pub vcpu_hours: f64,
    #[serde(skip_serializing_if = "is_nothing")]
    pub instance_hours: f64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_nothing(h: &f64) -> bool {
    *h == 0.0
}

impl TrendNight {
    pub fn deadline_hit(&self) -> bool {
        self.closed_by == Some(ClosedBy::Deadline)
    }
}

/// The totals line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub nights: u32,
    pub closed: u32,
    pub quiet: u32,
    pub deadline_hits: u32,
    pub forced: u32,
    pub failures: u32,
    pub drift: u32,
    pub task_hours: f64,
    pub reader_hours: f64,
    /// Capacity-hours held above the baseline, by kind, and what the nights saved.
    pub held: Hours,
    pub saved_vs_always_on: Hours,
    pub saved_vs_deadline: Hours,
    /// The same at `[prices]`.
    pub money: Option<Money>,
    /// The worker kinds' hours (Batch vCPUs kept warm, Auto Scaling instances), where a scenario
    /// has them.
    #[serde(skip_serializing_if = "is_nothing")]
    pub vcpu_hours: f64,
    #[serde(skip_serializing_if = "is_nothing")]
    pub instance_hours: f64,
}

/// The totals of the nights of one calendar month (the month of the night's local date).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthTotals {
    /// `2026-11`.
    pub month: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What serving the report read from the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Pages read (a Query each; a page of the time index that crosses a month boundary is one
    /// Query per month bucket, so the requests can be a few more).
    pub queries: u32,
    /// Items DynamoDB read to serve them (`ScannedCount`).
    pub items_read: u64,
}

/// The whole report, oldest night first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendReport {
    pub scenario: Option<String>,
    pub since: Timestamp,
    pub now: Timestamp,
    /// The zone the table and the page show local times in (`UTC` without a config).
    pub timezone: String,
    pub nights: Vec<TrendNight>,
    pub totals: Totals,
    /// The totals per calendar month of the range, oldest first.
    pub months: Vec<MonthTotals>,
    /// `[prices]`' currency when the report is priced.
    pub currency: Option<String>,
    pub cost: Cost,
}

/// One night from its run record and its events (in time order).
pub fn night(run: &RunRecord, events: &[EventRecord], now: Timestamp) -> TrendNight {
    let state = run
        .baseline
        .as_ref()
        .and_then(|b| RunState::from_json(b).ok());
    let evidence: Vec<StepEvidence> = events
        .iter()
        .map(|e| {
            e.evidence
                .as_ref()
                .map(StepEvidence::read)
                .unwrap_or_default()
        })
        .collect();
    let ready_at = state
        .as_ref()
        .and_then(|s| s.ready_at)
        .or_else(|| evidence.iter().find_map(|e| e.ready_at));
    // The check (or scale-down) whose gate let the night end.
    let deciding = evidence
        .iter()
        .filter_map(|e| e.gate.as_ref())
        .find(|g| g.rule.is_some());
    let closed_by = deciding.and_then(|g| g.rule).map(|r| match r {
        gate::Rule::Quiet => ClosedBy::Quiet,
        gate::Rule::Deadline => ClosedBy::Deadline,
        gate::Rule::Forced => ClosedBy::Forced,
    });
    let quiet_at = deciding
        .filter(|g| g.rule == Some(gate::Rule::Quiet))
        .map(|g| g.now);
    let scale_down_at = state
        .as_ref()
        .and_then(|s| s.scale_down_started_at)
        .or_else(|| deciding.map(|g| g.now));
    let failures = events
        .iter()
        .filter(|e| {
            e.outcome == Outcome::Rejected
                || e.actions.iter().any(|a| {
                    matches!(
                        a.result,
                        ActionResult::Failed { .. } | ActionResult::Refused { .. }
                    )
                })
        })
        .count() as u32;
    let drift: BTreeSet<&str> = evidence
        .iter()
        .flat_map(|e| e.converge.drift.iter().map(String::as_str))
        .collect();
    let (extra_tasks, extra_readers) = match &state {
        Some(s) => (
            s.baseline
                .services
                .iter()
                .map(|svc| (svc.night_desired - svc.desired).max(0) as u32)
                .sum(),
            s.baseline
                .clusters
                .iter()
                .map(|c| {
                    let readers = c.instances.iter().filter(|i| !i.writer).count() as u32;
                    u32::from(c.night_readers).saturating_sub(readers)
                })
                .sum(),
        ),
        None => (0, 0),
    };
    let (extra_vcpus, extra_instances) = match &state {
        Some(s) => (
            s.baseline
                .environments
                .iter()
                .map(|e| (e.night_min - e.min).max(0) as u32)
                .sum(),
            s.baseline
                .groups
                .iter()
                .map(|g| (g.night.desired - g.size.desired).max(0) as u32)
                .sum(),
        ),
        None => (0, 0),
    };
    let held_until = scale_down_at.or(run.closed_at).unwrap_or(now);
    let held_h = (held_until.duration_since(run.opened_at).as_secs().max(0) as f64) / 3600.0;
    let closed_by = closed_by.filter(|_| run.status == RunStatus::Closed);
    let span = account::Span {
        opened_at: run.opened_at,
        scale_down_at,
        end: run.closed_at.unwrap_or(now),
        quiet_deadline: deciding
            .filter(|_| closed_by == Some(ClosedBy::Quiet))
            .map(|g| g.deadline),
    };
    let exact = account::account(state.as_ref(), events, span);
    let hours = exact.rounded();
    TrendNight {
        scenario: run.scenario.clone(),
        run: run.run.clone(),
        status: run.status,
        opened_at: run.opened_at,
        ready_after_s: ready_at.map(|r| r.duration_since(run.opened_at).as_secs()),
        quiet_at,
        scale_down_at,
        closed_at: run.closed_at,
        duration_s: run
            .closed_at
            .map(|c| c.duration_since(run.opened_at).as_secs()),
        closed_by,
        failures,
        drift: drift.len() as u32,
        extra_tasks,
        extra_readers,
        task_hours: hours.held.task_hours,
        reader_hours: round2(exact.held.readers_total()),
        extra_vcpus,
        extra_instances,
        vcpu_hours: round2(f64::from(extra_vcpus) * held_h),
        instance_hours: round2(f64::from(extra_instances) * held_h),
        hours,
        money: None,
        exact,
        exact_money: None,
    }
}

/// The month a night belongs to: its run id's (the scenario-local date), else its opening's.
fn month_of(n: &TrendNight) -> String {
    let id = n.run.as_bytes();
    let dated = id.len() >= 8
        && id[..4].iter().all(u8::is_ascii_digit)
        && id[4] == b'-'
        && id[5..7].iter().all(u8::is_ascii_digit)
        && id[7] == b'-';
    if dated {
        n.run[..7].to_string()
    } else {
        n.opened_at.strftime("%Y-%m").to_string()
    }
}

/// The totals of `nights`.
fn totals<'a>(nights: impl Iterator<Item = &'a TrendNight>) -> Totals {
    let mut t = Totals::default();
    for n in nights {
        t.nights += 1;
        t.closed += u32::from(n.status == RunStatus::Closed);
        match n.closed_by {
            Some(ClosedBy::Quiet) => t.quiet += 1,
            Some(ClosedBy::Deadline) => t.deadline_hits += 1,
            Some(ClosedBy::Forced) => t.forced += 1,
            None => {}
        }
        t.failures += n.failures;
        t.drift += n.drift;
        t.vcpu_hours += n.vcpu_hours;
        t.instance_hours += n.instance_hours;
        t.held.add(&n.exact.held);
        t.saved_vs_always_on.add(&n.exact.saved_vs_always_on);
        if let Some(h) = &n.exact.saved_vs_deadline {
            t.saved_vs_deadline.add(h);
        }
        if let Some(m) = &n.exact_money {
            t.money
                .get_or_insert_with(|| Money {
                    currency: m.currency.clone(),
                    ..Money::default()
                })
                .add(m);
        }
    }
    t.task_hours = round2(t.held.task_hours);
    t.reader_hours = round2(t.held.readers_total());
    t.vcpu_hours = round2(t.vcpu_hours);
    t.instance_hours = round2(t.instance_hours);
    t.held = t.held.rounded();
    t.saved_vs_always_on = t.saved_vs_always_on.rounded();
    t.saved_vs_deadline = t.saved_vs_deadline.rounded();
    t.money = t.money.map(|m| m.rounded());
    t
}

/// Prices the report: each night's money at `prices`, and the totals'.
pub fn price_report(report: &mut TrendReport, prices: &crate::config::Prices) {
    for n in &mut report.nights {
        let exact = money::money(&n.exact, prices);
        n.money = Some(exact.rounded());
        n.exact_money = Some(exact);
    }
    report.currency = Some(prices.currency.clone());
    report.totals = totals(report.nights.iter());
    report.months = months(&report.nights);
}

fn months(nights: &[TrendNight]) -> Vec<MonthTotals> {
    let mut names: Vec<String> = nights.iter().map(month_of).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|month| MonthTotals {
            totals: totals(nights.iter().filter(|n| month_of(n) == month)),
            month,
        })
        .collect()
}

/// The report of these nights (any order; sorted oldest first).
pub fn report(
    scenario: Option<&str>,
    since: Timestamp,
    now: Timestamp,
    zone: Option<(&TimeZone, &str)>,
    mut nights: Vec<TrendNight>,
    cost: Cost,
) -> TrendReport {
    nights.sort_by(|a, b| (a.opened_at, &a.scenario).cmp(&(b.opened_at, &b.scenario)));
    TrendReport {
        scenario: scenario.map(str::to_string),
        since,
        now,
        timezone: zone.map_or("UTC".to_string(), |(_, name)| name.to_string()),
        totals: totals(nights.iter()),
        months: months(&nights),
        nights,
        currency: None,
        cost,
    }
}

/// `--output json`.
pub fn trends_json(report: &TrendReport) -> String {
    // Plain structs of strings and numbers: serialization cannot fail.
    let mut text = serde_json::to_string_pretty(report).unwrap_or_default();
    text.push('\n');
    text
}

/// `23:04` on the report's clock.
pub(crate) fn hm(t: Timestamp, zone: Option<&TimeZone>) -> String {
    crate::text::hh_mm(t, zone)
}
