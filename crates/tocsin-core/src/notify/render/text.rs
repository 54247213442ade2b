//! Escaping and trimming for text that comes from alert senders (titles,
//! summaries, service names) and so may be hostile.
//!
//! Every function here that prepares text for people also makes invisible
//! formatting characters visible (see [`visible`]): bidirectional overrides
//! can make `https://bank.example/<U+202E>moc.live` read as a bank's link, and
//! zero-width characters can make two different titles look the same.

use std::fmt::Write;

/// Whether `c` changes how the text around it is displayed, or shows as
/// nothing: bidirectional embeddings and overrides (U+202A–U+202E) and
/// isolates (U+2066–U+2069), zero-width space, joiners and direction marks
/// (U+200B–U+200F), the word joiner (U+2060) and the zero-width no-break
/// space / byte-order mark (U+FEFF).
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// Replaces every [`is_invisible`] character with a visible `[U+202E]`, so
/// the reader sees that something was there rather than being misled by it.
/// (Emoji sequences joined by U+200D show their parts separately; that is
/// the price of never hiding anything.)
pub fn visible(s: &str) -> String {
    if !s.chars().any(is_invisible) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    out
}

fn push_visible(out: &mut String, c: char) {
    if is_invisible(c) {
        // Writing to a String cannot fail.
        let _ = write!(out, "[U+{:04X}]", u32::from(c));
    } else {
        out.push(c);
    }
}

/// Escapes text for HTML element content and quoted attribute values, and
/// makes invisible characters [`visible`].
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// Escapes text for Slack `mrkdwn`: exactly `&`, `<` and `>`, as Slack's
/// formatting reference asks. That is what stops `<!channel>`, `<@U123>` or
/// `<https://evil|bank>` in an alert title from becoming a mention or a
/// disguised link. Other characters must stay as they are (Slack would show
/// `&quot;` literally). Invisible characters are made [`visible`].
pub(crate) fn slack(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// A Slack mrkdwn link `<url|label>`. The URL is ours (an ack or incident
/// link), but it is escaped anyway, and `|`, which would end the URL early,
/// is percent-encoded.
pub(crate) fn slack_link(url: &str, label: &str) -> String {
    format!("<{}|{}>", slack(&url.replace('|', "%7C")), slack(label))
}

/// Replaces control characters and Unicode line/paragraph separators with
/// spaces, so a value meant for one line stays on one line: no forged lines
/// in a plain-text email ("Acknowledge: https://evil"), no header injection
/// through a subject. Invisible characters are made [`visible`].
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push(' ');
        } else {
            push_visible(&mut out, c);
        }
    }
    out
}

/// At most `max` characters, the last one an ellipsis when cut. Counts
/// `char`s, so it never splits a UTF-8 sequence.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn slack_escapes_only_its_three_characters() {
        assert_eq!(slack(r#"<!channel> & "q" *b*"#), r#"&lt;!channel&gt; &amp; "q" *b*"#);
        assert_eq!(slack_link("https://t.example/a?x=1&y=|", "<b>"), "<https://t.example/a?x=1&amp;y=%7C|&lt;b&gt;>");
    }

    #[test]
    fn one_line_removes_line_breaks_and_controls() {
        assert_eq!(one_line("a\r\nb\tc\u{2028}d\u{7f}e\u{85}f"), "a  b c d e f");
    }

    #[test]
    fn invisible_characters_are_shown_everywhere_text_reaches_people() {
        let every: String = ('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}')
            .chain('\u{200B}'..='\u{200F}')
            .chain(['\u{2060}', '\u{FEFF}'])
            .collect();
        assert_eq!(every.chars().count(), 16);
        assert!(every.chars().all(is_invisible));
        assert!(!"abc é 👍 \u{2028}\u{200A}\u{2011}\u{2070}".chars().any(is_invisible));
        for escape in [visible, html, slack, one_line] {
            let shown = escape(&format!("pay{every}moc"));
            assert!(!shown.chars().any(is_invisible), "{shown:?}");
            assert!(shown.starts_with("pay[U+202A][U+202B]") && shown.ends_with("[U+2060][U+FEFF]moc"), "{shown}");
        }
        assert_eq!(visible("evil.example/\u{202E}moc.knab"), "evil.example/[U+202E]moc.knab");
        assert_eq!(html("<\u{200B}>"), "&lt;[U+200B]&gt;");
        assert_eq!(visible("plain"), "plain");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }
}
