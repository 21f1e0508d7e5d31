//! `hooks`: prestart, createRuntime, createContainer, startContainer,
//! poststart, poststop — when and where they run, what they get on stdin,
//! and what their failure does.
//!
//! Where hooks run (config.md):
//! * prestart, createRuntime, poststart, poststop: path resolved and
//!   executed in the runtime namespace (the host here).
//! * createContainer: path resolved in the *runtime* namespace but executed
//!   in the container namespace, before pivot_root — so it sees the host's
//!   file tree inside the container's mount namespace.
//! * startContainer: path resolved and executed in the container namespace
//!   (after pivot_root: the container's rootfs).

use hull_integration::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
const ORDER: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Shell snippet recording a hook run into `dir` (a path as the hook sees it).
fn record_script(kind: &str, dir: &str) -> String {
    format!(
        "cat > {dir}/{kind}.json && readlink /proc/self/ns/mnt > {dir}/{kind}.mntns \
         && echo \"$HULL_HOOK_VAR\" > {dir}/{kind}.env && echo {kind} >> {dir}/order"
    )
}

fn record_hook(kind: &str, dir: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", record_script(kind, dir)],
        "env": [format!("HULL_HOOK_VAR={kind}-env")]
    })
}

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{}: {e}: {s:?}", p.display()))
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn order(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn all_hooks_run_in_order_with_state_on_stdin() {
    require_root!();
    let rt = Runtime::new("hooks_all");
    let mut b = rt.bundle();
    let rootfs = b.private_rootfs();
    let out = b.host_dir("hookout");
    let out_s = out.to_str().unwrap().to_string();
    b.bind(&out, "/hookout");
    b.args(&["hull-probe", "sleep", "120"]);

    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        b.add_hook(kind, record_hook(kind, &out_s));
    }
    // createContainer: a path that exists only on the host (runtime
    // namespace); it writes to the host path of the output dir, which is
    // visible in the container's mount namespace before pivot_root.
    let cc = b.dir.join("create-container-hook.sh");
    write_file(
        &cc,
        &format!("#!/bin/sh\n{}\n", record_script("createContainer", &out_s)),
        0o755,
    );
    b.add_hook(
        "createContainer",
        json!({"path": cc.to_str().unwrap(), "env": ["HULL_HOOK_VAR=createContainer-env"]}),
    );
    // startContainer: a path that exists only in the container rootfs,
    // writing to the bind mount.
    write_file(
        &rootfs.join("start-container-hook.sh"),
        &format!(
            "#!/bin/sh\n{}\n",
            record_script("startContainer", "/hookout")
        ),
        0o755,
    );
    assert!(!Path::new("/start-container-hook.sh").exists());
    b.add_hook(
        "startContainer",
        json!({"path": "/start-container-hook.sh", "env": ["HULL_HOOK_VAR=startContainer-env"]}),
    );

    rt.create(&b).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap();
    let ctr_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_ne!(ctr_mnt, host_ns("mnt"));
    let after_create = order(&out);
    if is_runc() {
        // runc differs: runc 1.1 runs poststart hooks at the end of `create`
        // (before the user process has been executed), not during `start`.
        let without_poststart: Vec<&String> =
            after_create.iter().filter(|k| *k != "poststart").collect();
        assert_eq!(
            without_poststart,
            ["prestart", "createRuntime", "createContainer"],
            "after create"
        );
    } else {
        assert_eq!(
            after_create,
            ["prestart", "createRuntime", "createContainer"],
            "after create"
        );
    }

    rt.start(&b.id).ok();
    // poststart hooks run before `start` returns
    let after_start = order(&out);
    assert!(
        after_start.contains(&"poststart".to_string()),
        "{after_start:?}"
    );
    assert!(
        after_start.contains(&"startContainer".to_string()),
        "{after_start:?}"
    );
    assert!(!after_start.contains(&"poststop".to_string()));
    let status_at_poststart = rt.status(&b.id);
    assert_eq!(status_at_poststart, "running");

    rt.kill(&b.id, Some("KILL")).ok();
    rt.wait_status(&b.id, "stopped", T);
    assert!(
        !order(&out).contains(&"poststop".to_string()),
        "poststop before delete"
    );
    rt.delete(&b.id).ok();

    let got = order(&out);
    if is_runc() {
        // runc differs: runc runs poststart hooks during `create`, i.e.
        // before the startContainer hooks; the spec has startContainer before
        // the user process and poststart after it (during `start`).
        let mut a = got.clone();
        let mut e: Vec<String> = ORDER.iter().map(|s| s.to_string()).collect();
        a.sort();
        e.sort();
        assert_eq!(a, e, "hooks run: {got:?}");
        let pos = |k: &str| got.iter().position(|g| g == k).unwrap();
        assert!(pos("prestart") < pos("createRuntime"));
        assert!(pos("createRuntime") < pos("createContainer"));
        assert!(pos("createContainer") < pos("startContainer"));
        assert!(pos("createContainer") < pos("poststart"));
        assert_eq!(got.last().unwrap(), "poststop");
    } else {
        assert_eq!(got, ORDER, "hook order");
    }

    let host_mnt = host_ns("mnt");
    for kind in ORDER {
        let st = read_json(&out.join(format!("{kind}.json")));
        assert_eq!(st["id"], b.id.as_str(), "{kind}: {st}");
        assert_eq!(st["bundle"], b.dir.to_str().unwrap(), "{kind}: {st}");
        assert!(st["ociVersion"].is_string(), "{kind}: {st}");
        // The OCI State, as runc's specs.State: no more fields than these
        // (`state`'s rootfs, created and owner are not the hooks').
        for k in st.as_object().expect("a JSON object").keys() {
            assert!(
                ["ociVersion", "id", "status", "pid", "bundle", "annotations"]
                    .contains(&k.as_str()),
                "{kind}: field {k} is not in the OCI State: {st}"
            );
        }
        assert_eq!(
            read_trim(&out.join(format!("{kind}.env"))),
            format!("{kind}-env"),
            "{kind}: hook env"
        );
        let mnt = read_trim(&out.join(format!("{kind}.mntns")));
        match *kind {
            "createContainer" | "startContainer" => {
                assert_eq!(mnt, ctr_mnt, "{kind} must run in the container mount ns")
            }
            _ => assert_eq!(mnt, host_mnt, "{kind} must run in the runtime mount ns"),
        }
        let want_status = match *kind {
            "prestart" | "createRuntime" | "createContainer" => "creating",
            "startContainer" => "created",
            "poststart" => "running",
            _ => "stopped",
        };
        if *kind == "poststart" && is_runc() {
            // runc differs: runc passes status "created" to poststart hooks
            // (it runs them at create time, see above).
            assert!(
                st["status"] == "created" || st["status"] == "running",
                "{st}"
            );
        } else {
            assert_eq!(st["status"], want_status, "{kind}: {st}");
        }
        match *kind {
            "poststop" => {}
            "createContainer" | "startContainer" if is_runc() => {
                // runc differs: runc gives createContainer/startContainer
                // hooks the pid as seen inside the container (1), not as
                // seen by the host (runtime.md: state.pid).
                assert!(st["pid"] == 1 || st["pid"] == pid, "{kind}: {st}");
            }
            _ => assert_eq!(st["pid"], pid, "{kind}: pid as seen by the host: {st}"),
        }
    }
}

