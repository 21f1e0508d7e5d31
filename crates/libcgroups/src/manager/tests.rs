//! Manager tests against plain directories standing in for cgroupfs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

use super::*;
use crate::path::parse_proc_cgroup;
use crate::setup::Hierarchy;

struct TempTree(PathBuf);

impl TempTree {
    fn new() -> TempTree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "libcgroups-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempTree(p)
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hier(root: &Path, name: &str) -> Hierarchy {
    let unified = name == "unified";
    let mp = root.join(name);
    std::fs::create_dir_all(mp.join("own")).unwrap();
    Hierarchy {
        controllers: if unified {
            vec![]
        } else {
            vec![name.to_string()]
        },
        unified,
        mountpoint: mp,
        root: "/".to_string(),
    }
}

fn view(root: &Path, setup: CgroupSetup, names: &[&str]) -> SystemView {
    SystemView {
        setup,
        hierarchies: names.iter().map(|n| hier(root, n)).collect(),
        own: parse_proc_cgroup("3:memory:/own\n2:cpu:/own\n1:pids:/own\n0::/own\n"),
    }
}

fn opts(p: &str) -> CgroupOptions<'_> {
    CgroupOptions {
        cgroups_path: Some(p),
        container_id: "ctr",
    }
}

fn put(dir: &Path, file: &str, val: &str) {
    std::fs::write(dir.join(file), val).unwrap();
}

fn get(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn absolute_create_records_and_destroy_removes_only_created() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Hybrid, &["memory", "cpu", "unified"]);
    // A pre-existing ancestor in one hierarchy must survive destroy.
    std::fs::create_dir_all(t.0.join("cpu/shared")).unwrap();

    let m = Manager::create_in(&v, &opts("/shared/c1"), false).unwrap();
    let h = m.handle();
    assert_eq!(h.path, "/shared/c1");
    assert_eq!(h.hierarchies.len(), 3);
    assert_eq!(h.hierarchies[0].dir, t.0.join("memory/shared/c1"));
    assert_eq!(
        h.hierarchies[0].created,
        vec![t.0.join("memory/shared"), t.0.join("memory/shared/c1")]
    );
    assert_eq!(h.hierarchies[1].created, vec![t.0.join("cpu/shared/c1")]);
    assert!(h.hierarchies[2].unified);
    assert_eq!(
        h.unified_dir(),
        Some(t.0.join("unified/shared/c1").as_path())
    );
    assert_eq!(h.dir_for("cpu"), Some(t.0.join("cpu/shared/c1").as_path()));

    // Joining the existing leaf records nothing as created.
    let joined = Manager::create_in(&v, &opts("/shared/c1"), false).unwrap();
    assert!(joined
        .handle()
        .hierarchies
        .iter()
        .all(|h| h.created.is_empty()));
    joined.destroy().unwrap();
    assert!(t.0.join("memory/shared/c1").is_dir());

    // A sub-cgroup made by the container goes with the leaf.
    std::fs::create_dir(t.0.join("memory/shared/c1/sub")).unwrap();
    m.destroy().unwrap();
    assert!(!t.0.join("memory/shared").exists());
    assert!(!t.0.join("unified/shared").exists());
    assert!(!t.0.join("cpu/shared/c1").exists());
    assert!(t.0.join("cpu/shared").is_dir());
    // Idempotent.
    m.destroy().unwrap();
}

#[test]
fn relative_paths_are_below_own_cgroup() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Legacy, &["memory", "pids"]);
    let m = Manager::create_in(
        &v,
        &CgroupOptions {
            cgroups_path: None,
            container_id: "ctr",
        },
        false,
    )
    .unwrap();
    assert_eq!(m.handle().path, "/own/ctr");
    assert_eq!(m.handle().hierarchies[0].dir, t.0.join("memory/own/ctr"));
    assert_eq!(
        m.handle().hierarchies[1].created,
        vec![t.0.join("pids/own/ctr")]
    );
    m.destroy().unwrap();
    assert!(t.0.join("memory/own").is_dir());
    assert!(!t.0.join("memory/own/ctr").exists());
}

#[test]
fn relative_path_with_mount_root_inside_cgroup_namespace() {
    let t = TempTree::new();
    let mut v = view(&t.0, CgroupSetup::Legacy, &["memory"]);
    // The mount exposes only /own, so own cgroup "/own" is the mount point.
    v.hierarchies[0].root = "/own".to_string();
    let m = Manager::create_in(&v, &opts("x/y"), false).unwrap();
    assert_eq!(m.handle().hierarchies[0].dir, t.0.join("memory/x/y"));
    assert_eq!(m.handle().path, "/own/x/y");
    m.destroy().unwrap();
    assert!(!t.0.join("memory/x").exists());
}

