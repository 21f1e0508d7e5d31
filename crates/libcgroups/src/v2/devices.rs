//! cgroup v2 device control: cgroup v2 has no devices.allow/deny files;
//! the kernel instead runs `BPF_PROG_TYPE_CGROUP_DEVICE` programs attached
//! to the cgroup (and to its ancestors) on every open and mknod of a device
//! node. This module translates `linux.resources.devices` into such a
//! program, the way runc's `devicefilter` does, and attaches it.
//!
//! # Rule semantics
//!
//! The same as the v1 devices controller applied in spec order: a rule
//! matches a device when its type ("a" = any), major and minor (absent or
//! negative = any) fit, and for each requested access ('r', 'w', 'm') the
//! last matching rule that names that access decides. An "a *:* rwm" rule
//! therefore sets the default and overrides everything before it; with no
//! such rule the default is allow (a new cgroup allows every device, as in
//! v1). A request for several accesses (open O_RDWR asks for r and w) is
//! allowed only when each of them is.
//!
//! # Program layout
//!
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! arrives in r1; `access_type` is `type | access << 16` with type
//! `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2) and access a mask of
//! `BPF_DEVCG_ACC_MKNOD` (1), `_READ` (2), `_WRITE` (4). The program
//! returns 1 to allow, 0 to deny (EPERM).
//!
//! ```text
//! prologue:  r2 = ctx->access_type & 0xffff      ; device type
//!            r3 = ctx->access_type >> 16         ; accesses still undecided
//!            r4 = ctx->major
//!            r5 = ctx->minor
//! one block per rule after the last "a" rule, LAST rule first:
//!            if r2 != TYPE  goto next
//!            if r4 != MAJOR goto next            ; omitted for a wildcard
//!            if r5 != MINOR goto next            ; omitted for a wildcard
//!   access "rwm":     r0 = ALLOW; exit           ; decides all that is left
//!   allow, partial:   r3 &= ~ACCESS              ; these are now allowed
//!                     if r3 != 0 goto next       ; others still undecided
//!                     r0 = 1; exit
//!   deny, partial:    r1 = r3 & ACCESS
//!                     if r1 == 0 goto next       ; asks none of these
//!                     r0 = 0; exit
//! next/epilogue:      r0 = DEFAULT; exit
//! ```
//!
//! Walking the rules backwards with "first match wins" is runc's trick for
//! "last rule wins"; clearing the allowed bits from r3 extends it to rules
//! that grant different accesses to the same device, which the v1 kernel
//! merges (runc gets the same effect from its rule emulator).
//!
//! # Attaching
//!
//! The program is loaded (named [`PROG_NAME`], license "Apache": device
//! programs need no GPL helpers) before anything is written to the cgroup,
//! then attached with `BPF_F_ALLOW_MULTI` to the cgroup directory. A program
//! hull attached earlier (found with `BPF_PROG_QUERY` by its name) is
//! replaced atomically with `BPF_F_REPLACE`, or detached after the new one is
//! in place on kernels without it (< 5.6). Programs attached by others are
//! left alone: they can only restrict further. A rule list that restricts
//! nothing gets no program (and removes hull's). Inside a user namespace,
//! where bpf(2) is never permitted, a list that restricts anything cannot
//! be enforced and is an error (runc and crun log and ignore it); libcontainer
//! refuses such configs before creating anything.
//!
//! Hybrid hosts keep using the v1 devices controller (as runc does); only
//! the Unified driver calls this.

use std::ffi::CStr;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::bpf::{self, Insn, BPF_F_ALLOW_MULTI, BPF_F_REPLACE};
use crate::error::{CgroupError, Result};
use crate::shared::device_rules::{access, is_all, rule_string, F_DEVICES};

/// Name of every program hull attaches (BPF_OBJ_NAME_LEN - 1 at most);
/// how hull recognises its own program when replacing it.
pub(crate) const PROG_NAME: &str = "hull_devices";
/// Device programs call no GPL-only helpers (runc uses the same string).
const LICENSE: &CStr = c"Apache";

// include/uapi/linux/bpf.h
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
const ACC_MKNOD: i32 = 1; // BPF_DEVCG_ACC_MKNOD
const ACC_READ: i32 = 2; // BPF_DEVCG_ACC_READ
const ACC_WRITE: i32 = 4; // BPF_DEVCG_ACC_WRITE
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// Placeholder jump offset meaning "the next rule's block".
const NEXT: i16 = i16::MIN;

