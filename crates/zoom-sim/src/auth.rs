//! OAuth state: authorization codes, grants, access and refresh tokens
//! (docs/zoom.md §4), kept free of HTTP.
//!
//! A *grant* is one authorization of the app by one Zoom user; its tokens act
//! for the whole account (`account` app) or for that user only (`user` app).
//! Deauthorizing revokes grants, which kills their access and refresh tokens.

use std::collections::HashMap;

use serde::Serialize;

use crate::config::AppKind;

/// Lifetime of a refresh token. UNCONFIRMED (docs/zoom.md §4: Zoom's support
/// article says 15 years, third parties ~90 days). The simulator uses 90
/// days: a client that stays connected under 90 days also does under 15
/// years, not the other way round.
pub const REFRESH_TOKEN_TTL_MS: u64 = 90 * 24 * 3600 * 1000;

/// Body and status Zoom answers when a refresh token is unknown, already
/// rotated, expired or revoked. UNCONFIRMED beyond the "Invalid Token!" text
/// (docs/zoom.md §4): the `error` value is `invalid_grant` (RFC 6749 §5.2),
/// the value clients such as attendee treat as "disconnected".
pub const INVALID_REFRESH_TOKEN_BODY: &str =
    r#"{"reason":"Invalid Token!","error":"invalid_grant"}"#;
/// HTTP status of [`INVALID_REFRESH_TOKEN_BODY`].
pub const INVALID_REFRESH_TOKEN_STATUS: u16 = 400;

/// How the token endpoint answers a dead refresh token. Zoom's answer is
/// 400 `invalid_grant` "Invalid Token!" today; 401 and `invalid_request`
/// variants are reported in the wild (issue 14, docs/zoom.md "Errors seen
/// in the wild"), so a client must treat each as "disconnected".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadTokenAnswer {
    /// 400 `{"reason":"Invalid Token!","error":"invalid_grant"}`.
    #[default]
    InvalidGrant,
    /// 401 `{"reason":"Invalid Token!","error":"invalid_grant"}`.
    InvalidGrant401,
    /// 400 `{"reason":"Invalid Token!","error":"invalid_request"}`.
    InvalidRequest,
    /// 401 `{"reason":"Invalid Token!"}` (no `error` field).
    ReasonOnly401,
}

impl DeadTokenAnswer {
    /// Status and body.
    #[must_use]
    pub fn answer(self) -> (u16, String) {
        match self {
            Self::InvalidGrant => (
                INVALID_REFRESH_TOKEN_STATUS,
                INVALID_REFRESH_TOKEN_BODY.to_owned(),
            ),
            Self::InvalidGrant401 => (401, INVALID_REFRESH_TOKEN_BODY.to_owned()),
            Self::InvalidRequest => (
                400,
                r#"{"reason":"Invalid Token!","error":"invalid_request"}"#.to_owned(),
            ),
            Self::ReasonOnly401 => (401, r#"{"reason":"Invalid Token!"}"#.to_owned()),
        }
    }
}

/// A grant of the app by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Simulator-internal ID.
    pub id: u64,
    /// Account that authorized.
    pub account_id: String,
    /// User who authorized.
    pub user_id: String,
    /// App kind at authorization.
    pub kind: AppKind,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Set on deauthorization.
    pub revoked: bool,
}

/// What a code will grant once exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// Account that authorizes.
    pub account_id: String,
    /// User who authorizes.
    pub user_id: String,
    /// App kind.
    pub kind: AppKind,
    /// Scopes.
    pub scopes: Vec<String>,
}

/// The token endpoint's success body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// Bearer token for `/v2`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// The new refresh token (the previous one is dead now).
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Space-separated scopes.
    pub scope: String,
    /// The REST base of the account's cloud, without `/v2` (Zoom's token
    /// responses carry it: `https://api.zoom.us`; issue 14). Set by the
    /// HTTP layer, which knows the simulator's address.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_url: String,
}

/// Why the token endpoint refused (docs/zoom.md §4 error codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// Wrong client ID or secret (4702/4704).
    InvalidClient,
    /// No client credentials in header or body (4706).
    MissingClient,
    /// A required form parameter is absent (4706).
    MissingParam(&'static str),
    /// `grant_type` other than `authorization_code` / `refresh_token` (4705).
    UnsupportedGrantType,
    /// Unknown, used or expired authorization code.
    InvalidCode,
    /// `redirect_uri` differs from the authorize request (4709).
    RedirectMismatch,
    /// Unknown, rotated, expired or revoked refresh token.
    InvalidRefreshToken,
    /// The authorize request had a `code_challenge` and the token request's
    /// `code_verifier` is missing or does not hash to it (RFC 7636 §4.6).
    PkceMismatch,
}

