//! What a deployment needs: `validate`, `migrate`, `template`, `iam-policy`.

use super::{emit, load_config};
use crate::cli::{IamPolicyArgs, MigrateArgs, TemplateArgs, TemplateFormat, ValidateArgs};
use anyhow::anyhow;
use nightshift::app::Settings;
use nightshift::aws::Aws;
use nightshift::{config, migrations};
use std::process::ExitCode;

/// `nightshift validate`: every error of the file (exit 2), or its scenarios and digest.
pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs { config } = args;
    match config::load(&config) {
        Ok(cfg) => {
            println!(
                "{}: ok ({} scenario{}: {}; sha256 {})",
                config.display(),
                cfg.scenarios.len(),
                if cfg.scenarios.len() == 1 { "" } else { "s" },
                cfg.scenario_names().join(", "),
                cfg.digest
            );
            for warning in config::prices::warnings(&cfg) {
                eprintln!("warning: {warning}");
            }
            // Daylight saving within the next twelve months, from today on each scenario's clock.
            let now = super::now_or(None);
            for s in &cfg.scenarios {
                let today = now.to_zoned_datetime(s.timezone.clone()).date();
                for w in nightshift::calendar::view::dst_warnings(s, today) {
                    eprintln!("warning: {w}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{} error{} in {}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                config.display()
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// `nightshift migrate`: apply the embedded migrations to the table.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let MigrateArgs {
        table,
        config,
        wait,
    } = args;
    let table = match (
        table,
        std::env::var("NIGHTSHIFT_TABLE")
            .ok()
            .filter(|t| !t.is_empty()),
        config,
    ) {
        (Some(t), _, _) => t,
        (None, Some(t), _) => t,
        (None, None, Some(path)) => load_config(&path)?.table,
        (None, None, None) => "nightshift-runs".to_string(),
    };
    let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
    let aws = Aws::from_env(settings.timeouts).await;
    let ms = migrations::embedded()?;
    let report = aws
        .migrate(&table, &ms, jiff::Timestamp::now(), wait)
        .await?;
    for file in &report.already_applied {
        println!("already applied  {file}");
    }
    for file in &report.applied {
        println!("applied          {file}");
    }
    println!(
        "table \"{}\" is up to date ({} applied now, {} before)",
        report.table,
        report.applied.len(),
        report.already_applied.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `nightshift template`: the CloudFormation stack of exactly this config.
pub fn template(args: TemplateArgs) -> anyhow::Result<ExitCode> {
    let TemplateArgs {
        config,
        image_uri,
        output,
    } = args;
    let cfg = load_config(&config)?;
    let migrations = migrations::embedded().map_err(|e| anyhow!(e))?;
    let template =
        nightshift::template::build(&cfg, &image_uri, &migrations).map_err(|e| anyhow!(e))?;
    let format = match output {
        TemplateFormat::Yaml => nightshift::template::Format::Yaml,
        TemplateFormat::Json => nightshift::template::Format::Json,
    };
    let text = nightshift::template::render(&template, format, &cfg);
    if let Some(note) = nightshift::template::size_note(&text).map_err(|e| anyhow!(e))? {
        eprintln!("{note}");
    }
    emit(&text)
}

/// `nightshift iam-policy`: the execution role's least-privilege policy, as JSON.
pub fn iam_policy(args: IamPolicyArgs) -> anyhow::Result<ExitCode> {
    let IamPolicyArgs {
        config,
        region,
        account,
        partition,
        function_role,
    } = args;
    let target = iam_target(region, account, partition)?;
    let cfg = load_config(&config)?;
    let policy = nightshift::iam::policy(&cfg, &target);
    let roles = nightshift::iam::role_arns(&cfg);
    if roles.is_empty() {
        return emit(&format!("{}\n", serde_json::to_string_pretty(&policy)?));
    }
    // Scenarios in other accounts: the function role's policy, and each target role's policy
    // and trust policy.
    let function_role = match function_role {
        Some(arn) if nightshift::config::role_arn_problem(&arn).is_none() => arn,
        Some(arn) => {
            return Err(anyhow!(
                "--function-role {arn:?} is not an IAM role ARN: {}",
                nightshift::config::role_arn_problem(&arn).unwrap_or_default()
            ))
        }
        None => {
            return Err(anyhow!(
                "{} assumes {}: pass --function-role <the function's execution role ARN> (the stack's FunctionRoleArn output) so that each target role's trust policy names it",
                cfg.source,
                roles.join(", ")
            ))
        }
    };
    let out = serde_json::json!({
        "FunctionRole": policy,
        "TargetRoles": nightshift::iam::target_roles(&cfg, &target.region, &function_role),
    });
    emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))
}

/// The ARN parts of `iam-policy`, checked: a typo here would make a policy that allows nothing.
fn iam_target(
    region: String,
    account: String,
    partition: String,
) -> anyhow::Result<nightshift::iam::Target> {
    if account != "*" && !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())) {
        return Err(anyhow!(
            "--account {account:?} is not a 12-digit AWS account ID (or * for any account); `aws sts get-caller-identity` prints yours"
        ));
    }
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if region != "*" && !(plain(&region) && region.contains('-')) {
        return Err(anyhow!(
            "--region {region:?} is not an AWS region name such as ap-northeast-1 (or * for any region)"
        ));
    }
    if !(plain(&partition) && partition.starts_with("aws")) {
        return Err(anyhow!(
            "--partition {partition:?} is not an AWS partition: use aws, aws-cn or aws-us-gov"
        ));
    }
    Ok(nightshift::iam::Target {
        partition,
        region,
        account,
    })
}
