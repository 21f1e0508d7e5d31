use super::*;
use oci_spec::runtime::LinuxDeviceCgroupBuilder;

fn rule(
    allow: bool,
    t: Option<LinuxDeviceType>,
    maj: Option<i64>,
    min: Option<i64>,
    a: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(a.to_string());
    if let Some(t) = t {
        b = b.typ(t);
    }
    if let Some(m) = maj {
        b = b.major(m);
    }
    if let Some(m) = min {
        b = b.minor(m);
    }
    b.build().unwrap()
}
fn all(allow: bool) -> LinuxDeviceCgroup {
    rule(allow, None, None, None, "rwm")
}
fn c(allow: bool, maj: Option<i64>, min: Option<i64>, a: &str) -> LinuxDeviceCgroup {
    rule(allow, Some(LinuxDeviceType::C), maj, min, a)
}
fn b(allow: bool, maj: Option<i64>, min: Option<i64>, a: &str) -> LinuxDeviceCgroup {
    rule(allow, Some(LinuxDeviceType::B), maj, min, a)
}
fn null(allow: bool) -> LinuxDeviceCgroup {
    c(allow, Some(1), Some(3), "rwm")
}

/// The list libcontainer applies for a spec starting with "deny all":
/// runc's default allow rules follow the spec's own.
fn runtime_defaults() -> Vec<LinuxDeviceCgroup> {
    let mut v = vec![
        all(false),
        c(true, None, None, "m"),
        b(true, None, None, "m"),
    ];
    for (maj, min) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
    ] {
        v.push(c(true, Some(maj), min, "rwm"));
    }
    v
}

/// Executes the instruction subset the generator emits, like the kernel
/// would for `struct bpf_cgroup_dev_ctx { access_type, major, minor }`.
/// Panics on anything else, on a jump out of the program, or on reading an
/// unset register.
fn run(p: &[Insn], typ: i32, acc: i32, major: u32, minor: u32) -> u64 {
    let ctx = [(typ as u32) | ((acc as u32) << 16), major, minor];
    let mut r: [Option<u64>; 11] = [None; 11];
    r[1] = Some(0xc7c0_0000); // the ctx pointer; only used as the ldx base
    let mut pc = 0usize;
    let get = |r: &[Option<u64>; 11], n: u8, pc: usize| {
        r[n as usize].unwrap_or_else(|| panic!("r{n} read before set at {pc}"))
    };
    for _ in 0..10_000 {
        let i = *p
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} out of the program ({} insns)", p.len()));
        pc += 1;
        let (d, s) = (i.dst(), i.src());
        let jump = |pc: &mut usize| {
            let t = *pc as i64 + i64::from(i.off);
            assert!(
                t >= 0 && (t as usize) < p.len(),
                "jump to {t} out of the program"
            );
            *pc = t as usize;
        };
        match i.code {
            0x61 => {
                assert_eq!(
                    (s, get(&r, s, pc)),
                    (1, 0xc7c0_0000),
                    "ldx from a non-ctx register"
                );
                assert!(
                    i.off >= 0 && i.off % 4 == 0 && i.off < 12,
                    "ctx offset {}",
                    i.off
                );
                r[d as usize] = Some(u64::from(ctx[i.off as usize / 4]));
            }
            0x54 => r[d as usize] = Some(u64::from(get(&r, d, pc) as u32 & i.imm as u32)),
            0x74 => r[d as usize] = Some(u64::from((get(&r, d, pc) as u32) >> i.imm)),
            0xb4 => r[d as usize] = Some(u64::from(i.imm as u32)),
            0xbc => r[d as usize] = Some(u64::from(get(&r, s, pc) as u32)),
            0x15 => {
                if get(&r, d, pc) == i.imm as i64 as u64 {
                    jump(&mut pc)
                }
            }
            0x55 => {
                if get(&r, d, pc) != i.imm as i64 as u64 {
                    jump(&mut pc)
                }
            }
            0x95 => return get(&r, 0, pc),
            op => panic!("unexpected opcode {op:#x} at {}", pc - 1),
        }
    }
    panic!("no exit after 10000 steps")
}

/// The semantics the program must implement, straight from the docs: for
/// each requested access, the last rule (spec order) matching the device
/// and naming that access decides; allow when none does.
fn model(rules: &[Rule], typ: i32, acc: i32, major: u32, minor: u32) -> bool {
    [ACC_MKNOD, ACC_READ, ACC_WRITE]
        .into_iter()
        .filter(|bit| acc & bit != 0)
        .all(|bit| {
            let mut allow = true;
            for r in rules {
                let hit = r.typ.is_none_or(|t| t == typ)
                    && r.major.is_none_or(|m| m == major)
                    && r.minor.is_none_or(|m| m == minor);
                if hit && r.access & bit != 0 {
                    allow = r.allow;
                }
            }
            allow
        })
}

