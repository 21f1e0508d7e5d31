// Each test program uses a part of these.
#![allow(dead_code)]

//! Helpers for the tests that use libcontainer directly, as an engine or a
//! shim embedding it would, instead of through the hull CLI. Their bundles,
//! cgroups and cleanup are the CLI harness's ([`Runtime`]).

use std::path::{Path, PathBuf};

use hull_integration::*;
use libcontainer::{Container, ContainerBuilder};

/// Creates the bundle's container through the library (tracked by `rt`
/// for cleanup whatever happens).
pub fn create(rt: &Runtime, b: &Bundle) -> libcontainer::Result<Container> {
    b.write_config();
    rt.track(&b.id);
    ContainerBuilder::new(b.id.clone(), rt.root.clone())
        .bundle(&b.dir)
        .create()
}

/// This thread's `pid_for_children` namespace.
pub fn pid_for_children() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/pid_for_children").expect("readlink pid_for_children")
}

/// Turns a hang, the failure these tests look for, into a failure of the
/// test program (SIGALRM's default action ends it).
pub fn fail_if_hung_after(secs: u32) {
    // SAFETY: alarm only arms a timer.
    unsafe { libc::alarm(secs) };
}

/// Skips (returning false) when not root, as `require_root!` does.
pub fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        eprintln!("note: skipping {test}: needs root");
    }
    is_root()
}

/// Copies the shared libraries `bin` needs into `rootfs` at the same
/// paths, so that `bin` could run inside the container.
pub fn copy_libraries(bin: &Path, rootfs: &Path) {
    let out = std::process::Command::new("ldd")
        .arg(bin)
        .output()
        .expect("ldd");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            let dest = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(p, &dest).unwrap_or_else(|e| panic!("copy {p}: {e}"));
        }
    }
}

/// Runs `tests` in order, as the libtest harness would for a program with
/// `harness = false`: `cargo test --test NAME -- FILTER` runs those whose
/// name contains FILTER.
pub fn run_tests(tests: &[(&str, fn())]) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        eprintln!("test {name} ...");
        test();
        eprintln!("test {name} ... ok");
    }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds this function then owns.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds are new and owned here only.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}
