//! v1 freezer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::fs::{self, Loc};

const STATE: &str = "freezer.state";
const TIMEOUT: Duration = Duration::from_secs(5);

fn state(ctx: &str, dir: &Path) -> Result<String> {
    Ok(fs::read_record(ctx, dir, STATE)?.trim().to_string())
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(state("reading freezer state", dir)? == "FROZEN")
}

/// The cgroup that keeps `dir` frozen, or None when it is thawed. A cgroup
/// under a frozen one reads FROZEN itself (the kernel freezes children with
/// their parent); the one to name is the outermost ancestor below `mount`
/// frozen by itself (`freezer.self_freezing`), else `dir`.
pub(crate) fn frozen_by(dir: Loc<'_>, mount: &Path) -> Result<Option<PathBuf>> {
    const CTX: &str = "checking the freezer state";
    match fs::read_opt(CTX, dir, STATE)?.as_deref().map(str::trim) {
        None | Some("THAWED") => return Ok(None),
        Some(_) => {}
    }
    let dir = dir.path();
    let by = fs::outermost_with(CTX, dir, mount, "freezer.self_freezing", "1")?;
    Ok(Some(by.unwrap_or_else(|| dir.to_path_buf())))
}

pub(crate) fn freeze(dir: &Path) -> Result<()> {
    const CTX: &str = "freezing the cgroup";
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    let mut attempt = 0u32;
    loop {
        // Re-writing FROZEN makes the kernel retry tasks that were not
        // freezable on the previous pass (e.g. in the middle of a fork).
        fs::write(CTX, dir, STATE, "FROZEN")?;
        match state(CTX, dir)?.as_str() {
            "FROZEN" => return Ok(()),
            "FREEZING" => {}
            other => {
                return Err(CgroupError::Timeout {
                    context: CTX.to_string(),
                    reason: format!("unexpected {STATE} {other:?} in {}", dir.display()),
                })
            }
        }
        if start.elapsed() > TIMEOUT {
            // Leave it running rather than half-frozen.
            let _ = fs::write(CTX, dir, STATE, "THAWED");
            return Err(CgroupError::Timeout {
                context: CTX.to_string(),
                reason: format!("{} still FREEZING after {TIMEOUT:?}", dir.display()),
            });
        }
        attempt += 1;
        if attempt == 50 {
            attempt = 0;
            // New tasks keep racing in; a brief thaw lets forks finish so
            // the next freeze can catch everyone (runc does the same).
            fs::write(CTX, dir, STATE, "THAWED")?;
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}

pub(crate) fn thaw(dir: &Path) -> Result<()> {
    const CTX: &str = "thawing the cgroup";
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    loop {
        fs::write(CTX, dir, STATE, "THAWED")?;
        if state(CTX, dir)? == "THAWED" {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            return Err(CgroupError::Timeout {
                context: CTX.to_string(),
                reason: format!("{} not THAWED after {TIMEOUT:?}", dir.display()),
            });
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}
