//! Simulator configuration: the `rectoken sim` flags and their environment
//! variables, plus a constructor for tests that needs no clap.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Plan;

/// Which kind of Zoom OAuth app the simulator serves.
///
/// The kind decides what an access token may see: an `account` (admin-managed)
/// token acts for every user of the account that authorized it, a `user`
/// (user-managed) token only for the user who authorized it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Admin-managed app: one authorization covers the whole account.
    #[default]
    Account,
    /// User-managed app: each authorization covers one user.
    User,
}

impl AppKind {
    /// The scopes an app of this kind is granted unless overridden, in the
    /// granular-scope names of docs/zoom.md §7 (`:admin` variants for account
    /// apps).
    #[must_use]
    pub fn default_scopes(self) -> Vec<String> {
        // rectoken's README list, nothing more: rectoken's own table
        // (`rectoken_zoom::scopes::required`) and the README are checked
        // against this by `tests/it/scopes.rs`.
        let list: &[&str] = match self {
            Self::Account => &[
                "user:read:user:admin",
                "user:read:list_users:admin",
                "meeting:read:list_meetings:admin",
                "meeting:read:meeting:admin",
                "meeting:read:local_recording_token:admin",
            ],
            Self::User => &[
                "user:read:user",
                "meeting:read:list_meetings",
                "meeting:read:meeting",
                "meeting:read:local_recording_token",
            ],
        };
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The default scopes plus every optional one rectoken can use
    /// (archiving and live-streaming tokens, OBF tokens, ZAKs): for tests
    /// and demos of those token kinds.
    #[must_use]
    pub fn all_scopes(self) -> Vec<String> {
        const OPTIONAL: [&str; 4] = [
            "meeting:read:local_archiving_token",
            "meeting:read:live_streaming_token",
            "user:read:token",
            "user:read:zak",
        ];
        let suffix = match self {
            Self::Account => ":admin",
            Self::User => "",
        };
        let mut out = self.default_scopes();
        out.extend(OPTIONAL.iter().map(|s| format!("{s}{suffix}")));
        out
    }
}

/// Configuration of one simulator instance (the `rectoken sim` flags).
///
/// Every flag can also be set through the environment variable named in its
/// `--help` line. Build one without clap through [`SimConfig::for_tests`].
#[derive(Clone, clap::Args)]
pub struct SimConfig {
    /// Address the simulator listens on.
    #[arg(
        long = "addr",
        env = "RECTOKEN_SIM_ADDR",
        default_value = "127.0.0.1:9090"
    )]
    pub addr: SocketAddr,

    /// OAuth client ID of the simulated Zoom app.
    #[arg(long = "client-id", env = "ZOOM_CLIENT_ID")]
    pub client_id: String,

    /// OAuth client secret of the simulated Zoom app.
    #[arg(
        long = "client-secret",
        env = "ZOOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: String,

    /// Webhook secret token: the key of the `x-zm-signature` HMAC.
    #[arg(
        long = "webhook-secret",
        env = "ZOOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: String,

    /// Kind of the app: `account` (admin-managed) or `user` (user-managed).
    #[arg(long = "app-kind", env = "ZOOM_APP_KIND", value_enum, default_value_t = AppKind::Account)]
    pub app_kind: AppKind,

    /// Webhook target URL; repeat the flag (or separate with commas) for several.
    #[arg(
        long = "webhook-url",
        env = "RECTOKEN_SIM_WEBHOOK_URL",
        value_delimiter = ','
    )]
    pub webhook_urls: Vec<String>,

    /// Lifetime of access tokens in seconds (Zoom: 3600).
    #[arg(
        long = "access-token-ttl",
        env = "RECTOKEN_SIM_ACCESS_TOKEN_TTL",
        default_value_t = 3600
    )]
    pub access_token_ttl_secs: u64,

    /// Lifetime of authorization codes in seconds (Zoom: 300).
    #[arg(
        long = "auth-code-ttl",
        env = "RECTOKEN_SIM_AUTH_CODE_TTL",
        default_value_t = 300
    )]
    pub auth_code_ttl_secs: u64,

    /// Factor applied to Zoom's webhook retry delays (5, 20, 60 minutes); 0.001 turns them into 0.3, 1.2 and 3.6 s.
    #[arg(
        long = "webhook-retry-scale",
        env = "RECTOKEN_SIM_WEBHOOK_RETRY_SCALE",
        default_value_t = 1.0
    )]
    pub webhook_retry_scale: f64,

    /// Time a webhook target has to answer before the attempt counts as failed, in milliseconds (Zoom: 3000).
    #[arg(
        long = "webhook-timeout-ms",
        env = "RECTOKEN_SIM_WEBHOOK_TIMEOUT_MS",
        default_value_t = 3000
    )]
    pub webhook_timeout_ms: u64,

    /// Seed the small demo account (`demo`: three users with PMIs and a few meetings each).
    #[arg(long = "seed-demo", env = "RECTOKEN_SIM_SEED_DEMO")]
    pub seed_demo: bool,

    /// Generate one large account with this many users at start (0: none).
    #[arg(
        long = "generate-users",
        env = "RECTOKEN_SIM_GENERATE_USERS",
        default_value_t = 0
    )]
    pub generate_users: usize,

    /// Meetings per generated user.
    #[arg(
        long = "meetings-per-user",
        env = "RECTOKEN_SIM_MEETINGS_PER_USER",
        default_value_t = 10
    )]
    pub meetings_per_user: usize,

    /// Seed of every random choice (generated data, token strings, injected faults); random when unset.
    #[arg(long = "seed", env = "RECTOKEN_SIM_SEED")]
    pub seed: Option<u64>,

    /// Rate-limit plan of seeded, generated and new accounts: `pro` or `business` (Business+).
    #[arg(long = "plan", env = "RECTOKEN_SIM_PLAN", value_enum, default_value_t = Plan::Business)]
    pub plan: Plan,

    /// Space-separated scopes granted on authorization, replacing the defaults of the app kind.
    #[arg(long = "scopes", env = "RECTOKEN_SIM_SCOPES")]
    pub scopes: Option<String>,

    /// User ID the authorize page consents as (default: the first user of the first account).
    #[arg(long = "authorize-user", env = "RECTOKEN_SIM_AUTHORIZE_USER")]
    pub authorize_user: Option<String>,

    /// Make the authorize page decline, redirecting with `error=access_denied`.
    #[arg(
        long = "decline-authorization",
        env = "RECTOKEN_SIM_DECLINE_AUTHORIZATION"
    )]
    pub decline_authorization: bool,
}

