//! linux.intelRdt and `update --l3-cache-schema/--mem-bw-schema`.
//!
//! This machine has no resctrl, so the tests make a resctrl tree on a
//! tmpfs of their own (info/, schemata, tasks, mon_groups/) and run a test
//! build of hull (feature `test-resctrl`: `HULL_TEST_RESCTRL_BIN`, else
//! built here) that takes its resctrl root from `HULL_TEST_RESCTRL_ROOT`
//! and does the kernel's side of a group (its files) on that tree. The
//! release binary must ignore that variable.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        OnceLock,
    },
};

use hull_integration::*;

const ROOT_ENV: &str = "HULL_TEST_RESCTRL_ROOT";

/// The test build of hull: `$HULL_TEST_RESCTRL_BIN` (scripts/test.sh
/// sets it), else `cargo build --features test-resctrl` into
/// `<target>/test-resctrl`.
fn rdt_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HULL_TEST_RESCTRL_BIN").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"))
            .join("test-resctrl");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "-p",
                "hull",
                "--features",
                "test-resctrl",
                "--target-dir",
            ])
            .arg(&target)
            .current_dir(workspace_root())
            .status()
            .expect("cargo build");
        assert!(
            st.success(),
            "building hull with --features test-resctrl failed"
        );
        target.join("debug/hull")
    })
    .clone()
}

/// A resctrl tree on a tmpfs: L3 (CAT) and MB (MBA, step 10) resources,
/// with or without monitoring (L3_MON). Unmounted on drop.
struct FakeResctrl {
    root: PathBuf,
}

impl FakeResctrl {
    fn new(monitoring: bool) -> FakeResctrl {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let root = PathBuf::from(format!(
            "/tmp/hull-it-resctrl-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&root).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m,mode=0755",
                "hull-test-resctrl",
            ])
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs at {}", root.display());
        let fake = FakeResctrl { root };
        fake.write("info/L3/cbm_mask", "fffff\n");
        fake.write("info/L3/min_cbm_bits", "1\n");
        fake.write("info/L3/num_closids", "16\n");
        fake.write("info/MB/bandwidth_gran", "10\n");
        fake.write("info/MB/min_bandwidth", "10\n");
        fake.write("info/MB/num_closids", "8\n");
        fake.write("info/last_cmd_status", "ok\n");
        if monitoring {
            fake.write(
                "info/L3_MON/mon_features",
                "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
            );
            fake.write("info/L3_MON/num_rmids", "64\n");
        }
        fake.write("schemata", "L3:0=fffff\nMB:0=100\n");
        fake.write("tasks", "");
        std::fs::create_dir(fake.root.join("mon_groups")).unwrap();
        fake
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A group made beforehand, as an administrator makes one.
    fn group(&self, name: &str, schemata: &str) -> PathBuf {
        self.write(&format!("{name}/schemata"), schemata);
        self.write(&format!("{name}/tasks"), "");
        std::fs::create_dir_all(self.root.join(name).join("mon_groups")).unwrap();
        self.root.join(name)
    }

    fn root_str(&self) -> &str {
        self.root.to_str().unwrap()
    }
}

impl Drop for FakeResctrl {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.root).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn runtime(test: &str, fake: &FakeResctrl) -> Runtime {
    Runtime::new(test)
        .with_bin(rdt_bin())
        .with_env(ROOT_ENV, fake.root_str())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The pids written to a `tasks` file.
fn tasks(dir: &Path) -> Vec<i64> {
    read(&dir.join("tasks"))
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn lines(p: &Path) -> Vec<String> {
    read(p).lines().map(|l| l.trim().to_owned()).collect()
}

fn sleeper(rt: &Runtime, rdt: Value) -> Bundle {
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    b.linux()["intelRdt"] = rdt;
    b
}

fn needs_hull() -> bool {
    if is_runc() {
        eprintln!("note: these tests drive a test build of hull; skipped for runc");
        return false;
    }
    true
}

/// Without a closID the container gets a group named after it: the
/// schemata written (and read back), its init and exec'd processes in
/// `tasks`, a monitoring group with them too; update rewrites the L3 line;
/// delete removes both groups.
#[test]
fn own_group_gets_schemata_tasks_and_monitoring() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let fake = FakeResctrl::new(true);
    let rt = runtime("rdt_own", &fake);
    let b = sleeper(
        &rt,
        json!({"l3CacheSchema": "L3:0=f0", "memBwSchema": "MB:0=50", "enableMonitoring": true}),
    );
    rt.create(&b).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    let group = fake.root.join(&b.id);
    let mon = group.join("mon_groups").join(&b.id);
    assert_eq!(tasks(&group), [pid]);
    assert_eq!(tasks(&mon), [pid]);
    let s = lines(&group.join("schemata"));
    assert!(
        s.contains(&"L3:0=f0".into()) && s.contains(&"MB:0=50".into()),
        "{s:?}"
    );
    rt.start(&b.id).ok();

    let pid_file = b.dir.join("exec.pid");
    rt.exec(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &b.id,
        "hull-probe",
        "sleep",
        "60",
    ])
    .ok();
    let exec_pid: i64 = read(&pid_file).trim().parse().unwrap();
    assert_eq!(tasks(&group), [pid, exec_pid]);
    assert_eq!(tasks(&mon), [pid, exec_pid]);

