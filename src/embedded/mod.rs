//! The embedded default: a private Postgres cluster in a directory of its own (`./.pgtide/` for
//! `pgtide run` and `pgtide demo` without a database URL; a temp directory for the test harness).
//!
//! pgtide does not ship Postgres; it uses the server binaries already on the machine, found in this
//! order: `$PGTIDE_PG_BINDIR`, `PATH`, `pg_config --bindir`, `/usr/lib/postgresql/*/bin` (newest
//! first). pgtide reaches the cluster over a Unix socket in a private directory; TCP on 127.0.0.1
//! needs a generated password (the `access` module says who may connect, and why).
//!
//! Postgres refuses to run as root, so when pgtide runs as root the cluster is owned by, and the
//! server runs as, the `postgres` OS user (via `runuser`); a cluster asked for where that user cannot
//! reach lives in `/var/lib/pgtide/` instead, linked from where it was asked for.
//!
//! A cluster that is already running in the directory (another pgtide, an earlier test process) is
//! reused and left running; one this process started is stopped by [`EmbeddedPostgres::stop`].
//! A file lock serializes processes that start the same directory at once.

mod access;

use std::{
    fs,
    io::Write,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

/// Why the embedded cluster could not be had.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No Postgres server binaries were found.
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl in $PGTIDE_PG_BINDIR, PATH, \
         `pg_config --bindir` and /usr/lib/postgresql/*/bin). Install PostgreSQL (Debian/Ubuntu: \
         `apt-get install postgresql`; macOS: `brew install postgresql`), or pass --database-url / set \
         DATABASE_URL to use an existing server"
    )]
    NoBinaries,
    /// Running as root, but there is no `postgres` OS user to run the server as.
    #[error("running as root, and Postgres refuses to run as root; create a `postgres` OS user (installing the postgresql package does) or run pgtide as an ordinary user")]
    NoPostgresUser,
    /// The `postgres` OS user cannot reach the cluster directory, and it cannot be moved.
    #[error("the postgres OS user cannot reach {dir}, and it already holds files, so pgtide cannot keep the cluster elsewhere: move them away, or make every parent directory traversable (chmod o+x)")]
    NotAccessible {
        /// The cluster directory.
        dir: PathBuf,
    },
    /// A step (initdb, pg_ctl start, ...) failed.
    #[error("{step} failed: {detail}")]
    Step {
        /// What was being done.
        step: String,
        /// Its output or error.
        detail: String,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, EmbeddedError>;

/// Options for the embedded cluster.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Extra `-c name=value` server settings (the test harness turns fsync off, for example).
    pub settings: Vec<(String, String)>,
}

/// A running embedded cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    dir: PathBuf,
    bindir: PathBuf,
    port: u16,
    as_postgres: bool,
    started_here: bool,
    /// The settings this process started the server with, to start it again the same way.
    options: EmbeddedOptions,
    /// The superuser's password, for TCP connections.
    password: String,
    /// Where the cluster was asked for, when it lives elsewhere (root, and a directory the server's
    /// OS user cannot reach).
    asked_for: Option<PathBuf>,
}

impl EmbeddedPostgres {
    /// Starts (creating it if needed) or reuses the cluster in `dir`. Blocking: call it from
    /// `spawn_blocking` inside async code.
    ///
    /// # Errors
    /// [`EmbeddedError`] saying what is missing or which step failed.
    pub fn start(dir: &Path, options: &EmbeddedOptions) -> Result<Self> {
        let bindir = find_bindir().ok_or(EmbeddedError::NoBinaries)?;
        let as_postgres = nix::unistd::geteuid().is_root();
        let asked = std::path::absolute(dir).map_err(|source| EmbeddedError::Io {
            what: "resolving",
            path: dir.to_path_buf(),
            source,
        })?;
        let (dir, asked_for) = if as_postgres {
            place_for_postgres(&asked)?
        } else {
            (asked, None)
        };
        fs::create_dir_all(&dir).map_err(|source| EmbeddedError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| EmbeddedError::Io {
            what: "resolving",
            path: dir.to_path_buf(),
            source,
        })?;
        let _lock = lock(&dir.join("lock"))?;
        let mut cluster = Self {
            dir,
            bindir,
            port: 0,
            as_postgres,
            started_here: false,
            options: options.clone(),
            password: String::new(),
            asked_for,
        };
        cluster.init()?;
        if let Some(port) = cluster.running_port() {
            if !cluster.password_file().exists() {
                return Err(EmbeddedError::Step {
                    step: "reusing the running cluster".into(),
                    detail: format!(
                        "it was started by an earlier pgtide, which let every local user in over \
                         TCP; stop it (pg_ctl stop -D {}) and start pgtide again, which secures it",
                        cluster.data_dir().display()
                    ),
                });
            }
            cluster.port = port;
            cluster.password = cluster.read_password()?;
            return Ok(cluster);
        }
        cluster.password = cluster.ensure_password()?;
        cluster.port = free_port()?;
        cluster.launch(options)?;
        cluster.started_here = true;
        Ok(cluster)
    }

    /// A `postgres://` URL for database `database` on this cluster, over its private Unix socket.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@{}:{}/{database}",
            percent_encode(&access::socket_dir(&self.dir).to_string_lossy()),
            self.port
        )
    }

    /// A `postgres://` URL over TCP on 127.0.0.1, with the generated password: for tools that
    /// cannot use a Unix socket (and for proxies and poolers in front of the cluster).
    pub fn tcp_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The psql command that connects to the `postgres` database (over the private socket, so it
    /// works when pasted by the same OS user, or by root).
    pub fn psql_command(&self) -> String {
        let dir = access::socket_dir(&self.dir).to_string_lossy().into_owned();
        let host = if dir.contains([' ', '\'', '"', '\\', '$', '`']) {
            format!("'{}'", dir.replace('\\', "\\\\").replace('\'', "\\'"))
        } else {
            dir
        };
        format!(
            "psql \"host={host} port={} user=postgres dbname=postgres\"",
            self.port
        )
    }

    /// The directory the cluster lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the cluster was asked for, when it lives elsewhere: running as root, a directory the
    /// `postgres` OS user cannot reach gets a symbolic link to [`EmbeddedPostgres::dir`].
    pub fn asked_for(&self) -> Option<&Path> {
        self.asked_for.as_deref()
    }

    /// The port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this process started the cluster (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the cluster if this process started it. Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError::Step`] when `pg_ctl stop` fails.
    pub fn stop(self) -> Result<()> {
        if !self.started_here {
            return Ok(());
        }
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl stop",
            "pg_ctl",
            &["stop", "-D", path_str(&data), "-m", "fast", "-w"],
        )?;
        Ok(())
    }

    /// Crash-restarts the cluster: `pg_ctl restart -m immediate`, which cuts every session without a
    /// checkpoint, then starts again through crash recovery with the same settings and port. The
    /// reliability tests use it to show that pgtide rides out a database crash. Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError::Step`] when `pg_ctl restart` fails.
    pub fn restart_immediate(&self) -> Result<()> {
        let data = self.data_dir();
        let log = data.join("server.log");
        self.run_pg(
            "pg_ctl restart",
            "pg_ctl",
            &[
                "restart",
                "-D",
                path_str(&data),
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "-l",
                path_str(&log),
            ],
        )
    }

    /// Stops the server the way a crash would (`pg_ctl stop -m immediate`): every session is cut, and
    /// nothing is checkpointed. The failover tests use it to kill a primary. Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError::Step`] when `pg_ctl stop` fails.
    pub fn stop_immediate(&self) -> Result<()> {
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl stop",
            "pg_ctl",
            &["stop", "-D", path_str(&data), "-m", "immediate", "-w"],
        )
    }

    /// Makes a streaming standby of this cluster in `dir` (`pg_basebackup -R`, which writes the
    /// connection to this server and `standby.signal`), ready for [`EmbeddedPostgres::start`].
    /// Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError`] when the directory cannot be made or `pg_basebackup` fails.
    pub fn base_backup(&self, dir: &Path) -> Result<()> {
        let data = dir.join("data");
        fs::create_dir_all(&data).map_err(|source| EmbeddedError::Io {
            what: "creating",
            path: data.clone(),
            source,
        })?;
        if self.as_postgres {
            give_to_postgres(&[dir, &data])?;
        }
        let mode = fs::Permissions::from_mode(0o700);
        fs::set_permissions(&data, mode).map_err(|source| EmbeddedError::Io {
            what: "chmod 0700",
            path: data.clone(),
            source,
        })?;
        // The standby's password is the primary's (pg_authid is copied), and so is its file.
        let password = self.read_password()?;
        access::write_private(&dir.join("password"), &password, None)?;
        let port = self.port.to_string();
        let socket = access::socket_dir(&self.dir);
        self.run_pg(
            "pg_basebackup",
            "pg_basebackup",
            &[
                "-D",
                path_str(&data),
                "-h",
                path_str(&socket),
                "-p",
                &port,
                "-U",
                "postgres",
                "-X",
                "stream",
                "-R",
                "-c",
                "fast",
            ],
        )
    }

    /// Promotes a standby to a primary (`pg_ctl promote -w`). Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError::Step`] when `pg_ctl promote` fails.
    pub fn promote(&self) -> Result<()> {
        let data = self.data_dir();
        self.run_pg(
            "pg_ctl promote",
            "pg_ctl",
            &["promote", "-D", path_str(&data), "-w", "-t", "60"],
        )
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir().join("server.log")
    }

    /// Crashes the server (`pg_ctl stop -m immediate`), keeps it down for `down`, and starts it
    /// again on the same port through crash recovery: a database that is away for a while, as in a
    /// host reboot. Blocking.
    ///
    /// # Errors
    /// [`EmbeddedError::Step`] when `pg_ctl` fails.
    pub fn crash_for(&self, down: std::time::Duration) -> Result<()> {
        self.stop_immediate()?;
        std::thread::sleep(down);
        self.launch(&self.options)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&self) -> Result<()> {
        let data = self.data_dir();
        if data.join("PG_VERSION").exists() {
            return Ok(());
        }
        fs::create_dir_all(&data).map_err(|source| EmbeddedError::Io {
            what: "creating",
            path: data.clone(),
            source,
        })?;
        let server_user = self.server_user()?;
        if self.as_postgres {
            give_to_postgres(&[&self.dir, &data])?;
            let probe = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(&data)
                .status();
            if !matches!(probe, Ok(s) if s.success()) {
                return Err(EmbeddedError::NotAccessible {
                    dir: self.dir.clone(),
                });
            }
        }
        let password = access::generate_password();
        // initdb reads the superuser's password from a file; only the server's OS user may read it,
        // and it is gone once initdb is done.
        let pwfile = self.dir.join("initdb-password");
        access::write_private(&pwfile, &password, server_user.as_ref())?;
        let initdb = self.run_pg(
            "initdb",
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &format!("--pwfile={}", path_str(&pwfile)),
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        );
        let _ = fs::remove_file(&pwfile);
        initdb?;
        access::write_private(&self.password_file(), &password, None)?;
        Ok(())
    }

    /// The `password` file, for TCP connections.
    fn password_file(&self) -> PathBuf {
        self.dir.join("password")
    }

    fn read_password(&self) -> Result<String> {
        fs::read_to_string(self.password_file())
            .map(|p| p.trim().to_string())
            .map_err(|source| EmbeddedError::Io {
                what: "reading",
                path: self.password_file(),
                source,
            })
    }

    /// The password, setting one first on a cluster made by an earlier pgtide (which trusted TCP):
    /// in single-user mode, so the server need not be up.
    fn ensure_password(&self) -> Result<String> {
        if self.password_file().exists() {
            return self.read_password();
        }
        let password = access::generate_password();
        let data = self.data_dir();
        let mut single = self
            .command("postgres", &["--single", "-D", path_str(&data), "postgres"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| EmbeddedError::Step {
                step: "setting the superuser's password".into(),
                detail: e.to_string(),
            })?;
        if let Some(mut stdin) = single.stdin.take() {
            writeln!(stdin, "alter role postgres password '{password}';").map_err(|source| {
                EmbeddedError::Io {
                    what: "writing to postgres --single in",
                    path: data.clone(),
                    source,
                }
            })?;
        }
        let output = single.wait_with_output().map_err(|e| EmbeddedError::Step {
            step: "setting the superuser's password".into(),
            detail: e.to_string(),
        })?;
        if !output.status.success() {
            return Err(EmbeddedError::Step {
                step: "setting the superuser's password".into(),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        access::write_private(&self.password_file(), &password, None)?;
        Ok(password)
    }

    /// The OS user the server runs as, when that is not this process's (running as root).
    fn server_user(&self) -> Result<Option<nix::unistd::User>> {
        if !self.as_postgres {
            return Ok(None);
        }
        nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .map(Some)
            .ok_or(EmbeddedError::NoPostgresUser)
    }

    /// The port of a server already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let data = self.data_dir();
        let status = self
            .command("pg_ctl", &["status", "-D", path_str(&data)])
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid: line 4 is the port.
        let pid_file = fs::read_to_string(data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn launch(&self, options: &EmbeddedOptions) -> Result<()> {
        let data = self.data_dir();
        let server_user = self.server_user()?;
        access::write_private(
            &data.join("pg_hba.conf"),
            access::PG_HBA,
            server_user.as_ref(),
        )?;
        let socket = access::socket_dir(&self.dir);
        access::private_dir(&socket, server_user.as_ref())?;
        let mut server_options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' \
             -c unix_socket_permissions=0700",
            self.port,
            socket.to_string_lossy().replace('\'', "'\\''")
        );
        for (name, value) in &options.settings {
            server_options.push_str(&format!(" -c {name}={value}"));
        }
        let log = data.join("server.log");
        self.run_pg(
            "pg_ctl start",
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&data),
                "-w",
                "-t",
                "60",
                "-l",
                path_str(&log),
                "-o",
                &server_options,
            ],
        )
        .map_err(|e| match e {
            EmbeddedError::Step { step, detail } => EmbeddedError::Step {
                step,
                detail: format!("{detail}\n{}", tail_of(&log)),
            },
            other => other,
        })
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let binary = self.bindir.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        };
        command.args(args).current_dir(&self.dir);
        command
    }

    fn run_pg(&self, step: &str, program: &str, args: &[&str]) -> Result<()> {
        let output = self
            .command(program, args)
            .output()
            .map_err(|e| EmbeddedError::Step {
                step: step.into(),
                detail: e.to_string(),
            })?;
        if output.status.success() {
            return Ok(());
        }
        Err(EmbeddedError::Step {
            step: step.into(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
            .trim()
            .to_string(),
        })
    }
}

/// Where a cluster asked for at `asked` lives when the server runs as the `postgres` OS user: there,
/// if that user can reach it; otherwise in `/var/lib/pgtide/`, with a symbolic link at `asked`.
/// Returns the place and, when it moved, where it was asked for.
fn place_for_postgres(asked: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbeddedError::Io { what, path, source }
    };
    if let Ok(real) = asked.canonicalize() {
        if access::reachable_by_postgres(&real) {
            let moved = (real != asked).then(|| asked.to_path_buf());
            return Ok((real, moved));
        }
        // An empty directory (an earlier attempt made it) can give way to the link.
        let empty = fs::read_dir(&real)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(EmbeddedError::NotAccessible {
                dir: asked.to_path_buf(),
            });
        }
        fs::remove_dir(&real).map_err(io("removing", &real))?;
    } else if access::reachable_by_postgres(asked) {
        return Ok((asked.to_path_buf(), None));
    }
    let home = access::relocated(asked);
    let parent = home.parent().expect("/var/lib/pgtide");
    fs::create_dir_all(parent).map_err(io("creating", parent))?;
    fs::set_permissions(parent, fs::Permissions::from_mode(0o755))
        .map_err(io("chmod 0755", parent))?;
    fs::create_dir_all(&home).map_err(io("creating", &home))?;
    if let Some(link_parent) = asked.parent() {
        fs::create_dir_all(link_parent).map_err(io("creating", link_parent))?;
    }
    std::os::unix::fs::symlink(&home, asked).map_err(io("linking", asked))?;
    Ok((home, Some(asked.to_path_buf())))
}

/// `text` with every byte but letters, digits and `-._~` percent-encoded, for a URL's host.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Makes the `postgres` OS user the owner of `paths` (the server runs as it when pgtide runs as root).
fn give_to_postgres(paths: &[&Path]) -> Result<()> {
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .ok_or(EmbeddedError::NoPostgresUser)?;
    for path in paths {
        nix::unistd::chown(*path, Some(user.uid), Some(user.gid)).map_err(|e| {
            EmbeddedError::Io {
                what: "chown postgres",
                path: path.to_path_buf(),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn tail_of(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| EmbeddedError::Io {
        what: "finding a free port on",
        path: "127.0.0.1".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| EmbeddedError::Io {
            what: "finding a free port on",
            path: "127.0.0.1".into(),
            source,
        })
}

/// An exclusive lock on `path`, released when dropped.
fn lock(path: &Path) -> Result<nix::fcntl::Flock<fs::File>> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| EmbeddedError::Io {
            what: "opening lock file",
            path: path.to_path_buf(),
            source,
        })?;
    let _ = writeln!(file);
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| {
        EmbeddedError::Io {
            what: "locking",
            path: path.to_path_buf(),
            source: errno.into(),
        }
    })
}

/// Finds a directory holding both `initdb` and `pg_ctl`.
pub fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PGTIDE_PG_BINDIR").map(PathBuf::from) {
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d)) {
            // Follow a symlinked initdb (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
            // to the real bin directory, where pg_ctl finds the matching postgres binary.
            let real = dir.join("initdb").canonicalize().ok();
            return Some(
                real.and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| has_tools(d))
                    .unwrap_or(dir),
            );
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_tools(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}
