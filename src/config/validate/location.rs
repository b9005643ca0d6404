//! Where a scenario's resources are: `region` (another region than the function's) and
//! `role_arn` (a role in another account, assumed for the scenario's scaling and metric calls).
//! Both are optional; the run-history table always stays in the function's own account and
//! region.

use super::Validator;
use crate::config::raw::RawScenario;
use toml::Spanned;

/// Longest IAM role name (IAM's own limit).
const MAX_ROLE_NAME: usize = 64;

impl Validator<'_> {
    /// The scenario's `region` and `role_arn`, each None when absent or invalid (errors pushed).
    pub(super) fn location(
        &mut self,
        raw: &RawScenario,
        at: &str,
    ) -> (Option<String>, Option<String>) {
        let region = raw
            .region
            .as_ref()
            .and_then(|r| self.region(r, &format!("{at}.region")));
        let role = raw
            .role_arn
            .as_ref()
            .and_then(|r| self.role_arn(r, &format!("{at}.role_arn")));
        // The same names in another region or account are other resources.
        let account = role.as_deref().and_then(|r| r.split(':').nth(4));
        self.location = format!(
            "{}/{}/",
            region.as_deref().unwrap_or_default(),
            account.unwrap_or_default()
        );
        (region, role)
    }

    fn region(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        if is_region_name(value) {
            return Some(value.clone());
        }
        self.push(
            &raw.span(),
            key,
            format!("\"{value}\" is not an AWS region name"),
            "write the region's code in lower case, e.g. region = \"eu-west-1\" (or remove the key to use the function's own region)",
        );
        None
    }

    fn role_arn(&mut self, raw: &Spanned<String>, key: &str) -> Option<String> {
        let value = raw.get_ref();
        match role_arn_problem(value) {
            None => Some(value.clone()),
            Some(problem) => {
                self.push(
                    &raw.span(),
                    key,
                    format!("\"{value}\" is not an IAM role ARN: {problem}"),
                    "copy the role's ARN from IAM, e.g. role_arn = \"arn:aws:iam::123456789012:role/nightshift-target\" (or remove the key to use the function's own credentials)",
                );
                None
            }
        }
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-5`: two letters, one or more
/// words, a number, joined by hyphens.
pub fn is_region_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && lower(parts[0])
        && parts[1..parts.len() - 1].iter().all(|p| lower(p))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()))
}

/// What is wrong with `value` as `arn:<partition>:iam::<account>:role/<path/><name>`, if
/// anything.
pub fn role_arn_problem(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Some("it must look like arn:aws:iam::<account>:role/<name>".into());
    }
    let (partition, service, region, account, resource) =
        (parts[1], parts[2], parts[3], parts[4], parts[5]);
    if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Some(format!(
            "partition \"{partition}\" is not aws, aws-cn or aws-us-gov"
        ));
    }
    if service != "iam" || !region.is_empty() {
        return Some("it must be an IAM ARN (arn:<partition>:iam::…, with no region)".into());
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "account \"{account}\" is not a 12-digit AWS account ID"
        ));
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Some(format!(
            "\"{resource}\" is not a role (role/<name>): users, groups and policies cannot be assumed"
        ));
    };
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if name.is_empty() || name.len() > MAX_ROLE_NAME || !name.chars().all(allowed) {
        return Some(format!(
            "role name \"{name}\" must be 1 to {MAX_ROLE_NAME} characters of A-Z, a-z, 0-9 and +=,.@_- (no wildcard)"
        ));
    }
    if !path_and_name.chars().all(|c| allowed(c) || c == '/') {
        return Some("the role's path may hold only A-Z, a-z, 0-9, +=,.@_- and /".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{assert_single_error, base_with};

    const TZ: &str = "timezone = \"Asia/Tokyo\"\n";

    #[test]
    fn region_and_role_are_read_and_default_to_none() {
        let config = crate::config::parse(
            &base_with(
                TZ,
                &format!("{TZ}region = \"eu-west-1\"\nrole_arn = \"arn:aws:iam::123456789012:role/nightshift-target\"\n"),
            ),
            "test.toml",
        )
        .expect("parses");
        let s = &config.scenarios[0];
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            s.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/nightshift-target")
        );
        let plain =
            crate::config::parse(crate::config::testing::BASE, "test.toml").expect("parses");
        assert_eq!(plain.scenarios[0].region, None);
        assert_eq!(plain.scenarios[0].role_arn, None);
    }

    #[test]
    fn the_same_names_in_another_region_or_account_are_other_resources() {
        let second = |extra: &str| {
            let from = crate::config::testing::BASE.find("[[scenario]]").unwrap();
            let copy = crate::config::testing::BASE[from..]
                .replace("name = \"nightly\"", "name = \"other\"")
                .replace(TZ, &format!("{TZ}{extra}"));
            format!("{}{copy}", crate::config::testing::BASE)
        };
        let role = "role_arn = \"arn:aws:iam::210987654321:role/nightshift-target\"\n";
        for extra in ["region = \"eu-west-1\"\n", role] {
            crate::config::parse(&second(extra), "test.toml")
                .unwrap_or_else(|e| panic!("{extra}: {e}"));
        }
        // In the same place, the same service and cluster are still refused.
        let errors = crate::config::testing::errors(&second(""));
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].message.contains("also configured in scenario"));
    }

    #[test]
    fn a_bad_region_or_role_is_one_clear_error_on_its_line() {
        assert_single_error(
            &base_with(TZ, &format!("{TZ}region = \"Europe\"\n")),
            5,
            "scenario[0].region",
            "\"Europe\" is not an AWS region name",
            "region = \"eu-west-1\"",
        );
        assert_single_error(
            &base_with(
                TZ,
                &format!("{TZ}role_arn = \"arn:aws:iam::123456789012:user/ops\"\n"),
            ),
            5,
            "scenario[0].role_arn",
            "is not an IAM role ARN: \"user/ops\" is not a role",
            "role_arn = \"arn:aws:iam::123456789012:role/nightshift-target\"",
        );
    }

    #[test]
    fn region_names_have_the_aws_shape() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-5",
            "cn-north-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-1a",
            "eu_west_1",
            "*",
            "us--1",
            "usa-east-1",
            "us-east-123",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns_are_checked_part_by_part() {
        let ok = "arn:aws:iam::123456789012:role/nightshift-target";
        assert_eq!(role_arn_problem(ok), None);
        assert_eq!(
            role_arn_problem("arn:aws-cn:iam::123456789012:role/ops/nightshift"),
            None
        );
        let cases = [
            ("nightshift-target", "must look like"),
            ("arn:aws:iam::12345:role/x", "12-digit"),
            ("arn:aws:iam::123456789012:user/x", "not a role"),
            ("arn:aws:sts::123456789012:assumed-role/x/y", "IAM ARN"),
            ("arn:aws:iam:us-east-1:123456789012:role/x", "no region"),
            ("arn:aws:iam::123456789012:role/*", "no wildcard"),
            ("arn:aws:iam::123456789012:role/", "role name"),
            ("arn:azure:iam::123456789012:role/x", "partition"),
        ];
        for (arn, says) in cases {
            let problem = role_arn_problem(arn).unwrap_or_default();
            assert!(problem.contains(says), "{arn}: {problem}");
        }
    }
}
