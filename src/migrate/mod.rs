//! Schema changes: refinery's migrations for the tables, then the files of `sql/schema/` for
//! everything that can be replaced in place (functions, triggers, views, grants).
//!
//! `sql/migrations/` holds a baseline and the deltas after it; `sql/schema/` holds the one current
//! definition of every object (see its README). [`migrate`] runs the pending migrations, then applies
//! the schema files whose checksum changed (`schema_files.rs` says how). A database built before the
//! pre-release migrations were squashed is taken to the baseline by `squash.rs`.
//!
//! Any number of processes may start at once (a deploy restarts a whole fleet), so migrations run on a
//! dedicated connection that first takes a transaction-independent advisory lock. The lock is the one
//! place pgtide uses session state: it is held only for the seconds the migration takes, on a direct
//! connection, so poolers in front of the runtime traffic don't affect it.

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::{sql, Database, Result};

mod schema_files;
mod squash;

pub use schema_files::SchemaFile;

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
    /// Names of the migrations applied by this run, in order (`V8__baseline`, ...).
    pub applied: Vec<String>,
    /// The files of `sql/schema/` applied by this run, in order (`functions/claim.sql`, ...).
    pub schema_files: Vec<String>,
}

impl MigrationReport {
    /// Whether the run changed nothing: the schema was current.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.schema_files.is_empty()
    }
}

/// Where the database's schema stands against this binary.
struct State {
    /// The newest applied migration, `None` on a database pgtide never migrated.
    version: Option<i32>,
    /// The recorded schema files (none before their table exists).
    files: schema_files::Recorded,
}

impl State {
    async fn read(db: &Database) -> Result<Self> {
        let client = db.client().await?;
        let exists = db
            .query_one(&client, sql::SCHEMA_HISTORY_EXISTS, &[])
            .await?;
        let version = if exists.get("present") {
            db.query_one(&client, sql::SCHEMA_VERSION, &[])
                .await?
                .get("version")
        } else {
            None
        };
        let files = if exists.get("files_present") {
            recorded_files(&db.query(&client, sql::SCHEMA_FILES, &[]).await?)
        } else {
            schema_files::Recorded::new()
        };
        Ok(State { version, files })
    }

    /// The schema files that differ from this binary's, by name.
    fn stale_files(&self) -> Vec<&'static str> {
        schema_files::stale(&self.files)
    }

    fn is_current(&self) -> bool {
        self.version == Some(latest_version()) && self.stale_files().is_empty()
    }

    /// An error when a newer pgtide migrated this database, by version or by schema files.
    fn check_not_newer(&self) -> Result<()> {
        if let Some(newer) = self.version.filter(|&v| v > latest_version()) {
            return Err(newer_schema(newer));
        }
        match schema_files::newer_writer(&self.files) {
            Some(writer) => Err(newer_files(writer)),
            None => Ok(()),
        }
    }
}

fn newer_files(writer: &str) -> crate::Error {
    crate::Error::invalid(
        "schema files",
        format!("applied by pgtide {writer}"),
        format!(
            "files of pgtide {} or older: a newer pgtide migrated this database, so upgrade this \
             binary (migrate first, then roll the workers)",
            env!("CARGO_PKG_VERSION")
        ),
    )
}

fn recorded_files(rows: &[tokio_postgres::Row]) -> schema_files::Recorded {
    rows.iter()
        .map(|r| (r.get("name"), (r.get("checksum"), r.get("pgtide_version"))))
        .collect()
}

