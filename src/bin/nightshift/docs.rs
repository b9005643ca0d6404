//! The documentation's CLI against the clap definitions (what `--help` prints): the synopsis of
//! docs/cli.md names every subcommand once, only flags and positionals the subcommand has, in its
//! order, with brackets exactly where the option is optional and the value lists clap accepts; and
//! every example command line in README.md and docs/*.md parses.

use crate::cli::Cli;
use clap::{CommandFactory, Parser};
use std::path::Path;

const CLI_DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md"));

/// The lines of the ```sh block right under docs/cli.md's `## Synopsis`.
fn synopsis() -> Vec<&'static str> {
    let section = CLI_DOC
        .split_once("\n## Synopsis\n")
        .map(|(_, rest)| rest)
        .expect("docs/cli.md has a `## Synopsis` section");
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the Synopsis section opens with a ```sh block");
    block.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// README.md and every page of docs/, relative to the repository: where users copy commands from.
fn user_docs() -> Vec<String> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut pages: Vec<String> = std::fs::read_dir(docs)
        .expect("docs/ exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    pages.sort();
    pages.insert(0, "README.md".to_string());
    pages
}

/// `[--a X]` → ("--a", optional) and ("X", optional); a `# comment` ends the line.
fn tokens(line: &str) -> Vec<(&str, bool)> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for raw in line.split_whitespace() {
        if raw.starts_with('#') {
            break;
        }
        let opens = raw.len() - raw.trim_start_matches('[').len();
        depth += opens;
        let token = raw.trim_start_matches('[').trim_end_matches(']');
        out.push((token, depth > 0));
        depth -= (raw.len() - raw.trim_end_matches(']').len()).min(depth);
    }
    out
}

/// Checks one synopsis line against its subcommand; returns the subcommand's name and an argv
/// built from the line (the first of each `a|b` list, placeholders as they are).
fn check_line(line: &str) -> (String, Vec<String>) {
    let root = Cli::command();
    let toks = tokens(line);
    assert_eq!(toks.first().map(|t| t.0), Some("nightshift"), "{line}");
    let name = toks.get(1).map(|t| t.0).unwrap_or_default();
    let cmd = root
        .find_subcommand(name)
        .unwrap_or_else(|| panic!("the CLI synopsis names `{name}`, which is no subcommand"));
    let mut argv = vec!["nightshift".to_string(), name.to_string()];
    let mut named = Vec::new();
    let mut positionals = cmd.get_positionals();
    let mut rest = toks[2..].iter();
    while let Some(&(token, optional)) = rest.next() {
        let arg = if let Some(long) = token.strip_prefix("--") {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .unwrap_or_else(|| panic!("`nightshift {name}` has no --{long}: {line}"));
            argv.push(token.to_string());
            if arg.get_action().takes_values() {
                let &(value, _) = rest
                    .next()
                    .unwrap_or_else(|| panic!("--{long} needs a value in: {line}"));
                argv.push(value_of(arg, value, line));
            }
            arg
        } else {
            let placeholder = token
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or_else(|| panic!("`{token}` is neither --flag nor <positional>: {line}"));
            let arg = positionals.next().unwrap_or_else(|| {
                panic!("`nightshift {name}` takes no positional <{placeholder}>")
            });
            assert_eq!(
                arg.get_id().as_str(),
                placeholder,
                "positionals out of order: {line}"
            );
            argv.push(placeholder.to_string());
            arg
        };
        assert_eq!(
            optional,
            !arg.is_required_set(),
            "{token} must be written {} in: {line}",
            if arg.is_required_set() {
                "without brackets (it is required)"
            } else {
                "in brackets (it is optional)"
            }
        );
        named.push(arg.get_id().as_str().to_string());
    }
    for arg in cmd.get_arguments().filter(|a| a.is_required_set()) {
        assert!(
            named.iter().any(|n| n == arg.get_id().as_str()),
            "the synopsis of `{name}` leaves out its required {}",
            arg.get_id()
        );
    }
    (name.to_string(), argv)
}

/// A value from the synopsis: `a|b|c` must be exactly the values clap accepts (the first is
/// used), anything else is a placeholder or an example passed as it is.
fn value_of(arg: &clap::Arg, value: &str, line: &str) -> String {
    let accepted: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_string())
        .collect();
    if value.contains('|') || !accepted.is_empty() {
        let listed: Vec<&str> = value.split('|').collect();
        assert_eq!(
            listed,
            accepted,
            "the values of --{} in: {line}",
            arg.get_id()
        );
    }
    value.split('|').next().unwrap_or(value).to_string()
}

#[test]
fn the_cli_synopsis_matches_the_cli() {
    let lines = synopsis();
    let mut seen = Vec::new();
    for line in lines {
        let (name, argv) = check_line(line);
        // Every flag spelled, every required option present, every example value accepted.
        if let Err(e) = Cli::try_parse_from(&argv) {
            panic!(
                "`{}` (from the synopsis of docs/cli.md) does not parse: {e}",
                argv.join(" ")
            );
        }
        assert!(!seen.contains(&name), "`{name}` twice in the synopsis");
        seen.push(name);
    }
    for cmd in Cli::command().get_subcommands() {
        assert!(
            seen.iter().any(|s| s == cmd.get_name()),
            "the synopsis of docs/cli.md leaves out `nightshift {}`",
            cmd.get_name()
        );
    }
}

/// Shell words of an example line, up to a redirect, pipe, continuation or comment.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let end = words
        .iter()
        .position(|w| [">", "|", "\\", "&&"].contains(&w.as_str()) || w.starts_with('#'))
        .unwrap_or(words.len());
    words.truncate(end);
    words
}

#[test]
fn the_example_commands_of_the_docs_parse() {
    let synopsis = synopsis();
    let mut checked = 0;
    for page in user_docs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&page);
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{page}: {e}"));
        let mut in_code = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            let command = line.strip_prefix("$ ").unwrap_or(line);
            if !in_code || !command.starts_with("nightshift ") || synopsis.contains(&line) {
                continue;
            }
            let argv = words(command);
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!("{page}: example `{}` does not parse: {e}", argv.join(" "));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 40,
        "found only {checked} example commands in README.md and docs/"
    );
}
