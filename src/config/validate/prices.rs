//! `[prices]`: the currency's shape, each price a finite, non-negative number under its bound
//! (`config::prices`), instance prices keyed by DocumentDB classes, Fargate's two prices together.

use super::Validator;
use crate::config::prices::{is_currency_code, max_per_hour, PriceKind, Prices, TaskPrices};
use crate::config::raw::RawPrices;
use std::collections::BTreeMap;
use toml::Spanned;

/// The currency when `[prices]` names none: AWS publishes its prices in US dollars.
pub const DEFAULT_CURRENCY: &str = "USD";

impl Validator<'_> {
    /// The typed `[prices]`, or None when it has an error (reported).
    pub(super) fn prices(&mut self, raw: &Spanned<RawPrices>) -> Option<Prices> {
        let errors_before = self.errors.len();
        let table = raw.span();
        let raw = raw.get_ref();
        let currency = match &raw.currency {
            None => DEFAULT_CURRENCY.to_string(),
            Some(code) if is_currency_code(code.get_ref()) => code.get_ref().clone(),
            Some(code) => {
                let value = code.get_ref();
                let upper = value.trim().to_ascii_uppercase();
                let hint = if is_currency_code(&upper) {
                    format!("write currency = \"{upper}\": currency codes are three capital letters (ISO 4217)")
                } else {
                    "write the ISO 4217 code of the prices' currency, e.g. currency = \"USD\" or \"EUR\"".to_string()
                };
                self.push(
                    &code.span(),
                    "prices.currency",
                    format!("currency \"{value}\" is not an ISO 4217 currency code (three capital letters)"),
                    hint,
                );
                String::new()
            }
        };
        let mut instance = BTreeMap::new();
        if let Some(map) = &raw.instance {
            for (class, price) in map.get_ref() {
                let key = format!("prices.instance.\"{class}\"");
                let rest = class.strip_prefix("db.").unwrap_or("");
                if rest.is_empty() || rest.chars().any(char::is_whitespace) {
                    self.push(
                        &price.span(),
                        key.as_str(),
                        format!("\"{class}\" is not a DocumentDB instance class (they start with \"db.\")"),
                        "key each instance price by its class, e.g. instance = { \"db.r6g.large\" = 0.277 }",
                    );
                    continue;
                }
                if let Some(p) = self.price(price, &key, PriceKind::Instance, &currency) {
                    instance.insert(class.clone(), p);
                }
            }
        }
        let dcu = raw
            .dcu
            .as_ref()
            .and_then(|p| self.price(p, "prices.dcu", PriceKind::Dcu, &currency));
        let task = match &raw.task {
            None => None,
            Some(task) => match (&task.get_ref().vcpu, &task.get_ref().gb) {
                (Some(vcpu), Some(gb)) => {
                    let vcpu = self.price(vcpu, "prices.task.vcpu", PriceKind::Vcpu, &currency);
                    let gb = self.price(gb, "prices.task.gb", PriceKind::Gb, &currency);
                    vcpu.zip(gb).map(|(vcpu, gb)| TaskPrices { vcpu, gb })
                }
                (vcpu, _) => {
                    let missing = if vcpu.is_some() { "gb" } else { "vcpu" };
                    self.push(
                        &task.span(),
                        "prices.task",
                        format!("[prices] task has no {missing}: Fargate bills a task by its vCPUs and by its memory, so both prices are needed"),
                        "write task = { vcpu = 0.04048, gb = 0.004445 } with your region's Fargate prices",
                    );
                    None
                }
            },
        };
        if raw.instance.is_none() && raw.dcu.is_none() && raw.task.is_none() {
            self.push(
                &table,
                "prices",
                "[prices] prices nothing: it has no instance, dcu or task",
                "add the prices of what the scenarios use, e.g. instance = { \"db.r6g.large\" = 0.277 }, or remove [prices] to report hours only",
            );
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Prices {
            currency,
            instance,
            dcu,
            task,
            line: self.line_of(&table),
        })
    }

    /// One price: finite, not negative, under the bound of its kind in `currency`.
    fn price(
        &mut self,
        raw: &Spanned<f64>,
        key: &str,
        kind: PriceKind,
        currency: &str,
    ) -> Option<f64> {
        let value = *raw.get_ref();
        let unit = kind.unit();
        let problem = if !value.is_finite() {
            format!("{value} is not a price")
        } else if value < 0.0 {
            format!("{value} is negative: a price per {unit} is 0 or more")
        } else if !currency.is_empty() && value > max_per_hour(kind, currency) {
            let max = max_per_hour(kind, currency);
            format!(
                "{value} {currency} per {unit} is above {max} {currency}, about a hundred times the dearest on-demand {unit}: this looks like a monthly or yearly figure, or a price in cents"
            )
        } else {
            return Some(value);
        };
        self.push(
            &raw.span(),
            key,
            problem,
            format!(
                "write the on-demand price per {unit} in {}, e.g. {}",
                if currency.is_empty() {
                    "the currency"
                } else {
                    currency
                },
                example(kind)
            ),
        );
        None
    }
}

fn example(kind: PriceKind) -> &'static str {
    match kind {
        PriceKind::Instance => "instance = { \"db.r6g.large\" = 0.277 }",
        PriceKind::Dcu => "dcu = 0.0822",
        PriceKind::Vcpu => "task = { vcpu = 0.04048, gb = 0.004445 }",
        PriceKind::Gb => "task = { vcpu = 0.04048, gb = 0.004445 }",
    }
}

#[cfg(test)]
mod tests;
