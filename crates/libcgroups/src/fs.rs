//! Thin helpers over cgroupfs files. Every fallible helper takes the
//! context (spec field or operation) so errors always say what was wanted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{CgroupError, Result};

/// A cgroup directory: its path, for messages and as the fallback, and
/// where the kernel's walk to its files may start (an fd from `Dirs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc<'a> {
    path: &'a Path,
    /// An fd, and the directory's path relative to it ("" for the fd's own).
    at: Option<(BorrowedFd<'a>, &'a Path)>,
}

impl<'a> Loc<'a> {
    /// `path` reached from `fd`: `rel` is the path relative to it, empty
    /// when `fd` is the directory itself.
    pub(crate) fn at(path: &'a Path, fd: BorrowedFd<'a>, rel: &'a Path) -> Loc<'a> {
        Loc {
            path,
            at: Some((fd, rel)),
        }
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &'a Path {
        self.path
    }

    /// Opens `file` in the directory, never creating it.
    fn open(&self, file: &str, flags: OFlags) -> io::Result<File> {
        let flags = flags | OFlags::CLOEXEC;
        let fd = match self.at {
            Some((fd, rel)) if rel.as_os_str().is_empty() => {
                rustix::fs::openat(fd, file, flags, Mode::empty())?
            }
            Some((fd, rel)) => rustix::fs::openat(fd, rel.join(file), flags, Mode::empty())?,
            None => rustix::fs::open(self.path.join(file), flags, Mode::empty())?,
        };
        Ok(File::from(fd))
    }
}

impl<'a> From<&'a Path> for Loc<'a> {
    fn from(path: &'a Path) -> Loc<'a> {
        Loc { path, at: None }
    }
}

impl<'a> From<&'a PathBuf> for Loc<'a> {
    fn from(path: &'a PathBuf) -> Loc<'a> {
        Loc { path, at: None }
    }
}

/// Opens without O_CREAT: a missing knob must surface as ENOENT instead of
/// silently creating a regular file (matters for test trees made of plain
/// directories, and makes "knob absent" detectable everywhere).
pub(crate) fn try_write<'a>(dir: impl Into<Loc<'a>>, file: &str, value: &str) -> io::Result<()> {
    write_one(&open_write(dir, file)?, value)
}

/// A cgroupfs file opened for writing (without O_CREAT, as try_write).
pub(crate) fn open_write<'a>(dir: impl Into<Loc<'a>>, file: &str) -> io::Result<File> {
    dir.into().open(file, OFlags::WRONLY | OFlags::TRUNC)
}

/// One value in one write(2): cgroupfs parses each call as one value.
pub(crate) fn write_one(mut f: &std::fs::File, value: &str) -> io::Result<()> {
    let n = f.write(value.as_bytes())?;
    if n != value.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", value.len()),
        ));
    }
    Ok(())
}

pub(crate) fn write<'a>(ctx: &str, dir: impl Into<Loc<'a>>, file: &str, value: &str) -> Result<()> {
    let dir = dir.into();
    try_write(dir, file, value).map_err(|e| CgroupError::file(ctx, "writing", file, dir.path(), e))
}

pub(crate) fn try_read<'a>(dir: impl Into<Loc<'a>>, file: &str) -> io::Result<String> {
    String::from_utf8(read_all(dir.into().open(file, OFlags::RDONLY)?)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The whole of a file the kernel generates (cgroupfs, /proc), read into a
/// page-sized buffer. `std::fs::read` asks for the size first (statx, 0 on
/// these filesystems), then probes with 32-byte reads: four syscalls for a
/// short knob, and mountinfo formatted again for every small read.
pub(crate) fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    read_all(File::open(path)?)
}

fn read_all(mut f: File) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

pub(crate) fn read<'a>(ctx: &str, dir: impl Into<Loc<'a>>, file: &str) -> Result<String> {
    let dir = dir.into();
    try_read(dir, file).map_err(|e| CgroupError::file(ctx, "reading", file, dir.path(), e))
}

