//! Just enough MIME to read what an SMTP client sent: header unfolding,
//! RFC 2047 encoded-words, multipart bodies, base64 and quoted-printable.
//! Lenient on purpose: a test should see what arrived, not a parse error.

/// Header fields in order, unfolded, names as sent.
pub(crate) fn headers(entity: &str) -> Vec<(String, String)> {
    let (head, _) = split_head_body(entity);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.starts_with([' ', '\t']) {
            // Unfolding removes the line break, keeps the whitespace.
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    for (_, value) in &mut fields {
        *value = value.trim().to_owned();
    }
    fields
}

pub(crate) fn header(entity: &str, name: &str) -> Option<String> {
    headers(entity).into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Header section and body; the blank line between them belongs to neither.
fn split_head_body(entity: &str) -> (&str, &str) {
    // No header fields at all: the entity starts with the blank line.
    if let Some(body) = entity.strip_prefix("\r\n").or_else(|| entity.strip_prefix('\n')) {
        return ("", body);
    }
    if let Some(i) = entity.find("\r\n\r\n") {
        return (&entity[..i], &entity[i + 4..]);
    }
    if let Some(i) = entity.find("\n\n") {
        return (&entity[..i], &entity[i + 2..]);
    }
    (entity, "")
}

/// The decoded content of the first part of type `want` (e.g. `text/html`),
/// searching nested multiparts depth first. Line breaks come back as `\n`,
/// the canonical form of text, whatever the transfer encoding made of them.
pub(crate) fn find_part(entity: &str, want: &str) -> Option<String> {
    let fields = headers(entity);
    let get = |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let (mime, params) = parse_content_type(get("Content-Type").unwrap_or("text/plain"));
    let (_, body) = split_head_body(entity);
    if mime.starts_with("multipart/") {
        let boundary = param(&params, "boundary")?;
        return split_multipart(body, boundary).into_iter().find_map(|part| find_part(part, want));
    }
    if !mime.eq_ignore_ascii_case(want) {
        return None;
    }
    let encoding = get("Content-Transfer-Encoding").unwrap_or("7bit").to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => base64(body)?,
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    let charset = param(&params, "charset").unwrap_or("us-ascii");
    Some(to_text(&bytes, charset).replace("\r\n", "\n"))
}

/// `text/plain; charset="utf-8"` → (`text/plain`, [(charset, utf-8)]).
fn parse_content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = value.split(';');
    let mime = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = pieces
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_owned()))
        .collect();
    (mime, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The body parts between `--boundary` lines, up to `--boundary--`. The line
/// break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    for line in body.split_inclusive('\n') {
        let content = line.trim_end();
        if content == open || content == close {
            if let Some(s) = start {
                let part = &body[s..pos];
                let part = part.strip_suffix("\r\n").or_else(|| part.strip_suffix('\n')).unwrap_or(part);
                parts.push(part);
            }
            if content == close {
                break;
            }
            start = Some(pos + line.len());
        }
        pos += line.len();
    }
    parts
}

