//! linux.resources as systemd unit properties, with runc's mapping, so
//! that systemd keeps the limits when it re-applies a unit's settings
//! (daemon-reload, set-property) instead of resetting them to its defaults.
//! Every resource is also written to the cgroup files afterwards.

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use super::dbus::wire::{Props, Variant};
use crate::convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, nz, swap_to_v2};
use crate::error::{CgroupError, Result};

/// systemd's USEC_INFINITY / CGROUP_LIMIT_MAX.
const INFINITY: u64 = u64::MAX;
/// The CFS period systemd assumes when only a quota is given.
const DEFAULT_PERIOD: u64 = 100_000;

/// -1 (unlimited) to systemd's infinity.
fn limit(v: i64) -> u64 {
    if v < 0 {
        INFINITY
    } else {
        v as u64
    }
}

fn parse_max(field: &str, v: &str) -> Result<u64> {
    let v = v.trim();
    if v == "max" {
        return Ok(INFINITY);
    }
    v.parse()
        .map_err(|_| CgroupError::invalid(field, format!("{v:?} is neither a number nor \"max\"")))
}

/// The properties for `r`; `version` is systemd's major version (older
/// ones lack CPUQuotaPeriodUSec, AllowedCPUs and idle CPU weights, which
/// then reach the cgroup through its files only).
pub(crate) fn resources(r: &LinuxResources, version: u32) -> Result<Props> {
    let mut p: Props = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(l) = nz(m.limit()) {
            p.push(("MemoryMax", Variant::U64(limit(l))));
        }
        if let Some(l) = nz(m.reservation()) {
            p.push(("MemoryLow", Variant::U64(limit(l))));
        }
        let swap = swap_to_v2(nz(m.swap()), nz(m.limit()))
            .map_err(|e| CgroupError::invalid("linux.resources.memory.swap", e))?;
        if let Some(s) = swap {
            p.push(("MemorySwapMax", Variant::U64(limit(s))));
        }
    }
    if let Some(c) = r.cpu() {
        if c.idle() == Some(1) && version >= 252 {
            p.push(("CPUWeight", Variant::U64(0)));
        } else if let Some(s) = nz(c.shares()) {
            p.push(("CPUWeight", Variant::U64(cpu_shares_to_weight(s))));
        }
        cpu_quota(&mut p, nz(c.quota()), nz(c.period()), version);
        cpuset(&mut p, c, version)?;
    }
    // Beyond runc (which leaves it to the file): systemd writes its own
    // default weight when it re-applies a unit's IO settings.
    if let Some(w) = r.block_io().as_ref().and_then(|b| nz(b.weight())) {
        p.push((
            "IOWeight",
            Variant::U64(blkio_weight_to_io_weight(u64::from(w))),
        ));
    }
    if let Some(pids) = r.pids() {
        let l = pids.limit();
        if l > 0 || l == -1 {
            p.push(("TasksMax", Variant::U64(limit(l))));
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("linux.resources.unified[{k:?}]");
            let prop = match k.as_str() {
                "memory.min" => "MemoryMin",
                "memory.low" => "MemoryLow",
                "memory.high" => "MemoryHigh",
                "memory.max" => "MemoryMax",
                "memory.swap.max" => "MemorySwapMax",
                "pids.max" => "TasksMax",
                "cpu.weight" => "CPUWeight",
                // Written to the cgroup file only (runc maps a few more).
                _ => continue,
            };
            let v = parse_max(&field, &u[k])?;
            p.retain(|(name, _)| *name != prop);
            p.push((prop, Variant::U64(v)));
        }
    }
    Ok(p)
}

