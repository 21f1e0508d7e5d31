//! create / start / state / kill / delete / list / spec, and their errors.

use hull_integration::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn sleeper(rt: &Runtime) -> Bundle {
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "120"]);
    b
}

#[test]
fn create_start_kill_delete() {
    require_root!();
    let rt = Runtime::new("lifecycle");
    let b = sleeper(&rt);

    rt.create(&b).ok();
    let st = rt.state_ok(&b.id);
    assert_eq!(st["id"], b.id.as_str());
    assert_eq!(st["status"], "created");
    assert!(st["ociVersion"].is_string(), "{st}");
    assert_eq!(
        st["bundle"],
        b.dir.to_str().unwrap(),
        "bundle is the absolute bundle path"
    );
    let pid = st["pid"].as_i64().expect("pid in created state") as i32;
    assert!(pid > 0 && pid_alive(pid), "init pid {pid} must be alive");
    // the init process is in the container's cgroup already
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&b.cgroups_path()), "{cg}");
    assert!(!rt.cgroup_dirs(&b).is_empty());
    assert_eq!(rt.list_ids(), vec![b.id.clone()]);

    rt.start(&b.id).ok();
    let st = rt.state_ok(&b.id);
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], pid, "start must not change the init pid");

    // default signal is SIGTERM; the probe exits on it
    rt.kill(&b.id, None).ok();
    rt.wait_status(&b.id, "stopped", T);
    assert!(!pid_alive(pid));

    rt.delete(&b.id).ok();
    assert!(rt.list_ids().is_empty());
    rt.state(&b.id).expect_err("state after delete must fail");
    assert!(!rt.state_dir(&b.id).exists(), "state dir left behind");
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
}

#[test]
fn create_does_not_run_the_process_until_start() {
    require_root!();
    let rt = Runtime::new("create_then_start");
    let b = rt.bundle(); // hull-probe report
    rt.create(&b).ok();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rt.status(&b.id), "created");
    assert!(
        parse_probe(&rt.container_stdout(&b.id)).is_none(),
        "user process ran before start: {}",
        rt.container_stdout(&b.id)
    );
    rt.start(&b.id).ok();
    rt.wait_status(&b.id, "stopped", T);
    let r = parse_probe(&rt.container_stdout(&b.id))
        .unwrap_or_else(|| panic!("no report; stderr: {}", rt.container_stderr(&b.id)));
    assert_eq!(r["pid"], 1);
    assert_eq!(r["args"], json!(["hull-probe", "report"]));
    rt.delete(&b.id).ok();
}

#[test]
fn kill_signal_forms() {
    require_root!();
    let rt = Runtime::new("kill_forms");
    for sig in ["KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15"] {
        let b = sleeper(&rt);
        rt.create(&b).ok();
        rt.start(&b.id).ok();
        assert_eq!(rt.status(&b.id), "running");
        // The probe as the pid namespace's init dies of TERM only once its
        // handler is in.
        let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
        wait_catches(pid, libc::SIGTERM as u32, T);
        rt.kill(&b.id, Some(sig)).ok();
        rt.wait_status(&b.id, "stopped", T);
        rt.delete(&b.id).ok();
    }
}

#[test]
fn kill_non_terminating_signal_keeps_running() {
    require_root!();
    let rt = Runtime::new("kill_cont");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    rt.kill(&b.id, Some("CONT")).ok();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rt.status(&b.id), "running");
    rt.kill(&b.id, Some("KILL")).ok();
    rt.wait_status(&b.id, "stopped", T);
}

#[test]
fn kill_invalid_signal_fails() {
    require_root!();
    let rt = Runtime::new("kill_bad_sig");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    rt.kill(&b.id, Some("NOTASIGNAL")).failed();
    assert_eq!(rt.status(&b.id), "running");
    rt.delete_force(&b.id).ok();
}

#[test]
fn kill_created_container() {
    require_root!();
    let rt = Runtime::new("kill_created");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    rt.kill(&b.id, Some("KILL")).ok();
    rt.wait_status(&b.id, "stopped", T);
    // the user process never ran
    assert!(parse_probe(&rt.container_stdout(&b.id)).is_none());
    rt.delete(&b.id).ok();
    assert!(rt.list_ids().is_empty());
}

