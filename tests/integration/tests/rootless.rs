//! Rootless: an unprivileged user, made for each test with useradd and
//! subordinate id ranges, runs hull with its default `--root`
//! (`$XDG_RUNTIME_DIR/hull`) on a private, user-owned copy of the rootfs.
//! Checked from inside (id maps, /proc/self/status, mounts) and from
//! outside (state owned by the user, no cgroups or processes left).

use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};

use hull_integration::*;
use serde_json::{json, Value};

/// useradd/userdel lock /etc/passwd: one at a time in this process.
static USERS: Mutex<()> = Mutex::new(());
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Subordinate ids each test user gets: `SUB_BASE + n * SUB_SIZE`.
const SUB_BASE: u32 = 1_500_000;
const SUB_SIZE: u32 = 65536;

struct User {
    name: String,
    uid: u32,
    gid: u32,
    sub_start: u32,
    /// `/tmp/hull-rl-<pid>-<n>`: root-owned 0755, holds run/ and bundle/.
    base: PathBuf,
    /// XDG_RUNTIME_DIR, the user's, 0700.
    xdg: PathBuf,
    bundle: PathBuf,
    /// A copy of the runtime the user can execute.
    hull_copy: PathBuf,
    id: String,
}

fn run_cmd(c: &mut Command) -> std::process::Output {
    c.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

impl User {
    fn new() -> Option<User> {
        if !is_root() {
            eprintln!("rootless: not root, cannot create a test user; skipped");
            return None;
        }
        if is_runc() {
            eprintln!("rootless: HULL_BIN is runc; these tests check hull's rootless mode");
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let name = format!("hullrl{}x{n}", pid % 100_000);
        let sub_start = SUB_BASE + (n as u32) * SUB_SIZE;
        {
            let _g = USERS.lock().unwrap_or_else(|e| e.into_inner());
            let out = run_cmd(Command::new("useradd").args([
                "-M",
                "-U",
                "-s",
                "/usr/sbin/nologin",
                &name,
            ]));
            assert!(out.status.success(), "useradd {name}: {out:?}");
            let range = format!("{sub_start}-{}", sub_start + SUB_SIZE - 1);
            let out = run_cmd(Command::new("usermod").args([
                "--add-subuids",
                &range,
                "--add-subgids",
                &range,
                &name,
            ]));
            assert!(out.status.success(), "usermod {name}: {out:?}");
        }
        let id_of = |flag: &str| -> u32 {
            let out = run_cmd(Command::new("id").args([flag, &name]));
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id_of("-u"), id_of("-g"));
        let base = PathBuf::from(format!("/tmp/hull-rl-{pid}-{n}"));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        let xdg = base.join("run");
        let bundle = base.join("bundle");
        fs::create_dir(&xdg).unwrap();
        fs::create_dir(&bundle).unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(rootfs())
            .arg(bundle.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success(), "copying the rootfs");
        let st = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(&xdg)
            .arg(&bundle)
            .status()
            .unwrap();
        assert!(st.success(), "chown");
        fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).unwrap();
        // A copy of the runtime the user can execute: the checkout may sit
        // under a directory only root can traverse (root's 0700 home).
        let hull_copy = base.join("hull");
        fs::copy(hull_bin(), &hull_copy).unwrap();
        Some(User {
            id: format!("rl-{pid}-{n}"),
            name,
            uid,
            gid,
            sub_start,
            base,
            xdg,
            bundle,
            hull_copy,
        })
    }

    /// hull as this user, with the environment a login would give it and
    /// no `--root`: the default must be `$XDG_RUNTIME_DIR/hull`.
    fn hull(&self, args: &[&str]) -> Output {
        let mut argv = vec![self.hull_path_str()];
        argv.extend_from_slice(args);
        self.cmd(&argv)
    }

    /// The user's copy of the runtime.
    fn hull_path_str(&self) -> &str {
        self.hull_copy.to_str().unwrap()
    }

    /// `argv` as this user, with the environment a login would give it.
    fn cmd(&self, argv: &[&str]) -> Output {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            &self.uid.to_string(),
            "--regid",
            &self.gid.to_string(),
            "--init-groups",
            "env",
            "-i",
        ])
        .arg(format!("HOME={}", self.base.display()))
        .arg(format!("XDG_RUNTIME_DIR={}", self.xdg.display()))
        .arg(format!("USER={}", self.name))
        .arg("PATH=/usr/sbin:/usr/bin:/sbin:/bin")
        .args(argv)
        .current_dir(&self.bundle);
        // Files, not pipes: a created container keeps its stdio open.
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let (out, err) = (
            self.base.join(format!("io-{n}.out")),
            self.base.join(format!("io-{n}.err")),
        );
        // A test thread that forked while the copy in `new` was being written
        // holds its write fd until that child execs: exec then fails with
        // ETXTBSY (env exits 126), so try again.
        let mut tries = 0;
        let st = loop {
            c.stdout(fs::File::create(&out).unwrap());
            c.stderr(fs::File::create(&err).unwrap());
            let st = c.stdin(Stdio::null()).status().unwrap();
            let busy = st.code() == Some(126)
                && fs::read_to_string(&err).is_ok_and(|e| e.contains("Text file busy"));
            if !busy || tries == 50 {
                break st;
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Output {
            cmd: format!("(as {}) {}", self.name, argv.join(" ")),
            code: st.code().unwrap_or(128),
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        }
    }

    /// The base spec made rootless: a user namespace mapping the user to
    /// root, no network namespace (so /sys must be the host's, read-only),
    /// the private rootfs, the harness's cgroupsPath (which this user
    /// cannot create).
    fn spec(&self) -> Value {
        let mut s = base_spec(
            &self.bundle.join("rootfs"),
            &format!("{}/{}", cgroup_parent(), self.id),
        );
        s["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "user"}
        ]);
        // devpts' gid=5 names a group the single mapping lacks (runc's
        // rootless spec drops it too).
        for m in s["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev/pts" {
                m["options"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|o| o != "gid=5");
            }
        }
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": self.uid, "size": 1}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": self.gid, "size": 1}]);
        s
    }

    fn write_spec(&self, s: &Value) {
        let p = self.bundle.join("config.json");
        fs::write(&p, serde_json::to_vec_pretty(s).unwrap()).unwrap();
        Command::new("chown")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(&p)
            .status()
            .unwrap();
    }

    fn run(&self, s: &Value) -> Output {
        self.write_spec(s);
        self.hull(&["run", &self.id])
    }

    fn pids(&self) -> Vec<i32> {
        let mut v = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if e.metadata().map(|m| m.uid() == self.uid).unwrap_or(false)
                || fs::read_to_string(format!("/proc/{pid}/status"))
                    .map(|s| {
                        s.lines().any(|l| {
                            l.starts_with("Uid:")
                                && l.split_whitespace().nth(1) == Some(&self.uid.to_string())
                        })
                    })
                    .unwrap_or(false)
            {
                v.push(pid);
            }
        }
        v
    }

    /// From outside: the state root is the user's, nothing in it belongs
    /// to root, no process of the user is left and no cgroup was made.
    fn check_outside(&self) {
        let root = self.xdg.join("hull");
        // A create refused before anything is made leaves no root at all.
        if let Ok(meta) = fs::metadata(&root) {
            assert_eq!(meta.uid(), self.uid, "state root owner");
            assert_eq!(meta.mode() & 0o777, 0o700, "state root mode");
        }
        for p in walk(&self.xdg) {
            if let Ok(m) = fs::symlink_metadata(&p) {
                assert_ne!(m.uid(), 0, "{} is root's", p.display());
            }
        }
        let mut left = self.pids();
        for _ in 0..100 {
            if left.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            left = self.pids();
        }
        assert!(left.is_empty(), "processes of {} left: {left:?}", self.name);
        for h in cgroup_hierarchies() {
            let d = h
                .join(cgroup_parent().trim_start_matches('/'))
                .join(&self.id);
            assert!(!d.exists(), "cgroup {} exists", d.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

impl Drop for User {
    fn drop(&mut self) {
        // Only this user's processes: it exists for this test alone.
        for pid in self.pids() {
            // SAFETY: kill(2) with a pid read from /proc.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _g = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = run_cmd(Command::new("userdel").arg(&self.name));
        // userdel leaves the subordinate ranges on some shadow versions.
        for f in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(t) = fs::read_to_string(f) {
                let prefix = format!("{}:", self.name);
                let kept: String = t
                    .lines()
                    .filter(|l| !l.starts_with(&prefix))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let _ = fs::write(f, kept);
            }
        }
        let _ = fs::remove_dir_all(&self.base);
    }
}

#[track_caller]
fn state_json(out: &Output) -> Value {
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The probe's view of a Uid:/Gid: line of /proc/self/status, all `n`.
fn ids(n: u32) -> Value {
    json!({"real": n, "effective": n, "saved": n, "fs": n})
}

fn map_lines(v: &Value) -> Vec<Vec<u64>> {
    v.as_str()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect()
}

/// A single mapping of the user's own ids, written without helpers: the
/// container runs as root inside, mapped to the user, setgroups denied;
/// devices are the host's nodes bound in; /sys is the host's, read-only.
#[test]
fn own_ids_map_devices_bind_sys_ro() {
    let Some(u) = User::new() else { return };
    let out = u.run(&u.spec());
    out.ok();
    let r = out.json();
    assert_eq!(map_lines(&r["uid_map"]), vec![vec![0, u.uid as u64, 1]]);
    assert_eq!(map_lines(&r["gid_map"]), vec![vec![0, u.gid as u64, 1]]);
    assert_eq!(r["setgroups"], "deny");
    // /proc/self/status, through the probe.
    assert_eq!(r["uid"], ids(0), "{r}");
    assert_eq!(r["gid"], ids(0), "{r}");
    let mounts = report_mounts(&r);
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        let m = find_mount(&mounts, &format!("/dev/{dev}"))
            .unwrap_or_else(|| panic!("/dev/{dev} is not a mount: {mounts:?}"));
        assert_eq!(
            m.root,
            format!("/{dev}"),
            "/dev/{dev} is a bind of the host's node"
        );
        assert_eq!(m.fs_type, "devtmpfs", "/dev/{dev}");
    }
    let sys = find_mount(&mounts, "/sys").expect("/sys mounted");
    assert_eq!(sys.fs_type, "sysfs");
    assert!(sys.has_opt("ro"), "/sys read-only: {sys:?}");
    // rbind of the host's /sys: its submounts come along, which a fresh
    // sysfs instance would not have.
    assert!(
        mounts
            .iter()
            .any(|m| m.mount_point.starts_with("/sys/fs/cgroup")),
        "/sys is not the host's rbind: {mounts:?}"
    );
    u.check_outside();
}

/// process.oomScoreAdj below the runtime's own score, but not below the
/// minimum it inherited, is allowed to an unprivileged runtime, without a
/// warning. The CLI's run is non-dumpable, so its own /proc files are
/// closed to it: the score goes through the init's, made dumpable for the
/// id maps.
#[test]
fn oom_score_adj_below_the_runtimes_own() {
    let Some(u) = User::new() else { return };
    let own: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Raising needs no privilege; the minimum is at most our own score.
    let (hull_adj, adj) = (own.max(0) + 200, own.max(0) + 100);
    assert!(
        hull_adj <= 1000,
        "this runner's oom_score_adj is too high: {own}"
    );
    let mut s = u.spec();
    s["process"]["oomScoreAdj"] = json!(adj);
    u.write_spec(&s);
    let set = format!("echo {hull_adj} > /proc/self/oom_score_adj && exec \"$0\" run \"$1\"");
    let out = u.cmd(&["sh", "-c", &set, u.hull_path_str(), &u.id]);
    out.ok();
    assert!(!out.stderr.contains("oomScoreAdj"), "{out}");
    assert_eq!(out.json()["oom_score_adj"], adj, "{out}");
    u.check_outside();
}

/// With a network namespace of its own, the container gets a sysfs
/// instance of its own (no host submounts below it).
#[test]
fn sysfs_with_own_netns() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "network"}));
    let out = u.run(&s);
    out.ok();
    let mounts = report_mounts(&out.json());
    let sys = find_mount(&mounts, "/sys").expect("/sys mounted");
    assert_eq!(sys.fs_type, "sysfs");
    assert!(sys.has_opt("ro"), "{sys:?}");
    assert!(
        !mounts
            .iter()
            .any(|m| m.mount_point.starts_with("/sys/fs/cgroup")),
        "/sys carries host submounts: {mounts:?}"
    );
    u.check_outside();
}

