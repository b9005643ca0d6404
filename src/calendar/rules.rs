//! The date rules of a `[[scenario.profile]]`: which nights a profile is for.
//!
//! The spellings are the config's contract: `YYYY-MM-DD`, `last-day`, `last-business-day`,
//! `business-day:N` (the N-th business day of the month, negative counting from its end),
//! `quarter-end` (the last business day of March, June, September and December) and the
//! weekdays `MON`..`SUN`. A rule written in another spelling (another language, a near miss) is
//! refused with the rule it most likely means.

use super::BusinessDays;
use crate::schedule::{day_name, DAY_NAMES};
use jiff::civil::{Date, Weekday};
use std::fmt;

/// One date rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateRule {
    /// One local date.
    On(Date),
    /// The last day of the month.
    LastDay,
    /// The last business day of the month.
    LastBusinessDay,
    /// The N-th business day of the month (1 the first, -1 the last); never 0.
    BusinessDay(i8),
    /// The last business day of March, June, September and December.
    QuarterEnd,
    /// Every such day of the week.
    Weekday(Weekday),
}

/// A month has at most 23 weekdays: a larger N can never match.
pub const MAX_BUSINESS_DAY: i8 = 23;

/// Why a rule is not one of the contract's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub message: String,
    pub hint: String,
}

/// The spellings a rule may take, for messages.
pub const RULE_FORMS: &str = "\"YYYY-MM-DD\", \"last-day\", \"last-business-day\", \"business-day:N\" (N from 1 or from -1 at the month's end), \"quarter-end\", or a weekday \"MON\"..\"SUN\"";

/// Spellings seen in other languages and near misses, and the rule each most likely means.
const ELSEWHERE: &[(&str, &str)] = &[
    ("dernier-jour", "last-day"),
    ("fin-de-mois", "last-day"),
    ("fin-du-mois", "last-day"),
    ("dernier-jour-ouvre", "last-business-day"),
    ("dernier-jour-ouvré", "last-business-day"),
    ("fin-de-trimestre", "quarter-end"),
    ("letzter-tag", "last-day"),
    ("monatsende", "last-day"),
    ("monatsultimo", "last-business-day"),
    ("ultimo", "last-business-day"),
    ("letzter-werktag", "last-business-day"),
    ("quartalsende", "quarter-end"),
    ("ultimo-dia", "last-day"),
    ("ultimo-giorno", "last-day"),
    ("fin-de-mes", "last-day"),
    ("month-end", "last-day"),
    ("end-of-month", "last-day"),
    ("eom", "last-day"),
    ("last-weekday", "last-business-day"),
    ("last-working-day", "last-business-day"),
    ("quarter-end-day", "quarter-end"),
    ("end-of-quarter", "quarter-end"),
    ("qe", "quarter-end"),
];

impl DateRule {
    /// Reads one rule in the contract's spelling.
    pub fn parse(text: &str) -> Result<DateRule, RuleError> {
        let t = text.trim();
        match t {
            "last-day" => return Ok(DateRule::LastDay),
            "last-business-day" => return Ok(DateRule::LastBusinessDay),
            "quarter-end" => return Ok(DateRule::QuarterEnd),
            _ => {}
        }
        if let Some((_, day)) = DAY_NAMES.iter().find(|(n, _)| *n == t) {
            return Ok(DateRule::Weekday(*day));
        }
        if let Some(n) = t.strip_prefix("business-day:") {
            return business_day(text, n);
        }
        if looks_like_date(t) {
            return date(text, t).map(DateRule::On);
        }
        Err(unknown(text))
    }

    /// Whether `date` is one of this rule's dates.
    pub fn matches(&self, date: Date, days: &BusinessDays<'_>) -> bool {
        match *self {
            DateRule::On(d) => d == date,
            DateRule::LastDay => date == date.last_of_month(),
            DateRule::LastBusinessDay => days.nth_of_month(date, -1) == Some(date),
            DateRule::BusinessDay(n) => days.nth_of_month(date, n) == Some(date),
            DateRule::QuarterEnd => {
                date.month() % 3 == 0 && days.nth_of_month(date, -1) == Some(date)
            }
            DateRule::Weekday(w) => date.weekday() == w,
        }
    }

