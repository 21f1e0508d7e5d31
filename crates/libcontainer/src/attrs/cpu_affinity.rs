//! process.execCPUAffinity: the CPUs the runtime's process runs on
//! before and after it joins the container's cgroup.

use oci_spec::runtime::Process;
use rustix::thread::CpuSet;

use super::shared::{first, issue, offline_issue, parse_cpu_list, read_list, ONLINE_CPUS};
use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

pub(super) fn cpu_ids(field: &str, cpus: &str) -> std::result::Result<Vec<usize>, FieldIssue> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::test_support::*;
    use crate::attrs::{validate_on, Host};

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
}
