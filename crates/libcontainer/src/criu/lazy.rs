//! Lazy migration and page servers: `--page-server ADDRESS:PORT`,
//! `--lazy-pages` and the `--status-fd` readiness byte (runc's flags).
//!
//! In a lazy dump CRIU itself becomes the page server the restoring side's
//! `criu lazy-pages` daemon pulls the memory from. Over RPC, CRIU takes
//! only the port of `ps` for that server and listens on every address
//! (cr-service.c sets the address only for a plain page-server dump), which
//! would offer the container's memory to every network the runtime
//! reaches. The address is therefore also given in an RPC configuration
//! file, which CRIU reads after the RPC options; it lives in a sealed
//! memfd, so nothing is left on disk.

use std::{
    net::IpAddr,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
};

use rust_criu::rust_criu_protobuf::rpc::{Criu_opts, Criu_page_server_info};

use super::CriuError;

/// Where a page server listens (lazy dump) or is reached (plain dump).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageServer {
    /// The address.
    pub address: IpAddr,
    /// The TCP port.
    pub port: u16,
}

impl std::str::FromStr for PageServer {
    type Err = CriuError;

    /// `ADDRESS:PORT`, an IPv6 address in brackets (`[::1]:27`). CRIU
    /// resolves no names, so the address must be a literal.
    fn from_str(s: &str) -> Result<Self, CriuError> {
        let bad = |why: String| CriuError::Invalid {
            option: "--page-server",
            reason: format!("{s:?}: {why}; expected ADDRESS:PORT"),
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port".into()))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || port.is_empty() {
            return Err(bad("an empty address or port".into()));
        }
        let address = host
            .parse::<IpAddr>()
            .map_err(|_| bad(format!("{host:?} is not an IP address")))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(format!("{port:?} is not a port number (1-65535)")))?;
        Ok(PageServer { address, port })
    }
}

impl PageServer {
    /// Puts the server into `o`. For a lazy dump the returned memfd holds
    /// the configuration file naming the address; it must stay open until
    /// CRIU has answered (CRIU opens it through `/proc/<our pid>/fd`).
    pub(crate) fn fill(&self, o: &mut Criu_opts, lazy: bool) -> Result<Option<OwnedFd>, CriuError> {
        let mut ps = Criu_page_server_info::new();
        ps.set_address(self.address.to_string());
        ps.set_port(i32::from(self.port));
        o.ps = protobuf::MessageField::some(ps);
        if !lazy {
            return Ok(None);
        }
        let conf = config_memfd(&format!("address {}\n", self.address))?;
        o.set_config_file(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            conf.as_raw_fd()
        ));
        Ok(Some(conf))
    }
}

/// A sealed memfd holding `text`, for CRIU to read as a config file.
fn config_memfd(text: &str) -> Result<OwnedFd, CriuError> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let io = |e: rustix::io::Errno| CriuError::Io {
        context: "the CRIU configuration memfd".into(),
        source: e.into(),
    };
    let fd = rustix::fs::memfd_create(
        "hull-criu.conf",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(io)?;
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let n = rustix::io::write(&fd, rest).map_err(io)?;
        rest = &rest[n..];
    }
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL,
    )
    .map_err(io)?;
    Ok(fd)
}

/// The pipe size CRIU's page server asks for when it serves lazy pages
/// (`PIPE_MAX_SIZE` pages: as many 40-byte pipe buffers as fit in an
/// order-3 allocation); page-pipe.c ignores the failure and then fails
/// the first page the restoring side asks for.
const LAZY_PIPE_BYTES: u64 = (8 * 4096 / 40) * 4096;

/// Before a lazy dump freezes anything: CRIU can make the pipes its page
/// server needs. Above fs.pipe-max-size that takes CAP_SYS_RESOURCE.
pub(crate) fn check_pipe_size() -> Result<(), CriuError> {
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let privileged = crate::caps::effective_has(rustix::thread::CapabilitySet::SYS_RESOURCE);
    if max >= LAZY_PIPE_BYTES || privileged {
        return Ok(());
    }
    Err(CriuError::Unsupported {
        option: "--lazy-pages",
        reason: format!(
            "CRIU's page server needs pipes of {LAZY_PIPE_BYTES} bytes, above fs.pipe-max-size ({max}), and this runtime lacks CAP_SYS_RESOURCE to exceed it"
        ),
    })
}

/// CRIU's FEATURE_CHECK said no to lazy pages.
pub(crate) fn unsupported() -> CriuError {
    CriuError::Unsupported {
        option: "--lazy-pages",
        reason: "CRIU reports no lazy pages on this kernel (non-cooperative userfaultfd)".into(),
    }
}

