//! `linux.namespaces`, uid/gid mappings, time offsets, cgroupsPath.

use hull_integration::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// OCI namespace type → /proc/self/ns name.
fn ns_file(ty: &str) -> &'static str {
    match ty {
        "pid" => "pid",
        "network" => "net",
        "ipc" => "ipc",
        "uts" => "uts",
        "mount" => "mnt",
        "cgroup" => "cgroup",
        "user" => "user",
        "time" => "time",
        other => panic!("unknown namespace type {other}"),
    }
}

const ALL: &[&str] = &[
    "pid", "network", "ipc", "uts", "mount", "cgroup", "user", "time",
];

#[test]
fn listed_namespaces_are_new_unlisted_are_shared() {
    require_root!();
    let rt = Runtime::new("ns_default");
    let b = rt.bundle();
    let r = rt.report(&b);
    let listed = b.namespace_types();
    for ty in ALL {
        let f = ns_file(ty);
        let inside = r["namespaces"][f]
            .as_str()
            .unwrap_or_else(|| panic!("no {f} ns in report"));
        if listed.iter().any(|l| l == ty) {
            assert_ne!(inside, host_ns(f), "{ty} namespace must be new");
        } else {
            assert_eq!(inside, host_ns(f), "{ty} namespace must be the host's");
        }
    }
    assert_eq!(r["namespaces"]["pid_for_children"], r["namespaces"]["pid"]);
}

#[test]
fn pid_namespace_makes_process_pid_1() {
    require_root!();
    let rt = Runtime::new("ns_pid");
    let b = rt.bundle();
    let r = rt.report(&b);
    assert_eq!(r["pid"], 1);
    assert_eq!(r["ppid"], 0);

    let mut b = rt.bundle();
    b.remove_namespace("pid");
    let r = rt.report(&b);
    assert_ne!(r["pid"], 1);
    assert_eq!(r["namespaces"]["pid"], host_ns("pid").as_str());
}

#[test]
fn unlisted_net_ipc_uts_are_shared() {
    require_root!();
    let rt = Runtime::new("ns_shared");
    let mut b = rt.bundle();
    b.remove_namespace("network")
        .remove_namespace("ipc")
        .remove_namespace("uts");
    // a hostname needs a private UTS namespace
    b.spec.as_object_mut().unwrap().remove("hostname");
    let r = rt.report(&b);
    for f in ["net", "ipc", "uts"] {
        assert_eq!(r["namespaces"][f], host_ns(f).as_str(), "{f}");
    }
    for f in ["pid", "mnt"] {
        assert_ne!(r["namespaces"][f], host_ns(f).as_str(), "{f}");
    }
    assert_eq!(
        r["hostname"].as_str().unwrap(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
}

#[test]
fn each_namespace_alone() {
    require_root!();
    let rt = Runtime::new("ns_each");
    // mount is always needed (for the rootfs); add each other type alone
    for ty in ["pid", "network", "ipc", "uts", "cgroup"] {
        let mut b = rt.bundle();
        b.linux()["namespaces"] = json!([{"type": "mount"}]);
        b.set_namespace(ty, None);
        if ty != "uts" {
            b.spec.as_object_mut().unwrap().remove("hostname");
        }
        let r = rt.report(&b);
        for other in ["pid", "network", "ipc", "uts", "cgroup", "user"] {
            let f = ns_file(other);
            if other == ty {
                assert_ne!(
                    r["namespaces"][f],
                    host_ns(f).as_str(),
                    "{ty} alone: {f} must be new"
                );
            } else {
                assert_eq!(
                    r["namespaces"][f],
                    host_ns(f).as_str(),
                    "{ty} alone: {f} must be shared"
                );
            }
        }
        assert_ne!(r["namespaces"]["mnt"], host_ns("mnt").as_str());
    }
}

#[test]
fn cgroups_path_is_used() {
    require_root!();
    let rt = Runtime::new("cgroups_path");
    let b = rt.bundle();
    let r = rt.report(&b);
    let want = b.cgroups_path();
    let lines: Vec<&str> = r["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let path = l.splitn(3, ':').nth(2).unwrap();
        assert_eq!(path, want, "every hierarchy must use cgroupsPath: {l}");
    }
}

#[test]
fn cgroup_namespace_hides_cgroup_path() {
    require_root!();
    let rt = Runtime::new("ns_cgroup");
    let mut b = rt.bundle();
    b.set_namespace("cgroup", None);
    let r = rt.report(&b);
    assert_ne!(r["namespaces"]["cgroup"], host_ns("cgroup").as_str());
    for l in r["cgroup"].as_array().unwrap() {
        let l = l.as_str().unwrap();
        let path = l.splitn(3, ':').nth(2).unwrap();
        assert_eq!(
            path, "/",
            "inside a cgroup namespace the own cgroup is the root: {l}"
        );
    }
}

fn norm_map(s: &str) -> Vec<Vec<u64>> {
    s.lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect()
}

#[test]
fn user_namespace_with_mappings() {
    require_root!();
    let rt = Runtime::new("ns_user");
    let mut b = rt.bundle();
    b.set_namespace("user", None);
    b.linux()["uidMappings"] = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 201000, "size": 1}
    ]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    let r = rt.report(&b);
    assert_ne!(r["namespaces"]["user"], host_ns("user").as_str());
    let mut uid_map = norm_map(r["uid_map"].as_str().unwrap());
    uid_map.sort();
    assert_eq!(uid_map, vec![vec![0, 100000, 1000], vec![1000, 201000, 1]]);
    assert_eq!(
        norm_map(r["gid_map"].as_str().unwrap()),
        vec![vec![0, 300000, 65536]]
    );
    // root inside the namespace
    assert_eq!(r["uid"]["effective"], 0);
    assert_eq!(r["gid"]["effective"], 0);
    // the host's own view is unchanged
    let host_map = std::fs::read_to_string("/proc/self/uid_map").unwrap();
    assert_ne!(norm_map(&host_map), uid_map);
}

