pub mod check;
pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod resume;
pub mod run;
pub mod spec;
pub mod update;

use libcontainer::Container;

use crate::Globals;

pub type CmdResult = Result<i32, Box<dyn std::error::Error>>;

#[derive(clap::Args)]
pub struct IdArg {
    /// Container id.
    pub id: String,
}

pub fn start(g: &Globals, a: IdArg) -> CmdResult {
    let notify = notify_socket();
    Container::load(&g.root, &a.id)?.start_with(notify.as_deref())?;
    Ok(0)
}

/// The supervisor's sd_notify socket, passed through as runc does.
pub fn notify_socket() -> Option<std::path::PathBuf> {
    std::env::var_os("NOTIFY_SOCKET")
        .filter(|s| !s.is_empty())
        .map(Into::into)
}

/// systemd socket activation fds handed to hull (only when meant for us).
pub fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_none_or(|p| p == std::process::id());
    match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) if for_us => n,
        _ => 0,
    }
}

pub fn state(g: &Globals, a: IdArg) -> CmdResult {
    print_json_pretty(&libcontainer::oci_state(&g.root, &a.id)?)
}

/// Prints indented JSON. A write error (a reader that went away, as in
/// `hull state | grep -q`) is an error, not a panic as println! makes it.
pub fn print_json_pretty(v: &impl serde::Serialize) -> CmdResult {
    use std::io::Write;
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(v)?
    )?;
    Ok(0)
}
