//! The web pages over real HTTP: sessions, CSRF, what each role sees and
//! may do, escaping, overrides in the viewer's zone, and the headers every
//! page carries. (Browser-level checks live in `e2e/`.)

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::harness::{ADMIN, Options, PD_KEY, TestServer, body, pd_trigger};

const PASSWORD: &str = "correct horse battery staple";

/// The example config plus a viewer, so every role is at hand.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let example = std::fs::read_to_string(crate::harness::example_config()).unwrap();
    let with_viewer = example.replacen(
        "users:\n",
        "users:\n  - id: victor\n    name: Victor Viewer\n    email: victor@example.com\n    role: viewer\n",
        1,
    );
    assert_ne!(with_viewer, example, "the example config has a users list to extend");
    // Paging through the incident list needs more incidents on checkout
    // than the default storm limit (20 within 1m) lets open.
    let with_viewer = with_viewer.replacen(
        "    escalation_policy: checkout-primary\n",
        "    escalation_policy: checkout-primary\n    storm: { max_new_alerts: 1000, within: 1m }\n",
        1,
    );
    let path = dir.join("web.yaml");
    std::fs::write(&path, with_viewer).unwrap();
    path
}

async fn server() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let s = TestServer::start_with(Options { config: Some(config), ..Options::default() }).await;
    for user in ["alice", "bob", "victor"] {
        let (status, answer) = s
            .api(
                reqwest::Method::PUT,
                &format!("/users/{user}/password"),
                Some(ADMIN),
                Some(json!({"password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 204, "{answer}");
    }
    // Keep the config file's directory alive as long as the server.
    std::mem::forget(dir);
    s
}

async fn open_incident(s: &TestServer, dedup: &str, summary: &str) -> i64 {
    let (status, _) = s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, dedup, summary))).await;
    assert_eq!(status, 202);
    let (_, list) = s.get("/incidents?status=triggered&limit=100").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == summary)
        .and_then(|i| i["id"].as_i64())
        .expect("the incident opened")
}

async fn incident_status(s: &TestServer, id: i64) -> String {
    let (_, v) = s.get(&format!("/incidents/{id}")).await;
    v["incident"]["status"].as_str().or(v["status"].as_str()).unwrap_or_default().to_string()
}

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden `_csrf` field of the page.
    fn csrf(&self) -> String {
        let at = self.text.find("name=\"_csrf\" value=\"").expect("the page has a form") + 20;
        self.text[at..].split('"').next().unwrap().to_string()
    }
}

