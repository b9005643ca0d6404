//! `nightshift migrate`: apply the pending migrations of `crate::migrations`, idempotently.
//!
//! Applied versions are recorded in the table itself (`pk = "MIGRATION"`, `sk = "V0001"`, with the
//! file's checksum). Each step is safe to repeat: a table that already exists or a TTL already
//! enabled is recorded as applied rather than failing, so a run interrupted between applying and
//! recording completes on the next run.

use super::describe;
use crate::migrations::{CreateTable, Migration, MigrationOp, UpdateTimeToLive};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use jiff::Timestamp;
use std::time::Duration;

pub const MIGRATION_PK: &str = "MIGRATION";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Aws(String),
    #[error("migration {file} (version {version}) was changed after it was applied to table \"{table}\": restore the file and add a new migration for the change")]
    Changed {
        table: String,
        version: u32,
        file: String,
    },
    #[error("table \"{table}\" is not ACTIVE after {waited:?} (status: {status}); run `nightshift migrate` again when it is")]
    NotActive {
        table: String,
        waited: Duration,
        status: String,
    },
    #[error("table \"{table}\" does not exist and the first pending migration ({file}) does not create it")]
    NoTable { table: String, file: String },
    #[error("invalid migration: {0}")]
    Invalid(String),
}

/// What one `migrate` run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MigrateReport {
    pub table: String,
    /// Versions applied by this run.
    pub applied: Vec<String>,
    /// Versions that were already applied.
    pub already_applied: Vec<String>,
}

fn aws_err<E>(
    what: &str,
    table: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> MigrateError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    MigrateError::Aws(format!(
        "{what} of table \"{table}\" failed: {}",
        describe(&e)
    ))
}

fn version_sk(version: u32) -> String {
    format!("V{version:04}")
}

/// Apply every pending migration to `table`, waiting up to `wait` for it to become ACTIVE.
pub async fn migrate(
    client: &Client,
    table: &str,
    migrations: &[Migration],
    now: Timestamp,
    wait: Duration,
) -> Result<MigrateReport, MigrateError> {
    let mut report = MigrateReport {
        table: table.to_string(),
        applied: Vec::new(),
        already_applied: Vec::new(),
    };
    let mut exists = table_exists(client, table).await?;
    let applied = if exists {
        applied_versions(client, table).await?
    } else {
        Vec::new()
    };
    for m in migrations {
        if let Some((_, checksum)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *checksum != m.checksum {
                return Err(MigrateError::Changed {
                    table: table.to_string(),
                    version: m.version,
                    file: m.file.clone(),
                });
            }
            report.already_applied.push(m.file.clone());
            continue;
        }
        match m.op.for_table(table) {
            MigrationOp::CreateTable(spec) => {
                if !exists {
                    create_table(client, &spec).await?;
                    exists = true;
                }
            }
            MigrationOp::UpdateTimeToLive(spec) => {
                if !exists {
                    return Err(MigrateError::NoTable {
                        table: table.to_string(),
                        file: m.file.clone(),
                    });
                }
                enable_ttl(client, &spec).await?;
            }
        }
        wait_active(client, table, wait).await?;
        client
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(MIGRATION_PK.into()))
            .item("sk", AttributeValue::S(version_sk(m.version)))
            .item("kind", AttributeValue::S("migration".into()))
            .item("file", AttributeValue::S(m.file.clone()))
            .item("checksum", AttributeValue::S(m.checksum.clone()))
            .item(
                "applied_at",
                AttributeValue::S(crate::history::keys::rfc3339(now)),
            )
            .send()
            .await
            .map_err(|e| aws_err("recording a migration", table, e))?;
        report.applied.push(m.file.clone());
    }
    Ok(report)
}

async fn table_exists(client: &Client, table: &str) -> Result<bool, MigrateError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(false),
        Err(e) => Err(aws_err("DescribeTable", table, e)),
    }
}

