//! The container's init: code that runs in the forked child, from the fork
//! to the exec of the container's program. It talks to the parent only over
//! the sync channel (see crate::sync for the sequence).

pub(crate) mod home;
pub(crate) mod process;
pub(crate) mod rootfs;

use std::{
    convert::Infallible,
    os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd},
    path::Path,
    time::Duration,
};

use oci_spec::runtime::{Hook, Spec};
use rustix::thread::CapabilitySet;

use crate::{
    error::{Error, Result},
    executor::Executor,
    hooks,
    namespaces::{self, NsPlan},
    procfs_handle::{ProcBase, ProcfsHandle},
    sync::{Channel, Msg, PHASE_TIMEOUT},
};

/// Everything the child needs, inherited through fork: nothing is
/// serialised, nothing re-read.
pub(crate) struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub plan: &'a NsPlan,
    pub channel: &'a Channel,
    /// Parent-only fds the child must close at once (the parent's channel
    /// end, the container lock): holding them would keep the lock taken.
    pub close_fds: Vec<i32>,
    /// O_PATH fd of the state directory, for the exec fifo.
    pub state_dir: BorrowedFd<'a>,
    pub rootfs: &'a Path,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub executor: &'a dyn Executor,
    /// Wait for the parent's go for the whole hooks phase this long.
    pub hooks_timeout: Duration,
    /// Some hook run before or by the init, or a poststop hook, exists:
    /// the init hands over to the parent after its mounts and gets the
    /// state document back. Without one it goes straight on.
    pub hooks_sync: bool,
    /// The compiled linux.seccomp filter.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// The runtime's /proc, opened before the fork: nothing the container
    /// controls can shape it, and no procfs instance is made (and freed,
    /// an expedited RCU grace period) per container.
    pub procfs: &'a ProcfsHandle,
    /// process.capabilities, planned against the runtime's bounding set.
    pub caps: &'a process::CapPlan,
    /// Console socket and size when process.terminal is set.
    pub console: Option<(BorrowedFd<'a>, Option<(u16, u16)>)>,
    /// Idmapped mounts the parent prepared, for `mounts` to attach.
    pub idmapped: &'a crate::idmap::IdmappedMounts,
    /// The sealed exec stub when the caller's binary needs it (crate::exe).
    pub exec_stub: Option<BorrowedFd<'a>>,
    /// The v1 cgroups' `tasks` files, for the child to move itself into
    /// first; the parent then leaves those hierarchies alone.
    pub placement: Option<&'a libcgroups::SelfPlacement>,
    /// The runtime is not root: its id maps are written by a process
    /// without CAP_DAC_OVERRIDE, which cannot open a non-dumpable
    /// process's /proc files.
    pub unprivileged: bool,
    /// The runtime itself runs in a user namespace (rootless podman runs
    /// it there): mounts and device nodes are made as in one even when
    /// the container has no user namespace of its own.
    pub runtime_in_userns: bool,
    /// The caller's fds for the process's stdin, stdout and stderr.
    pub stdio: [Option<BorrowedFd<'a>>; 3],
}

/// Child entry point; never returns.
pub(crate) fn run(a: &InitArgs) -> ! {
    let code = match init(a) {
        Ok(never) => match never {},
        Err(e) => {
            let _ = a.channel.send(&Msg::Error(e.to_string()));
            1
        }
    };
    // SAFETY: _exit skips atexit handlers and stdio flushing that belong to
    // the parent's copy of this process image.
    unsafe { libc::_exit(code) }
}

/// First steps of every child: drop the parent's fds, die with the
/// parent, and clear the runtime's signal state.
pub(crate) fn child_prologue(close_fds: &[i32]) -> Result<()> {
    for fd in close_fds {
        // SAFETY: these fds are the parent's; the child's copies are closed
        // exactly once, here, and never used again.
        drop(unsafe { OwnedFd::from_raw_fd(*fd) });
    }
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| Error::sys("prctl(PR_SET_PDEATHSIG)", e))?;
    // Until it execs, this process holds host fds (state dir, channel) and
    // runs the hull binary: container processes must not ptrace it or
    // reach them through /proc/<pid>/{fd,exe,root}. execve resets this.
    set_dumpable(rustix::process::DumpableBehavior::NotDumpable)?;
    reset_signals();
    Ok(())
}

