//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup
//! is a transient scope unit that systemd creates, owns and removes; hull
//! asks for it over D-Bus, delegates it (`Delegate=true`) and then writes
//! the resources into it with the cgroupfs driver, as runc does.
//!
//! systemd refuses a scope without processes, so the scope is started with
//! the container's first process in it ([`start`]), not before the fork.
//!
//! On cgroup v1 hosts (Legacy, and Hybrid with its cgroup2 tracking
//! hierarchy) systemd makes the scope's directory in the hierarchies it
//! manages (name=systemd, cpu, cpuacct, memory, blkio, devices, pids, and
//! unified on Hybrid) and the container's process is then joined to the
//! same path in the others (cpuset, freezer, ...) as runc does; the unit
//! gets runc's v1 property names (MemoryLimit, CPUShares, ...) and the
//! device rules (see `devices`).

pub(crate) mod dbus;
mod devices;
mod path;
mod props;

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::handle::{CgroupHandle, CgroupOptions, HierarchyDir, SystemdUnit};
use crate::setup::{CgroupSetup, SystemView};
use dbus::wire::{Variant, Writer};
use dbus::{manager_call, manager_property, property, Conn, DbusError};

/// How long a job (start, stop) may take; runc allows 30 s too.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether systemd runs as init (sd_booted(3)'s test).
pub(crate) fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn err(context: impl Into<String>, source: DbusError) -> CgroupError {
    CgroupError::Systemd {
        context: context.into(),
        source,
    }
}

/// The handle of a container whose scope is not started yet: where its
/// cgroup will be. Changes nothing; fails closed where the driver cannot
/// work. With `user` the scope is the caller's user manager's: its cgroup
/// is below the manager's own (read over its bus), in `user.slice` unless
/// cgroupsPath names another slice.
pub(crate) fn plan(opts: &CgroupOptions, user: bool) -> Result<CgroupHandle> {
    if !booted() {
        return Err(CgroupError::unsupported(
            "--systemd-cgroup",
            "systemd is not running as init here (/run/systemd/system does not exist); run without --systemd-cgroup",
        ));
    }
    let view = SystemView::load()?;
    if user && view.setup != CgroupSetup::Unified {
        // A user manager may only be delegated a cgroup v2 subtree.
        return Err(CgroupError::unsupported(
            "--systemd-cgroup",
            format!("rootless containers in the user's systemd need pure cgroup v2; the host uses {:?} cgroups", view.setup),
        ));
    }
    if view.setup != CgroupSetup::Unified
        && !view
            .hierarchies
            .iter()
            .any(|h| h.controllers.iter().any(|c| c == "devices"))
    {
        // runc too: the devices controller is what confines the container.
        return Err(CgroupError::unsupported(
            "--systemd-cgroup",
            "the cgroup v1 devices controller is not mounted",
        ));
    }
    let mut p = path::parse(opts.cgroups_path, opts.container_id, user)?;
    if user {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let base = with_conn("finding the user manager's cgroup", true, deadline, |c| {
            let reply = c.call(
                &manager_property("ControlGroup"),
                deadline,
                "reading the user manager's ControlGroup",
            )?;
            reply.body_reader("v").and_then(|mut r| r.variant_str())
        })?;
        p.cgroup = format!("{}{}", base.trim_end_matches('/'), p.cgroup);
    }
    let mut hierarchies = Vec::with_capacity(view.hierarchies.len());
    for h in &view.hierarchies {
        // cgroup paths from systemd are absolute in its namespace, which
        // is our mount's root unless we see only a subtree of it.
        let rel = crate::path::strip_mount_root(&p.cgroup, &h.root)?;
        hierarchies.push(HierarchyDir {
            controllers: h.controllers.clone(),
            unified: h.unified,
            mountpoint: h.mountpoint.clone(),
            dir: h.mountpoint.join(rel),
            created: Vec::new(),
        });
    }
    Ok(CgroupHandle {
        setup: view.setup,
        path: p.cgroup.clone(),
        hierarchies,
        systemd: Some(SystemdUnit {
            unit: p.unit,
            slice: p.slice,
            invocation: String::new(),
            user,
        }),
        denied: Vec::new(),
    })
}

/// One connection per operation, closed at its end: systemd sends every
/// signal to every private connection, so one held open for the life of a
/// foreground `run` would make PID 1 queue messages nobody reads.
fn with_conn<T>(
    context: &str,
    user: bool,
    deadline: Instant,
    f: impl FnOnce(&mut Conn) -> std::result::Result<T, DbusError>,
) -> Result<T> {
    let mut conn = Conn::connect(user, deadline).map_err(|e| err(context, e))?;
    f(&mut conn).map_err(|e| err(context, e))
}

