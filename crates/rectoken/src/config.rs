//! The flags and environment variables of DESIGN.md's contract. Every
//! variable is also a `--flag`; secrets are `SecretString`s so they never
//! show in `Debug` output or logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use clap::Args;
use rectoken_telemetry::LogFormat;
use secrecy::{ExposeSecret, SecretString};

/// Logging flags shared by every subcommand.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// tracing filter, e.g. `info` or `rectoken=debug,lapin=warn`.
    #[arg(
        long = "log",
        env = "RECTOKEN_LOG",
        default_value = "info",
        global = true
    )]
    pub log: String,
    /// `json` for JSON lines (for log shippers); anything else for text.
    #[arg(
        long = "log-format",
        env = "RECTOKEN_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
}

impl LogArgs {
    /// The chosen format.
    pub fn format(&self) -> LogFormat {
        LogFormat::from_name(Some(&self.log_format))
    }
}

/// Connections to RabbitMQ and Redis.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// RabbitMQ URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`;
    /// `memory://` for the in-process bus (single process only).
    #[arg(long = "amqp-url", env = "RECTOKEN_AMQP_URL", hide_env_values = true)]
    pub amqp_url: SecretString,
    /// Redis URL (or `redis+cluster://…`); `memory://` for the in-process
    /// store (single process only).
    #[arg(long = "redis-url", env = "RECTOKEN_REDIS_URL", hide_env_values = true)]
    pub redis_url: SecretString,
    /// Prefix for every queue and exchange name (empty in production; lets
    /// several deployments or test runs share one broker).
    #[arg(
        long = "queue-prefix",
        env = "RECTOKEN_QUEUE_PREFIX",
        default_value = ""
    )]
    pub queue_prefix: String,
}

/// The Zoom app named by the `ZOOM_*` variables.
#[derive(Debug, Args)]
pub struct ZoomArgs {
    /// The OAuth app's client ID.
    #[arg(long = "zoom-client-id", env = "ZOOM_CLIENT_ID")]
    pub client_id: String,
    /// The OAuth app's client secret.
    #[arg(
        long = "zoom-client-secret",
        env = "ZOOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: SecretString,
    /// The app's webhook secret token (signs webhooks and URL validation).
    #[arg(
        long = "zoom-webhook-secret",
        env = "ZOOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: SecretString,
    /// Zoom REST base URL.
    #[arg(
        long = "zoom-api-url",
        env = "ZOOM_API_URL",
        default_value = "https://api.zoom.us/v2"
    )]
    pub api_url: String,
    /// Zoom OAuth base URL (`/authorize` and `/token` below it).
    #[arg(
        long = "zoom-oauth-url",
        env = "ZOOM_OAUTH_URL",
        default_value = "https://zoom.us/oauth"
    )]
    pub oauth_url: String,
    /// `account` (admin-managed app) or `user` (user-managed app).
    #[arg(
        long = "zoom-app-kind",
        env = "ZOOM_APP_KIND",
        default_value = "account"
    )]
    pub app_kind: rectoken_ingress::AppKind,
    /// REST path that mints the recording token. Zoom's closed-beta
    /// 3rd-party recording token has no public path, so it is a setting.
    #[arg(
        long = "zoom-recording-token-path",
        env = "ZOOM_RECORDING_TOKEN_PATH",
        default_value = "/meetings/{meetingId}/jointoken/local_recording"
    )]
    pub recording_token_path: String,
}

/// Encryption of credentials at rest.
#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// 32 bytes, base64: encrypts OAuth tokens at rest
    /// (`openssl rand -base64 32`).
    #[arg(
        long = "encryption-key",
        env = "RECTOKEN_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub encryption_key: SecretString,
    /// The previous key, during a key rotation: read with it, never write.
    #[arg(
        long = "encryption-key-old",
        env = "RECTOKEN_ENCRYPTION_KEY_OLD",
        hide_env_values = true
    )]
    pub encryption_key_old: Option<SecretString>,
}

/// Zoom's rate limits as rectoken keeps to them.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The customers' Zoom plan, for the per-account rate limits: `pro` or
    /// `business` (Business, Education, Enterprise).
    #[arg(
        long = "zoom-plan",
        env = "RECTOKEN_ZOOM_PLAN",
        default_value = "business"
    )]
    pub plan: rectoken_vault::Plan,
    /// Fraction of Zoom's per-second limits rectoken uses (the rest is left
    /// to the customer's other apps and to clock jitter).
    #[arg(
        long = "zoom-rate-fraction",
        env = "RECTOKEN_ZOOM_RATE_FRACTION",
        default_value_t = 0.95
    )]
    pub fraction: f64,
}