/// Several ranges go through newuidmap/newgidmap with the user's
/// /etc/subuid and /etc/subgid ranges; setgroups stays allowed.
#[test]
fn subordinate_ranges_through_newuidmap() {
    let Some(u) = User::new() else { return };
    if Command::new("newuidmap").arg("--help").output().is_err() {
        panic!("newuidmap is missing: install the uidmap package (.ci/run does)");
    }
    let mut s = u.spec();
    let maps = |own: u32| {
        json!([
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": u.sub_start, "size": SUB_SIZE}
        ])
    };
    s["linux"]["uidMappings"] = maps(u.uid);
    s["linux"]["gidMappings"] = maps(u.gid);
    s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1001]});
    let out = u.run(&s);
    out.ok();
    let r = out.json();
    let range = vec![1, u.sub_start as u64, SUB_SIZE as u64];
    assert_eq!(
        map_lines(&r["uid_map"]),
        vec![vec![0, u.uid as u64, 1], range.clone()]
    );
    assert_eq!(
        map_lines(&r["gid_map"]),
        vec![vec![0, u.gid as u64, 1], range]
    );
    assert_eq!(r["setgroups"], "allow");
    assert_eq!(r["uid"], ids(1000), "{r}");
    let groups: Vec<String> = r["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g.to_string().trim_matches('"').to_owned())
        .collect();
    assert_eq!(groups, ["1001"], "{r}");
    u.check_outside();
}