fn allowed(rules: &[LinuxDeviceCgroup], typ: i32, acc: i32, major: u32, minor: u32) -> bool {
    let p = program(rules).unwrap();
    match run(&p, typ, acc, major, minor) {
        0 => false,
        1 => true,
        v => panic!("program returned {v}"),
    }
}

#[test]
fn instruction_layout() {
    let p = program(&[
        all(false),
        c(true, None, None, "m"),
        null(true),
        c(false, Some(136), None, "rw"),
    ])
    .unwrap();
    let want = vec![
        // prologue: r2 = type, r3 = access, r4 = major, r5 = minor
        Insn::ldx_w(2, 1, 0),
        Insn::and32(2, 0xffff),
        Insn::ldx_w(3, 1, 0),
        Insn::rsh32(3, 16),
        Insn::ldx_w(4, 1, 4),
        Insn::ldx_w(5, 1, 8),
        // last rule first: deny c 136:* rw
        Insn::jne(2, DEV_CHAR, 6),
        Insn::jne(4, 136, 5),
        Insn::mov32_reg(1, 3),
        Insn::and32(1, ACC_READ | ACC_WRITE),
        Insn::jeq(1, 0, 2),
        Insn::mov32(0, 0),
        Insn::exit(),
        // allow c 1:3 rwm
        Insn::jne(2, DEV_CHAR, 4),
        Insn::jne(4, 1, 3),
        Insn::jne(5, 3, 2),
        Insn::mov32(0, 1),
        Insn::exit(),
        // allow c *:* m
        Insn::jne(2, DEV_CHAR, 4),
        Insn::and32(3, !ACC_MKNOD),
        Insn::jne(3, 0, 2),
        Insn::mov32(0, 1),
        Insn::exit(),
        // default after "deny all"
        Insn::mov32(0, 0),
        Insn::exit(),
    ];
    assert_eq!(p, want);
    // Raw encoding: ldxw r2, [r1+0] is 61 12 0000 00000000; jne r4, 136 is
    // 55 04 off imm.
    assert_eq!((p[0].code, p[0].regs), (0x61, 0x12));
    assert_eq!(
        (p[7].code, p[7].regs, p[7].off, p[7].imm),
        (0x55, 0x04, 5, 136)
    );
    assert_eq!((p[8].code, p[8].regs), (0xbc, 0x31));
    assert_eq!(p[24].code, 0x95);
}

#[test]
fn only_rules_after_the_last_all_rule_count() {
    // Everything before "allow all" is irrelevant; default allow.
    let p = program(&[null(false), all(true)]).unwrap();
    assert_eq!(p.len(), 8);
    assert_eq!(p[6], Insn::mov32(0, 1));
    // No all-rule: a new cgroup allows everything, so does the program.
    let p = program(&[null(false)]).unwrap();
    assert_eq!(p[p.len() - 2], Insn::mov32(0, 1));
    assert_eq!(program(&[]).unwrap().len(), 8);
}

#[test]
fn runtime_default_rules() {
    let r = runtime_defaults();
    let (ch, blk) = (DEV_CHAR, DEV_BLOCK);
    let rw = ACC_READ | ACC_WRITE;
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (136, 0),
        (136, 42),
    ] {
        for acc in 1..=7 {
            assert!(allowed(&r, ch, acc, maj, min), "c {maj}:{min} access {acc}");
        }
        assert!(!allowed(&r, blk, ACC_READ, maj, min), "b {maj}:{min}");
    }
    // Any node may be created, but not opened.
    for (t, maj, min) in [
        (ch, 1, 11),
        (ch, 10, 229),
        (blk, 7, 0),
        (blk, 8, 0),
        (ch, 4, 0),
    ] {
        assert!(allowed(&r, t, ACC_MKNOD, maj, min));
        for acc in [ACC_READ, ACC_WRITE, rw, rw | ACC_MKNOD] {
            assert!(
                !allowed(&r, t, acc, maj, min),
                "{t} {maj}:{min} access {acc}"
            );
        }
    }
    // pts/* is a wildcard minor, tty is not.
    assert!(!allowed(&r, ch, ACC_READ, 5, 3));
}

