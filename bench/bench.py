#!/usr/bin/env python3
"""hull vs crun vs runc: side-by-side benchmark.

Do not run this file directly: `bash bench/run.sh [--quick]` puts it in a
private mount namespace where /sys/fs/cgroup/unified is unmounted (crun 1.8
refuses this host's hybrid cgroup layout), so all three runtimes see pure v1.

Timing is done by hyperfine (-N, no shell), in rounds: every round runs each
runtime's command for a block of runs, in a rotating order, so hull, crun and
runc are interleaved and share any drift of the machine. The per-round
hyperfine JSON files are kept in the results dir's raw/ (bench/results/ for
a full run, bench/results-quick/ for --quick or --only); medians are
computed over all rounds. Peak RSS comes from a separate pass with
`/usr/bin/time -f %M`. A runtime that fails an op is recorded and left out
of it; the run goes on.

Everything lives under a private tmpfs (/tmp/hull-bench-<pid>, mounted inside
the private mount namespace): the copy of hull that is measured (writable, so
its exe protection is on), one --root per runtime, the bundles and a shared
read-only busybox rootfs. Every container gets its own absolute cgroupsPath
/hull-bench-<pid>/<runtime>-<name>; all of it is removed at the end, also
after Ctrl-C.
"""

import argparse
import concurrent.futures
import ctypes
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PR_SET_CHILD_SUBREAPER = 36

RUNTIMES = ["hull", "crun", "runc"]
DEFAULT_BIN = {
    "hull": os.path.join(REPO, "target", "release", "hull"),
    "crun": "/usr/bin/crun",
    "runc": "/usr/sbin/runc",
}
CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
SLEEP = ["/bin/sleep", "100000"]
# Syscalls the container never makes; seccomp rules are spread over them,
# each rule matching one value of the first argument (default action allow).
SECCOMP_SYSCALLS = [
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "delete_module",
    "finit_module", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp",
    "kexec_file_load", "kexec_load", "lookup_dcookie", "mbind", "move_pages",
    "name_to_handle_at", "open_by_handle_at", "perf_event_open", "process_vm_readv",
    "process_vm_writev", "quotactl", "reboot", "request_key", "set_mempolicy",
    "settimeofday", "swapon", "swapoff", "sysfs", "uselib", "userfaultfd", "ustat",
    "vhangup", "syslog", "adjtimex", "migrate_pages", "fanotify_init", "pkey_alloc",
    "io_setup",
]


# ---------------------------------------------------------------- processes

