//! `nightshift tune --scale-up`: how early the night must scale up (pure).
//!
//! Per past night: the scale-up (the run's opening), when its capacity was first seen ready (the
//! run's readiness record), when the batch first went busy (the first datapoint at or after the
//! scale-up at or over a scale-down metric's threshold), and the margin between the two
//! (positive: ready before the batch). In total: the nights whose batch started before the
//! capacity was ready, and the latest scale-up time that would have been ready in time on 90% of
//! the nights, each night needing the time its capacity took to come up, and what starting that
//! much earlier costs in capacity-hours (the readers and tasks each night added, held longer).

use super::NightInput;
use crate::config::Scenario;
use crate::gate::MetricsFetch;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

/// The share of nights the advice must be in time on.
pub const IN_TIME_SHARE: f64 = 0.9;

/// One past night's lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadNight {
    pub run: String,
    pub scale_up: Timestamp,
    pub ready: Option<Timestamp>,
    /// The batch metric's first busy datapoint at or after the scale-up.
    pub batch_busy: Option<Timestamp>,
    /// Minutes from ready to the batch going busy; negative: the batch started first.
    pub margin_minutes: Option<i64>,
    /// The batch started before the capacity was ready (or it never was).
    pub late: bool,
    /// The latest local scale-up time that would have had this night ready in time.
    pub latest_in_time: Option<String>,
    pub added_readers: u32,
    pub added_tasks: u32,
}

/// The nights and the advice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadReport {
    pub scenario: String,
    pub timezone: String,
    pub since: Timestamp,
    pub nights: Vec<LeadNight>,
    /// Nights with both a readiness record and a busy batch: the ones the advice is made from.
    pub measured: usize,
    pub late: usize,
    /// The current scale-up time (the schedule's), if scheduled.
    pub current: Option<String>,
    /// The latest scale-up time in time on 90% of the measured nights.
    pub advice: Option<String>,
    /// Minutes the advice is earlier than the current time (0 when the current one is early enough).
    pub earlier_minutes: i64,
    /// The extra capacity-hours per night and over the measured nights.
    pub extra_reader_hours_per_night: f64,
    pub extra_task_hours_per_night: f64,
    pub extra_reader_hours_total: f64,
    pub extra_task_hours_total: f64,
}

/// The first datapoint at or after `from` at or over a metric's threshold.
fn first_busy(scenario: &Scenario, metrics: &MetricsFetch, from: Timestamp) -> Option<Timestamp> {
    let MetricsFetch::Windows(windows) = metrics else {
        return None;
    };
    scenario
        .scale_down
        .metrics
        .iter()
        .filter_map(|spec| {
            let w = windows.iter().find(|w| w.spec == *spec)?;
            w.points
                .iter()
                .filter(|(t, v)| *t >= from && v.is_finite() && *v >= spec.below)
                .map(|(t, _)| *t)
                .min()
        })
        .min()
}

/// Minutes of `t` after local noon of the night's date (the scale-up's date, moved back a day
/// when the scale-up is in the morning): ordered within a night across midnight.
fn night_minutes(tz: &TimeZone, night_of: Timestamp, t: Timestamp) -> i64 {
    let z = night_of.to_zoned_datetime(tz.clone());
    let mut date = z.date();
    if z.time().hour() < 12 {
        date = date.yesterday().unwrap_or(date);
    }
    let noon = tz
        .to_timestamp(date.to_datetime(Time::new(12, 0, 0, 0).unwrap_or(Time::midnight())))
        .unwrap_or(night_of);
    t.duration_since(noon).as_secs().div_euclid(60)
}

