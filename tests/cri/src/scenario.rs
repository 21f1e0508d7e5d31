//! The calls kubelet makes over a pod's life, each followed by what the
//! container (or, failing that, the host) shows of it.

use std::path::Path;
use std::time::Duration;

use k8s_cri::v1::security_profile::ProfileType;
use k8s_cri::v1::*;

use crate::checks::Checks;
use crate::cri::{image_spec, Cri};
use crate::host;
use crate::Settings;

const MIB: i64 = 1024 * 1024;
const CAP_CHOWN: u64 = 1 << 0;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_NET_ADMIN: u64 = 1 << 12;

/// A pod as kubelet describes it: own network, IPC and UTS namespaces, a
/// pid namespace per container, its cgroup parent and log directory.
fn pod_config(s: &Settings, name: &str, pid: NamespaceMode) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "hull-cri".into(),
            attempt: 0,
        }),
        hostname: format!("{name}-host"),
        log_directory: format!("{}/{name}", s.log_dir),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("{}/{name}", s.cgroup_parent),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces(pid)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn namespaces(pid: NamespaceMode) -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Pod as i32,
        ipc: NamespaceMode::Pod as i32,
        pid: pid as i32,
        ..Default::default()
    }
}

/// A busybox container running `sh -c SCRIPT`, logging to NAME.log.
fn container(s: &Settings, name: &str, script: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(image_spec(&s.image)),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources: None,
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(namespaces(NamespaceMode::Container)),
                // kubelet sends these (the runtime's spec has none of its own
                // through CRI): its defaults for procMount: Default.
                masked_paths: MASKED_PATHS.iter().map(|p| p.to_string()).collect(),
                readonly_paths: READONLY_PATHS.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn security(cfg: &mut ContainerConfig) -> &mut LinuxContainerSecurityContext {
    let linux = cfg.linux.get_or_insert_with(Default::default);
    linux.security_context.get_or_insert_with(Default::default)
}

fn resources(cpu_quota: i64, memory: i64) -> LinuxContainerResources {
    LinuxContainerResources {
        cpu_period: 100_000,
        cpu_quota,
        cpu_shares: 512,
        memory_limit_in_bytes: memory,
        ..Default::default()
    }
}

/// Scripts that print `ready` once their TERM trap is set, so that a stop
/// is sent only when the trap can see it.
const TRAP_EXIT: &str =
    "echo out-line; echo err-line >&2; trap 'echo got TERM; exit 0' TERM; echo ready; \
                         while :; do sleep 3600 & wait; done";
const TRAP_IGNORE: &str =
    "trap 'echo got-term' TERM; echo ready; while :; do sleep 3600 & wait; done";

struct Pod {
    id: String,
    config: PodSandboxConfig,
    pid: Option<u32>,
}

impl Pod {
    fn log(&self, name: &str) -> String {
        format!("{}/{name}.log", self.config.log_directory)
    }
    fn cgroup(&self, cid: &str, controller: &str, file: &str) -> String {
        let parent = self
            .config
            .linux
            .as_ref()
            .map(|l| l.cgroup_parent.as_str())
            .unwrap_or("");
        format!("/sys/fs/cgroup/{controller}{parent}/{cid}/{file}").replace("//", "/")
    }
}

pub async fn run(s: &Settings, c: &mut Checks) {
    let mut cri = match Cri::connect(&s.socket).await {
        Ok(cri) => cri,
        Err(e) => return c.fail("connect to containerd's CRI socket", &e),
    };
    runtime(&mut cri, s, c).await;
    let Some(pod) = run_pod(&mut cri, s, c, "web", NamespaceMode::Container).await else {
        return;
    };
    let default_caps = main_container(&mut cri, s, c, &pod).await;
    exit_codes(&mut cri, s, c, &pod).await;
    grace(&mut cri, s, c, &pod).await;
    security_context(&mut cri, s, c, &pod, default_caps).await;
    oom(&mut cri, s, c, &pod).await;
    teardown(&mut cri, s, c, &pod).await;
    shared_pid(&mut cri, s, c).await;
}

/// Stops and removes every pod sandbox (and so its containers); errors are
/// printed, not counted.
pub async fn remove_all(socket: &str) {
    let mut cri = match Cri::connect(socket).await {
        Ok(cri) => cri,
        Err(e) => return eprintln!("hull-cri cleanup: {e}"),
    };
    for pod in cri.list_pods().await.unwrap_or_default() {
        let r = match cri.stop_pod(&pod.id).await {
            Ok(()) => cri.remove_pod(&pod.id).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            eprintln!("hull-cri cleanup: {e}");
        }
    }
}

async fn runtime(cri: &mut Cri, s: &Settings, c: &mut Checks) {
    if let Some(v) = c.call("Version", cri.version().await) {
        c.eq(
            "Version: runtime containerd, CRI v1",
            ("containerd", "v1"),
            (&*v.runtime_name, &*v.runtime_api_version),
        );
    }
    if let Some(st) = c.call("Status", cri.status().await) {
        let ready = |t: &str| {
            st.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.r#type == t && c.status))
        };
        let detail = format!("{:?}", st.status);
        c.ok("Status: RuntimeReady", ready("RuntimeReady"), &detail);
        c.ok(
            "Status: NetworkReady (the test's CNI config was loaded)",
            ready("NetworkReady"),
            &detail,
        );
    }
    let present = cri.image_present(&s.image).await;
    c.eq("ImageStatus: the imported busybox image", Ok(true), present);
}

async fn run_pod(
    cri: &mut Cri,
    s: &Settings,
    c: &mut Checks,
    name: &str,
    pid: NamespaceMode,
) -> Option<Pod> {
    let config = pod_config(s, name, pid);
    // kubelet makes the pod's log directory; containerd only opens files in it.
    if let Err(e) = std::fs::create_dir_all(&config.log_directory) {
        c.fail(
            "pod log directory",
            &format!("{}: {e}", config.log_directory),
        );
        return None;
    }
    let id = c.call(
        &format!("RunPodSandbox ({name})"),
        cri.run_pod(&config).await,
    )?;
    let (status, pid) = c.quiet("PodSandboxStatus", cri.pod_status(&id).await)?;
    if name != "web" {
        return Some(Pod { id, config, pid });
    }
    c.eq(
        "PodSandboxStatus: SANDBOX_READY",
        PodSandboxState::SandboxReady as i32,
        status.state,
    );
    let pods = cri.list_pods().await.unwrap_or_default();
    c.ok(
        "ListPodSandbox lists it",
        pods.iter().any(|p| p.id == id),
        &format!("{pods:?}"),
    );
    let state = format!("{}/{id}/state.json", s.runtime_root);
    c.ok(
        "the runtime holds the sandbox's state under the shim's Root",
        Path::new(&state).exists(),
        &state,
    );
    match pid {
        Some(pid) => {
            let want = format!("{}/{name}/{id}", s.cgroup_parent);
            let got = host::cgroup_of(pid, "memory").unwrap_or_default();
            c.eq(
                "the sandbox's process is in <cgroup_parent>/<id>",
                want,
                got,
            );
            let ns = |p: &str| {
                std::fs::read_link(p)
                    .map(|l| l.display().to_string())
                    .unwrap_or_default()
            };
            let (pod_net, host_net) = (ns(&format!("/proc/{pid}/ns/net")), ns("/proc/self/ns/net"));
            c.ok(
                "the sandbox has a network namespace of its own",
                !pod_net.is_empty() && pod_net != host_net,
                &pod_net,
            );
        }
        None => c.fail(
            "PodSandboxStatus verbose info gives the sandbox's pid",
            &format!("{status:?}"),
        ),
    }
    Some(Pod { id, config, pid })
}

/// Creates and starts a container; None (and a failed check) if either fails.
async fn started(cri: &mut Cri, c: &mut Checks, pod: &Pod, cfg: ContainerConfig) -> Option<String> {
    let name = cfg
        .metadata
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    let id = c.quiet(
        &format!("CreateContainer ({name})"),
        cri.create(&pod.id, &pod.config, cfg).await,
    )?;
    c.quiet(&format!("StartContainer ({name})"), cri.start(&id).await)?;
    Some(id)
}

/// Waits (a minute at most) for TEXT to show in a log file.
async fn log_shows(path: &str, text: &str) -> bool {
    for _ in 0..600 {
        if std::fs::read_to_string(path).is_ok_and(|l| l.contains(text)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The long-running container: lifecycle, exec, logs, limits and updates.
/// Returns its CapEff (containerd's default capability set).
async fn main_container(cri: &mut Cri, s: &Settings, c: &mut Checks, pod: &Pod) -> Option<u64> {
    let mut cfg = container(s, "main", TRAP_EXIT);
    cfg.envs = vec![KeyValue {
        key: "HC_VAR".into(),
        value: "hc-value".into(),
    }];
    cfg.working_dir = "/tmp".into();
    cfg.linux.get_or_insert_with(Default::default).resources = Some(resources(50_000, 64 * MIB));
    let id = c.call(
        "CreateContainer",
        cri.create(&pod.id, &pod.config, cfg).await,
    )?;
    let st = cri.container_status(&id).await.map(|s| s.state);
    c.eq(
        "ContainerStatus after create: CONTAINER_CREATED",
        Ok(ContainerState::ContainerCreated as i32),
        st,
    );
    c.call("StartContainer", cri.start(&id).await)?;
    let st = cri.container_status(&id).await;
    c.eq(
        "ContainerStatus after start: CONTAINER_RUNNING",
        Ok(ContainerState::ContainerRunning as i32),
        st.as_ref().map(|s| s.state).map_err(Clone::clone),
    );
    let log = pod.log("main");
    c.eq(
        "ContainerStatus: log_path under the pod's log directory",
        log.clone(),
        st.map(|s| s.log_path).unwrap_or_default(),
    );

    // exec
    c.eq(
        "ExecSync: stdout and exit code 0",
        Ok(("hello\n".into(), 0)),
        cri.sh(&id, "echo hello").await.map(|(o, _, x)| (o, x)),
    );
    c.eq(
        "ExecSync: stderr and exit code 3",
        Ok(("oops\n".into(), 3)),
        cri.sh(&id, "echo oops >&2; exit 3")
            .await
            .map(|(_, e, x)| (e, x)),
    );
    let got = cri
        .sh(&id, "echo \"$HC_VAR $(pwd) $(hostname)\"")
        .await
        .map(|r| r.0);
    c.eq(
        "env, working_dir and the pod's hostname, from inside",
        Ok("hc-value /tmp web-host\n".into()),
        got,
    );

    // network: the pod's namespace, not the host's
    let inside = cri
        .sh(&id, "readlink /proc/self/ns/net")
        .await
        .map(|r| r.0.trim().to_string())
        .unwrap_or_default();
    if let Some(pid) = pod.pid {
        let sandbox = std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        c.eq(
            "the container joins the sandbox's network namespace",
            sandbox,
            inside,
        );
    }
    let ifaces = cri.sh(&id, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '; cat /sys/class/net/lo/flags").await;
    c.eq(
        "inside: lo (up) and the test CNI plugin's veth pair, nothing else",
        Ok("eth0 hcpeer0 lo 0x9\n".into()),
        ifaces.map(|r| r.0),
    );
    let addr = cri
        .sh(&id, "ip -4 -o addr show eth0 | awk '{ print $4 }'")
        .await
        .map(|r| r.0.trim().to_string());
    let pod_ip = cri
        .pod_status(&pod.id)
        .await
        .map(|(s, _)| s.network.map(|n| n.ip).unwrap_or_default());
    c.eq(
        "eth0's address inside is the pod IP in PodSandboxStatus",
        (
            Ok("10.88.77.2/24".to_string()),
            Ok("10.88.77.2".to_string()),
        ),
        (addr, pod_ip),
    );

    // limits, from inside and on the host
    limits(cri, c, pod, &id, 50_000, 64 * MIB, "").await;
    let stats = cri.stats(&id).await.map(|st| {
        st.memory
            .and_then(|m| m.working_set_bytes)
            .map(|w| w.value > 0)
    });
    c.eq(
        "ContainerStats: a memory working set",
        Ok(Some(true)),
        stats,
    );
    let upd = cri.update(&id, resources(30_000, 128 * MIB)).await;
    c.call("UpdateContainerResources", upd);
    limits(
        cri,
        c,
        pod,
        &id,
        30_000,
        128 * MIB,
        " after UpdateContainerResources",
    )
    .await;

    // logs in the CRI format
    c.ok(
        "the container's output reaches its log",
        log_shows(&log, "ready").await,
        &log,
    );
    let content = std::fs::read_to_string(&log).unwrap_or_default();
    match host::parse_cri_log(&content) {
        Ok(lines) => {
            c.pass("the log file is in the CRI format (<RFC3339Nano> <stream> <P|F> <text>)");
            let has = |stream: &str, text: &str| {
                lines
                    .iter()
                    .any(|l| l.stream == stream && l.tag == "F" && l.text == text)
            };
            c.ok(
                "log: stdout line tagged stdout F",
                has("stdout", "out-line"),
                &content,
            );
            c.ok(
                "log: stderr line tagged stderr F",
                has("stderr", "err-line"),
                &content,
            );
        }
        Err(e) => c.fail(
            "the log file is in the CRI format",
            &format!("{e}\n{content}"),
        ),
    }
    let rotated = format!("{log}.1");
    let reopened = match std::fs::rename(&log, &rotated) {
        Ok(()) => cri.reopen_log(&id).await,
        Err(e) => Err(format!("rename {log}: {e}")),
    };
    if c.call(
        "ReopenContainerLog (after kubelet-style rotation)",
        reopened,
    )
    .is_some()
    {
        let _ = cri.sh(&id, "echo after-reopen >/proc/1/fd/1").await;
        c.ok(
            "ReopenContainerLog: new output goes to a new log file",
            log_shows(&log, "after-reopen").await,
            &host::read(&log),
        );
    }

    // what the default security context gives (compared with below)
    let status = cri
        .sh(&id, "cat /proc/self/status")
        .await
        .map(|r| r.0)
        .unwrap_or_default();
    let caps = host::cap_eff(&status);
    c.eq(
        "no seccomp profile asked: unconfined (Seccomp: 0)",
        "0".to_string(),
        host::status_field(&status, "Seccomp"),
    );
    let masked = cri
        .sh(&id, "stat -c %F /proc/keys; wc -c </proc/keys")
        .await
        .map(|r| r.0);
    let sys = cri
        .sh(
            &id,
            "awk '$5 == \"/proc/sys\" { split($6, o, \",\"); print o[1] }' /proc/self/mountinfo",
        )
        .await
        .map(|r| r.0);
    c.eq(
        "readonly paths: /proc/sys is mounted ro",
        Ok("ro\n".into()),
        sys,
    );
    if masked.as_deref() == Ok("character special file\n0\n") {
        c.pass("masked paths: /proc/keys is an empty character device (/dev/null)");
    } else {
        let mounts = cri
            .sh(&id, "grep /proc /proc/self/mountinfo")
            .await
            .map(|r| r.0)
            .unwrap_or_default();
        c.fail(
            "masked paths: /proc/keys is an empty character device (/dev/null)",
            &format!("{masked:?}\n{mounts}"),
        );
    }

    // stop with a grace period the container uses
    let stop = Stop {
        grace: 30,
        how: "the container exits on TERM",
        exit: (0, "Completed"),
        term_line: "got TERM",
    };
    stop.check(cri, c, &id, &log).await;
    c.call("RemoveContainer", cri.remove(&id).await);
    let listed = cri.list_containers(&pod.id).await.unwrap_or_default();
    c.ok(
        "RemoveContainer: ListContainers no longer has it",
        !listed.iter().any(|x| x.id == id),
        &format!("{listed:?}"),
    );
    let state = format!("{}/{id}", s.runtime_root);
    c.ok(
        "RemoveContainer: the runtime's state is gone",
        !Path::new(&state).exists(),
        &state,
    );
    let left: Vec<String> = host::cgroups_below(&format!("{}/web", s.cgroup_parent))
        .into_iter()
        .filter(|d| d.ends_with(&id))
        .collect();
    c.eq(
        "RemoveContainer: the container's cgroups are gone",
        Vec::<String>::new(),
        left,
    );
    caps
}

/// CPU and memory limits as the container reads them from its cgroup
/// files, and as the host's files under the pod's cgroup parent say.
async fn limits(
    cri: &mut Cri,
    c: &mut Checks,
    pod: &Pod,
    id: &str,
    quota: i64,
    memory: i64,
    when: &str,
) {
    // (controller, file, the value wanted) on v1 (hybrid here) or v2.
    let files: Vec<(&str, &str, String)> = if host::v1("memory") && host::v1("cpu") {
        vec![
            ("memory", "memory.limit_in_bytes", memory.to_string()),
            ("cpu", "cpu.cfs_quota_us", quota.to_string()),
            ("cpu", "cpu.cfs_period_us", "100000".into()),
            ("cpu", "cpu.shares", "512".into()),
        ]
    } else {
        vec![
            ("", "memory.max", memory.to_string()),
            ("", "cpu.max", format!("{quota} 100000")),
        ]
    };
    let paths: Vec<String> = files
        .iter()
        .map(|(ctl, f, _)| format!("/sys/fs/cgroup/{ctl}/{f}").replace("//", "/"))
        .collect();
    let want: String = files.iter().map(|(_, _, v)| format!("{v}\n")).collect();
    let inside = cri
        .sh(id, &format!("cat {}", paths.join(" ")))
        .await
        .map(|r| r.0);
    c.eq(
        &format!("memory and CPU limits in the container's cgroup files, from inside{when}"),
        Ok(want.clone()),
        inside,
    );
    let on_host: String = files
        .iter()
        .map(|(ctl, f, _)| format!("{}\n", host::read(pod.cgroup(id, ctl, f))))
        .collect();
    c.eq(
        &format!("the host's files under <cgroup_parent>/<id> agree{when}"),
        want,
        on_host,
    );
}

/// Exit codes and reasons as kubelet reads them.
async fn exit_codes(cri: &mut Cri, s: &Settings, c: &mut Checks, pod: &Pod) {
    for (name, script, want) in [
        ("done", "echo done", (0, "Completed")),
        ("failing", "echo failing; exit 7", (7, "Error")),
    ] {
        let Some(id) = started(cri, c, pod, container(s, name, script)).await else {
            continue;
        };
        let st = cri.wait_exited(&id).await;
        let got = st
            .as_ref()
            .map(|s| (s.exit_code, s.reason.as_str()))
            .map_err(Clone::clone);
        c.eq(
            &format!(
                "ContainerStatus of `{script}`: exit code {}, reason {}",
                want.0, want.1
            ),
            Ok(want),
            got,
        );
        if let Ok(st) = st {
            // Not their order: containerd stamps started_at once the start call
            // returns, after a quick container may have exited (runc too).
            c.ok(
                "ContainerStatus: started_at and finished_at set",
                st.started_at > 0 && st.finished_at > 0,
                &format!("{st:?}"),
            );
        }
        c.quiet("RemoveContainer", cri.remove(&id).await);
    }
}

/// A container that ignores SIGTERM is killed once the grace period is over.
async fn grace(cri: &mut Cri, s: &Settings, c: &mut Checks, pod: &Pod) {
    let Some(id) = started(cri, c, pod, container(s, "stubborn", TRAP_IGNORE)).await else {
        return;
    };
    let log = pod.log("stubborn");
    if !log_shows(&log, "ready").await {
        return c.fail("the SIGTERM-ignoring container started", &host::read(&log));
    }
    // SIGKILLed once the grace period is over: 137.
    let stop = Stop {
        grace: 3,
        how: "the container ignores TERM",
        exit: (137, "Error"),
        term_line: "got-term",
    };
    stop.check(cri, c, &id, &log).await;
}

/// A StopContainer call and what should follow: the exit code and reason
/// ContainerStatus reports, and the line the container's TERM trap logs.
struct Stop {
    grace: i64,
    how: &'static str,
    exit: (i32, &'static str),
    term_line: &'static str,
}

impl Stop {
    async fn check(&self, cri: &mut Cri, c: &mut Checks, id: &str, log: &str) {
        let (code, reason) = self.exit;
        c.call(
            &format!("StopContainer (grace {}s, {})", self.grace, self.how),
            cri.stop(id, self.grace).await,
        );
        let st = cri.wait_exited(id).await.map(|s| (s.exit_code, s.reason));
        c.eq(
            &format!("after StopContainer: exit code {code}, reason {reason}"),
            Ok((code, reason.to_string())),
            st,
        );
        c.ok(
            "the container got SIGTERM first",
            log_shows(log, self.term_line).await,
            &host::read(log),
        );
    }
}

/// runAsUser/Group, read-only root, no_new_privs, capabilities, seccomp.
async fn security_context(
    cri: &mut Cri,
    s: &Settings,
    c: &mut Checks,
    pod: &Pod,
    default_caps: Option<u64>,
) {
    let mut cfg = container(s, "user", "sleep 3600");
    let sc = security(&mut cfg);
    sc.run_as_user = Some(Int64Value { value: 1000 });
    sc.run_as_group = Some(Int64Value { value: 2000 });
    sc.supplemental_groups = vec![3000];
    sc.readonly_rootfs = true;
    sc.no_new_privs = true;
    if let Some(id) = started(cri, c, pod, cfg).await {
        let ids = cri.sh(&id, "id -u; id -g; id -G").await.map(|r| r.0);
        c.eq(
            "runAsUser 1000, runAsGroup 2000, supplementalGroups 3000, from inside",
            Ok("1000\n2000\n2000 3000\n".into()),
            ids,
        );
        let ro = cri.sh(&id, "touch /hc-probe 2>&1; awk '$5 == \"/\" { split($6, o, \",\"); print o[1] }' /proc/self/mountinfo").await.map(|r| r.0);
        c.ok(
            "readOnlyRootFilesystem: / is mounted ro and a write fails",
            ro.as_ref()
                .is_ok_and(|o| o.contains("Read-only file system") && o.ends_with("ro\n")),
            &format!("{ro:?}"),
        );
        let status = cri
            .sh(&id, "cat /proc/self/status")
            .await
            .map(|r| r.0)
            .unwrap_or_default();
        c.eq(
            "a non-root user has no effective capabilities",
            Some(0),
            host::cap_eff(&status),
        );
        c.eq(
            "allowPrivilegeEscalation=false: NoNewPrivs: 1",
            "1".to_string(),
            host::status_field(&status, "NoNewPrivs"),
        );
    }

    let mut cfg = container(s, "caps", "sleep 3600");
    let sc = security(&mut cfg);
    sc.capabilities = Some(Capability {
        add_capabilities: vec!["NET_ADMIN".into()],
        drop_capabilities: vec!["CHOWN".into()],
        ..Default::default()
    });
    sc.seccomp = Some(SecurityProfile {
        profile_type: ProfileType::RuntimeDefault as i32,
        ..Default::default()
    });
    if let Some(id) = started(cri, c, pod, cfg).await {
        let status = cri
            .sh(&id, "cat /proc/self/status")
            .await
            .map(|r| r.0)
            .unwrap_or_default();
        match default_caps {
            Some(d) if d & CAP_CHOWN != 0 && d & CAP_NET_ADMIN == 0 => {
                let want = format!("{:016x}", (d & !CAP_CHOWN) | CAP_NET_ADMIN);
                c.eq(
                    "capabilities add NET_ADMIN, drop CHOWN: CapEff from inside",
                    want,
                    host::status_field(&status, "CapEff"),
                );
            }
            _ => c.fail(
                "the default capability set has CHOWN and not NET_ADMIN",
                &format!("{default_caps:x?}"),
            ),
        }
        c.eq(
            "seccomp RuntimeDefault: Seccomp: 2",
            "2".to_string(),
            host::status_field(&status, "Seccomp"),
        );
        let chown = cri.sh(&id, "chown 1 /tmp").await.map(|r| r.2 != 0);
        c.eq("without CHOWN, chown fails", Ok(true), chown);
    }

    let mut cfg = container(s, "dropall", "sleep 3600");
    security(&mut cfg).capabilities = Some(Capability {
        add_capabilities: vec!["NET_BIND_SERVICE".into()],
        drop_capabilities: vec!["ALL".into()],
        ..Default::default()
    });
    if let Some(id) = started(cri, c, pod, cfg).await {
        let status = cri
            .sh(&id, "cat /proc/self/status")
            .await
            .map(|r| r.0)
            .unwrap_or_default();
        let want = format!("{CAP_NET_BIND_SERVICE:016x}");
        c.eq(
            "drop ALL, add NET_BIND_SERVICE: CapEff and CapBnd",
            (want.clone(), want),
            (
                host::status_field(&status, "CapEff"),
                host::status_field(&status, "CapBnd"),
            ),
        );
    }
}

/// A container over its memory limit is reported as OOMKilled.
async fn oom(cri: &mut Cri, s: &Settings, c: &mut Checks, pod: &Pod) {
    // The shell keeps the whole command substitution in memory.
    let mut cfg = container(
        s,
        "hog",
        "echo hogging; x=$(head -c 268435456 /dev/zero | tr '\\0' x); echo survived",
    );
    cfg.linux.get_or_insert_with(Default::default).resources = Some(resources(0, 32 * MIB));
    let Some(id) = started(cri, c, pod, cfg).await else {
        return;
    };
    let st = cri.wait_exited(&id).await.map(|s| (s.exit_code, s.reason));
    c.eq(
        "over its memory limit: exit code 137, reason OOMKilled",
        Ok((137, "OOMKilled".into())),
        st,
    );
}

/// StopPodSandbox stops what is left; RemovePodSandbox leaves nothing.
async fn teardown(cri: &mut Cri, s: &Settings, c: &mut Checks, pod: &Pod) {
    c.call("StopPodSandbox", cri.stop_pod(&pod.id).await);
    let st = cri.pod_status(&pod.id).await.map(|(s, _)| s.state);
    c.eq(
        "PodSandboxStatus: SANDBOX_NOTREADY",
        Ok(PodSandboxState::SandboxNotready as i32),
        st,
    );
    let listed = cri.list_containers(&pod.id).await.unwrap_or_default();
    let running: Vec<&str> = listed
        .iter()
        .filter(|x| x.state != ContainerState::ContainerExited as i32)
        .map(|x| x.id.as_str())
        .collect();
    c.ok(
        "StopPodSandbox: every container of the pod has exited",
        !listed.is_empty() && running.is_empty(),
        &format!("{listed:?}"),
    );
    c.call("RemovePodSandbox", cri.remove_pod(&pod.id).await);
    let pods = cri.list_pods().await.unwrap_or_default();
    c.ok(
        "RemovePodSandbox: ListPodSandbox no longer has it",
        !pods.iter().any(|p| p.id == pod.id),
        &format!("{pods:?}"),
    );
    c.eq(
        "RemovePodSandbox: its containers are gone",
        0,
        cri.list_containers(&pod.id)
            .await
            .map(|l| l.len())
            .unwrap_or(usize::MAX),
    );
    c.eq(
        "no runtime state left under the shim's Root",
        Vec::<String>::new(),
        host::entries(&s.runtime_root),
    );
    c.eq(
        "no cgroup left under the pod's cgroup parent",
        Vec::<String>::new(),
        host::cgroups_below(&format!("{}/web", s.cgroup_parent)),
    );
    if let Some(pid) = pod.pid {
        c.ok(
            "the sandbox's process is gone",
            !Path::new(&format!("/proc/{pid}/status")).exists()
                || host::status_field(&host::read(format!("/proc/{pid}/status")), "State")
                    .starts_with('Z'),
            &format!("pid {pid}"),
        );
    }
}

/// shareProcessNamespace: the container joins the sandbox's pid namespace.
async fn shared_pid(cri: &mut Cri, s: &Settings, c: &mut Checks) {
    let Some(pod) = run_pod(cri, s, c, "shared", NamespaceMode::Pod).await else {
        return;
    };
    let mut cfg = container(s, "peer", "sleep 3600");
    security(&mut cfg).namespace_options = Some(namespaces(NamespaceMode::Pod));
    if let Some(id) = started(cri, c, &pod, cfg).await {
        let ps = cri
            .sh(&id, "cat /proc/1/cmdline | tr '\\0' ' '")
            .await
            .map(|r| r.0);
        c.eq(
            "shared pid namespace: PID 1 is the sandbox's pause",
            Ok("/bin/sh /pause ".into()),
            ps,
        );
    }
    c.call("StopPodSandbox (shared)", cri.stop_pod(&pod.id).await);
    c.call("RemovePodSandbox (shared)", cri.remove_pod(&pod.id).await);
    c.eq(
        "no runtime state left",
        Vec::<String>::new(),
        host::entries(&s.runtime_root),
    );
    c.eq(
        "no cgroup left under the pod's cgroup parent (shared)",
        Vec::<String>::new(),
        host::cgroups_below(&format!("{}/shared", s.cgroup_parent)),
    );
}