/// Applies pending migrations, then the changed files of `sql/schema/`. Safe to call from many
/// processes at once: they queue on a lock and the later ones find nothing to do.
///
/// # Errors
/// [`crate::Error::Db`] when the lock or a statement fails; [`crate::Error::Migration`] when a
/// migration fails; [`crate::Error::Invalid`] when a newer pgtide migrated the database.
///
/// # Transactions and locks
/// Holds `pg_advisory_lock` for the duration on its own connection. Each migration runs in its own
/// transaction (refinery's default), so a failure leaves the schema at the last good version; the
/// schema files are applied together in one transaction after them.
pub async fn migrate(db: &Database) -> Result<MigrationReport> {
    // The common case, a current schema, is settled with reads only: a worker running under a role
    // without DDL rights (see `pgtide.grant('worker', ...)`) starts without needing any.
    let state = State::read(db).await?;
    state.check_not_newer()?;
    if state.is_current() {
        return Ok(MigrationReport {
            applied: Vec::new(),
            schema_files: Vec::new(),
        });
    }
    if db.is_pooler() {
        // The migration lock is a session advisory lock, which a transaction pooler cannot hold.
        return Err(crate::Error::invalid(
            "schema version",
            state
                .version
                .map_or_else(|| "none".to_string(), |v| v.to_string()),
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
    let baseline = baseline();
    let history = client
        .query_one(sql::SCHEMA_HISTORY_EXISTS, &[])
        .await?
        .get::<_, bool>("present");
    let converted = history
        && squash::convert(client, baseline.name(), &baseline.checksum().to_string()).await?;
    let mut runner = embedded::migrations::runner();
    runner.set_migration_table_name(HISTORY_TABLE);
    let migrated = runner.run_async(client).await?;
    let applied: Vec<String> = migrated
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();

    client.batch_execute(sql::CREATE_SCHEMA_FILES).await?;
    let recorded = recorded_files(&client.query(sql::SCHEMA_FILES, &[]).await?);
    if let Some(writer) = schema_files::newer_writer(&recorded) {
        // Checked again under the lock: a newer pgtide may have migrated since the first look.
        return Err(newer_files(writer));
    }
    let pending = schema_files::pending(&recorded, converted || !applied.is_empty());
    let tx = client.transaction().await?;
    for file in &pending {
        tx.batch_execute(file.sql)
            .await
            .map_err(|e| schema_file_error(file, e))?;
        tx.execute(
            sql::RECORD_SCHEMA_FILE,
            &[&file.name, &file.checksum(), &env!("CARGO_PKG_VERSION")],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(MigrationReport {
        applied,
        schema_files: pending.iter().map(|f| f.name.to_string()).collect(),
    })
}

/// A failed schema file, named like a failed migration is.
fn schema_file_error(file: &SchemaFile, source: tokio_postgres::Error) -> crate::Error {
    let detail = source
        .as_db_error()
        .map_or_else(|| source.to_string(), |e| e.message().to_string());
    crate::Error::invalid(
        "schema file",
        format!("sql/schema/{}", file.name),
        format!("a file that applies cleanly; it failed with: {detail}"),
    )
}

/// The baseline migration, which the squashed migrations' history rows become.
fn baseline() -> refinery::Migration {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .find(|m| m.version() == squash::BASELINE_VERSION)
        .cloned()
        .expect("sql/migrations holds the baseline")
}

/// The newest migration version applied to `db`, or `None` on a database pgtide never migrated.
///
/// # Errors
/// [`crate::Error::Db`] or [`crate::Error::Pool`] when the database cannot be read.
pub async fn applied_version(db: &Database) -> Result<Option<i32>> {
    Ok(State::read(db).await?.version)
}

/// Checks, without changing anything, that the database's schema is exactly the one this binary was
/// built for: what a process started with `--no-migrate` does, so that `pgtide migrate` stays the
/// one step that changes the schema.
///
/// # Errors
/// [`crate::Error::Invalid`] naming the schema version or the schema files: older than this binary's
/// (run `pgtide migrate` first), or newer (this binary is older than the schema: upgrade it).
pub async fn check_current(db: &Database) -> Result<()> {
    let state = State::read(db).await?;
    state.check_not_newer()?;
    let latest = latest_version();
    let run_migrate = "run `pgtide migrate` first (this process does not migrate: --no-migrate)";
    if state.version != Some(latest) {
        return Err(crate::Error::invalid(
            "schema version",
            state
                .version
                .map_or_else(|| "none".to_string(), |v| v.to_string()),
            format!("version {latest}, which this pgtide needs: {run_migrate}"),
        ));
    }
    let stale = state.stale_files();
    if !stale.is_empty() {
        return Err(crate::Error::invalid(
            "schema files",
            stale.join(", "),
            format!("the definitions this pgtide carries: {run_migrate}"),
        ));
    }
    Ok(())
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
/// marks it applied, then the changed files of `sql/schema/` in one transaction with the rows that
/// record them (so pgtide then finds the schema current).
///
/// # Errors
/// [`crate::Error::Db`] or [`crate::Error::Connect`] when the database cannot be read;
/// [`crate::Error::Invalid`] when its schema is newer than this binary.
pub async fn pending_sql(db: &Database) -> Result<String> {
    let state = State::read(db).await?;
    state.check_not_newer()?;
    if state.is_current() {
        return Ok(String::new());
    }
    let mut out = String::new();
    if state.version.is_none() {
        out.push_str(&format!(
            "-- pgtide's schema and the table that records its migrations.\n{};\n\
             create table if not exists {HISTORY_TABLE} (version int4 primary key, name varchar(255), \
             applied_on varchar(255), checksum varchar(255));\n\n",
            sql::CREATE_SCHEMA.trim()
        ));
    }
    let baseline = baseline();
    let mut applied = state.version;
    if applied.is_some_and(|v| v < squash::BASELINE_VERSION) {
        out.push_str(&format!(
            "-- Migrations 1 to 7 were squashed into {baseline}, which this database already \
             matches.\nbegin;\n{};\ncommit;\n\n",
            with_literals(
                sql::REPLACE_SQUASHED.trim_end(),
                &[
                    &squash::BASELINE_VERSION.to_string(),
                    baseline.name(),
                    &baseline.checksum().to_string(),
                ],
            ),
        ));
        applied = Some(squash::BASELINE_VERSION);
    }
    let mut migrations = embedded::migrations::runner().get_migrations().clone();
    migrations.sort_by_key(|m| m.version());
    let pending: Vec<_> = migrations
        .iter()
        .filter(|m| applied.is_none_or(|v| m.version() > v))
        .collect();
    for m in &pending {
        out.push_str(&format!(
            "-- {m}\nbegin;\n{}\n{}commit;\n\n",
            m.sql().unwrap_or_default().trim_end(),
            history_insert(m),
        ));
    }
    let reapply = !pending.is_empty() || applied != state.version;
    let files = schema_files::pending(&state.files, reapply);
    out.push_str(&format!(
        "-- The files of sql/schema/ that changed.\n{}\nbegin;\n",
        sql::CREATE_SCHEMA_FILES.trim_end()
    ));
    for file in &files {
        out.push_str(&format!(
            "-- sql/schema/{}\n{}\n{};\n\n",
            file.name,
            file.sql.trim_end(),
            with_literals(
                sql::RECORD_SCHEMA_FILE.trim_end(),
                &[file.name, &file.checksum(), env!("CARGO_PKG_VERSION")],
            ),
        ));
    }
    out.push_str("commit;\n");
    Ok(out)
}

/// The row of refinery's history table that marks `m` applied, as refinery writes it.
fn history_insert(m: &refinery::Migration) -> String {
    format!(
        "insert into {HISTORY_TABLE} (version, name, applied_on, checksum)\nvalues ({}, '{}', \
         to_char(now() at time zone 'utc', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '{}');\n",
        m.version(),
        m.name(),
        m.checksum()
    )
}

/// `statement` with its parameters `$1`, `$2`, ... replaced by `values` as quoted literals: the
/// statement `pgtide migrate` runs, in a form another tool can run.
fn with_literals(statement: &str, values: &[&str]) -> String {
    // From the last parameter down, so that `$1` never matches the start of `$10`.
    values
        .iter()
        .enumerate()
        .rev()
        .fold(statement.to_string(), |text, (i, value)| {
            text.replace(
                &format!("${}", i + 1),
                &format!("'{}'", value.replace('\'', "''")),
            )
        })
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

/// The files of `sql/schema/` that [`migrate`] applies, in the order it applies them.
pub fn schema_files() -> &'static [SchemaFile] {
    schema_files::FILES
}

/// A fingerprint of the embedded migrations and schema files (names and checksums). Test harnesses
/// use it to name a template database, so a changed migration or file yields a fresh template
/// instead of a stale one.
pub fn schema_fingerprint() -> u64 {
    let mut hasher = DefaultHasher::new();
    for migration in embedded::migrations::runner().get_migrations() {
        migration.name().hash(&mut hasher);
        migration.version().hash(&mut hasher);
        migration.checksum().hash(&mut hasher);
    }
    for file in schema_files::FILES {
        file.name.hash(&mut hasher);
        file.checksum().hash(&mut hasher);
    }
    hasher.finish()
}
