//! Alertmanager label matchers (`name="value"`, `!=`, `=~`, `!~`).
//!
//! Routing, silences and inhibition all select alerts with the same matcher
//! language as Prometheus Alertmanager, so that configuration and silences
//! written for Alertmanager (and `amtool`) work here unchanged.
//!
//! Semantics follow Alertmanager:
//! - a missing label matches as the empty string, so `env=""` selects alerts
//!   without `env` and `env!=""` selects alerts that have it;
//! - regular expressions are anchored at both ends (`^(?:…)$`);
//! - a list of matchers selects an alert only when every matcher matches.
//!
//! The grammar is that of Alertmanager's UTF-8 matcher parser: an optional
//! `{`…`}` around a comma-separated list (trailing comma allowed); names and
//! values either double-quoted or unquoted runs of characters other than
//! whitespace and `{}!=~,\"'` and backquote. Inside quotes `\"`, `\\`, `\n` and
//! `\t` are escapes; any other backslash stays literal, as Alertmanager's
//! classic parser keeps it, so `"\d+"` is the regex `\d+` in either dialect.
//!
//! Regexes use the `regex` crate, which like Go's `regexp` (RE2) runs in
//! linear time and has no backreferences. One difference: `\d`, `\w`, `\s`
//! and `\b` are Unicode-aware here and ASCII-only in Go.
//!
//! Input sizes are bounded (see the `MAX_*` constants) so neither a config
//! file nor an API request can make matching costly in memory or time.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Longest label name a matcher may name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest value or regex a matcher may hold, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most matchers one list may hold.
pub const MAX_MATCHERS: usize = 64;
/// Longest matcher-list text the parser reads, in bytes.
pub const MAX_INPUT_LEN: usize = 16 * 1024;
/// Compiled size limit of one regex, in bytes (the `regex` default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Lazy-DFA cache limit of one regex, in bytes.
const REGEX_DFA_LIMIT: usize = 1024 * 1024;
/// Deepest nesting of groups and repetitions a regex may use.
const REGEX_NEST_LIMIT: u32 = 64;

/// How a matcher compares the label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    /// `=`: equal to the value.
    Eq,
    /// `!=`: not equal to the value.
    NotEq,
    /// `=~`: the whole label value matches the regex.
    Re,
    /// `!~`: the whole label value does not match the regex.
    NotRe,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Re => "=~",
            MatchOp::NotRe => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Re | MatchOp::NotRe)
    }

    /// Whether the operator is one of the negating two (`!=`, `!~`).
    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEq | MatchOp::NotRe)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a matcher or matcher list was refused. Positions are 1-based character
/// columns in the parsed text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MatcherError {
    #[error("column {column}: expected a label name, found {found}")]
    ExpectedName { column: usize, found: String },
    #[error("column {column}: expected an operator ('=', '!=', '=~' or '!~') after label {name:?}, found {found}")]
    ExpectedOperator { column: usize, name: String, found: String },
    #[error("column {column}: expected a value after {name:?}{op}, found {found}")]
    ExpectedValue { column: usize, name: String, op: MatchOp, found: String },
    #[error("column {column}: expected ',' or '}}' after a matcher, found {found}")]
    ExpectedCommaOrClose { column: usize, found: String },
    #[error("column {column}: unexpected {found}; a name or value containing it must be in double quotes")]
    UnexpectedChar { column: usize, found: String },
    #[error("column {column}: quoted string is not closed")]
    UnterminatedQuote { column: usize },
    #[error("column {column}: '{{' is not closed by '}}'")]
    MissingCloseBrace { column: usize },
    #[error("column {column}: '}}' without an opening '{{'")]
    UnexpectedCloseBrace { column: usize },
    #[error("column {column}: unexpected {found} after the closing '}}'")]
    TrailingInput { column: usize, found: String },
    #[error("label name must not be empty")]
    EmptyName,
    #[error("label name {name:?} is longer than {max} bytes")]
    NameTooLong { name: String, max: usize },
    #[error("value for label {name:?} is longer than {max} bytes")]
    ValueTooLong { name: String, max: usize },
    #[error("matcher text is longer than {max} bytes")]
    InputTooLong { max: usize },
    #[error("more than {max} matchers")]
    TooMany { max: usize },
    #[error("invalid regular expression for label {name:?}: {reason}")]
    InvalidRegex { name: String, reason: String },
    #[error("expected exactly one matcher, found {found}")]
    NotOne { found: usize },
}

