//! Process attributes that are one syscall each: linux.personality,
//! linux.memoryPolicy, process.ioPriority, process.scheduler and
//! process.execCPUAffinity.
//!
//! Every setter acts on the calling thread, which in the init and in an
//! exec'd process is the only one. All of these attributes survive execve
//! and are inherited by the process's children, so setting them before the
//! exec is setting them for the container.
//!
//! `validate` holds every check that needs no state change, so `create`
//! refuses a bad config before anything exists; the setters repeat the
//! pure checks (they are cheap) so no caller can hand the kernel a value
//! it would silently reinterpret.

use std::io;

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
    Scheduler, Spec,
};
use rustix::thread::CpuSet;

use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

/// Largest CPU or node number `parse_cpu_list` accepts: far above any real
/// machine, low enough that a hostile "0-4000000000" cannot make us
/// allocate gigabytes.
const MAX_LIST_ID: usize = 1 << 16;

/// The kernel reads at most a page of nodemask bits (get_nodes in
/// mm/mempolicy.c); 4096 bits fit any page size.
const MAX_NODES: usize = 4096;

const ONLINE_CPUS: &str = "/sys/devices/system/cpu/online";
const ONLINE_NODES: &str = "/sys/devices/system/node/online";

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// What this host has online, for the checks that depend on it. None:
/// unknown (the file is unreadable), and the check is left to the kernel.
struct Host {
    online_cpus: Option<Vec<usize>>,
    online_nodes: Option<Vec<usize>>,
}

fn read_list(path: &str) -> Option<Vec<usize>> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()).ok())
}

/// Checks done before anything is created (no syscalls that change
/// state): each problem with its JSON path.
pub(crate) fn validate(spec: &Spec) -> Vec<FieldIssue> {
    let proc = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    // Read sysfs only when a field needs it.
    let needs_cpus = proc.and_then(|p| p.exec_cpu_affinity().as_ref()).is_some();
    let needs_nodes = linux.and_then(|l| l.memory_policy().as_ref()).is_some();
    let host = Host {
        online_cpus: needs_cpus.then(|| read_list(ONLINE_CPUS)).flatten(),
        online_nodes: needs_nodes.then(|| read_list(ONLINE_NODES)).flatten(),
    };
    validate_on(spec, &host)
}

fn validate_on(spec: &Spec, host: &Host) -> Vec<FieldIssue> {
    let mut is = Vec::new();
    if let Some(l) = spec.linux() {
        if let Some(p) = l.personality() {
            is.extend(personality_issues(p));
        }
        if let Some(m) = l.memory_policy() {
            is.extend(memory_policy_issues(m));
            // Relative node numbers index the allowed set, not the machine.
            let relative = m
                .flags()
                .iter()
                .flatten()
                .any(|f| *f == MemoryPolicyFlagType::MpolFRelativeNodes);
            if let (Some(online), Some(Ok(nodes)), false) = (
                &host.online_nodes,
                m.nodes().as_deref().map(parse_cpu_list),
                relative,
            ) {
                is.extend(offline_issue(
                    "linux.memoryPolicy.nodes",
                    "node",
                    &nodes,
                    online,
                ));
            }
        }
    }
    if let Some(p) = spec.process() {
        if let Some(io) = p.io_priority() {
            is.extend(io_priority_issues(io));
        }
        if let Some(s) = p.scheduler() {
            is.extend(scheduler_issues(s));
        }
        if let Some(a) = p.exec_cpu_affinity() {
            for (field, cpus) in [
                ("process.execCPUAffinity.initial", a.initial()),
                ("process.execCPUAffinity.final", a.cpu_affinity_final()),
            ] {
                let Some(cpus) = cpus.as_deref().filter(|c| !c.is_empty()) else {
                    continue;
                };
                match cpu_ids(field, cpus) {
                    Err(issue) => is.push(issue),
                    Ok(ids) => {
                        if let Some(online) = &host.online_cpus {
                            is.extend(offline_issue(field, "CPU", &ids, online));
                        }
                    }
                }
            }
        }
    }
    is
}

fn issue(field: impl Into<String>, reason: impl Into<String>) -> FieldIssue {
    FieldIssue {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The setters' copy of the pure checks: the first problem as an error.
fn first(issues: Vec<FieldIssue>) -> Result<()> {
    match issues.into_iter().next() {
        Some(i) => Err(Error::Init(i.to_string())),
        None => Ok(()),
    }
}

fn offline_issue(field: &str, what: &str, ids: &[usize], online: &[usize]) -> Option<FieldIssue> {
    let off: Vec<String> = ids
        .iter()
        .filter(|i| !online.contains(i))
        .map(|i| i.to_string())
        .collect();
    (!off.is_empty()).then(|| {
        issue(
            field,
            format!(
                "{what} {} not online (online: {})",
                off.join(","),
                fmt_list(online)
            ),
        )
    })
}

/// "0-3,7" again, for messages.
fn fmt_list(ids: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        while i + 1 < ids.len() && ids[i + 1] == ids[i] + 1 {
            i += 1;
        }
        out.push(if ids[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", ids[i])
        });
        i += 1;
    }
    out.join(",")
}

/// Parses a Linux list ("0-3,7"): CPU or node numbers, sorted, without
/// duplicates. The empty string is the empty list.
pub(crate) fn parse_cpu_list(s: &str) -> std::result::Result<Vec<usize>, String> {
    let mut ids = Vec::new();
    if s.is_empty() {
        return Ok(ids);
    }
    let num = |t: &str| -> std::result::Result<usize, String> {
        // usize::from_str accepts a leading '+'; the list format does not.
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?}: {t:?} is not a number (expected a list like \"0-3,7\")"
            ));
        }
        match t.parse::<usize>() {
            Ok(n) if n < MAX_LIST_ID => Ok(n),
            _ => Err(format!("{s:?}: {t} is too large")),
        }
    };
    for part in s.split(',') {
        match part.split_once('-') {
            None => ids.push(num(part)?),
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("{s:?}: range {part} runs backwards"));
                }
                ids.extend(a..=b);
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

