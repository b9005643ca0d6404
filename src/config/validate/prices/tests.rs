//! `[prices]`: what is accepted, what is refused (with line, key and hint), and the warnings
//! about classes, DCUs and tasks the scenarios use but the prices leave out.

use crate::config::prices::warnings;
use crate::config::testing::{assert_single_error, BASE};
use crate::config::{parse, TaskPrices};

/// BASE with a `[prices]` table of these lines (line 28 is the header, 29 the first key).
fn with_prices(lines: &str) -> String {
    format!("{BASE}[prices]\n{lines}")
}

#[test]
fn the_contract_prices_parse_and_currency_defaults_to_usd() {
    let text = with_prices(
        "currency = \"USD\"\ninstance = { \"db.r6g.large\" = 0.277, \"db.r6g.2xlarge\" = 1.108 }\ndcu = 0.0822\ntask = { vcpu = 0.04048, gb = 0.004445 }\n",
    );
    let config = parse(&text, "t.toml").expect("valid");
    let prices = config.prices.expect("prices");
    assert_eq!(prices.currency, "USD");
    assert_eq!(prices.instance("db.r6g.2xlarge"), Some(1.108));
    assert_eq!(prices.dcu, Some(0.0822));
    assert_eq!(
        prices.task,
        Some(TaskPrices {
            vcpu: 0.04048,
            gb: 0.004445
        })
    );
    assert_eq!(prices.line, 28);
    let bare = parse(&with_prices("dcu = 1\n"), "t.toml").expect("an integer price");
    let prices = bare.prices.expect("prices");
    assert_eq!((prices.currency.as_str(), prices.dcu), ("USD", Some(1.0)));
    assert_eq!(parse(BASE, "t.toml").unwrap().prices, None);
}

#[test]
fn negative_nan_and_absurd_prices_are_errors_with_their_line_and_a_hint() {
    assert_single_error(
        &with_prices("instance = { \"db.r6g.large\" = -0.277 }\n"),
        29,
        "prices.instance.\"db.r6g.large\"",
        "is negative",
        "price per instance-hour in USD",
    );
    assert_single_error(
        &with_prices("dcu = nan\n"),
        29,
        "prices.dcu",
        "NaN is not a price",
        "dcu = 0.0822",
    );
    assert_single_error(
        &with_prices("task = { vcpu = inf, gb = 0.004445 }\n"),
        29,
        "prices.task.vcpu",
        "inf is not a price",
        "vcpu = 0.04048",
    );
    // A yearly price typed as hourly.
    assert_single_error(
        &with_prices("instance = { \"db.r6g.large\" = 2426.52 }\n"),
        29,
        "prices.instance.\"db.r6g.large\"",
        "above 1000 USD, about a hundred times the dearest on-demand instance-hour",
        "on-demand price per instance-hour",
    );
    // The same figure is an ordinary price in yen.
    let yen = with_prices("currency = \"JPY\"\ninstance = { \"db.r6g.large\" = 2426.52 }\n");
    assert!(parse(&yen, "t.toml").is_ok());
    assert_single_error(
        &with_prices("currency = \"JPY\"\ntask = { vcpu = 6.1, gb = 300 }\n"),
        30,
        "prices.task.gb",
        "above 200 JPY",
        "in JPY",
    );
}

