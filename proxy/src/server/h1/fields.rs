//! A response head's fields kept as the wire carries them. An upstream's head read by the native
//! HTTP/1.1 client passes to the client with no field changed, so it need not be read into a
//! header map and written out of it again: its fields ride with the response body as
//! [`WireFields`], beside the response's header map, which then holds only what the proxy adds.
//! The native HTTP/1.1 server writes them as one slice ahead of the map's fields; a server that
//! writes from a header map (HTTP/2, hyper's HTTP/1.1) puts them into the map first
//! ([`WireFields::into_map`]).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Header fields as they go on the wire: `name: value\r\n` lines, names in lower case, values
/// valid header values, with what the head encoder reads of them noted. None of them frames
/// the body or speaks for the connection (`Transfer-Encoding`, `Connection`): those are the
/// encoder's to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WireFields {
    lines: Bytes,
    /// The value of the `Content-Length` among them (at most one).
    length: Option<u64>,
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
            length,
            date,
        }
    }

    /// The lines, as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.lines
    }

    /// The `Content-Length` among the fields.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Whether a `Date` is among the fields.
    pub fn has_date(&self) -> bool {
        self.date
    }

    /// The fields in order, as names and values (sharing the lines' bytes).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Bytes)> + '_ {
        let base = self.lines.as_ptr() as usize;
        self.lines
            .split(|b| *b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\r"))
            .filter_map(move |line| {
                let colon = line.iter().position(|b| *b == b':')?;
                let (name, rest) = line.split_at(colon);
                let value = rest.strip_prefix(b": ")?;
                let start = value.as_ptr() as usize - base;
                Some((name, self.lines.slice(start..start + value.len())))
            })
    }

    /// Adds fields after these (names valid and in lower case, values valid): one copy of the
    /// lines, for all of them.
    pub fn push(&mut self, fields: &[(&HeaderName, &HeaderValue)]) {
        let mut lines = super::buffers::take_write();
        lines.extend_from_slice(&self.lines);
        for (name, value) in fields {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        self.lines = super::buffers::copy_shared(&lines);
        super::buffers::give_write(lines);
    }

    /// Puts the fields into `map` ahead of the fields it holds already, in order, for a server
    /// that writes heads from a header map.
    pub fn into_map(self, map: &mut HeaderMap) {
        let added = std::mem::take(map);
        // From the worker's free list, as the head's map would have been.
        let mut fields = super::buffers::take_map(self.iter().count() + added.len());
        for (name, value) in self.iter() {
            // Checked when the lines were made: nothing is left out here.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_maybe_shared(value),
            ) {
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
