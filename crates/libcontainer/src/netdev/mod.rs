//! `linux.netDevices`: host network interfaces moved into the container's
//! new network namespace, under a new name if one is given, with their
//! permanent global addresses, and set up there (OCI runtime spec 1.3,
//! as runc and youki do it), over rtnetlink ([`netlink`]).
//!
//! Unlike runc, hull moves them back when the container is deleted (or
//! its create fails): into the namespace they came from, under their own
//! name, with the addresses and up/down state they had. Virtual devices
//! would otherwise die with the container's namespace. So that they
//! outlive the container's processes until `delete`, the namespace is
//! pinned by a bind mount of it at `<state dir>/netns`, in hull's mount
//! namespace (where that mount is not visible to delete, e.g. create ran
//! in a throwaway mount namespace, the devices come back only while the
//! init still runs).
//!
//! Devices go back only into the namespace create was called in
//! (recorded by device and inode): a delete run from another namespace
//! leaves them to the kernel (a virtual device is destroyed with the
//! container's namespace, a physical one returns to the initial
//! namespace) and says so.

pub(crate) mod error;
pub(crate) mod netlink;

use std::{
    collections::BTreeMap,
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use oci_spec::runtime::{Linux, LinuxNamespaceType, LinuxNetDevice};
use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::spec::error::FieldIssue;
pub use error::NetDevError;
use netlink::{Address, LinkChange, Socket};

/// statfs type of nsfs, the filesystem of namespace files.
const NSFS_MAGIC: u64 = 0x6e73_6673;
/// IFNAMSIZ less the terminating NUL.
const MAX_NAME_LEN: usize = 15;
/// The pin of the container's network namespace in its state directory.
const PIN: &str = "netns";

fn device_err(host: &str, what: impl Into<String>) -> impl FnOnce(io::Error) -> NetDevError {
    let (host, what) = (host.to_owned(), what.into());
    move |source| NetDevError::Device { host, what, source }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetDevError {
    let what = what.into();
    move |source| NetDevError::Sys { what, source }
}

/// A network namespace by its nsfs file's device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

impl NsId {
    fn of(fd: BorrowedFd<'_>) -> io::Result<NsId> {
        let st = rustix::fs::fstat(fd)?;
        Ok(NsId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// What was moved, kept in state.json so delete can move it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The runtime's network namespace at create: the only one devices
    /// are moved back into.
    origin: NsId,
    devices: Vec<Device>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Device {
    host_name: String,
    host_index: u32,
    /// Before the move, the name asked for (maybe a `%d` template); after
    /// it, the name the kernel gave.
    name: String,
    /// Set once the device is in the container's namespace.
    #[serde(default)]
    index: Option<u32>,
    up: bool,
    addresses: Vec<Address>,
}

/// The entries sorted by host name, so that messages and moves come in
/// the same order every time.
fn entries(linux: &Linux) -> Vec<(&String, &LinuxNetDevice)> {
    let mut v: Vec<_> = linux.net_devices().iter().flatten().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn field(host: &str) -> String {
    format!("linux.netDevices[{host:?}]")
}

/// The name the device has in the container: `name`, unless empty.
fn target_name<'a>(host: &'a str, d: &'a LinuxNetDevice) -> &'a str {
    d.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host)
}

/// Why the kernel would refuse `name` for a device (dev_valid_name), or
/// a `%` other than one `%d` (the kernel's template for a free number).
fn name_issue(name: &str, template_ok: bool) -> Option<String> {
    if name.is_empty() {
        return Some("an interface name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "{name:?} is longer than {MAX_NAME_LEN} bytes, the kernel's limit"
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("{name:?} is not a valid interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
    {
        return Some(format!("{name:?}: an interface name cannot contain {c:?}"));
    }
    let percents = name.matches('%').count();
    if percents > 0 && !(template_ok && percents == 1 && name.contains("%d")) {
        return Some(if template_ok {
            format!("{name:?}: '%' is only allowed once, as the template \"%d\"")
        } else {
            format!("{name:?}: a host interface name cannot contain '%'")
        });
    }
    None
}

/// What the spec alone says is wrong with `linux.netDevices`.
pub(crate) fn spec_issues(linux: &Linux) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    let mut push = |f: String, reason: String| out.push(FieldIssue { field: f, reason });
    let new_netns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none());
    // Container name -> the first entry that asked for it.
    let mut taken: BTreeMap<&str, &str> = BTreeMap::new();
    for (host, d) in entries(linux) {
        if !new_netns {
            push(
                field(host),
                "moving a device needs a new network namespace (linux.namespaces has no \"network\" entry without a path), or it would move within, or out of, a namespace the container does not own".into(),
            );
        }
        if let Some(why) = name_issue(host, false) {
            push(field(host), why);
        } else if host == "lo" {
            push(
                field(host),
                "the loopback device cannot leave its network namespace".into(),
            );
        }
        let name = target_name(host, d);
        if let Some(why) = name_issue(name, true) {
            push(format!("{}.name", field(host)), why);
            continue;
        }
        if name.contains('%') {
            continue;
        }
        if name == "lo" {
            push(
                format!("{}.name", field(host)),
                "\"lo\" is taken: every network namespace has its own loopback device".into(),
            );
        } else if let Some(first) = taken.get(name) {
            push(
                format!("{}.name", field(host)),
                format!(
                    "{name:?} is also the container name of {}: two devices cannot have one name",
                    field(first)
                ),
            );
        } else {
            taken.insert(name, host);
        }
    }
    out
}

/// What the host says is wrong with `linux.netDevices`: hull must be able
/// to move devices, and each must exist in the runtime's namespace.
pub(crate) fn host_issues(linux: &Linux) -> Vec<FieldIssue> {
    let devices = entries(linux);
    if devices.is_empty() {
        return Vec::new();
    }
    if !rustix::process::geteuid().is_root() {
        return vec![FieldIssue {
            field: "linux.netDevices".into(),
            reason: "moving host network devices needs root (it is not supported for rootless containers)".into(),
        }];
    }
    let mut sock = match Socket::new() {
        Ok(s) => s,
        Err(e) => {
            return vec![FieldIssue {
                field: "linux.netDevices".into(),
                reason: format!("cannot open a netlink socket: {e}"),
            }]
        }
    };
    let mut out = Vec::new();
    for (host, _) in devices {
        if name_issue(host, false).is_some() {
            continue; // spec_issues says why
        }
        match sock.link_by_name(host) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => out.push(FieldIssue {
                field: field(host),
                reason: "no such network device in the runtime's network namespace".into(),
            }),
            Err(e) => out.push(FieldIssue {
                field: field(host),
                reason: format!("looking the device up: {e}"),
            }),
        }
    }
    out
}

/// The calling thread's network namespace.
pub(crate) fn current_netns() -> Result<OwnedFd, NetDevError> {
    rustix::fs::open(
        "/proc/thread-self/ns/net",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys_err("opening /proc/thread-self/ns/net")(e.into()))
}

/// The network namespace of `pid`, checked to be a namespace file. The
/// caller makes sure `pid` is the process it means: its own child, or one
/// a pidfd pins and that is alive after the open.
pub(crate) fn netns_of(pid: i32) -> Result<OwnedFd, NetDevError> {
    let path = format!("/proc/{pid}/ns/net");
    let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| sys_err(format!("opening {path}"))(e.into()))?;
    is_nsfs(fd.as_fd())
        .then_some(fd)
        .ok_or_else(|| sys_err(format!("opening {path}"))(io::Error::other("not a namespace file")))
}

fn is_nsfs(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type as u64 == NSFS_MAGIC)
}

/// Reads what each device is now (index, up/down, permanent global
/// addresses) in the runtime's namespace, before it is moved.
pub(crate) fn plan(linux: &Linux, origin: BorrowedFd<'_>) -> Result<Option<Record>, NetDevError> {
    let list = entries(linux);
    if list.is_empty() {
        return Ok(None);
    }
    let mut sock = Socket::new().map_err(sys_err("opening a netlink socket"))?;
    let mut devices = Vec::new();
    for (host, d) in list {
        let link = sock.link_by_name(host).map_err(device_err(
            host,
            "looking the device up in the runtime's network namespace",
        ))?;
        let addresses = sock
            .addresses(link.index)
            .map_err(device_err(host, "listing its addresses"))?
            .into_iter()
            .filter(Address::is_permanent_global)
            .collect();
        devices.push(Device {
            host_name: host.clone(),
            host_index: link.index,
            name: target_name(host, d).to_owned(),
            index: None,
            up: link.up,
            addresses,
        });
    }
    Ok(Some(Record {
        origin: NsId::of(origin).map_err(sys_err("reading the runtime's network namespace"))?,
        devices,
    }))
}

/// Moves every device of `record` into `container` (renamed in the same
/// request), adds its addresses there and sets it up. `record` keeps
/// what happened so far, for [`move_back`] after a failure.
pub(crate) fn move_in(container: BorrowedFd<'_>, record: &mut Record) -> Result<(), NetDevError> {
    let mut host = Socket::new().map_err(sys_err("opening a netlink socket"))?;
    let mut inside = Socket::in_netns(container).map_err(sys_err(
        "opening a netlink socket in the container's network namespace",
    ))?;
    for d in &mut record.devices {
        let h = d.host_name.clone();
        let moved = host.set_link(
            d.host_index,
            &LinkChange {
                name: Some(&d.name),
                netns: Some(container),
                up: None,
            },
        );
        if let Err(e) = moved {
            // The kernel renames after the move: a refused name can leave
            // the device inside under its host name, to be moved back.
            if let Ok(l) = inside.link_by_name(&h) {
                d.index = Some(l.index);
            }
            return Err(device_err(
                &h,
                format!(
                    "moving it into the container's network namespace as {:?}",
                    d.name
                ),
            )(e));
        }
        // Without a template the name is known; with one, the kernel kept
        // the index (a new namespace has nothing but lo at 1).
        let link = if d.name.contains('%') {
            inside.link_by_index(d.host_index)
        } else {
            inside.link_by_name(&d.name)
        }
        .map_err(device_err(
            &h,
            "finding it in the container's network namespace",
        ))?;
        d.index = Some(link.index);
        d.name = link.name;
        for a in &d.addresses {
            inside
                .add_address(link.index, a)
                .map_err(device_err(&h, format!("adding {a} in the container")))?;
        }
        inside
            .set_link(
                link.index,
                &LinkChange {
                    up: Some(true),
                    ..Default::default()
                },
            )
            .map_err(device_err(&h, "setting it up in the container"))?;
    }
    Ok(())
}

/// Moves what [`move_in`] moved back from `container` into the runtime's
/// namespace `origin`, under its host name, with its addresses and
/// up/down state. Best effort: returns what could not be done.
pub(crate) fn move_back(
    container: BorrowedFd<'_>,
    origin: BorrowedFd<'_>,
    record: &Record,
) -> Vec<String> {
    let mut warnings = Vec::new();
    match NsId::of(origin) {
        Ok(id) if id == record.origin => {}
        Ok(_) => {
            for d in &record.devices {
                warnings.push(format!(
                    "{}: left in the container's network namespace ({:?}): hull runs in another network namespace than create did",
                    field(&d.host_name),
                    d.name
                ));
            }
            return warnings;
        }
        Err(e) => {
            warnings.push(format!(
                "linux.netDevices: reading the runtime's network namespace: {e}"
            ));
            return warnings;
        }
    }
    let sockets = Socket::in_netns(container).and_then(|i| Ok((i, Socket::in_netns(origin)?)));
    let (mut inside, mut host) = match sockets {
        Ok(s) => s,
        Err(e) => {
            warnings.push(format!("linux.netDevices: opening netlink sockets: {e}"));
            return warnings;
        }
    };
    for d in &record.devices {
        let f = field(&d.host_name);
        // Never moved (create failed before it): nothing to undo.
        let Some(index) = d.index else { continue };
        // By the index it got when moved in: the container may rename it.
        let link = match inside.link_by_index(index) {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!(
                    "{f}: not in the container's network namespace any more ({e})"
                ));
                continue;
            }
        };
        if let Err(e) = inside.set_link(
            link.index,
            &LinkChange {
                name: Some(&d.host_name),
                netns: Some(origin),
                up: None,
            },
        ) {
            warnings.push(format!(
                "{f}: moving {:?} back to the runtime's network namespace: {e}",
                link.name
            ));
            continue;
        }
        let back = match host.link_by_name(&d.host_name) {
            Ok(l) => l,
            Err(e) => {
                warnings.push(format!("{f}: finding it after the move back: {e}"));
                continue;
            }
        };
        for a in &d.addresses {
            match host.add_address(back.index, a) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => warnings.push(format!("{f}: restoring {a}: {e}")),
            }
        }
        if d.up {
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            if let Err(e) = host.set_link(back.index, &up) {
                warnings.push(format!("{f}: setting it up again: {e}"));
            }
        }
    }
    warnings
}

