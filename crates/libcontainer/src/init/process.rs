//! The process attributes applied last in init: oom score, user and
//! groups, capabilities, umask, cwd (rlimits: `crate::rlimits`).

use std::collections::HashSet;

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, Process};
use rustix::thread::{Gid, Uid};

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

/// The capability sets as the caps crate sees them, each checked against
/// what this runtime can grant (its own bounding set). Ambient
/// capabilities the kernel would refuse to raise (not both permitted and
/// inheritable) are left out, as runc and crun leave them out; the parent
/// warns about them (`spec::warnings`).
pub(crate) struct CapPlan {
    /// The bounding set this process has now (read once: it only shrinks).
    available: CapsHashSet,
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

fn convert(
    field: &str,
    set: Option<&Capabilities>,
    available: Option<&CapsHashSet>,
) -> Result<CapsHashSet> {
    let mut out = HashSet::new();
    for c in set.into_iter().flatten() {
        let name = format!("CAP_{c}");
        let cap: caps::Capability = name.parse().map_err(|_| {
            Error::Init(format!(
                "process.capabilities.{field}: unknown capability {name}"
            ))
        })?;
        if available.is_some_and(|a| !a.contains(&cap)) {
            return Err(Error::Init(format!("process.capabilities.{field}: {name} is not in this runtime's bounding set, so it cannot be granted")));
        }
        out.insert(cap);
    }
    Ok(out)
}

impl CapPlan {
    pub fn from_process(p: &Process) -> Result<CapPlan> {
        let available = caps::read(None, CapSet::Bounding)
            .map_err(|e| Error::Init(format!("reading the bounding set: {e}")))?;
        let Some(c) = p.capabilities() else {
            // No capabilities object: the process gets none, as runc does.
            return Ok(CapPlan {
                available,
                bounding: HashSet::new(),
                effective: HashSet::new(),
                permitted: HashSet::new(),
                inheritable: HashSet::new(),
                ambient: HashSet::new(),
            });
        };
        let permitted = convert("permitted", c.permitted().as_ref(), Some(&available))?;
        let inheritable = convert("inheritable", c.inheritable().as_ref(), Some(&available))?;
        // Outside the bounding set an ambient capability cannot be
        // permitted either, so it is among those left out.
        let ambient = convert("ambient", c.ambient().as_ref(), None)?
            .into_iter()
            .filter(|cap| permitted.contains(cap) && inheritable.contains(cap))
            .collect();
        Ok(CapPlan {
            bounding: convert("bounding", c.bounding().as_ref(), Some(&available))?,
            effective: convert("effective", c.effective().as_ref(), Some(&available))?,
            permitted,
            inheritable,
            ambient,
            available,
        })
    }

    /// Must run while the process still has CAP_SETPCAP, before setuid.
    fn drop_bounding(&self) -> Result<()> {
        // The bounding set can only shrink, one capability at a time.
        for cap in self.available.difference(&self.bounding) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| {
                Error::Init(format!(
                    "process.capabilities.bounding: dropping {cap}: {e}"
                ))
            })?;
        }
        Ok(())
    }

    /// Sets the planned sets, with `keep` (when it is permitted now) also
    /// in effective and permitted, for the init's own use until
    /// [`CapPlan::drop_kept`].
    fn apply(&self, keep: Option<caps::Capability>) -> Result<()> {
        let with_kept =
            |set: &CapsHashSet| -> CapsHashSet { set.iter().copied().chain(keep).collect() };
        // Order matters to capset: inheritable and effective shrink first
        // while the permitted set still covers them, permitted last.
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| Error::Init(format!("process.capabilities.inheritable: {e}")))?;
        caps::set(None, CapSet::Effective, &with_kept(&self.effective))
            .map_err(|e| Error::Init(format!("process.capabilities.effective: {e}")))?;
        caps::set(None, CapSet::Permitted, &with_kept(&self.permitted)).map_err(|e| {
            Error::Init(format!(
                "process.capabilities.permitted: {e} (effective must be a subset of permitted)"
            ))
        })?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| Error::Init(format!("process.capabilities.ambient: {e}")))?;
        for cap in &self.ambient {
            caps::raise(None, CapSet::Ambient, *cap).map_err(|e| {
                Error::Init(format!("process.capabilities.ambient: raising {cap}: {e}"))
            })?;
        }
        Ok(())
    }

    /// Leaves exactly the planned effective and permitted sets, dropping
    /// what [`set_user_and_caps`] kept. Ambient capabilities survive: each
    /// is in the planned permitted set.
    pub fn drop_kept(&self) -> Result<()> {
        caps::set(None, CapSet::Effective, &self.effective)
            .map_err(|e| Error::Init(format!("process.capabilities.effective: {e}")))?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .map_err(|e| Error::Init(format!("process.capabilities.permitted: {e}")))
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
    keep: Option<caps::Capability>,
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
        let mut avail = HashSet::new();
        avail.insert(caps::Capability::CAP_KILL);
        let set: Capabilities = serde_json::from_str(r#"["CAP_KILL"]"#).unwrap();
        assert_eq!(
            convert("bounding", Some(&set), Some(&avail)).unwrap().len(),
            1
        );
        let set: Capabilities = serde_json::from_str(r#"["CAP_SYS_RESOURCE"]"#).unwrap();
        let e = convert("effective", Some(&set), Some(&avail))
            .unwrap_err()
            .to_string();
        assert!(e.contains("process.capabilities.effective: CAP_SYS_RESOURCE is not in this runtime's bounding set"), "{e}");
        assert_eq!(convert("ambient", Some(&set), None).unwrap().len(), 1);
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
        assert!(CapPlan::from_process(&p).unwrap().ambient.is_empty());
        let mut c = p.capabilities().clone().unwrap();
        c.set_inheritable(Some(
            serde_json::from_str(r#"["CAP_KILL", "CAP_SYS_ADMIN"]"#).unwrap(),
        ));
        p.set_capabilities(Some(c));
        let plan = CapPlan::from_process(&p).unwrap();
        assert_eq!(
            plan.ambient,
            HashSet::from([caps::Capability::CAP_KILL]),
            "CAP_SYS_ADMIN is inheritable but not permitted"
        );
    }
}
