use std::path::PathBuf;

use std::os::fd::{FromRawFd, OwnedFd};

use libcontainer::{CheckpointOptions, Container, CriuCommon, ManageCgroupsMode, PageServer};

use super::CmdResult;
use crate::Globals;

// The flags `checkpoint` and `restore` share (runc's names).
// (Not a doc comment: clap would make it the about text of every command
// that takes or flattens it, over its own, once the subcommands are deferred.)
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
    /// Use userfaultfd to restore memory pages lazily (checkpoint: serve
    /// them from --page-server; restore: from a `criu lazy-pages` daemon).
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
            lazy_pages: self.lazy_pages,
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
    /// ADDRESS:PORT of the page server.
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// With --lazy-pages: a \0 is written to this fd once the page server
    /// is ready.
    #[arg(long = "status-fd", default_value_t = -1, allow_negative_numbers = true)]
    pub status_fd: i32,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    let page_server = a
        .page_server
        .as_deref()
        .map(str::parse::<PageServer>)
        .transpose()?;
    let o = CheckpointOptions {
        common: a.criu.common(g),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        parent_path: a.parent_path,
        page_server,
        status_fd: inherited_fd(a.status_fd)?,
    };
    Container::load(&g.root, &a.id)?.checkpoint(&o)?;
    Ok(0)
}

/// The fd numbered `n` that hull's caller left open for it (runc's -1:
/// none).
fn inherited_fd(n: i32) -> Result<Option<OwnedFd>, String> {
    if n < 0 {
        return Ok(None);
    }
    // SAFETY: F_SETFD on a number that may not be open only fails (EBADF);
    // close-on-exec because CRIU, which hull starts, has no business with it.
    if unsafe { libc::fcntl(n, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(format!(
            "--status-fd: fd {n}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the fd is open, and hull opened nothing under that number
    // that it owns elsewhere: it came from the caller.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(n) }))
}
