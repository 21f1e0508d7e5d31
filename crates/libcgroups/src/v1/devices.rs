//! v1 devices controller.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::error::Result;
use crate::fs;
use crate::shared::device_rules::{field, rule_string};

/// Writes rules in spec order: the usual list starts with "deny all"
/// followed by the allowed devices, which the kernel evaluates the same way.
pub(super) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (i, rule) in rules.iter().enumerate() {
        let line = rule_string(i, rule)?;
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(&field(i), dir, file, &line)?;
    }
    Ok(())
}
