//! A small RFC 5545 (iCalendar) reader for holiday files: the all-day events of a calendar, their
//! names, and their recurrence rules, expanded lazily over the dates asked about.
//!
//! Why not a crate: `icalendar`'s parser reads the text but leaves recurrence to `rrule`, which
//! brings chrono and chrono-tz (a second date library and a second copy of the time-zone
//! database in the Lambda binary, beside jiff's). A holiday file needs far less than all of RFC
//! 5545: all-day `VEVENT`s (`DTSTART;VALUE=DATE`, `DTEND` or `DURATION`, `SUMMARY`), yearly to
//! daily `RRULE`s with `INTERVAL`, `COUNT`, `UNTIL`, `BYMONTH`, `BYMONTHDAY`, `BYDAY` (with
//! ordinals: `4TH`, `-1MO`) and `BYSETPOS`, `EXDATE`, `RDATE` and `STATUS:CANCELLED`. That is
//! what the calendars that government, Google, Outlook and Apple export use for holidays, and it
//! is what this reader reads; anything else in a rule is refused by name, never guessed at.
//!
//! A rule with no end is never expanded to a list: [`Holidays::on`] asks whether one date is an
//! occurrence, stepping from the event's start to that date only (jumping whole periods when no
//! `COUNT` makes the count matter), so an endless rule costs what the asked date needs.

use jiff::civil::{Date, Weekday};
use jiff::ToSpan;

/// The largest holiday file nightshift reads: a national calendar of ten years is a few tens of
/// kilobytes, so anything near this is not a holiday calendar.
pub const MAX_HOLIDAYS_BYTES: usize = 1024 * 1024;

/// At most this many events in one file.
pub const MAX_EVENTS: usize = 10_000;

/// A `COUNT` above this is refused: counting needs every occurrence from the start.
pub const MAX_COUNT: u32 = 10_000;

/// How many periods an expansion steps through before it gives up (a daily rule over 270 years).
const MAX_PERIODS: u32 = 100_000;

/// The all-day events of a holiday file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    events: Vec<Holiday>,
    /// Timed events in the file: not holidays (only all-day events are nights without a batch).
    pub timed_events: usize,
}

/// One all-day event and its recurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub start: Date,
    /// Days it covers (a one-day event: 1).
    pub days: i32,
    pub rule: Option<Recurrence>,
    pub exdates: Vec<Date>,
    pub rdates: Vec<Date>,
}

/// How often (a holiday recurs daily at the most).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// An `RRULE` as far as all-day events need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<Date>,
    pub by_month: Vec<i8>,
    pub by_month_day: Vec<i8>,
    /// Weekdays, each with an ordinal (`4TH`: 4, `-1MO`: -1) or 0 for every one.
    pub by_day: Vec<(i8, Weekday)>,
    pub by_set_pos: Vec<i32>,
}

/// Why a holiday file is refused: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct IcsError {
    pub line: Option<usize>,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> IcsError {
    IcsError {
        line: Some(line),
        message: message.into(),
    }
}

