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
//! - [`workers`]: the worker kinds' world: AWS Batch compute environments (with the IAM role,
//!   instance profile, subnet and security group they need) and EC2 Auto Scaling groups.
//!
//! Callers name the binaries under test: `CARGO_BIN_EXE_*` exists only in the root package's
//! tests, so [`host::locate_bootstrap`] takes the test build's bootstrap as its fallback, after
//! `NIGHTSHIFT_BOOTSTRAP_BIN` and an up-to-date release build.

pub mod emf;
mod emulator;
pub mod host;
pub mod proxy;
pub mod scene;
pub mod workers;

pub use emulator::{
    create_docdb_cluster, create_ecs_service, create_rds_cluster, emulator_api, emulator_url,
    register_scalable_target, reset, sdk_config, unique,
};

#[cfg(test)]
mod tests {
    use super::{host, scene, unique};

    #[test]
    fn repo_root_is_the_repository_this_crate_lives_in() {
        let root = host::repo_root();
        for file in ["Cargo.toml", "integration/runtime/sandbox.sh", "src/lib.rs"] {
            assert!(
                root.join(file).is_file(),
                "{} has no {file}",
                root.display()
            );
        }
        assert_eq!(
            host::sandbox_script(),
            root.join("integration/runtime/sandbox.sh")
        );
    }

    #[test]
    fn unique_names_are_lowercase_distinct_and_keep_their_prefix() {
        let (a, b) = (unique("Batch_DB"), unique("Batch_DB"));
        assert_ne!(a, b);
        assert!(
            a.starts_with("batch-db-") && a.len() == "batch-db-".len() + 8,
            "{a}"
        );
    }

    #[test]
    fn a_scene_config_names_the_scenes_resources_and_deadline() {
        let scene = scene::Scene::unique("runs-x");
        let config = scene.config(Some("06:00"));
        for name in [
            &scene.ecs_cluster,
            &scene.ecs_service,
            &scene.docdb_cluster,
            &scene.job,
            &scene.table,
        ] {
            assert!(
                config.contains(&format!("\"{name}\"")),
                "{name} missing:\n{config}"
            );
        }
        assert!(config.contains(r#"deadline = "06:00""#));
        assert_eq!(
            scene::Scene::contract("nightshift-runs").config(None),
            scene::CONTRACT_CONFIG
        );
    }
}
