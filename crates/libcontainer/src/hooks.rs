//! Running OCI hooks: the container state on stdin, the hook's own args and
//! env, and its timeout enforced through a pidfd.

use std::{
    os::{fd::OwnedFd, unix::process::CommandExt},
    path::Path,
    process::{ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use oci_spec::runtime::Hook;
use rustix::{
    event::{poll, PollFd, PollFlags},
    fs::OFlags,
    io::Errno,
    process::{Pid, PidfdFlags},
};

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook could not be started.
    #[error("hooks.{kind}[{index}] {path:?}: {source}")]
    Spawn {
        /// The hook list (`prestart`, `poststop`, ...).
        kind: &'static str,
        /// The hook's index in it.
        index: usize,
        /// The hook's path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The hook exited unsuccessfully.
    #[error("hooks.{kind}[{index}] {path:?}: {status}")]
    Failed {
        /// The hook list.
        kind: &'static str,
        /// The hook's index in it.
        index: usize,
        /// The hook's path.
        path: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// The hook ran past its `timeout` and was killed.
    #[error("hooks.{kind}[{index}] {path:?}: timed out after {secs}s")]
    Timeout {
        /// The hook list.
        kind: &'static str,
        /// The hook's index in it.
        index: usize,
        /// The hook's path.
        path: String,
        /// Its timeout in seconds.
        secs: i64,
    },
}

/// What a hook gets when its entry does not say: runc's behaviour, which
/// hooks written for runc rely on.
///
/// * prestart, createRuntime (create, restore): the runtime's environment,
///   the bundle as working directory (runc changes into it).
/// * createContainer: the container process's `process.env`, the rootfs
///   as working directory (before pivot_root).
/// * startContainer: the container process's environment and working
///   directory (it runs in the init, just before the exec).
/// * poststart, poststop: the runtime's environment and working directory.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    /// The environment of a hook without `env`; None: the runtime's own.
    pub env: Option<&'a [String]>,
    /// The working directory; None: the runtime's own.
    pub cwd: Option<&'a Path>,
}

/// Runs `hooks` in order; the first failure stops the sequence.
pub(crate) fn run_all(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
    ctx: Context<'_>,
) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(kind, index, hook, state_json, ctx)?;
    }
    Ok(())
}

/// Runs hooks whose failure the spec only wants logged (poststart, poststop).
pub(crate) fn run_all_logged(kind: &'static str, hooks: &[Hook], state_json: &[u8]) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind, index, hook, state_json, Context::default()) {
            tracing::warn!("{e}");
        }
    }
}

fn set_env(cmd: &mut Command, env: &[String]) {
    cmd.env_clear();
    for kv in env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
}

fn run_one(
    kind: &'static str,
    index: usize,
    hook: &Hook,
    state_json: &[u8],
    ctx: Context<'_>,
) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let spawn_err = |source| HookError::Spawn {
        kind,
        index,
        path: path.clone(),
        source,
    };
    tracing::debug!("hooks.{kind}[{index}]: running {path}");
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args().as_deref() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    // An `env` given (even empty) is the whole environment, as in runc.
    match (hook.env().as_deref(), ctx.env) {
        (Some(env), _) | (None, Some(env)) => set_env(&mut cmd, env),
        (None, None) => {}
    }
    if let Some(dir) = ctx.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    // The timeout covers the whole hook, feeding its stdin included: a hook
    // that never reads a state larger than the pipe would block the write.
    let limit = match hook.timeout() {
        Some(secs) => match pidfd_of(&child) {
            Ok(pidfd) => Some(Limit {
                pidfd,
                secs,
                deadline: Instant::now() + Duration::from_secs(secs.max(0) as u64),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_err(e));
            }
        },
        None => None,
    };
    let fed = child
        .stdin
        .take()
        .is_none_or(|stdin| feed(stdin, state_json, limit.as_ref()));
    if let Some(l) = &limit {
        if !fed
            || !wait_readable(
                &l.pidfd,
                l.deadline.saturating_duration_since(Instant::now()),
            )
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout {
                kind,
                index,
                path,
                secs: l.secs,
            });
        }
    }
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        Ok(())
    } else {
        Err(HookError::Failed {
            kind,
            index,
            path,
            status,
        })
    }
}

/// A hook's timeout, from its start.
struct Limit {
    pidfd: OwnedFd,
    secs: i64,
    deadline: Instant,
}