impl MatcherError {
    /// The 1-based column in the matcher text the error points at, when it
    /// points at one (so a config file can place it exactly).
    pub fn column(&self) -> Option<usize> {
        match self {
            MatcherError::ExpectedName { column, .. }
            | MatcherError::ExpectedOperator { column, .. }
            | MatcherError::ExpectedValue { column, .. }
            | MatcherError::ExpectedCommaOrClose { column, .. }
            | MatcherError::UnexpectedChar { column, .. }
            | MatcherError::UnterminatedQuote { column }
            | MatcherError::MissingCloseBrace { column }
            | MatcherError::UnexpectedCloseBrace { column }
            | MatcherError::TrailingInput { column, .. } => Some(*column),
            _ => None,
        }
    }
}

/// One label matcher. Equality compares name, operator and value text; the
/// compiled regex is derived from them.
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling (anchored) and bounding a regex value.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        if name.is_empty() {
            return Err(MatcherError::EmptyName);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(MatcherError::NameTooLong { name: truncated(&name), max: MAX_NAME_LEN });
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(MatcherError::ValueTooLong { name, max: MAX_VALUE_LEN });
        }
        let regex = if op.is_regex() { Some(compile_anchored(&name, &value)?) } else { None };
        Ok(Matcher { name, op, value, regex })
    }

    /// Parses exactly one matcher, such as `severity!~"info|debug"`.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let mut list = Matchers::parse(text)?.0;
        match list.len() {
            1 => Ok(list.remove(0)),
            found => Err(MatcherError::NotOne { found }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchOp {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the matcher accepts this label value (`""` for a missing label).
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::NotEq, _) => value != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::NotRe, Some(re)) => !re.is_match(value),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }

    /// Whether the label set satisfies the matcher; a missing label is `""`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether an alert without this label would match: Alertmanager refuses
    /// silences whose every matcher does, since they would silence everything.
    /// Like Alertmanager, only `=` and `=~` count; `!=`/`!~` never do.
    pub fn matches_empty(&self) -> bool {
        match self.op {
            MatchOp::Eq | MatchOp::Re => self.matches_value(""),
            MatchOp::NotEq | MatchOp::NotRe => false,
        }
    }
}

fn compile_anchored(name: &str, pattern: &str) -> Result<Regex, MatcherError> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| MatcherError::InvalidRegex { name: name.to_string(), reason: regex_reason(&e) })
}

/// The `regex` crate's messages span several lines with a caret diagram; the
/// last line carries the reason.
fn regex_reason(err: &regex::Error) -> String {
    match err {
        regex::Error::CompiledTooBig(limit) => format!("compiles to more than {limit} bytes"),
        other => {
            let text = other.to_string();
            text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
        }
    }
}

fn truncated(s: &str) -> String {
    s.chars().take(32).collect::<String>() + "…"
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

/// Renders in the parser's syntax, so `Matcher::parse(&m.to_string()) == m`.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.chars().all(|c| !is_reserved(c)) {
            f.write_str(&self.name)?;
        } else {
            write_quoted(f, &self.name)?;
        }
        f.write_str(self.op.as_str())?;
        write_quoted(f, &self.value)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Matcher::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A list of matchers that selects a label set when all of them match; the
