//! `nightshift calendar`: the nights of a month by the scenario's business calendar.

use super::{emit, load_config, now_or};
use crate::cli::{CalendarArgs, ListFormat};
use crate::errors::unknown_scenario;
use anyhow::anyhow;
use nightshift::calendar::view;
use std::process::ExitCode;

pub fn calendar(args: CalendarArgs) -> anyhow::Result<ExitCode> {
    let CalendarArgs {
        config,
        scenario,
        month,
        output,
        now,
    } = args;
    let cfg = load_config(&config)?;
    let s = cfg
        .scenario(&scenario)
        .ok_or_else(|| unknown_scenario(&scenario, &cfg))?;
    let first = match month {
        Some(m) => parse_month(&m)?,
        None => now_or(now)
            .to_zoned_datetime(s.timezone.clone())
            .date()
            .first_of_month(),
    };
    let month = view::month(s, first);
    match output {
        ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&month)?)),
        ListFormat::Table => emit(&month.to_text()),
    }
}

/// `YYYY-MM`.
fn parse_month(text: &str) -> anyhow::Result<jiff::civil::Date> {
    let bad =
        || anyhow!("--month \"{text}\" is not a month: write it as YYYY-MM, e.g. --month 2026-12");
    let (y, m) = text.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    jiff::civil::Date::new(y, m, 1).map_err(|_| bad())
}
