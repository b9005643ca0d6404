//! The integration test binary: real aws-sdk-rust clients against moto_server on loopback,
//! started by integration/emulator/emulator.sh (see README.md, "Tests").

mod support;

mod harness;

mod deploy;
mod emulator;
mod fuzz;
mod gate_flow;
mod guard;
mod history;
mod hostile;
mod lambda;
mod metrics;
mod migrate;
mod ops;
mod report;
mod scaling;
