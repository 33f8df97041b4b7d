//! TLS with libpq's meaning of the connection parameters, on rustls.
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `allow` | only if the server refuses a plain connection | checked against `sslrootcert` when there is one |
//! | `prefer` (default) | when the server offers it | checked against `sslrootcert` when there is one |
//! | `require` | always | checked against `sslrootcert` when there is one, else not checked |
//! | `verify-ca` | always | its chain must end in a CA of `sslrootcert` |
//! | `verify-full` | always | the chain, and the host name (or IP address) must be one the certificate names |
//!
//! As in libpq, "there is a root certificate" means `sslrootcert` was given, or
//! `~/.postgresql/root.crt` exists; `sslrootcert=system` is the operating system's trust store and
//! implies `verify-full`. `sslcert` and `sslkey` (default `~/.postgresql/postgresql.{crt,key}`)
//! give a client certificate. The `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY`
//! environment variables apply when the string does not set the parameter. Over a Unix socket there
//! is no TLS, as in libpq.
//!
//! Every file is read, and every setting checked, when the [`crate::Database`] is built, so a wrong
//! path, a file that is not PEM or a key that does not match its certificate stops the process before
//! anything starts, with one line naming the parameter and the file.
//!
//! Where pgtide is stricter than libpq: `prefer` does not retry in plain text after a TLS handshake
//! that failed (libpq does, silently), and a `sslcert` or `sslkey` that was named but is missing is an
//! error (libpq skips the certificate).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    client::WebPkiServerVerifier,
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{Error, Result};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text, and TLS only when the server refuses plain text.
    Allow,
    /// TLS when the server offers it, else plain text (the default).
    Prefer,
    /// TLS always.
    Require,
    /// TLS always; the certificate chain must end in `sslrootcert`.
    VerifyCa,
    /// TLS always; the chain and the host name are checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(Error::invalid(
                    "sslmode",
                    other,
                    "disable, allow, prefer, require, verify-ca or verify-full",
                ))
            }
        })
    }

    /// The parameter's value, as libpq spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// What the server's certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// Nothing: the certificate is not checked.
    None,
    /// The CA certificates in this file.
    File(PathBuf),
    /// The operating system's trust store.
    System,
}

impl Roots {
    /// The parameter's value.
    fn value(&self) -> String {
        match self {
            Roots::None => String::new(),
            Roots::File(path) => path.display().to_string(),
            Roots::System => "system".to_string(),
        }
    }
}

impl std::fmt::Display for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Roots::None => f.write_str("no root certificate"),
            Roots::File(path) => write!(f, "sslrootcert={}", path.display()),
            Roots::System => f.write_str("sslrootcert=system"),
        }
    }
}

/// The TLS side of a connection string, ready to connect with.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    pub(crate) roots: Roots,
    /// Whether the host name is checked (verify-full).
    pub(crate) check_host: bool,
    /// Used for every TLS attempt.
    pub(crate) connector: MakeRustlsConnect,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("roots", &self.roots)
            .field("check_host", &self.check_host)
            .finish_non_exhaustive()
    }
}

/// Where libpq looks when a parameter is not given: the environment and the home directory.
pub(crate) struct Defaults {
    /// Reads an environment variable (`PGSSLMODE`, ...).
    pub(crate) env: fn(&str) -> Option<String>,
    /// `~/.postgresql`, when there is a home directory.
    pub(crate) dir: Option<PathBuf>,
}

impl Defaults {
    /// No environment and no home directory: only what the string says.
    pub(crate) fn none() -> Self {
        Self {
            env: |_| None,
            dir: None,
        }
    }

    /// The process's own environment and home directory.
    pub(crate) fn from_process() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|h| !h.as_os_str().is_empty())
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::geteuid())
                    .ok()
                    .flatten()
                    .map(|u| u.dir)
            });
        Self {
            env: |name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            dir: home.map(|h| h.join(".postgresql")),
        }
    }
}

