use std::error::Error as _;
use std::fmt;

use tocsin_api::ErrorBody;

/// Everything that can go wrong talking to a Tocsin server.
///
/// `Display` is always a single line, fit to print after `error: `.
#[derive(Debug)]
pub enum ClientError {
    /// The request did not produce an HTTP response (connect, TLS, timeout, …).
    ///
    /// Deliberately not exposed as `source()`: the `Display` already names the
    /// root cause, and anyhow's `{:#}` would otherwise repeat reqwest's whole
    /// chain. The inner error is public for callers that want to inspect it.
    Http(reqwest::Error),
    /// The server answered with a non-2xx status.
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    /// A 2xx answer whose body is not what the contract says.
    Decode(String),
    InvalidUrl(String),
    /// An argument the request cannot carry (an unknown role); nothing was sent.
    InvalidInput(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Http(e) => Transport(e).fmt(f),
            ClientError::Api { status, code, message, field } => {
                write!(f, "{status} {code}: {}", one_line(message))?;
                if let Some(field) = field {
                    write!(f, " (field: {})", one_line(field))?;
                }
                Ok(())
            }
            ClientError::Decode(m) => write!(f, "unexpected response: {}", one_line(m)),
            ClientError::InvalidUrl(m) => write!(f, "invalid URL: {}", one_line(m)),
            ClientError::InvalidInput(m) => write!(f, "invalid input: {}", one_line(m)),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Http(e)
    }
}

impl ClientError {
    /// HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Error code of an API error (`"forbidden"`, `"http_502"`, …), if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Builds an [`ClientError::Api`] from a non-2xx status and its body.
    ///
    /// The body is used if it has the `{"error":{…}}` shape; otherwise the code
    /// is `http_<status>` and the message is the body text (whitespace
    /// collapsed, at most 200 characters) or, if empty, the status reason.
    pub fn from_response(status: u16, body: &[u8]) -> ClientError {
        if let Ok(ErrorBody { error }) = serde_json::from_slice::<ErrorBody>(body) {
            return ClientError::Api { status, code: error.code, message: error.message, field: error.field };
        }
        let text = String::from_utf8_lossy(body);
        let mut message = truncate(&collapse_whitespace(&text), 200);
        if message.is_empty() {
            message = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("empty response")
                .to_string();
        }
        ClientError::Api { status, code: format!("http_{status}"), message, field: None }
    }
}

/// One-line description of a transport error: where, and the root cause.
struct Transport<'a>(&'a reqwest::Error);

impl fmt::Display for Transport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        // Only the origin: paths of ingestion URLs carry integration keys.
        let target = e.url().map(|u| u.origin().ascii_serialization()).unwrap_or_else(|| "server".to_string());
        let cause = root_cause(e);
        if e.is_connect() {
            write!(f, "cannot connect to {target}: {cause}")
        } else if e.is_timeout() {
            write!(f, "request to {target} timed out")
        } else if e.is_builder() {
            write!(f, "cannot build request to {target}: {cause}")
        } else if e.is_redirect() {
            write!(f, "too many redirects from {target}")
        } else {
            write!(f, "request to {target} failed: {cause}")
        }
    }
}

/// The innermost cause, with well-known IO errors spelled simply.
fn root_cause(e: &reqwest::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut io: Option<&std::io::Error> = None;
    let mut cur = e.source();
    while let Some(err) = cur {
        if let Some(i) = err.downcast_ref::<std::io::Error>() {
            io = Some(i);
        }
        innermost = err;
        cur = err.source();
    }
    if let Some(io) = io {
        use std::io::ErrorKind::*;
        let simple = match io.kind() {
            ConnectionRefused => Some("connection refused"),
            ConnectionReset => Some("connection reset by peer"),
            ConnectionAborted => Some("connection aborted"),
            TimedOut => Some("timed out"),
            HostUnreachable => Some("host unreachable"),
            NetworkUnreachable => Some("network unreachable"),
            AddrNotAvailable => Some("address not available"),
            _ => None,
        };
        if let Some(s) = simple {
            return s.to_string();
        }
    }
    one_line(&innermost.to_string())
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) { collapse_whitespace(s) } else { s.to_string() }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_display_is_one_line() {
        let e = ClientError::Api {
            status: 403,
            code: "forbidden".into(),
            message: "role viewer cannot acknowledge incidents".into(),
            field: None,
        };
        assert_eq!(e.to_string(), "403 forbidden: role viewer cannot acknowledge incidents");
        let e = ClientError::Api {
            status: 400,
            code: "validation_failed".into(),
            message: "must not\nbe empty".into(),
            field: Some("text".into()),
        };
        assert_eq!(e.to_string(), "400 validation_failed: must not be empty (field: text)");
    }

    #[test]
    fn from_response_shapes() {
        let e = ClientError::from_response(
            404,
            br#"{"error":{"code":"not_found","message":"no incident 7","field":null}}"#,
        );
        assert_eq!(e.to_string(), "404 not_found: no incident 7");

        let e = ClientError::from_response(502, b"<html>\n  <b>Bad</b>\n</html>\n");
        assert_eq!(e.to_string(), "502 http_502: <html> <b>Bad</b> </html>");

        let e = ClientError::from_response(503, b"");
        assert_eq!(e.to_string(), "503 http_503: Service Unavailable");

        let long = "é".repeat(300);
        match ClientError::from_response(500, long.as_bytes()) {
            ClientError::Api { message, .. } => {
                assert_eq!(message.chars().count(), 201);
                assert!(message.ends_with('…'));
            }
            other => panic!("unexpected {other:?}"),
        }

        // JSON, but not the error shape: treated as text.
        let e = ClientError::from_response(500, br#"{"oops":1}"#);
        assert_eq!(e.code(), Some("http_500"));
        assert_eq!(e.to_string(), r#"500 http_500: {"oops":1}"#);
    }
}
