//! linux.personality: the execution domain.

use std::io;

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use super::shared::{first, issue};
use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

/// PER_LINUX and PER_LINUX32 from <linux/personality.h>.
const PER_LINUX: libc::c_ulong = 0x0000;
pub(super) const PER_LINUX32: libc::c_ulong = 0x0008;

pub(super) fn personality_issues(l: &LinuxPersonality) -> Vec<FieldIssue> {
    match l.flags() {
        // runc ignores the flags; we fail closed rather than run the
        // container with a personality it did not ask for.
        Some(f) if !f.is_empty() => vec![issue(
            "linux.personality.flags",
            format!("{f:?}: personality flags are not supported by this version of hull"),
        )],
        _ => vec![],
    }
}

/// Sets the execution domain exactly (flags the runtime itself runs with,
/// e.g. ADDR_NO_RANDOMIZE from setarch, are not carried over).
pub(crate) fn set_personality(l: &LinuxPersonality) -> Result<()> {
    first(personality_issues(l))?;
    let persona = match l.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    // nix wraps personality(2) only behind a feature this crate does not
    // enable, and its Persona flags cannot express an execution domain.
    // SAFETY: personality only changes this process's execution domain.
    if unsafe { libc::personality(persona) } == -1 {
        return Err(Error::sys(
            format!("linux.personality.domain ({})", l.domain()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::test_support::*;

    #[test]
    fn personality_flags_fail_closed() {
        let got = issues_of(
            serde_json::json!({}),
            serde_json::json!({"personality": {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}}),
        );
        assert_has(
            &got,
            "linux.personality.flags: [\"ADDR_NO_RANDOMIZE\"]: personality flags are not supported",
        );
        let l: LinuxPersonality =
            serde_json::from_str(r#"{"domain":"LINUX","flags":["X"]}"#).unwrap();
        assert!(set_personality(&l)
            .unwrap_err()
            .to_string()
            .contains("linux.personality.flags"));
    }

    #[test]
    fn personality_is_set() {
        in_child(|| {
            let l: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
            set_personality(&l).map_err(|e| e.to_string())?;
            // SAFETY: 0xffffffff only queries.
            expect(
                "personality after LINUX32",
                unsafe { libc::personality(0xffff_ffff) },
                PER_LINUX32 as i32,
            )?;
            let l: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX"}"#).unwrap();
            set_personality(&l).map_err(|e| e.to_string())?;
            // SAFETY: as above.
            expect(
                "personality after LINUX",
                unsafe { libc::personality(0xffff_ffff) },
                PER_LINUX as i32,
            )
        })
        .unwrap();
    }
}
