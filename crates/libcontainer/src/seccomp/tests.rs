use std::{
    ffi::CString,
    io::{IoSliceMut, Read},
    mem::MaybeUninit,
    os::{
        fd::{AsFd, AsRawFd, OwnedFd},
        unix::net::{UnixListener, UnixStream},
    },
    panic::AssertUnwindSafe,
};

use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags, ScmpSyscall};
use nix::{
    sys::wait::{waitpid, WaitStatus},
    unistd::{fork, ForkResult},
};
use oci_spec::runtime::LinuxSeccomp;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde_json::{json, Value};

use super::*;

fn spec(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile must parse")
}

fn build(v: Value) -> Filter {
    Filter::build(&spec(v)).unwrap_or_else(|e| panic!("build: {e}"))
}

fn build_err(v: Value) -> String {
    match Filter::build(&spec(v)) {
        Ok(f) => panic!("expected an error, built {f:?}"),
        Err(e) => e.to_string(),
    }
}

#[cfg(target_arch = "x86_64")]
const ARCHES: &[&str] = &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
#[cfg(target_arch = "aarch64")]
const ARCHES: &[&str] = &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCHES: &[&str] = &["SCMP_ARCH_NATIVE"];

/// A compact Docker-like default profile: deny by default with EPERM,
/// allow the syscalls a shell and a small server need, the clone flags
/// check, clone3 answered with ENOSYS (so glibc falls back to clone), and
/// personality restricted with several conditions on the same argument.
fn docker_like() -> Value {
    let allow = [
        "accept",
        "accept4",
        "access",
        "arch_prctl",
        "bind",
        "brk",
        "chdir",
        "clock_gettime",
        "clock_nanosleep",
        "close",
        "close_range",
        "connect",
        "dup",
        "dup2",
        "dup3",
        "epoll_create1",
        "epoll_ctl",
        "epoll_pwait",
        "epoll_wait",
        "eventfd2",
        "execve",
        "exit",
        "exit_group",
        "faccessat",
        "faccessat2",
        "fchdir",
        "fcntl",
        "fstat",
        "futex",
        "getcwd",
        "getdents64",
        "getegid",
        "geteuid",
        "getgid",
        "getpid",
        "getppid",
        "getrandom",
        "gettid",
        "getuid",
        "ioctl",
        "lseek",
        "madvise",
        "mmap",
        "mprotect",
        "munmap",
        "nanosleep",
        "newfstatat",
        "open",
        "openat",
        "pipe2",
        "poll",
        "prctl",
        "pread64",
        "prlimit64",
        "read",
        "readlink",
        "recvfrom",
        "recvmsg",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "sendmsg",
        "sendto",
        "set_robust_list",
        "set_tid_address",
        "setsockopt",
        "sigaltstack",
        "socket",
        "socketcall",
        "stat",
        "statx",
        "uname",
        "wait4",
        "write",
        "writev",
        "hull_not_a_syscall",
    ];
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ARCHES,
        "syscalls": [
            {"names": allow.as_slice(), "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}
            ]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 40, "op": "SCMP_CMP_NE"},
                {"index": 1, "value": 0, "op": "SCMP_CMP_GE"}
            ]}
        ]
    })
}

fn allow_default_with(rule: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock", "syscalls": [rule]})
}

// ---- building -------------------------------------------------------------

#[test]
fn docker_like_profile_builds() {
    let f = build(docker_like());
    assert!(!f.uses_notify());
    assert!(f.instructions() > 50, "{f:?}");
    assert!(f.instructions() <= 4096, "{f:?}");
}

