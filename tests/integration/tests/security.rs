//! Attacks from runc's CVE history, tried against hull.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use hull_integration::*;
use serde_json::{json, Value};

/// A private copy of hull on a writable filesystem (/tmp), as installs
/// usually are, so that the CVE-2019-5736 protections are what keeps the
/// binary safe (a read-only mount would do it alone). Private, too, because
/// other tests running the shared binary would turn a write open into
/// ETXTBSY for reasons of their own. Returns its path and sha256.
fn writable_hull(rt: &Runtime) -> (PathBuf, String) {
    let private = rt.base.join("bin").join("hull");
    std::fs::create_dir_all(private.parent().unwrap()).unwrap();
    std::fs::copy(hull_bin(), &private).unwrap();
    let ro = nix_statvfs_ro(private.to_str().unwrap());
    assert!(!ro, "{} is on a read-only mount", private.display());
    // A test thread forking meanwhile may still hold the copy's write fd
    // (until its child execs): exec then gives ETXTBSY, so try again. Once
    // one exec succeeds, no write fd is left anywhere.
    for tries in 0.. {
        match std::process::Command::new(&private)
            .arg("--version")
            .output()
        {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                std::thread::sleep(Duration::from_millis(20))
            }
            r => {
                assert!(r.expect("run the private copy of hull").status.success());
                break;
            }
        }
    }
    let sum = sha256(&private);
    (private, sum)
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

