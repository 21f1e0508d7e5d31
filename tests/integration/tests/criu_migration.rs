//! Migration with CRIU: lazy pages between two state roots over loopback,
//! plain page servers, and pre-dump chains with `--auto-dedup`.
//!
//! The workload is `hull-probe memory`: a buffer whose every page carries
//! the pattern of the current round, checked and rewritten each round,
//! with `round=R bad=B` in a bind-mounted status file. After a restore the
//! round goes on from where it stopped and B stays 0 only if every page of
//! the buffer came back as it was. Which CRIU: see
//! [`hull_integration::criu`].

use hull_integration::{criu::*, *};
use std::{
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// MiB of memory the workload holds.
const MIB: u64 = 16;

/// A bundle running the memory workload, its status file in `<data>`.
fn memory_bundle(rt: &Runtime) -> (Bundle, PathBuf) {
    let mut b = rt.bundle();
    b.private_rootfs();
    let data = b.host_dir("data");
    b.bind(&data, "/data");
    b.args(&["hull-probe", "memory", &MIB.to_string(), "/data/status"]);
    b.linux()["resources"]["pids"] = json!({"limit": 20});
    b.write_config();
    rt.track(&b.id);
    (b, data)
}

/// (round, bad pages) from the workload's status file.
fn status(data: &Path) -> (u64, u64) {
    let s = std::fs::read_to_string(data.join("status")).unwrap_or_default();
    let field = |k: &str| {
        s.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("round="), field("bad="))
}

/// Waits until the round passes `n`; returns (round, bad).
#[track_caller]
fn wait_round_above(data: &Path, n: u64) -> (u64, u64) {
    let deadline = Instant::now() + default_timeout();
    loop {
        let s = status(data);
        if s.0 > n {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the workload stayed at round {}, expected it above {n}",
            s.0
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback TCP port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The local addresses (as /proc/net/tcp{,6} writes them) of the sockets
/// listening on `port` in this network namespace.
fn listeners(port: u16) -> Vec<String> {
    let mut v = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for l in text.lines().skip(1) {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            if *state == "0A" && local.ends_with(&format!(":{port:04X}")) {
                v.push(local.rsplit_once(':').unwrap().0.to_owned());
            }
        }
    }
    v
}

/// Total size in bytes of the memory pages in an image dir: what CRIU
/// wrote as pages-*.img, counted in allocated blocks (auto-dedup punches
/// holes, which leave the apparent size as it was).
fn pages_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pages-"))
        .map(|e| e.metadata().map(|m| m.blocks() * 512).unwrap_or(0))
        .sum()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just opened and are owned by nothing else.
    unsafe {
        (
            std::os::fd::FromRawFd::from_raw_fd(fds[0]),
            std::os::fd::FromRawFd::from_raw_fd(fds[1]),
        )
    }
}

/// The first byte that arrives on `r`, or None at EOF. (hull keeps the
/// status fd open until it exits, which after a lazy dump is only once
/// the pages have gone: readers take one byte, as runc's do.)
fn read_byte(r: OwnedFd) -> Option<u8> {
    use std::io::Read;
    let mut b = [0u8; 1];
    match std::fs::File::from(r).read(&mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `checkpoint --lazy-pages --page-server PS --status-fd 3` of `id` into
/// `img`, in the background; with the read end of the status fd (`fd`
/// placed at 3 instead when given).
fn spawn_lazy_checkpoint(
    rt: &Runtime,
    criu: &str,
    ps: &str,
    img: &Path,
    id: &str,
    fd: Option<std::os::fd::BorrowedFd<'_>>,
) -> (Spawned, OwnedFd) {
    let (ready_r, ready_w) = pipe();
    let fd = fd.unwrap_or(ready_w.as_fd());
    let cpt = rt.spawn_adjusted(
        &[
            "--criu",
            criu,
            "checkpoint",
            "--lazy-pages",
            "--page-server",
            ps,
            "--status-fd",
            "3",
            "--image-path",
            &s(img),
            id,
        ],
        None,
        "lazy-checkpoint",
        |c| place_fd(c, fd, 3),
    );
    (cpt, ready_r)
}

/// `restore -d --image-path IMG --bundle DIR [extra] ID`: (success, stderr).
fn restore_detached(
    rt: &Runtime,
    criu: &str,
    img: &Path,
    b: &Bundle,
    extra: &[&str],
) -> (bool, String) {
    let (img, dir) = (s(img), s(&b.dir));
    let mut a = vec!["restore", "-d", "--image-path", &img, "--bundle", &dir];
    a.extend_from_slice(extra);
    a.push(&b.id);
    hull(rt, criu, &a)
}

/// Whether CRIU can serve lazy pages here: its page server needs pipes of
/// 819 pages, above fs.pipe-max-size unless it has CAP_SYS_RESOURCE (which
/// the hosts these tests run on withhold). Where it cannot, checks that
/// hull refuses `--lazy-pages` saying so before anything is frozen, prints
/// which checks that replaces, and returns false. `HULL_EXPECT_LAZY=1`
/// (the tests/vm guest) makes that branch a failure.
fn lazy_pages_possible(rt: &Runtime, criu: &str, b: &Bundle, data: &Path, test: &str) -> bool {
    const NEED: u64 = (8 * 4096 / 40) * 4096;
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if max >= NEED || host_has_cap(24) {
        return true;
    }
    assert!(
        std::env::var("HULL_EXPECT_LAZY").as_deref() != Ok("1"),
        "HULL_EXPECT_LAZY=1 but fs.pipe-max-size is {max} and there is no CAP_SYS_RESOURCE"
    );
    eprintln!(
        "note: {test}: fs.pipe-max-size is {max} (CRIU's page server needs {NEED}) and this \
         process lacks CAP_SYS_RESOURCE: checking that --lazy-pages is refused instead \
         (the migration itself runs in the tests/vm guest)"
    );
    let img = rt.base.join("refused-img");
    let (ok, err) = hull(
        rt,
        criu,
        &[
            "checkpoint",
            "--lazy-pages",
            "--page-server",
            &format!("127.0.0.1:{}", free_port()),
            "--image-path",
            &s(&img),
            &b.id,
        ],
    );
    assert!(
        !ok && err.contains("--lazy-pages") && err.contains("pipe-max-size"),
        "{err}"
    );
    assert!(!img.join("inventory.img").exists(), "dumped anyway");
    assert_eq!(rt.status(&b.id), "running");
    let (r, _) = status(data);
    assert_eq!(wait_round_above(data, r).1, 0);
    assert!(criu_processes(&rt.base).is_empty());
    false
}

/// A lazy migration on this machine: the container dumped in one state
/// root with its memory left behind a page server on 127.0.0.1, restored
/// in another root whose images hold none of that memory; the pages come
/// over loopback through `criu lazy-pages`, and the workload finds every
/// page of its buffer as it was.
#[test]
fn lazy_migration_between_two_roots_over_loopback() {
    require_root!();
    let Some(criu) = criu() else { return };
    let src = Runtime::new("criu_lazy_src");
    let dst = Runtime::new("criu_lazy_dst");
    let (b, data) = memory_bundle(&src);
    run_detached(&src, &criu, &b);
    wait_round_above(&data, 2);
    if !lazy_pages_possible(&src, &criu, &b, &data, "lazy migration") {
        src.delete_force(&b.id).ok();
        return;
    }

    // Checkpoint: returns only once the restoring side has every page.
    let port = free_port();
    let ps = format!("127.0.0.1:{port}");
    let img = src.base.join("img");
    let (cpt, ready_r) = spawn_lazy_checkpoint(&src, &criu, &ps, &img, &b.id, None);
    let ready = read_byte(ready_r);
    assert_eq!(
        ready,
        Some(0),
        "--status-fd got {ready:?}, not the ready byte; checkpoint: {}",
        std::fs::read_to_string(src.base.join("io/lazy-checkpoint.err")).unwrap_or_default()
    );
    // The memory is offered on loopback only; the workload is stopped.
    assert_eq!(
        listeners(port),
        ["0100007F"],
        "the page server must listen on 127.0.0.1 only"
    );
    let (frozen, _) = status(&data);

    // The destination: its own copy of the images, a lazy-pages daemon
    // pulling from the page server, and a restore in another root.
    let dimg = dst.base.join("img");
    let cp = Command::new("cp")
        .args(["-a", &s(&img), &s(&dimg)])
        .status()
        .unwrap();
    assert!(cp.success());
    let in_images = pages_bytes(&dimg);
    assert!(
        in_images < MIB * 1024 * 1024 / 4,
        "the images hold {in_images} bytes of pages: the buffer was not left to the page server"
    );
    let mut lp = Command::new(&criu);
    lp.args([
        "lazy-pages",
        "--page-server",
        "--address",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--images-dir",
        &s(&dimg),
        "-o",
        "lazy-pages.log",
        "-v4",
    ]);
    let mut lp = Background::new(lp, "criu lazy-pages");
    wait_for_path(&dimg.join("lazy-pages.socket"));

    let mut db = dst.bundle();
    db.spec["root"]["path"] = json!(s(&b.dir.join("rootfs")));
    db.bind(&data, "/data");
    db.args(&["hull-probe", "memory", &MIB.to_string(), "/data/status"]);
    db.write_config();
    dst.track(&db.id);
    let (ok, err) = restore_detached(&dst, &criu, &dimg, &db, &["--lazy-pages"]);
    assert!(
        ok,
        "restore --lazy-pages: {err}\nlazy-pages.log:\n{}\ndump.log:\n{}",
        std::fs::read_to_string(dimg.join("lazy-pages.log")).unwrap_or_default(),
        std::fs::read_to_string(img.join("dump.log")).unwrap_or_default()
    );
    assert_eq!(dst.status(&db.id), "running");

    // Two whole rounds after the restore: every page was read and checked.
    let (round, bad) = wait_round_above(&data, frozen + 2);
    assert!(
        round < frozen + 1000,
        "round {frozen} -> {round}: the workload started over"
    );
    assert_eq!(
        bad, 0,
        "pages of the buffer differed after the lazy restore"
    );
    let o = dst.exec(&["exec", &db.id, "cat", "/proc/1/cmdline"]);
    o.ok();
    assert!(o.stdout.contains("memory"), "pid 1: {:?}", o.stdout);

    let st = lp.wait();
    assert!(
        st.success(),
        "criu lazy-pages: {st} (log {})",
        dimg.join("lazy-pages.log").display()
    );
    cpt.wait(default_timeout()).ok();
    assert_eq!(src.status(&b.id), "stopped", "the source after migration");
    assert!(listeners(port).is_empty(), "the page server still listens");
    assert!(criu_processes(&src.base).is_empty() && criu_processes(&dst.base).is_empty());

    dst.delete_force(&db.id).ok();
    src.delete_force(&b.id).ok();
    assert!(dst.cgroup_dirs(&db).is_empty() && src.cgroup_dirs(&b).is_empty());
}

/// A lazy dump whose page server cannot listen (the port is taken) fails
/// naming CRIU's log; the container runs on, the status fd closes without
/// the ready byte, and no CRIU is left.
#[test]
fn lazy_checkpoint_that_cannot_listen_fails_cleanly() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_lazy_busy");
    let (b, data) = memory_bundle(&rt);
    run_detached(&rt, &criu, &b);
    wait_round_above(&data, 1);
    if !lazy_pages_possible(&rt, &criu, &b, &data, "busy page server port") {
        rt.delete_force(&b.id).ok();
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ps = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    let img = rt.base.join("img");
    let (cpt, ready_r) = spawn_lazy_checkpoint(&rt, &criu, &ps, &img, &b.id, None);
    assert!(
        read_byte(ready_r).is_none(),
        "a ready byte for a page server that never listened"
    );
    let o = cpt.wait(default_timeout());
    assert!(
        !o.success() && o.stderr.contains("CRIU dump failed") && o.stderr.contains("dump.log"),
        "{}",
        o.stderr
    );
    assert_eq!(rt.status(&b.id), "running");
    let (r, _) = status(&data);
    let (_, bad) = wait_round_above(&data, r);
    assert_eq!(bad, 0);
    assert!(criu_processes(&rt.base).is_empty(), "CRIU left running");
    rt.delete_force(&b.id).ok();
}

/// Bad migration options are refused naming the flag, before CRIU runs
/// (checkpoint) or anything is made (restore).
#[test]
fn migration_options_errors_name_the_flag() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_lazy_flags");
    let (b, data) = memory_bundle(&rt);
    run_detached(&rt, &criu, &b);
    wait_round_above(&data, 1);
    let img = rt.base.join("img");
    std::fs::write(rt.base.join("a-file"), "").unwrap();
    let img_s = s(&img);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--page-server", "127.0.0.1"],
            &["--page-server", "no port"],
        ),
        (
            &["--page-server", "localhost:27"],
            &["--page-server", "not an IP address"],
        ),
        (
            &["--page-server", "127.0.0.1:0"],
            &["--page-server", "port"],
        ),
        (&["--lazy-pages"], &["--lazy-pages", "--page-server"]),
        (
            &[
                "--lazy-pages",
                "--page-server",
                "127.0.0.1:9",
                "--status-fd",
                "77",
            ],
            &["--status-fd", "77"],
        ),
        (
            &["--parent-path", "/abs/prev"],
            &["--parent-path", "relative"],
        ),
        (
            &["--parent-path", "../missing"],
            &["--parent-path", "missing"],
        ),
        (
            &["--parent-path", "../a-file"],
            &["--parent-path", "not a directory"],
        ),
    ];
    for (extra, want) in cases {
        let mut a = vec!["checkpoint", "--image-path", &img_s];
        a.extend_from_slice(extra);
        a.push(&b.id);
        let (ok, err) = hull(&rt, &criu, &a);
        assert!(!ok, "{extra:?} was accepted");
        for w in *want {
            assert!(err.contains(w), "{extra:?}: {err:?} does not say {w:?}");
        }
        assert_eq!(rt.status(&b.id), "running", "{extra:?}");
    }
    // --status-fd open for reading only.
    let (r, _w) = pipe();
    let (cpt, _) = spawn_lazy_checkpoint(&rt, &criu, "127.0.0.1:9", &img, &b.id, Some(r.as_fd()));
    let o = cpt.wait(default_timeout());
    assert!(
        !o.success()
            && o.stderr.contains("--status-fd")
            && o.stderr.contains("not open for writing"),
        "{}",
        o.stderr
    );
    assert!(
        !img.join("inventory.img").exists(),
        "a refused checkpoint dumped anyway"
    );
    assert!(criu_processes(&rt.base).is_empty());
    rt.delete_force(&b.id).ok();

    // A lazy restore without a lazy-pages daemon: nothing is made.
    std::fs::create_dir_all(&img).unwrap();
    let (ok, err) = restore_detached(&rt, &criu, &img, &b, &["--lazy-pages"]);
    assert!(!ok);
    assert!(
        err.contains("--lazy-pages") && err.contains("lazy-pages.socket"),
        "{err}"
    );
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(rt.cgroup_dirs(&b).is_empty(), "cgroups left");
}

/// `--page-server` without `--lazy-pages` (runc's page-server dump): the
/// memory goes to a `criu page-server` on loopback, the rest to the image
/// dir; the two together restore the workload with its memory.
#[test]
fn page_server_dump_sends_the_memory_there() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_page_server");
    let (b, data) = memory_bundle(&rt);
    run_detached(&rt, &criu, &b);
    wait_round_above(&data, 1);
    let port = free_port();
    let pimg = rt.base.join("pages");
    std::fs::create_dir(&pimg).unwrap();
    let mut server = Command::new(&criu);
    server.args([
        "page-server",
        "--address",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--images-dir",
        &s(&pimg),
        "-o",
        "page-server.log",
        "-v4",
    ]);
    let mut server = Background::new(server, "criu page-server");
    let deadline = Instant::now() + default_timeout();
    while listeners(port).is_empty() {
        assert!(Instant::now() < deadline, "criu page-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let img = rt.base.join("img");
    hull_ok(
        &rt,
        &criu,
        &[
            "checkpoint",
            "--page-server",
            &format!("127.0.0.1:{port}"),
            "--image-path",
            &s(&img),
            &b.id,
        ],
    );
    assert!(server.wait().success(), "criu page-server failed");
    let (frozen, _) = status(&data);
    assert!(
        pages_bytes(&pimg) >= MIB * 1024 * 1024,
        "the page server got {} bytes",
        pages_bytes(&pimg)
    );
    assert_eq!(pages_bytes(&img), 0, "pages in the image dir");
    for e in std::fs::read_dir(&pimg).unwrap().flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().ends_with(".log") {
            std::fs::copy(e.path(), img.join(&name)).unwrap();
        }
    }
    let (ok, err) = restore_detached(&rt, &criu, &img, &b, &[]);
    assert!(ok, "restore: {err}");
    let (round, bad) = wait_round_above(&data, frozen + 2);
    assert!(round < frozen + 1000, "round {frozen} -> {round}");
    assert_eq!(bad, 0);
    rt.delete_force(&b.id).ok();
}

/// Whether CRIU can track dirty memory here (soft-dirty bits), which
/// pre-dumps and dumps on a parent need.
fn dirty_tracking(criu: &str) -> bool {
    Command::new(criu)
        .args(["check", "--feature", "mem_dirty_track"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two pre-dumps and a final dump, each on the one before
/// (`--parent-path ../prev`): the restore has the state of the final
/// dump. With `--auto-dedup` each dump punches the pages it takes again
/// out of its parent's images; without, the parent keeps them.
///
/// Needs soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY). Where the kernel has
/// none, both flags must fail naming themselves instead; the QEMU guest
/// (tests/vm, Debian's kernel) runs the chain, with
/// `HULL_EXPECT_DIRTY_TRACKING=1` so that it cannot pass by that branch.
#[test]
fn pre_dump_chain_restores_and_auto_dedup_shrinks_parents() {
    require_root!();
    let Some(criu) = criu() else { return };
    let rt = Runtime::new("criu_chain");
    let (b, data) = memory_bundle(&rt);
    run_detached(&rt, &criu, &b);
    wait_round_above(&data, 1);
    let chain = rt.base.join("chain");
    let dir = |n: &str| s(&chain.join(n));

    if !dirty_tracking(&criu) {
        assert!(
            std::env::var("HULL_EXPECT_DIRTY_TRACKING").as_deref() != Ok("1"),
            "HULL_EXPECT_DIRTY_TRACKING=1 but CRIU reports no dirty tracking"
        );
        eprintln!(
            "note: pre-dump chain: CRIU reports no soft-dirty tracking on this kernel; \
             checking that --pre-dump and --parent-path are refused naming themselves instead \
             (the chain itself runs in the tests/vm guest)"
        );
        let (ok, err) = hull(
            &rt,
            &criu,
            &[
                "checkpoint",
                "--pre-dump",
                "--image-path",
                &dir("pre1"),
                &b.id,
            ],
        );
        assert!(
            !ok && err.contains("--pre-dump") && err.contains("memory tracking"),
            "{err}"
        );
        std::fs::create_dir_all(chain.join("pre0")).unwrap();
        let (ok, err) = hull(
            &rt,
            &criu,
            &[
                "checkpoint",
                "--parent-path",
                "../pre0",
                "--image-path",
                &dir("final"),
                &b.id,
            ],
        );
        assert!(
            !ok && err.contains("--parent-path") && err.contains("memory tracking"),
            "{err}"
        );
        assert_eq!(rt.status(&b.id), "running");
        assert!(criu_processes(&rt.base).is_empty());
        rt.delete_force(&b.id).ok();
        return;
    }

    // pre-dump NAME [--parent-path ../PARENT] [--auto-dedup], then waits
    // for a whole round, so that every page is dirty again.
    let pre_dump = |name: &str, extra: &[&str]| {
        let image = dir(name);
        let mut a = vec!["checkpoint", "--pre-dump", "--image-path", &image];
        a.extend_from_slice(extra);
        a.push(&b.id);
        hull_ok(&rt, &criu, &a);
        assert_eq!(rt.status(&b.id), "running", "after pre-dump {name}");
        let (r, _) = status(&data);
        wait_round_above(&data, r + 1);
    };

    // Without --auto-dedup the parent keeps its pages.
    pre_dump("plain1", &[]);
    let plain1 = pages_bytes(&chain.join("plain1"));
    assert!(plain1 >= MIB * 1024 * 1024, "plain1 holds {plain1} bytes");
    pre_dump("plain2", &["--parent-path", "../plain1"]);
    assert!(pages_bytes(&chain.join("plain2")) >= MIB * 1024 * 1024);
    assert_eq!(pages_bytes(&chain.join("plain1")), plain1, "plain1 changed");

    // With --auto-dedup every parent loses the pages its child took again.
    pre_dump("pre1", &[]);
    let pre1 = pages_bytes(&chain.join("pre1"));
    pre_dump("pre2", &["--parent-path", "../pre1", "--auto-dedup"]);
    let pre1_after = pages_bytes(&chain.join("pre1"));
    let pre2 = pages_bytes(&chain.join("pre2"));
    assert!(
        pre1_after < pre1 / 4,
        "pre1's pages: {pre1} -> {pre1_after} bytes after a dump on top of it with --auto-dedup"
    );
    hull_ok(
        &rt,
        &criu,
        &[
            "checkpoint",
            "--parent-path",
            "../pre2",
            "--auto-dedup",
            "--image-path",
            &dir("final"),
            &b.id,
        ],
    );
    let pre2_after = pages_bytes(&chain.join("pre2"));
    assert!(
        pre2_after < pre2 / 4,
        "pre2's pages: {pre2} -> {pre2_after} bytes after the final dump with --auto-dedup"
    );
    assert_eq!(
        std::fs::read_link(chain.join("final").join("parent")).unwrap(),
        Path::new("../pre2"),
        "the final dump's parent link"
    );
    assert_eq!(rt.status(&b.id), "stopped");
    let (frozen, _) = status(&data);

    let (ok, err) = restore_detached(&rt, &criu, &chain.join("final"), &b, &[]);
    assert!(ok, "restore: {err}");
    let (round, bad) = wait_round_above(&data, frozen + 2);
    assert!(round < frozen + 1000, "round {frozen} -> {round}");
    assert_eq!(bad, 0, "pages differed after restoring the chain");
    rt.delete_force(&b.id).ok();
    assert!(rt.cgroup_dirs(&b).is_empty());
}