#[test]
fn kill_or_start_stopped_container_fails() {
    require_root!();
    let rt = Runtime::new("stopped_ops");
    let mut b = rt.bundle();
    b.args(&["hull-probe", "exit", "0"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    rt.wait_status(&b.id, "stopped", T);
    rt.kill(&b.id, Some("KILL")).failed();
    rt.start(&b.id).failed();
    assert_eq!(rt.status(&b.id), "stopped");
    rt.delete(&b.id).ok();
}

#[test]
fn start_twice_fails() {
    require_root!();
    let rt = Runtime::new("start_twice");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let pid = rt.state_ok(&b.id)["pid"].clone();
    rt.start(&b.id).failed();
    let st = rt.state_ok(&b.id);
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], pid);
    rt.delete_force(&b.id).ok();
}

#[test]
fn operations_on_missing_container_fail() {
    require_root!();
    let rt = Runtime::new("missing_ctr");
    let id = format!("does-not-exist-{}", std::process::id());
    rt.state(&id)
        .expect_err("state of a missing container must fail");
    rt.start(&id).failed();
    rt.kill(&id, Some("KILL")).failed();
    rt.delete(&id).failed();
}

#[test]
fn create_with_duplicate_id_fails() {
    require_root!();
    let rt = Runtime::new("dup_id");
    let b1 = sleeper(&rt);
    let b2 = sleeper(&rt);
    rt.create(&b1).ok();
    let st1 = rt.state_ok(&b1.id);
    rt.create_as(&b2, &b1.id, &[]).failed();
    // the first container is untouched
    let st = rt.state_ok(&b1.id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], st1["pid"]);
    assert_eq!(st["bundle"], b1.dir.to_str().unwrap());
    assert!(pid_alive(st["pid"].as_i64().unwrap() as i32));
    // nothing was set up for the rejected one
    assert!(rt.cgroup_dirs(&b2).is_empty(), "{:?}", rt.cgroup_dirs(&b2));
    assert_eq!(rt.list_ids(), vec![b1.id.clone()]);
    rt.delete_force(&b1.id).ok();
}

#[test]
fn delete_running_needs_force() {
    require_root!();
    let rt = Runtime::new("delete_force");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap() as i32;

    rt.delete(&b.id).failed();
    assert_eq!(rt.status(&b.id), "running");
    assert!(pid_alive(pid));

    rt.delete_force(&b.id).ok();
    assert!(rt.list_ids().is_empty());
    rt.state(&b.id).expect_err("state after delete --force");
    let deadline = std::time::Instant::now() + T;
    while pid_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} survived delete --force"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rt.cgroup_dirs(&b).is_empty(), "{:?}", rt.cgroup_dirs(&b));
    assert!(!rt.state_dir(&b.id).exists());
}

#[test]
fn delete_created_needs_force() {
    require_root!();
    let rt = Runtime::new("delete_created");
    let b = sleeper(&rt);
    rt.create(&b).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap() as i32;
    let o = rt.delete(&b.id);
    if is_runc() {
        // runc differs: `runc delete` of a *created* container kills and
        // deletes it without --force; the spec says deleting a container
        // that is not stopped MUST fail and have no effect.
        eprintln!("note: runc deletes created containers without --force; assertion skipped");
    } else {
        o.failed();
        assert_eq!(rt.status(&b.id), "created");
        assert!(pid_alive(pid));
        rt.delete_force(&b.id).ok();
    }
    assert!(rt.list_ids().is_empty());
    let deadline = std::time::Instant::now() + T;
    while pid_alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {pid} survived delete"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(rt.cgroup_dirs(&b).is_empty());
}

#[test]
fn pid_file_contains_init_pid() {
    require_root!();
    let rt = Runtime::new("pid_file");
    let b = sleeper(&rt);
    let pid_file = b.dir.join("init.pid");
    rt.create_as(&b, &b.id, &["--pid-file", pid_file.to_str().unwrap()])
        .ok();
    let content = std::fs::read_to_string(&pid_file).expect("pid file written");
    let pid: i64 = content
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid file content {content:?}"));
    assert_eq!(rt.state_ok(&b.id)["pid"], pid);
    rt.delete_force(&b.id).ok();
}

#[test]
fn invalid_ids_are_rejected() {
    require_root!();
    let rt = Runtime::new("invalid_ids");
    for id in ["../x", "a/b", "", "..", ".", "/abs"] {
        let b = rt.bundle();
        rt.create_as(&b, id, &[]).failed();
        assert!(rt.cgroup_dirs(&b).is_empty(), "id {id:?}");
    }
    assert!(rt.list_ids().is_empty());
    // nothing escaped the state root
    assert!(!rt.base.join("x").exists(), "../x escaped the root dir");
    assert!(!rt.root.join("a").exists());
    let left: Vec<_> = std::fs::read_dir(&rt.root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "state root not empty: {left:?}");
}

