//! `hull-probe`: a test helper that runs INSIDE a container and reports what
//! it sees as a single JSON object on stdout (one line, terminated by '\n').
//!
//! Subcommands:
//!
//! * `report` — everything below (see [`report`]).
//! * `exit N` — exit with status N.
//! * `sleep SECS` — sleep (fractional seconds allowed). SIGTERM, SIGINT,
//!   SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 get a handler that exits with
//!   128+signo, so the probe is killable by SIGTERM even as the init of a PID
//!   namespace (where signals with the default disposition are ignored).
//! * `fds` — only the open file descriptors: `{"fds":[{"fd":0,"target":"..."}]}`.
//! * `kill-self SIG` — send signal number SIG to itself (exit status 128+SIG
//!   as seen by a parent); if it survives, exits 99.
//! * `stat PATH...` — lstat each path: `{"stat":{"PATH":{"type":"char",
//!   "mode":"0666","major":1,"minor":3,"uid":0,"gid":0,"link":"..."}}}`, or
//!   `{"error":"...","errno":N}` per path. `type` is one of file, dir,
//!   symlink, char, block, fifo, socket.
//! * `read PATH` — `{"ok":true,"content":"..."}` or
//!   `{"ok":false,"errno":N,"error":"..."}`.
//! * `write PATH DATA` — open(O_WRONLY|O_CREAT|O_TRUNC, 0644) and write DATA;
//!   `{"ok":true}` or `{"ok":false,"errno":N,"error":"..."}`.
//! * `ls PATH` — `{"ok":true,"entries":["a","b"]}` (sorted, without . and
//!   ..) or `{"ok":false,"errno":N,"error":"..."}`.
//! * `cat PATH` — copy the file to stdout verbatim (no JSON).
//! * `print-env` / `echo ARGS...` — the environment / the arguments, as JSON.
//! * `syscall NAME|NR...` — makes each system call with arguments that make
//!   it fail harmlessly when it is allowed (getcwd: ERANGE, close_range:
//!   EINVAL, mkdirat: ENOENT) and prints `{"NAME":errno,...}`, 0 for success.
//!   A number is called with zero arguments: use only numbers no kernel has
//!   (e.g. 1000), to see what a seccomp filter answers for them.
//! * `exes` — every process's /proc/PID/exe as an attacker would use it:
//!   opened O_PATH, then reopened through /proc/self/fd for writing
//!   (O_WRONLY|O_APPEND, nothing written): `{"exes":[{"pid":1,"dev":N,
//!   "ino":N,"ro":false,"write_errno":26}]}`; `write_errno` 0 means the
//!   reopen succeeded; a link that cannot be opened has only `open_errno`.
//! * `attack-runtime WORD...` — every other process whose argv holds each
//!   WORD (e.g. `run ID`: the waiting runtime) and whose argv[0] is not the
//!   probe's, attacked as a container would the runtime (CVE-2019-5736):
//!   `{"targets":[{"pid":N,"argv0":"...","cap_prm":"...","exe_rdonly":E,
//!   "exe_wronly":E,"exe_path":E,"exe_reopen_w":E,"mem":E,"fd0":E,
//!   "cwd":E}]}`, each E the errno of opening /proc/PID/exe read-only,
//!   write-only, O_PATH (then reopened through /proc/self/fd for writing,
//!   absent when the O_PATH open failed), /proc/PID/mem read-write, and of
//!   readlink /proc/PID/fd/0 and /proc/PID/cwd; 0 means it succeeded.
//!   Nothing is ever written. `cap_prm` is CapPrm from /proc/PID/status.
//! * `memory MIB STATUS_FILE` — hold MIB MiB with a per-round pattern,
//!   checked and rewritten every 100 ms; STATUS_FILE says `round=R bad=B`
//!   (see [`memory`]). For checkpoint/restore tests.
//!
//! Conventions of `report`:
//!
//! * rlimits: `{"RLIMIT_NOFILE":[soft,hard],...}`; RLIM_INFINITY is written as
//!   `-1`.
//! * uid/gid: `{"real":0,"effective":0,"saved":0,"fs":0}` (from
//!   /proc/self/status).
//! * capabilities: the hex strings exactly as in /proc/self/status, e.g.
//!   `"CapEff":"00000000a80425fb"`.
//! * namespaces: `{"pid":"pid:[4026531836]",...}`; a namespace the kernel
//!   doesn't have is `null`.
//! * files that can't be read (e.g. uid_map without /proc) are `null`.
//! * `monotonic` / `boottime`: seconds as floating point numbers.

