//! Proof of origin for messages on the sync queues.
//!
//! The ingress verifies Zoom's signature, but past it a webhook event is a
//! message on `rectoken.sync` like any other: anyone who can publish there
//! could forge an `app_deauthorized`. So every rectoken role that publishes
//! an event or a sync job adds [`ORIGIN_HEADER`], an HMAC-SHA256 over the
//! message's app header and body, and the sync worker applies only messages
//! whose MAC verifies. The body stays Zoom's JSON unchanged (the contract).
//!
//! The key is derived from `RECTOKEN_ENCRYPTION_KEY`, which every role
//! already holds and bots never do, with a fixed label (HMAC as a KDF), so
//! no new setting and the encryption key itself never signs anything.
//! During a key rotation the previous key's MAC is accepted too.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The AMQP header carrying the MAC: `v1=<64 lowercase hex digits>`.
pub const ORIGIN_HEADER: &str = "x-rectoken-origin";

const SCHEME: &str = "v1=";
const LABEL: &[u8] = b"rectoken message origin v1";

/// Why a message's origin could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// No [`ORIGIN_HEADER`]: not published by a rectoken role.
    #[error("unsigned: no {ORIGIN_HEADER} header (not published by rectoken)")]
    Missing,
    /// The header is not `v1=` and 64 hex digits.
    #[error("{ORIGIN_HEADER} is not of the form v1=<64 hex digits>")]
    Malformed,
    /// The MAC does not match (forged, altered, or another deployment's key).
    #[error("{ORIGIN_HEADER} does not match the message")]
    Mismatch,
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; the fallback keeps this total.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => HmacSha256::new(&Default::default()),
    }
}

/// One derived signing key.
#[derive(Clone)]
pub struct OriginKey([u8; 32]);

impl std::fmt::Debug for OriginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginKey(…)")
    }
}

