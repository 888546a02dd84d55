//! [`probe`]: one connection attempt to a broker, to say at start-up what is
//! wrong with `RECTOKEN_AMQP_URL` (refused, unknown host, wrong password,
//! missing vhost) instead of retrying in the background while the operator
//! waits.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

use crate::{BusError, Result};

/// Connect once to the broker at `url` (or, for a comma-separated list of a
/// cluster's nodes, to the first that answers), then close. `memory://`
/// needs no broker and succeeds at once. The error never contains the URL,
/// which may hold a password.
pub async fn probe(url: &str, timeout: Duration) -> Result<()> {
    if url.starts_with("memory:") {
        return Ok(());
    }
    let nodes = crate::nodes::BrokerNodes::parse(url)?;
    let mut last = BusError::InvalidUrl("no broker address given".into());
    for node in nodes.urls() {
        let props = ConnectionProperties::default().with_connection_name("rectoken-probe".into());
        match tokio::time::timeout(timeout, Connection::connect(node.as_str(), props)).await {
            Ok(Ok(connection)) => {
                let _ = connection.close(200, "probe done".into()).await;
                return Ok(());
            }
            Ok(Err(e)) => last = BusError::Unavailable(describe(&e)),
            Err(_) => {
                last = BusError::Unavailable(format!("no answer within {timeout:?}"));
            }
        }
    }
    Err(last)
}

/// A connection error in words, without the URL.
fn describe(e: &lapin::Error) -> String {
    let text = e.to_string();
    if text.contains("ACCESS_REFUSED") || text.contains("authentication") {
        "the broker refused the user name or password".to_owned()
    } else if text.contains("NOT_ALLOWED") || text.contains("vhost") {
        format!("the broker refused the virtual host: {text}")
    } else {
        format!("cannot connect to the broker: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_needs_no_broker_and_other_schemes_are_refused() {
        probe("memory://", Duration::from_secs(1)).await.unwrap();
        let err = probe("http://127.0.0.1:1/", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::InvalidUrl(_)), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_at_once_without_the_password() {
        // Port 1 on loopback: nothing listens there, the connect is refused.
        let err = probe(
            "amqp://user:hunter2-secret@127.0.0.1:1/%2f",
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, BusError::Unavailable(_)), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
