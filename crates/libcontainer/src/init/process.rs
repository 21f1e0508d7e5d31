//! The process attributes applied last in init: oom score, user and
//! groups, capabilities, umask, cwd (rlimits: `crate::rlimits`).

use oci_spec::runtime::{Capabilities, Process};
use rustix::thread::{CapabilitySet, CapabilitySets, Gid, Uid};

use crate::{
    error::{Error, Result},
    procfs_handle::{ProcBase, ProcfsHandle},
};

/// Sets process.oomScoreAdj on `of` (a process hull started, before it
/// enters a user namespace of the container's or, for the init, by hull
/// itself): the score survives fork and exec, and once the process is in a
/// user namespace its /proc files, owned by the host's root while it is not
/// dumpable, are no longer writable to it.
///
/// The judgement is the kernel's: it refuses a value below the task's
/// oom_score_adj_min (set by the last writer that had CAP_SYS_RESOURCE,
/// else 0) to a writer without that capability, and allows anything else.
pub(crate) fn set_oom_score_adj(p: &Process, proc: &ProcfsHandle, of: ProcBase) -> Result<()> {
    if let Some(adj) = p.oom_score_adj() {
        proc.write(of, "oom_score_adj", adj.to_string().as_bytes())
            .map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    " (the kernel refuses a value below the oom_score_adj_min this runtime inherited unless it has CAP_SYS_RESOURCE)"
                } else {
                    ""
                };
                Error::sys(format!("process.oomScoreAdj ({adj}){hint}"), e)
            })?;
    }
    Ok(())
}

/// The process's capability sets, checked against what this runtime can
/// grant (its own bounding set). Ambient capabilities the kernel would
/// refuse to raise (not both permitted and inheritable) are left out, as
/// runc and crun leave them out; the parent warns about them
/// (`spec::warnings`). Planned by the runtime before the fork (the child
/// inherits its bounding set unchanged), applied by the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CapPlan {
    bounding: CapabilitySet,
    effective: CapabilitySet,
    permitted: CapabilitySet,
    inheritable: CapabilitySet,
    ambient: CapabilitySet,
}

fn convert(
    field: &str,
    list: Option<&Capabilities>,
    available: Option<CapabilitySet>,
) -> Result<CapabilitySet> {
    let set = crate::caps::from_spec(list).map_err(|name| {
        Error::InvalidArgument(format!(
            "process.capabilities.{field}: unknown capability {name}"
        ))
    })?;
    if let Some(missing) = available
        .map(|a| set.difference(a))
        .filter(|m| !m.is_empty())
    {
        let names: Vec<String> = crate::caps::names(missing).collect();
        return Err(Error::InvalidArgument(format!(
            "process.capabilities.{field}: {} not in this runtime's bounding set, so it cannot be granted",
            names.join(", ")
        )));
    }
    Ok(set)
}

impl CapPlan {
    /// Every capability dropped.
    fn none() -> CapPlan {
        let empty = CapabilitySet::empty();
        CapPlan {
            bounding: empty,
            effective: empty,
            permitted: empty,
            inheritable: empty,
            ambient: empty,
        }
    }

    /// The plan for `p`, given the runtime's bounding set `available`.
    pub fn from_process(p: &Process, available: CapabilitySet) -> Result<CapPlan> {
        let Some(c) = p.capabilities() else {
            // No capabilities object: the process gets none, as runc does.
            return Ok(CapPlan::none());
        };
        let permitted = convert("permitted", c.permitted().as_ref(), Some(available))?;
        let inheritable = convert("inheritable", c.inheritable().as_ref(), Some(available))?;
        // Outside the bounding set an ambient capability cannot be
        // permitted either, so it is among those left out.
        let ambient = convert("ambient", c.ambient().as_ref(), None)? & permitted & inheritable;
        let effective = convert("effective", c.effective().as_ref(), Some(available))?;
        let beyond = effective.difference(permitted);
        if !beyond.is_empty() {
            // capset would refuse the three sets with a bare EPERM.
            let names: Vec<String> = crate::caps::names(beyond).collect();
            return Err(Error::InvalidArgument(format!(
                "process.capabilities.effective: {} is not in process.capabilities.permitted",
                names.join(", ")
            )));
        }
        Ok(CapPlan {
            bounding: convert("bounding", c.bounding().as_ref(), Some(available))?,
            effective,
            permitted,
            inheritable,
            ambient,
        })
    }

    /// The plan for `p` with this process's bounding set (`bounding`, if
    /// the caller has read it already). Without a process, an empty plan:
    /// the init refuses to go on without one anyway.
    pub fn for_this_runtime(
        p: Option<&Process>,
        bounding: Option<CapabilitySet>,
    ) -> Result<CapPlan> {
        let Some(p) = p else {
            return Ok(CapPlan::none());
        };
        let available = match bounding {
            Some(b) => b,
            None => crate::caps::bounding()
                .map_err(|e| Error::sys("reading this runtime's bounding set", e))?,
        };
        CapPlan::from_process(p, available)
    }

    /// Must run while the process still has CAP_SETPCAP, before setuid.
    ///
    /// Drops every capability outside the plan, not only those the
    /// runtime has: a process entering a user namespace gets the full
    /// bounding set there, whatever the runtime's was.
    fn drop_bounding(&self) -> Result<()> {
        // The bounding set can only shrink, one capability at a time.
        for cap in CapabilitySet::all().difference(self.bounding).iter() {
            match rustix::thread::remove_capability_from_bounding_set(cap) {
                // Not a capability this kernel knows: nothing to drop.
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => {
                    return Err(Error::Init(format!(
                        "process.capabilities.bounding: dropping {}: {e}",
                        crate::caps::names(cap).collect::<String>()
                    )))
                }
            }
        }
        Ok(())
    }

