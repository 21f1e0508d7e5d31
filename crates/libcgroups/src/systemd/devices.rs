//! linux.resources.devices as systemd's DevicePolicy and DeviceAllow, for
//! scopes on cgroup v1 (Legacy and Hybrid hosts).
//!
//! On v1 systemd writes the scope's `devices.allow`/`devices.deny` itself
//! whenever it applies the unit's settings (at start, on daemon-reload):
//! with the default policy ("auto", no DeviceAllow) it writes
//! `devices.allow a`, which would undo hull's rules. So, as runc does,
//! the unit gets an allow list that is never wider than the container's
//! rules; hull writes the exact rules to the files afterwards. Whatever
//! systemd cannot express is left out of its list, which only makes its
//! version stricter.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::dbus::wire::{Props, Variant};
use crate::error::Result;
use crate::shared::device_rules::{access, is_all, rule_string};

/// The properties for `rules`; `proc_devices` is the text of
/// /proc/devices, which names the device groups of wildcard-minor rules.
pub(crate) fn properties(rules: &[LinuxDeviceCgroup], proc_devices: &str) -> Result<Props> {
    for (i, r) in rules.iter().enumerate() {
        rule_string(i, r)?;
    }
    // The last all-devices rule sets the default; only later rules count.
    let start = rules.iter().rposition(is_all);
    let default_allow = start.is_none_or(|i| rules[i].allow());
    let live = &rules[start.map_or(0, |i| i + 1)..];
    if default_allow {
        if live.iter().all(|r| r.allow()) {
            // Everything is allowed: systemd's "auto" with no list is that.
            return Ok(vec![
                ("DevicePolicy", Variant::Str("auto".into())),
                ("DeviceAllow", Variant::StrPairs(Vec::new())),
            ]);
        }
        // systemd has no deny list: it gets "deny everything", and the
        // files hold the real rules.
        tracing::warn!(
            "systemd cannot express device deny rules after an allow-all: its unit denies every device, hull's own rules apply"
        );
        return Ok(strict(Vec::new()));
    }
    let mut allow = Vec::new();
    for (i, r) in live.iter().enumerate() {
        if !r.allow() {
            continue;
        }
        if live[i + 1..].iter().any(|d| !d.allow() && overlaps(r, d)) {
            // Revoked in part by a later rule: leaving it out is stricter
            // than any approximation.
            continue;
        }
        if let Some(path) = allow_path(r, proc_devices) {
            allow.push((path, access(r).to_string()));
        }
    }
    Ok(strict(allow))
}

fn strict(allow: Vec<(String, String)>) -> Props {
    vec![
        ("DevicePolicy", Variant::Str("strict".into())),
        // An empty list first resets what the unit had; a list appends.
        ("DeviceAllow", Variant::StrPairs(Vec::new())),
        ("DeviceAllow", Variant::StrPairs(allow)),
    ]
}

fn number(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n >= 0)
}

