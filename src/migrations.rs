//! The table definitions of `migrations/`, compiled into the binary and parsed into a typed plan.
//!
//! Each file is the input shape of one DynamoDB API (the AWS CLI's `--cli-input-json`), named
//! `NNNN_description.<operation>.json`. Only the fields nightshift uses are accepted: an unknown
//! field is an error rather than something silently not applied. Applying them is
//! `crate::aws::migrate`.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The migrations, in order. A unit test checks this list against the `migrations/` folder.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "0001_create_runs_table.create-table.json",
        include_str!("../migrations/0001_create_runs_table.create-table.json"),
    ),
    (
        "0002_expire_dedup_records.update-time-to-live.json",
        include_str!("../migrations/0002_expire_dedup_records.update-time-to-live.json"),
    ),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub version: u32,
    pub file: String,
    /// SHA-256 of the file: an applied migration must never change.
    pub checksum: String,
    pub op: MigrationOp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MigrationOp {
    CreateTable(CreateTable),
    UpdateTimeToLive(UpdateTimeToLive),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct CreateTable {
    pub table_name: String,
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct KeySchemaElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeySchemaElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct UpdateTimeToLive {
    pub table_name: String,
    pub time_to_live_specification: TimeToLiveSpecification,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct TimeToLiveSpecification {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("migrations/{file}: {message}")]
pub struct MigrationError {
    pub file: String,
    pub message: String,
}

/// Parse one migration file.
pub fn parse(file: &str, text: &str) -> Result<Migration, MigrationError> {
    let err = |message: String| MigrationError {
        file: file.to_string(),
        message,
    };
    let stem = file
        .strip_suffix(".json")
        .ok_or_else(|| err("a migration file name ends in .json".into()))?;
    let (name, operation) = stem.rsplit_once('.').ok_or_else(|| {
        err(
            "name it NNNN_description.<operation>.json, e.g. 0003_add_index.create-table.json"
                .into(),
        )
    })?;
    let version: u32 = name
        .split('_')
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            err("the file name must start with its version number, e.g. 0003_".into())
        })?;
    let op = match operation {
        "create-table" => serde_json::from_str(text).map(MigrationOp::CreateTable),
        "update-time-to-live" => serde_json::from_str(text).map(MigrationOp::UpdateTimeToLive),
        other => {
            return Err(err(format!(
                "unsupported operation \"{other}\": nightshift applies create-table and update-time-to-live"
            )))
        }
    }
    .map_err(|e| err(format!("not a valid {operation} input: {e}")))?;
    Ok(Migration {
        version,
        file: file.to_string(),
        checksum: hex::encode(Sha256::digest(text.as_bytes())),
        op,
    })
}

/// The embedded migrations, parsed and checked to be strictly increasing in version.
pub fn embedded() -> Result<Vec<Migration>, MigrationError> {
    let mut out: Vec<Migration> = Vec::new();
    for (file, text) in EMBEDDED {
        let m = parse(file, text)?;
        if let Some(prev) = out.last() {
            if m.version <= prev.version {
                return Err(MigrationError {
                    file: m.file,
                    message: format!("version {} does not follow {}", m.version, prev.version),
                });
            }
        }
        out.push(m);
    }
    Ok(out)
}

impl MigrationOp {
    /// The same operation against another table name (`nightshift migrate --table`).
    pub fn for_table(&self, table: &str) -> MigrationOp {
        match self {
            MigrationOp::CreateTable(c) => MigrationOp::CreateTable(CreateTable {
                table_name: table.to_string(),
                ..c.clone()
            }),
            MigrationOp::UpdateTimeToLive(u) => MigrationOp::UpdateTimeToLive(UpdateTimeToLive {
                table_name: table.to_string(),
                ..u.clone()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_list_matches_the_migrations_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = EMBEDDED.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(
            listed, on_disk,
            "add new migrations to migrations::EMBEDDED"
        );
    }

    #[test]
    fn embedded_migrations_parse_in_order() {
        let ms = embedded().unwrap();
        assert_eq!(ms.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
        match &ms[0].op {
            MigrationOp::CreateTable(c) => {
                assert_eq!(c.table_name, "nightshift-runs");
                assert_eq!(
                    c.global_secondary_indexes[0].index_name,
                    crate::history::keys::TIME_INDEX
                );
            }
            other => panic!("{other:?}"),
        }
        match &ms[1].op.for_table("other") {
            MigrationOp::UpdateTimeToLive(u) => {
                assert_eq!(u.table_name, "other");
                assert_eq!(u.time_to_live_specification.attribute_name, "expires_at");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_migrations_are_named() {
        let e = parse("0003_x.delete-table.json", "{}").unwrap_err();
        assert!(
            e.message.contains("unsupported operation \"delete-table\""),
            "{e}"
        );
        let e = parse("x.create-table.json", "{}").unwrap_err();
        assert!(e.message.contains("start with its version"), "{e}");
        let e = parse(
            "0003_x.update-time-to-live.json",
            r#"{"TableName":"t","TimeToLiveSpecification":{"AttributeName":"a","Enabled":true},"Extra":1}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `Extra`"), "{e}");
    }
}
