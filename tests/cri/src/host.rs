//! What the host shows: cgroup files and directories, the runtime's state,
//! the CRI log files.

use std::fs;
use std::path::{Path, PathBuf};

/// Mount points of the v1 hierarchies and of the v2 root.
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && (f[2] == "cgroup" || f[2] == "cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .collect()
}

/// Whether CONTROLLER has a v1 hierarchy at /sys/fs/cgroup/CONTROLLER
/// (hybrid or legacy host); otherwise the unified files are used.
pub fn v1(controller: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("cgroup.procs")
        .exists()
}

/// The cgroup of PID for CONTROLLER (v1) or its unified cgroup.
pub fn cgroup_of(pid: u32, controller: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, ctls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if v1(controller) {
            ctls.split(',').any(|c| c == controller)
        } else {
            id == "0"
        };
        hit.then(|| path.to_string())
    })
}

pub fn read(path: impl AsRef<Path>) -> String {
    let p = path.as_ref();
    match fs::read_to_string(p) {
        Ok(s) => s.trim_end().to_string(),
        Err(e) => format!("<{}: {e}>", p.display()),
    }
}

/// Every directory below REL (a cgroup path) in every hierarchy.
pub fn cgroups_below(rel: &str) -> Vec<String> {
    let mut found = Vec::new();
    for root in cgroup_roots() {
        walk(&root.join(rel.trim_start_matches('/')), &mut found);
    }
    found
}

fn walk(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            found.push(e.path().display().to_string());
            walk(&e.path(), found);
        }
    }
}

/// Names in a directory (an absent directory has none).
pub fn entries(dir: &str) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// One line of the CRI log format: `<RFC3339Nano time> <stream> <P|F> <text>`.
pub struct LogLine {
    pub stream: String,
    pub tag: String,
    pub text: String,
}

/// The lines of a CRI log file; an error names the first malformed one.
pub fn parse_cri_log(content: &str) -> Result<Vec<LogLine>, String> {
    content
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, ' ');
            let (time, stream, tag) = (
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
                f.next().unwrap_or(""),
            );
            let text = f.next().unwrap_or("");
            if !rfc3339nano(time)
                || !(stream == "stdout" || stream == "stderr")
                || !(tag == "P" || tag == "F")
            {
                return Err(format!("not a CRI log line: {l:?}"));
            }
            Ok(LogLine {
                stream: stream.into(),
                tag: tag.into(),
                text: text.into(),
            })
        })
        .collect()
}

/// `2006-01-02T15:04:05.999999999Z07:00` in shape.
fn rfc3339nano(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[10] == b'T'
        && b[13] == b':'
        && digits(17..19)
        && (t.ends_with('Z') || t[19..].contains(['+', '-']))
}

/// Bit N of the hex CapEff line of a /proc/<pid>/status text.
pub fn cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

pub fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}