/// Whether the later deny rule `d` takes away any access `a` grants.
fn overlaps(a: &LinuxDeviceCgroup, d: &LinuxDeviceCgroup) -> bool {
    let same = |x: Option<i64>, y: Option<i64>| match (number(x), number(y)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    a.typ() == d.typ()
        && same(a.major(), d.major())
        && same(a.minor(), d.minor())
        && access(a).chars().any(|c| access(d).contains(c))
}

/// systemd's name for the devices of an allow rule (a block or char rule:
/// all-devices rules never come after the last one).
fn allow_path(r: &LinuxDeviceCgroup, proc_devices: &str) -> Option<String> {
    let (kind, dir) = match r.typ() {
        Some(LinuxDeviceType::B) => ("block", "/dev/block"),
        _ => ("char", "/dev/char"),
    };
    match (number(r.major()), number(r.minor())) {
        (Some(major), Some(minor)) => Some(format!("{dir}/{major}:{minor}")),
        (None, None) => Some(format!("{kind}-*")),
        (Some(major), None) => {
            let group = device_group(proc_devices, kind, major);
            if group.is_none() {
                tracing::warn!("no {kind} device group with major {major} in /proc/devices: systemd's list leaves out {kind} {major}:*");
            }
            group.map(|g| format!("{kind}-{g}"))
        }
        (None, Some(minor)) => {
            tracing::warn!(
                "systemd cannot express the device rule {kind} *:{minor}: its list leaves it out"
            );
            None
        }
    }
}

/// The name /proc/devices gives `major` in its "Character devices:" or
/// "Block devices:" section.
fn device_group(proc_devices: &str, kind: &str, major: i64) -> Option<String> {
    let header = if kind == "block" {
        "Block devices:"
    } else {
        "Character devices:"
    };
    let mut inside = false;
    for line in proc_devices.lines().map(str::trim) {
        if line.ends_with("devices:") {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        let mut f = line.split_whitespace();
        if let (Some(m), Some(name)) = (f.next(), f.next()) {
            if m.parse::<i64>() == Ok(major) {
                return Some(name.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_DEVICES: &str =
        "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    fn allow_list(p: &Props) -> Vec<(String, String)> {
        match p.last() {
            Some(("DeviceAllow", Variant::StrPairs(l))) => l.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deny_all_then_allows() {
        let r = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"},
                {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"},
                {"allow": true, "type": "c", "access": "m"},
                {"allow": true, "type": "c", "major": 99, "access": "rwm"},
                {"allow": true, "type": "c", "minor": 5, "access": "rwm"}]"#,
        );
        let p = properties(&r, PROC_DEVICES).unwrap();
        assert_eq!(p[0], ("DevicePolicy", Variant::Str("strict".into())));
        assert_eq!(p[1], ("DeviceAllow", Variant::StrPairs(vec![])));
        let want: Vec<(String, String)> = [
            ("/dev/char/1:3", "rwm"),
            ("char-pts", "rw"),
            ("/dev/block/7:0", "r"),
            ("char-*", "m"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(allow_list(&p), want);
    }

    #[test]
    fn later_denies_drop_what_they_touch() {
        let r = rules(
            r#"[{"allow": false},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"},
                {"allow": false, "type": "c", "major": 1, "access": "m"}]"#,
        );
        // 1:5 "rw" survives a later "m" deny; 1:3 "rwm" loses its m and is
        // left out altogether.
        assert_eq!(
            allow_list(&properties(&r, PROC_DEVICES).unwrap()),
            vec![("/dev/char/1:5".to_string(), "rw".to_string())]
        );
    }

    #[test]
    fn allow_all_and_deny_lists() {
        let all = properties(&rules(r#"[{"allow": true}]"#), PROC_DEVICES).unwrap();
        assert_eq!(all[0], ("DevicePolicy", Variant::Str("auto".into())));
        assert_eq!(allow_list(&all), vec![]);
        let none = properties(&[], PROC_DEVICES).unwrap();
        assert_eq!(none[0], ("DevicePolicy", Variant::Str("auto".into())));
        // A deny list becomes "deny everything" for systemd.
        let deny = properties(
            &rules(r#"[{"allow": true}, {"allow": false, "type": "c", "major": 1, "minor": 3}]"#),
            PROC_DEVICES,
        )
        .unwrap();
        assert_eq!(deny[0], ("DevicePolicy", Variant::Str("strict".into())));
        assert_eq!(allow_list(&deny), vec![]);
        // Rules before the last all-rule do not count.
        let p = properties(
            &rules(r#"[{"allow": true, "type": "c", "major": 1, "minor": 3}, {"allow": false}]"#),
            PROC_DEVICES,
        )
        .unwrap();
        assert_eq!(allow_list(&p), vec![]);
    }

    #[test]
    fn bad_rule_names_the_field() {
        let e = properties(
            &rules(r#"[{"allow": true, "type": "c", "access": "rx"}]"#),
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("linux.resources.devices[0]"), "{e}");
    }

    #[test]
    fn proc_devices_groups() {
        assert_eq!(
            device_group(PROC_DEVICES, "char", 136).as_deref(),
            Some("pts")
        );
        assert_eq!(
            device_group(PROC_DEVICES, "block", 8).as_deref(),
            Some("sd")
        );
        assert_eq!(device_group(PROC_DEVICES, "block", 1), None);
        assert_eq!(device_group(PROC_DEVICES, "char", 7), None);
    }
}
