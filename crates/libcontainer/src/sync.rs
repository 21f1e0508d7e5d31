//! The parent/child channel used during create: a SOCK_SEQPACKET socketpair
//! carrying a small, versioned sequence of messages. Every receive has a
//! deadline, and a peer that dies closes its end, so a failure on one side
//! is an error on the other, never a hang.
//!
//! The sequence (see ARCHITECTURE.md):
//!   child  -> ChildReady     (namespaces joined / unshared)
//!   parent -> Proceed        (child placed in its cgroup, id maps written)
//!   child  -> InitPid(pid)   (only when a pid namespace needed a second fork)
//!   child  -> NeedMountSource(n), parent -> MountSource(n) + fd
//!                            (the rootfs and each bind source, as the mounts
//!                             come; see mount_sources)
//!   child  -> RuntimeHooks   (mounts prepared, before pivot_root)
//!   parent -> HooksDone(state) (prestart + createRuntime hooks ran)
//!   child  -> SeccompFd + fd (only with SCMP_ACT_NOTIFY rules; the parent
//!                             hands the fd to linux.seccomp.listenerPath)
//!   child  -> InitReady      (everything set up; init waits for `start`)
//! and at any point: child -> Error(message). After InitReady, the exec
//! stub (see crate::exe) may send ExecFailed(errno) when the program's
//! execve fails.

use std::{
    os::fd::{AsFd, OwnedFd},
    time::{Duration, Instant},
};

use rustix::{
    event::{poll, PollFd, PollFlags},
    net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType},
};

/// How long the child waits for the parent between phases. The parent's
/// death closes the channel at once; this only bounds a stuck parent.
pub(crate) const PHASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

const VERSION: u8 = 1;
const MAX_MSG: usize = 8192;

