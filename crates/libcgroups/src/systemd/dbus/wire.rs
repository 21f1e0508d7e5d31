//! D-Bus wire format, reduced to the types the systemd driver sends and
//! receives: `y b u t s o g`, arrays, structs and variants. Messages are
//! written little-endian; messages of either byte order are read.
//!
//! Alignment is relative to the start of the message. A body starts at an
//! 8-aligned offset, so a body marshalled into a buffer of its own has the
//! same padding it will have in the message.

use super::DbusError;

/// Message types (the second header byte).
pub(crate) const METHOD_CALL: u8 = 1;
pub(crate) const METHOD_RETURN: u8 = 2;
pub(crate) const ERROR: u8 = 3;
pub(crate) const SIGNAL: u8 = 4;

// Header field codes.
const F_PATH: u8 = 1;
const F_INTERFACE: u8 = 2;
const F_MEMBER: u8 = 3;
const F_ERROR_NAME: u8 = 4;
const F_REPLY_SERIAL: u8 = 5;
const F_DESTINATION: u8 = 6;
const F_SIGNATURE: u8 = 8;

/// The specification's limit on a whole message.
pub(crate) const MAX_MESSAGE: usize = 128 << 20;

/// A value inside a variant: what unit properties are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Variant {
    Str(String),
    Bool(bool),
    U64(u64),
    U32s(Vec<u32>),
    Bytes(Vec<u8>),
    /// `a(ss)`, e.g. DeviceAllow's (path, access) pairs.
    StrPairs(Vec<(String, String)>),
}

impl Variant {
    fn signature(&self) -> &'static str {
        match self {
            Variant::Str(_) => "s",
            Variant::Bool(_) => "b",
            Variant::U64(_) => "t",
            Variant::U32s(_) => "au",
            Variant::Bytes(_) => "ay",
            Variant::StrPairs(_) => "a(ss)",
        }
    }
}

/// A unit's properties, as StartTransientUnit and SetUnitProperties take
/// them.
pub(crate) type Props = Vec<(&'static str, Variant)>;

/// Marshals values in order, padding each to its alignment.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn pad(&mut self, align: usize) {
        self.buf.resize(self.buf.len().next_multiple_of(align), 0);
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.u32(u32::from(v));
    }

    /// `s` and `o`: u32 length, bytes, NUL. Lengths come from our own
    /// strings (unit names, property names), far below u32::MAX.
    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// `g`: u8 length, bytes, NUL (signatures are at most 255 bytes).
    pub(crate) fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements have alignment `elem_align`; the length
    /// counts the element bytes only, not the padding after it.
    pub(crate) fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Writer)) {
        self.pad(4);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.pad(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    pub(crate) fn struct_start(&mut self) {
        self.pad(8);
    }

    pub(crate) fn variant(&mut self, v: &Variant) {
        self.sig(v.signature());
        match v {
            Variant::Str(s) => self.str(s),
            Variant::Bool(b) => self.bool(*b),
            Variant::U64(n) => self.u64(*n),
            Variant::U32s(list) => self.array(4, |w| list.iter().for_each(|n| w.u32(*n))),
            Variant::Bytes(b) => self.array(1, |w| w.buf.extend_from_slice(b)),
            Variant::StrPairs(pairs) => self.array(8, |w| {
                for (a, b) in pairs {
                    w.struct_start();
                    w.str(a);
                    w.str(b);
                }
            }),
        }
    }

    /// `a(sv)`: unit properties.
    pub(crate) fn props(&mut self, props: &[(&str, Variant)]) {
        self.array(8, |w| {
            for (name, v) in props {
                w.struct_start();
                w.str(name);
                w.variant(v);
            }
        });
    }
}

/// A method call to send.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub destination: Option<&'a str>,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    /// Signature of `body` ("" for none).
    pub signature: &'a str,
    pub body: Vec<u8>,
}

