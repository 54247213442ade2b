//! `tocsin tokens …`

use tocsin_client::Token;

use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokensCmd {
    /// Create an API token; the secret is printed once, on stdout.
    Create {
        /// A name to recognise the token by (e.g. "ci" or "alice laptop").
        #[arg(long)]
        name: String,
        /// What the token may do.
        #[arg(long, value_parser = ["viewer", "responder", "manager", "admin"])]
        role: String,
    },
    /// List API tokens (never their secrets).
    List,
    /// Revoke an API token.
    Revoke {
        /// The token's id (as `tokens list` shows it).
        id: i64,
    },
}

pub async fn run_tokens(opts: &ClientOpts, cmd: TokensCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        TokensCmd::Create { name, role } => {
            let created = client.create_token(&name, &role).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&created),
                Output::Table => {
                    // Only the secret goes to stdout, so `TOKEN=$(tocsin tokens create …)` works.
                    eprintln!(
                        "Created token {} ({:?}, role {}). Store it now: it cannot be shown again.",
                        created.info.id,
                        created.info.name,
                        created.info.role.as_str()
                    );
                    emit(&format!("{}\n", created.token))
                }
            }
        }
        TokensCmd::List => {
            let tokens = client.list_tokens().await.map_err(|e| opts.fail(e))?;
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
    let mut t = Table::new(["ID", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED"]);
    for tok in tokens {
        t.row([
            tok.id.to_string(),
            tok.name.clone(),
            tok.role.as_str().to_string(),
            fmt_time(&tok.created_at),
            fmt_opt_time(tok.last_used_at.as_ref(), "never"),
            fmt_opt_time(tok.revoked_at.as_ref(), "-"),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use tocsin_client::Role;

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
                expires_at: None,
                last_used_at: None,
                revoked_at: Some(t("2026-11-28T09:00:00Z")),
            },
        ];
        assert_eq!(
            tokens_table(&tokens).render(),
            "ID  NAME       ROLE    CREATED               LAST USED             REVOKED\n\
             1   bootstrap  admin   2026-11-27T16:00:00Z  2026-11-27T16:05:00Z  -\n\
             12  ci         viewer  2026-11-27T16:10:00Z  never                 2026-11-28T09:00:00Z\n"
        );
    }
}
