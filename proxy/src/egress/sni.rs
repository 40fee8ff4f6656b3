//! Reads the server name (SNI) from a TLS ClientHello without terminating TLS.
//!
//! A ClientHello may be split across several TLS records (RFC 8446 §5.1 allows any
//! fragmentation of handshake messages), so [`HelloReader`] reassembles the handshake message
//! from consecutive handshake records, as a TLS server does, within [`MAX_HELLO`] bytes. Work
//! and memory are linear in the bytes fed.

/// What the first bytes of a tunnel say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hello {
    /// Not a TLS handshake (plain TCP, HTTP, SSH, ...): the first record is not a handshake
    /// record of a TLS (major version 3) connection.
    NotTls,
    /// A complete ClientHello, with the server name it asks for, if any.
    Tls(Option<String>),
    /// More bytes are needed to decide.
    Incomplete,
    /// It starts as a TLS handshake, but is not a well-formed ClientHello within
    /// [`MAX_HELLO`] bytes; why.
    Unreadable(&'static str),
}

/// The most bytes (records with their headers) a ClientHello may take. Real ones take a few
/// KiB, post-quantum key shares included; TLS servers refuse handshake messages over 64 KiB.
pub const MAX_HELLO: usize = 64 * 1024;

/// The largest TLS record payload: 2^14 bytes, plus the expansion RFC 8446 tolerates.
const MAX_RECORD: usize = (1 << 14) + 256;

const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 1;
const SERVER_NAME: usize = 0;
const HOST_NAME: usize = 0;

/// Reassembles the ClientHello from a connection's first bytes, fed as they arrive.
#[derive(Debug, Default)]
pub struct HelloReader {
    /// Bytes fed so far.
    seen: usize,
    /// The header of the record being read, while incomplete.
    header: Vec<u8>,
    /// Payload bytes still to come in the current record.
    remaining: usize,
    /// The handshake message so far.
    message: Vec<u8>,
    /// The decision, once made; it never changes after.
    done: Option<Hello>,
}

impl HelloReader {
    /// A reader that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the connection and says what is known so far. Once the answer
    /// is not [`Hello::Incomplete`] it stays the same, whatever is fed after.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Hello {
        if let Some(done) = &self.done {
            return done.clone();
        }
        while !chunk.is_empty() {
            if let Some(answer) = self.step(&mut chunk) {
                self.done = Some(answer.clone());
                return answer;
            }
        }
        Hello::Incomplete
    }

    /// Consumes part of `chunk`; an answer when one is reached.
    fn step(&mut self, chunk: &mut &[u8]) -> Option<Hello> {
        if self.remaining == 0 {
            if self.header.is_empty() && self.seen + 6 > MAX_HELLO {
                // No further record (a header and a byte) fits.
                return Some(Hello::Unreadable("the ClientHello exceeds 64 KiB"));
            }
            // A record header, possibly across chunks.
            let want = 5 - self.header.len();
            let n = want.min(chunk.len());
            self.take(chunk, n, false);
            if self.header.first().is_some_and(|&t| t != HANDSHAKE) {
                return Some(if self.message.is_empty() {
                    Hello::NotTls
                } else {
                    Hello::Unreadable("a record other than handshake inside the ClientHello")
                });
            }
            if self.header.len() >= 2 && self.header[1] != 3 {
                return Some(if self.message.is_empty() {
                    Hello::NotTls
                } else {
                    Hello::Unreadable("a record of another protocol version")
                });
            }
            if self.header.len() < 5 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            self.header.clear();
            if len == 0 {
                return Some(Hello::Unreadable("an empty handshake record"));
            }
            if len > MAX_RECORD {
                return Some(Hello::Unreadable("a record larger than TLS allows"));
            }
            if self.seen + len > MAX_HELLO {
                return Some(Hello::Unreadable("the ClientHello exceeds 64 KiB"));
            }
            self.remaining = len;
            return None;
        }
        let n = self.remaining.min(chunk.len());
        self.take(chunk, n, true);
        self.remaining -= n;
        self.message_done()
    }

    fn take(&mut self, chunk: &mut &[u8], n: usize, payload: bool) {
        let (head, rest) = chunk.split_at(n);
        if payload {
            self.message.extend_from_slice(head);
        } else {
            self.header.extend_from_slice(head);
        }
        self.seen += n;
        *chunk = rest;
    }

    /// The answer once the handshake message is whole (or cannot become a ClientHello).
    fn message_done(&self) -> Option<Hello> {
        let m = &self.message;
        if m.first().is_some_and(|&t| t != CLIENT_HELLO) {
            return Some(Hello::Unreadable(
                "the first handshake message is not a ClientHello",
            ));
        }
        if m.len() < 4 {
            return None;
        }
        let len = usize::from(m[1]) << 16 | usize::from(m[2]) << 8 | usize::from(m[3]);
        if len + 4 > MAX_HELLO {
            return Some(Hello::Unreadable("the ClientHello exceeds 64 KiB"));
        }
        let body = m.get(4..4 + len)?;
        Some(match server_name(body) {
            Ok(name) => Hello::Tls(name),
            Err(why) => Hello::Unreadable(why),
        })
    }
}

/// Reads a whole first flight at once: what [`HelloReader`] says after `buf`.
pub fn parse(buf: &[u8]) -> Hello {
    HelloReader::new().feed(buf)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or(MALFORMED)?;
        let s = self.buf.get(self.pos..end).ok_or(MALFORMED)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<usize, &'static str> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Result<usize, &'static str> {
        self.take(2)
            .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u16()?;
        self.take(n)
    }
    fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }
}

const MALFORMED: &str = "a malformed ClientHello";

/// The server name of a ClientHello body (after the 4-byte handshake header). Anything a TLS
/// server would refuse as ambiguous (two server name extensions, two host names) is an error.
fn server_name(body: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader::new(body);
    r.take(2 + 32)?; // legacy version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    if r.at_end() {
        return Ok(None); // no extensions
    }
    let mut exts = Reader::new(r.vec16()?);
    let mut name = None;
    let mut seen = false;
    while !exts.at_end() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind != SERVER_NAME {
            continue;
        }
        if seen {
            return Err("two server name extensions");
        }
        seen = true;
        let mut d = Reader::new(data);
        let mut list = Reader::new(d.vec16()?);
        while !list.at_end() {
            let name_type = list.u8()?;
            let host = list.vec16()?;
            if name_type != HOST_NAME {
                continue;
            }
            if name.is_some() {
                return Err("two host names in the server name extension");
            }
            let host = std::str::from_utf8(host).map_err(|_| "a server name that is not text")?;
            name = Some(host.trim_end_matches('.').to_ascii_lowercase());
        }
    }
    Ok(name)
}

#[cfg(test)]
pub(super) mod tests;
