//! linux.seccomp from inside the container: the filter is loaded (Seccomp: 2),
//! denied syscalls fail with the configured errno, exec gets the same
//! filter, and SCMP_ACT_NOTIFY reaches a listener that answers for the kernel.

use std::os::{fd::AsRawFd, unix::net::UnixListener};

use hull_integration::*;
use serde_json::json;

fn deny_mkdir(errno: u32) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
    })
}

#[test]
fn filter_is_loaded_and_denies_with_errno() {
    require_root!();
    let rt = Runtime::new("seccomp_errno");
    let mut b = rt.bundle();
    b.linux()["seccomp"] = deny_mkdir(38);
    b.args(&["sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/denied; test -e /tmp/denied && echo CREATED; true"]);
    let o = rt.run(&b);
    o.ok();
    assert!(o.stdout.contains("Seccomp:\t2"), "{o:?}");
    assert!(!o.stdout.contains("CREATED"), "{o:?}");
    assert!(
        o.stderr.contains("Function not implemented"),
        "errno 38 expected: {o:?}"
    );
}

#[test]
fn control_without_filter_can_mkdir() {
    require_root!();
    let rt = Runtime::new("seccomp_ctl");
    let mut b = rt.bundle();
    b.args(&[
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/ok-$$ && echo CREATED; rmdir /tmp/ok-$$",
    ]);
    let o = rt.run(&b);
    o.ok();
    assert!(o.stdout.contains("Seccomp:\t0"), "{o:?}");
    assert!(o.stdout.contains("CREATED"), "{o:?}");
}

#[test]
fn exec_gets_the_containers_filter() {
    require_root!();
    let rt = Runtime::new("seccomp_exec");
    let mut b = rt.bundle();
    b.linux()["seccomp"] = deny_mkdir(1);
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let o = rt.exec(&[
        "exec",
        &b.id,
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/e || echo DENIED",
    ]);
    o.ok();
    assert!(
        o.stdout.contains("Seccomp:\t2") && o.stdout.contains("DENIED"),
        "{o:?}"
    );
}

#[test]
fn bad_profiles_are_refused_with_the_field() {
    require_root!();
    let rt = Runtime::new("seccomp_bad");
    let mut b = rt.bundle();
    b.linux()["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]});
    let o = rt.create(&b);
    o.failed();
    assert!(
        o.stderr.contains("linux.seccomp.syscalls[0].action"),
        "{}",
        o.stderr
    );
    let mut b = rt.bundle();
    b.linux()["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let o = rt.create(&b);
    o.failed();
    assert!(o.stderr.contains("listenerPath"), "{}", o.stderr);
    assert!(rt.list_ids().is_empty());
}

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}
#[repr(C)]
#[derive(Default)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

#[test]
fn notify_reaches_the_listener_which_answers() {
    require_root!();
    let rt = Runtime::new("seccomp_notify");
    let mut b = rt.bundle();
    let sock = b.dir.join("agent.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.linux()["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_string_lossy(),
        "listenerMetadata": "hull-test-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.args(&["sh", "-c", "mkdir /tmp/via-agent; echo rc=$?"]);
    let agent = std::thread::spawn(move || {
        let (state, fd) = accept_with_fd(&listener);
        let state = String::from_utf8_lossy(&state).into_owned();
        let mut req = Notif::default();
        // SAFETY: the ioctl fills a struct of the kernel's layout.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) };
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        // Refuse with ENOTTY, which mkdir(2) itself never returns.
        let mut resp = NotifResp {
            id: req.id,
            val: 0,
            error: -libc::ENOTTY,
            flags: 0,
        };
        // SAFETY: as above.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &mut resp) };
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        state
    });
    let o = rt.run(&b);
    let state = agent.join().unwrap();
    o.ok();
    let v: serde_json::Value =
        serde_json::from_str(&state).unwrap_or_else(|e| panic!("{e}: {state}"));
    assert_eq!(v["fds"], json!(["seccompFd"]));
    assert_eq!(v["metadata"], "hull-test-metadata");
    assert_eq!(v["state"]["id"], b.id.as_str());
    assert!(v["pid"].as_i64().unwrap() > 0);
    assert!(
        o.stderr.contains("Not a tty") || o.stderr.contains("Inappropriate ioctl"),
        "the agent's answer did not arrive: {o:?}"
    );
    assert!(o.stdout.contains("rc=1"), "{o:?}");
}