impl Holidays {
    /// Reads an iCalendar file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Holidays, IcsError> {
        if bytes.len() > MAX_HOLIDAYS_BYTES {
            return Err(IcsError {
                line: None,
                message: format!(
                    "the file has {} bytes; a holiday file may have at most {MAX_HOLIDAYS_BYTES} bytes (1 MiB)",
                    bytes.len()
                ),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| IcsError {
            line: None,
            message: format!("the file is not UTF-8 text ({e}): iCalendar files are UTF-8"),
        })?;
        let lines = unfold(text);
        let first = lines.iter().find(|(_, l)| !l.trim().is_empty());
        if !first.is_some_and(|(_, l)| l.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
            return Err(IcsError {
                line: first.map(|(n, _)| *n),
                message: "not an iCalendar file: it does not start with BEGIN:VCALENDAR".into(),
            });
        }
        let mut holidays = Holidays::default();
        let mut depth: Vec<String> = Vec::new();
        let mut event: Option<RawEvent> = None;
        let mut closed = false;
        for (n, line) in &lines {
            let n = *n;
            if line.trim().is_empty() {
                continue;
            }
            let (name, params, value) = content_line(n, line)?;
            match name.as_str() {
                "BEGIN" => {
                    let what = value.trim().to_ascii_uppercase();
                    if what == "VEVENT" {
                        if depth.last().map(String::as_str) != Some("VCALENDAR") {
                            return Err(err(n, "BEGIN:VEVENT outside the calendar"));
                        }
                        event = Some(RawEvent::new(n));
                    }
                    depth.push(what);
                    if depth.len() > 8 {
                        return Err(err(n, "components nested more than 8 deep"));
                    }
                }
                "END" => {
                    let what = value.trim().to_ascii_uppercase();
                    if depth.last() != Some(&what) {
                        return Err(err(
                            n,
                            format!(
                                "END:{what} does not close {}",
                                depth
                                    .last()
                                    .map(|d| format!("BEGIN:{d}"))
                                    .unwrap_or_else(|| "anything".into())
                            ),
                        ));
                    }
                    depth.pop();
                    if what == "VEVENT" {
                        if let Some(raw) = event.take() {
                            match raw.finish(n)? {
                                Some(h) => holidays.events.push(h),
                                None => holidays.timed_events += 1,
                            }
                            if holidays.events.len() > MAX_EVENTS {
                                return Err(err(
                                    n,
                                    format!(
                                        "more than {MAX_EVENTS} events: not a holiday calendar"
                                    ),
                                ));
                            }
                        }
                    }
                    if depth.is_empty() {
                        closed = true;
                    }
                }
                _ if depth.last().map(String::as_str) == Some("VEVENT") => {
                    if let Some(raw) = event.as_mut() {
                        raw.property(n, &name, &params, &value)?;
                    }
                }
                _ => {}
            }
        }
        if !closed {
            return Err(IcsError {
                line: lines.last().map(|(n, _)| *n),
                message: "the calendar is cut short: END:VCALENDAR is missing".into(),
            });
        }
        Ok(holidays)
    }

    /// The name of the holiday that covers `date`, if any (the first in the file).
    pub fn on(&self, date: Date) -> Option<&str> {
        self.events
            .iter()
            .find(|h| h.covers(date))
            .map(|h| h.name.as_str())
    }

    /// How many all-day events the file has.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl Holiday {
    /// Whether one of its occurrences covers `date`.
    pub fn covers(&self, date: Date) -> bool {
        // The occurrence would have started in [date - days + 1, date].
        let Ok(earliest) = date.checked_sub((self.days - 1).days()) else {
            return false;
        };
        if self.rdates.iter().any(|d| *d >= earliest && *d <= date) {
            return true;
        }
        match &self.rule {
            None => self.start >= earliest && self.start <= date,
            Some(rule) => rule
                .occurrences(self.start, earliest, date)
                .into_iter()
                .any(|d| !self.exdates.contains(&d)),
        }
    }
}

impl Recurrence {
    /// The occurrences in `[from, to]` of the rule started at `start` (which counts as the first
    /// occurrence, as RFC 5545 says of DTSTART).
    pub fn occurrences(&self, start: Date, from: Date, to: Date) -> Vec<Date> {
        let mut out = Vec::new();
        if to < start || self.until.is_some_and(|u| from > u) {
            return out;
        }
        let interval = self.interval.max(1);
        let mut counted = 0u32;
        // Without COUNT, whole periods before `from` can be jumped over.
        let mut period: u32 = if self.count.is_none() {
            let skip = self.periods_between(start, from).saturating_sub(1);
            skip - skip % interval
        } else {
            0
        };
        let mut steps = 0;
        while steps < MAX_PERIODS {
            steps += 1;
            let Some((first_day, mut dates)) = self.period(start, period) else {
                break;
            };
            if first_day > to || self.until.is_some_and(|u| first_day > u) {
                break;
            }
            dates.sort_unstable();
            dates.dedup();
            let dates = self.set_pos(dates);
            for d in dates {
                if d < start || self.until.is_some_and(|u| d > u) {
                    continue;
                }
                counted += 1;
                if self.count.is_some_and(|c| counted > c) {
                    return out;
                }
                if d >= from && d <= to {
                    out.push(d);
                }
            }
            period += interval;
        }
        out
    }

