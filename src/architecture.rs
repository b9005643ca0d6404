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
        "schedule/",
        "calendar/",
        "tune/lead.rs",
        "evidence.rs",
        "text.rs",
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

/// What the types cannot say about "every mutating call passes `plan::safety` first". The types
/// hold the rest: `Scaling::execute` takes only a `plan::safety::VettedCall`, which only
/// `plan::safety::vet` makes (the compile-fail examples on `VettedCall` and `ScalingClients` show
/// it).
#[test]
fn mutating_scaling_calls_are_private_to_src_aws() {
    let files = sources();
    let adapters = [
        "aws/ecs.rs",
        "aws/autoscaling.rs",
        "aws/docdb.rs",
        "aws/batch.rs",
        "aws/asg.rs",
    ];
    let mutating = [
        "fn update_desired(",
        "fn register_replica_target(",
        "fn register(",
        "fn create_reader(",
        "fn modify_serverless_min(",
        "fn modify_class(",
        "fn failover(",
        "fn delete_instance(",
        "fn update_vcpus(",
        "fn update_size(",
    ];
    for name in mutating {
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
        // pub(super) lets every module of src/aws call it: only the executor does.
        let call = format!(".{}", name.trim_start_matches("fn "));
        let callers: Vec<&str> = files
            .iter()
            .filter(|(_, text)| code_of(text).contains(&call))
            .map(|(path, _)| path.as_str())
            .collect();
        assert_eq!(
            callers,
            ["aws/scaling.rs"],
            "`{call}` is called outside ScalingClients::execute"
        );
    }
    // The adapters, their SDK clients and the other accounts' clients stay inside src/aws.
    let aws = code_of(
        &files
            .iter()
            .find(|(path, _)| path == "aws/mod.rs")
            .expect("src/aws/mod.rs")
            .1,
    );
    for module in ["ecs", "autoscaling", "docdb", "accounts", "batch", "asg"] {
        assert!(
            aws.lines().any(|l| l.trim() == format!("mod {module};")),
            "src/aws/mod.rs must declare `mod {module};` (private): its clients are reached through ScalingClients only"
        );
    }
    for (path, text) in files.iter().filter(|(path, _)| path.starts_with("aws/")) {
        for line in code_of(text).lines() {
            assert!(
                !(line.contains("pub fn client(") || line.contains("pub client:")),
                "{path}: `{}` hands an SDK client out of its adapter",
                line.trim()
            );
        }
    }
    let scaling = &files
        .iter()
        .find(|(path, _)| path == "aws/scaling.rs")
        .expect("src/aws/scaling.rs")
        .1;
    let fields = scaling
        .split("pub struct ScalingClients {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("struct ScalingClients");
    assert!(
        !fields.lines().any(|l| l.trim_start().starts_with("pub")),
        "ScalingClients' fields must be private"
    );
}

#[test]
fn only_the_convergence_loop_executes_scaling_calls() {
    // The planner proposes, the safety check disposes, one loop executes: `nightshift plan`,
    // status and tune read the same ports and never execute.
    let executors: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !path.starts_with("aws/") && path != "architecture.rs")
        .filter(|(_, text)| code_of(text).contains(".execute("))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(executors, ["app/converge.rs"]);
}
