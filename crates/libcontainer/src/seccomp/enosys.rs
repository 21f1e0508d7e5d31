//! runc's -ENOSYS prefix: a syscall numbered above every syscall the
//! profile names fails with ENOSYS instead of the default action.
//!
//! A profile written before a syscall existed cannot name it, and its
//! default action (usually EPERM) then tells a newer libc that the call is
//! forbidden rather than missing, so the libc's fallback (clone3 → clone,
//! faccessat2 → faccessat) never runs. runc prepends a BPF stub to the
//! filter for this (libcontainer/seccomp/patchbpf); the rule here is the
//! same:
//! - only when the default action denies (not ALLOW, LOG or TRACE: a
//!   tracer handles new syscalls itself) and is not already ENOSYS;
//! - per architecture of the profile, the threshold is the highest number
//!   any name in `syscalls` resolves to there, whatever its rule's action;
//!   an architecture where no name resolves gets no stub;
//! - x86_64 and x32 share an audit arch and are told apart by the x32 bit
//!   of the syscall number; on s390 unknown large syscalls arrive as
//!   syscall 0, which also gets ENOSYS.
//!
//! One difference: runc skips the stub when `architectures` is empty;
//! hull treats that as the native architecture, which is what libseccomp
//! filters then.

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use oci_spec::runtime::LinuxSeccomp;

/// The x32 ABI marks its syscall numbers with this bit (x86_64 kernels).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `seccomp_data` offsets: the syscall number, then the audit arch.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// Conditional jumps reach at most 255 instructions ahead.
const MAX_JUMP: usize = u8::MAX as usize;

/// The stub to put in front of libseccomp's program; empty when the
/// default action allows or already answers ENOSYS.
pub(super) fn stub(s: &LinuxSeccomp, default: ScmpAction) -> Vec<libc::sock_filter> {
    if matches!(
        default,
        ScmpAction::Allow
            | ScmpAction::Log
            | ScmpAction::Trace(_)
            | ScmpAction::Errno(libc::ENOSYS)
    ) {
        return Vec::new();
    }
    let names: Vec<&str> = s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|c| c.names())
        .map(String::as_str)
        .collect();
    let mut arches: Vec<ScmpArch> = s
        .architectures()
        .iter()
        .flatten()
        .map(|a| super::arch::scmp_arch(*a))
        .collect();
    if arches.is_empty() {
        arches.push(ScmpArch::native());
    }
    let mut sections: Vec<Section> = Vec::new();
    for arch in arches {
        let arch = if arch == ScmpArch::Native {
            ScmpArch::native()
        } else {
            arch
        };
        let Some(audit) = audit_arch(arch) else {
            tracing::debug!(
                "seccomp: no -ENOSYS stub for {arch:?}: its audit arch is unknown to hull"
            );
            continue;
        };
        let Some(max) = names
            .iter()
            .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
            .map(i32::from)
            .filter(|nr| *nr >= 0)
            .max()
        else {
            tracing::debug!(
                "seccomp: no -ENOSYS stub for {arch:?}: the profile names no syscall it has"
            );
            continue;
        };
        let section = match sections.iter_mut().position(|s| s.audit == audit) {
            Some(i) => &mut sections[i],
            None => {
                sections.push(Section {
                    audit,
                    plain: None,
                    x32: None,
                    s390: false,
                });
                sections.last_mut().expect("just pushed")
            }
        };
        if arch == ScmpArch::X32 {
            section.x32 = Some(max as u32);
        } else {
            section.plain = Some(max as u32);
        }
        section.s390 |= matches!(arch, ScmpArch::S390 | ScmpArch::S390X);
    }
    if sections.is_empty() {
        return Vec::new();
    }
    assemble(&sections)
}

/// What the stub checks for one audit arch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Section {
    pub audit: u32,
    /// Highest named syscall of the arch (of x86_64 without the x32 bit).
    pub plain: Option<u32>,
    /// Highest named x32 syscall (x32 bit included), on x86_64 only.
    pub x32: Option<u32>,
    /// s390: syscall 0 carries unknown large syscall numbers.
    pub s390: bool,
}

#[derive(Clone, Copy)]
enum To {
    Next,
    Enosys,
    Filter,
    Section(usize),
    /// An instruction in the same section, this many ahead of the next.
    Skip(usize),
}

enum Op {
    Load(u32),
    Jeq(u32, To, To),
    Jgt(u32, To, To),
    Jset(u32, To, To),
    Ja(To),
    RetEnosys,
}