use std::ffi::{CStr, CString, OsStr};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;

// ---------------------------------------------------------------------------
// Minimal JSON writer
// ---------------------------------------------------------------------------

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_bytes(b: &[u8]) -> String {
    json_str(&String::from_utf8_lossy(b))
}

fn json_opt_str(s: Option<&str>) -> String {
    match s {
        Some(s) => json_str(s),
        None => "null".to_string(),
    }
}

fn json_arr<I: IntoIterator<Item = String>>(items: I) -> String {
    let v: Vec<String> = items.into_iter().collect();
    format!("[{}]", v.join(","))
}

/// An ordered JSON object under construction.
#[derive(Default)]
struct Obj(Vec<(String, String)>);

impl Obj {
    fn raw(&mut self, k: &str, v: String) -> &mut Self {
        self.0.push((k.to_string(), v));
        self
    }
    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.raw(k, json_str(v))
    }
    fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        self.raw(k, json_opt_str(v))
    }
    fn num<T: std::fmt::Display>(&mut self, k: &str, v: T) -> &mut Self {
        self.raw(k, v.to_string())
    }
    fn boolean(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, v.to_string())
    }
    fn finish(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{}", json_str(k), v))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}

fn emit(s: String) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn err_obj(e: &std::io::Error) -> Obj {
    let mut o = Obj::default();
    o.boolean("ok", false)
        .num("errno", e.raw_os_error().unwrap_or(0))
        .str("error", &e.to_string());
    o
}

fn read_string(path: &str) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn readlink(path: &str) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn status_fields() -> Vec<(String, String)> {
    read_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn status_get<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn id_quad(v: Option<&str>) -> String {
    let nums: Vec<&str> = v
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    let get = |i: usize| nums.get(i).copied().unwrap_or("null").to_string();
    let mut o = Obj::default();
    o.raw("real", get(0))
        .raw("effective", get(1))
        .raw("saved", get(2))
        .raw("fs", get(3));
    o.finish()
}

fn cstr_field(buf: &[libc::c_char]) -> String {
    // SAFETY: utsname fields are NUL-terminated within their buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn clock_secs(clk: libc::clockid_t) -> String {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    if unsafe { libc::clock_gettime(clk, &mut ts) } != 0 {
        return "null".into();
    }
    format!("{}.{:09}", ts.tv_sec, ts.tv_nsec)
}

const RLIMITS: &[(&str, i32)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS as i32),
    ("RLIMIT_CORE", libc::RLIMIT_CORE as i32),
    ("RLIMIT_CPU", libc::RLIMIT_CPU as i32),
    ("RLIMIT_DATA", libc::RLIMIT_DATA as i32),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE as i32),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS as i32),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
    ("RLIMIT_NICE", libc::RLIMIT_NICE as i32),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE as i32),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC as i32),
    ("RLIMIT_RSS", libc::RLIMIT_RSS as i32),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO as i32),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME as i32),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
    ("RLIMIT_STACK", libc::RLIMIT_STACK as i32),
];

fn rlim_json(v: libc::rlim_t) -> String {
    if v == libc::RLIM_INFINITY {
        "-1".into()
    } else {
        v.to_string()
    }
}

fn rlimits() -> String {
    let mut o = Obj::default();
    for (name, res) in RLIMITS {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointer; resource ids come from libc.
        let r = unsafe { libc::getrlimit(*res as _, &mut rl) };
        if r == 0 {
            o.raw(
                name,
                format!("[{},{}]", rlim_json(rl.rlim_cur), rlim_json(rl.rlim_max)),
            );
        } else {
            o.raw(name, "null".into());
        }
    }
    o.finish()
}

