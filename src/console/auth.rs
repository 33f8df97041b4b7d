//! The console's login, session cookie and CSRF tokens.
//!
//! The console is behind the API's token. Logging in with it sets `pgtide_session`, an HttpOnly,
//! SameSite=Strict cookie holding an expiry, a random nonce and an HMAC-SHA256 of both keyed by the
//! token. Nothing is
//! stored on the server: every pgtide process with the same token accepts the cookie, a restart
//! logs nobody out, and changing the token logs everybody out.
//!
//! Every form that changes something carries a CSRF token, an HMAC of the session cookie; a POST
//! without the right one is refused with 403 before anything runs. SameSite=Strict alone would stop
//! most cross-site posts; the token also covers browsers and proxies that drop the attribute.
//!
//! Without a token (the API then listens on loopback only) the console is open, as the API is, and
//! CSRF tokens are keyed by a random key of this process.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "pgtide_session";

/// How long a login lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The keys the console signs with.
#[derive(Clone)]
pub(crate) struct Keys {
    /// The API token; `None` when the console is open.
    token: Option<Vec<u8>>,
    /// Key of CSRF tokens in open mode.
    process_key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keys {
    /// Keys for a console behind `token` (open when `None`).
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self {
            token: token.map(|t| t.as_bytes().to_vec()),
            process_key: rand::random(),
        }
    }

    /// Whether logging in is needed.
    pub(crate) fn needs_login(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the token (constant time).
    pub(crate) fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| bool::from(given.as_bytes().ct_eq(t)))
    }

    /// A fresh session cookie value, valid for [`SESSION_TTL`]: `expiry.nonce.signature`. The
    /// nonce makes every login's session (and so its CSRF token) its own.
    pub(crate) fn new_session(&self) -> String {
        let expires = unix_now() + SESSION_TTL.as_secs();
        let nonce = format!("{:016x}", rand::random::<u64>());
        let key = self.token.as_deref().unwrap_or(&self.process_key);
        let signature = mac(key, &format!("session:{expires}.{nonce}"));
        format!("{expires}.{nonce}.{signature}")
    }

    /// The session of a request: its cookie value when valid, `"open"` without a token, else `None`.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<String> {
        let Some(token) = &self.token else {
            return Some("open".into());
        };
        let value = cookie(headers, COOKIE)?;
        let (signed, signature) = value.rsplit_once('.')?;
        let (expires, _nonce) = signed.split_once('.')?;
        let expires_at: u64 = expires.parse().ok()?;
        if expires_at <= unix_now() {
            return None;
        }
        equal(signature, &mac(token, &format!("session:{signed}"))).then_some(value)
    }

    /// The CSRF token of `session`.
    pub(crate) fn csrf(&self, session: &str) -> String {
        let key = self.token.as_deref().unwrap_or(&self.process_key);
        mac(key, &format!("csrf:{session}"))
    }

    /// Whether `given` is the CSRF token of `session`.
    pub(crate) fn csrf_matches(&self, session: &str, given: Option<&str>) -> bool {
        given.is_some_and(|g| equal(g, &self.csrf(session)))
    }
}

/// The value of cookie `name` in the request's Cookie headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` for a session: HttpOnly, SameSite=Strict, the whole site.
pub(crate) fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// `Set-Cookie` that ends the session.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            format!("a=b; {COOKIE}={value}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn sessions_are_signed_by_the_token() {
        let keys = Keys::new(Some("s3cret"));
        let session = keys.new_session();
        assert_eq!(keys.session(&with_cookie(&session)), Some(session.clone()));
        // Another token, a tampered expiry, an expired one, none at all: refused.
        assert_eq!(
            Keys::new(Some("other")).session(&with_cookie(&session)),
            None
        );
        let (_, sig) = session.split_once('.').unwrap();
        assert_eq!(
            keys.session(&with_cookie(&format!("99999999999.{sig}"))),
            None
        );
        let past = format!("1.{}", mac(b"s3cret", "session:1"));
        assert_eq!(keys.session(&with_cookie(&past)), None);
        assert_eq!(keys.session(&HeaderMap::new()), None);
        assert!(keys.token_matches("s3cret") && !keys.token_matches("s3cre"));
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let keys = Keys::new(Some("s3cret"));
        let (a, b) = (keys.new_session(), format!("{}x", keys.new_session()));
        assert!(keys.csrf_matches(&a, Some(&keys.csrf(&a))));
        assert!(!keys.csrf_matches(&b, Some(&keys.csrf(&a))));
        assert!(!keys.csrf_matches(&a, None));
        assert!(!keys.csrf_matches(&a, Some("")));
        let open = Keys::new(None);
        assert_eq!(open.session(&HeaderMap::new()).as_deref(), Some("open"));
        assert!(!open.needs_login());
    }
}
