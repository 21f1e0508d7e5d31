//! Checkpoint and restore through CRIU: the options of both operations, the
//! transport to `criu swrk`, and what is saved next to the images.

pub(crate) mod error;
pub(crate) mod lazy;
pub(crate) mod mounts;
mod swrk;

use std::{
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

pub use error::CriuError;
pub use lazy::PageServer;
pub(crate) use swrk::{check_features, extra_fd_number, request, version, Swrk};

/// CRIU 3.11: external network namespaces (`--external net[...]`).
pub(crate) const MIN_VERSION: u32 = 31100;

/// Saved next to the images: where the init's stdin, stdout and stderr
/// pointed (runc's name and format, so images move between the two).
pub(crate) const DESCRIPTORS: &str = "descriptors.json";

/// The key of an external network namespace (runc's, for the same reason).
pub(crate) const EXT_NETNS: &str = "extRootNetNS";

/// Errors unless CRIU `found` is at least `need` (both as from [`version`]).
pub(crate) fn require(found: u32, need: u32, what: &str) -> Result<(), CriuError> {
    if found >= need {
        return Ok(());
    }
    let show = |v: u32| format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100);
    Err(CriuError::TooOld {
        what: what.to_owned(),
        found: show(found),
        need: show(need),
    })
}

/// Errors before anything is made where CRIU cannot work: it dumps and
/// restores through /proc/<pid>/map_files, ptrace and namespace files, which
/// take root or CAP_CHECKPOINT_RESTORE (with CAP_SYS_PTRACE, CRIU's
/// `--unprivileged` mode) in the initial user namespace. A rootless hull, an
/// unprivileged user or root of another user namespace, has neither there.
pub(crate) fn require_privilege(what: &'static str) -> Result<(), CriuError> {
    if crate::rootless::running_in_userns() {
        return Err(CriuError::Unsupported {
            option: what,
            reason: "hull runs in a user namespace (rootless), and CRIU needs CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE in the initial one".into(),
        });
    }
    use rustix::thread::CapabilitySet;
    if rustix::process::geteuid().is_root()
        || crate::caps::effective_has(CapabilitySet::CHECKPOINT_RESTORE | CapabilitySet::SYS_PTRACE)
    {
        return Ok(());
    }
    Err(CriuError::Unsupported {
        option: what,
        reason: "CRIU needs root, or CAP_CHECKPOINT_RESTORE and CAP_SYS_PTRACE, which this rootless hull does not have".into(),
    })
}

/// Opens `path` as a directory, creating it (and missing parents) with mode
/// 0700 first: images hold the container's memory. It must be hull's own
/// (see [`crate::untrusted_dir::open_private_dir`]); the fd goes to CRIU.
pub(crate) fn private_dir(path: &Path) -> Result<OwnedFd, CriuError> {
    crate::untrusted_dir::make_private_dir(path).map_err(|e| CriuError::Io {
        context: path.display().to_string(),
        source: e,
    })
}

/// Opens an existing directory of hull's own (the images to restore); the
/// fd is handed to CRIU.
pub(crate) fn open_dir(path: &Path) -> Result<OwnedFd, CriuError> {
    crate::untrusted_dir::open_private_dir(path).map_err(|e| CriuError::Io {
        context: path.display().to_string(),
        source: e,
    })
}

/// How CRIU handles the container's cgroups (runc's `--manage-cgroups-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManageCgroupsMode {
    /// CRIU's default for the operation.
    #[default]
    Default,
    /// Restore properties only of cgroups CRIU creates.
    Soft,
    /// Restore all properties.
    Full,
    /// Fail if a cgroup differs.
    Strict,
    /// Leave cgroups alone.
    Ignore,
}

impl std::str::FromStr for ManageCgroupsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "soft" => Ok(Self::Soft),
            "full" => Ok(Self::Full),
            "strict" => Ok(Self::Strict),
            "ignore" => Ok(Self::Ignore),
            _ => Err(format!(
                "invalid manage-cgroups-mode {s:?}: expected soft, full, strict or ignore"
            )),
        }
    }
}

impl ManageCgroupsMode {
    fn rpc(self) -> Option<rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode> {
        use rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode as M;
        match self {
            Self::Default => None,
            Self::Soft => Some(M::SOFT),
            Self::Full => Some(M::FULL),
            Self::Strict => Some(M::STRICT),
            Self::Ignore => Some(M::IGNORE),
        }
    }
}