/// The properties for `r` on a cgroup v1 host (Legacy or Hybrid), with
/// runc's v1 names: MemoryLimit, CPUShares, BlockIOWeight, and the device
/// rules as DevicePolicy/DeviceAllow (see `devices`); `proc_devices` is
/// the text of /proc/devices. Other v1 settings (swap, reservation,
/// cpuset, hugetlb...) reach the cgroup through its files only.
pub(crate) fn resources_v1(r: &LinuxResources, version: u32, proc_devices: &str) -> Result<Props> {
    let mut p: Props = Vec::new();
    if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        p.extend(super::devices::properties(rules, proc_devices)?);
    }
    if let Some(l) = r.memory().as_ref().and_then(|m| nz(m.limit())) {
        p.push(("MemoryLimit", Variant::U64(limit(l))));
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = nz(c.shares()) {
            p.push(("CPUShares", Variant::U64(s)));
        }
        cpu_quota(&mut p, nz(c.quota()), nz(c.period()), version);
        cpuset(&mut p, c, version)?;
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| nz(b.weight())) {
        p.push(("BlockIOWeight", Variant::U64(u64::from(w))));
    }
    if let Some(pids) = r.pids() {
        let l = pids.limit();
        if l > 0 || l == -1 {
            p.push(("TasksMax", Variant::U64(limit(l))));
        }
    }
    Ok(p)
}

/// AllowedCPUs and AllowedMemoryNodes (systemd 244 and later).
fn cpuset(p: &mut Props, c: &LinuxCpu, version: u32) -> Result<()> {
    if version < 244 {
        return Ok(());
    }
    for (field, value, prop) in [
        ("linux.resources.cpu.cpus", c.cpus(), "AllowedCPUs"),
        ("linux.resources.cpu.mems", c.mems(), "AllowedMemoryNodes"),
    ] {
        if let Some(list) = value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            p.push((
                prop,
                Variant::Bytes(range_to_bits(list).map_err(|e| CgroupError::invalid(field, e))?),
            ));
        }
    }
    Ok(())
}

/// CPUQuotaPerSecUSec is a quota per second of wall time; systemd turns it
/// into a percentage, so like runc round it up to whole 10 ms, or the
/// cgroup could end up with less than the spec asks for.
fn cpu_quota(p: &mut Props, quota: Option<i64>, period: Option<u64>, version: u32) {
    if let Some(per) = period {
        if version >= 242 {
            p.push(("CPUQuotaPeriodUSec", Variant::U64(per)));
        }
    }
    if quota.is_none() && period.is_none() {
        return;
    }
    let mut per_sec = INFINITY;
    if let Some(q) = quota.filter(|q| *q > 0) {
        let per = period.unwrap_or(DEFAULT_PERIOD).max(1);
        per_sec = ((q as u64).saturating_mul(1_000_000) / per)
            .checked_next_multiple_of(10_000)
            .unwrap_or(INFINITY);
    }
    p.push(("CPUQuotaPerSecUSec", Variant::U64(per_sec)));
}