const NAMESPACES: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

fn namespaces() -> String {
    let mut o = Obj::default();
    for ns in NAMESPACES {
        o.opt_str(ns, readlink(&format!("/proc/self/ns/{ns}")).as_deref());
    }
    o.finish()
}

/// Open fds (numbers and readlink targets), excluding the directory fd used
/// to list /proc/self/fd.
fn fds() -> String {
    let mut entries: Vec<(i32, Option<String>)> = Vec::new();
    let path = CString::new("/proc/self/fd").unwrap();
    // SAFETY: straightforward use of opendir/readdir/closedir.
    unsafe {
        let dir = libc::opendir(path.as_ptr());
        if dir.is_null() {
            return "null".into();
        }
        let own = libc::dirfd(dir);
        loop {
            let ent = libc::readdir(dir);
            if ent.is_null() {
                break;
            }
            let name = CStr::from_ptr((*ent).d_name.as_ptr());
            let Ok(name) = name.to_str() else { continue };
            let Ok(fd) = name.parse::<i32>() else {
                continue;
            };
            if fd == own {
                continue;
            }
            entries.push((fd, readlink(&format!("/proc/self/fd/{fd}"))));
        }
        libc::closedir(dir);
    }
    entries.sort();
    json_arr(entries.into_iter().map(|(fd, t)| {
        let mut o = Obj::default();
        o.num("fd", fd).opt_str("target", t.as_deref());
        o.finish()
    }))
}

fn lines_or_null(path: &str) -> String {
    match read_string(path) {
        Some(s) => json_arr(s.lines().map(json_str)),
        None => "null".into(),
    }
}

// ---------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------

fn report() {
    let st = status_fields();
    let mut o = Obj::default();

    // SAFETY: trivial libc getters.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    o.num("pid", pid).num("ppid", ppid);
    o.raw("uid", id_quad(status_get(&st, "Uid")));
    o.raw("gid", id_quad(status_get(&st, "Gid")));
    o.raw(
        "groups",
        json_arr(
            status_get(&st, "Groups")
                .unwrap_or("")
                .split_whitespace()
                .map(|s| s.to_string()),
        ),
    );
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        o.opt_str(k, status_get(&st, k));
    }
    o.raw(
        "NoNewPrivs",
        status_get(&st, "NoNewPrivs").unwrap_or("null").to_string(),
    );
    o.raw(
        "Seccomp",
        status_get(&st, "Seccomp").unwrap_or("null").to_string(),
    );
    o.opt_str("umask", status_get(&st, "Umask"));
    o.raw("rlimits", rlimits());
    o.raw("namespaces", namespaces());

    // SAFETY: utsname is plain data, uname fills it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } == 0 {
        o.str("hostname", &cstr_field(&uts.nodename));
        o.str("domainname", &cstr_field(&uts.domainname));
    } else {
        o.raw("hostname", "null".into())
            .raw("domainname", "null".into());
    }

    o.opt_str(
        "cwd",
        std::env::current_dir()
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .as_deref(),
    );
    o.raw(
        "env",
        json_arr(std::env::vars_os().map(|(k, v)| {
            let mut s = k.as_bytes().to_vec();
            s.push(b'=');
            s.extend_from_slice(v.as_bytes());
            json_bytes(&s)
        })),
    );
    o.raw(
        "args",
        json_arr(std::env::args_os().map(|a| json_bytes(a.as_bytes()))),
    );
    o.opt_str("uid_map", read_string("/proc/self/uid_map").as_deref());
    o.opt_str("gid_map", read_string("/proc/self/gid_map").as_deref());
    o.opt_str(
        "setgroups",
        read_string("/proc/self/setgroups")
            .as_deref()
            .map(|s| s.trim()),
    );
    match read_string("/proc/self/oom_score_adj").and_then(|s| s.trim().parse::<i64>().ok()) {
        Some(v) => o.num("oom_score_adj", v),
        None => o.raw("oom_score_adj", "null".into()),
    };
    o.raw("cgroup", lines_or_null("/proc/self/cgroup"));
    o.raw("mountinfo", lines_or_null("/proc/self/mountinfo"));
    o.raw("fds", fds());
    match read_string("/proc/uptime").and_then(|s| s.split_whitespace().next().map(String::from)) {
        Some(u) => o.raw("uptime", u),
        None => o.raw("uptime", "null".into()),
    };
    o.raw("monotonic", clock_secs(libc::CLOCK_MONOTONIC));
    o.raw("boottime", clock_secs(libc::CLOCK_BOOTTIME));
    o.opt_str("exe", readlink("/proc/self/exe").as_deref());
    emit(o.finish());
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

