//! `tocsin tokens …`

use tocsin_client::{Role, Token, TokenRequest};

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokensCmd {
    /// Create an API token; the secret is printed once, on stdout.
    Create {
        /// A name to recognise the token by (e.g. "ci" or "alice laptop").
        #[arg(long)]
        name: String,
        /// What the token may do: at most its user's role.
        #[arg(long, value_parser = ["viewer", "responder", "manager", "admin"])]
        role: String,
        /// Whose token it is (it acts as that user); default: yourself.
        /// Only admins create tokens for others.
        #[arg(long)]
        user: Option<String>,
        /// Expire after this long (`90d`, `12h`); default: until revoked.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List API tokens (never their secrets): everyone's for an admin, your
    /// own otherwise.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token.
    Revoke {
        /// The token's id (as `tokens list` shows it).
        id: i64,
    },
}

pub async fn run_tokens(opts: &ClientOpts, cmd: TokensCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        TokensCmd::Create { name, role, user, expires_in } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role}"))?;
            let request = TokenRequest { name, role, user, expires_in };
            let created = client.issue_token(&request).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&created),
                Output::Table => {
                    // Only the secret goes to stdout, so `TOKEN=$(tocsin tokens create …)` works.
                    let expiry =
                        created.info.expires_at.map(|t| format!(", expires {}", fmt_time(&t))).unwrap_or_default();
                    eprintln!(
                        "Created token {} ({:?}) for {}, role {}{expiry}. Store it now: it cannot be shown again.",
                        created.info.id,
                        created.info.name,
                        created.info.user_id,
                        created.info.role.as_str()
                    );
                    emit(&format!("{}\n", created.token))
                }
            }
        }
        TokensCmd::List { user } => {
            let tokens = client.list_tokens_of(user.as_deref()).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&tokens),
                Output::Table if tokens.is_empty() => emit("No tokens.\n"),
                Output::Table => emit(&tokens_table(&tokens).render()),
            }
        }
        TokensCmd::Revoke { id } => {
            client.revoke_token(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&serde_json::json!({ "id": id, "revoked": true })),
                Output::Table => emit(&format!("Revoked token {id}.\n")),
            }
        }
    }
}

fn tokens_table(tokens: &[Token]) -> Table {
    let mut t = Table::new(["ID", "NAME", "USER", "ROLE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"]);
    for tok in tokens {
        t.row([
            tok.id.to_string(),
            tok.name.clone(),
            tok.user_id.clone(),
            tok.role.as_str().to_string(),
            fmt_time(&tok.created_at),
            fmt_opt_time(tok.last_used_at.as_ref(), "never"),
            fmt_opt_time(tok.expires_at.as_ref(), "never"),
            fmt_opt_time(tok.revoked_at.as_ref(), "-"),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn list_table() {
        let tokens = [
            Token {
                id: 1,
                name: "bootstrap".into(),
                role: Role::Admin,
                user_id: "admin".into(),
                created_at: t("2026-11-27T16:00:00Z"),
                created_by: "system".into(),
                expires_at: None,
                last_used_at: Some(t("2026-11-27T16:05:00Z")),
                revoked_at: None,
            },
            Token {
                id: 12,
                name: "ci".into(),
                role: Role::Viewer,
                user_id: "bob".into(),
                created_at: t("2026-11-27T16:10:00Z"),
                created_by: "user:admin".into(),
                expires_at: Some(t("2027-02-25T16:10:00Z")),
                last_used_at: None,
                revoked_at: Some(t("2026-11-28T09:00:00Z")),
            },
        ];
        assert_eq!(
            tokens_table(&tokens).render(),
            "ID  NAME       USER   ROLE    CREATED               LAST USED             EXPIRES               REVOKED\n\
             1   bootstrap  admin  admin   2026-11-27T16:00:00Z  2026-11-27T16:05:00Z  never                 -\n\
             12  ci         bob    viewer  2026-11-27T16:10:00Z  never                 2027-02-25T16:10:00Z  2026-11-28T09:00:00Z\n"
        );
    }
}
