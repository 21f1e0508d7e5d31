//! Fault injection and concurrency: a create killed with SIGKILL at a
//! given phase is always recoverable with `delete --force`, after which the
//! same id can be created again; concurrent commands on one container are
//! serialised by its lock and never corrupt state.json.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use hull_integration::*;
use serde_json::json;

fn wait_for_file(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{p:?} never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Kills `hull create` while a hook of `kind` runs, then recovers.
fn kill_during(kind: &str, test: &str) {
    let rt = Runtime::new(test);
    let mut b = rt.bundle();
    b.private_rootfs();
    let out = b.host_dir("out");
    let reached = out.join("reached");
    let marker = b.id.clone();
    b.args(&["hull-probe", "sleep", "120", &marker]);
    // The hook signals that the phase is reached, then blocks; its sleep
    // carries the marker so leftovers are found.
    b.add_hook(kind, json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}; exec sleep 30 {marker}", reached.display())]}));
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    let mut sp = rt.spawn_in(&["create", "--bundle", &dir, &b.id], None, "create-killed");
    wait_for_file(&reached);
    // SAFETY: kill of the runtime process this test spawned.
    unsafe { libc::kill(sp.pid(), libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sp.try_done() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    // Whatever state it left, a forced delete cleans it up.
    rt.delete_force(&b.id).ok();
    assert!(!rt.state_dir(&b.id).exists(), "{kind}: state dir left");
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "{kind}: cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
    // The container's own processes never outlive it (the hook's sleep
    // runs outside the container and is the test's to reap).
    let left: Vec<_> = wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5))
        .into_iter()
        .filter(|(_, cmd)| !cmd.starts_with("sleep"))
        .collect();
    assert!(left.is_empty(), "{kind}: leftover processes: {left:?}");
    for (pid, cmd) in leftover_processes(&marker, &b.dir) {
        if cmd.starts_with("sleep") {
            // SAFETY: the hook's own sleep, started by this test's config.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    // The id is free again.
    let _ = std::fs::remove_file(&reached);
    let mut b2 = rt.bundle();
    b2.id = b.id.clone();
    b2.args(&["hull-probe", "exit", "0"]);
    rt.create(&b2).ok();
    rt.delete_force(&b2.id).ok();
}

#[test]
fn kill_during_create_runtime_hook_is_recoverable() {
    require_root!();
    kill_during("createRuntime", "fault_cr");
}

#[test]
fn kill_during_create_container_hook_is_recoverable() {
    require_root!();
    kill_during("createContainer", "fault_cc");
}

#[test]
fn kill_during_prestart_hook_is_recoverable() {
    require_root!();
    kill_during("prestart", "fault_ps");
}

#[test]
fn concurrent_creates_with_one_id_one_wins() {
    require_root!();
    let rt = Runtime::new("race_create");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    b.write_config();
    rt.track(&b.id);
    let dir = b.dir.to_string_lossy().into_owned();
    let spawned: Vec<_> = (0..4)
        .map(|i| {
            rt.spawn_in(
                &["create", "--bundle", &dir, &b.id],
                None,
                &format!("race-{i}"),
            )
        })
        .collect();
    let outs: Vec<Output> = spawned
        .into_iter()
        .map(|s| s.wait(default_timeout()))
        .collect();
    let ok = outs.iter().filter(|o| o.success()).count();
    assert_eq!(ok, 1, "exactly one create must win: {outs:?}");
    for o in outs.iter().filter(|o| !o.success()) {
        assert!(o.stderr.contains("already exists"), "{o:?}");
    }
    assert_eq!(rt.status(&b.id), "created");
    rt.delete_force(&b.id).ok();
}

#[test]
fn start_racing_delete_never_corrupts_state() {
    require_root!();
    let rt = Runtime::new("race_start_del");
    for round in 0..5 {
        let mut b = rt.bundle();
        b.args(&["hull-probe", "sleep", "60"]);
        rt.create(&b).ok();
        let start = rt.spawn_in(&["start", &b.id], None, &format!("start-{round}"));
        let del = rt.spawn_in(&["delete", "--force", &b.id], None, &format!("del-{round}"));
        let (s, d) = (start.wait(default_timeout()), del.wait(default_timeout()));
        d.ok();
        // start either won (then delete killed it) or found it gone.
        if !s.success() {
            assert!(
                s.stderr.contains("does not exist")
                    || s.stderr.contains("stopped")
                    || s.stderr.contains("exited"),
                "{s:?}"
            );
        }
        assert!(!rt.state_dir(&b.id).exists());
        assert!(rt.cgroup_dirs(&b).is_empty());
    }
}

/// `run` in the foreground forwards signals to the container, and a
/// SIGTERM to hull itself ends the run cleanly: the process gets it, hull
/// reports 128+15 and deletes the container (youki 0.7 hung here).
#[test]
fn sigterm_to_foreground_run_is_forwarded() {
    require_root!();
    let rt = Runtime::new("fwd_term");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    let sp = rt.spawn_run(&b, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt
        .state(&b.id)
        .map(|s| s["status"] != "running")
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "container never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling the runtime process this test spawned.
    unsafe { libc::kill(sp.pid(), libc::SIGTERM) };
    let o = sp.wait(Duration::from_secs(20));
    assert_eq!(o.code, 128 + libc::SIGTERM, "{o:?}");
    assert!(
        rt.list_ids().is_empty(),
        "container left after the run ended"
    );
    assert!(rt.cgroup_dirs(&b).is_empty());
}

/// Phases of `create` at which a fault-injection build kills itself
/// (libcontainer::FAULT_PHASES).
const PHASES: [&str; 7] = [
    "state-dir",
    "cgroup",
    "clone",
    "child-ready",
    "init-pid",
    "init-ready",
    "created",
];

/// SIGKILL of `create` at every phase, through the fault-injection build
/// (HULL_FAULT_BIN, built by scripts/test.sh with --features
/// fault-injection): `delete --force` always recovers and the container's
/// processes never outlive it.
#[test]
fn kill_at_every_create_phase_is_recoverable() {
    require_root!();
    let Some(fault_bin) = std::env::var_os("HULL_FAULT_BIN") else {
        eprintln!("note: HULL_FAULT_BIN unset (scripts/test.sh sets it); skipped");
        return;
    };
    let rt = Runtime::new("fault_phases");
    for phase in PHASES {
        let mut b = rt.bundle();
        b.private_rootfs();
        let marker = b.id.clone();
        b.args(&["hull-probe", "sleep", "60", &marker]);
        b.write_config();
        rt.track(&b.id);
        let status = std::process::Command::new(&fault_bin)
            .arg("--root")
            .arg(&rt.root)
            .args(["create", "--bundle"])
            .arg(&b.dir)
            .arg(&b.id)
            .env("HULL_FAULT", phase)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{phase}: the fault point was not reached: {status:?}"
        );
        rt.delete_force(&b.id).ok();
        assert!(!rt.state_dir(&b.id).exists(), "{phase}: state dir left");
        assert!(
            rt.cgroup_dirs(&b).is_empty(),
            "{phase}: cgroups left: {:?}",
            rt.cgroup_dirs(&b)
        );
        let left = wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5));
        assert!(
            left.is_empty(),
            "{phase}: processes outlived the forced delete: {left:?}"
        );
        // and the id can be used again
        rt.create(&b).ok();
        rt.delete_force(&b.id).ok();
    }
}
