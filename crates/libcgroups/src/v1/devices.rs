//! v1 devices controller.

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::error::{CgroupError, Result};
use crate::fs::{self, Loc};
use crate::shared::device_rules::{field, rule_string};

/// Writes rules in spec order: the usual list starts with "deny all"
/// followed by the allowed devices, which the kernel evaluates the same way.
/// Each of the two files is opened once for all its rules (a cgroupfs open
/// is a walk through kernfs, under the lock every concurrent create takes);
/// the kernel parses each write(2) as one rule.
pub(super) fn apply(dir: Loc<'_>, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut allow = None;
    let mut deny = None;
    for (i, rule) in rules.iter().enumerate() {
        let line = rule_string(i, rule)?;
        let (file, slot) = if rule.allow() {
            ("devices.allow", &mut allow)
        } else {
            ("devices.deny", &mut deny)
        };
        let f = match slot {
            Some(f) => f,
            None => slot.insert(
                fs::open_write(dir, file)
                    .map_err(|e| CgroupError::file(field(i), "writing", file, dir.path(), e))?,
            ),
        };
        fs::write_one(f, &line)
            .map_err(|e| CgroupError::file(field(i), "writing", file, dir.path(), e))?;
    }
    Ok(())
}
