//! Runtime-spec 1.2 process attributes, checked from inside the container
//! through the kernel's own reports: linux.personality
//! (/proc/self/personality), process.ioPriority (busybox ionice),
//! process.scheduler (/proc/self/stat), process.execCPUAffinity
//! (Cpus_allowed_list) and linux.memoryPolicy (/proc/self/numa_maps).
//! Bad values must fail `create` with the JSON path of the field.

use std::path::Path;

use hull_integration::*;
use serde_json::json;

/// runc differs: runc 1.1 predates these fields and silently ignores them.
fn runc_ignores_these() -> bool {
    if is_runc() {
        eprintln!("note: runc 1.1 ignores runtime-spec 1.2 process attributes; test skipped");
    }
    is_runc()
}

/// Runs `args` in a container built from `b` and returns its stdout.
#[track_caller]
fn run_stdout(rt: &Runtime, b: &mut Bundle, args: &[&str]) -> String {
    b.args(args);
    let o = rt.run(b);
    o.ok();
    o.stdout
}

/// `create` must fail and name `field`.
#[track_caller]
fn refused(rt: &Runtime, b: &Bundle, field: &str) {
    let o = rt.create(b);
    o.failed();
    assert!(o.stderr.contains(field), "error does not name {field}: {o}");
}

/// A running container whose init sleeps.
fn running(rt: &Runtime, b: &mut Bundle) -> i32 {
    b.args(&["hull-probe", "sleep", "120"]);
    rt.create(b).ok();
    rt.start(&b.id).ok();
    rt.state_ok(&b.id)["pid"].as_i64().unwrap() as i32
}

#[track_caller]
fn exec_stdout(rt: &Runtime, id: &str, extra: &[&str], args: &[&str]) -> String {
    let mut a = vec!["exec"];
    a.extend_from_slice(extra);
    a.push(id);
    a.extend_from_slice(args);
    let o = rt.exec(&a);
    o.ok();
    o.stdout
}

// ---------------------------------------------------------------------------
// linux.personality
// ---------------------------------------------------------------------------

#[test]
fn personality_linux32_for_init_and_exec() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_pers");
    let mut b = rt.bundle();
    b.linux()["personality"] = json!({"domain": "LINUX32"});
    let out = run_stdout(
        &rt,
        &mut b,
        &["hull-probe", "cat", "/proc/self/personality"],
    );
    assert_eq!(out.trim(), "00000008", "PER_LINUX32 expected");

    // exec'd processes run in the same execution domain
    let mut b = rt.bundle();
    b.linux()["personality"] = json!({"domain": "LINUX32"});
    running(&rt, &mut b);
    let out = exec_stdout(
        &rt,
        &b.id,
        &[],
        &["hull-probe", "cat", "/proc/self/personality"],
    );
    assert_eq!(out.trim(), "00000008", "exec: PER_LINUX32 expected");

    let mut b = rt.bundle();
    b.linux()["personality"] = json!({"domain": "LINUX"});
    let out = run_stdout(
        &rt,
        &mut b,
        &["hull-probe", "cat", "/proc/self/personality"],
    );
    assert_eq!(out.trim(), "00000000");
}

#[test]
fn personality_flags_are_refused() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_pers_flags");
    let mut b = rt.bundle();
    b.linux()["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]});
    refused(&rt, &b, "linux.personality.flags");
}

// ---------------------------------------------------------------------------
// process.ioPriority
// ---------------------------------------------------------------------------

#[test]
fn io_priority_classes() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_ioprio");
    // busybox ionice without arguments prints its own "<class>: prio <n>"
    // ("idle" alone). The realtime class needs CAP_SYS_ADMIN or
    // CAP_SYS_NICE, which the runtime has before it drops the container's
    // capabilities.
    for (class, prio, want) in [
        ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
        ("IOPRIO_CLASS_IDLE", 0, "idle"),
        ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
    ] {
        let mut b = rt.bundle();
        b.process()["ioPriority"] = json!({"class": class, "priority": prio});
        let out = run_stdout(&rt, &mut b, &["ionice"]);
        assert_eq!(out.trim(), want, "{class}");
    }
    // exec'd processes get the configured priority too
    let mut b = rt.bundle();
    b.process()["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 1});
    running(&rt, &mut b);
    assert_eq!(
        exec_stdout(&rt, &b.id, &[], &["ionice"]).trim(),
        "best-effort: prio 1"
    );
}

#[test]
fn io_priority_out_of_range_is_refused() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_ioprio_bad");
    let mut b = rt.bundle();
    b.process()["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8});
    refused(&rt, &b, "process.ioPriority.priority");
}

// ---------------------------------------------------------------------------
// process.scheduler
// ---------------------------------------------------------------------------

