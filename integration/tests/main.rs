//! The integration test binary: real aws-sdk-rust clients against moto_server on loopback,
//! started by integration/emulator/emulator.sh (see README.md, "Testing").

// The harness shared with the demo night and the benchmarks (integration/support): the emulator
// helpers at its root, and its `host` and `scene` modules.
use nightshift_test_support as support;

mod harness;

mod accounts;
mod calendar;
mod calls;
mod costs;
mod deploy;
mod docdb_breadth;
mod emulator;
mod fuzz;
mod gate_flow;
mod guard;
mod history;
mod hold;
mod hostile;
mod image;
mod lambda;
mod lifecycle;
mod metrics;
mod migrate;
mod notify;
mod ops;
mod rds_family;
mod report;
mod scaling;
mod status;
mod trends;
mod tune;
mod workers;
