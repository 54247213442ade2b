//! Unit tests of the pieces with rules of their own: which `next` targets
//! a login may go on to, cookie and form parsing, token comparison, the
//! security headers and versioned asset addresses.

#![allow(clippy::unwrap_used)]

use axum::http::HeaderMap;

use crate::session::{cookie, form_token, safe_next, same};

#[test]
fn only_paths_on_this_server_are_followed_after_login() {
    assert_eq!(safe_next("/incidents/7"), Some("/incidents/7"));
    assert_eq!(safe_next("/incidents?status=any&service=x"), Some("/incidents?status=any&service=x"));
    for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "evil", "", "/a\nb", "/a\\b"] {
        assert_eq!(safe_next(bad), None, "{bad:?}");
    }
}

#[test]
fn cookies_are_found_by_exact_name_across_headers() {
    let mut headers = HeaderMap::new();
    headers.append("cookie", "tz=UTC; tocsin_session_old=x".parse().unwrap());
    headers.append("cookie", "tocsin_session=abc ; other=1".parse().unwrap());
    assert_eq!(cookie(&headers, "tocsin_session"), Some("abc"));
    assert_eq!(cookie(&headers, "tz"), Some("UTC"));
    assert_eq!(cookie(&headers, "missing"), None);
    headers.insert("cookie", "tocsin_session=".parse().unwrap());
    assert_eq!(cookie(&headers, "tocsin_session"), None, "an empty value is no cookie");
}

#[test]
fn the_csrf_field_is_read_from_url_encoded_forms() {
    assert_eq!(form_token(b"note=hi&_csrf=abc123"), Some("abc123".into()));
    assert_eq!(form_token(b"_csrf=a%2Bb&x=1"), Some("a+b".into()));
    assert_eq!(form_token(b"note=_csrf%3Dabc"), None, "a value that looks like the field is not the field");
    assert_eq!(form_token(b""), None);
}

#[test]
fn tokens_compare_equal_only_when_identical() {
    assert!(same("abc", "abc"));
    assert!(!same("abc", "abd"));
    assert!(!same("abc", "abcd"));
    assert!(!same("", "a"));
}

#[test]
fn the_policy_forbids_inline_script_and_framing() {
    let csp = crate::security::CSP;
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[test]
fn assets_are_addressed_by_their_content() {
    let url = crate::assets::url("htmx.min.js");
    let parts: Vec<&str> = url.split('/').collect();
    assert_eq!(parts[1], "static");
    assert_eq!(parts[2].len(), 12);
    assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(parts[3], "htmx.min.js");
    assert_ne!(crate::assets::url("tocsin.css"), url);
    assert_eq!(crate::assets::url("nope.js"), "/static/missing");
}

#[test]
fn urls_encode_everything_but_unreserved_characters() {
    assert_eq!(crate::render::url_encode("/incidents?status=any&x=a b"), "/incidents%3Fstatus%3Dany%26x%3Da%20b");
    assert_eq!(crate::render::url_encode("Europe/Paris"), "Europe/Paris");
}