impl OAuthError {
    /// HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient | Self::MissingClient => 401,
            Self::InvalidRefreshToken => INVALID_REFRESH_TOKEN_STATUS,
            _ => 400,
        }
    }

    /// JSON body, in Zoom's `{"reason","error"}` shape.
    #[must_use]
    pub fn body(&self) -> String {
        let (reason, error) = match self {
            Self::InvalidRefreshToken => return INVALID_REFRESH_TOKEN_BODY.to_owned(),
            Self::InvalidClient => ("Invalid client_id or client_secret", "invalid_client"),
            Self::MissingClient => (
                "Missing client_id or client_secret in header or request parameter",
                "invalid_client",
            ),
            Self::MissingParam(p) => {
                return serde_json::json!({"reason": format!("Missing {p}"), "error": "invalid_request"})
                    .to_string();
            }
            Self::UnsupportedGrantType => ("Unsupported grant type", "unsupported_grant_type"),
            // Zoom answers a bad code with `invalid_request`, not the RFC's
            // `invalid_grant` (issue 14: seen in the wild).
            Self::InvalidCode => ("Invalid authorization code", "invalid_request"),
            Self::RedirectMismatch => ("Redirect URI mismatch.", "invalid_request"),
            // Zoom supports PKCE (code_challenge with S256 or plain,
            // code_verifier on the token request; developers.zoom.us blog
            // "pcke-oauth-with-postman-rest-api", docs/integrations/PKCE).
            // UNCONFIRMED: the error body of a wrong verifier; RFC 7636
            // §4.6 says invalid_grant.
            Self::PkceMismatch => (PKCE_MISMATCH_REASON, "invalid_grant"),
        };
        serde_json::json!({"reason": reason, "error": error}).to_string()
    }
}

/// The reason of a refused `code_verifier` (see [`OAuthError::PkceMismatch`]).
pub const PKCE_MISMATCH_REASON: &str = "Invalid code_verifier";

/// A PKCE challenge of an authorize request (RFC 7636).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeChallenge {
    /// `code_challenge_method=S256`: base64url(SHA-256(verifier)).
    S256(String),
    /// `code_challenge_method=plain` (or none given): the verifier itself.
    Plain(String),
}

impl CodeChallenge {
    /// Whether `verifier` answers this challenge.
    #[must_use]
    pub fn verifies(&self, verifier: &str) -> bool {
        use base64::Engine;
        use sha2::Digest;
        match self {
            Self::S256(c) => {
                let hash = sha2::Sha256::digest(verifier.as_bytes());
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash) == *c
            }
            Self::Plain(c) => c == verifier,
        }
    }
}

#[derive(Debug, Clone)]
struct CodeEntry {
    grant: NewGrant,
    redirect_uri: String,
    expires_ms: u64,
    challenge: Option<CodeChallenge>,
}

#[derive(Debug, Clone, Copy)]
struct TokenEntry {
    grant: u64,
    expires_ms: u64,
}

/// Lifetimes the token endpoint applies.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Access-token lifetime in seconds.
    pub access_secs: u64,
    /// Refresh-token lifetime in milliseconds.
    pub refresh_ms: u64,
}

/// All OAuth state of the app.
#[derive(Debug, Default)]
pub struct AuthState {
    codes: HashMap<String, CodeEntry>,
    access: HashMap<String, TokenEntry>,
    refresh: HashMap<String, TokenEntry>,
    grants: HashMap<u64, Grant>,
    next_grant: u64,
    mints_since_purge: u32,
}

impl AuthState {
    /// Remembers an authorization code until `expires_ms`.
    pub fn issue_code(
        &mut self,
        code: String,
        grant: NewGrant,
        redirect_uri: String,
        expires_ms: u64,
    ) {
        self.codes.insert(
            code,
            CodeEntry {
                grant,
                redirect_uri,
                expires_ms,
                challenge: None,
            },
        );
    }

    /// Attach the authorize request's PKCE challenge to `code`: its
    /// exchange then needs the matching `code_verifier`.
    pub fn set_challenge(&mut self, code: &str, challenge: CodeChallenge) {
        if let Some(e) = self.codes.get_mut(code) {
            e.challenge = Some(challenge);
        }
    }

    /// [`AuthState::exchange_code`] with the token request's
    /// `code_verifier`, checked against the code's challenge if it has one
    /// (as Zoom does). A wrong verifier burns the code, as any failed
    /// redemption of a PKCE code should (RFC 7636 §4.6).
    pub fn exchange_code_pkce(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        now_ms: u64,
        life: Lifetimes,
        mint: &mut dyn FnMut(&str) -> String,
    ) -> Result<TokenResponse, OAuthError> {
        if let Some(challenge) = self.codes.get(code).and_then(|e| e.challenge.clone())
            && !code_verifier.is_some_and(|v| challenge.verifies(v))
        {
            self.codes.remove(code);
            return Err(OAuthError::PkceMismatch);
        }
        self.exchange_code(code, redirect_uri, now_ms, life, mint)
    }

