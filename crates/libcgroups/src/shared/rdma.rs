//! rdma controller; v1 and v2 share the rdma.max format.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{LinuxRdma, LinuxResources};

use crate::error::{CgroupError, Result};
use crate::fs;

pub(crate) const F_RDMA: &str = "linux.resources.rdma";

pub(crate) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(m) = r.rdma() else { return Ok(None) };
    for dev in m.keys() {
        if dev.is_empty() || dev.chars().any(char::is_whitespace) {
            return Err(CgroupError::invalid(
                F_RDMA,
                format!("{dev:?} is not an RDMA device name"),
            ));
        }
    }
    Ok((!m.is_empty()).then_some(F_RDMA))
}

pub(crate) fn apply(dir: &Path, m: &HashMap<String, LinuxRdma>) -> Result<()> {
    let mut devs: Vec<_> = m.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    let num = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
    for (dev, l) in devs {
        let line = format!(
            "{dev} hca_handle={} hca_object={}",
            num(l.hca_handles()),
            num(l.hca_objects())
        );
        fs::write(&format!("{F_RDMA}[{dev:?}]"), dir, "rdma.max", &line)?;
    }
    Ok(())
}
