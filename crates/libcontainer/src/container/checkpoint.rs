//! `checkpoint`: the running container's processes to CRIU images.

use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd},
    path::Path,
};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rust_criu::rust_criu_protobuf::rpc::{Criu_features, Criu_opts, Criu_req_type};

use super::Container;
use crate::{
    criu::{self, mounts, CheckpointOptions, CriuError, Swrk},
    error::{Error, Result},
    state::Status,
};

impl Container {
    /// Dumps the container with CRIU into `o.common.image_path`. Unless
    /// `leave_running` or `pre_dump`, the processes are gone afterwards and
    /// the container is stopped (delete it, or restore it under its id).
    pub fn checkpoint(&mut self, o: &CheckpointOptions) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        if !matches!(self.status, Status::Running | Status::Paused) {
            return Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status: self.status,
                action: "only a running or paused container can be checkpointed",
            });
        }
        criu::require_privilege("checkpoint")?;
        if o.lazy_pages || o.page_server.is_some() || o.status_fd.is_some() {
            return Err(CriuError::Unsupported {
                option: "lazy-pages/page-server/status-fd",
                reason: "lazy migration is not supported by hull".into(),
            }
            .into());
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
        let typ = if o.pre_dump {
            let mut want = Criu_features::new();
            want.set_mem_track(true);
            let got = criu::check_features(&criu_path, want)?;
            if !got.mem_track() {
                return Err(CriuError::Unsupported {
                    option: "pre-dump",
                    reason: "CRIU reports no memory tracking on this kernel (soft-dirty bits)"
                        .into(),
                }
                .into());
            }
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
            .call(&criu::request(typ, Some(opts)), &mut |_, _| Ok(()))?;
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
