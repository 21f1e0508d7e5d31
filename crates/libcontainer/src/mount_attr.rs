//! Recursive mount attributes: the `rro`, `rnosuid`, `rnoexec`, … options
//! (runtime-spec "AT_RECURSIVE options", as runc 1.1+ and crun accept them).
//! mount(2) flags apply to one mount only, so a read-only rbind would leave
//! every submount of the source writable; these options go through
//! mount_setattr(AT_RECURSIVE), which changes the whole tree at once.

use std::os::fd::AsFd;

use crate::syscall::{
    self, MountAttr, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME,
};

/// Every recursive option name, for the features document.
pub(crate) const OPTIONS: &[&str] = &[
    "ratime",
    "rdev",
    "rdiratime",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "rrelatime",
    "rro",
    "rrw",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
];

/// What one option does: set a flag, clear it, or pick the atime mode.
enum Effect {
    Set(u64),
    Clear(u64),
    Atime(u64),
}

fn effect(option: &str) -> Option<Effect> {
    use Effect::*;
    Some(match option {
        "rro" => Set(MOUNT_ATTR_RDONLY),
        "rrw" => Clear(MOUNT_ATTR_RDONLY),
        "rnosuid" => Set(MOUNT_ATTR_NOSUID),
        "rsuid" => Clear(MOUNT_ATTR_NOSUID),
        "rnodev" => Set(MOUNT_ATTR_NODEV),
        "rdev" => Clear(MOUNT_ATTR_NODEV),
        "rnoexec" => Set(MOUNT_ATTR_NOEXEC),
        "rexec" => Clear(MOUNT_ATTR_NOEXEC),
        "rnodiratime" => Set(MOUNT_ATTR_NODIRATIME),
        "rdiratime" => Clear(MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => Set(MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => Clear(MOUNT_ATTR_NOSYMFOLLOW),
        // The kernel keeps one atime mode per mount (relatime, noatime or
        // strictatime) and refuses to clear part of it, so each option
        // names a whole mode: "not noatime" and "not strictatime" are the
        // kernel's default, relatime; "not relatime" is strictatime.
        "rnoatime" => Atime(MOUNT_ATTR_NOATIME),
        "rstrictatime" | "rnorelatime" => Atime(MOUNT_ATTR_STRICTATIME),
        "rrelatime" | "ratime" | "rnostrictatime" => Atime(MOUNT_ATTR_RELATIME),
        _ => return None,
    })
}

/// The recursive attributes of one mount entry, accumulated option by
/// option (a later option wins over an earlier one, as with mount(8)).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecursiveAttrs {
    set: u64,
    clr: u64,
}

impl RecursiveAttrs {
    /// Takes `option` if it is a recursive one; false leaves it to the caller.
    pub fn add(&mut self, option: &str) -> bool {
        match effect(option) {
            Some(Effect::Set(f)) => {
                self.set |= f;
                self.clr &= !f;
            }
            Some(Effect::Clear(f)) => {
                self.clr |= f;
                self.set &= !f;
            }
            Some(Effect::Atime(mode)) => {
                self.clr |= MOUNT_ATTR__ATIME;
                self.set = (self.set & !MOUNT_ATTR__ATIME) | mode;
            }
            None => return false,
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }

    /// Applies the attributes to the mount `target` and every mount below it.
    pub fn apply(&self, target: impl AsFd) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let attr = MountAttr {
            attr_set: self.set,
            attr_clr: self.clr,
            ..Default::default()
        };
        syscall::mount_setattr(target.as_fd(), true, &attr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(opts: &[&str]) -> RecursiveAttrs {
        let mut a = RecursiveAttrs::default();
        for o in opts {
            assert!(a.add(o), "{o}");
        }
        a
    }

    #[test]
    fn later_options_win() {
        let a = attrs(&["rro", "rnosuid", "rrw"]);
        assert_eq!(a.set, MOUNT_ATTR_NOSUID);
        assert_eq!(a.clr, MOUNT_ATTR_RDONLY);
    }

    #[test]
    fn atime_options_name_a_whole_mode() {
        // The kernel refuses a partial MOUNT_ATTR__ATIME in attr_clr.
        for (opt, mode) in [
            ("rnoatime", MOUNT_ATTR_NOATIME),
            ("rstrictatime", MOUNT_ATTR_STRICTATIME),
            ("ratime", MOUNT_ATTR_RELATIME),
            ("rnorelatime", MOUNT_ATTR_STRICTATIME),
        ] {
            let a = attrs(&["rnoatime", opt]);
            assert_eq!(a.clr, MOUNT_ATTR__ATIME, "{opt}");
            assert_eq!(a.set & MOUNT_ATTR__ATIME, mode, "{opt}");
        }
    }

    #[test]
    fn every_listed_option_is_known() {
        for o in OPTIONS {
            assert!(RecursiveAttrs::default().add(o), "{o}");
        }
        assert!(!RecursiveAttrs::default().add("ro"));
        assert!(!RecursiveAttrs::default().add("rbind"));
    }
}
