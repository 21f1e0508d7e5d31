//! Mount semantics beyond the basics in rootfs.rs, each checked from inside
//! the container: recursive mount attributes (`rro`, `rnoexec`, …),
//! linux.rootfsPropagation, and what may be mounted over /proc and from
//! where. Refused configs must name the field and leave nothing behind on
//! the host.

use std::{fs, time::Duration};

use hull_integration::*;

const EROFS: i64 = libc::EROFS as i64;

/// The index the first mount added to [`base_spec`]'s six gets.
const ADDED: usize = 6;

fn host_mountinfo() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo").unwrap().lines().map(String::from).collect()
}

/// Every host mount that existed before is still there, unchanged
/// (propagation included); other processes may add their own meanwhile.
#[track_caller]
fn host_mounts_unchanged(before: &[String], rt: &Runtime) {
    let after = host_mountinfo();
    for line in before {
        assert!(after.contains(line), "host mount changed or vanished: {line}\nnow:\n{}", after.join("\n"));
    }
    let base = rt.base.to_string_lossy().into_owned();
    let root = rootfs().to_string_lossy().into_owned();
    for line in &after {
        let mp = line.split(' ').nth(4).unwrap_or("");
        assert!(!mp.starts_with(&base) && !mp.starts_with(&root), "mount left on the host: {line}");
    }
}