/// Why the parent and the container's init (or an exec'd process) lost
/// step on their sync channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The channel failed.
    #[error("sync channel: {0}")]
    Io(#[from] std::io::Error),
    /// The channel failed.
    #[error("sync channel: {0}")]
    Errno(#[from] rustix::io::Errno),
    /// The other side exited while this one waited for the message named.
    #[error("sync channel: the other side exited while waiting for {0}")]
    PeerGone(&'static str),
    /// The other side did not send in time.
    #[error("sync channel: timed out after {secs}s waiting for {what}")]
    Timeout {
        /// The message waited for.
        what: &'static str,
        /// The deadline.
        secs: u64,
    },
    /// The other side speaks another protocol version.
    #[error("sync channel: protocol version {0} is not {VERSION}")]
    Version(u8),
    /// A message out of sequence.
    #[error("sync channel: unexpected message {got} while waiting for {want}")]
    Unexpected {
        /// The message that came.
        got: String,
        /// The one expected.
        want: &'static str,
    },
    /// A message that does not decode.
    #[error("sync channel: malformed message")]
    Malformed,
}

impl SyncError {
    pub(crate) fn unexpected(got: Msg, want: &'static str) -> SyncError {
        SyncError::Unexpected {
            got: format!("{got:?}"),
            want,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    ChildReady {
        needs_id_maps: bool,
    },
    Proceed,
    InitPid(i32),
    RuntimeHooks,
    /// Carries the OCI state JSON the child passes to its own hooks.
    HooksDone(String),
    InitReady,
    /// The seccomp notify fd rides along in SCM_RIGHTS.
    SeccompFd,
    Error(String),
    /// The init asks the runtime to open what it mounts from; the number
    /// says what (`mount_sources::Slot`).
    NeedMountSource(u32),
    /// The answer: an O_PATH fd in SCM_RIGHTS.
    MountSource(u32),
    /// The program's execve failed with this errno; sent by the exec stub
    /// (machine code, see crate::exe), hence the fixed 6-byte layout.
    ExecFailed(i32),
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let mut b = vec![VERSION];
        match self {
            Msg::ChildReady { needs_id_maps } => b.extend([1, *needs_id_maps as u8]),
            Msg::Proceed => b.push(2),
            Msg::InitPid(pid) => {
                b.push(3);
                b.extend(pid.to_le_bytes());
            }
            Msg::RuntimeHooks => b.push(4),
            Msg::HooksDone(s) => {
                b.push(5);
                b.extend(s.as_bytes());
            }
            Msg::InitReady => b.push(6),
            Msg::SeccompFd => b.push(8),
            Msg::NeedMountSource(slot) => {
                b.push(9);
                b.extend(slot.to_le_bytes());
            }
            Msg::MountSource(slot) => {
                b.push(10);
                b.extend(slot.to_le_bytes());
            }
            Msg::ExecFailed(errno) => {
                b.push(11);
                b.extend(errno.to_le_bytes());
            }
            Msg::Error(s) => {
                b.push(7);
                // A message longer than the buffer is cut, not lost.
                let s = s.as_bytes();
                b.extend(&s[..s.len().min(MAX_MSG - 2)]);
            }
        }
        b
    }

    fn decode(b: &[u8]) -> Result<Msg, SyncError> {
        let (&v, rest) = b.split_first().ok_or(SyncError::Malformed)?;
        if v != VERSION {
            return Err(SyncError::Version(v));
        }
        let (&tag, body) = rest.split_first().ok_or(SyncError::Malformed)?;
        Ok(match (tag, body) {
            (1, [m]) => Msg::ChildReady {
                needs_id_maps: *m != 0,
            },
            (2, []) => Msg::Proceed,
            (3, p) => Msg::InitPid(i32::from_le_bytes(
                p.try_into().map_err(|_| SyncError::Malformed)?,
            )),
            (4, []) => Msg::RuntimeHooks,
            (5, s) => Msg::HooksDone(String::from_utf8_lossy(s).into_owned()),
            (6, []) => Msg::InitReady,
            (8, []) => Msg::SeccompFd,
            (11, e) => Msg::ExecFailed(i32::from_le_bytes(
                e.try_into().map_err(|_| SyncError::Malformed)?,
            )),
            (7, s) => Msg::Error(String::from_utf8_lossy(s).into_owned()),
            (9, p) => Msg::NeedMountSource(u32::from_le_bytes(
                p.try_into().map_err(|_| SyncError::Malformed)?,
            )),
            (10, p) => Msg::MountSource(u32::from_le_bytes(
                p.try_into().map_err(|_| SyncError::Malformed)?,
            )),
            _ => return Err(SyncError::Malformed),
        })
    }
}

/// Whether `fd` becomes readable (for a pidfd: the process exited) within
/// `timeout`; EINTR restarts the wait with the time that is left.
pub(crate) fn readable_within(
    fd: &impl AsFd,
    timeout: Duration,
) -> Result<bool, rustix::io::Errno> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel), SyncError> {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<(), SyncError> {
        match rustix::net::send(&self.fd, &msg.encode(), SendFlags::NOSIGNAL) {
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::PIPE) | Err(rustix::io::Errno::CONNRESET) => {
                Err(SyncError::PeerGone("a send"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a message with an fd attached.
    pub fn send_fd(&self, msg: &Msg, fd: std::os::fd::BorrowedFd<'_>) -> Result<(), SyncError> {
        crate::fdpass::send_fd(&self.fd, &msg.encode(), fd).map_err(|e| match e.raw_os_error() {
            Some(libc::EPIPE) | Some(libc::ECONNRESET) => SyncError::PeerGone("a send"),
            _ => SyncError::Io(e),
        })
    }

    /// Like [`Channel::recv`], also returning an fd sent with the message.
    pub fn recv_with_fd(
        &self,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(Msg, Option<OwnedFd>), SyncError> {
        self.wait_readable(timeout, what)?;
        let (buf, fd) = loop {
            match crate::fdpass::recv_fd_into(&self.fd, vec![0u8; MAX_MSG]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => {
                    return Err(SyncError::PeerGone(what))
                }
                Err(e) => return Err(e.into()),
                Ok(r) => break r,
            }
        };
        if buf.is_empty() {
            return Err(SyncError::PeerGone(what));
        }
        Ok((Msg::decode(&buf)?, fd))
    }

    fn wait_readable(&self, timeout: Duration, what: &'static str) -> Result<(), SyncError> {
        match readable_within(&self.fd, timeout)? {
            true => Ok(()),
            false => Err(SyncError::Timeout {
                what,
                secs: timeout.as_secs(),
            }),
        }
    }

    /// Waits up to `timeout` for the next message; `what` names the phase for errors.
    pub fn recv(&self, timeout: Duration, what: &'static str) -> Result<Msg, SyncError> {
        self.wait_readable(timeout, what)?;
        let mut buf = [0u8; MAX_MSG];
        let n = loop {
            match rustix::net::recv(self.fd.as_fd(), &mut buf, RecvFlags::empty()) {
                Ok((n, _)) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::CONNRESET) => return Err(SyncError::PeerGone(what)),
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(SyncError::PeerGone(what));
        }
        Msg::decode(&buf[..n])
    }

    /// Receives and insists on one kind of message.
    pub fn expect(
        &self,
        want: Msg,
        timeout: Duration,
        what: &'static str,
    ) -> Result<(), SyncError> {
        match self.recv(timeout, what)? {
            m if m == want => Ok(()),
            got => Err(SyncError::unexpected(got, what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_message() {
        let (a, b) = Channel::pair().unwrap();
        let msgs = [
            Msg::ChildReady {
                needs_id_maps: true,
            },
            Msg::Proceed,
            Msg::InitPid(12345),
            Msg::RuntimeHooks,
            Msg::HooksDone("{\"id\":\"c\"}".into()),
            Msg::InitReady,
            Msg::SeccompFd,
            Msg::ExecFailed(libc::ENOEXEC),
            Msg::Error("mount \"/x\": no such file".into()),
            Msg::NeedMountSource(3),
            Msg::MountSource(7),
        ];
        for m in &msgs {
            a.send(m).unwrap();
            assert_eq!(&b.recv(Duration::from_secs(1), "test").unwrap(), m);
        }
    }

    #[test]
    fn dead_peer_is_an_error_not_a_hang() {
        let (a, b) = Channel::pair().unwrap();
        drop(b);
        assert!(matches!(
            a.recv(Duration::from_secs(5), "x"),
            Err(SyncError::PeerGone(_))
        ));
    }

    #[test]
    fn silent_peer_times_out() {
        let (a, _b) = Channel::pair().unwrap();
        assert!(matches!(
            a.recv(Duration::from_millis(20), "x"),
            Err(SyncError::Timeout { .. })
        ));
    }

    #[test]
    fn exec_failed_matches_the_stub_layout() {
        // The stub writes these six bytes itself: [version, tag, errno LE].
        assert_eq!(Msg::ExecFailed(2).encode(), [VERSION, 11, 2, 0, 0, 0]);
    }

    #[test]
    fn wrong_version_is_rejected() {
        assert!(matches!(Msg::decode(&[9, 2]), Err(SyncError::Version(9))));
        assert!(matches!(
            Msg::decode(&[VERSION, 3, 1]),
            Err(SyncError::Malformed)
        ));
    }
}
