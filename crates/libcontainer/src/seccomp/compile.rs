//! `linux.seccomp` to a BPF program and the kernel's filter flags.
//!
//! libseccomp resolves syscall names for every listed architecture and
//! generates the program; hull keeps the flags itself (see `kernel_flags`)
//! so that the child loads with one raw `seccomp(2)` call.

use std::{
    collections::HashSet,
    io::{self, Read, Seek},
};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use super::arch::scmp_arch;
use super::{flag, SeccompError};

const ROOT: &str = "linux.seccomp";
/// The kernel's BPF_MAXINSNS.
const MAX_INSNS: usize = 4096;
/// System calls take at most six arguments.
const MAX_ARGS: usize = 6;
/// The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO.
const MAX_ERRNO: u32 = 4095;
/// Above this many rules libseccomp's binary-tree layout pays off (runc's
/// threshold; libseccomp <= 2.5.4 misbehaves with it on empty filters).
const OPTIMIZE_ABOVE: usize = 32;
/// Syscalls that must not be sent to the seccomp agent: the init needs
/// them after loading the filter to pass the notify fd to the parent
/// (sendmsg) and to signal the start through the exec fifo (write). A
/// notification there would wait for an agent that never gets the fd.
const NOTIFY_FORBIDDEN: &[&str] = &["write", "sendmsg"];

pub(super) fn compile(s: &LinuxSeccomp) -> Result<(Vec<libc::sock_filter>, u32), SeccompError> {
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{ROOT}.defaultAction"),
        &format!("{ROOT}.defaultErrnoRet"),
    )?;
    if default == ScmpAction::Notify {
        return Err(SeccompError::field(
            format!("{ROOT}.defaultAction"),
            "SCMP_ACT_NOTIFY cannot be the default action: the init's own syscalls after loading the filter (passing the notify fd, the exec fifo) would wait for an agent that has not got the fd yet",
        ));
    }
    let syscalls = s.syscalls().as_deref().unwrap_or(&[]);
    let notify = syscalls
        .iter()
        .any(|c| c.action() == LinuxSeccompAction::ScmpActNotify);
    if notify
        && s.listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        let i = syscalls
            .iter()
            .position(|c| c.action() == LinuxSeccompAction::ScmpActNotify)
            .unwrap_or(0);
        return Err(SeccompError::field(
            format!("{ROOT}.listenerPath"),
            format!("required: {ROOT}.syscalls[{i}] uses SCMP_ACT_NOTIFY, whose notifications go to the seccomp agent listening there"),
        ));
    }
    let flags = kernel_flags(s, notify)?;

    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| lib_err(ROOT, "creating the filter", e))?;
    // hull loads the program itself, but keep libseccomp's hands off
    // no_new_privs regardless: that is process.noNewPrivileges' call.
    ctx.set_ctl_nnp(false)
        .map_err(|e| lib_err(ROOT, "clearing SCMP_FLTATR_CTL_NNP", e))?;
    for (i, a) in s.architectures().iter().flatten().enumerate() {
        let arch = scmp_arch(*a);
        ctx.add_arch(arch).map_err(|e| {
            SeccompError::field(
                format!("{ROOT}.architectures[{i}]"),
                format!(
                    "{} is not supported by libseccomp {}: {e}",
                    json_name(a),
                    lib_version()
                ),
            )
        })?;
    }
    if syscalls.len() > OPTIMIZE_ABOVE {
        if let Err(e) = ctx.set_ctl_optimize(2) {
            tracing::debug!(
                "seccomp: binary-tree optimisation unavailable ({e}); using the linear layout"
            );
        }
    }
    for (i, call) in syscalls.iter().enumerate() {
        add_syscall(&mut ctx, i, call, default)?;
    }
    let mut program = super::enosys::stub(s, default);
    program.extend(export(&ctx)?);
    if program.len() > MAX_INSNS {
        return Err(SeccompError::field(
            format!("{ROOT}.syscalls"),
            format!("the profile compiles to {} BPF instructions, and the kernel accepts at most {MAX_INSNS}", program.len()),
        ));
    }
    Ok((program, flags))
}