/// Options shared by checkpoint and restore.
#[derive(Debug, Clone, Default)]
pub struct CriuCommon {
    /// The CRIU binary (runc's global `--criu`); `criu` from PATH by default.
    pub criu: Option<PathBuf>,
    /// Where the images are (checkpoint: created 0700 if missing).
    pub image_path: PathBuf,
    /// Where CRIU writes its log and work files; the image dir by default.
    pub work_path: Option<PathBuf>,
    /// Checkpoint established TCP connections (`--tcp-established`).
    pub tcp_established: bool,
    /// Allow external unix sockets (`--ext-unix-sk`).
    pub ext_unix_sk: bool,
    /// Allow a shell job: a process attached to a terminal (`--shell-job`).
    pub shell_job: bool,
    /// Checkpoint file locks (`--file-locks`).
    pub file_locks: bool,
    /// How CRIU treats the cgroups (`--manage-cgroups-mode`).
    pub manage_cgroups_mode: ManageCgroupsMode,
    /// Namespaces CRIU creates empty rather than dumps/restores
    /// (`--empty-ns network`).
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images: pages a dump takes again are punched
    /// out of the parent's images (and, at restore, pages restored are
    /// punched out of the images).
    pub auto_dedup: bool,
    /// Lazy migration (userfaultfd). Checkpoint: after the rest of the
    /// dump CRIU serves the memory from the page server until the
    /// restoring side has pulled all of it; the checkpoint returns then.
    /// Restore: the memory comes from the `criu lazy-pages` daemon whose
    /// socket (`lazy-pages.socket`) is in the work dir.
    pub lazy_pages: bool,
}

/// [`crate::Container::checkpoint`]'s options.
#[derive(Debug, Default)]
pub struct CheckpointOptions {
    /// Options shared with restore.
    pub common: CriuCommon,
    /// Leave the container running after the dump (`--leave-running`).
    pub leave_running: bool,
    /// Dump memory only, to be completed by a later dump with `parent_path`.
    pub pre_dump: bool,
    /// Images of a previous (pre-)dump, relative to the image dir (CRIU
    /// links it as `parent` there, so a chain of image dirs can move as a
    /// whole), e.g. `../pre1`.
    pub parent_path: Option<PathBuf>,
    /// A page server: with `lazy_pages` CRIU listens there (only on that
    /// address); otherwise CRIU sends the pages to a `criu page-server`
    /// listening there, and writes the other images to the image dir.
    pub page_server: Option<PageServer>,
    /// With `lazy_pages`: a `\0` byte is written here once the page server
    /// listens (runc's `--status-fd`). The fd stays the caller's. Ignored,
    /// with a warning, without `lazy_pages` (as runc does).
    pub status_fd: Option<OwnedFd>,
}

impl CriuCommon {
    pub(crate) fn criu_path(&self) -> PathBuf {
        self.criu.clone().unwrap_or_else(|| PathBuf::from("criu"))
    }
    pub(crate) fn work_dir(&self) -> PathBuf {
        self.work_path
            .clone()
            .unwrap_or_else(|| self.image_path.clone())
    }

    /// The options both requests carry.
    pub(crate) fn fill(
        &self,
        o: &mut rust_criu::rust_criu_protobuf::rpc::Criu_opts,
    ) -> Result<(), CriuError> {
        o.set_log_level(4);
        o.set_tcp_established(self.tcp_established);
        o.set_ext_unix_sk(self.ext_unix_sk);
        o.set_shell_job(self.shell_job);
        o.set_file_locks(self.file_locks);
        o.set_auto_dedup(self.auto_dedup);
        o.set_lazy_pages(self.lazy_pages);
        o.set_manage_cgroups(true);
        o.set_notify_scripts(true);
        o.set_orphan_pts_master(true);
        if let Some(m) = self.manage_cgroups_mode.rpc() {
            o.set_manage_cgroups_mode(m);
        }
        let mut empty = 0u32;
        for ns in &self.empty_ns {
            // CRIU accepts only the network namespace here (cr-service.c).
            match ns.as_str() {
                "network" | "net" => empty |= libc::CLONE_NEWNET as u32,
                other => {
                    return Err(CriuError::Unsupported {
                        option: "empty-ns",
                        reason: format!(
                            "namespace {other:?}: CRIU can only create an empty network namespace"
                        ),
                    })
                }
            }
        }
        if empty != 0 {
            o.set_empty_ns(empty);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_requirements_name_both_versions() {
        assert!(require(40101, MIN_VERSION, "checkpoint").is_ok());
        let e = require(30100, 31100, "external network namespaces")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3.1.0") && e.contains("3.11.0") && e.contains("external network"),
            "{e}"
        );
    }

    #[test]
    fn manage_cgroups_mode_parses_runc_values() {
        assert_eq!(
            "soft".parse::<ManageCgroupsMode>(),
            Ok(ManageCgroupsMode::Soft)
        );
        assert_eq!(
            "strict".parse::<ManageCgroupsMode>(),
            Ok(ManageCgroupsMode::Strict)
        );
        assert!("hard"
            .parse::<ManageCgroupsMode>()
            .unwrap_err()
            .contains("hard"));
    }

    #[test]
    fn empty_ns_accepts_only_network() {
        let mut o = rust_criu::rust_criu_protobuf::rpc::Criu_opts::new();
        let c = CriuCommon {
            empty_ns: vec!["network".into()],
            ..Default::default()
        };
        c.fill(&mut o).unwrap();
        assert_eq!(o.empty_ns(), libc::CLONE_NEWNET as u32);
        let c = CriuCommon {
            empty_ns: vec!["pid".into()],
            ..Default::default()
        };
        let e = c.fill(&mut o).unwrap_err().to_string();
        assert!(e.contains("empty-ns") && e.contains("\"pid\""), "{e}");
    }
}
