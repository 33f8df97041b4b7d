//! TLS against a server that accepts TLS only (`hostssl ... trust`, `hostnossl ... reject`), with
//! certificates made here: every `sslmode` as libpq means it, root certificates, host names and IP
//! addresses, client certificates under `cert` authentication, SCRAM channel binding, clear errors
//! for bad settings before anything starts, and a whole `pgtide run` (with its CLI, HTTP API,
//! pooler-mode worker and `pgtide bench`) over `verify-full`.

use crate::common;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{free_port, stop_cluster, tls::tls_only_cluster};
use pgtide::Database;

const BIN: &str = env!("CARGO_BIN_EXE_pgtide");

/// Connects with `url` and says whether the session is encrypted and who it is, or why it failed.
async fn session(url: &str) -> Result<(bool, String), String> {
    let db = Database::connect(url, 1).map_err(|e| e.to_string())?;
    let client = db.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "select ssl, current_user::text from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((row.get(0), row.get(1)))
}

async fn refused(url: &str) -> String {
    match session(url).await {
        Ok(s) => panic!("{url} connected ({s:?}) but must be refused"),
        Err(e) => {
            println!("refused as expected: {e}");
            e
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_behaves_as_in_libpq_against_a_tls_only_server() {
    let (cluster, port, pki, dir) = tls_only_cluster("tls-modes").await;
    let ca = pki.ca.display().to_string();
    let other_ca = pki.other_ca.display().to_string();
    let at =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    let encrypted = (true, "postgres".to_string());

    // require: TLS, no certificate check.
    assert_eq!(
        session(&at("127.0.0.1", "sslmode=require")).await.unwrap(),
        encrypted
    );
    // prefer (also the default) and allow: TLS, since the server offers it or refuses plain text.
    assert_eq!(session(&at("127.0.0.1", "")).await.unwrap(), encrypted);
    assert_eq!(
        session(&at("127.0.0.1", "sslmode=prefer")).await.unwrap(),
        encrypted
    );
    assert_eq!(
        session(&at("127.0.0.1", "sslmode=allow")).await.unwrap(),
        encrypted
    );

    // disable: refused, and the error carries the server's own reason.
    let e = refused(&at("127.0.0.1", "sslmode=disable")).await;
    assert!(
        e.contains("pg_hba.conf rejects connection for host \"127.0.0.1\"")
            && e.contains("no encryption"),
        "{e}"
    );

    // verify-full: the right CA and the name in the certificate connect.
    let full = |host: &str, ca: &str| at(host, &format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_eq!(session(&full("localhost", &ca)).await.unwrap(), encrypted);
    // ... a CA that did not sign the server's certificate is refused, naming the chain and the file.
    let e = refused(&full("localhost", &other_ca)).await;
    assert!(
        e.contains("certificate chain does not end in a CA of sslrootcert=")
            && e.contains(&other_ca),
        "{e}"
    );
    // ... and so is an address the certificate does not name (it names DNS:localhost only).
    let e = refused(&full("127.0.0.1", &ca)).await;
    assert!(
        e.contains("not valid for host name \"127.0.0.1\" (it names localhost)"),
        "{e}"
    );

    // verify-ca: the chain only, so 127.0.0.1 is fine with the right CA, and a wrong CA is not.
    let chain = |host: &str, ca: &str| at(host, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    assert_eq!(session(&chain("127.0.0.1", &ca)).await.unwrap(), encrypted);
    let e = refused(&chain("127.0.0.1", &other_ca)).await;
    assert!(e.contains("unknown issuer"), "{e}");
    // require with a given sslrootcert checks the chain too, as in libpq.
    let e = refused(&at(
        "127.0.0.1",
        &format!("sslmode=require&sslrootcert={other_ca}"),
    ))
    .await;
    assert!(e.contains("unknown issuer"), "{e}");

    // The key=value form reads the same parameters.
    let kv = format!(
        "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert='{ca}'"
    );
    assert_eq!(session(&kv).await.unwrap(), encrypted);

    // A client certificate logs in under `cert` authentication; without one the server says why.
    let cert_url = format!(
        "postgres://certuser@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}\
         &sslcert={}&sslkey={}",
        pki.client_cert.display(),
        pki.client_key.display()
    );
    assert_eq!(
        session(&cert_url).await.unwrap(),
        (true, "certuser".to_string())
    );
    let e = refused(&format!(
        "postgres://certuser@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
    ))
    .await;
    assert!(
        e.contains("connection requires a valid client certificate"),
        "{e}"
    );

    // SCRAM with channel binding required (what Neon's connection strings ask for) works over
    // pgtide's TLS, which exports the server certificate's hash.
    let scram = format!(
        "postgres://scramuser:scram-secret@127.0.0.1:{port}/postgres?sslmode=require&channel_binding=require"
    );
    assert_eq!(
        session(&scram).await.unwrap(),
        (true, "scramuser".to_string())
    );

    // The library takes a rustls configuration of the caller's instead of the string's files.
    let mut roots = pgtide::rustls::RootCertStore::empty();
    let pem = std::fs::read(&pki.ca).unwrap();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let own = pgtide::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        pgtide::db::tls::crypto_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let db = Database::builder(at("localhost", "sslmode=require"))
        .tls_config(own.clone())
        .build()
        .unwrap();
    let ssl: bool = db
        .client()
        .await
        .unwrap()
        .query_one(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
    // ... and its verifier decides: it checks the host name, so 127.0.0.1 is refused.
    let db = Database::builder(at("127.0.0.1", "sslmode=require"))
        .tls_config(own)
        .build()
        .unwrap();
    let e = db.client().await.unwrap_err().to_string();
    assert!(e.contains("not valid for host name \"127.0.0.1\""), "{e}");

    // Several hosts: a dead one is skipped, and the error of a string whose every host fails
    // names each of them.
    let dead = free_port();
    let multi = format!(
        "postgres://postgres@127.0.0.1:{dead},localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}"
    );
    assert_eq!(session(&multi).await.unwrap(), encrypted);
    let e = refused(&format!(
        "postgres://postgres@127.0.0.1:{dead},127.0.0.1:{port}/postgres?sslmode=disable"
    ))
    .await;
    assert!(
        e.contains(&format!("127.0.0.1:{dead} (plain): "))
            && e.contains(&format!("127.0.0.1:{port} (plain): "))
            && e.contains("no encryption"),
        "{e}"
    );

    stop_cluster(cluster, &[&dir, &pki.dir]).await;
}

/// The certificates of a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Vec<pgtide::rustls::pki_types::CertificateDer<'static>> {
    use pgtide::rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::pem_slice_iter(pem)
        .map(Result::unwrap)
        .collect()
}

/// `pgtide migrate` with `url`: must fail at once, with one line on stderr that never shows the
/// password.
fn fails_at_start(url: &str) -> String {
    let started = Instant::now();
    let output = Command::new(BIN)
        .args(["migrate", "--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{url} was accepted");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{url} took {:?} to fail",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "more than one line:\n{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
    stderr.trim_end().to_string()
}

#[test]
fn bad_tls_settings_fail_before_anything_starts_naming_the_parameter_and_the_file() {
    let dir = std::env::temp_dir().join(format!("pgtide-tls-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = common::tls::Pki::generate(&dir);
    // Nothing listens here: a connection attempt would fail differently (and later).
    let base = format!("postgres://app:s3cret@localhost:{}/app", free_port());

    assert_eq!(
        fails_at_start(&format!("{base}?sslmode=verify_full")),
        "error: invalid sslmode \"verify_full\": expected disable, allow, prefer, require, verify-ca \
         or verify-full"
    );
    let missing = dir.join("missing-ca.pem");
    assert_eq!(
        fails_at_start(&format!(
            "{base}?sslmode=verify-full&sslrootcert={}",
            missing.display()
        )),
        format!(
            "error: invalid sslrootcert \"{}\": expected a readable PEM file (it does not exist)",
            missing.display()
        )
    );
    let not_pem = dir.join("ca.der");
    std::fs::write(&not_pem, [0x30, 0x82, 0x01, 0x0a, 0x02, 0x82]).unwrap();
    let e = fails_at_start(&format!(
        "{base}?sslmode=verify-ca&sslrootcert={}",
        not_pem.display()
    ));
    assert!(
        e.starts_with(&format!(
            "error: invalid sslrootcert \"{}\": expected a PEM file",
            not_pem.display()
        )),
        "{e}"
    );
    let e = fails_at_start(&format!(
        "{base}?sslmode=require&sslcert={}&sslkey={}",
        pki.client_cert.display(),
        pki.stray_key.display()
    ));
    assert!(
        e.starts_with(&format!(
            "error: invalid sslkey \"{}\"",
            pki.stray_key.display()
        )) && e.contains("this key does not match that certificate"),
        "{e}"
    );
    let missing_cert = dir.join("nobody.crt");
    assert_eq!(
        fails_at_start(&format!("{base}?sslcert={}", missing_cert.display())),
        format!(
            "error: invalid sslcert \"{}\": expected a readable PEM file (it does not exist)",
            missing_cert.display()
        )
    );
    // A key others can read is refused, as libpq does.
    let open_key = dir.join("open.key");
    std::fs::copy(&pki.client_key, &open_key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let e = fails_at_start(&format!(
        "host=localhost user=app password=s3cret sslcert={} sslkey={}",
        pki.client_cert.display(),
        open_key.display()
    ));
    assert!(e.contains("chmod 600"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgtide_run_works_over_verify_full() {
    let (cluster, port, pki, dir) = tls_only_cluster("tls-run").await;
    let url = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        pki.ca.display()
    );
    let admin = common::connect_tls(&url).await;
    admin
        .batch_execute("create table ledger (n int not null)")
        .await
        .unwrap();
    // Polling every 30 s: only notifications over the TLS LISTEN connection can make pickup fast.
    let config = dir.join("pgtide.toml");
    std::fs::write(
        &config,
        r#"
[worker]
poll_interval = "30s"
[handlers.ledger]
kind = "sql"
statement = "insert into ledger (n) values (($1->>'n')::int)"
"#,
    )
    .unwrap();
    let http = free_port();
    let log = dir.join("run.log");
    let mut run = Command::new(BIN)
        .args(["run", "--database-url", &url, "--config"])
        .arg(&config)
        .args(["--http", &format!("127.0.0.1:{http}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // The worker without LISTEN (pooler mode, polling every second) over the same TLS, on a queue
    // of its own.
    let pooled_config = dir.join("pooled.toml");
    std::fs::write(
        &pooled_config,
        r#"
[handlers.ledger]
kind = "sql"
statement = "insert into ledger (n) values (($1->>'n')::int)"
"#,
    )
    .unwrap();
    let mut pooled = Command::new(BIN)
        .args([
            "worker",
            "--no-listen",
            "--queues",
            "pooled",
            "--database-url",
            &url,
            "--config",
        ])
        .arg(&pooled_config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let healthz = format!("http://127.0.0.1:{http}/healthz");
    common::wait_until(Duration::from_secs(20), "/healthz answering 200", || {
        let (client, healthz) = (client.clone(), healthz.clone());
        async move { matches!(client.get(&healthz).send().await, Ok(r) if r.status() == 200) }
    })
    .await;
    // Let the worker go idle, so pickup has to come from a notification.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The CLI enqueues over the same verify-full URL.
    for n in 1..=20 {
        let output = Command::new(BIN)
            .args([
                "enqueue",
                "ledger",
                "--payload",
                &format!("{{\"n\": {n}}}"),
                "--database-url",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let pooled_id: i64 = admin
        .query_one(
            "select pgtide.enqueue('ledger', '{\"n\": 100}', queue => 'pooled')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let done = "select count(*) from pgtide.executions where status = 'succeeded'";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = admin.query_one(done, &[]).await.unwrap().get(0);
        if n == 21 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of 21 jobs succeeded:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ledger: i64 = admin
        .query_one("select count(distinct n) from ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ledger, 21);
    let worst_pickup_ms: f64 = admin
        .query_one(
            "select max(extract(epoch from started_at - visible_at) * 1000)::float8
               from pgtide.executions where queue = 'default'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        worst_pickup_ms < 1000.0,
        "pickup took {worst_pickup_ms} ms with a 30 s poll: the TLS LISTEN connection did not wake the worker"
    );
    let pooled_status: String = admin
        .query_one(
            "select status::text from pgtide.executions where id = $1",
            &[&pooled_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pooled_status, "succeeded");

    // Every backend pgtide opened is encrypted: the pool, the LISTEN connections, the HTTP API's
    // and the console's pools, and the pooler-mode worker's.
    let rows = admin
        .query(
            "select a.application_name, s.ssl, a.query
               from pg_stat_activity a join pg_stat_ssl s using (pid)
              where a.application_name like 'pgtide%' and a.pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert!(
        rows.iter().all(|r| r.get::<_, bool>(1)),
        "a pgtide backend is not encrypted: {names:?}"
    );
    assert!(names.iter().any(|n| n == "pgtide-http"), "{names:?}");
    assert!(
        rows.iter()
            .any(|r| r.get::<_, String>(2).to_lowercase().starts_with("listen")),
        "no LISTEN backend among {names:?}"
    );
    assert!(rows.len() >= 4, "{names:?}");

    // pgtide bench over the same verify-full URL (its scratch database, its worker process).
    let json = dir.join("bench.json");
    let bench = Command::new(BIN)
        .args([
            "bench",
            "--database-url",
            &url,
            "--only",
            "throughput,latency",
        ])
        .args(["--jobs", "500", "--latency-jobs", "20", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["throughput"]["drain_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["latency"]["p50_ms"].as_f64().unwrap() > 0.0);

    for child in [&mut run, &mut pooled] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
    }
    drop(admin);
    stop_cluster(cluster, &[&dir, &pki.dir]).await;
}