    /// Whole periods from `start` to `date` (0 when `date` is in the first).
    fn periods_between(&self, start: Date, date: Date) -> u32 {
        let days = (date - start).get_days().max(0);
        let months = (i32::from(date.year()) - i32::from(start.year())) * 12
            + i32::from(date.month())
            - i32::from(start.month());
        let n = match self.freq {
            Freq::Daily => days,
            Freq::Weekly => days / 7,
            Freq::Monthly => months,
            Freq::Yearly => i32::from(date.year()) - i32::from(start.year()),
        };
        u32::try_from(n.max(0)).unwrap_or(0)
    }

    /// The candidate dates of the `k`-th period from `start`, and the period's first day.
    fn period(&self, start: Date, k: u32) -> Option<(Date, Vec<Date>)> {
        let k = i64::from(k);
        match self.freq {
            Freq::Daily => {
                let day = start.checked_add(k.days()).ok()?;
                let keep = self.month_ok(day)
                    && (self.by_month_day.is_empty() || self.month_day_ok(day))
                    && (self.by_day.is_empty()
                        || self.by_day.iter().any(|(_, w)| *w == day.weekday()));
                Some((day, if keep { vec![day] } else { Vec::new() }))
            }
            Freq::Weekly => {
                let anchor = start.checked_add((k * 7).days()).ok()?;
                // The week of `anchor`, from Monday (RFC 5545's default WKST).
                let monday = anchor
                    .checked_sub(i64::from(anchor.weekday().to_monday_zero_offset()).days())
                    .ok()?;
                let wanted: Vec<Weekday> = if self.by_day.is_empty() {
                    vec![start.weekday()]
                } else {
                    self.by_day.iter().map(|(_, w)| *w).collect()
                };
                let dates = (0..7)
                    .filter_map(|i| monday.checked_add(i.days()).ok())
                    .filter(|d| wanted.contains(&d.weekday()) && self.month_ok(*d))
                    .collect();
                Some((monday, dates))
            }
            Freq::Monthly => {
                let first = start.first_of_month().checked_add(k.months()).ok()?;
                let dates = if self.month_ok(first) {
                    self.days_in_month(first, start)
                } else {
                    Vec::new()
                };
                Some((first, dates))
            }
            Freq::Yearly => {
                let year = i64::from(start.year()) + k;
                let year = i16::try_from(year).ok()?;
                let jan = Date::new(year, 1, 1).ok()?;
                let months: Vec<i8> = if self.by_month.is_empty() {
                    vec![start.month()]
                } else {
                    self.by_month.clone()
                };
                let mut dates = Vec::new();
                for m in months {
                    if let Ok(first) = Date::new(year, m, 1) {
                        dates.extend(self.days_in_month(first, start));
                    }
                }
                Some((jan, dates))
            }
        }
    }

    /// The rule's days in the month starting `first`: by month day, by weekday (ordinals count
    /// within the month), or the start's day of the month.
    fn days_in_month(&self, first: Date, start: Date) -> Vec<Date> {
        let len = first.days_in_month();
        let mut out = Vec::new();
        if !self.by_month_day.is_empty() {
            for &md in &self.by_month_day {
                let day = if md > 0 { md } else { len + md + 1 };
                if day >= 1 && day <= len {
                    if let Ok(d) = first.with().day(day).build() {
                        if self.by_day.is_empty()
                            || self.by_day.iter().any(|(_, w)| *w == d.weekday())
                        {
                            out.push(d);
                        }
                    }
                }
            }
            return out;
        }
        if !self.by_day.is_empty() {
            for &(ord, w) in &self.by_day {
                let all: Vec<Date> = (0..len)
                    .filter_map(|i| first.checked_add(i64::from(i).days()).ok())
                    .filter(|d| d.weekday() == w)
                    .collect();
                match ord {
                    0 => out.extend(all),
                    n if n > 0 => out.extend(all.get(usize::from(n.unsigned_abs()) - 1).copied()),
                    n => {
                        let back = usize::from(n.unsigned_abs());
                        if back <= all.len() {
                            out.push(all[all.len() - back]);
                        }
                    }
                }
            }
            return out;
        }
        if start.day() <= len {
            out.extend(first.with().day(start.day()).build().ok());
        }
        out
    }