#[test]
fn every_action_builds() {
    let actions = [
        ("SCMP_ACT_KILL", None),
        ("SCMP_ACT_KILL_THREAD", None),
        ("SCMP_ACT_KILL_PROCESS", None),
        ("SCMP_ACT_TRAP", None),
        ("SCMP_ACT_ERRNO", None),
        ("SCMP_ACT_ERRNO", Some(38)),
        ("SCMP_ACT_TRACE", None),
        ("SCMP_ACT_TRACE", Some(7)),
        ("SCMP_ACT_LOG", None),
        ("SCMP_ACT_NOTIFY", None),
    ];
    let empty = build(json!({"defaultAction": "SCMP_ACT_ALLOW"})).instructions();
    for (action, ret) in actions {
        let mut rule = json!({"names": ["getpid", "uname"], "action": action});
        if let Some(r) = ret {
            rule["errnoRet"] = json!(r);
        }
        let f = build(allow_default_with(rule));
        assert!(
            f.instructions() > empty,
            "{action}: the rule must be in the program ({f:?})"
        );
        assert_eq!(f.uses_notify(), action == "SCMP_ACT_NOTIFY", "{action}");
    }
    // ALLOW against a deny-by-default profile.
    let f = build(
        json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert!(f.instructions() > empty);
}

#[test]
fn rule_with_the_default_action_is_skipped() {
    // getppid is named in each profile, so the -ENOSYS stub (whose
    // threshold is the highest syscall named, getpid's or not) is the same.
    let allow_getppid = json!({"names": ["getppid"], "action": "SCMP_ACT_ALLOW"});
    let empty = build(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [allow_getppid]}))
        .instructions();
    let same = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [allow_getppid, {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    assert_eq!(same.instructions(), empty);
    // A different errno is a different action: kept.
    let other = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [allow_getppid, {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}),
    );
    assert!(other.instructions() > empty);
}

#[test]
fn every_operator_builds() {
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let empty = build(json!({"defaultAction": "SCMP_ACT_ALLOW"})).instructions();
    for op in ops {
        let mut arg = json!({"index": 2, "value": 0o100, "op": op});
        if op == "SCMP_CMP_MASKED_EQ" {
            arg["valueTwo"] = json!(0o100);
        }
        let f = build(allow_default_with(
            json!({"names": ["openat"], "action": "SCMP_ACT_ERRNO", "args": [arg]}),
        ));
        assert!(f.instructions() > empty, "{op}");
    }
    // Several arguments ANDed in one rule, and one argument compared twice.
    build(allow_default_with(
        json!({"names": ["openat"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 1, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
            {"index": 3, "value": 0o777, "op": "SCMP_CMP_LE"}
        ]}),
    ));
    build(allow_default_with(
        json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}
        ]}),
    ));
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let empty = build(json!({"defaultAction": "SCMP_ACT_ERRNO"})).instructions();
    let f = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["hull_not_a_syscall"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert_eq!(f.instructions(), empty);
    let g = build(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["hull_not_a_syscall", "getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert!(g.instructions() > empty);
}

#[test]
fn flags_are_checked_against_the_kernel() {
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ] {
        match Filter::build(&spec(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]}),
        )) {
            Ok(_) => {}
            Err(e) => assert!(
                e.to_string().starts_with("linux.seccomp.flags[0]: "),
                "{flag}: {e}"
            ),
        }
    }
    let f = build(allow_default_with(
        json!({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}),
    ));
    assert_eq!(f.flags, flag::NEW_LISTENER);
    let mut p = allow_default_with(json!({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}));
    p["flags"] = json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    ]);
    let f = build(p);
    assert_eq!(
        f.flags,
        flag::NEW_LISTENER | flag::TSYNC | flag::TSYNC_ESRCH | flag::WAIT_KILLABLE_RECV
    );
}

// ---- errors name the JSON path ---------------------------------------------

#[test]
fn unknown_names_in_the_raw_json_are_reported_by_path() {
    let mut doc = docker_like();
    doc["syscalls"]
        .as_array_mut()
        .unwrap()
        .insert(3, json!({"names": ["getpid"], "action": "SCMP_ACT_FOO"}));
    doc["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]);
    doc["flags"] = json!(["SECCOMP_FILTER_FLAG_NOPE"]);
    doc["syscalls"][1]["args"][0]["op"] = json!("SCMP_CMP_ALMOST");
    // The typed parse alone can only give a line and column.
    assert!(serde_json::from_value::<LinuxSeccomp>(doc.clone()).is_err());
    let issues: Vec<String> = json_issues(&doc).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        issues,
        [
            "linux.seccomp.architectures[1]: SCMP_ARCH_VAX is not a known architecture",
            "linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_NOPE is not a known seccomp filter flag",
            "linux.seccomp.syscalls[1].args[0].op: SCMP_CMP_ALMOST is not a known operator",
            "linux.seccomp.syscalls[3].action: SCMP_ACT_FOO is not a known action",
        ]
    );
    let bad_default = json!({"defaultAction": "SCMP_ACT_MAYBE"});
    assert_eq!(
        json_issues(&bad_default)[0].to_string(),
        "linux.seccomp.defaultAction: SCMP_ACT_MAYBE is not a known action"
    );
    assert_eq!(
        json_issues(&json!({"defaultAction": 3}))[0].to_string(),
        "linux.seccomp.defaultAction: must be a string naming the action, not 3"
    );
    assert!(json_issues(&docker_like()).is_empty());
}

