//! Who may call the token callbacks: attendee's and Recall.ai's request
//! signatures, checked before anything is minted.
//!
//! - **attendee** (`POST /attendee/zoom-tokens`): header
//!   `X-Webhook-Signature` = base64 of HMAC-SHA256, keyed with the
//!   project's webhook secret (32 random bytes, shown base64 in attendee's
//!   UI), over the payload re-serialized by
//!   `json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`
//!   (attendee-labs/attendee `bots/webhook_utils.py::sign_payload`); see
//!   [`crate::pyjson`]. No timestamp is signed, so a captured request can be
//!   replayed; it can only mint tokens for the same meeting and sender
//!   again, and the route answers them to the caller only.
//! - **Recall.ai** (`GET /zoom/join-token`, `/zoom/obf-token`, `/zoom/zak`):
//!   Standard Webhooks: headers `webhook-id`, `webhook-timestamp` (Unix
//!   seconds), `webhook-signature` = space-separated `v1,<base64>` entries,
//!   HMAC-SHA256 keyed with the base64-decoded part of the `whsec_…`
//!   secret over `"{id}.{timestamp}.{body}"`, the body empty for a GET
//!   (recallai/sample-apps `verify_requests_from_recall`). The `svix-*`
//!   header names are accepted too, as Recall's sample does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// How far `webhook-timestamp` may be from our clock, either way (Standard
/// Webhooks' recommended tolerance; Recall documents none).
pub const RECALL_TOLERANCE_SECS: i64 = 5 * 60;

/// Prefix of a Standard Webhooks secret.
pub const WHSEC_PREFIX: &str = "whsec_";

/// A secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    /// Not base64, or empty.
    #[error("{name} is not non-empty base64 (copy it exactly as {shown_by} shows it)")]
    NotBase64 {
        /// The variable's name.
        name: &'static str,
        /// Who shows the secret.
        shown_by: &'static str,
    },
    /// A Recall secret without the `whsec_` prefix.
    #[error(
        "RECTOKEN_RECALL_SECRET must start with \"whsec_\" (Recall.ai's workspace verification secret)"
    )]
    NotWhsec,
}

/// Why a callback request is refused. [`CallbackAuthError::is_malformed`]
/// says which are the caller's bad input (400) rather than a missing or
/// wrong credential (401).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackAuthError {
    /// No signature header (and no key).
    #[error("missing signature")]
    MissingSignature,
    /// A signature header that is not base64 / not `v1,…`.
    #[error("malformed signature header")]
    MalformedSignature,
    /// The signature does not match.
    #[error("signature does not match")]
    BadSignature,
    /// `webhook-id` or `webhook-timestamp` missing.
    #[error("missing webhook-id or webhook-timestamp")]
    MissingHeaders,
    /// `webhook-timestamp` is not an integer.
    #[error("webhook-timestamp is not Unix seconds")]
    MalformedTimestamp,
    /// `webhook-timestamp` is outside the tolerance.
    #[error(
        "webhook-timestamp is {skew_secs} s away from now (tolerance {RECALL_TOLERANCE_SECS} s)"
    )]
    StaleTimestamp {
        /// Request time minus our time.
        skew_secs: i64,
    },
    /// The body is not JSON Python would read (attendee could not have
    /// signed it).
    #[error("body is not valid JSON: {0}")]
    MalformedBody(crate::pyjson::PyJsonError),
}

impl CallbackAuthError {
    /// Whether the request is malformed (400) rather than unauthenticated (401).
    pub fn is_malformed(&self) -> bool {
        matches!(self, CallbackAuthError::MalformedBody(_))
    }
}

/// Decodes `RECTOKEN_ATTENDEE_SECRET`: base64, as attendee shows it.
pub fn attendee_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let bytes = STANDARD
        .decode(secret.trim())
        .ok()
        .filter(|b| !b.is_empty());
    bytes.ok_or(SecretError::NotBase64 {
        name: "RECTOKEN_ATTENDEE_SECRET",
        shown_by: "attendee's project settings",
    })
}