#[test]
fn hook_args_and_env_are_passed() {
    require_root!();
    let rt = Runtime::new("hooks_args");
    let mut b = rt.bundle();
    let out = b.host_dir("out");
    let f = out.join("args");
    b.add_hook(
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0|$1|$A|$B|$PATH\" > {}", f.display()), "first", "second"],
            "env": ["A=a value", "B=b", "PATH=/hull/none"]
        }),
    );
    b.args(&["hull-probe", "exit", "0"]);
    rt.run(&b).ok();
    assert_eq!(read_trim(&f), "first|second|a value|b|/hull/none");
}

#[test]
fn failing_create_runtime_hook_aborts_create() {
    require_root!();
    let rt = Runtime::new("hooks_cr_fail");
    let mut b = rt.bundle();
    b.private_rootfs();
    let out = b.host_dir("out");
    let marker = b.id.clone();
    b.args(&["hull-probe", "sleep", "120", &marker]);
    let o = out.to_str().unwrap();
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo 1 >> {o}/order")]}),
    );
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}),
    );
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo 3 >> {o}/order")]}),
    );
    b.add_hook(
        "createContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo cc >> {o}/order")]}),
    );
    b.add_hook(
        "poststop",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo poststop >> {o}/order")]}),
    );

    rt.create(&b).failed();
    // the failing hook stops the lifecycle: later hooks don't run, the
    // container is destroyed and poststop hooks run (runtime.md lifecycle
    // steps 4 → 12 → 13)
    assert_eq!(order(&out), ["1", "poststop"]);
    assert!(rt.list_ids().is_empty());
    rt.state(&b.id)
        .expect_err("no container after failed create");
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
    let left = wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "leftover processes: {left:?}");
    assert!(parse_probe(&rt.container_stdout(&b.id)).is_none());
}