/// A host id the user does not own is refused before anything is made,
/// naming the field.
#[test]
fn foreign_mapping_is_refused() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": u.uid, "size": 1},
        {"containerID": 1, "hostID": u.sub_start + SUB_SIZE, "size": 10}
    ]);
    let out = u.run(&s);
    out.failed();
    assert!(
        out.stderr.contains("linux.uidMappings[1]") && out.stderr.contains("/etc/subuid"),
        "{out}"
    );
    let mut s = u.spec();
    s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}]);
    let out = u.run(&s);
    out.failed();
    assert!(out.stderr.contains("linux.gidMappings[0]"), "{out}");
    assert!(u.hull(&["list", "-q"]).ok().stdout.trim().is_empty());
    u.check_outside();
}

/// No writable cgroup hierarchy: a resource is refused naming the field;
/// without one the container runs with no cgroup and the commands that
/// need one say so.
#[test]
fn no_cgroup_without_resources() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["linux"]["resources"]["pids"] = json!({"limit": 50});
    let out = u.run(&s);
    out.failed();
    assert!(out.stderr.contains("linux.resources.pids.limit"), "{out}");

    let mut s = u.spec();
    s["process"]["args"] = json!(["hull-probe", "sleep", "600"]);
    u.write_spec(&s);
    u.hull(&["run", "-d", &u.id]).ok();
    for cmd in [
        vec!["pause", &u.id],
        vec!["update", "--pids-limit", "10", &u.id],
        vec!["events", "--stats", &u.id],
    ] {
        let out = u.hull(&cmd);
        out.failed();
        assert!(out.stderr.contains("no cgroup"), "{out}");
    }
    // The init is in no cgroup the runtime made: its cgroups are the
    // ones the user's shell had.
    let state = state_json(&u.hull(&["state", &u.id]));
    let pid = state["pid"].as_i64().unwrap();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let init = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(init, own, "the init was placed in a cgroup");
    u.hull(&["delete", "-f", &u.id]).ok();
    u.check_outside();
}