/// systemd's major version ("252.39-1~deb12u2", "v256"); 0 if unreadable.
fn version(c: &mut Conn, deadline: Instant) -> std::result::Result<u32, DbusError> {
    let reply = c.call(
        &manager_property("Version"),
        deadline,
        "reading systemd's version",
    )?;
    let v = reply.body_reader("v").and_then(|mut r| r.variant_str())?;
    let digits: String = v
        .trim_start_matches('v')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Ok(digits.parse().unwrap_or(0))
}

/// Runs a unit job (StartTransientUnit, StopUnit) and waits for its end.
fn run_job(
    c: &mut Conn,
    call: &dbus::wire::Call,
    what: &str,
    deadline: Instant,
) -> std::result::Result<(), DbusError> {
    let reply = c.call(call, deadline, what)?;
    let job = reply.body_reader("o").and_then(|mut r| r.str())?;
    let result = c.wait_job(&job, deadline, what)?;
    if result != "done" {
        return Err(DbusError::Remote {
            name: "job".into(),
            message: format!("{job} ended with result {result:?}"),
        });
    }
    Ok(())
}

fn start_call(
    u: &SystemdUnit,
    pid: i32,
    description: &str,
    legacy: bool,
) -> dbus::wire::Call<'static> {
    let props: Vec<(&str, Variant)> = vec![
        ("Description", Variant::Str(description.to_string())),
        ("Slice", Variant::Str(u.slice.clone())),
        // The container (and a runtime nested in it) may manage its own
        // sub-cgroups; systemd then leaves the subtree alone.
        ("Delegate", Variant::Bool(true)),
        ("PIDs", Variant::U32s(vec![pid as u32])),
        // Accounting on: systemd enables the controllers down to the scope.
        ("MemoryAccounting", Variant::Bool(true)),
        ("CPUAccounting", Variant::Bool(true)),
        // (the blkio controller on v1, io on v2)
        (
            if legacy {
                "BlockIOAccounting"
            } else {
                "IOAccounting"
            },
            Variant::Bool(true),
        ),
        ("TasksAccounting", Variant::Bool(true)),
        // No ordering against shutdown.target and friends: a container must
        // not hold up (or be held by) unrelated units.
        ("DefaultDependencies", Variant::Bool(false)),
    ];
    let mut w = Writer::new();
    w.str(&u.unit);
    w.str("replace");
    w.props(&props);
    w.array(8, |_| {}); // no auxiliary units
    manager_call("StartTransientUnit", "ssa(sv)a(sa(sv))", w.into_bytes())
}

