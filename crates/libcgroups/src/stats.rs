//! Resource usage statistics, shaped like runc's `events --stats` data so
//! that hull's JSON output is familiar to tooling written for runc.
//! Fields a setup cannot provide stay at their zero/empty value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// All statistics of one container cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory usage and limits.
    pub memory: MemoryStats,
    /// Number of tasks and their limit.
    pub pids: PidsStats,
    /// Block I/O counters per device.
    pub blkio: BlkioStats,
    /// Keyed by page size as the kernel spells it ("2MB", "1GB").
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU accounting (cpuacct on v1, cpu.stat on v2) and CFS throttling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Time consumed.
    pub usage: CpuUsage,
    /// Time held back by the CPU quota.
    pub throttling: Throttling,
}

/// All values in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// User and system time together.
    pub total: u64,
    /// Per CPU, in CPU order (v1 only; empty on v2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// System time.
    pub kernel: u64,
    /// User time.
    pub user: u64,
}

/// CFS bandwidth control counters (cpu.stat).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods that have elapsed.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

/// Memory accounting, shaped like cgroup v1's files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Page cache bytes ("cache" on v1, "file" on v2).
    pub cache: u64,
    /// Memory (without swap).
    pub usage: MemoryEntry,
    /// Memory+swap, as cgroup v1's memsw (v2 values are summed to match).
    pub swap: MemoryEntry,
    /// Kernel memory (v1's kmem; zero on v2).
    pub kernel: MemoryEntry,
    /// TCP buffer memory (v1's kmem.tcp; zero on v2).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat verbatim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Byte counters; `limit` is `u64::MAX`-ish when unlimited, as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit.
    pub limit: u64,
    /// Current usage.
    pub usage: u64,
    /// Highest usage recorded.
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// The pids controller's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Tasks in the cgroup now.
    pub current: u64,
    /// 0 means unlimited (runc's convention).
    pub limit: u64,
}

/// Block I/O counters, one entry per device and operation, named as in
/// cgroup v1's `blkio.*_recursive` files (v2's io.stat is mapped onto them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    /// Bytes transferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations issued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Operations queued (v1 only).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "ioQueueRecursive"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Time spent servicing operations, ns (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Time operations spent waiting, ns (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Operations merged into others (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Device time given to the cgroup, ms (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors transferred (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// One counter of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// The device's major number.
    pub major: u64,
    /// The device's minor number.
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard", "Total" or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    pub value: u64,
}

/// Huge page usage of one page size, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HugetlbStats {
    /// Current usage.
    pub usage: u64,
    /// Highest usage recorded (v1 only).
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

fn parse_devno(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses v1 blkio files: "8:0 Read 123" lines (op optional, as in
/// blkio.sectors_recursive "8:0 123"); the trailing "Total N" line is a
/// sum over devices and is dropped.
pub(crate) fn parse_blkio_v1(s: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in s.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (dev, op, val) = match f.as_slice() {
            [dev, op, val] => (*dev, *op, *val),
            [dev, val] => (*dev, "", *val),
            _ => continue,
        };
        let (Some((major, minor)), Ok(value)) = (parse_devno(dev), val.parse()) else {
            continue;
        };
        out.push(BlkioEntry {
            major,
            minor,
            op: op.to_string(),
            value,
        });
    }
    out
}

/// Maps v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") onto the
/// v1-shaped lists the way runc does.
pub(crate) fn parse_io_stat(s: &str, out: &mut BlkioStats) {
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(parse_devno) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
}

/// Space-separated counters, e.g. cpuacct.usage_percpu.
pub(crate) fn parse_u64_list(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_v1_lines() {
        let e = parse_blkio_v1("8:0 Read 10\n8:0 Write 20\n8:16 Total 5\nTotal 35\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 10
            }
        );
        assert_eq!(e[2].minor, 16);
        let s = parse_blkio_v1("8:0 77\n");
        assert_eq!(s[0].op, "");
        assert_eq!(s[0].value, 77);
    }

    #[test]
    fn io_stat_v2() {
        let mut b = BlkioStats::default();
        parse_io_stat(
            "259:0 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n",
            &mut b,
        );
        assert_eq!(b.io_service_bytes_recursive.len(), 3);
        assert_eq!(b.io_service_bytes_recursive[1].op, "Write");
        assert_eq!(b.io_service_bytes_recursive[1].value, 200);
        assert_eq!(b.io_serviced_recursive[0].value, 3);
        assert_eq!(b.io_serviced_recursive[0].major, 259);
    }

    #[test]
    fn json_shape_matches_runc_names() {
        let mut s = Stats::default();
        s.memory.kernel_tcp.limit = 1;
        s.cpu.throttling.throttled_periods = 2;
        s.blkio.io_queued_recursive.push(BlkioEntry::default());
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["memory"]["kernelTCP"]["limit"], 1);
        assert_eq!(j["cpu"]["throttling"]["throttledPeriods"], 2);
        assert!(j["blkio"]["ioQueueRecursive"].is_array());
        assert!(j["hugetlb"].is_object());
    }

    #[test]
    fn percpu_list() {
        assert_eq!(parse_u64_list("1 2 3 \n"), vec![1, 2, 3]);
    }
}
