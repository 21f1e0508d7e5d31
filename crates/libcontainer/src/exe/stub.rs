//! The exec stub: a static ELF of about 300 bytes that the container's
//! process execs, from a sealed memfd, just before the container's program.
//!
//! Why: the process that execs the container's program is a fork of the
//! library's caller, so its /proc/self/exe is the caller's binary. If the
//! program is `/proc/self/exe`, or a script whose interpreter is, the kernel
//! resolves that link *during* execve and runs the caller's binary inside
//! the container, where other container processes can reopen it for
//! writing (CVE-2019-5736). Going through the stub first makes the link
//! point at the sealed memfd by the time the program is resolved: the worst
//! a container can make the kernel run is the stub again.
//!
//! Contract: `argv = [report_fd, path, program argv...]`, `envp` = the
//! program's environment. The stub marks `report_fd` close-on-exec, then
//! `execve(path, &argv[2], envp)`. If that fails it sends the 6-byte sync
//! message `[version 1, tag 11, errno as u32 LE]` (`Msg::ExecFailed`) on
//! `report_fd` with MSG_NOSIGNAL and exits 127. Any other argv (the stub run
//! again through /proc/self/exe, or as a script interpreter) exits 127 at
//! once: it never touches an fd it was not told about.
//!
//! The machine code is assembled from the listings below (GNU as); the
//! bytes were checked by running the stub natively (x86_64) and under
//! qemu-aarch64 for success, a failing execve, a bad fd and short argv.

use std::os::fd::OwnedFd;

use rustix::fs::{MemfdFlags, SealFlags};

/// `_start` for x86_64:
/// ```text
///     mov (%rsp),%rcx;  cmp $3,%rcx;  jb bad            # argc >= 3
///     mov 8(%rsp),%rsi; cmpb $0,(%rsi); je bad          # argv[0] = fd
///     xor %ebx,%ebx
/// parse: movzbl (%rsi),%eax; test %eax,%eax; jz parsed
///     sub $48,%eax; cmp $9,%eax; ja bad                 # digits only
///     imul $10,%ebx,%ebx; add %eax,%ebx; inc %rsi; jmp parse
/// parsed: mov %rcx,%r12
///     fcntl(%ebx, F_SETFD, FD_CLOEXEC); test %rax,%rax; jnz fail
///     execve(argv[1], &argv[2], &argv[argc+1])
/// fail: neg %eax; sub $8,%rsp; movw $0x0b01,(%rsp); mov %eax,2(%rsp)
///     sendto(%ebx, %rsp, 6, MSG_NOSIGNAL, 0, 0)
/// bad: exit_group(127)
/// ```
#[cfg(target_arch = "x86_64")]
const CODE: &[u8] = &[
    0x48, 0x8b, 0x0c, 0x24, 0x48, 0x83, 0xf9, 0x03, 0x0f, 0x82, 0x83, 0x00, 0x00, 0x00, 0x48, 0x8b,
    0x74, 0x24, 0x08, 0x80, 0x3e, 0x00, 0x74, 0x79, 0x31, 0xdb, 0x0f, 0xb6, 0x06, 0x85, 0xc0, 0x74,
    0x12, 0x83, 0xe8, 0x30, 0x83, 0xf8, 0x09, 0x77, 0x68, 0x6b, 0xdb, 0x0a, 0x01, 0xc3, 0x48, 0xff,
    0xc6, 0xeb, 0xe7, 0x49, 0x89, 0xcc, 0x89, 0xdf, 0xbe, 0x02, 0x00, 0x00, 0x00, 0xba, 0x01, 0x00,
    0x00, 0x00, 0xb8, 0x48, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x85, 0xc0, 0x75, 0x16, 0x48, 0x8b,
    0x7c, 0x24, 0x10, 0x48, 0x8d, 0x74, 0x24, 0x18, 0x4a, 0x8d, 0x54, 0xe4, 0x10, 0xb8, 0x3b, 0x00,
    0x00, 0x00, 0x0f, 0x05, 0xf7, 0xd8, 0x48, 0x83, 0xec, 0x08, 0x66, 0xc7, 0x04, 0x24, 0x01, 0x0b,
    0x89, 0x44, 0x24, 0x02, 0x89, 0xdf, 0x48, 0x89, 0xe6, 0xba, 0x06, 0x00, 0x00, 0x00, 0x41, 0xba,
    0x00, 0x40, 0x00, 0x00, 0x45, 0x31, 0xc0, 0x45, 0x31, 0xc9, 0xb8, 0x2c, 0x00, 0x00, 0x00, 0x0f,
    0x05, 0xbf, 0x7f, 0x00, 0x00, 0x00, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,
];
#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62; // EM_X86_64

