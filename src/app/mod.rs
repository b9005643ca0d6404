//! The shell both binaries call: parse → resolve scenario → guard → read → decide → execute →
//! record → respond.
//!
//! `bootstrap` (Lambda) and `nightshift invoke` (CLI) run every event through [`App::handle`], so
//! a rehearsal on a laptop exercises the exact production path. The parts, by job:
//!
//! - [`pipeline`]: admission (parse, account, `now`, scenario), the exactly-once guard, and the
//!   one place a step's results are written (run summary or close, event record, guard result).
//! - [`step`]: one claimed step of the night: under the scenario's scaling lease ([`lease`]),
//!   read the open run and the metrics, ask the state machine ([`crate::night::decide`]), and
//!   execute its decision through the convergence loop ([`converge`]).
//! - [`preview`]: `nightshift plan`: the same reads and the same decision, rendered, not executed.
//!
//! The AWS adapters are built here, once per process ([`App::from_env`]); below this module they
//! are reached through the ports of [`crate::ports`] only.

mod build;
pub mod converge;
mod execute;
pub mod lease;
mod notify;
mod pipeline;
pub mod preview;
pub mod step;

pub use build::{App, HandleError, Invocation, Settings};
pub use execute::{night_of, run_id};
pub use preview::{HoldView, PauseView, Preview, PreviewCall, PreviewError};
pub use step::{Night, RunUpdate, StepOutcome, StepRequest, StepRunner};

/// `nightshift plan`'s one-word decision.
pub use crate::night::Kind as Decision;