/// With poststop hooks only, the init never waits for the runtime's
/// hooks phase; a create that fails after its mounts still ends the
/// lifecycle at delete, which runs them (as runc's destroy does).
#[test]
fn poststop_alone_runs_when_create_fails() {
    require_root!();
    let rt = Runtime::new("hooks_ps_alone");
    let mut b = rt.bundle();
    let out = b.host_dir("out");
    b.args(&["/no/such/program"]);
    let o = out.to_str().unwrap();
    b.add_hook(
        "poststop",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo poststop >> {o}/order")]}),
    );
    let failed = rt.create(&b);
    failed.failed();
    assert!(
        failed.stderr.contains("/no/such/program"),
        "the init's own error: {failed}"
    );
    assert_eq!(order(&out), ["poststop"]);
    assert!(!rt.state_dir(&b.id).exists(), "state dir left");
    assert!(
        rt.cgroup_dirs(&b).is_empty(),
        "cgroups left: {:?}",
        rt.cgroup_dirs(&b)
    );
}

#[test]
fn failing_start_container_hook_fails_start() {
    require_root!();
    let rt = Runtime::new("hooks_sc_fail");
    let mut b = rt.bundle();
    b.private_rootfs();
    let marker = b.id.clone();
    b.args(&["hull-probe", "report", &marker]);
    b.add_hook("startContainer", json!({"path": "/bin/false"}));
    rt.create(&b).ok();
    let pid = rt.state_ok(&b.id)["pid"].as_i64().unwrap() as i32;
    let o = rt.start(&b.id);
    if is_runc() {
        // runc differs: `runc start` only releases the init process, which
        // then runs the startContainer hooks; their failure isn't reported
        // (start exits 0). The spec says the runtime MUST generate an error.
        eprintln!("note: runc start doesn't report startContainer hook failure; assertion skipped");
    } else {
        o.failed();
    }
    // the user program never ran, the container process is gone
    assert!(
        parse_probe(&rt.container_stdout(&b.id)).is_none(),
        "{}",
        rt.container_stdout(&b.id)
    );
    let deadline = Instant::now() + T;
    while pid_alive(pid) {
        assert!(
            Instant::now() < deadline,
            "container process survived a failed startContainer hook"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(st) = rt.state(&b.id) {
        assert_eq!(st["status"], "stopped");
    }
    rt.delete_force(&b.id);
    assert!(rt.list_ids().is_empty());
    assert!(rt.cgroup_dirs(&b).is_empty());
}

#[test]
fn failing_poststart_hook_is_only_a_warning() {
    require_root!();
    let rt = Runtime::new("hooks_ps_fail");
    let mut b = rt.bundle();
    let out = b.host_dir("out");
    b.args(&["hull-probe", "sleep", "120"]);
    b.add_hook("poststart", json!({"path": "/bin/false"}));
    b.add_hook("poststart", json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo second > {}/ps2", out.display())]}));
    let o = rt.create(&b);
    if is_runc() {
        // runc differs: runc runs poststart hooks inside `create`, and a
        // failing one makes create fail and destroys the container; the spec
        // says the runtime MUST only log a warning and continue as if the
        // hook had succeeded.
        eprintln!("note: runc fails on poststart hook failure; assertions skipped");
        return;
    }
    o.ok();
    let started = rt.start(&b.id);
    started.ok();
    // Logged where a person sees it: stderr, since there is no --log.
    assert!(
        started
            .stderr
            .contains("hull: warning: hooks.poststart[0] \"/bin/false\""),
        "{started}"
    );
    assert_eq!(rt.status(&b.id), "running");
    assert_eq!(
        read_trim(&out.join("ps2")),
        "second",
        "remaining poststart hooks must run"
    );
    rt.delete_force(&b.id).ok();
}

#[test]
fn failing_poststop_hook_is_only_a_warning() {
    require_root!();
    let rt = Runtime::new("hooks_pst_fail");
    let mut b = rt.bundle();
    let out = b.host_dir("out");
    b.args(&["hull-probe", "exit", "0"]);
    b.add_hook("poststop", json!({"path": "/bin/false"}));
    b.add_hook("poststop", json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo second > {}/pst2", out.display())]}));
    rt.create(&b).ok();
    rt.start(&b.id).ok();
    rt.wait_status(&b.id, "stopped", T);
    rt.delete(&b.id).ok();
    assert!(rt.list_ids().is_empty());
    assert!(rt.cgroup_dirs(&b).is_empty());
    if is_runc() {
        // runc differs: runc stops at the first failing poststop hook; the
        // spec says the remaining hooks MUST still run.
        eprintln!("note: runc skips poststop hooks after a failing one; assertion skipped");
    } else {
        assert_eq!(
            read_trim(&out.join("pst2")),
            "second",
            "remaining poststop hooks must run"
        );
    }
}

#[test]
fn hook_timeout_aborts_create() {
    require_root!();
    let rt = Runtime::new("hooks_timeout");
    let mut b = rt.bundle();
    b.private_rootfs();
    let marker = format!("hull-hook-timeout-{}", b.id);
    // a bounded loop (~30 s), so nothing lingers for long even if the
    // runtime doesn't kill it; $0 carries the marker
    b.add_hook(
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", "i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done", &marker],
            "timeout": 1
        }),
    );
    let t0 = Instant::now();
    rt.create(&b).failed();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "create took {took:?} with a 1 s hook timeout"
    );
    assert!(rt.list_ids().is_empty());
    assert!(rt.cgroup_dirs(&b).is_empty());
    let left = wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "timed-out hook still running: {left:?}");
}

