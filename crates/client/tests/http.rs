//! The HTTP transport against a tiny axum server mimicking `POST /join`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use rectoken_client::cli::JoinArgs;
use rectoken_client::{Client, ClientError, JoinRequest, JoinStatus, TokenKind};
use secrecy::SecretString;
use tokio::sync::mpsc;

const KEY: &str = "right-key";

/// What the fake ingress saw: the `Authorization` header and the body.
type Seen = (Option<String>, serde_json::Value);

#[derive(Clone)]
struct Fake {
    /// The answer to the next authorized request; `None` never answers.
    answer: Arc<Mutex<Option<(StatusCode, String)>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

async fn join(State(fake): State<Fake>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    let authorized = auth.as_deref() == Some(&format!("Bearer {KEY}"));
    let _ = fake.seen.send((auth, value));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "unauthorized".into());
    }
    let answer = fake.answer.lock().map(|a| a.clone()).unwrap_or(None);
    match answer {
        Some(answer) => answer,
        None => std::future::pending().await,
    }
}

struct Server {
    base: String,
    answer: Arc<Mutex<Option<(StatusCode, String)>>>,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl Server {
    async fn start() -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let answer = Arc::new(Mutex::new(None));
        let app = Router::new().route("/join", post(join)).with_state(Fake {
            answer: Arc::clone(&answer),
            seen: tx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { base, answer, seen }
    }

    fn answer(&self, status: u16, body: &str) {
        let status = StatusCode::from_u16(status).expect("status");
        *self.answer.lock().expect("lock") = Some((status, body.to_owned()));
    }

    fn client(&self) -> Client {
        Client::http(&self.base, SecretString::from(KEY.to_owned()))
    }

    fn last_seen(&mut self) -> Seen {
        self.seen.try_recv().expect("the server saw the request")
    }
}

fn reply_json(status: &str) -> String {
    if status == "ok" {
        r#"{"request_id":"r-1","status":"ok","meeting_id":"85012345678","account_id":"a","host_id":"h","tokens":{"local_recording":{"token":"tok-1","expires_at":"2026-11-29T10:02:00Z"}}}"#.into()
    } else {
        format!(r#"{{"request_id":"r-1","status":"{status}","error":"because {status}"}}"#)
    }
}

#[tokio::test]
async fn ok_reply_and_what_is_sent() {
    let mut server = Server::start().await;
    server.answer(200, &reply_json("ok"));
    let reply = server
        .client()
        .request_tokens("https://zoom.us/j/85012345678?pwd=abc")
        .await
        .expect("reply");
    assert_eq!(reply.status(), JoinStatus::Ok);
    assert_eq!(reply.tokens()[&TokenKind::LocalRecording].token, "tok-1");

    let (auth, body) = server.last_seen();
    assert_eq!(auth.as_deref(), Some("Bearer right-key"));
    assert_eq!(body["meeting_url"], "https://zoom.us/j/85012345678?pwd=abc");
    assert_eq!(body["tokens"], serde_json::json!(["local_recording"]));
    assert_eq!(body["bypass_waiting_room"], true);
    assert!(
        body["request_id"].as_str().is_some_and(|id| id.len() == 36),
        "{body}"
    );
    let deadline = body["deadline"].as_str().expect("deadline sent");
    let deadline =
        time::OffsetDateTime::parse(deadline, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
    let ahead = deadline - time::OffsetDateTime::now_utc();
    assert!(
        ahead > time::Duration::seconds(25) && ahead <= time::Duration::seconds(30),
        "{ahead}"
    );
}

#[tokio::test]
async fn failure_statuses_carry_their_reply() {
    let server = Server::start().await;
    let client = server.client();
    for (http, status) in [
        (404, JoinStatus::NotFound),
        (400, JoinStatus::InvalidRequest),
        (409, JoinStatus::AccountDisconnected),
        (429, JoinStatus::RateLimited),
        (502, JoinStatus::ZoomError),
    ] {
        server.answer(http, &reply_json(status.as_str()));
        let reply = client
            .request_tokens("85012345678")
            .await
            .unwrap_or_else(|e| panic!("{http}: {e}"));
        assert_eq!(reply.status(), status);
        assert_eq!(reply.error(), Some(format!("because {status}").as_str()));
    }
}

#[tokio::test]
async fn unauthorized_gateway_timeout_and_other_errors() {
    let server = Server::start().await;
    server.answer(200, &reply_json("ok"));
    let wrong = Client::http(&server.base, SecretString::from("wrong".to_owned()));
    assert_eq!(
        wrong.request_tokens("85012345678").await,
        Err(ClientError::Unauthorized)
    );

    let client = server.client();
    server.answer(504, "");
    assert_eq!(
        client.request_tokens("85012345678").await,
        Err(ClientError::Timeout)
    );

    server.answer(503, "draining");
    let result = client.request_tokens("85012345678").await;
    assert!(
        matches!(&result, Err(ClientError::Http(m)) if m == "HTTP 503: draining"),
        "{result:?}"
    );

    // The reply's status must match the HTTP status.
    server.answer(200, &reply_json("not_found"));
    assert!(matches!(
        client.request_tokens("85012345678").await,
        Err(ClientError::BadReply(_))
    ));

    // A wrong base URL: the 404 is not a join reply.
    let lost = Client::http(
        &format!("{}/nope", server.base),
        SecretString::from(KEY.to_owned()),
    );
    let result = lost.request_tokens("85012345678").await;
    assert!(
        matches!(&result, Err(ClientError::Http(m)) if m.contains("404")),
        "{result:?}"
    );
}

#[tokio::test]
async fn no_answer_times_out_on_the_client() {
    let server = Server::start().await; // never answers
    let started = Instant::now();
    let result = server
        .client()
        .request(
            JoinRequest::for_meeting_url("85012345678"),
            Duration::from_millis(200),
        )
        .await;
    assert_eq!(result, Err(ClientError::Timeout));
    let waited = started.elapsed();
    let expected =
        Duration::from_millis(200) + rectoken_client::REPLY_GRACE + rectoken_client::HTTP_MARGIN;
    assert!(
        waited >= expected && waited < expected + Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn unreachable_ingress_is_an_http_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = Client::http(
        &format!("http://{addr}"),
        SecretString::from(KEY.to_owned()),
    );
    let result = client.request_tokens("85012345678").await;
    assert!(matches!(result, Err(ClientError::Http(_))), "{result:?}");
}

#[tokio::test]
async fn cli_run_over_http() {
    let mut server = Server::start().await;
    server.answer(404, &reply_json("not_found"));
    let args = JoinArgs {
        meeting: "85012345678".into(),
        url: format!("{}/", server.base),
        amqp_url: None,
        join_key: Some(SecretString::from(KEY.to_owned())),
        tokens: vec![TokenKind::LiveStreaming],
        no_bypass_waiting_room: false,
        on_behalf_of: None,
        timeout: Duration::from_secs(5),
        queue_prefix: String::new(),
        queue: None,
    };
    let reply = rectoken_client::cli::run(args.clone())
        .await
        .expect("a reply");
    assert_eq!(reply.status(), JoinStatus::NotFound);
    let (_, body) = server.last_seen();
    assert_eq!(body["meeting_url"], "85012345678");
    assert_eq!(body["tokens"], serde_json::json!(["live_streaming"]));

    // A refused key is an error naming the fix.
    let mut wrong = args;
    wrong.join_key = Some(SecretString::from("nope".to_owned()));
    let err = rectoken_client::cli::run(wrong).await.expect_err("401");
    assert!(format!("{err:#}").contains("RECTOKEN_JOIN_KEY"), "{err:#}");
    assert_eq!(
        err.downcast_ref::<ClientError>(),
        Some(&ClientError::Unauthorized)
    );
}
