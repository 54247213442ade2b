//! Slack-compatible incoming-webhook messages (also accepted by Mattermost
//! and Rocket.Chat for the `text` part).
//!
//! The message has a `text` fallback (used for notifications and by clients
//! without Block Kit) and `blocks`: a header, a section with the details as
//! mrkdwn fields and the summary as its text, and an actions block with
//! link buttons. Untrusted values in `mrkdwn` and in `text` are escaped
//! (`&`, `<`, `>`); `plain_text` objects (header, button labels) are shown
//! verbatim by Slack, never parsed for mentions or links, so they are not
//! escaped (escaping would show `&amp;`). Lengths stay inside Block Kit's
//! limits (header 150, section text 3000, field 2000).

use serde_json::{Value, json};

use super::{PageMessage, bundle_headline, human_time, most_severe, service_line, severity_label, text, title_line};

/// Block Kit's limit on a section's text.
const SECTION_MAX: usize = 3000;
/// Block Kit's limit on a header's text.
const HEADER_MAX: usize = 150;
/// Summary lines shown for one incident.
const SUMMARY_LINES: usize = 10;
/// Longest summary line shown.
const SUMMARY_LINE_MAX: usize = 300;

/// The incoming-webhook body for one incident's page.
pub fn slack_payload(m: &PageMessage) -> Value {
    let headline = format!("#{} {}", m.incident_id, title_line(m));
    let fallback =
        format!("[{}] {} ({})", severity_label(m.severity), text::slack(&headline), text::slack(&service_line(m)));
    let fields = json!([
        field("Severity", &severity_label(m.severity)),
        field("Service", &service_line(m)),
        field("Status", m.status.as_str()),
        field("Created", &human_time(m.created_at)),
    ]);
    let mut section = json!({ "type": "section", "fields": fields });
    let summary = summary_text(m);
    if !summary.is_empty() {
        section["text"] = json!({ "type": "mrkdwn", "text": summary });
    }
    let mut blocks = vec![header(&headline), section];
    blocks.extend(actions(m));
    json!({ "text": fallback, "blocks": blocks })
}

pub(super) fn bundle(messages: &[PageMessage], unlisted: usize) -> Value {
    let headline = bundle_headline(messages, unlisted);
    let fallback = format!("[{}] {}", severity_label(most_severe(messages)), text::slack(&headline));
    let lines: Vec<String> = messages.iter().map(bundle_line).collect();
    let body = join_within(&lines, unlisted, SECTION_MAX);
    json!({
        "text": fallback,
        "blocks": [
            header(&headline),
            { "type": "section", "text": { "type": "mrkdwn", "text": body } },
        ],
    })
}

/// `• *#42* [CRITICAL] title (Checkout) · <ack|Acknowledge> · <url|Open>`
fn bundle_line(m: &PageMessage) -> String {
    let mut line = format!(
        "• *#{}* [{}] {} ({})",
        m.incident_id,
        severity_label(m.severity),
        text::slack(&title_line(m)),
        text::slack(&service_line(m))
    );
    if let Some(url) = &m.ack_url {
        line.push_str(" · ");
        line.push_str(&text::slack_link(url, "Acknowledge"));
    }
    if let Some(url) = &m.incident_url {
        line.push_str(" · ");
        line.push_str(&text::slack_link(url, "Open"));
    }
    line
}

/// Joins whole lines while they fit in `max` characters, then says how many
/// were left out (with the `unlisted` ones that had no line); a line is
/// never cut, so no link is broken in half.
fn join_within(lines: &[String], unlisted: usize, max: usize) -> String {
    const MORE_ROOM: usize = 40;
    let mut out = String::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let len = line.chars().count() + 1;
        if used + len > max.saturating_sub(MORE_ROOM) {
            out.push_str(&format!("…and {} more", lines.len() - i + unlisted));
            return out;
        }
        out.push_str(line);
        out.push('\n');
        used += len;
    }
    if unlisted > 0 {
        out.push_str(&format!("…and {unlisted} more"));
        return out;
    }
    out.pop();
    out
}

fn header(s: &str) -> Value {
    json!({ "type": "header", "text": { "type": "plain_text", "text": text::truncate(s, HEADER_MAX), "emoji": true } })
}

fn field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", text::slack(value)) })
}

fn summary_text(m: &PageMessage) -> String {
    let lines: Vec<String> = m
        .summary_lines
        .iter()
        .take(SUMMARY_LINES)
        .map(|l| text::slack(&text::truncate(&text::one_line(l), SUMMARY_LINE_MAX)))
        .collect();
    text::truncate(&lines.join("\n"), SECTION_MAX)
}

