use std::path::PathBuf;

use libcontainer::{Container, ExecOptions};

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Unix socket that receives the pty master.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID[:GID] to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json describing the process.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass fds 3..3+N to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup: path, or controller:path (repeatable).
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("--user {s:?}: expected UID[:GID] with numeric ids");
    match s.split_once(':') {
        Some((u, g)) => Ok((
            u.parse().map_err(|_| bad())?,
            Some(g.parse().map_err(|_| bad())?),
        )),
        None => Ok((s.parse().map_err(|_| bad())?, None)),
    }
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    let process = match &a.process {
        Some(p) => {
            let raw = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Some(serde_json::from_slice(&raw).map_err(|e| format!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    if process.is_none() && a.command.is_empty() {
        return Err("exec: a command is required (or --process)".into());
    }
    let opts = ExecOptions {
        process,
        args: a.command,
        env: a.env,
        cwd: a.cwd,
        user: a.user.as_deref().map(parse_user).transpose()?,
        additional_gids: a.additional_gids,
        caps: a.cap,
        no_new_privs: a.no_new_privs,
        tty: a.tty,
        console_socket: a.console_socket,
        pid_file: a.pid_file.map(super::create::absolute),
        preserve_fds: a.preserve_fds,
        detach: a.detach,
        ignore_paused: a.ignore_paused,
        apparmor: a.apparmor,
        process_label: a.process_label,
        cgroups: a.cgroup,
        executor: None,
    };
    if !a.detach {
        libcontainer::block_forwarded_signals()?;
    }
    let p = Container::load(&g.root, &a.id)?.exec(opts)?;
    if a.detach {
        return Ok(0);
    }
    Ok(p.wait_forwarding_signals()?.exit_code())
}
