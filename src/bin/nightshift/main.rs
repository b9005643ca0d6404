//! `nightshift`: the ops CLI. Thin glue over the library; see `nightshift --help`.
//!
//! - `cli`: the clap definitions (every subcommand's options and help text);
//! - `commands`: one function per subcommand, grouped by job (deploy, steps, history, overrides);
//! - `errors`: the ops error messages (region, credentials, missing table, unreachable endpoint);
//! - `docs` (tests): docs/cli.md's synopsis and the docs' example commands against the clap
//!   definitions.

mod cli;
mod commands;
#[cfg(test)]
mod docs;
mod errors;

use clap::Parser;
use cli::{Cli, Command};
use commands::{calendar, deploy, history, live, overrides, steps, trends};
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The subcommand's function; its error is printed by `main` and exits 1.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => deploy::validate(args),
        Command::Migrate(args) => deploy::migrate(args).await,
        Command::Template(args) => deploy::template(args),
        Command::IamPolicy(args) => deploy::iam_policy(args),
        Command::Invoke(args) => steps::invoke(args).await,
        Command::Plan(args) => steps::plan(args).await,
        Command::History(args) => history::history(args).await,
        Command::Show(args) => history::show(args).await,
        Command::Pause(args) => overrides::pause(args).await,
        Command::Resume(args) => overrides::resume(args).await,
        Command::Hold(args) => overrides::hold(args).await,
        Command::Release(args) => overrides::release(args).await,
        Command::Report(args) => trends::report(args).await,
        Command::Tune(args) => live::tune(args).await,
        Command::Status(args) => live::status(args).await,
        Command::Calendar(args) => calendar::calendar(args),
    }
}