/// Where CRIU's lazy restore finds the `criu lazy-pages` daemon: its
/// socket, relative to the work dir of both (uffd.c).
pub(crate) const DAEMON_SOCKET: &str = "lazy-pages.socket";

/// Before a lazy restore makes anything: userfaultfd works, and a
/// `criu lazy-pages` daemon listens in `work_dir` (the daemon's own work
/// dir, by default its `--images-dir`).
pub(crate) fn check_restore(
    criu: &std::path::Path,
    work_dir: &std::path::Path,
) -> Result<(), CriuError> {
    let mut want = rust_criu::rust_criu_protobuf::rpc::Criu_features::new();
    want.set_lazy_pages(true);
    if !super::check_features(criu, want)?.lazy_pages() {
        return Err(unsupported());
    }
    let sock = work_dir.join(DAEMON_SOCKET);
    let is_socket = std::fs::symlink_metadata(&sock)
        .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
    if !is_socket {
        return Err(CriuError::Invalid {
            option: "--lazy-pages",
            reason: format!(
                "no lazy-pages daemon socket at {}: start `criu lazy-pages --page-server --address ADDRESS --port PORT --images-dir DIR` first, with this restore's work dir (--work-path, else --image-path) as its work dir",
                sock.display()
            ),
        });
    }
    Ok(())
}

/// Errors unless `fd` is open for writing (runc checks the same before a
/// lazy dump, so a wrong number fails at once rather than at readiness).
pub(crate) fn check_status_fd(fd: BorrowedFd<'_>) -> Result<(), CriuError> {
    let bad = |why: String| CriuError::Invalid {
        option: "--status-fd",
        reason: format!("fd {}: {why}", fd.as_raw_fd()),
    };
    let flags = rustix::fs::fcntl_getfl(fd).map_err(|e| bad(e.to_string()))?;
    let mode = flags & rustix::fs::OFlags::RWMODE;
    if mode != rustix::fs::OFlags::WRONLY && mode != rustix::fs::OFlags::RDWR {
        return Err(bad("not open for writing".into()));
    }
    Ok(())
}

/// CRIU's "status-ready" notification: the page server listens. Writes
/// the byte runc writes (`\0`). A reader that went away does not stop the
/// migration (runc only warns too).
pub(crate) fn signal_ready(fd: Option<&OwnedFd>) {
    let Some(fd) = fd else { return };
    if let Err(e) = rustix::io::write(fd.as_fd(), &[0u8]) {
        tracing::warn!(
            "--status-fd {}: writing the ready byte: {e}",
            fd.as_raw_fd()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_server_parses_runc_forms() {
        let p: PageServer = "127.0.0.1:27277".parse().unwrap();
        assert_eq!(p.address.to_string(), "127.0.0.1");
        assert_eq!(p.port, 27277);
        let p: PageServer = "[::1]:8".parse().unwrap();
        assert_eq!(p.address.to_string(), "::1");
        for (bad, why) in [
            ("127.0.0.1", "no port"),
            (":27", "empty"),
            ("127.0.0.1:", "empty"),
            ("localhost:27", "not an IP address"),
            ("127.0.0.1:0", "not a port"),
            ("127.0.0.1:70000", "not a port"),
        ] {
            let e = bad.parse::<PageServer>().unwrap_err().to_string();
            assert!(
                e.starts_with("--page-server: ") && e.contains(why),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn lazy_page_server_names_its_address_in_a_config_file() {
        let p: PageServer = "127.0.0.1:27277".parse().unwrap();
        let mut o = Criu_opts::new();
        assert!(p.fill(&mut o, false).unwrap().is_none());
        assert_eq!(o.ps.port(), 27277);
        assert!(!o.has_config_file());
        let conf = p.fill(&mut o, true).unwrap().expect("a config memfd");
        let text = std::fs::read_to_string(o.config_file()).unwrap();
        assert_eq!(text, "address 127.0.0.1\n");
        drop(conf);
    }

    #[test]
    fn status_fd_must_be_writable() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        check_status_fd(w.as_fd()).unwrap();
        let e = check_status_fd(r.as_fd()).unwrap_err().to_string();
        assert!(
            e.starts_with("--status-fd: ") && e.contains("not open for writing"),
            "{e}"
        );
        signal_ready(Some(&w));
        let mut b = [1u8; 2];
        assert_eq!(rustix::io::read(&r, &mut b).unwrap(), 1);
        assert_eq!(b[0], 0);
    }
}
