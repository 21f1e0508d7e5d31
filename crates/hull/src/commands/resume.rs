use libcontainer::Container;

use super::{CmdResult, IdArg};
use crate::Globals;

pub fn run(g: &Globals, a: IdArg) -> CmdResult {
    Container::load(&g.root, &a.id)?.resume()?;
    Ok(0)
}
