//! Email: a one-line subject, a plain-text body with the acknowledgement
//! link on a line of its own (so every client makes it clickable and it can
//! be copied whole), and an HTML body in which every interpolated value is
//! escaped.
//!
//! Links are interpolated into `href` attributes escaped but otherwise as
//! given: they are built by Tocsin from its configured base URL, not taken
//! from alerts.

use std::fmt::Write;

use super::{
    Email, PageMessage, bundle_headline, human_time, most_severe, service_line, severity_label, text, title_line,
};

/// Longest subject produced; mail clients show far less anyway.
const SUBJECT_MAX: usize = 200;

/// The email for one incident's page.
pub fn email(m: &PageMessage) -> Email {
    let subject = text::truncate(
        &format!("[Tocsin] {} #{}: {} ({})", severity_label(m.severity), m.incident_id, title_line(m), service_line(m)),
        SUBJECT_MAX,
    );
    Email { subject, text: plain(m), html: html(m) }
}

pub(super) fn bundle(messages: &[PageMessage], unlisted: usize) -> Email {
    let headline = bundle_headline(messages, unlisted);
    let subject =
        text::truncate(&format!("[Tocsin] {}: {headline}", severity_label(most_severe(messages))), SUBJECT_MAX);
    let mut plain = format!("{headline}\n");
    let mut html = format!("<!DOCTYPE html>\n<html>\n<body>\n<h2>{}</h2>\n<ul>\n", text::html(&headline));
    for m in messages {
        let title = text::one_line(&m.title);
        let service = service_line(m);
        let sev = severity_label(m.severity);
        // Writing to a String cannot fail.
        let _ = write!(plain, "\n#{} [{sev}] {title} ({service})\n", m.incident_id);
        let _ = write!(
            html,
            "<li><strong>#{}</strong> [{sev}] {} ({})",
            m.incident_id,
            text::html(&title),
            text::html(&service)
        );
        if let Some(url) = &m.ack_url {
            let _ = writeln!(plain, "Acknowledge: {url}");
            let _ = write!(html, " · <a href=\"{}\">Acknowledge</a>", text::html(url));
        }
        if let Some(url) = &m.incident_url {
            let _ = writeln!(plain, "Open: {url}");
            let _ = write!(html, " · <a href=\"{}\">Open</a>", text::html(url));
        }
        html.push_str("</li>\n");
    }
    html.push_str("</ul>\n");
    if unlisted > 0 {
        let noun = if unlisted == 1 { "incident" } else { "incidents" };
        let _ = write!(plain, "\n…and {unlisted} more {noun}\n");
        let _ = writeln!(html, "<p>…and {unlisted} more {noun}</p>");
    }
    html.push_str("</body>\n</html>\n");
    Email { subject, text: plain, html }
}

fn plain(m: &PageMessage) -> String {
    let mut out = format!(
        "{} incident #{} for {}\n{}\n\nService: {} ({})\nStatus: {}\nCreated: {}\n",
        severity_label(m.severity),
        m.incident_id,
        service_line(m),
        text::one_line(&m.title),
        service_line(m),
        text::one_line(&m.service_id),
        m.status.as_str(),
        human_time(m.created_at),
    );
    if !m.summary_lines.is_empty() {
        out.push_str("\nSummary:\n");
        for line in &m.summary_lines {
            let _ = writeln!(out, "- {}", text::one_line(line));
        }
    }
    if let Some(url) = &m.ack_url {
        let _ = write!(out, "\nAcknowledge (no login needed):\n{url}\n");
    }
    if let Some(url) = &m.incident_url {
        let _ = write!(out, "\nOpen the incident:\n{url}\n");
    }
    out
}

