//! A small rtnetlink client: the five requests moving a network device
//! needs (get a link, change a link, list, add and delete addresses), over
//! a blocking NETLINK_ROUTE socket.
//!
//! The layouts are the kernel's ABI (linux/netlink.h, rtnetlink.h,
//! if_link.h, if_addr.h); the constants below are copied from there. A
//! socket belongs to the network namespace it was created in, whatever
//! namespace the thread using it is in later: [`Socket::in_netns`] makes
//! one in another namespace from a short-lived thread, so the caller's
//! threads never change namespace.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{BorrowedFd, OwnedFd},
    time::Duration,
};

use rustix::net::{
    netlink::SocketAddrNetlink, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_NET_NS_FD: u16 = 28;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;

const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

/// A reply that never comes (it cannot, on a local socket, but a bug
/// must not hang create or delete) ends the request with EAGAIN.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an address dump the kernel flags as interrupted (the table
/// changed while it was read) is tried again.
const DUMP_TRIES: usize = 5;

/// What a request does with each reply message: (type, flags, payload).
type OnMessage<'a> = dyn FnMut(u16, u16, &[u8]) -> io::Result<()> + 'a;

/// A network interface as RTM_GETLINK reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub mtu: u32,
}

/// An interface address, as far as re-adding it elsewhere needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Address {
    /// The interface's own address (IFA_LOCAL, or IFA_ADDRESS where only
    /// that is given, as for IPv6).
    pub local: IpAddr,
    /// The other end of a point-to-point link, when it differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    pub prefix_len: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Ipv4Addr>,
    #[serde(skip)]
    flags: u32,
    #[serde(skip)]
    scope: u8,
}

impl Address {
    /// What the runtime spec has moved with a device: permanent addresses
    /// of global scope (configured, not learnt or link-local).
    pub fn is_permanent_global(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 && self.scope == RT_SCOPE_UNIVERSE
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.local, self.prefix_len)?;
        if let Some(p) = self.peer {
            write!(f, " peer {p}")?;
        }
        Ok(())
    }
}

/// What [`Socket::set_link`] changes; `None` leaves a property as it is.
#[derive(Debug, Default)]
pub(crate) struct LinkChange<'a> {
    pub name: Option<&'a str>,
    pub netns: Option<BorrowedFd<'a>>,
    pub up: Option<bool>,
}