    rt.exec(&["update", "--l3-cache-schema", "L3:0=ff", &b.id])
        .ok();
    let s = lines(&group.join("schemata"));
    assert!(
        s.contains(&"L3:0=ff".into()) && s.contains(&"MB:0=50".into()),
        "{s:?}"
    );
    let saved: Value =
        serde_json::from_str(&read(&rt.state_dir(&b.id).join("config.json"))).unwrap();
    assert_eq!(saved["linux"]["intelRdt"]["l3CacheSchema"], "L3:0=ff");
    let o = rt.exec(&["update", "--mem-bw-schema", "L3:0=1", &b.id]);
    o.failed();
    assert!(
        o.stderr
            .contains("--mem-bw-schema: \"L3:0=1\" must start with \"MB:\""),
        "{o}"
    );

    rt.delete_force(&b.id).ok();
    assert!(!group.exists(), "the container's own group is left");
}

/// A closID names a shared group: an existing one is joined, compared with
/// the schema given (never written), refused if it differs; a missing one
/// is refused without a schema and made with one; none is removed on delete.
#[test]
fn clos_groups_are_shared_compared_and_kept() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let fake = FakeResctrl::new(true);
    let gold = fake.group("gold", "L3:0=ff\nMB:0=100\n");
    let rt = runtime("rdt_clos", &fake);

    let a = sleeper(&rt, json!({"closID": "gold"}));
    rt.create(&a).ok();
    let b = sleeper(
        &rt,
        json!({"closID": "gold", "l3CacheSchema": "L3:0=0ff", "memBwSchema": "MB:0=100"}),
    );
    rt.create(&b).ok();
    let pa = rt.state_ok(&a.id)["pid"].as_i64().unwrap();
    let pb = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(tasks(&gold), [pa, pb]);
    assert_eq!(read(&gold.join("schemata")), "L3:0=ff\nMB:0=100\n");

    let c = sleeper(&rt, json!({"closID": "gold", "l3CacheSchema": "L3:0=f0"}));
    let o = rt.create(&c);
    o.failed();
    assert!(
        o.stderr.contains("linux.intelRdt.l3CacheSchema: resctrl group \"gold\" exists with other schemata (L3 domain 0 is ff, not f0)"),
        "{o}"
    );
    assert!(!rt.state_dir(&c.id).exists());
    assert_eq!(read(&gold.join("schemata")), "L3:0=ff\nMB:0=100\n");

    let d = sleeper(&rt, json!({"closID": "missing"}));
    let o = rt.create(&d);
    o.failed();
    assert!(
        o.stderr
            .contains("linux.intelRdt.closID: resctrl group \"missing\" does not exist"),
        "{o}"
    );
    assert!(!fake.root.join("missing").exists());

    let e = sleeper(&rt, json!({"closID": "silver", "l3CacheSchema": "L3:0=3"}));
    rt.create(&e).ok();
    let silver = fake.root.join("silver");
    assert!(lines(&silver.join("schemata")).contains(&"L3:0=3".into()));
    let pe = rt.state_ok(&e.id)["pid"].as_i64().unwrap();
    assert_eq!(tasks(&silver), [pe]);

    for id in [&a.id, &b.id, &e.id] {
        rt.delete_force(id).ok();
    }
    assert!(
        gold.is_dir() && silver.is_dir(),
        "a closID group was removed"
    );
}

