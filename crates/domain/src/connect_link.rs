//! Connect links: what an operator hands a customer's Zoom admin so that
//! they, and only they, can connect an account (`POST
//! /admin/connect-links`).
//!
//! A link's token is `base64url(payload) "." base64url(HMAC-SHA256(key,
//! payload))` with the payload `link1|<expires_at_unix>|<nonce hex>`: it
//! expires by itself, cannot be forged without the key, and its nonce is
//! what the store marks used once an account connected through it (one
//! use). The key is the OAuth state key; the `link1|` prefix keeps a link
//! from passing as a state and the other way round.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The query parameter of `GET /zoom/oauth/authorize` that carries it.
pub const LINK_PARAM: &str = "link";
/// How long a link lives unless the operator asks otherwise.
pub const DEFAULT_TTL_SECS: i64 = 7 * 24 * 3600;
/// The longest life an operator may give a link.
pub const MAX_TTL_SECS: i64 = 30 * 24 * 3600;
/// Longest token accepted before decoding (a valid one is ~100 bytes).
pub const MAX_LEN: usize = 256;

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not of our format.
    #[error("the connect link is malformed")]
    Malformed,
    /// Not signed by this deployment.
    #[error("the connect link is not one this rectoken issued")]
    BadSignature,
    /// Past its expiry.
    #[error("the connect link expired; ask your rectoken operator for a new one")]
    Expired,
}

/// A verified link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectLink {
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// Its nonce (hex): the single-use marker.
    pub nonce: String,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => Hmac::<Sha256>::new(&Default::default()),
    }
}

/// A link token expiring at `expires_at` with a random `nonce`.
pub fn issue(key: &[u8], expires_at: i64, nonce: [u8; 16]) -> String {
    let payload = format!("link1|{expires_at}|{}", hex::encode(nonce));
    let mut m = mac(key);
    m.update(payload.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// Verify a link token at `now` (Unix seconds).
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<ConnectLink, LinkError> {
    if token.is_empty() || token.len() > MAX_LEN {
        return Err(LinkError::Malformed);
    }
    let (payload_b64, sig_b64) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| LinkError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| LinkError::Malformed)?;
    let mut m = mac(key);
    m.update(&payload);
    m.verify_slice(&sig).map_err(|_| LinkError::BadSignature)?;
    let text = std::str::from_utf8(&payload).map_err(|_| LinkError::Malformed)?;
    let mut parts = text.split('|');
    let (Some("link1"), Some(expires), Some(nonce), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LinkError::Malformed);
    };
    let expires_at: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    if now >= expires_at {
        return Err(LinkError::Expired);
    }
    Ok(ConnectLink {
        expires_at,
        nonce: nonce.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"link-key-link-key-link-key-link!";

    #[test]
    fn issued_links_verify_until_they_expire() {
        let t = issue(KEY, 2000, [3; 16]);
        assert_eq!(
            verify(KEY, &t, 1999),
            Ok(ConnectLink {
                expires_at: 2000,
                nonce: hex::encode([3u8; 16])
            })
        );
        assert_eq!(verify(KEY, &t, 2000), Err(LinkError::Expired));
        assert_eq!(verify(b"other key", &t, 1000), Err(LinkError::BadSignature));
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
    }

    #[test]
    fn a_state_is_not_a_link() {
        let state = crate::oauth_state::issue(KEY, "default", 1000, [1; 16]);
        assert_eq!(verify(KEY, &state, 1000), Err(LinkError::Malformed));
        let link = issue(KEY, 5000, [1; 16]);
        assert!(crate::oauth_state::verify(KEY, Some(&link), 1000).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_verify_or_panic(t in ".{0,300}") {
            prop_assert!(verify(KEY, &t, 0).is_err());
        }
    }
}
