//! The files of `sql/schema/` that `pgtide migrate` applies as they are: functions, triggers, views
//! and grants.
//!
//! Each file holds the one current definition of its objects (`create or replace`), so a reader finds
//! what `pgtide.claim` does today in one place, not in the last migration that touched it. Like
//! Flyway's repeatable migrations, a file is applied again when its checksum changes; the database
//! records the checksums in `pgtide.schema_files`. Tables are not here: a table cannot be replaced
//! without losing its rows, so they change through the migrations.
//!
//! Rules, and why:
//! - **All files after a migration.** A migration may drop a view or a function to change its
//!   shape; applying every file afterwards puts each one back.
//! - **`grants.sql` after any file.** A new function starts closed to PUBLIC only once it runs, and
//!   the roles given a recipe get the recipe as it is now.
//! - **One transaction.** A file that fails leaves every definition as it was.
//! - **Never backwards.** Each row records the pgtide version that applied it; an older pgtide (an
//!   old worker restarted during a rolling deploy) does not put its older definitions back.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// One file of `sql/schema/`.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFile {
    /// Its path below `sql/schema/`, which is also its key in `pgtide.schema_files`.
    pub name: &'static str,
    /// Its text.
    pub sql: &'static str,
}

impl SchemaFile {
    /// SHA-256 of the text, in hex: stable across builds and Rust versions.
    pub fn checksum(&self) -> String {
        format!("{:x}", Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! schema_files {
    ($($name:literal),* $(,)?) => {
        &[$(SchemaFile { name: $name, sql: include_str!(concat!("../../sql/schema/", $name)) }),*]
    };
}

/// The files, in the order they are applied: a function before the triggers and views that use it,
/// `grants.sql` last. Pure functions come first because a table's column default calls one of them.
pub(crate) const FILES: &[SchemaFile] = schema_files![
    "functions/keys.sql",
    "functions/validation.sql",
    "functions/enqueue.sql",
    "functions/fair_claim.sql",
    "functions/claim.sql",
    "functions/executions.sql",
    "functions/tasks.sql",
    "functions/queues.sql",
    "functions/notify.sql",
    "functions/audit.sql",
    "functions/roles.sql",
    "triggers.sql",
    "views.sql",
    "grants.sql",
];

/// The file applied after any other.
const GRANTS: &str = "grants.sql";

/// What the database records of the files: name → (checksum, pgtide version that applied it).
pub(crate) type Recorded = HashMap<String, (String, String)>;

/// Whether the database lacks `file` as this binary has it.
fn changed(recorded: &Recorded, file: &SchemaFile) -> bool {
    recorded
        .get(file.name)
        .is_none_or(|(sum, _)| *sum != file.checksum())
}

/// The names of the files the database lacks as this binary has them.
pub(crate) fn stale(recorded: &Recorded) -> Vec<&'static str> {
    FILES
        .iter()
        .filter(|f| changed(recorded, f))
        .map(|f| f.name)
        .collect()
}

/// The files to apply, in order: all of them when `everything` (a migration ran), otherwise the
/// stale ones, plus `grants.sql` when anything else is applied.
pub(crate) fn pending(recorded: &Recorded, everything: bool) -> Vec<SchemaFile> {
    let apply = |f: &SchemaFile| everything || changed(recorded, f);
    let any = FILES.iter().any(apply);
    FILES
        .iter()
        .filter(|f| apply(f) || (any && f.name == GRANTS))
        .copied()
        .collect()
}

/// The newest pgtide version among the recorded files, when it is newer than this one.
pub(crate) fn newer_writer(recorded: &Recorded) -> Option<&str> {
    recorded
        .values()
        .map(|(_, version)| version.as_str())
        .filter(|v| version_key(v) > version_key(env!("CARGO_PKG_VERSION")))
        .max_by_key(|v| version_key(v))
}

/// A version's numeric parts (`0.10.2` → `[0, 10, 2]`), compared as numbers, not as text.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(['.', '-', '+'])
        .map_while(|part| part.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded_current() -> Recorded {
        FILES
            .iter()
            .map(|f| {
                (
                    f.name.to_string(),
                    (f.checksum(), env!("CARGO_PKG_VERSION").to_string()),
                )
            })
            .collect()
    }

    fn names(files: &[SchemaFile]) -> Vec<&str> {
        files.iter().map(|f| f.name).collect()
    }

    #[test]
    fn a_current_database_needs_nothing_and_a_migration_reapplies_everything() {
        let current = recorded_current();
        assert!(pending(&current, false).is_empty());
        assert_eq!(names(&pending(&current, true)), names(FILES));
        assert_eq!(names(&pending(&Recorded::new(), false)), names(FILES));
    }

    #[test]
    fn a_changed_file_is_applied_with_the_grants_after_it() {
        let mut recorded = recorded_current();
        recorded.get_mut("views.sql").unwrap().0 = "0".into();
        assert_eq!(names(&pending(&recorded, false)), ["views.sql", GRANTS]);
        recorded.get_mut(GRANTS).unwrap().0 = "0".into();
        assert_eq!(names(&pending(&recorded, false)), ["views.sql", GRANTS]);
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_key("0.10.0") > version_key("0.9.9"));
        assert!(version_key("1.0.0-rc.1") > version_key("0.99.0"));
        let mut recorded = recorded_current();
        assert_eq!(newer_writer(&recorded), None);
        recorded.get_mut(GRANTS).unwrap().1 = "999.0.0".into();
        assert_eq!(newer_writer(&recorded), Some("999.0.0"));
    }

    #[test]
    fn every_file_of_the_folder_is_listed_except_the_tables() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/schema");
        let mut on_disk = Vec::new();
        for dir in ["", "functions"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "sql") {
                    let name = path.file_name().unwrap().to_string_lossy();
                    on_disk.push(if dir.is_empty() {
                        name.into_owned()
                    } else {
                        format!("{dir}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = FILES.iter().map(|f| f.name.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }
}