fn sleep(secs: f64) {
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installing a handler that only calls _exit.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs.max(0.0));
    loop {
        let now = std::time::Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep(end - now);
    }
}

fn file_type(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

fn stat_paths(paths: &[String]) {
    let mut all = Obj::default();
    for p in paths {
        let c = CString::new(OsStr::new(p).as_bytes()).unwrap();
        // SAFETY: stat is plain data, lstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let mut o = Obj::default();
        if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
            let e = std::io::Error::from_raw_os_error(errno());
            o.num("errno", e.raw_os_error().unwrap_or(0))
                .str("error", &e.to_string());
        } else {
            o.str("type", file_type(st.st_mode))
                .str("mode", &format!("{:04o}", st.st_mode & 0o7777))
                .num("major", libc::major(st.st_rdev))
                .num("minor", libc::minor(st.st_rdev))
                .num("uid", st.st_uid)
                .num("gid", st.st_gid)
                .num("size", st.st_size);
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                o.opt_str("link", readlink(p).as_deref());
            }
        }
        all.raw(p, o.finish());
    }
    let mut top = Obj::default();
    top.raw("stat", all.finish());
    emit(top.finish());
}

fn read_path(path: &str) {
    match std::fs::read(path) {
        Ok(b) => {
            let mut o = Obj::default();
            o.boolean("ok", true)
                .raw("content", json_bytes(&b))
                .num("len", b.len());
            emit(o.finish());
        }
        Err(e) => emit(err_obj(&e).finish()),
    }
}

fn write_path(path: &str, data: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()));
    match r {
        Ok(()) => {
            let mut o = Obj::default();
            o.boolean("ok", true);
            emit(o.finish());
        }
        Err(e) => emit(err_obj(&e).finish()),
    }
}

fn ls_path(path: &str) {
    match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let mut o = Obj::default();
            o.boolean("ok", true)
                .raw("entries", json_arr(names.iter().map(|n| json_str(n))));
            emit(o.finish());
        }
        Err(e) => emit(err_obj(&e).finish()),
    }
}

fn syscalls(calls: &[String]) {
    let mut o = Obj::default();
    for c in calls {
        // SAFETY: each call gets arguments it rejects before touching
        // anything (a NULL buffer of size 0, an empty fd range, an empty path).
        let rc = unsafe {
            match c.as_str() {
                "getcwd" => libc::syscall(
                    libc::SYS_getcwd,
                    std::ptr::null_mut::<libc::c_char>(),
                    0usize,
                ),
                "close_range" => libc::syscall(libc::SYS_close_range, u32::MAX, 0u32, 0u32),
                "mkdirat" => libc::syscall(libc::SYS_mkdirat, -1, c"".as_ptr(), 0o700),
                nr => match nr.parse::<libc::c_long>() {
                    Ok(nr) => libc::syscall(nr, 0, 0, 0, 0, 0, 0),
                    Err(_) => usage(),
                },
            }
        };
        let errno = if rc == -1 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        };
        o.num(c, errno);
    }
    emit(o.finish());
}

