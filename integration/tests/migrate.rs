//! `nightshift migrate` against the emulator: applies migrations/, a second run changes nothing,
//! and the live table matches the files.

use crate::{harness, support};
use nightshift::aws::calls::CallLog;
use nightshift::aws::migrate::{migrate, MigrateError};
use nightshift::migrations::{self, MigrationOp};
use std::time::Duration;

#[tokio::test]
async fn migrate_twice_the_second_run_changes_nothing_and_the_table_matches_the_files() {
    let table = support::unique("migrate");
    let log = CallLog::new();
    let client = harness::logged_client(&log).await;
    let ms = migrations::embedded().unwrap();
    let now = jiff::Timestamp::now();

    let first = migrate(&client, &table, &ms, now, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first.applied.len(), ms.len());
    assert!(first.already_applied.is_empty());

    log.clear();
    let second = migrate(&client, &table, &ms, now, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    assert_eq!(second.already_applied.len(), ms.len());
    let mutating: Vec<_> = log
        .calls()
        .into_iter()
        .filter(|c| c.is_mutating())
        .collect();
    assert!(mutating.is_empty(), "the second run wrote: {mutating:?}");

    // The live table matches migrations/.
    let MigrationOp::CreateTable(spec) = &ms[0].op else {
        panic!("0001 creates the table")
    };
    let desc = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let t = desc.table().unwrap();
    let keys = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        ks.iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let want_keys = |ks: &[migrations::KeySchemaElement]| {
        ks.iter()
            .map(|k| (k.attribute_name.clone(), k.key_type.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(t.key_schema()), want_keys(&spec.key_schema));
    let mut attrs: Vec<_> = t
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    attrs.sort();
    let mut want_attrs: Vec<_> = spec
        .attribute_definitions
        .iter()
        .map(|a| (a.attribute_name.clone(), a.attribute_type.clone()))
        .collect();
    want_attrs.sort();
    assert_eq!(attrs, want_attrs);
    assert_eq!(
        t.global_secondary_indexes().len(),
        spec.global_secondary_indexes.len()
    );
    for want in &spec.global_secondary_indexes {
        let got = t
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(want.index_name.as_str()))
            .unwrap_or_else(|| panic!("index {} missing", want.index_name));
        assert_eq!(keys(got.key_schema()), want_keys(&want.key_schema));
        assert_eq!(
            got.projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str()),
            Some(want.projection.projection_type.as_str())
        );
    }
    let MigrationOp::UpdateTimeToLive(ttl) = &ms[1].op else {
        panic!("0002 enables TTL")
    };
    let live = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let live = live.time_to_live_description().unwrap();
    assert_eq!(
        live.attribute_name(),
        Some(ttl.time_to_live_specification.attribute_name.as_str())
    );
    assert_eq!(
        live.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test]
async fn an_applied_migration_that_was_edited_is_refused() {
    let table = support::unique("migrate-edit");
    let client = harness::logged_client(&CallLog::new()).await;
    let mut ms = migrations::embedded().unwrap();
    let now = jiff::Timestamp::now();
    migrate(&client, &table, &ms, now, Duration::from_secs(30))
        .await
        .unwrap();
    ms[1].checksum = "edited".into();
    let err = migrate(&client, &table, &ms, now, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(err, MigrateError::Changed { version: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("add a new migration"), "{err}");
}

#[tokio::test]
async fn only_pending_migrations_are_applied() {
    let table = support::unique("migrate-pending");
    let client = harness::logged_client(&CallLog::new()).await;
    let ms = migrations::embedded().unwrap();
    let now = jiff::Timestamp::now();
    // An older release knew only the first migration.
    let first = migrate(&client, &table, &ms[..1], now, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first.applied.len(), 1);
    let rest = migrate(&client, &table, &ms, now, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(rest.already_applied, [ms[0].file.clone()]);
    assert_eq!(rest.applied, [ms[1].file.clone()]);
}