/// The timeout covers writing the state to the hook's stdin: a hook that
/// never reads a state larger than a pipe holds (1 MiB of annotations)
/// must not block create forever.
#[test]
fn hook_timeout_covers_writing_a_large_state() {
    require_root!();
    let rt = Runtime::new("hooks_timeout_stdin");
    let mut b = rt.bundle();
    b.private_rootfs();
    b.spec["annotations"] = json!({"big": "x".repeat(1 << 20)});
    // sleep's argument doubles as the marker for leftover processes.
    let marker = format!("1000.{}", std::process::id());
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sleep", "args": ["sleep", &marker], "timeout": 2}),
    );
    let o = rt.create(&b);
    o.failed();
    assert!(
        o.stderr
            .contains("hooks.createRuntime[0] \"/bin/sleep\": timed out after 2s"),
        "{o}"
    );
    assert!(
        !rt.state_dir(&b.id).exists(),
        "the state directory was left"
    );
    assert!(rt.cgroup_dirs(&b).is_empty(), "cgroups were left");
    let left = wait_no_leftovers(&marker, &b.dir, Duration::from_secs(5));
    assert!(left.is_empty(), "processes were left: {left:?}");
}

#[test]
fn hook_within_timeout_succeeds() {
    require_root!();
    let rt = Runtime::new("hooks_timeout_ok");
    let mut b = rt.bundle();
    let out = b.host_dir("out");
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("sleep 0.2; echo ok > {}/ok", out.display())], "timeout": 10}),
    );
    rt.report(&b);
    assert_eq!(read_trim(&out.join("ok")), "ok");
}

/// `env` output as a set of lines, without what the recording shell itself
/// exports (PWD, SHLVL, ...).
fn env_set(s: &str) -> BTreeSet<String> {
    s.lines()
        .filter(|l| !l.is_empty() && !is_shell_var(l))
        .map(String::from)
        .collect()
}