fn unit_call(member: &'static str, u: &SystemdUnit, with_mode: bool) -> dbus::wire::Call<'static> {
    let mut w = Writer::new();
    w.str(&u.unit);
    if with_mode {
        w.str("replace");
    }
    manager_call(member, if with_mode { "ss" } else { "s" }, w.into_bytes())
}

/// The unit's current InvocationID in hex; `None` when it is not loaded,
/// "" when it is loaded but has none (a scope that ended and is still
/// referenced: seen on v1, where systemd learns late that it emptied).
fn invocation_of(
    c: &mut Conn,
    u: &SystemdUnit,
    deadline: Instant,
) -> std::result::Result<Option<String>, DbusError> {
    let path = match c.call(
        &unit_call("GetUnit", u, false),
        deadline,
        "looking up the unit",
    ) {
        Ok(reply) => reply.body_reader("o").and_then(|mut r| r.str())?,
        Err(e) if e.remote_name() == Some("org.freedesktop.systemd1.NoSuchUnit") => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let reply = c.call(
        &property(&path, "org.freedesktop.systemd1.Unit", "InvocationID"),
        deadline,
        "reading the unit's InvocationID",
    )?;
    let id = reply.body_reader("v").and_then(|mut r| r.variant_bytes())?;
    if id.iter().all(|b| *b == 0) {
        return Ok(Some(String::new()));
    }
    Ok(Some(id.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Starts the scope with `pid` in it, waits until systemd reports it
/// started and records its InvocationID. A leftover failed unit of the
/// same name is reset first; an active one is another container's.
/// `legacy`: the host has cgroup v1 controllers (Legacy or Hybrid).
pub(crate) fn start(u: &mut SystemdUnit, pid: i32, name: &str, legacy: bool) -> Result<()> {
    let ctx = format!("starting systemd unit {} in {}", u.unit, u.slice);
    let deadline = Instant::now() + JOB_TIMEOUT;
    let call = start_call(u, pid, &format!("hull container {name}"), legacy);
    let id = with_conn(&ctx, u.user, deadline, |c| {
        match run_job(c, &call, "starting the scope", deadline) {
            Err(e) if e.remote_name() == Some("org.freedesktop.systemd1.UnitExists") => {
                let _ = c.call(
                    &unit_call("ResetFailedUnit", u, false),
                    deadline,
                    "resetting a failed unit",
                );
                run_job(c, &call, "starting the scope", deadline)?;
            }
            r => r?,
        }
        invocation_of(c, u, deadline)
    })?;
    // Gone already: the process died and systemd dropped the empty scope.
    u.invocation = id.filter(|id| !id.is_empty()).ok_or_else(|| {
        CgroupError::Detect(format!(
            "{ctx}: the unit vanished right after starting (did the container's process die?)"
        ))
    })?;
    Ok(())
}

/// Moves `pid` into the started unit's cgroup through its manager
/// (AttachProcessesToUnit, systemd 238+): a user manager that may not move
/// a process of its user itself asks PID 1 to.
pub(crate) fn attach(u: &SystemdUnit, pid: i32) -> Result<()> {
    let ctx = format!("adding pid {pid} to systemd unit {}", u.unit);
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut w = Writer::new();
    w.str(&u.unit);
    w.str("");
    w.array(4, |w| w.u32(pid as u32));
    let call = manager_call("AttachProcessesToUnit", "ssau", w.into_bytes());
    with_conn(&ctx, u.user, deadline, |c| {
        c.call(&call, deadline, "attaching the process").map(|_| ())
    })
}

/// The unit properties for `r`: v1 names on Legacy and Hybrid hosts.
fn properties(r: &LinuxResources, version: u32, legacy: bool) -> Result<dbus::wire::Props> {
    if !legacy {
        return props::resources(r, version);
    }
    // Only wildcard-minor device rules need it; a host without it gets
    // those rules left out of systemd's list (stricter).
    let proc_devices = match r.devices() {
        Some(d) if !d.is_empty() => std::fs::read_to_string("/proc/devices").unwrap_or_default(),
        _ => String::new(),
    };
    props::resources_v1(r, version, &proc_devices)
}

/// Sets the unit properties for `r` (runtime only, like runc).
pub(crate) fn set_resources(u: &SystemdUnit, r: &LinuxResources, legacy: bool) -> Result<()> {
    let ctx = format!("setting properties of systemd unit {}", u.unit);
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut conn = Conn::connect(u.user, deadline).map_err(|e| err(&ctx, e))?;
    let version = version(&mut conn, deadline).map_err(|e| err(&ctx, e))?;
    let props = properties(r, version, legacy)?;
    if props.is_empty() {
        return Ok(());
    }
    let mut w = Writer::new();
    w.str(&u.unit);
    w.bool(true);
    w.props(&props);
    conn.call(
        &manager_call("SetUnitProperties", "sba(sv)", w.into_bytes()),
        deadline,
        "setting unit properties",
    )
    .map_err(|e| err(&ctx, e))?;
    Ok(())
}

/// Checks `r` against the properties mapping before anything is sent.
pub(crate) fn check_resources(r: &LinuxResources, legacy: bool) -> Result<()> {
    properties(r, u32::MAX, legacy).map(|_| ())
}

/// Stops the scope (systemd kills what is left in it and removes its
/// cgroup) and forgets a failed state. A unit this container never started,
/// or that is gone, or that is a later one of the same name, is left alone.
/// Returns false only in that last case: the cgroup paths are another
/// container's now.
pub(crate) fn stop(u: &SystemdUnit) -> Result<bool> {
    if u.invocation.is_empty() {
        return Ok(true);
    }
    let ctx = format!("stopping systemd unit {}", u.unit);
    let deadline = Instant::now() + JOB_TIMEOUT;
    with_conn(&ctx, u.user, deadline, |c| {
        match invocation_of(c, u, deadline)? {
            // Ours, or ended without a successor (then stopping is a no-op
            // and the reset drops a failed state).
            Some(id) if id == u.invocation || id.is_empty() => {}
            Some(other) => {
                tracing::debug!(
                    "{} is another container's now (InvocationID {other}): not stopping it",
                    u.unit
                );
                return Ok(false);
            }
            None => return Ok(true),
        }
        match run_job(
            c,
            &unit_call("StopUnit", u, true),
            "stopping the scope",
            deadline,
        ) {
            Err(e) if e.remote_name() == Some("org.freedesktop.systemd1.NoSuchUnit") => {}
            r => r?,
        }
        match c.call(
            &unit_call("ResetFailedUnit", u, false),
            deadline,
            "resetting the unit",
        ) {
            Err(e) if e.remote_name().is_some() => Ok(true), // not loaded, or not failed
            r => r.map(|_| true),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_without_systemd() {
        if booted() {
            return; // this test is about hosts without systemd
        }
        let e = plan(
            &CgroupOptions {
                cgroups_path: Some("system.slice:hull:x"),
                container_id: "x",
            },
            false,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--systemd-cgroup: systemd is not running as init"),
            "{e}"
        );
    }
}