/// The crypto provider pgtide's TLS connections use (aws-lc-rs, as reqwest's rustls does); the
/// binary installs it as the process default, so every TLS connection of the process uses one.
pub fn crypto_provider() -> CryptoProvider {
    CryptoProvider::clone(&provider())
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

impl TlsSettings {
    /// Reads the TLS parameters of a connection string (see the module docs), loading every file.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter, its value (the file) and what was expected.
    pub(crate) fn from_params(params: &[(String, String)], defaults: &Defaults) -> Result<Self> {
        let given = |key: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let env_key = |key: &str, var: &str| given(key).or_else(|| (defaults.env)(var));
        refuse_unsupported(params)?;

        let rootcert = env_key("sslrootcert", "PGSSLROOTCERT");
        let mode = match env_key("sslmode", "PGSSLMODE") {
            Some(mode) => SslMode::parse(&mode)?,
            // libpq: sslrootcert=system without an sslmode means verify-full.
            None if rootcert.as_deref() == Some("system") => SslMode::VerifyFull,
            None => match given("requiressl").as_deref() {
                Some("1") => SslMode::Require,
                _ => SslMode::Prefer,
            },
        };
        let sni = match given("sslsni").as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => return Err(Error::invalid("sslsni", other, "0 or 1")),
        };
        let versions = protocol_versions(
            given("ssl_min_protocol_version").as_deref(),
            given("ssl_max_protocol_version").as_deref(),
        )?;

        let roots = match rootcert {
            Some(value) if value == "system" => Roots::System,
            Some(value) => Roots::File(PathBuf::from(value)),
            None => match &defaults.dir {
                Some(dir) if dir.join("root.crt").exists() => Roots::File(dir.join("root.crt")),
                _ => Roots::None,
            },
        };
        if roots == Roots::System && mode != SslMode::VerifyFull {
            return Err(Error::invalid(
                "sslmode",
                mode.as_str(),
                "verify-full with sslrootcert=system (a weaker mode would accept any server the \
                 system trusts, for any name)",
            ));
        }
        if roots == Roots::None && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) {
            let default = defaults.dir.as_ref().map_or_else(
                || "~/.postgresql/root.crt".to_string(),
                |d| d.join("root.crt").display().to_string(),
            );
            return Err(Error::invalid(
                "sslmode",
                mode.as_str(),
                format!(
                    "a root certificate to verify the server with: set sslrootcert to a PEM file of \
                     CA certificates (the default {default} does not exist), or sslrootcert=system \
                     for the operating system's trust store, or use sslmode=require"
                ),
            ));
        }

        if mode == SslMode::Disable {
            // No TLS at all: certificate files are not read, as in libpq.
            return Ok(Self::with_config(
                mode,
                ClientConfig::builder_with_provider(provider())
                    .with_protocol_versions(versions)
                    .expect("aws-lc-rs supports TLS 1.2 and 1.3")
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Verifier::Nothing(provider())))
                    .with_no_client_auth(),
            ));
        }

        let client_auth = if given("sslcertmode").as_deref() == Some("disable") {
            None
        } else {
            client_certificate(
                env_key("sslcert", "PGSSLCERT"),
                env_key("sslkey", "PGSSLKEY"),
                defaults.dir.as_deref(),
            )?
        };

        let check_host = mode == SslMode::VerifyFull;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("aws-lc-rs supports TLS 1.2 and 1.3");
        let builder = match &roots {
            Roots::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier::Nothing(provider()))),
            roots => {
                let store = Arc::new(root_store(roots)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(store.clone(), provider())
                    .build()
                    .map_err(|e| {
                        Error::invalid(
                            "sslrootcert",
                            roots.value(),
                            format!("usable CA certificates ({e})"),
                        )
                    })?;
                if check_host {
                    builder.with_webpki_verifier(webpki)
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(Verifier::Chain(webpki)))
                }
            }
        };
        let mut config = match client_auth {
            None => builder.with_no_client_auth(),
            Some(auth) => builder
                .with_client_auth_cert(auth.chain, auth.key)
                .map_err(|e| {
                    Error::invalid(
                        "sslkey",
                        auth.key_path.display(),
                        format!(
                            "the private key of the certificate sslcert={} ({})",
                            auth.cert_path.display(),
                            match e {
                                rustls::Error::InconsistentKeys(_) =>
                                    "this key does not match that certificate".to_string(),
                                other => other.to_string(),
                            }
                        ),
                    )
                })?,
        };
        config.enable_sni = sni;
        Ok(Self {
            mode,
            roots,
            check_host,
            connector: MakeRustlsConnect::new(config),
        })
    }

    /// TLS with the caller's own rustls configuration, used as it is whenever `mode` asks for TLS.
    pub(crate) fn with_config(mode: SslMode, config: ClientConfig) -> Self {
        Self {
            mode,
            roots: Roots::None,
            check_host: false,
            connector: MakeRustlsConnect::new(config),
        }
    }

    /// Says why a TLS handshake failed, in terms of these settings, when `e` is a TLS failure.
    pub(crate) fn explain(&self, e: &(dyn std::error::Error + 'static)) -> Option<String> {
        let rustls_error = find_rustls_error(e)?;
        Some(match rustls_error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => format!(
                    "the server's certificate chain does not end in a CA of {} (unknown issuer); \
                     point sslrootcert at the CA that signed the server's certificate",
                    self.roots
                ),
                CertificateError::NotValidForName => {
                    "the server's certificate is not valid for this host name; connect with a name \
                     the certificate lists, or use sslmode=verify-ca"
                        .to_string()
                }
                CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                } => format!(
                    "the server's certificate is not valid for host name {} (it names {}); connect \
                     with a name the certificate lists, or use sslmode=verify-ca",
                    server_name(expected),
                    if presented.is_empty() {
                        "no names".to_string()
                    } else {
                        presented
                            .iter()
                            .map(|name| presented_name(name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("the server's certificate has expired ({cert:?})")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    format!("the server's certificate is not valid yet ({cert:?})")
                }
                other => format!("the server's certificate was refused: {other:?}"),
            },
            rustls::Error::AlertReceived(alert) => format!(
                "the server refused the TLS handshake (alert {alert:?}); if it asks for a client \
                 certificate, check sslcert and sslkey"
            ),
            other => format!("TLS handshake failed: {other}"),
        })
    }
}

