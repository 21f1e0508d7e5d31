use std::{io::Write, path::PathBuf};

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
    let spec = if a.rootless {
        // SAFETY: geteuid/getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        libcontainer::spec_default::rootless_spec(uid, gid)
    } else {
        libcontainer::spec_default::default_spec()
    };
    // O_CREAT|O_EXCL: never through a symlink someone planted in the bundle.
    let mut f = match std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!("File {} exists. Remove it first", path.display()).into())
        }
        r => r.map_err(|e| format!("{}: {e}", path.display()))?,
    };
    f.write_all(&libcontainer::spec_default::to_runc_json(&spec))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(0)
}
