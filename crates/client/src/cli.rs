//! `rectoken join <meeting-url-or-id>`: one join request from the command
//! line, for trying a deployment out and for scripts.
//!
//! Wire it as a subcommand with `Join(rectoken_client::cli::JoinArgs)` and
//! call [`execute`] (prints the reply, exit status 0 only for `ok`), or
//! [`run`] to get the reply and print it yourself.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use rectoken_domain::join::decode_join_request;
use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    Client, ClientError, HTTP_MARGIN, JOIN_QUEUE, JoinReply, JoinRequest, MAX_TIMEOUT, REPLY_GRACE,
    TokenKind,
};

/// Send one join request and print the reply as JSON.
///
/// Over RabbitMQ when `RECTOKEN_AMQP_URL` is set, else `POST {url}/join`
/// with `RECTOKEN_JOIN_KEY`.
#[derive(Debug, Clone, clap::Args)]
pub struct JoinArgs {
    /// The meeting: a Zoom link (`https://us02web.zoom.us/j/85012345678?pwd=…`)
    /// or a bare meeting ID or PMI.
    #[arg(value_name = "MEETING_URL_OR_ID")]
    pub meeting: String,

    /// Base URL of rectoken ingress, used when no RabbitMQ URL is set.
    #[arg(long, env = "RECTOKEN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// RabbitMQ URL; when set the request goes over RabbitMQ (direct
    /// reply-to) instead of HTTP.
    #[arg(long, env = "RECTOKEN_AMQP_URL", hide_env_values = true, value_parser = parse_url_secret)]
    pub amqp_url: Option<SecretString>,

    /// The secret bots present to `POST /join` (needed for HTTP).
    #[arg(long, env = "RECTOKEN_JOIN_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub join_key: Option<SecretString>,

    /// A token kind to mint: local_recording, local_archiving,
    /// live_streaming, onbehalf or zak. Repeat (or separate with commas)
    /// for several.
    #[arg(
        long = "token",
        value_name = "KIND",
        value_delimiter = ',',
        default_value = "local_recording",
        value_parser = parse_token_kind
    )]
    pub tokens: Vec<TokenKind>,

    /// Ask for a token that does not let the bot skip the waiting room.
    #[arg(long)]
    pub no_bypass_waiting_room: bool,

    /// The user who sends the bot (Zoom user ID or email): `onbehalf` and
    /// `zak` are minted for this user.
    #[arg(long, value_name = "USER")]
    pub on_behalf_of: Option<String>,

    /// How long to wait for the reply (also sent as the request's deadline):
    /// seconds, or with a unit such as 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Prefix of every queue name of the deployment (`RECTOKEN_QUEUE_PREFIX`
    /// of its roles): the request goes to `{prefix}rectoken.join`.
    #[arg(
        long = "queue-prefix",
        env = "RECTOKEN_QUEUE_PREFIX",
        default_value = ""
    )]
    pub queue_prefix: String,

    /// The join queue, when it is not `{prefix}rectoken.join` (overrides
    /// --queue-prefix).
    #[arg(long, env = "RECTOKEN_JOIN_QUEUE")]
    pub queue: Option<String>,
}

impl JoinArgs {
    /// The queue the request goes to over RabbitMQ.
    pub fn join_queue(&self) -> String {
        match &self.queue {
            Some(q) if !q.trim().is_empty() => q.trim().to_owned(),
            _ => format!("{}{JOIN_QUEUE}", self.queue_prefix),
        }
    }

    /// The request these arguments describe (without a deadline: the client
    /// sets it from the timeout).
    pub fn request(&self) -> JoinRequest {
        let mut req = JoinRequest::for_meeting_url(self.meeting.trim());
        req.tokens = self.tokens.clone();
        req.bypass_waiting_room = !self.no_bypass_waiting_room;
        req.on_behalf_of = self.on_behalf_of.clone();
        req
    }
}

