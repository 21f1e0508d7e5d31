//! cgroup v2 device control needs an eBPF program, which hull does not
//! load yet. Until it does, any rule list that would restrict access is
//! refused rather than silently ignored.

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::error::{CgroupError, Result};
use crate::v1::devices::{is_all, rule_string, F_DEVICES};

/// True when applying `rules` would leave some access denied.
pub(crate) fn restricts(rules: &[LinuxDeviceCgroup]) -> bool {
    match rules.iter().rposition(|r| !r.allow()) {
        None => false,
        Some(i) => !rules[i + 1..].iter().any(|r| r.allow() && is_all(r)),
    }
}

pub(crate) fn check(rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        rule_string(i, r)?;
    }
    if restricts(rules) {
        return Err(CgroupError::unsupported(
            F_DEVICES,
            "cgroup v2 device filtering not implemented yet",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    fn all(allow: bool) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access("rwm".to_string())
            .build()
            .unwrap()
    }
    fn null(allow: bool) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rwm".to_string())
            .build()
            .unwrap()
    }

    #[test]
    fn restriction_detection() {
        assert!(!restricts(&[]));
        assert!(!restricts(&[null(true)]));
        assert!(!restricts(&[all(true)]));
        assert!(!restricts(&[all(false), null(true), all(true)]));
        assert!(restricts(&[all(false), null(true)]));
        assert!(restricts(&[all(true), null(false)]));
        assert!(check(&[all(false)])
            .unwrap_err()
            .to_string()
            .contains("not implemented yet"));
        assert!(check(&[all(false), all(true)]).is_ok());
    }
}