fn html(m: &PageMessage) -> String {
    let e = |s: &str| text::html(&text::one_line(s));
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n<body>\n<h2>{} incident #{} for {}</h2>\n<p><strong>{}</strong></p>\n<table>\n\
         <tr><th align=\"left\">Service</th><td>{} ({})</td></tr>\n\
         <tr><th align=\"left\">Status</th><td>{}</td></tr>\n\
         <tr><th align=\"left\">Created</th><td>{}</td></tr>\n</table>\n",
        severity_label(m.severity),
        m.incident_id,
        e(&m.service_name),
        e(&m.title),
        e(&m.service_name),
        e(&m.service_id),
        m.status.as_str(),
        human_time(m.created_at),
    );
    if !m.summary_lines.is_empty() {
        out.push_str("<ul>\n");
        for line in &m.summary_lines {
            let _ = writeln!(out, "<li>{}</li>", e(line));
        }
        out.push_str("</ul>\n");
    }
    if let Some(url) = &m.ack_url {
        let _ = writeln!(out, "<p><a href=\"{}\">Acknowledge</a> (no login needed)</p>", text::html(url));
    }
    if let Some(url) = &m.incident_url {
        let _ = writeln!(out, "<p><a href=\"{}\">Open the incident</a></p>", text::html(url));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::event::Severity;

    #[test]
    fn single_incident_email() {
        let got = email(&message());
        assert_eq!(got.subject, "[Tocsin] CRITICAL #42: Checkout latency high (Checkout)");
        assert_eq!(
            got.text,
            "CRITICAL incident #42 for Checkout
Checkout latency high

Service: Checkout (checkout)
Status: triggered
Created: 2026-03-02T09:00:00Z

Summary:
- p99 2.4s > 1s
- region=eu-west-1

Acknowledge (no login needed):
https://tocsin.example/ack/42?token=42.61.1.ab

Open the incident:
https://tocsin.example/incidents/42
"
        );
        assert_eq!(
            got.html,
            r#"<!DOCTYPE html>
<html>
<body>
<h2>CRITICAL incident #42 for Checkout</h2>
<p><strong>Checkout latency high</strong></p>
<table>
<tr><th align="left">Service</th><td>Checkout (checkout)</td></tr>
<tr><th align="left">Status</th><td>triggered</td></tr>
<tr><th align="left">Created</th><td>2026-03-02T09:00:00Z</td></tr>
</table>
<ul>
<li>p99 2.4s &gt; 1s</li>
<li>region=eu-west-1</li>
</ul>
<p><a href="https://tocsin.example/ack/42?token=42.61.1.ab">Acknowledge</a> (no login needed)</p>
<p><a href="https://tocsin.example/incidents/42">Open the incident</a></p>
</body>
</html>
"#
        );
    }

    #[test]
    fn hostile_values_are_escaped_and_cannot_forge_lines() {
        let got = email(&hostile());
        assert_eq!(
            got.subject,
            "[Tocsin] WARNING #7: <script>alert(1)</script> & <!channel>  Acknowledge: https://evil.example (Web <b>&</b>)"
        );
        assert!(!got.subject.contains(['\r', '\n']));
        // The forged "Acknowledge:" stays inside the title's line; the real
        // link is the only line that is just a URL.
        assert_eq!(
            got.text,
            "WARNING incident #7 for Web <b>&</b>
<script>alert(1)</script> & <!channel>  Acknowledge: https://evil.example

Service: Web <b>&</b> (web)
Status: triggered
Created: 2026-03-02T09:00:00Z

Summary:
- <@U123> \"quoted\" 'single'

Acknowledge (no login needed):
https://tocsin.example/ack/7?a=1&b=\"2\"
"
        );
        assert_eq!(
            got.html,
            r#"<!DOCTYPE html>
<html>
<body>
<h2>WARNING incident #7 for Web &lt;b&gt;&amp;&lt;/b&gt;</h2>
<p><strong>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;  Acknowledge: https://evil.example</strong></p>
<table>
<tr><th align="left">Service</th><td>Web &lt;b&gt;&amp;&lt;/b&gt; (web)</td></tr>
<tr><th align="left">Status</th><td>triggered</td></tr>
<tr><th align="left">Created</th><td>2026-03-02T09:00:00Z</td></tr>
</table>
<ul>
<li>&lt;@U123&gt; &quot;quoted&quot; &#39;single&#39;</li>
</ul>
<p><a href="https://tocsin.example/ack/7?a=1&amp;b=&quot;2&quot;">Acknowledge</a> (no login needed)</p>
</body>
</html>
"#
        );
        assert!(!got.html.contains("<script>"));
    }

    #[test]
    fn bundle_email() {
        let ms = [
            with(41, "Checkout 5xx", Severity::Error, "Checkout"),
            with(42, "<latency>", Severity::Critical, "Checkout"),
            PageMessage { ack_url: None, incident_url: None, ..with(43, "Disk", Severity::Info, "Search") },
        ];
        let got = bundle(&ms, 0);
        assert_eq!(got.subject, "[Tocsin] CRITICAL: 3 incidents for Checkout, Search");
        assert_eq!(
            got.text,
            "3 incidents for Checkout, Search

#41 [ERROR] Checkout 5xx (Checkout)
Acknowledge: https://tocsin.example/ack/41
Open: https://tocsin.example/incidents/41

#42 [CRITICAL] <latency> (Checkout)
Acknowledge: https://tocsin.example/ack/42
Open: https://tocsin.example/incidents/42

#43 [INFO] Disk (Search)
"
        );
        assert_eq!(
            got.html,
            r#"<!DOCTYPE html>
<html>
<body>
<h2>3 incidents for Checkout, Search</h2>
<ul>
<li><strong>#41</strong> [ERROR] Checkout 5xx (Checkout) · <a href="https://tocsin.example/ack/41">Acknowledge</a> · <a href="https://tocsin.example/incidents/41">Open</a></li>
<li><strong>#42</strong> [CRITICAL] &lt;latency&gt; (Checkout) · <a href="https://tocsin.example/ack/42">Acknowledge</a> · <a href="https://tocsin.example/incidents/42">Open</a></li>
<li><strong>#43</strong> [INFO] Disk (Search)</li>
</ul>
</body>
</html>
"#
        );
    }

    #[test]
    fn a_storm_bundle_counts_what_it_does_not_list() {
        let got = bundle(&[with(41, "Checkout 5xx", Severity::Error, "Checkout")], 9_999);
        assert_eq!(got.subject, "[Tocsin] ERROR: 10000 incidents (1 listed) for Checkout");
        assert!(
            got.text.ends_with("Open: https://tocsin.example/incidents/41\n\n…and 9999 more incidents\n"),
            "{}",
            got.text
        );
        assert!(got.html.ends_with("</ul>\n<p>…and 9999 more incidents</p>\n</body>\n</html>\n"), "{}", got.html);
    }

    #[test]
    fn long_subjects_are_cut() {
        let m = PageMessage { service_name: "s".repeat(1000), ..message() };
        assert_eq!(email(&m).subject.chars().count(), SUBJECT_MAX);
    }
}
