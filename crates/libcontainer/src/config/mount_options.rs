//! A mount entry's `options`: flags to set and clear, propagation,
//! recursive attributes, idmap requests and filesystem data.

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use crate::mount_attr::RecursiveAttrs;

/// MS_NOSYMFOLLOW (Linux 5.10), which nix 0.30 does not name.
pub(crate) const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// Maps a propagation name (linux.rootfsPropagation or a mount option) to flags.
pub(crate) fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// A mount entry's options split into flags to set, flags to clear,
/// propagation changes and the data string passed to the filesystem.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MountOpts {
    pub flags: MsFlags,
    pub clear: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    /// runc's `tmpcopyup`: a tmpfs starts with what the image had there.
    pub copy_up: bool,
    /// `rro`, `rnosuid`, …: applied to the whole mount tree after mounting.
    pub recursive: RecursiveAttrs,
    /// `idmap` (Some(false)) or `ridmap` (Some(true)).
    pub idmap: Option<bool>,
}

pub(crate) fn parse_options(opts: &[String]) -> std::result::Result<MountOpts, String> {
    let mut m = MountOpts {
        flags: MsFlags::empty(),
        clear: MsFlags::empty(),
        propagation: Vec::new(),
        data: Vec::new(),
        copy_up: false,
        recursive: RecursiveAttrs::default(),
        idmap: None,
    };
    for o in opts {
        let (set, clear) = match o.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
            "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW),
            other => {
                if let Some(p) = propagation_flags(other) {
                    m.propagation.push(p);
                } else if m.recursive.add(other) {
                    // Taken: a recursive (mount_setattr) attribute.
                } else if other == "tmpcopyup" {
                    m.copy_up = true;
                } else if other == "idmap" || other == "ridmap" {
                    m.idmap = Some(other == "ridmap");
                } else if other.starts_with("idmap") || other.starts_with("ridmap") {
                    // crun's `idmap=uids=…` syntax: the spec's fields carry the mapping.
                    return Err(format!("option {other:?} is not supported by this version of hull (use uidMappings/gidMappings)"));
                } else {
                    m.data.push(other.to_owned());
                }
                continue;
            }
        };
        m.flags.insert(set);
        m.flags.remove(clear);
        m.clear.insert(clear);
        m.clear.remove(set);
    }
    Ok(m)
}

/// The options a bind mount cannot honour: filesystem data and the flags
/// that belong to a superblock (a bind has none of its own). The kernel
/// drops them without a word, for runc and crun too: create goes on, with
/// a warning (spec::warnings).
pub(crate) fn ignored_by_bind(opts: &[String]) -> Vec<&str> {
    let superblock = MsFlags::MS_SYNCHRONOUS
        | MsFlags::MS_DIRSYNC
        | MsFlags::MS_MANDLOCK
        | MsFlags::MS_LAZYTIME
        | MsFlags::MS_I_VERSION;
    opts.iter()
        .filter(|o| match parse_options(std::slice::from_ref(o)) {
            Ok(p) => !p.data.is_empty() || (p.flags | p.clear).intersects(superblock),
            Err(_) => false,
        })
        .map(String::as_str)
        .collect()
}

pub(crate) fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let m = parse_options(&s(&[
            "nosuid",
            "ro",
            "mode=755",
            "size=65536k",
            "rw",
            "rslave",
        ]))
        .unwrap();
        assert_eq!(m.flags, MsFlags::MS_NOSUID);
        assert!(m.clear.contains(MsFlags::MS_RDONLY));
        assert_eq!(m.data, s(&["mode=755", "size=65536k"]));
        assert_eq!(m.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        let r = parse_options(&s(&["rbind", "rro", "rnoexec", "ridmap"])).unwrap();
        assert!(!r.recursive.is_empty());
        assert!(
            r.data.is_empty(),
            "recursive options are not filesystem data: {r:?}"
        );
        assert_eq!(r.idmap, Some(true));
        assert!(parse_options(&s(&["idmap=uids=0-1-10"])).is_err());
    }
}
