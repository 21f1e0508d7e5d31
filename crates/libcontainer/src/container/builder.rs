//! `create`: from a bundle to an init process waiting for `start`.

use std::{
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use oci_spec::runtime::{Hook, Spec};
use rustix::fs::{Mode, OFlags};

use super::Container;
use crate::{
    error::{Error, Result},
    executor::{DefaultExecutor, Executor},
    fifo, hooks,
    init::{self, InitArgs},
    namespaces::NsPlan,
    procfs,
    spawn::{self, Side},
    spec,
    state::{Lock, State, Status},
    sync::PHASE_TIMEOUT,
    sync::{Channel, Msg, SyncError},
    userns,
};

/// Creates a container from a bundle or an in-memory spec. `create()`
/// returns once the init is set up and blocked on the start barrier.
///
/// Every setter only records; the spec is read and validated in
/// [`ContainerBuilder::create`], before anything is made on the host:
///
/// ```
/// use libcontainer::{ContainerBuilder, Error, SpecError};
///
/// let bundle = std::env::temp_dir().join("libcontainer-doc-builder");
/// std::fs::create_dir_all(&bundle)?;
/// std::fs::write(bundle.join("config.json"), r#"{"ociVersion": "1.0.2", "process": {"args": 1}}"#)?;
/// let err = ContainerBuilder::new("web", std::env::temp_dir().join("libcontainer-doc-root"))
///     .bundle(&bundle)
///     .create()
///     .unwrap_err();
/// // Every problem at once, type errors too, each with its JSON path.
/// assert!(matches!(err, Error::Spec(SpecError::Invalid { .. })), "{err}");
/// assert!(err.to_string().contains("process.args"), "{err}");
/// # std::fs::remove_dir_all(&bundle)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ContainerBuilder {
    id: String,
    root: PathBuf,
    bundle: PathBuf,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    preserve_fds: u32,
    no_pivot: bool,
    no_new_keyring: bool,
    systemd_cgroup: bool,
    rootless: bool,
    foreground: bool,
    notify_socket: Option<PathBuf>,
    listen_fds: u32,
    executor: Box<dyn Executor>,
    spec: Option<Spec>,
    stdio: [Option<OwnedFd>; 3],
}