    fn month_ok(&self, d: Date) -> bool {
        self.by_month.is_empty() || self.by_month.contains(&d.month())
    }

    fn month_day_ok(&self, d: Date) -> bool {
        let len = d.days_in_month();
        self.by_month_day
            .iter()
            .any(|&md| d.day() == if md > 0 { md } else { len + md + 1 })
    }

    fn set_pos(&self, dates: Vec<Date>) -> Vec<Date> {
        if self.by_set_pos.is_empty() {
            return dates;
        }
        let len = dates.len() as i32;
        let mut out: Vec<Date> = self
            .by_set_pos
            .iter()
            .filter_map(|&p| {
                let i = if p > 0 { p - 1 } else { len + p };
                (0..len).contains(&i).then(|| dates[i as usize])
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Lines with their folded continuations joined, each with its first line number.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        match (line.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some((_, last))) => last.push_str(rest),
            _ => out.push((i + 1, line.to_string())),
        }
    }
    out
}

/// A content line: upper-case name, parameters, value.
type ContentLine = (String, Vec<(String, String)>, String);

/// `NAME;PARAM=V;…:value` → upper-case name, parameters, value.
fn content_line(n: usize, line: &str) -> Result<ContentLine, IcsError> {
    // The value starts at the first ':' outside a quoted parameter value.
    let mut quoted = false;
    let colon = line.char_indices().find_map(|(i, c)| match c {
        '"' => {
            quoted = !quoted;
            None
        }
        ':' if !quoted => Some(i),
        _ => None,
    });
    let Some(colon) = colon else {
        return Err(err(
            n,
            format!(
                "\"{}\" is not an iCalendar content line (NAME:value)",
                crate::text::cut(line, 60)
            ),
        ));
    };
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next().unwrap_or("").trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(err(
            n,
            format!("\"{}\" is not a property name", crate::text::cut(head, 40)),
        ));
    }
    let params = parts
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.trim().to_ascii_uppercase(),
                v.trim_matches('"').to_string(),
            )
        })
        .collect();
    Ok((name, params, value.to_string()))
}

/// An event as read, before it is known to be all-day.
struct RawEvent {
    line: usize,
    summary: Option<String>,
    start: Option<(Date, bool)>,
    end: Option<(Date, bool)>,
    duration_days: Option<i32>,
    rule: Option<Recurrence>,
    exdates: Vec<Date>,
    rdates: Vec<Date>,
    cancelled: bool,
}

impl RawEvent {
    fn new(line: usize) -> RawEvent {
        RawEvent {
            line,
            summary: None,
            start: None,
            end: None,
            duration_days: None,
            rule: None,
            exdates: Vec::new(),
            rdates: Vec::new(),
            cancelled: false,
        }
    }

    fn property(
        &mut self,
        n: usize,
        name: &str,
        params: &[(String, String)],
        value: &str,
    ) -> Result<(), IcsError> {
        match name {
            "SUMMARY" => self.summary = Some(unescape(value)),
            "DTSTART" => self.start = Some(date_value(n, name, params, value)?),
            "DTEND" => self.end = Some(date_value(n, name, params, value)?),
            "DURATION" => self.duration_days = Some(duration_days(n, value)?),
            "RRULE" => self.rule = Some(rrule(n, value)?),
            "EXDATE" => {
                for v in value.split(',') {
                    self.exdates.push(date_value(n, name, params, v)?.0);
                }
            }
            "RDATE" => {
                for v in value.split(',') {
                    self.rdates.push(date_value(n, name, params, v)?.0);
                }
            }
            "STATUS" => self.cancelled = value.trim().eq_ignore_ascii_case("CANCELLED"),
            _ => {}
        }
        Ok(())
    }

