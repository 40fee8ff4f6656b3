//! The learned templates of one host: a trie over template segments that mints templates from
//! classified paths and collapses a position to `{param}` once it has seen too many distinct
//! plain words.
//!
//! Bounds: nodes exist only on the way to a minted template (at most the per-host cap times
//! [`MAX_DEPTH`](super::keys::MAX_DEPTH) + 1), and each node tracks at most the merge
//! threshold + 1 hashed words, then none once it collapses.

use super::classify::Shape;
use super::keys::{push_word, Key, Keys};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::mem;
use std::sync::Arc;

/// What a walk may do.
pub(super) struct Walk<'h, H> {
    /// Mint a template (and the nodes on its way) when the path has none.
    pub(super) mint: bool,
    /// Count plain words towards their position's cardinality.
    pub(super) feed: bool,
    /// Collapse a position once it has seen more distinct plain words than this.
    pub(super) threshold: usize,
    /// Hashes words for the distinct-value sets (randomly keyed, so not steerable).
    pub(super) hasher: &'h H,
}

/// What a walk did.
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// The template, when the path has (or was given) one.
    pub(super) template: Option<Arc<str>>,
    /// Positions collapsed to `{param}` during the walk.
    pub(super) collapses: u64,
    /// The walk changed nothing (it only read known nodes): the same path walks the same way
    /// until something else changes the trie.
    pub(super) pure: bool,
}

/// Learned templates of one host.
#[derive(Debug, Default)]
pub(super) struct HostTemplates {
    root: Node,
    templates: usize,
}

#[derive(Debug, Default)]
struct Node {
    plain: HashMap<Box<str>, Node>,
    shaped: Vec<(Shape, Node)>,
    seen: Seen,
    template: Option<Arc<str>>,
}

/// The distinct plain words seen at the next position, as sorted hashes, until it collapses.
#[derive(Debug)]
enum Seen {
    Tracking(Vec<u32>),
    Collapsed,
}

impl Default for Seen {
    fn default() -> Self {
        Seen::Tracking(Vec::new())
    }
}

/// Counts kept during a walk.
#[derive(Default)]
struct Tally {
    minted: bool,
    /// Something was written: a template, a node, a word's hash.
    touched: bool,
    /// Templates that merged into another one.
    removed: usize,
    collapses: u64,
}

impl HostTemplates {
    /// How many templates this host has.
    pub(super) fn len(&self) -> usize {
        self.templates
    }

    /// Walks a path's keys: finds its template, feeding cardinality and minting as allowed.
    pub(super) fn walk<H: BuildHasher>(
        &mut self,
        keys: &mut Keys<'_>,
        how: &Walk<'_, H>,
    ) -> Walked {
        let mut tally = Tally::default();
        let template = walk(&mut self.root, 0, keys, how, &mut tally);
        self.templates = self.templates + usize::from(tally.minted) - tally.removed;
        Walked {
            template,
            collapses: tally.collapses,
            pure: !tally.touched,
        }
    }

    /// Nodes and tracked words, for stats.
    pub(super) fn footprint(&self) -> (usize, usize) {
        let mut out = (0, 0);
        self.root.footprint(&mut out);
        out
    }
}

fn walk<H: BuildHasher>(
    node: &mut Node,
    depth: usize,
    keys: &mut Keys<'_>,
    how: &Walk<'_, H>,
    tally: &mut Tally,
) -> Option<Arc<str>> {
    if depth == keys.len() {
        if let Some(template) = &node.template {
            return Some(template.clone());
        }
        if !how.mint {
            return None;
        }
        let template: Arc<str> = keys.render(depth).into();
        node.template = Some(template.clone());
        tally.minted = true;
        tally.touched = true;
        return Some(template);
    }
    if let Key::Plain { start, end } = keys.get(depth) {
        if matches!(node.seen, Seen::Collapsed) {
            keys.collapse(depth);
        } else {
            let word = keys.text(start, end);
            if let Some(child) = node.plain.get_mut(word) {
                // A known word was counted when it was first seen.
                return walk(child, depth + 1, keys, how, tally);
            }
            tally.touched |= how.feed || how.mint;
            if how.feed && node.see(how.hasher.hash_one(word) as u32, how.threshold) {
                tally.collapses += 1;
                keys.collapse(depth);
                node.fold(how.threshold, tally);
                if let Some(child) = node.shaped_mut(Shape::Param) {
                    child.rename(&mut keys.render(depth + 1));
                }
            } else if how.mint {
                let child = node.plain.entry(word.into()).or_default();
                return walk(child, depth + 1, keys, how, tally);
            } else {
                return None;
            }
        }
    }
    let Key::Shape(shape) = keys.get(depth) else {
        return None;
    };
    let child = match node.shaped.iter().position(|(s, _)| *s == shape) {
        Some(at) => &mut node.shaped[at].1,
        None if how.mint => {
            tally.touched = true;
            node.shaped.push((shape, Node::default()));
            &mut node.shaped.last_mut()?.1
        }
        None => return None,
    };
    walk(child, depth + 1, keys, how, tally)
}

