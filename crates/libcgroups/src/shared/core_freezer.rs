//! cgroup v2 core freezer (cgroup.freeze / cgroup.events).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CgroupError, Result};
use crate::fs;

const TIMEOUT: Duration = Duration::from_secs(5);

fn frozen(ctx: &str, dir: &Path) -> Result<bool> {
    let ev = fs::read_record(ctx, dir, "cgroup.events")?;
    Ok(fs::parse_flat_keyed(&ev).get("frozen") == Some(&1))
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    frozen("reading freezer state", dir)
}

/// The cgroup that keeps `dir` frozen, or None. `cgroup.freeze` is each
/// cgroup's own request and a new child of a frozen cgroup starts frozen
/// (`frozen 1` in its cgroup.events): the one to name is the outermost
/// ancestor below `mount` asking to be frozen, else `dir`.
pub(crate) fn frozen_by(dir: &Path, mount: &Path) -> Result<Option<PathBuf>> {
    const CTX: &str = "checking the freezer state";
    let mut by = fs::outermost_with(CTX, dir, mount, "cgroup.freeze", "1")?;
    if by.is_none() && fs::exists(dir, "cgroup.events") && frozen(CTX, dir)? {
        by = Some(dir.to_path_buf());
    }
    Ok(by)
}

fn set_and_wait(dir: &Path, want: bool) -> Result<()> {
    let ctx = if want {
        "freezing the cgroup"
    } else {
        "thawing the cgroup"
    };
    fs::write(ctx, dir, "cgroup.freeze", if want { "1" } else { "0" })?;
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    // cgroup.freeze only records the request; cgroup.events reports when
    // every task has actually stopped (or resumed).
    while frozen(ctx, dir)? != want {
        if start.elapsed() > TIMEOUT {
            if want {
                let _ = fs::write(ctx, dir, "cgroup.freeze", "0");
            }
            return Err(CgroupError::Timeout {
                context: ctx.to_string(),
                reason: format!(
                    "{}/cgroup.events did not report frozen {} within {TIMEOUT:?}",
                    dir.display(),
                    u8::from(want)
                ),
            });
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
    Ok(())
}

pub(crate) fn freeze(dir: &Path) -> Result<()> {
    set_and_wait(dir, true)
}

pub(crate) fn thaw(dir: &Path) -> Result<()> {
    set_and_wait(dir, false)
}