#[test]
fn architecture_libseccomp_lacks_is_an_error() {
    // LoongArch arrived in libseccomp 2.6.
    let v = libseccomp::ScmpVersion::current().unwrap();
    if (v.major, v.minor) >= (2, 6) {
        eprintln!(
            "note: libseccomp {} knows every architecture oci-spec names; nothing to check",
            compile::lib_version()
        );
        return;
    }
    let e = build_err(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64"]}),
    );
    assert!(e.starts_with("linux.seccomp.architectures[1]: SCMP_ARCH_LOONGARCH64 is not supported by libseccomp 2."), "{e}");
}

#[test]
fn unenforceable_fields_are_errors_with_their_path() {
    let cases = [
        (
            json!({"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}),
            "linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO",
        ),
        (
            json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}),
            "linux.seccomp.syscalls[0].errnoRet: 5000 is out of range",
        ),
        (
            json!({"names": ["getpid"], "action": "SCMP_ACT_TRACE", "errnoRet": 70000}),
            "linux.seccomp.syscalls[0].errnoRet: 70000 is out of range",
        ),
        (
            json!({"names": [], "action": "SCMP_ACT_ERRNO"}),
            "linux.seccomp.syscalls[0].names: must name",
        ),
        (
            json!({"names": ["getpid", ""], "action": "SCMP_ACT_ERRNO"}),
            "linux.seccomp.syscalls[0].names[1]: must not be empty",
        ),
        (
            json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
            "linux.seccomp.syscalls[0].args[0].index: 6 is out of range",
        ),
        (
            json!({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}),
            "linux.seccomp.syscalls[0].args[0].valueTwo: 2 is only used by SCMP_CMP_MASKED_EQ",
        ),
        (
            json!({"names": ["getpid", "write"], "action": "SCMP_ACT_NOTIFY"}),
            "linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for \"write\"",
        ),
        (
            json!({"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}),
            "linux.seccomp.syscalls[0].names[0]: SCMP_ACT_NOTIFY cannot be used for \"sendmsg\"",
        ),
    ];
    for (rule, want) in cases {
        let e = build_err(allow_default_with(rule.clone()));
        assert!(e.starts_with(want), "{rule}:\n got  {e}\n want {want}...");
    }
    let e = build_err(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    assert!(
        e.starts_with(
            "linux.seccomp.listenerPath: required: linux.seccomp.syscalls[0] uses SCMP_ACT_NOTIFY"
        ),
        "{e}"
    );
    let e = build_err(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}));
    assert!(
        e.starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
        "{e}"
    );
    let e = build_err(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
    );
    assert!(e.starts_with("linux.seccomp.flags[0]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to SCMP_ACT_NOTIFY rules only"), "{e}");
    let e = build_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096}));
    assert!(
        e.starts_with("linux.seccomp.defaultErrnoRet: 4096 is out of range"),
        "{e}"
    );
    let e = build_err(json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}));
    assert!(
        e.starts_with(
            "linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return a value"
        ),
        "{e}"
    );
}

// ---- loading, in forked children ---------------------------------------------

/// Runs `f` in a forked child and returns its exit code. The child only
/// makes raw system calls (the test harness is multi-threaded).
fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child runs `f`, which sticks to raw system calls on
    // memory prepared before the fork, then _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: leave without running the harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended with {other:?}"),
        },
    }
}

/// [`in_child`] with `f` loaded first (exit code 100 when that fails).
fn in_filtered_child(f: &Filter, checks: impl FnOnce() -> i32) -> i32 {
    in_child(|| {
        nnp_unless_root();
        if f.load().is_err() {
            return 100;
        }
        checks()
    })
}

