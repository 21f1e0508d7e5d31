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
//!
//! One file per attribute, each with its checks and its setter;
//! `shared.rs` holds the CPU and node lists and the issue helpers they
//! share, and this file the whole: `validate` and `apply`.

mod cpu_affinity;
mod io_priority;
mod memory_policy;
mod personality;
mod scheduler;
mod shared;
#[cfg(test)]
mod test_support;

use oci_spec::runtime::{MemoryPolicyFlagType, Process, Spec};

use crate::{error::Result, spec::error::FieldIssue};
use cpu_affinity::cpu_ids;
use io_priority::io_priority_issues;
use memory_policy::memory_policy_issues;
use personality::personality_issues;
use scheduler::scheduler_issues;
use shared::{offline_issue, parse_cpu_list, read_list, ONLINE_CPUS, ONLINE_NODES};

pub(crate) use cpu_affinity::{set_exec_cpu_affinity_final, set_exec_cpu_affinity_initial};
pub(crate) use io_priority::set_io_priority;
pub(crate) use memory_policy::set_memory_policy;
pub(crate) use personality::set_personality;
pub(crate) use scheduler::set_scheduler;

/// What this host has online, for the checks that depend on it. None:
/// unknown (the file is unreadable), and the check is left to the kernel.
struct Host {
    online_cpus: Option<Vec<usize>>,
    online_nodes: Option<Vec<usize>>,
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
    use crate::attrs::test_support::*;
    use personality::PER_LINUX32;

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