/// The spec's action as libseccomp's, with its return data.
fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    path: &str,
    errno_path: &str,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    let data = |max: u32, what: &str| -> Result<u32, SeccompError> {
        match errno_ret {
            None => Ok(libc::EPERM as u32),
            Some(v) if v <= max => Ok(v),
            Some(v) => Err(SeccompError::field(
                errno_path,
                format!("{v} is out of range for {}: {what}", json_name(&a)),
            )),
        }
    };
    let act = match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => {
            ScmpAction::Errno(data(MAX_ERRNO, "the kernel clamps errno values above 4095")? as i32)
        }
        A::ScmpActTrace => {
            ScmpAction::Trace(data(u16::MAX as u32, "the tracer's message is 16 bits")? as u16)
        }
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => ScmpAction::Notify,
    };
    if errno_ret.is_some() && !matches!(a, A::ScmpActErrno | A::ScmpActTrace) {
        return Err(SeccompError::field(
            errno_path,
            format!(
                "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value, and {path} is {}",
                json_name(&a)
            ),
        ));
    }
    Ok(act)
}

fn add_syscall(
    ctx: &mut ScmpFilterContext,
    i: usize,
    call: &LinuxSyscall,
    default: ScmpAction,
) -> Result<(), SeccompError> {
    let path = format!("{ROOT}.syscalls[{i}]");
    let act = action(
        call.action(),
        call.errno_ret(),
        &format!("{path}.action"),
        &format!("{path}.errnoRet"),
    )?;
    if call.names().is_empty() {
        return Err(SeccompError::field(
            format!("{path}.names"),
            "must name at least one syscall",
        ));
    }
    for (j, name) in call.names().iter().enumerate() {
        if name.is_empty() {
            return Err(SeccompError::field(
                format!("{path}.names[{j}]"),
                "must not be empty",
            ));
        }
        if act == ScmpAction::Notify && NOTIFY_FORBIDDEN.contains(&name.as_str()) {
            return Err(SeccompError::field(
                format!("{path}.names[{j}]"),
                format!("SCMP_ACT_NOTIFY cannot be used for {name:?}: hull's init calls it after loading the filter to hand the notify fd over and to signal the start, and would wait forever for an agent that has not got the fd"),
            ));
        }
    }
    let args = call.args().as_deref().unwrap_or(&[]);
    let conds = args
        .iter()
        .enumerate()
        .map(|(k, a)| condition(a, &format!("{path}.args[{k}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if act == default {
        // libseccomp refuses a rule that repeats the default action; it
        // would change nothing anyway (runc skips it the same way).
        tracing::debug!("seccomp: {path} has the default action, skipped");
        return Ok(());
    }
    // libseccomp ANDs the conditions of one rule and accepts one condition
    // per argument. As runc does, when an argument is compared more than
    // once every condition becomes a rule of its own (so they are ORed).
    let mut seen = HashSet::new();
    let one_per_rule = args.iter().any(|a| !seen.insert(a.index()));
    for (j, name) in call.names().iter().enumerate() {
        let nr = match ScmpSyscall::from_name(name) {
            Ok(nr) => nr,
            Err(_) => {
                tracing::debug!(
                    "seccomp: {path}.names[{j}]: {name:?} is unknown to libseccomp {}, skipped",
                    lib_version()
                );
                continue;
            }
        };
        let added = if conds.is_empty() {
            ctx.add_rule(act, nr).map(drop)
        } else if one_per_rule {
            conds.iter().try_for_each(|c| {
                ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                    .map(drop)
            })
        } else {
            ctx.add_rule_conditional(act, nr, &conds).map(drop)
        };
        added.map_err(|e| {
            SeccompError::field(
                format!("{path}.names[{j}]"),
                format!(
                    "libseccomp refused the {} rule for {name:?}: {e}",
                    json_name(&call.action())
                ),
            )
        })?;
    }
    Ok(())
}

fn condition(a: &LinuxSeccompArg, path: &str) -> Result<ScmpArgCompare, SeccompError> {
    use LinuxSeccompOperator as O;
    if a.index() >= MAX_ARGS {
        return Err(SeccompError::field(
            format!("{path}.index"),
            format!(
                "{} is out of range: syscall arguments are numbered 0 to 5",
                a.index()
            ),
        ));
    }
    let (op, datum) = match a.op() {
        // value is the mask, valueTwo the value the masked argument must equal.
        O::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
        other => {
            if let Some(v2) = a.value_two().filter(|v| *v != 0) {
                return Err(SeccompError::field(
                    format!("{path}.valueTwo"),
                    format!(
                        "{v2} is only used by SCMP_CMP_MASKED_EQ, and {path}.op is {}",
                        json_name(&other)
                    ),
                ));
            }
            let op = match other {
                O::ScmpCmpNe => ScmpCompareOp::NotEqual,
                O::ScmpCmpLt => ScmpCompareOp::Less,
                O::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                O::ScmpCmpEq => ScmpCompareOp::Equal,
                O::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                O::ScmpCmpGt => ScmpCompareOp::Greater,
                O::ScmpCmpMaskedEq => unreachable!("handled above"),
            };
            (op, a.value())
        }
    };
    Ok(ScmpArgCompare::new(a.index() as u32, op, datum))
}

/// The kernel flag bits for the profile, each checked against this kernel.
///
/// hull passes them to `seccomp(2)` itself rather than through libseccomp's
/// attributes: libseccomp 2.5.4 knows no WAIT_KILLABLE_RECV and keeps the
/// listener fd in process-global state, and loading through it would run
/// libseccomp (and malloc) in the forked child.
fn kernel_flags(s: &LinuxSeccomp, notify: bool) -> Result<u32, SeccompError> {
    let mut flags = 0;
    if notify {
        probe(flag::NEW_LISTENER).map_err(|e| {
            SeccompError::field(format!("{ROOT}.syscalls"), format!("SCMP_ACT_NOTIFY needs seccomp user notification (Linux 5.0), which this kernel refuses: {e}"))
        })?;
        flags |= flag::NEW_LISTENER;
    }
    for (i, f) in s.flags().iter().flatten().enumerate() {
        let path = format!("{ROOT}.flags[{i}]");
        let (bits, since) = match f {
            // With a listener the kernel wants TSYNC_ESRCH beside TSYNC, so
            // that the return value can only be the fd.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync if notify => {
                (flag::TSYNC | flag::TSYNC_ESRCH, "5.7 with SCMP_ACT_NOTIFY")
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => (flag::TSYNC, "3.17"),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => (flag::LOG, "4.14"),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => (flag::SPEC_ALLOW, "4.17"),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if !notify => {
                return Err(SeccompError::field(
                    path,
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to SCMP_ACT_NOTIFY rules only, and this profile has none (the kernel refuses it without a listener)",
                ));
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                (flag::WAIT_KILLABLE_RECV, "5.19")
            }
        };
        probe(bits | (flags & flag::NEW_LISTENER)).map_err(|e| {
            SeccompError::field(
                &path,
                format!(
                    "{} is not supported by this kernel (needs Linux {since}): {e}",
                    json_name(f)
                ),
            )
        })?;
        flags |= bits;
    }
    probe(flags).map_err(|e| {
        SeccompError::field(
            format!("{ROOT}.flags"),
            format!("the kernel refuses this combination of flags ({flags:#x}): {e}"),
        )
    })?;
    Ok(flags)
}

/// Whether the kernel accepts `flags` for SECCOMP_SET_MODE_FILTER, asked
/// the way libseccomp asks: with no program, a known flag set fails with
/// EFAULT (copying the program) and an unknown one with EINVAL, and
/// nothing is installed either way.
fn probe(flags: u32) -> io::Result<()> {
    // SAFETY: a null program pointer is never dereferenced by userspace;
    // the kernel validates the flags, then fails to copy it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    let err = io::Error::last_os_error();
    match (rc, err.raw_os_error()) {
        (-1, Some(libc::EFAULT)) => Ok(()),
        (-1, _) => Err(err),
        _ => Err(io::Error::other(format!("seccomp(2) probe returned {rc}"))),
    }
}

/// The BPF program libseccomp generates (through `seccomp_export_bpf`,
/// the same generator `seccomp_load` uses), as kernel `sock_filter`s.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let io_err = |what: &str, e: io::Error| SeccompError::field(ROOT, format!("{what}: {e}"));
    let fd = rustix::fs::memfd_create("hull-seccomp", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| io_err("memfd_create for the BPF program", e.into()))?;
    ctx.export_bpf(&fd)
        .map_err(|e| lib_err(ROOT, "generating the BPF program", e))?;
    let mut file = std::fs::File::from(fd);
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| io_err("reading the BPF program back", e))?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % size != 0 {
        return Err(SeccompError::field(
            ROOT,
            format!(
                "libseccomp generated a malformed BPF program ({} bytes)",
                bytes.len()
            ),
        ));
    }
    let program: Vec<libc::sock_filter> = bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(program)
}

fn lib_err(path: &str, what: &str, e: libseccomp::error::SeccompError) -> SeccompError {
    SeccompError::field(path, format!("libseccomp {}: {what}: {e}", lib_version()))
}

pub(super) fn lib_version() -> String {
    match libseccomp::ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "(unknown version)".to_owned(),
    }
}

/// The name a value has in config.json (`SCMP_ACT_ALLOW`, ...).
pub(super) fn json_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}