#[test]
fn later_rules_override_earlier_ones() {
    let rw = ACC_READ | ACC_WRITE;
    // deny after allow
    let r = [all(false), c(true, Some(1), None, "rwm"), null(false)];
    assert!(!allowed(&r, DEV_CHAR, ACC_READ, 1, 3));
    assert!(allowed(&r, DEV_CHAR, ACC_READ, 1, 5));
    // allow after deny
    let r = [all(false), c(false, Some(1), None, "rwm"), null(true)];
    assert!(allowed(&r, DEV_CHAR, ACC_READ, 1, 3));
    assert!(!allowed(&r, DEV_CHAR, ACC_READ, 1, 5));
    // a partial deny only takes what it names, for any request naming it
    let r = [all(false), null(true), c(false, Some(1), Some(3), "w")];
    assert!(allowed(&r, DEV_CHAR, ACC_READ, 1, 3));
    assert!(!allowed(&r, DEV_CHAR, ACC_WRITE, 1, 3));
    assert!(!allowed(&r, DEV_CHAR, rw, 1, 3));
    // accesses granted by separate rules add up (the v1 kernel merges them)
    let r = [
        all(false),
        c(true, Some(1), Some(3), "r"),
        c(true, Some(1), Some(3), "w"),
    ];
    assert!(allowed(&r, DEV_CHAR, rw, 1, 3));
    assert!(!allowed(&r, DEV_CHAR, ACC_MKNOD, 1, 3));
    // blacklist mode: allow all, then deny one
    let r = [all(true), b(false, Some(8), None, "rw")];
    assert!(!allowed(&r, DEV_BLOCK, ACC_READ, 8, 1));
    assert!(allowed(&r, DEV_BLOCK, ACC_MKNOD, 8, 1));
    assert!(allowed(&r, DEV_CHAR, ACC_READ, 8, 1));
    assert!(allowed(&r, DEV_BLOCK, ACC_READ, 9, 1));
    // a last deny-all wins over everything before it
    let r = [all(false), null(true), all(false)];
    assert!(!allowed(&r, DEV_CHAR, ACC_READ, 1, 3));
}

#[test]
fn program_matches_the_model_on_random_lists() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..1500 {
        let n = rnd(8) as usize;
        let mut rules = Vec::new();
        for _ in 0..n {
            let allow = rnd(2) == 0;
            if rnd(8) == 0 {
                rules.push(all(allow));
                continue;
            }
            let num = |x: u64| (x < 3).then_some(x as i64);
            let maj = num(rnd(4));
            let min = if rnd(4) == 0 { Some(-1) } else { num(rnd(4)) };
            let mask = rnd(7) + 1;
            let acc: String = [(1, 'r'), (2, 'w'), (4, 'm')]
                .iter()
                .filter(|(bit, _)| mask & bit != 0)
                .map(|(_, ch)| *ch)
                .collect();
            let t = if rnd(2) == 0 {
                LinuxDeviceType::C
            } else {
                LinuxDeviceType::B
            };
            rules.push(rule(allow, Some(t), maj, min, &acc));
        }
        let parsed = parse_all(&rules).unwrap();
        let p = program(&rules).unwrap();
        for typ in [DEV_BLOCK, DEV_CHAR] {
            for maj in 0..4 {
                for min in 0..4 {
                    for acc in 1..=7 {
                        let got = run(&p, typ, acc, maj, min) == 1;
                        let want = model(&parsed, typ, acc, maj, min);
                        assert_eq!(got, want, "{typ} {maj}:{min} acc {acc} rules {:?}", parsed);
                    }
                }
            }
        }
    }
}

#[test]
fn big_numbers() {
    // Majors/minors above i32::MAX cannot name a device; the rule is kept
    // but never matches. Above u32::MAX the rule is refused.
    let r = [all(false), c(true, Some(i64::from(u32::MAX)), None, "rwm")];
    assert!(!allowed(&r, DEV_CHAR, ACC_READ, u32::MAX, 0));
    let e = program(&[c(true, Some(1 << 32), None, "rwm")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "linux.resources.devices[0].major: 4294967296 is out of range (at most 4294967295)"
    );
    let e = program(&[all(false), c(true, Some(1), Some(1 << 40), "rwm")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("linux.resources.devices[1].minor: "),
        "{e}"
    );
}

#[test]
fn bad_rules_are_refused_with_their_index() {
    let e = check(&[all(false), c(true, Some(1), Some(3), "rx")]).unwrap_err();
    assert!(
        e.to_string().starts_with("linux.resources.devices[1]: "),
        "{e}"
    );
    assert!(check(&[rule(true, None, Some(1), None, "rwm")]).is_err());
    assert!(check(&runtime_defaults()).is_ok());
}

#[test]
fn restriction_detection() {
    assert!(!restricts(&[]));
    assert!(!restricts(&[null(true)]));
    assert!(!restricts(&[all(true)]));
    assert!(!restricts(&[all(false), null(true), all(true)]));
    assert!(restricts(&[all(false), null(true)]));
    assert!(restricts(&[all(true), null(false)]));
}

// ---- against the kernel (root) ---------------------------------------------

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A cgroup2 mount: /sys/fs/cgroup on Unified, /sys/fs/cgroup/unified on Hybrid.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f.get(sep + 1) == Some(&"cgroup2")).then(|| std::path::PathBuf::from(f[4]))
    })
}

