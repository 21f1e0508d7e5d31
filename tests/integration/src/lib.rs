//! Shared harness for hull's CLI integration tests.
//!
//! The tests drive a runc-compatible runtime binary given by `HULL_BIN`
//! (default `<workspace>/target/release/hull`) and check, with the
//! `hull-probe` helper running inside the container, what the container
//! actually sees. They are written against the OCI runtime spec and verified
//! with `HULL_BIN=/usr/sbin/runc`.
//!
//! Main pieces:
//! * [`require_root!`] — skip (return) when not root.
//! * [`rootfs`] — the shared busybox + probe rootfs, built once per process
//!   (and serialised across processes with `flock`).
//! * [`Runtime`] — one per test: a private `--root`, helpers for every CLI
//!   command, and a cleanup guard (Drop) that force-deletes the containers,
//!   removes the test's cgroups, netns and temp dirs.
//! * [`Bundle`] — a temp bundle whose `config.json` is generated from
//!   [`base_spec`] (a `serde_json::Value` the test mutates).
//!
//! Safety: every bundle sets an absolute `linux.cgroupsPath` of
//! `/hull-test-<pid>/<unique name>`; cleanup only removes those cgroups and
//! only kills pids obtained from the runtime's `state` that still live in one
//! of this test's cgroups.

pub mod criu;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

/// The Cargo workspace root (`tests/integration/../..`).
pub fn workspace_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

/// The runtime under test: `$HULL_BIN` or `<workspace>/target/release/hull`.
pub fn hull_bin() -> PathBuf {
    match std::env::var_os("HULL_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/release/hull"),
    }
}

/// True when the runtime under test is runc (used only to skip assertions
/// where runc deviates from the OCI spec; each is marked `// runc differs:`).
pub fn is_runc() -> bool {
    hull_bin()
        .file_name()
        .map(|n| n.to_string_lossy().ends_with("runc"))
        .unwrap_or(false)
}

pub fn is_root() -> bool {
    // SAFETY: trivial getter.
    unsafe { libc::geteuid() == 0 }
}

/// Skip the current test (print a note and return) when not running as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            eprintln!("note: skipping {}: needs root", module_path!());
            return;
        }
    };
}

