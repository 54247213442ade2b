//! Escaping and trimming for text that comes from alert senders (titles,
//! summaries, service names) and so may be hostile.

/// Escapes text for HTML element content and quoted attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Slack `mrkdwn`: exactly `&`, `<` and `>`, as Slack's
/// formatting reference asks. That is what stops `<!channel>`, `<@U123>` or
/// `<https://evil|bank>` in an alert title from becoming a mention or a
/// disguised link. Other characters must stay as they are (Slack would show
/// `&quot;` literally).
pub(crate) fn slack(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
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
/// through a subject.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() || c == '\u{2028}' || c == '\u{2029}' { ' ' } else { c }).collect()
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
    fn truncate_counts_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 5), "héll…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
    }
}