/// (version, checksum) of every applied migration, read with one consistent Query.
async fn applied_versions(
    client: &Client,
    table: &str,
) -> Result<Vec<(u32, String)>, MigrateError> {
    let pages = client
        .query()
        .table_name(table)
        .consistent_read(true)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(MIGRATION_PK.into()))
        .into_paginator()
        .items()
        .send();

    let items: Vec<_> = pages
        .try_collect()
        .await
        .map_err(|e| aws_err("reading applied migrations", table, e))?;
    items
        .iter()
        .map(|item| {
            let sk = item.get("sk").and_then(|v| v.as_s().ok());
            let checksum = item.get("checksum").and_then(|v| v.as_s().ok());
            match (sk.and_then(|s| s.strip_prefix('V')?.parse().ok()), checksum) {
                (Some(v), Some(c)) => Ok((v, c.clone())),
                _ => Err(MigrateError::Invalid(format!(
                    "unreadable migration record {sk:?} in table \"{table}\""
                ))),
            }
        })
        .collect()
}

fn key_schema(
    elements: &[crate::migrations::KeySchemaElement],
) -> Result<Vec<KeySchemaElement>, MigrateError> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| MigrateError::Invalid(e.to_string()))
        })
        .collect()
}

async fn create_table(client: &Client, spec: &CreateTable) -> Result<(), MigrateError> {
    let attributes = spec
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| MigrateError::Invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = spec
        .global_secondary_indexes
        .iter()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g.projection.projection_type.as_str(),
                        ))
                        .set_non_key_attributes(
                            (!g.projection.non_key_attributes.is_empty())
                                .then(|| g.projection.non_key_attributes.clone()),
                        )
                        .build(),
                )
                .build()
                .map_err(|e| MigrateError::Invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let result = client
        .create_table()
        .table_name(&spec.table_name)
        .billing_mode(BillingMode::from(spec.billing_mode.as_str()))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&spec.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Created by a concurrent or interrupted run: fine, it is recorded below.
        Err(SdkError::ServiceError(e)) if e.err().is_resource_in_use_exception() => Ok(()),
        Err(e) => Err(aws_err("CreateTable", &spec.table_name, e)),
    }
}

async fn enable_ttl(client: &Client, spec: &UpdateTimeToLive) -> Result<(), MigrateError> {
    let current = client
        .describe_time_to_live()
        .table_name(&spec.table_name)
        .send()
        .await
        .map_err(|e| aws_err("DescribeTimeToLive", &spec.table_name, e))?;
    let want = &spec.time_to_live_specification;
    if let Some(desc) = current.time_to_live_description() {
        let enabled = matches!(
            desc.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled) | Some(TimeToLiveStatus::Enabling)
        );
        if enabled == want.enabled && desc.attribute_name() == Some(want.attribute_name.as_str()) {
            return Ok(());
        }
    }
    client
        .update_time_to_live()
        .table_name(&spec.table_name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&want.attribute_name)
                .enabled(want.enabled)
                .build()
                .map_err(|e| MigrateError::Invalid(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| aws_err("UpdateTimeToLive", &spec.table_name, e))?;
    Ok(())
}

/// Poll until the table and all its indexes are ACTIVE.
async fn wait_active(client: &Client, table: &str, wait: Duration) -> Result<(), MigrateError> {
    let start = std::time::Instant::now();
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws_err("DescribeTable", table, e))?;
        let desc = out.table();
        let status = desc.and_then(|t| t.table_status().cloned());
        let indexes_active = desc
            .map(|t| {
                t.global_secondary_indexes().iter().all(|g| {
                    g.index_status() == Some(&IndexStatus::Active) || g.index_status().is_none()
                })
            })
            .unwrap_or(false);
        if status == Some(TableStatus::Active) && indexes_active {
            return Ok(());
        }
        if start.elapsed() >= wait {
            return Err(MigrateError::NotActive {
                table: table.to_string(),
                waited: wait,
                status: status.map_or("unknown".into(), |s| s.as_str().to_string()),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
