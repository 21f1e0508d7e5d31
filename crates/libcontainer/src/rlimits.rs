//! process.rlimits: the spec's names mapped to the kernel's, the hard
//! limits this process has (the parent's check of the spec) and setting
//! them before the exec of the container's program.

use oci_spec::runtime::{PosixRlimitType, Process};
use rustix::process::{Resource, Rlimit};

use crate::error::{Error, Result};

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

/// The hard limit this process has now (None: unlimited).
pub(crate) fn current_hard_limit(t: PosixRlimitType) -> Option<u64> {
    rustix::process::getrlimit(resource(t)).maximum
}

fn limit(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

pub(crate) fn set_rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        rustix::process::setrlimit(
            resource(r.typ()),
            Rlimit {
                current: limit(r.soft()),
                maximum: limit(r.hard()),
            },
        )
        .map_err(|e| {
            let hint = if e == rustix::io::Errno::PERM {
                " (raising a hard limit needs CAP_SYS_RESOURCE, which this runtime lacks)"
            } else {
                ""
            };
            Error::sys(
                format!(
                    "process.rlimits[{i}] ({:?} soft {} hard {}){hint}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_maps_to_none() {
        assert_eq!(limit(u64::MAX), None);
        assert_eq!(limit(1024), Some(1024));
    }
}
