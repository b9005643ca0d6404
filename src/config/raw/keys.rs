//! Unknown keys: every table of the parsed tree is checked against the keys its `Raw*` struct
//! declares, so a file with three typos gets three errors (each with its line and a "did you
//! mean") alongside its other errors, instead of serde's first one alone.
//!
//! A near miss of a required key that the table lacks (`replica = 3` for `replicas`) is renamed
//! in the tree after being reported: serde then reads the value under its intended name, so the
//! typo does not also show up as "missing required key `replicas`", nor hide the file's other
//! errors behind that shape error. The file is still rejected: the unknown key is an error.

use super::{RawAsg, RawBatch, RawNotify, RawPrices, RawSchedule, RawTaskPrices, SourceText};
use super::{RawCluster, RawCompletion, RawConfig, RawEcs, RawMetric, RawScaleDown, RawScenario};
use super::{RawProfile, RawProfileAsg, RawProfileBatch, RawProfileCluster, RawProfileEcs};
use crate::config::diagnostics::{render_path, suggest, table_label, ConfigError, Segment};
use serde::de::{self, Deserialize, Visitor};
use std::borrow::Cow;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The tables of the file, each read by one `Raw*` struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Top,
    Scenario,
    Ecs,
    /// `[[scenario.docdb]]`, `[[scenario.aurora]]` and `[[scenario.neptune]]`: the same keys.
    Cluster,
    ScaleDown,
    Metric,
    Completion,
    Schedule,
    Notify,
    Batch,
    Asg,
    Prices,
    TaskPrices,
    Profile,
    /// `[[scenario.profile.docdb]]`, `.aurora` and `.neptune`: the same keys.
    ProfileCluster,
    ProfileEcs,
    ProfileBatch,
    ProfileAsg,
}

impl Table {
    /// The keys this table may hold, in declaration order (the order messages list them in).
    fn keys(self) -> &'static [&'static str] {
        match self {
            Table::Top => field_names::<RawConfig>(),
            Table::Scenario => field_names::<RawScenario>(),
            Table::Ecs => field_names::<RawEcs>(),
            Table::Cluster => field_names::<RawCluster>(),
            Table::ScaleDown => field_names::<RawScaleDown>(),
            Table::Metric => field_names::<RawMetric>(),
            Table::Completion => field_names::<RawCompletion>(),
            Table::Schedule => field_names::<RawSchedule>(),
            Table::Notify => field_names::<RawNotify>(),
            Table::Batch => field_names::<RawBatch>(),
            Table::Asg => field_names::<RawAsg>(),
            Table::Prices => field_names::<RawPrices>(),
            Table::TaskPrices => field_names::<RawTaskPrices>(),
            Table::Profile => field_names::<RawProfile>(),
            Table::ProfileCluster => field_names::<RawProfileCluster>(),
            Table::ProfileEcs => field_names::<RawProfileEcs>(),
            Table::ProfileBatch => field_names::<RawProfileBatch>(),
            Table::ProfileAsg => field_names::<RawProfileAsg>(),
        }
    }

    /// The table (or array of tables) that `key` holds here, if it holds one. `dimensions` is
    /// a free map of CloudWatch names and `prices.instance` one of instance classes, so their
    /// keys are not checked.
    fn child(self, key: &str) -> Option<Table> {
        match (self, key) {
            (Table::Top, "scenario") => Some(Table::Scenario),
            (Table::Top, "notify") => Some(Table::Notify),
            (Table::Top, "prices") => Some(Table::Prices),
            (Table::Prices, "task") => Some(Table::TaskPrices),
            (Table::Scenario, "ecs") => Some(Table::Ecs),
            (Table::Scenario, "docdb" | "aurora" | "neptune") => Some(Table::Cluster),
            (Table::Scenario, "scale_down") => Some(Table::ScaleDown),
            (Table::Scenario, "completion") => Some(Table::Completion),
            (Table::Scenario, "schedule") => Some(Table::Schedule),
            (Table::ScaleDown, "metric") => Some(Table::Metric),
            (Table::Scenario, "batch") => Some(Table::Batch),
            (Table::Scenario, "asg") => Some(Table::Asg),
            (Table::Scenario, "profile") => Some(Table::Profile),
            (Table::Profile, "docdb" | "aurora" | "neptune") => Some(Table::ProfileCluster),
            (Table::Profile, "ecs") => Some(Table::ProfileEcs),
            (Table::Profile, "batch") => Some(Table::ProfileBatch),
            (Table::Profile, "asg") => Some(Table::ProfileAsg),
            _ => None,
        }
    }
}

/// Reports every unknown key of the file in tree order, renaming near misses of absent keys
/// (see the module comment).
pub(super) fn unknown_keys(
    src: &SourceText<'_>,
    root: &mut Spanned<DeTable<'_>>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    check_table(
        src,
        root.get_mut(),
        Table::Top,
        &mut Vec::new(),
        &mut errors,
    );
    errors
}

fn check_table(
    src: &SourceText<'_>,
    table: &mut DeTable<'_>,
    kind: Table,
    path: &mut Vec<Segment>,
    errors: &mut Vec<ConfigError>,
) {
    let allowed = kind.keys();
    let mut renames = Vec::new();
    for key in table.keys() {
        let name = key.get_ref().as_ref();
        if allowed.contains(&name) {
            continue;
        }
        let allowed_list = allowed.join(", ");
        let message = format!(
            "unknown key `{name}` in {}; allowed keys here: {allowed_list}",
            table_label(path)
        );
        let near = suggest(name, allowed);
        let hint = match near {
            Some(near) => format!("did you mean `{near}`? rename `{name}` to `{near}`"),
            None => format!("remove `{name}` or use one of: {allowed_list}"),
        };
        path.push(Segment::Key(name.to_string()));
        errors.push(src.error(&key.span(), render_path(path), message, hint));
        path.pop();
        let absent = |near: &&str| {
            !table.keys().any(|k| k.get_ref() == near) && !renames.iter().any(|(_, n)| n == near)
        };
        if let Some(near) = near.filter(absent) {
            renames.push((key.clone(), near));
        }
    }
    for (from, to) in renames {
        if let Some(value) = table.remove(&from) {
            table.insert(Spanned::new(from.span(), Cow::Borrowed(to)), value);
        }
    }
    for (key, value) in table.iter_mut() {
        let Some(child) = kind.child(key.get_ref()) else {
            continue;
        };
        path.push(Segment::Key(key.get_ref().to_string()));
        match value.get_mut() {
            DeValue::Table(table) => check_table(src, table, child, path, errors),
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let DeValue::Table(table) = item.get_mut() {
                        path.push(Segment::Index(i));
                        check_table(src, table, child, path, errors);
                        path.pop();
                    }
                }
            }
            // A wrong type: serde reports it.
            _ => {}
        }
        path.pop();
    }
}

/// The field names serde's derive declares for `T`: it passes them to `deserialize_struct`,
/// which this deserializer records before refusing to go on. The lists therefore cannot drift
/// from the `Raw*` structs.
fn field_names<T: Deserialize<'static>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe always fails once it has the names: the error carries nothing.
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}
