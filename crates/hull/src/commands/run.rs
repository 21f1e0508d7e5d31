use super::{create::CreateFlags, CmdResult};
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Detach: return once the container has started.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility; hull is never a subreaper (the
    /// init is its own child even after a pid namespace's second fork).
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    if !a.detach {
        libcontainer::block_forwarded_signals()?;
    }
    let mut c = super::create::builder(g, a.flags, a.id)
        .foreground(!a.detach)
        .create()?;
    let notify = super::notify_socket();
    if let Err(e) = c.start_with(notify.as_deref()) {
        let _ = libcontainer::Container::load(&g.root, c.id()).map(|c| c.delete(true));
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    let status = c.wait_forwarding_signals()?;
    if !a.keep {
        c.delete(true)?;
    }
    Ok(status.exit_code())
}