    /// The holiday, or None for a timed or cancelled event.
    fn finish(self, end_line: usize) -> Result<Option<Holiday>, IcsError> {
        let Some((start, all_day)) = self.start else {
            return Err(err(self.line, "the event has no DTSTART"));
        };
        if !all_day || self.cancelled {
            return Ok(None);
        }
        let days = match (self.end, self.duration_days) {
            (Some((end, _)), _) => (end - start).get_days(),
            (None, Some(d)) => d,
            (None, None) => 1,
        };
        if days < 1 {
            return Err(err(
                end_line,
                format!("the event starting {start} ends before it starts (DTEND or DURATION)"),
            ));
        }
        if days > 366 {
            return Err(err(
                self.line,
                format!("the event starting {start} lasts {days} days: not a holiday"),
            ));
        }
        Ok(Some(Holiday {
            name: self
                .summary
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| format!("holiday {start}")),
            start,
            days,
            rule: self.rule,
            exdates: self.exdates,
            rdates: self.rdates,
        }))
    }
}

/// A DATE (`20261225`, all-day) or DATE-TIME (`20261225T090000Z`, timed) value.
fn date_value(
    n: usize,
    name: &str,
    params: &[(String, String)],
    value: &str,
) -> Result<(Date, bool), IcsError> {
    let v = value.trim();
    let declared_date = params
        .iter()
        .any(|(k, val)| k == "VALUE" && val.eq_ignore_ascii_case("DATE"));
    let digits = v.get(..8).filter(|d| d.chars().all(|c| c.is_ascii_digit()));
    let date = digits.and_then(|d| {
        Date::new(
            d[0..4].parse().ok()?,
            d[4..6].parse().ok()?,
            d[6..8].parse().ok()?,
        )
        .ok()
    });
    match date {
        Some(date) if v.len() == 8 => Ok((date, true)),
        Some(date) if !declared_date && v.as_bytes().get(8) == Some(&b'T') => Ok((date, false)),
        _ => Err(err(
            n,
            format!(
                "{name} \"{}\" is not an iCalendar date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)",
                crate::text::cut(v, 40)
            ),
        )),
    }
}

/// `P1D`, `P2W` (a timed duration on an all-day event is refused).
fn duration_days(n: usize, value: &str) -> Result<i32, IcsError> {
    let v = value.trim();
    let bad = || {
        err(
            n,
            format!(
                "DURATION \"{}\" is not a whole number of days or weeks (P1D, P2W)",
                crate::text::cut(v, 40)
            ),
        )
    };
    let body = v.strip_prefix('P').ok_or_else(bad)?;
    let (num, unit) = body.split_at(body.len().saturating_sub(1));
    let num: i32 = num.parse().map_err(|_| bad())?;
    match unit {
        "D" => Ok(num),
        "W" => num.checked_mul(7).ok_or_else(bad),
        _ => Err(bad()),
    }
}

