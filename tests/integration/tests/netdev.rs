//! linux.netDevices: veth ends made in a network namespace of the test's
//! own (`ip netns add`), with hull run inside it (setns before exec, no
//! new mount namespace, so the namespace pin hull makes stays visible to
//! the next command). The machine's own namespace is never touched.
//!
//! runc 1.1.5 has no netDevices (runc 1.4 moves them in but, as runtime-
//! spec 1.3 says, never back): these tests need hull.

use std::{
    fs::File,
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::Path,
    process::Command,
    time::Duration,
};

use hull_integration::*;

fn ns_name(ns: &Path) -> String {
    ns.file_name().unwrap().to_string_lossy().into_owned()
}

/// `ip -n <ns> args...`, which must succeed.
fn ip(ns: &Path, args: &[&str]) -> String {
    let o = Command::new("ip")
        .arg("-n")
        .arg(ns_name(ns))
        .args(args)
        .output()
        .expect("ip");
    assert!(
        o.status.success(),
        "ip -n {} {args:?}: {}",
        ns_name(ns),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The `ip -o link` line of `dev` in `ns`, if it is there.
fn link(ns: &Path, dev: &str) -> Option<String> {
    let o = Command::new("ip")
        .args(["-n", &ns_name(ns), "-o", "link", "show", "dev", dev])
        .output()
        .expect("ip");
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Whether an `ip -o link` line has the UP flag.
fn is_up(line: &str) -> bool {
    let flags = line
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f)
        .unwrap_or_default();
    flags.split(',').any(|f| f == "UP")
}

/// A veth pair `a`/`b` in `ns`.
fn veth(ns: &Path, a: &str, b: &str) {
    ip(ns, &["link", "add", a, "type", "veth", "peer", "name", b]);
}

fn has_ipv6() -> bool {
    let yes = Path::new("/proc/sys/net/ipv6").exists();
    if !yes {
        eprintln!("note: no IPv6 on this kernel: the IPv6 address checks are off");
    }
    yes
}

/// `hull args...` with the process in the network namespace `ns`.
#[track_caller]
fn hull_in(rt: &Runtime, ns: &Path, args: &[&str]) -> Output {
    let f = File::open(ns).expect("open netns");
    let fd = f.as_raw_fd();
    let o = rt.exec_adjusted(args, |c| {
        // SAFETY: setns(2) only, between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    drop(f);
    o
}

#[track_caller]
fn create_in(rt: &Runtime, ns: &Path, b: &Bundle) -> Output {
    b.write_config();
    rt.track(&b.id);
    hull_in(
        rt,
        ns,
        &["create", "--bundle", b.dir.to_str().unwrap(), &b.id],
    )
}

fn needs_hull() -> bool {
    if is_runc() {
        eprintln!("note: runc 1.1.5 has no linux.netDevices; skipped");
        return false;
    }
    true
}

/// What the container reports about `dev`: MTU, flags, the devices it
/// sees, and the addresses of `dev`.
fn report_script(dev: &str) -> String {
    format!(
        "d=/sys/class/net/{dev}; {{ echo mtu=$(cat $d/mtu); echo flags=$(cat $d/flags); \
         echo devs=$(ls /sys/class/net | tr '\\n' ' '); ip -o addr show dev {dev}; }} > /out/report"
    )
}

fn field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {report:?}"))
}

/// A device moved in under a new name keeps its MTU and addresses and is
/// up, as the container sees it; once the container has exited its
/// (pinned) namespace still holds it; delete brings it back under its own
/// name with its address, MTU and up state.
#[test]
fn device_moves_in_renamed_and_comes_back_on_delete() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let rt = Runtime::new("netdev_move");
    let ns = rt.netns();
    veth(&ns, "hv0", "hv1");
    ip(&ns, &["link", "set", "hv0", "mtu", "1400"]);
    ip(&ns, &["addr", "add", "10.9.0.1/24", "dev", "hv0"]);
    let v6 = has_ipv6();
    if v6 {
        ip(&ns, &["addr", "add", "fd00:9::1/64", "dev", "hv0", "nodad"]);
    }
    ip(&ns, &["link", "set", "hv0", "up"]);
    ip(&ns, &["link", "set", "hv1", "up"]);

    let mut b = rt.bundle();
    let out = b.host_dir("out");
    b.bind(&out, "/out");
    b.linux()["netDevices"] = json!({"hv0": {"name": "ceth0"}});
    b.args(&["sh", "-c", &report_script("ceth0")]);
    create_in(&rt, &ns, &b).ok();
    assert_eq!(
        link(&ns, "hv0"),
        None,
        "hv0 is still in the runtime's namespace after create"
    );
    hull_in(&rt, &ns, &["start", &b.id]).ok();
    rt.wait_status(&b.id, "stopped", Duration::from_secs(20));

    let report = std::fs::read_to_string(out.join("report")).expect("the container's report");
    assert_eq!(field(&report, "mtu"), "1400", "{report}");
    let flags = u32::from_str_radix(field(&report, "flags").trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "ceth0 is not up in the container: {report}");
    let devs: Vec<&str> = field(&report, "devs").split_whitespace().collect();
    assert!(
        devs.contains(&"ceth0") && !devs.contains(&"hv0"),
        "{report}"
    );
    assert!(report.contains("inet 10.9.0.1/24"), "{report}");
    if v6 {
        assert!(report.contains("inet6 fd00:9::1/64"), "{report}");
    }

    // The container has exited; its namespace, pinned, still has the device.
    assert_eq!(link(&ns, "hv0"), None, "hv0 came back before delete");
    hull_in(&rt, &ns, &["delete", &b.id]).ok();
    let back = link(&ns, "hv0").expect("hv0 is not back in the test's namespace after delete");
    assert!(back.contains("mtu 1400"), "{back}");
    assert!(is_up(&back), "hv0 came back down: {back}");
    let addrs = ip(&ns, &["-o", "addr", "show", "dev", "hv0"]);
    assert!(addrs.contains("inet 10.9.0.1/24"), "{addrs}");
    if v6 {
        assert!(addrs.contains("inet6 fd00:9::1/64"), "{addrs}");
    }
    assert_eq!(link(&ns, "ceth0"), None);
    assert!(!rt.state_dir(&b.id).exists());
}

/// A `%d` template takes the kernel's free number, a device without a
/// name keeps its own, both are up inside; `delete --force` of the running
/// container brings both back, the one that was down on the host down.
#[test]
fn template_and_unrenamed_devices_come_back_on_forced_delete() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let rt = Runtime::new("netdev_force");
    let ns = rt.netns();
    veth(&ns, "hv2", "hv3");
    veth(&ns, "hv4", "hv5");
    ip(&ns, &["addr", "add", "10.9.1.1/24", "dev", "hv2"]);
    ip(&ns, &["link", "set", "hv2", "up"]);
    // hv4 stays down on the host.

    let mut b = rt.bundle();
    b.linux()["netDevices"] = json!({"hv2": {"name": "cn%d"}, "hv4": {}});
    b.args(&["hull-probe", "sleep", "60"]);
    create_in(&rt, &ns, &b).ok();
    hull_in(&rt, &ns, &["start", &b.id]).ok();
    let o = hull_in(
        &rt,
        &ns,
        &[
            "exec",
            &b.id,
            "sh",
            "-c",
            "ls /sys/class/net | tr '\\n' ' '; echo; cat /sys/class/net/cn0/flags /sys/class/net/hv4/flags; ip -o addr show dev cn0",
        ],
    );
    o.ok();
    let mut lines = o.stdout.lines();
    let devs: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        devs.contains(&"cn0") && devs.contains(&"hv4") && !devs.contains(&"hv2"),
        "{}",
        o.stdout
    );
    for dev in ["cn0", "hv4"] {
        let flags = lines.next().unwrap_or_default();
        let f = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
        assert_eq!(f & 1, 1, "{dev} is not up in the container: {}", o.stdout);
    }
    assert!(o.stdout.contains("inet 10.9.1.1/24"), "{}", o.stdout);
    assert_eq!(link(&ns, "hv2"), None);
    assert_eq!(link(&ns, "hv4"), None);

    hull_in(&rt, &ns, &["delete", "--force", &b.id]).ok();
    let hv2 = link(&ns, "hv2").expect("hv2 is not back");
    assert!(is_up(&hv2), "{hv2}");
    assert!(ip(&ns, &["-o", "addr", "show", "dev", "hv2"]).contains("inet 10.9.1.1/24"));
    let hv4 = link(&ns, "hv4").expect("hv4 is not back");
    assert!(
        !is_up(&hv4),
        "hv4 was down before the container and came back up: {hv4}"
    );
}

