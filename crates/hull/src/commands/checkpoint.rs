use std::path::PathBuf;

use libcontainer::{CheckpointOptions, Container, CriuCommon, ManageCgroupsMode};

use super::CmdResult;
use crate::Globals;

/// The flags `checkpoint` and `restore` share (runc's names).
#[derive(clap::Args)]
pub struct CriuFlags {
    /// Path for the CRIU image files.
    #[arg(long = "image-path", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Path for CRIU's work files and log (default: the image path).
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// cgroups mode: soft, full, strict or ignore (default: CRIU's).
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<ManageCgroupsMode>,
    /// Create this namespace empty rather than dump/restore it (network).
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images.
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
    /// Lazy migration with userfaultfd (not supported).
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
}

impl CriuFlags {
    pub fn common(&self, g: &Globals) -> CriuCommon {
        CriuCommon {
            criu: Some(g.criu.clone()),
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode.unwrap_or_default(),
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Images of a previous pre-dump.
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump memory only and leave the container running.
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// ADDRESS:PORT of a page server (not supported).
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Fd CRIU signals lazy-pages readiness on (not supported).
    #[arg(long = "status-fd")]
    pub status_fd: Option<i32>,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    let o = CheckpointOptions {
        common: a.criu.common(g),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        parent_path: a.parent_path,
        lazy_pages: a.criu.lazy_pages,
        page_server: a.page_server,
        status_fd: a.status_fd.filter(|fd| *fd >= 0),
    };
    Container::load(&g.root, &a.id)?.checkpoint(&o)?;
    Ok(0)
}
