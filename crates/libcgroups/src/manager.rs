//! The `Manager`: creation, placement, resource application and removal of
//! one container's cgroup across every hierarchy of the host.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::dirs::Dirs;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::handle::{CgroupHandle, CgroupOptions, Driver, HierarchyDir};
use crate::path::{join_cgroup, join_components, resolve, strip_mount_root, Resolved};
use crate::placement::{placing_error, SelfPlacement};
use crate::setup::{CgroupSetup, SystemView};
use crate::shared::core_freezer;
use crate::stats::Stats;
use crate::systemd;
use crate::v1::{self, V1};
use crate::v2::{self, V2};

/// How long destroy() waits for the last processes to leave.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// Manages one container's cgroup.
///
/// A manager made by a create holds O_PATH fds (close-on-exec) of
/// `/sys/fs/cgroup` and of the container's directory in each hierarchy
/// until it is dropped; [`Manager::fds`] lists them for a forked child to
/// close. One rebuilt with [`Manager::from_handle`], or cloned, holds none.
#[derive(Debug)]
pub struct Manager {
    handle: CgroupHandle,
    /// Directory fds kept by the create that made this manager.
    dirs: Dirs,
}

impl Clone for Manager {
    /// The clone has the handle; the fds stay with the original, and the
    /// clone reaches its files by path.
    fn clone(&self) -> Manager {
        Manager::from_handle(self.handle.clone())
    }
}

impl Manager {
    /// Resolves the path and creates it in every hierarchy (all mounted v1
    /// controllers incl. name=systemd, plus unified on Hybrid). An existing
    /// leaf is joined and recorded as not created. On error, removes
    /// whatever it created.
    pub fn create(opts: &CgroupOptions) -> Result<Manager> {
        let view = SystemView::load()?;
        Self::create_in(&view, opts, false)
    }

    /// [`Manager::create`] for a rootless caller, with runc's rule for a
    /// partly writable host: a hierarchy where this user may not create the
    /// cgroup (EACCES, EPERM, EROFS) is left out and recorded in
    /// [`CgroupHandle::denied`]; a resource whose controller is there is
    /// then an error naming it. With no hierarchy left, the first refusal.
    pub fn create_rootless(opts: &CgroupOptions) -> Result<Manager> {
        let view = SystemView::load()?;
        Self::create_in(&view, opts, true)
    }