/// Flags every worker shares.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub zoom: ZoomArgs,
    #[command(flatten)]
    pub crypto: CryptoArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Where the worker serves `/healthz`, `/readyz` and `/metrics`.
    #[arg(
        long = "metrics-addr",
        env = "RECTOKEN_METRICS_ADDR",
        default_value = "127.0.0.1:9100"
    )]
    pub metrics_addr: SocketAddr,
    /// Messages handled at once (also the prefetch), 1 to 10000.
    #[arg(
        long = "concurrency",
        env = "RECTOKEN_CONCURRENCY",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000)
    )]
    pub concurrency: Option<usize>,
    /// Start even if Redis may lose credentials (no persistence, or an
    /// evicting maxmemory-policy). For throwaway deployments only.
    #[arg(long = "allow-volatile-redis", env = "RECTOKEN_ALLOW_VOLATILE_REDIS")]
    pub allow_volatile_redis: bool,
    /// Optional TOML file naming further Zoom apps (their kinds decide how
    /// their events are keyed).
    #[arg(long = "apps-file", env = "RECTOKEN_APPS_FILE")]
    pub apps_file: Option<PathBuf>,
}

/// `rectoken sync-worker` flags.
#[derive(Debug, Args)]
pub struct SyncWorkerArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Resync every connected account this often (hours, 1 to 8760).
    #[arg(
        long = "resync-hours",
        env = "RECTOKEN_RESYNC_HOURS",
        default_value_t = 24,
        value_parser = clap::value_parser!(u64).range(1..=8760)
    )]
    pub resync_hours: u64,
    /// Refresh every account's token at least this often (days, 1 to 60),
    /// so refresh tokens never lapse (Zoom's last 90 days unused).
    #[arg(
        long = "keepalive-days",
        env = "RECTOKEN_KEEPALIVE_DAYS",
        default_value_t = 7,
        value_parser = clap::value_parser!(u64).range(1..=60)
    )]
    pub keepalive_days: u64,
}

/// `rectoken token-worker` flags.
#[derive(Debug, Args)]
pub struct TokenWorkerArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Probe `GET /meetings/{id}` on every connected account for an unmapped
    /// meeting only when at most this many accounts are connected.
    #[arg(
        long = "probe-max-accounts",
        env = "RECTOKEN_PROBE_MAX_ACCOUNTS",
        default_value_t = 10
    )]
    pub probe_max_accounts: usize,
    /// Mint the `zak` token kind (a ZAK lets the bot act as that user).
    #[arg(long = "allow-zak", env = "RECTOKEN_ALLOW_ZAK")]
    pub allow_zak: bool,
}

/// `rectoken ingress` flags.
#[derive(Debug, Args)]
pub struct IngressArgs {
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub zoom: ZoomArgs,
    /// Address the HTTP server listens on.
    #[arg(
        long = "http-addr",
        env = "RECTOKEN_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,
    /// External base URL of the ingress, used for the OAuth `redirect_uri`
    /// (default `http://<HTTP_ADDR>`).
    #[arg(long = "public-url", env = "RECTOKEN_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub crypto: CryptoArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Bearer token for the admin API (admin API off when unset).
    #[arg(
        long = "admin-token",
        env = "RECTOKEN_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<SecretString>,
    /// Secret that bots present to the HTTP join endpoints (off when unset).
    #[arg(long = "join-key", env = "RECTOKEN_JOIN_KEY", hide_env_values = true)]
    pub join_key: Option<SecretString>,
    /// Optional TOML file naming further Zoom apps, each served at
    /// `POST /zoom/webhook/{name}`.
    #[arg(long = "apps-file", env = "RECTOKEN_APPS_FILE")]
    pub apps_file: Option<PathBuf>,
    /// Start even if Redis may lose credentials (no persistence, or an
    /// evicting maxmemory-policy). For throwaway deployments only.
    #[arg(long = "allow-volatile-redis", env = "RECTOKEN_ALLOW_VOLATILE_REDIS")]
    pub allow_volatile_redis: bool,
    /// Oldest signed webhook timestamp accepted, e.g. `2h`, `90m`, `300s`:
    /// Zoom retries a failed delivery after about 5, 25 and 85 minutes and
    /// may keep the first timestamp (at most 5 minutes ahead is accepted).
    #[arg(
        long = "webhook-max-age",
        env = "RECTOKEN_WEBHOOK_MAX_AGE",
        default_value = "2h",
        value_parser = parse_max_age
    )]
    pub webhook_max_age: std::time::Duration,
    #[command(flatten)]
    pub callbacks: CallbackArgs,
}

