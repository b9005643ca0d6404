//! The harness nightshift's integration tests (`integration/tests/`), the demo night
//! (`integration/runtime/night.rs`) and the benchmarks (`integration/bench/`) share, so that the
//! demo and the benchmarks play a night exactly the way the tests check it.
//!
//! - The crate root: the SDK pointed at the local AWS emulator ([`sdk_config`]), names that keep
//!   parallel tests apart ([`unique`]), a whole-server [`reset`], and the AWS resources a test
//!   starts from ([`create_docdb_cluster`], [`create_ecs_service`], [`register_scalable_target`]).
//! - [`host`]: the Lambda Runtime API on loopback, the container image's layout and the
//!   Lambda-like sandbox that run the real `bootstrap`.
//! - [`scene`]: the world a night plays in (cluster, service, metric, config) and its events.
//!
//! Callers name the binaries under test: `CARGO_BIN_EXE_*` exists only in the root package's
//! tests, so [`host::locate_bootstrap`] takes the test build's bootstrap as its fallback, after
//! `NIGHTSHIFT_BOOTSTRAP_BIN` and an up-to-date release build.

mod emulator;
pub mod host;
pub mod scene;

pub use emulator::{
    create_docdb_cluster, create_ecs_service, emulator_url, register_scalable_target, reset,
    sdk_config, unique,
};
