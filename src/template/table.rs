//! The table, as `migrations/` defines it.

use super::doc::{map, s, seq, Node};
use super::TemplateError;
use crate::config::Config;
use crate::migrations::{Migration, MigrationOp};

pub(super) fn table(config: &Config, migrations: &[Migration]) -> Result<Node, TemplateError> {
    let mut create = None;
    let mut ttl = None;
    for m in migrations {
        match &m.op {
            MigrationOp::CreateTable(c) => create = Some(c),
            MigrationOp::UpdateTimeToLive(u) => ttl = Some(&u.time_to_live_specification),
        }
    }
    let create = create.ok_or(TemplateError::NoTable)?;
    let key_schema = |keys: &[crate::migrations::KeySchemaElement]| {
        seq(keys.iter().map(|k| {
            map([
                ("AttributeName", s(&k.attribute_name)),
                ("KeyType", s(&k.key_type)),
            ])
        }))
    };
    let mut props = map([
        ("TableName", s(&config.table)),
        ("BillingMode", s(&create.billing_mode)),
        (
            "AttributeDefinitions",
            seq(create.attribute_definitions.iter().map(|a| {
                map([
                    ("AttributeName", s(&a.attribute_name)),
                    ("AttributeType", s(&a.attribute_type)),
                ])
            })),
        ),
        ("KeySchema", key_schema(&create.key_schema)),
    ]);
    if !create.global_secondary_indexes.is_empty() {
        props.push(
            "GlobalSecondaryIndexes",
            seq(create.global_secondary_indexes.iter().map(|g| {
                let mut projection = map([("ProjectionType", s(&g.projection.projection_type))]);
                if !g.projection.non_key_attributes.is_empty() {
                    projection.push(
                        "NonKeyAttributes",
                        seq(g.projection.non_key_attributes.iter().map(s)),
                    );
                }
                map([
                    ("IndexName", s(&g.index_name)),
                    ("KeySchema", key_schema(&g.key_schema)),
                    ("Projection", projection),
                ])
            })),
        );
    }
    if let Some(ttl) = ttl {
        props.push(
            "TimeToLiveSpecification",
            map([
                ("AttributeName", s(&ttl.attribute_name)),
                ("Enabled", Node::Bool(ttl.enabled)),
            ]),
        );
    }
    props.push(
        "PointInTimeRecoverySpecification",
        map([("PointInTimeRecoveryEnabled", Node::Bool(true))]),
    );
    props.push("DeletionProtectionEnabled", Node::Bool(true));
    props.push(
        "SSESpecification",
        map([
            ("SSEEnabled", Node::Bool(true)),
            ("SSEType", s("KMS")),
            ("KMSMasterKeyId", s("alias/aws/dynamodb")),
        ]),
    );
    Ok(map([
        ("Type", s("AWS::DynamoDB::Table")),
        ("Condition", s("CreateTable")),
        ("DeletionPolicy", s("Retain")),
        ("UpdateReplacePolicy", s("Retain")),
        ("Properties", props),
    ])
    .comment(
        "Type",
        "The run history and dedup records, as migrations/ defines them (generated from those files).\nRetained when the stack is deleted or the table replaced: it is the record of every night.\nNot created with UseExistingTable=true (a redeploy over the retained table).",
    ))
}
