//! `pgtide alerts`: what fires now, and the latest firing and resolved events with the outcome of
//! their webhook deliveries.

use crate::Result;
use clap::Args;
use pgtide::admin::Admin;

use super::table::{self, cut, time};

/// Flags of `pgtide alerts`.
#[derive(Debug, Clone, Args)]
pub(crate) struct AlertsArgs {
    /// Also list the latest N alert events (firing and resolved), newest first.
    #[arg(long, value_name = "N")]
    history: Option<i64>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(admin: &Admin, args: AlertsArgs) -> Result<()> {
    let firing = admin.alerts().await?;
    let events = match args.history {
        Some(n) => Some(admin.alert_events(Some(n)).await?),
        None => None,
    };
    if args.json {
        return table::json(&serde_json::json!({ "firing": firing, "events": events }));
    }
    if firing.is_empty() {
        println!("no alert is firing");
    } else {
        let rows: Vec<Vec<String>> = firing
            .iter()
            .map(|a| {
                vec![
                    a.rule.clone(),
                    a.kind.clone(),
                    a.subject.clone(),
                    time(&Some(a.since)),
                    cut(&Some(a.message.clone()), 90),
                ]
            })
            .collect();
        table::print(&["rule", "kind", "subject", "since", "message"], &rows);
    }
    if let Some(events) = events {
        println!();
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                let deliveries: Vec<String> = e
                    .deliveries
                    .iter()
                    .map(|d| {
                        format!(
                            "{}:{}",
                            d["webhook"].as_str().unwrap_or("?"),
                            d["status"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                vec![
                    e.id.to_string(),
                    time(&Some(e.at)),
                    e.state.clone(),
                    e.rule.clone(),
                    e.subject.clone(),
                    if deliveries.is_empty() {
                        "-".into()
                    } else {
                        deliveries.join(" ")
                    },
                    cut(&Some(e.message.clone()), 70),
                ]
            })
            .collect();
        table::print(
            &[
                "id",
                "at",
                "state",
                "rule",
                "subject",
                "deliveries",
                "message",
            ],
            &rows,
        );
    }
    Ok(())
}