/// (policy, nice, rt_priority) from /proc/self/stat fields 41, 19 and 40.
fn sched_of(stat: &str) -> (i64, i64, i64) {
    // The comm field may hold spaces; the fields after it don't.
    let rest = &stat[stat.rfind(')').expect("stat has a comm") + 1..];
    let f: Vec<i64> = rest
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(-1))
        .collect();
    // f[0] is field 4 (ppid): field N is f[N - 4].
    (f[41 - 4], f[19 - 4], f[40 - 4])
}

/// This test process's nice value: a realtime policy leaves the nice value
/// the container inherits from the runtime (and so from whoever ran the
/// tests, `nice cargo test` included) as it is.
fn own_nice() -> i64 {
    sched_of(&std::fs::read_to_string("/proc/self/stat").unwrap()).1
}

#[test]
fn scheduler_batch_idle_and_nice() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_sched");
    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    let out = run_stdout(&rt, &mut b, &["hull-probe", "cat", "/proc/self/stat"]);
    assert_eq!(sched_of(&out), (3, 7, 0), "SCHED_BATCH nice 7: {out}");

    // A lower nice value needs CAP_SYS_NICE, which the container lacks:
    // the runtime sets it before dropping capabilities.
    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": -5});
    let out = run_stdout(&rt, &mut b, &["hull-probe", "cat", "/proc/self/stat"]);
    assert_eq!(sched_of(&out), (0, -5, 0), "SCHED_OTHER nice -5: {out}");

    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_IDLE"});
    let out = run_stdout(&rt, &mut b, &["hull-probe", "cat", "/proc/self/stat"]);
    assert_eq!(sched_of(&out).0, 5, "SCHED_IDLE: {out}");

    // and for exec'd processes
    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3});
    running(&rt, &mut b);
    let out = exec_stdout(&rt, &b.id, &[], &["hull-probe", "cat", "/proc/self/stat"]);
    assert_eq!(sched_of(&out), (3, 3, 0), "exec: {out}");
}

/// With realtime group scheduling (a cpu.rt_runtime_us file) a new cgroup
/// gets no realtime budget, and the kernel refuses SCHED_FIFO in it: the
/// runtime must then fail naming the field rather than run the container
/// under another policy. With a budget (the test's parent cgroup first,
/// then linux.resources.cpu.realtimeRuntime) it must work.
#[test]
fn scheduler_fifo() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt_hierarchy = cgroup_hierarchies()
        .into_iter()
        .find(|h| h.join("cpu.rt_runtime_us").exists());
    let rt = Runtime::new("attrs_fifo");
    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10});
    b.args(&["hull-probe", "cat", "/proc/self/stat"]);
    let Some(h) = rt_hierarchy else {
        let o = rt.run(&b);
        o.ok();
        assert_eq!(
            sched_of(&o.stdout),
            (1, own_nice(), 10),
            "SCHED_FIFO 10: {o}"
        );
        return;
    };
    let o = rt.run(&b);
    o.failed();
    assert!(
        o.stderr.contains("process.scheduler") && o.stderr.contains("Operation not permitted"),
        "no realtime budget: {o}"
    );

    // A child's budget cannot exceed its parent's: give one to this test
    // process's /hull-test-<pid>. The runtime removes that parent when a
    // container that created it goes and it is empty, which would take the
    // budget with it; a cgroup of our own below it keeps it in place.
    let parent = h.join(cgroup_parent().trim_start_matches('/'));
    let _hold = HoldCgroup::new(parent.join(format!("attrs-fifo-hold-{}", std::process::id())));
    if let Err(e) = std::fs::write(parent.join("cpu.rt_runtime_us"), "20000") {
        eprintln!(
            "note: SCHED_FIFO with a budget not tried: {}: {e}",
            parent.display()
        );
        return;
    }
    let mut b = rt.bundle();
    b.process()["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10});
    b.linux()["resources"]["cpu"] = json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000});
    b.args(&["hull-probe", "cat", "/proc/self/stat"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(
        sched_of(&o.stdout),
        (1, own_nice(), 10),
        "SCHED_FIFO 10 with a realtime budget: {o}"
    );
}

/// An empty cgroup we make and remove (before the harness removes the
/// parent: declare it after the `Runtime`).
struct HoldCgroup(std::path::PathBuf);

impl HoldCgroup {
    fn new(p: std::path::PathBuf) -> Self {
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
        HoldCgroup(p)
    }
}

impl Drop for HoldCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn scheduler_bad_values_are_refused() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_sched_bad");
    for (sched, field) in [
        (
            json!({"policy": "SCHED_OTHER", "nice": 20}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_OTHER", "priority": 5}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_FIFO"}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_BATCH", "runtime": 1000000}),
            "process.scheduler.runtime",
        ),
        (json!({"policy": "SCHED_ISO"}), "process.scheduler.policy"),
    ] {
        let mut b = rt.bundle();
        b.process()["scheduler"] = sched;
        refused(&rt, &b, field);
    }
}

