//! linux.memoryPolicy: set_mempolicy(2), with the combinations the kernel
//! refuses found first.

use std::io;

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use super::shared::{first, issue, offline_issue, parse_cpu_list, read_list, ONLINE_NODES};
use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

/// The kernel reads at most a page of nodemask bits (get_nodes in
/// mm/mempolicy.c); 4096 bits fit any page size.
const MAX_NODES: usize = 4096;

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
pub(super) fn memory_policy_issues(m: &LinuxMemoryPolicy) -> Vec<FieldIssue> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::test_support::*;

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
}
