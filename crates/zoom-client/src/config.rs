//! [`ZoomConfig`]: where Zoom is and which app talks to it (docs/design.md,
//! "Configuration": `ZOOM_API_URL`, `ZOOM_OAUTH_URL`, `ZOOM_CLIENT_ID`,
//! `ZOOM_CLIENT_SECRET`, `ZOOM_RECORDING_TOKEN_PATH`).

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

/// Zoom's REST base (`ZOOM_API_URL`).
pub const DEFAULT_API_URL: &str = "https://api.zoom.us/v2";
/// Zoom's OAuth base (`ZOOM_OAUTH_URL`); `/authorize` and `/token` lie below it.
pub const DEFAULT_OAUTH_URL: &str = "https://zoom.us/oauth";
/// The REST path that mints the recording token (`ZOOM_RECORDING_TOKEN_PATH`).
///
/// The closed-beta 3rd-party recording token's path is not public
/// (docs/zoom.md §7), so it is a setting; the default is the local-recording
/// join token, which the same SDK parameter (`app_privilege_token`) takes.
/// `{meetingId}` is replaced by the meeting number.
pub const DEFAULT_RECORDING_TOKEN_PATH: &str = "/meetings/{meetingId}/jointoken/local_recording";
/// The placeholder in [`ZoomConfig::recording_token_path`].
pub const MEETING_ID_PLACEHOLDER: &str = "{meetingId}";
/// Whole-request timeout (connect, send, wait, read the body).
///
/// Bots ask for a token right before joining and give up within seconds;
/// the join request's default deadline is 30 s, and a caller may retry once
/// after a refresh, so one attempt must stay well inside it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Zoom is, and the OAuth app's credentials.
#[derive(Clone)]
pub struct ZoomConfig {
    /// REST base, e.g. [`DEFAULT_API_URL`] or the simulator's `http://…/v2`.
    pub api_url: String,
    /// OAuth base, e.g. [`DEFAULT_OAUTH_URL`] or the simulator's `http://…/oauth`.
    pub oauth_url: String,
    /// The app's OAuth client ID.
    pub client_id: String,
    /// The app's OAuth client secret (never logged).
    pub client_secret: SecretString,
    /// REST path of the recording token, relative to `api_url`, with
    /// [`MEETING_ID_PLACEHOLDER`]; see [`DEFAULT_RECORDING_TOKEN_PATH`].
    pub recording_token_path: String,
    /// Whole-request timeout; see [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
}

impl ZoomConfig {
    /// Zoom's production URLs, the default recording-token path and timeout.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        ZoomConfig {
            api_url: DEFAULT_API_URL.to_owned(),
            oauth_url: DEFAULT_OAUTH_URL.to_owned(),
            client_id: client_id.into(),
            client_secret,
            recording_token_path: DEFAULT_RECORDING_TOKEN_PATH.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for ZoomConfig {
    // Hand-written so the secret's presence is visible but its value is not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoomConfig")
            .field("api_url", &self.api_url)
            .field("oauth_url", &self.oauth_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("recording_token_path", &self.recording_token_path)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = ZoomConfig::new("cid", SecretString::from("s3cr3t-value"));
        assert_eq!(c.api_url, "https://api.zoom.us/v2");
        assert_eq!(c.oauth_url, "https://zoom.us/oauth");
        assert_eq!(
            c.recording_token_path,
            "/meetings/{meetingId}/jointoken/local_recording"
        );
        assert_eq!(c.timeout, Duration::from_secs(10));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        assert!(dbg.contains("<redacted>") && dbg.contains("cid"), "{dbg}");
    }
}