fn exes() {
    let mut list = Vec::new();
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort();
    for pid in pids {
        let mut o = Obj::default();
        o.num("pid", pid);
        let path = CString::new(format!("/proc/{pid}/exe")).unwrap();
        // SAFETY: plain syscalls on a path and fds this function owns.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
            if fd < 0 {
                o.num("open_errno", errno());
                list.push(o.finish());
                continue;
            }
            let mut st: libc::stat = std::mem::zeroed();
            let mut vfs: libc::statvfs = std::mem::zeroed();
            libc::fstat(fd, &mut st);
            libc::fstatvfs(fd, &mut vfs);
            let again = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
            let w = libc::open(
                again.as_ptr(),
                libc::O_WRONLY | libc::O_APPEND | libc::O_CLOEXEC,
            );
            let write_errno = if w < 0 {
                errno()
            } else {
                libc::close(w);
                0
            };
            libc::close(fd);
            o.num("dev", st.st_dev)
                .num("ino", st.st_ino)
                .boolean("ro", vfs.f_flag & libc::ST_RDONLY != 0)
                .num("write_errno", write_errno);
        }
        list.push(o.finish());
    }
    let mut top = Obj::default();
    top.raw("exes", format!("[{}]", list.join(",")));
    emit(top.finish());
}

/// The NUL-separated argv of `pid`, or None once it is gone.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// open(2) of `path` with `flags`: the errno, 0 on success (closed again).
fn open_errno(path: &str, flags: libc::c_int) -> i32 {
    let c = CString::new(path).unwrap();
    // SAFETY: open and close of an fd this function owns.
    unsafe {
        let fd = libc::open(c.as_ptr(), flags | libc::O_CLOEXEC);
        if fd < 0 {
            return errno();
        }
        libc::close(fd);
    }
    0
}

fn attack_runtime(words: &[String]) {
    let me = std::process::id();
    let own_argv0 = cmdline(me).and_then(|a| a.into_iter().next());
    let mut list = Vec::new();
    let pids = std::fs::read_dir("/proc").map(|rd| {
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .collect::<Vec<_>>()
    });
    for pid in pids.unwrap_or_default().into_iter().filter(|p| *p != me) {
        let Some(argv) = cmdline(pid) else { continue };
        if argv.first() == own_argv0.as_ref() || !words.iter().all(|w| argv.contains(w)) {
            continue;
        }
        let mut o = Obj::default();
        o.num("pid", pid)
            .opt_str("argv0", argv.first().map(String::as_str));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let prm = status.lines().find_map(|l| l.strip_prefix("CapPrm:"));
        o.opt_str("cap_prm", prm.map(str::trim));
        let exe = format!("/proc/{pid}/exe");
        o.num("exe_rdonly", open_errno(&exe, libc::O_RDONLY))
            .num("exe_wronly", open_errno(&exe, libc::O_WRONLY))
            .num("mem", open_errno(&format!("/proc/{pid}/mem"), libc::O_RDWR));
        let c = CString::new(exe).unwrap();
        // SAFETY: an O_PATH fd this function owns, closed below.
        let held = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if held < 0 {
            o.num("exe_path", errno());
        } else {
            o.num("exe_path", 0).num(
                "exe_reopen_w",
                open_errno(
                    &format!("/proc/self/fd/{held}"),
                    libc::O_WRONLY | libc::O_APPEND,
                ),
            );
            // SAFETY: closes the fd opened above.
            unsafe { libc::close(held) };
        }
        for (key, link) in [("fd0", "fd/0"), ("cwd", "cwd")] {
            let r = std::fs::read_link(format!("/proc/{pid}/{link}"));
            o.num(key, r.err().map_or(0, |e| e.raw_os_error().unwrap_or(-1)));
        }
        list.push(o.finish());
    }
    let mut top = Obj::default();
    top.raw("targets", format!("[{}]", list.join(",")));
    emit(top.finish());
}

/// The 8-byte word `w` of page `page` in round `round` of `memory`.
fn mem_word(round: u64, page: usize, w: usize) -> u64 {
    round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((page as u64) << 20) ^ w as u64
}

