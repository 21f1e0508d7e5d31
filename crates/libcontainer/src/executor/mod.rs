//! The last step of init: replacing itself with the container's program.
//! Library users (e.g. Wasm shims) plug in their own [`Executor`].

pub(crate) mod error;

use std::{
    convert::Infallible,
    ffi::{CString, OsStr},
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use oci_spec::runtime::Spec;

pub use error::ExecutorError;

/// Runs inside the container's init, after every namespace, mount and
/// credential is in place. An executor that execs a program should call
/// [`crate::execve`], which keeps the caller's binary out of the
/// container's reach (CVE-2019-5736); one that runs code in-process must
/// leave the process non-dumpable, as the library hands it over. When the
/// caller has more than one thread, the child lets go of every
/// close-on-exec fd it was not given before this runs: an fd the executor
/// needs must not be close-on-exec (the library marks it so just before
/// `exec`, from fd 3 + `preserve_fds` on). With startContainer hooks, whose
/// paths the container chooses, every fd from 3 + `preserve_fds` on but
/// the library's own is closed before they run (CVE-2024-21626), so an
/// in-process executor then has only the fds it was given.
pub trait Executor: Send + Sync {
    /// Called before `create` reports success, so a program that cannot run
    /// fails `create`, as runc does, not `start`.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorError>;
    /// Replaces the process; returns only on failure.
    fn exec(&self, spec: &Spec) -> Result<Infallible, ExecutorError>;
}

/// execve of `process.args` with `process.env`, looking `args[0]` up in the
/// container's PATH like execvp.
#[derive(Debug, Default, Clone)]
pub struct DefaultExecutor {
    /// What `validate` found (in the init, a copy of this after fork):
    /// `exec` then makes no lookup under the seccomp filter, as runc
    /// resolves the program once before it waits to start.
    found: OnceLock<PathBuf>,
}

fn args_env(spec: &Spec) -> Result<(&[String], &[String]), ExecutorError> {
    let p = spec
        .process()
        .as_ref()
        .ok_or(ExecutorError::InvalidArgs("no process"))?;
    let args = p
        .args()
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or(ExecutorError::InvalidArgs("empty"))?;
    Ok((args, p.env().as_deref().unwrap_or(&[])))
}

fn env_path(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

fn is_executable(p: &Path) -> bool {
    rustix::fs::access(p, rustix::fs::Access::EXEC_OK).is_ok()
        && p.metadata().map(|m| m.is_file()).unwrap_or(false)
}

/// Resolves a program name the way execvp does.
pub(crate) fn lookup(prog: &str, env: &[String]) -> Result<PathBuf, ExecutorError> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        // As runc's LookPath: a path that is not an executable regular file
        // fails create with "permission denied" (engines map it to 126).
        return match p.metadata() {
            Ok(_) if is_executable(&p) => Ok(p),
            Ok(_) => Err(ExecutorError::Exec {
                path: p,
                source: std::io::ErrorKind::PermissionDenied.into(),
            }),
            Err(source) => Err(ExecutorError::Exec { path: p, source }),
        };
    }
    env_path(env)
        .split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(prog))
        .find(|p| is_executable(p))
        .ok_or_else(|| ExecutorError::NotFound(prog.to_owned()))
}

fn cstr(s: &OsStr) -> Result<CString, ExecutorError> {
    CString::new(s.as_bytes()).map_err(|_| ExecutorError::InvalidArgs("contains a NUL byte"))
}

impl Executor for DefaultExecutor {
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let (args, env) = args_env(spec)?;
        let path = lookup(&args[0], env)?;
        let _ = self.found.set(path);
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<Infallible, ExecutorError> {
        let (args, env) = args_env(spec)?;
        let path = match self.found.get() {
            Some(p) => p.clone(),
            None => lookup(&args[0], env)?,
        };
        let argv = args
            .iter()
            .map(|a| cstr(OsStr::new(a)))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = env
            .iter()
            .map(|e| cstr(OsStr::new(e)))
            .collect::<Result<Vec<_>, _>>()?;
        let cpath = cstr(path.as_os_str())?;
        // Through the exec stub when the caller's binary needs it.
        let source = crate::exe::execve(&cpath, &argv, &envp);
        Err(ExecutorError::Exec { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_container_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_owned()];
        assert!(lookup("sh", &env).unwrap().ends_with("sh"));
        assert!(matches!(
            lookup("no-such-prog-hull", &env),
            Err(ExecutorError::NotFound(_))
        ));
        assert!(lookup("/no/such/abs", &env).is_err());
        let e = lookup("/etc/passwd", &env).unwrap_err().to_string();
        assert!(e.contains("permission denied"), "{e}");
    }
}
