//! The OAuth `state` parameter: signed, expiring, and opaque to Zoom.
//!
//! `state` ties the callback to an authorize request we issued. It is
//! `base64url(payload) "." base64url(HMAC-SHA256(key, payload))` where the
//! payload is `v1|<issued_at_unix>|<nonce hex>|<app>`; verification checks the
//! MAC in constant time first, then the age. Nothing secret is inside, and a
//! forged, altered or stale state is rejected before any code exchange.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long an authorize request stays valid (the issue fixes 10 minutes;
/// Zoom's own codes live 5).
pub const STATE_TTL_SECS: i64 = 10 * 60;

/// Longest `state` accepted before any decoding (a valid one is ~120 bytes).
pub const MAX_STATE_LEN: usize = 512;

/// Why a `state` was refused. All map to HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No state parameter.
    #[error("the state parameter is missing")]
    Missing,
    /// Not of our format.
    #[error("the state parameter is malformed")]
    Malformed,
    /// The MAC does not match: forged or altered.
    #[error("the state parameter is not one we issued")]
    BadSignature,
    /// Older than [`STATE_TTL_SECS`] (or from the future).
    #[error("the authorization request expired; start again")]
    Expired,
}

/// A verified state's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// When the authorize redirect was issued (Unix seconds).
    pub issued_at: i64,
    /// The app name the authorization is for.
    pub app: String,
    /// The random nonce (hex): what the browser's cookie must hold, the
    /// single-use marker, and the seed of the PKCE verifier.
    pub nonce: String,
    /// The nonce of the connect link the authorization started from, if
    /// any (consumed when the callback succeeds).
    pub link: Option<String>,
}

fn mac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => HmacSha256::new(&Default::default()),
    }
}