fn pidfd_of(child: &std::process::Child) -> std::io::Result<OwnedFd> {
    let pid = Pid::from_raw(child.id() as i32).ok_or(std::io::ErrorKind::InvalidData)?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// Writes the state to the hook's stdin, then closes it. Under a limit the
/// pipe is non-blocking and waits for room only until the deadline: false
/// means the deadline came first. A hook that exits or closes its stdin
/// early simply gets less; that is not an error.
fn feed(stdin: ChildStdin, data: &[u8], limit: Option<&Limit>) -> bool {
    let _no_sigpipe = SigpipeBlocked::new();
    if limit.is_some() && rustix::fs::fcntl_setfl(&stdin, OFlags::NONBLOCK).is_err() {
        return true;
    }
    let mut off = 0;
    while off < data.len() {
        match rustix::io::write(&stdin, &data[off..]) {
            Ok(n) => off += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let Some(l) = limit else { return true };
                let left = l.deadline.saturating_duration_since(Instant::now());
                let ts = rustix::time::Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: left.subsec_nanos() as i64,
                };
                let mut fds = [
                    PollFd::new(&stdin, PollFlags::OUT),
                    PollFd::new(&l.pidfd, PollFlags::IN),
                ];
                match poll(&mut fds, Some(&ts)) {
                    Ok(0) if left.is_zero() => return false,
                    Ok(_) if fds[1].revents().contains(PollFlags::IN) => return true,
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(_) => return true,
                }
            }
            // EPIPE: the hook closed its stdin or exited.
            Err(_) => return true,
        }
    }
    true
}

/// SIGPIPE blocked for this thread while it writes to a hook: EPIPE is
/// handled, and neither an embedding caller nor the init (which restores
/// SIGPIPE's default action) may die of it. One raised meanwhile is
/// consumed before the mask is restored.
struct SigpipeBlocked {
    old: SigSet,
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> Self {
        let mut old = SigSet::empty();
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigpipe()), Some(&mut old));
        SigpipeBlocked {
            old,
            was_pending: sigpipe_pending(),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if !self.was_pending && sigpipe_pending() {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid signal set and timeout; no siginfo wanted.
            unsafe { libc::sigtimedwait(sigpipe().as_ref(), std::ptr::null_mut(), &zero) };
        }
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

fn sigpipe() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}

fn sigpipe_pending() -> bool {
    // SAFETY: sigpending fills a set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set) == 0 && libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

/// True if `fd` became readable (for a pidfd: the process exited) in time.
pub(crate) fn wait_readable(fd: &impl std::os::fd::AsFd, timeout: Duration) -> bool {
    crate::sync::readable_within(fd, timeout).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn passes_state_args_and_env() {
        let out = std::env::temp_dir().join(format!("hull-hook-test-{}", std::process::id()));
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {0}; echo \"$0 $FOO\" >> {0}","zero"],"env":["FOO=bar"]}}"#,
            out.display()
        ));
        run_all("prestart", &[h], b"{\"id\":\"x\"}\n", Context::default()).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(got, "{\"id\":\"x\"}\nzero bar\n");
    }

    #[test]
    fn a_hook_without_env_gets_the_context() {
        let out = std::env::temp_dir().join(format!("hull-hook-ctx-{}", std::process::id()));
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","echo \"$A|$B|$(pwd)\" > {}"]}}"#,
            out.display()
        ));
        let env = ["A=1".to_owned()];
        run_all(
            "startContainer",
            &[h],
            b"",
            Context {
                env: Some(&env),
                cwd: Some(Path::new("/proc")),
            },
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "1||/proc\n");
        // The hook's own env wins over the context's.
        let own = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","echo \"$A|$B\" > {}"],"env":["B=2"]}}"#,
            out.display()
        ));
        run_all(
            "createContainer",
            &[own],
            b"",
            Context {
                env: Some(&env),
                cwd: None,
            },
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "|2\n");
        std::fs::remove_file(&out).unwrap();
    }

    #[test]
    fn the_timeout_covers_feeding_stdin() {
        // 1 MiB, far past a pipe's buffer, to a hook that never reads it.
        let state = vec![b' '; 1 << 20];
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","1000"],"timeout":1}"#);
        let e = run_all("createRuntime", &[h], &state, Context::default()).unwrap_err();
        assert!(matches!(e, HookError::Timeout { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("hooks.createRuntime[0] \"/bin/sleep\": timed out after 1s"),
            "{e}"
        );
        // A hook that reads part of it and exits is fine, and no SIGPIPE
        // reaches this thread even with the default action.
        let h =
            hook(r#"{"path":"/bin/sh","args":["sh","-c","head -c 10 >/dev/null"],"timeout":30}"#);
        run_all("createRuntime", &[h], &state, Context::default()).unwrap();
        let h = hook(r#"{"path":"/bin/true"}"#);
        run_all("createRuntime", &[h], &state, Context::default()).unwrap();
    }

    #[test]
    fn failure_and_timeout_are_errors_naming_the_hook() {
        let ctx = Context::default();
        let e = run_all(
            "createRuntime",
            &[hook(r#"{"path":"/bin/false"}"#)],
            b"",
            ctx,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("hooks.createRuntime[0] \"/bin/false\""),
            "{e}"
        );
        let e = run_all(
            "prestart",
            &[hook(
                r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#,
            )],
            b"",
            ctx,
        )
        .unwrap_err();
        assert!(matches!(e, HookError::Timeout { .. }), "{e}");
        let e = run_all(
            "prestart",
            &[hook(r#"{"path":"/nonexistent/hook"}"#)],
            b"",
            ctx,
        )
        .unwrap_err();
        assert!(matches!(e, HookError::Spawn { .. }), "{e}");
    }
}