#[test]
fn relative_paths_on_v2_start_at_the_parent_of_own_cgroup() {
    let t = TempTree::new();
    let mut v = view(&t.0, CgroupSetup::Unified, &["unified"]);
    v.own = parse_proc_cgroup("0::/a/own\n");
    std::fs::create_dir_all(t.0.join("unified/a/own")).unwrap();
    let m = Manager::create_in(
        &v,
        &CgroupOptions {
            cgroups_path: None,
            container_id: "ctr",
        },
        false,
    )
    .unwrap();
    assert_eq!(m.handle().path, "/a/ctr");
    assert_eq!(m.handle().hierarchies[0].dir, t.0.join("unified/a/ctr"));
    assert_eq!(
        m.handle().hierarchies[0].created,
        vec![t.0.join("unified/a/ctr")]
    );
    m.destroy().unwrap();
    assert!(t.0.join("unified/a/own").is_dir());
    // In the root cgroup there is no parent: the root it is.
    v.own = parse_proc_cgroup("0::/\n");
    let m = Manager::create_in(&v, &opts("x"), false).unwrap();
    assert_eq!(m.handle().path, "/x");
    m.destroy().unwrap();
    // Nor above the root of a cgroup namespace's mount.
    v.hierarchies[0].root = "/own".to_string();
    v.own = parse_proc_cgroup("0::/own\n");
    let m = Manager::create_in(&v, &opts("x"), false).unwrap();
    assert_eq!(
        (
            m.handle().path.as_str(),
            m.handle().hierarchies[0].dir.clone()
        ),
        ("/own/x", t.0.join("unified/x"))
    );
    m.destroy().unwrap();
}

#[test]
fn v2_relative_base_cases() {
    assert_eq!(v2_relative_base("/a/b/c", "/"), "/a/b");
    assert_eq!(v2_relative_base("/a", "/"), "/");
    assert_eq!(v2_relative_base("/", "/"), "/");
    assert_eq!(v2_relative_base("/ns/x", "/ns"), "/ns");
    assert_eq!(v2_relative_base("/ns", "/ns/"), "/ns");
}

#[test]
fn failed_create_rolls_back() {
    let t = TempTree::new();
    let mut v = view(&t.0, CgroupSetup::Legacy, &["memory", "cpu"]);
    v.hierarchies[1].mountpoint = t.0.join("missing-mount");
    let e = Manager::create_in(&v, &opts("/a/b"), false).unwrap_err();
    assert!(e.to_string().contains("creating directory"), "{e}");
    assert!(!t.0.join("memory/a").exists());
}

#[test]
fn invalid_paths_create_nothing() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Legacy, &["memory"]);
    let e = Manager::create_in(&v, &opts("/a/../b"), false).unwrap_err();
    assert!(matches!(e, CgroupError::InvalidPath { .. }));
    assert!(!t.0.join("memory/a").exists());
    // A component that is a control file is not a cgroup.
    put(&t.0.join("memory"), "memory.limit_in_bytes", "1");
    assert!(Manager::create_in(&v, &opts("/memory.limit_in_bytes"), false).is_err());
}

#[test]
fn cpuset_levels_inherit_parent_values() {
    let t = TempTree::new();
    let root = t.0.join("cpuset");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    put(&root, "cpuset.cpus", "0-3\n");
    put(&root, "cpuset.mems", "0\n");
    for d in ["a", "a/b"] {
        put(&root.join(d), "cpuset.cpus", "\n");
        put(&root.join(d), "cpuset.mems", "\n");
    }
    put(&root.join("a/b"), "cpuset.mems", "0\n");
    // From the root's fd, as create reaches the levels above the leaf.
    let dirs = crate::dirs::Dirs::open([root.as_path()]);
    crate::v1::cpuset::init_created(&dirs, &[&root.join("a"), &root.join("a/b")]).unwrap();
    assert_eq!(get(&root.join("a"), "cpuset.cpus"), "0-3");
    assert_eq!(get(&root.join("a/b"), "cpuset.cpus"), "0-3");
    assert_eq!(get(&root.join("a/b"), "cpuset.mems"), "0\n"); // untouched
}