impl Call<'_> {
    /// The whole message with serial `serial`. Without a bus (systemd's
    /// private socket) there is no one to route by destination: it is left out.
    pub(crate) fn encode(&self, serial: u32, on_bus: bool) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(b'l');
        w.u8(METHOD_CALL);
        w.u8(0);
        w.u8(1);
        w.u32(self.body.len() as u32);
        w.u32(serial);
        let field = |w: &mut Writer, code: u8, sig: &str, val: &str| {
            w.struct_start();
            w.u8(code);
            w.sig(sig);
            if sig == "g" {
                w.sig(val);
            } else {
                w.str(val);
            }
        };
        w.array(8, |w| {
            field(w, F_PATH, "o", self.path);
            field(w, F_INTERFACE, "s", self.interface);
            field(w, F_MEMBER, "s", self.member);
            if let Some(d) = self.destination.filter(|_| on_bus) {
                field(w, F_DESTINATION, "s", d);
            }
            if !self.signature.is_empty() {
                field(w, F_SIGNATURE, "g", self.signature);
            }
        });
        w.pad(8);
        w.buf.extend_from_slice(&self.body);
        w.buf
    }
}

/// A received message: the header fields the driver looks at, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub kind: u8,
    pub big_endian: bool,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Message {
    /// A reader over the body, checking that it has signature `want`.
    pub(crate) fn body_reader(&self, want: &str) -> Result<Reader<'_>, DbusError> {
        if self.signature != want {
            return Err(DbusError::Protocol(format!(
                "expected a body of signature {want:?}, got {:?}",
                self.signature
            )));
        }
        Ok(Reader::new(&self.body, self.big_endian))
    }
}

/// Total length of the message whose first 16 bytes are `head`.
pub(crate) fn message_len(head: &[u8; 16]) -> Result<usize, DbusError> {
    let big = match head[0] {
        b'l' => false,
        b'B' => true,
        b => return Err(DbusError::Protocol(format!("bad endianness byte {b:#x}"))),
    };
    let num = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        (if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }) as usize
    };
    let body = num(&head[4..8]);
    let fields = num(&head[12..16]);
    let header = (16 + fields).next_multiple_of(8);
    let total = header.saturating_add(body);
    if total > MAX_MESSAGE {
        return Err(DbusError::Protocol(format!(
            "message of {total} bytes exceeds the limit"
        )));
    }
    Ok(total)
}

/// Parses one complete message.
pub(crate) fn decode(buf: &[u8]) -> Result<Message, DbusError> {
    let head: &[u8; 16] = buf
        .get(..16)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| DbusError::Protocol("truncated header".into()))?;
    if message_len(head)? != buf.len() {
        return Err(DbusError::Protocol(
            "message length does not match its header".into(),
        ));
    }
    let big = head[0] == b'B';
    let mut r = Reader::new(buf, big);
    r.pos = 1;
    let kind = r.u8()?;
    let _flags = r.u8()?;
    let version = r.u8()?;
    if version != 1 {
        return Err(DbusError::Protocol(format!("protocol version {version}")));
    }
    let body_len = r.u32()? as usize;
    let _serial = r.u32()?;
    let mut m = Message {
        kind,
        big_endian: big,
        reply_serial: None,
        error_name: None,
        path: None,
        interface: None,
        member: None,
        signature: String::new(),
        body: Vec::new(),
    };
    let fields_len = r.u32()? as usize;
    let end = r.pos + fields_len;
    while r.pos < end {
        r.align(8)?;
        let code = r.u8()?;
        let sig = r.sig()?;
        match sig.as_str() {
            "s" | "o" => {
                let s = r.str()?;
                match code {
                    F_PATH => m.path = Some(s),
                    F_INTERFACE => m.interface = Some(s),
                    F_MEMBER => m.member = Some(s),
                    F_ERROR_NAME => m.error_name = Some(s),
                    _ => {}
                }
            }
            "u" => {
                let n = r.u32()?;
                if code == F_REPLY_SERIAL {
                    m.reply_serial = Some(n);
                }
            }
            "g" => {
                let s = r.sig()?;
                if code == F_SIGNATURE {
                    m.signature = s;
                }
            }
            other => {
                return Err(DbusError::Protocol(format!(
                    "header field {code} of type {other:?}"
                )))
            }
        }
    }
    if r.pos != end {
        return Err(DbusError::Protocol(
            "header fields overrun their array".into(),
        ));
    }
    r.align(8)?;
    let body = buf
        .get(r.pos..r.pos + body_len)
        .ok_or_else(|| DbusError::Protocol("truncated body".into()))?;
    m.body = body.to_vec();
    Ok(m)
}