fn to_text(bytes: &[u8], charset: &str) -> String {
    match charset.to_ascii_lowercase().as_str() {
        "iso-8859-1" | "latin1" | "latin-1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// RFC 2045 base64; whitespace is ignored, decoding stops at padding.
/// `None` on a character outside the alphabet.
pub(crate) fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b if b.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// RFC 2045 quoted-printable: `=XX` escapes and `=` soft line breaks; hard
/// line breaks come out as CRLF. Malformed escapes are kept literally.
pub(crate) fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Trailing whitespace on an encoded line is transport padding.
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        decode_escapes(line.as_bytes(), &mut out, false);
        if !soft && lines.peek().is_some() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// `=XX` → byte (and `_` → space in RFC 2047's Q encoding).
fn decode_escapes(bytes: &[u8], out: &mut Vec<u8>, underscore_is_space: bool) {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'='),
            },
            b'_' if underscore_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes RFC 2047 encoded-words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a
/// header value. Whitespace between adjacent encoded-words is dropped, and
/// their bytes are joined before decoding, so a character split across two
/// words survives. Anything that is not a well-formed word stays as is.
pub(crate) fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_charset = String::new();
    let mut rest = value;
    let mut after_word = false;
    loop {
        let Some(i) = rest.find("=?") else {
            flush(&mut out, &mut pending, &pending_charset);
            out.push_str(rest);
            return out;
        };
        let before = &rest[..i];
        match parse_word(&rest[i..]) {
            Some((charset, bytes, len)) => {
                let joins = after_word && before.chars().all(char::is_whitespace) && charset == pending_charset;
                if !joins {
                    flush(&mut out, &mut pending, &pending_charset);
                    if !(after_word && before.chars().all(char::is_whitespace)) {
                        out.push_str(before);
                    }
                }
                pending.extend(bytes);
                pending_charset = charset;
                after_word = true;
                rest = &rest[i + len..];
            }
            None => {
                flush(&mut out, &mut pending, &pending_charset);
                out.push_str(&rest[..i + 2]);
                rest = &rest[i + 2..];
                after_word = false;
            }
        }
    }
}

fn flush(out: &mut String, pending: &mut Vec<u8>, charset: &str) {
    if !pending.is_empty() {
        out.push_str(&to_text(pending, charset));
        pending.clear();
    }
}

/// One encoded-word at the start of `s`: (charset, bytes, length in `s`).
fn parse_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    if text.contains(char::is_whitespace) || charset.is_empty() || charset.contains(char::is_whitespace) {
        return None;
    }
    // RFC 2231 allows `charset*language`.
    let charset = charset.split('*').next().unwrap_or(charset).to_ascii_lowercase();
    let bytes = match encoding {
        "B" | "b" => base64(text)?,
        "Q" | "q" => {
            let mut out = Vec::new();
            decode_escapes(text.as_bytes(), &mut out, true);
            out
        }
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((charset, bytes, len))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_and_quoted_printable_decode() {
        assert_eq!(base64("w5xiZXJsYXN0\r\n").unwrap(), "Überlast".as_bytes());
        assert_eq!(base64("YQ==").unwrap(), b"a");
        assert_eq!(base64("Y$"), None);
        assert_eq!(quoted_printable("=C3=9Cberlast =E2=80=93 a=\r\nb\r\nc=3D"), "Überlast – ab\r\nc=".as_bytes());
        assert_eq!(quoted_printable("x=ZZ =\n"), b"x=ZZ ");
    }

    #[test]
    fn encoded_words_decode_and_join() {
        assert_eq!(decode_words("plain"), "plain");
        assert_eq!(decode_words("=?utf-8?b?w5xiZXJsYXN0?= =?utf-8?q?_=E2=80=93_x?="), "Überlast – x");
        // A character split across two words.
        assert_eq!(decode_words("=?UTF-8?B?w5w=?=\r\n =?UTF-8?B?YmVy?="), "Über");
        assert_eq!(decode_words("a =?utf-8?q?b?= c"), "a b c");
        assert_eq!(decode_words("=?broken"), "=?broken");
    }

    #[test]
    fn multipart_parts_are_found_and_decoded() {
        let mail = "Subject: x\r\nContent-Type: multipart/alternative;\r\n boundary=\"BB\"\r\n\r\n\
                    preamble\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\
                    Content-Transfer-Encoding: quoted-printable\r\n\r\nline =C3=9C\r\nnext\r\n\
                    --BB\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                    PHA+w5w8L3A+Cg==\r\n--BB--\r\nepilogue\r\n";
        assert_eq!(header(mail, "content-type").unwrap(), "multipart/alternative; boundary=\"BB\"");
        // The line break before a delimiter is the delimiter's.
        assert_eq!(find_part(mail, "text/plain").unwrap(), "line Ü\nnext");
        assert_eq!(find_part(mail, "text/html").unwrap(), "<p>Ü</p>\n");
        assert_eq!(find_part(mail, "image/png"), None);
    }
}
