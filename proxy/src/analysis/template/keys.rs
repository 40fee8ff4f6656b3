//! A raw path split into template keys: each segment either a placeholder shape or a plain word
//! (kept as a range of the path, so splitting allocates nothing).

use super::classify::{classify_segment, Shape};

/// The deepest segment a learned template keeps; deeper paths end in `{rest}`.
pub(super) const MAX_DEPTH: usize = 16;

/// One segment's key in the template trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    /// A plain word: `path[start..end]`.
    Plain { start: usize, end: usize },
    /// A placeholder.
    Shape(Shape),
}

/// The keys of one path.
pub(super) struct Keys<'a> {
    path: &'a str,
    keys: [Key; MAX_DEPTH + 1],
    len: usize,
}

impl<'a> Keys<'a> {
    /// Splits and classifies a raw path (query already removed); empty segments are dropped.
    pub(super) fn parse(path: &'a str) -> Self {
        let mut keys = Keys {
            path,
            keys: [Key::Shape(Shape::Rest); MAX_DEPTH + 1],
            len: 0,
        };
        let mut start = 0;
        for raw in path.split('/') {
            let end = start + raw.len();
            if !raw.is_empty() {
                if keys.len == MAX_DEPTH {
                    keys.keys[MAX_DEPTH] = Key::Shape(Shape::Rest);
                    keys.len += 1;
                    break;
                }
                keys.keys[keys.len] = match classify_segment(raw) {
                    Some(shape) => Key::Shape(shape),
                    None => Key::Plain { start, end },
                };
                keys.len += 1;
            }
            start = end + 1;
        }
        keys
    }

    /// How many keys.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The key at a depth below [`Keys::len`].
    pub(super) fn get(&self, depth: usize) -> Key {
        self.keys[depth]
    }

    /// Replaces a plain word with `{param}` once its position collapsed.
    pub(super) fn collapse(&mut self, depth: usize) {
        self.keys[depth] = Key::Shape(Shape::Param);
    }

    /// The text of a plain key.
    pub(super) fn text(&self, start: usize, end: usize) -> &'a str {
        &self.path[start..end]
    }

    /// The template of the first `depth` keys, such as `/users/{int}`.
    pub(super) fn render(&self, depth: usize) -> String {
        let mut out = String::with_capacity(self.path.len() + 8);
        for key in &self.keys[..depth] {
            out.push('/');
            match *key {
                Key::Plain { start, end } => push_word(&mut out, self.text(start, end)),
                Key::Shape(shape) => out.push_str(shape.placeholder()),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

/// Appends a plain word, escaping braces so it cannot pass for a placeholder.
pub(super) fn push_word(out: &mut String, word: &str) {
    for c in word.chars() {
        match c {
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
}