/// Reads values in order from a message or body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], big: bool) -> Reader<'a> {
        Reader { buf, pos: 0, big }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DbusError> {
        let s = self
            .buf
            .get(self.pos..self.pos.saturating_add(n))
            .ok_or_else(|| DbusError::Protocol("truncated message".into()))?;
        self.pos += n;
        Ok(s)
    }

    fn align(&mut self, a: usize) -> Result<(), DbusError> {
        let to = self.pos.next_multiple_of(a);
        self.take(to - self.pos).map(|_| ())
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DbusError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DbusError> {
        self.align(4)?;
        let b = self.take(4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn text(&mut self, len: usize) -> Result<String, DbusError> {
        let b = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(DbusError::Protocol("string without its NUL".into()));
        }
        String::from_utf8(b.to_vec()).map_err(|_| DbusError::Protocol("string is not UTF-8".into()))
    }

    /// `s` or `o`.
    pub(crate) fn str(&mut self) -> Result<String, DbusError> {
        let len = self.u32()? as usize;
        self.text(len)
    }

    pub(crate) fn sig(&mut self) -> Result<String, DbusError> {
        let len = usize::from(self.u8()?);
        self.text(len)
    }

    /// A variant that must hold a byte array (`v` of `ay`).
    pub(crate) fn variant_bytes(&mut self) -> Result<Vec<u8>, DbusError> {
        match self.sig()?.as_str() {
            "ay" => {
                let len = self.u32()? as usize;
                Ok(self.take(len)?.to_vec())
            }
            other => Err(DbusError::Protocol(format!(
                "expected a byte array variant, got {other:?}"
            ))),
        }
    }

    /// A variant that must hold a string (`v` of `s`).
    pub(crate) fn variant_str(&mut self) -> Result<String, DbusError> {
        match self.sig()?.as_str() {
            "s" | "o" => self.str(),
            other => Err(DbusError::Protocol(format!(
                "expected a string variant, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One header field struct (code, variant of `sig`) appended by hand.
    /// Fields start at message offset 16, so offsets in `fields` agree with
    /// message offsets mod 8.
    fn header_field(fields: &mut Vec<u8>, big: bool, code: u8, sig: u8, val: &str) {
        fields.resize(fields.len().next_multiple_of(8), 0);
        fields.extend_from_slice(&[code, 1, sig, 0]);
        if sig == b'g' {
            fields.push(val.len() as u8);
        } else {
            let n = val.len() as u32;
            fields.extend_from_slice(&if big {
                n.to_be_bytes()
            } else {
                n.to_le_bytes()
            });
        }
        fields.extend_from_slice(val.as_bytes());
        fields.push(0);
    }

    /// The bytes of a call built by hand from the specification, field by
    /// field, so the writer is checked against the format and not itself.
    #[test]
    fn stop_unit_call_bytes() {
        let mut body = Writer::new();
        body.str("a.scope");
        body.str("replace");
        let call = Call {
            destination: Some("org.freedesktop.systemd1"),
            path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager",
            member: "StopUnit",
            signature: "ss",
            body: body.into_bytes(),
        };
        let got = call.encode(7, true);
        let mut want: Vec<u8> = Vec::new();
        // 'l', METHOD_CALL, flags 0, version 1, body length 24, serial 7
        want.extend_from_slice(&[b'l', 1, 0, 1, 24, 0, 0, 0, 7, 0, 0, 0]);
        let mut fields: Vec<u8> = Vec::new();
        let mut f = |code: u8, sig: u8, val: &str| header_field(&mut fields, false, code, sig, val);
        f(1, b'o', "/org/freedesktop/systemd1");
        f(2, b's', "org.freedesktop.systemd1.Manager");
        f(3, b's', "StopUnit");
        f(6, b's', "org.freedesktop.systemd1");
        f(8, b'g', "ss");
        want.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        want.extend_from_slice(&fields);
        want.resize(want.len().next_multiple_of(8), 0);
        // "a.scope": length, 7 bytes, NUL = 12; then "replace" at 12
        want.extend_from_slice(&[7, 0, 0, 0]);
        want.extend_from_slice(b"a.scope\0");
        want.extend_from_slice(&[7, 0, 0, 0]);
        want.extend_from_slice(b"replace\0");
        assert_eq!(got, want);
        assert_eq!(got.len(), got.len().next_multiple_of(8));
        assert_eq!(
            message_len(got[..16].try_into().unwrap()).unwrap(),
            got.len()
        );
    }

    #[test]
    fn properties_bytes() {
        let mut w = Writer::new();
        w.u32(0xdead_beef); // leaves the array at offset 4: its body must pad to 8
        w.props(&[
            ("Delegate", Variant::Bool(true)),
            ("MemoryMax", Variant::U64(0x0400_0000)),
            ("PIDs", Variant::U32s(vec![42])),
            ("AllowedCPUs", Variant::Bytes(vec![0x05])),
            ("Slice", Variant::Str("s.slice".into())),
        ]);
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0xef, 0xbe, 0xad, 0xde][..],
            &[140, 0, 0, 0],                          // array length: bytes 8..148
            // 8: ("Delegate", b true)
            &[8, 0, 0, 0], b"Delegate\0", &[1, b'b', 0], &[1, 0, 0, 0],
            // 28: pad to 32; ("MemoryMax", t 64 MiB), the u64 aligned to 8
            &[0, 0, 0, 0],
            &[9, 0, 0, 0], b"MemoryMax\0", &[1, b't', 0], &[0; 7], &[0, 0, 0, 4, 0, 0, 0, 0],
            // 64: ("PIDs", au [42])
            &[4, 0, 0, 0], b"PIDs\0", &[2, b'a', b'u', 0], &[0, 0, 0], &[4, 0, 0, 0], &[42, 0, 0, 0],
            // 88: ("AllowedCPUs", ay [5])
            &[11, 0, 0, 0], b"AllowedCPUs\0", &[2, b'a', b'y', 0], &[1, 0, 0, 0], &[5],
            // 113: pad to 120; ("Slice", s "s.slice")
            &[0; 7],
            &[5, 0, 0, 0], b"Slice\0", &[1, b's', 0], &[0, 0, 0], &[7, 0, 0, 0], b"s.slice\0",
        ].concat();
        let got = w.into_bytes();
        assert_eq!(got, want);
    }

    #[test]
    fn string_pairs_bytes() {
        let mut w = Writer::new();
        w.variant(&Variant::StrPairs(vec![(
            "/dev/char/1:3".into(),
            "rw".into(),
        )]));
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[5, b'a', b'(', b's', b's', b')', 0][..],
            &[0],                                      // pad to 8 for the length
            &[27, 0, 0, 0],                            // array length: bytes 16..43
            &[0, 0, 0, 0],                             // pad to 16 for the struct
            &[13, 0, 0, 0], b"/dev/char/1:3\0", &[0, 0],
            &[2, 0, 0, 0], b"rw\0",
        ].concat();
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn empty_array_of_structs_is_length_and_padding() {
        let mut w = Writer::new();
        w.str("x");
        w.array(8, |_| {});
        // "x": 4 + 2 = 6, pad to 8, length 0, pad to 16 for the element type
        assert_eq!(
            w.into_bytes(),
            [1, 0, 0, 0, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    /// A JobRemoved signal as systemd sends it (little-endian, body uoss).
    fn job_removed(big: bool) -> Vec<u8> {
        let n = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut body = Vec::new();
        let mut put = |v: &[u8]| body.extend_from_slice(v);
        put(&n(12)); // id
        put(&n(32)); // 4..8, the string 8..40, NUL at 40
        put(b"/org/freedesktop/systemd1/job/12\0");
        put(&[0, 0, 0]); // 41: pad to 44
        put(&n(7));
        put(b"a.scope\0"); // 48..56
        put(&n(4));
        put(b"done\0"); // 60..65
        let mut fields = Vec::new();
        let mut f = |code: u8, sig: u8, val: &str| header_field(&mut fields, big, code, sig, val);
        f(1, b'o', "/org/freedesktop/systemd1");
        f(2, b's', "org.freedesktop.systemd1.Manager");
        f(3, b's', "JobRemoved");
        f(8, b'g', "uoss");
        let mut m = vec![if big { b'B' } else { b'l' }, SIGNAL, 1, 1];
        m.extend_from_slice(&n(body.len() as u32));
        m.extend_from_slice(&n(99));
        m.extend_from_slice(&n(fields.len() as u32));
        m.extend_from_slice(&fields);
        m.resize(m.len().next_multiple_of(8), 0);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn decodes_a_job_removed_signal_of_either_byte_order() {
        for big in [false, true] {
            let raw = job_removed(big);
            assert_eq!(
                message_len(raw[..16].try_into().unwrap()).unwrap(),
                raw.len()
            );
            let m = decode(&raw).unwrap();
            assert_eq!(m.kind, SIGNAL);
            assert_eq!(m.member.as_deref(), Some("JobRemoved"));
            assert_eq!(
                m.interface.as_deref(),
                Some("org.freedesktop.systemd1.Manager")
            );
            let mut r = m.body_reader("uoss").unwrap();
            assert_eq!(r.u32().unwrap(), 12);
            assert_eq!(r.str().unwrap(), "/org/freedesktop/systemd1/job/12");
            assert_eq!(r.str().unwrap(), "a.scope");
            assert_eq!(r.str().unwrap(), "done");
            assert!(m.body_reader("o").is_err());
        }
    }

    #[test]
    fn refuses_malformed_messages() {
        let raw = job_removed(false);
        assert!(decode(&raw[..raw.len() - 1]).is_err());
        let mut bad = raw.clone();
        bad[0] = b'x';
        assert!(decode(&bad).is_err());
        let mut huge = raw.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_len(huge[..16].try_into().unwrap()).is_err());
        let mut r = Reader::new(&[2, b'a', b'y', 0, 3, 0, 0, 0, 7, 8, 9], false);
        assert_eq!(r.variant_bytes().unwrap(), [7, 8, 9]);
        let mut r = Reader::new(&[1, b's', 0, 0, 1, 0, 0, 0, b'x', 0], false);
        assert!(r.variant_bytes().is_err());
        // a string whose NUL is missing
        let mut r = Reader::new(&[3, 0, 0, 0, b'a', b'b', b'c', b'd'], false);
        assert!(r.str().is_err());
    }

    #[test]
    fn writes_call_then_decodes_it() {
        let mut body = Writer::new();
        body.str("hull-c.scope");
        body.str("replace");
        body.props(&[("PIDs", Variant::U32s(vec![1, 2]))]);
        body.array(8, |_| {});
        let call = Call {
            destination: None,
            path: "/org/freedesktop/systemd1",
            interface: "org.freedesktop.systemd1.Manager",
            member: "StartTransientUnit",
            signature: "ssa(sv)a(sa(sv))",
            body: body.into_bytes(),
        };
        let m = decode(&call.encode(1, false)).unwrap();
        assert_eq!(m.kind, METHOD_CALL);
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.signature, "ssa(sv)a(sa(sv))");
        let mut r = m.body_reader("ssa(sv)a(sa(sv))").unwrap();
        assert_eq!(r.str().unwrap(), "hull-c.scope");
        assert_eq!(r.str().unwrap(), "replace");
        assert_eq!(r.u32().unwrap(), 28); // (s "PIDs")=9, pad 3, g "au"=4, au: 4 + 8
    }
}
