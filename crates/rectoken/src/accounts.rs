//! `rectoken accounts export|import`: back up and restore every account's
//! state and credentials, still encrypted.
//!
//! The file holds ciphertexts and key IDs, never plaintext: restoring needs
//! the same `RECTOKEN_ENCRYPTION_KEY` (or it as `…_OLD`). Zoom rotates
//! refresh tokens on every refresh, so an export is worth only until the
//! account's next refresh (at most the keep-alive interval, 7 days by
//! default): import keeps whatever is newer, the live credentials or the
//! file's.

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Subcommand};
use rectoken_domain::clock::now_ms;
use rectoken_store::{AccountRecord, Sealed, Store, StoredCredentials};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Format tag of an export file.
pub const FORMAT: &str = "rectoken-accounts-export";
/// Version of the export format.
pub const VERSION: u32 = 1;

/// `rectoken accounts` flags. The flags may stand before or after the
/// subcommand (`accounts --redis-url … export` and `accounts export
/// --redis-url …` are the same).
#[derive(Debug, Args)]
pub struct AccountsArgs {
    /// Redis URL (required).
    #[arg(
        long = "redis-url",
        env = "RECTOKEN_REDIS_URL",
        hide_env_values = true,
        global = true
    )]
    pub redis_url: Option<SecretString>,
    /// Import even into a Redis that may lose credentials (no persistence,
    /// or an evicting maxmemory-policy). For throwaway deployments only.
    #[arg(
        long = "allow-volatile-redis",
        env = "RECTOKEN_ALLOW_VOLATILE_REDIS",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue,
        global = true
    )]
    pub allow_volatile_redis: bool,
    #[command(subcommand)]
    pub command: AccountsCommand,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Write every account's state and sealed credentials to one JSON file
    /// (ciphertexts and key IDs only; never plaintext tokens).
    Export {
        /// Where to write (`-` for stdout). The file is created mode 0600.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore accounts from an export, idempotently, into an empty or a
    /// live deployment: credentials already in Redis that were refreshed
    /// later than the file's are kept. Accounts new to this Redis get a full
    /// sync from the sync workers' scheduler within its next check (a
    /// minute), which rebuilds their meeting map. Refuses a Redis that may
    /// lose credentials, as every role does.
    Import {
        /// The export file.
        file: PathBuf,
    },
}

#[derive(Serialize, Deserialize)]
struct ExportFile {
    format: String,
    version: u32,
    exported_at_ms: i64,
    accounts: Vec<ExportedAccount>,
}

#[derive(Serialize, Deserialize)]
struct ExportedAccount {
    record: AccountRecord,
    credentials: Option<ExportedCredentials>,
}

#[derive(Serialize, Deserialize)]
struct ExportedCredentials {
    key_id: String,
    nonce: String,
    ciphertext: String,
    refreshed_at_ms: i64,
    access_expires_at_ms: i64,
}

/// Run `accounts export` or `accounts import`.
pub async fn run(args: AccountsArgs) -> anyhow::Result<()> {
    let url = args
        .redis_url
        .as_ref()
        .map(|u| u.expose_secret().trim())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("RECTOKEN_REDIS_URL (--redis-url) is required"))?;
    let store = rectoken_store::connect(url, "").context("RECTOKEN_REDIS_URL")?;
    match args.command {
        AccountsCommand::Export { out } => {
            let file = export(store.as_ref()).await?;
            let json = serde_json::to_vec_pretty(&file)?;
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&json)?;
            } else {
                write_private(&out, &json)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            eprintln!("exported {} account(s)", file.accounts.len());
            Ok(())
        }
        AccountsCommand::Import { file } => {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let parsed: ExportFile =
                serde_json::from_slice(&text).context("not a rectoken accounts export")?;
            // The same refusal as every role's: an import writes credentials.
            crate::durability::check_at_start(&store, args.allow_volatile_redis).await?;
            let report = import(store.as_ref(), parsed).await?;
            eprintln!(
                "imported: {} credentials restored, {} kept (newer in Redis), {} records created",
                report.restored, report.kept, report.created
            );
            if report.created > 0 {
                eprintln!(
                    "the {} new account(s) get a full sync from a running sync worker within a minute; \
                     their joins answer not_found until it has listed their meetings",
                    report.created
                );
            }
            Ok(())
        }
    }
}