#[test]
fn user_namespace_non_root_user() {
    require_root!();
    let rt = Runtime::new("ns_user_1000");
    let mut b = rt.bundle();
    b.set_namespace("user", None);
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.process()["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]});
    let r = rt.report(&b);
    assert_eq!(r["uid"]["effective"], 1000);
    assert_eq!(r["gid"]["effective"], 1000);
    assert_eq!(r["groups"], json!([5]));
}

#[test]
fn time_namespace_offsets() {
    require_root!();
    if is_runc() {
        // runc differs: runc 1.1 doesn't support the "time" namespace or
        // linux.timeOffsets at all (`namespace {"time" ""} does not exist`).
        eprintln!("note: runc has no time namespace support; skipped");
        return;
    }
    let rt = Runtime::new("ns_time");
    let mut b = rt.bundle();
    b.set_namespace("time", None);
    let mono_off = 10 * 86400;
    let boot_off = 20 * 86400;
    b.linux()["timeOffsets"] = json!({
        "monotonic": {"secs": mono_off, "nanosecs": 0},
        "boottime": {"secs": boot_off, "nanosecs": 0}
    });
    let before_mono = host_clock(libc::CLOCK_MONOTONIC);
    let before_boot = host_clock(libc::CLOCK_BOOTTIME);
    let r = rt.report(&b);
    let after_mono = host_clock(libc::CLOCK_MONOTONIC);
    let after_boot = host_clock(libc::CLOCK_BOOTTIME);

    assert_ne!(r["namespaces"]["time"], host_ns("time").as_str());
    let mono = as_f64(&r["monotonic"]);
    let boot = as_f64(&r["boottime"]);
    let uptime = as_f64(&r["uptime"]);
    let slack = 1.0;
    assert!(
        mono >= before_mono + mono_off as f64 - slack
            && mono <= after_mono + mono_off as f64 + slack,
        "monotonic {mono} not shifted by {mono_off} (host {before_mono}..{after_mono})"
    );
    assert!(
        boot >= before_boot + boot_off as f64 - slack
            && boot <= after_boot + boot_off as f64 + slack,
        "boottime {boot} not shifted by {boot_off} (host {before_boot}..{after_boot})"
    );
    assert!(
        uptime >= before_boot + boot_off as f64 - slack,
        "/proc/uptime {uptime} not shifted by {boot_off}"
    );
}

#[test]
fn join_network_namespace_by_path() {
    require_root!();
    let rt = Runtime::new("ns_join_path");
    let path = rt.netns();
    let ino = std::fs::metadata(&path).unwrap().ino();
    let mut b = rt.bundle();
    b.set_namespace("network", Some(path.to_str().unwrap()));
    let r = rt.report(&b);
    assert_eq!(r["namespaces"]["net"], format!("net:[{ino}]"));
    assert_ne!(r["namespaces"]["net"], host_ns("net").as_str());
}

/// Joining a namespace by path with a new pid namespace takes a second
/// fork, whose middle process reports the init's pid while the init goes
/// on to ask for its mount sources on the same channel: the init must wait
/// for the pid to be sent, or the runtime sees its request first. Many
/// rounds, since the order was a race.
#[test]
fn joined_namespace_with_new_pid_namespace_creates_every_time() {
    require_root!();
    let rt = Runtime::new("ns_join_pid_race");
    let path = rt.netns();
    let ino = std::fs::metadata(&path).unwrap().ino();
    for round in 0..50 {
        let mut b = rt.bundle();
        b.set_namespace("network", Some(path.to_str().unwrap()));
        assert!(
            b.namespace_types().iter().any(|t| t == "pid")
                && b.namespace_types().iter().any(|t| t == "mount"),
            "the base spec must have new pid and mount namespaces"
        );
        let o = rt.run(&b);
        assert!(o.success(), "round {round}: {o}");
        let r = o.json();
        assert_eq!(
            r["namespaces"]["net"],
            format!("net:[{ino}]"),
            "round {round}"
        );
        assert_ne!(
            r["namespaces"]["pid"],
            host_ns("pid").as_str(),
            "round {round}"
        );
        assert_eq!(r["pid"], 1, "round {round}: {r}");
    }
}

#[test]
fn join_namespaces_of_running_container() {
    require_root!();
    let rt = Runtime::new("ns_join_ctr");
    let mut a = rt.bundle();
    a.spec["hostname"] = json!("hull-join-a");
    a.args(&["hull-probe", "sleep", "60"]);
    rt.create(&a).ok();
    rt.start(&a.id).ok();
    let pid = rt.state_ok(&a.id)["pid"].as_i64().unwrap();
    let a_ns = |f: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{f}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };

    let mut b = rt.bundle();
    b.set_namespace("uts", Some(&format!("/proc/{pid}/ns/uts")));
    b.set_namespace("ipc", Some(&format!("/proc/{pid}/ns/ipc")));
    b.set_namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    // joining a UTS namespace: don't set (i.e. change) its hostname
    b.spec.as_object_mut().unwrap().remove("hostname");
    let r = rt.report(&b);
    for f in ["uts", "ipc", "net"] {
        assert_eq!(r["namespaces"][f], a_ns(f).as_str(), "{f}");
    }
    assert_ne!(
        r["namespaces"]["pid"],
        a_ns("pid").as_str(),
        "pid ns is new"
    );
    assert_ne!(
        r["namespaces"]["mnt"],
        a_ns("mnt").as_str(),
        "mnt ns is new"
    );
    assert_eq!(r["hostname"], "hull-join-a");

    rt.kill(&a.id, Some("KILL")).ok();
    rt.wait_status(&a.id, "stopped", Duration::from_secs(10));
    rt.delete(&a.id).ok();
}

