//! Reading a libpq connection string, in its URL form (`postgres://...?sslmode=verify-full`) and
//! its key=value form (`host=db sslmode=verify-full`).
//!
//! tokio-postgres parses both forms, but of libpq's TLS parameters it knows only
//! `sslmode=disable|prefer|require`, and it rejects the others (`sslrootcert`, `sslcert`, `sslkey`,
//! ...) as unknown options. A string that works in psql must work in pgtide, so pgtide takes the TLS
//! parameters out of the string, reads them itself ([`super::tls`]), and hands the rest to
//! tokio-postgres unchanged.
//!
//! The same tokenizer hides passwords in strings shown in errors ([`redact`]).

use std::borrow::Cow;

/// The parameters pgtide reads itself instead of tokio-postgres.
pub(crate) const TLS_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "requiressl",
];

/// A connection string split in two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnInfo {
    /// The string without the TLS parameters, in the form it was given.
    pub(crate) rest: String,
    /// The TLS parameters, in the order given (for a repeated key, the later one wins, as in libpq).
    pub(crate) tls: Vec<(String, String)>,
}

/// Splits `conninfo` into what tokio-postgres reads and the TLS parameters pgtide reads.
pub(crate) fn split(conninfo: &str) -> ConnInfo {
    if is_url(conninfo) {
        split_url(conninfo)
    } else {
        split_key_values(conninfo)
    }
}

fn is_url(conninfo: &str) -> bool {
    conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://")
}

fn split_url(url: &str) -> ConnInfo {
    let Some((base, query)) = url.split_once('?') else {
        return ConnInfo {
            rest: url.to_string(),
            tls: Vec::new(),
        };
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        if TLS_KEYS.contains(&key.as_ref()) {
            tls.push((key.into_owned(), percent_decode(value).into_owned()));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    ConnInfo { rest, tls }
}

fn split_key_values(conninfo: &str) -> ConnInfo {
    let Some(pairs) = key_values(conninfo) else {
        // Not well formed: tokio-postgres reports where.
        return ConnInfo {
            rest: conninfo.to_string(),
            tls: Vec::new(),
        };
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for pair in pairs {
        if TLS_KEYS.contains(&pair.key.as_str()) {
            tls.push((pair.key, pair.value));
        } else {
            kept.push(&conninfo[pair.span.0..pair.span.1]);
        }
    }
    ConnInfo {
        rest: kept.join(" "),
        tls,
    }
}

/// One `key = value` of the key=value form, with the span of its text.
struct Pair {
    key: String,
    value: String,
    span: (usize, usize),
}

/// Tokenizes the key=value form as libpq does: whitespace around `=` is allowed, and a value is
/// either bare (ending at whitespace) or in single quotes; a backslash escapes the next character in
/// both. `None` when the string is not well formed.
fn key_values(conninfo: &str) -> Option<Vec<Pair>> {
    let bytes = conninfo.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i == bytes.len() {
            return Some(pairs);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = conninfo[start..i].to_string();
        i = skip_space(i);
        if key.is_empty() || bytes.get(i) != Some(&b'=') {
            return None;
        }
        i = skip_space(i + 1);
        let mut value = Vec::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i)? {
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        value.push(*bytes.get(i + 1)?);
                        i += 2;
                    }
                    &b => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        pairs.push(Pair {
            key,
            value: String::from_utf8(value).ok()?,
            span: (start, i),
        });
    }
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `conninfo` with every password replaced by `***`, for errors and logs: the URL's user info and
/// `password` parameter, and the key=value form's `password`.
pub fn redact(conninfo: &str) -> String {
    if is_url(conninfo) {
        let (scheme, rest) = conninfo.split_once("://").expect("is_url");
        let (authority_and_path, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority_and_path = match authority_and_path.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:***@{host}"),
                None => authority_and_path.to_string(),
            },
            None => authority_and_path.to_string(),
        };
        let query = query.map(|q| {
            q.split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if percent_decode(key) == "password" => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&")
        });
        return match query {
            Some(q) => format!("{scheme}://{authority_and_path}?{q}"),
            None => format!("{scheme}://{authority_and_path}"),
        };
    }
    match key_values(conninfo) {
        Some(pairs) => pairs
            .iter()
            .map(|p| {
                if p.key == "password" {
                    "password=***"
                } else {
                    &conninfo[p.span.0..p.span.1]
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        // Not well formed: say so without showing any of it, since a password may be in there.
        None if conninfo.contains("password") => "(a malformed connection string)".to_string(),
        None => conninfo.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn url_tls_parameters_are_taken_out_and_decoded() {
        let info = split(
            "postgres://app:pw@db1:5432,db2:5433/app?sslmode=verify-full&target_session_attrs=read-write\
             &sslrootcert=%2Fetc%2Fssl%2Frds%20bundle.pem&application_name=x",
        );
        assert_eq!(
            info.rest,
            "postgres://app:pw@db1:5432,db2:5433/app?target_session_attrs=read-write&application_name=x"
        );
        assert_eq!(
            info.tls,
            tls(&[
                ("sslmode", "verify-full"),
                ("sslrootcert", "/etc/ssl/rds bundle.pem")
            ])
        );
        let only_tls = split("postgresql://db/app?sslmode=require");
        assert_eq!(only_tls.rest, "postgresql://db/app");
        assert_eq!(only_tls.tls, tls(&[("sslmode", "require")]));
        let none = split("postgres://db/app");
        assert_eq!(none.rest, "postgres://db/app");
        assert!(none.tls.is_empty());
    }

    #[test]
    fn key_value_tls_parameters_are_taken_out_with_libpq_quoting() {
        let info = split(
            r"host=db port = 5432 sslmode=verify-ca sslcert='/home/a b/c\'s.crt' password='x y' sslkey=/k\ ey",
        );
        assert_eq!(info.rest, "host=db port = 5432 password='x y'");
        assert_eq!(
            info.tls,
            tls(&[
                ("sslmode", "verify-ca"),
                ("sslcert", "/home/a b/c's.crt"),
                ("sslkey", "/k ey")
            ])
        );
    }

    #[test]
    fn malformed_key_values_are_left_to_tokio_postgres() {
        let info = split("host=db sslmode");
        assert_eq!(info.rest, "host=db sslmode");
        assert!(info.tls.is_empty());
        assert!(key_values("a='unterminated").is_none());
    }

    #[test]
    fn redact_hides_every_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(
            redact("postgres://app@db/app?password=s3cret&sslmode=require"),
            "postgres://app@db/app?password=***&sslmode=require"
        );
        assert_eq!(
            redact("host=db password='s3 cret' user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(redact("host=db user=app"), "host=db user=app");
        assert_eq!(
            redact("host=db password='unterminated"),
            "(a malformed connection string)"
        );
    }
}
