//! Value conversions between the v1-centric OCI spec and cgroup v2 knobs,
//! using runc's formulas so containers behave the same under both runtimes.

/// cpu.shares (2..=262144) to cpu.weight (1..=10000); 0 means "unset".
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    // runc's formula underflows below 2; clamp into the v1 range instead.
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// blkio.weight (10..=1000) to io.weight (1..=10000); 0 means "unset".
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = weight.clamp(10, 1000);
    1 + (w - 10) * 9999 / 990
}

/// OCI memory.swap is memory+swap (the v1 memsw meaning); v2's
/// memory.swap.max is swap only. Returns the value for memory.swap.max
/// using runc's rules: `None` = leave unset, `Some(-1)` = "max".
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, String> {
    let memory = limit.unwrap_or(0);
    let swap = swap.unwrap_or(0);
    // Unlimited memory with unset swap means "unlimited both", as on v1.
    if memory == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some(-1)),
        _ => {}
    }
    if memory == 0 || memory == -1 {
        return Err("swap limit needs a memory limit (memory.swap is memory+swap)".to_string());
    }
    if memory < 0 {
        return Err(format!("invalid memory limit {memory}"));
    }
    if swap < memory {
        return Err(format!(
            "memory+swap limit {swap} must be >= memory limit {memory}"
        ));
    }
    Ok(Some(swap - memory))
}

/// Formats a value where -1 means unlimited.
pub(crate) fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// Page sizes end up in file names, so only the kernel's spelling is allowed.
pub(crate) fn valid_pagesize(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB" | "TB" | "PB")
}

/// runc treats zero as "not set" for most numeric fields; so do we.
pub(crate) fn nz<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
    v.filter(|x| *x != T::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_matches_runc() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(262_144), 10_000);
        assert_eq!(cpu_shares_to_weight(1), 1);
        assert_eq!(cpu_shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn blkio_to_io_weight_matches_runc() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(None, Some(-1)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(None, Some(100)), Ok(None));
        assert_eq!(swap_to_v2(Some(-1), Some(100)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(300), Some(100)), Ok(Some(200)));
        assert_eq!(swap_to_v2(Some(100), Some(100)), Ok(Some(0)));
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(50), None).is_err());
    }

    #[test]
    fn pagesize_validation() {
        assert!(valid_pagesize("2MB"));
        assert!(valid_pagesize("1GB"));
        assert!(valid_pagesize("64KB"));
        assert!(!valid_pagesize("MB"));
        assert!(!valid_pagesize("2M"));
        assert!(!valid_pagesize("../x"));
        assert!(!valid_pagesize("2MB/../../x"));
    }
}