/// `_start` for aarch64, the same steps:
/// ```text
///     ldr x9,[sp]; cmp x9,#3; b.lo bad
///     ldr x1,[sp,#8]; ldrb w2,[x1]; cbz w2,bad
///     mov x19,#0; mov x3,#10
/// parse: ldrb w2,[x1],#1; cbz w2,parsed
///     sub w2,w2,#48; cmp w2,#9; b.hi bad; madd x19,x19,x3,x2; b parse
/// parsed: fcntl(x19, F_SETFD, FD_CLOEXEC); cbnz x0,fail
///     execve([sp,#16], sp+24, sp+8*argc+16)
/// fail: neg w0,w0; sub sp,sp,#16; strh 0x0b01,[sp]; stur w0,[sp,#2]
///     sendto(x19, sp, 6, MSG_NOSIGNAL, 0, 0)
/// bad: exit_group(127)
/// ```
#[cfg(target_arch = "aarch64")]
const CODE: &[u8] = &[
    0xe9, 0x03, 0x40, 0xf9, 0x3f, 0x0d, 0x00, 0xf1, 0xc3, 0x04, 0x00, 0x54, 0xe1, 0x07, 0x40, 0xf9,
    0x22, 0x00, 0x40, 0x39, 0x62, 0x04, 0x00, 0x34, 0x13, 0x00, 0x80, 0xd2, 0x43, 0x01, 0x80, 0xd2,
    0x22, 0x14, 0x40, 0x38, 0xc2, 0x00, 0x00, 0x34, 0x42, 0xc0, 0x00, 0x51, 0x5f, 0x24, 0x00, 0x71,
    0x88, 0x03, 0x00, 0x54, 0x73, 0x0a, 0x03, 0x9b, 0xfa, 0xff, 0xff, 0x17, 0xe0, 0x03, 0x13, 0xaa,
    0x41, 0x00, 0x80, 0xd2, 0x22, 0x00, 0x80, 0xd2, 0x28, 0x03, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4,
    0xe0, 0x00, 0x00, 0xb5, 0xe0, 0x0b, 0x40, 0xf9, 0xe1, 0x63, 0x00, 0x91, 0xe2, 0x6f, 0x29, 0x8b,
    0x42, 0x40, 0x00, 0x91, 0xa8, 0x1b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4, 0xe0, 0x03, 0x00, 0x4b,
    0xff, 0x43, 0x00, 0xd1, 0x23, 0x60, 0x81, 0x52, 0xe3, 0x03, 0x00, 0x79, 0xe0, 0x23, 0x00, 0xb8,
    0xe0, 0x03, 0x13, 0xaa, 0xe1, 0x03, 0x00, 0x91, 0xc2, 0x00, 0x80, 0xd2, 0x03, 0x00, 0x88, 0xd2,
    0x04, 0x00, 0x80, 0xd2, 0x05, 0x00, 0x80, 0xd2, 0xc8, 0x19, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4,
    0xe0, 0x0f, 0x80, 0xd2, 0xc8, 0x0b, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4,
];
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183; // EM_AARCH64