impl ContainerBuilder {
    /// A builder for container `id`, with its state under `root` (one
    /// directory per container, e.g. `/run/hull`). Nothing happens on the host
    /// until [`ContainerBuilder::create`].
    pub fn new(id: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            root: root.into(),
            bundle: PathBuf::from("."),
            pid_file: None,
            console_socket: None,
            preserve_fds: 0,
            no_pivot: false,
            no_new_keyring: false,
            systemd_cgroup: false,
            rootless: false,
            foreground: false,
            notify_socket: None,
            listen_fds: 0,
            executor: Box::new(DefaultExecutor::default()),
            spec: None,
            stdio: [None, None, None],
        }
    }
    /// The bundle directory: where `config.json` is read from (unless
    /// [`ContainerBuilder::spec`] gives one) and what relative paths in the
    /// spec are relative to. The current directory by default.
    pub fn bundle(mut self, p: impl Into<PathBuf>) -> Self {
        self.bundle = p.into();
        self
    }
    /// Writes the init's pid to this file once the container is created.
    pub fn pid_file(mut self, p: Option<PathBuf>) -> Self {
        self.pid_file = p;
        self
    }
    /// A Unix socket to receive the pty master over (`SCM_RIGHTS`) when
    /// `process.terminal` is set, as runc's `--console-socket`.
    pub fn console_socket(mut self, p: Option<PathBuf>) -> Self {
        self.console_socket = p;
        self
    }
    /// Pass fds 3..3+n to the container, as runc's --preserve-fds.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }
    /// Chroot instead of pivot_root into the rootfs (`--no-pivot`; for a
    /// rootfs on a ramfs, where pivot_root fails).
    pub fn no_pivot(mut self, v: bool) -> Self {
        self.no_pivot = v;
        self
    }
    /// Keep the caller's session keyring instead of joining a new one.
    pub fn no_new_keyring(mut self, v: bool) -> Self {
        self.no_new_keyring = v;
        self
    }
    /// Place the container in a transient systemd scope (`--systemd-cgroup`,
    /// `cgroupsPath` "slice:prefix:name"); needs systemd as init.
    pub fn systemd_cgroup(mut self, v: bool) -> Self {
        self.systemd_cgroup = v;
        self
    }
    /// Rootless cgroups (`--rootless`, see [`crate::Rootless`]): hierarchies
    /// this user may not write are left out (a resource needing one is an
    /// error naming it); where no cgroup can be made at all, a container
    /// that asks for no resources runs without one, as runc runs it.
    pub fn rootless(mut self, v: bool) -> Self {
        self.rootless = v;
        self
    }
    /// The caller will wait for the container (`run` without `-d`): the
    /// init must stay a child of this process even when a pid namespace
    /// needs a second fork.
    pub fn foreground(mut self, v: bool) -> Self {
        self.foreground = v;
        self
    }
    /// The caller's NOTIFY_SOCKET: the container gets its own socket,
    /// relayed by `start` (see [`Container::start_with`]).
    pub fn notify_socket(mut self, p: Option<PathBuf>) -> Self {
        self.notify_socket = p;
        self
    }
    /// systemd socket activation: fds 3..3+n are passed on (on top of
    /// `preserve_fds`) with LISTEN_FDS=n and LISTEN_PID=1 in the container.
    pub fn listen_fds(mut self, n: u32) -> Self {
        self.listen_fds = n;
        self
    }
    /// What replaces the init with the container's program at `start`
    /// ([`DefaultExecutor`] by default: execve of `process.args`).
    pub fn executor(mut self, e: Box<dyn Executor>) -> Self {
        self.executor = e;
        self
    }
    /// Creates from this spec instead of `<bundle>/config.json`, which is
    /// then never read: relative paths in the spec (`root.path`, bind
    /// sources) are still the bundle directory's. The spec is validated as
    /// a config file would be, and kept in the state directory for the
    /// later verbs (`exec`, `checkpoint`, `update`).
    ///
    /// ```
    /// use libcontainer::{oci_spec::runtime::Spec, ContainerBuilder, Error};
    ///
    /// // The id is checked first: it names a directory under the root.
    /// let err = ContainerBuilder::new("../escape", "/run/my-engine")
    ///     .spec(Spec::default())
    ///     .create()
    ///     .unwrap_err();
    /// assert!(matches!(err, Error::InvalidId { .. }));
    /// ```
    pub fn spec(mut self, spec: Spec) -> Self {
        self.spec = Some(spec);
        self
    }
    /// The container process's stdin (fd 0) instead of this process's.
    pub fn stdin(mut self, fd: OwnedFd) -> Self {
        self.stdio[0] = Some(fd);
        self
    }
    /// The container process's stdout (fd 1) instead of this process's.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use libcontainer::{oci_spec::runtime::Spec, ContainerBuilder};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let spec = Spec::default();
    /// let (mut reader, writer) = std::io::pipe()?;
    /// let mut c = ContainerBuilder::new("web", "/run/my-engine")
    ///     .spec(spec)
    ///     .stdout(writer.into())
    ///     .create()?;
    /// c.start()?;
    /// let mut out = String::new();
    /// reader.read_to_string(&mut out)?; // EOF once the container exits
    /// c.wait()?;
    /// c.delete(false)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stdout(mut self, fd: OwnedFd) -> Self {
        self.stdio[1] = Some(fd);
        self
    }
    /// The container process's stderr (fd 2) instead of this process's.
    pub fn stderr(mut self, fd: OwnedFd) -> Self {
        self.stdio[2] = Some(fd);
        self
    }

    /// Validates the spec against the OCI spec and this host, then makes the
    /// state directory, the cgroup and the namespaces, mounts the rootfs and
    /// runs the `prestart`, `createRuntime` and `createContainer` hooks. Returns
    /// once the init waits for [`Container::start`]; on error everything made is
    /// undone. The init is a child of this process.
    pub fn create(self) -> Result<Container> {
        crate::id::validate_id(&self.id)?;
        let bundle =
            std::fs::canonicalize(&self.bundle).map_err(|e| Error::path(&self.bundle, e))?;
        let (spec, config) = spec::load_or_given(&bundle, self.spec.as_ref())?;
        let host = spec::HostSupport::probe();
        spec::validate(&spec, &host, &config)?;
        spec::check_host(&spec, &self.id, &config)?;
        userns::check_unprivileged(&spec)?;
        let terminal = spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        if terminal && self.stdio.iter().any(Option::is_some) {
            return Err(Error::InvalidArgument(
                "process.terminal: a container with a terminal takes no stdin/stdout/stderr fds"
                    .into(),
            ));
        }
        for w in spec::warnings(&spec, &host) {
            tracing::warn!("{w}");
        }

        let (dir, lock) = new_state_dir(&self.root, &self.id)?;
        crate::fault::point("state-dir");
        let mut cleanup = Cleanup::new(&dir);
        let result = self
            .adjust_spec(spec, &dir)
            .and_then(|(spec, notify_mount)| {
                self.create_locked(
                    &spec,
                    host.bounding,
                    notify_mount,
                    &bundle,
                    &dir,
                    &lock,
                    &mut cleanup,
                )
            });
        match result {
            Ok(c) => {
                cleanup.disarm();
                Ok(c)
            }
            Err(e) => {
                cleanup.run();
                Err(e)
            }
        }
    }

    /// What the caller's environment adds to the spec: the notify socket
    /// mount (its index is returned with the spec) and env, LISTEN_FDS.
    fn adjust_spec(&self, mut spec: Spec, dir: &Path) -> Result<(Spec, Option<usize>)> {
        let notify_mount = match &self.notify_socket {
            Some(ns) => Some(crate::notify::setup_spec(&mut spec, dir, ns)?),
            None => None,
        };
        if self.listen_fds > 0 {
            if let Some(p) = spec.process_mut() {
                let mut env = p.env().clone().unwrap_or_default();
                env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
                env.push(format!("LISTEN_FDS={}", self.listen_fds));
                env.push("LISTEN_PID=1".into());
                p.set_env(Some(env));
            }
        }
        Ok((spec, notify_mount))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_locked(
        &self,
        spec: &Spec,
        bounding: Option<rustix::thread::CapabilitySet>,
        notify_mount: Option<usize>,
        bundle: &Path,
        dir: &Path,
        lock: &Lock,
        cleanup: &mut Cleanup,
    ) -> Result<Container> {
        fifo::create(dir)?;
        let state_dir = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path(dir, e))?;

        let linux = spec.linux().as_ref();
        let cgroups_path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cg_opts = libcgroups::CgroupOptions {
            cgroups_path: cgroups_path.as_deref(),
            container_id: &self.id,
        };
        let mut cg = if self.systemd_cgroup {
            Some(libcgroups::Manager::create_systemd(
                &cg_opts,
                self.rootless,
            )?)
        } else {
            let made = if self.rootless {
                libcgroups::Manager::create_rootless(&cg_opts)
            } else {
                libcgroups::Manager::create(&cg_opts)
            };
            match made {
                Ok(m) => {
                    for h in &m.handle().denied {
                        tracing::debug!("rootless: no cgroup in {} (not writable)", h.display());
                    }
                    Some(m)
                }
                Err(e) if self.rootless && e.is_permission_denied() => {
                    crate::rootless::without_cgroup(spec, &e)?;
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(c) = &cg {
            tracing::debug!("container {}: cgroup {}", self.id, c.handle().path);
        }
        cleanup.cgroup = cg.as_ref().map(|c| c.handle().clone());
        let rdt = linux
            .and_then(|l| l.intel_rdt().as_ref())
            .map(|r| crate::rdt::create(r, &self.id))
            .transpose()?;
        cleanup.rdt = rdt.clone();
        // Recorded at once: a create killed from here on leaves a state that
        // `delete --force` can clean up, cgroup included.
        let root_path = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_default();
        let mut state = State::creating(
            spec,
            &self.id,
            bundle,
            root_path.clone(),
            cg.as_ref().map(|c| c.handle()),
        );
        state.intel_rdt = rdt;
        state.save(dir)?;
        let resources = crate::resources::applied(spec);
        // A systemd scope's cgroup exists only once the init is in it: its
        // resources are applied at ChildReady instead.
        if let (Some(r), Some(cg)) = (resources.as_ref(), cg.as_ref().filter(|c| !c.is_systemd())) {
            cg.apply(r)?;
        }

        crate::fault::point("cgroup");
        let plan = NsPlan::from_spec(linux);
        let rootfs = std::fs::canonicalize(&root_path)
            .map_err(|e| Error::path(format!("root.path {}", root_path.display()), e))?;
        state.rootfs = rootfs.clone();
        let hooks = spec.hooks().as_ref();
        let runtime_hooks: Vec<Hook> = hooks
            .map(|h| {
                h.prestart()
                    .iter()
                    .flatten()
                    .chain(h.create_runtime().iter().flatten())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let container_hooks: &[Hook] = hooks
            .and_then(|h| h.create_container().as_deref())
            .unwrap_or(&[]);
        // The init needs the state document (and the parent's go) only for
        // hooks; without any, neither side waits for the other there. With
        // poststop hooks the hand-over still marks where a failure starts
        // to run them (the first hook's place in the lifecycle).
        let hooks_sync = hooks.is_some_and(|h| {
            [
                h.prestart(),
                h.create_runtime(),
                h.create_container(),
                h.start_container(),
                h.poststop(),
            ]
            .iter()
            .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()))
        });

        let crate::terminal::Console {
            child_end: console,
            relay,
            size,
        } = crate::terminal::prepare(
            spec.process().as_ref(),
            self.console_socket.as_deref(),
            self.foreground,
            "process.terminal",
            "--console-socket",
        )?;
        let caps = init::process::CapPlan::for_this_runtime(spec.process().as_ref(), bounding)?;
        let seccomp_spec = linux.and_then(|l| l.seccomp().as_ref());
        let filter = seccomp_spec
            .map(crate::seccomp::Filter::build)
            .transpose()?;
        if let Some(f) = &filter {
            tracing::debug!("seccomp filter: {} BPF instructions", f.instructions());
        }
        // Detached and inherited by the child, which attaches them; the
        // parent's copies close when create returns, whatever the outcome.
        let mut idmapped = crate::idmap::prepare(spec, bundle)?;
        if let Some(i) = notify_mount.filter(|_| plan.in_userns()) {
            if let Some(tree) = crate::notify::detached_dir(dir)? {
                idmapped.insert(i, tree);
            }
        }
        let (parent_ch, child_ch) = Channel::pair()?;
        // systemd refuses a scope without processes, so under its driver the
        // child is born in hull's own cgroup and systemd moves it.
        let cg_fd = cg
            .as_ref()
            .filter(|c| !c.is_systemd())
            .and_then(|c| c.unified_dir_fd());
        let stub = crate::exe::ExecStub::prepare()?;
        let procfs = crate::procfs_handle::ProcfsHandle::mounted()
            .map_err(|e| Error::sys("opening /proc", e))?;
        // Here, not in the child: a child in a new user namespace would
        // read its own, still empty uid_map.
        let runtime_in_userns = crate::rootless::running_in_userns();
        // The child moves itself into the v1 hierarchies, which spares the
        // kernel's global migration lock (see libcgroups::SelfPlacement).
        let mut placement = cg.as_ref().and_then(|c| c.self_placement());
        // SAFETY: the child runs init::run, which ends in exec or _exit.
        let keep: Vec<_> = [
            Some(child_ch.as_fd()),
            Some(state_dir.as_fd()),
            Some(procfs.as_fd()),
            stub.fd(),
        ]
        .into_iter()
        .flatten()
        .chain(placement.iter().flat_map(|p| p.fds()))
        .chain(console.as_ref().map(|c| c.as_fd()))
        .chain(idmapped.fds())
        .chain(self.stdio.iter().flatten().map(|f| f.as_fd()))
        .collect();
        let forked = unsafe {
            spawn::spawn(
                plan.clone_flags,
                cg_fd.as_ref().map(|f| f.as_fd()),
                None,
                &keep,
            )
        }?;
        let (child_pid, child_fd, born_in_cgroup) = match forked {
            Side::Child => init::run(&InitArgs {
                spec,
                plan: &plan,
                channel: &child_ch,
                // Host directories the child never uses: the cgroup
                // manager's, and the cgroup2 leaf it is born in.
                close_fds: [parent_ch.raw_fd(), lock.raw_fd()]
                    .into_iter()
                    .chain(
                        cg.iter()
                            .flat_map(|c| c.fds())
                            .chain(cg_fd.as_ref().map(|f| f.as_fd()))
                            .map(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd)),
                    )
                    .collect(),
                state_dir: state_dir.as_fd(),
                rootfs: &rootfs,
                no_pivot: self.no_pivot,
                no_new_keyring: self.no_new_keyring,
                preserve_fds: self.preserve_fds + self.listen_fds,
                executor: self.executor.as_ref(),
                hooks_timeout: hooks_budget(&runtime_hooks),
                hooks_sync,
                console: console.as_ref().map(|c| (c.as_fd(), size)),
                seccomp: filter.as_ref(),
                caps: &caps,
                procfs: &procfs,
                idmapped: &idmapped,
                exec_stub: stub.fd(),
                placement: placement.as_ref(),
                unprivileged: !rustix::process::geteuid().is_root(),
                runtime_in_userns,
                stdio: [0, 1, 2].map(|i| self.stdio[i].as_ref().map(|f| f.as_fd())),
            }),
            Side::Parent(c) => (c.pid, c.pidfd, c.born_in_cgroup),
        };
        drop(child_ch);
        drop(console);
        let placed_itself = placement.take().is_some();
        tracing::debug!(
            "container {}: forked {child_pid} with namespaces {:#x}",
            self.id,
            plan.clone_flags
        );
        cleanup.child = Some((child_pid, child_fd));
        crate::fault::point("clone");

        // When the parent has nothing to do to the child at ChildReady (no
        // cgroup or resctrl group to put it in, no id maps, no network
        // devices, no oom score to write, each of which could also fail on
        // a child that died meanwhile), the go goes out at once: the child
        // never stops for the parent's bookkeeping.
        let early_go = !plan.new_user
            && state.intel_rdt.is_none()
            && linux
                .and_then(|l| l.net_devices().as_ref())
                .is_none_or(|d| d.is_empty())
            && spec
                .process()
                .as_ref()
                .and_then(|p| p.oom_score_adj())
                .is_none()
            && cg
                .as_ref()
                .is_none_or(|c| c.places_nothing(born_in_cgroup, placed_itself));
        if early_go {
            // A child that already failed and exited refuses the send; its
            // error is queued, and the next receive reports it.
            let _ = parent_ch.send(&Msg::Proceed);
        }

        state.pid = child_pid;
        state.pid_start_time = procfs::stat(child_pid).map(|s| s.start_time).unwrap_or(0);

        match recv(&parent_ch, PHASE_TIMEOUT, "the container init to start")? {
            Msg::ChildReady { needs_id_maps } => {
                if let Some(cg) = cg.as_mut() {
                    let in_scope = cg.start_scope(child_pid, &self.id)?;
                    if in_scope {
                        // Now with the unit's InvocationID: only that unit is
                        // ever stopped for this container.
                        state.cgroup = Some(cg.handle().clone());
                        cleanup.cgroup = Some(cg.handle().clone());
                    }
                    cg.add_placed_child(child_pid, born_in_cgroup || in_scope, placed_itself)?;
                    if let Some(r) = resources.as_ref().filter(|_| in_scope) {
                        cg.apply(r)?;
                    }
                }
                if let Some(g) = &state.intel_rdt {
                    crate::rdt::add_task(g, child_pid)?;
                }
                // By hull, as the host's root: inside a user namespace the
                // child could no longer write its own score.
                if let Some(p) = spec.process() {
                    init::process::set_oom_score_adj(
                        p,
                        &procfs,
                        crate::procfs_handle::ProcBase::Pid(child_pid),
                    )?;
                }
                if needs_id_maps {
                    let l = linux.ok_or_else(|| {
                        Error::InvalidArgument("linux: required for a user namespace".into())
                    })?;
                    userns::write_id_maps(
                        child_pid,
                        l.uid_mappings().as_deref().unwrap_or(&[]),
                        l.gid_mappings().as_deref().unwrap_or(&[]),
                    )?;
                }
                state.net_devices = match linux {
                    Some(l) => prepare_net_devices(l, child_pid, dir, cleanup)?,
                    None => None,
                };
                // Recorded before anything else can fail, so `delete --force`
                // finds the process and cgroup even if this create is killed.
                state.save(dir)?;
                crate::fault::point("child-ready");
                // Before the init goes on: its net.* sysctls may name them.
                if let Some(n) = cleanup.net.as_mut() {
                    crate::netdev::move_in(n.container.as_fd(), &mut n.record)?;
                    state.net_devices = Some(n.record.clone());
                    state.save(dir)?;
                }
                if !early_go {
                    parent_ch.send(&Msg::Proceed)?;
                }
            }
            got => return Err(unexpected(got, "ChildReady")),
        }
        let init_pid = if plan.fork_for_pid {
            match recv(&parent_ch, PHASE_TIMEOUT, "the init's pid")? {
                Msg::InitPid(pid) => {
                    let pidfd = rustix::process::Pid::from_raw(pid)
                        .and_then(|p| {
                            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
                                .ok()
                        })
                        .ok_or_else(|| Error::Process(format!("container init {pid} vanished")))?;
                    cleanup.init = Some(pidfd);
                    reap(child_pid);
                    pid
                }
                got => return Err(unexpected(got, "InitPid")),
            }
        } else {
            child_pid
        };
        if init_pid != child_pid || state.pid_start_time == 0 {
            // Only a second fork (or an unreadable first stat) changes what
            // was recorded after ChildReady.
            state.pid = init_pid;
            state.pid_start_time = procfs::stat(init_pid)
                .map_err(|e| Error::sys(format!("reading /proc/{init_pid}/stat"), e))?
                .start_time;
            state.save(dir)?;
        }
        crate::fault::point("init-pid");

        // The init asks for the rootfs and each bind source as it mounts.
        let init_pidfd = if plan.fork_for_pid {
            cleanup.init.as_ref()
        } else {
            cleanup.child.as_ref().map(|(_, fd)| fd)
        }
        .ok_or_else(|| Error::Process("the container init's pidfd is missing".into()))?;
        // exec, update and checkpoint read this copy of the spec. Written
        // once the init has its rootfs (it mounts everything else next),
        // or at once when it has no mounts to ask for.
        let write_spec = || {
            crate::state::write_private(
                dir,
                crate::state::SPEC_FILE,
                &serde_json::to_vec(spec).unwrap_or_default(),
            )
        };
        let mut spec_written = false;
        const MOUNTS: &str = "the container's mounts";
        let (mut mounted, mut mounted_fd) = parent_ch.recv_with_fd(PHASE_TIMEOUT, MOUNTS)?;
        while let Msg::NeedMountSource(wanted) = mounted {
            crate::mount_sources::answer(
                &parent_ch, init_pid, init_pidfd, wanted, spec, bundle, &rootfs,
            )?;
            if !spec_written {
                write_spec()?;
                spec_written = true;
            }
            (mounted, mounted_fd) = parent_ch.recv_with_fd(PHASE_TIMEOUT, MOUNTS)?;
        }
        if !spec_written {
            write_spec()?;
        }
        if let Msg::Error(m) = mounted {
            return Err(Error::Init(m));
        }
        let creating = state.spec_state_json(Status::Creating);
        let after_mounts = if hooks_sync {
            match mounted {
                Msg::RuntimeHooks => {
                    // From the first hook on, a failure continues the
                    // lifecycle at delete, which runs the poststop hooks.
                    cleanup.poststop = Some((
                        state.poststop.clone(),
                        state.spec_state_json(Status::Stopped).into_bytes(),
                    ));
                    // As runc, which runs them from the bundle directory.
                    let ctx = hooks::Context {
                        env: None,
                        cwd: Some(bundle),
                    };
                    hooks::run_all(
                        "prestart",
                        hooks.and_then(|h| h.prestart().as_deref()).unwrap_or(&[]),
                        creating.as_bytes(),
                        ctx,
                    )?;
                    hooks::run_all(
                        "createRuntime",
                        hooks
                            .and_then(|h| h.create_runtime().as_deref())
                            .unwrap_or(&[]),
                        creating.as_bytes(),
                        ctx,
                    )?;
                    parent_ch.send(&Msg::HooksDone(creating.clone()))?;
                }
                got => return Err(unexpected(got, "RuntimeHooks")),
            }
            None
        } else {
            // The init went on to its last steps: what it sent is theirs.
            Some((mounted, mounted_fd))
        };
        match recv_ready(
            &parent_ch,
            hooks_budget(container_hooks),
            "the container init to finish setup",
            seccomp_spec,
            init_pid,
            &creating,
            after_mounts,
        )? {
            Msg::InitReady => {}
            got => return Err(unexpected(got, "InitReady")),
        }

        let console = relay
            .as_ref()
            .map(crate::terminal::receive_master)
            .transpose()?;
        crate::fault::point("init-ready");
        state.status = Status::Created;
        state.save(dir)?;
        crate::fault::point("created");
        if let Some(pf) = &self.pid_file {
            crate::state::write_pid_file(pf, init_pid)?;
        }
        tracing::debug!("container {}: created, init pid {init_pid}", self.id);
        let init = if plan.fork_for_pid {
            cleanup.init.take()
        } else {
            cleanup.child.take().map(|(_, fd)| fd)
        };
        Ok(Container {
            dir: dir.to_owned(),
            state,
            status: Status::Created,
            init,
            console,
        })
    }
}

fn recv(ch: &Channel, timeout: Duration, what: &'static str) -> Result<Msg> {
    match ch.recv(timeout, what)? {
        Msg::Error(m) => Err(Error::Init(m)),
        m => Ok(m),
    }
}

/// Receives the message ending setup. With a seccomp notify filter the
/// notify fd comes first and is handed to the agent at listenerPath at
/// once, before waiting further: the child may already be blocked on a
/// notified syscall that only the agent can answer. `first` is a message
/// (and fd) of this phase the caller has received already.
pub(super) fn recv_ready(
    ch: &Channel,
    timeout: Duration,
    what: &'static str,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    pid: i32,
    state_json: &str,
    mut first: Option<(Msg, Option<OwnedFd>)>,
) -> Result<Msg> {
    loop {
        let got = match first.take() {
            Some(m) => m,
            None => ch.recv_with_fd(timeout, what)?,
        };
        match got {
            (Msg::SeccompFd, Some(fd)) => {
                let s = seccomp.ok_or_else(|| {
                    Error::InvalidArgument(
                        "the init sent a seccomp fd without a seccomp profile".into(),
                    )
                })?;
                let listener = s.listener_path().as_ref().ok_or_else(|| {
                    Error::InvalidArgument(
                        "linux.seccomp.listenerPath: required for SCMP_ACT_NOTIFY".into(),
                    )
                })?;
                crate::seccomp::send_to_listener(
                    listener,
                    fd.as_fd(),
                    pid,
                    s.listener_metadata().as_deref(),
                    state_json,
                )?;
            }
            (Msg::SeccompFd, None) => {
                return Err(Error::Process(
                    "the init's seccomp notify fd did not arrive".into(),
                ))
            }
            (Msg::Error(m), _) => return Err(Error::Init(m)),
            (m, _) => return Ok(m),
        }
    }
}

fn unexpected(got: Msg, want: &'static str) -> Error {
    SyncError::unexpected(got, want).into()
}

/// A phase that runs hooks may take as long as their timeouts allow; a hook
/// without a timeout may run for as long as it likes, bounded at an hour.
fn hooks_budget(hooks: &[Hook]) -> Duration {
    let mut secs = PHASE_TIMEOUT.as_secs();
    for h in hooks {
        secs += h.timeout().map(|t| t.max(0) as u64).unwrap_or(3600);
    }
    Duration::from_secs(secs)
}

/// Makes `<root>/<id>` and locks it; an existing one means the id is taken.
///
/// The root is 0700 ([`crate::state::open_root`]), so nobody else reaches
/// anything below it. The container's directory is 0711, as runc makes it:
/// the init opens exec.fifo through its fd after dropping to the
/// container's user, which needs the search bit, never the read bit.
pub(super) fn new_state_dir(root: &Path, id: &str) -> Result<(PathBuf, Lock)> {
    let root_fd = crate::state::open_root(root)?;
    let dir = root.join(id);
    match rustix::fs::mkdirat(&root_fd, id, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Err(Error::Exists(id.to_owned())),
        Err(e) => return Err(Error::path(&dir, e)),
    }
    let locked = Lock::acquire_at(root_fd.as_fd(), id).and_then(|l| {
        rustix::fs::fchmod(l.dir_fd(), Mode::from_raw_mode(0o711))?;
        Ok(l)
    });
    match locked {
        Ok(l) => Ok((dir, l)),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&root_fd, id, rustix::fs::AtFlags::REMOVEDIR);
            Err(Error::path(&dir, e))
        }
    }
}