#[test]
fn handle_roundtrips_through_json() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Hybrid, &["memory", "unified"]);
    let m = Manager::create_in(&v, &opts("/rt"), false).unwrap();
    let j = serde_json::to_string(m.handle()).unwrap();
    let back: CgroupHandle = serde_json::from_str(&j).unwrap();
    assert_eq!(&back, m.handle());
    Manager::from_handle(back).destroy().unwrap();
    assert!(!t.0.join("memory/rt").exists());
}

#[test]
fn destroy_refuses_tampered_handle() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Legacy, &["memory"]);
    let m = Manager::create_in(&v, &opts("/x"), false).unwrap();
    let mut h = m.handle().clone();
    h.hierarchies[0].created.insert(0, t.0.join("memory/own"));
    assert!(Manager::from_handle(h).destroy().is_err());
    assert!(t.0.join("memory/own").is_dir());
    // A ".." that passes a textual prefix test and names a directory
    // outside the hierarchy.
    std::fs::create_dir_all(t.0.join("elsewhere")).unwrap();
    let mut h = m.handle().clone();
    let out = t.0.join("memory/x/../../elsewhere");
    h.hierarchies[0].dir = out.join("x");
    h.hierarchies[0].created = vec![out.clone(), out.join("x")];
    std::fs::create_dir_all(out.join("x")).unwrap();
    assert!(Manager::from_handle(h).destroy().is_err());
    assert!(t.0.join("elsewhere/x").is_dir());
    m.destroy().unwrap();
}

#[test]
fn destroy_waits_then_reports_remaining_pids() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Legacy, &["memory"]);
    let m = Manager::create_in(&v, &opts("/busy"), false).unwrap();
    put(&t.0.join("memory/busy"), "cgroup.procs", "4242\n");
    assert_eq!(m.pids().unwrap(), vec![4242]);
    let e = m
        .destroy_with_timeout(Duration::from_millis(20))
        .unwrap_err();
    match e {
        CgroupError::NotEmpty { pids, .. } => assert_eq!(pids, vec![4242]),
        other => panic!("unexpected {other}"),
    }
    assert!(t.0.join("memory/busy").is_dir());
}

#[test]
fn pids_are_collected_recursively() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Legacy, &["memory", "pids"]);
    let m = Manager::create_in(&v, &opts("/p"), false).unwrap();
    let d = t.0.join("pids/p");
    put(&d, "cgroup.procs", "1\n2\n");
    std::fs::create_dir(d.join("sub")).unwrap();
    put(&d.join("sub"), "cgroup.procs", "3\n");
    let mut p = m.pids().unwrap();
    p.sort();
    assert_eq!(p, vec![1, 2, 3]);
}

#[test]
fn add_task_rejects_non_pids() {
    let m = Manager::from_handle(CgroupHandle {
        setup: CgroupSetup::Legacy,
        path: "/x".into(),
        hierarchies: vec![],
        systemd: None,
        denied: vec![],
    });
    assert!(m.add_task(0).is_err());
    assert!(m.add_task(-5).is_err());
}

#[test]
fn a_child_places_itself_in_v1_and_the_runtime_writes_only_the_rest() {
    let t = TempTree::new();
    let m = v1_leaf(&t, &["memory", "cpu", "unified"]);
    let dirs: Vec<PathBuf> = m
        .handle()
        .hierarchies
        .iter()
        .map(|h| h.dir.clone())
        .collect();
    // Without the files there is nothing to open: the runtime places it.
    assert!(m.self_placement().is_none());
    put(&dirs[0], "tasks", "");
    assert!(
        m.self_placement().is_none(),
        "one hierarchy cannot be opened"
    );
    put(&dirs[1], "tasks", "");
    let p = m.self_placement().expect("both v1 tasks files open");
    assert_eq!(
        p.fds().count(),
        2,
        "the unified hierarchy is not among them"
    );
    p.place_self().unwrap();
    put(&dirs[2], "cgroup.procs", "");
    assert_eq!(get(&dirs[0], "tasks"), "0");
    assert_eq!(get(&dirs[1], "tasks"), "0");
    m.add_placed_child(42, false, true).unwrap();
    assert_eq!(
        get(&dirs[0], "tasks"),
        "0",
        "a placed child is not moved again"
    );
    assert_eq!(get(&dirs[2], "cgroup.procs"), "42");
    m.add_new_child(43, true).unwrap();
    assert_eq!(get(&dirs[0], "tasks"), "43");
    assert_eq!(
        get(&dirs[2], "cgroup.procs"),
        "42",
        "born in the unified cgroup"
    );
}

