//! The `shell` handler: runs a configured program with arguments (argv, never through a shell), with
//! the payload JSON on stdin (always, whole) and in `PGTIDE_PAYLOAD` (up to [`PAYLOAD_ENV_MAX`]).
//!
//! The command gets a minimal environment, not the worker's: `PATH`, `HOME`, `LANG`, `LC_*`, `TZ`
//! and `TMPDIR` where the worker has them, the variables named in `pass_env`, the handler's own `env`
//! table, and the `PGTIDE_*` job variables. The worker's environment holds the database URL, the API
//! token and whatever else its host gives it; a command that printed its environment would otherwise
//! put them in its execution's `result`, where every operator reads it. `inherit_env = true` passes
//! everything on, for a command trusted with it.
//!
//! Linux refuses a single environment string over 128 KiB, so a larger payload in `PGTIDE_PAYLOAD`
//! would make every spawn fail. The payload therefore goes into the environment only up to 64 KiB;
//! `PGTIDE_PAYLOAD_BYTES` always says how long it is, and stdin always carries all of it.
//!
//! The program runs in a process group of its own. When the attempt ends for any reason (normal exit,
//! timeout, lost lease, worker shutdown) the whole group is killed, so no grandchild outlives its job.
//! The last 4 KiB of stdout become the result (as JSON if it parses, otherwise a JSON string); a
//! non-zero exit is a retryable failure whose error is the last 4 KiB of stderr.

use std::process::Stdio;

use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::{Handler, HandlerError, HandlerResult, Job, Tail, OUTPUT_TAIL};

/// `kind = "shell"`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellConfig {
    /// argv: the program and its arguments. Never run through a shell.
    pub command: Vec<String>,
    /// Overrides the row's timeout.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<std::time::Duration>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Variables of the worker's own environment to pass on, besides the minimal set (`PATH`,
    /// `HOME`, `LANG`, `LC_*`, `TZ`, `TMPDIR`). Everything else the worker has (`DATABASE_URL`,
    /// `PGTIDE_API_TOKEN`, cloud credentials) stays out of the command's environment.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Pass the worker's whole environment on (secrets included): opt in only for a command that
    /// needs it and that you trust with them.
    #[serde(default)]
    pub inherit_env: bool,
    /// Working directory.
    pub cwd: Option<std::path::PathBuf>,
}

impl ShellConfig {
    /// Checks the settings of one `[handlers.NAME]` table of kind `shell`.
    ///
    /// # Errors
    /// [`crate::config::ConfigError::Invalid`] naming the key within the table.
    pub fn check(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::ConfigError;
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "command",
                format!("{:?}", self.command),
                "[program, args...] with a program",
            ));
        }
        if let Some(timeout) = self.timeout {
            crate::config::positive("timeout", timeout)?;
        }
        if let Some(bad) = self
            .pass_env
            .iter()
            .find(|v| v.is_empty() || v.contains('=') || v.contains('\0'))
        {
            return Err(ConfigError::invalid(
                "pass_env",
                format!("{bad:?}"),
                "environment variable names",
            ));
        }
        Ok(())
    }
}

/// Runs a configured command for each job.
#[derive(Debug, Clone)]
pub struct ShellHandler {
    config: ShellConfig,
}

impl ShellHandler {
    /// A handler for the configured command (validated when the config was loaded: `command` has at
    /// least one element).
    pub fn new(config: ShellConfig) -> Self {
        Self { config }
    }
}

/// The longest payload also given in `PGTIDE_PAYLOAD` (64 KiB); a longer one is on stdin only.
pub const PAYLOAD_ENV_MAX: usize = 64 * 1024;

/// The variables of the worker's environment a command gets without `inherit_env`: the minimal set
/// every program expects, and the ones its handler names in `pass_env`.
fn passed_env(pass_env: &[String]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    const MINIMAL: &[&str] = &["PATH", "HOME", "LANG", "TZ", "TMPDIR"];
    std::env::vars_os()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            MINIMAL.contains(&name.as_ref())
                || name.starts_with("LC_")
                || pass_env.iter().any(|p| *p == name)
        })
        .collect()
}

/// Kills a process group when dropped: the attempt is over, whatever ended it.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // ESRCH (the group is already gone) is the normal case after a clean exit.
            let _ = nix::sys::signal::killpg(pgid, Signal::SIGKILL);
        }
    }
}

async fn read_tail<R: AsyncRead + Unpin>(mut reader: R) -> String {
    let mut tail = Tail::new(OUTPUT_TAIL);
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => tail.push(&buf[..n]),
        }
    }
    tail.into_string()
}

#[async_trait::async_trait]
impl Handler for ShellHandler {
    async fn run(&self, job: &Job) -> HandlerResult {
        let (program, args) = self
            .config
            .command
            .split_first()
            .ok_or_else(|| HandlerError::permanent("shell handler has an empty command"))?;
        let payload = job.payload.to_string();
        let mut command = tokio::process::Command::new(program);
        if !self.config.inherit_env {
            command.env_clear().envs(passed_env(&self.config.pass_env));
        }
        if payload.len() <= PAYLOAD_ENV_MAX {
            command.env("PGTIDE_PAYLOAD", &payload);
        } else {
            command.env_remove("PGTIDE_PAYLOAD");
        }
        command
            .args(args)
            .envs(&self.config.env)
            .env("PGTIDE_PAYLOAD_BYTES", payload.len().to_string())
            .env("PGTIDE_EXECUTION_ID", job.id.to_string())
            .env("PGTIDE_ATTEMPT", job.attempt.to_string())
            .env("PGTIDE_HANDLER", &job.handler)
            .env("PGTIDE_QUEUE", &job.queue)
            .env("PGTIDE_IDEMPOTENCY_KEY", &job.idempotency_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.config.cwd {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| HandlerError::retry(format!("cannot start {program:?}: {e}")))?;
        let _group = GroupGuard(child.id().map(|pid| Pid::from_raw(pid as i32)));

        let stdin = child.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A program that ignores stdin closes the pipe early: that is not an error.
                let _ = stdin.write_all(payload.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let stdout = read_tail(child.stdout.take().expect("stdout is piped"));
        let stderr = read_tail(child.stderr.take().expect("stderr is piped"));
        let wait = async {
            let status = child.wait().await;
            // Background grandchildren may hold the pipes open: end the group so the readers finish.
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            status
        };
        let ((), status, out, err) = tokio::join!(feed, wait, stdout, stderr);
        let status =
            status.map_err(|e| HandlerError::retry(format!("waiting for {program:?}: {e}")))?;

        if status.success() {
            let out = out.trim();
            if out.is_empty() {
                return Ok(None);
            }
            return Ok(Some(
                serde_json::from_str(out).unwrap_or_else(|_| Value::String(out.to_string())),
            ));
        }
        let how = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "abnormal exit".to_string(),
        };
        let err = err.trim();
        Err(HandlerError::retry(if err.is_empty() {
            format!("{program} failed: {how}")
        } else {
            format!("{program} failed: {how}: {err}")
        }))
    }
}
