//! fds and readiness handed from the caller to the container:
//! --preserve-fds, LISTEN_FDS (socket activation) and NOTIFY_SOCKET.

use std::{
    os::unix::{net::UnixDatagram, process::CommandExt},
    process::{Command, Stdio},
    time::Duration,
};

use hull_integration::*;
use serde_json::json;

/// Runs `hull <args>` with /etc/hostname as fd 3 (and /etc/passwd as fd 4
/// when `two`). After `create` the container keeps hull's stdio, so its
/// stdout must not be a pipe we wait on: `quiet` sends it to /dev/null.
fn run_with_fds(
    rt: &Runtime,
    args: &[&str],
    env: &[(&str, String)],
    two: bool,
) -> std::process::Output {
    run_with(rt, args, env, two, false)
}

fn run_with(
    rt: &Runtime,
    args: &[&str],
    env: &[(&str, String)],
    two: bool,
    quiet: bool,
) -> std::process::Output {
    let f = std::fs::File::open("/etc/hostname").unwrap();
    let g = std::fs::File::open("/etc/passwd").unwrap();
    let (a, b) = (
        std::os::fd::AsRawFd::as_raw_fd(&f),
        std::os::fd::AsRawFd::as_raw_fd(&g),
    );
    let mut cmd = Command::new(hull_bin());
    cmd.arg("--root")
        .arg(&rt.root)
        .args(args)
        .stdin(Stdio::null());
    let err_file = rt
        .root
        .with_file_name(format!("stderr-{}", std::process::id()));
    if quiet {
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_file).unwrap());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: only dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps FD_CLOEXEC: clear it explicitly.
            if libc::dup2(a, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if two && (libc::dup2(b, 4) < 0 || libc::fcntl(4, libc::F_SETFD, 0) < 0) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut out = cmd.output().unwrap();
    if quiet {
        out.stderr = std::fs::read(&err_file).unwrap_or_default();
    }
    drop((f, g));
    out
}

fn fd_targets(stdout: &[u8]) -> Vec<(i64, String)> {
    let r = parse_probe(&String::from_utf8_lossy(stdout)).expect("probe output");
    r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fd"].as_i64().unwrap(),
                f["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn preserve_fds_passes_exactly_those_fds() {
    require_root!();
    let rt = Runtime::new("preserve_fds");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "fds"]);
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    let out = run_with_fds(
        &rt,
        &["run", "--preserve-fds", "1", "--bundle", &dir, &b.id],
        &[],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fds = fd_targets(&out.stdout);
    let nums: Vec<i64> = fds.iter().map(|f| f.0).collect();
    assert_eq!(nums, vec![0, 1, 2, 3], "{fds:?}");
    assert_eq!(fds[3].1, "/etc/hostname");
}

#[test]
fn listen_fds_are_passed_with_their_env() {
    require_root!();
    let rt = Runtime::new("listen_fds");
    let mut b = rt.bundle();
    b.args(&[
        "sh",
        "-c",
        "echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; hull-probe fds",
    ]);
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    // LISTEN_PID names hull itself, as systemd would set it: the child's
    // pid is only known after fork, so leave LISTEN_PID unset (accepted).
    let out = run_with_fds(
        &rt,
        &["run", "--bundle", &dir, &b.id],
        &[("LISTEN_FDS", "2".into())],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("LISTEN_FDS=2 LISTEN_PID=1"), "{text}");
    let nums: Vec<i64> = fd_targets(
        text.lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    )
    .iter()
    .map(|f| f.0)
    .collect();
    assert_eq!(nums, vec![0, 1, 2, 3, 4]);
}

/// Creates and starts `b` with NOTIFY_SOCKET naming a socket of the test's,
/// which is returned; start returns only once READY=1 has been relayed.
fn create_and_start_notified(rt: &Runtime, b: &Bundle) -> UnixDatagram {
    let host_sock = b.host_dir("notify").join("sd.sock");
    let listener = UnixDatagram::bind(&host_sock).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    let env = [("NOTIFY_SOCKET", host_sock.to_string_lossy().into_owned())];
    for args in [&["create", "--bundle", &dir, &b.id][..], &["start", &b.id]] {
        let out = run_with(rt, args, &env, false, true);
        assert!(
            out.status.success(),
            "{}: {}",
            args[0],
            String::from_utf8_lossy(&out.stderr)
        );
    }
    listener
}

/// The next datagram the caller's socket got.
fn received(listener: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = listener.recv(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// What is in hull's notify directory of `id`.
fn notify_dir_entries(rt: &Runtime, id: &str) -> Vec<String> {
    std::fs::read_dir(rt.state_dir(id).join("notify"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn notify_socket_relays_ready_with_mainpid() {
    require_root!();
    let rt = Runtime::new("notify_sock");
    let mut b = rt.bundle();
    // The container's root (real root here: no user namespace) tries to
    // put something in place of the socket before it is bound.
    b.args(&["sh", "-c", "touch ${NOTIFY_SOCKET%/*}/planted; hull-probe notify STATUS=starting; hull-probe notify READY=1; exec hull-probe sleep 60"]);
    let listener = create_and_start_notified(&rt, &b);
    assert_eq!(received(&listener), "STATUS=starting");
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(received(&listener), format!("READY=1\nMAINPID={pid}"));
    assert_eq!(
        notify_dir_entries(&rt, &b.id),
        vec!["notify.sock"],
        "the container wrote into hull's notify dir"
    );
    rt.delete_force(&b.id).ok();
}

/// The container, as a non-root user in a user namespace, sends a MAINPID
/// of its choosing and a variable of its own along with READY=1, and tries
/// to plant files in the notify directory. The caller's socket gets
/// READY=1 with the init's pid only; the directory stays hull's. (The user
/// namespace also shows the socket is reachable through the 0700 root.)
#[test]
fn notify_relay_passes_only_ready_with_the_init_pid() {
    require_root!();
    let rt = Runtime::new("notify_filter");
    let mut b = rt.bundle();
    b.set_namespace("user", None);
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.process()["user"] = json!({"uid": 1000, "gid": 1000});
    b.args(&[
        "sh",
        "-c",
        "d=${NOTIFY_SOCKET%/*}; touch $d/planted; ln -s /etc/shadow $d/planted-link; \
         hull-probe notify \"$(printf 'MAINPID=1\\nREADY=1\\nFOO=bar')\"; exec hull-probe sleep 60",
    ]);
    let listener = create_and_start_notified(&rt, &b);
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(received(&listener), format!("READY=1\nMAINPID={pid}"));
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.recv(&mut [0u8; 1024]).is_err(),
        "a second datagram was relayed"
    );
    assert_eq!(
        notify_dir_entries(&rt, &b.id),
        vec!["notify.sock"],
        "the container planted files in hull's notify dir"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(rt.state_dir(&b.id).join("notify"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    rt.delete_force(&b.id).ok();
}
