//! Console sessions and CSRF tokens: pure functions, no I/O.
//!
//! A session is a signed cookie value, not a server-side record:
//! `v1.{expires}.{nonce}.{mac}` where `mac` is HMAC-SHA256 over the
//! expiry and the nonce with a key derived from the OAuth state key (itself
//! derived from `RECTOKEN_ENCRYPTION_KEY`) **and** the admin token. So:
//! - the admin token itself is never in the cookie, only a MAC that cannot
//!   be turned back into it;
//! - every ingress instance accepts every other's sessions (no shared
//!   session store, in keeping with "the ingress holds no state");
//! - changing `RECTOKEN_ADMIN_TOKEN` (or the encryption key) signs every
//!   console user out at once;
//! - the cost: signing out clears the browser's cookie but a copied cookie
//!   value stays valid until it expires ([`SESSION_TTL_SECS`], 8 hours).
//!
//! The CSRF token of a session is another MAC over the same value, so it
//! is bound to that session and needs no storage either; every POST must
//! carry it (form field `csrf`), compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The session cookie's name. `__Host-`: the browser only accepts it
/// with `Secure`, `Path=/` and no `Domain`, so no sibling host can set it.
pub const COOKIE: &str = "__Host-rectoken-console";

/// How long a session lasts after sign-in.
pub const SESSION_TTL_SECS: i64 = 8 * 3600;

/// The key that signs sessions, from the ingress's state key and the
/// admin token.
pub fn session_key(state_key: &[u8; 32], admin_token: &str) -> [u8; 32] {
    let mut mac = mac_with(state_key);
    mac.update(b"rectoken console session v1\0");
    mac.update(admin_token.as_bytes());
    mac.finalize().into_bytes().into()
}

fn mac_with(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => Hmac::<Sha256>::new(&Default::default()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tag(key: &[u8; 32], purpose: &str, expires: i64, nonce: &str) -> String {
    let mut mac = mac_with(key);
    mac.update(format!("{purpose}|{expires}|{nonce}").as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A new session value, valid until `now + SESSION_TTL_SECS`.
pub fn issue(key: &[u8; 32], now: i64, nonce: [u8; 16]) -> String {
    let expires = now.saturating_add(SESSION_TTL_SECS);
    let nonce = hex(&nonce);
    let mac = tag(key, "session", expires, &nonce);
    format!("v1.{expires}.{nonce}.{mac}")
}

/// A checked session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// When it expires (Unix seconds).
    pub expires: i64,
    nonce: String,
}

impl Session {
    /// This session's CSRF token.
    pub fn csrf(&self, key: &[u8; 32]) -> String {
        tag(key, "csrf", self.expires, &self.nonce)
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_matches(&self, key: &[u8; 32], presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf(key).as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// The session of a cookie value, if its MAC is right and it has not
/// expired at `now`.
pub fn verify(key: &[u8; 32], value: &str, now: i64) -> Option<Session> {
    let mut parts = value.split('.');
    let (Some("v1"), Some(expires), Some(nonce), Some(mac), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let expires: i64 = expires.parse().ok()?;
    let expected = tag(key, "session", expires, nonce);
    if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) || expires <= now {
        return None;
    }
    Some(Session {
        expires,
        nonce: nonce.to_owned(),
    })
}

/// The `Set-Cookie` value that stores `value`. `Secure` is required by
/// the `__Host-` prefix; browsers accept Secure cookies from
/// `http://localhost` and `http://127.0.0.1`, so `rectoken dev` works.
pub fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={SESSION_TTL_SECS}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that signs out.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The session cookie's value among the request's `Cookie` headers.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: [u8; 32] = [3; 32];

    #[test]
    fn a_session_verifies_until_it_expires() {
        let key = session_key(&K, "admin");
        let v = issue(&key, 1000, [9; 16]);
        let s = verify(&key, &v, 1000).expect("fresh");
        assert_eq!(s.expires, 1000 + SESSION_TTL_SECS);
        assert!(
            verify(&key, &v, 1000 + SESSION_TTL_SECS).is_none(),
            "expired"
        );
    }

    #[test]
    fn the_admin_token_is_not_in_the_cookie_and_changing_it_signs_out() {
        let key = session_key(&K, "the-admin-token");
        let v = issue(&key, 0, [1; 16]);
        assert!(!v.contains("the-admin-token"));
        assert!(!set_cookie(&v).contains("the-admin-token"));
        assert!(verify(&session_key(&K, "another"), &v, 0).is_none());
    }

    #[test]
    fn tampering_is_refused() {
        let key = session_key(&K, "admin");
        let v = issue(&key, 0, [1; 16]);
        let longer = v.replacen(&format!("v1.{SESSION_TTL_SECS}."), "v1.99999999999.", 1);
        assert!(verify(&key, &longer, 0).is_none(), "extended expiry");
        for bad in [
            "",
            "v1",
            "v1.1.2.3.4",
            "v2.1.2.3",
            "v1.x.y.z",
            &v[..v.len() - 1],
        ] {
            assert!(verify(&key, bad, 0).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn csrf_is_bound_to_the_session() {
        let key = session_key(&K, "admin");
        let a = verify(&key, &issue(&key, 0, [1; 16]), 0).unwrap();
        let b = verify(&key, &issue(&key, 0, [2; 16]), 0).unwrap();
        assert!(a.csrf_matches(&key, &a.csrf(&key)));
        assert!(!a.csrf_matches(&key, &b.csrf(&key)));
        assert!(!a.csrf_matches(&key, ""));
    }

    #[test]
    fn cookie_attributes_and_parsing() {
        let c = set_cookie("v");
        for attr in [
            "__Host-",
            "Path=/",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=",
        ] {
            assert!(c.contains(attr), "{attr}");
        }
        assert!(!c.contains("Domain"));
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            format!("a=b; {COOKIE}=v1.x; c=d").parse().unwrap(),
        );
        assert_eq!(from_headers(&h), Some("v1.x"));
    }
}
