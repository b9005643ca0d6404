//! nightshift-specific test setup on top of `support`: a migrated table of its own per test, the
//! app wired to it, and DynamoDB clients whose calls are logged.

#![allow(dead_code)]

use crate::support;
use nightshift::app::{App, Invocation, Settings};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::config::{self, Config};
use nightshift::idempotency::GuardPolicy;
use std::sync::Arc;
use std::time::Duration;

pub const CONTRACT_CONFIG: &str = include_str!("../fixtures/config/contract.toml");

/// A DynamoDB client on the emulator whose calls go to `log`.
pub async fn logged_client(log: &CallLog) -> aws_sdk_dynamodb::Client {
    let sdk = support::sdk_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(log.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A fresh table, migrated from migrations/, for one test.
pub async fn fresh_table() -> String {
    let table = support::unique("runs");
    let client = aws_sdk_dynamodb::Client::new(&support::sdk_config().await);
    let ms = nightshift::migrations::embedded().expect("embedded migrations parse");
    nightshift::aws::migrate::migrate(
        &client,
        &table,
        &ms,
        jiff::Timestamp::now(),
        Duration::from_secs(30),
    )
    .await
    .expect("migrate a fresh table");
    table
}

pub fn contract_config(table: &str) -> Config {
    config::parse(CONTRACT_CONFIG, "contract.toml")
        .expect("the contract config parses")
        .with_table_override(Some(table.to_string()))
}

pub fn settings() -> Settings {
    Settings {
        app_env: None,
        dry_run: false,
        guard: GuardPolicy::default(),
        timeouts: Timeouts::default(),
    }
}

/// The app on `table` with its own DynamoDB client (calls logged to `log`).
pub async fn app(table: &str, log: &CallLog) -> App {
    let store = DynamoStore::new(logged_client(log).await, table, Timeouts::default());
    App::new(Arc::new(contract_config(table)), settings(), store)
}

pub fn invocation(request_id: &str, now: &str) -> Invocation {
    Invocation {
        request_id: request_id.to_string(),
        deadline: None,
        now: now.parse().expect("test timestamp"),
    }
}
