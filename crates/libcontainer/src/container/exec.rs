//! `exec`: a new process inside a running container, with the container's
//! own security context (user, capabilities, no_new_privs, rlimits, umask,
//! seccomp) unless the caller overrides a field. The configuration comes
//! from the copy persisted at create time, never from the bundle.

use std::{
    os::fd::{AsFd, OwnedFd},
    path::PathBuf,
};

use oci_spec::runtime::{Capabilities, Process, Spec};

use super::{wait::wait_child, Container, ExitStatus};
use crate::{
    error::{Error, Result},
    executor::{DefaultExecutor, Executor, ExecutorError},
    init, namespaces,
    procfs_handle::{open_init_root, ProcBase, ProcfsHandle},
    spawn::{self, Side},
    state::Status,
    sync::PHASE_TIMEOUT,
    sync::{Channel, Msg},
};

/// What `hull exec` may change about the process; everything left unset is
/// the container's own.
#[derive(Default)]
pub struct ExecOptions {
    /// A whole process description (`--process process.json`): replaces the
    /// container's, flags below still apply on top.
    pub process: Option<Process>,
    /// Replaces `process.args` (required unless `process` is given).
    pub args: Vec<String>,
    /// Added to the process's environment (`KEY=VALUE`).
    pub env: Vec<String>,
    /// Working directory inside the container.
    pub cwd: Option<PathBuf>,
    /// The uid, and gid if given, to run as.
    pub user: Option<(u32, Option<u32>)>,
    /// Supplementary gids, replacing the process's.
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    /// Set no_new_privs for the process.
    pub no_new_privs: bool,
    /// Give the process a terminal (`--tty`). Without it, and without
    /// `terminal` in `process`, it has none, whatever the container's
    /// process.terminal says (runc's rule).
    pub tty: bool,
    /// A Unix socket to receive the pty master over, with `tty`.
    pub console_socket: Option<PathBuf>,
    /// Writes the process's pid to this file.
    pub pid_file: Option<PathBuf>,
    /// Passes fds 3..3+N of the caller to the process.
    pub preserve_fds: u32,
    /// The caller will not wait: a terminal then needs a console socket.
    pub detach: bool,
    /// Allow exec into a paused container.
    pub ignore_paused: bool,
    /// AppArmor profile for the process (applied where AppArmor is active,
    /// refused elsewhere).
    pub apparmor: Option<String>,
    /// SELinux label (refused: SELinux is not enabled on hull's hosts).
    pub process_label: Option<String>,
    /// `exec --cgroup`: existing sub-cgroups, `path` or `controller:path`.
    pub cgroups: Vec<String>,
    /// What replaces the set-up process with the program (a Wasm runtime,
    /// say); `None` is [`DefaultExecutor`]. As for the init, its
    /// `validate` runs before `exec` returns, its `exec` last.
    pub executor: Option<Box<dyn Executor>>,
}

/// A process started by [`Container::exec`].
pub struct ExecProcess {
    pid: i32,
    pidfd: OwnedFd,
    /// The pty master when hull relays the terminal itself.
    console: Option<OwnedFd>,
}

impl ExecProcess {
    /// The process's pid (in this process's pid namespace).
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// A pidfd of the process, readable once it has exited: for the
    /// caller's own event loop.
    pub fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
    /// Waits for the process (a child of this process) and collects its
    /// status; signals and the signal mask are left alone.
    pub fn wait(self) -> Result<ExitStatus> {
        wait_child(self.pidfd, self.console, false)
    }
    /// As [`ExecProcess::wait`], forwarding this process's signals to it
    /// (`hull exec`); see [`crate::block_forwarded_signals`].
    pub fn wait_forwarding_signals(self) -> Result<ExitStatus> {
        wait_child(self.pidfd, self.console, true)
    }
}

