use std::io::Read;

use libcontainer::{
    oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources},
    Container,
};

use super::CmdResult;
use crate::Globals;

// runc 1.1's `update` flags. Numeric 0 (and an empty cpuset) means "leave
// unchanged", as in runc.
// (Not a doc comment: clap would make it the about text of every command
// that takes or flattens it, over its own, once the subcommands are deferred.)
#[derive(clap::Args)]
pub struct Args {
    /// JSON file with the new resources (linux.resources format), or '-'
    /// for stdin. Cannot be combined with the other resource flags.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1: unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds per period.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (e.g. 0-2,4).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g/t/p; -1: unlimited).
    #[arg(long, value_parser = parse_memory, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    /// Memory soft limit (same units as --memory).
    #[arg(long = "memory-reservation", value_parser = parse_memory, allow_hyphen_values = true)]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit (same units; -1: unlimited swap).
    #[arg(long = "memory-swap", value_parser = parse_memory, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Obsolete kernel memory limit, kept for runc compatibility.
    #[arg(long = "kernel-memory", value_parser = parse_memory, allow_hyphen_values = true, hide = true)]
    pub kernel_memory: Option<i64>,
    /// Obsolete kernel TCP memory limit, kept for runc compatibility.
    #[arg(long = "kernel-memory-tcp", value_parser = parse_memory, allow_hyphen_values = true, hide = true)]
    pub kernel_memory_tcp: Option<i64>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema ("L3:<cache id>=<bitmask>;...").
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema ("MB:<cache id>=<bandwidth>;...").
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    // runc treats an empty schema as not given.
    let l3 = a.l3_cache_schema.as_deref().filter(|s| !s.is_empty());
    let mb = a.mem_bw_schema.as_deref().filter(|s| !s.is_empty());
    let rdt_only = (l3.is_some() || mb.is_some()) && a.resources.is_none() && !has_flags(&a);
    let resources = match &a.resources {
        Some(src) => {
            // runc silently ignores the flags then; refusing says which wins.
            if has_flags(&a) {
                return Err("--resources cannot be combined with other resource flags".into());
            }
            read_resources(src)?
        }
        None => from_flags(&a),
    };
    let mut c = Container::load(&g.root, &a.id)?;
    if !rdt_only {
        c.update(&resources)?;
    }
    if l3.is_some() || mb.is_some() {
        c.update_intel_rdt(l3, mb)?;
    }
    Ok(0)
}

fn read_resources(src: &str) -> Result<LinuxResources, String> {
    let mut raw = Vec::new();
    let read = if src == "-" {
        std::io::stdin().read_to_end(&mut raw)
    } else {
        std::fs::File::open(src).and_then(|mut f| f.read_to_end(&mut raw))
    };
    let name = if src == "-" { "standard input" } else { src };
    read.map_err(|e| format!("reading {name}: {e}"))?;
    serde_json::from_slice(&raw).map_err(|e| format!("parsing resources from {name}: {e}"))
}

fn has_flags(a: &Args) -> bool {
    a.blkio_weight.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.kernel_memory.is_some()
        || a.kernel_memory_tcp.is_some()
        || a.pids_limit.is_some()
}

/// Only the sections a flag was given for are present, so the update
/// touches nothing else.
fn from_flags(a: &Args) -> LinuxResources {
    let mut r = LinuxResources::default();
    if a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.kernel_memory.is_some()
        || a.kernel_memory_tcp.is_some()
    {
        let mut m = LinuxMemory::default();
        m.set_limit(a.memory);
        m.set_reservation(a.memory_reservation);
        m.set_swap(a.memory_swap);
        m.set_kernel(a.kernel_memory);
        m.set_kernel_tcp(a.kernel_memory_tcp);
        r.set_memory(Some(m));
    }
    if a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
    {
        let mut c = LinuxCpu::default();
        c.set_period(a.cpu_period);
        c.set_quota(a.cpu_quota);
        c.set_shares(a.cpu_share);
        c.set_realtime_period(a.cpu_rt_period);
        c.set_realtime_runtime(a.cpu_rt_runtime);
        c.set_cpus(a.cpuset_cpus.clone());
        c.set_mems(a.cpuset_mems.clone());
        r.set_cpu(Some(c));
    }
    if let Some(w) = a.blkio_weight.filter(|w| *w != 0) {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    // 0 is runc's "unchanged"; libcgroups would read it as "unlimited".
    if let Some(l) = a.pids_limit.filter(|l| *l != 0) {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        r.set_pids(Some(p));
    }
    r
}

/// A memory size as runc (go-units RAMInBytes) takes it: a decimal number
/// with an optional space and a binary unit k, m, g, t or p (any case,
/// optionally followed by "i" and/or "b"), or -1 for unlimited.
pub fn parse_memory(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || {
        format!("invalid size {s:?} (bytes, or a number with k, m, g, t or p such as 64m; -1 for unlimited)")
    };
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut rest = suffix.as_str();
    let mut mult = 1f64;
    for (i, unit) in ['k', 'm', 'g', 't', 'p'].iter().enumerate() {
        if let Some(r) = rest.strip_prefix(*unit) {
            mult = 1024f64.powi(i as i32 + 1);
            rest = r;
            break;
        }
    }
    rest = rest.strip_prefix('i').unwrap_or(rest);
    rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return Err(bad());
    }
    let bytes = num.parse::<f64>().map_err(|_| bad())? * mult;
    if bytes >= i64::MAX as f64 {
        return Err(format!("size {s:?} is too large"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_like_runc() {
        assert_eq!(parse_memory("1024"), Ok(1024));
        assert_eq!(parse_memory("64m"), Ok(64 << 20));
        assert_eq!(parse_memory("64M"), Ok(64 << 20));
        assert_eq!(parse_memory("64mb"), Ok(64 << 20));
        assert_eq!(parse_memory("64MiB"), Ok(64 << 20));
        assert_eq!(parse_memory("64 m"), Ok(64 << 20));
        assert_eq!(parse_memory("1k"), Ok(1024));
        assert_eq!(parse_memory("2g"), Ok(2 << 30));
        assert_eq!(parse_memory("1t"), Ok(1 << 40));
        assert_eq!(parse_memory("1p"), Ok(1 << 50));
        assert_eq!(parse_memory("1.5k"), Ok(1536));
        assert_eq!(parse_memory("100b"), Ok(100));
        assert_eq!(parse_memory("0"), Ok(0));
        assert_eq!(parse_memory("-1"), Ok(-1));
        for bad in [
            "", "m", "-2", "-1m", "1.2.3m", "1.m", ".5m", "64x", "64mm", "64  m", "64m ", "8192p",
        ] {
            assert!(parse_memory(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn flags_set_only_their_sections() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: Args,
        }
        let cli = Cli::try_parse_from([
            "update",
            "--memory",
            "64m",
            "--pids-limit",
            "10",
            "--cpu-quota",
            "-1",
            "c1",
        ])
        .unwrap();
        let r = from_flags(&cli.a);
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
        assert_eq!(r.memory().as_ref().and_then(|m| m.swap()), None);
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(-1));
        assert!(r.block_io().is_none());
        let cli = Cli::try_parse_from(["update", "--pids-limit", "0", "--blkio-weight", "0", "c1"])
            .unwrap();
        let r = from_flags(&cli.a);
        assert!(r.pids().is_none() && r.block_io().is_none());
        assert!(Cli::try_parse_from(["update", "--memory", "lots", "c1"]).is_err());
    }
}