/// Puts the caller's fds at 0, 1 and 2. Each goes through a copy above 2
/// first, so that one given as, say, fd 0 for stdout is not overwritten by
/// the stdin it was meant to sit beside.
pub(crate) fn set_stdio(stdio: &[Option<BorrowedFd<'_>>; 3]) -> Result<()> {
    let mut copies = Vec::new();
    for (target, fd) in stdio.iter().enumerate() {
        if let Some(fd) = fd {
            let copy = rustix::io::fcntl_dupfd_cloexec(fd, 3)
                .map_err(|e| Error::sys(format!("dup of the fd for stdio {target}"), e))?;
            copies.push((target as i32, copy));
        }
    }
    for (target, copy) in copies {
        // SAFETY: 0..=2 are this process's stdio, replaced here on purpose;
        // dup2 leaves the new fd without close-on-exec.
        let mut t = unsafe { OwnedFd::from_raw_fd(target) };
        let r = rustix::io::dup2(&copy, &mut t);
        std::mem::forget(t);
        r.map_err(|e| Error::sys(format!("dup2 onto fd {target}"), e))?;
    }
    Ok(())
}

/// Moves this freshly forked child into its v1 cgroups through the
/// parent's open `tasks` files, then closes its copies of them.
pub(crate) fn place_self(p: &libcgroups::SelfPlacement) -> Result<()> {
    p.place_self()?;
    for fd in p.raw_fds() {
        // SAFETY: the child's copies of the parent's `tasks` fds, closed
        // exactly once here and never used again (the child ends in exec
        // or _exit, so the parent's OwnedFds never drop here).
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(())
}

fn set_dumpable(d: rustix::process::DumpableBehavior) -> Result<()> {
    rustix::process::set_dumpable_behavior(d).map_err(|e| Error::sys("prctl(PR_SET_DUMPABLE)", e))
}

fn init(a: &InitArgs) -> Result<Infallible> {
    child_prologue(&a.close_fds)?;
    if let Some(p) = a.placement {
        // First, so that everything this process makes from here on is
        // charged to the container.
        place_self(p)?;
    }
    set_stdio(&a.stdio)?;
    let procfs = a.procfs;
    let plan = a.plan;
    if !plan.joins.is_empty() {
        namespaces::join_all(plan)?;
    }
    namespaces::unshare(plan.unshare_early, "namespaces")?;
    // Dumpable only while the parent writes the maps and opens the mount
    // sources through /proc/<pid>/root, before any process of the container
    // exists (runc too makes its init dumpable for the maps). Only the
    // caller's own processes, which control hull anyway, could attach.
    let dumpable_for_parent = plan.new_user && a.unprivileged;
    if dumpable_for_parent {
        set_dumpable(rustix::process::DumpableBehavior::Dumpable)?;
    }
    a.channel.send(&Msg::ChildReady {
        needs_id_maps: plan.new_user,
    })?;
    a.channel.expect(
        Msg::Proceed,
        PHASE_TIMEOUT,
        "the parent to set up cgroups and id maps",
    )?;
    namespaces::enter_late(plan, procfs)?;
    if plan.fork_for_pid {
        // As the caller's own child, which it can wait for without being a
        // subreaper.
        fork_into_pid_namespace(a.channel)?;
    }
    // A user namespace joined by path needs the same as a new one: the
    // host's root is not mapped in it.
    let in_userns = plan.in_userns();
    if in_userns {
        // Become the namespace's root so files we create are owned by it.
        rustix::thread::set_thread_res_gid(
            rustix::thread::Gid::ROOT,
            rustix::thread::Gid::ROOT,
            rustix::thread::Gid::ROOT,
        )
        .map_err(|e| Error::sys("setresgid(0) in the user namespace", e))?;
        rustix::thread::set_thread_res_uid(
            rustix::thread::Uid::ROOT,
            rustix::thread::Uid::ROOT,
            rustix::thread::Uid::ROOT,
        )
        .map_err(|e| Error::sys("setresuid(0) in the user namespace", e))?;
    }
    rustix::process::setsid().map_err(|e| Error::sys("setsid", e))?;

    let spec = a.spec;
    let linux = spec.linux().as_ref();
    let rootfs_fd = if plan.new_mount {
        let ctx = rootfs::RootfsCtx {
            spec,
            rootfs: a.rootfs,
            in_userns: in_userns || a.runtime_in_userns,
            new_netns: plan.new_net,
            new_cgroupns: plan.new_cgroup,
            idmapped: a.idmapped,
            channel: a.channel,
        };
        Some(rootfs::prepare(&ctx)?)
    } else {
        None
    };

    if dumpable_for_parent {
        set_dumpable(rustix::process::DumpableBehavior::NotDumpable)?;
    }
    let state_json = if a.hooks_sync {
        a.channel.send(&Msg::RuntimeHooks)?;
        match a.channel.recv(a.hooks_timeout, "the createRuntime hooks")? {
            Msg::HooksDone(s) => s,
            got => return Err(crate::sync::SyncError::unexpected(got, "HooksDone").into()),
        }
    } else {
        String::new()
    };
    let hooks = spec.hooks().as_ref();
    // As runc, createContainer hooks run from the rootfs (through the fd:
    // in a user namespace its path may not be reachable).
    match &rootfs_fd {
        Some(root) => rustix::process::fchdir(root),
        None => rustix::process::chdir(a.rootfs),
    }
    .map_err(|e| Error::sys(format!("entering the rootfs {:?}", a.rootfs), e))?;
    // A hook without `env` gets the runtime's environment, not the
    // container's (runc passes process.env): it is a host binary running as
    // root from the rootfs, where an image's LD_PRELOAD=./x.so or PATH=bin
    // would load or run the image's files.
    let ctx = hooks::Context {
        env: None,
        cwd: None,
    };
    hooks::run_all(
        "createContainer",
        hook_list(hooks.and_then(|h| h.create_container().as_deref())),
        state_json.as_bytes(),
        ctx,
    )?;

    if let Some(root) = rootfs_fd {
        rootfs::enter(&root, a.no_pivot)?;
        drop(root);
        rootfs::restore_root_propagation(spec)?;
        rootfs::reopen_dev_null()?;
    } else {
        rustix::process::chroot(a.rootfs)
            .map_err(|e| Error::sys(format!("chroot {:?}", a.rootfs), e))?;
        nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))?;
    }
    if let Some(l) = linux {
        for (k, v) in l.sysctl().iter().flatten() {
            let path = format!("sys/{}", k.replace('.', "/"));
            procfs
                .write(ProcBase::Root, &path, v.as_bytes())
                .map_err(|e| Error::sys(format!("linux.sysctl[{k:?}]: writing /proc/{path}"), e))?;
        }
        rootfs::mask_paths(l.masked_paths().as_deref().unwrap_or(&[]))?;
        rootfs::readonly_paths(l.readonly_paths().as_deref().unwrap_or(&[]))?;
    }
    if let Some((sock, size)) = a.console {
        let uid = spec.process().as_ref().map_or(0, |p| p.user().uid());
        crate::terminal::setup(sock, size, plan.new_mount, uid)?;
    }
    if let Some(h) = spec.hostname().as_deref() {
        rustix::system::sethostname(h.as_bytes()).map_err(|e| Error::sys("hostname", e))?;
    }
    if let Some(d) = spec.domainname().as_deref() {
        rustix::system::setdomainname(d.as_bytes()).map_err(|e| Error::sys("domainname", e))?;
    }
    if plan.new_mount {
        rootfs::remount_read_only_last(spec)?;
    }
    if plan.new_mount && spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        rootfs::remount_root_readonly()?;
    }
    if !a.no_new_keyring {
        crate::syscall::join_new_session_keyring("_ses.hull")
            .map_err(|e| Error::sys("joining a new session keyring", e))?;
    }

    // In the container's root now: its /etc/passwd is the one to read.
    let spec_home = home::with_home(spec);
    let spec: &Spec = &spec_home;
    let proc = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Init("process: required".into()))?;
    apply_process(
        spec,
        a.caps,
        a.executor,
        a.preserve_fds,
        a.seccomp,
        a.channel,
        procfs,
    )?;
    a.channel.send(&Msg::InitReady)?;
    let fifo = crate::fifo::wait_for_start(a.state_dir)?;
    let start_hooks = hook_list(hooks.and_then(|h| h.start_container().as_deref()));
    if !start_hooks.is_empty() {
        // CVE-2024-21626 through a hook: its path is the container's, and
        // the kernel resolves it before close-on-exec fds go, so a
        // /proc/self/fd/N/.. in it would reach the runtime's directories.
        // Nothing but the sync socket, the stub and the fifo (none of them
        // a directory) is needed from here on.
        let keep: Vec<i32> = [Some(a.channel.as_fd()), a.exec_stub, Some(fifo.as_fd())]
            .into_iter()
            .flatten()
            .map(|fd| std::os::fd::AsRawFd::as_raw_fd(&fd))
            .collect();
        crate::fds::close_from(3 + a.preserve_fds, &keep)
            .map_err(|e| Error::sys("closing the runtime's fds before startContainer hooks", e))?;
    }
    // In the process's own cwd (apply_process changed into it), with its
    // environment, HOME included (as runc's, which sets it in the init).
    let ctx = hooks::Context {
        env: Some(proc.env().as_deref().unwrap_or(&[])),
        cwd: None,
    };
    let started = hooks::run_all(
        "startContainer",
        start_hooks,
        with_status(&state_json, "created").as_bytes(),
        ctx,
    );
    crate::fifo::report_started(
        &fifo,
        started.as_ref().map(|_| ()).map_err(|e| e.to_string()),
    );
    started?;
    crate::exe::arm(a.exec_stub, a.channel.as_fd(), 3 + a.preserve_fds);
    Ok(a.executor.exec(spec)?)
}