impl Browser {
    fn new(s: &TestServer) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: s.url.clone(), http, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let r = req.header("cookie", self.cookie_header()).send().await.unwrap();
        for set in r.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let (status, headers) = (r.status(), r.headers().clone());
        Answer { status, headers, text: r.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    async fn login(&mut self, user: &str, password: &str) -> Answer {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post("/login", &[("_csrf", &csrf), ("username", user), ("password", password)]).await
    }

    async fn logged_in(s: &TestServer, user: &str) -> Browser {
        let mut b = Browser::new(s);
        let r = b.login(user, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        assert_eq!(r.location(), "/");
        b
    }
}

#[tokio::test]
async fn pages_need_a_session_and_send_people_back_where_they_were() {
    let s = server().await;
    let id = open_incident(&s, "web-1", "Disk full on db-1").await;
    let mut b = Browser::new(&s);

    let r = b.get(&format!("/incidents/{id}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/login?next=/incidents/{id}"));
    // Without a session nothing changes, whatever the form says.
    let r = b.post(&format!("/incidents/{id}/acknowledge"), &[("_csrf", "x")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(incident_status(&s, id).await, "triggered");

    // Logging in from that link goes on to the page, and only to pages here.
    let page = b.get(&format!("/login?next=%2Fincidents%2F{id}")).await;
    let csrf = page.csrf();
    assert!(page.text.contains(&format!("value=\"/incidents/{id}\"")));
    let r = b
        .post(
            "/login",
            &[("_csrf", &csrf), ("username", "alice"), ("password", PASSWORD), ("next", &format!("/incidents/{id}"))],
        )
        .await;
    assert_eq!(r.location(), format!("/incidents/{id}"));
    let mut other = Browser::new(&s);
    let page = other.get("/login").await;
    let r = other
        .post(
            "/login",
            &[("_csrf", &page.csrf()), ("username", "alice"), ("password", PASSWORD), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(r.location(), "/");

    // Wrong passwords stay on the form with the reason, and set no session.
    let mut c = Browser::new(&s);
    let r = c.login("alice", "not the password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("role=\"alert\""));
    assert!(r.text.contains("wrong username or password"), "{}", r.text);
    assert!(!c.cookies.contains_key("tocsin_session"));

    // Logging out ends the session on the server: the old cookie is refused.
    let home = b.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let stolen = b.cookies.get("tocsin_session").cloned().unwrap();
    let r = b.post("/logout", &[("_csrf", &home.csrf())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!b.cookies.contains_key("tocsin_session"));
    b.cookies.insert("tocsin_session".into(), stolen);
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);
    s.stop().await;
}

#[tokio::test]
async fn forms_without_the_sessions_token_are_refused_and_change_nothing() {
    let s = server().await;
    let id = open_incident(&s, "web-csrf", "Queue stuck").await;
    let mut b = Browser::logged_in(&s, "alice").await;
    let page = b.get(&format!("/incidents/{id}")).await;
    let csrf = page.csrf();

    for form in [vec![], vec![("_csrf", "0000")], vec![("_csrf", "")]] {
        let r = b.post(&format!("/incidents/{id}/acknowledge"), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{form:?}");
    }
    // A request from another site is refused even with the right token.
    let req = b
        .http
        .post(format!("{}/incidents/{id}/acknowledge", b.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", csrf.as_str())]);
    assert_eq!(b.send(req).await.status, StatusCode::FORBIDDEN);
    // Another session's token does not fit this session.
    let mut other = Browser::logged_in(&s, "alice").await;
    let theirs = other.get("/").await.csrf();
    assert_ne!(theirs, csrf);
    let r = b.post(&format!("/incidents/{id}/acknowledge"), &[("_csrf", &theirs)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(incident_status(&s, id).await, "triggered");

    // The login form refuses a post without its own cookie.
    let mut fresh = Browser::new(&s);
    let r = fresh.post("/login", &[("_csrf", "abc"), ("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // htmx sends the token as a header; that works too.
    let req = b.http.post(format!("{}/incidents/{id}/acknowledge", b.base)).header("x-csrf-token", &csrf);
    let r = b.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(incident_status(&s, id).await, "acknowledged");
    s.stop().await;
}

#[tokio::test]
async fn responders_act_from_the_pages_and_viewers_only_look() {
    let s = server().await;
    let id = open_incident(&s, "web-act", "Checkout errors <b>5xx</b> & \"quotes\"").await;
    let other = open_incident(&s, "web-act-2", "Payments slow").await;

    let mut viewer = Browser::logged_in(&s, "victor").await;
    let page = viewer.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for button in [">Acknowledge<", ">Resolve<", ">Escalate now<", ">Add note<", ">Reassign<"] {
        assert!(!page.text.contains(button), "a viewer sees {button}");
    }
    let list = viewer.get("/incidents").await;
    assert!(!list.text.contains("Acknowledge selected"));
    let r = viewer.post(&format!("/incidents/{id}/acknowledge"), &[("_csrf", &page.csrf())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(incident_status(&s, id).await, "triggered");

    let mut alice = Browser::logged_in(&s, "alice").await;
    let page = alice.get(&format!("/incidents/{id}")).await;
    // Titles are escaped, never markup.
    assert!(
        page.text.contains("Checkout errors &#60;b&#62;5xx&#60;/b&#62; &#38; &#34;quotes&#34;")
            || page.text.contains("Checkout errors &lt;b&gt;5xx&lt;/b&gt; &amp; &quot;quotes&quot;"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<b>5xx</b>"));
    let csrf = page.csrf();
    let r =
        alice.post(&format!("/incidents/{id}/notes"), &[("_csrf", &csrf), ("note", "rolled back <deploy 41>")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = alice.get(&format!("/incidents/{id}")).await;
    assert!(
        page.text.contains("rolled back &#60;deploy 41&#62;") || page.text.contains("rolled back &lt;deploy 41&gt;")
    );
    // An empty note is refused with the reason, on the page.
    let r = alice.post(&format!("/incidents/{id}/notes"), &[("_csrf", &csrf), ("note", "  ")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("role=\"alert\""));

    // Bulk acknowledge from the list: both, and the list says so.
    let r = alice
        .post(
            "/incidents/acknowledge",
            &[("_csrf", &csrf), ("ids", &id.to_string()), ("ids", &other.to_string()), ("back", "status=open")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().contains("acknowledged=2"), "{}", r.location());
    assert_eq!(incident_status(&s, id).await, "acknowledged");
    assert_eq!(incident_status(&s, other).await, "acknowledged");
    // Acknowledging again is a conflict shown on the page, not an error page.
    let r = alice.post(&format!("/incidents/{id}/acknowledge"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text.contains("role=\"alert\""));
    let r = alice.post(&format!("/incidents/{id}/resolve"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(incident_status(&s, id).await, "resolved");
    // More than a page: the "Older incidents" link leads to the rest.
    for n in 0..50 {
        let (status, _) =
            s.post("/v2/enqueue", body(&pd_trigger(PD_KEY, &format!("web-page-{n}"), &format!("Noise {n}")))).await;
        assert_eq!(status, 202);
    }
    let first = alice.get("/incidents?status=any").await;
    let at = first.text.find("Older incidents").expect("a second page");
    let href = &first.text[first.text[..at].rfind("href=\"").unwrap() + 6..at];
    let href = href.split('"').next().unwrap().replace("&#38;", "&").replace("&amp;", "&");
    let second = alice.get(&href).await;
    assert_eq!(second.status, StatusCode::OK, "{href}: {}", second.text);
    assert!(second.text.contains(&format!("/incidents/{id}\"")), "the oldest incidents are on page 2");
    assert!(!first.text.contains(&format!("/incidents/{id}\"")));
    assert_eq!(alice.get("/incidents?before=nonsense").await.status, StatusCode::BAD_REQUEST);
    // htmx polling gets the table alone.
    let fragment = alice.get("/incidents?status=any&fragment=table").await;
    assert!(fragment.text.trim_start().starts_with("<div id=\"incident-table\""), "{}", fragment.text);
    assert!(!fragment.text.contains("<html"));
    s.stop().await;
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_a_safe_cookie() {
    let s = server().await;
    let mut b = Browser::new(&s);
    let form = b.get("/login").await;
    let csrf = form.csrf();
    let r = b.post("/login", &[("_csrf", &csrf), ("username", "alice"), ("password", PASSWORD)]).await;
    let session_cookie = r
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("tocsin_session="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    assert!(!session_cookie.contains("Secure"), "plain HTTP on loopback: {session_cookie}");

    for path in [
        "/",
        "/incidents",
        "/services",
        "/services/checkout",
        "/schedules",
        "/schedules/primary",
        "/escalation-policies",
        "/users",
        "/users/alice",
        "/account",
        "/login",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let csp = r.headers.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.headers.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(r.headers.get("cache-control").unwrap(), "no-store", "{path}");
        assert!(r.headers.get("server-timing").unwrap().to_str().unwrap().starts_with("app;dur="));
        assert!(!r.text.contains("<script>"), "{path} has an inline script");
        assert!(!r.text.contains(" style=\""), "{path} has an inline style");
    }
    // A service's page says what can hold its pages back.
    let receipts = b.get("/services/receipts").await.text;
    for expected in [
        "Noise control",
        "<a href=\"/services/checkout\">checkout</a>: while one has an open incident",
        "By alertname, cluster. The first page waits 30 s",
        "<strong>tuesday-deploys</strong>: 14:00–15:00 on Tuesday (Europe",
        "More than 20 new alerts within 1 min collapse into one storm incident.",
        "<strong>nightly-receipts</strong>",
    ] {
        assert!(receipts.contains(expected), "{expected} is not on the page: {receipts}");
    }
    // Only admins see the audit log.
    assert_eq!(b.get("/audit").await.status, StatusCode::FORBIDDEN);
    let mut admin = Browser::new(&s);
    let r = admin.login("admin", "wrong password entirely").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Assets: versioned and cached for good; htmx is served by the binary.
    let home = b.get("/").await;
    let at = home.text.find("/static/").unwrap();
    let htmx = home.text[at..].split('"').find(|p| p.ends_with("htmx.min.js")).map(str::to_string);
    let htmx = htmx.unwrap_or_else(|| {
        let start = home.text.find("htmx.min.js").unwrap();
        let from = home.text[..start].rfind("/static/").unwrap();
        home.text[from..start + 11].to_string()
    });
    let r = b.get(&htmx).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.starts_with("var htmx="));
    assert!(r.headers.get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
    s.stop().await;
}

#[tokio::test]
async fn overrides_from_the_page_are_read_in_the_pages_time_zone() {
    let s = server().await;
    let mut alice = Browser::logged_in(&s, "alice").await;
    let page = alice.get("/schedules/primary?tz=Europe/Berlin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("aria-label=\"Schedule timeline\""));
    assert!(page.text.contains("<caption>Final schedule</caption>"));
    let csrf = page.csrf();
    let day = (Utc::now() + Duration::days(3)).format("%Y-%m-%d").to_string();
    let r = alice
        .post(
            "/schedules/primary/overrides",
            &[
                ("_csrf", &csrf),
                ("who", "bob"),
                ("tz", "Europe/Berlin"),
                ("start", &format!("{day}T01:00")),
                ("end", &format!("{day}T04:00")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let (_, overrides) = s.get("/schedules/primary/overrides").await;
    let created: Vec<&Value> =
        overrides["items"].as_array().unwrap().iter().filter(|o| o["user"] == "bob" && o["id"].is_i64()).collect();
    assert_eq!(created.len(), 1, "{overrides}");
    let start: chrono::DateTime<Utc> = created[0]["start"].as_str().unwrap().parse().unwrap();
    let berlin = start.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(berlin.format("%Y-%m-%d %H:%M").to_string(), format!("{day} 01:00"));

    // A wall time the clocks skip is refused, naming the field.
    let r = alice
        .post(
            "/schedules/primary/overrides",
            &[
                ("_csrf", &csrf),
                ("who", "bob"),
                ("tz", "Europe/Berlin"),
                ("start", "2027-03-28T02:30"),
                ("end", "2027-03-28T05:00"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("start: 2027-03-28T02:30 does not exist in Europe/Berlin"), "{}", r.text);
    s.stop().await;
}

#[tokio::test]
async fn an_invitation_sets_a_password_once_and_logs_in() {
    let s = server().await;
    let (status, invitation) = s.api(reqwest::Method::POST, "/users/bob/invitations", Some(ADMIN), None).await;
    assert_eq!(status, 201, "{invitation}");
    let url = invitation["url"].as_str().unwrap();
    let path = &url[url.find("/invite/").unwrap()..];

    let mut b = Browser::new(&s);
    let form = b.get(path).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("<strong>bob</strong>"), "{}", form.text);
    let csrf = form.csrf();
    // Two different passwords: refused, the link still works.
    let r = b.post(path, &[("_csrf", &csrf), ("password", "first try 123"), ("repeat", "second try 123")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("The two passwords differ."));
    // Too short: the rule's reason, on the form.
    let csrf = r.csrf();
    let r = b.post(path, &[("_csrf", &csrf), ("password", "short"), ("repeat", "short")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("password"), "{}", r.text);
    let csrf = r.csrf();
    let r = b.post(path, &[("_csrf", &csrf), ("password", "bobs new password"), ("repeat", "bobs new password")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/");
    assert_eq!(b.get("/").await.status, StatusCode::OK, "the invitation logged bob in");

    // Used up: the link is refused, and the new password works.
    let mut again = Browser::new(&s);
    assert_eq!(again.get(path).await.status, StatusCode::UNAUTHORIZED);
    let r = again.login("bob", "bobs new password").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    s.stop().await;
}

#[tokio::test]
async fn silences_are_added_and_expired_from_the_page() {
    let s = server().await;
    let mut alice = Browser::logged_in(&s, "alice").await;
    let page = alice.get("/silences").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    // A matcher that does not parse: the form again, with the reason.
    let r = alice
        .post("/silences", &[("_csrf", &csrf), ("matchers", "alertname=\"unclosed"), ("hours", "2"), ("comment", "x")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("matchers: column"), "{}", r.text);
    let r = alice
        .post(
            "/silences",
            &[
                ("_csrf", &csrf),
                ("matchers", "alertname=\"DiskFull\", service=~\"check.*\""),
                ("hours", "1.5"),
                ("comment", "deploy 41"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = s.http.get(format!("{}/api/v2/silences", s.url)).bearer_auth(ADMIN).send().await.unwrap();
    let listed: Vec<Value> = r.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["status"]["state"].as_str(), listed[0]["createdBy"].as_str()),
        (Some("active"), Some("alice"))
    );
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let page = alice.get("/silences").await;
    assert!(page.text.contains("deploy 41") && page.text.contains(">active<"), "{}", page.text);

    // A viewer sees the silence but neither the form nor the expire button.
    let mut victor = Browser::logged_in(&s, "victor").await;
    let seen = victor.get("/silences").await;
    assert!(seen.text.contains("deploy 41"));
    assert!(!seen.text.contains("Add silence") && !seen.text.contains("Expire silence"));
    let r = victor.post(&format!("/silences/{id}/expire"), &[("_csrf", &seen.csrf())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = alice.post(&format!("/silences/{id}/expire"), &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = alice.get("/silences").await;
    assert!(page.text.contains(">expired<"), "{}", page.text);
    s.stop().await;
}