/// Lays out: load arch; one jeq per arch to its section; ja filter; the
/// sections; ret ENOSYS; and the filter right after.
pub(super) fn assemble(sections: &[Section]) -> Vec<libc::sock_filter> {
    let mut ops = vec![Op::Load(OFF_ARCH)];
    ops.extend(
        sections
            .iter()
            .enumerate()
            .map(|(i, s)| Op::Jeq(s.audit, To::Section(i), To::Next)),
    );
    ops.push(Op::Ja(To::Filter));
    let mut starts = Vec::new();
    for s in sections {
        starts.push(ops.len());
        ops.push(Op::Load(OFF_NR));
        if s.s390 {
            ops.push(Op::Jeq(0, To::Enosys, To::Next));
        }
        let above = |max: Option<u32>| match max {
            Some(m) => Op::Jgt(m, To::Enosys, To::Filter),
            None => Op::Ja(To::Filter),
        };
        if s.audit == AUDIT_X86_64 {
            ops.push(Op::Jset(X32_SYSCALL_BIT, To::Skip(1), To::Next));
            ops.push(above(s.plain));
            ops.push(above(s.x32));
        } else {
            ops.push(above(s.plain));
        }
    }
    let enosys = ops.len();
    ops.push(Op::RetEnosys);
    let filter = ops.len();
    debug_assert!(
        filter <= MAX_JUMP,
        "the stub must stay within one conditional jump"
    );
    let offset = |pc: usize, to: To| -> usize {
        let target = match to {
            To::Next => pc + 1,
            To::Enosys => enosys,
            To::Filter => filter,
            To::Section(i) => starts[i],
            To::Skip(n) => pc + 1 + n,
        };
        target - (pc + 1)
    };
    let insn = |code: u32, jt: usize, jf: usize, k: u32| libc::sock_filter {
        code: code as u16,
        jt: jt as u8,
        jf: jf as u8,
        k,
    };
    ops.iter()
        .enumerate()
        .map(|(pc, op)| match *op {
            Op::Load(off) => insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, off),
            Op::Jeq(k, t, f) => insn(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                offset(pc, t),
                offset(pc, f),
                k,
            ),
            Op::Jgt(k, t, f) => insn(
                libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K,
                offset(pc, t),
                offset(pc, f),
                k,
            ),
            Op::Jset(k, t, f) => insn(
                libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
                offset(pc, t),
                offset(pc, f),
                k,
            ),
            Op::Ja(t) => insn(libc::BPF_JMP | libc::BPF_JA, 0, 0, offset(pc, t) as u32),
            Op::RetEnosys => insn(
                libc::BPF_RET | libc::BPF_K,
                0,
                0,
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            ),
        })
        .collect()
}

const LE: u32 = 0x4000_0000;
const BITS64: u32 = 0x8000_0000;
const MIPS64_N32: u32 = 0x2000_0000;
pub(super) const AUDIT_X86_64: u32 = 62 | BITS64 | LE;

/// The kernel's AUDIT_ARCH_* value, what a filter sees in
/// `seccomp_data.arch` (linux/audit.h). x32 runs under x86_64's.
pub(super) fn audit_arch(a: ScmpArch) -> Option<u32> {
    const EM_386: u32 = 3;
    const EM_68K: u32 = 4;
    const EM_MIPS: u32 = 8;
    const EM_PARISC: u32 = 15;
    const EM_PPC: u32 = 20;
    const EM_PPC64: u32 = 21;
    const EM_S390: u32 = 22;
    const EM_ARM: u32 = 40;
    const EM_SH: u32 = 42;
    const EM_AARCH64: u32 = 183;
    const EM_RISCV: u32 = 243;
    const EM_LOONGARCH: u32 = 258;
    Some(match a {
        ScmpArch::X86 => EM_386 | LE,
        ScmpArch::X8664 | ScmpArch::X32 => AUDIT_X86_64,
        ScmpArch::Arm => EM_ARM | LE,
        ScmpArch::Aarch64 => EM_AARCH64 | BITS64 | LE,
        ScmpArch::Mips => EM_MIPS,
        ScmpArch::Mipsel => EM_MIPS | LE,
        ScmpArch::Mips64 => EM_MIPS | BITS64,
        ScmpArch::Mipsel64 => EM_MIPS | BITS64 | LE,
        ScmpArch::Mips64N32 => EM_MIPS | BITS64 | MIPS64_N32,
        ScmpArch::Mipsel64N32 => EM_MIPS | BITS64 | LE | MIPS64_N32,
        ScmpArch::Ppc => EM_PPC,
        ScmpArch::Ppc64 => EM_PPC64 | BITS64,
        ScmpArch::Ppc64Le => EM_PPC64 | BITS64 | LE,
        ScmpArch::S390 => EM_S390,
        ScmpArch::S390X => EM_S390 | BITS64,
        ScmpArch::Parisc => EM_PARISC,
        ScmpArch::Parisc64 => EM_PARISC | BITS64,
        ScmpArch::Riscv64 => EM_RISCV | BITS64 | LE,
        ScmpArch::Loongarch64 => EM_LOONGARCH | BITS64 | LE,
        ScmpArch::M68k => EM_68K,
        // libseccomp's "sh" is the little-endian SuperH.
        ScmpArch::Sh => EM_SH | LE,
        ScmpArch::Sheb => EM_SH,
        _ => return None,
    })
}