/// The process attributes shared by the init and `exec`: rlimits, user and
/// capabilities, cwd, umask, the executable check, close-on-exec for every
/// fd the process must not inherit, no_new_privs and the seccomp filter (a
/// notify fd goes to the parent over `channel`).
///
/// The filter judges every syscall made after it is loaded, and profiles
/// list what the container's program needs, not what hull needs. So all
/// of the setup comes first and only the capability drop follows the load
/// (then the callers' sync messages, the start barrier and execve).
/// Without no_new_privs loading needs CAP_SYS_ADMIN: it stays effective
/// through the user switch and goes right after the load.
pub(crate) fn apply_process(
    spec: &Spec,
    caps: &process::CapPlan,
    executor: &dyn Executor,
    preserve_fds: u32,
    seccomp: Option<&crate::seccomp::Filter>,
    channel: &Channel,
    procfs: &ProcfsHandle,
) -> Result<()> {
    let proc = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Init("process: required".into()))?;
    let nnp = proc.no_new_privileges() == Some(true);
    crate::rlimits::set_rlimits(proc)?;
    // Before the capability drop: realtime classes and a lower nice value
    // need CAP_SYS_NICE.
    crate::attrs::apply(spec, proc)?;
    let cwd = proc.cwd();
    // As runc: first with the runtime's credentials, again as the user if
    // only the user can reach it.
    let early_cd = nix::unistd::chdir(cwd);
    let setgroups_allowed = procfs
        .read_to_string(ProcBase::SelfProcess, "setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    let keep = (seccomp.is_some() && !nnp)
        .then_some(CapabilitySet::SYS_ADMIN)
        .filter(|c| crate::caps::permitted_has(*c))
        .unwrap_or(CapabilitySet::empty());
    // As runc, before the user switch, no_new_privs and seccomp: the
    // change happens at execve (children forked before then, such as
    // startContainer hooks, inherit the request, as in runc).
    if let Some(profile) = proc.apparmor_profile().as_deref() {
        crate::apparmor::change_onexec(procfs, profile)?;
    }
    process::set_user_and_caps(proc, caps, setgroups_allowed, keep)?;
    if early_cd.is_err() {
        nix::unistd::chdir(cwd)
            .map_err(|e| Error::sys(format!("process.cwd: chdir {cwd:?}"), e))?;
    }
    check_cwd_inside(cwd)?;
    process::set_umask(proc);
    executor.validate(spec)?;
    crate::fds::cloexec_from(3 + preserve_fds, procfs)
        .map_err(|e| Error::sys("marking inherited fds close-on-exec", e))?;
    // execve keeps the parent-death signal, and the process must outlive
    // hull: the init once `create` returns, a detached exec at once. (The
    // switch to a non-root user has cleared it already.)
    rustix::process::set_parent_process_death_signal(None)
        .map_err(|e| Error::sys("prctl(PR_SET_PDEATHSIG)", e))?;
    if nnp {
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| Error::sys("process.noNewPrivileges", e))?;
    }
    if let Some(f) = seccomp {
        load_seccomp(f, channel)?;
    }
    if !keep.is_empty() {
        caps.drop_kept()?;
    }
    Ok(())
}

