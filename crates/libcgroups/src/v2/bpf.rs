//! The small part of bpf(2) that cgroup v2 device control needs: loading a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program and attaching, querying, replacing
//! and detaching it on a cgroup directory.
//!
//! Neither rustix nor nix wraps bpf(2), so this calls
//! `syscall(SYS_bpf, cmd, &attr, sizeof attr)` directly. [`BpfAttr`] is a
//! `#[repr(C)]` subset of the kernel's `union bpf_attr`
//! (include/uapi/linux/bpf.h): only the members of the commands used here,
//! with the kernel's field offsets. The ABI only ever appends fields, and
//! the kernel accepts a union of any size as long as the bytes it does not
//! know are zero, so the union is always zero-initialised before use.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// enum bpf_cmd
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// enum bpf_prog_type: BPF_PROG_TYPE_CGROUP_DEVICE.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// enum bpf_attach_type: BPF_CGROUP_DEVICE.
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs per cgroup; each of them (and every ancestor's) must allow.
pub(crate) const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
/// Atomically replace the program given in `replace_bpf_fd` (Linux 5.6+).
pub(crate) const BPF_F_REPLACE: u32 = 1 << 2;
/// Length of `prog_name` including the terminating NUL.
const BPF_OBJ_NAME_LEN: usize = 16;
/// A cgroup holds at most 64 programs per attach type (BPF_CGROUP_MAX_PROGS).
const MAX_PROGS: usize = 64;

/// One `struct bpf_insn`: opcode, dst (low nibble) and src (high nibble)
/// registers, signed 16-bit offset, signed 32-bit immediate.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcode pieces (include/uapi/linux/bpf_common.h, bpf.h).
pub(crate) const BPF_LDX: u8 = 0x01;
pub(crate) const BPF_ALU: u8 = 0x04; // 32-bit ALU: results are zero-extended
pub(crate) const BPF_JMP: u8 = 0x05; // 64-bit compares
pub(crate) const BPF_W: u8 = 0x00;
pub(crate) const BPF_MEM: u8 = 0x60;
pub(crate) const BPF_K: u8 = 0x00; // operand is `imm`
pub(crate) const BPF_X: u8 = 0x08; // operand is `src`
pub(crate) const BPF_AND: u8 = 0x50;
pub(crate) const BPF_RSH: u8 = 0x70;
pub(crate) const BPF_MOV: u8 = 0xb0;
pub(crate) const BPF_JEQ: u8 = 0x10;
pub(crate) const BPF_JNE: u8 = 0x50;
pub(crate) const BPF_EXIT: u8 = 0x90;

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }
    #[cfg(test)]
    pub(crate) fn dst(&self) -> u8 {
        self.regs & 0x0f
    }
    #[cfg(test)]
    pub(crate) fn src(&self) -> u8 {
        self.regs >> 4
    }
    /// `dst = *(u32 *)(src + off)`
    pub(crate) const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }
    /// `dst = (u32)dst & imm`
    pub(crate) const fn and32(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)
    }
    /// `dst = (u32)dst >> imm`
    pub(crate) const fn rsh32(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm)
    }
    /// `dst = (u32)imm`
    pub(crate) const fn mov32(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }
    /// `dst = (u32)src`
    pub(crate) const fn mov32_reg(dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
    }
    /// `if dst == imm goto pc + 1 + off`
    pub(crate) const fn jeq(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm)
    }
    /// `if dst != imm goto pc + 1 + off`
    pub(crate) const fn jne(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm)
    }
    /// `return r0`
    pub(crate) const fn exit() -> Insn {
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// `BPF_PROG_LOAD` member of `union bpf_attr`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,   // const struct bpf_insn *
    license: u64, // const char *
    log_level: u32,
    log_size: u32,
    log_buf: u64, // char *
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; BPF_OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH` member.
#[repr(C)]
#[derive(Clone, Copy)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `BPF_PROG_QUERY` member (the kernel writes `attach_flags`, `prog_cnt`
/// and, since 6.6, a revision at offset 56 back into the union).
#[repr(C)]
#[derive(Clone, Copy)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64, // __u32 *
    prog_cnt: u32,
}

/// `BPF_PROG_GET_FD_BY_ID` member.
#[repr(C)]
#[derive(Clone, Copy)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` member.
#[repr(C)]
#[derive(Clone, Copy)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64, // struct bpf_prog_info *
}

/// The subset of `union bpf_attr` hull uses, padded to the 144 bytes of
/// Linux 6.x's union so that whatever the kernel writes back stays inside.
#[repr(C, align(8))]
union BpfAttr {
    load: ProgLoadAttr,
    attach: AttachAttr,
    query: QueryAttr,
    get_id: GetFdByIdAttr,
    info: InfoAttr,
    _size: [u64; 18],
}

impl BpfAttr {
    fn zeroed() -> BpfAttr {
        BpfAttr { _size: [0; 18] }
    }
}

/// `struct bpf_prog_info` up to and including `name` (the kernel fills in
/// what fits in `info_len`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; BPF_OBJ_NAME_LEN],
}

