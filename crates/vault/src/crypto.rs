//! AES-256-GCM sealing of credentials.
//!
//! Each ciphertext is stored with the ID of the key that sealed it and a
//! fresh random 96-bit nonce. The key ID is the first 8 bytes (hex) of
//! SHA-256 over the key, so operators configure keys only, never IDs. The
//! *associated data* binds a ciphertext to its account: a blob copied to
//! another account's record does not open.
//!
//! Rotation: configure the new key as `RECTOKEN_ENCRYPTION_KEY` and the old
//! one as `RECTOKEN_ENCRYPTION_KEY_OLD`; everything reads with either and
//! writes with the new one, so each account moves over on its next refresh.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

/// Errors of sealing and opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A configured key is not 32 bytes of base64.
    #[error("{0}")]
    BadKey(String),
    /// No configured key has this ID (rotated away without the old key).
    #[error("no configured key has ID {0}; configure it as RECTOKEN_ENCRYPTION_KEY_OLD")]
    UnknownKey(String),
    /// The ciphertext, nonce or associated data do not authenticate.
    #[error("ciphertext does not authenticate (wrong key, altered, or another account's)")]
    Tampered,
}

/// A sealed value: what the store keeps (the store's own type).
pub use rectoken_store::Sealed as SealedBox;

struct KeyEntry {
    id: String,
    cipher: Aes256Gcm,
}

/// The configured keys: one current (seals and opens), older ones (open).
pub struct Keyring {
    current: KeyEntry,
    older: Vec<KeyEntry>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "older",
                &self.older.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Decode a base64 key of exactly 32 bytes.
pub fn decode_key(b64: &SecretString, variable: &str) -> Result<SecretBox<[u8; 32]>, CryptoError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.expose_secret().trim())
        .map_err(|_| {
            CryptoError::BadKey(format!(
                "{variable} is not valid base64 (generate one with `openssl rand -base64 32`)"
            ))
        })?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        CryptoError::BadKey(format!(
            "{variable} decodes to {} bytes; it must be 32 (generate one with `openssl rand -base64 32`)",
            bytes.len()
        ))
    })?;
    Ok(SecretBox::new(Box::new(key)))
}

/// The ID of a key: 16 hex digits of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

fn entry(key: &SecretBox<[u8; 32]>) -> KeyEntry {
    let raw = key.expose_secret();
    KeyEntry {
        id: key_id(raw),
        cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(raw)),
    }
}

impl Keyring {
    /// A keyring with a current key and optional older keys for reading.
    pub fn new(current: &SecretBox<[u8; 32]>, older: &[SecretBox<[u8; 32]>]) -> Self {
        Self {
            current: entry(current),
            older: older.iter().map(entry).collect(),
        }
    }

    /// From the base64 settings `RECTOKEN_ENCRYPTION_KEY` and
    /// `RECTOKEN_ENCRYPTION_KEY_OLD`.
    pub fn from_base64(
        current: &SecretString,
        old: Option<&SecretString>,
    ) -> Result<Self, CryptoError> {
        let current = decode_key(current, "RECTOKEN_ENCRYPTION_KEY")?;
        let older = match old {
            Some(o) => vec![decode_key(o, "RECTOKEN_ENCRYPTION_KEY_OLD")?],
            None => Vec::new(),
        };
        Ok(Self::new(&current, &older))
    }

    /// The current key's ID.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seal `plaintext` for `context` (the account ID) with the current key.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> SealedBox {
        let nonce: [u8; 12] = rand::random();
        // Encryption with a valid key and nonce cannot fail for inputs under
        // GCM's 64 GiB limit; credentials are a few KiB.
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        SealedBox {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Open a sealed value for `context` with whichever key sealed it.
    pub fn open(&self, sealed: &SealedBox, context: &str) -> Result<Vec<u8>, CryptoError> {
        let key = std::iter::once(&self.current)
            .chain(self.older.iter())
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Tampered);
        }
        key.cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// Whether `sealed` was made with an older key (re-seal it on next write).
    pub fn is_stale(&self, sealed: &SealedBox) -> bool {
        sealed.key_id != self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretBox<[u8; 32]> {
        SecretBox::new(Box::new([b; 32]))
    }

    #[test]
    fn seal_open_round_trip_and_no_plaintext() {
        let ring = Keyring::new(&key(1), &[]);
        let secret = b"refresh-token-abcdef";
        let sealed = ring.seal(secret, "acct-1");
        assert_eq!(sealed.key_id, key_id(&[1; 32]));
        assert_eq!(sealed.nonce.len(), 12);
        assert!(!sealed.ciphertext.windows(secret.len()).any(|w| w == secret));
        assert_eq!(ring.open(&sealed, "acct-1").unwrap(), secret);
        // Fresh nonce each time.
        assert_ne!(ring.seal(secret, "acct-1").nonce, sealed.nonce);
    }

    #[test]
    fn bound_to_account_and_tamper_evident() {
        let ring = Keyring::new(&key(1), &[]);
        let sealed = ring.seal(b"x", "acct-1");
        assert_eq!(ring.open(&sealed, "acct-2"), Err(CryptoError::Tampered));
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(ring.open(&altered, "acct-1"), Err(CryptoError::Tampered));
        let mut short_nonce = sealed;
        short_nonce.nonce.pop();
        assert_eq!(
            ring.open(&short_nonce, "acct-1"),
            Err(CryptoError::Tampered)
        );
    }

    #[test]
    fn rotation_reads_old_writes_new() {
        let old_ring = Keyring::new(&key(1), &[]);
        let sealed_old = old_ring.seal(b"tok", "a");
        let rotated = Keyring::new(&key(2), &[key(1)]);
        assert_eq!(rotated.open(&sealed_old, "a").unwrap(), b"tok");
        assert!(rotated.is_stale(&sealed_old));
        let resealed = rotated.seal(b"tok", "a");
        assert!(!rotated.is_stale(&resealed));
        assert_eq!(
            old_ring.open(&resealed, "a"),
            Err(CryptoError::UnknownKey(key_id(&[2; 32])))
        );
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        use base64::engine::general_purpose::STANDARD;
        let ok = SecretString::from(STANDARD.encode([9u8; 32]));
        assert!(Keyring::from_base64(&ok, None).is_ok());
        let short = SecretString::from(STANDARD.encode([9u8; 16]));
        let err = Keyring::from_base64(&short, None).unwrap_err();
        assert!(err.to_string().contains("16 bytes"), "{err}");
        let bad = SecretString::from("***".to_owned());
        assert!(
            Keyring::from_base64(&ok, Some(&bad))
                .unwrap_err()
                .to_string()
                .contains("_OLD")
        );
        assert!(!format!("{:?}", Keyring::from_base64(&ok, None).unwrap()).contains("CQkJ"));
    }
}
