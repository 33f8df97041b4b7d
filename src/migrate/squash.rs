//! Databases built before the pre-release migrations were squashed.
//!
//! Migrations 1 to 7 became one baseline, `V8__baseline`, before the first release. A database
//! they built already has every table of the baseline, so it is not migrated again: its seven
//! history rows are replaced with the baseline's, and the files of `sql/schema/` then bring its
//! functions, triggers, views and grants to their current definitions. A test builds such a
//! database from the old migrations, with rows in it, and checks that after `pgtide migrate` its
//! catalog equals a fresh one's.

use crate::{sql, Error, Result};

/// The squashed migrations, as their history rows name them.
const SQUASHED: [(i32, &str); 7] = [
    (1, "core_schema"),
    (2, "admin_functions"),
    (3, "scheduler"),
    (4, "queues_audit_roles"),
    (5, "fast_path"),
    (6, "alerts"),
    (7, "operations"),
];

/// The baseline that replaces them.
pub(crate) const BASELINE_VERSION: i32 = 8;

/// Replaces the history rows of the squashed migrations with the baseline's row. Returns whether it
/// did. A database that stopped partway through them is refused, naming its version: the baseline
/// would not match it.
pub(crate) async fn convert(
    client: &tokio_postgres::Client,
    baseline_name: &str,
    baseline_checksum: &str,
) -> Result<bool> {
    let rows = client
        .query(sql::SQUASHED_HISTORY, &[&BASELINE_VERSION])
        .await?;
    if rows.is_empty() {
        return Ok(false);
    }
    let found: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let complete = found.len() == SQUASHED.len()
        && found
            .iter()
            .zip(SQUASHED)
            .all(|((version, name), (v, n))| *version == v && name == n);
    if !complete {
        let versions: Vec<String> = found.iter().map(|(v, n)| format!("{v} ({n})")).collect();
        return Err(Error::invalid(
            "schema version",
            versions.join(", "),
            "all of the pre-release migrations 1 to 7, which this pgtide squashed into its baseline: \
             finish them with the pgtide that started them, then run this one",
        ));
    }
    client
        .execute(
            sql::REPLACE_SQUASHED,
            &[&BASELINE_VERSION, &baseline_name, &baseline_checksum],
        )
        .await?;
    Ok(true)
}
