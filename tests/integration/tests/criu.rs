//! Checkpoint and restore through CRIU, observed from inside the container
//! (a counter it writes to a bind-mounted dir, its pid 1, its cgroup).
//! Which CRIU: see [`hull_integration::criu`].

use hull_integration::{criu::*, *};
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// A bundle whose init counts into /data/count every 50 ms, with limits
/// to find again after restore.
fn counter(rt: &Runtime) -> (Bundle, PathBuf) {
    let mut b = rt.bundle();
    b.private_rootfs();
    let data = b.host_dir("data");
    b.bind(&data, "/data");
    b.args(&["sh", "-c", "i=0; while true; do echo $i > /data/count.new; mv /data/count.new /data/count; i=$((i+1)); sleep 0.05; done"]);
    b.add_mount(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]}));
    b.linux()["resources"]["pids"] = json!({"limit": 77});
    b.linux()["resources"]["memory"] = json!({"limit": 67108864});
    b.write_config();
    rt.track(&b.id);
    (b, data)
}

fn count(data: &Path) -> u64 {
    std::fs::read_to_string(data.join("count"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[track_caller]
fn wait_count_above(data: &Path, n: u64) -> u64 {
    let deadline = Instant::now() + default_timeout();
    loop {
        let c = count(data);
        if c > n {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "the counter stayed at {c}, expected it above {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `run -d`, then waits for the counter to pass 1.
fn start_counter(rt: &Runtime, criu: &str, b: &Bundle, data: &Path) {
    run_detached(rt, criu, b);
    wait_count_above(data, 1);
}

/// A counter container running under `test`, counted past 1.
fn running_counter(test: &str, criu: &str) -> (Runtime, Bundle, PathBuf) {
    let rt = Runtime::new(test);
    let (b, data) = counter(&rt);
    start_counter(&rt, criu, &b, &data);
    (rt, b, data)
}

/// The host-side pids.max of the cgroup the container's init is in.
fn init_pids_max(rt: &Runtime, id: &str) -> String {
    let pid = rt.state_ok(id)["pid"].as_i64().expect("pid");
    let cg =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("reading the init's cgroup");
    let line = cg
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "pids"))
                || l.starts_with("0::")
        })
        .expect("pids hierarchy");
    let path = line
        .splitn(3, ':')
        .nth(2)
        .unwrap_or("/")
        .trim_start_matches('/');
    let file = if line.starts_with("0::") {
        format!("/sys/fs/cgroup/{path}/pids.max")
    } else {
        format!("/sys/fs/cgroup/pids/{path}/pids.max")
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_owned()
}

/// pids.max as the container reads it through its cgroup mount.
fn pids_max_inside(rt: &Runtime, id: &str) -> String {
    let o = rt.exec(&[
        "exec",
        id,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    o.ok();
    o.stdout.trim().to_owned()
}

#[test]
fn checkpoint_then_restore_continues_the_counter() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_roundtrip");
    let (b, data) = counter(&rt);
    let mounts_before = host_mount_points();
    run_detached(&rt, &criu, &b);
    wait_count_above(&data, 5);
    assert_eq!(init_pids_max(&rt, &b.id), "77");

    let img = rt.base.join("img");
    let img_s = img.to_string_lossy().into_owned();
    hull_ok(&rt, &criu, &["checkpoint", "--image-path", &img_s, &b.id]);
    assert_eq!(rt.status(&b.id), "stopped");
    assert!(
        img.join("inventory.img").exists(),
        "no CRIU images in {img_s}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&img).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "image dir mode");
    let frozen = count(&data);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&data), frozen, "the counter moved while checkpointed");

    let dir = b.dir.to_string_lossy().into_owned();
    let pid_file = rt.base.join("restored.pid");
    hull_ok(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--image-path",
            &img_s,
            "--work-path",
            &format!("{img_s}.work"),
            "--pid-file",
            &pid_file.to_string_lossy(),
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    let st = rt.state_ok(&b.id);
    assert_eq!(st["status"], "running");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        st["pid"].as_i64().unwrap().to_string()
    );
    // Continues from where it stopped, not from 0.
    let after = wait_count_above(&data, frozen);
    assert!(
        after > frozen && after < frozen + 1000,
        "counter {frozen} -> {after}"
    );
    // The same process tree: pid 1 inside is still the counting shell.
    let o = rt.exec(&["exec", &b.id, "cat", "/proc/1/cmdline"]);
    o.ok();
    assert!(
        o.stdout.contains("while true"),
        "pid 1 in the restored container: {:?}",
        o.stdout
    );
    assert_eq!(init_pids_max(&rt, &b.id), "77", "limits after restore");
    assert_eq!(
        pids_max_inside(&rt, &b.id),
        "77",
        "limits after restore, from inside"
    );
    assert!(
        !rt.state_dir(&b.id).join("criu-root").exists(),
        "criu-root left in the state dir"
    );

    rt.delete_force(&b.id).ok();
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
    assert!(mounts_under(&b.dir).is_empty());
    // Only what this test or CRIU could have left: other software on the
    // host mounts and unmounts elsewhere meanwhile.
    let base = rt.base.to_string_lossy().into_owned();
    let left: Vec<String> = host_mount_points()
        .difference(&mounts_before)
        .filter(|m| m.starts_with(&base) || m.contains("criu"))
        .cloned()
        .collect();
    assert!(left.is_empty(), "mounts left on the host: {left:?}");
}

#[test]
fn checkpoint_leave_running_keeps_counting() {
    require_root!();
    let Some(criu) = criu() else { return };
    let (rt, b, data) = running_counter("criu_leave_running", &criu);
    let img = rt.base.join("img").to_string_lossy().into_owned();
    hull_ok(
        &rt,
        &criu,
        &["checkpoint", "--leave-running", "--image-path", &img, &b.id],
    );
    assert_eq!(rt.status(&b.id), "running");
    let c = count(&data);
    wait_count_above(&data, c);
    assert!(Path::new(&img).join("inventory.img").exists());
    rt.delete_force(&b.id).ok();
}

#[test]
fn checkpoint_of_a_container_that_is_not_running_fails() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_not_running");
    let (b, _) = counter(&rt);
    rt.create(&b).ok();
    let img = rt.base.join("img");
    let (ok, err) = hull(
        &rt,
        &criu,
        &["checkpoint", "--image-path", &img.to_string_lossy(), &b.id],
    );
    assert!(!ok);
    assert!(err.contains("created") && err.contains("running"), "{err}");
    assert!(!img.exists(), "checkpoint made {} anyway", img.display());
    assert_eq!(rt.status(&b.id), "created");
    let (ok, err) = hull(&rt, &criu, &["checkpoint", &format!("{}-nope", b.id)]);
    assert!(!ok && err.contains("does not exist"), "{err}");
}

#[test]
fn restore_with_a_missing_image_leaves_nothing() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_missing_image");
    let (b, _) = counter(&rt);
    let img = rt.base.join("no-such-image");
    let dir = b.dir.to_string_lossy().into_owned();
    let (ok, err) = hull(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--image-path",
            &img.to_string_lossy(),
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("no-such-image"),
        "error does not name the image path: {err}"
    );
    assert!(!rt.state_dir(&b.id).exists());
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
    // An image dir without CRIU's images: CRIU itself fails, after the
    // cgroup was made; still nothing may be left.
    let empty = rt.base.join("empty-image");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(
        empty.join("descriptors.json"),
        "[\"/dev/null\",\"/dev/null\",\"/dev/null\"]",
    )
    .unwrap();
    let (ok, err) = hull(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--image-path",
            &empty.to_string_lossy(),
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("CRIU restore failed") && err.contains("restore.log"),
        "{err}"
    );
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
    assert!(
        mounts_under(&b.dir).is_empty() && mounts_under(&rt.root).is_empty(),
        "mounts left"
    );
}

#[test]
fn pre_dump_without_memory_tracking_is_a_clear_error() {
    require_root!();
    let Some(criu) = criu() else { return };
    let (rt, b, data) = running_counter("criu_pre_dump", &criu);
    let img = rt.base.join("pre").to_string_lossy().into_owned();
    let (ok, err) = hull(
        &rt,
        &criu,
        &["checkpoint", "--pre-dump", "--image-path", &img, &b.id],
    );
    // Kernels with soft-dirty tracking take the pre-dump; the container
    // stays running either way.
    if !ok {
        assert!(
            err.contains("pre-dump") && err.contains("memory tracking"),
            "{err}"
        );
    } else {
        assert!(
            Path::new(&img).join("pagemap-1.img").exists()
                || std::fs::read_dir(&img).unwrap().count() > 1
        );
    }
    assert_eq!(rt.status(&b.id), "running");
    let c = count(&data);
    wait_count_above(&data, c);
    rt.delete_force(&b.id).ok();
}

#[test]
fn unsupported_options_are_refused_before_anything_happens() {
    require_root!();
    let Some(criu) = criu() else { return };
    let (rt, b, _data) = running_counter("criu_refused", &criu);
    for (args, want) in [
        (vec!["--empty-ns", "pid"], "empty-ns"),
        (vec!["--lazy-pages"], "lazy"),
        (vec!["--manage-cgroups-mode", "hard"], "manage-cgroups-mode"),
    ] {
        let mut a = vec!["checkpoint", "--image-path", "/nonexistent/hull-img"];
        a.extend(args.iter().copied());
        a.push(&b.id);
        let (ok, err) = hull(&rt, &criu, &a);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(rt.status(&b.id), "running");
    }
    rt.delete_force(&b.id).ok();
}

/// The same round trip through the library alone: the
/// `checkpoint_restore` example of libcontainer (built by `cargo test`).
#[test]
fn library_round_trip() {
    require_root!();
    let Some(criu) = criu() else { return };
    let example = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("debug/examples/checkpoint_restore");
    if !example.exists() {
        assert!(
            std::env::var("HULL_REQUIRE_CRIU").as_deref() != Ok("1"),
            "{} not built (cargo test --workspace builds it)",
            example.display()
        );
        eprintln!("note: skipping: {} not built", example.display());
        return;
    }
    let (rt, b, data) = running_counter("criu_library", &criu);
    let pid_before = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    let img = rt.base.join("img");
    let out = Command::new(&example)
        .args([
            rt.root.as_os_str(),
            b.id.as_ref(),
            img.as_os_str(),
            b.dir.as_os_str(),
            criu.as_ref(),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("running the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "example failed: {stdout}");
    let states: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a state line"))
        .collect();
    assert_eq!(states.len(), 2, "{stdout}");
    assert_eq!(states[0]["status"], "stopped");
    assert_eq!(states[1]["status"], "running");
    assert_ne!(
        states[1]["pid"].as_i64().unwrap(),
        pid_before,
        "a restored init is a new host process"
    );
    assert_eq!(rt.status(&b.id), "running");
    let c = count(&data);
    wait_count_above(&data, c);
    rt.delete_force(&b.id).ok();
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
}

/// Reads `master` in the background; `expect` waits for a string in what
/// arrived so far.
struct PtyReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl PtyReader {
    fn new(master: std::os::fd::OwnedFd) -> (PtyReader, std::fs::File) {
        use std::io::Read;
        let writer = std::fs::File::from(master.try_clone().expect("dup of the pty master"));
        let mut f = std::fs::File::from(master);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        (
            PtyReader {
                rx,
                seen: String::new(),
            },
            writer,
        )
    }

    #[track_caller]
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + default_timeout();
        while !self.seen.contains(want) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("{want:?} never came on the terminal; got {:?}", self.seen),
            }
        }
    }
}

/// A container with a terminal: restore hands a new pty master to the
/// console socket, and the restored shell answers on it.
#[test]
fn terminal_moves_to_the_new_console_socket() {
    use std::io::Write;
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_terminal");
    let mut b = rt.bundle();
    b.private_rootfs();
    b.process()["terminal"] = json!(true);
    b.args(&["sh", "-c", "while read l; do echo \"got:$l\"; done"]);
    b.write_config();
    rt.track(&b.id);
    let sock = b.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let s = sock.to_string_lossy().into_owned();
    let dir = b.dir.to_string_lossy().into_owned();

    hull_ok(
        &rt,
        &criu,
        &["run", "-d", "--console-socket", &s, "--bundle", &dir, &b.id],
    );
    let (_, master) = accept_with_fd(&listener);
    let (mut before, mut w) = PtyReader::new(master);
    w.write_all(b"one\n").unwrap();
    before.expect("got:one");

    let img = rt.base.join("img").to_string_lossy().into_owned();
    hull_ok(&rt, &criu, &["checkpoint", "--image-path", &img, &b.id]);
    hull_ok(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--console-socket",
            &s,
            "--image-path",
            &img,
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    let (_, master) = accept_with_fd(&listener);
    let (mut after, mut w) = PtyReader::new(master);
    w.write_all(b"two\n").unwrap();
    after.expect("got:two");
    rt.delete_force(&b.id).ok();
    // Without a console socket a terminal container cannot be restored.
    let (ok, err) = hull(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--image-path",
            &img,
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    assert!(!ok && err.contains("console-socket"), "{err}");
    assert!(!rt.state_dir(&b.id).exists());
}

/// With a cgroup namespace the cgroup mounts are fresh cgroupfs mounts, not
/// binds; after restore the container still sees itself at its root.
#[test]
fn restore_keeps_the_cgroup_namespace() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_cgroupns");
    let (mut b, data) = counter(&rt);
    b.set_namespace("cgroup", None);
    b.write_config();
    start_counter(&rt, &criu, &b, &data);
    let img = rt.base.join("img").to_string_lossy().into_owned();
    let dir = b.dir.to_string_lossy().into_owned();
    hull_ok(&rt, &criu, &["checkpoint", "--image-path", &img, &b.id]);
    hull_ok(
        &rt,
        &criu,
        &[
            "restore",
            "-d",
            "--image-path",
            &img,
            "--bundle",
            &dir,
            &b.id,
        ],
    );
    let o = rt.exec(&["exec", &b.id, "cat", "/proc/self/cgroup"]);
    o.ok();
    for line in o.stdout.lines() {
        assert!(
            line.ends_with(":/"),
            "not at the cgroup namespace root after restore: {}",
            o.stdout
        );
    }
    assert_eq!(pids_max_inside(&rt, &b.id), "77");
    rt.delete_force(&b.id).ok();
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
}

/// `restore` without -d waits like `run`: the hooks of a restore run (with
/// the restored pid), the exit status is the init's, and the container is
/// deleted when it ends.
#[test]
fn foreground_restore_runs_hooks_waits_and_deletes() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_foreground");
    let (mut b, data) = counter(&rt);
    let log = rt.base.join("hooks.log");
    for kind in ["prestart", "createRuntime", "poststart"] {
        let script = format!(
            "echo {kind} $(tr -d '\\n ' | grep -o '\"pid\":[0-9]*') >> {}",
            log.display()
        );
        b.add_hook(
            kind,
            json!({"path": "/bin/sh", "args": ["sh", "-c", script]}),
        );
    }
    b.write_config();
    start_counter(&rt, &criu, &b, &data);
    let img = rt.base.join("img").to_string_lossy().into_owned();
    let dir = b.dir.to_string_lossy().into_owned();
    hull_ok(&rt, &criu, &["checkpoint", "--image-path", &img, &b.id]);
    std::fs::remove_file(&log).unwrap();

    let mut fg = Command::new(hull_bin())
        .args([
            "--root",
            &rt.root.to_string_lossy(),
            "--criu",
            &criu,
            "restore",
            "--image-path",
            &img,
            "--bundle",
            &dir,
            &b.id,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning restore");
    let c = count(&data);
    wait_count_above(&data, c);
    // The counter runs as soon as CRIU is done; the state and the poststart
    // hooks come after that.
    let deadline = Instant::now() + default_timeout();
    let hooks = loop {
        let h = std::fs::read_to_string(&log).unwrap_or_default();
        if h.lines().any(|l| l.starts_with("poststart")) || Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    for kind in ["prestart", "createRuntime", "poststart"] {
        assert!(
            hooks.lines().any(|l| l.starts_with(kind)),
            "{kind} hook did not run at restore: {hooks:?}"
        );
    }
    assert!(
        hooks
            .lines()
            .any(|l| l == format!("poststart \"pid\":{pid}")),
        "poststart saw another pid than {pid}: {hooks:?}"
    );
    assert!(
        fg.try_wait().unwrap().is_none(),
        "foreground restore returned while the container runs"
    );
    rt.kill(&b.id, Some("KILL")).ok();
    let deadline = Instant::now() + default_timeout();
    let status = loop {
        if let Some(st) = fg.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "restore did not return after the init died"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(137));
    assert!(
        rt.state(&b.id).is_err(),
        "the container outlived its foreground restore"
    );
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
}
