//! Capabilities by their OCI names ("CAP_KILL"), as rustix's
//! `CapabilitySet` bit masks: a whole set is one value, read or written by
//! one capget/capset. Only the bounding and ambient sets change one
//! capability per prctl, as the kernel has it.

use oci_spec::runtime::Capabilities;
use rustix::thread::CapabilitySet;

/// The capability called `name` ("CAP_KILL"), if this build knows it.
pub(crate) fn parse(name: &str) -> Option<CapabilitySet> {
    name.strip_prefix("CAP_").and_then(CapabilitySet::from_name)
}

/// The OCI name of each capability in `set`, lowest number first.
pub(crate) fn names(set: CapabilitySet) -> impl Iterator<Item = String> {
    set.iter_names().map(|(n, _)| format!("CAP_{n}"))
}

/// A spec's capability list as a set; the first name this build does not
/// know is the error.
pub(crate) fn from_spec(list: Option<&Capabilities>) -> Result<CapabilitySet, String> {
    let mut set = CapabilitySet::empty();
    for c in list.into_iter().flatten() {
        let name = format!("CAP_{c}");
        set |= parse(&name).ok_or(name)?;
    }
    Ok(set)
}

/// The calling thread's bounding set: one PR_CAPBSET_READ per capability
/// this build knows (the kernel has no call for the whole set). One this
/// kernel does not know (EINVAL) is not in it.
pub(crate) fn bounding() -> rustix::io::Result<CapabilitySet> {
    let mut set = CapabilitySet::empty();
    for cap in CapabilitySet::all().iter() {
        match rustix::thread::capability_is_in_bounding_set(cap) {
            Ok(true) => set |= cap,
            Ok(false) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(set)
}

/// Whether the calling thread has `cap` effective (false if unreadable).
pub(crate) fn effective_has(cap: CapabilitySet) -> bool {
    rustix::thread::capabilities(None).is_ok_and(|s| s.effective.contains(cap))
}

/// Whether the calling thread has `cap` permitted (false if unreadable).
pub(crate) fn permitted_has(cap: CapabilitySet) -> bool {
    rustix::thread::capabilities(None).is_ok_and(|s| s.permitted.contains(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_kernel_order() {
        let all: Vec<String> = names(CapabilitySet::all()).collect();
        assert_eq!(all.len(), 41);
        assert_eq!(all[0], "CAP_CHOWN");
        assert_eq!(all[40], "CAP_CHECKPOINT_RESTORE");
        for (i, n) in all.iter().enumerate() {
            assert_eq!(parse(n).map(|c| c.bits()), Some(1u64 << i), "{n}");
        }
        assert_eq!(parse("KILL"), None, "the CAP_ prefix is required");
        assert_eq!(parse("CAP_NOPE"), None);
    }

    #[test]
    fn spec_lists_become_sets() {
        let list: Capabilities = serde_json::from_str(r#"["CAP_KILL", "CAP_SYS_ADMIN"]"#).unwrap();
        assert_eq!(
            from_spec(Some(&list)),
            Ok(CapabilitySet::KILL | CapabilitySet::SYS_ADMIN)
        );
        assert_eq!(from_spec(None), Ok(CapabilitySet::empty()));
    }
}