#[test]
fn list_formats() {
    require_root!();
    let rt = Runtime::new("list_formats");

    // empty root
    let o = rt.list(&["-q"]);
    o.ok();
    assert_eq!(o.stdout.trim(), "");
    assert!(rt.list_ids().is_empty());

    let a = sleeper(&rt);
    let b = sleeper(&rt);
    rt.create(&a).ok();
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    let pa = rt.state_ok(&a.id)["pid"].as_i64().unwrap();
    let pb = rt.state_ok(&b.id)["pid"].as_i64().unwrap();

    // json
    let o = rt.list(&["--format", "json"]);
    o.ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let arr = v.as_array().expect("json array");
    assert_eq!(arr.len(), 2, "{v}");
    for (bundle, status, pid) in [(&a, "created", pa), (&b, "running", pb)] {
        let e = arr
            .iter()
            .find(|e| e["id"] == bundle.id.as_str())
            .unwrap_or_else(|| panic!("{} missing: {v}", bundle.id));
        assert_eq!(e["status"], status);
        assert_eq!(e["pid"], pid);
        assert_eq!(e["bundle"], bundle.dir.to_str().unwrap());
    }

    // -q
    let o = rt.list(&["-q"]);
    o.ok();
    let mut ids: Vec<&str> = o
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    ids.sort();
    let mut want = vec![a.id.as_str(), b.id.as_str()];
    want.sort();
    assert_eq!(ids, want);

    // table (default)
    let o = rt.list(&[]);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(&header[..3], &["ID", "PID", "STATUS"], "{}", o.stdout);
    assert!(header.contains(&"BUNDLE"), "{}", o.stdout);
    for (bundle, status, pid) in [(&a, "created", pa), (&b, "running", pb)] {
        let row = lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(&bundle.id))
            .unwrap_or_else(|| panic!("no row for {}: {}", bundle.id, o.stdout));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], pid.to_string());
        assert_eq!(cols[2], status);
        assert!(cols.contains(&bundle.dir.to_str().unwrap()));
    }
    // explicit table format is the same thing
    let o2 = rt.list(&["--format", "table"]);
    o2.ok();
    assert_eq!(o2.stdout.lines().count(), 3);

    rt.delete_force(&a.id).ok();
    rt.delete_force(&b.id).ok();
    assert!(rt.list_ids().is_empty());
}

#[test]
fn state_reports_annotations() {
    require_root!();
    let rt = Runtime::new("annotations");
    let mut b = sleeper(&rt);
    b.spec["annotations"] = json!({"org.hull.test": "yes", "other": "x y"});
    rt.create(&b).ok();
    let st = rt.state_ok(&b.id);
    assert_eq!(st["annotations"]["org.hull.test"], "yes", "{st}");
    assert_eq!(st["annotations"]["other"], "x y", "{st}");
    rt.delete_force(&b.id).ok();
}

#[test]
fn config_changes_after_create_have_no_effect() {
    require_root!();
    let rt = Runtime::new("config_frozen");
    let mut b = rt.bundle();
    b.spec["hostname"] = json!("before-create");
    rt.create(&b).ok();
    // rewrite config.json between create and start
    b.spec["hostname"] = json!("after-create");
    b.args(&["hull-probe", "exit", "3"]);
    b.write_config();
    rt.start(&b.id).ok();
    rt.wait_status(&b.id, "stopped", T);
    let r = parse_probe(&rt.container_stdout(&b.id)).expect("report");
    assert_eq!(r["hostname"], "before-create");
    rt.delete(&b.id).ok();
}

#[test]
fn spec_writes_default_config_and_refuses_overwrite() {
    require_root!();
    let rt = Runtime::new("spec_cmd");
    let dir = rt.base.join("spec-bundle");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    rt.exec(&["spec", "--bundle", d]).ok();
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).expect("config.json written");
    let v: Value = serde_json::from_str(&text).expect("config.json parses");
    assert!(v["ociVersion"].is_string(), "{v}");
    assert!(v["process"]["args"].is_array(), "{v}");
    assert!(v["root"]["path"].is_string(), "{v}");
    assert!(v["linux"]["namespaces"].is_array(), "{v}");

    // refuses to overwrite
    std::fs::write(&path, "{\"marker\": true}").unwrap();
    rt.exec(&["spec", "--bundle", d]).failed();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"marker\": true}"
    );
}
