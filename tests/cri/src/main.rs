//! hull-cri: drives containerd's CRI plugin the way kubelet does and checks,
//! from inside the containers where it can, what the runtime made of each
//! call. Run by tests/clients/cri.sh, which starts the private containerd.
//!
//! It prints `PASS: …` / `FAIL: …` lines (lib.sh's format) and, last,
//! `cri-client: N passed, M failed`; `hull-cri cleanup` removes every pod
//! left instead. Settings come from the environment:
//! `HULL_CRI_SOCKET` (containerd's socket), `HULL_CRI_CGROUP_PARENT` (the
//! test's own cgroup parent, `/hull-clients-<pid>`), `HULL_CRI_LOG_DIR`
//! (pods' log directories go below it), `HULL_CRI_RUNTIME_ROOT` (the
//! runtime's `--root` for the k8s.io namespace), `HULL_CRI_IMAGE` (busybox).

mod checks;
mod cri;
mod host;
mod scenario;

use checks::Checks;

pub struct Settings {
    pub socket: String,
    pub cgroup_parent: String,
    pub log_dir: String,
    pub runtime_root: String,
    pub image: String,
}

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => {
            eprintln!("hull-cri: {name} is not set");
            std::process::exit(2);
        }
    }
}

fn main() {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hull-cri: tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("cleanup") {
        // After a failed run: StopPodSandbox and RemovePodSandbox for every
        // pod left, so that containerd removes their network namespaces.
        return rt.block_on(scenario::remove_all(&env("HULL_CRI_SOCKET")));
    }
    let settings = Settings {
        socket: env("HULL_CRI_SOCKET"),
        cgroup_parent: env("HULL_CRI_CGROUP_PARENT"),
        log_dir: env("HULL_CRI_LOG_DIR"),
        runtime_root: env("HULL_CRI_RUNTIME_ROOT"),
        image: env("HULL_CRI_IMAGE"),
    };
    let mut checks = Checks::default();
    rt.block_on(scenario::run(&settings, &mut checks));
    println!(
        "cri-client: {} passed, {} failed",
        checks.passed, checks.failed
    );
    std::process::exit(if checks.failed == 0 { 0 } else { 1 });
}
