//! Unit tests of the pure parts.

use std::collections::HashSet;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use secrecy::{ExposeSecret as _, SecretString};
use time::OffsetDateTime;

use crate::cli::{JoinArgs, parse_duration};
use crate::http::{join_url, map_response};
use crate::{Client, ClientError, JoinRequest, JoinStatus, TokenKind, decode_reply, new_id};

#[test]
fn ids_look_like_uuid_v4_and_differ() {
    let ids: HashSet<String> = (0..1000).map(|_| new_id()).collect();
    assert_eq!(ids.len(), 1000);
    for id in ids.iter().take(50) {
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(&parts[2][..1], "4", "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
    }
}

const OK_REPLY: &str = r#"{"request_id":"b-42","status":"ok","meeting_id":"85012345678","account_id":"aBcD123","host_id":"z8y","tokens":{"local_recording":{"token":"TOKEN-123456","expires_at":"2026-11-29T10:02:00Z"}}}"#;
const NOT_FOUND_REPLY: &str =
    r#"{"request_id":"b-42","status":"not_found","error":"no connected account owns it"}"#;

#[test]
fn decodes_replies_and_checks_invariants() {
    let reply = decode_reply(OK_REPLY.as_bytes()).expect("ok reply");
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(reply.request_id(), "b-42");
    assert_eq!(
        reply.tokens()[&TokenKind::LocalRecording].token,
        "TOKEN-123456"
    );
    let reply = decode_reply(NOT_FOUND_REPLY.as_bytes()).expect("not_found reply");
    assert_eq!(reply.error(), Some("no connected account owns it"));

    for (body, want) in [
        ("not json", "reply is not JSON"),
        (
            r#"{"request_id":"x","status":"not_found"}"#,
            "must carry an \"error\"",
        ),
        (
            r#"{"request_id":"x","status":"weird","error":"e"}"#,
            "unknown variant",
        ),
        (r#"{"request_id":"x"}"#, "status"),
    ] {
        match decode_reply(body.as_bytes()) {
            Err(ClientError::BadReply(msg)) => assert!(msg.contains(want), "{body}: {msg}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn bad_reply_errors_never_contain_tokens() {
    let bodies = [
        r#"{"request_id":"x","status":"ok","tokens":{"local_recording":"SECRET-TOK-1"}}"#,
        r#"{"request_id":"x","status":"ok","tokens":{"local_recording":{"token":"SECRET-TOK-1","expires_at":"later"}}}"#,
        r#"{"request_id":"x","status":"ok","tokens":{"local_recording":{"token":["SECRET-TOK-1"],"expires_at":"2026-11-29T10:02:00Z"}}}"#,
        r#"{"request_id":"x","status":"ok","tokens":["SECRET-TOK-1"]}"#,
    ];
    for body in bodies {
        match decode_reply(body.as_bytes()) {
            Err(e @ ClientError::BadReply(_)) => {
                let msg = e.to_string();
                assert!(!msg.contains("SECRET-TOK"), "{body}: {msg}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn http_status_mapping() {
    let ok = map_response(200, OK_REPLY.as_bytes()).expect("200");
    assert_eq!(ok.status(), JoinStatus::Ok);
    for (status, name) in [
        (404, "not_found"),
        (400, "invalid_request"),
        (409, "account_disconnected"),
        (429, "rate_limited"),
        (502, "zoom_error"),
    ] {
        let body = format!(r#"{{"request_id":"r","status":"{name}","error":"because"}}"#);
        let reply = map_response(status, body.as_bytes()).expect(name);
        assert_eq!(reply.status().as_str(), name);
        assert_eq!(reply.error(), Some("because"));
    }
    assert_eq!(map_response(401, b""), Err(ClientError::Unauthorized));
    assert_eq!(map_response(504, b"{}"), Err(ClientError::Timeout));
    // The body's status must agree with the HTTP status.
    assert!(matches!(
        map_response(404, OK_REPLY.as_bytes()),
        Err(ClientError::BadReply(m)) if m.contains("HTTP 404 carries a \"ok\" reply")
    ));
    // A 404 that is not ingress's (wrong base URL) is an HTTP error.
    assert!(matches!(
        map_response(404, b"<html>Not Found</html>"),
        Err(ClientError::Http(m)) if m.contains("404") && m.contains("Not Found")
    ));
    assert!(matches!(
        map_response(200, b"<html>"),
        Err(ClientError::BadReply(_))
    ));
    assert!(matches!(
        map_response(503, b"\n  overloaded \n"),
        Err(ClientError::Http(m)) if m == "HTTP 503: overloaded"
    ));
    assert!(matches!(
        map_response(500, &[b'x'; 1000]),
        Err(ClientError::Http(m)) if m.chars().count() < 230 && m.ends_with('…')
    ));
}

#[test]
fn join_urls() {
    assert_eq!(join_url("http://h:8080"), "http://h:8080/join");
    assert_eq!(join_url("http://h:8080/"), "http://h:8080/join");
    assert_eq!(join_url("https://h/rectoken/"), "https://h/rectoken/join");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration(" 1.5s "), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    for bad in ["", "0", "0s", "-1s", "1h", "abc", "2 hours", "3601", "NaN"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[derive(Debug, Parser)]
struct TestCli {
    #[command(flatten)]
    join: JoinArgs,
}

#[test]
fn cli_arguments() {
    TestCli::command().debug_assert();
    let cli = TestCli::try_parse_from([
        "join",
        "https://zoom.us/j/85012345678?pwd=abc",
        "--amqp-url",
        "amqp://x",
        "--join-key",
        "k",
        "--url",
        "http://h:1",
        "--token",
        "onbehalf",
        "--token",
        "live_streaming,local_archiving",
        "--no-bypass-waiting-room",
        "--timeout",
        "5s",
    ])
    .expect("parses");
    let args = cli.join;
    assert_eq!(
        args.amqp_url.as_ref().map(|u| u.expose_secret().to_owned()),
        Some("amqp://x".to_owned())
    );
    assert_eq!(args.url, "http://h:1");
    assert_eq!(args.timeout, Duration::from_secs(5));
    let req = args.request();
    assert_eq!(
        req.meeting_url.as_deref(),
        Some("https://zoom.us/j/85012345678?pwd=abc")
    );
    assert_eq!(
        req.tokens,
        [
            TokenKind::OnBehalf,
            TokenKind::LiveStreaming,
            TokenKind::LocalArchiving
        ]
    );
    assert!(!req.bypass_waiting_room);
    assert!(
        !format!("{args:?}").contains("\"k\""),
        "the key is redacted"
    );

    assert!(TestCli::try_parse_from(["join", "1", "--token", "recording"]).is_err());
    assert!(TestCli::try_parse_from(["join"]).is_err());

    // Defaults and environment variables, read from the definition so the
    // test does not depend on this process's environment.
    let cmd = TestCli::command();
    let arg = |id: &str| {
        cmd.get_arguments()
            .find(|a| a.get_id() == id)
            .unwrap_or_else(|| panic!("no argument {id}"))
            .clone()
    };
    let default = |id: &str| {
        arg(id)
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    };
    let env = |id: &str| arg(id).get_env().map(|e| e.to_string_lossy().into_owned());
    assert_eq!(default("url"), ["http://127.0.0.1:8080"]);
    assert_eq!(default("tokens"), ["local_recording"]);
    assert_eq!(default("timeout"), ["30s"]);
    assert_eq!(default("queue_prefix"), [""]);
    assert_eq!(
        env("queue_prefix").as_deref(),
        Some("RECTOKEN_QUEUE_PREFIX")
    );
    assert_eq!(env("queue").as_deref(), Some("RECTOKEN_JOIN_QUEUE"));
    // The deployment's prefix decides the queue, unless one is named.
    let q = |argv: &[&str]| match TestCli::try_parse_from(argv) {
        Ok(cli) => cli.join.join_queue(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(q(&["join", "1"]), "rectoken.join");
    assert_eq!(
        q(&["join", "1", "--queue-prefix", "t1."]),
        "t1.rectoken.join"
    );
    assert_eq!(
        q(&["join", "1", "--queue-prefix", "t1.", "--queue", "x"]),
        "x"
    );
    assert_eq!(env("url").as_deref(), Some("RECTOKEN_URL"));
    assert_eq!(env("amqp_url").as_deref(), Some("RECTOKEN_AMQP_URL"));
    assert_eq!(env("join_key").as_deref(), Some("RECTOKEN_JOIN_KEY"));
    assert!(arg("join_key").is_hide_env_values_set());
    assert!(arg("amqp_url").is_hide_env_values_set());
    let help = TestCli::command().render_long_help().to_string();
    assert!(help.contains("MEETING_URL_OR_ID") && help.contains("--no-bypass-waiting-room"));
}

fn http_args(meeting: &str, key: Option<&str>) -> JoinArgs {
    JoinArgs {
        meeting: meeting.into(),
        // Nothing listens on port 9 of loopback (discard); every test here
        // must fail before connecting.
        url: "http://127.0.0.1:9".into(),
        amqp_url: None,
        join_key: key.map(|k| SecretString::from(k.to_owned())),
        tokens: vec![TokenKind::LocalRecording],
        no_bypass_waiting_room: false,
        on_behalf_of: None,
        timeout: Duration::from_secs(1),
        queue_prefix: String::new(),
        queue: None,
    }
}

#[tokio::test]
async fn cli_validates_locally_first() {
    let err = crate::cli::run(http_args("https://evil.example/j/85012345678", Some("k")))
        .await
        .expect_err("a foreign host is invalid");
    let msg = format!("{err:#}");
    assert!(
        msg.starts_with("invalid join request: \"meeting_url\""),
        "{msg}"
    );
    // A personal link passes local validation (the token worker resolves
    // it through its user directory): it fails here only for want of a
    // server (nothing listens at the test URL).
    let err = crate::cli::run(http_args("https://zoom.us/my/jill", Some("k")))
        .await
        .expect_err("no server");
    assert!(
        !format!("{err:#}").contains("invalid join request"),
        "{err:#}"
    );
    let mut args = http_args("85012345678", Some("k"));
    args.tokens.clear();
    let msg = format!("{:#}", crate::cli::run(args).await.expect_err("no tokens"));
    assert!(msg.contains("\"tokens\" is empty"), "{msg}");
    let msg = format!(
        "{:#}",
        crate::cli::run(http_args("85012345678", None))
            .await
            .expect_err("no key")
    );
    assert!(msg.contains("RECTOKEN_JOIN_KEY"), "{msg}");
}

#[tokio::test]
async fn a_deadline_already_past_times_out_at_once() {
    let client = Client::http("http://127.0.0.1:9", SecretString::from("k".to_owned()));
    let mut req = JoinRequest::for_meeting_url("85012345678");
    req.deadline = Some(OffsetDateTime::now_utc() - time::Duration::seconds(1));
    let started = std::time::Instant::now();
    assert_eq!(
        client.request(req, Duration::from_secs(30)).await,
        Err(ClientError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn debug_hides_the_join_key() {
    let client = Client::http("http://h:1/", SecretString::from("TOPSECRETKEY".to_owned()));
    let dbg = format!("{client:?}");
    assert!(
        dbg.contains("http://h:1/join") && !dbg.contains("TOPSECRETKEY"),
        "{dbg}"
    );
    assert_eq!(client.pending_requests(), 0);
    assert_eq!(
        client.clone().with_queue("t.rectoken.join").queue(),
        "t.rectoken.join"
    );
    assert_eq!(client.queue(), "rectoken.join");
    // Requests go to the join exchange, named after the queue, so a queue
    // prefix carries over; "" is the old default-exchange publish.
    assert_eq!(client.exchange(), "rectoken.join-requests");
    assert_eq!(
        client.clone().with_queue("t.rectoken.join").exchange(),
        "t.rectoken.join-requests"
    );
    assert_eq!(client.clone().with_exchange("").exchange(), "");
}