/// Without root (CAP_SYS_ADMIN) a filter can only be loaded under
/// no_new_privs; with it, the test exercises the path hull takes when
/// `noNewPrivileges` is false.
fn nnp_unless_root() {
    if !nix::unistd::geteuid().is_root() {
        // SAFETY: plain prctl on the calling (child) process.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Whether /proc/self/status says "Seccomp:\t2" (filter mode), read with
/// raw calls into a stack buffer.
fn seccomp_mode_is_filter() -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: a NUL-terminated literal path and a stack buffer.
    let n = unsafe {
        let fd = libc::open(
            c"/proc/self/status".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    n > 0 && buf[..n as usize].windows(11).any(|w| w == b"Seccomp:\t2\n")
}

#[test]
fn loaded_filter_denies_mkdir_with_its_errno() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root; loading under no_new_privs instead of with CAP_SYS_ADMIN");
    }
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    }));
    let dir = std::env::temp_dir().join(format!("hull-seccomp-mkdir-{}", std::process::id()));
    let _ = std::fs::remove_dir(&dir);
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let code = in_filtered_child(&f, || {
        if !seccomp_mode_is_filter() {
            return 101;
        }
        // SAFETY: a valid C string.
        if unsafe { libc::mkdir(path.as_ptr(), 0o700) } == 0 {
            return 102;
        }
        errno()
    });
    assert_eq!(code, 38, "exit code 38 is mkdir's errno under the filter (100: load failed, 101: not in filter mode, 102: mkdir succeeded)");
    assert!(!dir.exists());
}

#[test]
fn docker_like_profile_loads_and_denies_by_default() {
    let f = build(docker_like());
    let code = in_filtered_child(&f, || {
        // SAFETY: getpid is allowed; acct and clone3 are refused before
        // their arguments are read.
        unsafe {
            if libc::getpid() <= 0 {
                return 101;
            }
            if libc::syscall(libc::SYS_acct, std::ptr::null::<libc::c_char>()) != -1
                || errno() != libc::EPERM
            {
                return 102;
            }
            if libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) != -1
                || errno() != libc::ENOSYS
            {
                return 103;
            }
        }
        0
    });
    assert_eq!(
        code, 0,
        "100: load failed, 101: getpid, 102: acct not EPERM by default, 103: clone3 not ENOSYS"
    );
}

#[test]
fn argument_filters_match_at_runtime() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            // The same argument twice: two rules, either one matches.
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "args": [
                {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": libc::SIGWINCH, "op": "SCMP_CMP_EQ"}
            ]},
            // value is the mask, valueTwo what the masked argument equals.
            {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39, "args": [
                {"index": 2, "value": libc::O_CLOEXEC, "valueTwo": libc::O_CLOEXEC, "op": "SCMP_CMP_MASKED_EQ"}
            ]},
            // Different arguments in one rule: both must match.
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40, "args": [
                {"index": 0, "value": libc::PRIO_PROCESS, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 1, "op": "SCMP_CMP_GE"}
            ]}
        ]
    }));
    let code = in_filtered_child(&f, || {
        // SAFETY: plain syscalls on the child itself; SIGWINCH and SIGURG
        // are ignored by default, and fd 200 is free in the child.
        unsafe {
            let me = libc::getpid();
            // The errno of each call, read right after it (0 on success).
            let e = |rc: libc::c_int| if rc == -1 { errno() } else { 0 };
            let checks = [
                (e(libc::kill(me, 0)), 38),
                (e(libc::kill(me, libc::SIGWINCH)), 38),
                (e(libc::kill(me, libc::SIGURG)), 0),
                (e(libc::dup3(0, 200, libc::O_CLOEXEC)), 39),
                (e(libc::dup3(0, 200, 0)), 0),
                (
                    e(libc::getpriority(libc::PRIO_PROCESS, me as libc::id_t)),
                    40,
                ),
                (e(libc::getpriority(libc::PRIO_PROCESS, 0)), 0),
                (e(libc::getpriority(libc::PRIO_PGRP, 1)), -1),
            ];
            for (i, (got, want)) in checks.into_iter().enumerate() {
                // -1: anything but our errno values (the real call ran).
                let ok = if want == -1 {
                    !(38..=40).contains(&got)
                } else {
                    got == want
                };
                if !ok {
                    return 110 + i as i32;
                }
            }
        }
        0
    });
    assert_eq!(code, 0, "100: load failed, 110+i: check i failed");
}

