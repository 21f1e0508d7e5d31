use std::path::PathBuf;

use libcontainer::ContainerBuilder;

use super::CmdResult;
use crate::Globals;

// Flags shared by `create` and `run`.
// (Not a doc comment: clap would make it the about text of every command
// that takes or flattens it, over its own, once the subcommands are deferred.)
#[derive(clap::Args)]
pub struct CreateFlags {
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Container id.
    pub id: String,
}

pub fn builder(g: &Globals, f: CreateFlags, id: String) -> ContainerBuilder {
    ContainerBuilder::new(id, &g.root)
        .bundle(f.bundle)
        .pid_file(f.pid_file.map(absolute))
        .console_socket(f.console_socket)
        .no_pivot(f.no_pivot)
        .no_new_keyring(f.no_new_keyring)
        .preserve_fds(f.preserve_fds)
        .systemd_cgroup(g.systemd_cgroup)
        .rootless(g.rootless.resolve(g.systemd_cgroup))
        .notify_socket(super::notify_socket())
        .listen_fds(super::listen_fds())
}

/// runc resolves the pid file against the caller's cwd.
pub fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    builder(g, a.flags, a.id).create()?;
    Ok(0)
}