// ---------------------------------------------------------------------------
// linux.personality
// ---------------------------------------------------------------------------

/// PER_LINUX and PER_LINUX32 from <linux/personality.h>.
const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

fn personality_issues(l: &LinuxPersonality) -> Vec<FieldIssue> {
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

// ---------------------------------------------------------------------------
// process.ioPriority
// ---------------------------------------------------------------------------

/// From <linux/ioprio.h>.
const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// Levels 0 (highest) to 7 (lowest); the kernel has 8 (IOPRIO_NR_LEVELS).
const IOPRIO_LEVELS: std::ops::RangeInclusive<i64> = 0..=7;

fn io_priority_issues(p: &LinuxIOPriority) -> Vec<FieldIssue> {
    if IOPRIO_LEVELS.contains(&p.priority()) {
        vec![]
    } else {
        vec![issue(
            "process.ioPriority.priority",
            format!("{} is out of range (0 to 7)", p.priority()),
        )]
    }
}

/// The ioprio_set(2) value: class << 13 | level.
fn io_priority_value(p: &LinuxIOPriority) -> Result<libc::c_int> {
    first(io_priority_issues(p))?;
    let class: libc::c_int = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    // In range: checked above.
    Ok(class << IOPRIO_CLASS_SHIFT | p.priority() as libc::c_int)
}

pub(crate) fn set_io_priority(p: &LinuxIOPriority) -> Result<()> {
    let value = io_priority_value(p)?;
    // Neither rustix nor nix wraps ioprio_set(2) (glibc has no wrapper).
    // SAFETY: three integer arguments; who 0 is the calling thread, the
    // only one changed.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } == -1 {
        let e = io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => " (the realtime class needs CAP_SYS_ADMIN or CAP_SYS_NICE)",
            Some(libc::EINVAL) => " (a class or priority this kernel does not know)",
            _ => "",
        };
        return Err(Error::sys(
            format!(
                "process.ioPriority ({} priority {}){hint}",
                p.class(),
                p.priority()
            ),
            e,
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// process.scheduler
// ---------------------------------------------------------------------------

/// struct sched_attr as of Linux 5.3 (SCHED_ATTR_SIZE_VER1, with the
/// utilization clamps). libc's copy is the 48-byte VER0. Older kernels
/// accept the larger size as long as the extra fields are zero.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

const SCHED_ATTR_SIZE: u32 = 56;
const _: () = assert!(std::mem::size_of::<SchedAttr>() == SCHED_ATTR_SIZE as usize);

/// The kernel's bounds (kernel/sched/syscalls.c): rt priorities 1..=99
/// (MAX_RT_PRIO - 1), deadline runtimes of at least 2^DL_SCALE ns.
const RT_PRIORITIES: std::ops::RangeInclusive<i32> = 1..=99;
const NICE_VALUES: std::ops::RangeInclusive<i32> = -20..=19;
const DL_MIN_RUNTIME: u64 = 1 << 10;

fn policy_value(p: LinuxSchedulerPolicy) -> Option<u32> {
    Some(match p {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER as u32,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO as u32,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR as u32,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH as u32,
        // Number 4 is reserved for it, but the patch set was never merged.
        LinuxSchedulerPolicy::SchedIso => return None,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE as u32,
        LinuxSchedulerPolicy::SchedDeadline => libc::SCHED_DEADLINE as u32,
    })
}

fn flag_value(f: LinuxSchedulerFlag) -> u64 {
    (match f {
        LinuxSchedulerFlag::SchedResetOnFork => libc::SCHED_FLAG_RESET_ON_FORK,
        LinuxSchedulerFlag::SchedFlagReclaim => libc::SCHED_FLAG_RECLAIM,
        LinuxSchedulerFlag::SchedFlagDLOverrun => libc::SCHED_FLAG_DL_OVERRUN,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => libc::SCHED_FLAG_KEEP_POLICY,
        LinuxSchedulerFlag::SchedFlagKeepParams => libc::SCHED_FLAG_KEEP_PARAMS,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => libc::SCHED_FLAG_UTIL_CLAMP_MIN,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => libc::SCHED_FLAG_UTIL_CLAMP_MAX,
    }) as u64
}

fn scheduler_issues(s: &Scheduler) -> Vec<FieldIssue> {
    let mut is = Vec::new();
    let policy = *s.policy();
    if policy_value(policy).is_none() {
        is.push(issue(
            "process.scheduler.policy",
            format!("{policy} is not implemented by Linux"),
        ));
    }
    if let Some(n) = s.nice().filter(|n| !NICE_VALUES.contains(n)) {
        is.push(issue(
            "process.scheduler.nice",
            format!("{n} is out of range (-20 to 19)"),
        ));
    }
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    match (realtime, s.priority()) {
        (true, Some(p)) if RT_PRIORITIES.contains(p) => {}
        (true, p) => is.push(issue(
            "process.scheduler.priority",
            format!(
                "{policy} needs a priority from 1 to 99{}",
                p.map(|p| format!(", not {p}")).unwrap_or_default()
            ),
        )),
        // As runc: 0 is the same as no priority.
        (false, Some(p)) if *p != 0 => is.push(issue(
            "process.scheduler.priority",
            format!("{p}: only SCHED_FIFO and SCHED_RR take a priority, not {policy}"),
        )),
        (false, _) => {}
    }
    let dl = [
        ("runtime", s.runtime()),
        ("deadline", s.deadline()),
        ("period", s.period()),
    ];
    if policy == LinuxSchedulerPolicy::SchedDeadline {
        let (runtime, deadline, period) = (
            s.runtime().unwrap_or(0),
            s.deadline().unwrap_or(0),
            s.period().unwrap_or(0),
        );
        if runtime < DL_MIN_RUNTIME {
            is.push(issue(
                "process.scheduler.runtime",
                format!("SCHED_DEADLINE needs a runtime of at least {DL_MIN_RUNTIME} ns"),
            ));
        }
        if deadline == 0 {
            is.push(issue(
                "process.scheduler.deadline",
                "SCHED_DEADLINE needs a deadline",
            ));
        } else if runtime > deadline {
            is.push(issue(
                "process.scheduler.runtime",
                format!("{runtime} exceeds the deadline {deadline}"),
            ));
        }
        // A period of 0 means "the deadline".
        if period != 0 && period < deadline {
            is.push(issue(
                "process.scheduler.period",
                format!("{period} is shorter than the deadline {deadline}"),
            ));
        }
    } else {
        for (name, v) in dl {
            if let Some(v) = v.filter(|v| *v != 0) {
                is.push(issue(
                    format!("process.scheduler.{name}"),
                    format!("{v}: only SCHED_DEADLINE takes a {name}, not {policy}"),
                ));
            }
        }
    }
    is
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr> {
    first(scheduler_issues(s))?;
    Ok(SchedAttr {
        size: SCHED_ATTR_SIZE,
        // Checked by scheduler_issues.
        sched_policy: policy_value(*s.policy()).unwrap_or(libc::SCHED_OTHER as u32),
        sched_flags: s
            .flags()
            .iter()
            .flatten()
            .fold(0, |acc, f| acc | flag_value(*f)),
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: s.priority().unwrap_or(0).max(0) as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        // The spec has no clamp values: with the UTIL_CLAMP flags these
        // zeroes are the clamps, as runc and crun pass them.
        sched_util_min: 0,
        sched_util_max: 0,
    })
}

pub(crate) fn set_scheduler(s: &Scheduler) -> Result<()> {
    let attr = sched_attr(s)?;
    // Neither rustix nor nix wraps sched_setattr(2) (glibc has no wrapper).
    // SAFETY: attr is a live sched_attr whose size field matches its
    // layout; pid 0 is the calling thread; flags must be 0.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } == -1 {
        let e = io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => {
                " (realtime and deadline policies, a lower nice value and leaving SCHED_IDLE need CAP_SYS_NICE; with realtime group \
                 scheduling the cgroup also needs cpu.rt_runtime_us; SCHED_DEADLINE needs affinity to every CPU of its root domain)"
            }
            Some(libc::EINVAL) => " (a policy, flag or value this kernel does not accept)",
            Some(libc::EBUSY) => " (the CPUs have no SCHED_DEADLINE bandwidth left for this runtime/period)",
            Some(libc::EOPNOTSUPP) => " (utilization clamping needs a kernel built with CONFIG_UCLAMP_TASK)",
            _ => "",
        };
        return Err(Error::sys(
            format!("process.scheduler ({}){hint}", describe_scheduler(s)),
            e,
        ));
    }
    Ok(())
}

fn describe_scheduler(s: &Scheduler) -> String {
    let mut d = s.policy().to_string();
    if let Some(p) = s.priority() {
        d += &format!(" priority {p}");
    }
    if let Some(n) = s.nice() {
        d += &format!(" nice {n}");
    }
    if let Some(f) = s.flags().as_ref().filter(|f| !f.is_empty()) {
        d += &format!(
            " flags {}",
            f.iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    d
}

// ---------------------------------------------------------------------------
// process.execCPUAffinity
// ---------------------------------------------------------------------------

fn cpu_ids(field: &str, cpus: &str) -> std::result::Result<Vec<usize>, FieldIssue> {
    let ids = parse_cpu_list(cpus).map_err(|e| issue(field, e))?;
    if ids.is_empty() {
        return Err(issue(field, "names no CPU"));
    }
    if let Some(big) = ids.iter().find(|i| **i >= CpuSet::MAX_CPU) {
        return Err(issue(
            field,
            format!(
                "CPU {big} is beyond the {} CPUs this runtime can address",
                CpuSet::MAX_CPU
            ),
        ));
    }
    Ok(ids)
}

/// Pins the calling thread to `cpus` ("0-3,7"), for the tests.
#[cfg(test)]
pub(crate) fn set_cpu_affinity(cpus: &str) -> Result<()> {
    set_affinity("process.execCPUAffinity", cpus)
}

/// execCPUAffinity.initial, when set: for the runtime's process before it
/// joins the container's cgroup.
pub(crate) fn set_exec_cpu_affinity_initial(p: &Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
        .filter(|c| !c.is_empty())
    {
        Some(cpus) => set_affinity("process.execCPUAffinity.initial", cpus),
        None => Ok(()),
    }
}

/// execCPUAffinity.final, when set: once in the container's cgroup, right
/// before the exec. Unset means "leave it to the kernel" (the spec's
/// SHOULD NOT change), so nothing happens.
pub(crate) fn set_exec_cpu_affinity_final(p: &Process) -> Result<()> {
    match p
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
        .filter(|c| !c.is_empty())
    {
        Some(cpus) => set_affinity("process.execCPUAffinity.final", cpus),
        None => Ok(()),
    }
}

fn set_affinity(field: &str, cpus: &str) -> Result<()> {
    let ids = cpu_ids(field, cpus).map_err(|i| Error::Init(i.to_string()))?;
    // The kernel quietly drops offline CPUs from the mask as long as one
    // is left: check first. After pivot_root /sys may be missing; then
    // validate() has checked in the runtime's view.
    if let Some(online) = read_list(ONLINE_CPUS) {
        first(
            offline_issue(field, "CPU", &ids, &online)
                .into_iter()
                .collect(),
        )?;
    }
    let mut set = CpuSet::new();
    for id in &ids {
        set.set(*id);
    }
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| {
        let hint = if e == rustix::io::Errno::INVAL {
            " (none of these CPUs is online and in this process's cpuset)"
        } else {
            ""
        };
        Error::sys(format!("{field} ({cpus}){hint}"), e)
    })
}

// ---------------------------------------------------------------------------
// linux.memoryPolicy
// ---------------------------------------------------------------------------

/// Newer than libc's constants (Linux 5.15 and 6.9).
const MPOL_PREFERRED_MANY: libc::c_int = 5;
const MPOL_WEIGHTED_INTERLEAVE: libc::c_int = 6;

fn mode_value(m: MemoryPolicyModeType) -> libc::c_int {
    match m {
        MemoryPolicyModeType::MpolDefault => libc::MPOL_DEFAULT,
        MemoryPolicyModeType::MpolBind => libc::MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => libc::MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
        MemoryPolicyModeType::MpolPreferred => libc::MPOL_PREFERRED,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolLocal => libc::MPOL_LOCAL,
    }
}

fn mode_flag_value(f: MemoryPolicyFlagType) -> libc::c_int {
    match f {
        MemoryPolicyFlagType::MpolFNumaBalancing => libc::MPOL_F_NUMA_BALANCING,
        MemoryPolicyFlagType::MpolFRelativeNodes => libc::MPOL_F_RELATIVE_NODES,
        MemoryPolicyFlagType::MpolFStaticNodes => libc::MPOL_F_STATIC_NODES,
    }
}

/// The mode/nodes/flags combinations mpol_new and sanitize_mpol_flags
/// (mm/mempolicy.c) refuse, plus flags MPOL_DEFAULT would silently drop.
fn memory_policy_issues(m: &LinuxMemoryPolicy) -> Vec<FieldIssue> {
    use MemoryPolicyModeType as M;
    let mut is = Vec::new();
    let mode = m.mode();
    let nodes = match parse_cpu_list(m.nodes().as_deref().unwrap_or("")) {
        Ok(n) => n,
        Err(e) => {
            is.push(issue("linux.memoryPolicy.nodes", e));
            return is;
        }
    };
    if let Some(big) = nodes.iter().find(|n| **n >= MAX_NODES) {
        is.push(issue(
            "linux.memoryPolicy.nodes",
            format!("node {big} is beyond the {MAX_NODES} nodes the kernel can be given"),
        ));
    }
    let has = |f: MemoryPolicyFlagType| m.flags().iter().flatten().any(|x| *x == f);
    let (stat, rel, balancing) = (
        has(MemoryPolicyFlagType::MpolFStaticNodes),
        has(MemoryPolicyFlagType::MpolFRelativeNodes),
        has(MemoryPolicyFlagType::MpolFNumaBalancing),
    );
    match mode {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => is.push(issue(
            "linux.memoryPolicy.nodes",
            format!("{mode} takes no nodes"),
        )),
        // MPOL_PREFERRED without nodes is the kernel's "local allocation".
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if nodes.is_empty() =>
        {
            is.push(issue(
                "linux.memoryPolicy.nodes",
                format!("{mode} needs at least one node"),
            ))
        }
        _ => {}
    }
    if mode == M::MpolDefault && m.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        is.push(issue(
            "linux.memoryPolicy.flags",
            "MPOL_DEFAULT takes no flags",
        ));
    } else if (stat || rel)
        && (mode == M::MpolLocal || (mode == M::MpolPreferred && nodes.is_empty()))
    {
        is.push(issue(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need a node list",
        ));
    }
    if stat && rel {
        is.push(issue(
            "linux.memoryPolicy.flags",
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ));
    }
    // Recent kernels also take it with MPOL_PREFERRED_MANY; older ones
    // answer EINVAL, which the setter reports.
    if balancing && !matches!(mode, M::MpolBind | M::MpolPreferredMany) {
        is.push(issue("linux.memoryPolicy.flags", format!("MPOL_F_NUMA_BALANCING only works with MPOL_BIND (or, on recent kernels, MPOL_PREFERRED_MANY), not {mode}")));
    }
    is
}

/// The nodemask as set_mempolicy(2) reads it, and its maxnode: the kernel
/// reads maxnode - 1 bits.
fn nodemask(nodes: &[usize]) -> (Vec<libc::c_ulong>, libc::c_ulong) {
    let bits = libc::c_ulong::BITS as usize;
    let words = nodes.iter().max().map_or(0, |m| m / bits + 1);
    let mut mask = vec![0 as libc::c_ulong; words];
    for n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    (mask, (words * bits + 1) as libc::c_ulong)
}

pub(crate) fn set_memory_policy(m: &LinuxMemoryPolicy) -> Result<()> {
    first(memory_policy_issues(m))?;
    let nodes = parse_cpu_list(m.nodes().as_deref().unwrap_or(""))
        .map_err(|e| Error::Init(format!("linux.memoryPolicy.nodes: {e}")))?;
    let relative = m
        .flags()
        .iter()
        .flatten()
        .any(|f| *f == MemoryPolicyFlagType::MpolFRelativeNodes);
    if let (Some(online), false) = (read_list(ONLINE_NODES), relative) {
        first(
            offline_issue("linux.memoryPolicy.nodes", "node", &nodes, &online)
                .into_iter()
                .collect(),
        )?;
    }
    let mode = m
        .flags()
        .iter()
        .flatten()
        .fold(mode_value(m.mode()), |acc, f| acc | mode_flag_value(*f));
    let (mask, maxnode) = nodemask(&nodes);
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // Neither rustix nor nix wraps set_mempolicy(2) (it is libnuma's, not
    // glibc's).
    // SAFETY: mask holds maxnode - 1 bits (or is null with an empty list);
    // the call changes only the calling thread's policy.
    if unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            ptr,
            if mask.is_empty() { 0 } else { maxnode },
        )
    } == -1
    {
        let e = io::Error::last_os_error();
        let hint = match e.raw_os_error() {
            // Without CONFIG_NUMA every process has the default policy.
            Some(libc::ENOSYS) if m.mode() == MemoryPolicyModeType::MpolDefault => return Ok(()),
            Some(libc::ENOSYS) => " (this kernel has no NUMA support)",
            Some(libc::EINVAL) => " (a mode or flag this kernel does not know, or none of the nodes has memory and is in this process's cpuset.mems)",
            _ => "",
        };
        let nodes = m
            .nodes()
            .as_deref()
            .map(|n| format!(" nodes {n}"))
            .unwrap_or_default();
        return Err(Error::sys(
            format!("linux.memoryPolicy ({}{nodes}){hint}", m.mode()),
            e,
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Together
// ---------------------------------------------------------------------------

/// linux.personality, linux.memoryPolicy, process.ioPriority and
/// process.scheduler, for the init and for exec. Must run before the
/// capabilities are dropped (the realtime classes and a lower nice value
/// need CAP_SYS_NICE) and before the seccomp filter is loaded (profiles
/// need not allow the runtime's own syscalls). The scheduler goes last:
/// SCHED_IDLE or a deadline budget would slow the rest of the setup.
pub(crate) fn apply(spec: &Spec, proc: &Process) -> Result<()> {
    if let Some(l) = spec.linux() {
        if let Some(p) = l.personality() {
            set_personality(p)?;
        }
        if let Some(m) = l.memory_policy() {
            set_memory_policy(m)?;
        }
    }
    if let Some(p) = proc.io_priority() {
        set_io_priority(p)?;
    }
    if let Some(s) = proc.scheduler() {
        set_scheduler(s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(process_extra: serde_json::Value, linux_extra: serde_json::Value) -> Spec {
        let mut v = serde_json::json!({
            "ociVersion": "1.2.0", "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {}
        });
        for (k, x) in process_extra.as_object().into_iter().flatten() {
            v["process"][k] = x.clone();
        }
        for (k, x) in linux_extra.as_object().into_iter().flatten() {
            v["linux"][k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn two_cpus_one_node() -> Host {
        Host {
            online_cpus: Some(vec![0, 1]),
            online_nodes: Some(vec![0]),
        }
    }

    fn issues_of(process_extra: serde_json::Value, linux_extra: serde_json::Value) -> Vec<String> {
        validate_on(&spec_with(process_extra, linux_extra), &two_cpus_one_node())
            .iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[track_caller]
    fn assert_has(got: &[String], want: &str) {
        assert!(
            got.iter().any(|g| g.contains(want)),
            "missing {want:?} in {got:#?}"
        );
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_cpu_list("7,0-1,1").unwrap(), vec![0, 1, 7]);
        assert_eq!(parse_cpu_list("5").unwrap(), vec![5]);
        assert_eq!(parse_cpu_list("2-2").unwrap(), vec![2]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        for bad in [
            "3-1",
            "a",
            "0,",
            ",0",
            "0--1",
            "-1",
            "1-",
            "+1",
            " 1",
            "1 ",
            "0-3,x",
            "0-99999999999999999999",
            "0-70000",
        ] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_cpu_list("3-1").unwrap_err().contains("backwards"));
        assert_eq!(fmt_list(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
    }

    #[test]
    fn nothing_set_is_no_issue() {
        assert!(issues_of(serde_json::json!({}), serde_json::json!({})).is_empty());
        let ok = issues_of(
            serde_json::json!({
                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 7},
                "scheduler": {"policy": "SCHED_FIFO", "priority": 99},
                "execCPUAffinity": {"initial": "0", "final": "0-1"}
            }),
            serde_json::json!({"personality": {"domain": "LINUX32", "flags": []}, "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}}),
        );
        assert!(ok.is_empty(), "{ok:#?}");
    }

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
    fn io_priority_range() {
        for bad in [-1, 8] {
            let got = issues_of(
                serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": bad}}),
                serde_json::json!({}),
            );
            assert_has(
                &got,
                &format!("process.ioPriority.priority: {bad} is out of range (0 to 7)"),
            );
        }
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#).unwrap();
        assert_eq!(io_priority_value(&p).unwrap(), 2 << 13 | 6);
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#).unwrap();
        assert_eq!(io_priority_value(&p).unwrap(), 1 << 13);
        let p: LinuxIOPriority =
            serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":9}"#).unwrap();
        assert!(set_io_priority(&p)
            .unwrap_err()
            .to_string()
            .contains("process.ioPriority.priority: 9"));
    }

    #[test]
    fn scheduler_rules() {
        let sched = |s: serde_json::Value| {
            issues_of(serde_json::json!({"scheduler": s}), serde_json::json!({}))
        };
        assert_has(
            &sched(serde_json::json!({"policy": "SCHED_OTHER", "nice": 20})),
            "process.scheduler.nice: 20 is out of range (-20 to 19)",
        );
        assert_has(
            &sched(serde_json::json!({"policy": "SCHED_BATCH", "nice": -21})),
            "process.scheduler.nice: -21",
        );
        assert_has(&sched(serde_json::json!({"policy": "SCHED_OTHER", "priority": 5})), "process.scheduler.priority: 5: only SCHED_FIFO and SCHED_RR take a priority, not SCHED_OTHER");
        assert!(
            sched(serde_json::json!({"policy": "SCHED_OTHER", "priority": 0})).is_empty(),
            "0 is no priority, as runc has it"
        );
        assert_has(
            &sched(serde_json::json!({"policy": "SCHED_FIFO"})),
            "process.scheduler.priority: SCHED_FIFO needs a priority from 1 to 99",
        );
        assert_has(
            &sched(serde_json::json!({"policy": "SCHED_RR", "priority": 100})),
            "process.scheduler.priority: SCHED_RR needs a priority from 1 to 99, not 100",
        );
        assert_has(
            &sched(serde_json::json!({"policy": "SCHED_ISO"})),
            "process.scheduler.policy: SCHED_ISO is not implemented by Linux",
        );
        let got = sched(
            serde_json::json!({"policy": "SCHED_IDLE", "runtime": 1, "deadline": 2, "period": 3}),
        );
        for f in ["runtime", "deadline", "period"] {
            assert_has(&got, &format!("process.scheduler.{f}: "));
            assert_has(
                &got,
                &format!("only SCHED_DEADLINE takes a {f}, not SCHED_IDLE"),
            );
        }
        assert!(sched(serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10000000, "deadline": 30000000, "period": 30000000})).is_empty());
        assert!(sched(serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10000000, "deadline": 30000000})).is_empty());
        let got = sched(serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 100}));
        assert_has(
            &got,
            "process.scheduler.runtime: SCHED_DEADLINE needs a runtime of at least 1024 ns",
        );
        assert_has(
            &got,
            "process.scheduler.deadline: SCHED_DEADLINE needs a deadline",
        );
        let got = sched(
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 4000, "period": 3000}),
        );
        assert_has(
            &got,
            "process.scheduler.runtime: 5000 exceeds the deadline 4000",
        );
        assert_has(
            &got,
            "process.scheduler.period: 3000 is shorter than the deadline 4000",
        );
    }

    #[test]
    fn sched_attr_layout_and_values() {
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_BATCH","nice":5}"#).unwrap();
        let a = sched_attr(&s).unwrap();
        assert_eq!(
            a,
            SchedAttr {
                size: 56,
                sched_policy: libc::SCHED_BATCH as u32,
                sched_nice: 5,
                ..SchedAttr::default()
            }
        );
        let s = oci_spec::runtime::SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedDeadline)
            .runtime(10_000_000u64)
            .deadline(30_000_000u64)
            .period(40_000_000u64)
            .flags(vec![
                LinuxSchedulerFlag::SchedResetOnFork,
                LinuxSchedulerFlag::SchedFlagReclaim,
                LinuxSchedulerFlag::SchedFlagDLOverrun,
                LinuxSchedulerFlag::SchedFlagUtilClampMax,
            ])
            .build()
            .unwrap();
        let a = sched_attr(&s).unwrap();
        assert_eq!(
            (a.sched_policy, a.sched_flags),
            (6, 0x01 | 0x02 | 0x04 | 0x40)
        );
        assert_eq!(
            (a.sched_runtime, a.sched_deadline, a.sched_period),
            (10_000_000, 30_000_000, 40_000_000)
        );
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_FIFO","priority":0}"#).unwrap();
        assert!(set_scheduler(&s)
            .unwrap_err()
            .to_string()
            .contains("process.scheduler.priority"));
    }

    #[test]
    fn exec_cpu_affinity_checks() {
        let aff = |a: serde_json::Value| {
            issues_of(
                serde_json::json!({"execCPUAffinity": a}),
                serde_json::json!({}),
            )
        };
        assert_has(
            &aff(serde_json::json!({"initial": "0-3"})),
            "process.execCPUAffinity.initial: CPU 2,3 not online (online: 0-1)",
        );
        assert_has(
            &aff(serde_json::json!({"final": "5"})),
            "process.execCPUAffinity.final: CPU 5 not online (online: 0-1)",
        );
        assert_has(
            &aff(serde_json::json!({"final": "2000"})),
            "process.execCPUAffinity.final: CPU 2000 is beyond the 1024 CPUs",
        );
        assert_has(
            &aff(serde_json::json!({"final": "3-1"})),
            "process.execCPUAffinity.final: \"3-1\": range 3-1 runs backwards",
        );
        // Unknown online set: only the format is checked.
        let spec = spec_with(
            serde_json::json!({"execCPUAffinity": {"final": "0-63"}}),
            serde_json::json!({}),
        );
        assert!(validate_on(
            &spec,
            &Host {
                online_cpus: None,
                online_nodes: None
            }
        )
        .is_empty());
        assert!(set_cpu_affinity("1-0")
            .unwrap_err()
            .to_string()
            .contains("process.execCPUAffinity"));
    }

    #[test]
    fn memory_policy_rules() {
        let mp = |m: serde_json::Value| {
            issues_of(
                serde_json::json!({}),
                serde_json::json!({"memoryPolicy": m}),
            )
        };
        assert!(mp(serde_json::json!({"mode": "MPOL_DEFAULT"})).is_empty());
        assert!(mp(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": ""})).is_empty());
        assert!(
            mp(serde_json::json!({"mode": "MPOL_PREFERRED"})).is_empty(),
            "the kernel's local allocation"
        );
        assert!(mp(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_NUMA_BALANCING"]})).is_empty());
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"})),
            "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes",
        );
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"})),
            "linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes",
        );
        for mode in [
            "MPOL_BIND",
            "MPOL_INTERLEAVE",
            "MPOL_WEIGHTED_INTERLEAVE",
            "MPOL_PREFERRED_MANY",
        ] {
            assert_has(
                &mp(serde_json::json!({"mode": mode})),
                &format!("linux.memoryPolicy.nodes: {mode} needs at least one node"),
            );
        }
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-"})),
            "linux.memoryPolicy.nodes: \"0-\"",
        );
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0,3"})),
            "linux.memoryPolicy.nodes: node 3 not online (online: 0)",
        );
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_BIND", "nodes": "5000"})),
            "linux.memoryPolicy.nodes: node 5000 is beyond",
        );
        // Relative node numbers are indexes into the allowed set.
        assert!(mp(serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-3", "flags": ["MPOL_F_RELATIVE_NODES"]})).is_empty());
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_STATIC_NODES"]})),
            "linux.memoryPolicy.flags: MPOL_DEFAULT takes no flags",
        );
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_LOCAL", "flags": ["MPOL_F_RELATIVE_NODES"]})),
            "need a node list",
        );
        assert_has(
            &mp(serde_json::json!({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]})),
            "need a node list",
        );
        assert_has(
            &mp(
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            ),
            "exclude each other",
        );
        assert_has(&mp(serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]})), "linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING only works with MPOL_BIND (or, on recent kernels, MPOL_PREFERRED_MANY), not MPOL_INTERLEAVE");
    }

    #[test]
    fn nodemask_layout() {
        assert_eq!(nodemask(&[]), (vec![], 1));
        assert_eq!(nodemask(&[0]), (vec![1], 65));
        assert_eq!(nodemask(&[1, 64]), (vec![2, 1], 129));
    }

    // -----------------------------------------------------------------
    // The setters for real, each in a forked child so the test process
    // keeps its own attributes. The child reports through a pipe and its
    // exit code.
    // -----------------------------------------------------------------

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// Runs `f` in a forked child; Err carries the child's message.
    fn in_child(
        f: impl FnOnce() -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        let (rd, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
        // SAFETY: the child only makes syscalls, allocates (glibc's fork
        // leaves malloc usable) and leaves with _exit; it never touches
        // locks other test threads may hold (no stdout).
        match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
            nix::unistd::ForkResult::Child => {
                drop(rd);
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                    .unwrap_or_else(|_| Err("panicked".into()));
                let code = match r {
                    Ok(()) => 0,
                    Err(msg) => {
                        let _ = rustix::io::write(&wr, msg.as_bytes());
                        1
                    }
                };
                // SAFETY: leaves without running the parent's atexit state.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(wr);
                let mut msg = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = rustix::io::read(&rd, &mut buf) {
                    msg.extend_from_slice(&buf[..n]);
                }
                let st = nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
                match st {
                    nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                    other => Err(format!("{other:?}: {}", String::from_utf8_lossy(&msg))),
                }
            }
        }
    }

    fn expect<T: std::fmt::Debug + PartialEq>(
        what: &str,
        got: T,
        want: T,
    ) -> std::result::Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: got {got:?}, want {want:?}"))
        }
    }

    fn last_errno() -> String {
        io::Error::last_os_error().to_string()
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

    fn ioprio_get() -> std::result::Result<i64, String> {
        // SAFETY: integer arguments only.
        let r = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
        if r == -1 {
            Err(format!("ioprio_get: {}", last_errno()))
        } else {
            Ok(r)
        }
    }

    #[test]
    fn io_priority_is_set() {
        let mut cases = vec![
            (r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#, 2 << 13 | 6),
            (r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#, 3 << 13),
        ];
        if is_root() {
            cases.push((r#"{"class":"IOPRIO_CLASS_RT","priority":3}"#, 1 << 13 | 3));
        } else {
            eprintln!("note: IOPRIO_CLASS_RT not tried: needs root");
        }
        for (json, want) in cases {
            in_child(|| {
                let p: LinuxIOPriority = serde_json::from_str(json).unwrap();
                set_io_priority(&p).map_err(|e| e.to_string())?;
                expect(json, ioprio_get()?, want)
            })
            .unwrap();
        }
    }

    fn sched_getattr() -> std::result::Result<SchedAttr, String> {
        let mut a = SchedAttr::default();
        // SAFETY: a is a writable sched_attr of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut a as *mut SchedAttr,
                SCHED_ATTR_SIZE,
                0,
            )
        };
        if r == -1 {
            Err(format!("sched_getattr: {}", last_errno()))
        } else {
            Ok(a)
        }
    }

    /// sched_getscheduler reports SCHED_RESET_ON_FORK in the policy.
    const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

    #[test]
    fn scheduler_is_set() {
        in_child(|| {
            let s: Scheduler =
                serde_json::from_str(r#"{"policy":"SCHED_BATCH","nice":5}"#).unwrap();
            set_scheduler(&s).map_err(|e| e.to_string())?;
            // SAFETY: queries only.
            expect(
                "sched_getscheduler",
                unsafe { libc::sched_getscheduler(0) },
                libc::SCHED_BATCH,
            )?;
            let a = sched_getattr()?;
            expect("nice", a.sched_nice, 5)
        })
        .unwrap();
        in_child(|| {
            let s = oci_spec::runtime::SchedulerBuilder::default()
                .policy(LinuxSchedulerPolicy::SchedIdle)
                .flags(vec![LinuxSchedulerFlag::SchedResetOnFork])
                .build()
                .unwrap();
            set_scheduler(&s).map_err(|e| e.to_string())?;
            // SAFETY: query only.
            expect(
                "sched_getscheduler",
                unsafe { libc::sched_getscheduler(0) },
                libc::SCHED_IDLE | SCHED_RESET_ON_FORK,
            )
        })
        .unwrap();
        if !is_root() {
            eprintln!("note: SCHED_FIFO and SCHED_DEADLINE not tried: need root");
            return;
        }
        // Realtime and deadline policies can be refused by the host's
        // configuration (rt group scheduling, deadline admission): such a
        // refusal must still name the field.
        let rt = in_child(|| {
            let s: Scheduler =
                serde_json::from_str(r#"{"policy":"SCHED_FIFO","priority":1}"#).unwrap();
            set_scheduler(&s).map_err(|e| e.to_string())?;
            // SAFETY: query only.
            expect(
                "sched_getscheduler",
                unsafe { libc::sched_getscheduler(0) },
                libc::SCHED_FIFO,
            )?;
            expect("priority", sched_getattr()?.sched_priority, 1)
        });
        match rt {
            Ok(()) => {}
            Err(e)
                if e.contains("process.scheduler (SCHED_FIFO priority 1)")
                    && e.contains("Operation not permitted") =>
            {
                eprintln!("note: SCHED_FIFO refused by this host: {e}")
            }
            Err(e) => panic!("{e}"),
        }
        let dl = in_child(|| {
            let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":10000000,"period":10000000}"#).unwrap();
            set_scheduler(&s).map_err(|e| e.to_string())?;
            let a = sched_getattr()?;
            expect(
                "deadline attrs",
                (
                    a.sched_policy,
                    a.sched_runtime,
                    a.sched_deadline,
                    a.sched_period,
                ),
                (6, 1_000_000, 10_000_000, 10_000_000),
            )
        });
        match dl {
            Ok(()) => {}
            Err(e)
                if e.contains("process.scheduler (SCHED_DEADLINE)")
                    && (e.contains("not permitted") || e.contains("busy")) =>
            {
                eprintln!("note: SCHED_DEADLINE refused by this host: {e}")
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn cpu_affinity_is_set() {
        let online = read_list(ONLINE_CPUS).unwrap_or_default();
        let allowed: Vec<usize> = match rustix::thread::sched_getaffinity(None) {
            Ok(set) => (0..CpuSet::MAX_CPU).filter(|i| set.is_set(*i)).collect(),
            Err(e) => panic!("sched_getaffinity: {e}"),
        };
        for cpu in allowed.iter().take(2) {
            in_child(|| {
                set_cpu_affinity(&cpu.to_string()).map_err(|e| e.to_string())?;
                let set = rustix::thread::sched_getaffinity(None).map_err(|e| e.to_string())?;
                expect(
                    "affinity",
                    (0..CpuSet::MAX_CPU)
                        .filter(|i| set.is_set(*i))
                        .collect::<Vec<_>>(),
                    vec![*cpu],
                )
            })
            .unwrap();
        }
        // A CPU that is not online is refused, naming the field.
        if let Some(off) = (0..CpuSet::MAX_CPU).find(|c| !online.is_empty() && !online.contains(c))
        {
            let e = in_child(|| set_cpu_affinity(&off.to_string()).map_err(|e| e.to_string()))
                .unwrap_err();
            assert!(
                e.contains(&format!("process.execCPUAffinity: CPU {off} not online")),
                "{e}"
            );
        }
        let p: Process = serde_json::from_value(serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"final": allowed[0].to_string()}})).unwrap();
        in_child(|| {
            set_exec_cpu_affinity_initial(&p).map_err(|e| e.to_string())?;
            set_exec_cpu_affinity_final(&p).map_err(|e| e.to_string())?;
            let set = rustix::thread::sched_getaffinity(None).map_err(|e| e.to_string())?;
            expect("final affinity", set.count(), 1)
        })
        .unwrap();
    }

    fn get_mempolicy() -> std::result::Result<(libc::c_int, Vec<usize>), String> {
        let mut mode: libc::c_int = 0;
        let mut mask = [0 as libc::c_ulong; MAX_NODES / libc::c_ulong::BITS as usize];
        let maxnode = (MAX_NODES + 1) as libc::c_ulong;
        // SAFETY: mode and mask are writable and mask holds maxnode - 1 bits;
        // addr 0 with flags 0 asks for the thread's policy.
        let r = unsafe {
            libc::syscall(
                libc::SYS_get_mempolicy,
                &mut mode as *mut libc::c_int,
                mask.as_mut_ptr(),
                maxnode,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if r == -1 {
            return Err(format!("get_mempolicy: {}", last_errno()));
        }
        let bits = libc::c_ulong::BITS as usize;
        Ok((
            mode,
            (0..MAX_NODES)
                .filter(|n| mask[n / bits] & (1 << (n % bits)) != 0)
                .collect(),
        ))
    }

    #[test]
    fn memory_policy_is_set() {
        if !std::path::Path::new(ONLINE_NODES).exists() {
            eprintln!("note: skipping: this kernel has no NUMA support");
            return;
        }
        let cases = [
            (
                r#"{"mode":"MPOL_BIND","nodes":"0"}"#,
                libc::MPOL_BIND,
                vec![0],
            ),
            (
                r#"{"mode":"MPOL_PREFERRED","nodes":"0"}"#,
                libc::MPOL_PREFERRED,
                vec![0],
            ),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0"}"#,
                libc::MPOL_INTERLEAVE,
                vec![0],
            ),
            (
                r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#,
                libc::MPOL_BIND | libc::MPOL_F_STATIC_NODES,
                vec![0],
            ),
            (r#"{"mode":"MPOL_LOCAL"}"#, libc::MPOL_LOCAL, vec![]),
            (r#"{"mode":"MPOL_DEFAULT"}"#, libc::MPOL_DEFAULT, vec![]),
        ];
        for (json, mode, nodes) in cases {
            in_child(|| {
                let m: LinuxMemoryPolicy = serde_json::from_str(json).unwrap();
                set_memory_policy(&m).map_err(|e| e.to_string())?;
                expect(json, get_mempolicy()?, (mode, nodes))
            })
            .unwrap();
        }
        // A node that is not online is refused, naming the field.
        let online = read_list(ONLINE_NODES).unwrap_or_default();
        if let Some(off) = (0..64).find(|n| !online.contains(n)) {
            let e = in_child(|| {
                let m: LinuxMemoryPolicy = serde_json::from_value(
                    serde_json::json!({"mode": "MPOL_BIND", "nodes": off.to_string()}),
                )
                .unwrap();
                set_memory_policy(&m).map_err(|e| e.to_string())
            })
            .unwrap_err();
            assert!(
                e.contains(&format!("linux.memoryPolicy.nodes: node {off} not online")),
                "{e}"
            );
        }
    }

    #[test]
    fn apply_sets_everything() {
        let spec = spec_with(
            serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3}, "scheduler": {"policy": "SCHED_BATCH"}}),
            serde_json::json!({"personality": {"domain": "LINUX32"}}),
        );
        in_child(|| {
            let proc = spec.process().as_ref().ok_or("no process")?;
            apply(&spec, proc).map_err(|e| e.to_string())?;
            // SAFETY: queries only.
            expect(
                "personality",
                unsafe { libc::personality(0xffff_ffff) },
                PER_LINUX32 as i32,
            )?;
            expect("ioprio", ioprio_get()?, 2 << 13 | 3)?;
            // SAFETY: query only.
            expect(
                "policy",
                unsafe { libc::sched_getscheduler(0) },
                libc::SCHED_BATCH,
            )
        })
        .unwrap();
    }
}