#[test]
fn join_missing_namespace_path_fails() {
    require_root!();
    let rt = Runtime::new("ns_join_missing");
    let mut b = rt.bundle();
    let missing = format!("/run/netns/hull-test-does-not-exist-{}", std::process::id());
    b.set_namespace("network", Some(&missing));
    let o = rt.run(&b);
    o.failed();
    assert!(parse_probe(&o.stdout).is_none());
    assert!(rt.list_ids().is_empty());
}

/// linux.sysctl and process.oomScoreAdj reach the container (and only the
/// container), written by create and again by exec: with a user namespace,
/// and on the slow path (a namespace joined by path, a fork into the pid
/// namespace).
#[test]
fn proc_writes_land_in_the_container() {
    require_root!();
    let rt = Runtime::new("proc_writes");
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    let host = (
        read("/proc/sys/net/ipv4/ip_forward"),
        read("/proc/sys/kernel/msgmax"),
        read("/proc/self/oom_score_adj"),
    );
    for case in ["plain", "user namespace", "joined network namespace"] {
        let mut b = rt.bundle();
        match case {
            "user namespace" => {
                b.set_namespace("user", None);
                b.linux()["uidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                b.linux()["gidMappings"] =
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            }
            "joined network namespace" => {
                let netns = rt.netns();
                b.set_namespace("network", Some(netns.to_str().unwrap()));
            }
            _ => {}
        }
        b.linux()["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"});
        b.process()["oomScoreAdj"] = json!(345);
        b.args(&["hull-probe", "sleep", "60"]);
        rt.create(&b).ok();
        rt.start(&b.id).ok();
        let o = rt.exec(&[
            "exec",
            &b.id,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/kernel/msgmax",
            "/proc/1/oom_score_adj",
            "/proc/self/oom_score_adj",
        ]);
        o.ok();
        assert_eq!(o.stdout, "1\n12345\n345\n345\n", "{case}: {o}");
        rt.kill(&b.id, Some("KILL")).ok();
    }
    let now = (
        read("/proc/sys/net/ipv4/ip_forward"),
        read("/proc/sys/kernel/msgmax"),
        read("/proc/self/oom_score_adj"),
    );
    assert_eq!(now, host, "the host's values changed");
}
