//! Shared helpers: spawn a simulator, point a client at it, run the OAuth
//! code flow through the simulator's authorize redirect.

use std::collections::HashMap;

use rectoken_domain::meeting_id::MeetingId;
use rectoken_zoom::{TokenSet, ZoomClient, ZoomConfig};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use secrecy::SecretString;
use zoom_sim::{Sim, SimConfig};

pub const CLIENT_ID: &str = "zc-client";
pub const CLIENT_SECRET: &str = "zc-client-secret-value";
pub const WEBHOOK_SECRET: &str = "zc-webhook-secret";
pub const REDIRECT: &str = "http://127.0.0.1:1/zoom/oauth/callback";
pub const STATE: &str = "st/ate+&=?#1";

pub fn mid(n: u64) -> MeetingId {
    MeetingId::new(n).expect("valid meeting number")
}

pub struct Env {
    pub sim: Sim,
    pub zoom: ZoomClient,
}

impl Env {
    /// A simulator with nothing in it.
    pub async fn empty() -> Self {
        // Every scope the client can use: the optional token kinds too.
        let mut cfg = SimConfig::for_tests(CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET);
        cfg.scopes = Some(zoom_sim::AppKind::Account.all_scopes().join(" "));
        Self::start(cfg).await
    }

    /// A simulator with the demo account (`demo`, users `demo-admin`,
    /// `demo-bob`, `demo-carol`, three meetings each).
    pub async fn demo() -> Self {
        let env = Self::empty().await;
        env.sim.seed_demo().expect("seed the demo account");
        env
    }

    pub async fn start(cfg: SimConfig) -> Self {
        let (sim, _addr) = Sim::spawn(cfg).await.expect("spawn the simulator");
        let zoom = client_for(&sim, |_| {});
        Env { sim, zoom }
    }

    /// Another client of the same simulator, with a changed configuration.
    pub fn client_with(&self, change: impl FnOnce(&mut ZoomConfig)) -> ZoomClient {
        client_for(&self.sim, change)
    }

    /// Follows `authorize_url` by hand (redirects off) and returns the
    /// `code`, checking that `state` came back unchanged.
    pub async fn authorize(&self) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let resp = http
            .get(self.zoom.authorize_url(REDIRECT, STATE))
            .send()
            .await
            .expect("authorize request");
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = resp.headers()[LOCATION].to_str().expect("ascii").to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        let pairs: HashMap<String, String> = url::Url::parse(&location)
            .expect("location is a URL")
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(pairs.get("state").map(String::as_str), Some(STATE));
        pairs.get("code").expect("a code").clone()
    }

    /// The whole connect flow: authorize, then exchange the code.
    pub async fn connect(&self) -> TokenSet {
        let code = self.authorize().await;
        self.zoom
            .exchange_code(&code, REDIRECT)
            .await
            .expect("exchange the code")
    }
}

pub fn client_for(sim: &Sim, change: impl FnOnce(&mut ZoomConfig)) -> ZoomClient {
    let mut cfg = ZoomConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET));
    cfg.api_url = sim.api_url().expect("the simulator is serving");
    cfg.oauth_url = sim.oauth_url().expect("the simulator is serving");
    change(&mut cfg);
    ZoomClient::new(cfg).expect("valid configuration")
}
