//! Attacks from runc's CVE history, tried against hull.

use std::{
    os::{fd::AsRawFd, unix::fs::OpenOptionsExt},
    time::{Duration, Instant},
};

use hull_integration::*;
use serde_json::json;

/// CVE-2019-5736: the hull process that enters a container must not be a
/// writable path to the hull binary on the host.
#[test]
fn runtime_entering_a_container_cannot_be_overwritten() {
    require_root!();
    if is_runc() {
        return; // runc 1.1 uses its own memfd clone; the exe shape differs
    }
    let rt = Runtime::new("cve_5736");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let sp = rt.spawn_in(
        &["exec", &b.id, "hull-probe", "sleep", "2"],
        None,
        "exec-sleep",
    );
    let pid = sp.pid();
    // The attack: hold the runtime's exe by an O_PATH fd while it runs
    // (opening for write would give ETXTBSY), then reopen it for writing
    // once it has exited. Wait for the re-exec into the protected copy.
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = format!("/proc/{pid}/exe");
    let held = loop {
        let protected = std::fs::metadata(&path).ok().and_then(|_| {
            let t = std::fs::read_link(&path).ok()?;
            let stat = nix_statvfs_ro(&path);
            (t.to_string_lossy().starts_with("/memfd:") || stat).then_some(())
        });
        if protected.is_some() || Instant::now() > deadline {
            break std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(&path)
                .expect("O_PATH open of the runtime exe");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let target =
        std::fs::read_link(format!("/proc/self/fd/{}", held.as_raw_fd())).unwrap_or_default();
    sp.wait(default_timeout()).ok();
    let reopened = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
    match reopened {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EROFS), "unexpected error {e}"),
        // A sealed memfd (the fallback) may be opened, but never written.
        Ok(f) => {
            assert!(
                target.to_string_lossy().starts_with("/memfd:hull"),
                "the hull binary {target:?} was reopened for writing"
            );
            drop(f);
        }
    }
}

/// Whether `path` sits on a read-only mount.
fn nix_statvfs_ro(path: &str) -> bool {
    let c = std::ffi::CString::new(path).unwrap();
    // SAFETY: statvfs fills a struct we own.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
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
            assert!(
                !o.stdout.contains("state.json") && !o.stdout.contains("exec.fifo"),
                "fd {fd}: escaped to a host dir: {o:?}"
            );
            assert!(
                o.stdout.lines().next().is_some_and(|l| l.starts_with('/')),
                "fd {fd}: unreachable cwd: {o:?}"
            );
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
    let o = rt.exec(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "ls -l /proc/1/fd/ 2>&1; echo end",
    ]);
    o.ok();
    assert!(o.stdout.contains("end"), "{o:?}");
    if is_runc() {
        return; // runc differs: its waiting init's fds are readable from the container
    }
    assert!(
        !o.stdout.contains(" -> "),
        "init fds reachable from the container: {o:?}"
    );
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
    assert!(
        std::fs::read_dir(&victim).unwrap().next().is_none(),
        "the mount landed on the host dir"
    );
    assert!(
        !std::path::Path::new("/tmp/hull-escape").exists(),
        "../ escaped the rootfs"
    );
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "host mount table changed"
    );
}

/// Without `mount` in linux.namespaces the init chroots into the rootfs;
/// `exec` must enter that same root, not stay at the host's `/`.
#[test]
fn exec_without_a_mount_namespace_stays_in_the_container_root() {
    require_root!();
    let rt = Runtime::new("exec_chroot");
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    b.remove_namespace("mount");
    // Masks need a mount namespace of their own.
    b.linux()["maskedPaths"] = json!([]);
    b.linux()["readonlyPaths"] = json!([]);
    b.args(&["hull-probe", "sleep", "60"]);
    let names = |dir: &std::path::Path| -> std::collections::BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let inside = names(&root);
    let host_only: Vec<String> = names(std::path::Path::new("/"))
        .difference(&inside)
        .cloned()
        .collect();
    assert!(
        !host_only.is_empty(),
        "the host's / holds nothing the rootfs lacks: this test could not tell them apart"
    );
    let marker = format!(".hull-marker-{}", b.id);
    assert!(inside.contains(&marker));

    rt.create(&b).ok();
    rt.start(&b.id).ok();
    for args in [
        &["hull-probe", "ls", "/"][..],
        &["sh", "-c", "cd / && hull-probe ls ."][..],
    ] {
        let mut cmd = vec!["exec", b.id.as_str()];
        cmd.extend_from_slice(args);
        let o = rt.exec(&cmd);
        o.ok();
        let seen: Vec<String> = o.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect();
        assert!(
            seen.contains(&marker),
            "{args:?}: exec does not see the container's root: {seen:?}"
        );
        for h in &host_only {
            assert!(
                !seen.contains(h),
                "{args:?}: exec sees the host's /{h}: {seen:?}"
            );
        }
    }
}

/// CVE-2025-52881: exec writes /proc files (here oom_score_adj) after
/// joining the container's mount namespace. A container that can mount
/// replaces /proc with a tree whose `self/oom_score_adj` leads to a file
/// of its choosing; the write must still reach the real procfs file.
#[test]
fn exec_writes_to_proc_ignore_the_containers_proc_mounts() {
    require_root!();
    let rt = Runtime::new("exec_proc_redirect");
    let mut b = rt.bundle();
    let seen = b.host_dir("seen");
    std::fs::write(seen.join("target"), "").unwrap();
    b.bind(&seen, "/seen");
    b.process()["oomScoreAdj"] = json!(321);
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL"]);
    for set in ["bounding", "effective", "permitted"] {
        b.process()["capabilities"][set] = caps.clone();
    }
    b.linux()["readonlyPaths"] = json!([]);
    b.linux()["maskedPaths"] = json!([]);
    // The fake /proc: self -> /fake, /fake/oom_score_adj -> /seen/target.
    b.args(&[
        "sh",
        "-c",
        "mkdir -p /fake && ln -sf /seen/target /fake/oom_score_adj && ln -sf /seen/target /fake/setgroups && \
         mount -t tmpfs fake /proc && ln -s /fake /proc/self && touch /seen/ready && exec sleep 60",
    ]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.join("ready").exists() {
        assert!(
            Instant::now() < deadline,
            "the container never replaced its /proc: {}",
            rt.container_stderr(&b.id)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = rt.exec(&["exec", &b.id, "cat", "/seen/target"]);
    let target = std::fs::read_to_string(seen.join("target")).unwrap();
    assert_eq!(
        target, "",
        "exec wrote into the file the container's /proc pointed at: {o}"
    );
    o.ok();
}