fn is_shell_var(kv: &str) -> bool {
    ["PWD=", "OLDPWD=", "SHLVL=", "_="]
        .iter()
        .any(|v| kv.starts_with(v))
}

/// A hook without `env` gets what runc 1.1 gives it (read from runc's
/// source and seen running it): prestart and createRuntime the runtime's
/// own environment, run from the bundle directory; createContainer, run
/// from the rootfs, also the runtime's (runc gives it the container's
/// process.env: an image's LD_PRELOAD or PATH then steers a host binary
/// running as root); startContainer the container process's environment
/// and working directory.
#[test]
fn hooks_without_env_get_runcs_environment_and_cwd() {
    require_root!();
    let rt = Runtime::new("hooks_env_cwd");
    let mut b = rt.bundle();
    let rootfs = b.private_rootfs();
    let out = b.host_dir("hookout");
    let out_s = out.to_str().unwrap().to_string();
    b.bind(&out, "/hookout");
    b.process()["cwd"] = json!("/tmp");
    b.process()["env"] = json!(["PATH=/usr/bin:/bin", "HULL_CONTAINER_VAR=in the container"]);
    b.args(&[
        "sh",
        "-c",
        "env > /hookout/process.env; pwd > /hookout/process.pwd",
    ]);
    let record =
        |kind: &str, dir: &str| format!("env > {dir}/{kind}.env; pwd -P > {dir}/{kind}.pwd");
    for kind in ["prestart", "createRuntime", "createContainer"] {
        // createContainer's /bin/sh is the host's too: it runs before
        // pivot_root, in the container's copy of the host's mounts.
        b.add_hook(
            kind,
            json!({"path": "/bin/sh", "args": ["sh", "-c", record(kind, &out_s)]}),
        );
    }
    write_file(
        &rootfs.join("start-hook.sh"),
        &format!("#!/bin/sh\n{}\n", record("startContainer", "/hookout")),
        0o755,
    );
    b.add_hook("startContainer", json!({"path": "/start-hook.sh"}));

    rt.create(&b).ok();
    rt.start(&b.id).ok();
    rt.wait_status(&b.id, "stopped", T);
    rt.delete(&b.id).ok();
    let read = |name: &str| {
        std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    // The runtime was started with this test's environment.
    let ours: BTreeSet<String> = std::env::vars()
        .map(|(k, v)| format!("{k}={v}"))
        .filter(|kv| !kv.contains('\n') && !is_shell_var(kv))
        .collect();
    assert!(
        !ours.is_empty(),
        "this test needs an environment to compare with"
    );
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let got = env_set(&read(&format!("{kind}.env")));
        let missing: Vec<&String> = ours.difference(&got).collect();
        assert!(
            missing.is_empty(),
            "{kind}: {} of the runtime's {} variables missing, e.g. {:?}; got {got:?}",
            missing.len(),
            ours.len(),
            missing.first()
        );
        if kind == "createContainer" {
            assert!(
                !got.iter().any(|kv| kv.starts_with("HULL_CONTAINER_VAR=")),
                "createContainer got the container's environment: {got:?}"
            );
            continue;
        }
        assert_eq!(
            read(&format!("{kind}.pwd")).trim(),
            bundle.to_str().unwrap(),
            "{kind}: cwd"
        );
    }

    let process_env: BTreeSet<String> =
        ["PATH=/usr/bin:/bin", "HULL_CONTAINER_VAR=in the container"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let rootfs = std::fs::canonicalize(&rootfs).unwrap();
    assert_eq!(
        read("createContainer.pwd").trim(),
        rootfs.to_str().unwrap(),
        "createContainer: cwd"
    );

    // What the container process itself saw.
    let container_env = env_set(&read("process.env"));
    assert!(container_env.is_superset(&process_env), "{container_env:?}");
    assert_eq!(
        env_set(&read("startContainer.env")),
        container_env,
        "startContainer: env"
    );
    assert_eq!(read("process.pwd").trim(), "/tmp");
    assert_eq!(
        read("startContainer.pwd").trim(),
        "/tmp",
        "startContainer: cwd"
    );
}
