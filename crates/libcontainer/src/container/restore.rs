//! `restore`: a container recreated from its bundle and CRIU images.
//!
//! The cgroup and state directory are made as `create` makes them. CRIU
//! recreates the namespaces, mounts and processes; hull gives it the rootfs
//! (bound at `<state dir>/criu-root` in a mount namespace private to this
//! process, so the host's mount table never changes), the external mounts
//! with their host sources, the stdio pipes saved at checkpoint, and places
//! `criu swrk` in the container's cgroup so the restored tasks land there.

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::{Path, PathBuf},
};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rust_criu::rust_criu_protobuf::rpc::{
    Cgroup_root, Criu_notify, Criu_opts, Criu_req_type, Inherit_fd,
};

use super::{
    builder::{new_state_dir, Cleanup},
    Container,
};
use crate::{
    criu::{self, mounts, CriuCommon, CriuError, Swrk},
    error::{Error, Result},
    hooks, procfs, spec,
    state::{State, Status},
};

/// Restores a checkpointed container under `id` (see [`Container::checkpoint`]).
///
/// ```
/// use libcontainer::{CriuCommon, Error, RestoreBuilder};
///
/// let criu = CriuCommon {
///     image_path: "/var/lib/my-engine/web.ckpt".into(),
///     ..Default::default()
/// };
/// // Checked before anything is read or made.
/// let err = RestoreBuilder::new("web/..", "/run/my-engine", criu)
///     .restore()
///     .unwrap_err();
/// assert!(matches!(err, Error::InvalidId { .. }));
/// ```
///
/// A real restore, its init this process's child:
///
/// ```no_run
/// use libcontainer::{CriuCommon, RestoreBuilder};
///
/// # fn main() -> libcontainer::Result<()> {
/// let criu = CriuCommon {
///     image_path: "/var/lib/my-engine/web.ckpt".into(),
///     ..Default::default()
/// };
/// let mut c = RestoreBuilder::new("web", "/run/my-engine", criu)
///     .bundle("/var/lib/my-engine/web")
///     .restore()?;
/// let status = c.wait()?;
/// c.delete(true)?;
/// # let _ = status;
/// # Ok(())
/// # }
/// ```
pub struct RestoreBuilder {
    id: String,
    root: PathBuf,
    bundle: PathBuf,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    systemd_cgroup: bool,
    criu: CriuCommon,
    spec: Option<oci_spec::runtime::Spec>,
}

impl RestoreBuilder {
    /// A builder restoring container `id` under the state root `root`, from
    /// the images in `criu.image_path`.
    pub fn new(id: impl Into<String>, root: impl Into<PathBuf>, criu: CriuCommon) -> Self {
        RestoreBuilder {
            id: id.into(),
            root: root.into(),
            bundle: PathBuf::from("."),
            pid_file: None,
            console_socket: None,
            systemd_cgroup: false,
            criu,
            spec: None,
        }
    }
    /// The bundle the container was created from (its `config.json`, unless
    /// [`RestoreBuilder::spec`] gives the spec).
    pub fn bundle(mut self, p: impl Into<PathBuf>) -> Self {
        self.bundle = p.into();
        self
    }
    /// Writes the restored init's pid to this file.
    pub fn pid_file(mut self, p: Option<PathBuf>) -> Self {
        self.pid_file = p;
        self
    }
    /// Where the new pty master goes when the container has a terminal.
    pub fn console_socket(mut self, p: Option<PathBuf>) -> Self {
        self.console_socket = p;
        self
    }