/// A name from a certificate as webpki reports it (`DnsName("db.internal")`), as a person writes it.
fn presented_name(name: &str) -> &str {
    ["DnsName(\"", "IpAddress(", "DnsName(", "IpAddr("]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .map(|rest| rest.trim_end_matches(')').trim_end_matches('"'))
        .unwrap_or(name)
}

fn server_name(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => format!("{:?}", dns.as_ref()),
        ServerName::IpAddress(ip) => format!("{:?}", std::net::IpAddr::from(*ip).to_string()),
        other => format!("{other:?}"),
    }
}

/// The rustls error somewhere in `e`'s chain (tokio-rustls wraps it in an `io::Error`).
fn find_rustls_error<'a>(
    mut e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(found) = e.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(found) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(found);
            }
        }
        e = e.source()?;
    }
}

/// Parameters libpq has and pgtide does not implement: refused by name rather than ignored.
fn refuse_unsupported(params: &[(String, String)]) -> Result<()> {
    for (key, value) in params {
        let expected = match (key.as_str(), value.as_str()) {
            ("sslpassword", _) => {
                "no sslpassword: pgtide reads unencrypted keys only (decrypt it with `openssl pkey \
                 -in key.pem -out plain.pem` and keep that file mode 0600)"
            }
            ("sslcrl" | "sslcrldir", _) => {
                "no certificate revocation list: pgtide does not read them (remove the parameter)"
            }
            ("sslcertmode", "disable" | "allow") => continue,
            ("sslcertmode", _) => "disable or allow (require is not supported)",
            ("gssencmode", "disable" | "prefer") => continue,
            ("gssencmode", _) => "disable or prefer (pgtide has no GSSAPI encryption)",
            ("sslcompression", "0" | "1") => continue,
            ("sslcompression", _) => "0 or 1 (TLS compression is never used)",
            ("requiressl", "0" | "1") => continue,
            ("requiressl", _) => "0 or 1 (or sslmode)",
            _ => continue,
        };
        return Err(Error::invalid(param_name(key), value, expected.to_string()));
    }
    Ok(())
}

/// The parameter's name as a `'static` field name for [`Error::Invalid`].
fn param_name(key: &str) -> &'static str {
    super::conninfo::TLS_KEYS
        .iter()
        .copied()
        .find(|k| *k == key)
        .unwrap_or("connection parameter")
}

