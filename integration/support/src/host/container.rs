//! The container image itself, run the way Lambda runs it: the OCI archive that
//! `integration/image/build.sh` writes, loaded into podman and started with runc as the sandbox
//! user (uid 993, gid 990), a read-only root, a writable `/tmp` only, the network of this machine
//! (so that it reaches the Runtime API host and the emulator on loopback), Lambda's limits, and the
//! image's own entrypoint, command, working directory and environment under the variables Lambda
//! sets. Facts of this machine (shared/local-aws.md): crun cannot run here (cgroups in hybrid
//! mode), runc can, as long as no limit is raised above the current ones.

use super::function::lambda_environment;
use super::runtime_api::{Invoked, RuntimeApi};
use super::{repo_root, target_dir};
use serde_json::Value;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// The user Lambda runs a function as (its `sbx_user1051`), whatever the image's `USER` says.
pub const LAMBDA_USER: &str = "993:990";

/// Where build.sh writes the image: `NIGHTSHIFT_IMAGE_DIR`, else `target/image`.
pub fn image_dir() -> PathBuf {
    std::env::var_os("NIGHTSHIFT_IMAGE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("image"))
}

/// `integration/image/build.sh`.
pub fn build_script() -> PathBuf {
    repo_root().join("integration/image/build.sh")
}

/// What build.sh wrote beside the archive (`nightshift.oci.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub archive: PathBuf,
    /// The image's id: the digest of its config, the same in local storage and in the archive.
    pub image_id: String,
    pub name: String,
    /// The local base image it was built on.
    pub base: String,
    pub bootstrap_path: PathBuf,
    pub bootstrap_sha256: String,
    pub config_sha256: String,
    pub archive_bytes: u64,
    pub unpacked_bytes: u64,
}

impl BuiltImage {
    /// The last build in `dir`, if there is one and its archive is still there.
    pub fn read(dir: &Path) -> Option<BuiltImage> {
        let text = std::fs::read_to_string(dir.join("nightshift.oci.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        let text = |value: &Value| value.as_str().map(str::to_string);
        let built = BuiltImage {
            archive: PathBuf::from(text(&v["archive"])?),
            image_id: text(&v["image_id"])?,
            name: text(&v["name"])?,
            base: text(&v["base"])?,
            bootstrap_path: PathBuf::from(text(&v["bootstrap"]["path"])?),
            bootstrap_sha256: text(&v["bootstrap"]["sha256"])?,
            config_sha256: text(&v["config"]["sha256"])?,
            archive_bytes: v["archive_bytes"].as_u64()?,
            unpacked_bytes: v["unpacked_bytes"].as_u64()?,
        };
        built.archive.is_file().then_some(built)
    }
}

/// Why an image could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// Neither podman nor buildah is installed, nor installable here (build.sh's exit 69).
    Unavailable(String),
    /// The build itself failed: what build.sh printed.
    Failed(String),
}

/// Build the image of `bootstrap` into [`image_dir`] with build.sh (blocking: seconds).
pub fn build_image(bootstrap: &Path) -> Result<BuiltImage, BuildError> {
    let output = Command::new(build_script())
        .arg(bootstrap)
        .env("NIGHTSHIFT_IMAGE_DIR", image_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::Failed(format!("starting {}: {e}", build_script().display())))?;
    let printed = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => BuiltImage::read(&image_dir()).ok_or_else(|| {
            BuildError::Failed(format!(
                "build.sh succeeded but {} has no readable nightshift.oci.json:\n{printed}",
                image_dir().display()
            ))
        }),
        Some(69) => Err(BuildError::Unavailable(
            printed.lines().last().unwrap_or_default().to_string(),
        )),
        _ => Err(BuildError::Failed(format!(
            "{} {} failed ({}):\n{printed}",
            build_script().display(),
            bootstrap.display(),
            output.status
        ))),
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Why the image cannot be run here, if it cannot: podman or runc missing (build.sh installs both
/// from Debian's packages as root).
pub fn runtime_unavailable() -> Option<String> {
    let missing: Vec<&str> = ["podman", "runc"]
        .into_iter()
        .filter(|tool| !on_path(tool) && !Path::new("/usr/sbin").join(tool).is_file())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (as root on Debian: apt-get install -y podman runc)",
            missing.join(" and ")
        )
    })
}

