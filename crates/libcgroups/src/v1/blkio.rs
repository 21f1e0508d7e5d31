//! v1 blkio controller (CFQ or BFQ weights, throttling).

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::convert::nz;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::shared::blkio::{devno, throttles, F_LEAF_WEIGHT, F_WEIGHT, F_WEIGHT_DEVICE};
use crate::stats::{parse_blkio_v1, BlkioStats};

/// The proportional-weight files of this hierarchy: CFQ's (gone since Linux
/// 5.0), else BFQ's; none where no block device uses BFQ (only
/// `blkio.throttle.*` then). runc picks the same way.
fn weight_files(dir: &Path) -> Option<(&'static str, &'static str)> {
    if fs::exists(dir, "blkio.weight") {
        Some(("blkio.weight", "blkio.weight_device"))
    } else if fs::exists(dir, "blkio.bfq.weight") {
        Some(("blkio.bfq.weight", "blkio.bfq.weight_device"))
    } else {
        None
    }
}

/// Weights need CFQ or BFQ files, leaf weights CFQ's; checked before any
/// write so that a missing knob is an error naming the field, not a
/// half-applied cgroup.
pub(super) fn check(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let weight_dev = b
        .weight_device()
        .iter()
        .flatten()
        .any(|w| nz(w.weight()).is_some());
    if weight_files(dir).is_none() {
        for (set, field) in [
            (nz(b.weight()).is_some(), F_WEIGHT),
            (weight_dev, F_WEIGHT_DEVICE),
        ] {
            if set {
                return Err(CgroupError::unsupported(
                    field,
                    format!(
                        "neither blkio.weight nor blkio.bfq.weight exists in {} \
                         (weights need the BFQ I/O scheduler on the host's block devices)",
                        dir.display()
                    ),
                ));
            }
        }
    }
    let leaf_dev = b
        .weight_device()
        .iter()
        .flatten()
        .any(|w| nz(w.leaf_weight()).is_some());
    let files = [
        (
            nz(b.leaf_weight()).is_some(),
            F_LEAF_WEIGHT,
            "blkio.leaf_weight",
        ),
        (leaf_dev, F_WEIGHT_DEVICE, "blkio.leaf_weight_device"),
    ];
    for (set, field, file) in files {
        if set && !fs::exists(dir, file) {
            return Err(CgroupError::unsupported(
                field,
                format!(
                    "{file} does not exist in {} (needs the CFQ I/O scheduler)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // check() has refused weights where neither file exists.
    let (weight_file, weight_device_file) =
        weight_files(dir).unwrap_or(("blkio.weight", "blkio.weight_device"));
    if let Some(w) = nz(b.weight()) {
        fs::write(F_WEIGHT, dir, weight_file, &w.to_string())?;
    }
    if let Some(w) = nz(b.leaf_weight()) {
        fs::write(F_LEAF_WEIGHT, dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        let dev = devno(F_WEIGHT_DEVICE, wd.major(), wd.minor())?;
        if let Some(w) = nz(wd.weight()) {
            fs::write(
                F_WEIGHT_DEVICE,
                dir,
                weight_device_file,
                &format!("{dev} {w}"),
            )?;
        }
        if let Some(w) = nz(wd.leaf_weight()) {
            fs::write(
                F_WEIGHT_DEVICE,
                dir,
                "blkio.leaf_weight_device",
                &format!("{dev} {w}"),
            )?;
        }
    }
    for (field, file, _, list) in throttles(b) {
        for td in list.iter().flatten() {
            let dev = devno(field, td.major(), td.minor())?;
            fs::write(field, dir, file, &format!("{dev} {}", td.rate()))?;
        }
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, out: &mut BlkioStats) -> Result<()> {
    const CTX: &str = "blkio stats";
    let read = |f: &str| -> Result<Option<Vec<_>>> {
        Ok(fs::read_opt(CTX, dir, f)?.map(|s| parse_blkio_v1(&s)))
    };
    // Same preference as runc: CFQ stats, else BFQ, else throttle counters.
    if let Some(v) = read("blkio.io_service_bytes_recursive")? {
        out.io_service_bytes_recursive = v;
        out.io_serviced_recursive = read("blkio.io_serviced_recursive")?.unwrap_or_default();
        out.io_queued_recursive = read("blkio.io_queued_recursive")?.unwrap_or_default();
        out.io_service_time_recursive =
            read("blkio.io_service_time_recursive")?.unwrap_or_default();
        out.io_wait_time_recursive = read("blkio.io_wait_time_recursive")?.unwrap_or_default();
        out.io_merged_recursive = read("blkio.io_merged_recursive")?.unwrap_or_default();
        out.io_time_recursive = read("blkio.time_recursive")?.unwrap_or_default();
        out.sectors_recursive = read("blkio.sectors_recursive")?.unwrap_or_default();
    } else if let Some(v) = read("blkio.bfq.io_service_bytes_recursive")? {
        out.io_service_bytes_recursive = v;
        out.io_serviced_recursive = read("blkio.bfq.io_serviced_recursive")?.unwrap_or_default();
    } else {
        out.io_service_bytes_recursive =
            read("blkio.throttle.io_service_bytes_recursive")?.unwrap_or_default();
        out.io_serviced_recursive =
            read("blkio.throttle.io_serviced_recursive")?.unwrap_or_default();
    }
    Ok(())
}