/// Validates the request locally, sends it, and returns the reply (whatever
/// its status). Errors: an invalid request (before anything is sent), a
/// missing join key, no connection, no reply in time.
pub async fn run(args: JoinArgs) -> anyhow::Result<JoinReply> {
    // `--timeout` bounds the whole command, connecting included: the request
    // is sent with a timeout shortened by the client's own grace (and the
    // HTTP margin), so a late reply is awaited no longer than asked.
    match tokio::time::timeout(args.timeout, run_within(&args)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!(
            "no reply within {:?} (--timeout); is a token worker running?",
            args.timeout
        )),
    }
}

async fn run_within(args: &JoinArgs) -> anyhow::Result<JoinReply> {
    let req = args.request();
    let body = serde_json::to_vec(&req).context("encoding the join request")?;
    match decode_join_request(&body) {
        // A personal link (`zoom.us/my/NAME`) is resolved by the token
        // worker through its user directory.
        Ok(_)
        | Err(rectoken_domain::join::JoinRequestError::InvalidMeetingUrl(
            rectoken_domain::meeting_id::MeetingUrlError::PersonalLink { .. },
        )) => {}
        Err(e) => return Err(anyhow!("invalid join request: {e}")),
    }

    let (client, via) = match &args.amqp_url {
        Some(amqp_url) if !amqp_url.expose_secret().trim().is_empty() => {
            let queue = args.join_queue();
            let client = Client::connect_amqp(amqp_url.expose_secret().trim())
                .await
                .context("connecting to RabbitMQ (RECTOKEN_AMQP_URL)")?
                .with_queue(queue.clone());
            (client, format!("RabbitMQ queue {queue:?}"))
        }
        _ => {
            let key = args.join_key.clone().ok_or_else(|| {
                anyhow!(
                    "HTTP mode needs the join key: set RECTOKEN_JOIN_KEY (or --join-key), \
                     or set RECTOKEN_AMQP_URL to go through RabbitMQ"
                )
            })?;
            (
                Client::http(&args.url, key),
                format!("{}/join", args.url.trim_end_matches('/')),
            )
        }
    };
    let slack = match &args.amqp_url {
        Some(u) if !u.expose_secret().trim().is_empty() => REPLY_GRACE,
        _ => REPLY_GRACE + HTTP_MARGIN,
    };
    let wait = if args.timeout > slack * 2 {
        args.timeout - slack
    } else {
        args.timeout / 2
    };
    let result = client.request(req, wait).await;
    client.close().await;
    result.map_err(|e| {
        let hint = match &e {
            ClientError::Timeout => format!(
                "no reply within {:?}; is a token worker running?",
                args.timeout
            ),
            ClientError::Unauthorized => "check RECTOKEN_JOIN_KEY".to_owned(),
            _ => "the request may not have been sent".to_owned(),
        };
        anyhow::Error::new(e).context(format!("join request via {via}: {hint}"))
    })
}

/// [`run`], then the reply as pretty JSON on stdout. `SUCCESS` only for an
/// `ok` reply; exit status 1 for any other reply (its JSON still printed).
pub async fn execute(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let reply = run(args).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &reply).context("writing the reply")?;
    writeln!(out).context("writing the reply")?;
    out.flush().context("writing the reply")?;
    Ok(if reply.status().is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A URL that may hold a password: kept out of `Debug` output.
fn parse_url_secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

fn parse_secret(s: &str) -> Result<SecretString, String> {
    if s.trim().is_empty() {
        return Err("the join key is empty".into());
    }
    Ok(SecretString::from(s.to_owned()))
}

fn parse_token_kind(s: &str) -> Result<TokenKind, String> {
    s.trim().parse().map_err(|e| format!("{e}"))
}

/// `30`, `30s`, `1.5s`, `500ms`, `2m`: more than zero, at most
/// [`MAX_TIMEOUT`] (an hour).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = || format!("{s:?} is not a duration such as 30s, 500ms or 2m");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        _ => return Err(bad()),
    };
    if !(seconds > 0.0 && seconds <= MAX_TIMEOUT.as_secs_f64()) {
        return Err(format!(
            "{s:?}: the timeout must be more than 0 and at most 1 hour"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}
