//! A minimal blocking D-Bus client for talking to systemd as root.
//!
//! Why not a crate: the maintained ones (zbus, dbus-rs) bring an async
//! runtime or libdbus, while the driver needs a handful of calls on one
//! socket. This speaks SASL EXTERNAL, marshals the few signatures systemd's
//! Manager takes and reads method returns, errors and the JobRemoved signal.
//!
//! systemd's private socket is tried first: it needs no dbus-daemon, and
//! systemd sends its signals to every private connection unasked. The system
//! bus is the fallback (a container of the runtime may only see that one):
//! there the connection must say Hello, match JobRemoved and Subscribe.
//! A rootless caller talks to its own user manager the same way: its
//! private socket in `$XDG_RUNTIME_DIR/systemd/`, else the session bus
//! (`$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`).

pub(crate) mod wire;

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wire::{Call, Message, Writer};

/// systemd's own socket, served by PID 1 (root only).
pub(crate) const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus, served by dbus-daemon or dbus-broker.
pub(crate) const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// What went wrong talking to systemd over D-Bus.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The bus socket could not be reached.
    #[error("connecting to {}: {source}", path.display())]
    Connect {
        /// The socket's path.
        path: PathBuf,
        /// The kernel's error.
        source: io::Error,
    },
    /// A user manager was asked for, and the environment names none.
    #[error("no user bus: {0}")]
    NoUserBus(String),
    /// The SASL handshake with the bus failed.
    #[error("D-Bus authentication: {0}")]
    Auth(String),
    /// Reading or writing the socket failed.
    #[error("D-Bus socket: {0}")]
    Io(#[from] io::Error),
    /// A message hull could not make sense of.
    #[error("D-Bus protocol: {0}")]
    Protocol(String),
    /// An error reply: its name and message.
    #[error("{name}: {message}")]
    Remote {
        /// The D-Bus error name, e.g. `org.freedesktop.systemd1.NoSuchUnit`.
        name: String,
        /// Its human-readable message.
        message: String,
    },
    /// systemd did not answer, or the job did not finish, in time; the
    /// text says what hull was waiting for.
    #[error("no answer from systemd within the deadline while {0}")]
    Timeout(String),
}

impl DbusError {
    /// The D-Bus error name of an error reply.
    pub(crate) fn remote_name(&self) -> Option<&str> {
        match self {
            DbusError::Remote { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The user manager's private socket and the session bus, from the
/// environment a login gives (runc reads the same variables).
fn user_sockets() -> Result<(Option<PathBuf>, PathBuf), DbusError> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").ok();
    let bus = address
        .as_deref()
        .and_then(|a| a.split(';').find_map(|a| a.strip_prefix("unix:")))
        .and_then(|kv| kv.split(',').find_map(|kv| kv.strip_prefix("path=")))
        .map(PathBuf::from);
    match (xdg, bus) {
        (Some(x), bus) => {
            let x = PathBuf::from(x);
            let bus = bus.unwrap_or_else(|| x.join("bus"));
            Ok((Some(x.join("systemd/private")), bus))
        }
        (None, Some(bus)) => Ok((None, bus)),
        (None, None) => Err(DbusError::NoUserBus(
            "neither XDG_RUNTIME_DIR nor a unix:path= DBUS_SESSION_BUS_ADDRESS is set (a login session sets them; `loginctl enable-linger USER` starts the user manager)".into(),
        )),
    }
}

/// One connection; calls are sequential, signals seen meanwhile are kept
/// until someone waits for them.
pub(crate) struct Conn {
    sock: UnixStream,
    serial: u32,
    /// On the bus, calls need a destination; on the private socket there
    /// is only one peer.
    bus: bool,
    signals: Vec<Message>,
}

impl Conn {
    /// A connection to PID 1, or with `user` to the caller's own user
    /// manager.
    pub(crate) fn connect(user: bool, deadline: Instant) -> Result<Conn, DbusError> {
        let (private, bus) = if user {
            user_sockets()?
        } else {
            (
                Some(PathBuf::from(PRIVATE_SOCKET)),
                PathBuf::from(SYSTEM_BUS),
            )
        };
        let Some(private) = private else {
            return Conn::open(&bus, true, deadline);
        };
        match Conn::open(&private, false, deadline) {
            Ok(c) => Ok(c),
            Err(private) => {
                tracing::debug!("systemd private socket: {private}; trying the bus");
                // Without a bus, what went wrong with systemd's own socket
                // is the error worth reporting.
                Conn::open(&bus, true, deadline).map_err(|bus| match bus {
                    DbusError::Connect { .. } => private,
                    other => other,
                })
            }
        }
    }

    fn open(path: &Path, bus: bool, deadline: Instant) -> Result<Conn, DbusError> {
        let sock = UnixStream::connect(path).map_err(|source| DbusError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Conn {
            sock,
            serial: 0,
            bus,
            signals: Vec::new(),
        };
        c.auth(deadline)?;
        if bus {
            c.call(
                &c.bus_call("Hello", "", Vec::new()),
                deadline,
                "saying Hello to the bus",
            )?;
            let mut w = Writer::new();
            w.str("type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'");
            c.call(
                &c.bus_call("AddMatch", "s", w.into_bytes()),
                deadline,
                "subscribing to JobRemoved",
            )?;
            // Without a subscriber systemd does not emit on the bus at all.
            c.call(
                &manager_call("Subscribe", "", Vec::new()),
                deadline,
                "subscribing to systemd",
            )?;
        }
        Ok(c)
    }

    fn bus_call(
        &self,
        member: &'static str,
        signature: &'static str,
        body: Vec<u8>,
    ) -> Call<'static> {
        Call {
            destination: Some("org.freedesktop.DBus"),
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member,
            signature,
            body,
        }
    }

    fn set_deadline(&self, deadline: Instant, what: &str) -> Result<(), DbusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DbusError::Timeout(what.to_string()));
        }
        self.sock.set_read_timeout(Some(left))?;
        self.sock.set_write_timeout(Some(left))?;
        Ok(())
    }

