//! The parent's side of `SCMP_ACT_NOTIFY`: handing the notify fd to the
//! seccomp agent listening on `linux.seccomp.listenerPath`, per the OCI
//! runtime spec ("Seccomp listener"): one message on a SOCK_STREAM unix
//! socket, the container process state as JSON, the fd in SCM_RIGHTS.

use std::{
    io::{self, IoSlice},
    mem::MaybeUninit,
    os::{
        fd::{AsFd, BorrowedFd},
        unix::net::UnixStream,
    },
    path::Path,
    time::Duration,
};

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use super::SeccompError;

/// A stuck agent must not hang `create` for ever.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The container process state document the agent receives.
fn process_state(pid: i32, metadata: Option<&str>, state: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata {
        doc["metadata"] = serde_json::Value::String(m.to_owned());
    }
    doc
}

/// Connects to the unix socket `listener` and sends the container process
/// state (`{"ociVersion","fds":["seccompFd"],"pid","metadata","state"}`,
/// `state` being the OCI state document `state_json`) with `notify_fd`
/// attached as SCM_RIGHTS. `pid` is the container process as the runtime
/// sees it. The caller closes its copy of the fd afterwards.
pub(crate) fn send_to_listener(
    listener: &Path,
    notify_fd: BorrowedFd<'_>,
    pid: i32,
    metadata: Option<&str>,
    state_json: &str,
) -> Result<(), SeccompError> {
    let err = |what: &'static str, source: io::Error| SeccompError::Listener {
        path: listener.to_owned(),
        what,
        source,
    };
    let state: serde_json::Value = serde_json::from_str(state_json).map_err(|e| {
        err(
            "the container state is not JSON",
            io::Error::new(io::ErrorKind::InvalidData, e),
        )
    })?;
    let doc = process_state(pid, metadata, state).to_string();

    let sock = UnixStream::connect(listener).map_err(|e| err("connecting", e))?;
    sock.set_write_timeout(Some(SEND_TIMEOUT))
        .map_err(|e| err("setting the send timeout", e))?;
    let fds = [notify_fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(err(
            "preparing SCM_RIGHTS",
            io::ErrorKind::OutOfMemory.into(),
        ));
    }
    let bytes = doc.as_bytes();
    // The fd travels with the first byte; a stream may take the rest later.
    let sent = loop {
        match rustix::net::sendmsg(
            sock.as_fd(),
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(err("sending the state and the seccomp fd", e.into())),
        }
    };
    let mut rest = &bytes[sent..];
    while !rest.is_empty() {
        match rustix::net::send(sock.as_fd(), rest, SendFlags::NOSIGNAL) {
            Ok(n) => rest = &rest[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(err("sending the state", e.into())),
        }
    }
    let _ = sock.shutdown(std::net::Shutdown::Write);
    Ok(())
}
