use std::path::PathBuf;

use super::CmdResult;

#[derive(clap::Args)]
pub struct Args {
    /// Bundle directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a spec for a rootless container.
    #[arg(long = "rootless", id = "spec_rootless")]
    pub rootless: bool,
}

pub fn run(a: Args) -> CmdResult {
    let path = a.bundle.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()).into());
    }
    let spec = if a.rootless {
        // SAFETY: geteuid/getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        libcontainer::spec_default::rootless_spec(uid, gid)
    } else {
        libcontainer::spec_default::default_spec()
    };
    std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(0)
}