/// Decodes `RECTOKEN_RECALL_SECRET`: `whsec_` and base64.
pub fn recall_key(secret: &str) -> Result<Vec<u8>, SecretError> {
    let rest = secret
        .trim()
        .strip_prefix(WHSEC_PREFIX)
        .ok_or(SecretError::NotWhsec)?;
    STANDARD
        .decode(rest)
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or(SecretError::NotBase64 {
            name: "RECTOKEN_RECALL_SECRET",
            shown_by: "Recall.ai's dashboard",
        })
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => HmacSha256::new(&Default::default()),
    }
}

/// attendee's `X-Webhook-Signature` for a canonical payload text.
pub fn attendee_signature(key: &[u8], canonical: &str) -> String {
    let mut m = mac(key);
    m.update(canonical.as_bytes());
    STANDARD.encode(m.finalize().into_bytes())
}

/// Checks attendee's signature over `body` and returns the parsed payload.
///
/// The body is parsed as Python would and re-serialized canonically; the
/// comparison is constant-time.
pub fn verify_attendee(
    key: &[u8],
    body: &[u8],
    signature: Option<&str>,
) -> Result<crate::pyjson::PyValue, CallbackAuthError> {
    let signature = signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(CallbackAuthError::MissingSignature)?;
    let presented = STANDARD
        .decode(signature)
        .map_err(|_| CallbackAuthError::MalformedSignature)?;
    let payload = crate::pyjson::parse(body).map_err(CallbackAuthError::MalformedBody)?;
    let mut m = mac(key);
    m.update(payload.to_canonical().as_bytes());
    m.verify_slice(&presented)
        .map_err(|_| CallbackAuthError::BadSignature)?;
    Ok(payload)
}

/// The Standard Webhooks headers of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardHeaders<'a> {
    /// `webhook-id` (or `svix-id`).
    pub id: Option<&'a str>,
    /// `webhook-timestamp` (or `svix-timestamp`).
    pub timestamp: Option<&'a str>,
    /// `webhook-signature` (or `svix-signature`).
    pub signature: Option<&'a str>,
}

impl StandardHeaders<'_> {
    /// Whether the request carries any of the headers (then it must verify;
    /// without them a `key` may stand in).
    pub fn present(&self) -> bool {
        self.id.is_some() || self.timestamp.is_some() || self.signature.is_some()
    }
}

/// The `webhook-signature` value (one `v1,` entry) Recall would send.
pub fn standard_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    format!("v1,{}", STANDARD.encode(m.finalize().into_bytes()))
}