/// A create that fails after the devices were moved (a createRuntime hook
/// that fails, after looking into the container's namespace) moves them
/// back and leaves nothing behind.
#[test]
fn failed_create_moves_devices_back() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let rt = Runtime::new("netdev_failed");
    let ns = rt.netns();
    veth(&ns, "hv6", "hv7");
    ip(&ns, &["addr", "add", "10.9.2.1/24", "dev", "hv6"]);
    ip(&ns, &["link", "set", "hv6", "up"]);
    let mut b = rt.bundle();
    let seen = b.dir.join("seen-by-hook");
    b.linux()["netDevices"] = json!({"hv6": {"name": "ceth6"}});
    b.add_hook(
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!(
                "pid=$(/usr/bin/sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
                 /usr/bin/nsenter -t \"$pid\" -n /usr/sbin/ip -o link > {}; exit 1",
                seen.display()
            )]
        }),
    );
    create_in(&rt, &ns, &b).failed();
    let inside = std::fs::read_to_string(&seen).expect("the hook ran");
    assert!(
        inside.contains("ceth6"),
        "the device was not in the container's namespace when the hook ran: {inside}"
    );
    let back = link(&ns, "hv6").expect("hv6 is not back after the failed create");
    assert!(is_up(&back), "{back}");
    assert!(ip(&ns, &["-o", "addr", "show", "dev", "hv6"]).contains("inet 10.9.2.1/24"));
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(rt.cgroup_dirs(&b).is_empty(), "cgroups left");
}

