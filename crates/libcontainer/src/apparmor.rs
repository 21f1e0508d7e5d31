//! AppArmor: `process.apparmorProfile` (and `exec --apparmor`), applied as
//! runc does: the process asks to change to the profile at its next
//! execve (libapparmor's aa_change_onexec), so the container's program
//! starts confined and hull's own setup before it is not.

use rustix::fs::OFlags;

use crate::error::{Error, Result};
use crate::procfs_handle::{ProcBase, ProcfsHandle};

/// Whether the AppArmor LSM is active here: the module reports itself
/// enabled (built into a kernel that booted another LSM, it reports "N" or
/// nothing), and its securityfs directory exists or, in a mount namespace
/// without securityfs, its own /proc attribute can be read (it answers
/// only where AppArmor is active). conmon runs the runtime in such a
/// namespace for a container with a user namespace (podman --uidmap);
/// runc does not check there and the profile applies.
pub(crate) fn is_enabled() -> bool {
    std::fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with(b"Y"))
        && (std::path::Path::new("/sys/kernel/security/apparmor").is_dir()
            || std::fs::read("/proc/self/attr/apparmor/current").is_ok())
}

/// Makes the next execve of this process enter `profile` (an empty one
/// changes nothing). The profile must be loaded: the kernel refuses an
/// unknown name (ENOENT), which is this call's error, naming the field.
///
/// The attribute lives in /proc/self/attr/apparmor/exec since Linux 5.8
/// (LSM stacking); older kernels have only /proc/self/attr/exec.
pub(crate) fn change_onexec(procfs: &ProcfsHandle, profile: &str) -> Result<()> {
    if profile.is_empty() {
        return Ok(());
    }
    let field = "process.apparmorProfile";
    let mut path = "attr/apparmor/exec";
    let fd = match procfs.open(ProcBase::SelfProcess, path, OFlags::WRONLY) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            path = "attr/exec";
            procfs.open(ProcBase::SelfProcess, path, OFlags::WRONLY)
        }
        r => r,
    }
    .map_err(|e| Error::sys(format!("{field}: opening /proc/self/{path}"), e))?;
    let cmd = format!("exec {profile}");
    match rustix::io::write(&fd, cmd.as_bytes()) {
        Ok(n) if n == cmd.len() => Ok(()),
        Ok(n) => Err(Error::Unsupported(format!(
            "{field}: short write to /proc/self/{path} ({n} of {} bytes)",
            cmd.len()
        ))),
        Err(rustix::io::Errno::NOENT) => Err(Error::Unsupported(format!(
            "{field}: the kernel has no AppArmor profile {profile:?} (load it with apparmor_parser first)"
        ))),
        Err(e) => Err(Error::sys(
            format!("{field}: changing to profile {profile:?} at exec (/proc/self/{path})"),
            e,
        )),
    }
}
