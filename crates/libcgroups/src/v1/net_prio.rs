//! v1 net_prio controller.

use std::path::Path;

use oci_spec::runtime::{LinuxInterfacePriority, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::fs;

const F_PRIORITIES: &str = "linux.resources.network.priorities";

pub(super) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(p) = r.network().as_ref().and_then(|n| n.priorities().as_ref()) else {
        return Ok(None);
    };
    for (i, prio) in p.iter().enumerate() {
        let n = prio.name();
        // One "ifname prio" line per write; whitespace would split it.
        if n.is_empty() || n.chars().any(char::is_whitespace) {
            return Err(CgroupError::invalid(
                format!("{F_PRIORITIES}[{i}].name"),
                format!("{n:?} is not an interface name"),
            ));
        }
    }
    Ok((!p.is_empty()).then_some(F_PRIORITIES))
}

pub(super) fn apply(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for (i, p) in prios.iter().enumerate() {
        fs::write(
            &format!("{F_PRIORITIES}[{i}]"),
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}