fn sha256(p: &std::path::Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    assert!(o.status.success(), "sha256sum {}", p.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A container that shares the host's pid namespace, running as root with
/// every capability the runtime has: all of this test's bounding set but
/// CAP_SYS_PTRACE, which the runtime is started without (`no_ptrace`).
/// The kernel lets a process open another's /proc/PID/{exe,mem,fd} when
/// they share a uid and its capabilities cover the other's; so here only
/// the runtime being non-dumpable stands in the way (with default caps,
/// fewer than root's, the kernel would refuse anyway and prove nothing).
fn pid_sharing_attacker(rt: &Runtime) -> (Bundle, u64) {
    let mut b = rt.bundle();
    b.remove_namespace("pid");
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = st
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("CapBnd");
    let ptrace = cap_bit("CAP_SYS_PTRACE");
    let caps: Vec<&str> = CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u32 != ptrace && bnd & (1u64 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    for set in ["bounding", "effective", "permitted"] {
        b.process()["capabilities"][set] = json!(caps);
    }
    (b, cap_mask(&caps))
}

/// Starts the runtime without CAP_SYS_PTRACE in its bounding set, so that
/// as root its permitted set is no more than the attacker's.
fn no_ptrace(c: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let bit = cap_bit("CAP_SYS_PTRACE") as libc::c_ulong;
    // SAFETY: prctl only, between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if libc::prctl(libc::PR_CAPBSET_DROP, bit, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Checks the probe's `attack-runtime` report: it found the waiting
/// runtime (the private copy), whose capabilities the attacker covers, and
/// every way to its binary, memory and fds was refused.
#[track_caller]
fn assert_runtime_unreachable(o: &Output, hull: &std::path::Path, attacker_caps: u64) {
    let v = o.json();
    let targets = v["targets"].as_array().cloned().unwrap_or_default();
    let hull = hull.to_string_lossy();
    let runtime: Vec<&Value> = targets.iter().filter(|t| t["argv0"] == *hull).collect();
    assert!(
        !runtime.is_empty(),
        "the container did not find the waiting runtime: {o}"
    );
    for t in runtime {
        let prm = t["cap_prm"]
            .as_str()
            .and_then(|p| u64::from_str_radix(p, 16).ok())
            .expect("the runtime's CapPrm");
        assert_eq!(
            prm & !attacker_caps,
            0,
            "the runtime holds capabilities the attacker lacks, so the kernel refuses for that reason: the test proves nothing: {t}"
        );
        for k in ["exe_rdonly", "exe_wronly", "exe_path", "mem", "fd0", "cwd"] {
            let e = t[k].as_i64().unwrap_or(0) as i32;
            assert!(
                e == libc::EACCES || e == libc::EPERM,
                "{k}: the container reached the waiting runtime (errno {e}, 0 = opened): {t}"
            );
        }
    }
}

/// CVE-2019-5736 against the waiting `hull run`: its container shares the
/// host's pid namespace, finds the `run` process and opens its
/// /proc/PID/exe (to overwrite hull once it exits), /proc/PID/mem and fds.
/// To be started without CAP_SYS_PTRACE, hull must not need it: with a
/// mount namespace it opens the non-dumpable init's /proc/PID/root for
/// mount sources, which takes it. So the container has no mount namespace
/// either and chroots into its rootfs, where the test's own private mount
/// namespace (which hull and the container share) has a /proc.
#[test]
fn waiting_run_is_unreachable_from_a_pid_sharing_container() {
    require_root!();
    if is_runc() {
        return; // runc 1.1 runs from a memfd clone; its waiting process differs
    }
    let rt = Runtime::new("cve_5736_run");
    let (hull, sum) = writable_hull(&rt);
    let (mut b, caps) = pid_sharing_attacker(&rt);
    let rootfs = b.private_rootfs();
    b.remove_namespace("mount");
    // Masks need a mount namespace of their own.
    b.linux()["maskedPaths"] = json!([]);
    b.linux()["readonlyPaths"] = json!([]);
    b.args(&["hull-probe", "attack-runtime", "run", &b.id.clone()]);
    b.write_config();
    rt.track(&b.id);
    let mut c = std::process::Command::new("unshare");
    c.args(["-m", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount -t proc proc \"$1/proc\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(&rootfs)
        .arg(&hull)
        .arg("--root")
        .arg(&rt.root)
        .args(["run", "--bundle"])
        .arg(&b.dir)
        .arg(&b.id)
        .stdin(std::process::Stdio::null());
    no_ptrace(&mut c);
    let out = c.output().expect("unshare");
    let o = Output {
        cmd: format!("{c:?}"),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    o.ok();
    assert_runtime_unreachable(&o, &hull, caps);
    assert_eq!(sha256(&hull), sum, "the hull binary changed");
}

/// The same against a waiting `hull exec`, from the process it runs in a
/// container that shares the host's pid namespace.
#[test]
fn waiting_exec_is_unreachable_from_a_pid_sharing_container() {
    require_root!();
    if is_runc() {
        return; // as above
    }
    let rt = Runtime::new("cve_5736_exec");
    let (hull, sum) = writable_hull(&rt);
    let rt = rt.with_bin(hull.clone());
    let (mut b, caps) = pid_sharing_attacker(&rt);
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let id = b.id.as_str();
    let o = rt.exec_adjusted(
        &["exec", id, "hull-probe", "attack-runtime", "exec", id],
        no_ptrace,
    );
    o.ok();
    assert_runtime_unreachable(&o, &hull, caps);
    rt.delete_force(id).ok();
    assert_eq!(sha256(&hull), sum, "the hull binary changed");
}

/// A container program that is /proc/self/exe (or a script it
/// interprets) is resolved while the container's process still runs the
/// runtime's binary; the exec stub comes first, so the kernel finds the
/// stub there, which exits 127 without a word on an argv the runtime did
/// not give it. hull's binary would have run instead: in this rootfs the
/// dynamic loader stops it (also 127, saying so on stderr), elsewhere it
/// prints its usage.
#[track_caller]
fn assert_ran_the_stub(o: &Output, who: &str) {
    let foreign: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| !l.starts_with("hull: warning:"))
        .collect();
    assert!(
        o.code == 127 && foreign.is_empty(),
        "{who}: /proc/self/exe was not the exec stub ({foreign:?}): {o}"
    );
}

#[test]
fn proc_self_exe_in_the_container_is_the_exec_stub() {
    require_root!();
    if is_runc() {
        return; // runc 1.1 runs from a memfd clone of itself instead
    }
    let rt = Runtime::new("exe_stub");
    let (hull, sum) = writable_hull(&rt);
    let rt = rt.with_bin(hull.clone());
    let mut b = rt.bundle();
    b.args(&["/proc/self/exe"]);
    let o = rt.run(&b);
    assert_ran_the_stub(&o, "the init");

    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let o = rt.exec(&["exec", &b.id, "/proc/self/exe"]);
    assert_ran_the_stub(&o, "exec");
    rt.delete_force(&b.id).ok();
    assert_eq!(sha256(&hull), sum, "the hull binary changed");
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

/// CVE-2024-21626 through the program's path: `args[0]` such as
/// `/proc/self/fd/N/../../..<host path>` or `/proc/self/fd/N/1/root/..`
/// would reach a host directory the runtime still holds (its state dir,
/// its /proc, the cgroupfs) while execve resolves it. With hull's binary
/// writable, the exec stub resolves the path after its own exec, when those
/// fds are gone; on a read-only mount there is no stub, and hull closes
/// them before the execve. Both are tried, with the host's path of the
/// probe as the target: it printing is an escape.
#[test]
fn exec_path_through_proc_self_fd_stays_inside() {
    require_root!();
    if is_runc() {
        return; // about hull's two exec paths
    }
    let rt = Runtime::new("cve_21626_exec");
    let (writable, _) = writable_hull(&rt);
    // A wrapper that runs the same copy from a read-only bind of its dir,
    // in a mount namespace of its own.
    let dir = writable.parent().unwrap().to_path_buf();
    let wrapper = rt.base.join("hull-ro");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && exec \"$0/hull\" \"$@\"' {} \"$@\"\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let probe = probe_bin();
    let host_probe = probe.to_str().unwrap().trim_start_matches('/');
    let mut escaped = Vec::new();
    let mut refused = 0;
    for (how, bin) in [("stub", writable.clone()), ("read-only", wrapper)] {
        let rt = Runtime::new("cve_21626_exec").with_bin(bin);
        for fd in 3..40 {
            for path in [
                format!("/proc/self/fd/{fd}/../../../../../../../../../../{host_probe}"),
                format!("/proc/self/fd/{fd}/1/root/{host_probe}"),
            ] {
                let mut b = rt.bundle();
                b.args(&[&path, "echo", "ESCAPED"]);
                let o = rt.run(&b);
                if o.stdout.contains("ESCAPED") {
                    escaped.push(format!("{how}: {path}"));
                } else if !o.success() {
                    refused += 1;
                }
            }
        }
    }
    assert!(escaped.is_empty(), "ran a host binary: {escaped:#?}");
    // Every one failed to exec (none ran anything else by chance).
    assert_eq!(refused, 2 * 37 * 2, "some path ran without printing");
}

/// The same through a startContainer hook: its path is resolved in the
/// container, so the image decides where `/hook` leads, and hull runs it
/// from the init, which held the runtime's directories open.
#[test]
fn start_hook_through_proc_self_fd_stays_inside() {
    require_root!();
    if is_runc() {
        return; // about hull's init
    }
    let rt = Runtime::new("cve_21626_hook");
    let probe = probe_bin();
    let host_probe = probe.to_str().unwrap().trim_start_matches('/');
    let mut escaped = Vec::new();
    for fd in 3..40 {
        let mut b = rt.bundle();
        let rootfs = b.private_rootfs();
        let link = format!("/proc/self/fd/{fd}/../../../../../../../../../../{host_probe}");
        std::os::unix::fs::symlink(&link, rootfs.join("hook")).unwrap();
        b.add_hook(
            "startContainer",
            json!({"path": "/hook", "args": ["hull-probe", "echo", "ESCAPED"]}),
        );
        b.args(&["true"]);
        let o = rt.run(&b);
        if o.stdout.contains("ESCAPED") || o.stderr.contains("ESCAPED") {
            escaped.push(fd);
        }
    }
    assert!(
        escaped.is_empty(),
        "a hook ran a host binary through fds {escaped:?}"
    );
}

/// The same through the container's /etc/passwd, which hull reads as root
/// (for HOME) while it holds host directories: a symlink from the image
/// through /proc/self/fd/N must not reach a host file.
#[test]
fn passwd_through_proc_self_fd_stays_inside() {
    require_root!();
    let rt = Runtime::new("cve_21626_passwd");
    let host_passwd = rt.base.join("host-passwd");
    std::fs::write(&host_passwd, "root:x:0:0:root:/escaped-home:/bin/sh\n").unwrap();
    let target = host_passwd
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let mut escaped = Vec::new();
    for fd in 3..40 {
        let mut b = rt.bundle();
        let rootfs = b.private_rootfs();
        let etc = rootfs.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let _ = std::fs::remove_file(etc.join("passwd"));
        let link = format!("/proc/self/fd/{fd}/../../../../../../../../../../{target}");
        std::os::unix::fs::symlink(&link, etc.join("passwd")).unwrap();
        b.args(&["sh", "-c", "echo HOME=$HOME"]);
        let o = rt.run(&b);
        o.ok();
        if o.stdout.contains("escaped-home") {
            escaped.push(fd);
        }
    }
    assert!(
        escaped.is_empty(),
        "HOME came from a host file through fds {escaped:?}"
    );
}

/// The init waits for `start` holding host fds; a process exec'd into the
/// container meanwhile must not reach them through /proc/<init>/fd.
#[test]
fn created_init_is_not_dumpable() {
    require_root!();
    let rt = Runtime::new("nodump");
    let (hull, _) = writable_hull(&rt);
    let rt = rt.with_bin(hull.clone());
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
    // The waiting init still runs hull's binary (the stub comes at start):
    // its /proc/1/exe must not open, for reading or as O_PATH.
    let o = rt.exec(&["exec", &b.id, "hull-probe", "exes"]);
    let exes = o.ok().json()["exes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let init = exes
        .iter()
        .find(|e| e["pid"] == 1)
        .expect("pid 1 in the scan");
    assert_eq!(
        init["open_errno"],
        libc::EACCES,
        "the created init's exe, {}, is reachable: {o}",
        hull.display()
    );
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
    let before = host_mount_points();
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
    // Only the targets matter: other software on the host may mount and
    // unmount elsewhere while the test runs.
    let victim_s = victim.to_string_lossy().into_owned();
    let landed: Vec<String> = host_mount_points()
        .difference(&before)
        .filter(|m| {
            m.starts_with(&victim_s) || m.starts_with("/tmp/hull-escape") || m.as_str() == "/tmp"
        })
        .cloned()
        .collect();
    assert!(landed.is_empty(), "mounts landed on the host: {landed:?}");
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

/// The host's /proc/sys/kernel/core_pattern, put back on drop if an attack
/// changed it (so a failing run on a vulnerable runtime leaves the host as
/// it was).
struct CorePattern(String);

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

impl CorePattern {
    fn save() -> CorePattern {
        CorePattern(std::fs::read_to_string(CORE_PATTERN).unwrap())
    }
    /// The new value, if it changed.
    fn changed(&self) -> Option<String> {
        let now = std::fs::read_to_string(CORE_PATTERN).unwrap();
        (now != self.0).then_some(now)
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if self.changed().is_some() {
            std::fs::write(CORE_PATTERN, self.0.trim_end()).unwrap();
        }
    }
}

/// What the container writes at the masked path: harmless as a core
/// pattern, recognisable if it ever reaches the host.
const ATTACK_SCRIPT: &str = "hull-probe stat /proc/keys; hull-probe read /proc/keys; hull-probe write /proc/keys core.hull-attack";

fn mknod_char(path: &std::path::Path, major: u32, minor: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mknod reads a valid NUL-terminated path.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(major, minor),
        )
    };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The container's /dev becomes a bind of the host directory `dev` (so the
/// runtime makes no devices of its own there); `/dev/pts` stays when
/// `keep_pts`.
fn dev_from_host_dir(b: &mut Bundle, dev: &std::path::Path, keep_pts: bool) {
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| {
        let d = m["destination"].as_str().unwrap_or("");
        !(d == "/dev" || (d.starts_with("/dev/") && !(keep_pts && d == "/dev/pts")))
    });
    let at = mounts
        .iter()
        .position(|m| m["destination"] == "/dev/pts")
        .unwrap_or(mounts.len());
    mounts.insert(at, json!({"destination": "/dev", "type": "bind", "source": dev.to_string_lossy(), "options": ["rbind", "rw"]}));
    b.linux()["maskedPaths"] = json!(["/proc/keys"]);
}

/// Checks one run of ATTACK_SCRIPT: either the mask held (/proc/keys is the
/// null device and reads empty) or create refused, naming /dev/null.
#[track_caller]
fn assert_masked_or_refused(o: &Output, what: &str) {
    if o.success() {
        let v = o.json_all();
        assert_eq!(v.len(), 3, "{what}: {o}");
        let st = &v[0]["stat"]["/proc/keys"];
        assert_eq!(
            (
                st["type"].as_str(),
                st["major"].as_u64(),
                st["minor"].as_u64()
            ),
            (Some("char"), Some(1), Some(3)),
            "{what}: /proc/keys is not masked by the null device: {o}"
        );
        assert_eq!(
            v[1]["content"], "",
            "{what}: /proc/keys shows content through the mask: {o}"
        );
    } else {
        assert!(
            o.stderr.contains("/dev/null"),
            "{what}: create failed without naming /dev/null: {o}"
        );
    }
}

/// CVE-2025-31133: a /dev/null that is a symlink to a procfs file (or any
/// other file) must never be what a masked path is bound from.
#[test]
fn masked_paths_are_never_bound_from_a_planted_dev_null() {
    require_root!();
    let rt = Runtime::new("planted_null");
    let host = CorePattern::save();
    for planted in ["symlink to core_pattern", "regular file"] {
        let mut b = rt.bundle();
        let dev = b.host_dir("dev");
        if planted == "regular file" {
            std::fs::write(dev.join("null"), "planted\n").unwrap();
        } else {
            std::os::unix::fs::symlink(CORE_PATTERN, dev.join("null")).unwrap();
        }
        dev_from_host_dir(&mut b, &dev, false);
        b.args(&["sh", "-c", ATTACK_SCRIPT]);
        let o = rt.run(&b);
        assert_eq!(
            host.changed(),
            None,
            "{planted}: the host's core_pattern was rewritten through the mask: {o}"
        );
        assert_masked_or_refused(&o, planted);
        if !is_runc() {
            assert!(
                o.failed().stderr.contains("linux.maskedPaths"),
                "{planted}: {o}"
            );
        }
    }
}

/// CVE-2025-31133 as a race: a second container that shares the directory
/// bound at the first one's /dev keeps swapping /dev/null between the null
/// device and a symlink to core_pattern while the first is created, again
/// and again. Every create must mask with the real null device or refuse.
#[test]
fn masked_paths_hold_while_another_container_swaps_dev_null() {
    require_root!();
    const ROUNDS: usize = 200;
    let rt = Runtime::new("null_race");
    let host = CorePattern::save();
    let mut attacker = rt.bundle();
    let dev = attacker.host_dir("shared-dev");
    mknod_char(&dev.join("good"), 1, 3);
    mknod_char(&dev.join("null"), 1, 3);
    attacker.bind(&dev, "/shared");
    let swap = format!(
        "while :; do ln -f /shared/good /shared/t; mv -f /shared/t /shared/null; \
         ln -sf {CORE_PATTERN} /shared/t; mv -f /shared/t /shared/null; done"
    );
    attacker.args(&["sh", "-c", &swap]);
    rt.create(&attacker).ok();
    rt.start(&attacker.id).ok();

    let mut victim = rt.bundle();
    dev_from_host_dir(&mut victim, &dev, false);
    victim.args(&["sh", "-c", ATTACK_SCRIPT]);
    let (mut masked, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let o = rt.run(&victim);
        assert_eq!(
            host.changed(),
            None,
            "round {round}: the host's core_pattern was rewritten through the mask: {o}"
        );
        assert_masked_or_refused(&o, &format!("round {round}"));
        if o.success() {
            masked += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!(
        "{ROUNDS} creates under the swap: {masked} masked with the null device, {refused} refused"
    );
    rt.kill(&attacker.id, Some("KILL")).ok();
}

/// CVE-2025-52565: the pty goes onto /dev/console by its fd, never by the
/// /dev/pts/N path its number names, and onto a /dev/console that is not
/// a planted symlink.
#[test]
fn console_is_bound_from_the_pty_itself() {
    require_root!();
    let rt = Runtime::new("console_by_fd");
    let host = CorePattern::save();

    // /dev/pts is a directory the image controls, holding a ptmx node and
    // symlinks where the pty numbers point; the real devpts instance sits
    // at /dev/pts/pts, where the kernel looks for it from that ptmx.
    let mut b = rt.bundle();
    let pts = b.host_dir("pts");
    mknod_char(&pts.join("ptmx"), 5, 2);
    for n in 0..8 {
        std::os::unix::fs::symlink(CORE_PATTERN, pts.join(n.to_string())).unwrap();
    }
    let mounts = b.spec["mounts"].as_array_mut().unwrap();
    let at = mounts
        .iter()
        .position(|m| m["destination"] == "/dev/pts")
        .unwrap();
    let devpts = mounts.remove(at);
    mounts.insert(at, json!({"destination": "/dev/pts", "type": "bind", "source": pts.to_string_lossy(), "options": ["rbind", "rw"]}));
    let mut devpts = devpts;
    devpts["destination"] = json!("/dev/pts/pts");
    mounts.insert(at + 1, devpts);
    b.process()["terminal"] = json!(true);
    b.args(&["hull-probe", "stat", "/dev/console"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(host.changed(), None, "the host's core_pattern changed: {o}");
    let st = &o.json()["stat"]["/dev/console"];
    assert_eq!(
        st["type"], "char",
        "/dev/console was bound from the path the pty number names: {o}"
    );
    assert!(
        (136..=143).contains(&st["major"].as_u64().unwrap()),
        "/dev/console is not a pty: {o}"
    );

    // A /dev/console planted as a symlink (here to a file shared with the
    // host) is refused, not followed.
    let mut b = rt.bundle();
    let dev = b.host_dir("dev");
    let seen = b.host_dir("seen");
    std::fs::write(seen.join("victim"), "").unwrap();
    b.bind(&seen, "/seen");
    mknod_char(&dev.join("null"), 1, 3);
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).unwrap();
    std::os::unix::fs::symlink("/seen/victim", dev.join("console")).unwrap();
    dev_from_host_dir(&mut b, &dev, true);
    b.linux()["maskedPaths"] = json!([]);
    b.process()["terminal"] = json!(true);
    b.args(&["hull-probe", "stat", "/seen/victim"]);
    let o = rt.run(&b);
    if o.success() {
        assert_eq!(
            o.json()["stat"]["/seen/victim"]["type"],
            "file",
            "the pty was bound through the planted /dev/console: {o}"
        );
    } else {
        assert!(
            o.stderr.contains("/dev/console"),
            "create failed without naming /dev/console: {o}"
        );
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

/// hull in a user namespace cannot enforce linux.resources.devices: neither
/// the devices cgroup nor an eBPF device program can be set up there. Where
/// that namespace maps the host's root (root's `unshare --map-root-user`),
/// rules that restrict anything are refused, naming the field, before
/// anything is made: runc and crun drop them with a warning, leaving every
/// device node that reaches the container open to a root with the host
/// root's access. (Without the host's root mapped, as under rootless
/// podman, they are dropped with a warning: tests/rootless.rs.)
#[test]
fn device_rules_in_a_user_namespace_are_refused() {
    require_root!();
    if is_runc() {
        return; // runc drops the rules; this is hull's own stricter rule
    }
    let rt = Runtime::new("devices_userns");
    let mut b = rt.bundle(); // base spec: deny all
                             // devpts' gid=5 is not mapped in a 0→0 namespace (its own error).
    for m in b.spec["mounts"].as_array_mut().unwrap() {
        if let Some(o) = m["options"].as_array_mut() {
            o.retain(|o| o != "gid=5");
        }
    }
    b.write_config();
    let in_userns = |args: &[&str]| {
        let o = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--"])
            .arg(hull_bin())
            .arg("--root")
            .arg(&rt.root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("unshare");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let want = "linux.resources.devices: restricts device access, which cannot be enforced in a user namespace";
    let dir = b.dir.to_string_lossy().into_owned();
    let (code, err) = in_userns(&["check", "-b", &dir]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(want), "{err}");
    rt.track(&b.id);
    let (code, err) = in_userns(&["create", "-b", &dir, &b.id]);
    assert_ne!(
        code,
        Some(0),
        "create succeeded in a user namespace with unenforceable device rules"
    );
    assert!(err.contains(want), "{err}");
    assert!(!rt.state_dir(&b.id).exists(), "a state directory was made");
    assert!(rt.cgroup_dirs(&b).is_empty(), "cgroups were made");
    // Rules that restrict nothing need no enforcement.
    b.linux()["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
    b.write_config();
    let (code, err) = in_userns(&["check", "-b", &dir]);
    assert_eq!(code, Some(0), "{err}");
}

/// Whether the AppArmor LSM is active here (the runtime's own test).
fn apparmor_active() -> bool {
    std::path::Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with(b"Y"))
}

/// A refusal of process.apparmorProfile (runc 1.1 words it otherwise).
#[track_caller]
fn refused_naming_the_profile(o: &Output) {
    o.failed();
    if !is_runc() {
        assert!(
            o.stderr.contains("process.apparmorProfile")
                && o.stderr.contains("AppArmor is not enabled"),
            "{o}"
        );
    }
}

/// process.apparmorProfile where the AppArmor LSM is not active (as on
/// the development hosts): create and `exec --apparmor` are refused with
/// an error naming the field, so nothing runs unconfined in its place.
/// Where it is active, tests/vm/apparmor-tests.sh checks the profile from
/// inside containers.
#[test]
fn apparmor_profile_is_refused_where_apparmor_is_inactive() {
    require_root!();
    if apparmor_active() {
        eprintln!("note: AppArmor is active here; this refusal is for hosts without it (the guest test covers hosts with it)");
        return;
    }
    let rt = Runtime::new("apparmor_off");
    let mut b = rt.bundle();
    b.spec["process"]["apparmorProfile"] = json!("hull-test-profile");
    refused_naming_the_profile(&rt.create(&b));
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");

    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let o = rt.exec(&[
        "exec",
        "--apparmor",
        "hull-test-profile",
        &b.id,
        "hull-probe",
        "sleep",
        "0",
    ]);
    refused_naming_the_profile(&o);
    assert_eq!(
        rt.state_ok(&b.id)["status"],
        "running",
        "container untouched"
    );
    rt.delete_force(&b.id).ok();
}
