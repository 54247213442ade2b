//! The shape of the file: which fields exist, which are required, and their
//! types.
//!
//! This step walks the node tree and reports every structural problem (wrong
//! type, unknown field, missing field, unknown integration kind) with its
//! place, without stopping at the first. Entries that lack a required field
//! are left out of the [`Document`]; the rules about values (id syntax,
//! duplicates, references) are `validate`'s job.

use serde_saphyr::Spanned;
use tocsin_core::model::IntegrationKind;

use crate::error::{Diagnostics, Pos, Problem};
use crate::path::Path;
use crate::yaml::{Node, pos, text_of};

const DOCUMENT_FIELDS: &[&str] = &["teams", "users", "services"];
const TEAM_FIELDS: &[&str] = &["id", "name"];
const USER_FIELDS: &[&str] = &["id", "name", "email"];
const SERVICE_FIELDS: &[&str] = &["id", "name", "description", "team", "integrations"];
const INTEGRATION_FIELDS: &[&str] = &["kind", "key", "id"];

/// A string value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) value: String,
    pub(crate) pos: Pos,
}

/// One element of a sequence, with its path and place.
#[derive(Debug)]
pub(crate) struct Entry<T> {
    pub(crate) path: Path,
    pub(crate) pos: Pos,
    pub(crate) value: T,
}

/// The entries of one top-level list.
#[derive(Debug)]
pub(crate) struct Section<T> {
    pub(crate) entries: Vec<Entry<T>>,
    /// False when an entry (or the whole list) was rejected: checks that need
    /// to know every id, like dangling references, are then skipped rather
    /// than report errors that are only echoes of the structural one.
    pub(crate) complete: bool,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Self { entries: Vec::new(), complete: true }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Document {
    pub(crate) teams: Section<Team>,
    pub(crate) users: Section<User>,
    pub(crate) services: Section<Service>,
}

#[derive(Debug)]
pub(crate) struct Team {
    pub(crate) id: Text,
    pub(crate) name: Text,
}

#[derive(Debug)]
pub(crate) struct User {
    pub(crate) id: Text,
    pub(crate) name: Text,
    pub(crate) email: Text,
}

#[derive(Debug)]
pub(crate) struct Service {
    pub(crate) id: Text,
    pub(crate) name: Text,
    pub(crate) description: Option<Text>,
    pub(crate) team: Option<Text>,
    pub(crate) integrations: Vec<Entry<Integration>>,
}

#[derive(Debug)]
pub(crate) struct Integration {
    pub(crate) kind: IntegrationKind,
    pub(crate) key: Text,
    pub(crate) id: Option<Text>,
}

/// Reads the document in `root`, reporting structural problems to `diagnostics`.
pub(crate) fn read(root: &Spanned<Node>, source: &str, diagnostics: &mut Diagnostics) -> Document {
    let mut reader = Reader { source, diagnostics };
    if let Node::Null = root.value {
        // An empty file (or one with only comments) declares nothing.
        return Document::default();
    }
    let Some(fields) = reader.mapping(root, Path::root(), DOCUMENT_FIELDS) else {
        return Document::default();
    };
    Document {
        teams: reader.list(&fields, "teams", Reader::team),
        users: reader.list(&fields, "users", Reader::user),
        services: reader.list(&fields, "services", Reader::service),
    }
}

/// The entries of a mapping being read into a struct.
struct Fields<'t> {
    path: Path,
    pos: Pos,
    entries: &'t [(Spanned<String>, Spanned<Node>)],
}

impl<'t> Fields<'t> {
    fn get(&self, name: &str) -> Option<&'t Spanned<Node>> {
        self.entries.iter().find(|(key, _)| key.value == name).map(|(_, value)| value)
    }
}

