//! `checkpoint`: the running container's processes to CRIU images.

use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::Path,
};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rust_criu::rust_criu_protobuf::rpc::{Criu_features, Criu_opts, Criu_req_type};

use super::Container;
use crate::{
    criu::{self, lazy, mounts, CheckpointOptions, CriuError, Swrk},
    error::{Error, Result},
    state::Status,
};

impl Container {
    /// Dumps the container with CRIU into `o.common.image_path`. Unless
    /// `leave_running` or `pre_dump`, the processes are gone afterwards and
    /// the container is stopped (delete it, or restore it under its id).
    ///
    /// ```no_run
    /// use libcontainer::{CheckpointOptions, Container, CriuCommon};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// let mut c = Container::load("/run/my-engine".as_ref(), "web")?;
    /// c.checkpoint(&CheckpointOptions {
    ///     common: CriuCommon {
    ///         image_path: "/var/lib/my-engine/web.ckpt".into(),
    ///         ..Default::default()
    ///     },
    ///     leave_running: true,
    ///     ..Default::default()
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn checkpoint(&mut self, o: &CheckpointOptions) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        self.require_status(
            &[Status::Running, Status::Paused],
            "only a running or paused container can be checkpointed",
        )?;
        criu::require_privilege("checkpoint")?;
        let lazy = o.common.lazy_pages;
        if lazy && o.page_server.is_none() {
            return Err(CriuError::Invalid {
                option: "--lazy-pages",
                reason: "a lazy dump serves the memory from a page server: give --page-server ADDRESS:PORT".into(),
            }
            .into());
        }
        let status_fd = match &o.status_fd {
            Some(fd) if lazy => {
                lazy::check_status_fd(fd.as_fd())?;
                Some(fd)
            }
            Some(fd) => {
                tracing::warn!(
                    "--status-fd {}: ignored without --lazy-pages",
                    fd.as_raw_fd()
                );
                None
            }
            None => None,
        };
        if let Some(p) = &o.parent_path {
            check_parent(&o.common.image_path, p)?;
        }
        let spec = self.persisted_spec()?;
        let netns = external_netns(&spec)?;
        let criu_path = o.common.criu_path();
        let found = criu::version(&criu_path)?;
        criu::require(found, criu::MIN_VERSION, "checkpoint")?;

        let mut opts = Criu_opts::new();
        o.common.fill(&mut opts)?;
        let images = criu::private_dir(&o.common.image_path)?;
        let work_path = o.common.work_dir();
        let work = criu::private_dir(&work_path)?;
        // CRIU opens these through /proc/<our pid>/fd: our numbers, not its.
        opts.set_images_dir_fd(images.as_raw_fd());
        opts.set_work_dir_fd(work.as_raw_fd());
        opts.set_log_file("dump.log".into());
        opts.set_root(self.state.rootfs.to_string_lossy().into_owned());
        opts.set_pid(self.state.pid);
        opts.set_leave_running(o.leave_running || o.pre_dump);
        if let Some(cg) = &self.state.cgroup {
            // CRIU freezes the whole cgroup, so nothing forks mid-dump.
            if let Some(dir) = cg.dir_for("freezer").or_else(|| cg.unified_dir()) {
                opts.set_freeze_cgroup(dir.to_string_lossy().into_owned());
            }
        }
        if let Some(ino) = netns {
            opts.external
                .push(format!("net[{ino}]:{}", criu::EXT_NETNS));
        }
        if let Some(parent) = &o.parent_path {
            opts.set_parent_img(parent.to_string_lossy().into_owned());
            opts.set_track_mem(true);
        }
        check_kernel_features(&criu_path, o)?;
        // Kept open until CRIU has answered: it names the listening address.
        let _ps_conf = match &o.page_server {
            Some(ps) => ps.fill(&mut opts, lazy)?,
            None => None,
        };
        let typ = if o.pre_dump {
            opts.set_track_mem(true);
            Criu_req_type::PRE_DUMP
        } else {
            let pid = self.state.pid;
            let is_file = |p: &str| {
                std::fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| !m.is_dir())
            };
            mounts::add_to(
                &mut opts,
                mounts::for_dump(&mounts::externals(
                    &spec,
                    &self.state.bundle,
                    self.state.cgroup.as_ref(),
                    &is_file,
                )),
            );
            save_descriptors(self.state.pid, images.as_fd(), &o.common.image_path)?;
            Criu_req_type::DUMP
        };
        let swrk = Swrk {
            criu: &criu_path,
            inherit_stdio: false,
            extra_fds: Vec::new(),
            log: Some(work_path.join("dump.log")),
        };
        swrk.spawn()?
            .call(&criu::request(typ, Some(opts)), &mut |n, _| {
                if n.script() == "status-ready" {
                    lazy::signal_ready(status_fd);
                }
                Ok(())
            })?;
        self.refresh();
        tracing::debug!(
            "checkpointed {} into {:?}, now {}",
            self.state.id,
            o.common.image_path,
            self.status
        );
        Ok(())
    }
}

