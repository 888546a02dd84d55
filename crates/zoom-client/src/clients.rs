//! [`ZoomClients`]: one [`ZoomClient`] per Zoom app, by app name.
//!
//! An account is refreshed, and its calls made, with the credentials and
//! the Zoom cloud of the app it was connected through (its record's `app`);
//! a ZoomGov app talks to `api.zoomgov.com` with its own OAuth client while
//! a commercial one talks to `api.zoom.us` (docs/zoom.md "ZoomGov").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::apps::{Apps, Cloud, DEFAULT_APP};
use crate::client::ZoomClient;
use crate::error::ConfigError;

/// The clients of every app. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ZoomClients {
    default: ZoomClient,
    by_app: Arc<BTreeMap<String, (ZoomClient, Cloud)>>,
}

impl ZoomClients {
    /// Only the default app's client (a deployment without an apps file).
    pub fn single(default: ZoomClient) -> Self {
        let cloud = Cloud::of_url(default.api_base());
        let by_app = BTreeMap::from([(DEFAULT_APP.to_owned(), (default.clone(), cloud))]);
        Self {
            default,
            by_app: Arc::new(by_app),
        }
    }

    /// A client for every app of `apps`, each with its own credentials and
    /// URLs; what an app leaves unset (URLs, recording-token path, timeout)
    /// comes from `default`, the client of the `ZOOM_*` settings.
    pub fn for_apps(default: ZoomClient, apps: &Apps) -> Result<Self, ConfigError> {
        let base = default.config().clone();
        let mut by_app = BTreeMap::new();
        for name in apps.names() {
            let Some(app) = apps.get(name) else { continue };
            let client = if name == DEFAULT_APP {
                default.clone()
            } else {
                let mut config = base.clone();
                config.client_id.clone_from(&app.client_id);
                config.client_secret = app.client_secret.clone();
                if let Some(url) = &app.api_url {
                    config.api_url.clone_from(url);
                }
                if let Some(url) = &app.oauth_url {
                    config.oauth_url.clone_from(url);
                }
                ZoomClient::new(config)?
            };
            by_app.insert(name.to_owned(), (client, app.cloud(&base.api_url)));
        }
        by_app
            .entry(DEFAULT_APP.to_owned())
            .or_insert_with(|| (default.clone(), Cloud::of_url(&base.api_url)));
        Ok(Self {
            default,
            by_app: Arc::new(by_app),
        })
    }

    /// The default app's client (`ZOOM_*`).
    pub fn default_client(&self) -> &ZoomClient {
        &self.default
    }

    /// The client of `app`; `None` when the deployment has no such app
    /// (an account connected through an app since removed from the file).
    /// An empty name is the default app's (records written before apps
    /// had names).
    pub fn get(&self, app: &str) -> Option<&ZoomClient> {
        self.by_app.get(Self::name(app)).map(|(c, _)| c)
    }

    /// The cloud of `app`, if the deployment has it.
    pub fn cloud(&self, app: &str) -> Option<Cloud> {
        self.by_app.get(Self::name(app)).map(|(_, c)| *c)
    }

    fn name(app: &str) -> &str {
        if app.is_empty() { DEFAULT_APP } else { app }
    }

    /// Every app's name and cloud, by name (the default app included).
    pub fn apps(&self) -> impl Iterator<Item = (&str, Cloud)> {
        self.by_app
            .iter()
            .map(|(name, (_, cloud))| (name.as_str(), *cloud))
    }

    /// The clouds the deployment's apps live in.
    pub fn clouds(&self) -> BTreeSet<Cloud> {
        self.by_app.values().map(|(_, c)| *c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{App, AppKind};
    use crate::config::ZoomConfig;
    use secrecy::SecretString;

    fn client(api: &str) -> ZoomClient {
        let mut c = ZoomConfig::new("cid", SecretString::from("s".to_owned()));
        c.api_url = api.to_owned();
        ZoomClient::new(c).unwrap()
    }

    #[test]
    fn each_app_gets_its_credentials_urls_and_cloud() {
        let default = client("https://api.zoom.us/v2");
        let mut apps = Apps::single(App::new(
            "",
            "cid",
            "s".into(),
            "w".into(),
            AppKind::Account,
        ));
        apps.add_from_toml(
            "[apps.gov]\nclient_id='g'\nclient_secret='gs'\nwebhook_secret='w'\n\
             api_url='https://api.zoomgov.com/v2'\noauth_url='https://zoomgov.com/oauth'\n\
             [apps.acme]\nclient_id='a'\nclient_secret='as'\nwebhook_secret='w'\n",
            "f",
        )
        .unwrap();
        let clients = ZoomClients::for_apps(default, &apps).unwrap();
        let gov = clients.get("gov").unwrap();
        assert_eq!(gov.api_base(), "https://api.zoomgov.com/v2");
        assert_eq!(gov.config().oauth_url, "https://zoomgov.com/oauth");
        assert_eq!(gov.config().client_id, "g");
        assert_eq!(clients.cloud("gov"), Some(Cloud::Gov));
        // Unset URLs are the deployment's.
        let acme = clients.get("acme").unwrap();
        assert_eq!(acme.api_base(), "https://api.zoom.us/v2");
        assert_eq!(acme.config().client_id, "a");
        assert_eq!(clients.cloud("acme"), Some(Cloud::Commercial));
        assert_eq!(clients.get("default").unwrap().config().client_id, "cid");
        assert!(clients.get("gone").is_none());
        assert_eq!(clients.get("").unwrap().config().client_id, "cid");
        assert_eq!(clients.clouds().len(), 2);
        let single = ZoomClients::single(client("https://api.zoomgov.com/v2"));
        assert_eq!(
            single.clouds().into_iter().collect::<Vec<_>>(),
            [Cloud::Gov]
        );
    }
}
