//! The parts of the ingress that need the store: the OAuth connect flow,
//! the admin API and the HTTP join endpoints. Each is off (404) until its
//! settings are given.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rectoken_store::Store;
use rectoken_vault::Vault;
use rectoken_zoom::ZoomClient;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Everything the OAuth, admin and join handlers share.
pub struct Services {
    /// Shared state.
    pub store: Arc<dyn Store>,
    /// Credential vault.
    pub vault: Vault,
    /// Zoom client of the default app.
    pub zoom: ZoomClient,
    /// External base URL, for the OAuth `redirect_uri`.
    pub public_url: String,
    /// Key signing the OAuth `state` (derived from the encryption key).
    pub state_key: [u8; 32],
    /// Whether the default app is user-managed (credentials per user).
    pub user_level: bool,
    /// Bearer token of the admin API (`None`: admin API off).
    pub admin_token: Option<SecretString>,
    /// Key of the HTTP join endpoints (`None`: join endpoints off).
    pub join_key: Option<SecretString>,
    /// Longest an HTTP join waits for its reply when the request names no
    /// deadline.
    pub join_timeout: Duration,
    /// attendee's and Recall.ai's token callbacks (secrets, ZAK switch).
    pub callbacks: crate::callbacks::Callbacks,
}

impl Services {
    /// Forget an account: its record, its credentials and its mappings
    /// (the admin API's `DELETE` and the console's disconnect). Returns how
    /// many mappings were removed.
    pub async fn forget_account(
        &self,
        account_id: &str,
    ) -> Result<u64, rectoken_store::StoreError> {
        self.store.delete_account(account_id).await?;
        self.store.purge_account_mappings(account_id).await
    }

    /// The OAuth callback URL Zoom redirects to.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/zoom/oauth/callback",
            self.public_url.trim_end_matches('/')
        )
    }
}

/// Derive the OAuth state key from the encryption key, so no extra secret
/// needs configuring and the encryption key itself never signs anything.
pub fn derive_state_key(encryption_key: &[u8; 32]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(encryption_key) {
        Ok(m) => m,
        Err(_) => Hmac::<Sha256>::new(&Default::default()),
    };
    mac.update(b"rectoken oauth state v1");
    mac.finalize().into_bytes().into()
}

/// Compare a presented secret with the configured one in constant time.
///
/// An empty secret never matches, on either side: a Kubernetes Secret key
/// that is present but empty (or a client that sends `Bearer ` with
/// nothing after it) must not turn a feature on for everyone. Start-up
/// refuses empty settings too; this is the second fence.
pub fn secret_matches(presented: &str, expected: &SecretString) -> bool {
    let expected = expected.expose_secret().as_bytes();
    if presented.is_empty() || expected.is_empty() {
        return false;
    }
    // `ct_eq` on slices of different lengths returns false without leaking
    // where they differ; the length itself is not secret.
    bool::from(presented.as_bytes().ct_eq(expected))
}

/// The bearer token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        let s = SecretString::from("abc".to_owned());
        assert!(secret_matches("abc", &s));
        assert!(!secret_matches("abd", &s));
        assert!(!secret_matches("ab", &s));
        assert!(!secret_matches("", &s));
    }

    #[test]
    fn empty_secrets_never_match() {
        let empty = SecretString::from(String::new());
        assert!(!secret_matches("", &empty));
        assert!(!secret_matches("x", &empty));
        // A blank configured value trims to nothing in `bearer`, so the
        // presented side is empty too.
        let blank = SecretString::from(" ".to_owned());
        assert!(!secret_matches("", &blank));
    }

    #[test]
    fn state_key_is_derived_not_copied() {
        let k = [7u8; 32];
        assert_ne!(derive_state_key(&k), k);
        assert_eq!(derive_state_key(&k), derive_state_key(&k));
    }

    #[test]
    fn bearer_parsing() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&h), Some("tok"));
        h.insert("authorization", "Basic x".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