fn v1_leaf(t: &TempTree, names: &[&str]) -> Manager {
    let v = view(&t.0, CgroupSetup::Hybrid, names);
    Manager::create_in(&v, &opts("/c"), false).unwrap()
}

fn mem(limit: i64, swap: Option<i64>) -> LinuxResources {
    let mut b = LinuxMemoryBuilder::default().limit(limit);
    if let Some(s) = swap {
        b = b.swap(s);
    }
    LinuxResourcesBuilder::default()
        .memory(b.build().unwrap())
        .build()
        .unwrap()
}

#[test]
fn v1_memory_writes_limits() {
    let t = TempTree::new();
    let m = v1_leaf(&t, &["memory", "unified"]);
    let d = t.0.join("memory/c");
    put(&d, "memory.limit_in_bytes", "9223372036854771712\n");
    put(&d, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    put(&d, "memory.soft_limit_in_bytes", "");
    put(&d, "memory.swappiness", "");
    m.apply(&mem(1 << 20, Some(2 << 20))).unwrap();
    assert_eq!(get(&d, "memory.limit_in_bytes"), "1048576");
    assert_eq!(get(&d, "memory.memsw.limit_in_bytes"), "2097152");
    // limit -1 with unset swap also lifts memsw.
    m.apply(&mem(-1, None)).unwrap();
    assert_eq!(get(&d, "memory.memsw.limit_in_bytes"), "-1");

    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .swappiness(101u64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = m.apply(&r).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.memory.swappiness: "), "{e}");
    // Missing memsw (swap accounting off) is an error naming the field.
    std::fs::remove_file(d.join("memory.memsw.limit_in_bytes")).unwrap();
    put(&d, "memory.limit_in_bytes", "1048576"); // the kernel never reads back -1
    let e = m
        .apply(&mem(2 << 20, Some(4 << 20)))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.resources.memory.swap: memory.memsw.limit_in_bytes does not exist"),
        "{e}"
    );
    assert_eq!(get(&d, "memory.limit_in_bytes"), "1048576"); // nothing written
}

#[test]
fn v1_unsupported_field_fails_before_any_write() {
    let t = TempTree::new();
    let m = v1_leaf(&t, &["memory", "unified"]);
    let d = t.0.join("memory/c");
    put(&d, "memory.limit_in_bytes", "orig");
    let mut r = mem(1 << 20, None);
    r.set_network(Some(
        LinuxNetworkBuilder::default()
            .class_id(7u32)
            .build()
            .unwrap(),
    ));
    let e = m.apply(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        "linux.resources.network.classID: net_cls controller is not mounted"
    );
    assert_eq!(get(&d, "memory.limit_in_bytes"), "orig");

    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB".to_string())
            .limit(1i64)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let e = m.apply(&r).unwrap_err().to_string();
    assert_eq!(
        e,
        "linux.resources.hugepageLimits: hugetlb controller is not mounted"
    );
}

#[test]
fn v1_blkio_uses_bfq_when_weight_absent() {
    let t = TempTree::new();
    let m = v1_leaf(&t, &["blkio", "unified"]);
    let d = t.0.join("blkio/c");
    put(&d, "blkio.bfq.weight", "");
    put(&d, "blkio.throttle.read_bps_device", "");
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(200u16)
                .throttle_read_bps_device(vec![
                    oci_spec::runtime::LinuxThrottleDeviceBuilder::default()
                        .major(8)
                        .minor(0)
                        .rate(1024u64)
                        .build()
                        .unwrap(),
                ])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.apply(&r).unwrap();
    assert_eq!(get(&d, "blkio.bfq.weight"), "200");
    assert_eq!(get(&d, "blkio.throttle.read_bps_device"), "8:0 1024");
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .leaf_weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = m.apply(&r).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.blockIO.leafWeight: blkio.leaf_weight does not exist"),
        "{e}"
    );
}

