//! `[[scenario.batch]]`: an AWS Batch compute environment by name or ARN, the night's
//! `min_vcpus`, and the optional `max_vcpus` guardrail.

use super::super::{claim, Validator};
use super::VCPUS;
use crate::config::raw::RawBatch;
use crate::config::{batch_environment_name, BatchTarget};
use toml::Spanned;

/// AWS's rule for a compute environment name: up to 128 letters, digits, hyphens and
/// underscores, starting and ending with a letter or digit.
fn is_environment_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `arn:<partition>:batch:<region>:<12-digit account>:compute-environment/<name>`.
fn is_environment_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    partition.starts_with("aws")
        && service == "batch"
        && crate::config::is_region_name(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource
            .strip_prefix("compute-environment/")
            .is_some_and(is_environment_name)
}

impl Validator<'_> {
    /// The scenario's valid `[[scenario.batch]]` entries; an environment configured twice (here
    /// or in an earlier scenario) is an error at its second entry.
    pub(in crate::config::validate) fn batch_targets(
        &mut self,
        raw: &[Spanned<RawBatch>],
        at: &str,
    ) -> Vec<BatchTarget> {
        let mut out = Vec::with_capacity(raw.len());
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{at}.batch[{j}]");
            let Some(target) = self.batch_target(entry.get_ref(), &key) else {
                continue;
            };
            let what = format!("Batch compute environment \"{}\"", target.name());
            let id = format!("{}{}", self.location, target.name());
            let span = entry.get_ref().compute_environment.span();
            let here = self.first_seen(&span);
            if let Some((message, hint)) =
                claim(&mut self.batch_owners, id, here, &what, "minvCpus")
            {
                self.push(&span, format!("{key}.compute_environment"), message, hint);
            }
            out.push(target);
        }
        out
    }

    fn batch_target(&mut self, raw: &RawBatch, at: &str) -> Option<BatchTarget> {
        let key = format!("{at}.compute_environment");
        let environment = self.resource_name(
            &raw.compute_environment,
            &key,
            "Batch compute environment name or ARN",
            "a name of up to 128 letters, digits, hyphens and underscores (starting and ending with a letter or digit), or an ARN arn:aws:batch:<region>:<account>:compute-environment/<name>",
            |v: &str| {
                if v.starts_with("arn:") {
                    is_environment_arn(v)
                } else {
                    is_environment_name(v) && batch_environment_name(v) == v
                }
            },
        );
        let min = self.aws_count(
            &raw.min_vcpus,
            &format!("{at}.min_vcpus"),
            "min_vcpus",
            VCPUS,
        );
        let min = match min {
            Some(0) => {
                self.push(
                    &raw.min_vcpus.span(),
                    format!("{at}.min_vcpus"),
                    "min_vcpus is 0: the night would keep no vCPUs warm, and a compute environment's minvCpus is never lowered by nightshift",
                    "set min_vcpus to the vCPUs the first jobs need running (1 or more), or remove this [[scenario.batch]] table",
                );
                None
            }
            min => min,
        };
        let max = match &raw.max_vcpus {
            None => Some(None),
            Some(max) => self
                .aws_count(max, &format!("{at}.max_vcpus"), "max_vcpus", VCPUS)
                .map(Some),
        };
        if let (Some(min), Some(Some(max))) = (min, max) {
            if min > max {
                self.push(
                    &raw.min_vcpus.span(),
                    format!("{at}.min_vcpus"),
                    format!("min_vcpus ({min}) is above max_vcpus ({max}): max_vcpus is the guardrail nightshift never exceeds"),
                    format!("lower min_vcpus to {max} or less, or raise max_vcpus to at least {min}"),
                );
                return None;
            }
        }
        Some(BatchTarget {
            compute_environment: environment?,
            min_vcpus: min?,
            max_vcpus: max?,
        })
    }

    /// A count AWS accepts for `what` (a 32-bit integer, not negative; `unit` names it in the
    /// hints, `service` in the message); zero is the caller's decision.
    pub(in crate::config::validate) fn aws_count(
        &mut self,
        raw: &Spanned<i64>,
        key: &str,
        what: &str,
        (unit, service): (&str, &str),
    ) -> Option<u32> {
        let value = *raw.get_ref();
        match i32::try_from(value)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
        {
            Some(n) => Some(n),
            None if value < 0 => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} is negative ({value})"),
                    format!("use a {unit} count of 1 or more"),
                );
                None
            }
            None => {
                self.push(
                    &raw.span(),
                    key,
                    format!("{what} ({value}) is too large for {service}"),
                    format!("use a {unit} count of at most {}", i32::MAX),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{assert_single_error, base_with, errors};

    /// BASE with a `[[scenario.batch]]` table after the DocumentDB one (its header at line 14,
    /// compute_environment 15, min_vcpus 16, max_vcpus 17).
    fn with_batch(lines: &str) -> String {
        base_with(
            "  instance_class = \"db.r6g.large\"\n",
            &format!("  instance_class = \"db.r6g.large\"\n  [[scenario.batch]]\n{lines}"),
        )
    }

    #[test]
    fn a_batch_target_by_name_or_arn_parses_with_its_guardrail() {
        let text = with_batch(
            "  compute_environment = \"nightly-ce\"\n  min_vcpus = 64\n  max_vcpus = 256\n",
        );
        let config = crate::config::parse(&text, "t.toml").expect("valid");
        let t = &config.scenarios[0].batch[0];
        assert_eq!(
            (t.name(), t.min_vcpus, t.max_vcpus),
            ("nightly-ce", 64, Some(256))
        );
        let arn = "arn:aws:batch:us-east-1:123456789012:compute-environment/nightly-ce";
        let text = with_batch(&format!(
            "  compute_environment = \"{arn}\"\n  min_vcpus = 8\n"
        ));
        let config = crate::config::parse(&text, "t.toml").expect("valid");
        let t = &config.scenarios[0].batch[0];
        assert_eq!((t.name(), t.max_vcpus), ("nightly-ce", None));
        assert!(t.matches("nightly-ce") && t.matches(arn));
        assert_eq!(
            config.scenarios[0].target_ids()[2].to_string(),
            "Batch compute environment nightly-ce"
        );
    }

    #[test]
    fn batch_values_aws_would_refuse_or_that_break_the_guardrail_are_rejected() {
        assert_single_error(
            &with_batch(
                "  compute_environment = \"nightly-ce\"\n  min_vcpus = 300\n  max_vcpus = 256\n",
            ),
            16,
            "scenario[0].batch[0].min_vcpus",
            "min_vcpus (300) is above max_vcpus (256)",
            "raise max_vcpus to at least 300",
        );
        assert_single_error(
            &with_batch("  compute_environment = \"nightly-ce\"\n  min_vcpus = 0\n"),
            16,
            "scenario[0].batch[0].min_vcpus",
            "min_vcpus is 0",
            "1 or more",
        );
        assert_single_error(
            &with_batch("  compute_environment = \"nightly-*\"\n  min_vcpus = 4\n"),
            15,
            "scenario[0].batch[0].compute_environment",
            "\"nightly-*\" is not a valid Batch compute environment name or ARN",
            "compute_environment = \"nightly-ce\"",
        );
        assert_single_error(
            &with_batch("  compute_environment = \"arn:aws:batch:us-east-1:123:compute-environment/x\"\n  min_vcpus = 4\n"),
            15,
            "scenario[0].batch[0].compute_environment",
            "not a valid Batch compute environment name or ARN",
            "",
        );
        assert_single_error(
            &with_batch(
                "  compute_environment = \"nightly-ce\"\n  min_vcpus = 4\n  max_vcpus = -1\n",
            ),
            17,
            "scenario[0].batch[0].max_vcpus",
            "max_vcpus is negative (-1)",
            "",
        );
        // A missing key names the table and the line to add.
        let e = errors(&with_batch("  compute_environment = \"nightly-ce\"\n"));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].message
                .contains("missing required key `min_vcpus` in [[scenario.batch]]"),
            "{e:#?}"
        );
        assert!(e[0].hint.contains("min_vcpus = 64"), "{e:#?}");
        // A typo gets a "did you mean".
        let e = errors(&with_batch(
            "  compute_environment = \"nightly-ce\"\n  min_vcpu = 4\n",
        ));
        assert!(e[0].hint.contains("did you mean `min_vcpus`"), "{e:#?}");
    }

    #[test]
    fn an_environment_named_twice_is_refused_at_its_second_entry_even_as_an_arn() {
        let arn = "arn:aws:batch:us-east-1:123456789012:compute-environment/nightly-ce";
        assert_single_error(
            &with_batch(&format!(
                "  compute_environment = \"nightly-ce\"\n  min_vcpus = 4\n  [[scenario.batch]]\n  compute_environment = \"{arn}\"\n  min_vcpus = 8\n"
            )),
            18,
            "scenario[0].batch[1].compute_environment",
            "Batch compute environment \"nightly-ce\" is listed twice in this scenario (first at line 15)",
            "one entry per resource",
        );
    }
}
