//! The start-up check that Redis will keep OAuth credentials (issue #9),
//! and its `/readyz` report.

use std::sync::Arc;

use anyhow::bail;
use rectoken_store::{Durability, Store};

/// Refuse to start on a store that may lose credentials, unless the
/// operator said `--allow-volatile-redis`. Returns the settings read.
pub async fn check_at_start(
    store: &Arc<dyn Store>,
    allow_volatile: bool,
) -> anyhow::Result<Durability> {
    let durability = match store.durability().await {
        Ok(d) => d,
        Err(e) if allow_volatile => {
            tracing::warn!(error = %e, "cannot read Redis persistence settings; continuing (--allow-volatile-redis)");
            return Ok(Durability::InProcess);
        }
        Err(e) => bail!(
            "cannot read Redis persistence settings (CONFIG GET): {e}. rectoken keeps OAuth credentials in Redis and \
             checks at start that they survive restarts and memory pressure; if your Redis forbids CONFIG and you \
             know it persists with noeviction, pass --allow-volatile-redis (RECTOKEN_ALLOW_VOLATILE_REDIS=true)"
        ),
    };
    let findings = durability.findings();
    for f in &findings {
        if f.fatal && !allow_volatile {
            bail!(
                "{} Refusing to start because this Redis holds OAuth credentials that cannot be recreated \
                 without every customer authorizing again. Override with --allow-volatile-redis \
                 (RECTOKEN_ALLOW_VOLATILE_REDIS=true) only for throwaway deployments.",
                f.message
            );
        }
        tracing::warn!(message = %f.message, "Redis durability");
    }
    Ok(durability)
}

/// `/readyz` line for the durability check: reported, never fatal (a
/// deployment that started has either safe settings or an explicit
/// override).
pub struct DurabilityCheck(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl rectoken_runtime::HealthCheck for DurabilityCheck {
    fn name(&self) -> &str {
        "redis_durability"
    }

    async fn check(&self) -> Result<(), String> {
        let d = self
            .0
            .durability()
            .await
            .map_err(|e| format!("unknown: {e}"))?;
        let problems: Vec<String> = d.findings().into_iter().map(|f| f.message).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join(" "))
        }
    }

    fn critical(&self) -> bool {
        false
    }
}
