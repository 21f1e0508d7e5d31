//! A failed create/run leaves nothing behind: no container in `list`, no
//! state dir, no cgroup, no process, no mount in the host namespace.

use hull_integration::*;
use std::time::Duration;

/// A bundle with a private rootfs (so leftover processes can be found by
/// their cwd/root under the bundle dir) and the bundle id as marker in args.
fn bundle(rt: &Runtime) -> (Bundle, String) {
    let mut b = rt.bundle();
    b.private_rootfs();
    let marker = b.id.clone();
    b.args(&["hull-probe", "sleep", "120", &marker]);
    (b, marker)
}

#[track_caller]
fn assert_nothing_left(rt: &Runtime, b: &Bundle, marker: &str) {
    assert!(!rt.list_ids().contains(&b.id), "{} still listed", b.id);
    rt.state(&b.id)
        .expect_err("state of a failed container must fail");
    assert!(
        !rt.state_dir(&b.id).exists(),
        "state dir {} left",
        rt.state_dir(&b.id).display()
    );
    let left = wait_no_leftovers(marker, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "leftover processes: {left:?}");
    // cgroup removal can lag a moment behind the last process exiting
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !rt.cgroup_dirs(b).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rt.cgroup_dirs(b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(b)
    );
    assert!(
        mounts_under(&b.dir).is_empty(),
        "host mounts left: {:?}",
        mounts_under(&b.dir)
    );
    assert!(
        parse_probe(&rt.container_stdout(&b.id)).is_none(),
        "the user process ran"
    );
}

#[test]
fn missing_binary() {
    require_root!();
    let rt = Runtime::new("cleanup_nobin");
    let (mut b, marker) = bundle(&rt);
    b.args(&["/bin/hull-no-such-binary", &marker]);
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn missing_binary_in_path() {
    require_root!();
    let rt = Runtime::new("cleanup_nobin_path");
    let (mut b, marker) = bundle(&rt);
    b.args(&["hull-no-such-command", &marker]);
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn bad_bind_mount_source() {
    require_root!();
    let rt = Runtime::new("cleanup_badmount");
    let (mut b, marker) = bundle(&rt);
    let missing = b.dir.join("no-such-source");
    b.add_mount(json!({
        "destination": "/mnt", "type": "bind",
        "source": missing.to_str().unwrap(), "options": ["rbind"]
    }));
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn unknown_filesystem_type() {
    require_root!();
    let rt = Runtime::new("cleanup_badfs");
    let (mut b, marker) = bundle(&rt);
    b.add_mount(json!({"destination": "/mnt", "type": "hull-no-such-fs", "source": "x"}));
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn failing_prestart_hook() {
    require_root!();
    let rt = Runtime::new("cleanup_prestart");
    let (mut b, marker) = bundle(&rt);
    b.add_hook("prestart", json!({"path": "/bin/false"}));
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn failing_create_runtime_hook() {
    require_root!();
    let rt = Runtime::new("cleanup_createruntime");
    let (mut b, marker) = bundle(&rt);
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}),
    );
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn failing_create_container_hook() {
    require_root!();
    let rt = Runtime::new("cleanup_createcontainer");
    let (mut b, marker) = bundle(&rt);
    b.add_hook("createContainer", json!({"path": "/bin/false"}));
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn missing_rootfs() {
    require_root!();
    let rt = Runtime::new("cleanup_norootfs");
    let (mut b, marker) = bundle(&rt);
    b.spec["root"]["path"] = json!(b.dir.join("no-such-rootfs").to_str().unwrap());
    rt.create(&b).failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn invalid_config_json() {
    require_root!();
    let rt = Runtime::new("cleanup_badjson");
    let (b, marker) = bundle(&rt);
    std::fs::write(b.config_path(), "{ this is not json").unwrap();
    rt.track(&b.id);
    rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn missing_config_json() {
    require_root!();
    let rt = Runtime::new("cleanup_noconfig");
    let (b, marker) = bundle(&rt);
    rt.track(&b.id);
    assert!(!b.config_path().exists());
    rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &b.id])
        .failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn run_failure() {
    require_root!();
    let rt = Runtime::new("cleanup_run");
    let (mut b, marker) = bundle(&rt);
    b.args(&["/bin/hull-no-such-binary", &marker]);
    let o = rt.run(&b);
    o.failed();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn run_success_deletes_container() {
    require_root!();
    let rt = Runtime::new("cleanup_run_ok");
    let (mut b, marker) = bundle(&rt);
    b.args(&["hull-probe", "report", &marker]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.json()["args"][2], marker.as_str());
    assert!(rt.list_ids().is_empty());
    assert!(!rt.state_dir(&b.id).exists());
    assert!(rt.cgroup_dirs(&b).is_empty(), "{:?}", rt.cgroup_dirs(&b));
    assert!(wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5)).is_empty());
    assert!(mounts_under(&b.dir).is_empty());
}

#[test]
fn delete_force_of_running_cleans_up() {
    require_root!();
    let rt = Runtime::new("cleanup_force");
    let (b, marker) = bundle(&rt);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert!(pid_alive(pid as i32));
    rt.delete_force(&b.id).ok();
    assert_nothing_left(&rt, &b, &marker);
}

#[test]
fn delete_force_kills_all_container_processes() {
    require_root!();
    let rt = Runtime::new("cleanup_force_tree");
    let (mut b, marker) = bundle(&rt);
    // init (sh) plus a background grandchild that ignores SIGTERM/SIGHUP
    b.args(&[
        "sh",
        "-c",
        &format!("trap '' TERM HUP; hull-probe sleep 120 {marker} & hull-probe sleep 120 {marker}"),
    ]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    // wait for both probes to be up
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while leftover_processes(&marker, &b.dir)
        .iter()
        .filter(|(_, c)| c.contains("hull-probe"))
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "probes did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.delete_force(&b.id).ok();
    assert_nothing_left(&rt, &b, &marker);
}

/// `--systemd-cgroup` where systemd is not init (as on our dev hosts) is
/// refused before anything is made, saying why.
#[test]
fn systemd_cgroup_without_systemd() {
    require_root!();
    if std::path::Path::new("/run/systemd/system").exists() {
        return; // systemd runs here: tests/vm/systemd-tests.sh covers the driver
    }
    let rt = Runtime::new("cleanup_nosystemd");
    let (b, marker) = bundle(&rt);
    let o = rt.create_as(&b, &b.id, &["--systemd-cgroup"]);
    o.failed();
    if !is_runc() {
        assert!(
            o.stderr
                .contains("--systemd-cgroup: systemd is not running as init"),
            "{}",
            o.stderr
        );
    }
    assert_nothing_left(&rt, &b, &marker);
}
