use libcontainer::{parse_signal, Container};

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Signal every process in the container, not only its init.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Container id.
    pub id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    let sig = parse_signal(&a.signal)?;
    Container::load(&g.root, &a.id)?.kill(sig, a.all)?;
    Ok(0)
}
