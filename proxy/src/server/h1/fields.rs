//! A response head's fields kept as the wire carries them. An upstream's head read by the native
//! HTTP/1.1 client passes to the client with no field changed, so it need not be read into a
//! header map and written out of it again: its fields ride with the response body as
//! [`WireFields`], beside the response's header map, which then holds only what the proxy adds.
//! The native HTTP/1.1 server writes them as one slice ahead of the map's fields; a server that
//! writes from a header map (HTTP/2, hyper's HTTP/1.1) puts them into the map first
//! ([`WireFields::into_map`]).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Header fields as they go on the wire: `name: value\r\n` lines, names in lower case, values
/// valid header values, with what the head encoder reads of them noted. None of them frames
/// the body or speaks for the connection (`Transfer-Encoding`, `Connection`): those are the
/// encoder's to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireFields {
    lines: Bytes,
    /// The value of the `Content-Length` among them (at most one), or [`NO_LENGTH`]. Kept
    /// small: the fields ride in the response, which is moved several times on its way.
    length: u64,
    /// A `Date` is among them.
    date: bool,
}

impl WireFields {
    /// Fields of `lines` (each `name: value\r\n`, the name in lower case and valid, the value
    /// valid, none of them `Transfer-Encoding` or `Connection`), with the value of the
    /// `Content-Length` among them, if any, and whether a `Date` is.
    pub fn new(lines: Bytes, length: Option<u64>, date: bool) -> Self {
        WireFields {
            lines,
            // A length has at most 19 digits: it is never this.
            length: length.unwrap_or(NO_LENGTH),
            date,
        }
    }

    /// Appends the lines to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.lines);
    }

    /// The `Content-Length` among the fields.
    pub fn length(&self) -> Option<u64> {
        (self.length != NO_LENGTH).then_some(self.length)
    }

    /// Whether a `Date` is among the fields.
    pub fn has_date(&self) -> bool {
        self.date
    }

    /// The fields in order, as names and values (sharing the lines' bytes). One pass over the
    /// lines, which are as [`WireFields::new`] says: no name has a colon, no value a CR.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Bytes)> + '_ {
        let lines = &self.lines;
        let all: &[u8] = lines;
        let mut at = 0;
        std::iter::from_fn(move || {
            let line = all.get(at..)?;
            let colon = line.iter().position(|b| *b == b':')?;
            let start = at + colon + 2;
            let len = all.get(start..)?.iter().position(|b| *b == b'\r')?;
            let name = &all[at..at + colon];
            at = start + len + 2;
            Some((name, lines.slice(start..start + len)))
        })
    }

    /// Adds fields after these (names in lower case, as header names are): the lines, these
    /// and the new ones, are cut again from the worker's shared block (a copy of a hundred or
    /// so bytes, which keeps the fields one slice).
    pub fn push(&mut self, fields: &[(&HeaderName, &HeaderValue)]) {
        // The encoder frames the body and dates the head from what parsing noted: a field
        // pushed here must never be one of those.
        debug_assert!(fields.iter().all(|(n, _)| !matches!(
            n.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "date"
        )));
        let len = self.lines.len()
            + fields
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>();
        let (lines, ()) = super::buffers::write_shared(len, |out| {
            out.extend_from_slice(&self.lines);
            for (name, value) in fields {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        });
        self.lines = lines;
    }

    /// Puts the fields into `map` ahead of the fields it holds already, in order, for a server
    /// that writes heads from a header map.
    pub fn into_map(self, map: &mut HeaderMap) {
        let added = std::mem::take(map);
        // From the worker's free list, as the head's map would have been.
        let mut fields = super::buffers::take_map(added.len());
        for (name, value) in self.iter() {
            // Checked when the lines were made: nothing is left out here.
            if let (Some(name), Ok(value)) =
                (field_name(name), HeaderValue::from_maybe_shared(value))
            {
                fields.append(name, value);
            }
        }
        let mut last = None;
        for (name, value) in added {
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                fields.append(name.clone(), value);
            }
        }
        *map = fields;
    }
}

