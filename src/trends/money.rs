//! A night's hours at `[prices]`: its cost, what the same capacity held all day would have cost,
//! and what closing on quiet saved against closing at the deadline. What the prices leave out
//! (a class without a price, tasks without a Fargate size) is costed at nothing and named in
//! `unpriced`, so every figure is a floor of what AWS bills for those hours.

use super::account::{round2, Account, Hours};
use crate::config::Prices;
use crate::plan::serverless::SERVERLESS_CLASS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Money, in `currency` (JSON field names are a contract).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Money {
    pub currency: String,
    /// What the night's capacity above the baseline cost.
    pub cost: f64,
    /// The night's peak capacity held 24 hours.
    pub always_on: f64,
    pub saved_vs_always_on: f64,
    /// A night closed on quiet: what closing at the deadline would have added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_vs_deadline: Option<f64>,
    /// Hours the prices do not cover, costed at nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced: Vec<String>,
}

impl Money {
    /// Every figure to two decimals.
    pub fn rounded(&self) -> Money {
        Money {
            cost: round2(self.cost),
            always_on: round2(self.always_on),
            saved_vs_always_on: round2(self.saved_vs_always_on),
            saved_vs_deadline: self.saved_vs_deadline.map(round2),
            ..self.clone()
        }
    }

    /// Adds another night's money (same currency), keeping every unpriced line once.
    pub fn add(&mut self, other: &Money) {
        self.cost += other.cost;
        self.always_on += other.always_on;
        self.saved_vs_always_on += other.saved_vs_always_on;
        self.saved_vs_deadline = match (self.saved_vs_deadline, other.saved_vs_deadline) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        for line in &other.unpriced {
            if !self.unpriced.contains(line) {
                self.unpriced.push(line.clone());
            }
        }
    }
}

/// The account at `prices`.
pub fn money(account: &Account, prices: &Prices) -> Money {
    let mut unpriced = BTreeSet::new();
    let cost = price(&account.held, prices, &mut unpriced);
    let always_on = price(&account.always_on, prices, &mut unpriced);
    let saved_vs_deadline = account
        .saved_vs_deadline
        .as_ref()
        .map(|h| price(h, prices, &mut unpriced));
    Money {
        currency: prices.currency.clone(),
        cost,
        always_on,
        saved_vs_always_on: (always_on - cost).max(0.0),
        saved_vs_deadline,
        unpriced: unpriced.into_iter().collect(),
    }
}

/// The price of `hours`; what cannot be priced is named in `unpriced`.
pub fn price(hours: &Hours, prices: &Prices, unpriced: &mut BTreeSet<String>) -> f64 {
    let mut total = 0.0;
    for (class, h) in &hours.reader_hours {
        // A serverless reader is billed by its DCUs, counted in dcu_hours.
        if *h == 0.0 || class == SERVERLESS_CLASS {
            continue;
        }
        match prices.instance(class) {
            Some(p) => total += h * p,
            None => {
                unpriced.insert(format!(
                    "{class} instance-hours (no [prices] instance price)"
                ));
            }
        }
    }
    for r in &hours.resized_hours {
        if r.hours == 0.0 {
            continue;
        }
        match (prices.instance(&r.from), prices.instance(&r.to)) {
            (Some(from), Some(to)) => total += r.hours * (to - from),
            (from, _) => {
                let missing = if from.is_none() { &r.from } else { &r.to };
                unpriced.insert(format!(
                    "{} → {} resized instance-hours (no [prices] instance price for {missing})",
                    r.from, r.to
                ));
            }
        }
    }
    if hours.dcu_hours > 0.0 {
        match prices.dcu {
            Some(p) => total += hours.dcu_hours * p,
            None => {
                unpriced.insert("DCU-hours (no [prices] dcu)".to_string());
            }
        }
    }
    if hours.vcpu_hours > 0.0 || hours.gb_hours > 0.0 {
        match prices.task {
            Some(t) => total += hours.vcpu_hours * t.vcpu + hours.gb_hours * t.gb,
            None => {
                unpriced.insert("Fargate vCPU-hours and GB-hours (no [prices] task)".to_string());
            }
        }
    }
    if hours.unsized_task_hours > 0.0 {
        unpriced
            .insert("task-hours without a Fargate size (EC2-backed, or not recorded)".to_string());
    }
    total
}
