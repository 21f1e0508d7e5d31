use libcontainer::{Container, Error};

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is still running.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    match Container::load(&g.root, &a.id) {
        Ok(c) => c.delete(a.force)?,
        // runc: a forced delete of a missing container succeeds, and
        // removes a directory left without a state file.
        Err(Error::NotFound(_)) if a.force => libcontainer::remove_stateless_dir(&g.root, &a.id)?,
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}
