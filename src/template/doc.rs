//! An ordered document tree with comments, written as YAML or JSON.
//!
//! CloudFormation reads both. serde_json's map sorts its keys (the crate is built without
//! `preserve_order`, and turning it on would reorder every other JSON nightshift writes), and no
//! YAML serializer writes comments; a template that says *why* its memory, timeout and retry
//! settings are what they are needs both order and comments, hence this small writer. Every
//! string that is not plainly safe is written as a JSON string literal, which is also a valid YAML
//! double-quoted scalar, so no value can change meaning between the two formats.

use serde_json::Value;
use std::fmt::Write;

/// A node of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One key of a map, with an optional comment written above it in YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: Node,
    pub comment: Option<String>,
}

/// A string node.
pub fn s(value: impl Into<String>) -> Node {
    Node::Str(value.into())
}

/// A map node from `(key, value)` pairs, in order.
pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Node {
    Node::Map(
        entries
            .into_iter()
            .map(|(key, value)| Entry {
                key: key.into(),
                value,
                comment: None,
            })
            .collect(),
    )
}

/// A sequence node.
pub fn seq(items: impl IntoIterator<Item = Node>) -> Node {
    Node::Seq(items.into_iter().collect())
}

/// `{"Ref": name}`.
pub fn reference(name: &str) -> Node {
    map([("Ref", s(name))])
}

/// `{"Fn::GetAtt": [resource, attribute]}`.
pub fn get_att(resource: &str, attribute: &str) -> Node {
    map([("Fn::GetAtt", seq([s(resource), s(attribute)]))])
}

/// `{"Fn::Sub": text}`.
pub fn sub(text: impl Into<String>) -> Node {
    map([("Fn::Sub", s(text))])
}

/// `{"Fn::Sub": [text, {name: value, ...}]}`: a text with variables of its own.
pub fn sub_with<K: Into<String>>(
    text: impl Into<String>,
    variables: impl IntoIterator<Item = (K, Node)>,
) -> Node {
    map([("Fn::Sub", seq([s(text), map(variables)]))])
}

impl Node {
    /// Adds `key: value` to a map node (no-op on other nodes).
    pub fn push(&mut self, key: impl Into<String>, value: Node) {
        self.push_commented(key, value, None::<String>);
    }

    /// Adds `key: value` with a comment above it in YAML.
    pub fn push_commented(
        &mut self,
        key: impl Into<String>,
        value: Node,
        comment: Option<impl Into<String>>,
    ) {
        if let Node::Map(entries) = self {
            entries.push(Entry {
                key: key.into(),
                value,
                comment: comment.map(Into::into),
            });
        }
    }

    /// Sets the comment of the entry `key` of a map node.
    pub fn comment(mut self, key: &str, comment: impl Into<String>) -> Node {
        if let Node::Map(entries) = &mut self {
            if let Some(entry) = entries.iter_mut().find(|e| e.key == key) {
                entry.comment = Some(comment.into());
            }
        }
        self
    }

    /// The value at `key` of a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The same document as a serde_json value (key order is lost; for tests and checks).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Str(v) => Value::String(v.clone()),
            Node::Int(v) => Value::from(*v),
            Node::Bool(v) => Value::Bool(*v),
            Node::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_value()))
                    .collect(),
            ),
        }
    }

    /// A node from a serde_json value (maps in the value's key order).
    pub fn from_value(value: &Value) -> Node {
        match value {
            Value::Null => s(""),
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Node::Int(i),
                None => s(n.to_string()),
            },
            Value::String(v) => s(v.clone()),
            Value::Array(items) => seq(items.iter().map(Node::from_value)),
            Value::Object(m) => map(m.iter().map(|(k, v)| (k.clone(), Node::from_value(v)))),
        }
    }
}

/// JSON, two-space indent, keys in document order.
pub fn to_json(node: &Node) -> String {
    let mut out = String::new();
    write_json(node, 0, &mut out);
    out.push('\n');
    out
}

fn json_string(value: &str) -> String {
    Value::String(value.to_string()).to_string()
}

