//! Schema migrations: refinery, with its history table inside the `pgtide` schema.
//!
//! Any number of processes may start at once (a deploy restarts a whole fleet), so migrations run on a
//! dedicated connection that first takes a transaction-independent advisory lock. The lock is the one
//! place pgtide uses session state: it is held only for the seconds the migration takes, on a direct
//! connection, so poolers in front of the runtime traffic don't affect it.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::{sql, Database, Result};

mod embedded {
    refinery::embed_migrations!("sql/migrations");
}

/// Where refinery records applied migrations.
pub const HISTORY_TABLE: &str = "pgtide.refinery_schema_history";

/// Key of the advisory lock that serializes migrations across processes ("pgtide" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x7067_7469_6465;

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Names of the migrations applied by this run, in order (`V1__core_schema`, ...).
    pub applied: Vec<String>,
}

/// Applies pending migrations. Safe to call from many processes at once: they queue on a lock and
/// the later ones find nothing to do.
///
/// # Errors
/// [`crate::Error::Db`] when the lock or a statement fails; [`crate::Error::Migration`] when a
/// migration fails or the database has migrations this binary does not know (a newer pgtide).
///
/// # Transactions and locks
/// Holds `pg_advisory_lock` for the duration on its own connection. Each migration file runs in its
/// own transaction (refinery's default), so a failure leaves the schema at the last good version.
pub async fn migrate(db: &Database) -> Result<MigrationReport> {
    // The common case, a current schema, is settled with two reads: a worker running under a role
    // without DDL rights (see `pgtide.grant('worker', ...)`) starts without needing any.
    let applied = applied_version(db).await?;
    if applied == Some(latest_version()) {
        return Ok(MigrationReport {
            applied: Vec::new(),
        });
    }
    if let Some(newer) = applied.filter(|&v| v > latest_version()) {
        return Err(newer_schema(newer));
    }
    if db.is_pooler() {
        // The migration lock is a session advisory lock, which a transaction pooler cannot hold.
        return Err(crate::Error::invalid(
            "schema version",
            applied.map_or_else(|| "none".to_string(), |v| v.to_string()),
            format!(
                "version {}: run `pgtide migrate` on a direct connection first (migrations take a \
                 session lock, which a transaction pooler cannot hold)",
                latest_version()
            ),
        ));
    }
    let (mut client, _messages) = db.dedicated().await?;
    client
        .execute(sql::MIGRATION_LOCK, &[&MIGRATION_LOCK_KEY])
        .await?;
    let outcome = run_locked(&mut client).await;
    // Closing the connection would release the lock too; unlock explicitly so a failure is visible.
    let unlocked = client
        .execute(sql::MIGRATION_UNLOCK, &[&MIGRATION_LOCK_KEY])
        .await;
    let report = outcome?;
    unlocked?;
    Ok(report)
}

async fn run_locked(client: &mut tokio_postgres::Client) -> Result<MigrationReport> {
    client.batch_execute(sql::CREATE_SCHEMA).await?;
    let mut runner = embedded::migrations::runner();
    runner.set_migration_table_name(HISTORY_TABLE);
    let report = runner.run_async(client).await?;
    Ok(MigrationReport {
        applied: report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect(),
    })
}

/// The newest migration version applied to `db`, or `None` on a database pgtide never migrated.
///
/// # Errors
/// [`crate::Error::Db`] or [`crate::Error::Pool`] when the database cannot be read.
pub async fn applied_version(db: &Database) -> Result<Option<i32>> {
    let client = db.client().await?;
    let present: bool = db
        .query_one(&client, sql::SCHEMA_HISTORY_EXISTS, &[])
        .await?
        .get("present");
    if !present {
        return Ok(None);
    }
    Ok(db
        .query_one(&client, sql::SCHEMA_VERSION, &[])
        .await?
        .get("version"))
}

/// Checks, without changing anything, that the database's schema is exactly the one this binary was
/// built for: what a process started with `--no-migrate` does, so that `pgtide migrate` stays the
/// one step that changes the schema.
///
/// # Errors
/// [`crate::Error::Invalid`] naming the schema version: older than this binary's (run `pgtide
/// migrate` first), or newer (this binary is older than the schema: upgrade it).
pub async fn check_current(db: &Database) -> Result<()> {
    let latest = latest_version();
    match applied_version(db).await? {
        Some(v) if v == latest => Ok(()),
        Some(v) if v > latest => Err(newer_schema(v)),
        applied => Err(crate::Error::invalid(
            "schema version",
            applied.map_or_else(|| "none".to_string(), |v| v.to_string()),
            format!(
                "version {latest}, which this pgtide needs: run `pgtide migrate` first (this process \
                 does not migrate: --no-migrate)"
            ),
        )),
    }
}

fn newer_schema(applied: i32) -> crate::Error {
    crate::Error::invalid(
        "schema version",
        applied,
        format!(
            "at most version {}, the newest this pgtide knows: a newer pgtide migrated this \
             database, so upgrade this binary (migrate first, then roll the workers)",
            latest_version()
        ),
    )
}

/// The SQL `pgtide migrate` would run on `db`, for teams that apply migrations with their own tool:
/// each pending migration in a transaction of its own, with the row of refinery's history table that
/// marks it applied (so pgtide then finds the schema current).
///
/// # Errors
/// [`crate::Error::Db`] or [`crate::Error::Connect`] when the database cannot be read;
/// [`crate::Error::Invalid`] when its schema is newer than this binary.
pub async fn pending_sql(db: &Database) -> Result<String> {
    let applied = applied_version(db).await?;
    if let Some(newer) = applied.filter(|&v| v > latest_version()) {
        return Err(newer_schema(newer));
    }
    let mut out = String::new();
    if applied.is_none() {
        out.push_str(&format!(
            "-- pgtide's schema and the table that records its migrations.\n{};\n\
             create table if not exists {HISTORY_TABLE} (version int4 primary key, name varchar(255), \
             applied_on varchar(255), checksum varchar(255));\n\n",
            sql::CREATE_SCHEMA.trim()
        ));
    }
    let mut migrations = embedded::migrations::runner().get_migrations().clone();
    migrations.sort_by_key(|m| m.version());
    for m in migrations
        .iter()
        .filter(|m| applied.is_none_or(|v| m.version() > v))
    {
        out.push_str(&format!(
            "-- {name}\nbegin;\n{sql}\ninsert into {HISTORY_TABLE} (version, name, applied_on, checksum)\n\
             values ({version}, '{name_only}', to_char(now() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '{checksum}');\ncommit;\n\n",
            name = m,
            sql = m.sql().unwrap_or_default().trim_end(),
            version = m.version(),
            name_only = m.name(),
            checksum = m.checksum(),
        ));
    }
    Ok(out)
}

/// The newest migration version this binary carries.
pub fn latest_version() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0)
}

/// A fingerprint of the embedded migrations (names and checksums). Test harnesses use it to name a
/// template database, so a changed migration yields a fresh template instead of a stale one.
pub fn schema_fingerprint() -> u64 {
    let mut hasher = DefaultHasher::new();
    for migration in embedded::migrations::runner().get_migrations() {
        migration.name().hash(&mut hasher);
        migration.version().hash(&mut hasher);
        migration.checksum().hash(&mut hasher);
    }
    hasher.finish()
}
