//! The documentation's relative links point somewhere: every link of README.md, ARCHITECTURE.md,
//! RELIABILITY.md, BENCHMARKS.md and docs/*.md to a file of the repository names one that exists,
//! and every `#anchor` names a heading of its page, by GitHub's rules (lowercase, spaces to `-`,
//! punctuation dropped, `-1`, `-2`… for repeated headings). Links to other sites are left alone;
//! a link from the root of the site (`/docs/…`) is refused: the docs use relative links only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The pages whose links are checked, relative to the repository root.
fn pages(root: &Path) -> BTreeMap<String, String> {
    let mut names: Vec<String> = [
        "README.md",
        "ARCHITECTURE.md",
        "RELIABILITY.md",
        "BENCHMARKS.md",
    ]
    .map(String::from)
    .into();
    if let Ok(entries) = std::fs::read_dir(root.join("docs")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") {
                names.push(format!("docs/{name}"));
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name))
                .unwrap_or_else(|e| panic!("reading {name}: {e}"));
            (name, text)
        })
        .collect()
}

/// The page's text with fenced code blocks blanked (their lines kept, for line numbers).
fn prose(text: &str) -> String {
    let mut fence: Option<&str> = None;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push_str(line),
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// `text` without its code spans (a run of backticks up to the next run of the same length).
fn without_code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let ticks = after.len() - after.trim_start_matches('`').len();
        let opener = &after[..ticks];
        match after[ticks..].find(opener) {
            Some(end) => {
                // Keep the newlines a span covers, so that line numbers stay right.
                let span = &after[..ticks + end + ticks];
                out.extend(span.chars().filter(|c| *c == '\n'));
                rest = &after[ticks + end + ticks..];
            }
            None => {
                out.push_str(opener);
                rest = &after[ticks..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The heading anchors of a page, as GitHub makes them.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for line in prose(text).lines() {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug = slug(line[hashes..].trim());
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 { slug } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

/// GitHub's anchor of a heading: its text (a link's text, not its target) in lower case, letters,
/// digits, `-` and `_` kept, spaces turned into `-`, everything else dropped.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find("](") {
        let close = rest[open..].find(')').map_or(rest.len(), |c| open + c + 1);
        text.push_str(&rest[..open]);
        rest = &rest[close..];
    }
    text.push_str(rest);
    text.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every inline link target of a page outside code, with its line number.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let text = without_code_spans(&prose(text));
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("](") {
        let start = from + at + 2;
        let mut depth = 1;
        let mut end = start;
        for (i, c) in text[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                '\n' => break,
                _ => {}
            }
            if depth == 0 {
                end = start + i;
                break;
            }
        }
        from = start;
        if end > start {
            let target = text[start..end].split_whitespace().next().unwrap_or("");
            let line = text[..start].matches('\n').count() + 1;
            out.push((line, target.to_string()));
        }
    }
    out
}

/// `base` joined with `relative`, `.` and `..` resolved; None when it leaves the repository.
fn resolve(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    for component in base.join(relative).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.iter().collect())
}

/// What a link's file is.
#[derive(Clone)]
enum Target {
    /// A Markdown page, with its heading anchors.
    Page(BTreeSet<String>),
    /// Another file or a folder.
    Other,
    Missing,
}

/// What is wrong with the links of `pages` (paths relative to `root`), one line each.
fn problems(root: &Path, pages: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    let mut other_pages: BTreeMap<PathBuf, Target> = BTreeMap::new();
    for (page, text) in pages {
        let dir = Path::new(page).parent().unwrap_or(Path::new(""));
        for (line, target) in link_targets(text) {
            let at = format!("{page}:{line}: ({target})");
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if target.starts_with('/') {
                found.push(format!("{at}: not a relative link"));
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let file = if path.is_empty() {
                PathBuf::from(page)
            } else {
                match resolve(dir, path) {
                    Some(file) => file,
                    None => {
                        found.push(format!("{at}: leaves the repository"));
                        continue;
                    }
                }
            };
            let key = file.to_string_lossy().replace('\\', "/");
            let target_file = match pages.get(&key) {
                Some(text) => Target::Page(anchors(text)),
                None => other_pages
                    .entry(file.clone())
                    .or_insert_with(|| {
                        let on_disk = root.join(&file);
                        if !on_disk.exists() {
                            Target::Missing
                        } else if key.ends_with(".md") {
                            let text = std::fs::read_to_string(&on_disk).unwrap_or_default();
                            Target::Page(anchors(&text))
                        } else {
                            // Source files, folders: GitHub's line anchors are not checked.
                            Target::Other
                        }
                    })
                    .clone(),
            };
            match target_file {
                Target::Missing => found.push(format!("{at}: {key} does not exist")),
                Target::Page(heads) if !anchor.is_empty() && !heads.contains(anchor) => {
                    found.push(format!("{at}: {key} has no heading #{anchor}"))
                }
                Target::Page(_) | Target::Other => {}
            }
        }
    }
    found
}

#[test]
fn every_relative_link_and_anchor_of_the_docs_points_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = pages(root);
    assert!(
        pages.len() >= 10,
        "the docs are missing: {:?}",
        pages.keys()
    );
    let links: usize = pages.values().map(|t| link_targets(t).len()).sum();
    assert!(links >= 100, "found only {links} links in the docs");
    let problems = problems(root, &pages);
    assert!(
        problems.is_empty(),
        "broken links in the docs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    let cases = [
        ("The two commands", "the-two-commands"),
        ("`[[scenario.ecs]]`", "scenarioecs"),
        ("`[scenario.scale_down]`", "scenarioscale_down"),
        ("nightshift's own events", "nightshifts-own-events"),
        (
            "Keep the capacity until 09:00: hold and release",
            "keep-the-capacity-until-0900-hold-and-release",
        ),
        (
            "6. Slow nights: AWS at its real speed",
            "6-slow-nights-aws-at-its-real-speed",
        ),
        (
            "The table: the stack and `nightshift migrate`",
            "the-table-the-stack-and-nightshift-migrate",
        ),
        ("See [the CLI](cli.md) first", "see-the-cli-first"),
    ];
    for (heading, anchor) in cases {
        assert_eq!(slug(heading), anchor, "{heading}");
    }
    let page = "# A\n## Notes\n```sh\n# not a heading\n```\n## Notes\n";
    assert_eq!(
        anchors(page),
        BTreeSet::from(["a".into(), "notes".into(), "notes-1".into()])
    );
}

#[test]
fn a_broken_file_link_a_missing_anchor_and_an_absolute_link_are_each_reported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = "# Top\n\nSee [the top](#top), [the README](../README.md#the-two-commands),\n\
                [a file](../deploy/nightshift.toml) and [a site](https://toml.io).\n\
                Broken: [gone](gone.md), [no heading](#nowhere), [README's](../README.md#nowhere),\n\
                [absolute](/docs/cli.md), `[code](gone.md)` and\n\n```\n[fenced](gone.md)\n```\n";
    let pages = BTreeMap::from([
        ("docs/page.md".to_string(), page.to_string()),
        (
            "README.md".to_string(),
            "# nightshift\n## The two commands\n".to_string(),
        ),
    ]);
    let problems = problems(root, &pages);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].contains("(gone.md): docs/gone.md does not exist"));
    assert!(problems[1].contains("(#nowhere): docs/page.md has no heading #nowhere"));
    assert!(problems[2].contains("README.md has no heading #nowhere"));
    assert!(problems[3].contains("(/docs/cli.md): not a relative link"));
}