/// A create that fails after the groups were made (a createRuntime hook
/// that fails, after reading the group's `tasks`) removes the ones it
/// made (the container's own, a new closID group, a monitoring group) and
/// keeps a shared group that was there before.
#[test]
fn failed_create_removes_the_groups_it_made() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let fake = FakeResctrl::new(true);
    let gold = fake.group("gold", "L3:0=ff\nMB:0=100\n");
    let rt = runtime("rdt_failed", &fake);
    for (rdt, group) in [
        (
            json!({"l3CacheSchema": "L3:0=f0", "enableMonitoring": true}),
            None,
        ),
        (
            json!({"closID": "bronze", "memBwSchema": "MB:0=30"}),
            Some("bronze"),
        ),
        (
            json!({"closID": "gold", "enableMonitoring": true}),
            Some("gold"),
        ),
    ] {
        let mut b = sleeper(&rt, rdt.clone());
        let dir = fake.root.join(group.unwrap_or(&b.id));
        let watched = if monitored(&rdt) {
            dir.join("mon_groups").join(&b.id)
        } else {
            dir.clone()
        };
        let seen = b.dir.join("seen-by-hook");
        b.add_hook(
            "createRuntime",
            json!({"path": "/bin/sh", "args": ["sh", "-c", format!(
                "cat {}/tasks > {}; exit 1", watched.display(), seen.display()
            )]}),
        );
        rt.create(&b).failed();
        let pids = std::fs::read_to_string(&seen).unwrap_or_default();
        assert!(
            pids.trim().parse::<i64>().is_ok(),
            "{rdt}: the init was not in {} when the hook ran: {pids:?}",
            watched.display()
        );
        assert!(!rt.state_dir(&b.id).exists(), "{rdt}: state dir left");
        assert!(!fake.root.join(&b.id).exists(), "{rdt}: own group left");
        assert!(
            !fake.root.join("bronze").exists(),
            "{rdt}: new closID group left"
        );
        assert!(
            !gold.join("mon_groups").join(&b.id).exists(),
            "{rdt}: monitoring group left"
        );
        assert!(gold.is_dir(), "{rdt}: the shared group was removed");
    }
}

fn monitored(rdt: &Value) -> bool {
    rdt["enableMonitoring"] == true
}

/// What resctrl cannot give is refused before anything is made, naming
/// the field.
#[test]
fn refusals_name_the_field() {
    require_root!();
    if !needs_hull() {
        return;
    }
    // No monitoring in this tree, and no MBA.
    let fake = FakeResctrl::new(false);
    std::fs::remove_dir_all(fake.root.join("info/MB")).unwrap();
    let rt = runtime("rdt_refused", &fake);
    let root = fake.root.display().to_string();
    let cases = [
        (
            json!({"enableMonitoring": true}),
            false,
            format!("linux.intelRdt.enableMonitoring: resctrl at {root} has no monitoring (no info/L3_MON)"),
        ),
        (
            json!({"memBwSchema": "MB:0=50"}),
            false,
            format!("linux.intelRdt.memBwSchema: resctrl at {root} has no MB resource (no info/MB) (Intel RDT/MBA is not enabled)"),
        ),
        (
            json!({"closID": "a/b"}),
            false,
            "linux.intelRdt.closID: \"a/b\" is not a resctrl group name".to_string(),
        ),
        (
            json!({"l3CacheSchema": "L3:0=f"}),
            true,
            "linux.intelRdt: resctrl group \"{id}\", named after the container, already exists".to_string(),
        ),
    ];
    for (rdt, existing, want) in cases {
        let b = sleeper(&rt, rdt.clone());
        if existing {
            fake.group(&b.id, "L3:0=fffff\n");
        }
        let want = want.replace("{id}", &b.id);
        let o = rt.create(&b);
        o.failed();
        assert!(o.stderr.contains(&want), "{rdt}: want {want:?}: {o}");
        assert!(!rt.state_dir(&b.id).exists(), "{rdt}: state dir left");
    }
}

fn host_has_resctrl() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, r)| r.starts_with("resctrl "))
        })
}

/// The release binary finds resctrl only in mountinfo: the test knob does
/// not redirect it, and on a host without resctrl intelRdt (and an update
/// of the schemas) is refused, saying so.
#[test]
fn release_build_ignores_the_knob_and_needs_resctrl() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let fake = FakeResctrl::new(true);
    let rt = Runtime::new("rdt_release").with_env(ROOT_ENV, fake.root_str());
    let b = sleeper(&rt, json!({"l3CacheSchema": "L3:0=f0"}));
    let o = rt.create(&b);
    assert!(
        !fake.root.join(&b.id).exists(),
        "the release build made a group in the test's tree"
    );
    if host_has_resctrl() {
        eprintln!(
            "note: this host has resctrl: only checking that the release build ignores {ROOT_ENV}"
        );
        rt.delete_force(&b.id);
        return;
    }
    o.failed();
    assert!(
        o.stderr.contains("linux.intelRdt: no resctrl filesystem is mounted (no mount of type resctrl in /proc/self/mountinfo)"),
        "{o}"
    );
    let mut plain = rt.bundle();
    plain.args(&["hull-probe", "sleep", "60"]);
    rt.create(&plain).ok();
    let o = rt.exec(&["update", "--l3-cache-schema", "L3:0=f", &plain.id]);
    o.failed();
    assert!(o.stderr.contains("no resctrl filesystem is mounted"), "{o}");
    rt.delete_force(&plain.id).ok();
}

/// `hull features` lists intelRdt as enabled, as runc's does.
#[test]
fn features_list_intel_rdt() {
    if !needs_hull() {
        return;
    }
    let o = Command::new(hull_bin()).arg("features").output().unwrap();
    let f: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["linux"]["intelRdt"]["enabled"], true, "{f}");
}
