//! Passing file descriptors over unix sockets (SCM_RIGHTS): the pty master
//! to a console socket, and fds between the container's setup processes.

use std::{
    io::{IoSlice, IoSliceMut},
    mem::MaybeUninit,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Sends `data` with `fd` attached.
pub(crate) fn send_fd(sock: impl AsFd, data: &[u8], fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::ErrorKind::OutOfMemory.into());
    }
    // A zero-length message carries no ancillary data on some sockets.
    let payload = if data.is_empty() {
        b"\0".as_slice()
    } else {
        data
    };
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(payload)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// Receives one message and the fd attached to it, if any.
pub(crate) fn recv_fd(sock: impl AsFd) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    recv_fd_into(sock, vec![0u8; 4096])
}

/// Receives one message into `buf` (truncated to what arrived) and the fd
/// attached to it, if any.
pub(crate) fn recv_fd_into(
    sock: impl AsFd,
    mut buf: Vec<u8>,
) -> std::io::Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    buf.truncate(msg.bytes);
    let mut fd = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for f in fds {
                fd.get_or_insert(f);
            }
        }
    }
    Ok((buf, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_an_fd_with_its_data() {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_fd(&a, b"name", r.as_fd()).unwrap();
        let (data, fd) = recv_fd(&b).unwrap();
        assert_eq!(data, b"name");
        rustix::io::write(&w, b"x").unwrap();
        let mut got = [0u8; 1];
        rustix::io::read(fd.unwrap(), &mut got).unwrap();
        assert_eq!(&got, b"x");
    }
}
