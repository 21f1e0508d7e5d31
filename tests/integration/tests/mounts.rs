//! Mount semantics beyond the basics in rootfs.rs, each checked from inside
//! the container: recursive mount attributes (`rro`, `rnoexec`, …).

use std::fs;

use hull_integration::*;

const EROFS: i64 = libc::EROFS as i64;

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
