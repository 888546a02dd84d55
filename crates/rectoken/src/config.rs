//! The flags and environment variables of docs/design.md's contract. Every
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
///
/// The URLs are optional here so that `rectoken dev` can share these flags
/// (it falls back to in-process backends); every other role requires them
/// through [`BackendArgs::require`], which names the missing variable.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// RabbitMQ URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`, or the
    /// comma-separated URLs of a RabbitMQ cluster's nodes (the bus moves to
    /// another node when its node dies). Required; `rectoken dev`:
    /// in-process when unset.
    #[arg(long = "amqp-url", env = "RECTOKEN_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<SecretString>,
    /// Redis URL: `redis://`, `rediss://` or `redis+cluster://HOST:PORT,…/`
    /// (required; `rectoken dev`: in-process when unset).
    #[arg(long = "redis-url", env = "RECTOKEN_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,
    /// Prefix for every queue and exchange name (empty in production; lets
    /// several deployments or test runs share one broker).
    #[arg(
        long = "queue-prefix",
        env = "RECTOKEN_QUEUE_PREFIX",
        default_value = ""
    )]
    pub queue_prefix: String,
}

impl BackendArgs {
    /// The RabbitMQ and Redis URLs of a role that runs on its own: both
    /// required, and neither `memory://` (an in-process backend is shared by
    /// nothing outside this process).
    pub fn require(&self) -> Result<(&str, &str), String> {
        let amqp = required(self.amqp_url.as_ref(), "RECTOKEN_AMQP_URL (--amqp-url)")?;
        let redis = required(self.redis_url.as_ref(), "RECTOKEN_REDIS_URL (--redis-url)")?;
        if amqp.starts_with("memory:") || redis.starts_with("memory:") {
            return Err(
                "memory:// backends work only inside one process: use `rectoken dev`".to_owned(),
            );
        }
        Ok((amqp, redis))
    }
}

/// The value of a required secret-holding setting, or a message naming it.
fn required<'a>(value: Option<&'a SecretString>, name: &str) -> Result<&'a str, String> {
    match value.map(|v| v.expose_secret().trim()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "{name} is required (or run `rectoken dev` to try rectoken without it)"
        )),
    }
}

/// The Zoom app named by the `ZOOM_*` variables.
#[derive(Debug, Args)]
pub struct ZoomArgs {
    /// The OAuth app's client ID (required; `rectoken dev --sim`: a dev value).
    #[arg(long = "zoom-client-id", env = "ZOOM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The OAuth app's client secret (required, at least 16 bytes;
    /// `rectoken dev --sim`: a dev value).
    #[arg(
        long = "zoom-client-secret",
        env = "ZOOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<SecretString>,
    /// The app's webhook secret token, which signs webhooks and the URL
    /// validation (ingress: required, at least 16 bytes; workers do not use
    /// it; `rectoken dev --sim`: a dev value).
    #[arg(
        long = "zoom-webhook-secret",
        env = "ZOOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<SecretString>,
    /// Zoom REST base URL [default: https://api.zoom.us/v2] (`rectoken dev
    /// --sim` uses the simulator's and refuses this setting).
    #[arg(long = "zoom-api-url", env = "ZOOM_API_URL")]
    pub api_url: Option<String>,
    /// Zoom OAuth base URL, `/authorize` and `/token` below it [default:
    /// https://zoom.us/oauth] (`rectoken dev --sim` uses the simulator's and
    /// refuses this setting).
    #[arg(long = "zoom-oauth-url", env = "ZOOM_OAUTH_URL")]
    pub oauth_url: Option<String>,
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

/// Zoom's REST base URL when `ZOOM_API_URL` is unset.
pub const DEFAULT_ZOOM_API_URL: &str = "https://api.zoom.us/v2";
/// Zoom's OAuth base URL when `ZOOM_OAUTH_URL` is unset.
pub const DEFAULT_ZOOM_OAUTH_URL: &str = "https://zoom.us/oauth";

impl ZoomArgs {
    /// `ZOOM_CLIENT_ID`, required.
    pub fn client_id(&self) -> Result<&str, String> {
        match self.client_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err("ZOOM_CLIENT_ID (--zoom-client-id) is required".to_owned()),
        }
    }