/// A NETLINK_ROUTE socket in the network namespace it was made in.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> io::Result<Socket> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None, // NETLINK_ROUTE
        )?;
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(RECV_TIMEOUT),
        )?;
        Ok(Socket { fd, seq: 0 })
    }

    /// A socket in the network namespace `ns` (an nsfs fd), made by a
    /// thread that enters it and ends: no thread of the caller moves.
    pub fn in_netns(ns: BorrowedFd<'_>) -> io::Result<Socket> {
        std::thread::scope(|s| {
            s.spawn(|| {
                rustix::thread::move_into_link_name_space(
                    ns,
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                Socket::new()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the netlink thread panicked")))
        })
    }

    pub fn link_by_name(&mut self, name: &str) -> io::Result<Link> {
        let mut attrs = Vec::new();
        put_attr(&mut attrs, IFLA_IFNAME, &c_string(name));
        self.get_link(0, &attrs)
    }

    pub fn link_by_index(&mut self, index: u32) -> io::Result<Link> {
        self.get_link(index, &[])
    }

    fn get_link(&mut self, index: u32, attrs: &[u8]) -> io::Result<Link> {
        let mut body = ifinfomsg(index, 0, 0);
        body.extend_from_slice(attrs);
        let mut found = None;
        self.request(RTM_GETLINK, 0, &body, |ty, payload| {
            if ty == RTM_NEWLINK {
                found = Some(parse_link(payload)?);
            }
            Ok(())
        })?;
        found.ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Renames, moves (to the namespace `change.netns`) and/or sets the
    /// device up or down, in one request: a rename with a move is atomic,
    /// so the new name never clashes in the namespace being left.
    pub fn set_link(&mut self, index: u32, change: &LinkChange<'_>) -> io::Result<()> {
        let (flags, mask) = match change.up {
            Some(true) => (IFF_UP, IFF_UP),
            Some(false) => (0, IFF_UP),
            None => (0, 0),
        };
        let mut body = ifinfomsg(index, flags, mask);
        if let Some(name) = change.name {
            put_attr(&mut body, IFLA_IFNAME, &c_string(name));
        }
        if let Some(ns) = change.netns {
            use std::os::fd::AsRawFd;
            let fd = u32::try_from(ns.as_raw_fd()).map_err(io::Error::other)?;
            put_attr(&mut body, IFLA_NET_NS_FD, &fd.to_ne_bytes());
        }
        self.request(RTM_NEWLINK, 0, &body, |_, _| Ok(()))
    }

    /// Every address on the interface `index`.
    pub fn addresses(&mut self, index: u32) -> io::Result<Vec<Address>> {
        let mut body = vec![0u8; IFADDRMSG_LEN];
        body[0] = AF_UNSPEC;
        for _ in 0..DUMP_TRIES {
            let mut out = Vec::new();
            let mut interrupted = false;
            self.dump(RTM_GETADDR, &body, &mut interrupted, |ty, payload| {
                if ty == RTM_NEWADDR {
                    if let Some((i, a)) = parse_address(payload)? {
                        if i == index {
                            out.push(a);
                        }
                    }
                }
                Ok(())
            })?;
            if !interrupted {
                return Ok(out);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the address list kept changing while it was read",
        ))
    }

    /// Adds `a` to the interface `index`; an address already there is an
    /// error (EEXIST).
    pub fn add_address(&mut self, index: u32, a: &Address) -> io::Result<()> {
        let (family, local, peer) = match (a.local, a.peer.unwrap_or(a.local)) {
            (IpAddr::V4(l), IpAddr::V4(p)) => (AF_INET, l.octets().to_vec(), p.octets().to_vec()),
            (IpAddr::V6(l), IpAddr::V6(p)) => (AF_INET6, l.octets().to_vec(), p.octets().to_vec()),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{a}: the peer is of another family"),
                ))
            }
        };
        let mut body = vec![family, a.prefix_len, 0, RT_SCOPE_UNIVERSE];
        body.extend_from_slice(&index.to_ne_bytes());
        put_attr(&mut body, IFA_LOCAL, &local);
        put_attr(&mut body, IFA_ADDRESS, &peer);
        if let Some(b) = a.broadcast {
            put_attr(&mut body, IFA_BROADCAST, &b.octets());
        }
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body, |_, _| Ok(()))
    }

    fn send(&mut self, ty: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let len = u32::try_from(NLMSG_HDRLEN + body.len()).map_err(io::Error::other)?;
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + body.len());
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        rustix::net::sendto(
            &self.fd,
            &msg,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        Ok(self.seq)
    }

    /// One request acknowledged by the kernel; `each` sees every reply
    /// message before the acknowledgement.
    fn request(
        &mut self,
        ty: u16,
        flags: u16,
        body: &[u8],
        mut each: impl FnMut(u16, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let seq = self.send(ty, flags | NLM_F_ACK, body)?;
        self.receive(seq, &mut |ty, _, payload| each(ty, payload))
    }

    /// A dump request: `each` sees every message up to NLMSG_DONE;
    /// `interrupted` says whether the kernel flagged the dump inconsistent.
    fn dump(
        &mut self,
        ty: u16,
        body: &[u8],
        interrupted: &mut bool,
        mut each: impl FnMut(u16, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let seq = self.send(ty, NLM_F_DUMP, body)?;
        self.receive(seq, &mut |ty, flags, payload| {
            *interrupted |= flags & NLM_F_DUMP_INTR != 0;
            each(ty, payload)
        })
    }

    /// Reads replies to `seq` until the acknowledgement (NLMSG_ERROR with
    /// error 0), an error, or the end of a dump.
    fn receive(&mut self, seq: u32, each: &mut OnMessage<'_>) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (_, n) = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty())?;
            let mut rest = buf.get(..n).unwrap_or_default();
            while rest.len() >= NLMSG_HDRLEN {
                let len = u32_at(rest, 0) as usize;
                if len < NLMSG_HDRLEN || len > rest.len() {
                    return Err(malformed("message length"));
                }
                let ty = u16_at(rest, 4);
                let flags = u16_at(rest, 6);
                let msg_seq = u32_at(rest, 8);
                let payload = &rest[NLMSG_HDRLEN..len];
                rest = rest.get(align(len)..).unwrap_or_default();
                if msg_seq != seq {
                    continue;
                }
                match ty {
                    NLMSG_ERROR => {
                        if payload.len() < 4 {
                            return Err(malformed("error message"));
                        }
                        let errno =
                            i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        return match errno {
                            0 => Ok(()),
                            e => Err(io::Error::from_raw_os_error(-e)),
                        };
                    }
                    NLMSG_DONE => return Ok(()),
                    _ => each(ty, flags, payload)?,
                }
            }
        }
    }
}

fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(IFINFOMSG_LEN);
    m.push(AF_UNSPEC);
    m.push(0);
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&change.to_ne_bytes());
    m
}

fn parse_link(payload: &[u8]) -> io::Result<Link> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(malformed("link message"));
    }
    let index = u32_at(payload, 4);
    let flags = u32_at(payload, 8);
    let mut link = Link {
        index,
        name: String::new(),
        up: flags & IFF_UP != 0,
        mtu: 0,
    };
    for (ty, data) in attrs(&payload[IFINFOMSG_LEN..]) {
        match ty {
            IFLA_IFNAME => {
                let name = data.split(|b| *b == 0).next().unwrap_or_default();
                link.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_MTU if data.len() >= 4 => link.mtu = u32_at(data, 0),
            _ => {}
        }
    }
    Ok(link)
}

/// The interface index and the address of an RTM_NEWADDR message; None
/// for families other than IPv4 and IPv6.
fn parse_address(payload: &[u8]) -> io::Result<Option<(u32, Address)>> {
    if payload.len() < IFADDRMSG_LEN {
        return Err(malformed("address message"));
    }
    let (family, prefix_len, flags8, scope) = (payload[0], payload[1], payload[2], payload[3]);
    let index = u32_at(payload, 4);
    let ip = |data: &[u8]| -> Option<IpAddr> {
        match family {
            AF_INET => <[u8; 4]>::try_from(data).ok().map(IpAddr::from),
            AF_INET6 => <[u8; 16]>::try_from(data)
                .ok()
                .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
            _ => None,
        }
    };
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let (mut local, mut address, mut broadcast) = (None, None, None);
    let mut flags = u32::from(flags8);
    for (ty, data) in attrs(&payload[IFADDRMSG_LEN..]) {
        match ty {
            IFA_LOCAL => local = ip(data),
            IFA_ADDRESS => address = ip(data),
            IFA_BROADCAST => {
                broadcast = <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from);
            }
            // The full flag word; the header's byte holds only the low 8.
            IFA_FLAGS if data.len() >= 4 => flags = u32_at(data, 0),
            _ => {}
        }
    }
    let Some(own) = local.or(address) else {
        return Err(malformed("address without IFA_LOCAL or IFA_ADDRESS"));
    };
    Ok(Some((
        index,
        Address {
            local: own,
            peer: address.filter(|a| *a != own),
            prefix_len,
            broadcast,
            flags,
            scope,
        },
    )))
}

/// The (type, payload) pairs of a run of rtattrs; a truncated one ends it.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16_at(buf, 0));
        let ty = u16_at(buf, 2) & 0x3fff; // without NLA_F_NESTED / NET_BYTEORDER
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = buf.get(align(len)..).unwrap_or_default();
        Some((ty, data))
    })
}

fn put_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + align(len) - len, 0);
}