    /// Restores with this spec (the one the container was created with)
    /// instead of `<bundle>/config.json`, as [`crate::ContainerBuilder::spec`].
    pub fn spec(mut self, spec: oci_spec::runtime::Spec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Place the restored container in a transient systemd scope.
    pub fn systemd_cgroup(mut self, v: bool) -> Self {
        self.systemd_cgroup = v;
        self
    }

    /// Restores the container; it is running when this returns. Its init
    /// is a child of this process, so [`Container::wait`] works on it.
    pub fn restore(self) -> Result<Container> {
        crate::id::validate_id(&self.id)?;
        let bundle =
            std::fs::canonicalize(&self.bundle).map_err(|e| Error::path(&self.bundle, e))?;
        let (spec, config) = spec::load_or_given(&bundle, self.spec.as_ref())?;
        spec::validate(&spec, &spec::HostSupport::probe(), &config)?;
        let linux = spec.linux().as_ref();
        for (field, asked) in [
            (
                "linux.netDevices",
                linux.is_some_and(|l| l.net_devices().as_ref().is_some_and(|d| !d.is_empty())),
            ),
            (
                "linux.intelRdt",
                linux.is_some_and(|l| l.intel_rdt().is_some()),
            ),
        ] {
            if asked {
                return Err(Error::InvalidArgument(format!(
                    "{field}: not supported by restore (create applies it)"
                )));
            }
        }
        // Everything that can be checked without side effects comes first,
        // so a bad image path or CRIU leaves nothing behind.
        criu::require_privilege("restore")?;
        criu::open_dir(&self.criu.image_path)?;
        let criu_path = self.criu.criu_path();
        criu::require(criu::version(&criu_path)?, criu::MIN_VERSION, "restore")?;
        if self.criu.lazy_pages {
            criu::lazy::check_restore(&criu_path, &self.criu.work_dir())?;
        }
        let descriptors = read_descriptors(&self.criu.image_path)?;
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let console = match (terminal, &self.console_socket) {
            (true, Some(p)) => Some(crate::terminal::connect(p)?),
            (true, None) => return Err(Error::InvalidArgument(
                "process.terminal: restoring a container with a terminal needs --console-socket"
                    .into(),
            )),
            (false, Some(_)) => {
                return Err(Error::InvalidArgument(
                    "--console-socket: the container has no terminal (process.terminal is false)"
                        .into(),
                ))
            }
            (false, None) => None,
        };
        replace_stopped(&self.root, &self.id)?;

        let (dir, _lock) = new_state_dir(&self.root, &self.id)?;
        let mut cleanup = Cleanup::new(&dir);
        let result = self.restore_locked(&spec, &bundle, &dir, &descriptors, console, &mut cleanup);
        match result {
            Ok(c) => {
                cleanup.disarm();
                Ok(c)
            }
            Err(e) => {
                // A criu-root that could not be unmounted must not be walked.
                cleanup.remove_dir = !dir.join(CRIU_ROOT).exists();
                cleanup.run();
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn restore_locked(
        &self,
        spec: &Spec,
        bundle: &Path,
        dir: &Path,
        descriptors: &[String],
        console: Option<OwnedFd>,
        cleanup: &mut Cleanup,
    ) -> Result<Container> {
        let linux = spec.linux().as_ref();
        let cgroups_path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cg_opts = libcgroups::CgroupOptions {
            cgroups_path: cgroups_path.as_deref(),
            container_id: &self.id,
        };
        let mut cg = if self.systemd_cgroup {
            libcgroups::Manager::create_systemd(&cg_opts, false)?
        } else {
            libcgroups::Manager::create(&cg_opts)?
        };
        cleanup.cgroup = Some(cg.handle().clone());
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        let rootfs = if rootfs.is_absolute() {
            rootfs
        } else {
            bundle.join(rootfs)
        };
        let rootfs = std::fs::canonicalize(&rootfs)
            .map_err(|e| Error::path(format!("root.path {}", rootfs.display()), e))?;
        let mut state = State::creating(spec, &self.id, bundle, rootfs.clone(), Some(cg.handle()));
        state.save(dir)?;
        let resources = crate::resources::applied(spec);
        // A systemd scope exists only once a process is in it: CRIU's.
        if let Some(r) = resources.as_ref().filter(|_| !cg.is_systemd()) {
            cg.apply(r)?;
        }

        let netns = linux
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
            .find(|n| n.typ() == LinuxNamespaceType::Network)
            .and_then(|n| n.path().clone())
            .map(|p| {
                rustix::fs::open(
                    &p,
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| Error::path(&p, e))
            })
            .transpose()?;
        // CRIU mounts its cgroup yard in the work dir, which must be a
        // mount of the namespace CRIU runs in: open both dirs after it.
        let private = PrivateRoot::new(dir, &rootfs)?;
        let images = criu::open_dir(&self.criu.image_path)?;
        let work_path = self.criu.work_dir();
        let work = criu::private_dir(&work_path)?;

        let mut opts = Criu_opts::new();
        self.criu.fill(&mut opts)?;
        // CRIU opens these through /proc/<our pid>/fd: our numbers, not its.
        opts.set_images_dir_fd(images.as_raw_fd());
        opts.set_work_dir_fd(work.as_raw_fd());
        opts.set_log_file("restore.log".into());
        opts.set_rst_sibling(true);
        opts.set_evasive_devices(true);
        mounts::add_to(
            &mut opts,
            mounts::for_restore(&mounts::externals(spec, bundle, Some(cg.handle()), &|_| {
                true
            })),
        );
        for h in &cg.handle().hierarchies {
            let path = h
                .dir
                .strip_prefix(&h.mountpoint)
                .map(|p| format!("/{}", p.display()))
                .unwrap_or_else(|_| "/".into());
            // cgroup2 has no controller name to key a root on: a root
            // without one applies to every hierarchy no other root names.
            // Without it CRIU would put the tasks back in the cgroup2
            // directory they were dumped from, another container's when
            // the images came from elsewhere.
            let ctrls: Vec<Option<&String>> = if h.unified {
                vec![None]
            } else {
                h.controllers.iter().map(Some).collect()
            };
            for ctrl in ctrls {
                let mut r = Cgroup_root::new();
                if let Some(c) = ctrl {
                    r.set_ctrl(c.clone());
                }
                r.set_path(path.clone());
                opts.cg_root.push(r);
            }
        }
        // CRIU runs with this process's stdio: a pipe the init had at
        // checkpoint becomes the same-numbered fd of ours.
        for (i, d) in descriptors.iter().enumerate() {
            if d.starts_with("pipe:") {
                let mut f = Inherit_fd::new();
                f.set_key(d.clone());
                f.set_fd(i as i32);
                opts.inherit_fd.push(f);
            }
        }
        let mut extra = Vec::new();
        if let Some(ns) = &netns {
            let mut f = Inherit_fd::new();
            f.set_key(criu::EXT_NETNS.into());
            f.set_fd(criu::extra_fd_number(extra.len()));
            opts.inherit_fd.push(f);
            extra.push(ns.as_fd());
        }

        opts.set_root(private.path.to_string_lossy().into_owned());
        prepare_mountpoints(spec, &rootfs)?;

        let criu_path = self.criu.criu_path();
        let swrk = Swrk {
            criu: &criu_path,
            inherit_stdio: true,
            extra_fds: extra,
            log: Some(work_path.join("restore.log")),
        };
        let spawned = swrk.spawn();
        let mut private = private;
        private.leave()?;
        let running = spawned?;
        // CRIU's tasks start in CRIU's cgroup; cg_root maps the dumped
        // paths to the container's. Under systemd,
        // CRIU starts the scope the restored tasks then keep alive.
        let in_scope = cg.start_scope(running.pid(), &self.id)?;
        if in_scope {
            cleanup.cgroup = Some(cg.handle().clone());
            state.cgroup = Some(cg.handle().clone());
            state.save(dir)?;
        }
        cg.add_new_child(running.pid(), in_scope)?;
        if let Some(r) = resources.as_ref().filter(|_| in_scope) {
            cg.apply(r)?;
        }

        let hooks = spec.hooks().as_ref();
        let mut restored_pid = 0;
        let mut hook_state: Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>)> = None;
        // As runc, which runs them from the bundle directory.
        let ctx = hooks::Context {
            env: None,
            cwd: Some(bundle),
        };
        let resp = {
            let state = &state;
            let mut on_notify = |n: &Criu_notify,
                                 fd: Option<OwnedFd>|
             -> std::result::Result<(), CriuError> {
                match n.script() {
                    "setup-namespaces" => {
                        let mut s = state.spec_state(Status::Creating);
                        s.set_pid(Some(n.pid()));
                        let json = serde_json::to_vec(&s).unwrap_or_default();
                        hook_state = Some((
                            state.poststop.clone(),
                            state.spec_state_json(Status::Stopped).into_bytes(),
                        ));
                        let run = |kind, list: Option<&Vec<oci_spec::runtime::Hook>>| {
                            let list = list.map_or(&[][..], Vec::as_slice);
                            hooks::run_all(kind, list, &json, ctx).map_err(|e| CriuError::Notify {
                                script: "setup-namespaces".into(),
                                reason: e.to_string(),
                            })
                        };
                        run("prestart", hooks.and_then(|h| h.prestart().as_ref()))?;
                        run(
                            "createRuntime",
                            hooks.and_then(|h| h.create_runtime().as_ref()),
                        )?;
                    }
                    "orphan-pts-master" => {
                        let (Some(master), Some(sock)) = (fd, console.as_ref()) else {
                            return Err(CriuError::Notify {
                                script: "orphan-pts-master".into(),
                                reason: "no pty master or console socket".into(),
                            });
                        };
                        crate::fdpass::send_fd(sock, b"/dev/ptmx", master.as_fd()).map_err(
                            |e| CriuError::Notify {
                                script: "orphan-pts-master".into(),
                                reason: format!(
                                    "sending the pty master to the console socket: {e}"
                                ),
                            },
                        )?;
                    }
                    "post-restore" => restored_pid = n.pid(),
                    _ => {}
                }
                Ok(())
            };
            running.call(
                &criu::request(Criu_req_type::RESTORE, Some(opts)),
                &mut on_notify,
            )
        };
        cleanup.poststop = hook_state;
        let resp = resp?;
        drop(private);

        let pid = if resp.restore.pid() > 0 {
            resp.restore.pid()
        } else {
            restored_pid
        };
        let pidfd = rustix::process::Pid::from_raw(pid)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
            .ok_or_else(|| Error::Process(format!("the restored init {pid} vanished")))?;
        cleanup.init = Some(pidfd);
        state.pid = pid;
        state.pid_start_time = procfs::stat(pid)
            .map_err(|e| Error::sys(format!("reading /proc/{pid}/stat"), e))?
            .start_time;
        state.status = Status::Running;
        state.save(dir)?;
        crate::state::write_private(
            dir,
            crate::state::SPEC_FILE,
            &serde_json::to_vec(spec).unwrap_or_default(),
        )?;
        if let Some(pf) = &self.pid_file {
            crate::state::write_pid_file(pf, pid)?;
        }
        let init = cleanup.init.take();
        let c = Container {
            dir: dir.to_owned(),
            state,
            status: Status::Running,
            init,
            console: None,
        };
        hooks::run_all_logged("poststart", &c.state.poststart, &c.oci_json());
        Ok(c)
    }
}

const CRIU_ROOT: &str = "criu-root";

/// The rootfs bound at `<dir>/criu-root` in a new mount namespace: CRIU
/// needs its root to be a mount point whose parent is not overmounted, and
/// the host's mount table must not change. The calling thread enters the
/// namespace only until CRIU is started in it ([`PrivateRoot::leave`]);
/// the namespace, and the bind, end with CRIU.
struct PrivateRoot {
    path: PathBuf,
    /// The thread's own mount namespace and cwd, while it is away from them.
    home: Option<(OwnedFd, OwnedFd)>,
}

impl PrivateRoot {
    fn new(dir: &Path, rootfs: &Path) -> Result<Self> {
        use nix::mount::{mount, MsFlags};
        use rustix::fs::{Mode, OFlags};
        const NONE: Option<&str> = None;
        let ns = rustix::fs::open(
            "/proc/thread-self/ns/mnt",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path("/proc/thread-self/ns/mnt", e))?;
        let cwd = rustix::fs::open(
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("opening the cwd", e))?;
        let path = dir.join(CRIU_ROOT);
        std::fs::create_dir(&path).map_err(|e| Error::path(&path, e))?;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| Error::sys("unshare(CLONE_NEWNS) for restore", e))?;
        let me = PrivateRoot {
            path,
            home: Some((ns, cwd)),
        };
        mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
            .map_err(|e| Error::sys("making the restore mount namespace private", e))?;
        mount(
            Some(rootfs),
            &me.path,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .map_err(|e| {
            Error::sys(
                format!("binding {} at {}", rootfs.display(), me.path.display()),
                e,
            )
        })?;
        Ok(me)
    }

    /// Back to the thread's own namespace and cwd (setns resets the cwd).
    fn leave(&mut self) -> Result<()> {
        if let Some((ns, cwd)) = self.home.take() {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| Error::sys("setns back to the runtime's mount namespace", e))?;
            rustix::process::fchdir(&cwd).map_err(|e| Error::sys("returning to the cwd", e))?;
        }
        Ok(())
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        if self.home.is_some() {
            let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
            if let Err(e) = self.leave() {
                tracing::error!("{e}");
                return;
            }
        }
        // In the runtime's namespace the directory was never a mount point.
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Bind destinations CRIU mounts onto must exist in the rootfs (a fresh
/// bundle may lack them); they are made inside the rootfs only.
fn prepare_mountpoints(spec: &Spec, rootfs: &Path) -> Result<()> {
    let root = rustix::fs::open(
        rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::path(rootfs, e))?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !crate::config::mount_options::is_bind(m) {
            continue;
        }
        let file = m
            .source()
            .as_ref()
            .and_then(|s| std::fs::metadata(s).ok())
            .is_some_and(|md| !md.is_dir());
        crate::init::rootfs::open_in_root(&root, m.destination(), file)
            .map_err(|e| Error::sys(format!("mounts[{i}].destination {:?}", m.destination()), e))?;
    }
    Ok(())
}

/// runc's descriptors.json: the init's stdio targets at checkpoint.
fn read_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(criu::DESCRIPTORS);
    let raw = std::fs::read(&path).map_err(|e| Error::path(&path, e))?;
    serde_json::from_slice(&raw).map_err(|e| Error::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })
}

/// A stopped container under the id (left by `checkpoint`) gives way to
/// the restored one; anything else keeps the id taken.
fn replace_stopped(root: &Path, id: &str) -> Result<()> {
    match Container::load(root, id) {
        Ok(c) if c.status() == Status::Stopped => c.delete(false),
        Ok(_) => Err(Error::Exists(id.to_owned())),
        Err(Error::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
