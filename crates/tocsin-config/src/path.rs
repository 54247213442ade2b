//! Paths that name a place in the config, like `services[1].integrations[0].key`.
//!
//! Every error carries one so a reader can find the offending entry even when
//! the line number alone is ambiguous (flow mappings put several fields on one
//! line) or unknown (the whole file is rejected).

use std::fmt;

/// A dotted path of mapping keys and sequence indexes; the empty path is the
/// document root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    /// The document root.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// The value under mapping key `name`.
    pub(crate) fn key(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_owned()) } else { Self(format!("{}.{name}", self.0)) }
    }

    /// The element at `index` of the sequence this path names.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// This path followed by `relative`, a path in the same notation that
    /// starts with a key (`layers[1].users`), as the domain's validators
    /// name fields.
    pub(crate) fn join(&self, relative: &str) -> Self {
        self.key(relative)
    }

    /// Like [`Path::join`], but an empty `relative` names this path itself.
    pub(crate) fn join_opt(&self, relative: &str) -> Self {
        if relative.is_empty() { self.clone() } else { self.join(relative) }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Path;

    #[test]
    fn renders_keys_and_indexes() {
        let path = Path::root().key("services").index(1).key("integrations").index(0).key("key");
        assert_eq!(path.to_string(), "services[1].integrations[0].key");
        assert_eq!(Path::root().to_string(), "");
        assert_eq!(Path::root().index(2).to_string(), "[2]");
        assert_eq!(
            Path::root().key("schedules").index(0).join("layers[1].users").to_string(),
            "schedules[0].layers[1].users"
        );
    }
}
