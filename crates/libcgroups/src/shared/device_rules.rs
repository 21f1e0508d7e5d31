//! Device cgroup rules as every driver reads them: validated and rendered
//! as the kernel's "type major:minor access" lines (v1 writes them, v2
//! compiles them to eBPF, systemd turns them into DeviceAllow=).

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::error::{CgroupError, Result};

pub(crate) const F_DEVICES: &str = "linux.resources.devices";

pub(crate) fn field(i: usize) -> String {
    format!("{F_DEVICES}[{i}]")
}

pub(crate) fn access(rule: &LinuxDeviceCgroup) -> &str {
    // An absent access string is read as "everything", matching how the
    // rule would be written by hand ("a *:* rwm").
    match rule.access().as_deref() {
        None | Some("") => "rwm",
        Some(a) => a,
    }
}

fn is_wildcard(n: Option<i64>) -> bool {
    !matches!(n, Some(n) if n >= 0)
}

fn full_access(a: &str) -> bool {
    a.contains('r') && a.contains('w') && a.contains('m')
}

/// Renders a rule as the kernel's "type major:minor access" line.
pub(crate) fn rule_string(i: usize, rule: &LinuxDeviceCgroup) -> Result<String> {
    let a = access(rule);
    if !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::invalid(
            field(i),
            format!("access {a:?} may only contain 'r', 'w' and 'm'"),
        ));
    }
    let t = match rule.typ() {
        None | Some(LinuxDeviceType::A) => "a",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C) => "c",
        Some(other) => {
            return Err(CgroupError::invalid(
                field(i),
                format!(
                    "type {:?} is not valid in a device cgroup rule (use a, b or c)",
                    other.as_str()
                ),
            ))
        }
    };
    // The kernel treats any "a" rule as "all devices, all access" and
    // ignores the rest of the line, so a narrower "a" rule would silently
    // allow or deny far more than asked.
    if t == "a" && (!is_wildcard(rule.major()) || !is_wildcard(rule.minor()) || !full_access(a)) {
        return Err(CgroupError::invalid(
            field(i),
            "type \"a\" requires wildcard major/minor and access \"rwm\"".to_string(),
        ));
    }
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    Ok(format!(
        "{t} {}:{} {a}",
        num(rule.major()),
        num(rule.minor())
    ))
}

/// True for a rule covering every device with every access.
pub(crate) fn is_all(rule: &LinuxDeviceCgroup) -> bool {
    matches!(rule.typ(), None | Some(LinuxDeviceType::A))
        && is_wildcard(rule.major())
        && is_wildcard(rule.minor())
        && full_access(access(rule))
}

pub(crate) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(rules) = r.devices() else {
        return Ok(None);
    };
    for (i, rule) in rules.iter().enumerate() {
        rule_string(i, rule)?;
    }
    Ok((!rules.is_empty()).then_some(F_DEVICES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(
        allow: bool,
        t: Option<LinuxDeviceType>,
        maj: Option<i64>,
        min: Option<i64>,
        a: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow);
        if let Some(t) = t {
            b = b.typ(t);
        }
        if let Some(m) = maj {
            b = b.major(m);
        }
        if let Some(m) = min {
            b = b.minor(m);
        }
        if let Some(a) = a {
            b = b.access(a.to_string());
        }
        b.build().unwrap()
    }

    #[test]
    fn formats_rules() {
        assert_eq!(
            rule_string(0, &rule(false, None, None, None, Some("rwm"))).unwrap(),
            "a *:* rwm"
        );
        assert_eq!(
            rule_string(0, &rule(false, None, None, None, None)).unwrap(),
            "a *:* rwm"
        );
        assert_eq!(
            rule_string(
                0,
                &rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("rw"))
            )
            .unwrap(),
            "c 1:3 rw"
        );
        assert_eq!(
            rule_string(
                0,
                &rule(true, Some(LinuxDeviceType::C), Some(136), None, Some("rwm"))
            )
            .unwrap(),
            "c 136:* rwm"
        );
        assert_eq!(
            rule_string(
                0,
                &rule(
                    true,
                    Some(LinuxDeviceType::B),
                    Some(-1),
                    Some(-1),
                    Some("m")
                )
            )
            .unwrap(),
            "b *:* m"
        );
    }

    #[test]
    fn rejects_bad_rules() {
        let e = rule_string(
            2,
            &rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("rx")),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("linux.resources.devices[2]: "),
            "{e}"
        );
        assert!(rule_string(0, &rule(true, Some(LinuxDeviceType::P), None, None, None)).is_err());
        assert!(rule_string(0, &rule(true, None, Some(1), Some(3), None)).is_err());
        assert!(rule_string(0, &rule(false, None, None, None, Some("r"))).is_err());
    }

    #[test]
    fn detects_all_rule() {
        assert!(is_all(&rule(true, None, None, None, None)));
        assert!(is_all(&rule(
            true,
            Some(LinuxDeviceType::A),
            Some(-1),
            None,
            Some("mwr")
        )));
        assert!(!is_all(&rule(
            true,
            Some(LinuxDeviceType::C),
            None,
            None,
            None
        )));
    }
}
