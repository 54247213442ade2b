//! Typed async client for Tocsin's `/api/v1` REST API and its ingestion
//! endpoints. Used by the `tocsin` CLI and by integration tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tocsin_client::ClientError> {
//! let client = tocsin_client::Client::new("http://127.0.0.1:8080", Some("tcs_…"))?;
//! let page = client.list_incidents(&Default::default()).await?;
//! for incident in page.items {
//!     println!("{} {}", incident.id, incident.title);
//! }
//! # Ok(()) }
//! ```

mod error;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;

pub use error::ClientError;
/// The wire types of `/api/v1`, shared with the server.
pub use tocsin_api::*;

/// Whole-request timeout used by [`Client::new`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP/TLS connect timeout used by [`Client::new`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to one Tocsin server. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    /// Always has an empty query and fragment; path may be a prefix (`/tocsin/`).
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// `base_url` is the server root (`http://127.0.0.1:8080`, or with a path
    /// prefix when behind a proxy). An empty token counts as none.
    pub fn new(base_url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        Client::with_timeouts(base_url, token, DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Like [`Client::new`] with explicit timeouts.
    pub fn with_timeouts(
        base_url: &str,
        token: Option<&str>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Client, ClientError> {
        let base = parse_base_url(base_url)?;
        let token = token.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .user_agent(concat!("tocsin-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client { base, token, http })
    }

    /// The server root this client talks to.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Whether a bearer token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    // ---- incidents ----

    /// `GET /api/v1/incidents`
    pub async fn list_incidents(&self, q: &IncidentQuery) -> Result<Page<Incident>, ClientError> {
        let url = self.api(&["incidents"])?;
        self.call(self.req(Method::GET, url).query(q)).await
    }

    /// `GET /api/v1/incidents/{id}`
    pub async fn get_incident(&self, id: i64) -> Result<IncidentDetail, ClientError> {
        let url = self.api(&["incidents", &id.to_string()])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `POST /api/v1/incidents/{id}/acknowledge`
    pub async fn acknowledge(&self, id: i64) -> Result<Incident, ClientError> {
        self.incident_action(id, "acknowledge").await
    }

    /// `POST /api/v1/incidents/{id}/resolve`
    pub async fn resolve(&self, id: i64) -> Result<Incident, ClientError> {
        self.incident_action(id, "resolve").await
    }

    async fn incident_action(&self, id: i64, action: &str) -> Result<Incident, ClientError> {
        let url = self.api(&["incidents", &id.to_string(), action])?;
        self.call(self.req(Method::POST, url).json(&serde_json::json!({}))).await
    }

    /// `POST /api/v1/incidents/{id}/notes` → 201 with the new timeline entry.
    pub async fn add_note(&self, id: i64, text: &str) -> Result<TimelineEntry, ClientError> {
        let url = self.api(&["incidents", &id.to_string(), "notes"])?;
        self.call(self.req(Method::POST, url).json(&NoteRequest { text: text.to_string() })).await
    }

    /// `POST /api/v1/incidents/{id}/escalate`: page the next level now.
    pub async fn escalate(&self, id: i64) -> Result<Escalated, ClientError> {
        let url = self.api(&["incidents", &id.to_string(), "escalate"])?;
        self.call(self.req(Method::POST, url).json(&serde_json::json!({}))).await
    }

    /// `POST /api/v1/incidents/{id}/reassign`: page these users and
    /// schedules in place of the current level.
    pub async fn reassign(&self, id: i64, users: &[String], schedules: &[String]) -> Result<Reassigned, ClientError> {
        let url = self.api(&["incidents", &id.to_string(), "reassign"])?;
        let targets = users
            .iter()
            .map(|u| Target::User(u.clone()))
            .chain(schedules.iter().map(|s| Target::Schedule(s.clone())))
            .collect();
        self.call(self.req(Method::POST, url).json(&ReassignRequest { targets })).await
    }

    /// `GET /api/v1/incidents/{id}/notifications`
    pub async fn notifications(&self, id: i64) -> Result<Vec<Notification>, ClientError> {
        let url = self.api(&["incidents", &id.to_string(), "notifications"])?;
        let list: Items<Notification> = self.call(self.req(Method::GET, url)).await?;
        Ok(list.items)
    }

    // ---- alerts ----

    /// `GET /api/v1/alerts`
    pub async fn list_alerts(&self, q: &AlertQuery) -> Result<Page<Alert>, ClientError> {
        let url = self.api(&["alerts"])?;
        self.call(self.req(Method::GET, url).query(q)).await
    }

    /// `GET /api/v1/alerts/{id}`
    pub async fn get_alert(&self, id: i64) -> Result<Alert, ClientError> {
        let url = self.api(&["alerts", &id.to_string()])?;
        self.call(self.req(Method::GET, url)).await
    }

    // ---- services ----

    /// `GET /api/v1/services` (all services; the listing is not paginated).
    pub async fn list_services(&self) -> Result<Vec<Service>, ClientError> {
        let url = self.api(&["services"])?;
        let page: Page<Service> = self.call(self.req(Method::GET, url)).await?;
        Ok(page.items)
    }

    /// `GET /api/v1/services/{id}`
    pub async fn get_service(&self, id: &str) -> Result<Service, ClientError> {
        let url = self.api(&["services", id])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `GET /api/v1/services/{id}/oncall?at=`: whom its policy pages first.
    pub async fn service_oncall(&self, id: &str, at: Option<DateTime<Utc>>) -> Result<ServiceOnCall, ClientError> {
        let url = self.api(&["services", id, "oncall"])?;
        let mut req = self.req(Method::GET, url);
        if at.is_some() {
            req = req.query(&AtQuery { at });
        }
        self.call(req).await
    }

    // ---- escalation policies ----

    /// `GET /api/v1/escalation_policies`
    pub async fn list_policies(&self) -> Result<Vec<EscalationPolicy>, ClientError> {
        let url = self.api(&["escalation_policies"])?;
        let items: Items<EscalationPolicy> = self.call(self.req(Method::GET, url)).await?;
        Ok(items.items)
    }

    /// `GET /api/v1/escalation_policies/{id}`
    pub async fn get_policy(&self, id: &str) -> Result<EscalationPolicy, ClientError> {
        let url = self.api(&["escalation_policies", id])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `GET /api/v1/escalation_policies/{id}/oncall?at=`: whom each level pages.
    pub async fn policy_oncall(&self, id: &str, at: Option<DateTime<Utc>>) -> Result<PolicyOnCall, ClientError> {
        let url = self.api(&["escalation_policies", id, "oncall"])?;
        let mut req = self.req(Method::GET, url);
        if at.is_some() {
            req = req.query(&AtQuery { at });
        }
        self.call(req).await
    }

    // ---- heartbeats ----

    /// `GET /api/v1/heartbeats`: every heartbeat monitor, by id.
    pub async fn list_heartbeats(&self) -> Result<Vec<Heartbeat>, ClientError> {
        let url = self.api(&["heartbeats"])?;
        let items: Items<Heartbeat> = self.call(self.req(Method::GET, url)).await?;
        Ok(items.items)
    }

    // ---- schedules ----

    /// `GET /api/v1/schedules/{id}`
    pub async fn get_schedule(&self, id: &str) -> Result<Schedule, ClientError> {
        let url = self.api(&["schedules", id])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `GET /api/v1/schedules`
    pub async fn list_schedules(&self) -> Result<Vec<Schedule>, ClientError> {
        let url = self.api(&["schedules"])?;
        let page: Page<Schedule> = self.call(self.req(Method::GET, url)).await?;
        Ok(page.items)
    }

    /// `GET /api/v1/schedules/{id}/oncall?at=` (the server's now when `at` is None).
    pub async fn oncall(&self, schedule: &str, at: Option<DateTime<Utc>>) -> Result<OnCall, ClientError> {
        let url = self.api(&["schedules", schedule, "oncall"])?;
        let mut req = self.req(Method::GET, url);
        if at.is_some() {
            req = req.query(&AtQuery { at });
        }
        self.call(req).await
    }

    // ---- overrides ----

    /// `POST /api/v1/schedules/{id}/overrides` → 201: `user` takes the
    /// schedule during `[start, end)`.
    pub async fn create_override(
        &self,
        schedule: &str,
        user: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Override, ClientError> {
        let url = self.api(&["schedules", schedule, "overrides"])?;
        let body = OverrideRequest { user: user.to_string(), start, end };
        self.call(self.req(Method::POST, url).json(&body)).await
    }

    /// `GET /api/v1/schedules/{id}/overrides`: those that have not ended, or
    /// all live ones with `include_past`.
    pub async fn list_overrides(&self, schedule: &str, include_past: bool) -> Result<Vec<Override>, ClientError> {
        let url = self.api(&["schedules", schedule, "overrides"])?;
        let mut req = self.req(Method::GET, url);
        if include_past {
            req = req.query(&OverridesQuery { include_past: Some(true) });
        }
        let page: Page<Override> = self.call(req).await?;
        Ok(page.items)
    }

    /// `DELETE /api/v1/schedules/{id}/overrides/{override_id}` → 204.
    pub async fn delete_override(&self, schedule: &str, id: i64) -> Result<(), ClientError> {
        let url = self.api(&["schedules", schedule, "overrides", &id.to_string()])?;
        self.send(self.req(Method::DELETE, url)).await.map(|_| ())
    }

    // ---- calendar feeds ----

    /// `POST /api/v1/users/{id}/ical-token` → 201: a new feed token for the
    /// user (the previous one stops working). Admin only.
    pub async fn issue_ical_token(&self, user: &str) -> Result<IcalToken, ClientError> {
        let url = self.api(&["users", user, "ical-token"])?;
        self.call(self.req(Method::POST, url).json(&serde_json::json!({}))).await
    }

    /// A server-relative path (`/api/v1/…`, as in [`IcalUrls`]) as an
    /// absolute URL on this client's server.
    pub fn absolute_url(&self, path: &str) -> Result<String, ClientError> {
        self.raw_url(path).map(String::from)
    }

    // ---- tokens ----

    /// `POST /api/v1/tokens` → 201 with the secret, which is shown only once.
    /// `role` is `viewer`, `responder`, `manager` or `admin`; the token is the
    /// caller's own.
    pub async fn create_token(&self, name: &str, role: &str) -> Result<IssuedToken, ClientError> {
        let role = Role::parse(role).ok_or_else(|| {
            ClientError::InvalidInput(format!("unknown role {role:?}: one of viewer, responder, manager, admin"))
        })?;
        let url = self.api(&["tokens"])?;
        let body = TokenRequest { name: name.to_string(), role, user: None, expires_in: None };
        self.call(self.req(Method::POST, url).json(&body)).await
    }

    /// `POST /api/v1/tokens` with every option: a token for `request.user`
    /// (default: the caller), optionally expiring after `expires_in` (`90d`).
    pub async fn issue_token(&self, request: &TokenRequest) -> Result<IssuedToken, ClientError> {
        let url = self.api(&["tokens"])?;
        self.call(self.req(Method::POST, url).json(request)).await
    }

    /// `GET /api/v1/tokens`: everyone's for an admin, one's own otherwise.
    pub async fn list_tokens(&self) -> Result<Vec<Token>, ClientError> {
        self.list_tokens_of(None).await
    }

    /// `GET /api/v1/tokens?user=`: one user's tokens (or as [`Client::list_tokens`]).
    pub async fn list_tokens_of(&self, user: Option<&str>) -> Result<Vec<Token>, ClientError> {
        let url = self.api(&["tokens"])?;
        let query = TokensQuery { user: user.map(str::to_string) };
        let page: Page<Token> = self.call(self.req(Method::GET, url).query(&query)).await?;
        Ok(page.items)
    }

    // ---- people ----

    /// `GET /api/v1/me`: whom the token acts as, and with what role.
    pub async fn me(&self) -> Result<Me, ClientError> {
        let url = self.api(&["me"])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `GET /api/v1/users`
    pub async fn list_users(&self) -> Result<Vec<Person>, ClientError> {
        let url = self.api(&["users"])?;
        let page: Page<Person> = self.call(self.req(Method::GET, url)).await?;
        Ok(page.items)
    }

    /// `GET /api/v1/users/{id}`
    pub async fn get_user(&self, id: &str) -> Result<Person, ClientError> {
        let url = self.api(&["users", id])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `GET /api/v1/teams`
    pub async fn list_teams(&self) -> Result<Vec<Team>, ClientError> {
        let url = self.api(&["teams"])?;
        let page: Page<Team> = self.call(self.req(Method::GET, url)).await?;
        Ok(page.items)
    }

    /// `GET /api/v1/teams/{id}`
    pub async fn get_team(&self, id: &str) -> Result<Team, ClientError> {
        let url = self.api(&["teams", id])?;
        self.call(self.req(Method::GET, url)).await
    }

    // ---- passwords and login sessions ----

    /// `PUT /api/v1/users/{id}/password` → 204 (admin): the user's login
    /// sessions end.
    pub async fn set_password(&self, user: &str, password: &str) -> Result<(), ClientError> {
        let url = self.api(&["users", user, "password"])?;
        let body = PasswordRequest { password: password.to_string() };
        self.send(self.req(Method::PUT, url).json(&body)).await.map(|_| ())
    }

    /// `POST /api/v1/users/{id}/invitations` → 201 (admin): a one-time link
    /// with which the user sets their password, valid for 24 hours.
    pub async fn invite_user(&self, user: &str) -> Result<Invitation, ClientError> {
        let url = self.api(&["users", user, "invitations"])?;
        self.call(self.req(Method::POST, url).json(&serde_json::json!({}))).await
    }

    /// `GET /api/v1/me/sessions`: the caller's valid login sessions.
    pub async fn my_sessions(&self) -> Result<Vec<Session>, ClientError> {
        let url = self.api(&["me", "sessions"])?;
        let items: Items<Session> = self.call(self.req(Method::GET, url)).await?;
        Ok(items.items)
    }

    /// `DELETE /api/v1/me/sessions/{id}` → 204.
    pub async fn end_session(&self, id: i64) -> Result<(), ClientError> {
        let url = self.api(&["me", "sessions", &id.to_string()])?;
        self.send(self.req(Method::DELETE, url)).await.map(|_| ())
    }

    // ---- audit ----

    /// `GET /api/v1/audit?after=&limit=` (admin): entries after id `after`,
    /// oldest first.
    pub async fn audit_log(&self, after: i64, limit: Option<u32>) -> Result<Vec<AuditEntry>, ClientError> {
        let url = self.api(&["audit"])?;
        let query = AuditQuery { after: Some(after), limit };
        let items: Items<AuditEntry> = self.call(self.req(Method::GET, url).query(&query)).await?;
        Ok(items.items)
    }

    /// `GET /api/v1/audit/verify` (admin): checks every audit chain and
    /// names the first broken link.
    pub async fn verify_audit(&self) -> Result<AuditVerification, ClientError> {
        let url = self.api(&["audit", "verify"])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `DELETE /api/v1/tokens/{id}` → 204.
    pub async fn revoke_token(&self, id: i64) -> Result<(), ClientError> {
        let url = self.api(&["tokens", &id.to_string()])?;
        self.send(self.req(Method::DELETE, url)).await.map(|_| ())
    }

    // ---- silences (Alertmanager's API v2) ----

    /// `GET /api/v2/silences`: every silence, expired ones too.
    pub async fn silences(&self) -> Result<Vec<GettableSilence>, ClientError> {
        self.call(self.req(Method::GET, self.am(&["silences"])?)).await
    }

    /// `POST /api/v2/silences`: the id that now holds the silence.
    pub async fn put_silence(&self, silence: &PostableSilence) -> Result<SilenceCreated, ClientError> {
        self.call(self.req(Method::POST, self.am(&["silences"])?).json(silence)).await
    }

    /// `DELETE /api/v2/silence/{id}`: ends it now.
    pub async fn expire_silence(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.req(Method::DELETE, self.am(&["silence", id])?)).await.map(|_| ())
    }

    // ---- config as code ----

    /// `POST /api/v1/config/plan`: what `source` would change; changes nothing.
    pub async fn plan_config(&self, file: &str, source: &str) -> Result<ConfigPlan, ClientError> {
        let url = self.api(&["config", "plan"])?;
        let body = serde_json::json!({ "file": file, "source": source });
        self.call(self.req(Method::POST, url).json(&body)).await
    }

    /// `POST /api/v1/config` (admin): applies `source` as the next version.
    pub async fn apply_config(&self, file: &str, source: &str) -> Result<AppliedConfig, ClientError> {
        let url = self.api(&["config"])?;
        let body = serde_json::json!({ "file": file, "source": source });
        self.call(self.req(Method::POST, url).json(&body)).await
    }

    /// `GET /api/v1/config`: the version in force.
    pub async fn config_status(&self) -> Result<ConfigVersion, ClientError> {
        let url = self.api(&["config"])?;
        self.call(self.req(Method::GET, url)).await
    }

    // ---- notifications ----

    /// `GET /api/v1/notifications/webhook-secret` (admin): the key webhook
    /// deliveries are signed with. Every read is audited.
    pub async fn webhook_secret(&self) -> Result<WebhookSecret, ClientError> {
        let url = self.api(&["notifications", "webhook-secret"])?;
        self.call(self.req(Method::GET, url)).await
    }

    /// `POST /api/v1/notifications/ack-key/rotate` → 204: every acknowledge
    /// link sent so far is refused from now on (admin).
    pub async fn rotate_ack_key(&self) -> Result<(), ClientError> {
        let url = self.api(&["notifications", "ack-key", "rotate"])?;
        self.send(self.req(Method::POST, url)).await.map(|_| ())
    }

    // ---- engine ----

    /// `GET /api/v1/engine/dead-letters`
    pub async fn dead_letters(&self, q: &DeadLettersQuery) -> Result<Page<DeadLetter>, ClientError> {
        let url = self.api(&["engine", "dead-letters"])?;
        self.call(self.req(Method::GET, url).query(q)).await
    }

    /// `POST /api/v1/engine/dead-letters/{id}/retry`
    pub async fn retry_dead_letter(&self, id: i64) -> Result<DeadLetter, ClientError> {
        let url = self.api(&["engine", "dead-letters", &id.to_string(), "retry"])?;
        self.call(self.req(Method::POST, url)).await
    }

    // ---- ingestion ----

    /// `POST` a JSON value to `base + path` without the bearer token
    /// (ingestion is authorised by the integration key in the path or body).
    ///
    /// Returns the status and the parsed body, or `{"raw": "<text>"}` if the
    /// body is not JSON. A non-2xx status is *not* an error here.
    pub async fn send_raw(&self, path: &str, body: serde_json::Value) -> Result<(u16, serde_json::Value), ClientError> {
        let bytes =
            serde_json::to_vec(&body).map_err(|e| ClientError::Decode(format!("cannot encode request body: {e}")))?;
        self.send_raw_bytes(path, bytes).await
    }

    /// Like [`Client::send_raw`] but sends the bytes exactly as given, with
    /// `Content-Type: application/json` (for replaying captured payloads,
    /// including malformed ones).
    pub async fn send_raw_bytes(&self, path: &str, body: Vec<u8>) -> Result<(u16, serde_json::Value), ClientError> {
        let url = self.raw_url(path)?;
        let resp = self
            .http
            .post(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::json!({ "raw": String::from_utf8_lossy(&bytes) }));
        Ok((status, value))
    }

    // ---- plumbing ----

    /// `base/api/v1/<segments…>`, each segment percent-encoded.
    fn api(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl(format!("{} cannot be a base", self.base)))?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        Ok(url)
    }

    /// `base/api/v2/<segments>`: Alertmanager's API, which Tocsin also serves.
    fn am(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::InvalidUrl(format!("{} cannot be a base", self.base)))?
            .pop_if_empty()
            .extend(["api", "v2"])
            .extend(segments);
        Ok(url)
    }

    /// `base + path`, where `path` is taken literally (it may hold a query).
    fn raw_url(&self, path: &str) -> Result<Url, ClientError> {
        let mut s = self.base.as_str().trim_end_matches('/').to_string();
        if !path.starts_with('/') {
            s.push('/');
        }
        s.push_str(path);
        Url::parse(&s).map_err(|e| ClientError::InvalidUrl(format!("{s}: {e}")))
    }

    fn req(&self, method: Method, url: Url) -> RequestBuilder {
        let rb = self.http.request(method, url).header(ACCEPT, HeaderValue::from_static("application/json"));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends, maps non-2xx to [`ClientError::Api`], returns the body bytes and
    /// a `METHOD /path` label for decode errors.
    async fn send(&self, rb: RequestBuilder) -> Result<(Vec<u8>, String), ClientError> {
        let (client, req) = rb.build_split();
        let req = req?;
        let what = format!("{} {}", req.method(), req.url().path());
        let resp = client.execute(req).await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if !status.is_success() {
            return Err(ClientError::from_response(status.as_u16(), &body));
        }
        Ok((body.to_vec(), what))
    }

    async fn call<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        let (body, what) = self.send(rb).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode(format!("{what}: {e}")))
    }
}

fn parse_base_url(raw: &str) -> Result<Url, ClientError> {
    let raw = raw.trim();
    let mut url = Url::parse(raw).map_err(|e| ClientError::InvalidUrl(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ClientError::InvalidUrl(format!("{raw:?}: expected http:// or https:// followed by a host")));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests;