#[test]
fn load_without_nnp_or_cap_sys_admin_is_refused_with_a_hint() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root; checked in the unprivileged branch instead");
    }
    let f = build(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_LOG"}]}),
    );
    let code = in_child(|| {
        if nix::unistd::geteuid().is_root()
            && rustix::thread::capabilities(None)
                .and_then(|mut s| {
                    s.effective.remove(rustix::thread::CapabilitySet::SYS_ADMIN);
                    rustix::thread::set_capabilities(None, s)
                })
                .is_err()
        {
            return 100;
        }
        match f.load() {
            Ok(_) => 101,
            Err(SeccompError::Load { reason })
                if reason.contains("CAP_SYS_ADMIN") && !seccomp_mode_is_filter() =>
            {
                0
            }
            Err(_) => 102,
        }
    });
    assert_eq!(
        code, 0,
        "100: dropping CAP_SYS_ADMIN, 101: loaded anyway, 102: wrong error"
    );
}

// ---- notify: child -> parent (fd) -> listener agent ---------------------------

const SPOOFED_PPID: i64 = 4242;

fn send_fd(sock: impl AsFd, fd: std::os::fd::BorrowedFd<'_>) -> rustix::io::Result<usize> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        sock,
        &[std::io::IoSlice::new(b"f")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
}

fn recv_fd(sock: impl AsFd, buf: &mut [u8]) -> (usize, Option<OwnedFd>) {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    let fd = control.drain().find_map(|m| match m {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    (msg.bytes, fd)
}

/// The seccomp agent: takes the process state and the fd, answers one
/// getppid notification with SPOOFED_PPID.
fn agent(listener: UnixListener) -> Result<Value, String> {
    let (mut conn, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut buf = vec![0u8; 65536];
    let (n, fd) = recv_fd(&conn, &mut buf);
    let fd = fd.ok_or("no fd in SCM_RIGHTS")?;
    let mut doc = buf[..n].to_vec();
    conn.read_to_end(&mut doc)
        .map_err(|e| format!("read: {e}"))?;
    let doc: Value = serde_json::from_slice(&doc).map_err(|e| format!("state JSON: {e}"))?;

    let mut pfd = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::time::Timespec {
        tv_sec: 20,
        tv_nsec: 0,
    };
    if rustix::event::poll(&mut pfd, Some(&ts)).map_err(|e| format!("poll: {e}"))? == 0 {
        return Err("no notification within 20s".into());
    }
    let req = ScmpNotifReq::receive(fd.as_raw_fd()).map_err(|e| format!("receive: {e}"))?;
    if req.data.syscall != ScmpSyscall::from_name("getppid").unwrap() {
        return Err(format!("notified of {:?}, not getppid", req.data.syscall));
    }
    ScmpNotifResp::new_val(req.id, SPOOFED_PPID, ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .map_err(|e| format!("respond: {e}"))?;
    Ok(doc)
}

fn notify_round_trip(flags: &[&str]) {
    let dir = std::env::temp_dir().join(format!(
        "hull-seccomp-agent-{}-{}",
        std::process::id(),
        flags.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("agent.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": flags,
        "listenerPath": sock_path,
        "listenerMetadata": "answer=4242",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(f.uses_notify());
    let agent = std::thread::spawn(move || agent(listener));

    // The channel the init would use to pass the fd to the parent.
    let (parent_end, child_end) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    // SAFETY: the child sticks to raw system calls on memory prepared
    // before the fork, then _exits.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(|| {
                drop(parent_end);
                nnp_unless_root();
                let fd = match f.load() {
                    Ok(Some(fd)) => fd,
                    _ => return 100,
                };
                if send_fd(&child_end, fd.as_fd()).is_err() {
                    return 101;
                }
                // The agent has the fd now (or will): ours must go, so a dead
                // agent fails the call instead of hanging it.
                drop(fd);
                // SAFETY: getppid has no arguments.
                match unsafe { libc::getppid() } as i64 {
                    SPOOFED_PPID => 0,
                    _ => 102,
                }
            }))
            .unwrap_or(103);
            // SAFETY: leave without running the harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_end);
    let mut buf = [0u8; 16];
    let (_, fd) = recv_fd(&parent_end, &mut buf);
    let sent = fd.as_ref().map(|fd| {
        send_to_listener(
            &sock_path,
            fd.as_fd(),
            child.as_raw(),
            Some("answer=4242"),
            r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":77,"bundle":"/b"}"#,
        )
    });
    drop(fd);
    if !matches!(sent, Some(Ok(()))) {
        // Unblock the agent's accept so the failure is reported, not hung.
        let _ = UnixStream::connect(&sock_path);
    }
    let status = waitpid(child, None).expect("waitpid");
    let doc = agent.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    match sent {
        None => panic!("the child sent no notify fd; exited {status:?}"),
        Some(r) => r.unwrap(),
    }
    let doc = doc.unwrap();
    assert_eq!(
        status,
        WaitStatus::Exited(child, 0),
        "100: load, 101: passing the fd, 102: getppid not answered by the agent"
    );
    assert_eq!(doc["ociVersion"], crate::OCI_VERSION);
    assert_eq!(doc["fds"], json!(["seccompFd"]));
    assert_eq!(doc["pid"], child.as_raw());
    assert_eq!(doc["metadata"], "answer=4242");
    assert_eq!(doc["state"]["id"], "c1");
    assert_eq!(doc["state"]["status"], "creating");
}

#[test]
fn notify_fd_reaches_the_agent_which_answers_the_syscall() {
    notify_round_trip(&[]);
}

#[test]
fn notify_with_tsync_and_wait_killable_recv() {
    notify_round_trip(&[
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        "SECCOMP_FILTER_FLAG_LOG",
    ]);
}

#[test]
fn listener_errors_name_the_socket() {
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let missing = std::path::Path::new("/nonexistent/hull-agent.sock");
    let e = send_to_listener(missing, r.as_fd(), 1, None, "{}")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("linux.seccomp.listenerPath: \"/nonexistent/hull-agent.sock\": connecting: "),
        "{e}"
    );
    let e = send_to_listener(missing, r.as_fd(), 1, None, "not json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("the container state is not JSON"), "{e}");
}

// ---- the -ENOSYS stub ---------------------------------------------------------

/// Where a program leaves the stub: a return value, or the filter after it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Exit {
    Ret(u32),
    Filter,
}

/// Runs a stub (only loads, conditional and plain jumps, returns) on one
/// `seccomp_data` head.
fn run_stub(prog: &[libc::sock_filter], arch: u32, nr: u32) -> Exit {
    let (mut pc, mut acc) = (0usize, 0u32);
    while pc < prog.len() {
        let i = prog[pc];
        let next = pc + 1;
        let cond = |c: bool| next + if c { i.jt } else { i.jf } as usize;
        pc = match u32::from(i.code) {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                acc = match i.k {
                    0 => nr,
                    4 => arch,
                    k => panic!("load of offset {k}"),
                };
                next
            }
            c if c == libc::BPF_JMP | libc::BPF_JA => next + i.k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => cond(acc == i.k),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => cond(acc > i.k),
            c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => cond(acc & i.k != 0),
            c if c == libc::BPF_RET | libc::BPF_K => return Exit::Ret(i.k),
            c => panic!("unexpected opcode {c:#x} at {pc}"),
        };
    }
    assert_eq!(
        pc,
        prog.len(),
        "a jump went past the filter's first instruction"
    );
    Exit::Filter
}

#[test]
fn enosys_stub_jumps_by_arch_and_number() {
    use super::enosys::{assemble, audit_arch, Section, AUDIT_X86_64};
    let i386 = audit_arch(libseccomp::ScmpArch::X86).unwrap();
    let s390x = audit_arch(libseccomp::ScmpArch::S390X).unwrap();
    let arm = audit_arch(libseccomp::ScmpArch::Arm).unwrap();
    let x32 = 0x4000_0000;
    let prog = assemble(&[
        Section {
            audit: AUDIT_X86_64,
            plain: Some(334),
            x32: Some(x32 | 547),
            s390: false,
        },
        Section {
            audit: i386,
            plain: Some(400),
            x32: None,
            s390: false,
        },
        Section {
            audit: s390x,
            plain: Some(300),
            x32: None,
            s390: true,
        },
    ]);
    let enosys = Exit::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
    let cases = [
        (AUDIT_X86_64, 0, Exit::Filter),
        (AUDIT_X86_64, 334, Exit::Filter),
        (AUDIT_X86_64, 335, enosys),
        (AUDIT_X86_64, 1000, enosys),
        // x32 numbers carry the x32 bit and have their own threshold.
        (AUDIT_X86_64, x32 | 400, Exit::Filter),
        (AUDIT_X86_64, x32 | 547, Exit::Filter),
        (AUDIT_X86_64, x32 | 548, enosys),
        (i386, 400, Exit::Filter),
        (i386, 401, enosys),
        (s390x, 0, enosys),
        (s390x, 1, Exit::Filter),
        (s390x, 301, enosys),
        // An arch without a section is the filter's to judge.
        (arm, 5000, Exit::Filter),
    ];
    for (arch, nr, want) in cases {
        assert_eq!(run_stub(&prog, arch, nr), want, "arch {arch:#x} nr {nr:#x}");
    }
    // x86_64 listed without x32: x32 numbers go to the filter (which
    // refuses the foreign arch itself).
    let prog = assemble(&[Section {
        audit: AUDIT_X86_64,
        plain: Some(334),
        x32: None,
        s390: false,
    }]);
    assert_eq!(run_stub(&prog, AUDIT_X86_64, x32 | 1000), Exit::Filter);
    assert_eq!(run_stub(&prog, AUDIT_X86_64, 1000), enosys);
}

#[test]
fn enosys_stub_only_where_runc_adds_it() {
    use libseccomp::ScmpAction;
    let profile = spec(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ARCHES, "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    for allowing in [
        ScmpAction::Allow,
        ScmpAction::Log,
        ScmpAction::Trace(1),
        ScmpAction::Errno(libc::ENOSYS),
    ] {
        assert!(
            super::enosys::stub(&profile, allowing).is_empty(),
            "{allowing:?}"
        );
    }
    for denying in [
        ScmpAction::Errno(libc::EPERM),
        ScmpAction::KillProcess,
        ScmpAction::KillThread,
        ScmpAction::Trap,
    ] {
        assert!(
            !super::enosys::stub(&profile, denying).is_empty(),
            "{denying:?}"
        );
    }
    // Nothing named that resolves: nothing to compare against.
    let unknown = spec(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["hull_not_a_syscall"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert!(super::enosys::stub(&unknown, ScmpAction::Errno(libc::EPERM)).is_empty());
    // The threshold is the highest name on the native arch, whatever the
    // rule's action: 1000 is above it, getpid is not.
    let native = spec(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}, {"names": ["getrandom"], "action": "SCMP_ACT_ERRNO"}]}));
    let prog = super::enosys::stub(&native, ScmpAction::Errno(libc::EPERM));
    let arch = super::enosys::audit_arch(libseccomp::ScmpArch::native()).unwrap();
    let enosys = Exit::Ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
    assert_eq!(run_stub(&prog, arch, 1000), enosys);
    assert_eq!(
        run_stub(&prog, arch, libc::SYS_getrandom as u32),
        Exit::Filter
    );
    assert_eq!(
        run_stub(&prog, arch, libc::SYS_getrandom as u32 + 1),
        enosys
    );
}

#[test]
fn syscalls_newer_than_the_profile_fail_with_enosys() {
    // Deny by default; getrandom is the highest syscall named. acct is
    // older and unnamed, so it gets the default errno; mkdirat is named
    // with its own errno; syscall 1000 is newer than all of them.
    for default in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"] {
        let f = build(json!({
            "defaultAction": default,
            "architectures": ARCHES,
            "syscalls": [
                {"names": ["exit_group", "exit", "getpid", "getrandom"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES}
            ]
        }));
        let code = in_filtered_child(&f, || {
            // SAFETY: refused syscalls never read their arguments; getpid
            // takes none.
            unsafe {
                if libc::getpid() <= 0 {
                    return 101;
                }
                if libc::syscall(1000) != -1 || errno() != libc::ENOSYS {
                    return 102;
                }
                if libc::syscall(libc::SYS_mkdirat, -1, std::ptr::null::<libc::c_char>(), 0) != -1
                    || errno() != libc::EACCES
                {
                    return 103;
                }
                if default == "SCMP_ACT_ERRNO"
                    && (libc::syscall(libc::SYS_acct, std::ptr::null::<libc::c_char>()) != -1
                        || errno() != libc::EPERM)
                {
                    return 104;
                }
            }
            0
        });
        assert_eq!(code, 0, "{default}: 100: load failed, 101: getpid, 102: syscall 1000 not ENOSYS, 103: mkdirat not EACCES, 104: acct not EPERM");
    }
}