/// Per-command timeout (seconds) for runtime invocations; `HULL_TEST_TIMEOUT`
/// overrides the default of 60.
pub fn default_timeout() -> Duration {
    let secs = std::env::var("HULL_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Name of this process's cgroup parent: `/hull-test-<pid>`.
pub fn cgroup_parent() -> String {
    format!("/hull-test-{}", std::process::id())
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup (each v1 controller
/// mount, `unified`, or /sys/fs/cgroup itself on a pure v2 host).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        return vec![base.to_path_buf()];
    }
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            let p = e.path();
            // skip symlinks such as cpu,cpuacct -> cpu
            if let Ok(md) = fs::symlink_metadata(&p) {
                if md.is_dir() && p.join("cgroup.procs").exists() {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

/// readlink of the test process's own `/proc/self/ns/<ns>`.
pub fn host_ns(ns: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/self/ns/{ns}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Whether the test process has capability `bit` in its effective set.
pub fn host_has_cap(bit: u32) -> bool {
    let st = fs::read_to_string("/proc/self/status").unwrap_or_default();
    st.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .map(|m| m & (1u64 << bit) != 0)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Fixture rootfs
// ---------------------------------------------------------------------------

fn newest_mtime(p: &Path) -> Option<std::time::SystemTime> {
    let md = fs::metadata(p).ok()?;
    let mut best = md.modified().ok()?;
    if md.is_dir() {
        for e in fs::read_dir(p).ok()?.flatten() {
            if let Some(t) = newest_mtime(&e.path()) {
                best = best.max(t);
            }
        }
    }
    Some(best)
}

/// Path of the probe binary: `$HULL_PROBE`, else
/// `$CARGO_TARGET_DIR/release/hull-probe` (when set), else
/// `<workspace>/target/release/hull-probe`. Without `HULL_PROBE`, the probe
/// is (re)built with `cargo build --release -p hull-probe` when missing or
/// older than its sources.
pub fn probe_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HULL_PROBE").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "HULL_PROBE={} does not exist", p.display());
        return p;
    }
    let ws = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ws.join("target"));
    let bin = target.join("release/hull-probe");
    let src_time = newest_mtime(&ws.join("tests/probe"));
    let bin_time = fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let stale = match (bin_time, src_time) {
        (None, _) => true,
        (Some(b), Some(s)) => s > b,
        (Some(_), None) => false,
    };
    if stale {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--release", "-p", "hull-probe"])
            .current_dir(&ws)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .status()
            .expect("running cargo build -p hull-probe");
        assert!(st.success(), "cargo build --release -p hull-probe failed");
    }
    assert!(bin.exists(), "probe binary {} missing", bin.display());
    bin
}

struct FileLock(fs::File);
impl FileLock {
    fn acquire(path: &Path) -> FileLock {
        use std::os::fd::AsRawFd;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open lock {}: {e}", path.display()));
        // SAFETY: valid fd.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock {}", path.display());
        FileLock(f)
    }
}
impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: valid fd.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The shared fixture rootfs (`<workspace>/target/fixtures/rootfs`, or
/// `$HULL_FIXTURES_DIR/rootfs`), built once per test process. Tests must not
/// write into it; use [`Bundle::private_rootfs`] for a writable copy.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let ws = workspace_root();
        let dir = std::env::var_os("HULL_FIXTURES_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| ws.join("target/fixtures"));
        fs::create_dir_all(&dir).expect("create fixtures dir");
        let _lock = FileLock::acquire(&dir.join(".lock"));
        let probe = probe_bin();
        let dest = dir.join("rootfs");
        let out = Command::new("/bin/sh")
            .arg(ws.join("tests/fixtures/mkrootfs.sh"))
            .arg(&dest)
            .arg(&probe)
            .stdin(Stdio::null())
            .output()
            .expect("run mkrootfs.sh");
        assert!(
            out.status.success(),
            "mkrootfs.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dest.canonicalize().unwrap()
    })
}

// ---------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------

/// Paths of runc's default maskedPaths that don't exist on every kernel
/// (missing ones must be skipped by the runtime).
pub const MAYBE_MISSING_MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/kcore",
    "/proc/latency_stats",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
];

/// runc's default maskedPaths, restricted to those that exist on this host.
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
    ]
    .iter()
    .filter(|p| Path::new(p).exists())
    .map(|s| s.to_string())
    .collect()
}

/// runc's default readonlyPaths (some, e.g. /proc/sysrq-trigger, don't exist
/// on every kernel).
pub const RUNC_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// runc's default readonlyPaths, restricted to those that exist on this host.
pub fn default_readonly_paths() -> Vec<String> {
    RUNC_READONLY_PATHS
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|s| s.to_string())
        .collect()
}

/// runc's default capability set.
pub const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The base spec: `runc spec`'s default with terminal false, args
/// `hull-probe report`, a writable root at `root_path`, hostname
/// "hull-test", no cgroup mount, existing masked/readonly paths only, and the
/// given absolute `cgroups_path`.
pub fn base_spec(root_path: &Path, cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["hull-probe", "report"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": root_path.to_string_lossy(), "readonly": false},
        "hostname": "hull-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": default_masked_paths(),
            "readonlyPaths": default_readonly_paths()
        }
    })
}

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Bit number of a capability name ("CAP_KILL" → 5).
pub fn cap_bit(name: &str) -> u32 {
    CAP_NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// Mask of a set of capability names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | (1u64 << cap_bit(n)))
}

/// The mask formatted like /proc/self/status (`%016x`).
pub fn cap_hex(names: &[&str]) -> String {
    format!("{:016x}", cap_mask(names))
}