/// CVE-2024-21626: a cwd like /proc/self/fd/N can land on a directory fd
/// the runtime still holds, outside the container's root. The kernel then
/// reports the cwd as "(unreachable)..." (or cannot name it at all).
fn check_cwd_inside(cwd: &std::path::Path) -> Result<()> {
    let outside = || {
        Error::Init(format!(
            "process.cwd: {cwd:?} resolves outside the container's root"
        ))
    };
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.as_bytes().starts_with(b"/") => Ok(()),
        Ok(_) | Err(rustix::io::Errno::NOENT) => Err(outside()),
        Err(e) => Err(Error::sys("process.cwd: getcwd", e)),
    }
}

fn load_seccomp(f: &crate::seccomp::Filter, channel: &Channel) -> Result<()> {
    if let Some(fd) = f.load()? {
        channel.send_fd(&Msg::SeccompFd, std::os::fd::AsFd::as_fd(&fd))?;
    }
    Ok(())
}

/// The state document with another status (the parent sends "creating").
fn with_status(state_json: &str, status: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(state_json) {
        Ok(mut v) => {
            v["status"] = serde_json::Value::String(status.to_owned());
            v.to_string()
        }
        Err(_) => state_json.to_owned(),
    }
}

fn hook_list(h: Option<&[Hook]>) -> &[Hook] {
    h.unwrap_or(&[])
}