struct Reader<'a> {
    source: &'a str,
    diagnostics: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn wrong_type(&mut self, node: &Spanned<Node>, path: &Path, expected: &'static str) {
        let found = node.value.describe();
        self.diagnostics.report(path, pos(&node.referenced), Problem::WrongType { expected, found });
    }

    /// Opens `node` as a mapping with the given fields, reporting any other key.
    fn mapping<'t>(
        &mut self,
        node: &'t Spanned<Node>,
        path: Path,
        known: &'static [&'static str],
    ) -> Option<Fields<'t>> {
        let Node::Map(entries) = &node.value else {
            self.wrong_type(node, &path, "a mapping");
            return None;
        };
        for (key, _) in entries {
            if !known.contains(&key.value.as_str()) {
                self.diagnostics.report(
                    &path.key(&key.value),
                    pos(&key.referenced),
                    Problem::UnknownField { field: key.value.clone(), expected: known },
                );
            }
        }
        Some(Fields { path, pos: pos(&node.referenced), entries })
    }

    fn text(&mut self, node: &Spanned<Node>, path: &Path) -> Option<Text> {
        match text_of(node, self.source) {
            Some(value) => Some(Text { value, pos: pos(&node.referenced) }),
            None => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    fn required_text(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        let Some(node) = fields.get(name) else {
            self.diagnostics.report(&fields.path, fields.pos, Problem::MissingField(name));
            return None;
        };
        self.text(node, &fields.path.key(name))
    }

    /// An optional string: absent and `null` both mean "not set".
    fn optional_text(&mut self, fields: &Fields<'_>, name: &'static str) -> Option<Text> {
        match fields.get(name) {
            None => None,
            Some(node) if matches!(node.value, Node::Null) => None,
            Some(node) => self.text(node, &fields.path.key(name)),
        }
    }

    /// Reads the optional list `name` with `read_one`. `null` counts as empty,
    /// so `teams:` with nothing under it is fine.
    fn list<T>(
        &mut self,
        fields: &Fields<'_>,
        name: &'static str,
        read_one: fn(&mut Self, &Spanned<Node>, Path) -> Option<T>,
    ) -> Section<T> {
        let path = fields.path.key(name);
        let mut section = Section::default();
        let items = match fields.get(name) {
            None => return section,
            Some(node) => match &node.value {
                Node::Null => return section,
                Node::Seq(items) => items,
                _ => {
                    self.wrong_type(node, &path, "a sequence");
                    section.complete = false;
                    return section;
                }
            },
        };
        for (index, item) in items.iter().enumerate() {
            let path = path.index(index);
            match read_one(self, item, path.clone()) {
                Some(value) => section.entries.push(Entry { path, pos: pos(&item.referenced), value }),
                None => section.complete = false,
            }
        }
        section
    }

    // Each reader below reads every field before giving up on a missing one,
    // so all of an entry's problems are reported together.

    fn team(&mut self, node: &Spanned<Node>, path: Path) -> Option<Team> {
        let fields = self.mapping(node, path, TEAM_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        Some(Team { id: id?, name: name? })
    }

    fn user(&mut self, node: &Spanned<Node>, path: Path) -> Option<User> {
        let fields = self.mapping(node, path, USER_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        let email = self.required_text(&fields, "email");
        Some(User { id: id?, name: name?, email: email? })
    }

    fn service(&mut self, node: &Spanned<Node>, path: Path) -> Option<Service> {
        let fields = self.mapping(node, path, SERVICE_FIELDS)?;
        let id = self.required_text(&fields, "id");
        let name = self.required_text(&fields, "name");
        let description = self.optional_text(&fields, "description");
        let team = self.optional_text(&fields, "team");
        let integrations = self.list(&fields, "integrations", Reader::integration);
        // A service whose integrations list is broken is still a service; its
        // integration problems were reported above.
        Some(Service { id: id?, name: name?, description, team, integrations: integrations.entries })
    }

    fn integration(&mut self, node: &Spanned<Node>, path: Path) -> Option<Integration> {
        let fields = self.mapping(node, path, INTEGRATION_FIELDS)?;
        let kind = self.required_text(&fields, "kind");
        let key = self.required_text(&fields, "key");
        let id = self.optional_text(&fields, "id");
        let kind = kind?;
        let Some(parsed) = IntegrationKind::parse(&kind.value) else {
            self.diagnostics.report(
                &fields.path.key("kind"),
                kind.pos,
                Problem::UnknownVariant {
                    found: kind.value,
                    expected: IntegrationKind::ALL.map(IntegrationKind::as_str).to_vec(),
                },
            );
            return None;
        };
        Some(Integration { kind: parsed, key: key?, id })
    }
}
