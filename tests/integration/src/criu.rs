//! Helpers of the checkpoint/restore tests (tests/criu.rs,
//! tests/criu_migration.rs).
//!
//! CRIU must work on this kernel: `HULL_CRIU` names the binary
//! (`tests/criu/fetch-criu` makes one for kernels Debian's CRIU 3.17 cannot
//! handle; scripts/test.sh sets it). Without `HULL_CRIU` these tests are
//! skipped with a note, unless `HULL_REQUIRE_CRIU=1` (CI), where that fails.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use crate::{default_timeout, hull_bin, Bundle, Runtime};

/// The CRIU to use, or None (with a note) to skip.
pub fn criu() -> Option<String> {
    match std::env::var("HULL_CRIU") {
        Ok(c) if !c.is_empty() => Some(c),
        _ => {
            assert!(
                std::env::var("HULL_REQUIRE_CRIU").as_deref() != Ok("1"),
                "HULL_REQUIRE_CRIU=1 but HULL_CRIU is not set"
            );
            eprintln!("note: skipping: set HULL_CRIU to a CRIU that works on this kernel (tests/criu/fetch-criu)");
            None
        }
    }
}

/// hull with `--criu`, stdin and stdout on /dev/null and stderr to a file
/// (a pipe would be held open by a detached container; the container's
/// stderr is /dev/null, which CRIU can dump, unlike a host file).
/// Returns (success, stderr).
pub fn hull(rt: &Runtime, criu: &str, args: &[&str]) -> (bool, String) {
    let err_path = rt.base.join("io").join("criu-cmd.err");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let detached_run = args.first() == Some(&"run");
    let status = Command::new(hull_bin())
        .arg("--root")
        .arg(&rt.root)
        .arg("--criu")
        .arg(criu)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if detached_run {
            Stdio::null()
        } else {
            Stdio::from(err)
        })
        .status()
        .expect("running hull");
    (
        status.success(),
        std::fs::read_to_string(&err_path).unwrap_or_default(),
    )
}

/// [`hull`], which must succeed.
#[track_caller]
pub fn hull_ok(rt: &Runtime, criu: &str, args: &[&str]) {
    let (ok, err) = hull(rt, criu, args);
    assert!(ok, "{}: {err}", args.join(" "));
}

/// `run -d` of `b`, which must succeed.
#[track_caller]
pub fn run_detached(rt: &Runtime, criu: &str, b: &Bundle) {
    let dir = b.dir.to_string_lossy().into_owned();
    let (ok, err) = hull(rt, criu, &["run", "-d", "--bundle", &dir, &b.id]);
    assert!(ok, "run -d: {err}");
}

/// `fd` at number `target` in the process `cmd` starts (e.g. for
/// `--status-fd`), through [`crate::Runtime::spawn_adjusted`].
pub fn place_fd(cmd: &mut Command, fd: std::os::fd::BorrowedFd<'_>, target: i32) {
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would leave close-on-exec set.
            let r = if raw == target {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, target)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A helper process of a test (a CRIU daemon), killed by its pid if the
/// test ends before it did.
pub struct Background {
    child: Child,
    what: String,
}

impl Background {
    pub fn new(mut cmd: Command, what: &str) -> Background {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        Background {
            child,
            what: what.to_owned(),
        }
    }

    /// Its exit status; fails the test if it has not exited within the
    /// default timeout.
    #[track_caller]
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + default_timeout();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {:?}",
                self.what,
                default_timeout()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (up to the default timeout) for `path` to exist.
#[track_caller]
pub fn wait_for_path(path: &Path) {
    let deadline = Instant::now() + default_timeout();
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose command line names CRIU and that run in `dir` or below
/// (CRIU's cwd is its work dir): what a failed operation may not leave.
pub fn criu_processes(dir: &Path) -> Vec<(i32, String)> {
    crate::leftover_processes("", dir)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains("criu"))
        .collect()
}