const _: () = {
    assert!(size_of::<Insn>() == 8);
    assert!(std::mem::offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(std::mem::offset_of!(AttachAttr, replace_bpf_fd) == 16);
    assert!(std::mem::offset_of!(QueryAttr, prog_ids) == 16);
    assert!(std::mem::offset_of!(QueryAttr, prog_cnt) == 24);
    assert!(std::mem::offset_of!(InfoAttr, info) == 8);
    assert!(std::mem::offset_of!(ProgInfo, name) == 64);
    assert!(size_of::<BpfAttr>() == 144);
};

fn sys_bpf(cmd: libc::c_int, attr: &mut BpfAttr) -> io::Result<libc::c_long> {
    loop {
        // SAFETY: `attr` is a live, fully initialised union of the size
        // passed; every pointer stored in it refers to memory of the size
        // given next to it that outlives this call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut BpfAttr,
                size_of::<BpfAttr>(),
            )
        };
        if r >= 0 {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

fn fd_result(r: libc::c_long) -> OwnedFd {
    // SAFETY: the command returned a new file descriptor that nothing else
    // owns (bpf(2) creates it with O_CLOEXEC).
    unsafe { OwnedFd::from_raw_fd(r as libc::c_int) }
}

fn raw(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

/// Loads a cgroup device program named `name`. With `log`, the verifier's
/// messages are written into it (its capacity is the log size).
pub(crate) fn prog_load(
    insns: &[Insn],
    license: &std::ffi::CStr,
    name: &str,
    log: Option<&mut Vec<u8>>,
) -> io::Result<OwnedFd> {
    let mut prog_name = [0u8; BPF_OBJ_NAME_LEN];
    let n = name.len().min(BPF_OBJ_NAME_LEN - 1);
    prog_name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let mut attr = BpfAttr::zeroed();
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => {
            buf.clear();
            buf.resize(buf.capacity().max(4096), 0);
            (1, buf.len() as u32, buf.as_mut_ptr() as u64)
        }
        None => (0, 0, 0),
    };
    attr.load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // The verifier can ask for a retry (EAGAIN) under memory pressure.
    let mut tries = 0;
    loop {
        match sys_bpf(BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => return Ok(fd_result(fd)),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 5 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Attaches `prog` to the cgroup `target` with `flags`; with `replace`
/// (and `BPF_F_REPLACE` in `flags`) that program is swapped out atomically.
pub(crate) fn prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    flags: u32,
    replace: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = BpfAttr::zeroed();
    attr.attach = AttachAttr {
        target_fd: raw(target),
        attach_bpf_fd: raw(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: replace.map_or(0, raw),
    };
    sys_bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the cgroup `target`.
pub(crate) fn prog_detach(target: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = BpfAttr::zeroed();
    attr.attach = AttachAttr {
        target_fd: raw(target),
        attach_bpf_fd: raw(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    sys_bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Ids of the device programs attached to `target` itself (not inherited
/// from ancestors).
pub(crate) fn prog_query(target: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; MAX_PROGS];
    for _ in 0..4 {
        let mut attr = BpfAttr::zeroed();
        attr.query = QueryAttr {
            target_fd: raw(target),
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
        };
        let res = sys_bpf(BPF_PROG_QUERY, &mut attr);
        // SAFETY: the query member is the one just written (and updated by
        // the kernel); it is plain old data.
        let cnt = unsafe { attr.query.prog_cnt } as usize;
        match res {
            Ok(_) => {
                ids.truncate(cnt.min(ids.len()));
                return Ok(ids);
            }
            // More programs than room: prog_cnt holds the real count.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && cnt > ids.len() => {
                ids = vec![0u32; cnt];
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(
        "BPF_PROG_QUERY: the program list kept growing",
    ))
}

/// A new file descriptor for the loaded program `id`.
pub(crate) fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = BpfAttr::zeroed();
    attr.get_id = GetFdByIdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(fd_result)
}

/// The name given to program `prog` when it was loaded.
pub(crate) fn prog_name(prog: BorrowedFd<'_>) -> io::Result<String> {
    let mut info = ProgInfo::default();
    let mut attr = BpfAttr::zeroed();
    attr.info = InfoAttr {
        bpf_fd: raw(prog),
        info_len: size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = info
        .name
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(info.name.len());
    Ok(String::from_utf8_lossy(&info.name[..end]).into_owned())
}

/// Runs `f` with RLIMIT_MEMLOCK raised to infinity, then restores it.
/// Kernels before 5.11 charge BPF programs to that limit; the process
/// that later becomes the container must not keep the raised limit.
pub(crate) fn with_memlock_raised<T>(f: impl FnOnce() -> T) -> Option<T> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old) != 0 {
            return None;
        }
        let inf = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) != 0 {
            return None;
        }
    }
    let out = f();
    // SAFETY: as above.
    unsafe {
        libc::setrlimit(libc::RLIMIT_MEMLOCK, &old);
    }
    Some(out)
}