    /// The dates of the month starting `first` that this rule matches.
    pub fn dates_in_month(&self, first: Date, days: &BusinessDays<'_>) -> Vec<Date> {
        match *self {
            DateRule::On(d) => {
                if d.year() == first.year() && d.month() == first.month() {
                    vec![d]
                } else {
                    Vec::new()
                }
            }
            DateRule::LastDay => vec![first.last_of_month()],
            DateRule::LastBusinessDay => days.nth_of_month(first, -1).into_iter().collect(),
            DateRule::BusinessDay(n) => days.nth_of_month(first, n).into_iter().collect(),
            DateRule::QuarterEnd if first.month() % 3 == 0 => {
                days.nth_of_month(first, -1).into_iter().collect()
            }
            DateRule::QuarterEnd => Vec::new(),
            DateRule::Weekday(w) => (1..=5)
                .filter_map(|n| first.nth_weekday_of_month(n, w).ok())
                .filter(|d| d.month() == first.month())
                .collect(),
        }
    }

    /// Whether the rule depends on business days (holidays and skip dates move it).
    pub fn uses_business_days(&self) -> bool {
        matches!(
            self,
            DateRule::LastBusinessDay | DateRule::BusinessDay(_) | DateRule::QuarterEnd
        )
    }
}

impl fmt::Display for DateRule {
    /// The rule in the config's spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateRule::On(d) => write!(f, "{d}"),
            DateRule::LastDay => f.write_str("last-day"),
            DateRule::LastBusinessDay => f.write_str("last-business-day"),
            DateRule::BusinessDay(n) => write!(f, "business-day:{n}"),
            DateRule::QuarterEnd => f.write_str("quarter-end"),
            DateRule::Weekday(w) => f.write_str(day_name(*w)),
        }
    }
}

fn business_day(text: &str, n: &str) -> Result<DateRule, RuleError> {
    let bad = || {
        RuleError {
        message: format!(
            "date rule \"{text}\": \"{n}\" is not a business day of the month"
        ),
        hint: format!(
            "write business-day:N with N from 1 to {MAX_BUSINESS_DAY} (the N-th business day) or from -1 to -{MAX_BUSINESS_DAY} (counted from the month's end), e.g. \"business-day:3\" or \"business-day:-2\""
        ),
    }
    };
    let value: i8 = n.trim().parse().map_err(|_| bad())?;
    if value == 0 || !(-MAX_BUSINESS_DAY..=MAX_BUSINESS_DAY).contains(&value) {
        return Err(bad());
    }
    Ok(DateRule::BusinessDay(value))
}

fn looks_like_date(t: &str) -> bool {
    t.len() >= 8
        && t.starts_with(|c: char| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '/')
}

/// Strictly `YYYY-MM-DD`, and a real date (`2026-02-30` is not).
fn date(text: &str, t: &str) -> Result<Date, RuleError> {
    let b = t.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(RuleError {
            message: format!("date rule \"{text}\" is not a date in YYYY-MM-DD form"),
            hint: "write a local date as \"2026-12-31\" (year, month, day), so that it cannot be read two ways".into(),
        });
    }
    let (y, m, d) = (
        t[0..4].parse::<i16>().ok(),
        t[5..7].parse::<i8>().ok(),
        t[8..10].parse::<i8>().ok(),
    );
    match (y, m, d) {
        (Some(y), Some(m), Some(d)) => Date::new(y, m, d).map_err(|_| RuleError {
            message: format!(
                "date rule \"{text}\" can never match: there is no such day in the calendar"
            ),
            hint: match Date::new(y, m.clamp(1, 12), 1) {
                Ok(first) => format!(
                    "that month has {} days; for the month's last day write \"last-day\"",
                    first.days_in_month()
                ),
                Err(_) => "write a real local date as \"YYYY-MM-DD\"".into(),
            },
        }),
        _ => Err(RuleError {
            message: format!("date rule \"{text}\" is not a date in YYYY-MM-DD form"),
            hint: "write a local date as \"2026-12-31\"".into(),
        }),
    }
}

