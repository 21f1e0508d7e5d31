//! The library API an embedder uses: an in-memory spec (no config.json),
//! the caller's own fds as the container's stdio, the init's pidfd for an
//! event loop, and calls that leave the caller's process-wide state (child
//! subreaper, signal mask, pid_for_children, fds) as they found it.
//! `harness = false`: `main` is the program, so that the process-wide state
//! checked is this program's alone.

mod embed;

use std::{
    io::{Read, Write},
    os::fd::{AsFd, AsRawFd, OwnedFd},
};

use embed::*;
use hull_integration::*;
use libcontainer::{Container, ContainerBuilder, ExecOptions};

fn main() {
    if !root_or_skip("library_api") {
        return;
    }
    fail_if_hung_after(600);
    run_tests(&[
        (
            "in_memory_spec_with_the_callers_stdio",
            in_memory_spec_with_the_callers_stdio as fn(),
        ),
        (
            "no_process_wide_state_is_changed",
            no_process_wide_state_is_changed,
        ),
        (
            "the_init_holds_no_fd_of_the_callers_other_threads",
            the_init_holds_no_fd_of_the_callers_other_threads,
        ),
        (
            "exec_uses_the_callers_executor",
            exec_uses_the_callers_executor,
        ),
    ]);
}

/// A pipe whose read end is a File.
fn file_pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = pipe();
    (std::fs::File::from(r), w)
}

/// Creates `b`'s container from its spec in memory: the bundle directory
/// holds no config.json.
fn create_in_memory(
    rt: &Runtime,
    b: &Bundle,
    adjust: impl FnOnce(ContainerBuilder) -> ContainerBuilder,
) -> Container {
    let spec: libcontainer::oci_spec::runtime::Spec =
        serde_json::from_value(b.spec.clone()).expect("the test's spec parses");
    assert!(!b.config_path().exists());
    rt.track(&b.id);
    adjust(
        ContainerBuilder::new(b.id.clone(), rt.root.clone())
            .bundle(&b.dir)
            .spec(spec),
    )
    .create()
    .expect("create from an in-memory spec")
}

fn readable(fd: std::os::fd::BorrowedFd<'_>, block: bool) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, if block { -1 } else { 0 }) };
    assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
    n == 1
}

/// The container's stdin, stdout and stderr are pipes this program holds;
/// exec works from what the state directory kept; the pidfd turns
/// readable when the init exits and try_wait then has its status.
fn in_memory_spec_with_the_callers_stdio() {
    let rt = Runtime::new("lib_api_stdio");
    let mut b = rt.bundle();
    b.args(&[
        "sh",
        "-c",
        "read line; echo \"got:$line pid:$$\"; echo err >&2; exit 7",
    ]);
    let (in_r, in_w) = pipe();
    let (mut out_r, out_w) = file_pipe();
    let (mut err_r, err_w) = file_pipe();
    let mut c = create_in_memory(&rt, &b, |cb| cb.stdin(in_r).stdout(out_w).stderr(err_w));
    c.start().expect("start");
    let pidfd = c.pidfd().expect("the creator holds the init's pidfd");
    assert!(!readable(pidfd, false), "the init exited before its input");
    assert_eq!(c.try_wait().expect("try_wait"), None);
    // exec reads the config the state directory kept.
    let loaded = Container::load(&rt.root, &b.id).expect("load");
    assert!(loaded.pidfd().is_none(), "a loaded handle has no pidfd");
    let p = loaded
        .exec(ExecOptions {
            args: vec!["hull-probe".into(), "exit".into(), "5".into()],
            ..Default::default()
        })
        .expect("exec into a container made from an in-memory spec");
    assert_eq!(p.wait().expect("wait for the exec").code, Some(5));
    std::fs::File::from(in_w)
        .write_all(b"from-stdin\n")
        .expect("write the container's stdin");
    let pidfd = c.pidfd().expect("pidfd");
    assert!(readable(pidfd, true));
    let status = c
        .try_wait()
        .expect("try_wait")
        .expect("readable pidfd: exited");
    assert_eq!(status.code, Some(7));
    let mut out = String::new();
    out_r.read_to_string(&mut out).unwrap();
    // pid 1: the shell ran as the container's init, in its pid namespace.
    assert_eq!(out, "got:from-stdin pid:1\n");
    let mut err = String::new();
    err_r.read_to_string(&mut err).unwrap();
    assert_eq!(err, "err\n");
    c.delete(true).expect("delete");
    assert!(!rt.root.join(&b.id).exists(), "state directory left behind");
}

fn status_field(name: &str) -> String {
    let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in /proc/thread-self/status"))
}

