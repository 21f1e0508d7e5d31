//! process.scheduler: sched_setattr(2), with the kernel's bounds checked
//! first.

use std::io;

use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

use super::shared::{first, issue};
use crate::{
    error::{Error, Result},
    spec::error::FieldIssue,
};

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

pub(super) fn scheduler_issues(s: &Scheduler) -> Vec<FieldIssue> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::test_support::*;

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
}
