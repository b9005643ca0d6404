//! `[prices]`: on-demand prices per hour, in one currency, that turn the hours a night held above
//! the baseline into money (`nightshift report`, the Run Closed event, the closing EMF line).
//! Optional: without it every figure stays in hours.
//!
//! The bounds a price must stay under are about a hundred times the dearest on-demand price of
//! its kind, converted into the currency with a generous rate ([`units_per_dollar`]): a price
//! above them is not a price per hour but a monthly or yearly figure, or one written in cents.
//! The dearest DocumentDB instance classes cost in the order of ten US dollars an hour, a
//! DocumentDB Serverless DCU-hour and a Fargate vCPU-hour cents, a Fargate GB-hour under a cent.

use super::{Config, ConfigError};
use crate::plan::serverless::SERVERLESS_CLASS;
use std::collections::BTreeMap;

/// Prices per hour, in `currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    /// An ISO 4217 code such as "USD" (three capital letters).
    pub currency: String,
    /// Per DocumentDB instance-hour, by class.
    pub instance: BTreeMap<String, f64>,
    /// Per DocumentDB Serverless DCU-hour.
    pub dcu: Option<f64>,
    /// Per ECS Fargate vCPU-hour and GB-hour.
    pub task: Option<TaskPrices>,
    /// Line of the `[prices]` table, where warnings about what it leaves unpriced point.
    pub line: usize,
}

/// Fargate's two prices: a task costs `vcpu × vCPUs + gb × GB` per hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskPrices {
    pub vcpu: f64,
    pub gb: f64,
}

/// What a price is of, for its bound and its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceKind {
    Instance,
    Dcu,
    Vcpu,
    Gb,
}

impl PriceKind {
    /// The bound per hour in US dollars: about a hundred times the dearest on-demand price.
    fn max_usd(self) -> f64 {
        match self {
            PriceKind::Instance => 1_000.0,
            PriceKind::Dcu | PriceKind::Vcpu => 10.0,
            PriceKind::Gb => 1.0,
        }
    }

    /// `instance-hour`, `DCU-hour`, …: what one unit of the price buys.
    pub fn unit(self) -> &'static str {
        match self {
            PriceKind::Instance => "instance-hour",
            PriceKind::Dcu => "DCU-hour",
            PriceKind::Vcpu => "vCPU-hour",
            PriceKind::Gb => "GB-hour",
        }
    }
}

/// A generous number of `currency` units to the US dollar (rounded up), for the bounds; a
/// currency not listed gets 100,000, so that no real price in it is refused.
pub fn units_per_dollar(currency: &str) -> f64 {
    match currency {
        "USD" | "EUR" | "GBP" | "CHF" => 1.0,
        "CAD" | "AUD" | "NZD" | "SGD" => 2.0,
        "CNY" | "HKD" | "DKK" | "BRL" => 10.0,
        "NOK" | "SEK" => 15.0,
        "ZAR" | "MXN" => 25.0,
        "TWD" | "THB" => 50.0,
        "INR" => 100.0,
        "JPY" => 200.0,
        "KRW" => 2_000.0,
        _ => 100_000.0,
    }
}

/// The highest price per hour of `kind` accepted in `currency`.
pub fn max_per_hour(kind: PriceKind, currency: &str) -> f64 {
    kind.max_usd() * units_per_dollar(currency)
}

/// Is `code` shaped like an ISO 4217 currency code (three capital ASCII letters)?
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())
}

impl Prices {
    /// The price per instance-hour of `class`, if priced.
    pub fn instance(&self, class: &str) -> Option<f64> {
        self.instance.get(class).copied()
    }
}

/// What `[prices]` leaves unpriced that the config's scenarios use, one warning each, pointing at
/// the `[prices]` table: a reader or resize class without an `instance` price, DocumentDB
/// Serverless without `dcu`, ECS services without `task`. Their hours are still reported, without
/// a cost. Empty without `[prices]`.
pub fn warnings(config: &Config) -> Vec<ConfigError> {
    let Some(prices) = &config.prices else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut warn = |key: &str, message: String, hint: String| {
        out.push(ConfigError {
            file: config.source.clone(),
            line: prices.line,
            column: 1,
            key: key.to_string(),
            message,
            hint,
        })
    };
    for scenario in &config.scenarios {
        let mut classes: Vec<(&str, &str)> = Vec::new();
        let mut serverless = false;
        // Instance prices are by class, whatever the engine: an Aurora or Neptune reader of a
        // class is priced as that class (docs/costs.md says so), so every engine's classes count.
        for target in scenario.clusters() {
            serverless |= target.serverless_min.is_some();
            let used = target
                .instance_class
                .iter()
                .map(|c| (c.as_str(), "instance_class"))
                .chain(target.resize.iter().map(|c| (c.as_str(), "resize")))
                .chain(
                    target
                        .fallback_classes
                        .iter()
                        .map(|c| (c.as_str(), "fallback_classes")),
                );
            for (class, key) in used {
                if class == SERVERLESS_CLASS {
                    serverless = true;
                } else if prices.instance(class).is_none()
                    && !classes.iter().any(|(c, _)| *c == class)
                {
                    classes.push((class, key));
                }
            }
        }
        for (class, key) in classes {
            warn(
                "prices.instance",
                format!(
                    "[prices] instance has no price for {class}, which scenario \"{}\" uses ({key}): its instance-hours are reported without a cost",
                    scenario.name
                ),
                format!("add \"{class}\" = <price per instance-hour> to [prices] instance"),
            );
        }
        if serverless && prices.dcu.is_none() {
            warn(
                "prices.dcu",
                format!(
                    "[prices] has no dcu price, and scenario \"{}\" uses serverless capacity (DocumentDB DCUs; Aurora ACUs and Neptune NCUs are counted with them): its capacity-unit-hours are reported without a cost",
                    scenario.name
                ),
                "add dcu = <price per DCU-hour> to [prices]".to_string(),
            );
        }
        if !scenario.ecs.is_empty() && prices.task.is_none() {
            warn(
                "prices.task",
                format!(
                    "[prices] has no task prices, and scenario \"{}\" scales ECS services: their Fargate vCPU-hours and GB-hours are reported without a cost",
                    scenario.name
                ),
                "add task = { vcpu = <price per vCPU-hour>, gb = <price per GB-hour> } to [prices]"
                    .to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_scale_with_the_currency_and_codes_are_three_capitals() {
        assert_eq!(max_per_hour(PriceKind::Instance, "USD"), 1_000.0);
        assert_eq!(max_per_hour(PriceKind::Instance, "JPY"), 200_000.0);
        assert_eq!(max_per_hour(PriceKind::Gb, "EUR"), 1.0);
        // A currency without a listed rate is bounded loosely rather than refused.
        assert_eq!(max_per_hour(PriceKind::Dcu, "IDR"), 1_000_000.0);
        assert!(is_currency_code("USD"));
        for bad in ["usd", "US", "USDT", "U$D", ""] {
            assert!(!is_currency_code(bad), "{bad}");
        }
    }
}