fn build_process(base: Option<&Process>, o: &ExecOptions) -> Result<Process> {
    let mut p = o.process.clone().or_else(|| base.cloned()).ok_or_else(|| {
        Error::InvalidArgument("exec: the container has no process to base this one on".into())
    })?;
    if !o.args.is_empty() {
        p.set_args(Some(o.args.clone()));
    } else if o.process.is_none() {
        return Err(Error::InvalidArgument("exec: no command given".into()));
    }
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(o.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some((uid, gid)) = o.user {
        let mut u = p.user().clone();
        u.set_uid(uid);
        if let Some(g) = gid {
            u.set_gid(g);
        }
        p.set_user(u);
    }
    if !o.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(o.additional_gids.clone()));
        p.set_user(u);
    }
    if !o.caps.is_empty() {
        let extra: Capabilities = o
            .caps
            .iter()
            .map(|c| {
                let name = if c.starts_with("CAP_") {
                    c.clone()
                } else {
                    format!("CAP_{c}")
                };
                serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                    Error::InvalidArgument(format!("exec --cap: unknown capability {name}"))
                })
            })
            .collect::<Result<_>>()?;
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: &Option<Capabilities>| -> Option<Capabilities> {
            Some(
                set.clone()
                    .unwrap_or_default()
                    .union(&extra)
                    .cloned()
                    .collect(),
            )
        };
        caps.set_bounding(add(caps.bounding()));
        caps.set_effective(add(caps.effective()));
        caps.set_permitted(add(caps.permitted()));
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    // Otherwise the container's profile (or the --process document's), as
    // in runc; create's checks then refuse it where AppArmor is inactive.
    if let Some(profile) = o.apparmor.as_ref().filter(|s| !s.is_empty()) {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    // As runc: a terminal only when asked for (-t, or `terminal` in the
    // --process document), never inherited from the container's process.
    if o.process.is_none() || o.tty {
        p.set_terminal(Some(o.tty));
    }
    Ok(p)
}

