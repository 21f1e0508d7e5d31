//! v1 hugetlb controller.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::shared::hugetlb::F_HUGETLB;
use crate::stats::HugetlbStats;

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
