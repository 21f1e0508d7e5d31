//! `exec` runs with the container's security context, and terminals reach
//! the caller through a console socket — both checked from inside.

use std::{io::Read, os::unix::net::UnixListener, time::Duration};

use hull_integration::*;
use serde_json::json;

fn running(rt: &Runtime, b: &mut Bundle) -> i32 {
    b.args(&["hull-probe", "sleep", "120"]);
    rt.create(b).ok();
    rt.start(&b.id).ok();
    rt.state_ok(&b.id)["pid"].as_i64().unwrap() as i32
}

fn exec_report(rt: &Runtime, id: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["exec"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[id, "hull-probe", "report"]);
    let o = rt.exec(&args);
    o.ok();
    parse_probe(&o.stdout).unwrap_or_else(|| panic!("no report in {:?}", o.stdout))
}

#[test]
fn exec_gets_the_containers_security_context() {
    require_root!();
    let rt = Runtime::new("exec_ctx");
    let mut b = rt.bundle();
    let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    b.process()["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5], "umask": 23});
    b.process()["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
    b.process()["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
    b.process()["noNewPrivileges"] = json!(true);
    let pid = running(&rt, &mut b);
    let r = exec_report(&rt, &b.id, &[]);
    assert_eq!(r["uid"]["effective"], 1000);
    assert_eq!(r["gid"]["effective"], 1000);
    assert_eq!(r["groups"], json!([5]));
    assert_eq!(r["umask"], "0027");
    assert_eq!(r["CapEff"], cap_hex(&caps).as_str());
    assert_eq!(r["CapBnd"], cap_hex(&caps).as_str());
    assert_eq!(r["CapAmb"], cap_hex(&caps).as_str());
    assert_eq!(r["NoNewPrivs"], 1);
    assert_eq!(r["rlimits"]["RLIMIT_NOFILE"], json!([256, 512]));
    // the same namespaces as the container's init, not the host's
    for ns in ["pid", "mnt", "net", "ipc", "uts"] {
        let init = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(r["namespaces"][ns], init.to_string_lossy().as_ref(), "{ns}");
        assert_ne!(r["namespaces"][ns], host_ns(ns).as_str(), "{ns}");
    }
    assert_eq!(r["hostname"], "hull-test");
    // and the container's cgroup
    let init_cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want: Vec<&str> = init_cg.lines().collect();
    assert_eq!(r["cgroup"], json!(want));
    // nothing of hull's leaks: stdio only
    let fds = fd_numbers(&r);
    assert_eq!(fds, vec![0, 1, 2], "{}", r["fds"]);
}

#[test]
fn exec_flags_override_and_exit_code_propagates() {
    require_root!();
    let rt = Runtime::new("exec_flags");
    let mut b = rt.bundle();
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    running(&rt, &mut b);
    let r = exec_report(&rt, &b.id, &["-u", "0:0", "--cwd", "/tmp", "-e", "FOO=bar"]);
    assert_eq!(r["uid"]["effective"], 0);
    assert_eq!(r["cwd"], "/tmp");
    assert!(
        r["env"].as_array().unwrap().iter().any(|e| e == "FOO=bar"),
        "{}",
        r["env"]
    );
    let o = rt.exec(&["exec", &b.id, "hull-probe", "exit", "7"]);
    assert_eq!(o.code, 7, "{o:?}");
}

#[test]
fn exec_failures_are_clear() {
    require_root!();
    let rt = Runtime::new("exec_fail");
    let mut b = rt.bundle();
    running(&rt, &mut b);
    let o = rt.exec(&["exec", &b.id, "no-such-binary"]);
    o.failed();
    assert!(o.stderr.contains("no-such-binary"), "{}", o.stderr);
    rt.kill(&b.id, Some("KILL")).ok();
    rt.wait_status(&b.id, "stopped", Duration::from_secs(10));
    rt.exec(&["exec", &b.id, "true"]).failed();
    rt.exec(&["exec", "no-such-container", "true"]).failed();
}

/// A console socket in the bundle and a thread that takes the pty master
/// sent to it and returns everything the terminal printed.
fn console_reader(b: &Bundle, name: &str) -> (String, std::thread::JoinHandle<String>) {
    let sock = b.dir.join(name);
    let listener = UnixListener::bind(&sock).unwrap();
    let reader = std::thread::spawn(move || {
        let (_, master) = accept_with_fd(&listener);
        let mut f = std::fs::File::from(master);
        let mut out = Vec::new();
        // EIO once the container's side of the pty is gone.
        let _ = f.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    (sock.to_string_lossy().into_owned(), reader)
}

/// The owner of the terminal, from the `tty-owner UID GID` line `sh` printed.
fn tty_owner(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix("tty-owner "))
        .unwrap_or_else(|| panic!("no tty-owner line on the terminal: {out:?}"))
}

const PRINT_TTY_OWNER: &str = "stat -L -c 'tty-owner %u %g' /proc/self/fd/0; ls -ln /dev/pts/";

/// A non-root process owns its terminal (runc's fixStdioPermissions), both
/// the container's own and one `exec -t` makes; the group stays the one the
/// devpts mount gives (gid=5 in runc's default spec), as in runc.
#[test]
fn a_non_root_user_owns_its_terminal() {
    require_root!();
    let rt = Runtime::new("tty_owner");
    let mut b = rt.bundle();
    b.process()["terminal"] = json!(true);
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    b.args(&[
        "sh",
        "-c",
        &format!("{PRINT_TTY_OWNER}; exec hull-probe sleep 120"),
    ]);
    let (s, reader) = console_reader(&b, "console.sock");
    rt.create_as(&b, &b.id, &["--console-socket", &s]).ok();
    rt.start(&b.id).ok();
    let (es, exec_reader) = console_reader(&b, "exec.sock");
    rt.exec(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        &es,
        "-u",
        "1000:1000",
        &b.id,
        "sh",
        "-c",
        PRINT_TTY_OWNER,
    ])
    .ok();
    let exec_out = exec_reader.join().unwrap();
    rt.kill(&b.id, Some("KILL")).ok();
    let out = reader.join().unwrap();
    assert_eq!(
        tty_owner(&out),
        "1000 5",
        "the container's terminal: {out:?}"
    );
    assert_eq!(
        tty_owner(&exec_out),
        "1000 5",
        "exec's terminal: {exec_out:?}"
    );
}

#[test]
fn console_socket_receives_the_pty_master() {
    require_root!();
    let rt = Runtime::new("console_sock");
    let mut b = rt.bundle();
    b.process()["terminal"] = json!(true);
    b.process()["consoleSize"] = json!({"height": 33, "width": 101});
    b.args(&["sh", "-c", "hull-probe fds; stty size; ls -l /dev/console"]);
    let (s, reader) = console_reader(&b, "console.sock");
    rt.create_as(&b, &b.id, &["--console-socket", &s]).ok();
    rt.start(&b.id).ok();
    let out = reader.join().unwrap();
    let fds =
        parse_probe(&out).unwrap_or_else(|| panic!("no probe output on the terminal: {out:?}"));
    for f in fds["fds"].as_array().unwrap().iter().take(3) {
        assert!(
            f["target"].as_str().unwrap().starts_with("/dev/pts/"),
            "stdio is not the pty: {}",
            fds["fds"]
        );
    }
    assert!(out.contains("33 101"), "consoleSize not applied: {out:?}");
    assert!(out.contains("136,"), "/dev/console is not a pty: {out:?}");
}

#[test]
fn terminal_without_console_socket_when_detached_is_an_error() {
    require_root!();
    let rt = Runtime::new("console_none");
    let mut b = rt.bundle();
    b.process()["terminal"] = json!(true);
    let o = rt.create(&b);
    o.failed();
    assert!(o.stderr.contains("console"), "{}", o.stderr);
    assert!(rt.list_ids().is_empty());
    assert!(rt.cgroup_dirs(&b).is_empty());
}

#[test]
fn detached_exec_outlives_the_runtime() {
    require_root!();
    let rt = Runtime::new("exec_detach");
    let mut b = rt.bundle();
    running(&rt, &mut b);
    rt.exec(&["exec", "-d", &b.id, "hull-probe", "sleep", "77"])
        .ok();
    // Engines (conmon, containerd's shim) exec detached and exit at once.
    std::thread::sleep(Duration::from_millis(300));
    let o = rt.exec(&["exec", &b.id, "ps"]);
    o.ok();
    assert!(
        o.stdout.contains("sleep 77"),
        "the detached process died with hull: {o:?}"
    );
}

#[test]
fn non_executable_program_fails_create_with_permission_denied() {
    require_root!();
    let rt = Runtime::new("exec_noexec");
    let mut b = rt.bundle();
    b.args(&["/etc/passwd"]);
    let o = rt.create(&b);
    o.failed();
    assert!(
        o.stderr.to_lowercase().contains("permission denied"),
        "{o:?}"
    );
    assert!(rt.list_ids().is_empty());
}

#[test]
fn exec_into_an_existing_sub_cgroup() {
    require_root!();
    let rt = Runtime::new("exec_subcg");
    let mut b = rt.bundle();
    running(&rt, &mut b);
    for dir in rt.cgroup_dirs(&b) {
        let sub = dir.join("sub");
        std::fs::create_dir(&sub).unwrap();
        // a new v1 cpuset cgroup is unusable until it has cpus and mems
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(dir.join(f)) {
                std::fs::write(sub.join(f), v.trim()).unwrap();
            }
        }
    }
    let o = rt.exec(&["exec", "--cgroup", "sub", &b.id, "cat", "/proc/self/cgroup"]);
    o.ok();
    for line in o.stdout.lines() {
        assert!(
            line.ends_with("/sub"),
            "not in the sub-cgroup: {line}\n{}",
            o.stdout
        );
    }
    if !o.stdout.lines().any(|l| l.contains(":memory:")) {
        return; // pure v2: controller:path is the v1 form
    }
    let o = rt.exec(&[
        "exec",
        "--cgroup",
        "memory:sub",
        &b.id,
        "cat",
        "/proc/self/cgroup",
    ]);
    o.ok();
    for line in o.stdout.lines() {
        assert_eq!(
            line.contains(":memory:"),
            line.ends_with("/sub"),
            "{}",
            o.stdout
        );
    }
    let o = rt.exec(&["exec", "--cgroup", "../escape", &b.id, "true"]);
    o.failed();
    assert!(o.stderr.contains("exec --cgroup"), "{o:?}");
    rt.exec(&["exec", "--cgroup", "missing", &b.id, "true"])
        .failed();
}

#[test]
fn exec_gets_a_terminal_only_when_asked_for() {
    require_root!();
    let rt = Runtime::new("exec_no_tty");
    let mut b = rt.bundle();
    b.process()["terminal"] = json!(true);
    b.args(&["hull-probe", "sleep", "120"]);
    let sock = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Hold the container's pty master until the test ends.
    let holder = std::thread::spawn(move || accept_with_fd(&listener).1);
    rt.create_as(&b, &b.id, &["--console-socket", &sock.to_string_lossy()])
        .ok();
    let _master = holder.join().unwrap();
    rt.start(&b.id).ok();

    // Without -t: the caller's stdio, no pty, although process.terminal is
    // set for the container's own process.
    let o = rt.exec(&["exec", &b.id, "hull-probe", "fds"]);
    o.ok();
    let fds = o.json()["fds"].clone();
    for f in fds.as_array().unwrap().iter().take(3) {
        let target = f["target"].as_str().unwrap_or_default();
        assert!(
            !target.starts_with("/dev/pts/") && !target.contains("ptmx"),
            "exec without -t got a terminal: {fds}"
        );
    }
    assert!(
        !o.stdout.contains('\r'),
        "terminal line endings: {:?}",
        o.stdout
    );

    // Detached without a console socket: fine, there is no terminal to send.
    rt.exec(&["exec", "-d", &b.id, "hull-probe", "sleep", "60"])
        .ok();
    // And --process without "terminal" is the same.
    let p = b.dir.join("process.json");
    std::fs::write(&p, json!({"args": ["hull-probe", "fds"], "env": ["PATH=/usr/bin:/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    let o = rt.exec(&["exec", "-d", "--process", &p.to_string_lossy(), &b.id]);
    o.ok();
}