fn clock(minutes_after_noon: i64) -> String {
    let m = (minutes_after_noon + 12 * 60).rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The lead of each night and the advice.
pub fn report(scenario: &Scenario, nights: &[NightInput], since: Timestamp) -> LeadReport {
    let tz = &scenario.timezone;
    let mut rows = Vec::new();
    // Per measured night: the latest in-time scale-up (minutes after noon), and its capacity.
    let mut latest: Vec<i64> = Vec::new();
    let mut added = (0u64, 0u64);
    for n in nights {
        let busy = first_busy(scenario, &n.metrics, n.opened_at);
        let margin = match (n.ready_at, busy) {
            (Some(r), Some(b)) => Some(b.duration_since(r).as_secs().div_euclid(60)),
            _ => None,
        };
        let late = match (n.ready_at, busy) {
            (Some(r), Some(b)) => b < r,
            (None, Some(_)) => true,
            _ => false,
        };
        let in_time = match (n.ready_at, busy) {
            (Some(r), Some(b)) => {
                let needs = r.duration_since(n.opened_at);
                let at = b.checked_sub(needs).unwrap_or(b);
                let m = night_minutes(tz, n.opened_at, at);
                latest.push(m);
                added.0 += u64::from(n.added_readers);
                added.1 += u64::from(n.added_tasks);
                Some(clock(m))
            }
            _ => None,
        };
        rows.push(LeadNight {
            run: n.run.clone(),
            scale_up: n.opened_at,
            ready: n.ready_at,
            batch_busy: busy,
            margin_minutes: margin,
            late,
            latest_in_time: in_time,
            added_readers: n.added_readers,
            added_tasks: n.added_tasks,
        });
    }
    let measured = latest.len();
    latest.sort_unstable();
    // The latest time T with at least 90% of the nights' latest in-time scale-ups at or after it.
    let advice = (measured > 0).then(|| {
        let need = (IN_TIME_SHARE * measured as f64).ceil() as usize;
        latest[measured - need.clamp(1, measured)]
    });
    let current = scenario.schedule.as_ref().map(|s| s.scale_up);
    let current_m = current.map(|t| {
        let m = i64::from(t.hour()) * 60 + i64::from(t.minute()) - 12 * 60;
        m.rem_euclid(24 * 60)
    });
    let earlier = match (advice, current_m) {
        (Some(a), Some(c)) => (c - a).max(0),
        _ => 0,
    };
    let hours = earlier as f64 / 60.0;
    let per = |sum: u64| {
        if measured == 0 {
            0.0
        } else {
            sum as f64 / measured as f64 * hours
        }
    };
    LeadReport {
        scenario: scenario.name.clone(),
        timezone: scenario.timezone_name.clone(),
        since,
        late: rows.iter().filter(|r| r.late).count(),
        nights: rows,
        measured,
        current: current.map(|t| t.strftime("%H:%M").to_string()),
        advice: advice.map(clock),
        earlier_minutes: earlier,
        extra_reader_hours_per_night: round2(per(added.0)),
        extra_task_hours_per_night: round2(per(added.1)),
        extra_reader_hours_total: round2(added.0 as f64 * hours),
        extra_task_hours_total: round2(added.1 as f64 * hours),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The report as a table of at most 100 columns.
pub fn render(report: &LeadReport, tz: &TimeZone) -> String {
    let hm = |t: Option<Timestamp>| {
        t.map_or("-".to_string(), |t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%H:%M")
                .to_string()
        })
    };
    let mut out = format!(
        "tune --scale-up {}: {} closed night(s) since {} UTC; times are {}\n\n",
        report.scenario,
        report.nights.len(),
        report.since.strftime("%Y-%m-%d %H:%M"),
        report.timezone
    );
    out.push_str(&format!(
        "{:<14}{:>9}{:>8}{:>12}{:>9}  {:<6}{:>16}\n",
        "night", "scale-up", "ready", "batch busy", "margin", "late", "latest in time"
    ));
    for n in &report.nights {
        out.push_str(&format!(
            "{:<14}{:>9}{:>8}{:>12}{:>9}  {:<6}{:>16}\n",
            n.run,
            hm(Some(n.scale_up)),
            hm(n.ready),
            hm(n.batch_busy),
            n.margin_minutes
                .map_or("-".into(), |m| format!("{m:+} min")),
            if n.late { "LATE" } else { "" },
            n.latest_in_time.as_deref().unwrap_or("-"),
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "batch busy before the capacity was ready: {} of {} night(s)\n",
        report.late,
        report.nights.len()
    ));
    match (&report.advice, &report.current) {
        (None, _) => out.push_str(
            "no advice: no night has both a readiness record and a busy batch metric after its scale-up\n",
        ),
        (Some(a), Some(c)) if report.earlier_minutes > 0 => out.push_str(&format!(
            "ready in time on 90% of {} measured night(s): scale up by {a} (now {c}, {} min earlier)\n\
             extra capacity: {:.2} reader-hours, {:.2} task-hours per night ({:.2} and {:.2} in all)\n",
            report.measured,
            report.earlier_minutes,
            report.extra_reader_hours_per_night,
            report.extra_task_hours_per_night,
            report.extra_reader_hours_total,
            report.extra_task_hours_total
        )),
        (Some(a), Some(c)) => out.push_str(&format!(
            "ready in time on 90% of {} measured night(s): scale up by {a}; the current {c} is early enough\n",
            report.measured
        )),
        (Some(a), None) => out.push_str(&format!(
            "ready in time on 90% of {} measured night(s): scale up by {a}\n",
            report.measured
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::MetricWindow;
    use jiff::SignedDuration;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A night opened at 23:00 Tokyo (14:00Z) that took `ready_after` minutes to be ready and
    /// whose batch went busy `busy_after` minutes after the scale-up.
    fn night(day: u8, ready_after: i64, busy_after: i64, scenario: &Scenario) -> NightInput {
        let open = ts(&format!("2026-11-{day:02}T14:00:00Z"));
        let spec = scenario.scale_down.metrics[0].clone();
        let points = (0..180)
            .map(|m| {
                let t = open + SignedDuration::from_mins(m - 30);
                (t, if m - 30 >= busy_after { 4.0 } else { 0.0 })
            })
            .collect();
        NightInput {
            run: format!("2026-11-{day:02}"),
            opened_at: open,
            closed_at: None,
            actual_close: None,
            checks: Vec::new(),
            forced_at: None,
            added_readers: 3,
            added_tasks: 8,
            added_vcpus: 0,
            added_instances: 0,
            ready_at: Some(open + SignedDuration::from_mins(ready_after)),
            metrics: MetricsFetch::Windows(vec![MetricWindow { spec, points }]),
        }
    }

    #[test]
    fn the_advice_is_the_latest_scale_up_in_time_on_nine_nights_of_ten_checked_by_hand() {
        let text = include_str!("../../integration/fixtures/config/contract.toml").to_string()
            + "\n  [scenario.schedule]\n  scale_up = \"23:00\"\n  check_every = \"10m\"\n";
        let s = crate::config::parse(&text, "c.toml").unwrap().scenarios[0].clone();
        // (ready after, busy after) in minutes from the 23:00 scale-up, ten nights.
        let cases = [
            (20, 30), // in time, latest in-time 23:10
            (20, 40), // 23:20
            (25, 30), // 23:05
            (30, 20), // late by 10: latest 22:50
            (20, 60), // 23:40
            (20, 50), // 23:30
            (40, 25), // late by 15: latest 22:45
            (20, 35), // 23:15
            (15, 45), // 23:30
            (20, 20), // margin 0, in time: 23:00
        ];
        let nights: Vec<NightInput> = cases
            .iter()
            .enumerate()
            .map(|(i, (r, b))| night(i as u8 + 1, *r, *b, &s))
            .collect();
        let r = report(&s, &nights, ts("2026-11-01T00:00:00Z"));
        assert_eq!(r.late, 2);
        assert_eq!(r.nights[3].margin_minutes, Some(-10));
        assert_eq!(r.nights[3].latest_in_time.as_deref(), Some("22:50"));
        // Sorted latest times: 22:45 22:50 23:00 23:05 23:10 23:15 23:20 23:30 23:30 23:40;
        // nine of ten at or after 22:50.
        assert_eq!(r.advice.as_deref(), Some("22:50"));
        assert_eq!(r.earlier_minutes, 10);
        // 3 readers and 8 tasks each night, 10 minutes longer: 0.5 and 1.33 hours per night.
        assert_eq!(r.extra_reader_hours_per_night, 0.5);
        assert_eq!(r.extra_task_hours_per_night, 1.33);
        assert_eq!(r.extra_reader_hours_total, 5.0);
        let table = render(&r, &s.timezone);
        assert!(
            table.contains("batch busy before the capacity was ready: 2 of 10 night(s)"),
            "{table}"
        );
        assert!(
            table.contains("scale up by 22:50 (now 23:00, 10 min earlier)"),
            "{table}"
        );
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    }
}