/// create, start, state, list, exec, ps, kill and delete as the user.
#[test]
fn lifecycle_commands() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["process"]["args"] = json!(["hull-probe", "sleep", "600"]);
    u.write_spec(&s);
    u.hull(&["create", &u.id]).ok();
    assert!(
        u.xdg.join("hull").join(&u.id).join("state.json").exists(),
        "state not under $XDG_RUNTIME_DIR/hull"
    );
    assert_eq!(state_json(&u.hull(&["state", &u.id]))["status"], "created");
    u.hull(&["start", &u.id]).ok();
    assert_eq!(state_json(&u.hull(&["state", &u.id]))["status"], "running");
    assert_eq!(u.hull(&["list", "-q"]).ok().stdout.trim(), u.id);
    let ex = u.hull(&["exec", &u.id, "cat", "/proc/self/uid_map"]);
    ex.ok();
    assert_eq!(
        map_lines(&json!(ex.stdout)),
        vec![vec![0, u.uid as u64, 1]],
        "{ex}"
    );
    u.hull(&["exec", "-d", &u.id, "hull-probe", "sleep", "600"])
        .ok();
    let ps = u.hull(&["ps", "-f", "json", &u.id]);
    ps.ok();
    let pids: Vec<i64> = serde_json::from_str(ps.stdout.trim()).unwrap_or_else(|_| panic!("{ps}"));
    assert_eq!(pids.len(), 2, "init and the exec'd process: {ps}");
    u.hull(&["kill", &u.id, "KILL"]).ok();
    let mut status = String::new();
    for _ in 0..200 {
        status = state_json(&u.hull(&["state", &u.id]))["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, "stopped");
    u.hull(&["delete", &u.id]).ok();
    assert!(u.hull(&["list", "-q"]).ok().stdout.trim().is_empty());
    u.check_outside();
}

/// `hull spec --rootless` writes a config this user can run as written
/// (bar the terminal, args and rootfs path).
#[test]
fn spec_rootless_runs() {
    let Some(u) = User::new() else { return };
    u.hull(&["spec", "--rootless"]).ok();
    let p = u.bundle.join("config.json");
    let mut s: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    fs::remove_file(&p).unwrap();
    s["process"]["terminal"] = json!(false);
    s["process"]["args"] = json!(["hull-probe", "report"]);
    s["root"]["path"] = json!("rootfs");
    let out = u.run(&s);
    out.ok();
    assert_eq!(
        map_lines(&out.json()["uid_map"]),
        vec![vec![0, u.uid as u64, 1]]
    );
    u.check_outside();
}

/// A bind mount whose options clear a flag the source mount has: in the
/// user's namespace the kernel keeps it locked, and the error says so.
#[test]
fn locked_mount_flags_explained() {
    let Some(u) = User::new() else { return };
    let src = u.base.join("locked");
    fs::create_dir(&src).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "nosuid,nodev,size=1m", "tmpfs"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "mounting a nosuid tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _um = Unmount(&src);
    let mut s = u.spec();
    s["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "bind", "source": src,
        "options": ["bind", "suid", "ro"]
    }));
    let out = u.run(&s);
    out.failed();
    assert!(
        out.stderr.contains("mounts[")
            && out.stderr.contains("nosuid")
            && out.stderr.contains("locked"),
        "{out}"
    );
    // Without clearing the flag it runs, nosuid kept.
    s["mounts"].as_array_mut().unwrap().last_mut().unwrap()["options"] = json!(["bind", "ro"]);
    let out = u.run(&s);
    out.ok();
    let mounts = report_mounts(&out.json());
    let m = find_mount(&mounts, "/mnt").expect("/mnt mounted");
    assert!(m.has_opt("ro") && m.has_opt("nosuid"), "{m:?}");
    u.check_outside();
}