fn protocol_versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion]> {
    // rustls speaks TLS 1.2 and 1.3; an older minimum allows nothing more, so it is accepted.
    let rank = |field: &'static str, v: &str| match v {
        "TLSv1" | "TLSv1.1" | "TLSv1.2" => Ok(2),
        "TLSv1.3" => Ok(3),
        other => Err(Error::invalid(
            field,
            other,
            "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3 (rustls speaks TLSv1.2 and TLSv1.3)",
        )),
    };
    let min = min.map_or(Ok(2), |v| rank("ssl_min_protocol_version", v))?;
    let max = match max {
        None => 3,
        Some(v @ ("TLSv1" | "TLSv1.1")) => {
            return Err(Error::invalid(
                "ssl_max_protocol_version",
                v,
                "TLSv1.2 or TLSv1.3 (rustls does not speak older versions)",
            ))
        }
        Some(v) => rank("ssl_max_protocol_version", v)?,
    };
    static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    static BOTH: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    match (min, max) {
        (2, 2) => Ok(TLS12),
        (3, 3) => Ok(TLS13),
        (2, 3) => Ok(BOTH),
        _ => Err(Error::invalid(
            "ssl_max_protocol_version",
            "TLSv1.2",
            "a version >= ssl_min_protocol_version (TLSv1.3)",
        )),
    }
}

/// Reads a file for parameter `field`, naming the file in the error.
fn read(field: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::invalid(
            field,
            path.display(),
            format!(
                "a readable PEM file ({})",
                match e.kind() {
                    std::io::ErrorKind::NotFound => "it does not exist".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                }
            ),
        )
    })
}

/// The PEM `CERTIFICATE` blocks of a file.
fn certificates(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid(
                field,
                path.display(),
                format!("a PEM file of certificates ({e})"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::invalid(
            field,
            path.display(),
            "a PEM file with at least one \"-----BEGIN CERTIFICATE-----\" block (this file has \
             none; a DER file converts with `openssl x509 -inform der -in FILE -out FILE.pem`)",
        ));
    }
    Ok(certs)
}

fn root_store(roots: &Roots) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::None => {}
        Roots::File(path) => {
            let certs = certificates("sslrootcert", path)?;
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::invalid(
                    "sslrootcert",
                    path.display(),
                    "at least one valid X.509 CA certificate (none of this file's could be parsed)",
                ));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::invalid(
                    "sslrootcert",
                    "system",
                    format!(
                        "CA certificates in the operating system's trust store (found none{}; on \
                         Debian or Ubuntu install ca-certificates, or set SSL_CERT_FILE)",
                        found
                            .errors
                            .first()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
    }
    Ok(store)
}

struct ClientAuth {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

/// The client certificate and key: named ones must exist; the defaults are used when they exist.
fn client_certificate(
    cert: Option<String>,
    key: Option<String>,
    default_dir: Option<&Path>,
) -> Result<Option<ClientAuth>> {
    let cert_path = match (&cert, default_dir) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(dir)) if dir.join("postgresql.crt").exists() => dir.join("postgresql.crt"),
        (None, _) => {
            if let Some(key) = key {
                return Err(Error::invalid(
                    "sslkey",
                    key,
                    "a key together with its certificate: set sslcert as well",
                ));
            }
            return Ok(None);
        }
    };
    let chain = certificates("sslcert", &cert_path)?;
    let key_path = match (key, default_dir) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(dir)) => dir.join("postgresql.key"),
        (None, None) => {
            return Err(Error::invalid(
                "sslkey",
                "(not set)",
                format!("the private key of sslcert={}", cert_path.display()),
            ))
        }
    };
    check_key_permissions(&key_path)?;
    let bytes = read("sslkey", &key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let why = if String::from_utf8_lossy(&bytes).contains("ENCRYPTED") {
            "an unencrypted key; this one is encrypted (decrypt it with `openssl pkey -in KEY -out \
             PLAIN`)"
                .to_string()
        } else {
            format!(
                "a PEM private key: PKCS#8 (\"BEGIN PRIVATE KEY\"), RSA or EC ({})",
                match e {
                    rustls::pki_types::pem::Error::NoItemsFound => "this file holds none".into(),
                    other => other.to_string(),
                }
            )
        };
        Error::invalid("sslkey", key_path.display(), why)
    })?;
    Ok(Some(ClientAuth {
        chain,
        key,
        cert_path,
        key_path,
    }))
}

