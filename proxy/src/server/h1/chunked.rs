//! The chunked transfer coding of request bodies (RFC 9112 §7.1), decoded strictly: hex sizes
//! that fit 64 bits, CRLF line ends, extensions and trailers bounded in size. Anything else
//! fails the body, and the connection with it.

use http::HeaderMap;

/// Most bytes of chunk extensions one body may carry (they are skipped, not kept).
const MAX_EXTENSIONS: usize = 16 * 1024;
/// Most bytes of trailer fields one body may carry.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size line")]
    Size,
    #[error("chunk size overflows")]
    Overflow,
    #[error("chunk data not followed by CRLF")]
    DataEnd,
    #[error("chunk extensions too long")]
    Extensions,
    #[error("invalid or oversized trailer fields")]
    Trailers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the first hex digit of a size.
    Start,
    /// Within the size's hex digits.
    Size,
    /// Spaces or tabs after the size.
    SizeSpace,
    /// Within an extension (`;...`).
    Extension,
    /// After the size line's CR.
    SizeLf,
    /// Within a chunk's data.
    Data,
    /// After the data: its CR.
    DataCr,
    /// After the data: its LF.
    DataLf,
    /// Within the trailer section (after the last chunk).
    Trailers,
    /// The body ended.
    Done,
}

/// What one step of decoding found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More input is needed.
    NeedMore,
    /// This many bytes of chunk data start at `consumed - len` in the input.
    Data(usize),
    /// The body ended; its trailer fields, if it had any.
    Done(Option<HeaderMap>),
}

/// Decoding state of one chunked body.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    size: u64,
    extensions: usize,
    trailers: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Start,
            size: 0,
            extensions: 0,
            trailers: Vec::new(),
        }
    }
}

impl Decoder {
    /// Decodes from `input`: returns how many bytes were consumed and what was found. Chunk
    /// data found is the last `n` bytes consumed (`Step::Data(n)`).
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Step), ChunkError> {
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Data {
                let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                return Ok((i + n, Step::Data(n)));
            }
            if self.state == State::Trailers {
                return self.trailers(input, i);
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::Start, _) => {
                    let d = hex(b).ok_or(ChunkError::Size)?;
                    self.size = u64::from(d);
                    State::Size
                }
                (State::Size, b'\r') => State::SizeLf,
                (State::Size, b' ' | b'\t') => State::SizeSpace,
                (State::Size, b';') => State::Extension,
                (State::Size, _) => {
                    let d = hex(b).ok_or(ChunkError::Size)?;
                    if self.size >> 60 != 0 {
                        return Err(ChunkError::Overflow);
                    }
                    self.size = self.size << 4 | u64::from(d);
                    State::Size
                }
                (State::SizeSpace, b' ' | b'\t') => State::SizeSpace,
                (State::SizeSpace, b';') => State::Extension,
                (State::SizeSpace, b'\r') => State::SizeLf,
                (State::SizeSpace, _) => return Err(ChunkError::Size),
                (State::Extension, b'\r') => State::SizeLf,
                (State::Extension, b'\n') => return Err(ChunkError::Size),
                (State::Extension, _) => {
                    self.extensions += 1;
                    if self.extensions > MAX_EXTENSIONS {
                        return Err(ChunkError::Extensions);
                    }
                    State::Extension
                }
                (State::SizeLf, b'\n') => {
                    if self.size == 0 {
                        State::Trailers
                    } else {
                        State::Data
                    }
                }
                (State::SizeLf, _) => return Err(ChunkError::Size),
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataLf, b'\n') => State::Start,
                (State::DataCr | State::DataLf, _) => return Err(ChunkError::DataEnd),
                (State::Data | State::Trailers | State::Done, _) => return Err(ChunkError::Size),
            };
        }
        Ok((i, Step::NeedMore))
    }

    /// The trailer section: fields up to an empty line, kept until it is complete.
    fn trailers(&mut self, input: &[u8], from: usize) -> Result<(usize, Step), ChunkError> {
        let rest = &input[from..];
        // Without fields the section is just the empty line.
        if self.trailers.is_empty() {
            if rest.len() < 2 {
                if rest == b"\r" || rest.is_empty() {
                    return Ok((from, Step::NeedMore));
                }
            } else if rest.starts_with(b"\r\n") {
                self.state = State::Done;
                return Ok((from + 2, Step::Done(None)));
            }
        }
        let seen = self.trailers.len();
        self.trailers.extend_from_slice(rest);
        if let Some(end) = find(&self.trailers, b"\r\n\r\n") {
            if end + 4 > MAX_TRAILERS {
                return Err(ChunkError::Trailers);
            }
            let used = end + 4 - seen;
            let fields = parse_trailers(&self.trailers[..end + 4])?;
            self.trailers = Vec::new();
            self.state = State::Done;
            return Ok((from + used, Step::Done(fields)));
        }
        if self.trailers.len() > MAX_TRAILERS {
            return Err(ChunkError::Trailers);
        }
        Ok((input.len(), Step::NeedMore))
    }
}