/// "0-2,7" to systemd's CPU mask: byte i holds CPUs 8i..8i+7, lowest bit
/// first.
pub(crate) fn range_to_bits(list: &str) -> std::result::Result<Vec<u8>, String> {
    let mut bytes: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{list:?}: {part:?} is not a number or range"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b || b >= 1 << 16 {
            return Err(format!("{list:?}: bad range {part:?}"));
        }
        for i in a..=b {
            if bytes.len() <= i / 8 {
                bytes.resize(i / 8 + 1, 0);
            }
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    if bytes.is_empty() {
        return Err(format!("{list:?} names no CPU or node"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn get<'a>(p: &'a Props, name: &str) -> Option<&'a Variant> {
        p.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    #[test]
    fn maps_like_runc() {
        let r = res(
            r#"{"memory": {"limit": 67108864, "reservation": 1024, "swap": 100663296},
                        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-2,9", "mems": "0"},
                        "pids": {"limit": 42}, "blockIO": {"weight": 500}}"#,
        );
        let p = resources(&r, 252).unwrap();
        assert_eq!(get(&p, "IOWeight"), Some(&Variant::U64(4950)));
        assert_eq!(get(&p, "MemoryMax"), Some(&Variant::U64(67108864)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Variant::U64(1024)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Variant::U64(33554432)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Variant::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Variant::U64(100000)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(500000)));
        assert_eq!(
            get(&p, "AllowedCPUs"),
            Some(&Variant::Bytes(vec![0b0000_0111, 0b0000_0010]))
        );
        assert_eq!(
            get(&p, "AllowedMemoryNodes"),
            Some(&Variant::Bytes(vec![1]))
        );
        assert_eq!(get(&p, "TasksMax"), Some(&Variant::U64(42)));
        // Older systemd: those go to the files only.
        let old = resources(&r, 241).unwrap();
        assert!(get(&old, "CPUQuotaPeriodUSec").is_none() && get(&old, "AllowedCPUs").is_none());
    }

    #[test]
    fn unlimited_and_unset() {
        let p = resources(
            &res(r#"{"memory": {"limit": -1}, "pids": {"limit": -1}}"#),
            252,
        )
        .unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Variant::U64(u64::MAX)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Variant::U64(u64::MAX)));
        assert_eq!(get(&p, "TasksMax"), Some(&Variant::U64(u64::MAX)));
        let p = resources(
            &res(r#"{"memory": {"limit": 0}, "pids": {"limit": 0}, "cpu": {"shares": 0}}"#),
            252,
        )
        .unwrap();
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn quota_rounds_up_to_ten_ms() {
        let p = resources(&res(r#"{"cpu": {"quota": 33333, "period": 100000}}"#), 252).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(340000)));
        let p = resources(&res(r#"{"cpu": {"quota": -1}}"#), 252).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(u64::MAX)));
        let p = resources(
            &res(r#"{"cpu": {"quota": 9223372036854775807, "period": 1}}"#),
            252,
        )
        .unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(u64::MAX)));
        let p = resources(&res(r#"{"cpu": {"quota": 20000}}"#), 252).unwrap();
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(200000)));
    }

    #[test]
    fn unified_keys_override() {
        let p = resources(&res(r#"{"memory": {"limit": 1000}, "unified": {"memory.max": "max", "memory.high": "52428800", "io.weight": "50"}}"#), 252).unwrap();
        assert_eq!(get(&p, "MemoryMax"), Some(&Variant::U64(u64::MAX)));
        assert_eq!(get(&p, "MemoryHigh"), Some(&Variant::U64(52428800)));
        assert_eq!(p.iter().filter(|(n, _)| *n == "MemoryMax").count(), 1);
        let e = resources(&res(r#"{"unified": {"pids.max": "lots"}}"#), 252)
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.resources.unified[\"pids.max\"]"), "{e}");
    }

    #[test]
    fn maps_v1_like_runc() {
        let r = res(
            r#"{"memory": {"limit": 67108864, "reservation": 1024, "swap": 100663296},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                "pids": {"limit": 42}, "blockIO": {"weight": 500},
                "devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}"#,
        );
        let p = resources_v1(&r, 252, "").unwrap();
        assert_eq!(get(&p, "MemoryLimit"), Some(&Variant::U64(67108864)));
        assert_eq!(get(&p, "CPUShares"), Some(&Variant::U64(512)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Variant::U64(500000)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Variant::U64(500)));
        assert_eq!(get(&p, "TasksMax"), Some(&Variant::U64(42)));
        assert_eq!(
            get(&p, "DevicePolicy"),
            Some(&Variant::Str("strict".into()))
        );
        // v2 names, and what v1 systemd cannot set, are not sent.
        for name in [
            "MemoryMax",
            "MemoryLow",
            "MemorySwapMax",
            "CPUWeight",
            "IOWeight",
        ] {
            assert!(get(&p, name).is_none(), "{name}");
        }
        let p = resources_v1(&res(r#"{"memory": {"limit": -1}}"#), 252, "").unwrap();
        assert_eq!(p, vec![("MemoryLimit", Variant::U64(u64::MAX))]);
        assert!(resources_v1(&res("{}"), 252, "").unwrap().is_empty());
    }

    #[test]
    fn cpu_masks() {
        assert_eq!(range_to_bits("0").unwrap(), vec![1]);
        assert_eq!(range_to_bits("7,8").unwrap(), vec![0x80, 1]);
        assert_eq!(range_to_bits("0-15").unwrap(), vec![0xff, 0xff]);
        assert!(range_to_bits("3-1").is_err());
        assert!(range_to_bits("x").is_err());
        assert!(range_to_bits("").is_err());
    }
}