/// Undo what the runtime's own process state would leak into the
/// container: a blocked signal mask (from `run`'s signal forwarding) and
/// SIGPIPE ignored (Rust's startup default), both inherited across exec.
fn reset_signals() {
    use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: restoring the default disposition installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// The second fork, needed when the pid namespace was unshared or joined
/// (they apply to children only). The middle process reports the init's
/// pid and exits; the init carries on, forked with CLONE_PARENT: the
/// runtime's own child, which it waits for directly (no subreaper needed).
pub(crate) fn fork_into_pid_namespace(channel: &Channel) -> Result<()> {
    // The child waits for the middle process to report its pid and exit
    // (EOF on this pipe): its own messages must not overtake InitPid.
    let (done_r, done_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::sys("pipe", e))?;
    let flags = libc::CLONE_PARENT as u64;
    // SAFETY: the child process is single-threaded.
    match unsafe { crate::syscall::clone3(flags) }
        .map_err(|e| Error::sys("fork into the pid namespace", e))?
    {
        crate::syscall::Forked::Child => {
            drop(done_w);
            // Bounded like every other wait of create: the middle process
            // exits right after one send, so EOF comes at once.
            match crate::sync::readable_within(&done_r, PHASE_TIMEOUT) {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::Init(
                    "timed out waiting for the init's pid to be reported".into(),
                )),
                Err(e) => Err(Error::sys("waiting for the init's pid to be reported", e)),
            }
        }
        crate::syscall::Forked::Parent { pid, pidfd: _ } => {
            drop(done_r);
            let code = match channel.send(&Msg::InitPid(pid)) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: see `run`.
            unsafe { libc::_exit(code) }
        }
    }
}