    /// `ZOOM_CLIENT_SECRET`, required and checked.
    pub fn client_secret(&self) -> Result<&SecretString, String> {
        required_secret(self.client_secret.as_ref(), "ZOOM_CLIENT_SECRET")
    }

    /// `ZOOM_WEBHOOK_SECRET`, required (by the ingress) and checked.
    pub fn webhook_secret(&self) -> Result<&SecretString, String> {
        required_secret(self.webhook_secret.as_ref(), "ZOOM_WEBHOOK_SECRET")
    }

    /// The REST base URL in force.
    pub fn api_url(&self) -> &str {
        self.api_url.as_deref().unwrap_or(DEFAULT_ZOOM_API_URL)
    }

    /// The OAuth base URL in force.
    pub fn oauth_url(&self) -> &str {
        self.oauth_url.as_deref().unwrap_or(DEFAULT_ZOOM_OAUTH_URL)
    }
}

/// Shortest secret accepted, in bytes. Zoom's own secrets are longer (a
/// client secret has 32 characters, a webhook secret token 22); a shorter
/// value is a typo, a placeholder or an empty Kubernetes Secret key.
pub const MIN_SECRET_BYTES: usize = 16;

/// Check a secret setting: not empty, not blank, at least
/// [`MIN_SECRET_BYTES`] long. The message names the setting and never
/// echoes the value.
pub fn check_secret(value: &SecretString, name: &str) -> Result<(), String> {
    let v = value.expose_secret();
    if v.trim().is_empty() {
        return Err(format!(
            "{name} is set but empty; set a real secret (at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -base64 24`) or unset it"
        ));
    }
    if v.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{name} is {} bytes long; a secret must have at least {MIN_SECRET_BYTES} (e.g. `openssl rand -base64 24`)",
            v.len()
        ));
    }
    Ok(())
}

/// A required secret, checked by [`check_secret`].
fn required_secret<'a>(
    value: Option<&'a SecretString>,
    name: &str,
) -> Result<&'a SecretString, String> {
    let v = value.ok_or_else(|| format!("{name} is required"))?;
    check_secret(v, name)?;
    Ok(v)
}

/// An optional secret (a feature that is off when unset): checked by
/// [`check_secret`] when set, so that an empty value never turns a feature
/// on with an empty secret.
pub fn optional_secret(value: Option<&SecretString>, name: &str) -> Result<(), String> {
    value.map_or(Ok(()), |v| check_secret(v, name))
}

/// Encryption of credentials at rest.
#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// 32 bytes, base64: encrypts OAuth tokens at rest
    /// (`openssl rand -base64 32`). Required; `rectoken dev` on its
    /// in-process store makes a random one per run.
    #[arg(
        long = "encryption-key",
        env = "RECTOKEN_ENCRYPTION_KEY",
        hide_env_values = true
    )]
    pub encryption_key: Option<SecretString>,
    /// The previous key, during a key rotation: read with it, never write.
    #[arg(
        long = "encryption-key-old",
        env = "RECTOKEN_ENCRYPTION_KEY_OLD",
        hide_env_values = true
    )]
    pub encryption_key_old: Option<SecretString>,
}

impl CryptoArgs {
    /// `RECTOKEN_ENCRYPTION_KEY`, required.
    pub fn key(&self) -> Result<&SecretString, String> {
        self.encryption_key.as_ref().ok_or_else(|| {
            "RECTOKEN_ENCRYPTION_KEY (--encryption-key) is required: 32 bytes, base64 (`openssl rand -base64 32`)".to_owned()
        })
    }
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
        default_value_t = rectoken_vault::DEFAULT_RATE_FRACTION,
        value_parser = parse_fraction
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
    #[arg(
        long = "allow-volatile-redis",
        env = "RECTOKEN_ALLOW_VOLATILE_REDIS",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
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
    #[command(flatten)]
    pub tuning: SyncTuning,
}

/// What only sync workers read (shared with `rectoken dev`).
#[derive(Debug, Args)]
pub struct SyncTuning {
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
    /// Account-event webhooks (the sync worker delivers them).
    #[command(flatten)]
    pub event_webhooks: crate::account_events::EventWebhookArgs,
}

/// `rectoken token-worker` flags.
#[derive(Debug, Args)]
pub struct TokenWorkerArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub tuning: TokenTuning,
    #[command(flatten)]
    pub zak: ZakArgs,
}

