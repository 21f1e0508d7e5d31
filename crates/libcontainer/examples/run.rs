//! A whole container lifecycle through the library, with no bundle on disk:
//!
//! ```text
//! cargo run -p libcontainer --example run -- ROOTFS CMD [ARGS...]
//! ```
//!
//! builds the OCI spec in memory, creates the container (its stdio is this
//! program's), starts it, waits for it, deletes it and exits with its exit
//! code (128 + the signal that killed it), as `hull run` does. Needs root.
//! Its state directory and cgroup parent (`/hull-example-<pid>`) are its
//! own and removed at the end.

use std::{
    error::Error,
    path::{Path, PathBuf},
};

use libcontainer::{
    oci_spec::runtime::{LinuxBuilder, ProcessBuilder, RootBuilder, Spec},
    ContainerBuilder,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rootfs, cmd @ ..] = args.as_slice() else {
        eprintln!("usage: run ROOTFS CMD [ARGS...]");
        std::process::exit(2);
    };
    if cmd.is_empty() {
        eprintln!("usage: run ROOTFS CMD [ARGS...]");
        std::process::exit(2);
    }
    let parent = format!("hull-example-{}", std::process::id());
    let state_root = std::env::temp_dir().join(&parent);
    let result = run(Path::new(rootfs), cmd, &state_root, &parent);
    let _ = std::fs::remove_dir_all(&state_root);
    remove_cgroup_parent(&parent);
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("run: {e}");
            std::process::exit(125);
        }
    }
}

/// The default spec (runc's set of namespaces, mounts, masked paths and
/// capabilities) with this rootfs, command and cgroup.
fn spec(rootfs: &Path, cmd: &[String], cgroup: &str) -> Result<Spec, Box<dyn Error>> {
    let mut spec = Spec::default();
    spec.set_root(Some(
        RootBuilder::default()
            .path(std::fs::canonicalize(rootfs)?)
            .readonly(false)
            .build()?,
    ));
    let base = spec.process().clone().unwrap_or_default();
    spec.set_process(Some(
        ProcessBuilder::default()
            .terminal(false)
            .user(base.user().clone())
            .args(cmd.to_vec())
            .env(base.env().clone().unwrap_or_default())
            .cwd("/")
            .capabilities(base.capabilities().clone().unwrap_or_default())
            .rlimits(base.rlimits().clone().unwrap_or_default())
            .no_new_privileges(true)
            .build()?,
    ));
    spec.set_hostname(Some("hull-example".into()));
    let mut linux = spec
        .linux()
        .clone()
        .unwrap_or(LinuxBuilder::default().build()?);
    // Absolute: under this program's own parent, never a shared cgroup.
    linux.set_cgroups_path(Some(PathBuf::from(cgroup)));
    spec.set_linux(Some(linux));
    Ok(spec)
}

fn run(rootfs: &Path, cmd: &[String], root: &Path, parent: &str) -> Result<i32, Box<dyn Error>> {
    let id = "example";
    let spec = spec(rootfs, cmd, &format!("/{parent}/{id}"))?;
    // Like `hull run`: signals this program gets (^C) go to the container.
    libcontainer::block_forwarded_signals()?;
    let mut container = ContainerBuilder::new(id, root).spec(spec).create()?;
    let status = container
        .start()
        .map_err(Box::<dyn Error>::from)
        .and_then(|()| Ok(container.wait_forwarding_signals()?));
    container.delete(true)?;
    Ok(status?.exit_code())
}

/// Removes `/<parent>` from every cgroup hierarchy mounted here (the
/// container's own cgroup below it went with `delete`).
fn remove_cgroup_parent(parent: &str) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if !right.starts_with("cgroup ") && !right.starts_with("cgroup2 ") {
            continue;
        }
        if let Some(mount_point) = left.split(' ').nth(4) {
            let _ = std::fs::remove_dir(Path::new(mount_point).join(parent));
        }
    }
}
