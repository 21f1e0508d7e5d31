//! Helpers of the attributes' tests: specs, the validation on a fixed
//! host, and running a setter in a forked child.

use std::io;

use oci_spec::runtime::Spec;

use super::{io_priority::IOPRIO_WHO_PROCESS, validate_on, Host};

pub(super) fn spec_with(process_extra: serde_json::Value, linux_extra: serde_json::Value) -> Spec {
    let mut v = serde_json::json!({
        "ociVersion": "1.2.0", "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "linux": {}
    });
    for (k, x) in process_extra.as_object().into_iter().flatten() {
        v["process"][k] = x.clone();
    }
    for (k, x) in linux_extra.as_object().into_iter().flatten() {
        v["linux"][k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

pub(super) fn two_cpus_one_node() -> Host {
    Host {
        online_cpus: Some(vec![0, 1]),
        online_nodes: Some(vec![0]),
    }
}

pub(super) fn issues_of(
    process_extra: serde_json::Value,
    linux_extra: serde_json::Value,
) -> Vec<String> {
    validate_on(&spec_with(process_extra, linux_extra), &two_cpus_one_node())
        .iter()
        .map(|i| i.to_string())
        .collect()
}

#[track_caller]
pub(super) fn assert_has(got: &[String], want: &str) {
    assert!(
        got.iter().any(|g| g.contains(want)),
        "missing {want:?} in {got:#?}"
    );
}

pub(super) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `f` in a forked child; Err carries the child's message.
pub(super) fn in_child(
    f: impl FnOnce() -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    let (rd, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
    // SAFETY: the child only makes syscalls, allocates (glibc's fork
    // leaves malloc usable) and leaves with _exit; it never touches
    // locks other test threads may hold (no stdout).
    match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err("panicked".into()));
            let code = match r {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = rustix::io::write(&wr, msg.as_bytes());
                    1
                }
            };
            // SAFETY: leaves without running the parent's atexit state.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = rustix::io::read(&rd, &mut buf) {
                msg.extend_from_slice(&buf[..n]);
            }
            let st = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
            match st {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                other => Err(format!("{other:?}: {}", String::from_utf8_lossy(&msg))),
            }
        }
    }
}

pub(super) fn expect<T: std::fmt::Debug + PartialEq>(
    what: &str,
    got: T,
    want: T,
) -> std::result::Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

pub(super) fn last_errno() -> String {
    io::Error::last_os_error().to_string()
}

pub(super) fn ioprio_get() -> std::result::Result<i64, String> {
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if r == -1 {
        Err(format!("ioprio_get: {}", last_errno()))
    } else {
        Ok(r)
    }
}