    /// `grant_type=authorization_code`: single use, must not be expired, and
    /// `redirect_uri` must equal the one of the authorize request. A mismatch
    /// leaves the code usable (the client may retry with the right URI).
    pub fn exchange_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        now_ms: u64,
        life: Lifetimes,
        mint: &mut dyn FnMut(&str) -> String,
    ) -> Result<TokenResponse, OAuthError> {
        let entry = self.codes.get(code).ok_or(OAuthError::InvalidCode)?;
        if now_ms >= entry.expires_ms {
            self.codes.remove(code);
            return Err(OAuthError::InvalidCode);
        }
        if redirect_uri != Some(entry.redirect_uri.as_str()) {
            return Err(OAuthError::RedirectMismatch);
        }
        let entry = self.codes.remove(code).ok_or(OAuthError::InvalidCode)?;
        self.next_grant += 1;
        let grant = Grant {
            id: self.next_grant,
            account_id: entry.grant.account_id,
            user_id: entry.grant.user_id,
            kind: entry.grant.kind,
            scopes: entry.grant.scopes,
            revoked: false,
        };
        let id = grant.id;
        self.grants.insert(id, grant);
        Ok(self.mint_pair(id, now_ms, life, mint))
    }

    /// `grant_type=refresh_token`: rotates. The presented token dies at once,
    /// whether or not anyone ever uses the new one.
    pub fn refresh(
        &mut self,
        token: &str,
        now_ms: u64,
        life: Lifetimes,
        mint: &mut dyn FnMut(&str) -> String,
    ) -> Result<TokenResponse, OAuthError> {
        let entry = self
            .refresh
            .remove(token)
            .ok_or(OAuthError::InvalidRefreshToken)?;
        let live = self.grants.get(&entry.grant).is_some_and(|g| !g.revoked);
        if now_ms >= entry.expires_ms || !live {
            return Err(OAuthError::InvalidRefreshToken);
        }
        Ok(self.mint_pair(entry.grant, now_ms, life, mint))
    }

    fn mint_pair(
        &mut self,
        grant: u64,
        now_ms: u64,
        life: Lifetimes,
        mint: &mut dyn FnMut(&str) -> String,
    ) -> TokenResponse {
        self.mints_since_purge += 1;
        if self.mints_since_purge >= 1024 {
            self.mints_since_purge = 0;
            self.access.retain(|_, e| e.expires_ms > now_ms);
            self.codes.retain(|_, e| e.expires_ms > now_ms);
        }
        let access_token = mint("at");
        let refresh_token = mint("rt");
        self.access.insert(
            access_token.clone(),
            TokenEntry {
                grant,
                expires_ms: now_ms.saturating_add(life.access_secs.saturating_mul(1000)),
            },
        );
        self.refresh.insert(
            refresh_token.clone(),
            TokenEntry {
                grant,
                expires_ms: now_ms.saturating_add(life.refresh_ms),
            },
        );
        let scope = self
            .grants
            .get(&grant)
            .map(|g| g.scopes.join(" "))
            .unwrap_or_default();
        TokenResponse {
            access_token,
            token_type: "bearer",
            refresh_token,
            expires_in: life.access_secs,
            scope,
            api_url: String::new(),
        }
    }

    /// The live grant behind an access token, if the token is known,
    /// unexpired and not revoked.
    #[must_use]
    pub fn access(&self, token: &str, now_ms: u64) -> Option<&Grant> {
        let entry = self.access.get(token)?;
        if now_ms >= entry.expires_ms {
            return None;
        }
        self.grants.get(&entry.grant).filter(|g| !g.revoked)
    }

    /// Revokes the live grants of an account, or of one user of it. Returns
    /// the grants revoked.
    pub fn revoke(&mut self, account_id: &str, user_id: Option<&str>) -> Vec<Grant> {
        let mut revoked = Vec::new();
        for g in self.grants.values_mut() {
            if !g.revoked && g.account_id == account_id && user_id.is_none_or(|u| g.user_id == u) {
                g.revoked = true;
                revoked.push(g.clone());
            }
        }
        revoked.sort_by_key(|g| g.id);
        revoked
    }

    /// Every grant, oldest first.
    #[must_use]
    pub fn grants(&self) -> Vec<Grant> {
        let mut all: Vec<_> = self.grants.values().cloned().collect();
        all.sort_by_key(|g| g.id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        access_secs: 3600,
        refresh_ms: REFRESH_TOKEN_TTL_MS,
    };

    fn minter() -> impl FnMut(&str) -> String {
        let mut n = 0;
        move |p| {
            n += 1;
            format!("{p}{n}")
        }
    }

    fn with_code() -> AuthState {
        let mut s = AuthState::default();
        s.issue_code(
            "c1".into(),
            NewGrant {
                account_id: "A".into(),
                user_id: "u".into(),
                kind: AppKind::Account,
                scopes: vec!["x".into(), "y".into()],
            },
            "http://cb".into(),
            300_000,
        );
        s
    }

    #[test]
    fn pkce_s256_needs_the_right_verifier() {
        // RFC 7636 appendix B's example pair.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(CodeChallenge::S256(challenge.into()).verifies(verifier));
        assert!(!CodeChallenge::S256(challenge.into()).verifies("other"));
        let mut m = minter();
        for wrong in [None, Some("not-the-verifier")] {
            let mut s = with_code();
            s.set_challenge("c1", CodeChallenge::S256(challenge.into()));
            assert_eq!(
                s.exchange_code_pkce("c1", Some("http://cb"), wrong, 0, LIFE, &mut m),
                Err(OAuthError::PkceMismatch)
            );
            // The code is burnt: the right verifier comes too late.
            assert_eq!(
                s.exchange_code_pkce("c1", Some("http://cb"), Some(verifier), 0, LIFE, &mut m),
                Err(OAuthError::InvalidCode)
            );
        }
        let mut s = with_code();
        s.set_challenge("c1", CodeChallenge::S256(challenge.into()));
        assert!(
            s.exchange_code_pkce("c1", Some("http://cb"), Some(verifier), 0, LIFE, &mut m)
                .is_ok()
        );
        // Without a challenge, no verifier is needed.
        let mut s = with_code();
        assert!(
            s.exchange_code_pkce("c1", Some("http://cb"), None, 0, LIFE, &mut m)
                .is_ok()
        );
    }

    #[test]
    fn code_is_single_use_and_checks_redirect() {
        let mut s = with_code();
        let mut m = minter();
        assert_eq!(
            s.exchange_code("c1", Some("http://other"), 0, LIFE, &mut m),
            Err(OAuthError::RedirectMismatch)
        );
        let t = s
            .exchange_code("c1", Some("http://cb"), 0, LIFE, &mut m)
            .unwrap();
        assert_eq!(t.scope, "x y");
        assert_eq!(t.expires_in, 3600);
        assert_eq!(
            s.exchange_code("c1", Some("http://cb"), 0, LIFE, &mut m),
            Err(OAuthError::InvalidCode)
        );
    }

    #[test]
    fn code_expires() {
        let mut s = with_code();
        assert_eq!(
            s.exchange_code("c1", Some("http://cb"), 300_000, LIFE, &mut minter()),
            Err(OAuthError::InvalidCode)
        );
    }

    #[test]
    fn refresh_rotates_and_access_expires() {
        let mut s = with_code();
        let mut m = minter();
        let t1 = s
            .exchange_code("c1", Some("http://cb"), 0, LIFE, &mut m)
            .unwrap();
        assert!(s.access(&t1.access_token, 3_599_999).is_some());
        assert!(s.access(&t1.access_token, 3_600_000).is_none());
        let t2 = s.refresh(&t1.refresh_token, 10, LIFE, &mut m).unwrap();
        assert_ne!(t2.refresh_token, t1.refresh_token);
        assert_eq!(
            s.refresh(&t1.refresh_token, 11, LIFE, &mut m),
            Err(OAuthError::InvalidRefreshToken)
        );
        assert!(s.refresh(&t2.refresh_token, 12, LIFE, &mut m).is_ok());
    }

    #[test]
    fn revoke_kills_tokens() {
        let mut s = with_code();
        let mut m = minter();
        let t = s
            .exchange_code("c1", Some("http://cb"), 0, LIFE, &mut m)
            .unwrap();
        assert_eq!(s.revoke("B", None).len(), 0);
        assert_eq!(s.revoke("A", None).len(), 1);
        assert!(s.access(&t.access_token, 1).is_none());
        assert_eq!(
            s.refresh(&t.refresh_token, 1, LIFE, &mut m),
            Err(OAuthError::InvalidRefreshToken)
        );
    }

    #[test]
    fn error_bodies() {
        assert_eq!(OAuthError::InvalidRefreshToken.status(), 400);
        assert!(
            OAuthError::InvalidRefreshToken
                .body()
                .contains("Invalid Token!")
        );
        assert_eq!(OAuthError::InvalidClient.status(), 401);
        assert!(OAuthError::InvalidClient.body().contains("invalid_client"));
    }
}