    /// Sets the planned sets, with `keep` (when it is permitted now) also
    /// in effective and permitted, for the init's own use until
    /// [`CapPlan::drop_kept`].
    fn apply(&self, keep: CapabilitySet) -> Result<()> {
        // One capset sets all three; the kernel checks them together
        // (effective within permitted, nothing gained that was not held).
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: self.effective | keep,
                permitted: self.permitted | keep,
                inheritable: self.inheritable,
            },
        )
        .map_err(|e| {
            Error::Init(format!(
                "process.capabilities: setting effective, permitted and inheritable: {e}"
            ))
        })?;
        rustix::thread::clear_ambient_capability_set()
            .map_err(|e| Error::Init(format!("process.capabilities.ambient: {e}")))?;
        for cap in self.ambient.iter() {
            rustix::thread::configure_capability_in_ambient_set(cap, true).map_err(|e| {
                Error::Init(format!(
                    "process.capabilities.ambient: raising {}: {e}",
                    crate::caps::names(cap).collect::<String>()
                ))
            })?;
        }
        Ok(())
    }

    /// Leaves exactly the planned effective and permitted sets, dropping
    /// what [`set_user_and_caps`] kept. Ambient capabilities survive: each
    /// is in the planned permitted set.
    pub fn drop_kept(&self) -> Result<()> {
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: self.effective,
                permitted: self.permitted,
                inheritable: self.inheritable,
            },
        )
        .map_err(|e| {
            Error::Init(format!(
                "process.capabilities: dropping what setup kept: {e}"
            ))
        })
    }
}

/// Switches to the container user and leaves the configured capabilities,
/// keeping them across the uid change with PR_SET_KEEPCAPS. `keep` stays
/// effective and permitted besides (CAP_SYS_ADMIN for a seccomp filter
/// still to be loaded) until [`CapPlan::drop_kept`].
pub(crate) fn set_user_and_caps(
    p: &Process,
    caps: &CapPlan,
    setgroups_allowed: bool,
    keep: CapabilitySet,
) -> Result<()> {
    let u = p.user();
    caps.drop_bounding()?;
    rustix::thread::set_keep_capabilities(true)
        .map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))?;
    if setgroups_allowed {
        let groups: Vec<Gid> = u
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        rustix::thread::set_thread_groups(&groups)
            .map_err(|e| Error::sys("process.user.additionalGids: setgroups", e))?;
    } else if u.additional_gids().as_ref().is_some_and(|g| !g.is_empty()) {
        return Err(Error::Init(
            "process.user.additionalGids: setgroups is denied in this user namespace".into(),
        ));
    }
    let gid = Gid::from_raw(u.gid());
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| Error::sys(format!("process.user.gid: setresgid({})", u.gid()), e))?;
    let uid = Uid::from_raw(u.uid());
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| Error::sys(format!("process.user.uid: setresuid({})", u.uid()), e))?;
    rustix::thread::set_keep_capabilities(false)
        .map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))?;
    caps.apply(keep)
}

pub(crate) fn set_umask(p: &Process) {
    let mask = p.user().umask().unwrap_or(0o022);
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask & 0o777));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_or_unavailable_caps_are_errors() {
        let avail = CapabilitySet::KILL;
        let set: Capabilities = serde_json::from_str(r#"["CAP_KILL"]"#).unwrap();
        assert_eq!(
            convert("bounding", Some(&set), Some(avail)).unwrap(),
            CapabilitySet::KILL
        );
        let set: Capabilities =
            serde_json::from_str(r#"["CAP_SYS_RESOURCE", "CAP_KILL", "CAP_BPF"]"#).unwrap();
        let e = convert("effective", Some(&set), Some(avail))
            .unwrap_err()
            .to_string();
        assert!(e.contains("process.capabilities.effective: CAP_SYS_RESOURCE, CAP_BPF not in this runtime's bounding set"), "{e}");
        assert_eq!(
            convert("ambient", Some(&set), None).unwrap(),
            CapabilitySet::SYS_RESOURCE | CapabilitySet::KILL | CapabilitySet::BPF
        );
    }

    #[test]
    fn effective_beyond_permitted_is_refused_before_the_fork() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {
                "effective": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL"]
            }
        }))
        .unwrap();
        let e = CapPlan::from_process(&p, CapabilitySet::all())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("process.capabilities.effective: CAP_CHOWN is not in process.capabilities.permitted"),
            "{e}"
        );
    }

    #[test]
    fn ambient_caps_the_kernel_would_refuse_are_left_out() {
        // `runc spec`'s sets: ambient, but not inheritable.
        let mut p: Process = serde_json::from_value(
            serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"]
            }}),
        )
        .unwrap();
        let all = CapabilitySet::all();
        assert!(CapPlan::from_process(&p, all).unwrap().ambient.is_empty());
        let mut c = p.capabilities().clone().unwrap();
        c.set_inheritable(Some(
            serde_json::from_str(r#"["CAP_KILL", "CAP_SYS_ADMIN"]"#).unwrap(),
        ));
        p.set_capabilities(Some(c));
        let plan = CapPlan::from_process(&p, all).unwrap();
        assert_eq!(
            plan.ambient,
            CapabilitySet::KILL,
            "CAP_SYS_ADMIN is inheritable but not permitted"
        );
    }
}