/// Device rules hull cannot set up (no devices cgroup, no eBPF program for
/// an unprivileged user) are dropped with a warning that `hull check`
/// reports too; the container still reaches only the nodes bound in, and
/// cannot make one.
#[test]
fn device_rules_dropped_with_a_warning() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["linux"]["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    ]});
    s["process"]["args"] = json!([
        "sh", "-c",
        "echo x > /dev/null && echo null-ok; mknod /tmp/kmsg c 1 11 2>/dev/null && echo mknod-ok || echo mknod-refused"
    ]);
    u.write_spec(&s);
    let check = u.hull(&["check", "--bundle", &u.bundle.to_string_lossy()]);
    assert!(
        check.stdout.contains("linux.resources.devices") && check.stdout.contains("ignored")
            || check.stderr.contains("linux.resources.devices") && check.stderr.contains("ignored"),
        "hull check: {check}"
    );
    let out = u.hull(&["run", &u.id]);
    out.ok();
    assert!(
        out.stderr.contains("linux.resources.devices: ignored"),
        "{out}"
    );
    assert_eq!(out.stdout.trim(), "null-ok\nmknod-refused", "{out}");
    u.check_outside();
}

/// hull run as root of a user namespace, as rootless podman runs it: the
/// container has no user namespace of its own, yet gets no device node
/// made (the host's are bound in), no cgroup, a restrictive device rule
/// only warns, and `exec` enters its pid namespace. The state root is
/// `$XDG_RUNTIME_DIR/hull` (USER is not root).
#[test]
fn root_of_a_user_namespace_like_rootless_podman() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}
    ]);
    s["linux"].as_object_mut().unwrap().remove("uidMappings");
    s["linux"].as_object_mut().unwrap().remove("gidMappings");
    s["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    s["process"]["args"] = json!(["hull-probe", "sleep", "600"]);
    u.write_spec(&s);
    // One user namespace for every command, held by a process of the
    // user's (podman's pause process); hull enters it as its root.
    let mut holder = Command::new("setpriv")
        .args([
            "--reuid",
            &u.uid.to_string(),
            "--regid",
            &u.gid.to_string(),
            "--init-groups",
            "unshare",
            "--user",
            "--map-root-user",
            "sleep",
            "600",
        ])
        .spawn()
        .unwrap();
    struct Reap<'a>(&'a mut std::process::Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let holder_pid = holder.id().to_string();
    let reap = Reap(&mut holder);
    let own_uid_map = format!("/proc/{holder_pid}/uid_map");
    // Wait for unshare to have written the map. Before it unshares, the
    // holder's map is the initial namespace's "0 0 4294967295", which also
    // starts with 0: only the full line proves the new namespace is ready.
    let want_map = [0, u64::from(u.uid), 1];
    for _ in 0..250 {
        let ready = fs::read_to_string(&own_uid_map).is_ok_and(|m| {
            m.split_whitespace()
                .map(|f| f.parse::<u64>().ok())
                .collect::<Vec<_>>()
                == want_map.map(Some)
        });
        if ready {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let in_ns = |args: &[&str]| {
        let mut a = vec![
            "nsenter",
            "--user",
            "--preserve-credentials",
            "--target",
            &holder_pid,
            "--",
        ];
        a.push(u.hull_path_str());
        a.extend_from_slice(args);
        u.cmd(&a)
    };
    let run = in_ns(&["run", "-d", &u.id]);
    run.ok();
    assert!(
        run.stderr.contains("linux.resources.devices: ignored"),
        "{run}"
    );
    assert!(
        u.xdg.join("hull").join(&u.id).join("state.json").exists(),
        "state not under $XDG_RUNTIME_DIR/hull"
    );
    // exec enters the container's pid namespace (pid_for_children cannot be
    // restored in the caller's user namespace: the child forks instead).
    let ex = in_ns(&["exec", &u.id, "hull-probe", "report"]);
    ex.ok();
    let r = ex.json();
    assert_eq!(map_lines(&r["uid_map"]), vec![vec![0, u.uid as u64, 1]]);
    assert_eq!(r["uid"], ids(0), "{r}");
    let mounts = report_mounts(&r);
    let null = find_mount(&mounts, "/dev/null").expect("/dev/null bound in");
    assert_eq!(
        (null.root.as_str(), null.fs_type.as_str()),
        ("/null", "devtmpfs")
    );
    // From a user namespace that does not own the container's, exec is
    // refused: it must never run the process in the caller's namespaces.
    let other = u.cmd(&[
        "unshare",
        "--user",
        "--map-root-user",
        "--",
        u.hull_path_str(),
        "exec",
        &u.id,
        "hull-probe",
        "report",
    ]);
    other.failed();
    assert!(other.stderr.contains("/ns/"), "{other}");
    assert!(parse_probe(&other.stdout).is_none(), "{other}");
    let state = state_json(&in_ns(&["state", &u.id]));
    let pid = state["pid"].as_i64().unwrap();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(),
        own,
        "the init was placed in a cgroup"
    );
    in_ns(&["delete", "-f", &u.id]).ok();
    drop(reap);
    u.check_outside();
}

/// CRIU needs privileges a rootless hull lacks: checkpoint says so before
/// it makes the image directory.
#[test]
fn checkpoint_refused_rootless() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    s["process"]["args"] = json!(["hull-probe", "sleep", "600"]);
    u.write_spec(&s);
    u.hull(&["run", "-d", &u.id]).ok();
    // In a directory of the user's: only the missing privilege stops it.
    let images = u.bundle.join("images");
    let out = u.hull(&[
        "checkpoint",
        "--image-path",
        &images.to_string_lossy(),
        &u.id,
    ]);
    out.failed();
    assert!(
        out.stderr.contains("checkpoint") && out.stderr.contains("CAP_CHECKPOINT_RESTORE"),
        "{out}"
    );
    assert!(!images.exists(), "the image directory was made");
    assert_eq!(state_json(&u.hull(&["state", &u.id]))["status"], "running");
    u.hull(&["delete", "-f", &u.id]).ok();
    u.check_outside();
}

