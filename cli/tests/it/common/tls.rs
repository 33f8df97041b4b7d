//! A TLS-only Postgres server for the TLS tests, with certificates made in the test: a CA, a server
//! certificate for `DNS:localhost` only, a client certificate for the role `certuser`, and a second,
//! unrelated CA. The server accepts TLS only, as managed services do (`hostssl ...`,
//! `hostnossl ... reject`): `certuser` logs in with its certificate (`cert`), `scramuser` with a
//! password (`scram-sha-256`, so channel binding can be checked), everyone else without one.

use std::path::{Path, PathBuf};

use pgtide::embedded::EmbeddedPostgres;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The files of the test PKI.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA that signed the server's and the client's certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// `CN=certuser`, signed by `ca`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A key that belongs to no certificate here.
    pub stray_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Writes a file that only its owner (the server's OS user, when the tests run as root) can read.
fn write_private(path: &Path, text: &str, owner: Option<&nix::unistd::User>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Some(user) = owner {
        nix::unistd::chown(path, Some(user.uid), Some(user.gid)).unwrap();
    }
}

impl Pki {
    /// Makes the certificates in `dir`.
    pub fn generate(dir: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        // The server reads its files as the postgres OS user when the tests run as root.
        let postgres = nix::unistd::geteuid()
            .is_root()
            .then(|| nix::unistd::User::from_name("postgres").unwrap().unwrap());
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ca_issuer = ca("pgtide test CA");
        let other = ca("some other CA");

        let server_key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &ca_issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client
            .distinguished_name
            .push(DnType::CommonName, "certuser");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client.signed_by(&client_key, &ca_issuer).unwrap();

        let pki = Self {
            dir: dir.to_path_buf(),
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            stray_key: dir.join("stray.key"),
        };
        std::fs::write(&pki.ca, ca_issuer.pem()).unwrap();
        std::fs::write(&pki.other_ca, other.pem()).unwrap();
        std::fs::write(&pki.server_cert, server_cert.pem()).unwrap();
        write_private(
            &pki.server_key,
            &server_key.serialize_pem(),
            postgres.as_ref(),
        );
        std::fs::write(&pki.client_cert, client_cert.pem()).unwrap();
        write_private(&pki.client_key, &client_key.serialize_pem(), None);
        write_private(
            &pki.stray_key,
            &KeyPair::generate().unwrap().serialize_pem(),
            None,
        );
        pki
    }
}

/// A private, migrated cluster that accepts TLS only. Returns the cluster, its port, the PKI and
/// the cluster's directory.
pub async fn tls_only_cluster(name: &str) -> (EmbeddedPostgres, u16, Pki, PathBuf) {
    let pki_dir = std::env::temp_dir().join(format!("pgtide-{name}-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pki_dir);
    let pki = Pki::generate(&pki_dir);
    let hba = pki_dir.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "# TLS only over TCP, as on a managed service (the harness migrates over the socket).\n\
         local all all trust\n\
         hostssl all certuser 127.0.0.1/32 cert\n\
         hostssl all scramuser 127.0.0.1/32 scram-sha-256\n\
         hostssl all all 127.0.0.1/32 trust\n\
         hostnossl all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    let settings = [
        ("ssl", "on".to_string()),
        ("ssl_cert_file", pki.server_cert.display().to_string()),
        ("ssl_key_file", pki.server_key.display().to_string()),
        ("ssl_ca_file", pki.ca.display().to_string()),
        ("hba_file", hba.display().to_string()),
        ("password_encryption", "scram-sha-256".to_string()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (cluster, _url, dir) = super::private_cluster(name, &settings).await;
    let port = cluster.port();
    let admin = super::connect_tls(&format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require"
    ))
    .await;
    admin
        .batch_execute(
            "create role certuser login;
             create role scramuser login password 'scram-secret';",
        )
        .await
        .unwrap();
    (cluster, port, pki, dir)
}
