//! Running OCI hooks: the container state on stdin, the hook's own args and
//! env, and its timeout enforced through a pidfd.

use std::{
    io::Write,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::Duration,
};

use oci_spec::runtime::Hook;
use rustix::process::{Pid, PidfdFlags};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks.{kind}[{index}] {path:?}: {source}")]
    Spawn {
        kind: &'static str,
        index: usize,
        path: String,
        source: std::io::Error,
    },
    #[error("hooks.{kind}[{index}] {path:?}: {status}")]
    Failed {
        kind: &'static str,
        index: usize,
        path: String,
        status: std::process::ExitStatus,
    },
    #[error("hooks.{kind}[{index}] {path:?}: timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        index: usize,
        path: String,
        secs: i64,
    },
}

/// Runs `hooks` in order; the first failure stops the sequence.
pub(crate) fn run_all(
    kind: &'static str,
    hooks: &[Hook],
    state_json: &[u8],
) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(kind, index, hook, state_json)?;
    }
    Ok(())
}

/// Runs hooks whose failure the spec only wants logged (poststart, poststop).
pub(crate) fn run_all_logged(kind: &'static str, hooks: &[Hook], state_json: &[u8]) {
    for (index, hook) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind, index, hook, state_json) {
            tracing::warn!("{e}");
        }
    }
}

fn run_one(
    kind: &'static str,
    index: usize,
    hook: &Hook,
    state_json: &[u8],
) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let spawn_err = |source| HookError::Spawn {
        kind,
        index,
        path: path.clone(),
        source,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args().as_deref() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that never reads its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state_json);
    }
    if let Some(secs) = hook.timeout() {
        let pid = Pid::from_raw(child.id() as i32)
            .ok_or_else(|| spawn_err(std::io::ErrorKind::InvalidData.into()))?;
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .map_err(|e| spawn_err(e.into()))?;
        if !wait_readable(&pidfd, Duration::from_secs(secs.max(0) as u64)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout {
                kind,
                index,
                path,
                secs,
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
        run_all("prestart", &[h], b"{\"id\":\"x\"}\n").unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        assert_eq!(got, "{\"id\":\"x\"}\nzero bar\n");
    }

    #[test]
    fn failure_and_timeout_are_errors_naming_the_hook() {
        let e = run_all("createRuntime", &[hook(r#"{"path":"/bin/false"}"#)], b"").unwrap_err();
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
        )
        .unwrap_err();
        assert!(matches!(e, HookError::Timeout { .. }), "{e}");
        let e = run_all("prestart", &[hook(r#"{"path":"/nonexistent/hook"}"#)], b"").unwrap_err();
        assert!(matches!(e, HookError::Spawn { .. }), "{e}");
    }
}