fn c_string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed netlink reply: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_with_padding() {
        let mut buf = Vec::new();
        put_attr(&mut buf, IFLA_IFNAME, &c_string("eth0"));
        put_attr(&mut buf, IFLA_MTU, &1400u32.to_ne_bytes());
        assert_eq!(buf.len() % 4, 0);
        let got: Vec<(u16, Vec<u8>)> = attrs(&buf).map(|(t, d)| (t, d.to_vec())).collect();
        assert_eq!(got[0], (IFLA_IFNAME, b"eth0\0".to_vec()));
        assert_eq!(got[1], (IFLA_MTU, 1400u32.to_ne_bytes().to_vec()));
        // A truncated attribute ends the walk instead of reading past it.
        assert_eq!(attrs(&buf[..6]).count(), 0);
    }

    #[test]
    fn link_message_parses() {
        let mut m = ifinfomsg(7, IFF_UP, 0);
        put_attr(&mut m, IFLA_IFNAME, &c_string("veth1"));
        put_attr(&mut m, IFLA_MTU, &1400u32.to_ne_bytes());
        assert_eq!(
            parse_link(&m).unwrap(),
            Link {
                index: 7,
                name: "veth1".into(),
                up: true,
                mtu: 1400
            }
        );
        assert!(parse_link(&m[..8]).is_err());
    }

    #[test]
    fn address_message_parses_and_filters() {
        let mut m = vec![AF_INET, 24, 0x80, RT_SCOPE_UNIVERSE];
        m.extend_from_slice(&3u32.to_ne_bytes());
        put_attr(&mut m, IFA_ADDRESS, &[10, 9, 0, 1]);
        put_attr(&mut m, IFA_LOCAL, &[10, 9, 0, 1]);
        put_attr(&mut m, IFA_BROADCAST, &[10, 9, 0, 255]);
        let (index, a) = parse_address(&m).unwrap().unwrap();
        assert_eq!(index, 3);
        assert_eq!(a.to_string(), "10.9.0.1/24");
        assert_eq!(a.peer, None);
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(10, 9, 0, 255)));
        assert!(a.is_permanent_global());

        // IFA_FLAGS overrides the header byte; link scope is left behind.
        let mut m = vec![AF_INET6, 64, 0x80, 253];
        m.extend_from_slice(&3u32.to_ne_bytes());
        put_attr(
            &mut m,
            IFA_ADDRESS,
            &[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        put_attr(&mut m, IFA_FLAGS, &0u32.to_ne_bytes());
        let (_, a) = parse_address(&m).unwrap().unwrap();
        assert_eq!(a.to_string(), "fe80::1/64");
        assert!(!a.is_permanent_global());

        // A point-to-point address keeps its peer.
        let mut m = vec![AF_INET, 32, 0x80, RT_SCOPE_UNIVERSE];
        m.extend_from_slice(&3u32.to_ne_bytes());
        put_attr(&mut m, IFA_LOCAL, &[10, 0, 0, 1]);
        put_attr(&mut m, IFA_ADDRESS, &[10, 0, 0, 2]);
        let (_, a) = parse_address(&m).unwrap().unwrap();
        assert_eq!(a.to_string(), "10.0.0.1/32 peer 10.0.0.2");

        let mut m = vec![17, 0, 0, 0];
        m.extend_from_slice(&3u32.to_ne_bytes());
        assert!(parse_address(&m).unwrap().is_none());
    }

    /// The calling thread's own namespace, read through the kernel: the
    /// loopback device is always index 1 and named "lo".
    #[test]
    fn loopback_is_found_by_name_and_index() {
        let mut s = Socket::new().unwrap();
        let lo = s.link_by_name("lo").unwrap();
        assert_eq!(lo.index, 1);
        assert_eq!(s.link_by_index(1).unwrap().name, "lo");
        let e = s.link_by_name("hull-no-such0").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        // The dump completes and keeps only lo's addresses.
        for a in s.addresses(1).unwrap() {
            assert!(a.local.is_loopback(), "{a}");
        }
    }
}