/// A field's name. The names most responses carry are matched as they are spelled, in any
/// case, against the known ones of the same length (a few byte comparisons); any other name is
/// parsed (checked byte by byte and looked up among the standard names).
pub fn field_name(raw: &[u8]) -> Option<HeaderName> {
    let is = |name: &HeaderName| name.as_str().as_bytes().eq_ignore_ascii_case(raw);
    let known = match raw.len() {
        4 => [header::DATE, header::ETAG, header::VARY]
            .into_iter()
            .find(is),
        6 => is(&header::SERVER).then_some(header::SERVER),
        7 => is(&header::EXPIRES).then_some(header::EXPIRES),
        8 => is(&header::LOCATION).then_some(header::LOCATION),
        10 => [header::CONNECTION, header::SET_COOKIE]
            .into_iter()
            .find(is),
        12 => is(&header::CONTENT_TYPE).then_some(header::CONTENT_TYPE),
        13 => [
            header::LAST_MODIFIED,
            header::CACHE_CONTROL,
            header::ACCEPT_RANGES,
        ]
        .into_iter()
        .find(is),
        14 => is(&header::CONTENT_LENGTH).then_some(header::CONTENT_LENGTH),
        16 => is(&header::CONTENT_ENCODING).then_some(header::CONTENT_ENCODING),
        17 => is(&header::TRANSFER_ENCODING).then_some(header::TRANSFER_ENCODING),
        _ => None,
    };
    known.or_else(|| HeaderName::from_bytes(raw).ok())
}

/// [`WireFields::length`] when there is none.
const NO_LENGTH: u64 = u64::MAX;

/// A response body that may carry its head's fields as [`WireFields`]; the server that writes
/// the head takes them.
pub trait HeadFields {
    /// Takes the fields the body carries, if any.
    fn take_wire_fields(&mut self) -> Option<WireFields> {
        None
    }
}

impl<D: bytes::Buf> HeadFields for http_body_util::Full<D> {}

impl<D, E> HeadFields for http_body_util::combinators::UnsyncBoxBody<D, E> {}

/// Puts the fields `resp`'s body carries into its header map, ahead of the map's own.
pub fn into_map<B: HeadFields>(mut resp: http::Response<B>) -> http::Response<B> {
    if let Some(fields) = resp.body_mut().take_wire_fields() {
        fields.into_map(resp.headers_mut());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_go_into_a_map_ahead_of_its_own_in_order_with_repeats() {
        let lines = Bytes::from_static(b"server: s\r\nx-a: 1\r\nset-cookie: a=1\r\nx-a: 2\r\n");
        let wire = WireFields::new(lines, None, false);
        let mut map = HeaderMap::new();
        map.insert("via", HeaderValue::from_static("1.1 sightline"));
        map.append("x-b", HeaderValue::from_static("1"));
        map.append("x-b", HeaderValue::from_static("2"));
        wire.into_map(&mut map);
        let got: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        // A header map keeps a name's values together, at the place of its first.
        assert_eq!(
            got,
            [
                "server: s",
                "x-a: 1",
                "x-a: 2",
                "set-cookie: a=1",
                "via: 1.1 sightline",
                "x-b: 1",
                "x-b: 2"
            ]
        );
    }

    #[test]
    fn pushed_fields_follow_in_order() {
        let mut wire = WireFields::new(Bytes::from_static(b"x-a: 1\r\n"), None, false);
        let via = HeaderValue::from_static("1.1 sightline");
        wire.push(&[(&http::header::VIA, &via)]);
        wire.push(&[(
            &HeaderName::from_static("x-b"),
            &HeaderValue::from_static("2"),
        )]);
        let mut out = Vec::new();
        wire.write_to(&mut out);
        assert_eq!(out, b"x-a: 1\r\nvia: 1.1 sightline\r\nx-b: 2\r\n");
        assert_eq!(wire.iter().count(), 3);
    }

    #[test]
    fn values_keep_their_inner_spaces_and_empty_values_stay() {
        let lines = Bytes::from_static(b"x-e: \r\nx-s: a  b\r\n");
        let wire = WireFields::new(lines, None, false);
        let got: Vec<(Vec<u8>, Bytes)> = wire.iter().map(|(n, v)| (n.to_vec(), v)).collect();
        assert_eq!(
            got,
            [
                (b"x-e".to_vec(), Bytes::new()),
                (b"x-s".to_vec(), Bytes::from_static(b"a  b"))
            ]
        );
    }
}
