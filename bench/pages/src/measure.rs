//! Logging in to the web pages and timing them: the server's own time
//! (`Server-Timing: app;dur=<ms>`) and the latency the client saw, per page,
//! with one keep-alive client and with several at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};

/// The requirement: the server's p99 for each page.
pub const LIMIT_MS: f64 = 50.0;

/// One page to time.
pub struct Target {
    pub name: String,
    pub path: String,
}

/// Timings of one page at one level of concurrency.
pub struct Measured {
    pub page: String,
    pub clients: usize,
    pub server_ms: Vec<f64>,
    pub client_ms: Vec<f64>,
    pub bytes: Vec<usize>,
    pub errors: usize,
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1)
        .build()?)
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|h| {
        let text = h.to_str().ok()?;
        let (pair, _) = text.split_once(';').unwrap_or((text, ""));
        let (n, v) = pair.split_once('=')?;
        (n.trim() == name && !v.is_empty()).then(|| v.to_string())
    })
}

/// Logs in as `user` through the form and returns the session cookie
/// (`tocsin_session=…`).
pub async fn login(url: &str, user: &str, password: &str) -> Result<String> {
    let http = client()?;
    let form = http.get(format!("{url}/login")).send().await.context("GET /login")?;
    let login_cookie = set_cookie(&form, "tocsin_login").context("GET /login set no tocsin_login cookie")?;
    let html = form.text().await?;
    let csrf = html
        .split("name=\"_csrf\"")
        .nth(1)
        .and_then(|rest| rest.split("value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .context("the login form has no _csrf field")?;
    let resp = http
        .post(format!("{url}/login"))
        .header(COOKIE, format!("tocsin_login={login_cookie}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("_csrf", csrf), ("username", user), ("password", password)])?)
        .send()
        .await
        .context("POST /login")?;
    if resp.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("POST /login answered {} instead of 303", resp.status());
    }
    let session = set_cookie(&resp, "tocsin_session").context("POST /login set no tocsin_session cookie")?;
    Ok(format!("tocsin_session={session}"))
}

/// A page's body, for links to follow.
pub async fn fetch(url: &str, cookie: &str, path: &str) -> Result<String> {
    let resp = client()?.get(format!("{url}{path}")).header(COOKIE, cookie).send().await?;
    if !resp.status().is_success() {
        bail!("GET {path} answered {}", resp.status());
    }
    Ok(resp.text().await?)
}

/// The "Older incidents" link of a list page (`…before=<cursor>`), unescaped.
pub fn older_link(html: &str) -> Option<String> {
    let at = html.find("before=")?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = at + html[at..].find('"')?;
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// The link with its `before=` cursor (`b<id>`, as the store encodes it)
/// written as the bare id the list's `before` parameter takes.
pub fn bare_before(link: &str) -> String {
    link.split('&')
        .map(|kv| match kv.strip_prefix("before=b") {
            Some(id) => format!("before={id}"),
            None => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The status a GET answers.
pub async fn status(url: &str, cookie: &str, path: &str) -> Result<reqwest::StatusCode> {
    Ok(client()?.get(format!("{url}{path}")).header(COOKIE, cookie).send().await?.status())
}

struct Sample {
    server_ms: f64,
    client_ms: f64,
    bytes: usize,
}

async fn one(http: &reqwest::Client, url: &str, cookie: &str) -> Result<Sample> {
    let started = Instant::now();
    let resp = http.get(url).header(COOKIE, cookie).send().await?;
    let code = resp.status();
    let timing = resp.headers().get("server-timing").and_then(|h| h.to_str().ok()).map(str::to_owned);
    let body = resp.bytes().await?;
    let client_ms = started.elapsed().as_secs_f64() * 1000.0;
    if code != reqwest::StatusCode::OK {
        bail!("answered {code}");
    }
    let server_ms = timing
        .as_deref()
        .and_then(|t| t.split(';').find_map(|p| p.trim().strip_prefix("dur=")))
        .and_then(|d| d.parse::<f64>().ok())
        .context("no Server-Timing app;dur=")?;
    Ok(Sample { server_ms, client_ms, bytes: body.len() })
}

/// `warmup` untimed requests, then `requests` timed ones shared by
/// `clients` clients, each with its own keep-alive connection.
pub async fn page(
    base: &str,
    cookie: &str,
    target: &Target,
    clients: usize,
    requests: usize,
    warmup: usize,
) -> Result<Measured> {
    let url = format!("{base}{}", target.path);
    let warm = client()?;
    for _ in 0..warmup {
        one(&warm, &url, cookie).await.with_context(|| format!("warming up GET {}", target.path))?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (next, url, cookie, http) = (next.clone(), url.clone(), cookie.to_string(), client()?);
        tasks.spawn(async move {
            // Open the connection before timing.
            let _ = one(&http, &url, &cookie).await;
            let (mut samples, mut errors) = (Vec::new(), 0);
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                match one(&http, &url, &cookie).await {
                    Ok(s) => samples.push(s),
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        });
    }
    let mut m = Measured {
        page: target.name.clone(),
        clients: clients.max(1),
        server_ms: Vec::new(),
        client_ms: Vec::new(),
        bytes: Vec::new(),
        errors: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (samples, errors) = done.context("client task")?;
        m.errors += errors;
        for s in samples {
            m.server_ms.push(s.server_ms);
            m.client_ms.push(s.client_ms);
            m.bytes.push(s.bytes);
        }
    }
    m.server_ms.sort_by(f64::total_cmp);
    m.client_ms.sort_by(f64::total_cmp);
    m.bytes.sort_unstable();
    Ok(m)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

impl Measured {
    pub fn meets(&self) -> bool {
        self.errors == 0 && percentile(&self.server_ms, 0.99) < LIMIT_MS
    }

    pub fn header() -> String {
        format!(
            "{:<34} {:>7} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7} | {:>9} {:>4}",
            "page", "clients", "n", "srv p50", "p90", "p99", "max", "cli p50", "p90", "p99", "max", "bytes", "<50"
        )
    }

    pub fn row(&self) -> String {
        let s = &self.server_ms;
        let c = &self.client_ms;
        let bytes = self.bytes.get(self.bytes.len() / 2).copied().unwrap_or(0);
        let verdict = if self.meets() { "yes" } else { "NO" };
        let errors = if self.errors > 0 { format!(" ({} errors)", self.errors) } else { String::new() };
        format!(
            "{:<34} {:>7} {:>6} | {:>7.2} {:>7.2} {:>7.2} {:>7.2} | {:>7.2} {:>7.2} {:>7.2} {:>7.2} | {:>9} {:>4}{errors}",
            self.page,
            self.clients,
            s.len(),
            percentile(s, 0.5),
            percentile(s, 0.9),
            percentile(s, 0.99),
            s.last().copied().unwrap_or(f64::NAN),
            percentile(c, 0.5),
            percentile(c, 0.9),
            percentile(c, 0.99),
            c.last().copied().unwrap_or(f64::NAN),
            bytes,
            verdict,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_older_incidents_link() {
        let html = r#"<a href="/incidents/7">x</a><a class="older" href="/incidents?status=open&amp;service=&amp;since=&amp;before=9951">Older incidents</a>"#;
        assert_eq!(older_link(html).as_deref(), Some("/incidents?status=open&service=&since=&before=9951"));
        let askama = r#"<a href="/incidents?status=any&#38;service=&#38;since=&#38;before=b451">Older incidents</a>"#;
        assert_eq!(older_link(askama).as_deref(), Some("/incidents?status=any&service=&since=&before=b451"));
        assert_eq!(older_link("<p>no more</p>"), None);
        assert_eq!(
            bare_before("/incidents?status=any&service=&before=b451"),
            "/incidents?status=any&service=&before=451"
        );
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
