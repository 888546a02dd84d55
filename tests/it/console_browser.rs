//! The operator console in a real browser: headless Chromium from Debian's
//! `chromium` and `chromium-driver` packages, driven over WebDriver
//! (fantoccini), against the real RabbitMQ and Redis, the Zoom simulator,
//! an ingress, a sync worker and a token worker.
//!
//! The walk an operator takes: sign in, invite (a connect link) and
//! connect the demo account through the simulator's OAuth, watch its sync
//! finish, look up one of its meetings, send a join (the test mint) and see
//! the outcome in recent joins, resync, see a POST without the CSRF token
//! refused, disconnect. Every page is saved as a screenshot under
//! `target/console-screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (or
//! `RECTOKEN_TEST_CHROMIUM` / `RECTOKEN_TEST_CHROMEDRIVER`). Without them
//! the test is skipped with a message, unless `RECTOKEN_TEST_BROWSER=required`
//! (set by `scripts/test`), which makes it fail. Nothing is downloaded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use rectoken_bus::rabbit::{RabbitBus, RabbitOptions};
use rectoken_bus::{Bus, Topology};
use rectoken_domain::origin::OriginKeys;
use rectoken_ingress::apps::{App, AppKind, Apps};
use rectoken_ingress::console::ConsoleOptions;
use rectoken_ingress::{Ingress, IngressState, Services, router};
use rectoken_store::{JoinLog, RedisJoinLog, Store};
use rectoken_tests::{
    amqp_url, delete_topology, eventually, ingress_services, redis_url, unique_prefix,
};
use rectoken_vault::{Keyring, Vault, VaultOptions, ZoomAccess, ZoomLimits};
use rectoken_zoom::{ZoomClient, ZoomConfig};
use secrecy::{SecretBox, SecretString};
use tokio_util::sync::CancellationToken;
use zoom_sim::{Sim, SimConfig};

const CLIENT_ID: &str = "console-client";
const CLIENT_SECRET: &str = "console-client-secret";
const WEBHOOK_SECRET: &str = "console-webhook-secret";
const ADMIN: &str = "console-browser-admin-token";
const DEMO: &str = zoom_sim::generate::DEMO_ACCOUNT_ID;

/// The browser and its driver, or why the test cannot run.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let chromium = pick("RECTOKEN_TEST_CHROMIUM", "/usr/bin/chromium");
    let driver = pick("RECTOKEN_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    for p in [&chromium, &driver] {
        if !p.is_file() {
            return Err(format!(
                "{} is missing: install Debian's chromium and chromium-driver (`apt-get install chromium chromium-driver`, done by `scripts/services install`)",
                p.display()
            ));
        }
    }
    Ok((chromium, driver))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Longest wait for an element or a page change. Generous: the suite runs
/// this browser next to hundreds of tests on two cores.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// Everything the console talks to, plus the browser.
struct Rig {
    base: String,
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    topology: Topology,
    stop: CancellationToken,
    shots: PathBuf,
    _driver: tokio::process::Child,
    browser: Client,
}

