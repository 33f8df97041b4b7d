//! Rebuilds the library when a migration is added or changed: `refinery::embed_migrations!` reads
//! `sql/migrations/` while the crate compiles, and cargo tracks only the files a macro names itself.

fn main() {
    println!("cargo:rerun-if-changed=sql/migrations");
}
