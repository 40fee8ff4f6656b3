//! The call's log context without a tracing span per call.
//!
//! Every line logged while a call is served carries its trace id, span id and request id, as
//! `call{trace_id=… span_id=… request_id=…}:` in text and as the `span`/`spans` entries in
//! JSON, exactly as a `call` span ([`super::TraceContext::log_span`]) shows them. A span per
//! call costs a registry slot, the three fields formatted into a string (whether or not any
//! line is ever logged) and the registry's bookkeeping at every poll. Instead, [`in_call`]
//! puts the call's ids, 41 bytes, in a thread-local while the call's future is polled, and
//! [`CallFormat`] writes them into a line only when one is logged. The `sightline::call`
//! target still turns them off (`--log info,sightline::call=off`).

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::future::Future;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A request id, 16 lowercase hex digits, kept inline (no allocation); reads as a `&str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    bytes: [u8; 16],
    len: u8,
}

impl RequestId {
    /// A new random request id.
    pub fn new() -> Self {
        let mut bytes = [0u8; 16];
        super::hex_into(&fastrand::u64(1..).to_be_bytes(), &mut bytes);
        RequestId { bytes, len: 16 }
    }

    /// An id given as text: the proxy's own ids are 16 bytes; anything longer is cut there
    /// (at a character boundary).
    pub fn from_text(text: &str) -> Self {
        let mut len = text.len().min(16);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0u8; 16];
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        RequestId {
            bytes,
            len: len as u8,
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// The id's bytes, with no check that they are text (they always are): what header values
/// are made of.
impl AsRef<[u8]> for RequestId {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl PartialEq<str> for RequestId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RequestId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The ids a call's log lines carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallIds {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    request_id: RequestId,
}

impl CallIds {
    pub(super) fn new(trace_id: [u8; 16], span_id: [u8; 8], request_id: RequestId) -> Self {
        CallIds {
            trace_id,
            span_id,
            request_id,
        }
    }

    /// The ids of the call being polled on this thread, if any.
    pub fn current() -> Option<CallIds> {
        CURRENT.get()
    }
}

thread_local! {
    static CURRENT: Cell<Option<CallIds>> = const { Cell::new(None) };
}

/// Puts the ids back as they were when the poll ends, even by a panic.
struct Restore(Option<CallIds>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

/// Runs `fut` as the call `ids`: every line it logs carries them (see the module). When the
/// `sightline::call` target is off, `fut` runs as it is.
pub async fn in_call<F: Future>(ids: CallIds, fut: F) -> F::Output {
    let ids = tracing::span_enabled!(target: "sightline::call", tracing::Level::ERROR, "call")
        .then_some(ids);
    // One path either way, so the future holds `fut` once.
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let _restore = Restore(CURRENT.replace(ids));
        fut.as_mut().poll(cx)
    })
    .await
}

/// An event format that adds the current call's ids (see the module) to what the format it
/// wraps writes, in that format's layout: `call{…}:` before the other spans in text, and the
/// call as the outermost of `spans` (and as `span` when there is no other) in JSON. Lines
/// logged outside a call are the wrapped format's, untouched.
pub struct CallFormat<E> {
    inner: E,
    json: bool,
    ansi: bool,
}

impl<E> CallFormat<E> {
    /// Wraps the text format `inner`, which colours its output when `ansi` (set the same on
    /// `inner`).
    pub fn text(inner: E, ansi: bool) -> Self {
        CallFormat {
            inner,
            json: false,
            ansi,
        }
    }

    /// Wraps the JSON format `inner` (with flattened event fields).
    pub fn json(inner: E) -> Self {
        CallFormat {
            inner,
            json: true,
            ansi: false,
        }
    }
}

impl<S, N, E> FormatEvent<S, N> for CallFormat<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(ids) = CallIds::current() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let other_spans = ctx
            .event_scope()
            .is_some_and(|s| s.into_iter().next().is_some());
        let level = event.metadata().level().as_str();
        if self.json {
            splice_json(&mut line, &ids, other_spans)?;
        } else {
            splice_text(&mut line, &ids, other_spans, level, self.ansi)?;
        }
        writer.write_str(&line)
    }
}

/// Text: `call{trace_id=… span_id=… request_id=…}:` goes after the level (and its space),
/// followed by a space unless other spans follow.
fn splice_text(
    line: &mut String,
    ids: &CallIds,
    other_spans: bool,
    level: &str,
    ansi: bool,
) -> fmt::Result {
    let at = line
        .find(level)
        .and_then(|l| line[l..].find(' ').map(|s| l + s + 1))
        .ok_or(fmt::Error)?;
    let (bold, italic, dim, reset) = if ansi {
        ("\x1b[1m", "\x1b[3m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let field = |name: &str| format!("{italic}{name}{reset}{dim}={reset}");
    let mut call = String::with_capacity(160);
    write!(
        call,
        "{bold}call{reset}{bold}{{{reset}{}{} {}{} {}{}{bold}}}{reset}{dim}:{reset}",
        field("trace_id"),
        super::Hex(&ids.trace_id),
        field("span_id"),
        super::Hex(&ids.span_id),
        field("request_id"),
        ids.request_id,
    )?;
    if !other_spans {
        call.push(' ');
    }
    line.insert_str(at, &call);
    Ok(())
}

/// JSON: the call, `{"request_id":…,"span_id":…,"trace_id":…,"name":"call"}`, goes first in
/// `spans`; with no other span it is also `span`, and both keys end the object.
fn splice_json(line: &mut String, ids: &CallIds, other_spans: bool) -> fmt::Result {
    let mut call = String::with_capacity(128);
    write!(
        call,
        r#"{{"request_id":"{}","span_id":"{}","trace_id":"{}","name":"call"}}"#,
        ids.request_id,
        super::Hex(&ids.span_id),
        super::Hex(&ids.trace_id),
    )?;
    if other_spans {
        // Inside a string a quote is escaped, so this is the key, not a value.
        let at = line.rfind(r#","spans":["#).ok_or(fmt::Error)? + r#","spans":["#.len();
        call.push(',');
        line.insert_str(at, &call);
    } else {
        let at = line.rfind('}').ok_or(fmt::Error)?;
        line.insert_str(at, &format!(r#","span":{call},"spans":[{call}]"#));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceContext;
    use futures_util::FutureExt;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Out {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Out {
        type Writer = Out;
        fn make_writer(&'a self) -> Out {
            self.clone()
        }
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Log {
        Text,
        Colour,
        Json,
    }

    /// What `f` logs through the subscriber `sightline` sets up (minus timestamps), with
    /// `filter`.
    fn logged(log: Log, filter: &str, f: impl FnOnce()) -> String {
        let out = Out::default();
        let ansi = log == Log::Colour;
        let b = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(ansi)
            .with_timer(())
            .with_writer(out.clone());
        match log {
            Log::Json => {
                let s = b
                    .json()
                    .flatten_event(true)
                    .map_event_format(CallFormat::json)
                    .finish();
                tracing::subscriber::with_default(s, f);
            }
            _ => {
                let s = b
                    .map_event_format(|e| CallFormat::text(e.with_ansi(ansi), ansi))
                    .finish();
                tracing::subscriber::with_default(s, f);
            }
        }
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text
    }

    fn events(inner: bool) {
        tracing::info!(target: "sightline::upstream", upstream = "10.0.0.1:80", "upstream \"refused\"");
        if inner {
            let s = tracing::info_span!("dial", attempt = 2);
            let _e = s.enter();
            tracing::warn!(target: "sightline::upstream", "retrying");
        }
    }

    #[test]
    fn a_call_s_lines_carry_its_ids_as_the_call_span_did() {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = TraceContext::from_header(Some(tp));
        let rid = RequestId::new();
        for log in [Log::Text, Log::Colour, Log::Json] {
            for inner in [false, true] {
                let with_span = logged(log, "info", || {
                    let span = trace.log_span(&rid);
                    let _e = span.enter();
                    events(inner);
                });
                let with_ids = logged(log, "info", || {
                    in_call(trace.log_ids(&rid), async { events(inner) })
                        .now_or_never()
                        .unwrap();
                });
                assert_eq!(with_ids, with_span, "{log:?}, inner span: {inner}");
                assert!(with_ids.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
                assert!(with_ids.contains(rid.as_str()));
                assert!(with_ids.contains(&crate::trace::hex(&trace.span_id)));
            }
        }
    }

    #[test]
    fn lines_outside_a_call_and_with_the_call_target_off_carry_no_ids() {
        let trace = TraceContext::from_header(None);
        let rid = RequestId::new();
        for log in [Log::Text, Log::Json] {
            let outside = logged(log, "info", || {
                in_call(trace.log_ids(&rid), async {})
                    .now_or_never()
                    .unwrap();
                events(true);
            });
            assert!(!outside.contains(rid.as_str()), "{outside}");
            assert!(outside.contains("retrying"));
            let off = logged(log, "info,sightline::call=off", || {
                in_call(trace.log_ids(&rid), async { events(true) })
                    .now_or_never()
                    .unwrap();
            });
            assert_eq!(off, outside, "{log:?}");
        }
    }

    #[test]
    fn request_ids_are_16_hex_digits_and_differ() {
        let (a, b) = (RequestId::new(), RequestId::new());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 16);
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert_eq!(id.to_string(), id.as_str());
        }
    }
}