fn unknown(text: &str) -> RuleError {
    let lower = text.trim().to_lowercase();
    let meant = ELSEWHERE
        .iter()
        .find(|(other, _)| *other == lower)
        .map(|(_, rule)| *rule)
        .or_else(|| {
            let names: Vec<&str> = ["last-day", "last-business-day", "quarter-end"]
                .into_iter()
                .chain(DAY_NAMES.iter().map(|(n, _)| *n))
                .collect();
            names
                .iter()
                .copied()
                .find(|n| n.eq_ignore_ascii_case(&lower))
                .or_else(|| {
                    names
                        .iter()
                        .copied()
                        .map(|n| (strsim::levenshtein(&lower, &n.to_lowercase()), n))
                        .filter(|(d, _)| *d <= 2)
                        .min_by_key(|(d, _)| *d)
                        .map(|(_, n)| n)
                })
        });
    let near = meant
        .map(|m| format!("did you mean \"{m}\"? "))
        .unwrap_or_default();
    RuleError {
        message: format!("unknown date rule \"{text}\""),
        hint: format!("{near}rules are written in English: {RULE_FORMS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Holidays;

    fn d(y: i16, m: i8, day: i8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    #[test]
    fn every_contract_spelling_reads_and_writes_back() {
        for text in [
            "2026-12-31",
            "last-day",
            "last-business-day",
            "business-day:3",
            "business-day:-2",
            "quarter-end",
            "MON",
            "SUN",
        ] {
            assert_eq!(DateRule::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_rule_in_another_language_is_refused_with_the_rule_it_means() {
        let e = DateRule::parse("dernier-jour").unwrap_err();
        assert_eq!(e.message, "unknown date rule \"dernier-jour\"");
        assert!(
            e.hint.starts_with("did you mean \"last-day\"?"),
            "{}",
            e.hint
        );
        let e = DateRule::parse("Monatsende").unwrap_err();
        assert!(e.hint.contains("\"last-day\""), "{}", e.hint);
        let e = DateRule::parse("mon").unwrap_err();
        assert!(e.hint.contains("\"MON\""), "{}", e.hint);
        let e = DateRule::parse("last-bussiness-day").unwrap_err();
        assert!(e.hint.contains("\"last-business-day\""), "{}", e.hint);
    }

    #[test]
    fn an_impossible_date_or_business_day_is_refused() {
        let e = DateRule::parse("2026-02-30").unwrap_err();
        assert!(e.message.contains("can never match"), "{}", e.message);
        assert!(e.hint.contains("28 days"), "{}", e.hint);
        assert!(DateRule::parse("31/12/2026").is_err());
        for bad in ["business-day:0", "business-day:24", "business-day:x"] {
            assert!(DateRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn business_day_rules_skip_weekends_holidays_and_skip_dates() {
        let holidays = Holidays::default();
        let skip = [d(2026, 12, 31)];
        let days = BusinessDays::new(&skip, &holidays);
        // December 2026: the 31st (a Thursday) is a skip date, so the 30th is the last business day.
        assert!(DateRule::LastBusinessDay.matches(d(2026, 12, 30), &days));
        assert!(!DateRule::LastBusinessDay.matches(d(2026, 12, 31), &days));
        assert!(DateRule::QuarterEnd.matches(d(2026, 12, 30), &days));
        assert!(DateRule::LastDay.matches(d(2026, 12, 31), &days));
        // 2026-08-01 is a Saturday: the first business day is Monday the 3rd.
        assert!(DateRule::BusinessDay(1).matches(d(2026, 8, 3), &days));
        assert!(DateRule::BusinessDay(-2).matches(d(2026, 8, 28), &days));
        assert!(!DateRule::QuarterEnd.matches(d(2026, 8, 31), &days));
        assert!(DateRule::Weekday(Weekday::Friday).matches(d(2026, 8, 28), &days));
    }
}
