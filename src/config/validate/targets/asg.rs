//! `[[scenario.asg]]`: an EC2 Auto Scaling group by name, the night's `min` (MinSize and
//! DesiredCapacity) and the `max` guardrail.

use super::super::{claim, Validator};
use super::INSTANCES;
use crate::config::raw::RawAsg;
use crate::config::AsgTarget;
use toml::Spanned;

/// A group name AWS accepts that also keeps the IAM policy's ARN exact: 1 to 255 printable
/// characters without the IAM wildcards `*` and `?`, and without `:` (the ARN's separator).
fn is_group_name(name: &str) -> bool {
    (1..=255).contains(&name.chars().count())
        && name == name.trim()
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '*' | '?' | ':'))
}

impl Validator<'_> {
    /// The scenario's valid `[[scenario.asg]]` entries; a group configured twice is an error at
    /// its second entry.
    pub(in crate::config::validate) fn asg_targets(
        &mut self,
        raw: &[Spanned<RawAsg>],
        at: &str,
    ) -> Vec<AsgTarget> {
        let mut out = Vec::with_capacity(raw.len());
        for (j, entry) in raw.iter().enumerate() {
            let key = format!("{at}.asg[{j}]");
            let Some(target) = self.asg_target(entry.get_ref(), &key) else {
                continue;
            };
            let what = format!("Auto Scaling group \"{}\"", target.name);
            let id = format!("{}{}", self.location, target.name);
            let span = entry.get_ref().name.span();
            let here = self.first_seen(&span);
            if let Some((message, hint)) = claim(
                &mut self.asg_owners,
                id,
                here,
                &what,
                "MinSize and DesiredCapacity",
            ) {
                self.push(&span, format!("{key}.name"), message, hint);
            }
            out.push(target);
        }
        out
    }

    fn asg_target(&mut self, raw: &RawAsg, at: &str) -> Option<AsgTarget> {
        let name = self.resource_name(
            &raw.name,
            &format!("{at}.name"),
            "Auto Scaling group name",
            "1 to 255 characters, without `*`, `?` or `:` and without spaces at either end",
            is_group_name,
        );
        let min = match self.aws_count(&raw.min, &format!("{at}.min"), "min", INSTANCES) {
            Some(0) => {
                self.push(
                    &raw.min.span(),
                    format!("{at}.min"),
                    "min is 0: the group would get no instances for the night",
                    "set min to the instance count the batch needs (1 or more)",
                );
                None
            }
            min => min,
        };
        let max = match self.aws_count(&raw.max, &format!("{at}.max"), "max", INSTANCES) {
            Some(0) => {
                self.push(
                    &raw.max.span(),
                    format!("{at}.max"),
                    "max is 0: no size could ever be set",
                    "set max to the most instances you allow (at least min)",
                );
                None
            }
            max => max,
        };
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                self.push(
                    &raw.min.span(),
                    format!("{at}.min"),
                    format!("min ({min}) is above max ({max}): max is the guardrail nightshift never exceeds"),
                    format!("lower min to {max} or less, or raise max to at least {min}"),
                );
                return None;
            }
        }
        Some(AsgTarget {
            name: name?,
            min: min?,
            max: max?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{assert_single_error, base_with, errors};

    /// BASE with a `[[scenario.asg]]` table after the DocumentDB one (header at line 14, name
    /// 15, min 16, max 17).
    fn with_asg(lines: &str) -> String {
        base_with(
            "  instance_class = \"db.r6g.large\"\n",
            &format!("  instance_class = \"db.r6g.large\"\n  [[scenario.asg]]\n{lines}"),
        )
    }

    #[test]
    fn an_asg_target_parses() {
        let text = with_asg("  name = \"batch-workers\"\n  min = 4\n  max = 10\n");
        let config = crate::config::parse(&text, "t.toml").expect("valid");
        let t = &config.scenarios[0].asg[0];
        assert_eq!((t.name.as_str(), t.min, t.max), ("batch-workers", 4, 10));
        assert_eq!(
            config.scenarios[0].target_ids()[2].to_string(),
            "Auto Scaling group batch-workers"
        );
        // A scenario of workers alone scales something.
        let only = text
            .replace("  [[scenario.ecs]]\n  cluster = \"batch\"\n  service = \"worker\"\n  desired = 10\n  max = 20\n", "")
            .replace("  [[scenario.docdb]]\n  cluster = \"batch-db\"\n  replicas = 3\n  instance_class = \"db.r6g.large\"\n", "");
        let config = crate::config::parse(&only, "t.toml").expect("valid");
        assert!(config.scenarios[0].ecs.is_empty() && config.scenarios[0].docdb.is_empty());
    }

    #[test]
    fn asg_values_that_break_the_guardrail_or_widen_the_policy_are_rejected() {
        assert_single_error(
            &with_asg("  name = \"batch-workers\"\n  min = 12\n  max = 10\n"),
            16,
            "scenario[0].asg[0].min",
            "min (12) is above max (10)",
            "raise max to at least 12",
        );
        assert_single_error(
            &with_asg("  name = \"batch-workers\"\n  min = 0\n  max = 10\n"),
            16,
            "scenario[0].asg[0].min",
            "min is 0",
            "1 or more",
        );
        assert_single_error(
            &with_asg("  name = \"workers*\"\n  min = 1\n  max = 10\n"),
            15,
            "scenario[0].asg[0].name",
            "\"workers*\" is not a valid Auto Scaling group name",
            "name = \"batch-workers\"",
        );
        assert_single_error(
            &with_asg("  name = \"batch-workers\"\n  min = 1\n  max = 4294967296\n"),
            17,
            "scenario[0].asg[0].max",
            "too large",
            "",
        );
        let e = errors(&with_asg("  name = \"batch-workers\"\n  min = 1\n"));
        assert!(
            e[0].message
                .contains("missing required key `max` in [[scenario.asg]]"),
            "{e:#?}"
        );
        assert!(e[0].hint.contains("max = 10"), "{e:#?}");
    }

    #[test]
    fn a_group_in_two_scenarios_is_refused() {
        let text = with_asg("  name = \"batch-workers\"\n  min = 1\n  max = 10\n");
        let second = text[text.find("[[scenario]]").unwrap_or(0)..]
            .replace("name = \"nightly\"", "name = \"other\"")
            .replace("cluster = \"batch\"", "cluster = \"other\"")
            .replace("cluster = \"batch-db\"", "cluster = \"other-db\"");
        let e = errors(&format!("{text}{second}"));
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].message.contains("Auto Scaling group \"batch-workers\" is also configured in scenario \"nightly\" (line 15)"),
            "{e:#?}"
        );
    }
}