// ---------------------------------------------------------------------------
// process.execCPUAffinity
// ---------------------------------------------------------------------------

fn cpus_allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no Cpus_allowed_list in {status}"))
}

fn parse_list(s: &str) -> Vec<usize> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => v.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => v.push(part.parse().unwrap()),
        }
    }
    v
}

/// The spec: "not applicable to the container's init process". `final` is
/// the affinity of every exec'd process; a `--process` file brings its own.
#[test]
fn exec_cpu_affinity_applies_to_exec_only() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let mine = cpus_allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let cpus = parse_list(&mine);
    if cpus.len() < 2 {
        eprintln!("note: skipping: needs two CPUs, this process may use {mine}");
        return;
    }
    let (first, last) = (cpus[0].to_string(), cpus[cpus.len() - 1].to_string());
    let rt = Runtime::new("attrs_affinity");
    let mut b = rt.bundle();
    b.process()["execCPUAffinity"] = json!({"initial": first, "final": last});
    let pid = running(&rt, &mut b);
    let init = cpus_allowed(&std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap());
    assert_eq!(init, mine, "the init keeps the runtime's affinity");

    let out = exec_stdout(&rt, &b.id, &[], &["hull-probe", "cat", "/proc/self/status"]);
    assert_eq!(cpus_allowed(&out), last, "exec: execCPUAffinity.final");

    let process = json!({
        "args": ["hull-probe", "cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/bin:/usr/bin"], "execCPUAffinity": {"final": first}
    });
    let pfile = b.dir.join("process.json");
    std::fs::write(&pfile, process.to_string()).unwrap();
    let out = exec_stdout(&rt, &b.id, &["--process", &pfile.to_string_lossy()], &[]);
    assert_eq!(
        cpus_allowed(&out),
        first,
        "exec --process: its own execCPUAffinity.final"
    );
}

#[test]
fn exec_cpu_affinity_offline_cpu_is_refused() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let online = parse_list(&std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap());
    let Some(off) = (0..1024usize).find(|c| !online.contains(c)) else {
        eprintln!("note: skipping: every addressable CPU is online");
        return;
    };
    let rt = Runtime::new("attrs_affinity_bad");
    let mut b = rt.bundle();
    b.process()["execCPUAffinity"] = json!({"final": off.to_string()});
    refused(&rt, &b, "process.execCPUAffinity.final");
}

// ---------------------------------------------------------------------------
// linux.memoryPolicy
// ---------------------------------------------------------------------------

/// The policy column of every numa_maps line (a mapping without a policy of
/// its own shows the task's).
fn numa_policies(maps: &str) -> Vec<String> {
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect()
}

fn has_numa() -> bool {
    let yes = Path::new("/proc/self/numa_maps").exists()
        && Path::new("/sys/devices/system/node/node0").exists();
    if !yes {
        eprintln!("note: skipping: this kernel has no NUMA support");
    }
    yes
}

#[test]
fn memory_policy_modes() {
    require_root!();
    if runc_ignores_these() || !has_numa() {
        return;
    }
    let rt = Runtime::new("attrs_mempol");
    for (policy, want) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
    ] {
        let mut b = rt.bundle();
        b.linux()["memoryPolicy"] = policy.clone();
        let out = run_stdout(&rt, &mut b, &["hull-probe", "cat", "/proc/self/numa_maps"]);
        let got = numa_policies(&out);
        assert!(
            !got.is_empty() && got.iter().all(|p| p == want),
            "{policy}: want {want}, got {got:?}"
        );
    }
    // exec'd processes get the container's policy too
    let mut b = rt.bundle();
    b.linux()["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    running(&rt, &mut b);
    let got = numa_policies(&exec_stdout(
        &rt,
        &b.id,
        &[],
        &["hull-probe", "cat", "/proc/self/numa_maps"],
    ));
    assert!(
        !got.is_empty() && got.iter().all(|p| p == "bind:0"),
        "exec: {got:?}"
    );
}

#[test]
fn memory_policy_bad_values_are_refused() {
    require_root!();
    if runc_ignores_these() {
        return;
    }
    let rt = Runtime::new("attrs_mempol_bad");
    let mut cases = vec![
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "1-0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags",
        ),
    ];
    if let Ok(online) = std::fs::read_to_string("/sys/devices/system/node/online") {
        let online = parse_list(&online);
        if let Some(off) = (0..64usize).find(|n| !online.contains(n)) {
            cases.push((
                json!({"mode": "MPOL_BIND", "nodes": off.to_string()}),
                "linux.memoryPolicy.nodes",
            ));
        }
    }
    for (policy, field) in cases {
        let mut b = rt.bundle();
        b.linux()["memoryPolicy"] = policy;
        refused(&rt, &b, field);
    }
}
