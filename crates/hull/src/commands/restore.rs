use std::path::PathBuf;

use libcontainer::RestoreBuilder;

use super::{checkpoint::CriuFlags, CmdResult};
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to the bundle directory.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the new pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the restored init's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Detach: return once the container is restored.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Accepted for runc compatibility: CRIU itself sets up the restored
    /// mount namespace.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (hull is not a subreaper here).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// LSM profile for the restored process (no LSM on hull's hosts: refused).
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// LSM mount context (refused, as above).
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    if a.lsm_profile.is_some() || a.lsm_mount_context.is_some() {
        return Err(
            "--lsm-profile/--lsm-mount-context: no LSM is supported by this build of hull".into(),
        );
    }
    if !a.detach {
        libcontainer::block_forwarded_signals()?;
    }
    let mut c = RestoreBuilder::new(a.id, g.root.clone(), a.criu.common(g))
        .bundle(a.bundle)
        .pid_file(a.pid_file)
        .console_socket(a.console_socket)
        .systemd_cgroup(g.systemd_cgroup)
        .restore()?;
    if a.detach {
        return Ok(0);
    }
    let status = c.wait_forwarding_signals()?;
    c.delete(true)?;
    Ok(status.exit_code())
}
