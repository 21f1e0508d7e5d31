//! Directory fds for one container's cgroup, so that its files are reached
//! by a short walk from an fd instead of a whole path from `/`.
//!
//! Every component of a path such as `/sys/fs/cgroup/cpu/pod/c1/tasks` past
//! `/sys` is a kernfs dentry (sysfs's `fs` and `cgroup`, then each cgroup
//! level), and kernfs revalidates each one under its root's rwsem. Those
//! are the locks that concurrent cgroup mkdirs and rmdirs, and the sysfs
//! entries of every new network namespace, take for writing: with 20
//! containers created at once, the readers queued there for milliseconds.
//! From the container's own directory only the file's name is left to look
//! up; from the common root of the hierarchies, only the cgroup levels.
//!
//! Every fd is an optimisation: when one cannot be opened the path is used,
//! so behaviour and errors stay those of the path.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::fs::Loc;

const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

/// The fds: the nearest common ancestor of the hierarchies' mount points
/// (`/sys/fs/cgroup`), and the container directories opened since.
#[derive(Debug, Default)]
pub(crate) struct Dirs {
    root: Option<(PathBuf, OwnedFd)>,
    leaves: Vec<(PathBuf, OwnedFd)>,
}

impl Dirs {
    /// Opens the nearest common ancestor of `mounts`; with none (no
    /// hierarchy, or it cannot be opened) every path is used as it is.
    pub(crate) fn open<'a>(mounts: impl IntoIterator<Item = &'a Path>) -> Dirs {
        let mut common: Option<PathBuf> = None;
        for m in mounts {
            common = Some(match common {
                None => m.to_path_buf(),
                Some(c) => c
                    .ancestors()
                    .find(|a| m.starts_with(a))
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            });
        }
        let root = common.filter(|c| c.is_absolute()).and_then(|c| {
            match rustix::fs::open(&c, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => Some((c, fd)),
                Err(e) => {
                    tracing::debug!("{}: {e}; cgroup files are opened by path", c.display());
                    None
                }
            }
        });
        Dirs {
            root,
            leaves: Vec::new(),
        }
    }

    /// Whether the common root is open.
    pub(crate) fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// Every fd held, for a forked child to close.
    pub(crate) fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.root
            .iter()
            .chain(self.leaves.iter())
            .map(|(_, fd)| fd.as_fd())
    }

    /// The kept fd of `dir`, if any.
    pub(crate) fn leaf(&self, dir: &Path) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.leaves
            .iter()
            .find(|(p, _)| p == dir)
            .map(|(_, fd)| fd.as_fd())
    }

    /// Where `dir` is reached from: its own fd when kept, else the root's
    /// fd and the rest of the path, else the path.
    pub(crate) fn loc<'a>(&'a self, dir: &'a Path) -> Loc<'a> {
        if let Some(fd) = self.leaf(dir) {
            return Loc::at(dir, fd, Path::new(""));
        }
        match self.below_root(dir) {
            Some((fd, rel)) => Loc::at(dir, fd, rel),
            None => Loc::from(dir),
        }
    }

    fn below_root<'a>(&'a self, dir: &'a Path) -> Option<(std::os::fd::BorrowedFd<'a>, &'a Path)> {
        let (root, fd) = self.root.as_ref()?;
        let rel = dir.strip_prefix(root).ok()?;
        // ".." could walk out of the root; a path like that goes as it is.
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            .then(|| (fd.as_fd(), rel))
    }

    /// Keeps an fd of `dir`, a container directory just made, for the files
    /// read and written in it next.
    pub(crate) fn keep(&mut self, dir: &Path) {
        let opened = match self.below_root(dir) {
            Some((fd, rel)) if !rel.as_os_str().is_empty() => {
                rustix::fs::openat(fd, rel, DIR_FLAGS, Mode::empty())
            }
            _ => rustix::fs::open(dir, DIR_FLAGS, Mode::empty()),
        };
        match opened {
            Ok(fd) => self.leaves.push((dir.to_path_buf(), fd)),
            Err(e) => tracing::debug!("{}: {e}; its files are opened by path", dir.display()),
        }
    }

    /// mkdir(2) of `dir`, from the root's fd when below it.
    pub(crate) fn mkdir(&self, dir: &Path) -> io::Result<()> {
        match self.below_root(dir) {
            Some((fd, rel)) if !rel.as_os_str().is_empty() => {
                Ok(rustix::fs::mkdirat(fd, rel, Mode::from_raw_mode(0o777))?)
            }
            _ => std::fs::create_dir(dir),
        }
    }

    /// rmdir(2) of `dir`, from the root's fd when below it.
    pub(crate) fn rmdir(&self, dir: &Path) -> io::Result<()> {
        match self.below_root(dir) {
            Some((fd, rel)) if !rel.as_os_str().is_empty() => Ok(rustix::fs::unlinkat(
                fd,
                rel,
                rustix::fs::AtFlags::REMOVEDIR,
            )?),
            _ => std::fs::remove_dir(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_reached_from_the_kept_fds() {
        let t = TempDir::new();
        let mounts = [t.0.join("cpu"), t.0.join("memory")];
        for m in &mounts {
            std::fs::create_dir_all(m).unwrap();
        }
        let mut d = Dirs::open(mounts.iter().map(PathBuf::as_path));
        assert_eq!(
            d.root.as_ref().map(|(p, _)| p.as_path()),
            Some(t.0.as_path())
        );
        let leaf = t.0.join("cpu/c1");
        d.mkdir(&leaf).unwrap();
        assert!(leaf.is_dir());
        d.keep(&leaf);
        assert!(d.leaf(&leaf).is_some());
        std::fs::write(leaf.join("tasks"), "").unwrap();
        // Moved away, the leaf is still reached through its fd, which
        // shows the path is not what is used.
        let moved = t.0.join("cpu/moved");
        std::fs::rename(&leaf, &moved).unwrap();
        crate::fs::try_write(d.loc(&leaf), "tasks", "42").unwrap();
        assert_eq!(std::fs::read_to_string(moved.join("tasks")).unwrap(), "42");
        std::fs::rename(&moved, &leaf).unwrap();
        // Not kept: reached from the root's fd, wherever the root went.
        std::fs::write(t.0.join("memory/memory.x"), "7").unwrap();
        let mem = t.0.join("memory");
        let moved_root = PathBuf::from(format!("{}-moved", t.0.display()));
        std::fs::rename(&t.0, &moved_root).unwrap();
        let read = crate::fs::try_read(d.loc(&mem), "memory.x");
        std::fs::rename(&moved_root, &t.0).unwrap();
        assert_eq!(read.unwrap(), "7");
        // ".." never goes through the root's fd.
        let odd = t.0.join("cpu/../memory");
        assert!(d.below_root(&odd).is_none());
        assert_eq!(crate::fs::try_read(d.loc(&odd), "memory.x").unwrap(), "7");
        std::fs::remove_file(leaf.join("tasks")).unwrap();
        d.rmdir(&leaf).unwrap();
        assert!(!leaf.exists());
        assert_eq!(d.fds().count(), 2);
    }

    #[test]
    fn no_root_means_paths() {
        let d = Dirs::open(std::iter::empty());
        assert!(d.root.is_none());
        let t = TempDir::new();
        std::fs::write(t.0.join("f"), "x").unwrap();
        assert_eq!(crate::fs::try_read(d.loc(&t.0), "f").unwrap(), "x");
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("hull-dirs-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
