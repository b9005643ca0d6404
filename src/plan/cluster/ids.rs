//! Deterministic identifiers of the readers nightshift adds.
//!
//! A retry (or a concurrent duplicate) that re-plans computes the same identifier and re-issues
//! the same CreateDBInstance, which DocumentDB answers DBInstanceAlreadyExists: one instance, never
//! two. The identifier depends on the cluster, the scenario and an ordinal only, never on the run
//! or the time.

use sha2::{Digest, Sha256};

/// DocumentDB instance identifiers: at most 63 characters.
const MAX_ID_LEN: usize = 63;

/// Six hex digits of SHA-256 over `cluster/scenario`: keeps two scenarios (or two clusters whose
/// long names truncate alike) from ever computing the same identifier.
pub fn scenario_hash(cluster: &str, scenario: &str) -> String {
    let digest = Sha256::digest(format!("{cluster}/{scenario}").as_bytes());
    hex::encode(&digest[..3])
}

/// `{cluster}-ns-{hash6}-{n}`, lowercase, letters/digits/single hyphens, at most 63 characters
/// (the cluster part is shortened when needed), starting with a letter as DocumentDB requires.
pub fn reader_identifier(cluster: &str, scenario: &str, ordinal: u32) -> String {
    let suffix = format!("-ns-{}-{ordinal}", scenario_hash(cluster, scenario));
    let mut prefix: String = cluster
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while prefix.contains("--") {
        prefix = prefix.replace("--", "-");
    }
    prefix.truncate(MAX_ID_LEN.saturating_sub(suffix.len()));
    let prefix = prefix.trim_matches('-');
    let prefix = if prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
        prefix.to_string()
    } else {
        // Cluster identifiers start with a letter; this keeps the rule even for odd input.
        let mut p = format!("n{prefix}");
        p.truncate(MAX_ID_LEN.saturating_sub(suffix.len()));
        p.trim_end_matches('-').to_string()
    };
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(id: &str) -> bool {
        id.len() <= MAX_ID_LEN
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !id.contains("--")
            && !id.ends_with('-')
    }

    #[test]
    fn identifiers_are_deterministic_and_distinct_per_cluster_scenario_and_ordinal() {
        let a = reader_identifier("batch-db", "nightly-batch", 1);
        assert_eq!(a, reader_identifier("batch-db", "nightly-batch", 1));
        assert!(a.starts_with("batch-db-ns-") && a.ends_with("-1"), "{a}");
        assert_eq!(a.len(), "batch-db-ns-".len() + 6 + 2);
        assert_ne!(a, reader_identifier("batch-db", "nightly-batch", 2));
        assert_ne!(a, reader_identifier("batch-db", "other", 1));
        assert_ne!(a, reader_identifier("batch-db2", "nightly-batch", 1));
        assert!(valid(&a), "{a}");
    }

    #[test]
    fn long_and_odd_cluster_names_still_give_valid_identifiers() {
        let long = "a".repeat(63);
        let id = reader_identifier(&long, "s", 15);
        assert!(valid(&id), "{id}");
        assert_eq!(id.len(), 63);
        let long_hyphen = format!("{}-b", "a".repeat(50));
        let id2 = reader_identifier(&long_hyphen, "s", 15);
        assert!(valid(&id2), "{id2}");
        assert_ne!(id, id2);
        for odd in ["Batch_DB", "9lives", "x--y", "-"] {
            let id = reader_identifier(odd, "s", 3);
            assert!(valid(&id), "{odd} -> {id}");
        }
    }
}