/// A validated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `None` for the "a *:* rwm" rule.
    typ: Option<i32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: i32,
}

fn parse(i: usize, r: &LinuxDeviceCgroup) -> Result<Rule> {
    // Type, access letters and the shape of "a" rules.
    rule_string(i, r)?;
    let num = |what: &str, n: Option<i64>| -> Result<Option<u32>> {
        match n {
            Some(n) if n >= 0 => u32::try_from(n).map(Some).map_err(|_| {
                CgroupError::invalid(
                    format!("{F_DEVICES}[{i}].{what}"),
                    format!("{n} is out of range (at most {})", u32::MAX),
                )
            }),
            _ => Ok(None),
        }
    };
    let major = num("major", r.major())?;
    let minor = num("minor", r.minor())?;
    let typ = match r.typ() {
        Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
        Some(LinuxDeviceType::C) => Some(DEV_CHAR),
        // rule_string let only "a" through, and only as the all-rule.
        _ => None,
    };
    let mut acc = 0;
    for c in access(r).chars() {
        acc |= match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            _ => ACC_WRITE,
        };
    }
    Ok(Rule {
        allow: r.allow(),
        typ,
        major,
        minor,
        access: acc,
    })
}

fn parse_all(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    rules.iter().enumerate().map(|(i, r)| parse(i, r)).collect()
}

/// True when applying `rules` would leave some access denied.
pub fn restricts(rules: &[LinuxDeviceCgroup]) -> bool {
    match rules.iter().rposition(|r| !r.allow()) {
        None => false,
        Some(i) => !rules[i + 1..].iter().any(|r| r.allow() && is_all(r)),
    }
}

/// The block of one rule; jumps to the next block are patched in here.
fn block(r: &Rule, typ: i32) -> Vec<Insn> {
    let mut b = vec![Insn::jne(R2, typ, NEXT)];
    // Numbers above i32::MAX become negative immediates, which the 64-bit
    // compare sign-extends, so such a rule never matches; that is exact,
    // since Linux majors have 12 bits and minors 20.
    if let Some(m) = r.major {
        b.push(Insn::jne(R4, m as i32, NEXT));
    }
    if let Some(m) = r.minor {
        b.push(Insn::jne(R5, m as i32, NEXT));
    }
    if r.access == ACC_ALL {
        b.push(Insn::mov32(R0, i32::from(r.allow)));
    } else if r.allow {
        b.push(Insn::and32(R3, !r.access));
        b.push(Insn::jne(R3, 0, NEXT));
        b.push(Insn::mov32(R0, 1));
    } else {
        b.push(Insn::mov32_reg(R1, R3));
        b.push(Insn::and32(R1, r.access));
        b.push(Insn::jeq(R1, 0, NEXT));
        b.push(Insn::mov32(R0, 0));
    }
    b.push(Insn::exit());
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if insn.off == NEXT {
            insn.off = (len - i - 1) as i16;
        }
    }
    b
}

/// Translates a rule list into a device program (see the module docs).
pub(crate) fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    Ok(assemble(&parse_all(rules)?))
}

fn assemble(rules: &[Rule]) -> Vec<Insn> {
    let start = rules.iter().rposition(|r| r.typ.is_none());
    let default_allow = start.is_none_or(|i| rules[i].allow);
    let live = &rules[start.map_or(0, |i| i + 1)..];
    let mut p = vec![
        Insn::ldx_w(R2, R1, 0),
        Insn::and32(R2, 0xffff),
        Insn::ldx_w(R3, R1, 0),
        Insn::rsh32(R3, 16),
        Insn::ldx_w(R4, R1, 4),
        Insn::ldx_w(R5, R1, 8),
    ];
    for r in live.iter().rev() {
        // Only the all-rule lacks a type, and none follows the last one.
        if let Some(t) = r.typ {
            p.extend(block(r, t));
        }
    }
    p.push(Insn::mov32(R0, i32::from(default_allow)));
    p.push(Insn::exit());
    p
}

/// Validates the rules (called by the v2 precheck).
pub(crate) fn check(rules: &[LinuxDeviceCgroup]) -> Result<()> {
    program(rules).map(drop)
}

/// What [`install`] will do; made before anything is written.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Nothing to do (empty list).
    Nothing,
    /// The list restricts nothing: remove hull's program if one is attached.
    AllowAll,
    /// A loaded program to attach.
    Program(OwnedFd),
}

fn bpf_err(op: &'static str, dir: &Path, source: io::Error, detail: String) -> CgroupError {
    CgroupError::Bpf {
        context: F_DEVICES.to_string(),
        op,
        dir: dir.to_path_buf(),
        source,
        detail,
    }
}

fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    match bpf::prog_load(insns, LICENSE, PROG_NAME, None) {
        // Before 5.11 the program counts against RLIMIT_MEMLOCK.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            bpf::with_memlock_raised(|| bpf::prog_load(insns, LICENSE, PROG_NAME, None))
                .unwrap_or(Err(e))
        }
        r => r,
    }
}

/// The verifier's explanation of a rejected program, for the error.
fn verifier_log(insns: &[Insn]) -> String {
    let mut log = Vec::with_capacity(64 * 1024);
    if bpf::prog_load(insns, LICENSE, PROG_NAME, Some(&mut log)).is_ok() {
        return String::new();
    }
    let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
    let text = String::from_utf8_lossy(&log[..end]);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = lines[lines.len().saturating_sub(5)..].join("; ");
    format!(" (verifier: {tail})")
}

/// Builds and loads the program for `rules`, without touching `dir`.
pub(crate) fn prepare(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<Prepared> {
    if rules.is_empty() {
        return Ok(Prepared::Nothing);
    }
    let insns = program(rules)?;
    if !restricts(rules) {
        return Ok(Prepared::AllowAll);
    }
    match load(&insns) {
        Ok(fd) => Ok(Prepared::Program(fd)),
        Err(e) => {
            let detail = match e.raw_os_error() {
                _ if crate::in_user_namespace() => {
                    " (in a user namespace, where no device program can be loaded)".to_string()
                }
                Some(libc::EINVAL) | Some(libc::EACCES) => verifier_log(&insns),
                _ => String::new(),
            };
            Err(bpf_err("BPF_PROG_LOAD", dir, e, detail))
        }
    }
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)?;
    Ok(f.into())
}

/// Fds of the device programs hull attached to `cg` (by name). Programs
/// that vanished meanwhile, or that an LSM hides, are skipped.
fn attached_by_hull(cg: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for id in bpf::prog_query(cg)? {
        let fd = match bpf::prog_fd_by_id(id) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) => {
                tracing::debug!("device program {id}: not accessible, left alone: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        if bpf::prog_name(fd.as_fd())? == PROG_NAME {
            out.push(fd);
        }
    }
    Ok(out)
}

fn detach_all(dir: &Path, cg: BorrowedFd<'_>, progs: &[OwnedFd]) -> Result<()> {
    for p in progs {
        match bpf::prog_detach(cg, p.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {} // already gone
            Err(e) => return Err(bpf_err("BPF_PROG_DETACH", dir, e, String::new())),
        }
    }
    Ok(())
}

/// Puts the prepared program in force on the cgroup `dir`, replacing the
/// one hull attached before.
pub(crate) fn install(dir: &Path, prepared: Prepared) -> Result<()> {
    install_inner(dir, &prepared)
}

fn install_inner(dir: &Path, prepared: &Prepared) -> Result<()> {
    let prog = match prepared {
        Prepared::Nothing => return Ok(()),
        Prepared::AllowAll => None,
        Prepared::Program(fd) => Some(fd),
    };
    let cg = open_dir(dir).map_err(|e| CgroupError::file(F_DEVICES, "opening", ".", dir, e))?;
    let cg = cg.as_fd();
    let old = match attached_by_hull(cg) {
        Ok(old) => old,
        // Without a usable bpf(2) nothing of ours can be attached either.
        Err(_) if prog.is_none() => return Ok(()),
        Err(e) => return Err(bpf_err("BPF_PROG_QUERY", dir, e, String::new())),
    };
    let Some(prog) = prog else {
        return detach_all(dir, cg, &old);
    };
    if let [one] = old.as_slice() {
        match bpf::prog_attach(
            cg,
            prog.as_fd(),
            BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
            Some(one.as_fd()),
        ) {
            Ok(()) => return Ok(()),
            // EINVAL: a kernel before 5.6 without BPF_F_REPLACE.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::debug!("BPF_F_REPLACE refused ({e}); attaching, then detaching");
            }
            Err(e) => return Err(bpf_err("BPF_PROG_ATTACH", dir, e, String::new())),
        }
    }
    bpf::prog_attach(cg, prog.as_fd(), BPF_F_ALLOW_MULTI, None)
        .map_err(|e| bpf_err("BPF_PROG_ATTACH", dir, e, String::new()))?;
    detach_all(dir, cg, &old)
}

#[cfg(test)]
mod tests;
