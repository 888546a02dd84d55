//! The Zoom apps of a deployment: the `ZOOM_*` app (`default`) and those
//! of `RECTOKEN_APPS_FILE`. The ingress accepts each app's webhooks; the
//! vault refreshes each account with its own app's credentials, at that
//! app's Zoom cloud ([`Cloud`]: ZoomGov is separate, docs/zoom.md "ZoomGov").

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Name of the app configured by the `ZOOM_*` variables; its webhook route
/// is `POST /zoom/webhook`. Apps from the file use `POST /zoom/webhook/{name}`.
pub const DEFAULT_APP: &str = "default";

/// Admin-managed (account-level) or user-managed app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Admin-managed: credentials per Zoom account (what the 3rd-party
    /// recording token needs).
    #[default]
    Account,
    /// User-managed: credentials per Zoom user.
    User,
}

impl std::str::FromStr for AppKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "account" => Ok(AppKind::Account),
            "user" => Ok(AppKind::User),
            other => Err(format!(
                "unknown app kind {other:?}: expected account or user"
            )),
        }
    }
}

/// Which Zoom cloud an app lives in. ZoomGov (`zoomgov.com`) is a separate
/// cloud with its own apps, accounts and API: a gov meeting is only ever
/// looked up among gov apps' accounts, a commercial one among commercial
/// apps' accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// `zoom.us` (and its regional hosts).
    Commercial,
    /// `zoomgov.com`.
    Gov,
}

impl Cloud {
    /// The cloud of a Zoom URL (API or OAuth base, or a meeting link).
    pub fn of_url(url: &str) -> Self {
        if rectoken_domain::meeting_id::is_zoomgov_link(url) {
            Cloud::Gov
        } else {
            Cloud::Commercial
        }
    }

    /// `commercial` or `gov`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gov => "gov",
        }
    }
}

/// One Zoom app. Secrets are [`SecretString`]s: their `Debug` is redacted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Route name (`default` for the `ZOOM_*` app).
    #[serde(skip)]
    pub name: String,
    /// OAuth client ID.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// The app's webhook secret token.
    pub webhook_secret: SecretString,
    /// Account- or user-level.
    #[serde(default)]
    pub kind: AppKind,
    /// The app's REST base (`api_url`; e.g. `https://api.zoomgov.com/v2`
    /// for a ZoomGov app); `None`: the deployment's `ZOOM_API_URL`.
    #[serde(default)]
    pub api_url: Option<String>,
    /// The app's OAuth base (`oauth_url`; e.g. `https://zoomgov.com/oauth`);
    /// `None`: the deployment's `ZOOM_OAUTH_URL`.
    #[serde(default)]
    pub oauth_url: Option<String>,
    /// The app's cloud (`cloud = "gov"` or `"commercial"`); `None`: from
    /// its API URL (see [`App::cloud`]).
    #[serde(default)]
    pub cloud: Option<Cloud>,
}

impl App {
    /// An app with these credentials, at the deployment's Zoom URLs.
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        webhook_secret: SecretString,
        kind: AppKind,
    ) -> Self {
        Self {
            name: name.into(),
            client_id: client_id.into(),
            client_secret,
            webhook_secret,
            kind,
            api_url: None,
            oauth_url: None,
            cloud: None,
        }
    }

    /// The app's cloud: as configured, else that of its API URL, else that
    /// of `deployment_api_url` (the `ZOOM_API_URL` it then uses).
    pub fn cloud(&self, deployment_api_url: &str) -> Cloud {
        self.cloud
            .unwrap_or_else(|| Cloud::of_url(self.api_url.as_deref().unwrap_or(deployment_api_url)))
    }

    /// The webhook secret as bytes, for signing.
    pub fn webhook_secret_bytes(&self) -> &[u8] {
        self.webhook_secret.expose_secret().as_bytes()
    }
}

/// Errors reading the apps file.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// The file cannot be read.
    #[error("cannot read apps file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("apps file {path} is invalid: {message}")]
    Parse {
        /// The path.
        path: String,
        /// What is wrong (never includes secret values).
        message: String,
    },
    /// An app name is unusable in a URL path or collides.
    #[error("apps file {path}: {message}")]
    BadName {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppsFile {
    #[serde(default)]
    apps: BTreeMap<String, App>,
}

/// All apps by name.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    by_name: BTreeMap<String, App>,
}

impl Apps {
    /// Only the default app.
    pub fn single(default: App) -> Self {
        let mut apps = Apps::default();
        apps.insert(App {
            name: DEFAULT_APP.to_owned(),
            ..default
        });
        apps
    }

    fn insert(&mut self, app: App) {
        self.by_name.insert(app.name.clone(), app);
    }

    /// The app for a route name.
    pub fn get(&self, name: &str) -> Option<&App> {
        self.by_name.get(name)
    }