fn is_subreaper() -> bool {
    let mut v: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut v as *mut libc::c_int) },
        0
    );
    v != 0
}

/// A container with its own pid namespace (the init is forked twice) is
/// created, exec'd into and waited for: the caller is no subreaper after,
/// its signal mask and dispositions and pid_for_children are unchanged,
/// and wait still collects the init's exit code (the init is its child).
fn no_process_wide_state_is_changed() {
    let rt = Runtime::new("lib_api_state");
    let mut b = rt.bundle();
    assert!(b.namespace_types().iter().any(|t| t == "pid"));
    b.args(&["sh", "-c", "read x; exit 9"]);
    b.write_config();
    let (in_r, in_w) = pipe();
    let blocked = status_field("SigBlk:");
    let ignored = status_field("SigIgn:");
    let pid_ns = pid_for_children();
    assert!(!is_subreaper());
    rt.track(&b.id);
    let mut c = ContainerBuilder::new(b.id.clone(), rt.root.clone())
        .bundle(&b.dir)
        .stdin(in_r)
        .create()
        .expect("create");
    c.start().expect("start");
    let p = c
        .exec(ExecOptions {
            args: vec!["hull-probe".into(), "exit".into(), "4".into()],
            ..Default::default()
        })
        .expect("exec");
    assert_eq!(p.wait().expect("wait for the exec").code, Some(4));
    drop(in_w);
    assert_eq!(c.wait().expect("wait for the init").code, Some(9));
    assert!(!is_subreaper(), "the caller was made a child subreaper");
    assert_eq!(status_field("SigBlk:"), blocked, "signal mask changed");
    assert_eq!(status_field("SigIgn:"), ignored, "ignored signals changed");
    assert_eq!(pid_for_children(), pid_ns, "pid_for_children changed");
    c.delete(true).expect("delete");
}

/// "pipe:[inode]" of an fd.
fn link(pid: i32, fd: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// With another thread alive, the library forks through a helper; the
/// init, waiting for `start`, must not keep a copy of a close-on-exec fd
/// the caller opened for something else (a pipe here, as another thread's
/// sync channel or state lock would be): holding it until its exec would
/// keep the caller's reader from seeing EOF.
fn the_init_holds_no_fd_of_the_callers_other_threads() {
    let rt = Runtime::new("lib_api_fds");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "exit", "0"]);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || rx.recv());
    let (foreign_r, foreign_w) = pipe();
    let foreign = link(std::process::id() as i32, foreign_w.as_raw_fd()).unwrap();
    let mut c = create_in_memory(&rt, &b, |cb| cb);
    let pid = c.pid().expect("init pid");
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the init's fds")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(|fd| link(pid, fd))
        .collect();
    assert!(!fds.is_empty(), "no fd of the init could be read");
    assert!(
        !fds.contains(&foreign),
        "the init holds the caller's {foreign}: {fds:?}"
    );
    drop(foreign_w);
    assert!(readable(foreign_r.as_fd(), true));
    c.start().expect("start");
    assert_eq!(c.wait().expect("wait").code, Some(0));
    c.delete(true).expect("delete");
    drop(tx);
    let _ = other.join();
}

/// Runs its own program whatever the process's args say.
struct Replace(Vec<std::ffi::CString>);

impl libcontainer::Executor for Replace {
    fn validate(
        &self,
        _: &libcontainer::oci_spec::runtime::Spec,
    ) -> Result<(), libcontainer::ExecutorError> {
        Ok(())
    }
    fn exec(
        &self,
        _: &libcontainer::oci_spec::runtime::Spec,
    ) -> Result<std::convert::Infallible, libcontainer::ExecutorError> {
        let source = libcontainer::execve(&self.0[0], &self.0, &[]);
        Err(libcontainer::ExecutorError::Exec {
            path: self.0[0].to_string_lossy().into_owned().into(),
            source,
        })
    }
}

/// exec hands the set-up process to the executor in ExecOptions: the
/// process ends as the executor's program, not as its args say.
fn exec_uses_the_callers_executor() {
    let rt = Runtime::new("lib_api_executor");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "600"]);
    let mut c = create_in_memory(&rt, &b, |cb| cb);
    c.start().expect("start");
    let argv = ["/bin/sh", "-c", "exit 42"].map(|a| std::ffi::CString::new(a).unwrap());
    let p = c
        .exec(ExecOptions {
            args: vec!["hull-probe".into(), "exit".into(), "1".into()],
            executor: Some(Box::new(Replace(argv.to_vec()))),
            ..Default::default()
        })
        .expect("exec with the caller's executor");
    assert_eq!(p.wait().expect("wait").code, Some(42));
    c.delete(true).expect("delete");
}