/// empty list matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    pub fn new(list: Vec<Matcher>) -> Result<Self, MatcherError> {
        if list.len() > MAX_MATCHERS {
            return Err(MatcherError::TooMany { max: MAX_MATCHERS });
        }
        Ok(Matchers(list))
    }

    /// Parses a list such as `{team="payments", severity=~"critical|error"}`;
    /// the braces are optional and `""` or `{}` is the empty list.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        if text.len() > MAX_INPUT_LEN {
            return Err(MatcherError::InputTooLong { max: MAX_INPUT_LEN });
        }
        Parser { lexer: Lexer::new(text), peeked: None }.parse_list().map(Matchers)
    }

    /// Parses one matcher per string, as a YAML list of matchers is written.
    pub fn parse_each<S: AsRef<str>>(texts: &[S]) -> Result<Self, (usize, MatcherError)> {
        if texts.len() > MAX_MATCHERS {
            return Err((MAX_MATCHERS, MatcherError::TooMany { max: MAX_MATCHERS }));
        }
        let list = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Matcher::parse(t.as_ref()).map_err(|e| (i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Matchers(list))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// Whether every matcher matches the empty string (see
    /// [`Matcher::matches_empty`]); true for the empty list.
    pub fn all_match_empty(&self) -> bool {
        self.0.iter().all(Matcher::matches_empty)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Matcher] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Matchers {
    type Item = &'a Matcher;
    type IntoIter = std::slice::Iter<'a, Matcher>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Renders as `{a="b", c=~"d"}`, which [`Matchers::parse`] reads back.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Serialised as a list of matcher strings, the config file's shape.
impl Serialize for Matchers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Matchers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Matcher>::deserialize(deserializer)?;
        Matchers::new(list).map_err(serde::de::Error::custom)
    }
}

/// Characters that end an unquoted name or value (as Alertmanager's lexer).
fn is_reserved(c: char) -> bool {
    c.is_whitespace() || matches!(c, '{' | '}' | '!' | '=' | '~' | ',' | '\\' | '"' | '\'' | '`')
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TokenKind {
    OpenBrace,
    CloseBrace,
    Comma,
    Op(MatchOp),
    /// A name or value, quoted or not, already unescaped.
    Text(String),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    /// 1-based character column where the token starts.
    column: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            TokenKind::OpenBrace => "'{'".into(),
            TokenKind::CloseBrace => "'}'".into(),
            TokenKind::Comma => "','".into(),
            TokenKind::Op(op) => format!("'{op}'"),
            TokenKind::Text(t) => format!("{:?}", truncate_for_message(t)),
            TokenKind::End => "end of input".into(),
        }
    }
}

fn truncate_for_message(s: &str) -> String {
    if s.chars().count() > 32 { truncated(s) } else { s.to_string() }
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// 1-based column of the next character.
    column: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer { chars: text.chars().peekable(), column: 1 }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c.is_some() {
            self.column += 1;
        }
        c
    }

    fn next_token(&mut self) -> Result<Token, MatcherError> {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.bump();
        }
        let column = self.column;
        let token = |kind| Ok(Token { kind, column });
        let Some(c) = self.bump() else { return token(TokenKind::End) };
        match c {
            '{' => token(TokenKind::OpenBrace),
            '}' => token(TokenKind::CloseBrace),
            ',' => token(TokenKind::Comma),
            '=' => {
                if self.chars.peek() == Some(&'~') {
                    self.bump();
                    token(TokenKind::Op(MatchOp::Re))
                } else {
                    token(TokenKind::Op(MatchOp::Eq))
                }
            }
            '!' => match self.bump() {
                Some('=') => token(TokenKind::Op(MatchOp::NotEq)),
                Some('~') => token(TokenKind::Op(MatchOp::NotRe)),
                _ => Err(MatcherError::UnexpectedChar { column, found: "'!' (not '!=' or '!~')".into() }),
            },
            '"' => self.quoted(column).map(|s| Token { kind: TokenKind::Text(s), column }),
            c if is_reserved(c) => Err(MatcherError::UnexpectedChar { column, found: format!("{c:?}") }),
            c => {
                let mut text = String::from(c);
                while let Some(&c) = self.chars.peek() {
                    if is_reserved(c) {
                        break;
                    }
                    text.push(c);
                    self.bump();
                }
                token(TokenKind::Text(text))
            }
        }
    }

    /// Reads a quoted string after its opening quote, unescaping it.
    fn quoted(&mut self, column: usize) -> Result<String, MatcherError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(MatcherError::UnterminatedQuote { column }),
                Some('"') => return Ok(text),
                Some('\\') => match self.bump() {
                    None => return Err(MatcherError::UnterminatedQuote { column }),
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some(c @ ('"' | '\\')) => text.push(c),
                    Some(c) => {
                        text.push('\\');
                        text.push(c);
                    }
                },
                Some(c) => text.push(c),
            }
            if text.len() > MAX_INPUT_LEN {
                return Err(MatcherError::InputTooLong { max: MAX_INPUT_LEN });
            }
        }
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
}