impl Rig {
    async fn start(chromium: PathBuf, driver: PathBuf) -> Rig {
        let prefix = unique_prefix("console");
        let (sim, sim_addr) = Sim::spawn(SimConfig::for_tests(
            CLIENT_ID,
            CLIENT_SECRET,
            WEBHOOK_SECRET,
        ))
        .await
        .unwrap();
        sim.seed_demo().unwrap();
        let mut zoom_cfg = ZoomConfig::new(CLIENT_ID, SecretString::from(CLIENT_SECRET.to_owned()));
        zoom_cfg.api_url = format!("http://{sim_addr}/v2");
        zoom_cfg.oauth_url = format!("http://{sim_addr}/oauth");
        let zoom = ZoomClient::new(zoom_cfg).unwrap();
        let store = rectoken_store::connect(&redis_url(), &prefix).unwrap();
        let joins: Arc<dyn JoinLog> = Arc::new(RedisJoinLog::new(&redis_url(), &prefix).unwrap());
        let topology = Topology::new(prefix.clone());
        let raw: Arc<dyn Bus> = Arc::new(RabbitBus::start(
            &amqp_url(),
            topology.clone(),
            RabbitOptions::default(),
        ));
        tokio::time::timeout(Duration::from_secs(20), raw.wait_connected())
            .await
            .expect("RabbitMQ connects");
        // Sync workers accept only sync messages signed by a role holding
        // the encryption key, as in production.
        let origin = OriginKeys::new(&[7u8; 32], None);
        let bus = rectoken_runtime::origin::SigningBus::wrap(raw, origin.clone());
        // Account events published and kept, as every role does, so the
        // account cards show them.
        let event_log = rectoken_store::connect_event_log(&redis_url(), &prefix).unwrap();
        let events = rectoken_runtime::account_events::AccountEventPublisher::start(
            bus.clone(),
            Some(event_log.clone()),
        );
        let vault = Vault::new(
            store.clone(),
            Arc::new(Keyring::new(&SecretBox::new(Box::new([1u8; 32])), &[])),
            zoom.clone(),
            VaultOptions::default(),
        )
        .with_events(rectoken_vault::AccountEvents::new(events, Some(event_log)));
        let access = ZoomAccess::new(vault.clone(), ZoomLimits::default());
        let stop = CancellationToken::new();
        tokio::spawn(rectoken_sync::run(
            rectoken_sync::SyncDeps {
                bus: bus.clone(),
                store: store.clone(),
                access: access.clone(),
                apps: [(String::new(), false)].into_iter().collect(),
                origin,
            },
            Default::default(),
            stop.clone(),
        ));
        tokio::spawn(rectoken_token::run(
            rectoken_token::TokenDeps {
                bus: bus.clone(),
                store: store.clone(),
                access,
                zoom: zoom.clone(),
            },
            rectoken_token::TokenOptions {
                join_log: Some(rectoken_token::recent::JoinRecorder(joins.clone())),
                ..Default::default()
            },
            stop.clone(),
        ));
        // The public URL (the OAuth redirect_uri) needs the port first.
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let services = Services {
            join_timeout: Duration::from_secs(30),
            ..ingress_services(store.clone(), vault, zoom, format!("http://{addr}"), ADMIN)
        };
        let apps = Apps::single(App::new(
            "",
            CLIENT_ID,
            CLIENT_SECRET.into(),
            WEBHOOK_SECRET.into(),
            AppKind::Account,
        ));
        let state = IngressState::new(bus.clone(), apps, vec![])
            .with_services(services)
            .with_console(ConsoleOptions {
                joins: Some(joins),
                dev_signin: false,
            });
        let ingress = Ingress::bind(addr, router(state)).await.unwrap();
        tokio::spawn(ingress.run(stop.clone()));

        let port = free_port();
        let child = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let webdriver = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // chromedriver says nothing when it is ready; its /status does.
        assert!(
            eventually(Duration::from_secs(20), || async {
                http.get(format!("{webdriver}/status"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await,
            "chromedriver did not come up"
        );
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,1000", "--no-first-run"],
            }),
        );
        let browser = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .expect("a Chromium session");
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Rig {
            base: format!("http://{addr}"),
            bus,
            store,
            topology,
            stop,
            shots,
            _driver: child,
            browser,
        }
    }

    async fn goto(&self, path: &str) {
        self.browser
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn shot(&self, name: &str) {
        let png = self.browser.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.browser
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Click `css` (every click in this walk submits a form or follows a
    /// link) and wait until the page it was on is gone, so the next read
    /// sees the new page, not the old one.
    async fn click(&self, css: &str) {
        let element = self
            .browser
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        element.click().await.unwrap();
        let left = eventually(PAGE_WAIT, || async {
            // A stale element: the browser has a new document.
            element.is_displayed().await.is_err()
        })
        .await;
        assert!(left, "clicking {css} did not leave the page");
    }

    async fn body(&self) -> String {
        self.text("body").await
    }
}

#[tokio::test]
async fn an_operator_runs_rectoken_from_the_console() {
    rectoken_tests::init_test_tracing();
    let (chromium, driver) = match browser() {
        Ok(b) => b,
        Err(why) if std::env::var("RECTOKEN_TEST_BROWSER").as_deref() == Ok("required") => {
            panic!("the console's browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED an_operator_runs_rectoken_from_the_console: {why}");
            return;
        }
    };
    let rig = Rig::start(chromium, driver).await;
    let result = walk(&rig).await;
    let _ = rig.browser.clone().close().await;
    rig.stop.cancel();
    delete_topology(&amqp_url(), &rig.topology).await;
    result.unwrap();
}

/// The walk, with `?`-free asserts; returns so the browser always closes.
async fn walk(rig: &Rig) -> Result<(), String> {
    // Sign in.
    rig.goto("/console").await;
    assert!(rig.body().await.contains("Admin token"));
    rig.shot("01-sign-in").await;
    rig.browser
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    rig.click("form.card button[type=submit]").await;
    let page = rig.body().await;
    assert!(page.contains("0 accounts, 0 connected"), "{page}");

    // Invite a Zoom admin, and be that admin: the link runs the
    // simulator's OAuth consent and comes back to the callback.
    rig.click("#invite").await;
    let link = rig
        .browser
        .wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css("#invite-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the link's href");
    assert!(
        link.starts_with(&format!("{}/zoom/oauth/authorize?link=", rig.base)),
        "{link}"
    );
    rig.shot("02-invite").await;
    rig.browser.goto(&link).await.unwrap();
    let callback = rig.body().await;
    assert!(callback.to_lowercase().contains("connected"), "{callback}");
    rig.shot("03-connected").await;

    // Watch the sync finish: the page reloads itself while it runs; the
    // test reads the store-backed page until it says so.
    rig.goto("/console").await;
    let account = format!("#account-{DEMO}");
    let synced = eventually(Duration::from_secs(60), || async {
        rig.goto("/console").await;
        rig.text(&format!("{account} .sync-state")).await == "completed"
    })
    .await;
    assert!(
        synced,
        "the demo account's sync did not complete: {}",
        rig.body().await
    );
    // The card lists the account's events (issue 19), newest first.
    let listed = eventually(Duration::from_secs(20), || async {
        rig.goto("/console").await;
        let events = rig.text(&format!("{account} .events")).await;
        events.contains("account.connected") && events.contains("account.sync_completed")
    })
    .await;
    assert!(
        listed,
        "no account events on the card: {}",
        rig.body().await
    );
    let card = rig.text(&account).await;
    assert!(card.contains("connected"), "{card}");
    let mapped = rig.store.count_mappings(DEMO).await.unwrap();
    assert!(mapped > 0);
    assert_eq!(
        rig.text(&format!("{account} .mappings")).await,
        mapped.to_string(),
        "the page shows the store's count"
    );
    rig.shot("04-accounts").await;

    // Look up one of its meetings.
    let (items, _) = rig.store.list_mappings(Some(DEMO), None, 50).await.unwrap();
    let (key, mapping) = items
        .iter()
        .find(|(k, _)| k.kind == rectoken_store::MapKind::Meeting)
        .expect("a mapped meeting");
    rig.goto("/console/lookup").await;
    let url = format!("https://us02web.zoom.us/j/{}?pwd=abc", key.id);
    rig.browser
        .find(Locator::Css("#q"))
        .await
        .unwrap()
        .send_keys(&url)
        .await
        .unwrap();
    rig.click("form.card button[type=submit]").await;
    let found = rig.text("#lookup-result").await;
    assert!(
        found.contains(&key.id.to_string()) && found.contains(DEMO),
        "{found}"
    );
    assert!(found.contains(&mapping.owner_id), "the host: {found}");
    rig.shot("05-lookup").await;

    // Send a join (the test mint) and see its outcome in recent joins.
    rig.click("#test-mint").await;
    let minted = rig.text("#mint-result").await;
    assert!(minted.contains("Status ok"), "{minted}");
    assert!(minted.contains("local_recording"), "{minted}");
    rig.shot("06-test-mint").await;
    rig.goto(&format!("/console/lookup?q={}", key.id)).await;
    let last = rig.text("#last-join").await;
    assert!(
        last.starts_with("ok at "),
        "the lookup shows the last join: {last}"
    );
    rig.goto(&format!("/console/joins?account={DEMO}")).await;
    let joins = rig.text("#joins").await;
    assert!(
        joins.contains(&key.id.to_string()) && joins.contains("ok"),
        "{joins}"
    );
    let chart = rig
        .browser
        .find(Locator::Css("figure.chart svg"))
        .await
        .unwrap()
        .attr("aria-label")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        chart.contains(": 1 in all"),
        "the chart counts the join: {chart}"
    );
    rig.shot("07-joins").await;
    rig.goto("/console/queues").await;
    let queues = rig.text("#queues").await;
    assert!(queues.contains(&rig.topology.join_queue()), "{queues}");
    // The rows come from the broker: this rig's token and sync workers
    // consume the work queues, nobody the dead-letter queues.
    let mut rows = std::collections::BTreeMap::new();
    for row in rig
        .browser
        .find_all(Locator::Css("#queues tbody tr"))
        .await
        .unwrap()
    {
        let text = row.text().await.unwrap();
        let cells: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        rows.insert(cells[0].clone(), cells[2].clone());
    }
    for queue in rig.topology.work_queues() {
        let consumers = rows
            .get(&queue)
            .unwrap_or_else(|| panic!("no row for {queue}: {queues}"));
        assert_ne!(consumers, "0", "{queue} has a worker: {queues}");
        let dlq = Topology::dlq(&queue);
        assert_eq!(
            rows.get(&dlq).map(String::as_str),
            Some("0"),
            "nobody consumes {dlq}: {queues}"
        );
    }
    rig.shot("08-queues").await;

    // A dead-lettered sync job: shown with its reason, then redriven.
    let dlq = Topology::dlq(&rig.topology.sync_queue());
    let job = rectoken_sync::full_sync_message(&dlq, DEMO, "console-test", 1).with_header(
        rectoken_bus::topology::REASON_HEADER,
        "test: the handler failed",
    );
    rig.bus.publish(job).await.unwrap();
    rig.goto("/console/queues").await;
    rig.click("button.inspect").await;
    let seen = rig.text("#dlq-messages").await;
    assert!(seen.contains("test: the handler failed"), "{seen}");
    assert_eq!(
        rig.bus.queue_depth(&dlq).await.unwrap(),
        1,
        "inspecting removes nothing"
    );
    rig.shot("09-dead-letters").await;
    rig.click("button.redrive").await;
    let done = rig.text("#dlq-result").await;
    assert!(done.contains("Redrove 1 of 1 messages"), "{done}");
    assert_eq!(
        rig.bus.queue_depth(&dlq).await.unwrap(),
        0,
        "moved to the work queue"
    );

    // Resync.
    rig.goto("/console").await;
    rig.click(&format!("{account} button.resync")).await;
    let notice = rig.text(".notice").await;
    assert!(
        notice.contains(&format!("A full sync of {DEMO} is queued")),
        "{notice}"
    );
    rig.shot("10-resync").await;

    // A POST without the CSRF token: a form an attacker's page could
    // build. Refused, and nothing done.
    rig.browser
        .execute(
            "const f = document.createElement('form');
             f.method = 'post'; f.action = arguments[0];
             document.body.appendChild(f); f.submit();",
            vec![serde_json::json!(format!(
                "/console/accounts/{DEMO}/disconnect"
            ))],
        )
        .await
        .unwrap();
    let refused = eventually(PAGE_WAIT, || async {
        rig.body().await.contains("no valid CSRF token")
    })
    .await;
    assert!(refused, "{}", rig.body().await);
    assert!(
        rig.store.account(DEMO).await.unwrap().is_some(),
        "still connected"
    );
    rig.shot("11-csrf-refused").await;

    // Disconnect.
    rig.goto("/console").await;
    rig.click(&format!("{account} button.disconnect")).await;
    let notice = rig.text(".notice").await;
    assert!(
        notice.contains(&format!("{DEMO} is disconnected")),
        "{notice}"
    );
    assert!(rig.store.account(DEMO).await.unwrap().is_none());
    // The resync queued above may still be writing: it sees the record
    // gone after its writes and purges again (`purged_meanwhile`), so the
    // map empties, if not at once.
    let emptied = eventually(Duration::from_secs(30), || async {
        rig.store.count_mappings(DEMO).await.unwrap() == 0
    })
    .await;
    assert!(
        emptied,
        "mappings outlive the disconnect: {}",
        rig.store.count_mappings(DEMO).await.unwrap()
    );
    rig.shot("12-disconnected").await;

    // The same console on a phone.
    rig.browser.set_window_size(390, 844).await.unwrap();
    rig.goto("/console/joins").await;
    rig.shot("13-phone-joins").await;
    Ok(())
}
