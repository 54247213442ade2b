//! The errors `parse` and `load` report, and the vocabulary of problems behind
//! their messages.
//!
//! Validation collects every problem it can find instead of stopping at the
//! first, so a user fixes a file in one round trip rather than one error at a
//! time. Each error names the file, the line and column when known, and a
//! path like `services[1].integrations[0].key`.

use std::fmt;

use tocsin_core::duration::DurationError;

use crate::path::Path;

/// One problem in a config file.
///
/// Displays as `file:line:column: path: message`; parts that are unknown (no
/// line for an unreadable file, an empty path for the document root) are left
/// out.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The label the caller gave the text, normally its file path.
    pub file: String,
    /// 1-based line, when the problem has a place in the text.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place in the text.
    pub column: Option<usize>,
    /// Where in the document, like `services[1].integrations[0].kind`; empty for
    /// the document as a whole.
    pub path: String,
    /// What is wrong, for a person to read. Never contains an integration key.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Something in a valid config file that is probably not what its author
/// meant (an empty file, for one). Displays as `file: warning: message`,
/// with line, column and path when it has them, like [`ConfigError`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigWarning {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Empty for the document as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = ConfigError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            path: self.path.clone(),
            message: format!("warning: {}", self.message),
        };
        place.fmt(f)
    }
}

/// Every problem found in one file, in the order they appear in it.
///
/// Never empty when returned by this crate.
#[derive(Debug, thiserror::Error)]
#[error("{}", Lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Displays errors one per line, so each can be read (and grepped) alone.
struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A place in the text: 1-based line and column, either unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
}

impl Pos {
    /// No place in the text: the problem concerns the file as a whole.
    pub(crate) const NONE: Pos = Pos { line: None, column: None };
}

/// What can be wrong with a config file. Each variant is one rule, so the
/// wording of every message lives here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Problem {
    #[error("cannot read the file: {0}")]
    Read(std::io::Error),
    #[error("the file is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    /// The YAML parser rejected the text; the message is the parser's.
    #[error("{0}")]
    Yaml(String),
    #[error("a config file holds a single YAML document, but a second one starts here")]
    MultipleDocuments,
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    #[error("unknown field `{}`, expected one of {}", Shown(.field), .expected.join(", "))]
    UnknownField { field: String, expected: &'static [&'static str] },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("unknown variant `{}`, expected one of {}", Shown(.found), .expected.join(", "))]
    UnknownVariant { found: String, expected: Vec<&'static str> },
    #[error("id must not be empty")]
    IdEmpty,
    #[error("id is {len} characters long; the limit is {max}")]
    IdTooLong { len: usize, max: usize },
    #[error("id `{}` must start with a lowercase letter or a digit", Shown(.id))]
    IdBadStart { id: String },
    #[error("id `{}` contains `{}`; ids use only a-z, 0-9, `_` and `-`", Shown(.id), .ch.escape_debug())]
    IdBadChar { id: String, ch: char },
    #[error("the default id `{id}` is {len} characters long (the limit is {max}); set a shorter `id`")]
    DefaultIdTooLong { id: String, len: usize, max: usize },
    #[error("name must not be empty")]
    NameEmpty,
    #[error("name is {len} characters long; the limit is {max}")]
    NameTooLong { len: usize, max: usize },
    #[error("description is {len} characters long; the limit is {max}")]
    DescriptionTooLong { len: usize, max: usize },
    #[error("invalid email `{}`: expected one `@` with text on both sides", Shown(.email))]
    Email { email: String },
    #[error("{what} key is {len} characters long; it must be {min}–{max} characters")]
    KeyLength { what: &'static str, len: usize, min: usize, max: usize },
    #[error(
        "{what} key has a character that is not allowed at position {position}; \
         keys are printable ASCII without spaces or `/`, because they appear in URL paths"
    )]
    KeyCharacter { what: &'static str, position: usize },
    #[error("duplicate {what} id `{}` (first defined at {})", Shown(.id), Line(*.first_line))]
    DuplicateId { what: &'static str, id: String, first_line: Option<usize> },
    #[error(
        "duplicate integration id `{}` (first used by {first} at {}){}",
        Shown(.id),
        Line(*.first_line),
        if *.defaulted { "; this is the default id of this integration, set a unique `id`" } else { "" }
    )]
    DuplicateIntegrationId { id: String, first: Path, first_line: Option<usize>, defaulted: bool },
    /// Deliberately does not show the key: it is a secret.
    #[error("duplicate {what} key (also used by {first})")]
    DuplicateKey { what: &'static str, first: Path },
    #[error("user `{}` is listed twice in this team", Shown(.user))]
    DuplicateMember { user: String },
    #[error("the `admin` account always has the admin role; remove `role` or set it to `admin`")]
    AdminRole,
    #[error("team `{}` is not declared under `teams`", Shown(.team))]
    UnknownTeam { team: String },
    /// A reference to a user, schedule or escalation policy that does not exist.
    #[error("{what} `{}` is not declared under `{section}`", Shown(.id))]
    Undeclared { what: &'static str, id: String, section: &'static str },
    #[error("unknown time zone `{}`; expected an IANA name such as `America/New_York` or `UTC`", Shown(.zone))]
    UnknownZone { zone: String },
    /// The duration parser's message, which quotes the input.
    #[error("{0}")]
    Duration(DurationError),
    #[error("{0}; or write `off` for no acknowledgement timeout")]
    AckTimeout(DurationError),
    #[error("{0}; or write `off` to keep it forever")]
    RetentionAge(DurationError),
    #[error("a turn is a whole number of hours, days or weeks, like `12h`, `1d` or `1w`; found `{}`", Shown(.found))]
    Turn { found: String },
    #[error(
        "expected a local date and time like `2026-03-02T09:00:00` (no offset: it is read in the layer's time zone), found `{}`",
        Shown(.found)
    )]
    LocalDateTime { found: String },
    #[error("expected an RFC 3339 instant with an offset, like `2026-03-06T18:00:00Z`, found `{}`", Shown(.found))]
    Instant { found: String },
    #[error("expected a time of day like `09:00`, found `{}`", Shown(.found))]
    TimeOfDay { found: String },
    #[error("expected a weekday and a time of day like `mon 09:00`, found `{}`", Shown(.found))]
    WeekdayTime { found: String },
    #[error("expected a whole number from {min} to {max}, found `{}`", Shown(.found))]
    Number { found: String, min: u64, max: u64 },
    #[error("`{field}` does not apply to {kind} contact methods, which take `{expected}`")]
    FieldNotForKind { field: &'static str, kind: &'static str, expected: &'static str },
    /// Deliberately does not show the URL: webhook URLs (Slack's in
    /// particular) carry secrets.
    #[error("invalid URL: expected `http://` or `https://` followed by a host")]
    Url,
    #[error(
        "contact method `{}` belongs to user `{}`; a notification rule may only use its own user's contact methods",
        Shown(.method),
        Shown(.owner)
    )]
    ForeignContactMethod { method: String, owner: String },
    #[error("contact method `{}` is not declared under this user's `contact_methods`", Shown(.method))]
    UnknownContactMethod { method: String },
    #[error("repeats {first} (same contact method, same delay)")]
    DuplicateRule { first: Path },
    #[error("a target names exactly one of `user` or `schedule`")]
    TargetShape,
    #[error("host must not be empty or contain spaces")]
    Host,
    #[error("`username` and `password` go together: set both or neither")]
    Credentials,
    /// Deliberately does not show the secret.
    #[error("a signing secret needs at least 16 characters")]
    ShortSecret,
    #[error("SMTP credentials would cross the network in clear: set `starttls: true` (or use a relay on loopback)")]
    CleartextCredentials,
    #[error(
        "a maintenance window is either one-off (`start` and `end`) or recurring (`times`, `weekdays`, \
         `days_of_month`, `months`, `years`, `time_zone`), not both"
    )]
    WindowShape,
    #[error("a service cannot depend on itself")]
    SelfDependency,
    #[error("`{}` is listed twice", Shown(.id))]
    ListedTwice { id: String },
    #[error("services depend on each other in a cycle: {cycle}")]
    DependencyCycle { cycle: String },
    #[error("route `{}` is not the id of a top-level entry of `routes`", Shown(.id))]
    UnknownRoute { id: String },
    /// A matcher the matcher parser refused, with its message.
    #[error("invalid matcher: {0}")]
    Matcher(String),
    /// A rule of the domain (`tocsin-core`), with its message.
    #[error("{0}")]
    Domain(String),
}

