//! A place for libcontainer's doctests to run real containers: a busybox
//! rootfs, a private state root and a cgroup parent of their own
//! (`/hull-doc-<pid>-<n>`), all removed on drop. It does not depend on
//! libcontainer: the doctest itself creates and deletes its container, so
//! what the reader sees is the library's own API.
//!
//! [`Fixture::new`] gives `None` where a container cannot be made (not
//! root, no static busybox): the doctest then returns early, so
//! `cargo test` still passes for a developer without privileges.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::runtime::Spec;

const BUSYBOX: &str = "/bin/busybox";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A rootfs, a state root and a cgroup parent for one doctest.
pub struct Fixture {
    dir: PathBuf,
    cgroup_parent: String,
}

impl Fixture {
    /// Makes the directories; `None` unless this process is root and a
    /// static busybox is at /bin/busybox.
    pub fn new() -> Option<Fixture> {
        if !rustix::process::geteuid().is_root() || !static_busybox() {
            return None;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tag = format!("hull-doc-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        let f = Fixture {
            dir,
            cgroup_parent: format!("/{tag}"),
        };
        let bin = f.rootfs().join("bin");
        fs::create_dir_all(&bin).ok()?;
        fs::create_dir_all(f.root()).ok()?;
        fs::copy(BUSYBOX, bin.join("busybox")).ok()?;
        for applet in ["sh", "sleep", "cat", "echo", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).ok()?;
        }
        Some(f)
    }

    /// The state root to give `ContainerBuilder::new` and `Container::load`.
    pub fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The busybox root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The default spec (runc's) running `args` in the busybox rootfs, with
    /// the container's cgroup under this fixture's parent.
    pub fn spec(&self, id: &str, args: &[&str]) -> Spec {
        let mut spec = Spec::default();
        let mut root = spec.root().clone().unwrap_or_default();
        root.set_path(self.rootfs());
        spec.set_root(Some(root));
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(args.iter().map(|a| a.to_string()).collect()));
        process.set_terminal(Some(false));
        spec.set_process(Some(process));
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_cgroups_path(Some(format!("{}/{id}", self.cgroup_parent).into()));
        spec.set_linux(Some(linux));
        spec
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Only the parent this fixture named: its containers' own cgroups
        // are gone once the doctest deleted them.
        if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let parent = h.path().join(self.cgroup_parent.trim_start_matches('/'));
                let _ = fs::remove_dir(&parent);
            }
        }
        let _ = fs::remove_dir(
            Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/')),
        );
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A dynamically linked busybox would find no libraries in the rootfs: it
/// must be a 64-bit ELF without a PT_INTERP program header.
fn static_busybox() -> bool {
    const PT_INTERP: u32 = 3;
    let Ok(b) = fs::read(BUSYBOX) else {
        return false;
    };
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|x| u16::from_le_bytes([x[0], x[1]]) as usize)
    };
    let u32_at = |o: usize| {
        b.get(o..o + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .and_then(|x| x.try_into().ok())
            .map(|x| u64::from_le_bytes(x) as usize)
    };
    if !b.starts_with(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).all(|i| u32_at(phoff + i * phentsize).is_some_and(|t| t != PT_INTERP))
}
