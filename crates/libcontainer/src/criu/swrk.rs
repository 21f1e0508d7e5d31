//! The CRIU RPC transport: one `criu swrk` process per request, spoken to
//! over a SOCK_SEQPACKET pair with the message types of the rust-criu crate.
//!
//! rust-criu's own client cannot carry what a runtime needs (a notify
//! handler with context, the restored pid, cgroup roots, pre-dump, feature
//! checks, fds at fixed numbers), so the transport is ours and only the
//! protocol types are the crate's.

use std::{
    os::{
        fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd},
        unix::process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use protobuf::{Enum, Message, MessageField};
use rust_criu::rust_criu_protobuf::rpc::{
    Criu_features, Criu_notify, Criu_opts, Criu_req, Criu_req_type, Criu_resp,
};
use rustix::net::{RecvFlags, SendFlags};

use super::CriuError;

/// The fd number of the RPC socket in `criu swrk`; inherited fds follow.
const SOCK_FD: RawFd = 3;
pub(crate) const FIRST_EXTRA_FD: RawFd = 4;

/// How the CRIU binary is started.
pub(crate) struct Swrk<'a> {
    pub criu: &'a Path,
    /// The caller's stdio goes to CRIU (restore: the restored process
    /// inherits pipes through it); otherwise /dev/null.
    pub inherit_stdio: bool,
    /// Placed at fds FIRST_EXTRA_FD.. in CRIU, for `inherit_fd`.
    pub extra_fds: Vec<BorrowedFd<'a>>,
    /// Where CRIU writes its log, for error messages.
    pub log: Option<PathBuf>,
}

/// Called for each notification; an error aborts the request.
pub(crate) type Notify<'n> = dyn FnMut(&Criu_notify, Option<OwnedFd>) -> Result<(), CriuError> + 'n;

/// A started `criu swrk`, with the hook to run between spawn and request
/// (restore places CRIU in the container's cgroup).
pub(crate) struct Running {
    child: Child,
    sock: OwnedFd,
    log: Option<PathBuf>,
}

impl Swrk<'_> {
    pub(crate) fn spawn(&self) -> Result<Running, CriuError> {
        let (ours, theirs) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| CriuError::Io {
            context: "socketpair for criu swrk".into(),
            source: e.into(),
        })?;
        let mut cmd = Command::new(self.criu);
        cmd.arg("swrk").arg(SOCK_FD.to_string());
        if !self.inherit_stdio {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        let mut sources: Vec<RawFd> = vec![theirs.as_raw_fd()];
        sources.extend(self.extra_fds.iter().map(|f| f.as_raw_fd()));
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork
        // and exec.
        unsafe {
            cmd.pre_exec(move || place_fds(&sources));
        }
        let child = cmd.spawn().map_err(|e| CriuError::Spawn {
            path: self.criu.to_owned(),
            source: e,
        })?;
        drop(theirs);
        Ok(Running {
            child,
            sock: ours,
            log: self.log.clone(),
        })
    }
}