fn write_json(node: &Node, indent: usize, out: &mut String) {
    let pad = |n: usize| "  ".repeat(n);
    match node {
        Node::Str(v) => out.push_str(&json_string(v)),
        Node::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Node::Bool(v) => {
            let _ = write!(out, "{v}");
        }
        Node::Seq(items) if items.is_empty() => out.push_str("[]"),
        Node::Map(entries) if entries.is_empty() => out.push_str("{}"),
        Node::Seq(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_json(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Node::Map(entries) => {
            out.push_str("{\n");
            for (i, e) in entries.iter().enumerate() {
                let _ = write!(out, "{}{}: ", pad(indent + 1), json_string(&e.key));
                write_json(&e.value, indent + 1, out);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

/// YAML (block style, two-space indent), with each entry's comment above it.
pub fn to_yaml(node: &Node, header: &[&str]) -> String {
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    match node {
        Node::Map(entries) if !entries.is_empty() => write_yaml_entries(entries, 0, &mut out),
        other => {
            out.push_str(&yaml_scalar_or_flow(other));
            out.push('\n');
        }
    }
    out
}

/// Words YAML 1.1 readers take for booleans or null.
const YAML_WORDS: [&str; 22] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
];

/// Whether `v` can be written unquoted and still read back as this very string.
fn plain_ok(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && !v.ends_with(':')
        && !v.ends_with(' ')
        && !v.contains(": ")
        && !v.contains(" #")
        && !YAML_WORDS.contains(&v)
        && !matches!(v, "null" | "Null" | "NULL")
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    ' ' | '_' | '.' | '/' | ':' | '-' | '(' | ')' | '+' | '=' | ','
                )
        })
}

fn yaml_key(key: &str) -> String {
    if plain_ok(key) && !key.contains(' ') {
        key.to_string()
    } else {
        json_string(key)
    }
}

fn yaml_scalar_or_flow(node: &Node) -> String {
    match node {
        Node::Str(v) if plain_ok(v) => v.clone(),
        Node::Str(v) => json_string(v),
        Node::Int(v) => v.to_string(),
        Node::Bool(v) => v.to_string(),
        Node::Seq(items) if items.is_empty() => "[]".into(),
        Node::Map(entries) if entries.is_empty() => "{}".into(),
        // Only reached for non-empty collections at the top level.
        other => json_string(&other.to_value().to_string()),
    }
}

fn is_block(node: &Node) -> bool {
    matches!(node, Node::Seq(items) if !items.is_empty())
        || matches!(node, Node::Map(entries) if !entries.is_empty())
}

fn write_yaml_entries(entries: &[Entry], indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    for e in entries {
        if let Some(comment) = &e.comment {
            for line in comment.lines() {
                let _ = writeln!(out, "{pad}# {line}");
            }
        }
        let key = yaml_key(&e.key);
        if is_block(&e.value) {
            let _ = writeln!(out, "{pad}{key}:");
            write_yaml_block(&e.value, indent + 1, out);
        } else {
            let _ = writeln!(out, "{pad}{key}: {}", yaml_scalar_or_flow(&e.value));
        }
    }
}

fn write_yaml_block(node: &Node, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match node {
        Node::Map(entries) => write_yaml_entries(entries, indent, out),
        Node::Seq(items) => {
            for item in items {
                match item {
                    Node::Map(entries) if !entries.is_empty() => {
                        // "- " then the first entry on the same line, the rest indented under it.
                        let mut inner = String::new();
                        write_yaml_entries(entries, indent + 1, &mut inner);
                        let inner_pad = "  ".repeat(indent + 1);
                        let mut first = true;
                        for line in inner.lines() {
                            if first && !line.trim_start().starts_with('#') {
                                let _ = writeln!(out, "{pad}- {}", &line[inner_pad.len()..]);
                                first = false;
                            } else {
                                let _ = writeln!(out, "{line}");
                            }
                        }
                    }
                    Node::Seq(inner) if !inner.is_empty() => {
                        let _ = writeln!(out, "{pad}-");
                        write_yaml_block(item, indent + 1, out);
                    }
                    scalar => {
                        let _ = writeln!(out, "{pad}- {}", yaml_scalar_or_flow(scalar));
                    }
                }
            }
        }
        scalar => {
            let _ = writeln!(out, "{pad}{}", yaml_scalar_or_flow(scalar));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_yaml_would_read_as_something_else_are_quoted() {
        for v in [
            "0",
            "1",
            "yes",
            "No",
            "on",
            "null",
            "",
            "a: b",
            "x #y",
            "${AWS::Region}",
            "*",
            "07:30",
            "-1",
            "key:",
        ] {
            let doc = map([("k", s(v))]);
            let yaml = to_yaml(&doc, &[]);
            assert_eq!(yaml, format!("k: {}\n", json_string(v)), "{v:?}");
        }
        assert_eq!(
            to_yaml(&map([("k", s("AWS::Lambda::Function"))]), &[]),
            "k: AWS::Lambda::Function\n"
        );
    }

    #[test]
    fn nested_maps_and_sequences_indent_and_comments_sit_above_their_key() {
        let doc = map([
            (
                "A",
                map([(
                    "B",
                    seq([s("x"), map([("C", Node::Int(1)), ("D", Node::Bool(true))])]),
                )]),
            ),
            ("E", seq([])),
        ])
        .comment("A", "why A\nis so");
        let yaml = to_yaml(&doc, &["head"]);
        assert_eq!(
            yaml,
            "# head\n# why A\n# is so\nA:\n  B:\n    - x\n    - C: 1\n      D: true\nE: []\n"
        );
        let json: Value = serde_json::from_str(&to_json(&doc)).unwrap();
        assert_eq!(json, doc.to_value());
    }

    #[test]
    fn json_keeps_document_order() {
        let doc = map([("z", Node::Int(1)), ("a", Node::Int(2))]);
        assert_eq!(to_json(&doc), "{\n  \"z\": 1,\n  \"a\": 2\n}\n");
    }
}
