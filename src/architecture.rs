//! ARCHITECTURE.md's invariants that the source itself can show, checked on every test run.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file under src/, as (path relative to src/, text).
fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            (rel, text)
        })
        .collect()
}

/// The code of a file before its unit tests (`#[cfg(test)]` modules at the end), without its
/// comment lines (docs may name any module).
fn code_of(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_src_aws_names_the_aws_sdk() {
    let files = sources();
    assert!(files.len() > 30, "read {} files", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter(|(path, _)| !path.starts_with("aws/") && path != "architecture.rs")
        .filter(|(_, text)| {
            let code = code_of(text);
            ["aws_sdk_", "aws_config::", "aws_smithy_"]
                .iter()
                .any(|name| code.contains(name))
        })
        .map(|(path, _)| path.clone())
        .collect();
    assert!(offenders.is_empty(), "outside src/aws: {offenders:?}");
}

#[test]
fn the_policy_code_does_no_io_and_reads_no_clock() {
    // The functional core: decisions from data, no I/O, no clock, no randomness.
    let policy = [
        "gate/",
        "overrides.rs",
        "night/mod.rs",
        "plan/",
        "schedule.rs",
        "evidence.rs",
        "text.rs",
        "hold.rs",
        "trends/mod.rs",
        "trends/table.rs",
        "trends/html.rs",
        "notify/",
    ];
    let forbidden = [
        "tokio::",
        "crate::aws",
        "crate::app",
        "Timestamp::now",
        "SystemTime",
        "Instant::now",
        "uuid::",
        "std::fs",
        "std::net",
        "async fn",
    ];
    let mut found = Vec::new();
    for (path, text) in sources() {
        if !policy
            .iter()
            .any(|p| path == *p || (p.ends_with('/') && path.starts_with(p)))
        {
            continue;
        }
        for name in forbidden {
            if code_of(&text).contains(name) {
                found.push(format!("{path}: {name}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn mutating_scaling_calls_are_private_to_src_aws() {
    let files = sources();
    let adapters = ["aws/ecs.rs", "aws/autoscaling.rs", "aws/docdb.rs"];
    for name in [
        "fn update_desired(",
        "fn register(",
        "fn create_reader(",
        "fn modify_class(",
        "fn failover(",
        "fn delete_instance(",
    ] {
        let (path, text) = files
            .iter()
            .find(|(path, text)| adapters.contains(&path.as_str()) && text.contains(name))
            .unwrap_or_else(|| panic!("{name} is in no adapter"));
        let line = text.lines().find(|l| l.contains(name)).unwrap_or_default();
        assert!(
            line.contains("pub(super) async fn"),
            "{path}: `{}` must be pub(super): mutating calls go through ScalingClients::execute",
            line.trim()
        );
    }
}
