//! Root filesystem, mounts, default devices, masked and readonly paths.

use hull_integration::*;

const EROFS: i64 = libc::EROFS as i64;

#[test]
fn default_devices_and_links() {
    require_root!();
    let rt = Runtime::new("devices");
    let mut b = rt.bundle();
    let devs = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    let mut args = vec!["hull-probe", "stat"];
    args.extend(devs.iter().map(|d| d.0));
    args.extend(links.iter().map(|l| l.0));
    args.push("/dev/ptmx");
    b.args(&args);
    let o = rt.run(&b);
    o.ok();
    let st = &o.json()["stat"];
    for (path, major, minor) in devs {
        let s = &st[path];
        assert_eq!(s["type"], "char", "{path}: {s}");
        assert_eq!(s["major"], major, "{path}: {s}");
        assert_eq!(s["minor"], minor, "{path}: {s}");
        assert_eq!(s["mode"], "0666", "{path}: {s}");
    }
    for (path, target) in links {
        let s = &st[path];
        assert_eq!(s["type"], "symlink", "{path}: {s}");
        assert_eq!(s["link"], target, "{path}: {s}");
    }
    // /dev/ptmx: a symlink to pts/ptmx or a bind mount of /dev/pts/ptmx
    let p = &st["/dev/ptmx"];
    match p["type"].as_str() {
        Some("symlink") => assert!(
            p["link"] == "pts/ptmx" || p["link"] == "/dev/pts/ptmx",
            "/dev/ptmx: {p}"
        ),
        Some("char") => assert_eq!(
            (p["major"].as_i64(), p["minor"].as_i64()),
            (Some(5), Some(2)),
            "{p}"
        ),
        _ => panic!("/dev/ptmx: {p}"),
    }
}

#[test]
fn default_devices_are_usable() {
    require_root!();
    let rt = Runtime::new("devices_usable");
    let mut b = rt.bundle();
    b.args(&[
        "sh",
        "-c",
        "hull-probe write /dev/null x; hull-probe write /dev/full x; hull-probe stat /dev/pts/ptmx; \
         head -c 16 /dev/urandom | wc -c; head -c 8 /dev/zero | wc -c",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v.len(), 3, "{o}");
    assert_eq!(v[0]["ok"], true, "/dev/null writable: {}", v[0]);
    assert_eq!(
        v[1]["errno"],
        libc::ENOSPC,
        "/dev/full gives ENOSPC: {}",
        v[1]
    );
    let ptmx = &v[2]["stat"]["/dev/pts/ptmx"];
    assert_eq!(ptmx["type"], "char", "{ptmx}");
    assert_eq!(
        (ptmx["major"].as_i64(), ptmx["minor"].as_i64()),
        (Some(5), Some(2))
    );
    let counts: Vec<&str> = o
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('{'))
        .collect();
    assert_eq!(
        counts,
        ["16", "8"],
        "reading /dev/urandom and /dev/zero: {o}"
    );
}

#[test]
fn extra_device_from_config() {
    require_root!();
    let rt = Runtime::new("devices_extra");
    let mut b = rt.bundle();
    b.linux()["devices"] = json!([{
        "path": "/dev/hull-null", "type": "c", "major": 1, "minor": 3,
        "fileMode": 0o640, "uid": 1000, "gid": 5
    }]);
    b.args(&["hull-probe", "stat", "/dev/hull-null"]);
    let o = rt.run(&b);
    o.ok();
    let s = &o.json()["stat"]["/dev/hull-null"];
    assert_eq!(s["type"], "char", "{s}");
    assert_eq!(s["major"], 1);
    assert_eq!(s["minor"], 3);
    assert_eq!(s["mode"], "0640", "{s}");
    assert_eq!(s["uid"], 1000, "{s}");
    assert_eq!(s["gid"], 5, "{s}");
}

