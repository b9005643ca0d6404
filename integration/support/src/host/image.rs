//! The container image's layout under `target/`, the Lambda-like sandbox, and which `bootstrap`
//! binary to run.

use super::{repo_root, target_dir};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where bootstrap lives in the image: `${LAMBDA_RUNTIME_DIR}/bootstrap`, which the base image's
/// entrypoint runs.
pub const BOOTSTRAP_IN_IMAGE: &str = "/var/runtime/bootstrap";
/// Where the config lives in the image (`NIGHTSHIFT_CONFIG`).
pub const CONFIG_IN_IMAGE: &str = "/var/task/nightshift.toml";

/// The file modes of the image (Dockerfile: `COPY --chmod=...`).
#[derive(Debug, Clone, Copy)]
pub struct Modes {
    pub bootstrap: u32,
    pub config: u32,
}

impl Default for Modes {
    fn default() -> Modes {
        Modes {
            bootstrap: 0o755,
            config: 0o644,
        }
    }
}

/// A directory holding `var/runtime/bootstrap` and `var/task/nightshift.toml`, permissioned as in
/// the image. Removed when dropped unless `NIGHTSHIFT_KEEP_SANDBOX=1`.
pub struct ImageRoot {
    pub dir: PathBuf,
}

impl ImageRoot {
    /// Lay out an image root named after `name` under `target/lambda-sandbox/`. The binary is
    /// copied (not linked), so that its mode is the image's and a non-root uid can reach it.
    pub fn build(
        name: &str,
        bootstrap: &Path,
        config: &str,
        modes: Modes,
    ) -> io::Result<ImageRoot> {
        let base = std::env::var_os("NIGHTSHIFT_SANDBOX_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("lambda-sandbox"));
        let dir = base.join(format!(
            "{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let task = dir.join("var/task");
        let runtime = dir.join("var/runtime");
        std::fs::create_dir_all(&task)?;
        std::fs::create_dir_all(&runtime)?;
        for d in [&base, &dir, &dir.join("var"), &task, &runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        }
        let root = ImageRoot { dir };
        root.check_reachable()?;
        std::fs::copy(bootstrap, runtime.join("bootstrap")).map_err(|e| {
            io::Error::new(e.kind(), format!("copying {}: {e}", bootstrap.display()))
        })?;
        std::fs::set_permissions(
            runtime.join("bootstrap"),
            std::fs::Permissions::from_mode(modes.bootstrap),
        )?;
        std::fs::write(task.join("nightshift.toml"), config)?;
        std::fs::set_permissions(
            task.join("nightshift.toml"),
            std::fs::Permissions::from_mode(modes.config),
        )?;
        Ok(root)
    }

    pub fn task_dir(&self) -> PathBuf {
        self.dir.join("var/task")
    }

    /// Every directory above the image root must be searchable by others, or the sandbox's
    /// non-root uid cannot even reach the bind mounts' sources.
    fn check_reachable(&self) -> io::Result<()> {
        for dir in self.dir.ancestors().skip(1) {
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} (mode {:o}) is not searchable by others, so the sandbox's non-root uid cannot reach {}; set NIGHTSHIFT_SANDBOX_DIR to a directory under /tmp",
                        dir.display(),
                        mode & 0o777,
                        self.dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Drop for ImageRoot {
    fn drop(&mut self) {
        if std::env::var("NIGHTSHIFT_KEEP_SANDBOX").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `integration/runtime/sandbox.sh`: the one definition of the Lambda-like sandbox.
pub fn sandbox_script() -> PathBuf {
    repo_root().join("integration/runtime/sandbox.sh")
}

/// Why the sandbox cannot run here, if it cannot: bubblewrap missing, or not root (setpriv
/// needs root to drop to the sandbox uid).
pub fn sandbox_unavailable() -> Option<String> {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    if !on_path("bwrap") {
        return Some("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap".into());
    }
    if !on_path("setpriv") {
        return Some("setpriv (util-linux) is not installed".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        return Some(format!(
            "the sandbox drops to a non-root uid with setpriv, which needs root; this process runs as uid {}",
            uid.unwrap_or_else(|| "?".into())
        ));
    }
    None
}

/// How bootstrap is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// In the Lambda-like sandbox (sandbox.sh).
    Sandboxed,
    /// As a plain child process (the demo's fallback where bubblewrap is missing).
    Direct,
}

/// Which `bootstrap` binary to run, and a note saying why.
///
/// `NIGHTSHIFT_BOOTSTRAP_BIN` when set (CI builds the release binary and points here); else
/// `target/release/bootstrap` when it is newer than every source file; else `fallback` (the
/// debug binary cargo built for this test run), so that a stale release build is never tested.
pub fn locate_bootstrap(fallback: Option<&Path>) -> Result<(PathBuf, String), String> {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_BOOTSTRAP_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            let note = format!("NIGHTSHIFT_BOOTSTRAP_BIN={}", path.display());
            Ok((path, note))
        } else {
            Err(format!(
                "NIGHTSHIFT_BOOTSTRAP_BIN={} does not exist: build it with `cargo build --release --bin bootstrap`",
                path.display()
            ))
        };
    }
    let release = target_dir().join("release/bootstrap");
    let fresh = modified(&release)
        .is_some_and(|built| newest_source().is_none_or(|source| built >= source));
    if fresh {
        return Ok((
            release,
            "target/release/bootstrap (release build, up to date)".into(),
        ));
    }
    match fallback {
        Some(path) if path.is_file() => Ok((
            path.to_path_buf(),
            format!(
                "{} — NOT the release build ({}); run `cargo build --release --bin bootstrap` or set NIGHTSHIFT_BOOTSTRAP_BIN to test what ships",
                path.display(),
                if release.is_file() { "target/release/bootstrap is older than the sources" } else { "target/release/bootstrap does not exist" }
            ),
        )),
        _ => Err("no bootstrap binary: run `cargo build --release --bin bootstrap` or set NIGHTSHIFT_BOOTSTRAP_BIN".into()),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of what the binary is built from.
fn newest_source() -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Some(t) = modified(&path) {
                *newest = (*newest).max(Some(t));
            }
        }
    }
    let root = repo_root();
    let mut newest = None;
    walk(&root.join("src"), &mut newest);
    walk(&root.join("migrations"), &mut newest);
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(modified(&root.join(file)));
    }
    newest
}