/// Write `bytes` to `path` readable by the owner only, whatever was there.
///
/// Not an open-and-truncate of `path`: that keeps an existing file's mode
/// (a 0644 backup stays world-readable) and follows a symlink planted at
/// `path` to wherever it points. Instead a new file is created beside it
/// (`create_new`: never an existing file, never through a symlink) with
/// mode 0600, synced, and renamed over `path` (a rename replaces a symlink
/// itself, not its target).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the export path names no file"))?;
    let suffix: u64 = rand::random();
    let temp = dir.join(format!(
        ".{}.{}-{suffix:016x}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

async fn export(store: &dyn Store) -> anyhow::Result<ExportFile> {
    let mut accounts = Vec::new();
    for record in store.list_accounts().await? {
        let credentials =
            store
                .credentials(&record.account_id)
                .await?
                .map(|c| ExportedCredentials {
                    key_id: c.sealed.key_id,
                    nonce: STANDARD.encode(&c.sealed.nonce),
                    ciphertext: STANDARD.encode(&c.sealed.ciphertext),
                    refreshed_at_ms: c.refreshed_at_ms,
                    access_expires_at_ms: c.access_expires_at_ms,
                });
        accounts.push(ExportedAccount {
            record,
            credentials,
        });
    }
    Ok(ExportFile {
        format: FORMAT.into(),
        version: VERSION,
        exported_at_ms: now_ms(),
        accounts,
    })
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Credentials written from the file.
    pub restored: usize,
    /// Credentials kept because Redis had newer ones.
    pub kept: usize,
    /// Account records created (absent before).
    pub created: usize,
}

async fn import(store: &dyn Store, file: ExportFile) -> anyhow::Result<ImportReport> {
    if file.format != FORMAT || file.version != VERSION {
        bail!(
            "unsupported export: format {:?} version {}",
            file.format,
            file.version
        );
    }
    let mut report = ImportReport::default();
    for account in file.accounts {
        let id = account.record.account_id.clone();
        let mut wrote = false;
        if let Some(c) = account.credentials {
            let creds = StoredCredentials {
                sealed: Sealed {
                    key_id: c.key_id,
                    nonce: STANDARD.decode(c.nonce).context("bad nonce")?,
                    ciphertext: STANDARD.decode(c.ciphertext).context("bad ciphertext")?,
                },
                refreshed_at_ms: c.refreshed_at_ms,
                access_expires_at_ms: c.access_expires_at_ms,
            };
            wrote = store.put_credentials_if_newer(&id, &creds).await?;
            if wrote {
                report.restored += 1;
            } else {
                report.kept += 1;
            }
        }
        let existing = store.account(&id).await?;
        if existing.is_none() {
            // New to this Redis, so its meeting map is empty here whatever
            // the file says about the last sync: mark it never synced, and
            // the scheduler syncs it at its next check.
            let mut record = account.record;
            record.sync = Default::default();
            store.upsert_account(&record).await?;
            report.created += 1;
        } else if wrote {
            // The file's credentials won: its record (status, scopes)
            // belongs with them.
            store.upsert_account(&account.record).await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rectoken_store::{AccountStatus, MemoryStore};

    fn record(id: &str) -> AccountRecord {
        AccountRecord {
            account_id: id.into(),
            app: "default".into(),
            kind: "account".into(),
            user_id: None,
            status: AccountStatus::Connected,
            connected_at_ms: 1,
            scopes: vec![],
            last_error: None,
            sync: Default::default(),
        }
    }

    fn creds(refreshed: i64, byte: u8) -> StoredCredentials {
        StoredCredentials {
            sealed: Sealed {
                key_id: "k".into(),
                nonce: vec![byte; 12],
                ciphertext: vec![byte; 40],
            },
            refreshed_at_ms: refreshed,
            access_expires_at_ms: refreshed + 3_600_000,
        }
    }

    /// Issue 15, item 7: an export never keeps an old file's mode nor
    /// writes through a symlink.
    #[cfg(unix)]
    #[test]
    fn export_file_is_private_and_never_follows_a_symlink() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = std::env::temp_dir().join(format!(
            "rectoken-export-test-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir(&dir).unwrap();
        let out = dir.join("export.json");
        std::fs::write(&out, b"old").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&out, b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");

        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.join("link.json");
        symlink(&victim, &link).unwrap();
        write_private(&link, b"export").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&link).unwrap(), b"export");
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_account_new_to_this_redis_is_marked_never_synced_so_the_scheduler_syncs_it() {
        let source = MemoryStore::new();
        let mut synced = record("a");
        synced.sync.state = rectoken_store::SyncState::Completed;
        synced.sync.generation = "g1".into();
        synced.sync.finished_at_ms = Some(5);
        source.upsert_account(&synced).await.unwrap();
        let file = export(&source).await.unwrap();

        let empty = MemoryStore::new();
        import(&empty, file).await.unwrap();
        let imported = empty.account("a").await.unwrap().unwrap();
        assert_eq!(imported.sync.state, rectoken_store::SyncState::NotStarted);
        assert_eq!(imported.sync.finished_at_ms, None);
        assert_eq!(imported.status, AccountStatus::Connected);
    }

    #[tokio::test]
    async fn export_import_round_trip_keeps_newer_live_credentials() {
        let source = MemoryStore::new();
        for (id, t) in [("a", 10), ("b", 20)] {
            source.upsert_account(&record(id)).await.unwrap();
            source
                .put_credentials(id, &creds(t, 1), None)
                .await
                .unwrap();
        }
        let file = export(&source).await.unwrap();
        let json = serde_json::to_string(&file).unwrap();
        assert!(json.contains(FORMAT));

        // Into an empty deployment: everything restored.
        let empty = MemoryStore::new();
        let r = import(&empty, serde_json::from_str(&json).unwrap())
            .await
            .unwrap();
        assert_eq!(
            r,
            ImportReport {
                restored: 2,
                kept: 0,
                created: 2
            }
        );
        assert_eq!(empty.credentials("a").await.unwrap(), Some(creds(10, 1)));

        // Into a live one where "b" was refreshed after the export.
        let live = MemoryStore::new();
        live.upsert_account(&record("b")).await.unwrap();
        live.put_credentials("b", &creds(30, 2), None)
            .await
            .unwrap();
        let r = import(&live, serde_json::from_str(&json).unwrap())
            .await
            .unwrap();
        assert_eq!(
            r,
            ImportReport {
                restored: 1,
                kept: 1,
                created: 1
            }
        );
        assert_eq!(
            live.credentials("b").await.unwrap(),
            Some(creds(30, 2)),
            "newer live credentials win"
        );

        // Idempotent: again changes nothing.
        let r = import(&live, serde_json::from_str(&json).unwrap())
            .await
            .unwrap();
        assert_eq!(
            r,
            ImportReport {
                restored: 0,
                kept: 2,
                created: 0
            }
        );
    }

    #[tokio::test]
    async fn foreign_files_are_refused() {
        let bad = ExportFile {
            format: "other".into(),
            version: 1,
            exported_at_ms: 0,
            accounts: vec![],
        };
        assert!(import(&MemoryStore::new(), bad).await.is_err());
    }
}