/// What only token workers read (shared with `rectoken dev`).
#[derive(Debug, Args)]
pub struct TokenTuning {
    /// Probe `GET /meetings/{id}` on every connected account for an unmapped
    /// meeting only when at most this many accounts are connected.
    #[arg(
        long = "probe-max-accounts",
        env = "RECTOKEN_PROBE_MAX_ACCOUNTS",
        default_value_t = 10
    )]
    pub probe_max_accounts: usize,
}

/// `RECTOKEN_ALLOW_ZAK`, shared by the token worker (which mints ZAKs) and
/// the ingress (whose callbacks serve them); `dev` reads it once for both.
#[derive(Debug, Args)]
pub struct ZakArgs {
    /// Allow the `zak` token kind (`GET /zoom/zak`, attendee's `zak_token`,
    /// `"tokens": ["zak"]`). A ZAK lets the bot act as that user, so it is
    /// off unless an operator turns it on: `true`/`false`.
    #[arg(
        long = "allow-zak",
        env = "RECTOKEN_ALLOW_ZAK",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
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
    #[arg(
        long = "allow-volatile-redis",
        env = "RECTOKEN_ALLOW_VOLATILE_REDIS",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub allow_volatile_redis: bool,
    /// Let anyone start the OAuth connect flow at /zoom/oauth/authorize,
    /// without a connect link from POST /admin/connect-links. Off by
    /// default: every connected account costs sync work.
    /// `true`/`false`; `rectoken dev` turns it on.
    #[arg(
        long = "open-connect",
        env = "RECTOKEN_OPEN_CONNECT",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub open_connect: bool,
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
    #[command(flatten)]
    pub zak: ZakArgs,
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
            allow_zak: self.zak.allow_zak,
            attendee_key: attendee,
            attendee_user_key: self.attendee_user_key.trim().to_owned(),
            recall_key: recall,
        })
    }
}

/// `--zoom-rate-fraction`: more than 0 and at most 1 (a larger share than
/// Zoom's limit is a 429 waiting to happen, so it is refused, not clamped).
fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number; expected a fraction such as 0.9"))?;
    if f > 0.0 && f <= 1.0 {
        Ok(f)
    } else {
        Err(format!(
            "{s} is out of range: the share of Zoom's limits must be more than 0 and at most 1 (e.g. 0.9)"
        ))
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
    fn secrets_must_be_set_and_long_enough_and_are_never_echoed() {
        let name = "RECTOKEN_JOIN_KEY";
        for (value, expect) in [
            ("", "empty"),
            ("   ", "empty"),
            ("short-secret", "12 bytes"),
        ] {
            let err = check_secret(&SecretString::from(value.to_owned()), name).unwrap_err();
            assert!(err.contains(name) && err.contains(expect), "{err}");
            if !value.trim().is_empty() {
                assert!(!err.contains(value), "the message echoes the secret: {err}");
            }
        }
        assert!(check_secret(&SecretString::from("0123456789abcdef".to_owned()), name).is_ok());
        assert!(optional_secret(None, name).is_ok());
        assert!(optional_secret(Some(&SecretString::from(String::new())), name).is_err());
    }

    #[test]
    fn the_rate_fraction_is_refused_outside_0_to_1_never_clamped() {
        assert_eq!(parse_fraction("0.95"), Ok(0.95));
        assert_eq!(parse_fraction("1"), Ok(1.0));
        for bad in ["2", "0", "-0.5", "NaN", "abc", "1.0001"] {
            assert!(parse_fraction(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn backends_are_required_outside_dev() {
        let none = BackendArgs {
            amqp_url: None,
            redis_url: Some(SecretString::from("redis://127.0.0.1/".to_owned())),
            queue_prefix: String::new(),
        };
        assert!(none.require().unwrap_err().contains("RECTOKEN_AMQP_URL"));
        let memory = BackendArgs {
            amqp_url: Some(SecretString::from("memory://".to_owned())),
            ..none
        };
        assert!(memory.require().unwrap_err().contains("rectoken dev"));
    }

    #[test]
    fn callback_secrets_are_decoded_and_checked() {
        let args = |attendee: Option<&str>, recall: Option<&str>| CallbackArgs {
            zak: ZakArgs { allow_zak: true },
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
