//! hugepageLimits as both drivers read them: page sizes become parts of
//! file names (`hugetlb.<size>.limit_in_bytes` on v1, `.max` on v2), so
//! they are validated and probed here once.

use std::path::Path;

use oci_spec::runtime::{LinuxHugepageLimit, LinuxResources};

use crate::convert::valid_pagesize;
use crate::error::{CgroupError, Result};
use crate::fs;

pub(crate) const F_HUGETLB: &str = "linux.resources.hugepageLimits";

/// Validates the page sizes; the field when any limit is set.
pub(crate) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(limits) = r.hugepage_limits() else {
        return Ok(None);
    };
    for (i, l) in limits.iter().enumerate() {
        if !valid_pagesize(l.page_size()) {
            return Err(CgroupError::invalid(
                format!("{F_HUGETLB}[{i}].pageSize"),
                format!(
                    "{:?} is not a page size like \"2MB\" or \"1GB\"",
                    l.page_size()
                ),
            ));
        }
    }
    Ok((!limits.is_empty()).then_some(F_HUGETLB))
}

/// A page size the host does not support has no knob; checked before any
/// write. `suffix` is "limit_in_bytes" (v1) or "max" (v2).
pub(crate) fn check(dir: &Path, limits: &[LinuxHugepageLimit], suffix: &str) -> Result<()> {
    for (i, l) in limits.iter().enumerate() {
        let file = format!("hugetlb.{}.{suffix}", l.page_size());
        if !fs::exists(dir, &file) {
            return Err(CgroupError::unsupported(
                format!("{F_HUGETLB}[{i}].pageSize"),
                format!(
                    "{file} does not exist in {} (page size not supported by the host)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}