/// devpts' `gid=5` where only the user's own group is mapped: the kernel
/// would refuse the mount with a bare EINVAL; hull names the option and why
/// before anything is made.
#[test]
fn unmapped_mount_gid_explained() {
    let Some(u) = User::new() else { return };
    let mut s = u.spec();
    let pts = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["destination"] == "/dev/pts")
        .expect("a /dev/pts mount");
    s["mounts"][pts]["options"]
        .as_array_mut()
        .unwrap()
        .push(json!("gid=5"));
    let out = u.run(&s);
    out.failed();
    assert!(
        out.stderr.contains(&format!("mounts[{pts}].options"))
            && out.stderr.contains("group 5 is not mapped"),
        "{out}"
    );
    u.check_outside();
}

/// Some v1 hierarchies writable, others not: hull uses the writable ones
/// (the pids hierarchy, delegated to the user here) and leaves the rest
/// out; a limit in a hierarchy left out is an error naming the field.
#[test]
fn partly_writable_hierarchies() {
    let Some(u) = User::new() else { return };
    let pids_root = Path::new("/sys/fs/cgroup/pids");
    if !pids_root.join("tasks").exists() {
        eprintln!("partly_writable_hierarchies: no v1 pids hierarchy on this host; check skipped");
        return;
    }
    // The delegation: a cgroup the user owns, with its control files.
    let top = pids_root.join(cgroup_parent().trim_start_matches('/'));
    let deleg = top.join(format!("{}-d", u.id));
    fs::create_dir_all(&deleg).unwrap();
    struct Rmdir(PathBuf);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            let _ = fs::remove_dir(self.0.join("c"));
            let _ = fs::remove_dir(&self.0);
            // The test parent, unless another test of this process still
            // has a cgroup in it.
            if let Some(top) = self.0.parent() {
                let _ = fs::remove_dir(top);
            }
        }
    }
    let _rm = Rmdir(deleg.clone());
    for p in [
        deleg.clone(),
        deleg.join("cgroup.procs"),
        deleg.join("tasks"),
    ] {
        std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid)).unwrap();
    }
    let cg_path = format!("{}/{}-d/c", cgroup_parent(), u.id);
    let mut s = u.spec();
    s["linux"]["cgroupsPath"] = json!(cg_path);
    s["linux"]["resources"] = json!({"pids": {"limit": 50}});
    s["process"]["args"] = json!(["hull-probe", "sleep", "600"]);
    u.write_spec(&s);
    u.hull(&["run", "-d", &u.id]).ok();
    let pid = state_json(&u.hull(&["state", &u.id]))["pid"]
        .as_i64()
        .unwrap();
    assert_eq!(
        fs::read_to_string(deleg.join("c/pids.max")).unwrap().trim(),
        "50"
    );
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.lines()
            .any(|l| l.contains(":pids:") && l.ends_with(&cg_path)),
        "the init is not in the delegated pids cgroup: {cg}"
    );
    // The other hierarchies are the caller's.
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem = |t: &str| {
        t.lines()
            .find(|l| l.contains(":memory:"))
            .map(str::to_owned)
    };
    assert_eq!(mem(&cg), mem(&own), "memory cgroup");
    u.hull(&["delete", "-f", &u.id]).ok();
    assert!(!deleg.join("c").exists(), "the cgroup hull made is left");

    // A limit for a hierarchy the user may not write.
    s["linux"]["resources"] = json!({"pids": {"limit": 50}, "memory": {"limit": 67108864}});
    let out = u.run(&s);
    out.failed();
    assert!(
        out.stderr.contains("linux.resources.memory") && out.stderr.contains("left out"),
        "{out}"
    );
    assert!(!deleg.join("c").exists(), "a failed create left its cgroup");
    u.check_outside();
}
