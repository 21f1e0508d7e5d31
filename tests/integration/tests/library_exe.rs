//! The library on its own (no hull CLI): this program embeds libcontainer
//! like an engine would, from a writable binary, which a container must
//! never reach for writing (CVE-2019-5736). It also checks that exec leaves the caller's
//! pid_for_children alone. `harness = false`: `main` is the program, and it
//! stays single-threaded, so create and exec fork directly.

mod embed;

use std::{os::unix::fs::MetadataExt, path::Path};

use embed::*;
use hull_integration::*;
use libcontainer::{Container, ExecOptions};

/// Makes this program, when the kernel runs it inside a container through
/// /proc/self/exe, stay there as the attacker's target.
const HOLD: &str = "--hold-as-attack-target";

fn main() {
    if std::env::args().any(|a| a == HOLD) {
        loop {
            // SAFETY: pause only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    if !root_or_skip("library_exe") {
        return;
    }
    fail_if_hung_after(600);
    run_tests(&[
        (
            "exec_cannot_make_the_callers_binary_writable",
            exec_cannot_make_the_callers_binary_writable as fn(),
        ),
        (
            "init_cannot_make_the_callers_binary_writable",
            init_cannot_make_the_callers_binary_writable,
        ),
        (
            "exec_restores_the_callers_pid_for_children",
            exec_restores_the_callers_pid_for_children,
        ),
    ]);
}

/// This program's binary: (dev, ino) and a digest of its content.
fn caller_binary() -> (u64, u64, u64) {
    use std::hash::{Hash, Hasher};
    let exe = std::env::current_exe().unwrap();
    let md = std::fs::metadata(&exe).unwrap();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(&exe).unwrap().hash(&mut h);
    (md.dev(), md.ino(), h.finish())
}

/// A private rootfs in which this very binary could run (its libraries
/// copied in), as an attacker preparing the image would make it.
fn attack_bundle(rt: &Runtime) -> Bundle {
    let mut b = rt.bundle();
    let rootfs = b.private_rootfs();
    copy_libraries(&std::env::current_exe().unwrap(), &rootfs);
    std::fs::write(rootfs.join("attack"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        rootfs.join("attack"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b
}

/// From inside the container: every process's exe, opened O_PATH and
/// reopened for writing through /proc/self/fd (the probe's `exes`).
fn scan_exes(c: &Container, rootfs: &Path) -> Vec<Value> {
    let _ = std::fs::remove_file(rootfs.join("exes.json"));
    let p = c
        .exec(ExecOptions {
            args: vec![
                "sh".into(),
                "-c".into(),
                "hull-probe exes > /exes.json".into(),
            ],
            ..Default::default()
        })
        .expect("exec the probe");
    assert_eq!(p.wait().expect("wait for the probe").code, Some(0));
    let raw = std::fs::read_to_string(rootfs.join("exes.json")).expect("the probe's report");
    let v = parse_probe(&raw).unwrap_or_else(|| panic!("no JSON from the probe: {raw}"));
    v["exes"].as_array().cloned().unwrap_or_default()
}

/// No process of the container may hold a writable path to this binary.
fn assert_no_writable_caller(exes: &[Value], (dev, ino, _): (u64, u64, u64)) {
    assert!(
        exes.iter().any(|e| e["pid"] == 1 && e["ino"].is_u64()),
        "the scan did not see the init's exe: {exes:?}"
    );
    for e in exes.iter().filter(|e| e["dev"] == dev && e["ino"] == ino) {
        assert!(
            e["ro"] == true && e["write_errno"] == libc::EROFS,
            "container process {} runs the caller's binary and can reopen it for writing once it is no longer busy: {e}",
            e["pid"]
        );
    }
}

/// `exec` of `/proc/self/exe`: the process the library forked execs while
/// its /proc/self/exe is the caller's binary, unless the library protects it.
fn exec_cannot_make_the_callers_binary_writable() {
    let rt = Runtime::new("lib_exe_exec");
    let mut b = attack_bundle(&rt);
    let rootfs = b.rootfs_path();
    b.args(&["hull-probe", "sleep", "600"]);
    let before = caller_binary();
    let mut c = create(&rt, &b).expect("create");
    c.start().expect("start");
    let attack = c
        .exec(ExecOptions {
            args: vec!["/proc/self/exe".into(), HOLD.into()],
            ..Default::default()
        })
        .expect("exec /proc/self/exe");
    // exec returned: the process has replaced itself. With the old library
    // it now runs this binary, held by HOLD.
    assert_no_writable_caller(&scan_exes(&c, &rootfs), before);
    // The exec stub ran in its place, found no program it was told about
    // (the kernel ran it again for /proc/self/exe) and exited 127.
    assert_eq!(attack.wait().expect("wait").code, Some(127));
    assert_eq!(caller_binary(), before, "the caller's binary changed");
    c.delete(true).expect("delete");
}

/// The init's program is a script whose interpreter is /proc/self/exe:
/// the kernel resolves it during the init's own execve.
fn init_cannot_make_the_callers_binary_writable() {
    let rt = Runtime::new("lib_exe_init");
    let mut b = attack_bundle(&rt);
    let rootfs = b.rootfs_path();
    b.args(&["/attack", HOLD]);
    let before = caller_binary();
    let mut c = create(&rt, &b).expect("create");
    c.start().expect("start");
    // With the old library the init now runs this binary. Protected, it
    // exits at once; the exec then finds no container to enter.
    let loaded = Container::load(&rt.root, &b.id).expect("load");
    if loaded.status() == libcontainer::Status::Running {
        if let Ok(p) = loaded.exec(ExecOptions {
            args: vec![
                "sh".into(),
                "-c".into(),
                "hull-probe exes > /exes.json".into(),
            ],
            ..Default::default()
        }) {
            let _ = p.wait();
            if let Some(v) = std::fs::read_to_string(rootfs.join("exes.json"))
                .ok()
                .and_then(|r| parse_probe(&r))
            {
                let exes = v["exes"].as_array().cloned().unwrap_or_default();
                for e in exes
                    .iter()
                    .filter(|e| e["dev"] == before.0 && e["ino"] == before.1)
                {
                    assert!(
                        e["ro"] == true && e["write_errno"] == libc::EROFS,
                        "the init runs the caller's binary, writable: {e}"
                    );
                }
            }
        }
    }
    assert_eq!(
        c.wait().expect("wait for the init").code,
        Some(127),
        "the init did not end in the exec stub"
    );
    assert_eq!(caller_binary(), before, "the caller's binary changed");
    c.delete(true).expect("delete");
}

/// exec enters the container's pid namespace through the calling thread's
/// pid_for_children; the caller's next fork must not land there.
fn exec_restores_the_callers_pid_for_children() {
    let rt = Runtime::new("lib_exe_pidns");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "600"]);
    let before = pid_for_children();
    let mut c = create(&rt, &b).expect("create");
    c.start().expect("start");
    let p = c
        .exec(ExecOptions {
            args: vec!["hull-probe".into(), "exit".into(), "3".into()],
            ..Default::default()
        })
        .expect("exec");
    assert_eq!(p.wait().expect("wait").code, Some(3));
    assert_eq!(pid_for_children(), before, "after a successful exec");
    // Fails in the child, after the fork.
    let e = c
        .exec(ExecOptions {
            args: vec!["/no/such/program".into()],
            ..Default::default()
        })
        .err()
        .expect("exec of a missing program");
    assert!(e.to_string().contains("/no/such/program"), "{e}");
    assert_eq!(
        pid_for_children(),
        before,
        "after an exec that failed in the child"
    );
    // Fails in the parent, before the fork: a detached terminal needs a
    // console socket.
    let e = c
        .exec(ExecOptions {
            args: vec!["true".into()],
            tty: true,
            detach: true,
            ..Default::default()
        })
        .err()
        .expect("exec --tty -d without a console socket");
    assert!(e.to_string().contains("console"), "{e}");
    assert_eq!(
        pid_for_children(),
        before,
        "after an exec that failed before forking"
    );
    // And the caller's own children are born in its pid namespace.
    let out = std::process::Command::new("readlink")
        .arg("/proc/self/ns/pid")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), host_ns("pid"));
    c.delete(true).expect("delete");
}