/// Pins the container's network namespace at `<dir>/netns` (a bind mount
/// of its nsfs file, as `ip netns add` makes), so the devices in it
/// survive the container's processes until delete.
pub(crate) fn pin(dir: &Path, ns: BorrowedFd<'_>) -> Result<(), NetDevError> {
    let target = dir.join(PIN);
    let what = || {
        format!(
            "pinning the container's network namespace at {}",
            target.display()
        )
    };
    let file = rustix::fs::open(
        &target,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| sys_err(what())(e.into()))?;
    drop(file);
    rustix::mount::mount_bind(crate::procfs_handle::fd_path(ns), &target)
        .map_err(|e| sys_err(what())(e.into()))
}

/// The pinned namespace, if the pin is visible in this mount namespace.
pub(crate) fn open_pin(dir: &Path) -> Option<OwnedFd> {
    let fd = rustix::fs::open(
        dir.join(PIN),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    is_nsfs(fd.as_fd()).then_some(fd)
}

/// Removes the pin (if any): the namespace ends with its last user.
pub(crate) fn unpin(dir: &Path) {
    let target = dir.join(PIN);
    let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
    if let Err(e) = std::fs::remove_file(&target) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", target.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: serde_json::Value) -> Linux {
        serde_json::from_value(json).unwrap()
    }

    fn issues(json: serde_json::Value) -> Vec<String> {
        spec_issues(&linux(json))
            .iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn valid_entries_pass() {
        let v = issues(serde_json::json!({
            "namespaces": [{"type": "network"}],
            "netDevices": {"eth9": {"name": "c0"}, "eth8": {}, "veth1": {"name": "net%d"}, "x": {"name": ""}}
        }));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn a_new_network_namespace_is_required() {
        for ns in [
            serde_json::json!([]),
            serde_json::json!([{"type": "network", "path": "/run/netns/x"}]),
        ] {
            let v = issues(serde_json::json!({"namespaces": ns, "netDevices": {"eth9": {}}}));
            assert_eq!(v.len(), 1, "{v:?}");
            assert!(
                v[0].starts_with(
                    "linux.netDevices[\"eth9\"]: moving a device needs a new network namespace"
                ),
                "{v:?}"
            );
        }
    }

    #[test]
    fn bad_names_are_named() {
        let v = issues(serde_json::json!({
            "namespaces": [{"type": "network"}],
            "netDevices": {
                "a/b": {},
                "lo": {},
                "okay": {"name": "much-too-long-name0"},
                "ok2": {"name": "x%d%d"},
                "ok3": {"name": "has space"},
                "e%d": {}
            }
        }));
        let want = [
            "linux.netDevices[\"a/b\"]: \"a/b\": an interface name cannot contain '/'",
            "linux.netDevices[\"e%d\"]: \"e%d\": a host interface name cannot contain '%'",
            "linux.netDevices[\"lo\"]: the loopback device cannot leave its network namespace",
            "linux.netDevices[\"ok2\"].name: \"x%d%d\": '%' is only allowed once, as the template \"%d\"",
            "linux.netDevices[\"ok3\"].name: \"has space\": an interface name cannot contain ' '",
            "linux.netDevices[\"okay\"].name: \"much-too-long-name0\" is longer than 15 bytes, the kernel's limit",
        ];
        for w in want {
            assert!(v.iter().any(|i| i == w), "missing {w:?} in {v:?}");
        }
    }

    #[test]
    fn names_must_not_collide() {
        let v = issues(serde_json::json!({
            "namespaces": [{"type": "network"}],
            "netDevices": {"eth8": {"name": "c0"}, "eth9": {"name": "c0"}, "c1": {}, "eth7": {"name": "c1"}, "eth6": {"name": "lo"}}
        }));
        assert!(
            v.contains(&"linux.netDevices[\"eth9\"].name: \"c0\" is also the container name of linux.netDevices[\"eth8\"]: two devices cannot have one name".to_string()),
            "{v:?}"
        );
        assert!(
            v.contains(&"linux.netDevices[\"eth7\"].name: \"c1\" is also the container name of linux.netDevices[\"c1\"]: two devices cannot have one name".to_string()),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|i| i.starts_with("linux.netDevices[\"eth6\"].name: \"lo\" is taken")),
            "{v:?}"
        );
        assert_eq!(v.len(), 3, "{v:?}");
    }

    #[test]
    fn missing_devices_are_named() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let v = host_issues(&linux(serde_json::json!({
            "namespaces": [{"type": "network"}],
            "netDevices": {"hull-none0": {}, "lo": {}}
        })));
        assert_eq!(
            v.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            ["linux.netDevices[\"hull-none0\"]: no such network device in the runtime's network namespace"]
        );
    }
}