fn rrule(n: usize, value: &str) -> Result<Recurrence, IcsError> {
    let mut freq = None;
    let mut r = Recurrence {
        freq: Freq::Yearly,
        interval: 1,
        count: None,
        until: None,
        by_month: Vec::new(),
        by_month_day: Vec::new(),
        by_day: Vec::new(),
        by_set_pos: Vec::new(),
    };
    let list = |key: &str, v: &str, lo: i32, hi: i32| -> Result<Vec<i32>, IcsError> {
        v.split(',')
            .map(|x| {
                x.trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(&n.abs()) && (*n != 0 || lo == 0))
                    .ok_or_else(|| err(n, format!("RRULE {key}={v}: \"{x}\" is out of range")))
            })
            .collect()
    };
    for part in value.trim().split(';').filter(|p| !p.is_empty()) {
        let (key, v) = part
            .split_once('=')
            .ok_or_else(|| err(n, format!("RRULE part \"{part}\" is not KEY=VALUE")))?;
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => {
                freq = Some(match v.trim().to_ascii_uppercase().as_str() {
                    "DAILY" => Freq::Daily,
                    "WEEKLY" => Freq::Weekly,
                    "MONTHLY" => Freq::Monthly,
                    "YEARLY" => Freq::Yearly,
                    other => {
                        return Err(err(
                            n,
                            format!("RRULE FREQ={other}: an all-day holiday recurs DAILY, WEEKLY, MONTHLY or YEARLY"),
                        ))
                    }
                })
            }
            "INTERVAL" => {
                r.interval = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|i| (1..=1000).contains(i))
                    .ok_or_else(|| err(n, format!("RRULE INTERVAL={v} is not 1 to 1000")))?
            }
            "COUNT" => {
                r.count = Some(
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|c| (1..=MAX_COUNT).contains(c))
                        .ok_or_else(|| err(n, format!("RRULE COUNT={v} is not 1 to {MAX_COUNT}")))?,
                )
            }
            "UNTIL" => r.until = Some(date_value(n, "UNTIL", &[], v.get(..8).unwrap_or(v))?.0),
            "BYMONTH" => r.by_month = list("BYMONTH", v, 1, 12)?.into_iter().map(|m| m as i8).collect(),
            "BYMONTHDAY" => {
                r.by_month_day = list("BYMONTHDAY", v, 1, 31)?.into_iter().map(|m| m as i8).collect()
            }
            "BYSETPOS" => r.by_set_pos = list("BYSETPOS", v, 1, 366)?,
            "BYDAY" => {
                for d in v.split(',') {
                    let d = d.trim().to_ascii_uppercase();
                    let (ord, name) = d.split_at(d.len().saturating_sub(2));
                    let day = match name {
                        "MO" => Weekday::Monday,
                        "TU" => Weekday::Tuesday,
                        "WE" => Weekday::Wednesday,
                        "TH" => Weekday::Thursday,
                        "FR" => Weekday::Friday,
                        "SA" => Weekday::Saturday,
                        "SU" => Weekday::Sunday,
                        _ => return Err(err(n, format!("RRULE BYDAY: \"{d}\" is not a weekday (MO..SU, with an optional ordinal such as 4TH or -1MO)"))),
                    };
                    let ord: i8 = if ord.is_empty() {
                        0
                    } else {
                        ord.trim_start_matches('+')
                            .parse()
                            .ok()
                            .filter(|o: &i8| *o != 0 && o.abs() <= 5)
                            .ok_or_else(|| err(n, format!("RRULE BYDAY: \"{d}\" has an ordinal out of -5..5")))?
                    };
                    r.by_day.push((ord, day));
                }
            }
            "WKST" => {}
            other => {
                return Err(err(
                    n,
                    format!("RRULE {other}=…: nightshift's holiday reader does not expand {other}; write the holiday's dates as single events or with BYMONTH, BYMONTHDAY, BYDAY"),
                ))
            }
        }
    }
    r.freq = freq.ok_or_else(|| err(n, "RRULE without FREQ"))?;
    if r.count.is_some() && r.until.is_some() {
        return Err(err(
            n,
            "RRULE has both COUNT and UNTIL (RFC 5545 allows one)",
        ));
    }
    let ordinals = r.by_day.iter().any(|(o, _)| *o != 0);
    if ordinals && !matches!(r.freq, Freq::Monthly | Freq::Yearly) {
        return Err(err(
            n,
            "RRULE BYDAY ordinals (4TH, -1MO) need FREQ=MONTHLY or YEARLY",
        ));
    }
    if ordinals && r.freq == Freq::Yearly && r.by_month.is_empty() {
        return Err(err(n, "RRULE FREQ=YEARLY with a BYDAY ordinal needs BYMONTH (the ordinal counts within the month)"));
    }
    Ok(r)
}