impl SimConfig {
    /// A configuration for tests: listens on `127.0.0.1:0`, account app,
    /// Zoom's lifetimes, webhook retries compressed by 0.001, seed 42, no
    /// seeded data and no webhook targets.
    #[must_use]
    pub fn for_tests(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            webhook_secret: webhook_secret.into(),
            app_kind: AppKind::Account,
            webhook_urls: Vec::new(),
            access_token_ttl_secs: 3600,
            auth_code_ttl_secs: 300,
            webhook_retry_scale: 0.001,
            webhook_timeout_ms: 3000,
            seed_demo: false,
            generate_users: 0,
            meetings_per_user: 10,
            seed: Some(42),
            plan: Plan::Business,
            scopes: None,
            authorize_user: None,
            decline_authorization: false,
        }
    }

    /// The scopes granted on authorization: `--scopes` if given, else the
    /// defaults of the app kind.
    #[must_use]
    pub fn granted_scopes(&self) -> Vec<String> {
        match &self.scopes {
            Some(s) => s.split_whitespace().map(str::to_owned).collect(),
            None => self.app_kind.default_scopes(),
        }
    }
}

impl fmt::Debug for SimConfig {
    // Hand-written so that the secrets never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("addr", &self.addr)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .field("app_kind", &self.app_kind)
            .field("webhook_urls", &self.webhook_urls)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("auth_code_ttl_secs", &self.auth_code_ttl_secs)
            .field("webhook_retry_scale", &self.webhook_retry_scale)
            .field("webhook_timeout_ms", &self.webhook_timeout_ms)
            .field("seed_demo", &self.seed_demo)
            .field("generate_users", &self.generate_users)
            .field("meetings_per_user", &self.meetings_per_user)
            .field("seed", &self.seed)
            .field("plan", &self.plan)
            .field("scopes", &self.scopes)
            .field("authorize_user", &self.authorize_user)
            .field("decline_authorization", &self.decline_authorization)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }

    #[test]
    fn flags_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "sim",
            "--client-id",
            "cid",
            "--client-secret",
            "cs",
            "--webhook-secret",
            "ws",
            "--webhook-url",
            "http://a/x",
            "--webhook-url",
            "http://b/y",
            "--app-kind",
            "user",
            "--plan",
            "pro",
        ])
        .unwrap();
        assert_eq!(cli.sim.addr.to_string(), "127.0.0.1:9090");
        assert_eq!(cli.sim.webhook_urls, vec!["http://a/x", "http://b/y"]);
        assert_eq!(cli.sim.app_kind, AppKind::User);
        assert_eq!(cli.sim.plan, Plan::Pro);
        assert_eq!(cli.sim.access_token_ttl_secs, 3600);
        assert!(!format!("{:?}", cli.sim).contains("cs\""));
    }

    #[test]
    fn default_scopes_follow_app_kind() {
        let account = AppKind::Account.default_scopes();
        assert!(account.contains(&"meeting:read:local_recording_token:admin".to_owned()));
        assert!(account.contains(&"user:read:list_users:admin".to_owned()));
        let user = AppKind::User.default_scopes();
        assert!(user.contains(&"meeting:read:local_recording_token".to_owned()));
        assert!(user.iter().all(|s| !s.ends_with(":admin")));
    }
}