/// A FIFO in linux.devices is made (mknod) and needs no device cgroup
/// rule, as in runc; a device cgroup rule of type "p" is refused, as runc
/// refuses it ("invalid cgroup device type").
#[test]
fn fifo_in_linux_devices() {
    require_root!();
    let rt = Runtime::new("devices_fifo");
    let mut b = rt.bundle();
    b.linux()["devices"] =
        json!([{"path": "/dev/hull-fifo", "type": "p", "major": 0, "minor": 0, "fileMode": 0o620}]);
    b.args(&["sh", "-c", "hull-probe stat /dev/hull-fifo; (echo through-the-fifo > /dev/hull-fifo &); cat /dev/hull-fifo"]);
    let o = rt.run(&b);
    o.ok();
    let s = &o.json_all()[0]["stat"]["/dev/hull-fifo"];
    assert_eq!(s["type"], "fifo", "{s}");
    assert_eq!(s["mode"], "0620", "{s}");
    assert!(o.stdout.lines().any(|l| l == "through-the-fifo"), "{o}");

    let mut b = rt.bundle();
    b.linux()["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "p", "major": 0, "minor": 0, "access": "rwm"}));
    let o = rt.run(&b);
    o.failed();
    if is_runc() {
        assert!(o.stderr.contains("invalid cgroup device type"), "{o}");
    } else {
        assert!(
            o.stderr.contains("linux.resources.devices[1]") && o.stderr.contains("\"p\""),
            "{o}"
        );
    }
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "a refused create leaves no cgroup"
    );
}

#[test]
fn standard_mounts_present() {
    require_root!();
    let rt = Runtime::new("mounts_std");
    let b = rt.bundle();
    let r = rt.report(&b);
    let m = report_mounts(&r);
    let want = [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ];
    for (mp, fs) in want {
        let e = find_mount(&m, mp).unwrap_or_else(|| panic!("{mp} not mounted: {m:#?}"));
        assert_eq!(e.fs_type, fs, "{mp}");
    }
    let pts = find_mount(&m, "/dev/pts").unwrap();
    assert!(pts.has_opt("nosuid") && pts.has_opt("noexec"), "{pts:?}");
    assert!(
        pts.has_super_opt("gid=5") && pts.has_super_opt("mode=620"),
        "{pts:?}"
    );
    assert!(pts.has_super_opt("ptmxmode=666"), "{pts:?}");
    let shm = find_mount(&m, "/dev/shm").unwrap();
    assert!(
        shm.has_opt("nodev") && shm.has_opt("noexec") && shm.has_opt("nosuid"),
        "{shm:?}"
    );
    let sys = find_mount(&m, "/sys").unwrap();
    assert!(sys.has_opt("ro"), "/sys must be read-only: {sys:?}");
    let dev = find_mount(&m, "/dev").unwrap();
    assert!(dev.has_super_opt("mode=755"), "{dev:?}");
}

#[test]
fn host_mounts_are_not_visible() {
    require_root!();
    let rt = Runtime::new("mounts_isolated");
    let b = rt.bundle();
    let r = rt.report(&b);
    let m = report_mounts(&r);
    // pivot_root done and the old root detached: only "/" and what the
    // config (plus masking/readonly handling) mounts below /proc /dev /sys
    for e in &m {
        let mp = e.mount_point.as_str();
        let ok = mp == "/"
            || ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| mp == *p || mp.starts_with(&format!("{p}/")));
        assert!(ok, "unexpected mount {mp} in the container: {e:?}");
    }
    let root = find_mount(&m, "/").expect("a / mount");
    assert!(!root.has_opt("ro"), "root.readonly is false: {root:?}");
    // the probe's view of / is the fixture
    assert_eq!(r["exe"], "/bin/hull-probe");
}

