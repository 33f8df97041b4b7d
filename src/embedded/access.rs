//! Who can reach the embedded cluster, and where it lives.
//!
//! A cluster that trusted every TCP connection on 127.0.0.1 would make anyone with a shell on the
//! host its superuser. So:
//! - pgtide connects over a Unix socket in a directory only the server's OS user (and root) can
//!   enter (mode 0700), with trust authentication: the directory is the lock;
//! - TCP on 127.0.0.1 stays open for tools that need it, with SCRAM authentication and a password
//!   generated at `initdb`, kept in `<cluster>/password` (mode 0600);
//! - `pg_hba.conf` says exactly that, and is written again before every start.
//!
//! Running as root, the server runs as the `postgres` OS user, which must reach the cluster. Root's
//! home is often mode 0700 (containers, fresh cloud machines), so a cluster asked for there lives in
//! `/var/lib/pgtide/<name>-<hash>` instead, with a symbolic link at the place asked for.

use std::{
    fs,
    hash::{Hash, Hasher},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use super::{EmbeddedError, Result};

/// `pg_hba.conf`: trust on the private socket, SCRAM over TCP, replication likewise.
pub(super) const PG_HBA: &str = "\
# Written by pgtide before every start of this embedded cluster.
# The Unix socket sits in a directory only the server's OS user (and root) can enter: trust there.
local   all             all                                     trust
local   replication     all                                     trust
# TCP on 127.0.0.1 needs the generated password (in the cluster directory's `password` file).
host    all             all             127.0.0.1/32            scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
";

/// The longest socket directory path that leaves room for `/.s.PGSQL.NNNNN` within the 107 bytes
/// a Unix socket path may have.
const MAX_SOCKET_DIR: usize = 90;

/// Where the server puts its Unix socket: `<cluster>/socket`, or, when that path is too long for a
/// socket, a private directory in `/tmp` named after the cluster.
pub(super) fn socket_dir(cluster: &Path) -> PathBuf {
    let inside = cluster.join("socket");
    if inside.as_os_str().len() <= MAX_SOCKET_DIR {
        return inside;
    }
    PathBuf::from(format!("/tmp/pgtide-socket-{:016x}", digest(cluster)))
}

/// A fresh password for the cluster's superuser: 32 letters and digits.
pub(super) fn generate_password() -> String {
    use rand::{distr::Alphanumeric, Rng};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Writes `text` to `path` readable by its owner only (0600), owned by `owner` when given.
pub(super) fn write_private(
    path: &Path,
    text: &str,
    owner: Option<&nix::unistd::User>,
) -> Result<()> {
    let io = |source| EmbeddedError::Io {
        what: "writing",
        path: path.to_path_buf(),
        source,
    };
    // Created with 0600 from the start, so the secret is never readable by others, even briefly.
    let _ = fs::remove_file(path);
    {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
    }
    if let Some(user) = owner {
        nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|e| io(e.into()))?;
    }
    Ok(())
}

/// Makes `dir` (creating it) a directory only `owner` (or, without one, this user) can enter.
pub(super) fn private_dir(dir: &Path, owner: Option<&nix::unistd::User>) -> Result<()> {
    let io = |source| EmbeddedError::Io {
        what: "creating",
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    if let Some(user) = owner {
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid)).map_err(|e| io(e.into()))?;
    }
    Ok(())
}

/// Whether the `postgres` OS user can reach `dir` (search permission on every directory above it).
pub(super) fn reachable_by_postgres(dir: &Path) -> bool {
    let Some(parent) = dir.parent() else {
        return true;
    };
    matches!(
        Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-x"])
            .arg(parent)
            .status(),
        Ok(status) if status.success()
    )
}

/// Where a cluster asked for at `dir` lives when the `postgres` OS user cannot reach `dir`:
/// `/var/lib/pgtide/<parent's name>-<hash of dir>`, the same place every time.
pub(super) fn relocated(dir: &Path) -> PathBuf {
    let name = dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "root".to_string());
    PathBuf::from("/var/lib/pgtide").join(format!("{name}-{:08x}", digest(dir) as u32))
}

fn digest(path: &Path) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_path_always_fits() {
        assert_eq!(
            socket_dir(Path::new("/home/ada/app/.pgtide")),
            Path::new("/home/ada/app/.pgtide/socket")
        );
        let deep = PathBuf::from(format!(
            "/home/ada/{}/.pgtide",
            "very-long-folder/".repeat(8)
        ));
        let dir = socket_dir(&deep);
        assert!(
            dir.to_string_lossy().starts_with("/tmp/pgtide-socket-"),
            "{}",
            dir.display()
        );
        assert_eq!(dir, socket_dir(&deep), "the same cluster, the same socket");
        assert!(dir.join(".s.PGSQL.65535").as_os_str().len() < 107);
    }

    #[test]
    fn relocation_is_stable_and_named_after_the_project() {
        let dir = Path::new("/root/app/.pgtide");
        let home = relocated(dir);
        assert!(
            home.to_string_lossy().starts_with("/var/lib/pgtide/app-"),
            "{}",
            home.display()
        );
        assert_eq!(home, relocated(dir));
        assert_ne!(home, relocated(Path::new("/root/other/.pgtide")));
    }
}