/// A file the kernel produces as one short record (`freezer.state`,
/// `cgroup.events`): a single read(2) returns all of it, which skips the
/// size probe and EOF reads of `read_to_string` (three syscalls a file,
/// paid per container by `hull list` and `hull state`).
pub(crate) fn read_record<'a>(ctx: &str, dir: impl Into<Loc<'a>>, file: &str) -> Result<String> {
    use std::io::Read;
    let dir = dir.into();
    let mut buf = [0u8; 256];
    let n = dir
        .open(file, OFlags::RDONLY)
        .and_then(|mut f| f.read(&mut buf))
        .map_err(|e| CgroupError::file(ctx, "reading", file, dir.path(), e))?;
    if n == buf.len() {
        // Longer than expected: it may go on, so read it to the end.
        return read(ctx, dir, file);
    }
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Absent file => `None`; stats use this because knobs vary by kernel config.
pub(crate) fn read_opt<'a>(
    ctx: &str,
    dir: impl Into<Loc<'a>>,
    file: &str,
) -> Result<Option<String>> {
    let dir = dir.into();
    match try_read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CgroupError::file(ctx, "reading", file, dir.path(), e)),
    }
}

/// The outermost of `dir` and its ancestors below `mount` (a hierarchy's
/// root) whose `file` holds `value`; a level without the file is skipped.
pub(crate) fn outermost_with(
    ctx: &str,
    dir: &Path,
    mount: &Path,
    file: &str,
    value: &str,
) -> Result<Option<std::path::PathBuf>> {
    let mut found = None;
    for p in dir
        .ancestors()
        .take_while(|p| p.starts_with(mount) && *p != mount)
    {
        if read_opt(ctx, p, file)?.is_some_and(|s| s.trim() == value) {
            found = Some(p.to_path_buf());
        }
    }
    Ok(found)
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Parses a single-value file; "max" maps to `u64::MAX`.
pub(crate) fn read_u64(ctx: &str, dir: &Path, file: &str) -> Result<u64> {
    let s = read(ctx, dir, file)?;
    parse_u64_max(&s).ok_or_else(|| CgroupError::Parse {
        path: dir.join(file),
        reason: format!(
            "expected an unsigned integer or \"max\", got {:?}",
            s.trim()
        ),
    })
}

/// Like [`read_u64`] but an absent file yields `None`.
pub(crate) fn read_u64_opt(ctx: &str, dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(ctx, dir, file)? {
        None => Ok(None),
        Some(s) => parse_u64_max(&s)
            .map(Some)
            .ok_or_else(|| CgroupError::Parse {
                path: dir.join(file),
                reason: format!(
                    "expected an unsigned integer or \"max\", got {:?}",
                    s.trim()
                ),
            }),
    }
}

pub(crate) fn parse_u64_max(s: &str) -> Option<u64> {
    let t = s.trim();
    if t == "max" {
        Some(u64::MAX)
    } else {
        t.parse().ok()
    }
}

/// Parses "key value" lines (memory.stat, cpu.stat, cgroup.events, ...).
/// Lines that do not fit are skipped: kernels add keys over time and a
/// stats reader must not break on them.
pub(crate) fn parse_flat_keyed(s: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) {
            if let Some(v) = parse_u64_max(v) {
                m.insert(k.to_string(), v);
            }
        }
    }
    m
}

pub(crate) fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_u64_and_max() {
        assert_eq!(parse_u64_max("42\n"), Some(42));
        assert_eq!(parse_u64_max("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64_max("-1"), None);
        assert_eq!(parse_u64_max(""), None);
    }

    #[test]
    fn parses_flat_keyed_and_skips_junk() {
        let m = parse_flat_keyed("cache 10\nrss 20\nbogus\nx y z\nswap max\n");
        assert_eq!(m.get("cache"), Some(&10));
        assert_eq!(m.get("rss"), Some(&20));
        assert_eq!(m.get("swap"), Some(&u64::MAX));
        assert_eq!(m.len(), 3);
    }
}
