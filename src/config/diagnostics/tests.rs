use super::*;
use crate::config::parse;
use crate::config::testing::{base_with, errors, BASE};

#[test]
fn messages_escape_control_and_bidi_characters_and_cut_huge_values() {
    for name in [
        "nightly\\u0000batch",
        "nightly\\u202ebatch",
        "\\u001b[2Jnightly",
    ] {
        let text = BASE.replacen("name = \"nightly\"", &format!("name = \"{name}\""), 1);
        let message = errors(&text)[0].to_string();
        assert!(
            !message
                .chars()
                .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{message:?}"
        );
        assert!(message.contains("\\u{"), "shown escaped: {message:?}");
    }
    let huge = BASE.replacen(
        "table = \"runs\"",
        &format!("table = \"{}\"", "x/".repeat(512 * 1024)),
        1,
    );
    let message = errors(&huge)[0].to_string();
    assert!(message.len() < 2048, "{} bytes", message.len());
    assert!(message.contains("…(1048578 characters)"), "{message}");
    assert_eq!(tame("plain words stay"), "plain words stay");
}

#[test]
fn a_report_shows_the_first_fifty_errors_and_counts_the_rest() {
    let mut text = String::new();
    for i in 0..60 {
        text.push_str(
            &BASE
                .replace(
                    "[[scenario]]\nname = \"nightly\"",
                    &format!("[[scenario]]\nname = \"n{i}\""),
                )
                .replace("table = \"runs\"\n", "")
                .replace("timezone = \"Asia/Tokyo\"", "timezone = \"Tokyo\""),
        );
    }
    let errors = match parse(&text, "many.toml") {
        Err(e) => e,
        Ok(_) => panic!("60 bad time zones"),
    };
    assert!(errors.len() >= 60, "{}", errors.len());
    let shown = errors.to_string();
    assert_eq!(shown.matches("many.toml:").count(), MAX_SHOWN_ERRORS);
    assert!(
        shown.ends_with(&format!(
            "… and {} more errors: fix the ones above and run `nightshift validate` again",
            errors.len() - MAX_SHOWN_ERRORS
        )),
        "{shown}"
    );
}

#[test]
fn display_shows_file_line_column_key_message_and_hint() {
    let errors = parse(&base_with("desired = 10", "desired = 30"), "conf/n.toml")
        .expect_err("desired above max");
    assert_eq!(
        errors.to_string(),
        "conf/n.toml:8:13: scenario[0].ecs[0].desired: desired (30) is above max (20): max is the guardrail nightshift never exceeds\n  hint: lower desired to 20 or less, or raise max to at least 30"
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = base_with("name = \"nightly\"", "name = \"夜間 batch\"");
    let e = &errors(&text)[0];
    assert_eq!((e.line, e.column), (3, 8));
    let src = SourceText::new("é = 1\nab", "x");
    assert_eq!(src.position(7), (2, 1));
    assert_eq!(src.position(8), (2, 2));
    assert_eq!(src.position(4), (1, 4));
    // Line starts themselves, the text's end, and past it.
    assert_eq!(src.position(0), (1, 1));
    assert_eq!(src.position(6), (1, 6));
    assert_eq!(src.position(9), (2, 3));
    assert_eq!(src.position(99), (2, 3));
    let lines = SourceText::new("a\n\nb\n", "x");
    assert_eq!(lines.position(2), (2, 1));
    assert_eq!(lines.position(3), (3, 1));
    assert_eq!(lines.position(5), (4, 1));
}