/// `create` fails naming `field` (and `why`), and leaves no state, process,
/// cgroup or host mount behind.
#[track_caller]
fn refused(rt: &Runtime, b: &Bundle, field: &str, why: &str) {
    let before = host_mountinfo();
    let o = rt.create(b);
    o.failed();
    assert!(o.stderr.contains(field), "error does not name {field}: {o}");
    assert!(o.stderr.contains(why), "error does not say {why:?}: {o}");
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(rt.list_ids().is_empty(), "container listed: {:?}", rt.list_ids());
    let left = wait_no_leftovers(&b.id, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "leftover processes: {left:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !rt.cgroup_dirs(b).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rt.cgroup_dirs(b).is_empty(), "cgroups left: {:?}", rt.cgroup_dirs(b));
    host_mounts_unchanged(&before, rt);
}

/// The raw mountinfo line of the topmost mount at `mp` in a probe report.
fn mountinfo_line(report: &Value, mp: &str) -> String {
    report["mountinfo"]
        .as_array()
        .expect("mountinfo")
        .iter()
        .rev()
        .filter_map(|l| l.as_str())
        .find(|l| l.split(' ').nth(4) == Some(mp))
        .unwrap_or_else(|| panic!("{mp} not mounted: {report}"))
        .to_string()
}

// ---------------------------------------------------------------------------
// Recursive mount attributes
// ---------------------------------------------------------------------------

/// A bundle whose rootfs holds /srv/tree with a tmpfs submount at
/// /srv/tree/sub (made by the container's own first mount, so the host's
/// mount table is never touched), bound again at /data with `options`.
/// `sub_flags` are set on the submount per mount (a bind of it onto
/// itself), not on its superblock, so they can be cleared again.
fn tree_with_submount(rt: &Runtime, sub_flags: &[&str], options: &[&str]) -> Bundle {
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    fs::create_dir_all(root.join("srv/tree/sub")).unwrap();
    fs::write(root.join("srv/tree/top"), "top").unwrap();
    b.add_mount(json!({"destination": "/srv/tree/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    if !sub_flags.is_empty() {
        let mut opts = vec!["bind"];
        opts.extend_from_slice(sub_flags);
        b.add_mount(json!({"destination": "/srv/tree/sub", "type": "bind", "source": root.join("srv/tree/sub"), "options": opts}));
    }
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": root.join("srv/tree"), "options": options}));
    b
}

#[test]
fn recursive_attributes_reach_submounts() {
    require_root!();
    let rt = Runtime::new("rec_attrs");
    let script = "hull-probe write /data/sub/x x; hull-probe write /data/new x; hull-probe write /srv/tree/sub/y y; hull-probe report";
    let mut b = tree_with_submount(&rt, &[], &["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnosymfollow"]);
    b.args(&["sh", "-c", script]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v.len(), 4, "{o}");
    assert_eq!(v[0]["errno"], EROFS, "the submount must be read-only too: {}", v[0]);
    assert_eq!(v[1]["errno"], EROFS, "{}", v[1]);
    assert_eq!(v[2]["ok"], true, "the original submount stays writable: {}", v[2]);
    let m = report_mounts(&v[3]);
    let sub = find_mount(&m, "/data/sub").expect("/data/sub: the rbind carries the submount");
    for opt in ["ro", "nosuid", "nodev", "noexec", "noatime", "nosymfollow"] {
        assert!(sub.has_opt(opt), "/data/sub lacks {opt}: {sub:?}");
    }
    let orig = find_mount(&m, "/srv/tree/sub").unwrap();
    assert!(orig.has_opt("rw") && !orig.has_opt("noexec"), "{orig:?}");

    // Control: plain `ro` covers the top mount only.
    let mut b = tree_with_submount(&rt, &[], &["rbind", "ro"]);
    b.args(&["sh", "-c", script]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["ok"], true, "control: without rro the submount is writable: {}", v[0]);
    assert_eq!(v[1]["errno"], EROFS, "{}", v[1]);
}

#[test]
fn recursive_attributes_can_clear_flags() {
    require_root!();
    let rt = Runtime::new("rec_attrs_clear");
    let mut b = tree_with_submount(&rt, &["ro", "noatime", "noexec"], &["rbind", "rrw", "rstrictatime", "rexec"]);
    b.args(&["sh", "-c", "hull-probe write /data/sub/x x; hull-probe write /srv/tree/sub/y y; hull-probe report"]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["ok"], true, "rrw made the bound submount writable: {}", v[0]);
    assert_eq!(v[1]["errno"], EROFS, "the original stays read-only: {}", v[1]);
    let m = report_mounts(&v[2]);
    let sub = find_mount(&m, "/data/sub").unwrap();
    assert!(sub.has_opt("rw") && !sub.has_opt("noexec"), "{sub:?}");
    // strictatime is the mode mountinfo shows by naming neither of the others.
    assert!(!sub.has_opt("noatime") && !sub.has_opt("relatime"), "{sub:?}");
}

// ---------------------------------------------------------------------------
// linux.rootfsPropagation
// ---------------------------------------------------------------------------

#[test]
fn shared_root_propagation_is_visible_inside() {
    require_root!();
    let rt = Runtime::new("root_shared");
    for prop in ["shared", "rshared"] {
        let before = host_mountinfo();
        let mut b = rt.bundle();
        b.linux()["rootfsPropagation"] = json!(prop);
        let r = rt.report(&b);
        let root = mountinfo_line(&r, "/");
        assert!(root.split(" - ").next().unwrap().contains(" shared:"), "{prop}: / is not shared inside: {root}");
        if prop == "rshared" {
            let proc = mountinfo_line(&r, "/proc");
            assert!(proc.contains(" shared:"), "rshared reaches /proc: {proc}");
        }
        host_mounts_unchanged(&before, &rt);
    }
    // Control: the default root is not shared.
    let b = rt.bundle();
    let root = mountinfo_line(&rt.report(&b), "/");
    assert!(!root.contains(" shared:"), "{root}");
}

// ---------------------------------------------------------------------------
// /proc destinations and magic-link sources (runc's checkProcMount)
// ---------------------------------------------------------------------------

#[test]
fn proc_destinations_are_refused_by_name() {
    require_root!();
    let rt = Runtime::new("proc_dest");
    for dest in ["/proc/sys", "/proc/../proc/sys", "/proc/./sys/kernel", "//proc//sys/", "/dev/../proc/self/attr", "/proc/1/../sys/kernel"] {
        let mut b = rt.bundle();
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        refused(&rt, &b, &format!("mounts[{ADDED}].destination"), "inside /proc");
    }
    // Over /proc itself only procfs may go.
    let mut b = rt.bundle();
    b.add_mount(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    refused(&rt, &b, &format!("mounts[{ADDED}].destination"), "proc mount");
    let mut b = rt.bundle();
    let dir = b.host_dir("fake-proc");
    b.add_mount(json!({"destination": "/proc", "type": "bind", "source": dir, "options": ["rbind"]}));
    refused(&rt, &b, &format!("mounts[{ADDED}].destination"), "bind of a procfs");
}

#[test]
fn proc_destination_through_a_symlink_is_refused() {
    require_root!();
    let rt = Runtime::new("proc_symlink");
    for (link, target, dest) in [("hostile", "/proc/sys", "/hostile"), ("rel", "../proc/sys/kernel", "/rel"), ("pdir", "proc", "/pdir/sys")] {
        let mut b = rt.bundle();
        let root = b.private_rootfs();
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        refused(&rt, &b, &format!("mounts[{ADDED}].destination"), "resolves to /proc/sys");
    }
}

#[test]
fn magic_link_bind_sources_are_refused() {
    require_root!();
    let rt = Runtime::new("magic_source");
    // The test process's root: the host's /, through a magic link.
    let own_root = format!("/proc/{}/root", std::process::id());
    for src in ["/proc/self/fd/0", "/proc/thread-self/fd/1", "/dev/fd/2", "/proc/self/cwd", own_root.as_str()] {
        let mut b = rt.bundle();
        b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]}));
        refused(&rt, &b, &format!("mounts[{ADDED}].source"), "magic link");
    }
}

#[test]
fn allowed_proc_files_can_be_covered() {
    require_root!();
    let rt = Runtime::new("proc_allowed");
    let mut b = rt.bundle();
    let dir = b.host_dir("lxcfs");
    fs::write(dir.join("cpuinfo"), "processor : fake\n").unwrap();
    fs::write(dir.join("meminfo"), "MemTotal: 1 kB\n").unwrap();
    b.add_mount(json!({"destination": "/proc/cpuinfo", "type": "bind", "source": dir.join("cpuinfo"), "options": ["bind", "ro"]}));
    // (Not /proc/net/dev: the kernel re-looks-up /proc/<pid>/net entries on
    // every access, which drops a mount made on one.)
    b.add_mount(json!({"destination": "/proc/meminfo", "type": "bind", "source": dir.join("meminfo"), "options": ["bind", "ro"]}));
    b.args(&["sh", "-c", "hull-probe read /proc/cpuinfo; hull-probe read /proc/meminfo"]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["content"], "processor : fake\n", "{}", v[0]);
    assert_eq!(v[1]["content"], "MemTotal: 1 kB\n", "{}", v[1]);
}
