//! process.ioPriority: ioprio_set(2) for the process.

use std::io;

use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority};

use super::shared::{first, issue};
use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

/// From <linux/ioprio.h>.
const IOPRIO_CLASS_SHIFT: u32 = 13;
pub(super) const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// Levels 0 (highest) to 7 (lowest); the kernel has 8 (IOPRIO_NR_LEVELS).
const IOPRIO_LEVELS: std::ops::RangeInclusive<i64> = 0..=7;

pub(super) fn io_priority_issues(p: &LinuxIOPriority) -> Vec<FieldIssue> {
    if IOPRIO_LEVELS.contains(&p.priority()) {
        vec![]
    } else {
        vec![issue(
            "process.ioPriority.priority",
            format!("{} is out of range (0 to 7)", p.priority()),
        )]
    }
}

/// The ioprio_set(2) value: class << 13 | level.
fn io_priority_value(p: &LinuxIOPriority) -> Result<libc::c_int> {
    first(io_priority_issues(p))?;
    let class: libc::c_int = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    // In range: checked above.
    Ok(class << IOPRIO_CLASS_SHIFT | p.priority() as libc::c_int)
}

pub(crate) fn set_io_priority(p: &LinuxIOPriority) -> Result<()> {
    let value = io_priority_value(p)?;
    // Neither rustix nor nix wraps ioprio_set(2) (glibc has no wrapper).
    // SAFETY: three integer arguments; who 0 is the calling thread, the
    // only one changed.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } == -1 {
        let e = io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => " (the realtime class needs CAP_SYS_ADMIN or CAP_SYS_NICE)",
            Some(libc::EINVAL) => " (a class or priority this kernel does not know)",
            _ => "",
        };
        return Err(Error::sys(
            format!(
                "process.ioPriority ({} priority {}){hint}",
                p.class(),
                p.priority()
            ),
            e,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::test_support::*;

    #[test]
    fn io_priority_range() {
        for bad in [-1, 8] {
            let got = issues_of(
                serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": bad}}),
                serde_json::json!({}),
            );
            assert_has(
                &got,
                &format!("process.ioPriority.priority: {bad} is out of range (0 to 7)"),
            );
        }
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#).unwrap();
        assert_eq!(io_priority_value(&p).unwrap(), 2 << 13 | 6);
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#).unwrap();
        assert_eq!(io_priority_value(&p).unwrap(), 1 << 13);
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":9}"#).unwrap();
        assert!(set_io_priority(&p)
            .unwrap_err()
            .to_string()
            .contains("process.ioPriority.priority: 9"));
    }

    #[test]
    fn io_priority_is_set() {
        let mut cases = vec![
            (r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#, 2 << 13 | 6),
            (r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#, 3 << 13),
        ];
        if is_root() {
            cases.push((r#"{"class":"IOPRIO_CLASS_RT","priority":3}"#, 1 << 13 | 3));
        } else {
            eprintln!("note: IOPRIO_CLASS_RT not tried: needs root");
        }
        for (json, want) in cases {
            in_child(|| {
                let p: LinuxIOPriority = serde_json::from_str(json).unwrap();
                set_io_priority(&p).map_err(|e| e.to_string())?;
                expect(json, ioprio_get()?, want)
            })
            .unwrap();
        }
    }
}
