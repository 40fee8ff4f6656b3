//! The PROXY protocol header (v1 text, v2 binary) that a load balancer in front of Sightline
//! sends before the client's bytes, naming the client's real address. Read only on connections
//! from configured networks, which must send one: anything else from them is refused.
//!
//! The header is read exactly, never past its end, so the bytes after it reach the HTTP server
//! untouched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature.
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 line, CRLF included (from the specification).
const V1_MAX: usize = 107;
/// The longest v2 address block accepted (addresses and TLVs).
const V2_MAX: usize = 1024;

/// Reads one PROXY header from `r`. `Ok(Some(addr))` names the client; `Ok(None)` is a header
/// that names no client (v1 `UNKNOWN`, v2 `LOCAL` or a non-IP family: the connection is the
/// balancer's own, such as a health check); `Err` refuses the connection.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<SocketAddr>, String> {
    let mut head = [0u8; 12];
    r.read_exact(&mut head)
        .await
        .map_err(|e| format!("no PROXY header: {e}"))?;
    if &head == V2_SIG {
        let mut rest = [0u8; 4];
        r.read_exact(&mut rest)
            .await
            .map_err(|e| format!("PROXY v2 header cut off: {e}"))?;
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if len > V2_MAX {
            return Err(format!("PROXY v2 address block of {len} bytes"));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)
            .await
            .map_err(|e| format!("PROXY v2 header cut off: {e}"))?;
        return parse_v2(rest[0], rest[1], &body);
    }
    if !head.starts_with(b"PROXY ") {
        return Err("the connection does not start with a PROXY header".into());
    }
    let mut line = head.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err("PROXY v1 line over 107 bytes".into());
        }
        let mut b = [0u8; 1];
        r.read_exact(&mut b)
            .await
            .map_err(|e| format!("PROXY v1 line cut off: {e}"))?;
        line.push(b[0]);
    }
    parse_v1(&line)
}

/// Parses a whole v1 line (CRLF included).
pub fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>, String> {
    let text = std::str::from_utf8(line)
        .ok()
        .and_then(|t| t.strip_suffix("\r\n"))
        .ok_or("PROXY v1 line is not text ending in CRLF")?;
    let parts: Vec<&str> = text.split(' ').collect();
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| -> Result<IpAddr, String> {
                let ip: IpAddr = s.parse().map_err(|_| format!("bad address {s:?}"))?;
                match (*proto, ip) {
                    ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
                    _ => Err(format!("{s} is not a {proto} address")),
                }
            };
            let port = |s: &str| -> Result<u16, String> {
                // No sign, no leading zeros: exactly what the specification allows.
                if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
                    return Err(format!("bad port {s:?}"));
                }
                s.parse().map_err(|_| format!("bad port {s:?}"))
            };
            let (src, _dst) = (ip(src)?, ip(dst)?);
            let (sport, _dport) = (port(sport)?, port(dport)?);
            Ok(Some(SocketAddr::new(src, sport)))
        }
        _ => Err("malformed PROXY v1 line".into()),
    }
}

/// Parses a v2 header from its version/command byte, family byte and address block.
pub fn parse_v2(ver_cmd: u8, family: u8, body: &[u8]) -> Result<Option<SocketAddr>, String> {
    if ver_cmd >> 4 != 2 {
        return Err(format!("PROXY v2 version {}", ver_cmd >> 4));
    }
    match ver_cmd & 0x0f {
        0 => return Ok(None),
        1 => {}
        c => return Err(format!("PROXY v2 command {c}")),
    }
    match family {
        // TCP or UDP over IPv4.
        0x11 | 0x12 => {
            let a = body.get(..12).ok_or("PROXY v2 IPv4 block too short")?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = u16::from_be_bytes([a[8], a[9]]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        0x21 | 0x22 => {
            let a = body.get(..36).ok_or("PROXY v2 IPv6 block too short")?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                port,
            )))
        }
        // Unspecified or Unix sockets: no IP client to name.
        0x00 | 0x31 | 0x32 => Ok(None),
        f => Err(format!("PROXY v2 family {f:#04x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(ver_cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = V2_SIG.to_vec();
        out.extend([ver_cmd, family]);
        out.extend((body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }

    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, String>, Vec<u8>) {
        let mut r = bytes;
        let got = read_header(&mut r).await;
        (got, r.to_vec())
    }

    #[tokio::test]
    async fn headers_name_the_client_and_nothing_after_them_is_consumed() {
        let sa = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        let mut v4 = vec![198, 51, 100, 77, 127, 0, 0, 1];
        v4.extend(40000u16.to_be_bytes());
        v4.extend(443u16.to_be_bytes());
        let mut v6 = "2001:db8::7".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        v6.extend(5555u16.to_be_bytes());
        v6.extend(443u16.to_be_bytes());
        let mut v4_tlv = v4.clone();
        v4_tlv.extend([0x04, 0x00, 0x01, 0xaa]);
        let cases: Vec<(Vec<u8>, Option<SocketAddr>)> = vec![
            (
                b"PROXY TCP4 198.51.100.77 127.0.0.1 40000 19885\r\n".to_vec(),
                sa("198.51.100.77:40000"),
            ),
            (
                b"PROXY TCP6 2001:db8::7 ::1 5555 443\r\n".to_vec(),
                sa("[2001:db8::7]:5555"),
            ),
            (b"PROXY UNKNOWN\r\n".to_vec(), None),
            (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n".to_vec(), None),
            (v2(0x21, 0x11, &v4), sa("198.51.100.77:40000")),
            (v2(0x21, 0x11, &v4_tlv), sa("198.51.100.77:40000")),
            (v2(0x21, 0x21, &v6), sa("[2001:db8::7]:5555")),
            (v2(0x20, 0x00, &[]), None),
        ];
        for (header, want) in cases {
            let mut bytes = header.clone();
            bytes.extend(b"GET / HTTP/1.1\r\n");
            let (got, rest) = read(&bytes).await;
            assert_eq!(got, Ok(want), "{:?}", String::from_utf8_lossy(&header));
            assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        }
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let mut short_v4 = v2(0x21, 0x11, &[1, 2, 3]);
        short_v4.extend(b"GET / HTTP/1.1\r\n\r\n");
        let mut huge = V2_SIG.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        let cases: Vec<Vec<u8>> = vec![
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2".to_vec(),
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n".to_vec(),
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n".to_vec(),
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            [b"PROXY TCP4 ".as_slice(), &[b'1'; 120], b"\r\n"].concat(),
            v2(0x11, 0x11, &[0; 12]),
            v2(0x22, 0x11, &[0; 12]),
            v2(0x21, 0x44, &[0; 12]),
            short_v4,
            huge,
            b"PROX".to_vec(),
        ];
        for bytes in cases {
            let (got, _) = read(&bytes).await;
            assert!(
                got.is_err(),
                "{:?} → {got:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
