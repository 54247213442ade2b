//! `tocsin alerts list|show`: the deduplicated signals behind incidents.

use tocsin_client::{Alert, AlertQuery};

use super::incidents::alerts_table;
use super::table::Table;
use super::{ClientOpts, Output, emit, emit_json, fmt_opt_time, fmt_time};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum AlertsCmd {
    /// List alerts, newest first.
    List {
        /// Only alerts in this state (triggered, acknowledged, resolved).
        #[arg(long)]
        status: Option<String>,
        /// Only alerts of this service (id).
        #[arg(long)]
        service: Option<String>,
        /// Only alerts with this dedup key (or Alertmanager fingerprint).
        #[arg(long)]
        dedup_key: Option<String>,
        /// Page size.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
        /// Continue from the cursor printed by a previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one alert with its labels, details and links.
    Show {
        /// The alert's id (as `alerts list` shows it).
        id: i64,
    },
}

pub async fn run_alerts(opts: &ClientOpts, cmd: AlertsCmd) -> anyhow::Result<()> {
    let client = opts.client()?;
    match cmd {
        AlertsCmd::List { status, service, dedup_key, limit, cursor } => {
            let query = AlertQuery { status, service, dedup_key, cursor, limit };
            let page = client.list_alerts(&query).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&page),
                Output::Table if page.items.is_empty() => emit("No alerts.\n"),
                Output::Table => {
                    let mut out = alerts_table(&page.items).render();
                    if let Some(next) = &page.next_cursor {
                        out.push_str(&format!("More: --cursor {next}\n"));
                    }
                    emit(&out)
                }
            }
        }
        AlertsCmd::Show { id } => {
            let alert = client.get_alert(id).await.map_err(|e| opts.fail(e))?;
            match opts.output {
                Output::Json => emit_json(&alert),
                Output::Table => emit(&alert_text(&alert)),
            }
        }
    }
}

fn alert_text(a: &Alert) -> String {
    let mut fields = Table::plain();
    fields.row(["Alert:", &format!("{} {}", a.id, a.summary)]);
    fields.row(["Status:", a.status.as_str()]);
    fields.row(["Severity:", a.severity.as_str()]);
    fields.row(["Service:", &a.service_id]);
    fields.row(["Incident:", &a.incident_id.map_or_else(|| "-".to_string(), |id| id.to_string())]);
    fields.row(["Source:", &format!("{} ({})", a.source.as_deref().unwrap_or("-"), a.kind.as_str())]);
    fields.row(["Dedup key:", &a.dedup_key]);
    fields
        .row(["Seen:", &format!("{} times, {} to {}", a.occurrences, fmt_time(&a.first_seen), fmt_time(&a.last_seen))]);
    fields.row(["Resolved:", &fmt_opt_time(a.resolved_at.as_ref(), "-")]);
    for (name, value) in &a.labels {
        fields.row(["Label:", &format!("{name}={value}")]);
    }
    for link in &a.links {
        fields.row(["Link:", format!("{} {}", link.text.as_deref().unwrap_or(""), link.href).trim()]);
    }
    if !a.details.is_null() {
        fields.row(["Details:", &a.details.to_string()]);
    }
    fields.render()
}