impl OriginKey {
    /// Derive the key from a 32-byte encryption key.
    pub fn derive(encryption_key: &[u8; 32]) -> Self {
        let mut mac = hmac(encryption_key);
        mac.update(LABEL);
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self, app: Option<&str>, body: &[u8]) -> HmacSha256 {
        let app = app.unwrap_or("").as_bytes();
        let mut mac = hmac(&self.0);
        // Length-prefixed, so no app/body split can collide with another.
        mac.update(&u64::try_from(app.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(app);
        mac.update(body);
        mac
    }

    /// The [`ORIGIN_HEADER`] value for a message with this app header
    /// (`None` when it has none) and body.
    pub fn sign(&self, app: Option<&str>, body: &[u8]) -> String {
        format!(
            "{SCHEME}{}",
            hex::encode(self.mac(app, body).finalize().into_bytes())
        )
    }

    fn verify(&self, app: Option<&str>, body: &[u8], provided: &[u8]) -> bool {
        // `verify_slice` compares in constant time.
        self.mac(app, body).verify_slice(provided).is_ok()
    }
}

/// The keys a role signs with and accepts: the current one, and during a
/// rotation the previous one.
#[derive(Debug, Clone)]
pub struct OriginKeys {
    current: OriginKey,
    previous: Option<OriginKey>,
}

impl OriginKeys {
    /// From the encryption key and, during a rotation, the previous one.
    pub fn new(encryption_key: &[u8; 32], previous: Option<&[u8; 32]>) -> Self {
        Self {
            current: OriginKey::derive(encryption_key),
            previous: previous.map(OriginKey::derive),
        }
    }

    /// Sign with the current key.
    pub fn sign(&self, app: Option<&str>, body: &[u8]) -> String {
        self.current.sign(app, body)
    }

    /// Verify `header` (the [`ORIGIN_HEADER`] value, if any) against the
    /// message's app header and body.
    pub fn verify(
        &self,
        app: Option<&str>,
        body: &[u8],
        header: Option<&str>,
    ) -> Result<(), OriginError> {
        let header = header.ok_or(OriginError::Missing)?;
        let hex_part = header
            .trim()
            .strip_prefix(SCHEME)
            .ok_or(OriginError::Malformed)?;
        if hex_part.len() != 64 {
            return Err(OriginError::Malformed);
        }
        let provided = hex::decode(hex_part).map_err(|_| OriginError::Malformed)?;
        let ok = self.current.verify(app, body, &provided)
            || self
                .previous
                .as_ref()
                .is_some_and(|k| k.verify(app, body, &provided));
        if ok {
            Ok(())
        } else {
            Err(OriginError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BODY: &[u8] = br#"{"event":"app_deauthorized","payload":{"account_id":"A"}}"#;

    fn keys() -> OriginKeys {
        OriginKeys::new(&[1u8; 32], None)
    }

    #[test]
    fn signed_message_verifies() {
        let k = keys();
        let sig = k.sign(Some("default"), BODY);
        assert!(sig.starts_with("v1=") && sig.len() == 67, "{sig}");
        assert_eq!(k.verify(Some("default"), BODY, Some(&sig)), Ok(()));
    }

    #[test]
    fn known_vector_computed_independently() {
        // Python: k = hmac.new(bytes([1]*32), b"rectoken message origin v1",
        // sha256).digest(); hmac.new(k, (7).to_bytes(8, "big") + b"default"
        // + b"{}", sha256).hexdigest()
        assert_eq!(
            keys().sign(Some("default"), b"{}"),
            "v1=2c3c3b944be9b7efaea4adf22bde6c6a508a42a8e06814cf0831596685446bb6"
        );
    }

    #[test]
    fn unsigned_forged_or_altered_messages_fail() {
        let k = keys();
        assert_eq!(k.verify(None, BODY, None), Err(OriginError::Missing));
        assert_eq!(
            k.verify(None, BODY, Some("v1=zz")),
            Err(OriginError::Malformed)
        );
        assert_eq!(
            k.verify(None, BODY, Some(&format!("v0={}", "0".repeat(64)))),
            Err(OriginError::Malformed)
        );
        let sig = k.sign(Some("default"), BODY);
        // Another body, another app, another deployment's key.
        assert_eq!(
            k.verify(Some("default"), b"{}", Some(&sig)),
            Err(OriginError::Mismatch)
        );
        assert_eq!(
            k.verify(Some("other"), BODY, Some(&sig)),
            Err(OriginError::Mismatch)
        );
        assert_eq!(
            OriginKeys::new(&[2u8; 32], None).verify(Some("default"), BODY, Some(&sig)),
            Err(OriginError::Mismatch)
        );
        // The app and the body cannot trade bytes.
        let a = k.sign(Some("ab"), b"c");
        assert_eq!(
            k.verify(Some("a"), b"bc", Some(&a)),
            Err(OriginError::Mismatch)
        );
    }

    #[test]
    fn previous_key_is_accepted_during_rotation() {
        let old = OriginKeys::new(&[1u8; 32], None);
        let rotated = OriginKeys::new(&[2u8; 32], Some(&[1u8; 32]));
        let sig = old.sign(None, BODY);
        assert_eq!(rotated.verify(None, BODY, Some(&sig)), Ok(()));
        // and signs with the new one, which the old keys refuse.
        let new_sig = rotated.sign(None, BODY);
        assert_ne!(new_sig, sig);
        assert_eq!(
            old.verify(None, BODY, Some(&new_sig)),
            Err(OriginError::Mismatch)
        );
    }

    #[test]
    fn derived_key_is_not_the_encryption_key() {
        let k = OriginKey::derive(&[9u8; 32]);
        assert_ne!(k.0, [9u8; 32]);
        assert!(!format!("{k:?}").contains('9'));
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_verify_or_panic(header in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(keys().verify(None, &body, Some(&header)).is_err());
        }
    }
}
