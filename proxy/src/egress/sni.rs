//! Reads the server name (SNI) from a TLS ClientHello without terminating TLS.

/// What the first bytes of a tunnel say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hello {
    /// Not a TLS handshake (plain TCP, HTTP, SSH, ...).
    NotTls,
    /// A TLS ClientHello, with the server name it asks for, if any.
    Tls(Option<String>),
    /// More bytes are needed to decide.
    Incomplete,
}

/// The largest first record worth waiting for (a TLS record is at most 16 KiB plus header).
pub const MAX_HELLO: usize = 5 + 16 * 1024 + 256;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| b[0] as usize)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| (b[0] as usize) << 8 | b[1] as usize)
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }
}

/// Parses the first TLS record of a connection.
pub fn parse(buf: &[u8]) -> Hello {
    match buf.first() {
        None => return Hello::Incomplete,
        Some(0x16) => {}
        Some(_) => return Hello::NotTls,
    }
    if buf.len() < 5 {
        return Hello::Incomplete;
    }
    if buf[1] != 3 {
        return Hello::NotTls;
    }
    let len = (buf[3] as usize) << 8 | buf[4] as usize;
    if buf.len() < 5 + len {
        return if 5 + len > MAX_HELLO {
            Hello::NotTls
        } else {
            Hello::Incomplete
        };
    }
    match client_hello(&buf[5..5 + len]) {
        Some(sni) => Hello::Tls(sni),
        // A handshake record that is not a well-formed ClientHello.
        None => Hello::Tls(None),
    }
}

fn client_hello(record: &[u8]) -> Option<Option<String>> {
    let mut r = Reader {
        buf: record,
        pos: 0,
    };
    if r.u8()? != 1 {
        return None;
    }
    let body_len = r.u24()?;
    let body = r.take(body_len.min(record.len() - 4))?;
    let mut r = Reader { buf: body, pos: 0 };
    r.take(2 + 32)?; // version, random
    let n = r.u8()?;
    r.take(n)?; // session id
    let n = r.u16()?;
    r.take(n)?; // cipher suites
    let n = r.u8()?;
    r.take(n)?; // compression methods
    if r.pos == body.len() {
        return Some(None); // no extensions
    }
    let ext_len = r.u16()?;
    let exts = r.take(ext_len)?;
    let mut r = Reader { buf: exts, pos: 0 };
    while r.pos < exts.len() {
        let kind = r.u16()?;
        let len = r.u16()?;
        let data = r.take(len)?;
        if kind == 0 {
            let mut d = Reader { buf: data, pos: 0 };
            let list_len = d.u16()?;
            let list = d.take(list_len)?;
            let mut l = Reader { buf: list, pos: 0 };
            while l.pos < list.len() {
                let name_type = l.u8()?;
                let n = l.u16()?;
                let name = l.take(n)?;
                if name_type == 0 {
                    let name = std::str::from_utf8(name).ok()?;
                    return Some(Some(name.trim_end_matches('.').to_ascii_lowercase()));
                }
            }
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello naming `host` (or no SNI).
    pub(crate) fn hello(host: Option<&str>) -> Vec<u8> {
        let mut exts = Vec::new();
        if let Some(h) = host {
            let h = h.as_bytes();
            let mut sni = Vec::new();
            sni.extend_from_slice(&((h.len() + 3) as u16).to_be_bytes());
            sni.push(0);
            sni.extend_from_slice(&(h.len() as u16).to_be_bytes());
            sni.extend_from_slice(h);
            exts.extend_from_slice(&0u16.to_be_bytes());
            exts.extend_from_slice(&(sni.len() as u16).to_be_bytes());
            exts.extend_from_slice(&sni);
        }
        // An unrelated extension first would also be fine; put one after.
        exts.extend_from_slice(&[0x00, 0x0a, 0x00, 0x02, 0x00, 0x00]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 2, 0x13, 0x01]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn reads_the_server_name() {
        assert_eq!(
            parse(&hello(Some("API.Example.com"))),
            Hello::Tls(Some("api.example.com".into()))
        );
        assert_eq!(parse(&hello(None)), Hello::Tls(None));
    }

    #[test]
    fn partial_and_foreign_bytes() {
        let full = hello(Some("a.example"));
        for cut in [0, 1, 4, 5, 20, full.len() - 1] {
            assert_eq!(parse(&full[..cut]), Hello::Incomplete, "cut at {cut}");
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(parse(b"SSH-2.0-OpenSSH"), Hello::NotTls);
    }

    #[test]
    fn malformed_hellos_never_panic() {
        let full = hello(Some("a.example"));
        for i in 5..full.len() {
            let mut m = full.clone();
            m[i] = m[i].wrapping_add(0x80);
            let _ = parse(&m);
            let _ = parse(&m[..i]);
        }
    }
}