#[test]
fn legacy_rejects_unified_and_hybrid_writes_it_raw() {
    let t = TempTree::new();
    let mut u = HashMap::new();
    u.insert("cgroup.max.depth".to_string(), "3".to_string());
    let r = LinuxResourcesBuilder::default().unified(u).build().unwrap();

    let legacy = Manager::create_in(
        &view(&t.0, CgroupSetup::Legacy, &["memory"]),
        &opts("/l"),
        false,
    )
    .unwrap();
    let e = legacy.apply(&r).unwrap_err().to_string();
    assert!(e.starts_with("linux.resources.unified: "), "{e}");

    let m = v1_leaf(&t, &["memory", "unified"]);
    let d = t.0.join("unified/c");
    put(&d, "cgroup.max.depth", "max");
    m.apply(&r).unwrap();
    assert_eq!(get(&d, "cgroup.max.depth"), "3");
    let mut bad = HashMap::new();
    bad.insert("memory.high".to_string(), "1".to_string());
    let e = m
        .apply(
            &LinuxResourcesBuilder::default()
                .unified(bad)
                .build()
                .unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "linux.resources.unified[\"memory.high\"]: controller \"memory\" is not available"
        ),
        "{e}"
    );
    let mut evil = HashMap::new();
    evil.insert("../x".to_string(), "1".to_string());
    assert!(m
        .apply(
            &LinuxResourcesBuilder::default()
                .unified(evil)
                .build()
                .unwrap()
        )
        .is_err());
}

fn v2_leaf(t: &TempTree, controllers: &str) -> (Manager, PathBuf) {
    let v = view(&t.0, CgroupSetup::Unified, &["unified"]);
    let m = Manager::create_in(&v, &opts("/c"), false).unwrap();
    let d = t.0.join("unified/c");
    put(&d, "cgroup.controllers", controllers);
    for f in [
        "cpu.weight",
        "cpu.max",
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "pids.max",
        "io.weight",
        "io.max",
        "cpuset.cpus",
    ] {
        put(&d, f, "");
    }
    (m, d)
}