/// Serialises the kernel tests (they share nothing, but forks are cheaper
/// one at a time on a 2-core box).
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// /<cgroup2>/hull-test-bpf-<pid>-<name>, removed on drop.
struct TestCg(std::path::PathBuf);
impl TestCg {
    fn new(name: &str) -> Option<TestCg> {
        let d = cgroup2_mount()?.join(format!("hull-test-bpf-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir(&d);
        std::fs::create_dir(&d).ok()?;
        Some(TestCg(d))
    }
}
impl Drop for TestCg {
    fn drop(&mut self) {
        // Attached programs go away with the cgroup.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// One device probe: a label (the path to open when there is no device
/// number), `Some((major, minor))` to mknod instead, and whether it must
/// succeed.
type Probe<'a> = (&'a str, Option<(u32, u32)>, bool);

/// Results of [`probe`], one bit per failed expectation.
const PROBE_JOIN: i32 = 1 << 0;

/// Forks a child that joins `cg` and tries each device: `(path, mknod
/// dev or open path, expect allowed)`. Returns a bitmask of the probes that
/// did not behave as expected (bit i for probe i + 1; PROBE_JOIN when it
/// could not join). Denials must be EPERM.
fn probe(cg: &Path, probes: &[Probe<'_>]) -> i32 {
    use std::ffi::CString;
    let procs = CString::new(
        cg.join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let tmp = std::env::temp_dir().join(format!("hull-test-bpf-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // Everything the child needs is built before the fork.
    type Ready = (CString, Option<(u32, u32)>, bool);
    let ps: Vec<Ready> = probes
        .iter()
        .enumerate()
        .map(|(i, (p, dev, ok))| {
            let path = match dev {
                Some(_) => tmp.join(format!("node{i}")).to_string_lossy().into_owned(),
                None => p.to_string(),
            };
            (CString::new(path).unwrap(), *dev, *ok)
        })
        .collect();
    for (p, dev, _) in &ps {
        if dev.is_some() {
            let _ = std::fs::remove_file(p.to_str().unwrap());
        }
    }
    // SAFETY: the child only makes async-signal-safe calls (open, write,
    // mknod, unlink, close, _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(PROBE_JOIN);
            }
            libc::close(fd);
            let mut bad = 0;
            for (i, (p, dev, ok)) in ps.iter().enumerate() {
                let r = match dev {
                    Some((maj, min)) => {
                        let r = libc::mknod(
                            p.as_ptr(),
                            libc::S_IFCHR | 0o600,
                            libc::makedev(*maj, *min),
                        );
                        if r == 0 {
                            libc::unlink(p.as_ptr());
                        }
                        r
                    }
                    None => {
                        let fd = libc::open(p.as_ptr(), libc::O_RDWR);
                        if fd >= 0 {
                            libc::close(fd);
                        }
                        fd
                    }
                };
                let errno = *libc::__errno_location();
                let good = if *ok {
                    r >= 0
                } else {
                    r < 0 && errno == libc::EPERM
                };
                if !good {
                    bad |= 1 << (i + 1);
                }
            }
            libc::_exit(bad);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    libc::WEXITSTATUS(status)
}

fn hull_progs(cg: &Path) -> usize {
    let fd = open_dir(cg).unwrap();
    attached_by_hull(fd.as_fd()).unwrap().len()
}

fn all_progs(cg: &Path) -> usize {
    let fd = open_dir(cg).unwrap();
    bpf::prog_query(fd.as_fd()).unwrap().len()
}

macro_rules! kernel_test {
    () => {{
        if !is_root() {
            eprintln!("skipping: needs root");
            return;
        }
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }};
}

#[test]
fn kernel_loads_the_programs() {
    let _l = kernel_test!();
    for rules in [
        runtime_defaults(),
        vec![all(false)],
        vec![all(true), b(false, Some(8), None, "w")],
        vec![
            all(false),
            c(true, Some(1), Some(3), "r"),
            c(false, Some(1), None, "w"),
        ],
    ] {
        let p = program(&rules).unwrap();
        match load(&p) {
            Ok(fd) => assert_eq!(bpf::prog_name(fd.as_fd()).unwrap(), PROG_NAME),
            Err(e) => panic!("BPF_PROG_LOAD: {e}{}", verifier_log(&p)),
        }
    }
    // A broken program is refused with the verifier's reason.
    let bad = [Insn::exit()];
    let e = load(&bad).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    let log = verifier_log(&bad);
    assert!(log.contains("R0"), "{log}");
}

#[test]
fn kernel_enforces_and_replaces_the_program() {
    let _l = kernel_test!();
    let Some(cg) = TestCg::new("enforce") else {
        eprintln!("skipping: no writable cgroup2 mount");
        return;
    };
    let d = cg.0.as_path();
    let only_null = [all(false), null(true)];
    install(d, prepare(d, &only_null).unwrap()).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (1, 1));
    let probes = [
        ("/dev/null", None, true),
        ("/dev/full", None, false),
        ("mknod 1:7", Some((1, 7)), false),
        ("mknod 1:3", Some((1, 3)), true),
    ];
    assert_eq!(probe(d, &probes), 0, "deny all + null");

    // Replaced, not stacked: /dev/full is allowed now.
    let null_full = [all(false), null(true), c(true, Some(1), Some(7), "rwm")];
    install(d, prepare(d, &null_full).unwrap()).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (1, 1));
    let probes = [
        ("/dev/null", None, true),
        ("/dev/full", None, true),
        ("mknod 1:7", Some((1, 7)), true),
        ("mknod 1:5", Some((1, 5)), false),
    ];
    assert_eq!(probe(d, &probes), 0, "deny all + null + full");

    // Without BPF_F_REPLACE (the pre-5.6 path): attach, then detach.
    let fd = open_dir(d).unwrap();
    let old = attached_by_hull(fd.as_fd()).unwrap();
    let Prepared::Program(p) = prepare(d, &only_null).unwrap() else {
        panic!()
    };
    bpf::prog_attach(fd.as_fd(), p.as_fd(), BPF_F_ALLOW_MULTI, None).unwrap();
    detach_all(d, fd.as_fd(), &old).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (1, 1));
    assert_eq!(probe(d, &[("/dev/full", None, false)]), 0);

    // Someone else's program stays; ours is still replaced. Several of
    // ours (left by a crash) are all replaced by one.
    let other = bpf::prog_load(&[Insn::mov32(0, 1), Insn::exit()], LICENSE, "other", None).unwrap();
    bpf::prog_attach(fd.as_fd(), other.as_fd(), BPF_F_ALLOW_MULTI, None).unwrap();
    let Prepared::Program(extra) = prepare(d, &only_null).unwrap() else {
        panic!()
    };
    bpf::prog_attach(fd.as_fd(), extra.as_fd(), BPF_F_ALLOW_MULTI, None).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (2, 3));
    install(d, prepare(d, &null_full).unwrap()).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (1, 2));
    assert_eq!(probe(d, &[("/dev/full", None, true)]), 0);

    // A list that restricts nothing removes ours and attaches nothing.
    install(d, prepare(d, &[all(false), all(true)]).unwrap()).unwrap();
    assert_eq!((hull_progs(d), all_progs(d)), (0, 1));
    assert_eq!(
        probe(
            d,
            &[
                ("/dev/full", None, true),
                ("mknod 1:11", Some((1, 11)), true)
            ]
        ),
        0
    );
    bpf::prog_detach(fd.as_fd(), other.as_fd()).unwrap();
    assert_eq!(all_progs(d), 0);
}

#[test]
fn errors_name_the_field_and_the_cgroup() {
    let _l = kernel_test!();
    // A plain directory is no cgroup: the query before the attach fails.
    let tmp = std::env::temp_dir().join(format!("hull-test-bpf-plain-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let res = prepare(&tmp, &[all(false)]).and_then(|p| install(&tmp, p));
    let _ = std::fs::remove_dir(&tmp);
    let e = res.unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "linux.resources.devices: bpf(BPF_PROG_QUERY) for {}: ",
            tmp.display()
        )),
        "{e}"
    );
}