impl Node {
    fn shaped_mut(&mut self, shape: Shape) -> Option<&mut Node> {
        self.shaped
            .iter_mut()
            .find_map(|(s, n)| (*s == shape).then_some(n))
    }

    /// Records a word's hash; true when this pushed the position past the threshold.
    fn see(&mut self, hash: u32, threshold: usize) -> bool {
        let Seen::Tracking(seen) = &mut self.seen else {
            return false;
        };
        if let Err(at) = seen.binary_search(&hash) {
            seen.insert(at, hash);
        }
        seen.len() > threshold
    }

    /// Collapses the next position: plain children fold into the `{param}` child.
    fn fold(&mut self, threshold: usize, tally: &mut Tally) {
        self.seen = Seen::Collapsed;
        let plain = mem::take(&mut self.plain);
        if plain.is_empty() {
            return;
        }
        if self.shaped_mut(Shape::Param).is_none() {
            self.shaped.push((Shape::Param, Node::default()));
        }
        if let Some(target) = self.shaped_mut(Shape::Param) {
            for (_, child) in plain {
                target.absorb(child, threshold, tally);
            }
        }
    }

    /// Merges another subtree into this one (templates are renamed afterwards by the caller).
    fn absorb(&mut self, other: Node, threshold: usize, tally: &mut Tally) {
        match (&self.template, other.template) {
            (Some(_), Some(_)) => tally.removed += 1,
            (None, theirs) => self.template = theirs,
            (Some(_), None) => {}
        }
        let collapsed = match (&mut self.seen, other.seen) {
            (Seen::Collapsed, _) | (_, Seen::Collapsed) => true,
            (Seen::Tracking(mine), Seen::Tracking(theirs)) => {
                for hash in theirs {
                    if let Err(at) = mine.binary_search(&hash) {
                        mine.insert(at, hash);
                    }
                }
                let crossed = mine.len() > threshold;
                tally.collapses += u64::from(crossed);
                crossed
            }
        };
        if collapsed {
            self.seen = Seen::Collapsed;
        }
        for (word, child) in other.plain {
            match self.plain.get_mut(&word) {
                Some(mine) => mine.absorb(child, threshold, tally),
                None => {
                    self.plain.insert(word, child);
                }
            }
        }
        for (shape, child) in other.shaped {
            match self.shaped_mut(shape) {
                Some(mine) => mine.absorb(child, threshold, tally),
                None => self.shaped.push((shape, child)),
            }
        }
        if matches!(self.seen, Seen::Collapsed) && !self.plain.is_empty() {
            self.fold(threshold, tally);
        }
    }

    /// Rewrites the templates of this subtree, whose path renders as `prefix`.
    fn rename(&mut self, prefix: &mut String) {
        if self.template.is_some() {
            self.template = Some(Arc::from(prefix.as_str()));
        }
        let len = prefix.len();
        for (word, child) in &mut self.plain {
            prefix.push('/');
            push_word(prefix, word);
            child.rename(prefix);
            prefix.truncate(len);
        }
        for (shape, child) in &mut self.shaped {
            prefix.push('/');
            prefix.push_str(shape.placeholder());
            child.rename(prefix);
            prefix.truncate(len);
        }
    }

    fn footprint(&self, out: &mut (usize, usize)) {
        out.0 += 1;
        if let Seen::Tracking(seen) = &self.seen {
            out.1 += seen.len();
        }
        for child in self
            .plain
            .values()
            .chain(self.shaped.iter().map(|(_, n)| n))
        {
            child.footprint(out);
        }
    }
}
