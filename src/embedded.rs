//! The embedded default: a private Postgres cluster in a directory of its own (`./.pgtide/` for
//! `pgtide run` and `pgtide demo` without a database URL; a temp directory for the test harness).
//!
//! pgtide does not ship Postgres; it uses the server binaries already on the machine, found in this
//! order: `$PGTIDE_PG_BINDIR`, `PATH`, `pg_config --bindir`, `/usr/lib/postgresql/*/bin` (newest
//! first). The cluster listens on 127.0.0.1 only, on a free port, with trust authentication: it is
//! for one user on one machine, never for a network.
//!
//! Postgres refuses to run as root, so when pgtide runs as root the cluster is owned by, and the
//! server runs as, the `postgres` OS user (via `runuser`).
//!
//! A cluster that is already running in the directory (another pgtide, an earlier test process) is
//! reused and left running; one this process started is stopped by [`EmbeddedPostgres::stop`].
//! A file lock serializes processes that start the same directory at once.

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
    /// The `postgres` OS user cannot reach the cluster directory.
    #[error("the postgres OS user cannot write to {dir}: make every parent directory traversable (chmod o+x) or choose a directory elsewhere")]
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
}

impl EmbeddedPostgres {
    /// Starts (creating it if needed) or reuses the cluster in `dir`. Blocking: call it from
    /// `spawn_blocking` inside async code.
    ///
    /// # Errors
    /// [`EmbeddedError`] saying what is missing or which step failed.
    pub fn start(dir: &Path, options: &EmbeddedOptions) -> Result<Self> {
        let bindir = find_bindir().ok_or(EmbeddedError::NoBinaries)?;
        fs::create_dir_all(dir).map_err(|source| EmbeddedError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| EmbeddedError::Io {
            what: "resolving",
            path: dir.to_path_buf(),
            source,
        })?;
        let as_postgres = nix::unistd::geteuid().is_root();
        let _lock = lock(&dir.join("lock"))?;
        let mut cluster = Self {
            dir,
            bindir,
            port: 0,
            as_postgres,
            started_here: false,
            options: options.clone(),
        };
        cluster.init()?;
        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            return Ok(cluster);
        }
        cluster.port = free_port()?;
        cluster.launch(options)?;
        cluster.started_here = true;
        Ok(cluster)
    }

    /// A `postgres://` URL for database `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The psql command that connects to the `postgres` database.
    pub fn psql_command(&self) -> String {
        format!("psql {}", self.url("postgres"))
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
        let port = self.port.to_string();
        self.run_pg(
            "pg_basebackup",
            "pg_basebackup",
            &[
                "-D",
                path_str(&data),
                "-h",
                "127.0.0.1",
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
        self.run_pg(
            "initdb",
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        Ok(())
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
        let mut server_options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
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