#[test]
fn masked_paths() {
    require_root!();
    let rt = Runtime::new("masked");
    let script = "hull-probe read /proc/keys; hull-probe read /proc/timer_list; \
                  hull-probe ls /sys/firmware; hull-probe ls /proc/acpi";

    let mut b = rt.bundle();
    b.args(&["sh", "-c", script]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v.len(), 4, "{o}");
    assert_eq!(v[0]["ok"], true, "{}", v[0]);
    assert_eq!(v[0]["content"], "", "/proc/keys must read empty");
    assert_eq!(v[1]["ok"], true, "{}", v[1]);
    assert_eq!(v[1]["content"], "", "/proc/timer_list must read empty");
    assert_eq!(v[2]["ok"], true, "{}", v[2]);
    assert_eq!(v[2]["entries"], json!([]), "/sys/firmware must be empty");
    assert_eq!(v[3]["entries"], json!([]), "/proc/acpi must be empty");

    // control: without maskedPaths the same files have content
    let mut b = rt.bundle();
    b.linux()["maskedPaths"] = json!([]);
    b.args(&["sh", "-c", script]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_ne!(
        v[1]["content"], "",
        "control: /proc/timer_list has content unmasked"
    );
    assert_ne!(
        v[2]["entries"],
        json!([]),
        "control: /sys/firmware has entries unmasked"
    );
}

#[test]
fn missing_masked_and_readonly_paths_are_skipped() {
    require_root!();
    let rt = Runtime::new("masked_missing");
    let mut b = rt.bundle();
    let mut masked = default_masked_paths();
    masked.extend(MAYBE_MISSING_MASKED.iter().map(|s| s.to_string()));
    masked.push("/proc/hull-does-not-exist".into());
    b.linux()["maskedPaths"] = json!(masked);
    // same for readonlyPaths (runc's default has /proc/sysrq-trigger)
    let mut ro: Vec<String> = RUNC_READONLY_PATHS.iter().map(|s| s.to_string()).collect();
    ro.push("/proc/hull-does-not-exist-either".into());
    b.linux()["readonlyPaths"] = json!(ro);
    b.args(&[
        "sh",
        "-c",
        "hull-probe read /proc/keys; hull-probe stat /proc/hull-does-not-exist /proc/kcore",
    ]);
    assert!(masked.len() > default_masked_paths().len());
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["content"], "", "/proc/keys still masked: {}", v[0]);
    // nothing was created for the missing ones
    assert_eq!(
        v[1]["stat"]["/proc/hull-does-not-exist"]["errno"],
        libc::ENOENT,
        "{}",
        v[1]
    );
    if !std::path::Path::new("/proc/kcore").exists() {
        assert_eq!(
            v[1]["stat"]["/proc/kcore"]["errno"],
            libc::ENOENT,
            "{}",
            v[1]
        );
    }
}