// ---------------------------------------------------------------------------
// Command output
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Output {
    /// the command line (for messages)
    pub cmd: String,
    /// exit code; 128+N when killed by signal N
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }
    /// Panic with the command's output unless it exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
    /// Panic unless it exited non-zero.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded: {self}");
        self
    }
    /// All JSON object lines of stdout.
    pub fn json_all(&self) -> Vec<Value> {
        json_lines(&self.stdout)
    }
    /// The probe's JSON report (the last stdout line that parses as a JSON object).
    #[track_caller]
    pub fn json(&self) -> Value {
        parse_probe(&self.stdout).unwrap_or_else(|| panic!("no JSON in output of {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }
}

/// The fd numbers in a probe report's (or `fds` output's) `fds` list.
pub fn fd_numbers(report: &Value) -> Vec<i64> {
    report["fds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["fd"].as_i64())
        .collect()
}

/// Parse the probe's JSON from (possibly mixed) output: the last line that
/// parses as a JSON object.
pub fn parse_probe(s: &str) -> Option<Value> {
    s.lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
}

/// Every stdout line that parses as a JSON object, in order (for commands
/// that run the probe several times, e.g. via `sh -c`).
pub fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .collect()
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// A spawned runtime command whose stdout/stderr go to files.
pub struct Spawned {
    pub child: Child,
    cmd: String,
    out: PathBuf,
    err: PathBuf,
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    /// Whether it has exited (without reaping the status for `wait`).
    pub fn try_done(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
    /// Wait (bounded) for exit; on timeout kill the runtime process (which we
    /// spawned) and panic.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "`{}` timed out after {:?}\nstdout: {}\nstderr: {}",
                        self.cmd,
                        timeout,
                        read_lossy(&self.out),
                        read_lossy(&self.err)
                    );
                }
                Err(e) => panic!("wait {}: {e}", self.cmd),
            }
        };
        Output {
            cmd: self.cmd.clone(),
            code: exit_code(status),
            stdout: read_lossy(&self.out),
            stderr: read_lossy(&self.err),
        }
    }
}

fn read_lossy(p: &Path) -> String {
    let mut b = Vec::new();
    if let Ok(mut f) = fs::File::open(p) {
        let _ = f.read_to_end(&mut b);
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------------------
// Bundle
// ---------------------------------------------------------------------------

/// A bundle directory with a `config.json` generated from [`base_spec`].
/// Mutate `spec`, then hand the bundle to a [`Runtime`] command, which writes
/// config.json first.
pub struct Bundle {
    pub dir: PathBuf,
    /// default container id (unique per test process)
    pub id: String,
    /// cgroup name: `cgroupsPath` is `/hull-test-<pid>/<cgroup_name>`
    pub cgroup_name: String,
    pub spec: Value,
}

impl Bundle {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// Write `spec` to config.json.
    pub fn write_config(&self) {
        let s = serde_json::to_string_pretty(&self.spec).unwrap();
        fs::write(self.config_path(), s).expect("write config.json");
    }
    pub fn cgroups_path(&self) -> String {
        format!("{}/{}", cgroup_parent(), self.cgroup_name)
    }
    pub fn process(&mut self) -> &mut Value {
        &mut self.spec["process"]
    }
    pub fn linux(&mut self) -> &mut Value {
        &mut self.spec["linux"]
    }
    /// Set `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.spec["process"]["args"] = json!(args);
        self
    }
    pub fn rootfs_path(&self) -> PathBuf {
        PathBuf::from(self.spec["root"]["path"].as_str().unwrap())
    }
    /// Copy the fixture rootfs into `<bundle>/rootfs` (writable, private to
    /// this bundle) and point `root.path` at it. Returns the path. The copy
    /// holds a file `/.hull-marker-<bundle id>` (see [`leftover_processes`]).
    pub fn private_rootfs(&mut self) -> PathBuf {
        let dest = self.dir.join("rootfs");
        if !dest.exists() {
            let st = Command::new("cp")
                .arg("-a")
                .arg(rootfs())
                .arg(&dest)
                .status()
                .expect("cp -a rootfs");
            assert!(st.success(), "copying rootfs failed");
            fs::write(dest.join(format!(".hull-marker-{}", self.id)), "").unwrap();
        }
        self.spec["root"]["path"] = json!(dest.to_string_lossy());
        dest
    }
    /// Namespace types currently configured.
    pub fn namespace_types(&self) -> Vec<String> {
        self.spec["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Remove a namespace entry by type.
    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        if let Some(a) = self.spec["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
        }
        self
    }
    /// Add (or replace) a namespace entry, optionally joining `path`.
    pub fn set_namespace(&mut self, ty: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(ty);
        let mut e = json!({ "type": ty });
        if let Some(p) = path {
            e["path"] = json!(p);
        }
        self.spec["linux"]["namespaces"]
            .as_array_mut()
            .expect("linux.namespaces")
            .push(e);
        self
    }
    /// Append a mount.
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.spec["mounts"].as_array_mut().expect("mounts").push(m);
        self
    }
    /// Bind-mount host directory `src` at `dest` (read-write).
    pub fn bind(&mut self, src: &Path, dest: &str) -> &mut Self {
        self.add_mount(json!({
            "destination": dest, "type": "bind",
            "source": src.to_string_lossy(), "options": ["rbind", "rw"]
        }))
    }
    /// Add a hook of `kind` (prestart, createRuntime, ...).
    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.spec["hooks"].is_object() {
            self.spec["hooks"] = json!({});
        }
        if !self.spec["hooks"][kind].is_array() {
            self.spec["hooks"][kind] = json!([]);
        }
        self.spec["hooks"][kind].as_array_mut().unwrap().push(hook);
        self
    }
    /// Create (and return) a host directory inside the bundle, mode 0777.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        d
    }
}