/// libpq refuses a key that others can read: mode 0600 or less when the current user owns it, 0640
/// or less when root does.
fn check_key_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // reading it reports why
    };
    let mode = meta.mode() & 0o777;
    let too_open = if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(Error::invalid(
            "sslkey",
            path.display(),
            format!(
                "a key file only its owner can read (mode {mode:04o}; run `chmod 600 {}`)",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// The certificate checks of `require` without a root certificate (none) and of `verify-ca` (the
/// chain only). The handshake's own signatures are always verified.
#[derive(Debug)]
enum Verifier {
    Nothing(Arc<CryptoProvider>),
    Chain(Arc<WebPkiServerVerifier>),
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self {
            Verifier::Nothing(_) => Ok(ServerCertVerified::assertion()),
            // webpki checks the chain before the name, so a name error means the chain was good.
            Verifier::Chain(webpki) => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match self {
            Verifier::Nothing(provider) => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &provider.signature_verification_algorithms,
            ),
            Verifier::Chain(webpki) => webpki.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        match self {
            Verifier::Nothing(provider) => rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &provider.signature_verification_algorithms,
            ),
            Verifier::Chain(webpki) => webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        match self {
            Verifier::Nothing(provider) => provider
                .signature_verification_algorithms
                .supported_schemes(),
            Verifier::Chain(webpki) => webpki.supported_verify_schemes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_defaults() -> Defaults {
        Defaults::none()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        TlsSettings::from_params(&params(pairs), &no_defaults())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn modes_parse_and_the_default_is_prefer() {
        for mode in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
        ] {
            let s =
                TlsSettings::from_params(&params(&[("sslmode", mode.as_str())]), &no_defaults())
                    .unwrap();
            assert_eq!(s.mode, mode);
            assert_eq!(s.roots, Roots::None);
        }
        let default = TlsSettings::from_params(&[], &no_defaults()).unwrap();
        assert_eq!(default.mode, SslMode::Prefer);
        assert_eq!(
            error(&[("sslmode", "verify_full")]),
            "invalid sslmode \"verify_full\": expected disable, allow, prefer, require, verify-ca or \
             verify-full"
        );
    }

    #[test]
    fn verification_needs_a_root_certificate() {
        let e = error(&[("sslmode", "verify-full")]);
        assert!(
            e.starts_with("invalid sslmode \"verify-full\": expected a root certificate"),
            "{e}"
        );
        let e = error(&[("sslmode", "require"), ("sslrootcert", "system")]);
        assert!(e.contains("verify-full with sslrootcert=system"), "{e}");
    }

    #[test]
    fn named_files_must_exist() {
        let e = error(&[
            ("sslmode", "verify-ca"),
            ("sslrootcert", "/nonexistent/ca.pem"),
        ]);
        assert_eq!(
            e,
            "invalid sslrootcert \"/nonexistent/ca.pem\": expected a readable PEM file (it does not exist)"
        );
        let e = error(&[("sslcert", "/nonexistent/client.crt")]);
        assert_eq!(
            e,
            "invalid sslcert \"/nonexistent/client.crt\": expected a readable PEM file (it does not exist)"
        );
        let e = error(&[("sslkey", "/k.pem")]);
        assert!(e.contains("set sslcert as well"), "{e}");
    }

    #[test]
    fn unsupported_parameters_are_refused_by_name() {
        assert!(error(&[("sslpassword", "x")]).starts_with("invalid sslpassword"));
        assert!(error(&[("gssencmode", "require")]).starts_with("invalid gssencmode"));
        assert!(error(&[("sslsni", "yes")]).starts_with("invalid sslsni"));
        assert!(error(&[("ssl_max_protocol_version", "TLSv1.1")])
            .starts_with("invalid ssl_max_protocol_version"));
        TlsSettings::from_params(
            &params(&[
                ("gssencmode", "disable"),
                ("ssl_min_protocol_version", "TLSv1.2"),
            ]),
            &no_defaults(),
        )
        .unwrap();
    }

    #[test]
    fn certificate_names_read_as_written() {
        assert_eq!(presented_name("DnsName(\"db.internal\")"), "db.internal");
        assert_eq!(presented_name("db.internal"), "db.internal");
    }

    #[test]
    fn disable_reads_no_certificate_file() {
        let s = TlsSettings::from_params(
            &params(&[
                ("sslmode", "disable"),
                ("sslrootcert", "/nonexistent/ca.pem"),
            ]),
            &no_defaults(),
        )
        .unwrap();
        assert_eq!(s.mode, SslMode::Disable);
    }

    #[test]
    fn the_environment_fills_in_what_the_string_leaves_out() {
        let defaults = Defaults {
            env: |name| (name == "PGSSLMODE").then(|| "disable".to_string()),
            dir: None,
        };
        let from_env = TlsSettings::from_params(&[], &defaults).unwrap();
        assert_eq!(from_env.mode, SslMode::Disable);
        let given =
            TlsSettings::from_params(&params(&[("sslmode", "require")]), &defaults).unwrap();
        assert_eq!(given.mode, SslMode::Require);
    }
}
