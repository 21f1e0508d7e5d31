pub mod check;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
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
    Container::load(&g.root, &a.id)?.start()?;
    Ok(0)
}

pub fn state(g: &Globals, a: IdArg) -> CmdResult {
    let c = Container::load(&g.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&c.state())?);
    Ok(0)
}
