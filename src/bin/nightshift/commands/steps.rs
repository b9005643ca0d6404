//! One step of the night, run or previewed: `invoke`, `plan`.

use super::{emit, load_config, now_or, ops_aws};
use crate::cli::{InvokeArgs, ListFormat, PlanArgs};
use crate::errors::{explain, explain_call, unknown_scenario};
use anyhow::{anyhow, Context};
use nightshift::app::{Adapters, Answer, App, Invocation, PreviewError, Settings};
use nightshift::aws::Aws;
use nightshift::config::Config;
use nightshift::night::Kind;
use nightshift::Step;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// `nightshift invoke`: one event through the Lambda handler; exits 2 when it is rejected.
pub async fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let InvokeArgs {
        config,
        event,
        now,
        request_id,
    } = args;
    let cfg = load_config(&config)?;
    let payload = read_event(&event)?;
    let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
    if now.is_some() && settings.is_prod() {
        // Checked before anything is read or called: a faked clock must never act in prod.
        eprintln!(
            "nightshift: --now is for rehearsals and tests and is refused when APP_ENV=prod: \
             remove --now, or run the rehearsal with APP_ENV unset (or not prod)"
        );
        return Ok(ExitCode::from(2));
    }
    let aws = Aws::from_env(settings.timeouts).await;
    let app = build(cfg, settings, &aws);
    let inv = Invocation {
        request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        deadline: None,
        now: now.unwrap_or_else(jiff::Timestamp::now),
        function_arn: None,
    };
    // The function's own mapping: the response printed (rejected too), the exit status from it.
    let answer = Answer::of(app.handle(&payload, &inv).await);
    if let Some(response) = answer.response() {
        println!("{}", serde_json::to_string_pretty(response)?);
    }
    match answer {
        Answer::Fail(e) => {
            let kind = if e.is_retryable() {
                "retryable"
            } else {
                "not retryable"
            };
            Err(anyhow!("{e} ({kind})"))
        }
        answered => Ok(ExitCode::from(answered.exit_code())),
    }
}

/// The app as the function builds it, on `aws`.
fn build(cfg: Config, settings: Settings, aws: &Aws) -> App {
    let adapters = Adapters::from_aws(aws, &cfg);
    App::build(Arc::new(cfg), settings, adapters)
}

/// The event's bytes: the file, or standard input for `-`.
fn read_event(event: &Path) -> anyhow::Result<Vec<u8>> {
    if event == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("reading the event from standard input")?;
        Ok(buf)
    } else {
        std::fs::read(event).with_context(|| format!("reading the event file {}", event.display()))
    }
}

/// `nightshift plan`: the calls a step would make now, none made; exits 2 when it would be
/// rejected.
pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let PlanArgs {
        config,
        scenario,
        step,
        force,
        output,
        table,
        now,
    } = args;
    let step = Step::from(step);
    if force && step != Step::ScaleDown {
        return Err(anyhow!(
            "--force previews a forced scale-down: use it with --step scale-down"
        ));
    }
    let mut cfg = load_config(&config)?;
    if let Some(table) = table {
        cfg = cfg.with_table_override(Some(table));
    }
    if cfg.scenario(&scenario).is_none() {
        return Err(unknown_scenario(&scenario, &cfg));
    }
    let settings = Settings::from_env().map_err(|e| anyhow!(e))?;
    let app = build(cfg, settings, &ops_aws().await?);
    let now = now_or(now);
    let preview = match app.preview(&scenario, step, force, now).await {
        Ok(preview) => preview,
        Err(PreviewError::Store(e)) => return Err(explain(e)),
        Err(PreviewError::Call(e)) => return Err(explain_call(&e)),
        Err(e) => return Err(anyhow!(e)),
    };
    let code = match output {
        ListFormat::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&preview)?)),
        ListFormat::Table => emit(&preview.to_text()),
    }?;
    // As `invoke`: a step that would be rejected exits 2.
    Ok(if preview.decision == Kind::Reject {
        ExitCode::from(2)
    } else {
        code
    })
}
