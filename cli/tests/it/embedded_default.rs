//! The embedded default as a newcomer meets it, through the binary: `pgtide run` without a database
//! URL starts a private cluster that only its owner can use (a Unix socket in a 0700 directory; TCP
//! only with the generated password, kept in a 0600 file), and prints a psql line that works when
//! pasted. As root in a 0700 home, the cluster lives where the server's OS user can reach it, and
//! pgtide says where.

use crate::common;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_pgtide");

/// `pgtide run` in `cwd` on the embedded default, until it logs that the worker started; returns
/// the process and its stderr so far.
async fn run_in(cwd: &Path) -> (common::Process, String) {
    let log = cwd.join("run.log");
    let child = Command::new(BIN)
        .arg("run")
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let process = common::Process { child, log };
    common::wait_until(Duration::from_secs(60), "pgtide run to start", || {
        let text = process.log_text();
        async move { text.contains("worker started") }
    })
    .await;
    let text = process.log_text();
    (process, text)
}

/// The psql line pgtide printed, run with `-Atc <sql>` as `user` (None: this user).
fn paste(line: &str, sql: &str, user: Option<&str>) -> std::process::Output {
    let command = format!("{line} -Atc \"{sql}\"");
    let mut sh = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--", "sh", "-c", &command]);
            c
        }
        None => {
            let mut c = Command::new("sh");
            c.args(["-c", &command]);
            c
        }
    };
    sh.current_dir("/").output().unwrap()
}

fn psql_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.trim_start().starts_with("psql "))
        .unwrap_or_else(|| panic!("no psql line in:\n{stderr}"))
        .trim()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn have_psql() -> bool {
    Command::new("psql").arg("--version").output().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_owner_can_use_the_embedded_cluster_and_the_printed_psql_line_works() {
    if !common::tool_available(
        "the embedded cluster's psql line",
        "psql",
        have_psql(),
        "Debian/Ubuntu: apt-get install postgresql-client",
    ) {
        return;
    }
    let cwd = std::env::temp_dir().join(format!("pgtide-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::set_permissions(&cwd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (mut run, stderr) = run_in(&cwd).await;
    let line = psql_line(&stderr);

    // Pasted as printed, the line connects.
    let out = paste(&line, "select current_user", None);
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "postgres");

    // The socket's directory is private and the password file is the owner's alone.
    let cluster = cwd.join(".pgtide").canonicalize().unwrap();
    assert_eq!(mode(&cluster.join("socket")), 0o700);
    assert_eq!(mode(&cluster.join("password")), 0o600);
    let password = std::fs::read_to_string(cluster.join("password")).unwrap();

    // TCP needs the password: a wrong one is refused by the server, the right one lets you in.
    let port: u16 = line
        .split("port=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("a port in the psql line");
    let wrong = format!("postgres://postgres:guess@127.0.0.1:{port}/postgres?sslmode=disable");
    let refused = tokio_postgres::connect(&wrong, tokio_postgres::NoTls)
        .await
        .err()
        .expect("TCP with a wrong password must be refused");
    assert!(
        refused
            .as_db_error()
            .is_some_and(|db| db.message().contains("password authentication failed")),
        "{refused:?}"
    );
    let with = format!(
        "postgres://postgres:{}@127.0.0.1:{port}/postgres?sslmode=disable",
        password.trim()
    );
    assert!(tokio_postgres::connect(&with, tokio_postgres::NoTls)
        .await
        .is_ok());

    // Another local user cannot use the socket (only root and the server's OS user can enter it).
    if nix::unistd::geteuid().is_root() {
        let out = paste(&line, "select 1", Some("nobody"));
        assert!(
            !out.status.success(),
            "nobody connected to the embedded cluster"
        );
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(why.contains("Permission denied"), "{why}");
    } else {
        println!("(as a non-root user, the other-user check needs root to switch users; skipped)");
    }
    assert!(run.terminate());
    let _ = std::fs::remove_dir_all(&cwd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_in_a_private_home_the_cluster_lives_where_postgres_can_reach_it() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: this is about running as root (CI runs it as root)");
        return;
    }
    // A home like root's: mode 0700, and a project folder inside it.
    let home = std::env::temp_dir().join(format!("pgtide-root-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();

    let (mut run, stderr) = run_in(&app).await;
    assert!(
        stderr.contains(&format!(
            "The postgres OS user cannot reach {}, so the cluster lives in /var/lib/pgtide/app-",
            app.display()
        )),
        "{stderr}"
    );
    let link = app.join(".pgtide");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let target: PathBuf = std::fs::read_link(&link).unwrap();
    assert!(
        target.starts_with("/var/lib/pgtide/"),
        "{}",
        target.display()
    );
    if have_psql() {
        let out = paste(
            &psql_line(&stderr),
            "select count(*) from pgtide.workers",
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }
    assert!(run.terminate());

    // A second start finds the same cluster through the link.
    let (mut again, stderr) = run_in(&app).await;
    assert!(stderr.contains(&target.display().to_string()), "{stderr}");
    assert!(again.terminate());
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&target);
}