/// Shows user text inside a message: control characters escaped so every error
/// stays on one line, and long text cut short so a pasted blob cannot drown
/// the output.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX_CHARS: usize = 64;
        let head: String = self.0.chars().take(MAX_CHARS).collect();
        f.write_str(&one_line(&head))?;
        if self.0.chars().nth(MAX_CHARS).is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// `text` with control characters escaped (other text, including non-ASCII,
/// kept readable), so a message always stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() {
            out.extend(ch.escape_debug());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `line 12`, or `an earlier entry` when the line is not known.
struct Line(Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, "line {line}"),
            None => f.write_str("an earlier entry"),
        }
    }
}

/// Collects the errors of one file while the checks run.
pub(crate) struct Diagnostics {
    file: String,
    errors: Vec<ConfigError>,
}

impl Diagnostics {
    pub(crate) fn new(file: &str) -> Self {
        Self { file: file.to_owned(), errors: Vec::new() }
    }

    /// How many problems were reported so far.
    pub(crate) fn count(&self) -> usize {
        self.errors.len()
    }

    pub(crate) fn report(&mut self, path: &Path, pos: Pos, problem: Problem) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: problem.to_string(),
        });
    }

    /// `Ok` with `value` when nothing was reported, otherwise every error in
    /// text order (errors without a place first: they concern the whole file).
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        let mut errors = self.errors;
        // Stable: errors at the same place keep the order the checks found them.
        errors.sort_by_key(|error| (error.line, error.column));
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: Option<usize>, column: Option<usize>, path: &str) -> ConfigError {
        ConfigError { file: "tocsin.yaml".to_owned(), line, column, path: path.to_owned(), message: "boom".to_owned() }
    }

    #[test]
    fn display_leaves_out_unknown_parts() {
        assert_eq!(
            error(Some(12), Some(9), "services[1].integrations[0].kind").to_string(),
            "tocsin.yaml:12:9: services[1].integrations[0].kind: boom"
        );
        assert_eq!(error(Some(3), None, "").to_string(), "tocsin.yaml:3: boom");
        assert_eq!(error(None, None, "").to_string(), "tocsin.yaml: boom");
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![error(Some(1), Some(1), "teams"), error(Some(2), Some(3), "users")]);
        assert_eq!(errors.to_string(), "tocsin.yaml:1:1: teams: boom\ntocsin.yaml:2:3: users: boom");
    }

    #[test]
    fn shown_text_escapes_control_characters_and_truncates() {
        assert_eq!(Shown("a\nb").to_string(), "a\\nb");
        let long = "x".repeat(100);
        assert_eq!(Shown(&long).to_string(), format!("{}…", "x".repeat(64)));
    }
}
