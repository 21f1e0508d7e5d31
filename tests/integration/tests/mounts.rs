//! Mount semantics beyond the basics in rootfs.rs, each checked from inside
//! the container: recursive mount attributes (`rro`, `rnoexec`, …),
//! linux.rootfsPropagation, what may be mounted over /proc and from where,
//! idmapped mounts and linux.mountLabel. Refused configs must name the field
//! and leave nothing behind on the host.

use std::{
    fs,
    os::unix::fs::{chown, MetadataExt, PermissionsExt},
    path::Path,
    time::Duration,
};

use hull_integration::*;

const EROFS: i64 = libc::EROFS as i64;

/// The index the first mount added to [`base_spec`]'s six gets.
const ADDED: usize = 6;

fn host_mountinfo() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Every host mount that existed before is still there, unchanged
/// (propagation included). Other software may add and remove its own
/// meanwhile: a mount that vanished from /tmp, /run or /var/lib (where
/// container engines and `ip netns` keep short-lived mounts) is theirs.
#[track_caller]
fn host_mounts_unchanged(before: &[String], rt: &Runtime) {
    let after = host_mountinfo();
    let id = |l: &str| l.split(' ').next().unwrap_or("").to_string();
    let transient = |l: &str| {
        let mp = l.split(' ').nth(4).unwrap_or("");
        ["/tmp/", "/run/", "/var/lib/"]
            .iter()
            .any(|d| mp.starts_with(d))
    };
    for line in before {
        let now = after.iter().find(|a| id(a) == id(line));
        let ok = match now {
            Some(a) => a == line,
            None => transient(line),
        };
        assert!(
            ok,
            "host mount changed or vanished: {line}\nnow:\n{}",
            after.join("\n")
        );
    }
    let base = rt.base.to_string_lossy().into_owned();
    let root = rootfs().to_string_lossy().into_owned();
    for line in &after {
        let mp = line.split(' ').nth(4).unwrap_or("");
        assert!(
            !mp.starts_with(&base) && !mp.starts_with(&root),
            "mount left on the host: {line}"
        );
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
    assert!(
        rt.list_ids().is_empty(),
        "container listed: {:?}",
        rt.list_ids()
    );
    let left = wait_no_leftovers(&b.id, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "leftover processes: {left:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !rt.cgroup_dirs(b).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rt.cgroup_dirs(b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(b)
    );
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
    let mut b = tree_with_submount(
        &rt,
        &[],
        &[
            "rbind",
            "rro",
            "rnosuid",
            "rnodev",
            "rnoexec",
            "rnoatime",
            "rnosymfollow",
        ],
    );
    b.args(&["sh", "-c", script]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v.len(), 4, "{o}");
    assert_eq!(
        v[0]["errno"], EROFS,
        "the submount must be read-only too: {}",
        v[0]
    );
    assert_eq!(v[1]["errno"], EROFS, "{}", v[1]);
    assert_eq!(
        v[2]["ok"], true,
        "the original submount stays writable: {}",
        v[2]
    );
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
    assert_eq!(
        v[0]["ok"], true,
        "control: without rro the submount is writable: {}",
        v[0]
    );
    assert_eq!(v[1]["errno"], EROFS, "{}", v[1]);
}

#[test]
fn recursive_attributes_can_clear_flags() {
    require_root!();
    let rt = Runtime::new("rec_attrs_clear");
    let mut b = tree_with_submount(
        &rt,
        &["ro", "noatime", "noexec"],
        &["rbind", "rrw", "rstrictatime", "rexec"],
    );
    b.args(&[
        "sh",
        "-c",
        "hull-probe write /data/sub/x x; hull-probe write /srv/tree/sub/y y; hull-probe report",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(
        v[0]["ok"], true,
        "rrw made the bound submount writable: {}",
        v[0]
    );
    assert_eq!(
        v[1]["errno"], EROFS,
        "the original stays read-only: {}",
        v[1]
    );
    let m = report_mounts(&v[2]);
    let sub = find_mount(&m, "/data/sub").unwrap();
    assert!(sub.has_opt("rw") && !sub.has_opt("noexec"), "{sub:?}");
    // strictatime is the mode mountinfo shows by naming neither of the others.
    assert!(
        !sub.has_opt("noatime") && !sub.has_opt("relatime"),
        "{sub:?}"
    );
}

#[test]
fn nosymfollow_is_a_mount_flag() {
    require_root!();
    let rt = Runtime::new("nosymfollow");
    let mut b = rt.bundle();
    let dir = b.host_dir("links");
    fs::write(dir.join("file"), "data").unwrap();
    std::os::unix::fs::symlink("file", dir.join("link")).unwrap();
    b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": dir, "options": ["rbind", "nosymfollow"]}));
    b.add_mount(json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosymfollow", "size=1m"]}));
    b.args(&[
        "sh",
        "-c",
        "hull-probe read /mnt/link; hull-probe read /mnt/file; hull-probe report",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(
        v[0]["errno"],
        libc::ELOOP,
        "symlinks are not followed: {}",
        v[0]
    );
    assert_eq!(v[1]["content"], "data", "{}", v[1]);
    let m = report_mounts(&v[2]);
    for mp in ["/mnt", "/run"] {
        assert!(
            find_mount(&m, mp).unwrap().has_opt("nosymfollow"),
            "{mp}: {m:?}"
        );
    }
}

/// runc and crun pass a bind's filesystem data (`mode=`, `size=`, …) and
/// superblock flags to a mount that has no filesystem of its own: the
/// kernel drops them. hull runs such a bind too, warns, and `hull check`
/// reports the warning with a zero exit.
#[test]
fn bind_mounts_ignore_options_they_cannot_take_with_a_warning() {
    require_root!();
    let rt = Runtime::new("bind_data");
    for opts in [&["mode=755", "size=1k"][..], &["sync"], &["lazytime"]] {
        let mut b = rt.bundle();
        let dir = b.host_dir("d");
        fs::write(dir.join("f"), "from the host").unwrap();
        let mut options = vec!["rbind"];
        options.extend_from_slice(opts);
        b.add_mount(
            json!({"destination": "/mnt", "type": "bind", "source": dir, "options": options}),
        );
        b.args(&["sh", "-c", "hull-probe read /mnt/f; hull-probe stat /mnt"]);
        b.write_config();
        let check = rt.exec(&["check", "--bundle", b.dir.to_str().unwrap()]);
        check.ok();
        let want = opts.join(",");
        assert!(
            check.stderr.contains("warning")
                && check.stderr.contains(&format!("mounts[{ADDED}].options"))
                && check.stderr.contains(&want),
            "{opts:?}: hull check names no warning: {check}"
        );
        let o = rt.run(&b);
        o.ok();
        let v = o.json_all();
        assert_eq!(
            v[0]["content"], "from the host",
            "{opts:?}: the bind is there: {}",
            v[0]
        );
        // mode=755 went nowhere: the directory keeps the host's 0777.
        assert_eq!(v[1]["stat"]["/mnt"]["mode"], "0777", "{opts:?}: {}", v[1]);
    }
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
        assert!(
            root.split(" - ").next().unwrap().contains(" shared:"),
            "{prop}: / is not shared inside: {root}"
        );
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
    for dest in [
        "/proc/sys",
        "/proc/../proc/sys",
        "/proc/./sys/kernel",
        "//proc//sys/",
        "/dev/../proc/self/attr",
        "/proc/1/../sys/kernel",
    ] {
        let mut b = rt.bundle();
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        refused(
            &rt,
            &b,
            &format!("mounts[{ADDED}].destination"),
            "inside /proc",
        );
    }
    // Over /proc itself only procfs may go.
    let mut b = rt.bundle();
    b.add_mount(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    refused(
        &rt,
        &b,
        &format!("mounts[{ADDED}].destination"),
        "proc mount",
    );
    let mut b = rt.bundle();
    let dir = b.host_dir("fake-proc");
    b.add_mount(
        json!({"destination": "/proc", "type": "bind", "source": dir, "options": ["rbind"]}),
    );
    refused(
        &rt,
        &b,
        &format!("mounts[{ADDED}].destination"),
        "bind of a procfs",
    );
}

#[test]
fn proc_destination_through_a_symlink_is_refused() {
    require_root!();
    let rt = Runtime::new("proc_symlink");
    for (link, target, dest) in [
        ("hostile", "/proc/sys", "/hostile"),
        ("rel", "../proc/sys/kernel", "/rel"),
        ("pdir", "proc", "/pdir/sys"),
    ] {
        let mut b = rt.bundle();
        let root = b.private_rootfs();
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        b.add_mount(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        refused(
            &rt,
            &b,
            &format!("mounts[{ADDED}].destination"),
            "resolves to /proc/sys",
        );
    }
}

/// runc refuses a proc or sysfs mount whose destination is a symlink in
/// the image (CVE-2019-16884: the image would choose where procfs lands).
#[test]
fn proc_and_sys_on_a_symlink_are_refused() {
    require_root!();
    let rt = Runtime::new("proc_on_symlink");
    for (index, dir, fstype) in [(0, "proc", "proc"), (5, "sys", "sysfs")] {
        let mut b = rt.bundle();
        assert_eq!(b.spec["mounts"][index]["type"], fstype);
        let root = b.private_rootfs();
        fs::remove_dir(root.join(dir)).unwrap();
        fs::create_dir(root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("elsewhere", root.join(dir)).unwrap();
        refused(
            &rt,
            &b,
            &format!("mounts[{index}].destination \"/{dir}\""),
            &format!("filesystem \"{fstype}\" must be mounted on ordinary directory"),
        );
    }
    // Control: a real directory at the same place is taken.
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    fs::create_dir(root.join("elsewhere")).unwrap();
    let r = rt.report(&b);
    assert_eq!(
        find_mount(&report_mounts(&r), "/proc").map(|m| m.fs_type.as_str()),
        Some("proc"),
        "{r}"
    );
}

#[test]
fn magic_link_bind_sources_are_refused() {
    require_root!();
    let rt = Runtime::new("magic_source");
    // The test process's root: the host's /, through a magic link.
    let own_root = format!("/proc/{}/root", std::process::id());
    for src in [
        "/proc/self/fd/0",
        "/proc/thread-self/fd/1",
        "/dev/fd/2",
        "/proc/self/cwd",
        own_root.as_str(),
    ] {
        let mut b = rt.bundle();
        b.add_mount(
            json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]}),
        );
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
    b.args(&[
        "sh",
        "-c",
        "hull-probe read /proc/cpuinfo; hull-probe read /proc/meminfo",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["content"], "processor : fake\n", "{}", v[0]);
    assert_eq!(v[1]["content"], "MemTotal: 1 kB\n", "{}", v[1]);
}

// ---------------------------------------------------------------------------
// Idmapped mounts
// ---------------------------------------------------------------------------

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

/// `dir` (mode 0755) owned by `uid:gid`, holding `owned` (same owner) and
/// `rootowned` (0:0).
fn volume_in(dir: std::path::PathBuf, uid: u32, gid: u32) -> std::path::PathBuf {
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("owned"), "owned").unwrap();
    fs::write(dir.join("rootowned"), "root").unwrap();
    chown(dir.join("owned"), Some(uid), Some(gid)).unwrap();
    chown(&dir, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A volume in the bundle (on /tmp's filesystem, ext4 here).
fn volume(b: &Bundle, uid: u32, gid: u32) -> std::path::PathBuf {
    volume_in(b.dir.join("vol"), uid, gid)
}

/// A directory on the host's /dev/shm (a tmpfs nothing has to mount),
/// removed on drop.
struct ShmDir(std::path::PathBuf);

impl ShmDir {
    fn new(name: &str) -> ShmDir {
        ShmDir(std::path::PathBuf::from(format!(
            "/dev/shm/hull-it-{}-{name}",
            std::process::id()
        )))
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stat_ids(v: &Value, path: &str) -> (i64, i64) {
    let s = &v["stat"][path];
    (
        s["uid"].as_i64().unwrap_or_else(|| panic!("{path}: {s}")),
        s["gid"].as_i64().unwrap(),
    )
}

#[test]
fn idmapped_mount_without_user_namespace() {
    require_root!();
    let rt = Runtime::new("idmap_plain");
    let shm = ShmDir::new("idmap_plain");
    for (fs_name, dir) in [("ext4", rt.base.join("vol")), ("tmpfs", shm.0.clone())] {
        let mut b = rt.bundle();
        let dir = volume_in(dir, 1000, 1000);
        assert_eq!(fs_type(&dir), fs_name, "{}", dir.display());
        b.add_mount(json!({
            "destination": "/mnt", "type": "bind", "source": dir, "options": ["bind", "idmap"],
            "uidMappings": [{"containerID": 1000, "hostID": 2000, "size": 10}],
            "gidMappings": [{"containerID": 1000, "hostID": 3000, "size": 10}]
        }));
        b.process()["user"] = json!({"uid": 2000, "gid": 3000});
        b.args(&["sh", "-c", "hull-probe stat /mnt /mnt/owned /mnt/rootowned; hull-probe write /mnt/new from-container"]);
        let o = rt.run(&b);
        o.ok();
        let v = o.json_all();
        assert_eq!(
            stat_ids(&v[0], "/mnt/owned"),
            (2000, 3000),
            "{fs_name}: {}",
            v[0]
        );
        assert_eq!(stat_ids(&v[0], "/mnt"), (2000, 3000), "{fs_name}: {}", v[0]);
        // Host root is outside the mapping: the overflow id.
        assert_eq!(
            stat_ids(&v[0], "/mnt/rootowned"),
            (65534, 65534),
            "{fs_name}: {}",
            v[0]
        );
        assert_eq!(
            v[1]["ok"], true,
            "{fs_name}: uid 2000 owns the mapped directory: {}",
            v[1]
        );
        assert_eq!(
            owner(&dir.join("new")),
            (1000, 1000),
            "{fs_name}: written back through the mapping"
        );
        assert!(
            wait_no_leftovers(&b.id, &b.dir, Duration::from_secs(5)).is_empty(),
            "helper or container processes left"
        );

        // Control: the same bind without a mapping shows the host's ids.
        let mut b = rt.bundle();
        b.bind(&dir, "/mnt");
        b.args(&["hull-probe", "stat", "/mnt/owned"]);
        let o = rt.run(&b);
        o.ok();
        assert_eq!(stat_ids(&o.json(), "/mnt/owned"), (1000, 1000), "{fs_name}");
    }
}

fn fs_type(p: &Path) -> &'static str {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: statfs is plain data; all zeroes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a live statfs buffer.
    assert_eq!(
        unsafe { libc::statfs(c.as_ptr(), &mut st) },
        0,
        "statfs {}",
        p.display()
    );
    match st.f_type {
        libc::TMPFS_MAGIC => "tmpfs",
        libc::EXT4_SUPER_MAGIC => "ext4",
        _ => "other",
    }
}

#[test]
fn idmapped_mount_in_a_user_namespace() {
    require_root!();
    let rt = Runtime::new("idmap_userns");
    let userns = |b: &mut Bundle| {
        b.set_namespace("user", None);
        b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    };
    let mut b = rt.bundle();
    userns(&mut b);
    let dir = volume(&b, 0, 0);
    // ridmap without mappings: the container's own mapping, so host root
    // files are the container root's.
    b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": dir, "options": ["rbind", "ridmap"]}));
    // An explicit mapping is read from the host side: host 0 shows as host
    // 101000, which is uid 1000 in the container.
    b.add_mount(json!({
        "destination": "/run", "type": "bind", "source": dir, "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 101000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 102000, "size": 1}]
    }));
    b.args(&[
        "sh",
        "-c",
        "hull-probe stat /mnt/rootowned /run/rootowned; hull-probe write /mnt/new from-container",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(stat_ids(&v[0], "/mnt/rootowned"), (0, 0), "{}", v[0]);
    assert_eq!(stat_ids(&v[0], "/run/rootowned"), (1000, 2000), "{}", v[0]);
    assert_eq!(
        v[1]["ok"], true,
        "container root owns the mapped directory: {}",
        v[1]
    );
    assert_eq!(owner(&dir.join("new")), (0, 0), "written back as host root");
    assert!(
        wait_no_leftovers(&b.id, &b.dir, Duration::from_secs(5)).is_empty(),
        "helper or container processes left"
    );

    // Control: a plain bind shows host root as nobody, and refuses writes.
    let mut b = rt.bundle();
    userns(&mut b);
    b.bind(&dir, "/mnt");
    b.args(&[
        "sh",
        "-c",
        "hull-probe stat /mnt/rootowned; hull-probe write /mnt/new2 x",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(
        stat_ids(&v[0], "/mnt/rootowned"),
        (65534, 65534),
        "{}",
        v[0]
    );
    assert_eq!(v[1]["ok"], false, "{}", v[1]);
}

/// A process (`sleep`) in a user namespace of its own mapping 0→100000
/// (65536 ids), killed on drop.
struct UsernsHolder(std::process::Child);

impl UsernsHolder {
    fn new() -> UsernsHolder {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("600");
        // SAFETY: unshare is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        };
        let child = cmd.spawn().unwrap();
        let holder = UsernsHolder(child);
        for f in ["uid_map", "gid_map"] {
            fs::write(format!("/proc/{}/{f}", holder.0.id()), "0 100000 65536\n").unwrap();
        }
        holder
    }
    fn path(&self) -> String {
        format!("/proc/{}/ns/user", self.0.id())
    }
}

impl Drop for UsernsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn idmap_takes_a_joined_user_namespace() {
    require_root!();
    let rt = Runtime::new("idmap_joined");
    let holder = UsernsHolder::new();
    let mut b = rt.bundle();
    b.set_namespace("user", Some(&holder.path()));
    let dir = volume(&b, 0, 0);
    b.add_mount(
        json!({"destination": "/mnt", "type": "bind", "source": dir, "options": ["bind", "idmap"]}),
    );
    b.args(&[
        "sh",
        "-c",
        "hull-probe stat /mnt/rootowned; hull-probe write /mnt/new x",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(stat_ids(&v[0], "/mnt/rootowned"), (0, 0), "{}", v[0]);
    assert_eq!(v[1]["ok"], true, "{}", v[1]);
    assert_eq!(owner(&dir.join("new")), (0, 0));
}

#[test]
fn idmapped_mount_errors_name_the_field() {
    require_root!();
    let rt = Runtime::new("idmap_errors");
    let uid = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    let cases = [
        (
            json!({"destination": "/vol", "type": "bind", "source": "/tmp", "options": ["bind"], "uidMappings": uid}),
            "gidMappings",
            "required with uidMappings",
        ),
        (
            json!({"destination": "/vol", "type": "tmpfs", "source": "tmpfs", "uidMappings": uid, "gidMappings": uid}),
            "uidMappings",
            "only bind mounts",
        ),
        (
            json!({"destination": "/vol", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
            "options",
            "no user namespace",
        ),
        (
            json!({"destination": "/vol", "type": "bind", "source": "/tmp", "options": ["bind"], "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}], "gidMappings": uid}),
            "uidMappings[0]",
            "size must be positive",
        ),
        // procfs cannot be idmapped: the kernel refuses, after the helper
        // user namespace was made (it must be gone again).
        (
            json!({"destination": "/vol", "type": "bind", "source": "/proc/sys", "options": ["bind"], "uidMappings": uid, "gidMappings": uid}),
            "uidMappings",
            "idmapping the mount",
        ),
    ];
    for (m, field, why) in cases {
        let mut b = rt.bundle();
        b.add_mount(m);
        refused(&rt, &b, &format!("mounts[{ADDED}].{field}"), why);
    }
}

// ---------------------------------------------------------------------------
// linux.mountLabel
// ---------------------------------------------------------------------------

#[test]
fn mount_label_is_refused_without_selinux() {
    require_root!();
    if Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("note: SELinux is active here; the refusal is for hosts without it");
        return;
    }
    let rt = Runtime::new("mount_label");
    let mut b = rt.bundle();
    b.linux()["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    refused(&rt, &b, "linux.mountLabel", "SELinux is not enabled");
}

// ---------------------------------------------------------------------------
// Read-only tmpfs with mounts under it
// ---------------------------------------------------------------------------

/// A read-only tmpfs at /dev (and elsewhere) with mounts under it: the
/// nested destinations, default devices and console are made while it is
/// writable, and it turns read-only last, as runc does.
#[test]
fn read_only_tmpfs_takes_mounts_under_it() {
    require_root!();
    let rt = Runtime::new("ro_tmpfs");
    for userns in [false, true] {
        let mut b = rt.bundle();
        if userns {
            user_namespace(&mut b);
        }
        assert_eq!(b.spec["mounts"][1]["destination"], "/dev");
        b.spec["mounts"][1]["options"]
            .as_array_mut()
            .unwrap()
            .push(json!("ro"));
        b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid", "size=1m"]}));
        b.add_mount(json!({"destination": "/mnt/sub/deeper", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        b.args(&["sh", "-c", "hull-probe report; hull-probe write /dev/x x; hull-probe write /mnt/x x; hull-probe write /mnt/sub/deeper/x x; hull-probe write /dev/null x"]);
        let o = rt.run(&b);
        o.ok();
        let v = o.json_all();
        assert_eq!(v.len(), 5, "userns {userns}: {o}");
        let m = report_mounts(&v[0]);
        for (mp, ro) in [
            ("/dev", true),
            ("/mnt", true),
            ("/dev/pts", false),
            ("/dev/shm", false),
            ("/dev/mqueue", false),
            ("/mnt/sub/deeper", false),
        ] {
            let e = find_mount(&m, mp)
                .unwrap_or_else(|| panic!("userns {userns}: {mp} not mounted: {m:?}"));
            assert_eq!(e.has_opt("ro"), ro, "userns {userns}: {mp}: {e:?}");
        }
        // The remount kept the other flags.
        assert!(
            find_mount(&m, "/dev").unwrap().has_opt("nosuid"),
            "userns {userns}: {m:?}"
        );
        assert!(
            find_mount(&m, "/mnt").unwrap().has_opt("nosuid"),
            "userns {userns}: {m:?}"
        );
        assert_eq!(
            v[1]["errno"], EROFS,
            "userns {userns}: /dev is read-only: {}",
            v[1]
        );
        assert_eq!(
            v[2]["errno"], EROFS,
            "userns {userns}: /mnt is read-only: {}",
            v[2]
        );
        assert_eq!(
            v[3]["ok"], true,
            "userns {userns}: the mount under it is not: {}",
            v[3]
        );
        assert_eq!(
            v[4]["ok"], true,
            "userns {userns}: the default devices were made: {}",
            v[4]
        );
    }
}

// ---------------------------------------------------------------------------
// The rootfs and bind sources in a user namespace
// ---------------------------------------------------------------------------

/// A user namespace mapping container root to host uid 100000.
fn user_namespace(b: &mut Bundle) {
    b.set_namespace("user", None);
    b.linux()["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.linux()["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

/// A directory only host root may search (0700, root's), as /root is on
/// Debian, or a mktemp directory.
fn private_dir(rt: &Runtime, name: &str) -> std::path::PathBuf {
    let d = rt.base.join(name);
    fs::create_dir_all(&d).unwrap();
    chown(&d, Some(0), Some(0)).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// The premise of the tests below: host uid 100000 (the container's root)
/// cannot reach `path`.
#[track_caller]
fn unreachable_for_container_root(path: &Path) {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new("cat")
        .arg(path)
        .uid(100000)
        .gid(100000)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "uid 100000 can read {}: the test proves nothing",
        path.display()
    );
}

#[test]
fn bind_source_under_a_private_dir_in_a_user_namespace() {
    require_root!();
    let rt = Runtime::new("userns_private_source");
    let vol = private_dir(&rt, "private").join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("f"), "behind a 0700 directory").unwrap();
    unreachable_for_container_root(&vol.join("f"));
    for rbind in [true, false] {
        let mut b = rt.bundle();
        user_namespace(&mut b);
        b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": vol, "options": [if rbind { "rbind" } else { "bind" }, "ro"]}));
        b.args(&["sh", "-c", "hull-probe read /mnt/f; hull-probe report"]);
        let o = rt.run(&b);
        o.ok();
        let v = o.json_all();
        assert_eq!(
            v[0]["content"], "behind a 0700 directory",
            "rbind {rbind}: {}",
            v[0]
        );
        assert!(
            v[1]["uid_map"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .eq(["0", "100000", "65536"]),
            "rbind {rbind}: {}",
            v[1]["uid_map"]
        );
        assert!(
            find_mount(&report_mounts(&v[1]), "/mnt")
                .unwrap()
                .has_opt("ro"),
            "rbind {rbind}"
        );
    }
}

/// Unmounts on drop.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn bind(src: &Path, dest: &Path) -> Mounted {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        let (s, d) = (c(src), c(dest));
        // SAFETY: valid NUL-terminated paths; no fs type or data.
        let r = unsafe {
            libc::mount(
                s.as_ptr(),
                d.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            )
        };
        assert_eq!(
            r,
            0,
            "bind {} on {}: {}",
            src.display(),
            dest.display(),
            std::io::Error::last_os_error()
        );
        Mounted(dest.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let d = std::ffi::CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The rootfs under a directory the container's root cannot search: a
/// copy (a checkout under /root), and a mount point of its own (as
/// containerd's overlay rootfs is), whose mount the runtime must make
/// private through the same fds.
#[test]
fn rootfs_under_a_private_dir_in_a_user_namespace() {
    require_root!();
    let rt = Runtime::new("userns_private_rootfs");
    let private = private_dir(&rt, "private");
    let copy = private.join("copy");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(rootfs())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success(), "cp -a rootfs");
    fs::write(copy.join("which-rootfs"), "the private copy").unwrap();
    let bound = private.join("bound");
    fs::create_dir(&bound).unwrap();
    let _mounted = Mounted::bind(&copy, &bound);
    unreachable_for_container_root(&copy.join("which-rootfs"));
    for (root, prop) in [(&copy, None), (&bound, None), (&bound, Some("rshared"))] {
        let mut b = rt.bundle();
        user_namespace(&mut b);
        b.spec["root"]["path"] = json!(root);
        if let Some(p) = prop {
            b.linux()["rootfsPropagation"] = json!(p);
        }
        b.args(&[
            "sh",
            "-c",
            "hull-probe read /which-rootfs; hull-probe report",
        ]);
        let o = rt.run(&b);
        o.ok();
        let v = o.json_all();
        assert_eq!(
            v[0]["content"],
            "the private copy",
            "{}: {}",
            root.display(),
            v[0]
        );
        assert!(
            v[1]["uid_map"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .eq(["0", "100000", "65536"]),
            "{}",
            v[1]["uid_map"]
        );
        assert_eq!(v[1]["uid"]["effective"], 0, "{}", v[1]);
    }
}

// ---------------------------------------------------------------------------
// A bind mount on /dev
// ---------------------------------------------------------------------------

/// Each entry of `dir`: name, inode, mode, owner, device number.
fn dir_snapshot(dir: &Path) -> Vec<(String, u64, u32, u32, u32, u64)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = fs::symlink_metadata(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.ino(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.rdev(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A `ro` bind on /dev stays read-only while the container is set up, and
/// hull creates nothing in it (neither its default devices nor
/// linux.devices, as runc), however the destination is spelled: its
/// source stands in for the host's /dev here, and must come out untouched.
#[test]
fn read_only_bind_on_dev_is_never_written() {
    require_root!();
    let rt = Runtime::new("dev_bind_ro");
    for dest in ["/dev", "/dev/"] {
        let mut b = rt.bundle();
        let fake = b.host_dir("hostdev");
        let null = std::ffi::CString::new(fake.join("null").to_str().unwrap()).unwrap();
        // SAFETY: a C string path; makes the stand-in's /dev/null (1:3).
        let r = unsafe { libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o620, libc::makedev(1, 3)) };
        assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
        chown(fake.join("null"), Some(7), Some(7)).unwrap();
        fs::write(fake.join("marker"), "host").unwrap();
        let before = dir_snapshot(&fake);

        let mounts = b.spec["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        b.add_mount(json!({"destination": dest, "type": "bind", "source": fake, "options": ["rbind", "ro"]}));
        b.linux()["devices"] = json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0},
            {"path": "/dev/hull-extra", "type": "c", "major": 1, "minor": 5, "fileMode": 438},
        ]);
        b.args(&[
            "sh",
            "-c",
            "hull-probe write /dev/new x; hull-probe stat /dev/hull-extra; hull-probe report",
        ]);
        let o = rt.run(&b);
        o.ok();
        assert_eq!(
            dir_snapshot(&fake),
            before,
            "{dest}: the bind source was written to"
        );
        let v = o.json_all();
        assert_eq!(v.len(), 3, "{o}");
        assert_eq!(
            v[0]["errno"], EROFS,
            "{dest}: /dev must be read-only: {}",
            v[0]
        );
        assert_eq!(
            v[1]["stat"]["/dev/hull-extra"]["errno"],
            libc::ENOENT as i64,
            "{dest}: linux.devices is not created in a bound /dev: {}",
            v[1]
        );
        let m = report_mounts(&v[2]);
        let dev = find_mount(&m, "/dev").expect("/dev mounted");
        assert!(dev.has_opt("ro"), "{dest}: {dev:?}");
    }
}
