//! v1 net_cls controller.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::Result;
use crate::fs;

const F_CLASSID: &str = "linux.resources.network.classID";

pub(super) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    Ok(r.network()
        .as_ref()
        .and_then(|n| n.class_id())
        .map(|_| F_CLASSID))
}

pub(super) fn apply(dir: &Path, class_id: u32) -> Result<()> {
    fs::write(F_CLASSID, dir, "net_cls.classid", &class_id.to_string())
}