fn actions(m: &PageMessage) -> Option<Value> {
    let mut elements = Vec::new();
    if let Some(url) = &m.ack_url {
        elements.push(json!({
            "type": "button",
            "text": { "type": "plain_text", "text": "Acknowledge" },
            "style": "primary",
            "url": url,
            "action_id": "acknowledge",
        }));
    }
    if let Some(url) = &m.incident_url {
        elements.push(json!({
            "type": "button",
            "text": { "type": "plain_text", "text": "Open incident" },
            "url": url,
            "action_id": "open_incident",
        }));
    }
    (!elements.is_empty()).then(|| json!({ "type": "actions", "elements": elements }))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::event::Severity;

    #[test]
    fn single_incident_message() {
        let want = json!({
            "text": "[CRITICAL] #42 Checkout latency high (Checkout)",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "#42 Checkout latency high", "emoji": true } },
                {
                    "type": "section",
                    "fields": [
                        { "type": "mrkdwn", "text": "*Severity*\nCRITICAL" },
                        { "type": "mrkdwn", "text": "*Service*\nCheckout" },
                        { "type": "mrkdwn", "text": "*Status*\ntriggered" },
                        { "type": "mrkdwn", "text": "*Created*\n2026-03-02T09:00:00Z" }
                    ],
                    "text": { "type": "mrkdwn", "text": "p99 2.4s &gt; 1s\nregion=eu-west-1" }
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": { "type": "plain_text", "text": "Acknowledge" },
                            "style": "primary",
                            "url": "https://tocsin.example/ack/42?token=42.61.1.ab",
                            "action_id": "acknowledge"
                        },
                        {
                            "type": "button",
                            "text": { "type": "plain_text", "text": "Open incident" },
                            "url": "https://tocsin.example/incidents/42",
                            "action_id": "open_incident"
                        }
                    ]
                }
            ]
        });
        assert_eq!(slack_payload(&message()), want);
    }

    #[test]
    fn hostile_values_cannot_mention_link_or_break_lines() {
        let got = slack_payload(&hostile());
        assert_eq!(
            got["text"],
            "[WARNING] #7 &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt;  Acknowledge: https://evil.example \
             (Web &lt;b&gt;&amp;&lt;/b&gt;)"
        );
        // plain_text is shown verbatim by Slack: one line, not escaped.
        assert_eq!(
            got["blocks"][0]["text"]["text"],
            "#7 <script>alert(1)</script> & <!channel>  Acknowledge: https://evil.example"
        );
        assert_eq!(got["blocks"][1]["fields"][1]["text"], "*Service*\nWeb &lt;b&gt;&amp;&lt;/b&gt;");
        assert_eq!(got["blocks"][1]["text"]["text"], "&lt;@U123&gt; \"quoted\" 'single'");
        // Only the acknowledge button: there is no incident URL.
        assert_eq!(got["blocks"][2]["elements"].as_array().map(Vec::len), Some(1));
        assert_eq!(got["blocks"][2]["elements"][0]["url"], "https://tocsin.example/ack/7?a=1&b=\"2\"");
    }

    #[test]
    fn no_links_no_actions_no_summary_no_text() {
        let m = PageMessage { ack_url: None, incident_url: None, summary_lines: vec![], ..message() };
        let got = slack_payload(&m);
        assert_eq!(got["blocks"].as_array().map(Vec::len), Some(2));
        assert_eq!(got["blocks"][1].get("text"), None);
    }

    #[test]
    fn long_titles_fit_the_header_limit() {
        let m = PageMessage { title: "x".repeat(500), ..message() };
        let header = slack_payload(&m)["blocks"][0]["text"]["text"].as_str().unwrap().to_owned();
        assert_eq!(header.chars().count(), 4 + 140, "\"#42 \" and a 140-character title");
        assert!(header.chars().count() <= HEADER_MAX);
        assert!(header.ends_with('…'));
    }

    #[test]
    fn bundle_lists_each_incident_with_links() {
        let ms = [
            with(41, "Checkout 5xx", Severity::Error, "Checkout"),
            with(42, "Checkout <latency>", Severity::Critical, "Checkout"),
            PageMessage { ack_url: None, incident_url: None, ..with(43, "Disk", Severity::Info, "Checkout") },
        ];
        let want = json!({
            "text": "[CRITICAL] 3 incidents for Checkout",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "3 incidents for Checkout", "emoji": true } },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "• *#41* [ERROR] Checkout 5xx (Checkout) · <https://tocsin.example/ack/41|Acknowledge> · <https://tocsin.example/incidents/41|Open>\n\
                                 • *#42* [CRITICAL] Checkout &lt;latency&gt; (Checkout) · <https://tocsin.example/ack/42|Acknowledge> · <https://tocsin.example/incidents/42|Open>\n\
                                 • *#43* [INFO] Disk (Checkout)"
                    }
                }
            ]
        });
        assert_eq!(bundle(&ms, 0), want);
    }

    #[test]
    fn huge_bundles_stay_within_the_section_limit() {
        let ms: Vec<_> = (0..200).map(|i| with(i, &"t".repeat(100), Severity::Warning, "Checkout")).collect();
        let got = bundle(&ms, 0);
        let body = got["blocks"][1]["text"]["text"].as_str().unwrap().to_owned();
        assert!(body.chars().count() <= SECTION_MAX);
        assert!(body.ends_with(" more"), "{}", &body[body.len() - 40..]);
        assert!(body.lines().all(|l| l.starts_with("• ") || l.starts_with("…and ")));
        let with_unlisted = bundle(&ms, 1000)["blocks"][1]["text"]["text"].as_str().unwrap().to_owned();
        let (left_out, _) = body.rsplit_once("…and ").unwrap().1.split_once(' ').unwrap();
        let (left_out_now, _) = with_unlisted.rsplit_once("…and ").unwrap().1.split_once(' ').unwrap();
        assert_eq!(left_out_now.parse::<usize>().unwrap(), left_out.parse::<usize>().unwrap() + 1000);
    }

    #[test]
    fn a_storm_bundle_counts_what_it_does_not_list() {
        let got = bundle(&[with(41, "Checkout 5xx", Severity::Error, "Checkout")], 9_999);
        assert_eq!(got["text"], "[ERROR] 10000 incidents (1 listed) for Checkout");
        let body = got["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(body.starts_with("• *#41* [ERROR] Checkout 5xx (Checkout)"), "{body}");
        assert!(body.ends_with("\n…and 9999 more"), "{body}");
    }
}