    fn timeout_or(e: io::Error, what: &str) -> DbusError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                DbusError::Timeout(what.to_string())
            }
            _ => DbusError::Io(e),
        }
    }

    /// SASL EXTERNAL with our uid; the server checks it against the
    /// socket's peer credentials, which it sees in its own user namespace:
    /// root of rootless podman's namespace is its user there, so the uid
    /// goes through our uid_map (runc asks `busctl --user` for it).
    ///
    /// BEGIN goes in the same write as AUTH (sd-bus clients do the same).
    /// sd-bus, serving systemd's private socket, reads whatever follows
    /// BEGIN into its buffer but only parses it on the next wakeup of the
    /// socket: a call that arrives together with BEGIN would sit there
    /// unanswered. Sent with AUTH, BEGIN is processed before our OK comes
    /// back, so the first call always arrives on its own.
    fn auth(&mut self, deadline: Instant) -> Result<(), DbusError> {
        const WHAT: &str = "authenticating";
        self.set_deadline(deadline, WHAT)?;
        let uid = crate::outside_uid().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n");
        self.sock
            .write_all(hello.as_bytes())
            .map_err(|e| Self::timeout_or(e, WHAT))?;
        // The server says nothing after OK, so reading byte by byte cannot
        // swallow the start of a message.
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                return Err(DbusError::Auth("overlong reply".into()));
            }
            match self.sock.read(&mut b) {
                Ok(0) => return Err(DbusError::Auth("connection closed".into())),
                Ok(_) => line.push(b[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Self::timeout_or(e, WHAT)),
            }
        }
        if !line.starts_with(b"OK ") {
            let reply = String::from_utf8_lossy(&line);
            return Err(DbusError::Auth(format!(
                "server replied {:?}",
                reply.trim_end()
            )));
        }
        Ok(())
    }

    fn read_message(&mut self, what: &str) -> Result<Message, DbusError> {
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| Self::timeout_or(e, what))?;
        let len = wire::message_len(&head)?;
        let mut buf = vec![0u8; len];
        buf[..16].copy_from_slice(&head);
        self.sock
            .read_exact(&mut buf[16..])
            .map_err(|e| Self::timeout_or(e, what))?;
        wire::decode(&buf)
    }

    /// Sends `call` and returns its reply; an error reply is an error.
    pub(crate) fn call(
        &mut self,
        call: &Call,
        deadline: Instant,
        what: &str,
    ) -> Result<Message, DbusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        let msg = call.encode(serial, self.bus);
        self.set_deadline(deadline, what)?;
        self.sock
            .write_all(&msg)
            .map_err(|e| Self::timeout_or(e, what))?;
        loop {
            self.set_deadline(deadline, what)?;
            let m = self.read_message(what)?;
            match m.kind {
                wire::METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m),
                wire::ERROR if m.reply_serial == Some(serial) => {
                    let message = m
                        .body_reader("s")
                        .and_then(|mut r| r.str())
                        .unwrap_or_default();
                    let name = m.error_name.unwrap_or_else(|| "(unnamed error)".into());
                    return Err(DbusError::Remote { name, message });
                }
                wire::SIGNAL if m.member.as_deref() == Some("JobRemoved") => self.signals.push(m),
                // Other signals (NameAcquired, UnitNew...) are not ours.
                _ => {}
            }
        }
    }

    /// Waits for systemd's JobRemoved signal for `job` and returns the
    /// job's result ("done", "failed", "canceled", "timeout"...).
    pub(crate) fn wait_job(
        &mut self,
        job: &str,
        deadline: Instant,
        what: &str,
    ) -> Result<String, DbusError> {
        loop {
            while let Some(m) = self.signals.pop() {
                let mut r = m.body_reader("uoss")?;
                let _id = r.u32()?;
                if r.str()? == job {
                    let _unit = r.str()?;
                    return r.str();
                }
            }
            self.set_deadline(deadline, what)?;
            let m = self.read_message(what)?;
            if m.kind == wire::SIGNAL && m.member.as_deref() == Some("JobRemoved") {
                self.signals.push(m);
            }
        }
    }
}

/// A call to systemd's Manager object.
pub(crate) fn manager_call(
    member: &'static str,
    signature: &'static str,
    body: Vec<u8>,
) -> Call<'static> {
    Call {
        destination: Some("org.freedesktop.systemd1"),
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member,
        signature,
        body,
    }
}

/// A Properties.Get of the Manager object.
pub(crate) fn manager_property(name: &str) -> Call<'static> {
    property(
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        name,
    )
}

/// A Properties.Get of `interface.name` on the object at `path`.
pub(crate) fn property<'a>(path: &'a str, interface: &str, name: &str) -> Call<'a> {
    let mut w = Writer::new();
    w.str(interface);
    w.str(name);
    Call {
        destination: Some("org.freedesktop.systemd1"),
        path,
        interface: "org.freedesktop.DBus.Properties",
        member: "Get",
        signature: "ss",
        body: w.into_bytes(),
    }
}
