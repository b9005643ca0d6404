//! The Lambda side of the end-to-end tests and of the nightly demo, without Lambda:
//!
//! - [`RuntimeApi`]: the Lambda Runtime API on loopback (`/2018-06-01/runtime/...`). It hands the
//!   real `bootstrap` process one event per `GET invocation/next` (long-polled, as Lambda does),
//!   with the `Lambda-Runtime-*` headers, and collects what comes back on `invocation/{id}/response`,
//!   `invocation/{id}/error` and `init/error`.
//! - [`ImageRoot`]: `var/task` and `var/runtime` laid out and permissioned as in the container
//!   image (Dockerfile), under `target/`.
//! - [`Function`]: `bootstrap` started from an image root, inside the Lambda-like sandbox of
//!   `sandbox.sh` (a non-root uid, read-only root, writable `/tmp` only) or directly, with the
//!   environment Lambda gives a function, its output captured.
//! - [`serve_http`]: the small HTTP/1.1 server under all of it, also used to fake an AWS endpoint.
//! - [`Container`]: the container image itself (the OCI archive of `integration/image/build.sh`),
//!   run by podman with runc as Lambda runs it, served by its own Runtime API; and what it takes
//!   to get there: building, loading, inspecting and mounting the image.
//!
//! Shared by `integration/tests/lambda.rs`, `integration/tests/hostile.rs`, the demo
//! (`integration/runtime/night.rs`) and the benchmarks, so that the demo plays the night exactly
//! the way the tests check it.
//!
//! One file per part: `http.rs` (the server), `runtime_api.rs`, `image.rs` (the image layout, the
//! sandbox and which bootstrap to run), `function.rs` (the process and its environment) and
//! `container.rs` (the built image and its runs).

mod container;
mod function;
mod http;
mod image;
mod runtime_api;

pub use container::{
    archive_image_id, build_image, build_script, container_name, image_dir, inspect,
    lambda_container_environment, lambda_run_args, load_archive, podman, remove_container,
    runtime_unavailable, set_by_lambda, BuildError, BuiltImage, Container, ImageConfig,
    MountedImage, LAMBDA_USER,
};
pub use function::{lambda_environment, Function, Init, Output, PROCESS_LIMIT};
pub use http::{serve_http, HttpRequest, HttpResponse, HttpServer, RefusedPort};
pub use image::{
    locate_bootstrap, sandbox_script, sandbox_unavailable, ImageRoot, Launch, Modes,
    BOOTSTRAP_IN_IMAGE, CONFIG_IN_IMAGE,
};
pub use runtime_api::{Answer, ErrorReport, Invoked, RuntimeApi, FUNCTION_ARN};

use std::path::{Path, PathBuf};

/// The repository root (this crate is `integration/support/`).
pub fn repo_root() -> PathBuf {
    let support = Path::new(env!("CARGO_MANIFEST_DIR"));
    support.ancestors().nth(2).unwrap_or(support).to_path_buf()
}

/// Where builds go: `CARGO_TARGET_DIR`, else the repository's `target/`.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}