/// TEXT values: `\,` `\;` `\\` `\n`.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i16, m: i8, day: i8) -> Date {
        Date::new(y, m, day).unwrap()
    }

    fn ics(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
    }

    #[test]
    fn all_day_and_multi_day_events_are_holidays_with_their_names() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261227\r\n",
            "SUMMARY:Christmas\\, and Boxing Day\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:2\r\nDTSTART:20261224T090000Z\r\nSUMMARY:Party\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:3\r\nDTSTART;VALUE=DATE:20260101\r\nSUMMARY:New Year's\r\n  Day\r\nEND:VEVENT\r\n",
        ));
        let h = Holidays::parse(text.as_bytes()).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.timed_events, 1);
        assert_eq!(h.on(d(2026, 12, 25)), Some("Christmas, and Boxing Day"));
        assert_eq!(h.on(d(2026, 12, 26)), Some("Christmas, and Boxing Day"));
        assert_eq!(h.on(d(2026, 12, 27)), None);
        assert_eq!(h.on(d(2026, 12, 24)), None);
        assert_eq!(h.on(d(2026, 1, 1)), Some("New Year's Day"));
    }

    #[test]
    fn yearly_rules_expand_with_ordinals_and_exdates() {
        let text = ics(concat!(
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20001123\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH\r\n",
            "SUMMARY:Thanksgiving\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:19710531\r\nRRULE:FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO\r\n",
            "SUMMARY:Memorial Day\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20200704\r\nRRULE:FREQ=YEARLY\r\nEXDATE;VALUE=DATE:20270704\r\n",
            "SUMMARY:Independence Day\r\nEND:VEVENT\r\n",
        ));
        let h = Holidays::parse(text.as_bytes()).unwrap();
        assert_eq!(h.on(d(2026, 11, 26)), Some("Thanksgiving"));
        assert_eq!(h.on(d(2026, 11, 19)), None);
        assert_eq!(h.on(d(2026, 5, 25)), Some("Memorial Day"));
        assert_eq!(h.on(d(2026, 7, 4)), Some("Independence Day"));
        assert_eq!(h.on(d(2027, 7, 4)), None);
        assert_eq!(h.on(d(2019, 7, 4)), None, "before DTSTART");
    }

    #[test]
    fn a_rule_without_an_end_is_expanded_only_as_far_as_the_asked_date() {
        let rule = rrule(1, "FREQ=DAILY").unwrap();
        // A daily rule from 1900 asked about 2026: a jump, then a handful of periods.
        let found = rule.occurrences(d(1900, 1, 1), d(2026, 3, 1), d(2026, 3, 3));
        assert_eq!(found, vec![d(2026, 3, 1), d(2026, 3, 2), d(2026, 3, 3)]);
        let weekly = rrule(1, "FREQ=WEEKLY;INTERVAL=2").unwrap();
        let found = weekly.occurrences(d(2026, 1, 5), d(2026, 3, 1), d(2026, 3, 31));
        assert_eq!(found, vec![d(2026, 3, 2), d(2026, 3, 16), d(2026, 3, 30)]);
        let counted = rrule(1, "FREQ=MONTHLY;COUNT=3;BYMONTHDAY=-1").unwrap();
        let found = counted.occurrences(d(2026, 1, 31), d(2026, 1, 1), d(2026, 12, 31));
        assert_eq!(found, vec![d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31)]);
        let until = rrule(1, "FREQ=YEARLY;UNTIL=20271231").unwrap();
        assert_eq!(
            until.occurrences(d(2025, 6, 1), d(2028, 1, 1), d(2030, 1, 1)),
            vec![]
        );
        let last_weekday = rrule(1, "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1").unwrap();
        let found = last_weekday.occurrences(d(2026, 1, 30), d(2026, 5, 1), d(2026, 5, 31));
        assert_eq!(found, vec![d(2026, 5, 29)]);
    }

    #[test]
    fn malformed_files_are_refused_with_the_line_and_the_problem() {
        let cases: [(&str, &str); 6] = [
            ("hello", "not an iCalendar file"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261325\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 3: DTSTART \"20261325\" is not an iCalendar date"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\n", "cut short"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 2: the event has no DTSTART"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=HOURLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "line 4: RRULE FREQ=HOURLY"),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=YEARLY;BYWEEKNO=20\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "does not expand BYWEEKNO"),
        ];
        for (text, wanted) in cases {
            let e = Holidays::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
        let huge = vec![b'A'; MAX_HOLIDAYS_BYTES + 1];
        let e = Holidays::parse(&huge).unwrap_err().to_string();
        assert!(e.contains("at most 1048576 bytes"), "{e}");
        let e = Holidays::parse(&[0xff, 0xfe, 0x00])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