/// attendee's and Recall.ai's token callbacks, and the ZAK switch
/// (docs/bots.md).
#[derive(Debug, Args)]
pub struct CallbackArgs {
    /// Serve ZAKs (`GET /zoom/zak`, attendee's `zak_token`); the token
    /// workers need it too. A ZAK lets the bot act as that user.
    #[arg(long = "allow-zak", env = "RECTOKEN_ALLOW_ZAK")]
    pub allow_zak: bool,
    /// attendee's project webhook secret (base64, as attendee shows it):
    /// verifies `POST /attendee/zoom-tokens`. Unset: that route takes
    /// `?key=` only.
    #[arg(
        long = "attendee-secret",
        env = "RECTOKEN_ATTENDEE_SECRET",
        hide_env_values = true
    )]
    pub attendee_secret: Option<SecretString>,
    /// The `bot_metadata` key under which attendee bots name the user who
    /// sends them (a Zoom user ID or email).
    #[arg(
        long = "attendee-user-key",
        env = "RECTOKEN_ATTENDEE_USER_KEY",
        default_value = rectoken_ingress::callbacks::DEFAULT_ATTENDEE_USER_KEY
    )]
    pub attendee_user_key: String,
    /// Recall.ai's workspace verification secret (`whsec_…`): verifies the
    /// `/zoom/join-token`, `/zoom/obf-token` and `/zoom/zak` callbacks.
    /// Unset: they take `?key=` only.
    #[arg(
        long = "recall-secret",
        env = "RECTOKEN_RECALL_SECRET",
        hide_env_values = true
    )]
    pub recall_secret: Option<SecretString>,
}

impl CallbackArgs {
    /// The ingress's callback settings, with the secrets decoded.
    pub fn callbacks(&self) -> Result<rectoken_ingress::callbacks::Callbacks, String> {
        use rectoken_domain::callback_auth::{attendee_key, recall_key};
        use rectoken_ingress::callbacks::{CallbackKey, Callbacks};
        let attendee = self
            .attendee_secret
            .as_ref()
            .map(|s| attendee_key(s.expose_secret()).map(CallbackKey::new))
            .transpose()
            .map_err(|e| e.to_string())?;
        let recall = self
            .recall_secret
            .as_ref()
            .map(|s| recall_key(s.expose_secret()).map(CallbackKey::new))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Callbacks {
            allow_zak: self.allow_zak,
            attendee_key: attendee,
            attendee_user_key: self.attendee_user_key.trim().to_owned(),
            recall_key: recall,
        })
    }
}

/// `RECTOKEN_WEBHOOK_MAX_AGE`: a duration of at least 5 minutes (a shorter
/// window would refuse Zoom's first retry).
pub fn parse_max_age(raw: &str) -> Result<std::time::Duration, String> {
    let d = rectoken_domain::webhook::parse_duration(raw).map_err(|e| e.to_string())?;
    if d < std::time::Duration::from_secs(300) {
        return Err(format!(
            "{raw:?} is shorter than 5 minutes; Zoom's first retry comes about 5 minutes after a failed delivery"
        ));
    }
    Ok(d)
}

/// Decode and check `RECTOKEN_ENCRYPTION_KEY`: exactly 32 bytes of base64.
pub fn decode_encryption_key(key: &SecretString) -> Result<[u8; 32], String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.expose_secret().trim())
        .map_err(|_| "RECTOKEN_ENCRYPTION_KEY is not valid base64 (generate one with `openssl rand -base64 32`)".to_owned())?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "RECTOKEN_ENCRYPTION_KEY decodes to {} bytes; it must be 32 (generate one with `openssl rand -base64 32`)",
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_secrets_are_decoded_and_checked() {
        let args = |attendee: Option<&str>, recall: Option<&str>| CallbackArgs {
            allow_zak: true,
            attendee_secret: attendee.map(|s| SecretString::from(s.to_owned())),
            attendee_user_key: " zoom_user ".into(),
            recall_secret: recall.map(|s| SecretString::from(s.to_owned())),
        };
        let c = args(None, None).callbacks().unwrap();
        assert!(c.allow_zak && c.attendee_key.is_none() && c.recall_key.is_none());
        assert_eq!(c.attendee_user_key, "zoom_user");
        let b64 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let c = args(Some(&b64), Some(&format!("whsec_{b64}")))
            .callbacks()
            .unwrap();
        assert!(c.attendee_key.is_some() && c.recall_key.is_some());
        let e = args(Some("not base64!"), None).callbacks().unwrap_err();
        assert!(e.contains("RECTOKEN_ATTENDEE_SECRET"), "{e}");
        let e = args(None, Some(&b64)).callbacks().unwrap_err();
        assert!(e.contains("whsec_"), "{e}");
    }

    #[test]
    fn webhook_max_age_parses_and_refuses_short_windows() {
        assert_eq!(
            parse_max_age("2h"),
            Ok(std::time::Duration::from_secs(7200))
        );
        assert_eq!(
            parse_max_age("90m"),
            Ok(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_max_age("300s"),
            Ok(std::time::Duration::from_secs(300))
        );
        assert!(parse_max_age("299s").is_err());
        assert!(parse_max_age("soon").is_err());
    }

    #[test]
    fn encryption_key_must_be_32_bytes() {
        let ok = SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
        assert_eq!(decode_encryption_key(&ok).unwrap(), [7u8; 32]);
        let short = SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 16]));
        assert!(
            decode_encryption_key(&short)
                .unwrap_err()
                .contains("16 bytes")
        );
        let garbage = SecretString::from("not base64!!".to_owned());
        assert!(
            decode_encryption_key(&garbage)
                .unwrap_err()
                .contains("not valid base64")
        );
    }
}
