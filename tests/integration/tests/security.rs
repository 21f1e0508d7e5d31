//! Attacks from runc's CVE history, tried against hull.

use std::time::{Duration, Instant};

use hull_integration::*;
use serde_json::json;

/// CVE-2019-5736: the hull process that enters a container must not be a
/// writable path to the hull binary on the host.
#[test]
fn runtime_entering_a_container_runs_from_a_sealed_copy() {
    require_root!();
    if is_runc() {
        return; // runc 1.1 uses its own memfd clone; the exe shape differs
    }
    let rt = Runtime::new("cve_5736");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let sp = rt.spawn_in(&["exec", &b.id, "hull-probe", "sleep", "3"], None, "exec-sleep");
    let pid = sp.pid();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The re-exec happens first thing; wait until it has.
    let exe = loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if exe.starts_with("/memfd:") || Instant::now() > deadline {
            break exe;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(exe.starts_with("/memfd:hull"), "runtime exe is {exe:?}, a writable host file");
    // Reopening it for writing, as the attack does, must fail.
    let w = std::fs::OpenOptions::new().write(true).open(format!("/proc/{pid}/exe"));
    assert!(w.is_err(), "opened the runtime's exe for writing");
    sp.wait(default_timeout()).ok();
}

/// CVE-2024-21626: process.cwd through /proc/self/fd/N must not land on a
/// host directory the runtime holds open.
#[test]
fn cwd_through_proc_self_fd_is_refused() {
    require_root!();
    let rt = Runtime::new("cve_21626");
    for fd in 3..12 {
        let mut b = rt.bundle();
        b.process()["cwd"] = json!(format!("/proc/self/fd/{fd}"));
        b.args(&["sh", "-c", "pwd; ls /"]);
        let o = rt.run(&b);
        if o.success() {
            // Only acceptable if the cwd is inside the container.
            assert!(!o.stdout.contains("state.json") && !o.stdout.contains("exec.fifo"), "fd {fd}: escaped to a host dir: {o:?}");
            assert!(o.stdout.lines().next().is_some_and(|l| l.starts_with('/')), "fd {fd}: unreachable cwd: {o:?}");
        }
    }
}

/// The init waits for `start` holding host fds; a process exec'd into the
/// container meanwhile must not reach them through /proc/<init>/fd.
#[test]
fn created_init_is_not_dumpable() {
    require_root!();
    let rt = Runtime::new("nodump");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // Not dumpable => reading /proc/<init>/fd links needs CAP_SYS_PTRACE,
    // which the container's processes do not have.
    let o = rt.exec(&["exec", &b.id, "sh", "-c", "ls -l /proc/1/fd/ 2>&1; echo end"]);
    o.ok();
    assert!(o.stdout.contains("end"), "{o:?}");
    if is_runc() {
        return; // runc differs: its waiting init's fds are readable from the container
    }
    assert!(!o.stdout.contains(" -> "), "init fds reachable from the container: {o:?}");
    assert!(o.stdout.contains("Permission denied"), "{o:?}");
}

/// Symlinks in the rootfs must not redirect mounts onto the host.
#[test]
fn mount_destination_symlink_to_host_stays_inside() {
    require_root!();
    let rt = Runtime::new("symlink_dest");
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    let victim = b.host_dir("victim");
    std::os::unix::fs::symlink(&victim, root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", root.join("up")).unwrap();
    b.add_mount(json!({"destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b.add_mount(json!({"destination": "/up/tmp/hull-escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b.args(&["sh", "-c", "touch /escape/inside && echo ok"]);
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let o = rt.run(&b);
    o.ok();
    assert!(std::fs::read_dir(&victim).unwrap().next().is_none(), "the mount landed on the host dir");
    assert!(!std::path::Path::new("/tmp/hull-escape").exists(), "../ escaped the rootfs");
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(before.lines().count(), after.lines().count(), "host mount table changed");
}