#[test]
fn currency_class_and_shape_errors_say_what_to_write() {
    assert_single_error(
        &with_prices("currency = \"usd\"\ndcu = 0.0822\n"),
        29,
        "prices.currency",
        "\"usd\" is not an ISO 4217 currency code",
        "currency = \"USD\"",
    );
    assert_single_error(
        &with_prices("currency = \"US$\"\ndcu = 0.0822\n"),
        29,
        "prices.currency",
        "not an ISO 4217",
        "e.g. currency = \"USD\"",
    );
    assert_single_error(
        &with_prices("instance = { \"r6g.large\" = 0.277 }\n"),
        29,
        "prices.instance.\"r6g.large\"",
        "not a DocumentDB instance class",
        "\"db.r6g.large\" = 0.277",
    );
    assert_single_error(
        &with_prices("task = { vcpu = 0.04048 }\n"),
        29,
        "prices.task",
        "task has no gb",
        "gb = 0.004445",
    );
    assert_single_error(
        &with_prices("currency = \"EUR\"\n"),
        28,
        "prices",
        "prices nothing",
        "remove [prices] to report hours only",
    );
    let typo = parse(&with_prices("dcus = 0.08\ndcu = 0.08\n"), "t.toml").expect_err("a typo");
    assert!(typo.to_string().contains("did you mean `dcu`"), "{typo}");
    let typo = parse(
        &with_prices("task = { vcpus = 0.04, gb = 0.004 }\n"),
        "t.toml",
    )
    .expect_err("a typo in task");
    assert!(typo.to_string().contains("did you mean `vcpu`"), "{typo}");
}

#[test]
fn a_class_the_scenarios_use_without_a_price_is_a_warning_naming_it_and_the_scenario() {
    let text = BASE.replace(
        "  instance_class = \"db.r6g.large\"\n",
        "  instance_class = \"db.r6g.large\"\n  fallback_classes = [\"db.r6g.xlarge\"]\n",
    );
    // A class priced but used by no scenario is fine; the fallback class is not priced.
    let text = format!(
        "{text}[prices]\ninstance = {{ \"db.r6g.large\" = 0.277, \"db.r5.24xlarge\" = 13.0 }}\ntask = {{ vcpu = 0.04048, gb = 0.004445 }}\n"
    );
    let config = parse(&text, "t.toml").expect("warnings are not errors");
    let found = warnings(&config);
    assert_eq!(found.len(), 1, "{found:#?}");
    let w = &found[0];
    assert_eq!(
        (w.file.as_str(), w.line, w.key.as_str()),
        ("t.toml", 29, "prices.instance")
    );
    assert!(w.message.contains("no price for db.r6g.xlarge"), "{w}");
    assert!(
        w.message
            .contains("scenario \"nightly\" uses (fallback_classes)"),
        "{w}"
    );
    assert!(
        w.hint
            .contains("\"db.r6g.xlarge\" = <price per instance-hour>"),
        "{w}"
    );

    let only_dcu = parse(&with_prices("dcu = 0.0822\n"), "t.toml").unwrap();
    let keys: Vec<String> = warnings(&only_dcu).into_iter().map(|w| w.key).collect();
    assert_eq!(keys, ["prices.instance", "prices.task"]);
    assert!(warnings(&parse(BASE, "t.toml").unwrap()).is_empty());
}

#[test]
fn an_aurora_or_neptune_class_without_a_price_is_a_warning_too() {
    // Instance prices are by class whatever the engine, so every database table's classes are
    // checked, not only [[scenario.docdb]]'s.
    let text = BASE
        .replace("[[scenario.docdb]]", "[[scenario.aurora]]")
        .replace(
            "  instance_class = \"db.r6g.large\"\n",
            "  instance_class = \"db.r7g.large\"\n",
        );
    let text = format!(
        "{text}[prices]\ninstance = {{ \"db.r6g.large\" = 0.277 }}\ntask = {{ vcpu = 0.04048, gb = 0.004445 }}\n"
    );
    let config = parse(&text, "t.toml").expect("warnings are not errors");
    assert_eq!(config.scenarios[0].aurora.len(), 1);
    let found = warnings(&config);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].message.contains("no price for db.r7g.large"),
        "{}",
        found[0]
    );
    let neptune = parse(
        &text.replace("[[scenario.aurora]]", "[[scenario.neptune]]"),
        "t.toml",
    )
    .expect("warnings are not errors");
    assert_eq!(warnings(&neptune).len(), 1);
}