/// Reads the devices of `linux.netDevices` as they are in the runtime's
/// network namespace and pins the child's (so that the devices outlive
/// its processes until delete). The returned record goes into state
/// before anything moves; `cleanup` can then move back whatever did.
fn prepare_net_devices(
    linux: &oci_spec::runtime::Linux,
    child_pid: i32,
    dir: &Path,
    cleanup: &mut Cleanup,
) -> Result<Option<crate::netdev::Record>> {
    let origin = crate::netdev::current_netns()?;
    let Some(record) = crate::netdev::plan(linux, origin.as_fd())? else {
        return Ok(None);
    };
    let container = crate::netdev::netns_of(child_pid)?;
    cleanup.unpin = true;
    crate::netdev::pin(dir, container.as_fd())?;
    cleanup.net = Some(NetCleanup {
        container,
        origin,
        record: record.clone(),
    });
    Ok(Some(record))
}

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

/// The devices a create is moving, with the namespaces to move them
/// between (the fd keeps the container's alive after its init dies).
pub(super) struct NetCleanup {
    container: OwnedFd,
    origin: OwnedFd,
    record: crate::netdev::Record,
}

/// Undoes a failed create: processes first (so the cgroup can empty), then
/// the cgroup, moved network devices and resctrl groups, then the state
/// directory.
pub(super) struct Cleanup {
    dir: PathBuf,
    /// False when the directory may hold a mount that must not be walked.
    pub(super) remove_dir: bool,
    pub(super) cgroup: Option<libcgroups::CgroupHandle>,
    child: Option<(i32, OwnedFd)>,
    pub(super) init: Option<OwnedFd>,
    pub(super) poststop: Option<(Vec<Hook>, Vec<u8>)>,
    net: Option<NetCleanup>,
    /// Whether `<dir>/netns` may hold the namespace pin.
    unpin: bool,
    rdt: Option<crate::rdt::Group>,
}

