//! `cgroup` mounts: the container's own cgroups, mounted fresh in a cgroup
//! namespace or bound from the host's hierarchies.

use std::{
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use super::ctx::RootfsCtx;
use super::open::{remount, resolve_dest};
use crate::{
    config::mount_options::MountOpts,
    error::{Error, Result},
    procfs_handle::fd_path,
};

const NONE: Option<&str> = None;

/// A `cgroup` mount: the container's own cgroups, not the host's tree.
/// With a cgroup namespace fresh cgroup filesystems are mounted (rooted at
/// the namespace); without one, the container's cgroup directories are
/// bind-mounted from the host.
pub(super) fn mount_cgroup(
    ctx: &RootfsCtx,
    root: &OwnedFd,
    m: &Mount,
    opts: &MountOpts,
) -> Result<()> {
    let dest = m.destination();
    let flags = opts
        .flags
        .difference(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::path("/proc/self/mountinfo", e))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::path("/proc/self/cgroup", e))?;
    let hierarchies = cgroup_mounts(&info);
    if let [(mp, fstype, _)] = hierarchies.as_slice() {
        if fstype == "cgroup2" && mp == Path::new("/sys/fs/cgroup") {
            return mount_one_cgroup(
                ctx,
                root,
                dest,
                "cgroup2",
                "",
                mp,
                &own_path(&own, "", true),
                flags | ro,
            );
        }
    }
    let target = resolve_dest(root, dest)?;
    mount(
        Some("tmpfs"),
        fd_path(&target).as_str(),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(|e| Error::sys("mounting tmpfs for cgroups", e))?;
    for (mp, fstype, subsys) in &hierarchies {
        let Some(name) = mp.file_name() else { continue };
        let sub = dest.join(name);
        let v2 = fstype == "cgroup2";
        let path = own_path(&own, subsys, v2);
        mount_one_cgroup(
            ctx,
            root,
            &sub,
            fstype,
            if v2 { "" } else { subsys },
            mp,
            &path,
            flags | ro,
        )?;
    }
    if !ro.is_empty() {
        let target = resolve_dest(root, dest)?;
        remount(
            &target,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | flags,
        )
        .map_err(|e| Error::sys("remounting cgroup tmpfs read-only", e))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn mount_one_cgroup(
    ctx: &RootfsCtx,
    root: &OwnedFd,
    dest: &Path,
    fstype: &str,
    subsys: &str,
    host_mp: &Path,
    own: &str,
    flags: MsFlags,
) -> Result<()> {
    let target = resolve_dest(root, dest)?;
    let tp = fd_path(&target);
    let fresh = ctx.new_cgroupns
        && match mount(
            Some("cgroup"),
            tp.as_str(),
            Some(fstype),
            flags,
            if subsys.is_empty() {
                None
            } else {
                Some(subsys)
            },
        ) {
            Ok(()) => true,
            // The same cgroup2 superblock is already mounted at this very
            // place (a /sys bound from the host), or the kernel refuses a
            // new instance here: the container's own directory, bound, shows
            // the same thing a cgroup-namespace mount would.
            Err(nix::errno::Errno::EBUSY) | Err(nix::errno::Errno::EPERM) => false,
            Err(e) => {
                return Err(Error::sys(
                    format!("mounting {fstype} {subsys} on {dest:?}").replace("  ", " "),
                    e,
                ))
            }
        };
    if !fresh {
        let src = host_mp.join(own.trim_start_matches('/'));
        mount(Some(&src), tp.as_str(), NONE, MsFlags::MS_BIND, NONE)
            .map_err(|e| Error::sys(format!("bind-mounting {src:?}"), e))?;
        let target = resolve_dest(root, dest)?;
        remount(&target, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags)
            .map_err(|e| Error::sys(format!("remounting {dest:?}"), e))?;
    }
    Ok(())
}

/// cgroup mounts under /sys/fs/cgroup: (mount point, fstype, v1 subsystem options).
fn cgroup_mounts(mountinfo: &str) -> Vec<(PathBuf, String, String)> {
    let mut out = Vec::new();
    for e in crate::mountinfo::entries(mountinfo) {
        let (mp, fstype, superopts) = (e.mount_point, e.fstype, e.super_opts);
        if (fstype != "cgroup" && fstype != "cgroup2") || !mp.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let subsys = superopts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && (o.starts_with("name=") || !o.contains('=')))
            .filter(|o| {
                fstype == "cgroup"
                    && !matches!(
                        *o,
                        "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode"
                    )
            })
            .collect::<Vec<_>>()
            .join(",");
        out.push((mp, fstype.to_owned(), subsys));
    }
    out
}

/// The process's own cgroup path in the hierarchy with these subsystems.
fn own_path(proc_cgroup: &str, subsys: &str, v2: bool) -> String {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if (v2 && ctrls.is_empty()) || (!v2 && !ctrls.is_empty() && ctrls == subsys) {
            return path.to_owned();
        }
    }
    "/".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_mount_parsing() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n\
                  33 25 0:29 / /proc rw - proc proc rw\n";
        let got = cgroup_mounts(mi);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].2, "memory");
        assert_eq!(got[1].2, "name=systemd");
        assert_eq!(got[2].1, "cgroup2");
        let own = "4:memory:/a/b\n1:name=systemd:/s\n0::/u\n";
        assert_eq!(own_path(own, "memory", false), "/a/b");
        assert_eq!(own_path(own, "name=systemd", false), "/s");
        assert_eq!(own_path(own, "", true), "/u");
    }
}
