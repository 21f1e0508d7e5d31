//! v1 hugetlb controller.

use std::path::Path;

use oci_spec::runtime::{LinuxHugepageLimit, LinuxResources};

use crate::convert::valid_pagesize;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::stats::HugetlbStats;

pub(crate) const F_HUGETLB: &str = "linux.resources.hugepageLimits";

/// Shared with v2: page sizes become part of file names, so validate them.
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

pub(super) fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    // The reservation knob exists only on newer kernels; runc sets it to the
    // same value so reservations cannot bypass the limit.
    let mut rsvd = true;
    for (i, l) in limits.iter().enumerate() {
        let field = format!("{F_HUGETLB}[{i}]");
        let val = l.limit().to_string();
        fs::write(
            &field,
            dir,
            &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
            &val,
        )?;
        if rsvd {
            let file = format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size());
            match fs::try_write(dir, &file, &val) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => rsvd = false,
                Err(e) => return Err(CgroupError::file(field, "writing", file, dir, e)),
            }
        }
    }
    Ok(())
}

pub(super) fn stats(
    dir: &Path,
    out: &mut std::collections::BTreeMap<String, HugetlbStats>,
) -> Result<()> {
    const CTX: &str = "hugetlb stats";
    let rd = std::fs::read_dir(dir).map_err(|e| CgroupError::file(CTX, "listing", ".", dir, e))?;
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(".usage_in_bytes"))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // hugetlb.<size>.rsvd.usage_in_bytes
        }
        let get = |f: &str| -> Result<u64> {
            Ok(fs::read_u64_opt(CTX, dir, &format!("hugetlb.{size}.{f}"))?.unwrap_or(0))
        };
        out.insert(
            size.to_string(),
            HugetlbStats {
                usage: get("usage_in_bytes")?,
                max: get("max_usage_in_bytes")?,
                failcnt: get("failcnt")?,
            },
        );
    }
    Ok(())
}