impl Cleanup {
    pub(super) fn new(dir: &Path) -> Self {
        Cleanup {
            dir: dir.to_owned(),
            remove_dir: true,
            cgroup: None,
            child: None,
            init: None,
            poststop: None,
            net: None,
            unpin: false,
            rdt: None,
        }
    }

    pub(super) fn disarm(&mut self) {
        self.cgroup = None;
        self.child = None;
        self.init = None;
        self.poststop = None;
        self.net = None;
        self.unpin = false;
        self.rdt = None;
    }

    pub(super) fn run(&mut self) {
        if let Some(fd) = self.init.take() {
            let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
            hooks::wait_readable(&fd, Duration::from_secs(5));
        }
        if let Some((pid, fd)) = self.child.take() {
            let _ = rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL);
            reap(pid);
            drop(fd);
        }
        if let Some(h) = self.cgroup.take() {
            let m = libcgroups::Manager::from_handle(h);
            // Anything the init forked before dying is ours too.
            if let Ok(pids) = m.pids() {
                for p in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            if let Err(e) = m.destroy() {
                tracing::warn!("cleanup after failed create: {e}");
            }
        }
        if let Some(n) = self.net.take() {
            for w in crate::netdev::move_back(n.container.as_fd(), n.origin.as_fd(), &n.record) {
                tracing::warn!("cleanup after failed create: {w}");
            }
        }
        if self.unpin {
            crate::netdev::unpin(&self.dir);
        }
        if let Some(g) = self.rdt.take() {
            crate::rdt::remove(&g, true);
        }
        if let Some((hooks, state)) = self.poststop.take() {
            hooks::run_all_logged("poststop", &hooks, &state);
        }
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            tracing::error!("left {:?} in place: it may still hold a mount", self.dir);
        }
    }
}
