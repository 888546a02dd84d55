//! The Zoom apps the ingress accepts webhooks for.

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

/// One Zoom app. Secrets are [`SecretString`]s: their `Debug` is redacted.
#[derive(Debug, Clone, Deserialize)]
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
}

impl App {
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
        App {
            name: String::new(),
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            webhook_secret: "wsecret".into(),
            kind: AppKind::Account,
        }
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