/// Moves `sources` to fds 3, 4, ... without CLOEXEC. Everything goes to
/// high numbers first so a source sitting on a target number is not
/// overwritten before it is copied.
fn place_fds(sources: &[RawFd]) -> std::io::Result<()> {
    let mut high = Vec::with_capacity(sources.len());
    for &fd in sources {
        // SAFETY: fcntl on an fd we own in this (forked) process.
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        if h < 0 {
            return Err(std::io::Error::last_os_error());
        }
        high.push(h);
    }
    for (i, h) in high.into_iter().enumerate() {
        // SAFETY: as above; dup2 clears CLOEXEC on the target.
        if unsafe { libc::dup2(h, SOCK_FD + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Running {
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends one request and answers notifications until CRIU replies to
    /// it; then waits for CRIU to exit.
    pub(crate) fn call(
        mut self,
        req: &Criu_req,
        notify: &mut Notify<'_>,
    ) -> Result<Criu_resp, CriuError> {
        let want = req.type_.map(|t| t.value()).unwrap_or_default();
        let result = self.exchange(req, want, notify);
        // EOF on the socket ends swrk.
        drop(self.sock);
        let status = self.child.wait();
        let resp = result?;
        match status {
            Ok(s) if s.success() => Ok(resp),
            // A successful pre-dump leaves swrk waiting for the final dump;
            // our socket closing ends it with an error status.
            Ok(_) if want == Criu_req_type::PRE_DUMP.value() => Ok(resp),
            Ok(s) => Err(CriuError::Failed {
                what: req_name(want),
                detail: format!("criu exited with {s}"),
                log: self.log,
            }),
            Err(e) => Err(CriuError::Io {
                context: "waiting for criu".into(),
                source: e,
            }),
        }
    }

    fn exchange(
        &mut self,
        req: &Criu_req,
        want: i32,
        notify: &mut Notify<'_>,
    ) -> Result<Criu_resp, CriuError> {
        self.send(req)?;
        loop {
            let (data, fd) = recv(&self.sock).map_err(|e| CriuError::Io {
                context: "reading from criu".into(),
                source: e,
            })?;
            if data.is_empty() {
                return Err(CriuError::Failed {
                    what: req_name(want),
                    detail: "criu closed the connection".into(),
                    log: self.log.clone(),
                });
            }
            let resp = Criu_resp::parse_from_bytes(&data)
                .map_err(|e| CriuError::Protocol(e.to_string()))?;
            let typ = resp.type_.map(|t| t.value()).unwrap_or_default();
            if !resp.success() {
                let mut detail = format!("errno {}", resp.cr_errno());
                if !resp.cr_errmsg().is_empty() {
                    detail = format!("{} ({detail})", resp.cr_errmsg());
                }
                // cr_errmsg is CRIU's first error, often a harmless one (an
                // rlimit it could not raise); the log's last error is the cause.
                let detail = self
                    .log
                    .as_deref()
                    .and_then(last_log_error)
                    .unwrap_or(detail);
                return Err(CriuError::Failed {
                    what: req_name(want),
                    detail,
                    log: self.log.clone(),
                });
            }
            if typ == Criu_req_type::NOTIFY.value() {
                let outcome = notify(&resp.notify, fd);
                let mut ack = Criu_req::new();
                ack.set_type(Criu_req_type::NOTIFY);
                ack.set_notify_success(outcome.is_ok());
                self.send(&ack)?;
                outcome?;
                continue;
            }
            if typ != want {
                return Err(CriuError::Protocol(format!(
                    "criu answered {} to {}",
                    req_name(typ),
                    req_name(want)
                )));
            }
            return Ok(resp);
        }
    }

    fn send(&self, req: &Criu_req) -> Result<(), CriuError> {
        let bytes = req
            .write_to_bytes()
            .map_err(|e| CriuError::Protocol(e.to_string()))?;
        rustix::net::send(&self.sock, &bytes, SendFlags::NOSIGNAL).map_err(|e| CriuError::Io {
            context: "writing to criu".into(),
            source: e.into(),
        })?;
        Ok(())
    }
}

/// One whole datagram, however large, and the fd attached to it.
fn recv(sock: &OwnedFd) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut none: [u8; 0] = [];
    let (_, len) = rustix::net::recv(sock, &mut none[..], RecvFlags::PEEK | RecvFlags::TRUNC)?;
    crate::fdpass::recv_fd_into(sock, vec![0u8; len.max(1)])
}

/// The cause in a CRIU log: its last "Error (file:line): message" that
/// says more than "Dumping FAILED." (and is not the rlimit CRIU could not
/// raise, which it survives), as "message".
fn last_log_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" Error ("))
        .map(|l| l.split_once("): ").map(|(_, m)| m).unwrap_or(l).trim())
        .collect();
    let telling = |m: &&&str| !m.ends_with("FAILED.") && !m.starts_with("rlimit: ");
    errors
        .iter()
        .rev()
        .find(telling)
        .or(errors.last())
        .map(|m| m.to_string())
}

fn req_name(t: i32) -> String {
    Criu_req_type::from_i32(t)
        .map(|t| format!("{t:?}").to_lowercase())
        .unwrap_or_else(|| format!("request {t}"))
}

/// A request of `typ` with `opts`.
pub(crate) fn request(typ: Criu_req_type, opts: Option<Criu_opts>) -> Criu_req {
    let mut req = Criu_req::new();
    req.set_type(typ);
    if let Some(o) = opts {
        req.opts = MessageField::some(o);
    }
    req
}

/// The version of the CRIU at `criu` as runc counts it: major*10000 +
/// minor*100 + sublevel, a git build counting as the next minor.
pub(crate) fn version(criu: &Path) -> Result<u32, CriuError> {
    let swrk = Swrk {
        criu,
        inherit_stdio: false,
        extra_fds: Vec::new(),
        log: None,
    };
    let resp = swrk
        .spawn()?
        .call(&request(Criu_req_type::VERSION, None), &mut |_, _| Ok(()))?;
    let v = &resp.version;
    let mut n = v.major_number().max(0) as u32 * 10000
        + v.minor_number().max(0) as u32 * 100
        + v.sublevel().max(0) as u32;
    if v.has_gitid() {
        n = n - n % 100 + 100;
    }
    Ok(n)
}

/// Asks CRIU whether the kernel and CRIU support `features`; returns the
/// answer for each.
pub(crate) fn check_features(
    criu: &Path,
    features: Criu_features,
) -> Result<Criu_features, CriuError> {
    let swrk = Swrk {
        criu,
        inherit_stdio: false,
        extra_fds: Vec::new(),
        log: None,
    };
    let mut req = request(Criu_req_type::FEATURE_CHECK, None);
    req.features = MessageField::some(features);
    let resp = swrk.spawn()?.call(&req, &mut |_, _| Ok(()))?;
    Ok(resp.features.into_option().unwrap_or_default())
}

/// The fd number `fd` will have in CRIU when passed as extra fd `index`.
pub(crate) fn extra_fd_number(index: usize) -> i32 {
    FIRST_EXTRA_FD + index as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_of_a_log_is_the_cause() {
        let dir = std::env::temp_dir().join(format!("hull-criu-log-{}", std::process::id()));
        std::fs::write(&dir, "(00.08) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE\n(00.09) No inventory.img image\n(00.10) Error (criu/protobuf.c:72): Unexpected EOF on (empty-image)\n(00.11) Error (criu/cr-restore.c:2320): Restoring FAILED.\n").unwrap();
        assert_eq!(
            last_log_error(&dir).as_deref(),
            Some("Unexpected EOF on (empty-image)")
        );
        std::fs::write(&dir, "(00.08) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE\n(00.11) Error (criu/cr-dump.c:2111): Dumping FAILED.\n").unwrap();
        assert_eq!(last_log_error(&dir).as_deref(), Some("Dumping FAILED."));
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(last_log_error(&dir), None);
    }
}