#[test]
fn readonly_paths() {
    require_root!();
    let rt = Runtime::new("readonly_paths");
    // If /proc/sys were writable the write below would only re-set the
    // host's current hostname (a no-op even if the UTS namespace failed).
    let host_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host_hostname = host_hostname.trim().to_string();
    let mut b = rt.bundle();
    b.spec["hostname"] = json!(host_hostname);
    b.args(&[
        "sh",
        "-c",
        &format!("hull-probe write /proc/sys/kernel/hostname {host_hostname}; hull-probe report"),
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["ok"], false, "write to /proc/sys must fail: {}", v[0]);
    assert_eq!(v[0]["errno"], EROFS, "{}", v[0]);
    let m = report_mounts(&v[1]);
    let ro = default_readonly_paths();
    assert!(ro.iter().any(|p| p == "/proc/sys"));
    for p in &ro {
        let e = find_mount(&m, p).unwrap_or_else(|| panic!("readonly path {p} not mounted"));
        assert!(e.has_opt("ro"), "{p} must be mounted ro: {e:?}");
    }

    // control: without readonlyPaths, /proc/sys is plain /proc
    let mut b = rt.bundle();
    b.linux()["readonlyPaths"] = json!([]);
    let r = rt.report(&b);
    let m = report_mounts(&r);
    assert!(
        find_mount(&m, "/proc/sys").is_none(),
        "control: /proc/sys not a separate mount"
    );
}

#[test]
fn readonly_root() {
    require_root!();
    let rt = Runtime::new("readonly_root");
    let mut b = rt.bundle();
    b.spec["root"]["readonly"] = json!(true);
    b.args(&[
        "sh",
        "-c",
        "hull-probe write /hull-ro-probe x; hull-probe write /tmp/hull-ro-probe x; \
         hull-probe write /dev/shm/hull-rw-probe x; hull-probe report",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v.len(), 4, "{o}");
    assert_eq!(
        v[0]["errno"], EROFS,
        "writing / must fail with EROFS: {}",
        v[0]
    );
    assert_eq!(
        v[1]["errno"], EROFS,
        "/tmp is part of the ro root: {}",
        v[1]
    );
    assert_eq!(v[2]["ok"], true, "/dev/shm is its own rw tmpfs: {}", v[2]);
    let m = report_mounts(&v[3]);
    assert!(find_mount(&m, "/").unwrap().has_opt("ro"));
    assert!(!rootfs().join("hull-ro-probe").exists());

    // control: a writable (private) rootfs
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    b.args(&["hull-probe", "write", "/hull-rw-probe", "written"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.json()["ok"], true, "{o}");
    assert_eq!(
        std::fs::read_to_string(root.join("hull-rw-probe")).unwrap(),
        "written"
    );
}

#[test]
fn bind_mounts_ro_and_rw() {
    require_root!();
    let rt = Runtime::new("bind_mounts");
    let mut b = rt.bundle();
    let dir = b.host_dir("data");
    std::fs::write(dir.join("hello"), "hello from host").unwrap();
    b.add_mount(json!({
        "destination": "/mnt", "type": "bind", "source": dir.to_str().unwrap(),
        "options": ["rbind", "ro"]
    }));
    b.args(&[
        "sh",
        "-c",
        "hull-probe read /mnt/hello; hull-probe write /mnt/new x",
    ]);
    let o = rt.run(&b);
    o.ok();
    let v = o.json_all();
    assert_eq!(v[0]["content"], "hello from host", "{}", v[0]);
    assert_eq!(v[1]["errno"], EROFS, "ro bind mount: {}", v[1]);
    assert!(!dir.join("new").exists());

    let mut b = rt.bundle();
    b.bind(&dir, "/mnt");
    b.args(&["hull-probe", "write", "/mnt/new", "from container"]);
    let o = rt.run(&b);
    o.ok();
    assert_eq!(o.json()["ok"], true, "{o}");
    assert_eq!(
        std::fs::read_to_string(dir.join("new")).unwrap(),
        "from container"
    );
}

#[test]
fn tmpfs_mount_options() {
    require_root!();
    let rt = Runtime::new("tmpfs_opts");
    let mut b = rt.bundle();
    b.add_mount(json!({
        "destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "size=1m", "mode=700"]
    }));
    let r = rt.report(&b);
    let m = report_mounts(&r);
    let e = find_mount(&m, "/mnt").expect("/mnt mounted");
    assert_eq!(e.fs_type, "tmpfs");
    assert!(e.has_opt("nosuid") && e.has_opt("nodev"), "{e:?}");
    assert!(e.has_super_opt("size=1024k"), "{e:?}");
    assert!(e.has_super_opt("mode=700"), "{e:?}");
}

#[test]
fn bad_mount_fails() {
    require_root!();
    let rt = Runtime::new("bad_mount");
    let mut b = rt.bundle();
    b.add_mount(json!({
        "destination": "/mnt", "type": "hull-no-such-fs", "source": "none", "options": []
    }));
    let o = rt.run(&b);
    o.failed();
    assert!(parse_probe(&o.stdout).is_none());
    assert!(rt.list_ids().is_empty());
}

#[test]
fn tmpcopyup_starts_the_tmpfs_with_the_image_contents() {
    require_root!();
    let rt = Runtime::new("tmpcopyup");
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    std::fs::create_dir_all(root.join("opt/data/sub")).unwrap();
    std::fs::write(root.join("opt/data/sub/file"), "from-image").unwrap();
    std::os::unix::fs::symlink("sub/file", root.join("opt/data/link")).unwrap();
    b.add_mount(serde_json::json!({"destination": "/opt/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}));
    b.args(&["sh", "-c", "cat /opt/data/link; grep ' /opt/data ' /proc/self/mountinfo; echo new > /opt/data/sub/file"]);
    let o = rt.run(&b);
    o.ok();
    assert!(o.stdout.starts_with("from-image"), "{o:?}");
    assert!(o.stdout.contains("tmpfs"), "not a tmpfs: {o:?}");
    // writes went to the tmpfs, not the image
    assert_eq!(
        std::fs::read_to_string(root.join("opt/data/sub/file")).unwrap(),
        "from-image"
    );
}

#[test]
fn no_pivot_moves_the_rootfs_and_chroots() {
    require_root!();
    let rt = Runtime::new("no_pivot");
    let b = rt.bundle();
    let o = rt.spawn_run(&b, &["--no-pivot"]).wait(default_timeout());
    o.ok();
    let r = parse_probe(&o.stdout).expect("probe report");
    // The container's / is the rootfs (moved over the old root), and none
    // of the host's mounts besides it and the spec's are visible.
    let mounts = report_mounts(&r);
    let root = find_mount(&mounts, "/").expect("a / mount");
    assert!(
        root.root.ends_with("rootfs") || root.root == "/",
        "unexpected root {:?}",
        root.root
    );
    assert!(find_mount(&mounts, "/proc").is_some());
    assert!(
        mounts
            .iter()
            .all(|m| !m.mount_point.starts_with("/work")
                && !m.mount_point.starts_with("/tmp/hull-it")),
        "host mounts visible: {mounts:?}"
    );
    assert_eq!(r["hostname"], "hull-test");
}

/// A mount the test made on the host, detached again however it ends.
struct HostMount(std::path::PathBuf);

impl HostMount {
    fn sh(args: &[&str]) {
        let st = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?}");
    }
    fn shared_line(&self) -> Option<String> {
        let p = self.0.to_string_lossy().into_owned();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .rev()
            .find(|l| l.split(' ').nth(4) == Some(p.as_str()))
            .map(String::from)
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// pivot_root refuses a new root whose parent mount is shared, so the init
/// makes the mount holding the rootfs private in its own namespace: that
/// is the rootfs itself when it is a mount point (podman's overlay), else
/// the nearest mount above it. Either way the host's mount stays shared.
#[test]
fn rootfs_held_by_a_shared_mount() {
    require_root!();
    let rt = Runtime::new("root_holder");
    // The rootfs is a shared mount point of its own.
    let mut b = rt.bundle();
    let root = b.private_rootfs();
    let r = root.to_string_lossy().into_owned();
    HostMount::sh(&["--bind", &r, &r]);
    let held = HostMount(root.clone());
    HostMount::sh(&["--make-shared", &r]);
    // The rootfs two directories below a shared tmpfs.
    let mut nested = rt.bundle();
    let holder = nested.host_dir("holder");
    let h = holder.to_string_lossy().into_owned();
    HostMount::sh(&["-t", "tmpfs", "-o", "size=64m", "tmpfs", &h]);
    let tmpfs = HostMount(holder.clone());
    HostMount::sh(&["--make-shared", &h]);
    std::fs::create_dir_all(holder.join("a")).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(rootfs())
        .arg(holder.join("a/rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(holder.join("a/rootfs/.hull-nested"), "").unwrap();
    nested.spec["root"]["path"] = json!(holder.join("a/rootfs").to_string_lossy());

    let marker = format!("/.hull-marker-{}", b.id);
    for (b, marker, mount) in [
        (&mut b, marker, &held),
        (&mut nested, "/.hull-nested".to_string(), &tmpfs),
    ] {
        b.args(&[
            "sh",
            "-c",
            &format!("hull-probe stat {marker}; hull-probe report"),
        ]);
        let o = rt.run(b);
        o.ok();
        let v = o.json_all();
        assert_eq!(v.len(), 2, "{o}");
        assert_eq!(
            v[0]["stat"][marker.as_str()]["type"],
            "file",
            "{marker} is in the container's root: {}",
            v[0]
        );
        let line = mount.shared_line().expect("the host mount is still there");
        assert!(
            line.split(" - ").next().unwrap().contains(" shared:"),
            "the host's mount stays shared: {line}"
        );
    }
}