#[test]
fn v2_converts_and_writes() {
    let t = TempTree::new();
    let (m, d) = v2_leaf(&t, "cpuset cpu io memory pids\n");
    let r = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000i64)
                .period(100_000u64)
                .cpus("0".to_string())
                .build()
                .unwrap(),
        )
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100i64)
                .swap(300i64)
                .reservation(50i64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(-1i64).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.apply(&r).unwrap();
    assert_eq!(get(&d, "cpu.weight"), "39");
    assert_eq!(get(&d, "cpu.max"), "50000 100000");
    assert_eq!(get(&d, "cpuset.cpus"), "0");
    assert_eq!(get(&d, "memory.max"), "100");
    assert_eq!(get(&d, "memory.swap.max"), "200");
    assert_eq!(get(&d, "memory.low"), "50");
    assert_eq!(get(&d, "pids.max"), "max");
    assert_eq!(
        get(&d, "io.weight"),
        crate::convert::blkio_weight_to_io_weight(500).to_string()
    );

    // With BFQ present the raw blkio weight goes to io.bfq.weight.
    put(&d, "io.bfq.weight", "");
    m.apply(
        &LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(500u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(get(&d, "io.bfq.weight"), "500");
}

#[test]
fn v2_refuses_what_it_cannot_apply() {
    let t = TempTree::new();
    let (m, d) = v2_leaf(&t, "cpu memory\n");
    let cases: Vec<(LinuxResources, &str)> = vec![
        (
            LinuxResourcesBuilder::default()
                .pids(LinuxPidsBuilder::default().limit(5i64).build().unwrap())
                .build()
                .unwrap(),
            "linux.resources.pids.limit: pids controller is not enabled",
        ),
        (
            LinuxResourcesBuilder::default()
                .memory(
                    LinuxMemoryBuilder::default()
                        .swappiness(5u64)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            "linux.resources.memory.swappiness: not supported on cgroup v2",
        ),
        (
            LinuxResourcesBuilder::default()
                .cpu(
                    LinuxCpuBuilder::default()
                        .realtime_runtime(5i64)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            "linux.resources.cpu.realtimeRuntime: not supported on cgroup v2",
        ),
        (
            LinuxResourcesBuilder::default()
                .network(
                    LinuxNetworkBuilder::default()
                        .class_id(1u32)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            "linux.resources.network.classID: not supported on cgroup v2",
        ),
        (
            LinuxResourcesBuilder::default()
                .devices(vec![LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .access("rwx".to_string())
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
            "linux.resources.devices[0]: access \"rwx\" may only contain",
        ),
        (
            LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().swap(5i64).build().unwrap())
                .build()
                .unwrap(),
            "linux.resources.memory.swap: ",
        ),
    ];
    for (r, want) in cases {
        let e = m.apply(&r).unwrap_err().to_string();
        assert!(e.starts_with(want), "got {e:?}, want prefix {want:?}");
    }
    // Controller present but the page size has no knob on this host.
    put(&d, "cgroup.controllers", "cpu memory hugetlb\n");
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("16GB".to_string())
            .limit(1i64)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let e = m.apply(&r).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "linux.resources.hugepageLimits[0].pageSize: hugetlb.16GB.max does not exist"
        ),
        "{e}"
    );
    // A restricting list needs an eBPF program: not loadable without root,
    // not attachable to a plain directory with it. Either way the error
    // names the field and the cgroup, and comes before any write.
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1i64 << 30)
                .build()
                .unwrap(),
        )
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm".to_string())
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let e = m.apply(&r).unwrap_err().to_string();
    assert!(
        e.starts_with("linux.resources.devices: bpf(BPF_PROG_")
            && e.contains(&format!(" for {}: ", d.display())),
        "{e}"
    );
    assert_ne!(get(&d, "memory.max"), (1u64 << 30).to_string());
    // Allow-all device lists are fine without eBPF.
    let r = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm".to_string())
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.apply(&r).unwrap();
}

#[test]
fn handle_without_systemd_field_still_loads() {
    // state.json written before the systemd driver existed
    let old = r#"{"setup":"Unified","path":"/a","hierarchies":[{"unified":true,"mountpoint":"/sys/fs/cgroup","dir":"/sys/fs/cgroup/a"}]}"#;
    let h: CgroupHandle = serde_json::from_str(old).unwrap();
    assert_eq!(h.systemd, None);
    // and a fs-driver handle is written as before
    assert!(!serde_json::to_string(&h).unwrap().contains("systemd"));
    let sd = CgroupHandle {
        systemd: Some(crate::SystemdUnit {
            unit: "hull-c.scope".into(),
            slice: "system.slice".into(),
            invocation: "00ff".into(),
            user: false,
        }),
        ..h
    };
    let back: CgroupHandle = serde_json::from_str(&serde_json::to_string(&sd).unwrap()).unwrap();
    assert_eq!(back, sd);
}

#[test]
fn a_sub_cgroup_view_of_a_scope_owns_no_unit() {
    let t = TempTree::new();
    let dir = t.0.join("unified/system.slice/hull-c.scope");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let m = Manager::from_handle(CgroupHandle {
        setup: CgroupSetup::Unified,
        path: "/system.slice/hull-c.scope".into(),
        hierarchies: vec![HierarchyDir {
            controllers: vec![],
            unified: true,
            mountpoint: t.0.join("unified"),
            dir: dir.clone(),
            created: vec![],
        }],
        systemd: Some(crate::SystemdUnit {
            unit: "hull-c.scope".into(),
            slice: "system.slice".into(),
            invocation: "00ff".into(),
            user: false,
        }),
        denied: vec![],
    });
    assert!(m.is_systemd());
    let view = m.sub_cgroup(&["sub".to_string()]).unwrap();
    assert!(!view.is_systemd());
    assert_eq!(view.handle().unified_dir(), Some(dir.join("sub").as_path()));
    // destroying the view touches neither systemd nor the directories
    view.destroy().unwrap();
    assert!(dir.join("sub").is_dir());
}

#[test]
fn create_refuses_a_frozen_cgroup_and_names_it() {
    let t = TempTree::new();
    let v = view(&t.0, CgroupSetup::Hybrid, &["freezer", "unified"]);
    // v1: a parent frozen by itself, its existing child frozen with it.
    let (fp, fc) = (t.0.join("freezer/p"), t.0.join("freezer/p/c"));
    std::fs::create_dir_all(&fc).unwrap();
    put(&fp, "freezer.state", "FROZEN\n");
    put(&fp, "freezer.self_freezing", "1\n");
    put(&fc, "freezer.state", "FROZEN\n");
    put(&fc, "freezer.self_freezing", "0\n");
    let e = Manager::create_in(&v, &opts("/p/c"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("{} is frozen", fp.display())), "{e}");
    assert!(
        !t.0.join("unified/p").exists(),
        "what create made is removed again"
    );
    assert!(fc.exists(), "the cgroups it did not make stay");

    // v1 thawed, but the cgroup2 parent asks to be frozen.
    put(&fp, "freezer.state", "THAWED\n");
    put(&fc, "freezer.state", "THAWED\n");
    let up = t.0.join("unified/p");
    std::fs::create_dir_all(&up).unwrap();
    put(&up, "cgroup.freeze", "1\n");
    let e = Manager::create_in(&v, &opts("/p/c"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("{} is frozen", up.display())), "{e}");
    assert!(!up.join("c").exists());

    put(&up, "cgroup.freeze", "0\n");
    Manager::create_in(&v, &opts("/p/c"), false).unwrap();
}