/// Run `podman ARGS`, its standard output on success, what it printed on failure.
pub fn podman(args: &[&str]) -> Result<String, String> {
    let output = Command::new("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("podman {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "podman {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The id of the image an OCI archive holds: the digest of the config its one manifest names.
pub fn archive_image_id(archive: &Path) -> Result<String, String> {
    let member = |name: &str| -> Result<Value, String> {
        let output = Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg(name)
            .output()
            .map_err(|e| format!("tar: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{} has no {name}: {}",
                archive.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("{name} in {}: {e}", archive.display()))
    };
    fn digest(v: &Value) -> Option<&str> {
        v["digest"].as_str().and_then(|d| d.strip_prefix("sha256:"))
    }
    let index = member("index.json")?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let [manifest] = manifests.as_slice() else {
        return Err(format!(
            "{} holds {} manifests, not one",
            archive.display(),
            manifests.len()
        ));
    };
    let manifest = digest(manifest).ok_or("the index names no manifest digest")?;
    let manifest = member(&format!("blobs/sha256/{manifest}"))?;
    digest(&manifest["config"])
        .map(str::to_string)
        .ok_or_else(|| format!("the manifest of {} names no config", archive.display()))
}

/// Load the archive into podman's storage; the id of the image it holds.
pub fn load_archive(archive: &Path) -> Result<String, String> {
    let id = archive_image_id(archive)?;
    let path = archive.to_string_lossy();
    podman(&["load", "--quiet", "--input", &path])?;
    podman(&["image", "exists", &id]).map_err(|e| format!("after podman load: {e}"))?;
    Ok(id)
}

/// An image's configuration, as `podman image inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub user: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    /// `NAME=value` entries, in the image's order.
    pub env: Vec<(String, String)>,
    /// Sum of the image's layers, unpacked (bytes).
    pub size: u64,
    /// The whole `podman image inspect` document.
    pub inspected: Value,
}

impl ImageConfig {
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `podman image inspect IMAGE`.
pub fn inspect(image: &str) -> Result<ImageConfig, String> {
    let text = podman(&["image", "inspect", image])?;
    let all: Value = serde_json::from_str(&text).map_err(|e| format!("inspect {image}: {e}"))?;
    let inspected = all[0].clone();
    let config = &inspected["Config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let env = strings(&config["Env"])
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (entry, String::new()),
        })
        .collect();
    Ok(ImageConfig {
        user: config["User"].as_str().unwrap_or_default().to_string(),
        entrypoint: strings(&config["Entrypoint"]),
        cmd: strings(&config["Cmd"]),
        working_dir: config["WorkingDir"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        env,
        size: inspected["Size"].as_u64().unwrap_or(0),
        inspected,
    })
}

/// An image's files, mounted (read-only use) for inspection; unmounted when dropped.
pub struct MountedImage {
    pub root: PathBuf,
    image: String,
}

impl MountedImage {
    pub fn mount(image: &str) -> Result<MountedImage, String> {
        let root = podman(&["image", "mount", image])?;
        Ok(MountedImage {
            root: PathBuf::from(root.trim()),
            image: image.to_string(),
        })
    }
}

impl Drop for MountedImage {
    fn drop(&mut self) {
        let _ = podman(&["image", "unmount", &self.image]);
    }
}

/// Whether Lambda itself sets `name` in a function's environment: its reserved names (`AWS_*`,
/// `LAMBDA_*`, `_HANDLER`, `_X_AMZN_TRACE_ID`, `TZ`) and the runtime's `PATH`, `LANG` and
/// `LD_LIBRARY_PATH`. The rest of [`lambda_environment`] stands for the image's own `ENV`, which a
/// container gets from the image instead.
pub fn set_by_lambda(name: &str) -> bool {
    name.starts_with("AWS_")
        || name.starts_with("LAMBDA_")
        || name.starts_with('_')
        || ["TZ", "PATH", "LANG", "LD_LIBRARY_PATH"].contains(&name)
}

/// What Lambda adds to the image's environment, pointed at `runtime_api`.
pub fn lambda_container_environment(runtime_api: &str) -> Vec<(String, String)> {
    lambda_environment(runtime_api)
        .into_iter()
        .filter(|(name, _)| set_by_lambda(name))
        .collect()
}

/// `podman` arguments that run `image` as Lambda runs it: runc; the sandbox user whatever the
/// image's USER; a read-only root with only `/tmp` writable (512 MB, Lambda's default; podman's
/// own writable `/run` and `/var/tmp` are turned off); no capabilities; Lambda's limits of 1,024
/// file descriptors and 1,024 processes (also under this machine's, which runc cannot raise);
/// the host's network; `env` on top of the image's own environment; the image's entrypoint and
/// command. `mounts` are read-only bind mounts (host path, container path).
pub fn lambda_run_args(
    image: &str,
    name: &str,
    env: &[(String, String)],
    mounts: &[(PathBuf, &str)],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--runtime",
        "runc",
        "run",
        "--rm",
        "--pull=never",
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs",
        "/tmp:rw,size=512m,mode=1777",
        "--user",
        LAMBDA_USER,
        "--cap-drop=all",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--network=host",
    ]
    .map(String::from)
    .to_vec();
    args.extend(["--name".to_string(), name.to_string()]);
    for (host, inside) in mounts {
        args.push("--volume".into());
        args.push(format!("{}:{inside}:ro", host.display()));
    }
    for (k, v) in env {
        args.push("--env".into());
        args.push(format!("{k}={v}"));
    }
    args.push(image.to_string());
    args
}

/// A container name no other run uses.
pub fn container_name(what: &str) -> String {
    format!(
        "nightshift-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Remove a container whatever its state (blocking; quiet when it is already gone).
pub fn remove_container(name: &str) {
    let _ = podman(&["rm", "--force", "--time", "0", "--ignore", name]);
}

/// The function as a container: `podman run` of the image (see [`lambda_run_args`]) served by its
/// own Runtime API. Removed when dropped, with its output files unless `NIGHTSHIFT_KEEP_SANDBOX=1`.
pub struct Container {
    pub api: RuntimeApi,
    pub name: String,
    child: tokio::process::Child,
    stdout_file: PathBuf,
    stderr_file: PathBuf,
}

impl Container {
    /// Start `image` with Lambda's environment plus `env` (the function's configuration, which
    /// wins on a clash) and the read-only `mounts`.
    pub async fn start(
        image: &str,
        env: &[(String, String)],
        mounts: &[(PathBuf, &str)],
    ) -> io::Result<Container> {
        let api = RuntimeApi::start().await?;
        let name = container_name("fn");
        let mut environment = lambda_container_environment(&api.address());
        environment.retain(|(k, _)| !env.iter().any(|(name, _)| name == k));
        environment.extend(env.iter().cloned());
        let logs = image_dir().join("runs");
        std::fs::create_dir_all(&logs)?;
        let stdout_file = logs.join(format!("{name}.stdout"));
        let stderr_file = logs.join(format!("{name}.stderr"));
        let child = tokio::process::Command::new("podman")
            .args(lambda_run_args(image, &name, &environment, mounts))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_file)?)
            .stderr(std::fs::File::create(&stderr_file)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting podman run: {e}")))?;
        Ok(Container {
            api,
            name,
            child,
            stdout_file,
            stderr_file,
        })
    }

    /// Hand the function one event and wait for its answer. Fails, with what the container
    /// printed, if it exits or does not answer within the invocation timeout.
    pub async fn invoke(&mut self, payload: impl Into<Vec<u8>>) -> Result<Invoked, String> {
        let (request_id, answer) = self.api.enqueue(payload);
        // A container's first start can take seconds more than a process's on a loaded machine.
        let limit = self.api.timeout + Duration::from_secs(30);
        tokio::select! {
            answer = tokio::time::timeout(limit, answer) => match answer {
                Ok(Ok(answer)) => Ok(Invoked { request_id, answer }),
                _ => Err(self.failure(&format!("no answer to {request_id} within {limit:?}"))),
            },
            status = self.child.wait() => Err(self.failure(&format!(
                "the container exited ({}) before answering {request_id}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string())
            ))),
        }
    }

    /// Wait up to `timeout` for `podman run` to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_file).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// A message with everything the container printed, for assertion failures.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{what}\n--- container {} stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.stdout(),
            self.stderr()
        )
    }

    /// Every stdout line that is a JSON object (the function's JSON log lines).
    pub fn json_log_lines(&self) -> Vec<Value> {
        self.stdout()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(Value::is_object)
            .collect()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Killing `podman run` would leave the container running under conmon.
        remove_container(&self.name);
        let _ = self.child.start_kill();
        if std::env::var("NIGHTSHIFT_KEEP_SANDBOX").as_deref() != Ok("1") {
            let _ = std::fs::remove_file(&self.stdout_file);
            let _ = std::fs::remove_file(&self.stderr_file);
        }
    }
}
