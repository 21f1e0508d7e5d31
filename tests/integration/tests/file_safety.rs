//! Files hull keeps and files it writes for its caller, attacked by another
//! local user: one who reads the state root (a container's environment
//! holds its secrets), and one who owns the directory of a path given to
//! hull (`--pid-file`, `--log`, `--console-socket`, a checkpoint's images)
//! and plants symlinks there for a root-run hull to write through.
//!
//! The attacker is uid 65534, each of its steps a process of its own.

use std::{
    fs,
    os::unix::{
        fs::{MetadataExt, PermissionsExt},
        net::UnixListener,
        process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use hull_integration::*;
use serde_json::json;

const ATTACKER: u32 = 65534;
const PRECIOUS: &str = "root's own content\n";

/// Runs `cmd args` as the attacker (no supplementary groups).
fn as_attacker(cmd: &str, args: &[&Path]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .uid(ATTACKER)
        .gid(ATTACKER)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd} as uid {ATTACKER}: {e}"))
}

/// The attacker's directory (owned by it, 0755) and a root-owned file it
/// would like hull to overwrite.
fn attacker_dir(rt: &Runtime) -> (PathBuf, PathBuf) {
    let dir = rt.base.join("attacker");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(ATTACKER), Some(ATTACKER)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let victim = rt.base.join("victim");
    write_file(&victim, PRECIOUS, 0o644);
    (dir, victim)
}

/// The attacker's `ln -s target link`.
#[track_caller]
fn plant_symlink(target: &Path, link: &Path) {
    let o = as_attacker("ln", &[Path::new("-s"), target, link]);
    assert!(
        o.status.success(),
        "planting {}: {}",
        link.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[track_caller]
fn assert_untouched(victim: &Path) {
    assert_eq!(
        fs::read_to_string(victim).unwrap(),
        PRECIOUS,
        "hull wrote through a planted symlink into {}",
        victim.display()
    );
}

/// A container's env is in config.json and state.json: another user must
/// not read them, nor list the root, even where the root was left open
/// (the harness makes it 0755, as an older hull did).
#[test]
fn other_users_cannot_read_a_containers_config_or_state() {
    require_root!();
    let rt = Runtime::new("state_secrets");
    fs::set_permissions(&rt.root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut b = rt.bundle();
    let secret = format!("hull-secret-{}", std::process::id());
    b.process()["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("API_TOKEN={secret}")));
    b.args(&["hull-probe", "sleep", "60"]);
    b.write_config();
    rt.track(&b.id);
    let log = rt.base.join("io").join("secrets.log");
    let dir = b.dir.to_string_lossy().into_owned();
    rt.exec(&[
        "--log",
        &log.to_string_lossy(),
        "create",
        "--bundle",
        &dir,
        &b.id,
    ])
    .ok();

    let state = rt.state_dir(&b.id);
    assert_eq!(mode(&rt.root), 0o700, "the state root");
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("tightening it to 700"),
        "no warning about the open root in {}",
        log.display()
    );
    assert_eq!(mode(&state), 0o711, "the container's dir");
    for f in ["config.json", "state.json"] {
        assert_eq!(mode(&state.join(f)), 0o600, "{f}");
    }
    assert!(
        fs::read_to_string(state.join("config.json"))
            .unwrap()
            .contains(&secret),
        "config.json does not hold the env: the attack below would prove nothing"
    );
    // The runtime's user still sees it.
    assert_eq!(rt.state_ok(&b.id)["status"], "created");
    assert!(rt.list_ids().contains(&b.id));

    for f in ["config.json", "state.json"] {
        let o = as_attacker("cat", &[&state.join(f)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("Permission denied"),
            "uid {ATTACKER} read {f}: {err}"
        );
        assert!(!String::from_utf8_lossy(&o.stdout).contains(&secret));
    }
    for d in [&rt.root, &state] {
        let o = as_attacker("ls", &[d]);
        assert!(
            !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
            "uid {ATTACKER} listed {}: {}",
            d.display(),
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// `--pid-file DIR/x.pid` where the attacker owns DIR and has planted
/// symlinks to a root-owned file at every name hull or runc ever used for
/// the temporary file, and at the pid file's own name.
#[test]
fn pid_file_never_writes_through_planted_symlinks() {
    require_root!();
    let rt = Runtime::new("pidfile_plant");
    let (dir, victim) = attacker_dir(&rt);
    let planted = ["x.pid.tmp", ".x.pid", "x.pid"];
    for name in planted {
        plant_symlink(&victim, &dir.join(name));
    }
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    let pid_file = dir.join("x.pid");
    rt.create_as(&b, &b.id, &["--pid-file", &pid_file.to_string_lossy()])
        .ok();

    assert_untouched(&victim);
    let meta = fs::symlink_metadata(&pid_file).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the pid file is not a regular file: {:?}",
        meta.file_type()
    );
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Only the attacker's other links are left: no temporary file of hull's.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![".x.pid", "x.pid", "x.pid.tmp"]);
}

/// `--log DIR/hull.log` where the attacker owns DIR and made hull.log a
/// symlink to a root-owned file: hull's error lines must not land there.
/// A plain log file in the same directory is still written.
#[test]
fn log_file_symlink_in_another_users_directory_is_not_followed() {
    require_root!();
    let rt = Runtime::new("log_plant");
    let (dir, victim) = attacker_dir(&rt);
    let link = dir.join("hull.log");
    plant_symlink(&victim, &link);
    let o = rt.exec(&[
        "--log",
        &link.to_string_lossy(),
        "state",
        "no-such-container",
    ]);
    o.failed();
    assert_untouched(&victim);
    assert!(
        o.stderr.contains("symbolic link"),
        "the refused log is not reported: {o}"
    );

    let plain = dir.join("plain.log");
    rt.exec(&[
        "--log",
        &plain.to_string_lossy(),
        "state",
        "no-such-container",
    ])
    .failed();
    assert!(
        fs::read_to_string(&plain)
            .unwrap()
            .contains("no-such-container"),
        "the log in a plain file is missing"
    );
}

/// `--console-socket DIR/console.sock` where the attacker owns DIR and
/// made it a symlink to a socket only root can reach: hull must not
/// connect there (and hand over a pty master).
#[test]
fn console_socket_symlink_in_another_users_directory_is_not_followed() {
    require_root!();
    let rt = Runtime::new("console_plant");
    let (dir, _) = attacker_dir(&rt);
    let private = rt.base.join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let service = UnixListener::bind(private.join("service.sock")).unwrap();
    service.set_nonblocking(true).unwrap();
    let link = dir.join("console.sock");
    plant_symlink(&private.join("service.sock"), &link);
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    b.process()["terminal"] = json!(true);
    let o = rt.create_as(&b, &b.id, &["--console-socket", &link.to_string_lossy()]);
    o.failed();
    assert!(
        o.stderr.contains("console.sock") && o.stderr.contains("symbolic link"),
        "{o}"
    );
    match service.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("hull connected to the socket behind the planted link: {other:?}"),
    }
    assert!(
        !rt.state_dir(&b.id).exists(),
        "the failed create left its state dir"
    );
}

/// The CRIU binary: `HULL_CRIU`, else `criu` on PATH (refusing a
/// directory needs only CRIU's version, which any CRIU reports).
fn any_criu() -> Option<String> {
    if let Some(c) = std::env::var("HULL_CRIU").ok().filter(|c| !c.is_empty()) {
        return Some(c);
    }
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("criu"))
            .find(|c| c.exists())
    });
    if found.is_none() {
        eprintln!(
            "note: skipping the checkpoint directory checks: no CRIU (HULL_CRIU or criu on PATH)"
        );
    }
    found.map(|c| c.to_string_lossy().into_owned())
}

/// Checkpoint images go only into a directory that is hull's own: not
/// through the attacker's symlink to a root-only directory, and not into
/// a directory the attacker owns (where CRIU, as root, would write by
/// name through whatever the attacker plants next).
#[test]
fn checkpoint_images_never_go_into_another_users_directory() {
    require_root!();
    let Some(criu) = any_criu() else { return };
    let rt = Runtime::new("ckpt_plant");
    let (dir, _) = attacker_dir(&rt);
    let target = rt.base.join("root-only");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
    plant_symlink(&target, &dir.join("images"));
    let own = dir.join("own");
    assert!(as_attacker("mkdir", &[&own]).status.success());
    let mut b = rt.bundle();
    b.args(&["hull-probe", "sleep", "60"]);
    rt.create(&b).ok();
    rt.start(&b.id).ok();

    for (images, want) in [
        (dir.join("images"), "symbolic link"),
        (own.clone(), "owned by uid 65534"),
    ] {
        let o = rt.exec(&[
            "--criu",
            &criu,
            "checkpoint",
            "--image-path",
            &images.to_string_lossy(),
            &b.id,
        ]);
        o.failed();
        assert!(
            o.stderr.contains(want),
            "checkpoint into {}: {o}",
            images.display()
        );
    }
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "checkpoint wrote into the directory behind the planted link"
    );
    assert_eq!(
        fs::read_dir(&own).unwrap().count(),
        0,
        "checkpoint wrote into the attacker's directory"
    );
    assert_eq!(rt.status(&b.id), "running");
    // The link is still the attacker's; hull made nothing in its place.
    assert!(fs::symlink_metadata(dir.join("images"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::metadata(&own).unwrap().uid(), ATTACKER);
}