/// Verifies a Standard Webhooks signed request at `now` (Unix seconds).
pub fn verify_standard(
    key: &[u8],
    headers: StandardHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), CallbackAuthError> {
    let signature = headers
        .signature
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(CallbackAuthError::MissingSignature)?;
    let (Some(id), Some(timestamp)) = (headers.id, headers.timestamp) else {
        return Err(CallbackAuthError::MissingHeaders);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| CallbackAuthError::MalformedTimestamp)?;
    let skew = ts.saturating_sub(now);
    if skew.abs() > RECALL_TOLERANCE_SECS {
        return Err(CallbackAuthError::StaleTimestamp { skew_secs: skew });
    }
    let mut any_v1 = false;
    for entry in signature.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, sig)) = entry.split_once(',') else {
            continue;
        };
        if version != "v1" {
            continue;
        }
        any_v1 = true;
        let Ok(presented) = STANDARD.decode(sig) else {
            continue;
        };
        let mut m = mac(key);
        m.update(id.as_bytes());
        m.update(b".");
        m.update(timestamp.as_bytes());
        m.update(b".");
        m.update(body);
        if m.verify_slice(&presented).is_ok() {
            return Ok(());
        }
    }
    Err(if any_v1 {
        CallbackAuthError::BadSignature
    } else {
        CallbackAuthError::MalformedSignature
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// From attendee's own code (Python 3.11, requests 2.34.2):
    /// `sign_payload(payload, base64.b64decode(SECRET))` for the payload
    /// whose `requests.post(json=payload)` body is `BODY`.
    const SECRET_B64: &str = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";

    #[test]
    fn attendee_keys() {
        assert_eq!(attendee_key(SECRET_B64).unwrap().len(), 32);
        assert_eq!(attendee_key(&format!(" {SECRET_B64}\n")).unwrap().len(), 32);
        assert!(attendee_key("").is_err());
        assert!(attendee_key("not base64!").is_err());
    }

    #[test]
    fn recall_keys() {
        let key = recall_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key,
            STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
        );
        assert_eq!(
            recall_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::NotWhsec)
        );
        assert!(matches!(
            recall_key("whsec_"),
            Err(SecretError::NotBase64 { .. })
        ));
        assert!(matches!(
            recall_key("whsec_!!"),
            Err(SecretError::NotBase64 { .. })
        ));
    }

    #[test]
    fn attendee_signature_over_canonical_form() {
        let key = attendee_key(SECRET_B64).unwrap();
        let body = br#"{"bot_id": "bot_1", "bot_metadata": {"zoom_user": "j\u00fcrgen@example.com", "a": "1"}, "callback_type": "zoom_tokens", "meeting_url": "https://zoom.us/j/85012345678"}"#;
        let canonical = crate::pyjson::canonical(body).unwrap();
        let sig = attendee_signature(&key, &canonical);
        let payload = verify_attendee(&key, body, Some(&sig)).unwrap();
        assert_eq!(
            payload
                .get("bot_metadata")
                .and_then(|m| m.get("zoom_user"))
                .and_then(|v| v.as_str()),
            Some("jürgen@example.com")
        );
        // Signing the raw body instead is not attendee's signature.
        let raw_sig = attendee_signature(&key, std::str::from_utf8(body).unwrap());
        assert_eq!(
            verify_attendee(&key, body, Some(&raw_sig)),
            Err(CallbackAuthError::BadSignature)
        );
        assert_eq!(
            verify_attendee(&key, body, None),
            Err(CallbackAuthError::MissingSignature)
        );
        assert_eq!(
            verify_attendee(&key, body, Some("  ")),
            Err(CallbackAuthError::MissingSignature)
        );
        assert_eq!(
            verify_attendee(&key, body, Some("***")),
            Err(CallbackAuthError::MalformedSignature)
        );
        assert_eq!(
            verify_attendee(b"other key", body, Some(&sig)),
            Err(CallbackAuthError::BadSignature)
        );
        let e = verify_attendee(&key, b"{oops", Some(&sig)).unwrap_err();
        assert!(e.is_malformed(), "{e:?}");
        assert!(!CallbackAuthError::BadSignature.is_malformed());
        // A tampered value fails.
        let tampered = br#"{"bot_id": "bot_2", "bot_metadata": {"zoom_user": "j\u00fcrgen@example.com", "a": "1"}, "callback_type": "zoom_tokens", "meeting_url": "https://zoom.us/j/85012345678"}"#;
        assert_eq!(
            verify_attendee(&key, tampered, Some(&sig)),
            Err(CallbackAuthError::BadSignature)
        );
        // Reordering keys and whitespace does not change the signature.
        let reordered = r#"{"meeting_url":"https://zoom.us/j/85012345678","callback_type":"zoom_tokens","bot_metadata":{"a":"1","zoom_user":"jürgen@example.com"},"bot_id":"bot_1"}"#;
        assert!(verify_attendee(&key, reordered.as_bytes(), Some(&sig)).is_ok());
    }

    /// attendee's real request: this body is what `requests.post(url,
    /// json=payload)` sends and the signature what attendee's
    /// `sign_payload(payload, base64.b64decode(SECRET_B64))` computes
    /// (Python 3.11, requests 2.34.2); CANONICAL is its
    /// `json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`.
    const PY_BODY: &[u8] = br#"{"bot_id": "bot_3kfL9xQzW1", "bot_metadata": {"zoom_user": "sender@example.com", "team": "Z\u00fcrich \u2014 Ops \u2615", "note": "line\nbreak \"q\" \\ tab\t", "nested": {"b": 1, "a": [1.5, null, true, 1e+16]}}, "callback_type": "zoom_tokens", "meeting_url": "https://us05web.zoom.us/j/85012345678?pwd=aBcD.1"}"#;
    const PY_SIG: &str = "86DWviBw8piRNJ2l/x8EnVkhMdztGDBybZ6E6mNIJlQ=";
    const PY_CANONICAL: &str = "{\"bot_id\":\"bot_3kfL9xQzW1\",\"bot_metadata\":{\"nested\":{\"a\":[1.5,null,true,1e+16],\"b\":1},\"note\":\"line\\nbreak \\\"q\\\" \\\\ tab\\t\",\"team\":\"Zürich — Ops ☕\",\"zoom_user\":\"sender@example.com\"},\"callback_type\":\"zoom_tokens\",\"meeting_url\":\"https://us05web.zoom.us/j/85012345678?pwd=aBcD.1\"}";

    #[test]
    fn attendee_real_request_verifies() {
        assert_eq!(crate::pyjson::canonical(PY_BODY).unwrap(), PY_CANONICAL);
        let key = attendee_key(SECRET_B64).unwrap();
        assert_eq!(attendee_signature(&key, PY_CANONICAL), PY_SIG);
        assert!(verify_attendee(&key, PY_BODY, Some(PY_SIG)).is_ok());
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> StandardHeaders<'a> {
        StandardHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn standard_webhooks() {
        let key = recall_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let now = 1_764_410_400;
        let ts = now.to_string();
        let sig = standard_signature(&key, "msg_1", &ts, b"");
        assert!(sig.starts_with("v1,"));
        assert_eq!(
            verify_standard(&key, headers("msg_1", &ts, &sig), b"", now),
            Ok(())
        );
        // Among several signatures, one match is enough.
        let several = format!("v1,AAAA {sig} v2,zzz");
        assert_eq!(
            verify_standard(&key, headers("msg_1", &ts, &several), b"", now),
            Ok(())
        );
        // The id, timestamp and body are all signed.
        assert_eq!(
            verify_standard(&key, headers("msg_2", &ts, &sig), b"", now),
            Err(CallbackAuthError::BadSignature)
        );
        assert_eq!(
            verify_standard(&key, headers("msg_1", &ts, &sig), b"x", now),
            Err(CallbackAuthError::BadSignature)
        );
        // Tolerance: 5 minutes either way.
        for (skew, ok) in [(-300, true), (300, true), (-301, false), (301, false)] {
            let t = (now + skew).to_string();
            let s = standard_signature(&key, "m", &t, b"");
            let r = verify_standard(&key, headers("m", &t, &s), b"", now);
            assert_eq!(r.is_ok(), ok, "{skew}: {r:?}");
            if !ok {
                assert_eq!(
                    r,
                    Err(CallbackAuthError::StaleTimestamp { skew_secs: skew })
                );
            }
        }
        assert_eq!(
            verify_standard(&key, headers("m", "soon", &sig), b"", now),
            Err(CallbackAuthError::MalformedTimestamp)
        );
        assert_eq!(
            verify_standard(&key, headers("m", &ts, "v2,abc"), b"", now),
            Err(CallbackAuthError::MalformedSignature)
        );
        assert_eq!(
            verify_standard(&key, headers("m", &ts, "garbage"), b"", now),
            Err(CallbackAuthError::MalformedSignature)
        );
        assert_eq!(
            verify_standard(&key, headers("m", &ts, "v1,***"), b"", now),
            Err(CallbackAuthError::BadSignature)
        );
        assert_eq!(
            verify_standard(&key, StandardHeaders::default(), b"", now),
            Err(CallbackAuthError::MissingSignature)
        );
        assert!(!StandardHeaders::default().present());
        let only_sig = StandardHeaders {
            signature: Some(&sig),
            ..StandardHeaders::default()
        };
        assert!(only_sig.present());
        assert_eq!(
            verify_standard(&key, only_sig, b"", now),
            Err(CallbackAuthError::MissingHeaders)
        );
        assert_eq!(
            verify_standard(b"wrong", headers("msg_1", &ts, &sig), b"", now),
            Err(CallbackAuthError::BadSignature)
        );
    }
}
