//! Running OCI hooks: the container state on stdin, the hook's own args and
//! env, and its timeout enforced through a pidfd.

use std::{
    io::Write,
    os::unix::process::CommandExt,
    path::Path,
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