/// Issue a state for `app` at `now` with a random `nonce`.
pub fn issue(key: &[u8], app: &str, now: i64, nonce: [u8; 16]) -> String {
    let payload = format!("v1|{now}|{}|{app}", hex::encode(nonce));
    let mut m = mac(key);
    m.update(payload.as_bytes());
    let sig = m.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Issue a state for `app` at `now` with a random `nonce`, started from
/// the connect link whose nonce is `link` (if any).
pub fn issue_with_link(
    key: &[u8],
    app: &str,
    now: i64,
    nonce: [u8; 16],
    link: Option<&str>,
) -> String {
    let link = link.unwrap_or("");
    // A link nonce is hex; anything else would break the payload's fields.
    let link = if link.bytes().all(|b| b.is_ascii_hexdigit()) {
        link
    } else {
        ""
    };
    let payload = format!("v2|{now}|{}|{link}|{app}", hex::encode(nonce));
    let mut m = mac(key);
    m.update(payload.as_bytes());
    let sig = m.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// The PKCE `code_verifier` of the authorization with this state nonce:
/// derived from the key, so nothing is stored between the authorize
/// redirect and the callback, and unguessable without the key (43
/// base64url characters, 256 bits, as RFC 7636 asks).
pub fn pkce_verifier(key: &[u8], nonce: &str) -> String {
    let mut m = mac(key);
    m.update(b"rectoken pkce v1|");
    m.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

/// The S256 `code_challenge` of a verifier: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Verify a state received on the callback.
pub fn verify(key: &[u8], state: Option<&str>, now: i64) -> Result<OAuthState, StateError> {
    let state = state.filter(|s| !s.is_empty()).ok_or(StateError::Missing)?;
    if state.len() > MAX_STATE_LEN {
        return Err(StateError::Malformed);
    }
    let (payload_b64, sig_b64) = state.split_once('.').ok_or(StateError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| StateError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| StateError::Malformed)?;
    let mut m = mac(key);
    m.update(&payload);
    m.verify_slice(&sig).map_err(|_| StateError::BadSignature)?;
    let text = std::str::from_utf8(&payload).map_err(|_| StateError::Malformed)?;
    let (issued, nonce, link, app) = if let Some(rest) = text.strip_prefix("v2|") {
        let mut parts = rest.splitn(4, '|');
        let (Some(issued), Some(nonce), Some(link), Some(app)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StateError::Malformed);
        };
        (issued, nonce, Some(link).filter(|l| !l.is_empty()), app)
    } else {
        let mut parts = text.splitn(4, '|');
        let (Some("v1"), Some(issued), Some(nonce), Some(app)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StateError::Malformed);
        };
        (issued, nonce, None, app)
    };
    let issued_at: i64 = issued.parse().map_err(|_| StateError::Malformed)?;
    let age = now.saturating_sub(issued_at);
    if !(-60..=STATE_TTL_SECS).contains(&age) {
        return Err(StateError::Expired);
    }
    Ok(OAuthState {
        issued_at,
        app: app.to_owned(),
        nonce: nonce.to_owned(),
        link: link.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"state-key-state-key-state-key-32";

    #[test]
    fn v2_carries_the_link_and_pkce_is_rfc_7636() {
        let s = issue_with_link(KEY, "default", 1000, [2; 16], Some("abcdef01"));
        let v = verify(KEY, Some(&s), 1000).unwrap();
        assert_eq!(v.link.as_deref(), Some("abcdef01"));
        assert_eq!(v.nonce, hex::encode([2u8; 16]));
        assert_eq!(v.app, "default");
        let no_link = verify(
            KEY,
            Some(&issue_with_link(KEY, "a|b", 1000, [2; 16], None)),
            1000,
        );
        assert_eq!(
            no_link.as_ref().map(|v| (v.link.clone(), v.app.as_str())),
            Ok((None, "a|b"))
        );
        // A link value that is not hex cannot smuggle fields in.
        let odd = issue_with_link(KEY, "default", 1000, [2; 16], Some("x|evil"));
        assert_eq!(verify(KEY, Some(&odd), 1000).unwrap().link, None);
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v1 = pkce_verifier(KEY, "00ff");
        assert_eq!(v1.len(), 43);
        assert_eq!(v1, pkce_verifier(KEY, "00ff"));
        assert_ne!(v1, pkce_verifier(KEY, "00fe"));
        assert_ne!(v1, pkce_verifier(b"another key", "00ff"));
    }

    #[test]
    fn round_trip() {
        let s = issue(KEY, "default", 1000, [1; 16]);
        assert_eq!(
            verify(KEY, Some(&s), 1000 + STATE_TTL_SECS),
            Ok(OAuthState {
                issued_at: 1000,
                app: "default".into(),
                nonce: hex::encode([1u8; 16]),
                link: None,
            })
        );
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL-safe: {s}"
        );
    }

    #[test]
    fn expiry_and_clock_skew() {
        let s = issue(KEY, "a", 1000, [2; 16]);
        assert_eq!(
            verify(KEY, Some(&s), 1000 + STATE_TTL_SECS + 1),
            Err(StateError::Expired)
        );
        assert_eq!(verify(KEY, Some(&s), 1000 - 61), Err(StateError::Expired));
        assert!(verify(KEY, Some(&s), 1000 - 60).is_ok());
    }

    #[test]
    fn forged_and_altered_states() {
        let s = issue(KEY, "a", 1000, [3; 16]);
        assert_eq!(
            verify(b"other key", Some(&s), 1000),
            Err(StateError::BadSignature)
        );
        // Change the app inside the payload but keep the old signature.
        let (_, sig) = s.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode(b"v1|1000|00|evil"));
        assert_eq!(
            verify(KEY, Some(&forged), 1000),
            Err(StateError::BadSignature)
        );
        assert_eq!(verify(KEY, None, 1000), Err(StateError::Missing));
        assert_eq!(verify(KEY, Some(""), 1000), Err(StateError::Missing));
        for bad in ["x", "a.b.c", "!!!.???", &"a".repeat(MAX_STATE_LEN + 1)] {
            assert!(verify(KEY, Some(bad), 1000).is_err(), "{bad}");
        }
        // Header injection attempts are just malformed states.
        assert!(verify(KEY, Some("abc\r\nSet-Cookie: x=1"), 1000).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_states_never_verify_or_panic(s in ".{0,600}") {
            prop_assert!(verify(KEY, Some(&s), 1000).is_err());
        }
    }
}