    pub(crate) fn create_in(
        view: &SystemView,
        opts: &CgroupOptions,
        skip_denied: bool,
    ) -> Result<Manager> {
        let resolved = resolve(opts.cgroups_path, opts.container_id)?;
        let comps = resolved.components();

        // Resolve every hierarchy before touching anything.
        let mut plans = Vec::with_capacity(view.hierarchies.len());
        for h in &view.hierarchies {
            let (base_dir, base_cg) = match &resolved {
                Resolved::Absolute(_) => (h.mountpoint.clone(), "/".to_string()),
                Resolved::Relative(_) => {
                    let mut own = view.own_path(h)?;
                    if view.setup == CgroupSetup::Unified {
                        own = v2_relative_base(own, &h.root);
                    }
                    let rel = strip_mount_root(own, &h.root)?;
                    let base = if rel.is_empty() {
                        h.mountpoint.clone()
                    } else {
                        h.mountpoint.join(rel)
                    };
                    (base, own.to_string())
                }
            };
            plans.push((h, base_dir, join_cgroup(&base_cg, comps)));
        }
        let primary = plans
            .iter()
            .find(|(h, _, _)| h.unified)
            .or_else(|| plans.first())
            .map(|(_, _, cg)| cg.clone())
            .unwrap_or_else(|| join_cgroup("/", comps));

        let mut handle = CgroupHandle {
            setup: view.setup,
            path: primary,
            hierarchies: Vec::with_capacity(plans.len()),
            systemd: None,
            denied: Vec::new(),
        };
        let mut dirs = Dirs::open(plans.iter().map(|(h, _, _)| h.mountpoint.as_path()));
        let mut first_denied = None;
        for (h, base, _) in &plans {
            let mut created = Vec::new();
            let res = mkdir_levels(&dirs, base, comps, &mut created);
            if skip_denied && res.as_ref().is_err_and(CgroupError::is_permission_denied) {
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                handle.denied.push(h.mountpoint.clone());
                first_denied = first_denied.or(res.err());
                continue;
            }
            let is_cpuset = h.controllers.iter().any(|c| c == "cpuset");
            let leaf = join_components(base, comps);
            if res.is_ok() {
                dirs.keep(&leaf);
            }
            handle.hierarchies.push(HierarchyDir {
                controllers: h.controllers.clone(),
                unified: h.unified,
                mountpoint: h.mountpoint.clone(),
                dir: leaf.clone(),
                created: created.clone(),
            });
            let res = res.and_then(|()| {
                if is_cpuset {
                    init_cpuset_levels(&dirs, &h.mountpoint, &leaf)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = res {
                rollback(&handle);
                return Err(e);
            }
        }
        if handle.hierarchies.is_empty() {
            if let Some(e) = first_denied {
                return Err(e);
            }
        }
        if view.setup == CgroupSetup::Unified {
            for h in handle.hierarchies.iter().filter(|h| h.unified) {
                if let Err(e) =
                    v2::enable_controllers(&h.mountpoint, &h.dir, &h.created, &handle.path)
                {
                    rollback(&handle);
                    return Err(e);
                }
            }
        }
        if let Err(e) = refuse_frozen(&handle, &dirs) {
            rollback(&handle);
            return Err(e);
        }
        Ok(Manager { handle, dirs })
    }

    /// The systemd driver: plans the scope unit for `opts.cgroups_path`
    /// ("slice:prefix:name"); nothing exists until [`Manager::start_scope`]
    /// is given the container's first process. With `user` (rootless) the
    /// scope is the caller's user manager's, reached over its bus. Fails
    /// closed when systemd is not init, on a v1 host without the devices
    /// controller, or for `user` on a host that is not pure cgroup v2.
    pub fn create_systemd(opts: &CgroupOptions, user: bool) -> Result<Manager> {
        Ok(Manager::from_handle(systemd::plan(opts, user)?))
    }

    /// Whether the cgroup is a systemd unit's.
    pub fn is_systemd(&self) -> bool {
        self.handle.systemd.is_some()
    }

    /// systemd driver: starts the scope with `pid` in it (systemd moves
    /// it) and returns true; the cgroupfs drivers have nothing to start and
    /// return false. `name` goes into the unit's description. On v1 hosts
    /// the scope's path is then made in the hierarchies systemd does not
    /// manage (the pid joins them with [`Manager::add_new_child`]). The
    /// handle then records the unit's InvocationID and what hull made:
    /// persist it again.
    pub fn start_scope(&mut self, pid: i32, name: &str) -> Result<bool> {
        let legacy = self.handle.setup != CgroupSetup::Unified;
        let Some(u) = &mut self.handle.systemd else {
            return Ok(false);
        };
        if pid <= 0 {
            return Err(CgroupError::invalid(
                "pid",
                format!("{pid} is not a process id"),
            ));
        }
        systemd::start(u, pid, name, legacy)?;
        if legacy {
            if let Err(e) = make_unmanaged_dirs(&mut self.handle) {
                rollback(&self.handle);
                if let Some(u) = &self.handle.systemd {
                    if let Err(stop) = systemd::stop(u) {
                        tracing::warn!("after a failed start: {stop}");
                    }
                }
                return Err(e);
            }
        }
        Ok(true)
    }

    /// Rebuilds a manager from a persisted handle; does no I/O.
    pub fn from_handle(h: CgroupHandle) -> Manager {
        Manager {
            handle: h,
            dirs: Dirs::default(),
        }
    }

    /// The directory fds this manager holds (see [`Manager`]): a child
    /// forked while it lives should close them first thing.
    pub fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.dirs.fds()
    }

    /// The handle to persist for later commands.
    pub fn handle(&self) -> &CgroupHandle {
        &self.handle
    }

    fn driver(&self) -> Result<Box<dyn Driver + '_>> {
        match self.handle.setup {
            CgroupSetup::Legacy | CgroupSetup::Hybrid => Ok(Box::new(V1 {
                h: &self.handle,
                dirs: &self.dirs,
            })),
            CgroupSetup::Unified => {
                let dir = self.handle.unified_dir().ok_or_else(|| {
                    CgroupError::Detect(
                        "handle has no cgroup2 directory for a Unified setup".to_string(),
                    )
                })?;
                Ok(Box::new(V2 { dir }))
            }
        }
    }

    /// Moves `pid` into the container cgroup in every hierarchy.
    pub fn add_task(&self, pid: i32) -> Result<()> {
        if pid <= 0 {
            // Writing 0 would move the runtime itself.
            return Err(CgroupError::invalid(
                "pid",
                format!("{pid} is not a process id"),
            ));
        }
        for h in &self.handle.hierarchies {
            fs::try_write(self.dirs.loc(&h.dir), "cgroup.procs", &pid.to_string()).map_err(
                |e| {
                    placing_error(
                        format!("adding pid {pid}"),
                        "cgroup.procs",
                        &h.dir,
                        h.has("cpuset"),
                        e,
                    )
                },
            )?;
        }
        Ok(())
    }

    /// A view of existing sub-cgroups of this container's cgroup, for
    /// `exec --cgroup`: each spec is `path` (every hierarchy) or
    /// `controller[,controller]:path` (v1 hierarchies with one of those
    /// controllers; `:path` alone on v2). Hierarchies not named keep the
    /// container's own directory. The sub-cgroups must exist (as in runc)
    /// and stay inside the container's cgroup; the view owns nothing, so
    /// destroying it removes nothing.
    pub fn sub_cgroup(&self, specs: &[String]) -> Result<Manager> {
        let mut handle = self.handle.clone();
        for h in &mut handle.hierarchies {
            h.created.clear();
        }
        // Nor the scope: destroying the view must not stop the unit.
        handle.systemd = None;
        for spec in specs {
            let (ctrls, sub) = match spec.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, spec.as_str()),
            };
            let rel = std::path::Path::new(sub.trim_start_matches('/'));
            if rel.as_os_str().is_empty()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(CgroupError::invalid(
                    "exec --cgroup",
                    format!("{spec:?}: must be a relative path inside the container's cgroup"),
                ));
            }
            let mut matched = false;
            for (h, orig) in handle.hierarchies.iter_mut().zip(&self.handle.hierarchies) {
                let wanted = match ctrls {
                    None => true,
                    Some("") => h.unified,
                    Some(list) => list.split(',').any(|c| h.has(c)),
                };
                if !wanted {
                    continue;
                }
                let dir = orig.dir.join(rel);
                if !dir.is_dir() {
                    return Err(CgroupError::invalid(
                        "exec --cgroup",
                        format!("{spec:?}: {} does not exist", dir.display()),
                    ));
                }
                h.dir = dir;
                matched = true;
            }
            if !matched {
                return Err(CgroupError::invalid(
                    "exec --cgroup",
                    format!("{spec:?}: no such controller in this container's cgroups"),
                ));
            }
        }
        Ok(Manager::from_handle(handle))
    }

    /// An fd of the container's cgroup2 directory (pure v2, or the unified
    /// hierarchy of a hybrid host), for clone3's CLONE_INTO_CGROUP: a child
    /// born in its cgroup needs no migration at all.
    pub fn unified_dir_fd(&self) -> Option<std::os::fd::OwnedFd> {
        let h = self.handle.hierarchies.iter().find(|h| h.unified)?;
        if let Some(fd) = self.dirs.leaf(&h.dir) {
            if let Ok(fd) = fd.try_clone_to_owned() {
                return Some(fd);
            }
        }
        rustix::fs::open(
            &h.dir,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()
    }

    /// The `tasks` files of every v1 hierarchy, opened for a child that
    /// moves itself there (see [`SelfPlacement`]); `None` when there is no
    /// v1 hierarchy, under the systemd driver (systemd moves the process),
    /// or when one of them cannot be opened (the child is then placed by
    /// [`Manager::add_new_child`] as before).
    pub fn self_placement(&self) -> Option<SelfPlacement> {
        if self.handle.systemd.is_some() {
            return None;
        }
        let mut files = Vec::new();
        for h in self.handle.hierarchies.iter().filter(|h| !h.unified) {
            match fs::open_write(self.dirs.loc(&h.dir), "tasks") {
                Ok(fd) => files.push((h.dir.clone(), h.has("cpuset"), fd)),
                Err(e) => {
                    tracing::debug!(
                        "{}/tasks: {e}; the runtime places the child",
                        h.dir.display()
                    );
                    return None;
                }
            }
        }
        (!files.is_empty()).then(|| SelfPlacement::new(files))
    }

    /// Whether [`Manager::add_placed_child`] would write nothing for such a
    /// child: it moved itself into every v1 hierarchy and was born in the
    /// cgroup2 one, and no systemd unit is to be started for it.
    pub fn places_nothing(&self, born_in_unified: bool, placed_itself: bool) -> bool {
        self.handle.systemd.is_none()
            && self.handle.hierarchies.iter().all(|h| match h.unified {
                true => born_in_unified,
                false => placed_itself,
            })
    }

    /// Places a freshly forked, single-threaded child: through each v1
    /// hierarchy's `tasks` file, and skipping the cgroup2 hierarchy when the
    /// child was born there (`born_in_unified`).
    pub fn add_new_child(&self, pid: i32, born_in_unified: bool) -> Result<()> {
        self.add_placed_child(pid, born_in_unified, false)
    }

    /// [`Manager::add_new_child`] for a child that may already have moved
    /// itself into the v1 hierarchies (`placed_itself`, through
    /// [`Manager::self_placement`]): only what is left is written.
    pub fn add_placed_child(
        &self,
        pid: i32,
        born_in_unified: bool,
        placed_itself: bool,
    ) -> Result<()> {
        if pid <= 0 {
            return Err(CgroupError::invalid(
                "pid",
                format!("{pid} is not a process id"),
            ));
        }
        for h in &self.handle.hierarchies {
            let file = match (h.unified, born_in_unified) {
                (true, true) => continue,
                (true, false) => "cgroup.procs",
                (false, _) if placed_itself => continue,
                (false, _) => "tasks",
            };
            let written = fs::try_write(self.dirs.loc(&h.dir), file, &pid.to_string());
            if let (Err(e), Some(u)) = (&written, &self.handle.systemd) {
                // A user manager's scope, from outside the user's
                // delegation: its manager moves the process (asking PID 1
                // when it may not either).
                if u.user && (fs::is_errno(e, libc::EACCES) || fs::is_errno(e, libc::EPERM)) {
                    systemd::attach(u, pid)?;
                    continue;
                }
            }
            written.map_err(|e| {
                placing_error(
                    format!("adding pid {pid}"),
                    file,
                    &h.dir,
                    h.has("cpuset"),
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// Applies every field of linux.resources; an unappliable field is an
    /// error naming it, checked before anything is written.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(u) = &self.handle.systemd {
            // Everything is checked before systemd is told anything; then
            // the unit's properties, so that systemd keeps the limits when
            // it re-applies its settings, then the files (runc does both).
            let legacy = self.handle.setup != CgroupSetup::Unified;
            if legacy {
                V1 {
                    h: &self.handle,
                    dirs: &self.dirs,
                }
                .precheck(r)?;
            } else {
                let dir = self.handle.unified_dir().ok_or_else(|| {
                    CgroupError::Detect("systemd handle without a cgroup2 directory".into())
                })?;
                v2::resources::precheck(dir, r)?;
            }
            systemd::check_resources(r, legacy)?;
            systemd::set_resources(u, r, legacy)?;
        }
        self.driver()?.apply(r)
    }

    /// Freezes all processes and waits until the kernel reports them frozen.
    pub fn freeze(&self) -> Result<()> {
        self.driver()?.freeze()
    }

    /// Thaws the cgroup and waits until it is running again.
    pub fn thaw(&self) -> Result<()> {
        self.driver()?.thaw()
    }

    /// Whether the cgroup is currently frozen (a single read).
    pub fn is_frozen(&self) -> Result<bool> {
        self.driver()?.is_frozen()
    }

    /// Resource usage statistics; fields the setup cannot provide stay empty.
    pub fn stats(&self) -> Result<Stats> {
        self.driver()?.stats()
    }

    /// The hierarchy whose process lists are authoritative.
    fn procs_hierarchy(&self) -> Option<&HierarchyDir> {
        let hs = &self.handle.hierarchies;
        if self.handle.setup == CgroupSetup::Unified {
            return hs.iter().find(|h| h.unified);
        }
        ["freezer", "pids", "name=systemd"]
            .iter()
            .find_map(|c| hs.iter().find(|h| !h.unified && h.has(c)))
            .or_else(|| hs.iter().find(|h| h.unified))
            .or_else(|| hs.first())
    }

    /// All pids in the container cgroup, including sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if self
            .handle
            .systemd
            .as_ref()
            .is_some_and(|u| u.invocation.is_empty())
        {
            // The scope was never started for this container: a cgroup at
            // its path belongs to another one (same unit name), whose
            // processes must never be signalled for us.
            return Ok(out);
        }
        if let Some(h) = self.procs_hierarchy() {
            collect_procs(&h.dir, &mut out)?;
        }
        Ok(out)
    }

    /// Waits (bounded) for the cgroup to be empty, then removes the leaf
    /// with its sub-cgroups and the ancestors create() made, in every
    /// hierarchy. Kills nothing; never removes a directory create() did not
    /// make; already-removed directories are fine.
    pub fn destroy(&self) -> Result<()> {
        if let Some(u) = &self.handle.systemd {
            // systemd kills whatever is left in the scope and removes its
            // cgroup, sub-cgroups included; on v1 hosts the directories
            // hull made where systemd does not manage the controller go
            // after it (unless the unit, and so the paths, are another
            // container's by now).
            let ours = systemd::stop(u)?;
            if !ours || self.handle.hierarchies.iter().all(|h| h.created.is_empty()) {
                return Ok(());
            }
        }
        self.destroy_with_timeout(EMPTY_TIMEOUT)
    }

    pub(crate) fn destroy_with_timeout(&self, timeout: Duration) -> Result<()> {
        let hs = &self.handle.hierarchies;
        for h in hs {
            // A tampered or corrupt handle must not turn destroy() into an
            // arbitrary rmdir.
            // `starts_with` compares components as written: a ".." in
            // one would pass it and lead anywhere.
            let plain = |p: &Path| {
                p.components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            };
            if let Some(bad) = h.created.iter().find(|c| {
                !plain(c)
                    || !plain(&h.dir)
                    || !h.dir.starts_with(c)
                    || !c.starts_with(&h.mountpoint)
                    || *c == &h.mountpoint
            }) {
                return Err(CgroupError::InvalidPath {
                    path: bad.display().to_string(),
                    reason: format!(
                        "recorded as created but is not an ancestor of {} below {}",
                        h.dir.display(),
                        h.mountpoint.display()
                    ),
                });
            }
        }
        // An empty leaf without sub-cgroups, the usual case once the init
        // is gone, goes with one rmdir; the reads of wait_empty and the
        // listings of remove_tree are for the ones that refuse (EBUSY).
        // With one hierarchy (pure v2) the root's fd would only add an
        // open and a close to the one rmdir.
        let root;
        let dirs = if self.dirs.has_root() || hs.len() < 2 {
            &self.dirs
        } else {
            root = Dirs::open(hs.iter().map(|h| h.mountpoint.as_path()));
            &root
        };
        let gone: Vec<bool> = hs
            .iter()
            .map(|h| h.leaf_created() && remove_if_empty(dirs, &h.dir))
            .collect();
        let ours: Vec<&HierarchyDir> = hs
            .iter()
            .zip(&gone)
            .filter(|(h, gone)| h.leaf_created() && !**gone)
            .map(|(h, _)| h)
            .collect();
        wait_empty(&ours, timeout)?;

        let mut first_err = None;
        for (h, gone) in hs.iter().zip(gone) {
            let mut to_remove: &[PathBuf] = &h.created;
            if gone {
                to_remove = &h.created[..h.created.len() - 1];
            } else if h.leaf_created() {
                if let Err(e) = remove_tree(&h.dir) {
                    first_err.get_or_insert(e);
                    continue;
                }
                to_remove = &h.created[..h.created.len() - 1];
            }
            for anc in to_remove.iter().rev() {
                match remove_dir_retry(anc) {
                    Ok(()) => {}
                    // Shared with another container created below it since.
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EBUSY) | Some(libc::ENOTEMPTY)
                        ) =>
                    {
                        tracing::debug!("keeping {}: still in use", anc.display());
                        break;
                    }
                    Err(e) => {
                        first_err.get_or_insert(dir_err("removing cgroup", anc, e));
                        break;
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Where relative cgroupsPaths start on pure v2: the parent of the
/// runtime's own cgroup, as in runc. The own cgroup always holds the
/// runtime itself, and v2 gives controllers only to cgroups whose parent
/// has no processes. At the root of the mount (the root, or a cgroup
/// namespace's) there is no parent to go to.
fn v2_relative_base<'a>(own: &'a str, mount_root: &str) -> &'a str {
    let o = own.trim_end_matches('/');
    if o.is_empty() || o == mount_root.trim_end_matches('/') {
        return own;
    }
    match o.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &o[..i],
    }
}

fn dir_err(ctx: &str, dir: &Path, e: io::Error) -> CgroupError {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = dir.parent().unwrap_or(Path::new("/"));
    CgroupError::file(ctx, "removing directory", name, parent, e)
}

/// Creates `base/comps...` one level at a time, recording what it made.
///
/// A create that fails removes the levels it made, and a parent it made
/// may be one this walk found already there: when a level vanishes that
/// way between two steps, the walk starts over (a few times at most).
fn mkdir_levels(
    dirs: &Dirs,
    base: &Path,
    comps: &[String],
    created: &mut Vec<PathBuf>,
) -> Result<()> {
    // Most often only the leaf is new (its parent is a slice or a pod's
    // cgroup): one mkdir then, instead of a failed mkdir and a stat for
    // every existing level. Anything else takes the walk below.
    let leaf = comps.iter().fold(base.to_path_buf(), |p, c| p.join(c));
    if !comps.is_empty() && dirs.mkdir(&leaf).is_ok() {
        created.push(leaf);
        return Ok(());
    }
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    'walk: loop {
        let mut cur = base.to_path_buf();
        for c in comps {
            cur.push(c);
            match std::fs::create_dir(&cur) {
                Ok(()) => created.push(cur.clone()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !cur.is_dir() {
                        if !cur.exists() && attempt < ATTEMPTS {
                            attempt += 1;
                            continue 'walk;
                        }
                        // e.g. a path component naming a control file.
                        return Err(CgroupError::InvalidPath {
                            path: cur.display().to_string(),
                            reason: "exists and is not a cgroup directory".to_string(),
                        });
                    }
                }
                Err(e) if is_gone(&e) && attempt < ATTEMPTS => {
                    attempt += 1;
                    continue 'walk;
                }
                Err(e) => {
                    let parent = cur.parent().unwrap_or(base).to_path_buf();
                    return Err(CgroupError::file(
                        "creating cgroup",
                        "creating directory",
                        c.as_str(),
                        &parent,
                        e,
                    ));
                }
            }
        }
        return Ok(());
    }
}

/// Fills in empty cpuset.cpus/mems on every level from below `mountpoint`
/// down to `leaf`, not only the ones we made: a concurrent create may have
/// made a shared parent and not yet filled it in (runc's
/// cpusetEnsureParent does the same).
fn init_cpuset_levels(dirs: &Dirs, mountpoint: &Path, leaf: &Path) -> Result<()> {
    let mut levels: Vec<&Path> = leaf
        .ancestors()
        .take_while(|p| p.starts_with(mountpoint) && *p != mountpoint)
        .collect();
    levels.reverse();
    v1::cpuset::init_created(dirs, &levels)
}

/// systemd driver on v1: makes the scope's path in every v1 hierarchy
/// where systemd did not (cpuset, freezer, ...; name=systemd is its own),
/// recording what it made, and fills in new cpuset levels.
fn make_unmanaged_dirs(handle: &mut CgroupHandle) -> Result<()> {
    for h in handle.hierarchies.iter_mut().filter(|h| !h.unified) {
        if h.controllers.iter().all(|c| c.starts_with("name=")) {
            continue;
        }
        let rel = h
            .dir
            .strip_prefix(&h.mountpoint)
            .map_err(|_| CgroupError::InvalidPath {
                path: h.dir.display().to_string(),
                reason: format!("is not below {}", h.mountpoint.display()),
            })?;
        let comps: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        mkdir_levels(&Dirs::default(), &h.mountpoint, &comps, &mut h.created)?;
        if h.has("cpuset") {
            init_cpuset_levels(&Dirs::default(), &h.mountpoint, &h.dir)?;
        }
    }
    Ok(())
}

/// A process placed in a frozen cgroup stops at once: the container's init
/// would hang, and create with it (runc refuses too). Checked in every
/// hierarchy with a freezer: v1's freezer controller, and cgroup2 (core).
fn refuse_frozen(h: &CgroupHandle, dirs: &Dirs) -> Result<()> {
    for hd in &h.hierarchies {
        let by = if hd.unified {
            core_freezer::frozen_by(&hd.dir, &hd.mountpoint)?
        } else if hd.has("freezer") {
            v1::freezer::frozen_by(dirs.loc(&hd.dir), &hd.mountpoint)?
        } else {
            None
        };
        if let Some(by) = by {
            return Err(CgroupError::InvalidPath {
                path: h.path.clone(),
                reason: format!("{} is frozen: the container's processes would stop as they enter it (thaw it first)", by.display()),
            });
        }
    }
    Ok(())
}

fn rollback(h: &CgroupHandle) {
    for hd in h.hierarchies.iter().rev() {
        for d in hd.created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

/// Appends the pids of `dir` and its sub-cgroups; a vanished cgroup is empty.
fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    match fs::try_read(dir, "cgroup.procs") {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if is_gone(&e) => return Ok(()),
        Err(e) => {
            return Err(CgroupError::file(
                "listing processes",
                "reading",
                "cgroup.procs",
                dir,
                e,
            ))
        }
    }
    for sub in subdirs(dir)? {
        collect_procs(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if is_gone(&e) => return Ok(Vec::new()),
        Err(e) => {
            return Err(CgroupError::file(
                "listing sub-cgroups",
                "reading",
                ".",
                dir,
                e,
            ))
        }
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent =
            ent.map_err(|e| CgroupError::file("listing sub-cgroups", "reading", ".", dir, e))?;
        if ent.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(ent.path());
        }
    }
    Ok(out)
}

fn hierarchy_empty(h: &HierarchyDir) -> Result<bool> {
    if h.unified {
        // One read covers the whole subtree.
        match fs::try_read(&h.dir, "cgroup.events") {
            Ok(s) => return Ok(fs::parse_flat_keyed(&s).get("populated") != Some(&1)),
            Err(e) if is_gone(&e) => return Ok(true),
            Err(_) => {} // fall back to listing
        }
    }
    let mut pids = Vec::new();
    collect_procs(&h.dir, &mut pids)?;
    Ok(pids.is_empty())
}

fn wait_empty(hs: &[&HierarchyDir], timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    loop {
        let mut busy = None;
        for h in hs {
            if !hierarchy_empty(h)? {
                busy = Some(*h);
                break;
            }
        }
        let Some(h) = busy else { return Ok(()) };
        if start.elapsed() >= timeout {
            let mut pids = Vec::new();
            collect_procs(&h.dir, &mut pids)?;
            return Err(CgroupError::NotEmpty {
                dir: h.dir.clone(),
                pids,
            });
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(50));
    }
}

/// rmdir can briefly fail with EBUSY after the last task exited while the
/// kernel finishes tearing it down; retry a few times (runc does too).
fn remove_dir_retry(dir: &Path) -> io::Result<()> {
    let mut delay = Duration::from_millis(10);
    for attempt in 0..5 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if is_gone(&e) => return Ok(()),
            Err(e) if fs::is_errno(&e, libc::EBUSY) && attempt < 4 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One rmdir of `dir`: whether it is gone now. Any refusal (processes or
/// sub-cgroups left, EBUSY) is left to the careful path.
fn remove_if_empty(dirs: &Dirs, dir: &Path) -> bool {
    match dirs.rmdir(dir) {
        Ok(()) => true,
        Err(e) => is_gone(&e),
    }
}

/// Removes `dir` and every sub-cgroup below it, deepest first.
fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    remove_dir_retry(dir).map_err(|e| dir_err("removing cgroup", dir, e))
}

#[cfg(test)]
mod tests;
