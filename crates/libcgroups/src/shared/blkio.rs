//! blockIO as both drivers read it: the v1 blkio and the v2 io controller
//! take the same fields, device numbers and throttle lists.

use oci_spec::runtime::{LinuxBlockIo, LinuxResources, LinuxThrottleDevice};

use crate::convert::nz;
use crate::error::{CgroupError, Result};

pub(crate) const F_WEIGHT: &str = "linux.resources.blockIO.weight";
pub(crate) const F_LEAF_WEIGHT: &str = "linux.resources.blockIO.leafWeight";
pub(crate) const F_WEIGHT_DEVICE: &str = "linux.resources.blockIO.weightDevice";
pub(crate) const F_READ_BPS: &str = "linux.resources.blockIO.throttleReadBpsDevice";
pub(crate) const F_WRITE_BPS: &str = "linux.resources.blockIO.throttleWriteBpsDevice";
pub(crate) const F_READ_IOPS: &str = "linux.resources.blockIO.throttleReadIOPSDevice";
pub(crate) const F_WRITE_IOPS: &str = "linux.resources.blockIO.throttleWriteIOPSDevice";

pub(crate) fn devno(field: &str, major: i64, minor: i64) -> Result<String> {
    if major < 0 || minor < 0 {
        return Err(CgroupError::invalid(
            field,
            format!("device {major}:{minor} has a negative number"),
        ));
    }
    Ok(format!("{major}:{minor}"))
}

/// Throttle lists in spec order with their field and v1/v2 key names.
pub(crate) fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &'static str,
    &'static str,
    &Option<Vec<LinuxThrottleDevice>>,
); 4] {
    [
        (
            F_READ_BPS,
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            F_WRITE_BPS,
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            F_READ_IOPS,
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            F_WRITE_IOPS,
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ]
}

/// Validates device numbers and returns the first field that needs the
/// controller; shared with the v2 io driver, which uses the same fields.
pub(crate) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(b) = r.block_io() else {
        return Ok(None);
    };
    let mut first = None;
    let mut note = |set: bool, f: &'static str| {
        if set && first.is_none() {
            first = Some(f);
        }
    };
    note(nz(b.weight()).is_some(), F_WEIGHT);
    note(nz(b.leaf_weight()).is_some(), F_LEAF_WEIGHT);
    for wd in b.weight_device().iter().flatten() {
        devno(F_WEIGHT_DEVICE, wd.major(), wd.minor())?;
        note(true, F_WEIGHT_DEVICE);
    }
    for (field, _, _, list) in throttles(b) {
        for td in list.iter().flatten() {
            devno(field, td.major(), td.minor())?;
            note(true, field);
        }
    }
    Ok(first)
}