def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap():
    """Reap orphaned container processes that were re-parented to us.
    Only called when none of our own subprocesses is running."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reap_exec(cmd):
    """`bench.py _reap CMD...`: run CMD as a child subreaper that reaps
    every orphan promptly (this host's pid 1 does not reap), the way a
    container shim would. Exits with CMD's status."""
    set_subreaper()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    signal.signal(signal.SIGINT, lambda *_: os.kill(pid, signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
    status = None
    while status is None:
        try:
            wpid, st = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if wpid == pid:
            status = st
    reap()  # detached containers still alive go up to the orchestrator
    sys.exit(os.waitstatus_to_exitcode(status) if status is not None else 1)


# ---------------------------------------------------------------- helpers

def median(xs):
    return statistics.median(xs) if xs else None


def iqr(xs):
    if len(xs) < 4:
        return None
    q = statistics.quantiles(xs, n=4)
    return q[2] - q[0]


def q(cmd):
    return shlex.join(cmd)


def sh(script):
    """A hyperfine -N command line that runs `script` in sh."""
    return q(["sh", "-c", script])


def threading_id():
    import threading  # noqa: PLC0415
    return f"{os.getpid()}-{threading.get_ident()}"


def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


# ---------------------------------------------------------------- bench env

class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.quick = opts.quick
        self.bins = {rt: getattr(opts, rt) for rt in RUNTIMES}
        self.tag = f"hull-bench-{os.getpid()}"
        if os.environ.get("BENCH_TAG_FILE"):  # for run.sh's leftover check
            with open(os.environ["BENCH_TAG_FILE"], "w") as f:
                f.write(self.tag)
        self.work = f"/tmp/{self.tag}"
        self.results = opts.results
        self.raw = os.path.join(self.results, "raw")
        self.log_path = os.path.join(self.results, "bench.log")
        self.bundles = {}
        self.summary = {"ops": {}, "rss": {}, "scaling": {}, "notes": [], "failures": {}}
        self.mounted = False
        self.rl = None  # the rootless user: (name, uid, gid), made on demand

    # -- setup / teardown -------------------------------------------------

    def setup(self):
        if not self.opts.profile:
            shutil.rmtree(self.raw, ignore_errors=True)
            os.makedirs(self.raw, exist_ok=True)
        if self.opts.profile:  # keep the benchmark's logs
            self.log_path = os.path.join(self.results, "profile.log")
        self.log = open(self.log_path, "w")
        os.mkdir(self.work, 0o755)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=2g", "tmpfs", self.work], check=True)
        self.mounted = True
        for rt in RUNTIMES:
            os.makedirs(self.root(rt), mode=0o700)
        self.plog = os.path.join(self.results, "profile-prepare.log" if self.opts.profile else "prepare.log")
        open(self.plog, "w").close()
        self.snapshot_hull()
        self.make_rootfs()
        self.make_parent_cgroups()

    def snapshot_hull(self):
        """Measure one fixed hull binary: others rebuild target/release/hull
        while the bench runs, so copy it into the work dir first. The issue's
        targets hold with the CVE-2019-5736 exe protection on, i.e. with hull
        installed on a writable path as users install it (hull skips its
        protection when its binary is on a read-only mount or a sealed
        memfd): the work dir is a writable tmpfs, checked here."""
        src = os.path.realpath(self.bins["hull"])
        st = os.stat(src)
        dst = os.path.join(self.work, "bin", "hull")
        os.makedirs(os.path.dirname(dst))
        shutil.copy2(src, dst)
        import hashlib  # noqa: PLC0415
        with open(dst, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        vfs = os.statvfs(dst)
        writable = not vfs.f_flag & os.ST_RDONLY and os.access(dst, os.W_OK)
        if not writable:
            raise RuntimeError(f"{dst} is not writable: hull would skip its exe protection")
        self.hull_source = {
            "path": self.bins["hull"], "size": st.st_size, "sha256": digest,
            "mtime": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "copy_fs": self.fs_type(dst), "copy_writable": writable,
        }
        self.bins["hull"] = dst

    @staticmethod
    def fs_type(path):
        """Type of the filesystem holding path (longest mount point prefix)."""
        best, kind = "", "?"
        with open("/proc/self/mountinfo") as f:
            for ln in f:
                parts = ln.split()
                mp = parts[4]
                if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                    best, kind = mp, parts[parts.index("-") + 1]
        return kind

    def cgroup_mounts(self):
        """Mount points of the real cgroup hierarchies in this namespace."""
        out = set()
        with open("/proc/self/mountinfo") as f:
            for ln in f:
                parts = ln.split()
                if parts[parts.index("-") + 1] in ("cgroup", "cgroup2"):
                    out.add(parts[4])
        return out

    def make_parent_cgroups(self):
        """Create the parent cgroup /hull-bench-<pid> in every hierarchy up
        front (as a systemd slice or a pod cgroup would exist), so that the
        runtimes only create and remove their leaf: hull removes ancestors
        it created itself, crun and runc leave them, which would otherwise
        make hull alone pay for the parent on every create."""
        for base in sorted(self.cgroup_mounts()):
            d = os.path.join(base, self.tag)
            os.mkdir(d)
            for f in ("cpuset.cpus", "cpuset.mems"):
                if os.path.exists(os.path.join(base, f)):
                    with open(os.path.join(base, f)) as src, open(os.path.join(d, f), "w") as dst:
                        dst.write(src.read().strip())

    def make_rootfs(self):
        r = self.rootfs = os.path.join(self.work, "rootfs")
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root", "mnt"]:
            os.makedirs(os.path.join(r, d))
        for i in range(max(self.MOUNT_SIZES)):
            os.mkdir(os.path.join(r, "mnt", f"m{i}"))
        shutil.copy2("/bin/busybox", os.path.join(r, "bin", "busybox"))
        applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
        for a in applets:
            # `busybox --list` names busybox itself: never symlink over the binary.
            if a != "busybox" and "/" not in a:
                os.symlink("busybox", os.path.join(r, "bin", a))
        with open(os.path.join(r, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")

    def root(self, rt):
        return os.path.join(self.work, "root", rt)

    def rt(self, rt, *args):
        return [self.bins[rt], "--root", self.root(rt), *args]

    def cgroup_path(self, rt, name):
        return f"/{self.tag}/{rt}-{name}"

    def config(self, rt, name, args, mounts=0, seccomp=None):
        caps = {k: list(CAPS) for k in ["bounding", "effective", "permitted", "inheritable", "ambient"]}
        m = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ]
        for i in range(mounts):
            m.append({"destination": f"/mnt/m{i}", "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", "noexec", "size=64k"]})
        linux = {
            "cgroupsPath": self.cgroup_path(rt, name),
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        }
        if seccomp is not None:
            rules = []
            n = len(SECCOMP_SYSCALLS)
            for k in range(seccomp):
                rules.append({"names": [SECCOMP_SYSCALLS[k % n]], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 0, "value": 1000 + k // n, "op": "SCMP_CMP_EQ"}]})
            linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                "syscalls": rules}
        return {
            # crun 1.8 rejects 1.2.0 ("unknown version specified").
            "ociVersion": "1.0.2",
            "process": {
                "terminal": False,
                "user": {"uid": 0, "gid": 0},
                "args": list(args),
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": caps,
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": True,
            },
            "root": {"path": self.rootfs, "readonly": True},
            "hostname": "bench",
            "mounts": m,
            "linux": linux,
        }

    def bundle(self, rt, name, args=("/bin/true",), **kw):
        key = (rt, name)
        if key not in self.bundles:
            d = os.path.join(self.work, "bundles", rt, name)
            os.makedirs(d)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(self.config(rt, name, args, **kw), f, indent=1)
            self.bundles[key] = d
        return self.bundles[key]

    # -- rootless: an unprivileged user made for the run ---------------------

    def rootless_user(self):
        """A user of our own (useradd; removed at cleanup) with a state
        root per runtime it owns: rootless runs go through setpriv."""
        if self.rl is None:
            name = f"hb{os.getpid() % 100000}"
            # The comment (the run's tag) marks it for run.sh's leftover check.
            subprocess.run(["useradd", "-M", "-U", "-c", self.tag, "-s", "/usr/sbin/nologin", name], check=True,
                           stdout=subprocess.DEVNULL)
            uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
            gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True, check=True).stdout)
            self.rl = (name, uid, gid)
            for rt in RUNTIMES:
                d = self.rl_root(rt)
                os.makedirs(d, mode=0o700)
                os.chown(d, uid, gid)
        return self.rl

    def rl_root(self, rt):
        return os.path.join(self.work, "root-rootless", rt)

    def rl_cmd(self, rt, *args):
        """rt as the rootless user, with its own root (setpriv costs the
        same for every runtime)."""
        name, uid, gid = self.rootless_user()
        return ["setpriv", "--reuid", str(uid), "--regid", str(gid), "--init-groups", "env",
                f"XDG_RUNTIME_DIR={os.path.dirname(self.rl_root(rt))}", f"USER={name}",
                self.bins[rt], "--root", self.rl_root(rt), *args]

    def rl_bundle(self, rt, name, args=("/bin/true",)):
        """runc spec --rootless's changes to the bundle: a user namespace
        mapping the user to root, no cgroup (no resources, no
        cgroupsPath: v1 gives the user none), no gid= mount option."""
        key = (rt, "rootless-" + name)
        if key not in self.bundles:
            _, uid, gid = self.rootless_user()
            c = self.config(rt, name, args)
            c["linux"]["namespaces"].append({"type": "user"})
            c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
            c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
            del c["linux"]["resources"], c["linux"]["cgroupsPath"]
            for m in c["mounts"]:
                m["options"] = [o for o in m.get("options", []) if not o.startswith("gid=")]
            d = os.path.join(self.work, "bundles-rootless", rt, name)
            os.makedirs(d)
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(c, f, indent=1)
            self.bundles[key] = d
        return self.bundles[key]

    def call(self, cmd, check=False, timeout=120):
        """Run a runtime command from the orchestrator: stdio never a pipe
        (a detached container would hold it open), stderr to the log."""
        self.log.flush()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
                           timeout=timeout)
        reap()
        if check and p.returncode != 0:
            raise RuntimeError(f"failed ({p.returncode}): {q(cmd)}; see {self.log_path}")
        return p.returncode

    def call_capture(self, cmd, timeout=120):
        """Like call, returning (rc, output) through a file, never a pipe."""
        path = os.path.join(self.work, f"capture-{threading_id()}.out")
        with open(path, "w+") as f:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
            f.seek(0)
            out = f.read()
        os.unlink(path)
        return p.returncode, out

    def delete_all(self, rt, root=None, parallel=4):
        root = root or self.root(rt)
        ids = [i for i in os.listdir(root) if os.path.isdir(os.path.join(root, i))] if os.path.isdir(root) else []
        with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
            list(ex.map(lambda i: subprocess.run([self.bins[rt], "--root", root, "delete", "--force", i],
                                                 stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 timeout=120), ids))
        reap()
        return len(ids)

    def cleanup(self):
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("cleanup: deleting containers, cgroups and the tmpfs (Ctrl-C ignored)", flush=True)
        # After an interruption, a hyperfine or runtime may still run,
        # re-parented to us: stop it before deleting under its feet.
        self.kill_orphans()
        lists = os.path.join(self.work, "root-list")
        for rt in RUNTIMES:
            roots = [self.root(rt)] + sorted(os.path.join(lists, d) for d in (os.listdir(lists) if os.path.isdir(lists) else [])
                                             if d.startswith(rt + "-"))
            for root in roots:
                try:
                    n = self.delete_all(rt, root)
                    if n:
                        print(f"  {rt}: deleted {n} leftover container(s) in {root}")
                except Exception as e:  # noqa: BLE001
                    print(f"  {rt}: delete failed in {root}: {e}")
        if self.rl is not None:
            name, uid, _ = self.rl
            for rt in RUNTIMES:
                root = self.rl_root(rt)
                for i in (os.listdir(root) if os.path.isdir(root) else []):
                    self.call(self.rl_cmd(rt, "delete", "--force", i))
            # Only this user's processes: it exists for this run alone.
            for pid in [d for d in os.listdir("/proc") if d.isdigit()]:
                try:
                    if os.stat(f"/proc/{pid}").st_uid == uid:
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            reap()
            subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.rl = None
        self.kill_orphans()
        self.remove_cgroups()
        reap()
        if self.mounted:
            subprocess.run(["umount", "-l", self.work])
            self.mounted = False
        try:
            os.rmdir(self.work)
        except OSError:
            pass

    def kill_orphans(self):
        """Processes re-parented to us (we are a child subreaper) that are
        still alive after every container was deleted: the leftovers of a
        runtime interrupted half-way (Ctrl-C during a create). All are our
        own descendants; killed by pid."""
        me = str(os.getpid())
        for _ in range(20):
            pids = []
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = f.read().rsplit(")", 1)[1].split()[1]
                except (OSError, IndexError):
                    continue
                if ppid == me:
                    pids.append(int(d))
            # Our own subprocesses are finished here: every child is an orphan.
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1 if pids else 0)
            reap()
            if not pids:
                return
            print(f"  killed {len(pids)} orphaned process(es): {pids[:10]}", flush=True)

    def remove_cgroups(self):
        """Remove /sys/fs/cgroup/*/hull-bench-<pid> (only ours). Processes
        still in those cgroups are our containers' leftovers: kill those pids.

        With /sys/fs/cgroup/unified unmounted, crun 1.8 still follows the
        "0::" line of /proc/self/cgroup and makes plain directories (with a
        regular cgroup.procs file) in the tmpfs under the unmounted
        unified/: that stray tree is ours too and is removed as files."""
        cg_mounts = self.cgroup_mounts()
        left = []
        for attempt in range(50):
            left = []
            for h in sorted(os.listdir("/sys/fs/cgroup")):
                base = os.path.join("/sys/fs/cgroup", h)
                top = os.path.join(base, self.tag)
                if not os.path.isdir(top) or os.path.islink(base):
                    continue
                if base not in cg_mounts:
                    shutil.rmtree(top, ignore_errors=True)
                    if "stray" not in self.summary["notes"]:
                        self.summary["notes"].append("stray")
                    continue
                for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(dirpath)
                    except OSError:
                        left.append(dirpath)
            if not left:
                return
            for d in left:
                try:
                    with open(os.path.join(d, "cgroup.procs")) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                except OSError:
                    pass
            time.sleep(0.1)
            reap()
        print(f"WARNING: cgroups left behind: {left}")

    # -- measuring ---------------------------------------------------------

    def hyperfine(self, op, cmds, runs, warmup, block):
        """cmds: {rt: (command string, prepare string or None)}. Runs in
        rounds of `block` runs per runtime, rotating the order; returns
        {rt: [seconds...]} and keeps each round's JSON."""
        rts = list(cmds)
        times = {rt: [] for rt in rts}
        rounds = max(1, -(-runs // block))
        for r in range(rounds):
            order = rts[r % len(rts):] + rts[:r % len(rts)]
            n = min(block, runs - r * block)
            out = os.path.join(self.raw, f"{op}.round{r + 1}.json")
            args = [shutil.which("hyperfine"), "-N", "--style", "basic", "--runs", str(max(n, 2)),
                    "--warmup", str(warmup), "--export-json", out]
            if any(cmds[rt][1] for rt in order):
                for rt in order:
                    args += ["--prepare", cmds[rt][1] or "true"]
            for rt in order:
                args += ["--command-name", rt]
            args += [cmds[rt][0] for rt in order]
            self.log.write(f"\n### {op} round {r + 1}: {q(args)}\n")
            self.log.flush()
            for attempt in (1, 2, 3):
                p = subprocess.run([sys.executable, os.path.abspath(__file__), "_reap", *args],
                                   stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
                reap()
                if p.returncode == 0:
                    break
                # A failed round is retried once and recorded in the report.
                with open(self.plog) as f:
                    tail = f.read()[-600:]
                self.summary["failures"][f"{op} round {r + 1} attempt {attempt}"] = (
                    f"hyperfine exit {p.returncode}; prepare.log tail: {tail}")
                print(f"  {op}: round {r + 1} failed (attempt {attempt}), see {self.log_path}", flush=True)
            else:
                raise RuntimeError(f"hyperfine failed for {op} (see {self.log_path} and {self.plog})")
            with open(out) as f:
                for res in json.load(f)["results"]:
                    times[res["command"]] += res["times"]
        return times

    def rss(self, cmd, prepare, runs):
        """Peak RSS (KiB) of the runtime process, /usr/bin/time -f %M."""
        vals = []
        out = os.path.join(self.work, "rss.out")
        for _ in range(runs):
            if prepare:
                self.call(shlex.split(prepare))
            rc = self.call(["/usr/bin/time", "-f", "%M", "-o", out, *shlex.split(cmd)])
            if rc != 0:
                return None
            with open(out) as f:
                vals.append(int(f.read().split()[-1]))
        return vals

    # -- ops -----------------------------------------------------------------

    def p(self, rt, script):
        """A prepare command for runtime rt, logging to prepare.log."""
        # s CMD: a step that must succeed (its failure is logged with its exit code)
        return sh(f"exec 2>>{self.plog} >/dev/null </dev/null; "
                  f"s() {{ \"$@\" || {{ echo \"prepare: exit $? from: $*\" >&2; exit 1; }}; }}; {script}")

    def try_once(self, cmd, prepare):
        """One untimed run of cmd (after its prepare step): None if it
        succeeds, else the runtime's error. A runtime that fails an op (e.g.
        one that refuses 1000 seccomp rules) is recorded and left out of
        that op's hyperfine rounds instead of failing them for everyone."""
        if prepare:
            self.call(shlex.split(prepare))
        rc, out = self.call_capture(shlex.split(cmd))
        reap()
        if rc == 0:
            return None
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        return f"exit {rc}: " + (" / ".join(lines[-3:])[:300] if lines else "(no output)")

    def run_op(self, name, build, rts=None, setup=None, teardown=None, runs=None, block=None, rss=True,
               rss_runs=None, kind="ops", meta=None):
        rts = list(rts or RUNTIMES)
        runs = runs or self.N
        block = block or self.B
        t0 = time.time()
        cmds = {rt: build(rt) for rt in rts}
        failed, times, rss_v = {}, {}, {}
        try:
            for rt in rts:
                try:
                    if setup:
                        setup(rt)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    failed[rt] = f"setup: {e}"
                    print(f"  {name}: {rt} setup fails, left out: {e}", flush=True)
            for rt in rts:
                if rt in failed:
                    continue
                err = self.try_once(*cmds[rt])
                if err:
                    failed[rt] = err
                    print(f"  {name}: {rt} fails, left out: {err}", flush=True)
            ok = {rt: c for rt, c in cmds.items() if rt not in failed}
            if ok:
                try:
                    times = self.hyperfine(name, ok, runs, self.W, block)
                except RuntimeError as e:
                    # Failed three times: recorded, the run goes on.
                    failed.update({rt: f"hyperfine failed: {e}" for rt in ok})
                    print(f"  {name}: {e}", flush=True)
            if rss:
                for rt in times:
                    rss_v[rt] = self.rss(cmds[rt][0], cmds[rt][1], rss_runs or self.R)
        finally:
            for rt in rts:
                if teardown:
                    teardown(rt)
        entry = {"times": times, "median": {rt: median(v) for rt, v in times.items()},
                 "iqr": {rt: iqr(v) for rt, v in times.items()}, "runs": {rt: len(v) for rt, v in times.items()},
                 "rss": {rt: median(v) if v else None for rt, v in rss_v.items()}, "meta": meta or {},
                 "failed": failed, "seconds": round(time.time() - t0, 1),
                 "commands": {rt: {"command": c, "prepare": pr} for rt, (c, pr) in cmds.items()}}
        self.summary[kind][name] = entry
        med = "  ".join(f"{rt} {1000 * entry['median'][rt]:.1f}ms" if rt in times else f"{rt} FAILS" for rt in rts)
        print(f"  {name:<24} {med}   ({time.time() - t0:.0f}s)", flush=True)
        self.save()
        return entry

    def save(self):
        with open(os.path.join(self.results, "summary.json"), "w") as f:
            json.dump(self.summary, f, indent=1)

    def wanted(self, name):
        return not self.opts.only or any(name.startswith(o) for o in self.opts.only.split(","))

    def main_ops(self):
        R = self.rt
        rm = lambda rt, i: q(R(rt, "delete", "--force", i))  # noqa: E731
        until_stopped = lambda rt, i: (  # noqa: E731
            f"n=0; until {q(R(rt, 'state', i))} | grep '\"stopped\"' >/dev/null; do n=$((n+1)); "
            f"if [ $n -gt 3000 ]; then echo prepare: {i} never stopped: >&2; {q(R(rt, 'state', i))} >&2; exit 1; fi; done")

        if self.wanted("run"):
            self.run_op("run", lambda rt: (q(R(rt, "run", "--bundle", self.bundle(rt, "true"), "c-run")),
                                           self.p(rt, f"{rm(rt, 'c-run')}; true")))
        if self.wanted("run-rootless"):
            # As an unprivileged user (runc spec --rootless bundles, no cgroup).
            self.run_op("run-rootless",
                        lambda rt: (q(self.rl_cmd(rt, "run", "--bundle", self.rl_bundle(rt, "true"), "c-rl")),
                                    self.p(rt, f"{q(self.rl_cmd(rt, 'delete', '--force', 'c-rl'))}; true")))
        if self.wanted("create"):
            self.run_op("create",
                        lambda rt: (q(R(rt, "create", "--bundle", self.bundle(rt, "true"), "c-create")),
                                    self.p(rt, f"{rm(rt, 'c-create')}; true")),
                        teardown=lambda rt: self.call(R(rt, "delete", "--force", "c-create")))
        if self.wanted("start"):
            self.run_op("start",
                        lambda rt: (q(R(rt, "start", "c-start")),
                                    self.p(rt, f"{rm(rt, 'c-start')}; "
                                               f"s {q(R(rt, 'create', '--bundle', self.bundle(rt, 'true'), 'c-start'))}")),
                        teardown=lambda rt: self.call(R(rt, "delete", "--force", "c-start")))

        def svc_up(rt):
            self.call(R(rt, "run", "--detach", "--bundle", self.bundle(rt, "sleep", SLEEP), "svc"), check=True)

        def svc_down(rt):
            self.call(R(rt, "delete", "--force", "svc"))

        if self.wanted("state"):
            self.run_op("state", lambda rt: (q(R(rt, "state", "svc")), None), setup=svc_up, teardown=svc_down,
                        runs=self.NF, block=self.BF)
        if self.wanted("list"):
            self.run_op("list", lambda rt: (q([self.bins[rt], "--root", self.list_root(rt, "main"), "list"]), None),
                        setup=self.list_up, teardown=lambda rt: self.delete_all(rt, self.list_root(rt, "main")),
                        runs=self.NF, block=self.BF)
        if self.wanted("exec"):
            # hull has no exec yet: n/a, crun and runc only (measured for hull
            # too as soon as `hull exec --help` succeeds).
            has_exec = self.call([self.bins["hull"], "exec", "--help"]) == 0
            self.summary["hull_features"] = dict(self.summary.get("hull_features", {}), exec=has_exec)
            self.run_op("exec", lambda rt: (q(R(rt, "exec", "svc", "/bin/true")), None),
                        rts=RUNTIMES if has_exec else ["crun", "runc"],
                        setup=svc_up, teardown=svc_down)
        if self.wanted("kill"):
            self.run_op("kill",
                        lambda rt: (q(R(rt, "kill", "c-kill", "KILL")),
                                    self.p(rt, f"{rm(rt, 'c-kill')}; "
                                               f"s {q(R(rt, 'run', '--detach', '--bundle', self.bundle(rt, 'sleep-k', SLEEP), 'c-kill'))}")),
                        teardown=lambda rt: self.call(R(rt, "delete", "--force", "c-kill")))
        if self.wanted("delete"):
            # delete of a container stopped by `kill KILL` (kill+delete = the two medians added).
            self.run_op("delete",
                        lambda rt: (q(R(rt, "delete", "c-del")),
                                    self.p(rt, f"{rm(rt, 'c-del')}; "
                                               f"s {q(R(rt, 'run', '--detach', '--bundle', self.bundle(rt, 'sleep-d', SLEEP), 'c-del'))}; "
                                               f"s {q(R(rt, 'kill', 'c-del', 'KILL'))}; {until_stopped(rt, 'c-del')}")),
                        teardown=lambda rt: self.call(R(rt, "delete", "--force", "c-del")))
        if self.wanted("delete-force"):
            self.run_op("delete-force",
                        lambda rt: (q(R(rt, "delete", "--force", "c-delf")),
                                    self.p(rt, f"{rm(rt, 'c-delf')}; "
                                               f"s {q(R(rt, 'run', '--detach', '--bundle', self.bundle(rt, 'sleep-f', SLEEP), 'c-delf'))}")),
                        teardown=lambda rt: self.call(R(rt, "delete", "--force", "c-delf")))

        par = 20
        def many(rt, concurrent):
            lines = []
            for i in range(par):
                b = self.bundle(rt, f"par-{i}")
                lines.append(q(R(rt, "run", "--bundle", b, f"par-{i}")))
            if concurrent:
                body = " ".join(f"{l} & p{i}=$!;" for i, l in enumerate(lines))
                waits = " ".join(f"wait $p{i} || rc=1;" for i in range(par))
                return sh(f"exec >/dev/null 2>>{self.plog} </dev/null; rc=0; {body} {waits} exit $rc")
            return sh(f"exec >/dev/null 2>>{self.plog} </dev/null; " + " && ".join(lines))
        if self.wanted("run-20"):
            self.run_op("run-20-concurrent", lambda rt: (many(rt, True), None), runs=self.N20, block=self.B20,
                        rss=False)
            self.run_op("run-20-sequential", lambda rt: (many(rt, False), None), runs=self.N20S, block=self.B20S,
                        rss=False)

    def list_up(self, rt):
        """The main table's `list`: a root with LIST_MAIN containers,
        half running (sleep), half created."""
        root = self.list_root(rt, "main")
        os.makedirs(root, mode=0o700)
        for i in range(self.LIST_MAIN):
            args = ["run", "--detach"] if i % 2 == 0 else ["create"]
            b = self.bundle(rt, f"ls-{i}", SLEEP)
            self.call([self.bins[rt], "--root", root, *args, "--bundle", b, f"ls-{i}"], check=True)

    def scaling_ops(self):
        """How create time grows with mounts and seccomp rules, and list and
        state with the number of live containers (issue #18's sizes). A
        runtime that fails at a size is recorded and left out there."""
        R = self.rt
        # (selector, sizes, bundle tag, bundle option, series title)
        for sel, sizes, tag, kw, title in (
                ("mounts", self.MOUNT_SIZES, "mnt", "mounts", "create vs extra tmpfs mounts"),
                ("seccomp", self.SECCOMP_SIZES, "sec", "seccomp", "create vs seccomp rules")):
            if not self.wanted(sel):
                continue
            cid = f"c-{tag}"
            for n in sizes:
                self.run_op(f"create-{sel}-{n}",
                            lambda rt, n=n, tag=tag, kw=kw, cid=cid: (
                                q(R(rt, "create", "--bundle", self.bundle(rt, f"{tag}{n}", **{kw: n}), cid)),
                                self.p(rt, f"{q(R(rt, 'delete', '--force', cid))}; true")),
                            teardown=lambda rt, cid=cid: self.call(R(rt, "delete", "--force", cid)),
                            runs=self.NS, block=self.BS, rss=False, kind="scaling",
                            meta={"series": title, "n": n, "op": "create"})
        for sel, sizes in (("mounts", self.MOUNT_SIZES), ("seccomp", self.SECCOMP_SIZES)):
            if self.wanted(sel):
                self.applied(sel, max(sizes))
        if self.wanted("containers"):
            self.list_scaling()

    def applied(self, kind, n):
        """That each runtime really applies the largest bundle (one that
        silently dropped mounts or rules would only look fast), checked in
        a running container's process: for seccomp `Seccomp: 2` (filter
        mode) in its status, for mounts its mountinfo lists the n tmpfs
        mounts on /mnt/m<i>."""
        res = {}
        for rt in RUNTIMES:
            b = self.bundle(rt, f"{kind}{n}-sleep", SLEEP, **{kind: n})
            try:
                rc, out = self.call_capture(self.rt(rt, "run", "--detach", "--bundle", b, "c-applied"))
                if rc != 0:
                    res[rt] = f"run failed: {' '.join(out.split())[:200]}"
                    continue
                rc, out = self.call_capture(self.rt(rt, "state", "c-applied"))
                try:
                    pid = json.loads(out)["pid"]
                    if kind == "seccomp":
                        with open(f"/proc/{pid}/status") as f:
                            got = [ln.split()[1] for ln in f if ln.startswith("Seccomp:")] == ["2"]
                    else:
                        with open(f"/proc/{pid}/mountinfo") as f:
                            got = sum(1 for ln in f if ln.split()[4].startswith("/mnt/m")) == n
                    res[rt] = "yes" if got else "**no**"
                except (ValueError, KeyError, OSError, IndexError) as e:
                    res[rt] = f"? ({e})"
            finally:
                self.call(self.rt(rt, "delete", "--force", "c-applied"))
        self.summary.setdefault("applied", {})[kind] = {"n": n, "runtimes": res}
        print(f"  {kind}: {n} applied: " + ", ".join(f"{rt} {v}" for rt, v in res.items()), flush=True)

    def list_root(self, rt, n):
        return os.path.join(self.work, "root-list", f"{rt}-{n}")

    def grow(self, rt, root, have, n):
        """Create containers sc-<have>..sc-<n-1> (created, not started) in
        root, 4 at a time. Returns None, or the first error."""
        os.makedirs(root, mode=0o700, exist_ok=True)

        def one(i):
            cmd = [self.bins[rt], "--root", root, "create", "--bundle", self.bundle(rt, f"sc-{i}"), f"sc-{i}"]
            rc, out = self.call_capture(cmd)
            return None if rc == 0 else f"create sc-{i} exit {rc}: {' '.join(out.split())[:300]}"
        ex = concurrent.futures.ThreadPoolExecutor(4)
        try:
            errs = [e for e in ex.map(one, range(have, n)) if e]
        finally:
            # On Ctrl-C, start no more creates (the ones running finish).
            ex.shutdown(wait=True, cancel_futures=True)
        reap()
        return errs[0] if errs else None

    def list_scaling(self):
        """list and state with n live containers in the root dir: one root
        per runtime, grown through the sizes (containers *created*, not
        started); at each size `list` and `state` of the first container are
        measured interleaved across runtimes like everything else. A
        runtime that fails to reach a size is recorded and dropped."""
        t0 = time.time()
        rts = list(RUNTIMES)
        have = {rt: 0 for rt in RUNTIMES}
        try:
            for n in self.LIST_SIZES:
                pop, grow_err = {}, {}
                for rt in list(rts):
                    tp = time.time()
                    err = self.grow(rt, self.list_root(rt, "scale"), have[rt], n)
                    pop[rt] = time.time() - tp
                    if err:
                        grow_err[rt] = err
                        rts.remove(rt)
                        print(f"  {rt}: cannot reach {n} containers: {err}", flush=True)
                    else:
                        have[rt] = n
                for opname in ("list", "state"):
                    base = lambda rt: [self.bins[rt], "--root", self.list_root(rt, "scale")]  # noqa: E731
                    e = self.run_op(f"{opname}-{n}",
                                    lambda rt, opname=opname: (q(base(rt) + (["list"] if opname == "list"
                                                                              else ["state", "sc-0"])), None),
                                    rts=rts, runs=self.NL_BIG if n >= 1000 else self.NL, block=self.BL,
                                    rss=opname == "list", rss_runs=min(self.R, 3), kind="scaling",
                                    meta={"series": f"{opname} vs live containers in root", "n": n, "op": opname})
                    e["failed"].update({rt: f"populating: {v}" for rt, v in grow_err.items()})
                    e["populate_s"] = pop
                print(f"  {n} containers per runtime; adding them took "
                      + ", ".join(f"{rt} {v:.1f}s" for rt, v in pop.items()), flush=True)
                self.save()
        finally:
            for rt in RUNTIMES:
                td = time.time()
                k = self.delete_all(rt, self.list_root(rt, "scale"))
                print(f"  {rt}: deleted {k} containers in {time.time() - td:.0f}s", flush=True)
        print(f"  list/state scaling took {time.time() - t0:.0f}s", flush=True)

    def profile(self):
        """strace hull's create and run (and crun's/runc's, summary only)
        into results/profile/: -c (CPU time in syscalls), -c -w (wall time
        in syscalls) and, for hull, a -tt -T timeline."""
        d = os.path.join(self.results, "profile")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        R = self.rt
        strace = shutil.which("strace")
        if not strace:
            sys.exit("strace not found (apt-get install strace)")
        for rt in RUNTIMES:
            modes = [("c", ["-c"]), ("cw", ["-c", "-w"])] + ([("tt", ["-tt", "-T"])] if rt == "hull" else [])
            for op in ("create", "run"):
                b = self.bundle(rt, "true")
                for tag, flags in modes:
                    # one untraced warm-up so page cache and dentries are hot
                    cmd = R(rt, op, "--bundle", b, f"p-{op}")
                    self.call(cmd)
                    self.call(R(rt, "delete", "--force", f"p-{op}"))
                    out = os.path.join(d, f"{rt}-{op}.{tag}.txt")
                    if op == "run":
                        rc = self.call([strace, "-f", *flags, "-o", out, *cmd])
                    else:
                        rc = self.strace_create(rt, [strace, "-f", "-I", "2", *flags, "-o", out, *cmd], f"p-{op}")
                    self.call(R(rt, "delete", "--force", f"p-{op}"))
                    print(f"  {rt} {op} strace {' '.join(flags)}: exit {rc} -> {os.path.relpath(out, REPO)}",
                          flush=True)
        self.profile_native(d)

    def profile_native(self, d, runs=10):
        """Low-overhead numbers to go with strace: `perf stat` (CPU time,
        page faults, context switches; children included) per op, and the
        time of the cgroup.procs writes alone (strace --seccomp-bpf -e
        trace=write stops only on write, everything else runs untraced)."""
        R = self.rt
        res = {}
        perf = shutil.which("perf")
        for rt in RUNTIMES:
            b = self.bundle(rt, "true")
            ops = {"run": (R(rt, "run", "--bundle", b, "n-run"), None),
                   "create": (R(rt, "create", "--bundle", b, "n-c"), R(rt, "delete", "--force", "n-c")),
                   "state": (R(rt, "state", "n-c"), None),
                   "delete": (R(rt, "delete", "n-c"), R(rt, "create", "--bundle", b, "n-c"))}
            for op, (cmd, between) in ops.items():
                if op in ("state", "delete"):
                    self.call(R(rt, "create", "--bundle", b, "n-c"))
                vals = {}
                for _ in range(runs if perf else 0):
                    out = os.path.join(self.work, "perf.out")
                    self.call([perf, "stat", "-x,", "-o", out, "-e",
                               "task-clock,page-faults,context-switches", "--", *cmd])
                    with open(out) as f:
                        for ln in f:
                            p = ln.strip().split(",")
                            if len(p) > 2 and p[2] in ("task-clock", "page-faults", "context-switches"):
                                vals.setdefault(p[2], []).append(float(p[0]))
                    if between:
                        self.call(between)
                self.call(R(rt, "delete", "--force", "n-c"))
                res.setdefault(rt, {})[op] = {k: median(v) for k, v in vals.items()}
            # the cgroup.procs writes of `run`, only `write` traced
            ws = []
            for _ in range(runs):
                out = os.path.join(self.work, "w.txt")
                self.call(["strace", "-f", "--seccomp-bpf", "-e", "trace=write", "-e", "signal=none", "-T",
                           "-o", out, *R(rt, "run", "--bundle", b, "n-w")])
                with open(out) as f:
                    txt = f.read()
                import re  # noqa: PLC0415
                ds = [float(x) for x in re.findall(r'write\(\d+, "\d+", \d+\) += \d+ <([\d.]+)>', txt)]
                ws.append(max(ds) if ds else 0.0)
            res[rt]["max pid write per run (ms)"] = [round(w * 1000, 2) for w in ws]
            print(f"  {rt}: perf stat {res[rt]['run']}; slowest pid write per run (ms): "
                  f"{res[rt]['max pid write per run (ms)']}", flush=True)
        res["hull binary"] = self.hull_source
        with open(os.path.join(d, "native.json"), "w") as f:
            json.dump(res, f, indent=1)

    def strace_create(self, rt, cmd, cid):
        """strace -f of `create` never ends by itself (the container's init
        waits on exec.fifo): once the container is `created` (the runtime
        has exited), interrupt strace, which detaches and writes its output."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.2)
            rc, out = self.call_capture(self.rt(rt, "state", cid))
            if rc == 0 and '"created"' in out:
                break
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
        reap()
        return rc

    def static_info(self):
        info = {}
        for rt in RUNTIMES:
            b = os.path.realpath(self.bins[rt])
            libs = []
            try:
                out = subprocess.run(["ldd", b], capture_output=True, text=True).stdout
                libs = [ln.split()[0] for ln in out.splitlines() if "=>" in ln]
            except OSError:
                pass
            info[rt] = {"path": self.bins[rt], "size": os.path.getsize(b), "libs": libs,
                        "version": first_line([self.bins[rt], "--version"]),
                        "mtime": datetime.datetime.fromtimestamp(os.path.getmtime(b), datetime.timezone.utc)
                        .strftime("%Y-%m-%d %H:%M UTC")}
        info["hull"].update(self.hull_source, copy=self.bins["hull"])
        self.summary["binaries"] = info
        mem = "?"
        with open("/proc/meminfo") as f:
            for ln in f:
                if ln.startswith("MemTotal"):
                    mem = f"{int(ln.split()[1]) // 1024} MiB"
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
        git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "crates"], capture_output=True,
                               text=True).stdout.strip()
        self.summary["machine"] = {
            "nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": os.environ.get("BENCH_COMMAND", "bash bench/run.sh " + " ".join(sys.argv[1:])),
            "hyperfine": first_line(["hyperfine", "--version"]),
            "hull_git": git + (" (crates/ dirty)" if dirty else ""),
            "mode": "quick" if self.quick else "full",
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
        }

    def counts(self):
        # Sizes are the issue's in both modes (quick checks that every
        # runtime copes with them), except 1000 live containers.
        self.MOUNT_SIZES = (10, 100, 1000)
        self.SECCOMP_SIZES = (10, 100, 1000)
        self.LIST_MAIN = 4
        if self.quick:
            self.N, self.B, self.W, self.R = 3, 3, 1, 1
            self.NF, self.BF = 3, 3
            self.N20, self.B20, self.N20S, self.B20S = 2, 2, 2, 2
            self.NS, self.BS = 3, 3
            self.NL, self.NL_BIG, self.BL = 3, 3, 3
            self.LIST_SIZES = (1, 10)
        else:
            # The machine is shared and noisy (IQRs of 20-90 % of the
            # median), so the runs go where they decide a target: 40 for
            # the main ops, 80 for the cheap state and list (bound 0.5),
            # 30 for the 20 concurrent runs (with 10, the ratio of the
            # medians spread from 0.70 to 0.84 between full runs of the same
            # build); fewer where no target depends on it (20 sequential
            # runs) or one call is slow (list of 1000).
            self.N, self.B, self.W, self.R = 40, 5, 1, 5
            self.NF, self.BF = 80, 10
            self.N20, self.B20, self.N20S, self.B20S = 30, 5, 6, 3
            self.NS, self.BS = 15, 5
            self.NL, self.NL_BIG, self.BL = 30, 15, 5
            self.LIST_SIZES = (1, 10, 100, 1000)
        self.summary["counts"] = {
            "runs per op and runtime": self.N, "runs per block (round)": self.B, "warmup per block": self.W,
            "state/list runs": self.NF, "state/list block": self.BF,
            "rss runs": self.R, "20-container runs": self.N20, "20-container block": self.B20,
            "20-sequential runs": self.N20S, "20-sequential block": self.B20S,
            "scaling runs": self.NS, "list/state runs": self.NL, "list/state runs at 1000": self.NL_BIG,
            "list sizes": list(self.LIST_SIZES),
            "mount sizes": list(self.MOUNT_SIZES), "seccomp sizes": list(self.SECCOMP_SIZES),
            "list main containers": self.LIST_MAIN,
        }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_reap":
        reap_exec(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="few runs, list/state up to 10 containers (smoke test); results go to results-quick/")
    ap.add_argument("--only", help="comma-separated op name prefixes (run,run-rootless,create,start,state,list,exec,"
                                   "kill,delete,delete-force,run-20; scaling: mounts,seccomp,containers); "
                                   "results go to results-quick/")
    ap.add_argument("--results", help="results dir (default bench/results for a full run, bench/results-quick "
                                      "with --quick or --only); RESULTS.md is written to bench/ for bench/results, "
                                      "into the results dir otherwise")
    ap.add_argument("--profile", action="store_true",
                    help="instead of benchmarking: strace -f create/run and perf stat into results/profile/")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite RESULTS.md from summary.json (with --quick: the quick run's)")
    for rt in RUNTIMES:
        ap.add_argument(f"--{rt}", default=DEFAULT_BIN[rt], help=f"{rt} binary (default {DEFAULT_BIN[rt]})")
    opts = ap.parse_args()
    full_results = os.path.join(HERE, "results")
    if opts.results is None:
        # A smoke test or a subset never overwrites the committed full run.
        opts.results = os.path.join(HERE, "results-quick") if (opts.quick or opts.only) else full_results
    opts.results = os.path.abspath(opts.results)
    report_path = (os.path.join(HERE, "RESULTS.md") if opts.results == full_results
                   else os.path.join(opts.results, "RESULTS.md"))

    import report  # noqa: PLC0415  (bench/report.py)
    if opts.report_only:
        with open(os.path.join(opts.results, "summary.json")) as f:
            report.write(json.load(f), report_path)
        print(f"wrote {report_path}")
        return

    if os.geteuid() != 0:
        sys.exit("must run as root (via bash bench/run.sh)")
    set_subreaper()
    os.makedirs(opts.results, exist_ok=True)
    b = Bench(opts)
    b.counts()

    def on_signal(signum, _):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.time()
    try:
        b.setup()
        b.static_info()
        print(f"bench: {b.summary['machine']['mode']} mode, work dir {b.work} (tmpfs), cgroups /{b.tag}, "
              f"results {opts.results}", flush=True)
        if opts.profile:
            print("profile:", flush=True)
            b.profile()
            return
        print("main operations:", flush=True)
        b.main_ops()
        print("scaling:", flush=True)
        b.scaling_ops()
    finally:
        b.cleanup()
        if not opts.profile:
            b.summary["machine"]["duration_s"] = round(time.time() - t0)
            b.summary["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            b.save()
    if opts.profile:
        return
    report.write(b.summary, report_path)
    print(f"done in {time.time() - t0:.0f}s: {report_path}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    try:
        main()
    except KeyboardInterrupt:
        # cleanup() has run (a finally block); no traceback for a Ctrl-C.
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