/// `memory MIB STATUS_FILE`: holds MIB MiB whose every page carries a
/// pattern of the current round. Each round checks the whole buffer
/// against the round in memory, counts pages that differ, moves to the
/// next round and rewrites every page, then replaces STATUS_FILE with
/// `round=R bad=B` (B: differing pages seen so far) and sleeps 100 ms.
/// After a checkpoint and restore the round goes on from where it was and
/// B stays 0 only if every page came back.
fn memory(mib: usize, status: &str) -> ! {
    const PAGE_WORDS: usize = 4096 / 8;
    let pages = mib * 256;
    let mut buf = vec![0u64; pages * PAGE_WORDS];
    let fill = |buf: &mut [u64], round: u64| {
        for (p, page) in buf.chunks_mut(PAGE_WORDS).enumerate() {
            for (w, x) in page.iter_mut().enumerate() {
                *x = mem_word(round, p, w);
            }
        }
    };
    let mut round = 0u64;
    let mut bad = 0u64;
    fill(&mut buf, round);
    let tmp = format!("{status}.new");
    loop {
        for (p, page) in buf.chunks(PAGE_WORDS).enumerate() {
            if page
                .iter()
                .enumerate()
                .any(|(w, x)| *x != mem_word(round, p, w))
            {
                bad += 1;
            }
        }
        round += 1;
        fill(&mut buf, round);
        if std::fs::write(&tmp, format!("round={round} bad={bad}\n"))
            .and_then(|()| std::fs::rename(&tmp, status))
            .is_err()
        {
            fail(&format!("writing {status}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: hull-probe report | exit N | sleep SECS | fds | kill-self SIG | \
         stat PATH... | read PATH | write PATH DATA | ls PATH | cat PATH | print-env | echo ARGS... | \
         syscall NAME|NR... | exes | attack-runtime WORD... | memory MIB STATUS_FILE"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("report");
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    match cmd {
        "report" => report(),
        "exit" => {
            let n: i32 = rest
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            std::process::exit(n)
        }
        "sleep" => {
            let s: f64 = rest
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            sleep(s)
        }
        "notify" => {
            // sd_notify: one datagram to $NOTIFY_SOCKET (default READY=1).
            let msg = rest.first().map(String::as_str).unwrap_or("READY=1");
            let path = std::env::var("NOTIFY_SOCKET").unwrap_or_else(|_| usage());
            let sock = std::os::unix::net::UnixDatagram::unbound()
                .unwrap_or_else(|e| fail(&e.to_string()));
            sock.send_to(msg.as_bytes(), &path)
                .unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        }
        "fds" => {
            let mut o = Obj::default();
            o.raw("fds", fds());
            emit(o.finish());
        }
        "kill-self" => {
            let n: i32 = rest
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| usage());
            // SAFETY: sending a signal to ourselves; restore default action first.
            unsafe {
                libc::signal(n, libc::SIG_DFL);
                libc::kill(libc::getpid(), n);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
            std::process::exit(99)
        }
        "stat" if !rest.is_empty() => stat_paths(rest),
        "read" if rest.len() == 1 => read_path(&rest[0]),
        "write" if rest.len() == 2 => write_path(&rest[0], &rest[1]),
        "ls" if rest.len() == 1 => ls_path(&rest[0]),
        "exes" => exes(),
        "attack-runtime" if !rest.is_empty() => attack_runtime(rest),
        "cat" if rest.len() == 1 => match std::fs::read(&rest[0]) {
            Ok(b) => {
                let _ = std::io::stdout().write_all(&b);
            }
            Err(e) => {
                eprintln!("hull-probe: {}: {e}", rest[0]);
                std::process::exit(1)
            }
        },
        "print-env" => {
            let mut o = Obj::default();
            o.raw(
                "env",
                json_arr(std::env::vars_os().map(|(k, v)| {
                    let mut s = k.as_bytes().to_vec();
                    s.push(b'=');
                    s.extend_from_slice(v.as_bytes());
                    json_bytes(&s)
                })),
            );
            emit(o.finish());
        }
        "syscall" if !rest.is_empty() => syscalls(rest),
        "memory" if rest.len() == 2 => match rest[0].parse() {
            Ok(mib) => memory(mib, &rest[1]),
            Err(_) => usage(),
        },
        "echo" => {
            let mut o = Obj::default();
            o.raw("args", json_arr(rest.iter().map(|a| json_str(a))));
            emit(o.finish());
        }
        _ => usage(),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("hull-probe: {msg}");
    std::process::exit(1)
}