/// One FEATURE_CHECK for what `o` needs of the kernel: memory tracking
/// (soft-dirty bits) for a pre-dump or a dump on a parent, userfaultfd
/// for a lazy dump. Each missing feature is named by the flag that needs it.
fn check_kernel_features(criu_path: &Path, o: &CheckpointOptions) -> Result<()> {
    let track = o.pre_dump || o.parent_path.is_some();
    if !track && !o.common.lazy_pages {
        return Ok(());
    }
    let mut want = Criu_features::new();
    if track {
        want.set_mem_track(true);
    }
    if o.common.lazy_pages {
        want.set_lazy_pages(true);
    }
    let got = criu::check_features(criu_path, want)?;
    if track && !got.mem_track() {
        let option = if o.pre_dump {
            "--pre-dump"
        } else {
            "--parent-path"
        };
        return Err(CriuError::Unsupported {
            option,
            reason: "CRIU reports no memory tracking on this kernel (soft-dirty bits, CONFIG_MEM_SOFT_DIRTY)".into(),
        }
        .into());
    }
    if o.common.lazy_pages {
        if !got.lazy_pages() {
            return Err(lazy::unsupported().into());
        }
        lazy::check_pipe_size()?;
    }
    Ok(())
}

/// runc's rule for `--parent-path`: relative to the image dir (CRIU keeps
/// it as the `parent` link there), naming a directory.
fn check_parent(images: &Path, parent: &Path) -> Result<()> {
    let bad = |reason: String| -> Error {
        CriuError::Invalid {
            option: "--parent-path",
            reason: format!("{}: {reason}", parent.display()),
        }
        .into()
    };
    if parent.is_absolute() {
        return Err(bad("must be relative to --image-path".into()));
    }
    // The kernel resolves `..` once the image dir exists; before, the
    // path is taken as written.
    let dir = if images.is_dir() {
        images.join(parent)
    } else {
        lexical_join(images, parent)
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad(format!("{} is not a directory", dir.display()))),
        Err(e) => Err(bad(format!("{}: {e}", dir.display()))),
    }
}

/// `base` joined with `rel`, `..` removing the last component.
fn lexical_join(base: &Path, rel: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The inode of a network namespace joined by path: CRIU leaves it out of
/// the images and restore joins the one given then. Other namespaces
/// joined by path cannot be re-joined by CRIU, so they are refused rather
/// than silently restored as new ones.
fn external_netns(spec: &Spec) -> Result<Option<u64>> {
    let mut ino = None;
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        let Some(path) = ns.path() else { continue };
        if ns.typ() == LinuxNamespaceType::Network {
            let st = rustix::fs::stat(path).map_err(|e| Error::path(path, e))?;
            ino = Some(st.st_ino);
        } else {
            return Err(CriuError::Unsupported {
                option: "checkpoint",
                reason: format!("linux.namespaces[{i}]: the container joined the {:?} namespace at {}; CRIU can only re-join a network namespace", ns.typ(), path.display()),
            }
            .into());
        }
    }
    Ok(ino)
}

/// Where the init's stdio pointed, for restore to reattach pipes (runc's
/// descriptors.json).
fn save_descriptors(pid: i32, images: BorrowedFd<'_>, images_path: &Path) -> Result<()> {
    let fds: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let data = serde_json::to_vec(&fds).unwrap_or_default();
    crate::untrusted_dir::write_file_at(
        images,
        criu::DESCRIPTORS.as_ref(),
        &data,
        0o600,
        crate::untrusted_dir::Durability::Cache,
    )
    .map_err(|e| Error::path(images_path.join(criu::DESCRIPTORS), e))
}
