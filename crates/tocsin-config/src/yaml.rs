//! Reading YAML text into a tree of nodes that remember where they came from.
//!
//! The config is read in two steps: this module turns the text into a
//! [`Node`] tree in which every value and every mapping key is wrapped in
//! serde-saphyr's [`Spanned`], and `schema` then walks that tree. Going
//! through a tree instead of deserializing straight into typed structs is what
//! lets us (a) report *every* wrong type, unknown field and missing field in
//! one run rather than only the first one serde stops at, and (b) give each
//! error both a line and a path: serde-saphyr's errors carry a location but no
//! path, while a tree position gives both.

use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, NonFiniteFloatPolicy, Spanned};

use crate::error::{Diagnostics, Pos, Problem, one_line};
use crate::path::Path;

/// Limits that keep a hostile or broken file from exhausting memory or CPU.
///
/// A real config has a few thousand nodes at most and nests five levels
/// deep; these leave ample room for that and reject alias bombs ("billion
/// laughs") long before they expand.
mod limits {
    pub(super) const MAX_DEPTH: usize = 32;
    pub(super) const MAX_NODES: usize = 200_000;
    pub(super) const MAX_EVENTS: usize = 500_000;
    pub(super) const MAX_ANCHORS: usize = 1_000;
    pub(super) const MAX_ALIASES: usize = 1_000;
    /// Events copied in by expanding aliases, across the whole file.
    pub(super) const MAX_REPLAYED_EVENTS: usize = 10_000;
    pub(super) const MAX_REPLAY_DEPTH: usize = 16;
}

/// One YAML value. Scalars the YAML core schema would read as booleans or
/// numbers keep their kind so a string field can still accept them (with
/// their original spelling, see [`text_of`]) while a type error can say what
/// was found.
#[derive(Debug)]
pub(crate) enum Node {
    Null,
    Str(String),
    /// A plain scalar that resolved to a boolean or a number; `text` is a
    /// rendering of the resolved value, used only if the source spelling is
    /// unavailable.
    Implicit {
        kind: ImplicitKind,
        text: String,
    },
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImplicitKind {
    Bool,
    Number,
}

impl Node {
    /// How the node is described in "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Str(_) => "a string",
            Node::Implicit { kind: ImplicitKind::Bool, .. } => "a boolean",
            Node::Implicit { kind: ImplicitKind::Number, .. } => "a number",
            Node::Seq(_) => "a sequence",
            Node::Map(_) => "a mapping",
        }
    }
}

/// The text of a scalar node as the user wrote it, or `None` for nulls and
/// collections.
///
/// `name: 2024` or `key: 0123456789012345` are strings to the person who
/// wrote them, but YAML resolves them to numbers, and the resolved number
/// loses the spelling (leading zeros, exponents, `yes`). The `defined` span
/// of a plain scalar covers exactly its text in `source`, so the spelling is
/// recovered from there.
pub(crate) fn text_of(node: &Spanned<Node>, source: &str) -> Option<String> {
    match &node.value {
        Node::Str(text) => Some(text.clone()),
        Node::Implicit { text, .. } => {
            let span = node.defined.span();
            let spelled = span.byte_offset().zip(span.byte_len()).and_then(|(start, len)| {
                let start = usize::try_from(start).ok()?;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                source.get(start..end)
            });
            Some(spelled.filter(|s| !s.is_empty()).unwrap_or(text).to_owned())
        }
        Node::Null | Node::Seq(_) | Node::Map(_) => None,
    }
}

/// Where a node was used in the text (for an alias, the alias itself).
pub(crate) fn pos(location: &Location) -> Pos {
    let known = |n: u64| usize::try_from(n).ok().filter(|&n| n > 0);
    let line = known(location.line());
    Pos { line, column: line.and_then(|_| known(location.column())) }
}

/// Parses `text` into a node tree. On a YAML-level problem (syntax,
/// duplicate mapping key, exceeded limit) reports it with its place and path
/// and returns `None`: the parser cannot go on after one, so there is only
/// ever one such error.
pub(crate) fn parse_tree(text: &str, diagnostics: &mut Diagnostics) -> Option<Spanned<Node>> {
    trail::reset();
    let result = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options());
    // Read the trail even on success, so it never outlives this call.
    let path = trail::take();
    match result {
        Ok(tree) => Some(tree),
        Err(error) => {
            let error = original(&error);
            let pos = error.location().map_or(Pos::NONE, |l| pos(&l));
            diagnostics.report(&path, pos, problem_of(error));
            None
        }
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: limits::MAX_DEPTH,
            max_nodes: limits::MAX_NODES,
            max_events: limits::MAX_EVENTS,
            max_anchors: limits::MAX_ANCHORS,
            max_aliases: limits::MAX_ALIASES,
            max_total_scalar_bytes: crate::MAX_FILE_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: limits::MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: limits::MAX_REPLAY_DEPTH,
        },
        // Comments are not needed; do not retain their text.
        emit_comments: false,
        // Errors become our own `ConfigError`s; no rendered source snippets.
        with_snippet: false,
        // `.inf`, `0755` and `1_000` stay strings rather than failing or
        // changing spelling; string fields then read them verbatim.
        non_finite_float_policy: NonFiniteFloatPolicy::AsString,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    }
}