/// Bad entries are refused before anything is made, naming the entry.
#[test]
fn bad_entries_are_refused_naming_the_field() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let rt = Runtime::new("netdev_refused");
    let ns = rt.netns();
    veth(&ns, "hv8", "hv9");
    let cases: [(serde_json::Value, bool, &str); 5] = [
        (
            json!({"nosuch0": {}}),
            true,
            "linux.netDevices[\"nosuch0\"]: no such network device in the runtime's network namespace",
        ),
        (
            json!({"hv8": {}}),
            false,
            "linux.netDevices[\"hv8\"]: moving a device needs a new network namespace",
        ),
        (
            json!({"hv8": {"name": "c0"}, "hv9": {"name": "c0"}}),
            true,
            "linux.netDevices[\"hv9\"].name: \"c0\" is also the container name of linux.netDevices[\"hv8\"]",
        ),
        (
            json!({"hv8": {"name": "bad/name"}}),
            true,
            "linux.netDevices[\"hv8\"].name: \"bad/name\": an interface name cannot contain '/'",
        ),
        (
            json!({"hv8": {"name": "lo"}}),
            true,
            "linux.netDevices[\"hv8\"].name: \"lo\" is taken",
        ),
    ];
    for (devices, new_netns, want) in cases {
        let mut b = rt.bundle();
        b.linux()["netDevices"] = devices.clone();
        if !new_netns {
            b.remove_namespace("network");
        }
        let o = create_in(&rt, &ns, &b);
        o.failed();
        assert!(o.stderr.contains(want), "{devices}: want {want:?}: {o}");
        assert!(!rt.state_dir(&b.id).exists(), "{devices}: state dir left");
        assert!(link(&ns, "hv8").is_some() && link(&ns, "hv9").is_some());
    }
}

/// Devices go back only into the namespace create ran in: a delete from
/// another one leaves them to the kernel and says so.
#[test]
fn delete_from_another_namespace_moves_nothing_into_it() {
    require_root!();
    if !needs_hull() {
        return;
    }
    let rt = Runtime::new("netdev_foreign");
    let ns = rt.netns();
    let other = rt.netns();
    veth(&ns, "hv10", "hv11");
    let mut b = rt.bundle();
    b.linux()["netDevices"] = json!({"hv10": {}});
    b.args(&["hull-probe", "sleep", "60"]);
    create_in(&rt, &ns, &b).ok();
    let o = hull_in(&rt, &other, &["delete", "--force", &b.id]);
    o.ok();
    assert!(
        o.stderr
            .contains("linux.netDevices[\"hv10\"]: left in the container's network namespace"),
        "{o}"
    );
    assert_eq!(link(&other, "hv10"), None, "moved into a foreign namespace");
    assert!(!rt.state_dir(&b.id).exists());
}

/// `hull features` lists netDevices as enabled (runtime-spec 1.3's field).
#[test]
fn features_list_net_devices() {
    if !needs_hull() {
        return;
    }
    let o = Command::new(hull_bin()).arg("features").output().unwrap();
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["linux"]["netDevices"]["enabled"], true, "{f}");
}