    /// Names of all apps.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Parse an apps file's text and add its apps.
    ///
    /// ```toml
    /// [apps.acme]
    /// client_id = "abc"
    /// client_secret = "…"
    /// webhook_secret = "…"
    /// kind = "account"   # or "user"; default account
    /// # ZoomGov (optional; default: the deployment's ZOOM_API_URL/ZOOM_OAUTH_URL)
    /// api_url = "https://api.zoomgov.com/v2"
    /// oauth_url = "https://zoomgov.com/oauth"
    /// cloud = "gov"       # default: from api_url
    /// ```
    pub fn add_from_toml(&mut self, text: &str, path: &str) -> Result<(), AppsError> {
        let file: AppsFile = toml::from_str(text).map_err(|e| AppsError::Parse {
            path: path.to_owned(),
            // toml's message quotes the offending line, which may hold a
            // secret: keep only the description.
            message: e.message().to_owned(),
        })?;
        for (name, app) in file.apps {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(AppsError::BadName {
                    path: path.to_owned(),
                    message: format!("app name {name:?} must be 1-64 of [A-Za-z0-9_-]"),
                });
            }
            if self.by_name.contains_key(&name) {
                return Err(AppsError::BadName {
                    path: path.to_owned(),
                    message: format!("app name {name:?} is used twice (\"default\" is reserved)"),
                });
            }
            self.insert(App { name, ..app });
        }
        Ok(())
    }

    /// Read an apps file and add its apps.
    pub fn add_from_file(&mut self, path: &Path) -> Result<(), AppsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AppsError::Read {
            path: shown.clone(),
            source,
        })?;
        self.add_from_toml(&text, &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_app() -> App {
        App::new(
            "",
            "cid",
            "csecret".into(),
            "wsecret".into(),
            AppKind::Account,
        )
    }

    #[test]
    fn an_app_may_name_its_own_cloud_and_urls() {
        let mut apps = Apps::single(default_app());
        apps.add_from_toml(
            "[apps.gov]\nclient_id='g'\nclient_secret='b'\nwebhook_secret='c'\n\
             api_url='https://api.zoomgov.com/v2'\noauth_url='https://zoomgov.com/oauth'\n\
             [apps.local]\nclient_id='l'\nclient_secret='b'\nwebhook_secret='c'\n\
             api_url='http://127.0.0.1:9/v2'\ncloud='gov'\n",
            "f.toml",
        )
        .unwrap();
        let commercial = "https://api.zoom.us/v2";
        let gov = apps.get("gov").unwrap();
        assert_eq!(gov.api_url.as_deref(), Some("https://api.zoomgov.com/v2"));
        assert_eq!(gov.oauth_url.as_deref(), Some("https://zoomgov.com/oauth"));
        assert_eq!(gov.cloud(commercial), Cloud::Gov);
        // An explicit cloud wins over the URL (a gov simulator on loopback).
        assert_eq!(apps.get("local").unwrap().cloud(commercial), Cloud::Gov);
        // Without either, the deployment's API URL decides.
        let d = apps.get("default").unwrap();
        assert_eq!(d.cloud(commercial), Cloud::Commercial);
        assert_eq!(d.cloud("https://api.zoomgov.com/v2"), Cloud::Gov);
        let err = apps
            .add_from_toml(
                "[apps.x]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='c'\ncloud='moon'\n",
                "f",
            )
            .unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
        let err = apps
            .add_from_toml(
                "[apps.y]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='c'\napi_ur='x'\n",
                "f",
            )
            .unwrap_err();
        assert!(err.to_string().contains("api_ur"), "{err}");
    }

    #[test]
    fn file_adds_named_apps() {
        let mut apps = Apps::single(default_app());
        apps.add_from_toml(
            "[apps.acme]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='c'\nkind='user'\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(apps.names().collect::<Vec<_>>(), ["acme", "default"]);
        let acme = apps.get("acme").unwrap();
        assert_eq!(acme.kind, AppKind::User);
        assert_eq!(acme.webhook_secret_bytes(), b"c");
        assert_eq!(apps.get("default").unwrap().client_id, "cid");
    }

    #[test]
    fn bad_files_are_clear_errors_without_secrets() {
        let mut apps = Apps::single(default_app());
        let err = apps
            .add_from_toml(
                "[apps.default]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='c'\n",
                "f",
            )
            .unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err = apps
            .add_from_toml(
                "[apps.\"a/b\"]\nclient_id='a'\nclient_secret='b'\nwebhook_secret='c'\n",
                "f",
            )
            .unwrap_err();
        assert!(err.to_string().contains("must be"), "{err}");
        let err = apps
            .add_from_toml("[apps.x]\nclient_id='a'\nclient_secret='hunter2'\n", "f")
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = apps.add_from_toml("[apps.x]\nclient_id='a'\nclient_secret='hunter2'\nwebhook_secret='s'\nkind='other'\n", "f").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let shown = format!("{:?}", default_app());
        assert!(
            !shown.contains("csecret") && !shown.contains("wsecret"),
            "{shown}"
        );
    }
}