/// The error that actually happened, behind any alias wrapper.
fn original(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error: inner, .. }
    | serde_saphyr::Error::WithSnippet { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

fn problem_of(error: &serde_saphyr::Error) -> Problem {
    if let serde_saphyr::Error::MultipleDocuments { .. } = error {
        return Problem::MultipleDocuments;
    }
    // The user-facing formatter leaves out parser internals and the location
    // suffix; we print the location ourselves.
    let message = serde_saphyr::UserMessageFormatter.format_message(error);
    Problem::Yaml(one_line(&message))
}

/// Where the tree builder currently is, so a YAML error can be given a path.
///
/// serde's `Deserialize` takes no context argument, and serde-saphyr's
/// `Spanned<T>` only wraps `Deserialize` types (not seeds), so the builder
/// records the keys and indexes it descends through in a thread-local. An
/// error returns early without popping, which leaves the trail pointing at the
/// value being read when the parser gave up.
mod trail {
    use super::*;

    enum Step {
        Key(String),
        Index(usize),
    }

    thread_local! {
        static TRAIL: RefCell<Vec<Step>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn reset() {
        TRAIL.with_borrow_mut(Vec::clear);
    }

    pub(super) fn push_key(key: &str) {
        TRAIL.with_borrow_mut(|trail| trail.push(Step::Key(key.to_owned())));
    }

    pub(super) fn push_index(index: usize) {
        TRAIL.with_borrow_mut(|trail| trail.push(Step::Index(index)));
    }

    pub(super) fn pop() {
        TRAIL.with_borrow_mut(|trail| {
            trail.pop();
        });
    }

    /// The path the trail spells, leaving the trail empty.
    pub(super) fn take() -> Path {
        TRAIL.with_borrow_mut(|trail| {
            trail.drain(..).fold(Path::root(), |path, step| match step {
                Step::Key(key) => path.key(&key),
                Step::Index(index) => path.index(index),
            })
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl NodeVisitor {
    fn implicit<E>(kind: ImplicitKind, value: impl fmt::Display) -> Result<Node, E> {
        Ok(Node::Implicit { kind, text: value.to_string() })
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Bool, v)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Number, v)
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Number, v)
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Number, v)
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Number, v)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Self::implicit(ImplicitKind::Number, v)
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        loop {
            trail::push_index(items.len());
            let Some(item) = seq.next_element::<Spanned<Node>>()? else {
                trail::pop();
                break;
            };
            trail::pop();
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            trail::push_key(&key.value);
            let value = map.next_value::<Spanned<Node>>()?;
            trail::pop();
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Spanned<Node> {
        let mut diagnostics = Diagnostics::new("t.yaml");
        let tree = parse_tree(text, &mut diagnostics);
        diagnostics.finish(()).unwrap();
        tree.unwrap()
    }

    #[test]
    fn implicit_scalars_keep_their_spelling() {
        let text = "a: 0x1F\nb: 1e3\nc: yes\nd: 0123\ne: \"quoted\"\nf: ~\n";
        let Node::Map(entries) = tree(text).value else {
            panic!("expected a mapping");
        };
        let texts: Vec<Option<String>> = entries.iter().map(|(_, v)| text_of(v, text)).collect();
        assert_eq!(
            texts,
            [
                Some("0x1F".to_owned()),
                Some("1e3".to_owned()),
                Some("yes".to_owned()),
                Some("0123".to_owned()),
                Some("quoted".to_owned()),
                None,
            ]
        );
    }

    #[test]
    fn alias_keeps_the_spelling_of_its_anchor() {
        let text = "a: &n 007e1\nb: *n\n";
        let Node::Map(entries) = tree(text).value else {
            panic!("expected a mapping");
        };
        assert_eq!(text_of(&entries[1].1, text).as_deref(), Some("007e1"));
        assert_eq!(pos(&entries[1].1.referenced), Pos { line: Some(2), column: Some(4) });
    }

    #[test]
    fn trail_is_left_empty_after_success() {
        tree("a: [1, 2]\n");
        assert_eq!(trail::take(), Path::root());
    }
}