/// Whether this architecture has a stub.
pub(crate) const AVAILABLE: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// The ELF image: header, a PT_LOAD of the whole file (read + execute) and
/// a PT_GNU_STACK (no executable stack), then the code.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn image() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const EHDR: u64 = 64;
    const PHDR: u64 = 56;
    let code_at = EHDR + 2 * PHDR;
    let total = code_at + CODE.len() as u64;
    let mut e = Vec::with_capacity(total as usize);
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&MACHINE.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    e.extend_from_slice(&(BASE + code_at).to_le_bytes()); // e_entry
    e.extend_from_slice(&EHDR.to_le_bytes()); // e_phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for h in [EHDR as u16, PHDR as u16, 2, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        e.extend_from_slice(&h.to_le_bytes());
    }
    let phdr = |e: &mut Vec<u8>, typ: u32, flags: u32, vaddr: u64, size: u64, align: u64| {
        e.extend_from_slice(&typ.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        for v in [0, vaddr, vaddr, size, size, align] {
            e.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(&mut e, 1, 5, BASE, total, 0x1000); // PT_LOAD, R+X
    phdr(&mut e, 0x6474_e551, 6, 0, 0, 16); // PT_GNU_STACK, RW
    e.extend_from_slice(CODE);
    e
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn image() -> Vec<u8> {
    Vec::new()
}

/// A fresh sealed memfd holding the stub, one per create or exec: a
/// container that got hold of it could change its mode bits, so none is
/// shared between containers.
pub(crate) fn memfd() -> std::io::Result<OwnedFd> {
    // MFD_EXEC: kernels with vm.memfd_noexec (6.3+) want executability
    // asked for explicitly; older ones refuse the flag.
    const MFD_EXEC: u32 = 0x10;
    let base = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let fd = match rustix::fs::memfd_create(
        "hull-exec-stub",
        base | MemfdFlags::from_bits_retain(MFD_EXEC),
    ) {
        Err(rustix::io::Errno::INVAL) => rustix::fs::memfd_create("hull-exec-stub", base)?,
        r => r?,
    };
    let img = image();
    let mut off = 0;
    while off < img.len() {
        off += rustix::io::write(&fd, &img[off..])?;
    }
    rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(0o555))?;
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd};

    use super::*;
    use crate::sync::{Channel, Msg};

    /// Runs the stub in a forked child with `argv` (fd placeholders "{fd}"
    /// replaced by the report fd) and returns its exit code and what it
    /// reported.
    fn run(args: &[&str]) -> (i32, Option<Msg>) {
        let stub = memfd().unwrap();
        let (parent, child) = Channel::pair().unwrap();
        let fd = child.raw_fd().to_string();
        let argv: Vec<std::ffi::CString> = args
            .iter()
            .map(|a| std::ffi::CString::new(a.replace("{fd}", &fd)).unwrap())
            .collect();
        let envp: Vec<std::ffi::CString> = vec![];
        // SAFETY: the child only makes syscalls on memory prepared before
        // the fork, then execs or _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _ = rustix::io::fcntl_setfd(&child, rustix::io::FdFlags::empty());
                let _ = nix::unistd::fexecve(stub.as_fd(), &argv, &envp);
                unsafe { libc::_exit(99) }
            }
            nix::unistd::ForkResult::Parent { child: pid } => {
                drop(child);
                let code = match nix::sys::wait::waitpid(pid, None).unwrap() {
                    nix::sys::wait::WaitStatus::Exited(_, c) => c,
                    other => panic!("{other:?}"),
                };
                let msg = parent.recv(std::time::Duration::from_secs(5), "test").ok();
                (code, msg)
            }
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn execs_the_program_and_closes_the_report_fd() {
        // The program sees its own argv and finds the report fd closed.
        let (code, msg) = run(&[
            "{fd}",
            "/bin/sh",
            "sh",
            "-c",
            "test \"$0 $1\" = 'x y' && ! test -e /proc/self/fd/{fd}",
            "x",
            "y",
        ]);
        assert_eq!((code, msg), (0, None));
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn a_failed_execve_is_reported_with_its_errno() {
        let (code, msg) = run(&["{fd}", "/nonexistent/program", "x"]);
        assert_eq!((code, msg), (127, Some(Msg::ExecFailed(libc::ENOENT))));
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn other_argv_exits_without_touching_fds() {
        // As a script interpreter or through /proc/self/exe: argv[0] is no fd.
        for argv in [
            &["/proc/self/exe", "/script", "x"][..],
            &["{fd}", "/bin/true"],
            &["3x", "/bin/true", "true"],
        ] {
            assert_eq!(run(argv), (127, None), "{argv:?}");
        }
    }

    #[test]
    fn the_memfd_is_sealed_and_read_only() {
        let fd = memfd().unwrap();
        let seals = rustix::fs::fcntl_get_seals(&fd).unwrap();
        assert!(
            seals.contains(SealFlags::WRITE | SealFlags::SEAL),
            "{seals:?}"
        );
        let w = rustix::fs::open(
            format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
            rustix::fs::OFlags::WRONLY,
            rustix::fs::Mode::empty(),
        )
        .and_then(|w| rustix::io::write(&w, b"x"));
        assert!(w.is_err(), "the stub could be written");
    }
}
