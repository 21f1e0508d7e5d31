//! The OCI `unified` map: raw cgroup v2 file writes.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::error::{CgroupError, Result};
use crate::fs;

pub(crate) const F_UNIFIED: &str = "linux.resources.unified";

fn field(key: &str) -> String {
    format!("{F_UNIFIED}[{key:?}]")
}

/// Keys become file names inside the container cgroup; anything that could
/// address another file is rejected.
pub(crate) fn validate(u: &HashMap<String, String>) -> Result<()> {
    for k in u.keys() {
        if k.is_empty() || k == "." || k == ".." || k.contains('/') || k.contains('\0') {
            return Err(CgroupError::invalid(
                field(k),
                "key must be a plain cgroup file name such as \"memory.high\"",
            ));
        }
    }
    Ok(())
}

fn available(dir: &Path) -> BTreeSet<String> {
    fs::try_read(dir, "cgroup.controllers")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

pub(crate) fn apply(dir: &Path, u: &HashMap<String, String>) -> Result<()> {
    validate(u)?;
    let mut keys: Vec<&String> = u.keys().collect();
    // Deterministic order makes failures reproducible.
    keys.sort();
    for k in keys {
        let v = &u[k];
        // Multi-line values (io.max, several devices) need one write per
        // line, like runc's WriteFileByLine.
        let lines: Vec<&str> = v.split('\n').filter(|l| !l.is_empty()).collect();
        let lines = if lines.is_empty() {
            vec![v.as_str()]
        } else {
            lines
        };
        for line in lines {
            if let Err(e) = fs::try_write(dir, k, line) {
                if e.kind() == std::io::ErrorKind::NotFound {
                    let ctrl = k.split('.').next().unwrap_or("");
                    let reason =
                        if k.contains('.') && ctrl != "cgroup" && !available(dir).contains(ctrl) {
                            format!("controller {ctrl:?} is not available in {}", dir.display())
                        } else {
                            format!("no such cgroup file in {}", dir.display())
                        };
                    return Err(CgroupError::unsupported(field(k), reason));
                }
                return Err(CgroupError::file(field(k), "writing", k.as_str(), dir, e));
            }
        }
    }
    Ok(())
}
