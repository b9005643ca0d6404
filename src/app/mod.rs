//! The shell both binaries call: parse → resolve scenario → guard → read → decide → execute →
//! record → respond.
//!
//! `bootstrap` (Lambda) and `nightshift invoke` (CLI) run every event through [`App::handle`], so
//! a rehearsal on a laptop exercises the exact production path. The parts, by job, each importing
//! only from the ones below it:
//!
//! - `pipeline`: admission (parse, account, `now`, scenario), the exactly-once guard, and the
//!   one place a step's results are written (run summary or close, event record, guard result);
//!   `notify` sends the step's own events on the way.
//! - `preview`: `nightshift plan`: the same reads and the same decision, rendered, not executed.
//! - `build`: the [`App`], built one way ([`App::build`]) from its [`Settings`] and
//!   [`Adapters`], by both binaries and the tests; below it the AWS adapters are reached through
//!   the ports of [`crate::ports`] only.
//! - `step`: one claimed step of the night ([`Night`]): under the scenario's scaling lease
//!   (`lease`), read the open run and the metrics, ask the state machine
//!   ([`crate::night::decide`]), and execute its decision (`execute`) through the convergence
//!   loop (`converge`).
//! - `request` (the bottom): what flows between them: [`Invocation`], [`HandleError`] and
//!   [`Answer`] (the one mapping of a handled event to the Lambda result and to `nightshift
//!   invoke`'s output and exit status), [`StepRequest`], [`StepOutcome`], [`RunUpdate`] and the
//!   [`StepRunner`] port.
//!
//! The modules are private: each public name below has this one path.

mod build;
mod converge;
mod execute;
mod lease;
mod notify;
mod pipeline;
mod preview;
mod request;
mod step;

pub use build::{Adapters, App, Settings};
pub use execute::{night_of, run_id};
pub use preview::{OverrideView, Preview, PreviewCall, PreviewError};
pub use request::{
    Answer, FunctionError, HandleError, Invocation, RunUpdate, StepOutcome, StepRequest,
    StepRunner, NON_RETRYABLE, RETRYABLE,
};
pub use step::Night;