fn parse_trailers(raw: &[u8]) -> Result<Option<HeaderMap>, ChunkError> {
    let mut fields = [httparse::EMPTY_HEADER; super::head::MAX_HEADERS];
    match httparse::parse_headers(raw, &mut fields) {
        Ok(httparse::Status::Complete((_, fields))) => {
            let mut map = HeaderMap::with_capacity(fields.len());
            for f in fields {
                let name = http::HeaderName::from_bytes(f.name.as_bytes())
                    .map_err(|_| ChunkError::Trailers)?;
                let value =
                    http::HeaderValue::from_bytes(f.value).map_err(|_| ChunkError::Trailers)?;
                map.append(name, value);
            }
            Ok((!map.is_empty()).then_some(map))
        }
        _ => Err(ChunkError::Trailers),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a whole chunked body from `input` (for tests and the fuzz target): the data, the
/// trailers and the bytes consumed, or `None` when the input ends first.
#[allow(clippy::type_complexity)]
pub fn decode_all(
    mut input: &[u8],
) -> Result<Option<(Vec<u8>, Option<HeaderMap>, usize)>, ChunkError> {
    let mut d = Decoder::default();
    let mut data = Vec::new();
    let mut used = 0;
    loop {
        let (n, step) = d.decode(input)?;
        match step {
            Step::Data(len) => data.extend_from_slice(&input[n - len..n]),
            Step::Done(trailers) => return Ok(Some((data, trailers, used + n))),
            Step::NeedMore => return Ok(None),
        }
        used += n;
        input = &input[n..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_extensions_and_trailers_decode() {
        let (data, trailers, used) = decode_all(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nGET")
            .unwrap()
            .unwrap();
        assert_eq!(data, b"abcde");
        assert!(trailers.is_none());
        assert_eq!(used, 24);
        let (data, trailers, _) = decode_all(b"A \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(data, b"0123456789");
        assert_eq!(trailers.unwrap()["x-sum"], "1");
    }

    #[test]
    fn byte_at_a_time_gives_the_same_body() {
        let raw = b"4\r\nwiki\r\n5\r\npedia\r\n0\r\nA: b\r\n\r\n";
        let mut d = Decoder::default();
        let mut data = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut done = None;
        for b in raw {
            buf.push(*b);
            loop {
                let (n, step) = d.decode(&buf).unwrap();
                let taken: Vec<u8> = buf.drain(..n).collect();
                match step {
                    Step::Data(len) => data.extend_from_slice(&taken[n - len..]),
                    Step::Done(t) => done = Some(t),
                    Step::NeedMore => break,
                }
                if done.is_some() {
                    break;
                }
            }
        }
        assert_eq!(data, b"wikipedia");
        assert_eq!(done.unwrap().unwrap()["a"], "b");
    }

    #[test]
    fn bad_sizes_and_line_ends_are_refused() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"zz\r\nabc\r\n0\r\n\r\n", ChunkError::Size),
            (
                b"ffffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
                ChunkError::Overflow,
            ),
            (b"3\nabc\r\n0\r\n\r\n", ChunkError::Size),
            (b"3\r\nabcd\r\n0\r\n\r\n", ChunkError::DataEnd),
            (b"-1\r\n", ChunkError::Size),
            (b"3 x\r\nabc\r\n", ChunkError::Size),
            (b"0\r\nbad trailer\r\n\r\n", ChunkError::Trailers),
        ];
        for (raw, want) in cases {
            assert_eq!(
                decode_all(raw).unwrap_err(),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn unbounded_extensions_and_trailers_are_cut_off() {
        let mut raw = b"1;".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_EXTENSIONS + 1));
        assert_eq!(decode_all(&raw).unwrap_err(), ChunkError::Extensions);
        let mut raw = b"0\r\n".to_vec();
        for _ in 0..2000 {
            raw.extend_from_slice(b"x-a: bbbbbbbbbb\r\n");
        }
        assert_eq!(decode_all(&raw).unwrap_err(), ChunkError::Trailers);
    }

    /// The fuzz target's property on mutated bodies: any split into two reads decodes as the
    /// whole does (same data and trailers, or the same refusal), and nothing panics.
    #[test]
    fn two_reads_decode_as_one_on_mutated_bodies() {
        let seeds: &[&[u8]] = &[
            b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"A \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n",
            b"1\r\na\r\n0\r\nA: b\r\nC: d\r\n\r\nGET / HTTP/1.1\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let mut body = seeds[rng.usize(..seeds.len())].to_vec();
            for _ in 0..rng.usize(0..4) {
                let at = rng.usize(..body.len());
                match rng.u8(0..3) {
                    0 => body[at] = rng.u8(..),
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, b"\r\n;0aF \t"[rng.usize(..8)]),
                }
            }
            let cut = rng.usize(..=body.len());
            let whole = decode_all(&body);
            let mut d = Decoder::default();
            let mut data = Vec::new();
            let mut pending = body[..cut].to_vec();
            let mut rest = &body[cut..];
            let split = loop {
                match d.decode(&pending) {
                    Err(e) => break Err(e),
                    Ok((n, Step::Data(len))) => {
                        data.extend_from_slice(&pending[n - len..n]);
                        pending.drain(..n);
                    }
                    Ok((n, Step::Done(t))) => {
                        pending.drain(..n);
                        break Ok(Some((data, t)));
                    }
                    Ok((n, Step::NeedMore)) => {
                        pending.drain(..n);
                        if rest.is_empty() {
                            break Ok(None);
                        }
                        pending.extend_from_slice(rest);
                        rest = &[];
                    }
                }
            };
            match (whole, split) {
                (Ok(Some((a, ta, _))), Ok(Some((b, tb)))) => {
                    assert_eq!((a, ta), (b, tb), "{body:?} cut at {cut}");
                }
                (Ok(None), Ok(None)) => {}
                (Err(a), Err(b)) => assert_eq!(a, b, "{body:?} cut at {cut}"),
                (w, s) => panic!("{body:?} cut at {cut}: whole {w:?}, split {s:?}"),
            }
        }
    }

    #[test]
    fn an_unfinished_body_needs_more() {
        assert_eq!(decode_all(b"5\r\nab").unwrap(), None);
        assert_eq!(decode_all(b"0\r\n").unwrap(), None);
        assert_eq!(decode_all(b"0\r\nA: b\r\n").unwrap(), None);
    }
}