// ---------------------------------------------------------------------------
// Runtime (+ cleanup guard)
// ---------------------------------------------------------------------------

static LIVE_RUNTIMES: Mutex<usize> = Mutex::new(0);
static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One per test: runs `HULL_BIN --root <private root> ...`, creates bundles
/// with unique ids/cgroups, and cleans everything up on Drop.
pub struct Runtime {
    pub name: String,
    /// `/tmp/hull-it-<pid>-<name>`: holds root/, io/, bundles
    pub base: PathBuf,
    /// private `--root` state dir
    pub root: PathBuf,
    ids: Mutex<Vec<String>>,
    cgroups: Mutex<Vec<String>>,
    pids: Mutex<Vec<i32>>,
    netns: Mutex<Vec<String>>,
    seq: AtomicUsize,
    /// The runtime binary (default [`hull_bin`]) and environment every
    /// command of this runtime gets, cleanup included.
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Runtime {
    /// `test` should be the test's name; ids and cgroup names derive from it.
    pub fn new(test: &str) -> Runtime {
        let bin = hull_bin();
        assert!(
            bin.exists(),
            "runtime binary {} not found (set HULL_BIN)",
            bin.display()
        );
        // build the fixture before counting this runtime as live
        rootfs();
        {
            let mut live = LIVE_RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
            *live += 1;
        }
        let name = format!("{}-{}", sanitize(test), std::process::id());
        let base = PathBuf::from(format!(
            "/tmp/hull-it-{}-{}",
            name,
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("io")).unwrap();
        let root = base.join("root");
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        Runtime {
            name,
            base,
            root,
            ids: Mutex::new(Vec::new()),
            cgroups: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            netns: Mutex::new(Vec::new()),
            seq: AtomicUsize::new(0),
            bin,
            env: Vec::new(),
        }
    }

    /// Runs `bin` instead of [`hull_bin`] (e.g. a test build of hull).
    pub fn with_bin(mut self, bin: PathBuf) -> Runtime {
        self.bin = bin;
        self
    }

    /// Sets `key=value` in the environment of every command.
    pub fn with_env(mut self, key: &str, value: &str) -> Runtime {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    fn next(&self) -> usize {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    /// A new bundle (fresh dir, id `<name>-<n>` and cgroup of the same name).
    pub fn bundle(&self) -> Bundle {
        let n = self.next();
        let id = format!("{}-{}", self.name, n);
        let dir = self.base.join(format!("bundle-{n}"));
        fs::create_dir_all(&dir).unwrap();
        self.cgroups.lock().unwrap().push(id.clone());
        let spec = base_spec(rootfs(), &format!("{}/{}", cgroup_parent(), id));
        Bundle {
            dir,
            id: id.clone(),
            cgroup_name: id,
            spec,
        }
    }

    /// Record a container id for forced deletion on Drop.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }

    fn command(&self, args: &[&str]) -> (Command, String) {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.stdin(Stdio::null());
        let desc = format!(
            "{} --root {} {}",
            self.bin.display(),
            self.root.display(),
            args.join(" ")
        );
        (c, desc)
    }

    /// Spawn `HULL_BIN --root <root> args...` with stdout/stderr to files
    /// `io/<tag>.out|.err` and cwd `cwd` (when given).
    pub fn spawn_in(&self, args: &[&str], cwd: Option<&Path>, tag: &str) -> Spawned {
        self.spawn_adjusted(args, cwd, tag, |_| {})
    }

    /// [`Runtime::spawn_in`], with `adjust` applied to the command first
    /// (e.g. a `pre_exec` changing what the runtime process inherits).
    pub fn spawn_adjusted(
        &self,
        args: &[&str],
        cwd: Option<&Path>,
        tag: &str,
        adjust: impl FnOnce(&mut Command),
    ) -> Spawned {
        let (mut c, desc) = self.command(args);
        adjust(&mut c);
        let out = self.base.join("io").join(format!("{tag}.out"));
        let err = self.base.join("io").join(format!("{tag}.err"));
        c.stdout(fs::File::create(&out).unwrap());
        c.stderr(fs::File::create(&err).unwrap());
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        // A script a test has just written (a wrapper around hull) gives
        // ETXTBSY while another test thread's fork still holds the write
        // fd, until that child execs: try again then.
        let mut tries = 0;
        let child = loop {
            match c.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => break r.unwrap_or_else(|e| panic!("spawn {desc}: {e}")),
            }
        };
        Spawned {
            child,
            cmd: desc,
            out,
            err,
        }
    }

    /// Run a runtime command to completion (default timeout).
    #[track_caller]
    pub fn exec(&self, args: &[&str]) -> Output {
        self.exec_adjusted(args, |_| {})
    }

    /// [`Runtime::exec`] with the command adjusted first (see
    /// [`Runtime::spawn_adjusted`]).
    #[track_caller]
    pub fn exec_adjusted(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Output {
        let tag = format!("cmd-{}", self.next());
        self.spawn_adjusted(args, None, &tag, adjust)
            .wait(default_timeout())
    }

    /// `create --bundle <dir> <bundle.id>`.
    #[track_caller]
    pub fn create(&self, b: &Bundle) -> Output {
        self.create_as(b, &b.id, &[])
    }

    /// `create [extra...] --bundle <dir> <id>`. The container's stdout/stderr
    /// are the files returned by [`Runtime::container_stdout`] / `_stderr`.
    #[track_caller]
    pub fn create_as(&self, b: &Bundle, id: &str, extra: &[&str]) -> Output {
        b.write_config();
        self.track(id);
        let dir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", &dir, id]);
        let tag = format!("create-{}-{}", sanitize(id), self.next());
        let sp = self.spawn_in(&args, None, &tag);
        let (out, err) = (sp.out.clone(), sp.err.clone());
        let o = sp.wait(default_timeout());
        // remember where the container's stdio went
        let link = self
            .base
            .join("io")
            .join(format!("container-{}", sanitize(id)));
        let _ = fs::remove_file(link.with_extension("out"));
        let _ = fs::remove_file(link.with_extension("err"));
        let _ = std::os::unix::fs::symlink(&out, link.with_extension("out"));
        let _ = std::os::unix::fs::symlink(&err, link.with_extension("err"));
        o
    }

    /// What the container (created with [`Runtime::create_as`]) wrote to stdout.
    pub fn container_stdout(&self, id: &str) -> String {
        read_lossy(
            &self
                .base
                .join("io")
                .join(format!("container-{}.out", sanitize(id))),
        )
    }
    pub fn container_stderr(&self, id: &str) -> String {
        read_lossy(
            &self
                .base
                .join("io")
                .join(format!("container-{}.err", sanitize(id))),
        )
    }

    #[track_caller]
    pub fn start(&self, id: &str) -> Output {
        self.exec(&["start", id])
    }

    /// `state <id>`: Ok(parsed JSON) on success, Err(output) on failure.
    #[track_caller]
    pub fn state(&self, id: &str) -> Result<Value, Output> {
        let o = self.exec(&["state", id]);
        if !o.success() {
            return Err(o);
        }
        let v: Value = serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {o}"));
        if let Some(pid) = v["pid"].as_i64() {
            if pid > 0 {
                let mut pids = self.pids.lock().unwrap();
                if !pids.contains(&(pid as i32)) {
                    pids.push(pid as i32);
                }
            }
        }
        Ok(v)
    }

    /// `state` that must succeed.
    #[track_caller]
    pub fn state_ok(&self, id: &str) -> Value {
        self.state(id)
            .unwrap_or_else(|o| panic!("state failed: {o}"))
    }

    /// The container's status string ("created", "running", "stopped", ...).
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state_ok(id)["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Poll `state` until status == `want` (panics after `timeout`).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} still {s:?}, wanted {want:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill <id> [signal]` (no signal → runtime default, SIGTERM).
    #[track_caller]
    pub fn kill(&self, id: &str, sig: Option<&str>) -> Output {
        match sig {
            Some(s) => self.exec(&["kill", id, s]),
            None => self.exec(&["kill", id]),
        }
    }

    #[track_caller]
    pub fn delete(&self, id: &str) -> Output {
        self.exec(&["delete", id])
    }

    #[track_caller]
    pub fn delete_force(&self, id: &str) -> Output {
        self.exec(&["delete", "--force", id])
    }

    /// `list [args...]`.
    #[track_caller]
    pub fn list(&self, args: &[&str]) -> Output {
        let mut a = vec!["list"];
        a.extend_from_slice(args);
        self.exec(&a)
    }

    /// Ids from `list --format json` (runc prints `null` for none).
    #[track_caller]
    pub fn list_ids(&self) -> Vec<String> {
        let o = self.list(&["--format", "json"]);
        o.ok();
        let v: Value = serde_json::from_str(o.stdout.trim())
            .unwrap_or_else(|e| panic!("list json ({e}): {o}"));
        match v {
            Value::Null => vec![],
            Value::Array(a) => a
                .iter()
                .map(|c| c["id"].as_str().unwrap_or_default().to_string())
                .collect(),
            other => panic!("list --format json gave {other}"),
        }
    }

    /// `run --bundle <dir> <bundle.id>` in the foreground; stdout is the
    /// container's stdout.
    #[track_caller]
    pub fn run(&self, b: &Bundle) -> Output {
        self.spawn_run(b, &[]).wait(default_timeout())
    }

    /// Spawn `run [extra...] --bundle <dir> <bundle.id>` without waiting.
    pub fn spawn_run(&self, b: &Bundle, extra: &[&str]) -> Spawned {
        b.write_config();
        self.track(&b.id);
        let dir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", &dir, &b.id]);
        let tag = format!("run-{}-{}", sanitize(&b.id), self.next());
        self.spawn_in(&args, None, &tag)
    }

    /// `run` the bundle and parse the probe's JSON report from its stdout
    /// (panics unless the run exits 0).
    #[track_caller]
    pub fn report(&self, b: &Bundle) -> Value {
        let o = self.run(b);
        o.ok();
        o.json()
    }

    /// Directory of the runtime's state for `id` (runc: `<root>/<id>`).
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Existing cgroup dirs of `b` in any hierarchy.
    pub fn cgroup_dirs(&self, b: &Bundle) -> Vec<PathBuf> {
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(b.cgroups_path().trim_start_matches('/')))
            .filter(|p| p.exists())
            .collect()
    }

    /// Create a network namespace `hull-test-<pid>-<n>` with `ip netns add`
    /// (deleted on Drop); returns its path.
    pub fn netns(&self) -> PathBuf {
        // The process-wide counter: tests running at once in one binary
        // each have a Runtime whose own counter starts at 0.
        let name = format!(
            "hull-test-{}-n{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add");
        assert!(st.success(), "ip netns add {name} failed");
        self.netns.lock().unwrap().push(name.clone());
        PathBuf::from("/run/netns").join(name)
    }

    fn cleanup(&mut self) {
        // 1. force-delete every container we created or that the root lists
        let mut ids = self.ids.lock().unwrap().clone();
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        for id in &ids {
            if id.is_empty() {
                continue;
            }
            let (mut c, _) = self.command(&["delete", "--force", id]);
            c.stdout(Stdio::null()).stderr(Stdio::null());
            if let Ok(mut ch) = c.spawn() {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    match ch.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() > deadline => {
                            let _ = ch.kill();
                            let _ = ch.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }
        }
        // 2. container pids seen via `state` that survived and still live in
        //    one of our cgroups: SIGKILL them (never anything else).
        let cgroups = self.cgroups.lock().unwrap().clone();
        let parent = cgroup_parent();
        for pid in self.pids.lock().unwrap().iter() {
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            let ours = cg.lines().any(|l| {
                let path = l.splitn(3, ':').nth(2).unwrap_or("");
                cgroups.iter().any(|c| {
                    path == format!("{parent}/{c}") || path.starts_with(&format!("{parent}/{c}/"))
                })
            });
            if ours {
                eprintln!("cleanup: killing leftover container pid {pid}");
                // SAFETY: plain kill of a pid verified to be in our cgroup.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
        }
        // 3. our cgroups, deepest first, in every hierarchy
        for c in &cgroups {
            for h in cgroup_hierarchies() {
                let p = h.join(parent.trim_start_matches('/')).join(c);
                if p.exists() {
                    remove_cgroup_tree(&p);
                }
            }
        }
        // 4. network namespaces we created
        for n in self.netns.lock().unwrap().iter() {
            let _ = Command::new("ip")
                .args(["netns", "delete", n])
                .stderr(Stdio::null())
                .status();
        }
        // 5. temp dirs (never across a mount point)
        remove_tree_safely(&self.base);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.cleanup();
        let mut live = LIVE_RUNTIMES.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live == 0 {
            // last runtime of this process: remove /hull-test-<pid> parents
            let parent = cgroup_parent();
            for h in cgroup_hierarchies() {
                let p = h.join(parent.trim_start_matches('/'));
                if p.exists() {
                    let _ = fs::remove_dir(&p);
                }
            }
        }
    }
}

/// rmdir a cgroup directory tree, children first; retries while busy
/// (processes may take a moment to leave).
pub fn remove_cgroup_tree(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(p) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                if Instant::now() > deadline {
                    eprintln!("cleanup: cannot remove cgroup {}: {e}", p.display());
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Every mount point in this process's mount namespace.
pub fn host_mount_points() -> std::collections::BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .collect()
}

/// Mount points at or under `dir` in this process's mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m == &d || m.starts_with(&format!("{d}/")))
        .collect()
}

fn remove_tree_safely(dir: &Path) {
    let m = mounts_under(dir);
    if !m.is_empty() {
        eprintln!(
            "cleanup: not removing {}: mount points inside: {m:?}",
            dir.display()
        );
        return;
    }
    let _ = fs::remove_dir_all(dir);
}

fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

// ---------------------------------------------------------------------------
// Process inspection
// ---------------------------------------------------------------------------

/// Processes (other than this one) that belong to a test container: whose
/// command line contains `marker`, whose cwd or root is `dir` or below it,
/// whose cgroup path contains `marker`, or whose root directory holds the
/// file `/.hull-marker-<marker>` (see [`Bundle::private_rootfs`], which
/// creates it — this catches pivoted processes whose cmdline doesn't carry
/// the marker, e.g. a runtime's init before exec). Returns (pid, cmdline).
pub fn leftover_processes(marker: &str, dir: &Path) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let d = dir.to_string_lossy().into_owned();
    let under = |p: Option<PathBuf>| {
        p.map(|p| {
            let p = p.to_string_lossy().into_owned();
            p == d || p.starts_with(&format!("{d}/"))
        })
        .unwrap_or(false)
    };
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        // zombies have an empty cmdline and no cwd/root: they are gone
        let hit = (!marker.is_empty() && cmdline.contains(marker))
            || under(fs::read_link(format!("/proc/{pid}/cwd")).ok())
            || under(fs::read_link(format!("/proc/{pid}/root")).ok())
            || (!marker.is_empty()
                && (Path::new(&format!("/proc/{pid}/root/.hull-marker-{marker}")).exists()
                    || fs::read_to_string(format!("/proc/{pid}/cgroup"))
                        .map(|c| c.contains(marker))
                        .unwrap_or(false)));
        if hit {
            v.push((pid, cmdline));
        }
    }
    v
}

/// Wait (up to `timeout`) until no process matches [`leftover_processes`];
/// returns what is still left.
pub fn wait_no_leftovers(marker: &str, dir: &Path, timeout: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + timeout;
    loop {
        let l = leftover_processes(marker, dir);
        if l.is_empty() || Instant::now() > deadline {
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `pid` has a handler for signal `signo` (SigCgt in its
/// status). `start` returns before the container's program has run, and a
/// pid namespace's init ignores a signal it has no handler for, so a test
/// that signals a program right after start must wait for this first.
#[track_caller]
pub fn wait_catches(pid: i64, signo: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let bit = 1u64 << (signo - 1);
    loop {
        let caught = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(0);
        if caught & bit != 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} has no handler for signal {signo} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" of comm
            let st = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !st.starts_with('Z') && !st.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Write a file (creating parent dirs), handy for hook scripts.
pub fn write_file(p: &Path, content: &str, mode: u32) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    let mut f = fs::File::create(p).unwrap();
    f.write_all(content.as_bytes()).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Seconds as f64 from a JSON number.
pub fn as_f64(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Read this process's CLOCK_MONOTONIC / CLOCK_BOOTTIME in seconds.
pub fn host_clock(clk: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(clk, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

// ---------------------------------------------------------------------------
// mountinfo
// ---------------------------------------------------------------------------

/// One /proc/self/mountinfo line.
#[derive(Debug, Clone)]
pub struct MountEntry {
    /// root of the mount within its filesystem (field 4)
    pub root: String,
    pub mount_point: String,
    /// per-mount options (field 6), e.g. ["ro", "nosuid", "relatime"]
    pub options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// per-superblock options
    pub super_options: Vec<String>,
}

impl MountEntry {
    pub fn has_opt(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }
    pub fn has_super_opt(&self, o: &str) -> bool {
        self.super_options.iter().any(|x| x == o)
    }
}

fn unescape_mount(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("x"), 8)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo lines (e.g. a report's `mountinfo` array).
pub fn parse_mountinfo<'a, I: IntoIterator<Item = &'a str>>(lines: I) -> Vec<MountEntry> {
    lines
        .into_iter()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let g: Vec<&str> = post.split(' ').collect();
            if f.len() < 6 || g.len() < 3 {
                return None;
            }
            Some(MountEntry {
                root: unescape_mount(f[3]),
                mount_point: unescape_mount(f[4]),
                options: f[5].split(',').map(String::from).collect(),
                fs_type: g[0].to_string(),
                source: unescape_mount(g[1]),
                super_options: g[2].split(',').map(String::from).collect(),
            })
        })
        .collect()
}

/// The mounts of a probe report.
pub fn report_mounts(report: &Value) -> Vec<MountEntry> {
    parse_mountinfo(
        report["mountinfo"]
            .as_array()
            .expect("report has mountinfo")
            .iter()
            .filter_map(|l| l.as_str()),
    )
}

/// The last (topmost) mount at `mount_point`, if any.
pub fn find_mount<'a>(mounts: &'a [MountEntry], mount_point: &str) -> Option<&'a MountEntry> {
    mounts.iter().rev().find(|m| m.mount_point == mount_point)
}

/// Accepts one connection on `listener` and receives a message with one fd
/// attached (SCM_RIGHTS), as a console socket or a seccomp agent would.
pub fn accept_with_fd(
    listener: &std::os::unix::net::UnixListener,
) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = listener.accept().unwrap();
    let mut data = vec![0u8; 65536];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cmsg = [0u8; 64];
    // SAFETY: msghdr points at live buffers for the duration of recvmsg.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = cmsg.len();
        let n = libc::recvmsg(conn.as_raw_fd(), &mut msg, 0);
        assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS,
            "no fd received"
        );
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
        data.truncate(n as usize);
        (data, std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}
