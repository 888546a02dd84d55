//! Zoom as it really is (issue 14), through the ingress and the simulator:
//! the scopes an authorization grants, named when one is missing; the
//! README's scope list, rectoken's table and the simulator's default grant
//! being the same list.

use rectoken_store::AccountStatus;
use rectoken_zoom::scopes;
use zoom_sim::{AppKind, OAuthSettings};

use crate::oauth::{ADMIN, Env};

/// The README's scope list: the backticked scopes of its "Scopes" row.
fn readme_scopes() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| Scopes (required) |"))
        .expect("README has a '| Scopes (required) |' row");
    row.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn readme_table_and_simulator_name_the_same_scopes() {
    let table: Vec<String> = scopes::required(false)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(readme_scopes(), table, "README vs rectoken_zoom::scopes");
    assert_eq!(
        AppKind::Account.default_scopes(),
        table,
        "simulator default grant vs rectoken_zoom::scopes"
    );
    let user: Vec<String> = scopes::required(true)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(AppKind::User.default_scopes(), user);
    // Every optional scope of the table is one the simulator can grant.
    let all = AppKind::Account.all_scopes();
    for row in scopes::SCOPES {
        assert!(all.iter().any(|s| s == row.account[0]), "{row:?}");
    }
    // docs/zoom.md carries every scope of the table.
    let doc = include_str!("../../docs/zoom.md");
    for row in scopes::SCOPES {
        for s in row.account.iter().chain(row.user) {
            assert!(doc.contains(&format!("`{s}`")), "docs/zoom.md lacks {s}");
        }
    }
}

async fn admin_account(env: &Env, id: &str) -> serde_json::Value {
    env.http
        .get(format!("{}/admin/accounts/{id}", env.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_connect_with_the_readme_scopes_reports_nothing_missing() {
    let env = Env::start("zf-scopes-ok").await;
    let (status, page) = env.connect().await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("lacks"), "{page}");
    // Optional token kinds are named with the scope that enables them.
    assert!(page.contains("zak (needs user:read:zak:admin)"), "{page}");
    let view = admin_account(&env, "demo").await;
    assert_eq!(view["missing_scopes"], serde_json::json!([]));
    assert_eq!(
        view["unavailable_features"][0]["feature"],
        "local_archiving"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_missing_scope_is_named_on_the_callback_page_and_in_the_admin_view() {
    let env = Env::start("zf-scopes-missing").await;
    let mut granted = AppKind::Account.default_scopes();
    granted.retain(|s| s != "meeting:read:meeting:admin");
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(granted),
        ..env.sim.oauth_settings()
    });
    let (status, page) = env.connect().await;
    assert_eq!(status, 200, "connected all the same: {page}");
    assert!(
        page.contains("lacks scopes rectoken needs: meeting:read:meeting:admin")
            && page.contains("GET /meetings/{meetingId} fails"),
        "{page}"
    );
    let view = admin_account(&env, "demo").await;
    assert_eq!(view["status"], "connected");
    assert_eq!(
        view["missing_scopes"][0]["scope"], "meeting:read:meeting:admin",
        "{view}"
    );
    assert_eq!(
        view["missing_scopes"][0]["call"],
        "GET /meetings/{meetingId}"
    );
    env.finish().await;
}

#[tokio::test]
async fn without_the_users_me_scope_the_page_names_it_and_nothing_is_stored() {
    let env = Env::start("zf-scopes-me").await;
    // The README's old list of three scopes.
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: Some(vec![
            "meeting:read:local_recording_token:admin".into(),
            "meeting:read:list_meetings:admin".into(),
            "user:read:list_users:admin".into(),
        ]),
        ..env.sim.oauth_settings()
    });
    let (status, page) = env.connect().await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("lacks the scope user:read:user:admin")
            && page.contains("Nothing was stored"),
        "{page}"
    );
    assert!(env.store.account("demo").await.unwrap().is_none());
    assert_eq!(
        env.sim.stats().missing_scope,
        1,
        "Zoom refused GET /users/me with 4711"
    );
    // With the scope added, the same admin connects.
    env.sim.set_oauth_settings(OAuthSettings {
        scopes: None,
        ..env.sim.oauth_settings()
    });
    assert_eq!(env.connect().await.0, 200);
    let rec = env.store.account("demo").await.unwrap().unwrap();
    assert_eq!(rec.status, AccountStatus::Connected);
    env.finish().await;
}
