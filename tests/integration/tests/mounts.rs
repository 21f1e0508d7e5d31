//! Mount semantics beyond the basics in rootfs.rs, each checked from inside
//! the container: recursive mount attributes (`rro`, `rnoexec`, …) and
//! linux.rootfsPropagation. The host's mount table must not change.

use std::fs;

use hull_integration::*;

const EROFS: i64 = libc::EROFS as i64;

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