impl Parser<'_> {
    fn next(&mut self) -> Result<Token, MatcherError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn parse_list(&mut self) -> Result<Vec<Matcher>, MatcherError> {
        let open = self.next()?;
        let braced = open.kind == TokenKind::OpenBrace;
        if !braced {
            self.peeked = Some(open.clone());
        }
        let mut list = Vec::new();
        loop {
            let t = self.next()?;
            match t.kind {
                TokenKind::End if braced => return Err(MatcherError::MissingCloseBrace { column: open.column }),
                TokenKind::End => return Ok(list),
                TokenKind::CloseBrace if braced => return self.expect_end(list),
                TokenKind::CloseBrace => return Err(MatcherError::UnexpectedCloseBrace { column: t.column }),
                TokenKind::Text(name) => {
                    if list.len() == MAX_MATCHERS {
                        return Err(MatcherError::TooMany { max: MAX_MATCHERS });
                    }
                    list.push(self.matcher_after_name(name)?);
                }
                _ => return Err(MatcherError::ExpectedName { column: t.column, found: t.describe() }),
            }
            let sep = self.next()?;
            match sep.kind {
                TokenKind::Comma => {}
                TokenKind::End if braced => return Err(MatcherError::MissingCloseBrace { column: open.column }),
                TokenKind::End => return Ok(list),
                TokenKind::CloseBrace if braced => return self.expect_end(list),
                TokenKind::CloseBrace => return Err(MatcherError::UnexpectedCloseBrace { column: sep.column }),
                _ => return Err(MatcherError::ExpectedCommaOrClose { column: sep.column, found: sep.describe() }),
            }
        }
    }

    fn matcher_after_name(&mut self, name: String) -> Result<Matcher, MatcherError> {
        if name.is_empty() {
            return Err(MatcherError::EmptyName);
        }
        let t = self.next()?;
        let TokenKind::Op(op) = t.kind else {
            return Err(MatcherError::ExpectedOperator { column: t.column, name, found: t.describe() });
        };
        let t = self.next()?;
        let value = match t.kind {
            TokenKind::Text(v) => v,
            // `name=` followed by the end or a separator: Alertmanager reads an
            // empty value there only when it is quoted (`name=""`).
            _ => return Err(MatcherError::ExpectedValue { column: t.column, name, op, found: t.describe() }),
        };
        Matcher::new(name, op, value)
    }

    fn expect_end(&mut self, list: Vec<Matcher>) -> Result<Vec<Matcher>, MatcherError> {
        let t = self.next()?;
        match t.kind {
            TokenKind::End => Ok(list),
            _ => Err(MatcherError::TrailingInput { column: t.column, found: t.describe() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    #[test]
    fn operators_compare_the_label_value() {
        let l = labels(&[("env", "prod"), ("team", "payments")]);
        assert!(m("env", MatchOp::Eq, "prod").matches(&l));
        assert!(!m("env", MatchOp::Eq, "dev").matches(&l));
        assert!(m("env", MatchOp::NotEq, "dev").matches(&l));
        assert!(!m("env", MatchOp::NotEq, "prod").matches(&l));
        assert!(m("team", MatchOp::Re, "pay.*").matches(&l));
        assert!(!m("team", MatchOp::Re, "pay").matches(&l));
        assert!(m("team", MatchOp::NotRe, "pay").matches(&l));
        assert!(!m("team", MatchOp::NotRe, "pay.*|x").matches(&l));
    }

    #[test]
    fn a_missing_label_is_the_empty_string() {
        let l = labels(&[("env", "prod")]);
        assert!(m("team", MatchOp::Eq, "").matches(&l));
        assert!(!m("team", MatchOp::NotEq, "").matches(&l));
        assert!(m("team", MatchOp::NotEq, "payments").matches(&l));
        assert!(m("team", MatchOp::Re, ".*").matches(&l));
        assert!(!m("team", MatchOp::Re, ".+").matches(&l));
        assert!(m("team", MatchOp::NotRe, ".+").matches(&l));
        assert!(!m("env", MatchOp::Eq, "").matches(&l));
    }

    #[test]
    fn regexes_are_anchored_at_both_ends() {
        let re = m("instance", MatchOp::Re, "web|db");
        assert!(re.matches_value("web"));
        assert!(re.matches_value("db"));
        // Without the non-capturing group the alternation would leak out of
        // the anchors and "webserver" would match `^web`.
        assert!(!re.matches_value("webserver"));
        assert!(!re.matches_value("mydb"));
        assert!(!m("x", MatchOp::Re, "b").matches_value("abc"));
        assert!(m("x", MatchOp::Re, "(?i)PROD").matches_value("prod"));
        assert!(m("x", MatchOp::Re, "\\d+").matches_value("503"));
        assert!(m("x", MatchOp::Re, "\\pL+").matches_value("Σίγμα"));
    }

    #[test]
    fn a_list_matches_when_all_match_and_the_empty_list_matches_everything() {
        let l = labels(&[("env", "prod"), ("team", "payments")]);
        let both = Matchers::parse(r#"env="prod", team=~"pay.*""#).unwrap();
        assert!(both.matches(&l));
        let one_fails = Matchers::parse(r#"env="prod", team="search""#).unwrap();
        assert!(!one_fails.matches(&l));
        assert!(Matchers::default().matches(&l));
        assert!(Matchers::parse("{}").unwrap().matches(&BTreeMap::new()));
    }

    #[test]
    fn parses_each_operator_quoted_and_unquoted() {
        let cases = [
            (r#"foo="bar""#, "foo", MatchOp::Eq, "bar"),
            (r#"foo!="bar""#, "foo", MatchOp::NotEq, "bar"),
            (r#"foo=~"b.*""#, "foo", MatchOp::Re, "b.*"),
            (r#"foo!~"b.*""#, "foo", MatchOp::NotRe, "b.*"),
            ("foo=bar", "foo", MatchOp::Eq, "bar"),
            ("foo!=bar", "foo", MatchOp::NotEq, "bar"),
            ("foo=~b.*", "foo", MatchOp::Re, "b.*"),
            ("foo!~b.*", "foo", MatchOp::NotRe, "b.*"),
            ("  foo  =~  \"5..\"  ", "foo", MatchOp::Re, "5.."),
            ("statuscode=~5..", "statuscode", MatchOp::Re, "5.."),
            (r#"foo="""#, "foo", MatchOp::Eq, ""),
            (r#"foo:bar="x""#, "foo:bar", MatchOp::Eq, "x"),
            (r#"_a1="x""#, "_a1", MatchOp::Eq, "x"),
            (r#"foo="bar baz, qux""#, "foo", MatchOp::Eq, "bar baz, qux"),
            (r#""service name"="checkout""#, "service name", MatchOp::Eq, "checkout"),
            ("Σ=🙂", "Σ", MatchOp::Eq, "🙂"),
            ("job=node-exporter/a.b:9100", "job", MatchOp::Eq, "node-exporter/a.b:9100"),
        ];
        for (text, name, op, value) in cases {
            let got = Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((got.name(), got.op(), got.value()), (name, op, value), "{text}");
        }
    }

    #[test]
    fn unescapes_quoted_values() {
        let cases = [
            (r#"a="say \"hi\"""#, "say \"hi\""),
            (r#"a="back\\slash""#, "back\\slash"),
            (r#"a="two\nlines""#, "two\nlines"),
            (r#"a="tab\there""#, "tab\there"),
            // Unknown escapes keep their backslash, so regex classes survive.
            (r#"a="\d+\.\w""#, "\\d+\\.\\w"),
            ("a=\"literal\nnewline\"", "literal\nnewline"),
        ];
        for (text, value) in cases {
            assert_eq!(Matcher::parse(text).unwrap().value(), value, "{text}");
        }
        let re = Matcher::parse(r#"path=~"/api/v\d+/.*""#).unwrap();
        assert!(re.matches_value("/api/v2/alerts"));
        assert!(!re.matches_value("/api/vX/alerts"));
    }

    #[test]
    fn parses_lists_with_and_without_braces() {
        let expected = vec![m("foo", MatchOp::Eq, "bar"), m("dings", MatchOp::NotEq, "bums")];
        for text in [
            r#"{foo = "bar", dings != "bums", }"#,
            "foo=bar,dings!=bums",
            "foo=bar, dings!=bums",
            "{foo=bar,dings!=bums}",
            " { foo=\"bar\" ,\n dings!=\"bums\" } ",
            "foo=bar,dings!=bums,",
        ] {
            assert_eq!(Matchers::parse(text).unwrap().as_slice(), expected.as_slice(), "{text}");
        }
        for empty in ["", "  ", "{}", "{ }"] {
            assert!(Matchers::parse(empty).unwrap().is_empty(), "{empty:?}");
        }
        let quoted = Matchers::parse(r#"{quote="She said: \"Hi, all!\"", b=c}"#).unwrap();
        assert_eq!(quoted.len(), 2);
        assert_eq!(quoted.as_slice()[0].value(), "She said: \"Hi, all!\"");
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let cases: &[(&str, MatcherError)] = &[
            ("foo", MatcherError::ExpectedOperator { column: 4, name: "foo".into(), found: "end of input".into() }),
            ("foo bar", MatcherError::ExpectedOperator { column: 5, name: "foo".into(), found: "\"bar\"".into() }),
            ("=bar", MatcherError::ExpectedName { column: 1, found: "'='".into() }),
            (
                "foo=",
                MatcherError::ExpectedValue {
                    column: 5,
                    name: "foo".into(),
                    op: MatchOp::Eq,
                    found: "end of input".into(),
                },
            ),
            ("foo=\"bar", MatcherError::UnterminatedQuote { column: 5 }),
            ("foo=\"bar\\\"", MatcherError::UnterminatedQuote { column: 5 }),
            ("{foo=bar", MatcherError::MissingCloseBrace { column: 1 }),
            ("foo=bar}", MatcherError::UnexpectedCloseBrace { column: 8 }),
            ("{foo=bar} x", MatcherError::TrailingInput { column: 11, found: "\"x\"".into() }),
            ("foo=bar baz", MatcherError::ExpectedCommaOrClose { column: 9, found: "\"baz\"".into() }),
            ("foo!bar", MatcherError::UnexpectedChar { column: 4, found: "'!' (not '!=' or '!~')".into() }),
            ("foo=b'r", MatcherError::UnexpectedChar { column: 6, found: "'\\''".into() }),
            ("foo=~\\d", MatcherError::UnexpectedChar { column: 6, found: "'\\\\'".into() }),
            ("foo=a=b", MatcherError::ExpectedCommaOrClose { column: 6, found: "'='".into() }),
            ("\"\"=x", MatcherError::EmptyName),
            ("a=b,,c=d", MatcherError::ExpectedName { column: 5, found: "','".into() }),
        ];
        for (text, expected) in cases {
            assert_eq!(Matchers::parse(text).unwrap_err(), *expected, "{text}");
        }
        let bad_re = Matcher::parse(r#"foo=~"(unclosed""#).unwrap_err();
        let MatcherError::InvalidRegex { name, reason } = &bad_re else { panic!("{bad_re:?}") };
        assert_eq!(name, "foo");
        assert!(reason.contains("unclosed group"), "{reason}");
        assert!(bad_re.to_string().starts_with("invalid regular expression for label \"foo\""));
        assert_eq!(Matcher::parse("a=b,c=d").unwrap_err(), MatcherError::NotOne { found: 2 });
        assert_eq!(Matcher::parse("").unwrap_err(), MatcherError::NotOne { found: 0 });
    }

    #[test]
    fn sizes_are_bounded() {
        let long_value = "x".repeat(MAX_VALUE_LEN + 1);
        assert_eq!(
            Matcher::new("a", MatchOp::Eq, long_value.clone()).unwrap_err(),
            MatcherError::ValueTooLong { name: "a".into(), max: MAX_VALUE_LEN }
        );
        assert!(Matcher::new("a", MatchOp::Eq, "x".repeat(MAX_VALUE_LEN)).is_ok());
        assert!(matches!(
            Matcher::new("n".repeat(MAX_NAME_LEN + 1), MatchOp::Eq, "v").unwrap_err(),
            MatcherError::NameTooLong { .. }
        ));
        assert_eq!(
            Matchers::parse(&"a".repeat(MAX_INPUT_LEN + 1)).unwrap_err(),
            MatcherError::InputTooLong { max: MAX_INPUT_LEN }
        );
        let many = vec!["a=b"; MAX_MATCHERS + 1].join(",");
        assert_eq!(Matchers::parse(&many).unwrap_err(), MatcherError::TooMany { max: MAX_MATCHERS });
        assert_eq!(Matchers::parse(&vec!["a=b"; MAX_MATCHERS].join(",")).unwrap().len(), MAX_MATCHERS);
        // A short pattern whose compiled program would be enormous.
        let huge = Matcher::new("a", MatchOp::Re, "(\\pL{100}){100}").unwrap_err();
        assert!(matches!(huge, MatcherError::InvalidRegex { .. }), "{huge:?}");
        let deep = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(matches!(Matcher::new("a", MatchOp::Re, deep).unwrap_err(), MatcherError::InvalidRegex { .. }));
    }

    #[test]
    fn display_round_trips_through_the_parser() {
        for text in [
            r#"a="b""#,
            r#"a!="say \"hi\"\nback\\slash""#,
            r#"a=~"x|y""#,
            r#"a!~"""#,
            r#""odd name"="v""#,
            r#""a=b"=~"\\d+""#,
        ] {
            let parsed = Matcher::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(Matcher::parse(&parsed.to_string()).unwrap(), parsed);
        }
        // A lone backslash reads literally and prints in its canonical form.
        assert_eq!(Matcher::parse(r#"a=~"\d+""#).unwrap().to_string(), r#"a=~"\\d+""#);
        let list = Matchers::parse("a=b, c=~d").unwrap();
        assert_eq!(list.to_string(), r#"{a="b", c=~"d"}"#);
        assert_eq!(Matchers::parse(&list.to_string()).unwrap(), list);
    }

    #[test]
    fn serde_uses_the_matcher_strings() {
        let list: Matchers = serde_json::from_str(r#"["team=\"payments\"", "severity!~\"info\""]"#).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"["team=\"payments\"","severity!~\"info\""]"#);
        let err = serde_json::from_str::<Matchers>(r#"["team"]"#).unwrap_err();
        assert!(err.to_string().contains("expected an operator"), "{err}");
        let (index, _) = Matchers::parse_each(&["a=b", "c"]).unwrap_err();
        assert_eq!(index, 1);
    }

    #[test]
    fn matches_empty_follows_alertmanager() {
        assert!(m("a", MatchOp::Eq, "").matches_empty());
        assert!(!m("a", MatchOp::Eq, "x").matches_empty());
        assert!(m("a", MatchOp::Re, ".*").matches_empty());
        assert!(m("a", MatchOp::Re, "x|").matches_empty());
        assert!(!m("a", MatchOp::Re, ".+").matches_empty());
        // Negative matchers never count, even though `a!="x"` accepts "".
        assert!(!m("a", MatchOp::NotEq, "x").matches_empty());
        assert!(!m("a", MatchOp::NotRe, "x").matches_empty());
        assert!(Matchers::parse(r#"a="", b=~".*""#).unwrap().all_match_empty());
        assert!(!Matchers::parse(r#"a="", b="x""#).unwrap().all_match_empty());
    }
}