impl Container {
    /// Starts a process in the container and returns once it has exec'd
    /// (or failed to, which is this call's error).
    /// It gets the container's user, capabilities, seccomp filter, rlimits and
    /// no_new_privs, from the config kept at create, unless `o` overrides them.
    ///
    /// ```
    /// use libcontainer::{Container, ExecOptions};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// # let Some(fx) = hull_doc_fixture::Fixture::new() else { return Ok(()) };
    /// # let root = fx.root();
    /// # let mut started = libcontainer::ContainerBuilder::new("web", &root).spec(fx.spec("web", &["sleep", "60"])).create()?;
    /// # started.start()?;
    /// let c = Container::load(&root, "web")?;
    /// let p = c.exec(ExecOptions {
    ///     args: vec!["sh".into(), "-c".into(), "exit $CODE".into()],
    ///     env: vec!["CODE=7".into()],
    ///     ..Default::default()
    /// })?;
    /// assert_eq!(p.wait()?.code, Some(7));
    /// # c.delete(true)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn exec(&self, o: ExecOptions) -> Result<ExecProcess> {
        match self.status {
            Status::Running | Status::Created => {}
            Status::Paused if o.ignore_paused => {}
            status => {
                return Err(Error::WrongStatus {
                    id: self.state.id.clone(),
                    status,
                    action: "cannot exec in it",
                })
            }
        }
        if o.process_label.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(Error::Unsupported(
                "exec --process-label: SELinux is not enabled on this host".into(),
            ));
        }
        let mut spec = self.persisted_spec()?;
        let process = build_process(spec.process().as_ref(), &o)?;
        spec.set_process(Some(process));
        // Same checks as create, on the merged process.
        let host = crate::spec::HostSupport::probe();
        crate::spec::validate(&spec, &host, &self.dir.join(crate::state::SPEC_FILE))?;
        let caps =
            init::process::CapPlan::for_this_runtime(spec.process().as_ref(), host.bounding)?;
        for w in spec
            .process()
            .iter()
            .flat_map(crate::spec::process_warnings)
        {
            tracing::warn!("{w}");
        }

        let init_pid = self.pid().ok_or_else(|| Error::WrongStatus {
            id: self.state.id.clone(),
            status: Status::Stopped,
            action: "cannot exec in it",
        })?;
        let mut ns = namespaces::of_process(init_pid)?;
        // The init must still be the process we started: the namespace fds
        // we just opened are then the container's, not a recycled pid's.
        let pinned = self.init_pidfd().ok_or_else(|| Error::WrongStatus {
            id: self.state.id.clone(),
            status: Status::Stopped,
            action: "cannot exec in it",
        })?;
        // Without a mount namespace of its own the init confined itself with
        // chroot, which no namespace join reproduces: enter the same root.
        let root = if namespaces::NsPlan::from_spec(spec.linux().as_ref()).new_mount {
            None
        } else {
            Some(open_init_root(init_pid, &pinned)?)
        };
        // The child is born in the container's pid namespace (entered
        // through pid_for_children around the fork), no second fork.
        let mut pid_ns = ns
            .iter()
            .position(|(t, _)| *t == oci_spec::runtime::LinuxNamespaceType::Pid)
            .map(|i| ns.remove(i).1);
        // An unprivileged hull may not enter a pid namespace from its own
        // user namespace (that needs CAP_SYS_ADMIN there), and root of a
        // user namespace (rootless podman runs hull so) may enter the
        // container's but not return to its own, owned by the initial one.
        // Then the child joins the namespaces first and forks once more, as
        // our sibling (CLONE_PARENT), so the process is the caller's own
        // child to wait for, with no process-wide subreaper.
        let child_pid_ns = pid_ns.take_if(|_| {
            !rustix::process::geteuid().is_root() || crate::rootless::running_in_userns()
        });
        let crate::terminal::Console {
            child_end: console,
            relay,
            size,
        } = crate::terminal::prepare(
            spec.process().as_ref(),
            o.console_socket.as_deref(),
            !o.detach,
            "exec --tty",
            "exec --console-socket",
        )?;
        // The container's filter, so exec'd processes are held to the same
        // profile (youki drops it here; we must not).
        let seccomp_spec = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        let filter = seccomp_spec
            .as_ref()
            .map(crate::seccomp::Filter::build)
            .transpose()?;
        let (parent_ch, child_ch) = Channel::pair()?;
        let default_executor = DefaultExecutor::default();
        let executor: &dyn Executor = match &o.executor {
            Some(e) => e.as_ref(),
            None => &default_executor,
        };
        let cg = match self.cgroup() {
            Some(c) if !o.cgroups.is_empty() => Some(c.sub_cgroup(&o.cgroups)?),
            Some(c) => Some(c),
            None if !o.cgroups.is_empty() => {
                return Err(Error::InvalidArgument(
                    "exec --cgroup: the container has no cgroup".into(),
                ))
            }
            None => None,
        };
        let cg_fd = cg.as_ref().and_then(|c| c.unified_dir_fd());
        let stub = crate::exe::ExecStub::prepare()?;
        // As the init: the child moves itself into the v1 hierarchies,
        // sparing the kernel's global migration lock.
        let mut placement = cg.as_ref().and_then(|c| c.self_placement());
        let keep: Vec<_> = [Some(child_ch.as_fd()), stub.fd()]
            .into_iter()
            .flatten()
            .chain(placement.iter().flat_map(|p| p.fds()))
            .chain(ns.iter().map(|(_, f)| f.as_fd()))
            .chain(root.as_ref().map(|f| f.as_fd()))
            .chain(console.as_ref().map(|c| c.as_fd()))
            .chain(child_pid_ns.as_ref().map(|f| f.as_fd()))
            .collect();
        // SAFETY: the child ends in exec or _exit.
        let forked = unsafe {
            spawn::spawn(
                0,
                cg_fd.as_ref().map(|f| f.as_fd()),
                pid_ns.as_ref().map(|f| f.as_fd()),
                &keep,
            )
        }?;
        let (pid, pidfd, born_in_cgroup) = match forked {
            Side::Child => exec_child(&ExecChild {
                spec: &spec,
                ns,
                root,
                channel: &child_ch,
                // The child was born in its cgroup (or is placed by the
                // parent): the directory fd is the host's, and not its.
                close_fds: [parent_ch.raw_fd()]
                    .into_iter()
                    .chain(cg_fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd))
                    .collect(),
                preserve_fds: o.preserve_fds,
                executor,
                console: console.as_ref().map(|c| (c.as_fd(), size)),
                seccomp: filter.as_ref(),
                caps: &caps,
                exec_stub: stub.fd(),
                pid_ns: child_pid_ns.as_ref(),
                placement: placement.as_ref(),
            }),
            Side::Parent(c) => (c.pid, c.pidfd, c.born_in_cgroup),
        };
        drop(child_ch);
        drop(pinned);
        drop(console);
        let placed_itself = placement.take().is_some();
        let program = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        let mut grandchild = None;
        let result = self.exec_parent(
            &ExecParent {
                channel: &parent_ch,
                pid,
                cgroup: cg.as_ref(),
                born_in_cgroup,
                placed_itself,
                seccomp: seccomp_spec.as_ref(),
                program: &program,
            },
            child_pid_ns.is_some().then_some(&mut grandchild),
        );
        let kill_and_reap = |fd: &OwnedFd| {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
            let _ = rustix::process::waitid(
                rustix::process::WaitId::PidFd(fd.as_fd()),
                rustix::process::WaitIdOptions::EXITED,
            );
        };
        if let Err(e) = result {
            if let Some((_, fd)) = &grandchild {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
            }
            kill_and_reap(&pidfd);
            return Err(e);
        }
        let (pid, pidfd) = match grandchild {
            Some(g) => {
                // The middle process has exited once it reported the pid.
                kill_and_reap(&pidfd);
                g
            }
            None => (pid, pidfd),
        };
        if let Some(pf) = &o.pid_file {
            crate::state::write_pid_file(pf, pid)?;
        }
        let console = relay
            .as_ref()
            .map(crate::terminal::receive_master)
            .transpose()?;
        Ok(ExecProcess {
            pid,
            pidfd,
            console,
        })
    }

    fn exec_parent(
        &self,
        p: &ExecParent<'_>,
        grandchild: Option<&mut Option<(i32, OwnedFd)>>,
    ) -> Result<()> {
        let &ExecParent {
            channel: ch,
            pid,
            cgroup: cg,
            born_in_cgroup,
            placed_itself,
            seccomp,
            program,
        } = p;
        match ch.recv(PHASE_TIMEOUT, "the exec process to start")? {
            Msg::ChildReady { .. } => {}
            Msg::Error(m) => return Err(Error::Init(m)),
            got => return Err(crate::sync::SyncError::unexpected(got, "ChildReady").into()),
        }
        if let Some(cg) = cg {
            cg.add_placed_child(pid, born_in_cgroup, placed_itself)?;
        }
        if let Some(g) = &self.state.intel_rdt {
            crate::rdt::add_task(g, pid)?;
        }
        ch.send(&Msg::Proceed)?;
        let mut pid = pid;
        if let Some(out) = grandchild {
            match ch.recv(PHASE_TIMEOUT, "the exec process's pid")? {
                Msg::InitPid(p) => {
                    let fd = rustix::process::Pid::from_raw(p)
                        .and_then(|p| {
                            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
                                .ok()
                        })
                        .ok_or_else(|| Error::Process(format!("exec process {p} vanished")))?;
                    *out = Some((p, fd));
                    pid = p;
                }
                Msg::Error(m) => return Err(Error::Init(m)),
                got => return Err(crate::sync::SyncError::unexpected(got, "InitPid").into()),
            }
        }
        let state = self.state.spec_state_json(self.status);
        match super::builder::recv_ready(
            ch,
            PHASE_TIMEOUT,
            "the exec process to be set up",
            seccomp,
            pid,
            &state,
            None,
        )? {
            Msg::InitReady => {}
            Msg::Error(m) => return Err(Error::Init(m)),
            got => return Err(crate::sync::SyncError::unexpected(got, "InitReady").into()),
        }
        // The channel is close-on-exec: EOF means execve succeeded, an
        // Error message means it failed.
        match ch.recv(PHASE_TIMEOUT, "execve") {
            Err(crate::sync::SyncError::PeerGone(_)) => Ok(()),
            Ok(Msg::Error(m)) => Err(Error::Init(m)),
            Ok(Msg::ExecFailed(errno)) => Err(ExecutorError::Exec {
                path: program.into(),
                source: std::io::Error::from_raw_os_error(errno),
            }
            .into()),
            Ok(got) => Err(crate::sync::SyncError::unexpected(got, "execve").into()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What the parent side of an exec works with while the child sets up.
struct ExecParent<'a> {
    channel: &'a Channel,
    pid: i32,
    cgroup: Option<&'a libcgroups::Manager>,
    /// clone3 put the child in the cgroup already (CLONE_INTO_CGROUP).
    born_in_cgroup: bool,
    /// The child moved itself into the v1 hierarchies.
    placed_itself: bool,
    seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    /// process.args[0], for the error when execve fails.
    program: &'a str,
}

struct ExecChild<'a> {
    spec: &'a Spec,
    ns: Vec<(oci_spec::runtime::LinuxNamespaceType, OwnedFd)>,
    /// The init's root directory, when the init chrooted into it.
    root: Option<OwnedFd>,
    channel: &'a Channel,
    close_fds: Vec<i32>,
    preserve_fds: u32,
    executor: &'a dyn Executor,
    console: Option<(std::os::fd::BorrowedFd<'a>, Option<(u16, u16)>)>,
    seccomp: Option<&'a crate::seccomp::Filter>,
    /// process.capabilities, planned against the runtime's bounding set.
    caps: &'a init::process::CapPlan,
    exec_stub: Option<std::os::fd::BorrowedFd<'a>>,
    /// The container's pid namespace, entered by the child (after its user
    /// namespace) with one more fork, when hull could not enter it itself.
    pid_ns: Option<&'a OwnedFd>,
    /// The v1 cgroups' `tasks` files, for the child to move itself into.
    placement: Option<&'a libcgroups::SelfPlacement>,
}

fn exec_child(a: &ExecChild) -> ! {
    let code = match exec_setup(a) {
        Ok(never) => match never {},
        Err(e) => {
            let _ = a.channel.send(&Msg::Error(e.to_string()));
            1
        }
    };
    // SAFETY: see init::run.
    unsafe { libc::_exit(code) }
}

fn exec_setup(a: &ExecChild) -> Result<std::convert::Infallible> {
    init::child_prologue(&a.close_fds)?;
    let proc = a
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("process: required".into()))?;
    // Before joining the container's namespaces: its /proc is its own to
    // shape, this instance is not.
    let procfs = ProcfsHandle::new().map_err(|e| Error::sys("opening a private procfs", e))?;
    init::process::set_oom_score_adj(proc, &procfs, ProcBase::SelfProcess)?;
    crate::attrs::set_exec_cpu_affinity_initial(proc)?;
    // Where the parent used to move it: after the initial CPU affinity,
    // which joining a cpuset then replaces, as runc's order has it.
    if let Some(p) = a.placement {
        init::place_self(p)?;
    }
    a.channel.send(&Msg::ChildReady {
        needs_id_maps: false,
    })?;
    a.channel.expect(
        Msg::Proceed,
        PHASE_TIMEOUT,
        "the parent to place the process in the container's cgroup",
    )?;
    // In the cgroup now (its cpuset may have reset the affinity); before
    // the seccomp filter, which need not allow sched_setaffinity.
    crate::attrs::set_exec_cpu_affinity_final(proc)?;
    let ns =
        a.ns.iter()
            .map(|(t, fd)| fd.try_clone().map(|fd| (*t, fd)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::sys("dup", e))?;
    namespaces::join_fds(ns)?;
    if let Some(fd) = a.pid_ns {
        namespaces::set_pid_for_children(fd)?;
        init::fork_into_pid_namespace(a.channel)?;
    }
    if let Some(root) = &a.root {
        rustix::process::fchdir(root)
            .map_err(|e| Error::sys("entering the container's root", e))?;
        rustix::process::chroot(".")
            .map_err(|e| Error::sys("chroot into the container's root", e))?;
        rustix::process::chdir("/").map_err(|e| Error::sys("chdir /", e))?;
    }
    if let Some((sock, size)) = a.console {
        // A controlling terminal needs a session of its own.
        rustix::process::setsid().map_err(|e| Error::sys("setsid", e))?;
        crate::terminal::setup(sock, size, false, proc.user().uid())?;
    }
    // In the container's root and mount namespace: its /etc/passwd.
    let spec = init::home::with_home(a.spec);
    init::apply_process(
        &spec,
        a.caps,
        a.executor,
        a.preserve_fds,
        a.seccomp,
        a.channel,
        &procfs,
    )?;
    a.channel.send(&Msg::InitReady)?;
    crate::exe::arm(a.exec_stub, a.channel.as_fd(), 3 + a.preserve_fds);
    Ok(a.executor.exec(&spec)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_only_when_asked_for() {
        let base: Process = serde_json::from_value(serde_json::json!({"terminal": true, "cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["sh"]})).unwrap();
        let args = vec!["true".to_owned()];
        let terminal = |o: ExecOptions| build_process(Some(&base), &o).unwrap().terminal();
        assert_eq!(
            terminal(ExecOptions {
                args: args.clone(),
                ..Default::default()
            }),
            Some(false)
        );
        assert_eq!(
            terminal(ExecOptions {
                args: args.clone(),
                tty: true,
                ..Default::default()
            }),
            Some(true)
        );
        assert_eq!(
            terminal(ExecOptions {
                process: Some(base.clone()),
                ..Default::default()
            }),
            Some(true)
        );
        let mut plain = base.clone();
        plain.set_terminal(None);
        assert_eq!(
            terminal(ExecOptions {
                process: Some(plain.clone()),
                ..Default::default()
            }),
            None
        );
        assert_eq!(
            terminal(ExecOptions {
                process: Some(plain),
                tty: true,
                ..Default::default()
            }),
            Some(true)
        );
    }
}
